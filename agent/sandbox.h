/* The training command's sandbox: the job executor runs the command in new
 * namespaces, so that it cannot reach the agent's socket (the directory is
 * hidden under an empty read-only tmpfs), has no network when the job says
 * `network: none` (a new network namespace with nothing but a downed
 * loopback), sees only its own processes (a new PID namespace, so that a
 * timeout kills everything it started), and cannot gain privileges
 * (PR_SET_NO_NEW_PRIVS). It never runs with privileges: started by root, it
 * runs as opts.uid/gid (never 0) with no capabilities; started by another
 * user, as that user, in a user namespace that maps only that user, so that
 * no capability survives execve() and the hiding mounts cannot be undone.
 */
#ifndef AICERT_AGENT_SANDBOX_H
#define AICERT_AGENT_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum sandbox_stream {
	SANDBOX_STDOUT = 1,
	SANDBOX_STDERR = 2,
};

struct sandbox_opts {
	const char *const *argv; /* argv[0] is looked up in PATH */
	const char *const *envp; /* the whole environment; NULL: empty */
	const char *workdir;     /* NULL: unchanged */
	bool network;            /* false: a network namespace of its own */
	const char *const *hide; /* directories to hide (NULL-terminated; may be NULL) */
	uint32_t timeout_ms;     /* 0: none */
	int cancel_fd;           /* > 0: readable kills the command (AICERT_ERR_CANCELLED) */
	uid_t uid;               /* when started by root: the user to run as (not 0) */
	gid_t gid;
	/* Called from sandbox_run's thread with each chunk of output. */
	void (*output)(void *ctx, enum sandbox_stream s, const char *buf, size_t len);
	void *ctx;
};

/* Runs the command and waits for it, or for the timeout, after which every
 * process in its PID namespace is killed. *status is the command's exit
 * status (0-255), or 128 + the signal that ended it. Returns
 * AICERT_ERR_TIMEOUT on a timeout, AICERT_ERR_CANCELLED after cancel_fd, an error if the sandbox
 * could not be set up (the message says which step), 0 otherwise. */
int sandbox_run(const struct sandbox_opts *o, int *status);

#endif
