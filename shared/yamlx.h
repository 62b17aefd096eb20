/* Strict YAML reading on top of libyaml's document API, for configuration,
 * policies and job files.
 *
 * Documents are bounded in size and nesting, anchors and aliases are refused,
 * duplicate keys are refused, and every error names file:line:col (1-based)
 * and what was expected, e.g.
 *   "policy.yaml:4:3: unknown key 'pcr' (expected one of: pcrs, ek_roots)".
 */
#ifndef AICERT_YAMLX_H
#define AICERT_YAMLX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#define YAMLX_MAX_BYTES (1u << 20)
#define YAMLX_MAX_DEPTH 32

struct yamlx {
	yaml_document_t doc;
	char *file; /* the name used in messages */
	bool loaded;
};

/* Loads exactly one document from path (at most YAMLX_MAX_BYTES). */
int yamlx_load_file(const char *path, struct yamlx *y);
/* The same from memory; name is used in messages. */
int yamlx_load_buf(const char *name, const uint8_t *buf, size_t len, struct yamlx *y);
void yamlx_free(struct yamlx *y);

yaml_node_t *yamlx_root(struct yamlx *y);

/* Records "file:line:col: <message>" for node n via err_set and returns code. */
int yamlx_err(struct yamlx *y, const yaml_node_t *n, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Requires n to be a mapping whose keys are scalars from allowed (a NULL
 * terminated list), each at most once. */
int yamlx_check_map(struct yamlx *y, const yaml_node_t *n, const char *const *allowed);

/* The value of key in mapping n, or NULL when absent. */
yaml_node_t *yamlx_get(struct yamlx *y, const yaml_node_t *n, const char *key);

/* Scalar readers: each checks the node's kind and range and names the key in
 * its message. *out points into the document (valid until yamlx_free). */
int yamlx_str(struct yamlx *y, const yaml_node_t *n, const char *key, const char **out);
int yamlx_u32(struct yamlx *y, const yaml_node_t *n, const char *key, uint32_t min, uint32_t max,
	      uint32_t *out);
int yamlx_bool(struct yamlx *y, const yaml_node_t *n, const char *key, bool *out);
/* One of the strings in choices (NULL terminated); *out is its index. */
int yamlx_enum(struct yamlx *y, const yaml_node_t *n, const char *key, const char *const *choices,
	       unsigned *out);

/* Requires a sequence; *count items, item i via yamlx_item(). */
int yamlx_seq(struct yamlx *y, const yaml_node_t *n, const char *key, size_t *count);
yaml_node_t *yamlx_item(struct yamlx *y, const yaml_node_t *n, size_t i);

#endif
