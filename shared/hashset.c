#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "err.h"
#include "hashset.h"

#define HASHSET_ERR_MAX 1024

/* What the workers of one hashset_run() share. */
struct hashset_ctx {
	struct hashset_item *items;
	size_t n;
	const struct hashset_opts *opts;
	size_t *order;            /* item indices, largest file first */
	atomic_size_t next;       /* the next position in order to take */
	atomic_size_t files_done; /* items finished */
	atomic_uint_fast64_t bytes_done;
	atomic_int stop; /* an error or a cancel: workers stop at their next chunk */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned running; /* workers not yet finished; under lock */
	int err;          /* the error reported for the lowest item index; under lock */
	size_t err_idx;
	char err_msg[HASHSET_ERR_MAX];
};

struct hashset_worker {
	struct hashset_ctx *ctx;
	pthread_t thread;
	EVP_MD_CTX *md;
	uint8_t *buf;
};

/* One file's streaming state, so that the checks read as steps. */
struct hashset_stream {
	int fd;
	const char *name;
	EVP_MD_CTX *md;
	uint8_t *buf;
	atomic_uint_fast64_t *bytes_done; /* may be NULL */
	atomic_int *stop;                 /* may be NULL */
};

static double hashset_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void hashset_opts_init(struct hashset_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->dirfd = AT_FDCWD;
}

unsigned hashset_threads(const struct hashset_opts *opts, size_t n)
{
	unsigned t = opts ? opts->threads : 0;

	if (t == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		t = cpus < 1                             ? 1
		    : cpus > HASHSET_DEFAULT_MAX_THREADS ? HASHSET_DEFAULT_MAX_THREADS
							 : (unsigned)cpus;
	}
	if (t > HASHSET_MAX_THREADS)
		t = HASHSET_MAX_THREADS;
	if (t > n)
		t = n ? (unsigned)n : 1;
	return t;
}

static int hashset_changed(const char *name, const struct stat *before, const struct stat *after,
			   uint64_t got)
{
	return err_set(
		AICERT_ERR_IO,
		"%s: changed while being read (%lld bytes when opened, %llu read, %lld at the end)",
		name, (long long)before->st_size, (unsigned long long)got,
		(long long)after->st_size);
}

/* Reads fd to its end into s->md. For a regular file, what is read must be
 * exactly the size fstat gave before, and size and mtime must not move. */
static int hashset_stream_fd(struct hashset_stream *s, uint8_t sha256[32], uint64_t *size)
{
	struct stat before, after;
	uint64_t total = 0;
	int reg;

	if (fstat(s->fd, &before) < 0)
		return err_set(AICERT_ERR_IO, "%s: %s", s->name, strerror(errno));
	reg = S_ISREG(before.st_mode);
	if (reg)
		(void)posix_fadvise(s->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (!EVP_DigestInit_ex(s->md, EVP_sha256(), NULL))
		return err_set(AICERT_ERR_CRYPTO, "%s: SHA-256 initialisation failed", s->name);
	for (;;) {
		ssize_t got = read(s->fd, s->buf, HASHSET_CHUNK);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return err_set(AICERT_ERR_IO, "%s: %s", s->name, strerror(errno));
		if (got == 0)
			break;
		total += (uint64_t)got;
		if (reg && total > (uint64_t)before.st_size) {
			if (fstat(s->fd, &after) < 0)
				after = before;
			return hashset_changed(s->name, &before, &after, total);
		}
		/* Start reading the next chunk while this one is hashed. */
		if (reg && total < (uint64_t)before.st_size)
			(void)posix_fadvise(s->fd, (off_t)total, HASHSET_CHUNK,
					    POSIX_FADV_WILLNEED);
		if (!EVP_DigestUpdate(s->md, s->buf, (size_t)got))
			return err_set(AICERT_ERR_CRYPTO, "%s: SHA-256 failed", s->name);
		if (s->bytes_done)
			atomic_fetch_add_explicit(s->bytes_done, (uint64_t)got,
						  memory_order_relaxed);
		if (s->stop && atomic_load_explicit(s->stop, memory_order_relaxed))
			return AICERT_ERR_CANCELLED;
	}
	if (reg) {
		if (fstat(s->fd, &after) < 0)
			return err_set(AICERT_ERR_IO, "%s: %s", s->name, strerror(errno));
		if (total != (uint64_t)before.st_size || after.st_size != before.st_size ||
		    after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
		    after.st_mtim.tv_nsec != before.st_mtim.tv_nsec)
			return hashset_changed(s->name, &before, &after, total);
	}
	if (!EVP_DigestFinal_ex(s->md, sha256, NULL))
		return err_set(AICERT_ERR_CRYPTO, "%s: SHA-256 failed", s->name);
	*size = total;
	return 0;
}

int hashset_fd(int fd, const char *name, uint8_t sha256[32], uint64_t *size)
{
	struct hashset_stream s = {.fd = fd, .name = name};
	int r;

	s.md = EVP_MD_CTX_new();
	s.buf = malloc(HASHSET_CHUNK);
	r = s.md && s.buf ? hashset_stream_fd(&s, sha256, size) : AICERT_ERR_NOMEM;
	free(s.buf);
	EVP_MD_CTX_free(s.md);
	return r;
}

/* Opens an item without blocking (a FIFO is never waited on) and checks,
 * before anything is read, that it is a regular file, and the one expected. */
static int hashset_open(const struct hashset_opts *o, const struct hashset_item *it, int *ret)
{
	int flags = O_RDONLY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK;
	struct stat st;
	int fd, r = 0;

	if (o->flags & HASHSET_NOFOLLOW)
		flags |= O_NOFOLLOW;
	fd = openat(o->dirfd, it->path, flags);
	if (fd < 0) {
		if (errno == ELOOP && (o->flags & HASHSET_NOFOLLOW))
			return err_set(AICERT_ERR_INVALID, "%s: a symbolic link (not allowed)",
				       it->path);
		return err_set(errno == ENOENT ? AICERT_ERR_NOT_FOUND : AICERT_ERR_IO, "%s: %s",
			       it->path, strerror(errno));
	}
	if (fstat(fd, &st) < 0)
		r = err_set(AICERT_ERR_IO, "%s: %s", it->path, strerror(errno));
	else if ((o->flags & HASHSET_CHECK_ID) &&
		 ((uint64_t)st.st_dev != it->dev || (uint64_t)st.st_ino != it->ino))
		r = err_set(AICERT_ERR_IO, "%s: changed while being read", it->path);
	else if (!S_ISREG(st.st_mode))
		r = err_set(AICERT_ERR_INVALID, "%s: not a regular file", it->path);
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret = fd;
	return 0;
}

/* Keeps the error of the lowest item index, so that the message does not
 * depend on scheduling more than it must, and stops the others. */
static void hashset_fail(struct hashset_ctx *c, size_t idx, int r, const char *msg)
{
	pthread_mutex_lock(&c->lock);
	if (c->err == 0 || idx < c->err_idx) {
		c->err = r;
		c->err_idx = idx;
		snprintf(c->err_msg, sizeof(c->err_msg), "%s", msg);
	}
	pthread_mutex_unlock(&c->lock);
	atomic_store(&c->stop, 1);
}

static int hashset_one(struct hashset_worker *w, size_t idx)
{
	struct hashset_ctx *c = w->ctx;
	struct hashset_item *it = &c->items[idx];
	struct hashset_stream s = {
		.name = it->path,
		.md = w->md,
		.buf = w->buf,
		.bytes_done = &c->bytes_done,
		.stop = &c->stop,
	};
	int r;

	r = hashset_open(c->opts, it, &s.fd);
	if (r < 0)
		return r;
	r = hashset_stream_fd(&s, it->sha256, &it->size);
	close(s.fd);
	return r;
}

static void *hashset_worker_main(void *arg)
{
	struct hashset_worker *w = arg;
	struct hashset_ctx *c = w->ctx;

	while (!atomic_load(&c->stop)) {
		size_t pos = atomic_fetch_add(&c->next, 1), idx;
		int r;

		if (pos >= c->n)
			break;
		idx = c->order[pos];
		r = hashset_one(w, idx);
		if (r == AICERT_ERR_CANCELLED)
			break;
		if (r < 0) {
			hashset_fail(c, idx, r, err_msg(r));
			break;
		}
		atomic_fetch_add(&c->files_done, 1);
	}
	pthread_mutex_lock(&c->lock);
	c->running--;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

struct hashset_sized {
	uint64_t size;
	size_t idx;
};

static int hashset_sized_cmp(const void *a, const void *b)
{
	const struct hashset_sized *x = a, *y = b;

	if (x->size != y->size)
		return x->size < y->size ? 1 : -1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Largest file first, so that a big file does not start last and leave the
 * other workers idle (longest-processing-time scheduling); and the total the
 * progress callback needs before the first byte is read. A file that cannot
 * be looked at counts as empty here: its worker reports the error. */
static int hashset_plan(struct hashset_ctx *c, uint64_t *total)
{
	const struct hashset_opts *o = c->opts;
	int flags = (o->flags & HASHSET_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW : 0;
	struct hashset_sized *s = calloc(c->n ? c->n : 1, sizeof(*s));
	struct stat st;

	c->order = calloc(c->n ? c->n : 1, sizeof(*c->order));
	if (!s || !c->order) {
		free(s);
		return AICERT_ERR_NOMEM;
	}
	*total = 0;
	for (size_t i = 0; i < c->n; i++) {
		s[i].idx = i;
		if (fstatat(o->dirfd, c->items[i].path, &st, flags) == 0 && S_ISREG(st.st_mode))
			s[i].size = (uint64_t)st.st_size;
		*total += s[i].size;
	}
	qsort(s, c->n, sizeof(*s), hashset_sized_cmp);
	for (size_t i = 0; i < c->n; i++)
		c->order[i] = s[i].idx;
	free(s);
	return 0;
}

static int hashset_report(struct hashset_ctx *c, double t0, uint64_t total, int done)
{
	struct hashset_progress p = {
		.bytes_done = atomic_load(&c->bytes_done),
		.bytes_total = total,
		.files_done = atomic_load(&c->files_done),
		.files_total = c->n,
		.elapsed = hashset_now() - t0,
		.done = done,
	};

	return c->opts->progress(&p, c->opts->progress_arg);
}

/* The calling thread waits for the workers, reporting progress. */
static void hashset_watch(struct hashset_ctx *c, double t0, uint64_t total)
{
	double last = t0;

	pthread_mutex_lock(&c->lock);
	while (c->running > 0) {
		struct timespec ts;
		double now;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += HASHSET_PROGRESS_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&c->cond, &c->lock, &ts);
		now = hashset_now();
		if (c->running == 0 || now - last < HASHSET_PROGRESS_MS / 1000.0)
			continue;
		last = now;
		pthread_mutex_unlock(&c->lock);
		if (hashset_report(c, t0, total, 0) != 0)
			hashset_fail(c, c->n, AICERT_ERR_CANCELLED, "hashing cancelled");
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
}

static int hashset_ctx_init(struct hashset_ctx *c, struct hashset_item *items, size_t n,
			    const struct hashset_opts *o)
{
	pthread_condattr_t ca;
	int r;

	memset(c, 0, sizeof(*c));
	c->items = items;
	c->n = n;
	c->opts = o;
	atomic_init(&c->next, 0);
	atomic_init(&c->files_done, 0);
	atomic_init(&c->bytes_done, 0);
	atomic_init(&c->stop, 0);
	if (pthread_condattr_init(&ca) != 0)
		return AICERT_ERR_NOMEM;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	r = pthread_cond_init(&c->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (r != 0)
		return AICERT_ERR_NOMEM;
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		pthread_cond_destroy(&c->cond);
		return AICERT_ERR_NOMEM;
	}
	return 0;
}

static void hashset_workers_free(struct hashset_worker *w, unsigned n)
{
	for (unsigned i = 0; w && i < n; i++) {
		free(w[i].buf);
		EVP_MD_CTX_free(w[i].md);
	}
	free(w);
}

static struct hashset_worker *hashset_workers_new(struct hashset_ctx *c, unsigned n)
{
	struct hashset_worker *w = calloc(n, sizeof(*w));

	for (unsigned i = 0; w && i < n; i++) {
		w[i].ctx = c;
		w[i].md = EVP_MD_CTX_new();
		w[i].buf = malloc(HASHSET_CHUNK);
		if (!w[i].md || !w[i].buf) {
			hashset_workers_free(w, n);
			return NULL;
		}
	}
	return w;
}

/* Starts up to nt workers; fewer if the system refuses threads, as long as
 * one starts. Returns how many started. */
static unsigned hashset_start(struct hashset_ctx *c, struct hashset_worker *w, unsigned nt)
{
	unsigned started = 0;

	pthread_mutex_lock(&c->lock);
	for (; started < nt; started++) {
		c->running++;
		if (pthread_create(&w[started].thread, NULL, hashset_worker_main, &w[started]) !=
		    0) {
			c->running--;
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return started;
}

int hashset_run(struct hashset_item *items, size_t n, const struct hashset_opts *opts)
{
	struct hashset_opts defaults;
	struct hashset_worker *w = NULL;
	struct hashset_ctx c;
	unsigned nt, started;
	uint64_t total = 0;
	double t0 = hashset_now();
	int r;

	if (!opts) {
		hashset_opts_init(&defaults);
		opts = &defaults;
	}
	nt = hashset_threads(opts, n);
	r = hashset_ctx_init(&c, items, n, opts);
	if (r < 0)
		return r;
	r = hashset_plan(&c, &total);
	if (r < 0)
		goto out;
	w = n ? hashset_workers_new(&c, nt) : NULL;
	if (n && !w) {
		r = AICERT_ERR_NOMEM;
		goto out;
	}
	started = n ? hashset_start(&c, w, nt) : 0;
	if (n && started == 0) {
		r = err_set(AICERT_ERR_INTERNAL, "cannot start a hashing thread");
		goto out;
	}
	if (opts->progress)
		hashset_watch(&c, t0, total);
	for (unsigned i = 0; i < started; i++)
		pthread_join(w[i].thread, NULL);
	if (opts->progress)
		(void)hashset_report(&c, t0, total, 1);
	r = c.err ? err_set(c.err, "%s", c.err_msg) : 0;
out:
	hashset_workers_free(w, nt);
	free(c.order);
	pthread_mutex_destroy(&c.lock);
	pthread_cond_destroy(&c.cond);
	return r;
}

/* ---- progress text ---- */

static void hashset_fmt_bytes(uint64_t v, char *buf, size_t len)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
	double x = (double)v;
	size_t u = 0;

	if (v < 1024) {
		snprintf(buf, len, "%llu B", (unsigned long long)v);
		return;
	}
	x /= 1024;
	while (x >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		x /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", x, units[u]);
}

static void hashset_fmt_eta(double s, char *buf, size_t len)
{
	unsigned long long t = (unsigned long long)(s + 0.5);

	if (t < 100)
		snprintf(buf, len, "%llu s", t);
	else if (t < 100 * 60)
		snprintf(buf, len, "%llu min %02llu s", t / 60, t % 60);
	else
		snprintf(buf, len, "%llu h %02llu min", t / 3600, t / 60 % 60);
}

int hashset_progress_format(const struct hashset_progress *p, char *buf, size_t len)
{
	char done[32], total[32], rate[32], eta[32] = "?";
	double bps = p->elapsed > 0 ? (double)p->bytes_done / p->elapsed : 0;

	hashset_fmt_bytes(p->bytes_done, done, sizeof(done));
	hashset_fmt_bytes(p->bytes_total, total, sizeof(total));
	hashset_fmt_bytes((uint64_t)bps, rate, sizeof(rate));
	if (bps > 0 && p->bytes_total >= p->bytes_done)
		hashset_fmt_eta((double)(p->bytes_total - p->bytes_done) / bps, eta, sizeof(eta));
	return snprintf(buf, len, "hashing %zu/%zu files, %s of %s, %s/s, ETA %s", p->files_done,
			p->files_total, done, total, rate, eta);
}

void hashset_tty_init(struct hashset_tty *t, int fd)
{
	t->fd = fd;
	t->active = isatty(fd);
	t->shown = 0;
}

static void hashset_tty_write(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, s, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		len -= (size_t)w;
	}
}

int hashset_tty_progress(const struct hashset_progress *p, void *arg)
{
	struct hashset_tty *t = arg;
	char line[256];
	struct winsize ws;
	size_t len;

	if (!t->active)
		return 0;
	if (p->done) {
		if (t->shown)
			hashset_tty_write(t->fd, "\r\033[K", 4);
		t->shown = 0;
		return 0;
	}
	if (p->elapsed * 1000 < HASHSET_TTY_DELAY_MS)
		return 0;
	line[0] = '\r';
	hashset_progress_format(p, line + 1, sizeof(line) - 4);
	len = strlen(line);
	/* A line longer than the terminal would wrap, and \r would not undo it. */
	if (ioctl(t->fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 && len > ws.ws_col)
		len = ws.ws_col;
	memcpy(line + len, "\033[K", 4);
	hashset_tty_write(t->fd, line, len + 3);
	t->shown = 1;
	return 0;
}
