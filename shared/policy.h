/* A verifier's policy: the trust anchors and expectations it brings to a
 * proof. YAML (libyaml through yamlx), strict: unknown keys are errors with
 * file:line:col.
 *
 *   version: 1
 *   ek_roots: [PEM, ...]           # trusted roots for EK certificates
 *   ek_intermediates: [PEM, ...]   # optional, untrusted intermediates
 *   ak_ca: [PEM, ...]              # attestation CAs whose AK certificates count
 *   required_pcrs: [8, 14]         # SHA-256 PCRs every quote must cover
 *   allow_development: false       # accept proofs from unmeasured (local) runners
 *   boot_pcrs: {0: HEX, ...}       # reference SHA-256 values; a measured boot
 *                                  # needs PCRs 0-7
 *   expected_inputs:               # optional
 *     - {name: base_model, sha256: HEX}
 *
 * Each PEM entry is one or more certificates as a YAML block scalar.
 */
#ifndef AICERT_POLICY_H
#define AICERT_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#define POLICY_MAX_CERTS  64
#define POLICY_MAX_INPUTS 256

struct policy_input {
	char *name;
	uint8_t sha256[32];
};

struct policy {
	STACK_OF(X509) * ek_roots;
	STACK_OF(X509) * ek_intermediates;
	STACK_OF(X509) * ak_ca;
	uint32_t required_pcrs; /* SHA-256 bank, bit i for PCR i */
	bool allow_development;
	uint32_t boot_pcr_mask; /* which boot_pcrs are set */
	uint8_t boot_pcrs[24][32];
	struct policy_input *inputs;
	size_t n_inputs;
	bool has_inputs;
};

int policy_load(const char *path, struct policy **ret);
int policy_parse(const char *name, const uint8_t *buf, size_t len, struct policy **ret);
void policy_free(struct policy *p);

struct policy_init {
	const char *const *ek_roots; /* PEM files */
	size_t n_ek_roots;
	const char *const *ek_intermediates;
	size_t n_ek_intermediates;
	const char *const *ak_ca;
	size_t n_ak_ca;
	bool allow_development;
};

/* A starting policy as YAML text: the given PEM files' certificates inline.
 * *yaml is malloc'd. */
int policy_init_yaml(const struct policy_init *in, char **yaml);

/* Reads every certificate in a PEM buffer (at least one) into *out. */
int policy_pem_certs(const char *what, const uint8_t *pem, size_t len, STACK_OF(X509) * out);

#endif
