/* TLS material for one runner (tlsgen.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "err.h"
#include "fileio.h"
#include "tlsgen.h"

static EVP_PKEY *tlsgen_key(void)
{
	return EVP_EC_gen("P-256");
}

static int tlsgen_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	ok = ext && X509_add_ext(cert, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* A certificate for key, named cn, signed by issuer_key (issuer NULL:
 * self-signed, a CA). */
static X509 *tlsgen_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
			 const char *eku, uint32_t days)
{
	X509 *c = X509_new();
	X509_NAME *name = X509_NAME_new();
	uint8_t serial[16];
	BIGNUM *bn = NULL;
	int ok;

	ok = c && name && RAND_bytes(serial, sizeof(serial)) == 1;
	serial[0] &= 0x7f;
	ok = ok && (bn = BN_bin2bn(serial, sizeof(serial), NULL)) &&
	     BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)) && X509_set_version(c, 2) == 1 &&
	     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
					0) == 1 &&
	     X509_set_subject_name(c, name) == 1 &&
	     X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name) == 1 &&
	     X509_gmtime_adj(X509_getm_notBefore(c), -300) &&
	     X509_gmtime_adj(X509_getm_notAfter(c), (long)days * 86400) &&
	     X509_set_pubkey(c, key) == 1;
	if (ok && !issuer)
		ok = tlsgen_ext(c, c, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") == 0 &&
		     tlsgen_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign") == 0 &&
		     tlsgen_ext(c, c, NID_subject_key_identifier, "hash") == 0;
	if (ok && issuer)
		ok = tlsgen_ext(c, issuer, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
		     tlsgen_ext(c, issuer, NID_key_usage, "critical,digitalSignature") == 0 &&
		     tlsgen_ext(c, issuer, NID_ext_key_usage, eku) == 0 &&
		     tlsgen_ext(c, issuer, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost") == 0;
	ok = ok && X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
	BN_free(bn);
	X509_NAME_free(name);
	if (!ok) {
		X509_free(c);
		return NULL;
	}
	return c;
}

static int tlsgen_write(const char *dir, const char *file, X509 *cert, EVP_PKEY *key)
{
	char path[4096];
	BIO *b = BIO_new(BIO_s_mem());
	char *pem;
	long len;
	int r;

	if (!b)
		return AICERT_ERR_NOMEM;
	if ((cert && PEM_write_bio_X509(b, cert) != 1) ||
	    (key && PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) != 1)) {
		BIO_free(b);
		return err_set(AICERT_ERR_CRYPTO, "%s: cannot encode", file);
	}
	len = BIO_get_mem_data(b, &pem);
	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
		r = err_set(AICERT_ERR_INVALID, "%s: path too long", dir);
	else
		r = fileio_write_atomic(path, pem, (size_t)len, key ? 0600 : 0644);
	BIO_free(b);
	return r;
}

int tlsgen_run(const char *dir, uint32_t days)
{
	EVP_PKEY *ca_key = tlsgen_key(), *srv_key = tlsgen_key(), *cli_key = tlsgen_key();
	X509 *ca = NULL, *srv = NULL, *cli = NULL;
	int r = 0;

	if (!ca_key || !srv_key || !cli_key)
		r = err_set(AICERT_ERR_CRYPTO, "cannot make P-256 keys");
	if (r == 0 &&
	    !(ca = tlsgen_cert(ca_key, "aicert runner session CA", NULL, NULL, NULL, days)))
		r = err_set(AICERT_ERR_CRYPTO, "cannot make the session CA");
	if (r == 0 &&
	    !(srv = tlsgen_cert(srv_key, "aicert runner", ca, ca_key, "serverAuth", days)))
		r = err_set(AICERT_ERR_CRYPTO, "cannot make the runner's certificate");
	if (r == 0 &&
	    !(cli = tlsgen_cert(cli_key, "aicert controller", ca, ca_key, "clientAuth", days)))
		r = err_set(AICERT_ERR_CRYPTO, "cannot make the controller's certificate");
	if (r == 0)
		r = tlsgen_write(dir, "ca.crt", ca, NULL);
	if (r == 0)
		r = tlsgen_write(dir, "server.crt", srv, NULL);
	if (r == 0)
		r = tlsgen_write(dir, "server.key", NULL, srv_key);
	if (r == 0)
		r = tlsgen_write(dir, "client.crt", cli, NULL);
	if (r == 0)
		r = tlsgen_write(dir, "client.key", NULL, cli_key);
	X509_free(ca);
	X509_free(srv);
	X509_free(cli);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(srv_key);
	EVP_PKEY_free(cli_key);
	return r;
}
