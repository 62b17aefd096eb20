/* The forgery suite: a generator of forged proofs, derived from a good proof
 * made against swtpm, each of which the verifier must reject by a named
 * check (docs/proof-format.md, "Verification").
 *
 * The fixture (forgery/fx.c) runs once: two swtpm TPMs with aicert-agent,
 * an attestation CA that enrolls both, a real job extended through the
 * agent's local socket, its proof and a platform proof, and every piece of
 * TPM-made material the forgeries need (forgery/fx_tpm.c). Where an attack
 * needs a real signature it gets one from the TPM: quotes over other PCRs or
 * for another job, a TPM2_Certify and a TPM2_Sign by the AK, quotes after
 * other jobs and across a TPM suspend/resume.
 *
 * The forgeries are tables of {name, expected check, how to make it}, one
 * cmocka test per group (forgery/cases_*.c). Each forgery must be rejected
 * (AICERT_ERR_REJECTED) and aicert_result_failed() must be exactly the
 * expected check; a few "controls" (expected NULL) must verify, to show that
 * the variant they belong to fails for its flaw only. After every forgery the
 * untouched good proofs are verified again. The suite prints a table of
 * forgery, expected check and the check that rejected it; any other
 * outcome fails the suite.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nng/nng.h>

#include "aicert_verify.h"
#include "err.h"
#include "harness.h"
#include "forge.h"
#include "fx.h"

#define AICERT_CLI AICERT_BINARY_DIR "/controller/aicert"

static bool forgery_verbose;
static size_t forgery_cases, forgery_controls;

/* ---- verifying ------------------------------------------------------------------------------- */

static int forgery_verify(const struct fx *f, const struct forged *o, struct aicert_result **res)
{
	struct aicert_verify_opts opts = {
		.policy_path = o->policy[0] ? o->policy : f->policy,
		.model_dir = o->model_dir[0] ? o->model_dir : NULL,
	};

	if (o->nonce_len) {
		opts.nonce = o->nonce;
		opts.nonce_len = o->nonce_len;
	}
	return aicert_verify("forged", o->proof.buf, o->proof.len, &opts, res);
}

static const char *forgery_detail(const struct aicert_result *res)
{
	for (size_t i = 0; res && i < aicert_result_count(res); i++)
		if (aicert_result_status(res, i) == AICERT_CHECK_FAIL)
			return aicert_result_detail(res, i);
	return "";
}

/* Verifies a proof file; every check must pass or, if allowed, skip. */
static void forgery_verify_file(const struct fx *f, const char *path, const char *model_dir,
				const char *const *may_skip)
{
	struct aicert_verify_opts opts = {.policy_path = f->policy, .model_dir = model_dir};
	struct aicert_result *res = NULL;
	int r = aicert_verify_file(path, &opts, &res);

	if (r != 0)
		fail_msg("%s: %s: %s", path,
			 r == AICERT_ERR_REJECTED ? aicert_result_failed(res) : err_str(r),
			 r == AICERT_ERR_REJECTED ? forgery_detail(res) : err_msg(r));
	for (size_t i = 0; i < aicert_result_count(res); i++) {
		const char *name = aicert_result_name(res, i);
		enum aicert_check_status st = aicert_result_status(res, i);
		bool skip_ok = false;

		for (size_t k = 0; may_skip && may_skip[k]; k++)
			skip_ok |= strcmp(may_skip[k], name) == 0;
		if (st != AICERT_CHECK_PASS && !(st == AICERT_CHECK_SKIP && skip_ok))
			fail_msg("%s: check %s did not pass (status %d): %s", path, name, st,
				 aicert_result_detail(res, i));
	}
	assert_string_equal(aicert_result_platform(res), "development");
	aicert_result_free(res);
}

static const char *const job_skips[] = {"boot.log", "policy.inputs", NULL};
static const char *const platform_skips[] = {
	"boot.log",  "job.counters",  "statement.inputs", "statement.outputs",
	"statement", "policy.inputs", "model.files",      NULL};

/* The untouched good proofs still verify: nothing a forgery did changed
 * them, the policy or the model directory. */
static void forgery_good_still_verifies(const struct fx *f)
{
	forgery_verify_file(f, f->good_path, f->model_dir, job_skips);
	forgery_verify_file(f, f->platform_path, NULL, platform_skips);
}

/* ---- the table ------------------------------------------------------------------------------- */

static void forgery_header(const char *group)
{
	printf("\n| %-54s | %-17s | %-17s |\n", group, "expected check", "got");
	printf("|--------------------------------------------------------|"
	       "-------------------|-------------------|\n");
}

/* Makes, verifies and reports one case; 0 when it went as expected. */
static int forgery_one(struct fx *f, const struct forgery *c)
{
	const char *want = c->expect ? c->expect : "(verifies)";
	struct aicert_result *res = NULL;
	struct forged o;
	char got[64];
	bool ok;
	int r;

	memset(&o, 0, sizeof(o));
	c->make(f, &o);
	r = forgery_verify(f, &o, &res);
	if (r == 0)
		snprintf(got, sizeof(got), "(verifies)");
	else if (r == AICERT_ERR_REJECTED)
		snprintf(got, sizeof(got), "%s", aicert_result_failed(res));
	else
		snprintf(got, sizeof(got), "(error: %s)", err_str(r));
	ok = c->expect ? r == AICERT_ERR_REJECTED && strcmp(got, c->expect) == 0 : r == 0;
	printf("| %-54s | %-17s | %-17s |%s\n", c->name, want, got, ok ? "" : " WRONG");
	if (!ok || forgery_verbose)
		printf("    why: %s\n", r == AICERT_ERR_REJECTED ? forgery_detail(res)
					: r == 0                 ? "verified"
								 : err_msg(r));
	fflush(stdout);
	aicert_result_free(res);
	free(o.proof.buf);
	forgery_good_still_verifies(f);
	if (c->expect)
		forgery_cases++;
	else
		forgery_controls++;
	return ok ? 0 : -1;
}

static void forgery_run(void **state, const struct forgery_table *t)
{
	int failed = 0;

	forgery_header(t->group);
	for (size_t i = 0; i < t->n; i++)
		failed += forgery_one(*state, &t->cases[i]) < 0;
	assert_int_equal(failed, 0);
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void forgery_good_proofs_verify(void **state)
{
	struct fx *f = *state;
	const char *ok[] = {AICERT_CLI, "verify",  f->good_path, "--policy",
			    f->policy,  "--model", f->model_dir, NULL};
	char out[16384];

	forgery_good_still_verifies(f);
	assert_int_equal(harness_run_capture(ok, out, sizeof(out), NULL), 0);
	assert_non_null(strstr(out, "VERIFIED on a development platform"));
}

/* What the format leaves free must change nothing: whitespace, member
 * order, \u escapes, the case of hex digits. */
static void forgery_benign_edits_verify(void **state)
{
	struct fx *f = *state;
	struct aicert_result *res = NULL;
	struct forged o;
	json_error_t e;
	json_t *doc = json_loadb((const char *)f->good.buf, f->good.len, 0, &e);
	char *text, *good, *nonce, *upper;

	memset(&o, 0, sizeof(o));
	assert_non_null(doc);
	text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(doc);
	assert_non_null(text);
	forge_text_replace(&o, text, "\"platform\":\"development\"",
			   "\"platform\":\"\\u0064evelopment\"");
	text = strndup((const char *)o.proof.buf, o.proof.len);
	assert_non_null(text);
	good = forge_good_text(f);
	nonce = forge_text_member(good, "nonce");
	free(good);
	upper = strdup(nonce);
	assert_non_null(upper);
	for (char *c = upper; *c; c++)
		*c = (char)toupper((unsigned char)*c);
	forge_text_replace(&o, text, nonce, upper);
	assert_int_equal(forgery_verify(f, &o, &res), 0);
	aicert_result_free(res);
	free(nonce);
	free(upper);
	free(o.proof.buf);
}

static void forgery_ek(void **state)
{
	forgery_run(state, &cases_ek);
}

static void forgery_ak(void **state)
{
	forgery_run(state, &cases_ak);
}

static void forgery_quote(void **state)
{
	forgery_run(state, &cases_quote);
}

static void forgery_nonce(void **state)
{
	forgery_run(state, &cases_nonce);
}

static void forgery_pcrs(void **state)
{
	forgery_run(state, &cases_pcrs);
}

static void forgery_runtime_log(void **state)
{
	forgery_run(state, &cases_runtime);
}

static void forgery_job(void **state)
{
	forgery_run(state, &cases_job);
}

static void forgery_format(void **state)
{
	forgery_run(state, &cases_format);
}

static void forgery_statement(void **state)
{
	forgery_run(state, &cases_statement);
}

static void forgery_model(void **state)
{
	forgery_run(state, &cases_model);
}

static void forgery_platform(void **state)
{
	forgery_run(state, &cases_platform);
}

/* The CLI names the check too. */
static void forgery_cli_names_the_check(void **state)
{
	struct fx *f = *state;
	struct proof *p = forge_good(f);
	char path[PATH_MAX], out[16384];
	const char *cli[] = {AICERT_CLI, "verify", path, "--policy", f->policy, NULL};

	p->signature.data[p->signature.len - 1] ^= 0x01;
	fx_path(f, "forged.proof.json", path);
	assert_int_equal(proof_save(p, path), 0);
	proof_free(p);
	assert_int_equal(harness_run_capture(cli, out, sizeof(out), NULL), 1);
	assert_non_null(strstr(out, "REJECTED by quote.signature"));
}

/* The outputs root in the proof is what sigstore's model signing computes,
 * reproduced with standard tools: sha256sum of the files in sorted order, then
 * SHA-256 of the concatenated raw digests. */
static void outputs_root_matches_standard_tools(void **state)
{
	struct fx *f = *state;
	struct proof *p = forge_good(f);
	const json_t *subjects = json_object_get(p->statement, "subject");
	const json_t *root = json_array_get(subjects, json_array_size(subjects) - 1);
	char script[PATH_MAX + 256], out[256];
	const char *sh[] = {"bash", "-c", script, NULL};

	snprintf(script, sizeof(script),
		 "cd '%s' && find . -type f | sed 's|^\\./||' | LC_ALL=C sort | "
		 "while read -r f; do sha256sum \"$f\" | cut -c1-64; done | tr -d '\\n' | "
		 "sed 's/../\\\\x&/g' | { read -r h; printf \"$h\"; } | sha256sum | cut -c1-64",
		 f->model_dir);
	assert_int_equal(harness_run_capture(sh, out, sizeof(out), NULL), 0);
	out[strcspn(out, "\n")] = '\0';
	assert_string_equal(json_string_value(json_object_get(root, "name")), ".");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(root, "digest"), "sha256")), out);
	proof_free(p);
}

static void forgery_summary(void **state)
{
	printf("\n%zu forgeries, %zu controls\n", forgery_cases, forgery_controls);
	assert_true(forgery_cases >= 30);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(forgery_good_proofs_verify),
		cmocka_unit_test(forgery_benign_edits_verify),
		cmocka_unit_test(forgery_ek),
		cmocka_unit_test(forgery_ak),
		cmocka_unit_test(forgery_quote),
		cmocka_unit_test(forgery_nonce),
		cmocka_unit_test(forgery_pcrs),
		cmocka_unit_test(forgery_runtime_log),
		cmocka_unit_test(forgery_job),
		cmocka_unit_test(forgery_format),
		cmocka_unit_test(forgery_statement),
		cmocka_unit_test(forgery_model),
		cmocka_unit_test(forgery_platform),
		cmocka_unit_test(forgery_cli_names_the_check),
		cmocka_unit_test(outputs_root_matches_standard_tools),
		cmocka_unit_test(forgery_summary),
	};
	const char *verbose = getenv("AICERT_FORGERY_VERBOSE");

	forgery_verbose = verbose && strcmp(verbose, "1") == 0;
	int failed = cmocka_run_group_tests_name("forgery", tests, fx_setup, fx_teardown);

	/* nng tears pipes down in its own threads: wait for them before exit,
	 * or LeakSanitizer sees them mid-teardown. */
	nng_fini();
	return failed;
}
