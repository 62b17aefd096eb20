/* The job file's typed readers and value checks: names, local and workspace
 * paths, https:// URLs, commit ids and digests. Each names the field, its
 * position and what was expected. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hex.h"
#include "jobcfg_internal.h"

void jobcfg_field(char out[JOBCFG_FIELD_MAX], const char *parent, const char *key)
{
	snprintf(out, JOBCFG_FIELD_MAX, "%s%s%s", parent, *parent ? "." : "", key);
}

int jobcfg_err(struct yamlx *y, const yaml_node_t *n, int code, const char *field, const char *fmt,
	       ...)
{
	char msg[640];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return yamlx_err(y, n, code, "%s%s%s", field, *field ? ": " : "", msg);
}

void jobcfg_show(const char *s, char *out, size_t cap)
{
	size_t n = strlen(s), keep = n;

	if (cap > JOBCFG_SHOW_MAX + 1)
		cap = JOBCFG_SHOW_MAX + 1;
	if (n >= cap) {
		keep = cap - 4;
		while (keep > 0 && ((unsigned char)s[keep] & 0xc0) == 0x80)
			keep--; /* do not cut a UTF-8 sequence */
	}
	for (size_t i = 0; i < keep; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	strcpy(out + keep, keep < n ? "..." : "");
}

static const char *jobcfg_found(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return "a string";
	}
}

/* Explicit tags (!!int, !foo) change what a value means: none are allowed. */
static int jobcfg_untagged(struct yamlx *y, const yaml_node_t *n, const char *field)
{
	const char *want = n->type == YAML_MAPPING_NODE    ? YAML_DEFAULT_MAPPING_TAG
			   : n->type == YAML_SEQUENCE_NODE ? YAML_DEFAULT_SEQUENCE_TAG
							   : YAML_DEFAULT_SCALAR_TAG;
	char shown[JOBCFG_SHOW_MAX + 1];

	if (n->tag && strcmp((const char *)n->tag, want) == 0)
		return 0;
	jobcfg_show(n->tag ? (const char *)n->tag : "", shown, sizeof(shown));
	return jobcfg_err(y, n, AICERT_ERR_INVALID, field, "YAML tags are not allowed, found '%s'",
			  shown);
}

/* "a, b, c" into out. */
static void jobcfg_join(const char *const *list, char *out, size_t cap)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; list[i] && used < cap; i++)
		used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? ", " : "", list[i]);
}

/* Key k of mapping n is in keys and not an earlier key again. */
static int jobcfg_map_key(struct yamlx *y, const yaml_node_t *n, const yaml_node_pair_t *p,
			  const char *field, const char *const *keys)
{
	yaml_node_t *k = yaml_document_get_node(&y->doc, p->key);
	char expected[256], shown[JOBCFG_SHOW_MAX + 1];
	const char *key;
	size_t i;

	if (k->type != YAML_SCALAR_NODE || jobcfg_untagged(y, k, field) < 0)
		return jobcfg_err(y, k, AICERT_ERR_INVALID, field, "keys must be plain strings");
	key = (const char *)k->data.scalar.value;
	for (i = 0; keys[i] && strcmp(keys[i], key) != 0; i++)
		;
	jobcfg_show(key, shown, sizeof(shown));
	if (!keys[i]) {
		jobcfg_join(keys, expected, sizeof(expected));
		return jobcfg_err(y, k, AICERT_ERR_INVALID, field,
				  "unknown key '%s' (expected one of: %s)", shown, expected);
	}
	for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
		yaml_node_t *kq = yaml_document_get_node(&y->doc, q->key);

		if (strcmp((const char *)kq->data.scalar.value, key) == 0)
			return jobcfg_err(y, k, AICERT_ERR_INVALID, field,
					  "duplicate key '%s' (first at line %zu)", shown,
					  kq->start_mark.line + 1);
	}
	return 0;
}

int jobcfg_map(struct yamlx *y, const yaml_node_t *n, const char *field, const char *const *keys)
{
	int r = 0;

	if (n->type != YAML_MAPPING_NODE)
		return jobcfg_err(y, n, AICERT_ERR_INVALID, field, "expected a mapping, found %s",
				  jobcfg_found(n));
	if (jobcfg_untagged(y, n, field) < 0)
		return AICERT_ERR_INVALID;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     keys && r == 0 && p < n->data.mapping.pairs.top; p++)
		r = jobcfg_map_key(y, n, p, field, keys);
	return r;
}

int jobcfg_req(struct yamlx *y, const yaml_node_t *map, const char *field, const char *key,
	       yaml_node_t **out)
{
	char f[JOBCFG_FIELD_MAX];

	*out = yamlx_get(y, map, key);
	if (*out)
		return 0;
	jobcfg_field(f, field, key);
	return jobcfg_err(y, map, AICERT_ERR_INVALID, f, "missing (a required field)");
}

int jobcfg_seq(struct yamlx *y, const yaml_node_t *n, const char *field, size_t max, size_t *count)
{
	size_t c;

	if (n->type != YAML_SEQUENCE_NODE)
		return jobcfg_err(y, n, AICERT_ERR_INVALID, field, "expected a list, found %s",
				  jobcfg_found(n));
	if (jobcfg_untagged(y, n, field) < 0)
		return AICERT_ERR_INVALID;
	c = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (c > max)
		return jobcfg_err(y, n, AICERT_ERR_TOO_BIG, field,
				  "expected at most %zu items, found %zu", max, c);
	*count = c;
	return 0;
}

/* A plain scalar that YAML reads as null: nothing, ~, null. */
static bool jobcfg_is_null(const yaml_node_t *n)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
	const char *s = (const char *)n->data.scalar.value;

	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (strcmp(s, nulls[i]) == 0)
			return true;
	return false;
}

int jobcfg_str(struct yamlx *y, const yaml_node_t *n, const char *field, size_t max,
	       const char **out)
{
	const char *s;
	int r;

	if (n->type != YAML_SCALAR_NODE)
		return jobcfg_err(y, n, AICERT_ERR_INVALID, field, "expected a string, found %s",
				  jobcfg_found(n));
	r = jobcfg_untagged(y, n, field);
	if (r < 0)
		return r;
	if (jobcfg_is_null(n))
		return jobcfg_err(y, n, AICERT_ERR_INVALID, field,
				  "expected a string, found null (write \"\" for an empty string)");
	r = yamlx_str(y, n, field, &s);
	if (r < 0)
		return r;
	if (n->data.scalar.length > max)
		return jobcfg_err(y, n, AICERT_ERR_TOO_BIG, field,
				  "expected at most %zu bytes, found %zu", max,
				  n->data.scalar.length);
	*out = s;
	return 0;
}

int jobcfg_dup(const char *s, char **out)
{
	char *d = strdup(s);

	if (!d)
		return AICERT_ERR_NOMEM;
	free(*out);
	*out = d;
	return 0;
}

static bool jobcfg_has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

int jobcfg_name(struct yamlx *y, const yaml_node_t *n, const char *field, size_t max, char **out)
{
	char shown[JOBCFG_SHOW_MAX + 1];
	const char *s;
	bool ok;
	int r;

	r = jobcfg_str(y, n, field, max, &s);
	if (r < 0)
		return r;
	ok = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9');
	for (const char *p = s; ok && *p; p++)
		ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		     (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-';
	if (!ok) {
		jobcfg_show(s, shown, sizeof(shown));
		return jobcfg_err(y, n, AICERT_ERR_INVALID, field,
				  "expected a name of letters, digits, '.', '_' and '-' that "
				  "starts with a letter or digit, found '%s'",
				  shown);
	}
	return jobcfg_dup(s, out);
}

static int jobcfg_resolve(const char *base_dir, const char *path, char **out)
{
	char *s;

	if (path[0] == '/' || !base_dir || !*base_dir)
		return jobcfg_dup(path, out);
	if (asprintf(&s, "%s%s%s", base_dir, base_dir[strlen(base_dir) - 1] == '/' ? "" : "/",
		     path) < 0)
		return AICERT_ERR_NOMEM;
	free(*out);
	*out = s;
	return 0;
}

int jobcfg_local(struct jobcfg_ctx *c, const yaml_node_t *n, const char *field, char **written,
		 char **resolved)
{
	const char *s, *why = NULL;
	char shown[JOBCFG_SHOW_MAX + 1];
	int r;

	r = jobcfg_str(&c->y, n, field, JOBCFG_MAX_LOCAL, &s);
	if (r < 0)
		return r;
	if (!*s)
		why = "it is empty";
	else if (jobcfg_has_control(s))
		why = "it contains a control character";
	else if (s[0] == '~')
		why = "'~' is not expanded: write the path out";
	if (why) {
		jobcfg_show(s, shown, sizeof(shown));
		return jobcfg_err(&c->y, n, AICERT_ERR_INVALID, field,
				  "expected a local path, found '%s' (%s)", shown, why);
	}
	r = written ? jobcfg_dup(s, written) : 0;
	return r < 0 ? r : jobcfg_resolve(c->base_dir, s, resolved);
}

/* Lexical normalisation of a relative path: '.' components dropped, '..'
 * taking back the previous one. out holds strlen(s) + 2 bytes. Returns NULL,
 * or why s is not a path inside its root. */
static const char *jobcfg_normalise(const char *s, char *out)
{
	size_t o = 0;

	if (!*s)
		return "it is empty";
	if (*s == '/')
		return "it is absolute";
	if (jobcfg_has_control(s))
		return "it contains a control character";
	for (const char *p = s;;) {
		const char *e = strchrnul(p, '/');
		size_t len = (size_t)(e - p);

		if (len == 0)
			return "it has an empty component: '//' or a trailing '/'";
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (o == 0)
				return "its '..' leads outside";
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
		} else if (len != 1 || p[0] != '.') {
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, len);
			o += len;
		}
		if (!*e)
			break;
		p = e + 1;
	}
	if (o == 0)
		out[o++] = '.';
	out[o] = '\0';
	return NULL;
}

int jobcfg_relpath(struct yamlx *y, const yaml_node_t *n, const char *field, const char *root,
		   char **out)
{
	char shown[JOBCFG_SHOW_MAX + 1], *norm;
	const char *s, *why;
	int r;

	r = jobcfg_str(y, n, field, JOBCFG_MAX_WS_PATH, &s);
	if (r < 0)
		return r;
	norm = malloc(strlen(s) + 2);
	if (!norm)
		return AICERT_ERR_NOMEM;
	why = jobcfg_normalise(s, norm);
	if (why) {
		free(norm);
		jobcfg_show(s, shown, sizeof(shown));
		return jobcfg_err(y, n, AICERT_ERR_INVALID, field,
				  "expected a relative path inside %s, found '%s' (%s)", root,
				  shown, why);
	}
	free(*out);
	*out = norm;
	return 0;
}

int jobcfg_wspath(struct yamlx *y, const yaml_node_t *n, const char *field, char **out)
{
	return jobcfg_relpath(y, n, field, "the workspace", out);
}

bool jobcfg_ws_within(const char *outer, const char *inner)
{
	size_t len = strlen(outer);

	if (strcmp(outer, ".") == 0)
		return true;
	return strncmp(inner, outer, len) == 0 && (inner[len] == '\0' || inner[len] == '/');
}

const char *jobcfg_url_problem(const char *s)
{
	const char *auth = s + 8, *host_end, *port;
	size_t alen;

	if (strncmp(s, "https://", 8) != 0)
		return "only https:// is allowed: other schemes can be read or altered in transit";
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return "it contains whitespace, a control character or a non-ASCII byte; "
			       "percent-encode it";
	alen = strcspn(auth, "/?#");
	if (memchr(auth, '@', alen))
		return "it carries credentials, which would be recorded in the proof";
	if (auth[0] == '[') {
		host_end = memchr(auth, ']', alen);
		if (!host_end || host_end == auth + 1)
			return "its IPv6 host is not in [brackets]";
		host_end++;
	} else {
		host_end = memchr(auth, ':', alen);
		host_end = host_end ? host_end : auth + alen;
	}
	if (host_end == auth)
		return "it has no host";
	if (host_end == auth + alen)
		return NULL;
	port = host_end + 1;
	if (*host_end != ':' || port == auth + alen || auth + alen - port > 5)
		return "its port is not a number from 1 to 65535";
	for (const char *p = port; p < auth + alen; p++)
		if (*p < '0' || *p > '9')
			return "its port is not a number from 1 to 65535";
	if (atoi(port) < 1 || atoi(port) > 65535)
		return "its port is not a number from 1 to 65535";
	return NULL;
}

int jobcfg_url(struct yamlx *y, const yaml_node_t *n, const char *field, char **out)
{
	char shown[JOBCFG_SHOW_MAX + 1];
	const char *s, *why;
	int r;

	r = jobcfg_str(y, n, field, JOBCFG_MAX_URL, &s);
	if (r < 0)
		return r;
	why = jobcfg_url_problem(s);
	if (why) {
		jobcfg_show(s, shown, sizeof(shown));
		return jobcfg_err(y, n, AICERT_ERR_INVALID, field,
				  "expected an https:// URL, found '%s' (%s)", shown, why);
	}
	return jobcfg_dup(s, out);
}

static bool jobcfg_lower_hex(const char *s, size_t len)
{
	if (strlen(s) != len)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

int jobcfg_commit(struct yamlx *y, const yaml_node_t *n, const char *field, char **out)
{
	char shown[JOBCFG_SHOW_MAX + 1];
	const char *s;
	int r;

	r = jobcfg_str(y, n, field, JOBCFG_MAX_URL, &s);
	if (r < 0)
		return r;
	if (!jobcfg_lower_hex(s, 40) && !jobcfg_lower_hex(s, 64)) {
		jobcfg_show(s, shown, sizeof(shown));
		return jobcfg_err(y, n, AICERT_ERR_INVALID, field,
				  "expected a full 40-hex-digit commit id, found '%s' (64 digits "
				  "for a SHA-256 repository; lowercase; no branch or tag names)",
				  shown);
	}
	return jobcfg_dup(s, out);
}

int jobcfg_digest(struct yamlx *y, const yaml_node_t *n, const char *field, uint8_t out[32])
{
	char shown[JOBCFG_SHOW_MAX + 1];
	const char *s;
	size_t len;
	int r;

	r = jobcfg_str(y, n, field, JOBCFG_MAX_URL, &s);
	if (r < 0)
		return r;
	if (!jobcfg_lower_hex(s, 64)) {
		jobcfg_show(s, shown, sizeof(shown));
		return jobcfg_err(
			y, n, AICERT_ERR_INVALID, field,
			"expected a SHA-256 digest of 64 lowercase hex digits, found '%s'", shown);
	}
	return hex_decode(s, out, 32, &len);
}

int jobcfg_enum(struct yamlx *y, const yaml_node_t *n, const char *field,
		const char *const *choices, unsigned *out)
{
	char expected[128], shown[JOBCFG_SHOW_MAX + 1];
	const char *s;
	int r;

	r = jobcfg_str(y, n, field, JOBCFG_MAX_NAME, &s);
	if (r < 0)
		return r;
	for (unsigned i = 0; choices[i]; i++) {
		if (strcmp(s, choices[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	jobcfg_join(choices, expected, sizeof(expected));
	jobcfg_show(s, shown, sizeof(shown));
	return jobcfg_err(y, n, AICERT_ERR_INVALID, field, "expected one of: %s; found '%s'",
			  expected, shown);
}

int jobcfg_u32(struct yamlx *y, const yaml_node_t *n, const char *field, uint32_t min, uint32_t max,
	       uint32_t *out)
{
	int r = jobcfg_untagged(y, n, field);

	return r < 0 ? r : yamlx_u32(y, n, field, min, max, out);
}
