/* aicert run JOB [--out DIR]: one attested training run.
 *
 * The controller is not trusted with anything the proof claims: it parses
 * the job file to fail early and to know what to send, but the executor
 * parses the same bytes itself, measures every input it staged, runs the
 * command in its sandbox and measures the outputs; the controller then asks
 * the agent for a quote bound to the job id and a nonce it chose, downloads
 * the outputs checking each against its measurement, and runs the verifier
 * before it calls the run a success.
 *
 * Success leaves DIR/proof.json (written last, atomically), DIR/outputs/,
 * DIR/policy.yaml (the local runner's development policy) and
 * DIR/training.log. A failure leaves no proof and no outputs, but the log.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <openssl/sha.h>

#include "agentc.h"
#include "attest.h"
#include "aicert.pb-c.h"
#include "aicert_verify.h"
#include "cel.h"
#include "ca.h"
#include "cli.h"
#include "ekcert.h"
#include "enroll.h"
#include "err.h"
#include "events.h"
#include "fileio.h"
#include "hex.h"
#include "jobcfg.h"
#include "log.h"
#include "policy.h"
#include "proof.h"
#include "proofgen.h"
#include "rpc.h"
#include "run_internal.h"
#include "run_io.h"
#include "runner_local.h"
#include "runner_qemu.h"

#define RUN_EXIT_INTERRUPTED 130
#define RUN_POLL_MS          1000
#define RUN_GRACE_S          60 /* past the job's timeout before we stop waiting */

enum { OPT_OUT = 1, OPT_FORCE, OPT_KEEP, OPT_CA_FILE, OPT_HELP };

static const struct option run_options[] = {
	{"out", required_argument, NULL, OPT_OUT},
	{"force", no_argument, NULL, OPT_FORCE},
	{"keep-runner", no_argument, NULL, OPT_KEEP},
	{"ca-file", required_argument, NULL, OPT_CA_FILE},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

static void run_usage(FILE *f)
{
	fprintf(f, "Usage: aicert run JOB.yaml [--out DIR] [--force] [--keep-runner]\n"
		   "                 [--ca-file PEM]\n\n"
		   "Runs the job on the runner its file names, measuring every input and output\n"
		   "in the runner's TPM, and writes:\n"
		   "  DIR/proof.json    the proof (last, and only when the run verified)\n"
		   "  DIR/outputs/      the job's outputs, each checked against the proof\n"
		   "  DIR/policy.yaml   local runner: a development policy trusting its CAs\n"
		   "  DIR/training.log  the command's output\n"
		   "DIR defaults to the directory of the job's proof.path; the proof then goes\n"
		   "to proof.path itself.\n\n"
		   "  --force        replace an earlier run's proof and outputs in DIR\n"
		   "  --keep-runner  keep the runner's directory (TPM state, logs) afterwards\n"
		   "  --ca-file PEM  CAs the runner trusts for https and git inputs\n\n"
		   "Exit status: 0 verified, 1 the run failed or was rejected, 2 bad job file\n"
		   "or usage, 130 interrupted (the runner is torn down).\n"
		   "See docs/job-config.md.\n");
}

static int run_parse(int argc, char **argv, struct run_args *a)
{
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", run_options, NULL)) != -1) {
		switch (opt) {
		case OPT_OUT:
			a->out = optarg;
			break;
		case OPT_FORCE:
			a->force = true;
			break;
		case OPT_KEEP:
			a->keep_runner = true;
			break;
		case OPT_CA_FILE:
			a->ca_file = optarg;
			break;
		case OPT_HELP:
			run_usage(stdout);
			return 1;
		default:
			return err_set(AICERT_ERR_INVALID, "see 'aicert run --help'");
		}
	}
	if (optind + 1 != argc)
		return err_set(AICERT_ERR_INVALID, "expected one job file (see --help)");
	a->job = argv[optind];
	return 0;
}

static void run_hex8(const uint8_t *d, char out[17])
{
	hex_encode(d, 8, out);
}

/* mkdir -p. */
static int run_mkdirs(const char *dir)
{
	char *p = strdup(dir);
	int r = 0;

	if (!p)
		return AICERT_ERR_NOMEM;
	for (char *c = p + 1; r == 0 && (c = strchr(c, '/')); c++) {
		*c = '\0';
		r = fileio_mkdir(p, 0755);
		*c = '/';
	}
	if (r == 0)
		r = fileio_mkdir(p, 0755);
	free(p);
	return r;
}

/* ---- Before anything is provisioned ------------------------------------- */

static int run_load(struct run *R)
{
	uint8_t digest[32];
	char *copy, *slash, resolved[PATH_MAX];
	int r;

	r = jobcfg_load(R->a.job, &R->cfg);
	if (r < 0)
		return r;
	/* The bytes the executor gets are the bytes parsed here. */
	r = fileio_read_all(R->a.job, JOBCFG_MAX_BYTES, &R->job, &R->job_len);
	if (r == 0)
		r = jobcfg_sha256(R->job, R->job_len, digest);
	if (r == 0 && memcmp(digest, R->cfg->sha256, 32) != 0)
		r = err_set(AICERT_ERR_STATE, "%s changed while it was read", R->a.job);
	if (r < 0)
		return r;
	/* Checked here, not when the first https input needs it. */
	if (R->a.ca_file) {
		char ca[PATH_MAX];

		if (!realpath(R->a.ca_file, ca) || access(ca, R_OK) < 0)
			return err_set(AICERT_ERR_NOT_FOUND, "--ca-file %s: %s", R->a.ca_file,
				       strerror(errno));
		R->ca_file = strdup(ca);
		if (!R->ca_file)
			return AICERT_ERR_NOMEM;
	}
	if (R->cfg->runner.backend != JOBCFG_BACKEND_LOCAL &&
	    R->cfg->runner.backend != JOBCFG_BACKEND_QEMU)
		return err_set(AICERT_ERR_UNSUPPORTED,
			       "%s: runner.backend '%s' is not available yet; use 'local' or "
			       "'qemu'",
			       R->a.job, jobcfg_backend_name(R->cfg->runner.backend));
	copy = strdup(R->a.job);
	if (!copy)
		return AICERT_ERR_NOMEM;
	slash = strrchr(copy, '/');
	if (slash)
		slash[slash == copy ? 1 : 0] = '\0';
	if (!realpath(slash ? copy : ".", resolved)) {
		r = err_set(AICERT_ERR_IO, "%s: %s", copy, strerror(errno));
		free(copy);
		return r;
	}
	free(copy);
	R->base = strdup(resolved);
	return R->base ? 0 : AICERT_ERR_NOMEM;
}

/* Every local input must exist and be files and directories only. */
static int run_check_inputs(struct run *R)
{
	for (size_t i = 0; i < R->cfg->n_inputs; i++) {
		const struct jobcfg_input *in = &R->cfg->inputs[i];
		uint64_t bytes, files;
		int r;

		if (in->source != JOBCFG_SOURCE_PATH)
			continue;
		r = run_upload_size(in->resolved, &bytes, &files);
		if (r == 0 && files == 0)
			r = err_set(AICERT_ERR_INVALID, "%s: no files", in->resolved);
		if (r < 0)
			return err_wrap(r, "%s:%u:%u: %s", R->cfg->file, in->line, in->col,
					in->field);
	}
	return 0;
}

static int run_paths(struct run *R)
{
	struct stat st;
	int r = 0;

	if (R->a.out) {
		R->out = strdup(R->a.out);
		if (R->out && asprintf(&R->proof_path, "%s/proof.json", R->out) < 0)
			R->proof_path = NULL;
	} else {
		char *slash;

		R->proof_path = strdup(R->cfg->proof_path);
		R->out = strdup(R->cfg->proof_path);
		slash = R->out ? strrchr(R->out, '/') : NULL;
		if (slash)
			slash[slash == R->out ? 1 : 0] = '\0';
		else if (R->out)
			strcpy(R->out, ".");
	}
	if (!R->out || !R->proof_path || asprintf(&R->outputs, "%s/outputs", R->out) < 0 ||
	    asprintf(&R->partial, "%s/.outputs.partial", R->out) < 0 ||
	    asprintf(&R->policy_path, "%s/policy.yaml", R->out) < 0 ||
	    asprintf(&R->policy_tmp, "%s/.policy.yaml.partial", R->out) < 0 ||
	    asprintf(&R->log_path, "%s/training.log", R->out) < 0)
		return AICERT_ERR_NOMEM;
	r = run_mkdirs(R->out);
	if (r < 0)
		return err_wrap(r, "--out");
	/* An earlier run's results are not overwritten by accident. */
	if (!R->a.force && (stat(R->proof_path, &st) == 0 || stat(R->outputs, &st) == 0))
		return err_set(AICERT_ERR_EXISTS,
			       "%s already holds a run (%s or %s); use --force to replace it, "
			       "or another --out",
			       R->out, R->proof_path, R->outputs);
	run_rm_tree(R->partial);
	unlink(R->policy_tmp);
	{
		/* Never through a link someone left in DIR. */
		int fd = open(R->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
			      0644);

		R->log = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (!R->log) {
			if (fd >= 0)
				close(fd);
			return err_set(AICERT_ERR_IO, "%s: %s", R->log_path, strerror(errno));
		}
	}
	return 0;
}

/* ---- The job ------------------------------------------------------------- */

static int run_start(struct run *R)
{
	Aicert__V1__StartJobReply *rep = NULL;
	uint8_t id[6];
	char idhex[13], when[32];
	time_t now = time(NULL);
	struct tm tm;
	int r;

	if (RAND_bytes(R->nonce, sizeof(R->nonce)) != 1 || RAND_bytes(id, sizeof(id)) != 1)
		return err_set(AICERT_ERR_CRYPTO, "no random bytes for the nonce");
	hex_encode(id, sizeof(id), idhex);
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(R->job_id, sizeof(R->job_id), "%s-%s-%s", R->cfg->name, when, idhex);
	r = run_start_job(R->x, R->job, R->job_len, R->job_id, R->nonce, sizeof(R->nonce),
			  R->local ? R->base : NULL, &rep);
	if (r < 0)
		return err_wrap(r, "starting the job");
	if (rep->config_sha256.len != 32 || memcmp(rep->config_sha256.data, R->cfg->sha256, 32) ||
	    rep->n_inputs != R->cfg->n_inputs)
		r = err_set(AICERT_ERR_STATE,
			    "the executor read a different job file than %s (digest or inputs)",
			    R->a.job);
	for (size_t i = 0; r == 0 && i < rep->n_inputs; i++)
		if (strcmp(rep->inputs[i]->name, R->cfg->inputs[i].name) != 0)
			r = err_set(AICERT_ERR_STATE, "the executor's input %zu is '%s', not '%s'",
				    i, rep->inputs[i]->name, R->cfg->inputs[i].name);
	protobuf_c_message_free_unpacked(&rep->base, NULL);
	if (r == 0)
		printf("job %s: started (job-start in PCR 14)\n", R->job_id);
	return r;
}

static int run_inputs(struct run *R)
{
	int r = 0;

	R->staged = calloc(R->cfg->n_inputs + 1, sizeof(*R->staged));
	if (!R->staged)
		return AICERT_ERR_NOMEM;
	printf("inputs:\n");
	for (size_t i = 0; r == 0 && i < R->cfg->n_inputs; i++) {
		const struct jobcfg_input *in = &R->cfg->inputs[i];
		struct run_progress p;
		char size[32], hex[17];
		double t = run_now();

		if (in->source == JOBCFG_SOURCE_PATH) {
			uint64_t bytes = 0, files = 0;

			r = run_upload_size(in->resolved, &bytes, &files);
			run_progress_begin(&p, in->name, bytes);
			if (r == 0)
				r = run_upload(R->x, in->name, in->resolved, &p);
			run_progress_end(&p);
		}
		if (r < 0)
			return err_wrap(r, "%s:%u:%u: %s", R->cfg->file, in->line, in->col,
					in->field);
		/* The executor's message names the field already. */
		r = run_stage_input(R->xlong, in->name, &R->staged[i]);
		if (r < 0)
			return err_wrap(r, "%s:%u:%u", R->cfg->file, in->line, in->col);
		run_hex8(R->staged[i]->sha256.data, hex);
		printf("  %-10s %-12s %6llu file%s %10s  sha256 %s...  %s (%.1f s)\n",
		       jobcfg_kind_name(in->kind), in->name,
		       (unsigned long long)R->staged[i]->files,
		       R->staged[i]->files == 1 ? " " : "s",
		       run_fmt_bytes(R->staged[i]->size, size), hex, jobcfg_source_name(in->source),
		       run_now() - t);
		fflush(stdout);
		if (run_interrupted())
			r = err_set(AICERT_ERR_CANCELLED, "interrupted");
	}
	return r;
}

/* The command's output: as it is into the log; to a terminal without
 * control sequences, so that the command cannot repaint or hide what aicert
 * itself prints (a fake verdict, say). */
static void run_emit(struct run *R, const Aicert__V1__OutputChunk *c)
{
	FILE *to = c->stream == 2 ? stderr : stdout;

	if (isatty(fileno(to)) == 1) {
		for (size_t i = 0; i < c->data.len; i++) {
			uint8_t b = c->data.data[i];

			fputc((b < 0x20 && b != '\n' && b != '\t') || b == 0x7f ? '?' : b, to);
		}
	} else {
		fwrite(c->data.data, 1, c->data.len, to);
	}
	fflush(to);
	if (R->log)
		fwrite(c->data.data, 1, c->data.len, R->log);
}

/* Runs the command and streams its output until it ends. */
static int run_train(struct run *R, int *status)
{
	double deadline;
	uint64_t offset = 0, dropped = 0;
	int r;

	printf("training: %s ... (timeout %u s, network %s)\n", R->cfg->training.argv[0],
	       R->cfg->training.timeout_s, jobcfg_network_name(R->cfg->training.network));
	fflush(stdout);
	r = run_run(R->x);
	R->t_train_start = run_now();
	deadline = R->t_train_start + R->cfg->training.timeout_s + RUN_GRACE_S;
	while (r == 0) {
		Aicert__V1__PollReply *rep = NULL;
		bool done;

		if (run_interrupted())
			return err_set(AICERT_ERR_CANCELLED, "interrupted during training");
		if (run_now() > deadline)
			return err_set(AICERT_ERR_TIMEOUT,
				       "the runner did not report the end of the command %d s past "
				       "its timeout",
				       RUN_GRACE_S);
		r = run_poll(R->x, offset, RUN_POLL_MS, &rep);
		if (r < 0)
			break;
		for (size_t i = 0; i < rep->n_chunks; i++)
			run_emit(R, rep->chunks[i]);
		if (rep->dropped > dropped) {
			log_warn("%llu bytes of the command's output were dropped (too much, too "
				 "fast)",
				 (unsigned long long)(rep->dropped - dropped));
			dropped = rep->dropped;
		}
		offset = rep->next_offset;
		done = rep->done;
		if (done) {
			*status = rep->exit_status;
			R->train_ms = rep->wall_ms;
			if (rep->error[0] && !rep->timed_out)
				r = err_set(AICERT_ERR_UNAVAILABLE, "the command could not run: %s",
					    rep->error);
			else if (rep->timed_out)
				r = err_set(
					AICERT_ERR_TIMEOUT,
					"the command ran past its timeout of %u s and was killed",
					R->cfg->training.timeout_s);
		}
		protobuf_c_message_free_unpacked(&rep->base, NULL);
		if (done)
			break;
	}
	R->t_train_end = run_now();
	if (R->log)
		fflush(R->log);
	return r;
}

/* Quote, proof, outputs, verification; then the proof, last. */
static int run_prove(struct run *R, struct aicert_result **res)
{
	struct proofgen_opts po = {.agent = R->agent,
				   .ca_dir = R->ca_dir,
				   .job_id = R->job_id,
				   .nonce = R->nonce,
				   .nonce_len = sizeof(R->nonce)};
	struct aicert_verify_opts vo = {.nonce = R->nonce, .nonce_len = sizeof(R->nonce)};
	struct run_progress p;
	struct proof *proof = NULL;
	uint64_t total = 0;
	char *json = NULL;
	bool moved = false;
	int r;

	r = run_finish(R->xlong, &R->fin);
	if (r < 0)
		return err_wrap(r, "measuring the outputs");
	r = proofgen_make(&po, &proof);
	if (r == 0)
		r = proof_write(proof, &json);
	proof_free(proof);
	if (r < 0) {
		free(json);
		return err_wrap(r, "assembling the proof");
	}
	for (size_t i = 0; i < R->fin->n_outputs; i++)
		total += R->fin->outputs[i]->size;
	run_progress_begin(&p, "outputs", total);
	r = run_download(R->x, R->fin, R->partial, &p);
	run_progress_end(&p);
	if (r < 0)
		err_wrap(r, "downloading the outputs into %s", R->out);
	/* The verifier's verdict on the proof and on exactly the bytes that
	 * will stay, before anything is written or replaced: a run that does
	 * not verify leaves no proof and touches no earlier run. */
	if (r == 0) {
		vo.policy_path = R->policy_tmp;
		vo.model_dir = R->partial;
		r = aicert_verify(R->proof_path, (const uint8_t *)json, strlen(json), &vo, res);
	}
	if (r == 0 && R->a.force) {
		run_rm_tree(R->outputs);
		unlink(R->proof_path);
	}
	if (r == 0 && rename(R->partial, R->outputs) < 0)
		r = err_set(AICERT_ERR_IO, "%s: %s", R->outputs, strerror(errno));
	else if (r == 0)
		moved = true;
	if (r == 0 && rename(R->policy_tmp, R->policy_path) < 0)
		r = err_set(AICERT_ERR_IO, "%s: %s", R->policy_path, strerror(errno));
	/* The proof last: it is what says the run succeeded. */
	if (r == 0)
		r = fileio_write_atomic(R->proof_path, json, strlen(json), 0644);
	if (r < 0) {
		run_rm_tree(R->partial);
		unlink(R->policy_tmp);
		if (moved)
			run_rm_tree(R->outputs);
	}
	free(json);
	return r;
}

static void run_summary(struct run *R, const struct aicert_result *res, int status)
{
	double total = run_now() - R->t0, train = (double)R->train_ms / 1000.0;
	uint64_t bytes = 0;
	char size[32], root[65];

	for (size_t i = 0; i < R->fin->n_outputs; i++)
		bytes += R->fin->outputs[i]->size;
	hex_encode(R->fin->root_sha256.data, 32, root);
	printf("\n== aicert run: VERIFIED ==\n");
	printf("  job       %s (%s, exit status %d)\n", R->cfg->name, R->job_id, status);
	printf("  inputs    %zu:", R->cfg->n_inputs);
	for (size_t i = 0; i < R->cfg->n_inputs; i++) {
		char hex[17];

		run_hex8(R->staged[i]->sha256.data, hex);
		printf("%s %s %s...", i ? "," : "", R->cfg->inputs[i].name, hex);
	}
	printf("\n  outputs   %zu files, %s, root sha256 %s\n", R->fin->n_outputs,
	       run_fmt_bytes(bytes, size), root);
	printf("  compute   %llu FLOPs (as the job reported them)\n",
	       (unsigned long long)R->fin->flops);
	printf("  time      training %.1f s, whole run %.1f s\n", train, total);
	printf("            runner start %.2f s, enrollment and binding %.2f s, inputs %.2f s, "
	       "outputs, proof and verification %.2f s\n",
	       R->t_ready - R->t0, R->t_started - R->t_ready, R->t_staged - R->t_started,
	       run_now() - R->t_train_end);
	if (strcmp(aicert_result_platform(res), "development") == 0)
		printf("  platform  development: a local runner, its boot is not measured\n");
	else if (R->boot_reference)
		printf("  platform  %s: UEFI to the kernel, its command line and initrd (qemu, "
		       "OVMF), event for event as the image's reference boot %s\n",
		       aicert_result_platform(res), R->boot_reference);
	else
		printf("  platform  %s: UEFI to the kernel, its command line and initrd (qemu, "
		       "OVMF); policy.yaml's boot reference values are this boot's own (trust on "
		       "first use): the image has no boot-reference.yaml to compare with\n",
		       aicert_result_platform(res));
	printf("  proof     %s\n  outputs   %s/\n  policy    %s\n", R->proof_path, R->outputs,
	       R->policy_path);
	printf("  check it  aicert verify %s --policy %s --model %s\n", R->proof_path,
	       R->policy_path, R->outputs);
}

static void run_free(struct run *R)
{
	if (R->staged)
		for (size_t i = 0; i < R->cfg->n_inputs; i++)
			if (R->staged[i])
				protobuf_c_message_free_unpacked(&R->staged[i]->base, NULL);
	free(R->staged);
	if (R->fin)
		protobuf_c_message_free_unpacked(&R->fin->base, NULL);
	rpc_client_free(R->x);
	rpc_client_free(R->xlong);
	rpc_client_free(R->agent);
	runner_local_free(R->local);
	runner_qemu_free(R->qemu);
	if (R->log)
		fclose(R->log);
	jobcfg_free(R->cfg);
	free(R->job);
	free(R->base);
	free(R->ca_file);
	free(R->boot_reference);
	free(R->out);
	free(R->proof_path);
	free(R->outputs);
	free(R->partial);
	free(R->policy_path);
	free(R->policy_tmp);
	free(R->log_path);
}

/* Runs the job; the runner is always torn down before this returns. */
static int run_job(struct run *R, int *status, struct aicert_result **res)
{
	char *boot = NULL;
	int r;

	r = run_provision(R);
	if (r == 0 && R->qemu)
		r = run_image_reference(R, &boot);
	if (r == 0 && R->qemu && !boot)
		r = run_boot_reference(R, &boot);
	if (r == 0)
		r = run_write_policy(R, boot);
	free(boot);
	if (r == 0)
		r = run_check_binding(R);
	if (r == 0)
		r = run_start(R);
	R->t_started = run_now();
	if (r == 0)
		r = run_inputs(R);
	R->t_staged = run_now();
	if (r == 0)
		r = run_train(R, status);
	if (r == 0 && *status != 0)
		r = err_set(AICERT_ERR_REJECTED,
			    "the training command failed with exit status %d; its output is in "
			    "%s; no proof was written",
			    *status, R->log_path);
	if (r == 0) {
		printf("training: exit status 0 after %.1f s\n", (double)R->train_ms / 1000.0);
		r = run_prove(R, res);
	}
	if (run_interrupted() || r == AICERT_ERR_CANCELLED) {
		R->interrupted = true;
		fprintf(stderr, "\naicert run: interrupted; tearing the runner down\n");
	}
	/* A command still running is killed with the executor. The teardown
	 * must not replace the message of what failed. */
	{
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s", r < 0 ? err_msg(r) : "");
		if (R->runner && run_stop_runner(R) < 0 && r == 0)
			log_warn("runner teardown: %s", err_msg(AICERT_ERR_STATE));
		if (r < 0)
			err_set(r, "%s", msg);
	}
	run_rm_tree(R->partial);
	unlink(R->policy_tmp);
	return r;
}

int cmd_run(int argc, char **argv)
{
	struct run R = {.t0 = run_now()};
	struct aicert_result *res = NULL;
	sigset_t set;
	int r, status = -1, code;

	r = run_parse(argc, argv, &R.a);
	if (r == 1)
		return CLI_EXIT_OK;
	/* Ctrl-C and SIGTERM stay pending until a loop looks: the runner is
	 * then torn down in order (runner_local.h). */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	/* A closed stdout (`| head`) must not kill the run halfway: the
	 * output is lost, the run and its teardown are not. */
	signal(SIGPIPE, SIG_IGN);
	/* Progress and errors interleave in order in a log file too. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (r == 0)
		r = run_load(&R);
	if (r == 0)
		r = run_check_inputs(&R);
	if (r < 0) {
		/* Nothing was provisioned: the job file or the command line. */
		cli_fail(r);
		run_free(&R);
		return CLI_EXIT_USAGE;
	}
	{
		char hex[17];

		run_hex8(R.cfg->sha256, hex);
		printf("aicert run: job %s from %s (sha256 %s...)\n", R.cfg->name, R.a.job, hex);
	}
	r = run_paths(&R);
	if (r == 0)
		r = run_job(&R, &status, &res);
	if (r == AICERT_ERR_REJECTED && res) {
		verify_print(res, R.proof_path);
		log_err("the run's own proof did not verify; nothing was written");
	} else if (r < 0) {
		log_err("%s", err_msg(r));
		/* The runner's own logs tell more when the runner failed. */
		if (R.runner && !R.a.keep_runner &&
		    (r == AICERT_ERR_UNAVAILABLE || r == AICERT_ERR_INTERNAL ||
		     r == AICERT_ERR_TRANSPORT || r == AICERT_ERR_STATE))
			log_info("rerun with --keep-runner to keep the runner's logs");
	} else {
		verify_print(res, R.proof_path);
		run_summary(&R, res, status);
	}
	code = R.interrupted ? RUN_EXIT_INTERRUPTED : r < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
	aicert_result_free(res);
	run_free(&R);
	return code;
}
