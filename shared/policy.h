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

#define POLICY_MAX_CERTS       64
#define POLICY_MAX_INPUTS      256
#define POLICY_MAX_BOOT_EVENTS 4096
/* PCRs a boot log accounts for: firmware 0-7, the EFI stub's 9 and 11. */
#define POLICY_BOOT_PCRS (0x2ffu | (1u << 11))

/* One extending event of a reference boot, for a boot PCR (0-7, 9, 11). */
struct policy_boot_event {
	uint32_t pcr;
	char type[40]; /* tcglog_event_type_name(), or "0x%08x" for other types */
	uint8_t sha256[32];
};

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
	/* The reference boot's events, in log order (boot_events), if given:
	 * a measured boot must have exactly these, so that a difference is
	 * named by its event and not only by its PCR. */
	struct policy_boot_event *boot_events;
	size_t n_boot_events;
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

/* The "boot_pcrs:" and "boot_events:" sections of a policy (YAML text,
 * malloc'd) for a reference boot: its firmware event log, and the SHA-256
 * values of its PCRs as quoted (quoted_mask says which are given). Covers
 * PCRs 0-7, 9 and 11; the log must replay to the quoted values. */
/* A boot reference file's text (aicert policy boot) holds nothing but the
 * boot_pcrs and boot_events sections: AICERT_ERR_INVALID otherwise. */
int policy_boot_check(const char *what, const char *text);

/* An event type as boot_events names it. */
void policy_boot_type(uint32_t type, char out[40]);

int policy_boot_yaml(const uint8_t *boot_log, size_t len, const uint8_t quoted[24][32],
		     uint32_t quoted_mask, char **yaml);

/* Reads every certificate in a PEM buffer (at least one) into *out. */
int policy_pem_certs(const char *what, const uint8_t *pem, size_t len, STACK_OF(X509) * out);

#endif
