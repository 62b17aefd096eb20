/* The RPC server: nng rep sockets, one per listener, each served by worker
 * threads on their own nng contexts; dispatch through the protobuf-c service
 * descriptor. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/transport/ipc/ipc.h>

#include "aicert.pb-c.h"
#include "err.h"
#include "log.h"
#include "rpc.h"
#include "rpc_internal.h"

/* Replies of mutating calls kept for answering resends. */
#define RPC_DEDUPE_SLOTS  256
#define RPC_STATUS_UNSET  UINT32_MAX
#define RPC_STALLED_PIPES 64

struct rpc_listener {
	struct rpc_server *srv;
	nng_socket sock;
	bool open;
	bool local;
	char *url;
	nng_listener lst;
	nng_tls_config *tls;
	pthread_t *threads;
	nng_aio **aios; /* one per worker: stopping it ends the worker */
	unsigned nthreads;
	atomic_bool stopping;
	/* connections that let a reply wait too long (rpc_worker_reply) */
	pthread_mutex_t stalled_mu;
	uint32_t stalled[RPC_STALLED_PIPES];
	unsigned next_stalled;
	/* ipc:// only: the watchdog (rpc_ipc_watchdog) */
	bool watching;
	pthread_t watchdog;
	pthread_mutex_t watch_mu;
	pthread_cond_t watch_cond;
	atomic_uint relistens;
};

struct rpc_worker_arg {
	struct rpc_listener *l;
	nng_aio *aio;
};

struct rpc_dedupe {
	uint64_t id;
	unsigned method;
	bool used;
	bool done;
	uint64_t seq;
	uint8_t *resp;
	size_t len;
};

struct rpc_server {
	ProtobufCService *service;
	unsigned *flags;
	struct rpc_listener **listeners;
	size_t nlisteners;
	pthread_mutex_t lock;
	pthread_cond_t done_cond;
	struct rpc_dedupe cache[RPC_DEDUPE_SLOTS];
	uint64_t seq;
	uint32_t reply_send_ms;
};

struct rpc_call {
	struct rpc_server *srv;
	const ProtobufCMethodDescriptor *method;
	bool local;
	bool replied;
	uint64_t request_id;
	int64_t deadline_ms;
	uint32_t status;
	char message[512];
	uint8_t *payload;
	size_t payload_len;
};

int rpc_server_new(ProtobufCService *service, struct rpc_server **ret)
{
	struct rpc_server *s = calloc(1, sizeof(*s));

	if (!s)
		return AICERT_ERR_NOMEM;
	s->flags = calloc(service->descriptor->n_methods, sizeof(*s->flags));
	if (!s->flags) {
		free(s);
		return AICERT_ERR_NOMEM;
	}
	s->service = service;
	s->reply_send_ms = RPC_REPLY_SEND_MS;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->done_cond, NULL);
	*ret = s;
	return 0;
}

int rpc_server_set_flags(struct rpc_server *s, const char *method, unsigned flags)
{
	const ProtobufCMethodDescriptor *m;

	m = protobuf_c_service_descriptor_get_method_by_name(s->service->descriptor, method);
	if (!m)
		return err_set(AICERT_ERR_NOT_FOUND, "%s has no method %s",
			       s->service->descriptor->name, method);
	s->flags[m - s->service->descriptor->methods] = flags;
	return 0;
}

/* ---- Per-call API for handlers ------------------------------------------ */

void rpc_call_fail(struct rpc_call *call, uint32_t status, const char *fmt, ...)
{
	va_list ap;

	call->status = status;
	va_start(ap, fmt);
	vsnprintf(call->message, sizeof(call->message), fmt, ap);
	va_end(ap);
}

void rpc_call_fail_err(struct rpc_call *call, int code)
{
	rpc_call_fail(call, err_to_status(code), "%s", err_msg(code));
}

bool rpc_call_is_local(const struct rpc_call *call)
{
	return call->local;
}

uint64_t rpc_call_request_id(const struct rpc_call *call)
{
	return call->request_id;
}

int64_t rpc_call_remaining_ms(const struct rpc_call *call)
{
	return call->deadline_ms - rpc_now_ms();
}

static void rpc_server_closure(const ProtobufCMessage *msg, void *data)
{
	struct rpc_call *call = data;

	if (call->replied)
		return; /* a handler bug; the first reply stands */
	call->replied = true;
	if (!msg) {
		if (call->status == RPC_STATUS_UNSET || call->status == RPC_OK)
			rpc_call_fail(call, RPC_INTERNAL, "handler failed without a status");
		return;
	}
	if (msg->descriptor != call->method->output) {
		rpc_call_fail(call, RPC_INTERNAL, "handler replied with %s", msg->descriptor->name);
		return;
	}
	if (rpc_pack(msg, &call->payload, &call->payload_len) < 0) {
		rpc_call_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory packing the reply");
		return;
	}
	call->status = RPC_OK;
	call->message[0] = '\0';
}

/* ---- Resend deduplication ---------------------------------------------- */

/* The slot for a new entry: an unused one, else the oldest finished one. */
static struct rpc_dedupe *rpc_dedupe_victim(struct rpc_server *s)
{
	struct rpc_dedupe *victim = NULL;

	for (size_t i = 0; i < RPC_DEDUPE_SLOTS; i++) {
		struct rpc_dedupe *e = &s->cache[i];

		if (!e->used)
			return e;
		if (e->done && (!victim || e->seq < victim->seq))
			victim = e;
	}
	return victim;
}

static struct rpc_dedupe *rpc_dedupe_find(struct rpc_server *s, uint64_t id, unsigned method)
{
	for (size_t i = 0; i < RPC_DEDUPE_SLOTS; i++)
		if (s->cache[i].used && s->cache[i].id == id && s->cache[i].method == method)
			return &s->cache[i];
	return NULL;
}

/* Waits on done_cond (s->lock held) for at most left_ms. */
static void rpc_wait_done(struct rpc_server *s, int64_t left_ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += left_ms / 1000;
	ts.tv_nsec += (left_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&s->done_cond, &s->lock, &ts);
}

/* Returns 1 with a copy of the cached reply, 0 with *slot reserved for this
 * call, or a negative code. Waits while the same request is in progress. */
static int rpc_dedupe_begin(struct rpc_server *s, const struct rpc_call *call, unsigned method,
			    uint8_t **cached, size_t *cached_len, int *slot)
{
	struct rpc_dedupe *e;
	int r = 0;

	pthread_mutex_lock(&s->lock);
	while ((e = rpc_dedupe_find(s, call->request_id, method)) && !e->done) {
		int64_t left = rpc_call_remaining_ms(call);

		if (left <= 0) {
			r = err_set(AICERT_ERR_TIMEOUT,
				    "the first copy of this request is still running");
			goto out;
		}
		rpc_wait_done(s, left);
	}
	if (e) {
		*cached = malloc(e->len);
		if (!*cached) {
			r = AICERT_ERR_NOMEM;
			goto out;
		}
		memcpy(*cached, e->resp, e->len);
		*cached_len = e->len;
		r = 1;
		goto out;
	}
	e = rpc_dedupe_victim(s);
	if (!e) {
		r = err_set(AICERT_ERR_TOO_BIG, "too many mutating calls in progress");
		goto out;
	}
	free(e->resp);
	*e = (struct rpc_dedupe){
		.id = call->request_id, .method = method, .used = true, .seq = ++s->seq};
	*slot = (int)(e - s->cache);
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

static void rpc_dedupe_end(struct rpc_server *s, int slot, const uint8_t *resp, size_t len)
{
	struct rpc_dedupe *e = &s->cache[slot];

	pthread_mutex_lock(&s->lock);
	e->resp = resp ? malloc(len ? len : 1) : NULL;
	if (e->resp) {
		memcpy(e->resp, resp, len);
		e->len = len;
		e->done = true;
	} else {
		e->used = false; /* cannot cache: forget it rather than serve garbage */
	}
	pthread_cond_broadcast(&s->done_cond);
	pthread_mutex_unlock(&s->lock);
}

/* ---- Dispatch ---------------------------------------------------------- */

/* A method name from the wire, made safe to echo in a message. */
static void rpc_sanitize(const char *in, char *out, size_t cap)
{
	size_t i;

	for (i = 0; in[i] && i + 1 < cap; i++)
		out[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
	out[i] = '\0';
}

/* protobuf-c's generated dispatcher calls a NULL handler; check first. */
static bool rpc_handler_present(ProtobufCService *service, unsigned index)
{
	typedef void (*handler_fn)(void);
	const handler_fn *handlers;

	if (service->invoke != protobuf_c_service_invoke_internal)
		return true; /* a custom dispatcher handles its own methods */
	handlers = (const handler_fn *)(service + 1);
	return handlers[index] != NULL;
}

static void rpc_invoke(struct rpc_server *s, struct rpc_call *call, unsigned index,
		       const Aicert__V1__Request *req)
{
	const ProtobufCMethodDescriptor *m = call->method;
	ProtobufCMessage *input = NULL;
	int r;

	r = rpc_unpack_strict(m->input, req->payload.data, req->payload.len, &input);
	if (r < 0) {
		rpc_call_fail(
			call,
			r == AICERT_ERR_TOO_BIG ? RPC_RESOURCE_EXHAUSTED : RPC_INVALID_ARGUMENT,
			"%s: payload is not a valid %s: %s", m->name, m->input->name, err_msg(r));
		return;
	}
	if (!rpc_handler_present(s->service, index)) {
		rpc_call_fail(call, RPC_UNIMPLEMENTED, "%s is not implemented", m->name);
	} else if (rpc_call_remaining_ms(call) <= 0) {
		rpc_call_fail(call, RPC_DEADLINE_EXCEEDED, "%s: deadline passed before it ran",
			      m->name);
	} else {
		s->service->invoke(s->service, index, input, rpc_server_closure, call);
		if (!call->replied)
			rpc_call_fail(call, RPC_INTERNAL, "%s: handler did not reply", m->name);
	}
	protobuf_c_message_free_unpacked(input, NULL);
}

static int rpc_respond(const struct rpc_call *call, uint8_t **out, size_t *out_len)
{
	Aicert__V1__Response resp = AICERT__V1__RESPONSE__INIT;

	resp.request_id = call->request_id;
	resp.status = call->status;
	resp.message = (char *)call->message;
	if (call->status == RPC_OK) {
		resp.payload.data = call->payload;
		resp.payload.len = call->payload_len;
	}
	return rpc_pack(&resp.base, out, out_len);
}

/* Turns one received message into the bytes of its Response. */
static int rpc_server_handle(struct rpc_listener *l, const uint8_t *buf, size_t len, uint8_t **out,
			     size_t *out_len)
{
	struct rpc_server *s = l->srv;
	struct rpc_call call = {.srv = s, .local = l->local, .status = RPC_STATUS_UNSET};
	Aicert__V1__Request *req = NULL;
	unsigned index = 0, flags = 0;
	int slot = -1, r;

	call.deadline_ms = rpc_now_ms() + RPC_DEFAULT_DEADLINE_MS;
	r = rpc_unpack_strict(&aicert__v1__request__descriptor, buf, len,
			      (ProtobufCMessage **)&req);
	if (r < 0) {
		rpc_call_fail(&call, RPC_INVALID_ARGUMENT, "malformed request: %s", err_msg(r));
		goto reply;
	}
	call.request_id = req->request_id;
	if (req->deadline_ms)
		call.deadline_ms = rpc_now_ms() + (req->deadline_ms < RPC_MAX_DEADLINE_MS
							   ? req->deadline_ms
							   : RPC_MAX_DEADLINE_MS);
	if (len > RPC_MAX_REQUEST_BYTES) {
		rpc_call_fail(&call, RPC_RESOURCE_EXHAUSTED,
			      "request of %zu bytes, at most %u allowed", len,
			      RPC_MAX_REQUEST_BYTES);
		goto reply;
	}
	call.method = rpc_method_lookup(s->service->descriptor, req->method, &index);
	if (!call.method) {
		char name[80];

		rpc_sanitize(req->method, name, sizeof(name));
		rpc_call_fail(&call, RPC_UNIMPLEMENTED, "unknown method '%s'", name);
		goto reply;
	}
	flags = s->flags[index];
	if ((flags & RPC_METHOD_LOCAL_ONLY) && !l->local) {
		rpc_call_fail(&call, RPC_PERMISSION_DENIED, "%s is served on the local socket only",
			      call.method->name);
		goto reply;
	}
	if (flags & RPC_METHOD_MUTATING) {
		if (req->request_id == 0) {
			rpc_call_fail(&call, RPC_INVALID_ARGUMENT, "%s needs a request id",
				      call.method->name);
			goto reply;
		}
		r = rpc_dedupe_begin(s, &call, index, out, out_len, &slot);
		if (r == 1) {
			protobuf_c_message_free_unpacked(&req->base, NULL);
			return 0;
		}
		if (r < 0) {
			rpc_call_fail_err(&call, r);
			goto reply;
		}
	}
	rpc_invoke(s, &call, index, req);
reply:
	r = rpc_respond(&call, out, out_len);
	if (slot >= 0)
		rpc_dedupe_end(s, slot, r == 0 ? *out : NULL, r == 0 ? *out_len : 0);
	free(call.payload);
	if (req)
		protobuf_c_message_free_unpacked(&req->base, NULL);
	return r;
}

int rpc_server_handle_bytes(struct rpc_server *s, bool local, const uint8_t *buf, size_t len,
			    uint8_t **out, size_t *out_len)
{
	struct rpc_listener l = {.srv = s, .local = local};

	return rpc_server_handle(&l, buf, len, out, out_len);
}

/* ---- Listeners and workers ---------------------------------------------- */

void rpc_server_set_reply_timeout(struct rpc_server *s, uint32_t ms)
{
	s->reply_send_ms = ms < RPC_MAX_DEADLINE_MS ? ms : RPC_MAX_DEADLINE_MS;
}

/* Whether pipe is one that let a reply wait past the reply timeout. */
static bool rpc_pipe_stalled(struct rpc_listener *l, nng_pipe pipe)
{
	uint32_t id = (uint32_t)nng_pipe_id(pipe);
	bool found = false;

	pthread_mutex_lock(&l->stalled_mu);
	for (size_t i = 0; i < RPC_STALLED_PIPES && !found; i++)
		found = id != 0 && l->stalled[i] == id;
	pthread_mutex_unlock(&l->stalled_mu);
	return found;
}

/* Hands the reply to the connection the request came on. A connection that
 * does not take it in time (rpc_server_set_reply_timeout) gets no more
 * answers: its later requests are dropped unread. It is not closed, for
 * nng 1.5 may never finish stopping a connection whose send is blocked (its
 * reaper, shared by every socket of the process, then hangs: seen in
 * test_rpc); it goes when its peer does. */
static void rpc_worker_reply(struct rpc_listener *l, nng_ctx ctx, nng_aio *aio, nng_pipe pipe,
			     const uint8_t *buf, size_t len)
{
	nng_msg *msg = NULL;
	int rv;

	if (nng_msg_alloc(&msg, 0) != 0)
		return;
	if (nng_msg_append(msg, buf, len) != 0) {
		nng_msg_free(msg);
		return;
	}
	nng_aio_set_timeout(aio, l->srv->reply_send_ms ? (nng_duration)l->srv->reply_send_ms
						       : NNG_DURATION_INFINITE);
	nng_aio_set_msg(aio, msg);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	nng_aio_set_timeout(aio, NNG_DURATION_INFINITE);
	rv = nng_aio_result(aio);
	if (rv != 0)
		nng_msg_free(msg);
	if (rv == NNG_ETIMEDOUT && !rpc_pipe_stalled(l, pipe)) {
		pthread_mutex_lock(&l->stalled_mu);
		l->stalled[l->next_stalled++ % RPC_STALLED_PIPES] = (uint32_t)nng_pipe_id(pipe);
		pthread_mutex_unlock(&l->stalled_mu);
	}
}

static void *rpc_worker(void *arg)
{
	struct rpc_worker_arg *w = arg;
	struct rpc_listener *l = w->l;
	nng_aio *aio = w->aio;
	nng_ctx ctx;

	free(w);
	if (nng_ctx_open(&ctx, l->sock) != 0)
		return NULL;
	while (!atomic_load(&l->stopping)) {
		uint8_t *out = NULL;
		size_t out_len = 0;
		nng_msg *msg;
		nng_pipe pipe;
		int rv;

		nng_ctx_recv(ctx, aio);
		nng_aio_wait(aio);
		rv = nng_aio_result(aio);
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			break;
		if (rv != 0)
			continue;
		msg = nng_aio_get_msg(aio);
		pipe = nng_msg_get_pipe(msg);
		if (rpc_pipe_stalled(l, pipe)) {
			nng_msg_free(msg);
			continue;
		}
		rv = rpc_server_handle(l, nng_msg_body(msg), nng_msg_len(msg), &out, &out_len);
		nng_msg_free(msg);
		if (rv == 0)
			rpc_worker_reply(l, ctx, aio, pipe, out, out_len);
		free(out);
	}
	/* The socket is still open: nng_close() must not race a context in use. */
	nng_ctx_close(ctx);
	return NULL;
}

/* Creates and starts l's nng listener on l->url. */
static int rpc_listener_start(struct rpc_listener *l)
{
	int rv;

	rv = nng_listener_create(&l->lst, l->sock, l->url);
	if (rv != 0)
		return rpc_nng_err(rv, "listen on", l->url);
	if (l->tls) {
		rv = nng_listener_set_ptr(l->lst, NNG_OPT_TLS_CONFIG, l->tls);
		if (rv != 0) {
			nng_listener_close(l->lst);
			return rpc_nng_err(rv, "TLS configuration for", l->url);
		}
	}
	if (strncmp(l->url, "ipc://", 6) == 0) {
		/* Owner and group: the executor reaches the agent through the
		 * group; the directory's mode decides who else may. */
		nng_listener_set_int(l->lst, NNG_OPT_IPC_PERMISSIONS, 0660);
	}
	rv = nng_listener_start(l->lst, 0);
	if (rv != 0) {
		nng_listener_close(l->lst);
		return rpc_nng_err(rv, "listen on", l->url);
	}
	return 0;
}

#define RPC_WATCHDOG_PERIOD_MS     1000
#define RPC_WATCHDOG_MAX_RELISTENS 64
#define RPC_WATCHDOG_PROBE_MS      2000

/* The sum of l's listener's statistics named (UINT64_MAX when nng has none). */
static uint64_t rpc_listener_stats(struct rpc_listener *l, const char *const *names, size_t n)
{
	nng_stat *all = NULL, *ls;
	uint64_t sum = 0;

	if (nng_stats_get(&all) != 0)
		return UINT64_MAX;
	ls = nng_stat_find_listener(all, l->lst);
	for (size_t i = 0; i < n; i++) {
		nng_stat *st = ls ? nng_stat_find(ls, names[i]) : NULL;

		if (!st) {
			sum = UINT64_MAX;
			break;
		}
		sum += nng_stat_value(st);
	}
	nng_stats_free(all);
	return sum;
}

/* Whether l still accepts: a connection of the watchdog's own does the SP
 * handshake as a req0 peer, and the listener must count it (or any other)
 * as accepted within RPC_WATCHDOG_PROBE_MS. A stuck listener still does the
 * handshake, but never hands the connection over. */
static bool rpc_ipc_accepts(struct rpc_listener *l)
{
	static const uint8_t req0[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0};
	static const char *const accept[] = {"accept"};
	const char *path = l->url + strlen("ipc://");
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct timeval tv = {RPC_WATCHDOG_PROBE_MS / 1000, 0};
	uint64_t before = rpc_listener_stats(l, accept, 1);
	int64_t start = rpc_now_ms();
	bool accepted = false;
	uint8_t peer[8];
	int fd;

	if (before == UINT64_MAX || strlen(path) >= sizeof(sun.sun_path))
		return true; /* nothing to learn */
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return true;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0 &&
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 &&
	    send(fd, req0, sizeof(req0), MSG_NOSIGNAL) == sizeof(req0) &&
	    recv(fd, peer, sizeof(peer), MSG_WAITALL) == sizeof(peer)) {
		while (!atomic_load(&l->stopping) && rpc_now_ms() - start < RPC_WATCHDOG_PROBE_MS) {
			uint64_t now = rpc_listener_stats(l, accept, 1);

			if (now == UINT64_MAX || now > before) {
				accepted = true;
				break;
			}
			usleep(10000);
		}
	}
	close(fd);
	return accepted || atomic_load(&l->stopping);
}

/* nng 1.5's ipc listener stops accepting for good when a peer hangs up
 * during the SP handshake (nanomsg/nng#1518, fixed in nng 1.6; Debian 12
 * ships 1.5.2): any process allowed to connect could cut the service off
 * with connect() and close(). nng counts such a failure among the
 * listener's errors (with the errors of its connections). Once a second the
 * watchdog looks; when the count rose, it checks that the listener still
 * accepts (rpc_ipc_accepts), and replaces one that does not by a new one on
 * the same path (and tries again each second if that fails). The stuck
 * listener's connections close with it; their callers send again
 * (rpc_client.c). nng never frees a stuck listener: each keeps its socket
 * and the connections parked in it, two descriptors or more, so after
 * RPC_WATCHDOG_MAX_RELISTENS replacements the process exits with status 1,
 * for its supervisor to start it afresh. */
static void *rpc_ipc_watchdog(void *arg)
{
	static const char *const errors[] = {"other", "canceled"};
	struct rpc_listener *l = arg;
	bool listening = true;
	uint64_t seen = 0;

	pthread_mutex_lock(&l->watch_mu);
	while (!atomic_load(&l->stopping)) {
		struct timespec until;
		bool accepts = true;
		uint64_t n;
		int r;

		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += RPC_WATCHDOG_PERIOD_MS / 1000;
		pthread_cond_timedwait(&l->watch_cond, &l->watch_mu, &until);
		if (atomic_load(&l->stopping))
			break;
		if (listening) {
			n = rpc_listener_stats(l, errors, 2);
			if (n == UINT64_MAX || n == seen)
				continue;
			pthread_mutex_unlock(&l->watch_mu);
			accepts = rpc_ipc_accepts(l);
			/* The probe's own hang-up counts as an error too: let nng
			 * see it before taking the count, or every probe would
			 * call the next. */
			usleep(100000);
			seen = rpc_listener_stats(l, errors, 2);
			pthread_mutex_lock(&l->watch_mu);
			if (accepts || atomic_load(&l->stopping))
				continue;
			if (atomic_load(&l->relistens) >= RPC_WATCHDOG_MAX_RELISTENS) {
				log_err("%s stopped accepting connections (nng#1518) %u times; "
					"exiting, for a fresh start",
					l->url, RPC_WATCHDOG_MAX_RELISTENS);
				_exit(EXIT_FAILURE);
			}
			nng_listener_close(l->lst);
			atomic_fetch_add(&l->relistens, 1);
			seen = 0;
		}
		r = rpc_listener_start(l);
		listening = r == 0;
		if (r == 0)
			log_warn("%s stopped accepting connections after a peer hung up during the "
				 "handshake (nng#1518); listening anew",
				 l->url);
		else
			log_err("%s stopped accepting connections (nng#1518); listening anew: %s",
				l->url, err_msg(r));
	}
	pthread_mutex_unlock(&l->watch_mu);
	return NULL;
}

unsigned rpc_server_relistens(struct rpc_server *s)
{
	unsigned n = 0;

	for (size_t i = 0; i < s->nlisteners; i++)
		n += atomic_load(&s->listeners[i]->relistens);
	return n;
}

static int rpc_watchdog_start(struct rpc_listener *l)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&l->watch_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->watch_cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&l->watchdog, NULL, rpc_ipc_watchdog, l) != 0) {
		pthread_cond_destroy(&l->watch_cond);
		pthread_mutex_destroy(&l->watch_mu);
		return err_set(AICERT_ERR_NOMEM, "cannot start the listener's watchdog");
	}
	l->watching = true;
	return 0;
}

static void rpc_listener_free(struct rpc_listener *l)
{
	if (!l)
		return;
	atomic_store(&l->stopping, true);
	if (l->watching) {
		pthread_mutex_lock(&l->watch_mu);
		pthread_cond_signal(&l->watch_cond);
		pthread_mutex_unlock(&l->watch_mu);
		pthread_join(l->watchdog, NULL);
		pthread_cond_destroy(&l->watch_cond);
		pthread_mutex_destroy(&l->watch_mu);
	}
	/* Workers first, while the socket is open: stopping an aio aborts its
	 * pending receive and makes every later operation on it fail, so each
	 * worker leaves its loop, closes its context and exits. Only then is
	 * the socket closed (nng 1.5's nng_close races nng_ctx_send). */
	for (unsigned i = 0; i < l->nthreads; i++)
		nng_aio_stop(l->aios[i]);
	for (unsigned i = 0; i < l->nthreads; i++)
		pthread_join(l->threads[i], NULL);
	if (l->open)
		nng_close(l->sock);
	for (unsigned i = 0; l->aios && i < l->nthreads; i++)
		nng_aio_free(l->aios[i]);
	free(l->aios);
	free(l->threads);
	if (l->tls)
		nng_tls_config_free(l->tls);
	free(l->url);
	pthread_mutex_destroy(&l->stalled_mu);
	free(l);
}

static int rpc_listener_open(struct rpc_listener *l, const char *url, const struct rpc_tls *tls)
{
	int rv, r;

	l->url = strdup(url);
	if (!l->url)
		return AICERT_ERR_NOMEM;
	rv = nng_rep0_open(&l->sock);
	if (rv != 0)
		return rpc_nng_err(rv, "open socket for", url);
	l->open = true;
	nng_socket_set_size(l->sock, NNG_OPT_RECVMAXSZ, RPC_HARD_MAX_BYTES);
	if (strncmp(url, "tls+tcp://", 10) == 0) {
		r = rpc_tls_config(tls, true, &l->tls);
		if (r < 0)
			return r;
	}
	r = rpc_listener_start(l);
	if (r == 0 && strncmp(url, "ipc://", 6) == 0)
		r = rpc_watchdog_start(l);
	return r;
}

int rpc_server_listen(struct rpc_server *s, const char *url, const struct rpc_tls *tls, bool local,
		      unsigned workers)
{
	struct rpc_listener *l = NULL, **grown;
	int r;

	r = rpc_url_check(url, local, tls);
	if (r < 0)
		return r;
	grown = realloc(s->listeners, (s->nlisteners + 1) * sizeof(*grown));
	if (!grown)
		return AICERT_ERR_NOMEM;
	s->listeners = grown;
	l = calloc(1, sizeof(*l));
	if (!l)
		return AICERT_ERR_NOMEM;
	l->srv = s;
	pthread_mutex_init(&l->stalled_mu, NULL);
	l->local = local;
	r = rpc_listener_open(l, url, tls);
	if (r < 0)
		goto fail;
	l->threads = calloc(workers ? workers : 1, sizeof(*l->threads));
	l->aios = calloc(workers ? workers : 1, sizeof(*l->aios));
	if (!l->threads || !l->aios) {
		r = AICERT_ERR_NOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < (workers ? workers : 1); i++) {
		struct rpc_worker_arg *w = calloc(1, sizeof(*w));

		if (!w || nng_aio_alloc(&l->aios[i], NULL, NULL) != 0) {
			free(w);
			r = AICERT_ERR_NOMEM;
			goto fail;
		}
		*w = (struct rpc_worker_arg){l, l->aios[i]};
		if (pthread_create(&l->threads[i], NULL, rpc_worker, w) != 0) {
			free(w);
			nng_aio_free(l->aios[i]);
			l->aios[i] = NULL;
			r = err_set(AICERT_ERR_NOMEM, "cannot start RPC worker threads");
			goto fail;
		}
		l->nthreads++;
	}
	s->listeners[s->nlisteners++] = l;
	return 0;
fail:
	rpc_listener_free(l);
	return r;
}

void rpc_server_free(struct rpc_server *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nlisteners; i++)
		rpc_listener_free(s->listeners[i]);
	free(s->listeners);
	for (size_t i = 0; i < RPC_DEDUPE_SLOTS; i++)
		free(s->cache[i].resp);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->done_cond);
	free(s->flags);
	free(s);
}
