/* The agent integration test's fixture and the helpers its groups share:
 * see fixture.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>

#include "agentc.h"
#include "agentproc.h"
#include "aicert.pb-c.h"
#include "attest.h"
#include "cel.h"
#include "err.h"
#include "harness.h"
#include "rpc.h"
#include "spraw.h"
#include "tpmkey.h"

#include "fixture.h"

#define TLS_SCRIPT AICERT_SOURCE_DIR "/tests/harness/tls.sh"

static const char *const tls_names[N_TLS] = {
	"agent.crt",      "agent.key",         "agent-ca.crt", "controller.crt",
	"controller.key", "controller-ca.crt", "rogue.crt",    "rogue.key",
};

/* ---- helpers: processes, files, clients --------------------------------- */

double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void random_bytes(void *buf, size_t len)
{
	assert_true(getrandom(buf, len, 0) == (ssize_t)len);
}

uint64_t random_id(void)
{
	uint64_t id = 0;

	while (id == 0)
		random_bytes(&id, sizeof(id));
	return id;
}

void scratch(struct fx *f, const char *name, char out[PATH_MAX])
{
	assert_int_equal(harness_path(&f->tpm, name, out), 0);
}

struct rpc_client *dial(const char *url, const struct rpc_tls *tls, uint32_t timeout_ms)
{
	struct rpc_client_opts o = {.tls = tls, .timeout_ms = timeout_ms};
	struct rpc_client *c = NULL;

	assert_ok(rpc_client_dial(url, &aicert__v1__agent__descriptor, &o, &c));
	return c;
}

/* Starts f->agent with the TLS listener when f->tls, then extra. */
static int fx_start_agent(struct fx *f, const char *const extra[])
{
	const char *args[40];
	size_t n = 0;

	if (f->tls) {
		const char *tls_args[] = {"--listen",   f->tls_url,
					  "--tls-cert", f->tls_file[AGENT_CRT],
					  "--tls-key",  f->tls_file[AGENT_KEY],
					  "--tls-ca",   f->tls_file[CONTROLLER_CA]};

		for (size_t i = 0; i < sizeof(tls_args) / sizeof(tls_args[0]); i++)
			args[n++] = tls_args[i];
	}
	for (size_t i = 0; extra && extra[i] && n < 39; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	return agentproc_start(&f->agent, &f->tpm, args);
}

static int fx_make_tls(struct fx *f)
{
	char dir[PATH_MAX];
	const char *argv[] = {TLS_SCRIPT, dir, NULL};

	if (harness_path(&f->tpm, "tls", dir) < 0 || harness_run(argv) != 0)
		return -1;
	for (int i = 0; i < N_TLS; i++)
		if (snprintf(f->tls_file[i], PATH_MAX, "%s/%s", dir, tls_names[i]) >= PATH_MAX)
			return -1;
	f->ctl = (struct rpc_tls){f->tls_file[CONTROLLER_CRT], f->tls_file[CONTROLLER_KEY],
				  f->tls_file[AGENT_CA]};
	f->tls = true;
	return 0;
}

/* Starts the agent; with TLS, on a free port, retrying if another process
 * took the port in between. */
static int fx_start_listening(struct fx *f)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		int port = f->tls ? agentproc_free_port() : 0;

		if (port < 0)
			return -1;
		snprintf(f->tls_url, sizeof(f->tls_url), "tls+tcp://127.0.0.1:%d", port);
		if (fx_start_agent(f, NULL) == 0)
			return 0;
		if (!f->tls)
			return -1;
	}
	return -1;
}

static int fx_free(struct fx *f)
{
	int r = 0;

	rpc_client_free(f->c);
	rpc_client_free(f->net);
	/* Every agent of these tests must shut down cleanly on SIGTERM. */
	if (agentproc_stop(&f->agent) < 0)
		r = -1;
	harness_swtpm_stop(&f->tpm);
	free(f);
	return r;
}

static int fx_new(void **state, bool tls, bool start)
{
	struct rpc_client_opts local = {.timeout_ms = 30000}, net = {.timeout_ms = 30000};
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	net.tls = &f->ctl;
	if (harness_swtpm_start(&f->tpm) < 0 || (tls && fx_make_tls(f) < 0))
		goto fail;
	if (start) {
		if (fx_start_listening(f) < 0 ||
		    rpc_client_dial(f->agent.local_url, &aicert__v1__agent__descriptor, &local,
				    &f->c) < 0)
			goto fail;
		if (tls &&
		    rpc_client_dial(f->tls_url, &aicert__v1__agent__descriptor, &net, &f->net) < 0)
			goto fail;
	}
	*state = f;
	return 0;
fail:
	fx_free(f);
	return -1;
}

int fx_setup(void **state)
{
	return fx_new(state, false, true);
}

int fx_setup_tls(void **state)
{
	return fx_new(state, true, true);
}

int fx_setup_tpm_only(void **state)
{
	return fx_new(state, false, false);
}

int fx_teardown(void **state)
{
	return *state ? fx_free(*state) : 0;
}

/* ---- helpers: calls ------------------------------------------------------ */

Aicert__V1__HealthReply *health(struct rpc_client *c)
{
	Aicert__V1__HealthReply *h = NULL;

	assert_ok(agentc_health(c, &h));
	return h;
}

uint64_t runtime_events(struct rpc_client *c)
{
	Aicert__V1__HealthReply *h = health(c);
	uint64_t n = h->runtime_events;

	aicert__v1__health_reply__free_unpacked(h, NULL);
	return n;
}

Aicert__V1__IdentityReply *identity(struct rpc_client *c)
{
	Aicert__V1__IdentityReply *id = NULL;

	assert_ok(agentc_identity(c, &id));
	return id;
}

Aicert__V1__EventLogReply *event_log(struct rpc_client *c)
{
	Aicert__V1__EventLogReply *ev = NULL;

	assert_ok(agentc_event_log(c, &ev));
	return ev;
}

void sel_add(struct sel *s, uint32_t alg, uint32_t mask)
{
	Aicert__V1__PcrBank *b = &s->banks[s->n];

	aicert__v1__pcr_bank__init(b);
	b->hash_alg = alg;
	b->pcrs = s->pcrs[s->n];
	for (uint32_t i = 0; i < 24; i++)
		if (mask >> i & 1)
			b->pcrs[b->n_pcrs++] = i;
	s->ptrs[s->n] = b;
	s->n++;
}

/* The SHA-256 values of the PCRs in mask, by PCR index. */
void read_sha256(struct rpc_client *c, uint32_t mask, uint8_t out[24][32])
{
	Aicert__V1__ReadPcrsRequest req = AICERT__V1__READ_PCRS_REQUEST__INIT;
	Aicert__V1__ReadPcrsReply *rep = NULL;
	struct sel s = {0};

	sel_add(&s, SHA256_ALG, mask);
	req.banks = s.ptrs;
	req.n_banks = 1;
	assert_ok(agentc_read_pcrs(c, &req, &rep));
	assert_int_equal(rep->n_banks, 1);
	assert_int_equal(rep->banks[0]->n_values, s.banks[0].n_pcrs);
	for (size_t i = 0; i < rep->banks[0]->n_values; i++) {
		Aicert__V1__PcrValue *v = rep->banks[0]->values[i];

		assert_int_equal(v->digest.len, 32);
		assert_true(v->pcr < 24 && (mask >> v->pcr & 1));
		memcpy(out[v->pcr], v->digest.data, 32);
	}
	aicert__v1__read_pcrs_reply__free_unpacked(rep, NULL);
}

void read_pcr(struct rpc_client *c, uint32_t pcr, uint8_t out[32])
{
	uint8_t all[24][32];

	read_sha256(c, 1u << pcr, all);
	memcpy(out, all[pcr], 32);
}

int quote_call(struct rpc_client *c, const uint8_t *nonce, size_t nonce_len, uint32_t sha256_mask,
	       uint32_t sha1_mask, Aicert__V1__QuoteReply **ret)
{
	Aicert__V1__QuoteRequest req = AICERT__V1__QUOTE_REQUEST__INIT;
	struct sel s = {0};

	if (sha256_mask)
		sel_add(&s, SHA256_ALG, sha256_mask);
	if (sha1_mask)
		sel_add(&s, SHA1_ALG, sha1_mask);
	req.qualifying_data.data = (uint8_t *)nonce;
	req.qualifying_data.len = nonce_len;
	req.banks = s.ptrs;
	req.n_banks = s.n;
	return agentc_quote(c, &req, ret);
}

/* Checks a QuoteReply as a verifier does, with shared/attest.h: the
 * signature by the AK it names (which must be ak_public when given), magic,
 * type, the nonce, and the PCR values against the signed selection and
 * digest. 0, or -1 with the reason in why. Thread-safe. */
int verify_quote(const Aicert__V1__QuoteReply *q, const uint8_t *nonce, size_t nonce_len,
		 const ProtobufCBinaryData *ak_public, char *why, size_t cap)
{
	struct attest_pcr_value vals[ATTEST_MAX_PCRS];
	TPMS_ATTEST at;
	TPMT_SIGNATURE sig;
	TPMT_PUBLIC ak;
	EVP_PKEY *key = NULL;
	size_t n = 0;
	int r;

	if (ak_public && (q->ak_public.len != ak_public->len ||
			  memcmp(q->ak_public.data, ak_public->data, ak_public->len) != 0)) {
		snprintf(why, cap, "the quote names another AK than Identity");
		return -1;
	}
	r = tpmkey_parse_public(q->ak_public.data, q->ak_public.len, &ak);
	if (r == 0)
		r = tpmkey_to_evp(&ak, &key);
	if (r == 0)
		r = attest_parse(q->attest.data, q->attest.len, &at);
	if (r == 0)
		r = attest_parse_signature(q->signature.data, q->signature.len, &sig);
	if (r == 0)
		r = attest_verify_signature(q->attest.data, q->attest.len, &sig, key);
	if (r == 0)
		r = attest_check_quote(&at, nonce, nonce_len);
	for (size_t b = 0; r == 0 && b < q->n_pcrs; b++) {
		for (size_t i = 0; i < q->pcrs[b]->n_values && n < ATTEST_MAX_PCRS; i++) {
			const Aicert__V1__PcrValue *v = q->pcrs[b]->values[i];

			vals[n++] = (struct attest_pcr_value){q->pcrs[b]->hash_alg, v->pcr,
							      v->digest.data, v->digest.len};
		}
	}
	if (r == 0)
		r = attest_check_pcrs(&at, attest_signature_hash(&sig), vals, n);
	if (r < 0)
		snprintf(why, cap, "%s", err_msg(r));
	EVP_PKEY_free(key);
	return r < 0 ? -1 : 0;
}

void assert_quote_valid(const Aicert__V1__QuoteReply *q, const uint8_t *nonce, size_t nonce_len,
			const ProtobufCBinaryData *ak_public)
{
	char why[512];

	if (verify_quote(q, nonce, nonce_len, ak_public, why, sizeof(why)) < 0)
		fail_msg("quote does not verify: %s", why);
}

/* Quotes PCRs 0, 8 and 14 over a fresh nonce and verifies the quote. */
void quote_and_verify(struct rpc_client *c, const ProtobufCBinaryData *ak_public)
{
	Aicert__V1__QuoteReply *q = NULL;
	uint8_t nonce[32];

	random_bytes(nonce, sizeof(nonce));
	assert_ok(quote_call(c, nonce, sizeof(nonce), PCRS_0_8_14, 0, &q));
	assert_quote_valid(q, nonce, sizeof(nonce), ak_public);
	aicert__v1__quote_reply__free_unpacked(q, NULL);
}

/* Extend through rpc_client_call_raw with the given request id (0: a random
 * one); digest NULL means the SHA-256 of content. Returns the transport's
 * result; e->status holds the server's status. */
int extend_call(struct rpc_client *c, uint64_t id, uint32_t pcr, uint32_t type, const void *content,
		size_t len, const uint8_t *digest, struct ext *e)
{
	Aicert__V1__ExtendRequest req = AICERT__V1__EXTEND_REQUEST__INIT;
	Aicert__V1__ExtendReply *rep = NULL;
	uint8_t sha[32], *buf, *out = NULL;
	size_t blen, out_len = 0;
	int r;

	SHA256(content, len, sha);
	req.pcr = pcr;
	req.event_type = type;
	req.sha256.data = (uint8_t *)(digest ? digest : sha);
	req.sha256.len = 32;
	req.content.data = (uint8_t *)content;
	req.content.len = len;
	blen = aicert__v1__extend_request__get_packed_size(&req);
	buf = malloc(blen + 1);
	assert_non_null(buf);
	aicert__v1__extend_request__pack(&req, buf);
	memset(e, 0, sizeof(*e));
	r = rpc_client_call_raw(c, "aicert.v1.Agent/Extend", buf, blen, id ? id : random_id(),
				&e->status, &e->message, &out, &out_len);
	free(buf);
	if (r == 0 && e->status == RPC_OK) {
		assert_ok(rpc_unpack_strict(&aicert__v1__extend_reply__descriptor, out, out_len,
					    (ProtobufCMessage **)&rep));
		assert_int_equal(rep->pcr_value.len, 32);
		e->recnum = rep->record_number;
		memcpy(e->value, rep->pcr_value.data, 32);
		aicert__v1__extend_reply__free_unpacked(rep, NULL);
	}
	free(out);
	return r;
}

/* The status of an Extend that reached the server; the message is printed
 * when it is not expected. */
void assert_extend_status(struct rpc_client *c, uint64_t id, uint32_t pcr, uint32_t type,
			  const char *content, const uint8_t *digest, uint32_t expected,
			  struct ext *out)
{
	struct ext e;

	assert_ok(extend_call(c, id, pcr, type, content, strlen(content), digest, &e));
	if (e.status != expected)
		fail_msg("Extend PCR %u: %s (%s), expected %s", pcr, err_status_name(e.status),
			 e.message, err_status_name(expected));
	free(e.message);
	e.message = NULL;
	if (out)
		*out = e;
}

/* A successful Extend of content into pcr: record number and new value. */
uint64_t extend_ok(struct rpc_client *c, uint32_t pcr, const char *content, uint8_t value[32])
{
	struct ext e;

	assert_extend_status(c, 0, pcr, EV_EVENT_TAG, content, NULL, RPC_OK, &e);
	if (value)
		memcpy(value, e.value, 32);
	return e.recnum;
}

/* SHA-256(old || SHA-256(content)): what an extend of content makes of old. */
void extended(const uint8_t old[32], const char *content, uint8_t out[32])
{
	uint8_t buf[64];

	memcpy(buf, old, 32);
	SHA256((const uint8_t *)content, strlen(content), buf + 32);
	SHA256(buf, sizeof(buf), out);
}

/* The runtime log of an EventLog reply, decoded strictly. */
void decode_runtime(const Aicert__V1__EventLogReply *ev, struct cel_log *log)
{
	memset(log, 0, sizeof(*log));
	assert_ok(cel_decode(ev->runtime_log.data, ev->runtime_log.len, log));
}

/* The runtime log replays exactly to the PCRs ReadPcrs reports (8 and 14
 * always, and every PCR the log touches); returns its length. */
size_t assert_log_replays(struct rpc_client *c)
{
	Aicert__V1__EventLogReply *ev = event_log(c);
	uint8_t replay[24][32], pcrs[24][32];
	struct cel_log log;
	uint32_t touched = 0, mask;
	size_t n;

	decode_runtime(ev, &log);
	assert_ok(cel_replay(&log, log.n, replay, &touched));
	mask = touched | (1u << 8) | (1u << 14);
	read_sha256(c, mask, pcrs);
	for (unsigned i = 0; i < 24; i++)
		if (mask >> i & 1)
			assert_memory_equal(replay[i], pcrs[i], 32);
	for (size_t i = 0; i < log.n; i++) {
		uint8_t d[32];

		SHA256(log.recs[i].data, log.recs[i].data_len, d);
		assert_memory_equal(d, log.recs[i].sha256, 32);
		assert_int_equal(log.recs[i].recnum, i);
	}
	n = log.n;
	cel_clear(&log);
	aicert__v1__event_log_reply__free_unpacked(ev, NULL);
	return n;
}

void ak_name(struct rpc_client *c, uint8_t name[TPMKEY_NAME_MAX], size_t *len)
{
	Aicert__V1__IdentityReply *id = identity(c);

	assert_true(id->ak_name.len > 2 && id->ak_name.len <= TPMKEY_NAME_MAX);
	memcpy(name, id->ak_name.data, id->ak_name.len);
	*len = id->ak_name.len;
	aicert__v1__identity_reply__free_unpacked(id, NULL);
}

/* ---- malformed and oversized messages (agent_methods and agent_tls) ------ */

struct flood {
	const char *url;
	const struct rpc_tls *tls;
	int result;
	double ms;
	char why[256];
};

#define FLOOD_BYTES (6u << 20)

/* Both floods go out on raw connections rather than on nng's client, whose
 * nng_close() was seen to hang after such a send failed (nng 1.5.2): the
 * test must not depend on the client library to see what the agent does.
 * After the last byte, or the first failed send, the agent must have closed
 * the connection without a reply: a read gives end of file or a reset. */
static void flood_expect_closed(struct flood *fl, int n_read, size_t sent)
{
	if (n_read > 0)
		snprintf(fl->why, sizeof(fl->why), "the agent answered a 6 MiB message");
	else if (errno == EAGAIN || errno == EWOULDBLOCK)
		snprintf(fl->why, sizeof(fl->why),
			 "the agent kept the connection open for 5 s after %zu bytes", sent);
	else
		fl->result = 0;
}

static int set_timeouts(int fd)
{
	struct timeval tv = {5, 0};

	return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
			       setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0
		       ? -1
		       : 0;
}

/* Over ipc: the agent may close as soon as it read the length. */
static void flood_ipc(struct flood *fl, uint8_t *big)
{
	size_t sent = 0;
	uint8_t byte;
	int fd;

	fl->result = -1;
	fd = spraw_ipc_connect(fl->url);
	if (fd < 0) {
		snprintf(fl->why, sizeof(fl->why), "SP connection to the agent: %s",
			 strerror(errno));
		return;
	}
	spraw_ipc_send(fd, 1, big, FLOOD_BYTES, &sent);
	errno = 0;
	flood_expect_closed(fl, (int)read(fd, &byte, 1), sent);
	close(fd);
}

/* The TLS connection of a controller, with OpenSSL, and nng's SP handshake
 * over it (8 bytes each way: 0, 'S', 'P', 0, protocol, 0, 0; req0 is 0x30,
 * rep0 0x31). Timeouts of 5 s on the socket. NULL after noting why. */
static SSL *flood_tls_connect(struct flood *fl, SSL_CTX *ctx, int *fd)
{
	static const uint8_t req0[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0};
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	uint8_t peer[8];
	SSL *ssl;

	sin.sin_port = htons((uint16_t)atoi(strrchr(fl->url, ':') + 1));
	*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*fd < 0 || set_timeouts(*fd) < 0 ||
	    connect(*fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		snprintf(fl->why, sizeof(fl->why), "connect: %s", strerror(errno));
		return NULL;
	}
	ssl = SSL_new(ctx);
	if (!ssl || SSL_set_fd(ssl, *fd) != 1 || SSL_connect(ssl) != 1 ||
	    SSL_write(ssl, req0, sizeof(req0)) != sizeof(req0) ||
	    SSL_read(ssl, peer, sizeof(peer)) != sizeof(peer) ||
	    memcmp(peer, "\0SP\0\0\x31\0\0", sizeof(peer)) != 0) {
		snprintf(fl->why, sizeof(fl->why), "TLS or SP handshake with the agent failed");
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

/* Over TLS: an nng frame over TCP is an 8-byte big-endian length and the
 * body. */
static void flood_tls(struct flood *fl, uint8_t *big)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	uint8_t frame[8], byte;
	size_t sent = 0;
	int fd = -1, n;

	fl->result = -1;
	if (!ctx || SSL_CTX_use_certificate_file(ctx, fl->tls->cert_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, fl->tls->key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, fl->tls->ca_file, NULL) != 1) {
		snprintf(fl->why, sizeof(fl->why), "OpenSSL client setup failed");
		goto out;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	ssl = flood_tls_connect(fl, ctx, &fd);
	if (!ssl)
		goto out;
	for (int i = 0; i < 8; i++)
		frame[i] = (uint8_t)((uint64_t)FLOOD_BYTES >> (56 - 8 * i));
	n = SSL_write(ssl, frame, sizeof(frame));
	/* the agent may close as soon as it read the length */
	while (n > 0 && sent < FLOOD_BYTES) {
		n = SSL_write(ssl, big + sent,
			      (int)(FLOOD_BYTES - sent < 65536 ? FLOOD_BYTES - sent : 65536));
		sent += n > 0 ? (size_t)n : 0;
	}
	errno = 0;
	n = SSL_read(ssl, &byte, 1);
	flood_expect_closed(fl, n, sent);
out:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
}

/* Sends a 6 MiB message, over the agent's hard limit, on a connection of
 * its own: result 0 when the agent dropped the connection unanswered. */
static void *flood_thread(void *arg)
{
	struct flood *fl = arg;
	uint8_t *big = malloc(FLOOD_BYTES);
	double t0 = now_ms();

	fl->result = -1;
	snprintf(fl->why, sizeof(fl->why), "out of memory");
	if (big) {
		memset(big, 0x5a, FLOOD_BYTES);
		fl->why[0] = '\0';
		if (fl->tls)
			flood_tls(fl, big);
		else
			flood_ipc(fl, big);
	}
	fl->ms = now_ms() - t0;
	free(big);
	return NULL;
}

static uint32_t raw_status(struct rpc_client *c, const char *method, const uint8_t *payload,
			   size_t len)
{
	uint32_t status = RPC_OK;
	uint8_t *out = NULL;
	size_t out_len = 0;
	char *message = NULL;

	assert_ok(
		rpc_client_call_raw(c, method, payload, len, 0, &status, &message, &out, &out_len));
	free(message);
	free(out);
	return status;
}

static void assert_garbage_is_invalid_argument(struct rpc_client *c, const uint8_t *buf, size_t len)
{
	Aicert__V1__Response *resp = NULL;
	uint8_t *reply = NULL;
	size_t reply_len = 0;

	assert_ok(rpc_client_send_bytes(c, buf, len, &reply, &reply_len));
	assert_ok(rpc_unpack_strict(&aicert__v1__response__descriptor, reply, reply_len,
				    (ProtobufCMessage **)&resp));
	assert_int_equal(resp->status, RPC_INVALID_ARGUMENT);
	assert_int_equal(resp->payload.len, 0);
	aicert__v1__response__free_unpacked(resp, NULL);
	free(reply);
}

/* Bytes that are no Request, unknown methods and payloads of another type:
 * refused with a status. */
static void assert_malformed_refused(struct rpc_client *c)
{
	static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 'j', 'u', 'n', 'k'};
	static const uint8_t trailing[] = {0x0a, 0x01, 'x', 0x00};
	Aicert__V1__QuoteRequest qr = AICERT__V1__QUOTE_REQUEST__INIT;
	Aicert__V1__ExtendRequest er = AICERT__V1__EXTEND_REQUEST__INIT;
	uint8_t payload[256], sha[32];

	/* bytes that are no Request */
	assert_garbage_is_invalid_argument(c, junk, sizeof(junk));
	assert_garbage_is_invalid_argument(c, trailing, sizeof(trailing));
	/* unknown methods */
	assert_int_equal(raw_status(c, "aicert.v1.Agent/Reboot", NULL, 0), RPC_UNIMPLEMENTED);
	assert_int_equal(raw_status(c, "aicert.v1.Other/Health", NULL, 0), RPC_UNIMPLEMENTED);
	assert_int_equal(raw_status(c, "", NULL, 0), RPC_UNIMPLEMENTED);
	/* payloads of another type */
	qr.qualifying_data.data = (uint8_t *)"nonce";
	qr.qualifying_data.len = 5;
	assert_int_equal(raw_status(c, "aicert.v1.Agent/Health", payload,
				    aicert__v1__quote_request__pack(&qr, payload)),
			 RPC_INVALID_ARGUMENT);
	SHA256((const uint8_t *)"x", 1, sha);
	er.pcr = 14;
	er.sha256.data = sha;
	er.sha256.len = 32;
	er.content.data = (uint8_t *)"x";
	er.content.len = 1;
	assert_int_equal(raw_status(c, "aicert.v1.Agent/Quote", payload,
				    aicert__v1__extend_request__pack(&er, payload)),
			 RPC_INVALID_ARGUMENT);
}

/* 6 MiB: the connection is dropped; the agent serves c meanwhile. */
static void assert_flood_dropped(struct rpc_client *c, const char *url, const struct rpc_tls *tls)
{
	struct flood fl = {.url = url, .tls = tls};
	pthread_t th;

	assert_int_equal(pthread_create(&th, NULL, flood_thread, &fl), 0);
	for (int i = 0; i < 20; i++) {
		aicert__v1__health_reply__free_unpacked(health(c), NULL);
		usleep(20 * 1000);
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	if (fl.result < 0)
		fail_msg("6 MiB message: %s", fl.why);
	print_message("6 MiB message: connection dropped after %.0f ms\n", fl.ms);
	assert_true(fl.ms < 10000);
}

void check_malformed_and_oversized(struct rpc_client *c, const char *url, const struct rpc_tls *tls)
{
	size_t big_len = 2u << 20;
	uint8_t *big = calloc(1, big_len);
	uint64_t n0 = runtime_events(c);

	assert_non_null(big);
	assert_malformed_refused(c);
	/* 2 MiB: over the request limit, under the transport's */
	assert_int_equal(raw_status(c, "aicert.v1.Agent/Quote", big, big_len),
			 RPC_RESOURCE_EXHAUSTED);
	free(big);
	assert_flood_dropped(c, url, tls);
	/* still serving, and nothing was extended */
	quote_and_verify(c, NULL);
	assert_int_equal(runtime_events(c), n0);
}
