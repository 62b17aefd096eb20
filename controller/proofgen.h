/* Proof assembly on the controller: identity, AK certificate, a quote bound
 * to the job and nonce, the event logs, and the Statement derived from the
 * runtime log. The controller is not trusted: it only gathers what the
 * verifier checks. */
#ifndef AICERT_PROOFGEN_H
#define AICERT_PROOFGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct proof;
struct rpc_client;

/* SHA-256 PCRs quoted by default: boot 0-9 and 11, outputs 8, inputs 14,
 * session 15. */
#define PROOFGEN_DEFAULT_PCRS (0x3ffu | (1u << 11) | (1u << 14) | (1u << 15))

struct proofgen_opts {
	struct rpc_client *agent;
	const char *ca_dir;   /* the attestation CA holding the runner's record */
	const char *job_id;   /* "" for a proof of the platform alone */
	const uint8_t *nonce; /* 16 to 64 bytes */
	size_t nonce_len;
	uint32_t pcr_mask; /* 0: PROOFGEN_DEFAULT_PCRS */
	/* Extra certificates (PEM files) to carry after the EK certificate. */
	const char *const *ek_intermediates;
	size_t n_ek_intermediates;
};

int proofgen_make(const struct proofgen_opts *o, struct proof **ret);

#endif
