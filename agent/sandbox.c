/* The sandbox: fork a helper that enters new namespaces, fork again for the
 * PID namespace's init (the command itself), and stream its output back.
 *
 *   parent --fork--> helper: unshare(user?, mount, pid, ipc, uts, net?)
 *                      --fork--> init of the new PID namespace: hide the
 *                                directories, mount /proc, no new privileges,
 *                                chdir, exec the command
 *
 * The helper reports the init's PID (as the parent sees it) and waits for it;
 * the parent kills the init on a timeout, which kills every process of the
 * namespace. A setup failure before exec is reported through a close-on-exec
 * pipe, so that it is told apart from the command's own failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <grp.h>
#include <linux/close_range.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "sandbox.h"

/* Processes of the command's user (RLIMIT_NPROC counts them all). */
#define SANDBOX_MAX_PROCS 4096

struct sandbox_pipes {
	int out[2], err[2], fail[2], pid[2];
};

static int64_t sandbox_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In a child: reports "step: strerror" to the parent and exits. */
static void sandbox_die(int fd, const char *step)
{
	char msg[256];
	int n = snprintf(msg, sizeof(msg), "%s: %s", step, strerror(errno));

	if (n > 0 && write(fd, msg, (size_t)n) < 0)
		_exit(126);
	_exit(126);
}

static int sandbox_write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Without root, a user namespace makes the mounts possible. Our uid maps to
 * itself, not to 0: the capabilities a new user namespace grants are enough
 * for the mounts, and the kernel drops them all at execve() because the uid
 * is not 0 there, so the command cannot unmount what hides the agent's
 * socket. */
static void sandbox_userns(int fail)
{
	char map[64];
	uid_t uid = geteuid();
	gid_t gid = getegid();

	if (unshare(CLONE_NEWUSER) < 0)
		sandbox_die(fail, "user namespace");
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
	if (sandbox_write_file("/proc/self/uid_map", map) < 0)
		sandbox_die(fail, "uid map");
	if (sandbox_write_file("/proc/self/setgroups", "deny") < 0)
		sandbox_die(fail, "setgroups");
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
	if (sandbox_write_file("/proc/self/gid_map", map) < 0)
		sandbox_die(fail, "gid map");
}

/* The PID namespace's init: becomes the command. */
static void sandbox_init(const struct sandbox_opts *o, int fail)
{
	static const char *const empty_env[] = {NULL};

	static const int reset[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD};
	sigset_t none;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		sandbox_die(fail, "parent death signal");
	/* The command starts with default signal handling whatever its
	 * starter blocked or ignored (daemons block SIGTERM for sigwait). */
	for (size_t i = 0; i < sizeof(reset) / sizeof(reset[0]); i++)
		signal(reset[i], SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		sandbox_die(fail, "private mounts");
	for (size_t i = 0; o->hide && o->hide[i]; i++)
		if (mount("tmpfs", o->hide[i], "tmpfs",
			  MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=000") < 0)
			sandbox_die(fail, o->hide[i]);
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		sandbox_die(fail, "/proc of the new PID namespace");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		sandbox_die(fail, "no new privileges");
	/* When memory runs out, the command goes first, not the agent or the
	 * executor. */
	if (sandbox_write_file("/proc/self/oom_score_adj", "1000") < 0)
		sandbox_die(fail, "oom_score_adj");
	/* And as the unprivileged user it cannot fork without bound (the
	 * limit counts every process of that user, so not for our own). */
	if (geteuid() == 0 &&
	    setrlimit(RLIMIT_NPROC, &(struct rlimit){SANDBOX_MAX_PROCS, SANDBOX_MAX_PROCS}) < 0)
		sandbox_die(fail, "process limit");
	/* As root: become the unprivileged user; changing every uid away from 0
	 * clears every capability. */
	if (geteuid() == 0) {
		if (o->uid == 0 || o->gid == 0)
			sandbox_die(fail, "refusing to run the command as root");
		if (setgroups(0, NULL) < 0 || setresgid(o->gid, o->gid, o->gid) < 0 ||
		    setresuid(o->uid, o->uid, o->uid) < 0)
			sandbox_die(fail, "switching to the unprivileged user");
	}
	if (o->workdir && chdir(o->workdir) < 0)
		sandbox_die(fail, o->workdir);
	/* Nothing but the standard streams crosses exec, whatever the
	 * starter (or a library in it) forgot to mark close-on-exec: an
	 * inherited connection to the agent would undo the hiding. */
	if (close_range(3, ~0u, CLOSE_RANGE_CLOEXEC) < 0)
		sandbox_die(fail, "close-on-exec for inherited descriptors");
	execvpe(o->argv[0], (char *const *)o->argv, (char *const *)(o->envp ? o->envp : empty_env));
	sandbox_die(fail, o->argv[0]);
}

/* The helper: enters the namespaces, starts the init, waits for it and
 * exits with its status. */
static void sandbox_helper(const struct sandbox_opts *o, struct sandbox_pipes *p)
{
	int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC), st;
	pid_t init;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || fd < 0 || dup2(fd, 0) < 0 ||
	    dup2(p->out[1], 1) < 0 || dup2(p->err[1], 2) < 0)
		sandbox_die(p->fail[1], "standard streams");
	if (!o->network)
		flags |= CLONE_NEWNET;
	if (geteuid() != 0)
		sandbox_userns(p->fail[1]);
	if (unshare(flags) < 0)
		sandbox_die(p->fail[1], "namespaces");
	init = fork();
	if (init < 0)
		sandbox_die(p->fail[1], "fork");
	if (init == 0)
		sandbox_init(o, p->fail[1]);
	close(p->fail[1]);
	if (write(p->pid[1], &init, sizeof(init)) != sizeof(init))
		_exit(126);
	while (waitpid(init, &st, 0) < 0)
		if (errno != EINTR)
			_exit(126);
	_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

static void sandbox_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void sandbox_close_all(struct sandbox_pipes *p)
{
	int *fds[] = {&p->out[0],  &p->out[1],  &p->err[0], &p->err[1],
		      &p->fail[0], &p->fail[1], &p->pid[0], &p->pid[1]};

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		sandbox_close(fds[i]);
}

/* Streams output until both streams close; kills the init at the deadline
 * or when cancel_fd becomes readable. */
static int sandbox_stream(const struct sandbox_opts *o, struct sandbox_pipes *p, pid_t init)
{
	int64_t deadline = o->timeout_ms ? sandbox_now_ms() + o->timeout_ms : 0;
	struct pollfd fds[3] = {{p->out[0], POLLIN, 0},
				{p->err[0], POLLIN, 0},
				{o->cancel_fd > 0 ? o->cancel_fd : -1, POLLIN, 0}};
	bool timed_out = false, cancelled = false;
	char buf[4096];

	while (fds[0].fd >= 0 || fds[1].fd >= 0) {
		int64_t left = deadline ? deadline - sandbox_now_ms() : -1;
		int n;

		if (deadline && left <= 0 && !timed_out && !cancelled) {
			kill(init, SIGKILL); /* the namespace's init: all of it dies */
			timed_out = true;
		}
		n = poll(fds, 3, timed_out || cancelled || !deadline ? -1 : (int)left);
		if (n < 0 && errno != EINTR)
			return err_set(AICERT_ERR_IO, "sandbox: poll: %s", strerror(errno));
		if (n > 0 && fds[2].fd >= 0 && fds[2].revents) {
			if (!timed_out)
				kill(init, SIGKILL);
			cancelled = !timed_out;
			fds[2].fd = -1;
		}
		for (int i = 0; n > 0 && i < 2; i++) {
			ssize_t got;

			if (fds[i].fd < 0 || !fds[i].revents)
				continue;
			got = read(fds[i].fd, buf, sizeof(buf));
			if (got > 0 && o->output)
				o->output(o->ctx, i == 0 ? SANDBOX_STDOUT : SANDBOX_STDERR, buf,
					  (size_t)got);
			else if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN))
				fds[i].fd = -1;
		}
	}
	if (cancelled)
		return err_set(AICERT_ERR_CANCELLED, "the command was cancelled");
	return timed_out ? err_set(AICERT_ERR_TIMEOUT, "the command ran past its %u ms timeout",
				   o->timeout_ms)
			 : 0;
}

static int sandbox_setup_error(struct sandbox_pipes *p)
{
	char msg[256];
	ssize_t n = read(p->fail[0], msg, sizeof(msg) - 1);

	if (n <= 0)
		return 0;
	msg[n] = '\0';
	return err_set(AICERT_ERR_UNAVAILABLE, "sandbox: %s", msg);
}

int sandbox_run(const struct sandbox_opts *o, int *status)
{
	struct sandbox_pipes p = {{-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}};
	pid_t helper, init = -1;
	int st, r;

	if (pipe2(p.out, O_CLOEXEC) < 0 || pipe2(p.err, O_CLOEXEC) < 0 ||
	    pipe2(p.fail, O_CLOEXEC) < 0 || pipe2(p.pid, O_CLOEXEC) < 0) {
		sandbox_close_all(&p);
		return err_set(AICERT_ERR_IO, "sandbox: pipes: %s", strerror(errno));
	}
	helper = fork();
	if (helper < 0) {
		sandbox_close_all(&p);
		return err_set(AICERT_ERR_IO, "sandbox: fork: %s", strerror(errno));
	}
	if (helper == 0)
		sandbox_helper(o, &p);
	sandbox_close(&p.out[1]);
	sandbox_close(&p.err[1]);
	sandbox_close(&p.fail[1]);
	sandbox_close(&p.pid[1]);
	if (read(p.pid[0], &init, sizeof(init)) != sizeof(init))
		init = -1;
	r = init > 0 ? sandbox_stream(o, &p, init) : 0;
	while (waitpid(helper, &st, 0) < 0 && errno == EINTR)
		;
	if (r == 0)
		r = sandbox_setup_error(&p);
	sandbox_close_all(&p);
	if (r == 0 && init <= 0)
		r = err_set(AICERT_ERR_UNAVAILABLE, "sandbox: could not start the command");
	if (r == 0 || r == AICERT_ERR_TIMEOUT || r == AICERT_ERR_CANCELLED)
		*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return r;
}
