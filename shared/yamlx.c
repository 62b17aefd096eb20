#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fileio.h"
#include "yamlx.h"

/* The one translation of libyaml's problem + mark. */
static int yamlx_parser_err(const char *name, const yaml_parser_t *p)
{
	const yaml_mark_t *m = p->problem ? &p->problem_mark : &p->mark;

	return err_set(AICERT_ERR_INVALID, "%s:%zu:%zu: %s%s%s", name, m->line + 1, m->column + 1,
		       p->problem ? p->problem : "YAML error", p->context ? " " : "",
		       p->context ? p->context : "");
}

/* Event pre-pass: refuses aliases, anchors, excessive nesting and more than
 * one document, none of which the node walk below should ever meet. */
static int yamlx_prescan(const char *name, const uint8_t *buf, size_t len)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int depth = 0, docs = 0, r = 0;
	bool done = false;

	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, buf, len);
	while (!done && r == 0) {
		if (!yaml_parser_parse(&p, &ev)) {
			r = yamlx_parser_err(name, &p);
			break;
		}
		const yaml_mark_t *m = &ev.start_mark;

		switch (ev.type) {
		case YAML_ALIAS_EVENT:
			r = err_set(AICERT_ERR_INVALID, "%s:%zu:%zu: aliases are not allowed", name,
				    m->line + 1, m->column + 1);
			break;
		case YAML_SCALAR_EVENT:
			if (ev.data.scalar.anchor)
				r = err_set(AICERT_ERR_INVALID,
					    "%s:%zu:%zu: anchors are not allowed", name,
					    m->line + 1, m->column + 1);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if ((ev.type == YAML_SEQUENCE_START_EVENT ? ev.data.sequence_start.anchor
								  : ev.data.mapping_start.anchor))
				r = err_set(AICERT_ERR_INVALID,
					    "%s:%zu:%zu: anchors are not allowed", name,
					    m->line + 1, m->column + 1);
			else if (++depth > YAMLX_MAX_DEPTH)
				r = err_set(AICERT_ERR_TOO_BIG, "%s:%zu:%zu: nested deeper than %d",
					    name, m->line + 1, m->column + 1, YAMLX_MAX_DEPTH);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				r = err_set(AICERT_ERR_INVALID,
					    "%s:%zu:%zu: only one YAML document is allowed", name,
					    m->line + 1, m->column + 1);
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return r;
}

int yamlx_load_buf(const char *name, const uint8_t *buf, size_t len, struct yamlx *y)
{
	yaml_parser_t p;
	int r;

	memset(y, 0, sizeof(*y));
	if (len > YAMLX_MAX_BYTES)
		return err_set(AICERT_ERR_TOO_BIG, "%s: %zu bytes, at most %u allowed", name, len,
			       YAMLX_MAX_BYTES);
	r = yamlx_prescan(name, buf, len);
	if (r < 0)
		return r;
	y->file = strdup(name);
	if (!y->file)
		return AICERT_ERR_NOMEM;
	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, buf, len);
	if (!yaml_parser_load(&p, &y->doc)) {
		r = yamlx_parser_err(name, &p);
		yaml_parser_delete(&p);
		free(y->file);
		y->file = NULL;
		return r;
	}
	yaml_parser_delete(&p);
	y->loaded = true;
	if (!yaml_document_get_root_node(&y->doc)) {
		yamlx_free(y);
		return err_set(AICERT_ERR_INVALID, "%s: empty document", name);
	}
	return 0;
}

int yamlx_load_file(const char *path, struct yamlx *y)
{
	uint8_t *buf = NULL;
	size_t len;
	int r;

	r = fileio_read_all(path, YAMLX_MAX_BYTES, &buf, &len);
	if (r < 0)
		return r;
	r = yamlx_load_buf(path, buf, len, y);
	free(buf);
	return r;
}

void yamlx_free(struct yamlx *y)
{
	if (!y)
		return;
	if (y->loaded)
		yaml_document_delete(&y->doc);
	free(y->file);
	memset(y, 0, sizeof(*y));
}

yaml_node_t *yamlx_root(struct yamlx *y)
{
	return yaml_document_get_root_node(&y->doc);
}

int yamlx_err(struct yamlx *y, const yaml_node_t *n, int code, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(code, "%s:%zu:%zu: %s", y->file, n->start_mark.line + 1,
		       n->start_mark.column + 1, msg);
}

static const char *yamlx_scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static void yamlx_join(const char *const *list, char *out, size_t cap)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; list[i] && used < cap; i++)
		used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? ", " : "", list[i]);
}

int yamlx_check_map(struct yamlx *y, const yaml_node_t *n, const char *const *allowed)
{
	char expected[512];

	if (n->type != YAML_MAPPING_NODE)
		return yamlx_err(y, n, AICERT_ERR_INVALID, "expected a mapping");
	yamlx_join(allowed, expected, sizeof(expected));
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(&y->doc, p->key);
		const char *key = yamlx_scalar(k);
		bool known = false;

		if (!key)
			return yamlx_err(y, k, AICERT_ERR_INVALID, "keys must be plain strings");
		for (size_t i = 0; allowed[i] && !known; i++)
			known = strcmp(allowed[i], key) == 0;
		if (!known)
			return yamlx_err(y, k, AICERT_ERR_INVALID,
					 "unknown key '%s' (expected one of: %s)", key, expected);
		for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++)
			if (strcmp(yamlx_scalar(yaml_document_get_node(&y->doc, q->key)), key) == 0)
				return yamlx_err(y, k, AICERT_ERR_INVALID, "duplicate key '%s'",
						 key);
	}
	return 0;
}

yaml_node_t *yamlx_get(struct yamlx *y, const yaml_node_t *n, const char *key)
{
	if (n->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		const char *k = yamlx_scalar(yaml_document_get_node(&y->doc, p->key));

		if (k && strcmp(k, key) == 0)
			return yaml_document_get_node(&y->doc, p->value);
	}
	return NULL;
}

int yamlx_str(struct yamlx *y, const yaml_node_t *n, const char *key, const char **out)
{
	const char *s = yamlx_scalar(n);

	if (!s)
		return yamlx_err(y, n, AICERT_ERR_INVALID, "%s: expected a string", key);
	if (strlen(s) != n->data.scalar.length)
		return yamlx_err(y, n, AICERT_ERR_INVALID, "%s: contains a NUL character", key);
	*out = s;
	return 0;
}

int yamlx_u32(struct yamlx *y, const yaml_node_t *n, const char *key, uint32_t min, uint32_t max,
	      uint32_t *out)
{
	const char *s = yamlx_scalar(n);
	unsigned long long v;
	char *end;

	if (!s || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || !*s || *s == '-' || *s == '+')
		return yamlx_err(y, n, AICERT_ERR_INVALID, "%s: expected an integer from %u to %u",
				 key, min, max);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return yamlx_err(y, n, AICERT_ERR_INVALID, "%s: expected an integer from %u to %u",
				 key, min, max);
	*out = (uint32_t)v;
	return 0;
}

int yamlx_bool(struct yamlx *y, const yaml_node_t *n, const char *key, bool *out)
{
	const char *s = yamlx_scalar(n);

	if (s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
			*out = s[0] == 't';
			return 0;
		}
	}
	return yamlx_err(y, n, AICERT_ERR_INVALID, "%s: expected true or false", key);
}

int yamlx_enum(struct yamlx *y, const yaml_node_t *n, const char *key, const char *const *choices,
	       unsigned *out)
{
	const char *s = yamlx_scalar(n);
	char expected[256];

	for (unsigned i = 0; s && choices[i]; i++) {
		if (strcmp(s, choices[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	yamlx_join(choices, expected, sizeof(expected));
	return yamlx_err(y, n, AICERT_ERR_INVALID, "%s: expected one of: %s", key, expected);
}

int yamlx_seq(struct yamlx *y, const yaml_node_t *n, const char *key, size_t *count)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return yamlx_err(y, n, AICERT_ERR_INVALID, "%s: expected a list", key);
	*count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	return 0;
}

yaml_node_t *yamlx_item(struct yamlx *y, const yaml_node_t *n, size_t i)
{
	return yaml_document_get_node(&y->doc, n->data.sequence.items.start[i]);
}
