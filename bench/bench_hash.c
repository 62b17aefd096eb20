/* bench_hash [DIR | SIZE_MIB]
 *
 * Hashing throughput of hashset against sha256sum on the same files, in the
 * same run. With a directory, hashes its regular files (not following
 * symbolic links); with a size (default 1024 MiB), writes into a temporary
 * directory 8 files of SIZE/16 and one of SIZE/2 (model weights: a few big
 * files) and removes it at the end. The big file is last in path order, so
 * the schedule matters.
 *
 * Rounds (BENCH_HASH_ROUNDS, default 2) each time, interleaved: sha256sum
 * over all files in one process (posix_spawn, sequential by nature), then
 * hashset with 1, 2 and N threads (N: the default, online CPUs capped). The
 * best round of each is printed, in MiB/s, with the ratio to sha256sum. The
 * files are in the page cache (just written, or read by the first round):
 * this measures hashing and scheduling, not the disk. Digests are checked
 * against sha256sum's output once. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "hashset.h"
#include "hex.h"

extern char **environ;

#define BH_MAX_FILES 4096

struct bh_set {
	char *paths[BH_MAX_FILES];
	size_t n;
	uint64_t bytes;
	char tmp[64]; /* non-empty: ours, removed at the end */
};

static struct bh_set *bh_cur;

static double bh_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) of this process or of its waited-for children. */
static double bh_cpu(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int bh_collect(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	if (type != FTW_F || !S_ISREG(st->st_mode))
		return 0;
	if (bh_cur->n == BH_MAX_FILES)
		return 1;
	bh_cur->paths[bh_cur->n] = strdup(p);
	if (!bh_cur->paths[bh_cur->n])
		return 1;
	bh_cur->n++;
	bh_cur->bytes += (uint64_t)st->st_size;
	return 0;
}

static int bh_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Pseudo-random bytes (xorshift64*), fast enough not to dominate setup. */
static int bh_write(struct bh_set *s, const char *name, uint64_t size, uint64_t seed)
{
	uint64_t *buf = malloc(HASHSET_CHUNK), x = seed * 0x9E3779B97F4A7C15ull + 1;
	char *path = NULL;
	int fd = -1, r = -1;

	if (!buf || asprintf(&path, "%s/%s", s->tmp, name) < 0)
		goto out;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out;
	for (uint64_t done = 0; done < size;) {
		size_t len = size - done < HASHSET_CHUNK ? (size_t)(size - done) : HASHSET_CHUNK;

		for (size_t i = 0; i < HASHSET_CHUNK / 8; i++) {
			x ^= x >> 12;
			x ^= x << 25;
			x ^= x >> 27;
			buf[i] = x * 0x2545F4914F6CDD1Dull;
		}
		if (write(fd, buf, len) != (ssize_t)len)
			goto out;
		done += len;
	}
	s->paths[s->n++] = path;
	s->bytes += size;
	path = NULL;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(path);
	free(buf);
	return r;
}

static int bh_make(struct bh_set *s, uint64_t mib)
{
	char name[32];

	snprintf(s->tmp, sizeof(s->tmp), "/tmp/aicert-bench-hash.XXXXXX");
	if (!mkdtemp(s->tmp)) {
		s->tmp[0] = 0;
		return -1;
	}
	for (unsigned i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "part-%u.bin", i);
		if (bh_write(s, name, (mib << 20) / 16, i) < 0)
			return -1;
	}
	return bh_write(s, "weights.bin", (mib << 20) / 2, 99);
}

static int bh_rm(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(p);
}

/* sha256sum over every file, stdout to out (a path). Seconds, or < 0. */
static double bh_sha256sum(struct bh_set *s, const char *out, double *cpu)
{
	char **argv = calloc(s->n + 2, sizeof(*argv));
	posix_spawn_file_actions_t fa;
	double t0, t;
	pid_t pid;
	int st;

	if (!argv)
		return -1;
	argv[0] = "sha256sum";
	for (size_t i = 0; i < s->n; i++)
		argv[i + 1] = s->paths[i];
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	*cpu = bh_cpu(RUSAGE_CHILDREN);
	t0 = bh_now();
	st = posix_spawnp(&pid, "sha256sum", &fa, NULL, argv, environ);
	if (st == 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		t = bh_now() - t0;
	else
		t = -1;
	*cpu = bh_cpu(RUSAGE_CHILDREN) - *cpu;
	posix_spawn_file_actions_destroy(&fa);
	free(argv);
	return t;
}

static double bh_hashset(struct bh_set *s, struct hashset_item *it, unsigned threads, double *cpu)
{
	struct hashset_opts o;
	double t0;
	int r;

	hashset_opts_init(&o);
	o.threads = threads;
	for (size_t i = 0; i < s->n; i++)
		it[i].path = s->paths[i];
	*cpu = bh_cpu(RUSAGE_SELF);
	t0 = bh_now();
	r = hashset_run(it, s->n, &o);
	*cpu = bh_cpu(RUSAGE_SELF) - *cpu;
	if (r < 0) {
		fprintf(stderr, "bench_hash: %s\n", err_msg(r));
		return -1;
	}
	return bh_now() - t0;
}

/* Every digest sha256sum printed must be hashset's. */
static int bh_check(struct bh_set *s, const struct hashset_item *it, const char *out)
{
	FILE *f = fopen(out, "re");
	char line[8192];
	size_t i = 0;

	if (!f)
		return -1;
	while (i < s->n && fgets(line, sizeof(line), f)) {
		char hex[65];

		hex_encode(it[i].sha256, 32, hex);
		if (strncmp(line, hex, 64) != 0) {
			fprintf(stderr, "bench_hash: %s: digest differs from sha256sum\n",
				s->paths[i]);
			break;
		}
		i++;
	}
	fclose(f);
	return i == s->n ? 0 : -1;
}

static void bh_print(const char *what, double best, double cpu, uint64_t bytes, double base)
{
	double mibs = (double)bytes / (1 << 20) / best;

	printf("%-22s %8.3f s %9.1f MiB/s  cpu %6.3f s", what, best, mibs, cpu);
	if (base > 0)
		printf("   %.2fx sha256sum", base / best);
	printf("\n");
}

static int bh_run(struct bh_set *s, int rounds)
{
	unsigned nt = hashset_threads(NULL, s->n), threads[3] = {1, 2, nt};
	double best[4] = {0}, cpu[4] = {0}, t, c, check;
	struct hashset_item *it = calloc(s->n, sizeof(*it));
	char out[] = "/tmp/aicert-bench-hash.sums.XXXXXX", name[32];
	int r = -1, fd = mkstemp(out);

	if (fd < 0 || !it) {
		if (fd >= 0) {
			close(fd);
			unlink(out);
		}
		free(it);
		return -1;
	}
	close(fd);
	for (int round = 0; round < rounds; round++) {
		t = bh_sha256sum(s, out, &c);
		if (t < 0 ||
		    (round == 0 && (bh_hashset(s, it, nt, &check) < 0 || bh_check(s, it, out) < 0)))
			goto out;
		if (round == 0 || t < best[0]) {
			best[0] = t;
			cpu[0] = c;
		}
		for (int k = 0; k < 3; k++) {
			t = bh_hashset(s, it, threads[k], &c);
			if (t < 0)
				goto out;
			if (round == 0 || t < best[k + 1]) {
				best[k + 1] = t;
				cpu[k + 1] = c;
			}
		}
	}
	printf("%zu files, %.1f MiB, best of %d rounds (%ld online CPUs)\n", s->n,
	       (double)s->bytes / (1 << 20), rounds, sysconf(_SC_NPROCESSORS_ONLN));
	bh_print("sha256sum", best[0], cpu[0], s->bytes, 0);
	for (int k = 0; k < 3; k++) {
		snprintf(name, sizeof(name), "hashset %u thread%s%s", threads[k],
			 threads[k] > 1 ? "s" : "", k == 2 ? " (N)" : "");
		bh_print(name, best[k + 1], cpu[k + 1], s->bytes, best[0]);
	}
	r = 0;
out:
	unlink(out);
	free(it);
	return r;
}

int main(int argc, char **argv)
{
	const char *arg = argc > 1 ? argv[1] : "1024";
	int rounds = getenv("BENCH_HASH_ROUNDS") ? atoi(getenv("BENCH_HASH_ROUNDS")) : 2;
	struct bh_set s = {0};
	struct stat st;
	int r;

	if (rounds < 1)
		rounds = 1;
	bh_cur = &s;
	if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
		r = nftw(arg, bh_collect, 16, FTW_PHYS) == 0 ? 0 : -1;
		if (r == 0)
			qsort(s.paths, s.n, sizeof(s.paths[0]), bh_cmp);
	} else {
		char *end;
		unsigned long long mib = strtoull(arg, &end, 10);

		if (*end || mib < 16 || mib > (1ull << 20)) {
			fprintf(stderr, "usage: bench_hash [DIR | SIZE_MIB (16..)]\n");
			return 2;
		}
		fprintf(stderr, "bench_hash: writing %llu MiB of test files\n", mib);
		r = bh_make(&s, mib);
		if (r < 0)
			fprintf(stderr, "bench_hash: cannot write test files: %s\n",
				strerror(errno));
	}
	fflush(stderr);
	if (r == 0 && s.n == 0) {
		fprintf(stderr, "bench_hash: no files\n");
		r = -1;
	}
	if (r == 0)
		r = bh_run(&s, rounds);
	if (s.tmp[0])
		nftw(s.tmp, bh_rm, 16, FTW_DEPTH | FTW_PHYS);
	for (size_t i = 0; i < s.n; i++)
		free(s.paths[i]);
	return r == 0 ? 0 : 1;
}
