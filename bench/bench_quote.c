/* bench_quote: what a Quote costs through aicert-agent compared with the TPM
 * alone and with a bare nng round trip. See bench/README.md; run it through
 * bench/run.sh, which starts the swtpm and the agent for each phase. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bq.h"
#include "err.h"
#include "log.h"

enum {
	OPT_RESULTS = 1,
	OPT_LABEL,
	OPT_ITERS,
	OPT_WARMUP,
	OPT_TCTI,
	OPT_STATE_DIR,
	OPT_AK_ALG,
	OPT_IPC,
	OPT_TLS,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_TLS_CA,
	OPT_SRV_CERT,
	OPT_SRV_KEY,
	OPT_SRV_CA,
	OPT_WORK,
	OPT_CLIENTS,
	OPT_ROUNDS,
	OPT_SHARED,
	OPT_NO_NNG,
	OPT_ECHO_IPC,
	OPT_ECHO_TLS,
	OPT_HELP,
};

static const struct option bq_options[] = {
	{"results", required_argument, NULL, OPT_RESULTS},
	{"label", required_argument, NULL, OPT_LABEL},
	{"iters", required_argument, NULL, OPT_ITERS},
	{"warmup", required_argument, NULL, OPT_WARMUP},
	{"tcti", required_argument, NULL, OPT_TCTI},
	{"state-dir", required_argument, NULL, OPT_STATE_DIR},
	{"ak-alg", required_argument, NULL, OPT_AK_ALG},
	{"ipc", required_argument, NULL, OPT_IPC},
	{"tls", required_argument, NULL, OPT_TLS},
	{"tls-cert", required_argument, NULL, OPT_TLS_CERT},
	{"tls-key", required_argument, NULL, OPT_TLS_KEY},
	{"tls-ca", required_argument, NULL, OPT_TLS_CA},
	{"srv-cert", required_argument, NULL, OPT_SRV_CERT},
	{"srv-key", required_argument, NULL, OPT_SRV_KEY},
	{"srv-ca", required_argument, NULL, OPT_SRV_CA},
	{"work", required_argument, NULL, OPT_WORK},
	{"clients", required_argument, NULL, OPT_CLIENTS},
	{"rounds", required_argument, NULL, OPT_ROUNDS},
	{"shared-client", no_argument, NULL, OPT_SHARED},
	{"no-nng", no_argument, NULL, OPT_NO_NNG},
	{"echo-ipc", required_argument, NULL, OPT_ECHO_IPC},
	{"echo-tls", required_argument, NULL, OPT_ECHO_TLS},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

struct bq_phase {
	const char *name;
	int (*run)(const struct bq_opts *o);
};

static const struct bq_phase bq_phases[] = {
	{"direct", bq_direct_run},
	{"rpc", bq_rpc_run},
	{"echo", bq_echo_run},
	{"report", bq_report_run},
};

static void bq_usage(FILE *f)
{
	fprintf(f, "Usage: bench_quote PHASE --results FILE [OPTIONS]\n\n"
		   "  direct --tcti TCTI --state-dir DIR [--ak-alg ecc|rsa]\n"
		   "         tpm_quote() through ESAPI in this process (no agent may be running)\n"
		   "  rpc    --ipc URL [--tls URL --tls-cert F --tls-key F --tls-ca F\n"
		   "         --srv-cert F --srv-key F --srv-ca F] --work DIR [--clients 1,4,16]\n"
		   "         [--echo-ipc URL --echo-tls URL]\n"
		   "         bare nng round trips, then Quote calls to the running agent\n"
		   "  echo   --work DIR [--srv-cert F --srv-key F --srv-ca F]\n"
		   "         bare nng echo servers in this process until SIGTERM; their URLs\n"
		   "         go to DIR/echo.urls\n"
		   "  report prints the table and the ratios from FILE\n\n"
		   "Options:\n"
		   "  --label NAME       key prefix of this run's figures (default ecc)\n"
		   "  --iters N          timed operations per case (default 2000)\n"
		   "  --warmup N         untimed operations before each case (default 200)\n"
		   "  --rounds N         interleaved rounds of the 1-client cases (default 4)\n"
		   "  --shared-client    one rpc_client for all threads (default: one each)\n"
		   "  --no-nng           skip the bare nng baseline\n"
		   "Run it through bench/run.sh, which starts the swtpm and the agent.\n");
}

static int bq_uint(const char *name, const char *arg, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || v < min || v > max)
		return err_set(AICERT_ERR_INVALID, "--%s: expected %u to %u, not '%s'", name, min,
			       max, arg);
	*out = (unsigned)v;
	return 0;
}

/* "1,4,16" */
static int bq_clients(struct bq_opts *o, const char *arg)
{
	char *copy = strdup(arg), *save = NULL, *tok;
	int r = 0;

	if (!copy)
		return AICERT_ERR_NOMEM;
	o->nclients = 0;
	for (tok = strtok_r(copy, ",", &save); tok && r == 0; tok = strtok_r(NULL, ",", &save)) {
		if (o->nclients == BQ_MAX_CLIENT_COUNTS)
			r = err_set(AICERT_ERR_TOO_BIG, "--clients: at most %d counts",
				    BQ_MAX_CLIENT_COUNTS);
		else
			r = bq_uint("clients", tok, 1, 256, &o->clients[o->nclients++]);
	}
	free(copy);
	return r;
}

static int bq_opt(struct bq_opts *o, int opt, const char *arg)
{
	const char **str[] = {
		[OPT_RESULTS] = &o->results,   [OPT_LABEL] = &o->label,
		[OPT_TCTI] = &o->tcti,         [OPT_STATE_DIR] = &o->state_dir,
		[OPT_AK_ALG] = &o->ak_alg,     [OPT_IPC] = &o->ipc_url,
		[OPT_TLS] = &o->tls_url,       [OPT_TLS_CERT] = &o->tls_cert,
		[OPT_TLS_KEY] = &o->tls_key,   [OPT_TLS_CA] = &o->tls_ca,
		[OPT_SRV_CERT] = &o->srv_cert, [OPT_SRV_KEY] = &o->srv_key,
		[OPT_SRV_CA] = &o->srv_ca,     [OPT_WORK] = &o->work_dir,
		[OPT_ECHO_IPC] = &o->echo_ipc, [OPT_ECHO_TLS] = &o->echo_tls,
	};

	if (opt > 0 && opt < (int)(sizeof(str) / sizeof(str[0])) && str[opt]) {
		*str[opt] = arg;
		return 0;
	}
	switch (opt) {
	case OPT_ITERS:
		return bq_uint("iters", arg, 10, 10000000, &o->iters);
	case OPT_WARMUP:
		return bq_uint("warmup", arg, 0, 1000000, &o->warmup);
	case OPT_ROUNDS:
		return bq_uint("rounds", arg, 1, 100, &o->rounds);
	case OPT_CLIENTS:
		return bq_clients(o, arg);
	case OPT_SHARED:
		o->shared_client = true;
		return 0;
	case OPT_NO_NNG:
		o->no_nng = true;
		return 0;
	default:
		return err_set(AICERT_ERR_INVALID, "unknown option; see --help");
	}
}

static int bq_parse(int argc, char **argv, struct bq_opts *o)
{
	int opt, r;

	*o = (struct bq_opts){
		.label = "ecc",
		.iters = 2000,
		.warmup = 200,
		.ak_alg = "ecc",
		.clients = {1, 4, 16},
		.nclients = 3,
		.rounds = 4,
	};
	while ((opt = getopt_long(argc, argv, "", bq_options, NULL)) != -1) {
		if (opt == OPT_HELP) {
			bq_usage(stdout);
			return 1;
		}
		r = bq_opt(o, opt, optarg);
		if (r < 0)
			return r;
	}
	if (optind != argc)
		return err_set(AICERT_ERR_INVALID, "unexpected argument '%s'", argv[optind]);
	if (!o->results)
		return err_set(AICERT_ERR_INVALID, "--results FILE is required");
	return 0;
}

int main(int argc, char **argv)
{
	struct bq_opts o;
	int r;

	log_setup("bench_quote", LOG_STYLE_CLI, LOG_INFO);
	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		bq_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	r = bq_parse(argc - 1, argv + 1, &o);
	if (r == 1)
		return 0;
	for (size_t i = 0; r == 0 && i < sizeof(bq_phases) / sizeof(bq_phases[0]); i++) {
		if (strcmp(argv[1], bq_phases[i].name) == 0) {
			r = bq_phases[i].run(&o);
			if (r < 0)
				log_err("%s: %s", argv[1], err_msg(r));
			return r < 0 ? 1 : 0;
		}
	}
	if (r == 0)
		r = err_set(AICERT_ERR_INVALID, "unknown phase '%s' (direct, rpc, echo, report)",
			    argv[1]);
	log_err("%s", err_msg(r));
	return 2;
}
