/* Test harness: aicert-agent as a child process, against a harness swtpm.
 *
 * agentproc_start() runs the agent binary of this build with
 *
 *	--tcti <tpm->tcti> --state-dir <dir>/state --local ipc://<dir>/agent.sock
 *	--boot-log "" <extra_args...>
 *
 * where <dir> is "<tpm->dir>/agent" (removed with the TPM's directory by
 * harness_swtpm_stop()), and waits until the agent logs its "ready" line.
 * Extra arguments come last, so they override the ones above (the agent's
 * flags are applied in order). The agent's stderr goes to a new file
 * <dir>/agent-<n>.log for each start, printed when the agent fails.
 *
 * A started agent must be stopped with agentproc_stop() or agentproc_kill()
 * before its TPM is stopped. It never outlives the test: the child asks the
 * kernel for SIGKILL when the thread that started it dies (PR_SET_PDEATHSIG),
 * so start agents from the test's main thread.
 *
 * Functions return 0 or -1 after printing what failed on stderr: they are
 * meant for assert_int_equal(agentproc_..., 0) in cmocka tests.
 */
#ifndef AICERT_AGENTPROC_H
#define AICERT_AGENTPROC_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

struct harness_swtpm;

struct agentproc {
	char dir[PATH_MAX];       /* <tpm dir>/agent: socket, logs, state */
	char state_dir[PATH_MAX]; /* <dir>/state, kept across restarts */
	char local_url[PATH_MAX]; /* "ipc://<dir>/agent.sock" */
	char log_path[PATH_MAX];  /* stderr of the latest run */
	pid_t pid;                /* the running agent, 0 when none */
	int runs;                 /* how many times it was started */
};

/* Starts the agent and waits (up to 10 s) for its "ready" line. *a must be
 * zeroed for a first start; starting it again after agentproc_stop() or
 * agentproc_kill() keeps dir and state_dir, so the agent finds its AK and
 * runtime log. extra_args is NULL or NULL-terminated. Fails, printing the
 * agent's log, when it exits first or does not get ready in time (it is then
 * killed). */
int agentproc_start(struct agentproc *a, const struct harness_swtpm *tpm,
		    const char *const extra_args[]);

/* Runs the agent as agentproc_start() would, but expects it to exit by
 * itself (a configuration error, --help): waits up to 10 s and returns its
 * exit status (0..255; 128 + N for signal N), or -1 if it could not be
 * started or was still running (it is then killed). Its stderr is in
 * a->log_path. */
int agentproc_run(struct agentproc *a, const struct harness_swtpm *tpm,
		  const char *const extra_args[]);

/* Sends SIGTERM and waits (up to 10 s) for the agent to exit. 0 only when it
 * exited with status 0: a clean shutdown on SIGTERM is part of its contract.
 * Otherwise (another status, a signal, no exit in time: then it is killed)
 * prints its log and returns -1. 0 when no agent is running. */
int agentproc_stop(struct agentproc *a);

/* SIGKILL, as a crash or an OOM kill would, and waits for it. NULL-safe,
 * and 0 when no agent is running. */
int agentproc_kill(struct agentproc *a);

/* Stops the agent (agentproc_stop()) and starts it again on the same state
 * directory with extra_args. */
int agentproc_restart(struct agentproc *a, const struct harness_swtpm *tpm,
		      const char *const extra_args[]);

/* Reads the latest run's log into buf (NUL-terminated, at most cap - 1
 * bytes kept). 0 or -1. */
int agentproc_log(const struct agentproc *a, char *buf, size_t cap);

/* A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 and
 * released), for --listen tls+tcp://127.0.0.1:PORT. -1 on failure. */
int agentproc_free_port(void);

#endif
