/* The echo phase: bare nng echo servers in a process of their own, so that
 * the bare baseline crosses processes as a call to the agent does (the rpc
 * phase's own echo servers are threads of the calling process). Writes
 * "<transport> <url>" lines to WORK/echo.urls once listening, then serves
 * until SIGTERM or SIGINT. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "bnng.h"
#include "bq.h"
#include "err.h"
#include "fileio.h"
#include "rpc.h"

static int bq_echo_urls(const struct bq_opts *o, struct bnng_server *const srv[2])
{
	char path[600], text[600];
	int n;

	n = snprintf(text, sizeof(text), "ipc %s\n", bnng_server_url(srv[0]));
	if (srv[1])
		n += snprintf(text + n, sizeof(text) - (size_t)n, "tls %s\n",
			      bnng_server_url(srv[1]));
	snprintf(path, sizeof(path), "%s/echo.urls", o->work_dir);
	return fileio_write_atomic(path, text, (size_t)n, 0600);
}

int bq_echo_run(const struct bq_opts *o)
{
	struct rpc_tls tls = {o->srv_cert, o->srv_key, o->srv_ca};
	struct bnng_server *srv[2] = {NULL, NULL};
	char url[600];
	sigset_t set;
	int r, sig = 0;

	if (!o->work_dir)
		return err_set(AICERT_ERR_INVALID, "echo needs --work DIR");
	/* Before any thread starts, so that every thread inherits the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	snprintf(url, sizeof(url), "ipc://%s/bench-xecho.sock", o->work_dir);
	r = bnng_server_start(url, NULL, NULL, NULL, &srv[0]);
	if (r == 0 && o->srv_cert && o->srv_key && o->srv_ca)
		r = bnng_server_start("tls+tcp://127.0.0.1:0", &tls, NULL, NULL, &srv[1]);
	if (r == 0)
		r = bq_echo_urls(o, srv);
	while (r == 0 && sig != SIGTERM && sig != SIGINT)
		if (sigwait(&set, &sig) != 0)
			break;
	bnng_server_stop(srv[0]);
	bnng_server_stop(srv[1]);
	return r;
}
