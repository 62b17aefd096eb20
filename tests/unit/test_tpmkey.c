/* Unit tests for TPM public keys and OpenSSL: TPMT_PUBLIC parsing, the
 * conversions to and from EVP_PKEY and PEM, Names, AK attributes.
 *
 * Keys are made with OpenSSL; their TPMT_PUBLIC is filled and marshalled
 * here with tss2-mu, so that the parser meets the TPM wire format rather than
 * its own encoder's output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <tss2/tss2_mu.h>

#include "err.h"
#include "tpmkey.h"

#define AK_ATTRS                                                                                   \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |        \
	 TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT)

static EVP_PKEY *rsa2048;
static EVP_PKEY *rsa2048b;
static EVP_PKEY *p256;
static EVP_PKEY *p384;

static int group_setup(void **state)
{
	rsa2048 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	rsa2048b = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	return rsa2048 && rsa2048b && p256 && p384 ? 0 : -1;
}

static int group_teardown(void **state)
{
	EVP_PKEY_free(rsa2048);
	EVP_PKEY_free(rsa2048b);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(p384);
	return 0;
}

/* Fills a TPMT_PUBLIC by hand (not with tpmkey_from_evp()) from pkey. */
static void fill_public(EVP_PKEY *pkey, TPMT_PUBLIC *pub)
{
	BIGNUM *a = NULL;
	BIGNUM *b = NULL;

	memset(pub, 0, sizeof(*pub));
	pub->nameAlg = TPM2_ALG_SHA256;
	pub->objectAttributes = AK_ATTRS;
	if (EVP_PKEY_is_a(pkey, "RSA")) {
		pub->type = TPM2_ALG_RSA;
		pub->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
		pub->parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
		pub->parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
		pub->parameters.rsaDetail.keyBits = 2048;
		assert_int_equal(EVP_PKEY_get_bn_param(pkey, "n", &a), 1);
		pub->unique.rsa.size = 256;
		assert_int_equal(BN_bn2binpad(a, pub->unique.rsa.buffer, 256), 256);
	} else {
		int bytes = EVP_PKEY_get_bits(pkey) / 8;

		pub->type = TPM2_ALG_ECC;
		pub->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
		pub->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
		pub->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
		pub->parameters.eccDetail.curveID =
			bytes == 32 ? TPM2_ECC_NIST_P256 : TPM2_ECC_NIST_P384;
		pub->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
		assert_int_equal(EVP_PKEY_get_bn_param(pkey, "qx", &a), 1);
		assert_int_equal(EVP_PKEY_get_bn_param(pkey, "qy", &b), 1);
		pub->unique.ecc.x.size = (UINT16)bytes;
		pub->unique.ecc.y.size = (UINT16)bytes;
		assert_int_equal(BN_bn2binpad(a, pub->unique.ecc.x.buffer, bytes), bytes);
		assert_int_equal(BN_bn2binpad(b, pub->unique.ecc.y.buffer, bytes), bytes);
	}
	BN_free(a);
	BN_free(b);
}

static size_t marshal(const TPMT_PUBLIC *pub, uint8_t *buf, size_t cap)
{
	size_t off = 0;

	assert_int_equal(Tss2_MU_TPMT_PUBLIC_Marshal(pub, buf, cap, &off), TSS2_RC_SUCCESS);
	return off;
}

static EVP_PKEY *pem_to_evp(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);

	BIO_free(bio);
	assert_non_null(pkey);
	return pkey;
}

static void round_trip(EVP_PKEY *orig)
{
	uint8_t buf[sizeof(TPMT_PUBLIC)];
	uint8_t again[sizeof(TPMT_PUBLIC)];
	TPMT_PUBLIC pub, parsed, from;
	EVP_PKEY *pkey = NULL;
	EVP_PKEY *from_pem;
	char *pem = NULL;
	size_t len, len2;

	fill_public(orig, &pub);
	len = marshal(&pub, buf, sizeof(buf));
	assert_int_equal(tpmkey_parse_public(buf, len, &parsed), 0);
	assert_int_equal(tpmkey_marshal_public(&parsed, again, sizeof(again), &len2), 0);
	assert_memory_equal(buf, again, len);
	assert_int_equal(len, len2);

	assert_int_equal(tpmkey_to_evp(&parsed, &pkey), 0);
	assert_int_equal(EVP_PKEY_eq(pkey, orig), 1);
	assert_int_equal(tpmkey_check_evp(&parsed, orig), 0);

	assert_int_equal(tpmkey_to_pem(&parsed, &pem), 0);
	assert_non_null(strstr(pem, "-----BEGIN PUBLIC KEY-----"));
	from_pem = pem_to_evp(pem);
	assert_int_equal(EVP_PKEY_eq(from_pem, orig), 1);

	/* tpmkey_from_evp() writes the same public area as the hand-made one,
	 * but for P-384, whose scheme it pairs with SHA-384. */
	assert_int_equal(tpmkey_from_evp(orig, AK_ATTRS, &from), 0);
	if (EVP_PKEY_get_bits(orig) == 384)
		from.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	len2 = marshal(&from, again, sizeof(again));
	assert_int_equal(len, len2);
	assert_memory_equal(buf, again, len);

	EVP_PKEY_free(from_pem);
	EVP_PKEY_free(pkey);
	free(pem);
}

static void tpmkey_round_trips_rsa2048(void **state)
{
	round_trip(rsa2048);
}

static void tpmkey_round_trips_p256(void **state)
{
	round_trip(p256);
}

static void tpmkey_round_trips_p384(void **state)
{
	round_trip(p384);
}

static void tpmkey_reads_explicit_exponent_65537(void **state)
{
	TPMT_PUBLIC pub;
	EVP_PKEY *pkey = NULL;

	fill_public(rsa2048, &pub);
	pub.parameters.rsaDetail.exponent = 65537;
	assert_int_equal(tpmkey_to_evp(&pub, &pkey), 0);
	assert_int_equal(EVP_PKEY_eq(pkey, rsa2048), 1);
	EVP_PKEY_free(pkey);
	/* Another exponent is another key. */
	pub.parameters.rsaDetail.exponent = 3;
	assert_int_equal(tpmkey_check_evp(&pub, rsa2048), AICERT_ERR_REJECTED);
}

static void tpmkey_name_is_namealg_and_digest_of_public(void **state)
{
	uint8_t buf[sizeof(TPMT_PUBLIC)];
	uint8_t want[2 + SHA384_DIGEST_LENGTH];
	TPMT_PUBLIC pub;
	TPM2B_NAME name;
	size_t len;

	fill_public(p256, &pub);
	len = marshal(&pub, buf, sizeof(buf));
	want[0] = 0x00;
	want[1] = 0x0b;
	SHA256(buf, len, want + 2);
	assert_int_equal(tpmkey_name(&pub, &name), 0);
	assert_int_equal(name.size, 2 + SHA256_DIGEST_LENGTH);
	assert_memory_equal(name.name, want, name.size);

	pub.nameAlg = TPM2_ALG_SHA384;
	len = marshal(&pub, buf, sizeof(buf));
	want[1] = 0x0c;
	SHA384(buf, len, want + 2);
	assert_int_equal(tpmkey_name(&pub, &name), 0);
	assert_int_equal(name.size, 2 + SHA384_DIGEST_LENGTH);
	assert_memory_equal(name.name, want, name.size);
}

static void tpmkey_parse_rejects_every_truncation(void **state)
{
	EVP_PKEY *keys[] = {rsa2048, p256};
	uint8_t buf[sizeof(TPMT_PUBLIC) + 1];
	TPMT_PUBLIC pub, out;

	for (size_t k = 0; k < 2; k++) {
		size_t len;

		fill_public(keys[k], &pub);
		len = marshal(&pub, buf, sizeof(buf));
		for (size_t i = 0; i < len; i++)
			assert_int_equal(tpmkey_parse_public(buf, i, &out), AICERT_ERR_INVALID);
		buf[len] = 0;
		assert_int_equal(tpmkey_parse_public(buf, len + 1, &out), AICERT_ERR_INVALID);
		assert_non_null(strstr(err_msg(AICERT_ERR_INVALID), "trailing"));
		assert_int_equal(tpmkey_parse_public(buf, len, &out), 0);
	}
}

static int parse_modified(EVP_PKEY *pkey, void (*modify)(TPMT_PUBLIC *))
{
	uint8_t buf[sizeof(TPMT_PUBLIC)];
	TPMT_PUBLIC pub, out;
	size_t len;

	fill_public(pkey, &pub);
	modify(&pub);
	len = marshal(&pub, buf, sizeof(buf));
	return tpmkey_parse_public(buf, len, &out);
}

static void mod_p521(TPMT_PUBLIC *pub)
{
	pub->parameters.eccDetail.curveID = TPM2_ECC_NIST_P521;
	pub->unique.ecc.x.size = pub->unique.ecc.y.size = 66;
}

static void mod_bn_p256(TPMT_PUBLIC *pub)
{
	pub->parameters.eccDetail.curveID = TPM2_ECC_BN_P256;
}

static void mod_short_x(TPMT_PUBLIC *pub)
{
	pub->unique.ecc.x.size = 31;
}

static void mod_rsa1024(TPMT_PUBLIC *pub)
{
	pub->parameters.rsaDetail.keyBits = 1024;
	pub->unique.rsa.size = 128;
}

static void mod_rsa_short_modulus(TPMT_PUBLIC *pub)
{
	pub->unique.rsa.size = 255;
}

static void mod_rsa_top_bit(TPMT_PUBLIC *pub)
{
	pub->unique.rsa.buffer[0] &= 0x7f;
}

static void mod_rsa_even_exponent(TPMT_PUBLIC *pub)
{
	pub->parameters.rsaDetail.exponent = 65536;
}

static void mod_sha1_name(TPMT_PUBLIC *pub)
{
	pub->nameAlg = TPM2_ALG_SHA1;
}

static void mod_policy_size(TPMT_PUBLIC *pub)
{
	pub->authPolicy.size = 20;
}

static void mod_keyedhash(TPMT_PUBLIC *pub)
{
	memset(&pub->parameters, 0, sizeof(pub->parameters));
	memset(&pub->unique, 0, sizeof(pub->unique));
	pub->type = TPM2_ALG_KEYEDHASH;
	pub->parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
	pub->unique.keyedHash.size = 32;
}

static void tpmkey_parse_rejects_unsupported_keys(void **state)
{
	assert_int_equal(parse_modified(p256, mod_p521), AICERT_ERR_UNSUPPORTED);
	assert_int_equal(parse_modified(p256, mod_bn_p256), AICERT_ERR_UNSUPPORTED);
	assert_int_equal(parse_modified(rsa2048, mod_rsa1024), AICERT_ERR_UNSUPPORTED);
	assert_int_equal(parse_modified(rsa2048, mod_sha1_name), AICERT_ERR_UNSUPPORTED);
	assert_int_equal(parse_modified(rsa2048, mod_keyedhash), AICERT_ERR_UNSUPPORTED);
}

static void tpmkey_parse_rejects_inconsistent_sizes(void **state)
{
	assert_int_equal(parse_modified(p256, mod_short_x), AICERT_ERR_INVALID);
	assert_int_equal(parse_modified(rsa2048, mod_rsa_short_modulus), AICERT_ERR_INVALID);
	assert_int_equal(parse_modified(rsa2048, mod_rsa_top_bit), AICERT_ERR_INVALID);
	assert_int_equal(parse_modified(rsa2048, mod_rsa_even_exponent), AICERT_ERR_INVALID);
	assert_int_equal(parse_modified(p256, mod_policy_size), AICERT_ERR_INVALID);
}

static void tpmkey_rejects_point_not_on_curve(void **state)
{
	uint8_t buf[sizeof(TPMT_PUBLIC)];
	TPMT_PUBLIC pub, parsed;
	EVP_PKEY *pkey = NULL;
	char *pem = NULL;
	size_t len;

	fill_public(p256, &pub);
	pub.unique.ecc.y.buffer[31] ^= 1;
	len = marshal(&pub, buf, sizeof(buf));
	/* Structurally fine: the curve is checked when the key is used. */
	assert_int_equal(tpmkey_parse_public(buf, len, &parsed), 0);
	assert_int_equal(tpmkey_to_evp(&parsed, &pkey), AICERT_ERR_INVALID);
	assert_null(pkey);
	/* OpenSSL's own words are kept in the message. */
	assert_non_null(strstr(err_msg(AICERT_ERR_INVALID), "not on curve"));
	assert_int_equal(tpmkey_to_pem(&parsed, &pem), AICERT_ERR_INVALID);
	assert_null(pem);
	assert_int_equal(tpmkey_check_evp(&parsed, p256), AICERT_ERR_INVALID);
}

static void tpmkey_check_evp_rejects_other_keys(void **state)
{
	TPMT_PUBLIC pub;

	fill_public(p256, &pub);
	assert_int_equal(tpmkey_check_evp(&pub, p384), AICERT_ERR_REJECTED);
	assert_int_equal(tpmkey_check_evp(&pub, rsa2048), AICERT_ERR_REJECTED);
	fill_public(rsa2048, &pub);
	assert_int_equal(tpmkey_check_evp(&pub, rsa2048b), AICERT_ERR_REJECTED);
	assert_int_equal(tpmkey_check_evp(&pub, p256), AICERT_ERR_REJECTED);
}

static void tpmkey_accepts_odd_modulus_deterministically(void **state)
{
	TPMT_PUBLIC pub;
	EVP_PKEY *pkey = NULL;

	/* A modulus with one bit flipped is still odd and 2048 bits long: it
	 * converts, always (OpenSSL's randomised RSA check is not used), and is
	 * simply another key. */
	fill_public(rsa2048, &pub);
	pub.unique.rsa.buffer[100] ^= 0x10;
	for (int i = 0; i < 20; i++) {
		assert_int_equal(tpmkey_to_evp(&pub, &pkey), 0);
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	assert_int_equal(tpmkey_check_evp(&pub, rsa2048), AICERT_ERR_REJECTED);
}

static void tpmkey_ak_attributes_name_what_is_missing(void **state)
{
	static const struct {
		TPMA_OBJECT clear, set;
		const char *name;
	} cases[] = {
		{TPMA_OBJECT_FIXEDTPM, 0, "fixedTPM"},
		{TPMA_OBJECT_FIXEDPARENT, 0, "fixedParent"},
		{TPMA_OBJECT_SENSITIVEDATAORIGIN, 0, "sensitiveDataOrigin"},
		{TPMA_OBJECT_RESTRICTED, 0, "restricted"},
		{TPMA_OBJECT_SIGN_ENCRYPT, 0, "sign"},
		{0, TPMA_OBJECT_DECRYPT, "decrypt"},
	};
	TPMT_PUBLIC pub;

	fill_public(p256, &pub);
	assert_int_equal(tpmkey_check_ak_attributes(&pub), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pub.objectAttributes = (AK_ATTRS & ~cases[i].clear) | cases[i].set;
		assert_int_equal(tpmkey_check_ak_attributes(&pub), AICERT_ERR_REJECTED);
		assert_non_null(strstr(err_msg(AICERT_ERR_REJECTED), cases[i].name));
	}
}

static void tpmkey_hash_knows_tpm_algorithms(void **state)
{
	TPM2B_DIGEST d;
	uint8_t want[SHA256_DIGEST_LENGTH];

	assert_int_equal(tpmkey_hash_size(TPM2_ALG_SHA1), 20);
	assert_int_equal(tpmkey_hash_size(TPM2_ALG_SHA512), 64);
	assert_int_equal(tpmkey_hash_size(TPM2_ALG_SM3_256), 0);
	assert_null(tpmkey_hash_md(TPM2_ALG_SM3_256));
	assert_string_equal(tpmkey_hash_name(TPM2_ALG_SHA384), "sha384");
	assert_int_equal(tpmkey_hash(TPM2_ALG_SHA256, (const uint8_t *)"abc", 3, &d), 0);
	SHA256((const uint8_t *)"abc", 3, want);
	assert_int_equal(d.size, 32);
	assert_memory_equal(d.buffer, want, 32);
	assert_int_equal(tpmkey_hash(0x1234, (const uint8_t *)"abc", 3, &d),
			 AICERT_ERR_UNSUPPORTED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tpmkey_round_trips_rsa2048),
		cmocka_unit_test(tpmkey_round_trips_p256),
		cmocka_unit_test(tpmkey_round_trips_p384),
		cmocka_unit_test(tpmkey_reads_explicit_exponent_65537),
		cmocka_unit_test(tpmkey_name_is_namealg_and_digest_of_public),
		cmocka_unit_test(tpmkey_parse_rejects_every_truncation),
		cmocka_unit_test(tpmkey_parse_rejects_unsupported_keys),
		cmocka_unit_test(tpmkey_parse_rejects_inconsistent_sizes),
		cmocka_unit_test(tpmkey_rejects_point_not_on_curve),
		cmocka_unit_test(tpmkey_check_evp_rejects_other_keys),
		cmocka_unit_test(tpmkey_accepts_odd_modulus_deterministically),
		cmocka_unit_test(tpmkey_ak_attributes_name_what_is_missing),
		cmocka_unit_test(tpmkey_hash_knows_tpm_algorithms),
	};

	/* tss2-mu logs every malformed input it meets: keep the output for
	 * the test's own. */
	setenv("TSS2_LOG", "all+NONE", 1);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
