/* Interleaved timing of a few cases: each case is an operation; they run
 * one after the other in rounds (a warm-up, then iters/rounds calls of each
 * case per round), so that load from elsewhere on the machine hits them
 * alike. Each case's samples go to the results file as one chunk. */
#ifndef AICERT_BENCH_BCASE_H
#define AICERT_BENCH_BCASE_H

#include <stddef.h>
#include <stdint.h>

#include "bstat.h"

#define BCASE_MAX     16
#define BCASE_KEY_MAX 96

struct bcase {
	char key[BCASE_KEY_MAX];
	/* One timed call; seq differs between calls (a nonce, say). */
	int (*op)(void *ctx, uint64_t seq);
	void *ctx;
	struct bstat st;
	double wall_s;
};

struct bcase_set {
	struct bcase c[BCASE_MAX];
	size_t n;
};

int bcase_add(struct bcase_set *set, const char *key, int (*op)(void *, uint64_t), void *ctx);

/* Runs every case, saves each under its key to results and prints a line per
 * case to stderr. */
int bcase_run(struct bcase_set *set, const char *results, unsigned warmup, unsigned iters,
	      unsigned rounds);

void bcase_free(struct bcase_set *set);

/* The line bcase_run prints for a summary. */
void bcase_print(const char *key, const struct bstat_summary *s);

#endif
