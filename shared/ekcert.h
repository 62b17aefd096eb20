/* Endorsement key certificates: strict parsing, chain verification against
 * roots a verifier chose, the TCG extended key usage, and the binding of
 * the certificate to the TPM's EK public area.
 *
 * Used by enrollment (controller/enroll.c) and by the offline verifier. The
 * bytes come from a TPM's NV, a peer or a proof, and are untrusted.
 *
 * What ekcert_verify() accepts, deliberately:
 *   - a chain built by OpenSSL (X509_verify_cert) from the leaf through the
 *     given untrusted intermediates to one of the trusted roots, which must
 *     be self-signed (no partial chains), at most EKCERT_MAX_DEPTH deep;
 *   - every certificate of it valid at the given time;
 *   - signatures of at least 112 bits of security (OpenSSL security level 2:
 *     no SHA-1, no RSA under 2048 bits), since SHA-1 is never the basis of
 *     a decision;
 *   - critical extensions only where OpenSSL implements them. The TCG EK
 *     profile puts the TPM's manufacturer, model and version in a
 *     subjectAltName directoryName, critical when the subject is empty
 *     (swtpm marks it critical always). OpenSSL decodes subjectAltName, so
 *     such a certificate is accepted, and a malformed one is not; its TPM
 *     attributes are read by ekcert_tpm_info(). Any critical extension
 *     OpenSSL does not implement fails the chain ("unhandled critical
 *     extension"): nothing here switches that check off;
 *   - on the leaf, an extended key usage extension that lists
 *     tcg-kp-EKCertificate (2.23.133.8.1, TCG EK Credential Profile).
 * Not checked: revocation, key usage bits, X509_V_FLAG_X509_STRICT (which
 * TPM vendors' certificates often fail for reasons that do not matter here).
 *
 * Errors: AICERT_ERR_INVALID for malformed input, AICERT_ERR_TOO_BIG for
 * input over its bound, AICERT_ERR_REJECTED when a check ran and failed; the
 * message names the step, e.g. "EK certificate chain: unable to get local
 * issuer certificate (depth 0, subject CN=unknown)".
 */
#ifndef AICERT_EKCERT_H
#define AICERT_EKCERT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/types.h>
#include <tss2/tss2_tpm2_types.h>

/* A DER certificate larger than this is refused before it is parsed. */
#define EKCERT_MAX_DER 16384
/* Bounds on PEM files of roots and intermediates. */
#define EKCERT_MAX_PEM_BYTES (1u << 20)
#define EKCERT_MAX_PEM_CERTS 256
/* Longest chain, leaf and root included. */
#define EKCERT_MAX_DEPTH 8

/* tcg-kp-EKCertificate, TCG EK Credential Profile for TPM Family 2.0. */
#define EKCERT_OID_EK_CERTIFICATE "2.23.133.8.1"

/* Trusted roots and untrusted intermediates. */
struct ekcert_store;

int ekcert_store_new(struct ekcert_store **ret);
void ekcert_store_free(struct ekcert_store *s);

/* Loads every certificate of a PEM file (several may follow each other) as
 * a trusted root or as an untrusted intermediate. A file without any
 * certificate, or with a block that does not parse, is AICERT_ERR_INVALID
 * naming the file. */
int ekcert_store_load_roots(struct ekcert_store *s, const char *pem_path);
int ekcert_store_load_intermediates(struct ekcert_store *s, const char *pem_path);

/* The same for one certificate; the store takes its own reference. */
int ekcert_store_add_root(struct ekcert_store *s, X509 *cert);
int ekcert_store_add_intermediate(struct ekcert_store *s, X509 *cert);

/* Parses exactly one DER certificate of 1 to EKCERT_MAX_DER bytes that
 * fills buf (no trailing bytes). Used for AK certificates too. *ret is the
 * caller's, freed with X509_free(). */
int ekcert_parse_der(const uint8_t *der, size_t len, X509 **ret);

/* Verifies an EK certificate as described above, at time `at`. */
int ekcert_verify(const struct ekcert_store *s, X509 *cert, time_t at);

/* 1 when cert's extended key usage lists oid (dotted text), 0 when it does
 * not or has no such extension; AICERT_ERR_INVALID when the extension is
 * malformed or present twice. */
int ekcert_has_eku(const X509 *cert, const char *oid);

/* Checks that ek (the TPM's EK public area) is the certificate's subject
 * public key. AICERT_ERR_REJECTED when it is another key. */
int ekcert_check_key(const X509 *cert, const TPMT_PUBLIC *ek);

/* The TPM's attributes from a TCG subjectAltName directoryName
 * (tcg-at-tpmManufacturer 2.23.133.2.1, tcg-at-tpmModel 2.23.133.2.2,
 * tcg-at-tpmVersion 2.23.133.2.3), printable characters only, cut to fit.
 * AICERT_ERR_NOT_FOUND when the certificate has none of them. */
struct ekcert_tpm {
	char manufacturer[64];
	char model[64];
	char version[64];
};

int ekcert_tpm_info(const X509 *cert, struct ekcert_tpm *out);

/* The subject or issuer name as RFC 2253 text ("CN=unknown"), cut to fit
 * into buf; "(empty)" for an empty name. For messages. */
void ekcert_name_text(const X509_NAME *name, char *buf, size_t cap);

#endif
