/* The executor's RPC service (agent/executor_svc.h), driven call by call
 * against a local runner (swtpm, the agent and aicert-executor of this
 * build), the way a hostile or buggy controller could drive it.
 *
 * Each test gets a fresh runner. The calls go through the generated stubs
 * (and rpc_client_call_raw for resends), so every refusal is checked by its
 * gRPC status, and after each refusal the job must either go on or be
 * failed as the service documents. Every runner is stopped with its
 * directory kept, and the executor's log must hold no ASan/UBSan report.
 *
 * AICERT_TEST_KEEP=1 leaves the runners' directories (logs) behind;
 * AICERT_TEST_FILTER=PATTERN runs the matching tests only. */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "aicert.pb-c.h"
#include "err.h"
#include "events.h"
#include "executor_svc.h"
#include "fileio.h"
#include "harness.h"
#include "modeldir.h"
#include "rpc.h"
#include "runner_local.h"

#define AGENT_BIN    AICERT_BINARY_DIR "/agent/aicert-agent"
#define EXECUTOR_BIN AICERT_BINARY_DIR "/agent/aicert-executor"
#define DONE_MS      30000
#define MAX_RSS_KB   (200L << 10)

struct fx {
	char dir[PATH_MAX]; /* scratch: the runners' work_dir */
	char log[PATH_MAX]; /* the current runner's executor.log */
	char rdir[PATH_MAX];
	struct runner_local *runner;
	struct rpc_client *c;
	char msg[2048]; /* the last refusal's message */
};

/* snprintf that must not truncate. */
#define FMT(buf, cap, ...) assert_in_range(snprintf((buf), (cap), __VA_ARGS__), 0, (cap)-1)

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void rm_rf(const char *path)
{
	const char *rm[] = {"rm", "-rf", path, NULL};

	assert_int_equal(harness_run(rm), 0);
}

/* ---- Runner -------------------------------------------------------------- */

static void fx_start(struct fx *f)
{
	struct runner_local_opts ro = {.work_dir = f->dir,
				       .agent_bin = AGENT_BIN,
				       .executor = true,
				       .executor_bin = EXECUTOR_BIN,
				       .keep = true};
	struct rpc_client_opts co = {.timeout_ms = 15000};
	int r;

	r = runner_local_start(&ro, &f->runner);
	if (r != 0)
		fail_msg("runner_local_start: %s", err_msg(r));
	FMT(f->rdir, sizeof(f->rdir), "%s", runner_local_dir(f->runner));
	FMT(f->log, sizeof(f->log), "%s/executor.log", runner_local_private_dir(f->runner));
	assert_int_equal(rpc_client_dial(runner_local_executor_url(f->runner),
					 &aicert__v1__executor__descriptor, &co, &f->c),
			 0);
}

/* Stops the runner (the executor by SIGTERM, in time), then reads its log:
 * no sanitizer report. Removes the runner's directory, and returns what went
 * wrong (malloc'd) or NULL, so that teardown can free everything first. */
static char *fx_stop_quietly(struct fx *f)
{
	static const char *const bad[] = {"AddressSanitizer", "LeakSanitizer",
					  "runtime error:", "UndefinedBehaviorSanitizer",
					  "SUMMARY:"};
	uint8_t *log = NULL;
	size_t len = 0;
	char *what = NULL;
	int r;

	if (!f->runner)
		return NULL;
	rpc_client_free(f->c);
	f->c = NULL;
	r = runner_local_stop(f->runner);
	runner_local_free(f->runner);
	f->runner = NULL;
	if (r != 0 && asprintf(&what, "runner_local_stop: %s", err_msg(r)) < 0)
		what = NULL;
	if (fileio_read_all(f->log, 64u << 20, &log, &len) == 0) {
		char *text = strndup((const char *)log, len);

		for (size_t i = 0; text && !what && i < sizeof(bad) / sizeof(bad[0]); i++)
			if (strstr(text, bad[i]) && asprintf(&what, "%s: %s", f->log, text) < 0)
				what = NULL;
		free(text);
	} else if (!what && asprintf(&what, "%s: cannot read it", f->log) < 0) {
		what = NULL;
	}
	free(log);
	if (!getenv("AICERT_TEST_KEEP"))
		rm_rf(f->rdir);
	return what;
}

static void fx_stop(struct fx *f)
{
	char *what = fx_stop_quietly(f);

	if (what) {
		print_error("%s\n", what);
		free(what);
		fail();
	}
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	FMT(f->dir, sizeof(f->dir), "%s/aicert-execsvc.XXXXXX", getenv("TMPDIR") ?: "/tmp");
	assert_non_null(mkdtemp(f->dir));
	/* The command runs as nobody: it must reach the workspace. */
	assert_int_equal(chmod(f->dir, 0711), 0);
	fx_start(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char *what = fx_stop_quietly(f);

	if (!getenv("AICERT_TEST_KEEP"))
		rm_rf(f->dir);
	free(f);
	if (what) {
		print_error("%s\n", what);
		free(what);
		fail();
	}
	return 0;
}

/* ---- Calls --------------------------------------------------------------- */

/* One call by method name: its gRPC status (RPC_OK with *out, if out, the
 * reply). A refusal's message is kept in f->msg. */
static uint32_t call(struct fx *f, const char *method, const void *req, void *out)
{
	const ProtobufCServiceDescriptor *d = &aicert__v1__executor__descriptor;
	const ProtobufCMethodDescriptor *m =
		protobuf_c_service_descriptor_get_method_by_name(d, method);
	ProtobufCService *svc = rpc_client_service(f->c);
	struct rpc_reply rep = RPC_REPLY_INIT;

	assert_non_null(m);
	svc->invoke(svc, (unsigned)(m - d->methods), req, rpc_reply_capture, &rep);
	if (!rep.msg) {
		snprintf(f->msg, sizeof(f->msg), "%s", err_msg(rep.err));
		assert_int_not_equal(rep.status, RPC_OK);
		return rep.status;
	}
	f->msg[0] = '\0';
	if (out)
		*(ProtobufCMessage **)out = rep.msg;
	else
		protobuf_c_message_free_unpacked(rep.msg, NULL);
	return RPC_OK;
}

static void free_msg(void *m)
{
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
}

/* A refusal with this status whose message says what (needle: NULL for
 * any message). */
static void refused(const struct fx *f, uint32_t st, uint32_t want, const char *needle,
		    const char *file, int line)
{
	if (st == want && (!needle || strstr(f->msg, needle)))
		return;
	print_error("status %u (want %u), message '%s' (want '%s')\n", st, want, f->msg,
		    needle ? needle : "");
	_fail(file, line);
}

#define assert_refused(f, st, want, needle) refused((f), (st), (want), (needle), __FILE__, __LINE__)

#define assert_ok(f, st)                                                                           \
	do {                                                                                       \
		uint32_t st_ = (st);                                                               \
		if (st_ != RPC_OK)                                                                 \
			fail_msg("status %u: %s", st_, (f)->msg);                                  \
	} while (0)

static uint32_t start_job(struct fx *f, const char *yaml, Aicert__V1__StartJobReply **out)
{
	Aicert__V1__StartJobRequest req = AICERT__V1__START_JOB_REQUEST__INIT;
	uint8_t nonce[32];

	assert_int_equal(RAND_bytes(nonce, sizeof(nonce)), 1);
	req.job.data = (uint8_t *)yaml;
	req.job.len = strlen(yaml);
	req.job_id = "job-execsvc";
	req.nonce.data = nonce;
	req.nonce.len = sizeof(nonce);
	req.local_base = "";
	return call(f, "StartJob", &req, out);
}

static Aicert__V1__PutFileRequest put_req(const char *input, const char *path, uint64_t off,
					  const void *data, size_t len, bool last)
{
	Aicert__V1__PutFileRequest req = AICERT__V1__PUT_FILE_REQUEST__INIT;

	req.input = (char *)input;
	req.path = (char *)path;
	req.offset = off;
	req.data.data = (uint8_t *)data;
	req.data.len = len;
	req.last = last;
	return req;
}

static uint32_t put(struct fx *f, const char *input, const char *path, uint64_t off,
		    const char *data, bool last)
{
	Aicert__V1__PutFileRequest req = put_req(input, path, off, data, strlen(data), last);

	return call(f, "PutFile", &req, NULL);
}

static uint32_t stage(struct fx *f, const char *input, Aicert__V1__StageInputReply **out)
{
	Aicert__V1__StageInputRequest req = AICERT__V1__STAGE_INPUT_REQUEST__INIT;

	req.input = (char *)input;
	return call(f, "StageInput", &req, out);
}

static uint32_t run(struct fx *f)
{
	Aicert__V1__RunRequest req = AICERT__V1__RUN_REQUEST__INIT;

	return call(f, "Run", &req, NULL);
}

static uint32_t poll_once(struct fx *f, uint64_t off, uint32_t wait_ms, Aicert__V1__PollReply **out)
{
	Aicert__V1__PollRequest req = AICERT__V1__POLL_REQUEST__INIT;

	req.offset = off;
	req.wait_ms = wait_ms;
	return call(f, "Poll", &req, out);
}

static uint32_t finish(struct fx *f, Aicert__V1__FinishReply **out)
{
	Aicert__V1__FinishRequest req = AICERT__V1__FINISH_REQUEST__INIT;

	return call(f, "Finish", &req, out);
}

static uint32_t read_output(struct fx *f, const char *path, uint64_t off, uint32_t max,
			    Aicert__V1__ReadOutputReply **out)
{
	Aicert__V1__ReadOutputRequest req = AICERT__V1__READ_OUTPUT_REQUEST__INIT;

	req.path = (char *)path;
	req.offset = off;
	req.max_bytes = max;
	return call(f, "ReadOutput", &req, out);
}

/* PutFile through rpc_client_call_raw with a chosen request id. */
static uint32_t put_raw(struct fx *f, uint64_t id, const Aicert__V1__PutFileRequest *req)
{
	size_t len = protobuf_c_message_get_packed_size(&req->base), out_len = 0;
	uint8_t *buf = malloc(len + 1), *out = NULL;
	char *message = NULL;
	uint32_t status = RPC_UNKNOWN;

	assert_non_null(buf);
	assert_int_equal(protobuf_c_message_pack(&req->base, buf), len);
	assert_int_equal(rpc_client_call_raw(f->c, "aicert.v1.Executor/PutFile", buf, len, id,
					     &status, &message, &out, &out_len),
			 0);
	snprintf(f->msg, sizeof(f->msg), "%s", message ? message : "");
	free(message);
	free(out);
	free(buf);
	return status;
}

/* ---- Jobs ---------------------------------------------------------------- */

/* A job with a dataset `d` (a single file), the code (a directory), extra
 * inputs if any, and script run by sh -c (no single quotes in it). */
static const char *job_yaml(const char *extra, const char *script)
{
	static char yaml[16384];

	assert_null(strchr(script, '\''));
	FMT(yaml, sizeof(yaml),
	    "version: 1\n"
	    "name: execsvc\n"
	    "runner: {backend: local}\n"
	    "inputs:\n"
	    "  datasets:\n"
	    "    - {name: d, path: /controller/data/d.bin}\n"
	    "  code: {path: /controller/code}\n"
	    "%s"
	    "training:\n"
	    "  command: [sh, -c, '%s']\n"
	    "  env: {PATH: /usr/bin:/bin}\n"
	    "  timeout: 1m\n"
	    "  network: none\n"
	    "outputs:\n"
	    "  dir: outputs\n"
	    "proof:\n"
	    "  path: proof.json\n",
	    extra, script);
	return yaml;
}

#define SIMPLE_SCRIPT "mkdir -p outputs; cat inputs/d > outputs/out.txt; echo hello; echo err >&2"

/* StartJob, then d and the code staged with one small file each. */
static void start_and_stage(struct fx *f, const char *yaml)
{
	assert_ok(f, start_job(f, yaml, NULL));
	assert_ok(f, put(f, "d", "", 0, "data\n", true));
	assert_ok(f, stage(f, "d", NULL));
	assert_ok(f, put(f, "code", "main.sh", 0, "echo hi\n", true));
	assert_ok(f, stage(f, "code", NULL));
}

/* What Poll delivered, until done. */
struct polled {
	char out[8192], err[8192]; /* the first bytes of each stream */
	uint64_t out_len, err_len; /* all bytes of each stream */
	uint64_t next, dropped, polls, chunks;
	int exit_status;
	char only;       /* when set: every byte must be this one */
	long pause_ms;   /* between polls: a slow controller */
	long max_rss_kb; /* the executor's, sampled between polls */
};

static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *fp;

	FMT(path, sizeof(path), "/proc/%d/status", (int)pid);
	fp = fopen(path, "re");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(fp);
	assert_true(kb > 0);
	return kb;
}

static void polled_add(struct polled *p, const Aicert__V1__OutputChunk *c)
{
	char *buf = c->stream == 1 ? p->out : p->err;
	uint64_t *len = c->stream == 1 ? &p->out_len : &p->err_len;

	if (c->stream != 1 && c->stream != 2)
		fail_msg("a chunk of stream %u", c->stream);
	if (p->only)
		for (size_t i = 0; i < c->data.len; i++)
			if (c->data.data[i] != (uint8_t)p->only)
				fail_msg("byte %llu of the output is 0x%02x",
					 (unsigned long long)(*len + i), c->data.data[i]);
	if (*len < sizeof(p->out) - 1) {
		size_t n = c->data.len < sizeof(p->out) - 1 - *len ? c->data.len
								   : sizeof(p->out) - 1 - *len;

		memcpy(buf + *len, c->data.data, n);
		buf[*len + n] = '\0';
	}
	*len += c->data.len;
}

/* Polls from offset 0 until done; checks that next_offset moves with the
 * chunks and that done comes only with everything up to the end. */
static void poll_all(struct fx *f, struct polled *p)
{
	pid_t pid = runner_local_executor_pid(f->runner);
	long deadline = now_ms() + DONE_MS;

	for (;;) {
		Aicert__V1__PollReply *rep = NULL;
		uint64_t got = 0;

		if (p->max_rss_kb >= 0) {
			long kb = rss_kb(pid);

			if (kb > p->max_rss_kb)
				p->max_rss_kb = kb;
		}
		assert_ok(f, poll_once(f, p->next, 1000, &rep));
		p->polls++;
		for (size_t i = 0; i < rep->n_chunks; i++) {
			polled_add(p, rep->chunks[i]);
			p->chunks++;
			got += rep->chunks[i]->data.len;
		}
		assert_true(rep->next_offset >= p->next + got);
		/* Without drops, the chunks are exactly the bytes in between. */
		if (rep->dropped == 0)
			assert_int_equal(rep->next_offset, p->next + got);
		assert_true(rep->dropped >= p->dropped);
		p->next = rep->next_offset;
		p->dropped = rep->dropped;
		if (rep->done) {
			p->exit_status = rep->exit_status;
			assert_int_equal(p->out_len + p->err_len + p->dropped, p->next);
			free_msg(rep);
			break;
		}
		free_msg(rep);
		if (now_ms() > deadline)
			fail_msg("no done within %d ms (offset %llu)", DONE_MS,
				 (unsigned long long)p->next);
		if (p->pause_ms)
			sleep_ms(p->pause_ms);
	}
}

static void sha256_hex_eq(const uint8_t *got, size_t got_len, const void *data, size_t len)
{
	uint8_t d[32];

	assert_int_equal(got_len, 32);
	SHA256(data, len, d);
	assert_memory_equal(got, d, 32);
}

/* ---- Files --------------------------------------------------------------- */

static char tree_buf[8192];
static size_t tree_skip;

static int tree_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	size_t len = strlen(tree_buf);

	(void)st;
	(void)flag;
	if (ftw->level == 0)
		return 0;
	snprintf(tree_buf + len, sizeof(tree_buf) - len, "%s\n", path + tree_skip);
	return 0;
}

static int tree_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The paths under dir, sorted, one a line. */
static const char *tree(const char *dir)
{
	char copy[sizeof(tree_buf)], *lines[256];
	size_t n = 0;

	tree_buf[0] = '\0';
	tree_skip = strlen(dir) + 1;
	assert_int_equal(nftw(dir, tree_one, 16, FTW_PHYS), 0);
	memcpy(copy, tree_buf, sizeof(copy));
	for (char *s = strtok(copy, "\n"); s && n < 256; s = strtok(NULL, "\n"))
		lines[n++] = s;
	qsort(lines, n, sizeof(*lines), tree_cmp);
	tree_buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(tree_buf);

		snprintf(tree_buf + len, sizeof(tree_buf) - len, "%s\n", lines[i]);
	}
	return tree_buf;
}

static bool exists(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	FMT(path, sizeof(path), "%s/%s", dir, name);
	return lstat(path, &st) == 0;
}

/* ---- 1. Order ------------------------------------------------------------ */

static void calls_out_of_order_are_refused(void **state)
{
	struct fx *f = *state;
	Aicert__V1__StartJobReply *sj = NULL;
	Aicert__V1__FinishReply *fin = NULL;
	struct polled p = {.max_rss_kb = -1};
	const char *yaml = job_yaml("", "sleep 1; " SIMPLE_SCRIPT);

	/* Before StartJob: everything but StartJob. */
	assert_refused(f, run(f), RPC_FAILED_PRECONDITION, "waiting for StartJob");
	assert_refused(f, poll_once(f, 0, 0, NULL), RPC_FAILED_PRECONDITION, "StartJob");
	assert_refused(f, finish(f, NULL), RPC_FAILED_PRECONDITION, "StartJob");
	assert_refused(f, read_output(f, "out.txt", 0, 0, NULL), RPC_FAILED_PRECONDITION,
		       "StartJob");
	assert_refused(f, stage(f, "d", NULL), RPC_FAILED_PRECONDITION, "StartJob");
	assert_refused(f, put(f, "d", "", 0, "x", true), RPC_FAILED_PRECONDITION, "StartJob");
	assert_ok(f, start_job(f, yaml, &sj));
	assert_int_equal(sj->n_inputs, 2);
	assert_string_equal(sj->inputs[0]->name, "d");
	assert_string_equal(sj->inputs[0]->source, "path");
	assert_string_equal(sj->inputs[1]->name, "code");
	sha256_hex_eq(sj->config_sha256.data, sj->config_sha256.len, yaml, strlen(yaml));
	free_msg(sj);
	/* Inputs in the job's order only. */
	assert_refused(f, run(f), RPC_FAILED_PRECONDITION, "input 'd' is not staged");
	assert_refused(f, put(f, "code", "a", 0, "x", true), RPC_FAILED_PRECONDITION,
		       "input 'd' is next");
	assert_refused(f, put(f, "nope", "", 0, "x", true), RPC_FAILED_PRECONDITION,
		       "input 'd' is next");
	assert_refused(f, poll_once(f, 0, 0, NULL), RPC_FAILED_PRECONDITION, NULL);
	assert_refused(f, finish(f, NULL), RPC_FAILED_PRECONDITION, NULL);
	assert_ok(f, put(f, "d", "", 0, "data\n", true));
	assert_ok(f, stage(f, "d", NULL));
	assert_refused(f, run(f), RPC_FAILED_PRECONDITION, "input 'code' is not staged");
	assert_ok(f, put(f, "code", "main.sh", 0, "echo hi\n", true));
	assert_ok(f, stage(f, "code", NULL));
	assert_refused(f, put(f, "code", "late", 0, "x", true), RPC_FAILED_PRECONDITION,
		       "every input is staged");
	/* Running (the command sleeps a second). */
	assert_ok(f, run(f));
	assert_refused(f, run(f), RPC_FAILED_PRECONDITION, "running");
	assert_refused(f, finish(f, NULL), RPC_FAILED_PRECONDITION, "running");
	assert_refused(f, read_output(f, "out.txt", 0, 0, NULL), RPC_FAILED_PRECONDITION,
		       "running");
	assert_refused(f, stage(f, "code", NULL), RPC_FAILED_PRECONDITION, "running");
	poll_all(f, &p);
	assert_int_equal(p.exit_status, 0);
	assert_string_equal(p.out, "hello\n");
	assert_string_equal(p.err, "err\n");
	/* Done: Finish, once; then ReadOutput only. */
	assert_refused(f, read_output(f, "out.txt", 0, 0, NULL), RPC_FAILED_PRECONDITION,
		       "done running");
	assert_ok(f, finish(f, &fin));
	assert_int_equal(fin->n_outputs, 1);
	free_msg(fin);
	assert_refused(f, finish(f, NULL), RPC_FAILED_PRECONDITION, "finished");
	assert_refused(f, run(f), RPC_FAILED_PRECONDITION, "finished");
	assert_refused(f, stage(f, "d", NULL), RPC_FAILED_PRECONDITION, "finished");
	assert_refused(f, put(f, "d", "", 0, "x", true), RPC_FAILED_PRECONDITION, "finished");
	assert_ok(f, read_output(f, "out.txt", 0, 0, NULL));
}

/* A job file that does not parse starts nothing, and StartJob may be tried
 * again, as often as a controller likes: each refusal must leave the
 * executor as it was (no leak, no stuck connection to the agent). */
static void start_job_after_bad_job_files(void **state)
{
	struct fx *f = *state;
	struct polled p = {.max_rss_kb = -1};

	for (int i = 0; i < 20; i++)
		assert_refused(f, start_job(f, "version: 1\nname: [", NULL), RPC_INVALID_ARGUMENT,
			       "job.yaml");
	start_and_stage(f, job_yaml("", SIMPLE_SCRIPT));
	assert_ok(f, run(f));
	poll_all(f, &p);
	assert_ok(f, finish(f, NULL));
}

/* executor_svc.h: "A call out of that order gets FAILED_PRECONDITION
 * (AICERT_ERR_STATE) and changes nothing." A second StartJob (a controller's
 * retry under a new request id, or another controller) must not end the job
 * that runs. */
static void start_job_again_changes_nothing(void **state)
{
	struct fx *f = *state;
	const char *yaml = job_yaml("", SIMPLE_SCRIPT);
	struct polled p = {.max_rss_kb = -1};

	assert_ok(f, start_job(f, yaml, NULL));
	assert_refused(f, start_job(f, yaml, NULL), RPC_FAILED_PRECONDITION, "staging inputs");
	assert_refused(f, start_job(f, job_yaml("", "true"), NULL), RPC_FAILED_PRECONDITION,
		       "staging inputs");
	assert_ok(f, put(f, "d", "", 0, "data\n", true));
	assert_ok(f, stage(f, "d", NULL));
	assert_ok(f, put(f, "code", "main.sh", 0, "echo hi\n", true));
	assert_ok(f, stage(f, "code", NULL));
	assert_ok(f, run(f));
	poll_all(f, &p);
	assert_ok(f, finish(f, NULL));
	assert_refused(f, start_job(f, yaml, NULL), RPC_FAILED_PRECONDITION, "finished");
	assert_ok(f, read_output(f, "out.txt", 0, 0, NULL));
}

/* executor_svc.h: "A call out of that order gets FAILED_PRECONDITION
 * (AICERT_ERR_STATE) and changes nothing." */
static void stage_input_of_another_input_changes_nothing(void **state)
{
	struct fx *f = *state;

	assert_ok(f, start_job(f, job_yaml("", SIMPLE_SCRIPT), NULL));
	assert_ok(f, put(f, "d", "", 0, "data\n", true));
	assert_refused(f, stage(f, "code", NULL), RPC_FAILED_PRECONDITION, "input 'd' is next");
	assert_refused(f, stage(f, "nope", NULL), RPC_FAILED_PRECONDITION, "input 'd' is next");
	/* The job goes on. */
	assert_ok(f, stage(f, "d", NULL));
	assert_ok(f, put(f, "code", "main.sh", 0, "echo hi\n", true));
	assert_refused(f, stage(f, "d", NULL), RPC_FAILED_PRECONDITION, "input 'code' is next");
	assert_ok(f, stage(f, "code", NULL));
	assert_ok(f, run(f));
}

static void stage_input_of_incomplete_file_changes_nothing(void **state)
{
	struct fx *f = *state;
	Aicert__V1__StageInputReply *si = NULL;

	assert_ok(f, start_job(f, job_yaml("", SIMPLE_SCRIPT), NULL));
	assert_ok(f, put(f, "d", "", 0, "da", false));
	assert_refused(f, stage(f, "d", NULL), RPC_FAILED_PRECONDITION, "incomplete");
	/* The file is completed, and the input staged, as if nothing happened. */
	assert_ok(f, put(f, "d", "", 2, "ta\n", true));
	assert_ok(f, stage(f, "d", &si));
	sha256_hex_eq(si->sha256.data, si->sha256.len, "data\n", 5);
	free_msg(si);
}

/* ---- 2. PutFile paths ---------------------------------------------------- */

static void put_file_refuses_paths_outside_the_input(void **state)
{
	struct fx *f = *state;
	const char *ws = runner_local_workspace(f->runner);
	char long_path[2001];
	const char *bad[] = {"../x",         "../../x",     "../../../x", "..",   ".",
			     "a/../../../x", "/etc/passwd", "/x",         "a//b", "a/./b",
			     "./a",          "a/",          "a/..",       "a\tb", "a\nb",
			     "a/\x1b[0m",    "a\x7f",       long_path};
	Aicert__V1__StageInputReply *si = NULL;
	struct stat pw0, pw1;

	memset(long_path, 'a', sizeof(long_path) - 1);
	long_path[sizeof(long_path) - 1] = '\0';
	assert_int_equal(stat("/etc/passwd", &pw0), 0);
	assert_ok(f, start_job(f, job_yaml("", SIMPLE_SCRIPT), NULL));
	assert_ok(f, put(f, "d", "", 0, "data\n", true));
	assert_ok(f, stage(f, "d", NULL));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t st = put(f, "code", bad[i], 0, "root:x:0:0::/:/bin/sh\n", true);

		if (st != RPC_INVALID_ARGUMENT)
			fail_msg("PutFile path #%zu '%.40s': status %u (%s)", i, bad[i], st,
				 f->msg);
	}
	/* Nothing written anywhere: the workspace holds d alone. */
	assert_int_equal(stat("/etc/passwd", &pw1), 0);
	assert_int_equal(pw0.st_size, pw1.st_size);
	assert_int_equal(pw0.st_mtime, pw1.st_mtime);
	assert_false(exists(f->rdir, "x"));
	assert_false(exists(f->dir, "x"));
	assert_false(exists(ws, "x"));
	assert_false(exists(ws, "a"));
	/* Inputs wait in the staging area until Run puts them in place. */
	assert_string_equal(tree(ws), ".aicert-staging\n.aicert-staging/d\n");
	/* The code goes on: one good file, then "" (the input as a single
	 * file) where a directory has begun. */
	assert_ok(f, put(f, "code", "ok.txt", 0, "ok\n", true));
	assert_refused(f, put(f, "code", "", 0, "x", true), RPC_ALREADY_EXISTS, NULL);
	assert_ok(f, stage(f, "code", &si));
	assert_int_equal(si->files, 1);
	assert_int_equal(si->size, 3);
	{
		struct modeldir_file mf = {.path = "ok.txt"};
		uint8_t manifest[32];
		uint64_t size;

		SHA256((const uint8_t *)"ok\n", 3, mf.sha256);
		assert_int_equal(modeldir_manifest_digest(&mf, 1, manifest, &size), 0);
		assert_memory_equal(si->sha256.data, manifest, 32);
	}
	free_msg(si);
	assert_string_equal(tree(ws), ".aicert-staging\n.aicert-staging/code\n"
				      ".aicert-staging/code/ok.txt\n.aicert-staging/d\n");
}

/* ---- 3. PutFile offsets and resends -------------------------------------- */

static void put_file_takes_chunks_in_order_once(void **state)
{
	struct fx *f = *state;
	Aicert__V1__PutFileRequest req;
	Aicert__V1__StageInputReply *si = NULL;
	uint64_t id;

	assert_ok(f, start_job(f, job_yaml("", SIMPLE_SCRIPT), NULL));
	/* No file begun: only offset 0 starts one. */
	assert_refused(f, put(f, "d", "", 5, "late", false), RPC_INVALID_ARGUMENT, "expected 0");
	/* A resent chunk (same request id) is answered from the cache, not
	 * written again; likewise the resent last chunk. */
	assert_int_equal(RAND_bytes((uint8_t *)&id, sizeof(id)), 1);
	id |= 1;
	req = put_req("d", "", 0, "abc", 3, false);
	assert_int_equal(put_raw(f, id, &req), RPC_OK);
	assert_int_equal(put_raw(f, id, &req), RPC_OK);
	assert_refused(f, put(f, "d", "", 6, "xyz", false), RPC_INVALID_ARGUMENT, "expected 3");
	req = put_req("d", "", 3, "def", 3, true);
	assert_int_equal(put_raw(f, id + 1, &req), RPC_OK);
	assert_int_equal(put_raw(f, id + 1, &req), RPC_OK);
	/* The file is complete: not again. */
	assert_refused(f, put(f, "d", "", 0, "again", true), RPC_ALREADY_EXISTS, NULL);
	assert_ok(f, stage(f, "d", &si));
	assert_int_equal(si->size, 6);
	assert_int_equal(si->files, 1);
	sha256_hex_eq(si->sha256.data, si->sha256.len, "abcdef", 6);
	free_msg(si);
	/* A directory: a second file may not start while the first is open. */
	assert_ok(f, put(f, "code", "a.txt", 0, "hel", false));
	assert_refused(f, put(f, "code", "b.txt", 0, "b", true), RPC_INVALID_ARGUMENT,
		       "'a.txt' is being written");
	assert_refused(f, put(f, "code", "a.txt", 0, "hel", false), RPC_INVALID_ARGUMENT,
		       "expected 3");
	assert_refused(f, put(f, "code", "a.txt", 4, "o", true), RPC_INVALID_ARGUMENT,
		       "expected 3");
	assert_ok(f, put(f, "code", "a.txt", 3, "lo", true));
	assert_refused(f, put(f, "code", "a.txt", 0, "x", true), RPC_ALREADY_EXISTS, NULL);
	assert_refused(f, put(f, "code", "a.txt", 5, "x", true), RPC_INVALID_ARGUMENT, NULL);
	assert_ok(f, put(f, "code", "sub/b.txt", 0, "b", true));
	assert_refused(f, put(f, "code", "sub", 0, "x", true), RPC_ALREADY_EXISTS, NULL);
	assert_ok(f, stage(f, "code", &si));
	assert_int_equal(si->files, 2);
	assert_int_equal(si->size, 6);
	free_msg(si);
	assert_ok(f, run(f));
}

/* A chunk goes to the file it names: one for another path is refused even
 * at the open file's offset (an empty first chunk included). */
static void put_file_chunks_belong_to_their_file(void **state)
{
	struct fx *f = *state;
	const char *ws = runner_local_workspace(f->runner);
	Aicert__V1__StageInputReply *si = NULL;
	struct modeldir_file mf[2] = {{.path = "a.txt"}, {.path = "c.txt"}};
	uint8_t manifest[32];
	uint64_t size;

	assert_ok(f, start_job(f, job_yaml("", SIMPLE_SCRIPT), NULL));
	assert_ok(f, put(f, "d", "", 0, "data\n", true));
	assert_ok(f, stage(f, "d", NULL));
	assert_ok(f, put(f, "code", "a.txt", 0, "hel", false));
	if (put(f, "code", "b.txt", 3, "XYZ", true) == RPC_OK)
		fail_msg("a chunk for b.txt at a.txt's offset was taken");
	assert_ok(f, put(f, "code", "a.txt", 3, "lo", true));
	assert_ok(f, put(f, "code", "c.txt", 0, "", false));
	if (put(f, "code", "e.txt", 0, "E", true) == RPC_OK)
		fail_msg("e.txt was started while c.txt (empty so far) was open");
	assert_ok(f, put(f, "code", "c.txt", 0, "C", true));
	assert_ok(f, stage(f, "code", &si));
	assert_int_equal(si->files, 2);
	SHA256((const uint8_t *)"hello", 5, mf[0].sha256);
	SHA256((const uint8_t *)"C", 1, mf[1].sha256);
	assert_int_equal(modeldir_manifest_digest(mf, 2, manifest, &size), 0);
	assert_memory_equal(si->sha256.data, manifest, 32);
	free_msg(si);
	assert_false(exists(ws, "b.txt"));
	assert_false(exists(ws, "e.txt"));
}

/* ---- 4. Fetched inputs --------------------------------------------------- */

static void put_file_refused_for_fetched_input(void **state)
{
	struct fx *f = *state;
	const char *ws = runner_local_workspace(f->runner);
	Aicert__V1__StartJobReply *sj = NULL;
	const char *extra = "  files:\n"
			    "    - name: tok\n"
			    "      url: https://example.invalid/tok.json\n"
			    "      sha256: "
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n";

	assert_ok(f, start_job(f, job_yaml(extra, SIMPLE_SCRIPT), &sj));
	assert_int_equal(sj->n_inputs, 3);
	assert_string_equal(sj->inputs[2]->name, "tok");
	assert_string_equal(sj->inputs[2]->source, "url");
	free_msg(sj);
	assert_ok(f, put(f, "d", "", 0, "data\n", true));
	assert_ok(f, stage(f, "d", NULL));
	assert_ok(f, put(f, "code", "main.sh", 0, "echo hi\n", true));
	assert_ok(f, stage(f, "code", NULL));
	assert_refused(f, put(f, "tok", "", 0, "{}", true), RPC_FAILED_PRECONDITION,
		       "fetched by the executor");
	assert_refused(f, put(f, "tok", "x.json", 0, "{}", true), RPC_FAILED_PRECONDITION,
		       "fetched by the executor");
	assert_false(exists(ws, ".aicert-staging/tok"));
	assert_false(exists(ws, "inputs/tok"));
	assert_refused(f, run(f), RPC_FAILED_PRECONDITION, "input 'tok' is not staged");
}

/* ---- 5. The happy path --------------------------------------------------- */

static void read_in_pieces(struct fx *f, const char *path, uint64_t size, uint32_t piece,
			   uint8_t *buf)
{
	uint64_t off = 0, step = piece ? piece : 1u << 20; /* 0: at most 1 MiB */

	for (;;) {
		Aicert__V1__ReadOutputReply *ro = NULL;
		uint64_t want = size - off < step ? size - off : step;

		assert_ok(f, read_output(f, path, off, piece, &ro));
		assert_int_equal(ro->data.len, want);
		memcpy(buf + off, ro->data.data, ro->data.len);
		off += ro->data.len;
		assert_int_equal(ro->eof, off == size);
		free_msg(ro);
		if (off == size)
			break;
	}
}

static void job_runs_over_the_raw_calls(void **state)
{
	struct fx *f = *state;
	const char *script = "mkdir -p outputs/sub; cat inputs/d > outputs/out.txt; "
			     "cat inputs/d inputs/d inputs/d > outputs/sub/big.bin; "
			     "echo outside > stray.txt; "
			     "head -c 3000000 /dev/zero | tr \"\\0\" y; echo hello; echo err >&2";
	const char *not_outputs[] = {"../runner/agent.log",
				     "../../runner/agent.log",
				     "out.txt/../../x",
				     "../stray.txt",
				     "stray.txt",
				     "../inputs/d",
				     "sub",
				     "./out.txt",
				     "sub//big.bin",
				     "/etc/passwd",
				     ""};
	static uint8_t data[400000], big[3 * sizeof(data)];
	Aicert__V1__StageInputReply *si = NULL;
	Aicert__V1__FinishReply *fin = NULL;
	Aicert__V1__ReadOutputReply *ro = NULL;
	Aicert__V1__PollReply *pr = NULL;
	struct polled p = {.max_rss_kb = -1};
	size_t chunk = 100000;

	assert_int_equal(RAND_bytes(data, sizeof(data)), 1);
	assert_ok(f, start_job(f, job_yaml("", script), NULL));
	/* d in four chunks. */
	for (size_t off = 0; off < sizeof(data); off += chunk) {
		Aicert__V1__PutFileRequest req =
			put_req("d", "", off, data + off, chunk, off + chunk == sizeof(data));

		assert_ok(f, call(f, "PutFile", &req, NULL));
	}
	assert_ok(f, stage(f, "d", &si));
	sha256_hex_eq(si->sha256.data, si->sha256.len, data, sizeof(data));
	assert_int_equal(si->size, sizeof(data));
	assert_int_equal(si->files, 1);
	assert_string_equal(si->uri, "/controller/data/d.bin");
	free_msg(si);
	assert_ok(f, put(f, "code", "main.sh", 0, "echo hi\n", true));
	assert_ok(f, stage(f, "code", NULL));
	assert_ok(f, run(f));
	/* Let the command end first: done must still wait for every byte
	 * (over 3 MB, more than one Poll carries). */
	sleep_ms(1500);
	assert_ok(f, poll_once(f, 0, 0, &pr));
	assert_false(pr->done);
	assert_true(pr->next_offset > 0 && pr->next_offset < 3000000);
	free_msg(pr);
	assert_refused(f, poll_once(f, 3000000 + 6 + 4 + 1, 0, NULL), RPC_INVALID_ARGUMENT,
		       "past the output's end");
	assert_refused(f, poll_once(f, UINT64_MAX, 0, NULL), RPC_INVALID_ARGUMENT, NULL);
	poll_all(f, &p);
	assert_true(p.polls >= 3);
	assert_int_equal(p.exit_status, 0);
	assert_int_equal(p.dropped, 0);
	assert_int_equal(p.out_len, 3000000 + 6);
	assert_int_equal(p.err_len, 4);
	assert_string_equal(p.err, "err\n");
	assert_int_equal(p.out[0], 'y');
	/* After done: the end is the end. */
	assert_refused(f, poll_once(f, p.next + 1, 0, NULL), RPC_INVALID_ARGUMENT, NULL);
	assert_ok(f, poll_once(f, p.next, 0, &pr));
	assert_true(pr->done);
	assert_int_equal(pr->n_chunks, 0);
	free_msg(pr);
	/* The outputs, measured: what the command wrote. */
	assert_ok(f, finish(f, &fin));
	assert_int_equal(fin->exit_status, 0);
	assert_int_equal(fin->n_outputs, 2);
	assert_string_equal(fin->outputs[0]->path, "out.txt");
	assert_int_equal(fin->outputs[0]->size, sizeof(data));
	sha256_hex_eq(fin->outputs[0]->sha256.data, fin->outputs[0]->sha256.len, data,
		      sizeof(data));
	assert_string_equal(fin->outputs[1]->path, "sub/big.bin");
	assert_int_equal(fin->outputs[1]->size, sizeof(big));
	for (size_t i = 0; i < 3; i++)
		memcpy(big + i * sizeof(data), data, sizeof(data));
	sha256_hex_eq(fin->outputs[1]->sha256.data, fin->outputs[1]->sha256.len, big, sizeof(big));
	{
		uint8_t d[2][32], root[32];

		memcpy(d[0], fin->outputs[0]->sha256.data, 32);
		memcpy(d[1], fin->outputs[1]->sha256.data, 32);
		assert_int_equal(events_outputs_root((const uint8_t(*)[32])d, 2, root), 0);
		assert_memory_equal(fin->root_sha256.data, root, 32);
	}
	free_msg(fin);
	/* ReadOutput: exactly the files, in odd pieces and in whole MiBs. */
	memset(big, 0, sizeof(big));
	read_in_pieces(f, "out.txt", sizeof(data), 65537, big);
	assert_memory_equal(big, data, sizeof(data));
	memset(big, 0, sizeof(big));
	read_in_pieces(f, "sub/big.bin", sizeof(big), 0, big); /* 0: the 1 MiB default */
	for (size_t i = 0; i < 3; i++)
		assert_memory_equal(big + i * sizeof(data), data, sizeof(data));
	assert_ok(f, read_output(f, "out.txt", sizeof(data) - 3, 1000, &ro));
	assert_int_equal(ro->data.len, 3);
	assert_memory_equal(ro->data.data, data + sizeof(data) - 3, 3);
	assert_true(ro->eof);
	free_msg(ro);
	assert_ok(f, read_output(f, "out.txt", sizeof(data), 0, &ro));
	assert_int_equal(ro->data.len, 0);
	assert_true(ro->eof);
	free_msg(ro);
	assert_refused(f, read_output(f, "out.txt", sizeof(data) + 1, 0, NULL),
		       RPC_INVALID_ARGUMENT, "past the end");
	assert_refused(f, read_output(f, "out.txt", UINT64_MAX, 1, NULL), RPC_INVALID_ARGUMENT,
		       "past the end");
	for (size_t i = 0; i < sizeof(not_outputs) / sizeof(not_outputs[0]); i++) {
		uint32_t st = read_output(f, not_outputs[i], 0, 0, NULL);

		if (st != RPC_NOT_FOUND)
			fail_msg("ReadOutput '%s': status %u (%s)", not_outputs[i], st, f->msg);
	}
}

/* ---- 6. Symbolic links in the outputs ------------------------------------ */

static void finish_refuses_link(struct fx *f, const char *link_cmd)
{
	char script[1024];
	struct polled p = {.max_rss_kb = -1};
	uint32_t st;

	FMT(script, sizeof(script),
	    "mkdir -p outputs; echo secret-in-workspace > keep.txt; echo fine > outputs/real.txt; "
	    "%s",
	    link_cmd);
	start_and_stage(f, job_yaml("", script));
	assert_ok(f, run(f));
	poll_all(f, &p);
	assert_int_equal(p.exit_status, 0);
	st = finish(f, NULL);
	if (st == RPC_OK)
		fail_msg("Finish measured outputs with a symbolic link (%s)", link_cmd);
	assert_true(strstr(f->msg, "symbolic link") != NULL);
	/* The job is failed: nothing is served, nothing finishes. */
	assert_refused(f, finish(f, NULL), RPC_FAILED_PRECONDITION, "failed");
	assert_refused(f, read_output(f, "pw", 0, 0, NULL), RPC_FAILED_PRECONDITION, "failed");
	assert_refused(f, read_output(f, "ws", 0, 0, NULL), RPC_FAILED_PRECONDITION, "failed");
	assert_refused(f, read_output(f, "real.txt", 0, 0, NULL), RPC_FAILED_PRECONDITION,
		       "failed");
	assert_null(strstr(f->msg, "root:"));
}

static void finish_refuses_symbolic_links(void **state)
{
	struct fx *f = *state;

	finish_refuses_link(f, "ln -s /etc/passwd outputs/pw");
	fx_stop(f);
	fx_start(f);
	finish_refuses_link(f, "ln -s ../keep.txt outputs/ws");
}

/* ---- 7. Output floods ---------------------------------------------------- */

static void output_flood_is_bounded(void **state)
{
	struct fx *f = *state;
	pid_t pid;
	struct polled p = {.only = 'x', .pause_ms = 50};
	const uint64_t total = 100000000;

	start_and_stage(
		f, job_yaml("", "mkdir -p outputs; head -c 100000000 /dev/zero | tr \"\\0\" x"));
	pid = runner_local_executor_pid(f->runner);
	p.max_rss_kb = rss_kb(pid);
	assert_ok(f, run(f));
	/* A controller that is late, then slow. */
	for (int i = 0; i < 20; i++) {
		long kb = rss_kb(pid);

		if (kb > p.max_rss_kb)
			p.max_rss_kb = kb;
		sleep_ms(100);
	}
	poll_all(f, &p);
	print_message("flood: %llu bytes delivered, %llu dropped, %llu polls, max RSS %ld kB\n",
		      (unsigned long long)p.out_len, (unsigned long long)p.dropped,
		      (unsigned long long)p.polls, p.max_rss_kb);
	assert_int_equal(p.exit_status, 0);
	assert_int_equal(p.next, total);
	assert_true(p.dropped > 0 || p.out_len == total);
	assert_int_equal(p.out_len + p.dropped, total);
	assert_int_equal(p.err_len, 0);
	if (p.max_rss_kb > MAX_RSS_KB)
		fail_msg("the executor's RSS reached %ld kB", p.max_rss_kb);
	assert_ok(f, finish(f, NULL));
}

/* The same with one-byte writes: what the executor holds must stay within a
 * small multiple of the bytes it keeps (EXECUTOR_SVC_MAX_BACKLOG), however
 * the command chops them, or a full backlog of tiny chunks costs gigabytes.
 * The command ends before the first Poll, so nothing is freed in between. */
static void output_flood_of_tiny_writes_is_bounded(void **state)
{
	struct fx *f = *state;
	const uint64_t total = 3000000;
	struct polled p = {.only = 'z', .max_rss_kb = -1};
	pid_t pid = runner_local_executor_pid(f->runner);
	long rss0, rss1 = 0, growth, t0;

	start_and_stage(f, job_yaml("", "mkdir -p outputs; yes z | tr -d \"\\n\" | "
					"dd bs=1 count=3000000 status=none"));
	rss0 = rss_kb(pid);
	assert_ok(f, run(f));
	for (t0 = now_ms(); now_ms() - t0 < 5000; sleep_ms(100)) {
		long kb = rss_kb(pid);

		rss1 = kb > rss1 ? kb : rss1;
	}
	poll_all(f, &p);
	growth = (rss1 - rss0) * 1024L;
	print_message("tiny writes: %llu bytes in %llu chunks, RSS %ld kB, then %ld kB\n",
		      (unsigned long long)p.out_len, (unsigned long long)p.chunks, rss0, rss1);
	assert_int_equal(p.exit_status, 0);
	assert_int_equal(p.dropped, 0);
	assert_int_equal(p.out_len, total);
	if (growth > 3 * (long)total + (8L << 20))
		fail_msg("holding %llu bytes of output in %llu chunks took %ld kB (%.1f bytes "
			 "a byte): a full backlog of %u MiB would take %.0f MiB",
			 (unsigned long long)total, (unsigned long long)p.chunks, growth / 1024,
			 (double)growth / (double)total, EXECUTOR_SVC_MAX_BACKLOG >> 20,
			 (double)growth / (double)total * (EXECUTOR_SVC_MAX_BACKLOG >> 20));
	assert_ok(f, finish(f, NULL));
}

/* ASan's quarantine keeps freed memory resident (256 MiB by default): the
 * flood tests measure the executor, so its runner gets a small one. */
static int setup_flood(void **state)
{
	const char *old = getenv("ASAN_OPTIONS");
	char opts[1024];

	FMT(opts, sizeof(opts), "%s%squarantine_size_mb=4", old ? old : "", old ? ":" : "");
	if (old)
		assert_int_equal(setenv("AICERT_TEST_ASAN_OPTIONS", old, 1), 0);
	assert_int_equal(setenv("ASAN_OPTIONS", opts, 1), 0);
	return setup(state);
}

static int teardown_flood(void **state)
{
	const char *old = getenv("AICERT_TEST_ASAN_OPTIONS");

	if (old)
		setenv("ASAN_OPTIONS", old, 1);
	else
		unsetenv("ASAN_OPTIONS");
	unsetenv("AICERT_TEST_ASAN_OPTIONS");
	return teardown(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(calls_out_of_order_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(start_job_after_bad_job_files, setup, teardown),
		cmocka_unit_test_setup_teardown(start_job_again_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(stage_input_of_another_input_changes_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(stage_input_of_incomplete_file_changes_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(put_file_refuses_paths_outside_the_input, setup,
						teardown),
		cmocka_unit_test_setup_teardown(put_file_takes_chunks_in_order_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(put_file_chunks_belong_to_their_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(put_file_refused_for_fetched_input, setup,
						teardown),
		cmocka_unit_test_setup_teardown(job_runs_over_the_raw_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(finish_refuses_symbolic_links, setup, teardown),
		cmocka_unit_test_setup_teardown(output_flood_is_bounded, setup_flood,
						teardown_flood),
		cmocka_unit_test_setup_teardown(output_flood_of_tiny_writes_is_bounded, setup_flood,
						teardown_flood),
	};
	int r;

	if (getenv("AICERT_TEST_FILTER"))
		cmocka_set_test_filter(getenv("AICERT_TEST_FILTER"));
	r = cmocka_run_group_tests_name("executor_svc", tests, NULL, NULL);
	nng_fini();
	return r;
}
