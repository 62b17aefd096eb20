/* The RPC client: one nng req socket, a context per call, and a
 * ProtobufCService whose invoke runs the call synchronously. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "aicert.pb-c.h"
#include "err.h"
#include "rpc.h"
#include "rpc_internal.h"

struct rpc_client {
	ProtobufCService service; /* first: rpc_client_invoke casts back */
	nng_socket sock;
	bool open;
	nng_tls_config *tls;
	uint32_t timeout_ms;
	char *url;
};

static void rpc_client_invoke(ProtobufCService *service, unsigned index,
			      const ProtobufCMessage *input, ProtobufCClosure closure,
			      void *closure_data);

static int rpc_client_setup(struct rpc_client *c, const char *url,
			    const struct rpc_client_opts *opts)
{
	size_t max_reply =
		opts && opts->max_reply_bytes ? opts->max_reply_bytes : RPC_MAX_REPLY_BYTES;
	nng_dialer d;
	int rv, r;

	rv = nng_req0_open(&c->sock);
	if (rv != 0)
		return rpc_nng_err(rv, "open socket for", url);
	c->open = true;
	/* No timed resend: a mutating call must not run twice. (With none, nng
	 * 1.5 also fails a call whose connection drops with a reset rather than
	 * resending it; a caller that calls again with the same request id is
	 * answered from the server's resend cache.) */
	nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, max_reply + 4096);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 10);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 500);
	rv = nng_dialer_create(&d, c->sock, url);
	if (rv != 0)
		return rpc_nng_err(rv, "dial", url);
	if (strncmp(url, "tls+tcp://", 10) == 0) {
		r = rpc_tls_config(opts->tls, false, &c->tls);
		if (r < 0)
			return r;
		rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, c->tls);
		if (rv != 0)
			return rpc_nng_err(rv, "TLS configuration for", url);
	}
	/* Non-blocking: the server may come up later; calls wait for it until
	 * their deadline. */
	rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
	if (rv != 0)
		return rpc_nng_err(rv, "dial", url);
	return 0;
}

int rpc_client_dial(const char *url, const ProtobufCServiceDescriptor *desc,
		    const struct rpc_client_opts *opts, struct rpc_client **ret)
{
	struct rpc_client *c;
	int r;

	r = rpc_url_check(url, false, opts ? opts->tls : NULL);
	if (r < 0)
		return r;
	c = calloc(1, sizeof(*c));
	if (!c)
		return AICERT_ERR_NOMEM;
	c->service.descriptor = desc;
	c->service.invoke = rpc_client_invoke;
	c->timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms : RPC_DEFAULT_DEADLINE_MS;
	if (c->timeout_ms > RPC_MAX_DEADLINE_MS)
		c->timeout_ms = RPC_MAX_DEADLINE_MS;
	c->url = strdup(url);
	if (!c->url) {
		rpc_client_free(c);
		return AICERT_ERR_NOMEM;
	}
	r = rpc_client_setup(c, url, opts);
	if (r < 0) {
		rpc_client_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

void rpc_client_free(struct rpc_client *c)
{
	if (!c)
		return;
	if (c->open)
		nng_close(c->sock);
	if (c->tls)
		nng_tls_config_free(c->tls);
	free(c->url);
	free(c);
}

ProtobufCService *rpc_client_service(struct rpc_client *c)
{
	return &c->service;
}

void rpc_reply_capture(const ProtobufCMessage *msg, void *closure_data)
{
	struct rpc_reply *rep = closure_data;

	rep->msg = (ProtobufCMessage *)msg;
}

/* One request out, one reply back, on a context of its own: the request
 * handed to a connection within send_ms (*sent then true), the reply by
 * deadline (rpc_now_ms() time). The nng error, or 0 with the reply. */
static int rpc_roundtrip_once(struct rpc_client *c, const uint8_t *buf, size_t len,
			      uint32_t send_ms, int64_t deadline, bool *sent, nng_msg **reply)
{
	int64_t now;
	nng_aio *aio = NULL;
	nng_msg *msg = NULL;
	nng_ctx ctx;
	int rv;

	rv = nng_ctx_open(&ctx, c->sock);
	if (rv != 0)
		return rv;
	rv = nng_aio_alloc(&aio, NULL, NULL);
	if (rv == 0)
		rv = nng_msg_alloc(&msg, 0);
	if (rv == 0)
		rv = nng_msg_append(msg, buf, len);
	if (rv == 0) {
		nng_aio_set_timeout(aio, (nng_duration)send_ms);
		nng_aio_set_msg(aio, msg);
		nng_ctx_send(ctx, aio);
		nng_aio_wait(aio);
		rv = nng_aio_result(aio);
	}
	*sent = rv == 0;
	if (rv == 0) {
		msg = NULL; /* the socket owns it now */
		now = rpc_now_ms();
		nng_aio_set_timeout(aio, now < deadline ? (nng_duration)(deadline - now) : 1);
		nng_ctx_recv(ctx, aio);
		nng_aio_wait(aio);
		rv = nng_aio_result(aio);
	}
	if (rv == 0)
		*reply = nng_aio_get_msg(aio);
	if (msg)
		nng_msg_free(msg);
	nng_aio_free(aio);
	nng_ctx_close(ctx);
	return rv;
}

/* The request, and its reply, within the client's timeout. A connection
 * that drops with the call in flight (nng 1.5 then fails the call with a
 * reset rather than resending it) gets the same bytes once more, if a new
 * connection comes up within RPC_RECONNECT_MS and time is left: the request
 * id is the same, so the server answers a mutating call it already ran
 * from its resend cache; the other calls only read. A server that is gone
 * fails the call with the reset. */
#define RPC_RECONNECT_MS 3000

static int rpc_roundtrip(struct rpc_client *c, const uint8_t *buf, size_t len, uint8_t **reply,
			 size_t *reply_len)
{
	int64_t deadline = rpc_now_ms() + c->timeout_ms, now;
	nng_msg *msg = NULL;
	bool sent;
	int rv;

	/* nng would drop the connection without a word (its limit counts the
	 * 4-byte request id it puts in front) */
	if (len + 4 > RPC_HARD_MAX_BYTES)
		return err_set(AICERT_ERR_TOO_BIG,
			       "a request of %zu bytes to %s, at most %u possible", len, c->url,
			       RPC_HARD_MAX_BYTES - 4);
	rv = rpc_roundtrip_once(c, buf, len, c->timeout_ms, deadline, &sent, &msg);
	now = rpc_now_ms();
	if (rv == NNG_ECONNRESET && now + 10 < deadline) {
		uint32_t wait = deadline - now - 10 < RPC_RECONNECT_MS
					? (uint32_t)(deadline - now - 10)
					: RPC_RECONNECT_MS;

		usleep(10000);
		rv = rpc_roundtrip_once(c, buf, len, wait, deadline, &sent, &msg);
		if (rv == NNG_ETIMEDOUT && !sent)
			return err_set(AICERT_ERR_UNAVAILABLE,
				       "%s dropped the connection, and none came up again within "
				       "%u ms",
				       c->url, wait);
	}
	if (rv == NNG_ETIMEDOUT)
		return err_set(AICERT_ERR_TIMEOUT, "no reply from %s within %u ms", c->url,
			       c->timeout_ms);
	if (rv != 0)
		return rpc_nng_err(rv, "call", c->url);
	*reply = malloc(nng_msg_len(msg) ? nng_msg_len(msg) : 1);
	if (!*reply) {
		nng_msg_free(msg);
		return AICERT_ERR_NOMEM;
	}
	if (nng_msg_len(msg))
		memcpy(*reply, nng_msg_body(msg), nng_msg_len(msg));
	*reply_len = nng_msg_len(msg);
	nng_msg_free(msg);
	return 0;
}

int rpc_client_send_bytes(struct rpc_client *c, const uint8_t *buf, size_t len, uint8_t **reply,
			  size_t *reply_len)
{
	return rpc_roundtrip(c, buf, len, reply, reply_len);
}

static uint64_t rpc_random_id(void)
{
	uint64_t id = 0;

	while (id == 0)
		if (getrandom(&id, sizeof(id), 0) != sizeof(id))
			id = 0;
	return id;
}

int rpc_client_call_raw(struct rpc_client *c, const char *method, const uint8_t *payload,
			size_t len, uint64_t request_id, uint32_t *out_status, char **out_message,
			uint8_t **out_payload, size_t *out_len)
{
	Aicert__V1__Request req = AICERT__V1__REQUEST__INIT;
	Aicert__V1__Response *resp = NULL;
	uint8_t *buf = NULL, *rbuf = NULL, *pl = NULL;
	size_t blen, rlen;
	char *message = NULL;
	int r;

	req.method = (char *)method;
	req.request_id = request_id ? request_id : rpc_random_id();
	req.deadline_ms = c->timeout_ms;
	req.payload.data = (uint8_t *)payload;
	req.payload.len = len;
	r = rpc_pack(&req.base, &buf, &blen);
	if (r < 0)
		return r;
	r = rpc_roundtrip(c, buf, blen, &rbuf, &rlen);
	if (r < 0)
		goto out;
	r = rpc_unpack_strict(&aicert__v1__response__descriptor, rbuf, rlen,
			      (ProtobufCMessage **)&resp);
	if (r < 0) {
		r = err_wrap(AICERT_ERR_TRANSPORT, "reply from %s", c->url);
		goto out;
	}
	/* A server that could not read the request cannot echo its id. */
	if (resp->request_id != req.request_id && !(resp->request_id == 0 && resp->status != 0)) {
		r = err_set(AICERT_ERR_TRANSPORT, "reply from %s answers another request", c->url);
		goto out;
	}
	message = strdup(resp->message);
	pl = malloc(resp->payload.len ? resp->payload.len : 1);
	if (!message || !pl) {
		r = AICERT_ERR_NOMEM;
		goto out;
	}
	if (resp->payload.len)
		memcpy(pl, resp->payload.data, resp->payload.len);
	*out_status = resp->status;
	*out_message = message;
	*out_payload = pl;
	*out_len = resp->payload.len;
	message = NULL;
	pl = NULL;
out:
	free(message);
	free(pl);
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	free(rbuf);
	free(buf);
	return r;
}

static void rpc_client_invoke(ProtobufCService *service, unsigned index,
			      const ProtobufCMessage *input, ProtobufCClosure closure,
			      void *closure_data)
{
	struct rpc_client *c = (struct rpc_client *)service;
	const ProtobufCMethodDescriptor *m = &service->descriptor->methods[index];
	struct rpc_reply *rep = closure_data;
	ProtobufCMessage *out = NULL;
	uint8_t *in = NULL, *pl = NULL;
	size_t in_len, pl_len = 0;
	char *message = NULL, *full = NULL;
	uint32_t status = RPC_INTERNAL;
	int r;

	r = rpc_pack(input, &in, &in_len);
	if (r == 0 && asprintf(&full, "%s/%s", service->descriptor->name, m->name) < 0)
		r = AICERT_ERR_NOMEM;
	if (r == 0)
		r = rpc_client_call_raw(c, full, in, in_len, 0, &status, &message, &pl, &pl_len);
	if (r < 0) {
		rep->status = r == AICERT_ERR_TIMEOUT ? RPC_DEADLINE_EXCEEDED : RPC_UNAVAILABLE;
		rep->err = err_wrap(r, "%s", m->name);
	} else if (status != RPC_OK) {
		rep->status = status;
		rep->err = err_set(err_from_status(status), "%s: %s: %s", m->name,
				   err_status_name(status), message);
	} else {
		r = rpc_unpack_strict(m->output, pl, pl_len, &out);
		rep->status = r < 0 ? RPC_INTERNAL : RPC_OK;
		rep->err = r < 0 ? err_wrap(AICERT_ERR_TRANSPORT, "%s: reply", m->name) : 0;
	}
	free(full);
	free(in);
	free(pl);
	free(message);
	closure(out, closure_data);
}
