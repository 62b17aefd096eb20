/* Forgery material only a TPM can make: quotes through the agent, and, with
 * the agent stopped (it is the TPM's only user while it runs), TPM2_Certify
 * and TPM2_Sign by the AK, the TPM's other EK, and a suspend/resume. The AK
 * is loaded from the agent's state directory with the agent's own TPM code
 * (agent/tpm.c), which also authorises the EK as its parent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tctildr.h>

#include "agentc.h"
#include "err.h"
#include "fileio.h"
#include "proof.h"
#include "tcglog.h"
#include "tpm.h"
#include "tpm_internal.h"
#include "fx.h"

#define FX_ECC_EK_HANDLE 0x81010016u

void fx_tpm_apply(struct proof *p, const struct fx_quote *q)
{
	fx_blob_set(&p->attest, q->attest.data, q->attest.len);
	fx_blob_set(&p->signature, q->sig.data, q->sig.len);
	if (q->n_pcrs == 0)
		return; /* not a quote: the proof keeps its values */
	memcpy(p->pcrs, q->pcrs, q->n_pcrs * sizeof(q->pcrs[0]));
	p->n_pcrs = q->n_pcrs;
}

void fx_tpm_quote(struct fx_runner *r, const char *job_id, const uint8_t *nonce, uint16_t hash_alg,
		  uint32_t mask, struct fx_quote *out)
{
	Aicert__V1__QuoteRequest req = AICERT__V1__QUOTE_REQUEST__INIT;
	Aicert__V1__PcrBank bank = AICERT__V1__PCR_BANK__INIT, *banks[1] = {&bank};
	Aicert__V1__QuoteReply *q = NULL;
	uint32_t list[24];
	uint8_t binding[32];

	assert_int_equal(events_binding(job_id, nonce, FX_NONCE_LEN, binding), 0);
	bank.hash_alg = hash_alg;
	for (unsigned i = 0; i < 24; i++)
		if (mask >> i & 1)
			list[bank.n_pcrs++] = i;
	bank.pcrs = list;
	req.banks = banks;
	req.n_banks = 1;
	req.qualifying_data.data = binding;
	req.qualifying_data.len = sizeof(binding);
	if (agentc_quote(r->c, &req, &q) < 0)
		fail_msg("Quote: %s", err_msg(-1));
	fx_blob_set(&out->attest, q->attest.data, q->attest.len);
	fx_blob_set(&out->sig, q->signature.data, q->signature.len);
	out->n_pcrs = 0;
	for (size_t b = 0; b < q->n_pcrs; b++)
		for (size_t i = 0; i < q->pcrs[b]->n_values; i++) {
			const Aicert__V1__PcrValue *v = q->pcrs[b]->values[i];
			struct proof_pcr *pc = &out->pcrs[out->n_pcrs++];

			assert_true(v->digest.len <= sizeof(pc->digest));
			pc->hash_alg = (uint16_t)q->pcrs[b]->hash_alg;
			pc->pcr = (uint8_t)v->pcr;
			pc->len = v->digest.len;
			memcpy(pc->digest, v->digest.data, v->digest.len);
		}
	protobuf_c_message_free_unpacked(&q->base, NULL);
}

static void fx_tpm_signature(const TPMT_SIGNATURE *sig, struct proof_blob *out)
{
	uint8_t buf[sizeof(TPMT_SIGNATURE)];
	size_t off = 0;

	assert_int_equal(Tss2_MU_TPMT_SIGNATURE_Marshal(sig, buf, sizeof(buf), &off),
			 TSS2_RC_SUCCESS);
	fx_blob_set(out, buf, off);
}

/* TPM2_Certify of the AK, signed by the AK, with the good job's binding as
 * qualifyingData: a genuine TPM-signed attestation, of the wrong type. */
static void fx_tpm_certify(struct fx *f, struct tpm *t)
{
	const TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL};
	TPM2B_DATA qual = {.size = 32};
	TPM2B_ATTEST *att = NULL;
	TPMT_SIGNATURE *sig = NULL;
	TSS2_RC rc;

	assert_int_equal(events_binding(FX_GOOD_JOB, f->nonce, FX_NONCE_LEN, qual.buffer), 0);
	rc = Esys_Certify(t->esys, t->ak, t->ak, ESYS_TR_PASSWORD, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			  &qual, &scheme, &att, &sig);
	if (rc != TSS2_RC_SUCCESS)
		fail_msg("TPM2_Certify: %s", err_msg(tpm_rc(rc, "TPM2_Certify")));
	fx_blob_set(&f->q_certify.attest, att->attestationData, att->size);
	fx_tpm_signature(sig, &f->q_certify.sig);
	Esys_Free(att);
	Esys_Free(sig);
}

/* TPM2_Hash with a ticket, then TPM2_Sign by the (restricted) AK. */
static TSS2_RC fx_tpm_hash_sign(struct tpm *t, const TPM2B_MAX_BUFFER *msg, TPMT_SIGNATURE **sig,
				TPMI_RH_HIERARCHY *ticket_hierarchy)
{
	const TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL};
	TPM2B_DIGEST *digest = NULL;
	TPMT_TK_HASHCHECK *ticket = NULL;
	TSS2_RC rc;

	rc = Esys_Hash(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, msg, TPM2_ALG_SHA256,
		       ESYS_TR_RH_OWNER, &digest, &ticket);
	if (rc != TSS2_RC_SUCCESS)
		fail_msg("TPM2_Hash: %s", err_msg(tpm_rc(rc, "TPM2_Hash")));
	*ticket_hierarchy = ticket->hierarchy;
	rc = Esys_Sign(t->esys, t->ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, digest,
		       &scheme, ticket, sig);
	Esys_Free(digest);
	Esys_Free(ticket);
	return rc;
}

/* The AK signs anything that does not start with TPM_GENERATED_VALUE: here
 * the good quote with its magic changed. The same bytes with the magic are
 * refused by the TPM, which is what makes magic worth checking. */
static void fx_tpm_sign(struct fx *f, struct tpm *t)
{
	TPMT_SIGNATURE *sig = NULL;
	TPMI_RH_HIERARCHY hier;
	TPM2B_MAX_BUFFER msg;
	struct proof *good = NULL;
	TSS2_RC rc;

	assert_int_equal(proof_parse("good", f->good.buf, f->good.len, &good), 0);
	assert_true(good->attest.len <= sizeof(msg.buffer));
	msg.size = (UINT16)good->attest.len;
	memcpy(msg.buffer, good->attest.data, good->attest.len);
	proof_free(good);
	rc = fx_tpm_hash_sign(t, &msg, &sig, &hier);
	assert_int_equal(hier, TPM2_RH_NULL);
	assert_int_not_equal(rc, TSS2_RC_SUCCESS);
	msg.buffer[0] = 0x00; /* 0xff544347 'TCG' becomes 0x00544347 */
	rc = fx_tpm_hash_sign(t, &msg, &sig, &hier);
	if (rc != TSS2_RC_SUCCESS)
		fail_msg("TPM2_Sign: %s", err_msg(tpm_rc(rc, "TPM2_Sign")));
	fx_blob_set(&f->q_signed.attest, msg.buffer, msg.size);
	fx_tpm_signature(sig, &f->q_signed.sig);
	Esys_Free(sig);
}

/* The public area of swtpm's P-384 EK: the same TPM, but not the AK's parent. */
static void fx_tpm_ecc_ek(struct fx *f, struct tpm *t)
{
	ESYS_TR h = ESYS_TR_NONE;
	TPM2B_PUBLIC *pub = NULL;
	uint8_t buf[sizeof(TPMT_PUBLIC)];
	size_t off = 0;

	assert_int_equal(Esys_TR_FromTPMPublic(t->esys, FX_ECC_EK_HANDLE, ESYS_TR_NONE,
					       ESYS_TR_NONE, ESYS_TR_NONE, &h),
			 TSS2_RC_SUCCESS);
	assert_int_equal(Esys_ReadPublic(t->esys, h, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub,
					 NULL, NULL),
			 TSS2_RC_SUCCESS);
	assert_int_equal(Tss2_MU_TPMT_PUBLIC_Marshal(&pub->publicArea, buf, sizeof(buf), &off),
			 TSS2_RC_SUCCESS);
	fx_blob_set(&f->ecc_ek_public, buf, off);
	Esys_Free(pub);
	Esys_TR_Close(t->esys, &h);
}

void fx_tpm_direct(struct fx *f)
{
	struct tpm_opts o = {.tcti = f->a.tpm.tcti, .state_dir = f->a.agent.state_dir};
	struct tpm *t = NULL;
	int r;

	fx_runner_stop_agent(&f->a);
	r = tpm_open(&o, &t);
	if (r < 0)
		fail_msg("tpm_open: %s", err_msg(r));
	fx_tpm_certify(f, t);
	fx_tpm_sign(f, t);
	fx_tpm_ecc_ek(f, t);
	tpm_free(t);
	fx_runner_restart(&f->a, NULL);
}

/* One raw ESAPI command on r's TPM: TPM2_Shutdown or TPM2_Startup. */
static void fx_tpm_power(struct fx_runner *r, bool startup)
{
	TSS2_TCTI_CONTEXT *tcti = NULL;
	ESYS_CONTEXT *esys = NULL;
	TSS2_RC rc;

	assert_int_equal(Tss2_TctiLdr_Initialize(r->tpm.tcti, &tcti), TSS2_RC_SUCCESS);
	assert_int_equal(Esys_Initialize(&esys, tcti, NULL), TSS2_RC_SUCCESS);
	if (startup)
		rc = Esys_Startup(esys, TPM2_SU_STATE);
	else
		rc = Esys_Shutdown(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_SU_STATE);
	if (rc != TSS2_RC_SUCCESS)
		fail_msg("%s: %s", startup ? "TPM2_Startup" : "TPM2_Shutdown",
			 err_msg(tpm_rc(rc, "power")));
	Esys_Finalize(&esys);
	Tss2_TctiLdr_Finalize(&tcti);
}

void fx_tpm_resume(struct fx_runner *r)
{
	char ctrl[64];
	const char *init[] = {"swtpm_ioctl", "--tcp", ctrl, "-i", NULL};

	fx_runner_stop_agent(r);
	fx_tpm_power(r, false);
	/* The control channel's CMD_INIT: a power cycle. */
	snprintf(ctrl, sizeof(ctrl), "127.0.0.1:%d", r->tpm.port + 1);
	assert_int_equal(harness_run(init), 0);
	fx_tpm_power(r, true);
	fx_runner_restart(r, NULL);
}

/* Extends event i of log into its PCR, in the SHA-256 and SHA-1 banks. */
static void fx_tpm_extend_event(ESYS_CONTEXT *esys, const struct tcglog *log, size_t i)
{
	static const uint16_t banks[] = {TPM2_ALG_SHA256, TPM2_ALG_SHA1};
	const struct tcglog_event *ev = tcglog_event(log, i);
	TPML_DIGEST_VALUES d = {0};

	if (ev->type == TCGLOG_EV_NO_ACTION)
		return;
	for (size_t b = 0; b < sizeof(banks) / sizeof(banks[0]); b++) {
		const uint8_t *digest;
		size_t len;

		assert_int_equal(
			tcglog_event_digest(log, i, banks[b], TCGLOG_DISPLAY_ONLY, &digest, &len),
			0);
		d.digests[d.count].hashAlg = banks[b];
		memcpy((uint8_t *)&d.digests[d.count].digest, digest, len);
		d.count++;
	}
	assert_int_equal(Esys_PCR_Extend(esys, ESYS_TR_PCR0 + ev->pcr, ESYS_TR_PASSWORD,
					 ESYS_TR_NONE, ESYS_TR_NONE, &d),
			 TSS2_RC_SUCCESS);
}

/* What firmware would have measured, measured from userspace: PCRs 0-15 of
 * a TPM can be extended at any time, and a swtpm's owner can also reset
 * them. Whether such a TPM's PCRs mean anything is the EK root's business. */
void fx_tpm_fake_boot(struct fx *f)
{
	const char *const args[] = {"--boot-log", FX_OVMF_LOG, NULL};
	TSS2_TCTI_CONTEXT *tcti = NULL;
	ESYS_CONTEXT *esys = NULL;
	struct tcglog *log = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;

	assert_int_equal(fileio_read_all(FX_OVMF_LOG, PROOF_MAX_BOOT_LOG, &buf, &len), 0);
	assert_int_equal(tcglog_parse(buf, len, &log), 0);
	free(buf);
	fx_runner_stop_agent(&f->b);
	assert_int_equal(Tss2_TctiLdr_Initialize(f->b.tpm.tcti, &tcti), TSS2_RC_SUCCESS);
	assert_int_equal(Esys_Initialize(&esys, tcti, NULL), TSS2_RC_SUCCESS);
	for (size_t i = 0; i < tcglog_count(log); i++)
		fx_tpm_extend_event(esys, log, i);
	Esys_Finalize(&esys);
	Tss2_TctiLdr_Finalize(&tcti);
	tcglog_free(log);
	fx_runner_restart(&f->b, args);
	fx_prove(f, &f->b, "", f->nonce, &f->measured);
}
