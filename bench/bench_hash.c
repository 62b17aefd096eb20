/* bench_hash [DIR | SIZE_MIB]
 *
 * Hashing throughput of hashset (shared/hashset.h, the job executor's hasher)
 * against sha256sum and openssl dgst -sha256 on the same files, in the same
 * run. With a directory, hashes its regular files (not following symbolic
 * links); with a size (default 2048 MiB), writes into a temporary directory
 * ($TMPDIR or /tmp) a tree shaped like a training job's inputs (bh_kinds:
 * thousands of small samples, dozens of dataset shards, a few weight shards
 * and one file of half the data) and removes it at the end.
 *
 * Rounds (BENCH_HASH_ROUNDS, default 2) each time, interleaved: sha256sum,
 * then openssl dgst, over all files, in one process each (or, past the
 * argument limit, in as few as fit, one after the other, as xargs would);
 * then hashset with 1, 2 and N threads (N: its default, online CPUs capped),
 * each in a forked child so that wait4's ru_maxrss is the hasher's peak RSS.
 * The best round of each is printed, with the ratios and the goals. The files
 * are in the page cache (just written, or read by the first round): this
 * measures hashing and scheduling, not the disk. hashset's digests are checked
 * against both tools' output once. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "hashset.h"
#include "hex.h"

extern char **environ;

#define BH_GOAL_SHA256SUM 4.0  /* hashset N / sha256sum, at least */
#define BH_GOAL_OPENSSL   1.6  /* hashset N / one openssl dgst, at least */
#define BH_GOAL_RSS_MIB   64.0 /* hashset's peak RSS, below */
#define BH_BUSY           0.10 /* other load above this share of the CPUs: say so */
#define BH_MAX_CASES      5
#define BH_NKINDS         (sizeof(bh_kinds) / sizeof(bh_kinds[0]))

struct bh_set {
	char **paths; /* sorted */
	size_t n, cap;
	uint64_t bytes;
	unsigned dirs;      /* created by bh_make */
	char tmp[PATH_MAX]; /* non-empty: ours, removed at the end */
};

/* The generated tree: each kind gets share/64 of SIZE, in files of lo..hi
 * bytes (pseudo-random sizes; the last file takes what is left). */
struct bh_kind {
	const char *dir;
	const char *name;
	unsigned share;
	uint64_t lo, hi;
	unsigned per_dir; /* > 0: nested, DIR/NN/N/, per_dir files per leaf */
};

static const struct bh_kind bh_kinds[] = {
	/* a dataset of small samples: a few thousand files of 1-64 KiB */
	{"data/samples", "sample", 3, 1ull << 10, 64ull << 10, 100},
	/* dataset shards: dozens of 1-16 MiB */
	{"data/shards", "shard", 9, 1ull << 20, 16ull << 20, 0},
	/* sharded weights: a few of 64-256 MiB */
	{"model/shards", "shard", 20, 64ull << 20, 256ull << 20, 0},
	/* one file of half the data, last in path order */
	{"model", "weights", 32, UINT64_MAX, UINT64_MAX, 0},
};

/* One measurement of one case. */
struct bh_sample {
	double wall, cpu; /* seconds */
	long rss_kib;     /* the largest ru_maxrss of its processes */
	unsigned procs;
};

/* A baseline command: argv before the file names. */
struct bh_tool {
	const char *name;
	const char *argv[4];
	unsigned argc;
};

static const struct bh_tool bh_tools[] = {
	{"sha256sum", {"sha256sum"}, 1},
	{"openssl dgst -sha256", {"openssl", "dgst", "-sha256"}, 3},
};

struct bh_case {
	char name[48];
	const struct bh_tool *tool; /* NULL: hashset with threads */
	unsigned threads;
	struct bh_sample best; /* the fastest round's */
	long rss_kib;          /* the largest of all rounds */
};

/* What a hashset child hands back, in memory shared with the parent. */
struct bh_shared {
	int r;
	char msg[512];
	uint8_t sha256[][32]; /* one per file */
};

struct bh_bench {
	const struct bh_set *s;
	struct bh_shared *sh;
	size_t sh_len;
	size_t arg_max;
	char out[2][PATH_MAX]; /* each tool's output, for bh_check */
	struct bh_case c[BH_MAX_CASES];
	size_t nc;
	unsigned nt;    /* hashset's default thread count */
	long floor_kib; /* ru_maxrss of a forked child that does nothing */
	long ncpu;
	char loadavg[64];
};

/* Whole-machine CPU use over the rounds, against our own. */
struct bh_load {
	double t, busy, steal, own;
};

static struct bh_set *bh_cur;
static volatile sig_atomic_t bh_stop;

static void bh_on_signal(int sig)
{
	bh_stop = 1;
}

static double bh_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double bh_ru_cpu(const struct rusage *ru)
{
	return (double)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) +
	       (double)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / 1e6;
}

static const char *bh_tmpdir(void)
{
	const char *t = getenv("TMPDIR");

	return t && *t ? t : "/tmp";
}

/* xorshift64*: fast enough not to dominate writing the tree. */
static uint64_t bh_rand(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545F4914F6CDD1Dull;
}

/* Takes path (malloc'ed) on success only. */
static int bh_add(struct bh_set *s, char *path, uint64_t size)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 1024;
		char **p = realloc(s->paths, cap * sizeof(*p));

		if (!p)
			return -1;
		s->paths = p;
		s->cap = cap;
	}
	s->paths[s->n++] = path;
	s->bytes += size;
	return 0;
}

static int bh_collect(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	char *copy;

	if (type != FTW_F || !S_ISREG(st->st_mode))
		return 0;
	copy = strdup(p);
	if (!copy || bh_add(bh_cur, copy, (uint64_t)st->st_size) < 0) {
		free(copy);
		return 1;
	}
	return 0;
}

static int bh_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Fails, saying so, unless dir has room for mib MiB and 10%. */
static int bh_space(const char *dir, unsigned long long mib)
{
	double need = (double)mib * 1.1, have;
	struct statvfs v;

	if (statvfs(dir, &v) < 0) {
		fprintf(stderr, "bench_hash: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	have = (double)v.f_bavail * (double)v.f_frsize / (1 << 20);
	if (have < need) {
		fprintf(stderr,
			"bench_hash: %s has %.0f MiB free; %llu MiB of test files need %.0f MiB "
			"(size + 10%%): set TMPDIR, or give a smaller SIZE_MIB\n",
			dir, have, mib, need);
		return -1;
	}
	return 0;
}

/* Creates the missing directories on the way to path, under s->tmp. */
static int bh_mkdirs(struct bh_set *s, char *path)
{
	for (char *p = strchr(path + strlen(s->tmp) + 1, '/'); p; p = strchr(p + 1, '/')) {
		int r;

		*p = 0;
		r = mkdir(path, 0700);
		*p = '/';
		if (r == 0)
			s->dirs++;
		else if (errno != EEXIST)
			return -1;
	}
	return 0;
}

struct bh_gen {
	struct bh_set *s;
	uint64_t *buf;  /* HASHSET_CHUNK bytes */
	uint64_t sizes; /* PRNG state of the layout */
	unsigned files; /* written: seeds each file's content */
};

/* size pseudo-random bytes, seeded by the file's number (the same tree every
 * run), at s->tmp/rel. */
static int bh_write(struct bh_gen *g, const char *rel, uint64_t size)
{
	uint64_t x = ++g->files * 0x9E3779B97F4A7C15ull;
	char *path = NULL;
	int fd = -1, r = -1;

	if (asprintf(&path, "%s/%s", g->s->tmp, rel) < 0) {
		path = NULL;
		goto out;
	}
	if (bh_mkdirs(g->s, path) < 0)
		goto out;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out;
	for (uint64_t done = 0; done < size; done += HASHSET_CHUNK) {
		size_t len = size - done < HASHSET_CHUNK ? (size_t)(size - done) : HASHSET_CHUNK;
		ssize_t put;

		for (size_t i = 0; i < (len + 7) / 8; i++)
			g->buf[i] = bh_rand(&x);
		put = bh_stop ? -1 : write(fd, g->buf, len);
		if (put != (ssize_t)len) {
			errno = bh_stop ? EINTR : put < 0 ? errno : EIO;
			goto out;
		}
	}
	r = close(fd) == 0 ? bh_add(g->s, path, size) : -1;
	fd = -1;
	if (r == 0)
		path = NULL;
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return r;
}

static int bh_fill(struct bh_gen *g, const struct bh_kind *k, uint64_t budget)
{
	uint64_t total = budget;
	size_t n0 = g->s->n;
	char rel[160];

	for (unsigned i = 0; budget > 0; i++) {
		uint64_t size = k->lo + bh_rand(&g->sizes) % (k->hi - k->lo + 1);

		if (size >= budget || budget - size < k->lo)
			size = budget;
		if (k->per_dir)
			snprintf(rel, sizeof(rel), "%s/%02u/%u/%s-%05u.bin", k->dir,
				 i / (k->per_dir * 10), i / k->per_dir % 10, k->name, i);
		else
			snprintf(rel, sizeof(rel), "%s/%s-%05u.bin", k->dir, k->name, i);
		if (bh_write(g, rel, size) < 0)
			return -1;
		budget -= size;
	}
	fprintf(stderr, "bench_hash: %s/: %zu files, %.1f MiB\n", k->dir, g->s->n - n0,
		(double)total / (1 << 20));
	return 0;
}

/* The tree of bh_kinds, mib MiB in all, in a new temporary directory; then
 * written back to disk, so that writeback does not run during the timing. */
static int bh_make(struct bh_set *s, unsigned long long mib)
{
	struct bh_gen g = {.s = s, .sizes = 0x5EED};
	uint64_t total = (uint64_t)mib << 20, left = total;
	int r = -1, fd;

	if (bh_space(bh_tmpdir(), mib) < 0)
		return -1;
	snprintf(s->tmp, sizeof(s->tmp), "%s/aicert-bench-hash.XXXXXX", bh_tmpdir());
	g.buf = malloc(HASHSET_CHUNK);
	if (!g.buf || !mkdtemp(s->tmp)) {
		fprintf(stderr, "bench_hash: %s: %s\n", s->tmp, strerror(errno));
		s->tmp[0] = 0;
		free(g.buf);
		return -1;
	}
	fprintf(stderr, "bench_hash: writing a %llu MiB tree in %s\n", mib, s->tmp);
	for (size_t k = 0; k < BH_NKINDS; k++) {
		uint64_t budget = k + 1 < BH_NKINDS ? total / 64 * bh_kinds[k].share : left;

		if (bh_fill(&g, &bh_kinds[k], budget) < 0) {
			fprintf(stderr, "bench_hash: cannot write test files in %s: %s\n", s->tmp,
				strerror(errno));
			goto out;
		}
		left -= budget;
	}
	fprintf(stderr, "bench_hash: syncing, so that writeback does not run during the timing\n");
	fd = open(s->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		syncfs(fd);
		close(fd);
	}
	r = 0;
out:
	free(g.buf);
	return r;
}

static int bh_rm(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(p);
}

/* A directory's regular files, or a generated tree; 0, -1 (said why), or -2
 * (usage). */
static int bh_open_set(struct bh_set *s, const char *arg)
{
	unsigned long long mib;
	struct stat st;
	char *end;

	if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (nftw(arg, bh_collect, 16, FTW_PHYS) != 0) {
			fprintf(stderr, "bench_hash: %s: %s\n", arg, strerror(errno));
			return -1;
		}
	} else {
		mib = strtoull(arg, &end, 10);
		if (end == arg || *end || mib < 16 || mib > (1ull << 20)) {
			fprintf(stderr, "usage: bench_hash [DIR | SIZE_MIB (16..1048576, "
					"default 2048)]\n");
			return -2;
		}
		if (bh_make(s, mib) < 0)
			return -1;
	}
	if (s->n == 0) {
		fprintf(stderr, "bench_hash: no files\n");
		return -1;
	}
	qsort(s->paths, s->n, sizeof(s->paths[0]), bh_cmp);
	return 0;
}

/* Waits for pid, adding its CPU time and peak RSS to x; 0 if it exited 0. */
static int bh_reap(pid_t pid, struct bh_sample *x)
{
	struct rusage ru;
	pid_t got;
	int st;

	do {
		got = wait4(pid, &st, 0, &ru);
	} while (got < 0 && errno == EINTR);
	if (got != pid)
		return -1;
	x->cpu += bh_ru_cpu(&ru);
	if (ru.ru_maxrss > x->rss_kib)
		x->rss_kib = ru.ru_maxrss;
	x->procs++;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* Bytes of arguments for one process: half of ARG_MAX after the environment,
 * as xargs stays well under it (BENCH_HASH_ARG_MAX overrides, to try it). */
static size_t bh_arg_max(void)
{
	const char *o = getenv("BENCH_HASH_ARG_MAX");
	long max = sysconf(_SC_ARG_MAX);
	size_t env = 0;

	if (o && *o)
		return (size_t)strtoull(o, NULL, 10);
	for (char **e = environ; *e; e++)
		env += strlen(*e) + 1 + sizeof(*e);
	if (max <= 0 || (size_t)max < env + 8192)
		return 4096;
	return ((size_t)max - env) / 2;
}

/* The end of the batch from first: the files that fit in limit, at least one. */
static size_t bh_batch(const struct bh_set *s, size_t first, size_t limit)
{
	size_t end = first, used = 64; /* the command itself */

	while (end < s->n) {
		size_t len = strlen(s->paths[end]) + 1 + sizeof(char *);

		if (end > first && used + len > limit)
			break;
		used += len;
		end++;
	}
	return end;
}

/* t over the files [first, end), stdout to out (appended to after the first
 * batch). fork and exec, not posix_spawn: a vfork-like child starts from this
 * process's peak RSS, and ru_maxrss would count it. */
static int bh_spawn(const struct bh_tool *t, const struct bh_set *s, size_t first, size_t end,
		    const char *out, struct bh_sample *x)
{
	char **argv = calloc(t->argc + (end - first) + 1, sizeof(*argv));
	int flags = O_WRONLY | O_CREAT | (first == 0 ? O_TRUNC : O_APPEND);
	pid_t pid;
	int fd;

	if (!argv)
		return -1;
	for (unsigned i = 0; i < t->argc; i++)
		argv[i] = (char *)t->argv[i];
	for (size_t i = first; i < end; i++)
		argv[t->argc + i - first] = s->paths[i];
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		fd = open(out, flags, 0600);
		if (fd >= 0 && dup2(fd, STDOUT_FILENO) >= 0)
			execvp(argv[0], argv);
		_exit(127);
	}
	free(argv);
	return pid < 0 ? -1 : bh_reap(pid, x);
}

static int bh_tool_run(const struct bh_tool *t, const struct bh_set *s, const char *out,
		       size_t limit, struct bh_sample *x)
{
	double t0 = bh_now();
	size_t end;

	memset(x, 0, sizeof(*x));
	for (size_t first = 0; first < s->n && !bh_stop; first = end) {
		end = bh_batch(s, first, limit);
		if (bh_spawn(t, s, first, end, out, x) < 0) {
			fprintf(stderr, "bench_hash: %s failed (is it installed?)\n", t->name);
			return -1;
		}
	}
	x->wall = bh_now() - t0;
	return bh_stop ? -1 : 0;
}

/* The forked child: hashes every file with threads workers (0: none, for the
 * RSS a child has from the fork alone) and hands the digests back in sh. */
static _Noreturn void bh_child(const struct bh_set *s, unsigned threads, struct bh_shared *sh)
{
	struct hashset_item *it;
	struct hashset_opts o;
	int r = AICERT_ERR_NOMEM;

	if (threads == 0)
		_exit(0);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	hashset_opts_init(&o);
	o.threads = threads;
	it = calloc(s->n, sizeof(*it));
	if (it) {
		for (size_t i = 0; i < s->n; i++)
			it[i].path = s->paths[i];
		r = hashset_run(it, s->n, &o);
	}
	sh->r = r;
	snprintf(sh->msg, sizeof(sh->msg), "%s", err_msg(r));
	for (size_t i = 0; r == 0 && i < s->n; i++)
		memcpy(sh->sha256[i], it[i].sha256, 32);
	free(it);
	_exit(r == 0 ? 0 : 1);
}

static int bh_hashset(const struct bh_set *s, unsigned threads, struct bh_shared *sh,
		      struct bh_sample *x)
{
	double t0;
	pid_t pid;

	memset(x, 0, sizeof(*x));
	sh->r = AICERT_ERR_INTERNAL;
	snprintf(sh->msg, sizeof(sh->msg), "the child died");
	fflush(NULL);
	t0 = bh_now();
	pid = fork();
	if (pid == 0)
		bh_child(s, threads, sh);
	if (pid < 0 || bh_reap(pid, x) < 0) {
		fprintf(stderr, "bench_hash: hashset, %u threads: %s\n", threads,
			pid < 0 ? strerror(errno) : sh->msg);
		return -1;
	}
	x->wall = bh_now() - t0;
	return 0;
}

/* The digest in a line of sha256sum ("HEX  NAME", "\HEX  NAME" for an escaped
 * name) or of openssl dgst ("SHA2-256(NAME)= HEX"). */
static const char *bh_line_hex(char *line)
{
	size_t len = strcspn(line, "\n");

	line[len] = 0;
	if (line[0] == '\\') {
		line++;
		len--;
	}
	if (len < 64)
		return NULL;
	return strspn(line, "0123456789abcdef") >= 64 ? line : line + len - 64;
}

/* Every digest the tool printed into out must be hashset's, in order. */
static int bh_check(const struct bh_set *s, const struct bh_shared *sh, const char *tool,
		    const char *out)
{
	FILE *f = fopen(out, "re");
	char *line = NULL, hex[65];
	size_t cap = 0, i = 0;
	const char *got;

	if (!f)
		return -1;
	for (; i < s->n && getline(&line, &cap, f) > 0; i++) {
		got = bh_line_hex(line);
		hex_encode(sh->sha256[i], 32, hex);
		if (!got || strncmp(got, hex, 64) != 0)
			break;
	}
	if (i < s->n)
		fprintf(stderr, "bench_hash: %s: %s printed another digest\n", s->paths[i], tool);
	free(line);
	fclose(f);
	return i == s->n ? 0 : -1;
}

/* Busy and stolen CPU seconds of the whole machine since boot. */
static int bh_machine_cpu(double *busy, double *steal)
{
	unsigned long long v[8]; /* user nice system idle iowait irq softirq steal */
	double hz = (double)sysconf(_SC_CLK_TCK);
	FILE *f = fopen("/proc/stat", "re");
	int n;

	if (!f)
		return -1;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n != 8)
		return -1;
	*busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6]) / hz;
	*steal = (double)v[7] / hz;
	return 0;
}

static void bh_load_mark(struct bh_load *l)
{
	struct rusage self, children;

	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &children);
	l->own = bh_ru_cpu(&self) + bh_ru_cpu(&children);
	l->t = bh_now();
	if (bh_machine_cpu(&l->busy, &l->steal) < 0)
		l->busy = -1;
}

/* What other processes (and the hypervisor) took while the rounds ran. */
static void bh_load_print(const struct bh_load *a, long ncpu)
{
	double cap, other, steal;
	struct bh_load b;

	bh_load_mark(&b);
	if (a->busy < 0 || b.busy < 0) {
		printf("other load during the rounds: unknown (/proc/stat)\n");
		return;
	}
	cap = (b.t - a->t) * (double)ncpu;
	other = (b.busy - a->busy) - (b.own - a->own);
	if (other < 0)
		other = 0;
	steal = b.steal - a->steal;
	printf("other load during the rounds: %.0f%% of %ld CPUs, stolen %.0f%%: %s\n",
	       100 * other / cap, ncpu, 100 * steal / cap,
	       (other + steal) / cap > BH_BUSY ? "the machine was busy, figures are low" : "quiet");
}

static void bh_cases(struct bh_bench *b)
{
	unsigned threads[3] = {1, 2, b->nt};

	for (size_t i = 0; i < 2; i++) {
		b->c[b->nc].tool = &bh_tools[i];
		snprintf(b->c[b->nc].name, sizeof(b->c[0].name), "%s", bh_tools[i].name);
		b->nc++;
	}
	for (size_t k = 0; k < 3 && !(k == 2 && b->nt <= 2); k++) {
		struct bh_case *c = &b->c[b->nc++];

		c->threads = threads[k];
		snprintf(c->name, sizeof(c->name), "hashset %u thread%s%s", threads[k],
			 threads[k] > 1 ? "s" : "", threads[k] == b->nt ? " (N)" : "");
	}
}

static int bh_init(struct bh_bench *b, const struct bh_set *s)
{
	void *p;

	b->s = s;
	b->ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	b->nt = hashset_threads(NULL, s->n);
	b->arg_max = bh_arg_max();
	bh_cases(b);
	b->sh_len = sizeof(*b->sh) + s->n * sizeof(b->sh->sha256[0]);
	p = mmap(NULL, b->sh_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "bench_hash: mmap: %s\n", strerror(errno));
		return -1;
	}
	b->sh = p;
	for (int i = 0; i < 2; i++) {
		int fd;

		snprintf(b->out[i], sizeof(b->out[i]), "%s/aicert-bench-hash.out.XXXXXX",
			 bh_tmpdir());
		fd = mkstemp(b->out[i]);
		if (fd < 0) {
			fprintf(stderr, "bench_hash: %s: %s\n", b->out[i], strerror(errno));
			b->out[i][0] = 0;
			return -1;
		}
		close(fd);
	}
	return 0;
}

static void bh_fini(struct bh_bench *b)
{
	if (b->sh)
		munmap(b->sh, b->sh_len);
	for (int i = 0; i < 2; i++)
		if (b->out[i][0])
			unlink(b->out[i]);
}

static int bh_measure(struct bh_bench *b, struct bh_case *c, int round)
{
	struct bh_sample x;
	int r;

	if (c->tool)
		r = bh_tool_run(c->tool, b->s, b->out[c->tool - bh_tools], b->arg_max, &x);
	else
		r = bh_hashset(b->s, c->threads, b->sh, &x);
	if (r < 0)
		return -1;
	if (round == 0 || x.wall < c->best.wall)
		c->best = x;
	if (x.rss_kib > c->rss_kib)
		c->rss_kib = x.rss_kib;
	return 0;
}

static void bh_print_case(const struct bh_bench *b, const struct bh_case *c)
{
	double mibs = (double)b->s->bytes / (1 << 20) / c->best.wall;

	printf("%-22s %7.3f s %7.0f %7.2f s %8.1f %5u", c->name, c->best.wall, mibs, c->best.cpu,
	       (double)c->rss_kib / 1024, c->best.procs);
	if (!c->tool)
		printf(" %7.2fx %7.2fx", b->c[0].best.wall / c->best.wall,
		       b->c[1].best.wall / c->best.wall);
	printf("\n");
}

static void bh_goal(const char *what, int met, double value, const char *unit)
{
	printf("goal %s: %s (%.2f%s)\n", what, met ? "met" : "NOT met", value, unit);
}

static void bh_report(const struct bh_bench *b, int rounds, const struct bh_load *load)
{
	const struct bh_case *n = NULL;
	long rss = 0;

	printf("%ld online CPUs (hashset's N = %u), load average before the run %s\n", b->ncpu,
	       b->nt, b->loadavg);
	printf("%zu files", b->s->n);
	if (b->s->dirs)
		printf(" in %u directories", b->s->dirs);
	printf(", %.1f MiB, page cache warm, best of %d rounds\n", (double)b->s->bytes / (1 << 20),
	       rounds);
	printf("%-22s %9s %7s %9s %8s %5s %8s %8s\n", "", "wall", "MiB/s", "CPU", "RSS MiB",
	       "procs", "/sha256", "/openssl");
	for (size_t k = 0; k < b->nc; k++) {
		bh_print_case(b, &b->c[k]);
		if (!b->c[k].tool && b->c[k].rss_kib > rss)
			rss = b->c[k].rss_kib;
		if (!b->c[k].tool && b->c[k].threads == b->nt && !n)
			n = &b->c[k];
	}
	assert(n);
	printf("hashset's RSS includes %.1f MiB inherited from the bench at fork\n",
	       (double)b->floor_kib / 1024);
	bh_goal(">= 4.0x sha256sum", b->c[0].best.wall / n->best.wall >= BH_GOAL_SHA256SUM,
		b->c[0].best.wall / n->best.wall, "");
	bh_goal(">= 1.6x openssl dgst", b->c[1].best.wall / n->best.wall >= BH_GOAL_OPENSSL,
		b->c[1].best.wall / n->best.wall, "");
	bh_goal("peak RSS < 64 MiB", (double)rss / 1024 < BH_GOAL_RSS_MIB, (double)rss / 1024,
		" MiB");
	bh_load_print(load, b->ncpu);
}

static int bh_rounds(struct bh_bench *b, int rounds)
{
	struct bh_sample floor;
	struct bh_load load;

	if (bh_hashset(b->s, 0, b->sh, &floor) < 0)
		return -1;
	b->floor_kib = floor.rss_kib;
	bh_load_mark(&load);
	for (int round = 0; round < rounds; round++) {
		for (size_t k = 0; k < b->nc; k++)
			if (bh_stop || bh_measure(b, &b->c[k], round) < 0)
				return -1;
		if (round == 0 && (bh_check(b->s, b->sh, bh_tools[0].name, b->out[0]) < 0 ||
				   bh_check(b->s, b->sh, bh_tools[1].name, b->out[1]) < 0))
			return -1;
		fprintf(stderr, "bench_hash: round %d of %d done\n", round + 1, rounds);
	}
	bh_report(b, rounds, &load);
	return 0;
}

static void bh_read_loadavg(char *buf, size_t len)
{
	FILE *f = fopen("/proc/loadavg", "re");
	float l[3];

	if (f && fscanf(f, "%f %f %f", &l[0], &l[1], &l[2]) == 3)
		snprintf(buf, len, "%.2f %.2f %.2f", l[0], l[1], l[2]);
	else
		snprintf(buf, len, "unknown");
	if (f)
		fclose(f);
}

int main(int argc, char **argv)
{
	const char *rounds_env = getenv("BENCH_HASH_ROUNDS");
	int rounds = rounds_env ? atoi(rounds_env) : 2, r;
	struct sigaction sa = {.sa_handler = bh_on_signal};
	struct bh_bench b = {0};
	struct bh_set s = {0};

	if (rounds < 1)
		rounds = 1;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	bh_read_loadavg(b.loadavg, sizeof(b.loadavg));
	bh_cur = &s;
	r = bh_open_set(&s, argc > 1 ? argv[1] : "2048");
	if (r == 0)
		r = bh_init(&b, &s);
	if (r == 0)
		r = bh_rounds(&b, rounds);
	if (bh_stop)
		fprintf(stderr, "bench_hash: interrupted\n");
	bh_fini(&b);
	if (s.tmp[0])
		nftw(s.tmp, bh_rm, 16, FTW_DEPTH | FTW_PHYS);
	for (size_t i = 0; i < s.n; i++)
		free(s.paths[i]);
	free(s.paths);
	return r == 0 ? 0 : r == -2 ? 2 : 1;
}
