/* The endorsement key: finding or creating it, authorising its use as a
 * parent, its public area and its certificates in NV. */
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_mu.h>

#include "err.h"
#include "tpm.h"
#include "tpm_internal.h"

#define TPM_EK_RSA_HANDLE    0x81010001u /* TCG EK profile: RSA-2048 EK */
#define TPM_EK_ECC_HANDLE    0x81010002u /* TCG EK profile: ECC P-256 EK */
#define TPM_EK_ECC384_HANDLE 0x81010016u /* swtpm_setup's ECC P-384 EK */
#define TPM_EK_CERT_MAX      8192

static const uint32_t tpm_ek_cert_indices[] = {0x01c00002, 0x01c0000a, 0x01c00016};

/* PolicySecret(TPM_RH_ENDORSEMENT) with SHA-256: the authPolicy of the TCG
 * default EK templates L-1 and L-2. */
static const TPM2B_DIGEST tpm_ek_policy = {
	.size = 32,
	.buffer = {0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc,
		   0x8d, 0x46, 0xa5, 0xd7, 0x24, 0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52,
		   0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa},
};

#define TPM_EK_ATTRS                                                                               \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |        \
	 TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT)

static const TPMT_SYM_DEF_OBJECT tpm_ek_aes128cfb = {
	.algorithm = TPM2_ALG_AES,
	.keyBits.aes = 128,
	.mode.aes = TPM2_ALG_CFB,
};

/* TCG EK Credential Profile, default template L-1 (RSA-2048) or L-2 (ECC
 * P-256): the unique field is zero-filled to the key size. */
static void tpm_ek_template(enum tpm_keyalg alg, TPM2B_PUBLIC *tmpl)
{
	TPMT_PUBLIC *p = &tmpl->publicArea;

	memset(tmpl, 0, sizeof(*tmpl));
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPM_EK_ATTRS;
	p->authPolicy = tpm_ek_policy;
	if (alg == TPM_KEYALG_RSA) {
		p->type = TPM2_ALG_RSA;
		p->parameters.rsaDetail.symmetric = tpm_ek_aes128cfb;
		p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
		p->parameters.rsaDetail.keyBits = 2048;
		p->unique.rsa.size = 256;
	} else {
		p->type = TPM2_ALG_ECC;
		p->parameters.eccDetail.symmetric = tpm_ek_aes128cfb;
		p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
		p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
		p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
		p->unique.ecc.x.size = 32;
		p->unique.ecc.y.size = 32;
	}
}

/* A persistent key used as the EK must at least be a restricted decryption
 * key of the right type bound to this TPM. */
static int tpm_ek_check(const TPM2B_PUBLIC *pub, enum tpm_keyalg alg, TPM2_HANDLE handle)
{
	const TPMA_OBJECT need = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
				 TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	TPMA_OBJECT attrs = pub->publicArea.objectAttributes;
	TPMI_ALG_PUBLIC type = alg == TPM_KEYALG_RSA ? TPM2_ALG_RSA : TPM2_ALG_ECC;

	if (pub->publicArea.type != type || (attrs & need) != need ||
	    (attrs & TPMA_OBJECT_SIGN_ENCRYPT))
		return err_set(AICERT_ERR_STATE,
			       "persistent key 0x%08x is not an %s endorsement key (type 0x%04x, "
			       "attributes 0x%08x)",
			       handle, alg == TPM_KEYALG_RSA ? "RSA" : "ECC", pub->publicArea.type,
			       attrs);
	return 0;
}

static int tpm_ek_use_persistent(struct tpm *t, TPM2_HANDLE handle, enum tpm_keyalg alg)
{
	TPM2B_PUBLIC *pub = NULL;
	ESYS_TR tr = ESYS_TR_NONE;
	TSS2_RC rc;
	int r;

	rc = Esys_TR_FromTPMPublic(t->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr);
	if (rc != TSS2_RC_SUCCESS)
		return err_wrap(tpm_rc(rc, "Esys_TR_FromTPMPublic"), "EK 0x%08x", handle);
	rc = Esys_ReadPublic(t->esys, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL,
			     NULL);
	if (rc != TSS2_RC_SUCCESS)
		r = err_wrap(tpm_rc(rc, "TPM2_ReadPublic"), "EK 0x%08x", handle);
	else
		r = tpm_ek_check(pub, alg, handle);
	if (r == 0) {
		t->ek = tr;
		t->ek_persistent = handle;
		t->ek_pub = *pub;
	} else {
		Esys_TR_Close(t->esys, &tr);
	}
	Esys_Free(pub);
	return r;
}

static int tpm_ek_create(struct tpm *t, enum tpm_keyalg alg)
{
	const TPM2B_SENSITIVE_CREATE sens = {0};
	const TPM2B_DATA outside = {0};
	const TPML_PCR_SELECTION pcrs = {0};
	TPM2B_PUBLIC tmpl, *pub = NULL;
	TPM2B_CREATION_DATA *cdata = NULL;
	TPM2B_DIGEST *chash = NULL;
	TPMT_TK_CREATION *ticket = NULL;
	TSS2_RC rc;

	tpm_ek_template(alg, &tmpl);
	rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				ESYS_TR_NONE, &sens, &tmpl, &outside, &pcrs, &t->ek, &pub, &cdata,
				&chash, &ticket);
	if (rc != TSS2_RC_SUCCESS) {
		t->ek = ESYS_TR_NONE;
		return err_wrap(tpm_rc(rc, "TPM2_CreatePrimary"), "EK from the default template");
	}
	t->ek_persistent = 0;
	t->ek_pub = *pub;
	Esys_Free(pub);
	Esys_Free(cdata);
	Esys_Free(chash);
	Esys_Free(ticket);
	return 0;
}

int tpm_ek_open(struct tpm *t, enum tpm_keyalg alg)
{
	static const TPM2_HANDLE rsa[] = {TPM_EK_RSA_HANDLE};
	static const TPM2_HANDLE ecc[] = {TPM_EK_ECC_HANDLE, TPM_EK_ECC384_HANDLE};
	const TPM2_HANDLE *handles = alg == TPM_KEYALG_RSA ? rsa : ecc;
	size_t n = alg == TPM_KEYALG_RSA ? 1 : 2;
	int exists, r;

	t->ek_alg = alg;
	for (size_t i = 0; i < n; i++) {
		r = tpm_handle_exists(t, handles[i], &exists);
		if (r < 0)
			return r;
		if (exists)
			return tpm_ek_use_persistent(t, handles[i], alg);
	}
	return tpm_ek_create(t, alg);
}

int tpm_ek_reopen(struct tpm *t)
{
	if (t->ek_persistent)
		return 0;
	/* The transient EK went with the reset: its handle means nothing now. */
	if (t->ek != ESYS_TR_NONE)
		Esys_TR_Close(t->esys, &t->ek);
	t->ek = ESYS_TR_NONE;
	return tpm_ek_create(t, t->ek_alg);
}

int tpm_ek_session(struct tpm *t, ESYS_TR *session)
{
	const TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_NULL};
	TPM2B_TIMEOUT *timeout = NULL;
	TPMT_TK_AUTH *ticket = NULL;
	ESYS_TR s = ESYS_TR_NONE;
	TSS2_RC rc;

	/* swtpm's P-384 EK (a high-range template) has userWithAuth and an
	 * empty auth value; the default templates need the policy. */
	if (t->ek_pub.publicArea.objectAttributes & TPMA_OBJECT_USERWITHAUTH) {
		*session = ESYS_TR_PASSWORD;
		return 0;
	}
	rc = Esys_StartAuthSession(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &sym,
				   t->ek_pub.publicArea.nameAlg, &s);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_rc(rc, "TPM2_StartAuthSession for the EK");
	rc = Esys_PolicySecret(t->esys, ESYS_TR_RH_ENDORSEMENT, s, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			       ESYS_TR_NONE, NULL, NULL, NULL, 0, &timeout, &ticket);
	Esys_Free(timeout);
	Esys_Free(ticket);
	if (rc != TSS2_RC_SUCCESS) {
		tpm_flush(t, &s);
		return tpm_rc(rc, "TPM2_PolicySecret(TPM_RH_ENDORSEMENT) for the EK");
	}
	*session = s;
	return 0;
}

int tpm_ek_public(struct tpm *t, uint8_t **pub, size_t *pub_len)
{
	uint8_t buf[sizeof(TPMT_PUBLIC)];
	size_t off = 0;
	TSS2_RC rc;
	uint8_t *p;

	rc = Tss2_MU_TPMT_PUBLIC_Marshal(&t->ek_pub.publicArea, buf, sizeof(buf), &off);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_rc(rc, "marshalling the EK public area");
	p = malloc(off);
	if (!p)
		return AICERT_ERR_NOMEM;
	memcpy(p, buf, off);
	*pub = p;
	*pub_len = off;
	return 0;
}

/* ---- EK certificates ---------------------------------------------------- */

/* Reads size bytes of an NV index in chunks the TPM accepts. */
static int tpm_nv_read_chunks(struct tpm *t, ESYS_TR auth, ESYS_TR nv, uint16_t size,
			      uint16_t chunk, uint8_t *out)
{
	for (uint16_t off = 0; off < size;) {
		uint16_t n = size - off < chunk ? size - off : chunk;
		TPM2B_MAX_NV_BUFFER *data = NULL;
		TSS2_RC rc;

		rc = Esys_NV_Read(t->esys, auth, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
				  n, off, &data);
		if (rc != TSS2_RC_SUCCESS)
			return tpm_rc(rc, "TPM2_NV_Read");
		if (data->size != n) {
			Esys_Free(data);
			return err_set(AICERT_ERR_TPM, "TPM2_NV_Read returned %u bytes, not %u",
				       data->size, n);
		}
		memcpy(out + off, data->buffer, n);
		off += n;
		Esys_Free(data);
	}
	return 0;
}

/* The index's size, and who may read it: the index itself or the owner. */
static int tpm_nv_info(struct tpm *t, ESYS_TR nv, uint16_t *size, ESYS_TR *auth)
{
	TPM2B_NV_PUBLIC *pub = NULL;
	TPMA_NV attrs;
	TSS2_RC rc;
	int r = 0;

	rc = Esys_NV_ReadPublic(t->esys, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_rc(rc, "TPM2_NV_ReadPublic");
	attrs = pub->nvPublic.attributes;
	*size = (attrs & TPMA_NV_WRITTEN) ? pub->nvPublic.dataSize : 0;
	if (*size > TPM_EK_CERT_MAX)
		r = err_set(AICERT_ERR_TOO_BIG, "%u bytes, at most %d expected", *size,
			    TPM_EK_CERT_MAX);
	else if (attrs & TPMA_NV_AUTHREAD)
		*auth = nv;
	else if (attrs & TPMA_NV_OWNERREAD)
		*auth = ESYS_TR_RH_OWNER;
	else
		r = err_set(AICERT_ERR_PERMISSION,
			    "readable neither with its auth nor by the owner");
	Esys_Free(pub);
	return r;
}

/* One certificate; *len == 0 if the index was never written. */
static int tpm_ek_cert_read(struct tpm *t, uint32_t index, uint16_t chunk, uint8_t **der,
			    size_t *len)
{
	ESYS_TR nv = ESYS_TR_NONE, auth = ESYS_TR_NONE;
	uint8_t *buf = NULL;
	uint16_t size = 0;
	TSS2_RC rc;
	int r;

	rc = Esys_TR_FromTPMPublic(t->esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv);
	if (rc != TSS2_RC_SUCCESS)
		return err_wrap(tpm_rc(rc, "Esys_TR_FromTPMPublic"), "NV 0x%08x", index);
	r = tpm_nv_info(t, nv, &size, &auth);
	if (r == 0 && size > 0) {
		buf = malloc(size);
		r = buf ? tpm_nv_read_chunks(t, auth, nv, size, chunk, buf) : AICERT_ERR_NOMEM;
	}
	Esys_TR_Close(t->esys, &nv);
	if (r < 0) {
		free(buf);
		return err_wrap(r, "EK certificate in NV 0x%08x", index);
	}
	*der = buf;
	*len = size;
	return 0;
}

/* NV_Read's limit: TPM_PT_NV_BUFFER_MAX, and what TPM2B_MAX_NV_BUFFER holds. */
static int tpm_nv_chunk(struct tpm *t, uint16_t *chunk)
{
	uint32_t max;
	int r;

	r = tpm_get_property(t, TPM2_PT_NV_BUFFER_MAX, &max);
	if (r < 0)
		return r;
	if (max == 0)
		return err_set(AICERT_ERR_TPM, "the TPM reports TPM_PT_NV_BUFFER_MAX = 0");
	*chunk = max < TPM2_MAX_NV_BUFFER_SIZE ? (uint16_t)max : TPM2_MAX_NV_BUFFER_SIZE;
	return 0;
}

int tpm_ek_certs(struct tpm *t, struct tpm_ek_cert **certs, size_t *n)
{
	const size_t max = sizeof(tpm_ek_cert_indices) / sizeof(tpm_ek_cert_indices[0]);
	struct tpm_ek_cert *list;
	uint16_t chunk = 0;
	size_t k = 0;
	int exists, r;

	r = tpm_nv_chunk(t, &chunk);
	if (r < 0)
		return r;
	list = calloc(max, sizeof(*list));
	if (!list)
		return AICERT_ERR_NOMEM;
	for (size_t i = 0; i < max && r == 0; i++) {
		r = tpm_handle_exists(t, tpm_ek_cert_indices[i], &exists);
		if (r < 0 || !exists)
			continue;
		list[k].nv_index = tpm_ek_cert_indices[i];
		r = tpm_ek_cert_read(t, tpm_ek_cert_indices[i], chunk, &list[k].der,
				     &list[k].der_len);
		if (r == 0 && list[k].der_len > 0)
			k++;
	}
	if (r < 0) {
		tpm_ek_certs_free(list, k);
		return r;
	}
	*certs = list;
	*n = k;
	return 0;
}

void tpm_ek_certs_free(struct tpm_ek_cert *certs, size_t n)
{
	if (!certs)
		return;
	for (size_t i = 0; i < n; i++)
		free(certs[i].der);
	free(certs);
}
