/* The firmware's boot event log (TCG PC Client PFP, crypto-agile format).
 *
 * Wire format, all integers little-endian:
 *
 *   log          = header event2*
 *   header       = TCG_PCR_EVENT:
 *                    pcrIndex u32 (0) || eventType u32 (EV_NO_ACTION) ||
 *                    digest[20] (zeros) || eventSize u32 || event[eventSize]
 *                  whose event is a TCG_EfiSpecIDEvent:
 *                    signature[16] "Spec ID Event03\0" || platformClass u32 ||
 *                    specVersionMinor u8 || specVersionMajor u8 ||
 *                    specErrata u8 || uintnSize u8 || numberOfAlgorithms u32 ||
 *                    { algorithmId u16 || digestSize u16 } * numberOfAlgorithms ||
 *                    vendorInfoSize u8 || vendorInfo[vendorInfoSize]
 *   event2       = TCG_PCR_EVENT2:
 *                    pcrIndex u32 || eventType u32 ||
 *                    count u32 || { hashAlg u16 || digest[size of hashAlg] } * count ||
 *                    eventSize u32 || event[eventSize]
 *
 * Every length is checked against what is left before it is used, offsets
 * only grow by checked amounts, and nothing is allocated from a length but
 * the copy of the (bounded) log and the event array (bounded count).
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "err.h"
#include "tcglog.h"

#define TCGLOG_SHA1_SIZE     20u
#define TCGLOG_SIG_SIZE      16u
#define TCGLOG_SPECID_FIXED  28u /* signature .. numberOfAlgorithms */
#define TCGLOG_SPECID_MAX    (TCGLOG_SPECID_FIXED + 4u * TCGLOG_MAX_ALGS + 1u + 255u)
#define TCGLOG_EVENT2_FIXED  12u /* pcrIndex, eventType, count */
#define TCGLOG_LOCALITY_SIZE 17u /* signature and one byte */
#define TCGLOG_INITIAL_CAP   64u

static const uint8_t tcglog_specid_sig[TCGLOG_SIG_SIZE] = "Spec ID Event03";
static const uint8_t tcglog_locality_sig[TCGLOG_SIG_SIZE] = "StartupLocality";

struct tcglog {
	uint8_t *raw; /* the log's bytes; everything points into them */
	size_t raw_len;
	struct tcglog_spec_id spec;
	size_t dig_off[TCGLOG_MAX_ALGS]; /* digest j's offset from its event's start */
	int locality;                    /* -1: no StartupLocality event */
	struct tcglog_event *events;
	size_t n;
	size_t cap;
};

/* Cursor over buf[pos, len), with what is known of the event being read. */
struct tcglog_reader {
	const uint8_t *buf;
	size_t len;
	size_t pos;
	uint32_t num;  /* event number; the header is 0 */
	size_t start;  /* the event's offset */
	uint32_t pcr;  /* valid once have_pcr */
	uint32_t type; /* valid once have_type */
	int have_pcr;
	int have_type;
	int pcr0_extended;
};

/* ---- names ---- */

static const struct {
	uint32_t type;
	const char *name;
} tcglog_types[] = {
	{0x00000000, "EV_PREBOOT_CERT"},
	{0x00000001, "EV_POST_CODE"},
	{0x00000002, "EV_UNUSED"},
	{0x00000003, "EV_NO_ACTION"},
	{0x00000004, "EV_SEPARATOR"},
	{0x00000005, "EV_ACTION"},
	{0x00000006, "EV_EVENT_TAG"},
	{0x00000007, "EV_S_CRTM_CONTENTS"},
	{0x00000008, "EV_S_CRTM_VERSION"},
	{0x00000009, "EV_CPU_MICROCODE"},
	{0x0000000a, "EV_PLATFORM_CONFIG_FLAGS"},
	{0x0000000b, "EV_TABLE_OF_DEVICES"},
	{0x0000000c, "EV_COMPACT_HASH"},
	{0x0000000d, "EV_IPL"},
	{0x0000000e, "EV_IPL_PARTITION_DATA"},
	{0x0000000f, "EV_NONHOST_CODE"},
	{0x00000010, "EV_NONHOST_CONFIG"},
	{0x00000011, "EV_NONHOST_INFO"},
	{0x00000012, "EV_OMIT_BOOT_DEVICE_EVENTS"},
	{0x00000013, "EV_POST_CODE2"},
	{0x80000000, "EV_EFI_EVENT_BASE"},
	{0x80000001, "EV_EFI_VARIABLE_DRIVER_CONFIG"},
	{0x80000002, "EV_EFI_VARIABLE_BOOT"},
	{0x80000003, "EV_EFI_BOOT_SERVICES_APPLICATION"},
	{0x80000004, "EV_EFI_BOOT_SERVICES_DRIVER"},
	{0x80000005, "EV_EFI_RUNTIME_SERVICES_DRIVER"},
	{0x80000006, "EV_EFI_GPT_EVENT"},
	{0x80000007, "EV_EFI_ACTION"},
	{0x80000008, "EV_EFI_PLATFORM_FIRMWARE_BLOB"},
	{0x80000009, "EV_EFI_HANDOFF_TABLES"},
	{0x8000000a, "EV_EFI_PLATFORM_FIRMWARE_BLOB2"},
	{0x8000000b, "EV_EFI_HANDOFF_TABLES2"},
	{0x8000000c, "EV_EFI_VARIABLE_BOOT2"},
	{0x8000000d, "EV_EFI_GPT_EVENT2"},
	{0x80000010, "EV_EFI_HCRTM_EVENT"},
	{0x800000e0, "EV_EFI_VARIABLE_AUTHORITY"},
	{0x800000e1, "EV_EFI_SPDM_FIRMWARE_BLOB"},
	{0x800000e2, "EV_EFI_SPDM_FIRMWARE_CONFIG"},
	{0x800000e3, "EV_EFI_SPDM_DEVICE_POLICY"},
	{0x800000e4, "EV_EFI_SPDM_DEVICE_AUTHORITY"},
};

static const struct {
	uint16_t id;
	uint16_t size;
	const char *name;
} tcglog_algs[] = {
	/* clang-format off */
	{TCGLOG_ALG_SHA1, 20, "sha1"},
	{TCGLOG_ALG_SHA256, 32, "sha256"},
	{TCGLOG_ALG_SHA384, 48, "sha384"},
	{TCGLOG_ALG_SHA512, 64, "sha512"},
	{TCGLOG_ALG_SM3_256, 32, "sm3_256"},
	{TCGLOG_ALG_SHA3_256, 32, "sha3_256"},
	{TCGLOG_ALG_SHA3_384, 48, "sha3_384"},
	{TCGLOG_ALG_SHA3_512, 64, "sha3_512"},
	/* clang-format on */
};

#define TCGLOG_NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *tcglog_event_type_name(uint32_t type)
{
	for (size_t i = 0; i < TCGLOG_NELEM(tcglog_types); i++)
		if (tcglog_types[i].type == type)
			return tcglog_types[i].name;
	return NULL;
}

const char *tcglog_alg_name(uint16_t alg)
{
	for (size_t i = 0; i < TCGLOG_NELEM(tcglog_algs); i++)
		if (tcglog_algs[i].id == alg)
			return tcglog_algs[i].name;
	return NULL;
}

/* The digest size of a known algorithm, 0 for an unknown one. */
static uint16_t tcglog_alg_size(uint16_t alg)
{
	for (size_t i = 0; i < TCGLOG_NELEM(tcglog_algs); i++)
		if (tcglog_algs[i].id == alg)
			return tcglog_algs[i].size;
	return 0;
}

/* ---- reading ---- */

static int tcglog_fail(const struct tcglog_reader *rd, int code, const char *field, const char *fmt,
		       ...) __attribute__((format(printf, 4, 5)));

static int tcglog_fail(const struct tcglog_reader *rd, int code, const char *field, const char *fmt,
		       ...)
{
	char detail[320], ctx[96] = "";
	const char *name = rd->have_type ? tcglog_event_type_name(rd->type) : NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (rd->have_type && name)
		snprintf(ctx, sizeof(ctx), " (PCR %u, %s)", rd->pcr, name);
	else if (rd->have_type)
		snprintf(ctx, sizeof(ctx), " (PCR %u, type 0x%08x)", rd->pcr, rd->type);
	else if (rd->have_pcr)
		snprintf(ctx, sizeof(ctx), " (PCR %u)", rd->pcr);
	return err_set(code, "boot log event %u at offset %zu%s: %s: %s", rd->num, rd->start, ctx,
		       field, detail);
}

/* Fails unless n more bytes are left; rd->pos <= rd->len always holds. */
static int tcglog_need(const struct tcglog_reader *rd, size_t n, const char *field)
{
	size_t left = rd->len - rd->pos;

	if (left < n)
		return tcglog_fail(rd, AICERT_ERR_INVALID, field,
				   "truncated: %zu bytes needed at offset %zu, only %zu left", n,
				   rd->pos, left);
	return 0;
}

static int tcglog_bytes(struct tcglog_reader *rd, size_t n, const char *field, const uint8_t **p)
{
	int r = tcglog_need(rd, n, field);

	if (r < 0)
		return r;
	*p = rd->buf + rd->pos;
	rd->pos += n;
	return 0;
}

static int tcglog_u8(struct tcglog_reader *rd, const char *field, uint8_t *v)
{
	const uint8_t *p;
	int r = tcglog_bytes(rd, 1, field, &p);

	if (r == 0)
		*v = p[0];
	return r;
}

static int tcglog_u16(struct tcglog_reader *rd, const char *field, uint16_t *v)
{
	const uint8_t *p;
	int r = tcglog_bytes(rd, 2, field, &p);

	if (r == 0)
		*v = (uint16_t)(p[0] | p[1] << 8);
	return r;
}

static int tcglog_u32(struct tcglog_reader *rd, const char *field, uint32_t *v)
{
	const uint8_t *p;
	int r = tcglog_bytes(rd, 4, field, &p);

	if (r == 0)
		*v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		     (uint32_t)p[3] << 24;
	return r;
}

static int tcglog_is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/* n bytes as text for a message, non-printable bytes as '.'. */
static void tcglog_printable(const uint8_t *p, size_t n, char *out, size_t out_size)
{
	size_t i;

	assert(out_size > 0);
	for (i = 0; i < n && i + 1 < out_size; i++)
		out[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '.';
	out[i] = '\0';
}

/* ---- the Spec ID header ---- */

static int tcglog_read_spec_algs(struct tcglog_reader *rd, struct tcglog_spec_id *spec)
{
	uint32_t seen = 0;
	int r;

	for (uint32_t j = 0; j < spec->nalgs; j++) {
		uint16_t id = 0, size = 0, want;
		size_t k;

		r = tcglog_u16(rd, "Spec ID event: algorithmId", &id);
		if (r == 0)
			r = tcglog_u16(rd, "Spec ID event: digestSize", &size);
		if (r < 0)
			return r;
		want = tcglog_alg_size(id);
		if (want == 0)
			return tcglog_fail(rd, AICERT_ERR_INVALID, "Spec ID event",
					   "algorithm %u: unknown algorithm 0x%04x", j, id);
		if (size != want)
			return tcglog_fail(rd, AICERT_ERR_INVALID, "Spec ID event",
					   "algorithm %u (%s): digestSize %u, expected %u", j,
					   tcglog_alg_name(id), size, want);
		for (k = 0; k < TCGLOG_NELEM(tcglog_algs) && tcglog_algs[k].id != id; k++)
			;
		if (seen & (1u << k))
			return tcglog_fail(rd, AICERT_ERR_INVALID, "Spec ID event",
					   "algorithm %u: %s listed twice", j, tcglog_alg_name(id));
		seen |= 1u << k;
		spec->algs[j].id = id;
		spec->algs[j].size = size;
	}
	return 0;
}

static int tcglog_read_spec_version(struct tcglog_reader *rd, struct tcglog_spec_id *spec)
{
	const uint8_t *v;
	int r;

	r = tcglog_u32(rd, "Spec ID event: platformClass", &spec->platform_class);
	if (r < 0)
		return r;
	if (spec->platform_class > 1)
		return tcglog_fail(rd, AICERT_ERR_INVALID, "Spec ID event: platformClass",
				   "%u, expected 0 (client) or 1 (server)", spec->platform_class);
	r = tcglog_bytes(rd, 4, "Spec ID event: specVersion", &v);
	if (r < 0)
		return r;
	spec->version_minor = v[0];
	spec->version_major = v[1];
	spec->errata = v[2];
	spec->uintn_size = v[3];
	if (spec->version_major != 2 || spec->version_minor != 0)
		return tcglog_fail(rd, AICERT_ERR_INVALID, "Spec ID event: specVersion",
				   "%u.%u, expected 2.0", spec->version_major, spec->version_minor);
	if (spec->uintn_size != 1 && spec->uintn_size != 2)
		return tcglog_fail(rd, AICERT_ERR_INVALID, "Spec ID event: uintnSize",
				   "%u, expected 1 or 2", spec->uintn_size);
	return 0;
}

/* The TCG_EfiSpecIDEvent filling rd exactly (rd->len is the event's end). */
static int tcglog_read_spec_id(struct tcglog_reader *rd, struct tcglog_spec_id *spec)
{
	const uint8_t *sig;
	char text[TCGLOG_SIG_SIZE + 1];
	size_t left;
	int r;

	r = tcglog_bytes(rd, TCGLOG_SIG_SIZE, "Spec ID event: signature", &sig);
	if (r < 0)
		return r;
	if (memcmp(sig, tcglog_specid_sig, TCGLOG_SIG_SIZE) != 0) {
		tcglog_printable(sig, TCGLOG_SIG_SIZE, text, sizeof(text));
		return tcglog_fail(rd, AICERT_ERR_INVALID, "Spec ID event: signature",
				   "\"%s\", expected \"Spec ID Event03\" (not a crypto-agile log)",
				   text);
	}
	r = tcglog_read_spec_version(rd, spec);
	if (r == 0)
		r = tcglog_u32(rd, "Spec ID event: numberOfAlgorithms", &spec->nalgs);
	if (r < 0)
		return r;
	if (spec->nalgs == 0)
		return tcglog_fail(rd, AICERT_ERR_INVALID, "Spec ID event: numberOfAlgorithms",
				   "0, at least 1 needed");
	if (spec->nalgs > TCGLOG_MAX_ALGS)
		return tcglog_fail(rd, AICERT_ERR_TOO_BIG, "Spec ID event: numberOfAlgorithms",
				   "%u, at most %u", spec->nalgs, TCGLOG_MAX_ALGS);
	r = tcglog_read_spec_algs(rd, spec);
	if (r == 0)
		r = tcglog_u8(rd, "Spec ID event: vendorInfoSize", &spec->vendor_info_size);
	if (r < 0)
		return r;
	left = rd->len - rd->pos;
	if (left != spec->vendor_info_size)
		return tcglog_fail(rd, AICERT_ERR_INVALID, "Spec ID event: vendorInfoSize",
				   "%u, but the event has %zu bytes left", spec->vendor_info_size,
				   left);
	spec->vendor_info = left ? rd->buf + rd->pos : NULL;
	rd->pos += left;
	return 0;
}

/* Event 0: a TCG_PCR_EVENT holding the Spec ID event. */
static int tcglog_read_header(struct tcglog_reader *rd, struct tcglog_spec_id *spec)
{
	struct tcglog_reader sub;
	const uint8_t *digest;
	uint32_t size = 0;
	int r;

	r = tcglog_u32(rd, "PCR index", &rd->pcr);
	if (r < 0)
		return r;
	if (rd->pcr != 0)
		return tcglog_fail(rd, AICERT_ERR_INVALID, "PCR index",
				   "%u, the Spec ID event is in PCR 0", rd->pcr);
	rd->have_pcr = 1;
	r = tcglog_u32(rd, "event type", &rd->type);
	if (r < 0)
		return r;
	if (rd->type != TCGLOG_EV_NO_ACTION)
		return tcglog_fail(rd, AICERT_ERR_INVALID, "event type",
				   "0x%08x, the first event must be EV_NO_ACTION with the Spec ID "
				   "event (not a crypto-agile log)",
				   rd->type);
	rd->have_type = 1;
	r = tcglog_bytes(rd, TCGLOG_SHA1_SIZE, "digest", &digest);
	if (r < 0)
		return r;
	if (!tcglog_is_zero(digest, TCGLOG_SHA1_SIZE))
		return tcglog_fail(rd, AICERT_ERR_INVALID, "digest",
				   "the Spec ID event's digest must be 20 zero bytes");
	r = tcglog_u32(rd, "event size", &size);
	if (r < 0)
		return r;
	if (size > TCGLOG_SPECID_MAX)
		return tcglog_fail(rd, AICERT_ERR_TOO_BIG, "event size",
				   "%u bytes, a Spec ID event has at most %u", size,
				   TCGLOG_SPECID_MAX);
	r = tcglog_need(rd, size, "event data");
	if (r < 0)
		return r;
	sub = *rd;
	sub.len = rd->pos + size;
	r = tcglog_read_spec_id(&sub, spec);
	if (r < 0)
		return r;
	rd->pos = sub.pos;
	return 0;
}

/* ---- TCG_PCR_EVENT2 ---- */

static int tcglog_append(struct tcglog *log, const struct tcglog_event *ev)
{
	struct tcglog_event *p;
	size_t ncap;

	if (log->n == log->cap) {
		ncap = log->cap ? log->cap * 2 : TCGLOG_INITIAL_CAP;
		if (ncap > TCGLOG_MAX_EVENTS)
			ncap = TCGLOG_MAX_EVENTS;
		assert(ncap > log->n);
		p = realloc(log->events, ncap * sizeof(*p));
		if (!p)
			return err_set(AICERT_ERR_NOMEM, "boot log: out of memory for %zu events",
				       ncap);
		log->events = p;
		log->cap = ncap;
	}
	log->events[log->n++] = *ev;
	return 0;
}

/* The digests, exactly the header's algorithms in its order. */
static int tcglog_read_digests(struct tcglog_reader *rd, const struct tcglog_spec_id *spec,
			       int *all_zero)
{
	uint32_t count = 0;
	const uint8_t *d;
	char field[32];
	int r;

	r = tcglog_u32(rd, "digest count", &count);
	if (r < 0)
		return r;
	if (count != spec->nalgs)
		return tcglog_fail(rd, AICERT_ERR_INVALID, "digest count",
				   "%u, the Spec ID event lists %u algorithms", count, spec->nalgs);
	*all_zero = 1;
	for (uint32_t j = 0; j < count; j++) {
		uint16_t alg = 0;

		snprintf(field, sizeof(field), "digest %u", j);
		r = tcglog_u16(rd, field, &alg);
		if (r < 0)
			return r;
		if (alg != spec->algs[j].id)
			return tcglog_fail(rd, AICERT_ERR_INVALID, field,
					   "algorithm 0x%04x expected, 0x%04x found",
					   spec->algs[j].id, alg);
		r = tcglog_bytes(rd, spec->algs[j].size, field, &d);
		if (r < 0)
			return r;
		*all_zero &= tcglog_is_zero(d, spec->algs[j].size);
	}
	return 0;
}

static int tcglog_check_locality(struct tcglog_reader *rd, struct tcglog *log,
				 const struct tcglog_event *ev)
{
	uint8_t loc;

	if (ev->data_len != TCGLOG_LOCALITY_SIZE ||
	    memcmp(ev->data, tcglog_locality_sig, TCGLOG_SIG_SIZE) != 0)
		return tcglog_fail(
			rd, AICERT_ERR_INVALID, "StartupLocality event",
			"%zu bytes of data, expected \"StartupLocality\\0\" and one byte",
			ev->data_len);
	loc = ev->data[TCGLOG_SIG_SIZE];
	if (ev->pcr != 0)
		return tcglog_fail(rd, AICERT_ERR_INVALID, "StartupLocality event",
				   "in PCR %u, expected PCR 0", ev->pcr);
	if (loc != 0 && loc != 3 && loc != 4)
		return tcglog_fail(rd, AICERT_ERR_INVALID, "StartupLocality event",
				   "locality %u, expected 0, 3 or 4", loc);
	if (log->locality >= 0)
		return tcglog_fail(rd, AICERT_ERR_INVALID, "StartupLocality event",
				   "a second StartupLocality event");
	if (rd->pcr0_extended)
		return tcglog_fail(rd, AICERT_ERR_INVALID, "StartupLocality event",
				   "after an event extended PCR 0");
	log->locality = loc;
	return 0;
}

/* EV_NO_ACTION: zero digests; a StartupLocality event is checked; a second
 * Spec ID event is refused. */
static int tcglog_check_no_action(struct tcglog_reader *rd, struct tcglog *log,
				  const struct tcglog_event *ev, int all_zero)
{
	if (!all_zero)
		return tcglog_fail(rd, AICERT_ERR_INVALID, "digests",
				   "an EV_NO_ACTION event must have zero digests");
	if (ev->data_len >= TCGLOG_SIG_SIZE &&
	    memcmp(ev->data, tcglog_specid_sig, TCGLOG_SIG_SIZE) == 0)
		return tcglog_fail(rd, AICERT_ERR_INVALID, "event data", "a second Spec ID event");
	if (ev->data_len >= TCGLOG_SIG_SIZE - 1 &&
	    memcmp(ev->data, tcglog_locality_sig, TCGLOG_SIG_SIZE - 1) == 0)
		return tcglog_check_locality(rd, log, ev);
	return 0;
}

static int tcglog_read_event_data(struct tcglog_reader *rd, struct tcglog_event *ev)
{
	uint32_t size = 0;
	const uint8_t *data;
	int r;

	r = tcglog_u32(rd, "event size", &size);
	if (r < 0)
		return r;
	if (size > TCGLOG_MAX_EVENT_DATA)
		return tcglog_fail(rd, AICERT_ERR_TOO_BIG, "event size", "%u bytes, at most %u",
				   size, TCGLOG_MAX_EVENT_DATA);
	r = tcglog_bytes(rd, size, "event data", &data);
	if (r < 0)
		return r;
	ev->data = size ? data : NULL;
	ev->data_len = size;
	return 0;
}

static int tcglog_read_event2(struct tcglog_reader *rd, struct tcglog *log)
{
	struct tcglog_event ev = {.num = rd->num, .offset = rd->pos};
	int all_zero = 0, r;

	rd->start = rd->pos;
	rd->have_pcr = rd->have_type = 0;
	if (tcglog_is_zero(rd->buf + rd->pos, rd->len - rd->pos))
		return tcglog_fail(rd, AICERT_ERR_INVALID, "end of log",
				   "%zu zero bytes after the last complete event: a truncated "
				   "event or padding, neither is accepted",
				   rd->len - rd->pos);
	if (rd->num >= TCGLOG_MAX_EVENTS)
		return tcglog_fail(rd, AICERT_ERR_TOO_BIG, "event", "more than %u events",
				   TCGLOG_MAX_EVENTS);
	r = tcglog_u32(rd, "PCR index", &ev.pcr);
	if (r < 0)
		return r;
	if (ev.pcr >= TCGLOG_PCR_COUNT)
		return tcglog_fail(rd, AICERT_ERR_INVALID, "PCR index", "%u, expected 0-23",
				   ev.pcr);
	rd->pcr = ev.pcr;
	rd->have_pcr = 1;
	r = tcglog_u32(rd, "event type", &ev.type);
	if (r < 0)
		return r;
	rd->type = ev.type;
	rd->have_type = 1;
	r = tcglog_read_digests(rd, &log->spec, &all_zero);
	if (r == 0)
		r = tcglog_read_event_data(rd, &ev);
	if (r == 0 && ev.type == TCGLOG_EV_NO_ACTION)
		r = tcglog_check_no_action(rd, log, &ev, all_zero);
	if (r < 0)
		return r;
	if (ev.type != TCGLOG_EV_NO_ACTION && ev.pcr == 0)
		rd->pcr0_extended = 1;
	return tcglog_append(log, &ev);
}

/* ---- the log ---- */

void tcglog_free(struct tcglog *log)
{
	if (!log)
		return;
	free(log->events);
	free(log->raw);
	free(log);
}

static void tcglog_digest_offsets(struct tcglog *log)
{
	size_t off = TCGLOG_EVENT2_FIXED;

	for (uint32_t j = 0; j < log->spec.nalgs; j++) {
		log->dig_off[j] = off + 2;
		off += 2 + log->spec.algs[j].size;
	}
}

int tcglog_parse(const uint8_t *buf, size_t len, struct tcglog **ret)
{
	struct tcglog_reader rd = {0};
	struct tcglog *log = NULL;
	int r;

	assert(ret && (buf || len == 0));
	if (len == 0)
		return err_set(AICERT_ERR_INVALID, "boot log: empty");
	if (len > TCGLOG_MAX_LOG_BYTES)
		return err_set(AICERT_ERR_TOO_BIG, "boot log: %zu bytes, at most %u", len,
			       TCGLOG_MAX_LOG_BYTES);
	log = calloc(1, sizeof(*log));
	if (!log || !(log->raw = malloc(len))) {
		r = err_set(AICERT_ERR_NOMEM, "boot log: out of memory for %zu bytes", len);
		goto out;
	}
	memcpy(log->raw, buf, len);
	log->raw_len = len;
	log->locality = -1;
	rd.buf = log->raw;
	rd.len = len;
	r = tcglog_read_header(&rd, &log->spec);
	if (r < 0)
		goto out;
	tcglog_digest_offsets(log);
	for (rd.num = 1; rd.pos < rd.len; rd.num++) {
		r = tcglog_read_event2(&rd, log);
		if (r < 0)
			goto out;
	}
	*ret = log;
	log = NULL;
out:
	tcglog_free(log);
	return r;
}

const struct tcglog_spec_id *tcglog_spec_id(const struct tcglog *log)
{
	assert(log);
	return &log->spec;
}

int tcglog_startup_locality(const struct tcglog *log)
{
	assert(log);
	return log->locality;
}

size_t tcglog_count(const struct tcglog *log)
{
	assert(log);
	return log->n;
}

const struct tcglog_event *tcglog_event(const struct tcglog *log, size_t i)
{
	assert(log);
	return i < log->n ? &log->events[i] : NULL;
}

/* ---- banks and replay ---- */

static int tcglog_decision_alg(uint16_t alg)
{
	return alg == TCGLOG_ALG_SHA256 || alg == TCGLOG_ALG_SHA384 || alg == TCGLOG_ALG_SHA512;
}

/* The index of hash_alg's bank in the log, if the caller may use it. */
static int tcglog_bank(const struct tcglog *log, uint16_t alg, unsigned flags, uint32_t *j)
{
	const char *name = tcglog_alg_name(alg);

	if (!tcglog_decision_alg(alg) && !(flags & TCGLOG_DISPLAY_ONLY))
		return err_set(AICERT_ERR_UNSUPPORTED,
			       "boot log: the %s bank (0x%04x) may not be the basis of a decision; "
			       "only sha256, sha384 and sha512",
			       name ? name : "unknown", alg);
	for (uint32_t k = 0; k < log->spec.nalgs; k++) {
		if (log->spec.algs[k].id == alg) {
			*j = k;
			return 0;
		}
	}
	return err_set(AICERT_ERR_NOT_FOUND, "boot log: no %s bank (0x%04x) in the log",
		       name ? name : "unknown", alg);
}

int tcglog_event_digest(const struct tcglog *log, size_t i, uint16_t hash_alg, unsigned flags,
			const uint8_t **digest, size_t *len)
{
	uint32_t j = 0;
	int r;

	assert(log && digest && len);
	r = tcglog_bank(log, hash_alg, flags, &j);
	if (r < 0)
		return r;
	if (i >= log->n)
		return err_set(AICERT_ERR_NOT_FOUND, "boot log: no event at index %zu (%zu events)",
			       i, log->n);
	*digest = log->raw + log->events[i].offset + log->dig_off[j];
	*len = log->spec.algs[j].size;
	return 0;
}

static const EVP_MD *tcglog_md(uint16_t alg)
{
	switch (alg) {
	case TCGLOG_ALG_SHA1:
		return EVP_sha1();
	case TCGLOG_ALG_SHA256:
		return EVP_sha256();
	case TCGLOG_ALG_SHA384:
		return EVP_sha384();
	case TCGLOG_ALG_SHA512:
		return EVP_sha512();
	default:
		return NULL;
	}
}

static int tcglog_extend(const EVP_MD *md, uint8_t *pcr, const uint8_t *digest, size_t n)
{
	uint8_t in[2 * TCGLOG_MAX_DIGEST];
	unsigned int out = 0;

	assert(n <= TCGLOG_MAX_DIGEST);
	memcpy(in, pcr, n);
	memcpy(in + n, digest, n);
	if (!EVP_Digest(in, 2 * n, pcr, &out, md, NULL) || out != n) {
		unsigned long e = ERR_get_error();

		return err_set(AICERT_ERR_CRYPTO, "boot log replay: %s failed: %s",
			       EVP_MD_get0_name(md),
			       e ? ERR_error_string(e, NULL) : "no OpenSSL error");
	}
	return 0;
}

static void tcglog_initial(uint8_t v[TCGLOG_PCR_COUNT][TCGLOG_MAX_DIGEST], size_t n, int locality)
{
	memset(v, 0, TCGLOG_PCR_COUNT * TCGLOG_MAX_DIGEST);
	for (unsigned i = 17; i <= 22; i++)
		memset(v[i], 0xff, n);
	if (locality > 0)
		v[0][n - 1] = (uint8_t)locality;
}

int tcglog_replay(const struct tcglog *log, uint16_t hash_alg, unsigned flags,
		  uint8_t pcrs[TCGLOG_PCR_COUNT][TCGLOG_MAX_DIGEST], size_t *digest_len,
		  uint32_t *touched)
{
	uint8_t v[TCGLOG_PCR_COUNT][TCGLOG_MAX_DIGEST];
	const EVP_MD *md = tcglog_md(hash_alg);
	uint32_t j = 0, mask = 0;
	size_t n;
	int r;

	assert(log && pcrs && digest_len && touched);
	r = tcglog_bank(log, hash_alg, flags, &j);
	if (r < 0)
		return r;
	if (!md)
		return err_set(AICERT_ERR_UNSUPPORTED, "boot log replay: no %s implementation",
			       tcglog_alg_name(hash_alg));
	n = log->spec.algs[j].size;
	tcglog_initial(v, n, log->locality);
	for (size_t i = 0; i < log->n; i++) {
		const struct tcglog_event *ev = &log->events[i];

		if (ev->type == TCGLOG_EV_NO_ACTION)
			continue;
		r = tcglog_extend(md, v[ev->pcr], log->raw + ev->offset + log->dig_off[j], n);
		if (r < 0)
			return r;
		mask |= 1u << ev->pcr;
	}
	memcpy(pcrs, v, sizeof(v));
	*digest_len = n;
	*touched = mask;
	return 0;
}
