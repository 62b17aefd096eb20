/* aicert-agent: the in-VM daemon that owns the TPM. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent.h"
#include "config.h"
#include "err.h"
#include "log.h"
#include "rpc.h"

int main(int argc, char **argv)
{
	struct agent_config cfg;
	struct agent *a = NULL;
	sigset_t set;
	int r, sig = 0;

	/* ESAPI prints its own error lines to stderr; ours carry the detail
	 * (Tss2_RC_Decode) once, where handled. */
	setenv("TSS2_LOG", "all+NONE", 0);
	log_setup("aicert-agent", LOG_STYLE_DAEMON, LOG_INFO);
	rpc_tune_malloc();
	/* Handle SIGTERM and SIGINT by sigwait in this thread only: block them
	 * before any worker thread starts, so that every thread inherits it. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	umask(0027);

	r = config_defaults(&cfg);
	if (r == 0)
		r = config_parse_args(&cfg, argc, argv);
	if (r == 1) {
		config_free(&cfg);
		return 0;
	}
	if (r == 0)
		r = config_validate(&cfg);
	if (r < 0) {
		log_err("%s", err_msg(r));
		config_free(&cfg);
		return 2;
	}
	if (cfg.verbose)
		log_setup("aicert-agent", LOG_STYLE_DAEMON, LOG_DEBUG);
	r = agent_start(&cfg, &a);
	if (r < 0) {
		log_err("cannot start: %s", err_msg(r));
		config_free(&cfg);
		return 1;
	}
	log_info("ready: TPM %s, local %s%s%s", cfg.tcti, cfg.local_url,
		 cfg.listen_url ? ", network " : "", cfg.listen_url ? cfg.listen_url : "");
	/* Flush now: scripts wait for this line. */
	fflush(stderr);
	while (sig != SIGTERM && sig != SIGINT)
		if (sigwait(&set, &sig) != 0)
			break;
	log_info("stopping on signal %d", sig);
	agent_stop(a);
	config_free(&cfg);
	return 0;
}
