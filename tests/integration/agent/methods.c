/* agent_methods: every method on the local socket of one agent, on one TPM
 * for the whole group. The tests only add records to the runtime log, so
 * they count from what they find. Also malformed and oversized messages over
 * ipc and concurrent clients. */
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <tss2/tss2_mu.h>

#include "agentc.h"
#include "aicert.pb-c.h"
#include "cel.h"
#include "err.h"
#include "fileio.h"
#include "harness.h"
#include "hex.h"
#include "rpc.h"
#include "tpmkey.h"

#include "fixture.h"

#define AICERT_CLI AICERT_BINARY_DIR "/controller/aicert"

#define EK_RSA_CERT_NV 0x01c00002u
#define EK_ECC_CERT_NV 0x01c00016u
#define EV_NO_ACTION   0x00000003u

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

/* Both banks of a fresh swtpm in full, with pcr14 in SHA-256 PCR 14. */
static void assert_swtpm_banks(const Aicert__V1__ReadPcrsReply *rep, const uint8_t pcr14[32])
{
	static const uint8_t zeros[32];
	uint8_t ones[32];

	memset(ones, 0xff, sizeof(ones));
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
}

/* Which banks ReadPcrs reads, or refuses to. */
static void assert_read_pcrs_bank_choice(struct rpc_client *c)
{
	Aicert__V1__ReadPcrsRequest req = AICERT__V1__READ_PCRS_REQUEST__INIT;
	Aicert__V1__ReadPcrsReply *rep = NULL;
	struct sel s = {0};

	/* a bank this TPM does not have, a bank twice */
	sel_add(&s, 0x000c, 1u << 14);
	req.banks = s.ptrs;
	req.n_banks = 1;
	assert_int_equal(agentc_read_pcrs(c, &req, &rep), AICERT_ERR_NOT_FOUND);
	memset(&s, 0, sizeof(s));
	sel_add(&s, SHA256_ALG, 1u << 14);
	sel_add(&s, SHA256_ALG, 1u << 8);
	req.banks = s.ptrs;
	req.n_banks = 2;
	assert_int_equal(agentc_read_pcrs(c, &req, &rep), AICERT_ERR_INVALID);
	assert_null(rep);
	/* no bank: all of SHA-256 */
	req.n_banks = 0;
	assert_ok(agentc_read_pcrs(c, &req, &rep));
	assert_int_equal(rep->n_banks, 1);
	assert_int_equal(rep->banks[0]->hash_alg, SHA256_ALG);
	assert_int_equal(rep->banks[0]->n_values, 24);
	aicert__v1__read_pcrs_reply__free_unpacked(rep, NULL);
}

static void read_pcrs_reads_sha256_and_sha1_banks_past_eight(void **state)
{
	struct fx *f = *state;
	Aicert__V1__ReadPcrsRequest req = AICERT__V1__READ_PCRS_REQUEST__INIT;
	Aicert__V1__ReadPcrsReply *rep = NULL;
	uint8_t pcr14[32];
	struct sel s = {0};

	extend_ok(f->c, 14, "input: before ReadPcrs", pcr14);
	sel_add(&s, SHA256_ALG, ALL_PCRS);
	sel_add(&s, SHA1_ALG, ALL_PCRS);
	req.banks = s.ptrs;
	req.n_banks = 2;
	assert_ok(agentc_read_pcrs(f->c, &req, &rep));
	assert_swtpm_banks(rep, pcr14);
	aicert__v1__read_pcrs_reply__free_unpacked(rep, NULL);
	assert_read_pcrs_bank_choice(f->c);
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

static const struct CMUnitTest tests[] = {
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

const struct agent_group methods_group = {
	"agent_methods", tests, sizeof(tests) / sizeof(tests[0]), fx_setup, fx_teardown,
};
