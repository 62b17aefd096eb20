/* The runtime event log in the TCG Canonical Event Log (CEL) TLV encoding.
 *
 * Wire format (TCG "Canonical Event Log Format" v1.0, TLV encoding):
 *
 *   TLV     = type (1 byte) || length (4 bytes, big-endian) || value (length bytes)
 *   log     = record*                  (no header, no count: records back to back)
 *   record  = recnum || pcr || digests || content, exactly in this order
 *   recnum  = TLV type 0, unsigned integer, at most 8 bytes
 *   pcr     = TLV type 1, unsigned integer, at most 4 bytes, value < 24
 *   digests = TLV type 3 holding one digest TLV whose type is the hash's
 *             TPM_ALG_ID: here exactly one, TPM_ALG_SHA256 (0x0b), 32 bytes
 *   content = TLV type 5 (pcclient_std) holding
 *               event_type = TLV type 0, unsigned integer, at most 4 bytes
 *               event_data = TLV type 1, raw bytes, at most CEL_MAX_CONTENT
 *
 * Integers are big-endian in the fewest bytes that hold the value (zero is one
 * 0x00 byte). The decoder accepts only that form, so every log has exactly one
 * encoding and decode-then-encode gives back the input bytes. nv_index records
 * (type 2) and the other content types (cel_mgt 4, ima_template 7, ...) are
 * valid CEL but never produced by aicert, and rejected.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "cel.h"
#include "err.h"

enum cel_type {
	CEL_T_RECNUM = 0,
	CEL_T_PCR = 1,
	CEL_T_NV_INDEX = 2,
	CEL_T_DIGESTS = 3,
	CEL_T_CEL_MGT = 4,
	CEL_T_PCCLIENT_STD = 5,
	CEL_T_IMA_TEMPLATE = 7,
};

/* Field types inside a pcclient_std content TLV. */
enum cel_pc_type {
	CEL_PC_EVENT_TYPE = 0,
	CEL_PC_EVENT_DATA = 1,
};

#define CEL_ALG_SHA1    0x04
#define CEL_ALG_SHA256  0x0b
#define CEL_ALG_SHA384  0x0c
#define CEL_ALG_SHA512  0x0d
#define CEL_ALG_SM3_256 0x12
#define CEL_TL_SIZE     5u
#define CEL_SHA256_SIZE 32u
#define CEL_PCR_COUNT   24u
#define CEL_INITIAL_CAP 16u
/* A pcclient_std TLV's value: event_type (at most 4 bytes) and event_data. */
#define CEL_CONTENT_TLV_MAX (CEL_TL_SIZE + 4u + CEL_TL_SIZE + CEL_MAX_CONTENT)

/* Which nesting level a reader walks, for messages about misplaced fields. */
enum cel_level {
	CEL_LEVEL_RECORD,
	CEL_LEVEL_PCCLIENT,
};

/* Cursor over buf[pos, end); offsets in messages are from the log's start. */
struct cel_reader {
	const uint8_t *buf;
	size_t pos;
	size_t end;
	size_t rec;
	enum cel_level level;
};

struct cel_tlv {
	uint8_t type;
	uint32_t len;
	const uint8_t *val;
	size_t off; /* offset of the type byte */
};

/* ---- records in memory ---- */

static int cel_grow(struct cel_log *log)
{
	struct cel_record *p;
	size_t ncap;

	if (log->n < log->cap)
		return 0;
	ncap = log->cap ? log->cap * 2 : CEL_INITIAL_CAP;
	if (ncap > CEL_MAX_RECORDS)
		ncap = CEL_MAX_RECORDS;
	assert(ncap > log->n);
	p = realloc(log->recs, ncap * sizeof(*p));
	if (!p)
		return err_set(AICERT_ERR_NOMEM, "runtime log: out of memory for %zu records",
			       ncap);
	log->recs = p;
	log->cap = ncap;
	return 0;
}

int cel_append(struct cel_log *log, uint32_t pcr, const uint8_t sha256[32], uint32_t event_type,
	       const uint8_t *data, size_t data_len)
{
	struct cel_record *rec;
	uint8_t *copy = NULL;
	int r;

	assert(log && sha256 && (data || data_len == 0));
	if (pcr >= CEL_PCR_COUNT)
		return err_set(AICERT_ERR_INVALID, "runtime log: pcr %u out of range", pcr);
	if (data_len > CEL_MAX_CONTENT)
		return err_set(AICERT_ERR_TOO_BIG,
			       "runtime log: %zu bytes of event data, at most %u", data_len,
			       CEL_MAX_CONTENT);
	if (log->n >= CEL_MAX_RECORDS)
		return err_set(AICERT_ERR_TOO_BIG, "runtime log: more than %u records",
			       CEL_MAX_RECORDS);
	r = cel_grow(log);
	if (r < 0)
		return r;
	if (data_len > 0) {
		copy = malloc(data_len);
		if (!copy)
			return err_set(AICERT_ERR_NOMEM, "runtime log: out of memory");
		memcpy(copy, data, data_len);
	}
	rec = &log->recs[log->n];
	rec->recnum = log->n;
	rec->pcr = pcr;
	memcpy(rec->sha256, sha256, CEL_SHA256_SIZE);
	rec->event_type = event_type;
	rec->data = copy;
	rec->data_len = data_len;
	log->n++;
	return 0;
}

void cel_truncate(struct cel_log *log, size_t n)
{
	assert(log);
	while (log->n > n) {
		log->n--;
		free(log->recs[log->n].data);
		log->recs[log->n].data = NULL;
	}
}

void cel_clear(struct cel_log *log)
{
	if (!log)
		return;
	cel_truncate(log, 0);
	free(log->recs);
	log->recs = NULL;
	log->cap = 0;
}

/* ---- encoding ---- */

/* Bytes in the minimal big-endian form of v: 1 for zero. */
static size_t cel_uint_len(uint64_t v)
{
	size_t n = 1;

	while (v > 0xff) {
		v >>= 8;
		n++;
	}
	return n;
}

static size_t cel_record_size(const struct cel_record *rec)
{
	return CEL_TL_SIZE + cel_uint_len(rec->recnum) + CEL_TL_SIZE + cel_uint_len(rec->pcr) +
	       CEL_TL_SIZE + CEL_TL_SIZE + CEL_SHA256_SIZE + CEL_TL_SIZE + CEL_TL_SIZE +
	       cel_uint_len(rec->event_type) + CEL_TL_SIZE + rec->data_len;
}

static uint8_t *cel_put_tl(uint8_t *p, uint8_t type, size_t len)
{
	assert(len <= UINT32_MAX);
	p[0] = type;
	p[1] = (uint8_t)(len >> 24);
	p[2] = (uint8_t)(len >> 16);
	p[3] = (uint8_t)(len >> 8);
	p[4] = (uint8_t)len;
	return p + CEL_TL_SIZE;
}

static uint8_t *cel_put_uint(uint8_t *p, uint8_t type, uint64_t v)
{
	size_t n = cel_uint_len(v);

	p = cel_put_tl(p, type, n);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	return p + n;
}

static uint8_t *cel_put_record(uint8_t *p, const struct cel_record *rec)
{
	size_t content = CEL_TL_SIZE + cel_uint_len(rec->event_type) + CEL_TL_SIZE + rec->data_len;

	p = cel_put_uint(p, CEL_T_RECNUM, rec->recnum);
	p = cel_put_uint(p, CEL_T_PCR, rec->pcr);
	p = cel_put_tl(p, CEL_T_DIGESTS, CEL_TL_SIZE + CEL_SHA256_SIZE);
	p = cel_put_tl(p, CEL_ALG_SHA256, CEL_SHA256_SIZE);
	memcpy(p, rec->sha256, CEL_SHA256_SIZE);
	p += CEL_SHA256_SIZE;
	p = cel_put_tl(p, CEL_T_PCCLIENT_STD, content);
	p = cel_put_uint(p, CEL_PC_EVENT_TYPE, rec->event_type);
	p = cel_put_tl(p, CEL_PC_EVENT_DATA, rec->data_len);
	if (rec->data_len > 0)
		memcpy(p, rec->data, rec->data_len);
	return p + rec->data_len;
}

/* The records are public fields: refuse what the decoder would refuse. */
static int cel_check_record(const struct cel_record *rec, size_t i)
{
	if (rec->recnum != i)
		return err_set(AICERT_ERR_INVALID, "runtime log record %zu: recnum is %llu", i,
			       (unsigned long long)rec->recnum);
	if (rec->pcr >= CEL_PCR_COUNT)
		return err_set(AICERT_ERR_INVALID, "runtime log record %zu: pcr %u out of range", i,
			       rec->pcr);
	if (rec->data_len > CEL_MAX_CONTENT)
		return err_set(AICERT_ERR_TOO_BIG,
			       "runtime log record %zu: %zu bytes of event data, at most %u", i,
			       rec->data_len, CEL_MAX_CONTENT);
	if (!rec->data && rec->data_len > 0)
		return err_set(AICERT_ERR_INVALID, "runtime log record %zu: no event data", i);
	return 0;
}

static int cel_encoded_size(const struct cel_log *log, size_t *size)
{
	size_t total = 0;
	int r;

	if (log->n > CEL_MAX_RECORDS)
		return err_set(AICERT_ERR_TOO_BIG, "runtime log: %zu records, at most %u", log->n,
			       CEL_MAX_RECORDS);
	for (size_t i = 0; i < log->n; i++) {
		size_t s;

		r = cel_check_record(&log->recs[i], i);
		if (r < 0)
			return r;
		s = cel_record_size(&log->recs[i]);
		if (s > CEL_MAX_LOG_BYTES - total)
			return err_set(AICERT_ERR_TOO_BIG,
				       "runtime log: encoding exceeds %u bytes at record %zu",
				       CEL_MAX_LOG_BYTES, i);
		total += s;
	}
	*size = total;
	return 0;
}

int cel_encode(const struct cel_log *log, uint8_t **buf, size_t *len)
{
	uint8_t *out, *p;
	size_t size = 0;
	int r;

	assert(log && buf && len);
	r = cel_encoded_size(log, &size);
	if (r < 0)
		return r;
	/* One byte at least, so that an empty log is a valid, freeable buffer. */
	out = malloc(size ? size : 1);
	if (!out)
		return err_set(AICERT_ERR_NOMEM, "runtime log: out of memory for %zu bytes", size);
	p = out;
	for (size_t i = 0; i < log->n; i++)
		p = cel_put_record(p, &log->recs[i]);
	assert((size_t)(p - out) == size);
	*buf = out;
	*len = size;
	return 0;
}

/* ---- decoding ---- */

static int cel_fail(const struct cel_reader *rd, int code, size_t off, const char *field,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int cel_fail(const struct cel_reader *rd, int code, size_t off, const char *field,
		    const char *fmt, ...)
{
	char detail[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return err_set(code, "runtime log record %zu at offset %zu: %s: %s", rd->rec, off, field,
		       detail);
}

static const char *cel_type_name(uint8_t type)
{
	switch (type) {
	case CEL_T_RECNUM:
		return "recnum";
	case CEL_T_PCR:
		return "pcr";
	case CEL_T_NV_INDEX:
		return "nv_index";
	case CEL_T_DIGESTS:
		return "digests";
	case CEL_T_CEL_MGT:
		return "cel_mgt";
	case CEL_T_PCCLIENT_STD:
		return "pcclient_std";
	case CEL_T_IMA_TEMPLATE:
		return "ima_template";
	default:
		return NULL;
	}
}

/* Position of a record-level field type: recnum, pcr, digests, content. */
static int cel_rank(uint8_t type)
{
	switch (type) {
	case CEL_T_RECNUM:
		return 0;
	case CEL_T_PCR:
	case CEL_T_NV_INDEX:
		return 1;
	case CEL_T_DIGESTS:
		return 2;
	case CEL_T_CEL_MGT:
	case CEL_T_PCCLIENT_STD:
	case CEL_T_IMA_TEMPLATE:
		return 3;
	default:
		return -1;
	}
}

static int cel_record_type_error(const struct cel_reader *rd, const struct cel_tlv *t, uint8_t want,
				 const char *field)
{
	int have = cel_rank(t->type);

	if (have < 0)
		return cel_fail(rd, AICERT_ERR_INVALID, t->off, field, "unknown field type %u",
				t->type);
	if (have == cel_rank(want) && t->type == CEL_T_NV_INDEX)
		return cel_fail(rd, AICERT_ERR_INVALID, t->off, field,
				"nv_index records are not accepted, only pcr");
	if (have == cel_rank(want))
		return cel_fail(rd, AICERT_ERR_INVALID, t->off, field,
				"content type %s not accepted, only pcclient_std",
				cel_type_name(t->type));
	if (have < cel_rank(want))
		return cel_fail(rd, AICERT_ERR_INVALID, t->off, field,
				"duplicated or misplaced %s field", cel_type_name(t->type));
	return cel_fail(rd, AICERT_ERR_INVALID, t->off, field, "missing, found a %s field",
			cel_type_name(t->type));
}

static int cel_type_error(const struct cel_reader *rd, const struct cel_tlv *t, uint8_t want,
			  const char *field)
{
	if (rd->level == CEL_LEVEL_RECORD)
		return cel_record_type_error(rd, t, want, field);
	if (t->type > CEL_PC_EVENT_DATA)
		return cel_fail(rd, AICERT_ERR_INVALID, t->off, field,
				"unknown pcclient_std field type %u", t->type);
	if (t->type < want)
		return cel_fail(rd, AICERT_ERR_INVALID, t->off, field,
				"duplicated event_type field");
	return cel_fail(rd, AICERT_ERR_INVALID, t->off, field, "missing, found event_data field");
}

/* Reads a field's type and length; the value is not yet checked. */
static int cel_tlv_header(struct cel_reader *rd, const char *field, struct cel_tlv *t)
{
	const uint8_t *p = rd->buf + rd->pos;

	if (rd->end - rd->pos < CEL_TL_SIZE)
		return cel_fail(rd, AICERT_ERR_INVALID, rd->pos, field,
				"truncated: %zu bytes left, a field needs at least %u",
				rd->end - rd->pos, CEL_TL_SIZE);
	t->off = rd->pos;
	t->type = p[0];
	t->len = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
	t->val = p + CEL_TL_SIZE;
	return 0;
}

/* Checks the value against max and what is left, and steps over it. */
static int cel_tlv_body(struct cel_reader *rd, const char *field, size_t max, struct cel_tlv *t)
{
	size_t left = rd->end - t->off - CEL_TL_SIZE;

	if (t->len > max)
		return cel_fail(rd, AICERT_ERR_TOO_BIG, t->off, field,
				"length %u over the limit of %zu", t->len, max);
	if (t->len > left)
		return cel_fail(rd, AICERT_ERR_INVALID, t->off, field,
				"length %u exceeds the %zu bytes left", t->len, left);
	rd->pos = t->off + CEL_TL_SIZE + t->len;
	return 0;
}

static int cel_tlv_expect(struct cel_reader *rd, uint8_t want, const char *field, size_t max,
			  struct cel_tlv *t)
{
	int r;

	r = cel_tlv_header(rd, field, t);
	if (r < 0)
		return r;
	if (t->type != want)
		return cel_type_error(rd, t, want, field);
	return cel_tlv_body(rd, field, max, t);
}

/* A reader over the value of t, one level down. */
static struct cel_reader cel_sub(const struct cel_reader *rd, const struct cel_tlv *t,
				 enum cel_level level)
{
	struct cel_reader sub = *rd;

	sub.pos = t->off + CEL_TL_SIZE;
	sub.end = sub.pos + t->len;
	sub.level = level;
	return sub;
}

static int cel_read_uint(struct cel_reader *rd, uint8_t want, const char *field, size_t width,
			 uint64_t *v)
{
	struct cel_tlv t = {0};
	uint64_t x = 0;
	int r;

	r = cel_tlv_expect(rd, want, field, UINT32_MAX, &t);
	if (r < 0)
		return r;
	if (t.len == 0)
		return cel_fail(rd, AICERT_ERR_INVALID, t.off, field, "empty integer");
	if (t.len > width)
		return cel_fail(rd, AICERT_ERR_INVALID, t.off, field,
				"integer of %u bytes, at most %zu allowed", t.len, width);
	if (t.len > 1 && t.val[0] == 0)
		return cel_fail(rd, AICERT_ERR_INVALID, t.off, field,
				"integer not minimally encoded (leading zero byte)");
	for (uint32_t i = 0; i < t.len; i++)
		x = x << 8 | t.val[i];
	*v = x;
	return 0;
}

static int cel_read_recnum(struct cel_reader *rd)
{
	size_t off = rd->pos;
	uint64_t v = 0;
	int r;

	r = cel_read_uint(rd, CEL_T_RECNUM, "recnum", 8, &v);
	if (r < 0)
		return r;
	if (v != rd->rec)
		return cel_fail(rd, AICERT_ERR_INVALID, off, "recnum",
				"value %llu, expected %zu (records count up from 0 without gaps)",
				(unsigned long long)v, rd->rec);
	return 0;
}

static int cel_read_pcr(struct cel_reader *rd, uint32_t *pcr)
{
	size_t off = rd->pos;
	uint64_t v = 0;
	int r;

	r = cel_read_uint(rd, CEL_T_PCR, "pcr", 4, &v);
	if (r < 0)
		return r;
	if (v >= CEL_PCR_COUNT)
		return cel_fail(rd, AICERT_ERR_INVALID, off, "pcr", "value %llu out of range",
				(unsigned long long)v);
	*pcr = (uint32_t)v;
	return 0;
}

static const char *cel_alg_name(uint8_t alg)
{
	switch (alg) {
	case CEL_ALG_SHA1:
		return "sha1";
	case CEL_ALG_SHA384:
		return "sha384";
	case CEL_ALG_SHA512:
		return "sha512";
	case CEL_ALG_SM3_256:
		return "sm3_256";
	default:
		return "unknown";
	}
}

/* Exactly one digest, and it is SHA-256. */
static int cel_read_digests(struct cel_reader *rd, uint8_t sha256[32])
{
	struct cel_reader sub;
	struct cel_tlv t = {0}, d = {0};
	int r;

	r = cel_tlv_expect(rd, CEL_T_DIGESTS, "digests", UINT32_MAX, &t);
	if (r < 0)
		return r;
	sub = cel_sub(rd, &t, CEL_LEVEL_RECORD);
	if (sub.pos == sub.end)
		return cel_fail(rd, AICERT_ERR_INVALID, t.off, "digests", "no digest, need sha256");
	r = cel_tlv_header(&sub, "digests", &d);
	if (r < 0)
		return r;
	if (d.type != CEL_ALG_SHA256)
		return cel_fail(rd, AICERT_ERR_INVALID, d.off, "digests",
				"%s digest (algorithm 0x%02x) not accepted, only sha256",
				cel_alg_name(d.type), d.type);
	r = cel_tlv_body(&sub, "digests", UINT32_MAX, &d);
	if (r < 0)
		return r;
	if (d.len != CEL_SHA256_SIZE)
		return cel_fail(rd, AICERT_ERR_INVALID, d.off, "digests",
				"sha256 digest of %u bytes, expected 32", d.len);
	if (sub.pos != sub.end)
		return cel_fail(rd, AICERT_ERR_INVALID, sub.pos, "digests",
				"more than one digest, only a single sha256 is accepted");
	memcpy(sha256, d.val, CEL_SHA256_SIZE);
	return 0;
}

/* The pcclient_std content; *data points into the log being decoded. */
static int cel_read_content(struct cel_reader *rd, uint32_t *event_type, const uint8_t **data,
			    size_t *data_len)
{
	struct cel_reader sub;
	struct cel_tlv t = {0}, d = {0};
	uint64_t type = 0;
	int r;

	r = cel_tlv_expect(rd, CEL_T_PCCLIENT_STD, "content", CEL_CONTENT_TLV_MAX, &t);
	if (r < 0)
		return r;
	sub = cel_sub(rd, &t, CEL_LEVEL_PCCLIENT);
	r = cel_read_uint(&sub, CEL_PC_EVENT_TYPE, "event_type", 4, &type);
	if (r < 0)
		return r;
	r = cel_tlv_expect(&sub, CEL_PC_EVENT_DATA, "event_data", CEL_MAX_CONTENT, &d);
	if (r < 0)
		return r;
	if (sub.pos != sub.end)
		return cel_fail(rd, AICERT_ERR_INVALID, sub.pos, "content",
				"%zu bytes after event_data", sub.end - sub.pos);
	*event_type = (uint32_t)type;
	*data = d.val;
	*data_len = d.len;
	return 0;
}

static int cel_read_record(struct cel_reader *rd, struct cel_log *log)
{
	uint8_t sha256[CEL_SHA256_SIZE];
	const uint8_t *data = NULL;
	uint32_t pcr = 0, event_type = 0;
	size_t data_len = 0;
	int r;

	if (log->n >= CEL_MAX_RECORDS)
		return cel_fail(rd, AICERT_ERR_TOO_BIG, rd->pos, "recnum", "more than %u records",
				CEL_MAX_RECORDS);
	r = cel_read_recnum(rd);
	if (r < 0)
		return r;
	r = cel_read_pcr(rd, &pcr);
	if (r < 0)
		return r;
	r = cel_read_digests(rd, sha256);
	if (r < 0)
		return r;
	r = cel_read_content(rd, &event_type, &data, &data_len);
	if (r < 0)
		return r;
	return cel_append(log, pcr, sha256, event_type, data, data_len);
}

int cel_decode(const uint8_t *buf, size_t len, struct cel_log *log)
{
	struct cel_reader rd = {.buf = buf, .pos = 0, .end = len, .level = CEL_LEVEL_RECORD};
	struct cel_log tmp = {0};
	int r = 0;

	assert(log && log->n == 0 && (buf || len == 0));
	if (len > CEL_MAX_LOG_BYTES)
		return err_set(AICERT_ERR_TOO_BIG, "runtime log: %zu bytes, at most %u allowed",
			       len, CEL_MAX_LOG_BYTES);
	for (rd.rec = 0; rd.pos < rd.end; rd.rec++) {
		r = cel_read_record(&rd, &tmp);
		if (r < 0)
			goto out;
	}
	cel_clear(log);
	*log = tmp;
	tmp = (struct cel_log){0};
out:
	cel_clear(&tmp);
	return r;
}

/* ---- replay ---- */

static int cel_pcr_allowed(uint32_t pcr)
{
	return (pcr >= 8 && pcr <= 16) || pcr == 23;
}

static int cel_extend(uint8_t pcr[32], const uint8_t digest[32])
{
	uint8_t in[2 * CEL_SHA256_SIZE];
	unsigned int n = 0;

	memcpy(in, pcr, CEL_SHA256_SIZE);
	memcpy(in + CEL_SHA256_SIZE, digest, CEL_SHA256_SIZE);
	if (!EVP_Digest(in, sizeof(in), pcr, &n, EVP_sha256(), NULL) || n != CEL_SHA256_SIZE) {
		unsigned long e = ERR_get_error();

		return err_set(AICERT_ERR_CRYPTO, "runtime log replay: SHA-256 failed: %s",
			       e ? ERR_error_string(e, NULL) : "no OpenSSL error");
	}
	return 0;
}

int cel_replay(const struct cel_log *log, size_t n, uint8_t pcrs[24][32], uint32_t *touched)
{
	uint8_t v[CEL_PCR_COUNT][CEL_SHA256_SIZE];
	uint32_t mask = 0;
	int r;

	assert(log && pcrs && touched);
	if (n > log->n)
		return err_set(AICERT_ERR_INVALID,
			       "runtime log replay: %zu records asked, log has %zu", n, log->n);
	memset(v, 0, sizeof(v));
	for (size_t i = 0; i < n; i++) {
		const struct cel_record *rec = &log->recs[i];

		if (!cel_pcr_allowed(rec->pcr))
			return err_set(AICERT_ERR_INVALID,
				       "runtime log record %zu: PCR %u may not appear in a runtime "
				       "log (allowed: 8-16, 23)",
				       i, rec->pcr);
		r = cel_extend(v[rec->pcr], rec->sha256);
		if (r < 0)
			return r;
		mask |= 1u << rec->pcr;
	}
	memcpy(pcrs, v, sizeof(v));
	*touched = mask;
	return 0;
}
