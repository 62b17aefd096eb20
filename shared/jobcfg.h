/* The job file of `aicert run job.yaml`: what to train, on which runner,
 * from which inputs, and where the outputs and the proof go.
 *
 * Strict YAML (libyaml through yamlx): unknown keys, wrong types, missing
 * fields, sources that are not pinned or not https, and paths that escape the
 * workspace are rejected before anything is provisioned, with a message like
 *   "job.yaml:12:7: inputs.datasets[1].git.commit: expected a full
 *    40-hex-digit commit id (64 for a SHA-256 repository), found 'abc123'".
 * docs/job-config.md is the reference; examples/job-example.yaml the example.
 *
 * Two kinds of paths:
 *  - local paths (inputs' `path`, local git repositories, runner files,
 *    `proof.path`) name files on the controller's machine; relative ones are
 *    resolved against the job file's directory (base_dir);
 *  - workspace paths (`dest`, `training.workdir`, `training.metrics`,
 *    `outputs.dir`) name places in the runner's job workspace. They are
 *    checked and normalised lexically: relative, no empty component, no '..'
 *    that leaves the workspace; "." is the workspace itself. Whoever opens
 *    them must still refuse symlinks that lead outside (openat2
 *    RESOLVE_BENEATH or equivalent).
 */
#ifndef AICERT_JOBCFG_H
#define AICERT_JOBCFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOBCFG_VERSION       1
#define JOBCFG_MAX_BYTES     (256u << 10) /* the job file */
#define JOBCFG_MAX_NAME      64           /* job and input names */
#define JOBCFG_MAX_LOCAL     4096         /* a local path */
#define JOBCFG_MAX_WS_PATH   1024         /* a workspace path */
#define JOBCFG_MAX_URL       2048         /* an https:// URL or a git repository */
#define JOBCFG_MAX_DATASETS  64
#define JOBCFG_MAX_FILES     64
#define JOBCFG_MAX_ARGS      256
#define JOBCFG_MAX_ARG       4096         /* one argv item */
#define JOBCFG_MAX_ARGV      (128u << 10) /* all argv items together */
#define JOBCFG_MAX_ENV       128
#define JOBCFG_MAX_ENV_NAME  128
#define JOBCFG_MAX_ENV_VALUE 4096
#define JOBCFG_MAX_GLOBS     64
#define JOBCFG_MAX_GLOB      256
#define JOBCFG_MIN_TIMEOUT   1u               /* seconds */
#define JOBCFG_MAX_TIMEOUT   (7u * 24 * 3600) /* seconds: 7 days */

enum jobcfg_backend {
	JOBCFG_BACKEND_LOCAL,  /* swtpm, agent and executor as processes here */
	JOBCFG_BACKEND_QEMU,   /* the runner image under QEMU + OVMF + swtpm */
	JOBCFG_BACKEND_STATIC, /* an agent already running on an inventory host */
};

struct jobcfg_runner {
	enum jobcfg_backend backend;
	char *qemu_image; /* QEMU: the runner image, a resolved local path */
	uint32_t qemu_memory_mb;
	uint32_t qemu_cpus;
	char *static_inventory; /* STATIC: the fleet inventory, a resolved local path */
	char *static_host;      /* STATIC: the host's name in it */
};

/* The kind recorded in the input event (events.h). */
enum jobcfg_kind {
	JOBCFG_KIND_BASE_MODEL,
	JOBCFG_KIND_DATASET,
	JOBCFG_KIND_CODE,
	JOBCFG_KIND_FILE,
};

enum jobcfg_source {
	JOBCFG_SOURCE_PATH, /* a local file or directory */
	JOBCFG_SOURCE_GIT,  /* a git repository at a pinned commit */
	JOBCFG_SOURCE_URL,  /* an https:// download */
};

struct jobcfg_input {
	enum jobcfg_kind kind;
	char *name; /* "base_model", "code", or the name the file gives */
	enum jobcfg_source source;
	/* PATH: the path as written; GIT: the repository as written (https://
	 * URL or local path); URL: the URL. */
	char *location;
	/* PATH and local git repositories: location resolved against base_dir
	 * (a copy when absolute or when base_dir is NULL). URLs: a copy. */
	char *resolved;
	bool git_is_url;    /* GIT: the repository is an https:// URL */
	char *git_commit;   /* GIT: 40 or 64 lowercase hex digits */
	char *git_subdir;   /* GIT: normalised path inside the repository, "." for all */
	bool has_sha256;    /* URL: an expected digest was given */
	uint8_t sha256[32]; /* URL: the expected digest */
	char *dest;         /* normalised workspace path the input is staged at */
	char *field;        /* "inputs.datasets[1]" and so on, for messages */
	uint32_t line;      /* 1-based position of the input in the job file */
	uint32_t col;
};

struct jobcfg_env {
	char *name;
	char *value;
};

enum jobcfg_network {
	JOBCFG_NETWORK_NONE,    /* the training command runs without a network */
	JOBCFG_NETWORK_ALLOWED, /* it may reach the network (recorded in the proof) */
};

struct jobcfg_training {
	char **argv; /* argc items, then NULL */
	size_t argc;
	struct jobcfg_env *env; /* in file order, names unique */
	size_t n_env;
	char *workdir; /* workspace path, "." by default */
	uint32_t timeout_s;
	enum jobcfg_network network;
	char *metrics; /* workspace path of the job's metrics file, or NULL */
};

struct jobcfg_outputs {
	char *dir;      /* workspace path, never "." */
	char **include; /* globs relative to dir; none: every regular file */
	size_t n_include;
};

struct jobcfg {
	uint32_t version;
	char *file;         /* the name used in messages */
	char *base_dir;     /* what relative local paths were resolved against, or NULL */
	uint8_t sha256[32]; /* SHA-256 of the job file's bytes (job-start config_sha256) */
	char *name;
	struct jobcfg_runner runner;
	/* In this order: base_model if given, datasets in file order, code,
	 * files in file order. Names are unique across all of them. */
	struct jobcfg_input *inputs;
	size_t n_inputs;
	struct jobcfg_training training;
	struct jobcfg_outputs outputs;
	char *proof_path; /* resolved local path */
};

/* Reads and parses the job file at path (at most JOBCFG_MAX_BYTES); relative
 * local paths are resolved against the file's directory (lexically: the path
 * up to its last '/', or "."). cfg->sha256 is the digest of exactly the bytes
 * parsed. Writes *ret only on success; the caller frees it with jobcfg_free(). */
int jobcfg_load(const char *path, struct jobcfg **ret);

/* The same from memory. name is used in messages; base_dir resolves relative
 * local paths and may be NULL to keep them as written. */
int jobcfg_parse(const char *name, const char *base_dir, const uint8_t *buf, size_t len,
		 struct jobcfg **ret);

void jobcfg_free(struct jobcfg *cfg);

/* SHA-256 of a job file's bytes, as the job-start event records it. */
int jobcfg_sha256(const uint8_t *buf, size_t len, uint8_t out[32]);

/* "local", "qemu", "static"; "base_model", "dataset", "code", "file" (the
 * input event's kind); "path", "git", "url"; "none", "allowed". */
const char *jobcfg_backend_name(enum jobcfg_backend b);
const char *jobcfg_kind_name(enum jobcfg_kind k);
const char *jobcfg_source_name(enum jobcfg_source s);
const char *jobcfg_network_name(enum jobcfg_network n);

#endif
