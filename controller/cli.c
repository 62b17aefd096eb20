#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "log.h"

static const struct cli_command cli_commands[] = {
	{"run", "run a training job on a runner and prove it: aicert run JOB --out DIR", cmd_run},
	{"agent", "talk to an aicert-agent: identity, pcrs, quote, eventlog, health", cmd_agent},
	{"ca", "the attestation CA: init, runner (an enrolled AK's certificate)", cmd_ca},
	{"enroll", "check a runner's TPM identity and issue its AK certificate", cmd_enroll},
	{"attest", "make a proof of a runner's platform (no job)", cmd_attest},
	{"policy", "write a starting verification policy", cmd_policy},
	{"verify", "verify a proof offline against a policy", cmd_verify},
	{"show", "print a readable summary of a proof (no verification)", cmd_show},
};

#define CLI_NCOMMANDS (sizeof(cli_commands) / sizeof(cli_commands[0]))

static void cli_usage(FILE *f)
{
	fprintf(f,
		"Usage: aicert COMMAND [OPTIONS]\n\nTPM-attested provenance for AI training runs.\n\n"
		"Commands:\n");
	for (size_t i = 0; i < CLI_NCOMMANDS; i++)
		fprintf(f, "  %-10s %s\n", cli_commands[i].name, cli_commands[i].summary);
	fprintf(f, "\nRun 'aicert COMMAND --help' for a command's options.\n");
}

int cli_fail(int r)
{
	log_err("%s", err_msg(r));
	if (r == AICERT_ERR_INVALID || r == AICERT_ERR_NOT_FOUND || r == AICERT_ERR_TOO_BIG)
		return CLI_EXIT_USAGE;
	return CLI_EXIT_FAILED;
}

int cli_main(int argc, char **argv)
{
	log_setup("aicert", LOG_STYLE_CLI, LOG_INFO);
	if (argc < 2) {
		cli_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		cli_usage(stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("aicert %s\n", AICERT_VERSION);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < CLI_NCOMMANDS; i++)
		if (strcmp(argv[1], cli_commands[i].name) == 0)
			return cli_commands[i].run(argc - 1, argv + 1);
	log_err("unknown command '%s'", argv[1]);
	cli_usage(stderr);
	return CLI_EXIT_USAGE;
}
