/* aicert attest --agent URL --ca DIR --out PROOF [--nonce HEX]
 *                [--ek-intermediates PEM...]
 * A proof of the platform alone: the runner's identity, a quote over its
 * PCRs bound to a nonce, and its event logs. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "agentc.h"
#include "cli.h"
#include "err.h"
#include "hex.h"
#include "proof.h"
#include "proofgen.h"

#define ATTEST_MAX_FILES 8

struct attest_args {
	struct agentc_opts dial;
	const char *ca;
	const char *out;
	const char *nonce_hex;
	const char *ek_inter[ATTEST_MAX_FILES];
	size_t n_ek_inter;
};

enum { OPT_CA = 1, OPT_OUT, OPT_NONCE, OPT_EK_INTER, OPT_HELP };

static void attest_usage(FILE *f)
{
	fprintf(f, "Usage: aicert attest --agent URL --ca DIR --out PROOF [--nonce HEX]\n"
		   "                     [--ek-intermediates PEM...]\n\n"
		   "Makes a proof of the platform alone (no job): identity, a quote over the\n"
		   "PCRs bound to the nonce (random unless given), the event logs.\n\n"
		   "Options:\n" AGENTC_USAGE);
}

static int attest_parse(int argc, char **argv, struct attest_args *a)
{
	static const struct option opts[] = {
		AGENTC_LONG_OPTIONS,
		{"ca", required_argument, NULL, OPT_CA},
		{"out", required_argument, NULL, OPT_OUT},
		{"nonce", required_argument, NULL, OPT_NONCE},
		{"ek-intermediates", required_argument, NULL, OPT_EK_INTER},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0},
	};
	int opt, r;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		r = agentc_opt(&a->dial, opt, optarg);
		if (r < 0)
			return r;
		if (r == 1)
			continue;
		if (opt == OPT_CA)
			a->ca = optarg;
		else if (opt == OPT_OUT)
			a->out = optarg;
		else if (opt == OPT_NONCE)
			a->nonce_hex = optarg;
		else if (opt == OPT_EK_INTER && a->n_ek_inter < ATTEST_MAX_FILES)
			a->ek_inter[a->n_ek_inter++] = optarg;
		else if (opt == OPT_HELP) {
			attest_usage(stdout);
			return 1;
		} else
			return err_set(AICERT_ERR_INVALID, "see 'aicert attest --help'");
	}
	if (optind < argc)
		return err_set(AICERT_ERR_INVALID, "unexpected argument '%s'", argv[optind]);
	if (!a->ca || !a->out)
		return err_set(AICERT_ERR_INVALID, "attest needs --agent, --ca and --out");
	return 0;
}

int cmd_attest(int argc, char **argv)
{
	struct attest_args a = {0};
	struct proofgen_opts po = {.job_id = ""};
	struct rpc_client *c = NULL;
	struct proof *p = NULL;
	uint8_t nonce[64];
	char hex[129];
	int r;

	r = attest_parse(argc, argv, &a);
	if (r == 1)
		return CLI_EXIT_OK;
	if (r == 0 && a.nonce_hex) {
		r = hex_decode(a.nonce_hex, nonce, sizeof(nonce), &po.nonce_len);
		if (r == 0 && po.nonce_len < 16)
			r = err_set(AICERT_ERR_INVALID, "--nonce: 16 to 64 bytes");
	} else if (r == 0) {
		po.nonce_len = 32;
		if (RAND_bytes(nonce, 32) != 1)
			r = err_set(AICERT_ERR_CRYPTO, "no random nonce");
	}
	if (r == 0)
		r = agentc_dial(&a.dial, &c);
	if (r == 0) {
		po.agent = c;
		po.ca_dir = a.ca;
		po.nonce = nonce;
		po.ek_intermediates = a.ek_inter;
		po.n_ek_intermediates = a.n_ek_inter;
		r = proofgen_make(&po, &p);
	}
	if (r == 0)
		r = proof_save(p, a.out);
	rpc_client_free(c);
	proof_free(p);
	if (r < 0)
		return cli_fail(r);
	hex_encode(nonce, po.nonce_len, hex);
	printf("platform proof written to %s (nonce %s)\n", a.out, hex);
	return CLI_EXIT_OK;
}
