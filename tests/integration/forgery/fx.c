/* The forgery suite's fixture: runners, the CA, policies, jobs and the good
 * proofs; see fx.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "agentc.h"
#include "ca.h"
#include "ekcert.h"
#include "enroll.h"
#include "err.h"
#include "fileio.h"
#include "modeldir.h"
#include "policy.h"
#include "proofgen.h"
#include "fx.h"

#define FX_RSA_EK_NV 0x01c00002u
#define FX_ECC_EK_NV 0x01c00016u

/* ---- small helpers --------------------------------------------------------------------------- */

void fx_blob_set(struct proof_blob *b, const void *data, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);

	assert_non_null(copy);
	if (len)
		memcpy(copy, data, len);
	free(b->data);
	b->data = copy;
	b->len = len;
}

void fx_blob_clear(struct proof_blob *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

void fx_quote_clear(struct fx_quote *q)
{
	fx_blob_clear(&q->attest);
	fx_blob_clear(&q->sig);
	q->n_pcrs = 0;
}

void fx_path(const struct fx *f, const char *name, char out[PATH_MAX])
{
	int n = snprintf(out, PATH_MAX, "%s/%s", f->work, name);

	assert_true(n > 0 && n < PATH_MAX);
}

static void fx_write(const char *path, const void *buf, size_t len)
{
	assert_int_equal(harness_write_file(path, buf, len), 0);
}

static void fx_mkdir(const char *path)
{
	assert_int_equal(fileio_mkdir(path, 0700), 0);
}

/* The DER of the first certificate in a PEM file. */
static void fx_pem_to_der(const char *pem_path, struct proof_blob *out)
{
	FILE *fp = fopen(pem_path, "r");
	unsigned char *der = NULL;
	X509 *x;
	int n;

	assert_non_null(fp);
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(x);
	n = i2d_X509(x, &der);
	assert_true(n > 0);
	fx_blob_set(out, der, (size_t)n);
	OPENSSL_free(der);
	X509_free(x);
}

/* ---- runners --------------------------------------------------------------------------------- */

static void fx_dial(struct fx_runner *r)
{
	struct rpc_client_opts opts = {.timeout_ms = 30000};

	rpc_client_free(r->c);
	r->c = NULL;
	if (rpc_client_dial(r->agent.local_url, &aicert__v1__agent__descriptor, &opts, &r->c) < 0)
		fail_msg("dialling %s: %s", r->agent.local_url, err_msg(-1));
}

static const ProtobufCBinaryData *fx_ek_cert_at(const Aicert__V1__IdentityReply *id, uint32_t nv)
{
	for (size_t i = 0; i < id->n_ek_certs; i++)
		if (id->ek_certs[i]->nv_index == nv)
			return &id->ek_certs[i]->der;
	fail_msg("the agent has no EK certificate at 0x%08x", nv);
	return NULL;
}

static void fx_runner_start(struct fx_runner *r)
{
	const ProtobufCBinaryData *der;

	assert_int_equal(harness_swtpm_start(&r->tpm), 0);
	assert_int_equal(agentproc_start(&r->agent, &r->tpm, NULL), 0);
	fx_dial(r);
	if (agentc_identity(r->c, &r->id) < 0)
		fail_msg("Identity: %s", err_msg(-1));
	der = fx_ek_cert_at(r->id, FX_RSA_EK_NV);
	fx_blob_set(&r->ek_cert, der->data, der->len);
	fx_blob_set(&r->ek_public, r->id->ek_public.data, r->id->ek_public.len);
	fx_blob_set(&r->ak_public, r->id->ak_public.data, r->id->ak_public.len);
	fx_pem_to_der(r->tpm.ek_issuer, &r->ek_issuer);
}

static void fx_runner_stop(struct fx_runner *r)
{
	if (r->id)
		protobuf_c_message_free_unpacked(&r->id->base, NULL);
	fx_runner_stop_agent(r);
	harness_swtpm_stop(&r->tpm);
	fx_blob_clear(&r->ek_public);
	fx_blob_clear(&r->ek_cert);
	fx_blob_clear(&r->ek_issuer);
	fx_blob_clear(&r->ak_public);
	fx_blob_clear(&r->ak_cert);
}

/* Stops r's agent, which must exit cleanly on SIGTERM. */
void fx_runner_stop_agent(struct fx_runner *r)
{
	/* The client goes first, so that no dialer is left retrying a gone
	 * agent. fx_runner_restart() dials again. */
	rpc_client_free(r->c);
	r->c = NULL;
	assert_int_equal(agentproc_stop(&r->agent), 0);
}

/* Restarts r's agent after someone else used its TPM. */
void fx_runner_restart(struct fx_runner *r, const char *const *args)
{
	assert_int_equal(agentproc_start(&r->agent, &r->tpm, args), 0);
	fx_dial(r);
}

/* ---- enrollment ------------------------------------------------------------------------------ */

/* ActivateCredential on the runner's agent, as `aicert enroll` does. */
static int fx_activate(void *ctx, const uint8_t *blob, size_t blob_len, const uint8_t *enc,
		       size_t enc_len, uint8_t **out, size_t *out_len)
{
	Aicert__V1__ActivateCredentialRequest req = AICERT__V1__ACTIVATE_CREDENTIAL_REQUEST__INIT;
	Aicert__V1__ActivateCredentialReply *rep;
	struct rpc_reply reply = RPC_REPLY_INIT;
	struct fx_runner *r = ctx;

	req.credential_blob.data = (uint8_t *)blob;
	req.credential_blob.len = blob_len;
	req.encrypted_secret.data = (uint8_t *)enc;
	req.encrypted_secret.len = enc_len;
	aicert__v1__agent__activate_credential(
		rpc_client_service(r->c), &req,
		(Aicert__V1__ActivateCredentialReply_Closure)rpc_reply_capture, &reply);
	if (!reply.msg)
		return reply.err;
	rep = (Aicert__V1__ActivateCredentialReply *)reply.msg;
	*out = malloc(rep->secret.len + 1);
	assert_non_null(*out);
	memcpy(*out, rep->secret.data, rep->secret.len);
	*out_len = rep->secret.len;
	protobuf_c_message_free_unpacked(reply.msg, NULL);
	return 0;
}

static void fx_enroll(struct fx *f, struct fx_runner *r)
{
	struct enroll_params p = {.ca = f->ca, .activate = fx_activate, .activate_ctx = r};
	struct ekcert_store *roots = NULL;
	struct enroll_result res;
	int rc;

	assert_int_equal(ekcert_store_new(&roots), 0);
	assert_int_equal(ekcert_store_load_roots(roots, r->tpm.ek_root), 0);
	assert_int_equal(ekcert_store_load_intermediates(roots, r->tpm.ek_issuer), 0);
	p.ek_roots = roots;
	rc = enroll_run(&p, r->id, &res);
	if (rc < 0)
		fail_msg("enrolling: %s: %s", enroll_step_name(res.failed_step), err_msg(rc));
	fx_pem_to_der(res.cert_path, &r->ak_cert);
	enroll_result_clear(&res);
	ekcert_store_free(roots);
}

/* ---- policy ---------------------------------------------------------------------------------- */

static size_t fx_count(const char *const *list)
{
	size_t n = 0;

	while (list && list[n])
		n++;
	return n;
}

void fx_policy_write(const char *path, const char *const *ek_roots,
		     const char *const *ek_intermediates, const char *ak_ca, bool allow_dev,
		     const char *extra)
{
	const char *ak[] = {ak_ca};
	struct policy_init in = {
		.ek_roots = ek_roots,
		.n_ek_roots = fx_count(ek_roots),
		.ek_intermediates = ek_intermediates,
		.n_ek_intermediates = fx_count(ek_intermediates),
		.ak_ca = ak,
		.n_ak_ca = 1,
		.allow_development = allow_dev,
	};
	char *yaml = NULL, *all = NULL;

	if (policy_init_yaml(&in, &yaml) < 0)
		fail_msg("policy_init_yaml: %s", err_msg(-1));
	assert_true(asprintf(&all, "%s%s", yaml, extra ? extra : "") > 0);
	fx_write(path, all, strlen(all));
	free(all);
	free(yaml);
}

static void fx_base_policy(struct fx *f)
{
	const char *roots[] = {f->a.tpm.ek_root, NULL};
	const char *inter[] = {f->a.tpm.ek_issuer, NULL};
	char ca_crt[PATH_MAX];

	fx_path(f, "ca/" CA_CERT_FILE, ca_crt);
	fx_path(f, "policy.yaml", f->policy);
	fx_policy_write(f->policy, roots, inter, ca_crt, true, NULL);
}

/* ---- the job's files ------------------------------------------------------------------------- */

static void fx_input(struct fx *f, struct events_input *in, const char *kind, const char *file,
		     const char *content)
{
	char path[PATH_MAX], name[64];

	snprintf(name, sizeof(name), "inputs/%s", file);
	fx_path(f, name, path);
	fx_write(path, content, strlen(content));
	memset(in, 0, sizeof(*in));
	snprintf(in->kind, sizeof(in->kind), "%s", kind);
	snprintf(in->name, sizeof(in->name), "%s", kind);
	snprintf(in->uri, sizeof(in->uri), "file:%s", name);
	SHA256((const uint8_t *)content, strlen(content), in->sha256);
	in->files = 1;
	in->size = strlen(content);
}

static void fx_files(struct fx *f)
{
	static const uint8_t weights[] = {0x08, 0,   0,   0,   0, 0, 0, 0, '{', '}', ' ', ' ',
					  ' ',  ' ', ' ', ' ', 1, 2, 3, 4, 5,   6,   7,   8};
	static const char config[] = "{\"hidden_size\": 8, \"layers\": 1}\n";
	static const char vocab[] = "<s>\n</s>\nhello\nworld\n";
	char path[PATH_MAX];

	fx_path(f, "inputs", path);
	fx_mkdir(path);
	fx_input(f, &f->inputs[0], "base_model", "base.safetensors", "base model weights v1\n");
	fx_input(f, &f->inputs[1], "dataset", "train.jsonl", "{\"text\": \"hello world\"}\n");
	fx_path(f, "model", f->model_dir);
	fx_mkdir(f->model_dir);
	fx_path(f, "model/tokenizer", path);
	fx_mkdir(path);
	fx_path(f, "model/config.json", path);
	fx_write(path, config, strlen(config));
	fx_path(f, "model/model.safetensors", path);
	fx_write(path, weights, sizeof(weights));
	fx_path(f, "model/tokenizer/vocab.txt", path);
	fx_write(path, vocab, strlen(vocab));
}

/* ---- the job executor ------------------------------------------------------------------------ */

void fx_extend(struct fx_runner *r, const struct events_event *ev)
{
	Aicert__V1__ExtendRequest req = AICERT__V1__EXTEND_REQUEST__INIT;
	struct rpc_reply reply = RPC_REPLY_INIT;
	uint8_t *buf = NULL, sha[32];
	size_t len = 0;

	assert_int_equal(events_encode(ev, &buf, &len), 0);
	SHA256(buf, len, sha);
	req.pcr = events_pcr(ev->kind);
	req.event_type = events_type(ev->kind);
	req.sha256.data = sha;
	req.sha256.len = sizeof(sha);
	req.content.data = buf;
	req.content.len = len;
	aicert__v1__agent__extend(rpc_client_service(r->c), &req,
				  (Aicert__V1__ExtendReply_Closure)rpc_reply_capture, &reply);
	free(buf);
	if (!reply.msg)
		fail_msg("Extend: %s", err_msg(reply.err));
	protobuf_c_message_free_unpacked(reply.msg, NULL);
}

void fx_job_start(struct fx_runner *r, const char *job_id, const uint8_t *nonce)
{
	static const char config[] = "lr: 3e-4\nepochs: 1\n";
	struct events_event ev = {.kind = EVENTS_JOB_START};
	Aicert__V1__HealthReply *h = NULL;

	if (agentc_health(r->c, &h) < 0)
		fail_msg("Health: %s", err_msg(-1));
	snprintf(ev.u.start.job_id, sizeof(ev.u.start.job_id), "%s", job_id);
	memcpy(ev.u.start.nonce, nonce, FX_NONCE_LEN);
	ev.u.start.nonce_len = FX_NONCE_LEN;
	SHA256((const uint8_t *)config, strlen(config), ev.u.start.config_sha256);
	ev.u.start.reset_count = h->reset_count;
	ev.u.start.restart_count = h->restart_count;
	protobuf_c_message_free_unpacked(&h->base, NULL);
	fx_extend(r, &ev);
}

static void fx_job_outputs(struct fx *f, struct fx_runner *r)
{
	struct modeldir_file *files = NULL;
	struct events_event ev;
	uint8_t(*digests)[32];
	size_t n = 0;

	assert_int_equal(modeldir_scan(f->model_dir, &files, &n), 0);
	digests = calloc(n + 1, 32);
	assert_non_null(digests);
	for (size_t i = 0; i < n; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.kind = EVENTS_OUTPUT;
		snprintf(ev.u.output.path, sizeof(ev.u.output.path), "%s", files[i].path);
		memcpy(ev.u.output.sha256, files[i].sha256, 32);
		ev.u.output.size = files[i].size;
		memcpy(digests[i], files[i].sha256, 32);
		fx_extend(r, &ev);
	}
	memset(&ev, 0, sizeof(ev));
	ev.kind = EVENTS_OUTPUTS;
	assert_int_equal(
		events_outputs_root((const uint8_t(*)[32])digests, n, ev.u.outputs.root_sha256), 0);
	ev.u.outputs.files = n;
	fx_extend(r, &ev);
	free(digests);
	modeldir_free(files, n);
}

void fx_job_finish(struct fx *f, struct fx_runner *r)
{
	struct events_event ev;

	for (size_t i = 0; i < 2; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.kind = EVENTS_INPUT;
		ev.u.input = f->inputs[i];
		fx_extend(r, &ev);
	}
	fx_job_outputs(f, r);
	memset(&ev, 0, sizeof(ev));
	ev.kind = EVENTS_JOB_END;
	ev.u.end.exit_code = 0;
	ev.u.end.flops = 123456789;
	ev.u.end.wall_ms = 5120;
	fx_extend(r, &ev);
}

/* ---- proofs ---------------------------------------------------------------------------------- */

static int fx_make(struct fx *f, struct fx_runner *r, const char *job_id, const uint8_t *nonce,
		   struct proof **ret)
{
	struct proofgen_opts o = {
		.agent = r->c,
		.ca_dir = f->ca_dir,
		.job_id = job_id,
		.nonce = nonce,
		.nonce_len = FX_NONCE_LEN,
	};

	return proofgen_make(&o, ret);
}

static void fx_bytes_of(struct proof *p, struct fx_bytes *out)
{
	char *s = NULL;

	assert_int_equal(proof_write(p, &s), 0);
	free(out->buf);
	out->buf = (uint8_t *)s;
	out->len = strlen(s);
}

void fx_prove(struct fx *f, struct fx_runner *r, const char *job_id, const uint8_t *nonce,
	      struct fx_bytes *out)
{
	struct proof *p = NULL;
	int rc = fx_make(f, r, job_id, nonce, &p);
	char log[8192];

	if (rc < 0) {
		fprintf(stderr, "proofgen_make('%s'): %s\n", job_id, err_msg(rc));
		if (agentproc_log(&r->agent, log, sizeof(log)) == 0)
			fprintf(stderr, "agent log:\n%s\n", log);
		fail_msg("proofgen_make('%s') failed", job_id);
	}
	fx_bytes_of(p, out);
	proof_free(p);
}

/* proofgen_make() and proof_save() to path; out gets the file's bytes. */
static void fx_prove_file(struct fx *f, const char *job_id, const char *path, struct fx_bytes *out)
{
	struct proof *p = NULL;
	int rc = fx_make(f, &f->a, job_id, f->nonce, &p);

	if (rc < 0)
		fail_msg("proofgen_make('%s'): %s", job_id, err_msg(rc));
	assert_int_equal(proof_save(p, path), 0);
	proof_free(p);
	assert_int_equal(fileio_read_all(path, PROOF_MAX_BYTES, &out->buf, &out->len), 0);
}

/* base with a new quote for job_id and nonce and a's runtime log as it is
 * now: what a controller would assemble for that job at this moment. */
static void fx_requote(struct fx *f, const struct fx_bytes *base, const char *job_id,
		       const uint8_t *nonce, struct fx_bytes *out)
{
	Aicert__V1__EventLogReply *ev = NULL;
	struct fx_quote q = {0};
	struct proof *p = NULL;

	assert_int_equal(proof_parse("base", base->buf, base->len, &p), 0);
	fx_tpm_quote(&f->a, job_id, nonce, TPM2_ALG_SHA256, PROOFGEN_DEFAULT_PCRS, &q);
	fx_tpm_apply(p, &q);
	if (agentc_event_log(f->a.c, &ev) < 0)
		fail_msg("EventLog: %s", err_msg(-1));
	fx_blob_set(&p->runtime_log, ev->runtime_log.data, ev->runtime_log.len);
	protobuf_c_message_free_unpacked(&ev->base, NULL);
	snprintf(p->job_id, sizeof(p->job_id), "%s", job_id);
	memcpy(p->nonce, nonce, FX_NONCE_LEN);
	p->nonce_len = FX_NONCE_LEN;
	fx_bytes_of(p, out);
	proof_free(p);
	fx_quote_clear(&q);
}

/* ---- later jobs ------------------------------------------------------------------------------ */

static void fx_later_jobs(struct fx *f)
{
	uint8_t other[FX_NONCE_LEN], again[FX_NONCE_LEN], resume[FX_NONCE_LEN], reset[FX_NONCE_LEN];
	struct proof *p = NULL;

	assert_int_equal(RAND_bytes(other, sizeof(other)), 1);
	assert_int_equal(RAND_bytes(again, sizeof(again)), 1);
	assert_int_equal(RAND_bytes(resume, sizeof(resume)), 1);
	assert_int_equal(RAND_bytes(reset, sizeof(reset)), 1);
	/* Another job runs after the good one; then a proof of the good job. */
	fx_job_start(&f->a, FX_OTHER_JOB, other);
	fx_job_finish(f, &f->a);
	fx_requote(f, &f->good, FX_GOOD_JOB, f->nonce, &f->not_last);
	/* The good job's id starts again, with another nonce. The controller's
	 * own proof assembly reads the log as the verifier does; when it
	 * refuses, the proof is assembled by hand. */
	fx_job_start(&f->a, FX_GOOD_JOB, again);
	fx_job_finish(f, &f->a);
	if (fx_make(f, &f->a, FX_GOOD_JOB, again, &p) == 0) {
		fx_bytes_of(p, &f->twice);
		proof_free(p);
	} else {
		fx_requote(f, &f->good, FX_GOOD_JOB, again, &f->twice);
	}
	/* A job during which the TPM is suspended and resumed. */
	fx_job_start(&f->a, FX_RESUME_JOB, resume);
	fx_requote(f, &f->good, FX_RESUME_JOB, resume, &f->unfinished);
	fx_tpm_resume(&f->a);
	fx_job_finish(f, &f->a);
	fx_prove(f, &f->a, FX_RESUME_JOB, resume, &f->resumed);
	/* A job during which the TPM is reset under the running agent, which
	 * then starts a new log: the job's start is in the old one. */
	fx_job_start(&f->a, FX_RESET_JOB, reset);
	assert_int_equal(harness_swtpm_restart(&f->a.tpm), 0);
	fx_job_finish(f, &f->a);
	fx_requote(f, &f->good, FX_RESET_JOB, reset, &f->reset);
}

/* With AICERT_EXAMPLE_DIR set, keeps the good job proof and its policy
 * there: docs/examples/ holds such a pair. */
static void fx_keep_example(const struct fx *f)
{
	const char *dir = getenv("AICERT_EXAMPLE_DIR");
	const char *cp[] = {"cp", f->good_path, f->policy, dir, NULL};

	if (dir)
		assert_int_equal(harness_run(cp), 0);
}

/* ---- setup and teardown ---------------------------------------------------------------------- */

static void fx_build(struct fx *f)
{
	uint32_t mask = PROOFGEN_DEFAULT_PCRS;

	fx_runner_start(&f->a);
	assert_int_equal(harness_path(&f->a.tpm, "work", f->work), 0);
	fx_mkdir(f->work);
	fx_path(f, "ca", f->ca_dir);
	assert_int_equal(ca_init(f->ca_dir, NULL), 0);
	assert_int_equal(ca_open(f->ca_dir, &f->ca), 0);
	fx_enroll(f, &f->a);
	{
		const ProtobufCBinaryData *der = fx_ek_cert_at(f->a.id, FX_ECC_EK_NV);

		fx_blob_set(&f->ecc_ek_cert, der->data, der->len);
	}
	fx_runner_start(&f->b);
	fx_enroll(f, &f->b);
	fx_base_policy(f);
	fx_files(f);
	assert_int_equal(RAND_bytes(f->nonce, sizeof(f->nonce)), 1);
	fx_job_start(&f->a, FX_GOOD_JOB, f->nonce);
	fx_job_finish(f, &f->a);
	fx_path(f, "good.proof.json", f->good_path);
	fx_prove_file(f, FX_GOOD_JOB, f->good_path, &f->good);
	fx_path(f, "platform.proof.json", f->platform_path);
	fx_prove_file(f, "", f->platform_path, &f->platform);
	fx_keep_example(f);
	/* Quotes while the PCRs hold the good job. */
	fx_tpm_quote(&f->a, FX_OTHER_JOB, f->nonce, TPM2_ALG_SHA256, mask, &f->q_other_job);
	memcpy(f->other_nonce, f->nonce, FX_NONCE_LEN);
	f->other_nonce[FX_NONCE_LEN - 1] ^= 0x01;
	fx_tpm_quote(&f->a, FX_GOOD_JOB, f->other_nonce, TPM2_ALG_SHA256, mask, &f->q_other_nonce);
	fx_tpm_quote(&f->a, FX_GOOD_JOB, f->nonce, TPM2_ALG_SHA256,
		     (mask & ~(1u << 14)) | (1u << 16), &f->q_pcr16);
	fx_tpm_quote(&f->a, FX_GOOD_JOB, f->nonce, TPM2_ALG_SHA256, mask & ~(1u << 14), &f->q_no14);
	fx_tpm_quote(&f->a, FX_GOOD_JOB, f->nonce, TPM2_ALG_SHA1, mask, &f->q_sha1);
	fx_tpm_direct(f);
	fx_later_jobs(f);
	fx_tpm_fake_boot(f);
}

int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	/* ESAPI's own error lines would drown the table. */
	setenv("TSS2_LOG", "all+NONE", 0);
	*state = f;
	fx_build(f);
	return 0;
}

static void fx_bytes_clear(struct fx_bytes *b)
{
	free(b->buf);
	b->buf = NULL;
	b->len = 0;
}

int fx_teardown(void **state)
{
	struct fx *f = *state;

	if (!f)
		return 0;
	fx_runner_stop(&f->b);
	fx_runner_stop(&f->a);
	ca_free(f->ca);
	fx_bytes_clear(&f->good);
	fx_bytes_clear(&f->platform);
	fx_bytes_clear(&f->not_last);
	fx_bytes_clear(&f->twice);
	fx_bytes_clear(&f->resumed);
	fx_bytes_clear(&f->unfinished);
	fx_bytes_clear(&f->measured);
	fx_bytes_clear(&f->reset);
	fx_quote_clear(&f->q_other_nonce);
	fx_quote_clear(&f->q_other_job);
	fx_quote_clear(&f->q_pcr16);
	fx_quote_clear(&f->q_no14);
	fx_quote_clear(&f->q_sha1);
	fx_quote_clear(&f->q_certify);
	fx_quote_clear(&f->q_signed);
	fx_blob_clear(&f->ecc_ek_public);
	fx_blob_clear(&f->ecc_ek_cert);
	free(f);
	*state = NULL;
	return 0;
}
