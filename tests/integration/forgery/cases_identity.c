/* Forgeries of the TPM's identity: the EK certificate chain, the EK, the AK
 * certificate and its binding to the AK and the TPM. */
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

#include "ca.h"
#include "ekcert.h"
#include "proof.h"
#include "tpmkey.h"
#include "forge.h"

#define DAY 86400L

/* ---- EK certificate chain -------------------------------------------------------------------- */

static void ek_cert_of_another_tpm_ca(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);
	const struct proof_blob certs[] = {f->b.ek_cert, f->b.ek_issuer};

	forge_identity(p, certs, 2, NULL);
	forge_emit(o, p);
}

/* How a proof with an EK certificate from a CA made here treats that CA. */
enum ek_ca_use {
	EK_CA_TRUSTED,   /* a policy variant trusts it */
	EK_CA_UNTRUSTED, /* the base policy, which does not */
	EK_CA_CARRIED,   /* the base policy; the proof carries the CA's certificate */
};

/* A certificate for a's EK key from a CA made here (valid from nb to na,
 * with eku) and the AK certificate naming it: with EK_CA_TRUSTED a proof
 * that is valid but for the certificate's flaw. */
static void ek_cert_mine(struct fx *f, struct forged *o, const char *name, long nb, long na,
			 const char *eku, enum ek_ca_use use)
{
	const struct forge_cert_opts ca_opts = {
		.cn = "forgery EK CA", .not_before = -DAY, .not_after = 365 * DAY, .ca = true};
	const struct forge_cert_opts ek_opts = {
		.cn = "forgery EK", .not_before = nb, .not_after = na, .eku = eku};
	EVP_PKEY *ca_key = forge_key(), *ek_key = forge_tpm_key(&f->a.ek_public);
	X509 *ca = forge_cert(&ca_opts, ca_key, NULL, NULL);
	X509 *ek = forge_cert(&ek_opts, ek_key, ca, ca_key);
	struct proof_blob der[2] = {{0}}, ak = {0};
	struct proof *p = forge_good(f);
	char root[PATH_MAX], file[96];
	const char *roots[] = {root, NULL};

	snprintf(file, sizeof(file), "ek-ca-%s.pem", name);
	fx_path(f, file, root);
	forge_pem_file(ca, root);
	forge_der(ek, &der[0]);
	forge_der(ca, &der[1]);
	forge_ak_cert(f, &f->a.ak_public, &der[0], time(NULL), 0, &ak);
	forge_identity(p, der, use == EK_CA_CARRIED ? 2 : 1, &ak);
	if (use == EK_CA_TRUSTED)
		forge_policy(f, o, name, roots, NULL, true, NULL);
	forge_emit(o, p);
	fx_blob_clear(&der[0]);
	fx_blob_clear(&der[1]);
	fx_blob_clear(&ak);
	X509_free(ek);
	X509_free(ca);
	EVP_PKEY_free(ek_key);
	EVP_PKEY_free(ca_key);
}

static void ek_cert_control(struct fx *f, struct forged *o)
{
	ek_cert_mine(f, o, "valid", -DAY, 30 * DAY, EKCERT_OID_EK_CERTIFICATE, EK_CA_TRUSTED);
}

static void ek_cert_untrusted_ca(struct fx *f, struct forged *o)
{
	ek_cert_mine(f, o, "untrusted", -DAY, 30 * DAY, EKCERT_OID_EK_CERTIFICATE, EK_CA_UNTRUSTED);
}

static void ek_cert_ca_carried(struct fx *f, struct forged *o)
{
	ek_cert_mine(f, o, "carried", -DAY, 30 * DAY, EKCERT_OID_EK_CERTIFICATE, EK_CA_CARRIED);
}

static void ek_cert_expired(struct fx *f, struct forged *o)
{
	ek_cert_mine(f, o, "expired", -30 * DAY, -DAY, EKCERT_OID_EK_CERTIFICATE, EK_CA_TRUSTED);
}

static void ek_cert_not_yet_valid(struct fx *f, struct forged *o)
{
	ek_cert_mine(f, o, "future", DAY, 30 * DAY, EKCERT_OID_EK_CERTIFICATE, EK_CA_TRUSTED);
}

static void ek_cert_without_eku(struct fx *f, struct forged *o)
{
	ek_cert_mine(f, o, "no-eku", -DAY, 30 * DAY, NULL, EK_CA_TRUSTED);
}

static void ek_cert_with_server_eku(struct fx *f, struct forged *o)
{
	ek_cert_mine(f, o, "server-eku", -DAY, 30 * DAY, "serverAuth", EK_CA_TRUSTED);
}

static void ek_cert_not_der(struct fx *f, struct forged *o)
{
	static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x01};
	struct proof *p = forge_good(f);

	fx_blob_set(&p->ek_certs[0], junk, sizeof(junk));
	forge_emit(o, p);
}

static void ek_intermediate_not_der(struct fx *f, struct forged *o)
{
	static const uint8_t junk[] = {'n', 'o', 't', ' ', 'a', ' ', 'c', 'e', 'r', 't'};
	struct proof *p = forge_good(f);

	fx_blob_set(&p->ek_certs[p->n_ek_certs++], junk, sizeof(junk));
	forge_emit(o, p);
}

/* ---- the EK ---------------------------------------------------------------------------------- */

static void ek_public_of_another_tpm(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	fx_blob_set(&p->ek_public, f->b.ek_public.data, f->b.ek_public.len);
	forge_emit(o, p);
}

static void ek_public_the_other_ek(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	fx_blob_set(&p->ek_public, f->ecc_ek_public.data, f->ecc_ek_public.len);
	forge_emit(o, p);
}

static const struct forgery cases_ek_list[] = {
	FORGERY("EK certificate of another swtpm's CA", "ek.certificate",
		ek_cert_of_another_tpm_ca),
	FORGERY("EK certificate from a trusted CA (control)", NULL, ek_cert_control),
	FORGERY("EK certificate from a CA not in the policy", "ek.certificate",
		ek_cert_untrusted_ca),
	FORGERY("same, the proof carrying that CA's certificate", "ek.certificate",
		ek_cert_ca_carried),
	FORGERY("EK certificate expired", "ek.certificate", ek_cert_expired),
	FORGERY("EK certificate not yet valid", "ek.certificate", ek_cert_not_yet_valid),
	FORGERY("EK certificate without EKU 2.23.133.8.1", "ek.certificate", ek_cert_without_eku),
	FORGERY("EK certificate with EKU serverAuth only", "ek.certificate",
		ek_cert_with_server_eku),
	FORGERY("EK certificate that is not a certificate", "ek.certificate", ek_cert_not_der),
	FORGERY("EK intermediate that is not a certificate", "ek.certificate",
		ek_intermediate_not_der),
	FORGERY("EK public key of another TPM", "ek.public-key", ek_public_of_another_tpm),
	FORGERY("EK public key of the TPM's P-384 EK", "ek.public-key", ek_public_the_other_ek),
};

const struct forgery_table cases_ek = {"EK", cases_ek_list,
				       sizeof(cases_ek_list) / sizeof(cases_ek_list[0])};

/* ---- AK certificate -------------------------------------------------------------------------- */

static void ak_cert_rogue(struct fx *f, struct forged *o, bool carry)
{
	char dir[PATH_MAX];
	struct ca *rogue = NULL;
	struct proof *p = forge_good(f);
	TPMT_PUBLIC ak;
	X509 *x = NULL;

	fx_path(f, "rogue-ca", dir);
	if (access(dir, F_OK) != 0)
		assert_int_equal(ca_init(dir, NULL), 0);
	assert_int_equal(ca_open(dir, &rogue), 0);
	assert_int_equal(tpmkey_parse_public(f->a.ak_public.data, f->a.ak_public.len, &ak), 0);
	assert_int_equal(ca_issue_ak_cert(rogue, &ak, f->a.ek_cert.data, f->a.ek_cert.len,
					  time(NULL), 0, &x),
			 0);
	forge_der(x, &p->ak_certs[0]);
	if (carry)
		forge_der(ca_cert(rogue), &p->ak_certs[p->n_ak_certs++]);
	forge_emit(o, p);
	X509_free(x);
	ca_free(rogue);
}

static void ak_cert_untrusted_ca(struct fx *f, struct forged *o)
{
	ak_cert_rogue(f, o, false);
}

static void ak_cert_untrusted_ca_carried(struct fx *f, struct forged *o)
{
	ak_cert_rogue(f, o, true);
}

static void ak_cert_expired(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	forge_ak_cert(f, &f->a.ak_public, &f->a.ek_cert, time(NULL) - 10 * DAY, 1, &p->ak_certs[0]);
	forge_emit(o, p);
}

/* Signed with the attestation CA's own key, but without tcg-kp-AIKCertificate. */
static void ak_cert_without_eku(struct fx *f, struct forged *o)
{
	const struct forge_cert_opts opts = {
		.cn = "aicert AK without EKU", .not_before = -DAY, .not_after = 30 * DAY};
	char path[PATH_MAX];
	struct proof *p = forge_good(f);
	EVP_PKEY *ca_key, *ak_key = forge_tpm_key(&f->a.ak_public);
	FILE *fp;
	X509 *x;

	fx_path(f, "ca/" CA_KEY_FILE, path);
	fp = fopen(path, "r");
	assert_non_null(fp);
	ca_key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(ca_key);
	x = forge_cert(&opts, ak_key, ca_cert(f->ca), ca_key);
	forge_der(x, &p->ak_certs[0]);
	forge_emit(o, p);
	X509_free(x);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(ak_key);
}

static void ak_cert_of_another_tpm(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	fx_blob_set(&p->ak_certs[0], f->b.ak_cert.data, f->b.ak_cert.len);
	forge_emit(o, p);
}

static void ak_public_and_cert_of_another_tpm(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	fx_blob_set(&p->ak_certs[0], f->b.ak_cert.data, f->b.ak_cert.len);
	fx_blob_set(&p->ak_public, f->b.ak_public.data, f->b.ak_public.len);
	forge_emit(o, p);
}

static void ak_public_of_another_tpm(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	fx_blob_set(&p->ak_public, f->b.ak_public.data, f->b.ak_public.len);
	forge_emit(o, p);
}

/* The trusted CA certifies a's AK but names b's EK certificate. */
static void ak_cert_naming_another_tpm(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);

	forge_ak_cert(f, &f->a.ak_public, &f->b.ek_cert, time(NULL), 0, &p->ak_certs[0]);
	forge_emit(o, p);
}

/* The AK's public area without `restricted` (so it could sign anything). */
static void ak_public_not_restricted(struct fx *f, struct forged *o)
{
	struct proof *p = forge_good(f);
	uint8_t buf[sizeof(TPMT_PUBLIC)];
	TPMT_PUBLIC ak;
	size_t len = 0;

	assert_int_equal(tpmkey_parse_public(p->ak_public.data, p->ak_public.len, &ak), 0);
	ak.objectAttributes &= ~TPMA_OBJECT_RESTRICTED;
	assert_int_equal(tpmkey_marshal_public(&ak, buf, sizeof(buf), &len), 0);
	fx_blob_set(&p->ak_public, buf, len);
	forge_emit(o, p);
}

/* b's whole identity (EK, its chain, AK, AK certificate) over a's quote,
 * with a policy that trusts both swtpm CAs: everything checks out but the
 * signature. */
static void identity_of_another_tpm(struct fx *f, struct forged *o)
{
	const char *roots[] = {f->a.tpm.ek_root, f->b.tpm.ek_root, NULL};
	const char *inter[] = {f->a.tpm.ek_issuer, f->b.tpm.ek_issuer, NULL};
	const struct proof_blob certs[] = {f->b.ek_cert};
	struct proof *p = forge_good(f);

	forge_identity(p, certs, 1, &f->b.ak_cert);
	fx_blob_set(&p->ek_public, f->b.ek_public.data, f->b.ek_public.len);
	fx_blob_set(&p->ak_public, f->b.ak_public.data, f->b.ak_public.len);
	forge_policy(f, o, "both-ek-cas", roots, inter, true, NULL);
	forge_emit(o, p);
}

/* The AK claimed under the TPM's P-384 EK, with an AK certificate naming
 * that EK's certificate (what a CA would issue if the agent claimed that EK:
 * ActivateCredential works with any loaded EK). The AK really is a child of
 * the RSA EK, and the quote's qualifiedSigner says so. */
static void ak_under_the_other_ek(struct fx *f, struct forged *o)
{
	const struct proof_blob certs[] = {f->ecc_ek_cert};
	struct proof_blob ak = {0};
	struct proof *p = forge_good(f);

	forge_ak_cert(f, &f->a.ak_public, &f->ecc_ek_cert, time(NULL), 0, &ak);
	forge_identity(p, certs, 1, &ak);
	fx_blob_set(&p->ek_public, f->ecc_ek_public.data, f->ecc_ek_public.len);
	forge_emit(o, p);
	fx_blob_clear(&ak);
}

static const struct forgery cases_ak_list[] = {
	FORGERY("AK certificate from an untrusted CA", "ak.certificate", ak_cert_untrusted_ca),
	FORGERY("same, the proof carrying that CA's certificate", "ak.certificate",
		ak_cert_untrusted_ca_carried),
	FORGERY("AK certificate expired", "ak.certificate", ak_cert_expired),
	FORGERY("AK certificate without EKU 2.23.133.8.3", "ak.certificate", ak_cert_without_eku),
	FORGERY("AK certificate of another TPM's AK", "ak.binding", ak_cert_of_another_tpm),
	FORGERY("AK public and certificate of another TPM", "ak.binding",
		ak_public_and_cert_of_another_tpm),
	FORGERY("AK public key of another TPM", "ak.binding", ak_public_of_another_tpm),
	FORGERY("AK certificate naming another TPM's EK", "ak.binding", ak_cert_naming_another_tpm),
	FORGERY("AK public area without restricted", "ak.binding", ak_public_not_restricted),
	FORGERY("another TPM's identity, both EK CAs trusted", "quote.signature",
		identity_of_another_tpm),
	FORGERY("AK certified under the TPM's other EK", "quote.signer", ak_under_the_other_ek),
};

const struct forgery_table cases_ak = {"AK", cases_ak_list,
				       sizeof(cases_ak_list) / sizeof(cases_ak_list[0])};
