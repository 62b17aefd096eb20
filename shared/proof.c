#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest.h"
#include "b64.h"
#include "err.h"
#include "fileio.h"
#include "hex.h"
#include "jsonx.h"
#include "proof.h"

static const struct {
	const char *name;
	uint16_t alg;
	size_t len;
} proof_banks[] = {
	{"sha1", 0x0004, 20},
	{"sha256", 0x000b, 32},
	{"sha384", 0x000c, 48},
	{"sha512", 0x000d, 64},
};

#define PROOF_NBANKS (sizeof(proof_banks) / sizeof(proof_banks[0]))

const char *proof_bank_name(uint16_t hash_alg)
{
	for (size_t i = 0; i < PROOF_NBANKS; i++)
		if (proof_banks[i].alg == hash_alg)
			return proof_banks[i].name;
	return NULL;
}

void proof_pcr_values(const struct proof *p, struct attest_pcr_value *v)
{
	for (size_t i = 0; i < p->n_pcrs; i++)
		v[i] = (struct attest_pcr_value){.hash_alg = p->pcrs[i].hash_alg,
						 .pcr = p->pcrs[i].pcr,
						 .digest = p->pcrs[i].digest,
						 .size = p->pcrs[i].len};
}

void proof_sha256_pcrs(const struct proof *p, uint8_t out[24][32], uint32_t *mask)
{
	*mask = 0;
	for (size_t i = 0; i < p->n_pcrs; i++)
		if (p->pcrs[i].hash_alg == 0x000b && p->pcrs[i].len == 32 && p->pcrs[i].pcr < 24) {
			memcpy(out[p->pcrs[i].pcr], p->pcrs[i].digest, 32);
			*mask |= 1u << p->pcrs[i].pcr;
		}
}

void proof_free(struct proof *p)
{
	if (!p)
		return;
	json_decref(p->statement);
	free(p->ek_public.data);
	free(p->ak_public.data);
	for (size_t i = 0; i < p->n_ek_certs; i++)
		free(p->ek_certs[i].data);
	for (size_t i = 0; i < p->n_ak_certs; i++)
		free(p->ak_certs[i].data);
	free(p->attest.data);
	free(p->signature.data);
	free(p->boot_log.data);
	free(p->runtime_log.data);
	free(p);
}

/* ---- Parsing ------------------------------------------------------------- */

static int proof_blob(const json_t *o, const char *key, const char *path, size_t max,
		      struct proof_blob *b)
{
	char full[96];

	snprintf(full, sizeof(full), "%s.%s", path, key);
	return jsonx_b64(json_object_get(o, key), full, max, &b->data, &b->len);
}

static int proof_certs(const json_t *o, const char *key, struct proof_blob *certs, size_t *n)
{
	const json_t *arr = json_object_get(o, key);
	char path[96];
	size_t count;
	int r;

	snprintf(path, sizeof(path), "evidence.tpm.%s", key);
	r = jsonx_array(arr, path, PROOF_MAX_CERTS, &count);
	if (r == 0 && count == 0)
		r = err_set(AICERT_ERR_INVALID, "%s: at least one certificate expected", path);
	for (size_t i = 0; r == 0 && i < count; i++) {
		snprintf(path, sizeof(path), "evidence.tpm.%s[%zu]", key, i);
		r = jsonx_b64(json_array_get(arr, i), path, PROOF_MAX_CERT, &certs[i].data,
			      &certs[i].len);
		if (r == 0)
			(*n)++;
	}
	return r;
}

static int proof_parse_tpm(const json_t *t, struct proof *p)
{
	static const char *const keys[] = {"ek_public", "ek_certificates", "ak_public",
					   "ak_certificates", NULL};
	int r;

	r = jsonx_check_keys(t, "evidence.tpm", keys, keys);
	if (r == 0)
		r = proof_blob(t, "ek_public", "evidence.tpm", PROOF_MAX_TPM_BLOB, &p->ek_public);
	if (r == 0)
		r = proof_certs(t, "ek_certificates", p->ek_certs, &p->n_ek_certs);
	if (r == 0)
		r = proof_blob(t, "ak_public", "evidence.tpm", PROOF_MAX_TPM_BLOB, &p->ak_public);
	if (r == 0)
		r = proof_certs(t, "ak_certificates", p->ak_certs, &p->n_ak_certs);
	return r;
}

/* "0".."23" exactly: no sign, no leading zero. */
static int proof_pcr_index(const char *key, const char *bank, uint8_t *pcr)
{
	size_t n = strlen(key);

	if (n == 0 || n > 2 || (n == 2 && key[0] == '0') || key[0] < '0' || key[0] > '9' ||
	    (n == 2 && (key[1] < '0' || key[1] > '9')) || atoi(key) > 23)
		return err_set(AICERT_ERR_INVALID, "evidence.pcrs.%s: '%s' is not a PCR index 0-23",
			       bank, key);
	*pcr = (uint8_t)atoi(key);
	return 0;
}

static int proof_parse_bank(const json_t *vals, size_t b, struct proof *p)
{
	const char *key;
	char path[64];
	json_t *v;
	int r;

	snprintf(path, sizeof(path), "evidence.pcrs.%s", proof_banks[b].name);
	if (!json_is_object(vals) || json_object_size(vals) == 0)
		return err_set(AICERT_ERR_INVALID, "%s: expected an object of PCR values", path);
	json_object_foreach((json_t *)vals, key, v)
	{
		struct proof_pcr *pc;

		if (p->n_pcrs == PROOF_MAX_PCRS)
			return err_set(AICERT_ERR_TOO_BIG, "evidence.pcrs: too many values");
		pc = &p->pcrs[p->n_pcrs];
		pc->hash_alg = proof_banks[b].alg;
		r = proof_pcr_index(key, proof_banks[b].name, &pc->pcr);
		if (r == 0) {
			snprintf(path, sizeof(path), "evidence.pcrs.%s.%s", proof_banks[b].name,
				 key);
			r = jsonx_hex_exact(v, path, pc->digest, proof_banks[b].len);
		}
		if (r < 0)
			return r;
		pc->len = proof_banks[b].len;
		p->n_pcrs++;
	}
	return 0;
}

static int proof_parse_pcrs(const json_t *pcrs, struct proof *p)
{
	const char *key;
	json_t *v;

	if (!json_is_object(pcrs) || json_object_size(pcrs) == 0)
		return err_set(AICERT_ERR_INVALID, "evidence.pcrs: expected an object of banks");
	json_object_foreach((json_t *)pcrs, key, v)
	{
		size_t b;
		int r;

		for (b = 0; b < PROOF_NBANKS; b++)
			if (strcmp(key, proof_banks[b].name) == 0)
				break;
		if (b == PROOF_NBANKS)
			return err_set(AICERT_ERR_INVALID, "evidence.pcrs: unknown bank '%s'", key);
		r = proof_parse_bank(v, b, p);
		if (r < 0)
			return r;
	}
	return 0;
}

static int proof_parse_binding(const json_t *e, struct proof *p)
{
	static const char *const platforms[] = {"development", "measured"};
	const char *s;
	int r;

	r = jsonx_str(json_object_get(e, "platform"), "evidence.platform", 15, &s);
	if (r < 0)
		return r;
	if (strcmp(s, platforms[0]) != 0 && strcmp(s, platforms[1]) != 0)
		return err_set(AICERT_ERR_INVALID,
			       "evidence.platform: '%s', expected development or measured", s);
	strcpy(p->platform, s);
	r = jsonx_str(json_object_get(e, "job_id"), "evidence.job_id", sizeof(p->job_id) - 1, &s);
	if (r < 0)
		return r;
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return err_set(AICERT_ERR_INVALID, "evidence.job_id: a control character");
	strcpy(p->job_id, s);
	return jsonx_hex(json_object_get(e, "nonce"), "evidence.nonce", p->nonce, 16,
			 sizeof(p->nonce), &p->nonce_len);
}

static int proof_parse_evidence(const json_t *e, struct proof *p)
{
	static const char *const keys[] = {"platform", "job_id", "nonce",      "tpm",
					   "quote",    "pcrs",   "event_logs", NULL};
	static const char *const quote_keys[] = {"attest", "signature", NULL};
	static const char *const log_keys[] = {"boot", "runtime", NULL};
	const json_t *q = json_object_get(e, "quote"), *l = json_object_get(e, "event_logs");
	int r;

	r = jsonx_check_keys(e, "evidence", keys, keys);
	if (r == 0)
		r = proof_parse_binding(e, p);
	if (r == 0)
		r = proof_parse_tpm(json_object_get(e, "tpm"), p);
	if (r == 0)
		r = jsonx_check_keys(q, "evidence.quote", quote_keys, quote_keys);
	if (r == 0)
		r = proof_blob(q, "attest", "evidence.quote", PROOF_MAX_TPM_BLOB, &p->attest);
	if (r == 0)
		r = proof_blob(q, "signature", "evidence.quote", PROOF_MAX_TPM_BLOB, &p->signature);
	if (r == 0)
		r = proof_parse_pcrs(json_object_get(e, "pcrs"), p);
	if (r == 0)
		r = jsonx_check_keys(l, "evidence.event_logs", log_keys, log_keys);
	if (r == 0)
		r = proof_blob(l, "boot", "evidence.event_logs", PROOF_MAX_BOOT_LOG, &p->boot_log);
	if (r == 0)
		r = proof_blob(l, "runtime", "evidence.event_logs", PROOF_MAX_RT_LOG,
			       &p->runtime_log);
	return r;
}

int proof_parse(const char *name, const uint8_t *buf, size_t len, struct proof **ret)
{
	static const char *const keys[] = {"version", "statement", "evidence", NULL};
	static const char *const required[] = {"version", "evidence", NULL};
	struct proof *p = NULL;
	json_t *doc = NULL;
	const char *version;
	int r;

	if (len > PROOF_MAX_BYTES)
		return err_set(AICERT_ERR_TOO_BIG, "%s: %zu bytes, at most %u allowed", name, len,
			       PROOF_MAX_BYTES);
	r = jsonx_parse(name, buf, len, &doc);
	if (r < 0)
		return r;
	p = calloc(1, sizeof(*p));
	if (!p) {
		r = AICERT_ERR_NOMEM;
		goto out;
	}
	r = jsonx_check_keys(doc, "proof", keys, required);
	if (r == 0)
		r = jsonx_str(json_object_get(doc, "version"), "version", 64, &version);
	if (r == 0 && strcmp(version, PROOF_VERSION) != 0)
		r = err_set(AICERT_ERR_UNSUPPORTED, "version: '%s', this verifier reads %s",
			    version, PROOF_VERSION);
	if (r == 0 && json_object_get(doc, "statement")) {
		p->statement = json_incref(json_object_get(doc, "statement"));
		if (!json_is_object(p->statement))
			r = err_set(AICERT_ERR_INVALID, "statement: expected an object");
	}
	if (r == 0)
		r = proof_parse_evidence(json_object_get(doc, "evidence"), p);
out:
	json_decref(doc);
	if (r < 0) {
		proof_free(p);
		return err_wrap(r, "%s", name);
	}
	*ret = p;
	return 0;
}

int proof_load(const char *path, struct proof **ret)
{
	uint8_t *buf = NULL;
	size_t len;
	int r;

	r = fileio_read_all(path, PROOF_MAX_BYTES, &buf, &len);
	if (r == 0)
		r = proof_parse(path, buf, len, ret);
	free(buf);
	return r;
}

/* ---- Writing --------------------------------------------------------------- */

static json_t *proof_b64(const struct proof_blob *b)
{
	char *s = b64_encode(b->data, b->len);
	json_t *v = s ? json_string(s) : NULL;

	free(s);
	return v;
}

static json_t *proof_cert_list(const struct proof_blob *certs, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, proof_b64(&certs[i]));
	return a;
}

static json_t *proof_pcrs_json(const struct proof *p)
{
	json_t *pcrs = json_object();

	for (size_t i = 0; pcrs && i < p->n_pcrs; i++) {
		const char *bank = proof_bank_name(p->pcrs[i].hash_alg);
		json_t *vals = json_object_get(pcrs, bank);
		char key[4], hex[129];

		if (!bank)
			continue;
		if (!vals) {
			vals = json_object();
			json_object_set_new(pcrs, bank, vals);
		}
		snprintf(key, sizeof(key), "%u", p->pcrs[i].pcr);
		hex_encode(p->pcrs[i].digest, p->pcrs[i].len, hex);
		json_object_set_new(vals, key, json_string(hex));
	}
	return pcrs;
}

static json_t *proof_evidence_json(const struct proof *p)
{
	char nonce[129];

	hex_encode(p->nonce, p->nonce_len, nonce);
	return json_pack("{s:s, s:s, s:s, s:{s:o, s:o, s:o, s:o}, s:{s:o, s:o}, s:o, s:{s:o, s:o}}",
			 "platform", p->platform, "job_id", p->job_id, "nonce", nonce, "tpm",
			 "ek_public", proof_b64(&p->ek_public), "ek_certificates",
			 proof_cert_list(p->ek_certs, p->n_ek_certs), "ak_public",
			 proof_b64(&p->ak_public), "ak_certificates",
			 proof_cert_list(p->ak_certs, p->n_ak_certs), "quote", "attest",
			 proof_b64(&p->attest), "signature", proof_b64(&p->signature), "pcrs",
			 proof_pcrs_json(p), "event_logs", "boot", proof_b64(&p->boot_log),
			 "runtime", proof_b64(&p->runtime_log));
}

int proof_write(const struct proof *p, char **json)
{
	json_t *doc = json_object(), *ev = proof_evidence_json(p);
	char *s = NULL;

	if (doc && ev) {
		json_object_set_new(doc, "version", json_string(PROOF_VERSION));
		if (p->statement)
			json_object_set(doc, "statement", p->statement);
		json_object_set(doc, "evidence", ev);
		s = json_dumps(doc, JSON_INDENT(2) | JSON_ENSURE_ASCII);
	}
	json_decref(ev);
	json_decref(doc);
	if (!s)
		return err_set(AICERT_ERR_NOMEM, "cannot serialise the proof");
	*json = s;
	return 0;
}

int proof_save(const struct proof *p, const char *path)
{
	char *s = NULL;
	int r;

	r = proof_write(p, &s);
	if (r == 0) {
		size_t n = strlen(s);

		s[n] = '\n'; /* replaces the NUL: files end with a newline */
		r = fileio_write_atomic(path, s, n + 1, 0644);
	}
	free(s);
	return r;
}
