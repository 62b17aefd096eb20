/* The forgery suite's fixture: two real runners and everything forged from
 * them.
 *
 * fx_setup() builds, once for the whole suite:
 *   - runner a: a swtpm (harness) and aicert-agent on it, enrolled with an
 *     attestation CA made in a's scratch directory; runner b: another swtpm
 *     with its own EK CA and another agent, enrolled with the same CA;
 *   - the base policy: a's EK root and issuer, the CA, allow_development;
 *   - the good job on a, extended through the agent's local socket as the job
 *     executor does (job-start with the TPM's counts, two inputs, the files of
 *     a model directory, the outputs root, job-end), its proof (proofgen) and
 *     a proof of the platform alone;
 *   - material only the TPM can make (fx_tpm.c): quotes over other PCR
 *     selections and for another job or nonce, a TPM2_Certify and a
 *     TPM2_Sign by the AK, the TPM's other EK, and later jobs on a (another
 *     job after the good one, the good job's id started again, a job across
 *     a TPM suspend/resume and one across a TPM reset);
 *   - on b, PCRs extended from userspace with a real OVMF boot log, and the
 *     "measured" platform proof that follows.
 *
 * Everything lives under a's swtpm directory and goes with it at teardown.
 * Functions that cannot fail on a sane machine assert (cmocka) instead of
 * returning errors.
 */
#ifndef AICERT_FORGERY_FX_H
#define AICERT_FORGERY_FX_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentproc.h"
#include "events.h"
#include "harness.h"
#include "proof.h"

struct Aicert__V1__IdentityReply;
struct ca;
struct rpc_client;

#define FX_NONCE_LEN  32
#define FX_GOOD_JOB   "job-2026-good"
#define FX_OTHER_JOB  "job-2026-other"
#define FX_RESUME_JOB "job-2026-resumed"
#define FX_RESET_JOB  "job-2026-reset"
#define FX_OVMF_LOG   AICERT_SOURCE_DIR "/tests/data/ovmf/binary_bios_measurements"

/* A runner: a TPM, the agent that owns it, a client of its local socket. */
struct fx_runner {
	struct harness_swtpm tpm;
	struct agentproc agent;
	struct rpc_client *c;
	struct Aicert__V1__IdentityReply *id;
	struct proof_blob ek_public; /* TPMT_PUBLIC of the EK the AK lives under */
	struct proof_blob ek_cert;   /* its certificate (DER) */
	struct proof_blob ek_issuer; /* the certificate's issuer (DER) */
	struct proof_blob ak_public;
	struct proof_blob ak_cert; /* issued at enrollment (DER) */
};

/* What a real quote (or another signed attestation) brings to a proof. */
struct fx_quote {
	struct proof_blob attest;
	struct proof_blob sig;
	struct proof_pcr pcrs[PROOF_MAX_PCRS];
	size_t n_pcrs;
};

/* A whole proof as bytes. */
struct fx_bytes {
	uint8_t *buf;
	size_t len;
};

struct fx {
	struct fx_runner a; /* the runner whose proofs are forged */
	struct fx_runner b; /* another TPM, enrolled with the same CA */
	char work[PATH_MAX];
	char ca_dir[PATH_MAX];
	struct ca *ca;
	char policy[PATH_MAX]; /* the base policy */
	char model_dir[PATH_MAX];
	uint8_t nonce[FX_NONCE_LEN];
	struct events_input inputs[2]; /* base_model, dataset */

	/* The good proofs, as proof_save() wrote them. */
	char good_path[PATH_MAX];
	struct fx_bytes good;
	char platform_path[PATH_MAX];
	struct fx_bytes platform;

	/* Made with a's TPM while it held the good job's PCR values. */
	struct fx_quote q_other_job; /* bound to FX_OTHER_JOB and the same nonce */
	uint8_t other_nonce[FX_NONCE_LEN];
	struct fx_quote q_other_nonce;   /* bound to the good job and other_nonce */
	struct fx_quote q_pcr16;         /* the job's binding; PCR 16 quoted instead of 14 */
	struct fx_quote q_no14;          /* the job's binding; PCR 14 left out */
	struct fx_quote q_sha1;          /* the job's binding; the SHA-1 bank only */
	struct fx_quote q_certify;       /* TPM2_Certify of the AK by the AK (no PCRs) */
	struct fx_quote q_signed;        /* TPM2_Sign by the AK of a quote with another magic */
	struct proof_blob ecc_ek_public; /* a's P-384 EK, which the AK is not under */
	struct proof_blob ecc_ek_cert;

	/* Later jobs on a. */
	struct fx_bytes not_last;   /* the good job's proof, quoted after another job ran */
	struct fx_bytes twice;      /* the good job id started again after another job */
	struct fx_bytes resumed;    /* a job across a TPM suspend/resume */
	struct fx_bytes unfinished; /* that job's proof, quoted before it finished */
	struct fx_bytes reset;      /* a job during which the TPM was reset */

	/* b's platform proof after its PCRs were extended from userspace with
	 * a real OVMF boot log, which b's agent then serves: "measured". */
	struct fx_bytes measured;
};

int fx_setup(void **state);
int fx_teardown(void **state);

/* A path under the scratch directory (PATH_MAX bytes). */
void fx_path(const struct fx *f, const char *name, char out[PATH_MAX]);

/* Writes a policy: the EK roots and intermediates (PEM files, NULL-ended
 * lists), the attestation CA (PEM file), allow_development, then extra
 * YAML appended as is (may be NULL). */
void fx_policy_write(const char *path, const char *const *ek_roots,
		     const char *const *ek_intermediates, const char *ak_ca, bool allow_dev,
		     const char *extra);

/* Extends one event through r's agent, as the job executor does. */
void fx_extend(struct fx_runner *r, const struct events_event *ev);

/* The job-start event with the TPM's current reset and restart counts. */
void fx_job_start(struct fx_runner *r, const char *job_id, const uint8_t *nonce);

/* The rest of a job: f's inputs, the files of f->model_dir, the root,
 * job-end. */
void fx_job_finish(struct fx *f, struct fx_runner *r);

/* proofgen_make() for a job ("" for the platform) on r; *out is malloc'd
 * proof_write() text. */
void fx_prove(struct fx *f, struct fx_runner *r, const char *job_id, const uint8_t *nonce,
	      struct fx_bytes *out);

/* Stops r's agent (SIGTERM), so that the TPM can be used directly. */
void fx_runner_stop_agent(struct fx_runner *r);

/* Starts r's agent again (after someone else used its TPM), with extra
 * agent arguments (NULL-ended, may be NULL), and redials. */
void fx_runner_restart(struct fx_runner *r, const char *const *args);

/* fx_tpm.c: puts q's attestation, signature and PCR values into p. */
void fx_tpm_apply(struct proof *p, const struct fx_quote *q);

/* fx_tpm.c: a real quote by r's agent, bound to job_id and nonce, over the
 * PCRs of mask in the bank hash_alg. */
void fx_tpm_quote(struct fx_runner *r, const char *job_id, const uint8_t *nonce, uint16_t hash_alg,
		  uint32_t mask, struct fx_quote *out);

/* fx_tpm.c: with a's agent stopped, TPM2_Certify and TPM2_Sign by the AK
 * and the P-384 EK's public area; the agent is started again. */
void fx_tpm_direct(struct fx *f);

/* fx_tpm.c: a TPM suspend and resume under r's agent (TPM2_Shutdown(STATE),
 * a power cycle, TPM2_Startup(STATE)): PCRs 0-15 survive, restartCount
 * counts up. The agent is stopped before and started again after. */
void fx_tpm_resume(struct fx_runner *r);

/* fx_tpm.c: with b's agent stopped, extends b's PCRs with every event of
 * FX_OVMF_LOG, restarts the agent serving that log, and makes f->measured. */
void fx_tpm_fake_boot(struct fx *f);

void fx_quote_clear(struct fx_quote *q);
void fx_blob_set(struct proof_blob *b, const void *data, size_t len);
void fx_blob_clear(struct proof_blob *b);

#endif
