/* TPM public keys (TPMT_PUBLIC) and OpenSSL 3, in both directions.
 *
 * Everything here may see untrusted bytes: an AK or EK public area from a
 * peer or a proof. tpmkey_parse_public() accepts exactly one marshalled
 * TPMT_PUBLIC with nothing after it, and only what aicert uses:
 *   - RSA keys of 2048, 3072 or 4096 bits (an exponent of 0 means 65537);
 *   - ECC keys on NIST P-256 or P-384, with both coordinates at the full
 *     size of the curve (as the TPM writes them);
 *   - nameAlg SHA-256 or SHA-384, and an authPolicy that is empty or of the
 *     nameAlg's size.
 * The other functions check the same on the structs they are given, so a
 * TPMT_PUBLIC filled by hand meets the same rules.
 *
 * This module is also where TPM algorithm numbers meet OpenSSL digests, and
 * where the OpenSSL error queue becomes an aicert error message.
 */
#ifndef AICERT_TPMKEY_H
#define AICERT_TPMKEY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>
#include <tss2/tss2_tpm2_types.h>

/* Parses buf as one marshalled TPMT_PUBLIC (TPM wire format, the contents of
 * a TPM2B_PUBLIC without its size). AICERT_ERR_INVALID for a truncated or
 * malformed structure or trailing bytes, AICERT_ERR_UNSUPPORTED for a key
 * type, size, curve or name algorithm outside the list above. */
int tpmkey_parse_public(const uint8_t *buf, size_t len, TPMT_PUBLIC *out);

/* Marshals pub into buf (capacity cap) after the same checks as parsing. */
int tpmkey_marshal_public(const TPMT_PUBLIC *pub, uint8_t *buf, size_t cap, size_t *len);

/* The key of pub as an OpenSSL public key. The RSA modulus must be odd and
 * have exactly keyBits bits (the checks are deterministic: OpenSSL's RSA
 * public check is not, and is not used); the ECC point must pass OpenSSL's
 * public key check (on the curve, of the group's order). *ret is the
 * caller's, to free with EVP_PKEY_free(). */
int tpmkey_to_evp(const TPMT_PUBLIC *pub, EVP_PKEY **ret);

/* The key of pub as a PEM SubjectPublicKeyInfo ("BEGIN PUBLIC KEY"), NUL
 * terminated. *pem is malloc'd; the caller frees it with free(). */
int tpmkey_to_pem(const TPMT_PUBLIC *pub, char **pem);

/* Fills *out from an OpenSSL RSA (2048/3072/4096) or EC (P-256/P-384) key:
 * nameAlg SHA-256, the given object attributes, an empty authPolicy, no
 * symmetric algorithm, and when attributes has TPMA_OBJECT_SIGN_ENCRYPT the
 * scheme RSASSA-SHA256, ECDSA-SHA256 (P-256) or ECDSA-SHA384 (P-384),
 * otherwise the NULL scheme. An exponent of 65537 is written as 0. For
 * tests and tools; a TPM makes its own public areas. */
int tpmkey_from_evp(const EVP_PKEY *pkey, TPMA_OBJECT attributes, TPMT_PUBLIC *out);

#define TPMKEY_NAME_MAX (2 + TPM2_SHA384_DIGEST_SIZE)

/* The TPM Name of pub: nameAlg (big endian) || H_nameAlg(marshalled pub). */
int tpmkey_name(const TPMT_PUBLIC *pub, TPM2B_NAME *out);

/* Checks the attributes of an attestation key: fixedTPM, fixedParent,
 * sensitiveDataOrigin, restricted and sign set, decrypt clear. Returns 0, or
 * AICERT_ERR_REJECTED with a message naming the first attribute that is
 * wrong. */
int tpmkey_check_ak_attributes(const TPMT_PUBLIC *pub);

/* Checks that pkey (e.g. the key of an EK or AK certificate) is the key of
 * pub. Returns 0 when they are the same key, AICERT_ERR_REJECTED when they
 * differ (other type, curve, modulus, exponent or point), and an error of
 * tpmkey_to_evp() when pub is not a usable key. */
int tpmkey_check_evp(const TPMT_PUBLIC *pub, const EVP_PKEY *pkey);

/* TPM hash algorithms: SHA-1, SHA-256, SHA-384 and SHA-512 are known.
 * tpmkey_hash_md() returns NULL and tpmkey_hash_size() 0 for any other;
 * tpmkey_hash_name() returns "sha256" and so on, or "unknown". Knowing an
 * algorithm is not accepting it: callers decide, and SHA-1 is never the
 * basis of a decision. */
const EVP_MD *tpmkey_hash_md(uint32_t hash_alg);
size_t tpmkey_hash_size(uint32_t hash_alg);
const char *tpmkey_hash_name(uint32_t hash_alg);

/* Hashes len bytes of buf with hash_alg into out (TPM2B_DIGEST). */
int tpmkey_hash(uint32_t hash_alg, const uint8_t *buf, size_t len, TPM2B_DIGEST *out);

/* A few words on why a Tss2_MU_*_Unmarshal failed ("truncated", ...), for
 * messages about untrusted bytes. */
const char *tpmkey_mu_reason(TSS2_RC rc);

/* The one place where the OpenSSL error queue becomes a message: records
 * "<fmt...>: <OpenSSL's errors, oldest first>" (or just "<fmt...>" when the
 * queue is empty) with err_set(), empties the queue and returns code. */
int tpmkey_err_openssl(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
