/* aicert's runtime events: what the job executor extends through the agent,
 * and what a verifier expects to find in the runtime log.
 *
 * Every event's data is one compact JSON object with sorted keys and a
 * "type" member; the extended digest is the SHA-256 of exactly those bytes
 * (the agent refuses anything else), so the log's content is bound to the PCR.
 *
 *   PCR 14  job-start  {"config_sha256","job_id","nonce","reset_count","restart_count","type"}
 *   PCR 14  input      {"files","kind","name","sha256","size","type","uri"}
 *   PCR 8   output     {"path","sha256","size","type"}
 *   PCR 8   outputs    {"files","root_sha256","type"}
 *   PCR 8   job-end    {"exit_code","flops","type","wall_ms"}
 *   PCR 15  controller {"identity_sha256","type"}
 *
 * A job's events come in that order: job-start, its inputs, its outputs in
 * path order, the outputs root, job-end. A controller event, when there is
 * one, is the log's first record: the agent extends it at start, binding
 * the runner to the one controller that provisioned it (the SHA-256 of the
 * identity it was given at launch).
 */
#ifndef AICERT_EVENTS_H
#define AICERT_EVENTS_H

#include <stddef.h>
#include <stdint.h>

/* event_type values in CEL records: "AI" in the high half, outside the TCG
 * PC Client range. */
#define AICERT_EV_JOB_START  0x41490001u
#define AICERT_EV_INPUT      0x41490002u
#define AICERT_EV_OUTPUT     0x41490003u
#define AICERT_EV_OUTPUTS    0x41490004u
#define AICERT_EV_JOB_END    0x41490005u
#define AICERT_EV_CONTROLLER 0x41490006u

#define AICERT_PCR_INPUTS  14
#define AICERT_PCR_OUTPUTS 8
#define AICERT_PCR_SESSION 15

#define EVENTS_MAX_JOB_ID 128
#define EVENTS_MAX_NAME   128
#define EVENTS_MAX_PATH   1024
#define EVENTS_MAX_NONCE  64

enum events_kind {
	EVENTS_JOB_START,
	EVENTS_INPUT,
	EVENTS_OUTPUT,
	EVENTS_OUTPUTS,
	EVENTS_JOB_END,
	EVENTS_CONTROLLER,
};

struct events_job_start {
	char job_id[EVENTS_MAX_JOB_ID + 1];
	uint8_t nonce[EVENTS_MAX_NONCE];
	size_t nonce_len;
	uint8_t config_sha256[32];
	uint32_t reset_count;
	uint32_t restart_count;
};

struct events_input {
	char kind[32]; /* base_model, dataset, code, config, file, container */
	char name[EVENTS_MAX_NAME + 1];
	char uri[EVENTS_MAX_PATH + 1];
	uint8_t sha256[32]; /* the file's digest, or the root of a directory's manifest */
	uint64_t files;
	uint64_t size;
};

struct events_output {
	char path[EVENTS_MAX_PATH + 1]; /* relative, '/'-separated */
	uint8_t sha256[32];
	uint64_t size;
};

struct events_outputs {
	uint8_t root_sha256[32];
	uint64_t files;
};

struct events_job_end {
	int32_t exit_code;
	uint64_t flops;
	uint64_t wall_ms;
};

struct events_controller {
	uint8_t identity_sha256[32];
};

struct events_event {
	enum events_kind kind;
	union {
		struct events_job_start start;
		struct events_input input;
		struct events_output output;
		struct events_outputs outputs;
		struct events_job_end end;
		struct events_controller controller;
	} u;
};

/* The CEL event_type and PCR of a kind. */
uint32_t events_type(enum events_kind kind);
uint32_t events_pcr(enum events_kind kind);

/* Encodes ev as its canonical JSON bytes (malloc'd, not NUL-terminated). */
int events_encode(const struct events_event *ev, uint8_t **buf, size_t *len);

/* Decodes the data of a runtime-log record of the given event_type and PCR.
 * Strict: the type member must agree with event_type, the PCR with the kind,
 * every member must be present with the right type and range, nothing else may
 * be, and the bytes must be the canonical encoding. */
int events_decode(uint32_t event_type, uint32_t pcr, const uint8_t *buf, size_t len,
		  struct events_event *ev);

/* The quote's qualifying data for a job: SHA-256 of
 * "aicert/quote/v1" 0x00 || u32be(len) job_id || u32be(len) nonce. */
int events_binding(const char *job_id, const uint8_t *nonce, size_t nonce_len, uint8_t out[32]);

/* The output-set root as sigstore's model signing computes it: SHA-256 over
 * the files' SHA-256 digests (raw bytes) in byte order of their paths. The
 * digests must already be in that order. */
int events_outputs_root(const uint8_t (*digests)[32], size_t n, uint8_t out[32]);

#endif
