/* `aicert run`'s state, shared by cmd_run.c (the job) and run_runner.c (the
 * runner: provisioning, enrollment, the binding check, the policy). */
#ifndef AICERT_RUN_INTERNAL_H
#define AICERT_RUN_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "aicert.pb-c.h"
#include "events.h"
#include "rpc.h"

#define RUN_CALL_MS      30000u
#define RUN_LONG_CALL_MS RPC_MAX_DEADLINE_MS /* StageInput, Finish: hashing in the runner */

struct jobcfg;
struct runner_local;
struct runner_qemu;

struct run_args {
	const char *job;
	const char *out;
	const char *ca_file;
	bool force;
	bool keep_runner;
};

struct run {
	struct run_args a;
	struct jobcfg *cfg;
	uint8_t *job;
	size_t job_len;
	char *base;           /* the job file's directory, absolute */
	char *ca_file;        /* --ca-file, absolute */
	char *boot_reference; /* qemu: the image's recorded reference boot, if any */
	char *out, *proof_path, *outputs, *partial, *policy_path, *policy_tmp, *log_path;
	FILE *log;
	/* The runner, of either backend, and what the run needs of it. */
	struct runner_local *local;
	struct runner_qemu *qemu;
	bool runner;
	const char *agent_url, *executor_url, *ek_root, *ek_issuer, *identity, *runner_dir,
		*runner_priv;
	const struct rpc_tls *tls;
	char ca_dir[PATH_MAX];
	struct rpc_client *agent, *x, *xlong;
	char job_id[EVENTS_MAX_JOB_ID + 1];
	uint8_t nonce[32];
	Aicert__V1__StageInputReply **staged;
	Aicert__V1__FinishReply *fin;
	double t0, t_ready, t_started, t_staged, t_train_start, t_train_end;
	uint64_t train_ms;
	bool interrupted;
};

/* run_runner.c */
int run_provision(struct run *R);   /* start the runner, enroll it, dial it */
int run_stop_runner(struct run *R); /* a command still running dies with it */
/* The policy, written to policy_tmp; boot_pcrs: its boot section, or NULL
 * for a development policy. */
int run_write_policy(struct run *R, const char *boot_pcrs);
/* qemu: the image's recorded reference boot, or NULL; this boot's own. */
int run_image_reference(struct run *R, char **yaml);
int run_boot_reference(struct run *R, char **yaml);
/* A fresh quote shows the runner bound to our controller identity. */
int run_check_binding(struct run *R);

#endif
