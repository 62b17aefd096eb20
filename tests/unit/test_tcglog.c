/* Unit tests for the firmware boot event log (TCG PC Client PFP,
 * crypto-agile): strict parsing, bounds, replay.
 *
 * Two sources of logs:
 *   - tests/data/ovmf/: a real log captured from OVMF + swtpm + Linux 6.1
 *     (see capture.sh there), with the PCR values the guest read and what
 *     tpm2_eventlog said about the log;
 *   - logs built here with a writer of the test's own, so that the parser is
 *     checked against the format and the replay against an independent
 *     computation.
 *
 * With AICERT_TCGLOG_WRITE_CORPUS=DIR set, the program writes the fuzzer's
 * seed corpus (the OVMF log and the synthetic logs) into DIR and exits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "err.h"
#include "fileio.h"
#include "hex.h"
#include "tcglog.h"

#define DATA_DIR AICERT_SOURCE_DIR "/tests/data/ovmf/"

#define EV_NO_ACTION  0x00000003u
#define EV_SEPARATOR  0x00000004u
#define EV_S_CRTM_VER 0x00000008u
#define EV_EFI_BSA    0x80000003u
#define EV_EFI_ACTION 0x80000007u

/* ---- a log writer independent of tcglog.c ---- */

struct wbuf {
	uint8_t *b;
	size_t n;
	size_t cap;
};

struct alg {
	uint16_t id;
	uint16_t size;
};

static void wb_put(struct wbuf *w, const void *p, size_t len)
{
	if (w->n + len > w->cap) {
		size_t cap = w->cap ? w->cap : 256;

		while (cap < w->n + len)
			cap *= 2;
		w->b = realloc(w->b, cap);
		assert_non_null(w->b);
		w->cap = cap;
	}
	if (len > 0)
		memcpy(w->b + w->n, p, len);
	w->n += len;
}

static void wb_u8(struct wbuf *w, uint8_t v)
{
	wb_put(w, &v, 1);
}

static void wb_u16(struct wbuf *w, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};

	wb_put(w, b, 2);
}

static void wb_u32(struct wbuf *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

	wb_put(w, b, 4);
}

static void wb_zero(struct wbuf *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		wb_u8(w, 0);
}

static void wb_free(struct wbuf *w)
{
	free(w->b);
	*w = (struct wbuf){0};
}

/* Offset of the numberOfAlgorithms field and others in a header from
 * wb_header(), for tests that patch them. */
#define OFF_EVENT_SIZE 28
#define OFF_SIG        32
#define OFF_NALGS      56
#define OFF_ALGS       60

/* A Spec ID header event (TCG_PCR_EVENT) listing algs, with vendor info. */
static void wb_header(struct wbuf *w, const struct alg *algs, unsigned n, const void *vendor,
		      uint8_t vlen)
{
	wb_u32(w, 0);            /* PCR 0 */
	wb_u32(w, EV_NO_ACTION); /* type */
	wb_zero(w, 20);          /* SHA-1 digest */
	wb_u32(w, 28 + 4 * n + 1 + vlen);
	wb_put(w, "Spec ID Event03", 16);
	wb_u32(w, 0); /* platformClass */
	wb_u8(w, 0);  /* specVersionMinor */
	wb_u8(w, 2);  /* specVersionMajor */
	wb_u8(w, 2);  /* specErrata */
	wb_u8(w, 2);  /* uintnSize */
	wb_u32(w, n);
	for (unsigned i = 0; i < n; i++) {
		wb_u16(w, algs[i].id);
		wb_u16(w, algs[i].size);
	}
	wb_u8(w, vlen);
	wb_put(w, vendor, vlen);
}

/* Digest k of an event whose digests are derived from seed; zero for seed 0. */
static void fill_digest(uint8_t *d, size_t n, uint8_t seed, unsigned k)
{
	for (size_t i = 0; i < n; i++)
		d[i] = seed ? (uint8_t)(seed * 7 + k * 31 + i) : 0;
}

static void wb_event(struct wbuf *w, uint32_t pcr, uint32_t type, const struct alg *algs,
		     unsigned n, uint8_t seed, const void *data, uint32_t len)
{
	uint8_t d[64];

	wb_u32(w, pcr);
	wb_u32(w, type);
	wb_u32(w, n);
	for (unsigned k = 0; k < n; k++) {
		fill_digest(d, algs[k].size, seed, k);
		wb_u16(w, algs[k].id);
		wb_put(w, d, algs[k].size);
	}
	wb_u32(w, len);
	wb_put(w, data, len);
}

static void wb_locality(struct wbuf *w, const struct alg *algs, unsigned n, uint8_t loc)
{
	uint8_t data[17] = "StartupLocality";

	data[16] = loc;
	wb_event(w, 0, EV_NO_ACTION, algs, n, 0, data, sizeof(data));
}

static void put_u32_at(struct wbuf *w, size_t off, uint32_t v)
{
	assert_true(off + 4 <= w->n);
	w->b[off] = (uint8_t)v;
	w->b[off + 1] = (uint8_t)(v >> 8);
	w->b[off + 2] = (uint8_t)(v >> 16);
	w->b[off + 3] = (uint8_t)(v >> 24);
}

static const struct alg TWO[] = {{0x0004, 20}, {0x000b, 32}};
static const struct alg ONE_SHA256[] = {{0x000b, 32}};

/* A log of every feature: vendor info, StartupLocality 3, events in PCRs 0,
 * 4, 7 and 17, an EV_NO_ACTION, empty event data. bounds[] receives the
 * offset after each event (header included); returns their number. */
static size_t make_log(struct wbuf *w, size_t bounds[16])
{
	static const char app[] = "\\EFI\\BOOT\\BOOTX64.EFI";
	static const char act[] = "Calling EFI Application from Boot Option";
	size_t nb = 0;

	wb_header(w, TWO, 2, "abc", 3);
	bounds[nb++] = w->n;
	wb_locality(w, TWO, 2, 3);
	bounds[nb++] = w->n;
	wb_event(w, 0, EV_S_CRTM_VER, TWO, 2, 1, "\0\0", 2);
	bounds[nb++] = w->n;
	wb_event(w, 4, EV_EFI_ACTION, TWO, 2, 2, act, sizeof(act) - 1);
	bounds[nb++] = w->n;
	wb_event(w, 4, EV_EFI_BSA, TWO, 2, 3, app, sizeof(app));
	bounds[nb++] = w->n;
	wb_event(w, 5, EV_NO_ACTION, TWO, 2, 0, "vendor note", 11);
	bounds[nb++] = w->n;
	wb_event(w, 7, EV_SEPARATOR, TWO, 2, 4, NULL, 0);
	bounds[nb++] = w->n;
	wb_event(w, 17, 0x12345678u, TWO, 2, 5, "x", 1);
	bounds[nb++] = w->n;
	return nb;
}

/* ---- an independent replay ---- */

static const EVP_MD *md_of(uint16_t alg)
{
	switch (alg) {
	case 0x0004:
		return EVP_sha1();
	case 0x000b:
		return EVP_sha256();
	case 0x000c:
		return EVP_sha384();
	default:
		return EVP_sha512();
	}
}

static void ref_extend(uint16_t alg, uint8_t *pcr, const uint8_t *digest, size_t n)
{
	uint8_t in[128];
	unsigned out = 0;

	memcpy(in, pcr, n);
	memcpy(in + n, digest, n);
	assert_int_equal(EVP_Digest(in, 2 * n, pcr, &out, md_of(alg), NULL), 1);
	assert_int_equal(out, n);
}

/* ---- helpers ---- */

static int parse_wb(const struct wbuf *w, struct tcglog **log)
{
	err_clear();
	return tcglog_parse(w->b, w->n, log);
}

/* Parsing must fail with code and a message containing want. */
static void assert_rejects(const uint8_t *buf, size_t len, int code, const char *want)
{
	struct tcglog *log = NULL;
	int r;

	err_clear();
	r = tcglog_parse(buf, len, &log);
	if (r != code || (want && !strstr(err_msg(r), want)))
		print_error("parse gave %d \"%s\", expected %d with \"%s\"\n", r, err_msg(r), code,
			    want ? want : "");
	assert_int_equal(r, code);
	if (want)
		assert_non_null(strstr(err_msg(r), want));
	assert_null(log);
}

static void assert_rejects_wb(struct wbuf *w, int code, const char *want)
{
	assert_rejects(w->b, w->n, code, want);
	wb_free(w);
}

static uint8_t *read_data(const char *name, size_t *len)
{
	uint8_t *buf = NULL;

	if (fileio_read_all(name, 1u << 20, &buf, len) != 0)
		fail_msg("cannot read %s", name);
	return buf;
}

static struct tcglog *parse_ovmf(void)
{
	struct tcglog *log = NULL;
	uint8_t *buf;
	size_t len = 0;
	int r;

	buf = read_data(DATA_DIR "binary_bios_measurements", &len);
	err_clear();
	r = tcglog_parse(buf, len, &log);
	if (r != 0)
		fail_msg("OVMF log: %s", err_msg(r));
	free(buf);
	return log;
}

/* "N HEX" lines, as capture.sh writes them. */
static void read_guest_pcrs(const char *name, uint8_t pcrs[24][64], size_t n)
{
	char *text, *save = NULL;
	size_t len = 0, got = 0, seen = 0;

	text = (char *)read_data(name, &len);
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char hex[160];
		unsigned idx;

		assert_int_equal(sscanf(line, "%u %159s", &idx, hex), 2);
		assert_true(idx < 24);
		assert_int_equal(hex_decode(hex, pcrs[idx], 64, &got), 0);
		assert_int_equal(got, n);
		seen++;
	}
	assert_int_equal(seen, 24);
	free(text);
}

/* ---- the real OVMF log ---- */

static void tcglog_parses_ovmf_log(void **state)
{
	struct tcglog *log = parse_ovmf();
	const struct tcglog_spec_id *spec = tcglog_spec_id(log);
	const struct tcglog_event *ev;

	assert_int_equal(spec->nalgs, 4);
	assert_int_equal(spec->algs[0].id, 0x0004);
	assert_int_equal(spec->algs[1].id, 0x000b);
	assert_int_equal(spec->algs[2].id, 0x000c);
	assert_int_equal(spec->algs[3].id, 0x000d);
	assert_int_equal(spec->version_major, 2);
	assert_int_equal(spec->errata, 0); /* OVMF: 0, not the 2 of PFP 1.05 */
	assert_int_equal(spec->uintn_size, 2);
	assert_int_equal(spec->vendor_info_size, 0);
	assert_int_equal(tcglog_startup_locality(log), -1);
	assert_int_equal(tcglog_count(log), 25);
	ev = tcglog_event(log, 0);
	assert_int_equal(ev->num, 1);
	assert_int_equal(ev->offset, 77); /* 32-byte header + 45-byte Spec ID event */
	assert_string_equal(tcglog_event_type_name(ev->type), "EV_S_CRTM_VERSION");
	ev = tcglog_event(log, 24);
	assert_int_equal(ev->num, 25);
	assert_int_equal(ev->pcr, 5);
	assert_int_equal(ev->data_len, 40);
	assert_memory_equal(ev->data, "Exit Boot Services Returned with Success", 40);
	assert_null(tcglog_event(log, 25));
	tcglog_free(log);
}

/* The guest read its PCRs after boot; the log touches 0-7 and 9. PCR 8 is
 * untouched (zero) and PCR 10 holds IMA's boot_aggregate, which is not in the
 * firmware log. */
static void tcglog_replay_equals_guest_pcrs(void **state)
{
	struct tcglog *log = parse_ovmf();
	uint8_t want[24][64] = {{0}}, got[24][64];
	size_t n = 0;
	uint32_t touched = 0;

	read_guest_pcrs(DATA_DIR "pcrs-sha256.txt", want, 32);
	assert_int_equal(tcglog_replay(log, TCGLOG_ALG_SHA256, 0, got, &n, &touched), 0);
	assert_int_equal(n, 32);
	assert_int_equal(touched, 0x2ff);
	for (int i = 0; i < 10; i++)
		assert_memory_equal(got[i], want[i], 32);
	for (int i = 11; i < 24; i++)
		assert_memory_equal(got[i], want[i], 32);

	/* SHA-1 replays too, but only for display. */
	read_guest_pcrs(DATA_DIR "pcrs-sha1.txt", want, 20);
	assert_int_equal(
		tcglog_replay(log, TCGLOG_ALG_SHA1, TCGLOG_DISPLAY_ONLY, got, &n, &touched), 0);
	assert_int_equal(n, 20);
	for (int i = 0; i < 10; i++)
		assert_memory_equal(got[i], want[i], 20);
	tcglog_free(log);
}

/* ---- what tpm2_eventlog said about the same log ---- */

struct yaml_event {
	int pcr;
	char type[64];
	uint8_t sha256[32];
	int have_sha256;
};

struct yaml_log {
	struct yaml_event ev[64];
	int n;
	uint8_t pcrs[4][24][64]; /* sha1, sha256, sha384, sha512 */
	uint32_t listed[4];
};

static int bank_index(const char *name)
{
	static const char *const names[] = {"sha1", "sha256", "sha384", "sha512"};

	for (int i = 0; i < 4; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

static void yaml_pcr_line(struct yaml_log *y, int bank, const char *line)
{
	unsigned idx;
	char hex[160];
	size_t got = 0;

	assert_int_equal(sscanf(line, " %u : 0x%159s", &idx, hex), 2);
	assert_true(idx < 24);
	assert_int_equal(hex_decode(hex, y->pcrs[bank][idx], 64, &got), 0);
	y->listed[bank] |= 1u << idx;
}

/* Just enough of tpm2-tools 5.4's output: event headers, each event's
 * SHA-256 digest, and the final "pcrs:" section. */
static void parse_tpm2_eventlog(char *text, struct yaml_log *y)
{
	char *save = NULL, name[32];
	int cur = -1, in_pcrs = 0, bank = -1, want_sha256 = 0;

	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		struct yaml_event *e = cur >= 0 ? &y->ev[cur] : NULL;
		int num;

		if (sscanf(l, "- EventNum: %d", &num) == 1) {
			assert_int_equal(num, y->n);
			assert_true(num < 64);
			cur = y->n++;
			want_sha256 = 0;
		} else if (strcmp(l, "pcrs:") == 0) {
			in_pcrs = 1;
		} else if (in_pcrs && sscanf(l, "  %31[a-z0-9]:", name) == 1 && l[2] != ' ') {
			bank = bank_index(name);
			assert_true(bank >= 0);
		} else if (in_pcrs && bank >= 0) {
			yaml_pcr_line(y, bank, l);
		} else if (e && sscanf(l, "  PCRIndex: %d", &e->pcr) == 1) {
		} else if (e && sscanf(l, "  EventType: %63s", e->type) == 1) {
		} else if (e && strcmp(l, "  - AlgorithmId: sha256") == 0) {
			want_sha256 = 1;
		} else if (e && want_sha256 && strncmp(l, "    Digest: \"", 13) == 0) {
			size_t got = 0;

			l[13 + 64] = '\0';
			assert_int_equal(hex_decode(l + 13, e->sha256, 32, &got), 0);
			e->have_sha256 = 1;
			want_sha256 = 0;
		}
	}
}

static void tcglog_agrees_with_tpm2_eventlog(void **state)
{
	static const uint16_t algs[4] = {0x0004, 0x000b, 0x000c, 0x000d};
	struct yaml_log *y = calloc(1, sizeof(*y));
	struct tcglog *log = parse_ovmf();
	size_t len = 0;
	char *text = (char *)read_data(DATA_DIR "tpm2_eventlog.yaml", &len);

	assert_non_null(y);
	parse_tpm2_eventlog(text, y);
	assert_int_equal(y->n, 1 + (int)tcglog_count(log));
	assert_int_equal(y->ev[0].pcr, 0);
	assert_string_equal(y->ev[0].type, "EV_NO_ACTION");
	for (size_t i = 0; i < tcglog_count(log); i++) {
		const struct tcglog_event *ev = tcglog_event(log, i);
		const struct yaml_event *ye = &y->ev[ev->num];
		const uint8_t *d = NULL;
		size_t n = 0;

		assert_int_equal(ev->num, i + 1);
		assert_int_equal(ye->pcr, ev->pcr);
		assert_string_equal(ye->type, tcglog_event_type_name(ev->type));
		assert_true(ye->have_sha256);
		assert_int_equal(tcglog_event_digest(log, i, TCGLOG_ALG_SHA256, 0, &d, &n), 0);
		assert_int_equal(n, 32);
		assert_memory_equal(d, ye->sha256, 32);
	}
	/* Its replay of every bank, over the PCRs it lists. */
	for (int b = 0; b < 4; b++) {
		uint8_t got[24][64];
		size_t n = 0;
		uint32_t touched = 0;

		assert_int_equal(
			tcglog_replay(log, algs[b], TCGLOG_DISPLAY_ONLY, got, &n, &touched), 0);
		assert_int_equal(touched, y->listed[b]);
		for (int i = 0; i < 24; i++)
			if (touched & (1u << i))
				assert_memory_equal(got[i], y->pcrs[b][i], n);
	}
	free(text);
	free(y);
	tcglog_free(log);
}

/* ---- replay rules, on built logs ---- */

static void replay_wb(struct wbuf *w, uint16_t alg, uint8_t pcrs[24][64], uint32_t *touched)
{
	struct tcglog *log = NULL;
	size_t n = 0;
	int r;

	r = parse_wb(w, &log);
	if (r != 0)
		fail_msg("%s", err_msg(r));
	assert_int_equal(tcglog_replay(log, alg, 0, pcrs, &n, touched), 0);
	tcglog_free(log);
}

static void tcglog_startup_locality_sets_pcr0_initial_value(void **state)
{
	for (uint8_t loc = 0; loc <= 4; loc++) {
		struct wbuf w = {0};
		uint8_t got[24][64], want[32] = {0}, d[32];
		uint32_t touched = 0;

		if (loc == 1 || loc == 2)
			continue;
		wb_header(&w, ONE_SHA256, 1, NULL, 0);
		wb_locality(&w, ONE_SHA256, 1, loc);
		wb_event(&w, 0, EV_S_CRTM_VER, ONE_SHA256, 1, 9, "\0\0", 2);
		replay_wb(&w, TCGLOG_ALG_SHA256, got, &touched);
		want[31] = loc;
		fill_digest(d, 32, 9, 0);
		ref_extend(0x000b, want, d, 32);
		assert_memory_equal(got[0], want, 32);
		assert_int_equal(touched, 1);
		wb_free(&w);
	}
}

static void tcglog_locality_3_differs_from_none(void **state)
{
	struct wbuf a = {0}, b = {0};
	uint8_t pa[24][64], pb[24][64];
	uint32_t ta = 0, tb = 0;
	struct tcglog *log = NULL;

	wb_header(&a, ONE_SHA256, 1, NULL, 0);
	wb_event(&a, 0, EV_S_CRTM_VER, ONE_SHA256, 1, 9, "\0\0", 2);
	wb_header(&b, ONE_SHA256, 1, NULL, 0);
	wb_locality(&b, ONE_SHA256, 1, 3);
	wb_event(&b, 0, EV_S_CRTM_VER, ONE_SHA256, 1, 9, "\0\0", 2);
	replay_wb(&a, TCGLOG_ALG_SHA256, pa, &ta);
	replay_wb(&b, TCGLOG_ALG_SHA256, pb, &tb);
	assert_memory_not_equal(pa[0], pb[0], 32);
	assert_int_equal(parse_wb(&b, &log), 0);
	assert_int_equal(tcglog_startup_locality(log), 3);
	tcglog_free(log);
	wb_free(&a);
	wb_free(&b);
}

/* Every bank, every feature of make_log(), against the reference replay. */
static void tcglog_replay_matches_reference(void **state)
{
	static const struct alg four[] = {{0x0004, 20}, {0x000b, 32}, {0x000c, 48}, {0x000d, 64}};
	struct wbuf w = {0};
	struct tcglog *log = NULL;

	wb_header(&w, four, 4, NULL, 0);
	wb_locality(&w, four, 4, 4);
	wb_event(&w, 0, EV_S_CRTM_VER, four, 4, 1, NULL, 0);
	wb_event(&w, 17, EV_EFI_ACTION, four, 4, 2, "a", 1);
	wb_event(&w, 23, EV_EFI_ACTION, four, 4, 3, "b", 1);
	wb_event(&w, 0, EV_SEPARATOR, four, 4, 4, "\0\0\0\0", 4);
	assert_int_equal(parse_wb(&w, &log), 0);
	for (unsigned k = 1; k < 4; k++) {
		uint8_t want[24][64] = {{0}}, got[24][64], d[64];
		size_t n = 0, sz = four[k].size;
		uint32_t touched = 0;

		for (int i = 17; i <= 22; i++)
			memset(want[i], 0xff, sz);
		want[0][sz - 1] = 4;
		fill_digest(d, sz, 1, k);
		ref_extend(four[k].id, want[0], d, sz);
		fill_digest(d, sz, 2, k);
		ref_extend(four[k].id, want[17], d, sz);
		fill_digest(d, sz, 3, k);
		ref_extend(four[k].id, want[23], d, sz);
		fill_digest(d, sz, 4, k);
		ref_extend(four[k].id, want[0], d, sz);
		assert_int_equal(tcglog_replay(log, four[k].id, 0, got, &n, &touched), 0);
		assert_int_equal(n, sz);
		assert_int_equal(touched, 1u | 1u << 17 | 1u << 23);
		for (int i = 0; i < 24; i++) {
			assert_memory_equal(got[i], want[i], sz);
			for (size_t b = sz; b < 64; b++)
				assert_int_equal(got[i][b], 0);
		}
	}
	tcglog_free(log);
	wb_free(&w);
}

static void tcglog_no_action_is_not_extended(void **state)
{
	struct wbuf w = {0};
	uint8_t got[24][64], zero[32] = {0};
	uint32_t touched = 0;

	wb_header(&w, ONE_SHA256, 1, NULL, 0);
	wb_event(&w, 5, EV_NO_ACTION, ONE_SHA256, 1, 0, "SP800-155 Event", 16);
	wb_event(&w, 0, EV_NO_ACTION, ONE_SHA256, 1, 0, "NvIndexInstance", 16);
	replay_wb(&w, TCGLOG_ALG_SHA256, got, &touched);
	assert_int_equal(touched, 0);
	assert_memory_equal(got[5], zero, 32);
	assert_memory_equal(got[0], zero, 32);
	wb_free(&w);
}

static void tcglog_sha1_is_not_a_decision_bank(void **state)
{
	static const struct alg sha1_only[] = {{0x0004, 20}};
	uint8_t sentinel[24][64], got[24][64];
	struct wbuf w = {0};
	struct tcglog *log = NULL;
	const uint8_t *d = NULL;
	size_t n = 99;
	uint32_t touched = 0xdead;

	wb_header(&w, sha1_only, 1, NULL, 0);
	wb_event(&w, 0, EV_S_CRTM_VER, sha1_only, 1, 1, "\0\0", 2);
	assert_int_equal(parse_wb(&w, &log), 0);
	memset(sentinel, 0x5a, sizeof(sentinel));
	memcpy(got, sentinel, sizeof(got));
	assert_int_equal(tcglog_replay(log, TCGLOG_ALG_SHA1, 0, got, &n, &touched),
			 AICERT_ERR_UNSUPPORTED);
	assert_non_null(strstr(err_msg(AICERT_ERR_UNSUPPORTED), "sha1"));
	assert_int_equal(tcglog_replay(log, TCGLOG_ALG_SHA256, 0, got, &n, &touched),
			 AICERT_ERR_NOT_FOUND);
	assert_int_equal(
		tcglog_replay(log, TCGLOG_ALG_SM3_256, TCGLOG_DISPLAY_ONLY, got, &n, &touched),
		AICERT_ERR_NOT_FOUND);
	assert_int_equal(tcglog_event_digest(log, 0, TCGLOG_ALG_SHA1, 0, &d, &n),
			 AICERT_ERR_UNSUPPORTED);
	assert_int_equal(n, 99);
	assert_int_equal(touched, 0xdead);
	assert_memory_equal(got, sentinel, sizeof(got));
	/* Shown to a person: fine. */
	assert_int_equal(tcglog_event_digest(log, 0, TCGLOG_ALG_SHA1, TCGLOG_DISPLAY_ONLY, &d, &n),
			 0);
	assert_int_equal(n, 20);
	assert_int_equal(
		tcglog_replay(log, TCGLOG_ALG_SHA1, TCGLOG_DISPLAY_ONLY, got, &n, &touched), 0);
	assert_int_equal(touched, 1);
	assert_int_equal(tcglog_event_digest(log, 1, TCGLOG_ALG_SHA1, TCGLOG_DISPLAY_ONLY, &d, &n),
			 AICERT_ERR_NOT_FOUND);
	tcglog_free(log);
	wb_free(&w);
}

static void tcglog_event_digest_points_at_each_bank(void **state)
{
	struct wbuf w = {0};
	size_t bounds[16];
	struct tcglog *log = NULL;
	const uint8_t *d = NULL;
	uint8_t want[32];
	size_t n = 0;

	make_log(&w, bounds);
	assert_int_equal(parse_wb(&w, &log), 0);
	assert_int_equal(tcglog_count(log), 7);
	assert_int_equal(tcglog_event_digest(log, 3, TCGLOG_ALG_SHA256, 0, &d, &n), 0);
	fill_digest(want, 32, 3, 1);
	assert_int_equal(n, 32);
	assert_memory_equal(d, want, 32);
	assert_int_equal(tcglog_event_digest(log, 3, TCGLOG_ALG_SHA1, TCGLOG_DISPLAY_ONLY, &d, &n),
			 0);
	fill_digest(want, 20, 3, 0);
	assert_memory_equal(d, want, 20);
	assert_int_equal(tcglog_event_digest(log, 7, TCGLOG_ALG_SHA256, 0, &d, &n),
			 AICERT_ERR_NOT_FOUND);
	assert_int_equal(tcglog_event(log, 5)->data_len, 0);
	assert_null(tcglog_event(log, 5)->data);
	assert_int_equal(tcglog_event(log, 6)->pcr, 17);
	assert_int_equal(tcglog_event(log, 6)->offset, bounds[6]);
	assert_int_equal(tcglog_spec_id(log)->vendor_info_size, 3);
	assert_memory_equal(tcglog_spec_id(log)->vendor_info, "abc", 3);
	tcglog_free(log);
	wb_free(&w);
}

/* ---- bounds: truncation and trailing bytes ---- */

static void tcglog_rejects_truncation_at_every_offset(void **state)
{
	struct wbuf w = {0};
	size_t bounds[16], nb = make_log(&w, bounds), next = 0;

	assert_rejects(w.b, 0, AICERT_ERR_INVALID, "empty");
	for (size_t len = 1; len < w.n; len++) {
		struct tcglog *log = NULL;
		char want[64];
		int r;

		while (next < nb && bounds[next] < len)
			next++;
		err_clear();
		r = tcglog_parse(w.b, len, &log);
		if (next < nb && bounds[next] == len) {
			/* Cut between two events: a valid, shorter log. */
			assert_int_equal(r, 0);
			assert_int_equal(tcglog_count(log), next);
			tcglog_free(log);
			continue;
		}
		/* The event cut short is the one after the last complete one. */
		snprintf(want, sizeof(want), "boot log event %zu at offset %zu", next,
			 next ? bounds[next - 1] : 0);
		if (r != AICERT_ERR_INVALID || !strstr(err_msg(r), want) ||
		    !strstr(err_msg(r), "truncated"))
			fail_msg("length %zu: %d %s (expected \"%s\")", len, r, err_msg(r), want);
		assert_null(log);
	}
	wb_free(&w);
}

static void tcglog_rejects_trailing_bytes(void **state)
{
	static const size_t pads[] = {1, 3, 4, 51, 4096};
	struct wbuf w = {0};
	size_t bounds[16], nb = make_log(&w, bounds), base = w.n;

	for (size_t i = 0; i < sizeof(pads) / sizeof(pads[0]); i++) {
		w.n = base;
		wb_zero(&w, pads[i]);
		assert_rejects(w.b, w.n, AICERT_ERR_INVALID, "or padding, neither is accepted");
	}
	w.n = base;
	wb_u8(&w, 0x01);
	assert_rejects(w.b, w.n, AICERT_ERR_INVALID, "truncated");
	/* The offending bytes are reported as event nb at the end of the log. */
	w.n = base;
	wb_zero(&w, 2);
	{
		char want[64];

		snprintf(want, sizeof(want), "boot log event %zu at offset %zu", nb, base);
		assert_rejects(w.b, w.n, AICERT_ERR_INVALID, want);
	}
	wb_free(&w);
}

/* ---- the Spec ID header ---- */

static void tcglog_accepts_minimal_header(void **state)
{
	struct wbuf w = {0};
	struct tcglog *log = NULL;

	wb_header(&w, ONE_SHA256, 1, NULL, 0);
	assert_int_equal(parse_wb(&w, &log), 0);
	assert_int_equal(tcglog_count(log), 0);
	assert_null(tcglog_spec_id(log)->vendor_info);
	tcglog_free(log);
	wb_free(&w);
}

static void tcglog_rejects_bad_header_fields(void **state)
{
	struct wbuf w = {0};

	wb_header(&w, TWO, 2, NULL, 0);
	put_u32_at(&w, 0, 1);
	assert_rejects_wb(
		&w, AICERT_ERR_INVALID,
		"boot log event 0 at offset 0: PCR index: 1, the Spec ID event is in PCR 0");

	wb_header(&w, TWO, 2, NULL, 0);
	put_u32_at(&w, 4, EV_SEPARATOR);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "not a crypto-agile log");

	wb_header(&w, TWO, 2, NULL, 0);
	w.b[8 + 19] = 1;
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "20 zero bytes");

	wb_header(&w, TWO, 2, NULL, 0);
	memcpy(w.b + OFF_SIG, "Spec ID Event02", 16);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "\"Spec ID Event02.\"");

	wb_header(&w, TWO, 2, NULL, 0);
	w.b[OFF_SIG + 15] = ' '; /* no NUL */
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "signature");

	wb_header(&w, TWO, 2, NULL, 0);
	put_u32_at(&w, OFF_SIG + 16, 2);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "platformClass");

	wb_header(&w, TWO, 2, NULL, 0);
	w.b[OFF_SIG + 21] = 1; /* specVersionMajor */
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "1.0, expected 2.0");

	wb_header(&w, TWO, 2, NULL, 0);
	w.b[OFF_SIG + 23] = 3; /* uintnSize */
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "uintnSize");
}

static void tcglog_rejects_bad_algorithm_lists(void **state)
{
	static const struct alg unknown[] = {{0x000b, 32}, {0x0099, 32}};
	static const struct alg badsize[] = {{0x0004, 20}, {0x000b, 20}};
	static const struct alg twice[] = {{0x000b, 32}, {0x000b, 32}};
	static const struct alg nine[9] = {{0x0004, 20}};
	struct wbuf w = {0};

	wb_header(&w, unknown, 2, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "algorithm 1: unknown algorithm 0x0099");
	wb_header(&w, badsize, 2, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "algorithm 1 (sha256): digestSize 20");
	wb_header(&w, twice, 2, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "sha256 listed twice");
	wb_header(&w, TWO, 0, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "numberOfAlgorithms: 0");
	wb_header(&w, nine, 9, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_TOO_BIG, "numberOfAlgorithms: 9, at most 8");
	/* A huge count in a small event: refused before any loop or allocation. */
	wb_header(&w, TWO, 2, NULL, 0);
	put_u32_at(&w, OFF_NALGS, UINT32_MAX);
	assert_rejects_wb(&w, AICERT_ERR_TOO_BIG, "numberOfAlgorithms: 4294967295");
	/* A count larger than the event holds. */
	wb_header(&w, TWO, 2, NULL, 0);
	put_u32_at(&w, OFF_NALGS, 3);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "truncated");
}

static void tcglog_rejects_bad_sizes_in_header(void **state)
{
	struct wbuf w = {0};

	/* vendorInfoSize larger than what the event has left. */
	wb_header(&w, TWO, 2, "abc", 3);
	w.b[w.n - 4] = 4;
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "vendorInfoSize: 4, but the event has 3 bytes");
	/* Bytes after the vendor info, inside the event. */
	wb_header(&w, TWO, 2, "abc", 3);
	w.b[w.n - 4] = 2;
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "vendorInfoSize: 2");
	wb_header(&w, TWO, 2, "abc", 3);
	w.b[w.n - 4] = 0xff;
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "vendorInfoSize: 255");
	/* The header's event size. */
	wb_header(&w, TWO, 2, NULL, 0);
	put_u32_at(&w, OFF_EVENT_SIZE, 317);
	assert_rejects_wb(&w, AICERT_ERR_TOO_BIG, "event size: 317 bytes");
	wb_header(&w, TWO, 2, NULL, 0);
	put_u32_at(&w, OFF_EVENT_SIZE, UINT32_MAX);
	assert_rejects_wb(&w, AICERT_ERR_TOO_BIG, "event size: 4294967295 bytes");
	wb_header(&w, TWO, 2, NULL, 0);
	put_u32_at(&w, OFF_EVENT_SIZE, 300);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "event data: truncated");
	/* Shorter than its own fields. */
	wb_header(&w, TWO, 2, NULL, 0);
	put_u32_at(&w, OFF_EVENT_SIZE, 20);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "truncated");
}

/* ---- TCG_PCR_EVENT2 ---- */

static void tcglog_rejects_wrong_digest_lists(void **state)
{
	static const struct alg swapped[] = {{0x000b, 32}, {0x0004, 20}};
	static const struct alg other[] = {{0x0004, 20}, {0x000c, 48}};
	struct wbuf w = {0};

	/* Missing digest. */
	wb_header(&w, TWO, 2, NULL, 0);
	wb_event(&w, 4, EV_EFI_BSA, TWO, 1, 1, NULL, 0);
	assert_rejects_wb(
		&w, AICERT_ERR_INVALID,
		"boot log event 1 at offset 69 (PCR 4, EV_EFI_BOOT_SERVICES_APPLICATION): "
		"digest count: 1, the Spec ID event lists 2 algorithms");
	/* Extra digest (for a bank not in the header). */
	wb_header(&w, ONE_SHA256, 1, NULL, 0);
	wb_event(&w, 4, EV_EFI_BSA, TWO, 2, 1, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "digest count: 2");
	/* Reordered. */
	wb_header(&w, TWO, 2, NULL, 0);
	wb_event(&w, 0, EV_S_CRTM_VER, TWO, 2, 1, NULL, 0);
	wb_event(&w, 4, EV_EFI_BSA, swapped, 2, 1, NULL, 0);
	assert_rejects_wb(
		&w, AICERT_ERR_INVALID,
		"boot log event 2 at offset 141 (PCR 4, EV_EFI_BOOT_SERVICES_APPLICATION): "
		"digest 0: algorithm 0x0004 expected, 0x000b found");
	/* Right count, another algorithm in the second place. */
	wb_header(&w, TWO, 2, NULL, 0);
	wb_event(&w, 4, 0x00abcdefu, other, 2, 1, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID,
			  "(PCR 4, type 0x00abcdef): digest 1: algorithm 0x000b expected, 0x000c "
			  "found");
	/* A count near UINT32_MAX. */
	wb_header(&w, TWO, 2, NULL, 0);
	wb_event(&w, 4, EV_EFI_BSA, TWO, 2, 1, NULL, 0);
	put_u32_at(&w, 69 + 8, UINT32_MAX);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "digest count: 4294967295");
}

static void tcglog_rejects_bad_event_fields(void **state)
{
	struct wbuf w = {0};
	size_t at;

	wb_header(&w, TWO, 2, NULL, 0);
	wb_event(&w, 24, EV_EFI_BSA, TWO, 2, 1, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "PCR index: 24, expected 0-23");
	wb_header(&w, TWO, 2, NULL, 0);
	wb_event(&w, UINT32_MAX, EV_EFI_BSA, TWO, 2, 1, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "PCR index: 4294967295");

	/* Event sizes: over the bound, near UINT32_MAX, over what is left. */
	static const uint32_t big[] = {(1u << 20) + 1, UINT32_MAX, UINT32_MAX - 3, 0x80000000u};
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		wb_header(&w, TWO, 2, NULL, 0);
		at = w.n + 12 + 22 + 34;
		wb_event(&w, 4, EV_EFI_BSA, TWO, 2, 1, "abcd", 4);
		put_u32_at(&w, at, big[i]);
		assert_rejects_wb(&w, AICERT_ERR_TOO_BIG, "event size");
	}
	wb_header(&w, TWO, 2, NULL, 0);
	at = w.n + 12 + 22 + 34;
	wb_event(&w, 4, EV_EFI_BSA, TWO, 2, 1, "abcd", 4);
	put_u32_at(&w, at, 1u << 20);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "event data: truncated: 1048576 bytes needed");
	wb_header(&w, TWO, 2, NULL, 0);
	at = w.n + 12 + 22 + 34;
	wb_event(&w, 4, EV_EFI_BSA, TWO, 2, 1, "abcd", 4);
	put_u32_at(&w, at, 5);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "event data: truncated: 5 bytes needed");
}

static void tcglog_accepts_max_event_data(void **state)
{
	struct wbuf w = {0};
	struct tcglog *log = NULL;
	uint8_t *big = calloc(1, 1u << 20);

	assert_non_null(big);
	wb_header(&w, ONE_SHA256, 1, NULL, 0);
	wb_event(&w, 4, EV_EFI_BSA, ONE_SHA256, 1, 1, big, 1u << 20);
	assert_int_equal(parse_wb(&w, &log), 0);
	assert_int_equal(tcglog_event(log, 0)->data_len, 1u << 20);
	tcglog_free(log);
	wb_free(&w);
	free(big);
}

static void tcglog_rejects_bad_no_action_events(void **state)
{
	struct wbuf w = {0};
	uint8_t spec[20] = "Spec ID Event03";

	/* Nonzero digests. */
	wb_header(&w, TWO, 2, NULL, 0);
	wb_event(&w, 0, EV_NO_ACTION, TWO, 2, 1, "x", 1);
	assert_rejects_wb(&w, AICERT_ERR_INVALID,
			  "(PCR 0, EV_NO_ACTION): digests: an EV_NO_ACTION");
	/* A second Spec ID event. */
	wb_header(&w, TWO, 2, NULL, 0);
	wb_event(&w, 0, EV_NO_ACTION, TWO, 2, 0, spec, sizeof(spec));
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "a second Spec ID event");
	/* StartupLocality: bad locality, wrong PCR, twice, too late, wrong size. */
	wb_header(&w, TWO, 2, NULL, 0);
	wb_locality(&w, TWO, 2, 2);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "locality 2, expected 0, 3 or 4");
	wb_header(&w, TWO, 2, NULL, 0);
	wb_event(&w, 1, EV_NO_ACTION, TWO, 2, 0, "StartupLocality\0\3", 17);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "in PCR 1, expected PCR 0");
	wb_header(&w, TWO, 2, NULL, 0);
	wb_locality(&w, TWO, 2, 3);
	wb_locality(&w, TWO, 2, 3);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "a second StartupLocality event");
	wb_header(&w, TWO, 2, NULL, 0);
	wb_event(&w, 0, EV_S_CRTM_VER, TWO, 2, 1, NULL, 0);
	wb_locality(&w, TWO, 2, 3);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "after an event extended PCR 0");
	wb_header(&w, TWO, 2, NULL, 0);
	wb_event(&w, 0, EV_NO_ACTION, TWO, 2, 0, "StartupLocality\0\3\0", 18);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "18 bytes of data");
	wb_header(&w, TWO, 2, NULL, 0);
	wb_event(&w, 0, EV_NO_ACTION, TWO, 2, 0, "StartupLocalityX\3", 17);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "StartupLocality event");
}

/* Events in other PCRs before it do not matter; only PCR 0's. */
static void tcglog_accepts_locality_after_other_pcrs(void **state)
{
	struct wbuf w = {0};
	struct tcglog *log = NULL;

	wb_header(&w, TWO, 2, NULL, 0);
	wb_event(&w, 7, EV_SEPARATOR, TWO, 2, 1, NULL, 0);
	wb_event(&w, 0, EV_NO_ACTION, TWO, 2, 0, "other", 5);
	wb_locality(&w, TWO, 2, 3);
	assert_int_equal(parse_wb(&w, &log), 0);
	assert_int_equal(tcglog_startup_locality(log), 3);
	tcglog_free(log);
	wb_free(&w);
}

/* ---- counts and total size ---- */

static void tcglog_bounds_event_count(void **state)
{
	struct wbuf w = {0};
	struct tcglog *log = NULL;

	wb_header(&w, ONE_SHA256, 1, NULL, 0);
	for (unsigned i = 1; i < TCGLOG_MAX_EVENTS; i++)
		wb_event(&w, i % 24, EV_EFI_ACTION, ONE_SHA256, 1, 1, NULL, 0);
	assert_int_equal(parse_wb(&w, &log), 0);
	assert_int_equal(tcglog_count(log), TCGLOG_MAX_EVENTS - 1);
	tcglog_free(log);
	wb_event(&w, 1, EV_EFI_ACTION, ONE_SHA256, 1, 1, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_TOO_BIG, "boot log event 65536 at offset");
}

static void tcglog_bounds_log_size(void **state)
{
	size_t len = (size_t)TCGLOG_MAX_LOG_BYTES + 1;
	uint8_t *buf = calloc(1, len);

	assert_non_null(buf);
	assert_rejects(buf, len, AICERT_ERR_TOO_BIG, "16777217 bytes, at most 16777216");
	free(buf);
}

static void tcglog_names_event_types(void **state)
{
	assert_string_equal(tcglog_event_type_name(0x80000003u),
			    "EV_EFI_BOOT_SERVICES_APPLICATION");
	assert_string_equal(tcglog_event_type_name(3), "EV_NO_ACTION");
	assert_string_equal(tcglog_event_type_name(0x800000e0u), "EV_EFI_VARIABLE_AUTHORITY");
	assert_null(tcglog_event_type_name(0x14));
	assert_null(tcglog_event_type_name(0xffffffffu));
	assert_string_equal(tcglog_alg_name(0x000b), "sha256");
	assert_null(tcglog_alg_name(0x0010));
}

/* ---- seed corpus for fuzz_tcglog ---- */

static void write_seed(const char *dir, const char *name, const struct wbuf *w)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (fileio_write_atomic(path, w->b, w->n, 0644) != 0) {
		fprintf(stderr, "%s: %s\n", path, err_msg(-1));
		exit(1);
	}
}

static int write_corpus(const char *dir)
{
	static const struct alg four[] = {{0x0004, 20}, {0x000b, 32}, {0x000c, 48}, {0x000d, 64}};
	struct wbuf w = {0};
	size_t bounds[16], len = 0;
	uint8_t *ovmf = read_data(DATA_DIR "binary_bios_measurements", &len);

	wb_put(&w, ovmf, len);
	write_seed(dir, "ovmf", &w);
	wb_free(&w);
	free(ovmf);
	make_log(&w, bounds);
	write_seed(dir, "features", &w);
	wb_free(&w);
	wb_header(&w, four, 4, "v", 1);
	wb_locality(&w, four, 4, 4);
	wb_event(&w, 0, EV_S_CRTM_VER, four, 4, 1, "\0\0", 2);
	wb_event(&w, 23, EV_SEPARATOR, four, 4, 2, "\0\0\0\0", 4);
	write_seed(dir, "four-banks", &w);
	wb_free(&w);
	wb_header(&w, ONE_SHA256, 1, NULL, 0);
	write_seed(dir, "header-only", &w);
	wb_free(&w);
	return 0;
}

int main(void)
{
	const char *corpus = getenv("AICERT_TCGLOG_WRITE_CORPUS");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tcglog_parses_ovmf_log),
		cmocka_unit_test(tcglog_replay_equals_guest_pcrs),
		cmocka_unit_test(tcglog_agrees_with_tpm2_eventlog),
		cmocka_unit_test(tcglog_startup_locality_sets_pcr0_initial_value),
		cmocka_unit_test(tcglog_locality_3_differs_from_none),
		cmocka_unit_test(tcglog_replay_matches_reference),
		cmocka_unit_test(tcglog_no_action_is_not_extended),
		cmocka_unit_test(tcglog_sha1_is_not_a_decision_bank),
		cmocka_unit_test(tcglog_event_digest_points_at_each_bank),
		cmocka_unit_test(tcglog_rejects_truncation_at_every_offset),
		cmocka_unit_test(tcglog_rejects_trailing_bytes),
		cmocka_unit_test(tcglog_accepts_minimal_header),
		cmocka_unit_test(tcglog_rejects_bad_header_fields),
		cmocka_unit_test(tcglog_rejects_bad_algorithm_lists),
		cmocka_unit_test(tcglog_rejects_bad_sizes_in_header),
		cmocka_unit_test(tcglog_rejects_wrong_digest_lists),
		cmocka_unit_test(tcglog_rejects_bad_event_fields),
		cmocka_unit_test(tcglog_accepts_max_event_data),
		cmocka_unit_test(tcglog_rejects_bad_no_action_events),
		cmocka_unit_test(tcglog_accepts_locality_after_other_pcrs),
		cmocka_unit_test(tcglog_bounds_event_count),
		cmocka_unit_test(tcglog_bounds_log_size),
		cmocka_unit_test(tcglog_names_event_types),
	};

	if (corpus)
		return write_corpus(corpus);
	return cmocka_run_group_tests_name("tcglog", tests, NULL, NULL);
}
