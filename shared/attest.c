#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "attest.h"
#include "err.h"
#include "hex.h"
#include "tpmkey.h"

/* The largest marshalled TPMT_SIGNATURE: sigAlg, hash, an RSA signature of
 * TPM2_MAX_RSA_KEY_BYTES with its size. */
#define ATTEST_SIG_MAX (2 + 2 + 2 + TPM2_MAX_RSA_KEY_BYTES)

int attest_parse(const uint8_t *buf, size_t len, TPMS_ATTEST *out)
{
	struct attest_pcr_ref refs[ATTEST_MAX_PCRS];
	TPMS_ATTEST a;
	size_t off = 0;
	size_t n;
	TSS2_RC rc;
	int r;

	/* TPM2B_ATTEST holds at most sizeof(TPMS_ATTEST) bytes. */
	if (len > sizeof(TPMS_ATTEST))
		return err_set(AICERT_ERR_TOO_BIG, "TPMS_ATTEST of %zu bytes, at most %zu allowed",
			       len, sizeof(TPMS_ATTEST));
	memset(&a, 0, sizeof(a));
	rc = Tss2_MU_TPMS_ATTEST_Unmarshal(buf, len, &off, &a);
	if (rc != TSS2_RC_SUCCESS)
		return err_set(AICERT_ERR_INVALID, "TPMS_ATTEST of %zu bytes: %s", len,
			       tpmkey_mu_reason(rc));
	if (off != len)
		return err_set(AICERT_ERR_INVALID,
			       "TPMS_ATTEST: %zu trailing bytes after offset %zu", len - off, off);
	/* TPM_ALG_NULL selects no member of TPMU_ATTEST, so tss2-mu takes it. */
	if (a.type < TPM2_ST_ATTEST_NV || a.type > TPM2_ST_ATTEST_CREATION)
		return err_set(AICERT_ERR_INVALID,
			       "TPMS_ATTEST.type 0x%04x is not an attestation type", a.type);
	if (a.type == TPM2_ST_ATTEST_QUOTE) {
		r = attest_selection_list(&a.attested.quote.pcrSelect, refs, &n);
		if (r < 0)
			return err_wrap(r, "TPMS_ATTEST.attested.quote.pcrSelect");
	}
	*out = a;
	return 0;
}

static int check_hash(const char *what, TPMI_ALG_HASH hash)
{
	if (hash == TPM2_ALG_SHA256 || hash == TPM2_ALG_SHA384)
		return 0;
	if (hash == TPM2_ALG_SHA1)
		return err_set(AICERT_ERR_REJECTED, "%s uses sha1, which is never accepted", what);
	return err_set(AICERT_ERR_UNSUPPORTED,
		       "%s uses hash 0x%04x (%s), expected sha256 or sha384", what, hash,
		       tpmkey_hash_name(hash));
}

/* What attest_parse_signature() accepts, on a struct. */
static int check_signature(const TPMT_SIGNATURE *sig)
{
	const TPMS_SIGNATURE_ECDSA *ec = &sig->signature.ecdsa;

	switch (sig->sigAlg) {
	case TPM2_ALG_RSASSA:
	case TPM2_ALG_RSAPSS:
		/* rsassa and rsapss share one layout. */
		if (sig->signature.rsassa.sig.size == 0)
			return err_set(AICERT_ERR_INVALID, "TPMT_SIGNATURE: empty RSA signature");
		return check_hash("TPMT_SIGNATURE", sig->signature.rsassa.hash);
	case TPM2_ALG_ECDSA:
		if (ec->signatureR.size == 0 || ec->signatureS.size == 0)
			return err_set(AICERT_ERR_INVALID, "TPMT_SIGNATURE: empty ECDSA r or s");
		return check_hash("TPMT_SIGNATURE", ec->hash);
	case TPM2_ALG_NULL:
		return err_set(AICERT_ERR_INVALID, "TPMT_SIGNATURE: sigAlg is TPM_ALG_NULL");
	default:
		return err_set(AICERT_ERR_UNSUPPORTED,
			       "TPMT_SIGNATURE: sigAlg 0x%04x, expected RSASSA, RSAPSS or ECDSA",
			       sig->sigAlg);
	}
}

int attest_parse_signature(const uint8_t *buf, size_t len, TPMT_SIGNATURE *out)
{
	TPMT_SIGNATURE sig;
	size_t off = 0;
	TSS2_RC rc;
	int r;

	if (len > ATTEST_SIG_MAX)
		return err_set(AICERT_ERR_TOO_BIG,
			       "TPMT_SIGNATURE of %zu bytes, at most %d allowed", len,
			       ATTEST_SIG_MAX);
	memset(&sig, 0, sizeof(sig));
	rc = Tss2_MU_TPMT_SIGNATURE_Unmarshal(buf, len, &off, &sig);
	if (rc != TSS2_RC_SUCCESS)
		return err_set(AICERT_ERR_INVALID, "TPMT_SIGNATURE of %zu bytes: %s", len,
			       tpmkey_mu_reason(rc));
	if (off != len)
		return err_set(AICERT_ERR_INVALID,
			       "TPMT_SIGNATURE: %zu trailing bytes after offset %zu", len - off,
			       off);
	r = check_signature(&sig);
	if (r < 0)
		return r;
	*out = sig;
	return 0;
}

TPMI_ALG_HASH attest_signature_hash(const TPMT_SIGNATURE *sig)
{
	return sig->signature.any.hashAlg;
}

/* Verifies a signature in OpenSSL's encoding over msg. pad is 0 for ECDSA. */
static int verify_encoded(const uint8_t *msg, size_t msg_len, TPMI_ALG_HASH hash, int pad,
			  const uint8_t *sig, size_t sig_len, EVP_PKEY *key)
{
	EVP_MD_CTX *mdctx = NULL;
	EVP_PKEY_CTX *pctx = NULL; /* owned by mdctx */
	int r;

	mdctx = EVP_MD_CTX_new();
	if (!mdctx || EVP_DigestVerifyInit(mdctx, &pctx, tpmkey_hash_md(hash), NULL, key) != 1 ||
	    (pad && EVP_PKEY_CTX_set_rsa_padding(pctx, pad) <= 0) ||
	    (pad == RSA_PKCS1_PSS_PADDING &&
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) <= 0)) {
		r = tpmkey_err_openssl(AICERT_ERR_CRYPTO,
				       "setting up signature verification failed");
		goto out;
	}
	if (EVP_DigestVerify(mdctx, sig, sig_len, msg, msg_len) != 1) {
		r = tpmkey_err_openssl(AICERT_ERR_REJECTED,
				       "the %s signature does not verify with the given %s key",
				       tpmkey_hash_name(hash), EVP_PKEY_get0_type_name(key));
		goto out;
	}
	r = 0;
out:
	EVP_MD_CTX_free(mdctx);
	return r;
}

static int verify_rsa(const uint8_t *msg, size_t msg_len, const TPMT_SIGNATURE *sig, EVP_PKEY *key)
{
	const TPMS_SIGNATURE_RSA *rsa = &sig->signature.rsassa;
	int pad = sig->sigAlg == TPM2_ALG_RSAPSS ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING;

	if (!EVP_PKEY_is_a(key, "RSA"))
		return err_set(AICERT_ERR_REJECTED, "RSA signature but the given key is %s",
			       EVP_PKEY_get0_type_name(key));
	if (EVP_PKEY_get_size(key) != rsa->sig.size)
		return err_set(AICERT_ERR_REJECTED,
			       "RSA signature of %u bytes, the given key's modulus has %d",
			       rsa->sig.size, EVP_PKEY_get_size(key));
	return verify_encoded(msg, msg_len, rsa->hash, pad, rsa->sig.buffer, rsa->sig.size, key);
}

static int verify_ecdsa(const uint8_t *msg, size_t msg_len, const TPMT_SIGNATURE *sig,
			EVP_PKEY *key)
{
	const TPMS_SIGNATURE_ECDSA *ec = &sig->signature.ecdsa;
	ECDSA_SIG *es = NULL;
	BIGNUM *br = NULL;
	BIGNUM *bs = NULL;
	uint8_t *der = NULL;
	size_t bytes;
	int der_len, r;

	if (!EVP_PKEY_is_a(key, "EC"))
		return err_set(AICERT_ERR_REJECTED, "ECDSA signature but the given key is %s",
			       EVP_PKEY_get0_type_name(key));
	bytes = ((size_t)EVP_PKEY_get_bits(key) + 7) / 8;
	if (ec->signatureR.size > bytes || ec->signatureS.size > bytes)
		return err_set(AICERT_ERR_REJECTED,
			       "ECDSA r and s of %u and %u bytes, the given key's curve has %zu",
			       ec->signatureR.size, ec->signatureS.size, bytes);
	es = ECDSA_SIG_new();
	br = BN_bin2bn(ec->signatureR.buffer, ec->signatureR.size, NULL);
	bs = BN_bin2bn(ec->signatureS.buffer, ec->signatureS.size, NULL);
	if (!es || !br || !bs || ECDSA_SIG_set0(es, br, bs) != 1) {
		r = tpmkey_err_openssl(AICERT_ERR_CRYPTO, "building an ECDSA_SIG failed");
		goto out;
	}
	br = bs = NULL; /* owned by es now */
	der_len = i2d_ECDSA_SIG(es, &der);
	if (der_len <= 0) {
		r = tpmkey_err_openssl(AICERT_ERR_CRYPTO, "encoding an ECDSA_SIG failed");
		goto out;
	}
	r = verify_encoded(msg, msg_len, ec->hash, 0, der, (size_t)der_len, key);
out:
	OPENSSL_free(der);
	BN_free(bs);
	BN_free(br);
	ECDSA_SIG_free(es);
	return r;
}

int attest_verify_signature(const uint8_t *msg, size_t msg_len, const TPMT_SIGNATURE *sig,
			    EVP_PKEY *key)
{
	int r;

	r = check_signature(sig);
	if (r < 0)
		return r;
	if (sig->sigAlg == TPM2_ALG_ECDSA)
		return verify_ecdsa(msg, msg_len, sig, key);
	return verify_rsa(msg, msg_len, sig, key);
}

/* A TPM2B's size, bounded by its buffer, for a struct not from attest_parse(). */
static size_t clamp(size_t size, size_t cap)
{
	return size < cap ? size : cap;
}

int attest_check_quote(const TPMS_ATTEST *a, const uint8_t *extra, size_t extra_len)
{
	char got[2 * sizeof(a->extraData.buffer) + 1];
	char want[2 * sizeof(a->extraData.buffer) + 1];

	if (a->magic != TPM2_GENERATED_VALUE)
		return err_set(AICERT_ERR_REJECTED,
			       "TPMS_ATTEST.magic is 0x%08x, expected TPM_GENERATED_VALUE (0x%08x)",
			       a->magic, TPM2_GENERATED_VALUE);
	if (a->type != TPM2_ST_ATTEST_QUOTE)
		return err_set(AICERT_ERR_REJECTED,
			       "TPMS_ATTEST.type is 0x%04x, expected TPM_ST_ATTEST_QUOTE (0x%04x)",
			       a->type, TPM2_ST_ATTEST_QUOTE);
	if (a->extraData.size == extra_len &&
	    CRYPTO_memcmp(a->extraData.buffer, extra, extra_len) == 0)
		return 0;
	hex_encode(a->extraData.buffer, clamp(a->extraData.size, sizeof(a->extraData.buffer)), got);
	if (extra_len <= sizeof(a->extraData.buffer))
		hex_encode(extra, extra_len, want);
	else
		snprintf(want, sizeof(want), "(%zu bytes)", extra_len);
	return err_set(AICERT_ERR_REJECTED, "TPMS_ATTEST.extraData is %s, expected %s", got, want);
}

/* Appends the PCRs of one bank in ascending order. */
static size_t selection_add(const TPMS_PCR_SELECTION *s, struct attest_pcr_ref *out, size_t k)
{
	for (unsigned pcr = 0; pcr < 8u * s->sizeofSelect; pcr++)
		if (s->pcrSelect[pcr / 8] & (1u << (pcr % 8))) {
			out[k].hash_alg = s->hash;
			out[k].pcr = (uint8_t)pcr;
			k++;
		}
	return k;
}

int attest_selection_list(const TPML_PCR_SELECTION *sel, struct attest_pcr_ref *out, size_t *n)
{
	struct attest_pcr_ref refs[ATTEST_MAX_PCRS];
	size_t k = 0;

	if (sel->count > TPM2_NUM_PCR_BANKS)
		return err_set(AICERT_ERR_INVALID, "PCR selection of %u banks, at most %d allowed",
			       sel->count, TPM2_NUM_PCR_BANKS);
	for (uint32_t i = 0; i < sel->count; i++) {
		const TPMS_PCR_SELECTION *s = &sel->pcrSelections[i];

		if (s->sizeofSelect > TPM2_PCR_SELECT_MAX)
			return err_set(AICERT_ERR_INVALID,
				       "pcrSelections[%u].sizeofSelect is %u, at most %d allowed",
				       i, s->sizeofSelect, TPM2_PCR_SELECT_MAX);
		if (tpmkey_hash_size(s->hash) == 0)
			return err_set(
				AICERT_ERR_UNSUPPORTED,
				"pcrSelections[%u] names bank 0x%04x, expected sha1, sha256, "
				"sha384 or sha512",
				i, s->hash);
		for (uint32_t j = 0; j < i; j++)
			if (sel->pcrSelections[j].hash == s->hash)
				return err_set(AICERT_ERR_INVALID,
					       "pcrSelections[%u] and [%u] both name bank %s", j, i,
					       tpmkey_hash_name(s->hash));
		/* At most ATTEST_MAX_BANKS distinct known banks get here. */
		k = selection_add(s, refs, k);
	}
	memcpy(out, refs, k * sizeof(refs[0]));
	*n = k;
	return 0;
}

static const struct attest_pcr_value *find_value(const struct attest_pcr_ref *ref,
						 const struct attest_pcr_value *values, size_t n,
						 int *r)
{
	const struct attest_pcr_value *found = NULL;

	*r = 0;
	for (size_t i = 0; i < n; i++) {
		if (values[i].hash_alg != ref->hash_alg || values[i].pcr != ref->pcr)
			continue;
		if (found) {
			*r = err_set(AICERT_ERR_REJECTED,
				     "PCR %u of bank %s has more than one value", ref->pcr,
				     tpmkey_hash_name(ref->hash_alg));
			return NULL;
		}
		found = &values[i];
	}
	if (!found)
		*r = err_set(AICERT_ERR_REJECTED,
			     "PCR %u of bank %s is in the quote's selection but has no value",
			     ref->pcr, tpmkey_hash_name(ref->hash_alg));
	else if (found->size != tpmkey_hash_size(ref->hash_alg))
		*r = err_set(AICERT_ERR_REJECTED,
			     "PCR %u of bank %s has a %zu-byte value, expected %zu", ref->pcr,
			     tpmkey_hash_name(ref->hash_alg), found->size,
			     tpmkey_hash_size(ref->hash_alg));
	return *r < 0 ? NULL : found;
}

/* Names a value that the selection does not select; only called when there
 * is one. */
static int reject_unselected(const struct attest_pcr_ref *refs, size_t nrefs,
			     const struct attest_pcr_value *values, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bool selected = false;

		for (size_t k = 0; k < nrefs && !selected; k++)
			selected = values[i].hash_alg == refs[k].hash_alg &&
				   values[i].pcr == refs[k].pcr;
		if (!selected)
			return err_set(AICERT_ERR_REJECTED,
				       "PCR %u of bank 0x%04x (%s) has a value but is not in the "
				       "quote's selection",
				       values[i].pcr, values[i].hash_alg,
				       tpmkey_hash_name(values[i].hash_alg));
	}
	assert(!"reject_unselected() called without an unselected value");
	return err_set(AICERT_ERR_INTERNAL, "PCR value count mismatch");
}

int attest_order_pcrs(const TPML_PCR_SELECTION *sel, const struct attest_pcr_value *values,
		      size_t n, struct attest_pcr_value *ordered)
{
	struct attest_pcr_ref refs[ATTEST_MAX_PCRS];
	struct attest_pcr_value tmp[ATTEST_MAX_PCRS];
	size_t nrefs;
	int r;

	r = attest_selection_list(sel, refs, &nrefs);
	if (r < 0)
		return r;
	if (n > ATTEST_MAX_PCRS)
		return err_set(AICERT_ERR_REJECTED, "%zu PCR values, a quote selects at most %d", n,
			       ATTEST_MAX_PCRS);
	for (size_t k = 0; k < nrefs; k++) {
		const struct attest_pcr_value *v = find_value(&refs[k], values, n, &r);

		if (!v)
			return r;
		tmp[k] = *v;
	}
	/* Every selected PCR has exactly one value: any other value is extra. */
	if (n != nrefs)
		return reject_unselected(refs, nrefs, values, n);
	memcpy(ordered, tmp, n * sizeof(tmp[0]));
	return 0;
}

int attest_pcr_digest(uint32_t hash_alg, const struct attest_pcr_value *values, size_t n,
		      TPM2B_DIGEST *out)
{
	EVP_MD_CTX *ctx = NULL;
	TPM2B_DIGEST d;
	unsigned int len = 0;
	int r;

	if (hash_alg != TPM2_ALG_SHA256 && hash_alg != TPM2_ALG_SHA384 &&
	    hash_alg != TPM2_ALG_SHA512)
		return err_set(
			AICERT_ERR_UNSUPPORTED,
			"PCR digest with hash 0x%04x (%s), expected sha256, sha384 or sha512",
			hash_alg, tpmkey_hash_name(hash_alg));
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, tpmkey_hash_md(hash_alg), NULL) != 1) {
		r = tpmkey_err_openssl(AICERT_ERR_CRYPTO, "starting a %s digest failed",
				       tpmkey_hash_name(hash_alg));
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (EVP_DigestUpdate(ctx, values[i].digest, values[i].size) != 1) {
			r = tpmkey_err_openssl(AICERT_ERR_CRYPTO, "hashing PCR values failed");
			goto out;
		}
	if (EVP_DigestFinal_ex(ctx, d.buffer, &len) != 1) {
		r = tpmkey_err_openssl(AICERT_ERR_CRYPTO, "finishing a %s digest failed",
				       tpmkey_hash_name(hash_alg));
		goto out;
	}
	d.size = (UINT16)len;
	*out = d;
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

int attest_check_pcrs(const TPMS_ATTEST *a, uint32_t hash_alg,
		      const struct attest_pcr_value *values, size_t n)
{
	const TPM2B_DIGEST *signed_digest = &a->attested.quote.pcrDigest;
	struct attest_pcr_value ordered[ATTEST_MAX_PCRS];
	char got[2 * sizeof(signed_digest->buffer) + 1];
	char want[2 * sizeof(signed_digest->buffer) + 1];
	TPM2B_DIGEST d;
	int r;

	if (a->type != TPM2_ST_ATTEST_QUOTE)
		return err_set(AICERT_ERR_REJECTED, "TPMS_ATTEST.type is 0x%04x, not a quote",
			       a->type);
	r = attest_order_pcrs(&a->attested.quote.pcrSelect, values, n, ordered);
	if (r < 0)
		return r;
	r = attest_pcr_digest(hash_alg, ordered, n, &d);
	if (r < 0)
		return r;
	if (signed_digest->size == d.size &&
	    CRYPTO_memcmp(signed_digest->buffer, d.buffer, d.size) == 0)
		return 0;
	hex_encode(signed_digest->buffer, clamp(signed_digest->size, sizeof(signed_digest->buffer)),
		   got);
	hex_encode(d.buffer, d.size, want);
	return err_set(
		AICERT_ERR_REJECTED,
		"the quote's pcrDigest is %s, but the %s digest of the given PCR values is %s", got,
		tpmkey_hash_name(hash_alg), want);
}
