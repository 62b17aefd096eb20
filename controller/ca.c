#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "akcert.h"
#include "ca.h"
#include "ekcert.h"
#include "err.h"
#include "fileio.h"
#include "hex.h"
#include "tpmkey.h"

#define CA_MAX_FILE_BYTES 65536
#define CA_SERIAL_BYTES   16
#define CA_AK_CN_PREFIX   "aicert AK "
#define CA_AK_CN_MAX      (sizeof(CA_AK_CN_PREFIX) + 2 * sizeof(TPMU_NAME))

struct ca {
	char *dir;
	EVP_PKEY *key;
	X509 *cert;
};

static int ca_path(const char *dir, const char *name, char **ret)
{
	if (asprintf(ret, "%s/%s", dir, name) < 0)
		return AICERT_ERR_NOMEM;
	return 0;
}

static int ca_ossl(int code, const char *what)
{
	return tpmkey_err_openssl(code, "%s", what);
}

/* ---- certificate building blocks -------------------------------------------- */

static int ca_set_serial(X509 *x)
{
	uint8_t buf[CA_SERIAL_BYTES];
	ASN1_INTEGER *serial = NULL;
	BIGNUM *bn = NULL;
	int r = 0;

	if (RAND_bytes(buf, sizeof(buf)) != 1)
		return ca_ossl(AICERT_ERR_CRYPTO, "no random serial number");
	buf[0] = (uint8_t)((buf[0] & 0x7f) | 0x40); /* positive, 16 bytes long */
	bn = BN_bin2bn(buf, sizeof(buf), NULL);
	serial = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	if (!serial || X509_set_serialNumber(x, serial) != 1)
		r = ca_ossl(AICERT_ERR_CRYPTO, "setting the serial number failed");
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	return r;
}

static int ca_set_validity(X509 *x, time_t now, uint32_t days, const X509 *issuer)
{
	time_t from = now - CA_CLOCK_SKEW_S;
	time_t until = now + (time_t)days * 86400;

	if (!X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &from) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, &now))
		return ca_ossl(AICERT_ERR_CRYPTO, "setting the validity failed");
	/* Never past the issuer's own end. */
	if (issuer && X509_cmp_time(X509_get0_notAfter(issuer), &until) < 0 &&
	    X509_set1_notAfter(x, X509_get0_notAfter(issuer)) != 1)
		return ca_ossl(AICERT_ERR_CRYPTO, "setting the end of validity failed");
	return 0;
}

static int ca_set_cn(X509 *x, const char *cn, int self_signed)
{
	X509_NAME *name = X509_get_subject_name(x);

	/* V_ASN1_UTF8STRING, not MBSTRING_UTF8: the AK's CN is longer than the
	 * 64 characters OpenSSL's string table would allow. */
	if (X509_NAME_add_entry_by_NID(name, NID_commonName, V_ASN1_UTF8STRING,
				       (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    (self_signed && X509_set_issuer_name(x, name) != 1))
		return ca_ossl(AICERT_ERR_CRYPTO, "setting the subject failed");
	return 0;
}

/* Adds an extension from OpenSSL's configuration syntax. */
static int ca_add_conf_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok = ext && X509_add_ext(x, ext, -1) == 1;

	X509_EXTENSION_free(ext);
	if (!ok)
		return tpmkey_err_openssl(AICERT_ERR_CRYPTO, "adding extension %s = %s failed",
					  OBJ_nid2sn(nid), value);
	return 0;
}

/* SHA-256 with either key type: the CA signs with P-256 or RSA-3072. */
static const EVP_MD *ca_sign_md(const EVP_PKEY *key)
{
	return EVP_sha256();
}

/* ---- ca init ------------------------------------------------------------------ */

static int ca_make_cert(EVP_PKEY *key, const char *cn, uint32_t days, X509 **ret)
{
	X509 *x = X509_new();
	X509V3_CTX ctx;
	int r;

	if (!x)
		return AICERT_ERR_NOMEM;
	r = X509_set_version(x, X509_VERSION_3) == 1 ? 0 : ca_ossl(AICERT_ERR_CRYPTO, "version");
	if (r == 0)
		r = ca_set_serial(x);
	if (r == 0)
		r = ca_set_validity(x, time(NULL), days, NULL);
	if (r == 0)
		r = ca_set_cn(x, cn, 1);
	if (r == 0 && X509_set_pubkey(x, key) != 1)
		r = ca_ossl(AICERT_ERR_CRYPTO, "setting the public key failed");
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if (r == 0)
		r = ca_add_conf_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
	if (r == 0)
		r = ca_add_conf_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
	if (r == 0)
		r = ca_add_conf_ext(x, &ctx, NID_subject_key_identifier, "hash");
	if (r == 0 && X509_sign(x, key, ca_sign_md(key)) <= 0)
		r = ca_ossl(AICERT_ERR_CRYPTO, "signing the CA certificate failed");
	if (r < 0) {
		X509_free(x);
		return r;
	}
	*ret = x;
	return 0;
}

/* The PEM of key (PKCS#8) or cert in a string; secret memory for keys. */
static int ca_pem(EVP_PKEY *key, X509 *cert, BIO **bio, char **data, long *len)
{
	*bio = BIO_new(key ? BIO_s_secmem() : BIO_s_mem());
	if (!*bio)
		return AICERT_ERR_NOMEM;
	if ((key ? PEM_write_bio_PrivateKey(*bio, key, NULL, NULL, 0, NULL, NULL)
		 : PEM_write_bio_X509(*bio, cert)) != 1)
		return ca_ossl(AICERT_ERR_CRYPTO, "PEM encoding failed");
	*len = BIO_get_mem_data(*bio, data);
	return *len > 0 ? 0 : ca_ossl(AICERT_ERR_CRYPTO, "PEM encoding failed");
}

static int ca_write_pem(const char *path, EVP_PKEY *key, X509 *cert, mode_t mode)
{
	BIO *bio = NULL;
	char *data = NULL;
	long len = 0;
	int r;

	r = ca_pem(key, cert, &bio, &data, &len);
	if (r == 0)
		r = fileio_write_atomic(path, data, (size_t)len, mode);
	BIO_free(bio); /* a secmem BIO clears its buffer */
	return r;
}

static int ca_refuse_existing(const char *dir)
{
	static const char *const files[] = {CA_KEY_FILE, CA_CERT_FILE};
	struct stat st;

	for (size_t i = 0; i < 2; i++) {
		char *path = NULL;
		int exists;

		if (ca_path(dir, files[i], &path) < 0)
			return AICERT_ERR_NOMEM;
		exists = lstat(path, &st) == 0 || errno != ENOENT;
		free(path);
		if (exists)
			return err_set(AICERT_ERR_EXISTS,
				       "%s already holds an attestation CA (%s); refusing to "
				       "overwrite it",
				       dir, files[i]);
	}
	return 0;
}

static int ca_keygen(enum ca_alg alg, EVP_PKEY **ret)
{
	EVP_PKEY *key = alg == CA_ALG_RSA ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072)
					  : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	if (!key)
		return ca_ossl(AICERT_ERR_CRYPTO, "generating the CA key failed");
	*ret = key;
	return 0;
}

int ca_init(const char *dir, const struct ca_init_opts *opts)
{
	struct ca_init_opts o = opts ? *opts : (struct ca_init_opts){0};
	char *key_path = NULL, *cert_path = NULL, *runners = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int r, key_written = 0;

	if (o.days > CA_MAX_DAYS)
		return err_set(AICERT_ERR_INVALID, "CA validity of %u days, at most %u", o.days,
			       CA_MAX_DAYS);
	r = fileio_mkdir(dir, 0700);
	if (r == 0)
		r = ca_refuse_existing(dir);
	if (r == 0 && (ca_path(dir, CA_KEY_FILE, &key_path) < 0 ||
		       ca_path(dir, CA_CERT_FILE, &cert_path) < 0 ||
		       ca_path(dir, CA_RUNNERS_DIR, &runners) < 0))
		r = AICERT_ERR_NOMEM;
	if (r == 0)
		r = ca_keygen(o.alg, &key);
	if (r == 0)
		r = ca_make_cert(key, o.common_name ? o.common_name : "aicert attestation CA",
				 o.days ? o.days : CA_DEFAULT_DAYS, &cert);
	if (r == 0)
		r = fileio_mkdir(runners, 0700);
	if (r == 0)
		r = ca_write_pem(key_path, key, NULL, 0600);
	key_written = r == 0;
	if (r == 0)
		r = ca_write_pem(cert_path, NULL, cert, 0644);
	if (r < 0 && key_written)
		unlink(key_path); /* no key without its certificate */
	X509_free(cert);
	EVP_PKEY_free(key);
	free(runners);
	free(cert_path);
	free(key_path);
	return r;
}

/* ---- ca open ------------------------------------------------------------------ */

/* Reads a PEM private key (key != NULL; the buffer is wiped) or
 * certificate. */
static int ca_load_pem(const char *path, EVP_PKEY **key, X509 **cert)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	BIO *bio;
	int r;

	r = fileio_read_all(path, CA_MAX_FILE_BYTES, &buf, &len);
	if (r < 0)
		return r;
	bio = BIO_new_mem_buf(buf, (int)len);
	if (key)
		*key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	else
		*cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	r = (key ? *key != NULL : *cert != NULL)
		    ? 0
		    : tpmkey_err_openssl(AICERT_ERR_INVALID, "%s: not a PEM %s", path,
					 key ? "private key" : "certificate");
	BIO_free(bio);
	OPENSSL_cleanse(buf, len);
	free(buf);
	return r;
}

int ca_open(const char *dir, struct ca **ret)
{
	char *key_path = NULL, *cert_path = NULL;
	struct ca *ca = calloc(1, sizeof(*ca));
	int r;

	if (!ca || !(ca->dir = strdup(dir)) || ca_path(dir, CA_KEY_FILE, &key_path) < 0 ||
	    ca_path(dir, CA_CERT_FILE, &cert_path) < 0) {
		r = AICERT_ERR_NOMEM;
		goto out;
	}
	r = ca_load_pem(cert_path, NULL, &ca->cert);
	if (r == 0)
		r = ca_load_pem(key_path, &ca->key, NULL);
	if (r == 0 && X509_check_private_key(ca->cert, ca->key) != 1)
		r = tpmkey_err_openssl(AICERT_ERR_INVALID, "%s: %s is not the key of %s", dir,
				       CA_KEY_FILE, CA_CERT_FILE);
	if (r == 0 && X509_check_ca(ca->cert) != 1)
		r = err_set(AICERT_ERR_INVALID, "%s: %s is not a CA certificate", dir,
			    CA_CERT_FILE);
	if (r == 0) {
		*ret = ca;
		ca = NULL;
	}
out:
	ca_free(ca);
	free(cert_path);
	free(key_path);
	return r;
}

void ca_free(struct ca *ca)
{
	if (!ca)
		return;
	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
	free(ca->dir);
	free(ca);
}

X509 *ca_cert(const struct ca *ca)
{
	return ca->cert;
}

const char *ca_dir(const struct ca *ca)
{
	return ca->dir;
}

/* ---- AK certificates ------------------------------------------------------------ */

/* subjectAltName: otherName hardwareModuleName { TPM 2.0, SHA-256(EK cert) }. */
static int ca_add_hwmod(X509 *x, const uint8_t *ek_der, size_t ek_len)
{
	uint8_t der[AKCERT_HWMOD_LEN];
	GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gen = GENERAL_NAME_new();
	ASN1_OBJECT *oid = OBJ_txt2obj(AKCERT_OID_HW_MODULE_NAME, 1);
	ASN1_TYPE *value = ASN1_TYPE_new();
	ASN1_STRING *seq = ASN1_STRING_new();
	int r = AICERT_ERR_NOMEM;

	if (!names || !gen || !oid || !value || !seq)
		goto out;
	r = akcert_hwmod_der(ek_der, ek_len, der);
	if (r < 0)
		goto out;
	r = AICERT_ERR_NOMEM;
	if (ASN1_STRING_set(seq, der, sizeof(der)) != 1)
		goto out;
	ASN1_TYPE_set(value, V_ASN1_SEQUENCE, seq);
	seq = NULL;
	if (GENERAL_NAME_set0_othername(gen, oid, value) != 1)
		goto out;
	oid = NULL;
	value = NULL;
	if (!sk_GENERAL_NAME_push(names, gen))
		goto out;
	gen = NULL;
	r = X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) == 1
		    ? 0
		    : ca_ossl(AICERT_ERR_CRYPTO, "adding the subjectAltName failed");
out:
	ASN1_STRING_free(seq);
	ASN1_TYPE_free(value);
	ASN1_OBJECT_free(oid);
	GENERAL_NAME_free(gen);
	GENERAL_NAMES_free(names);
	return r;
}

static int ca_add_eku(X509 *x, const char *oid_text)
{
	EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
	ASN1_OBJECT *oid = OBJ_txt2obj(oid_text, 1);
	int r = AICERT_ERR_NOMEM;

	if (eku && oid && sk_ASN1_OBJECT_push(eku, oid)) {
		oid = NULL;
		r = X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT) == 1
			    ? 0
			    : ca_ossl(AICERT_ERR_CRYPTO, "adding the extended key usage failed");
	}
	ASN1_OBJECT_free(oid);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	return r;
}

/* "aicert AK " + the name in hex. */
static void ca_ak_cn(const TPM2B_NAME *name, char cn[CA_AK_CN_MAX])
{
	memcpy(cn, CA_AK_CN_PREFIX, sizeof(CA_AK_CN_PREFIX) - 1);
	hex_encode(name->name, name->size, cn + sizeof(CA_AK_CN_PREFIX) - 1);
}

static int ca_ak_subject(X509 *x, const TPMT_PUBLIC *ak)
{
	char cn[CA_AK_CN_MAX];
	TPM2B_NAME name;
	int r;

	r = tpmkey_name(ak, &name);
	if (r < 0)
		return r;
	ca_ak_cn(&name, cn);
	return ca_set_cn(x, cn, 0);
}

static int ca_ak_extensions(const struct ca *ca, X509 *x, const uint8_t *ek_der, size_t ek_len)
{
	X509V3_CTX ctx;
	int r;

	X509V3_set_ctx(&ctx, ca->cert, x, NULL, NULL, 0);
	r = ca_add_conf_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE");
	if (r == 0)
		r = ca_add_conf_ext(x, &ctx, NID_key_usage, "critical,digitalSignature");
	if (r == 0)
		r = ca_add_eku(x, AKCERT_OID_AK_CERTIFICATE);
	if (r == 0)
		r = ca_add_hwmod(x, ek_der, ek_len);
	if (r == 0)
		r = ca_add_conf_ext(x, &ctx, NID_subject_key_identifier, "hash");
	if (r == 0)
		r = ca_add_conf_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
	return r;
}

int ca_issue_ak_cert(const struct ca *ca, const TPMT_PUBLIC *ak, const uint8_t *ek_der,
		     size_t ek_len, time_t now, uint32_t days, X509 **ret)
{
	EVP_PKEY *pub = NULL;
	X509 *x = NULL;
	int r;

	if (days > CA_MAX_DAYS)
		return err_set(AICERT_ERR_INVALID, "AK certificate validity of %u days, at most %u",
			       days, CA_MAX_DAYS);
	if (ek_len == 0 || ek_len > EKCERT_MAX_DER)
		return err_set(AICERT_ERR_INVALID, "EK certificate of %zu bytes", ek_len);
	r = tpmkey_check_ak_attributes(ak);
	if (r == 0)
		r = tpmkey_to_evp(ak, &pub);
	if (r < 0)
		return r;
	x = X509_new();
	if (!x) {
		r = AICERT_ERR_NOMEM;
		goto out;
	}
	r = X509_set_version(x, X509_VERSION_3) == 1 ? 0 : ca_ossl(AICERT_ERR_CRYPTO, "version");
	if (r == 0)
		r = ca_set_serial(x);
	if (r == 0)
		r = ca_set_validity(x, now, days ? days : CA_DEFAULT_AK_DAYS, ca->cert);
	if (r == 0)
		r = ca_ak_subject(x, ak);
	if (r == 0 && (X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) != 1 ||
		       X509_set_pubkey(x, pub) != 1))
		r = ca_ossl(AICERT_ERR_CRYPTO, "setting the issuer or key failed");
	if (r == 0)
		r = ca_ak_extensions(ca, x, ek_der, ek_len);
	if (r == 0 && X509_sign(x, ca->key, ca_sign_md(ca->key)) <= 0)
		r = ca_ossl(AICERT_ERR_CRYPTO, "signing the AK certificate failed");
	if (r == 0) {
		*ret = x;
		x = NULL;
	}
out:
	X509_free(x);
	EVP_PKEY_free(pub);
	return r;
}

int ca_ak_cert_ek_digest(const X509 *ak_cert, uint8_t digest[32])
{
	return akcert_ek_digest(ak_cert, digest);
}

int ca_verify_ak_cert(X509 *ak_cert, X509 *ca_cert, const TPMT_PUBLIC *ak, time_t at)
{
	STACK_OF(X509) *anchors = sk_X509_new_null();
	int r;

	if (!anchors || !sk_X509_push(anchors, ca_cert)) {
		sk_X509_free(anchors);
		return AICERT_ERR_NOMEM;
	}
	r = akcert_verify(ak_cert, anchors, NULL, ak, at);
	sk_X509_free(anchors);
	return r;
}

/* ---- runner records ------------------------------------------------------------- */

int ca_runner_path(const char *dir, const TPM2B_NAME *ak_name, char **ret)
{
	char hex[2 * sizeof(TPMU_NAME) + 1];

	if (ak_name->size < 3 || ak_name->size > sizeof(TPMU_NAME))
		return err_set(AICERT_ERR_INVALID, "AK name of %u bytes", ak_name->size);
	hex_encode(ak_name->name, ak_name->size, hex);
	if (asprintf(ret, "%s/%s/%s", dir, CA_RUNNERS_DIR, hex) < 0)
		return AICERT_ERR_NOMEM;
	return 0;
}

static void ca_time_text(const ASN1_TIME *t, char out[32])
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1 || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "?");
}

static void ca_serial_text(const X509 *x, char out[2 * 32 + 1])
{
	const ASN1_INTEGER *s = X509_get0_serialNumber(x);
	int len = ASN1_STRING_length(s);

	if (len <= 0 || len > 32)
		snprintf(out, 2 * 32 + 1, "?");
	else
		hex_encode(ASN1_STRING_get0_data(s), (size_t)len, out);
}

/* The record file's text; *ret is malloc'd. */
static int ca_record_text(const TPM2B_NAME *ak_name, X509 *ak_cert, const uint8_t ek_digest[32],
			  const struct ca_runner_info *info, char **ret, size_t *len)
{
	char name[2 * sizeof(TPMU_NAME) + 1], digest[65], serial[65], from[32], until[32], at[32];
	struct tm tm;
	FILE *f;

	hex_encode(ak_name->name, ak_name->size, name);
	hex_encode(ek_digest, 32, digest);
	ca_serial_text(ak_cert, serial);
	ca_time_text(X509_get0_notBefore(ak_cert), from);
	ca_time_text(X509_get0_notAfter(ak_cert), until);
	if (!gmtime_r(&info->enrolled_at, &tm) ||
	    !strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(at, sizeof(at), "?");
	f = open_memstream(ret, len);
	if (!f)
		return AICERT_ERR_NOMEM;
	fprintf(f,
		"format: 1\nak-name: %s\nak-alg: %s\nek-alg: %s\nek-nv-index: 0x%08x\n"
		"ek-cert-sha256: %s\nak-cert-serial: %s\nak-cert-not-before: %s\n"
		"ak-cert-not-after: %s\nenrolled-at: %s\n",
		name, info->ak_alg, info->ek_alg, info->ek_nv_index, digest, serial, from, until,
		at);
	if (info->tpm)
		fprintf(f, "tpm-manufacturer: %s\ntpm-model: %s\ntpm-version: %s\n",
			info->tpm->manufacturer, info->tpm->model, info->tpm->version);
	if (fclose(f) != 0)
		return AICERT_ERR_NOMEM;
	return 0;
}

/* The EK certificate as it will be stored must be the one the AK
 * certificate names. */
static int ca_check_ek_digest(X509 *ak_cert, X509 *ek_cert, uint8_t digest[32])
{
	uint8_t mine[32];
	unsigned char *der = NULL;
	int len, r;

	r = ca_ak_cert_ek_digest(ak_cert, digest);
	if (r < 0)
		return r;
	len = i2d_X509(ek_cert, &der);
	if (len <= 0)
		return ca_ossl(AICERT_ERR_CRYPTO, "encoding the EK certificate failed");
	r = EVP_Digest(der, (size_t)len, mine, NULL, EVP_sha256(), NULL) == 1 ? 0
									      : AICERT_ERR_CRYPTO;
	OPENSSL_free(der);
	if (r == 0 && memcmp(mine, digest, 32) != 0)
		r = err_set(AICERT_ERR_INVALID,
			    "the EK certificate is not the one the AK certificate names");
	return r;
}

static int ca_write_file(const char *dir, const char *name, const void *buf, size_t len)
{
	char *path = NULL;
	int r;

	r = ca_path(dir, name, &path);
	if (r == 0)
		r = fileio_write_atomic(path, buf, len, 0644);
	free(path);
	return r;
}

static int ca_write_cert(const char *dir, const char *name, X509 *cert)
{
	BIO *bio = NULL;
	char *data = NULL;
	long len = 0;
	int r;

	r = ca_pem(NULL, cert, &bio, &data, &len);
	if (r == 0)
		r = ca_write_file(dir, name, data, (size_t)len);
	BIO_free(bio);
	return r;
}

/* Removes a runner directory we made: its three files, then itself. */
static void ca_remove_runner_dir(const char *dir)
{
	static const char *const files[] = {"ak.crt", "ek.crt", "record"};

	for (size_t i = 0; i < 3; i++) {
		char *path = NULL;

		if (ca_path(dir, files[i], &path) == 0)
			unlink(path);
		free(path);
	}
	rmdir(dir);
}

/* Moves tmp to final in runners/, exchanging it with an existing final,
 * and makes the rename durable. */
static int ca_install_dir(const char *runners, const char *tmp, const char *final, int *replaced)
{
	int fd;

	*replaced = 0;
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_NOREPLACE) < 0) {
		if (errno != EEXIST ||
		    renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE) < 0)
			return err_set(AICERT_ERR_IO, "%s: %s", final, strerror(errno));
		*replaced = 1;
		ca_remove_runner_dir(tmp); /* the earlier record, now at tmp */
	}
	fd = open(runners, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return err_set(AICERT_ERR_IO, "fsync of %s: %s", runners, strerror(e));
	}
	close(fd);
	return 0;
}

static int ca_fill_runner_dir(const char *tmp, const TPM2B_NAME *ak_name, X509 *ak_cert,
			      X509 *ek_cert, const struct ca_runner_info *info)
{
	uint8_t digest[32];
	char *record = NULL;
	size_t len = 0;
	int r;

	r = ca_check_ek_digest(ak_cert, ek_cert, digest);
	if (r == 0)
		r = ca_record_text(ak_name, ak_cert, digest, info, &record, &len);
	if (r == 0)
		r = ca_write_cert(tmp, "ak.crt", ak_cert);
	if (r == 0)
		r = ca_write_cert(tmp, "ek.crt", ek_cert);
	if (r == 0)
		r = ca_write_file(tmp, "record", record, len);
	free(record);
	return r;
}

int ca_write_runner(const struct ca *ca, const TPM2B_NAME *ak_name, X509 *ak_cert, X509 *ek_cert,
		    const struct ca_runner_info *info, int *replaced, char **cert_path)
{
	char *final = NULL, *tmp = NULL, *runners = NULL, *path = NULL;
	int r, made = 0, rep = 0;

	r = ca_runner_path(ca->dir, ak_name, &final);
	if (r == 0 &&
	    (ca_path(ca->dir, CA_RUNNERS_DIR, &runners) < 0 ||
	     asprintf(&tmp, "%s.tmp.XXXXXX", final) < 0 || ca_path(final, "ak.crt", &path) < 0))
		r = AICERT_ERR_NOMEM;
	if (r == 0)
		r = fileio_mkdir(runners, 0700);
	if (r == 0 && !mkdtemp(tmp))
		r = err_set(AICERT_ERR_IO, "%s: %s", tmp, strerror(errno));
	made = r == 0;
	if (r == 0 && chmod(tmp, 0755) < 0)
		r = err_set(AICERT_ERR_IO, "%s: %s", tmp, strerror(errno));
	if (r == 0)
		r = ca_fill_runner_dir(tmp, ak_name, ak_cert, ek_cert, info);
	if (r == 0)
		r = ca_install_dir(runners, tmp, final, &rep);
	if (r == 0)
		made = 0;
	if (made)
		ca_remove_runner_dir(tmp);
	if (r == 0 && replaced)
		*replaced = rep;
	if (r == 0 && cert_path) {
		*cert_path = path;
		path = NULL;
	}
	free(path);
	free(runners);
	free(tmp);
	free(final);
	return r;
}

int ca_find_runner(const char *dir, const TPM2B_NAME *ak_name, X509 **ret)
{
	char cn[CA_AK_CN_MAX], have[CA_AK_CN_MAX] = "";
	char *rdir = NULL, *path = NULL;
	X509 *x = NULL;
	int r;

	r = ca_runner_path(dir, ak_name, &rdir);
	if (r == 0 && ca_path(rdir, "ak.crt", &path) < 0)
		r = AICERT_ERR_NOMEM;
	if (r == 0)
		r = ca_load_pem(path, NULL, &x);
	if (r == AICERT_ERR_NOT_FOUND)
		r = err_set(AICERT_ERR_NOT_FOUND, "no runner with AK name %s is enrolled (%s)",
			    strrchr(rdir, '/') + 1, path);
	if (r == 0) {
		ca_ak_cn(ak_name, cn);
		X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, have,
					  sizeof(have));
		if (strcmp(cn, have) != 0)
			r = err_set(AICERT_ERR_STATE, "%s: its subject is not \"%s\"", path, cn);
	}
	if (r == 0) {
		*ret = x;
		x = NULL;
	}
	X509_free(x);
	free(path);
	free(rdir);
	return r;
}
