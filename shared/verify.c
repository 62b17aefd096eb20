/* The verifier's driver: runs the named checks in order, stops at the first
 * failure, and keeps every outcome in the result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "aicert_verify.h"
#include "attest.h"
#include "err.h"
#include "fileio.h"
#include "policy.h"
#include "proof.h"
#include "tcglog.h"
#include "tpmkey.h"
#include "verify_internal.h"

struct aicert_check {
	const char *name;
	enum aicert_check_status status;
	char *detail;
};

struct aicert_result {
	struct aicert_check *checks;
	size_t n;
	const char *failed;
	char platform[16];
	char *statement;
};

static int verify_format(struct vctx *c);

static const struct {
	const char *name;
	int (*run)(struct vctx *c);
	const char *passed; /* the detail of a pass */
} verify_checks[] = {
	{"proof.format", verify_format, "well-formed, within every size bound"},
	{"ek.certificate", verify_ek_certificate, NULL},
	{"ek.public-key", verify_ek_public, "the EK is the certificate's key"},
	{"ak.certificate", verify_ak_certificate, NULL},
	{"ak.binding", verify_ak_binding, NULL},
	{"quote.magic", verify_quote_magic, "TPM_GENERATED_VALUE"},
	{"quote.type", verify_quote_type, "TPM_ST_ATTEST_QUOTE"},
	{"quote.signature", verify_quote_signature, NULL},
	{"quote.signer", verify_quote_signer, "the certified AK, a child of this EK, signed it"},
	{"quote.nonce", verify_quote_nonce, NULL},
	{"quote.pcrs", verify_quote_pcrs, NULL},
	{"pcrs.required", verify_pcrs_required, NULL},
	{"boot.log", verify_boot_log, NULL},
	{"platform", verify_platform, NULL},
	{"runtime.log", verify_runtime_log, NULL},
	{"runtime.events", verify_runtime_events, NULL},
	{"job.counters", verify_job_counters, NULL},
	{"statement.inputs", verify_statement_inputs, NULL},
	{"statement.outputs", verify_statement_outputs, NULL},
	{"statement", verify_statement, NULL},
	{"policy.inputs", verify_policy_inputs, NULL},
	{"model.files", verify_model_files, NULL},
};

#define VERIFY_NCHECKS (sizeof(verify_checks) / sizeof(verify_checks[0]))

/* Parses the TPM structures of the evidence (keys, attestation, signature;
 * certificates and logs are parsed by their own checks): a proof whose parts do not
 * parse is malformed, whatever they would have proven. */
static int verify_format(struct vctx *c)
{
	const struct proof *p = c->proof;
	int r;

	r = tpmkey_parse_public(p->ek_public.data, p->ek_public.len, &c->ek_pub);
	if (r < 0)
		return err_wrap(r, "evidence.tpm.ek_public");
	r = tpmkey_parse_public(p->ak_public.data, p->ak_public.len, &c->ak_pub);
	if (r < 0)
		return err_wrap(r, "evidence.tpm.ak_public");
	r = attest_parse(p->attest.data, p->attest.len, &c->att);
	if (r < 0)
		return err_wrap(r, "evidence.quote.attest");
	r = attest_parse_signature(p->signature.data, p->signature.len, &c->sig);
	if (r < 0)
		return err_wrap(r, "evidence.quote.signature");
	return 0;
}

/* ---- Result ------------------------------------------------------------- */

static int result_new(struct aicert_result **ret)
{
	struct aicert_result *r = calloc(1, sizeof(*r));

	if (!r)
		return AICERT_ERR_NOMEM;
	r->checks = calloc(VERIFY_NCHECKS, sizeof(*r->checks));
	if (!r->checks) {
		free(r);
		return AICERT_ERR_NOMEM;
	}
	r->n = VERIFY_NCHECKS;
	for (size_t i = 0; i < VERIFY_NCHECKS; i++) {
		r->checks[i].name = verify_checks[i].name;
		r->checks[i].status = AICERT_CHECK_NOT_RUN;
	}
	*ret = r;
	return 0;
}

static void result_set(struct aicert_result *res, size_t i, enum aicert_check_status st,
		       const char *detail)
{
	res->checks[i].status = st;
	free(res->checks[i].detail);
	res->checks[i].detail = strdup(detail ? detail : "");
}

void aicert_result_free(struct aicert_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->checks[i].detail);
	free(r->checks);
	free(r->statement);
	free(r);
}

size_t aicert_result_count(const struct aicert_result *r)
{
	return r->n;
}

const char *aicert_result_name(const struct aicert_result *r, size_t i)
{
	return i < r->n ? r->checks[i].name : NULL;
}

enum aicert_check_status aicert_result_status(const struct aicert_result *r, size_t i)
{
	return i < r->n ? r->checks[i].status : AICERT_CHECK_NOT_RUN;
}

const char *aicert_result_detail(const struct aicert_result *r, size_t i)
{
	return i < r->n && r->checks[i].detail ? r->checks[i].detail : "";
}

const char *aicert_result_failed(const struct aicert_result *r)
{
	return r->failed;
}

const char *aicert_result_platform(const struct aicert_result *r)
{
	return r->platform[0] ? r->platform : NULL;
}

const char *aicert_result_statement(const struct aicert_result *r)
{
	return r->statement;
}

int aicert_result_json(const struct aicert_result *r, char **json)
{
	static const char *const st[] = {"pass", "fail", "skip", "not-run"};
	json_t *doc, *checks = json_array();
	char *s;

	for (size_t i = 0; checks && i < r->n; i++)
		json_array_append_new(checks,
				      json_pack("{s:s, s:s, s:s}", "name", r->checks[i].name,
						"status", st[r->checks[i].status], "detail",
						aicert_result_detail(r, i)));
	doc = json_pack("{s:b, s:o, s:o, s:o}", "verified", r->failed == NULL, "failed",
			r->failed ? json_string(r->failed) : json_null(), "platform",
			r->platform[0] ? json_string(r->platform) : json_null(), "checks", checks);
	if (doc && r->statement) {
		json_t *st_json = json_loads(r->statement, 0, NULL);

		json_object_set_new(doc, "statement", st_json ? st_json : json_null());
	}
	s = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_ENSURE_ASCII) : NULL;
	json_decref(doc);
	if (!s)
		return AICERT_ERR_NOMEM;
	*json = s;
	return 0;
}

/* ---- Driver ------------------------------------------------------------- */

static void vctx_clear(struct vctx *c)
{
	policy_free(c->own_policy);
	proof_free(c->proof);
	X509_free(c->ek_cert);
	X509_free(c->ak_cert);
	tcglog_free(c->boot);
	cel_clear(&c->rt);
	joblog_clear(&c->jl);
	json_decref(c->expected_statement);
	free(c->statement_text);
}

/* Runs the checks after proof.format; stops at the first failure. */
static int verify_run(struct vctx *c, struct aicert_result *res)
{
	for (size_t i = 1; i < VERIFY_NCHECKS; i++) {
		int r;

		err_clear();
		r = verify_checks[i].run(c);
		if (r < 0) {
			result_set(res, i, AICERT_CHECK_FAIL, err_msg(r));
			res->failed = verify_checks[i].name;
			return AICERT_ERR_REJECTED;
		}
		/* A check that passes or skips says what it found with
		 * err_set(0, ...) unless the table has a fixed text. */
		result_set(res, i, r == VERIFY_SKIP ? AICERT_CHECK_SKIP : AICERT_CHECK_PASS,
			   verify_checks[i].passed && r == 0 ? verify_checks[i].passed
							     : err_msg(0));
	}
	return 0;
}

int aicert_verify(const char *name, const uint8_t *proof, size_t len,
		  const struct aicert_verify_opts *opts, struct aicert_result **ret)
{
	struct aicert_result *res = NULL;
	struct vctx c = {.opts = opts};
	int r;

	if (!opts || (!opts->policy_path && !opts->policy))
		return err_set(AICERT_ERR_INVALID, "a policy is required");
	if (opts->policy) {
		c.policy = (const struct policy *)opts->policy;
	} else {
		r = policy_load(opts->policy_path, &c.own_policy);
		if (r < 0)
			return err_wrap(r, "policy");
		c.policy = c.own_policy;
	}
	r = result_new(&res);
	if (r < 0)
		goto out;
	c.now = opts->now ? (time_t)opts->now : time(NULL);
	err_clear();
	r = proof_parse(name, proof, len, &c.proof);
	if (r == 0)
		r = verify_format(&c);
	if (r < 0) {
		result_set(res, 0, AICERT_CHECK_FAIL, err_msg(r));
		res->failed = verify_checks[0].name;
		r = AICERT_ERR_REJECTED;
		goto done;
	}
	result_set(res, 0, AICERT_CHECK_PASS, verify_checks[0].passed);
	r = verify_run(&c, res);
	memcpy(res->platform, c.platform, sizeof(res->platform));
	if (r == 0 && c.statement_text)
		res->statement = strdup(c.statement_text);
done:
	*ret = res;
	res = NULL;
out:
	aicert_result_free(res);
	vctx_clear(&c);
	return r;
}

int aicert_policy_load(const char *path, struct aicert_policy **ret)
{
	return policy_load(path, (struct policy **)ret);
}

void aicert_policy_free(struct aicert_policy *p)
{
	policy_free((struct policy *)p);
}

int aicert_verify_file(const char *proof_path, const struct aicert_verify_opts *opts,
		       struct aicert_result **ret)
{
	uint8_t *buf = NULL;
	size_t len;
	int r;

	r = fileio_read_all(proof_path, PROOF_MAX_BYTES, &buf, &len);
	if (r == 0)
		r = aicert_verify(proof_path, buf, len, opts, ret);
	free(buf);
	return r;
}
