/* The qemu runner backend (runner_qemu.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "fileio.h"
#include "log.h"
#include "runner_proc.h"
#include "runner_qemu.h"
#include "tlsgen.h"

#define RQ_FIRMWARE    "/usr/share/ovmf/OVMF.fd"
#define RQ_STOP_MS     10000
#define RQ_TLS_DAYS    7
#define RQ_CMDLINE_MAX 4096
#define RQ_READY_LINE  "aicert-image: ready"
#define RQ_FAILED_LINE "aicert-image: FAILED"
#define RQ_MAX_ARGS    64
#define RQ_ARG         (PATH_MAX + 128)
#define RQ_PORT_TRIES  5

struct runner_qemu {
	struct runner_proc p;
	char agent_url[64];
	char executor_url[64];
	char tls_dir[PATH_MAX];
	char tls_cert[PATH_MAX + 16];
	char tls_key[PATH_MAX + 16];
	char tls_ca[PATH_MAX + 16];
	struct rpc_tls tls;
	char ek_root[PATH_MAX];
	char ek_issuer[PATH_MAX];
	char identity[PATH_MAX];
	pid_t swtpm;
	pid_t qemu;
	long boot_ms;
	bool stopped;
};

/* A TCP port on 127.0.0.1 that is free now (QEMU binds it a moment later;
 * a lost race shows as QEMU failing to set up the forward, and the start
 * tries other ports). */
static int rq_free_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* SIGINT or SIGTERM pending (the caller blocks them, runner_local.h). */
static bool rq_interrupted(void)
{
	sigset_t pending;

	return sigpending(&pending) == 0 &&
	       (sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1);
}

static int rq_mkdir(struct runner_qemu *r, const char *work)
{
	char tmpl[PATH_MAX];
	int n;

	if (!work || !*work)
		work = getenv("TMPDIR");
	if (!work || !*work)
		work = "/tmp";
	n = snprintf(tmpl, sizeof(tmpl), "%s/aicert-qemu.XXXXXX", work);
	if (n < 0 || (size_t)n >= sizeof(r->p.dir))
		return err_set(AICERT_ERR_INVALID, "%s: too long a path for the runner's sockets",
			       work);
	if (!mkdtemp(tmpl))
		return err_set(AICERT_ERR_IO, "mkdtemp %s: %s", tmpl, strerror(errno));
	memcpy(r->p.dir, tmpl, (size_t)n + 1);
	/* QEMU splits its option strings on commas. */
	if (strchr(r->p.dir, ','))
		return err_set(AICERT_ERR_INVALID, "%s: a comma in the path (QEMU options)",
			       r->p.dir);
	snprintf(r->p.priv, sizeof(r->p.priv), "%s/runner", r->p.dir);
	if (mkdir(r->p.priv, 0700) < 0)
		return err_set(AICERT_ERR_IO, "%s: %s", r->p.priv, strerror(errno));
	snprintf(r->ek_root, sizeof(r->ek_root), "%s/ca/swtpm-localca-rootca-cert.pem", r->p.priv);
	snprintf(r->ek_issuer, sizeof(r->ek_issuer), "%s/ca/issuercert.pem", r->p.priv);
	snprintf(r->identity, sizeof(r->identity), "%s/controller.id", r->p.priv);
	snprintf(r->tls_dir, sizeof(r->tls_dir), "%s/tls", r->p.priv);
	snprintf(r->tls_cert, sizeof(r->tls_cert), "%s/client.crt", r->tls_dir);
	snprintf(r->tls_key, sizeof(r->tls_key), "%s/client.key", r->tls_dir);
	snprintf(r->tls_ca, sizeof(r->tls_ca), "%s/ca.crt", r->tls_dir);
	r->tls = (struct rpc_tls){r->tls_cert, r->tls_key, r->tls_ca};
	return 0;
}

/* The session's TLS material and the one-time controller identity. */
static int rq_secrets(struct runner_qemu *r)
{
	uint8_t id[32];
	int ret;

	if (mkdir(r->tls_dir, 0700) < 0)
		return err_set(AICERT_ERR_IO, "%s: %s", r->tls_dir, strerror(errno));
	ret = tlsgen_run(r->tls_dir, RQ_TLS_DAYS);
	if (ret < 0)
		return ret;
	if (getrandom(id, sizeof(id), 0) != sizeof(id))
		return err_set(AICERT_ERR_CRYPTO, "no random bytes for the controller identity");
	return fileio_write_atomic(r->identity, id, sizeof(id), 0600);
}

/* swtpm for QEMU: only the control socket; QEMU passes the data channel. */
static int rq_swtpm(struct runner_qemu *r)
{
	char swtpm[PATH_MAX], state[PATH_MAX + 8], ctrl[PATH_MAX + 32], ctrl_sock[PATH_MAX];
	const char *argv[] = {swtpm, "socket", "--tpm2", "--tpmstate", state, "--ctrl", ctrl, NULL};
	long end;
	int status, ret;

	ret = runner_which("swtpm", swtpm);
	if (ret == 0)
		ret = runner_path(&r->p, "swtpm.ctrl", ctrl_sock);
	if (ret < 0)
		return ret;
	snprintf(state, sizeof(state), "dir=%s/state", r->p.priv);
	snprintf(ctrl, sizeof(ctrl), "type=unixio,path=%s,mode=0600", ctrl_sock);
	unlink(ctrl_sock); /* an earlier attempt's: ready means swtpm's own */
	ret = runner_spawn(&r->p, argv, "swtpm.log", &r->swtpm);
	if (ret < 0)
		return ret;
	end = runner_now_ms() + r->p.timeout_ms;
	while (runner_now_ms() < end) {
		struct stat st;

		if (runner_wait(r->swtpm, 0, &status)) {
			r->swtpm = 0;
			return runner_fail(&r->p, AICERT_ERR_UNAVAILABLE, "swtpm.log",
					   "swtpm exited with status %d", runner_status(status));
		}
		if (stat(ctrl_sock, &st) == 0 && S_ISSOCK(st.st_mode))
			return 0;
		runner_sleep_ms(RUNNER_POLL_MS);
	}
	runner_kill(&r->swtpm, 0);
	return runner_fail(&r->p, AICERT_ERR_TIMEOUT, "swtpm.log", "swtpm did not start");
}

/* A copy of the image's command line: one line, bounded. */
static int rq_cmdline(const char *image, char out[RQ_CMDLINE_MAX])
{
	char path[PATH_MAX];
	uint8_t *buf = NULL;
	size_t len;
	int r;

	snprintf(path, sizeof(path), "%s/cmdline", image);
	r = fileio_read_all(path, RQ_CMDLINE_MAX - 1, &buf, &len);
	if (r < 0)
		return err_wrap(r, "the runner image");
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		len--;
	if (memchr(buf, '\n', len)) {
		free(buf);
		return err_set(AICERT_ERR_INVALID, "%s: more than one line", path);
	}
	memcpy(out, buf, len);
	out[len] = '\0';
	free(buf);
	return 0;
}

static int rq_console_says(struct runner_qemu *r, const char *what)
{
	char path[PATH_MAX];
	uint8_t *buf = NULL;
	size_t len;
	int found;

	if (runner_path(&r->p, "console.log", path) < 0 ||
	    fileio_read_all(path, 16u << 20, &buf, &len) < 0)
		return 0;
	found = strstr((const char *)buf, what) != NULL;
	free(buf);
	return found;
}

static int rq_qemu(struct runner_qemu *r, const struct runner_qemu_opts *o)
{
	char qemu[PATH_MAX], cmdline[RQ_CMDLINE_MAX], qlog[PATH_MAX];
	char a[16][RQ_ARG];
	const char *argv[RQ_MAX_ARGS];
	size_t n = 0, k = 0;
	int pa = rq_free_port(), pe = rq_free_port(), status, ret;
	long t0, end;

#define RQ_ADD(s)   (argv[n++] = (s))
#define RQ_FMT(...) (snprintf(a[k], RQ_ARG, __VA_ARGS__), argv[n++] = a[k++])
	if (pa < 0 || pe < 0)
		return err_set(AICERT_ERR_UNAVAILABLE, "no free TCP ports on 127.0.0.1");
	if (pa == pe)
		return 1; /* the same port twice: pick again */
	ret = runner_which("qemu-system-x86_64", qemu);
	if (ret == 0)
		ret = rq_cmdline(o->image_dir, cmdline);
	if (ret < 0)
		return ret;
	RQ_ADD(qemu);
	RQ_ADD("-machine");
	RQ_ADD("q35");
	RQ_ADD("-accel");
	RQ_ADD("tcg");
	RQ_ADD("-m");
	RQ_FMT("%u", o->memory_mb ? o->memory_mb : 2048);
	RQ_ADD("-smp");
	RQ_FMT("%u", o->cpus ? o->cpus : 2);
	RQ_ADD("-nodefaults");
	RQ_ADD("-no-user-config");
	RQ_ADD("-display");
	RQ_ADD("none");
	RQ_ADD("-no-reboot");
	RQ_ADD("-bios");
	RQ_ADD(o->firmware ? o->firmware : RQ_FIRMWARE);
	RQ_ADD("-kernel");
	RQ_FMT("%s/vmlinuz", o->image_dir);
	RQ_ADD("-initrd");
	RQ_FMT("%s/initrd.img", o->image_dir);
	RQ_ADD("-append");
	RQ_ADD(cmdline);
	RQ_ADD("-chardev");
	RQ_FMT("socket,id=chrtpm,path=%s/swtpm.ctrl", r->p.priv);
	RQ_ADD("-tpmdev");
	RQ_ADD("emulator,id=tpm0,chardev=chrtpm");
	RQ_ADD("-device");
	RQ_ADD("tpm-crb,tpmdev=tpm0");
	RQ_ADD("-netdev");
	RQ_FMT("user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:%d-:%d,hostfwd=tcp:127.0.0.1:%d-:%d",
	       pa, RUNNER_QEMU_AGENT_PORT, pe, RUNNER_QEMU_EXECUTOR_PORT);
	RQ_ADD("-device");
	RQ_ADD("virtio-net-pci,netdev=n0");
	RQ_ADD("-fw_cfg");
	RQ_FMT("name=opt/aicert/server.crt,file=%s/server.crt", r->tls_dir);
	RQ_ADD("-fw_cfg");
	RQ_FMT("name=opt/aicert/server.key,file=%s/server.key", r->tls_dir);
	RQ_ADD("-fw_cfg");
	RQ_FMT("name=opt/aicert/controller-ca.crt,file=%s/ca.crt", r->tls_dir);
	RQ_ADD("-fw_cfg");
	RQ_FMT("name=opt/aicert/identity,file=%s", r->identity);
	RQ_ADD("-serial");
	RQ_FMT("file:%s/console.log", r->p.priv);
	RQ_ADD("-monitor");
	RQ_ADD("none");
	RQ_ADD(NULL);
#undef RQ_ADD
#undef RQ_FMT
	snprintf(r->agent_url, sizeof(r->agent_url), "tls+tcp://127.0.0.1:%d", pa);
	snprintf(r->executor_url, sizeof(r->executor_url), "tls+tcp://127.0.0.1:%d", pe);
	t0 = runner_now_ms();
	/* This attempt's log only: a port race is read from it. */
	if (runner_path(&r->p, "qemu.log", qlog) == 0)
		unlink(qlog);
	ret = runner_spawn(&r->p, argv, "qemu.log", &r->qemu);
	if (ret < 0)
		return ret;
	end = t0 + r->p.timeout_ms;
	while (runner_now_ms() < end) {
		if (rq_interrupted()) {
			runner_kill(&r->qemu, RQ_STOP_MS);
			return err_set(AICERT_ERR_CANCELLED, "interrupted while the runner booted");
		}
		if (rq_console_says(r, RQ_READY_LINE)) {
			r->boot_ms = runner_now_ms() - t0;
			return 0;
		}
		if (rq_console_says(r, RQ_FAILED_LINE))
			return runner_fail(&r->p, AICERT_ERR_UNAVAILABLE, "console.log",
					   "the runner image failed to start");
		if (runner_wait(r->qemu, 0, &status)) {
			char path[PATH_MAX], tail[4096];

			r->qemu = 0;
			/* A port taken between our check and QEMU's bind: the
			 * caller tries other ports. */
			if (runner_path(&r->p, "qemu.log", path) == 0) {
				runner_tail(path, tail, sizeof(tail));
				if (strstr(tail, "host forwarding"))
					return 1;
			}
			return runner_fail(&r->p, AICERT_ERR_UNAVAILABLE, "qemu.log",
					   "qemu exited with status %d", runner_status(status));
		}
		runner_sleep_ms(100);
	}
	runner_kill(&r->qemu, 0);
	return runner_fail(&r->p, AICERT_ERR_TIMEOUT, "console.log",
			   "the runner image was not ready within %ld ms", r->p.timeout_ms);
}

int runner_qemu_start(const struct runner_qemu_opts *o, struct runner_qemu **ret)
{
	struct runner_qemu *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		return AICERT_ERR_NOMEM;
	r->p.keep = o->keep;
	r->p.timeout_ms = o->ready_timeout_ms ? (long)o->ready_timeout_ms : RUNNER_QEMU_READY_MS;
	rc = o->image_dir ? rq_mkdir(r, o->work_dir)
			  : err_set(AICERT_ERR_INVALID, "no runner image directory");
	if (rc == 0)
		rc = runner_manufacture(&r->p);
	if (rc == 0)
		rc = rq_secrets(r);
	/* The host forwards bind ports picked a moment earlier: retry a few
	 * times when another process took one in between (with a new swtpm:
	 * it ends with the QEMU that connected to it). */
	for (int tries = 0; rc == 0; tries++) {
		rc = rq_swtpm(r);
		if (rc == 0)
			rc = rq_qemu(r, o);
		if (rc != 1)
			break;
		runner_kill(&r->swtpm, RQ_STOP_MS);
		if (tries == RQ_PORT_TRIES) {
			rc = err_set(AICERT_ERR_UNAVAILABLE, "no free pair of TCP ports for QEMU's "
							     "host forwards");
			break;
		}
		rc = 0;
	}
	if (rc < 0) {
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s", err_msg(rc));
		runner_qemu_free(r);
		return err_set(rc, "qemu runner: %s", msg);
	}
	log_debug("qemu runner %s: ready, boot %ld ms", r->p.dir, r->boot_ms);
	*ret = r;
	return 0;
}

static int rq_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

int runner_qemu_stop(struct runner_qemu *r)
{
	int q, s;

	if (!r || r->stopped)
		return 0;
	r->stopped = true;
	q = runner_kill(&r->qemu, RQ_STOP_MS);
	s = runner_kill(&r->swtpm, RQ_STOP_MS);
	if (!r->p.keep && r->p.dir[0])
		nftw(r->p.dir, rq_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (q < 0 || s < 0)
		return err_set(AICERT_ERR_STATE, "qemu runner %s: %s did not exit on SIGTERM",
			       r->p.dir, q < 0 ? "qemu" : "swtpm");
	return 0;
}

void runner_qemu_free(struct runner_qemu *r)
{
	if (!r)
		return;
	runner_qemu_stop(r);
	free(r);
}

const char *runner_qemu_agent_url(const struct runner_qemu *r)
{
	return r->agent_url;
}

const char *runner_qemu_executor_url(const struct runner_qemu *r)
{
	return r->executor_url;
}

const struct rpc_tls *runner_qemu_tls(const struct runner_qemu *r)
{
	return &r->tls;
}

const char *runner_qemu_ek_root(const struct runner_qemu *r)
{
	return r->ek_root;
}

const char *runner_qemu_ek_issuer(const struct runner_qemu *r)
{
	return r->ek_issuer;
}

const char *runner_qemu_controller_identity(const struct runner_qemu *r)
{
	return r->identity;
}

const char *runner_qemu_dir(const struct runner_qemu *r)
{
	return r->p.dir;
}

const char *runner_qemu_private_dir(const struct runner_qemu *r)
{
	return r->p.priv;
}

long runner_qemu_boot_ms(const struct runner_qemu *r)
{
	return r->boot_ms;
}
