/* Forgeries of the event logs and of the job they record: runtime records
 * inserted, removed, reordered, duplicated or changed (the CEL-TLV log is
 * re-encoded, record numbers renumbered), a boot log from elsewhere, and
 * real jobs that break the rules of a job (made in fx.c with the TPM). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "cel.h"
#include "events.h"
#include "fileio.h"
#include "proof.h"
#include "forge.h"

/* ---- runtime log ----------------------------------------------------------------------------- */

/* A well-formed input event (a "code" input the job never read), with its
 * digest. */
static void rt_inserted(struct fx *f, struct forged *o)
{
	struct events_event ev = {.kind = EVENTS_INPUT};
	struct cel_record rec = {0};
	struct proof *p = forge_good(f);
	struct cel_log log;

	snprintf(ev.u.input.kind, sizeof(ev.u.input.kind), "code");
	snprintf(ev.u.input.name, sizeof(ev.u.input.name), "code");
	snprintf(ev.u.input.uri, sizeof(ev.u.input.uri), "git+https://example.com/train.git");
	ev.u.input.files = 1;
	ev.u.input.size = 1;
	assert_int_equal(events_encode(&ev, &rec.data, &rec.data_len), 0);
	SHA256(rec.data, rec.data_len, rec.sha256);
	rec.pcr = events_pcr(EVENTS_INPUT);
	rec.event_type = events_type(EVENTS_INPUT);
	forge_rt_get(p, &log);
	forge_rt_insert(&log, forge_rt_find(&log, AICERT_EV_INPUT, 1) + 1, &rec);
	forge_rt_put(p, &log);
	free(rec.data);
	forge_emit(o, p);
}

static void rt_removed(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);
	struct cel_log log;

	forge_rt_get(p, &log);
	forge_rt_remove(&log, forge_rt_find(&log, AICERT_EV_INPUT, 1));
	forge_rt_put(p, &log);
	forge_emit(o, p);
}

static void rt_reordered(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);
	struct cel_record tmp;
	struct cel_log log;
	size_t i;

	forge_rt_get(p, &log);
	i = forge_rt_find(&log, AICERT_EV_INPUT, 0);
	tmp = log.recs[i];
	log.recs[i] = log.recs[i + 1];
	log.recs[i + 1] = tmp;
	forge_rt_put(p, &log);
	forge_emit(o, p);
}

static void rt_duplicated(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);
	struct cel_log log;
	size_t i;

	forge_rt_get(p, &log);
	i = forge_rt_find(&log, AICERT_EV_INPUT, 1);
	forge_rt_insert(&log, i + 1, &log.recs[i]);
	forge_rt_put(p, &log);
	forge_emit(o, p);
}

/* The base model input's event data says another digest; the record keeps
 * the digest that was extended. */
static void rt_data_changed(struct fx *f, struct forged *o, bool rehash)
{
	struct events_event ev = {.kind = EVENTS_INPUT};
	struct proof *p = forge_good(f);
	struct cel_record *rec;
	struct cel_log log;
	uint8_t *data = NULL;
	size_t len = 0;

	forge_rt_get(p, &log);
	rec = &log.recs[forge_rt_find(&log, AICERT_EV_INPUT, 0)];
	ev.u.input = f->inputs[0];
	ev.u.input.sha256[0] ^= 0x01;
	assert_int_equal(events_encode(&ev, &data, &len), 0);
	free(rec->data);
	rec->data = data;
	rec->data_len = len;
	if (rehash)
		SHA256(data, len, rec->sha256);
	forge_rt_put(p, &log);
	forge_emit(o, p);
}

static void rt_data_changed_digest_kept(struct fx *f, struct forged *o)
{
	rt_data_changed(f, o, false);
}

static void rt_data_and_digest_changed(struct fx *f, struct forged *o)
{
	rt_data_changed(f, o, true);
}

/* event_type is not extended: an output relabelled as the outputs root
 * (same PCR). */
static void rt_event_type_changed(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);
	struct cel_log log;

	forge_rt_get(p, &log);
	log.recs[forge_rt_find(&log, AICERT_EV_OUTPUT, 0)].event_type = AICERT_EV_OUTPUTS;
	forge_rt_put(p, &log);
	forge_emit(o, p);
}

static void rt_moved_to_another_pcr(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);
	struct cel_log log;

	forge_rt_get(p, &log);
	log.recs[forge_rt_find(&log, AICERT_EV_INPUT, 1)].pcr = AICERT_PCR_OUTPUTS;
	forge_rt_put(p, &log);
	forge_emit(o, p);
}

static void rt_stray_byte(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);
	uint8_t *buf = malloc(p->runtime_log.len + 1);

	assert_non_null(buf);
	memcpy(buf, p->runtime_log.data, p->runtime_log.len);
	buf[p->runtime_log.len] = 0x00;
	fx_blob_set(&p->runtime_log, buf, p->runtime_log.len + 1);
	free(buf);
	forge_emit(o, p);
}

/* Cut exactly between two records, before job-end: a shorter log that
 * decodes. */
static void rt_cut_before_job_end(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);
	struct cel_log log;

	forge_rt_get(p, &log);
	cel_truncate(&log, log.n - 1);
	forge_rt_put(p, &log);
	forge_emit(o, p);
}

/* Record 1 numbered 2 (the encoder refuses, so the byte is edited). */
static void rt_recnum_gap(struct fx *f, struct forged *o)
{
	static const uint8_t recnum1[] = {0x00, 0x00, 0x00, 0x00, 0x01, 0x01};
	struct proof *p = forge_good(f);
	struct cel_log log;
	uint8_t *first = NULL;
	size_t first_len = 0;

	forge_rt_get(p, &log);
	cel_truncate(&log, 1);
	assert_int_equal(cel_encode(&log, &first, &first_len), 0);
	cel_clear(&log);
	assert_memory_equal(p->runtime_log.data + first_len, recnum1, sizeof(recnum1));
	p->runtime_log.data[first_len + 5] = 0x02;
	free(first);
	forge_emit(o, p);
}

static void rt_empty(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	fx_blob_set(&p->runtime_log, "", 0);
	forge_emit(o, p);
}

static const struct forgery cases_runtime_list[] = {
	FORGERY("runtime record inserted", "runtime.log", rt_inserted),
	FORGERY("runtime record removed", "runtime.log", rt_removed),
	FORGERY("runtime records reordered", "runtime.log", rt_reordered),
	FORGERY("runtime record duplicated", "runtime.log", rt_duplicated),
	FORGERY("event data changed, digest kept", "runtime.events", rt_data_changed_digest_kept),
	FORGERY("event data and its digest changed", "runtime.log", rt_data_and_digest_changed),
	FORGERY("event type changed (not extended)", "runtime.events", rt_event_type_changed),
	FORGERY("runtime record moved to another PCR", "runtime.log", rt_moved_to_another_pcr),
	FORGERY("stray byte after the last runtime record", "runtime.log", rt_stray_byte),
	FORGERY("runtime log cut before job-end", "runtime.log", rt_cut_before_job_end),
	FORGERY("runtime record numbers with a gap", "runtime.log", rt_recnum_gap),
	FORGERY("runtime log emptied", "runtime.log", rt_empty),
};

const struct forgery_table cases_runtime = {"runtime log", cases_runtime_list,
					    sizeof(cases_runtime_list) /
						    sizeof(cases_runtime_list[0])};

/* ---- the job --------------------------------------------------------------------------------- */

static void job_not_last(struct fx *f, struct forged *o)
{
	forge_text(o, (const char *)f->not_last.buf, f->not_last.len);
}

static void job_started_twice(struct fx *f, struct forged *o)
{
	forge_text(o, (const char *)f->twice.buf, f->twice.len);
}

static void job_across_resume(struct fx *f, struct forged *o)
{
	forge_text(o, (const char *)f->resumed.buf, f->resumed.len);
}

static void job_across_reset(struct fx *f, struct forged *o)
{
	forge_text(o, (const char *)f->reset.buf, f->reset.len);
}

static void job_unfinished(struct fx *f, struct forged *o)
{
	forge_text(o, (const char *)f->unfinished.buf, f->unfinished.len);
}

/* A real quote bound to the job and another nonce than its job-start's. */
static void job_other_nonce(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	fx_tpm_apply(p, &f->q_other_nonce);
	memcpy(p->nonce, f->other_nonce, FX_NONCE_LEN);
	forge_emit(o, p);
}

static void job_statement_removed(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	json_decref(p->statement);
	p->statement = NULL;
	forge_emit(o, p);
}

static void job_platform_proof_with_statement(struct fx *f, struct forged *o)
{
	struct proof *p = forge_parse(&f->platform), *good = forge_good(f);

	p->statement = json_incref(good->statement);
	proof_free(good);
	forge_emit(o, p);
}

static const struct forgery cases_job_list[] = {
	FORGERY("proof of a job that is not the last in the log", "runtime.events", job_not_last),
	FORGERY("job id started again after another job", "runtime.events", job_started_twice),
	FORGERY("TPM suspended and resumed during the job", "job.counters", job_across_resume),
	FORGERY("TPM reset during the job", "runtime.events", job_across_reset),
	FORGERY("quote taken before the job finished", "runtime.events", job_unfinished),
	FORGERY("quote for the job with another nonce", "runtime.events", job_other_nonce),
	FORGERY("job proof without its statement", "runtime.events", job_statement_removed),
	FORGERY("platform proof with a job's statement", "runtime.events",
		job_platform_proof_with_statement),
};

const struct forgery_table cases_job = {"job", cases_job_list,
					sizeof(cases_job_list) / sizeof(cases_job_list[0])};

/* ---- boot log (part of the platform group) --------------------------------------------------- */

void cases_logs_boot_ovmf(struct fx *f, struct forged *o, bool claim_measured)
{
	struct proof *p = forge_good(f);
	uint8_t *log = NULL;
	size_t len = 0;

	assert_int_equal(fileio_read_all(FX_OVMF_LOG, PROOF_MAX_BOOT_LOG, &log, &len), 0);
	fx_blob_set(&p->boot_log, log, len);
	free(log);
	if (claim_measured)
		snprintf(p->platform, sizeof(p->platform), "measured");
	forge_emit(o, p);
}
