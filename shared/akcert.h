/* aicert's AK certificates: what the attestation CA writes and what a
 * verifier requires of them.
 *
 * An AK certificate is an X.509 v3 certificate for the AK's public key with
 * extended key usage tcg-kp-AIKCertificate, and a subjectAltName otherName
 * hardwareModuleName (RFC 4108) { hwType TPM 2.0, hwSerialNum = SHA-256 of
 * the EK certificate's DER } that names the TPM holding the key.
 */
#ifndef AICERT_AKCERT_H
#define AICERT_AKCERT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/types.h>
#include <tss2/tss2_tpm2_types.h>

#define AKCERT_OID_AK_CERTIFICATE "2.23.133.8.3"      /* tcg-kp-AIKCertificate */
#define AKCERT_OID_HW_MODULE_NAME "1.3.6.1.5.5.7.8.4" /* id-on-hardwareModuleName */
#define AKCERT_OID_HWTYPE_TPM20   "2.23.133.1.2"      /* TCG: TPM 2.0 */
/* Longest chain from an AK certificate to an anchor. */
#define AKCERT_MAX_DEPTH 4

/* The DER of HardwareModuleName { TPM 2.0, SHA-256(ek_der) }: the only form
 * aicert writes and reads. */
#define AKCERT_HWMOD_LEN (11 + 32)
int akcert_hwmod_der(const uint8_t *ek_der, size_t ek_len, uint8_t out[AKCERT_HWMOD_LEN]);

/* The EK certificate digest an AK certificate names: exactly one
 * hardwareModuleName of the form above. AICERT_ERR_INVALID otherwise. */
int akcert_ek_digest(const X509 *ak_cert, uint8_t digest[32]);

/* Verifies ak_cert: a chain to one of anchors (with untrusted
 * intermediates, NULL for none) valid at `at`, the tcg-kp-AIKCertificate
 * EKU, a hardwareModuleName, and, when ak is not NULL, that its key is the
 * AK's. AICERT_ERR_REJECTED with the failed step. */
int akcert_verify(X509 *ak_cert, STACK_OF(X509) * anchors, STACK_OF(X509) * untrusted,
		  const TPMT_PUBLIC *ak, time_t at);

#endif
