/* aicert-agent as a process against a real swtpm, through the RPC client and
 * the generated stubs: every method, the network listener's mutual TLS,
 * malformed input, concurrency, restarts, resends and configuration.
 *
 * Groups: agent_methods and agent_tls share one TPM and one agent per group
 * (their tests only add records to the runtime log, so they count from what
 * they find); agent_lifecycle and agent_config start a TPM per test. Pass
 * group names as arguments to run only those.
 *
 * Two tests fail on purpose until agent bugs are fixed; their failure
 * messages start with "KNOWN BUG" and name the function to fix:
 * health_after_tpm_reset_counts_only_the_new_log and
 * sigterm_right_after_a_reply_exits_zero_every_time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <tss2/tss2_mu.h>

#include "agentc.h"
#include "agentproc.h"
#include "aicert.pb-c.h"
#include "attest.h"
#include "cel.h"
#include "err.h"
#include "fileio.h"
#include "harness.h"
#include "hex.h"
#include "rpc.h"
#include "tpmkey.h"

#define AICERT_CLI AICERT_BINARY_DIR "/controller/aicert"
#define TLS_SCRIPT AICERT_SOURCE_DIR "/tests/harness/tls.sh"

#define SHA1_ALG         0x0004u
#define SHA256_ALG       0x000bu
#define EK_RSA_CERT_NV   0x01c00002u
#define EK_ECC_CERT_NV   0x01c00016u
#define EV_NO_ACTION     0x00000003u
#define EV_EVENT_TAG     0x00000006u
#define PCRS_0_8_14      ((1u << 0) | (1u << 8) | (1u << 14))
#define ALL_PCRS         0xffffffu
#define SHORT_TIMEOUT_MS 1000u
#define SIGTERM_CYCLES   40

enum {
	AGENT_CRT,
	AGENT_KEY,
	AGENT_CA,
	CONTROLLER_CRT,
	CONTROLLER_KEY,
	CONTROLLER_CA,
	ROGUE_CRT,
	ROGUE_KEY,
	N_TLS
};

static const char *const tls_names[N_TLS] = {
	"agent.crt",      "agent.key",         "agent-ca.crt", "controller.crt",
	"controller.key", "controller-ca.crt", "rogue.crt",    "rogue.key",
};

struct fx {
	struct harness_swtpm tpm;
	struct agentproc agent;
	struct rpc_client *c; /* the local socket */
	bool tls;             /* the agent also listens on tls_url */
	char tls_file[N_TLS][PATH_MAX];
	char tls_url[64];
	struct rpc_tls ctl;     /* a controller's client credentials */
	struct rpc_client *net; /* tls_url with ctl */
};

#define assert_ok(expr)                                                                            \
	do {                                                                                       \
		int r_ = (expr);                                                                   \
		if (r_ < 0)                                                                        \
			fail_msg("%s: %s", #expr, err_msg(r_));                                    \
	} while (0)

/* ---- helpers: processes, files, clients --------------------------------- */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void random_bytes(void *buf, size_t len)
{
	assert_true(getrandom(buf, len, 0) == (ssize_t)len);
}

static uint64_t random_id(void)
{
	uint64_t id = 0;

	while (id == 0)
		random_bytes(&id, sizeof(id));
	return id;
}

static void scratch(struct fx *f, const char *name, char out[PATH_MAX])
{
	assert_int_equal(harness_path(&f->tpm, name, out), 0);
}

static struct rpc_client *dial(const char *url, const struct rpc_tls *tls, uint32_t timeout_ms)
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

static int fx_setup(void **state)
{
	return fx_new(state, false, true);
}

static int fx_setup_tls(void **state)
{
	return fx_new(state, true, true);
}

static int fx_setup_tpm_only(void **state)
{
	return fx_new(state, false, false);
}

static int fx_teardown(void **state)
{
	return *state ? fx_free(*state) : 0;
}

/* ---- helpers: calls ------------------------------------------------------ */

static Aicert__V1__HealthReply *health(struct rpc_client *c)
{
	Aicert__V1__HealthReply *h = NULL;

	assert_ok(agentc_health(c, &h));
	return h;
}

static uint64_t runtime_events(struct rpc_client *c)
{
	Aicert__V1__HealthReply *h = health(c);
	uint64_t n = h->runtime_events;

	aicert__v1__health_reply__free_unpacked(h, NULL);
	return n;
}

static Aicert__V1__IdentityReply *identity(struct rpc_client *c)
{
	Aicert__V1__IdentityReply *id = NULL;

	assert_ok(agentc_identity(c, &id));
	return id;
}

static Aicert__V1__EventLogReply *event_log(struct rpc_client *c)
{
	Aicert__V1__EventLogReply *ev = NULL;

	assert_ok(agentc_event_log(c, &ev));
	return ev;
}

/* A ReadPcrs or Quote selection: up to two banks from bit masks. */
struct sel {
	Aicert__V1__PcrBank banks[2];
	Aicert__V1__PcrBank *ptrs[2];
	uint32_t pcrs[2][24];
	size_t n;
};

static void sel_add(struct sel *s, uint32_t alg, uint32_t mask)
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
static void read_sha256(struct rpc_client *c, uint32_t mask, uint8_t out[24][32])
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

static void read_pcr(struct rpc_client *c, uint32_t pcr, uint8_t out[32])
{
	uint8_t all[24][32];

	read_sha256(c, 1u << pcr, all);
	memcpy(out, all[pcr], 32);
}

static int quote_call(struct rpc_client *c, const uint8_t *nonce, size_t nonce_len,
		      uint32_t sha256_mask, uint32_t sha1_mask, Aicert__V1__QuoteReply **ret)
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
static int verify_quote(const Aicert__V1__QuoteReply *q, const uint8_t *nonce, size_t nonce_len,
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

static void assert_quote_valid(const Aicert__V1__QuoteReply *q, const uint8_t *nonce,
			       size_t nonce_len, const ProtobufCBinaryData *ak_public)
{
	char why[512];

	if (verify_quote(q, nonce, nonce_len, ak_public, why, sizeof(why)) < 0)
		fail_msg("quote does not verify: %s", why);
}

/* Quotes PCRs 0, 8 and 14 over a fresh nonce and verifies the quote. */
static void quote_and_verify(struct rpc_client *c, const ProtobufCBinaryData *ak_public)
{
	Aicert__V1__QuoteReply *q = NULL;
	uint8_t nonce[32];

	random_bytes(nonce, sizeof(nonce));
	assert_ok(quote_call(c, nonce, sizeof(nonce), PCRS_0_8_14, 0, &q));
	assert_quote_valid(q, nonce, sizeof(nonce), ak_public);
	aicert__v1__quote_reply__free_unpacked(q, NULL);
}

struct ext {
	uint32_t status;
	char *message;
	uint64_t recnum;
	uint8_t value[32];
};

/* Extend through rpc_client_call_raw with the given request id (0: a random
 * one); digest NULL means the SHA-256 of content. Returns the transport's
 * result; e->status holds the server's status. */
static int extend_call(struct rpc_client *c, uint64_t id, uint32_t pcr, uint32_t type,
		       const void *content, size_t len, const uint8_t *digest, struct ext *e)
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
static void assert_extend_status(struct rpc_client *c, uint64_t id, uint32_t pcr, uint32_t type,
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
static uint64_t extend_ok(struct rpc_client *c, uint32_t pcr, const char *content,
			  uint8_t value[32])
{
	struct ext e;

	assert_extend_status(c, 0, pcr, EV_EVENT_TAG, content, NULL, RPC_OK, &e);
	if (value)
		memcpy(value, e.value, 32);
	return e.recnum;
}

/* SHA-256(old || SHA-256(content)): what an extend of content makes of old. */
static void extended(const uint8_t old[32], const char *content, uint8_t out[32])
{
	uint8_t buf[64];

	memcpy(buf, old, 32);
	SHA256((const uint8_t *)content, strlen(content), buf + 32);
	SHA256(buf, sizeof(buf), out);
}

/* The runtime log of an EventLog reply, decoded strictly. */
static void decode_runtime(const Aicert__V1__EventLogReply *ev, struct cel_log *log)
{
	memset(log, 0, sizeof(*log));
	assert_ok(cel_decode(ev->runtime_log.data, ev->runtime_log.len, log));
}

/* The runtime log replays exactly to the PCRs ReadPcrs reports (8 and 14
 * always, and every PCR the log touches); returns its length. */
static size_t assert_log_replays(struct rpc_client *c)
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

static void ak_name(struct rpc_client *c, uint8_t name[TPMKEY_NAME_MAX], size_t *len)
{
	Aicert__V1__IdentityReply *id = identity(c);

	assert_true(id->ak_name.len > 2 && id->ak_name.len <= TPMKEY_NAME_MAX);
	memcpy(name, id->ak_name.data, id->ak_name.len);
	*len = id->ak_name.len;
	aicert__v1__identity_reply__free_unpacked(id, NULL);
}

/* ---- agent_methods: every method on the local socket --------------------- */

static void health_reports_version_tpm_and_counters(void **state)
{
	struct fx *f = *state;
	Aicert__V1__HealthReply *h = health(f->c), *h2;

	assert_string_equal(h->version, AICERT_VERSION);
	/* swtpm (libtpms) reports 0x49424d00: "IBM" and a NUL, not the
	 * registry's "IBM " */
	assert_string_equal(h->tpm_manufacturer, "IBM");
	assert_int_equal(h->ak_alg, AICERT__V1__KEY_ALG__KEY_ALG_ECC);
	usleep(20 * 1000);
	h2 = health(f->c);
	assert_true(h2->uptime_ms >= h->uptime_ms + 15);
	assert_int_equal(h2->reset_count, h->reset_count);
	assert_int_equal(h2->restart_count, h->restart_count);
	aicert__v1__health_reply__free_unpacked(h, NULL);
	aicert__v1__health_reply__free_unpacked(h2, NULL);
}

static void local_socket_is_for_owner_and_group_only(void **state)
{
	struct fx *f = *state;
	struct stat st;

	assert_int_equal(stat(f->agent.local_url + strlen("ipc://"), &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
}

static X509 *load_pem_cert(const char *path)
{
	FILE *fp = fopen(path, "re");
	X509 *x;

	assert_non_null(fp);
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(x);
	return x;
}

/* The EK certificate chains to the swtpm's local CA. */
static void assert_ek_chain(struct fx *f, X509 *cert)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	X509 *root = load_pem_cert(f->tpm.ek_root), *issuer = load_pem_cert(f->tpm.ek_issuer);
	int ok;

	assert_true(store && ctx && untrusted);
	assert_int_equal(X509_STORE_add_cert(store, root), 1);
	assert_true(sk_X509_push(untrusted, issuer) > 0);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, cert, untrusted), 1);
	ok = X509_verify_cert(ctx);
	if (ok != 1)
		fail_msg("EK certificate does not chain to the swtpm CA: %s",
			 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	X509_STORE_CTX_free(ctx);
	sk_X509_pop_free(untrusted, X509_free);
	X509_free(root);
	X509_STORE_free(store);
}

static void identity_ek_certs_match_ek_and_ak_is_an_attestation_key(void **state)
{
	struct fx *f = *state;
	Aicert__V1__IdentityReply *id = identity(f->c);
	TPMT_PUBLIC ek, ak;
	TPM2B_NAME name;
	bool rsa_seen = false, ecc_seen = false;

	assert_int_equal(id->ek_alg, AICERT__V1__KEY_ALG__KEY_ALG_RSA);
	assert_int_equal(id->ak_alg, AICERT__V1__KEY_ALG__KEY_ALG_ECC);
	assert_int_equal(id->ak_cert_der.len, 0);
	assert_ok(tpmkey_parse_public(id->ek_public.data, id->ek_public.len, &ek));
	assert_int_equal(ek.type, TPM2_ALG_RSA);
	for (size_t i = 0; i < id->n_ek_certs; i++) {
		const uint8_t *p = id->ek_certs[i]->der.data;
		X509 *x = d2i_X509(NULL, &p, (long)id->ek_certs[i]->der.len);

		assert_non_null(x);
		assert_ptr_equal(p, id->ek_certs[i]->der.data + id->ek_certs[i]->der.len);
		assert_ek_chain(f, x);
		if (id->ek_certs[i]->nv_index == EK_RSA_CERT_NV) {
			/* The EK the AK lives under is the certified RSA EK. */
			assert_ok(tpmkey_check_evp(&ek, X509_get0_pubkey(x)));
			rsa_seen = true;
		}
		if (id->ek_certs[i]->nv_index == EK_ECC_CERT_NV) {
			assert_int_equal(EVP_PKEY_get_base_id(X509_get0_pubkey(x)), EVP_PKEY_EC);
			ecc_seen = true;
		}
		X509_free(x);
	}
	assert_true(rsa_seen && ecc_seen);
	assert_ok(tpmkey_parse_public(id->ak_public.data, id->ak_public.len, &ak));
	assert_ok(tpmkey_check_ak_attributes(&ak));
	assert_int_equal(ak.type, TPM2_ALG_ECC);
	assert_ok(tpmkey_name(&ak, &name));
	assert_int_equal(name.size, id->ak_name.len);
	assert_memory_equal(name.name, id->ak_name.data, name.size);
	aicert__v1__identity_reply__free_unpacked(id, NULL);
}

struct cred {
	uint8_t blob[sizeof(TPM2B_ID_OBJECT)];
	size_t blob_len;
	uint8_t secret[sizeof(TPM2B_ENCRYPTED_SECRET)];
	size_t secret_len;
};

/* MakeCredential as the attestation CA does it, without a TPM:
 * tpm2_makecredential -T none with the EK public as a TPM2B_PUBLIC. Its
 * output is magic 0xBADCC0DE, version 1, TPM2B_ID_OBJECT,
 * TPM2B_ENCRYPTED_SECRET, all big-endian, nothing after. */
static void make_credential(struct fx *f, const ProtobufCBinaryData *ek_public, const uint8_t *name,
			    size_t name_len, const uint8_t *secret, size_t secret_len,
			    struct cred *c)
{
	char ek_path[PATH_MAX], secret_path[PATH_MAX], out_path[PATH_MAX];
	char name_hex[2 * TPMKEY_NAME_MAX + 1], quiet[4096];
	const char *argv[] = {"tpm2_makecredential", "-T", "none",   "-u", ek_path,  "-s",
			      secret_path,           "-n", name_hex, "-o", out_path, NULL};
	uint8_t ek2b[2 + sizeof(TPMT_PUBLIC)], *out = NULL;
	TPM2B_ID_OBJECT blob = {0};
	TPM2B_ENCRYPTED_SECRET enc = {0};
	size_t out_len = 0, off = 8;

	assert_true(ek_public->len <= sizeof(TPMT_PUBLIC) && name_len <= TPMKEY_NAME_MAX);
	ek2b[0] = (uint8_t)(ek_public->len >> 8);
	ek2b[1] = (uint8_t)ek_public->len;
	memcpy(ek2b + 2, ek_public->data, ek_public->len);
	scratch(f, "ek.tpm2b", ek_path);
	scratch(f, "credential.secret", secret_path);
	scratch(f, "credential.out", out_path);
	assert_int_equal(harness_write_file(ek_path, ek2b, 2 + ek_public->len), 0);
	assert_int_equal(harness_write_file(secret_path, secret, secret_len), 0);
	hex_encode(name, name_len, name_hex);
	unlink(out_path);
	assert_int_equal(harness_run_capture(argv, quiet, sizeof(quiet), NULL), 0);
	assert_ok(fileio_read_all(out_path, 4096, &out, &out_len));
	assert_true(out_len > 8);
	assert_memory_equal(out, "\xba\xdc\xc0\xde\x00\x00\x00\x01", 8);
	assert_int_equal(Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(out, out_len, &off, &blob), 0);
	assert_int_equal(Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(out, out_len, &off, &enc), 0);
	assert_int_equal(off, out_len);
	free(out);
	c->blob_len = blob.size;
	memcpy(c->blob, blob.credential, blob.size);
	c->secret_len = enc.size;
	memcpy(c->secret, enc.secret, enc.size);
}

static uint32_t activate(struct rpc_client *c, const struct cred *cr,
			 Aicert__V1__ActivateCredentialReply **ret)
{
	Aicert__V1__ActivateCredentialRequest req = AICERT__V1__ACTIVATE_CREDENTIAL_REQUEST__INIT;
	struct rpc_reply rep = RPC_REPLY_INIT;

	req.credential_blob.data = (uint8_t *)cr->blob;
	req.credential_blob.len = cr->blob_len;
	req.encrypted_secret.data = (uint8_t *)cr->secret;
	req.encrypted_secret.len = cr->secret_len;
	aicert__v1__agent__activate_credential(
		rpc_client_service(c), &req,
		(Aicert__V1__ActivateCredentialReply_Closure)rpc_reply_capture, &rep);
	*ret = (Aicert__V1__ActivateCredentialReply *)rep.msg;
	return rep.status;
}

static void activate_credential_returns_secret_made_for_ak_name(void **state)
{
	struct fx *f = *state;
	Aicert__V1__IdentityReply *id = identity(f->c);
	Aicert__V1__ActivateCredentialReply *rep = NULL;
	uint8_t secret[32];
	struct cred cr;

	random_bytes(secret, sizeof(secret));
	make_credential(f, &id->ek_public, id->ak_name.data, id->ak_name.len, secret,
			sizeof(secret), &cr);
	assert_int_equal(activate(f->c, &cr, &rep), RPC_OK);
	assert_non_null(rep);
	assert_int_equal(rep->secret.len, sizeof(secret));
	assert_memory_equal(rep->secret.data, secret, sizeof(secret));
	aicert__v1__activate_credential_reply__free_unpacked(rep, NULL);
	aicert__v1__identity_reply__free_unpacked(id, NULL);
}

static void activate_credential_for_another_name_fails(void **state)
{
	struct fx *f = *state;
	Aicert__V1__IdentityReply *id = identity(f->c);
	Aicert__V1__ActivateCredentialReply *rep = NULL;
	uint8_t secret[32], other[TPMKEY_NAME_MAX];
	struct cred cr;
	uint32_t status;

	random_bytes(secret, sizeof(secret));
	memcpy(other, id->ak_name.data, id->ak_name.len);
	other[id->ak_name.len - 1] ^= 0x01; /* another object's name */
	make_credential(f, &id->ek_public, other, id->ak_name.len, secret, sizeof(secret), &cr);
	status = activate(f->c, &cr, &rep);
	assert_null(rep);
	assert_int_not_equal(status, RPC_OK);
	print_message("ActivateCredential for another name: %s\n",
		      err_msg(err_from_status(status)));
	/* and a credential cut short is refused as input */
	make_credential(f, &id->ek_public, id->ak_name.data, id->ak_name.len, secret,
			sizeof(secret), &cr);
	cr.blob_len = 0;
	assert_int_equal(activate(f->c, &cr, &rep), RPC_INVALID_ARGUMENT);
	assert_null(rep);
	aicert__v1__identity_reply__free_unpacked(id, NULL);
}

static void extend_counts_records_and_chains_pcr_value(void **state)
{
	struct fx *f = *state;
	uint8_t pcr14[32], pcr8[32], want[32], got[32];
	uint64_t n0 = runtime_events(f->c);

	read_pcr(f->c, 14, pcr14);
	read_pcr(f->c, 8, pcr8);
	extended(pcr14, "input: base model", want);
	assert_int_equal(extend_ok(f->c, 14, "input: base model", got), n0);
	assert_memory_equal(got, want, 32);
	memcpy(pcr14, want, 32);
	extended(pcr14, "input: dataset", want);
	assert_int_equal(extend_ok(f->c, 14, "input: dataset", got), n0 + 1);
	assert_memory_equal(got, want, 32);
	extended(pcr8, "output: weights", want);
	assert_int_equal(extend_ok(f->c, 8, "output: weights", got), n0 + 2);
	assert_memory_equal(got, want, 32);
	/* ReadPcrs agrees, and the log has the three records */
	read_pcr(f->c, 8, got);
	assert_memory_equal(got, want, 32);
	assert_int_equal(runtime_events(f->c), n0 + 3);
	assert_int_equal(assert_log_replays(f->c), n0 + 3);
}

/* An Extend without a request id, built by hand: rpc_client_call_raw always
 * sends one. */
static uint32_t extend_without_request_id(struct rpc_client *c)
{
	Aicert__V1__ExtendRequest in = AICERT__V1__EXTEND_REQUEST__INIT;
	Aicert__V1__Request req = AICERT__V1__REQUEST__INIT;
	Aicert__V1__Response *resp = NULL;
	uint8_t sha[32], payload[128], buf[256], *reply = NULL;
	size_t reply_len = 0;
	uint32_t status;

	SHA256((const uint8_t *)"x", 1, sha);
	in.pcr = 14;
	in.sha256.data = sha;
	in.sha256.len = 32;
	in.content.data = (uint8_t *)"x";
	in.content.len = 1;
	in.event_type = EV_EVENT_TAG;
	req.method = "aicert.v1.Agent/Extend";
	req.payload.data = payload;
	req.payload.len = aicert__v1__extend_request__pack(&in, payload);
	assert_ok(rpc_client_send_bytes(c, buf, aicert__v1__request__pack(&req, buf), &reply,
					&reply_len));
	assert_ok(rpc_unpack_strict(&aicert__v1__response__descriptor, reply, reply_len,
				    (ProtobufCMessage **)&resp));
	status = resp->status;
	aicert__v1__response__free_unpacked(resp, NULL);
	free(reply);
	return status;
}

static void extend_refuses_bad_digest_pcr_and_event_type(void **state)
{
	struct fx *f = *state;
	uint8_t before[24][32], after[24][32], wrong[32];
	uint64_t n0 = runtime_events(f->c);
	char *big;

	read_sha256(f->c, ALL_PCRS, before);
	/* a digest that is not the SHA-256 of the content */
	SHA256((const uint8_t *)"something else", 14, wrong);
	assert_extend_status(f->c, 0, 14, EV_EVENT_TAG, "input: code", wrong, RPC_INVALID_ARGUMENT,
			     NULL);
	/* PCRs outside the allowed set (8 and 14 by default) */
	assert_extend_status(f->c, 0, 0, EV_EVENT_TAG, "firmware", NULL, RPC_PERMISSION_DENIED,
			     NULL);
	assert_extend_status(f->c, 0, 15, EV_EVENT_TAG, "session", NULL, RPC_PERMISSION_DENIED,
			     NULL);
	assert_extend_status(f->c, 0, 16, EV_EVENT_TAG, "debug", NULL, RPC_PERMISSION_DENIED, NULL);
	assert_extend_status(f->c, 0, 24, EV_EVENT_TAG, "no such PCR", NULL, RPC_PERMISSION_DENIED,
			     NULL);
	/* EV_NO_ACTION events are never extended */
	assert_extend_status(f->c, 0, 14, EV_NO_ACTION, "no action", NULL, RPC_INVALID_ARGUMENT,
			     NULL);
	/* a mutating call needs a request id */
	assert_int_equal(extend_without_request_id(f->c), RPC_INVALID_ARGUMENT);
	/* event data over the CEL record limit */
	big = malloc(CEL_MAX_CONTENT + 2);
	assert_non_null(big);
	memset(big, 'x', CEL_MAX_CONTENT + 1);
	big[CEL_MAX_CONTENT + 1] = '\0';
	assert_extend_status(f->c, 0, 14, EV_EVENT_TAG, big, NULL, RPC_RESOURCE_EXHAUSTED, NULL);
	free(big);
	/* nothing was logged or extended */
	assert_int_equal(runtime_events(f->c), n0);
	read_sha256(f->c, ALL_PCRS, after);
	assert_memory_equal(before, after, sizeof(before));
}

static void quote_verifies_and_binds_nonce_and_pcrs(void **state)
{
	struct fx *f = *state;
	Aicert__V1__IdentityReply *id = identity(f->c);
	Aicert__V1__QuoteReply *q = NULL;
	uint8_t nonce[32], pcrs[24][32];
	char why[512];

	extend_ok(f->c, 14, "input: before the quote", NULL);
	random_bytes(nonce, sizeof(nonce));
	assert_ok(quote_call(f->c, nonce, sizeof(nonce), PCRS_0_8_14 | (1u << 15) | (1u << 23),
			     (1u << 0) | (1u << 14), &q));
	assert_quote_valid(q, nonce, sizeof(nonce), &id->ak_public);
	/* the values quoted are the PCRs */
	read_sha256(f->c, PCRS_0_8_14, pcrs);
	assert_int_equal(q->n_pcrs, 2);
	assert_int_equal(q->pcrs[0]->hash_alg, SHA256_ALG);
	assert_int_equal(q->pcrs[0]->n_values, 5);
	assert_int_equal(q->pcrs[0]->values[2]->pcr, 14);
	assert_memory_equal(q->pcrs[0]->values[2]->digest.data, pcrs[14], 32);
	assert_int_equal(q->pcrs[1]->hash_alg, SHA1_ALG);
	assert_int_equal(q->pcrs[1]->values[0]->digest.len, 20);
	/* a verifier with another nonce, or told another PCR value, says no */
	nonce[0] ^= 1;
	assert_int_equal(verify_quote(q, nonce, sizeof(nonce), NULL, why, sizeof(why)), -1);
	nonce[0] ^= 1;
	q->pcrs[0]->values[2]->digest.data[0] ^= 1;
	assert_int_equal(verify_quote(q, nonce, sizeof(nonce), NULL, why, sizeof(why)), -1);
	aicert__v1__quote_reply__free_unpacked(q, NULL);
	aicert__v1__identity_reply__free_unpacked(id, NULL);
}

static void quote_refuses_bad_nonce_and_selection(void **state)
{
	struct fx *f = *state;
	Aicert__V1__QuoteReply *q = NULL;
	uint8_t nonce[65] = {1};

	assert_int_equal(quote_call(f->c, nonce, 0, PCRS_0_8_14, 0, &q), AICERT_ERR_INVALID);
	assert_int_equal(quote_call(f->c, nonce, 65, PCRS_0_8_14, 0, &q), AICERT_ERR_INVALID);
	assert_int_equal(quote_call(f->c, nonce, 32, 0, 0, &q), AICERT_ERR_INVALID);
	assert_null(q);
	assert_ok(quote_call(f->c, nonce, 64, PCRS_0_8_14, 0, &q));
	assert_quote_valid(q, nonce, 64, NULL);
	aicert__v1__quote_reply__free_unpacked(q, NULL);
}

static void read_pcrs_reads_sha256_and_sha1_banks_past_eight(void **state)
{
	struct fx *f = *state;
	Aicert__V1__ReadPcrsRequest req = AICERT__V1__READ_PCRS_REQUEST__INIT;
	Aicert__V1__ReadPcrsReply *rep = NULL;
	uint8_t ones[32];
	static const uint8_t zeros[32];
	uint8_t pcr14[32];
	struct sel s = {0};

	memset(ones, 0xff, sizeof(ones));
	extend_ok(f->c, 14, "input: before ReadPcrs", pcr14);
	sel_add(&s, SHA256_ALG, ALL_PCRS);
	sel_add(&s, SHA1_ALG, ALL_PCRS);
	req.banks = s.ptrs;
	req.n_banks = 2;
	assert_ok(agentc_read_pcrs(f->c, &req, &rep));
	assert_int_equal(rep->n_banks, 2);
	for (size_t b = 0; b < 2; b++) {
		size_t len = b == 0 ? 32 : 20;

		assert_int_equal(rep->banks[b]->hash_alg, b == 0 ? SHA256_ALG : SHA1_ALG);
		assert_int_equal(rep->banks[b]->n_values, 24);
		for (uint32_t i = 0; i < 24; i++) {
			const Aicert__V1__PcrValue *v = rep->banks[b]->values[i];

			assert_int_equal(v->pcr, i);
			assert_int_equal(v->digest.len, len);
			/* swtpm: PCRs 17-22 start as all ones, the others as zero */
			if (i == 0 || i == 16 || i == 23)
				assert_memory_equal(v->digest.data, zeros, len);
			if (i >= 17 && i <= 22)
				assert_memory_equal(v->digest.data, ones, len);
		}
	}
	assert_memory_equal(rep->banks[0]->values[14]->digest.data, pcr14, 32);
	/* the agent extends the SHA-256 bank only */
	assert_memory_equal(rep->banks[1]->values[14]->digest.data, zeros, 20);
	aicert__v1__read_pcrs_reply__free_unpacked(rep, NULL);
	rep = NULL;
	/* a bank this TPM does not have, a bank twice */
	memset(&s, 0, sizeof(s));
	sel_add(&s, 0x000c, 1u << 14);
	req.banks = s.ptrs;
	req.n_banks = 1;
	assert_int_equal(agentc_read_pcrs(f->c, &req, &rep), AICERT_ERR_NOT_FOUND);
	memset(&s, 0, sizeof(s));
	sel_add(&s, SHA256_ALG, 1u << 14);
	sel_add(&s, SHA256_ALG, 1u << 8);
	req.banks = s.ptrs;
	req.n_banks = 2;
	assert_int_equal(agentc_read_pcrs(f->c, &req, &rep), AICERT_ERR_INVALID);
	assert_null(rep);
	/* no bank: all of SHA-256 */
	req.n_banks = 0;
	assert_ok(agentc_read_pcrs(f->c, &req, &rep));
	assert_int_equal(rep->n_banks, 1);
	assert_int_equal(rep->banks[0]->hash_alg, SHA256_ALG);
	assert_int_equal(rep->banks[0]->n_values, 24);
	aicert__v1__read_pcrs_reply__free_unpacked(rep, NULL);
}

static void event_log_replays_to_pcrs_and_boot_log_is_empty(void **state)
{
	struct fx *f = *state;
	Aicert__V1__EventLogReply *ev;
	Aicert__V1__HealthReply *h;
	struct cel_log log;
	uint64_t n;

	extend_ok(f->c, 14, "input: for the event log", NULL);
	n = extend_ok(f->c, 8, "output: for the event log", NULL);
	assert_int_equal(assert_log_replays(f->c), n + 1);
	ev = event_log(f->c);
	h = health(f->c);
	assert_int_equal(ev->boot_log.len, 0);
	assert_int_equal(ev->reset_count, h->reset_count);
	assert_int_equal(ev->restart_count, h->restart_count);
	decode_runtime(ev, &log);
	assert_int_equal(log.n, n + 1);
	assert_int_equal(log.recs[n].pcr, 8);
	assert_int_equal(log.recs[n].event_type, EV_EVENT_TAG);
	assert_int_equal(log.recs[n].data_len, strlen("output: for the event log"));
	assert_memory_equal(log.recs[n].data, "output: for the event log", log.recs[n].data_len);
	cel_clear(&log);
	aicert__v1__health_reply__free_unpacked(h, NULL);
	aicert__v1__event_log_reply__free_unpacked(ev, NULL);
}

/* tpm2_checkquote with the files `aicert agent quote` wrote; its exit
 * status. */
static int checkquote(const char *dir, const char *nonce_hex)
{
	char pub[PATH_MAX], msg[PATH_MAX], sig[PATH_MAX], pcrs[PATH_MAX], quiet[8192];
	const char *argv[] = {
		"tpm2_checkquote", "-u", pub,       "-m", msg, "-s", sig, "-f", pcrs, "-g",
		"sha256",          "-q", nonce_hex, NULL};

	snprintf(pub, sizeof(pub), "%s/ak.pub.pem", dir);
	snprintf(msg, sizeof(msg), "%s/quote.msg", dir);
	snprintf(sig, sizeof(sig), "%s/quote.sig", dir);
	snprintf(pcrs, sizeof(pcrs), "%s/quote.pcrs", dir);
	return harness_run_capture(argv, quiet, sizeof(quiet), NULL);
}

static void cli_quote_accepted_by_tpm2_checkquote_and_wrong_nonce_rejected(void **state)
{
	struct fx *f = *state;
	char dir[PATH_MAX], hex[65], other[65], quiet[8192];
	const char *argv[] = {AICERT_CLI,         "agent",   "quote", "--agent",
			      f->agent.local_url, "--nonce", hex,     "--pcrs",
			      "0,8,14",           "--out",   dir,     NULL};
	uint8_t nonce[32];

	extend_ok(f->c, 14, "input: before tpm2_checkquote", NULL);
	scratch(f, "cli-quote", dir);
	random_bytes(nonce, sizeof(nonce));
	hex_encode(nonce, sizeof(nonce), hex);
	assert_int_equal(harness_run_capture(argv, quiet, sizeof(quiet), NULL), 0);
	assert_int_equal(checkquote(dir, hex), 0);
	nonce[31] ^= 1;
	hex_encode(nonce, sizeof(nonce), other);
	print_message("tpm2_checkquote with another nonce, which must fail:\n");
	assert_int_not_equal(checkquote(dir, other), 0);
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

/* Over ipc: a 6 MiB message on an RPC client of its own, which must fail. */
static void flood_ipc(struct flood *fl, uint8_t *big)
{
	struct rpc_client_opts o = {.timeout_ms = 2000};
	struct rpc_client *c = NULL;
	uint8_t *reply = NULL;
	size_t reply_len = 0;

	fl->result = -1;
	if (rpc_client_dial(fl->url, &aicert__v1__agent__descriptor, &o, &c) < 0)
		snprintf(fl->why, sizeof(fl->why), "dial: %s", err_msg(AICERT_ERR_INTERNAL));
	else if (rpc_client_send_bytes(c, big, FLOOD_BYTES, &reply, &reply_len) == 0)
		snprintf(fl->why, sizeof(fl->why), "the agent answered a 6 MiB message");
	else
		fl->result = 0;
	free(reply);
	rpc_client_free(c);
}

/* The TLS connection of a controller, with OpenSSL, and nng's SP handshake
 * over it (8 bytes each way: 0, 'S', 'P', 0, protocol, 0, 0; req0 is 0x30,
 * rep0 0x31). Timeouts of 5 s on the socket. NULL after noting why. */
static SSL *flood_tls_connect(struct flood *fl, SSL_CTX *ctx, int *fd)
{
	static const uint8_t req0[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0};
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {5, 0};
	uint8_t peer[8];
	SSL *ssl;

	sin.sin_port = htons((uint16_t)atoi(strrchr(fl->url, ':') + 1));
	*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*fd < 0 || setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(*fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
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

/* Over TLS the 6 MiB message goes out on a raw connection rather than on
 * nng's client, whose nng_close() was seen to hang after such a send failed
 * (nng 1.5.2). An nng frame over TCP is an 8-byte big-endian length and the
 * body; the agent must close the connection without a reply. */
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
	if (n > 0)
		snprintf(fl->why, sizeof(fl->why), "the agent answered a 6 MiB message");
	else if (errno == EAGAIN || errno == EWOULDBLOCK)
		snprintf(fl->why, sizeof(fl->why),
			 "the agent kept the connection open for 5 s after %zu bytes", sent);
	else
		fl->result = 0;
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

static void check_malformed_and_oversized(struct rpc_client *c, const char *url,
					  const struct rpc_tls *tls)
{
	static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 'j', 'u', 'n', 'k'};
	static const uint8_t trailing[] = {0x0a, 0x01, 'x', 0x00};
	Aicert__V1__QuoteRequest qr = AICERT__V1__QUOTE_REQUEST__INIT;
	Aicert__V1__ExtendRequest er = AICERT__V1__EXTEND_REQUEST__INIT;
	uint8_t payload[256], sha[32];
	struct flood fl = {.url = url, .tls = tls};
	size_t big_len = 2u << 20;
	uint8_t *big = calloc(1, big_len);
	uint64_t n0 = runtime_events(c);
	pthread_t th;

	assert_non_null(big);
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
	/* 2 MiB: over the request limit, under the transport's */
	assert_int_equal(raw_status(c, "aicert.v1.Agent/Quote", big, big_len),
			 RPC_RESOURCE_EXHAUSTED);
	free(big);
	/* 6 MiB: the connection is dropped; the agent serves others meanwhile */
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
	/* still serving, and nothing was extended */
	quote_and_verify(c, NULL);
	assert_int_equal(runtime_events(c), n0);
}

static void malformed_and_oversized_messages_over_ipc(void **state)
{
	struct fx *f = *state;

	check_malformed_and_oversized(f->c, f->agent.local_url, NULL);
}

/* ---- concurrency --------------------------------------------------------- */

#define CONCURRENT_CLIENTS 8
#define QUOTES_PER_CLIENT  100

struct worker {
	const char *url;
	const struct rpc_tls *tls;
	const ProtobufCBinaryData *ak_public;
	int calls;
	int ok;
	char why[512];
};

static void worker_note(struct worker *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void worker_note(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	if (w->why[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(w->why, sizeof(w->why), fmt, ap);
	va_end(ap);
}

/* Quotes with a fresh nonce each time and verifies every quote. */
static void *quote_worker(void *arg)
{
	struct worker *w = arg;
	struct rpc_client_opts o = {.tls = w->tls, .timeout_ms = 60000};
	struct rpc_client *c = NULL;
	int r;

	r = rpc_client_dial(w->url, &aicert__v1__agent__descriptor, &o, &c);
	if (r < 0) {
		worker_note(w, "dial: %s", err_msg(r));
		return NULL;
	}
	for (int i = 0; i < w->calls; i++) {
		Aicert__V1__QuoteReply *q = NULL;
		uint8_t nonce[32];
		char why[512];

		if (getrandom(nonce, sizeof(nonce), 0) != sizeof(nonce))
			continue;
		r = quote_call(c, nonce, sizeof(nonce), PCRS_0_8_14, 0, &q);
		if (r < 0) {
			worker_note(w, "quote %d: %s", i, err_msg(r));
			continue;
		}
		if (verify_quote(q, nonce, sizeof(nonce), w->ak_public, why, sizeof(why)) == 0)
			w->ok++;
		else
			worker_note(w, "quote %d: %s", i, why);
		aicert__v1__quote_reply__free_unpacked(q, NULL);
	}
	rpc_client_free(c);
	return NULL;
}

static void concurrent_clients_get_valid_quotes(void **state)
{
	struct fx *f = *state;
	Aicert__V1__IdentityReply *id = identity(f->c);
	struct worker w[CONCURRENT_CLIENTS];
	pthread_t th[CONCURRENT_CLIENTS];
	uint64_t n0 = runtime_events(f->c);
	double t0 = now_ms();
	int total = 0;

	for (int i = 0; i < CONCURRENT_CLIENTS; i++) {
		w[i] = (struct worker){.url = f->agent.local_url,
				       .ak_public = &id->ak_public,
				       .calls = QUOTES_PER_CLIENT};
		assert_int_equal(pthread_create(&th[i], NULL, quote_worker, &w[i]), 0);
	}
	/* while they run, extend PCR 14 from here: every quote must still
	 * carry the values it signed */
	for (int i = 0; i < 50; i++) {
		char content[64];

		snprintf(content, sizeof(content), "input: concurrent %d", i);
		extend_ok(f->c, 14, content, NULL);
	}
	for (int i = 0; i < CONCURRENT_CLIENTS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		if (w[i].why[0])
			print_message("client %d: %s\n", i, w[i].why);
		total += w[i].ok;
	}
	print_message("%d clients x %d quotes, all verified: %d in %.0f ms\n", CONCURRENT_CLIENTS,
		      QUOTES_PER_CLIENT, total, now_ms() - t0);
	assert_int_equal(total, CONCURRENT_CLIENTS * QUOTES_PER_CLIENT);
	assert_int_equal(runtime_events(f->c), n0 + 50);
	assert_log_replays(f->c);
	aicert__v1__identity_reply__free_unpacked(id, NULL);
}

/* ---- agent_tls: the network listener ------------------------------------- */

static void tls_quote_and_read_methods_work_with_controller_cert(void **state)
{
	struct fx *f = *state;
	Aicert__V1__IdentityReply *local = identity(f->c), *net = identity(f->net);
	Aicert__V1__HealthReply *h = health(f->net);

	assert_string_equal(h->version, AICERT_VERSION);
	assert_int_equal(net->ak_public.len, local->ak_public.len);
	assert_memory_equal(net->ak_public.data, local->ak_public.data, local->ak_public.len);
	extend_ok(f->c, 14, "input: seen over TLS", NULL);
	quote_and_verify(f->net, &local->ak_public);
	assert_true(assert_log_replays(f->net) >= 1);
	aicert__v1__health_reply__free_unpacked(h, NULL);
	aicert__v1__identity_reply__free_unpacked(net, NULL);
	aicert__v1__identity_reply__free_unpacked(local, NULL);
}

static void tls_extend_is_permission_denied_and_pcr_unchanged(void **state)
{
	struct fx *f = *state;
	uint8_t before[24][32], after[24][32];
	uint64_t n0 = runtime_events(f->c);

	read_sha256(f->c, ALL_PCRS, before);
	assert_extend_status(f->net, 0, 14, EV_EVENT_TAG, "input: from the network", NULL,
			     RPC_PERMISSION_DENIED, NULL);
	assert_extend_status(f->net, 0, 8, EV_EVENT_TAG, "output: from the network", NULL,
			     RPC_PERMISSION_DENIED, NULL);
	read_sha256(f->c, ALL_PCRS, after);
	assert_memory_equal(before, after, sizeof(before));
	assert_int_equal(runtime_events(f->c), n0);
	/* the same call on the local socket extends */
	assert_int_equal(extend_ok(f->c, 14, "input: from the network", NULL), n0);
}

/* One call straight on nng over TLS, with or without a certificate of our
 * own (rpc_tls_config always loads one, so a client without one is built
 * here). Returns nng's result; *status gets the Response's status. */
static int raw_tls_call(struct fx *f, bool with_cert, const char *method, int timeout_ms,
			uint32_t *status)
{
	Aicert__V1__Request req = AICERT__V1__REQUEST__INIT;
	Aicert__V1__Response *resp = NULL;
	uint8_t buf[256], *cert = NULL, *key = NULL;
	size_t len, cert_len, key_len;
	nng_tls_config *cfg = NULL;
	nng_msg *msg = NULL;
	nng_dialer d;
	nng_socket s;
	int rv;

	req.method = (char *)method;
	req.request_id = random_id();
	len = aicert__v1__request__pack(&req, buf);
	assert_int_equal(nng_req0_open(&s), 0);
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, timeout_ms);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, timeout_ms);
	assert_int_equal(nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT), 0);
	assert_int_equal(nng_tls_config_ca_file(cfg, f->tls_file[AGENT_CA]), 0);
	assert_int_equal(nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED), 0);
	if (with_cert) {
		assert_ok(fileio_read_all(f->tls_file[CONTROLLER_CRT], 65536, &cert, &cert_len));
		assert_ok(fileio_read_all(f->tls_file[CONTROLLER_KEY], 65536, &key, &key_len));
		assert_int_equal(nng_tls_config_own_cert(cfg, (char *)cert, (char *)key, NULL), 0);
		free(cert);
		free(key);
	}
	assert_int_equal(nng_dialer_create(&d, s, f->tls_url), 0);
	assert_int_equal(nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg), 0);
	assert_int_equal(nng_dialer_start(d, NNG_FLAG_NONBLOCK), 0);
	rv = nng_send(s, buf, len, 0);
	if (rv == 0)
		rv = nng_recvmsg(s, &msg, 0);
	if (rv == 0) {
		assert_ok(rpc_unpack_strict(&aicert__v1__response__descriptor, nng_msg_body(msg),
					    nng_msg_len(msg), (ProtobufCMessage **)&resp));
		*status = resp->status;
		aicert__v1__response__free_unpacked(resp, NULL);
		nng_msg_free(msg);
	}
	nng_close(s);
	nng_tls_config_free(cfg);
	return rv;
}

/* What a refused client must not have changed, and that the agent still
 * serves a good client. */
struct untouched {
	uint8_t pcrs[24][32];
	uint64_t events;
};

static void snapshot(struct fx *f, struct untouched *u)
{
	read_sha256(f->c, ALL_PCRS, u->pcrs);
	u->events = runtime_events(f->c);
}

static void assert_untouched_and_serving(struct fx *f, const struct untouched *u)
{
	uint8_t pcrs[24][32];

	read_sha256(f->c, ALL_PCRS, pcrs);
	assert_memory_equal(pcrs, u->pcrs, sizeof(pcrs));
	assert_int_equal(runtime_events(f->c), u->events);
	quote_and_verify(f->net, NULL);
}

static void tls_client_without_certificate_reaches_no_handler(void **state)
{
	struct fx *f = *state;
	struct untouched u;
	uint32_t status = RPC_UNKNOWN;
	int rv;

	snapshot(f, &u);
	/* the same raw client with a certificate gets its answer... */
	assert_int_equal(raw_tls_call(f, true, "aicert.v1.Agent/Health", 30000, &status), 0);
	assert_int_equal(status, RPC_OK);
	/* ...without one, no answer at all, not even an error status */
	status = RPC_UNKNOWN;
	rv = raw_tls_call(f, false, "aicert.v1.Agent/Health", SHORT_TIMEOUT_MS, &status);
	print_message("client without a certificate: %s\n", nng_strerror(rv));
	assert_int_not_equal(rv, 0);
	rv = raw_tls_call(f, false, "aicert.v1.Agent/Extend", SHORT_TIMEOUT_MS, &status);
	assert_int_not_equal(rv, 0);
	assert_int_equal(status, RPC_UNKNOWN);
	assert_untouched_and_serving(f, &u);
}

/* A client with creds calls Health and Extend and gets no Response. */
static void assert_refused(struct fx *f, const struct rpc_tls *creds)
{
	struct rpc_client *c = dial(f->tls_url, creds, SHORT_TIMEOUT_MS);
	Aicert__V1__HealthReply *h = NULL;
	struct ext e;
	int r;

	r = agentc_health(c, &h);
	print_message("refused client: %s\n", err_msg(r));
	assert_true(r < 0);
	assert_null(h);
	/* rpc_client_call_raw returns 0 for any Response, whatever its status */
	r = extend_call(c, 0, 14, EV_EVENT_TAG, "input: rogue", 12, NULL, &e);
	assert_true(r < 0);
	rpc_client_free(c);
}

static void tls_client_from_another_ca_reaches_no_handler(void **state)
{
	struct fx *f = *state;
	struct rpc_tls rogue = {f->tls_file[ROGUE_CRT], f->tls_file[ROGUE_KEY],
				f->tls_file[AGENT_CA]};
	struct untouched u;

	snapshot(f, &u);
	assert_refused(f, &rogue);
	assert_untouched_and_serving(f, &u);
}

static void tls_controller_refuses_agent_from_untrusted_ca(void **state)
{
	struct fx *f = *state;
	/* a controller that expects agents of the controller CA */
	struct rpc_tls wrong = {f->tls_file[CONTROLLER_CRT], f->tls_file[CONTROLLER_KEY],
				f->tls_file[CONTROLLER_CA]};
	struct untouched u;

	snapshot(f, &u);
	assert_refused(f, &wrong);
	assert_untouched_and_serving(f, &u);
}

static void malformed_and_oversized_messages_over_tls(void **state)
{
	struct fx *f = *state;

	check_malformed_and_oversized(f->net, f->tls_url, &f->ctl);
}

/* ---- agent_lifecycle: restarts, resends, signals, boot log --------------- */

static void assert_same_runtime_log(const Aicert__V1__EventLogReply *a,
				    const Aicert__V1__EventLogReply *b)
{
	assert_int_equal(a->runtime_log.len, b->runtime_log.len);
	if (a->runtime_log.len)
		assert_memory_equal(a->runtime_log.data, b->runtime_log.data, a->runtime_log.len);
}

static void restart_keeps_ak_and_runtime_log(void **state)
{
	struct fx *f = *state;
	uint8_t name1[TPMKEY_NAME_MAX], name2[TPMKEY_NAME_MAX];
	Aicert__V1__EventLogReply *ev1, *ev2;
	size_t len1, len2;

	ak_name(f->c, name1, &len1);
	extend_ok(f->c, 14, "input: base model", NULL);
	extend_ok(f->c, 14, "input: dataset", NULL);
	extend_ok(f->c, 8, "output: weights", NULL);
	ev1 = event_log(f->c);
	assert_int_equal(agentproc_restart(&f->agent, &f->tpm, NULL), 0);
	ak_name(f->c, name2, &len2);
	assert_int_equal(len1, len2);
	assert_memory_equal(name1, name2, len1);
	ev2 = event_log(f->c);
	assert_same_runtime_log(ev1, ev2);
	assert_int_equal(assert_log_replays(f->c), 3);
	assert_int_equal(extend_ok(f->c, 14, "input: code", NULL), 3);
	assert_int_equal(assert_log_replays(f->c), 4);
	aicert__v1__event_log_reply__free_unpacked(ev1, NULL);
	aicert__v1__event_log_reply__free_unpacked(ev2, NULL);
}

static void sigkill_then_start_keeps_ak_and_runtime_log(void **state)
{
	struct fx *f = *state;
	uint8_t name1[TPMKEY_NAME_MAX], name2[TPMKEY_NAME_MAX];
	Aicert__V1__EventLogReply *ev1, *ev2;
	size_t len1, len2;

	ak_name(f->c, name1, &len1);
	extend_ok(f->c, 14, "input: base model", NULL);
	extend_ok(f->c, 8, "output: weights", NULL);
	ev1 = event_log(f->c);
	assert_int_equal(agentproc_kill(&f->agent), 0);
	assert_int_equal(agentproc_start(&f->agent, &f->tpm, NULL), 0);
	ak_name(f->c, name2, &len2);
	assert_int_equal(len1, len2);
	assert_memory_equal(name1, name2, len1);
	ev2 = event_log(f->c);
	assert_same_runtime_log(ev1, ev2);
	assert_int_equal(extend_ok(f->c, 14, "input: after the crash", NULL), 2);
	assert_int_equal(assert_log_replays(f->c), 3);
	aicert__v1__event_log_reply__free_unpacked(ev1, NULL);
	aicert__v1__event_log_reply__free_unpacked(ev2, NULL);
}

/* The log of the TPM's previous reset cycle, kept aside by the agent. */
static void assert_old_log_kept(struct fx *f, uint32_t reset_count)
{
	char path[PATH_MAX];
	struct stat st;

	int n = snprintf(path, sizeof(path), "%s/runtime-log.state.reset-%u", f->agent.state_dir,
			 reset_count);

	assert_true(n > 0 && n < PATH_MAX);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size > 0);
}

/* After a TPM reset: an empty log of the new reset cycle, the same AK, and
 * extends that count from record 0 and PCR value 0. */
static void assert_new_cycle(struct fx *f, uint32_t old_reset, const ProtobufCBinaryData *ak)
{
	static const uint8_t zeros[32];
	Aicert__V1__EventLogReply *ev = event_log(f->c);
	uint8_t want[32], got[32];

	assert_int_equal(ev->runtime_log.len, 0);
	assert_int_equal(ev->reset_count, old_reset + 1);
	aicert__v1__event_log_reply__free_unpacked(ev, NULL);
	quote_and_verify(f->c, ak);
	read_pcr(f->c, 14, got);
	assert_memory_equal(got, zeros, 32);
	extended(zeros, "input: after the reset", want);
	assert_int_equal(extend_ok(f->c, 14, "input: after the reset", got), 0);
	assert_memory_equal(got, want, 32);
	assert_int_equal(assert_log_replays(f->c), 1);
	assert_old_log_kept(f, old_reset);
}

static void tpm_reset_under_running_agent_starts_new_log_with_same_ak(void **state)
{
	struct fx *f = *state;
	Aicert__V1__IdentityReply *id1 = identity(f->c), *id2;
	Aicert__V1__HealthReply *h1 = health(f->c), *h2;

	extend_ok(f->c, 14, "input: before the reset", NULL);
	extend_ok(f->c, 8, "output: before the reset", NULL);
	assert_int_equal(harness_swtpm_restart(&f->tpm), 0);
	assert_new_cycle(f, h1->reset_count, &id1->ak_public);
	h2 = health(f->c);
	assert_int_equal(h2->reset_count, h1->reset_count + 1);
	assert_int_equal(h2->runtime_events, 1);
	id2 = identity(f->c);
	assert_int_equal(id2->ak_name.len, id1->ak_name.len);
	assert_memory_equal(id2->ak_name.data, id1->ak_name.data, id1->ak_name.len);
	aicert__v1__identity_reply__free_unpacked(id1, NULL);
	aicert__v1__identity_reply__free_unpacked(id2, NULL);
	aicert__v1__health_reply__free_unpacked(h1, NULL);
	aicert__v1__health_reply__free_unpacked(h2, NULL);
}

/* Health right after a TPM reset, before any other call, must not report
 * the records of the log that the reset ended.
 * KNOWN BUG, fails until agent_health() checks for a TPM reset (as Extend
 * and EventLog do) before it counts the runtime log's records. */
static void health_after_tpm_reset_counts_only_the_new_log(void **state)
{
	struct fx *f = *state;
	Aicert__V1__HealthReply *h;
	uint32_t reset1, reset2;
	uint64_t events;

	h = health(f->c);
	reset1 = h->reset_count;
	aicert__v1__health_reply__free_unpacked(h, NULL);
	extend_ok(f->c, 14, "input: before the reset", NULL);
	extend_ok(f->c, 8, "output: before the reset", NULL);
	assert_int_equal(harness_swtpm_restart(&f->tpm), 0);
	h = health(f->c);
	reset2 = h->reset_count;
	events = h->runtime_events;
	aicert__v1__health_reply__free_unpacked(h, NULL);
	assert_int_equal(reset2, reset1 + 1);
	if (events != 0)
		fail_msg("KNOWN BUG (agent/agent.c agent_health): Health reports %llu runtime "
			 "events of the log the TPM reset ended, with the new reset count",
			 (unsigned long long)events);
}

static void agent_restart_after_tpm_reset_starts_new_log_with_same_ak(void **state)
{
	struct fx *f = *state;
	Aicert__V1__IdentityReply *id1 = identity(f->c), *id2;
	Aicert__V1__HealthReply *h1 = health(f->c);

	extend_ok(f->c, 14, "input: before the reset", NULL);
	extend_ok(f->c, 8, "output: before the reset", NULL);
	assert_int_equal(agentproc_stop(&f->agent), 0);
	assert_int_equal(harness_swtpm_restart(&f->tpm), 0);
	assert_int_equal(agentproc_start(&f->agent, &f->tpm, NULL), 0);
	id2 = identity(f->c);
	assert_int_equal(id2->ak_name.len, id1->ak_name.len);
	assert_memory_equal(id2->ak_name.data, id1->ak_name.data, id1->ak_name.len);
	assert_new_cycle(f, h1->reset_count, &id1->ak_public);
	aicert__v1__identity_reply__free_unpacked(id1, NULL);
	aicert__v1__identity_reply__free_unpacked(id2, NULL);
	aicert__v1__health_reply__free_unpacked(h1, NULL);
}

static void assert_resend(struct rpc_client *c, uint64_t id, const char *content,
			  const struct ext *first)
{
	struct ext e;

	assert_extend_status(c, id, 14, EV_EVENT_TAG, content, NULL, RPC_OK, &e);
	assert_int_equal(e.recnum, first->recnum);
	assert_memory_equal(e.value, first->value, 32);
}

static void resent_extend_is_not_extended_twice_also_across_restart(void **state)
{
	struct fx *f = *state;
	uint64_t id_a = random_id(), id_b = random_id();
	struct ext a, b;
	uint8_t pcr[32];

	assert_extend_status(f->c, id_a, 14, EV_EVENT_TAG, "input: A", NULL, RPC_OK, &a);
	assert_extend_status(f->c, id_b, 14, EV_EVENT_TAG, "input: B", NULL, RPC_OK, &b);
	assert_int_equal(a.recnum, 0);
	assert_int_equal(b.recnum, 1);
	/* resent to the same agent: answered, not extended */
	assert_resend(f->c, id_a, "input: A", &a);
	assert_resend(f->c, id_b, "input: B", &b);
	read_pcr(f->c, 14, pcr);
	assert_memory_equal(pcr, b.value, 32);
	assert_int_equal(runtime_events(f->c), 2);
	/* and to the agent after a restart, from its persisted log: record A
	 * with PCR 14 as A left it */
	assert_int_equal(agentproc_restart(&f->agent, &f->tpm, NULL), 0);
	assert_resend(f->c, id_a, "input: A", &a);
	assert_resend(f->c, id_b, "input: B", &b);
	read_pcr(f->c, 14, pcr);
	assert_memory_equal(pcr, b.value, 32);
	assert_int_equal(runtime_events(f->c), 2);
	/* and after a crash */
	assert_int_equal(agentproc_kill(&f->agent), 0);
	assert_int_equal(agentproc_start(&f->agent, &f->tpm, NULL), 0);
	assert_resend(f->c, id_a, "input: A", &a);
	assert_int_equal(runtime_events(f->c), 2);
	/* a new request id is a new record */
	assert_int_equal(extend_ok(f->c, 14, "input: A", NULL), 2);
	assert_int_equal(assert_log_replays(f->c), 3);
}

/* Starting the agent on state it cannot trust fails, and says why. */
static void assert_start_refused(struct fx *f, const char *what)
{
	char log[8192];
	int status = agentproc_run(&f->agent, &f->tpm, NULL);

	assert_int_equal(agentproc_log(&f->agent, log, sizeof(log)), 0);
	print_message("status %d: %s", status, log);
	assert_true(status > 0 && status < 128);
	if (!strstr(log, what))
		fail_msg("expected '%s' in the agent's log", what);
}

static void damaged_runtime_log_stops_the_agent_from_starting(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX];
	uint8_t *buf = NULL;
	size_t len = 0;

	extend_ok(f->c, 14, "input: base model", NULL);
	assert_int_equal(agentproc_stop(&f->agent), 0);
	assert_true(snprintf(path, sizeof(path), "%s/runtime-log.state", f->agent.state_dir) <
		    PATH_MAX);
	assert_ok(fileio_read_all(path, 1u << 20, &buf, &len));
	assert_true(len > 8);
	/* cut short: never mistaken for an empty log */
	assert_int_equal(harness_write_file(path, buf, len - 3), 0);
	assert_start_refused(f, "runtime-log.state");
	/* restored, the agent starts and serves the log */
	assert_int_equal(harness_write_file(path, buf, len), 0);
	free(buf);
	assert_int_equal(agentproc_start(&f->agent, &f->tpm, NULL), 0);
	assert_int_equal(assert_log_replays(f->c), 1);
}

static void pcr_extended_behind_the_agents_back_stops_it_from_starting(void **state)
{
	struct fx *f = *state;
	char spec[128], quiet[4096];
	const char *argv[] = {"tpm2_pcrextend", "-T", f->tpm.tcti, spec, NULL};

	extend_ok(f->c, 14, "input: base model", NULL);
	assert_int_equal(agentproc_stop(&f->agent), 0);
	snprintf(spec, sizeof(spec), "14:sha256=%064d", 1);
	assert_int_equal(harness_run_capture(argv, quiet, sizeof(quiet), NULL), 0);
	assert_start_refused(f, "does not replay");
}

/* The agent persists a record before it extends: a crash in between leaves
 * a last record the PCRs never saw, which the next start drops. Made here
 * by appending a record to the state file of a stopped agent. */
static void log_record_whose_extend_never_happened_is_dropped_at_start(void **state)
{
	struct fx *f = *state;
	Aicert__V1__AgentLogState *st = NULL, orig;
	struct cel_log log = {0};
	char path[PATH_MAX];
	uint8_t *buf = NULL, *cel = NULL, *out, sha[32], pcr[32];
	uint64_t ids[2] = {0, random_id()};
	size_t len = 0, cel_len = 0;
	struct ext a, e;

	assert_extend_status(f->c, 0, 14, EV_EVENT_TAG, "input: A", NULL, RPC_OK, &a);
	assert_int_equal(agentproc_stop(&f->agent), 0);
	assert_true(snprintf(path, sizeof(path), "%s/runtime-log.state", f->agent.state_dir) <
		    PATH_MAX);
	assert_ok(fileio_read_all(path, 1u << 20, &buf, &len));
	assert_ok(rpc_unpack_strict(&aicert__v1__agent_log_state__descriptor, buf, len,
				    (ProtobufCMessage **)&st));
	assert_int_equal(st->n_request_ids, 1);
	assert_ok(cel_decode(st->cel.data, st->cel.len, &log));
	SHA256((const uint8_t *)"input: B", 8, sha);
	assert_ok(cel_append(&log, 14, sha, EV_EVENT_TAG, (const uint8_t *)"input: B", 8));
	assert_ok(cel_encode(&log, &cel, &cel_len));
	ids[0] = st->request_ids[0];
	orig = *st;
	st->cel.data = cel;
	st->cel.len = cel_len;
	st->request_ids = ids;
	st->n_request_ids = 2;
	out = malloc(aicert__v1__agent_log_state__get_packed_size(st));
	assert_non_null(out);
	assert_int_equal(harness_write_file(path, out, aicert__v1__agent_log_state__pack(st, out)),
			 0);
	/* the restart drops B: one record, PCR 14 as A left it */
	assert_int_equal(agentproc_start(&f->agent, &f->tpm, NULL), 0);
	assert_int_equal(assert_log_replays(f->c), 1);
	read_pcr(f->c, 14, pcr);
	assert_memory_equal(pcr, a.value, 32);
	/* and B's request id, resent, is extended now, as record 1 */
	assert_ok(extend_call(f->c, ids[1], 14, EV_EVENT_TAG, "input: B", 8, NULL, &e));
	assert_int_equal(e.status, RPC_OK);
	assert_int_equal(e.recnum, 1);
	free(e.message);
	assert_int_equal(assert_log_replays(f->c), 2);
	free(out);
	free(cel);
	cel_clear(&log);
	/* the unpacked message's own buffers, swapped above, go back for freeing */
	*st = orig;
	aicert__v1__agent_log_state__free_unpacked(st, NULL);
	free(buf);
}

struct looper {
	struct rpc_client *c;
	atomic_int *stop;
	int ok;
	int failed;
};

/* Quotes until told to stop or until a call fails (the agent went away). */
static void *loop_worker(void *arg)
{
	struct looper *l = arg;

	while (!atomic_load(l->stop)) {
		Aicert__V1__QuoteReply *q = NULL;
		uint8_t nonce[16] = {1};

		if (quote_call(l->c, nonce, sizeof(nonce), PCRS_0_8_14, 0, &q) < 0) {
			l->failed++;
			break;
		}
		aicert__v1__quote_reply__free_unpacked(q, NULL);
		l->ok++;
	}
	return NULL;
}

static void sigterm_with_clients_connected_exits_zero(void **state)
{
	struct fx *f = *state;
	struct looper l[4];
	pthread_t th[4];
	atomic_int stop = 0;
	struct rpc_client *idle = dial(f->agent.local_url, NULL, 3000);
	double t0;
	int busy = 0;

	aicert__v1__health_reply__free_unpacked(health(idle), NULL);
	for (int i = 0; i < 4; i++) {
		l[i] = (struct looper){.c = dial(f->agent.local_url, NULL, 3000), .stop = &stop};
		assert_int_equal(pthread_create(&th[i], NULL, loop_worker, &l[i]), 0);
	}
	for (int i = 0; i < 500 && busy < 4; i++) {
		usleep(10 * 1000);
		busy = 0;
		for (int j = 0; j < 4; j++)
			busy += l[j].ok > 0;
	}
	t0 = now_ms();
	assert_int_equal(agentproc_stop(&f->agent), 0);
	print_message("SIGTERM with 5 clients connected, 4 of them busy: exit 0 after %.0f ms\n",
		      now_ms() - t0);
	atomic_store(&stop, 1);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_true(l[i].ok > 0);
		rpc_client_free(l[i].c);
	}
	rpc_client_free(idle);
}

/* SIGTERM right after the agent answered: the worker that sent the reply may
 * still be inside nng when the listener closes. Repeated, because it is a
 * race.
 * KNOWN BUG, fails (in most runs) until rpc_listener_free() stops its workers
 * before nng_close(): nng 1.5.2 panics ("pthread_mutex_lock: Invalid
 * argument") when nng_close() races a worker's nng_ctx_send(). The same abort
 * can fail any other test's clean-SIGTERM check now and then. */
static void sigterm_right_after_a_reply_exits_zero_every_time(void **state)
{
	struct fx *f = *state;
	int cycles = 0;

	for (; cycles < SIGTERM_CYCLES; cycles++) {
		aicert__v1__health_reply__free_unpacked(health(f->c), NULL);
		if (agentproc_stop(&f->agent) < 0)
			break;
		assert_int_equal(agentproc_start(&f->agent, &f->tpm, NULL), 0);
	}
	if (cycles < SIGTERM_CYCLES)
		fail_msg("KNOWN BUG (shared/rpc_server.c rpc_listener_free): the agent aborted "
			 "on SIGTERM in cycle %d of %d (nng panic: nng_close raced a worker's "
			 "nng_ctx_send)",
			 cycles + 1, SIGTERM_CYCLES);
}

static void boot_log_and_ak_certificate_files_are_served_byte_for_byte(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX], crt[PATH_MAX];
	const char *with[] = {"--boot-log", path, NULL};
	const char *missing[] = {"--boot-log", "/nonexistent/binary_bios_measurements", NULL};
	Aicert__V1__EventLogReply *ev;
	Aicert__V1__IdentityReply *id;
	uint8_t boot[5000], cert[700];

	random_bytes(boot, sizeof(boot));
	random_bytes(cert, sizeof(cert));
	scratch(f, "binary_bios_measurements", path);
	assert_int_equal(harness_write_file(path, boot, sizeof(boot)), 0);
	/* the AK certificate that enrollment installs, read at start */
	assert_true(snprintf(crt, sizeof(crt), "%s/ak.crt", f->agent.state_dir) < PATH_MAX);
	assert_int_equal(harness_write_file(crt, cert, sizeof(cert)), 0);
	assert_int_equal(agentproc_restart(&f->agent, &f->tpm, with), 0);
	ev = event_log(f->c);
	assert_int_equal(ev->boot_log.len, sizeof(boot));
	assert_memory_equal(ev->boot_log.data, boot, sizeof(boot));
	aicert__v1__event_log_reply__free_unpacked(ev, NULL);
	id = identity(f->c);
	assert_int_equal(id->ak_cert_der.len, sizeof(cert));
	assert_memory_equal(id->ak_cert_der.data, cert, sizeof(cert));
	aicert__v1__identity_reply__free_unpacked(id, NULL);
	/* a platform without one (the local runner): empty */
	assert_int_equal(agentproc_restart(&f->agent, &f->tpm, missing), 0);
	ev = event_log(f->c);
	assert_int_equal(ev->boot_log.len, 0);
	aicert__v1__event_log_reply__free_unpacked(ev, NULL);
}

static void sighup_does_not_stop_the_agent(void **state)
{
	struct fx *f = *state;

	assert_int_equal(kill(f->agent.pid, SIGHUP), 0);
	usleep(100 * 1000);
	quote_and_verify(f->c, NULL);
	assert_int_equal(extend_ok(f->c, 14, "input: after SIGHUP", NULL), 0);
}

/* ---- agent_config: YAML file and flags ----------------------------------- */

static void write_config(struct fx *f, const char *text, char path[PATH_MAX])
{
	scratch(f, "agent.yaml", path);
	assert_int_equal(harness_write_file(path, text, strlen(text)), 0);
}

/* The agent refuses the config text: it exits non-zero, naming where. */
static void assert_config_refused(struct fx *f, const char *text, const char *where,
				  const char *what)
{
	char path[PATH_MAX], pos[PATH_MAX + 32], log[8192];
	const char *args[] = {"--config", path, NULL};
	int status;

	write_config(f, text, path);
	status = agentproc_run(&f->agent, &f->tpm, args);
	assert_int_equal(agentproc_log(&f->agent, log, sizeof(log)), 0);
	print_message("status %d: %s", status, log);
	assert_true(status > 0 && status < 128);
	snprintf(pos, sizeof(pos), "%s:%s:", path, where);
	if (!strstr(log, pos) || !strstr(log, what))
		fail_msg("expected '%s' and '%s' in the agent's log", pos, what);
}

static void config_with_unknown_or_bad_key_is_refused_with_position(void **state)
{
	struct fx *f = *state;

	assert_config_refused(f,
			      "tcti: \"swtpm:host=127.0.0.1,port=9\"\n"
			      "state_dir: /nonexistent\n"
			      "listen_port: 7700\n",
			      "3:1", "listen_port");
	assert_config_refused(f, "tls:\n  cert: a.crt\n  pem: b.pem\n", "3:3", "pem");
	assert_config_refused(f, "workers: many\n", "1:10", "workers");
	assert_config_refused(f, "extend_pcrs: [8, 0]\n", "1:18", "extend_pcrs");
}

static void flags_override_config_file(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX], boot[PATH_MAX], text[PATH_MAX + 256];
	const char *args[] = {"--config", path, "--ak-alg", "ecc", NULL};
	Aicert__V1__HealthReply *h;
	Aicert__V1__EventLogReply *ev;

	scratch(f, "boot.bin", boot);
	assert_int_equal(harness_write_file(boot, "boot", 4), 0);
	/* tcti, state_dir, local and boot_log are overridden by the harness's
	 * flags, ak_alg by --ak-alg; extend_pcrs has no flag and holds */
	snprintf(text, sizeof(text),
		 "tcti: \"swtpm:host=127.0.0.1,port=9\"\n"
		 "state_dir: /nonexistent/aicert-agent\n"
		 "local: ipc:///nonexistent/agent.sock\n"
		 "boot_log: %s\n"
		 "ak_alg: rsa\n"
		 "extend_pcrs: [9]\n"
		 "workers: 2\n",
		 boot);
	write_config(f, text, path);
	assert_int_equal(agentproc_start(&f->agent, &f->tpm, args), 0);
	f->c = dial(f->agent.local_url, NULL, 30000);
	h = health(f->c);
	assert_int_equal(h->ak_alg, AICERT__V1__KEY_ALG__KEY_ALG_ECC);
	aicert__v1__health_reply__free_unpacked(h, NULL);
	ev = event_log(f->c);
	assert_int_equal(ev->boot_log.len, 0);
	aicert__v1__event_log_reply__free_unpacked(ev, NULL);
	assert_int_equal(extend_ok(f->c, 9, "PCR 9 from the file", NULL), 0);
	assert_extend_status(f->c, 0, 14, EV_EVENT_TAG, "PCR 14 is not in the file", NULL,
			     RPC_PERMISSION_DENIED, NULL);
	assert_int_equal(assert_log_replays(f->c), 1);
}

static void sample_config_from_deploy_loads(void **state)
{
	struct fx *f = *state;
	const char *args[] = {"--config", AICERT_SOURCE_DIR "/deploy/systemd/agent.yaml", NULL};

	assert_int_equal(agentproc_start(&f->agent, &f->tpm, args), 0);
	f->c = dial(f->agent.local_url, NULL, 30000);
	quote_and_verify(f->c, NULL);
}

static void rsa_ak_from_flag_quotes_verify(void **state)
{
	struct fx *f = *state;
	const char *args[] = {"--ak-alg", "rsa", NULL};
	Aicert__V1__IdentityReply *id;
	TPMT_PUBLIC ak;

	assert_int_equal(agentproc_start(&f->agent, &f->tpm, args), 0);
	f->c = dial(f->agent.local_url, NULL, 30000);
	id = identity(f->c);
	assert_int_equal(id->ak_alg, AICERT__V1__KEY_ALG__KEY_ALG_RSA);
	assert_ok(tpmkey_parse_public(id->ak_public.data, id->ak_public.len, &ak));
	assert_int_equal(ak.type, TPM2_ALG_RSA);
	assert_ok(tpmkey_check_ak_attributes(&ak));
	quote_and_verify(f->c, &id->ak_public);
	aicert__v1__identity_reply__free_unpacked(id, NULL);
}

static void agent_without_a_tpm_exits_nonzero(void **state)
{
	struct fx *f = *state;
	char tcti[64], log[8192];
	const char *args[] = {"--tcti", tcti, NULL};
	int port = agentproc_free_port(), status;

	assert_true(port > 0);
	snprintf(tcti, sizeof(tcti), "swtpm:host=127.0.0.1,port=%d", port);
	status = agentproc_run(&f->agent, &f->tpm, args);
	assert_int_equal(agentproc_log(&f->agent, log, sizeof(log)), 0);
	print_message("status %d: %s", status, log);
	assert_true(status > 0 && status < 128);
}

static void agent_starts_an_uninitialised_tpm(void **state)
{
	struct fx *f = *state;

	/* a TPM that firmware never started: the agent sends TPM2_Startup */
	harness_swtpm_stop(&f->tpm);
	assert_int_equal(harness_swtpm_start_uninitialised(&f->tpm), 0);
	assert_int_equal(agentproc_start(&f->agent, &f->tpm, NULL), 0);
	f->c = dial(f->agent.local_url, NULL, 30000);
	quote_and_verify(f->c, NULL);
	assert_int_equal(extend_ok(f->c, 14, "input: on a TPM the agent started", NULL), 0);
	assert_int_equal(assert_log_replays(f->c), 1);
}

/* ---- main ----------------------------------------------------------------- */

#define T(name)         cmocka_unit_test(name)
#define TF(name, setup) cmocka_unit_test_setup_teardown(name, setup, fx_teardown)

int main(int argc, char **argv)
{
	static const struct CMUnitTest methods[] = {
		T(health_reports_version_tpm_and_counters),
		T(local_socket_is_for_owner_and_group_only),
		T(identity_ek_certs_match_ek_and_ak_is_an_attestation_key),
		T(activate_credential_returns_secret_made_for_ak_name),
		T(activate_credential_for_another_name_fails),
		T(extend_counts_records_and_chains_pcr_value),
		T(extend_refuses_bad_digest_pcr_and_event_type),
		T(quote_verifies_and_binds_nonce_and_pcrs),
		T(quote_refuses_bad_nonce_and_selection),
		T(read_pcrs_reads_sha256_and_sha1_banks_past_eight),
		T(event_log_replays_to_pcrs_and_boot_log_is_empty),
		T(cli_quote_accepted_by_tpm2_checkquote_and_wrong_nonce_rejected),
		T(malformed_and_oversized_messages_over_ipc),
		T(concurrent_clients_get_valid_quotes),
	};
	static const struct CMUnitTest tls[] = {
		T(tls_quote_and_read_methods_work_with_controller_cert),
		T(tls_extend_is_permission_denied_and_pcr_unchanged),
		T(tls_client_without_certificate_reaches_no_handler),
		T(tls_client_from_another_ca_reaches_no_handler),
		T(tls_controller_refuses_agent_from_untrusted_ca),
		T(malformed_and_oversized_messages_over_tls),
	};
	static const struct CMUnitTest lifecycle[] = {
		TF(restart_keeps_ak_and_runtime_log, fx_setup),
		TF(sigkill_then_start_keeps_ak_and_runtime_log, fx_setup),
		TF(tpm_reset_under_running_agent_starts_new_log_with_same_ak, fx_setup),
		TF(health_after_tpm_reset_counts_only_the_new_log, fx_setup),
		TF(agent_restart_after_tpm_reset_starts_new_log_with_same_ak, fx_setup),
		TF(resent_extend_is_not_extended_twice_also_across_restart, fx_setup),
		TF(damaged_runtime_log_stops_the_agent_from_starting, fx_setup),
		TF(pcr_extended_behind_the_agents_back_stops_it_from_starting, fx_setup),
		TF(log_record_whose_extend_never_happened_is_dropped_at_start, fx_setup),
		TF(sigterm_with_clients_connected_exits_zero, fx_setup),
		TF(sigterm_right_after_a_reply_exits_zero_every_time, fx_setup),
		TF(boot_log_and_ak_certificate_files_are_served_byte_for_byte, fx_setup),
		TF(sighup_does_not_stop_the_agent, fx_setup),
	};
	static const struct CMUnitTest config[] = {
		TF(config_with_unknown_or_bad_key_is_refused_with_position, fx_setup_tpm_only),
		TF(flags_override_config_file, fx_setup_tpm_only),
		TF(sample_config_from_deploy_loads, fx_setup_tpm_only),
		TF(rsa_ak_from_flag_quotes_verify, fx_setup_tpm_only),
		TF(agent_without_a_tpm_exits_nonzero, fx_setup_tpm_only),
		TF(agent_starts_an_uninitialised_tpm, fx_setup_tpm_only),
	};
	static const struct {
		const char *name;
		const struct CMUnitTest *tests;
		size_t n;
		CMFixtureFunction setup, teardown;
	} groups[] = {
		{"agent_methods", methods, sizeof(methods) / sizeof(methods[0]), fx_setup,
		 fx_teardown},
		{"agent_tls", tls, sizeof(tls) / sizeof(tls[0]), fx_setup_tls, fx_teardown},
		{"agent_lifecycle", lifecycle, sizeof(lifecycle) / sizeof(lifecycle[0]), NULL,
		 NULL},
		{"agent_config", config, sizeof(config) / sizeof(config[0]), NULL, NULL},
	};
	int failed = 0;

	/* A peer that drops a connection must not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		bool run = argc < 2;

		for (int i = 1; i < argc; i++)
			run |= strcmp(argv[i], groups[g].name) == 0;
		if (run)
			failed += _cmocka_run_group_tests(groups[g].name, groups[g].tests,
							  groups[g].n, groups[g].setup,
							  groups[g].teardown);
	}
	return failed;
}
