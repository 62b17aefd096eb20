/* The bare nng baseline: a req/rep round trip with no RPC layer and no
 * protobuf, with messages of the sizes a Quote call puts on the wire.
 *
 * The server is one thread on a rep socket that answers every request with
 * as many bytes as the request's first four (big-endian) ask for, optionally
 * after calling work() (the "ideal agent": the TPM quote behind nng and
 * nothing else). The client sends req_len bytes and waits for the reply,
 * either with nng_send/nng_recv on the socket (the floor) or, like
 * rpc_client, on a context and aio opened for the call.
 */
#ifndef AICERT_BENCH_BNNG_H
#define AICERT_BENCH_BNNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rpc_tls;
struct bnng_server;
struct bnng_client;

/* url may be tcp://127.0.0.1:0 or tls+tcp://127.0.0.1:0; the port taken is
 * in bnng_server_url(). tls is required for tls+tcp:// and requires the
 * peer's certificate. work, if not NULL, runs on the server thread before
 * each reply; when it fails the server replies with an empty message. */
int bnng_server_start(const char *url, const struct rpc_tls *tls, int (*work)(void *arg),
		      void *work_arg, struct bnng_server **ret);
const char *bnng_server_url(const struct bnng_server *s);
/* Closes the socket and joins the thread. NULL-safe. */
void bnng_server_stop(struct bnng_server *s);

/* Dials and waits until connected. Each call sends req_len bytes (at least
 * 4) and gets rep_len back. */
int bnng_client_dial(const char *url, const struct rpc_tls *tls, size_t req_len, size_t rep_len,
		     bool ctx_per_call, struct bnng_client **ret);
/* One round trip. */
int bnng_client_call(struct bnng_client *c);
/* The same as a bcase operation: ctx is the client. */
int bnng_op(void *ctx, uint64_t seq);
void bnng_client_free(struct bnng_client *c);

#endif
