/* The verifier's checks of the TPM evidence: certificates, the quote and
 * the quoted PCRs. */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "akcert.h"
#include "attest.h"
#include "ekcert.h"
#include "err.h"
#include "events.h"
#include "hex.h"
#include "policy.h"
#include "proof.h"
#include "tpmkey.h"
#include "verify_internal.h"

/* The same rules as enrollment's (ekcert.h): a full chain to a self-signed
 * root of the policy, with the policy's and the proof's intermediates. */
static int verify_ek_store(struct vctx *c, struct ekcert_store **ret)
{
	const struct proof *p = c->proof;
	struct ekcert_store *s = NULL;
	int r;

	r = ekcert_store_new(&s);
	for (int i = 0; r == 0 && i < sk_X509_num(c->policy->ek_roots); i++)
		r = ekcert_store_add_root(s, sk_X509_value(c->policy->ek_roots, i));
	for (int i = 0; r == 0 && i < sk_X509_num(c->policy->ek_intermediates); i++)
		r = ekcert_store_add_intermediate(s, sk_X509_value(c->policy->ek_intermediates, i));
	for (size_t i = 1; r == 0 && i < p->n_ek_certs; i++) {
		X509 *x = NULL;

		r = ekcert_parse_der(p->ek_certs[i].data, p->ek_certs[i].len, &x);
		if (r == 0)
			r = ekcert_store_add_intermediate(s, x);
		X509_free(x);
	}
	if (r < 0) {
		ekcert_store_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

int verify_ek_certificate(struct vctx *c)
{
	const struct proof *p = c->proof;
	struct ekcert_store *s = NULL;
	char subject[256];
	int r;

	r = ekcert_parse_der(p->ek_certs[0].data, p->ek_certs[0].len, &c->ek_cert);
	if (r == 0)
		r = verify_ek_store(c, &s);
	if (r == 0)
		r = ekcert_verify(s, c->ek_cert, c->now);
	ekcert_store_free(s);
	if (r < 0)
		return err_wrap(AICERT_ERR_REJECTED, "evidence.tpm.ek_certificates");
	ekcert_name_text(X509_get_subject_name(c->ek_cert), subject, sizeof(subject));
	return err_set(0, "%s, chains to a trusted EK root", subject);
}

int verify_ek_public(struct vctx *c)
{
	EVP_PKEY *key = X509_get0_pubkey(c->ek_cert);
	int r;

	if (!key)
		return err_set(AICERT_ERR_REJECTED, "the EK certificate has no usable public key");
	r = tpmkey_check_evp(&c->ek_pub, key);
	return r < 0 ? err_wrap(AICERT_ERR_REJECTED, "evidence.tpm.ek_public") : 0;
}

int verify_ak_certificate(struct vctx *c)
{
	const struct proof *p = c->proof;
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	char subject[256];
	int r = untrusted ? 0 : AICERT_ERR_NOMEM;

	if (r == 0)
		r = ekcert_parse_der(p->ak_certs[0].data, p->ak_certs[0].len, &c->ak_cert);
	for (size_t i = 1; r == 0 && i < p->n_ak_certs; i++) {
		X509 *x = NULL;

		r = ekcert_parse_der(p->ak_certs[i].data, p->ak_certs[i].len, &x);
		if (r == 0 && !sk_X509_push(untrusted, x)) {
			X509_free(x);
			r = AICERT_ERR_NOMEM;
		}
	}
	if (r == 0)
		r = akcert_verify(c->ak_cert, c->policy->ak_ca, untrusted, NULL, c->now);
	sk_X509_pop_free(untrusted, X509_free);
	if (r < 0)
		return err_wrap(AICERT_ERR_REJECTED, "evidence.tpm.ak_certificates");
	ekcert_name_text(X509_get_subject_name(c->ak_cert), subject, sizeof(subject));
	return err_set(0, "%s, issued by a trusted attestation CA", subject);
}

int verify_ak_binding(struct vctx *c)
{
	uint8_t ek_digest[32], named[32];
	unsigned char *der = NULL;
	EVP_PKEY *key = X509_get0_pubkey(c->ak_cert);
	int der_len, r;

	r = tpmkey_check_ak_attributes(&c->ak_pub);
	if (r < 0)
		return err_wrap(AICERT_ERR_REJECTED, "evidence.tpm.ak_public");
	if (!key || tpmkey_check_evp(&c->ak_pub, key) < 0)
		return err_set(AICERT_ERR_REJECTED,
			       "the AK certificate is for another key than evidence.tpm.ak_public");
	r = akcert_ek_digest(c->ak_cert, named);
	if (r < 0)
		return err_wrap(AICERT_ERR_REJECTED, "the AK certificate does not name a TPM");
	der_len = i2d_X509(c->ek_cert, &der);
	if (der_len <= 0)
		return err_set(AICERT_ERR_CRYPTO, "cannot encode the EK certificate");
	SHA256(der, (size_t)der_len, ek_digest);
	OPENSSL_free(der);
	if (CRYPTO_memcmp(ek_digest, named, 32) != 0)
		return err_set(AICERT_ERR_REJECTED,
			       "the AK certificate names another TPM: its EK certificate digest "
			       "differs from this proof's EK certificate");
	return err_set(0, "the certified AK is a restricted signing key of this TPM");
}

int verify_quote_magic(struct vctx *c)
{
	if (c->att.magic != TPM2_GENERATED_VALUE)
		return err_set(AICERT_ERR_REJECTED, "magic 0x%08x, expected TPM_GENERATED_VALUE",
			       c->att.magic);
	return 0;
}

int verify_quote_type(struct vctx *c)
{
	if (c->att.type != TPM2_ST_ATTEST_QUOTE)
		return err_set(AICERT_ERR_REJECTED,
			       "attestation type 0x%04x, expected TPM_ST_ATTEST_QUOTE (0x8018)",
			       c->att.type);
	return 0;
}

int verify_quote_signature(struct vctx *c)
{
	EVP_PKEY *key = NULL;
	int r;

	r = tpmkey_to_evp(&c->ak_pub, &key);
	if (r == 0)
		r = attest_verify_signature(c->proof->attest.data, c->proof->attest.len, &c->sig,
					    key);
	EVP_PKEY_free(key);
	if (r < 0)
		return err_wrap(AICERT_ERR_REJECTED, "quote signature");
	return err_set(0, "valid %s signature over the attestation",
		       tpmkey_hash_name(attest_signature_hash(&c->sig)));
}

/* QN(object) = nameAlg || H_nameAlg(QN(parent) || Name(object)), where a
 * hierarchy's QN is its handle (TPM 2.0 Part 1, "Qualified Name"). */
static int verify_qualify(const TPM2B_NAME *parent_qn, const TPMT_PUBLIC *obj, TPM2B_NAME *qn)
{
	TPM2B_NAME name;
	TPM2B_DIGEST d;
	uint8_t buf[2 * sizeof(name.name)];
	int r;

	r = tpmkey_name(obj, &name);
	if (r < 0)
		return r;
	memcpy(buf, parent_qn->name, parent_qn->size);
	memcpy(buf + parent_qn->size, name.name, name.size);
	r = tpmkey_hash(obj->nameAlg, buf, parent_qn->size + name.size, &d);
	if (r < 0)
		return r;
	qn->name[0] = (uint8_t)(obj->nameAlg >> 8);
	qn->name[1] = (uint8_t)obj->nameAlg;
	memcpy(qn->name + 2, d.buffer, d.size);
	qn->size = (UINT16)(2 + d.size);
	return 0;
}

/* The quote names its signer by qualified name: the AK as a child of this
 * EK in the endorsement hierarchy. */
int verify_quote_signer(struct vctx *c)
{
	TPM2B_NAME hier = {.size = 4, .name = {0x40, 0x00, 0x00, 0x0b}}; /* TPM_RH_ENDORSEMENT */
	TPM2B_NAME ek_qn, ak_qn;
	int r;

	r = verify_qualify(&hier, &c->ek_pub, &ek_qn);
	if (r == 0)
		r = verify_qualify(&ek_qn, &c->ak_pub, &ak_qn);
	if (r < 0)
		return r;
	if (ak_qn.size != c->att.qualifiedSigner.size ||
	    memcmp(ak_qn.name, c->att.qualifiedSigner.name, ak_qn.size) != 0)
		return err_set(AICERT_ERR_REJECTED,
			       "qualifiedSigner is not evidence.tpm.ak_public as a child of "
			       "evidence.tpm.ek_public");
	return 0;
}

int verify_quote_nonce(struct vctx *c)
{
	const struct proof *p = c->proof;
	uint8_t binding[32];
	char hex[129];
	int r;

	r = events_binding(p->job_id, p->nonce, p->nonce_len, binding);
	if (r < 0)
		return r;
	if (c->att.extraData.size != 32 || CRYPTO_memcmp(c->att.extraData.buffer, binding, 32))
		return err_set(AICERT_ERR_REJECTED,
			       "extraData does not bind job '%s' and this nonce: the quote was "
			       "made for another job or nonce",
			       p->job_id);
	if (c->opts->nonce && (c->opts->nonce_len != p->nonce_len ||
			       CRYPTO_memcmp(c->opts->nonce, p->nonce, p->nonce_len) != 0))
		return err_set(AICERT_ERR_REJECTED, "the proof's nonce is not the one you chose");
	hex_encode(p->nonce, p->nonce_len, hex);
	return err_set(0, "bound to job '%s' and nonce %s%s", p->job_id, hex,
		       c->opts->nonce ? " (yours)" : "");
}

int verify_quote_pcrs(struct vctx *c)
{
	struct attest_pcr_value v[PROOF_MAX_PCRS];
	const struct proof *p = c->proof;
	int r;

	proof_pcr_values(p, v);
	r = attest_check_pcrs(&c->att, attest_signature_hash(&c->sig), v, p->n_pcrs);
	if (r < 0)
		return err_wrap(AICERT_ERR_REJECTED, "evidence.pcrs");
	for (size_t i = 0; i < p->n_pcrs; i++) {
		if (p->pcrs[i].hash_alg != TPM2_ALG_SHA256)
			continue;
		memcpy(c->quoted[p->pcrs[i].pcr], p->pcrs[i].digest, 32);
		c->quoted_mask |= 1u << p->pcrs[i].pcr;
	}
	return err_set(0, "%zu PCR values, exactly the signed selection and digest", p->n_pcrs);
}

int verify_pcrs_required(struct vctx *c)
{
	uint32_t missing = c->policy->required_pcrs & ~c->quoted_mask;

	if (!c->quoted_mask)
		return err_set(AICERT_ERR_REJECTED,
			       "no SHA-256 PCR is quoted; SHA-1 is never the basis of a decision");
	for (unsigned i = 0; i < 24; i++)
		if (missing >> i & 1)
			return err_set(AICERT_ERR_REJECTED,
				       "PCR %u (SHA-256) is required by the policy and not quoted",
				       i);
	return err_set(0, "every PCR the policy requires is quoted in SHA-256");
}
