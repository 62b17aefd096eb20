#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ftw.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>
#include <jansson.h>
#include <openssl/sha.h>

#include "aicert.pb-c.h"
#include "err.h"
#include "events.h"
#include "executor.h"
#include "fetch.h"
#include "fileio.h"
#include "jobcfg.h"
#include "modeldir.h"
#include "rpc.h"

#define EXECUTOR_MAX_DEPTH   32
#define EXECUTOR_MAX_METRICS (1u << 20)
#define EXECUTOR_NOBODY      65534
#define EXECUTOR_MAX_HIDE    32
/* Inputs arrive and are measured here, inside the workspace (one file
 * system), then renamed into place: a directory input staged at '.' (the
 * code) must not take the other inputs into its digest. */
#define EXECUTOR_STAGING ".aicert-staging"

struct executor {
	struct executor_opts o;
	struct rpc_client *agent;
	char *workspace;
	int ws_fd; /* the workspace, opened when it was created */
};

static int executor_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* A workspace of our own making, empty: whatever an earlier job left there
 * (a symbolic link where the staging area will be, say) is removed without
 * following any link, and the directory is made anew. */
static int executor_fresh_workspace(struct executor *e)
{
	struct stat st;

	if (lstat(e->workspace, &st) == 0 &&
	    nftw(e->workspace, executor_rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		return err_set(AICERT_ERR_IO, "%s: cannot clear an earlier job's files: %s",
			       e->workspace, strerror(errno));
	if (mkdir(e->workspace, 0755) < 0)
		return err_set(AICERT_ERR_IO, "%s: %s", e->workspace, strerror(errno));
	e->ws_fd = open(e->workspace, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (e->ws_fd < 0)
		return err_set(AICERT_ERR_IO, "%s: %s", e->workspace, strerror(errno));
	/* The command writes its outputs there; as root it runs as run_uid. */
	if (geteuid() == 0 && fchown(e->ws_fd, e->o.run_uid, e->o.run_gid) < 0)
		return err_set(AICERT_ERR_IO, "%s: chown: %s", e->workspace, strerror(errno));
	return 0;
}

/* Opens a workspace path the command may have touched: beneath the
 * workspace, through no symbolic link, on no other mount; a FIFO or device
 * is opened without blocking and refused by the caller's fstat. */
static int executor_open_beneath(struct executor *e, const char *rel, int flags, int *fd)
{
	struct open_how how = {.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK),
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
					  RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV};

	*fd = (int)syscall(SYS_openat2, e->ws_fd, rel, &how, sizeof(how));
	if (*fd < 0)
		return err_set(errno == ENOENT ? AICERT_ERR_NOT_FOUND : AICERT_ERR_INVALID,
			       "%s: %s%s", rel, strerror(errno),
			       errno == ELOOP ? " (a symbolic link: not followed)" : "");
	return 0;
}

int executor_open(const struct executor_opts *o, struct executor **ret)
{
	struct rpc_client_opts ro = {.timeout_ms = 60000};
	struct executor *e = calloc(1, sizeof(*e));
	int r;

	if (!e)
		return AICERT_ERR_NOMEM;
	e->o = *o;
	if (!e->o.run_uid)
		e->o.run_uid = EXECUTOR_NOBODY;
	if (!e->o.run_gid)
		e->o.run_gid = EXECUTOR_NOBODY;
	e->ws_fd = -1;
	e->workspace = strdup(o->workspace);
	r = e->workspace ? executor_fresh_workspace(e) : AICERT_ERR_NOMEM;
	if (r == 0)
		r = rpc_client_dial(o->agent_url, &aicert__v1__agent__descriptor, &ro, &e->agent);
	if (r < 0) {
		executor_free(e);
		return r;
	}
	*ret = e;
	return 0;
}

void executor_free(struct executor *e)
{
	if (!e)
		return;
	rpc_client_free(e->agent);
	if (e->ws_fd >= 0)
		close(e->ws_fd);
	free(e->workspace);
	free(e);
}

/* Extends one event through the agent: its data is the event's canonical
 * bytes, its digest their SHA-256. */
static int executor_extend(struct executor *e, const struct events_event *ev)
{
	Aicert__V1__ExtendRequest req = AICERT__V1__EXTEND_REQUEST__INIT;
	struct rpc_reply rep = RPC_REPLY_INIT;
	uint8_t digest[32], *buf = NULL;
	size_t len;
	int r;

	r = events_encode(ev, &buf, &len);
	if (r < 0)
		return r;
	SHA256(buf, len, digest);
	req.pcr = events_pcr(ev->kind);
	req.event_type = events_type(ev->kind);
	req.sha256.data = digest;
	req.sha256.len = sizeof(digest);
	req.content.data = buf;
	req.content.len = len;
	aicert__v1__agent__extend(rpc_client_service(e->agent), &req,
				  (Aicert__V1__ExtendReply_Closure)rpc_reply_capture, &rep);
	free(buf);
	if (!rep.msg)
		return rep.err ? rep.err : AICERT_ERR_INTERNAL;
	protobuf_c_message_free_unpacked(rep.msg, NULL);
	return 0;
}

static int executor_counters(struct executor *e, uint32_t *reset, uint32_t *restart)
{
	Aicert__V1__HealthRequest req = AICERT__V1__HEALTH_REQUEST__INIT;
	struct rpc_reply rep = RPC_REPLY_INIT;
	Aicert__V1__HealthReply *h;

	aicert__v1__agent__health(rpc_client_service(e->agent), &req,
				  (Aicert__V1__HealthReply_Closure)rpc_reply_capture, &rep);
	if (!rep.msg)
		return rep.err ? rep.err : AICERT_ERR_INTERNAL;
	h = (Aicert__V1__HealthReply *)rep.msg;
	*reset = h->reset_count;
	*restart = h->restart_count;
	protobuf_c_message_free_unpacked(rep.msg, NULL);
	return 0;
}

int executor_start(struct executor *e, const uint8_t *job, size_t job_len, const char *job_id,
		   const uint8_t *nonce, size_t nonce_len, struct jobcfg **cfg)
{
	struct events_event ev = {.kind = EVENTS_JOB_START};
	struct jobcfg *c = NULL;
	int r;

	if (strlen(job_id) > EVENTS_MAX_JOB_ID || nonce_len < 16 || nonce_len > EVENTS_MAX_NONCE)
		return err_set(AICERT_ERR_INVALID,
			       "a job id of at most %d bytes and a nonce of 16 "
			       "to %d bytes",
			       EVENTS_MAX_JOB_ID, EVENTS_MAX_NONCE);
	r = jobcfg_parse("job.yaml", e->o.local_base, job, job_len, &c);
	if (r == 0)
		r = executor_counters(e, &ev.u.start.reset_count, &ev.u.start.restart_count);
	if (r == 0) {
		strcpy(ev.u.start.job_id, job_id);
		memcpy(ev.u.start.nonce, nonce, nonce_len);
		ev.u.start.nonce_len = nonce_len;
		memcpy(ev.u.start.config_sha256, c->sha256, 32);
		r = executor_extend(e, &ev);
	}
	if (r < 0) {
		jobcfg_free(c);
		return r;
	}
	*cfg = c;
	return 0;
}

/* ---- Staging ------------------------------------------------------------ */

static int executor_copy_file(int sfd, const char *dst, mode_t mode)
{
	char buf[1 << 16];
	int dfd, r = 0;

	/* Programs stay executable; nothing else carries over. */
	dfd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		   (mode & 0111) ? 0755 : 0644);
	if (dfd < 0)
		return err_set(AICERT_ERR_IO, "%s: %s", dst, strerror(errno));
	for (;;) {
		ssize_t n = read(sfd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0)
				r = err_set(AICERT_ERR_IO, "reading for %s: %s", dst,
					    strerror(errno));
			break;
		}
		if (write(dfd, buf, (size_t)n) != n) {
			r = err_set(AICERT_ERR_IO, "%s: %s", dst, strerror(errno));
			break;
		}
	}
	if (close(dfd) < 0 && r == 0)
		r = err_set(AICERT_ERR_IO, "%s: %s", dst, strerror(errno));
	return r;
}

/* Copies regular files and directories only; anything else is refused. */
static int executor_copy(const char *src, const char *dst, int depth)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	int fd, r = 0;

	if (depth > EXECUTOR_MAX_DEPTH)
		return err_set(AICERT_ERR_TOO_BIG, "%s: nested too deep", src);
	fd = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = err_set(AICERT_ERR_NOT_FOUND, "%s: %s", src, strerror(errno));
		goto out;
	}
	if (S_ISREG(st.st_mode)) {
		r = executor_copy_file(fd, dst, st.st_mode);
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		r = err_set(AICERT_ERR_INVALID, "%s: not a regular file or directory", src);
		goto out;
	}
	r = fileio_mkdir(dst, 0755);
	d = r == 0 ? fdopendir(fd) : NULL;
	if (r == 0 && !d)
		r = err_set(AICERT_ERR_IO, "%s: %s", src, strerror(errno));
	if (d)
		fd = -1; /* the DIR owns it now */
	while (d && r == 0 && (de = readdir(d))) {
		char *s = NULL, *t = NULL;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (asprintf(&s, "%s/%s", src, de->d_name) < 0 ||
		    asprintf(&t, "%s/%s", dst, de->d_name) < 0)
			r = AICERT_ERR_NOMEM;
		else
			r = executor_copy(s, t, depth + 1);
		free(s);
		free(t);
	}
	if (d)
		closedir(d);
out:
	if (fd >= 0)
		close(fd);
	return r;
}

/* mkdir -p of the parents of path, inside the workspace. */
static int executor_parents(char *path)
{
	for (char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
		int r;

		*p = '\0';
		r = fileio_mkdir(path, 0755);
		*p = '/';
		if (r < 0)
			return r;
	}
	return 0;
}

/* Digest, file count and size of what was staged at path: a file's own
 * SHA-256, or a directory's manifest digest, which binds its names. */
static int executor_measure(const char *path, struct events_input *in)
{
	struct modeldir_file *files = NULL;
	struct stat st;
	size_t n = 0;
	int r, fd;

	if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return err_set(AICERT_ERR_IO, "%s: %s", path, strerror(errno));
		r = modeldir_hash_fd(fd, path, in->sha256, &in->size);
		close(fd);
		in->files = 1;
		return r;
	}
	r = modeldir_scan(path, &files, &n);
	if (r == 0)
		r = modeldir_manifest_digest(files, n, in->sha256, &in->size);
	in->files = n;
	modeldir_free(files, n);
	return r;
}

char *executor_input_path(const struct executor *e, const struct jobcfg_input *in)
{
	char *p = NULL;

	return asprintf(&p, "%s/" EXECUTOR_STAGING "/%s", e->workspace, in->name) < 0 ? NULL : p;
}

/* rename() that never replaces anything. */
static int executor_move(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) < 0)
		return err_set(errno == EEXIST ? AICERT_ERR_EXISTS : AICERT_ERR_IO,
			       "installing %s: %s", to, strerror(errno));
	return 0;
}

/* Moves a measured input from the staging area to its place: renames only,
 * so the bytes the command finds are the bytes that were hashed. The code
 * (dest ".") brings its top-level entries into the workspace root. */
static int executor_install(struct executor *e, const struct jobcfg_input *in, const char *src)
{
	struct stat st;
	char *dst = NULL;
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (strcmp(in->dest, ".") != 0) {
		if (asprintf(&dst, "%s/%s", e->workspace, in->dest) < 0)
			return AICERT_ERR_NOMEM;
		r = executor_parents(dst);
		if (r == 0)
			r = executor_move(src, dst);
		free(dst);
		return r;
	}
	if (lstat(src, &st) < 0 || !S_ISDIR(st.st_mode))
		return err_set(AICERT_ERR_INVALID, "the code staged at '.' must be a directory");
	d = opendir(src);
	if (!d)
		return err_set(AICERT_ERR_IO, "%s: %s", src, strerror(errno));
	while (r == 0 && (de = readdir(d))) {
		char *from = NULL;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (asprintf(&from, "%s/%s", src, de->d_name) < 0 ||
		    asprintf(&dst, "%s/%s", e->workspace, de->d_name) < 0)
			r = AICERT_ERR_NOMEM;
		else
			r = executor_move(from, dst);
		free(from);
		free(dst);
		dst = NULL;
	}
	closedir(d);
	if (r == 0 && rmdir(src) < 0)
		r = err_set(AICERT_ERR_IO, "%s: %s", src, strerror(errno));
	return r;
}

int executor_seal(struct executor *e, const struct jobcfg_input *in, const char *uri,
		  struct events_input *out)
{
	struct events_event ev = {.kind = EVENTS_INPUT};
	char *dst = executor_input_path(e, in);
	int r;

	if (!dst)
		return AICERT_ERR_NOMEM;
	/* The digest is of the bytes staged, read back here. */
	r = executor_measure(dst, &ev.u.input);
	if (r == 0 && (strlen(in->name) > EVENTS_MAX_NAME || strlen(uri) > EVENTS_MAX_PATH))
		r = err_set(AICERT_ERR_TOO_BIG, "name or location too long");
	if (r == 0) {
		snprintf(ev.u.input.kind, sizeof(ev.u.input.kind), "%s",
			 jobcfg_kind_name(in->kind));
		strcpy(ev.u.input.name, in->name);
		strcpy(ev.u.input.uri, uri);
		r = executor_extend(e, &ev);
	}
	if (r == 0 && out)
		*out = ev.u.input;
	free(dst);
	return r < 0 ? err_wrap(r, "%s", in->field) : 0;
}

int executor_stage(struct executor *e, const struct jobcfg_input *in, const char *src)
{
	char *dst = executor_input_path(e, in);
	int r;

	if (!dst)
		return AICERT_ERR_NOMEM;
	r = executor_parents(dst);
	if (r == 0)
		r = executor_copy(src, dst, 0);
	free(dst);
	if (r < 0)
		return err_wrap(r, "%s", in->field);
	return executor_seal(e, in, in->location, NULL);
}

int executor_fetch(struct executor *e, const struct jobcfg_input *in, const struct fetch_opts *fo,
		   struct events_input *out)
{
	char *dst = executor_input_path(e, in), *uri = NULL;
	uint8_t digest[32];
	uint64_t size;
	int r;

	if (!dst)
		return AICERT_ERR_NOMEM;
	r = executor_parents(dst);
	if (r == 0 && in->source == JOBCFG_SOURCE_URL) {
		r = fetch_https(fo, in->location, in->has_sha256 ? in->sha256 : NULL, dst, digest,
				&size);
		uri = r == 0 ? strdup(in->location) : NULL;
	} else if (r == 0 && in->source == JOBCFG_SOURCE_GIT && !in->git_is_url &&
		   !e->o.local_base) {
		/* A path on this runner's own disk: only where the runner
		 * shares the controller's files (the local backend). */
		r = err_set(AICERT_ERR_PERMISSION,
			    "a local git repository (%s) can only be used on a local runner",
			    in->location);
	} else if (r == 0 && in->source == JOBCFG_SOURCE_GIT) {
		r = fetch_git(fo, in->git_is_url ? in->location : in->resolved, in->git_commit,
			      in->git_subdir, dst);
		uri = r == 0 ? fetch_git_uri(in->location, in->git_commit, in->git_subdir) : NULL;
	} else if (r == 0) {
		r = err_set(AICERT_ERR_INVALID, "not a git or url input");
	}
	if (r == 0 && !uri)
		r = AICERT_ERR_NOMEM;
	free(dst);
	if (r < 0) {
		free(uri);
		return err_wrap(r, "%s", in->field);
	}
	r = executor_seal(e, in, uri, out);
	free(uri);
	return r;
}

/* ---- Run and finish ----------------------------------------------------- */

static int64_t executor_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int executor_run(struct executor *e, const struct jobcfg *cfg, int *status, uint64_t *wall_ms)
{
	const struct jobcfg_training *t = &cfg->training;
	struct sandbox_opts so = {.argv = (const char *const *)t->argv,
				  .network = t->network == JOBCFG_NETWORK_ALLOWED,
				  .hide = e->o.hide,
				  .timeout_ms = t->timeout_s * 1000u,
				  .cancel_fd = e->o.cancel_fd,
				  .uid = e->o.run_uid,
				  .gid = e->o.run_gid,
				  .output = e->o.output,
				  .ctx = e->o.ctx};
	char **env = calloc(t->n_env + 2, sizeof(*env));
	const char *hide[EXECUTOR_MAX_HIDE + 2] = {NULL};
	char user_run[64];
	size_t n_hide = 0;
	char *workdir = NULL;
	int64_t t0 = executor_now_ms();
	int r = env ? 0 : AICERT_ERR_NOMEM;

	for (size_t i = 0; r == 0 && i < t->n_env; i++)
		if (asprintf(&env[i], "%s=%s", t->env[i].name, t->env[i].value) < 0)
			r = AICERT_ERR_NOMEM;
	if (r == 0 && asprintf(&workdir, "%s/%s", e->workspace, t->workdir) < 0)
		r = AICERT_ERR_NOMEM;
	/* Every input into its place, the code first so that the others may
	 * go inside its tree; then the staging area is empty. */
	for (size_t k = 0; r == 0 && k <= cfg->n_inputs; k++) {
		const struct jobcfg_input *in = NULL;
		char *src;

		for (size_t i = 0, seen = 0; i < cfg->n_inputs && !in; i++) {
			bool code = cfg->inputs[i].kind == JOBCFG_KIND_CODE;

			if (k == 0 ? code : !code && ++seen == k)
				in = &cfg->inputs[i];
		}
		if (!in)
			continue;
		src = executor_input_path(e, in);
		r = src ? executor_install(e, in, src) : AICERT_ERR_NOMEM;
		if (r < 0)
			r = err_wrap(r, "%s", in->field);
		free(src);
	}
	if (r == 0) {
		char *staging = NULL;

		if (asprintf(&staging, "%s/" EXECUTOR_STAGING, e->workspace) < 0)
			r = AICERT_ERR_NOMEM;
		else if (rmdir(staging) < 0 && errno != ENOENT)
			r = err_set(AICERT_ERR_STATE, "%s: %s", staging, strerror(errno));
		free(staging);
	}
	/* Not root: the command runs as our own user, so the user's session
	 * (its bus, its agents' sockets in /run/user/UID) is hidden too. */
	for (size_t i = 0; e->o.hide && e->o.hide[i] && n_hide < EXECUTOR_MAX_HIDE; i++)
		hide[n_hide++] = e->o.hide[i];
	snprintf(user_run, sizeof(user_run), "/run/user/%u", (unsigned)geteuid());
	if (geteuid() != 0 && access(user_run, F_OK) == 0)
		hide[n_hide++] = user_run;
	so.hide = hide;
	if (r == 0) {
		so.envp = (const char *const *)env;
		so.workdir = workdir;
		r = sandbox_run(&so, status);
	}
	*wall_ms = (uint64_t)(executor_now_ms() - t0);
	for (size_t i = 0; env && i < t->n_env; i++)
		free(env[i]);
	free(env);
	free(workdir);
	return r;
}

/* A glob without '/' matches the file name at any depth; with one, the
 * whole relative path (docs/job-config.md). */
static bool executor_included(const struct jobcfg_outputs *o, const char *path)
{
	const char *base = strrchr(path, '/');

	if (o->n_include == 0)
		return true;
	for (size_t i = 0; i < o->n_include; i++) {
		bool slash = strchr(o->include[i], '/') != NULL;

		if (fnmatch(o->include[i], slash ? path : (base ? base + 1 : path),
			    slash ? FNM_PATHNAME : 0) == 0)
			return true;
	}
	return false;
}

/* total_flos from the job's metrics file (written by the untrusted command:
 * bounded, strict), 0 when there is none or it says nothing usable. */
static uint64_t executor_flops(struct executor *e, const struct jobcfg *cfg)
{
	json_t *m = NULL, *v;
	struct stat st;
	uint64_t flops = 0;
	char *buf = NULL;
	ssize_t got = -1;
	int fd = -1;

	if (!cfg->training.metrics ||
	    executor_open_beneath(e, cfg->training.metrics, O_RDONLY, &fd) < 0)
		goto out;
	/* A regular file of bounded size, or nothing (a FIFO would block). */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > EXECUTOR_MAX_METRICS ||
	    !(buf = malloc((size_t)st.st_size + 1)))
		goto out;
	do
		got = pread(fd, buf, (size_t)st.st_size, 0);
	while (got < 0 && errno == EINTR);
	if (got == st.st_size)
		m = json_loadb(buf, (size_t)got, JSON_REJECT_DUPLICATES, NULL);
	v = json_object_get(m, "total_flos");
	if (json_is_integer(v) && json_integer_value(v) > 0)
		flops = (uint64_t)json_integer_value(v);
	else if (json_is_real(v) && json_real_value(v) > 0 && json_real_value(v) < 9.2e18)
		flops = (uint64_t)json_real_value(v);
out:
	if (fd >= 0)
		close(fd);
	json_decref(m);
	free(buf);
	err_clear();
	return flops;
}

void executor_outputs_free(struct executor_outputs *o)
{
	if (!o)
		return;
	modeldir_free(o->files, o->n);
	memset(o, 0, sizeof(*o));
}

int executor_finish(struct executor *e, const struct jobcfg *cfg, int status, uint64_t wall_ms,
		    struct executor_outputs *out)
{
	struct modeldir_file *files = NULL;
	struct events_event ev;
	uint64_t size;
	size_t n = 0, k = 0;
	int r, dfd;

	/* The command made this directory: resolve it beneath the workspace
	 * through no link, then walk it without following any. */
	r = executor_open_beneath(e, cfg->outputs.dir, O_RDONLY | O_DIRECTORY, &dfd);
	if (r < 0)
		return err_wrap(r, "outputs.dir");
	r = modeldir_scan_fd(dfd, &files, &n);
	close(dfd);
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (!executor_included(&cfg->outputs, files[i].path))
			continue;
		if (strlen(files[i].path) > EVENTS_MAX_PATH) {
			r = err_set(AICERT_ERR_TOO_BIG, "output %s: path too long", files[i].path);
			break;
		}
		ev = (struct events_event){.kind = EVENTS_OUTPUT};
		strcpy(ev.u.output.path, files[i].path);
		memcpy(ev.u.output.sha256, files[i].sha256, 32);
		ev.u.output.size = files[i].size;
		r = executor_extend(e, &ev);
		/* Keep the measured ones at the front, in order. */
		if (k != i) {
			struct modeldir_file t = files[k];

			files[k] = files[i];
			files[i] = t;
		}
		k++;
	}
	if (r == 0) {
		ev = (struct events_event){.kind = EVENTS_OUTPUTS};
		ev.u.outputs.files = k;
		r = modeldir_root(files, k, ev.u.outputs.root_sha256, &size);
	}
	if (r == 0)
		r = executor_extend(e, &ev);
	if (r == 0 && out)
		memcpy(out->root, ev.u.outputs.root_sha256, 32);
	if (r == 0) {
		ev = (struct events_event){.kind = EVENTS_JOB_END};
		ev.u.end.exit_code = status;
		ev.u.end.flops = executor_flops(e, cfg);
		ev.u.end.wall_ms = wall_ms;
		r = executor_extend(e, &ev);
	}
	if (r == 0 && out) {
		out->flops = ev.u.end.flops;
		/* The unmeasured ones go; the caller gets the measured ones. */
		for (size_t i = k; i < n; i++)
			free(files[i].path);
		out->files = files;
		out->n = k;
		files = NULL;
		n = 0;
	}
	modeldir_free(files, n);
	return r;
}
