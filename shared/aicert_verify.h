/* aicert's verifier: the public C API.
 *
 * aicert_verify() checks a proof file against a policy, offline, and returns
 * a result listing every named check and its outcome. Every check is fatal:
 * the first that fails ends the verification, and the checks after it are
 * reported as not run. Check names are stable; `aicert verify` prints them.
 *
 *   struct aicert_result *res = NULL;
 *   int r = aicert_verify_file("proof.json", &opts, &res);
 *   // r == 0: verified; r == AICERT_ERR_REJECTED: a check failed
 *   // (aicert_result_failed(res)); other negative r: unusable input
 *   // (the policy or the model directory could not be read).
 *   aicert_result_free(res);
 */
#ifndef AICERT_VERIFY_H
#define AICERT_VERIFY_H

#include <stddef.h>
#include <stdint.h>

struct aicert_result;
struct aicert_policy;

/* A policy loaded once, for verifying many proofs against it. */
int aicert_policy_load(const char *path, struct aicert_policy **ret);
void aicert_policy_free(struct aicert_policy *p);

enum aicert_check_status {
	AICERT_CHECK_PASS = 0,
	AICERT_CHECK_FAIL = 1,
	AICERT_CHECK_SKIP = 2,    /* does not apply to this proof or policy */
	AICERT_CHECK_NOT_RUN = 3, /* an earlier check failed */
};

struct aicert_verify_opts {
	const char *policy_path;            /* required, unless policy is given */
	const struct aicert_policy *policy; /* a loaded policy; used instead of policy_path */
	const char *model_dir;              /* optional: files that must be exactly the outputs */
	const uint8_t *nonce;               /* optional: the nonce this verifier chose */
	size_t nonce_len;
	int64_t now; /* seconds since the epoch for certificate validity; 0: now */
};

int aicert_verify_file(const char *proof_path, const struct aicert_verify_opts *opts,
		       struct aicert_result **ret);
int aicert_verify(const char *name, const uint8_t *proof, size_t len,
		  const struct aicert_verify_opts *opts, struct aicert_result **ret);

size_t aicert_result_count(const struct aicert_result *r);
const char *aicert_result_name(const struct aicert_result *r, size_t i);
enum aicert_check_status aicert_result_status(const struct aicert_result *r, size_t i);
/* What was found, or why it failed; never NULL. */
const char *aicert_result_detail(const struct aicert_result *r, size_t i);
/* The name of the check that failed, or NULL when verified. */
const char *aicert_result_failed(const struct aicert_result *r);
/* "development" or "measured" as the verifier derived it; NULL before that. */
const char *aicert_result_platform(const struct aicert_result *r);
/* The verified in-toto Statement as JSON text, or NULL (platform proofs and
 * failures). Owned by the result. */
const char *aicert_result_statement(const struct aicert_result *r);
/* The result as a JSON document; *json is malloc'd. */
int aicert_result_json(const struct aicert_result *r, char **json);
void aicert_result_free(struct aicert_result *r);

#endif
