/* Test harness: swtpm instances through swtpm.sh, and helper programs. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#ifndef AICERT_SOURCE_DIR
#error "AICERT_SOURCE_DIR must be defined"
#endif

#define HARNESS_SCRIPT     AICERT_SOURCE_DIR "/tests/harness/swtpm.sh"
#define HARNESS_DIR_PREFIX "aicert-swtpm."
#define HARNESS_MAX_LIVE   32

extern char **environ;

/* Directories of the TPMs started and not yet stopped, for the exit handler. */
static char harness_live[HARNESS_MAX_LIVE][PATH_MAX];
/* The process that registered the exit handler: a forked child that calls
 * exit() must not stop its parent's TPMs. */
static pid_t harness_owner;

static void harness_stop_dir(const char *dir);

static void harness_at_exit(void)
{
	if (getpid() != harness_owner)
		return;
	for (int i = 0; i < HARNESS_MAX_LIVE; i++) {
		if (harness_live[i][0] != '\0')
			harness_stop_dir(harness_live[i]);
	}
}

static int harness_register(const char *dir)
{
	if (harness_owner == 0) {
		if (atexit(harness_at_exit) != 0)
			return -1;
		harness_owner = getpid();
	}
	for (int i = 0; i < HARNESS_MAX_LIVE; i++) {
		if (harness_live[i][0] == '\0') {
			snprintf(harness_live[i], PATH_MAX, "%s", dir);
			return 0;
		}
	}
	fprintf(stderr, "harness: more than %d swtpm instances at once\n", HARNESS_MAX_LIVE);
	return -1;
}

static void harness_unregister(const char *dir)
{
	for (int i = 0; i < HARNESS_MAX_LIVE; i++) {
		if (strcmp(harness_live[i], dir) == 0)
			harness_live[i][0] = '\0';
	}
}

static int harness_wait(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "harness: waitpid: %s\n", strerror(errno));
			return -1;
		}
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/* Spawns argv with stdin from /dev/null and, if out_fd >= 0, stdout to it. */
static int harness_spawn(const char *const argv[], int out_fd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	int r;

	if (posix_spawn_file_actions_init(&fa) != 0)
		return -1;
	r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (r == 0 && out_fd >= 0)
		r = posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	if (r == 0)
		r = posix_spawnp(pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0) {
		fprintf(stderr, "harness: cannot run %s: %s\n", argv[0], strerror(r));
		return -1;
	}
	return 0;
}

int harness_run(const char *const argv[])
{
	pid_t pid;

	if (harness_spawn(argv, -1, &pid) < 0)
		return -1;
	return harness_wait(pid);
}

int harness_run_capture(const char *const argv[], char *out, size_t cap, size_t *out_len)
{
	size_t have = 0;
	int fds[2];
	pid_t pid;
	int r;

	if (cap == 0 || pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	r = harness_spawn(argv, fds[1], &pid);
	close(fds[1]);
	if (r < 0) {
		close(fds[0]);
		return -1;
	}
	for (;;) {
		char chunk[4096];
		ssize_t n = read(fds[0], chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n && have < cap - 1; i++)
			out[have++] = chunk[i];
	}
	close(fds[0]);
	out[have] = '\0';
	if (out_len)
		*out_len = have;
	return harness_wait(pid);
}

int harness_write_file(const char *path, const void *buf, size_t len)
{
	const char *p = buf;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0) {
		fprintf(stderr, "harness: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "harness: %s: %s\n", path, strerror(errno));
			close(fd);
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return close(fd) == 0 ? 0 : -1;
}

int harness_path(const struct harness_swtpm *h, const char *name, char out[PATH_MAX])
{
	int n = snprintf(out, PATH_MAX, "%s/%s", h->dir, name);

	if (n < 0 || n >= PATH_MAX) {
		fprintf(stderr, "harness: path %s/%s too long\n", h->dir, name);
		return -1;
	}
	return 0;
}

static int harness_set_field(struct harness_swtpm *h, const char *key, const char *val)
{
	if (strcmp(key, "TCTI") == 0)
		return snprintf(h->tcti, sizeof(h->tcti), "%s", val) < (int)sizeof(h->tcti) ? 1
											    : -1;
	if (strcmp(key, "PORT") == 0)
		return (h->port = atoi(val)) > 0 ? 2 : -1;
	if (strcmp(key, "PID") == 0)
		return (h->pid = (pid_t)atoi(val)) > 0 ? 4 : -1;
	if (strcmp(key, "EK_ROOT") == 0)
		return snprintf(h->ek_root, PATH_MAX, "%s", val) < PATH_MAX ? 8 : -1;
	if (strcmp(key, "EK_ISSUER") == 0)
		return snprintf(h->ek_issuer, PATH_MAX, "%s", val) < PATH_MAX ? 16 : -1;
	return 0; /* a line added later: ignored */
}

/* Reads DIR/env, which swtpm.sh writes once the TPM answers. */
static int harness_read_env(struct harness_swtpm *h)
{
	char path[PATH_MAX], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int seen = 0, r = 0;
	FILE *f;

	if (harness_path(h, "env", path) < 0)
		return -1;
	f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "harness: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (r >= 0 && (n = getline(&line, &cap, f)) > 0) {
		char *eq = strchr(line, '=');

		if (line[n - 1] == '\n')
			line[n - 1] = '\0';
		if (!eq)
			continue;
		*eq = '\0';
		r = harness_set_field(h, line, eq + 1);
		if (r > 0)
			seen |= r;
	}
	free(line);
	fclose(f);
	if (r < 0 || seen != 31) {
		fprintf(stderr, "harness: %s: missing or bad fields\n", path);
		return -1;
	}
	return 0;
}

static int harness_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (remove(path) < 0)
		fprintf(stderr, "harness: cannot remove %s: %s\n", path, strerror(errno));
	return 0;
}

static void harness_stop_dir(const char *dir)
{
	const char *argv[] = {HARNESS_SCRIPT, "stop", dir, NULL};
	const char *base = strrchr(dir, '/');

	if (harness_run(argv) != 0)
		fprintf(stderr, "harness: stopping the swtpm in %s failed\n", dir);
	/* Only ever a directory of ours. */
	if (base && strncmp(base + 1, HARNESS_DIR_PREFIX, strlen(HARNESS_DIR_PREFIX)) == 0)
		nftw(dir, harness_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	harness_unregister(dir);
}

static int harness_mkdtemp(struct harness_swtpm *h)
{
	const char *tmp = getenv("TMPDIR");

	if (!tmp || tmp[0] != '/')
		tmp = "/tmp";
	if (snprintf(h->dir, sizeof(h->dir), "%s/" HARNESS_DIR_PREFIX "XXXXXX", tmp) >=
	    (int)sizeof(h->dir))
		return -1;
	if (!mkdtemp(h->dir)) {
		fprintf(stderr, "harness: mkdtemp %s: %s\n", h->dir, strerror(errno));
		return -1;
	}
	return 0;
}

static int harness_start(struct harness_swtpm *h, int startup)
{
	char owner[32];
	const char *argv[] = {HARNESS_SCRIPT,
			      "start",
			      h->dir,
			      "--owner",
			      owner,
			      startup ? NULL : "--no-startup",
			      NULL};

	memset(h, 0, sizeof(*h));
	snprintf(owner, sizeof(owner), "%ld", (long)getpid());
	if (harness_mkdtemp(h) < 0)
		return -1;
	if (harness_register(h->dir) < 0) {
		rmdir(h->dir);
		return -1;
	}
	if (harness_run(argv) != 0 || harness_read_env(h) < 0) {
		fprintf(stderr, "harness: starting swtpm in %s failed\n", h->dir);
		harness_swtpm_stop(h);
		return -1;
	}
	return 0;
}

int harness_swtpm_start(struct harness_swtpm *h)
{
	return harness_start(h, 1);
}

int harness_swtpm_start_uninitialised(struct harness_swtpm *h)
{
	return harness_start(h, 0);
}

int harness_swtpm_restart(struct harness_swtpm *h)
{
	const char *argv[] = {HARNESS_SCRIPT, "restart", h->dir, NULL};

	if (harness_run(argv) != 0) {
		fprintf(stderr, "harness: restarting the swtpm in %s failed\n", h->dir);
		return -1;
	}
	return harness_read_env(h);
}

void harness_swtpm_stop(struct harness_swtpm *h)
{
	if (!h || h->dir[0] == '\0')
		return;
	harness_stop_dir(h->dir);
	memset(h, 0, sizeof(*h));
}
