#include <errno.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bstat.h"
#include "err.h"

#define BSTAT_KEY_MAX 96

struct bstat_key {
	char key[BSTAT_KEY_MAX];
	struct bstat all;
	struct bstat chunk; /* samples since the last "w" line of this key */
	double wall_s;
	size_t chunks;
	double chunk_med_min;
	double chunk_med_max;
	double value;
	struct bstat_summary sum;
};

struct bstat_results {
	struct bstat_key *k;
	size_t n;
};

uint64_t bstat_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int bstat_init(struct bstat *s, size_t cap)
{
	s->us = calloc(cap ? cap : 1, sizeof(*s->us));
	s->n = 0;
	s->cap = cap;
	return s->us ? 0 : AICERT_ERR_NOMEM;
}

void bstat_free(struct bstat *s)
{
	if (!s)
		return;
	free(s->us);
	s->us = NULL;
	s->n = s->cap = 0;
}

void bstat_add(struct bstat *s, double us)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		double *grown = realloc(s->us, cap * sizeof(*grown));

		if (!grown)
			return;
		s->us = grown;
		s->cap = cap;
	}
	s->us[s->n++] = us;
}

int bstat_merge(struct bstat *into, const struct bstat *from)
{
	if (into->n + from->n > into->cap) {
		double *grown = realloc(into->us, (into->n + from->n) * sizeof(*grown));

		if (!grown)
			return AICERT_ERR_NOMEM;
		into->us = grown;
		into->cap = into->n + from->n;
	}
	memcpy(into->us + into->n, from->us, from->n * sizeof(*from->us));
	into->n += from->n;
	return 0;
}

static int bstat_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples. */
static double bstat_pct(const struct bstat *s, double p)
{
	size_t rank = (size_t)ceil(p / 100.0 * (double)s->n);

	if (rank < 1)
		rank = 1;
	return s->us[rank - 1];
}

void bstat_summarize(struct bstat *s, double wall_s, struct bstat_summary *out)
{
	double sum = 0;

	memset(out, 0, sizeof(*out));
	out->n = s->n;
	if (s->n == 0) {
		out->med_us = out->p99_us = out->mean_us = out->min_us = out->rate = NAN;
		return;
	}
	qsort(s->us, s->n, sizeof(*s->us), bstat_cmp);
	for (size_t i = 0; i < s->n; i++)
		sum += s->us[i];
	out->med_us = bstat_pct(s, 50);
	out->p99_us = bstat_pct(s, 99);
	out->mean_us = sum / (double)s->n;
	out->min_us = s->us[0];
	out->rate = wall_s > 0 ? (double)s->n / wall_s : NAN;
}

int bstat_save_value(const char *path, const char *key, double value)
{
	FILE *f = fopen(path, "a");
	int r = 0;

	if (!f)
		return err_set(AICERT_ERR_IO, "%s: %s", path, strerror(errno));
	fprintf(f, "v %s %.9g\n", key, value);
	if (fclose(f) != 0)
		r = err_set(AICERT_ERR_IO, "%s: %s", path, strerror(errno));
	return r;
}

int bstat_save(const char *path, const char *key, const struct bstat *s, double wall_s)
{
	FILE *f = fopen(path, "a");
	int r = 0;

	if (!f)
		return err_set(AICERT_ERR_IO, "%s: %s", path, strerror(errno));
	for (size_t i = 0; i < s->n; i++)
		fprintf(f, "s %s %.3f\n", key, s->us[i]);
	fprintf(f, "w %s %.9g\n", key, wall_s);
	if (fclose(f) != 0)
		r = err_set(AICERT_ERR_IO, "%s: %s", path, strerror(errno));
	return r;
}

/* The index of key, or res->n when absent. */
static size_t bstat_key_index(const struct bstat_results *res, const char *key)
{
	size_t i;

	for (i = 0; i < res->n; i++)
		if (strcmp(res->k[i].key, key) == 0)
			break;
	return i;
}

static struct bstat_key *bstat_key_get(struct bstat_results *res, const char *key)
{
	size_t i = bstat_key_index(res, key);
	struct bstat_key *k, *grown;

	if (i < res->n)
		return &res->k[i];
	grown = realloc(res->k, (res->n + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	res->k = grown;
	k = &res->k[res->n++];
	memset(k, 0, sizeof(*k));
	snprintf(k->key, sizeof(k->key), "%s", key);
	k->value = NAN;
	return k;
}

/* A "w" line closes a chunk: its median joins the spread, its samples the
 * total. */
static int bstat_key_chunk(struct bstat_key *k, double wall_s)
{
	struct bstat_summary sum;
	int r;

	bstat_summarize(&k->chunk, wall_s, &sum);
	if (k->chunks == 0 || sum.med_us < k->chunk_med_min)
		k->chunk_med_min = sum.med_us;
	if (k->chunks == 0 || sum.med_us > k->chunk_med_max)
		k->chunk_med_max = sum.med_us;
	k->chunks++;
	k->wall_s += wall_s;
	r = bstat_merge(&k->all, &k->chunk);
	k->chunk.n = 0;
	return r;
}

static int bstat_parse_line(struct bstat_results *res, const char *line)
{
	char kind, key[BSTAT_KEY_MAX];
	struct bstat_key *k;
	double v;

	_Static_assert(BSTAT_KEY_MAX == 96, "the scanf width below is BSTAT_KEY_MAX - 1");
	if (sscanf(line, "%c %95s %lf", &kind, key, &v) != 3)
		return 0; /* blank or foreign line */
	k = bstat_key_get(res, key);
	if (!k)
		return AICERT_ERR_NOMEM;
	switch (kind) {
	case 's':
		bstat_add(&k->chunk, v);
		return 0;
	case 'w':
		return bstat_key_chunk(k, v);
	case 'v':
		k->value = v;
		return 0;
	default:
		return 0;
	}
}

int bstat_load(const char *path, struct bstat_results **ret)
{
	struct bstat_results *res = NULL;
	char line[256];
	FILE *f;
	int r = 0;

	f = fopen(path, "r");
	if (!f)
		return err_set(AICERT_ERR_NOT_FOUND, "%s: %s", path, strerror(errno));
	res = calloc(1, sizeof(*res));
	if (!res)
		r = AICERT_ERR_NOMEM;
	while (r == 0 && fgets(line, sizeof(line), f))
		r = bstat_parse_line(res, line);
	fclose(f);
	for (size_t i = 0; r == 0 && i < res->n; i++)
		bstat_summarize(&res->k[i].all, res->k[i].wall_s, &res->k[i].sum);
	if (r < 0) {
		bstat_results_free(res);
		return r;
	}
	*ret = res;
	return 0;
}

void bstat_results_free(struct bstat_results *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		bstat_free(&r->k[i].all);
		bstat_free(&r->k[i].chunk);
	}
	free(r->k);
	free(r);
}

double bstat_get(const struct bstat_results *r, const char *key, const char *field)
{
	const struct {
		const char *name;
		size_t off;
	} fields[] = {
		{"med_us", offsetof(struct bstat_summary, med_us)},
		{"p99_us", offsetof(struct bstat_summary, p99_us)},
		{"mean_us", offsetof(struct bstat_summary, mean_us)},
		{"min_us", offsetof(struct bstat_summary, min_us)},
		{"rate", offsetof(struct bstat_summary, rate)},
	};
	size_t i = bstat_key_index(r, key);
	const struct bstat_key *k = i < r->n ? &r->k[i] : NULL;

	if (!k)
		return NAN;
	if (!field)
		return k->value;
	if (k->all.n == 0)
		return NAN;
	if (strcmp(field, "n") == 0)
		return (double)k->sum.n;
	if (strcmp(field, "chunks") == 0)
		return (double)k->chunks;
	if (strcmp(field, "chunk_med_min") == 0)
		return k->chunk_med_min;
	if (strcmp(field, "chunk_med_max") == 0)
		return k->chunk_med_max;
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strcmp(field, fields[i].name) == 0)
			return *(const double *)((const char *)&k->sum + fields[i].off);
	return NAN;
}
