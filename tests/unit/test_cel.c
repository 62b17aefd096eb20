/* Unit tests for the runtime event log (CEL-TLV): encoding, strict decoding,
 * replay.
 *
 * Byte strings are built here with a small TLV writer of the test's own, so
 * that the decoder is checked against the format, not against the encoder.
 *
 * With AICERT_CEL_WRITE_CORPUS=DIR set, the program writes the fuzzer's seed
 * corpus (valid logs made by cel_encode) into DIR and exits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "cel.h"
#include "err.h"
#include "hex.h"

#define ALG_SHA1   0x04
#define ALG_SHA256 0x0b

/* ---- a TLV writer independent of cel.c ---- */

struct wbuf {
	uint8_t *b;
	size_t n;
	size_t cap;
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

static void wb_tl(struct wbuf *w, uint8_t type, uint32_t len)
{
	uint8_t h[5] = {type, (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
			(uint8_t)len};

	wb_put(w, h, sizeof(h));
}

static void wb_tlv(struct wbuf *w, uint8_t type, const void *val, uint32_t len)
{
	wb_tl(w, type, len);
	wb_put(w, val, len);
}

/* An integer in exactly width bytes, big-endian (width 0: empty value). */
static void wb_uint(struct wbuf *w, uint8_t type, uint64_t v, unsigned width)
{
	uint8_t b[16];

	for (unsigned i = 0; i < width; i++)
		b[i] = i + 8 >= width ? (uint8_t)(v >> (8 * (width - 1 - i))) : 0;
	wb_tlv(w, type, b, width);
}

static unsigned min_width(uint64_t v)
{
	unsigned n = 1;

	while (v > 0xff) {
		v >>= 8;
		n++;
	}
	return n;
}

static void wb_digests(struct wbuf *w, const uint8_t digest[32])
{
	wb_tl(w, 3, 37);
	wb_tlv(w, ALG_SHA256, digest, 32);
}

static void wb_content(struct wbuf *w, uint32_t event_type, const void *data, uint32_t len)
{
	wb_tl(w, 5, 5 + min_width(event_type) + 5 + len);
	wb_uint(w, 0, event_type, min_width(event_type));
	wb_tlv(w, 1, data, len);
}

static void wb_record(struct wbuf *w, uint64_t recnum, uint32_t pcr, const uint8_t digest[32],
		      uint32_t event_type, const void *data, uint32_t len)
{
	wb_uint(w, 0, recnum, min_width(recnum));
	wb_uint(w, 1, pcr, min_width(pcr));
	wb_digests(w, digest);
	wb_content(w, event_type, data, len);
}

static void wb_free(struct wbuf *w)
{
	free(w->b);
	*w = (struct wbuf){0};
}

/* ---- helpers ---- */

static const uint8_t D1[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
			       17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t D2[32] = {[0] = 0xaa, [31] = 0x55};
static const uint8_t ZERO[32];

/* Decoding must fail with code, mention want, and leave the log empty. */
static void assert_rejects(const uint8_t *buf, size_t len, int code, const char *want)
{
	struct cel_log log = {0};
	int r;

	err_clear();
	r = cel_decode(buf, len, &log);
	if (r != code || (want && !strstr(err_msg(r), want)))
		print_error("decode gave %d \"%s\", expected %d with \"%s\"\n", r, err_msg(r), code,
			    want ? want : "");
	assert_int_equal(r, code);
	if (want)
		assert_non_null(strstr(err_msg(r), want));
	assert_int_equal(log.n, 0);
	assert_null(log.recs);
}

static void assert_rejects_wb(struct wbuf *w, int code, const char *want)
{
	assert_rejects(w->b, w->n, code, want);
	wb_free(w);
}

static void make_log(struct cel_log *log)
{
	static const char a[] = "job-id=42 nonce=00ff";
	static const uint8_t b[] = {0, 1, 2, 0xfe, 0xff};

	assert_int_equal(cel_append(log, 14, D1, 0x0d, (const uint8_t *)a, sizeof(a) - 1), 0);
	assert_int_equal(cel_append(log, 8, D2, 0x80000001u, b, sizeof(b)), 0);
	assert_int_equal(cel_append(log, 15, ZERO, 0, NULL, 0), 0);
	assert_int_equal(cel_append(log, 14, D2, 0xffffffffu, b, 1), 0);
}

static void assert_same_log(const struct cel_log *a, const struct cel_log *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		const struct cel_record *x = &a->recs[i], *y = &b->recs[i];

		assert_int_equal(x->recnum, i);
		assert_int_equal(y->recnum, i);
		assert_int_equal(x->pcr, y->pcr);
		assert_memory_equal(x->sha256, y->sha256, 32);
		assert_int_equal(x->event_type, y->event_type);
		assert_int_equal(x->data_len, y->data_len);
		if (x->data_len > 0)
			assert_memory_equal(x->data, y->data, x->data_len);
	}
}

/* ---- encoding and decoding ---- */

static void cel_round_trips_records(void **state)
{
	struct cel_log log = {0}, back = {0};
	uint8_t *buf = NULL, *again = NULL;
	size_t len = 0, len2 = 0;

	make_log(&log);
	assert_int_equal(cel_encode(&log, &buf, &len), 0);
	assert_int_equal(cel_decode(buf, len, &back), 0);
	assert_same_log(&log, &back);
	assert_null(back.recs[2].data);
	assert_int_equal(cel_encode(&back, &again, &len2), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, again, len);
	free(buf);
	free(again);
	cel_clear(&log);
	cel_clear(&back);
}

/* Pins the wire format: type byte, 4-byte big-endian length, minimal integers. */
static void cel_encodes_the_tcg_tlv_layout(void **state)
{
	/* One field a line: type, 4-byte big-endian length, value. */
	/* clang-format off */
	static const char want_hex[] = "00" "00000001" "00"       /* recnum 0 */
	                               "01" "00000001" "0e"       /* pcr 14 */
	                               "03" "00000025"            /* digests, 37 bytes */
	                               "0b" "00000020"            /* sha256, 32 bytes */
	                               "0102030405060708090a0b0c0d0e0f10"
	                               "1112131415161718191a1b1c1d1e1f20"
	                               "05" "0000000f"            /* pcclient_std, 15 bytes */
	                               "00" "00000002" "0100"     /* event_type 0x100 */
	                               "01" "00000003" "616263";  /* event_data "abc" */
	/* clang-format on */
	struct cel_log log = {0};
	uint8_t *buf = NULL;
	size_t len = 0;
	char *hex;

	assert_int_equal(cel_append(&log, 14, D1, 0x100, (const uint8_t *)"abc", 3), 0);
	assert_int_equal(cel_encode(&log, &buf, &len), 0);
	hex = hex_encode_alloc(buf, len);
	assert_non_null(hex);
	assert_string_equal(hex, want_hex);
	free(hex);
	free(buf);
	cel_clear(&log);
}

static void cel_decodes_independently_built_log(void **state)
{
	struct cel_log log = {0};
	struct wbuf w = {0};

	wb_record(&w, 0, 23, D1, 7, "x", 1);
	wb_record(&w, 1, 16, D2, 0xffffffffu, NULL, 0);
	assert_int_equal(cel_decode(w.b, w.n, &log), 0);
	assert_int_equal(log.n, 2);
	assert_int_equal(log.recs[0].pcr, 23);
	assert_int_equal(log.recs[0].event_type, 7);
	assert_int_equal(log.recs[0].data_len, 1);
	assert_int_equal(log.recs[0].data[0], 'x');
	assert_memory_equal(log.recs[1].sha256, D2, 32);
	assert_int_equal(log.recs[1].event_type, 0xffffffffu);
	assert_int_equal(log.recs[1].data_len, 0);
	cel_clear(&log);
	wb_free(&w);
}

static void cel_empty_log_encodes_and_decodes(void **state)
{
	struct cel_log log = {0}, back = {0};
	uint8_t *buf = NULL;
	size_t len = 99;

	assert_int_equal(cel_encode(&log, &buf, &len), 0);
	assert_non_null(buf);
	assert_int_equal(len, 0);
	assert_int_equal(cel_decode(buf, len, &back), 0);
	assert_int_equal(back.n, 0);
	assert_int_equal(cel_decode(NULL, 0, &back), 0);
	assert_int_equal(back.n, 0);
	free(buf);
	cel_clear(&back);
}

/* ---- rejections ---- */

/* A cut inside a record fails; a cut between records is the shorter log. */
static void cel_decode_rejects_every_truncation(void **state)
{
	struct cel_log log = {0};
	uint8_t *buf = NULL;
	size_t len = 0, bounds[8], nb = 0;

	make_log(&log);
	assert_int_equal(cel_encode(&log, &buf, &len), 0);
	/* Record boundaries: the lengths of the encoded prefixes. */
	for (size_t i = 0; i <= log.n; i++) {
		struct cel_log part = {0};
		uint8_t *b = NULL;
		size_t l = 0;

		for (size_t j = 0; j < i; j++)
			assert_int_equal(cel_append(&part, log.recs[j].pcr, log.recs[j].sha256,
						    log.recs[j].event_type, log.recs[j].data,
						    log.recs[j].data_len),
					 0);
		assert_int_equal(cel_encode(&part, &b, &l), 0);
		bounds[nb++] = l;
		free(b);
		cel_clear(&part);
	}
	for (size_t cut = 0; cut < len; cut++) {
		struct cel_log back = {0};
		size_t k;
		int r;

		for (k = 0; k < nb && bounds[k] != cut; k++)
			;
		r = cel_decode(buf, cut, &back);
		if (k < nb) {
			assert_int_equal(r, 0);
			assert_int_equal(back.n, k);
		} else {
			assert_int_equal(r, AICERT_ERR_INVALID);
			assert_non_null(strstr(err_msg(r), "runtime log record "));
			assert_int_equal(back.n, 0);
			assert_null(back.recs);
		}
		cel_clear(&back);
	}
	free(buf);
	cel_clear(&log);
}

static void cel_decode_rejects_trailing_bytes(void **state)
{
	struct wbuf w = {0};

	wb_record(&w, 0, 14, D1, 1, "a", 1);
	wb_put(&w, "", 1);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "record 1 at offset 71: recnum: truncated");

	wb_record(&w, 0, 14, D1, 1, "a", 1);
	wb_tl(&w, 0, 1);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "recnum: length 1 exceeds the 0 bytes left");
}

static void cel_decode_rejects_recnum_gap(void **state)
{
	struct wbuf w = {0};

	wb_record(&w, 0, 14, D1, 1, NULL, 0);
	wb_record(&w, 2, 14, D1, 1, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID,
			  "record 1 at offset 70: recnum: value 2, expected 1");

	wb_record(&w, 1, 14, D1, 1, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "recnum: value 1, expected 0");

	wb_record(&w, 0, 14, D1, 1, NULL, 0);
	wb_record(&w, 0, 14, D1, 1, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "recnum: value 0, expected 1");

	wb_record(&w, UINT64_MAX, 14, D1, 1, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "recnum: value 18446744073709551615");
}

static void cel_decode_rejects_duplicated_or_missing_fields(void **state)
{
	struct wbuf w = {0};

	wb_uint(&w, 0, 0, 1);
	wb_uint(&w, 1, 14, 1);
	wb_uint(&w, 1, 14, 1);
	wb_digests(&w, D1);
	wb_content(&w, 1, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "digests: duplicated or misplaced pcr field");

	wb_uint(&w, 0, 0, 1);
	wb_uint(&w, 0, 0, 1);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "pcr: duplicated or misplaced recnum field");

	wb_uint(&w, 0, 0, 1);
	wb_digests(&w, D1);
	wb_content(&w, 1, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "pcr: missing, found a digests field");

	wb_uint(&w, 1, 14, 1);
	wb_uint(&w, 0, 0, 1);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "recnum: missing, found a pcr field");

	wb_uint(&w, 0, 0, 1);
	wb_uint(&w, 1, 14, 1);
	wb_content(&w, 1, NULL, 0);
	wb_digests(&w, D1);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "digests: missing, found a pcclient_std field");

	wb_uint(&w, 0, 0, 1);
	wb_uint(&w, 1, 14, 1);
	wb_digests(&w, D1);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "content: truncated");

	wb_record(&w, 0, 14, D1, 1, NULL, 0);
	wb_content(&w, 1, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "record 1 at offset 70: recnum: missing");
}

static void cel_decode_rejects_unknown_types(void **state)
{
	struct wbuf w = {0};

	wb_uint(&w, 0, 0, 1);
	wb_uint(&w, 0x42, 14, 1);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "pcr: unknown field type 66");

	wb_uint(&w, 0, 0, 1);
	wb_uint(&w, 2, 0x01500000, 4);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "nv_index records are not accepted");

	wb_uint(&w, 0, 0, 1);
	wb_uint(&w, 1, 14, 1);
	wb_digests(&w, D1);
	wb_tlv(&w, 4, "\x02\x00\x00\x00\x00", 5);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "content type cel_mgt not accepted");

	wb_uint(&w, 0, 0, 1);
	wb_uint(&w, 1, 14, 1);
	wb_digests(&w, D1);
	wb_tlv(&w, 0xff, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "content: unknown field type 255");

	/* Inside pcclient_std: unknown, reordered, duplicated, extra. */
	wb_uint(&w, 0, 0, 1);
	wb_uint(&w, 1, 14, 1);
	wb_digests(&w, D1);
	wb_tl(&w, 5, 6);
	wb_uint(&w, 9, 1, 1);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "event_type: unknown pcclient_std field type 9");

	wb_uint(&w, 0, 0, 1);
	wb_uint(&w, 1, 14, 1);
	wb_digests(&w, D1);
	wb_tl(&w, 5, 11);
	wb_tlv(&w, 1, NULL, 0);
	wb_uint(&w, 0, 1, 1);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "event_type: missing, found event_data field");

	wb_uint(&w, 0, 0, 1);
	wb_uint(&w, 1, 14, 1);
	wb_digests(&w, D1);
	wb_tl(&w, 5, 12);
	wb_uint(&w, 0, 1, 1);
	wb_uint(&w, 0, 1, 1);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "event_data: duplicated event_type field");

	wb_uint(&w, 0, 0, 1);
	wb_uint(&w, 1, 14, 1);
	wb_digests(&w, D1);
	wb_tl(&w, 5, 16);
	wb_uint(&w, 0, 1, 1);
	wb_tlv(&w, 1, NULL, 0);
	wb_tlv(&w, 1, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "content: 5 bytes after event_data");
}

static void cel_decode_requires_one_sha256_digest(void **state)
{
	static const uint8_t sha1[20];
	struct wbuf w = {0};

	/* Two digests: SHA-256 and SHA-1. */
	wb_uint(&w, 0, 0, 1);
	wb_uint(&w, 1, 14, 1);
	wb_tl(&w, 3, 37 + 25);
	wb_tlv(&w, ALG_SHA256, D1, 32);
	wb_tlv(&w, ALG_SHA1, sha1, 20);
	wb_content(&w, 1, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "offset 54: digests: more than one digest");

	/* Two SHA-256 digests. */
	wb_uint(&w, 0, 0, 1);
	wb_uint(&w, 1, 14, 1);
	wb_tl(&w, 3, 74);
	wb_tlv(&w, ALG_SHA256, D1, 32);
	wb_tlv(&w, ALG_SHA256, D2, 32);
	wb_content(&w, 1, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "more than one digest");

	/* SHA-1 only. */
	wb_uint(&w, 0, 0, 1);
	wb_uint(&w, 1, 14, 1);
	wb_tl(&w, 3, 25);
	wb_tlv(&w, ALG_SHA1, sha1, 20);
	wb_content(&w, 1, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "sha1 digest (algorithm 0x04) not accepted");

	/* SHA-1 first, then SHA-256. */
	wb_uint(&w, 0, 0, 1);
	wb_uint(&w, 1, 14, 1);
	wb_tl(&w, 3, 25 + 37);
	wb_tlv(&w, ALG_SHA1, sha1, 20);
	wb_tlv(&w, ALG_SHA256, D1, 32);
	wb_content(&w, 1, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "sha1 digest");

	/* No digest at all, and a short SHA-256. */
	wb_uint(&w, 0, 0, 1);
	wb_uint(&w, 1, 14, 1);
	wb_tl(&w, 3, 0);
	wb_content(&w, 1, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "digests: no digest");

	wb_uint(&w, 0, 0, 1);
	wb_uint(&w, 1, 14, 1);
	wb_tl(&w, 3, 25);
	wb_tlv(&w, ALG_SHA256, D1, 20);
	wb_content(&w, 1, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "sha256 digest of 20 bytes, expected 32");

	/* A digest TLV cut short inside the digests TLV. */
	wb_uint(&w, 0, 0, 1);
	wb_uint(&w, 1, 14, 1);
	wb_tl(&w, 3, 3);
	wb_put(&w, "\x0b\x00\x00", 3);
	wb_content(&w, 1, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "digests: truncated");
}

static void cel_decode_rejects_pcr_out_of_range(void **state)
{
	struct wbuf w = {0};

	wb_record(&w, 0, 31, D1, 1, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID,
			  "runtime log record 0 at offset 6: pcr: value 31 out of range");

	wb_record(&w, 0, 24, D1, 1, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "pcr: value 24 out of range");

	wb_uint(&w, 0, 0, 1);
	wb_uint(&w, 1, UINT32_MAX, 4);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "pcr: value 4294967295 out of range");
}

static void cel_decode_rejects_non_minimal_integers(void **state)
{
	struct wbuf w = {0};

	wb_uint(&w, 0, 0, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "recnum: empty integer");

	wb_uint(&w, 0, 0, 2);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "recnum: integer not minimally encoded");

	wb_uint(&w, 0, 0, 8);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "recnum: integer not minimally encoded");

	wb_uint(&w, 0, 1, 9);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "recnum: integer of 9 bytes, at most 8");

	wb_uint(&w, 0, 0, 1);
	wb_uint(&w, 1, 14, 2);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "pcr: integer not minimally encoded");

	wb_uint(&w, 0, 0, 1);
	wb_uint(&w, 1, 14, 5);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "pcr: integer of 5 bytes, at most 4");

	wb_uint(&w, 0, 0, 1);
	wb_uint(&w, 1, 14, 1);
	wb_digests(&w, D1);
	wb_tl(&w, 5, 10 + 5);
	wb_uint(&w, 0, 0x100000000ull, 5);
	wb_tlv(&w, 1, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_INVALID, "event_type: integer of 5 bytes, at most 4");
}

static void cel_decode_rejects_oversized_lengths(void **state)
{
	struct wbuf w = {0};
	uint8_t *big;

	/* event_data one byte over the limit, with the bytes present. */
	big = calloc(1, CEL_MAX_CONTENT + 1);
	assert_non_null(big);
	wb_uint(&w, 0, 0, 1);
	wb_uint(&w, 1, 14, 1);
	wb_digests(&w, D1);
	wb_tl(&w, 5, 6 + 5 + CEL_MAX_CONTENT + 1);
	wb_uint(&w, 0, 1, 1);
	wb_tlv(&w, 1, big, CEL_MAX_CONTENT + 1);
	assert_rejects_wb(&w, AICERT_ERR_TOO_BIG, "event_data: length 65537 over the limit");

	/* Exactly at the limit is fine. */
	wb_record(&w, 0, 14, D1, 1, big, CEL_MAX_CONTENT);
	{
		struct cel_log log = {0};

		assert_int_equal(cel_decode(w.b, w.n, &log), 0);
		assert_int_equal(log.recs[0].data_len, CEL_MAX_CONTENT);
		cel_clear(&log);
	}
	wb_free(&w);
	free(big);

	/* A content TLV claiming more than any valid content. */
	wb_uint(&w, 0, 0, 1);
	wb_uint(&w, 1, 14, 1);
	wb_digests(&w, D1);
	wb_tl(&w, 5, 0x7fffffff);
	assert_rejects_wb(&w, AICERT_ERR_TOO_BIG, "content: length 2147483647 over the limit");

	/* A whole log over CEL_MAX_LOG_BYTES, refused before it is read. */
	big = calloc(1, (size_t)CEL_MAX_LOG_BYTES + 1);
	assert_non_null(big);
	assert_rejects(big, (size_t)CEL_MAX_LOG_BYTES + 1, AICERT_ERR_TOO_BIG,
		       "runtime log: 67108865 bytes");
	free(big);
}

static void cel_decode_rejects_too_many_records(void **state)
{
	struct wbuf w = {0};

	for (uint64_t i = 0; i <= CEL_MAX_RECORDS; i++)
		wb_record(&w, i, 14, D1, 1, NULL, 0);
	assert_rejects_wb(&w, AICERT_ERR_TOO_BIG, "record 65536 at offset");
}

/* Every length field in turn set near UINT32_MAX: a clean failure each time. */
static void cel_decode_rejects_lengths_near_uint32_max(void **state)
{
	static const uint32_t lens[] = {UINT32_MAX,  UINT32_MAX - 4, UINT32_MAX - 5,
					0x80000000u, 0x7fffffffu,    0x00ffffffu};
	/* Offsets of the length fields in wb_record(0, 14, D1, 1, "ab", 2). */
	static const size_t at[] = {1, 7, 13, 18, 55, 60, 66};
	struct wbuf w = {0};

	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
			struct cel_log log = {0};
			int r;

			wb_record(&w, 0, 14, D1, 1, "ab", 2);
			assert_int_equal(w.n, 72);
			w.b[at[i]] = (uint8_t)(lens[j] >> 24);
			w.b[at[i] + 1] = (uint8_t)(lens[j] >> 16);
			w.b[at[i] + 2] = (uint8_t)(lens[j] >> 8);
			w.b[at[i] + 3] = (uint8_t)lens[j];
			r = cel_decode(w.b, w.n, &log);
			assert_true(r == AICERT_ERR_INVALID || r == AICERT_ERR_TOO_BIG);
			assert_non_null(strstr(err_msg(r), "runtime log record 0 at offset"));
			assert_int_equal(log.n, 0);
			assert_null(log.recs);
			wb_free(&w);
		}
	}
}

/* ---- building the log ---- */

static void cel_append_rejects_bad_records(void **state)
{
	struct cel_log log = {0};
	uint8_t *big = calloc(1, CEL_MAX_CONTENT + 1);

	assert_non_null(big);
	assert_int_equal(cel_append(&log, 24, D1, 1, NULL, 0), AICERT_ERR_INVALID);
	assert_int_equal(cel_append(&log, 14, D1, 1, big, CEL_MAX_CONTENT + 1), AICERT_ERR_TOO_BIG);
	assert_int_equal(log.n, 0);
	assert_int_equal(cel_append(&log, 14, D1, 1, big, CEL_MAX_CONTENT), 0);
	assert_int_equal(log.n, 1);
	free(big);
	cel_clear(&log);
}

static void cel_append_stops_at_max_records(void **state)
{
	struct cel_log log = {0};

	for (size_t i = 0; i < CEL_MAX_RECORDS; i++)
		assert_int_equal(cel_append(&log, 14, D1, 1, NULL, 0), 0);
	assert_int_equal(log.recs[CEL_MAX_RECORDS - 1].recnum, CEL_MAX_RECORDS - 1);
	assert_true(log.cap <= CEL_MAX_RECORDS);
	assert_int_equal(cel_append(&log, 14, D1, 1, NULL, 0), AICERT_ERR_TOO_BIG);
	assert_int_equal(log.n, CEL_MAX_RECORDS);
	cel_clear(&log);
}

static void cel_truncate_and_clear(void **state)
{
	struct cel_log log = {0};
	uint8_t *buf = NULL;
	size_t len = 0;

	make_log(&log);
	cel_truncate(&log, 10);
	assert_int_equal(log.n, 4);
	cel_truncate(&log, 2);
	assert_int_equal(log.n, 2);
	/* Appending after a truncate numbers on from the new end. */
	assert_int_equal(cel_append(&log, 9, D1, 3, NULL, 0), 0);
	assert_int_equal(log.recs[2].recnum, 2);
	assert_int_equal(cel_encode(&log, &buf, &len), 0);
	free(buf);
	cel_clear(&log);
	assert_int_equal(log.n, 0);
	assert_null(log.recs);
	cel_clear(&log);
	cel_clear(NULL);
}

static void cel_encode_rejects_tampered_records(void **state)
{
	struct cel_log log = {0};
	uint8_t *buf = (uint8_t *)"untouched";
	size_t len = 7;

	make_log(&log);
	log.recs[1].recnum = 5;
	assert_int_equal(cel_encode(&log, &buf, &len), AICERT_ERR_INVALID);
	assert_non_null(strstr(err_msg(AICERT_ERR_INVALID), "record 1: recnum is 5"));
	log.recs[1].recnum = 1;
	log.recs[2].pcr = 24;
	assert_int_equal(cel_encode(&log, &buf, &len), AICERT_ERR_INVALID);
	assert_string_equal((const char *)buf, "untouched");
	assert_int_equal(len, 7);
	cel_clear(&log);
}

/* Records are public: a log built by hand, all records sharing one buffer,
 * so the 64 MiB bound is reached without allocating it. */
static void cel_encode_refuses_more_than_max_log_bytes(void **state)
{
	static uint8_t shared[CEL_MAX_CONTENT];
	size_t n = CEL_MAX_LOG_BYTES / CEL_MAX_CONTENT + 1;
	struct cel_record *recs = calloc(n, sizeof(*recs));
	struct cel_log log = {.recs = recs, .n = n, .cap = n};
	uint8_t *buf = NULL;
	size_t len = 0;

	assert_non_null(recs);
	for (size_t i = 0; i < n; i++)
		recs[i] = (struct cel_record){
			.recnum = i, .pcr = 14, .data = shared, .data_len = sizeof(shared)};
	assert_int_equal(cel_encode(&log, &buf, &len), AICERT_ERR_TOO_BIG);
	assert_non_null(strstr(err_msg(AICERT_ERR_TOO_BIG), "encoding exceeds 67108864 bytes"));
	assert_null(buf);
	recs[3].data = NULL;
	assert_int_equal(cel_encode(&log, &buf, &len), AICERT_ERR_INVALID);
	assert_non_null(strstr(err_msg(AICERT_ERR_INVALID), "record 3: no event data"));
	recs[3].data = shared;
	recs[2].data_len = CEL_MAX_CONTENT + 1;
	assert_int_equal(cel_encode(&log, &buf, &len), AICERT_ERR_TOO_BIG);
	assert_non_null(strstr(err_msg(AICERT_ERR_TOO_BIG), "record 2: 65537 bytes"));
	free(recs);
}

/* ---- replay ---- */

static void extend(uint8_t pcr[32], const uint8_t digest[32])
{
	uint8_t in[64];

	memcpy(in, pcr, 32);
	memcpy(in + 32, digest, 32);
	SHA256(in, sizeof(in), pcr);
}

static void cel_replay_matches_hand_computation(void **state)
{
	struct cel_log log = {0};
	uint8_t pcrs[24][32], want14[32] = {0}, want8[32] = {0}, want15[32] = {0};
	uint8_t zz[32];
	uint32_t touched = 0;
	size_t len = 0;

	make_log(&log); /* 14 <- D1, 8 <- D2, 15 <- ZERO, 14 <- D2 */
	extend(want14, D1);
	extend(want8, D2);
	extend(want15, ZERO);
	extend(want14, D2);
	memset(pcrs, 0xee, sizeof(pcrs));
	assert_int_equal(cel_replay(&log, log.n, pcrs, &touched), 0);
	assert_int_equal(touched, (1u << 8) | (1u << 14) | (1u << 15));
	assert_memory_equal(pcrs[14], want14, 32);
	assert_memory_equal(pcrs[8], want8, 32);
	assert_memory_equal(pcrs[15], want15, 32);
	assert_memory_equal(pcrs[0], ZERO, 32);
	assert_memory_equal(pcrs[23], ZERO, 32);
	/* Known answer: SHA-256 of 64 zero bytes. */
	assert_int_equal(hex_decode("f5a5fd42d16a20302798ef6ed309979b"
				    "43003d2320d9f0e8ea9831a92759fb4b",
				    zz, sizeof(zz), &len),
			 0);
	assert_memory_equal(pcrs[15], zz, 32);
	cel_clear(&log);
}

static void cel_replay_covers_a_prefix(void **state)
{
	struct cel_log log = {0};
	uint8_t pcrs[24][32], want14[32] = {0};
	uint32_t touched = 7;

	make_log(&log);
	extend(want14, D1);
	assert_int_equal(cel_replay(&log, 1, pcrs, &touched), 0);
	assert_int_equal(touched, 1u << 14);
	assert_memory_equal(pcrs[14], want14, 32);
	assert_memory_equal(pcrs[8], ZERO, 32);
	assert_int_equal(cel_replay(&log, 0, pcrs, &touched), 0);
	assert_int_equal(touched, 0);
	touched = 7;
	assert_int_equal(cel_replay(&log, 5, pcrs, &touched), AICERT_ERR_INVALID);
	assert_int_equal(touched, 7);
	cel_clear(&log);
}

static void cel_replay_rejects_pcrs_outside_runtime_set(void **state)
{
	static const uint32_t bad[] = {0, 4, 7, 17, 18, 22};
	static const uint32_t good[] = {8, 9, 12, 16, 23};
	uint8_t pcrs[24][32];
	uint32_t touched = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cel_log log = {0};
		char want[96];

		assert_int_equal(cel_append(&log, 14, D1, 1, NULL, 0), 0);
		assert_int_equal(cel_append(&log, bad[i], D1, 1, NULL, 0), 0);
		touched = 0x5a;
		assert_int_equal(cel_replay(&log, log.n, pcrs, &touched), AICERT_ERR_INVALID);
		snprintf(want, sizeof(want), "runtime log record 1: PCR %u may not appear", bad[i]);
		assert_non_null(strstr(err_msg(AICERT_ERR_INVALID), want));
		assert_int_equal(touched, 0x5a);
		/* The records before it still replay. */
		assert_int_equal(cel_replay(&log, 1, pcrs, &touched), 0);
		cel_clear(&log);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct cel_log log = {0};

		assert_int_equal(cel_append(&log, good[i], D1, 1, NULL, 0), 0);
		assert_int_equal(cel_replay(&log, log.n, pcrs, &touched), 0);
		assert_int_equal(touched, 1u << good[i]);
		cel_clear(&log);
	}
}

/* ---- seed corpus for fuzz_cel ---- */

static int write_file(const char *dir, const char *name, const struct cel_log *log)
{
	char path[4096];
	uint8_t *buf = NULL;
	size_t len = 0;
	FILE *f;
	int ok;

	if (cel_encode(log, &buf, &len) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	ok = f && fwrite(buf, 1, len, f) == len;
	if (f && fclose(f) != 0)
		ok = 0;
	free(buf);
	return ok ? 0 : -1;
}

static int write_corpus(const char *dir)
{
	struct cel_log log = {0};
	uint8_t data[300];
	int r = 0;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	cel_append(&log, 14, D1, 0x0d, (const uint8_t *)"job start", 9);
	r |= write_file(dir, "one_record", &log);
	cel_clear(&log);
	make_log(&log);
	r |= write_file(dir, "four_records", &log);
	cel_clear(&log);
	for (uint32_t i = 0; i < 40; i++)
		cel_append(&log, i % 2 ? 8 : 14, i % 3 ? D1 : D2, i * 0x01010101u, data, i % 5);
	r |= write_file(dir, "many_records", &log);
	cel_clear(&log);
	cel_append(&log, 23, D2, 0xffffffffu, data, sizeof(data));
	cel_append(&log, 16, ZERO, 0, NULL, 0);
	r |= write_file(dir, "large_values", &log);
	cel_clear(&log);
	return r ? 1 : 0;
}

int main(void)
{
	const char *corpus = getenv("AICERT_CEL_WRITE_CORPUS");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cel_round_trips_records),
		cmocka_unit_test(cel_encodes_the_tcg_tlv_layout),
		cmocka_unit_test(cel_decodes_independently_built_log),
		cmocka_unit_test(cel_empty_log_encodes_and_decodes),
		cmocka_unit_test(cel_decode_rejects_every_truncation),
		cmocka_unit_test(cel_decode_rejects_trailing_bytes),
		cmocka_unit_test(cel_decode_rejects_recnum_gap),
		cmocka_unit_test(cel_decode_rejects_duplicated_or_missing_fields),
		cmocka_unit_test(cel_decode_rejects_unknown_types),
		cmocka_unit_test(cel_decode_requires_one_sha256_digest),
		cmocka_unit_test(cel_decode_rejects_pcr_out_of_range),
		cmocka_unit_test(cel_decode_rejects_non_minimal_integers),
		cmocka_unit_test(cel_decode_rejects_oversized_lengths),
		cmocka_unit_test(cel_decode_rejects_too_many_records),
		cmocka_unit_test(cel_decode_rejects_lengths_near_uint32_max),
		cmocka_unit_test(cel_append_rejects_bad_records),
		cmocka_unit_test(cel_append_stops_at_max_records),
		cmocka_unit_test(cel_truncate_and_clear),
		cmocka_unit_test(cel_encode_rejects_tampered_records),
		cmocka_unit_test(cel_encode_refuses_more_than_max_log_bytes),
		cmocka_unit_test(cel_replay_matches_hand_computation),
		cmocka_unit_test(cel_replay_covers_a_prefix),
		cmocka_unit_test(cel_replay_rejects_pcrs_outside_runtime_set),
	};

	if (corpus)
		return write_corpus(corpus);
	return cmocka_run_group_tests_name("cel", tests, NULL, NULL);
}
