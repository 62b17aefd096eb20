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
#include <sys/types.h>

#include "sandbox.h"

struct executor;
struct events_input;
struct fetch_opts;
struct jobcfg;
struct jobcfg_input;
struct modeldir_file;

struct executor_opts {
	const char *agent_url; /* the agent's local socket, ipc://PATH */
	const char *workspace; /* the job's directory, created if missing */
	/* Directories the training command must not see (the agent socket's
	 * directory at least); NULL-terminated. */
	const char *const *hide;
	/* Started by root: the user the command runs as (0: nobody, 65534);
	 * the workspace is given to that user. Ignored otherwise. */
	uid_t run_uid;
	gid_t run_gid;
	/* What relative local paths in the job resolve against (local git
	 * repositories, on a runner that shares the controller's files); NULL:
	 * kept as written. */
	const char *local_base;
	/* > 0: readable cancels a running command (sandbox_opts.cancel_fd). */
	int cancel_fd;
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
 * directory, the digest is its manifest's (modeldir_manifest_digest). */
int executor_stage(struct executor *e, const struct jobcfg_input *in, const char *src);

/* The input's place in the workspace (malloc'd): WORKSPACE/dest. */
char *executor_input_path(const struct executor *e, const struct jobcfg_input *in);

/* Measures what is at the input's place (put there by executor_stage's
 * copy, by the executor service's PutFile, or by executor_fetch) and extends
 * its input event recording uri; *out (may be NULL) receives the event. */
int executor_seal(struct executor *e, const struct jobcfg_input *in, const char *uri,
		  struct events_input *out);

/* A git or url input: fetched by the executor itself into its place (see
 * fetch.h; a url's expected SHA-256 is checked), then sealed. A git input's
 * uri is "git+REPO@COMMIT[#subdirectory=DIR]". */
int executor_fetch(struct executor *e, const struct jobcfg_input *in, const struct fetch_opts *fo,
		   struct events_input *out);

/* Runs the training command; *status as sandbox_run reports it. */
int executor_run(struct executor *e, const struct jobcfg *cfg, int *status, uint64_t *wall_ms);

/* Measures the outputs (regular files under outputs.dir matching its
 * globs) and ends the job with its exit status, its FLOPs (total_flos from
 * the metrics file, 0 without one) and its wall time. */
struct executor_outputs {
	struct modeldir_file *files; /* the outputs measured, in path order */
	size_t n;
	uint8_t root[32];
	uint64_t flops;
};

int executor_finish(struct executor *e, const struct jobcfg *cfg, int status, uint64_t wall_ms,
		    struct executor_outputs *out);
void executor_outputs_free(struct executor_outputs *o);

#endif
