/* X.509 chains for the verifier: certificates from a proof (untrusted DER)
 * checked against a policy's anchors. */
#ifndef AICERT_X509CHAIN_H
#define AICERT_X509CHAIN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/types.h>

struct proof_blob;

/* Parses certs[0..n) (leaf first; each DER must be exactly one certificate)
 * and verifies the leaf's chain to one of anchors (any of them may be an
 * intermediate: the policy trusts what it lists), with certs[1..] and
 * extra_untrusted as intermediates, valid at now, and with extended key
 * usage eku_oid on the leaf. *leaf is the caller's. Errors name `what`, the
 * OpenSSL reason, the depth and the subject. */
int x509chain_verify(const char *what, const struct proof_blob *certs, size_t n,
		     STACK_OF(X509) * anchors, STACK_OF(X509) * extra_untrusted,
		     const char *eku_oid, time_t now, X509 **leaf);

/* The subject as one line, in a static per-thread buffer. */
const char *x509chain_subject(const X509 *x);

/* The hwSerialNum of the subjectAltName otherName hardwareModuleName
 * (RFC 4108, 1.3.6.1.5.5.7.8.4): for aicert's AK certificates, the SHA-256
 * of the EK certificate. Exactly one such name of 32 bytes is required. */
int x509chain_hw_serial(const X509 *x, uint8_t out[32]);

#define X509CHAIN_MAX_DER (16u << 10)

#endif
