/* The proof's in-toto Statement v1 with a SLSA Provenance v1 predicate,
 * derived from a job's runtime events.
 *
 * The Statement is a pure function of the job's events, the platform and
 * the runtime log: the controller builds it with statement_build() and the
 * verifier rebuilds it from the log and requires the proof's to be equal, so
 * nothing in it is unchecked.
 */
#ifndef AICERT_STATEMENT_H
#define AICERT_STATEMENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "events.h"

#define STATEMENT_TYPE       "https://in-toto.io/Statement/v1"
#define STATEMENT_PREDICATE  "https://slsa.dev/provenance/v1"
#define STATEMENT_BUILD_TYPE "urn:aicert:build-type:training:v1"
/* The subject naming the whole output set; its digest is the root. */
#define STATEMENT_ROOT_NAME "."

/* One job's events, in log order, as the verifier found them. */
struct statement_job {
	const struct events_job_start *start;
	const struct events_input *inputs;
	size_t n_inputs;
	const struct events_output *outputs;
	size_t n_outputs;
	const struct events_outputs *root;
	const struct events_job_end *end;
	/* The runner's controller binding, when the log has one. */
	const struct events_controller *controller;
};

/* builder.id for a platform kind: "urn:aicert:platform:development". */
void statement_builder_id(const char *platform, char *out, size_t cap);

/* The Statement for job on platform; runtime_log_sha256 is the digest of
 * the whole runtime log, listed as a byproduct. *ret is the caller's. */
int statement_build(const struct statement_job *job, const char *platform,
		    const uint8_t runtime_log_sha256[32], json_t **ret);

#endif
