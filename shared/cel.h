/* The runtime event log: TCG Canonical Event Log (CEL), TLV encoding.
 *
 * The agent appends one record per extend it makes; the verifier decodes the
 * log and replays it. Each record holds its record number, the PCR, the
 * SHA-256 digest extended, and the content: an event type and event data
 * (the PC Client "pcclient_std" content form).
 *
 * Decoding is strict and bounded: every length is checked against what is
 * left and against the limits below, record numbers must count up from 0
 * without gaps, and nothing may trail the last record. The wire format is
 * described at the top of cel.c. CEL-TLV has no record count, so a log cut
 * exactly between two records decodes as the shorter log: replaying it
 * against the quoted PCRs is what catches that.
 */
#ifndef AICERT_CEL_H
#define AICERT_CEL_H

#include <stddef.h>
#include <stdint.h>

#define CEL_MAX_RECORDS   65536u
#define CEL_MAX_CONTENT   65536u      /* bytes of event data in one record */
#define CEL_MAX_LOG_BYTES (64u << 20) /* a whole encoded log */

struct cel_record {
	uint64_t recnum;
	uint32_t pcr;
	uint8_t sha256[32];
	uint32_t event_type;
	uint8_t *data; /* event data, data_len bytes, NULL when 0; owned by the log */
	size_t data_len;
};

struct cel_log {
	struct cel_record *recs;
	size_t n;
	size_t cap;
};

/* Appends a copy of data as a new record numbered log->n. A pcr of 24 or more
 * is AICERT_ERR_INVALID; more than CEL_MAX_CONTENT bytes of data or a log of
 * CEL_MAX_RECORDS already is AICERT_ERR_TOO_BIG. log is unchanged on failure. */
int cel_append(struct cel_log *log, uint32_t pcr, const uint8_t sha256[32], uint32_t event_type,
	       const uint8_t *data, size_t data_len);

/* Drops records from index n on (nothing when n >= log->n). */
void cel_truncate(struct cel_log *log, size_t n);

/* Frees the records and their data; the struct itself is the caller's.
 * NULL-safe. */
void cel_clear(struct cel_log *log);

/* Encodes the whole log; *buf is malloc'd (also for an empty log, whose *len
 * is 0) and the caller frees it. A record the decoder would refuse (recnum not
 * its index, pcr >= 24) is AICERT_ERR_INVALID; an encoding over
 * CEL_MAX_LOG_BYTES is AICERT_ERR_TOO_BIG. */
int cel_encode(const struct cel_log *log, uint8_t **buf, size_t *len);

/* Decodes buf into log, which must be empty (n == 0). On failure, with
 * AICERT_ERR_INVALID or AICERT_ERR_TOO_BIG, log is left empty and err_msg()
 * names the record number, the byte offset and the field. */
int cel_decode(const uint8_t *buf, size_t len, struct cel_log *log);

/* Replays the first n records (n <= log->n) from each PCR's initial value, all
 * zero: PCR = SHA-256(PCR || digest). Only PCRs 8..16 and 23 may appear in a
 * runtime log; any other PCR is AICERT_ERR_INVALID naming the record. pcrs[i]
 * receives the SHA-256 value of PCR i (zero when untouched) and *touched has
 * bit i set for every PCR the records extended. Outputs are written only on
 * success. */
int cel_replay(const struct cel_log *log, size_t n, uint8_t pcrs[24][32], uint32_t *touched);

#endif
