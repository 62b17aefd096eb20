/* Fetching git trees at a pinned commit, through the git command.
 *
 * A tree is cloned into a temporary directory beside the destination (so
 * that the final rename stays on one filesystem), checked (the commit, no
 * links, no gitlinks) and renamed into place; git runs from posix_spawn with
 * an argv, in an environment built here (no system or global configuration,
 * no prompts, https and local paths only), in a process group of its own so
 * that a timeout kills it with its helpers.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "fetch.h"
#include "fetch_internal.h"

#define FETCH_GIT_ERR_KEEP   4096 /* bytes of git's stderr kept */
#define FETCH_GIT_ERR_SHOW   600  /* of which a message shows at most */
#define FETCH_GIT_MAX_ARGS   32
#define FETCH_GIT_MAX_ENV    24
#define FETCH_GIT_TMP_PREFIX ".aicert-fetch."

struct fetch_git {
	const struct fetch_opts *o;
	char shown[FETCH_SHOWN_MAX]; /* the redacted repository */
	char tmp[PATH_MAX - 16];     /* mkdtemp beside dest; HOME of git */
	char tree[PATH_MAX];         /* tmp/tree: the clone */
	char out[PATH_MAX];          /* tmp/out: stdout of the last command */
	char capath[PATH_MAX];       /* tmp/capath: empty, so that ca_file is the only CA */
	char *env[FETCH_GIT_MAX_ENV];
	size_t nenv;
	int64_t deadline_ms; /* CLOCK_MONOTONIC; 0: none */
	char err[FETCH_GIT_ERR_KEEP];
	size_t err_len; /* the tail of the last command's stderr */
};

/* Given to every git command as -c options. */
static const char *const fetch_git_config[] = {
	"core.hooksPath=/dev/null",  "core.symlinks=false",
	"core.fsmonitor=false",      "protocol.file.allow=always",
	"advice.detachedHead=false", "http.lowSpeedLimit=1024",
	"http.lowSpeedTime=60",      NULL,
};

/* Git's whole environment but for PATH, HOME and the CA. */
static const char *const fetch_git_fixed_env[][2] = {
	{"GIT_CONFIG_NOSYSTEM", "1"},         {"GIT_CONFIG_GLOBAL", "/dev/null"},
	{"GIT_TERMINAL_PROMPT", "0"},         {"GIT_ASKPASS", "/bin/true"},
	{"GIT_ALLOW_PROTOCOL", "https:file"}, {"LC_ALL", "C"},
};

/* Passed through when set: a proxy applies to git as it does to libcurl. */
static const char *const fetch_git_passed[] = {
	"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY", NULL,
};

static int64_t fetch_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fetch_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

static void fetch_rmtree(const char *dir)
{
	nftw(dir, fetch_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int fetch_check_commit(const char *commit)
{
	size_t n = strlen(commit);

	if (n != 40 && n != 64)
		return err_set(AICERT_ERR_INVALID, "commit '%s': expected 40 or 64 hex digits",
			       commit);
	if (strspn(commit, "0123456789abcdef") != n)
		return err_set(AICERT_ERR_INVALID, "commit '%s': expected lowercase hex digits",
			       commit);
	return 0;
}

static int fetch_check_subdir(const char *subdir)
{
	const char *p = subdir;

	if (strcmp(subdir, ".") == 0)
		return 0;
	if (*p == '\0' || strlen(p) >= PATH_MAX / 2)
		return err_set(AICERT_ERR_INVALID,
			       "subdirectory '%s': expected . or a relative path", subdir);
	for (;;) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return err_set(
				AICERT_ERR_INVALID,
				"subdirectory '%s': a relative path without empty, . or .. components",
				subdir);
		if (p[n] == '\0')
			return 0;
		p += n + 1;
	}
}

static int fetch_check_repo(const char *repo)
{
	const char *colon = strchr(repo, ':'), *slash = strchr(repo, '/');

	for (const char *p = repo; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return err_set(AICERT_ERR_INVALID, "repository: a control character");
	}
	if (repo[0] == '\0' || repo[0] == '-')
		return err_set(AICERT_ERR_INVALID,
			       "repository '%s': expected an https:// URL or a path", repo);
	if (strncmp(repo, "https://", 8) == 0)
		return 0;
	/* Anything else is a local path, which git must not take for
	 * scheme://, transport::address or an ssh host:path. */
	if (colon && (!slash || colon < slash))
		return err_set(AICERT_ERR_INVALID,
			       "repository '%s': only https:// URLs and local paths are fetched",
			       repo);
	return 0;
}

/* tmp beside dest, as an absolute path (git runs with -C), with tmp/capath,
 * and the paths of tmp/tree and tmp/out. */
static int fetch_git_mkdtemp(struct fetch_git *g, const char *dest)
{
	const char *slash = strrchr(dest, '/');
	char parent[PATH_MAX], *abs;
	int n;

	if (!slash)
		snprintf(parent, sizeof(parent), ".");
	else
		snprintf(parent, sizeof(parent), "%.*s", slash == dest ? 1 : (int)(slash - dest),
			 dest);
	abs = realpath(parent, NULL);
	if (!abs)
		return err_set(AICERT_ERR_IO, "%s: %s", parent, strerror(errno));
	n = snprintf(g->tmp, sizeof(g->tmp), "%s/" FETCH_GIT_TMP_PREFIX "XXXXXX", abs);
	free(abs);
	if (n < 0 || (size_t)n + sizeof("/capath") > sizeof(g->tmp))
		return err_set(AICERT_ERR_INVALID, "%s: path too long", dest);
	if (!mkdtemp(g->tmp)) {
		int e = errno;

		g->tmp[0] = '\0';
		return err_set(AICERT_ERR_IO, "%s: cannot make a directory beside it: %s", dest,
			       strerror(e));
	}
	snprintf(g->tree, sizeof(g->tree), "%s/tree", g->tmp);
	snprintf(g->out, sizeof(g->out), "%s/out", g->tmp);
	snprintf(g->capath, sizeof(g->capath), "%s/capath", g->tmp);
	if (mkdir(g->capath, 0700) < 0)
		return err_set(AICERT_ERR_IO, "%s: %s", g->capath, strerror(errno));
	return 0;
}

static int fetch_git_setenv(struct fetch_git *g, const char *name, const char *value)
{
	assert(g->nenv + 1 < FETCH_GIT_MAX_ENV);
	if (asprintf(&g->env[g->nenv], "%s=%s", name, value) < 0) {
		g->env[g->nenv] = NULL;
		return err_set(AICERT_ERR_NOMEM, "out of memory");
	}
	g->nenv++;
	return 0;
}

static int fetch_git_build_env(struct fetch_git *g)
{
	const char *path = getenv("PATH");
	int r;

	r = fetch_git_setenv(g, "PATH", path ? path : "/usr/local/bin:/usr/bin:/bin");
	if (r == 0)
		r = fetch_git_setenv(g, "HOME", g->tmp);
	for (size_t i = 0; r == 0 && i < sizeof(fetch_git_fixed_env) / sizeof(*fetch_git_fixed_env);
	     i++)
		r = fetch_git_setenv(g, fetch_git_fixed_env[i][0], fetch_git_fixed_env[i][1]);
	if (r == 0 && g->o->ca_file) {
		char *ca = realpath(g->o->ca_file, NULL);

		if (!ca)
			return err_set(AICERT_ERR_IO, "%s: %s", g->o->ca_file, strerror(errno));
		r = fetch_git_setenv(g, "GIT_SSL_CAINFO", ca);
		free(ca);
		if (r == 0)
			r = fetch_git_setenv(g, "GIT_SSL_CAPATH", g->capath);
	}
	for (size_t i = 0; r == 0 && fetch_git_passed[i]; i++) {
		const char *v = getenv(fetch_git_passed[i]);

		if (v)
			r = fetch_git_setenv(g, fetch_git_passed[i], v);
	}
	return r;
}

static void fetch_git_keep(struct fetch_git *g, const char *buf, size_t n)
{
	size_t cap = sizeof(g->err);

	if (n >= cap) {
		memcpy(g->err, buf + n - cap, cap);
		g->err_len = cap;
		return;
	}
	if (g->err_len + n > cap) {
		size_t drop = g->err_len + n - cap;

		memmove(g->err, g->err + drop, g->err_len - drop);
		g->err_len -= drop;
	}
	memcpy(g->err + g->err_len, buf, n);
	g->err_len += n;
}

/* Reads fd (git's stderr) to its end, keeping the tail, until the deadline. */
static int fetch_git_collect(struct fetch_git *g, int fd)
{
	char buf[4096];

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = g->deadline_ms ? g->deadline_ms - fetch_now_ms() : -1;
		ssize_t got;
		int n;

		if (g->deadline_ms && left <= 0)
			return err_set(AICERT_ERR_TIMEOUT, "%s: git did not finish within %u s",
				       g->shown, g->o->timeout_s);
		n = poll(&p, 1, left < 0 ? -1 : left > INT_MAX ? INT_MAX : (int)left);
		if (n < 0 && errno != EINTR)
			return err_set(AICERT_ERR_IO, "poll: %s", strerror(errno));
		if (n <= 0)
			continue;
		got = read(fd, buf, sizeof(buf));
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0)
			return 0;
		fetch_git_keep(g, buf, (size_t)got);
	}
}

static int fetch_git_spawn(struct fetch_git *g, const char *const *argv, int err_fd, bool capture,
			   pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	int r;

	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGCHLD);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGHUP);
	if (posix_spawn_file_actions_init(&fa) != 0)
		return err_set(AICERT_ERR_NOMEM, "out of memory");
	if (posix_spawnattr_init(&attr) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return err_set(AICERT_ERR_NOMEM, "out of memory");
	}
	r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (r == 0)
		r = posix_spawn_file_actions_addopen(&fa, 1, capture ? g->out : "/dev/null",
						     O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
	/* A group of its own, killed as one on a timeout. */
	if (r == 0)
		r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
							    POSIX_SPAWN_SETSIGDEF);
	if (r == 0)
		r = posix_spawnattr_setpgroup(&attr, 0);
	if (r == 0)
		r = posix_spawnattr_setsigmask(&attr, &none);
	if (r == 0)
		r = posix_spawnattr_setsigdefault(&attr, &dfl);
	if (r == 0)
		r = posix_spawnp(pid, "git", &fa, &attr, (char *const *)argv, g->env);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return err_set(AICERT_ERR_IO, "cannot run git: %s", strerror(r));
	return 0;
}

/* Runs git with the common options and args, stdout into g->out when
 * capture (else /dev/null), the tail of stderr into g->err. *status: git's
 * exit status, or 128 + the signal that ended it. */
static int fetch_git_run(struct fetch_git *g, const char *const *args, bool capture, int *status)
{
	const char *argv[FETCH_GIT_MAX_ARGS];
	int fds[2], r, ws;
	size_t n = 0;
	pid_t pid;

	argv[n++] = "git";
	for (size_t i = 0; fetch_git_config[i]; i++) {
		argv[n++] = "-c";
		argv[n++] = fetch_git_config[i];
	}
	for (size_t i = 0; args[i]; i++) {
		assert(n + 1 < FETCH_GIT_MAX_ARGS);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	g->err_len = 0;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return err_set(AICERT_ERR_IO, "pipe: %s", strerror(errno));
	r = fetch_git_spawn(g, argv, fds[1], capture, &pid);
	close(fds[1]);
	if (r < 0) {
		close(fds[0]);
		return r;
	}
	r = fetch_git_collect(g, fds[0]);
	close(fds[0]);
	if (r < 0)
		kill(-pid, SIGKILL);
	while (waitpid(pid, &ws, 0) < 0) {
		if (errno != EINTR)
			return r < 0 ? r
				     : err_set(AICERT_ERR_INTERNAL, "waitpid: %s", strerror(errno));
	}
	*status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	return r;
}

/* Records "<repo>: <what> (git exit status N): <git's last lines>". */
static int fetch_git_fail(struct fetch_git *g, int code, const char *what, int status)
{
	char tail[FETCH_GIT_ERR_SHOW * 2 + 1];
	size_t start = 0, end = g->err_len, n = 0;

	while (end > 0 && (g->err[end - 1] == '\n' || g->err[end - 1] == ' '))
		end--;
	if (end > FETCH_GIT_ERR_SHOW) {
		start = end - FETCH_GIT_ERR_SHOW;
		while (start < end && g->err[start - 1] != '\n')
			start++;
	}
	for (size_t i = start; i < end; i++) {
		unsigned char c = (unsigned char)g->err[i];

		if (c == '\n') {
			tail[n++] = ';';
			tail[n++] = ' ';
		} else {
			tail[n++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
		}
	}
	tail[n] = '\0';
	return err_set(code, "%s: %s (git exit status %d)%s%s", g->shown, what, status,
		       n ? ": " : "", tail);
}

/* Runs a step that must succeed; a failure is code naming what. */
static int fetch_git_step(struct fetch_git *g, const char *const *args, bool capture, int code,
			  const char *what)
{
	int status, r;

	r = fetch_git_run(g, args, capture, &status);
	if (r < 0)
		return r;
	if (status != 0)
		return fetch_git_fail(g, code, what, status);
	return 0;
}

/* Clones the repository and makes sure commit is in it, fetching it by id if
 * no branch or tag leads to it. */
static int fetch_git_clone(struct fetch_git *g, const char *repo, const char *commit)
{
	/* --no-local: a local repository goes through git's transport too, so
	 * its objects are checked as they are copied, not hard-linked as
	 * they lie. */
	const char *clone[] = {"clone", "--no-local", "--no-checkout", "--quiet",
			       "--",    repo,         g->tree,         NULL};
	char spec[80];
	const char *has[] = {"-C", g->tree, "cat-file", "-e", spec, NULL};
	const char *fetch[] = {"-C", g->tree, "fetch", "--quiet", "origin", commit, NULL};
	char what[128];
	int status, r;

	r = fetch_git_step(g, clone, false, AICERT_ERR_UNAVAILABLE, "git clone failed");
	if (r < 0)
		return r;
	snprintf(spec, sizeof(spec), "%s^{commit}", commit);
	r = fetch_git_run(g, has, false, &status);
	if (r < 0 || status == 0)
		return r;
	snprintf(what, sizeof(what), "commit %s not found", commit);
	r = fetch_git_step(g, fetch, false, AICERT_ERR_NOT_FOUND, what);
	if (r < 0)
		return r;
	return fetch_git_step(g, has, false, AICERT_ERR_NOT_FOUND, what);
}

static bool fetch_in_subdir(const char *path, const char *subdir)
{
	size_t n = strlen(subdir);

	if (strcmp(subdir, ".") == 0)
		return true;
	return strncmp(path, subdir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Reads `ls-tree -r -z` output: no link within subdir, and subdir a directory. */
static int fetch_git_scan(struct fetch_git *g, FILE *f, const char *commit, const char *subdir)
{
	bool all = strcmp(subdir, ".") == 0, found = all;
	char *line = NULL;
	size_t cap = 0;
	int r = 0;

	while (r == 0 && getdelim(&line, &cap, '\0', f) > 0) {
		char *path = strchr(line, '\t');
		bool link = strncmp(line, "120000 ", 7) == 0;

		if (!path || !fetch_in_subdir(++path, subdir))
			continue;
		if (link || strncmp(line, "160000 ", 7) == 0)
			r = err_set(AICERT_ERR_REJECTED,
				    "%s@%s: %s is a %s; an input holds regular files only",
				    g->shown, commit, path, link ? "symbolic link" : "submodule");
		else if (!all && strcmp(path, subdir) == 0)
			r = err_set(AICERT_ERR_INVALID, "%s@%s: %s is a file, not a directory",
				    g->shown, commit, subdir);
		found = true;
	}
	if (r == 0 && ferror(f))
		r = err_set(AICERT_ERR_IO, "%s: %s", g->out, strerror(errno));
	if (r == 0 && !found)
		r = err_set(AICERT_ERR_NOT_FOUND, "%s@%s: no directory %s", g->shown, commit,
			    subdir);
	free(line);
	return r;
}

static int fetch_git_check_tree(struct fetch_git *g, const char *commit, const char *subdir)
{
	const char *ls[] = {"-C", g->tree, "ls-tree", "-r", "-z", "--full-tree", commit, NULL};
	FILE *f;
	int r;

	r = fetch_git_step(g, ls, true, AICERT_ERR_UNAVAILABLE, "git ls-tree failed");
	if (r < 0)
		return r;
	f = fopen(g->out, "re");
	if (!f)
		return err_set(AICERT_ERR_IO, "%s: %s", g->out, strerror(errno));
	r = fetch_git_scan(g, f, commit, subdir);
	fclose(f);
	return r;
}

/* Turns off every conversion .gitattributes could ask for at checkout. */
static int fetch_git_no_attributes(struct fetch_git *g)
{
	static const char text[] = "* -text -eol -ident -filter -working-tree-encoding\n";
	char path[PATH_MAX + 32];
	int fd, r = 0;

	snprintf(path, sizeof(path), "%s/.git/info", g->tree);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return err_set(AICERT_ERR_IO, "%s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/.git/info/attributes", g->tree);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return err_set(AICERT_ERR_IO, "%s: %s", path, strerror(errno));
	if (write(fd, text, sizeof(text) - 1) != (ssize_t)sizeof(text) - 1)
		r = err_set(AICERT_ERR_IO, "%s: %s", path, strerror(errno));
	close(fd);
	return r;
}

static int fetch_git_checkout(struct fetch_git *g, const char *commit)
{
	const char *co[] = {"-C", g->tree, "checkout", "--quiet", "--detach", commit, NULL};
	const char *head[] = {"-C", g->tree, "rev-parse", "--verify", "HEAD", NULL};
	char got[80];
	ssize_t n;
	int fd, r;

	r = fetch_git_no_attributes(g);
	if (r == 0)
		r = fetch_git_step(g, co, false, AICERT_ERR_UNAVAILABLE, "git checkout failed");
	if (r == 0)
		r = fetch_git_step(g, head, true, AICERT_ERR_UNAVAILABLE, "git rev-parse failed");
	if (r < 0)
		return r;
	fd = open(g->out, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(AICERT_ERR_IO, "%s: %s", g->out, strerror(errno));
	n = read(fd, got, sizeof(got) - 1);
	close(fd);
	got[n > 0 ? n : 0] = '\0';
	got[strcspn(got, "\n")] = '\0';
	if (strcmp(got, commit) != 0)
		return err_set(AICERT_ERR_STATE, "%s: HEAD is %s after checking out %s", g->shown,
			       got, commit);
	return 0;
}

/* Renames tree/subdir to dest, never over anything. */
static int fetch_git_place(struct fetch_git *g, const char *subdir, const char *dest)
{
	char from[PATH_MAX * 2], gitdir[PATH_MAX + 8];

	if (strcmp(subdir, ".") == 0) {
		snprintf(gitdir, sizeof(gitdir), "%s/.git", g->tree);
		fetch_rmtree(gitdir);
		snprintf(from, sizeof(from), "%s", g->tree);
	} else {
		snprintf(from, sizeof(from), "%s/%s", g->tree, subdir);
	}
	if (renameat2(AT_FDCWD, from, AT_FDCWD, dest, RENAME_NOREPLACE) == 0)
		return 0;
	return err_set(errno == EEXIST ? AICERT_ERR_EXISTS : AICERT_ERR_IO, "%s: %s", dest,
		       strerror(errno));
}

static void fetch_git_free(struct fetch_git *g)
{
	if (!g)
		return;
	if (g->tmp[0])
		fetch_rmtree(g->tmp);
	for (size_t i = 0; i < g->nenv; i++)
		free(g->env[i]);
	free(g);
}

int fetch_git(const struct fetch_opts *o, const char *repo, const char *commit, const char *subdir,
	      const char *dest)
{
	struct fetch_git *g = NULL;
	struct stat st;
	int r;

	r = fetch_check_repo(repo);
	if (r == 0)
		r = fetch_check_commit(commit);
	if (r == 0)
		r = fetch_check_subdir(subdir);
	if (r < 0)
		return r;
	if (dest[0] == '\0' || strlen(dest) >= PATH_MAX / 2)
		return err_set(AICERT_ERR_INVALID, "destination '%s': empty or too long", dest);
	if (lstat(dest, &st) == 0)
		return err_set(AICERT_ERR_EXISTS, "%s: already exists", dest);
	if (errno != ENOENT)
		return err_set(AICERT_ERR_IO, "%s: %s", dest, strerror(errno));
	g = calloc(1, sizeof(*g));
	if (!g)
		return err_set(AICERT_ERR_NOMEM, "out of memory");
	g->o = o ? o : &fetch_defaults;
	if (g->o->timeout_s)
		g->deadline_ms = fetch_now_ms() + (int64_t)g->o->timeout_s * 1000;
	fetch_redact(repo, g->shown, sizeof(g->shown));
	r = fetch_git_mkdtemp(g, dest);
	if (r == 0)
		r = fetch_git_build_env(g);
	if (r == 0)
		r = fetch_git_clone(g, repo, commit);
	if (r == 0)
		r = fetch_git_check_tree(g, commit, subdir);
	if (r == 0)
		r = fetch_git_checkout(g, commit);
	if (r == 0)
		r = fetch_git_place(g, subdir, dest);
	fetch_git_free(g);
	return r;
}

char *fetch_git_uri(const char *repo, const char *commit, const char *subdir)
{
	char *uri;
	int n;

	if (strcmp(subdir, ".") == 0)
		n = asprintf(&uri, "git+%s@%s", repo, commit);
	else
		n = asprintf(&uri, "git+%s@%s#subdirectory=%s", repo, commit, subdir);
	return n < 0 ? NULL : uri;
}
