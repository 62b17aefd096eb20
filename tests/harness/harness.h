/* Test harness: a hermetic swtpm per test, and running helper programs.
 *
 * harness_swtpm_start() manufactures and starts a software TPM in a new
 * temporary directory (under $TMPDIR, else /tmp) with tests/harness/swtpm.sh,
 * which documents what the TPM holds. The swtpm is tied to the calling process:
 * it is stopped by harness_swtpm_stop(), at exit() for any still running, and,
 * when the process dies without exit() (a crash, SIGKILL from a test timeout),
 * by a watcher within a second.
 *
 * Functions return 0 or -1 after printing what failed on stderr: they are
 * meant for assert_int_equal(harness_..., 0) in cmocka tests.
 */
#ifndef AICERT_HARNESS_H
#define AICERT_HARNESS_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

struct harness_swtpm {
	char dir[PATH_MAX];       /* the temporary directory, removed by stop */
	char tcti[128];           /* "swtpm:host=127.0.0.1,port=P" */
	int port;                 /* data port; the control port is port + 1 */
	pid_t pid;                /* the swtpm process */
	char ek_root[PATH_MAX];   /* PEM of the local CA's root */
	char ek_issuer[PATH_MAX]; /* PEM of the CA that issued the EK certs */
};

/* Starts a new TPM; fills *h. A started harness must be stopped with
 * harness_swtpm_stop() (or is stopped at exit). */
int harness_swtpm_start(struct harness_swtpm *h);

/* Starts it without TPM2_Startup, so that the first command gets
 * TPM_RC_INITIALIZE (as a TPM does before firmware ran). */
int harness_swtpm_start_uninitialised(struct harness_swtpm *h);

/* Stops and starts the same TPM on the same ports: a TPM Reset (resetCount
 * changes, PCRs and loaded objects are gone). Updates h->pid. */
int harness_swtpm_restart(struct harness_swtpm *h);

/* Stops the TPM, waits for it to exit and removes h->dir. NULL-safe and
 * idempotent; leaves *h zeroed. */
void harness_swtpm_stop(struct harness_swtpm *h);

/* Runs argv[0] (searched in PATH) with argv, stdin from /dev/null and
 * stdout/stderr inherited, and waits for it. Returns its exit status (0..255),
 * 128 + the signal number when a signal killed it, or -1 when it could not be
 * started. */
int harness_run(const char *const argv[]);

/* Like harness_run() but captures stdout into out (NUL-terminated, at most
 * cap - 1 bytes kept; the rest is read and dropped); *out_len gets the kept
 * length and may be NULL. */
int harness_run_capture(const char *const argv[], char *out, size_t cap, size_t *out_len);

/* Writes len bytes to path (created 0600 or truncated). 0 or -1. */
int harness_write_file(const char *path, const void *buf, size_t len);

/* Joins h->dir and name into out (PATH_MAX bytes), for scratch files that
 * harness_swtpm_stop() removes with the directory. 0, or -1 if too long. */
int harness_path(const struct harness_swtpm *h, const char *name, char out[PATH_MAX]);

#endif
