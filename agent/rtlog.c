#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aicert.pb-c.h"
#include "cel.h"
#include "err.h"
#include "fileio.h"
#include "rpc.h"
#include "rtlog.h"
#include "tpm.h"

#define RTLOG_VERSION  1
#define RTLOG_MAX_FILE (CEL_MAX_LOG_BYTES + 16u * CEL_MAX_RECORDS + 4096u)

struct rtlog {
	char *path;
	uint32_t reset_count;
	struct cel_log log;
	uint64_t *ids; /* request id of each record; ids_cap >= log.n */
	size_t ids_cap;
};

static int rtlog_persist(struct rtlog *l)
{
	Aicert__V1__AgentLogState st = AICERT__V1__AGENT_LOG_STATE__INIT;
	uint8_t *cel = NULL, *buf = NULL;
	size_t cel_len, len;
	int r;

	r = cel_encode(&l->log, &cel, &cel_len);
	if (r < 0)
		return r;
	st.version = RTLOG_VERSION;
	st.reset_count = l->reset_count;
	st.cel.data = cel;
	st.cel.len = cel_len;
	st.request_ids = l->ids;
	st.n_request_ids = l->log.n;
	len = aicert__v1__agent_log_state__get_packed_size(&st);
	buf = malloc(len ? len : 1);
	if (!buf) {
		r = AICERT_ERR_NOMEM;
		goto out;
	}
	aicert__v1__agent_log_state__pack(&st, buf);
	r = fileio_write_atomic(l->path, buf, len, 0600);
out:
	free(buf);
	free(cel);
	return r;
}

static int rtlog_reserve_ids(struct rtlog *l, size_t n)
{
	uint64_t *p;
	size_t cap = l->ids_cap ? l->ids_cap : 16;

	if (n <= l->ids_cap)
		return 0;
	while (cap < n)
		cap *= 2;
	p = realloc(l->ids, cap * sizeof(*p));
	if (!p)
		return AICERT_ERR_NOMEM;
	l->ids = p;
	l->ids_cap = cap;
	return 0;
}

/* Parses the state file strictly; a damaged file is an error, never an
 * empty log. */
static int rtlog_load(struct rtlog *l, const uint8_t *buf, size_t len)
{
	Aicert__V1__AgentLogState *st = NULL;
	int r;

	r = rpc_unpack_strict(&aicert__v1__agent_log_state__descriptor, buf, len,
			      (ProtobufCMessage **)&st);
	if (r < 0)
		return err_wrap(AICERT_ERR_STATE, "%s", l->path);
	if (st->version != RTLOG_VERSION) {
		r = err_set(AICERT_ERR_STATE, "%s: version %u, expected %u", l->path, st->version,
			    RTLOG_VERSION);
		goto out;
	}
	r = cel_decode(st->cel.data, st->cel.len, &l->log);
	if (r < 0) {
		r = err_wrap(AICERT_ERR_STATE, "%s", l->path);
		goto out;
	}
	if (st->n_request_ids != l->log.n) {
		r = err_set(AICERT_ERR_STATE, "%s: %zu request ids for %zu records", l->path,
			    st->n_request_ids, l->log.n);
		goto out;
	}
	r = rtlog_reserve_ids(l, l->log.n);
	if (r < 0)
		goto out;
	if (l->log.n)
		memcpy(l->ids, st->request_ids, l->log.n * sizeof(*l->ids));
	l->reset_count = st->reset_count;
out:
	if (r < 0)
		cel_clear(&l->log);
	aicert__v1__agent_log_state__free_unpacked(st, NULL);
	return r;
}

/* Keeps the log of an earlier TPM reset aside and starts an empty one. */
static int rtlog_restart(struct rtlog *l, uint32_t reset_count)
{
	char *aside = NULL;

	if (l->log.n > 0) {
		if (asprintf(&aside, "%s.reset-%u", l->path, l->reset_count) < 0)
			return AICERT_ERR_NOMEM;
		rename(l->path, aside);
		free(aside);
	}
	cel_clear(&l->log);
	l->reset_count = reset_count;
	return rtlog_persist(l);
}

/* Compares the replay of the first n records with the TPM's PCRs. */
static int rtlog_matches(struct rtlog *l, struct tpm *t, size_t n, bool *match)
{
	struct tpm_bank bank = {.hash_alg = TPM_ALG_SHA256_ID};
	struct tpm_bank_values *vals = NULL;
	uint8_t pcrs[24][32];
	uint32_t touched = 0, counter;
	int r;

	r = cel_replay(&l->log, n, pcrs, &touched);
	if (r < 0)
		return err_wrap(AICERT_ERR_STATE, "%s", l->path);
	/* PCRs named anywhere in the log, so that a record dropped from the
	 * end is compared too. */
	for (size_t i = 0; i < l->log.n; i++)
		bank.mask |= 1u << l->log.recs[i].pcr;
	*match = true;
	if (!bank.mask)
		return 0;
	vals = calloc(1, sizeof(*vals));
	if (!vals)
		return AICERT_ERR_NOMEM;
	r = tpm_pcr_read(t, &bank, 1, vals, &counter);
	for (unsigned i = 0; r == 0 && i < 24; i++)
		if ((bank.mask >> i & 1) && memcmp(vals->digest[i], pcrs[i], 32) != 0)
			*match = false;
	free(vals);
	return r;
}

/* The log replays to the PCRs, or did before one last record whose extend
 * never happened. */
static int rtlog_reconcile(struct rtlog *l, struct tpm *t)
{
	bool match;
	int r;

	r = rtlog_matches(l, t, l->log.n, &match);
	if (r < 0 || match)
		return r;
	if (l->log.n > 0) {
		r = rtlog_matches(l, t, l->log.n - 1, &match);
		if (r < 0)
			return r;
		if (match) {
			cel_truncate(&l->log, l->log.n - 1);
			return rtlog_persist(l);
		}
	}
	return err_set(AICERT_ERR_STATE,
		       "%s: the runtime log of %zu records does not replay to the TPM's PCRs "
		       "(something else extended them)",
		       l->path, l->log.n);
}

/* Starts a new log when the TPM was reset since the log began. */
int rtlog_check_reset(struct rtlog *l, struct tpm *t)
{
	uint32_t reset, restart;
	int r;

	r = tpm_clock(t, &reset, &restart);
	if (r < 0)
		return r;
	return reset == l->reset_count ? 0 : rtlog_restart(l, reset);
}

int rtlog_open(const char *state_dir, struct tpm *t, struct rtlog **ret)
{
	struct rtlog *l = calloc(1, sizeof(*l));
	uint8_t *buf = NULL;
	uint32_t reset, restart;
	size_t len;
	int r;

	if (!l)
		return AICERT_ERR_NOMEM;
	if (asprintf(&l->path, "%s/%s", state_dir, RTLOG_FILE) < 0) {
		free(l);
		return AICERT_ERR_NOMEM;
	}
	r = tpm_clock(t, &reset, &restart);
	if (r < 0)
		goto out;
	r = fileio_read_all(l->path, RTLOG_MAX_FILE, &buf, &len);
	if (r == AICERT_ERR_NOT_FOUND) {
		r = rtlog_restart(l, reset);
		goto out;
	}
	if (r == 0)
		r = rtlog_load(l, buf, len);
	if (r == 0 && l->reset_count != reset)
		r = rtlog_restart(l, reset);
	else if (r == 0)
		r = rtlog_reconcile(l, t);
out:
	free(buf);
	if (r < 0) {
		rtlog_free(l);
		return r;
	}
	*ret = l;
	return 0;
}

void rtlog_free(struct rtlog *l)
{
	if (!l)
		return;
	cel_clear(&l->log);
	free(l->ids);
	free(l->path);
	free(l);
}

size_t rtlog_count(const struct rtlog *l)
{
	return l->log.n;
}

/* Answers a resent Extend from the log: record number and PCR value then. */
static int rtlog_find(struct rtlog *l, uint64_t request_id, uint64_t *recnum, uint8_t new_value[32])
{
	uint8_t pcrs[24][32];
	uint32_t touched;
	int r;

	for (size_t i = 0; i < l->log.n; i++) {
		if (l->ids[i] != request_id)
			continue;
		r = cel_replay(&l->log, i + 1, pcrs, &touched);
		if (r < 0)
			return r;
		*recnum = i;
		memcpy(new_value, pcrs[l->log.recs[i].pcr], 32);
		return 1;
	}
	return 0;
}

/* After a failed TPM2_PCR_Extend: drop the record only when the PCRs are
 * read and show it did not happen; keep it when they show it did, or when
 * they cannot be read (the next start reconciles the log with the PCRs). */
static int rtlog_undo(struct rtlog *l, struct tpm *t)
{
	bool match;
	int r;

	r = rtlog_matches(l, t, l->log.n - 1, &match);
	if (r < 0 || !match)
		return r;
	cel_truncate(&l->log, l->log.n - 1);
	return rtlog_persist(l);
}

int rtlog_extend(struct rtlog *l, struct tpm *t, uint64_t request_id, uint32_t pcr,
		 const uint8_t digest[32], uint32_t event_type, const uint8_t *data, size_t len,
		 uint64_t *recnum, uint8_t new_value[32])
{
	int r;

	r = rtlog_check_reset(l, t);
	if (r < 0)
		return r;
	if (request_id) {
		r = rtlog_find(l, request_id, recnum, new_value);
		if (r != 0)
			return r < 0 ? r : 0;
	}
	r = rtlog_reserve_ids(l, l->log.n + 1);
	if (r < 0)
		return r;
	r = cel_append(&l->log, pcr, digest, event_type, data, len);
	if (r < 0)
		return r;
	l->ids[l->log.n - 1] = request_id;
	r = rtlog_persist(l);
	if (r < 0) {
		cel_truncate(&l->log, l->log.n - 1);
		return r;
	}
	r = tpm_extend(t, pcr, digest, new_value);
	if (r < 0) {
		int saved = r;

		rtlog_undo(l, t);
		return saved;
	}
	*recnum = l->log.n - 1;
	return 0;
}

int rtlog_encode(struct rtlog *l, struct tpm *t, uint8_t **buf, size_t *len, uint32_t *reset_count)
{
	int r;

	r = rtlog_check_reset(l, t);
	if (r < 0)
		return r;
	r = cel_encode(&l->log, buf, len);
	if (r == 0)
		*reset_count = l->reset_count;
	return r;
}
