/* The agent's TPM access through ESAPI: the context, the translation of
 * TSS2_RC, recovery after a TPM reset, PCRs, quotes and credential
 * activation. The EK lives in tpm_ek.c, the AK in tpm_ak.c. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "err.h"
#include "tpm.h"
#include "tpm_internal.h"

#define TPM_QUOTE_TRIES  3
#define TPM_PCR_MASK_ALL ((1u << TPM_PCR_COUNT) - 1)

/* ---- TSS2_RC ---------------------------------------------------------- */

TSS2_RC tpm_rc_base(TSS2_RC rc)
{
	TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;

	if (layer != TSS2_TPM_RC_LAYER && layer != TSS2_RESMGR_TPM_RC_LAYER)
		return 0;
	rc &= 0xffff;
	if (rc & TPM2_RC_FMT1)
		return rc & (TPM2_RC_FMT1 | 0x3f);
	return rc;
}

static int tpm_rc_code_tpm(TSS2_RC base)
{
	switch (base) {
	case TPM2_RC_INITIALIZE:
		return AICERT_ERR_STATE;
	case TPM2_RC_LOCALITY:
	case TPM2_RC_LOCKOUT:
	case TPM2_RC_AUTH_FAIL:
	case TPM2_RC_BAD_AUTH:
	case TPM2_RC_POLICY_FAIL:
		return AICERT_ERR_PERMISSION;
	case TPM2_RC_HANDLE:
	case TPM2_RC_REFERENCE_H0:
	case TPM2_RC_REFERENCE_H1:
		return AICERT_ERR_NOT_FOUND;
	case TPM2_RC_RETRY:
	case TPM2_RC_YIELDED:
	case TPM2_RC_TESTING:
	case TPM2_RC_CANCELED:
	case TPM2_RC_NV_RATE:
	case TPM2_RC_NV_UNAVAILABLE:
		return AICERT_ERR_UNAVAILABLE;
	case TPM2_RC_INTEGRITY:
		/* A blob (credential, saved key) that is not for this TPM. */
		return AICERT_ERR_INVALID;
	default:
		return AICERT_ERR_TPM;
	}
}

static int tpm_rc_code(TSS2_RC rc)
{
	TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;

	if (layer == TSS2_TPM_RC_LAYER || layer == TSS2_RESMGR_TPM_RC_LAYER)
		return tpm_rc_code_tpm(tpm_rc_base(rc));
	if (layer == TSS2_MU_RC_LAYER)
		return AICERT_ERR_INVALID; /* only untrusted bytes are unmarshalled */
	switch (rc & 0xffff) {
	case TSS2_BASE_RC_MEMORY:
		return AICERT_ERR_NOMEM;
	case TSS2_BASE_RC_NO_CONNECTION:
	case TSS2_BASE_RC_IO_ERROR:
	case TSS2_BASE_RC_TRY_AGAIN:
		return AICERT_ERR_UNAVAILABLE;
	case TSS2_BASE_RC_NOT_IMPLEMENTED:
	case TSS2_BASE_RC_NOT_SUPPORTED:
		return AICERT_ERR_UNSUPPORTED;
	default:
		return AICERT_ERR_TPM;
	}
}

int tpm_rc(TSS2_RC rc, const char *what)
{
	return err_set(tpm_rc_code(rc), "%s: %s (0x%x)", what, Tss2_RC_Decode(rc), (unsigned)rc);
}

/* The loaded AK (handle 1), or a transient EK (handle 2), is gone: the TPM
 * was reset underneath us. */
static int tpm_rc_objects_gone(TSS2_RC rc)
{
	TSS2_RC base = tpm_rc_base(rc);

	if (base == TPM2_RC_REFERENCE_H0 || base == TPM2_RC_REFERENCE_H1 ||
	    base == TPM2_RC_INITIALIZE)
		return 1;
	return base == TPM2_RC_HANDLE && !(rc & (TPM2_RC_P | TPM2_RC_S));
}

/* ---- small helpers ------------------------------------------------------ */

void tpm_flush(struct tpm *t, ESYS_TR *h)
{
	if (*h == ESYS_TR_NONE || *h == ESYS_TR_PASSWORD)
		return;
	if (Esys_FlushContext(t->esys, *h) != TSS2_RC_SUCCESS)
		Esys_TR_Close(t->esys, h);
	*h = ESYS_TR_NONE;
}

static int tpm_get_cap(struct tpm *t, TPM2_CAP cap, uint32_t first, TPMS_CAPABILITY_DATA **data)
{
	TPMI_YES_NO more;
	TSS2_RC rc;

	rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, cap, first, 1,
				&more, data);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_rc(rc, "TPM2_GetCapability");
	return 0;
}

int tpm_get_property(struct tpm *t, TPM2_PT property, uint32_t *value)
{
	TPMS_CAPABILITY_DATA *data = NULL;
	TPML_TAGGED_TPM_PROPERTY *props;
	int r;

	r = tpm_get_cap(t, TPM2_CAP_TPM_PROPERTIES, property, &data);
	if (r < 0)
		return r;
	props = &data->data.tpmProperties;
	if (props->count < 1 || props->tpmProperty[0].property != property)
		r = err_set(AICERT_ERR_NOT_FOUND, "the TPM has no property 0x%x", property);
	else
		*value = props->tpmProperty[0].value;
	Esys_Free(data);
	return r;
}

int tpm_handle_exists(struct tpm *t, TPM2_HANDLE handle, int *exists)
{
	TPMS_CAPABILITY_DATA *data = NULL;
	int r;

	r = tpm_get_cap(t, TPM2_CAP_HANDLES, handle, &data);
	if (r < 0)
		return r;
	*exists = data->data.handles.count > 0 && data->data.handles.handle[0] == handle;
	Esys_Free(data);
	return 0;
}

/* ---- open, free, recover ------------------------------------------------- */

/* A TPM answering TPM_RC_INITIALIZE was never started: firmware does that on
 * a real machine, a bare simulator waits for us. */
static int tpm_startup(struct tpm *t)
{
	TPMS_CAPABILITY_DATA *data = NULL;
	TPMI_YES_NO more;
	TSS2_RC rc;

	rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				TPM2_CAP_TPM_PROPERTIES, TPM2_PT_MANUFACTURER, 1, &more, &data);
	Esys_Free(data);
	if (rc == TSS2_RC_SUCCESS)
		return 0;
	if (tpm_rc_base(rc) != TPM2_RC_INITIALIZE)
		return tpm_rc(rc, "TPM2_GetCapability");
	rc = Esys_Startup(t->esys, TPM2_SU_CLEAR);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_rc(rc, "TPM2_Startup(CLEAR)");
	return 0;
}

static int tpm_connect(struct tpm *t, const char *tcti)
{
	TSS2_RC rc;

	rc = Tss2_TctiLdr_Initialize(tcti, &t->tcti);
	if (rc != TSS2_RC_SUCCESS) {
		t->tcti = NULL;
		return tpm_rc(rc, tcti ? tcti : "default TCTI");
	}
	rc = Esys_Initialize(&t->esys, t->tcti, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		t->esys = NULL;
		return tpm_rc(rc, "Esys_Initialize");
	}
	return tpm_startup(t);
}

int tpm_open(const struct tpm_opts *opts, struct tpm **ret)
{
	struct tpm *t = NULL;
	int r;

	if (!opts->state_dir || opts->ek_alg > TPM_KEYALG_ECC || opts->ak_alg > TPM_KEYALG_ECC)
		return err_set(AICERT_ERR_INVALID,
			       "tpm_open: no state_dir, or an unknown key algorithm");
	t = calloc(1, sizeof(*t));
	if (!t)
		return AICERT_ERR_NOMEM;
	t->ek = ESYS_TR_NONE;
	t->ak = ESYS_TR_NONE;
	t->state_dir = strdup(opts->state_dir);
	if (!t->state_dir) {
		r = AICERT_ERR_NOMEM;
		goto out;
	}
	r = tpm_connect(t, opts->tcti);
	if (r == 0)
		r = tpm_ek_open(t,
				opts->ek_alg == TPM_KEYALG_ECC ? TPM_KEYALG_ECC : TPM_KEYALG_RSA);
	if (r == 0)
		r = tpm_ak_open(t,
				opts->ak_alg == TPM_KEYALG_RSA ? TPM_KEYALG_RSA : TPM_KEYALG_ECC);
	if (r < 0)
		goto out;
	*ret = t;
	t = NULL;
out:
	tpm_free(t);
	return r;
}

void tpm_free(struct tpm *t)
{
	if (!t)
		return;
	if (t->esys) {
		tpm_flush(t, &t->ak);
		if (!t->ek_persistent)
			tpm_flush(t, &t->ek);
		Esys_Finalize(&t->esys);
	}
	if (t->tcti)
		Tss2_TctiLdr_Finalize(&t->tcti);
	free(t->state_dir);
	OPENSSL_cleanse(&t->ak_priv, sizeof(t->ak_priv));
	free(t);
}

/* The TPM was reset (or restarted) underneath us: start it if it needs it,
 * recreate a transient EK, load the AK again. */
static int tpm_recover(struct tpm *t)
{
	int r;

	if (t->ak != ESYS_TR_NONE)
		Esys_TR_Close(t->esys, &t->ak);
	t->ak = ESYS_TR_NONE;
	r = tpm_startup(t);
	if (r == 0)
		r = tpm_ek_reopen(t);
	if (r == 0)
		r = tpm_ak_load(t);
	return r < 0 ? err_wrap(r, "reloading the AK after a TPM reset") : 0;
}

/* ---- simple queries ------------------------------------------------------ */

int tpm_clock(struct tpm *t, uint32_t *reset_count, uint32_t *restart_count)
{
	TPMS_TIME_INFO *info = NULL;
	TSS2_RC rc;

	rc = Esys_ReadClock(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &info);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_rc(rc, "TPM2_ReadClock");
	*reset_count = info->clockInfo.resetCount;
	*restart_count = info->clockInfo.restartCount;
	Esys_Free(info);
	return 0;
}

int tpm_manufacturer(struct tpm *t, char out[5])
{
	uint32_t v;
	int r;

	r = tpm_get_property(t, TPM2_PT_MANUFACTURER, &v);
	if (r < 0)
		return r;
	for (int i = 0; i < 4; i++) {
		unsigned char c = (v >> (24 - 8 * i)) & 0xff;

		out[i] = (c == 0 || (c >= 0x20 && c < 0x7f)) ? (char)c : '?';
	}
	out[4] = '\0';
	return 0;
}

enum tpm_keyalg tpm_ak_alg(const struct tpm *t)
{
	return t->ak_alg;
}

enum tpm_keyalg tpm_ek_alg(const struct tpm *t)
{
	return t->ek_alg;
}

/* ---- PCRs ------------------------------------------------------------ */

static size_t tpm_digest_len(uint16_t alg)
{
	switch (alg) {
	case TPM_ALG_SHA1_ID:
		return 20;
	case TPM_ALG_SHA256_ID:
		return 32;
	case TPM_ALG_SHA384_ID:
		return 48;
	case TPM_ALG_SHA512_ID:
		return 64;
	default:
		return 0;
	}
}

static int tpm_banks_check(const struct tpm_bank *banks, size_t nbanks)
{
	if (nbanks < 1 || nbanks > TPM_MAX_BANKS)
		return err_set(AICERT_ERR_INVALID, "%zu PCR banks selected, expected 1..%d", nbanks,
			       TPM_MAX_BANKS);
	for (size_t i = 0; i < nbanks; i++) {
		if (tpm_digest_len(banks[i].hash_alg) == 0)
			return err_set(AICERT_ERR_INVALID,
				       "bank %zu: hash algorithm 0x%04x is not SHA-1/256/384/512",
				       i, banks[i].hash_alg);
		if (banks[i].mask == 0 || (banks[i].mask & ~TPM_PCR_MASK_ALL))
			return err_set(AICERT_ERR_INVALID,
				       "bank %zu: PCR mask 0x%x selects none or PCRs past 23", i,
				       banks[i].mask);
		for (size_t j = 0; j < i; j++) {
			if (banks[j].hash_alg == banks[i].hash_alg)
				return err_set(AICERT_ERR_INVALID, "bank 0x%04x selected twice",
					       banks[i].hash_alg);
		}
	}
	return 0;
}

static void tpm_select(uint16_t alg, uint32_t mask, TPMS_PCR_SELECTION *sel)
{
	memset(sel, 0, sizeof(*sel));
	sel->hash = alg;
	sel->sizeofSelect = 3;
	for (int i = 0; i < 3; i++)
		sel->pcrSelect[i] = (mask >> (8 * i)) & 0xff;
}

static uint32_t tpm_selected(const TPMS_PCR_SELECTION *sel)
{
	uint32_t mask = 0;

	for (int i = 0; i < sel->sizeofSelect && i < TPM2_PCR_SELECT_MAX; i++)
		mask |= (uint32_t)sel->pcrSelect[i] << (8 * i);
	return mask;
}

/* Copies the digests the TPM returned for the PCRs in got into v. */
static int tpm_pcr_store(const TPML_DIGEST *vals, uint32_t got, struct tpm_bank_values *v)
{
	uint32_t k = 0;

	for (int i = 0; i < TPM_PCR_COUNT; i++) {
		if (!(got & (1u << i)))
			continue;
		if (k >= vals->count || vals->digests[k].size != v->digest_len)
			return err_set(AICERT_ERR_TPM, "TPM2_PCR_Read: bad digest for PCR %d", i);
		memcpy(v->digest[i], vals->digests[k].buffer, v->digest_len);
		k++;
	}
	if (k != vals->count)
		return err_set(AICERT_ERR_TPM, "TPM2_PCR_Read: %u digests for %u PCRs",
			       (unsigned)vals->count, (unsigned)k);
	return 0;
}

/* One TPM2_PCR_Read of the PCRs still wanted in one bank. */
static int tpm_pcr_read_step(struct tpm *t, struct tpm_bank_values *v, uint32_t *want,
			     uint32_t *counter)
{
	TPML_PCR_SELECTION in = {.count = 1};
	TPML_PCR_SELECTION *out = NULL;
	TPML_DIGEST *vals = NULL;
	uint32_t got = 0;
	TSS2_RC rc;
	int r;

	tpm_select(v->hash_alg, *want, &in.pcrSelections[0]);
	rc = Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &in, counter, &out,
			   &vals);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_rc(rc, "TPM2_PCR_Read");
	if (out->count == 1 && out->pcrSelections[0].hash == v->hash_alg)
		got = tpm_selected(&out->pcrSelections[0]);
	if (got & ~*want)
		r = err_set(AICERT_ERR_TPM, "TPM2_PCR_Read returned PCRs not asked for");
	else if (got == 0)
		r = err_set(AICERT_ERR_NOT_FOUND, "the TPM has no PCR bank 0x%04x for PCRs 0x%06x",
			    v->hash_alg, *want);
	else
		r = tpm_pcr_store(vals, got, v);
	if (r == 0) {
		v->mask |= got;
		*want &= ~got;
	}
	Esys_Free(out);
	Esys_Free(vals);
	return r;
}

static int tpm_pcr_read_bank(struct tpm *t, const struct tpm_bank *bank, struct tpm_bank_values *v,
			     uint32_t *counter)
{
	uint32_t want = bank->mask;
	int r = 0;

	memset(v, 0, sizeof(*v));
	v->hash_alg = bank->hash_alg;
	v->digest_len = tpm_digest_len(bank->hash_alg);
	while (want != 0 && r == 0)
		r = tpm_pcr_read_step(t, v, &want, counter);
	return r;
}

int tpm_pcr_read(struct tpm *t, const struct tpm_bank *banks, size_t nbanks,
		 struct tpm_bank_values *out, uint32_t *update_counter)
{
	struct tpm_bank_values vals[TPM_MAX_BANKS];
	uint32_t counter = 0;
	int r;

	r = tpm_banks_check(banks, nbanks);
	for (size_t i = 0; i < nbanks && r == 0; i++)
		r = tpm_pcr_read_bank(t, &banks[i], &vals[i], &counter);
	if (r < 0)
		return r;
	memcpy(out, vals, nbanks * sizeof(vals[0]));
	*update_counter = counter;
	return 0;
}

int tpm_extend(struct tpm *t, uint32_t pcr, const uint8_t digest[32], uint8_t new_value[32])
{
	TPML_DIGEST_VALUES d = {.count = 1};
	struct tpm_bank bank = {.hash_alg = TPM_ALG_SHA256_ID};
	struct tpm_bank_values v;
	uint32_t counter;
	TSS2_RC rc;
	int r;

	if (pcr >= TPM_PCR_COUNT)
		return err_set(AICERT_ERR_INVALID, "PCR %u: expected 0..23", pcr);
	bank.mask = 1u << pcr;
	d.digests[0].hashAlg = TPM2_ALG_SHA256;
	memcpy(d.digests[0].digest.sha256, digest, 32);
	rc = Esys_PCR_Extend(t->esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			     ESYS_TR_NONE, &d);
	if (rc != TSS2_RC_SUCCESS)
		return err_wrap(tpm_rc(rc, "TPM2_PCR_Extend"), "PCR %u", pcr);
	r = tpm_pcr_read(t, &bank, 1, &v, &counter);
	if (r < 0)
		return r;
	memcpy(new_value, v.digest[pcr], 32);
	return 0;
}

/* ---- quote ------------------------------------------------------------ */

/* TPM2_Quote, reloading the AK once if it is gone. */
static int tpm_quote_once(struct tpm *t, const TPM2B_DATA *data, const TPML_PCR_SELECTION *sel,
			  TPM2B_ATTEST **quoted, TPMT_SIGNATURE **sig)
{
	const TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL};
	TSS2_RC rc;
	int r;

	for (int attempt = 0;; attempt++) {
		rc = Esys_Quote(t->esys, t->ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, data,
				&scheme, sel, quoted, sig);
		if (rc == TSS2_RC_SUCCESS)
			return 0;
		if (attempt > 0 || !tpm_rc_objects_gone(rc))
			return tpm_rc(rc, "TPM2_Quote");
		r = tpm_recover(t);
		if (r < 0)
			return r;
	}
}

/* Hash of the PCR values in selection order, with the AK's nameAlg. */
static int tpm_pcr_digest(const struct tpm *t, const struct tpm_bank_values *vals, size_t nbanks,
			  uint8_t out[EVP_MAX_MD_SIZE], unsigned *out_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	/* tpm_ak.c accepts only SHA-256 AKs. */
	ok = ctx && t->ak_pub.publicArea.nameAlg == TPM2_ALG_SHA256 &&
	     EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (size_t b = 0; ok && b < nbanks; b++) {
		for (int i = 0; ok && i < TPM_PCR_COUNT; i++) {
			if (vals[b].mask & (1u << i))
				ok = EVP_DigestUpdate(ctx, vals[b].digest[i], vals[b].digest_len);
		}
	}
	ok = ok && EVP_DigestFinal_ex(ctx, out, out_len);
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : err_set(AICERT_ERR_CRYPTO, "hashing the PCR values failed");
}

/* 1 if the quote is over these PCR values, 0 if they changed in between. */
static int tpm_quote_matches(const struct tpm *t, const TPM2B_ATTEST *quoted,
			     const TPM2B_DATA *data, const struct tpm_bank_values *vals,
			     size_t nbanks)
{
	TPMS_ATTEST a;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned md_len;
	size_t off = 0;
	TSS2_RC rc;
	int r;

	rc = Tss2_MU_TPMS_ATTEST_Unmarshal(quoted->attestationData, quoted->size, &off, &a);
	if (rc != TSS2_RC_SUCCESS || off != quoted->size)
		return err_set(AICERT_ERR_TPM, "TPM2_Quote returned malformed attestation data");
	if (a.magic != TPM2_GENERATED_VALUE || a.type != TPM2_ST_ATTEST_QUOTE ||
	    a.extraData.size != data->size || memcmp(a.extraData.buffer, data->buffer, data->size))
		return err_set(AICERT_ERR_TPM, "TPM2_Quote returned an unexpected attestation");
	r = tpm_pcr_digest(t, vals, nbanks, md, &md_len);
	if (r < 0)
		return r;
	return a.attested.quote.pcrDigest.size == md_len &&
	       memcmp(a.attested.quote.pcrDigest.buffer, md, md_len) == 0;
}

static int tpm_quote_output(const TPM2B_ATTEST *quoted, const TPMT_SIGNATURE *sig, uint8_t **attest,
			    size_t *attest_len, uint8_t **sig_out, size_t *sig_len)
{
	uint8_t buf[sizeof(TPMT_SIGNATURE)];
	size_t off = 0;
	uint8_t *a, *s;
	TSS2_RC rc;

	rc = Tss2_MU_TPMT_SIGNATURE_Marshal(sig, buf, sizeof(buf), &off);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_rc(rc, "marshalling the quote's signature");
	a = malloc(quoted->size);
	s = malloc(off);
	if (!a || !s) {
		free(a);
		free(s);
		return AICERT_ERR_NOMEM;
	}
	memcpy(a, quoted->attestationData, quoted->size);
	memcpy(s, buf, off);
	*attest = a;
	*attest_len = quoted->size;
	*sig_out = s;
	*sig_len = off;
	return 0;
}

/* 0 with the outputs written, 1 if the PCRs changed between the quote and
 * the read, or an error. */
static int tpm_quote_try(struct tpm *t, const TPM2B_DATA *data, const TPML_PCR_SELECTION *sel,
			 const struct tpm_bank *banks, size_t nbanks, struct tpm_bank_values *vals,
			 uint8_t **attest, size_t *attest_len, uint8_t **sig, size_t *sig_len)
{
	TPM2B_ATTEST *quoted = NULL;
	TPMT_SIGNATURE *signature = NULL;
	uint32_t counter;
	int r;

	r = tpm_quote_once(t, data, sel, &quoted, &signature);
	if (r == 0)
		r = tpm_pcr_read(t, banks, nbanks, vals, &counter);
	if (r == 0)
		r = tpm_quote_matches(t, quoted, data, vals, nbanks);
	if (r == 1)
		r = tpm_quote_output(quoted, signature, attest, attest_len, sig, sig_len);
	else if (r == 0)
		r = 1;
	Esys_Free(quoted);
	Esys_Free(signature);
	return r;
}

int tpm_quote(struct tpm *t, const uint8_t *qualifying, size_t qualifying_len,
	      const struct tpm_bank *banks, size_t nbanks, uint8_t **attest, size_t *attest_len,
	      uint8_t **sig, size_t *sig_len, struct tpm_bank_values *values)
{
	struct tpm_bank_values vals[TPM_MAX_BANKS];
	TPML_PCR_SELECTION sel = {0};
	TPM2B_DATA data = {0};
	int r;

	if (qualifying_len < 1 || qualifying_len > sizeof(data.buffer))
		return err_set(AICERT_ERR_INVALID, "qualifying data of %zu bytes, expected 1..%zu",
			       qualifying_len, sizeof(data.buffer));
	r = tpm_banks_check(banks, nbanks);
	if (r < 0)
		return r;
	data.size = (uint16_t)qualifying_len;
	memcpy(data.buffer, qualifying, qualifying_len);
	sel.count = (uint32_t)nbanks;
	for (size_t i = 0; i < nbanks; i++)
		tpm_select(banks[i].hash_alg, banks[i].mask, &sel.pcrSelections[i]);
	for (int attempt = 0; attempt < TPM_QUOTE_TRIES; attempt++) {
		r = tpm_quote_try(t, &data, &sel, banks, nbanks, vals, attest, attest_len, sig,
				  sig_len);
		if (r == 0)
			memcpy(values, vals, nbanks * sizeof(vals[0]));
		if (r <= 0)
			return r;
	}
	return err_set(AICERT_ERR_STATE, "the PCRs changed during each of %d quotes",
		       TPM_QUOTE_TRIES);
}

/* ---- credential activation ----------------------------------------------- */

static int tpm_activate_once(struct tpm *t, const TPM2B_ID_OBJECT *blob,
			     const TPM2B_ENCRYPTED_SECRET *secret, TPM2B_DIGEST **cert)
{
	ESYS_TR session = ESYS_TR_NONE;
	TSS2_RC rc;
	int r;

	for (int attempt = 0;; attempt++) {
		r = tpm_ek_session(t, &session);
		if (r < 0)
			return r;
		rc = Esys_ActivateCredential(t->esys, t->ak, t->ek, ESYS_TR_PASSWORD, session,
					     ESYS_TR_NONE, blob, secret, cert);
		tpm_flush(t, &session);
		if (rc == TSS2_RC_SUCCESS)
			return 0;
		if (attempt > 0 || !tpm_rc_objects_gone(rc))
			return tpm_rc(rc, "TPM2_ActivateCredential");
		r = tpm_recover(t);
		if (r < 0)
			return r;
	}
}

int tpm_activate_credential(struct tpm *t, const uint8_t *credential_blob, size_t blob_len,
			    const uint8_t *secret, size_t secret_len, uint8_t **out,
			    size_t *out_len)
{
	TPM2B_ID_OBJECT blob = {0};
	TPM2B_ENCRYPTED_SECRET sec = {0};
	TPM2B_DIGEST *cert = NULL;
	uint8_t *copy;
	int r;

	if (blob_len < 1 || blob_len > sizeof(blob.credential))
		return err_set(AICERT_ERR_INVALID, "credential blob of %zu bytes, expected 1..%zu",
			       blob_len, sizeof(blob.credential));
	if (secret_len < 1 || secret_len > sizeof(sec.secret))
		return err_set(AICERT_ERR_INVALID, "encrypted secret of %zu bytes, expected 1..%zu",
			       secret_len, sizeof(sec.secret));
	blob.size = (uint16_t)blob_len;
	memcpy(blob.credential, credential_blob, blob_len);
	sec.size = (uint16_t)secret_len;
	memcpy(sec.secret, secret, secret_len);
	r = tpm_activate_once(t, &blob, &sec, &cert);
	if (r < 0)
		return r;
	copy = malloc(cert->size ? cert->size : 1);
	if (copy) {
		memcpy(copy, cert->buffer, cert->size);
		*out = copy;
		*out_len = cert->size;
	}
	OPENSSL_cleanse(cert, sizeof(*cert));
	Esys_Free(cert);
	return copy ? 0 : AICERT_ERR_NOMEM;
}
