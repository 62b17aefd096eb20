/* Strict JSON reading with jansson, for proofs and event contents.
 *
 * Documents are bounded in size, duplicate keys are refused, nothing may
 * trail the value, and every reader names the field's path in its error:
 * "proof.json: evidence.quote.attest: expected a base64 string".
 */
#ifndef AICERT_JSONX_H
#define AICERT_JSONX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Parses exactly one JSON value from buf; *ret is the caller's (json_decref).
 * name prefixes messages. Errors give line:column. */
int jsonx_parse(const char *name, const uint8_t *buf, size_t len, json_t **ret);

/* Requires obj to be an object whose keys are all in `keys` (NULL
 * terminated) and that has every key of `required` (NULL terminated, may be
 * NULL). path names obj in messages ("evidence.tpm"). */
int jsonx_check_keys(const json_t *obj, const char *path, const char *const *keys,
		     const char *const *required);

/* Readers: v is the member (NULL when absent, which is an error); path is
 * the full path of the member for messages. */
int jsonx_str(const json_t *v, const char *path, size_t max, const char **out);
int jsonx_u64(const json_t *v, const char *path, uint64_t max, uint64_t *out);
int jsonx_hex(const json_t *v, const char *path, uint8_t *out, size_t min, size_t max,
	      size_t *out_len);
/* Exactly n bytes of hex. */
int jsonx_hex_exact(const json_t *v, const char *path, uint8_t *out, size_t n);
int jsonx_b64(const json_t *v, const char *path, size_t max, uint8_t **out, size_t *out_len);
int jsonx_array(const json_t *v, const char *path, size_t max, size_t *count);

#endif
