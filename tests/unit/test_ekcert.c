/* Unit tests for EK certificate verification (shared/ekcert.c), with
 * certificate chains made here with OpenSSL: root -> intermediate -> EK, in
 * the shape swtpm's local CA and TPM vendors use (a critical subjectAltName
 * directoryName with the TPM's manufacturer, model and version, the EKU
 * tcg-kp-EKCertificate). Real swtpm EK certificates are checked in
 * tests/integration/test_enroll.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ekcert.h"
#include "err.h"
#include "tpmkey.h"

#define DAY (24 * 3600L)

#define EK_ATTRS                                                                                   \
	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |        \
	 TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT)

struct certopts {
	const char *cn; /* NULL: empty subject */
	X509 *issuer;   /* NULL: self-signed */
	EVP_PKEY *issuer_key;
	EVP_PKEY *key;
	int ca;
	long from, to;        /* seconds relative to now */
	const char *eku;      /* NULL: no EKU extension */
	int tcg_san;          /* critical SAN with TPM attributes */
	int unknown_critical; /* a critical extension OpenSSL does not know */
	const EVP_MD *md;     /* NULL: SHA-256 */
};

static EVP_PKEY *root_key, *other_root_key, *int_key, *ek_key, *other_ek_key;
static X509 *root, *other_root, *inter, *ek;
static time_t now;

static void add_conf(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

static void add_tcg_san(X509 *x)
{
	static const char *const attrs[][2] = {{"2.23.133.2.1", "id:00001014"},
					       {"2.23.133.2.2", "swtpm"},
					       {"2.23.133.2.3", "id:20191023"}};
	GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gen = GENERAL_NAME_new();
	X509_NAME *dn = X509_NAME_new();

	for (size_t i = 0; i < 3; i++) {
		ASN1_OBJECT *oid = OBJ_txt2obj(attrs[i][0], 1);

		assert_int_equal(X509_NAME_add_entry_by_OBJ(dn, oid, MBSTRING_UTF8,
							    (const unsigned char *)attrs[i][1], -1,
							    -1, 0),
				 1);
		ASN1_OBJECT_free(oid);
	}
	GENERAL_NAME_set0_value(gen, GEN_DIRNAME, dn);
	sk_GENERAL_NAME_push(names, gen);
	assert_int_equal(X509_add1_ext_i2d(x, NID_subject_alt_name, names, 1, 0), 1);
	GENERAL_NAMES_free(names);
}

static void add_unknown_critical(X509 *x)
{
	ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.4.1.55555.1.2", 1);
	ASN1_OCTET_STRING *value = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext;

	ASN1_OCTET_STRING_set(value, (const unsigned char *)"\x05\x00", 2);
	ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 1, value);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(value);
	ASN1_OBJECT_free(oid);
}

static X509 *mkcert(const struct certopts *o)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_NAME *name = X509_get_subject_name(x);

	assert_non_null(x);
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	if (o->cn)
		X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)o->cn,
					   -1, -1, 0);
	X509_set_issuer_name(x, o->issuer ? X509_get_subject_name(o->issuer) : name);
	X509_time_adj_ex(X509_getm_notBefore(x), 0, o->from, &now);
	X509_time_adj_ex(X509_getm_notAfter(x), 0, o->to, &now);
	X509_set_pubkey(x, o->key);
	if (o->ca) {
		add_conf(x, o->issuer, NID_basic_constraints, "critical,CA:TRUE");
		add_conf(x, o->issuer, NID_key_usage, "critical,keyCertSign");
	} else {
		add_conf(x, o->issuer, NID_basic_constraints, "critical,CA:FALSE");
	}
	add_conf(x, o->issuer, NID_subject_key_identifier, "hash");
	if (o->issuer)
		add_conf(x, o->issuer, NID_authority_key_identifier, "keyid:always");
	if (o->eku)
		add_conf(x, o->issuer, NID_ext_key_usage, o->eku);
	if (o->tcg_san)
		add_tcg_san(x);
	if (o->unknown_critical)
		add_unknown_critical(x);
	assert_true(X509_sign(x, o->issuer_key ? o->issuer_key : o->key,
			      o->md ? o->md : EVP_sha256()) > 0);
	return x;
}

/* An EK certificate issued by the intermediate, valid for a day. */
static X509 *mkek(void)
{
	struct certopts o = {.cn = "test EK",
			     .issuer = inter,
			     .issuer_key = int_key,
			     .key = ek_key,
			     .from = -3600,
			     .to = DAY,
			     .eku = "2.23.133.8.1",
			     .tcg_san = 1};

	return mkcert(&o);
}

static int group_setup(void **state)
{
	struct certopts ro = {.cn = "test EK root", .ca = 1, .from = -DAY, .to = 3650 * DAY};
	struct certopts oo = ro;
	struct certopts io = {.cn = "test EK issuer", .ca = 1, .from = -DAY, .to = 3650 * DAY};

	now = time(NULL);
	root_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	other_root_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	int_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	ek_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	other_ek_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (!root_key || !other_root_key || !int_key || !ek_key || !other_ek_key)
		return -1;
	ro.key = root_key;
	root = mkcert(&ro);
	oo.key = other_root_key;
	oo.cn = "test EK root"; /* the same name, another key */
	other_root = mkcert(&oo);
	io.issuer = root;
	io.issuer_key = root_key;
	io.key = int_key;
	inter = mkcert(&io);
	ek = mkek();
	return 0;
}

static int group_teardown(void **state)
{
	X509_free(ek);
	X509_free(inter);
	X509_free(other_root);
	X509_free(root);
	EVP_PKEY_free(other_ek_key);
	EVP_PKEY_free(ek_key);
	EVP_PKEY_free(int_key);
	EVP_PKEY_free(other_root_key);
	EVP_PKEY_free(root_key);
	return 0;
}

static struct ekcert_store *store_with(X509 *r, X509 *i)
{
	struct ekcert_store *s = NULL;

	assert_int_equal(ekcert_store_new(&s), 0);
	if (r)
		assert_int_equal(ekcert_store_add_root(s, r), 0);
	if (i)
		assert_int_equal(ekcert_store_add_intermediate(s, i), 0);
	return s;
}

/* Writes the certificates as one PEM file; returns its path (static). */
static const char *write_pem(X509 *const *certs, size_t n, const char *extra)
{
	static char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/tmp/test_ekcert.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	for (size_t i = 0; i < n; i++)
		assert_int_equal(PEM_write_X509(f, certs[i]), 1);
	if (extra)
		fputs(extra, f);
	fclose(f);
	return path;
}

static void assert_msg(int r, const char *want)
{
	const char *msg = err_msg(r);

	if (!strstr(msg, want))
		fail_msg("message '%s' does not contain '%s'", msg, want);
}

/* ---- chains ------------------------------------------------------------------- */

static void ekcert_accepts_a_chain_through_an_intermediate(void **state)
{
	X509 *roots[] = {other_root, root};
	struct ekcert_store *s = NULL;
	const char *path;

	assert_int_equal(ekcert_store_new(&s), 0);
	path = write_pem(roots, 2, NULL);
	assert_int_equal(ekcert_store_load_roots(s, path), 0);
	unlink(path);
	path = write_pem(&inter, 1, NULL);
	assert_int_equal(ekcert_store_load_intermediates(s, path), 0);
	unlink(path);
	/* Two roots of the same name: the AKI picks the right one. */
	if (ekcert_verify(s, ek, now) != 0)
		fail_msg("%s", err_msg(-1));
	ekcert_store_free(s);
}

static void ekcert_names_a_missing_issuer(void **state)
{
	struct ekcert_store *s = store_with(root, NULL);
	int r = ekcert_verify(s, ek, now);

	assert_int_equal(r, AICERT_ERR_REJECTED);
	assert_string_equal(err_msg(r), "EK certificate chain: unable to get local issuer "
					"certificate (depth 0, subject CN=test EK)");
	ekcert_store_free(s);
}

static void ekcert_rejects_a_chain_to_another_root(void **state)
{
	struct ekcert_store *s = store_with(other_root, inter);
	int r = ekcert_verify(s, ek, now);

	assert_int_equal(r, AICERT_ERR_REJECTED);
	assert_msg(r, "EK certificate chain: ");
	assert_msg(r, "depth 1, subject CN=test EK issuer");
	ekcert_store_free(s);
}

static void ekcert_rejects_certificates_outside_their_validity(void **state)
{
	struct ekcert_store *s = store_with(root, inter);
	int r;

	r = ekcert_verify(s, ek, now + 2 * DAY);
	assert_int_equal(r, AICERT_ERR_REJECTED);
	assert_msg(r, "certificate has expired (depth 0, subject CN=test EK)");
	r = ekcert_verify(s, ek, now - 2 * 3600);
	assert_int_equal(r, AICERT_ERR_REJECTED);
	assert_msg(r, "certificate is not yet valid (depth 0, subject CN=test EK)");
	r = ekcert_verify(s, ek, now + 3651 * DAY);
	assert_int_equal(r, AICERT_ERR_REJECTED);
	assert_msg(r, "certificate has expired (depth 2, subject CN=test EK root)");
	ekcert_store_free(s);
}

static void ekcert_rejects_an_issuer_that_is_no_ca(void **state)
{
	struct certopts no = {.cn = "not a CA",
			      .issuer = root,
			      .issuer_key = root_key,
			      .key = int_key,
			      .from = -DAY,
			      .to = DAY};
	struct certopts lo = {
		.cn = "test EK", .key = ek_key, .from = -3600, .to = DAY, .eku = "2.23.133.8.1"};
	X509 *fake = mkcert(&no), *leaf;
	struct ekcert_store *s = store_with(root, fake);
	int r;

	lo.issuer = fake;
	lo.issuer_key = int_key;
	leaf = mkcert(&lo);
	r = ekcert_verify(s, leaf, now);
	assert_int_equal(r, AICERT_ERR_REJECTED);
	assert_msg(r, "invalid CA certificate (depth 1, subject CN=not a CA)");
	X509_free(leaf);
	X509_free(fake);
	ekcert_store_free(s);
}

static void ekcert_rejects_sha1_signatures(void **state)
{
	struct certopts o = {.cn = "test EK",
			     .issuer = inter,
			     .issuer_key = int_key,
			     .key = ek_key,
			     .from = -3600,
			     .to = DAY,
			     .eku = "2.23.133.8.1",
			     .md = EVP_sha1()};
	struct ekcert_store *s = store_with(root, inter);
	X509 *leaf = mkcert(&o);
	int r = ekcert_verify(s, leaf, now);

	assert_int_equal(r, AICERT_ERR_REJECTED);
	assert_msg(r, "too weak");
	X509_free(leaf);
	ekcert_store_free(s);
}

static void ekcert_verify_needs_roots(void **state)
{
	struct ekcert_store *s = store_with(NULL, inter);

	assert_int_equal(ekcert_verify(s, ek, now), AICERT_ERR_INVALID);
	ekcert_store_free(s);
}

/* ---- extensions -------------------------------------------------------------------- */

static void ekcert_requires_the_ek_certificate_eku(void **state)
{
	struct certopts o = {.cn = "test EK",
			     .issuer = inter,
			     .issuer_key = int_key,
			     .key = ek_key,
			     .from = -3600,
			     .to = DAY,
			     .tcg_san = 1};
	struct ekcert_store *s = store_with(root, inter);
	X509 *none = mkcert(&o), *other;
	int r;

	o.eku = "serverAuth,2.23.133.8.3";
	other = mkcert(&o);
	r = ekcert_verify(s, none, now);
	assert_int_equal(r, AICERT_ERR_REJECTED);
	assert_string_equal(err_msg(r), "EK certificate: its extended key usage does not list "
					"tcg-kp-EKCertificate (2.23.133.8.1)");
	assert_int_equal(ekcert_verify(s, other, now), AICERT_ERR_REJECTED);
	assert_int_equal(ekcert_has_eku(other, "2.23.133.8.3"), 1);
	assert_int_equal(ekcert_has_eku(other, "2.23.133.8.1"), 0);
	X509_free(other);
	X509_free(none);
	ekcert_store_free(s);
}

static void ekcert_rejects_unknown_critical_extensions(void **state)
{
	struct certopts o = {.cn = "test EK",
			     .issuer = inter,
			     .issuer_key = int_key,
			     .key = ek_key,
			     .from = -3600,
			     .to = DAY,
			     .eku = "2.23.133.8.1",
			     .tcg_san = 1,
			     .unknown_critical = 1};
	struct ekcert_store *s = store_with(root, inter);
	X509 *leaf = mkcert(&o);
	int r = ekcert_verify(s, leaf, now);

	assert_int_equal(r, AICERT_ERR_REJECTED);
	assert_string_equal(err_msg(r), "EK certificate chain: unhandled critical extension "
					"(depth 0, subject CN=test EK)");
	X509_free(leaf);
	ekcert_store_free(s);
}

/* The TCG EK profile's form: an empty subject and a critical SAN naming
 * the TPM. OpenSSL decodes the SAN, so it is a handled critical extension. */
static void ekcert_accepts_the_tcg_subject_alt_name(void **state)
{
	struct certopts o = {.issuer = inter,
			     .issuer_key = int_key,
			     .key = ek_key,
			     .from = -3600,
			     .to = DAY,
			     .eku = "2.23.133.8.1",
			     .tcg_san = 1};
	struct ekcert_store *s = store_with(root, NULL);
	X509 *leaf = mkcert(&o);
	struct ekcert_tpm t;
	int r;

	assert_int_equal(ekcert_tpm_info(leaf, &t), 0);
	assert_string_equal(t.manufacturer, "id:00001014");
	assert_string_equal(t.model, "swtpm");
	assert_string_equal(t.version, "id:20191023");
	r = ekcert_verify(s, leaf, now); /* no intermediate: fails, naming the empty subject */
	assert_int_equal(r, AICERT_ERR_REJECTED);
	assert_msg(r, "(depth 0, subject (empty))");
	assert_int_equal(ekcert_store_add_intermediate(s, inter), 0);
	assert_int_equal(ekcert_verify(s, leaf, now), 0);
	assert_int_equal(ekcert_tpm_info(root, &t), AICERT_ERR_NOT_FOUND);
	X509_free(leaf);
	ekcert_store_free(s);
}

/* ---- the EK key ------------------------------------------------------------------------- */

static void ekcert_check_key_binds_the_tpm_ek(void **state)
{
	TPMT_PUBLIC mine, other;
	int r;

	assert_int_equal(tpmkey_from_evp(ek_key, EK_ATTRS, &mine), 0);
	assert_int_equal(tpmkey_from_evp(other_ek_key, EK_ATTRS, &other), 0);
	assert_int_equal(ekcert_check_key(ek, &mine), 0);
	r = ekcert_check_key(ek, &other);
	assert_int_equal(r, AICERT_ERR_REJECTED);
	assert_msg(r, "EK public key: the TPM's EK is not the EK certificate's key");
}

/* ---- parsing ---------------------------------------------------------------------------- */

static void ekcert_parse_der_takes_exactly_one_certificate(void **state)
{
	unsigned char *der = NULL;
	uint8_t *buf;
	X509 *x = NULL;
	int len = i2d_X509(ek, &der);

	assert_true(len > 0);
	buf = calloc(1, (size_t)len + EKCERT_MAX_DER);
	memcpy(buf, der, (size_t)len);
	assert_int_equal(ekcert_parse_der(buf, (size_t)len, &x), 0);
	assert_int_equal(X509_cmp(x, ek), 0);
	X509_free(x);
	x = NULL;
	/* A trailing zero, as a padded NV index would have. */
	assert_int_equal(ekcert_parse_der(buf, (size_t)len + 1, &x), AICERT_ERR_INVALID);
	assert_msg(AICERT_ERR_INVALID, "1 trailing bytes");
	for (size_t cut = 1; cut < (size_t)len; cut += 97)
		assert_int_equal(ekcert_parse_der(buf, (size_t)len - cut, &x), AICERT_ERR_INVALID);
	assert_int_equal(ekcert_parse_der(buf, 0, &x), AICERT_ERR_INVALID);
	assert_int_equal(ekcert_parse_der(buf, EKCERT_MAX_DER + 1, &x), AICERT_ERR_TOO_BIG);
	memset(buf, 0x30, 64);
	assert_int_equal(ekcert_parse_der(buf, 64, &x), AICERT_ERR_INVALID);
	assert_null(x);
	free(buf);
	OPENSSL_free(der);
}

static void ekcert_store_load_rejects_bad_files(void **state)
{
	struct ekcert_store *s = NULL;
	const char *path;

	assert_int_equal(ekcert_store_new(&s), 0);
	path = write_pem(NULL, 0, "not a certificate\n");
	assert_int_equal(ekcert_store_load_roots(s, path), AICERT_ERR_INVALID);
	assert_msg(AICERT_ERR_INVALID, "no PEM certificate");
	unlink(path);
	path = write_pem(&root, 1,
			 "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
	assert_int_equal(ekcert_store_load_roots(s, path), AICERT_ERR_INVALID);
	assert_msg(AICERT_ERR_INVALID, "certificate 2 does not parse");
	unlink(path);
	assert_int_equal(ekcert_store_load_roots(s, "/nonexistent/roots.pem"),
			 AICERT_ERR_NOT_FOUND);
	ekcert_store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ekcert_accepts_a_chain_through_an_intermediate),
		cmocka_unit_test(ekcert_names_a_missing_issuer),
		cmocka_unit_test(ekcert_rejects_a_chain_to_another_root),
		cmocka_unit_test(ekcert_rejects_certificates_outside_their_validity),
		cmocka_unit_test(ekcert_rejects_an_issuer_that_is_no_ca),
		cmocka_unit_test(ekcert_rejects_sha1_signatures),
		cmocka_unit_test(ekcert_verify_needs_roots),
		cmocka_unit_test(ekcert_requires_the_ek_certificate_eku),
		cmocka_unit_test(ekcert_rejects_unknown_critical_extensions),
		cmocka_unit_test(ekcert_accepts_the_tcg_subject_alt_name),
		cmocka_unit_test(ekcert_check_key_binds_the_tpm_ek),
		cmocka_unit_test(ekcert_parse_der_takes_exactly_one_certificate),
		cmocka_unit_test(ekcert_store_load_rejects_bad_files),
	};

	return cmocka_run_group_tests_name("ekcert", tests, group_setup, group_teardown);
}
