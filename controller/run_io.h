/* `aicert run`'s side of the executor service (aicert.v1.Executor): typed
 * calls, input upload and output download with a progress line, and the
 * check for Ctrl-C that every long loop makes. */
#ifndef AICERT_RUN_IO_H
#define AICERT_RUN_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aicert.pb-c.h"

#define RUN_CHUNK                                                                                  \
	((1u << 20) - (8u << 10)) /* PutFile data per call: the 1 MiB request limit less the       \
				     envelope, name and path */
#define RUN_READ_CHUNK (1u << 20)
#define RUN_MAX_DEPTH  32
#define RUN_MAX_FILES  100000

struct rpc_client;

/* A progress line on a terminal (bytes, rate, ETA), redrawn at most every
 * 100 ms; nothing when stderr is not a terminal. */
struct run_progress {
	bool tty;
	const char *what;
	uint64_t done, total;
	double t0, last;
};

void run_progress_begin(struct run_progress *p, const char *what, uint64_t total);
void run_progress_add(struct run_progress *p, uint64_t n);
void run_progress_end(struct run_progress *p);

/* CLOCK_MONOTONIC in seconds. */
double run_now(void);

/* True once SIGINT or SIGTERM is pending (the caller blocks both). */
bool run_interrupted(void);

/* Sizes as "12.3 MiB", durations as "1:02"; into buf. */
const char *run_fmt_bytes(uint64_t n, char buf[32]);

int run_start_job(struct rpc_client *x, const uint8_t *job, size_t job_len, const char *job_id,
		  const uint8_t *nonce, size_t nonce_len, const char *local_base,
		  Aicert__V1__StartJobReply **ret);

/* Sends src (a regular file, or a directory of them: symbolic links and
 * special files are refused) as the input's files. */
int run_upload(struct rpc_client *x, const char *input, const char *src, struct run_progress *p);
/* Sums the sizes of what run_upload would send. */
int run_upload_size(const char *src, uint64_t *bytes, uint64_t *files);

/* StageInput and Finish hash (and may fetch) inside the runner: give them a
 * client with a long timeout. */
int run_stage_input(struct rpc_client *x, const char *input, Aicert__V1__StageInputReply **ret);
int run_run(struct rpc_client *x);
int run_poll(struct rpc_client *x, uint64_t offset, uint32_t wait_ms, Aicert__V1__PollReply **ret);
int run_finish(struct rpc_client *x, Aicert__V1__FinishReply **ret);

/* Downloads every output of fin into dir (created; must not exist), each
 * file hashed as it arrives and compared with fin's digest and size, then
 * fsynced. A mismatch is AICERT_ERR_REJECTED naming the file. */
int run_download(struct rpc_client *x, const Aicert__V1__FinishReply *fin, const char *dir,
		 struct run_progress *p);

/* rm -rf dir (no symbolic link followed); NULL-safe. */
void run_rm_tree(const char *dir);

#endif
