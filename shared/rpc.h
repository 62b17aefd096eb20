/* gRPC-style RPC over nng req/rep with protobuf-c messages.
 *
 * Every call is one aicert.v1.Request (method "<service>/<Method>", a random
 * request id, a deadline, the packed input) answered by one aicert.v1.Response
 * (the request id, a gRPC status code, a message, the packed output). The
 * server dispatches through protobuf-c's generated service descriptor; clients
 * call the generated stubs on the ProtobufCService that rpc_client_service()
 * returns.
 *
 * Transports: ipc:// (local, may carry local-only methods), tls+tcp:// with
 * mutual TLS (the peer must present a certificate from the configured CA), and
 * inproc:// for unit tests.
 *
 * Every message is parsed strictly: it must re-encode to exactly the bytes
 * received, so unknown fields, duplicates, trailing bytes and non-canonical
 * encodings are all refused.
 */
#ifndef AICERT_RPC_H
#define AICERT_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* A request larger than this gets RESOURCE_EXHAUSTED. */
#define RPC_MAX_REQUEST_BYTES (1u << 20)
/* The server's nng receive limit: a larger message is dropped with its
 * connection before any of it is parsed. */
#define RPC_HARD_MAX_BYTES (4u << 20)
/* Largest reply a client accepts by default (event logs can be large). */
#define RPC_MAX_REPLY_BYTES     (16u << 20)
#define RPC_DEFAULT_DEADLINE_MS 30000u
#define RPC_MAX_DEADLINE_MS     600000u
/* How long a reply may wait for its connection to take it (see
 * rpc_server_set_reply_timeout). */
#define RPC_REPLY_SEND_MS 60000u

struct rpc_tls {
	const char *cert_file; /* PEM certificate of this side */
	const char *key_file;  /* PEM private key of this side */
	const char *ca_file;   /* PEM CA the peer's certificate must chain to */
};

/* ---- Server ----------------------------------------------------------- */

struct rpc_server;
/* The per-call context. Handlers receive it as their closure_data. */
struct rpc_call;

enum rpc_method_flags {
	/* Refused with PERMISSION_DENIED on listeners that are not local. */
	RPC_METHOD_LOCAL_ONLY = 1u << 0,
	/* Executed at most once per request id: a resent request gets the
	 * reply of the first execution. Such calls must carry a request id. */
	RPC_METHOD_MUTATING = 1u << 1,
};

/* The service's handlers must reply synchronously: before returning, each
 * calls its closure once, with the output message or with NULL after
 * rpc_call_fail(). The server does not take ownership of service. */
int rpc_server_new(ProtobufCService *service, struct rpc_server **ret);

/* method is the bare method name, e.g. "Extend". */
int rpc_server_set_flags(struct rpc_server *s, const char *method, unsigned flags);

/* A peer that sends requests and never reads the replies would hold a
 * worker for as long as it liked: nng's send waits for the connection to
 * drain. A reply that its connection has not taken within ms (default
 * RPC_REPLY_SEND_MS; 0 waits without limit) is dropped instead, and that
 * connection gets no more answers. Set before listening. */
void rpc_server_set_reply_timeout(struct rpc_server *s, uint32_t ms);

/* How many times a watchdog replaced an ipc:// listener that nng 1.5 had
 * stopped (nanomsg/nng#1518; see rpc_server.c). After 64 on one listener,
 * the process exits with status 1, for its supervisor to start it afresh:
 * nng keeps what each stuck listener held, descriptors included. */
unsigned rpc_server_relistens(struct rpc_server *s);

/* Starts listening with `workers` threads serving calls concurrently.
 * local marks a trusted local socket and requires an ipc:// or inproc:// URL.
 * tls+tcp:// requires tls with all three files, and the peer must present a
 * certificate chaining to tls->ca_file. */
int rpc_server_listen(struct rpc_server *s, const char *url, const struct rpc_tls *tls, bool local,
		      unsigned workers);

/* Closes every listener, waits for calls in progress, frees s. NULL-safe. */
void rpc_server_free(struct rpc_server *s);

/* For handlers: records the failure that closure(NULL, call) reports. */
void rpc_call_fail(struct rpc_call *call, uint32_t status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same from an AICERT_ERR_* code and the thread's err_msg(). */
void rpc_call_fail_err(struct rpc_call *call, int code);
bool rpc_call_is_local(const struct rpc_call *call);
uint64_t rpc_call_request_id(const struct rpc_call *call);
/* Milliseconds left before the call's deadline; 0 or less when it passed. */
int64_t rpc_call_remaining_ms(const struct rpc_call *call);

/* ---- Client ----------------------------------------------------------- */

struct rpc_client;

struct rpc_client_opts {
	const struct rpc_tls *tls; /* required for tls+tcp:// */
	uint32_t timeout_ms;       /* per call; 0 means RPC_DEFAULT_DEADLINE_MS */
	size_t max_reply_bytes;    /* 0 means RPC_MAX_REPLY_BYTES */
};

/* Dials url for the service desc. Connection is lazy: a server that is not up
 * yet is retried until a call's deadline. The client may be used by several
 * threads at once. */
int rpc_client_dial(const char *url, const ProtobufCServiceDescriptor *desc,
		    const struct rpc_client_opts *opts, struct rpc_client **ret);
void rpc_client_free(struct rpc_client *c);

/* The service to pass to generated stubs. Its closure_data must point to a
 * struct rpc_reply and its closure must be rpc_reply_capture (cast to the
 * stub's closure type). */
ProtobufCService *rpc_client_service(struct rpc_client *c);

struct rpc_reply {
	/* The unpacked output on success, owned by the caller:
	 * protobuf_c_message_free_unpacked(msg, NULL). NULL on failure. */
	ProtobufCMessage *msg;
	/* The server's status, or RPC_UNAVAILABLE / RPC_DEADLINE_EXCEEDED for
	 * transport failures. */
	uint32_t status;
	/* 0, or the AICERT_ERR_* code; err_msg() then holds
	 * "<Method>: <STATUS>: <server's message>". */
	int err;
};

#define RPC_REPLY_INIT                                                                             \
	{                                                                                          \
		NULL, RPC_UNKNOWN, AICERT_ERR_INTERNAL                                             \
	}

void rpc_reply_capture(const ProtobufCMessage *msg, void *closure_data);

/* Low-level call for tests and tools: sends payload under any method name and
 * request id (0 picks a random one) and returns the raw reply. *out_payload
 * and *out_message are malloc'd. Returns 0 when a Response arrived, whatever
 * its status, or a transport error. */
int rpc_client_call_raw(struct rpc_client *c, const char *method, const uint8_t *payload,
			size_t len, uint64_t request_id, uint32_t *out_status, char **out_message,
			uint8_t **out_payload, size_t *out_len);

/* Sends bytes as they are (not wrapped in a Request) and returns the raw reply
 * bytes: for tests that feed the server garbage. */
int rpc_client_send_bytes(struct rpc_client *c, const uint8_t *buf, size_t len, uint8_t **reply,
			  size_t *reply_len);

/* ---- Shared ----------------------------------------------------------- */

/* For processes that move large messages (PutFile and ReadOutput chunks of
 * about 1 MiB): keeps such buffers in the malloc heap. By default glibc
 * serves them with mmap and returns them with munmap, so that every call
 * faults its pages in again; measured here, that halved the throughput of
 * staging an input (bench/run_job.sh). Call once, early in main(). */
void rpc_tune_malloc(void);

/* Unpacks buf as desc and requires that it re-encodes to exactly buf.
 * AICERT_ERR_INVALID otherwise, with the reason in err_msg(). The caller
 * bounds len (the RPC layer by its receive limits, the agent's state by
 * its file size limit). */
int rpc_unpack_strict(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
		      ProtobufCMessage **ret);

#endif
