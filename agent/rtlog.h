/* The agent's runtime event log: one CEL record per extend, persisted
 * atomically in the state directory before the TPM is extended, reconciled
 * with the PCRs at start, and started anew when the TPM was reset.
 *
 * Not thread-safe: the agent calls it under its TPM lock.
 */
#ifndef AICERT_AGENT_RTLOG_H
#define AICERT_AGENT_RTLOG_H

#include <stddef.h>
#include <stdint.h>

struct rtlog;
struct tpm;

#define RTLOG_FILE "runtime-log.state"

/* Loads state_dir/runtime-log.state, or starts an empty log. When the TPM's
 * reset count differs from the log's, the old log is kept aside as
 * runtime-log.state.reset-N and a new one is started. Otherwise the log must
 * replay to the TPM's PCRs: a last record whose extend never happened (the
 * agent died in between) is dropped; any other difference is
 * AICERT_ERR_STATE. */
int rtlog_open(const char *state_dir, struct tpm *t, struct rtlog **ret);
void rtlog_free(struct rtlog *l);

/* Appends a record, persists it, then extends the TPM. A request id already
 * in the log returns that record's number and PCR value without extending
 * again. new_value receives the PCR's value after the record. */
int rtlog_extend(struct rtlog *l, struct tpm *t, uint64_t request_id, uint32_t pcr,
		 const uint8_t digest[32], uint32_t event_type, const uint8_t *data, size_t len,
		 uint64_t *recnum, uint8_t new_value[32]);

/* The log as CEL-TLV (malloc'd) and the reset count it belongs to. Starts a
 * new log first if the TPM was reset since the last call. */
int rtlog_encode(struct rtlog *l, struct tpm *t, uint8_t **buf, size_t *len, uint32_t *reset_count);

size_t rtlog_count(const struct rtlog *l);
int rtlog_check_reset(struct rtlog *l, struct tpm *t);

#endif
