/* Helpers to derive forgeries from the good proof; see forge.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "err.h"
#include "proof.h"
#include "tpmkey.h"
#include "forge.h"

/* ---- proofs as structs ----------------------------------------------------------------------- */

struct proof *forge_parse(const struct fx_bytes *b)
{
	struct proof *p = NULL;
	int r = proof_parse("base", b->buf, b->len, &p);

	if (r < 0)
		fail_msg("parsing a base proof: %s", err_msg(r));
	return p;
}

struct proof *forge_good(const struct fx *f)
{
	return forge_parse(&f->good);
}

void forge_emit(struct forged *o, struct proof *p)
{
	char *s = NULL;

	assert_int_equal(proof_write(p, &s), 0);
	proof_free(p);
	free(o->proof.buf);
	o->proof.buf = (uint8_t *)s;
	o->proof.len = strlen(s);
}

/* ---- proofs as text -------------------------------------------------------------------------- */

char *forge_good_text(const struct fx *f)
{
	char *s = malloc(f->good.len + 1);

	assert_non_null(s);
	memcpy(s, f->good.buf, f->good.len);
	s[f->good.len] = '\0';
	return s;
}

void forge_text(struct forged *o, const char *text, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);

	assert_non_null(copy);
	memcpy(copy, text, len);
	free(o->proof.buf);
	o->proof.buf = copy;
	o->proof.len = len;
}

void forge_text_replace(struct forged *o, char *text, const char *from, const char *to)
{
	char *at = strstr(text, from), *out = NULL;
	int n;

	if (!at)
		fail_msg("'%s' is not in the proof", from);
	n = asprintf(&out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	assert_true(n > 0);
	forge_text(o, out, (size_t)n);
	free(out);
	free(text);
}

char *forge_text_member(const char *text, const char *key)
{
	char pat[96], *v;
	const char *at, *end;

	snprintf(pat, sizeof(pat), "\"%s\": \"", key);
	at = strstr(text, pat);
	if (!at)
		fail_msg("no member '%s' in the proof", key);
	at += strlen(pat);
	end = strchr(at, '"');
	assert_non_null(end);
	v = strndup(at, (size_t)(end - at));
	assert_non_null(v);
	return v;
}

/* ---- runtime logs ---------------------------------------------------------------------------- */

void forge_rt_get(const struct proof *p, struct cel_log *log)
{
	memset(log, 0, sizeof(*log));
	assert_int_equal(cel_decode(p->runtime_log.data, p->runtime_log.len, log), 0);
}

void forge_rt_put(struct proof *p, struct cel_log *log)
{
	uint8_t *buf = NULL;
	size_t len = 0;

	for (size_t i = 0; i < log->n; i++)
		log->recs[i].recnum = i;
	assert_int_equal(cel_encode(log, &buf, &len), 0);
	fx_blob_set(&p->runtime_log, buf, len);
	free(buf);
	cel_clear(log);
}

size_t forge_rt_find(const struct cel_log *log, uint32_t event_type, size_t nth)
{
	for (size_t i = 0; i < log->n; i++)
		if (log->recs[i].event_type == event_type && nth-- == 0)
			return i;
	fail_msg("no record %zu of type 0x%08x in the runtime log", nth, event_type);
	return 0;
}

void forge_rt_remove(struct cel_log *log, size_t i)
{
	assert_true(i < log->n);
	free(log->recs[i].data);
	memmove(&log->recs[i], &log->recs[i + 1], (log->n - i - 1) * sizeof(log->recs[0]));
	log->n--;
}

void forge_rt_insert(struct cel_log *log, size_t i, const struct cel_record *rec)
{
	struct cel_record last;

	assert_true(i <= log->n);
	assert_int_equal(
		cel_append(log, rec->pcr, rec->sha256, rec->event_type, rec->data, rec->data_len),
		0);
	last = log->recs[log->n - 1];
	memmove(&log->recs[i + 1], &log->recs[i], (log->n - 1 - i) * sizeof(log->recs[0]));
	log->recs[i] = last;
}

/* ---- statements ------------------------------------------------------------------------------ */

json_t *forge_json_at(json_t *root, const char *path)
{
	char *copy = strdup(path), *save = NULL;
	json_t *v = root;

	assert_non_null(copy);
	for (char *tok = strtok_r(copy, ".", &save); tok && v; tok = strtok_r(NULL, ".", &save))
		v = json_is_array(v) ? json_array_get(v, strtoul(tok, NULL, 10))
				     : json_object_get(v, tok);
	free(copy);
	if (!v)
		fail_msg("the statement has nothing at %s", path);
	return v;
}

/* ---- certificates ---------------------------------------------------------------------------- */

EVP_PKEY *forge_key(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	assert_non_null(k);
	return k;
}

static void forge_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);

	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

static void forge_serial(X509 *x)
{
	BIGNUM *bn = BN_new();

	assert_non_null(bn);
	assert_int_equal(BN_rand(bn, 63, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY), 1);
	assert_non_null(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)));
	BN_free(bn);
}

X509 *forge_cert(const struct forge_cert_opts *o, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key)
{
	X509 *x = X509_new();
	X509_NAME *name;
	X509V3_CTX ctx;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	forge_serial(x);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), o->not_before));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), o->not_after));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	name = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
						    (const unsigned char *)o->cn, -1, -1, 0),
			 1);
	assert_int_equal(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name), 1);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	forge_ext(x, &ctx, NID_basic_constraints, o->ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	forge_ext(x, &ctx, NID_key_usage,
		  o->ca ? "critical,keyCertSign,cRLSign"
			: "critical,digitalSignature,keyEncipherment");
	forge_ext(x, &ctx, NID_subject_key_identifier, "hash");
	if (issuer)
		forge_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
	if (o->eku)
		forge_ext(x, &ctx, NID_ext_key_usage, o->eku);
	assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
	return x;
}

void forge_der(X509 *x, struct proof_blob *out)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);

	assert_true(n > 0);
	fx_blob_set(out, der, (size_t)n);
	OPENSSL_free(der);
}

void forge_pem_file(X509 *x, const char *path)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(PEM_write_X509(fp, x), 1);
	assert_int_equal(fclose(fp), 0);
}

EVP_PKEY *forge_tpm_key(const struct proof_blob *pub)
{
	EVP_PKEY *k = NULL;
	TPMT_PUBLIC tp;

	assert_int_equal(tpmkey_parse_public(pub->data, pub->len, &tp), 0);
	assert_int_equal(tpmkey_to_evp(&tp, &k), 0);
	return k;
}

void forge_ak_cert(const struct fx *f, const struct proof_blob *ak_public,
		   const struct proof_blob *ek_cert, time_t at, uint32_t days,
		   struct proof_blob *out)
{
	TPMT_PUBLIC ak;
	X509 *x = NULL;
	int r;

	assert_int_equal(tpmkey_parse_public(ak_public->data, ak_public->len, &ak), 0);
	r = ca_issue_ak_cert(f->ca, &ak, ek_cert->data, ek_cert->len, at, days, &x);
	if (r < 0)
		fail_msg("ca_issue_ak_cert: %s", err_msg(r));
	forge_der(x, out);
	X509_free(x);
}

void forge_identity(struct proof *p, const struct proof_blob *ek_certs, size_t n,
		    const struct proof_blob *ak_cert)
{
	for (size_t i = 0; i < p->n_ek_certs; i++)
		fx_blob_clear(&p->ek_certs[i]);
	for (size_t i = 0; i < n; i++)
		fx_blob_set(&p->ek_certs[i], ek_certs[i].data, ek_certs[i].len);
	p->n_ek_certs = n;
	if (ak_cert)
		fx_blob_set(&p->ak_certs[0], ak_cert->data, ak_cert->len);
}

void forge_policy(const struct fx *f, struct forged *o, const char *name,
		  const char *const *ek_roots, const char *const *ek_intermediates, bool allow_dev,
		  const char *extra)
{
	char file[96], ca_crt[PATH_MAX];

	snprintf(file, sizeof(file), "policy-%s.yaml", name);
	fx_path(f, file, o->policy);
	fx_path(f, "ca/" CA_CERT_FILE, ca_crt);
	fx_policy_write(o->policy, ek_roots, ek_intermediates, ca_crt, allow_dev, extra);
}
