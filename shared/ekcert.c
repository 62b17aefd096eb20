#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ekcert.h"
#include "err.h"
#include "fileio.h"
#include "tpmkey.h"

struct ekcert_store {
	X509_STORE *roots;
	STACK_OF(X509) * intermediates;
	size_t n_roots;
};

/* OpenSSL security level 2: 112 bits, so no SHA-1 and no RSA-1024. */
#define EKCERT_AUTH_LEVEL 2

int ekcert_store_new(struct ekcert_store **ret)
{
	struct ekcert_store *s = calloc(1, sizeof(*s));

	if (!s)
		return AICERT_ERR_NOMEM;
	s->roots = X509_STORE_new();
	s->intermediates = sk_X509_new_null();
	if (!s->roots || !s->intermediates) {
		ekcert_store_free(s);
		return AICERT_ERR_NOMEM;
	}
	*ret = s;
	return 0;
}

void ekcert_store_free(struct ekcert_store *s)
{
	if (!s)
		return;
	X509_STORE_free(s->roots);
	sk_X509_pop_free(s->intermediates, X509_free);
	free(s);
}

int ekcert_store_add_root(struct ekcert_store *s, X509 *cert)
{
	if (X509_STORE_add_cert(s->roots, cert) != 1)
		return tpmkey_err_openssl(AICERT_ERR_INVALID, "adding a trusted root failed");
	s->n_roots++;
	return 0;
}

int ekcert_store_add_intermediate(struct ekcert_store *s, X509 *cert)
{
	if (sk_X509_num(s->intermediates) >= EKCERT_MAX_PEM_CERTS)
		return err_set(AICERT_ERR_TOO_BIG, "more than %d intermediate certificates",
			       EKCERT_MAX_PEM_CERTS);
	if (!X509_up_ref(cert))
		return AICERT_ERR_INTERNAL;
	if (!sk_X509_push(s->intermediates, cert)) {
		X509_free(cert);
		return AICERT_ERR_NOMEM;
	}
	return 0;
}

/* Reads every certificate of a PEM file and adds it with add(). */
static int ekcert_store_load(struct ekcert_store *s, const char *path,
			     int (*add)(struct ekcert_store *, X509 *))
{
	uint8_t *buf = NULL;
	BIO *bio = NULL;
	X509 *x = NULL;
	size_t len, n = 0;
	unsigned long e;
	int r;

	r = fileio_read_all(path, EKCERT_MAX_PEM_BYTES, &buf, &len);
	if (r < 0)
		return r;
	bio = BIO_new_mem_buf(buf, (int)len);
	if (!bio) {
		r = AICERT_ERR_NOMEM;
		goto out;
	}
	ERR_clear_error();
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		r = ++n > EKCERT_MAX_PEM_CERTS
			    ? err_set(AICERT_ERR_TOO_BIG, "%s: more than %d certificates", path,
				      EKCERT_MAX_PEM_CERTS)
			    : add(s, x);
		X509_free(x);
		if (r < 0)
			goto out;
	}
	e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) != ERR_LIB_PEM || ERR_GET_REASON(e) != PEM_R_NO_START_LINE) {
		r = tpmkey_err_openssl(AICERT_ERR_INVALID, "%s: certificate %zu does not parse",
				       path, n + 1);
		goto out;
	}
	ERR_clear_error();
	if (n == 0) {
		r = err_set(AICERT_ERR_INVALID, "%s: no PEM certificate in it", path);
		goto out;
	}
	r = 0;
out:
	BIO_free(bio);
	free(buf);
	return r;
}

int ekcert_store_load_roots(struct ekcert_store *s, const char *pem_path)
{
	return ekcert_store_load(s, pem_path, ekcert_store_add_root);
}

int ekcert_store_load_intermediates(struct ekcert_store *s, const char *pem_path)
{
	return ekcert_store_load(s, pem_path, ekcert_store_add_intermediate);
}

int ekcert_parse_der(const uint8_t *der, size_t len, X509 **ret)
{
	const unsigned char *p = der;
	X509 *x;

	if (len == 0)
		return err_set(AICERT_ERR_INVALID, "certificate of 0 bytes");
	if (len > EKCERT_MAX_DER)
		return err_set(AICERT_ERR_TOO_BIG, "certificate of %zu bytes, at most %d", len,
			       EKCERT_MAX_DER);
	x = d2i_X509(NULL, &p, (long)len);
	if (!x)
		return tpmkey_err_openssl(AICERT_ERR_INVALID, "certificate of %zu bytes is not DER",
					  len);
	if ((size_t)(p - der) != len) {
		X509_free(x);
		return err_set(AICERT_ERR_INVALID,
			       "certificate: %zu trailing bytes after offset %zu",
			       len - (size_t)(p - der), (size_t)(p - der));
	}
	*ret = x;
	return 0;
}

void ekcert_name_text(const X509_NAME *name, char *buf, size_t cap)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL;
	long n = 0;

	if (cap == 0)
		return;
	buf[0] = '\0';
	if (bio && X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0)
		n = BIO_get_mem_data(bio, &data);
	if (n > 0)
		snprintf(buf, cap, "%.*s", (int)n, data);
	else
		snprintf(buf, cap, "%s", X509_NAME_entry_count(name) ? "?" : "(empty)");
	BIO_free(bio);
	ERR_clear_error();
}

/* "EK certificate chain: <reason> (depth N, subject ...)". */
static int ekcert_chain_error(X509_STORE_CTX *ctx)
{
	int e = X509_STORE_CTX_get_error(ctx);
	X509 *at = X509_STORE_CTX_get_current_cert(ctx);
	char subject[256] = "?";

	if (at)
		ekcert_name_text(X509_get_subject_name(at), subject, sizeof(subject));
	ERR_clear_error();
	return err_set(AICERT_ERR_REJECTED, "EK certificate chain: %s (depth %d, subject %s)",
		       X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(ctx),
		       subject);
}

static int ekcert_chain(const struct ekcert_store *s, X509 *cert, time_t at)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_VERIFY_PARAM *param;
	int r;

	if (!ctx || X509_STORE_CTX_init(ctx, s->roots, cert, s->intermediates) != 1) {
		r = tpmkey_err_openssl(AICERT_ERR_NOMEM, "EK certificate chain: setup failed");
		goto out;
	}
	param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(param, at);
	X509_VERIFY_PARAM_set_depth(param, EKCERT_MAX_DEPTH - 2);
	X509_VERIFY_PARAM_set_auth_level(param, EKCERT_AUTH_LEVEL);
	/* No purpose: OpenSSL knows none for EK certificates; the EKU is
	 * checked on the leaf below. */
	if (X509_verify_cert(ctx) != 1) {
		r = ekcert_chain_error(ctx);
		goto out;
	}
	r = 0;
out:
	X509_STORE_CTX_free(ctx);
	return r;
}

int ekcert_has_eku(const X509 *cert, const char *oid)
{
	EXTENDED_KEY_USAGE *eku = NULL;
	ASN1_OBJECT *want = NULL;
	int crit = -1, found = 0;

	eku = X509_get_ext_d2i(cert, NID_ext_key_usage, &crit, NULL);
	if (!eku) {
		ERR_clear_error();
		if (crit == -1)
			return 0;
		return err_set(AICERT_ERR_INVALID, "extended key usage extension is %s",
			       crit == -2 ? "present twice" : "malformed");
	}
	want = OBJ_txt2obj(oid, 1);
	if (!want) {
		EXTENDED_KEY_USAGE_free(eku);
		return err_set(AICERT_ERR_INTERNAL, "bad OID text %s", oid);
	}
	for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++)
		if (OBJ_cmp(sk_ASN1_OBJECT_value(eku, i), want) == 0)
			found = 1;
	ASN1_OBJECT_free(want);
	EXTENDED_KEY_USAGE_free(eku);
	return found;
}

int ekcert_verify(const struct ekcert_store *s, X509 *cert, time_t at)
{
	int r;

	if (s->n_roots == 0)
		return err_set(AICERT_ERR_INVALID, "EK certificate chain: no trusted roots given");
	r = ekcert_chain(s, cert, at);
	if (r < 0)
		return r;
	r = ekcert_has_eku(cert, EKCERT_OID_EK_CERTIFICATE);
	if (r < 0)
		return err_wrap(AICERT_ERR_REJECTED, "EK certificate");
	if (r == 0)
		return err_set(AICERT_ERR_REJECTED,
			       "EK certificate: its extended key usage does not list "
			       "tcg-kp-EKCertificate (" EKCERT_OID_EK_CERTIFICATE ")");
	return 0;
}

int ekcert_check_key(const X509 *cert, const TPMT_PUBLIC *ek)
{
	EVP_PKEY *pkey = X509_get0_pubkey(cert);
	int r;

	if (!pkey)
		return tpmkey_err_openssl(AICERT_ERR_INVALID,
					  "EK certificate: its public key does not parse");
	r = tpmkey_check_evp(ek, pkey);
	if (r == AICERT_ERR_REJECTED)
		return err_wrap(r, "EK public key: the TPM's EK is not the EK certificate's key");
	if (r < 0)
		return err_wrap(r, "EK public key");
	return 0;
}

/* ---- TPM attributes ------------------------------------------------------- */

static void ekcert_copy_printable(const ASN1_STRING *s, char *out, size_t cap)
{
	const unsigned char *d = ASN1_STRING_get0_data(s);
	int len = ASN1_STRING_length(s);
	size_t k = 0;

	for (int i = 0; i < len && k + 1 < cap; i++)
		out[k++] = d[i] >= 0x20 && d[i] < 0x7f ? (char)d[i] : '?';
	out[k] = '\0';
}

static int ekcert_tpm_dirname(const X509_NAME *dn, struct ekcert_tpm *t)
{
	static const char *const oids[] = {"2.23.133.2.1", "2.23.133.2.2", "2.23.133.2.3"};
	char *fields[] = {t->manufacturer, t->model, t->version};
	int found = 0;

	for (int i = 0; i < X509_NAME_entry_count(dn); i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(dn, i);
		char oid[32];

		if (OBJ_obj2txt(oid, sizeof(oid), X509_NAME_ENTRY_get_object(e), 1) <= 0)
			continue;
		for (size_t k = 0; k < 3; k++) {
			if (strcmp(oid, oids[k]) != 0)
				continue;
			ekcert_copy_printable(X509_NAME_ENTRY_get_data(e), fields[k],
					      sizeof(t->model));
			found = 1;
		}
	}
	return found;
}

int ekcert_tpm_info(const X509 *cert, struct ekcert_tpm *out)
{
	GENERAL_NAMES *names;
	struct ekcert_tpm t;
	int crit = -1, found = 0;

	memset(&t, 0, sizeof(t));
	names = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);
	ERR_clear_error();
	if (!names)
		return err_set(crit == -1 ? AICERT_ERR_NOT_FOUND : AICERT_ERR_INVALID,
			       "EK certificate: %s subjectAltName",
			       crit == -1 ? "no" : "a malformed or duplicated");
	for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);

		if (g->type == GEN_DIRNAME && ekcert_tpm_dirname(g->d.directoryName, &t))
			found = 1;
	}
	GENERAL_NAMES_free(names);
	if (!found)
		return err_set(AICERT_ERR_NOT_FOUND,
			       "EK certificate: no TPM attributes in its subjectAltName");
	*out = t;
	return 0;
}
