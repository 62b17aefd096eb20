/* agent_tls: the network listener of one agent, with mutual TLS, on one TPM
 * for the whole group: what a controller may call, Extend refused over the
 * network, clients without a certificate or from another CA, and malformed
 * and oversized messages over TLS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>

#include "agentc.h"
#include "aicert.pb-c.h"
#include "err.h"
#include "fileio.h"
#include "rpc.h"

#include "fixture.h"

#define SHORT_TIMEOUT_MS 1000u

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

/* A client's TLS configuration for the agent's listener, with or without
 * the controller's certificate. */
static nng_tls_config *raw_tls_config(struct fx *f, bool with_cert)
{
	nng_tls_config *cfg = NULL;
	uint8_t *cert = NULL, *key = NULL;
	size_t cert_len, key_len;

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
	return cfg;
}

/* One call straight on nng over TLS, with or without a certificate of our
 * own (rpc_tls_config always loads one, so a client without one is built
 * here). Returns nng's result; *status gets the Response's status. */
static int raw_tls_call(struct fx *f, bool with_cert, const char *method, int timeout_ms,
			uint32_t *status)
{
	Aicert__V1__Request req = AICERT__V1__REQUEST__INIT;
	Aicert__V1__Response *resp = NULL;
	uint8_t buf[256];
	size_t len;
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
	cfg = raw_tls_config(f, with_cert);
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

static const struct CMUnitTest tests[] = {
	T(tls_quote_and_read_methods_work_with_controller_cert),
	T(tls_extend_is_permission_denied_and_pcr_unchanged),
	T(tls_client_without_certificate_reaches_no_handler),
	T(tls_client_from_another_ca_reaches_no_handler),
	T(tls_controller_refuses_agent_from_untrusted_ca),
	T(malformed_and_oversized_messages_over_tls),
};

const struct agent_group tls_group = {
	"agent_tls", tests, sizeof(tests) / sizeof(tests[0]), fx_setup_tls, fx_teardown,
};
