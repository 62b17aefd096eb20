/* Benchmark bookkeeping: a monotonic clock, latency samples, and the results
 * file that every phase of one run appends to and the report reads back.
 *
 * bench/run.sh alternates the phases in rounds (TPM alone, then the agent,
 * then the TPM alone again, ...), so the figures of one case arrive in
 * chunks from several processes. The file keeps them raw, one line each:
 *
 *   s KEY US       one latency sample, in microseconds
 *   w KEY SECONDS  the wall time of one chunk of samples of KEY
 *   v KEY VALUE    a single value (a message size, a flag)
 *
 * and the report summarises every sample of a key: median and p99 over all
 * chunks, rate = all samples / all chunks' wall time, and the spread of the
 * chunks' medians, which shows how steady the machine was.
 */
#ifndef AICERT_BENCH_BSTAT_H
#define AICERT_BENCH_BSTAT_H

#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bstat_now_ns(void);

/* Latency samples in microseconds. Not thread-safe: one per thread, then
 * bstat_merge(). */
struct bstat {
	double *us;
	size_t n;
	size_t cap;
};

int bstat_init(struct bstat *s, size_t cap);
void bstat_free(struct bstat *s);
/* Grows the array as needed; a sample that finds no memory is dropped. */
void bstat_add(struct bstat *s, double us);
int bstat_merge(struct bstat *into, const struct bstat *from);

struct bstat_summary {
	size_t n;
	double med_us;
	double p99_us;
	double mean_us;
	double min_us;
	/* Completed operations per second of wall time. */
	double rate;
};

/* Sorts s in place. wall_s is the wall time the n operations took. */
void bstat_summarize(struct bstat *s, double wall_s, struct bstat_summary *out);

/* Appends one chunk: every sample of s, and wall_s, under key. */
int bstat_save(const char *path, const char *key, const struct bstat *s, double wall_s);
int bstat_save_value(const char *path, const char *key, double value);

/* The results file read back and summarised per key. */
struct bstat_results;

int bstat_load(const char *path, struct bstat_results **ret);
void bstat_results_free(struct bstat_results *r);

/* A field of key's summary: "n", "med_us", "p99_us", "mean_us", "min_us",
 * "rate", "chunks", "chunk_med_min" or "chunk_med_max" (the least and
 * greatest median of one chunk); field NULL reads a "v" value. NaN when the
 * run did not measure it. */
double bstat_get(const struct bstat_results *r, const char *key, const char *field);

#endif
