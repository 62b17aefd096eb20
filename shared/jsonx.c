#include <stdio.h>
#include <string.h>

#include "b64.h"
#include "err.h"
#include "hex.h"
#include "jsonx.h"

int jsonx_parse(const char *name, const uint8_t *buf, size_t len, json_t **ret)
{
	json_error_t e;
	json_t *v;

	v = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &e);
	if (!v)
		return err_set(AICERT_ERR_INVALID, "%s:%d:%d: %s", name, e.line, e.column, e.text);
	*ret = v;
	return 0;
}

static bool jsonx_in(const char *key, const char *const *list)
{
	for (size_t i = 0; list && list[i]; i++)
		if (strcmp(key, list[i]) == 0)
			return true;
	return false;
}

int jsonx_check_keys(const json_t *obj, const char *path, const char *const *keys,
		     const char *const *required)
{
	const char *key;
	json_t *v;

	if (!json_is_object(obj))
		return err_set(AICERT_ERR_INVALID, "%s: expected an object", path);
	json_object_foreach((json_t *)obj, key, v)
	{
		if (!jsonx_in(key, keys))
			return err_set(AICERT_ERR_INVALID, "%s: unknown field '%s'", path, key);
	}
	for (size_t i = 0; required && required[i]; i++)
		if (!json_object_get(obj, required[i]))
			return err_set(AICERT_ERR_INVALID, "%s.%s: missing", path, required[i]);
	return 0;
}

int jsonx_str(const json_t *v, const char *path, size_t max, const char **out)
{
	if (!v)
		return err_set(AICERT_ERR_INVALID, "%s: missing", path);
	if (!json_is_string(v))
		return err_set(AICERT_ERR_INVALID, "%s: expected a string", path);
	if (json_string_length(v) > max)
		return err_set(AICERT_ERR_TOO_BIG, "%s: %zu bytes, at most %zu allowed", path,
			       json_string_length(v), max);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return err_set(AICERT_ERR_INVALID, "%s: contains a NUL character", path);
	*out = json_string_value(v);
	return 0;
}

int jsonx_u64(const json_t *v, const char *path, uint64_t max, uint64_t *out)
{
	json_int_t n;

	if (!v)
		return err_set(AICERT_ERR_INVALID, "%s: missing", path);
	if (!json_is_integer(v))
		return err_set(AICERT_ERR_INVALID, "%s: expected an integer", path);
	n = json_integer_value(v);
	if (n < 0 || (uint64_t)n > max)
		return err_set(AICERT_ERR_INVALID, "%s: %lld out of range 0..%llu", path,
			       (long long)n, (unsigned long long)max);
	*out = (uint64_t)n;
	return 0;
}

int jsonx_hex(const json_t *v, const char *path, uint8_t *out, size_t min, size_t max,
	      size_t *out_len)
{
	const char *s;
	int r;

	r = jsonx_str(v, path, 2 * max, &s);
	if (r < 0)
		return r;
	r = hex_decode(s, out, max, out_len);
	if (r < 0)
		return err_wrap(r, "%s", path);
	if (*out_len < min)
		return err_set(AICERT_ERR_INVALID, "%s: %zu bytes, at least %zu expected", path,
			       *out_len, min);
	return 0;
}

int jsonx_hex_exact(const json_t *v, const char *path, uint8_t *out, size_t n)
{
	size_t got;

	return jsonx_hex(v, path, out, n, n, &got);
}

int jsonx_b64(const json_t *v, const char *path, size_t max, uint8_t **out, size_t *out_len)
{
	const char *s;
	int r;

	r = jsonx_str(v, path, 4 * ((max + 2) / 3), &s);
	if (r < 0)
		return r;
	r = b64_decode(s, json_string_length(v), max, out, out_len);
	return r < 0 ? err_wrap(r, "%s", path) : 0;
}

int jsonx_array(const json_t *v, const char *path, size_t max, size_t *count)
{
	if (!v)
		return err_set(AICERT_ERR_INVALID, "%s: missing", path);
	if (!json_is_array(v))
		return err_set(AICERT_ERR_INVALID, "%s: expected a list", path);
	if (json_array_size(v) > max)
		return err_set(AICERT_ERR_TOO_BIG, "%s: %zu entries, at most %zu allowed", path,
			       json_array_size(v), max);
	*count = json_array_size(v);
	return 0;
}
