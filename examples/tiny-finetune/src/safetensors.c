/* The safetensors format: a strict reader and an F32 writer. See
 * safetensors.h for the format and the rules. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf, open_memstream */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileutil.h"
#include "jsonmini.h"
#include "safetensors.h"
#include "tferr.h"

static const struct {
	const char *name;
	size_t size;
} dtypes[] = {
	{"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
	{"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
	{"U32", 4},  {"F32", 4}, {"I64", 8}, {"U64", 8},     {"F64", 8},
};

/* Keys of a tensor entry, as bits, to find duplicates and missing ones. */
enum { KEY_DTYPE = 1, KEY_SHAPE = 2, KEY_OFFSETS = 4, KEY_ALL = 7 };

/* Everything the header parser needs, so the helpers stay short. */
struct parser {
	struct jsonmini j;
	struct safetensors *st;
	size_t tensors_cap;
	int have_meta;
};

static int set_dtype(struct safetensors_tensor *t, const char *s, struct tferr *e)
{
	for (size_t i = 0; i < sizeof(dtypes) / sizeof(dtypes[0]); i++) {
		if (strcmp(s, dtypes[i].name) == 0) {
			snprintf(t->dtype, sizeof(t->dtype), "%s", s);
			t->elem_size = dtypes[i].size;
			return 0;
		}
	}
	return tferr_set(e, TFERR_FORMAT, "tensor \"%s\": unknown dtype \"%.32s\"", t->name, s);
}

static int parse_dtype(struct parser *p, struct safetensors_tensor *t, struct tferr *e)
{
	char *s = NULL;
	int r;

	r = jsonmini_string(&p->j, &s, e);
	if (r == 0)
		r = set_dtype(t, s, e);
	free(s);
	return r;
}

static int parse_shape(struct parser *p, struct safetensors_tensor *t, struct tferr *e)
{
	uint64_t dim;
	int r;

	t->ndim = 0;
	t->count = 1;
	r = jsonmini_expect(&p->j, '[', "'[' opening a shape", e);
	if (r < 0)
		return r;
	if (jsonmini_peek(&p->j) == ']') {
		p->j.pos++; /* a scalar */
		return 0;
	}
	for (;;) {
		if (t->ndim == SAFETENSORS_MAX_DIMS)
			return tferr_set(e, TFERR_LIMIT, "tensor \"%s\": more than %d dimensions",
					 t->name, SAFETENSORS_MAX_DIMS);
		r = jsonmini_uint(&p->j, SAFETENSORS_MAX_FILE, &dim, e);
		if (r < 0)
			return r;
		if (t->count != 0 && dim > SAFETENSORS_MAX_FILE / t->count)
			return tferr_set(e, TFERR_LIMIT, "tensor \"%s\": more than %u elements",
					 t->name, SAFETENSORS_MAX_FILE);
		t->shape[t->ndim++] = dim;
		t->count *= dim;
		if (jsonmini_peek(&p->j) != ',')
			return jsonmini_expect(&p->j, ']', "',' or ']' in a shape", e);
		p->j.pos++;
	}
}

static int parse_offsets(struct parser *p, struct safetensors_tensor *t, struct tferr *e)
{
	int r;

	r = jsonmini_expect(&p->j, '[', "'[' opening data_offsets", e);
	if (r == 0)
		r = jsonmini_uint(&p->j, UINT64_MAX, &t->begin, e);
	if (r == 0)
		r = jsonmini_expect(&p->j, ',', "',' between the two data_offsets", e);
	if (r == 0)
		r = jsonmini_uint(&p->j, UINT64_MAX, &t->end, e);
	if (r == 0)
		r = jsonmini_expect(&p->j, ']', "']' after the two data_offsets", e);
	return r;
}

/* One key and its value in a tensor entry; *seen collects the keys. */
static int parse_tensor_key(struct parser *p, struct safetensors_tensor *t, unsigned *seen,
			    struct tferr *e)
{
	char *key = NULL;
	unsigned bit;
	int r;

	r = jsonmini_string(&p->j, &key, e);
	if (r < 0)
		return r;
	if (strcmp(key, "dtype") == 0)
		bit = KEY_DTYPE;
	else if (strcmp(key, "shape") == 0)
		bit = KEY_SHAPE;
	else if (strcmp(key, "data_offsets") == 0)
		bit = KEY_OFFSETS;
	else
		bit = 0;
	if (bit == 0 || (*seen & bit)) {
		r = tferr_set(e, TFERR_FORMAT, "tensor \"%s\": %s key \"%.64s\"", t->name,
			      bit ? "duplicate" : "unknown", key);
		goto out;
	}
	*seen |= bit;
	r = jsonmini_expect(&p->j, ':', "':'", e);
	if (r < 0)
		goto out;
	if (bit == KEY_DTYPE)
		r = parse_dtype(p, t, e);
	else if (bit == KEY_SHAPE)
		r = parse_shape(p, t, e);
	else
		r = parse_offsets(p, t, e);
out:
	free(key);
	return r;
}

static int parse_tensor(struct parser *p, struct safetensors_tensor *t, struct tferr *e)
{
	unsigned seen = 0;
	int r;

	r = jsonmini_expect(&p->j, '{', "'{' opening a tensor entry", e);
	if (r < 0)
		return r;
	if (jsonmini_peek(&p->j) != '}') {
		for (;;) {
			r = parse_tensor_key(p, t, &seen, e);
			if (r < 0)
				return r;
			if (jsonmini_peek(&p->j) != ',')
				break;
			p->j.pos++;
		}
	}
	r = jsonmini_expect(&p->j, '}', "',' or '}' in a tensor entry", e);
	if (r < 0)
		return r;
	if (seen != KEY_ALL)
		return tferr_set(e, TFERR_FORMAT, "tensor \"%s\": missing %s", t->name,
				 !(seen & KEY_DTYPE)   ? "dtype"
				 : !(seen & KEY_SHAPE) ? "shape"
						       : "data_offsets");
	return 0;
}

static int add_meta(struct parser *p, char *key, char *value, struct tferr *e)
{
	struct safetensors *st = p->st;
	struct safetensors_meta *m;

	if (safetensors_meta_get(st, key))
		return tferr_set(e, TFERR_FORMAT, "__metadata__: duplicate key \"%.64s\"", key);
	if (st->n_meta == SAFETENSORS_MAX_TENSORS)
		return tferr_set(e, TFERR_LIMIT, "__metadata__: more than %d entries",
				 SAFETENSORS_MAX_TENSORS);
	m = realloc(st->meta, (st->n_meta + 1) * sizeof(*m));
	if (!m)
		return tferr_set(e, TFERR_NOMEM, "out of memory");
	st->meta = m;
	m[st->n_meta].key = key;
	m[st->n_meta].value = value;
	st->n_meta++;
	return 0;
}

static int parse_meta_entry(struct parser *p, struct tferr *e)
{
	char *key = NULL, *value = NULL;
	int r;

	r = jsonmini_string(&p->j, &key, e);
	if (r == 0)
		r = jsonmini_expect(&p->j, ':', "':'", e);
	if (r == 0 && jsonmini_peek(&p->j) != '"')
		r = tferr_set(e, TFERR_FORMAT, "__metadata__: value of \"%.64s\" is not a string",
			      key);
	if (r == 0)
		r = jsonmini_string(&p->j, &value, e);
	if (r == 0)
		r = add_meta(p, key, value, e);
	if (r < 0) {
		free(key);
		free(value);
	}
	return r;
}

static int parse_meta(struct parser *p, struct tferr *e)
{
	int r;

	if (p->have_meta)
		return tferr_set(e, TFERR_FORMAT, "duplicate \"__metadata__\"");
	p->have_meta = 1;
	r = jsonmini_expect(&p->j, '{', "'{' opening __metadata__", e);
	if (r < 0)
		return r;
	if (jsonmini_peek(&p->j) != '}') {
		for (;;) {
			r = parse_meta_entry(p, e);
			if (r < 0)
				return r;
			if (jsonmini_peek(&p->j) != ',')
				break;
			p->j.pos++;
		}
	}
	return jsonmini_expect(&p->j, '}', "',' or '}' in __metadata__", e);
}

/* A new tensor entry named name (taken over, also on failure). */
static int add_tensor(struct parser *p, char *name, struct safetensors_tensor **ret,
		      struct tferr *e)
{
	struct safetensors *st = p->st;
	struct safetensors_tensor *t;
	int r = 0;

	if (safetensors_find(st, name))
		r = tferr_set(e, TFERR_FORMAT, "duplicate tensor \"%.64s\"", name);
	else if (st->n_tensors == SAFETENSORS_MAX_TENSORS)
		r = tferr_set(e, TFERR_LIMIT, "more than %d tensors", SAFETENSORS_MAX_TENSORS);
	if (r == 0 && st->n_tensors == p->tensors_cap) {
		size_t cap = p->tensors_cap ? 2 * p->tensors_cap : 16;

		t = realloc(st->tensors, cap * sizeof(*t));
		if (t) {
			st->tensors = t;
			p->tensors_cap = cap;
		} else {
			r = tferr_set(e, TFERR_NOMEM, "out of memory");
		}
	}
	if (r < 0) {
		free(name);
		return r;
	}
	t = &st->tensors[st->n_tensors++];
	memset(t, 0, sizeof(*t));
	t->name = name;
	*ret = t;
	return 0;
}

static int parse_entry(struct parser *p, struct tferr *e)
{
	struct safetensors_tensor *t;
	char *key = NULL;
	int r;

	r = jsonmini_string(&p->j, &key, e);
	if (r == 0)
		r = jsonmini_expect(&p->j, ':', "':'", e);
	if (r < 0) {
		free(key);
		return r;
	}
	if (strcmp(key, "__metadata__") == 0) {
		free(key);
		return parse_meta(p, e);
	}
	r = add_tensor(p, key, &t, e);
	if (r < 0)
		return r;
	return parse_tensor(p, t, e);
}

static int parse_header(struct parser *p, struct tferr *e)
{
	int r;

	/* As the reference implementation, the header starts with '{' at once. */
	if (p->j.len == 0 || p->j.buf[0] != '{')
		return tferr_set(e, TFERR_FORMAT, "byte 0: the header does not start with '{'");
	p->j.pos = 1;
	if (jsonmini_peek(&p->j) != '}') {
		for (;;) {
			r = parse_entry(p, e);
			if (r < 0)
				return r;
			if (jsonmini_peek(&p->j) != ',')
				break;
			p->j.pos++;
		}
	}
	r = jsonmini_expect(&p->j, '}', "',' or '}' after an entry", e);
	if (r < 0)
		return r;
	return jsonmini_end(&p->j, e);
}

/* Each tensor's range is inside the data section and as long as its shape
 * says. */
static int check_ranges(const struct safetensors *st, uint64_t data_len, struct tferr *e)
{
	for (size_t i = 0; i < st->n_tensors; i++) {
		const struct safetensors_tensor *t = &st->tensors[i];

		if (t->begin > t->end || t->end > data_len)
			return tferr_set(
				e, TFERR_FORMAT,
				"tensor \"%s\": data_offsets [%llu, %llu] out of range of the "
				"%llu-byte data section",
				t->name, (unsigned long long)t->begin, (unsigned long long)t->end,
				(unsigned long long)data_len);
		if (t->end - t->begin != t->count * t->elem_size)
			return tferr_set(
				e, TFERR_FORMAT,
				"tensor \"%s\": data_offsets [%llu, %llu] hold %llu bytes, "
				"but %llu elements of %s take %llu",
				t->name, (unsigned long long)t->begin, (unsigned long long)t->end,
				(unsigned long long)(t->end - t->begin),
				(unsigned long long)t->count, t->dtype,
				(unsigned long long)(t->count * t->elem_size));
	}
	return 0;
}

static int cmp_range(const void *a, const void *b)
{
	const struct safetensors_tensor *x = *(const struct safetensors_tensor *const *)a;
	const struct safetensors_tensor *y = *(const struct safetensors_tensor *const *)b;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The ranges, sorted, tile [0, data_len): no gap, no overlap, no trailing
 * bytes. */
static int check_tiling(const struct safetensors *st, uint64_t data_len, struct tferr *e)
{
	const struct safetensors_tensor **v = NULL, *prev = NULL;
	uint64_t at = 0;
	int r = 0;

	if (st->n_tensors > 0) {
		v = malloc(st->n_tensors * sizeof(*v));
		if (!v)
			return tferr_set(e, TFERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < st->n_tensors; i++)
		v[i] = &st->tensors[i];
	if (v)
		qsort(v, st->n_tensors, sizeof(*v), cmp_range);
	for (size_t i = 0; i < st->n_tensors && r == 0; i++) {
		if (v[i]->begin < at)
			r = tferr_set(
				e, TFERR_FORMAT,
				"tensor \"%s\": data_offsets [%llu, %llu] overlap tensor \"%s\" "
				"[%llu, %llu]",
				v[i]->name, (unsigned long long)v[i]->begin,
				(unsigned long long)v[i]->end, prev->name,
				(unsigned long long)prev->begin, (unsigned long long)prev->end);
		else if (v[i]->begin > at)
			r = tferr_set(e, TFERR_FORMAT,
				      "bytes [%llu, %llu) of the data section belong to no tensor",
				      (unsigned long long)at, (unsigned long long)v[i]->begin);
		at = v[i]->end;
		prev = v[i];
	}
	if (r == 0 && at != data_len)
		r = tferr_set(e, TFERR_FORMAT,
			      "%llu bytes of trailing data after the last tensor (data section "
			      "[0, %llu), tensors end at %llu)",
			      (unsigned long long)(data_len - at), (unsigned long long)data_len,
			      (unsigned long long)at);
	free(v);
	return r;
}

static uint64_t get_le64(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

int safetensors_parse(const uint8_t *buf, size_t len, const char *name, struct safetensors **ret,
		      struct tferr *e)
{
	struct parser p = {0};
	uint64_t hlen, data_len;
	int r;

	if (len < 8)
		return tferr_set(e, TFERR_FORMAT,
				 "%s: %zu bytes, too short for the 8-byte header "
				 "length",
				 name, len);
	hlen = get_le64(buf);
	if (hlen > SAFETENSORS_MAX_HEADER)
		return tferr_set(e, TFERR_FORMAT,
				 "%s: header length %llu is more than the limit "
				 "of %u bytes",
				 name, (unsigned long long)hlen, SAFETENSORS_MAX_HEADER);
	if (hlen > len - 8)
		return tferr_set(e, TFERR_FORMAT,
				 "%s: header length %llu goes beyond the end of "
				 "the file (%zu bytes after the length)",
				 name, (unsigned long long)hlen, len - 8);
	data_len = len - 8 - hlen;
	p.st = calloc(1, sizeof(*p.st));
	if (!p.st)
		return tferr_set(e, TFERR_NOMEM, "%s: out of memory", name);
	jsonmini_init(&p.j, buf + 8, (size_t)hlen);
	r = parse_header(&p, e);
	if (r == 0)
		r = check_ranges(p.st, data_len, e);
	if (r == 0)
		r = check_tiling(p.st, data_len, e);
	if (r < 0) {
		tferr_wrap(e, r, "%s: header", name);
		goto out;
	}
	for (size_t i = 0; i < p.st->n_tensors; i++)
		p.st->tensors[i].data = buf + 8 + hlen + p.st->tensors[i].begin;
	*ret = p.st;
	p.st = NULL;
out:
	safetensors_free(p.st);
	return r;
}

int safetensors_load(const char *path, struct safetensors **ret, struct tferr *e)
{
	struct safetensors *st = NULL;
	uint8_t *buf = NULL;
	size_t len;
	int r;

	r = fileutil_read(path, SAFETENSORS_MAX_FILE, &buf, &len, e);
	if (r < 0)
		return r;
	r = safetensors_parse(buf, len, path, &st, e);
	if (r < 0) {
		free(buf);
		return r;
	}
	st->owned = buf;
	*ret = st;
	return 0;
}

void safetensors_free(struct safetensors *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->n_tensors; i++)
		free(st->tensors[i].name);
	for (size_t i = 0; i < st->n_meta; i++) {
		free(st->meta[i].key);
		free(st->meta[i].value);
	}
	free(st->tensors);
	free(st->meta);
	free(st->owned);
	free(st);
}

const struct safetensors_tensor *safetensors_find(const struct safetensors *st, const char *name)
{
	for (size_t i = 0; i < st->n_tensors; i++)
		if (strcmp(st->tensors[i].name, name) == 0)
			return &st->tensors[i];
	return NULL;
}

const char *safetensors_meta_get(const struct safetensors *st, const char *key)
{
	for (size_t i = 0; i < st->n_meta; i++)
		if (strcmp(st->meta[i].key, key) == 0)
			return st->meta[i].value;
	return NULL;
}

void safetensors_read_f32(const struct safetensors_tensor *t, float *out)
{
	for (uint64_t i = 0; i < t->count; i++) {
		const uint8_t *b = t->data + 4 * i;
		uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
			     (uint32_t)b[3] << 24;

		memcpy(&out[i], &u, sizeof(u));
	}
}

/* ---- writing ---- */

static void put_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static int check_out(const struct safetensors_f32 *t, size_t n, uint64_t *total, struct tferr *e)
{
	*total = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t count = 1;

		if (strcmp(t[i].name, "__metadata__") == 0 || t[i].ndim > SAFETENSORS_MAX_DIMS)
			return tferr_set(e, TFERR_USAGE, "tensor \"%s\": bad name or rank",
					 t[i].name);
		for (size_t k = 0; k < i; k++)
			if (strcmp(t[i].name, t[k].name) == 0)
				return tferr_set(e, TFERR_USAGE, "duplicate tensor \"%s\"",
						 t[i].name);
		for (size_t d = 0; d < t[i].ndim; d++) {
			if (count != 0 && t[i].shape[d] > SAFETENSORS_MAX_FILE / 4 / count)
				return tferr_set(e, TFERR_LIMIT, "tensor \"%s\": too large",
						 t[i].name);
			count *= t[i].shape[d];
		}
		*total += 4 * count;
		if (*total > SAFETENSORS_MAX_FILE)
			return tferr_set(e, TFERR_LIMIT, "tensors larger than %u bytes",
					 SAFETENSORS_MAX_FILE);
	}
	return 0;
}

static void put_header(FILE *f, const struct safetensors_f32 *t, size_t n,
		       const struct safetensors_meta *meta, size_t n_meta)
{
	uint64_t at = 0;

	fputc('{', f);
	if (n_meta > 0) {
		fputs("\"__metadata__\":{", f);
		for (size_t i = 0; i < n_meta; i++) {
			if (i > 0)
				fputc(',', f);
			put_json_string(f, meta[i].key);
			fputc(':', f);
			put_json_string(f, meta[i].value);
		}
		fputc('}', f);
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t count = 1;

		if (i > 0 || n_meta > 0)
			fputc(',', f);
		put_json_string(f, t[i].name);
		fputs(":{\"dtype\":\"F32\",\"shape\":[", f);
		for (size_t d = 0; d < t[i].ndim; d++) {
			fprintf(f, "%s%llu", d ? "," : "", (unsigned long long)t[i].shape[d]);
			count *= t[i].shape[d];
		}
		fprintf(f, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)at,
			(unsigned long long)(at + 4 * count));
		at += 4 * count;
	}
	fputc('}', f);
}

static void put_data(FILE *f, const struct safetensors_f32 *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t count = 1;

		for (size_t d = 0; d < t[i].ndim; d++)
			count *= t[i].shape[d];
		for (uint64_t k = 0; k < count; k++) {
			uint32_t u;
			uint8_t b[4];

			memcpy(&u, &t[i].data[k], sizeof(u));
			b[0] = (uint8_t)u;
			b[1] = (uint8_t)(u >> 8);
			b[2] = (uint8_t)(u >> 16);
			b[3] = (uint8_t)(u >> 24);
			fwrite(b, 1, sizeof(b), f);
		}
	}
}

int safetensors_encode(const struct safetensors_f32 *t, size_t n,
		       const struct safetensors_meta *meta, size_t n_meta, uint8_t **buf,
		       size_t *len, struct tferr *e)
{
	char *hdr = NULL, *out = NULL;
	size_t hlen = 0, olen = 0;
	uint64_t total;
	uint8_t lenb[8];
	FILE *f;
	int r;

	r = check_out(t, n, &total, e);
	if (r < 0)
		return r;
	f = open_memstream(&hdr, &hlen);
	if (!f)
		return tferr_set(e, TFERR_NOMEM, "out of memory");
	put_header(f, t, n, meta, n_meta);
	/* Pad with spaces so that the data section is 8-byte aligned. */
	while ((ftell(f) + 8) % 8 != 0)
		fputc(' ', f);
	if (fclose(f) != 0) {
		free(hdr);
		return tferr_set(e, TFERR_NOMEM, "out of memory");
	}
	for (int i = 0; i < 8; i++)
		lenb[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
	f = open_memstream(&out, &olen);
	if (!f) {
		free(hdr);
		return tferr_set(e, TFERR_NOMEM, "out of memory");
	}
	fwrite(lenb, 1, sizeof(lenb), f);
	fwrite(hdr, 1, hlen, f);
	put_data(f, t, n);
	free(hdr);
	if (fclose(f) != 0 || olen != 8 + hlen + total) {
		free(out);
		return tferr_set(e, TFERR_NOMEM, "out of memory");
	}
	*buf = (uint8_t *)out;
	*len = olen;
	return 0;
}

int safetensors_save(const char *path, const struct safetensors_f32 *t, size_t n,
		     const struct safetensors_meta *meta, size_t n_meta, struct tferr *e)
{
	uint8_t *buf = NULL;
	size_t len;
	int r;

	r = safetensors_encode(t, n, meta, n_meta, &buf, &len, e);
	if (r < 0)
		return tferr_wrap(e, r, "%s", path);
	r = fileutil_write(path, buf, len, e);
	free(buf);
	return r;
}
