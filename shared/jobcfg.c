/* The job file: the top level, runner, training, outputs and proof; loading
 * and freeing. Inputs are in jobcfg_inputs.c, value checks in
 * jobcfg_values.c. The reference is docs/job-config.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "err.h"
#include "fileio.h"
#include "jobcfg_internal.h"

#define JOBCFG_QEMU_MEMORY_MB 2048
#define JOBCFG_QEMU_CPUS      2

static const char *const jobcfg_backends[] = {"local", "qemu", "static", NULL};
static const char *const jobcfg_networks[] = {"none", "allowed", NULL};

const char *jobcfg_backend_name(enum jobcfg_backend b)
{
	return (unsigned)b < 3 ? jobcfg_backends[b] : "unknown";
}

const char *jobcfg_kind_name(enum jobcfg_kind k)
{
	static const char *const names[] = {"base_model", "dataset", "code", "file"};

	return (unsigned)k < 4 ? names[k] : "unknown";
}

const char *jobcfg_source_name(enum jobcfg_source s)
{
	static const char *const names[] = {"path", "git", "url"};

	return (unsigned)s < 3 ? names[s] : "unknown";
}

const char *jobcfg_network_name(enum jobcfg_network n)
{
	return (unsigned)n < 2 ? jobcfg_networks[n] : "unknown";
}

static void jobcfg_strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

void jobcfg_free(struct jobcfg *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_inputs; i++)
		jobcfg_input_clear(&cfg->inputs[i]);
	free(cfg->inputs);
	for (size_t i = 0; i < cfg->training.n_env; i++) {
		free(cfg->training.env[i].name);
		free(cfg->training.env[i].value);
	}
	free(cfg->training.env);
	jobcfg_strv_free(cfg->training.argv, cfg->training.argc);
	free(cfg->training.workdir);
	free(cfg->training.metrics);
	jobcfg_strv_free(cfg->outputs.include, cfg->outputs.n_include);
	free(cfg->outputs.dir);
	free(cfg->runner.qemu_image);
	free(cfg->runner.static_inventory);
	free(cfg->runner.static_host);
	free(cfg->proof_path);
	free(cfg->name);
	free(cfg->file);
	free(cfg->base_dir);
	free(cfg);
}

int jobcfg_sha256(const uint8_t *buf, size_t len, uint8_t out[32])
{
	unsigned int n = 0;

	if (EVP_Digest(buf, len, out, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return err_set(AICERT_ERR_CRYPTO, "SHA-256 of the job file failed");
	return 0;
}

static int jobcfg_version(struct jobcfg_ctx *c, const yaml_node_t *root)
{
	char shown[JOBCFG_SHOW_MAX + 1];
	yaml_node_t *n;
	const char *s;
	int r;

	r = jobcfg_req(&c->y, root, "", "version", &n);
	if (r == 0)
		r = jobcfg_str(&c->y, n, "version", JOBCFG_MAX_NAME, &s);
	if (r < 0)
		return r;
	if (strcmp(s, "1") != 0 || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
		jobcfg_show(s, shown, sizeof(shown));
		return jobcfg_err(&c->y, n, AICERT_ERR_INVALID, "version",
				  "expected 1 (the only version of this format), found '%s'",
				  shown);
	}
	c->cfg->version = JOBCFG_VERSION;
	return 0;
}

static int jobcfg_runner_qemu(struct jobcfg_ctx *c, const yaml_node_t *n)
{
	static const char *const keys[] = {"image", "memory_mb", "cpus", NULL};
	struct jobcfg_runner *run = &c->cfg->runner;
	yaml_node_t *v;
	int r;

	run->qemu_memory_mb = JOBCFG_QEMU_MEMORY_MB;
	run->qemu_cpus = JOBCFG_QEMU_CPUS;
	r = jobcfg_map(&c->y, n, "runner.options", keys);
	if (r == 0 && (r = jobcfg_req(&c->y, n, "runner.options", "image", &v)) == 0)
		r = jobcfg_local(c, v, "runner.options.image", NULL, &run->qemu_image);
	if (r == 0 && (v = yamlx_get(&c->y, n, "memory_mb")))
		r = jobcfg_u32(&c->y, v, "runner.options.memory_mb", 256, 1u << 20,
			       &run->qemu_memory_mb);
	if (r == 0 && (v = yamlx_get(&c->y, n, "cpus")))
		r = jobcfg_u32(&c->y, v, "runner.options.cpus", 1, 256, &run->qemu_cpus);
	return r;
}

static int jobcfg_runner_static(struct jobcfg_ctx *c, const yaml_node_t *n)
{
	static const char *const keys[] = {"inventory", "host", NULL};
	struct jobcfg_runner *run = &c->cfg->runner;
	yaml_node_t *v;
	int r;

	r = jobcfg_map(&c->y, n, "runner.options", keys);
	if (r == 0 && (r = jobcfg_req(&c->y, n, "runner.options", "inventory", &v)) == 0)
		r = jobcfg_local(c, v, "runner.options.inventory", NULL, &run->static_inventory);
	if (r == 0 && (r = jobcfg_req(&c->y, n, "runner.options", "host", &v)) == 0)
		r = jobcfg_name(&c->y, v, "runner.options.host", 253, &run->static_host);
	return r;
}

static int jobcfg_runner(struct jobcfg_ctx *c, const yaml_node_t *root)
{
	static const char *const keys[] = {"backend", "options", NULL};
	yaml_node_t *n, *v, *opts;
	unsigned b = 0;
	int r;

	r = jobcfg_req(&c->y, root, "", "runner", &n);
	if (r == 0)
		r = jobcfg_map(&c->y, n, "runner", keys);
	if (r == 0 && (r = jobcfg_req(&c->y, n, "runner", "backend", &v)) == 0)
		r = jobcfg_enum(&c->y, v, "runner.backend", jobcfg_backends, &b);
	if (r < 0)
		return r;
	c->cfg->runner.backend = (enum jobcfg_backend)b;
	opts = yamlx_get(&c->y, n, "options");
	switch (c->cfg->runner.backend) {
	case JOBCFG_BACKEND_QEMU:
		r = jobcfg_req(&c->y, n, "runner", "options", &opts);
		return r < 0 ? r : jobcfg_runner_qemu(c, opts);
	case JOBCFG_BACKEND_STATIC:
		r = jobcfg_req(&c->y, n, "runner", "options", &opts);
		return r < 0 ? r : jobcfg_runner_static(c, opts);
	default:
		if (opts && opts->type == YAML_MAPPING_NODE &&
		    opts->data.mapping.pairs.top != opts->data.mapping.pairs.start)
			return jobcfg_err(&c->y,
					  yaml_document_get_node(
						  &c->y.doc, opts->data.mapping.pairs.start->key),
					  AICERT_ERR_INVALID, "runner.options",
					  "the local backend takes no options");
		return opts ? jobcfg_map(&c->y, opts, "runner.options", NULL) : 0;
	}
}

static int jobcfg_command(struct jobcfg_ctx *c, const yaml_node_t *tr)
{
	struct jobcfg_training *t = &c->cfg->training;
	char f[JOBCFG_FIELD_MAX];
	size_t count, total = 0;
	yaml_node_t *n;
	const char *s;
	int r;

	r = jobcfg_req(&c->y, tr, "training", "command", &n);
	if (r == 0 && n->type == YAML_SCALAR_NODE)
		return jobcfg_err(&c->y, n, AICERT_ERR_INVALID, "training.command",
				  "expected a list of strings (argv), found a string; for a shell "
				  "write [sh, -c, '...']");
	if (r == 0)
		r = jobcfg_seq(&c->y, n, "training.command", JOBCFG_MAX_ARGS, &count);
	if (r == 0 && count == 0)
		r = jobcfg_err(&c->y, n, AICERT_ERR_INVALID, "training.command",
			       "expected at least the program to run, found an empty list");
	if (r < 0)
		return r;
	t->argv = calloc(count + 1, sizeof(*t->argv));
	if (!t->argv)
		return AICERT_ERR_NOMEM;
	for (size_t i = 0; r == 0 && i < count; i++) {
		yaml_node_t *item = yamlx_item(&c->y, n, i);

		snprintf(f, sizeof(f), "training.command[%zu]", i);
		r = jobcfg_str(&c->y, item, f, JOBCFG_MAX_ARG, &s);
		if (r == 0 && i == 0 && !*s)
			r = jobcfg_err(&c->y, item, AICERT_ERR_INVALID, f,
				       "expected the program to run, found an empty string");
		if (r == 0 && (total += strlen(s) + 1) > JOBCFG_MAX_ARGV)
			r = jobcfg_err(&c->y, n, AICERT_ERR_TOO_BIG, "training.command",
				       "expected at most %u bytes in all, found more",
				       JOBCFG_MAX_ARGV);
		if (r == 0 && (r = jobcfg_dup(s, &t->argv[i])) == 0)
			t->argc = i + 1;
	}
	return r;
}

/* Why the training command may not set name, or NULL. */
static const char *jobcfg_env_refused(const char *name)
{
	/* What glibc's UNSECURE_ENVVARS lists besides LD_* and TMPDIR. */
	static const char *const libc[] = {"GCONV_PATH",  "GETCONF_DIR", "HOSTALIASES",
					   "LOCALDOMAIN", "LOCPATH",     "MALLOC_TRACE",
					   "NIS_PATH",    "NLSPATH",     "RESOLV_HOST_CONF",
					   "RES_OPTIONS", "TZDIR",       NULL};

	if (strncmp(name, "LD_", 3) == 0)
		return "LD_* variables make the dynamic loader load code into the sandbox "
		       "and the programs that set it up; ship libraries as code instead";
	if (strncmp(name, "AICERT_", 7) == 0)
		return "AICERT_* variables are set by the job executor";
	for (size_t i = 0; libc[i]; i++)
		if (strcmp(name, libc[i]) == 0)
			return "it makes the C library load files from outside the measured "
			       "inputs (glibc drops it for setuid programs for the same reason)";
	return NULL;
}

static int jobcfg_env_name(struct jobcfg_ctx *c, const yaml_node_t *k, const char *name)
{
	char shown[JOBCFG_SHOW_MAX + 1], f[JOBCFG_FIELD_MAX];
	const char *why;
	bool ok = (*name >= 'A' && *name <= 'Z') || (*name >= 'a' && *name <= 'z') || *name == '_';

	for (const char *p = name; ok && *p; p++)
		ok = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_' ||
		     (*p >= '0' && *p <= '9');
	jobcfg_show(name, shown, sizeof(shown));
	if (!ok)
		return jobcfg_err(&c->y, k, AICERT_ERR_INVALID, "training.env",
				  "expected a variable name matching [A-Za-z_][A-Za-z0-9_]*, found "
				  "'%s'",
				  shown);
	why = jobcfg_env_refused(name);
	jobcfg_field(f, "training.env", shown);
	return why ? jobcfg_err(&c->y, k, AICERT_ERR_INVALID, f, "not allowed: %s", why) : 0;
}

/* Variable i of training.env: key k, value v. */
static int jobcfg_env_var(struct jobcfg_ctx *c, const yaml_node_t *k, const yaml_node_t *v,
			  size_t i)
{
	struct jobcfg_training *t = &c->cfg->training;
	char f[JOBCFG_FIELD_MAX];
	const char *name, *value;
	int r;

	r = jobcfg_str(&c->y, k, "training.env", JOBCFG_MAX_ENV_NAME, &name);
	if (r == 0)
		r = jobcfg_env_name(c, k, name);
	for (size_t j = 0; r == 0 && j < i; j++)
		if (strcmp(t->env[j].name, name) == 0)
			r = jobcfg_err(&c->y, k, AICERT_ERR_INVALID, "training.env",
				       "duplicate variable '%s'", name);
	if (r < 0)
		return r;
	jobcfg_field(f, "training.env", name);
	r = jobcfg_str(&c->y, v, f, JOBCFG_MAX_ENV_VALUE, &value);
	if (r == 0 && (r = jobcfg_dup(name, &t->env[i].name)) == 0)
		t->n_env = i + 1;
	return r < 0 ? r : jobcfg_dup(value, &t->env[i].value);
}

static int jobcfg_env(struct jobcfg_ctx *c, const yaml_node_t *tr)
{
	struct jobcfg_training *t = &c->cfg->training;
	yaml_node_t *n = yamlx_get(&c->y, tr, "env");
	size_t count;
	int r;

	if (!n)
		return 0;
	r = jobcfg_map(&c->y, n, "training.env", NULL);
	if (r < 0)
		return r;
	count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (count > JOBCFG_MAX_ENV)
		return jobcfg_err(&c->y, n, AICERT_ERR_TOO_BIG, "training.env",
				  "expected at most %d variables, found %zu", JOBCFG_MAX_ENV,
				  count);
	t->env = calloc(count ? count : 1, sizeof(*t->env));
	if (!t->env)
		return AICERT_ERR_NOMEM;
	for (size_t i = 0; r == 0 && i < count; i++) {
		yaml_node_pair_t *p = &n->data.mapping.pairs.start[i];

		r = jobcfg_env_var(c, yaml_document_get_node(&c->y.doc, p->key),
				   yaml_document_get_node(&c->y.doc, p->value), i);
	}
	return r;
}

/* "90s", "30m", "12h", "7d": a count and one unit. */
static int jobcfg_timeout(struct jobcfg_ctx *c, const yaml_node_t *tr)
{
	static const char units[] = "smhd";
	static const uint64_t scale[] = {1, 60, 3600, 86400};
	char shown[JOBCFG_SHOW_MAX + 1];
	const char *s, *u;
	uint64_t v = 0;
	yaml_node_t *n;
	size_t digits;
	int r;

	r = jobcfg_req(&c->y, tr, "training", "timeout", &n);
	if (r == 0)
		r = jobcfg_str(&c->y, n, "training.timeout", JOBCFG_MAX_NAME, &s);
	if (r < 0)
		return r;
	digits = strspn(s, "0123456789");
	u = digits ? strchr(units, s[digits]) : NULL;
	jobcfg_show(s, shown, sizeof(shown));
	if (!u || !*u || s[digits + 1] != '\0' || digits > 9)
		return jobcfg_err(&c->y, n, AICERT_ERR_INVALID, "training.timeout",
				  "expected a duration such as 90s, 30m, 12h or 7d, found '%s'",
				  shown);
	for (size_t i = 0; i < digits; i++)
		v = v * 10 + (uint64_t)(s[i] - '0');
	v *= scale[u - units];
	if (v < JOBCFG_MIN_TIMEOUT || v > JOBCFG_MAX_TIMEOUT)
		return jobcfg_err(&c->y, n, AICERT_ERR_INVALID, "training.timeout",
				  "expected a duration from 1s to 7d, found '%s'", shown);
	c->cfg->training.timeout_s = (uint32_t)v;
	return 0;
}

static int jobcfg_training(struct jobcfg_ctx *c, const yaml_node_t *root)
{
	static const char *const keys[] = {"command", "env",     "workdir", "timeout",
					   "network", "metrics", NULL};
	struct jobcfg_training *t = &c->cfg->training;
	yaml_node_t *n, *v;
	unsigned net = 0;
	int r;

	r = jobcfg_req(&c->y, root, "", "training", &n);
	if (r == 0)
		r = jobcfg_map(&c->y, n, "training", keys);
	if (r == 0)
		r = jobcfg_command(c, n);
	if (r == 0)
		r = jobcfg_env(c, n);
	if (r == 0 && (v = yamlx_get(&c->y, n, "workdir")))
		r = jobcfg_wspath(&c->y, v, "training.workdir", &t->workdir);
	if (r == 0 && !t->workdir)
		r = jobcfg_dup(".", &t->workdir);
	if (r == 0)
		r = jobcfg_timeout(c, n);
	if (r == 0 && (v = yamlx_get(&c->y, n, "network")))
		r = jobcfg_enum(&c->y, v, "training.network", jobcfg_networks, &net);
	t->network = (enum jobcfg_network)net;
	if (r == 0 && (v = yamlx_get(&c->y, n, "metrics")) &&
	    (r = jobcfg_wspath(&c->y, v, "training.metrics", &t->metrics)) == 0 &&
	    strcmp(t->metrics, ".") == 0)
		r = jobcfg_err(&c->y, v, AICERT_ERR_INVALID, "training.metrics",
			       "expected a file inside the workspace, found '.'");
	return r;
}

/* A glob relative to outputs.dir: no empty, '.' or '..' component. */
static int jobcfg_glob(struct jobcfg_ctx *c, const yaml_node_t *n, const char *field, char **out)
{
	char shown[JOBCFG_SHOW_MAX + 1];
	const char *s, *why = NULL;
	int r;

	r = jobcfg_str(&c->y, n, field, JOBCFG_MAX_GLOB, &s);
	if (r < 0)
		return r;
	if (*s == '/')
		why = "it is absolute";
	for (const char *p = s; !why;) {
		size_t len = strcspn(p, "/");

		if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && !strncmp(p, "..", 2)))
			why = "it has an empty, '.' or '..' component";
		for (size_t i = 0; !why && i < len; i++)
			if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
				why = "it contains a control character";
		if (!p[len])
			break;
		p += len + 1;
	}
	if (why) {
		jobcfg_show(s, shown, sizeof(shown));
		return jobcfg_err(&c->y, n, AICERT_ERR_INVALID, field,
				  "expected a glob relative to outputs.dir, found '%s' (%s)", shown,
				  why);
	}
	return jobcfg_dup(s, out);
}

/* outputs.dir is not inside a staged input (the code's tree excepted) and
 * holds none: outputs are never inputs. */
static int jobcfg_outputs_check(struct jobcfg_ctx *c, const yaml_node_t *dir)
{
	const char *out = c->cfg->outputs.dir;

	for (size_t i = 0; i < c->cfg->n_inputs; i++) {
		const struct jobcfg_input *in = &c->cfg->inputs[i];

		if (jobcfg_ws_within(out, in->dest) ||
		    (in->kind != JOBCFG_KIND_CODE && jobcfg_ws_within(in->dest, out)))
			return jobcfg_err(&c->y, dir, AICERT_ERR_INVALID, "outputs.dir",
					  "'%s' overlaps the destination of %s ('%s')", out,
					  in->field, in->dest);
	}
	return 0;
}

static int jobcfg_outputs(struct jobcfg_ctx *c, const yaml_node_t *root)
{
	static const char *const keys[] = {"dir", "include", NULL};
	struct jobcfg_outputs *o = &c->cfg->outputs;
	char f[JOBCFG_FIELD_MAX];
	yaml_node_t *n, *dir = NULL, *v;
	size_t count = 0;
	int r;

	r = jobcfg_req(&c->y, root, "", "outputs", &n);
	if (r == 0)
		r = jobcfg_map(&c->y, n, "outputs", keys);
	if (r == 0 && (r = jobcfg_req(&c->y, n, "outputs", "dir", &dir)) == 0)
		r = jobcfg_wspath(&c->y, dir, "outputs.dir", &o->dir);
	if (r == 0 && strcmp(o->dir, ".") == 0)
		r = jobcfg_err(&c->y, dir, AICERT_ERR_INVALID, "outputs.dir",
			       "expected a directory below the workspace root, found '.'");
	if (r == 0)
		r = jobcfg_outputs_check(c, dir);
	if (r < 0 || !(v = yamlx_get(&c->y, n, "include")))
		return r;
	r = jobcfg_seq(&c->y, v, "outputs.include", JOBCFG_MAX_GLOBS, &count);
	if (r == 0 && count == 0)
		r = jobcfg_err(&c->y, v, AICERT_ERR_INVALID, "outputs.include",
			       "expected at least one glob, found an empty list (leave include out "
			       "to take every file)");
	if (r == 0 && !(o->include = calloc(count ? count : 1, sizeof(*o->include))))
		r = AICERT_ERR_NOMEM;
	for (size_t i = 0; r == 0 && i < count; i++) {
		snprintf(f, sizeof(f), "outputs.include[%zu]", i);
		r = jobcfg_glob(c, yamlx_item(&c->y, v, i), f, &o->include[i]);
		if (r == 0)
			o->n_include = i + 1;
	}
	return r;
}

static int jobcfg_proof(struct jobcfg_ctx *c, const yaml_node_t *root)
{
	static const char *const keys[] = {"path", NULL};
	yaml_node_t *n, *v;
	int r;

	r = jobcfg_req(&c->y, root, "", "proof", &n);
	if (r == 0)
		r = jobcfg_map(&c->y, n, "proof", keys);
	if (r == 0 && (r = jobcfg_req(&c->y, n, "proof", "path", &v)) == 0)
		r = jobcfg_local(c, v, "proof.path", NULL, &c->cfg->proof_path);
	return r;
}

static int jobcfg_root(struct jobcfg_ctx *c)
{
	static const char *const keys[] = {"version",  "name",    "runner", "inputs",
					   "training", "outputs", "proof",  NULL};
	yaml_node_t *root = yamlx_root(&c->y), *n;
	int r;

	r = jobcfg_map(&c->y, root, "", keys);
	if (r == 0)
		r = jobcfg_version(c, root);
	if (r == 0 && (r = jobcfg_req(&c->y, root, "", "name", &n)) == 0)
		r = jobcfg_name(&c->y, n, "name", JOBCFG_MAX_NAME, &c->cfg->name);
	if (r == 0)
		r = jobcfg_runner(c, root);
	if (r == 0)
		r = jobcfg_inputs(c, root);
	if (r == 0)
		r = jobcfg_training(c, root);
	if (r == 0)
		r = jobcfg_outputs(c, root);
	if (r == 0)
		r = jobcfg_proof(c, root);
	return r;
}

int jobcfg_parse(const char *name, const char *base_dir, const uint8_t *buf, size_t len,
		 struct jobcfg **ret)
{
	struct jobcfg_ctx c = {.base_dir = base_dir};
	struct jobcfg *cfg = NULL;
	int r;

	if (len > JOBCFG_MAX_BYTES)
		return err_set(AICERT_ERR_TOO_BIG, "%s: %zu bytes, at most %u allowed", name, len,
			       JOBCFG_MAX_BYTES);
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return AICERT_ERR_NOMEM;
	r = jobcfg_sha256(buf, len, cfg->sha256);
	if (r == 0)
		r = jobcfg_dup(name, &cfg->file);
	if (r == 0 && base_dir)
		r = jobcfg_dup(base_dir, &cfg->base_dir);
	if (r == 0)
		r = yamlx_load_buf(name, buf, len, &c.y);
	if (r < 0)
		goto out;
	c.cfg = cfg;
	r = jobcfg_root(&c);
	if (r < 0)
		goto out;
	*ret = cfg;
	cfg = NULL;
out:
	yamlx_free(&c.y);
	jobcfg_free(cfg);
	return r;
}

/* The directory part of path, lexically: "." when there is none. */
static int jobcfg_dirname(const char *path, char **out)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return jobcfg_dup(".", out);
	while (slash > path && slash[-1] == '/')
		slash--;
	*out = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
	return *out ? 0 : AICERT_ERR_NOMEM;
}

int jobcfg_load(const char *path, struct jobcfg **ret)
{
	uint8_t *buf = NULL;
	char *dir = NULL;
	size_t len;
	int r;

	r = fileio_read_all(path, JOBCFG_MAX_BYTES, &buf, &len);
	if (r < 0)
		return r;
	r = jobcfg_dirname(path, &dir);
	if (r == 0)
		r = jobcfg_parse(path, dir, buf, len, ret);
	free(dir);
	free(buf);
	return r;
}
