#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "aicert.pb-c.h"
#include "agent.h"
#include "cel.h"
#include "config.h"
#include "err.h"
#include "events.h"
#include "fileio.h"
#include "log.h"
#include "rpc.h"
#include "rtlog.h"
#include "tpm.h"

#define EV_NO_ACTION       0x00000003u
#define AGENT_MAX_BANKS    TPM_MAX_BANKS
#define AGENT_MAX_IDENTITY (64u << 10)

struct agent {
	Aicert__V1__Agent_Service service; /* first: handlers cast back */
	const struct agent_config *cfg;
	struct tpm *tpm;
	struct rtlog *log;
	pthread_mutex_t tpm_lock;
	struct rpc_server *srv;
	struct timespec started;
	char manufacturer[5];
	/* Identity never changes while the agent runs: built once. */
	uint8_t *identity;
	size_t identity_len;
	uint8_t *ak_public; /* TPMT_PUBLIC of the AK, sent with every quote */
	size_t ak_public_len;
};

static struct agent *agent_of(Aicert__V1__Agent_Service *svc)
{
	return (struct agent *)svc;
}

/* Takes the TPM lock within the call's deadline. */
static int agent_lock(struct agent *a, struct rpc_call *call)
{
	int64_t left = rpc_call_remaining_ms(call);
	struct timespec ts;

	if (left <= 0)
		return err_set(AICERT_ERR_TIMEOUT, "deadline passed waiting for the TPM");
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += left / 1000;
	ts.tv_nsec += (left % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	if (pthread_mutex_timedlock(&a->tpm_lock, &ts) != 0)
		return err_set(AICERT_ERR_TIMEOUT, "deadline passed waiting for the TPM");
	return 0;
}

static void agent_unlock(struct agent *a)
{
	pthread_mutex_unlock(&a->tpm_lock);
}

#define FAIL(call, closure, r)                                                                     \
	do {                                                                                       \
		rpc_call_fail_err((call), (r));                                                    \
		(closure)(NULL, (call));                                                           \
	} while (0)

/* ---- Health ------------------------------------------------------------- */

static void agent_health(Aicert__V1__Agent_Service *svc, const Aicert__V1__HealthRequest *in,
			 Aicert__V1__HealthReply_Closure closure, void *data)
{
	Aicert__V1__HealthReply out = AICERT__V1__HEALTH_REPLY__INIT;
	struct agent *a = agent_of(svc);
	struct timespec now;
	int r;

	r = agent_lock(a, data);
	if (r == 0) {
		r = rtlog_check_reset(a->log, a->tpm);
		if (r == 0)
			r = tpm_clock(a->tpm, &out.reset_count, &out.restart_count);
		out.runtime_events = rtlog_count(a->log);
		agent_unlock(a);
	}
	if (r < 0) {
		FAIL(data, closure, r);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	out.version = AICERT_VERSION;
	out.tpm_manufacturer = a->manufacturer;
	out.ak_alg = (Aicert__V1__KeyAlg)tpm_ak_alg(a->tpm);
	out.uptime_ms = (uint64_t)((now.tv_sec - a->started.tv_sec) * 1000 +
				   (now.tv_nsec - a->started.tv_nsec) / 1000000);
	closure(&out, data);
}

/* ---- Identity ----------------------------------------------------------- */

static int agent_build_identity(struct agent *a)
{
	Aicert__V1__IdentityReply out = AICERT__V1__IDENTITY_REPLY__INIT;
	Aicert__V1__EkCertificate *certs = NULL, **cert_ptrs = NULL;
	struct tpm_ek_cert *ek = NULL;
	uint8_t *ak_cert = NULL;
	size_t n_ek = 0, ak_cert_len = 0;
	char *ak_cert_path = NULL;
	int r;

	r = tpm_ek_public(a->tpm, &out.ek_public.data, &out.ek_public.len);
	if (r == 0)
		r = tpm_ak_public(a->tpm, &out.ak_public.data, &out.ak_public.len,
				  &out.ak_name.data, &out.ak_name.len);
	if (r == 0)
		r = tpm_ek_certs(a->tpm, &ek, &n_ek);
	if (r < 0)
		goto out;
	certs = calloc(n_ek + 1, sizeof(*certs));
	cert_ptrs = calloc(n_ek + 1, sizeof(*cert_ptrs));
	if (!certs || !cert_ptrs) {
		r = AICERT_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_ek; i++) {
		aicert__v1__ek_certificate__init(&certs[i]);
		certs[i].nv_index = ek[i].nv_index;
		certs[i].der.data = ek[i].der;
		certs[i].der.len = ek[i].der_len;
		cert_ptrs[i] = &certs[i];
	}
	out.ek_certs = cert_ptrs;
	out.n_ek_certs = n_ek;
	out.ek_alg = (Aicert__V1__KeyAlg)tpm_ek_alg(a->tpm);
	out.ak_alg = (Aicert__V1__KeyAlg)tpm_ak_alg(a->tpm);
	/* The AK certificate from enrollment, when one was installed. */
	if (asprintf(&ak_cert_path, "%s/ak.crt", a->cfg->state_dir) < 0) {
		r = AICERT_ERR_NOMEM;
		goto out;
	}
	if (fileio_read_all(ak_cert_path, 64u << 10, &ak_cert, &ak_cert_len) == 0) {
		out.ak_cert_der.data = ak_cert;
		out.ak_cert_der.len = ak_cert_len;
	}
	a->identity_len = aicert__v1__identity_reply__get_packed_size(&out);
	a->identity = malloc(a->identity_len);
	if (!a->identity) {
		r = AICERT_ERR_NOMEM;
		goto out;
	}
	aicert__v1__identity_reply__pack(&out, a->identity);
out:
	free(ak_cert_path);
	free(ak_cert);
	free(certs);
	free(cert_ptrs);
	tpm_ek_certs_free(ek, n_ek);
	free(out.ek_public.data);
	free(out.ak_public.data);
	free(out.ak_name.data);
	return r;
}

static void agent_identity(Aicert__V1__Agent_Service *svc, const Aicert__V1__IdentityRequest *in,
			   Aicert__V1__IdentityReply_Closure closure, void *data)
{
	struct agent *a = agent_of(svc);
	Aicert__V1__IdentityReply *out;

	out = aicert__v1__identity_reply__unpack(NULL, a->identity_len, a->identity);
	if (!out) {
		FAIL(data, closure, AICERT_ERR_NOMEM);
		return;
	}
	closure(out, data);
	aicert__v1__identity_reply__free_unpacked(out, NULL);
}

/* ---- ActivateCredential ------------------------------------------------- */

static void agent_activate(Aicert__V1__Agent_Service *svc,
			   const Aicert__V1__ActivateCredentialRequest *in,
			   Aicert__V1__ActivateCredentialReply_Closure closure, void *data)
{
	Aicert__V1__ActivateCredentialReply out = AICERT__V1__ACTIVATE_CREDENTIAL_REPLY__INIT;
	struct agent *a = agent_of(svc);
	uint8_t *secret = NULL;
	size_t secret_len = 0;
	int r;

	r = agent_lock(a, data);
	if (r == 0) {
		r = tpm_activate_credential(a->tpm, in->credential_blob.data,
					    in->credential_blob.len, in->encrypted_secret.data,
					    in->encrypted_secret.len, &secret, &secret_len);
		agent_unlock(a);
	}
	if (r < 0) {
		FAIL(data, closure, r);
		return;
	}
	out.secret.data = secret;
	out.secret.len = secret_len;
	closure(&out, data);
	OPENSSL_cleanse(secret, secret_len);
	free(secret);
}

/* ---- Extend --------------------------------------------------------------- */

static int agent_check_extend(struct agent *a, const Aicert__V1__ExtendRequest *in)
{
	uint8_t digest[32];

	if (in->pcr >= TPM_PCR_COUNT || !(a->cfg->extend_pcrs >> in->pcr & 1))
		return err_set(AICERT_ERR_PERMISSION, "PCR %u may not be extended by clients",
			       in->pcr);
	if (in->sha256.len != 32)
		return err_set(AICERT_ERR_INVALID, "sha256: %zu bytes, expected 32",
			       in->sha256.len);
	if (in->content.len > CEL_MAX_CONTENT)
		return err_set(AICERT_ERR_TOO_BIG, "content: %zu bytes, at most %u allowed",
			       in->content.len, CEL_MAX_CONTENT);
	if (in->event_type == EV_NO_ACTION)
		return err_set(AICERT_ERR_INVALID, "event_type: EV_NO_ACTION is never extended");
	/* The controller binding is the agent's own, at start: never a
	 * client's, whatever extend_pcrs says. */
	if (in->pcr == AICERT_PCR_SESSION || in->event_type == AICERT_EV_CONTROLLER)
		return err_set(AICERT_ERR_PERMISSION,
			       "PCR %u and controller events are the agent's own (its "
			       "--controller-identity)",
			       AICERT_PCR_SESSION);
	SHA256(in->content.data, in->content.len, digest);
	if (CRYPTO_memcmp(digest, in->sha256.data, 32) != 0)
		return err_set(AICERT_ERR_INVALID,
			       "sha256 is not the SHA-256 of content: every runtime event is "
			       "bound to the digest it extends");
	return 0;
}

static void agent_extend(Aicert__V1__Agent_Service *svc, const Aicert__V1__ExtendRequest *in,
			 Aicert__V1__ExtendReply_Closure closure, void *data)
{
	Aicert__V1__ExtendReply out = AICERT__V1__EXTEND_REPLY__INIT;
	struct agent *a = agent_of(svc);
	uint8_t value[32];
	int r;

	/* Defence in depth: the RPC layer already refuses Extend off the
	 * local socket. */
	if (!rpc_call_is_local(data)) {
		FAIL(data, closure,
		     err_set(AICERT_ERR_PERMISSION, "Extend is served on the local socket only"));
		return;
	}
	r = agent_check_extend(a, in);
	if (r == 0)
		r = agent_lock(a, data);
	if (r == 0) {
		r = rtlog_extend(a->log, a->tpm, rpc_call_request_id(data), in->pcr,
				 in->sha256.data, in->event_type, in->content.data, in->content.len,
				 &out.record_number, value);
		agent_unlock(a);
	}
	if (r < 0) {
		FAIL(data, closure, r);
		return;
	}
	out.pcr_value.data = value;
	out.pcr_value.len = sizeof(value);
	closure(&out, data);
}

/* ---- Quote and ReadPcrs ------------------------------------------------- */

static int agent_banks(Aicert__V1__PcrBank *const *in, size_t n, struct tpm_bank *banks)
{
	if (n == 0)
		return err_set(AICERT_ERR_INVALID, "banks: at least one PCR bank is needed");
	if (n > AGENT_MAX_BANKS)
		return err_set(AICERT_ERR_TOO_BIG, "banks: %zu, at most %d", n, AGENT_MAX_BANKS);
	for (size_t i = 0; i < n; i++) {
		uint32_t alg = in[i]->hash_alg;

		if (alg != TPM_ALG_SHA1_ID && alg != TPM_ALG_SHA256_ID &&
		    alg != TPM_ALG_SHA384_ID && alg != TPM_ALG_SHA512_ID)
			return err_set(AICERT_ERR_INVALID, "banks[%zu]: unknown hash 0x%04x", i,
				       alg);
		banks[i] = (struct tpm_bank){.hash_alg = (uint16_t)alg};
		for (size_t j = 0; j < i; j++)
			if (banks[j].hash_alg == alg)
				return err_set(AICERT_ERR_INVALID, "banks[%zu]: bank 0x%04x twice",
					       i, alg);
		if (in[i]->n_pcrs == 0 || in[i]->n_pcrs > TPM_PCR_COUNT)
			return err_set(AICERT_ERR_INVALID, "banks[%zu]: 1 to 24 PCRs", i);
		for (size_t j = 0; j < in[i]->n_pcrs; j++) {
			uint32_t p = in[i]->pcrs[j];

			if (p >= TPM_PCR_COUNT || (banks[i].mask >> p & 1))
				return err_set(AICERT_ERR_INVALID,
					       "banks[%zu]: PCR %u out of range or repeated", i, p);
			banks[i].mask |= 1u << p;
		}
	}
	return 0;
}

/* The reply's PcrBankValues point into vals; storage is in st. */
struct agent_pcr_out {
	Aicert__V1__PcrBankValues banks[AGENT_MAX_BANKS];
	Aicert__V1__PcrBankValues *bank_ptrs[AGENT_MAX_BANKS];
	Aicert__V1__PcrValue values[AGENT_MAX_BANKS][TPM_PCR_COUNT];
	Aicert__V1__PcrValue *value_ptrs[AGENT_MAX_BANKS][TPM_PCR_COUNT];
};

static void agent_pcr_out(struct agent_pcr_out *st, struct tpm_bank_values *vals, size_t n)
{
	for (size_t b = 0; b < n; b++) {
		size_t k = 0;

		aicert__v1__pcr_bank_values__init(&st->banks[b]);
		st->banks[b].hash_alg = vals[b].hash_alg;
		for (unsigned i = 0; i < TPM_PCR_COUNT; i++) {
			if (!(vals[b].mask >> i & 1))
				continue;
			aicert__v1__pcr_value__init(&st->values[b][k]);
			st->values[b][k].pcr = i;
			st->values[b][k].digest.data = vals[b].digest[i];
			st->values[b][k].digest.len = vals[b].digest_len;
			st->value_ptrs[b][k] = &st->values[b][k];
			k++;
		}
		st->banks[b].values = st->value_ptrs[b];
		st->banks[b].n_values = k;
		st->bank_ptrs[b] = &st->banks[b];
	}
}

static void agent_quote(Aicert__V1__Agent_Service *svc, const Aicert__V1__QuoteRequest *in,
			Aicert__V1__QuoteReply_Closure closure, void *data)
{
	Aicert__V1__QuoteReply out = AICERT__V1__QUOTE_REPLY__INIT;
	struct agent *a = agent_of(svc);
	struct tpm_bank banks[AGENT_MAX_BANKS];
	struct tpm_bank_values *vals = NULL;
	struct agent_pcr_out *st = NULL;
	int r;

	r = agent_banks(in->banks, in->n_banks, banks);
	if (r == 0 && (in->qualifying_data.len < 1 || in->qualifying_data.len > 64))
		r = err_set(AICERT_ERR_INVALID, "qualifying_data: %zu bytes, expected 1 to 64",
			    in->qualifying_data.len);
	if (r == 0) {
		vals = calloc(in->n_banks, sizeof(*vals));
		st = calloc(1, sizeof(*st));
		if (!vals || !st)
			r = AICERT_ERR_NOMEM;
	}
	if (r == 0)
		r = agent_lock(a, data);
	if (r == 0) {
		r = tpm_quote(a->tpm, in->qualifying_data.data, in->qualifying_data.len, banks,
			      in->n_banks, &out.attest.data, &out.attest.len, &out.signature.data,
			      &out.signature.len, vals);
		agent_unlock(a);
	}
	if (r < 0) {
		FAIL(data, closure, r);
	} else {
		agent_pcr_out(st, vals, in->n_banks);
		out.pcrs = st->bank_ptrs;
		out.n_pcrs = in->n_banks;
		out.ak_public.data = a->ak_public;
		out.ak_public.len = a->ak_public_len;
		closure(&out, data);
	}
	free(out.attest.data);
	free(out.signature.data);
	free(vals);
	free(st);
}

static void agent_read_pcrs(Aicert__V1__Agent_Service *svc, const Aicert__V1__ReadPcrsRequest *in,
			    Aicert__V1__ReadPcrsReply_Closure closure, void *data)
{
	Aicert__V1__ReadPcrsReply out = AICERT__V1__READ_PCRS_REPLY__INIT;
	struct agent *a = agent_of(svc);
	struct tpm_bank banks[AGENT_MAX_BANKS] = {{TPM_ALG_SHA256_ID, 0xffffff}};
	struct tpm_bank_values *vals = NULL;
	struct agent_pcr_out *st = NULL;
	size_t n = in->n_banks ? in->n_banks : 1;
	int r = 0;

	if (in->n_banks)
		r = agent_banks(in->banks, in->n_banks, banks);
	if (r == 0) {
		vals = calloc(n, sizeof(*vals));
		st = calloc(1, sizeof(*st));
		if (!vals || !st)
			r = AICERT_ERR_NOMEM;
	}
	if (r == 0)
		r = agent_lock(a, data);
	if (r == 0) {
		r = tpm_pcr_read(a->tpm, banks, n, vals, &out.update_counter);
		agent_unlock(a);
	}
	if (r < 0) {
		FAIL(data, closure, r);
	} else {
		agent_pcr_out(st, vals, n);
		out.banks = st->bank_ptrs;
		out.n_banks = n;
		closure(&out, data);
	}
	free(vals);
	free(st);
}

/* ---- EventLog ----------------------------------------------------------- */

static int agent_boot_log(const struct agent *a, uint8_t **buf, size_t *len)
{
	int r;

	*buf = NULL;
	*len = 0;
	if (!a->cfg->boot_log || !a->cfg->boot_log[0])
		return 0;
	r = fileio_read_all(a->cfg->boot_log, AGENT_MAX_BOOT_LOG, buf, len);
	if (r == AICERT_ERR_NOT_FOUND) {
		err_clear();
		return 0; /* no measured boot here (the local runner) */
	}
	return r;
}

static void agent_event_log(Aicert__V1__Agent_Service *svc, const Aicert__V1__EventLogRequest *in,
			    Aicert__V1__EventLogReply_Closure closure, void *data)
{
	Aicert__V1__EventLogReply out = AICERT__V1__EVENT_LOG_REPLY__INIT;
	struct agent *a = agent_of(svc);
	int r;

	r = agent_boot_log(a, &out.boot_log.data, &out.boot_log.len);
	if (r == 0)
		r = agent_lock(a, data);
	if (r == 0) {
		r = rtlog_encode(a->log, a->tpm, &out.runtime_log.data, &out.runtime_log.len,
				 &out.reset_count);
		if (r == 0) {
			uint32_t reset;

			r = tpm_clock(a->tpm, &reset, &out.restart_count);
		}
		agent_unlock(a);
	}
	if (r < 0)
		FAIL(data, closure, r);
	else
		closure(&out, data);
	free(out.boot_log.data);
	free(out.runtime_log.data);
}

/* ---- Start and stop ------------------------------------------------------ */

static int agent_open_tpm(struct agent *a)
{
	struct tpm_opts opts = {
		.tcti = a->cfg->tcti,
		.state_dir = a->cfg->state_dir,
		.ek_alg = a->cfg->ek_alg,
		.ak_alg = a->cfg->ak_alg,
	};
	int r;

	r = fileio_mkdir(a->cfg->state_dir, 0700);
	if (r == 0)
		r = tpm_open(&opts, &a->tpm);
	if (r == 0)
		r = tpm_manufacturer(a->tpm, a->manufacturer);
	if (r == 0)
		r = rtlog_open(a->cfg->state_dir, a->tpm, &a->log);
	if (r == 0)
		r = agent_build_identity(a);
	if (r == 0) {
		uint8_t *name = NULL;
		size_t name_len;

		r = tpm_ak_public(a->tpm, &a->ak_public, &a->ak_public_len, &name, &name_len);
		free(name);
	}
	return r;
}

static int agent_listen(struct agent *a)
{
	const struct agent_config *cfg = a->cfg;
	struct rpc_tls tls = {cfg->tls_cert, cfg->tls_key, cfg->tls_ca};
	int r;

	r = rpc_server_new(&a->service.base, &a->srv);
	if (r == 0)
		r = rpc_server_set_flags(a->srv, "Extend",
					 RPC_METHOD_LOCAL_ONLY | RPC_METHOD_MUTATING);
	if (r == 0)
		r = rpc_server_listen(a->srv, cfg->local_url, NULL, true, cfg->workers);
	if (r == 0 && cfg->listen_url)
		r = rpc_server_listen(a->srv, cfg->listen_url, &tls, false, cfg->workers);
	return r;
}

/* The runner serves one controller: before anything listens, the SHA-256 of
 * the identity it was launched with goes into PCR 15 as the runtime log's
 * first record. After a restart the log must already begin with exactly
 * that record; anything else is refused. */
static int agent_bind_controller(struct agent *a, const char *path)
{
	struct events_event ev = {.kind = EVENTS_CONTROLLER};
	struct cel_log log = {0};
	uint8_t *id = NULL, *data = NULL, *cel = NULL, digest[32], value[32];
	size_t id_len, len, cel_len;
	uint32_t reset;
	uint64_t recnum;
	int r;

	r = fileio_read_all(path, AGENT_MAX_IDENTITY, &id, &id_len);
	if (r == 0 && id_len == 0)
		r = err_set(AICERT_ERR_INVALID, "%s: empty", path);
	if (r == 0) {
		SHA256(id, id_len, ev.u.controller.identity_sha256);
		r = events_encode(&ev, &data, &len);
	}
	if (r == 0) {
		SHA256(data, len, digest);
		r = rtlog_encode(a->log, a->tpm, &cel, &cel_len, &reset);
	}
	if (r == 0 && rtlog_count(a->log) > 0) {
		r = cel_decode(cel, cel_len, &log);
		if (r == 0 && (log.recs[0].pcr != AICERT_PCR_SESSION ||
			       log.recs[0].event_type != AICERT_EV_CONTROLLER ||
			       memcmp(log.recs[0].sha256, digest, 32) != 0))
			r = err_set(AICERT_ERR_STATE,
				    "the runtime log since this boot is not bound to this "
				    "controller: start a new runner");
		cel_clear(&log);
		goto out;
	}
	if (r == 0)
		r = rtlog_extend(a->log, a->tpm, 0, AICERT_PCR_SESSION, digest,
				 AICERT_EV_CONTROLLER, data, len, &recnum, value);
out:
	if (r == 0)
		log_info("bound to controller %02x%02x%02x%02x... (PCR %d)",
			 ev.u.controller.identity_sha256[0], ev.u.controller.identity_sha256[1],
			 ev.u.controller.identity_sha256[2], ev.u.controller.identity_sha256[3],
			 AICERT_PCR_SESSION);
	free(id);
	free(data);
	free(cel);
	return r < 0 ? err_wrap(r, "--controller-identity") : 0;
}

int agent_start(const struct agent_config *cfg, struct agent **ret)
{
	struct agent *a = calloc(1, sizeof(*a));
	int r;

	if (!a)
		return AICERT_ERR_NOMEM;
	aicert__v1__agent__init(&a->service, NULL);
	a->service.health = agent_health;
	a->service.identity = agent_identity;
	a->service.activate_credential = agent_activate;
	a->service.extend = agent_extend;
	a->service.quote = agent_quote;
	a->service.read_pcrs = agent_read_pcrs;
	a->service.event_log = agent_event_log;
	a->cfg = cfg;
	pthread_mutex_init(&a->tpm_lock, NULL);
	clock_gettime(CLOCK_MONOTONIC, &a->started);
	r = agent_open_tpm(a);
	if (r == 0 && cfg->controller_identity)
		r = agent_bind_controller(a, cfg->controller_identity);
	if (r == 0)
		r = agent_listen(a);
	if (r < 0) {
		agent_stop(a);
		return r;
	}
	*ret = a;
	return 0;
}

void agent_stop(struct agent *a)
{
	if (!a)
		return;
	rpc_server_free(a->srv);
	rtlog_free(a->log);
	tpm_free(a->tpm);
	free(a->identity);
	free(a->ak_public);
	pthread_mutex_destroy(&a->tpm_lock);
	free(a);
}
