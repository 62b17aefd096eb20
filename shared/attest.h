/* TPM quotes: strict parsing of TPMS_ATTEST and TPMT_SIGNATURE, signature
 * verification, and the PCR selection and digest a quote signs.
 *
 * The bytes come from a peer or a proof and are untrusted. Each parser takes
 * exactly one marshalled structure (TPM wire format) with nothing after it.
 * A verifier of a quote calls, in this order:
 *
 *	attest_parse(quote)                  -> TPMS_ATTEST
 *	attest_parse_signature(sig)          -> TPMT_SIGNATURE
 *	attest_verify_signature(quote, sig, the AK's key)
 *	attest_check_quote(attest, expected extraData)
 *	attest_check_pcrs(attest, attest_signature_hash(sig), PCR values)
 *
 * Errors: AICERT_ERR_INVALID for malformed input, AICERT_ERR_UNSUPPORTED for
 * a well-formed algorithm aicert does not accept, AICERT_ERR_REJECTED when
 * a check ran and failed (bad signature, wrong magic, other PCRs). err_msg()
 * names the field.
 */
#ifndef AICERT_ATTEST_H
#define AICERT_ATTEST_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>
#include <tss2/tss2_tpm2_types.h>

/* Banks a selection may name: SHA-1, SHA-256, SHA-384, SHA-512, each at
 * most once, and PCRs 0..31 (sizeofSelect at most 4). */
#define ATTEST_MAX_BANKS 4
#define ATTEST_MAX_PCRS  (ATTEST_MAX_BANKS * 32)

/* One selected PCR: its bank and index. */
struct attest_pcr_ref {
	uint16_t hash_alg;
	uint8_t pcr;
};

/* One PCR value as a peer or a proof reports it (aicert.v1.PcrValue inside
 * a PcrBankValues). The fields are as wide as the protobuf's so that filling
 * them never truncates; the functions below check the ranges. */
struct attest_pcr_value {
	uint32_t hash_alg;     /* TPM_ALG_ID of the bank */
	uint32_t pcr;          /* PCR index */
	const uint8_t *digest; /* size bytes; not owned */
	size_t size;
};

/* Parses buf (the contents of a TPM2B_ATTEST) into *out. Structural only:
 * attest_check_quote() checks magic, type and extraData. A TPMS_ATTEST of
 * type TPM_ST_ATTEST_QUOTE also has its pcrSelect checked as by
 * attest_selection_list(). */
int attest_parse(const uint8_t *buf, size_t len, TPMS_ATTEST *out);

/* Parses buf as one marshalled TPMT_SIGNATURE. Accepts RSASSA, RSAPSS and
 * ECDSA with SHA-256 or SHA-384 only: a SHA-1 signature is
 * AICERT_ERR_REJECTED, other algorithms AICERT_ERR_UNSUPPORTED. */
int attest_parse_signature(const uint8_t *buf, size_t len, TPMT_SIGNATURE *out);

/* The hash algorithm of a signature accepted by attest_parse_signature(). A
 * quote's pcrDigest is made with this algorithm. */
TPMI_ALG_HASH attest_signature_hash(const TPMT_SIGNATURE *sig);

/* Verifies that sig, made with key, signs msg (the TPMS_ATTEST bytes exactly
 * as received): the message is hashed with the signature's hash algorithm;
 * RSASSA is PKCS#1 v1.5, RSAPSS accepts any salt length, ECDSA takes r and s
 * as big-endian integers. Returns 0, AICERT_ERR_REJECTED when the signature
 * does not verify or does not fit the key (RSA signature for an EC key,
 * wrong length), and the error attest_parse_signature() would give for a
 * signature it does not accept (SHA-1 is AICERT_ERR_REJECTED). */
int attest_verify_signature(const uint8_t *msg, size_t msg_len, const TPMT_SIGNATURE *sig,
			    EVP_PKEY *key);

/* Checks magic == TPM_GENERATED_VALUE, type == TPM_ST_ATTEST_QUOTE and
 * extraData equal to the extra_len bytes at extra. AICERT_ERR_REJECTED with
 * the field named when one differs. */
int attest_check_quote(const TPMS_ATTEST *a, const uint8_t *extra, size_t extra_len);

/* The PCRs sel selects, in TPM order: bank by bank in the order of the
 * selection, PCR index ascending within a bank. out has room for
 * ATTEST_MAX_PCRS entries. AICERT_ERR_INVALID for more than 16 banks, a
 * sizeofSelect over 4, a bank named twice; AICERT_ERR_UNSUPPORTED for a bank
 * of another hash algorithm. */
int attest_selection_list(const TPML_PCR_SELECTION *sel, struct attest_pcr_ref *out, size_t *n);

/* Puts the n PCR values (in any order) into the order of sel, in ordered
 * (room for n). The values must be exactly the selected PCRs: none missing,
 * none extra, none twice, each with the digest size of its bank; otherwise
 * AICERT_ERR_REJECTED naming the bank and PCR. The digests stay the
 * caller's. */
int attest_order_pcrs(const TPML_PCR_SELECTION *sel, const struct attest_pcr_value *values,
		      size_t n, struct attest_pcr_value *ordered);

/* H_hash_alg(values[0].digest || ... || values[n-1].digest), in the order
 * given: with values in selection order this is TPMS_QUOTE_INFO.pcrDigest.
 * hash_alg must be SHA-256, SHA-384 or SHA-512. */
int attest_pcr_digest(uint32_t hash_alg, const struct attest_pcr_value *values, size_t n,
		      TPM2B_DIGEST *out);

/* Checks a quote's PCRs: the values are exactly those a's pcrSelect selects
 * (attest_order_pcrs()), and their digest with hash_alg (the signature's)
 * equals a's pcrDigest. AICERT_ERR_REJECTED when not. a must be a quote. */
int attest_check_pcrs(const TPMS_ATTEST *a, uint32_t hash_alg,
		      const struct attest_pcr_value *values, size_t n);

#endif
