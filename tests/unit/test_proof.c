/* The proof's building blocks without a TPM: canonical base64, event
 * contents, the binding and outputs root, the proof parser and the policy
 * parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "b64.h"
#include "err.h"
#include "events.h"
#include "fileio.h"
#include "policy.h"
#include "proof.h"

static void b64_round_trips_and_refuses_noncanonical(void **state)
{
	static const char *const bad[] = {"QQ", "QQ=", "QR==", "Q===", "QUJD\n", "QU=D", "QUJ*"};
	const uint8_t data[] = {0, 1, 2, 0xfe, 0xff};
	uint8_t *out = NULL;
	size_t n;

	for (size_t len = 0; len <= sizeof(data); len++) {
		char *s = b64_encode(data, len);

		assert_int_equal(b64_decode(s, strlen(s), 64, &out, &n), 0);
		assert_int_equal(n, len);
		assert_memory_equal(out, data, len);
		free(out);
		free(s);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_not_equal(b64_decode(bad[i], strlen(bad[i]), 64, &out, &n), 0);
	assert_int_equal(b64_decode("QUJD", 4, 2, &out, &n), AICERT_ERR_TOO_BIG);
}

static struct events_event sample_input(void)
{
	struct events_event ev = {.kind = EVENTS_INPUT};

	strcpy(ev.u.input.kind, "dataset");
	strcpy(ev.u.input.name, "train");
	strcpy(ev.u.input.uri, "file:data/train.jsonl");
	memset(ev.u.input.sha256, 0xab, 32);
	ev.u.input.files = 1;
	ev.u.input.size = 4096;
	return ev;
}

static void events_are_canonical_and_strict(void **state)
{
	struct events_event ev = sample_input(), back;
	uint8_t *buf = NULL;
	size_t len;
	char text[1024];

	assert_int_equal(events_encode(&ev, &buf, &len), 0);
	assert_int_equal(events_decode(AICERT_EV_INPUT, 14, buf, len, &back), 0);
	assert_string_equal(back.u.input.uri, "file:data/train.jsonl");
	/* Wrong PCR, wrong type, an extra member, a non-canonical form. */
	assert_int_equal(events_decode(AICERT_EV_INPUT, 8, buf, len, &back), AICERT_ERR_INVALID);
	assert_int_equal(events_decode(AICERT_EV_OUTPUT, 8, buf, len, &back), AICERT_ERR_INVALID);
	snprintf(text, sizeof(text), "%.*s,\"x\":1}", (int)len - 1, (char *)buf);
	assert_int_equal(events_decode(AICERT_EV_INPUT, 14, (uint8_t *)text, strlen(text), &back),
			 AICERT_ERR_INVALID);
	snprintf(text, sizeof(text), " %.*s", (int)len, (char *)buf);
	assert_int_equal(events_decode(AICERT_EV_INPUT, 14, (uint8_t *)text, strlen(text), &back),
			 AICERT_ERR_INVALID);
	assert_int_equal(events_decode(0x41490099, 14, buf, len, &back), AICERT_ERR_INVALID);
	free(buf);
	/* A type member too long to read, and a control character in a name. */
	snprintf(text, sizeof(text), "{\"type\":\"%0100d\"}", 0);
	assert_int_equal(events_decode(AICERT_EV_INPUT, 14, (uint8_t *)text, strlen(text), &back),
			 AICERT_ERR_INVALID);
	strcpy(ev.u.input.name, "tr\x1b[2Kain");
	assert_int_equal(events_encode(&ev, &buf, &len), 0);
	assert_int_equal(events_decode(AICERT_EV_INPUT, 14, buf, len, &back), AICERT_ERR_INVALID);
	free(buf);
}

static void binding_and_root_follow_their_definitions(void **state)
{
	uint8_t nonce[16] = {1}, got[32], want[32], buf[64], digests[2][32];
	size_t n = 0;

	assert_int_equal(events_binding("job", nonce, sizeof(nonce), got), 0);
	memcpy(buf, "aicert/quote/v1", 16); /* with the NUL */
	n = 16;
	memcpy(buf + n, "\0\0\0\3job", 7);
	n += 7;
	memcpy(buf + n, "\0\0\0\x10", 4);
	n += 4;
	memcpy(buf + n, nonce, 16);
	n += 16;
	SHA256(buf, n, want);
	assert_memory_equal(got, want, 32);
	memset(digests[0], 1, 32);
	memset(digests[1], 2, 32);
	assert_int_equal(events_outputs_root((const uint8_t(*)[32])digests, 2, got), 0);
	SHA256(&digests[0][0], 64, want);
	assert_memory_equal(got, want, 32);
}

#define MINIMAL_PROOF                                                                              \
	"{\"version\":\"aicert-proof/v1\",\"evidence\":{\"platform\":\"development\","             \
	"\"job_id\":\"\",\"nonce\":\"00112233445566778899aabbccddeeff\",\"tpm\":{"                 \
	"\"ek_public\":\"AA==\",\"ek_certificates\":[\"AA==\"],\"ak_public\":\"AA==\","            \
	"\"ak_certificates\":[\"AA==\"]},\"quote\":{\"attest\":\"AA==\",\"signature\":\"AA==\"},"  \
	"\"pcrs\":{\"sha256\":{\"14\":\"%s\"}},\"event_logs\":{\"boot\":\"\",\"runtime\":\"\"}}%s}"

static int parse_variant(const char *pcr, const char *tail)
{
	char text[2048];
	struct proof *p = NULL;
	int r;

	snprintf(text, sizeof(text), MINIMAL_PROOF, pcr, tail);
	r = proof_parse("t.json", (const uint8_t *)text, strlen(text), &p);
	proof_free(p);
	return r;
}

static void proof_parser_is_strict(void **state)
{
	const char *zero = "0000000000000000000000000000000000000000000000000000000000000000";
	char text[2048];
	struct proof *p = NULL;

	assert_int_equal(parse_variant(zero, ""), 0);
	assert_int_equal(parse_variant(zero, ",\"extra\":1"), AICERT_ERR_INVALID);
	assert_int_equal(parse_variant(zero, ",\"version\":\"aicert-proof/v1\""),
			 AICERT_ERR_INVALID);
	assert_int_equal(parse_variant("00", ""), AICERT_ERR_INVALID);
	snprintf(text, sizeof(text), MINIMAL_PROOF, zero, "");
	strcat(text, "x");
	assert_int_equal(proof_parse("t.json", (const uint8_t *)text, strlen(text), &p),
			 AICERT_ERR_INVALID);
	/* Truncated anywhere: refused, never a crash. */
	snprintf(text, sizeof(text), MINIMAL_PROOF, zero, "");
	for (size_t i = 0; i < strlen(text); i++)
		assert_int_not_equal(proof_parse("t.json", (const uint8_t *)text, i, &p), 0);
}

/* boot_events after a valid policy (full holds it, base_len bytes, with
 * room for 256 more): every field, boot PCRs only, 64 hex digits, nothing
 * else; a good one parses. */
#define Z64 "0000000000000000000000000000000000000000000000000000000000000000"
static void policy_boot_events_are_strict(char *full, size_t base_len)
{
	static const char *const bad[] = {
		"boot_events:\n  - {pcr: 8, type: EV_SEPARATOR, sha256: " Z64 "}\n",
		"boot_events:\n  - {pcr: 4, sha256: " Z64 "}\n",
		"boot_events:\n  - {pcr: 4, type: EV_SEPARATOR, sha256: 0" Z64 "}\n",
		"boot_events:\n  - {pcr: 4, type: EV_SEPARATOR, sha256: " Z64 ", x: 1}\n",
		"boot_events: []\n",
		"boot_events: {pcr: 4}\n",
	};
	struct policy *p = NULL;
	int r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(full + base_len, 256, "%s", bad[i]);
		r = policy_parse("p.yaml", (const uint8_t *)full, strlen(full), &p);
		if (r != AICERT_ERR_INVALID && r != AICERT_ERR_TOO_BIG)
			fail_msg("boot_events case %zu: %d", i, r);
	}
	snprintf(full + base_len, 256,
		 "boot_events:\n  - {pcr: 4, type: EV_SEPARATOR, sha256: " Z64 "}\n");
	assert_int_equal(policy_parse("p.yaml", (const uint8_t *)full, strlen(full), &p), 0);
	assert_int_equal(p->n_boot_events, 1);
	assert_int_equal(p->boot_events[0].pcr, 4);
	assert_string_equal(p->boot_events[0].type, "EV_SEPARATOR");
	policy_free(p);
}

static void policy_errors_name_their_place(void **state)
{
	const char *text = "version: 1\nek_roots: []\nak_ca: []\nallow_developmnt: true\n";
	struct policy *p = NULL;
	int r;

	r = policy_parse("p.yaml", (const uint8_t *)text, strlen(text), &p);
	assert_int_equal(r, AICERT_ERR_INVALID);
	assert_non_null(strstr(err_msg(r), "p.yaml:4:1: unknown key 'allow_developmnt'"));
	text = "version: 1\nek_roots: [\"not a pem\"]\nak_ca: []\n";
	r = policy_parse("p.yaml", (const uint8_t *)text, strlen(text), &p);
	assert_int_equal(r, AICERT_ERR_INVALID);
	assert_non_null(strstr(err_msg(r), "p.yaml:2:12:"));
	text = "version: 1\nek_roots: []\nak_ca: []\nrequired_pcrs: [8, 99]\n";
	r = policy_parse("p.yaml", (const uint8_t *)text, strlen(text), &p);
	assert_int_equal(r, AICERT_ERR_INVALID);
	{
		/* Duplicate expected inputs, after a valid policy. */
		uint8_t *base = NULL;
		size_t base_len;
		char *full = NULL;

		assert_int_equal(fileio_read_all(AICERT_SOURCE_DIR "/docs/examples/policy.yaml",
						 1 << 20, &base, &base_len),
				 0);
		assert_int_equal(policy_parse("p.yaml", base, base_len, &p), 0);
		policy_free(p);
		full = malloc(base_len + 256);
		memcpy(full, base, base_len);
		snprintf(full + base_len, 256,
			 "expected_inputs:\n  - {name: m, sha256: \"%064d\"}\n"
			 "  - {name: m, sha256: \"%064d\"}\n",
			 0, 0);
		r = policy_parse("p.yaml", (const uint8_t *)full, strlen(full), &p);
		assert_int_equal(r, AICERT_ERR_INVALID);
		assert_non_null(strstr(err_msg(r), "'m' twice"));
		policy_boot_events_are_strict(full, base_len);
		free(full);
		free(base);
	}
	text = "version: 2\n";
	assert_int_equal(policy_parse("p.yaml", (const uint8_t *)text, strlen(text), &p),
			 AICERT_ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(b64_round_trips_and_refuses_noncanonical),
		cmocka_unit_test(events_are_canonical_and_strict),
		cmocka_unit_test(binding_and_root_follow_their_definitions),
		cmocka_unit_test(proof_parser_is_strict),
		cmocka_unit_test(policy_errors_name_their_place),
	};

	return cmocka_run_group_tests_name("proof", tests, NULL, NULL);
}
