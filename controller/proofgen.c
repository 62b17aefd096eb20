#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "agentc.h"
#include "ca.h"
#include "cel.h"
#include "ekcert.h"
#include "err.h"
#include "events.h"
#include "fileio.h"
#include "joblog.h"
#include "policy.h"
#include "proof.h"
#include "proofgen.h"
#include "statement.h"
#include "tpmkey.h"

static int proofgen_copy(struct proof_blob *b, const uint8_t *data, size_t len)
{
	b->data = malloc(len ? len : 1);
	if (!b->data)
		return AICERT_ERR_NOMEM;
	if (len)
		memcpy(b->data, data, len);
	b->len = len;
	return 0;
}

static int proofgen_der(struct proof_blob *b, X509 *x)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	int r;

	if (n <= 0)
		return err_set(AICERT_ERR_CRYPTO, "cannot encode a certificate");
	r = proofgen_copy(b, der, (size_t)n);
	OPENSSL_free(der);
	return r;
}

/* The EK certificate whose key is the agent's EK. */
static int proofgen_ek_cert(const Aicert__V1__IdentityReply *id, struct proof *p)
{
	TPMT_PUBLIC ek;
	int r;

	r = tpmkey_parse_public(id->ek_public.data, id->ek_public.len, &ek);
	if (r < 0)
		return err_wrap(r, "the agent's EK");
	for (size_t i = 0; i < id->n_ek_certs; i++) {
		X509 *x = NULL;
		bool match;

		if (ekcert_parse_der(id->ek_certs[i]->der.data, id->ek_certs[i]->der.len, &x) < 0)
			continue;
		match = ekcert_check_key(x, &ek) == 0;
		X509_free(x);
		if (match)
			return proofgen_copy(&p->ek_certs[p->n_ek_certs++],
					     id->ek_certs[i]->der.data, id->ek_certs[i]->der.len);
	}
	return err_set(AICERT_ERR_NOT_FOUND, "the agent has no EK certificate for its EK");
}

static int proofgen_pem_certs(const char *path, struct proof *p)
{
	STACK_OF(X509) *certs = NULL;
	uint8_t *buf = NULL;
	size_t len;
	int r;

	r = fileio_read_all(path, 1u << 20, &buf, &len);
	if (r < 0)
		return r;
	certs = sk_X509_new_null();
	if (!certs) {
		free(buf);
		return AICERT_ERR_NOMEM;
	}
	r = policy_pem_certs(path, buf, len, certs);
	for (int i = 0; r == 0 && i < sk_X509_num(certs); i++) {
		if (p->n_ek_certs == PROOF_MAX_CERTS)
			r = err_set(AICERT_ERR_TOO_BIG, "more than %d EK certificates",
				    PROOF_MAX_CERTS);
		else
			r = proofgen_der(&p->ek_certs[p->n_ek_certs++], sk_X509_value(certs, i));
	}
	sk_X509_pop_free(certs, X509_free);
	free(buf);
	return r;
}

static int proofgen_identity(const struct proofgen_opts *o, struct proof *p)
{
	Aicert__V1__IdentityReply *id = NULL;
	TPM2B_NAME name = {0};
	X509 *ak_cert = NULL;
	int r;

	r = agentc_identity(o->agent, &id);
	if (r < 0)
		return r;
	r = proofgen_ek_cert(id, p);
	for (size_t i = 0; r == 0 && i < o->n_ek_intermediates; i++)
		r = proofgen_pem_certs(o->ek_intermediates[i], p);
	if (r == 0)
		r = proofgen_copy(&p->ek_public, id->ek_public.data, id->ek_public.len);
	if (r == 0)
		r = proofgen_copy(&p->ak_public, id->ak_public.data, id->ak_public.len);
	if (r == 0 && id->ak_name.len > sizeof(name.name))
		r = err_set(AICERT_ERR_INVALID, "the agent's AK name is too long");
	if (r == 0) {
		name.size = (UINT16)id->ak_name.len;
		memcpy(name.name, id->ak_name.data, id->ak_name.len);
		r = ca_find_runner(o->ca_dir, &name, &ak_cert);
		if (r < 0)
			r = err_wrap(r, "this runner's AK is not enrolled with %s (aicert enroll)",
				     o->ca_dir);
	}
	if (r == 0)
		r = proofgen_der(&p->ak_certs[p->n_ak_certs++], ak_cert);
	X509_free(ak_cert);
	protobuf_c_message_free_unpacked(&id->base, NULL);
	return r;
}

static int proofgen_quote(const struct proofgen_opts *o, struct proof *p)
{
	Aicert__V1__QuoteRequest req = AICERT__V1__QUOTE_REQUEST__INIT;
	Aicert__V1__PcrBank bank = AICERT__V1__PCR_BANK__INIT, *banks[1] = {&bank};
	Aicert__V1__QuoteReply *q = NULL;
	uint32_t mask = o->pcr_mask ? o->pcr_mask : PROOFGEN_DEFAULT_PCRS, list[24];
	uint8_t binding[32];
	int r;

	r = events_binding(o->job_id, o->nonce, o->nonce_len, binding);
	if (r < 0)
		return r;
	agentc_bank(TPM2_ALG_SHA256, mask, &bank, list);
	req.banks = banks;
	req.n_banks = 1;
	req.qualifying_data.data = binding;
	req.qualifying_data.len = sizeof(binding);
	r = agentc_quote(o->agent, &req, &q);
	if (r < 0)
		return r;
	r = proofgen_copy(&p->attest, q->attest.data, q->attest.len);
	if (r == 0)
		r = proofgen_copy(&p->signature, q->signature.data, q->signature.len);
	for (size_t b = 0; r == 0 && b < q->n_pcrs; b++) {
		for (size_t i = 0; i < q->pcrs[b]->n_values; i++) {
			struct proof_pcr *pc = &p->pcrs[p->n_pcrs];
			const Aicert__V1__PcrValue *v = q->pcrs[b]->values[i];

			if (p->n_pcrs == PROOF_MAX_PCRS || v->pcr > 23 ||
			    v->digest.len > sizeof(pc->digest)) {
				r = err_set(AICERT_ERR_INVALID,
					    "the agent's PCR values are malformed");
				break;
			}
			pc->hash_alg = (uint16_t)q->pcrs[b]->hash_alg;
			pc->pcr = (uint8_t)v->pcr;
			pc->len = v->digest.len;
			memcpy(pc->digest, v->digest.data, v->digest.len);
			p->n_pcrs++;
		}
	}
	protobuf_c_message_free_unpacked(&q->base, NULL);
	return r;
}

static int proofgen_logs(const struct proofgen_opts *o, struct proof *p)
{
	Aicert__V1__EventLogReply *ev = NULL;
	int r;

	r = agentc_event_log(o->agent, &ev);
	if (r < 0)
		return r;
	r = proofgen_copy(&p->boot_log, ev->boot_log.data, ev->boot_log.len);
	if (r == 0)
		r = proofgen_copy(&p->runtime_log, ev->runtime_log.data, ev->runtime_log.len);
	protobuf_c_message_free_unpacked(&ev->base, NULL);
	return r;
}

/* The Statement follows from the runtime log: the same reading as the
 * verifier's. */
static int proofgen_statement(const struct proofgen_opts *o, struct proof *p)
{
	struct cel_log rt = {0};
	struct joblog jl = {0};
	uint8_t digest[32];
	int r;

	r = cel_decode(p->runtime_log.data, p->runtime_log.len, &rt);
	if (r == 0)
		r = joblog_decode(&rt, &jl);
	if (r == 0)
		r = joblog_find(&jl, o->job_id, o->nonce, o->nonce_len);
	if (r == 0) {
		SHA256(p->runtime_log.data, p->runtime_log.len, digest);
		r = statement_build(&jl.job, p->platform, digest, &p->statement);
	}
	joblog_clear(&jl);
	cel_clear(&rt);
	return r < 0 ? err_wrap(r, "job '%s'", o->job_id) : 0;
}

int proofgen_make(const struct proofgen_opts *o, struct proof **ret)
{
	struct proof *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return AICERT_ERR_NOMEM;
	if (strlen(o->job_id) >= sizeof(p->job_id) || o->nonce_len < 16 ||
	    o->nonce_len > sizeof(p->nonce)) {
		free(p);
		return err_set(AICERT_ERR_INVALID,
			       "a job id of at most %zu bytes and a nonce of "
			       "16 to 64 bytes are needed",
			       sizeof(p->job_id) - 1);
	}
	strcpy(p->job_id, o->job_id);
	memcpy(p->nonce, o->nonce, o->nonce_len);
	p->nonce_len = o->nonce_len;
	r = proofgen_identity(o, p);
	/* The logs after the quote: every record the quote covers is in them. */
	if (r == 0)
		r = proofgen_quote(o, p);
	if (r == 0)
		r = proofgen_logs(o, p);
	if (r == 0)
		strcpy(p->platform, p->boot_log.len ? "measured" : "development");
	if (r == 0 && o->job_id[0])
		r = proofgen_statement(o, p);
	if (r < 0) {
		proof_free(p);
		return r;
	}
	*ret = p;
	return 0;
}
