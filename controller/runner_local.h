/* The `local` runner backend: a hermetic swtpm, an aicert-agent and
 * (optionally) an aicert-executor as child processes of this one, in a
 * private directory. For development, tests and the demo; its boot is not
 * measured.
 *
 * runner_local_start() creates DIR = mkdtemp(WORK/aicert-runner.XXXXXX),
 * mode 0711, under o->work_dir, else $TMPDIR, else /tmp, holding:
 *   DIR/runner/    mode 0700, everything but the job, hidden from its command:
 *     swtpm_setup.conf, swtpm-localca.conf, swtpm-localca.options
 *                  the configuration: nothing outside DIR is read or written
 *     ca/          swtpm's local CA (root -> issuer -> EK certificates)
 *     state/       the TPM's state: PCR banks SHA-256 and SHA-1, RSA-2048 and
 *                  ECC P-384 EKs with their certificates in NV, a platform
 *                  certificate, NV locked (swtpm_setup --lock-nvram)
 *     tpm.sock, tpm.sock.ctrl  swtpm's Unix sockets (data, control)
 *     agent/       the agent's state directory
 *     agent.sock   the agent's local socket
 *     controller.id  a one-time controller identity, 32 random bytes: the
 *                  agent starts with --controller-identity and binds the
 *                  runner to it in PCR 15 (events.h)
 *     executor.sock  the executor's socket, for the controller
 *     setup.log, swtpm.log, agent.log, executor.log
 *   DIR/work/      the job's workspace (the executor's)
 * then starts `swtpm socket` on the Unix sockets, `aicert-agent --tcti
 * swtpm:path=DIR/runner/tpm.sock --state-dir DIR/runner/agent --local
 * ipc://DIR/runner/agent.sock --boot-log ""` and, with o->executor,
 * `aicert-executor --agent ipc://DIR/runner/agent.sock --listen
 * ipc://DIR/runner/executor.sock --workspace DIR/work --hide DIR/runner`,
 * and returns once each logged its "ready" line. The TPM is reachable through
 * Unix sockets only: a job's command, whose network namespace and view of
 * DIR/runner are its own, cannot reach it.
 *
 * Processes: swtpm and the agent are direct children (no --daemon), each in
 * its own process group, so that a Ctrl-C on the terminal reaches only this
 * process. They are started with PR_SET_PDEATHSIG = SIGKILL: when the thread
 * that called runner_local_start() dies, however it dies, the kernel kills
 * them. So start runners from a thread that lives as long as they do (the
 * main thread). A process killed that way leaves its DIR behind.
 *
 * Signals: to tear down cleanly on Ctrl-C or SIGTERM, block SIGINT and
 * SIGTERM before starting a runner (children get an empty mask and default
 * dispositions), wait for them with sigwait() or a signalfd, and call
 * runner_local_stop(). Without that, the default action kills this process
 * and PDEATHSIG kills the children. The caller must not reap children it
 * did not start (no waitpid(-1)).
 *
 * Errors: AICERT_ERR_NOT_FOUND for a missing program, AICERT_ERR_IO for
 * files and processes, AICERT_ERR_UNAVAILABLE when swtpm or the agent failed
 * or exited, AICERT_ERR_TIMEOUT when one did not answer in time; err_msg()
 * says what failed, where, and the last lines of its log. A failed start
 * leaves no process and, unless o->keep, no directory.
 */
#ifndef AICERT_RUNNER_LOCAL_H
#define AICERT_RUNNER_LOCAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define RUNNER_LOCAL_READY_MS 20000 /* default wait for swtpm_setup, swtpm, the agent */
#define RUNNER_LOCAL_STOP_MS  10000 /* SIGTERM to SIGKILL */

struct runner_local_opts {
	/* Parent of the runner directory; NULL: $TMPDIR, else /tmp. */
	const char *work_dir;
	/* The agent binary; NULL: aicert-agent next to this executable
	 * (/proc/self/exe), else ../agent/aicert-agent (the build tree). */
	const char *agent_bin;
	/* More agent arguments (e.g. "--ak-alg", "rsa"), NULL-terminated. */
	const char *const *agent_args;
	/* Start the executor too; its binary is found as the agent's is. */
	bool executor;
	const char *executor_bin;
	const char *ca_file; /* the executor's CAs for https and git fetches */
	/* Leave the directory (state, CA, logs) after stop or a failed start. */
	bool keep;
	/* Per step (setup, swtpm, agent); 0: RUNNER_LOCAL_READY_MS. */
	uint32_t ready_timeout_ms;
};

struct runner_local;

/* Starts a runner as described above; *ret is the caller's, who ends it
 * with runner_local_free(). */
int runner_local_start(const struct runner_local_opts *o, struct runner_local **ret);

/* SIGTERM to the executor (SIGKILL to its process group after
 * RUNNER_LOCAL_STOP_MS), then the same for the agent and swtpm; reaps both and removes the
 * directory unless keep. Everything is torn down even on failure; returns
 * AICERT_ERR_STATE when a process needed SIGKILL or the agent exited with a
 * failure status. NULL-safe and idempotent: a second call returns 0. */
int runner_local_stop(struct runner_local *r);

/* Stops the runner if it is still running, and frees it. NULL-safe. */
void runner_local_free(struct runner_local *r);

/* Valid until runner_local_free(). */
const char *runner_local_url(const struct runner_local *r);  /* ipc://DIR/runner/agent.sock */
const char *runner_local_tcti(const struct runner_local *r); /* swtpm:path=DIR/runner/tpm.sock */
/* ipc://DIR/runner/executor.sock, or NULL without an executor. */
const char *runner_local_executor_url(const struct runner_local *r);
const char *runner_local_workspace(const struct runner_local *r); /* DIR/work */
/* DIR/runner/controller.id: 32 random bytes whose SHA-256 the agent put into
 * PCR 15 as its runtime log's first record (the runner's controller). */
const char *runner_local_controller_identity(const struct runner_local *r);
const char *runner_local_private_dir(const struct runner_local *r); /* DIR/runner */
const char *runner_local_ek_root(const struct runner_local *r);     /* PEM, the local CA's root */
const char *runner_local_ek_issuer(const struct runner_local *r);   /* PEM, the EK certs' issuer */
const char *runner_local_dir(const struct runner_local *r);
/* The processes, or 0 once stopped. */
pid_t runner_local_agent_pid(const struct runner_local *r);
pid_t runner_local_swtpm_pid(const struct runner_local *r);
pid_t runner_local_executor_pid(const struct runner_local *r);

#endif
