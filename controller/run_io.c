/* `aicert run`: calls to the executor, upload and download (run_io.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "err.h"
#include "fileio.h"
#include "hex.h"
#include "rpc.h"
#include "run_io.h"

/* ---- Progress ------------------------------------------------------------ */

double run_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *run_fmt_bytes(uint64_t n, char buf[32])
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)n;
	size_t u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, 32, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, 32, "%.1f %s", v, units[u]);
	return buf;
}

static void run_progress_draw(struct run_progress *p, bool final)
{
	double el = run_now() - p->t0, rate = el > 0 ? (double)p->done / el : 0;
	char a[32], b[32], c[32], eta[32] = "";

	if (!p->tty)
		return;
	if (!final && rate > 0 && p->total > p->done) {
		double left = (double)(p->total - p->done) / rate;

		snprintf(eta, sizeof(eta), "  ETA %d:%02d", (int)left / 60, (int)left % 60);
	}
	fprintf(stderr, "\r\033[K  %s  %s / %s  %s/s%s%s", p->what, run_fmt_bytes(p->done, a),
		run_fmt_bytes(p->total, b), run_fmt_bytes((uint64_t)rate, c), eta,
		final ? "\r\033[K" : "");
	fflush(stderr);
}

void run_progress_begin(struct run_progress *p, const char *what, uint64_t total)
{
	*p = (struct run_progress){
		.tty = isatty(STDERR_FILENO) == 1, .what = what, .total = total, .t0 = run_now()};
}

void run_progress_add(struct run_progress *p, uint64_t n)
{
	double now;

	p->done += n;
	if (!p->tty)
		return;
	now = run_now();
	if (now - p->last >= 0.1) {
		p->last = now;
		run_progress_draw(p, false);
	}
}

void run_progress_end(struct run_progress *p)
{
	run_progress_draw(p, true);
}

bool run_interrupted(void)
{
	sigset_t pending;

	return sigpending(&pending) == 0 &&
	       (sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1);
}

static int run_check_interrupt(void)
{
	return run_interrupted() ? err_set(AICERT_ERR_CANCELLED, "interrupted") : 0;
}

/* ---- Calls --------------------------------------------------------------- */

/* One typed call: stub(service, req, closure, reply) and the reply's check. */
#define RUN_CALL(x, stub, Reply, req, ret)                                                         \
	({                                                                                         \
		struct rpc_reply rep_ = RPC_REPLY_INIT;                                            \
		stub(rpc_client_service(x), (req), (Reply##_Closure)rpc_reply_capture, &rep_);     \
		if (rep_.msg)                                                                      \
			*(ret) = (Reply *)rep_.msg;                                                \
		rep_.msg ? 0 : (rep_.err ? rep_.err : AICERT_ERR_INTERNAL);                        \
	})

int run_start_job(struct rpc_client *x, const uint8_t *job, size_t job_len, const char *job_id,
		  const uint8_t *nonce, size_t nonce_len, const char *local_base,
		  Aicert__V1__StartJobReply **ret)
{
	Aicert__V1__StartJobRequest req = AICERT__V1__START_JOB_REQUEST__INIT;

	req.job.data = (uint8_t *)job;
	req.job.len = job_len;
	req.job_id = (char *)job_id;
	req.nonce.data = (uint8_t *)nonce;
	req.nonce.len = nonce_len;
	req.local_base = (char *)(local_base ? local_base : "");
	return RUN_CALL(x, aicert__v1__executor__start_job, Aicert__V1__StartJobReply, &req, ret);
}

int run_stage_input(struct rpc_client *x, const char *input, Aicert__V1__StageInputReply **ret)
{
	Aicert__V1__StageInputRequest req = AICERT__V1__STAGE_INPUT_REQUEST__INIT;

	req.input = (char *)input;
	return RUN_CALL(x, aicert__v1__executor__stage_input, Aicert__V1__StageInputReply, &req,
			ret);
}

int run_run(struct rpc_client *x)
{
	Aicert__V1__RunRequest req = AICERT__V1__RUN_REQUEST__INIT;
	Aicert__V1__RunReply *rep = NULL;
	int r = RUN_CALL(x, aicert__v1__executor__run, Aicert__V1__RunReply, &req, &rep);

	if (rep)
		protobuf_c_message_free_unpacked(&rep->base, NULL);
	return r;
}

int run_poll(struct rpc_client *x, uint64_t offset, uint32_t wait_ms, Aicert__V1__PollReply **ret)
{
	Aicert__V1__PollRequest req = AICERT__V1__POLL_REQUEST__INIT;

	req.offset = offset;
	req.wait_ms = wait_ms;
	return RUN_CALL(x, aicert__v1__executor__poll, Aicert__V1__PollReply, &req, ret);
}

int run_finish(struct rpc_client *x, Aicert__V1__FinishReply **ret)
{
	Aicert__V1__FinishRequest req = AICERT__V1__FINISH_REQUEST__INIT;

	return RUN_CALL(x, aicert__v1__executor__finish, Aicert__V1__FinishReply, &req, ret);
}

/* ---- Upload -------------------------------------------------------------- */

static int run_put(struct rpc_client *x, const char *input, const char *rel, uint64_t off,
		   const uint8_t *data, size_t len, bool last, bool exec)
{
	Aicert__V1__PutFileRequest req = AICERT__V1__PUT_FILE_REQUEST__INIT;
	Aicert__V1__PutFileReply *rep = NULL;
	int r;

	req.input = (char *)input;
	req.path = (char *)rel;
	req.offset = off;
	req.data.data = (uint8_t *)data;
	req.data.len = len;
	req.last = last;
	req.executable = exec;
	r = RUN_CALL(x, aicert__v1__executor__put_file, Aicert__V1__PutFileReply, &req, &rep);
	if (rep)
		protobuf_c_message_free_unpacked(&rep->base, NULL);
	return r;
}

/* Sends one open regular file in chunks; its size must not change. */
static int run_upload_file(struct rpc_client *x, const char *input, const char *rel, int fd,
			   const struct stat *st, const char *path, uint8_t *buf,
			   struct run_progress *p)
{
	bool exec = (st->st_mode & 0111) != 0;
	uint64_t off = 0;
	int r = 0;

	do {
		size_t want = RUN_CHUNK, got = 0;

		while (got < want) {
			ssize_t n = read(fd, buf + got, want - got);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return err_set(AICERT_ERR_IO, "%s: %s", path, strerror(errno));
			if (n == 0)
				break;
			got += (size_t)n;
		}
		if (off + got > (uint64_t)st->st_size ||
		    (got < want && off + got != (uint64_t)st->st_size))
			return err_set(AICERT_ERR_STATE, "%s: changed while it was sent", path);
		r = run_put(x, input, rel, off, buf, got, got < want, exec);
		off += got;
		run_progress_add(p, got);
		if (r == 0)
			r = run_check_interrupt();
		if (got < want)
			break;
	} while (r == 0);
	return r;
}

struct run_walk {
	struct rpc_client *x; /* NULL: only count */
	const char *input;
	struct run_progress *p;
	uint8_t *buf;
	uint64_t bytes, files;
};

/* path is src joined with rel ("" at the top). */
static int run_walk(struct run_walk *w, const char *path, const char *rel, int depth)
{
	struct stat st;
	struct dirent **names = NULL;
	int fd, n, r = 0;

	if (depth > RUN_MAX_DEPTH)
		return err_set(AICERT_ERR_TOO_BIG, "%s: nested deeper than %d", path,
			       RUN_MAX_DEPTH);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return err_set(errno == ELOOP ? AICERT_ERR_INVALID : AICERT_ERR_NOT_FOUND, "%s: %s",
			       path,
			       errno == ELOOP ? "a symbolic link (inputs are files and directories)"
					      : strerror(errno));
	if (fstat(fd, &st) < 0) {
		close(fd);
		return err_set(AICERT_ERR_IO, "%s: %s", path, strerror(errno));
	}
	if (S_ISREG(st.st_mode)) {
		if (++w->files > RUN_MAX_FILES)
			r = err_set(AICERT_ERR_TOO_BIG, "more than %d files", RUN_MAX_FILES);
		w->bytes += (uint64_t)st.st_size;
		if (r == 0 && w->x)
			r = run_upload_file(w->x, w->input, rel, fd, &st, path, w->buf, w->p);
		close(fd);
		return r;
	}
	close(fd);
	if (!S_ISDIR(st.st_mode))
		return err_set(AICERT_ERR_INVALID, "%s: not a regular file or directory", path);
	n = scandir(path, &names, NULL, alphasort);
	if (n < 0)
		return err_set(AICERT_ERR_IO, "%s: %s", path, strerror(errno));
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		char *sub = NULL, *subrel = NULL;

		if (r == 0 && strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
			if (asprintf(&sub, "%s/%s", path, name) < 0 ||
			    asprintf(&subrel, "%s%s%s", rel, rel[0] ? "/" : "", name) < 0)
				r = AICERT_ERR_NOMEM;
			else
				r = run_walk(w, sub, subrel, depth + 1);
		}
		free(sub);
		free(subrel);
		free(names[i]);
	}
	free(names);
	return r;
}

int run_upload_size(const char *src, uint64_t *bytes, uint64_t *files)
{
	struct run_walk w = {0};
	int r = run_walk(&w, src, "", 0);

	*bytes = w.bytes;
	*files = w.files;
	return r;
}

int run_upload(struct rpc_client *x, const char *input, const char *src, struct run_progress *p)
{
	struct run_walk w = {.x = x, .input = input, .p = p, .buf = malloc(RUN_CHUNK)};
	int r;

	if (!w.buf)
		return AICERT_ERR_NOMEM;
	r = run_walk(&w, src, "", 0);
	free(w.buf);
	return r;
}

/* ---- Download ------------------------------------------------------------ */

static int run_mkparents(const char *dir, const char *rel)
{
	char *p = NULL;
	int r = 0;

	if (asprintf(&p, "%s/%s", dir, rel) < 0)
		return AICERT_ERR_NOMEM;
	for (char *c = p + strlen(dir) + 1; r == 0 && (c = strchr(c, '/')); c++) {
		*c = '\0';
		r = fileio_mkdir(p, 0755);
		*c = '/';
	}
	free(p);
	return r;
}

static int run_download_one(struct rpc_client *x, const Aicert__V1__OutputFile *f, const char *dir,
			    struct run_progress *p)
{
	Aicert__V1__ReadOutputRequest req = AICERT__V1__READ_OUTPUT_REQUEST__INIT;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t digest[32];
	char *path = NULL;
	uint64_t off = 0;
	int fd = -1, r;

	r = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 ? 0 : AICERT_ERR_CRYPTO;
	if (r == 0)
		r = fileio_check_relpath("output path", f->path, 4096);
	if (r == 0 && f->sha256.len != 32)
		r = err_set(AICERT_ERR_INVALID, "%s: no SHA-256", f->path);
	if (r == 0)
		r = run_mkparents(dir, f->path);
	if (r == 0 && asprintf(&path, "%s/%s", dir, f->path) < 0)
		r = AICERT_ERR_NOMEM;
	if (r == 0) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0)
			r = err_set(AICERT_ERR_IO, "%s: %s", path, strerror(errno));
	}
	req.path = f->path;
	req.max_bytes = RUN_READ_CHUNK;
	for (bool eof = false; r == 0 && !eof;) {
		Aicert__V1__ReadOutputReply *rep = NULL;

		req.offset = off;
		r = RUN_CALL(x, aicert__v1__executor__read_output, Aicert__V1__ReadOutputReply,
			     &req, &rep);
		if (r < 0)
			break;
		if (off + rep->data.len > f->size)
			r = err_set(AICERT_ERR_REJECTED, "%s: more bytes than its measured %llu",
				    f->path, (unsigned long long)f->size);
		if (r == 0 && fileio_write_full(fd, rep->data.data, rep->data.len) < 0)
			r = err_set(AICERT_ERR_IO, "%s: %s", path, strerror(errno));
		if (r == 0)
			EVP_DigestUpdate(md, rep->data.data, rep->data.len);
		off += rep->data.len;
		eof = rep->eof;
		if (r == 0 && !eof && rep->data.len == 0)
			r = err_set(AICERT_ERR_INTERNAL, "%s: the executor sent nothing", f->path);
		run_progress_add(p, rep->data.len);
		protobuf_c_message_free_unpacked(&rep->base, NULL);
		if (r == 0)
			r = run_check_interrupt();
	}
	if (r == 0 && EVP_DigestFinal_ex(md, digest, NULL) != 1)
		r = AICERT_ERR_CRYPTO;
	if (r == 0 && (off != f->size || memcmp(digest, f->sha256.data, 32) != 0)) {
		char want[65], got[65];

		hex_encode(f->sha256.data, 32, want);
		hex_encode(digest, 32, got);
		r = err_set(AICERT_ERR_REJECTED,
			    "output %s: received %llu bytes with SHA-256 %s; measured %llu bytes "
			    "with %s",
			    f->path, (unsigned long long)off, got, (unsigned long long)f->size,
			    want);
	}
	if (r == 0 && fsync(fd) < 0)
		r = err_set(AICERT_ERR_IO, "%s: %s", path, strerror(errno));
	if (fd >= 0 && close(fd) < 0 && r == 0)
		r = err_set(AICERT_ERR_IO, "%s: %s", path, strerror(errno));
	EVP_MD_CTX_free(md);
	free(path);
	return r;
}

int run_download(struct rpc_client *x, const Aicert__V1__FinishReply *fin, const char *dir,
		 struct run_progress *p)
{
	int r = 0;

	if (mkdir(dir, 0755) < 0)
		return err_set(AICERT_ERR_IO, "%s: %s", dir, strerror(errno));
	for (size_t i = 0; r == 0 && i < fin->n_outputs; i++)
		r = run_download_one(x, fin->outputs[i], dir, p);
	return r;
}

static int run_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void run_rm_tree(const char *dir)
{
	if (dir && dir[0])
		nftw(dir, run_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
