/* What jobcfg.c, jobcfg_inputs.c and jobcfg_values.c share. Not for use
 * outside the jobcfg module.
 *
 * jobcfg.c         the top level, runner, training, outputs, proof; load, free
 * jobcfg_inputs.c  inputs: sources, names, staging destinations
 * jobcfg_values.c  typed readers and the checks of names, paths, URLs, hex
 *
 * Every reader takes the dotted field name ("inputs.datasets[1].git.commit")
 * and reports "file:line:col: field: what was expected, found 'value'".
 */
#ifndef AICERT_CONTROLLER_JOBCFG_INTERNAL_H
#define AICERT_CONTROLLER_JOBCFG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "jobcfg.h"
#include "yamlx.h"

#define JOBCFG_FIELD_MAX 160 /* longest field name: inputs.datasets[63].git.commit */
#define JOBCFG_SHOW_MAX  72  /* a found value as quoted in a message */

struct jobcfg_ctx {
	struct yamlx y;
	const char *base_dir; /* or NULL */
	struct jobcfg *cfg;
};

/* "parent.key", or "key" at the top level. */
void jobcfg_field(char out[JOBCFG_FIELD_MAX], const char *parent, const char *key);

/* Records "file:line:col: field: message" for n ("file:line:col: message"
 * when field is "") and returns code. */
int jobcfg_err(struct yamlx *y, const yaml_node_t *n, int code, const char *field, const char *fmt,
	       ...) __attribute__((format(printf, 5, 6)));

/* s made safe to quote in a message: at most JOBCFG_SHOW_MAX bytes, control
 * characters as '?', "..." when cut. */
void jobcfg_show(const char *s, char *out, size_t cap);

/* A mapping without explicit tags whose keys are plain strings from keys
 * (NULL terminated), each at most once; any keys when keys is NULL. */
int jobcfg_map(struct yamlx *y, const yaml_node_t *n, const char *field, const char *const *keys);
/* The value of key in map, or an error "field.key: missing" at map. */
int jobcfg_req(struct yamlx *y, const yaml_node_t *map, const char *field, const char *key,
	       yaml_node_t **out);
/* A list of at most max items. */
int jobcfg_seq(struct yamlx *y, const yaml_node_t *n, const char *field, size_t max, size_t *count);
/* A string scalar (not null, no tag, no NUL) of at most max bytes; *out
 * points into the document. */
int jobcfg_str(struct yamlx *y, const yaml_node_t *n, const char *field, size_t max,
	       const char **out);

int jobcfg_dup(const char *s, char **out);

/* [A-Za-z0-9][A-Za-z0-9._-]*, at most max bytes. */
int jobcfg_name(struct yamlx *y, const yaml_node_t *n, const char *field, size_t max, char **out);
/* A local path; *written as in the file, *resolved against base_dir. */
int jobcfg_local(struct jobcfg_ctx *c, const yaml_node_t *n, const char *field, char **written,
		 char **resolved);
/* A relative path that stays inside root (a phrase for messages, e.g. "the
 * repository"), normalised lexically ("a/./b/../c" -> "a/c", "." for root). */
int jobcfg_relpath(struct yamlx *y, const yaml_node_t *n, const char *field, const char *root,
		   char **out);
/* jobcfg_relpath() inside "the workspace". */
int jobcfg_wspath(struct yamlx *y, const yaml_node_t *n, const char *field, char **out);
/* An https:// URL with a host, no credentials, no whitespace or control
 * characters, at most JOBCFG_MAX_URL bytes. */
int jobcfg_url(struct yamlx *y, const yaml_node_t *n, const char *field, char **out);
/* Checks the text of an https:// URL; NULL when good, else why not. */
const char *jobcfg_url_problem(const char *s);
/* One of choices (NULL terminated); *out is its index. */
int jobcfg_enum(struct yamlx *y, const yaml_node_t *n, const char *field,
		const char *const *choices, unsigned *out);
/* An untagged plain integer from min to max. */
int jobcfg_u32(struct yamlx *y, const yaml_node_t *n, const char *field, uint32_t min, uint32_t max,
	       uint32_t *out);
/* 40 or 64 lowercase hex digits. */
int jobcfg_commit(struct yamlx *y, const yaml_node_t *n, const char *field, char **out);
/* 64 lowercase hex digits. */
int jobcfg_digest(struct yamlx *y, const yaml_node_t *n, const char *field, uint8_t out[32]);

/* Whether workspace path inner is outer or lies inside it (both normalised). */
bool jobcfg_ws_within(const char *outer, const char *inner);

/* Parses root's `inputs` into c->cfg->inputs. */
int jobcfg_inputs(struct jobcfg_ctx *c, const yaml_node_t *root);
void jobcfg_input_clear(struct jobcfg_input *in);

#endif
