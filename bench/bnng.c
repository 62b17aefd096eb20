#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <openssl/crypto.h>

#include "bnng.h"
#include "err.h"
#include "fileio.h"
#include "rpc.h"

#define BNNG_PEM_MAX (64u << 10)

struct bnng_server {
	nng_socket sock;
	nng_tls_config *tls;
	pthread_t thread;
	bool running;
	int (*work)(void *arg);
	void *work_arg;
	char url[128];
};

struct bnng_client {
	nng_socket sock;
	nng_tls_config *tls;
	bool ctx_per_call;
	uint8_t *req;
	size_t req_len;
	size_t rep_len;
};

static int bnng_err(int rv, const char *what, const char *url)
{
	return err_set(AICERT_ERR_TRANSPORT, "%s %s: %s", what, url, nng_strerror(rv));
}

static bool bnng_is_tls(const char *url)
{
	return strncmp(url, "tls+tcp://", 10) == 0;
}

/* The same mutual-TLS setup as the RPC layer: own certificate, peer's
 * certificate required and chaining to tls->ca_file. */
static int bnng_tls_config(const struct rpc_tls *tls, bool server, nng_tls_config **ret)
{
	nng_tls_config *cfg = NULL;
	uint8_t *cert = NULL, *key = NULL;
	size_t cert_len, key_len = 0;
	int rv, r;

	if (!tls || !tls->cert_file || !tls->key_file || !tls->ca_file)
		return err_set(AICERT_ERR_INVALID, "tls+tcp:// needs a certificate, key and CA");
	r = fileio_read_all(tls->cert_file, BNNG_PEM_MAX, &cert, &cert_len);
	if (r == 0)
		r = fileio_read_all(tls->key_file, BNNG_PEM_MAX, &key, &key_len);
	if (r < 0)
		goto out;
	rv = nng_tls_config_alloc(&cfg, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT);
	if (rv == 0)
		rv = nng_tls_config_ca_file(cfg, tls->ca_file);
	if (rv == 0)
		rv = nng_tls_config_own_cert(cfg, (const char *)cert, (const char *)key, NULL);
	if (rv == 0)
		rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
	if (rv != 0) {
		r = bnng_err(rv, "TLS configuration with", tls->cert_file);
		goto out;
	}
	*ret = cfg;
	cfg = NULL;
out:
	if (cfg)
		nng_tls_config_free(cfg);
	if (key)
		OPENSSL_cleanse(key, key_len);
	free(key);
	free(cert);
	return r;
}

/* ---- server ------------------------------------------------------------- */

static size_t bnng_get32(const uint8_t *p)
{
	return (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
}

static void *bnng_server_loop(void *arg)
{
	struct bnng_server *s = arg;

	for (;;) {
		nng_msg *msg;
		size_t len;
		int rv;

		rv = nng_recvmsg(s->sock, &msg, 0);
		if (rv == NNG_ECLOSED)
			break;
		if (rv != 0)
			continue;
		/* Reply in the request's message, with the length it asks for. */
		len = nng_msg_len(msg) >= 4 ? bnng_get32(nng_msg_body(msg)) : 0;
		if (s->work && s->work(s->work_arg) < 0)
			len = 0;
		if (nng_msg_realloc(msg, len) != 0 || nng_sendmsg(s->sock, msg, 0) != 0)
			nng_msg_free(msg);
	}
	return NULL;
}

/* The URL with the port the listener actually bound (for port 0). */
static int bnng_bound_url(struct bnng_server *s, nng_listener l, const char *url)
{
	nng_sockaddr sa;
	const char *scheme = bnng_is_tls(url) ? "tls+tcp" : "tcp";

	if (strncmp(url, "ipc://", 6) == 0 || strncmp(url, "inproc://", 9) == 0) {
		snprintf(s->url, sizeof(s->url), "%s", url);
		return 0;
	}
	if (nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa) != 0 || sa.s_family != NNG_AF_INET)
		return err_set(AICERT_ERR_TRANSPORT, "%s: cannot read the bound port", url);
	snprintf(s->url, sizeof(s->url), "%s://127.0.0.1:%u", scheme, ntohs(sa.s_in.sa_port));
	return 0;
}

static int bnng_server_open(struct bnng_server *s, const char *url, const struct rpc_tls *tls)
{
	nng_listener l;
	int rv, r;

	rv = nng_rep0_open(&s->sock);
	if (rv != 0)
		return bnng_err(rv, "open rep socket for", url);
	rv = nng_listener_create(&l, s->sock, url);
	if (rv != 0)
		return bnng_err(rv, "listen on", url);
	if (bnng_is_tls(url)) {
		r = bnng_tls_config(tls, true, &s->tls);
		if (r < 0)
			return r;
		rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, s->tls);
		if (rv != 0)
			return bnng_err(rv, "TLS configuration for", url);
	}
	rv = nng_listener_start(l, 0);
	if (rv != 0)
		return bnng_err(rv, "listen on", url);
	return bnng_bound_url(s, l, url);
}

int bnng_server_start(const char *url, const struct rpc_tls *tls, int (*work)(void *arg),
		      void *work_arg, struct bnng_server **ret)
{
	struct bnng_server *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return AICERT_ERR_NOMEM;
	s->work = work;
	s->work_arg = work_arg;
	r = bnng_server_open(s, url, tls);
	if (r == 0 && pthread_create(&s->thread, NULL, bnng_server_loop, s) != 0)
		r = err_set(AICERT_ERR_NOMEM, "cannot start the echo server thread");
	if (r < 0) {
		bnng_server_stop(s);
		return r;
	}
	s->running = true;
	*ret = s;
	return 0;
}

const char *bnng_server_url(const struct bnng_server *s)
{
	return s->url;
}

void bnng_server_stop(struct bnng_server *s)
{
	if (!s)
		return;
	nng_close(s->sock); /* a socket never opened is id 0: EBADF, harmless */
	if (s->running)
		pthread_join(s->thread, NULL);
	if (s->tls)
		nng_tls_config_free(s->tls);
	free(s);
}

/* ---- client ------------------------------------------------------------- */

static int bnng_client_open(struct bnng_client *c, const char *url, const struct rpc_tls *tls)
{
	nng_dialer d;
	int rv, r;

	rv = nng_req0_open(&c->sock);
	if (rv != 0)
		return bnng_err(rv, "open req socket for", url);
	nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, 10000);
	rv = nng_dialer_create(&d, c->sock, url);
	if (rv != 0)
		return bnng_err(rv, "dial", url);
	if (bnng_is_tls(url)) {
		r = bnng_tls_config(tls, false, &c->tls);
		if (r < 0)
			return r;
		rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, c->tls);
		if (rv != 0)
			return bnng_err(rv, "TLS configuration for", url);
	}
	/* Synchronous: connected (and, for TLS, the handshake started) before
	 * the first timed call. */
	rv = nng_dialer_start(d, 0);
	if (rv != 0)
		return bnng_err(rv, "dial", url);
	return 0;
}

int bnng_client_dial(const char *url, const struct rpc_tls *tls, size_t req_len, size_t rep_len,
		     bool ctx_per_call, struct bnng_client **ret)
{
	struct bnng_client *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return AICERT_ERR_NOMEM;
	if (req_len < 4 || rep_len > UINT32_MAX) {
		free(c);
		return err_set(AICERT_ERR_INVALID, "bare nng: request of %zu bytes, at least 4",
			       req_len);
	}
	c->ctx_per_call = ctx_per_call;
	c->req_len = req_len;
	c->rep_len = rep_len;
	c->req = calloc(1, req_len);
	if (c->req) {
		c->req[0] = (uint8_t)(rep_len >> 24);
		c->req[1] = (uint8_t)(rep_len >> 16);
		c->req[2] = (uint8_t)(rep_len >> 8);
		c->req[3] = (uint8_t)rep_len;
	}
	r = c->req ? bnng_client_open(c, url, tls) : AICERT_ERR_NOMEM;
	if (r < 0) {
		bnng_client_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

/* A reply of another length means the server's work failed. */
static int bnng_check_reply(const struct bnng_client *c, size_t got)
{
	if (got != c->rep_len)
		return err_set(AICERT_ERR_TRANSPORT,
			       "bare nng: a reply of %zu bytes, expected %zu (the server's work "
			       "failed?)",
			       got, c->rep_len);
	return 0;
}

/* As rpc_client does it: a context, an aio and a message per call. */
static int bnng_client_call_ctx(struct bnng_client *c)
{
	nng_aio *aio = NULL;
	nng_msg *msg = NULL;
	size_t got = 0;
	nng_ctx ctx;
	int rv;

	rv = nng_ctx_open(&ctx, c->sock);
	if (rv != 0)
		return bnng_err(rv, "context on", "req socket");
	rv = nng_aio_alloc(&aio, NULL, NULL);
	if (rv == 0)
		rv = nng_msg_alloc(&msg, 0);
	if (rv == 0)
		rv = nng_msg_append(msg, c->req, c->req_len);
	if (rv == 0) {
		nng_aio_set_timeout(aio, 10000);
		nng_aio_set_msg(aio, msg);
		nng_ctx_send(ctx, aio);
		nng_aio_wait(aio);
		rv = nng_aio_result(aio);
	}
	if (rv == 0) {
		msg = NULL;
		nng_ctx_recv(ctx, aio);
		nng_aio_wait(aio);
		rv = nng_aio_result(aio);
		if (rv == 0) {
			got = nng_msg_len(nng_aio_get_msg(aio));
			nng_msg_free(nng_aio_get_msg(aio));
		}
	}
	if (msg)
		nng_msg_free(msg);
	nng_aio_free(aio);
	nng_ctx_close(ctx);
	if (rv != 0)
		return bnng_err(rv, "round trip on", "req context");
	return bnng_check_reply(c, got);
}

int bnng_client_call(struct bnng_client *c)
{
	void *rep = NULL;
	size_t rep_len;
	int rv;

	if (c->ctx_per_call)
		return bnng_client_call_ctx(c);
	rv = nng_send(c->sock, c->req, c->req_len, 0);
	if (rv == 0)
		rv = nng_recv(c->sock, &rep, &rep_len, NNG_FLAG_ALLOC);
	if (rv != 0)
		return bnng_err(rv, "round trip on", "req socket");
	nng_free(rep, rep_len);
	return bnng_check_reply(c, rep_len);
}

int bnng_op(void *ctx, uint64_t seq)
{
	(void)seq;
	return bnng_client_call(ctx);
}

void bnng_client_free(struct bnng_client *c)
{
	if (!c)
		return;
	nng_close(c->sock);
	if (c->tls)
		nng_tls_config_free(c->tls);
	free(c->req);
	free(c);
}
