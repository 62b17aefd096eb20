/* Enrollment: the attestation CA checks a runner's TPM identity and, only
 * when every check passes, issues a certificate for its attestation key.
 *
 * enroll_run() takes what the agent claims (its aicert.v1.IdentityReply)
 * and a way to ask it to activate a credential, and runs these steps in
 * this order, refusing at the first that fails:
 *
 *   1. EK certificate   the certificate for the agent's EK (RSA: NV
 *                       0x01c00002; ECC P-256: 0x01c0000a; ECC P-384:
 *                       0x01c00016) chains to the given EK roots, is valid
 *                       now, and lists tcg-kp-EKCertificate (ekcert.h);
 *   2. EK public key    the agent's EK public area is that certificate's key;
 *   3. AK attributes    the AK is a restricted signing key, fixedTPM,
 *                       fixedParent, sensitiveDataOrigin, not decrypt;
 *   4. AK name          the name computed here from the AK public area
 *                       equals the name the agent claims;
 *   5. credential activation
 *                       MakeCredential of 32 fresh random bytes to the EK for
 *                       that AK name; the agent's ActivateCredential must
 *                       return them (compared in constant time). Only a TPM
 *                       holding both the EK and the AK can;
 *   6. AK certificate   the CA issues it (ca_issue_ak_cert()) and writes the
 *                       runner record (ca_write_runner()).
 *
 * Nothing is written before step 6, so a refused runner leaves no
 * certificate and no record behind.
 */
#ifndef AICERT_ENROLL_H
#define AICERT_ENROLL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct Aicert__V1__IdentityReply;
struct ca;
struct ekcert_store;

enum enroll_step {
	ENROLL_STEP_EK_CERT = 0,
	ENROLL_STEP_EK_KEY,
	ENROLL_STEP_AK_ATTRIBUTES,
	ENROLL_STEP_AK_NAME,
	ENROLL_STEP_ACTIVATE,
	ENROLL_STEP_ISSUE,
	ENROLL_STEPS, /* none: every step passed */
};

/* "EK certificate", "EK public key", ... as above; "?" out of range. */
const char *enroll_step_name(enum enroll_step step);

/* Asks the agent to activate a credential: sends the credential blob and
 * encrypted secret (aicert.v1.ActivateCredentialRequest) and returns the
 * secret it recovered in *out, malloc'd (enroll_run() wipes and frees it).
 * Returns 0 or an error code with err_set(). */
typedef int (*enroll_activate_fn)(void *ctx, const uint8_t *blob, size_t blob_len,
				  const uint8_t *enc_secret, size_t enc_len, uint8_t **out,
				  size_t *out_len);

/* Told about each step as it ends: r is 0 and detail a short summary, or r
 * is the error and detail err_msg(r). */
typedef void (*enroll_report_fn)(void *ctx, enum enroll_step step, int r, const char *detail);

struct enroll_params {
	const struct ca *ca;                 /* the attestation CA (ca_open()) */
	const struct ekcert_store *ek_roots; /* EK roots and intermediates */
	time_t now;                          /* 0: time(NULL) */
	uint32_t ak_days;                    /* AK certificate validity; 0: default */
	enroll_activate_fn activate;
	void *activate_ctx;
	enroll_report_fn report; /* may be NULL */
	void *report_ctx;
};

struct enroll_result {
	enum enroll_step failed_step; /* ENROLL_STEPS when enrolled */
	uint32_t ek_nv_index;         /* where the EK certificate came from */
	char *cert_path;              /* the AK certificate (ak.crt), malloc'd */
	int replaced;                 /* an earlier record of this AK was replaced */
};

/* Runs the steps above for the agent's identity id. Returns 0 when the AK
 * is enrolled, or the first failure: AICERT_ERR_REJECTED when a check said
 * no, other codes when a step could not run; err_msg() names the reason.
 * *res is filled in either case; clear it with enroll_result_clear(). */
int enroll_run(const struct enroll_params *p, const struct Aicert__V1__IdentityReply *id,
	       struct enroll_result *res);

void enroll_result_clear(struct enroll_result *res);

#endif
