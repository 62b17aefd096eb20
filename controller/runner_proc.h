/* What the runner backends share (runner_local.c, runner_qemu.c): child
 * processes started with their own log in the runner's private directory,
 * dying with their owner (PR_SET_PDEATHSIG) and killed with their process
 * group; swtpm_setup with a local EK CA; waiting for a ready line.
 * Errors name the program and show the last lines of its log. */
#ifndef AICERT_RUNNER_PROC_H
#define AICERT_RUNNER_PROC_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define RUNNER_POLL_MS 10
#define RUNNER_LOG_MAX (64 << 10)
/* Sockets DIR/runner/... must fit a sun_path (108 bytes). */
#define RUNNER_DIR_MAX (108 - sizeof("/runner/tpm.sock.ctrl"))

struct runner_proc {
	char dir[RUNNER_DIR_MAX];      /* the runner's directory */
	char priv[RUNNER_DIR_MAX + 8]; /* DIR/runner: state, logs, sockets */
	bool keep;                     /* leave DIR after stop */
	long timeout_ms;               /* per step of a start */
};

long runner_now_ms(void);
void runner_sleep_ms(long ms);

/* Joins DIR/runner and name into out (PATH_MAX bytes). */
int runner_path(const struct runner_proc *r, const char *name, char *out);
/* The last lines of a log, joined by " | ". */
void runner_tail(const char *path, char *out, size_t cap);
/* Sets "WHAT: see LOG: last lines" and returns code. */
__attribute__((format(printf, 4, 5))) int runner_fail(const struct runner_proc *r, int code,
						      const char *log_name, const char *fmt, ...);

/* Starts argv[0] (absolute) with stdin /dev/null and stdout/stderr appended
 * to DIR/runner/log_name, in its own process group, with PR_SET_PDEATHSIG. */
int runner_spawn(const struct runner_proc *r, const char *const argv[], const char *log_name,
		 pid_t *pid);
/* 1 and *status once pid exited within ms (its group is killed), else 0. */
int runner_wait(pid_t pid, long ms, int *status);
/* Exit status, or 128 + the signal. */
int runner_status(int status);
/* SIGTERM, SIGKILL to the group after ms; reaps *pid, zeroes it. The exit
 * status, or -1 when SIGKILL was needed. */
int runner_kill(pid_t *pid, long ms);
/* Runs a program to completion within the timeout. */
int runner_run(const struct runner_proc *r, const char *const argv[], const char *log_name,
	       const char *what);

/* The absolute path of a program in $PATH. */
int runner_which(const char *name, char out[PATH_MAX]);
/* bin when given, else `name` next to this executable or in ../agent/. */
int runner_bin_path(const char *bin, const char *name, char out[PATH_MAX]);
/* DIR/runner/name, atomically, mode 0600. */
int runner_write(const struct runner_proc *r, const char *name, const char *text);

/* swtpm_setup into DIR/runner/state with its own EK CA in DIR/runner/ca:
 * SHA-256 and SHA-1 banks, RSA-2048 and ECC P-384 EKs with certificates,
 * a platform certificate, NV locked. */
int runner_manufacture(const struct runner_proc *r);
/* 1 when swtpm's control socket at path answers CMD_GET_CAPABILITY. */
int runner_ping(const char *path);
/* 1 when DIR/runner/log_name has a line whose message starts "ready". */
int runner_ready(const struct runner_proc *r, const char *log_name);
/* Waits for *pid's ready line; kills it on a timeout. */
int runner_await(const struct runner_proc *r, pid_t *pid, const char *bin, const char *log_name);

#endif
