/* Unit tests for MakeCredential in software (shared/makecred.c).
 *
 * Three independent references, none of them this module:
 *   - OpenSSL's own SP 800-108 KBKDF and SP 800-56A SSKDF, which are KDFa and
 *     KDFe with the TPM's framing (counter first, a zero octet after the
 *     label, the output length in bits last for KBKDF);
 *   - tpm2-tools 5.4: known-answer vectors from `tpm2_makecredential -T none`
 *     with the EK keys below, one RSA-2048/SHA-256/AES-128 EK (TCG template
 *     L-1's algorithms) and one P-384/SHA-384/AES-256 EK (swtpm's ECC EK). The
 *     test recovers tpm2-tools' seed with the EK private key and requires the
 *     same credential blob from makecred_wrap();
 *   - an ActivateCredential written here from the specification with OpenSSL
 *     primitives, which must recover the secret of makecred_make().
 * A real TPM activating our credentials is tests/integration/test_enroll.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "err.h"
#include "hex.h"
#include "makecred.h"
#include "tpmkey.h"

#define EK_ATTRS                                                                                   \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |        \
	 TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT)

/* The EK keys of the tpm2-tools vectors. */
static const char kat_rsa_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDcIyLyzk1Ac91V\n"
	"gyKbbo2fYJhzcA6LLgra20P8DoWc+nAm7Qwjm0MRFUqSZhOxkSjnISS9z/KONS2q\n"
	"D78ifEzErqgH2ksFy8LamXUoshk5lywCZdpLbg8PUxBA0t2PBtdwHJW3qgy3MBnp\n"
	"+bYPdVo/jdrqTlQN3BYbS5+z1K8YCS/td5u6rk7LQMGhdvdjeKlEXUImPxiYlT98\n"
	"FZ8ES2b1fmjNkP9Rx0N7mEMbIXnEGFPBJfrJnanni1zvme2G7brj7dcOh7Zy35rq\n"
	"e2uBOl+kFLg8ICisBal/H5/41oXi+LkGMuPQSBi3IuVw1mfwTL5k6ls775H4o32x\n"
	"tbnwxG77AgMBAAECggEAVJKDKLktYKeizul0cDaG3kYkC6VvUPU9Ylt+wOVrW6Wz\n"
	"VKEZWsyZdYSyg5AH3N4h0roe/XVYgF3Zz04BZmROsflPwMSSsgVYNNdj9WCG5GM5\n"
	"myo6NWRxELgetGjOidZdCktREaCZBf/K1OMEmOfC5ku/YOj6zeBR9eaV0mbRZe/b\n"
	"IR2gRnayyhmTMuCUuMbW8k96mS/Mjc2NS8xzhBEAcJvIeZI0YfE8ph/vIacf2HeX\n"
	"vJ830s2+1x/RaV8R2RRd8i081AkWJwFzfDUGwr/pwdoa46P6dJrPUrm5Zw++BG8y\n"
	"fSoHhE0E5DmisCFFRJ39PKdg7Z1IN3biKj9bQcNp4QKBgQD1mQqCQVvYGOFAVU6i\n"
	"KCuj/31BgLXCKgFZamK0SzguVCDmgbJCisaz6tYWxa3iJYR10f7eD2Al/+u0bU0M\n"
	"IN3JVwFXAdgI/DYSsP2OC2M2NGbqNv3m8FCHuHK0voXSqISiSPE67ZQm11MoE8QC\n"
	"fjfSf3aiyJa4W2JPSuQhWKNfMwKBgQDldghYP3AuVgG/HKgfnT1dgx3kx9aDLGfn\n"
	"CBAEufbuBj75jHKiyZawjkBXJMQ0xi0Mzf8mJHnQEldccXU2j6ARsebLzjzXvU+Q\n"
	"bFMR6DgdcNwZuws3S5tjZwxzz7oLvueakZyh7XRtAvxtXgH4tuIgJrjIfCZrokQn\n"
	"akfUfYtRGQKBgQCchEnkNQ75KvHyc+tHAF6/h0UmB4bOFMMDXv9Ec2N8cvT8sc8P\n"
	"BS4Y3yJNJPHp24sNIyVQE3BtByoJtFaT0iZF+ALMlko9f65ePxl3+t3hX4fu39jz\n"
	"4lcQB4ZilcDnPao5Wk8SBPKTxkoikmYqSJH+vmi22SrklqiSa+HzNm/3bQKBgAru\n"
	"ToN1sjBi5H5oLRIkeXHk9x2Y730cNm7pEWpIOZ0pKwLUT/m1RLpwbFw6YiZpcmfz\n"
	"wD3e6vagiQzcUssgmG1/XhFDZ96XJB0rK+HkgBfW8oU/Rc+CiIp5tDwoHyLEG2Bf\n"
	"o2iLWUqAI+pJ2iow/CCv94mFcIccGccO5xEWUfaxAoGBAMJWlVY5a9i8lX+kovu9\n"
	"VjRaPhGSVNpLQH1NZd1Cr3fSGZ5Dwb53qcnY1vbWcSZSBwc23fIExKKAlEEEaMwE\n"
	"eWtqcuq/02hobQN8BJkrkUWLPRguHFudeHIb5OlED3D/Lk1kdC4JOlweTEx2kdUB\n"
	"tpx/iDooP8LaS4xWEUByoTHQ\n"
	"-----END PRIVATE KEY-----\n";

static const char kat_p384_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDAKE+Eq8q59BJFskt+c\n"
	"UuJSIeQwVwNx7s99uCDjZG2B725/ROQaspPRn488AKp9zKKhZANiAATWw/ualKrF\n"
	"7EhlHL3OMfNS3cQRjvXKG2vzKp6wVnOCCH0HQBkm3LQPsoTjytfWmr5MvkCO3NxZ\n"
	"+xbXJUDXN1uTtrezUpV1l8pLN7JIPcdprfx+Xm58cOm+arQaMS9/bKE=\n"
	"-----END PRIVATE KEY-----\n";

/* tpm2_makecredential -T none -u <EK> -s <kat_secret> -n <kat_name hex>:
 * its file format is magic 0xbadcc0de, version 1, then [size]16 blob,
 * [size]16 encrypted secret. */
static const char kat_rsa_cred[] =
	"badcc0de0000000100440020dadd4fae16e8969e89c3a4568702b634da9a6405bd550dd49df262dc25d08b"
	"201766797f45ee0da4c5a5e231d9bb1e747e536a6000820ff7c8b88e31dd2997dd938a0100b7904e378b"
	"913b4f87f43113b4cb3290ac1147e7b100a921c478810eb9969134ce18f48e872c16260cc054fb165e61"
	"6b056cbe8a54bde68a00e393388821756af7f2e0a981edd9a685c1735b83ac46e0c93783bb252d1f9a03"
	"6e1fbb8e9e839637cb51f0704dc1272dc8187a9db723cd8bbc374278b572ac39db914c3457e1718af232"
	"45e10196cc4bde9f6ba7957fedc62487d7787b62f8a0fcf4d29824821424d057f2217dd50af990bcba99"
	"aaff60e8a65ae09357811c68e5285a017093eb7ee4a07addaaac5934cf7a7c2555166235a56a2c2b01b2"
	"08e91b56a36c9126f633531f580483895c66915594582f9b980cb219b780f11d1cd0e23ff345dcdec0";

static const char kat_p384_cred[] =
	"badcc0de00000001005400304e89e712d794baec7fc251bb9cb6aa387758615a9542020d4001d3a37fee"
	"793a0b952c8292b50df968d446a76fa8d99bc2ce093e68e0976c22c4d472f6f885c9562ed9002467081f"
	"ffada0a43833669341bf006400309932655f94acdf0f20df21e10e67b7b01504d963a74193d9db78efb9"
	"01897c1d228b571108a570fca053065bce95c411003007e1579e203196e23dffc2b37d71433004436bb0"
	"2a58040a2f8e5975ae448bb49b2e3aa4a27fa125032183c45adc6a89";

static const uint8_t kat_secret[32] = "aicert known-answer secret 32 by";
/* 0x000b (SHA-256) and 32 bytes: the name of some object. */
static const uint8_t kat_name[34] = "\x00\x0b"
				    "aicert-kat-name-0123456789abcdef";

static EVP_PKEY *rsa_key;  /* the RSA vector's EK */
static EVP_PKEY *p384_key; /* the P-384 vector's EK */
static EVP_PKEY *p256_key;

static EVP_PKEY *load_pem(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;

	BIO_free(bio);
	return k;
}

static int group_setup(void **state)
{
	rsa_key = load_pem(kat_rsa_pem);
	p384_key = load_pem(kat_p384_pem);
	p256_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	return rsa_key && p384_key && p256_key ? 0 : -1;
}

static int group_teardown(void **state)
{
	EVP_PKEY_free(rsa_key);
	EVP_PKEY_free(p384_key);
	EVP_PKEY_free(p256_key);
	return 0;
}

/* An EK public area for key: the TCG template's attributes, nameAlg and an
 * AES-CFB symmetric algorithm of sym_bits. */
static void ek_public(EVP_PKEY *key, uint16_t name_alg, uint16_t sym_bits, TPMT_PUBLIC *ek)
{
	TPMT_SYM_DEF_OBJECT *sym;

	assert_int_equal(tpmkey_from_evp(key, EK_ATTRS, ek), 0);
	ek->nameAlg = name_alg;
	sym = ek->type == TPM2_ALG_RSA ? &ek->parameters.rsaDetail.symmetric
				       : &ek->parameters.eccDetail.symmetric;
	sym->algorithm = TPM2_ALG_AES;
	sym->keyBits.aes = sym_bits;
	sym->mode.aes = TPM2_ALG_CFB;
}

static void name_of(const uint8_t *buf, size_t len, TPM2B_NAME *name)
{
	memset(name, 0, sizeof(*name));
	name->size = (UINT16)len;
	memcpy(name->name, buf, len);
}

/* ---- the reference KDFs: OpenSSL's KBKDF and SSKDF ------------------------------ */

static void ref_kdfa(const char *md, const uint8_t *key, size_t key_len, const char *label,
		     const uint8_t *ctx, size_t ctx_len, size_t bytes, uint8_t *out)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "KBKDF", NULL);
	EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(kdf);
	OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_MODE, "COUNTER", 0),
		OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_MAC, "HMAC", 0),
		OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, key_len),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_SALT, (void *)label, strlen(label)),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_INFO, (void *)ctx, ctx_len),
		OSSL_PARAM_END,
	};

	assert_non_null(kctx);
	assert_int_equal(EVP_KDF_derive(kctx, out, bytes, params), 1);
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
}

static void ref_kdfe(const char *md, const uint8_t *z, size_t z_len, const uint8_t *info,
		     size_t info_len, size_t bytes, uint8_t *out)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SSKDF", NULL);
	EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(kdf);
	OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, z_len),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len),
		OSSL_PARAM_END,
	};

	assert_non_null(kctx);
	assert_int_equal(EVP_KDF_derive(kctx, out, bytes, params), 1);
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
}

static void makecred_kdfa_matches_openssl_kbkdf(void **state)
{
	static const struct {
		uint16_t alg;
		const char *md;
	} hashes[] = {{TPM2_ALG_SHA256, "SHA256"},
		      {TPM2_ALG_SHA384, "SHA384"},
		      {TPM2_ALG_SHA512, "SHA512"}};
	static const size_t sizes[] = {16, 32, 48, 65, 200};
	uint8_t key[48], u[34], v[20], uv[54], mine[200], ref[200];

	for (size_t h = 0; h < 3; h++) {
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			assert_int_equal(RAND_bytes(key, sizeof(key)), 1);
			assert_int_equal(RAND_bytes(u, sizeof(u)), 1);
			assert_int_equal(RAND_bytes(v, sizeof(v)), 1);
			memcpy(uv, u, sizeof(u));
			memcpy(uv + sizeof(u), v, sizeof(v));
			assert_int_equal(makecred_kdfa(hashes[h].alg, key, sizeof(key), "STORAGE",
						       u, sizeof(u), v, sizeof(v), sizes[s] * 8,
						       mine),
					 0);
			ref_kdfa(hashes[h].md, key, sizeof(key), "STORAGE", uv, sizeof(uv),
				 sizes[s], ref);
			assert_memory_equal(mine, ref, sizes[s]);
		}
	}
}

static void makecred_kdfa_takes_empty_contexts(void **state)
{
	uint8_t key[32] = {1, 2, 3}, mine[48], ref[48];

	assert_int_equal(makecred_kdfa(TPM2_ALG_SHA384, key, sizeof(key), "INTEGRITY", NULL, 0,
				       NULL, 0, 384, mine),
			 0);
	ref_kdfa("SHA384", key, sizeof(key), "INTEGRITY", NULL, 0, 48, ref);
	assert_memory_equal(mine, ref, 48);
}

static void makecred_kdfe_matches_openssl_sskdf(void **state)
{
	uint8_t z[48], u[48], v[48], info[9 + 96], mine[100], ref[100];
	static const size_t sizes[] = {32, 48, 100};

	for (size_t s = 0; s < 3; s++) {
		assert_int_equal(RAND_bytes(z, sizeof(z)), 1);
		assert_int_equal(RAND_bytes(u, sizeof(u)), 1);
		assert_int_equal(RAND_bytes(v, sizeof(v)), 1);
		memcpy(info, "IDENTITY", 9); /* with its zero octet */
		memcpy(info + 9, u, sizeof(u));
		memcpy(info + 9 + sizeof(u), v, sizeof(v));
		assert_int_equal(makecred_kdfe(TPM2_ALG_SHA384, z, sizeof(z), "IDENTITY", u,
					       sizeof(u), v, sizeof(v), sizes[s] * 8, mine),
				 0);
		ref_kdfe("SHA384", z, sizeof(z), info, sizeof(info), sizes[s], ref);
		assert_memory_equal(mine, ref, sizes[s]);
	}
}

static void makecred_kdfs_reject_bad_arguments(void **state)
{
	uint8_t key[32] = {0}, out[64];
	uint8_t big[MAKECRED_CONTEXT_MAX + 1] = {0};

	assert_int_equal(makecred_kdfa(TPM2_ALG_SHA1, key, 32, "X", NULL, 0, NULL, 0, 128, out),
			 AICERT_ERR_UNSUPPORTED);
	assert_int_equal(makecred_kdfa(TPM2_ALG_SHA256, key, 32, "X", NULL, 0, NULL, 0, 12, out),
			 AICERT_ERR_INVALID);
	assert_int_equal(makecred_kdfa(TPM2_ALG_SHA256, key, 32, "X", NULL, 0, NULL, 0, 0, out),
			 AICERT_ERR_INVALID);
	assert_int_equal(
		makecred_kdfa(TPM2_ALG_SHA256, key, 32, "X", big, sizeof(big), NULL, 0, 128, out),
		AICERT_ERR_TOO_BIG);
	assert_int_equal(
		makecred_kdfe(TPM2_ALG_SHA256, big, sizeof(big), "X", NULL, 0, NULL, 0, 128, out),
		AICERT_ERR_TOO_BIG);
}

/* ---- the reference ActivateCredential ------------------------------------------------- */

struct kat_cred {
	uint8_t buf[1024];
	const uint8_t *blob, *enc;
	size_t blob_len, enc_len;
};

static void parse_cred_file(const char *hex, struct kat_cred *c)
{
	size_t len = 0;

	assert_int_equal(hex_decode(hex, c->buf, sizeof(c->buf), &len), 0);
	assert_true(len > 12);
	assert_memory_equal(c->buf, "\xba\xdc\xc0\xde\x00\x00\x00\x01", 8);
	c->blob_len = (size_t)c->buf[8] << 8 | c->buf[9];
	c->blob = c->buf + 10;
	assert_true(10 + c->blob_len + 2 <= len);
	c->enc_len = (size_t)c->buf[10 + c->blob_len] << 8 | c->buf[11 + c->blob_len];
	c->enc = c->buf + 12 + c->blob_len;
	assert_int_equal(12 + c->blob_len + c->enc_len, len);
}

static const char *md_name(uint16_t alg)
{
	return alg == TPM2_ALG_SHA384 ? "SHA384" : "SHA256";
}

/* The seed, as the TPM recovers it with the EK's private key. */
static size_t ref_seed(EVP_PKEY *priv, const TPMT_PUBLIC *ek, const uint8_t *enc, size_t enc_len,
		       uint8_t *seed)
{
	size_t dsize = tpmkey_hash_size(ek->nameAlg), len = 512;

	if (ek->type == TPM2_ALG_RSA) {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(priv, NULL);
		uint8_t out[512];

		assert_int_equal(EVP_PKEY_decrypt_init(ctx), 1);
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING), 1);
		assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, md_name(ek->nameAlg), NULL),
				 1);
		assert_int_equal(
			EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, OPENSSL_memdup("IDENTITY", 9), 9), 1);
		assert_int_equal(EVP_PKEY_decrypt(ctx, out, &len, enc, enc_len), 1);
		EVP_PKEY_CTX_free(ctx);
		assert_int_equal(len, dsize);
		memcpy(seed, out, len);
		return len;
	} else {
		TPMS_ECC_POINT pt;
		TPMT_PUBLIC eph = *ek;
		EVP_PKEY *peer = NULL;
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(priv, NULL);
		uint8_t z[66], info[9 + 2 * 66];
		size_t off = 0, zlen = sizeof(z), n = ek->unique.ecc.x.size;

		assert_int_equal(Tss2_MU_TPMS_ECC_POINT_Unmarshal(enc, enc_len, &off, &pt), 0);
		assert_int_equal(off, enc_len);
		eph.unique.ecc = pt;
		assert_int_equal(tpmkey_to_evp(&eph, &peer), 0);
		assert_int_equal(EVP_PKEY_derive_init(ctx), 1);
		assert_int_equal(EVP_PKEY_derive_set_peer(ctx, peer), 1);
		assert_int_equal(EVP_PKEY_derive(ctx, z, &zlen), 1);
		memcpy(info, "IDENTITY", 9);
		memcpy(info + 9, pt.x.buffer, n);
		memcpy(info + 9 + n, ek->unique.ecc.x.buffer, n);
		ref_kdfe(md_name(ek->nameAlg), z, zlen, info, 9 + 2 * n, dsize, seed);
		EVP_PKEY_free(peer);
		EVP_PKEY_CTX_free(ctx);
		return dsize;
	}
}

/* Part 1 "Credential Protection", the TPM's side: check the HMAC over
 * encIdentity || name, decrypt, unmarshal the TPM2B_DIGEST. Returns the
 * secret's length, or -1 when the integrity check fails. */
static int ref_unwrap(const TPMT_PUBLIC *ek, const TPM2B_NAME *name, const uint8_t *seed,
		      size_t seed_len, const uint8_t *blob, size_t blob_len, uint8_t *secret)
{
	const char *md = md_name(ek->nameAlg);
	size_t dsize = tpmkey_hash_size(ek->nameAlg);
	uint16_t bits = ek->type == TPM2_ALG_RSA ? ek->parameters.rsaDetail.symmetric.keyBits.aes
						 : ek->parameters.eccDetail.symmetric.keyBits.aes;
	uint8_t hkey[64], mac[64], sym[32], msg[256], plain[128];
	static const uint8_t iv[16];
	unsigned int mac_len = 0;
	size_t enc_len;
	EVP_CIPHER_CTX *c;
	int n = 0;

	assert_true(blob_len > 2 + dsize);
	assert_int_equal((size_t)(blob[0] << 8 | blob[1]), dsize);
	enc_len = blob_len - 2 - dsize;
	ref_kdfa(md, seed, seed_len, "INTEGRITY", NULL, 0, dsize, hkey);
	memcpy(msg, blob + 2 + dsize, enc_len);
	memcpy(msg + enc_len, name->name, name->size);
	HMAC(EVP_get_digestbyname(md), hkey, (int)dsize, msg, enc_len + name->size, mac, &mac_len);
	if (memcmp(mac, blob + 2, dsize) != 0)
		return -1;
	ref_kdfa(md, seed, seed_len, "STORAGE", name->name, name->size, bits / 8, sym);
	c = EVP_CIPHER_CTX_new();
	assert_int_equal(EVP_DecryptInit_ex(c,
					    bits == 128   ? EVP_aes_128_cfb128()
					    : bits == 192 ? EVP_aes_192_cfb128()
							  : EVP_aes_256_cfb128(),
					    NULL, sym, iv),
			 1);
	assert_int_equal(EVP_DecryptUpdate(c, plain, &n, blob + 2 + dsize, (int)enc_len), 1);
	EVP_CIPHER_CTX_free(c);
	assert_int_equal((size_t)n, enc_len);
	assert_int_equal((size_t)(plain[0] << 8 | plain[1]) + 2, enc_len);
	memcpy(secret, plain + 2, enc_len - 2);
	return (int)enc_len - 2;
}

/* ---- known answers from tpm2-tools ------------------------------------------------------- */

static void check_kat(EVP_PKEY *key, uint16_t name_alg, uint16_t sym_bits, const char *cred_hex)
{
	struct kat_cred c;
	TPMT_PUBLIC ek;
	TPM2B_NAME name;
	uint8_t seed[64], *blob = NULL, secret[64];
	size_t seed_len, blob_len = 0;

	ek_public(key, name_alg, sym_bits, &ek);
	name_of(kat_name, sizeof(kat_name), &name);
	parse_cred_file(cred_hex, &c);
	seed_len = ref_seed(key, &ek, c.enc, c.enc_len, seed);
	/* Our blob from tpm2-tools' seed is tpm2-tools' blob. */
	assert_int_equal(makecred_wrap(&ek, &name, seed, seed_len, kat_secret, sizeof(kat_secret),
				       &blob, &blob_len),
			 0);
	assert_int_equal(blob_len, c.blob_len);
	assert_memory_equal(blob, c.blob, blob_len);
	/* And the reference unwrap agrees with both. */
	assert_int_equal(ref_unwrap(&ek, &name, seed, seed_len, c.blob, c.blob_len, secret),
			 (int)sizeof(kat_secret));
	assert_memory_equal(secret, kat_secret, sizeof(kat_secret));
	free(blob);
}

static void makecred_wrap_matches_tpm2_tools_rsa2048_sha256(void **state)
{
	check_kat(rsa_key, TPM2_ALG_SHA256, 128, kat_rsa_cred);
}

static void makecred_wrap_matches_tpm2_tools_p384_sha384(void **state)
{
	check_kat(p384_key, TPM2_ALG_SHA384, 256, kat_p384_cred);
}

/* ---- round trips through the reference ActivateCredential ------------------------------ */

static void round_trip(EVP_PKEY *key, uint16_t name_alg, uint16_t sym_bits, size_t secret_len)
{
	uint8_t secret[64], got[64], seed[64], *blob = NULL, *enc = NULL;
	size_t blob_len = 0, enc_len = 0, seed_len;
	TPMT_PUBLIC ek;
	TPM2B_NAME name, other;

	ek_public(key, name_alg, sym_bits, &ek);
	name_of(kat_name, sizeof(kat_name), &name);
	other = name;
	other.name[5] ^= 1;
	assert_int_equal(RAND_bytes(secret, (int)secret_len), 1);
	assert_int_equal(
		makecred_make(&ek, &name, secret, secret_len, &blob, &blob_len, &enc, &enc_len), 0);
	if (ek.type == TPM2_ALG_ECC)
		assert_int_equal(enc_len, 4 + 2 * (size_t)ek.unique.ecc.x.size);
	else
		assert_int_equal(enc_len, ek.unique.rsa.size);
	seed_len = ref_seed(key, &ek, enc, enc_len, seed);
	assert_int_equal(ref_unwrap(&ek, &name, seed, seed_len, blob, blob_len, got),
			 (int)secret_len);
	assert_memory_equal(got, secret, secret_len);
	/* The blob is bound to the name: another object's name fails the HMAC. */
	assert_int_equal(ref_unwrap(&ek, &other, seed, seed_len, blob, blob_len, got), -1);
	free(blob);
	free(enc);
}

static void makecred_round_trips_rsa2048_sha256_aes128(void **state)
{
	round_trip(rsa_key, TPM2_ALG_SHA256, 128, 32);
}

static void makecred_round_trips_rsa2048_sha384_aes256(void **state)
{
	round_trip(rsa_key, TPM2_ALG_SHA384, 256, 48);
}

static void makecred_round_trips_p384_sha384_aes256(void **state)
{
	round_trip(p384_key, TPM2_ALG_SHA384, 256, 32);
}

static void makecred_round_trips_p256_sha256_aes128(void **state)
{
	round_trip(p256_key, TPM2_ALG_SHA256, 128, 1);
}

static void makecred_uses_a_fresh_seed_each_time(void **state)
{
	uint8_t *b1 = NULL, *b2 = NULL, *e1 = NULL, *e2 = NULL;
	size_t l1, l2, m1, m2;
	TPMT_PUBLIC ek;
	TPM2B_NAME name;

	ek_public(p384_key, TPM2_ALG_SHA384, 256, &ek);
	name_of(kat_name, sizeof(kat_name), &name);
	assert_int_equal(makecred_make(&ek, &name, kat_secret, 32, &b1, &l1, &e1, &m1), 0);
	assert_int_equal(makecred_make(&ek, &name, kat_secret, 32, &b2, &l2, &e2, &m2), 0);
	assert_int_equal(l1, l2);
	assert_memory_not_equal(b1, b2, l1);
	assert_memory_not_equal(e1, e2, m1);
	free(b1);
	free(b2);
	free(e1);
	free(e2);
}

static void makecred_rejects_what_no_tpm_would_activate(void **state)
{
	uint8_t *blob = NULL, *enc = NULL, secret[49] = {0};
	size_t bl, el;
	TPMT_PUBLIC ek, bad;
	TPM2B_NAME name, bad_name;

	ek_public(rsa_key, TPM2_ALG_SHA256, 128, &ek);
	name_of(kat_name, sizeof(kat_name), &name);
	/* A secret longer than the EK's nameAlg digest, or empty. */
	assert_int_equal(makecred_make(&ek, &name, secret, 33, &blob, &bl, &enc, &el),
			 AICERT_ERR_INVALID);
	assert_int_equal(makecred_make(&ek, &name, secret, 0, &blob, &bl, &enc, &el),
			 AICERT_ERR_INVALID);
	/* A signing key, not a restricted decryption key. */
	bad = ek;
	bad.objectAttributes =
		(ek.objectAttributes & ~TPMA_OBJECT_DECRYPT) | TPMA_OBJECT_SIGN_ENCRYPT;
	assert_int_equal(makecred_make(&bad, &name, secret, 32, &blob, &bl, &enc, &el),
			 AICERT_ERR_INVALID);
	bad = ek;
	bad.objectAttributes &= ~TPMA_OBJECT_RESTRICTED;
	assert_int_equal(makecred_make(&bad, &name, secret, 32, &blob, &bl, &enc, &el),
			 AICERT_ERR_INVALID);
	/* No symmetric algorithm to protect the credential with. */
	bad = ek;
	bad.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
	assert_int_equal(makecred_make(&bad, &name, secret, 32, &blob, &bl, &enc, &el),
			 AICERT_ERR_UNSUPPORTED);
	/* Names: too short, SHA-1, a size that is not its algorithm's. */
	name_of((const uint8_t *)"\x00", 1, &bad_name);
	assert_int_equal(makecred_make(&ek, &bad_name, secret, 32, &blob, &bl, &enc, &el),
			 AICERT_ERR_INVALID);
	name_of((const uint8_t *)"\x00\x04"
				 "01234567890123456789",
		22, &bad_name);
	assert_int_equal(makecred_make(&ek, &bad_name, secret, 32, &blob, &bl, &enc, &el),
			 AICERT_ERR_INVALID);
	name_of(kat_name, sizeof(kat_name) - 1, &bad_name);
	assert_int_equal(makecred_make(&ek, &bad_name, secret, 32, &blob, &bl, &enc, &el),
			 AICERT_ERR_INVALID);
	assert_null(blob);
	assert_null(enc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(makecred_kdfa_matches_openssl_kbkdf),
		cmocka_unit_test(makecred_kdfa_takes_empty_contexts),
		cmocka_unit_test(makecred_kdfe_matches_openssl_sskdf),
		cmocka_unit_test(makecred_kdfs_reject_bad_arguments),
		cmocka_unit_test(makecred_wrap_matches_tpm2_tools_rsa2048_sha256),
		cmocka_unit_test(makecred_wrap_matches_tpm2_tools_p384_sha384),
		cmocka_unit_test(makecred_round_trips_rsa2048_sha256_aes128),
		cmocka_unit_test(makecred_round_trips_rsa2048_sha384_aes256),
		cmocka_unit_test(makecred_round_trips_p384_sha384_aes256),
		cmocka_unit_test(makecred_round_trips_p256_sha256_aes128),
		cmocka_unit_test(makecred_uses_a_fresh_seed_each_time),
		cmocka_unit_test(makecred_rejects_what_no_tpm_would_activate),
	};

	return cmocka_run_group_tests_name("makecred", tests, group_setup, group_teardown);
}
