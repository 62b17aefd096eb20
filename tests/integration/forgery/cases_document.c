/* Forgeries of the proof document (strict parsing, bounds, nothing trailing)
 * and of its Statement (which must follow from the runtime log). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proof.h"
#include "forge.h"

/* ---- the document as JSON -------------------------------------------------------------------- */

static json_t *doc_good(const struct fx *f)
{
	json_error_t e;
	json_t *doc = json_loadb((const char *)f->good.buf, f->good.len, 0, &e);

	if (!doc)
		fail_msg("the good proof: %s", e.text);
	return doc;
}

static void doc_emit(struct forged *o, json_t *doc)
{
	char *s = json_dumps(doc, JSON_INDENT(2));

	assert_non_null(s);
	forge_text(o, s, strlen(s));
	free(s);
	json_decref(doc);
}

static void doc_set(json_t *doc, const char *path, const char *key, json_t *v)
{
	assert_int_equal(json_object_set_new(forge_json_at(doc, path), key, v), 0);
}

static json_t *doc_hex(size_t n)
{
	char *hex = malloc(2 * n + 1);
	json_t *v;

	assert_non_null(hex);
	memset(hex, 'a', 2 * n);
	hex[2 * n] = '\0';
	v = json_string(hex);
	free(hex);
	return v;
}

static void fmt_trailing_text(struct fx *f, struct forged *o, const char *tail, size_t tail_len)
{
	char *s = malloc(f->good.len + tail_len);

	assert_non_null(s);
	memcpy(s, f->good.buf, f->good.len);
	memcpy(s + f->good.len, tail, tail_len);
	forge_text(o, s, f->good.len + tail_len);
	free(s);
}

static void fmt_trailing_byte(struct fx *f, struct forged *o)
{
	fmt_trailing_text(f, o, "x", 1);
}

static void fmt_trailing_document(struct fx *f, struct forged *o)
{
	fmt_trailing_text(f, o, "{}\n", 3);
}

static void fmt_trailing_nul(struct fx *f, struct forged *o)
{
	fmt_trailing_text(f, o, "\0", 1);
}

static void fmt_truncated(struct fx *f, struct forged *o)
{
	forge_text(o, (const char *)f->good.buf, f->good.len / 2);
}

static void fmt_duplicate_key(struct fx *f, struct forged *o)
{
	forge_text_replace(o, forge_good_text(f), "\"job_id\": \"" FX_GOOD_JOB "\"",
			   "\"job_id\": \"" FX_OTHER_JOB "\", \"job_id\": \"" FX_GOOD_JOB "\"");
}

/* The last base64 character before the padding with an unused bit set:
 * the same bytes, in a second spelling. */
static void fmt_noncanonical_base64(struct fx *f, struct forged *o)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *text = forge_good_text(f), *v = forge_text_member(text, "ak_public"), *w;
	size_t n = strlen(v);
	char *pad = strchr(v, '=');

	assert_non_null(pad); /* an 88-byte ECC AK: "==" */
	w = strdup(v);
	assert_non_null(w);
	w[pad - v - 1] = alphabet[(strchr(alphabet, pad[-1]) - alphabet) ^ 1];
	assert_true(n > 4);
	forge_text_replace(o, text, v, w);
	free(v);
	free(w);
}

/* Four characters of whitespace keep the length a multiple of 4: what a
 * lenient decoder skips. */
static void fmt_base64_whitespace(struct fx *f, struct forged *o)
{
	forge_text_replace(o, forge_good_text(f), "\"ak_public\": \"",
			   "\"ak_public\": \"\\r\\n\\r\\n");
}

static void fmt_base64_unpadded(struct fx *f, struct forged *o)
{
	char *text = forge_good_text(f), *v = forge_text_member(text, "ak_public"), *w;

	w = strndup(v, strcspn(v, "="));
	assert_non_null(w);
	forge_text_replace(o, text, v, w);
	free(v);
	free(w);
}

static void fmt_nine_ek_certs(struct fx *f, struct forged *o)
{
	json_t *doc = doc_good(f), *certs = forge_json_at(doc, "evidence.tpm.ek_certificates");

	while (json_array_size(certs) < 9)
		json_array_append(certs, json_array_get(certs, 0));
	doc_emit(o, doc);
}

static void fmt_ek_public_too_big(struct fx *f, struct forged *o)
{
	uint8_t big[PROOF_MAX_TPM_BLOB + 1] = {0};
	struct proof *p = forge_good(f);

	fx_blob_set(&p->ek_public, big, sizeof(big));
	forge_emit(o, p);
}

static void fmt_nonce_65_bytes(struct fx *f, struct forged *o)
{
	json_t *doc = doc_good(f);

	doc_set(doc, "evidence", "nonce", doc_hex(65));
	doc_emit(o, doc);
}

static void fmt_nonce_huge(struct fx *f, struct forged *o)
{
	json_t *doc = doc_good(f);

	doc_set(doc, "evidence", "nonce", doc_hex(1u << 20));
	doc_emit(o, doc);
}

static void fmt_nonce_short(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	p->nonce_len = 15;
	forge_emit(o, p);
}

static void fmt_unknown_member(struct fx *f, struct forged *o)
{
	json_t *doc = doc_good(f);

	doc_set(doc, "evidence", "ak_name", json_string("000b"));
	doc_emit(o, doc);
}

static void fmt_statement_not_object(struct fx *f, struct forged *o)
{
	json_t *doc = doc_good(f);

	assert_int_equal(json_object_set_new(doc, "statement", json_string("{}")), 0);
	doc_emit(o, doc);
}

static void fmt_pcr_index(struct fx *f, struct forged *o, const char *index)
{
	json_t *doc = doc_good(f), *bank = forge_json_at(doc, "evidence.pcrs.sha256");
	json_t *v = json_object_get(bank, "14");

	assert_int_equal(json_object_set(bank, index, v), 0);
	assert_int_equal(json_object_del(bank, "14"), 0);
	doc_emit(o, doc);
}

static void fmt_pcr_index_24(struct fx *f, struct forged *o)
{
	fmt_pcr_index(f, o, "24");
}

static void fmt_pcr_index_leading_zero(struct fx *f, struct forged *o)
{
	fmt_pcr_index(f, o, "014");
}

static void fmt_pcr_unknown_bank(struct fx *f, struct forged *o)
{
	json_t *doc = doc_good(f);

	doc_set(doc, "evidence.pcrs", "sm3_256", json_pack("{s:o}", "0", doc_hex(32)));
	doc_emit(o, doc);
}

static void fmt_pcr_short_value(struct fx *f, struct forged *o)
{
	json_t *doc = doc_good(f);

	doc_set(doc, "evidence.pcrs.sha256", "14", doc_hex(31));
	doc_emit(o, doc);
}

static void fmt_version(struct fx *f, struct forged *o)
{
	forge_text_replace(o, forge_good_text(f), PROOF_VERSION, "aicert-proof/v2");
}

static void fmt_no_ak_certificate(struct fx *f, struct forged *o)
{
	json_t *doc = doc_good(f);

	doc_set(doc, "evidence.tpm", "ak_certificates", json_array());
	doc_emit(o, doc);
}

static void fmt_platform_unknown(struct fx *f, struct forged *o)
{
	json_t *doc = doc_good(f);

	doc_set(doc, "evidence", "platform", json_string("cloud"));
	doc_emit(o, doc);
}

static void fmt_job_id_too_long(struct fx *f, struct forged *o)
{
	char id[130];
	json_t *doc = doc_good(f);

	memset(id, 'j', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	doc_set(doc, "evidence", "job_id", json_string(id));
	doc_emit(o, doc);
}

static void fmt_job_id_nul(struct fx *f, struct forged *o)
{
	forge_text_replace(o, forge_good_text(f), "\"job_id\": \"" FX_GOOD_JOB "\"",
			   "\"job_id\": \"" FX_GOOD_JOB "\\u0000x\"");
}

static const struct forgery cases_format_list[] = {
	FORGERY("a byte after the JSON document", "proof.format", fmt_trailing_byte),
	FORGERY("a second JSON document after the proof", "proof.format", fmt_trailing_document),
	FORGERY("a NUL byte after the JSON document", "proof.format", fmt_trailing_nul),
	FORGERY("proof cut in half", "proof.format", fmt_truncated),
	FORGERY("job_id member given twice", "proof.format", fmt_duplicate_key),
	FORGERY("non-canonical base64 (unused bits set)", "proof.format", fmt_noncanonical_base64),
	FORGERY("base64 with line breaks", "proof.format", fmt_base64_whitespace),
	FORGERY("base64 without its padding", "proof.format", fmt_base64_unpadded),
	FORGERY("nine EK certificates (limit 8)", "proof.format", fmt_nine_ek_certs),
	FORGERY("ek_public of 1025 bytes (limit 1024)", "proof.format", fmt_ek_public_too_big),
	FORGERY("nonce of 65 bytes (limit 64)", "proof.format", fmt_nonce_65_bytes),
	FORGERY("nonce of 1 MiB", "proof.format", fmt_nonce_huge),
	FORGERY("nonce of 15 bytes (at least 16)", "proof.format", fmt_nonce_short),
	FORGERY("unknown evidence member", "proof.format", fmt_unknown_member),
	FORGERY("statement that is a string", "proof.format", fmt_statement_not_object),
	FORGERY("PCR index 24", "proof.format", fmt_pcr_index_24),
	FORGERY("PCR index with a leading zero", "proof.format", fmt_pcr_index_leading_zero),
	FORGERY("PCR bank sm3_256", "proof.format", fmt_pcr_unknown_bank),
	FORGERY("PCR value of 31 bytes", "proof.format", fmt_pcr_short_value),
	FORGERY("version aicert-proof/v2", "proof.format", fmt_version),
	FORGERY("no AK certificate", "proof.format", fmt_no_ak_certificate),
	FORGERY("platform 'cloud'", "proof.format", fmt_platform_unknown),
	FORGERY("job_id of 129 bytes", "proof.format", fmt_job_id_too_long),
	FORGERY("job_id with a NUL character", "proof.format", fmt_job_id_nul),
};

const struct forgery_table cases_format = {"proof format", cases_format_list,
					   sizeof(cases_format_list) /
						   sizeof(cases_format_list[0])};

/* ---- the Statement --------------------------------------------------------------------------- */

#define DEPS "predicate.buildDefinition.resolvedDependencies"

static void st_input_digests_swapped(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);
	json_t *d0 = forge_json_at(p->statement, DEPS ".0"),
	       *d1 = forge_json_at(p->statement, DEPS ".1");
	json_t *g0 = json_incref(json_object_get(d0, "digest"));

	json_object_set(d0, "digest", json_object_get(d1, "digest"));
	json_object_set_new(d1, "digest", g0);
	forge_emit(o, p);
}

static void st_input_removed(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	assert_int_equal(json_array_remove(forge_json_at(p->statement, DEPS), 1), 0);
	forge_emit(o, p);
}

static void st_set(struct forged *o, struct proof *p, const char *path, const char *key, json_t *v)
{
	assert_int_equal(json_object_set_new(forge_json_at(p->statement, path), key, v), 0);
	forge_emit(o, p);
}

static void st_output_digest_swapped(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);
	json_t *other = forge_json_at(p->statement, "subject.1.digest.sha256");

	st_set(o, p, "subject.0.digest", "sha256", json_copy(other));
}

static void st_extra_subject(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	json_array_append_new(forge_json_at(p->statement, "subject"),
			      json_pack("{s:s, s:{s:o}}", "name", "backdoor.bin", "digest",
					"sha256", doc_hex(32)));
	forge_emit(o, p);
}

static void st_subjects_reordered(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);
	json_t *s = forge_json_at(p->statement, "subject");
	json_t *first = json_incref(json_array_get(s, 0));

	json_array_remove(s, 0);
	json_array_append_new(s, first);
	forge_emit(o, p);
}

static void st_builder_id(struct fx *f, struct forged *o)
{
	st_set(o, forge_good(f), "predicate.runDetails.builder", "id",
	       json_string("urn:aicert:platform:measured"));
}

static void st_runtime_log_digest(struct fx *f, struct forged *o)
{
	st_set(o, forge_good(f), "predicate.runDetails.byproducts.0.digest", "sha256", doc_hex(32));
}

static void st_config_digest(struct fx *f, struct forged *o)
{
	st_set(o, forge_good(f), "predicate.buildDefinition.externalParameters",
	       "job_config_sha256", doc_hex(32));
}

static void st_exit_code(struct fx *f, struct forged *o)
{
	st_set(o, forge_good(f), "predicate.runDetails.byproducts.1.annotations", "exit_code",
	       json_integer(1));
}

static void st_reset_count(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);
	json_t *ip = forge_json_at(p->statement, "predicate.buildDefinition.internalParameters");

	st_set(o, p, "predicate.buildDefinition.internalParameters", "reset_count",
	       json_integer(json_integer_value(json_object_get(ip, "reset_count")) + 1));
}

static void st_extra_member(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	assert_int_equal(json_object_set_new(p->statement, "reviewed", json_true()), 0);
	forge_emit(o, p);
}

static const struct forgery cases_statement_list[] = {
	FORGERY("input digests swapped in the statement", "statement.inputs",
		st_input_digests_swapped),
	FORGERY("input left out of the statement", "statement.inputs", st_input_removed),
	FORGERY("output digest swapped in the statement", "statement.outputs",
		st_output_digest_swapped),
	FORGERY("subject added to the statement", "statement.outputs", st_extra_subject),
	FORGERY("subjects reordered", "statement.outputs", st_subjects_reordered),
	FORGERY("builder id claims a measured platform", "statement", st_builder_id),
	FORGERY("runtime-log digest changed", "statement", st_runtime_log_digest),
	FORGERY("job config digest changed", "statement", st_config_digest),
	FORGERY("exit code changed", "statement", st_exit_code),
	FORGERY("reset count changed", "statement", st_reset_count),
	FORGERY("member added to the statement", "statement", st_extra_member),
};

const struct forgery_table cases_statement = {"statement", cases_statement_list,
					      sizeof(cases_statement_list) /
						      sizeof(cases_statement_list[0])};
