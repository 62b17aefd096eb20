/* aicert enroll: the attestation CA checks a runner's TPM identity through
 * its agent and issues an AK certificate (see enroll.h). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentc.h"
#include "ca.h"
#include "cli.h"
#include "ekcert.h"
#include "enroll.h"
#include "err.h"
#include "log.h"

#define ENROLL_MAX_PEM_FILES 32

struct enroll_args {
	struct agentc_opts dial;
	const char *ca_dir;
	const char *roots[ENROLL_MAX_PEM_FILES];
	size_t n_roots;
	const char *intermediates[ENROLL_MAX_PEM_FILES];
	size_t n_intermediates;
	uint32_t days;
};

enum { OPT_CA = 1, OPT_EK_ROOTS, OPT_EK_INTERMEDIATES, OPT_DAYS, OPT_HELP };

static const struct option enroll_options[] = {
	AGENTC_LONG_OPTIONS,
	{"ca", required_argument, NULL, OPT_CA},
	{"ek-roots", required_argument, NULL, OPT_EK_ROOTS},
	{"ek-intermediates", required_argument, NULL, OPT_EK_INTERMEDIATES},
	{"days", required_argument, NULL, OPT_DAYS},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

static void enroll_usage(FILE *f)
{
	fprintf(f,
		"Usage: aicert enroll --agent URL --ca DIR --ek-roots PEM [OPTIONS]\n\n"
		"Checks the agent's EK certificate chain, EK and AK, has its TPM activate a\n"
		"credential, and only then issues an AK certificate from the CA in DIR\n"
		"(see 'aicert ca init'). Exit status 1 when the runner is refused.\n\n"
		"Options:\n"
		"  --ca DIR                the attestation CA\n"
		"  --ek-roots PEM          trusted roots for EK certificates (repeatable; a file\n"
		"                          may hold several certificates)\n"
		"  --ek-intermediates PEM  untrusted intermediate CAs (repeatable)\n"
		"  --days N                AK certificate validity (default %u)\n" AGENTC_USAGE,
		CA_DEFAULT_AK_DAYS);
}

static int enroll_add_file(const char **list, size_t *n, const char *opt, const char *path)
{
	if (*n >= ENROLL_MAX_PEM_FILES)
		return err_set(AICERT_ERR_TOO_BIG, "%s: at most %d files", opt,
			       ENROLL_MAX_PEM_FILES);
	list[(*n)++] = path;
	return 0;
}

static int enroll_parse_days(const char *s, uint32_t *days)
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

static int enroll_option(struct enroll_args *args, int opt, const char *arg)
{
	switch (opt) {
	case OPT_CA:
		args->ca_dir = arg;
		return 0;
	case OPT_EK_ROOTS:
		return enroll_add_file(args->roots, &args->n_roots, "--ek-roots", arg);
	case OPT_EK_INTERMEDIATES:
		return enroll_add_file(args->intermediates, &args->n_intermediates,
				       "--ek-intermediates", arg);
	case OPT_DAYS:
		return enroll_parse_days(arg, &args->days);
	case OPT_HELP:
		enroll_usage(stdout);
		return 1;
	default:
		return err_set(AICERT_ERR_INVALID, "see 'aicert enroll --help'");
	}
}

static int enroll_parse(int argc, char **argv, struct enroll_args *args)
{
	int opt, r;

	optind = 1;
	opterr = 1;
	while ((opt = getopt_long(argc, argv, "", enroll_options, NULL)) != -1) {
		r = agentc_opt(&args->dial, opt, optarg);
		if (r == 0)
			r = enroll_option(args, opt, optarg);
		else if (r == 1)
			r = 0;
		if (r != 0)
			return r;
	}
	if (optind < argc)
		return err_set(AICERT_ERR_INVALID, "unexpected argument '%s'", argv[optind]);
	if (!args->ca_dir || args->n_roots == 0)
		return err_set(AICERT_ERR_INVALID, "enroll needs --ca DIR and --ek-roots PEM");
	return 0;
}

static int enroll_load_roots(const struct enroll_args *args, struct ekcert_store **ret)
{
	struct ekcert_store *s = NULL;
	int r;

	r = ekcert_store_new(&s);
	for (size_t i = 0; r == 0 && i < args->n_roots; i++)
		r = ekcert_store_load_roots(s, args->roots[i]);
	for (size_t i = 0; r == 0 && i < args->n_intermediates; i++)
		r = ekcert_store_load_intermediates(s, args->intermediates[i]);
	if (r < 0) {
		ekcert_store_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

static void enroll_report(void *ctx, enum enroll_step step, int r, const char *detail)
{
	printf("[%d/%d] %s: %s%s%s\n", (int)step + 1, ENROLL_STEPS, enroll_step_name(step),
	       r < 0 ? "REFUSED" : "ok", detail[0] ? ": " : "", detail);
	fflush(stdout);
}

static int enroll_with(const struct enroll_args *args, struct rpc_client *c, const struct ca *ca,
		       const struct ekcert_store *roots)
{
	struct enroll_params p = {
		.ca = ca,
		.ek_roots = roots,
		.ak_days = args->days,
		.activate = agentc_activate,
		.activate_ctx = c,
		.report = enroll_report,
	};
	Aicert__V1__IdentityReply *id = NULL;
	struct enroll_result res;
	int r;

	r = agentc_identity(c, &id);
	if (r < 0)
		return cli_fail(err_wrap(r, "asking the agent for its identity"));
	r = enroll_run(&p, id, &res);
	if (r == 0) {
		printf("enrolled: AK certificate %s\n", res.cert_path);
	} else {
		log_err("enrollment refused at '%s': %s", enroll_step_name(res.failed_step),
			err_msg(r));
	}
	enroll_result_clear(&res);
	protobuf_c_message_free_unpacked(&id->base, NULL);
	return r == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILED;
}

int cmd_enroll(int argc, char **argv)
{
	struct enroll_args args = {0};
	struct ekcert_store *roots = NULL;
	struct rpc_client *c = NULL;
	struct ca *ca = NULL;
	int r, code;

	r = enroll_parse(argc, argv, &args);
	if (r == 1)
		return CLI_EXIT_OK;
	if (r == 0)
		r = enroll_load_roots(&args, &roots);
	if (r == 0)
		r = ca_open(args.ca_dir, &ca);
	if (r == 0)
		r = agentc_dial(&args.dial, &c);
	code = r < 0 ? cli_fail(r) : enroll_with(&args, c, ca, roots);
	rpc_client_free(c);
	ca_free(ca);
	ekcert_store_free(roots);
	return code;
}
