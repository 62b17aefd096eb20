/* The direct phase: the TPM's own cost of what the agent's Quote handler does
 * under its lock (tpm_quote: TPM2_Quote, TPM2_PCR_Read, the pcrDigest check),
 * through ESAPI in this process, with an AK of our own in a separate state
 * directory; and the same quote behind a bare nng server thread (the "ideal
 * agent": transport and TPM, no RPC layer), over ipc:// and tls+tcp://.
 *
 * No agent may hold the TPM meanwhile: swtpm has no resource manager. The
 * calls never overlap (the client waits for each reply), so the server thread
 * and this one take turns on the one ESAPI context. tpm_free() flushes the
 * AK, leaving the TPM as it was. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcase.h"
#include "bnng.h"
#include "bq.h"
#include "bq_wire.h"
#include "bstat.h"
#include "err.h"
#include "fileio.h"
#include "rpc.h"
#include "tpm.h"

static const struct tpm_bank bq_bank = {
	.hash_alg = TPM_ALG_SHA256_ID,
	.mask = BQ_WIRE_PCR_MASK,
};

struct bq_direct {
	struct tpm *t;
	uint64_t server_seq; /* nonces of the ideal agent's quotes */
	struct bnng_server *srv[2];
	struct bnng_client *cli[2];
	size_t req_len, rep_len;
	struct bcase_set set;
};

/* One tpm_quote over BQ_WIRE_PCR_MASK; the lengths of its outputs if asked. */
static int bq_direct_quote_once(struct tpm *t, uint64_t seq, size_t *attest_len, size_t *sig_len)
{
	struct tpm_bank_values vals;
	uint8_t nonce[BQ_WIRE_NONCE_LEN] = {0};
	uint8_t *attest = NULL, *sig = NULL;
	size_t a_len, s_len;
	int r;

	memcpy(nonce, &seq, sizeof(seq));
	r = tpm_quote(t, nonce, sizeof(nonce), &bq_bank, 1, &attest, &a_len, &sig, &s_len, &vals);
	free(attest);
	free(sig);
	if (r == 0 && attest_len) {
		*attest_len = a_len;
		*sig_len = s_len;
	}
	return r;
}

static int bq_op_quote(void *ctx, uint64_t seq)
{
	struct bq_direct *d = ctx;

	return bq_direct_quote_once(d->t, seq, NULL, NULL);
}

static int bq_op_pcr_read(void *ctx, uint64_t seq)
{
	struct bq_direct *d = ctx;
	struct tpm_bank_values vals;
	uint32_t counter;

	(void)seq;
	return tpm_pcr_read(d->t, &bq_bank, 1, &vals, &counter);
}

/* The ideal agent's work, on its server thread. */
static int bq_work_quote(void *arg)
{
	struct bq_direct *d = arg;

	return bq_direct_quote_once(d->t, d->server_seq++ | (1ull << 63), NULL, NULL);
}

/* A Quote's sizes on the wire, from a quote and the AK of this TPM. */
static int bq_direct_sizes(struct bq_direct *d)
{
	uint8_t *pub = NULL, *name = NULL;
	size_t attest_len, sig_len, pub_len, name_len;
	int r;

	r = bq_direct_quote_once(d->t, 0, &attest_len, &sig_len);
	if (r == 0)
		r = tpm_ak_public(d->t, &pub, &pub_len, &name, &name_len);
	if (r < 0)
		return r;
	free(pub);
	free(name);
	bq_wire_sizes_for(attest_len, sig_len, pub_len, &d->req_len, &d->rep_len);
	return 0;
}

/* The ideal agent on url, and a client of it, as case "ideal.<label>.<what>". */
static int bq_direct_ideal(const struct bq_opts *o, struct bq_direct *d, size_t i, const char *url,
			   const char *what)
{
	struct rpc_tls srv = {o->srv_cert, o->srv_key, o->srv_ca};
	struct rpc_tls cli = {o->tls_cert, o->tls_key, o->tls_ca};
	char key[BCASE_KEY_MAX];
	int r;

	r = bnng_server_start(url, &srv, bq_work_quote, d, &d->srv[i]);
	if (r == 0)
		r = bnng_client_dial(bnng_server_url(d->srv[i]), &cli, d->req_len, d->rep_len,
				     false, &d->cli[i]);
	if (r < 0)
		return err_wrap(r, "the ideal agent on %s", url);
	snprintf(key, sizeof(key), "ideal.%s.%s", o->label, what);
	return bcase_add(&d->set, key, bnng_op, d->cli[i]);
}

static int bq_direct_cases(const struct bq_opts *o, struct bq_direct *d)
{
	char key[BCASE_KEY_MAX], url[600];
	int r;

	snprintf(key, sizeof(key), "direct.%s.quote", o->label);
	r = bcase_add(&d->set, key, bq_op_quote, d);
	snprintf(key, sizeof(key), "direct.%s.pcr_read", o->label);
	if (r == 0)
		r = bcase_add(&d->set, key, bq_op_pcr_read, d);
	if (r < 0 || !o->work_dir)
		return r;
	snprintf(url, sizeof(url), "ipc://%s/bench-ideal.sock", o->work_dir);
	r = bq_direct_ideal(o, d, 0, url, "ipc");
	if (r == 0 && o->srv_cert && o->srv_key && o->srv_ca && o->tls_cert)
		r = bq_direct_ideal(o, d, 1, "tls+tcp://127.0.0.1:0", "tls");
	return r;
}

static int bq_direct_open(const struct bq_opts *o, struct bq_direct *d)
{
	struct tpm_opts to = {.tcti = o->tcti, .state_dir = o->state_dir};
	uint64_t t0 = bstat_now_ns();
	char key[BCASE_KEY_MAX];
	double ms;
	int r;

	if (strcmp(o->ak_alg, "rsa") != 0 && strcmp(o->ak_alg, "ecc") != 0)
		return err_set(AICERT_ERR_INVALID, "--ak-alg: ecc or rsa, not '%s'", o->ak_alg);
	to.ak_alg = strcmp(o->ak_alg, "rsa") == 0 ? TPM_KEYALG_RSA : TPM_KEYALG_ECC;
	r = fileio_mkdir(o->state_dir, 0700);
	if (r == 0)
		r = tpm_open(&to, &d->t);
	if (r < 0)
		return err_wrap(r, "opening the TPM at %s", o->tcti);
	ms = (double)(bstat_now_ns() - t0) / 1e6;
	fprintf(stderr, "direct %s: tpm_open (AK %s) %.1f ms\n", o->label, o->ak_alg, ms);
	snprintf(key, sizeof(key), "direct.%s.open_ms", o->label);
	return bstat_save_value(o->results, key, ms);
}

int bq_direct_run(const struct bq_opts *o)
{
	struct bq_direct d = {0};
	int r;

	if (!o->tcti || !o->state_dir)
		return err_set(AICERT_ERR_INVALID, "direct needs --tcti and --state-dir");
	r = bq_direct_open(o, &d);
	if (r == 0)
		r = bq_direct_sizes(&d);
	if (r == 0)
		r = bq_direct_cases(o, &d);
	if (r == 0)
		r = bcase_run(&d.set, o->results, o->warmup, o->iters, o->rounds);
	/* Clients first: a server thread may be inside tpm_quote for them. */
	for (size_t i = 0; i < 2; i++)
		bnng_client_free(d.cli[i]);
	for (size_t i = 0; i < 2; i++)
		bnng_server_stop(d.srv[i]);
	bcase_free(&d.set);
	tpm_free(d.t);
	return r;
}
