#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "err.h"
#include "makecred.h"
#include "tpmkey.h"

#define MAKECRED_MAX_DIGEST 64 /* SHA-512 */
#define MAKECRED_MAX_SYMKEY 32 /* AES-256 */
#define MAKECRED_ECC_BYTES  48 /* P-384, the largest curve tpmkey accepts */

/* What the labels are, with the zero octet the KDFs append. */
static const char label_identity[] = "IDENTITY";
static const char label_storage[] = "STORAGE";
static const char label_integrity[] = "INTEGRITY";

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* The hash algorithms the KDFs take; SHA-1 is never used here. */
static const EVP_MD *makecred_md(uint16_t hash_alg)
{
	if (hash_alg != TPM2_ALG_SHA256 && hash_alg != TPM2_ALG_SHA384 &&
	    hash_alg != TPM2_ALG_SHA512)
		return NULL;
	return tpmkey_hash_md(hash_alg);
}

static int makecred_kdf_check(uint16_t hash_alg, const char *label, size_t a_len, size_t u_len,
			      size_t v_len, size_t bits)
{
	if (!makecred_md(hash_alg))
		return err_set(AICERT_ERR_UNSUPPORTED,
			       "KDF hash algorithm 0x%04x, expected sha256, sha384 or sha512",
			       hash_alg);
	if (bits == 0 || bits % 8 || bits > MAKECRED_KDF_MAX_BITS)
		return err_set(AICERT_ERR_INVALID, "KDF output of %zu bits", bits);
	if (strlen(label) > MAKECRED_LABEL_MAX || a_len > MAKECRED_CONTEXT_MAX ||
	    u_len > MAKECRED_CONTEXT_MAX || v_len > MAKECRED_CONTEXT_MAX)
		return err_set(AICERT_ERR_TOO_BIG, "KDF input over %d bytes", MAKECRED_CONTEXT_MAX);
	return 0;
}

/* Appends label || 0x00 || u || v at p; returns the length written. */
static size_t makecred_fixed(uint8_t *p, const char *label, const uint8_t *u, size_t u_len,
			     const uint8_t *v, size_t v_len)
{
	size_t n = strlen(label) + 1;

	memcpy(p, label, n); /* with its terminating zero */
	if (u_len)
		memcpy(p + n, u, u_len);
	if (v_len)
		memcpy(p + n + u_len, v, v_len);
	return n + u_len + v_len;
}

int makecred_kdfa(uint16_t hash_alg, const uint8_t *key, size_t key_len, const char *label,
		  const uint8_t *context_u, size_t u_len, const uint8_t *context_v, size_t v_len,
		  size_t bits, uint8_t *out)
{
	uint8_t msg[4 + MAKECRED_LABEL_MAX + 1 + 2 * MAKECRED_CONTEXT_MAX + 4];
	uint8_t block[MAKECRED_MAX_DIGEST];
	const EVP_MD *md;
	size_t n, done = 0;
	int r;

	r = makecred_kdf_check(hash_alg, label, key_len, u_len, v_len, bits);
	if (r < 0)
		return r;
	md = makecred_md(hash_alg);
	n = 4 + makecred_fixed(msg + 4, label, context_u, u_len, context_v, v_len);
	put32(msg + n, (uint32_t)bits);
	n += 4;
	for (uint32_t i = 1; done < bits / 8; i++) {
		unsigned int len = 0;
		size_t take;

		put32(msg, i);
		if (!HMAC(md, key, (int)key_len, msg, n, block, &len)) {
			r = tpmkey_err_openssl(AICERT_ERR_CRYPTO, "KDFa: HMAC failed");
			break;
		}
		take = bits / 8 - done < len ? bits / 8 - done : len;
		memcpy(out + done, block, take);
		done += take;
	}
	OPENSSL_cleanse(block, sizeof(block));
	return r;
}

int makecred_kdfe(uint16_t hash_alg, const uint8_t *z, size_t z_len, const char *label,
		  const uint8_t *party_u, size_t u_len, const uint8_t *party_v, size_t v_len,
		  size_t bits, uint8_t *out)
{
	uint8_t msg[4 + MAKECRED_CONTEXT_MAX + MAKECRED_LABEL_MAX + 1 + 2 * MAKECRED_CONTEXT_MAX];
	uint8_t block[MAKECRED_MAX_DIGEST];
	const EVP_MD *md;
	size_t n, done = 0;
	int r;

	r = makecred_kdf_check(hash_alg, label, z_len, u_len, v_len, bits);
	if (r < 0)
		return r;
	md = makecred_md(hash_alg);
	memcpy(msg + 4, z, z_len);
	n = 4 + z_len + makecred_fixed(msg + 4 + z_len, label, party_u, u_len, party_v, v_len);
	for (uint32_t i = 1; done < bits / 8; i++) {
		unsigned int len = 0;
		size_t take;

		put32(msg, i);
		if (EVP_Digest(msg, n, block, &len, md, NULL) != 1) {
			r = tpmkey_err_openssl(AICERT_ERR_CRYPTO, "KDFe: digest failed");
			break;
		}
		take = bits / 8 - done < len ? bits / 8 - done : len;
		memcpy(out + done, block, take);
		done += take;
	}
	OPENSSL_cleanse(msg, sizeof(msg)); /* holds Z */
	OPENSSL_cleanse(block, sizeof(block));
	return r;
}

/* ---- checks --------------------------------------------------------------- */

static const TPMT_SYM_DEF_OBJECT *makecred_sym(const TPMT_PUBLIC *ek)
{
	return ek->type == TPM2_ALG_RSA ? &ek->parameters.rsaDetail.symmetric
					: &ek->parameters.eccDetail.symmetric;
}

/* An EK as TPM2_ActivateCredential uses it: a restricted decryption key
 * whose symmetric algorithm protects the credential. */
static int makecred_check_ek(const TPMT_PUBLIC *ek)
{
	const TPMA_OBJECT need = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	const TPMT_SYM_DEF_OBJECT *sym;
	uint16_t bits;

	if (ek->type != TPM2_ALG_RSA && ek->type != TPM2_ALG_ECC)
		return err_set(AICERT_ERR_UNSUPPORTED, "EK type 0x%04x, expected RSA or ECC",
			       ek->type);
	if ((ek->objectAttributes & need) != need ||
	    (ek->objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT))
		return err_set(AICERT_ERR_INVALID,
			       "EK attributes 0x%08x: not a restricted decryption key",
			       ek->objectAttributes);
	sym = makecred_sym(ek);
	bits = sym->keyBits.aes;
	if (sym->algorithm != TPM2_ALG_AES || sym->mode.aes != TPM2_ALG_CFB ||
	    (bits != 128 && bits != 192 && bits != 256))
		return err_set(AICERT_ERR_UNSUPPORTED,
			       "EK symmetric algorithm 0x%04x/%u bits/mode 0x%04x, expected AES "
			       "128, 192 or 256 in CFB mode",
			       sym->algorithm, bits, sym->mode.aes);
	if (ek->nameAlg != TPM2_ALG_SHA256 && ek->nameAlg != TPM2_ALG_SHA384)
		return err_set(AICERT_ERR_UNSUPPORTED,
			       "EK nameAlg 0x%04x, expected sha256 or sha384", ek->nameAlg);
	return 0;
}

static int makecred_check_name(const TPM2B_NAME *name)
{
	uint16_t alg;
	size_t size;

	if (name->size < 2)
		return err_set(AICERT_ERR_INVALID, "AK name of %u bytes", name->size);
	alg = (uint16_t)(name->name[0] << 8 | name->name[1]);
	size = tpmkey_hash_size(alg);
	if (alg == TPM2_ALG_SHA1 || size == 0 || name->size != 2 + size)
		return err_set(AICERT_ERR_INVALID,
			       "AK name of %u bytes with name algorithm 0x%04x, expected a "
			       "SHA-256, SHA-384 or SHA-512 name",
			       name->size, alg);
	return 0;
}

/* ---- the credential blob ---------------------------------------------------- */

static const EVP_CIPHER *makecred_cfb(uint16_t bits)
{
	if (bits == 128)
		return EVP_aes_128_cfb128();
	if (bits == 192)
		return EVP_aes_192_cfb128();
	return EVP_aes_256_cfb128();
}

static int makecred_encrypt(const EVP_CIPHER *cipher, const uint8_t *key, const uint8_t *in,
			    size_t len, uint8_t *out)
{
	static const uint8_t iv[16];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n1 = 0, n2 = 0, r = 0;

	if (!ctx || EVP_EncryptInit_ex(ctx, cipher, NULL, key, iv) != 1 ||
	    EVP_EncryptUpdate(ctx, out, &n1, in, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(ctx, out + n1, &n2) != 1 || (size_t)(n1 + n2) != len)
		r = tpmkey_err_openssl(AICERT_ERR_CRYPTO, "MakeCredential: AES-CFB failed");
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

/* blob = [size]16 || HMAC(HMACkey, encIdentity || name) || encIdentity. */
static int makecred_integrity(const TPMT_PUBLIC *ek, const TPM2B_NAME *name, const uint8_t *seed,
			      size_t seed_len, uint8_t *blob, size_t enc_len)
{
	size_t dsize = tpmkey_hash_size(ek->nameAlg);
	uint8_t key[MAKECRED_MAX_DIGEST];
	uint8_t *enc = blob + 2 + dsize;
	uint8_t msg[2 + sizeof(TPMU_HA) + sizeof(name->name)];
	unsigned int len = 0;
	int r;

	r = makecred_kdfa(ek->nameAlg, seed, seed_len, label_integrity, NULL, 0, NULL, 0, dsize * 8,
			  key);
	if (r < 0)
		goto out;
	memcpy(msg, enc, enc_len);
	memcpy(msg + enc_len, name->name, name->size);
	if (!HMAC(tpmkey_hash_md(ek->nameAlg), key, (int)dsize, msg, enc_len + name->size, blob + 2,
		  &len) ||
	    len != dsize) {
		r = tpmkey_err_openssl(AICERT_ERR_CRYPTO, "MakeCredential: HMAC failed");
		goto out;
	}
	blob[0] = (uint8_t)(dsize >> 8);
	blob[1] = (uint8_t)dsize;
out:
	OPENSSL_cleanse(key, sizeof(key));
	return r;
}

int makecred_wrap(const TPMT_PUBLIC *ek, const TPM2B_NAME *ak_name, const uint8_t *seed,
		  size_t seed_len, const uint8_t *secret, size_t secret_len,
		  uint8_t **credential_blob, size_t *blob_len)
{
	const TPMT_SYM_DEF_OBJECT *sym;
	uint8_t sym_key[MAKECRED_MAX_SYMKEY];
	uint8_t plain[2 + MAKECRED_MAX_DIGEST];
	uint8_t *blob = NULL;
	size_t dsize, enc_len, len;
	int r;

	r = makecred_check_ek(ek);
	if (r == 0)
		r = makecred_check_name(ak_name);
	if (r < 0)
		return r;
	dsize = tpmkey_hash_size(ek->nameAlg);
	if (secret_len < 1 || secret_len > dsize)
		return err_set(AICERT_ERR_INVALID,
			       "credential secret of %zu bytes, expected 1 to %zu (EK nameAlg %s)",
			       secret_len, dsize, tpmkey_hash_name(ek->nameAlg));
	if (seed_len < 1 || seed_len > MAKECRED_CONTEXT_MAX)
		return err_set(AICERT_ERR_INVALID, "seed of %zu bytes", seed_len);
	sym = makecred_sym(ek);
	enc_len = 2 + secret_len;
	len = 2 + dsize + enc_len;
	if (len > sizeof(((TPM2B_ID_OBJECT *)0)->credential))
		return err_set(AICERT_ERR_TOO_BIG, "credential blob of %zu bytes", len);
	blob = malloc(len);
	if (!blob)
		return AICERT_ERR_NOMEM;
	plain[0] = (uint8_t)(secret_len >> 8);
	plain[1] = (uint8_t)secret_len;
	memcpy(plain + 2, secret, secret_len);
	r = makecred_kdfa(ek->nameAlg, seed, seed_len, label_storage, ak_name->name, ak_name->size,
			  NULL, 0, sym->keyBits.aes, sym_key);
	if (r == 0)
		r = makecred_encrypt(makecred_cfb(sym->keyBits.aes), sym_key, plain, enc_len,
				     blob + 2 + dsize);
	if (r == 0)
		r = makecred_integrity(ek, ak_name, seed, seed_len, blob, enc_len);
	OPENSSL_cleanse(sym_key, sizeof(sym_key));
	OPENSSL_cleanse(plain, sizeof(plain));
	if (r < 0) {
		free(blob);
		return r;
	}
	*credential_blob = blob;
	*blob_len = len;
	return 0;
}

/* ---- sharing the seed ------------------------------------------------------- */

static int makecred_rsa_seed(const TPMT_PUBLIC *ek, EVP_PKEY *pkey, uint8_t *seed, size_t seed_len,
			     uint8_t **enc, size_t *enc_len)
{
	const EVP_MD *md = tpmkey_hash_md(ek->nameAlg);
	EVP_PKEY_CTX *ctx = NULL;
	unsigned char *label = NULL;
	uint8_t *out = NULL;
	size_t out_len = 0;
	int r;

	if (RAND_priv_bytes(seed, (int)seed_len) != 1)
		return tpmkey_err_openssl(AICERT_ERR_CRYPTO, "MakeCredential: no random seed");
	label = OPENSSL_memdup(label_identity, sizeof(label_identity));
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (!label || !ctx || EVP_PKEY_encrypt_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) != 1 ||
	    EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, (int)sizeof(label_identity)) != 1) {
		r = tpmkey_err_openssl(AICERT_ERR_CRYPTO, "MakeCredential: RSA-OAEP setup failed");
		goto out;
	}
	label = NULL; /* the context owns it now */
	if (EVP_PKEY_encrypt(ctx, NULL, &out_len, seed, seed_len) != 1 ||
	    !(out = malloc(out_len)) || EVP_PKEY_encrypt(ctx, out, &out_len, seed, seed_len) != 1) {
		r = out ? tpmkey_err_openssl(AICERT_ERR_CRYPTO, "MakeCredential: RSA-OAEP failed")
			: AICERT_ERR_NOMEM;
		goto out;
	}
	*enc = out;
	*enc_len = out_len;
	out = NULL;
	r = 0;
out:
	free(out);
	OPENSSL_free(label);
	EVP_PKEY_CTX_free(ctx);
	return r;
}

/* The x and y coordinates of an EC key, each padded to bytes. */
static int makecred_ec_point(EVP_PKEY *pkey, size_t bytes, TPMS_ECC_POINT *pt)
{
	BIGNUM *x = NULL, *y = NULL;
	int r = 0;

	if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
	    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1 ||
	    BN_bn2binpad(x, pt->x.buffer, (int)bytes) < 0 ||
	    BN_bn2binpad(y, pt->y.buffer, (int)bytes) < 0)
		r = tpmkey_err_openssl(AICERT_ERR_CRYPTO, "MakeCredential: reading an EC point");
	pt->x.size = (UINT16)bytes;
	pt->y.size = (UINT16)bytes;
	BN_free(x);
	BN_free(y);
	return r;
}

/* Z = x(ECDH(eph, ek)), the size of a coordinate. */
static int makecred_ecdh(EVP_PKEY *eph, EVP_PKEY *ek, uint8_t *z, size_t bytes)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL);
	size_t len = bytes;
	int r = 0;

	if (!ctx || EVP_PKEY_derive_init(ctx) != 1 || EVP_PKEY_derive_set_peer(ctx, ek) != 1 ||
	    EVP_PKEY_derive(ctx, z, &len) != 1 || len != bytes)
		r = tpmkey_err_openssl(AICERT_ERR_CRYPTO, "MakeCredential: ECDH failed");
	EVP_PKEY_CTX_free(ctx);
	return r;
}

static int makecred_ecc_seed(const TPMT_PUBLIC *ek, EVP_PKEY *pkey, uint8_t *seed, size_t seed_len,
			     uint8_t **enc, size_t *enc_len)
{
	size_t bytes = ek->unique.ecc.x.size; /* the curve's, checked by tpmkey */
	uint8_t z[MAKECRED_ECC_BYTES], buf[sizeof(TPMS_ECC_POINT)];
	EVP_PKEY_CTX *kctx = NULL;
	EVP_PKEY *eph = NULL;
	TPMS_ECC_POINT pt;
	size_t off = 0;
	int r;

	memset(&pt, 0, sizeof(pt));
	kctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (!kctx || EVP_PKEY_keygen_init(kctx) != 1 || EVP_PKEY_keygen(kctx, &eph) != 1) {
		r = tpmkey_err_openssl(AICERT_ERR_CRYPTO, "MakeCredential: no ephemeral EC key");
		goto out;
	}
	r = makecred_ec_point(eph, bytes, &pt);
	if (r == 0)
		r = makecred_ecdh(eph, pkey, z, bytes);
	if (r == 0)
		r = makecred_kdfe(ek->nameAlg, z, bytes, label_identity, pt.x.buffer, bytes,
				  ek->unique.ecc.x.buffer, bytes, seed_len * 8, seed);
	if (r < 0)
		goto out;
	if (Tss2_MU_TPMS_ECC_POINT_Marshal(&pt, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS) {
		r = err_set(AICERT_ERR_INTERNAL, "marshalling the ephemeral point failed");
		goto out;
	}
	*enc = malloc(off);
	if (!*enc) {
		r = AICERT_ERR_NOMEM;
		goto out;
	}
	memcpy(*enc, buf, off);
	*enc_len = off;
out:
	OPENSSL_cleanse(z, sizeof(z));
	EVP_PKEY_free(eph);
	EVP_PKEY_CTX_free(kctx);
	return r;
}

int makecred_make(const TPMT_PUBLIC *ek, const TPM2B_NAME *ak_name, const uint8_t *secret,
		  size_t secret_len, uint8_t **credential_blob, size_t *blob_len,
		  uint8_t **encrypted_secret, size_t *enc_len)
{
	uint8_t seed[MAKECRED_MAX_DIGEST];
	size_t seed_len = tpmkey_hash_size(ek->nameAlg);
	uint8_t *enc = NULL, *blob = NULL;
	size_t elen = 0, blen = 0;
	EVP_PKEY *pkey = NULL;
	int r;

	r = makecred_check_ek(ek);
	if (r == 0)
		r = makecred_check_name(ak_name);
	if (r == 0)
		r = tpmkey_to_evp(ek, &pkey);
	if (r < 0)
		return r;
	if (ek->type == TPM2_ALG_RSA)
		r = makecred_rsa_seed(ek, pkey, seed, seed_len, &enc, &elen);
	else
		r = makecred_ecc_seed(ek, pkey, seed, seed_len, &enc, &elen);
	if (r == 0)
		r = makecred_wrap(ek, ak_name, seed, seed_len, secret, secret_len, &blob, &blen);
	OPENSSL_cleanse(seed, sizeof(seed));
	EVP_PKEY_free(pkey);
	if (r < 0) {
		free(enc);
		return r;
	}
	*credential_blob = blob;
	*blob_len = blen;
	*encrypted_secret = enc;
	*enc_len = elen;
	return 0;
}
