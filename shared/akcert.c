#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "akcert.h"
#include "ekcert.h"
#include "err.h"
#include "tpmkey.h"

/* SEQUENCE (41) { OID 2.23.133.1.2, OCTET STRING (32) ... } */
static const uint8_t akcert_hwmod_prefix[] = {0x30, 0x29, 0x06, 0x05, 0x67, 0x81,
					      0x05, 0x01, 0x02, 0x04, 0x20};

_Static_assert(sizeof(akcert_hwmod_prefix) + 32 == AKCERT_HWMOD_LEN, "hwmod layout");

int akcert_hwmod_der(const uint8_t *ek_der, size_t ek_len, uint8_t out[AKCERT_HWMOD_LEN])
{
	memcpy(out, akcert_hwmod_prefix, sizeof(akcert_hwmod_prefix));
	if (EVP_Digest(ek_der, ek_len, out + sizeof(akcert_hwmod_prefix), NULL, EVP_sha256(),
		       NULL) != 1)
		return tpmkey_err_openssl(AICERT_ERR_CRYPTO, "hashing the EK certificate failed");
	return 0;
}

int akcert_ek_digest(const X509 *ak_cert, uint8_t digest[32])
{
	GENERAL_NAMES *names;
	ASN1_OBJECT *want = OBJ_txt2obj(AKCERT_OID_HW_MODULE_NAME, 1);
	const ASN1_STRING *found = NULL;
	int crit = -1, n = 0, r;

	names = X509_get_ext_d2i(ak_cert, NID_subject_alt_name, &crit, NULL);
	ERR_clear_error();
	for (int i = 0; names && want && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);

		if (g->type != GEN_OTHERNAME || OBJ_cmp(g->d.otherName->type_id, want) != 0)
			continue;
		n++;
		if (g->d.otherName->value->type == V_ASN1_SEQUENCE)
			found = g->d.otherName->value->value.sequence;
	}
	if (!want)
		r = AICERT_ERR_NOMEM;
	else if (!names)
		r = err_set(AICERT_ERR_INVALID, "AK certificate: %s subjectAltName",
			    crit == -1 ? "no" : "a malformed or duplicated");
	else if (n != 1 || !found || ASN1_STRING_length(found) != AKCERT_HWMOD_LEN ||
		 memcmp(ASN1_STRING_get0_data(found), akcert_hwmod_prefix,
			sizeof(akcert_hwmod_prefix)))
		r = err_set(AICERT_ERR_INVALID,
			    "AK certificate: expected one hardwareModuleName naming a TPM 2.0 "
			    "(%s) by a SHA-256 digest, found %d%s",
			    AKCERT_OID_HWTYPE_TPM20, n, n == 1 ? " of another form" : "");
	else {
		memcpy(digest, ASN1_STRING_get0_data(found) + sizeof(akcert_hwmod_prefix), 32);
		r = 0;
	}
	GENERAL_NAMES_free(names);
	ASN1_OBJECT_free(want);
	return r;
}

static int akcert_chain(X509 *ak_cert, STACK_OF(X509) * anchors, STACK_OF(X509) * untrusted,
			time_t at)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_VERIFY_PARAM *param;
	char subject[256] = "?";
	int r = 0;

	for (int i = 0; store && i < sk_X509_num(anchors); i++)
		if (X509_STORE_add_cert(store, sk_X509_value(anchors, i)) != 1)
			r = AICERT_ERR_NOMEM;
	if (r < 0 || !store || !ctx || X509_STORE_CTX_init(ctx, store, ak_cert, untrusted) != 1) {
		r = tpmkey_err_openssl(AICERT_ERR_NOMEM, "AK certificate chain: setup failed");
		goto out;
	}
	param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(param, at);
	X509_VERIFY_PARAM_set_depth(param, AKCERT_MAX_DEPTH);
	/* Security level 2: no SHA-1 signatures, no short keys. */
	X509_VERIFY_PARAM_set_auth_level(param, 2);
	if (X509_verify_cert(ctx) != 1) {
		X509 *cur = X509_STORE_CTX_get_current_cert(ctx);

		if (cur)
			ekcert_name_text(X509_get_subject_name(cur), subject, sizeof(subject));
		r = err_set(AICERT_ERR_REJECTED, "AK certificate chain: %s (depth %d, subject %s)",
			    X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)),
			    X509_STORE_CTX_get_error_depth(ctx), subject);
	}
out:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return r;
}

int akcert_verify(X509 *ak_cert, STACK_OF(X509) * anchors, STACK_OF(X509) * untrusted,
		  const TPMT_PUBLIC *ak, time_t at)
{
	uint8_t digest[32];
	EVP_PKEY *pkey;
	int r;

	r = akcert_chain(ak_cert, anchors, untrusted, at);
	if (r < 0)
		return r;
	r = ekcert_has_eku(ak_cert, AKCERT_OID_AK_CERTIFICATE);
	if (r < 0)
		return err_wrap(AICERT_ERR_REJECTED, "AK certificate");
	if (r == 0)
		return err_set(AICERT_ERR_REJECTED,
			       "AK certificate: its extended key usage does not list "
			       "tcg-kp-AIKCertificate (" AKCERT_OID_AK_CERTIFICATE ")");
	r = akcert_ek_digest(ak_cert, digest);
	if (r < 0)
		return err_wrap(AICERT_ERR_REJECTED, "AK certificate");
	if (!ak)
		return 0;
	pkey = X509_get0_pubkey(ak_cert);
	if (!pkey)
		return tpmkey_err_openssl(AICERT_ERR_REJECTED,
					  "AK certificate: its key does not parse");
	r = tpmkey_check_evp(ak, pkey);
	return r < 0 ? err_wrap(AICERT_ERR_REJECTED, "AK certificate: its key is not the AK's") : 0;
}
