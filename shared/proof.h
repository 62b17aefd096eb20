/* The proof file, version 1 (docs/proof-format.md): JSON with an in-toto
 * Statement (absent for a proof of the platform alone) and the evidence.
 *
 * proof_parse() is strict: bounded sizes and counts, no unknown or duplicate
 * fields, canonical base64, nothing after the document. It checks form only;
 * what the evidence proves is aicert_verify()'s business.
 */
#ifndef AICERT_PROOF_H
#define AICERT_PROOF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define PROOF_VERSION      "aicert-proof/v1"
#define PROOF_MAX_BYTES    (64u << 20)
#define PROOF_MAX_CERTS    8
#define PROOF_MAX_CERT     (16u << 10)
#define PROOF_MAX_TPM_BLOB 1024u
#define PROOF_MAX_BOOT_LOG (16u << 20)
#define PROOF_MAX_RT_LOG   (32u << 20)
#define PROOF_MAX_PCRS     (4 * 24)

struct proof_blob {
	uint8_t *data;
	size_t len;
};

struct proof_pcr {
	uint16_t hash_alg; /* TPM_ALG_ID */
	uint8_t pcr;
	uint8_t digest[64];
	size_t len;
};

struct proof {
	/* The in-toto Statement, kept as parsed; NULL for a platform proof. */
	json_t *statement;
	/* "development" or "measured", as claimed; the verifier derives its
	 * own and rejects a proof whose claim differs. */
	char platform[16];
	char job_id[129];
	uint8_t nonce[64];
	size_t nonce_len;
	struct proof_blob ek_public;                 /* TPMT_PUBLIC */
	struct proof_blob ek_certs[PROOF_MAX_CERTS]; /* DER, leaf first */
	size_t n_ek_certs;
	struct proof_blob ak_public;                 /* TPMT_PUBLIC */
	struct proof_blob ak_certs[PROOF_MAX_CERTS]; /* DER, leaf first */
	size_t n_ak_certs;
	struct proof_blob attest;    /* TPMS_ATTEST */
	struct proof_blob signature; /* TPMT_SIGNATURE */
	struct proof_pcr pcrs[PROOF_MAX_PCRS];
	size_t n_pcrs;
	struct proof_blob boot_log;    /* TCG PC Client binary log; empty if none */
	struct proof_blob runtime_log; /* CEL-TLV */
};

/* name is used in messages (the file's path). */
int proof_parse(const char *name, const uint8_t *buf, size_t len, struct proof **ret);
int proof_load(const char *path, struct proof **ret);

/* Serialises p (pretty, stable key order); *json is malloc'd. The statement is
 * written as given. */
int proof_write(const struct proof *p, char **json);

/* Writes p to path atomically. */
int proof_save(const struct proof *p, const char *path);

/* Frees p and everything it owns. NULL-safe. */
void proof_free(struct proof *p);

struct attest_pcr_value;

/* The PCR values of p as attest.h takes them (pointing into p); v holds
 * p->n_pcrs entries. */
void proof_pcr_values(const struct proof *p, struct attest_pcr_value *v);

/* The SHA-256 PCR values p carries (as quoted; unverified), and which. */
void proof_sha256_pcrs(const struct proof *p, uint8_t out[24][32], uint32_t *mask);

/* The name of a PCR bank ("sha256") or NULL for one proofs do not carry. */
const char *proof_bank_name(uint16_t hash_alg);

#endif
