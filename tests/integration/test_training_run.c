/* An attested training run, end to end, at the library level: a local runner
 * (swtpm + aicert-agent), enrollment, the executor measuring the job (start,
 * inputs staged and hashed, the example fine-tuning run in the sandbox,
 * outputs), a proof, and the verifier's verdict with --model; then one byte
 * of the weights changed, and a command that looks for the agent's socket.
 * `aicert run` and the executor's RPC service will drive the same pieces. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <nng/nng.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "aicert.pb-c.h"
#include "aicert_verify.h"
#include "err.h"
#include "executor.h"
#include "fileio.h"
#include "harness.h"
#include "hex.h"
#include "jobcfg.h"
#include "policy.h"
#include "proof.h"
#include "proofgen.h"
#include "rpc.h"
#include "runner_local.h"

#define AICERT_CLI  AICERT_BINARY_DIR "/controller/aicert"
#define TRAIN_BIN   AICERT_BINARY_DIR "/examples/tiny-finetune/tiny_finetune_train"
#define EXAMPLE_DIR AICERT_SOURCE_DIR "/examples/tiny-finetune"

struct fx {
	struct runner_local *runner;
	char dir[PATH_MAX]; /* scratch: CA, code, workspace, proof */
	char ca[PATH_MAX];
	char policy[PATH_MAX];
	char output[16384];
	size_t output_len;
};

/* snprintf that must not truncate. */
#define FMT(buf, cap, ...) assert_in_range(snprintf((buf), (cap), __VA_ARGS__), 0, (cap)-1)

static void fx_join(const struct fx *f, const char *name, char out[PATH_MAX])
{
	FMT(out, PATH_MAX, "%s/%s", f->dir, name);
}

static void capture(void *ctx, enum sandbox_stream s, const char *buf, size_t len)
{
	struct fx *f = ctx;

	if (f->output_len + len < sizeof(f->output)) {
		memcpy(f->output + f->output_len, buf, len);
		f->output_len += len;
		f->output[f->output_len] = '\0';
	}
}

static int setup(void **state)
{
	struct runner_local_opts ro = {.agent_bin = AICERT_BINARY_DIR "/agent/aicert-agent"};
	struct fx *f = calloc(1, sizeof(*f));
	char code[PATH_MAX], bin[PATH_MAX];
	const char *cp[] = {"cp", TRAIN_BIN, bin, NULL};
	const char *init[] = {AICERT_CLI, "ca", "init", "--dir", f->ca, NULL};
	const char *enroll[] = {
		AICERT_CLI,           "enroll", "--agent", NULL, "--ca", f->ca, "--ek-roots", NULL,
		"--ek-intermediates", NULL,     NULL};
	struct policy_init pi = {0};
	char *yaml = NULL;

	FMT(f->dir, sizeof(f->dir), "%s/aicert-run.XXXXXX", getenv("TMPDIR") ?: "/tmp");
	assert_non_null(mkdtemp(f->dir));
	/* Run by root, the command runs as nobody: it must reach its workspace. */
	assert_int_equal(chmod(f->dir, 0711), 0);
	assert_int_equal(runner_local_start(&ro, &f->runner), 0);
	fx_join(f, "ca", f->ca);
	assert_int_equal(harness_run(init), 0);
	enroll[3] = runner_local_url(f->runner);
	enroll[7] = runner_local_ek_root(f->runner);
	enroll[9] = runner_local_ek_issuer(f->runner);
	assert_int_equal(harness_run(enroll), 0);
	/* The code input: a directory holding the training program. */
	fx_join(f, "code", code);
	assert_int_equal(fileio_mkdir(code, 0755), 0);
	FMT(bin, sizeof(bin), "%s/tiny_finetune_train", code);
	assert_int_equal(harness_run(cp), 0);
	{
		const char *roots[] = {runner_local_ek_root(f->runner)};
		const char *inter[] = {runner_local_ek_issuer(f->runner)};
		char ca_crt[PATH_MAX];
		const char *cas[] = {ca_crt};

		FMT(ca_crt, sizeof(ca_crt), "%s/ca.crt", f->ca);
		pi = (struct policy_init){roots, 1, inter, 1, cas, 1, true};
		assert_int_equal(policy_init_yaml(&pi, &yaml), 0);
	}
	fx_join(f, "policy.yaml", f->policy);
	assert_int_equal(fileio_write_atomic(f->policy, yaml, strlen(yaml), 0644), 0);
	free(yaml);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	const char *rm[] = {"rm", "-rf", f->dir, NULL};

	runner_local_free(f->runner);
	harness_run(rm);
	free(f);
	nng_fini();
	return 0;
}

static const char *job_yaml(const struct fx *f, const char *command)
{
	static char yaml[6 * PATH_MAX];

	FMT(yaml, sizeof(yaml),
	    "version: 1\n"
	    "name: tiny-finetune\n"
	    "runner: {backend: local}\n"
	    "inputs:\n"
	    "  base_model: {path: %s/base.safetensors}\n"
	    "  datasets:\n"
	    "    - {name: train, path: %s/train.csv}\n"
	    "  code: {path: %s/code}\n"
	    "training:\n"
	    "  command: %s\n"
	    "  timeout: 2m\n"
	    "  network: none\n"
	    "  metrics: outputs/metrics.json\n"
	    "outputs:\n"
	    "  dir: outputs\n"
	    "proof:\n"
	    "  path: proof.json\n",
	    EXAMPLE_DIR, EXAMPLE_DIR, f->dir, command);
	return yaml;
}

/* Runs the job through the executor; *proof_path receives the proof. */
static void run_job(struct fx *f, const char *name, const char *command, int *status,
		    char proof_path[PATH_MAX], char workspace[PATH_MAX])
{
	const char *hide[] = {runner_local_private_dir(f->runner), NULL};
	struct executor_opts eo = {.agent_url = runner_local_url(f->runner),
				   .workspace = workspace,
				   .hide = hide,
				   .output = capture,
				   .ctx = f};
	const char *yaml = job_yaml(f, command);
	struct executor *e = NULL;
	struct jobcfg *cfg = NULL, *local = NULL;
	struct rpc_client *c = NULL;
	struct proofgen_opts po = {0};
	struct proof *p = NULL;
	uint8_t nonce[32];
	uint64_t wall;

	fx_join(f, name, workspace);
	assert_int_equal(RAND_bytes(nonce, sizeof(nonce)), 1);
	assert_int_equal(executor_open(&eo, &e), 0);
	assert_int_equal(executor_start(e, (const uint8_t *)yaml, strlen(yaml), name, nonce,
					sizeof(nonce), &cfg),
			 0);
	/* The controller resolves local inputs; the executor stages and
	 * measures what it copied. */
	assert_int_equal(
		jobcfg_parse("job.yaml", f->dir, (const uint8_t *)yaml, strlen(yaml), &local), 0);
	for (size_t i = 0; i < cfg->n_inputs; i++)
		assert_int_equal(executor_stage(e, &cfg->inputs[i], local->inputs[i].resolved), 0);
	f->output_len = 0;
	if (executor_run(e, cfg, status, &wall) != 0)
		fail_msg("run: %s\n%s", err_msg(AICERT_ERR_UNAVAILABLE), f->output);
	assert_int_equal(executor_finish(e, cfg, *status, wall, NULL), 0);
	executor_free(e);
	assert_int_equal(rpc_client_dial(runner_local_url(f->runner),
					 &aicert__v1__agent__descriptor, NULL, &c),
			 0);
	po = (struct proofgen_opts){
		.agent = c, .ca_dir = f->ca, .job_id = name, .nonce = nonce, .nonce_len = 32};
	assert_int_equal(proofgen_make(&po, &p), 0);
	FMT(proof_path, PATH_MAX, "%s/proof.json", workspace);
	assert_int_equal(proof_save(p, proof_path), 0);
	proof_free(p);
	rpc_client_free(c);
	jobcfg_free(cfg);
	jobcfg_free(local);
}

static int verify(const struct fx *f, const char *proof, const char *model,
		  struct aicert_result **res)
{
	struct aicert_verify_opts vo = {.policy_path = f->policy, .model_dir = model};

	return aicert_verify_file(proof, &vo, res);
}

static void file_sha256_hex(const char *path, char hex[65])
{
	uint8_t *buf = NULL, d[32];
	size_t len;

	assert_int_equal(fileio_read_all(path, 64u << 20, &buf, &len), 0);
	SHA256(buf, len, d);
	hex_encode(d, 32, hex);
	free(buf);
}

static void training_run_is_attested_and_verifies(void **state)
{
	struct fx *f = *state;
	char proof[PATH_MAX], ws[PATH_MAX], model[PATH_MAX], base[65], train[65];
	struct aicert_result *res = NULL;
	json_t *st, *deps;
	int status = -1;

	run_job(f, "job-train",
		"[./tiny_finetune_train, --base, inputs/base_model, --data, inputs/train, "
		"--out, outputs, --epochs, \"5\"]",
		&status, proof, ws);
	assert_int_equal(status, 0);
	FMT(model, sizeof(model), "%s/outputs", ws);
	if (verify(f, proof, model, &res) != 0)
		fail_msg("%s: %s", aicert_result_failed(res), err_msg(AICERT_ERR_REJECTED));
	/* The inputs are exactly those given, with sha256sum's digests. */
	st = json_loads(aicert_result_statement(res), 0, NULL);
	deps = json_object_get(json_object_get(json_object_get(st, "predicate"), "buildDefinition"),
			       "resolvedDependencies");
	assert_int_equal(json_array_size(deps), 3);
	file_sha256_hex(EXAMPLE_DIR "/base.safetensors", base);
	file_sha256_hex(EXAMPLE_DIR "/train.csv", train);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_array_get(deps, 0), "digest"), "sha256")),
			    base);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_array_get(deps, 1), "digest"), "sha256")),
			    train);
	{
		/* The compute the job reported, carried into the proof. */
		json_t *end = json_array_get(
			json_object_get(
				json_object_get(json_object_get(st, "predicate"), "runDetails"),
				"byproducts"),
			1);
		char mpath[PATH_MAX];
		json_t *metrics;

		FMT(mpath, sizeof(mpath), "%s/metrics.json", model);
		metrics = json_load_file(mpath, 0, NULL);
		assert_true(json_integer_value(json_object_get(metrics, "total_flos")) > 0);
		assert_int_equal(json_integer_value(json_object_get(
					 json_object_get(end, "annotations"), "flops")),
				 json_integer_value(json_object_get(metrics, "total_flos")));
		json_decref(metrics);
	}
	json_decref(st);
	aicert_result_free(res);
	res = NULL;
	/* One byte of one weight file changed: --model rejects it. */
	{
		char w[PATH_MAX];
		const char *flip[] = {"sh", "-c", NULL, NULL};
		char script[PATH_MAX + 128];

		FMT(w, sizeof(w), "%s/model.safetensors", model);
		FMT(script, sizeof(script),
		    "printf 'X' | dd of='%s' bs=1 seek=100 conv=notrunc 2>/dev/null", w);
		flip[2] = script;
		assert_int_equal(harness_run(flip), 0);
	}
	assert_int_equal(verify(f, proof, model, &res), AICERT_ERR_REJECTED);
	assert_string_equal(aicert_result_failed(res), "model.files");
	aicert_result_free(res);
}

static void training_command_cannot_reach_the_agent(void **state)
{
	struct fx *f = *state;
	char proof[PATH_MAX], ws[PATH_MAX], command[PATH_MAX + 256];
	struct aicert_result *res = NULL;
	int status = -1;

	FMT(command, sizeof(command),
	    "[sh, -c, \"mkdir -p outputs; if test -e '%s'; then echo REACHED; fi; "
	    "echo done > outputs/out.txt\"]",
	    strchr(runner_local_url(f->runner), '/') + 2);
	run_job(f, "job-probe", command, &status, proof, ws);
	assert_int_equal(status, 0);
	assert_null(strstr(f->output, "REACHED"));
	/* The proof is clean: it verifies, and records what ran. */
	assert_int_equal(verify(f, proof, NULL, &res), 0);
	aicert_result_free(res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(training_run_is_attested_and_verifies),
		cmocka_unit_test(training_command_cannot_reach_the_agent),
	};

	setenv("TSS2_LOG", "all+NONE", 0);
	return cmocka_run_group_tests_name("training_run", tests, setup, teardown);
}
