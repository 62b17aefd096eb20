/* bench_quote's phases, which bench/run.sh runs in rounds against one swtpm:
 *
 *   direct  tpm_quote() through ESAPI in this process, with an AK of its own,
 *           and the "ideal agent": a bare nng server thread that calls
 *           tpm_quote() and replies with a Quote reply's size; run while no
 *           agent holds the TPM
 *   echo    bare nng echo servers in a process of their own, until SIGTERM
 *   rpc     bare nng round trips of a Quote's sizes (to echo servers in this
 *           process and in the echo process), then Quote calls to a running
 *           aicert-agent with 1, 4, 16 client threads
 *   report  reads what the phases saved and prints the table and ratios
 *
 * Each phase appends its figures to the results file (bstat.h).
 */
#ifndef AICERT_BENCH_BQ_H
#define AICERT_BENCH_BQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BQ_MAX_CLIENT_COUNTS 8

struct bq_opts {
	const char *results;
	const char *label; /* "ecc", "rsa", ...: the key prefix of this run */
	unsigned iters;    /* timed operations per case */
	unsigned warmup;   /* untimed operations before each case */
	/* direct */
	const char *tcti;
	const char *state_dir;
	const char *ak_alg; /* "ecc" or "rsa" */
	/* rpc */
	const char *ipc_url; /* the agent's local socket */
	const char *tls_url; /* the agent's network listener, or NULL */
	/* The client side of every tls+tcp:// call (agent and bare): certificate,
	 * key, and the CA the server's certificate chains to. */
	const char *tls_cert;
	const char *tls_key;
	const char *tls_ca;
	/* The server side of the bare tls+tcp:// servers (direct, rpc, echo):
	 * the agent's certificate and key, and the controller CA. */
	const char *srv_cert;
	const char *srv_key;
	const char *srv_ca;
	const char *work_dir; /* where the bare servers' ipc sockets go */
	unsigned clients[BQ_MAX_CLIENT_COUNTS];
	size_t nclients;
	unsigned rounds;    /* interleaved rounds of the 1-client cases */
	bool shared_client; /* one rpc_client for every thread */
	bool no_nng;
	const char *echo_ipc; /* bare echo servers in their own process */
	const char *echo_tls;
};

int bq_direct_run(const struct bq_opts *o);
int bq_rpc_run(const struct bq_opts *o);
int bq_echo_run(const struct bq_opts *o);
int bq_report_run(const struct bq_opts *o);

#endif
