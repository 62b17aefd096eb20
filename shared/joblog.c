#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "err.h"
#include "joblog.h"

/* Where a record may stand in a job: job-start, inputs, outputs, the
 * outputs root, job-end, in that order. */
static int joblog_order(const struct events_event *prev, const struct events_event *ev, size_t i)
{
	static const int rank[] = {
		[EVENTS_JOB_START] = 0, [EVENTS_INPUT] = 1,   [EVENTS_OUTPUT] = 2,
		[EVENTS_OUTPUTS] = 3,   [EVENTS_JOB_END] = 4, [EVENTS_CONTROLLER] = 5,
	};

	/* The runner's binding to its controller: first, once. */
	if (ev->kind == EVENTS_CONTROLLER) {
		if (prev)
			return err_set(
				AICERT_ERR_REJECTED,
				"runtime record %zu: a controller binding after the log began", i);
		return 0;
	}
	if (prev && prev->kind == EVENTS_CONTROLLER)
		prev = NULL;

	if (ev->kind == EVENTS_JOB_START) {
		if (prev && prev->kind != EVENTS_JOB_END)
			return err_set(AICERT_ERR_REJECTED,
				       "runtime record %zu: a job starts before the last one ended",
				       i);
		return 0;
	}
	if (!prev || prev->kind == EVENTS_JOB_END)
		return err_set(AICERT_ERR_REJECTED, "runtime record %zu: an event outside a job",
			       i);
	if (rank[ev->kind] < rank[prev->kind] ||
	    (rank[ev->kind] == rank[prev->kind] && ev->kind != EVENTS_INPUT &&
	     ev->kind != EVENTS_OUTPUT))
		return err_set(AICERT_ERR_REJECTED, "runtime record %zu: event out of order", i);
	if (ev->kind == EVENTS_OUTPUT && prev->kind == EVENTS_OUTPUT &&
	    strcmp(prev->u.output.path, ev->u.output.path) >= 0)
		return err_set(AICERT_ERR_REJECTED,
			       "runtime record %zu: outputs not in path order, or duplicated", i);
	return 0;
}

int joblog_decode(const struct cel_log *rt, struct joblog *jl)
{
	int r;

	memset(jl, 0, sizeof(*jl));
	jl->events = calloc(rt->n ? rt->n : 1, sizeof(*jl->events));
	if (!jl->events)
		return AICERT_ERR_NOMEM;
	jl->n = rt->n;
	for (size_t i = 0; i < rt->n; i++) {
		const struct cel_record *rec = &rt->recs[i];

		uint8_t digest[32];

		/* The record's digest is what was extended; the data must be
		 * what was hashed, or the data could say anything. */
		SHA256(rec->data, rec->data_len, digest);
		if (CRYPTO_memcmp(digest, rec->sha256, 32) != 0)
			return err_set(
				AICERT_ERR_REJECTED,
				"runtime record %zu: its data is not what was extended (SHA-256 "
				"differs)",
				i);
		r = events_decode(rec->event_type, rec->pcr, rec->data, rec->data_len,
				  &jl->events[i]);
		if (r < 0)
			return err_wrap(AICERT_ERR_REJECTED, "runtime record %zu", i);
		r = joblog_order(i ? &jl->events[i - 1] : NULL, &jl->events[i], i);
		if (r < 0)
			return r;
		if (jl->events[i].kind == EVENTS_CONTROLLER)
			jl->job.controller = &jl->events[i].u.controller;
	}
	return 0;
}

/* Collects the selected job's events into jl->job. */
static int joblog_collect(struct joblog *jl)
{
	size_t n_in = 0, n_out = 0;

	for (size_t i = jl->job_first; i < jl->n; i++) {
		n_in += jl->events[i].kind == EVENTS_INPUT;
		n_out += jl->events[i].kind == EVENTS_OUTPUT;
	}
	jl->inputs = calloc(n_in + 1, sizeof(*jl->inputs));
	jl->outputs = calloc(n_out + 1, sizeof(*jl->outputs));
	if (!jl->inputs || !jl->outputs)
		return AICERT_ERR_NOMEM;
	jl->job = (struct statement_job){
		.inputs = jl->inputs, .outputs = jl->outputs, .controller = jl->job.controller};
	for (size_t i = jl->job_first; i < jl->n; i++) {
		struct events_event *ev = &jl->events[i];

		if (ev->kind == EVENTS_JOB_START)
			jl->job.start = &ev->u.start;
		else if (ev->kind == EVENTS_INPUT)
			jl->inputs[jl->job.n_inputs++] = ev->u.input;
		else if (ev->kind == EVENTS_OUTPUT)
			jl->outputs[jl->job.n_outputs++] = ev->u.output;
		else if (ev->kind == EVENTS_OUTPUTS)
			jl->job.root = &ev->u.outputs;
		else
			jl->job.end = &ev->u.end;
	}
	return 0;
}

static int joblog_root(struct joblog *jl)
{
	uint8_t(*digests)[32], root[32];
	int r;

	if (!jl->job.root || !jl->job.end)
		return err_set(AICERT_ERR_REJECTED,
			       "job '%s' has not finished: no outputs root or job-end event",
			       jl->job.start->job_id);
	if (jl->job.root->files != jl->job.n_outputs)
		return err_set(AICERT_ERR_REJECTED,
			       "the outputs root counts %llu files, the log %zu",
			       (unsigned long long)jl->job.root->files, jl->job.n_outputs);
	digests = calloc(jl->job.n_outputs + 1, 32);
	if (!digests)
		return AICERT_ERR_NOMEM;
	for (size_t i = 0; i < jl->job.n_outputs; i++)
		memcpy(digests[i], jl->job.outputs[i].sha256, 32);
	r = events_outputs_root((const uint8_t(*)[32])digests, jl->job.n_outputs, root);
	free(digests);
	if (r == 0 && memcmp(root, jl->job.root->root_sha256, 32) != 0)
		r = err_set(AICERT_ERR_REJECTED, "the outputs root is not the root of the outputs");
	return r;
}

/* The job: the last job-start in the log, which must name the job and the
 * nonce and be the only one to name the job. */
static int joblog_select(struct joblog *jl, const char *job_id, const uint8_t *nonce,
			 size_t nonce_len)
{
	bool seen = false, last = false;

	for (size_t i = 0; i < jl->n; i++) {
		const struct events_job_start *s = &jl->events[i].u.start;

		if (jl->events[i].kind != EVENTS_JOB_START)
			continue;
		last = strcmp(s->job_id, job_id) == 0;
		if (last && seen)
			return err_set(AICERT_ERR_REJECTED, "job '%s' starts twice in the log",
				       job_id);
		seen |= last;
		jl->job_first = i;
	}
	if (!last)
		return err_set(AICERT_ERR_REJECTED,
			       "the log's last job is not '%s' (a quote from another job?)",
			       job_id);
	if (jl->events[jl->job_first].u.start.nonce_len != nonce_len ||
	    memcmp(jl->events[jl->job_first].u.start.nonce, nonce, nonce_len) != 0)
		return err_set(AICERT_ERR_REJECTED,
			       "job '%s' started with another nonce than the proof's", job_id);
	jl->has_job = true;
	return 0;
}

int joblog_find(struct joblog *jl, const char *job_id, const uint8_t *nonce, size_t nonce_len)
{
	int r;

	r = joblog_select(jl, job_id, nonce, nonce_len);
	if (r == 0)
		r = joblog_collect(jl);
	if (r == 0)
		r = joblog_root(jl);
	return r;
}

void joblog_clear(struct joblog *jl)
{
	free(jl->events);
	free(jl->inputs);
	free(jl->outputs);
	memset(jl, 0, sizeof(*jl));
}
