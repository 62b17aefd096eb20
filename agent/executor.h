/* The job executor's core, inside the runner: it measures a job through the
 * agent's local socket. Every digest it extends is of bytes it read itself.
 *
 *   executor_start()   job-start into PCR 14: job id, nonce, SHA-256 of the
 *                      job file's bytes, the TPM's reset and restart counts
 *   executor_stage()   copies an input into the workspace, hashes the copy,
 *                      extends one input event into PCR 14
 *   executor_run()     runs the training command in the sandbox, the agent's
 *                      socket hidden, no network unless the job allows it
 *   executor_finish()  hashes every output file, extends one output event
 *                      each, the outputs root and job-end into PCR 8
 *
 * The RPC service that lets a controller drive these from outside the runner
 * is built on top of them.
 */
#ifndef AICERT_AGENT_EXECUTOR_H
#define AICERT_AGENT_EXECUTOR_H

#include <stddef.h>
#include <stdint.h>

#include "sandbox.h"

struct executor;
struct jobcfg;
struct jobcfg_input;

struct executor_opts {
	const char *agent_url; /* the agent's local socket, ipc://PATH */
	const char *workspace; /* the job's directory, created if missing */
	/* Directories the training command must not see (the agent socket's
	 * directory at least); NULL-terminated. */
	const char *const *hide;
	/* Output of the training command, as it comes. */
	void (*output)(void *ctx, enum sandbox_stream s, const char *buf, size_t len);
	void *ctx;
};

int executor_open(const struct executor_opts *o, struct executor **ret);
void executor_free(struct executor *e);

/* Parses the job file from its bytes (the executor's own reading of it) and
 * extends job-start. *cfg is the caller's (jobcfg_free). */
int executor_start(struct executor *e, const uint8_t *job, size_t job_len, const char *job_id,
		   const uint8_t *nonce, size_t nonce_len, struct jobcfg **cfg);

/* Copies src (a regular file or a directory of them) to the input's place in
 * the workspace, hashes what it copied and extends the input event: for a
 * directory, the digest is the root over its files as for outputs. */
int executor_stage(struct executor *e, const struct jobcfg_input *in, const char *src);

/* Runs the training command; *status as sandbox_run reports it. */
int executor_run(struct executor *e, const struct jobcfg *cfg, int *status, uint64_t *wall_ms);

/* Measures the outputs (regular files under outputs.dir matching its
 * globs) and ends the job with its exit status, its FLOPs (total_flos from
 * the metrics file, 0 without one) and its wall time. */
int executor_finish(struct executor *e, const struct jobcfg *cfg, int status, uint64_t wall_ms);

#endif
