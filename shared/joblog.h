/* A runtime log read as jobs: every record decoded as an aicert event, the
 * order of events checked, and one job's events collected for its Statement.
 * The verifier and the controller's proof assembly read logs the same way
 * through this module. */
#ifndef AICERT_JOBLOG_H
#define AICERT_JOBLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cel.h"
#include "events.h"
#include "statement.h"

struct joblog {
	struct events_event *events; /* one per record */
	size_t n;
	/* After joblog_find(): the job's first record and its events. */
	size_t job_first;
	bool has_job;
	struct events_input *inputs;
	struct events_output *outputs;
	struct statement_job job;
};

/* Decodes every record of rt (strictly, see events_decode) and checks that
 * jobs follow each other and that each job's events come in order: job-start,
 * inputs, outputs in path order without duplicates, outputs root, job-end.
 * The last job may be unfinished. AICERT_ERR_REJECTED names the record. */
int joblog_decode(const struct cel_log *rt, struct joblog *jl);

/* Selects the job: it must be the last in the log, start exactly once, with
 * this nonce, and be finished, with an outputs root that is the root of its
 * outputs. */
int joblog_find(struct joblog *jl, const char *job_id, const uint8_t *nonce, size_t nonce_len);

void joblog_clear(struct joblog *jl);

#endif
