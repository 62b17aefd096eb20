/* The local runner: swtpm and aicert-agent as child processes (see
 * runner_local.h). */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "fileio.h"
#include "log.h"
#include "runner_local.h"
#include "runner_proc.h"

#define RL_MAX_ARGS      64
#define RL_SOCKET_PREFIX "ipc://"

#define RL_DIR_MAX RUNNER_DIR_MAX

struct runner_local {
	struct runner_proc p; /* dir, priv, keep, timeout_ms */
	char work[RL_DIR_MAX + 8];
	char url[RL_DIR_MAX + 32];
	char exec_url[RL_DIR_MAX + 32];
	char tcti[RL_DIR_MAX + 32];
	char ek_root[RL_DIR_MAX + 48];
	char ek_issuer[RL_DIR_MAX + 32];
	char identity[RL_DIR_MAX + 32];
	pid_t swtpm;
	pid_t agent;
	pid_t executor;
	bool stopped;
};

/* swtpm on Unix sockets in DIR/runner (tpm.sock, and tpm.sock.ctrl where
 * tcti-swtpm looks for the control channel): only this user reaches them,
 * and no network namespace does. Ready once the control socket answers. */
static int rl_swtpm(struct runner_local *r)
{
	char swtpm[PATH_MAX], state[PATH_MAX + 8], server[PATH_MAX + 32], ctrl[PATH_MAX + 32];
	char sock[PATH_MAX], ctrl_sock[PATH_MAX];
	const char *argv[] = {swtpm,
			      "socket",
			      "--tpm2",
			      "--tpmstate",
			      state,
			      "--server",
			      server,
			      "--ctrl",
			      ctrl,
			      "--flags",
			      "not-need-init,startup-clear",
			      NULL};
	long end;
	int status, ret;

	ret = runner_which("swtpm", swtpm);
	if (ret == 0)
		ret = runner_path(&r->p, "tpm.sock", sock);
	if (ret == 0)
		ret = runner_path(&r->p, "tpm.sock.ctrl", ctrl_sock);
	if (ret < 0)
		return ret;
	snprintf(state, sizeof(state), "dir=%s/state", r->p.priv);
	snprintf(server, sizeof(server), "type=unixio,path=%s,mode=0600", sock);
	snprintf(ctrl, sizeof(ctrl), "type=unixio,path=%s,mode=0600", ctrl_sock);
	ret = runner_spawn(&r->p, argv, "swtpm.log", &r->swtpm);
	if (ret < 0)
		return ret;
	end = runner_now_ms() + r->p.timeout_ms;
	for (;;) {
		if (runner_wait(r->swtpm, 0, &status)) {
			r->swtpm = 0;
			return runner_fail(&r->p, AICERT_ERR_UNAVAILABLE, "swtpm.log",
					   "swtpm exited with status %d", runner_status(status));
		}
		if (runner_ping(ctrl_sock)) {
			snprintf(r->tcti, sizeof(r->tcti), "swtpm:path=%s/tpm.sock", r->p.priv);
			return 0;
		}
		if (runner_now_ms() >= end)
			break;
		runner_sleep_ms(RUNNER_POLL_MS);
	}
	runner_kill(&r->swtpm, 0);
	return runner_fail(&r->p, AICERT_ERR_TIMEOUT, "swtpm.log",
			   "swtpm did not answer within %ld ms", r->p.timeout_ms);
}

/* ---- the agent ---------------------------------------------------------------------- */

static int rl_agent(struct runner_local *r, const char *bin, const char *const *extra)
{
	char state[PATH_MAX];
	const char *argv[RL_MAX_ARGS + 1] = {
		bin,    "--tcti",     r->tcti, "--state-dir",           state,      "--local",
		r->url, "--boot-log", "",      "--controller-identity", r->identity};
	uint8_t id[32];
	size_t n = 11;
	int ret;

	for (size_t i = 0; extra && extra[i]; i++) {
		if (n >= RL_MAX_ARGS)
			return err_set(AICERT_ERR_TOO_BIG, "more than %d agent arguments",
				       RL_MAX_ARGS);
		argv[n++] = extra[i];
	}
	argv[n] = NULL;
	/* A one-time identity for whoever started this runner: the agent
	 * binds the runner to it in PCR 15 before it serves anyone. */
	if (getrandom(id, sizeof(id), 0) != sizeof(id))
		return err_set(AICERT_ERR_CRYPTO, "no random bytes for the controller identity");
	ret = fileio_write_atomic(r->identity, id, sizeof(id), 0600);
	if (ret == 0)
		ret = runner_path(&r->p, "agent", state);
	if (ret == 0)
		ret = runner_spawn(&r->p, argv, "agent.log", &r->agent);
	if (ret < 0)
		return ret;
	return runner_await(&r->p, &r->agent, bin, "agent.log");
}

/* The executor: serves the controller on DIR/runner/executor.sock, runs the
 * job in DIR/work, and hides DIR/runner from the job's command. */
static int rl_executor(struct runner_local *r, const char *bin, const char *ca_file)
{
	const char *argv[] = {bin,           "--agent", r->url,   "--listen", r->exec_url,
			      "--workspace", r->work,   "--hide", r->p.priv,  "--local-runner",
			      NULL,          NULL,      NULL};
	int ret;

	if (ca_file) {
		argv[10] = "--ca-file";
		argv[11] = ca_file;
	}
	ret = runner_spawn(&r->p, argv, "executor.log", &r->executor);
	if (ret < 0)
		return ret;
	return runner_await(&r->p, &r->executor, bin, "executor.log");
}

/* ---- runner ------------------------------------------------------------------------- */

static int rl_mkdir(struct runner_local *r, const struct runner_local_opts *o)
{
	const char *base = o->work_dir;
	char tmpl[PATH_MAX];
	int n;

	if (!base || !*base)
		base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	n = snprintf(tmpl, sizeof(tmpl), "%s/aicert-runner.XXXXXX", base);
	if (n < 0 || (size_t)n >= sizeof(r->p.dir))
		return err_set(AICERT_ERR_INVALID,
			       "%s: too long for the agent's socket path (at most %zu bytes)", base,
			       sizeof(r->p.dir) - 1 - strlen("/aicert-runner.XXXXXX"));
	if (!mkdtemp(tmpl))
		return err_set(AICERT_ERR_IO, "mkdtemp %s: %s", tmpl, strerror(errno));
	memcpy(r->p.dir, tmpl, (size_t)n + 1);
	snprintf(r->p.priv, sizeof(r->p.priv), "%s/runner", r->p.dir);
	snprintf(r->work, sizeof(r->work), "%s/work", r->p.dir);
	snprintf(r->url, sizeof(r->url), RL_SOCKET_PREFIX "%s/agent.sock", r->p.priv);
	snprintf(r->exec_url, sizeof(r->exec_url), RL_SOCKET_PREFIX "%s/executor.sock", r->p.priv);
	snprintf(r->ek_root, sizeof(r->ek_root), "%s/ca/swtpm-localca-rootca-cert.pem", r->p.priv);
	snprintf(r->ek_issuer, sizeof(r->ek_issuer), "%s/ca/issuercert.pem", r->p.priv);
	snprintf(r->identity, sizeof(r->identity), "%s/controller.id", r->p.priv);
	/* DIR: traversable, so that the job's command (run as another user by
	 * root) reaches DIR/work; DIR/runner: ours alone. */
	if (chmod(r->p.dir, 0711) < 0 || mkdir(r->p.priv, 0700) < 0)
		return err_set(AICERT_ERR_IO, "%s: %s", r->p.priv, strerror(errno));
	return 0;
}

int runner_local_start(const struct runner_local_opts *o, struct runner_local **ret)
{
	struct runner_local *r = NULL;
	char agent[PATH_MAX], executor[PATH_MAX];
	long t0 = runner_now_ms(), t1, t2, t3;
	int rc;

	rc = runner_bin_path(o->agent_bin, "aicert-agent", agent);
	if (rc == 0 && o->executor)
		rc = runner_bin_path(o->executor_bin, "aicert-executor", executor);
	if (rc < 0)
		return err_wrap(rc, "local runner");
	r = calloc(1, sizeof(*r));
	if (!r)
		return err_set(AICERT_ERR_NOMEM, "out of memory");
	r->p.keep = o->keep;
	r->p.timeout_ms = o->ready_timeout_ms ? (long)o->ready_timeout_ms : RUNNER_LOCAL_READY_MS;
	rc = rl_mkdir(r, o);
	if (rc == 0)
		rc = runner_manufacture(&r->p);
	t1 = runner_now_ms();
	if (rc == 0)
		rc = rl_swtpm(r);
	t2 = runner_now_ms();
	if (rc == 0)
		rc = rl_agent(r, agent, o->agent_args);
	t3 = runner_now_ms();
	if (rc == 0 && o->executor)
		rc = rl_executor(r, executor, o->ca_file);
	if (rc < 0) {
		char msg[1024];

		/* Teardown must not replace the message of what failed. */
		snprintf(msg, sizeof(msg), "%s", err_msg(rc));
		runner_local_free(r);
		return err_set(rc, "local runner: %s", msg);
	}
	log_debug("runner %s: ready in %ld ms (swtpm_setup %ld, swtpm %ld, agent %ld, "
		  "executor %ld)",
		  r->p.dir, runner_now_ms() - t0, t1 - t0, t2 - t1, t3 - t2, runner_now_ms() - t3);
	*ret = r;
	return 0;
}

static int rl_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

int runner_local_stop(struct runner_local *r)
{
	int exec_status, agent_status, swtpm_status, rc = 0;

	if (!r || r->stopped)
		return 0;
	r->stopped = true;
	/* The executor first: it kills a command still running. */
	exec_status = runner_kill(&r->executor, RUNNER_LOCAL_STOP_MS);
	agent_status = runner_kill(&r->agent, RUNNER_LOCAL_STOP_MS);
	swtpm_status = runner_kill(&r->swtpm, RUNNER_LOCAL_STOP_MS);
	if (agent_status != 0)
		rc = agent_status < 0
			     ? err_set(AICERT_ERR_STATE,
				       "local runner %s: the agent did not exit on SIGTERM",
				       r->p.dir)
			     : err_set(AICERT_ERR_STATE,
				       "local runner %s: the agent exited with status %d", r->p.dir,
				       agent_status);
	else if (exec_status != 0)
		rc = err_set(AICERT_ERR_STATE, "local runner %s: the executor %s", r->p.dir,
			     exec_status < 0 ? "did not exit on SIGTERM" : "failed");
	else if (swtpm_status < 0)
		rc = err_set(AICERT_ERR_STATE, "local runner %s: swtpm did not exit on SIGTERM",
			     r->p.dir);
	if (!r->p.keep && r->p.dir[0])
		nftw(r->p.dir, rl_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}

void runner_local_free(struct runner_local *r)
{
	if (!r)
		return;
	runner_local_stop(r);
	free(r);
}

const char *runner_local_url(const struct runner_local *r)
{
	return r->url;
}

const char *runner_local_tcti(const struct runner_local *r)
{
	return r->tcti;
}

const char *runner_local_ek_root(const struct runner_local *r)
{
	return r->ek_root;
}

const char *runner_local_ek_issuer(const struct runner_local *r)
{
	return r->ek_issuer;
}

const char *runner_local_dir(const struct runner_local *r)
{
	return r->p.dir;
}

const char *runner_local_executor_url(const struct runner_local *r)
{
	return r->executor ? r->exec_url : NULL;
}

const char *runner_local_controller_identity(const struct runner_local *r)
{
	return r->identity;
}

const char *runner_local_workspace(const struct runner_local *r)
{
	return r->work;
}

const char *runner_local_private_dir(const struct runner_local *r)
{
	return r->p.priv;
}

pid_t runner_local_executor_pid(const struct runner_local *r)
{
	return r->executor;
}

pid_t runner_local_agent_pid(const struct runner_local *r)
{
	return r->agent;
}

pid_t runner_local_swtpm_pid(const struct runner_local *r)
{
	return r->swtpm;
}
