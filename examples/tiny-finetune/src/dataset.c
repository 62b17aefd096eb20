/* Classification datasets in CSV: see dataset.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf, open_memstream */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include "dataset.h"
#include "fileutil.h"
#include "tferr.h"

#define FIELD_MAX 64 /* characters in one field */

/* The cursor of the CSV reader. */
struct csv {
	const char *path;
	const char *p;   /* next character */
	const char *end; /* end of the buffer */
	const char *line_start;
	size_t line;
};

int dataset_new(size_t rows, size_t cols, struct dataset **ret, struct tferr *e)
{
	struct dataset *ds;

	if (rows > DATASET_MAX_ROWS || cols > DATASET_MAX_COLS)
		return tferr_set(e, TFERR_LIMIT, "%zu rows of %zu features, more than %d of %d",
				 rows, cols, DATASET_MAX_ROWS, DATASET_MAX_COLS);
	ds = calloc(1, sizeof(*ds));
	if (!ds)
		return tferr_set(e, TFERR_NOMEM, "out of memory");
	ds->rows = rows;
	ds->cols = cols;
	ds->x = calloc(rows * cols + 1, sizeof(*ds->x));
	ds->y = calloc(rows + 1, sizeof(*ds->y));
	if (!ds->x || !ds->y) {
		dataset_free(ds);
		return tferr_set(e, TFERR_NOMEM, "out of memory");
	}
	*ret = ds;
	return 0;
}

void dataset_free(struct dataset *ds)
{
	if (!ds)
		return;
	free(ds->x);
	free(ds->y);
	free(ds);
}

static size_t col_of(const struct csv *c, const char *at)
{
	return (size_t)(at - c->line_start) + 1;
}

/* The next field of the current line into buf, up to ',', '\n' or the end;
 * consumes a ',' after it but not a '\n'. *last is set when the field ends
 * the line. field is its 1-based number, for messages. */
static int next_field(struct csv *c, char buf[FIELD_MAX + 1], size_t field, int *last,
		      struct tferr *e)
{
	const char *start = c->p;
	size_t n;

	while (c->p < c->end && *c->p != ',' && *c->p != '\n')
		c->p++;
	*last = c->p == c->end || *c->p == '\n';
	n = (size_t)(c->p - start);
	if (*last && n > 0 && start[n - 1] == '\r')
		n--;
	if (!*last)
		c->p++;
	if (n > FIELD_MAX)
		return tferr_set(e, TFERR_FORMAT,
				 "%s:%zu:%zu: field %zu is longer than %d characters", c->path,
				 c->line, col_of(c, start), field, FIELD_MAX);
	memcpy(buf, start, n);
	buf[n] = 0;
	if (strlen(buf) != n)
		return tferr_set(e, TFERR_FORMAT, "%s:%zu:%zu: NUL byte in field %zu", c->path,
				 c->line, col_of(c, start), field);
	return 0;
}

/* Consumes the '\n' ending the current line, if any. */
static void end_line(struct csv *c)
{
	if (c->p < c->end)
		c->p++;
	c->line++;
	c->line_start = c->p;
}

static int parse_header(struct csv *c, size_t *cols, struct tferr *e)
{
	char buf[FIELD_MAX + 1];
	size_t n = 0;
	int last = 0, r;

	if (c->p == c->end)
		return tferr_set(e, TFERR_FORMAT, "%s:1: empty file, expected a header line",
				 c->path);
	while (!last) {
		const char *at = c->p;

		if (n == DATASET_MAX_COLS + 1)
			return tferr_set(e, TFERR_LIMIT, "%s:1: more than %d feature columns",
					 c->path, DATASET_MAX_COLS);
		r = next_field(c, buf, n + 1, &last, e);
		if (r < 0)
			return r;
		if (buf[0] == 0)
			return tferr_set(e, TFERR_FORMAT, "%s:1:%zu: empty column name", c->path,
					 col_of(c, at));
		if (last && strcmp(buf, "label") != 0)
			return tferr_set(e, TFERR_FORMAT,
					 "%s:1:%zu: the last column is \"%s\", expected \"label\"",
					 c->path, col_of(c, at), buf);
		n++;
	}
	if (n < 2)
		return tferr_set(e, TFERR_FORMAT, "%s:1: no feature column before \"label\"",
				 c->path);
	end_line(c);
	*cols = n - 1;
	return 0;
}

static int parse_feature(struct csv *c, const char *buf, const char *at, size_t field, float *out,
			 struct tferr *e)
{
	char *endp;
	double v;

	/* Decimal only: no spaces, hexadecimal, "inf" or "nan". */
	if (buf[0] == 0 || buf[strspn(buf, "0123456789+-.eE")] != 0)
		goto bad;
	v = strtod(buf, &endp);
	if (*endp != 0 || !isfinite(v) || fabs(v) > 3.0e38)
		goto bad;
	*out = (float)v;
	return 0;
bad:
	return tferr_set(e, TFERR_FORMAT,
			 "%s:%zu:%zu: field %zu: expected a finite number, found \"%s\"", c->path,
			 c->line, col_of(c, at), field, buf);
}

static int parse_label(struct csv *c, const char *buf, const char *at, size_t field, uint32_t *out,
		       struct tferr *e)
{
	unsigned long v = 0;
	size_t i;

	for (i = 0; buf[i] >= '0' && buf[i] <= '9' && i < 4; i++)
		v = v * 10 + (unsigned long)(buf[i] - '0');
	if (i == 0 || buf[i] != 0 || v >= DATASET_MAX_CLASSES || (buf[0] == '0' && i > 1))
		return tferr_set(e, TFERR_FORMAT,
				 "%s:%zu:%zu: field %zu (label): expected an integer in [0, %d), "
				 "found \"%s\"",
				 c->path, c->line, col_of(c, at), field, DATASET_MAX_CLASSES, buf);
	*out = (uint32_t)v;
	return 0;
}

/* One data line into row number row of ds. */
static int parse_row(struct csv *c, struct dataset *ds, size_t row, struct tferr *e)
{
	char buf[FIELD_MAX + 1];
	int last = 0, r;

	if (c->p == c->end || *c->p == '\n' ||
	    (*c->p == '\r' && c->p + 1 < c->end && c->p[1] == '\n'))
		return tferr_set(e, TFERR_FORMAT, "%s:%zu: empty line", c->path, c->line);
	for (size_t f = 0; f <= ds->cols; f++) {
		const char *at = c->p;

		if (last)
			return tferr_set(e, TFERR_FORMAT, "%s:%zu: %zu fields, expected %zu",
					 c->path, c->line, f, ds->cols + 1);
		r = next_field(c, buf, f + 1, &last, e);
		if (r == 0 && f < ds->cols)
			r = parse_feature(c, buf, at, f + 1, &ds->x[row * ds->cols + f], e);
		else if (r == 0)
			r = parse_label(c, buf, at, f + 1, &ds->y[row], e);
		if (r < 0)
			return r;
	}
	if (!last)
		return tferr_set(e, TFERR_FORMAT, "%s:%zu: more than %zu fields", c->path, c->line,
				 ds->cols + 1);
	end_line(c);
	return 0;
}

/* Data lines: the newlines after the header, plus one if the file does not
 * end with a newline. */
static size_t count_rows(const struct csv *c)
{
	size_t n = 0;

	for (const char *p = c->p; p < c->end; p++)
		n += *p == '\n';
	if (c->p < c->end && c->end[-1] != '\n')
		n++;
	return n;
}

int dataset_parse_csv(const char *text, size_t len, const char *name, struct dataset **ret,
		      struct tferr *e)
{
	struct dataset *ds = NULL;
	struct csv c = {.path = name, .line = 1, .p = text, .line_start = text, .end = text + len};
	size_t cols = 0, rows;
	int r;

	r = parse_header(&c, &cols, e);
	if (r < 0)
		return r;
	rows = count_rows(&c);
	if (rows == 0 || rows > DATASET_MAX_ROWS)
		return tferr_set(e, rows ? TFERR_LIMIT : TFERR_FORMAT,
				 "%s: %zu data lines, expected 1 to %d", name, rows,
				 DATASET_MAX_ROWS);
	r = dataset_new(rows, cols, &ds, e);
	for (size_t i = 0; i < rows && r == 0; i++) {
		r = parse_row(&c, ds, i, e);
		if (r == 0 && ds->y[i] + 1 > ds->classes)
			ds->classes = ds->y[i] + 1;
	}
	if (r < 0) {
		dataset_free(ds);
		return r;
	}
	*ret = ds;
	return 0;
}

int dataset_load_csv(const char *path, struct dataset **ret, struct tferr *e)
{
	uint8_t *buf = NULL;
	size_t len;
	int r;

	r = fileutil_read(path, DATASET_MAX_FILE, &buf, &len, e);
	if (r < 0)
		return r;
	r = dataset_parse_csv((const char *)buf, len, path, ret, e);
	free(buf);
	return r;
}

int dataset_save_csv(const char *path, const struct dataset *ds, int decimals, struct tferr *e)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	f = open_memstream(&text, &len);
	if (!f)
		return tferr_set(e, TFERR_NOMEM, "out of memory");
	for (size_t k = 0; k < ds->cols; k++)
		fprintf(f, "x%zu,", k);
	fputs("label\n", f);
	for (size_t i = 0; i < ds->rows; i++) {
		for (size_t k = 0; k < ds->cols; k++)
			fprintf(f, "%.*f,", decimals, (double)ds->x[i * ds->cols + k]);
		fprintf(f, "%u\n", (unsigned)ds->y[i]);
	}
	if (fclose(f) != 0) {
		free(text);
		return tferr_set(e, TFERR_NOMEM, "out of memory");
	}
	r = fileutil_write(path, text, len, e);
	free(text);
	return r;
}
