/* aicert ca init|runner: create an attestation CA, hand back a runner's AK
 * certificate. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ca.h"
#include "cli.h"
#include "err.h"
#include "hex.h"

struct ca_args {
	const char *dir;
	const char *alg;
	const char *name;
	const char *days;
	const char *ak_name;
	const char *out;
};

enum { OPT_DIR = 1, OPT_ALG, OPT_NAME, OPT_DAYS, OPT_AK_NAME, OPT_OUT, OPT_HELP };

static const struct option ca_options[] = {
	{"dir", required_argument, NULL, OPT_DIR},
	{"alg", required_argument, NULL, OPT_ALG},
	{"name", required_argument, NULL, OPT_NAME},
	{"days", required_argument, NULL, OPT_DAYS},
	{"ak-name", required_argument, NULL, OPT_AK_NAME},
	{"out", required_argument, NULL, OPT_OUT},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

static void ca_usage(FILE *f)
{
	fprintf(f,
		"Usage: aicert ca SUBCOMMAND --dir DIR [OPTIONS]\n\n"
		"  init [--alg ecc|rsa] [--name CN] [--days N]\n"
		"                       create an attestation CA in DIR: ca.key (0600), ca.crt,\n"
		"                       runners/; refuses to overwrite an existing CA\n"
		"                       (ecc: P-256 with SHA-256, the default; rsa: RSA-3072)\n"
		"  runner --ak-name HEX [--out FILE]\n"
		"                       the AK certificate issued at enrollment (PEM)\n");
}

static int ca_parse_days(const char *s, uint32_t *days)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v == 0 || v > CA_MAX_DAYS)
		return err_set(AICERT_ERR_INVALID, "--days: expected 1 to %u, not '%s'",
			       CA_MAX_DAYS, s);
	*days = (uint32_t)v;
	return 0;
}

static int ca_init_run(const struct ca_args *args)
{
	struct ca_init_opts o = {.alg = CA_ALG_ECC, .common_name = args->name};
	struct ca *ca = NULL;
	char subject[256];
	int r;

	if (args->alg && strcmp(args->alg, "rsa") == 0)
		o.alg = CA_ALG_RSA;
	else if (args->alg && strcmp(args->alg, "ecc") != 0)
		return err_set(AICERT_ERR_INVALID, "--alg: expected ecc or rsa, not '%s'",
			       args->alg);
	if (args->days) {
		r = ca_parse_days(args->days, &o.days);
		if (r < 0)
			return r;
	}
	r = ca_init(args->dir, &o);
	if (r == 0)
		r = ca_open(args->dir, &ca);
	if (r < 0)
		return r;
	X509_NAME_oneline(X509_get_subject_name(ca_cert(ca)), subject, sizeof(subject));
	printf("attestation CA created in %s\n  %s/" CA_KEY_FILE "  private key (%s), mode 0600\n"
	       "  %s/" CA_CERT_FILE "  certificate, subject %s\n  %s/" CA_RUNNERS_DIR
	       "/  runner records\n",
	       args->dir, args->dir, o.alg == CA_ALG_RSA ? "RSA-3072" : "ECC P-256", args->dir,
	       subject, args->dir);
	ca_free(ca);
	return 0;
}

static int ca_runner_run(const struct ca_args *args)
{
	TPM2B_NAME name = {0};
	X509 *x = NULL;
	FILE *f = stdout;
	size_t len = 0;
	int r;

	if (!args->ak_name)
		return err_set(AICERT_ERR_INVALID, "runner needs --ak-name HEX");
	r = hex_decode(args->ak_name, name.name, sizeof(name.name), &len);
	if (r < 0)
		return err_wrap(r, "--ak-name");
	name.size = (UINT16)len;
	r = ca_find_runner(args->dir, &name, &x);
	if (r < 0)
		return r;
	if (args->out && !(f = fopen(args->out, "we")))
		r = err_set(AICERT_ERR_IO, "%s: %s", args->out, strerror(errno));
	if (r == 0 && PEM_write_X509(f, x) != 1)
		r = err_set(AICERT_ERR_IO, "writing the certificate failed");
	if (f && f != stdout && fclose(f) != 0 && r == 0)
		r = err_set(AICERT_ERR_IO, "%s: %s", args->out, strerror(errno));
	X509_free(x);
	return r;
}

static int ca_parse(int argc, char **argv, struct ca_args *args)
{
	int opt;

	optind = 1;
	opterr = 1;
	while ((opt = getopt_long(argc, argv, "", ca_options, NULL)) != -1) {
		switch (opt) {
		case OPT_DIR:
			args->dir = optarg;
			break;
		case OPT_ALG:
			args->alg = optarg;
			break;
		case OPT_NAME:
			args->name = optarg;
			break;
		case OPT_DAYS:
			args->days = optarg;
			break;
		case OPT_AK_NAME:
			args->ak_name = optarg;
			break;
		case OPT_OUT:
			args->out = optarg;
			break;
		case OPT_HELP:
			ca_usage(stdout);
			return 1;
		default:
			return err_set(AICERT_ERR_INVALID, "see 'aicert ca --help'");
		}
	}
	if (optind < argc)
		return err_set(AICERT_ERR_INVALID, "unexpected argument '%s'", argv[optind]);
	if (!args->dir)
		return err_set(AICERT_ERR_INVALID, "--dir DIR is required");
	return 0;
}

int cmd_ca(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(const struct ca_args *args);
	} subcommands[] = {{"init", ca_init_run}, {"runner", ca_runner_run}};
	struct ca_args args = {0};
	int r;

	if (argc < 2 || argv[1][0] == '-') {
		int help = argc >= 2 && strcmp(argv[1], "--help") == 0;

		ca_usage(help ? stdout : stderr);
		return help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
		if (strcmp(argv[1], subcommands[i].name) != 0)
			continue;
		r = ca_parse(argc - 1, argv + 1, &args);
		if (r == 1)
			return CLI_EXIT_OK;
		if (r == 0)
			r = subcommands[i].run(&args);
		return r < 0 ? cli_fail(r) : CLI_EXIT_OK;
	}
	return cli_fail(err_set(AICERT_ERR_INVALID, "unknown ca subcommand '%s'", argv[1]));
}
