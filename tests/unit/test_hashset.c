/* Unit tests for hashset (parallel streamed SHA-256 of files) and for
 * modeldir_scan, which hashes through it.
 *
 * Digests are checked against OpenSSL's one-shot SHA256() of the same bytes.
 * read() is wrapped (-Wl,--wrap=read) so that a file can be made to grow or
 * shrink at a chosen moment while hashset reads it. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "err.h"
#include "hashset.h"
#include "modeldir.h"

#define MAX_FILES 64

struct fixture {
	char dir[64];
	char *paths[MAX_FILES];
	size_t sizes[MAX_FILES];
	size_t n;
};

/* ---- read() wrapper: grow or shrink one file after its first chunk ---- */

ssize_t __real_read(int fd, void *buf, size_t len);
ssize_t __wrap_read(int fd, void *buf, size_t len);

static _Atomic unsigned long long tamper_ino; /* 0: off; workers read it concurrently */
static const char *tamper_path;
static int tamper_shrink; /* 0: append a byte; 1: truncate to half */

ssize_t __wrap_read(int fd, void *buf, size_t len)
{
	ssize_t got = __real_read(fd, buf, len);
	unsigned long long ino = atomic_load(&tamper_ino);
	struct stat st;

	if (got > 0 && ino && fstat(fd, &st) == 0 && st.st_ino == ino &&
	    atomic_compare_exchange_strong(&tamper_ino, &ino, 0)) {
		if (tamper_shrink) {
			assert_int_equal(truncate(tamper_path, st.st_size / 2), 0);
		} else {
			int w = open(tamper_path, O_WRONLY | O_APPEND);

			assert_true(w >= 0);
			assert_int_equal(write(w, "x", 1), 1);
			close(w);
		}
	}
	return got;
}

/* ---- helpers ---- */

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		b[i] = (uint8_t)(x >> 16);
	}
}

static void write_file(const char *path, size_t size, unsigned seed)
{
	uint8_t *b = malloc(size ? size : 1);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_non_null(b);
	assert_true(fd >= 0);
	fill(b, size, seed);
	assert_int_equal(write(fd, b, size), (ssize_t)size);
	close(fd);
	free(b);
}

static void expect_sha(const char *path, size_t size, unsigned seed, const uint8_t got[32])
{
	uint8_t *b = malloc(size ? size : 1);
	uint8_t want[32];

	assert_non_null(b);
	fill(b, size, seed);
	SHA256(b, size, want);
	free(b);
	if (memcmp(want, got, 32) != 0)
		fail_msg("%s (%zu bytes): digest differs", path, size);
}

static void add_file(struct fixture *f, const char *name, size_t size)
{
	assert_true(f->n < MAX_FILES);
	assert_true(asprintf(&f->paths[f->n], "%s/%s", f->dir, name) > 0);
	f->sizes[f->n] = size;
	write_file(f->paths[f->n], size, (unsigned)f->n);
	f->n++;
}

static struct hashset_item *items_of(struct fixture *f)
{
	struct hashset_item *it = calloc(f->n, sizeof(*it));

	assert_non_null(it);
	for (size_t i = 0; i < f->n; i++)
		it[i].path = f->paths[i];
	return it;
}

static void check_items(struct fixture *f, const struct hashset_item *it)
{
	for (size_t i = 0; i < f->n; i++) {
		assert_int_equal(it[i].size, f->sizes[i]);
		expect_sha(f->paths[i], f->sizes[i], (unsigned)i, it[i].sha256);
	}
}

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(p);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/aicert-hashset.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	for (size_t i = 0; i < f->n; i++)
		free(f->paths[i]);
	free(f);
	tamper_ino = 0;
	return 0;
}

/* ---- hashset_run ---- */

static void hashset_digests_match_sha256_at_chunk_edges(void **state)
{
	struct fixture *f = *state;
	const size_t sizes[] = {0,
				1,
				1000,
				HASHSET_CHUNK - 1,
				HASHSET_CHUNK,
				HASHSET_CHUNK + 1,
				3 * HASHSET_CHUNK + 7};
	struct hashset_item *it;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char name[32];

		snprintf(name, sizeof(name), "f%zu", i);
		add_file(f, name, sizes[i]);
	}
	it = items_of(f);
	assert_int_equal(hashset_run(it, f->n, NULL), 0);
	check_items(f, it);
	free(it);
}

static void hashset_keeps_input_order_with_1_to_8_threads(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < 48; i++) {
		char name[32];

		/* Names in reverse order, sizes uneven: order comes from the list. */
		snprintf(name, sizeof(name), "z%03zu", 100 - i);
		add_file(f, name,
			 (i * 7919) % (HASHSET_CHUNK / 4) + (i % 5 == 0 ? HASHSET_CHUNK : 0));
	}
	for (unsigned t = 1; t <= 8; t++) {
		struct hashset_item *it = items_of(f);
		struct hashset_opts o;

		hashset_opts_init(&o);
		o.threads = t;
		assert_int_equal(hashset_threads(&o, f->n), t);
		assert_int_equal(hashset_run(it, f->n, &o), 0);
		check_items(f, it);
		free(it);
	}
}

static void hashset_of_nothing_succeeds(void **state)
{
	assert_int_equal(hashset_run(NULL, 0, NULL), 0);
}

static void hashset_caps_threads_by_files(void **state)
{
	struct hashset_opts o;

	hashset_opts_init(&o);
	o.threads = 1000;
	assert_int_equal(hashset_threads(&o, 5), 5);
	assert_int_equal(hashset_threads(&o, 100000), HASHSET_MAX_THREADS);
	o.threads = 0;
	assert_true(hashset_threads(&o, 100000) >= 1);
	assert_true(hashset_threads(&o, 100000) <= HASHSET_DEFAULT_MAX_THREADS);
	assert_int_equal(hashset_threads(&o, 0), 1);
}

struct progress_log {
	struct hashset_progress last;
	unsigned calls;
	unsigned done_calls;
	unsigned cancel_after; /* 0: never */
};

static int record_progress(const struct hashset_progress *p, void *arg)
{
	struct progress_log *l = arg;

	l->last = *p;
	l->calls++;
	l->done_calls += p->done != 0;
	assert_true(p->bytes_done <= p->bytes_total);
	assert_true(p->files_done <= p->files_total);
	return l->cancel_after && l->calls >= l->cancel_after;
}

static void hashset_progress_ends_with_all_bytes_and_files(void **state)
{
	struct fixture *f = *state;
	struct progress_log log = {0};
	struct hashset_item *it;
	struct hashset_opts o;
	uint64_t total = 0;

	for (size_t i = 0; i < 12; i++) {
		char name[32];

		snprintf(name, sizeof(name), "p%zu", i);
		add_file(f, name, i * 100000 + 3);
		total += f->sizes[i];
	}
	it = items_of(f);
	hashset_opts_init(&o);
	o.threads = 3;
	o.progress = record_progress;
	o.progress_arg = &log;
	assert_int_equal(hashset_run(it, f->n, &o), 0);
	assert_int_equal(log.done_calls, 1);
	assert_int_equal(log.last.done, 1);
	assert_int_equal(log.last.bytes_done, total);
	assert_int_equal(log.last.bytes_total, total);
	assert_int_equal(log.last.files_done, f->n);
	assert_int_equal(log.last.files_total, f->n);
	check_items(f, it);
	free(it);
}

static void hashset_progress_callback_can_cancel(void **state)
{
	struct fixture *f = *state;
	struct progress_log log = {.cancel_after = 1};
	struct hashset_item *it;
	struct hashset_opts o;

	/* Enough work to outlast one progress period on any machine. */
	add_file(f, "big", 8 * HASHSET_CHUNK);
	it = calloc(400, sizeof(*it));
	assert_non_null(it);
	for (size_t i = 0; i < 400; i++)
		it[i].path = f->paths[0];
	hashset_opts_init(&o);
	o.threads = 2;
	o.progress = record_progress;
	o.progress_arg = &log;
	assert_int_equal(hashset_run(it, 400, &o), AICERT_ERR_CANCELLED);
	assert_true(log.last.files_done < 400);
	assert_int_equal(log.done_calls, 1);
	free(it);
}

static void expect_failure_naming(struct fixture *f, struct hashset_item *it, size_t n,
				  unsigned threads, int code, const char *path, const char *what)
{
	struct hashset_opts o;
	int r;

	hashset_opts_init(&o);
	o.threads = threads;
	err_clear();
	r = hashset_run(it, n, &o);
	assert_int_equal(r, code);
	if (!strstr(err_msg(r), path) || (what && !strstr(err_msg(r), what)))
		fail_msg("message '%s' should name %s (%s)", err_msg(r), path, what ? what : "");
}

static void hashset_missing_file_fails_with_its_name(void **state)
{
	struct fixture *f = *state;
	struct hashset_item *it;
	char *gone = NULL;

	for (size_t i = 0; i < 20; i++) {
		char name[32];

		snprintf(name, sizeof(name), "m%02zu", i);
		add_file(f, name, HASHSET_CHUNK / 2);
	}
	it = items_of(f);
	assert_true(asprintf(&gone, "%s/not-there", f->dir) > 0);
	it[13].path = gone;
	for (unsigned t = 1; t <= 4; t++)
		expect_failure_naming(f, it, f->n, t, AICERT_ERR_NOT_FOUND, gone, NULL);
	/* Removed between listing and hashing: the same. */
	it[13].path = f->paths[13];
	assert_int_equal(unlink(f->paths[13]), 0);
	expect_failure_naming(f, it, f->n, 4, AICERT_ERR_NOT_FOUND, f->paths[13], NULL);
	free(gone);
	free(it);
}

static void hashset_refuses_fifo_without_blocking(void **state)
{
	struct fixture *f = *state;
	struct hashset_item it[2] = {{0}};
	char *fifo = NULL;

	add_file(f, "a", 10);
	assert_true(asprintf(&fifo, "%s/fifo", f->dir) > 0);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	it[0].path = f->paths[0];
	it[1].path = fifo;
	expect_failure_naming(f, it, 2, 2, AICERT_ERR_INVALID, fifo, "not a regular file");
	free(fifo);
}

static void hashset_refuses_symlink_with_nofollow(void **state)
{
	struct fixture *f = *state;
	struct hashset_item it = {0};
	struct hashset_opts o;
	char *link = NULL;

	add_file(f, "target", 10);
	assert_true(asprintf(&link, "%s/link", f->dir) > 0);
	assert_int_equal(symlink(f->paths[0], link), 0);
	it.path = link;
	hashset_opts_init(&o);
	assert_int_equal(hashset_run(&it, 1, &o), 0); /* followed by default */
	expect_sha(link, 10, 0, it.sha256);
	o.flags = HASHSET_NOFOLLOW;
	assert_int_equal(hashset_run(&it, 1, &o), AICERT_ERR_INVALID);
	assert_non_null(strstr(err_msg(AICERT_ERR_INVALID), "symbolic link"));
	free(link);
}

static void hashset_file_that_grows_while_hashed_fails(void **state)
{
	struct fixture *f = *state;
	struct hashset_item *it;
	struct stat st;

	add_file(f, "before", HASHSET_CHUNK);
	add_file(f, "growing", 3 * HASHSET_CHUNK);
	add_file(f, "after", 10);
	it = items_of(f);
	assert_int_equal(stat(f->paths[1], &st), 0);
	tamper_path = f->paths[1];
	tamper_shrink = 0;
	tamper_ino = st.st_ino;
	expect_failure_naming(f, it, f->n, 2, AICERT_ERR_IO, f->paths[1],
			      "changed while being read");
	free(it);
}

static void hashset_file_grown_at_the_end_fails(void **state)
{
	struct fixture *f = *state;
	struct hashset_item *it;
	struct stat st;

	/* One chunk: the append lands after the last read, fstat must see it. */
	add_file(f, "small", 100);
	it = items_of(f);
	assert_int_equal(stat(f->paths[0], &st), 0);
	tamper_path = f->paths[0];
	tamper_shrink = 0;
	tamper_ino = st.st_ino;
	expect_failure_naming(f, it, f->n, 1, AICERT_ERR_IO, f->paths[0],
			      "changed while being read");
	free(it);
}

static void hashset_file_that_shrinks_while_hashed_fails(void **state)
{
	struct fixture *f = *state;
	struct hashset_item *it;
	struct stat st;

	add_file(f, "shrinking", 4 * HASHSET_CHUNK);
	it = items_of(f);
	assert_int_equal(stat(f->paths[0], &st), 0);
	tamper_path = f->paths[0];
	tamper_shrink = 1;
	tamper_ino = st.st_ino;
	expect_failure_naming(f, it, f->n, 1, AICERT_ERR_IO, f->paths[0],
			      "changed while being read");
	free(it);
}

static void hashset_check_id_refuses_replaced_file(void **state)
{
	struct fixture *f = *state;
	struct hashset_item it = {0};
	struct hashset_opts o;
	struct stat st;

	add_file(f, "orig", 10);
	assert_int_equal(stat(f->paths[0], &st), 0);
	it.path = f->paths[0];
	it.dev = (uint64_t)st.st_dev;
	it.ino = (uint64_t)st.st_ino;
	hashset_opts_init(&o);
	o.flags = HASHSET_CHECK_ID;
	assert_int_equal(hashset_run(&it, 1, &o), 0);
	it.ino++;
	assert_int_equal(hashset_run(&it, 1, &o), AICERT_ERR_IO);
	assert_non_null(strstr(err_msg(AICERT_ERR_IO), "changed while being read"));
}

static void hashset_fd_matches_sha256(void **state)
{
	struct fixture *f = *state;
	uint8_t sha[32];
	uint64_t size = 0;
	int fd;

	add_file(f, "one", 2 * HASHSET_CHUNK + 5);
	fd = open(f->paths[0], O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(hashset_fd(fd, "one", sha, &size), 0);
	close(fd);
	assert_int_equal(size, f->sizes[0]);
	expect_sha(f->paths[0], f->sizes[0], 0, sha);
}

/* ---- progress text ---- */

static void hashset_progress_format_reads_as_documented(void **state)
{
	struct hashset_progress p = {
		.bytes_done = 3ull << 29, /* 1.5 GiB */
		.bytes_total = 4ull << 30,
		.files_done = 3,
		.files_total = 12,
		.elapsed = 3.0,
	};
	char line[128];

	hashset_progress_format(&p, line, sizeof(line));
	assert_string_equal(line, "hashing 3/12 files, 1.5 GiB of 4.0 GiB, 512.0 MiB/s, ETA 5 s");
	p.bytes_done = 0;
	p.bytes_total = 500;
	p.files_done = 0;
	p.elapsed = 0;
	hashset_progress_format(&p, line, sizeof(line));
	assert_string_equal(line, "hashing 0/12 files, 0 B of 500 B, 0 B/s, ETA ?");
	p.bytes_done = 1ull << 20;
	p.bytes_total = 1001ull << 20;
	p.elapsed = 1.0;
	hashset_progress_format(&p, line, sizeof(line));
	assert_string_equal(
		line, "hashing 0/12 files, 1.0 MiB of 1001.0 MiB, 1.0 MiB/s, ETA 16 min 40 s");
}

static void hashset_tty_prints_nothing_when_not_a_terminal(void **state)
{
	struct fixture *f = *state;
	struct hashset_progress p = {.bytes_done = 1, .bytes_total = 2, .elapsed = 5};
	struct hashset_tty t;
	struct stat st;
	int fd;

	add_file(f, "out", 0);
	fd = open(f->paths[0], O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	hashset_tty_init(&t, fd);
	assert_int_equal(t.active, 0);
	assert_int_equal(hashset_tty_progress(&p, &t), 0);
	p.done = 1;
	assert_int_equal(hashset_tty_progress(&p, &t), 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 0);
	close(fd);
}

static void hashset_tty_draws_one_line_on_a_terminal_and_clears_it(void **state)
{
	struct hashset_progress p = {
		.bytes_done = 1 << 20, .bytes_total = 2 << 20, .files_total = 2};
	struct hashset_tty t;
	char out[512];
	ssize_t got;
	int m, sl;

	m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0) {
		if (m >= 0)
			close(m);
		skip();
	}
	sl = open(ptsname(m), O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(sl >= 0);
	hashset_tty_init(&t, sl);
	assert_int_equal(t.active, 1);
	p.elapsed = 0.1; /* before HASHSET_TTY_DELAY_MS: nothing */
	hashset_tty_progress(&p, &t);
	p.elapsed = 1.0;
	hashset_tty_progress(&p, &t);
	p.done = 1;
	hashset_tty_progress(&p, &t);
	got = read(m, out, sizeof(out) - 1);
	assert_true(got > 0);
	out[got] = 0;
	assert_string_equal(out, "\rhashing 0/2 files, 1.0 MiB of 2.0 MiB, 1.0 MiB/s, ETA 1 s\033[K"
				 "\r\033[K");
	close(sl);
	close(m);
}

/* ---- modeldir_scan through hashset ---- */

static void modeldir_scan_lists_sorted_paths_with_digests(void **state)
{
	struct fixture *f = *state;
	struct modeldir_file *files = NULL;
	const char *want[] = {"A", "a", "b/c", "b/d/e", "b0"};
	size_t n = 0;

	assert_true(asprintf(&f->paths[f->n], "%s/b", f->dir) > 0);
	assert_int_equal(mkdir(f->paths[f->n++], 0755), 0);
	assert_true(asprintf(&f->paths[f->n], "%s/b/d", f->dir) > 0);
	assert_int_equal(mkdir(f->paths[f->n++], 0755), 0);
	add_file(f, "b0", 5);
	add_file(f, "b/d/e", HASHSET_CHUNK + 1);
	add_file(f, "a", 0);
	add_file(f, "A", 7);
	add_file(f, "b/c", 3);
	assert_int_equal(modeldir_scan(f->dir, &files, &n), 0);
	assert_int_equal(n, 5);
	for (size_t i = 0; i < n; i++) {
		size_t k = 2;

		assert_string_equal(files[i].path, want[i]);
		while (strcmp(f->paths[k] + strlen(f->dir) + 1, want[i]) != 0)
			k++;
		assert_int_equal(files[i].size, f->sizes[k]);
		expect_sha(files[i].path, f->sizes[k], (unsigned)k, files[i].sha256);
	}
	modeldir_free(files, n);
}

static void modeldir_scan_refuses_symlink_and_fifo(void **state)
{
	struct fixture *f = *state;
	struct modeldir_file *files = NULL;
	char *p = NULL;
	size_t n = 0;

	add_file(f, "real", 5);
	assert_true(asprintf(&p, "%s/link", f->dir) > 0);
	assert_int_equal(symlink("real", p), 0);
	assert_int_equal(modeldir_scan(f->dir, &files, &n), AICERT_ERR_INVALID);
	assert_non_null(strstr(err_msg(AICERT_ERR_INVALID), "link: a symbolic link"));
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkfifo(p, 0600), 0);
	assert_int_equal(modeldir_scan(f->dir, &files, &n), AICERT_ERR_INVALID);
	assert_non_null(strstr(err_msg(AICERT_ERR_INVALID), "link: not a regular file"));
	assert_int_equal(unlink(p), 0);
	assert_int_equal(modeldir_scan(f->dir, &files, &n), 0);
	assert_int_equal(n, 1);
	modeldir_free(files, n);
	free(p);
}

/* An input directory's digest is sha256sum's manifest of it, hashed: the
 * command docs/proof-format.md gives computes the same digest. */
static void modeldir_manifest_digest_is_sha256sum_of_the_manifest(void **state)
{
	struct fixture *f = *state;
	struct modeldir_file *files = NULL;
	uint8_t digest[32];
	char *cmd = NULL, line[128], hex[65];
	uint64_t size = 0;
	size_t n = 0;
	FILE *p;

	assert_true(asprintf(&f->paths[f->n], "%s/b", f->dir) > 0);
	assert_int_equal(mkdir(f->paths[f->n++], 0755), 0);
	add_file(f, "b/c", 3);
	add_file(f, "b.txt", 10);
	add_file(f, "with space", HASHSET_CHUNK + 1);
	add_file(f, "caf\xc3\xa9", 1);
	add_file(f, "empty", 0);
	add_file(f, "-n", 2);
	add_file(f, "b/-", 4);
	assert_int_equal(modeldir_scan(f->dir, &files, &n), 0);
	assert_int_equal(modeldir_manifest_digest(files, n, digest, &size), 0);
	assert_int_equal(size, 3 + 10 + HASHSET_CHUNK + 1 + 1 + 2 + 4);
	for (size_t i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	assert_true(asprintf(&cmd,
			     "cd '%s' && find . -type f -printf '%%P\\0' | LC_ALL=C sort -z | "
			     "xargs -0r sha256sum -- | sha256sum",
			     f->dir) > 0);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof(line), p));
	assert_int_equal(pclose(p), 0);
	assert_memory_equal(line, hex, 64);
	modeldir_free(files, n);
	free(cmd);
}

/* The outputs' root (sigstore's) does not see names, which each output's
 * own event binds; an input's manifest digest must. */
static void modeldir_manifest_digest_binds_names(void **state)
{
	struct modeldir_file a[2] = {{.path = "config_b", .size = 1, .sha256 = {1}},
				     {.path = "config_c", .size = 1, .sha256 = {2}}};
	struct modeldir_file b[2] = {{.path = "config_a", .size = 1, .sha256 = {1}},
				     {.path = "config_b", .size = 1, .sha256 = {2}}};
	struct modeldir_file bad[1] = {{.path = "new\nline", .size = 1}};
	uint8_t da[32], db[32];
	uint64_t size;

	(void)state;
	assert_int_equal(modeldir_root(a, 2, da, &size), 0);
	assert_int_equal(modeldir_root(b, 2, db, &size), 0);
	assert_memory_equal(da, db, 32);
	assert_int_equal(modeldir_manifest_digest(a, 2, da, &size), 0);
	assert_int_equal(modeldir_manifest_digest(b, 2, db, &size), 0);
	assert_memory_not_equal(da, db, 32);
	assert_int_equal(modeldir_manifest_digest(bad, 1, da, &size), AICERT_ERR_INVALID);
	assert_non_null(strstr(err_msg(AICERT_ERR_INVALID), "'new…': a file name with a newline"));
	bad[0].path = "back\\slash";
	assert_int_equal(modeldir_manifest_digest(bad, 1, da, &size), AICERT_ERR_INVALID);
	bad[0].path = "esc\x1b[31m\r";
	assert_int_equal(modeldir_manifest_digest(bad, 1, da, &size), AICERT_ERR_INVALID);
	assert_non_null(strstr(err_msg(AICERT_ERR_INVALID), "'esc?[31m…'"));
	bad[0].path = "-";
	assert_int_equal(modeldir_manifest_digest(bad, 1, da, &size), AICERT_ERR_INVALID);
	assert_int_equal(modeldir_manifest_digest(NULL, 0, da, &size), 0);
	assert_int_equal(size, 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(hashset_digests_match_sha256_at_chunk_edges),
		T(hashset_keeps_input_order_with_1_to_8_threads),
		T(hashset_of_nothing_succeeds),
		T(hashset_caps_threads_by_files),
		T(hashset_progress_ends_with_all_bytes_and_files),
		T(hashset_progress_callback_can_cancel),
		T(hashset_missing_file_fails_with_its_name),
		T(hashset_refuses_fifo_without_blocking),
		T(hashset_refuses_symlink_with_nofollow),
		T(hashset_file_that_grows_while_hashed_fails),
		T(hashset_file_grown_at_the_end_fails),
		T(hashset_file_that_shrinks_while_hashed_fails),
		T(hashset_check_id_refuses_replaced_file),
		T(hashset_fd_matches_sha256),
		T(hashset_progress_format_reads_as_documented),
		T(hashset_tty_prints_nothing_when_not_a_terminal),
		T(hashset_tty_draws_one_line_on_a_terminal_and_clears_it),
		T(modeldir_scan_lists_sorted_paths_with_digests),
		T(modeldir_scan_refuses_symlink_and_fifo),
		T(modeldir_manifest_digest_is_sha256sum_of_the_manifest),
		T(modeldir_manifest_digest_binds_names),
	};

	return cmocka_run_group_tests_name("hashset", tests, NULL, NULL);
}
