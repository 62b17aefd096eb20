/* aicert-executor: runs one job inside the runner (executor_svc.h).
 *
 *   aicert-executor --agent ipc://AGENT.sock --listen ipc://EXECUTOR.sock
 *                   --workspace DIR [--hide DIR]... [--ca-file PEM]
 *                   [--run-as UID:GID] [--local-runner] [--verbose]
 *                   [--tls-cert PEM --tls-key PEM --tls-ca PEM]
 *
 * It serves the controller on --listen: a local socket (the local runner's
 * directory), or tls+tcp:// with mutual TLS (a runner image: the controller
 * that provisioned it holds the only client certificate its CA signed), measures through the
 * agent's local socket, and runs the job's command in the sandbox with every --hide directory
 * hidden (the agent's and its own sockets' directories at least). It logs "ready" once it serves,
 * and exits on SIGTERM or SIGINT, killing a command still running.
 * --local-runner: the controller runs on this machine and shares its files,
 * so a job may name local git repositories (relative to the job file's
 * directory, which StartJob gives); refused otherwise.
 */
#include <getopt.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nng/nng.h>

#include "err.h"
#include "executor_svc.h"
#include "log.h"
#include "rpc.h"

#define EXEC_MAX_HIDE 16
#define EXEC_WORKERS  4

static void usage(FILE *f)
{
	fprintf(f, "usage: aicert-executor --agent URL --listen URL --workspace DIR\n"
		   "                       [--hide DIR]... [--ca-file PEM] [--run-as UID:GID]\n"
		   "                       [--local-runner] [--verbose]\n"
		   "                       [--tls-cert PEM --tls-key PEM --tls-ca PEM]\n"
		   "--listen: ipc://PATH, or tls+tcp://HOST:PORT with the three TLS files\n"
		   "(--tls-ca: the CA the controller's certificate chains to)\n");
}

static int parse_ids(const char *s, uid_t *uid, gid_t *gid)
{
	char *end;
	unsigned long u, g;

	u = strtoul(s, &end, 10);
	if (end == s || *end != ':')
		return -1;
	s = end + 1;
	g = strtoul(s, &end, 10);
	if (end == s || *end || u == 0 || g == 0 || u > 0xfffffffeul || g > 0xfffffffeul)
		return -1;
	*uid = (uid_t)u;
	*gid = (gid_t)g;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"agent", required_argument, NULL, 'a'},
					     {"listen", required_argument, NULL, 'l'},
					     {"workspace", required_argument, NULL, 'w'},
					     {"hide", required_argument, NULL, 'H'},
					     {"ca-file", required_argument, NULL, 'c'},
					     {"run-as", required_argument, NULL, 'u'},
					     {"verbose", no_argument, NULL, 'v'},
					     {"help", no_argument, NULL, 'h'},
					     {"local-runner", no_argument, NULL, 'L'},
					     {"tls-cert", required_argument, NULL, 'C'},
					     {"tls-key", required_argument, NULL, 'K'},
					     {"tls-ca", required_argument, NULL, 'A'},
					     {NULL, 0, NULL, 0}};
	const char *hide[EXEC_MAX_HIDE + 1] = {NULL}, *listen = NULL;
	struct executor_svc_opts so = {.hide = hide};
	struct executor_svc *svc = NULL;
	struct rpc_server *srv = NULL;
	struct rpc_tls tls = {0};
	bool net;
	size_t n_hide = 0;
	sigset_t set;
	int c, r, sig = 0;

	log_setup("aicert-executor", LOG_STYLE_DAEMON, LOG_INFO);
	rpc_tune_malloc();
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			so.agent_url = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 'w':
			so.workspace = optarg;
			break;
		case 'H':
			if (n_hide == EXEC_MAX_HIDE || optarg[0] != '/') {
				log_err("--hide: at most %d absolute directories", EXEC_MAX_HIDE);
				return 2;
			}
			hide[n_hide++] = optarg;
			break;
		case 'c':
			so.ca_file = optarg;
			break;
		case 'u':
			if (parse_ids(optarg, &so.run_uid, &so.run_gid) < 0) {
				log_err("--run-as: UID:GID, neither 0");
				return 2;
			}
			break;
		case 'C':
			tls.cert_file = optarg;
			break;
		case 'K':
			tls.key_file = optarg;
			break;
		case 'A':
			tls.ca_file = optarg;
			break;
		case 'L':
			so.allow_local_base = true;
			break;
		case 'v':
			log_setup("aicert-executor", LOG_STYLE_DAEMON, LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !so.agent_url || !listen || !so.workspace || so.workspace[0] != '/') {
		usage(stderr);
		return 2;
	}
	/* A socket only this machine reaches (ipc://), or mutual TLS. */
	net = strncmp(listen, "ipc://", 6) != 0;
	if (net && (strncmp(listen, "tls+tcp://", 10) != 0 || !tls.cert_file || !tls.key_file ||
		    !tls.ca_file)) {
		log_err("--listen: ipc://PATH, or tls+tcp://HOST:PORT with --tls-cert, --tls-key "
			"and --tls-ca (the controller's CA)");
		return 2;
	}
	if (net && so.allow_local_base) {
		log_err("--local-runner: only with an ipc:// listener");
		return 2;
	}
	/* SIGTERM and SIGINT by sigwait in this thread only. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	umask(0022);

	r = executor_svc_new(&so, &svc);
	if (r == 0)
		r = rpc_server_new(executor_svc_service(svc), &srv);
	for (size_t i = 0; r == 0 && i < 5; i++) {
		static const char *const mutating[] = {"StartJob", "PutFile", "StageInput", "Run",
						       "Finish"};

		r = rpc_server_set_flags(srv, mutating[i], RPC_METHOD_MUTATING);
	}
	if (r == 0)
		r = rpc_server_listen(srv, listen, net ? &tls : NULL, !net, EXEC_WORKERS);
	if (r < 0) {
		log_err("cannot start: %s", err_msg(r));
		rpc_server_free(srv);
		executor_svc_free(svc);
		return 1;
	}
	log_info("ready: listening on %s, agent %s, workspace %s", listen, so.agent_url,
		 so.workspace);
	fflush(stderr);
	while (sig != SIGTERM && sig != SIGINT)
		if (sigwait(&set, &sig) != 0)
			break;
	log_info("stopping on signal %d", sig);
	rpc_server_free(srv);
	executor_svc_free(svc);
	nng_fini();
	return 0;
}
