/* The attestation CA: the key and certificate that vouch for attestation
 * keys (AKs) after enrollment, the AK certificates it issues, and the
 * runner records it keeps.
 *
 * A CA directory holds
 *	ca.key        the CA's private key, PKCS#8 PEM, mode 0600
 *	ca.crt        its self-signed certificate (PEM): X.509 v3, basicConstraints
 *	              CA:TRUE pathlen 0 (critical), keyUsage keyCertSign and
 *	              cRLSign (critical), subjectKeyIdentifier
 *	runners/      one directory per enrolled AK, named by the AK's name in hex:
 *	  <name>/ak.crt   the AK certificate (PEM)
 *	  <name>/ek.crt   the EK certificate enrollment checked (PEM)
 *	  <name>/record   "key: value" lines, one per line, keys in this order:
 *	                  format (1), ak-name, ak-alg, ek-alg, ek-nv-index,
 *	                  ek-cert-sha256, ak-cert-serial, ak-cert-not-before,
 *	                  ak-cert-not-after, enrolled-at, and when the EK
 *	                  certificate names them tpm-manufacturer, tpm-model,
 *	                  tpm-version. Times are UTC, ISO 8601 ("...Z").
 * Every file is written atomically; a runner directory appears whole (it is
 * built beside its final name and renamed into place) or not at all.
 *
 * An AK certificate (ca_issue_ak_cert()) names the TPM and the key:
 *	subject     CN = "aicert AK " + the AK name in hex. This is longer than
 *	            X.520's 64-character bound for commonName (78 characters for a
 *	            SHA-256 name); OpenSSL and other verifiers accept it.
 *	SAN         otherName hardwareModuleName (RFC 4108, 1.3.6.1.5.5.7.8.4):
 *	            hwType 2.23.133.1.2 (TCG's OID for TPM 2.0, as "TPM 2.0 Keys
 *	            for Device Identity and Attestation" uses it), hwSerialNum the
 *	            SHA-256 of the EK certificate DER (that spec derives hwSerialNum
 *	            otherwise; aicert binds the exact certificate a verifier checks)
 *	EKU         tcg-kp-AIKCertificate 2.23.133.8.3
 *	keyUsage    digitalSignature (critical); basicConstraints CA:FALSE
 *	            (critical); authority and subject key identifiers
 *	serial      16 random bytes; validity from 5 minutes before issuance.
 */
#ifndef AICERT_CA_H
#define AICERT_CA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/types.h>
#include <tss2/tss2_tpm2_types.h>

struct ekcert_tpm;

#define CA_KEY_FILE    "ca.key"
#define CA_CERT_FILE   "ca.crt"
#define CA_RUNNERS_DIR "runners"

/* The OIDs of an AK certificate are in akcert.h. */

#define CA_DEFAULT_DAYS    7300u /* the CA's own certificate */
#define CA_DEFAULT_AK_DAYS 3650u
#define CA_MAX_DAYS        36500u
#define CA_CLOCK_SKEW_S    300

enum ca_alg {
	CA_ALG_ECC = 0, /* P-256, ECDSA with SHA-256: fast to verify, 128-bit security */
	CA_ALG_RSA = 1, /* RSA-3072, PKCS#1 v1.5 with SHA-256 */
};

struct ca_init_opts {
	enum ca_alg alg;
	const char *common_name; /* NULL: "aicert attestation CA" */
	uint32_t days;           /* 0: CA_DEFAULT_DAYS */
};

/* Creates a CA in dir (created 0700 if missing). Refuses with
 * AICERT_ERR_EXISTS when dir already holds ca.key or ca.crt. opts may be
 * NULL for the defaults. */
int ca_init(const char *dir, const struct ca_init_opts *opts);

struct ca;

/* Loads dir's key and certificate and checks that they belong together. */
int ca_open(const char *dir, struct ca **ret);
void ca_free(struct ca *ca);
/* The CA's certificate, owned by ca. */
X509 *ca_cert(const struct ca *ca);
const char *ca_dir(const struct ca *ca);

/* Issues an AK certificate for ak (which must have an attestation key's
 * attributes, see tpmkey_check_ak_attributes()), naming the TPM by the EK
 * certificate ek_der. Valid from now - CA_CLOCK_SKEW_S for days days (0:
 * CA_DEFAULT_AK_DAYS), but never past the CA certificate's own end. *ret
 * is the caller's, freed with X509_free(). */
int ca_issue_ak_cert(const struct ca *ca, const TPMT_PUBLIC *ak, const uint8_t *ek_der,
		     size_t ek_len, time_t now, uint32_t days, X509 **ret);

/* The hwSerialNum of the AK certificate's hardwareModuleName: the SHA-256
 * of the EK certificate it was issued for. AICERT_ERR_INVALID when the
 * certificate has no such name, or not exactly one, or one of another form. */
int ca_ak_cert_ek_digest(const X509 *ak_cert, uint8_t digest[32]);

/* Verifies an AK certificate against the CA certificate ca_cert (the only
 * trust anchor) at time at: signature, validity, OpenSSL security level 2,
 * the tcg-kp-AIKCertificate EKU and a TPM hardwareModuleName. When ak is
 * not NULL, also that the certificate's key is ak. AICERT_ERR_REJECTED
 * naming the check ("AK certificate chain: ...") when it fails. */
int ca_verify_ak_cert(X509 *ak_cert, X509 *ca_cert, const TPMT_PUBLIC *ak, time_t at);

/* What a runner record says besides the certificates. */
struct ca_runner_info {
	const char *ak_alg; /* "rsa" or "ecc" */
	const char *ek_alg;
	uint32_t ek_nv_index;         /* where the EK certificate was found */
	const struct ekcert_tpm *tpm; /* NULL when the EK certificate names no TPM */
	time_t enrolled_at;
};

/* Writes the runner record of ak_name under the CA's runners/ directory,
 * replacing an earlier record of the same AK atomically
 * (renameat2(RENAME_EXCHANGE)). *replaced (may be NULL) tells whether one
 * existed. *cert_path (may be NULL) gets the path of ak.crt, malloc'd. */
int ca_write_runner(const struct ca *ca, const TPM2B_NAME *ak_name, X509 *ak_cert, X509 *ek_cert,
		    const struct ca_runner_info *info, int *replaced, char **cert_path);

/* The AK certificate kept for ak_name in the CA directory dir, to hand back
 * to a runner that asks for it. AICERT_ERR_NOT_FOUND when that AK was never
 * enrolled. *ret is the caller's, freed with X509_free(). */
int ca_find_runner(const char *dir, const TPM2B_NAME *ak_name, X509 **ret);

/* The runner directory of ak_name under dir, malloc'd. */
int ca_runner_path(const char *dir, const TPM2B_NAME *ak_name, char **ret);

#endif
