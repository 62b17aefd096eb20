/* Test harness: aicert-agent as a child process (fork + exec, so that the
 * child can ask for SIGKILL when the test dies). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agentproc.h"
#include "harness.h"

#ifndef AICERT_BINARY_DIR
#error "AICERT_BINARY_DIR must be defined"
#endif

#define AGENTPROC_BINARY      AICERT_BINARY_DIR "/agent/aicert-agent"
#define AGENTPROC_WAIT_MS     10000
#define AGENTPROC_POLL_MS     10
#define AGENTPROC_MAX_ARGS    64
#define AGENTPROC_EXEC_FAILED "agentproc: cannot execute " AGENTPROC_BINARY "\n"

static long agentproc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void agentproc_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Checks what snprintf() into a buffer of cap bytes returned. */
static int agentproc_fits(int len, size_t cap, const char *dir)
{
	if (len < 0 || (size_t)len >= cap) {
		fprintf(stderr, "agentproc: path under %s too long\n", dir);
		return -1;
	}
	return 0;
}

/* Sets dir, state_dir and local_url on the first start. */
static int agentproc_paths(struct agentproc *a, const struct harness_swtpm *tpm)
{
	struct sockaddr_un sun;

	if (a->dir[0] != '\0')
		return 0;
	if (harness_path(tpm, "agent", a->dir) < 0)
		return -1;
	if (mkdir(a->dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "agentproc: mkdir %s: %s\n", a->dir, strerror(errno));
		return -1;
	}
	if (agentproc_fits(snprintf(a->state_dir, sizeof(a->state_dir), "%s/state", a->dir),
			   sizeof(a->state_dir), a->dir) < 0 ||
	    agentproc_fits(
		    snprintf(a->local_url, sizeof(a->local_url), "ipc://%s/agent.sock", a->dir),
		    sizeof(a->local_url), a->dir) < 0)
		return -1;
	if (strlen(a->local_url) - 6 >= sizeof(sun.sun_path)) {
		fprintf(stderr, "agentproc: socket path %s longer than a sun_path\n",
			a->local_url + 6);
		return -1;
	}
	return 0;
}

/* The full argument vector; argv has room for AGENTPROC_MAX_ARGS + 1. */
static int agentproc_argv(const struct agentproc *a, const struct harness_swtpm *tpm,
			  const char *const extra[], const char *argv[])
{
	const char *base[] = {AGENTPROC_BINARY, "--tcti",     tpm->tcti,
			      "--state-dir",    a->state_dir, "--local",
			      a->local_url,     "--boot-log", ""};
	size_t n = 0;

	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
		argv[n++] = base[i];
	for (size_t i = 0; extra && extra[i]; i++) {
		if (n >= AGENTPROC_MAX_ARGS) {
			fprintf(stderr, "agentproc: more than %d arguments\n", AGENTPROC_MAX_ARGS);
			return -1;
		}
		argv[n++] = extra[i];
	}
	argv[n] = NULL;
	return 0;
}

/* In the child, between fork and exec: async-signal-safe calls only. */
static void agentproc_child(const char *const argv[], int null_fd, int log_fd, pid_t parent)
{
	sigset_t none;

	/* SIGKILL when the thread that forked us dies, however it dies; and
	 * if it already died before the request took effect, give up. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
		_exit(127);
	execv(argv[0], (char *const *)argv);
	if (write(2, AGENTPROC_EXEC_FAILED, sizeof(AGENTPROC_EXEC_FAILED) - 1) < 0)
		_exit(127);
	_exit(127);
}

static int agentproc_spawn(struct agentproc *a, const struct harness_swtpm *tpm,
			   const char *const extra[])
{
	const char *argv[AGENTPROC_MAX_ARGS + 1];
	pid_t parent = getpid(), pid;
	int null_fd = -1, log_fd = -1, r = -1;

	if (a->pid > 0) {
		fprintf(stderr, "agentproc: an agent (pid %ld) is already running\n", (long)a->pid);
		return -1;
	}
	if (agentproc_paths(a, tpm) < 0 || agentproc_argv(a, tpm, extra, argv) < 0)
		return -1;
	a->runs++;
	if (agentproc_fits(
		    snprintf(a->log_path, sizeof(a->log_path), "%s/agent-%d.log", a->dir, a->runs),
		    sizeof(a->log_path), a->dir) < 0)
		return -1;
	null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	log_fd = open(a->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (null_fd < 0 || log_fd < 0) {
		fprintf(stderr, "agentproc: open %s: %s\n", a->log_path, strerror(errno));
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "agentproc: fork: %s\n", strerror(errno));
		goto out;
	}
	if (pid == 0)
		agentproc_child(argv, null_fd, log_fd, parent);
	a->pid = pid;
	r = 0;
out:
	if (null_fd >= 0)
		close(null_fd);
	if (log_fd >= 0)
		close(log_fd);
	return r;
}

int agentproc_log(const struct agentproc *a, char *buf, size_t cap)
{
	size_t have = 0;
	ssize_t n;
	int fd;

	if (cap == 0)
		return -1;
	buf[0] = '\0';
	fd = open(a->log_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (have < cap - 1 && (n = read(fd, buf + have, cap - 1 - have)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		have += (size_t)n;
	}
	buf[have] = '\0';
	close(fd);
	return 0;
}

static void agentproc_print_log(const struct agentproc *a, const char *why)
{
	static char buf[64 << 10];

	agentproc_log(a, buf, sizeof(buf));
	fprintf(stderr, "agentproc: %s; the agent's log %s:\n%s--\n", why, a->log_path, buf);
}

/* The agent logs "<6>ready: ..." once it serves: a line whose message
 * starts with "ready" (not one that merely contains it, like "already"). */
static int agentproc_is_ready(const struct agentproc *a)
{
	static char buf[64 << 10];
	const char *line;

	if (agentproc_log(a, buf, sizeof(buf)) < 0)
		return 0;
	for (line = buf; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		const char *msg = line;

		if (msg[0] == '<' && (msg = strchr(msg, '>')) != NULL)
			msg++;
		else
			msg = line;
		if (strncmp(msg, "ready", 5) == 0)
			return 1;
	}
	return 0;
}

static int agentproc_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/* Waits up to ms for the agent to exit: its status, or -1 still running. */
static int agentproc_reap(struct agentproc *a, long ms)
{
	long end = agentproc_now_ms() + ms;
	int status;

	for (;;) {
		pid_t r = waitpid(a->pid, &status, WNOHANG);

		if (r == a->pid) {
			a->pid = 0;
			return agentproc_status(status);
		}
		if (r < 0 && errno != EINTR) {
			fprintf(stderr, "agentproc: waitpid %ld: %s\n", (long)a->pid,
				strerror(errno));
			a->pid = 0;
			return 255;
		}
		if (agentproc_now_ms() >= end)
			return -1;
		agentproc_sleep_ms(AGENTPROC_POLL_MS);
	}
}

int agentproc_kill(struct agentproc *a)
{
	if (!a || a->pid <= 0)
		return 0;
	kill(a->pid, SIGKILL);
	if (agentproc_reap(a, AGENTPROC_WAIT_MS) < 0) {
		fprintf(stderr, "agentproc: pid %ld survives SIGKILL\n", (long)a->pid);
		return -1;
	}
	return 0;
}

int agentproc_start(struct agentproc *a, const struct harness_swtpm *tpm,
		    const char *const extra_args[])
{
	long end;

	if (agentproc_spawn(a, tpm, extra_args) < 0)
		return -1;
	end = agentproc_now_ms() + AGENTPROC_WAIT_MS;
	for (;;) {
		int status;

		if (agentproc_is_ready(a))
			return 0;
		status = agentproc_reap(a, 0);
		if (status >= 0) {
			char why[64];

			snprintf(why, sizeof(why), "the agent exited with status %d", status);
			agentproc_print_log(a, why);
			return -1;
		}
		if (agentproc_now_ms() >= end)
			break;
		agentproc_sleep_ms(AGENTPROC_POLL_MS);
	}
	agentproc_print_log(a, "the agent was not ready within 10 s");
	agentproc_kill(a);
	return -1;
}

/* A stuck agent's threads, for the log of the failed test: gdb's backtraces,
 * when gdb is installed (deploy/dev.sh installs it), before it is killed. */
static void agentproc_dump_stacks(const struct agentproc *a)
{
	char pid[24];
	const char *const argv[] = {"gdb", "-p", pid, "-batch", "-ex", "thread apply all bt", NULL};

	if (access("/usr/bin/gdb", X_OK) != 0)
		return;
	snprintf(pid, sizeof(pid), "%ld", (long)a->pid);
	fprintf(stderr, "agentproc: the stuck agent's threads:\n");
	harness_run(argv);
}

int agentproc_run(struct agentproc *a, const struct harness_swtpm *tpm,
		  const char *const extra_args[])
{
	int status;

	if (agentproc_spawn(a, tpm, extra_args) < 0)
		return -1;
	status = agentproc_reap(a, AGENTPROC_WAIT_MS);
	if (status < 0) {
		agentproc_print_log(a, "the agent did not exit within 10 s");
		agentproc_dump_stacks(a);
		agentproc_kill(a);
	}
	return status;
}

int agentproc_stop(struct agentproc *a)
{
	int status;

	if (a->pid <= 0)
		return 0;
	if (kill(a->pid, SIGTERM) < 0) {
		fprintf(stderr, "agentproc: kill %ld: %s\n", (long)a->pid, strerror(errno));
		return -1;
	}
	status = agentproc_reap(a, AGENTPROC_WAIT_MS);
	if (status == 0)
		return 0;
	if (status < 0) {
		agentproc_print_log(a, "the agent did not exit within 10 s of SIGTERM");
		agentproc_dump_stacks(a);
		agentproc_kill(a);
	} else {
		char why[64];

		snprintf(why, sizeof(why), "the agent exited with status %d on SIGTERM", status);
		agentproc_print_log(a, why);
	}
	return -1;
}

int agentproc_restart(struct agentproc *a, const struct harness_swtpm *tpm,
		      const char *const extra_args[])
{
	if (agentproc_stop(a) < 0)
		return -1;
	return agentproc_start(a, tpm, extra_args);
}

int agentproc_free_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	static int seeded;
	int fd, port = -1;

	if (!seeded++)
		srandom((unsigned)getpid() ^ (unsigned)time(NULL));
	/* Odd ports from 20001 to 32767: below the kernel's ephemeral range,
	 * whose ports the swtpm TCTI leaves by the thousand in TIME_WAIT, and
	 * apart from swtpm.sh's even port pairs. */
	for (int i = 0; i < 200 && port < 0; i++) {
		int p = 20001 + 2 * (int)(random() % 6383);

		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			break;
		sin.sin_port = htons((uint16_t)p);
		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
			port = p;
		close(fd);
	}
	if (port < 0)
		fprintf(stderr, "agentproc: no free TCP port below 32768\n");
	return port;
}
