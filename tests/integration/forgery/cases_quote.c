/* Forgeries of the quote: its signature, magic and type, its binding to the
 * job and nonce, and the PCR values it signs. Every quote, certification and
 * signature used here was made by the TPM (fx_tpm.c); bytes are edited only
 * where the attack is an edit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/rand.h>
#include <tss2/tss2_mu.h>

#include "attest.h"
#include "fileio.h"
#include "proof.h"
#include "forge.h"

/* ---- the quote ------------------------------------------------------------------------------- */

static void quote_signature_bit_flipped(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	p->signature.data[p->signature.len - 1] ^= 0x01;
	forge_emit(o, p);
}

static void quote_magic_edited(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	p->attest.data[0] = 0x00; /* TPM_GENERATED_VALUE 0xff544347 */
	forge_emit(o, p);
}

/* The AK's genuine signature (TPM2_Hash + TPM2_Sign) over the quote with
 * its magic changed: what a restricted key signs for anyone. */
static void quote_magic_edited_and_signed(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	fx_tpm_apply(p, &f->q_signed);
	forge_emit(o, p);
}

/* A TPM2_Certify attestation, signed by the AK, bound to the job. */
static void quote_is_a_certify(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	fx_tpm_apply(p, &f->q_certify);
	forge_emit(o, p);
}

static void quote_signature_of_another_quote(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	fx_blob_set(&p->signature, f->q_other_job.sig.data, f->q_other_job.sig.len);
	forge_emit(o, p);
}

static void quote_attest_of_another_quote(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	fx_blob_set(&p->attest, f->q_other_job.attest.data, f->q_other_job.attest.len);
	forge_emit(o, p);
}

/* The signed extraData rewritten to another job's binding, the evidence
 * naming that job. */
static void quote_extra_data_rewritten(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);
	uint8_t mine[32], other[32];
	uint8_t *at;

	assert_int_equal(events_binding(FX_GOOD_JOB, f->nonce, FX_NONCE_LEN, mine), 0);
	assert_int_equal(events_binding(FX_OTHER_JOB, f->nonce, FX_NONCE_LEN, other), 0);
	at = memmem(p->attest.data, p->attest.len, mine, sizeof(mine));
	assert_non_null(at);
	memcpy(at, other, sizeof(other));
	snprintf(p->job_id, sizeof(p->job_id), "%s", FX_OTHER_JOB);
	forge_emit(o, p);
}

static void quote_attest_trailing_byte(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);
	uint8_t buf[PROOF_MAX_TPM_BLOB];

	memcpy(buf, p->attest.data, p->attest.len);
	buf[p->attest.len] = 0x00;
	fx_blob_set(&p->attest, buf, p->attest.len + 1);
	forge_emit(o, p);
}

static void quote_signature_trailing_byte(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);
	uint8_t buf[PROOF_MAX_TPM_BLOB];

	memcpy(buf, p->signature.data, p->signature.len);
	buf[p->signature.len] = 0x00;
	fx_blob_set(&p->signature, buf, p->signature.len + 1);
	forge_emit(o, p);
}

/* The same r and s, claimed as an ECDSA signature with SHA-1. */
static void quote_signature_sha1(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);
	uint8_t buf[sizeof(TPMT_SIGNATURE)];
	TPMT_SIGNATURE sig = {0};
	size_t off = 0;

	assert_int_equal(
		Tss2_MU_TPMT_SIGNATURE_Unmarshal(p->signature.data, p->signature.len, &off, &sig),
		TSS2_RC_SUCCESS);
	assert_int_equal(sig.sigAlg, TPM2_ALG_ECDSA);
	sig.signature.ecdsa.hash = TPM2_ALG_SHA1;
	off = 0;
	assert_int_equal(Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, buf, sizeof(buf), &off),
			 TSS2_RC_SUCCESS);
	fx_blob_set(&p->signature, buf, off);
	forge_emit(o, p);
}

static const struct forgery cases_quote_list[] = {
	FORGERY("quote signature with one bit flipped", "quote.signature",
		quote_signature_bit_flipped),
	FORGERY("quote magic edited", "quote.magic", quote_magic_edited),
	FORGERY("quote magic edited, signed by the AK (TPM2_Sign)", "quote.magic",
		quote_magic_edited_and_signed),
	FORGERY("TPM2_Certify by the AK presented as a quote", "quote.type", quote_is_a_certify),
	FORGERY("signature of another quote", "quote.signature", quote_signature_of_another_quote),
	FORGERY("attest of another quote", "quote.signature", quote_attest_of_another_quote),
	FORGERY("extraData rewritten to another job", "quote.signature",
		quote_extra_data_rewritten),
	FORGERY("attest with a trailing byte", "proof.format", quote_attest_trailing_byte),
	FORGERY("signature with a trailing byte", "proof.format", quote_signature_trailing_byte),
	FORGERY("signature relabelled as ECDSA-SHA1", "proof.format", quote_signature_sha1),
};

const struct forgery_table cases_quote = {"quote", cases_quote_list,
					  sizeof(cases_quote_list) / sizeof(cases_quote_list[0])};

/* ---- binding to the job and nonce ------------------------------------------------------------ */

static void nonce_changed(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	p->nonce[0] ^= 0x01;
	forge_emit(o, p);
}

static void nonce_quote_of_another_job(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	fx_tpm_apply(p, &f->q_other_job);
	forge_emit(o, p);
}

/* The other job's quote, and the evidence naming that job: the binding
 * holds, but the log's job is not that one. */
static void nonce_quote_of_another_job_relabelled(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	fx_tpm_apply(p, &f->q_other_job);
	snprintf(p->job_id, sizeof(p->job_id), "%s", FX_OTHER_JOB);
	forge_emit(o, p);
}

static void nonce_verifier_chose_another(struct fx *f, struct forged *o)
{
	forge_emit(o, forge_good(f));
	assert_int_equal(RAND_bytes(o->nonce, FX_NONCE_LEN), 1);
	o->nonce_len = FX_NONCE_LEN;
}

static void nonce_verifier_chose_a_prefix(struct fx *f, struct forged *o)
{
	forge_emit(o, forge_good(f));
	memcpy(o->nonce, f->nonce, 16);
	o->nonce_len = 16;
}

static void nonce_job_id_changed(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	snprintf(p->job_id, sizeof(p->job_id), "%s", FX_OTHER_JOB);
	forge_emit(o, p);
}

static void nonce_platform_proof_claims_the_job(struct fx *f, struct forged *o)
{
	struct proof *p = forge_parse(&f->platform);

	snprintf(p->job_id, sizeof(p->job_id), "%s", FX_GOOD_JOB);
	forge_emit(o, p);
}

/* The platform proof's quote (same PCR values, bound to job "") in the job
 * proof. */
static void nonce_job_proof_with_platform_quote(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f), *plat = forge_parse(&f->platform);

	fx_blob_set(&p->attest, plat->attest.data, plat->attest.len);
	fx_blob_set(&p->signature, plat->signature.data, plat->signature.len);
	memcpy(p->pcrs, plat->pcrs, plat->n_pcrs * sizeof(plat->pcrs[0]));
	p->n_pcrs = plat->n_pcrs;
	proof_free(plat);
	forge_emit(o, p);
}

static const struct forgery cases_nonce_list[] = {
	FORGERY("evidence.nonce changed (stale nonce)", "quote.nonce", nonce_changed),
	FORGERY("quote of another job", "quote.nonce", nonce_quote_of_another_job),
	FORGERY("quote of another job, job_id relabelled", "runtime.events",
		nonce_quote_of_another_job_relabelled),
	FORGERY("verifier's nonce is another", "quote.nonce", nonce_verifier_chose_another),
	FORGERY("verifier's nonce is a prefix of the proof's", "quote.nonce",
		nonce_verifier_chose_a_prefix),
	FORGERY("evidence.job_id changed", "quote.nonce", nonce_job_id_changed),
	FORGERY("platform proof claiming the job", "quote.nonce",
		nonce_platform_proof_claims_the_job),
	FORGERY("job proof with the platform proof's quote", "quote.nonce",
		nonce_job_proof_with_platform_quote),
};

const struct forgery_table cases_nonce = {"nonce", cases_nonce_list,
					  sizeof(cases_nonce_list) / sizeof(cases_nonce_list[0])};

/* ---- PCR values ------------------------------------------------------------------------------ */

static struct proof_pcr *pcr_find(struct proof *p, uint16_t alg, uint8_t pcr)
{
	for (size_t i = 0; i < p->n_pcrs; i++)
		if (p->pcrs[i].hash_alg == alg && p->pcrs[i].pcr == pcr)
			return &p->pcrs[i];
	fail_msg("the proof has no value for PCR %u", pcr);
	return NULL;
}

static void pcr_16_relabelled_as_14(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	fx_tpm_apply(p, &f->q_pcr16);
	pcr_find(p, TPM2_ALG_SHA256, 16)->pcr = 14;
	forge_emit(o, p);
}

static void pcr_16_quoted_instead_of_14(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	fx_tpm_apply(p, &f->q_pcr16);
	forge_emit(o, p);
}

static void pcr_value_changed(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	pcr_find(p, TPM2_ALG_SHA256, 14)->digest[0] ^= 0x01;
	forge_emit(o, p);
}

static void pcr_values_swapped(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	pcr_find(p, TPM2_ALG_SHA256, 8)->pcr = 99;
	pcr_find(p, TPM2_ALG_SHA256, 14)->pcr = 8;
	pcr_find(p, TPM2_ALG_SHA256, 99)->pcr = 14;
	forge_emit(o, p);
}

static void pcr_value_missing(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);
	struct proof_pcr *v = pcr_find(p, TPM2_ALG_SHA256, 15);

	*v = p->pcrs[--p->n_pcrs];
	forge_emit(o, p);
}

static void pcr_value_not_signed(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	p->pcrs[p->n_pcrs++] =
		(struct proof_pcr){.hash_alg = TPM2_ALG_SHA256, .pcr = 16, .len = 32};
	forge_emit(o, p);
}

static void pcr_bank_not_signed(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	p->pcrs[p->n_pcrs++] =
		(struct proof_pcr){.hash_alg = TPM2_ALG_SHA384, .pcr = 14, .len = 48};
	forge_emit(o, p);
}

static void pcr_quote_without_14(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	fx_tpm_apply(p, &f->q_no14);
	forge_emit(o, p);
}

static void pcr_quote_sha1_only(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	fx_tpm_apply(p, &f->q_sha1);
	forge_emit(o, p);
}

static void pcr_policy_requires_16(struct fx *f, struct forged *o)
{
	const char *roots[] = {f->a.tpm.ek_root, NULL};
	const char *inter[] = {f->a.tpm.ek_issuer, NULL};

	uint8_t *yaml = NULL;
	size_t len = 0;
	char *at;

	forge_emit(o, forge_good(f));
	forge_policy(f, o, "pcr16", roots, inter, true, NULL);
	assert_int_equal(fileio_read_all(o->policy, 1u << 20, &yaml, &len), 0);
	at = strstr((char *)yaml, "required_pcrs: [8, 14]\n");
	assert_non_null(at);
	memcpy(at, "required_pcrs: [16, 8]\n", strlen("required_pcrs: [16, 8]\n"));
	assert_int_equal(harness_write_file(o->policy, yaml, len), 0);
	free(yaml);
}

static const struct forgery cases_pcrs_list[] = {
	FORGERY("quote over PCR 16 presented as PCR 14", "quote.pcrs", pcr_16_relabelled_as_14),
	FORGERY("quote over PCR 16 instead of PCR 14", "pcrs.required",
		pcr_16_quoted_instead_of_14),
	FORGERY("PCR 14 value changed", "quote.pcrs", pcr_value_changed),
	FORGERY("PCR 8 and 14 values swapped", "quote.pcrs", pcr_values_swapped),
	FORGERY("PCR 15 value left out", "quote.pcrs", pcr_value_missing),
	FORGERY("PCR 16 value the quote does not sign", "quote.pcrs", pcr_value_not_signed),
	FORGERY("SHA-384 value the quote does not sign", "quote.pcrs", pcr_bank_not_signed),
	FORGERY("real quote without PCR 14", "pcrs.required", pcr_quote_without_14),
	FORGERY("real quote of the SHA-1 bank only", "pcrs.required", pcr_quote_sha1_only),
	FORGERY("policy requires PCR 16, not quoted", "pcrs.required", pcr_policy_requires_16),
};

const struct forgery_table cases_pcrs = {"PCRs", cases_pcrs_list,
					 sizeof(cases_pcrs_list) / sizeof(cases_pcrs_list[0])};
