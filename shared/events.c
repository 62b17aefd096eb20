#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "err.h"
#include "events.h"
#include "hex.h"
#include "jsonx.h"

#define EVENTS_MAX_DATA 65536

static const struct {
	const char *name;
	uint32_t type;
	uint32_t pcr;
} events_kinds[] = {
	[EVENTS_JOB_START] = {"job-start", AICERT_EV_JOB_START, AICERT_PCR_INPUTS},
	[EVENTS_INPUT] = {"input", AICERT_EV_INPUT, AICERT_PCR_INPUTS},
	[EVENTS_OUTPUT] = {"output", AICERT_EV_OUTPUT, AICERT_PCR_OUTPUTS},
	[EVENTS_OUTPUTS] = {"outputs", AICERT_EV_OUTPUTS, AICERT_PCR_OUTPUTS},
	[EVENTS_JOB_END] = {"job-end", AICERT_EV_JOB_END, AICERT_PCR_OUTPUTS},
	[EVENTS_CONTROLLER] = {"controller", AICERT_EV_CONTROLLER, AICERT_PCR_SESSION},
};

#define EVENTS_NKINDS (sizeof(events_kinds) / sizeof(events_kinds[0]))

uint32_t events_type(enum events_kind kind)
{
	return events_kinds[kind].type;
}

uint32_t events_pcr(enum events_kind kind)
{
	return events_kinds[kind].pcr;
}

static json_t *events_hex(const uint8_t *buf, size_t len)
{
	char s[2 * 64 + 1];

	hex_encode(buf, len, s);
	return json_string(s);
}

static json_t *events_to_json(const struct events_event *ev)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "type", json_string(events_kinds[ev->kind].name));
	switch (ev->kind) {
	case EVENTS_JOB_START:
		json_object_set_new(o, "job_id", json_string(ev->u.start.job_id));
		json_object_set_new(o, "nonce",
				    events_hex(ev->u.start.nonce, ev->u.start.nonce_len));
		json_object_set_new(o, "config_sha256", events_hex(ev->u.start.config_sha256, 32));
		json_object_set_new(o, "reset_count", json_integer(ev->u.start.reset_count));
		json_object_set_new(o, "restart_count", json_integer(ev->u.start.restart_count));
		break;
	case EVENTS_INPUT:
		json_object_set_new(o, "kind", json_string(ev->u.input.kind));
		json_object_set_new(o, "name", json_string(ev->u.input.name));
		json_object_set_new(o, "uri", json_string(ev->u.input.uri));
		json_object_set_new(o, "sha256", events_hex(ev->u.input.sha256, 32));
		json_object_set_new(o, "files", json_integer((json_int_t)ev->u.input.files));
		json_object_set_new(o, "size", json_integer((json_int_t)ev->u.input.size));
		break;
	case EVENTS_OUTPUT:
		json_object_set_new(o, "path", json_string(ev->u.output.path));
		json_object_set_new(o, "sha256", events_hex(ev->u.output.sha256, 32));
		json_object_set_new(o, "size", json_integer((json_int_t)ev->u.output.size));
		break;
	case EVENTS_OUTPUTS:
		json_object_set_new(o, "root_sha256", events_hex(ev->u.outputs.root_sha256, 32));
		json_object_set_new(o, "files", json_integer((json_int_t)ev->u.outputs.files));
		break;
	case EVENTS_JOB_END:
		json_object_set_new(o, "exit_code", json_integer(ev->u.end.exit_code));
		json_object_set_new(o, "flops", json_integer((json_int_t)ev->u.end.flops));
		json_object_set_new(o, "wall_ms", json_integer((json_int_t)ev->u.end.wall_ms));
		break;
	case EVENTS_CONTROLLER:
		json_object_set_new(o, "identity_sha256",
				    events_hex(ev->u.controller.identity_sha256, 32));
		break;
	}
	return o;
}

int events_encode(const struct events_event *ev, uint8_t **buf, size_t *len)
{
	json_t *o = events_to_json(ev);
	char *s;

	if (!o)
		return AICERT_ERR_NOMEM;
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	json_decref(o);
	if (!s)
		return err_set(AICERT_ERR_INVALID,
			       "event: cannot encode (invalid UTF-8 in a name?)");
	*len = strlen(s);
	*buf = (uint8_t *)s;
	return 0;
}

static int events_copy(const json_t *o, const char *key, const char *what, char *out, size_t max)
{
	char path[64];
	const char *s;
	int r;

	snprintf(path, sizeof(path), "%s.%s", what, key);
	r = jsonx_str(json_object_get(o, key), path, max, &s);
	if (r < 0)
		return r;
	/* Names end up on terminals: no control characters. */
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return err_set(AICERT_ERR_INVALID, "%s: contains a control character",
				       path);
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static int events_u32(const json_t *o, const char *key, const char *what, uint32_t *out)
{
	char path[64];
	uint64_t v;
	int r;

	snprintf(path, sizeof(path), "%s.%s", what, key);
	r = jsonx_u64(json_object_get(o, key), path, UINT32_MAX, &v);
	if (r == 0)
		*out = (uint32_t)v;
	return r;
}

static int events_u64(const json_t *o, const char *key, const char *what, uint64_t *out)
{
	char path[64];

	snprintf(path, sizeof(path), "%s.%s", what, key);
	return jsonx_u64(json_object_get(o, key), path, (uint64_t)INT64_MAX, out);
}

static int events_sha(const json_t *o, const char *key, const char *what, uint8_t out[32])
{
	char path[64];

	snprintf(path, sizeof(path), "%s.%s", what, key);
	return jsonx_hex_exact(json_object_get(o, key), path, out, 32);
}

static int events_parse_start(const json_t *o, struct events_job_start *s)
{
	static const char *const keys[] = {"type",        "job_id",        "nonce", "config_sha256",
					   "reset_count", "restart_count", NULL};
	int r;

	r = jsonx_check_keys(o, "job-start", keys, keys);
	if (r == 0)
		r = events_copy(o, "job_id", "job-start", s->job_id, EVENTS_MAX_JOB_ID);
	if (r == 0)
		r = jsonx_hex(json_object_get(o, "nonce"), "job-start.nonce", s->nonce, 16,
			      EVENTS_MAX_NONCE, &s->nonce_len);
	if (r == 0)
		r = events_sha(o, "config_sha256", "job-start", s->config_sha256);
	if (r == 0)
		r = events_u32(o, "reset_count", "job-start", &s->reset_count);
	if (r == 0)
		r = events_u32(o, "restart_count", "job-start", &s->restart_count);
	return r;
}

static int events_parse_input(const json_t *o, struct events_input *in)
{
	static const char *const keys[] = {"type",   "kind",  "name", "uri",
					   "sha256", "files", "size", NULL};
	int r;

	r = jsonx_check_keys(o, "input", keys, keys);
	if (r == 0)
		r = events_copy(o, "kind", "input", in->kind, sizeof(in->kind) - 1);
	if (r == 0)
		r = events_copy(o, "name", "input", in->name, EVENTS_MAX_NAME);
	if (r == 0)
		r = events_copy(o, "uri", "input", in->uri, EVENTS_MAX_PATH);
	if (r == 0)
		r = events_sha(o, "sha256", "input", in->sha256);
	if (r == 0)
		r = events_u64(o, "files", "input", &in->files);
	if (r == 0)
		r = events_u64(o, "size", "input", &in->size);
	return r;
}

static int events_parse_output(const json_t *o, struct events_output *out)
{
	static const char *const keys[] = {"type", "path", "sha256", "size", NULL};
	int r;

	r = jsonx_check_keys(o, "output", keys, keys);
	if (r == 0)
		r = events_copy(o, "path", "output", out->path, EVENTS_MAX_PATH);
	if (r == 0)
		r = events_sha(o, "sha256", "output", out->sha256);
	if (r == 0)
		r = events_u64(o, "size", "output", &out->size);
	return r;
}

static int events_parse_outputs(const json_t *o, struct events_outputs *out)
{
	static const char *const keys[] = {"type", "root_sha256", "files", NULL};
	int r;

	r = jsonx_check_keys(o, "outputs", keys, keys);
	if (r == 0)
		r = events_sha(o, "root_sha256", "outputs", out->root_sha256);
	if (r == 0)
		r = events_u64(o, "files", "outputs", &out->files);
	return r;
}

static int events_parse_controller(const json_t *o, struct events_controller *c)
{
	static const char *const keys[] = {"type", "identity_sha256", NULL};
	int r;

	r = jsonx_check_keys(o, "controller", keys, keys);
	if (r == 0)
		r = events_sha(o, "identity_sha256", "controller", c->identity_sha256);
	return r;
}

static int events_parse_end(const json_t *o, struct events_job_end *end)
{
	static const char *const keys[] = {"type", "exit_code", "flops", "wall_ms", NULL};
	const json_t *code = json_object_get(o, "exit_code");
	int r;

	r = jsonx_check_keys(o, "job-end", keys, keys);
	if (r == 0 && (!json_is_integer(code) || json_integer_value(code) < INT32_MIN ||
		       json_integer_value(code) > INT32_MAX))
		r = err_set(AICERT_ERR_INVALID, "job-end.exit_code: expected a 32-bit integer");
	if (r == 0)
		end->exit_code = (int32_t)json_integer_value(code);
	if (r == 0)
		r = events_u64(o, "flops", "job-end", &end->flops);
	if (r == 0)
		r = events_u64(o, "wall_ms", "job-end", &end->wall_ms);
	return r;
}

static int events_parse(const json_t *o, enum events_kind kind, struct events_event *ev)
{
	ev->kind = kind;
	switch (kind) {
	case EVENTS_JOB_START:
		return events_parse_start(o, &ev->u.start);
	case EVENTS_INPUT:
		return events_parse_input(o, &ev->u.input);
	case EVENTS_OUTPUT:
		return events_parse_output(o, &ev->u.output);
	case EVENTS_OUTPUTS:
		return events_parse_outputs(o, &ev->u.outputs);
	case EVENTS_JOB_END:
		return events_parse_end(o, &ev->u.end);
	case EVENTS_CONTROLLER:
		return events_parse_controller(o, &ev->u.controller);
	}
	return AICERT_ERR_INTERNAL;
}

/* The kind for event_type, checked against the PCR and the type member. */
static int events_kind_of(uint32_t event_type, uint32_t pcr, const json_t *o,
			  enum events_kind *kind)
{
	const char *name = NULL;

	for (size_t k = 0; k < EVENTS_NKINDS; k++) {
		if (events_kinds[k].type != event_type)
			continue;
		if (events_kinds[k].pcr != pcr)
			return err_set(AICERT_ERR_INVALID, "%s event in PCR %u, expected PCR %u",
				       events_kinds[k].name, pcr, events_kinds[k].pcr);
		if (jsonx_str(json_object_get(o, "type"), "type", 32, &name) < 0 ||
		    strcmp(name, events_kinds[k].name) != 0)
			return err_set(AICERT_ERR_INVALID, "event type 0x%08x is %s, data says %s",
				       event_type, events_kinds[k].name,
				       json_is_string(json_object_get(o, "type")) ? name
										  : "nothing");
		*kind = (enum events_kind)k;
		return 0;
	}
	return err_set(AICERT_ERR_INVALID, "unknown event type 0x%08x", event_type);
}

int events_decode(uint32_t event_type, uint32_t pcr, const uint8_t *buf, size_t len,
		  struct events_event *ev)
{
	struct events_event tmp;
	enum events_kind kind = EVENTS_JOB_START;
	uint8_t *again = NULL;
	size_t again_len;
	json_t *o = NULL;
	int r;

	if (len > EVENTS_MAX_DATA)
		return err_set(AICERT_ERR_TOO_BIG, "event data of %zu bytes", len);
	r = jsonx_parse("event", buf, len, &o);
	if (r == 0 && !json_is_object(o))
		r = err_set(AICERT_ERR_INVALID, "event data is not a JSON object");
	if (r == 0)
		r = events_kind_of(event_type, pcr, o, &kind);
	if (r == 0) {
		memset(&tmp, 0, sizeof(tmp));
		r = events_parse(o, kind, &tmp);
	}
	if (r == 0)
		r = events_encode(&tmp, &again, &again_len);
	if (r == 0 && (again_len != len || memcmp(again, buf, len) != 0))
		r = err_set(AICERT_ERR_INVALID, "event data is not in canonical form");
	if (r == 0)
		*ev = tmp;
	free(again);
	json_decref(o);
	return r;
}

static void events_put_len(EVP_MD_CTX *ctx, size_t n)
{
	uint8_t be[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};

	EVP_DigestUpdate(ctx, be, 4);
}

int events_binding(const char *job_id, const uint8_t *nonce, size_t nonce_len, uint8_t out[32])
{
	static const char domain[] = "aicert/quote/v1";
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t id_len = strlen(job_id);

	if (!ctx)
		return AICERT_ERR_NOMEM;
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, domain, sizeof(domain)); /* with its NUL */
	events_put_len(ctx, id_len);
	EVP_DigestUpdate(ctx, job_id, id_len);
	events_put_len(ctx, nonce_len);
	EVP_DigestUpdate(ctx, nonce, nonce_len);
	EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
	return 0;
}

int events_outputs_root(const uint8_t (*digests)[32], size_t n, uint8_t out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!ctx)
		return AICERT_ERR_NOMEM;
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (size_t i = 0; i < n; i++)
		EVP_DigestUpdate(ctx, digests[i], 32);
	EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
	return 0;
}
