/* The executor's RPC service: the job's state machine over executor.c. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "aicert.pb-c.h"
#include "err.h"
#include "events.h"
#include "executor.h"
#include "executor_svc.h"
#include "fetch.h"
#include "fileio.h"
#include "jobcfg.h"
#include "log.h"
#include "modeldir.h"
#include "rpc.h"

enum svc_state {
	SVC_NEW,      /* waiting for StartJob */
	SVC_STAGING,  /* inputs, in order */
	SVC_RUNNING,  /* the command runs */
	SVC_DONE,     /* it ended; Finish measures the outputs */
	SVC_FINISHED, /* outputs measured: ReadOutput */
	SVC_FAILED,   /* a measurement failed: the job cannot be completed */
};

struct svc_chunk {
	uint64_t start; /* offset of data[0] in the whole output */
	uint32_t stream;
	size_t len, cap;
	char *data;
};

#define SVC_CHUNK_MIN (16u << 10)

struct executor_svc {
	Aicert__V1__Executor_Service service; /* first: handlers cast back */
	struct executor_svc_opts o;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	enum svc_state state;
	struct executor *ex;
	struct jobcfg *cfg;
	size_t next_input;
	/* The file PutFile is writing, if any. */
	int put_fd;
	char *put_path;
	char *put_rel; /* its path as PutFile names it */
	uint64_t put_off;
	/* The command. */
	pthread_t runner;
	bool runner_started;
	int cancel[2];
	int status;
	int run_err;
	char run_msg[512];
	uint64_t wall_ms;
	/* Output not yet polled, in order. */
	struct svc_chunk *chunks;
	size_t n_chunks, cap_chunks;
	uint64_t out_end; /* offset after the last byte received */
	uint64_t backlog; /* bytes held in chunks */
	uint64_t dropped;
	struct executor_outputs outs;
};

static struct executor_svc *svc_of(Aicert__V1__Executor_Service *svc)
{
	return (struct executor_svc *)svc;
}

#define FAIL(call, closure, r)                                                                     \
	do {                                                                                       \
		rpc_call_fail_err((call), (r));                                                    \
		(closure)(NULL, (call));                                                           \
	} while (0)

static const char *svc_state_name(enum svc_state st)
{
	static const char *const names[] = {"waiting for StartJob", "staging inputs", "running",
					    "done running",         "finished",       "failed"};
	return names[st];
}

static int svc_expect(const struct executor_svc *s, enum svc_state want, const char *call)
{
	if (s->state == want)
		return 0;
	return err_set(AICERT_ERR_STATE, "%s: the job is %s", call, svc_state_name(s->state));
}

/* ---- StartJob ------------------------------------------------------------ */

/* What a chunk costs against the backlog: its buffer and its record. */
static size_t svc_chunk_cost(size_t cap)
{
	return cap + sizeof(struct svc_chunk) + 32;
}

static void svc_output(void *ctx, enum sandbox_stream st, const char *buf, size_t len)
{
	struct executor_svc *s = ctx;
	struct svc_chunk *c = s->n_chunks ? &s->chunks[s->n_chunks - 1] : NULL;
	size_t cap;

	pthread_mutex_lock(&s->mu);
	/* A command that writes a byte at a time costs no more than one that
	 * writes in blocks: same-stream output fills the last chunk. */
	if (c && c->stream == (uint32_t)st && c->len + len <= c->cap) {
		memcpy(c->data + c->len, buf, len);
		c->len += len;
		s->out_end += len;
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->mu);
		return;
	}
	cap = len > SVC_CHUNK_MIN ? len : SVC_CHUNK_MIN;
	if (s->backlog + svc_chunk_cost(cap) > EXECUTOR_SVC_MAX_BACKLOG)
		goto drop;
	if (s->n_chunks == s->cap_chunks) {
		size_t n = s->cap_chunks ? 2 * s->cap_chunks : 64;
		struct svc_chunk *grown = realloc(s->chunks, n * sizeof(*grown));

		if (!grown)
			goto drop;
		s->chunks = grown;
		s->cap_chunks = n;
	}
	c = &s->chunks[s->n_chunks];
	c->data = malloc(cap);
	if (!c->data)
		goto drop;
	memcpy(c->data, buf, len);
	c->len = len;
	c->cap = cap;
	c->stream = (uint32_t)st;
	c->start = s->out_end;
	s->n_chunks++;
	s->out_end += len;
	s->backlog += svc_chunk_cost(cap);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
	return;
drop:
	/* Never block the command: what the controller does not fetch in
	 * time is counted, not kept. */
	s->dropped += len;
	s->out_end += len;
	pthread_mutex_unlock(&s->mu);
}

static void svc_start_job(Aicert__V1__Executor_Service *svc, const Aicert__V1__StartJobRequest *in,
			  Aicert__V1__StartJobReply_Closure closure, void *data)
{
	Aicert__V1__StartJobReply out = AICERT__V1__START_JOB_REPLY__INIT;
	Aicert__V1__InputInfo *info = NULL, **infos = NULL;
	struct executor_svc *s = svc_of(svc);
	struct executor_opts eo = {.agent_url = s->o.agent_url,
				   .workspace = s->o.workspace,
				   .hide = s->o.hide,
				   .run_uid = s->o.run_uid,
				   .run_gid = s->o.run_gid,
				   .local_base = in->local_base[0] ? in->local_base : NULL,
				   .cancel_fd = s->cancel[0],
				   .output = svc_output,
				   .ctx = s};
	int r;

	pthread_mutex_lock(&s->mu);
	/* A refusal changes nothing: the job (if any) goes on, and a StartJob
	 * that failed before job-start was extended may be tried again. */
	r = svc_expect(s, SVC_NEW, "StartJob");
	if (r == 0 && in->local_base[0] && !s->o.allow_local_base)
		r = err_set(AICERT_ERR_PERMISSION,
			    "local_base: this executor does not share the controller's files");
	if (r == 0 && in->local_base[0] && in->local_base[0] != '/')
		r = err_set(AICERT_ERR_INVALID, "local_base: an absolute path");
	/* The job file is checked before the agent is dialled: a connection
	 * opened and dropped at once is what trips nng 1.5's listener
	 * (nanomsg/nng#1518), so bad requests must not cause one. */
	if (r == 0) {
		struct jobcfg *check = NULL;

		r = jobcfg_parse("job.yaml", NULL, in->job.data, in->job.len, &check);
		jobcfg_free(check);
	}
	if (r == 0)
		r = executor_open(&eo, &s->ex);
	if (r == 0) {
		r = executor_start(s->ex, in->job.data, in->job.len, in->job_id, in->nonce.data,
				   in->nonce.len, &s->cfg);
		/* executor_start extends job-start last: nothing is logged. */
		if (r < 0) {
			executor_free(s->ex);
			s->ex = NULL;
		}
	}
	if (r < 0) {
		pthread_mutex_unlock(&s->mu);
		FAIL(data, closure, r);
		return;
	}
	infos = calloc(s->cfg->n_inputs + 1, sizeof(*infos));
	info = calloc(s->cfg->n_inputs + 1, sizeof(*info));
	if (!infos || !info) {
		s->state = SVC_FAILED; /* job-start is in the log */
		pthread_mutex_unlock(&s->mu);
		free(infos);
		free(info);
		FAIL(data, closure, AICERT_ERR_NOMEM);
		return;
	}
	for (size_t i = 0; i < s->cfg->n_inputs; i++) {
		const struct jobcfg_input *ji = &s->cfg->inputs[i];

		aicert__v1__input_info__init(&info[i]);
		info[i].name = ji->name;
		info[i].kind = (char *)jobcfg_kind_name(ji->kind);
		info[i].source = (char *)jobcfg_source_name(ji->source);
		infos[i] = &info[i];
	}
	s->state = SVC_STAGING;
	out.config_sha256.data = s->cfg->sha256;
	out.config_sha256.len = 32;
	out.inputs = infos;
	out.n_inputs = s->cfg->n_inputs;
	log_info("job %s started: %zu inputs", in->job_id, s->cfg->n_inputs);
	closure(&out, data);
	pthread_mutex_unlock(&s->mu);
	free(infos);
	free(info);
}

/* ---- Inputs -------------------------------------------------------------- */

/* mkdir -p of the directories between base and the file at rel. */
static int svc_parents(const char *base, const char *rel)
{
	char *p = NULL;
	int r = 0;

	if (asprintf(&p, "%s/%s", base, rel) < 0)
		return AICERT_ERR_NOMEM;
	for (char *c = p + strlen(base) + 1; r == 0 && (c = strchr(c, '/')); c++) {
		*c = '\0';
		r = fileio_mkdir(p, 0755);
		*c = '/';
	}
	free(p);
	return r;
}

static const struct jobcfg_input *svc_next_input(struct executor_svc *s, const char *name,
						 const char *call)
{
	const struct jobcfg_input *in;

	if (s->next_input >= s->cfg->n_inputs) {
		err_set(AICERT_ERR_STATE, "%s: every input is staged already", call);
		return NULL;
	}
	in = &s->cfg->inputs[s->next_input];
	if (strcmp(in->name, name) != 0) {
		err_set(AICERT_ERR_STATE, "%s: input '%s' is next, not '%s'", call, in->name, name);
		return NULL;
	}
	return in;
}

static void svc_put_close(struct executor_svc *s)
{
	if (s->put_fd >= 0)
		close(s->put_fd);
	s->put_fd = -1;
	free(s->put_path);
	free(s->put_rel);
	s->put_path = NULL;
	s->put_rel = NULL;
	s->put_off = 0;
}

static int svc_put(struct executor_svc *s, const Aicert__V1__PutFileRequest *in)
{
	const struct jobcfg_input *ji = svc_next_input(s, in->input, "PutFile");
	char *base = NULL, *path = NULL;
	int r = 0;

	if (!ji)
		return AICERT_ERR_STATE;
	if (ji->source != JOBCFG_SOURCE_PATH)
		return err_set(AICERT_ERR_STATE, "PutFile: input '%s' is fetched by the executor",
			       ji->name);
	if (in->offset == 0 && s->put_fd < 0) {
		base = executor_input_path(s->ex, ji);
		if (!base)
			return AICERT_ERR_NOMEM;
		if (in->path[0]) {
			r = fileio_check_relpath("path", in->path, EVENTS_MAX_PATH);
			if (r == 0 && asprintf(&path, "%s/%s", base, in->path) < 0)
				r = AICERT_ERR_NOMEM;
		} else {
			/* A single file: the input's staging place itself. */
			path = base;
			base = NULL;
		}
		free(base);
		/* Its directories, from the workspace down. */
		if (r == 0)
			r = svc_parents(s->o.workspace, path + strlen(s->o.workspace) + 1);
		if (r == 0) {
			s->put_fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
					 in->executable ? 0755 : 0644);
			if (s->put_fd < 0)
				r = err_set(errno == EEXIST ? AICERT_ERR_EXISTS : AICERT_ERR_IO,
					    "%s: %s", path, strerror(errno));
		}
		if (r < 0) {
			free(path);
			return r;
		}
		s->put_rel = strdup(in->path);
		if (!s->put_rel) {
			close(s->put_fd);
			s->put_fd = -1;
			unlink(path);
			free(path);
			return AICERT_ERR_NOMEM;
		}
		s->put_path = path;
		s->put_off = 0;
	} else if (s->put_fd < 0 || in->offset != s->put_off || strcmp(in->path, s->put_rel) != 0) {
		if (s->put_fd >= 0 && strcmp(in->path, s->put_rel) != 0)
			return err_set(AICERT_ERR_INVALID,
				       "PutFile %s '%s': '%s' is being written; finish it first",
				       in->input, in->path, s->put_rel);
		return err_set(AICERT_ERR_INVALID, "PutFile %s '%s': offset %llu, expected %llu",
			       in->input, in->path, (unsigned long long)in->offset,
			       (unsigned long long)(s->put_fd < 0 ? 0 : s->put_off));
	}
	for (size_t done = 0; done < in->data.len;) {
		ssize_t n = write(s->put_fd, in->data.data + done, in->data.len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* Disk full and the like: the job cannot go on with
			 * this input, and must not start without it. */
			r = err_set(AICERT_ERR_IO, "%s: %s", s->put_path,
				    n < 0 ? strerror(errno) : "short write");
			unlink(s->put_path);
			svc_put_close(s);
			return r;
		}
		done += (size_t)n;
	}
	s->put_off += in->data.len;
	if (in->last) {
		if (close(s->put_fd) < 0) {
			s->put_fd = -1;
			r = err_set(AICERT_ERR_IO, "%s: %s", s->put_path, strerror(errno));
			unlink(s->put_path);
		}
		s->put_fd = -1;
		svc_put_close(s);
	}
	return r;
}

static void svc_put_file(Aicert__V1__Executor_Service *svc, const Aicert__V1__PutFileRequest *in,
			 Aicert__V1__PutFileReply_Closure closure, void *data)
{
	Aicert__V1__PutFileReply out = AICERT__V1__PUT_FILE_REPLY__INIT;
	struct executor_svc *s = svc_of(svc);
	int r;

	pthread_mutex_lock(&s->mu);
	r = svc_expect(s, SVC_STAGING, "PutFile");
	if (r == 0)
		r = svc_put(s, in);
	pthread_mutex_unlock(&s->mu);
	if (r < 0) {
		FAIL(data, closure, r);
		return;
	}
	closure(&out, data);
}

static void svc_stage_input(Aicert__V1__Executor_Service *svc,
			    const Aicert__V1__StageInputRequest *in,
			    Aicert__V1__StageInputReply_Closure closure, void *data)
{
	Aicert__V1__StageInputReply out = AICERT__V1__STAGE_INPUT_REPLY__INIT;
	struct executor_svc *s = svc_of(svc);
	struct fetch_opts fo = {.ca_file = s->o.ca_file};
	const struct jobcfg_input *ji = NULL;
	struct events_input ev;
	int r;

	pthread_mutex_lock(&s->mu);
	r = svc_expect(s, SVC_STAGING, "StageInput");
	if (r == 0 && !(ji = svc_next_input(s, in->input, "StageInput")))
		r = AICERT_ERR_STATE;
	if (r == 0 && s->put_fd >= 0)
		r = err_set(AICERT_ERR_STATE, "StageInput: %s is incomplete (no last chunk)",
			    s->put_path);
	if (r == 0) {
		/* From here a failure fails the job: the input may have been
		 * extended, or the job would run without it. A refusal above
		 * changes nothing. */
		if (ji->source == JOBCFG_SOURCE_PATH)
			r = executor_seal(s->ex, ji, ji->location, &ev);
		else
			r = executor_fetch(s->ex, ji, &fo, &ev);
		if (r < 0)
			s->state = SVC_FAILED;
	}
	if (r == 0)
		s->next_input++;
	pthread_mutex_unlock(&s->mu);
	if (r < 0) {
		FAIL(data, closure, r);
		return;
	}
	out.sha256.data = ev.sha256;
	out.sha256.len = 32;
	out.files = ev.files;
	out.size = ev.size;
	out.uri = ev.uri;
	log_info("input %s staged: %llu files, %llu bytes", in->input, (unsigned long long)ev.files,
		 (unsigned long long)ev.size);
	closure(&out, data);
}

/* ---- Run and Poll -------------------------------------------------------- */

static void *svc_run_thread(void *arg)
{
	struct executor_svc *s = arg;
	uint64_t wall = 0;
	int status = 255, r;

	r = executor_run(s->ex, s->cfg, &status, &wall);
	pthread_mutex_lock(&s->mu);
	s->status = status;
	s->wall_ms = wall;
	s->run_err = r;
	if (r < 0)
		snprintf(s->run_msg, sizeof(s->run_msg), "%s", err_msg(r));
	s->state = SVC_DONE;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
	log_info("command ended: status %d after %llu ms%s%s", status, (unsigned long long)wall,
		 r < 0 ? ": " : "", r < 0 ? s->run_msg : "");
	return NULL;
}

static void svc_run(Aicert__V1__Executor_Service *svc, const Aicert__V1__RunRequest *in,
		    Aicert__V1__RunReply_Closure closure, void *data)
{
	Aicert__V1__RunReply out = AICERT__V1__RUN_REPLY__INIT;
	struct executor_svc *s = svc_of(svc);
	int r;

	(void)in;
	pthread_mutex_lock(&s->mu);
	r = svc_expect(s, SVC_STAGING, "Run");
	if (r == 0 && s->next_input < s->cfg->n_inputs)
		r = err_set(AICERT_ERR_STATE, "Run: input '%s' is not staged",
			    s->cfg->inputs[s->next_input].name);
	if (r == 0) {
		s->state = SVC_RUNNING;
		if (pthread_create(&s->runner, NULL, svc_run_thread, s) != 0) {
			s->state = SVC_FAILED;
			r = err_set(AICERT_ERR_INTERNAL, "Run: no thread for the command");
		} else {
			s->runner_started = true;
		}
	}
	pthread_mutex_unlock(&s->mu);
	if (r < 0) {
		FAIL(data, closure, r);
		return;
	}
	closure(&out, data);
}

/* Frees the chunks the caller has (those ending at or before offset). */
static void svc_trim(struct executor_svc *s, uint64_t offset)
{
	size_t k = 0;

	while (k < s->n_chunks && s->chunks[k].start + s->chunks[k].len <= offset) {
		s->backlog -= svc_chunk_cost(s->chunks[k].cap);
		free(s->chunks[k].data);
		k++;
	}
	if (k == 0)
		return;
	memmove(s->chunks, s->chunks + k, (s->n_chunks - k) * sizeof(*s->chunks));
	s->n_chunks -= k;
}

static void svc_poll(Aicert__V1__Executor_Service *svc, const Aicert__V1__PollRequest *in,
		     Aicert__V1__PollReply_Closure closure, void *data)
{
	Aicert__V1__PollReply out = AICERT__V1__POLL_REPLY__INIT;
	Aicert__V1__OutputChunk *oc = NULL, **ocs = NULL;
	struct executor_svc *s = svc_of(svc);
	uint32_t wait =
		in->wait_ms < EXECUTOR_SVC_MAX_WAIT_MS ? in->wait_ms : EXECUTOR_SVC_MAX_WAIT_MS;
	int64_t left = rpc_call_remaining_ms(data) - 500;
	struct timespec until;
	size_t n = 0, bytes = 0, want = 0;
	int r = 0;

	if (left < (int64_t)wait)
		wait = left > 0 ? (uint32_t)left : 0;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += wait / 1000;
	until.tv_nsec += (long)(wait % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&s->mu);
	if (s->state < SVC_RUNNING || (s->state == SVC_FAILED && !s->runner_started))
		r = err_set(AICERT_ERR_STATE, "Poll: the job is %s", svc_state_name(s->state));
	else if (in->offset > s->out_end)
		r = err_set(AICERT_ERR_INVALID, "Poll: offset %llu is past the output's end",
			    (unsigned long long)in->offset);
	/* Wait for output past offset, or the end. */
	while (r == 0 && s->state == SVC_RUNNING && s->out_end <= in->offset)
		if (pthread_cond_timedwait(&s->cond, &s->mu, &until) == ETIMEDOUT)
			break;
	if (r == 0) {
		size_t bytes_in = 0;

		svc_trim(s, in->offset);
		/* As many records as the reply will carry, not as are held. */
		while (want < s->n_chunks && bytes_in < EXECUTOR_SVC_MAX_POLL)
			bytes_in += s->chunks[want++].len;
		ocs = calloc(want + 1, sizeof(*ocs));
		oc = calloc(want + 1, sizeof(*oc));
		if (!ocs || !oc)
			r = AICERT_ERR_NOMEM;
	}
	out.next_offset = in->offset;
	for (size_t i = 0; r == 0 && i < s->n_chunks && n < want && bytes < EXECUTOR_SVC_MAX_POLL;
	     i++) {
		struct svc_chunk *c = &s->chunks[i];
		size_t skip = c->start < in->offset ? (size_t)(in->offset - c->start) : 0;
		size_t len = c->len - skip;

		if (len > EXECUTOR_SVC_MAX_POLL - bytes)
			len = EXECUTOR_SVC_MAX_POLL - bytes;
		aicert__v1__output_chunk__init(&oc[n]);
		oc[n].stream = c->stream;
		oc[n].data.data = (uint8_t *)c->data + skip;
		oc[n].data.len = len;
		ocs[n] = &oc[n];
		n++;
		bytes += len;
		out.next_offset = c->start + skip + len;
	}
	/* Output dropped in between: skip over it. */
	if (r == 0 && n == 0 && s->n_chunks == 0)
		out.next_offset = s->out_end;
	out.chunks = ocs;
	out.n_chunks = n;
	out.dropped = s->dropped;
	/* Done only once the caller has every byte. */
	out.done = r == 0 && s->state >= SVC_DONE && s->runner_started &&
		   out.next_offset == s->out_end;
	if (out.done) {
		out.exit_status = s->status;
		out.timed_out = s->run_err == AICERT_ERR_TIMEOUT;
		out.wall_ms = s->wall_ms;
		out.error = s->run_msg;
	}
	if (r < 0) {
		pthread_mutex_unlock(&s->mu);
		free(ocs);
		free(oc);
		FAIL(data, closure, r);
		return;
	}
	closure(&out, data);
	pthread_mutex_unlock(&s->mu);
	free(ocs);
	free(oc);
}

/* ---- Finish and ReadOutput ----------------------------------------------- */

static void svc_finish(Aicert__V1__Executor_Service *svc, const Aicert__V1__FinishRequest *in,
		       Aicert__V1__FinishReply_Closure closure, void *data)
{
	Aicert__V1__FinishReply out = AICERT__V1__FINISH_REPLY__INIT;
	Aicert__V1__OutputFile *of = NULL, **ofs = NULL;
	struct executor_svc *s = svc_of(svc);
	int r;

	(void)in;
	pthread_mutex_lock(&s->mu);
	r = svc_expect(s, SVC_DONE, "Finish");
	if (r == 0) {
		/* A command that could not even start ran for no time. */
		int status = s->run_err < 0 && s->run_err != AICERT_ERR_TIMEOUT &&
					     s->run_err != AICERT_ERR_CANCELLED
				     ? 127
				     : s->status;

		r = executor_finish(s->ex, s->cfg, status, s->wall_ms, &s->outs);
		s->status = status;
		s->state = r == 0 ? SVC_FINISHED : SVC_FAILED;
	}
	if (r == 0) {
		ofs = calloc(s->outs.n + 1, sizeof(*ofs));
		of = calloc(s->outs.n + 1, sizeof(*of));
		if (!ofs || !of)
			r = AICERT_ERR_NOMEM;
	}
	if (r < 0) {
		pthread_mutex_unlock(&s->mu);
		free(ofs);
		free(of);
		FAIL(data, closure, r);
		return;
	}
	for (size_t i = 0; i < s->outs.n; i++) {
		aicert__v1__output_file__init(&of[i]);
		of[i].path = s->outs.files[i].path;
		of[i].sha256.data = s->outs.files[i].sha256;
		of[i].sha256.len = 32;
		of[i].size = s->outs.files[i].size;
		ofs[i] = &of[i];
	}
	out.outputs = ofs;
	out.n_outputs = s->outs.n;
	out.root_sha256.data = s->outs.root;
	out.root_sha256.len = 32;
	out.exit_status = s->status;
	out.flops = s->outs.flops;
	out.wall_ms = s->wall_ms;
	log_info("outputs measured: %zu files", s->outs.n);
	closure(&out, data);
	pthread_mutex_unlock(&s->mu);
	free(ofs);
	free(of);
}

static int svc_cmp_path(const void *key, const void *elem)
{
	return strcmp(key, ((const struct modeldir_file *)elem)->path);
}

/* Opens an output beneath the outputs directory, following no symbolic
 * link at all (the command, which wrote there, is gone, but be exact). */
static int svc_open_output(struct executor_svc *s, const char *path, int *fd)
{
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW,
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
					  RESOLVE_NO_MAGICLINKS};
	char *dir = NULL;
	int dfd;

	if (asprintf(&dir, "%s/%s", s->o.workspace, s->cfg->outputs.dir) < 0)
		return AICERT_ERR_NOMEM;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	free(dir);
	if (dfd < 0)
		return err_set(AICERT_ERR_IO, "the outputs directory: %s", strerror(errno));
	*fd = (int)syscall(SYS_openat2, dfd, path, &how, sizeof(how));
	close(dfd);
	if (*fd < 0)
		return err_set(AICERT_ERR_IO, "%s: %s", path, strerror(errno));
	return 0;
}

static void svc_read_output(Aicert__V1__Executor_Service *svc,
			    const Aicert__V1__ReadOutputRequest *in,
			    Aicert__V1__ReadOutputReply_Closure closure, void *data)
{
	Aicert__V1__ReadOutputReply out = AICERT__V1__READ_OUTPUT_REPLY__INIT;
	struct executor_svc *s = svc_of(svc);
	const struct modeldir_file *f = NULL;
	size_t max = in->max_bytes && in->max_bytes < EXECUTOR_SVC_MAX_READ ? in->max_bytes
									    : EXECUTOR_SVC_MAX_READ;
	uint8_t *buf = NULL;
	ssize_t got = 0;
	int fd = -1, r;

	pthread_mutex_lock(&s->mu);
	r = svc_expect(s, SVC_FINISHED, "ReadOutput");
	if (r == 0) {
		f = bsearch(in->path, s->outs.files, s->outs.n, sizeof(*s->outs.files),
			    svc_cmp_path);
		if (!f)
			r = err_set(AICERT_ERR_NOT_FOUND,
				    "ReadOutput: '%s' is not a measured output", in->path);
	}
	if (r == 0 && in->offset > f->size)
		r = err_set(AICERT_ERR_INVALID, "ReadOutput: offset past the end of %s", f->path);
	if (r == 0)
		r = svc_open_output(s, f->path, &fd);
	if (r == 0 && !(buf = malloc(max)))
		r = AICERT_ERR_NOMEM;
	if (r == 0) {
		if (in->offset + max > f->size)
			max = (size_t)(f->size - in->offset);
		do
			got = pread(fd, buf, max, (off_t)in->offset);
		while (got < 0 && errno == EINTR);
		if (got < 0)
			r = err_set(AICERT_ERR_IO, "%s: %s", f->path, strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	if (r < 0) {
		pthread_mutex_unlock(&s->mu);
		free(buf);
		FAIL(data, closure, r);
		return;
	}
	out.data.data = buf;
	out.data.len = (size_t)got;
	out.eof = in->offset + (uint64_t)got >= f->size;
	pthread_mutex_unlock(&s->mu);
	closure(&out, data);
	free(buf);
}

/* ---- Lifetime ------------------------------------------------------------ */

int executor_svc_new(const struct executor_svc_opts *o, struct executor_svc **ret)
{
	struct executor_svc *s = calloc(1, sizeof(*s));

	if (!s)
		return AICERT_ERR_NOMEM;
	if (pipe2(s->cancel, O_CLOEXEC) < 0) {
		free(s);
		return err_set(AICERT_ERR_IO, "pipe: %s", strerror(errno));
	}
	aicert__v1__executor__init(&s->service, NULL);
	s->service.start_job = svc_start_job;
	s->service.put_file = svc_put_file;
	s->service.stage_input = svc_stage_input;
	s->service.run = svc_run;
	s->service.poll = svc_poll;
	s->service.finish = svc_finish;
	s->service.read_output = svc_read_output;
	s->o = *o;
	s->put_fd = -1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cond, NULL);
	*ret = s;
	return 0;
}

void executor_svc_free(struct executor_svc *s)
{
	if (!s)
		return;
	if (s->runner_started) {
		/* Kills the command if it still runs; its thread then ends. */
		if (write(s->cancel[1], "x", 1) < 0)
			log_warn("cannot cancel the command: %s", strerror(errno));
		pthread_join(s->runner, NULL);
	}
	svc_put_close(s);
	for (size_t i = 0; i < s->n_chunks; i++)
		free(s->chunks[i].data);
	free(s->chunks);
	executor_outputs_free(&s->outs);
	executor_free(s->ex);
	jobcfg_free(s->cfg);
	close(s->cancel[0]);
	close(s->cancel[1]);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cond);
	free(s);
}

ProtobufCService *executor_svc_service(struct executor_svc *s)
{
	return &s->service.base;
}
