/* The local runner: swtpm and aicert-agent as child processes (see
 * runner_local.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "fileio.h"
#include "log.h"
#include "runner_local.h"

#define RL_POLL_MS       10
#define RL_MAX_ARGS      64
#define RL_LOG_MAX       (64 << 10)
#define RL_TAIL_BYTES    2048
#define RL_TAIL_LINES    3
#define RL_EXEC_FAILED   "runner_local: cannot execute "
#define RL_DEFAULT_PATH  "/usr/local/bin:/usr/bin:/bin"
#define RL_SOCKET_PREFIX "ipc://"

/* The sockets DIR/runner/... must fit a sun_path (108 bytes). */
#define RL_DIR_MAX (108 - sizeof("/runner/tpm.sock.ctrl"))

struct runner_local {
	char dir[RL_DIR_MAX];
	char priv[RL_DIR_MAX + 8];
	char work[RL_DIR_MAX + 8];
	char url[RL_DIR_MAX + 32];
	char exec_url[RL_DIR_MAX + 32];
	char tcti[RL_DIR_MAX + 32];
	char ek_root[RL_DIR_MAX + 48];
	char ek_issuer[RL_DIR_MAX + 32];
	char identity[RL_DIR_MAX + 32];
	pid_t swtpm;
	pid_t agent;
	pid_t executor;
	bool keep;
	bool stopped;
	long timeout_ms;
};

static long rl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void rl_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Joins DIR/runner and name into out (PATH_MAX bytes). */
static int rl_path(const struct runner_local *r, const char *name, char *out)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", r->priv, name);

	if (n < 0 || n >= PATH_MAX)
		return err_set(AICERT_ERR_INVALID, "%s/%s: path too long", r->priv, name);
	return 0;
}

/* ---- logs --------------------------------------------------------------------------- */

/* The last RL_TAIL_LINES non-empty lines of a log, joined by " | ". */
static void rl_tail(const char *path, char *out, size_t cap)
{
	char buf[RL_TAIL_BYTES + 1];
	const char *lines[RL_TAIL_LINES];
	size_t n = 0, used = 0;
	ssize_t got;
	off_t size;
	int fd;

	out[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	if (size > RL_TAIL_BYTES)
		lseek(fd, size - RL_TAIL_BYTES, SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	got = read(fd, buf, RL_TAIL_BYTES);
	close(fd);
	if (got <= 0)
		return;
	buf[got] = '\0';
	for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		lines[n++ % RL_TAIL_LINES] = l;
	for (size_t i = n > RL_TAIL_LINES ? n - RL_TAIL_LINES : 0; i < n && used + 1 < cap; i++) {
		int w = snprintf(out + used, cap - used, "%s%s", used ? " | " : "",
				 lines[i % RL_TAIL_LINES]);

		if (w < 0)
			break;
		used += (size_t)w < cap - used ? (size_t)w : cap - used - 1;
	}
}

/* Sets an error "WHAT: see DIR/LOG: last lines" (the path only when the
 * directory is kept) and returns code. */
__attribute__((format(printf, 4, 5))) static int rl_fail(const struct runner_local *r, int code,
							 const char *log_name, const char *fmt, ...)
{
	char what[512], path[PATH_MAX], tail[RL_TAIL_BYTES + 16];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (rl_path(r, log_name, path) < 0)
		return code;
	rl_tail(path, tail, sizeof(tail));
	return err_set(code, "%s%s%s: %s", what, r->keep ? ": see " : "", r->keep ? path : "",
		       tail[0] ? tail : "(empty log)");
}

/* ---- processes ---------------------------------------------------------------------- */

/* In the child, between fork and exec: async-signal-safe calls only. */
static void rl_child(const char *const argv[], int null_fd, int log_fd, pid_t parent)
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
	if (write(2, RL_EXEC_FAILED, sizeof(RL_EXEC_FAILED) - 1) < 0 ||
	    write(2, argv[0], strlen(argv[0])) < 0 || write(2, "\n", 1) < 0)
		_exit(127);
	_exit(127);
}

/* Starts argv[0] (an absolute path) with stdin from /dev/null and
 * stdout/stderr appended to DIR/log_name. */
static int rl_spawn(const struct runner_local *r, const char *const argv[], const char *log_name,
		    pid_t *pid)
{
	char log_path[PATH_MAX];
	pid_t parent = getpid(), child;
	int null_fd = -1, log_fd = -1, ret;

	ret = rl_path(r, log_name, log_path);
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
		rl_child(argv, null_fd, log_fd, parent);
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
static int rl_wait(pid_t pid, long ms, int *status)
{
	long end = rl_now_ms() + ms;

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
		if (rl_now_ms() >= end)
			return 0;
		rl_sleep_ms(RL_POLL_MS);
	}
}

/* Exit status, or 128 + the signal. */
static int rl_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/* SIGTERM, then SIGKILL to the process group after ms; reaps *pid and zeroes
 * it. Returns the exit status, or -1 when SIGKILL was needed. */
static int rl_kill(pid_t *pid, long ms)
{
	int status = 0;

	if (*pid <= 0)
		return 0;
	kill(*pid, SIGTERM);
	if (!rl_wait(*pid, ms, &status)) {
		kill(-*pid, SIGKILL);
		kill(*pid, SIGKILL);
		while (waitpid(*pid, &status, 0) < 0 && errno == EINTR)
			;
		*pid = 0;
		return -1;
	}
	*pid = 0;
	return rl_status(status);
}

/* Runs a program to completion within the timeout. */
static int rl_run(struct runner_local *r, const char *const argv[], const char *log_name,
		  const char *what)
{
	pid_t pid = 0;
	int status, ret;

	ret = rl_spawn(r, argv, log_name, &pid);
	if (ret < 0)
		return ret;
	if (!rl_wait(pid, r->timeout_ms, &status)) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return rl_fail(r, AICERT_ERR_TIMEOUT, log_name, "%s did not finish within %ld ms",
			       what, r->timeout_ms);
	}
	if (status != 0)
		return rl_fail(r, AICERT_ERR_UNAVAILABLE, log_name, "%s failed (exit %d)", what,
			       rl_status(status));
	return 0;
}

/* ---- programs ----------------------------------------------------------------------- */

/* The absolute path of a program in $PATH. */
static int rl_which(const char *name, char out[PATH_MAX])
{
	const char *path = getenv("PATH");
	char *copy, *save = NULL;

	copy = strdup(path && *path ? path : RL_DEFAULT_PATH);
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
static int rl_bin_path(const char *bin, const char *name, char out[PATH_MAX])
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

static int rl_write(const struct runner_local *r, const char *name, const char *text)
{
	char path[PATH_MAX];
	int ret = rl_path(r, name, path);

	if (ret < 0)
		return ret;
	return fileio_write_atomic(path, text, strlen(text), 0600);
}

/* swtpm_setup's configuration, as tests/harness/swtpm.sh writes it. */
static int rl_write_config(const struct runner_local *r)
{
	char localca[PATH_MAX], text[4 * PATH_MAX + 256];
	int ret;

	ret = rl_which("swtpm_localca", localca);
	if (ret < 0)
		return ret;
	snprintf(text, sizeof(text),
		 "statedir = %s/ca\nsigningkey = %s/ca/signkey.pem\n"
		 "issuercert = %s/ca/issuercert.pem\ncertserial = %s/ca/certserial\n",
		 r->priv, r->priv, r->priv, r->priv);
	ret = rl_write(r, "swtpm-localca.conf", text);
	if (ret == 0)
		ret = rl_write(r, "swtpm-localca.options",
			       "--platform-manufacturer aicert\n--platform-model swtpm\n"
			       "--platform-version 2.1\n");
	if (ret < 0)
		return ret;
	snprintf(text, sizeof(text),
		 "create_certs_tool = %s\ncreate_certs_tool_config = %s/swtpm-localca.conf\n"
		 "create_certs_tool_options = %s/swtpm-localca.options\n"
		 "active_pcr_banks = sha256,sha1\n",
		 localca, r->priv, r->priv);
	return rl_write(r, "swtpm_setup.conf", text);
}

static int rl_manufacture(struct runner_local *r)
{
	char setup[PATH_MAX], state[PATH_MAX], ca[PATH_MAX], conf[PATH_MAX], log_path[PATH_MAX];
	const char *argv[] = {setup,          "--tpm2",           "--tpmstate",
			      state,          "--create-ek-cert", "--create-platform-cert",
			      "--lock-nvram", "--config",         conf,
			      "--logfile",    log_path,           NULL};
	int ret;

	ret = rl_which("swtpm_setup", setup);
	if (ret == 0)
		ret = rl_path(r, "state", state);
	if (ret == 0)
		ret = rl_path(r, "ca", ca);
	if (ret == 0)
		ret = rl_path(r, "swtpm_setup.conf", conf);
	if (ret == 0)
		ret = rl_path(r, "setup.log", log_path);
	if (ret == 0)
		ret = fileio_mkdir(state, 0700);
	if (ret == 0)
		ret = fileio_mkdir(ca, 0700);
	if (ret == 0)
		ret = rl_write_config(r);
	if (ret < 0)
		return ret;
	return rl_run(r, argv, "setup.log", "swtpm_setup");
}

/* 1 when swtpm's control socket answers CMD_GET_CAPABILITY. */
static int rl_ping(const char *path)
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

/* swtpm on Unix sockets in DIR/runner (tpm.sock, and tpm.sock.ctrl where
 * tcti-swtpm looks for the control channel): only this user reaches them,
 * and no network namespace does. Ready once the control socket answers. */
static int rl_swtpm(struct runner_local *r)
{
	char swtpm[PATH_MAX], state[PATH_MAX + 8], server[PATH_MAX + 32], ctrl[PATH_MAX + 32];
	char sock[PATH_MAX], ctrl_sock[PATH_MAX];
	const char *argv[] = {swtpm,
			      "socket",
			      "--tpm2",
			      "--tpmstate",
			      state,
			      "--server",
			      server,
			      "--ctrl",
			      ctrl,
			      "--flags",
			      "not-need-init,startup-clear",
			      NULL};
	long end;
	int status, ret;

	ret = rl_which("swtpm", swtpm);
	if (ret == 0)
		ret = rl_path(r, "tpm.sock", sock);
	if (ret == 0)
		ret = rl_path(r, "tpm.sock.ctrl", ctrl_sock);
	if (ret < 0)
		return ret;
	snprintf(state, sizeof(state), "dir=%s/state", r->priv);
	snprintf(server, sizeof(server), "type=unixio,path=%s,mode=0600", sock);
	snprintf(ctrl, sizeof(ctrl), "type=unixio,path=%s,mode=0600", ctrl_sock);
	ret = rl_spawn(r, argv, "swtpm.log", &r->swtpm);
	if (ret < 0)
		return ret;
	end = rl_now_ms() + r->timeout_ms;
	for (;;) {
		if (rl_wait(r->swtpm, 0, &status)) {
			r->swtpm = 0;
			return rl_fail(r, AICERT_ERR_UNAVAILABLE, "swtpm.log",
				       "swtpm exited with status %d", rl_status(status));
		}
		if (rl_ping(ctrl_sock)) {
			snprintf(r->tcti, sizeof(r->tcti), "swtpm:path=%s/tpm.sock", r->priv);
			return 0;
		}
		if (rl_now_ms() >= end)
			break;
		rl_sleep_ms(RL_POLL_MS);
	}
	rl_kill(&r->swtpm, 0);
	return rl_fail(r, AICERT_ERR_TIMEOUT, "swtpm.log", "swtpm did not answer within %ld ms",
		       r->timeout_ms);
}

/* ---- the agent ---------------------------------------------------------------------- */

/* The agent and the executor log "<6>ready: ..." once they serve: a line
 * whose message starts with "ready". */
static int rl_ready(const struct runner_local *r, const char *log_name)
{
	char path[PATH_MAX];
	uint8_t *buf = NULL;
	size_t len;
	int ready = 0;

	if (rl_path(r, log_name, path) < 0 || fileio_read_all(path, RL_LOG_MAX, &buf, &len) < 0)
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
static int rl_await(struct runner_local *r, pid_t *pid, const char *bin, const char *log_name)
{
	long end = rl_now_ms() + r->timeout_ms;
	int status;

	for (;;) {
		if (rl_ready(r, log_name))
			return 0;
		if (rl_wait(*pid, 0, &status)) {
			*pid = 0;
			return rl_fail(r, AICERT_ERR_UNAVAILABLE, log_name,
				       "%s exited with status %d before it was ready", bin,
				       rl_status(status));
		}
		if (rl_now_ms() >= end)
			break;
		rl_sleep_ms(RL_POLL_MS);
	}
	rl_kill(pid, 0);
	return rl_fail(r, AICERT_ERR_TIMEOUT, log_name, "%s was not ready within %ld ms", bin,
		       r->timeout_ms);
}

static int rl_agent(struct runner_local *r, const char *bin, const char *const *extra)
{
	char state[PATH_MAX];
	const char *argv[RL_MAX_ARGS + 1] = {
		bin,    "--tcti",     r->tcti, "--state-dir",           state,      "--local",
		r->url, "--boot-log", "",      "--controller-identity", r->identity};
	uint8_t id[32];
	size_t n = 11;
	int ret;

	for (size_t i = 0; extra && extra[i]; i++) {
		if (n >= RL_MAX_ARGS)
			return err_set(AICERT_ERR_TOO_BIG, "more than %d agent arguments",
				       RL_MAX_ARGS);
		argv[n++] = extra[i];
	}
	argv[n] = NULL;
	/* A one-time identity for whoever started this runner: the agent
	 * binds the runner to it in PCR 15 before it serves anyone. */
	if (getrandom(id, sizeof(id), 0) != sizeof(id))
		return err_set(AICERT_ERR_CRYPTO, "no random bytes for the controller identity");
	ret = fileio_write_atomic(r->identity, id, sizeof(id), 0600);
	if (ret == 0)
		ret = rl_path(r, "agent", state);
	if (ret == 0)
		ret = rl_spawn(r, argv, "agent.log", &r->agent);
	if (ret < 0)
		return ret;
	return rl_await(r, &r->agent, bin, "agent.log");
}

/* The executor: serves the controller on DIR/runner/executor.sock, runs the
 * job in DIR/work, and hides DIR/runner from the job's command. */
static int rl_executor(struct runner_local *r, const char *bin, const char *ca_file)
{
	const char *argv[] = {bin,           "--agent", r->url,   "--listen", r->exec_url,
			      "--workspace", r->work,   "--hide", r->priv,    "--local-runner",
			      NULL,          NULL,      NULL};
	int ret;

	if (ca_file) {
		argv[10] = "--ca-file";
		argv[11] = ca_file;
	}
	ret = rl_spawn(r, argv, "executor.log", &r->executor);
	if (ret < 0)
		return ret;
	return rl_await(r, &r->executor, bin, "executor.log");
}

/* ---- runner ------------------------------------------------------------------------- */

static int rl_mkdir(struct runner_local *r, const struct runner_local_opts *o)
{
	const char *base = o->work_dir;
	char tmpl[PATH_MAX];
	int n;

	if (!base || !*base)
		base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	n = snprintf(tmpl, sizeof(tmpl), "%s/aicert-runner.XXXXXX", base);
	if (n < 0 || (size_t)n >= sizeof(r->dir))
		return err_set(AICERT_ERR_INVALID,
			       "%s: too long for the agent's socket path (at most %zu bytes)", base,
			       sizeof(r->dir) - 1 - strlen("/aicert-runner.XXXXXX"));
	if (!mkdtemp(tmpl))
		return err_set(AICERT_ERR_IO, "mkdtemp %s: %s", tmpl, strerror(errno));
	memcpy(r->dir, tmpl, (size_t)n + 1);
	snprintf(r->priv, sizeof(r->priv), "%s/runner", r->dir);
	snprintf(r->work, sizeof(r->work), "%s/work", r->dir);
	snprintf(r->url, sizeof(r->url), RL_SOCKET_PREFIX "%s/agent.sock", r->priv);
	snprintf(r->exec_url, sizeof(r->exec_url), RL_SOCKET_PREFIX "%s/executor.sock", r->priv);
	snprintf(r->ek_root, sizeof(r->ek_root), "%s/ca/swtpm-localca-rootca-cert.pem", r->priv);
	snprintf(r->ek_issuer, sizeof(r->ek_issuer), "%s/ca/issuercert.pem", r->priv);
	snprintf(r->identity, sizeof(r->identity), "%s/controller.id", r->priv);
	/* DIR: traversable, so that the job's command (run as another user by
	 * root) reaches DIR/work; DIR/runner: ours alone. */
	if (chmod(r->dir, 0711) < 0 || mkdir(r->priv, 0700) < 0)
		return err_set(AICERT_ERR_IO, "%s: %s", r->priv, strerror(errno));
	return 0;
}

int runner_local_start(const struct runner_local_opts *o, struct runner_local **ret)
{
	struct runner_local *r = NULL;
	char agent[PATH_MAX], executor[PATH_MAX];
	long t0 = rl_now_ms(), t1, t2, t3;
	int rc;

	rc = rl_bin_path(o->agent_bin, "aicert-agent", agent);
	if (rc == 0 && o->executor)
		rc = rl_bin_path(o->executor_bin, "aicert-executor", executor);
	if (rc < 0)
		return err_wrap(rc, "local runner");
	r = calloc(1, sizeof(*r));
	if (!r)
		return err_set(AICERT_ERR_NOMEM, "out of memory");
	r->keep = o->keep;
	r->timeout_ms = o->ready_timeout_ms ? (long)o->ready_timeout_ms : RUNNER_LOCAL_READY_MS;
	rc = rl_mkdir(r, o);
	if (rc == 0)
		rc = rl_manufacture(r);
	t1 = rl_now_ms();
	if (rc == 0)
		rc = rl_swtpm(r);
	t2 = rl_now_ms();
	if (rc == 0)
		rc = rl_agent(r, agent, o->agent_args);
	t3 = rl_now_ms();
	if (rc == 0 && o->executor)
		rc = rl_executor(r, executor, o->ca_file);
	if (rc < 0) {
		char msg[1024];

		/* Teardown must not replace the message of what failed. */
		snprintf(msg, sizeof(msg), "%s", err_msg(rc));
		runner_local_free(r);
		return err_set(rc, "local runner: %s", msg);
	}
	log_debug("runner %s: ready in %ld ms (swtpm_setup %ld, swtpm %ld, agent %ld, "
		  "executor %ld)",
		  r->dir, rl_now_ms() - t0, t1 - t0, t2 - t1, t3 - t2, rl_now_ms() - t3);
	*ret = r;
	return 0;
}

static int rl_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

int runner_local_stop(struct runner_local *r)
{
	int exec_status, agent_status, swtpm_status, rc = 0;

	if (!r || r->stopped)
		return 0;
	r->stopped = true;
	/* The executor first: it kills a command still running. */
	exec_status = rl_kill(&r->executor, RUNNER_LOCAL_STOP_MS);
	agent_status = rl_kill(&r->agent, RUNNER_LOCAL_STOP_MS);
	swtpm_status = rl_kill(&r->swtpm, RUNNER_LOCAL_STOP_MS);
	if (agent_status != 0)
		rc = agent_status < 0
			     ? err_set(AICERT_ERR_STATE,
				       "local runner %s: the agent did not exit on SIGTERM", r->dir)
			     : err_set(AICERT_ERR_STATE,
				       "local runner %s: the agent exited with status %d", r->dir,
				       agent_status);
	else if (exec_status != 0)
		rc = err_set(AICERT_ERR_STATE, "local runner %s: the executor %s", r->dir,
			     exec_status < 0 ? "did not exit on SIGTERM" : "failed");
	else if (swtpm_status < 0)
		rc = err_set(AICERT_ERR_STATE, "local runner %s: swtpm did not exit on SIGTERM",
			     r->dir);
	if (!r->keep && r->dir[0])
		nftw(r->dir, rl_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}

void runner_local_free(struct runner_local *r)
{
	if (!r)
		return;
	runner_local_stop(r);
	free(r);
}

const char *runner_local_url(const struct runner_local *r)
{
	return r->url;
}

const char *runner_local_tcti(const struct runner_local *r)
{
	return r->tcti;
}

const char *runner_local_ek_root(const struct runner_local *r)
{
	return r->ek_root;
}

const char *runner_local_ek_issuer(const struct runner_local *r)
{
	return r->ek_issuer;
}

const char *runner_local_dir(const struct runner_local *r)
{
	return r->dir;
}

const char *runner_local_executor_url(const struct runner_local *r)
{
	return r->executor ? r->exec_url : NULL;
}

const char *runner_local_controller_identity(const struct runner_local *r)
{
	return r->identity;
}

const char *runner_local_workspace(const struct runner_local *r)
{
	return r->work;
}

const char *runner_local_private_dir(const struct runner_local *r)
{
	return r->priv;
}

pid_t runner_local_executor_pid(const struct runner_local *r)
{
	return r->executor;
}

pid_t runner_local_agent_pid(const struct runner_local *r)
{
	return r->agent;
}

pid_t runner_local_swtpm_pid(const struct runner_local *r)
{
	return r->swtpm;
}
