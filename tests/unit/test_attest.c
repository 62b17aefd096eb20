/* Unit tests for quotes: TPMS_ATTEST and TPMT_SIGNATURE parsing, signature
 * verification, the quote checks, PCR selections and pcrDigest.
 *
 * A synthetic TPMS_ATTEST is filled and marshalled here with tss2-mu, signed
 * with OpenSSL keys, and its TPMT_SIGNATURE made from OpenSSL's signature,
 * as a TPM would write it. pcrDigest is computed here by hand.
 *
 * With AICERT_ATTEST_WRITE_CORPUS=DIR set, the program writes the seed corpus
 * of fuzz_attest (a quote, signatures, public keys) into DIR and exits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "attest.h"
#include "err.h"
#include "tpmkey.h"

#define NPCRS 4

static EVP_PKEY *p256;
static EVP_PKEY *p256b;
static EVP_PKEY *p384;
static EVP_PKEY *rsa2048;

static const uint8_t nonce[] = {0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04,
				0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c};

/* A quote over sha256 PCRs 0, 7, 14 and sha1 PCR 8, values in selection
 * order. */
struct quote {
	TPML_PCR_SELECTION sel;
	uint8_t digests[NPCRS][64];
	struct attest_pcr_value values[NPCRS];
	TPMS_ATTEST attest;
	uint8_t msg[sizeof(TPMS_ATTEST)];
	size_t msg_len;
};

static int group_setup(void **state)
{
	p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	p256b = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	rsa2048 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	return p256 && p256b && p384 && rsa2048 ? 0 : -1;
}

static int group_teardown(void **state)
{
	EVP_PKEY_free(p256);
	EVP_PKEY_free(p256b);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(rsa2048);
	return 0;
}

static void select_pcr(TPMS_PCR_SELECTION *s, unsigned pcr)
{
	s->pcrSelect[pcr / 8] |= (uint8_t)(1u << (pcr % 8));
}

static size_t marshal_attest(const TPMS_ATTEST *a, uint8_t *buf, size_t cap)
{
	size_t off = 0;

	assert_int_equal(Tss2_MU_TPMS_ATTEST_Marshal(a, buf, cap, &off), TSS2_RC_SUCCESS);
	return off;
}

static size_t marshal_sig(const TPMT_SIGNATURE *s, uint8_t *buf, size_t cap)
{
	size_t off = 0;

	assert_int_equal(Tss2_MU_TPMT_SIGNATURE_Marshal(s, buf, cap, &off), TSS2_RC_SUCCESS);
	return off;
}

/* SHA-256 over the values' digests, in the order given: by hand. */
static void hand_digest(const struct attest_pcr_value *v, size_t n, TPM2B_DIGEST *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int len;

	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(EVP_DigestUpdate(ctx, v[i].digest, v[i].size), 1);
	assert_int_equal(EVP_DigestFinal_ex(ctx, out->buffer, &len), 1);
	out->size = (UINT16)len;
	EVP_MD_CTX_free(ctx);
}

static void make_quote(struct quote *q)
{
	static const struct {
		uint16_t bank;
		uint8_t pcr;
		size_t size;
	} pcrs[NPCRS] = {
		{TPM2_ALG_SHA256, 0, 32},
		{TPM2_ALG_SHA256, 7, 32},
		{TPM2_ALG_SHA256, 14, 32},
		{TPM2_ALG_SHA1, 8, 20},
	};
	TPMS_ATTEST *a = &q->attest;

	memset(q, 0, sizeof(*q));
	q->sel.count = 2;
	q->sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
	q->sel.pcrSelections[0].sizeofSelect = 3;
	select_pcr(&q->sel.pcrSelections[0], 14); /* bit order, not call order */
	select_pcr(&q->sel.pcrSelections[0], 0);
	select_pcr(&q->sel.pcrSelections[0], 7);
	q->sel.pcrSelections[1].hash = TPM2_ALG_SHA1;
	q->sel.pcrSelections[1].sizeofSelect = 3;
	select_pcr(&q->sel.pcrSelections[1], 8);
	for (size_t i = 0; i < NPCRS; i++) {
		memset(q->digests[i], (int)(0x10 * i + pcrs[i].pcr), pcrs[i].size);
		q->values[i] = (struct attest_pcr_value){pcrs[i].bank, pcrs[i].pcr, q->digests[i],
							 pcrs[i].size};
	}
	a->magic = TPM2_GENERATED_VALUE;
	a->type = TPM2_ST_ATTEST_QUOTE;
	a->qualifiedSigner.size = 34;
	a->qualifiedSigner.name[1] = 0x0b;
	memset(a->qualifiedSigner.name + 2, 0xaa, 32);
	a->extraData.size = sizeof(nonce);
	memcpy(a->extraData.buffer, nonce, sizeof(nonce));
	a->clockInfo.clock = 123456789;
	a->clockInfo.resetCount = 3;
	a->clockInfo.restartCount = 1;
	a->clockInfo.safe = 1;
	a->firmwareVersion = 0x2000001612345678ull;
	a->attested.quote.pcrSelect = q->sel;
	hand_digest(q->values, NPCRS, &a->attested.quote.pcrDigest);
	q->msg_len = marshal_attest(a, q->msg, sizeof(q->msg));
}

/* Signs msg as a TPM would and returns the TPMT_SIGNATURE. saltlen is used
 * for RSAPSS only. */
static void sign(EVP_PKEY *key, TPMI_ALG_SIG_SCHEME alg, TPMI_ALG_HASH hash, int saltlen,
		 const uint8_t *msg, size_t len, TPMT_SIGNATURE *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	uint8_t sig[1024];
	size_t slen = sizeof(sig);

	assert_int_equal(EVP_DigestSignInit(ctx, &pctx, tpmkey_hash_md(hash), NULL, key), 1);
	if (alg == TPM2_ALG_RSAPSS) {
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
		assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, saltlen), 1);
	}
	assert_int_equal(EVP_DigestSign(ctx, sig, &slen, msg, len), 1);
	memset(out, 0, sizeof(*out));
	out->sigAlg = alg;
	if (alg == TPM2_ALG_ECDSA) {
		const uint8_t *p = sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)slen);
		int bytes = (EVP_PKEY_get_bits(key) + 7) / 8;
		TPMS_SIGNATURE_ECDSA *ec = &out->signature.ecdsa;

		assert_non_null(es);
		ec->hash = hash;
		ec->signatureR.size = ec->signatureS.size = (UINT16)bytes;
		BN_bn2binpad(ECDSA_SIG_get0_r(es), ec->signatureR.buffer, bytes);
		BN_bn2binpad(ECDSA_SIG_get0_s(es), ec->signatureS.buffer, bytes);
		ECDSA_SIG_free(es);
	} else {
		out->signature.rsassa.hash = hash;
		out->signature.rsassa.sig.size = (UINT16)slen;
		memcpy(out->signature.rsassa.sig.buffer, sig, slen);
	}
	EVP_MD_CTX_free(ctx);
}

static void attest_parses_quote_fields(void **state)
{
	struct quote q;
	TPMS_ATTEST a;

	make_quote(&q);
	assert_int_equal(attest_parse(q.msg, q.msg_len, &a), 0);
	assert_int_equal(a.magic, TPM2_GENERATED_VALUE);
	assert_int_equal(a.type, TPM2_ST_ATTEST_QUOTE);
	assert_int_equal(a.qualifiedSigner.size, 34);
	assert_memory_equal(a.extraData.buffer, nonce, sizeof(nonce));
	assert_int_equal(a.clockInfo.resetCount, 3);
	assert_int_equal(a.clockInfo.restartCount, 1);
	assert_true(a.firmwareVersion == 0x2000001612345678ull);
	assert_int_equal(a.attested.quote.pcrSelect.count, 2);
	assert_memory_equal(&a.attested.quote.pcrDigest, &q.attest.attested.quote.pcrDigest,
			    sizeof(TPM2B_DIGEST));
	assert_int_equal(attest_check_quote(&a, nonce, sizeof(nonce)), 0);
	assert_int_equal(attest_check_pcrs(&a, TPM2_ALG_SHA256, q.values, NPCRS), 0);
}

/* Signs q's message, checks that it verifies from the marshalled signature,
 * and that a flipped bit in the message or the signature does not. */
static void check_scheme(EVP_PKEY *key, TPMI_ALG_SIG_SCHEME alg, TPMI_ALG_HASH hash, int saltlen)
{
	uint8_t buf[1024];
	TPMT_SIGNATURE sig, parsed;
	struct quote q;
	size_t len;

	make_quote(&q);
	sign(key, alg, hash, saltlen, q.msg, q.msg_len, &sig);
	len = marshal_sig(&sig, buf, sizeof(buf));
	assert_int_equal(attest_parse_signature(buf, len, &parsed), 0);
	assert_int_equal(attest_signature_hash(&parsed), hash);
	assert_int_equal(attest_verify_signature(q.msg, q.msg_len, &parsed, key), 0);

	q.msg[q.msg_len / 2] ^= 0x01;
	assert_int_equal(attest_verify_signature(q.msg, q.msg_len, &parsed, key),
			 AICERT_ERR_REJECTED);
	q.msg[q.msg_len / 2] ^= 0x01;

	buf[len - 3] ^= 0x80; /* inside the RSA signature, or ECDSA s */
	assert_int_equal(attest_parse_signature(buf, len, &parsed), 0);
	assert_int_equal(attest_verify_signature(q.msg, q.msg_len, &parsed, key),
			 AICERT_ERR_REJECTED);
}

static void attest_verifies_ecdsa_p256_sha256(void **state)
{
	check_scheme(p256, TPM2_ALG_ECDSA, TPM2_ALG_SHA256, 0);
}

static void attest_verifies_ecdsa_p384_sha384(void **state)
{
	check_scheme(p384, TPM2_ALG_ECDSA, TPM2_ALG_SHA384, 0);
}

static void attest_verifies_rsassa_sha256_and_sha384(void **state)
{
	check_scheme(rsa2048, TPM2_ALG_RSASSA, TPM2_ALG_SHA256, 0);
	check_scheme(rsa2048, TPM2_ALG_RSASSA, TPM2_ALG_SHA384, 0);
}

static void attest_verifies_rsapss_with_any_salt_length(void **state)
{
	check_scheme(rsa2048, TPM2_ALG_RSAPSS, TPM2_ALG_SHA256, RSA_PSS_SALTLEN_DIGEST);
	check_scheme(rsa2048, TPM2_ALG_RSAPSS, TPM2_ALG_SHA256, RSA_PSS_SALTLEN_MAX);
}

static void attest_verify_rejects_wrong_key(void **state)
{
	TPMT_SIGNATURE sig;
	struct quote q;

	make_quote(&q);
	sign(p256, TPM2_ALG_ECDSA, TPM2_ALG_SHA256, 0, q.msg, q.msg_len, &sig);
	assert_int_equal(attest_verify_signature(q.msg, q.msg_len, &sig, p256b),
			 AICERT_ERR_REJECTED);
	assert_int_equal(attest_verify_signature(q.msg, q.msg_len, &sig, rsa2048),
			 AICERT_ERR_REJECTED);
	sign(rsa2048, TPM2_ALG_RSASSA, TPM2_ALG_SHA256, 0, q.msg, q.msg_len, &sig);
	assert_int_equal(attest_verify_signature(q.msg, q.msg_len, &sig, p256),
			 AICERT_ERR_REJECTED);
	/* RSASSA and RSAPSS are not interchangeable. */
	sig.sigAlg = TPM2_ALG_RSAPSS;
	assert_int_equal(attest_verify_signature(q.msg, q.msg_len, &sig, rsa2048),
			 AICERT_ERR_REJECTED);
}

static void attest_verify_rejects_sizes_that_do_not_fit_the_key(void **state)
{
	TPMT_SIGNATURE sig;
	struct quote q;

	make_quote(&q);
	sign(p256, TPM2_ALG_ECDSA, TPM2_ALG_SHA256, 0, q.msg, q.msg_len, &sig);
	sig.signature.ecdsa.signatureR.size = 33;
	assert_int_equal(attest_verify_signature(q.msg, q.msg_len, &sig, p256),
			 AICERT_ERR_REJECTED);
	sign(rsa2048, TPM2_ALG_RSASSA, TPM2_ALG_SHA256, 0, q.msg, q.msg_len, &sig);
	sig.signature.rsassa.sig.size = 255;
	assert_int_equal(attest_verify_signature(q.msg, q.msg_len, &sig, rsa2048),
			 AICERT_ERR_REJECTED);
}

static void attest_never_accepts_sha1_signatures(void **state)
{
	uint8_t buf[1024];
	TPMT_SIGNATURE sig, parsed;
	struct quote q;
	size_t len;

	/* A genuine SHA-1 signature by the right key. */
	make_quote(&q);
	sign(rsa2048, TPM2_ALG_RSASSA, TPM2_ALG_SHA1, 0, q.msg, q.msg_len, &sig);
	len = marshal_sig(&sig, buf, sizeof(buf));
	assert_int_equal(attest_parse_signature(buf, len, &parsed), AICERT_ERR_REJECTED);
	assert_non_null(strstr(err_msg(AICERT_ERR_REJECTED), "sha1"));
	assert_int_equal(attest_verify_signature(q.msg, q.msg_len, &sig, rsa2048),
			 AICERT_ERR_REJECTED);
	sign(p256, TPM2_ALG_ECDSA, TPM2_ALG_SHA1, 0, q.msg, q.msg_len, &sig);
	len = marshal_sig(&sig, buf, sizeof(buf));
	assert_int_equal(attest_parse_signature(buf, len, &parsed), AICERT_ERR_REJECTED);
	assert_int_equal(attest_verify_signature(q.msg, q.msg_len, &sig, p256),
			 AICERT_ERR_REJECTED);
}

static int parse_sig_as(TPMI_ALG_SIG_SCHEME alg, TPMI_ALG_HASH hash)
{
	uint8_t buf[1024];
	TPMT_SIGNATURE sig, parsed;
	size_t len;

	memset(&sig, 0, sizeof(sig));
	sig.sigAlg = alg;
	sig.signature.ecdsa.hash = hash; /* same place for every scheme */
	sig.signature.ecdsa.signatureR.size = 32;
	sig.signature.ecdsa.signatureS.size = 32;
	if (alg == TPM2_ALG_RSASSA)
		sig.signature.rsassa.sig.size = 256;
	if (alg == TPM2_ALG_HMAC)
		sig.signature.hmac.hashAlg = hash;
	len = marshal_sig(&sig, buf, sizeof(buf));
	return attest_parse_signature(buf, len, &parsed);
}

static void attest_signature_rejects_other_algorithms(void **state)
{
	uint8_t null_sig[] = {0x00, 0x10};
	TPMT_SIGNATURE parsed;

	assert_int_equal(parse_sig_as(TPM2_ALG_ECDSA, TPM2_ALG_SHA256), 0);
	assert_int_equal(parse_sig_as(TPM2_ALG_ECDSA, TPM2_ALG_SHA512), AICERT_ERR_UNSUPPORTED);
	assert_int_equal(parse_sig_as(TPM2_ALG_RSASSA, TPM2_ALG_SHA512), AICERT_ERR_UNSUPPORTED);
	assert_int_equal(parse_sig_as(TPM2_ALG_ECSCHNORR, TPM2_ALG_SHA256), AICERT_ERR_UNSUPPORTED);
	assert_int_equal(parse_sig_as(TPM2_ALG_SM2, TPM2_ALG_SHA256), AICERT_ERR_UNSUPPORTED);
	assert_int_equal(parse_sig_as(TPM2_ALG_HMAC, TPM2_ALG_SHA256), AICERT_ERR_UNSUPPORTED);
	assert_int_equal(attest_parse_signature(null_sig, sizeof(null_sig), &parsed),
			 AICERT_ERR_INVALID);
}

static void attest_signature_rejects_truncation_and_trailing_bytes(void **state)
{
	uint8_t buf[1024];
	TPMT_SIGNATURE sig, parsed;
	struct quote q;
	size_t len;

	make_quote(&q);
	sign(p256, TPM2_ALG_ECDSA, TPM2_ALG_SHA256, 0, q.msg, q.msg_len, &sig);
	len = marshal_sig(&sig, buf, sizeof(buf));
	for (size_t i = 0; i < len; i++)
		assert_int_equal(attest_parse_signature(buf, i, &parsed), AICERT_ERR_INVALID);
	buf[len] = 0;
	assert_int_equal(attest_parse_signature(buf, len + 1, &parsed), AICERT_ERR_INVALID);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(attest_parse_signature(buf, sizeof(buf), &parsed), AICERT_ERR_TOO_BIG);
}

static void attest_parse_rejects_truncation_and_trailing_bytes(void **state)
{
	static uint8_t big[sizeof(TPMS_ATTEST) + 1];
	struct quote q;
	TPMS_ATTEST a;

	make_quote(&q);
	for (size_t i = 0; i < q.msg_len; i++)
		assert_int_equal(attest_parse(q.msg, i, &a), AICERT_ERR_INVALID);
	q.msg[q.msg_len] = 0;
	assert_int_equal(attest_parse(q.msg, q.msg_len + 1, &a), AICERT_ERR_INVALID);
	assert_non_null(strstr(err_msg(AICERT_ERR_INVALID), "trailing"));
	assert_int_equal(attest_parse(big, sizeof(big), &a), AICERT_ERR_TOO_BIG);
}

static void attest_parse_rejects_bad_quote_selection(void **state)
{
	struct quote q;
	TPMS_ATTEST a;

	make_quote(&q);
	q.attest.attested.quote.pcrSelect.pcrSelections[1].hash = TPM2_ALG_SHA256;
	q.msg_len = marshal_attest(&q.attest, q.msg, sizeof(q.msg));
	assert_int_equal(attest_parse(q.msg, q.msg_len, &a), AICERT_ERR_INVALID);
	assert_non_null(strstr(err_msg(AICERT_ERR_INVALID), "pcrSelect"));

	q.attest.attested.quote.pcrSelect.pcrSelections[1].hash = TPM2_ALG_SM3_256;
	q.msg_len = marshal_attest(&q.attest, q.msg, sizeof(q.msg));
	assert_int_equal(attest_parse(q.msg, q.msg_len, &a), AICERT_ERR_UNSUPPORTED);
}

static void attest_parse_rejects_non_attestation_type(void **state)
{
	struct quote q;
	TPMS_ATTEST a;

	make_quote(&q);
	q.attest.type = TPM2_ALG_NULL; /* tss2-mu accepts it, with nothing attested */
	q.msg_len = marshal_attest(&q.attest, q.msg, sizeof(q.msg));
	assert_int_equal(attest_parse(q.msg, q.msg_len, &a), AICERT_ERR_INVALID);
}

static void attest_check_quote_rejects_magic_type_and_extra_data(void **state)
{
	uint8_t other[sizeof(nonce)];
	struct quote q;
	TPMS_ATTEST a;

	make_quote(&q);
	a = q.attest;
	assert_int_equal(attest_check_quote(&a, nonce, sizeof(nonce)), 0);
	a.magic = 0xff544348;
	assert_int_equal(attest_check_quote(&a, nonce, sizeof(nonce)), AICERT_ERR_REJECTED);
	assert_non_null(strstr(err_msg(AICERT_ERR_REJECTED), "magic"));
	a = q.attest;
	a.type = TPM2_ST_ATTEST_CERTIFY;
	assert_int_equal(attest_check_quote(&a, nonce, sizeof(nonce)), AICERT_ERR_REJECTED);
	assert_non_null(strstr(err_msg(AICERT_ERR_REJECTED), "type"));
	a = q.attest;
	memcpy(other, nonce, sizeof(nonce));
	other[5] ^= 1;
	assert_int_equal(attest_check_quote(&a, other, sizeof(other)), AICERT_ERR_REJECTED);
	assert_non_null(strstr(err_msg(AICERT_ERR_REJECTED), "extraData is deadbeef"));
	assert_int_equal(attest_check_quote(&a, nonce, sizeof(nonce) - 1), AICERT_ERR_REJECTED);
	assert_int_equal(attest_check_quote(&a, NULL, 0), AICERT_ERR_REJECTED);
}

static void attest_selection_lists_in_tpm_order(void **state)
{
	struct attest_pcr_ref refs[ATTEST_MAX_PCRS];
	TPML_PCR_SELECTION sel;
	size_t n;

	memset(&sel, 0, sizeof(sel));
	sel.count = 3;
	sel.pcrSelections[0].hash = TPM2_ALG_SHA384;
	sel.pcrSelections[0].sizeofSelect = 3;
	select_pcr(&sel.pcrSelections[0], 8);
	select_pcr(&sel.pcrSelections[0], 1);
	sel.pcrSelections[1].hash = TPM2_ALG_SHA256; /* empty bank */
	sel.pcrSelections[2].hash = TPM2_ALG_SHA1;
	sel.pcrSelections[2].sizeofSelect = 4;
	select_pcr(&sel.pcrSelections[2], 31);
	select_pcr(&sel.pcrSelections[2], 0);
	select_pcr(&sel.pcrSelections[2], 23);
	assert_int_equal(attest_selection_list(&sel, refs, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(refs[0].hash_alg, TPM2_ALG_SHA384);
	assert_int_equal(refs[0].pcr, 1);
	assert_int_equal(refs[1].hash_alg, TPM2_ALG_SHA384);
	assert_int_equal(refs[1].pcr, 8);
	assert_int_equal(refs[2].hash_alg, TPM2_ALG_SHA1);
	assert_int_equal(refs[2].pcr, 0);
	assert_int_equal(refs[3].pcr, 23);
	assert_int_equal(refs[4].pcr, 31);
}

static void attest_selection_rejects_bad_banks(void **state)
{
	struct attest_pcr_ref refs[ATTEST_MAX_PCRS];
	TPML_PCR_SELECTION sel;
	size_t n;

	memset(&sel, 0, sizeof(sel));
	sel.count = 2;
	sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel.pcrSelections[1].hash = TPM2_ALG_SHA256;
	assert_int_equal(attest_selection_list(&sel, refs, &n), AICERT_ERR_INVALID);
	sel.pcrSelections[1].hash = TPM2_ALG_SM3_256;
	assert_int_equal(attest_selection_list(&sel, refs, &n), AICERT_ERR_UNSUPPORTED);
	sel.pcrSelections[1].hash = TPM2_ALG_SHA512;
	sel.pcrSelections[1].sizeofSelect = 5;
	assert_int_equal(attest_selection_list(&sel, refs, &n), AICERT_ERR_INVALID);
	sel.pcrSelections[1].sizeofSelect = 4;
	assert_int_equal(attest_selection_list(&sel, refs, &n), 0);
	sel.count = TPM2_NUM_PCR_BANKS + 1;
	assert_int_equal(attest_selection_list(&sel, refs, &n), AICERT_ERR_INVALID);
}

static void attest_pcr_digest_hashes_values_in_order(void **state)
{
	struct quote q;
	TPM2B_DIGEST d, want;

	make_quote(&q);
	assert_int_equal(attest_pcr_digest(TPM2_ALG_SHA256, q.values, NPCRS, &d), 0);
	hand_digest(q.values, NPCRS, &want);
	assert_int_equal(d.size, 32);
	assert_memory_equal(d.buffer, want.buffer, 32);
	assert_int_equal(attest_pcr_digest(TPM2_ALG_SHA384, q.values, NPCRS, &d), 0);
	assert_int_equal(d.size, 48);
	assert_int_equal(attest_pcr_digest(TPM2_ALG_SHA1, q.values, NPCRS, &d),
			 AICERT_ERR_UNSUPPORTED);
}

static void attest_check_pcrs_accepts_values_in_any_order(void **state)
{
	struct attest_pcr_value shuffled[NPCRS];
	struct attest_pcr_value ordered[NPCRS];
	struct quote q;

	make_quote(&q);
	shuffled[0] = q.values[3];
	shuffled[1] = q.values[1];
	shuffled[2] = q.values[0];
	shuffled[3] = q.values[2];
	assert_int_equal(attest_check_pcrs(&q.attest, TPM2_ALG_SHA256, shuffled, NPCRS), 0);
	assert_int_equal(attest_order_pcrs(&q.sel, shuffled, NPCRS, ordered), 0);
	for (size_t i = 0; i < NPCRS; i++) {
		assert_int_equal(ordered[i].hash_alg, q.values[i].hash_alg);
		assert_int_equal(ordered[i].pcr, q.values[i].pcr);
		assert_ptr_equal(ordered[i].digest, q.values[i].digest);
	}
}

static int check_modified(struct quote *q, size_t i, uint32_t bank, uint32_t pcr, size_t size)
{
	struct attest_pcr_value v[NPCRS];

	memcpy(v, q->values, sizeof(q->values));
	v[i].hash_alg = bank;
	v[i].pcr = pcr;
	v[i].size = size;
	return attest_check_pcrs(&q->attest, TPM2_ALG_SHA256, v, NPCRS);
}

static void attest_check_pcrs_rejects_other_pcr_sets(void **state)
{
	struct attest_pcr_value v[NPCRS + 1];
	struct quote q;

	make_quote(&q);
	/* Relabelled: PCR 7's value presented as PCR 8 of the same bank. */
	assert_int_equal(check_modified(&q, 1, TPM2_ALG_SHA256, 8, 32), AICERT_ERR_REJECTED);
	assert_non_null(strstr(err_msg(AICERT_ERR_REJECTED), "PCR 7 of bank sha256"));
	/* Moved to another bank. */
	assert_int_equal(check_modified(&q, 3, TPM2_ALG_SHA256, 8, 20), AICERT_ERR_REJECTED);
	/* Truncated above 32 bits by a careless filler: must not wrap. */
	assert_int_equal(check_modified(&q, 0, TPM2_ALG_SHA256 + 0x10000, 0, 32),
			 AICERT_ERR_REJECTED);
	assert_int_equal(check_modified(&q, 0, TPM2_ALG_SHA256, 256, 32), AICERT_ERR_REJECTED);
	/* Wrong size for the bank. */
	assert_int_equal(check_modified(&q, 3, TPM2_ALG_SHA1, 8, 32), AICERT_ERR_REJECTED);

	memcpy(v, q.values, sizeof(q.values));
	/* Missing. */
	assert_int_equal(attest_check_pcrs(&q.attest, TPM2_ALG_SHA256, v, NPCRS - 1),
			 AICERT_ERR_REJECTED);
	assert_non_null(strstr(err_msg(AICERT_ERR_REJECTED), "PCR 8 of bank sha1"));
	/* Extra. */
	v[NPCRS] = (struct attest_pcr_value){TPM2_ALG_SHA256, 9, q.digests[0], 32};
	assert_int_equal(attest_check_pcrs(&q.attest, TPM2_ALG_SHA256, v, NPCRS + 1),
			 AICERT_ERR_REJECTED);
	assert_non_null(strstr(err_msg(AICERT_ERR_REJECTED), "PCR 9"));
	/* Twice. */
	v[NPCRS] = v[2];
	assert_int_equal(attest_check_pcrs(&q.attest, TPM2_ALG_SHA256, v, NPCRS + 1),
			 AICERT_ERR_REJECTED);
	assert_non_null(strstr(err_msg(AICERT_ERR_REJECTED), "more than one"));
}

static void attest_check_pcrs_rejects_other_values(void **state)
{
	struct quote q;
	TPMS_ATTEST a;

	make_quote(&q);
	q.digests[2][5] ^= 1;
	assert_int_equal(attest_check_pcrs(&q.attest, TPM2_ALG_SHA256, q.values, NPCRS),
			 AICERT_ERR_REJECTED);
	assert_non_null(strstr(err_msg(AICERT_ERR_REJECTED), "pcrDigest"));
	q.digests[2][5] ^= 1;
	/* The digest is made with the signature's hash, not any other. */
	assert_int_equal(attest_check_pcrs(&q.attest, TPM2_ALG_SHA384, q.values, NPCRS),
			 AICERT_ERR_REJECTED);
	a = q.attest;
	a.type = TPM2_ST_ATTEST_CERTIFY;
	assert_int_equal(attest_check_pcrs(&a, TPM2_ALG_SHA256, q.values, NPCRS),
			 AICERT_ERR_REJECTED);
}

static void write_seed(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len) {
		perror(path);
		exit(1);
	}
	fclose(f);
}

/* The fuzzer's seeds: valid structures of each kind it parses. */
static int write_corpus(const char *dir)
{
	uint8_t buf[1024];
	TPMT_SIGNATURE sig;
	TPMT_PUBLIC pub;
	struct quote q;
	size_t len;

	if (group_setup(NULL) < 0)
		return 1;
	make_quote(&q);
	write_seed(dir, "quote", q.msg, q.msg_len);
	sign(p256, TPM2_ALG_ECDSA, TPM2_ALG_SHA256, 0, q.msg, q.msg_len, &sig);
	write_seed(dir, "sig-ecdsa", buf, marshal_sig(&sig, buf, sizeof(buf)));
	sign(rsa2048, TPM2_ALG_RSAPSS, TPM2_ALG_SHA384, RSA_PSS_SALTLEN_DIGEST, q.msg, q.msg_len,
	     &sig);
	write_seed(dir, "sig-rsapss", buf, marshal_sig(&sig, buf, sizeof(buf)));
	tpmkey_from_evp(p256, TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_RESTRICTED, &pub);
	tpmkey_marshal_public(&pub, buf, sizeof(buf), &len);
	write_seed(dir, "public-p256", buf, len);
	tpmkey_from_evp(rsa2048, TPMA_OBJECT_DECRYPT, &pub);
	tpmkey_marshal_public(&pub, buf, sizeof(buf), &len);
	write_seed(dir, "public-rsa", buf, len);
	group_teardown(NULL);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(attest_parses_quote_fields),
		cmocka_unit_test(attest_verifies_ecdsa_p256_sha256),
		cmocka_unit_test(attest_verifies_ecdsa_p384_sha384),
		cmocka_unit_test(attest_verifies_rsassa_sha256_and_sha384),
		cmocka_unit_test(attest_verifies_rsapss_with_any_salt_length),
		cmocka_unit_test(attest_verify_rejects_wrong_key),
		cmocka_unit_test(attest_verify_rejects_sizes_that_do_not_fit_the_key),
		cmocka_unit_test(attest_never_accepts_sha1_signatures),
		cmocka_unit_test(attest_signature_rejects_other_algorithms),
		cmocka_unit_test(attest_signature_rejects_truncation_and_trailing_bytes),
		cmocka_unit_test(attest_parse_rejects_truncation_and_trailing_bytes),
		cmocka_unit_test(attest_parse_rejects_bad_quote_selection),
		cmocka_unit_test(attest_parse_rejects_non_attestation_type),
		cmocka_unit_test(attest_check_quote_rejects_magic_type_and_extra_data),
		cmocka_unit_test(attest_selection_lists_in_tpm_order),
		cmocka_unit_test(attest_selection_rejects_bad_banks),
		cmocka_unit_test(attest_pcr_digest_hashes_values_in_order),
		cmocka_unit_test(attest_check_pcrs_accepts_values_in_any_order),
		cmocka_unit_test(attest_check_pcrs_rejects_other_pcr_sets),
		cmocka_unit_test(attest_check_pcrs_rejects_other_values),
	};
	const char *corpus = getenv("AICERT_ATTEST_WRITE_CORPUS");

	/* tss2-mu logs every malformed input it meets. */
	setenv("TSS2_LOG", "all+NONE", 1);
	if (corpus)
		return write_corpus(corpus);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
