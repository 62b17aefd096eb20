/* The job file's inputs: base_model, datasets, code and files. Each comes
 * from exactly one source (a local path, a git repository at a pinned
 * commit, or an https:// URL), has a unique name, and is staged at a
 * workspace destination that overlaps no other input's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "jobcfg_internal.h"

static const char *const jobcfg_source_keys[] = {"path", "git", "url"};

void jobcfg_input_clear(struct jobcfg_input *in)
{
	char **fields[] = {&in->name,       &in->location, &in->resolved, &in->git_commit,
			   &in->git_subdir, &in->dest,     &in->field};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		free(*fields[i]);
		*fields[i] = NULL;
	}
}

/* A repository: an https:// URL, or a local path resolved like the others. */
static int jobcfg_git_repo(struct jobcfg_ctx *c, const yaml_node_t *n, const char *field,
			   struct jobcfg_input *in)
{
	char shown[JOBCFG_SHOW_MAX + 1];
	const char *s, *colon;
	int r;

	r = jobcfg_str(&c->y, n, field, JOBCFG_MAX_URL, &s);
	if (r < 0)
		return r;
	if (strstr(s, "://")) {
		in->git_is_url = true;
		r = jobcfg_url(&c->y, n, field, &in->location);
		return r < 0 ? r : jobcfg_dup(in->location, &in->resolved);
	}
	colon = strchr(s, ':');
	if (colon && (!strchr(s, '/') || colon < strchr(s, '/'))) {
		jobcfg_show(s, shown, sizeof(shown));
		return jobcfg_err(&c->y, n, AICERT_ERR_INVALID, field,
				  "expected an https:// URL or a local path, found '%s' "
				  "(scp-style host:path addresses are not supported; write ./%s "
				  "for a local directory)",
				  shown, shown);
	}
	return jobcfg_local(c, n, field, &in->location, &in->resolved);
}

static int jobcfg_git(struct jobcfg_ctx *c, const yaml_node_t *n, const char *parent,
		      struct jobcfg_input *in)
{
	static const char *const keys[] = {"repo", "commit", "path", NULL};
	char field[JOBCFG_FIELD_MAX], f[JOBCFG_FIELD_MAX];
	yaml_node_t *v;
	int r;

	jobcfg_field(field, parent, "git");
	r = jobcfg_map(&c->y, n, field, keys);
	if (r == 0 && (r = jobcfg_req(&c->y, n, field, "repo", &v)) == 0) {
		jobcfg_field(f, field, "repo");
		r = jobcfg_git_repo(c, v, f, in);
	}
	if (r == 0 && (r = jobcfg_req(&c->y, n, field, "commit", &v)) == 0) {
		jobcfg_field(f, field, "commit");
		r = jobcfg_commit(&c->y, v, f, &in->git_commit);
	}
	if (r == 0 && (v = yamlx_get(&c->y, n, "path"))) {
		jobcfg_field(f, field, "path");
		r = jobcfg_relpath(&c->y, v, f, "the repository", &in->git_subdir);
	}
	if (r == 0 && !in->git_subdir)
		r = jobcfg_dup(".", &in->git_subdir);
	return r;
}

/* Which of path, git and url n has: exactly one. */
static int jobcfg_source_kind(struct jobcfg_ctx *c, const yaml_node_t *n, const char *field,
			      enum jobcfg_source *out)
{
	const char *found[3];
	size_t count = 0;

	for (size_t i = 0; i < 3; i++) {
		if (yamlx_get(&c->y, n, jobcfg_source_keys[i])) {
			found[count++] = jobcfg_source_keys[i];
			*out = (enum jobcfg_source)i;
		}
	}
	if (count == 0)
		return jobcfg_err(&c->y, n, AICERT_ERR_INVALID, field,
				  "expected exactly one source (path, git or url), found none");
	if (count > 1)
		return jobcfg_err(&c->y, n, AICERT_ERR_INVALID, field,
				  "expected exactly one source (path, git or url), found %s%s%s%s",
				  count == 3 ? "all three: " : "both ", found[0],
				  count == 3 ? ", " : " and ",
				  count == 3 ? "git and url" : found[1]);
	return 0;
}

/* The input's source and, for a URL, its expected digest. */
static int jobcfg_source(struct jobcfg_ctx *c, const yaml_node_t *n, const char *field,
			 struct jobcfg_input *in)
{
	yaml_node_t *v, *sha;
	char f[JOBCFG_FIELD_MAX];
	int r;

	r = jobcfg_source_kind(c, n, field, &in->source);
	if (r < 0)
		return r;
	v = yamlx_get(&c->y, n, jobcfg_source_keys[in->source]);
	jobcfg_field(f, field, jobcfg_source_keys[in->source]);
	if (in->source == JOBCFG_SOURCE_PATH)
		r = jobcfg_local(c, v, f, &in->location, &in->resolved);
	else if (in->source == JOBCFG_SOURCE_GIT)
		r = jobcfg_git(c, v, field, in);
	else if ((r = jobcfg_url(&c->y, v, f, &in->location)) == 0)
		r = jobcfg_dup(in->location, &in->resolved);
	sha = yamlx_get(&c->y, n, "sha256");
	if (r < 0 || !sha)
		return r;
	jobcfg_field(f, field, "sha256");
	if (in->source != JOBCFG_SOURCE_URL)
		return jobcfg_err(&c->y, sha, AICERT_ERR_INVALID, f,
				  "only a url source takes an expected digest (a git commit pins "
				  "its content, a local path is hashed as it is read)");
	in->has_sha256 = true;
	return jobcfg_digest(&c->y, sha, f, in->sha256);
}

static int jobcfg_dest(struct jobcfg_ctx *c, const yaml_node_t *n, const char *field,
		       struct jobcfg_input *in)
{
	yaml_node_t *v = yamlx_get(&c->y, n, "dest");
	char f[JOBCFG_FIELD_MAX], *s;
	int r;

	if (!v) {
		if (in->kind == JOBCFG_KIND_CODE)
			return jobcfg_dup(".", &in->dest);
		if (asprintf(&s, "inputs/%s", in->name) < 0)
			return AICERT_ERR_NOMEM;
		in->dest = s;
		return 0;
	}
	jobcfg_field(f, field, "dest");
	r = jobcfg_wspath(&c->y, v, f, &in->dest);
	if (r == 0 && in->kind != JOBCFG_KIND_CODE && strcmp(in->dest, ".") == 0)
		r = jobcfg_err(&c->y, v, AICERT_ERR_INVALID, f,
			       "expected a path below the workspace root, found '.' (only the "
			       "code may be staged at the root)");
	return r;
}

static int jobcfg_input(struct jobcfg_ctx *c, const yaml_node_t *n, const char *field,
			enum jobcfg_kind kind, struct jobcfg_input *in)
{
	static const char *const named_keys[] = {"name",   "path", "git", "url",
						 "sha256", "dest", NULL};
	bool named = kind == JOBCFG_KIND_DATASET || kind == JOBCFG_KIND_FILE;
	char f[JOBCFG_FIELD_MAX];
	yaml_node_t *v;
	int r;

	in->kind = kind;
	in->line = (uint32_t)n->start_mark.line + 1;
	in->col = (uint32_t)n->start_mark.column + 1;
	r = jobcfg_dup(field, &in->field);
	if (r == 0)
		r = jobcfg_map(&c->y, n, field, named ? named_keys : named_keys + 1);
	if (r == 0 && !named)
		r = jobcfg_dup(jobcfg_kind_name(kind), &in->name);
	if (r == 0 && named && (r = jobcfg_req(&c->y, n, field, "name", &v)) == 0) {
		jobcfg_field(f, field, "name");
		r = jobcfg_name(&c->y, v, f, JOBCFG_MAX_NAME, &in->name);
		if (r == 0 &&
		    (strcmp(in->name, "base_model") == 0 || strcmp(in->name, "code") == 0))
			r = jobcfg_err(&c->y, v, AICERT_ERR_INVALID, f,
				       "'%s' is reserved for inputs.%s", in->name, in->name);
	}
	if (r == 0)
		r = jobcfg_source(c, n, field, in);
	if (r == 0)
		r = jobcfg_dest(c, n, field, in);
	return r;
}

/* The node of an input's name, or of the input when it has none. */
static const yaml_node_t *jobcfg_at(struct jobcfg_ctx *c, const yaml_node_t *n, const char *key)
{
	const yaml_node_t *v = yamlx_get(&c->y, n, key);

	return v ? v : n;
}

/* Names are unique; destinations are distinct and none lies inside another,
 * except that inputs may be staged inside the code's tree. */
static int jobcfg_inputs_check(struct jobcfg_ctx *c, yaml_node_t **nodes)
{
	struct jobcfg_input *in = c->cfg->inputs;
	char f[JOBCFG_FIELD_MAX];

	for (size_t j = 0; j < c->cfg->n_inputs; j++) {
		for (size_t i = 0; i < j; i++) {
			const struct jobcfg_input *a = &in[i], *b = &in[j];

			if (strcmp(a->name, b->name) == 0) {
				jobcfg_field(f, b->field, "name");
				return jobcfg_err(&c->y, jobcfg_at(c, nodes[j], "name"),
						  AICERT_ERR_INVALID, f,
						  "duplicate input name '%s' (also %s at line %u)",
						  b->name, a->field, a->line);
			}
			if ((a->kind != JOBCFG_KIND_CODE && jobcfg_ws_within(a->dest, b->dest)) ||
			    (b->kind != JOBCFG_KIND_CODE && jobcfg_ws_within(b->dest, a->dest))) {
				jobcfg_field(f, b->field, "dest");
				return jobcfg_err(&c->y, jobcfg_at(c, nodes[j], "dest"),
						  AICERT_ERR_INVALID, f,
						  "'%s' overlaps the destination of %s ('%s'); "
						  "set a distinct dest",
						  b->dest, a->field, a->dest);
			}
		}
	}
	return 0;
}

static int jobcfg_inputs_count(struct jobcfg_ctx *c, const yaml_node_t *n, size_t *datasets,
			       size_t *files)
{
	yaml_node_t *v;
	int r = 0;

	*datasets = *files = 0;
	if ((v = yamlx_get(&c->y, n, "datasets")))
		r = jobcfg_seq(&c->y, v, "inputs.datasets", JOBCFG_MAX_DATASETS, datasets);
	if (r == 0 && (v = yamlx_get(&c->y, n, "files")))
		r = jobcfg_seq(&c->y, v, "inputs.files", JOBCFG_MAX_FILES, files);
	return r;
}

/* One input, appended to cfg->inputs; nodes[i] is the node of input i. */
static int jobcfg_input_add(struct jobcfg_ctx *c, yaml_node_t *n, const char *field,
			    enum jobcfg_kind kind, yaml_node_t **nodes)
{
	size_t k = c->cfg->n_inputs;
	int r;

	nodes[k] = n;
	r = jobcfg_input(c, n, field, kind, &c->cfg->inputs[k]);
	c->cfg->n_inputs = k + 1; /* freed by jobcfg_free() even when incomplete */
	return r;
}

static int jobcfg_input_list(struct jobcfg_ctx *c, const yaml_node_t *n, const char *key,
			     enum jobcfg_kind kind, size_t count, yaml_node_t **nodes)
{
	yaml_node_t *list = yamlx_get(&c->y, n, key);
	char f[JOBCFG_FIELD_MAX];
	int r = 0;

	for (size_t i = 0; r == 0 && i < count; i++) {
		snprintf(f, sizeof(f), "inputs.%s[%zu]", key, i);
		r = jobcfg_input_add(c, yamlx_item(&c->y, list, i), f, kind, nodes);
	}
	return r;
}

int jobcfg_inputs(struct jobcfg_ctx *c, const yaml_node_t *root)
{
	static const char *const keys[] = {"base_model", "datasets", "code", "files", NULL};
	yaml_node_t *n, *code, *model, **nodes = NULL;
	size_t datasets, files, total;
	int r;

	r = jobcfg_req(&c->y, root, "", "inputs", &n);
	if (r == 0)
		r = jobcfg_map(&c->y, n, "inputs", keys);
	if (r == 0)
		r = jobcfg_inputs_count(c, n, &datasets, &files);
	if (r < 0)
		return r;
	model = yamlx_get(&c->y, n, "base_model");
	total = (model ? 1 : 0) + datasets + 1 + files;
	c->cfg->inputs = calloc(total, sizeof(*c->cfg->inputs));
	nodes = calloc(total, sizeof(*nodes));
	if (!c->cfg->inputs || !nodes) {
		free(nodes);
		return AICERT_ERR_NOMEM;
	}
	if (model)
		r = jobcfg_input_add(c, model, "inputs.base_model", JOBCFG_KIND_BASE_MODEL, nodes);
	if (r == 0)
		r = jobcfg_input_list(c, n, "datasets", JOBCFG_KIND_DATASET, datasets, nodes);
	if (r == 0 && (r = jobcfg_req(&c->y, n, "inputs", "code", &code)) == 0)
		r = jobcfg_input_add(c, code, "inputs.code", JOBCFG_KIND_CODE, nodes);
	if (r == 0)
		r = jobcfg_input_list(c, n, "files", JOBCFG_KIND_FILE, files, nodes);
	if (r == 0)
		r = jobcfg_inputs_check(c, nodes);
	free(nodes);
	return r;
}
