/* The job file of `aicert run`: the shipped example parses to exactly what it
 * says, defaults apply, and every kind of mistake is rejected with
 * file:line:col, the field and what was expected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "fileio.h"
#include "hex.h"
#include "jobcfg.h"

#define EXAMPLE AICERT_SOURCE_DIR "/examples/job-example.yaml"
#define DOC     AICERT_SOURCE_DIR "/docs/job-config.md"

#define C40 "4b0746c492df5f5f17613af812a6dae2af1d8ea8"
#define S64 "0d5a0c6f3c1b6d2f9f1f0e6f5a2c3b4d5e6f708192a3b4c5d6e7f8091a2b3c4d"

/* A minimal valid job, one part per macro so that a case can swap one part
 * and still know its line numbers. */
#define HEAD     "version: 1\nname: t\n"                            /* lines 1-2 */
#define RUNNER   "runner: {backend: local}\n"                       /* line 3 */
#define INPUTS   "inputs:\n  code: {path: src}\n"                   /* lines 4-5 */
#define TRAINING "training:\n  command: [./train]\n  timeout: 1h\n" /* lines 6-8 */
#define OUTPUTS  "outputs: {dir: out}\n"                            /* line 9 */
#define PROOF    "proof: {path: proof.json}\n"                      /* line 10 */
#define TAIL     OUTPUTS PROOF
#define MINIMAL  HEAD RUNNER INPUTS TRAINING TAIL
/* Inputs and training in place of lines 4-8, which then shift TAIL. */
#define JOB_IN(in) HEAD RUNNER in TRAINING TAIL
#define JOB_TR(tr) HEAD RUNNER INPUTS tr TAIL
#define TR_WITH(x) "training:\n  command: [./train]\n  timeout: 1h\n" x /* x from line 9 */

static int parse(const char *text, struct jobcfg **cfg)
{
	return jobcfg_parse("job.yaml", "/jobs", (const uint8_t *)text, strlen(text), cfg);
}

static struct jobcfg *parse_ok(const char *text)
{
	struct jobcfg *cfg = NULL;
	int r = parse(text, &cfg);

	if (r != 0)
		fail_msg("rejected: %s\n---\n%s", err_msg(r), text);
	return cfg;
}

struct bad {
	const char *text;
	int code;
	const char *want; /* the message starts with this */
};

/* Runs every case, reports each mismatch, then fails if there was one. */
static void expect_all(const struct bad *cases, size_t n)
{
	size_t failed = 0;

	for (size_t i = 0; i < n; i++) {
		struct jobcfg *cfg = NULL;
		int r;

		err_clear();
		r = parse(cases[i].text, &cfg);
		if (r == 0) {
			jobcfg_free(cfg);
			print_error("case %zu accepted:\n%s\n", i, cases[i].text);
			failed++;
			continue;
		}
		assert_null(cfg);
		if (r != cases[i].code ||
		    strncmp(err_msg(r), cases[i].want, strlen(cases[i].want)) != 0) {
			print_error("case %zu: got %d '%s'\n   want %d '%s...'\n", i, r, err_msg(r),
				    cases[i].code, cases[i].want);
			failed++;
		}
	}
	if (failed)
		fail_msg("%zu of %zu cases failed", failed, n);
}

#define EXPECT(...)                                                                                \
	do {                                                                                       \
		static const struct bad cases_[] = {__VA_ARGS__};                                  \
		expect_all(cases_, sizeof(cases_) / sizeof(cases_[0]));                            \
	} while (0)
#define INV AICERT_ERR_INVALID
#define BIG AICERT_ERR_TOO_BIG

static const struct jobcfg_input *input(const struct jobcfg *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_inputs; i++)
		if (strcmp(cfg->inputs[i].name, name) == 0)
			return &cfg->inputs[i];
	fail_msg("no input '%s'", name);
	return NULL;
}

static void jobcfg_example_parses_with_every_field(void **state)
{
	struct jobcfg *cfg = NULL;
	const struct jobcfg_input *in;
	uint8_t *bytes, digest[32];
	size_t len;

	assert_int_equal(jobcfg_load(EXAMPLE, &cfg), 0);
	assert_int_equal(fileio_read_all(EXAMPLE, 1 << 20, &bytes, &len), 0);
	assert_int_equal(jobcfg_sha256(bytes, len, digest), 0);
	assert_memory_equal(cfg->sha256, digest, 32);
	free(bytes);

	assert_string_equal(cfg->file, EXAMPLE);
	assert_string_equal(cfg->base_dir, AICERT_SOURCE_DIR "/examples");
	assert_int_equal(cfg->version, 1);
	assert_string_equal(cfg->name, "tiny-finetune");
	assert_int_equal(cfg->runner.backend, JOBCFG_BACKEND_LOCAL);
	assert_null(cfg->runner.qemu_image);

	assert_int_equal(cfg->n_inputs, 5);
	in = &cfg->inputs[0];
	assert_int_equal(in->kind, JOBCFG_KIND_BASE_MODEL);
	assert_string_equal(in->name, "base_model");
	assert_int_equal(in->source, JOBCFG_SOURCE_PATH);
	assert_string_equal(in->location, "model/base.safetensors");
	assert_string_equal(in->resolved, AICERT_SOURCE_DIR "/examples/model/base.safetensors");
	assert_string_equal(in->dest, "inputs/base_model");
	assert_string_equal(in->field, "inputs.base_model");
	assert_int_equal(in->line, 19);
	assert_int_equal(in->col, 5);

	in = &cfg->inputs[1];
	assert_int_equal(in->kind, JOBCFG_KIND_DATASET);
	assert_string_equal(in->name, "train");
	assert_string_equal(in->location, "data/train.jsonl");
	assert_string_equal(in->dest, "inputs/train");

	in = &cfg->inputs[2];
	assert_int_equal(in->kind, JOBCFG_KIND_DATASET);
	assert_string_equal(in->name, "eval");
	assert_int_equal(in->source, JOBCFG_SOURCE_GIT);
	assert_true(in->git_is_url);
	assert_string_equal(in->location, "https://example.org/datasets/eval.git");
	assert_string_equal(in->resolved, in->location);
	assert_string_equal(in->git_commit, C40);
	assert_string_equal(in->git_subdir, "jsonl");
	assert_string_equal(in->dest, "data/eval");
	assert_string_equal(in->field, "inputs.datasets[1]");
	assert_false(in->has_sha256);

	in = &cfg->inputs[3];
	assert_int_equal(in->kind, JOBCFG_KIND_CODE);
	assert_string_equal(in->name, "code");
	assert_string_equal(in->location, "src");
	assert_string_equal(in->dest, ".");

	in = &cfg->inputs[4];
	assert_int_equal(in->kind, JOBCFG_KIND_FILE);
	assert_string_equal(in->name, "tokenizer");
	assert_int_equal(in->source, JOBCFG_SOURCE_URL);
	assert_string_equal(in->location, "https://example.org/models/tokenizer.json");
	assert_true(in->has_sha256);
	assert_int_equal(hex_decode(S64, digest, 32, &len), 0);
	assert_memory_equal(in->sha256, digest, 32);
	assert_string_equal(in->dest, "inputs/tokenizer");

	assert_int_equal(cfg->training.argc, 6);
	assert_string_equal(cfg->training.argv[0], "python3");
	assert_string_equal(cfg->training.argv[3], "3");
	assert_string_equal(cfg->training.argv[5], "outputs");
	assert_null(cfg->training.argv[6]);
	assert_int_equal(cfg->training.n_env, 2);
	assert_string_equal(cfg->training.env[0].name, "OMP_NUM_THREADS");
	assert_string_equal(cfg->training.env[0].value, "2");
	assert_string_equal(cfg->training.env[1].name, "PYTHONHASHSEED");
	assert_string_equal(cfg->training.env[1].value, "0");
	assert_string_equal(cfg->training.workdir, ".");
	assert_int_equal(cfg->training.timeout_s, 1800);
	assert_int_equal(cfg->training.network, JOBCFG_NETWORK_NONE);
	assert_string_equal(cfg->training.metrics, "outputs/metrics.json");

	assert_string_equal(cfg->outputs.dir, "outputs");
	assert_int_equal(cfg->outputs.n_include, 3);
	assert_string_equal(cfg->outputs.include[0], "*.safetensors");
	assert_string_equal(cfg->outputs.include[2], "tokenizer/*");
	assert_string_equal(cfg->proof_path,
			    AICERT_SOURCE_DIR "/examples/tiny-finetune.proof.json");
	jobcfg_free(cfg);
}

/* docs/job-config.md shows the example file verbatim, and every YAML block
 * in it is a valid job. */
static void jobcfg_doc_shows_the_example(void **state)
{
	uint8_t *doc, *example;
	size_t doc_len, ex_len, blocks = 0;
	char *p;

	assert_int_equal(fileio_read_all(DOC, 1 << 20, &doc, &doc_len), 0);
	assert_int_equal(fileio_read_all(EXAMPLE, 1 << 20, &example, &ex_len), 0);
	if (!strstr((char *)doc, (char *)example))
		fail_msg("docs/job-config.md does not contain examples/job-example.yaml verbatim");
	for (p = (char *)doc; (p = strstr(p, "```yaml\n")); blocks++) {
		char *end = strstr(p += 8, "```\n");
		struct jobcfg *cfg = NULL;

		assert_non_null(end);
		*end = '\0';
		if (jobcfg_parse("doc", NULL, (const uint8_t *)p, strlen(p), &cfg) != 0)
			fail_msg("a YAML block of the doc: %s", err_msg(AICERT_ERR_INVALID));
		jobcfg_free(cfg);
		p = end + 4;
	}
	assert_int_equal(blocks, 2);
	free(doc);
	free(example);
}

static void jobcfg_minimal_job_gets_defaults(void **state)
{
	struct jobcfg *cfg;

	cfg = parse_ok(MINIMAL);
	assert_int_equal(cfg->n_inputs, 1);
	assert_string_equal(cfg->inputs[0].resolved, "/jobs/src");
	assert_string_equal(cfg->inputs[0].dest, ".");
	assert_string_equal(cfg->training.workdir, ".");
	assert_int_equal(cfg->training.timeout_s, 3600);
	assert_int_equal(cfg->training.network, JOBCFG_NETWORK_NONE);
	assert_null(cfg->training.metrics);
	assert_int_equal(cfg->training.n_env, 0);
	assert_int_equal(cfg->outputs.n_include, 0);
	assert_string_equal(cfg->proof_path, "/jobs/proof.json");
	jobcfg_free(cfg);

	/* Without a base directory, relative paths stay as written. */
	assert_int_equal(jobcfg_parse("j", NULL, (const uint8_t *)MINIMAL, strlen(MINIMAL), &cfg),
			 0);
	assert_null(cfg->base_dir);
	assert_string_equal(cfg->inputs[0].resolved, "src");
	assert_string_equal(cfg->proof_path, "proof.json");
	jobcfg_free(cfg);
}

static void jobcfg_reads_other_runners_and_sources(void **state)
{
	struct jobcfg *cfg;

	cfg = parse_ok(HEAD "runner:\n  backend: qemu\n  options: {image: /img/r.qcow2, cpus: 4}\n"
			    "inputs:\n  code: {git: {repo: ../repo, commit: " S64
			    "}}\n  files:\n    - {name: w, path: /abs/w.bin, dest: a/./b/../w}\n"
			    "    - {name: u, url: 'https://[::1]:8443/x?y=1'}\n" TRAINING TAIL);
	assert_int_equal(cfg->runner.backend, JOBCFG_BACKEND_QEMU);
	assert_string_equal(cfg->runner.qemu_image, "/img/r.qcow2");
	assert_int_equal(cfg->runner.qemu_memory_mb, 2048);
	assert_int_equal(cfg->runner.qemu_cpus, 4);
	assert_false(input(cfg, "code")->git_is_url);
	assert_string_equal(input(cfg, "code")->resolved, "/jobs/../repo");
	assert_string_equal(input(cfg, "code")->git_commit, S64);
	assert_string_equal(input(cfg, "code")->git_subdir, ".");
	assert_string_equal(input(cfg, "w")->resolved, "/abs/w.bin");
	assert_string_equal(input(cfg, "w")->dest, "a/w");
	assert_false(input(cfg, "u")->has_sha256);
	jobcfg_free(cfg);

	cfg = parse_ok(HEAD "runner:\n  backend: static\n  options: {inventory: fleet.yaml, host: "
			    "gpu-1.example}\n" INPUTS
			    "training:\n  command: [sh, -c, \"echo hi\\nexit 0\", '']\n"
			    "  timeout: 7d\n  network: allowed\n  workdir: a/../b\n"
			    "  env: {EMPTY: \"\", _X1: yes}\n" TAIL);
	assert_int_equal(cfg->runner.backend, JOBCFG_BACKEND_STATIC);
	assert_string_equal(cfg->runner.static_inventory, "/jobs/fleet.yaml");
	assert_string_equal(cfg->runner.static_host, "gpu-1.example");
	assert_string_equal(cfg->training.argv[2], "echo hi\nexit 0");
	assert_string_equal(cfg->training.argv[3], "");
	assert_int_equal(cfg->training.timeout_s, 7 * 86400);
	assert_int_equal(cfg->training.network, JOBCFG_NETWORK_ALLOWED);
	assert_string_equal(cfg->training.workdir, "b");
	assert_string_equal(cfg->training.env[0].value, "");
	assert_string_equal(cfg->training.env[1].value, "yes");
	jobcfg_free(cfg);

	jobcfg_free(parse_ok(HEAD "runner: {backend: local, options: {}}\n" INPUTS TRAINING TAIL));
	cfg = parse_ok(JOB_TR("training:\n  command: [x]\n  timeout: 1s\n"));
	assert_int_equal(cfg->training.timeout_s, 1);
	jobcfg_free(cfg);
	cfg = parse_ok(JOB_TR("training:\n  command: [x]\n  timeout: 10080m\n"));
	assert_int_equal(cfg->training.timeout_s, 604800);
	jobcfg_free(cfg);
}

static void jobcfg_rejects_unknown_keys_at_every_level(void **state)
{
	EXPECT({MINIMAL "extra: 1\n", INV,
		"job.yaml:11:1: unknown key 'extra' (expected one of: version, name, runner, "
		"inputs, training, outputs, proof)"},
	       {HEAD "runner:\n  backend: local\n  backnd: qemu\n" INPUTS TRAINING TAIL, INV,
		"job.yaml:5:3: runner: unknown key 'backnd' (expected one of: backend, options)"},
	       {HEAD
		"runner:\n  backend: qemu\n  options: {image: i.qcow2, disk: 2}\n" INPUTS TRAINING
			TAIL,
		INV, "job.yaml:5:29: runner.options: unknown key 'disk'"},
	       {HEAD "runner:\n  backend: local\n  options: {image: x}\n" INPUTS TRAINING TAIL, INV,
		"job.yaml:5:13: runner.options: the local backend takes no options"},
	       {JOB_IN("inputs:\n  code: {path: src}\n  model: {path: m}\n"), INV,
		"job.yaml:6:3: inputs: unknown key 'model' (expected one of: base_model, "
		"datasets, code, files)"},
	       {JOB_IN("inputs:\n  code:\n    path: src\n    ref: main\n"), INV,
		"job.yaml:7:5: inputs.code: unknown key 'ref'"},
	       {JOB_IN("inputs:\n  code:\n    git:\n      repo: https://h/r.git\n      commit: " C40
		       "\n      branch: main\n"),
		INV,
		"job.yaml:9:7: inputs.code.git: unknown key 'branch' (expected one of: repo, "
		"commit, path)"},
	       {JOB_IN("inputs:\n  code: {path: src}\n  datasets:\n    - {name: a, path: a, "
		       "size: 3}\n"),
		INV, "job.yaml:7:26: inputs.datasets[0]: unknown key 'size'"},
	       {JOB_IN("inputs:\n  code: {path: src, name: c}\n"), INV,
		"job.yaml:5:21: inputs.code: unknown key 'name'"},
	       {JOB_TR(TR_WITH("  retries: 3\n")), INV,
		"job.yaml:9:3: training: unknown key 'retries'"},
	       {HEAD RUNNER INPUTS TRAINING "outputs: {dir: out, exclude: [x]}\n" PROOF, INV,
		"job.yaml:9:21: outputs: unknown key 'exclude' (expected one of: dir, include)"},
	       {HEAD RUNNER INPUTS TRAINING OUTPUTS "proof: {path: p.json, sign: true}\n", INV,
		"job.yaml:10:23: proof: unknown key 'sign' (expected one of: path)"},
	       {MINIMAL "name: u\n", INV, "job.yaml:11:1: duplicate key 'name' (first at line 2)"},
	       {HEAD "runner: {backend: local, backend: qemu}\n" INPUTS TRAINING TAIL, INV,
		"job.yaml:3:26: runner: duplicate key 'backend'"},
	       {HEAD "runner: {backend: local, [a]: b}\n" INPUTS TRAINING TAIL, INV,
		"job.yaml:3:26: runner: keys must be plain strings"});
}

static void jobcfg_rejects_wrong_types(void **state)
{
	EXPECT({"- a\n", INV, "job.yaml:1:1: expected a mapping, found a list"},
	       {"version: 1\nname: [a]\n" RUNNER INPUTS TRAINING TAIL, INV,
		"job.yaml:2:7: name: expected a string, found a list"},
	       {"version: 1\nname:\n" RUNNER INPUTS TRAINING TAIL, INV,
		"job.yaml:2:6: name: expected a string, found null"},
	       {"version: 1\nname: ~\n" RUNNER INPUTS TRAINING TAIL, INV,
		"job.yaml:2:7: name: expected a string, found null"},
	       {"version: 1\nname: a b\n" RUNNER INPUTS TRAINING TAIL, INV,
		"job.yaml:2:7: name: expected a name of letters, digits"},
	       {"version: 2\nname: t\n" RUNNER INPUTS TRAINING TAIL, INV,
		"job.yaml:1:10: version: expected 1 (the only version of this format), found '2'"},
	       {"version: \"1\"\nname: t\n" RUNNER INPUTS TRAINING TAIL, INV,
		"job.yaml:1:10: version: expected 1"},
	       {HEAD "runner: local\n" INPUTS TRAINING TAIL, INV,
		"job.yaml:3:9: runner: expected a mapping, found a string"},
	       {HEAD "runner: {backend: docker}\n" INPUTS TRAINING TAIL, INV,
		"job.yaml:3:19: runner.backend: expected one of: local, qemu, static; found "
		"'docker'"},
	       {HEAD
		"runner: {backend: qemu, options: {image: i, memory_mb: lots}}\n" INPUTS TRAINING
			TAIL,
		INV,
		"job.yaml:3:56: runner.options.memory_mb: expected an integer from 256 to 1048576"},
	       {HEAD "runner: {backend: qemu, options: {image: i, cpus: !!int 2}}\n" INPUTS TRAINING
			TAIL,
		INV, "job.yaml:3:51: runner.options.cpus: YAML tags are not allowed"},
	       {JOB_IN("inputs:\n  code: {path: src}\n  datasets: {name: x}\n"), INV,
		"job.yaml:6:13: inputs.datasets: expected a list, found a mapping"},
	       {JOB_IN("inputs:\n  code: [src]\n"), INV,
		"job.yaml:5:9: inputs.code: expected a mapping, found a list"},
	       {JOB_IN("inputs:\n  code: {path: [a]}\n"), INV,
		"job.yaml:5:16: inputs.code.path: expected a string, found a list"},
	       {JOB_TR("training:\n  command: ./train --fast\n  timeout: 1h\n"), INV,
		"job.yaml:7:12: training.command: expected a list of strings (argv), found a "
		"string"},
	       {JOB_TR("training:\n  command: [[a]]\n  timeout: 1h\n"), INV,
		"job.yaml:7:13: training.command[0]: expected a string, found a list"},
	       {JOB_TR(TR_WITH("  env: [A]\n")), INV,
		"job.yaml:9:8: training.env: expected a mapping, found a list"},
	       {JOB_TR(TR_WITH("  env: {A: {b: c}}\n")), INV,
		"job.yaml:9:12: training.env.A: expected a string, found a mapping"},
	       {JOB_TR(TR_WITH("  env: {A: }\n")), INV,
		"job.yaml:9:12: training.env.A: expected a string, found null"},
	       {JOB_TR(TR_WITH("  network: off\n")), INV,
		"job.yaml:9:12: training.network: expected one of: none, allowed; found 'off'"},
	       {JOB_TR("training:\n  command: [x]\n  timeout: !duration 1h\n"), INV,
		"job.yaml:8:12: training.timeout: YAML tags are not allowed, found "
		"'!duration'"},
	       {HEAD RUNNER INPUTS TRAINING "outputs: {dir: out, include: '*'}\n" PROOF, INV,
		"job.yaml:9:30: outputs.include: expected a list, found a string"},
	       {HEAD RUNNER INPUTS TRAINING OUTPUTS "proof: proof.json\n", INV,
		"job.yaml:10:8: proof: expected a mapping, found a string"});
}

static void jobcfg_rejects_missing_fields(void **state)
{
	EXPECT({"name: t\n" RUNNER INPUTS TRAINING TAIL, INV,
		"job.yaml:1:1: version: missing (a required field)"},
	       {"version: 1\n" RUNNER INPUTS TRAINING TAIL, INV, "job.yaml:1:1: name: missing"},
	       {HEAD INPUTS TRAINING TAIL, INV, "job.yaml:1:1: runner: missing"},
	       {HEAD "runner: {options: {}}\n" INPUTS TRAINING TAIL, INV,
		"job.yaml:3:9: runner.backend: missing"},
	       {HEAD "runner:\n  backend: qemu\n" INPUTS TRAINING TAIL, INV,
		"job.yaml:4:3: runner.options: missing"},
	       {HEAD "runner: {backend: qemu, options: {cpus: 2}}\n" INPUTS TRAINING TAIL, INV,
		"job.yaml:3:34: runner.options.image: missing"},
	       {HEAD "runner: {backend: static, options: {inventory: f}}\n" INPUTS TRAINING TAIL,
		INV, "job.yaml:3:36: runner.options.host: missing"},
	       {HEAD RUNNER TRAINING TAIL, INV, "job.yaml:1:1: inputs: missing"},
	       {JOB_IN("inputs:\n  base_model: {path: m}\n"), INV,
		"job.yaml:5:3: inputs.code: missing"},
	       {JOB_IN("inputs:\n  code: {path: src}\n  datasets:\n    - {path: d}\n"), INV,
		"job.yaml:7:7: inputs.datasets[0].name: missing"},
	       {JOB_IN("inputs:\n  code: {git: {commit: " C40 "}}\n"), INV,
		"job.yaml:5:15: inputs.code.git.repo: missing"},
	       {JOB_IN("inputs:\n  code: {git: {repo: https://h/r}}\n"), INV,
		"job.yaml:5:15: inputs.code.git.commit: missing"},
	       {HEAD RUNNER INPUTS TAIL, INV, "job.yaml:1:1: training: missing"},
	       {JOB_TR("training:\n  timeout: 1h\n"), INV,
		"job.yaml:7:3: training.command: missing"},
	       {JOB_TR("training:\n  command: [x]\n"), INV,
		"job.yaml:7:3: training.timeout: missing"},
	       {HEAD RUNNER INPUTS TRAINING PROOF, INV, "job.yaml:1:1: outputs: missing"},
	       {HEAD RUNNER INPUTS TRAINING "outputs: {include: [x]}\n" PROOF, INV,
		"job.yaml:9:10: outputs.dir: missing"},
	       {HEAD RUNNER INPUTS TRAINING OUTPUTS, INV, "job.yaml:1:1: proof: missing"},
	       {HEAD RUNNER INPUTS TRAINING OUTPUTS "proof: {}\n", INV,
		"job.yaml:10:8: proof.path: missing"});
}

static void jobcfg_rejects_bad_sources(void **state)
{
	EXPECT({JOB_IN("inputs:\n  code: {path: src, url: 'https://h/x'}\n"), INV,
		"job.yaml:5:9: inputs.code: expected exactly one source (path, git or url), "
		"found both path and url"},
	       {JOB_IN("inputs:\n  code:\n    path: src\n    git: {repo: r, commit: " C40
		       "}\n    url: https://h/x\n"),
		INV,
		"job.yaml:6:5: inputs.code: expected exactly one source (path, git or url), "
		"found all three: path, git and url"},
	       {JOB_IN("inputs:\n  code: {dest: x}\n"), INV,
		"job.yaml:5:9: inputs.code: expected exactly one source (path, git or url), "
		"found none"},
	       /* The example from the issue, to the column. */
	       {JOB_IN("inputs:\n  code: {path: src}\n  datasets:\n    - {name: a, path: a}\n"
		       "    - name: b\n      git: {repo: https://h/r.git, commit: abc123}\n"),
		INV,
		"job.yaml:9:44: inputs.datasets[1].git.commit: expected a full 40-hex-digit "
		"commit id, found 'abc123' (64 digits for a SHA-256 repository"},
	       {JOB_IN("inputs:\n  code: {git: {repo: r, commit: "
		       "4B825DC642CB6EB9A060E54BF8D69288FBEE4904}}\n"),
		INV, "job.yaml:5:33: inputs.code.git.commit: expected a full 40-hex-digit commit"},
	       {JOB_IN("inputs:\n  code: {git: {repo: r, commit: " C40 "0}}\n"), INV,
		"job.yaml:5:33: inputs.code.git.commit: expected a full"},
	       {JOB_IN("inputs:\n  code: {git: {repo: r, commit: main}}\n"), INV,
		"job.yaml:5:33: inputs.code.git.commit: expected a full 40-hex-digit commit id, "
		"found 'main'"},
	       {JOB_IN("inputs:\n  code: {git: {repo: r, commit: " C40 ", path: ../x}}\n"), INV,
		"job.yaml:5:81: inputs.code.git.path: expected a relative path inside the "
		"repository, found '../x' (its '..' leads outside)"},
	       {JOB_IN("inputs:\n  code: {git: {repo: 'http://h/r', commit: " C40 "}}\n"), INV,
		"job.yaml:5:22: inputs.code.git.repo: expected an https:// URL, found "
		"'http://h/r' (only https:// is allowed"},
	       {JOB_IN("inputs:\n  code: {git: {repo: 'git@github.com:o/r.git', commit: " C40
		       "}}\n"),
		INV,
		"job.yaml:5:22: inputs.code.git.repo: expected an https:// URL or a local "
		"path, found 'git@github.com:o/r.git' (scp-style"},
	       {JOB_IN("inputs:\n  code: {url: 'http://h/x'}\n"), INV,
		"job.yaml:5:15: inputs.code.url: expected an https:// URL, found 'http://h/x' "
		"(only https:// is allowed: other schemes can be read or altered in transit)"},
	       {JOB_IN("inputs:\n  code: {url: 'ftp://h/x'}\n"), INV,
		"job.yaml:5:15: inputs.code.url: expected an https:// URL"},
	       {JOB_IN("inputs:\n  code: {url: 'https://u:pw@h/x'}\n"), INV,
		"job.yaml:5:15: inputs.code.url: expected an https:// URL, found "
		"'https://u:pw@h/x' (it carries credentials"},
	       {JOB_IN("inputs:\n  code: {url: 'https://h/a b'}\n"), INV,
		"job.yaml:5:15: inputs.code.url: expected an https:// URL, found 'https://h/a b' "
		"(it contains whitespace"},
	       {JOB_IN("inputs:\n  code: {url: 'https:///x'}\n"), INV,
		"job.yaml:5:15: inputs.code.url: expected an https:// URL, found 'https:///x' "
		"(it has no host)"},
	       {JOB_IN("inputs:\n  code: {url: 'https://h:99999/x'}\n"), INV,
		"job.yaml:5:15: inputs.code.url: expected an https:// URL, found "
		"'https://h:99999/x' (its port"},
	       {JOB_IN("inputs:\n  code: {url: 'https://h/x', sha256: abc}\n"), INV,
		"job.yaml:5:38: inputs.code.sha256: expected a SHA-256 digest of 64 lowercase "
		"hex digits, found 'abc'"},
	       {JOB_IN("inputs:\n  code: {url: 'https://h/x', sha256: "
		       "0D5A0C6F3C1B6D2F9F1F0E6F5A2C3B4D5E6F708192A3B4C5D6E7F8091A2B3C4D}\n"),
		INV, "job.yaml:5:38: inputs.code.sha256: expected a SHA-256 digest"},
	       {JOB_IN("inputs:\n  code: {url: 'https://h/x', sha256: " S64 "0}\n"), INV,
		"job.yaml:5:38: inputs.code.sha256: expected a SHA-256 digest"},
	       {JOB_IN("inputs:\n  code: {path: src, sha256: " S64 "}\n"), INV,
		"job.yaml:5:29: inputs.code.sha256: only a url source takes an expected digest"},
	       {JOB_IN("inputs:\n  code: {path: ''}\n"), INV,
		"job.yaml:5:16: inputs.code.path: expected a local path, found '' (it is empty)"},
	       {JOB_IN("inputs:\n  code: {path: ~/src}\n"), INV,
		"job.yaml:5:16: inputs.code.path: expected a local path, found '~/src' ('~' is "
		"not expanded"});
}

static void jobcfg_rejects_paths_escaping_the_workspace(void **state)
{
	EXPECT({JOB_TR(TR_WITH("  workdir: /tmp\n")), INV,
		"job.yaml:9:12: training.workdir: expected a relative path inside the workspace, "
		"found '/tmp' (it is absolute)"},
	       {JOB_TR(TR_WITH("  workdir: ../x\n")), INV,
		"job.yaml:9:12: training.workdir: expected a relative path inside the workspace, "
		"found '../x' (its '..' leads outside)"},
	       {JOB_TR(TR_WITH("  workdir: a/../../x\n")), INV,
		"job.yaml:9:12: training.workdir: expected a relative path inside the workspace, "
		"found 'a/../../x' (its '..' leads outside)"},
	       {JOB_TR(TR_WITH("  workdir: a//b\n")), INV,
		"job.yaml:9:12: training.workdir: expected a relative path inside the workspace, "
		"found 'a//b' (it has an empty component"},
	       {JOB_TR(TR_WITH("  workdir: a/\n")), INV,
		"job.yaml:9:12: training.workdir: expected a relative path inside the workspace, "
		"found 'a/' (it has an empty component"},
	       {JOB_TR(TR_WITH("  workdir: ''\n")), INV,
		"job.yaml:9:12: training.workdir: expected a relative path inside the workspace, "
		"found '' (it is empty)"},
	       {JOB_TR(TR_WITH("  workdir: \"a\\tb\"\n")), INV,
		"job.yaml:9:12: training.workdir: expected a relative path inside the workspace, "
		"found 'a?b' (it contains a control character)"},
	       {JOB_TR(TR_WITH("  metrics: /out/m.json\n")), INV,
		"job.yaml:9:12: training.metrics: expected a relative path inside the workspace, "
		"found '/out/m.json' (it is absolute)"},
	       {JOB_TR(TR_WITH("  metrics: out/..\n")), INV,
		"job.yaml:9:12: training.metrics: expected a file inside the workspace, found '.'"},
	       {HEAD RUNNER INPUTS TRAINING "outputs: {dir: ../out}\n" PROOF, INV,
		"job.yaml:9:16: outputs.dir: expected a relative path inside the workspace, found "
		"'../out'"},
	       {HEAD RUNNER INPUTS TRAINING "outputs: {dir: .}\n" PROOF, INV,
		"job.yaml:9:16: outputs.dir: expected a directory below the workspace root, found "
		"'.'"},
	       {HEAD RUNNER INPUTS TRAINING "outputs: {dir: out, include: []}\n" PROOF, INV,
		"job.yaml:9:30: outputs.include: expected at least one glob, found an empty list"},
	       {HEAD RUNNER INPUTS TRAINING "outputs: {dir: out, include: ['../x']}\n" PROOF, INV,
		"job.yaml:9:31: outputs.include[0]: expected a glob relative to outputs.dir, found "
		"'../x'"},
	       {HEAD RUNNER INPUTS TRAINING "outputs: {dir: out, include: [a, /etc/*]}\n" PROOF,
		INV,
		"job.yaml:9:34: outputs.include[1]: expected a glob relative to outputs.dir, found "
		"'/etc/*' (it is absolute)"},
	       {JOB_IN("inputs:\n  code: {path: src}\n  files: [{name: f, path: f, dest: ../f}]\n"),
		INV,
		"job.yaml:6:36: inputs.files[0].dest: expected a relative path inside the "
		"workspace, found '../f'"},
	       {JOB_IN("inputs:\n  code: {path: src}\n  files: [{name: f, path: f, dest: x/..}]\n"),
		INV,
		"job.yaml:6:36: inputs.files[0].dest: expected a path below the workspace root, "
		"found '.'"});
}

static void jobcfg_rejects_duplicate_names_and_overlaps(void **state)
{
	EXPECT({JOB_IN("inputs:\n  code: {path: src}\n  datasets:\n    - {name: train, path: a}\n"
		       "    - {name: train, path: b}\n"),
		INV,
		"job.yaml:8:14: inputs.datasets[1].name: duplicate input name 'train' (also "
		"inputs.datasets[0] at line 7)"},
	       {JOB_IN("inputs:\n  code: {path: src}\n  datasets: [{name: x, path: a}]\n"
		       "  files: [{name: x, path: b}]\n"),
		INV, "job.yaml:7:18: inputs.files[0].name: duplicate input name 'x'"},
	       {JOB_IN("inputs:\n  code: {path: src}\n  datasets: [{name: code, path: a}]\n"), INV,
		"job.yaml:6:21: inputs.datasets[0].name: 'code' is reserved for inputs.code"},
	       {JOB_IN("inputs:\n  code: {path: src}\n  datasets: [{name: a, path: a, dest: d}]\n"
		       "  files: [{name: b, path: b, dest: d/b}]\n"),
		INV,
		"job.yaml:7:36: inputs.files[0].dest: 'd/b' overlaps the destination of "
		"inputs.datasets[0] ('d')"},
	       {JOB_IN("inputs:\n  code: {path: src, dest: inputs/a/code}\n"
		       "  base_model: {path: m, dest: inputs/a}\n"),
		INV,
		"job.yaml:5:27: inputs.code.dest: 'inputs/a/code' overlaps the destination of "
		"inputs.base_model ('inputs/a')"},
	       {HEAD RUNNER
		"inputs:\n  code: {path: src}\n  datasets: [{name: d, path: d}]\n" TRAINING
		"outputs: {dir: inputs/d/out}\n" PROOF,
		INV,
		"job.yaml:10:16: outputs.dir: 'inputs/d/out' overlaps the destination of "
		"inputs.datasets[0] ('inputs/d')"},
	       {HEAD RUNNER
		"inputs:\n  code: {path: src}\n  datasets: [{name: d, path: d}]\n" TRAINING
		"outputs: {dir: inputs}\n" PROOF,
		INV, "job.yaml:10:16: outputs.dir: 'inputs' overlaps the destination of"},
	       {HEAD RUNNER "inputs:\n  code: {path: src, dest: c}\n" TRAINING
			    "outputs: {dir: c}\n" PROOF,
		INV, "job.yaml:9:16: outputs.dir: 'c' overlaps the destination of inputs.code"});
	/* Inputs and outputs may sit inside the code's tree. */
	jobcfg_free(parse_ok(HEAD RUNNER "inputs:\n  code: {path: src, dest: c}\n"
					 "  files: [{name: f, path: f, dest: c/f}]\n" TRAINING
					 "outputs: {dir: c/out}\n" PROOF));
}

static void jobcfg_rejects_bad_commands_timeouts_and_env(void **state)
{
	EXPECT({JOB_TR("training:\n  command: []\n  timeout: 1h\n"), INV,
		"job.yaml:7:12: training.command: expected at least the program to run, found an "
		"empty list"},
	       {JOB_TR("training:\n  command: ['', x]\n  timeout: 1h\n"), INV,
		"job.yaml:7:13: training.command[0]: expected the program to run, found an empty "
		"string"},
	       {JOB_TR("training:\n  command: [x]\n  timeout: 10\n"), INV,
		"job.yaml:8:12: training.timeout: expected a duration such as 90s, 30m, 12h or 7d, "
		"found '10'"},
	       {JOB_TR("training:\n  command: [x]\n  timeout: 10x\n"), INV,
		"job.yaml:8:12: training.timeout: expected a duration such as"},
	       {JOB_TR("training:\n  command: [x]\n  timeout: 1h30m\n"), INV,
		"job.yaml:8:12: training.timeout: expected a duration such as"},
	       {JOB_TR("training:\n  command: [x]\n  timeout: -5m\n"), INV,
		"job.yaml:8:12: training.timeout: expected a duration such as"},
	       {JOB_TR("training:\n  command: [x]\n  timeout: m\n"), INV,
		"job.yaml:8:12: training.timeout: expected a duration such as"},
	       {JOB_TR("training:\n  command: [x]\n  timeout: 1000000000s\n"), INV,
		"job.yaml:8:12: training.timeout: expected a duration such as"},
	       {JOB_TR("training:\n  command: [x]\n  timeout: 0s\n"), INV,
		"job.yaml:8:12: training.timeout: expected a duration from 1s to 7d, found '0s'"},
	       {JOB_TR("training:\n  command: [x]\n  timeout: 8d\n"), INV,
		"job.yaml:8:12: training.timeout: expected a duration from 1s to 7d, found '8d'"},
	       {JOB_TR("training:\n  command: [x]\n  timeout: 604801s\n"), INV,
		"job.yaml:8:12: training.timeout: expected a duration from 1s to 7d"},
	       {JOB_TR(TR_WITH("  env: {1X: a}\n")), INV,
		"job.yaml:9:9: training.env: expected a variable name matching "
		"[A-Za-z_][A-Za-z0-9_]*, found '1X'"},
	       {JOB_TR(TR_WITH("  env: {A-B: a}\n")), INV,
		"job.yaml:9:9: training.env: expected a variable name matching"},
	       {JOB_TR(TR_WITH("  env: {A: '1', LD_PRELOAD: /x.so}\n")), INV,
		"job.yaml:9:17: training.env.LD_PRELOAD: not allowed: LD_* variables"},
	       {JOB_TR(TR_WITH("  env:\n    LD_LIBRARY_PATH: /x\n")), INV,
		"job.yaml:10:5: training.env.LD_LIBRARY_PATH: not allowed"},
	       {JOB_TR(TR_WITH("  env: {AICERT_AGENT: x}\n")), INV,
		"job.yaml:9:9: training.env.AICERT_AGENT: not allowed: AICERT_* variables are set "
		"by the job executor"},
	       {JOB_TR(TR_WITH("  env: {GCONV_PATH: /x}\n")), INV,
		"job.yaml:9:9: training.env.GCONV_PATH: not allowed: it makes the C library"},
	       {JOB_TR(TR_WITH("  env: {A: '1', A: '2'}\n")), INV,
		"job.yaml:9:17: training.env: duplicate variable 'A'"});
}

static void jobcfg_rejects_yaml_features_and_extra_documents(void **state)
{
	EXPECT({"version: 1\nname: &n t\n" RUNNER INPUTS TRAINING TAIL, INV,
		"job.yaml:2:7: anchors are not allowed"},
	       {HEAD RUNNER INPUTS "training:\n  command: &c [x]\n  timeout: 1h\n" TAIL, INV,
		"job.yaml:7:12: anchors are not allowed"},
	       {HEAD RUNNER INPUTS TRAINING "outputs: {dir: out}\nproof: {path: *p}\n", INV,
		"job.yaml:10:15: aliases are not allowed"},
	       {MINIMAL "---\n" MINIMAL, INV, "job.yaml:11:1: only one YAML document is allowed"},
	       {"", INV, "job.yaml: empty document"},
	       {"version: 1\nname: [\n", INV, "job.yaml:3:1: did not find expected node content"},
	       {"? [a]\n: b\n", INV, "job.yaml:1:3: keys must be plain strings"},
	       {"version: 1\nname: \"t\\0\"\n" RUNNER INPUTS TRAINING TAIL, INV,
		"job.yaml:2:7: name: contains a NUL character"});
}

static void jobcfg_bounds_sizes_and_counts(void **state)
{
	size_t cap = 8192, len = 0;
	char *text = malloc(cap), *big;
	struct jobcfg *cfg = NULL;

	len += (size_t)snprintf(text + len, cap - len,
				HEAD RUNNER "inputs:\n  code: {path: src}\n  datasets:\n");
	for (int i = 0; i < JOBCFG_MAX_DATASETS + 1; i++)
		len += (size_t)snprintf(text + len, cap - len, "    - {name: d%d, path: d}\n", i);
	snprintf(text + len, cap - len, TRAINING TAIL);
	assert_int_equal(parse(text, &cfg), AICERT_ERR_TOO_BIG);
	assert_string_equal(err_msg(AICERT_ERR_TOO_BIG),
			    "job.yaml:7:5: inputs.datasets: expected at most 64 items, found 65");

	snprintf(text, cap, "version: 1\nname: %0*d\n" RUNNER INPUTS TRAINING TAIL, 65, 1);
	assert_int_equal(parse(text, &cfg), AICERT_ERR_TOO_BIG);
	assert_string_equal(err_msg(AICERT_ERR_TOO_BIG),
			    "job.yaml:2:7: name: expected at most 64 bytes, found 65");
	snprintf(text, cap, "version: 1\nname: %0*d\n" RUNNER INPUTS TRAINING TAIL, 64, 1);
	jobcfg_free(parse_ok(text));
	free(text);

	text = malloc(2 * JOBCFG_MAX_ARG);
	snprintf(text, 2 * JOBCFG_MAX_ARG,
		 HEAD RUNNER INPUTS "training:\n  command: [x, %0*d]\n  timeout: 1h\n" TAIL,
		 JOBCFG_MAX_ARG + 1, 1);
	assert_int_equal(parse(text, &cfg), AICERT_ERR_TOO_BIG);
	assert_string_equal(err_msg(AICERT_ERR_TOO_BIG),
			    "job.yaml:7:16: training.command[1]: expected at most 4096 bytes, "
			    "found 4097");
	free(text);

	big = malloc(JOBCFG_MAX_BYTES + 2);
	memset(big, '#', JOBCFG_MAX_BYTES + 1);
	big[JOBCFG_MAX_BYTES + 1] = '\0';
	assert_int_equal(parse(big, &cfg), AICERT_ERR_TOO_BIG);
	assert_null(cfg);
	free(big);
}

static void jobcfg_load_resolves_against_the_file_directory(void **state)
{
	char dir[] = "/tmp/aicert-jobcfg-XXXXXX", path[64];
	struct jobcfg *cfg = NULL;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/job.yaml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(MINIMAL, f);
	fclose(f);
	assert_int_equal(jobcfg_load(path, &cfg), 0);
	assert_string_equal(cfg->base_dir, dir);
	assert_true(strncmp(cfg->inputs[0].resolved, dir, strlen(dir)) == 0);
	assert_string_equal(cfg->inputs[0].resolved + strlen(dir), "/src");
	jobcfg_free(cfg);
	cfg = NULL;

	f = fopen(path, "w");
	fputs(HEAD "runner: {backend: local}\nextra: 1\n", f);
	fclose(f);
	assert_int_equal(jobcfg_load(path, &cfg), AICERT_ERR_INVALID);
	assert_null(cfg);
	assert_true(strncmp(err_msg(AICERT_ERR_INVALID), path, strlen(path)) == 0);
	assert_non_null(strstr(err_msg(AICERT_ERR_INVALID), ":4:1: unknown key 'extra'"));
	unlink(path);
	assert_int_equal(jobcfg_load(path, &cfg), AICERT_ERR_NOT_FOUND);
	rmdir(dir);
}

static void jobcfg_sha256_is_of_the_bytes(void **state)
{
	static const char abc_sha256[] =
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	uint8_t d[32], want[32];
	size_t len;
	struct jobcfg *a, *b;

	assert_int_equal(jobcfg_sha256((const uint8_t *)"abc", 3, d), 0);
	assert_int_equal(hex_decode(abc_sha256, want, 32, &len), 0);
	assert_memory_equal(d, want, 32);
	/* A comment changes the digest, not the meaning. */
	a = parse_ok(MINIMAL);
	b = parse_ok(MINIMAL "# comment\n");
	assert_memory_not_equal(a->sha256, b->sha256, 32);
	jobcfg_free(a);
	jobcfg_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(jobcfg_example_parses_with_every_field),
		cmocka_unit_test(jobcfg_doc_shows_the_example),
		cmocka_unit_test(jobcfg_minimal_job_gets_defaults),
		cmocka_unit_test(jobcfg_reads_other_runners_and_sources),
		cmocka_unit_test(jobcfg_rejects_unknown_keys_at_every_level),
		cmocka_unit_test(jobcfg_rejects_wrong_types),
		cmocka_unit_test(jobcfg_rejects_missing_fields),
		cmocka_unit_test(jobcfg_rejects_bad_sources),
		cmocka_unit_test(jobcfg_rejects_paths_escaping_the_workspace),
		cmocka_unit_test(jobcfg_rejects_duplicate_names_and_overlaps),
		cmocka_unit_test(jobcfg_rejects_bad_commands_timeouts_and_env),
		cmocka_unit_test(jobcfg_rejects_yaml_features_and_extra_documents),
		cmocka_unit_test(jobcfg_bounds_sizes_and_counts),
		cmocka_unit_test(jobcfg_load_resolves_against_the_file_directory),
		cmocka_unit_test(jobcfg_sha256_is_of_the_bytes),
	};

	return cmocka_run_group_tests_name("jobcfg", tests, NULL, NULL);
}
