#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "err.h"
#include "proof.h"
#include "x509chain.h"

#define OID_HW_MODULE_NAME "1.3.6.1.5.5.7.8.4"

const char *x509chain_subject(const X509 *x)
{
	static _Thread_local char buf[256];

	buf[0] = '\0';
	if (x)
		X509_NAME_oneline(X509_get_subject_name(x), buf, sizeof(buf));
	return buf;
}

static int x509chain_parse(const char *what, size_t i, const struct proof_blob *b, X509 **out)
{
	const unsigned char *p = b->data;
	X509 *x;

	if (b->len > X509CHAIN_MAX_DER)
		return err_set(AICERT_ERR_TOO_BIG, "%s %zu: %zu bytes", what, i, b->len);
	x = d2i_X509(NULL, &p, (long)b->len);
	if (!x || p != b->data + b->len) {
		X509_free(x);
		ERR_clear_error();
		return err_set(AICERT_ERR_REJECTED, "%s %zu: not exactly one DER certificate", what,
			       i);
	}
	*out = x;
	return 0;
}

static int x509chain_has_eku(X509 *x, const char *oid)
{
	EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	ASN1_OBJECT *want = OBJ_txt2obj(oid, 1);
	int found = 0;

	for (int i = 0; eku && want && i < sk_ASN1_OBJECT_num(eku); i++)
		if (OBJ_cmp(sk_ASN1_OBJECT_value(eku, i), want) == 0)
			found = 1;
	EXTENDED_KEY_USAGE_free(eku);
	ASN1_OBJECT_free(want);
	return found;
}

static int x509chain_check(const char *what, X509 *leaf, STACK_OF(X509) * untrusted,
			   STACK_OF(X509) * anchors, time_t now)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int r = AICERT_ERR_NOMEM;

	if (!store || !ctx)
		goto out;
	for (int i = 0; i < sk_X509_num(anchors); i++)
		if (!X509_STORE_add_cert(store, sk_X509_value(anchors, i)))
			goto out;
	if (!X509_STORE_CTX_init(ctx, store, leaf, untrusted))
		goto out;
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_PARTIAL_CHAIN);
	X509_STORE_CTX_set_time(ctx, 0, now);
	if (X509_verify_cert(ctx) == 1) {
		r = 0;
		goto out;
	}
	{
		int e = X509_STORE_CTX_get_error(ctx);
		X509 *at = X509_STORE_CTX_get_current_cert(ctx);

		r = err_set(AICERT_ERR_REJECTED, "%s chain: %s (depth %d, subject %s)", what,
			    X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(ctx),
			    x509chain_subject(at ? at : leaf));
	}
out:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return r;
}

int x509chain_verify(const char *what, const struct proof_blob *certs, size_t n,
		     STACK_OF(X509) * anchors, STACK_OF(X509) * extra_untrusted,
		     const char *eku_oid, time_t now, X509 **leaf)
{
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	X509 *x = NULL, *first = NULL;
	int r = 0;

	if (!untrusted)
		return AICERT_ERR_NOMEM;
	if (n == 0)
		r = err_set(AICERT_ERR_REJECTED, "%s: none in the proof", what);
	for (size_t i = 0; r == 0 && i < n; i++) {
		r = x509chain_parse(what, i, &certs[i], &x);
		if (r == 0 && i == 0)
			first = x;
		else if (r == 0 && !sk_X509_push(untrusted, x)) {
			X509_free(x);
			r = AICERT_ERR_NOMEM;
		}
	}
	for (int i = 0; r == 0 && i < sk_X509_num(extra_untrusted); i++)
		if (!sk_X509_push(untrusted, sk_X509_value(extra_untrusted, i)) ||
		    !X509_up_ref(sk_X509_value(extra_untrusted, i)))
			r = AICERT_ERR_NOMEM;
	if (r == 0)
		r = x509chain_check(what, first, untrusted, anchors, now);
	if (r == 0 && !x509chain_has_eku(first, eku_oid))
		r = err_set(AICERT_ERR_REJECTED, "%s: extended key usage %s missing (subject %s)",
			    what, eku_oid, x509chain_subject(first));
	sk_X509_pop_free(untrusted, X509_free);
	if (r < 0) {
		X509_free(first);
		return r;
	}
	*leaf = first;
	return 0;
}

/* Reads HardwareModuleName ::= SEQUENCE { hwType OID, hwSerialNum OCTET STRING }. */
static int x509chain_hw_name(const ASN1_TYPE *v, uint8_t out[32])
{
	const unsigned char *p, *end;
	ASN1_OBJECT *type = NULL;
	ASN1_OCTET_STRING *serial = NULL;
	long len;
	int tag, cls, r = AICERT_ERR_REJECTED;

	if (v->type != V_ASN1_SEQUENCE)
		return err_set(r, "hardwareModuleName is not a SEQUENCE");
	p = v->value.sequence->data;
	end = p + v->value.sequence->length;
	if (ASN1_get_object(&p, &len, &tag, &cls, end - p) & 0x80 || tag != V_ASN1_SEQUENCE ||
	    p + len != end)
		return err_set(r, "hardwareModuleName: malformed SEQUENCE");
	type = d2i_ASN1_OBJECT(NULL, &p, end - p);
	serial = type ? d2i_ASN1_OCTET_STRING(NULL, &p, end - p) : NULL;
	if (!type || !serial || p != end)
		err_set(r, "hardwareModuleName: malformed contents");
	else if (ASN1_STRING_length(serial) != 32)
		err_set(r, "hardwareModuleName: hwSerialNum of %d bytes, expected 32",
			ASN1_STRING_length(serial));
	else {
		memcpy(out, ASN1_STRING_get0_data(serial), 32);
		r = 0;
	}
	ASN1_OBJECT_free(type);
	ASN1_OCTET_STRING_free(serial);
	ERR_clear_error();
	return r;
}

int x509chain_hw_serial(const X509 *x, uint8_t out[32])
{
	GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	ASN1_OBJECT *want = OBJ_txt2obj(OID_HW_MODULE_NAME, 1);
	int found = 0, r = 0;

	for (int i = 0; names && want && r == 0 && i < sk_GENERAL_NAME_num(names); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);

		if (g->type != GEN_OTHERNAME || OBJ_cmp(g->d.otherName->type_id, want) != 0)
			continue;
		if (found++)
			r = err_set(AICERT_ERR_REJECTED, "two hardwareModuleName entries");
		else
			r = x509chain_hw_name(g->d.otherName->value, out);
	}
	GENERAL_NAMES_free(names);
	ASN1_OBJECT_free(want);
	if (r == 0 && !found)
		r = err_set(AICERT_ERR_REJECTED, "no subjectAltName hardwareModuleName");
	return r;
}
