/* Pieces of the RPC layer shared by rpc.c, rpc_server.c and rpc_client.c. */
#ifndef AICERT_RPC_INTERNAL_H
#define AICERT_RPC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>
#include <protobuf-c/protobuf-c.h>

struct rpc_tls;

#define RPC_TLS_PEM_MAX (64u << 10)

int rpc_pack(const ProtobufCMessage *msg, uint8_t **buf, size_t *len);
const ProtobufCMethodDescriptor *rpc_method_lookup(const ProtobufCServiceDescriptor *svc,
						   const char *full, unsigned *index);
/* Checks the scheme against local and tls; see rpc_server_listen(). */
int rpc_url_check(const char *url, bool local, const struct rpc_tls *tls);
/* The one translation of nng's error numbers. */
int rpc_nng_err(int rv, const char *what, const char *url);

/* Milliseconds on the monotonic clock (deadlines of both sides). */
int64_t rpc_now_ms(void);
/* A TLS configuration that presents tls's certificate and requires the
 * peer's, chaining to tls->ca_file. */
int rpc_tls_config(const struct rpc_tls *tls, bool server, nng_tls_config **ret);

/* Handles buf as if it had arrived on a listener (local or not) and returns
 * the packed Response: for the fuzz target and unit tests. */
struct rpc_server;
int rpc_server_handle_bytes(struct rpc_server *s, bool local, const uint8_t *buf, size_t len,
			    uint8_t **out, size_t *out_len);

#endif
