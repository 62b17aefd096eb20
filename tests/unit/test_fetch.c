/* fetch: https downloads from a local HTTPS server (tests/harness/https_server.py,
 * with certificates from tests/harness/tls.sh) and git trees from local
 * repositories and from a "dumb HTTP" repository on that server. Everything
 * lives in one temporary directory; no network beyond 127.0.0.1. Needs git,
 * openssl, python3, sha256sum, diff and tar. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
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

#include "err.h"
#include "fetch.h"
#include "harness.h"
#include "hex.h"

#define SERVER_SCRIPT AICERT_SOURCE_DIR "/tests/harness/https_server.py"
#define TLS_SCRIPT    AICERT_SOURCE_DIR "/tests/harness/tls.sh"
#define DATA_SIZE     (3u * 1024 * 1024 + 123)
#define GIT           "git -c user.name=aicert -c user.email=aicert@example.com -c commit.gpgsign=false"

extern char **environ;

static struct {
	char dir[PATH_MAX]; /* everything, removed at the end */
	char www[PATH_MAX]; /* what the server serves */
	char ca[PATH_MAX];  /* the CA of the server's certificate */
	char rogue_ca[PATH_MAX];
	char base[64]; /* https://127.0.0.1:PORT */
	pid_t server;
	char c1[41], c2[41]; /* the two commits of dir/src */
} fx;

static void fx_path(char out[PATH_MAX], const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fx_path(char out[PATH_MAX], const char *fmt, ...)
{
	char name[PATH_MAX / 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	assert_true(snprintf(out, PATH_MAX, "%s/%s", fx.dir, name) < PATH_MAX);
}

/* Runs a shell script (test code only; paths here hold no quotes). */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int sh(const char *fmt, ...)
{
	char script[8192];
	const char *argv[] = {"sh", "-c", script, NULL};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(script, sizeof(script), fmt, ap);
	va_end(ap);
	return harness_run(argv);
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* No temporary directory of fetch_git is left in fx.dir. */
static void assert_no_leftovers(void)
{
	DIR *d = opendir(fx.dir);
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d)))
		assert_null(strstr(e->d_name, ".aicert-fetch."));
	closedir(d);
}

static void rev_parse(const char *repo, const char *rev, char out[41])
{
	char buf[128];
	const char *argv[] = {"git", "-C", repo, "rev-parse", rev, NULL};

	assert_int_equal(harness_run_capture(argv, buf, sizeof(buf), NULL), 0);
	assert_true(strlen(buf) >= 40);
	memcpy(out, buf, 40);
	out[40] = '\0';
}

/* dir/src: commit 1 with a.txt, sub/b.txt, sub/deep/c.bin; commit 2 changes
 * a.txt and sub/b.txt and adds new.txt. Its bare clone is served as
 * www/repo.git. */
static int make_repos(void)
{
	char src[PATH_MAX];

	fx_path(src, "src");
	if (sh("set -e; mkdir %s; cd %s; git init -q -b main .;"
	       "printf 'one\\n' > a.txt; mkdir -p sub/deep; printf 'b\\n' > sub/b.txt;"
	       "head -c 5000 /dev/urandom > sub/deep/c.bin; chmod +x sub/deep/c.bin;" GIT
	       " add -A; " GIT " commit -q -m one;"
	       "printf 'two\\n' > a.txt; printf 'new\\n' > new.txt; printf 'b2\\n' > sub/b.txt;" GIT
	       " add -A; " GIT " commit -q -m two;"
	       "git clone -q --bare . %s/repo.git; git -C %s/repo.git update-server-info",
	       src, src, fx.www, fx.www) != 0)
		return -1;
	rev_parse(src, "HEAD~1", fx.c1);
	rev_parse(src, "HEAD", fx.c2);
	return 0;
}

static int start_server(void)
{
	char cert[PATH_MAX], key[PATH_MAX], port_file[PATH_MAX];
	const char *argv[] = {"python3", SERVER_SCRIPT, "--dir",       fx.www,    "--cert", cert,
			      "--key",   key,           "--port-file", port_file, NULL};

	fx_path(cert, "tls/agent.crt");
	fx_path(key, "tls/agent.key");
	fx_path(port_file, "port");
	if (posix_spawnp(&fx.server, "python3", NULL, NULL, (char *const *)argv, environ) != 0)
		return -1;
	for (int i = 0; i < 300; i++) {
		struct timespec ts = {0, 50 * 1000 * 1000};
		FILE *f = fopen(port_file, "r");
		int port = 0;

		if (f) {
			int n = fscanf(f, "%d", &port);

			fclose(f);
			if (n == 1 && port > 0) {
				snprintf(fx.base, sizeof(fx.base), "https://127.0.0.1:%d", port);
				return 0;
			}
		}
		if (waitpid(fx.server, NULL, WNOHANG) == fx.server) {
			fx.server = 0;
			return -1;
		}
		nanosleep(&ts, NULL);
	}
	return -1;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

static int group_teardown(void **state)
{
	if (fx.server > 0) {
		kill(fx.server, SIGTERM);
		waitpid(fx.server, NULL, 0);
		fx.server = 0;
	}
	if (fx.dir[0])
		nftw(fx.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static int group_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	char tls[PATH_MAX], data[PATH_MAX];
	const char *tls_argv[] = {TLS_SCRIPT, tls, NULL};
	uint8_t *buf;

	/* The test's own git and the server: no configuration of the user's. */
	setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("no_proxy", "127.0.0.1", 1);
	if (!tmp || tmp[0] != '/')
		tmp = "/tmp";
	snprintf(fx.dir, sizeof(fx.dir), "%s/aicert-test-fetch.XXXXXX", tmp);
	if (!mkdtemp(fx.dir))
		return -1;
	fx_path(tls, "tls");
	fx_path(fx.www, "www");
	fx_path(fx.ca, "tls/agent-ca.crt");
	fx_path(fx.rogue_ca, "tls/rogue-ca.crt");
	if (harness_run(tls_argv) != 0 || mkdir(fx.www, 0755) < 0)
		goto fail;
	buf = malloc(DATA_SIZE);
	if (!buf)
		goto fail;
	srand(7);
	for (size_t i = 0; i < DATA_SIZE; i++)
		buf[i] = (uint8_t)rand();
	fx_path(data, "www/data.bin");
	if (harness_write_file(data, buf, DATA_SIZE) < 0) {
		free(buf);
		goto fail;
	}
	free(buf);
	if (make_repos() < 0 || start_server() < 0)
		goto fail;
	return 0;
fail:
	group_teardown(state);
	return -1;
}

/* ---- https ---- */

struct progress {
	uint64_t done, total;
	unsigned calls;
};

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct progress *p = ctx;

	assert_true(done >= p->done);
	p->done = done;
	p->total = total;
	p->calls++;
}

static void sha256sum(const char *path, uint8_t out[32])
{
	const char *argv[] = {"sha256sum", path, NULL};
	char buf[256];
	size_t n;

	assert_int_equal(harness_run_capture(argv, buf, sizeof(buf), NULL), 0);
	buf[64] = '\0';
	assert_int_equal(hex_decode(buf, out, 32, &n), 0);
	assert_int_equal(n, 32);
}

static int https_get(const struct fetch_opts *o, const char *path, const uint8_t *expected,
		     const char *dest)
{
	char url[256];
	uint8_t md[32];
	uint64_t size;

	snprintf(url, sizeof(url), "%s%s", fx.base, path);
	return fetch_https(o, url, expected, dest, md, &size);
}

static void https_downloads_file_with_its_digest(void **state)
{
	struct progress p = {0};
	struct fetch_opts o = {.ca_file = fx.ca, .progress = on_progress, .ctx = &p};
	char url[256], src[PATH_MAX], dest[PATH_MAX];
	const char *cmp[] = {"cmp", src, dest, NULL};
	uint8_t md[32], want[32];
	uint64_t size = 0;

	fx_path(src, "www/data.bin");
	fx_path(dest, "dl-data.bin");
	snprintf(url, sizeof(url), "%s/data.bin", fx.base);
	assert_int_equal(fetch_https(&o, url, NULL, dest, md, &size), 0);
	sha256sum(src, want);
	assert_memory_equal(md, want, 32);
	assert_int_equal(size, DATA_SIZE);
	assert_int_equal(harness_run(cmp), 0);
	assert_true(p.calls > 0);
	assert_int_equal(p.done, DATA_SIZE);
	assert_int_equal(p.total, DATA_SIZE);

	/* Through an https redirect, too. */
	memset(&p, 0, sizeof(p));
	fx_path(dest, "dl-redirected.bin");
	snprintf(url, sizeof(url), "%s/redirect/data.bin", fx.base);
	assert_int_equal(fetch_https(&o, url, want, dest, md, &size), 0);
	assert_memory_equal(md, want, 32);
}

static void https_checks_the_expected_digest(void **state)
{
	struct fetch_opts o = {.ca_file = fx.ca};
	char src[PATH_MAX], dest[PATH_MAX];
	uint8_t want[32];
	int r;

	fx_path(src, "www/data.bin");
	sha256sum(src, want);
	fx_path(dest, "dl-expected.bin");
	assert_int_equal(https_get(&o, "/data.bin", want, dest), 0);
	assert_true(exists(dest));

	want[31] ^= 1;
	fx_path(dest, "dl-unexpected.bin");
	r = https_get(&o, "/data.bin", want, dest);
	assert_int_equal(r, AICERT_ERR_REJECTED);
	assert_non_null(strstr(err_msg(r), "the job expects"));
	assert_non_null(strstr(err_msg(r), "/data.bin"));
	assert_false(exists(dest));
}

static void https_reports_http_status(void **state)
{
	struct fetch_opts o = {.ca_file = fx.ca};
	char dest[PATH_MAX];
	int r;

	fx_path(dest, "dl-404");
	r = https_get(&o, "/status/404", NULL, dest);
	assert_int_equal(r, AICERT_ERR_UNAVAILABLE);
	assert_non_null(strstr(err_msg(r), "HTTP 404"));
	assert_false(exists(dest));

	r = https_get(&o, "/no-such-file", NULL, dest);
	assert_int_equal(r, AICERT_ERR_UNAVAILABLE);
	assert_non_null(strstr(err_msg(r), "HTTP 404"));
	r = https_get(&o, "/status/500", NULL, dest);
	assert_int_equal(r, AICERT_ERR_UNAVAILABLE);
	assert_non_null(strstr(err_msg(r), "HTTP 500"));
	assert_false(exists(dest));
}

static void https_refuses_plain_http(void **state)
{
	struct fetch_opts o = {.ca_file = fx.ca};
	char url[256], dest[PATH_MAX];
	uint8_t md[32];
	uint64_t size;
	int r;

	fx_path(dest, "dl-http");
	snprintf(url, sizeof(url), "http://%s/data.bin", fx.base + strlen("https://"));
	assert_int_equal(fetch_https(&o, url, NULL, dest, md, &size), AICERT_ERR_INVALID);
	assert_int_equal(fetch_https(&o, "file:///etc/passwd", NULL, dest, md, &size),
			 AICERT_ERR_INVALID);
	assert_false(exists(dest));

	r = https_get(&o, "/redirect-http", NULL, dest);
	assert_true(r < 0);
	assert_non_null(strstr(err_msg(r), "redirected"));
	assert_false(exists(dest));
}

static void https_rejects_an_untrusted_server(void **state)
{
	struct fetch_opts system_cas = {0}, rogue = {.ca_file = fx.rogue_ca};
	char dest[PATH_MAX];
	int r;

	fx_path(dest, "dl-untrusted");
	r = https_get(&system_cas, "/data.bin", NULL, dest);
	assert_int_equal(r, AICERT_ERR_UNAUTHENTICATED);
	assert_false(exists(dest));
	r = https_get(&rogue, "/data.bin", NULL, dest);
	assert_int_equal(r, AICERT_ERR_UNAUTHENTICATED);
	assert_false(exists(dest));
	/* A NULL o means the defaults: the system's CAs. */
	assert_int_equal(https_get(NULL, "/data.bin", NULL, dest), AICERT_ERR_UNAUTHENTICATED);
}

static void https_bounds_the_size(void **state)
{
	struct fetch_opts o = {.ca_file = fx.ca, .max_bytes = 1 << 20};
	char dest[PATH_MAX];
	int r;

	fx_path(dest, "dl-big");
	/* No Content-Length: counted as it comes. */
	r = https_get(&o, "/big", NULL, dest);
	assert_int_equal(r, AICERT_ERR_TOO_BIG);
	assert_false(exists(dest));
	/* Announced: refused before the body. */
	r = https_get(&o, "/big-declared", NULL, dest);
	assert_int_equal(r, AICERT_ERR_TOO_BIG);
	assert_false(exists(dest));
	o.max_bytes = DATA_SIZE - 1;
	assert_int_equal(https_get(&o, "/data.bin", NULL, dest), AICERT_ERR_TOO_BIG);
	assert_false(exists(dest));
	o.max_bytes = DATA_SIZE;
	assert_int_equal(https_get(&o, "/data.bin", NULL, dest), 0);
	assert_true(exists(dest));
}

static void https_times_out(void **state)
{
	struct fetch_opts o = {.ca_file = fx.ca, .timeout_s = 1};
	char dest[PATH_MAX];

	fx_path(dest, "dl-slow");
	assert_int_equal(https_get(&o, "/slow/x", NULL, dest), AICERT_ERR_TIMEOUT);
	assert_false(exists(dest));
}

static void https_never_replaces_dest(void **state)
{
	struct fetch_opts o = {.ca_file = fx.ca};
	char dest[PATH_MAX], link[PATH_MAX], buf[8] = "";
	int fd;

	fx_path(dest, "dl-existing");
	assert_int_equal(harness_write_file(dest, "mine", 4), 0);
	assert_int_equal(https_get(&o, "/data.bin", NULL, dest), AICERT_ERR_EXISTS);
	fd = open(dest, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 4);
	close(fd);
	assert_string_equal(buf, "mine");
	/* Nor follows a link there, even a dangling one. */
	fx_path(link, "dl-link");
	assert_int_equal(symlink("dl-nowhere", link), 0);
	assert_int_equal(https_get(&o, "/data.bin", NULL, link), AICERT_ERR_EXISTS);
	fx_path(dest, "dl-nowhere");
	assert_false(exists(dest));
}

/* ---- git ---- */

/* Is dir exactly the tree of commit (path within it) of repo? */
static void assert_tree(const char *repo, const char *commit, const char *path, const char *dir)
{
	char exp[PATH_MAX], git[PATH_MAX];

	fx_path(exp, "expected-%s", commit);
	if (!exists(exp))
		assert_int_equal(sh("mkdir %s && git -C %s archive %s | tar -x -C %s", exp, repo,
				    commit, exp),
				 0);
	assert_int_equal(sh("diff -r %s/%s %s", exp, path, dir), 0);
	snprintf(git, sizeof(git), "%s/.git", dir);
	assert_false(exists(git));
}

static void git_fetches_the_tree_of_a_commit(void **state)
{
	char src[PATH_MAX], dest[PATH_MAX], newer[PATH_MAX];
	struct stat st;

	fx_path(src, "src");
	fx_path(dest, "git-c1");
	assert_int_equal(fetch_git(NULL, src, fx.c1, ".", dest), 0);
	assert_tree(src, fx.c1, ".", dest);
	fx_path(newer, "git-c1/new.txt");
	assert_false(exists(newer));
	/* The executable bit comes along. */
	fx_path(newer, "git-c1/sub/deep/c.bin");
	assert_int_equal(stat(newer, &st), 0);
	assert_true(st.st_mode & S_IXUSR);
	assert_no_leftovers();

	fx_path(dest, "git-c2");
	assert_int_equal(fetch_git(NULL, src, fx.c2, ".", dest), 0);
	assert_tree(src, fx.c2, ".", dest);
}

static void git_fetches_a_subdirectory(void **state)
{
	char src[PATH_MAX], dest[PATH_MAX];
	int r;

	fx_path(src, "src");
	fx_path(dest, "git-sub");
	assert_int_equal(fetch_git(NULL, src, fx.c2, "sub", dest), 0);
	assert_tree(src, fx.c2, "sub", dest);
	fx_path(dest, "git-deep");
	assert_int_equal(fetch_git(NULL, src, fx.c1, "sub/deep", dest), 0);
	assert_tree(src, fx.c1, "sub/deep", dest);

	fx_path(dest, "git-nosub");
	r = fetch_git(NULL, src, fx.c1, "nosuch", dest);
	assert_int_equal(r, AICERT_ERR_NOT_FOUND);
	assert_non_null(strstr(err_msg(r), "nosuch"));
	r = fetch_git(NULL, src, fx.c1, "a.txt", dest);
	assert_int_equal(r, AICERT_ERR_INVALID);
	assert_false(exists(dest));
	assert_no_leftovers();
}

static void git_reports_a_missing_commit(void **state)
{
	char src[PATH_MAX], dest[PATH_MAX];
	const char *none = "0123456789abcdef0123456789abcdef01234567";
	int r;

	fx_path(src, "src");
	fx_path(dest, "git-missing");
	r = fetch_git(NULL, src, none, ".", dest);
	assert_int_equal(r, AICERT_ERR_NOT_FOUND);
	assert_non_null(
		strstr(err_msg(r), "commit 0123456789abcdef0123456789abcdef01234567 not found"));
	assert_false(exists(dest));
	assert_no_leftovers();

	fx_path(src, "no-such-repo");
	r = fetch_git(NULL, src, none, ".", dest);
	assert_int_equal(r, AICERT_ERR_UNAVAILABLE);
	assert_non_null(strstr(err_msg(r), "no-such-repo"));
	assert_non_null(strstr(err_msg(r), "git clone failed"));
	assert_false(exists(dest));
	assert_no_leftovers();
}

static void git_rejects_bad_arguments(void **state)
{
	static const char *const commits[] = {"0123456",
					      "0123456789ABCDEF0123456789ABCDEF01234567",
					      "0123456789abcdef0123456789abcdef0123456",
					      "0123456789abcdef0123456789abcdef0123456g",
					      "",
					      NULL};
	static const char *const subdirs[] = {"",     "/sub",  "../sub",     "sub/..", "sub//deep",
					      "sub/", "./sub", "sub/./deep", NULL};
	static const char *const repos[] = {"",
					    "-uexploit",
					    "--upload-pack=touch x",
					    "ssh://example.com/r.git",
					    "http://example.com/r.git",
					    "file:///tmp/r",
					    "ext::sh -c touch% x",
					    "example.com:r.git",
					    "a\nb",
					    NULL};
	char src[PATH_MAX], dest[PATH_MAX];

	fx_path(src, "src");
	fx_path(dest, "git-bad");
	for (size_t i = 0; commits[i]; i++)
		assert_int_equal(fetch_git(NULL, src, commits[i], ".", dest), AICERT_ERR_INVALID);
	for (size_t i = 0; subdirs[i]; i++)
		assert_int_equal(fetch_git(NULL, src, fx.c1, subdirs[i], dest), AICERT_ERR_INVALID);
	for (size_t i = 0; repos[i]; i++)
		assert_int_equal(fetch_git(NULL, repos[i], fx.c1, ".", dest), AICERT_ERR_INVALID);
	assert_false(exists(dest));
	/* dest must not exist. */
	fx_path(dest, "git-existing");
	assert_int_equal(mkdir(dest, 0755), 0);
	assert_int_equal(fetch_git(NULL, src, fx.c1, ".", dest), AICERT_ERR_EXISTS);
	assert_no_leftovers();
}

static void git_rejects_links_and_submodules(void **state)
{
	char repo[PATH_MAX], dest[PATH_MAX], c_link[41], c_mod[41];
	int r;

	fx_path(repo, "links");
	assert_int_equal(
		sh("set -e; mkdir %s; cd %s; git init -q -b main .; printf a > a.txt; mkdir d;"
		   "printf x > d/x.txt; ln -s a.txt link-to-a; " GIT " add -A;" GIT
		   " commit -q -m link; " GIT " rm -q link-to-a;" GIT
		   " update-index --add --cacheinfo 160000,%s,d/mod;" GIT " commit -q -m mod",
		   repo, repo, fx.c1),
		0);
	rev_parse(repo, "HEAD~1", c_link);
	rev_parse(repo, "HEAD", c_mod);
	fx_path(dest, "git-links");
	r = fetch_git(NULL, repo, c_link, ".", dest);
	assert_int_equal(r, AICERT_ERR_REJECTED);
	assert_non_null(strstr(err_msg(r), "link-to-a is a symbolic link"));
	assert_false(exists(dest));
	r = fetch_git(NULL, repo, c_mod, ".", dest);
	assert_int_equal(r, AICERT_ERR_REJECTED);
	assert_non_null(strstr(err_msg(r), "d/mod is a submodule"));
	assert_false(exists(dest));
	r = fetch_git(NULL, repo, c_mod, "d", dest);
	assert_int_equal(r, AICERT_ERR_REJECTED);
	assert_no_leftovers();
	/* A link outside the subdirectory taken is no concern. */
	assert_int_equal(fetch_git(NULL, repo, c_link, "d", dest), 0);
	assert_tree(repo, c_link, "d", dest);
}

static void git_keeps_the_committed_bytes(void **state)
{
	char repo[PATH_MAX], dest[PATH_MAX], commit[41];

	/* .gitattributes asking for CRLF and an ident expansion. */
	fx_path(repo, "attrs");
	assert_int_equal(sh("set -e; mkdir %s; cd %s; git init -q -b main .;"
			    "printf '*.txt text eol=crlf ident\\n' > .gitattributes;"
			    "printf 'one\\ntwo $Id$\\n' > a.txt; " GIT " add -A; " GIT
			    " commit -q -m attrs",
			    repo, repo),
			 0);
	rev_parse(repo, "HEAD", commit);
	fx_path(dest, "git-attrs");
	assert_int_equal(fetch_git(NULL, repo, commit, ".", dest), 0);
	assert_int_equal(
		sh("git -C %s cat-file blob %s:a.txt | cmp - %s/a.txt", repo, commit, dest), 0);
}

static void git_fetches_over_https(void **state)
{
	struct fetch_opts o = {.ca_file = fx.ca};
	char url[256], src[PATH_MAX], dest[PATH_MAX];
	int r;

	fx_path(src, "src");
	fx_path(dest, "git-https");
	snprintf(url, sizeof(url), "%s/repo.git", fx.base);
	assert_int_equal(fetch_git(&o, url, fx.c1, ".", dest), 0);
	assert_tree(src, fx.c1, ".", dest);

	/* Only ca_file is trusted. */
	fx_path(dest, "git-https-untrusted");
	r = fetch_git(NULL, url, fx.c1, ".", dest);
	assert_int_equal(r, AICERT_ERR_UNAVAILABLE);
	assert_non_null(strstr(err_msg(r), "git clone failed"));
	o.ca_file = fx.rogue_ca;
	assert_int_equal(fetch_git(&o, url, fx.c1, ".", dest), AICERT_ERR_UNAVAILABLE);
	assert_false(exists(dest));
	assert_no_leftovers();
}

static void git_times_out(void **state)
{
	struct fetch_opts o = {.ca_file = fx.ca, .timeout_s = 1};
	char url[256], dest[PATH_MAX];
	time_t start = time(NULL);

	fx_path(dest, "git-slow");
	snprintf(url, sizeof(url), "%s/slow/repo.git", fx.base);
	assert_int_equal(fetch_git(&o, url, fx.c1, ".", dest), AICERT_ERR_TIMEOUT);
	assert_true(time(NULL) - start < 10);
	assert_false(exists(dest));
	assert_no_leftovers();
}

static void git_uri_names_repo_commit_and_subdirectory(void **state)
{
	char *u;

	u = fetch_git_uri("https://example.com/r.git", fx.c1, ".");
	assert_non_null(u);
	assert_true(strncmp(u, "git+https://example.com/r.git@", 30) == 0);
	assert_string_equal(u + 30, fx.c1);
	free(u);
	u = fetch_git_uri("/srv/r", "0123456789abcdef0123456789abcdef01234567", "sub/deep");
	assert_string_equal(u, "git+/srv/r@0123456789abcdef0123456789abcdef01234567"
			       "#subdirectory=sub/deep");
	free(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(https_downloads_file_with_its_digest),
		cmocka_unit_test(https_checks_the_expected_digest),
		cmocka_unit_test(https_reports_http_status),
		cmocka_unit_test(https_refuses_plain_http),
		cmocka_unit_test(https_rejects_an_untrusted_server),
		cmocka_unit_test(https_bounds_the_size),
		cmocka_unit_test(https_times_out),
		cmocka_unit_test(https_never_replaces_dest),
		cmocka_unit_test(git_fetches_the_tree_of_a_commit),
		cmocka_unit_test(git_fetches_a_subdirectory),
		cmocka_unit_test(git_reports_a_missing_commit),
		cmocka_unit_test(git_rejects_bad_arguments),
		cmocka_unit_test(git_rejects_links_and_submodules),
		cmocka_unit_test(git_keeps_the_committed_bytes),
		cmocka_unit_test(git_fetches_over_https),
		cmocka_unit_test(git_times_out),
		cmocka_unit_test(git_uri_names_repo_commit_and_subdirectory),
	};

	return cmocka_run_group_tests_name("fetch", tests, group_setup, group_teardown);
}
