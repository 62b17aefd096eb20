/* Enrollment against a real TPM: swtpm (tests/harness) with its own EK CA,
 * aicert-agent as a process (agentproc.h), the attestation CA of
 * controller/ca.c in the TPM's scratch directory.
 *
 * Enrollment must succeed for an RSA EK and for swtpm's P-384 EK (the
 * agent's TPM activating credentials made by shared/makecred.c is the real
 * test of MakeCredential), and must refuse, naming the step, an EK
 * certificate from another CA, an EK public key that is not the
 * certificate's, an AK without `restricted`, a claimed AK name that is not
 * the AK's, and a wrong answer to the credential challenge, leaving no
 * certificate or runner record behind. The issued AK certificate must
 * verify against ca.crt with `openssl verify`, carry the EKU and the EK
 * certificate's digest, and hold the AK's key. */
#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tctildr.h>

#include "agentc.h"
#include "agentproc.h"
#include "akcert.h"
#include "ca.h"
#include "ekcert.h"
#include "enroll.h"
#include "err.h"
#include "fileio.h"
#include "harness.h"
#include "hex.h"
#include "tpmkey.h"

#define AICERT_CLI AICERT_BINARY_DIR "/controller/aicert"

struct fx {
	struct harness_swtpm tpm;
	struct harness_swtpm other; /* a second TPM with its own CA, when a test needs one */
	struct agentproc agent;
	struct rpc_client *c;
	Aicert__V1__IdentityReply *id;
	char ca_dir[PATH_MAX];
	struct ca *ca;
	struct ekcert_store *roots;
	int activations; /* calls of the activation callback */
	int tamper;      /* flip a bit of the agent's answer */
};

static const char *const ecc_ek[] = {"--ek-alg", "ecc", NULL};

static void assert_msg(int r, const char *want)
{
	const char *msg = err_msg(r);

	if (!strstr(msg, want))
		fail_msg("message '%s' does not contain '%s'", msg, want);
}

/* ---- fixture ------------------------------------------------------------------------ */

static int fx_free(struct fx *f)
{
	int r = 0;

	if (f->id)
		protobuf_c_message_free_unpacked(&f->id->base, NULL);
	rpc_client_free(f->c);
	ekcert_store_free(f->roots);
	ca_free(f->ca);
	if (agentproc_stop(&f->agent) < 0)
		r = -1;
	harness_swtpm_stop(&f->other);
	harness_swtpm_stop(&f->tpm);
	free(f);
	return r;
}

static int fx_roots(struct fx *f, const struct harness_swtpm *tpm)
{
	ekcert_store_free(f->roots);
	f->roots = NULL;
	if (ekcert_store_new(&f->roots) < 0 ||
	    ekcert_store_load_roots(f->roots, tpm->ek_root) < 0 ||
	    ekcert_store_load_intermediates(f->roots, tpm->ek_issuer) < 0) {
		fprintf(stderr, "loading %s: %s\n", tpm->ek_root, err_msg(-1));
		return -1;
	}
	return 0;
}

static int fx_new(void **state, const char *const agent_args[])
{
	struct rpc_client_opts opts = {.timeout_ms = 30000};
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (harness_swtpm_start(&f->tpm) < 0 ||
	    agentproc_start(&f->agent, &f->tpm, agent_args) < 0 ||
	    rpc_client_dial(f->agent.local_url, &aicert__v1__agent__descriptor, &opts, &f->c) < 0 ||
	    agentc_identity(f->c, &f->id) < 0 || harness_path(&f->tpm, "ca", f->ca_dir) < 0 ||
	    ca_init(f->ca_dir, NULL) < 0 || ca_open(f->ca_dir, &f->ca) < 0 ||
	    fx_roots(f, &f->tpm) < 0) {
		fprintf(stderr, "fixture: %s\n", err_msg(-1));
		fx_free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int fx_setup_rsa(void **state)
{
	return fx_new(state, NULL);
}

static int fx_setup_ecc(void **state)
{
	return fx_new(state, ecc_ek);
}

static int fx_teardown(void **state)
{
	return *state ? fx_free(*state) : 0;
}

/* ActivateCredential on the agent, as `aicert enroll` does it; with
 * f->tamper the answer is changed before enrollment sees it. */
static int fx_activate(void *ctx, const uint8_t *blob, size_t blob_len, const uint8_t *enc,
		       size_t enc_len, uint8_t **out, size_t *out_len)
{
	Aicert__V1__ActivateCredentialRequest req = AICERT__V1__ACTIVATE_CREDENTIAL_REQUEST__INIT;
	Aicert__V1__ActivateCredentialReply *rep;
	struct rpc_reply reply = RPC_REPLY_INIT;
	struct fx *f = ctx;

	f->activations++;
	req.credential_blob.data = (uint8_t *)blob;
	req.credential_blob.len = blob_len;
	req.encrypted_secret.data = (uint8_t *)enc;
	req.encrypted_secret.len = enc_len;
	aicert__v1__agent__activate_credential(
		rpc_client_service(f->c), &req,
		(Aicert__V1__ActivateCredentialReply_Closure)rpc_reply_capture, &reply);
	if (!reply.msg)
		return reply.err;
	rep = (Aicert__V1__ActivateCredentialReply *)reply.msg;
	*out = malloc(rep->secret.len + 1);
	assert_non_null(*out);
	memcpy(*out, rep->secret.data, rep->secret.len);
	*out_len = rep->secret.len;
	if (f->tamper && *out_len)
		(*out)[*out_len - 1] ^= 0x01;
	protobuf_c_message_free_unpacked(reply.msg, NULL);
	return 0;
}

static int fx_enroll(struct fx *f, const Aicert__V1__IdentityReply *id, struct enroll_result *res)
{
	struct enroll_params p = {
		.ca = f->ca,
		.ek_roots = f->roots,
		.activate = fx_activate,
		.activate_ctx = f,
	};

	return enroll_run(&p, id, res);
}

static size_t count_runners(const struct fx *f)
{
	char path[PATH_MAX + 16];
	struct dirent *e;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/runners", f->ca_dir);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* A refusal at `step` whose message says `why`, with nothing written. */
static void assert_refused(struct fx *f, const Aicert__V1__IdentityReply *id, enum enroll_step step,
			   const char *why)
{
	struct enroll_result res;
	int r = fx_enroll(f, id, &res);

	assert_int_equal(r, AICERT_ERR_REJECTED);
	if (res.failed_step != step)
		fail_msg("refused at '%s', expected '%s': %s", enroll_step_name(res.failed_step),
			 enroll_step_name(step), err_msg(r));
	assert_msg(r, why);
	assert_null(res.cert_path);
	assert_int_equal(count_runners(f), 0);
	enroll_result_clear(&res);
}

static const Aicert__V1__EkCertificate *ek_cert_at(const Aicert__V1__IdentityReply *id, uint32_t nv)
{
	for (size_t i = 0; i < id->n_ek_certs; i++)
		if (id->ek_certs[i]->nv_index == nv)
			return id->ek_certs[i];
	fail_msg("no EK certificate at 0x%08x", nv);
	return NULL;
}

static X509 *load_pem_cert(const char *path)
{
	FILE *fp = fopen(path, "r");
	X509 *x;

	assert_non_null(fp);
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(x);
	return x;
}

static void read_text(const char *path, char *buf, size_t cap)
{
	uint8_t *data = NULL;
	size_t len = 0;

	assert_int_equal(fileio_read_all(path, cap - 1, &data, &len), 0);
	memcpy(buf, data, len + 1);
	free(data);
}

/* ---- TPM helpers (ESAPI, on a TPM no agent is using) ------------------------------------ */

static void esys_open(const struct harness_swtpm *tpm, ESYS_CONTEXT **esys,
		      TSS2_TCTI_CONTEXT **tcti)
{
	assert_int_equal(Tss2_TctiLdr_Initialize(tpm->tcti, tcti), TSS2_RC_SUCCESS);
	assert_int_equal(Esys_Initialize(esys, *tcti, NULL), TSS2_RC_SUCCESS);
}

static void esys_close(ESYS_CONTEXT **esys, TSS2_TCTI_CONTEXT **tcti)
{
	Esys_Finalize(esys);
	Tss2_TctiLdr_Finalize(tcti);
}

static size_t marshal_public(const TPMT_PUBLIC *pub, uint8_t *buf, size_t cap)
{
	size_t off = 0;

	assert_int_equal(Tss2_MU_TPMT_PUBLIC_Marshal(pub, buf, cap, &off), TSS2_RC_SUCCESS);
	return off;
}

/* The RSA EK public area of another TPM. */
static size_t other_ek_public(const struct harness_swtpm *tpm, uint8_t *buf, size_t cap)
{
	ESYS_CONTEXT *esys = NULL;
	TSS2_TCTI_CONTEXT *tcti = NULL;
	ESYS_TR tr = ESYS_TR_NONE;
	TPM2B_PUBLIC *pub = NULL;
	size_t len;

	esys_open(tpm, &esys, &tcti);
	assert_int_equal(Esys_TR_FromTPMPublic(esys, 0x81010001, ESYS_TR_NONE, ESYS_TR_NONE,
					       ESYS_TR_NONE, &tr),
			 TSS2_RC_SUCCESS);
	assert_int_equal(Esys_ReadPublic(esys, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub,
					 NULL, NULL),
			 TSS2_RC_SUCCESS);
	len = marshal_public(&pub->publicArea, buf, cap);
	Esys_Free(pub);
	esys_close(&esys, &tcti);
	return len;
}

/* A TPM-made ECDSA signing key without `restricted`: a primary key in the
 * endorsement hierarchy, fixedTPM, fixedParent, sensitiveDataOrigin. */
static void unrestricted_key(const struct harness_swtpm *tpm, TPMT_PUBLIC *out)
{
	const TPM2B_SENSITIVE_CREATE sens = {0};
	const TPM2B_DATA outside = {0};
	const TPML_PCR_SELECTION pcrs = {0};
	TPM2B_PUBLIC tmpl = {0}, *pub = NULL;
	TPM2B_CREATION_DATA *cdata = NULL;
	TPM2B_DIGEST *chash = NULL;
	TPMT_TK_CREATION *ticket = NULL;
	ESYS_CONTEXT *esys = NULL;
	TSS2_TCTI_CONTEXT *tcti = NULL;
	ESYS_TR h = ESYS_TR_NONE;

	tmpl.publicArea.type = TPM2_ALG_ECC;
	tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
	tmpl.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
					   TPMA_OBJECT_SENSITIVEDATAORIGIN |
					   TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_SIGN_ENCRYPT;
	tmpl.publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	tmpl.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
	tmpl.publicArea.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	tmpl.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	tmpl.publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	esys_open(tpm, &esys, &tcti);
	assert_int_equal(Esys_CreatePrimary(esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD,
					    ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside,
					    &pcrs, &h, &pub, &cdata, &chash, &ticket),
			 TSS2_RC_SUCCESS);
	*out = pub->publicArea;
	Esys_FlushContext(esys, h);
	Esys_Free(pub);
	Esys_Free(cdata);
	Esys_Free(chash);
	Esys_Free(ticket);
	esys_close(&esys, &tcti);
}

/* ---- what an issued certificate must be ------------------------------------------------- */

static void check_issued(struct fx *f, const struct enroll_result *res, uint32_t nv)
{
	const Aicert__V1__EkCertificate *ekc = ek_cert_at(f->id, nv);
	char ca_crt[PATH_MAX + 16], record[4096], want[256], name_hex[2 * sizeof(TPMU_NAME) + 1];
	const char *verify[] = {"openssl", "verify", "-CAfile", ca_crt, res->cert_path, NULL};
	uint8_t digest[32], expect[32];
	TPMT_PUBLIC ak;
	TPM2B_NAME name;
	X509 *x, *found = NULL;
	char *rdir = NULL, *path = NULL;

	assert_int_equal(res->failed_step, ENROLL_STEPS);
	assert_int_equal(res->ek_nv_index, nv);
	assert_non_null(res->cert_path);
	snprintf(ca_crt, sizeof(ca_crt), "%s/ca.crt", f->ca_dir);
	assert_int_equal(harness_run(verify), 0);
	x = load_pem_cert(res->cert_path);
	/* The EKU, and the EK certificate's digest in the hardwareModuleName. */
	assert_int_equal(ekcert_has_eku(x, AKCERT_OID_AK_CERTIFICATE), 1);
	assert_int_equal(ca_ak_cert_ek_digest(x, digest), 0);
	EVP_Digest(ekc->der.data, ekc->der.len, expect, NULL, EVP_sha256(), NULL);
	assert_memory_equal(digest, expect, 32);
	/* The AK's key, and its name in the subject. */
	assert_int_equal(tpmkey_parse_public(f->id->ak_public.data, f->id->ak_public.len, &ak), 0);
	assert_int_equal(tpmkey_check_evp(&ak, X509_get0_pubkey(x)), 0);
	assert_int_equal(ca_verify_ak_cert(x, ca_cert(f->ca), &ak, time(NULL)), 0);
	hex_encode(f->id->ak_name.data, f->id->ak_name.len, name_hex);
	X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, want, sizeof(want));
	assert_true(strncmp(want, "aicert AK ", 10) == 0);
	assert_string_equal(want + 10, name_hex);
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_check_ca(x), 0);
	/* Kept with the runner's record, and handed back by AK name. */
	name.size = (UINT16)f->id->ak_name.len;
	memcpy(name.name, f->id->ak_name.data, name.size);
	assert_int_equal(ca_find_runner(f->ca_dir, &name, &found), 0);
	assert_int_equal(X509_cmp(found, x), 0);
	assert_int_equal(ca_runner_path(f->ca_dir, &name, &rdir), 0);
	assert_true(asprintf(&path, "%s/record", rdir) > 0);
	read_text(path, record, sizeof(record));
	snprintf(want, sizeof(want), "ak-name: %s\n", name_hex);
	assert_non_null(strstr(record, want));
	snprintf(want, sizeof(want), "ek-nv-index: 0x%08x\n", nv);
	assert_non_null(strstr(record, want));
	assert_non_null(strstr(record, "tpm-model: swtpm\n"));
	free(path);
	assert_true(asprintf(&path, "%s/ek.crt", rdir) > 0);
	X509_free(found);
	found = load_pem_cert(path);
	X509_free(found);
	free(path);
	free(rdir);
	X509_free(x);
}

/* ---- enrollment succeeds ------------------------------------------------------------------ */

static void enroll_succeeds_with_the_rsa_ek(void **state)
{
	struct fx *f = *state;
	struct enroll_result res;
	int r = fx_enroll(f, f->id, &res);

	if (r != 0)
		fail_msg("%s: %s", enroll_step_name(res.failed_step), err_msg(r));
	assert_int_equal(f->activations, 1);
	check_issued(f, &res, 0x01c00002);
	assert_int_equal(res.replaced, 0);
	enroll_result_clear(&res);
}

static void enroll_succeeds_with_the_ecc_p384_ek(void **state)
{
	struct fx *f = *state;
	struct enroll_result res;
	int r;

	assert_int_equal(f->id->ek_alg, AICERT__V1__KEY_ALG__KEY_ALG_ECC);
	r = fx_enroll(f, f->id, &res);
	if (r != 0)
		fail_msg("%s: %s", enroll_step_name(res.failed_step), err_msg(r));
	check_issued(f, &res, 0x01c00016);
	enroll_result_clear(&res);
}

static void enroll_replaces_the_record_of_an_enrolled_ak(void **state)
{
	struct fx *f = *state;
	struct enroll_result first, second;
	X509 *a, *b;

	assert_int_equal(fx_enroll(f, f->id, &first), 0);
	a = load_pem_cert(first.cert_path);
	assert_int_equal(fx_enroll(f, f->id, &second), 0);
	assert_int_equal(second.replaced, 1);
	assert_string_equal(first.cert_path, second.cert_path);
	b = load_pem_cert(second.cert_path);
	assert_int_not_equal(X509_cmp(a, b), 0); /* a new serial */
	assert_int_equal(count_runners(f), 1);
	X509_free(a);
	X509_free(b);
	enroll_result_clear(&first);
	enroll_result_clear(&second);
}

static void enroll_cli_prints_each_step_and_the_certificate(void **state)
{
	struct fx *f = *state;
	char out[8192];
	const char *ok[] = {
		AICERT_CLI, "enroll",     "--agent",      f->agent.local_url,   "--ca",
		f->ca_dir,  "--ek-roots", f->tpm.ek_root, "--ek-intermediates", f->tpm.ek_issuer,
		NULL};
	const char *refused[] = {AICERT_CLI,         "enroll",       "--agent",
				 f->agent.local_url, "--ca",         f->ca_dir,
				 "--ek-roots",       f->tpm.ek_root, NULL};

	assert_int_equal(harness_run_capture(refused, out, sizeof(out), NULL), 1);
	assert_non_null(strstr(out,
			       "[1/6] EK certificate: REFUSED: EK certificate chain: unable "
			       "to get local issuer certificate (depth 0, subject CN=unknown)"));
	assert_null(strstr(out, "[2/6]"));
	assert_int_equal(count_runners(f), 0);
	assert_int_equal(harness_run_capture(ok, out, sizeof(out), NULL), 0);
	for (int i = 1; i <= 6; i++) {
		char step[16];

		snprintf(step, sizeof(step), "[%d/6] ", i);
		assert_non_null(strstr(out, step));
	}
	assert_non_null(strstr(out, "[5/6] credential activation: ok"));
	assert_non_null(strstr(out, "enrolled: AK certificate "));
	assert_non_null(strstr(out, "/runners/000b"));
	assert_int_equal(count_runners(f), 1);
}

/* ---- enrollment refuses -------------------------------------------------------------------- */

static void enroll_refuses_an_ek_certificate_from_another_ca(void **state)
{
	struct fx *f = *state;

	assert_int_equal(harness_swtpm_start(&f->other), 0);
	assert_int_equal(fx_roots(f, &f->other), 0);
	assert_refused(f, f->id, ENROLL_STEP_EK_CERT,
		       "EK certificate chain: unable to get local issuer certificate (depth 0, "
		       "subject CN=unknown)");
	assert_int_equal(f->activations, 0);
}

static void enroll_refuses_an_ek_that_is_not_the_certificates(void **state)
{
	struct fx *f = *state;
	ProtobufCBinaryData saved = f->id->ek_public;
	uint8_t other[sizeof(TPMT_PUBLIC)];

	assert_int_equal(harness_swtpm_start(&f->other), 0);
	f->id->ek_public.len = other_ek_public(&f->other, other, sizeof(other));
	f->id->ek_public.data = other;
	assert_refused(f, f->id, ENROLL_STEP_EK_KEY,
		       "EK public key: the TPM's EK is not the EK certificate's key");
	f->id->ek_public = saved;
	assert_int_equal(f->activations, 0);
}

static void enroll_refuses_an_unrestricted_ak(void **state)
{
	struct fx *f = *state;
	ProtobufCBinaryData saved_pub = f->id->ak_public, saved_name = f->id->ak_name;
	uint8_t pub[sizeof(TPMT_PUBLIC)];
	TPMT_PUBLIC key;
	TPM2B_NAME name;

	/* The agent is the only TPM user while it runs. */
	assert_int_equal(agentproc_stop(&f->agent), 0);
	unrestricted_key(&f->tpm, &key);
	assert_int_equal(tpmkey_name(&key, &name), 0);
	f->id->ak_public.len = marshal_public(&key, pub, sizeof(pub));
	f->id->ak_public.data = pub;
	f->id->ak_name.len = name.size;
	f->id->ak_name.data = name.name;
	assert_refused(f, f->id, ENROLL_STEP_AK_ATTRIBUTES,
		       "AK attribute restricted is clear, an attestation key needs it set");
	f->id->ak_public = saved_pub;
	f->id->ak_name = saved_name;
	assert_int_equal(f->activations, 0);
}

static void enroll_refuses_a_claimed_name_that_is_not_the_aks(void **state)
{
	struct fx *f = *state;

	f->id->ak_name.data[f->id->ak_name.len - 1] ^= 0x01;
	assert_refused(f, f->id, ENROLL_STEP_AK_NAME,
		       "AK name: the agent claims a name (34 bytes) that is not the name of its "
		       "AK public area");
	f->id->ak_name.data[f->id->ak_name.len - 1] ^= 0x01;
	assert_int_equal(f->activations, 0);
}

static void refuses_a_wrong_activation_answer(struct fx *f)
{

	f->tamper = 1;
	assert_refused(f, f->id, ENROLL_STEP_ACTIVATE,
		       "credential activation: the agent returned a wrong secret");
	assert_int_equal(f->activations, 1);
	/* The TPM itself did answer: the untampered run enrolls. */
	f->tamper = 0;
	{
		struct enroll_result res;

		assert_int_equal(fx_enroll(f, f->id, &res), 0);
		enroll_result_clear(&res);
	}
}

static void enroll_refuses_a_wrong_activation_answer_rsa_ek(void **state)
{
	refuses_a_wrong_activation_answer(*state);
}

static void enroll_refuses_a_wrong_activation_answer_ecc_ek(void **state)
{
	refuses_a_wrong_activation_answer(*state);
}

/* ---- the CA --------------------------------------------------------------------------------- */

static void ca_init_refuses_an_existing_ca(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX + 16], before[8192], after[8192];
	const char *cli[] = {AICERT_CLI, "ca", "init", "--dir", f->ca_dir, NULL};
	X509 *x = ca_cert(f->ca);
	struct stat st;
	int idx;

	snprintf(path, sizeof(path), "%s/ca.crt", f->ca_dir);
	read_text(path, before, sizeof(before));
	assert_int_equal(ca_init(f->ca_dir, NULL), AICERT_ERR_EXISTS);
	assert_int_equal(harness_run(cli), 1);
	read_text(path, after, sizeof(after));
	assert_string_equal(before, after);
	snprintf(path, sizeof(path), "%s/ca.key", f->ca_dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* CA:TRUE pathlen 0 and keyCertSign|cRLSign, both critical, and an SKI. */
	assert_int_equal(X509_check_ca(x), 1);
	assert_int_equal(X509_get_pathlen(x), 0);
	assert_int_equal(X509_get_key_usage(x), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	idx = X509_get_ext_by_NID(x, NID_basic_constraints, -1);
	assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(x, idx)), 1);
	idx = X509_get_ext_by_NID(x, NID_key_usage, -1);
	assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(x, idx)), 1);
	assert_non_null(X509_get0_subject_key_id(x));
	/* A new directory through the CLI, RSA this time. */
	snprintf(path, sizeof(path), "%s/ca-rsa", f->ca_dir);
	{
		const char *rsa[] = {AICERT_CLI, "ca", "init", "--dir", path, "--alg", "rsa", NULL};

		assert_int_equal(harness_run(rsa), 0);
		assert_int_equal(harness_run(rsa), 1);
	}
}

static void ca_verify_ak_cert_rejects_another_ca_key_or_time(void **state)
{
	struct fx *f = *state;
	struct enroll_result res;
	char other_dir[PATH_MAX + 16];
	struct ca *other = NULL;
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	TPMT_PUBLIC ak, wrong;
	X509 *x;
	int r;

	assert_int_equal(fx_enroll(f, f->id, &res), 0);
	x = load_pem_cert(res.cert_path);
	assert_int_equal(tpmkey_parse_public(f->id->ak_public.data, f->id->ak_public.len, &ak), 0);
	snprintf(other_dir, sizeof(other_dir), "%s/other-ca", f->ca_dir);
	assert_int_equal(ca_init(other_dir, NULL), 0);
	assert_int_equal(ca_open(other_dir, &other), 0);
	r = ca_verify_ak_cert(x, ca_cert(other), &ak, time(NULL));
	assert_int_equal(r, AICERT_ERR_REJECTED);
	assert_msg(r, "AK certificate chain: ");
	r = ca_verify_ak_cert(x, ca_cert(f->ca), &ak, time(NULL) + 3651L * 86400);
	assert_int_equal(r, AICERT_ERR_REJECTED);
	assert_msg(r, "AK certificate chain: certificate has expired (depth 0");
	assert_int_equal(tpmkey_from_evp(k, ak.objectAttributes, &wrong), 0);
	r = ca_verify_ak_cert(x, ca_cert(f->ca), &wrong, time(NULL));
	assert_int_equal(r, AICERT_ERR_REJECTED);
	assert_msg(r, "its key is not the AK's");
	/* The CA refuses to certify a key that is not an attestation key. */
	wrong.objectAttributes &= ~TPMA_OBJECT_RESTRICTED;
	assert_int_equal(
		ca_issue_ak_cert(f->ca, &wrong, (const uint8_t *)"x", 1, time(NULL), 0, &x),
		AICERT_ERR_REJECTED);
	X509_free(x);
	ca_free(other);
	EVP_PKEY_free(k);
	enroll_result_clear(&res);
}

int main(void)
{
#define T(name, setup) cmocka_unit_test_setup_teardown(name, setup, fx_teardown)
	const struct CMUnitTest enroll_tests[] = {
		T(enroll_succeeds_with_the_rsa_ek, fx_setup_rsa),
		T(enroll_succeeds_with_the_ecc_p384_ek, fx_setup_ecc),
		T(enroll_replaces_the_record_of_an_enrolled_ak, fx_setup_rsa),
		T(enroll_cli_prints_each_step_and_the_certificate, fx_setup_ecc),
		T(enroll_refuses_an_ek_certificate_from_another_ca, fx_setup_rsa),
		T(enroll_refuses_an_ek_that_is_not_the_certificates, fx_setup_rsa),
		T(enroll_refuses_an_unrestricted_ak, fx_setup_rsa),
		T(enroll_refuses_a_claimed_name_that_is_not_the_aks, fx_setup_ecc),
		T(enroll_refuses_a_wrong_activation_answer_rsa_ek, fx_setup_rsa),
		T(enroll_refuses_a_wrong_activation_answer_ecc_ek, fx_setup_ecc),
	};
	const struct CMUnitTest ca_tests[] = {
		T(ca_init_refuses_an_existing_ca, fx_setup_rsa),
		T(ca_verify_ak_cert_rejects_another_ca_key_or_time, fx_setup_ecc),
	};
	int failed = 0;

	failed += cmocka_run_group_tests_name("enroll", enroll_tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("ca", ca_tests, NULL, NULL);
	return failed;
#undef T
}
