/* The attestation key: a restricted signing key under the EK, created once
 * and kept in state_dir as its marshalled TPM2B_PUBLIC (ak.pub) and
 * TPM2B_PRIVATE (ak.priv, wrapped by the EK, useless off this TPM). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <tss2/tss2_mu.h>

#include "err.h"
#include "fileio.h"
#include "tpm.h"
#include "tpm_internal.h"

#define TPM_AK_FILE_MODE 0600

#define TPM_AK_ATTRS                                                                               \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |        \
	 TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT |            \
	 TPMA_OBJECT_NODA)

static void tpm_ak_template(enum tpm_keyalg alg, TPM2B_PUBLIC *tmpl)
{
	TPMT_PUBLIC *p = &tmpl->publicArea;

	memset(tmpl, 0, sizeof(*tmpl));
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPM_AK_ATTRS;
	if (alg == TPM_KEYALG_RSA) {
		p->type = TPM2_ALG_RSA;
		p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
		p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
		p->parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
		p->parameters.rsaDetail.keyBits = 2048;
	} else {
		p->type = TPM2_ALG_ECC;
		p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
		p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
		p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
		p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
		p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	}
}

/* A saved AK is used only if it is what we create: a restricted signing key
 * of the TPM with nameAlg SHA-256 (quotes are checked with it). */
static int tpm_ak_check(const TPM2B_PUBLIC *pub, const char *path)
{
	const TPMA_OBJECT need = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
				 TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_RESTRICTED |
				 TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_USERWITHAUTH;
	const TPMT_PUBLIC *p = &pub->publicArea;

	if ((p->type != TPM2_ALG_RSA && p->type != TPM2_ALG_ECC) || p->nameAlg != TPM2_ALG_SHA256 ||
	    (p->objectAttributes & need) != need || (p->objectAttributes & TPMA_OBJECT_DECRYPT))
		return err_set(AICERT_ERR_INVALID,
			       "%s: not a restricted SHA-256 signing key (type 0x%04x, nameAlg "
			       "0x%04x, attributes 0x%08x)",
			       path, p->type, p->nameAlg, p->objectAttributes);
	return 0;
}

static int tpm_ak_path(const struct tpm *t, const char *name, char out[PATH_MAX])
{
	int n = snprintf(out, PATH_MAX, "%s/%s", t->state_dir, name);

	if (n < 0 || n >= PATH_MAX)
		return err_set(AICERT_ERR_INVALID, "%s/%s: path too long", t->state_dir, name);
	return 0;
}

static int tpm_ak_write(const struct tpm *t, const char *name, const uint8_t *buf, size_t len)
{
	char path[PATH_MAX];
	int r;

	r = tpm_ak_path(t, name, path);
	if (r == 0)
		r = fileio_write_atomic(path, buf, len, TPM_AK_FILE_MODE);
	return r;
}

/* ak.priv first: ak.pub is what makes an AK exist (tpm_ak_read), so that a
 * crash in between leaves no half-saved key in use. */
static int tpm_ak_save(const struct tpm *t)
{
	uint8_t priv[sizeof(TPM2B_PRIVATE)], pub[sizeof(TPM2B_PUBLIC)];
	size_t priv_len = 0, pub_len = 0;
	TSS2_RC rc;
	int r;

	rc = Tss2_MU_TPM2B_PRIVATE_Marshal(&t->ak_priv, priv, sizeof(priv), &priv_len);
	if (rc == TSS2_RC_SUCCESS)
		rc = Tss2_MU_TPM2B_PUBLIC_Marshal(&t->ak_pub, pub, sizeof(pub), &pub_len);
	if (rc != TSS2_RC_SUCCESS)
		r = tpm_rc(rc, "marshalling the AK");
	else
		r = tpm_ak_write(t, "ak.priv", priv, priv_len);
	if (r == 0)
		r = tpm_ak_write(t, "ak.pub", pub, pub_len);
	OPENSSL_cleanse(priv, sizeof(priv));
	return r;
}

/* Reads state_dir/name, at most max bytes, and unmarshals all of it with
 * unmarshal (a Tss2_MU_TPM2B_*_Unmarshal). */
static int tpm_ak_read_file(const struct tpm *t, const char *name, size_t max,
			    TSS2_RC (*unmarshal)(const uint8_t *, size_t, size_t *, void *),
			    void *out)
{
	char path[PATH_MAX];
	uint8_t *buf = NULL;
	size_t len = 0, off = 0;
	TSS2_RC rc;
	int r;

	r = tpm_ak_path(t, name, path);
	if (r == 0)
		r = fileio_read_all(path, max, &buf, &len);
	if (r < 0)
		return r;
	rc = unmarshal(buf, len, &off, out);
	if (rc != TSS2_RC_SUCCESS)
		r = err_wrap(tpm_rc(rc, "unmarshalling"), "%s", path);
	else if (off != len)
		r = err_set(AICERT_ERR_INVALID, "%s: %zu trailing bytes", path, len - off);
	OPENSSL_cleanse(buf, len);
	free(buf);
	return r;
}

static TSS2_RC tpm_mu_public(const uint8_t *buf, size_t len, size_t *off, void *out)
{
	return Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, len, off, out);
}

static TSS2_RC tpm_mu_private(const uint8_t *buf, size_t len, size_t *off, void *out)
{
	return Tss2_MU_TPM2B_PRIVATE_Unmarshal(buf, len, off, out);
}

/* The saved AK into t->ak_pub/ak_priv; AICERT_ERR_NOT_FOUND if none. */
static int tpm_ak_read(struct tpm *t)
{
	char path[PATH_MAX];
	int r;

	r = tpm_ak_read_file(t, "ak.pub", sizeof(TPM2B_PUBLIC), tpm_mu_public, &t->ak_pub);
	if (r < 0)
		return r;
	r = tpm_ak_path(t, "ak.pub", path);
	if (r == 0)
		r = tpm_ak_check(&t->ak_pub, path);
	if (r < 0)
		return r;
	r = tpm_ak_read_file(t, "ak.priv", sizeof(TPM2B_PRIVATE), tpm_mu_private, &t->ak_priv);
	if (r == AICERT_ERR_NOT_FOUND)
		/* Never create a new AK over a public key that may be certified. */
		return err_wrap(AICERT_ERR_STATE, "ak.pub exists but ak.priv does not");
	return r;
}

static int tpm_ak_create(struct tpm *t, enum tpm_keyalg alg)
{
	const TPM2B_SENSITIVE_CREATE sens = {0};
	const TPM2B_DATA outside = {0};
	const TPML_PCR_SELECTION pcrs = {0};
	ESYS_TR session = ESYS_TR_NONE;
	TPM2B_PUBLIC tmpl, *pub = NULL;
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_CREATION_DATA *cdata = NULL;
	TPM2B_DIGEST *chash = NULL;
	TPMT_TK_CREATION *ticket = NULL;
	TSS2_RC rc;
	int r;

	tpm_ak_template(alg, &tmpl);
	r = tpm_ek_session(t, &session);
	if (r < 0)
		return r;
	rc = Esys_Create(t->esys, t->ek, session, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl,
			 &outside, &pcrs, &priv, &pub, &cdata, &chash, &ticket);
	tpm_flush(t, &session);
	if (rc != TSS2_RC_SUCCESS)
		return err_wrap(tpm_rc(rc, "TPM2_Create"), "creating the AK under the EK");
	t->ak_pub = *pub;
	t->ak_priv = *priv;
	OPENSSL_cleanse(priv, sizeof(*priv));
	Esys_Free(priv);
	Esys_Free(pub);
	Esys_Free(cdata);
	Esys_Free(chash);
	Esys_Free(ticket);
	return 0;
}

int tpm_ak_load(struct tpm *t)
{
	ESYS_TR session = ESYS_TR_NONE;
	TSS2_RC rc;
	int r;

	r = tpm_ek_session(t, &session);
	if (r < 0)
		return r;
	rc = Esys_Load(t->esys, t->ek, session, ESYS_TR_NONE, ESYS_TR_NONE, &t->ak_priv, &t->ak_pub,
		       &t->ak);
	tpm_flush(t, &session);
	if (rc != TSS2_RC_SUCCESS) {
		t->ak = ESYS_TR_NONE;
		return err_wrap(tpm_rc(rc, "TPM2_Load"), "loading the AK under the EK");
	}
	return 0;
}

int tpm_ak_open(struct tpm *t, enum tpm_keyalg alg)
{
	int r;

	r = tpm_ak_read(t);
	if (r == AICERT_ERR_NOT_FOUND) {
		r = tpm_ak_create(t, alg);
		if (r == 0)
			r = tpm_ak_save(t);
	}
	if (r < 0)
		return r;
	t->ak_alg = t->ak_pub.publicArea.type == TPM2_ALG_RSA ? TPM_KEYALG_RSA : TPM_KEYALG_ECC;
	return tpm_ak_load(t);
}

/* name = nameAlg (SHA-256) || SHA-256(marshalled TPMT_PUBLIC). */
static int tpm_ak_name(const uint8_t *pub, size_t pub_len, uint8_t **name, size_t *name_len)
{
	unsigned md_len = 0;
	uint8_t *n;

	n = malloc(2 + EVP_MAX_MD_SIZE);
	if (!n)
		return AICERT_ERR_NOMEM;
	n[0] = TPM2_ALG_SHA256 >> 8;
	n[1] = TPM2_ALG_SHA256 & 0xff;
	if (!EVP_Digest(pub, pub_len, n + 2, &md_len, EVP_sha256(), NULL)) {
		free(n);
		return err_set(AICERT_ERR_CRYPTO, "SHA-256 of the AK public area failed");
	}
	*name = n;
	*name_len = 2 + md_len;
	return 0;
}

int tpm_ak_public(struct tpm *t, uint8_t **pub, size_t *pub_len, uint8_t **name, size_t *name_len)
{
	uint8_t buf[sizeof(TPMT_PUBLIC)];
	uint8_t *p = NULL, *n = NULL;
	size_t off = 0, n_len = 0;
	TSS2_RC rc;
	int r;

	rc = Tss2_MU_TPMT_PUBLIC_Marshal(&t->ak_pub.publicArea, buf, sizeof(buf), &off);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_rc(rc, "marshalling the AK public area");
	r = tpm_ak_name(buf, off, &n, &n_len);
	if (r < 0)
		return r;
	p = malloc(off);
	if (!p) {
		free(n);
		return AICERT_ERR_NOMEM;
	}
	memcpy(p, buf, off);
	*pub = p;
	*pub_len = off;
	*name = n;
	*name_len = n_len;
	return 0;
}
