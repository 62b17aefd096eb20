/* agent/tpm.c against a real swtpm, one per test. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tctildr.h>

#include "err.h"
#include "harness.h"
#include "hex.h"
#include "tpm.h"

#define EK_RSA_CERT_NV 0x01c00002u
#define EK_ECC_CERT_NV 0x01c00016u

struct fx {
	struct harness_swtpm h;
	char state_dir[PATH_MAX];
	struct tpm *t;
};

struct cred {
	uint8_t blob[sizeof(TPM2B_ID_OBJECT)];
	size_t blob_len;
	uint8_t secret[sizeof(TPM2B_ENCRYPTED_SECRET)];
	size_t secret_len;
};

static const uint8_t nonce[20] = "aicert-test-nonce-01";

/* ---- helpers --------------------------------------------------------------- */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (harness_swtpm_start(&f->h) < 0 || harness_path(&f->h, "agent", f->state_dir) < 0 ||
	    mkdir(f->state_dir, 0700) < 0) {
		harness_swtpm_stop(&f->h);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	if (f) {
		tpm_free(f->t);
		harness_swtpm_stop(&f->h);
		free(f);
	}
	return 0;
}

static int fx_open(struct fx *f, enum tpm_keyalg ek, enum tpm_keyalg ak, struct tpm **t)
{
	struct tpm_opts o = {
		.tcti = f->h.tcti, .state_dir = f->state_dir, .ek_alg = ek, .ak_alg = ak};
	int r = tpm_open(&o, t);

	if (r < 0)
		print_message("tpm_open: %s\n", err_msg(r));
	return r;
}

/* Opens f->t, asserting success. */
static struct tpm *fx_tpm(struct fx *f, enum tpm_keyalg ek, enum tpm_keyalg ak)
{
	assert_int_equal(fx_open(f, ek, ak, &f->t), 0);
	return f->t;
}

static void state_file(const struct fx *f, const char *name, char out[PATH_MAX])
{
	int n = snprintf(out, PATH_MAX, "%s/%s", f->state_dir, name);

	assert_true(n > 0 && n < PATH_MAX);
}

static void esys_open(struct fx *f, ESYS_CONTEXT **esys, TSS2_TCTI_CONTEXT **tcti)
{
	assert_int_equal(Tss2_TctiLdr_Initialize(f->h.tcti, tcti), TSS2_RC_SUCCESS);
	assert_int_equal(Esys_Initialize(esys, *tcti, NULL), TSS2_RC_SUCCESS);
}

static void esys_close(ESYS_CONTEXT **esys, TSS2_TCTI_CONTEXT **tcti)
{
	Esys_Finalize(esys);
	Tss2_TctiLdr_Finalize(tcti);
}

static void unmarshal_public(const uint8_t *buf, size_t len, TPM2B_PUBLIC *pub)
{
	size_t off = 0;

	memset(pub, 0, sizeof(*pub));
	assert_int_equal(Tss2_MU_TPMT_PUBLIC_Unmarshal(buf, len, &off, &pub->publicArea), 0);
	assert_int_equal(off, len);
}

/* MakeCredential as an attestation CA does it: with the EK public the agent
 * reports, loaded into the NULL hierarchy of the same TPM. */
static void make_credential(struct fx *f, const uint8_t *name, size_t name_len,
			    const uint8_t *secret, size_t secret_len, struct cred *c)
{
	ESYS_CONTEXT *esys = NULL;
	TSS2_TCTI_CONTEXT *tcti = NULL;
	TPM2B_PUBLIC ek;
	TPM2B_DIGEST cv = {.size = (uint16_t)secret_len};
	TPM2B_NAME n = {.size = (uint16_t)name_len};
	TPM2B_ID_OBJECT *blob = NULL;
	TPM2B_ENCRYPTED_SECRET *enc = NULL;
	ESYS_TR h = ESYS_TR_NONE;
	uint8_t *pub;
	size_t pub_len;

	assert_int_equal(tpm_ek_public(f->t, &pub, &pub_len), 0);
	unmarshal_public(pub, pub_len, &ek);
	free(pub);
	memcpy(cv.buffer, secret, secret_len);
	memcpy(n.name, name, name_len);
	esys_open(f, &esys, &tcti);
	assert_int_equal(Esys_LoadExternal(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, NULL,
					   &ek, ESYS_TR_RH_NULL, &h),
			 TSS2_RC_SUCCESS);
	assert_int_equal(Esys_MakeCredential(esys, h, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &cv,
					     &n, &blob, &enc),
			 TSS2_RC_SUCCESS);
	Esys_FlushContext(esys, h);
	c->blob_len = blob->size;
	memcpy(c->blob, blob->credential, blob->size);
	c->secret_len = enc->size;
	memcpy(c->secret, enc->secret, enc->size);
	Esys_Free(blob);
	Esys_Free(enc);
	esys_close(&esys, &tcti);
}

static void evict_persistent(struct fx *f, TPM2_HANDLE handle)
{
	ESYS_CONTEXT *esys = NULL;
	TSS2_TCTI_CONTEXT *tcti = NULL;
	ESYS_TR tr = ESYS_TR_NONE, out = ESYS_TR_NONE;

	esys_open(f, &esys, &tcti);
	assert_int_equal(
		Esys_TR_FromTPMPublic(esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr),
		TSS2_RC_SUCCESS);
	assert_int_equal(Esys_EvictControl(esys, ESYS_TR_RH_OWNER, tr, ESYS_TR_PASSWORD,
					   ESYS_TR_NONE, ESYS_TR_NONE, handle, &out),
			 TSS2_RC_SUCCESS);
	esys_close(&esys, &tcti);
}

/* How many handles of the type of first (transient objects, HMAC or policy
 * sessions) the TPM holds. */
static uint32_t count_handles(struct fx *f, TPM2_HANDLE first)
{
	ESYS_CONTEXT *esys = NULL;
	TSS2_TCTI_CONTEXT *tcti = NULL;
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	uint32_t n;

	esys_open(f, &esys, &tcti);
	assert_int_equal(Esys_GetCapability(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					    TPM2_CAP_HANDLES, first, TPM2_MAX_CAP_HANDLES, &more,
					    &cap),
			 TSS2_RC_SUCCESS);
	n = cap->data.handles.count;
	Esys_Free(cap);
	esys_close(&esys, &tcti);
	return n;
}

/* Spelt out: tss2's TPM2_TRANSIENT_FIRST shifts 0x80 as an int (UBSan). */
static void assert_loaded(struct fx *f, uint32_t objects)
{
	assert_int_equal(count_handles(f, 0x80000000u), objects); /* transient objects */
	assert_int_equal(count_handles(f, 0x02000000u), 0);       /* loaded sessions */
	assert_int_equal(count_handles(f, 0x03000000u), 0);       /* saved sessions */
}

static void ak_name(struct tpm *t, uint8_t **name, size_t *name_len)
{
	uint8_t *pub;
	size_t pub_len;

	assert_int_equal(tpm_ak_public(t, &pub, &pub_len, name, name_len), 0);
	free(pub);
}

static void activate_roundtrip(struct fx *f)
{
	static const uint8_t secret[32] = "a credential secret, 32 bytes..";
	struct cred c;
	uint8_t *name, *out = NULL;
	size_t name_len, out_len = 0;

	ak_name(f->t, &name, &name_len);
	make_credential(f, name, name_len, secret, sizeof(secret), &c);
	assert_int_equal(tpm_activate_credential(f->t, c.blob, c.blob_len, c.secret, c.secret_len,
						 &out, &out_len),
			 0);
	assert_int_equal(out_len, sizeof(secret));
	assert_memory_equal(out, secret, sizeof(secret));
	free(out);
	free(name);
}

/* The attest is a quote over nonce whose pcrDigest is SHA-256 of the values
 * in selection order. */
static void assert_quote_of(const uint8_t *attest, size_t attest_len,
			    const struct tpm_bank_values *v, size_t nbanks)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t md[32];
	TPMS_ATTEST a;
	size_t off = 0;

	assert_int_equal(Tss2_MU_TPMS_ATTEST_Unmarshal(attest, attest_len, &off, &a), 0);
	assert_int_equal(off, attest_len);
	assert_int_equal(a.magic, TPM2_GENERATED_VALUE);
	assert_int_equal(a.type, TPM2_ST_ATTEST_QUOTE);
	assert_int_equal(a.extraData.size, sizeof(nonce));
	assert_memory_equal(a.extraData.buffer, nonce, sizeof(nonce));
	assert_int_equal(a.attested.quote.pcrSelect.count, nbanks);
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (size_t b = 0; b < nbanks; b++)
		for (int i = 0; i < TPM_PCR_COUNT; i++)
			if (v[b].mask & (1u << i))
				EVP_DigestUpdate(ctx, v[b].digest[i], v[b].digest_len);
	EVP_DigestFinal_ex(ctx, md, NULL);
	EVP_MD_CTX_free(ctx);
	assert_int_equal(a.attested.quote.pcrDigest.size, 32);
	assert_memory_equal(a.attested.quote.pcrDigest.buffer, md, 32);
}

/* Quotes PCRs 0, 8, 14, 15 of SHA-256 and all of SHA-1; checks the attest. */
static void quote(struct tpm *t, uint8_t **attest, size_t *attest_len, uint8_t **sig,
		  size_t *sig_len)
{
	const struct tpm_bank banks[] = {{TPM_ALG_SHA256_ID, 0xc101}, {TPM_ALG_SHA1_ID, 0xffffff}};
	struct tpm_bank_values v[2];

	assert_int_equal(
		tpm_quote(t, nonce, sizeof(nonce), banks, 2, attest, attest_len, sig, sig_len, v),
		0);
	assert_int_equal(v[0].mask, 0xc101);
	assert_int_equal(v[1].mask, 0xffffff);
	assert_quote_of(*attest, *attest_len, v, 2);
}

/* tpm2_checkquote over files in tpm2-tools' formats; its exit status. */
static int checkquote(struct fx *f, const uint8_t *attest, size_t attest_len, const uint8_t *sig,
		      size_t sig_len, const uint8_t *q, size_t q_len)
{
	char pub_path[PATH_MAX], msg_path[PATH_MAX], sig_path[PATH_MAX], qhex[2 * 64 + 1];
	uint8_t *pub, *name, buf[sizeof(TPM2B_PUBLIC)];
	size_t pub_len, name_len, off = 0;
	TPM2B_PUBLIC p;

	assert_int_equal(tpm_ak_public(f->t, &pub, &pub_len, &name, &name_len), 0);
	unmarshal_public(pub, pub_len, &p);
	assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(&p, buf, sizeof(buf), &off), 0);
	free(pub);
	free(name);
	assert_int_equal(harness_path(&f->h, "ak.pub", pub_path), 0);
	assert_int_equal(harness_path(&f->h, "quote.msg", msg_path), 0);
	assert_int_equal(harness_path(&f->h, "quote.sig", sig_path), 0);
	assert_int_equal(harness_write_file(pub_path, buf, off), 0);
	assert_int_equal(harness_write_file(msg_path, attest, attest_len), 0);
	assert_int_equal(harness_write_file(sig_path, sig, sig_len), 0);
	hex_encode(q, q_len, qhex);
	{
		const char *argv[] = {"tpm2_checkquote", "-u", pub_path, "-m", msg_path, "-s",
				      sig_path,          "-q", qhex,     "-g", "sha256", NULL};
		char out[4096];

		return harness_run_capture(argv, out, sizeof(out), NULL);
	}
}

static void quote_and_check(struct fx *f)
{
	static const uint8_t wrong[sizeof(nonce)] = "another-nonce-000000";
	uint8_t *attest, *sig;
	size_t attest_len, sig_len;

	quote(f->t, &attest, &attest_len, &sig, &sig_len);
	assert_int_equal(checkquote(f, attest, attest_len, sig, sig_len, nonce, sizeof(nonce)), 0);
	assert_int_not_equal(checkquote(f, attest, attest_len, sig, sig_len, wrong, sizeof(wrong)),
			     0);
	sig[sig_len - 1] ^= 1;
	assert_int_not_equal(checkquote(f, attest, attest_len, sig, sig_len, nonce, sizeof(nonce)),
			     0);
	free(attest);
	free(sig);
}

static EVP_PKEY *cert_key(const struct tpm_ek_cert *c)
{
	const unsigned char *p = c->der;
	X509 *x = d2i_X509(NULL, &p, (long)c->der_len);
	EVP_PKEY *k;

	assert_non_null(x);
	assert_ptr_equal(p, c->der + c->der_len);
	k = X509_get_pubkey(x);
	X509_free(x);
	assert_non_null(k);
	return k;
}

static const struct tpm_ek_cert *find_cert(const struct tpm_ek_cert *c, size_t n, uint32_t nv)
{
	for (size_t i = 0; i < n; i++)
		if (c[i].nv_index == nv)
			return &c[i];
	fail_msg("no EK certificate at 0x%08x", nv);
	return NULL;
}

static void ek_public_of(struct tpm *t, TPM2B_PUBLIC *pub)
{
	uint8_t *buf;
	size_t len;

	assert_int_equal(tpm_ek_public(t, &buf, &len), 0);
	unmarshal_public(buf, len, pub);
	free(buf);
}

/* ---- AK creation and loading --------------------------------------------- */

static void tpm_open_creates_ak_and_reopen_loads_same_ak(void **state)
{
	struct fx *f = *state;
	struct tpm *t2 = NULL;
	uint8_t *n1, *n2;
	size_t l1, l2;
	char path[PATH_MAX];
	struct stat st;
	double t0 = now_ms();

	fx_tpm(f, TPM_KEYALG_DEFAULT, TPM_KEYALG_DEFAULT);
	print_message("open with ECC AK creation: %.1f ms\n", now_ms() - t0);
	assert_int_equal(tpm_ak_alg(f->t), TPM_KEYALG_ECC);
	assert_int_equal(tpm_ek_alg(f->t), TPM_KEYALG_RSA);
	state_file(f, "ak.priv", path);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	ak_name(f->t, &n1, &l1);
	assert_int_equal(l1, 34);
	assert_loaded(f, 1);
	tpm_free(f->t);
	f->t = NULL;
	/* A second context on the same state_dir keeps the AK, whatever ak_alg says. */
	t0 = now_ms();
	assert_int_equal(fx_open(f, TPM_KEYALG_RSA, TPM_KEYALG_RSA, &t2), 0);
	print_message("open with AK load: %.1f ms\n", now_ms() - t0);
	f->t = t2;
	assert_int_equal(tpm_ak_alg(t2), TPM_KEYALG_ECC);
	ak_name(t2, &n2, &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(n1, n2, l1);
	free(n1);
	free(n2);
}

static void tpm_open_rejects_ak_pub_with_trailing_bytes(void **state)
{
	struct fx *f = *state;
	struct tpm *t = NULL;
	char path[PATH_MAX];
	FILE *fp;

	fx_tpm(f, TPM_KEYALG_DEFAULT, TPM_KEYALG_DEFAULT);
	tpm_free(f->t);
	f->t = NULL;
	state_file(f, "ak.pub", path);
	fp = fopen(path, "ab");
	assert_non_null(fp);
	fputc(0, fp);
	fclose(fp);
	assert_int_equal(fx_open(f, 0, 0, &t), AICERT_ERR_INVALID);
	assert_null(t);
}

static void tpm_open_refuses_ak_pub_without_ak_priv(void **state)
{
	struct fx *f = *state;
	struct tpm *t = NULL;
	char path[PATH_MAX];

	fx_tpm(f, TPM_KEYALG_DEFAULT, TPM_KEYALG_DEFAULT);
	tpm_free(f->t);
	f->t = NULL;
	state_file(f, "ak.priv", path);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(fx_open(f, 0, 0, &t), AICERT_ERR_STATE);
}

static void tpm_rsa_ak_quote_verifies(void **state)
{
	struct fx *f = *state;
	double t0 = now_ms();

	fx_tpm(f, TPM_KEYALG_RSA, TPM_KEYALG_RSA);
	print_message("open with RSA AK creation: %.1f ms\n", now_ms() - t0);
	assert_int_equal(tpm_ak_alg(f->t), TPM_KEYALG_RSA);
	quote_and_check(f);
}

/* ---- quote ------------------------------------------------------------ */

static void tpm_ecc_ak_quote_verifies_and_binds_nonce(void **state)
{
	struct fx *f = *state;
	uint8_t *attest, *sig;
	size_t attest_len, sig_len;
	double t0;

	fx_tpm(f, TPM_KEYALG_DEFAULT, TPM_KEYALG_ECC);
	quote_and_check(f);
	t0 = now_ms();
	for (int i = 0; i < 10; i++) {
		quote(f->t, &attest, &attest_len, &sig, &sig_len);
		free(attest);
		free(sig);
	}
	print_message("tpm_quote (ECC, 2 banks, with PCR read): %.2f ms\n", (now_ms() - t0) / 10);
}

struct extender {
	const char *tcti;
	atomic_int stop;
	atomic_int count;
};

/* Extends PCR 14 through its own connection until told to stop. */
static void *extend_loop(void *arg)
{
	struct extender *e = arg;
	TPML_DIGEST_VALUES d = {.count = 1};
	TSS2_TCTI_CONTEXT *tcti = NULL;
	ESYS_CONTEXT *esys = NULL;

	d.digests[0].hashAlg = TPM2_ALG_SHA256;
	if (Tss2_TctiLdr_Initialize(e->tcti, &tcti) != TSS2_RC_SUCCESS)
		return NULL;
	if (Esys_Initialize(&esys, tcti, NULL) == TSS2_RC_SUCCESS) {
		while (!atomic_load(&e->stop)) {
			if (Esys_PCR_Extend(esys, ESYS_TR_PCR0 + 14, ESYS_TR_PASSWORD, ESYS_TR_NONE,
					    ESYS_TR_NONE, &d) == TSS2_RC_SUCCESS)
				atomic_fetch_add(&e->count, 1);
			usleep(1000); /* leave gaps, so that retries can succeed */
		}
		Esys_Finalize(&esys);
	}
	Tss2_TctiLdr_Finalize(&tcti);
	return NULL;
}

/* Another TPM user extends the quoted PCR all the time: every quote returned
 * comes with the values it signed, or the call fails with STATE. */
static void tpm_quote_values_match_the_quote_while_pcrs_change(void **state)
{
	struct fx *f = *state;
	const struct tpm_bank bank = {TPM_ALG_SHA256_ID, 1u << 14};
	struct extender e = {.tcti = f->h.tcti};
	struct tpm_bank_values v;
	int ok = 0, busy = 0;
	pthread_t th;

	fx_tpm(f, TPM_KEYALG_DEFAULT, TPM_KEYALG_DEFAULT);
	assert_int_equal(pthread_create(&th, NULL, extend_loop, &e), 0);
	for (int i = 0; i < 200 && atomic_load(&e.count) == 0; i++)
		usleep(10000);
	for (int i = 0; i < 50; i++) {
		uint8_t *a = NULL, *s = NULL;
		size_t al, sl;
		int r = tpm_quote(f->t, nonce, sizeof(nonce), &bank, 1, &a, &al, &s, &sl, &v);

		if (r == 0) {
			assert_quote_of(a, al, &v, 1);
			ok++;
		} else {
			assert_int_equal(r, AICERT_ERR_STATE);
			busy++;
		}
		free(a);
		free(s);
	}
	atomic_store(&e.stop, 1);
	pthread_join(th, NULL);
	print_message("50 quotes during %d extends: %d consistent, %d gave up\n",
		      atomic_load(&e.count), ok, busy);
	assert_true(atomic_load(&e.count) > 0);
}

static void tpm_quote_rejects_bad_qualifying_data_and_selection(void **state)
{
	struct fx *f = *state;
	const struct tpm_bank ok = {TPM_ALG_SHA256_ID, 1};
	const struct tpm_bank past23 = {TPM_ALG_SHA256_ID, 1u << 24};
	const struct tpm_bank twice[] = {ok, ok};
	struct tpm_bank_values v[2];
	uint8_t q[65] = {0}, *a = NULL, *s = NULL;
	size_t al, sl;

	fx_tpm(f, TPM_KEYALG_DEFAULT, TPM_KEYALG_DEFAULT);
	assert_int_equal(tpm_quote(f->t, q, 0, &ok, 1, &a, &al, &s, &sl, v), AICERT_ERR_INVALID);
	assert_int_equal(tpm_quote(f->t, q, 65, &ok, 1, &a, &al, &s, &sl, v), AICERT_ERR_INVALID);
	assert_int_equal(tpm_quote(f->t, q, 1, &past23, 1, &a, &al, &s, &sl, v),
			 AICERT_ERR_INVALID);
	assert_int_equal(tpm_quote(f->t, q, 1, twice, 2, &a, &al, &s, &sl, v), AICERT_ERR_INVALID);
	assert_int_equal(tpm_quote(f->t, q, 1, &ok, 0, &a, &al, &s, &sl, v), AICERT_ERR_INVALID);
	assert_null(a);
	assert_null(s);
	assert_int_equal(tpm_quote(f->t, q, 64, &ok, 1, &a, &al, &s, &sl, v), 0);
	free(a);
	free(s);
}

/* ---- EK ---------------------------------------------------------------- */

static void tpm_ek_certs_parse_and_match_rsa_ek_public(void **state)
{
	struct fx *f = *state;
	struct tpm_ek_cert *c = NULL;
	TPM2B_PUBLIC ek;
	BIGNUM *n = NULL;
	uint8_t mod[256];
	size_t count = 0;
	EVP_PKEY *k;

	fx_tpm(f, TPM_KEYALG_RSA, TPM_KEYALG_DEFAULT);
	assert_int_equal(tpm_ek_certs(f->t, &c, &count), 0);
	assert_int_equal(count, 2);
	assert_int_equal(c[0].nv_index, EK_RSA_CERT_NV);
	assert_int_equal(c[1].nv_index, EK_ECC_CERT_NV);
	EVP_PKEY_free(cert_key(&c[1]));
	k = cert_key(find_cert(c, count, EK_RSA_CERT_NV));
	assert_true(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n));
	assert_int_equal(BN_bn2binpad(n, mod, sizeof(mod)), 256);
	ek_public_of(f->t, &ek);
	assert_int_equal(ek.publicArea.type, TPM2_ALG_RSA);
	assert_int_equal(ek.publicArea.unique.rsa.size, 256);
	assert_memory_equal(ek.publicArea.unique.rsa.buffer, mod, 256);
	BN_free(n);
	EVP_PKEY_free(k);
	tpm_ek_certs_free(c, count);
	tpm_ek_certs_free(NULL, 0);
}

/* An owner-readable 2000-byte "certificate" at the ECC P-256 EK cert index,
 * written in two parts (NV_BUFFER_MAX is 1024 on swtpm). */
static void define_nv_blob(struct fx *f, uint32_t index, const uint8_t *buf, uint16_t len)
{
	ESYS_CONTEXT *esys = NULL;
	TSS2_TCTI_CONTEXT *tcti = NULL;
	const TPM2B_AUTH auth = {0};
	TPM2B_NV_PUBLIC pub = {0};
	ESYS_TR nv = ESYS_TR_NONE;

	pub.nvPublic.nvIndex = index;
	pub.nvPublic.nameAlg = TPM2_ALG_SHA256;
	pub.nvPublic.attributes = TPMA_NV_OWNERWRITE | TPMA_NV_OWNERREAD | TPMA_NV_NO_DA;
	pub.nvPublic.dataSize = len;
	esys_open(f, &esys, &tcti);
	assert_int_equal(Esys_NV_DefineSpace(esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
					     ESYS_TR_NONE, &auth, &pub, &nv),
			 TSS2_RC_SUCCESS);
	for (uint16_t off = 0; off < len; off += 1000) {
		TPM2B_MAX_NV_BUFFER d = {.size = len - off < 1000 ? len - off : 1000};

		memcpy(d.buffer, buf + off, d.size);
		assert_int_equal(Esys_NV_Write(esys, ESYS_TR_RH_OWNER, nv, ESYS_TR_PASSWORD,
					       ESYS_TR_NONE, ESYS_TR_NONE, &d, off),
				 TSS2_RC_SUCCESS);
	}
	esys_close(&esys, &tcti);
}

static void tpm_ek_certs_reads_past_nv_buffer_max_in_index_order(void **state)
{
	struct fx *f = *state;
	struct tpm_ek_cert *c = NULL;
	uint8_t blob[2000];
	size_t count = 0;

	for (size_t i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)(i * 7 + 3);
	define_nv_blob(f, 0x01c0000a, blob, sizeof(blob));
	fx_tpm(f, TPM_KEYALG_DEFAULT, TPM_KEYALG_DEFAULT);
	assert_int_equal(tpm_ek_certs(f->t, &c, &count), 0);
	assert_int_equal(count, 3);
	assert_int_equal(c[0].nv_index, EK_RSA_CERT_NV);
	assert_int_equal(c[1].nv_index, 0x01c0000a);
	assert_int_equal(c[2].nv_index, EK_ECC_CERT_NV);
	assert_int_equal(c[1].der_len, sizeof(blob));
	assert_memory_equal(c[1].der, blob, sizeof(blob));
	tpm_ek_certs_free(c, count);
}

static void tpm_ecc_ek_is_swtpm_p384_and_matches_its_cert(void **state)
{
	struct fx *f = *state;
	struct tpm_ek_cert *c = NULL;
	TPM2B_PUBLIC ek;
	uint8_t point[1 + 2 * 48];
	size_t count = 0, len = 0;
	EVP_PKEY *k;

	fx_tpm(f, TPM_KEYALG_ECC, TPM_KEYALG_ECC);
	assert_int_equal(tpm_ek_alg(f->t), TPM_KEYALG_ECC);
	ek_public_of(f->t, &ek);
	assert_int_equal(ek.publicArea.parameters.eccDetail.curveID, TPM2_ECC_NIST_P384);
	assert_int_equal(tpm_ek_certs(f->t, &c, &count), 0);
	k = cert_key(find_cert(c, count, EK_ECC_CERT_NV));
	assert_true(EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, point,
						    sizeof(point), &len));
	assert_int_equal(len, sizeof(point));
	assert_memory_equal(point + 1, ek.publicArea.unique.ecc.x.buffer, 48);
	assert_memory_equal(point + 49, ek.publicArea.unique.ecc.y.buffer, 48);
	EVP_PKEY_free(k);
	tpm_ek_certs_free(c, count);
	/* The P-384 EK has userWithAuth: the AK under it works without a policy. */
	quote_and_check(f);
	activate_roundtrip(f);
}

static void tpm_transient_rsa_ek_equals_persistent_and_survives_restart(void **state)
{
	struct fx *f = *state;
	TPM2B_PUBLIC persistent, transient;
	double t0;

	fx_tpm(f, TPM_KEYALG_RSA, TPM_KEYALG_ECC);
	ek_public_of(f->t, &persistent);
	tpm_free(f->t);
	f->t = NULL;
	evict_persistent(f, 0x81010001);
	t0 = now_ms();
	fx_tpm(f, TPM_KEYALG_RSA, TPM_KEYALG_ECC);
	print_message("open with RSA EK CreatePrimary: %.1f ms\n", now_ms() - t0);
	ek_public_of(f->t, &transient);
	assert_memory_equal(&persistent.publicArea, &transient.publicArea,
			    sizeof(persistent.publicArea));
	activate_roundtrip(f);
	assert_loaded(f, 2); /* the EK and the AK */
	assert_int_equal(harness_swtpm_restart(&f->h), 0);
	quote_and_check(f);
	activate_roundtrip(f);
	assert_loaded(f, 2);
	tpm_free(f->t);
	f->t = NULL;
	assert_loaded(f, 0);
}

static void tpm_ecc_ek_from_template_l2_when_none_persistent(void **state)
{
	struct fx *f = *state;
	TPM2B_PUBLIC ek;

	evict_persistent(f, 0x81010016);
	fx_tpm(f, TPM_KEYALG_ECC, TPM_KEYALG_ECC);
	ek_public_of(f->t, &ek);
	assert_int_equal(ek.publicArea.type, TPM2_ALG_ECC);
	assert_int_equal(ek.publicArea.parameters.eccDetail.curveID, TPM2_ECC_NIST_P256);
	assert_int_equal(ek.publicArea.unique.ecc.x.size, 32);
	activate_roundtrip(f);
	quote_and_check(f);
}

/* ---- PCRs ------------------------------------------------------------ */

static void tpm_extend_is_sha256_of_old_value_and_digest(void **state)
{
	struct fx *f = *state;
	const struct tpm_bank b = {TPM_ALG_SHA256_ID, 1u << 14};
	struct tpm_bank_values old, now;
	uint8_t d[32], expect[32], got[32];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint32_t counter;

	fx_tpm(f, TPM_KEYALG_DEFAULT, TPM_KEYALG_DEFAULT);
	memset(d, 0xab, sizeof(d));
	for (int round = 0; round < 2; round++) {
		assert_int_equal(tpm_pcr_read(f->t, &b, 1, &old, &counter), 0);
		assert_int_equal(tpm_extend(f->t, 14, d, got), 0);
		EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
		EVP_DigestUpdate(ctx, old.digest[14], 32);
		EVP_DigestUpdate(ctx, d, 32);
		EVP_DigestFinal_ex(ctx, expect, NULL);
		assert_memory_equal(got, expect, 32);
		assert_int_equal(tpm_pcr_read(f->t, &b, 1, &now, &counter), 0);
		assert_memory_equal(now.digest[14], expect, 32);
	}
	EVP_MD_CTX_free(ctx);
	assert_int_equal(tpm_extend(f->t, 24, d, got), AICERT_ERR_INVALID);
	/* PCR 17 needs locality 4. */
	assert_int_equal(tpm_extend(f->t, 17, d, got), AICERT_ERR_PERMISSION);
}

static void tpm_pcr_read_reads_both_banks_past_eight_pcrs(void **state)
{
	struct fx *f = *state;
	const struct tpm_bank banks[] = {{TPM_ALG_SHA256_ID, 0xffffff},
					 {TPM_ALG_SHA1_ID, 0x00fff0}};
	struct tpm_bank_values v[2];
	uint8_t d[32] = {1}, val[32], zero[32] = {0};
	uint32_t counter = 0;

	fx_tpm(f, TPM_KEYALG_DEFAULT, TPM_KEYALG_DEFAULT);
	assert_int_equal(tpm_extend(f->t, 23, d, val), 0);
	assert_int_equal(tpm_pcr_read(f->t, banks, 2, v, &counter), 0);
	assert_true(counter > 0);
	assert_int_equal(v[0].hash_alg, TPM_ALG_SHA256_ID);
	assert_int_equal(v[0].mask, 0xffffff);
	assert_int_equal(v[0].digest_len, 32);
	assert_memory_equal(v[0].digest[23], val, 32);
	assert_memory_equal(v[0].digest[10], zero, 32);
	assert_int_equal(v[1].hash_alg, TPM_ALG_SHA1_ID);
	assert_int_equal(v[1].mask, 0x00fff0);
	assert_int_equal(v[1].digest_len, 20);
	assert_memory_equal(v[1].digest[15], zero, 20);
}

static void tpm_pcr_read_rejects_missing_bank_and_bad_selection(void **state)
{
	struct fx *f = *state;
	const struct tpm_bank sha384 = {TPM_ALG_SHA384_ID, 1};
	const struct tpm_bank sm3 = {0x0012, 1};
	const struct tpm_bank none = {TPM_ALG_SHA256_ID, 0};
	struct tpm_bank_values v;
	uint32_t counter;

	fx_tpm(f, TPM_KEYALG_DEFAULT, TPM_KEYALG_DEFAULT);
	assert_int_equal(tpm_pcr_read(f->t, &sha384, 1, &v, &counter), AICERT_ERR_NOT_FOUND);
	assert_int_equal(tpm_pcr_read(f->t, &sm3, 1, &v, &counter), AICERT_ERR_INVALID);
	assert_int_equal(tpm_pcr_read(f->t, &none, 1, &v, &counter), AICERT_ERR_INVALID);
}

/* ---- credential activation ------------------------------------------------ */

static void tpm_activate_credential_returns_the_secret(void **state)
{
	struct fx *f = *state;

	fx_tpm(f, TPM_KEYALG_RSA, TPM_KEYALG_ECC);
	activate_roundtrip(f);
}

static void tpm_activate_credential_for_another_name_fails(void **state)
{
	struct fx *f = *state;
	static const uint8_t secret[16] = "0123456789abcdef";
	struct cred c;
	uint8_t *name, *out = NULL;
	size_t name_len, out_len;

	fx_tpm(f, TPM_KEYALG_RSA, TPM_KEYALG_ECC);
	ak_name(f->t, &name, &name_len);
	name[name_len - 1] ^= 1;
	make_credential(f, name, name_len, secret, sizeof(secret), &c);
	assert_int_equal(tpm_activate_credential(f->t, c.blob, c.blob_len, c.secret, c.secret_len,
						 &out, &out_len),
			 AICERT_ERR_INVALID);
	assert_null(out);
	assert_int_equal(
		tpm_activate_credential(f->t, c.blob, 0, c.secret, c.secret_len, &out, &out_len),
		AICERT_ERR_INVALID);
	assert_int_equal(
		tpm_activate_credential(f->t, c.blob, c.blob_len, c.secret, 70000, &out, &out_len),
		AICERT_ERR_INVALID);
	assert_loaded(f, 1); /* the AK; the EK is persistent, the session flushed */
	free(name);
}

/* ---- TPM lifecycle ------------------------------------------------------ */

static void tpm_restart_changes_reset_count_and_ak_is_reloaded(void **state)
{
	struct fx *f = *state;
	uint32_t reset1, restart1, reset2, restart2;
	char m[5];

	fx_tpm(f, TPM_KEYALG_DEFAULT, TPM_KEYALG_DEFAULT);
	assert_int_equal(tpm_manufacturer(f->t, m), 0);
	assert_string_equal(m, "IBM");
	assert_int_equal(tpm_clock(f->t, &reset1, &restart1), 0);
	quote_and_check(f);
	assert_int_equal(harness_swtpm_restart(&f->h), 0);
	assert_int_equal(tpm_clock(f->t, &reset2, &restart2), 0);
	assert_int_not_equal(reset1, reset2);
	quote_and_check(f);
	assert_int_equal(harness_swtpm_restart(&f->h), 0);
	activate_roundtrip(f);
}

static void tpm_open_starts_an_uninitialised_tpm(void **state)
{
	struct fx *f = *state;
	uint32_t reset, restart;

	harness_swtpm_stop(&f->h);
	assert_int_equal(harness_swtpm_start_uninitialised(&f->h), 0);
	assert_int_equal(harness_path(&f->h, "agent", f->state_dir), 0);
	assert_int_equal(mkdir(f->state_dir, 0700), 0);
	fx_tpm(f, TPM_KEYALG_DEFAULT, TPM_KEYALG_DEFAULT);
	assert_int_equal(tpm_clock(f->t, &reset, &restart), 0);
}

static void tpm_open_without_a_tpm_is_unavailable(void **state)
{
	struct tpm_opts o = {.tcti = "swtpm:host=127.0.0.1,port=1", .state_dir = "/nonexistent"};
	struct tpm *t = NULL;

	assert_int_equal(tpm_open(&o, &t), AICERT_ERR_UNAVAILABLE);
	assert_null(t);
	tpm_free(NULL);
}

#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(tpm_open_creates_ak_and_reopen_loads_same_ak),
		T(tpm_open_rejects_ak_pub_with_trailing_bytes),
		T(tpm_open_refuses_ak_pub_without_ak_priv),
		T(tpm_rsa_ak_quote_verifies),
		T(tpm_ecc_ak_quote_verifies_and_binds_nonce),
		T(tpm_quote_values_match_the_quote_while_pcrs_change),
		T(tpm_quote_rejects_bad_qualifying_data_and_selection),
		T(tpm_ek_certs_parse_and_match_rsa_ek_public),
		T(tpm_ek_certs_reads_past_nv_buffer_max_in_index_order),
		T(tpm_ecc_ek_is_swtpm_p384_and_matches_its_cert),
		T(tpm_transient_rsa_ek_equals_persistent_and_survives_restart),
		T(tpm_ecc_ek_from_template_l2_when_none_persistent),
		T(tpm_extend_is_sha256_of_old_value_and_digest),
		T(tpm_pcr_read_reads_both_banks_past_eight_pcrs),
		T(tpm_pcr_read_rejects_missing_bank_and_bad_selection),
		T(tpm_activate_credential_returns_the_secret),
		T(tpm_activate_credential_for_another_name_fails),
		T(tpm_restart_changes_reset_count_and_ak_is_reloaded),
		T(tpm_open_starts_an_uninitialised_tpm),
		cmocka_unit_test(tpm_open_without_a_tpm_is_unavailable),
	};

	/* ESYS logs every TPM error response, the expected ones too. */
	setenv("TSS2_LOG", "all+none", 0);
	return cmocka_run_group_tests_name("tpm", tests, NULL, NULL);
}
