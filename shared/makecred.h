/* TPM2_MakeCredential in software (OpenSSL 3), for the attestation CA.
 *
 * MakeCredential encrypts a small secret so that only a TPM holding the
 * endorsement key (EK) can recover it, and only by naming an object loaded
 * on that same TPM (the AK): TPM2_ActivateCredential(AK, EK, blob, secret)
 * returns it. The rules are TPM 2.0 Part 1, "Credential Protection",
 * "Secret Sharing" (RSA-OAEP and ECDH with KDFe) and "KDFa"/"KDFe":
 *
 *	seed       RSA EK: random, nameAlg's digest size, sent as
 *	                   RSA-OAEP(EK, hash = MGF1 hash = nameAlg, label "IDENTITY\0")
 *	           ECC EK: KDFe(nameAlg, Z, "IDENTITY", Qe.x, EK.x, digest bits),
 *	                   Z = x of ECDH(ephemeral, EK); sent as the marshalled
 *	                   ephemeral TPMS_ECC_POINT Qe
 *	symKey     KDFa(nameAlg, seed, "STORAGE", name, "", EK's symmetric key bits)
 *	encIdentity AES-CFB(symKey, IV 0, marshalled TPM2B_DIGEST of the secret)
 *	HMACkey    KDFa(nameAlg, seed, "INTEGRITY", "", "", digest bits)
 *	integrity  HMAC(nameAlg, HMACkey, encIdentity || name)
 *	blob       TPM2B_DIGEST(integrity) || encIdentity
 *
 * Seeds and derived keys are wiped (OPENSSL_cleanse) before they are freed.
 */
#ifndef AICERT_MAKECRED_H
#define AICERT_MAKECRED_H

#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

/* The largest label makecred_kdfa() and makecred_kdfe() take, without the
 * terminating zero octet they add. */
#define MAKECRED_LABEL_MAX 32
/* The largest context (contextU, contextV, partyUInfo, partyVInfo) and
 * shared secret Z they take. */
#define MAKECRED_CONTEXT_MAX 128
/* The most output they produce per call. */
#define MAKECRED_KDF_MAX_BITS 4096

/* Makes a credential for the object named ak_name (TPM2B_NAME contents:
 * nameAlg || digest) on the TPM holding ek. ek must be a restricted
 * decryption key (RSA, or ECC on P-256/P-384) with an AES-CFB symmetric
 * algorithm and nameAlg SHA-256 or SHA-384, as EKs are; secret is 1 to
 * the nameAlg's digest size bytes. On success *credential_blob (the
 * contents of TPM2B_ID_OBJECT) and *encrypted_secret (the contents of
 * TPM2B_ENCRYPTED_SECRET) are the caller's, to free with free(); they are
 * what aicert.v1.ActivateCredentialRequest carries. AICERT_ERR_INVALID or
 * AICERT_ERR_UNSUPPORTED for an EK, name or secret outside these rules. */
int makecred_make(const TPMT_PUBLIC *ek, const TPM2B_NAME *ak_name, const uint8_t *secret,
		  size_t secret_len, uint8_t **credential_blob, size_t *blob_len,
		  uint8_t **encrypted_secret, size_t *enc_len);

/* The credential blob for a given seed: everything of makecred_make() after
 * the seed was chosen and shared. Exposed for known-answer tests (a seed
 * recovered from another implementation's encrypted secret). */
int makecred_wrap(const TPMT_PUBLIC *ek, const TPM2B_NAME *ak_name, const uint8_t *seed,
		  size_t seed_len, const uint8_t *secret, size_t secret_len,
		  uint8_t **credential_blob, size_t *blob_len);

/* KDFa (Part 1, SP 800-108 counter mode with HMAC): for i = 1, 2, ...
 * HMAC(key, [i]32 || label || 0x00 || contextU || contextV || [bits]32),
 * concatenated and cut to bits, which must be a multiple of 8 (1 to
 * MAKECRED_KDF_MAX_BITS). out holds bits / 8 bytes. hash_alg is a TPM
 * algorithm number: SHA-256, SHA-384 or SHA-512. */
int makecred_kdfa(uint16_t hash_alg, const uint8_t *key, size_t key_len, const char *label,
		  const uint8_t *context_u, size_t u_len, const uint8_t *context_v, size_t v_len,
		  size_t bits, uint8_t *out);

/* KDFe (Part 1, SP 800-56A concatenation KDF): for i = 1, 2, ...
 * H([i]32 || Z || label || 0x00 || partyUInfo || partyVInfo), concatenated
 * and cut to bits. Same limits as makecred_kdfa(). */
int makecred_kdfe(uint16_t hash_alg, const uint8_t *z, size_t z_len, const char *label,
		  const uint8_t *party_u, size_t u_len, const uint8_t *party_v, size_t v_len,
		  size_t bits, uint8_t *out);

#endif
