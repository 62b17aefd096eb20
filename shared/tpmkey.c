#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <tss2/tss2_mu.h>

#include "err.h"
#include "tpmkey.h"

#define RSA_DEFAULT_EXPONENT 65537u
#define ECC_MAX_BYTES        48 /* P-384 */

struct tpmkey_hash_alg {
	uint32_t alg;
	const char *name;
	size_t size;
	const EVP_MD *(*md)(void);
};

static const struct tpmkey_hash_alg tpmkey_hashes[] = {
	{TPM2_ALG_SHA1, "sha1", TPM2_SHA1_DIGEST_SIZE, EVP_sha1},
	{TPM2_ALG_SHA256, "sha256", TPM2_SHA256_DIGEST_SIZE, EVP_sha256},
	{TPM2_ALG_SHA384, "sha384", TPM2_SHA384_DIGEST_SIZE, EVP_sha384},
	{TPM2_ALG_SHA512, "sha512", TPM2_SHA512_DIGEST_SIZE, EVP_sha512},
};

struct tpmkey_curve {
	TPMI_ECC_CURVE id;
	int nid;
	const char *name; /* OpenSSL's group name */
	size_t bytes;     /* size of a coordinate */
	TPMI_ALG_HASH sign_hash;
};

static const struct tpmkey_curve tpmkey_curves[] = {
	{TPM2_ECC_NIST_P256, NID_X9_62_prime256v1, "P-256", 32, TPM2_ALG_SHA256},
	{TPM2_ECC_NIST_P384, NID_secp384r1, "P-384", 48, TPM2_ALG_SHA384},
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const struct tpmkey_hash_alg *hash_find(uint32_t alg)
{
	for (size_t i = 0; i < ARRAY_LEN(tpmkey_hashes); i++)
		if (tpmkey_hashes[i].alg == alg)
			return &tpmkey_hashes[i];
	return NULL;
}

const EVP_MD *tpmkey_hash_md(uint32_t hash_alg)
{
	const struct tpmkey_hash_alg *h = hash_find(hash_alg);

	return h ? h->md() : NULL;
}

size_t tpmkey_hash_size(uint32_t hash_alg)
{
	const struct tpmkey_hash_alg *h = hash_find(hash_alg);

	return h ? h->size : 0;
}

const char *tpmkey_hash_name(uint32_t hash_alg)
{
	const struct tpmkey_hash_alg *h = hash_find(hash_alg);

	return h ? h->name : "unknown";
}

int tpmkey_hash(uint32_t hash_alg, const uint8_t *buf, size_t len, TPM2B_DIGEST *out)
{
	const EVP_MD *md = tpmkey_hash_md(hash_alg);
	unsigned int n = 0;
	TPM2B_DIGEST d;

	if (!md)
		return err_set(AICERT_ERR_UNSUPPORTED, "hash algorithm 0x%04x is not supported",
			       hash_alg);
	if (EVP_Digest(buf, len, d.buffer, &n, md, NULL) != 1)
		return tpmkey_err_openssl(AICERT_ERR_CRYPTO, "computing a %s digest failed",
					  tpmkey_hash_name(hash_alg));
	d.size = (UINT16)n;
	*out = d;
	return 0;
}

int tpmkey_err_openssl(int code, const char *fmt, ...)
{
	char what[512];
	char detail[512];
	size_t used = 0;
	unsigned long e;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	detail[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		char one[256];
		int n;

		if (used >= sizeof(detail) - 1)
			continue; /* keep draining the queue */
		ERR_error_string_n(e, one, sizeof(one));
		n = snprintf(detail + used, sizeof(detail) - used, "%s%s", used ? "; " : "", one);
		used = n < 0 ? sizeof(detail) : used + (size_t)n;
	}
	if (detail[0] == '\0')
		return err_set(code, "%s", what);
	return err_set(code, "%s: %s", what, detail);
}

const char *tpmkey_mu_reason(TSS2_RC rc)
{
	switch (rc & ~TSS2_RC_LAYER_MASK) {
	case TSS2_BASE_RC_INSUFFICIENT_BUFFER:
		return "truncated";
	case TSS2_BASE_RC_BAD_SIZE:
		return "a size field is over its maximum";
	case TSS2_BASE_RC_BAD_VALUE:
		return "a count, size or selector is out of range";
	default:
		return "malformed";
	}
}

static const struct tpmkey_curve *curve_find(TPMI_ECC_CURVE id)
{
	for (size_t i = 0; i < ARRAY_LEN(tpmkey_curves); i++)
		if (tpmkey_curves[i].id == id)
			return &tpmkey_curves[i];
	return NULL;
}

static int check_rsa(const TPMT_PUBLIC *pub)
{
	const TPMS_RSA_PARMS *p = &pub->parameters.rsaDetail;
	const TPM2B_PUBLIC_KEY_RSA *n = &pub->unique.rsa;

	if (p->keyBits != 2048 && p->keyBits != 3072 && p->keyBits != 4096)
		return err_set(AICERT_ERR_UNSUPPORTED,
			       "TPMT_PUBLIC: RSA keyBits %u, expected 2048, 3072 or 4096",
			       p->keyBits);
	if (n->size != p->keyBits / 8)
		return err_set(AICERT_ERR_INVALID,
			       "TPMT_PUBLIC: RSA modulus of %u bytes, expected %u for keyBits %u",
			       n->size, p->keyBits / 8, p->keyBits);
	if (!(n->buffer[0] & 0x80) || !(n->buffer[n->size - 1] & 1))
		return err_set(AICERT_ERR_INVALID,
			       "TPMT_PUBLIC: RSA modulus is not an odd number of exactly %u bits",
			       p->keyBits);
	if (p->exponent != 0 && (p->exponent < 3 || !(p->exponent & 1)))
		return err_set(AICERT_ERR_INVALID, "TPMT_PUBLIC: RSA exponent %u is not valid",
			       p->exponent);
	return 0;
}

static int check_ecc(const TPMT_PUBLIC *pub)
{
	const TPMS_ECC_POINT *q = &pub->unique.ecc;
	const struct tpmkey_curve *c = curve_find(pub->parameters.eccDetail.curveID);

	if (!c)
		return err_set(AICERT_ERR_UNSUPPORTED,
			       "TPMT_PUBLIC: ECC curve 0x%04x, expected NIST P-256 or P-384",
			       pub->parameters.eccDetail.curveID);
	if (q->x.size != c->bytes || q->y.size != c->bytes)
		return err_set(
			AICERT_ERR_INVALID,
			"TPMT_PUBLIC: ECC point coordinates of %u and %u bytes, expected %zu for %s",
			q->x.size, q->y.size, c->bytes, c->name);
	return 0;
}

/* What every function of this module requires of a TPMT_PUBLIC. */
static int check_public(const TPMT_PUBLIC *pub)
{
	size_t policy = pub->authPolicy.size;

	if (pub->nameAlg != TPM2_ALG_SHA256 && pub->nameAlg != TPM2_ALG_SHA384)
		return err_set(AICERT_ERR_UNSUPPORTED,
			       "TPMT_PUBLIC: nameAlg 0x%04x (%s), expected sha256 or sha384",
			       pub->nameAlg, tpmkey_hash_name(pub->nameAlg));
	if (policy != 0 && policy != tpmkey_hash_size(pub->nameAlg))
		return err_set(
			AICERT_ERR_INVALID,
			"TPMT_PUBLIC: authPolicy of %zu bytes, expected 0 or %zu (nameAlg %s)",
			policy, tpmkey_hash_size(pub->nameAlg), tpmkey_hash_name(pub->nameAlg));
	switch (pub->type) {
	case TPM2_ALG_RSA:
		return check_rsa(pub);
	case TPM2_ALG_ECC:
		return check_ecc(pub);
	default:
		return err_set(AICERT_ERR_UNSUPPORTED,
			       "TPMT_PUBLIC: type 0x%04x, expected RSA (0x0001) or ECC (0x0023)",
			       pub->type);
	}
}

int tpmkey_parse_public(const uint8_t *buf, size_t len, TPMT_PUBLIC *out)
{
	TPMT_PUBLIC pub;
	size_t off = 0;
	TSS2_RC rc;
	int r;

	memset(&pub, 0, sizeof(pub));
	rc = Tss2_MU_TPMT_PUBLIC_Unmarshal(buf, len, &off, &pub);
	if (rc != TSS2_RC_SUCCESS)
		return err_set(AICERT_ERR_INVALID, "TPMT_PUBLIC of %zu bytes: %s", len,
			       tpmkey_mu_reason(rc));
	if (off != len)
		return err_set(AICERT_ERR_INVALID,
			       "TPMT_PUBLIC: %zu trailing bytes after offset %zu", len - off, off);
	r = check_public(&pub);
	if (r < 0)
		return r;
	*out = pub;
	return 0;
}

int tpmkey_marshal_public(const TPMT_PUBLIC *pub, uint8_t *buf, size_t cap, size_t *len)
{
	size_t off = 0;
	TSS2_RC rc;
	int r;

	r = check_public(pub);
	if (r < 0)
		return r;
	rc = Tss2_MU_TPMT_PUBLIC_Marshal(pub, buf, cap, &off);
	if (rc != TSS2_RC_SUCCESS)
		return err_set(AICERT_ERR_INVALID, "marshalling TPMT_PUBLIC into %zu bytes: %s",
			       cap, tpmkey_mu_reason(rc));
	*len = off;
	return 0;
}

/* Makes a public key of the named type from params. EC keys then get
 * OpenSSL's full public key check (the point is on the curve, of the right
 * order). RSA keys do not: that check includes a Miller-Rabin test with
 * random bases, which can answer differently for the same odd modulus, and a
 * verifier must give one answer per input. check_rsa() has done the
 * deterministic checks. */
static int pkey_fromdata(const char *type, OSSL_PARAM *params, EVP_PKEY **ret)
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY_CTX *check = NULL;
	EVP_PKEY *pkey = NULL;
	int r;

	ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1) {
		r = tpmkey_err_openssl(AICERT_ERR_CRYPTO, "EVP_PKEY_fromdata_init(%s) failed",
				       type);
		goto out;
	}
	if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		r = tpmkey_err_openssl(AICERT_ERR_INVALID, "TPMT_PUBLIC: not a valid %s public key",
				       type);
		goto out;
	}
	if (strcmp(type, "EC") == 0) {
		check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
		if (!check) {
			r = tpmkey_err_openssl(AICERT_ERR_CRYPTO,
					       "EVP_PKEY_CTX_new_from_pkey failed");
			goto out;
		}
		if (EVP_PKEY_public_check(check) != 1) {
			r = tpmkey_err_openssl(AICERT_ERR_INVALID,
					       "TPMT_PUBLIC: the EC public key fails its check");
			goto out;
		}
	}
	*ret = pkey;
	pkey = NULL;
	r = 0;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_CTX_free(ctx);
	return r;
}

static int rsa_to_evp(const TPMT_PUBLIC *pub, EVP_PKEY **ret)
{
	uint32_t exponent = pub->parameters.rsaDetail.exponent;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	BIGNUM *n = NULL;
	BIGNUM *e = NULL;
	int r;

	n = BN_bin2bn(pub->unique.rsa.buffer, pub->unique.rsa.size, NULL);
	e = BN_new();
	bld = OSSL_PARAM_BLD_new();
	if (!n || !e || !bld || BN_set_word(e, exponent ? exponent : RSA_DEFAULT_EXPONENT) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
	    !(params = OSSL_PARAM_BLD_to_param(bld))) {
		r = tpmkey_err_openssl(AICERT_ERR_CRYPTO, "building RSA key parameters failed");
		goto out;
	}
	r = pkey_fromdata("RSA", params, ret);
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(e);
	BN_free(n);
	return r;
}

static int ecc_to_evp(const TPMT_PUBLIC *pub, EVP_PKEY **ret)
{
	const struct tpmkey_curve *c = curve_find(pub->parameters.eccDetail.curveID);
	uint8_t point[1 + 2 * ECC_MAX_BYTES];
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	int r;

	/* check_ecc() has found the curve and checked the coordinate sizes. */
	point[0] = POINT_CONVERSION_UNCOMPRESSED;
	memcpy(point + 1, pub->unique.ecc.x.buffer, c->bytes);
	memcpy(point + 1 + c->bytes, pub->unique.ecc.y.buffer, c->bytes);
	bld = OSSL_PARAM_BLD_new();
	if (!bld ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, c->name, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point,
					     1 + 2 * c->bytes) != 1 ||
	    !(params = OSSL_PARAM_BLD_to_param(bld))) {
		r = tpmkey_err_openssl(AICERT_ERR_CRYPTO, "building EC key parameters failed");
		goto out;
	}
	r = pkey_fromdata("EC", params, ret);
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return r;
}

int tpmkey_to_evp(const TPMT_PUBLIC *pub, EVP_PKEY **ret)
{
	int r;

	r = check_public(pub);
	if (r < 0)
		return r;
	if (pub->type == TPM2_ALG_RSA)
		return rsa_to_evp(pub, ret);
	return ecc_to_evp(pub, ret);
}

int tpmkey_to_pem(const TPMT_PUBLIC *pub, char **pem)
{
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	char *data = NULL;
	char *s = NULL;
	long n;
	int r;

	r = tpmkey_to_evp(pub, &pkey);
	if (r < 0)
		return r;
	bio = BIO_new(BIO_s_mem());
	if (!bio || PEM_write_bio_PUBKEY(bio, pkey) != 1) {
		r = tpmkey_err_openssl(AICERT_ERR_CRYPTO, "PEM_write_bio_PUBKEY failed");
		goto out;
	}
	n = BIO_get_mem_data(bio, &data);
	if (n <= 0) {
		r = tpmkey_err_openssl(AICERT_ERR_CRYPTO, "reading the PEM memory buffer failed");
		goto out;
	}
	s = malloc((size_t)n + 1);
	if (!s) {
		r = AICERT_ERR_NOMEM;
		goto out;
	}
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	*pem = s;
	r = 0;
out:
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	return r;
}

static int rsa_from_evp(const EVP_PKEY *pkey, bool sign, TPMT_PUBLIC *pub)
{
	TPMS_RSA_PARMS *p = &pub->parameters.rsaDetail;
	BIGNUM *n = NULL;
	BIGNUM *e = NULL;
	int bits, r;

	if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
	    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
		r = tpmkey_err_openssl(AICERT_ERR_CRYPTO,
				       "reading the RSA key's parameters failed");
		goto out;
	}
	bits = BN_num_bits(n);
	if (bits != 2048 && bits != 3072 && bits != 4096) {
		r = err_set(AICERT_ERR_UNSUPPORTED,
			    "RSA key of %d bits, expected 2048, 3072 or 4096", bits);
		goto out;
	}
	if (BN_num_bits(e) > 32) {
		r = err_set(AICERT_ERR_UNSUPPORTED, "RSA exponent of %d bits", BN_num_bits(e));
		goto out;
	}
	pub->type = TPM2_ALG_RSA;
	p->symmetric.algorithm = TPM2_ALG_NULL;
	p->scheme.scheme = sign ? TPM2_ALG_RSASSA : TPM2_ALG_NULL;
	p->scheme.details.rsassa.hashAlg = sign ? TPM2_ALG_SHA256 : 0;
	p->keyBits = (TPMI_RSA_KEY_BITS)bits;
	p->exponent = BN_is_word(e, RSA_DEFAULT_EXPONENT) ? 0 : (UINT32)BN_get_word(e);
	pub->unique.rsa.size = (UINT16)(bits / 8);
	BN_bn2binpad(n, pub->unique.rsa.buffer, bits / 8);
	r = 0;
out:
	BN_free(e);
	BN_free(n);
	return r;
}

static const struct tpmkey_curve *curve_of_evp(const EVP_PKEY *pkey)
{
	char name[64];
	int nid;

	if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name),
					   NULL) != 1)
		return NULL;
	nid = EC_curve_nist2nid(name);
	if (nid == NID_undef)
		nid = OBJ_sn2nid(name);
	for (size_t i = 0; i < ARRAY_LEN(tpmkey_curves); i++)
		if (tpmkey_curves[i].nid == nid)
			return &tpmkey_curves[i];
	return NULL;
}

static int ecc_from_evp(const EVP_PKEY *pkey, bool sign, TPMT_PUBLIC *pub)
{
	const struct tpmkey_curve *c = curve_of_evp(pkey);
	TPMS_ECC_PARMS *p = &pub->parameters.eccDetail;
	BIGNUM *x = NULL;
	BIGNUM *y = NULL;
	int r;

	ERR_clear_error();
	if (!c)
		return err_set(AICERT_ERR_UNSUPPORTED, "EC key not on NIST P-256 or P-384");
	if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
	    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1) {
		r = tpmkey_err_openssl(AICERT_ERR_CRYPTO, "reading the EC key's point failed");
		goto out;
	}
	pub->type = TPM2_ALG_ECC;
	p->symmetric.algorithm = TPM2_ALG_NULL;
	p->scheme.scheme = sign ? TPM2_ALG_ECDSA : TPM2_ALG_NULL;
	p->scheme.details.ecdsa.hashAlg = sign ? c->sign_hash : 0;
	p->curveID = c->id;
	p->kdf.scheme = TPM2_ALG_NULL;
	pub->unique.ecc.x.size = (UINT16)c->bytes;
	pub->unique.ecc.y.size = (UINT16)c->bytes;
	if (BN_bn2binpad(x, pub->unique.ecc.x.buffer, (int)c->bytes) < 0 ||
	    BN_bn2binpad(y, pub->unique.ecc.y.buffer, (int)c->bytes) < 0) {
		r = err_set(AICERT_ERR_INVALID, "EC point coordinate larger than the curve");
		goto out;
	}
	r = 0;
out:
	BN_free(y);
	BN_free(x);
	return r;
}

int tpmkey_from_evp(const EVP_PKEY *pkey, TPMA_OBJECT attributes, TPMT_PUBLIC *out)
{
	bool sign = (attributes & TPMA_OBJECT_SIGN_ENCRYPT) != 0;
	TPMT_PUBLIC pub;
	int r;

	memset(&pub, 0, sizeof(pub));
	pub.nameAlg = TPM2_ALG_SHA256;
	pub.objectAttributes = attributes;
	if (EVP_PKEY_is_a(pkey, "RSA"))
		r = rsa_from_evp(pkey, sign, &pub);
	else if (EVP_PKEY_is_a(pkey, "EC"))
		r = ecc_from_evp(pkey, sign, &pub);
	else
		r = err_set(AICERT_ERR_UNSUPPORTED, "%s keys are not supported",
			    EVP_PKEY_get0_type_name(pkey));
	if (r < 0)
		return r;
	r = check_public(&pub);
	if (r < 0)
		return r;
	*out = pub;
	return 0;
}

int tpmkey_name(const TPMT_PUBLIC *pub, TPM2B_NAME *out)
{
	uint8_t buf[sizeof(TPMT_PUBLIC)];
	TPM2B_DIGEST d;
	TPM2B_NAME name;
	size_t len;
	int r;

	r = tpmkey_marshal_public(pub, buf, sizeof(buf), &len);
	if (r < 0)
		return r;
	r = tpmkey_hash(pub->nameAlg, buf, len, &d);
	if (r < 0)
		return r;
	name.size = (UINT16)(2 + d.size);
	name.name[0] = (uint8_t)(pub->nameAlg >> 8);
	name.name[1] = (uint8_t)pub->nameAlg;
	memcpy(name.name + 2, d.buffer, d.size);
	*out = name;
	return 0;
}

static const struct {
	TPMA_OBJECT bit;
	const char *name;
	bool set;
} tpmkey_ak_attrs[] = {
	{TPMA_OBJECT_FIXEDTPM, "fixedTPM", true},
	{TPMA_OBJECT_FIXEDPARENT, "fixedParent", true},
	{TPMA_OBJECT_SENSITIVEDATAORIGIN, "sensitiveDataOrigin", true},
	{TPMA_OBJECT_RESTRICTED, "restricted", true},
	{TPMA_OBJECT_SIGN_ENCRYPT, "sign", true},
	{TPMA_OBJECT_DECRYPT, "decrypt", false},
};

int tpmkey_check_ak_attributes(const TPMT_PUBLIC *pub)
{
	for (size_t i = 0; i < ARRAY_LEN(tpmkey_ak_attrs); i++) {
		bool set = (pub->objectAttributes & tpmkey_ak_attrs[i].bit) != 0;

		if (set != tpmkey_ak_attrs[i].set)
			return err_set(AICERT_ERR_REJECTED,
				       "AK attribute %s is %s, an attestation key needs it %s "
				       "(objectAttributes 0x%08x)",
				       tpmkey_ak_attrs[i].name, set ? "set" : "clear",
				       tpmkey_ak_attrs[i].set ? "set" : "clear",
				       pub->objectAttributes);
	}
	return 0;
}

int tpmkey_check_evp(const TPMT_PUBLIC *pub, const EVP_PKEY *pkey)
{
	EVP_PKEY *mine = NULL;
	int r, eq;

	r = tpmkey_to_evp(pub, &mine);
	if (r < 0)
		return r;
	eq = EVP_PKEY_eq(mine, pkey);
	ERR_clear_error();
	if (eq == 1)
		r = 0;
	else if (eq == 0)
		r = err_set(AICERT_ERR_REJECTED, "the TPM's %s key and the given %s key differ",
			    EVP_PKEY_get0_type_name(mine), EVP_PKEY_get0_type_name(pkey));
	else
		r = err_set(AICERT_ERR_REJECTED,
			    "the TPM's %s key and the given %s key are not of the same kind",
			    EVP_PKEY_get0_type_name(mine), EVP_PKEY_get0_type_name(pkey));
	EVP_PKEY_free(mine);
	return r;
}
