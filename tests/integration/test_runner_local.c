/* The local runner (controller/runner_local.c) against the real swtpm and
 * the aicert-agent of this build.
 *
 * A started runner's agent must answer Health and Identity, with EK
 * certificates that chain to the runner's own EK root; stop must leave no
 * swtpm or agent process and no directory (unless keep); two runners must
 * get their own TPMs; a runner whose owner dies must not outlive it by more
 * than a moment (PDEATHSIG); a bad agent must fail with a message that says
 * why, leaving nothing behind. Every test works in its own scratch
 * directory, and checks /proc for processes that name it. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/x509.h>

#include "agentc.h"
#include "ekcert.h"
#include "err.h"
#include "log.h"
#include "runner_local.h"

#define AGENT_BIN AICERT_BINARY_DIR "/agent/aicert-agent"
#define GONE_MS   2000

struct fx {
	char work[PATH_MAX]; /* scratch: the runners' work_dir */
};

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Live processes (not zombies) whose command line mentions s. */
static int count_procs_naming(const char *s)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char path[300], buf[8192], stat[512];
		size_t len;
		FILE *f;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		len = fread(stat, 1, sizeof(stat) - 1, f);
		fclose(f);
		stat[len] = '\0';
		if (strstr(stat, ") Z ") || strstr(stat, ") X "))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		for (size_t i = 0; i < len; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		buf[len] = '\0';
		if (strstr(buf, s))
			n++;
	}
	closedir(d);
	return n;
}

/* 1 when pid is a live (not zombie) process. */
static int alive(pid_t pid)
{
	char path[64], stat[512];
	size_t len;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	len = fread(stat, 1, sizeof(stat) - 1, f);
	fclose(f);
	stat[len] = '\0';
	return !strstr(stat, ") Z ") && !strstr(stat, ") X ");
}

static int wait_gone(pid_t a, pid_t b, long ms)
{
	long end = now_ms() + ms;

	while (alive(a) || alive(b)) {
		if (now_ms() >= end)
			return -1;
		usleep(10000);
	}
	return 0;
}

static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static int fx_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->work, sizeof(f->work), "%s/rl.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(f->work)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	nftw(f->work, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static struct runner_local *start(const struct fx *f, bool keep)
{
	struct runner_local_opts o = {.work_dir = f->work, .agent_bin = AGENT_BIN, .keep = keep};
	struct runner_local *r = NULL;
	long t0 = now_ms();
	int rc = runner_local_start(&o, &r);

	if (rc < 0)
		fail_msg("runner_local_start: %s", err_msg(rc));
	fprintf(stderr, "# runner %s ready in %ld ms (%s)\n", runner_local_dir(r), now_ms() - t0,
		runner_local_tcti(r));
	return r;
}

/* Health answers, and every EK certificate chains to the runner's EK root. */
static void check_agent(const struct runner_local *r)
{
	struct rpc_client_opts opts = {.timeout_ms = 10000};
	Aicert__V1__IdentityReply *id = NULL;
	Aicert__V1__HealthReply *h = NULL;
	struct ekcert_store *roots = NULL;
	struct rpc_client *c = NULL;

	assert_int_equal(
		rpc_client_dial(runner_local_url(r), &aicert__v1__agent__descriptor, &opts, &c), 0);
	assert_int_equal(agentc_health(c, &h), 0);
	assert_string_equal(h->tpm_manufacturer, "IBM");
	assert_int_equal(agentc_identity(c, &id), 0);
	assert_true(id->n_ek_certs >= 1);
	assert_int_equal(ekcert_store_new(&roots), 0);
	assert_int_equal(ekcert_store_load_roots(roots, runner_local_ek_root(r)), 0);
	assert_int_equal(ekcert_store_load_intermediates(roots, runner_local_ek_issuer(r)), 0);
	for (size_t i = 0; i < id->n_ek_certs; i++) {
		X509 *x = NULL;
		int rc;

		assert_int_equal(
			ekcert_parse_der(id->ek_certs[i]->der.data, id->ek_certs[i]->der.len, &x),
			0);
		rc = ekcert_verify(roots, x, time(NULL));
		if (rc < 0)
			fail_msg("EK certificate at NV 0x%08x: %s", id->ek_certs[i]->nv_index,
				 err_msg(rc));
		X509_free(x);
	}
	ekcert_store_free(roots);
	protobuf_c_message_free_unpacked(&id->base, NULL);
	protobuf_c_message_free_unpacked(&h->base, NULL);
	rpc_client_free(c);
}

static void runner_serves_agent_and_stop_leaves_nothing(void **state)
{
	struct fx *f = *state;
	struct runner_local *r = start(f, false);
	pid_t agent = runner_local_agent_pid(r), swtpm = runner_local_swtpm_pid(r);
	char dir[PATH_MAX];
	long t0;

	snprintf(dir, sizeof(dir), "%s", runner_local_dir(r));
	assert_true(agent > 0 && swtpm > 0 && alive(agent) && alive(swtpm));
	assert_non_null(strstr(runner_local_tcti(r), "swtpm:path="));
	assert_int_equal(access(runner_local_ek_root(r), R_OK), 0);
	check_agent(r);
	t0 = now_ms();
	assert_int_equal(runner_local_stop(r), 0);
	fprintf(stderr, "# stopped in %ld ms\n", now_ms() - t0);
	assert_false(alive(agent));
	assert_false(alive(swtpm));
	assert_int_equal(runner_local_agent_pid(r), 0);
	assert_int_equal(runner_local_swtpm_pid(r), 0);
	assert_int_equal(count_procs_naming(dir), 0);
	assert_int_equal(access(dir, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(runner_local_stop(r), 0); /* idempotent */
	runner_local_free(r);
	runner_local_stop(NULL);
	runner_local_free(NULL);
	assert_int_equal(entries(f->work), 0);
}

static void runner_keep_leaves_directory(void **state)
{
	struct fx *f = *state;
	struct runner_local *r = start(f, true);
	char dir[PATH_MAX], path[PATH_MAX + 32];

	snprintf(dir, sizeof(dir), "%s", runner_local_dir(r));
	runner_local_free(r);
	assert_int_equal(count_procs_naming(dir), 0);
	snprintf(path, sizeof(path), "%s/runner/agent.log", dir);
	assert_int_equal(access(path, R_OK), 0);
	snprintf(path, sizeof(path), "%s/runner/ca/issuercert.pem", dir);
	assert_int_equal(access(path, R_OK), 0);
	snprintf(path, sizeof(path), "%s/runner/state", dir);
	assert_int_equal(access(path, F_OK), 0);
}

static void two_runners_get_their_own_tpms(void **state)
{
	struct fx *f = *state;
	struct runner_local *a = start(f, false), *b = start(f, false);

	assert_string_not_equal(runner_local_tcti(a), runner_local_tcti(b));
	assert_string_not_equal(runner_local_dir(a), runner_local_dir(b));
	check_agent(a);
	check_agent(b);
	assert_int_equal(runner_local_stop(b), 0);
	check_agent(a); /* unaffected */
	runner_local_free(a);
	runner_local_free(b);
	assert_int_equal(entries(f->work), 0);
	assert_int_equal(count_procs_naming(f->work), 0);
}

/* A child process starts a runner, reports its pids and, once we saw them
 * run, dies: by _exit() when kill_it is false, by SIGKILL from us when it is
 * true. */
static void owner_dies(const struct fx *f, bool kill_it)
{
	pid_t pids[2] = {0, 0}, child;
	int fds[2], go[2], status;
	char c = 0;
	long t0;

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(pipe(go), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct runner_local_opts o = {.work_dir = f->work, .agent_bin = AGENT_BIN};
		struct runner_local *r = NULL;

		close(fds[0]);
		close(go[1]);
		if (runner_local_start(&o, &r) == 0) {
			pids[0] = runner_local_agent_pid(r);
			pids[1] = runner_local_swtpm_pid(r);
		}
		if (write(fds[1], pids, sizeof(pids)) != sizeof(pids))
			_exit(2);
		if (read(go[0], &c, 1) < 0 || kill_it)
			pause();
		_exit(0);
	}
	close(fds[1]);
	close(go[0]);
	assert_int_equal(read(fds[0], pids, sizeof(pids)), sizeof(pids));
	close(fds[0]);
	assert_true(pids[0] > 0 && pids[1] > 0);
	assert_true(alive(pids[0]) && alive(pids[1]));
	assert_int_equal(write(go[1], &c, 1), 1);
	close(go[1]);
	if (kill_it)
		kill(child, SIGKILL);
	assert_int_equal(waitpid(child, &status, 0), child);
	t0 = now_ms();
	assert_int_equal(wait_gone(pids[0], pids[1], GONE_MS), 0);
	fprintf(stderr, "# orphans gone %ld ms after their owner\n", now_ms() - t0);
	assert_int_equal(count_procs_naming(f->work), 0);
}

static void runner_dies_with_owner_on_exit(void **state)
{
	owner_dies(*state, false);
}

static void runner_dies_with_owner_on_sigkill(void **state)
{
	owner_dies(*state, true);
}

static void expect_failure(const struct fx *f, const char *bin, const char *const *args, int code,
			   const char *want)
{
	struct runner_local_opts o = {.work_dir = f->work, .agent_bin = bin, .agent_args = args};
	struct runner_local *r = NULL;
	int rc = runner_local_start(&o, &r);
	const char *msg = err_msg(rc);

	fprintf(stderr, "# %s\n", msg);
	assert_int_equal(rc, code);
	assert_null(r);
	if (!strstr(msg, want))
		fail_msg("message '%s' does not contain '%s'", msg, want);
	assert_int_equal(entries(f->work), 0);
	assert_int_equal(count_procs_naming(f->work), 0);
}

static void bad_agent_fails_cleanly(void **state)
{
	static const char *const bad_flag[] = {"--no-such-flag", NULL};
	struct fx *f = *state;

	expect_failure(f, "/nonexistent/aicert-agent", NULL, AICERT_ERR_NOT_FOUND,
		       "/nonexistent/aicert-agent");
	/* Starts, and exits before it is ready: after the TPM was made. */
	expect_failure(f, "/bin/false", NULL, AICERT_ERR_UNAVAILABLE,
		       "exited with status 1 before it was ready");
	expect_failure(f, AGENT_BIN, bad_flag, AICERT_ERR_UNAVAILABLE, "no-such-flag");
}

/* Writes an executable script WORK/bin/name. */
static void fake_program(const struct fx *f, const char *name, const char *script)
{
	char path[PATH_MAX + 64];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/bin", f->work);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/bin/%s", f->work, name);
	fp = fopen(path, "we");
	assert_non_null(fp);
	fputs(script, fp);
	fclose(fp);
	assert_int_equal(chmod(path, 0700), 0);
}

/* Failures of swtpm_setup and swtpm, with fake ones first in PATH. */
static void setup_and_swtpm_failures_are_reported(void **state)
{
	struct fx *f = *state;
	struct runner_local_opts o = {.agent_bin = AGENT_BIN, .ready_timeout_ms = 500};
	struct runner_local *r = NULL;
	char work[PATH_MAX + 8], path[2 * PATH_MAX], sleeper[64], script[128],
		*old = strdup(getenv("PATH"));
	int rc;

	assert_non_null(old);
	/* Runners go to a subdirectory, so that WORK/bin stays out of counts. */
	snprintf(work, sizeof(work), "%s/w", f->work);
	assert_int_equal(mkdir(work, 0700), 0);
	o.work_dir = work;
	snprintf(path, sizeof(path), "%s/bin:%s", f->work, old);
	setenv("PATH", path, 1);
	fake_program(f, "swtpm_setup", "#!/bin/sh\necho 'cannot do it' >&2\nexit 3\n");
	rc = runner_local_start(&o, &r);
	fprintf(stderr, "# %s\n", err_msg(rc));
	assert_int_equal(rc, AICERT_ERR_UNAVAILABLE);
	assert_non_null(strstr(err_msg(rc), "swtpm_setup failed (exit 3)"));
	assert_non_null(strstr(err_msg(rc), "cannot do it"));
	assert_int_equal(entries(work), 0);

	/* A swtpm that never answers: a timeout, and no process left. */
	fake_program(f, "swtpm_setup", "#!/bin/sh\nexit 0\n");
	/* Deaf to SIGTERM, with a child of its own: its process group gets
	 * the SIGKILL. */
	snprintf(sleeper, sizeof(sleeper), "sleep 1000.%ld", (long)getpid());
	snprintf(script, sizeof(script), "#!/bin/sh\ntrap '' TERM\necho 'hanging' >&2\n%s\n",
		 sleeper);
	fake_program(f, "swtpm", script);
	rc = runner_local_start(&o, &r);
	fprintf(stderr, "# %s\n", err_msg(rc));
	assert_int_equal(rc, AICERT_ERR_TIMEOUT);
	assert_non_null(strstr(err_msg(rc), "did not answer within 500 ms: hanging"));
	assert_int_equal(entries(work), 0);
	assert_int_equal(count_procs_naming(work), 0);
	assert_int_equal(count_procs_naming(sleeper), 0);
	setenv("PATH", old, 1);
	free(old);
}

static void work_dir_too_long_is_refused(void **state)
{
	struct runner_local_opts o = {.agent_bin = AGENT_BIN};
	struct runner_local *r = NULL;
	char base[200];
	int rc;

	(void)state;
	memset(base, 'a', sizeof(base) - 1);
	base[0] = '/';
	base[sizeof(base) - 1] = '\0';
	o.work_dir = base;
	rc = runner_local_start(&o, &r);
	assert_int_equal(rc, AICERT_ERR_INVALID);
	assert_non_null(strstr(err_msg(rc), "socket path"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(runner_serves_agent_and_stop_leaves_nothing,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(runner_keep_leaves_directory, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(two_runners_get_their_own_tpms, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(runner_dies_with_owner_on_exit, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(runner_dies_with_owner_on_sigkill, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(bad_agent_fails_cleanly, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(setup_and_swtpm_failures_are_reported, fx_setup,
						fx_teardown),
		cmocka_unit_test(work_dir_too_long_is_refused),
	};

	/* The runner's per-step timings. */
	log_setup("test_runner_local", LOG_STYLE_CLI, LOG_DEBUG);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
