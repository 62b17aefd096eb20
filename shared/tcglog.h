/* The firmware's boot event log: TCG PC Client Platform Firmware Profile
 * (PFP), crypto-agile format, as Linux exposes it in
 * /sys/kernel/security/tpm0/binary_bios_measurements.
 *
 * The log is untrusted bytes from a proof. tcglog_parse() accepts only this
 * shape, and nothing around it:
 *   - event 0 is a TCG_PCR_EVENT (SHA-1 format): PCR 0, EV_NO_ACTION, a
 *     digest of 20 zero bytes, and a TCG_EfiSpecIDEvent "Spec ID Event03"
 *     (spec version 2.0, 1..TCGLOG_MAX_ALGS distinct known algorithms, each
 *     with its algorithm's digest size, vendor info filling the event exactly);
 *   - every later event is a TCG_PCR_EVENT2 with PCR 0..23 and exactly the
 *     header's algorithms, in the header's order, each digest of its size;
 *   - EV_NO_ACTION events carry all-zero digests and are never extended; at
 *     most one of them is a StartupLocality event (PCR 0, "StartupLocality\0"
 *     and one byte, locality 0, 3 or 4), and it comes before any extend of
 *     PCR 0; a second Spec ID event is refused;
 *   - the last event ends exactly at the end of the buffer: no trailing
 *     bytes, not even zero padding (the kernel exposes none).
 * Sizes are bounded by the limits below.
 *
 * Events are numbered as in the log and as tpm2_eventlog numbers them: the
 * Spec ID header is event 0, so tcglog_event(log, i)->num == i + 1. Error
 * messages (err_msg()) name the event number, its byte offset, its PCR and
 * type when known, and the field, e.g. "boot log event 12 at offset 3456
 * (PCR 4, EV_EFI_BOOT_SERVICES_APPLICATION): digest 2: algorithm 0x000b
 * expected, 0x0004 found".
 *
 * Only SHA-256, SHA-384 and SHA-512 may be the basis of a decision. SHA-1 is
 * in most logs and is parsed, but tcglog_replay() and tcglog_event_digest()
 * refuse it (and SM3, SHA3) with AICERT_ERR_UNSUPPORTED unless the caller
 * passes TCGLOG_DISPLAY_ONLY, which says that the result is only shown.
 */
#ifndef AICERT_TCGLOG_H
#define AICERT_TCGLOG_H

#include <stddef.h>
#include <stdint.h>

#define TCGLOG_MAX_LOG_BYTES  (16u << 20) /* a whole log */
#define TCGLOG_MAX_EVENTS     65536u      /* events, the Spec ID header included */
#define TCGLOG_MAX_EVENT_DATA (1u << 20)  /* bytes of data in one event */
#define TCGLOG_MAX_ALGS       8u          /* algorithms in the Spec ID header */
#define TCGLOG_MAX_DIGEST     64u         /* bytes in the largest digest */
#define TCGLOG_PCR_COUNT      24u

/* TPM_ALG_ID values of the hash algorithms a log may carry. */
#define TCGLOG_ALG_SHA1     0x0004
#define TCGLOG_ALG_SHA256   0x000b
#define TCGLOG_ALG_SHA384   0x000c
#define TCGLOG_ALG_SHA512   0x000d
#define TCGLOG_ALG_SM3_256  0x0012
#define TCGLOG_ALG_SHA3_256 0x0027
#define TCGLOG_ALG_SHA3_384 0x0028
#define TCGLOG_ALG_SHA3_512 0x0029

/* Event types (PFP "Events" table) used by name in code. */
#define TCGLOG_EV_NO_ACTION  0x00000003u
#define TCGLOG_EV_SEPARATOR  0x00000004u
#define TCGLOG_EV_EFI_ACTION 0x80000007u

/* Flag for tcglog_replay() and tcglog_event_digest(): the result is only
 * shown to a person, never used to decide anything. It lifts the refusal of
 * SHA-1 (and, for tcglog_event_digest(), of SM3 and SHA3). */
#define TCGLOG_DISPLAY_ONLY 0x1u

struct tcglog;

/* The Spec ID header (TCG_EfiSpecIDEvent), as parsed. */
struct tcglog_spec_id {
	uint32_t platform_class; /* 0 client, 1 server */
	uint8_t version_minor;   /* 0 */
	uint8_t version_major;   /* 2 */
	uint8_t errata;          /* any: OVMF writes 0, other firmware 2 */
	uint8_t uintn_size;      /* 1: UINTN is 32 bits, 2: 64 bits */
	uint32_t nalgs;          /* 1..TCGLOG_MAX_ALGS */
	struct {
		uint16_t id;   /* TCGLOG_ALG_* */
		uint16_t size; /* its digest size */
	} algs[TCGLOG_MAX_ALGS];
	const uint8_t *vendor_info; /* vendor_info_size bytes; NULL when 0 */
	uint8_t vendor_info_size;
};

/* One event after the header. Pointers point into the log's own copy of the
 * input and live as long as the log. */
struct tcglog_event {
	uint32_t num;        /* event number in the log; the header is 0 */
	size_t offset;       /* byte offset of the event in the log */
	uint32_t pcr;        /* 0..23 */
	uint32_t type;       /* EV_*; not covered by the digest */
	const uint8_t *data; /* data_len bytes; NULL when 0 */
	size_t data_len;
};

/* Parses len bytes of log into a new log that owns a copy of them. On failure
 * (AICERT_ERR_INVALID, AICERT_ERR_TOO_BIG or AICERT_ERR_NOMEM) *ret is left
 * alone and err_msg() says what and where. Free with tcglog_free(). */
int tcglog_parse(const uint8_t *buf, size_t len, struct tcglog **ret);

/* NULL-safe. */
void tcglog_free(struct tcglog *log);

const struct tcglog_spec_id *tcglog_spec_id(const struct tcglog *log);

/* The StartupLocality event's locality (0, 3 or 4), or -1 when there is
 * none. */
int tcglog_startup_locality(const struct tcglog *log);

/* Events after the header, in log order. tcglog_event() returns NULL for
 * i >= tcglog_count(log). */
size_t tcglog_count(const struct tcglog *log);
const struct tcglog_event *tcglog_event(const struct tcglog *log, size_t i);

/* Event i's digest in the bank of hash_alg: *digest points into the log and
 * has *len bytes. AICERT_ERR_NOT_FOUND when i is out of range or the log has
 * no such bank; AICERT_ERR_UNSUPPORTED for a bank other than
 * SHA-256/384/512 without TCGLOG_DISPLAY_ONLY. Outputs are written only on success. */
int tcglog_event_digest(const struct tcglog *log, size_t i, uint16_t hash_alg, unsigned flags,
			const uint8_t **digest, size_t *len);

/* Replays every event but EV_NO_ACTION into the bank of hash_alg, from each
 * PCR's initial value: zeros for PCRs 0-16 and 23, all 0xFF for 17-22, and
 * PCR 0's last byte set to the StartupLocality event's locality. pcrs[i]
 * receives PCR i's value in its first *digest_len bytes (zeros after them)
 * and *touched has bit i set for every PCR an event extended.
 *
 * hash_alg is SHA-256, SHA-384 or SHA-512; SHA-1 only with
 * TCGLOG_DISPLAY_ONLY; anything else is AICERT_ERR_UNSUPPORTED. A
 * bank the log does not have is AICERT_ERR_NOT_FOUND. Outputs are written
 * only on success. */
int tcglog_replay(const struct tcglog *log, uint16_t hash_alg, unsigned flags,
		  uint8_t pcrs[TCGLOG_PCR_COUNT][TCGLOG_MAX_DIGEST], size_t *digest_len,
		  uint32_t *touched);

/* "EV_EFI_BOOT_SERVICES_APPLICATION" and so on; NULL for a type the PFP does
 * not define. */
const char *tcglog_event_type_name(uint32_t type);

/* "sha256" and so on; NULL for an algorithm a log may not carry. */
const char *tcglog_alg_name(uint16_t alg);

#endif
