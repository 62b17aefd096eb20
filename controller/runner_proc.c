/* What the runner backends share (runner_proc.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
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

#include "err.h"
#include "fileio.h"
#include "log.h"
#include "runner_proc.h"

#define RUNNER_TAIL_BYTES   2048
#define RUNNER_TAIL_LINES   3
#define RUNNER_EXEC_FAILED  "runner: cannot execute "
#define RUNNER_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

long runner_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

void runner_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Joins DIR/runner and name into out (PATH_MAX bytes). */
int runner_path(const struct runner_proc *r, const char *name, char *out)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", r->priv, name);

	if (n < 0 || n >= PATH_MAX)
		return err_set(AICERT_ERR_INVALID, "%s/%s: path too long", r->priv, name);
	return 0;
}

/* ---- logs --------------------------------------------------------------------------- */

/* The last RUNNER_TAIL_LINES non-empty lines of a log, joined by " | ". */
void runner_tail(const char *path, char *out, size_t cap)
{
	char buf[RUNNER_TAIL_BYTES + 1];
	const char *lines[RUNNER_TAIL_LINES];
	size_t n = 0, used = 0;
	ssize_t got;
	off_t size;
	int fd;

	out[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	if (size > RUNNER_TAIL_BYTES)
		lseek(fd, size - RUNNER_TAIL_BYTES, SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	got = read(fd, buf, RUNNER_TAIL_BYTES);
	close(fd);
	if (got <= 0)
		return;
	buf[got] = '\0';
	for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		lines[n++ % RUNNER_TAIL_LINES] = l;
	for (size_t i = n > RUNNER_TAIL_LINES ? n - RUNNER_TAIL_LINES : 0; i < n && used + 1 < cap;
	     i++) {
		int w = snprintf(out + used, cap - used, "%s%s", used ? " | " : "",
				 lines[i % RUNNER_TAIL_LINES]);

		if (w < 0)
			break;
		used += (size_t)w < cap - used ? (size_t)w : cap - used - 1;
	}
}

/* Sets an error "WHAT: see DIR/LOG: last lines" (the path only when the
 * directory is kept) and returns code. */
int runner_fail(const struct runner_proc *r, int code, const char *log_name, const char *fmt, ...)
{
	char what[512], path[PATH_MAX], tail[RUNNER_TAIL_BYTES + 16];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (runner_path(r, log_name, path) < 0)
		return code;
	runner_tail(path, tail, sizeof(tail));
	return err_set(code, "%s%s%s: %s", what, r->keep ? ": see " : "", r->keep ? path : "",
		       tail[0] ? tail : "(empty log)");
}

/* ---- processes ---------------------------------------------------------------------- */

/* In the child, between fork and exec: async-signal-safe calls only. */
static void runner_child(const char *const argv[], int null_fd, int log_fd, pid_t parent)
{
	static const int reset[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD};
	sigset_t none;

	/* Own process group: the terminal's Ctrl-C goes to our parent only. */
	setpgid(0, 0);
	/* SIGKILL when the thread that forked us dies; if it already died
	 * before the request took effect, give up. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);
	for (size_t i = 0; i < sizeof(reset) / sizeof(reset[0]); i++)
		signal(reset[i], SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
		_exit(127);
	close_range(3, ~0u, 0);
	execv(argv[0], (char *const *)argv);
	if (write(2, RUNNER_EXEC_FAILED, sizeof(RUNNER_EXEC_FAILED) - 1) < 0 ||
	    write(2, argv[0], strlen(argv[0])) < 0 || write(2, "\n", 1) < 0)
		_exit(127);
	_exit(127);
}

/* Starts argv[0] (an absolute path) with stdin from /dev/null and
 * stdout/stderr appended to DIR/log_name. */
int runner_spawn(const struct runner_proc *r, const char *const argv[], const char *log_name,
		 pid_t *pid)
{
	char log_path[PATH_MAX];
	pid_t parent = getpid(), child;
	int null_fd = -1, log_fd = -1, ret;

	ret = runner_path(r, log_name, log_path);
	if (ret < 0)
		return ret;
	null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (null_fd < 0 || log_fd < 0) {
		ret = err_set(AICERT_ERR_IO, "open %s: %s", log_path, strerror(errno));
		goto out;
	}
	child = fork();
	if (child < 0) {
		ret = err_set(AICERT_ERR_IO, "fork for %s: %s", argv[0], strerror(errno));
		goto out;
	}
	if (child == 0)
		runner_child(argv, null_fd, log_fd, parent);
	/* Also here, so that the group exists before we signal it. */
	setpgid(child, child);
	log_debug("runner %s: started %s (pid %ld)", r->dir, argv[0], (long)child);
	*pid = child;
	ret = 0;
out:
	if (null_fd >= 0)
		close(null_fd);
	if (log_fd >= 0)
		close(log_fd);
	return ret;
}

/* Waits up to ms for pid to exit: 1 and *status when it did, 0 when it
 * still runs. Once it exited, and before it is reaped (its zombie keeps the
 * id reserved), SIGKILL goes to its process group: nothing it started
 * survives it. */
int runner_wait(pid_t pid, long ms, int *status)
{
	long end = runner_now_ms() + ms;

	for (;;) {
		siginfo_t info;
		int w;

		memset(&info, 0, sizeof(info));
		w = waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT);
		if (w == 0 && info.si_pid == pid) {
			kill(-pid, SIGKILL);
			while (waitpid(pid, status, 0) < 0)
				if (errno != EINTR) {
					*status = 255 << 8;
					break;
				}
			return 1;
		}
		if (w < 0 && errno == ECHILD) {
			*status = 255 << 8; /* not our child any more: treat as gone */
			return 1;
		}
		if (runner_now_ms() >= end)
			return 0;
		runner_sleep_ms(RUNNER_POLL_MS);
	}
}

/* Exit status, or 128 + the signal. */
int runner_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/* SIGTERM, then SIGKILL to the process group after ms; reaps *pid and zeroes
 * it. Returns the exit status, or -1 when SIGKILL was needed. */
int runner_kill(pid_t *pid, long ms)
{
	int status = 0;

	if (*pid <= 0)
		return 0;
	kill(*pid, SIGTERM);
	if (!runner_wait(*pid, ms, &status)) {
		kill(-*pid, SIGKILL);
		kill(*pid, SIGKILL);
		while (waitpid(*pid, &status, 0) < 0 && errno == EINTR)
			;
		*pid = 0;
		return -1;
	}
	*pid = 0;
	return runner_status(status);
}

/* Runs a program to completion within the timeout. */
int runner_run(const struct runner_proc *r, const char *const argv[], const char *log_name,
	       const char *what)
{
	pid_t pid = 0;
	int status, ret;

	ret = runner_spawn(r, argv, log_name, &pid);
	if (ret < 0)
		return ret;
	if (!runner_wait(pid, r->timeout_ms, &status)) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return runner_fail(r, AICERT_ERR_TIMEOUT, log_name,
				   "%s did not finish within %ld ms", what, r->timeout_ms);
	}
	if (status != 0)
		return runner_fail(r, AICERT_ERR_UNAVAILABLE, log_name, "%s failed (exit %d)", what,
				   runner_status(status));
	return 0;
}

/* ---- programs ----------------------------------------------------------------------- */

/* The absolute path of a program in $PATH. */
int runner_which(const char *name, char out[PATH_MAX])
{
	const char *path = getenv("PATH");
	char *copy, *save = NULL;

	copy = strdup(path && *path ? path : RUNNER_DEFAULT_PATH);
	if (!copy)
		return err_set(AICERT_ERR_NOMEM, "out of memory");
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		int n = snprintf(out, PATH_MAX, "%s/%s", d, name);

		if (n > 0 && n < PATH_MAX && d[0] == '/' && access(out, X_OK) == 0) {
			free(copy);
			return 0;
		}
	}
	free(copy);
	return err_set(AICERT_ERR_NOT_FOUND, "%s not found in PATH (install swtpm and swtpm-tools)",
		       name);
}

/* The program `name`: bin when given, else next to this executable, else
 * in ../agent/ (the build tree). */
int runner_bin_path(const char *bin, const char *name, char out[PATH_MAX])
{
	char self[PATH_MAX], rel[2][64];
	ssize_t n;
	char *slash;

	if (bin) {
		if (snprintf(out, PATH_MAX, "%s", bin) >= PATH_MAX)
			return err_set(AICERT_ERR_INVALID, "%s: path too long", name);
		if (access(out, X_OK) < 0)
			return err_set(AICERT_ERR_NOT_FOUND, "%s %s: %s", name, out,
				       strerror(errno));
		return 0;
	}
	snprintf(rel[0], sizeof(rel[0]), "/%s", name);
	snprintf(rel[1], sizeof(rel[1]), "/../agent/%s", name);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return err_set(AICERT_ERR_IO, "readlink /proc/self/exe: %s", strerror(errno));
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++)
		if (snprintf(out, PATH_MAX, "%s%s", self, rel[i]) < PATH_MAX &&
		    access(out, X_OK) == 0)
			return 0;
	return err_set(AICERT_ERR_NOT_FOUND, "%s not found next to %s", name, self);
}

/* ---- swtpm -------------------------------------------------------------------------- */

int runner_write(const struct runner_proc *r, const char *name, const char *text)
{
	char path[PATH_MAX];
	int ret = runner_path(r, name, path);

	if (ret < 0)
		return ret;
	return fileio_write_atomic(path, text, strlen(text), 0600);
}

/* swtpm_setup's configuration, as tests/harness/swtpm.sh writes it. */
static int runner_write_config(const struct runner_proc *r)
{
	char localca[PATH_MAX], text[4 * PATH_MAX + 256];
	int ret;

	ret = runner_which("swtpm_localca", localca);
	if (ret < 0)
		return ret;
	snprintf(text, sizeof(text),
		 "statedir = %s/ca\nsigningkey = %s/ca/signkey.pem\n"
		 "issuercert = %s/ca/issuercert.pem\ncertserial = %s/ca/certserial\n",
		 r->priv, r->priv, r->priv, r->priv);
	ret = runner_write(r, "swtpm-localca.conf", text);
	if (ret == 0)
		ret = runner_write(r, "swtpm-localca.options",
				   "--platform-manufacturer aicert\n--platform-model swtpm\n"
				   "--platform-version 2.1\n");
	if (ret < 0)
		return ret;
	snprintf(text, sizeof(text),
		 "create_certs_tool = %s\ncreate_certs_tool_config = %s/swtpm-localca.conf\n"
		 "create_certs_tool_options = %s/swtpm-localca.options\n"
		 "active_pcr_banks = sha256,sha1\n",
		 localca, r->priv, r->priv);
	return runner_write(r, "swtpm_setup.conf", text);
}

int runner_manufacture(const struct runner_proc *r)
{
	char setup[PATH_MAX], state[PATH_MAX], ca[PATH_MAX], conf[PATH_MAX], log_path[PATH_MAX];
	const char *argv[] = {setup,          "--tpm2",           "--tpmstate",
			      state,          "--create-ek-cert", "--create-platform-cert",
			      "--lock-nvram", "--config",         conf,
			      "--logfile",    log_path,           NULL};
	int ret;

	ret = runner_which("swtpm_setup", setup);
	if (ret == 0)
		ret = runner_path(r, "state", state);
	if (ret == 0)
		ret = runner_path(r, "ca", ca);
	if (ret == 0)
		ret = runner_path(r, "swtpm_setup.conf", conf);
	if (ret == 0)
		ret = runner_path(r, "setup.log", log_path);
	if (ret == 0)
		ret = fileio_mkdir(state, 0700);
	if (ret == 0)
		ret = fileio_mkdir(ca, 0700);
	if (ret == 0)
		ret = runner_write_config(r);
	if (ret < 0)
		return ret;
	return runner_run(r, argv, "setup.log", "swtpm_setup");
}

/* 1 when swtpm's control socket answers CMD_GET_CAPABILITY. */
int runner_ping(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	static const uint8_t cmd[4] = {0, 0, 0, 1};
	struct pollfd pfd = {.events = POLLIN};
	uint8_t reply[16];
	int ok = 0;

	if (strlen(path) >= sizeof(sun.sun_path))
		return 0;
	strcpy(sun.sun_path, path);
	pfd.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (pfd.fd < 0)
		return 0;
	if (connect(pfd.fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 &&
	    send(pfd.fd, cmd, sizeof(cmd), MSG_NOSIGNAL) == sizeof(cmd) &&
	    poll(&pfd, 1, 500) == 1 && recv(pfd.fd, reply, sizeof(reply), 0) > 0)
		ok = 1;
	close(pfd.fd);
	return ok;
}

/* The agent and the executor log "<6>ready: ..." once they serve: a line
 * whose message starts with "ready". */
int runner_ready(const struct runner_proc *r, const char *log_name)
{
	char path[PATH_MAX];
	uint8_t *buf = NULL;
	size_t len;
	int ready = 0;

	if (runner_path(r, log_name, path) < 0 ||
	    fileio_read_all(path, RUNNER_LOG_MAX, &buf, &len) < 0)
		return 0;
	for (char *line = (char *)buf, *nl; !ready && (nl = strchr(line, '\n')); line = nl + 1) {
		char *msg = line, *gt = memchr(line, '>', (size_t)(nl - line));

		if (line[0] == '<' && gt)
			msg = gt + 1;
		ready = strncmp(msg, "ready", 5) == 0;
	}
	free(buf);
	return ready;
}

/* Waits for *pid to log its ready line. */
int runner_await(const struct runner_proc *r, pid_t *pid, const char *bin, const char *log_name)
{
	long end = runner_now_ms() + r->timeout_ms;
	int status;

	for (;;) {
		if (runner_ready(r, log_name))
			return 0;
		if (runner_wait(*pid, 0, &status)) {
			*pid = 0;
			return runner_fail(r, AICERT_ERR_UNAVAILABLE, log_name,
					   "%s exited with status %d before it was ready", bin,
					   runner_status(status));
		}
		if (runner_now_ms() >= end)
			break;
		runner_sleep_ms(RUNNER_POLL_MS);
	}
	runner_kill(pid, 0);
	return runner_fail(r, AICERT_ERR_TIMEOUT, log_name, "%s was not ready within %ld ms", bin,
			   r->timeout_ms);
}
