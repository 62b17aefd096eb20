#include <stdio.h>
#include <string.h>

#include "bcase.h"
#include "err.h"

int bcase_add(struct bcase_set *set, const char *key, int (*op)(void *, uint64_t), void *ctx)
{
	struct bcase *c;

	if (set->n >= BCASE_MAX)
		return err_set(AICERT_ERR_INTERNAL, "more than %d cases", BCASE_MAX);
	c = &set->c[set->n];
	memset(c, 0, sizeof(*c));
	snprintf(c->key, sizeof(c->key), "%s", key);
	c->op = op;
	c->ctx = ctx;
	set->n++;
	return 0;
}

static int bcase_chunk(struct bcase *c, unsigned count, uint64_t *seq)
{
	uint64_t start = bstat_now_ns(), t0, t1;
	int r = 0;

	for (unsigned i = 0; i < count && r == 0; i++) {
		t0 = bstat_now_ns();
		r = c->op(c->ctx, (*seq)++);
		t1 = bstat_now_ns();
		bstat_add(&c->st, (double)(t1 - t0) / 1e3);
	}
	c->wall_s += (double)(bstat_now_ns() - start) / 1e9;
	return r < 0 ? err_wrap(r, "%s", c->key) : 0;
}

void bcase_print(const char *key, const struct bstat_summary *s)
{
	fprintf(stderr, "  %-28s median %8.1f us  p99 %8.1f us  %7.0f/s\n", key, s->med_us,
		s->p99_us, s->rate);
}

int bcase_run(struct bcase_set *set, const char *results, unsigned warmup, unsigned iters,
	      unsigned rounds)
{
	struct bstat_summary sum;
	uint64_t seq = 1;
	int r = 0;

	for (size_t i = 0; i < set->n && r == 0; i++) {
		r = bcase_chunk(&set->c[i], warmup, &seq);
		set->c[i].st.n = 0;
		set->c[i].wall_s = 0;
	}
	for (unsigned k = 0; k < rounds && r == 0; k++) {
		unsigned count = iters / rounds + (k < iters % rounds ? 1 : 0);

		for (size_t i = 0; i < set->n && r == 0; i++)
			r = bcase_chunk(&set->c[i], count, &seq);
	}
	for (size_t i = 0; i < set->n && r == 0; i++) {
		struct bcase *c = &set->c[i];

		r = bstat_save(results, c->key, &c->st, c->wall_s);
		bstat_summarize(&c->st, c->wall_s, &sum);
		bcase_print(c->key, &sum);
	}
	return r;
}

void bcase_free(struct bcase_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		bstat_free(&set->c[i].st);
	set->n = 0;
}
