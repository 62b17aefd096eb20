/* What a Quote call puts on the wire: the request bench_quote sends (SHA-256
 * PCRs 0, 8, 14 and a 32-byte nonce) and the packed sizes of the Request and
 * Response envelopes around it, as rpc_client and rpc_server build them. */
#ifndef AICERT_BENCH_BQ_WIRE_H
#define AICERT_BENCH_BQ_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "aicert.pb-c.h"

#define BQ_WIRE_NONCE_LEN 32
#define BQ_WIRE_NPCRS     3
#define BQ_WIRE_PCR_MASK  ((1u << 0) | (1u << 8) | (1u << 14))

/* A QuoteRequest with its storage. */
struct bq_wire_quote {
	uint8_t nonce[BQ_WIRE_NONCE_LEN];
	uint32_t pcrs[BQ_WIRE_NPCRS];
	Aicert__V1__PcrBank bank;
	Aicert__V1__PcrBank *banks[1];
	Aicert__V1__QuoteRequest req;
};

void bq_wire_init(struct bq_wire_quote *q);
/* A nonce that differs for each seq. */
void bq_wire_nonce(struct bq_wire_quote *q, uint64_t seq);

/* Envelope sizes of a call with this request and this reply. */
void bq_wire_sizes(const struct bq_wire_quote *q, const Aicert__V1__QuoteReply *rep,
		   size_t *req_len, size_t *rep_len);

/* The same for an Identity call with this reply. */
void bq_wire_identity_sizes(const Aicert__V1__IdentityReply *rep, size_t *req_len, size_t *rep_len);

/* The same for a reply the agent would build from tpm_quote's outputs: the
 * attestation, the signature and the AK public area of these lengths, and
 * BQ_WIRE_NPCRS SHA-256 values. */
void bq_wire_sizes_for(size_t attest_len, size_t sig_len, size_t ak_pub_len, size_t *req_len,
		       size_t *rep_len);

#endif
