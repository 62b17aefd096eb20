#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "aicert.pb-c.h"
#include "ca.h"
#include "ekcert.h"
#include "enroll.h"
#include "err.h"
#include "hex.h"
#include "makecred.h"
#include "tpmkey.h"

#define ENROLL_SECRET_BYTES 32

#define ENROLL_NV_EK_RSA    0x01c00002u /* TCG: RSA-2048 EK certificate */
#define ENROLL_NV_EK_ECC256 0x01c0000au /* TCG: ECC NIST P-256 EK certificate */
#define ENROLL_NV_EK_ECC384 0x01c00016u /* TCG high range: ECC NIST P-384 */

/* What the steps learn, for the steps after them. */
struct enroll_state {
	const struct enroll_params *p;
	const Aicert__V1__IdentityReply *id;
	time_t now;
	TPMT_PUBLIC ek;
	TPMT_PUBLIC ak;
	TPM2B_NAME ak_name;
	X509 *ek_cert;
	const ProtobufCBinaryData *ek_der;
	uint32_t ek_nv;
	struct ekcert_tpm tpm;
	int have_tpm;
	char detail[1024];
};

static const char *const enroll_step_names[] = {
	"EK certificate", "EK public key",         "AK attributes",
	"AK name",        "credential activation", "AK certificate",
};

const char *enroll_step_name(enum enroll_step step)
{
	return step < ENROLL_STEPS ? enroll_step_names[step] : "?";
}

static const char *enroll_alg_text(uint16_t type)
{
	return type == TPM2_ALG_RSA ? "rsa" : "ecc";
}

/* ---- 1. EK certificate --------------------------------------------------------- */

static int enroll_ek_index(const TPMT_PUBLIC *ek, uint32_t *nv)
{
	if (ek->type == TPM2_ALG_RSA)
		*nv = ENROLL_NV_EK_RSA;
	else if (ek->parameters.eccDetail.curveID == TPM2_ECC_NIST_P256)
		*nv = ENROLL_NV_EK_ECC256;
	else if (ek->parameters.eccDetail.curveID == TPM2_ECC_NIST_P384)
		*nv = ENROLL_NV_EK_ECC384;
	else
		return err_set(AICERT_ERR_UNSUPPORTED, "EK on ECC curve 0x%04x",
			       ek->parameters.eccDetail.curveID);
	return 0;
}

static int enroll_parse_ek(struct enroll_state *st)
{
	const Aicert__V1__IdentityReply *id = st->id;
	int r;

	r = tpmkey_parse_public(id->ek_public.data, id->ek_public.len, &st->ek);
	if (r < 0)
		return err_wrap(AICERT_ERR_REJECTED, "the agent's EK public area");
	if ((id->ek_alg == AICERT__V1__KEY_ALG__KEY_ALG_RSA) != (st->ek.type == TPM2_ALG_RSA))
		return err_set(AICERT_ERR_REJECTED,
			       "the agent says its EK is %s, but its public area is %s",
			       id->ek_alg == AICERT__V1__KEY_ALG__KEY_ALG_RSA ? "rsa" : "ecc",
			       enroll_alg_text(st->ek.type));
	return enroll_ek_index(&st->ek, &st->ek_nv);
}

static int enroll_find_ek_cert(struct enroll_state *st)
{
	const Aicert__V1__IdentityReply *id = st->id;
	char have[128] = "";
	size_t used = 0;

	for (size_t i = 0; i < id->n_ek_certs; i++) {
		if (id->ek_certs[i]->nv_index == st->ek_nv) {
			st->ek_der = &id->ek_certs[i]->der;
			return 0;
		}
		if (used < sizeof(have))
			used += (size_t)snprintf(have + used, sizeof(have) - used, " 0x%08x",
						 id->ek_certs[i]->nv_index);
	}
	return err_set(AICERT_ERR_REJECTED,
		       "EK certificate: the agent has none at NV 0x%08x for its %s EK (it has:%s)",
		       st->ek_nv, enroll_alg_text(st->ek.type), id->n_ek_certs ? have : " none");
}

static int enroll_step_ek_cert(struct enroll_state *st)
{
	char subject[160], issuer[160];
	int r;

	r = enroll_parse_ek(st);
	if (r == 0)
		r = enroll_find_ek_cert(st);
	if (r == 0) {
		r = ekcert_parse_der(st->ek_der->data, st->ek_der->len, &st->ek_cert);
		if (r < 0)
			return err_wrap(AICERT_ERR_REJECTED, "EK certificate (NV 0x%08x)",
					st->ek_nv);
	}
	if (r == 0)
		r = ekcert_verify(st->p->ek_roots, st->ek_cert, st->now);
	if (r < 0)
		return r;
	st->have_tpm = ekcert_tpm_info(st->ek_cert, &st->tpm) == 0;
	err_clear();
	ekcert_name_text(X509_get_subject_name(st->ek_cert), subject, sizeof(subject));
	ekcert_name_text(X509_get_issuer_name(st->ek_cert), issuer, sizeof(issuer));
	if (st->have_tpm)
		snprintf(st->detail, sizeof(st->detail),
			 "NV 0x%08x, subject %s, issuer %s, TPM %s %s %s", st->ek_nv, subject,
			 issuer, st->tpm.manufacturer, st->tpm.model, st->tpm.version);
	else
		snprintf(st->detail, sizeof(st->detail), "NV 0x%08x, subject %s, issuer %s",
			 st->ek_nv, subject, issuer);
	return 0;
}

/* ---- 2. EK public key ------------------------------------------------------------ */

static int enroll_step_ek_key(struct enroll_state *st)
{
	int r = ekcert_check_key(st->ek_cert, &st->ek);

	if (r < 0)
		return r == AICERT_ERR_REJECTED ? r
						: err_wrap(AICERT_ERR_REJECTED, "EK public key");
	snprintf(st->detail, sizeof(st->detail), "the agent's %s EK is the certificate's key",
		 enroll_alg_text(st->ek.type));
	return 0;
}

/* ---- 3. AK attributes, 4. AK name ---------------------------------------------------- */

static int enroll_step_ak_attributes(struct enroll_state *st)
{
	const Aicert__V1__IdentityReply *id = st->id;
	int r;

	r = tpmkey_parse_public(id->ak_public.data, id->ak_public.len, &st->ak);
	if (r < 0)
		return err_wrap(AICERT_ERR_REJECTED, "the agent's AK public area");
	r = tpmkey_check_ak_attributes(&st->ak);
	if (r < 0)
		return err_wrap(AICERT_ERR_REJECTED, "AK attributes");
	snprintf(st->detail, sizeof(st->detail),
		 "%s restricted signing key, fixedTPM, fixedParent, sensitiveDataOrigin",
		 enroll_alg_text(st->ak.type));
	return 0;
}

static int enroll_step_ak_name(struct enroll_state *st)
{
	const ProtobufCBinaryData *claimed = &st->id->ak_name;
	char hex[2 * sizeof(TPMU_NAME) + 1];
	int r;

	r = tpmkey_name(&st->ak, &st->ak_name);
	if (r < 0)
		return err_wrap(AICERT_ERR_REJECTED, "AK name");
	if (claimed->len != st->ak_name.size ||
	    CRYPTO_memcmp(claimed->data, st->ak_name.name, st->ak_name.size) != 0)
		return err_set(AICERT_ERR_REJECTED,
			       "AK name: the agent claims a name (%zu bytes) that is not the name "
			       "of its AK public area",
			       claimed->len);
	hex_encode(st->ak_name.name, st->ak_name.size, hex);
	snprintf(st->detail, sizeof(st->detail), "%s", hex);
	return 0;
}

/* ---- 5. credential activation ----------------------------------------------------------- */

static int enroll_challenge(struct enroll_state *st, const uint8_t *secret)
{
	uint8_t *blob = NULL, *enc = NULL, *answer = NULL;
	size_t blob_len = 0, enc_len = 0, answer_len = 0;
	int r;

	r = makecred_make(&st->ek, &st->ak_name, secret, ENROLL_SECRET_BYTES, &blob, &blob_len,
			  &enc, &enc_len);
	if (r < 0)
		return err_wrap(r, "credential activation: MakeCredential");
	r = st->p->activate(st->p->activate_ctx, blob, blob_len, enc, enc_len, &answer,
			    &answer_len);
	if (r < 0) {
		r = err_wrap(r, "credential activation: the agent could not activate the "
				"credential");
	} else if (answer_len != ENROLL_SECRET_BYTES ||
		   CRYPTO_memcmp(answer, secret, ENROLL_SECRET_BYTES) != 0) {
		r = err_set(AICERT_ERR_REJECTED,
			    "credential activation: the agent returned a wrong secret; its TPM "
			    "does not hold both the EK and the AK");
	}
	if (answer)
		OPENSSL_cleanse(answer, answer_len);
	free(answer);
	free(enc);
	free(blob);
	return r;
}

static int enroll_step_activate(struct enroll_state *st)
{
	uint8_t secret[ENROLL_SECRET_BYTES];
	int r;

	if (RAND_priv_bytes(secret, sizeof(secret)) != 1)
		return tpmkey_err_openssl(AICERT_ERR_CRYPTO, "credential activation: no random "
							     "secret");
	r = enroll_challenge(st, secret);
	OPENSSL_cleanse(secret, sizeof(secret));
	if (r == 0)
		snprintf(st->detail, sizeof(st->detail),
			 "the TPM holding the EK released the secret for the AK");
	return r;
}

/* ---- 6. AK certificate -------------------------------------------------------------------- */

static int enroll_step_issue(struct enroll_state *st, struct enroll_result *res)
{
	struct ca_runner_info info = {
		.ak_alg = enroll_alg_text(st->ak.type),
		.ek_alg = enroll_alg_text(st->ek.type),
		.ek_nv_index = st->ek_nv,
		.tpm = st->have_tpm ? &st->tpm : NULL,
		.enrolled_at = st->now,
	};
	X509 *ak_cert = NULL;
	int r;

	r = ca_issue_ak_cert(st->p->ca, &st->ak, st->ek_der->data, st->ek_der->len, st->now,
			     st->p->ak_days, &ak_cert);
	if (r < 0)
		return err_wrap(r, "AK certificate");
	r = ca_write_runner(st->p->ca, &st->ak_name, ak_cert, st->ek_cert, &info, &res->replaced,
			    &res->cert_path);
	if (r < 0)
		r = err_wrap(r, "AK certificate: writing the runner record");
	else
		snprintf(st->detail, sizeof(st->detail), "issued%s",
			 res->replaced ? ", replacing an earlier record of this AK" : "");
	X509_free(ak_cert);
	return r;
}

/* ---- driver -------------------------------------------------------------------------------- */

static int enroll_do_step(struct enroll_state *st, enum enroll_step step, struct enroll_result *res)
{
	int r;

	st->detail[0] = '\0';
	switch (step) {
	case ENROLL_STEP_EK_CERT:
		r = enroll_step_ek_cert(st);
		break;
	case ENROLL_STEP_EK_KEY:
		r = enroll_step_ek_key(st);
		break;
	case ENROLL_STEP_AK_ATTRIBUTES:
		r = enroll_step_ak_attributes(st);
		break;
	case ENROLL_STEP_AK_NAME:
		r = enroll_step_ak_name(st);
		break;
	case ENROLL_STEP_ACTIVATE:
		r = enroll_step_activate(st);
		break;
	default:
		r = enroll_step_issue(st, res);
		break;
	}
	if (st->p->report)
		st->p->report(st->p->report_ctx, step, r, r < 0 ? err_msg(r) : st->detail);
	return r;
}

int enroll_run(const struct enroll_params *p, const struct Aicert__V1__IdentityReply *id,
	       struct enroll_result *res)
{
	struct enroll_state st;
	int r = 0;

	assert(p->ca && p->ek_roots && p->activate);
	memset(res, 0, sizeof(*res));
	res->failed_step = ENROLL_STEPS;
	memset(&st, 0, sizeof(st));
	st.p = p;
	st.id = id;
	st.now = p->now ? p->now : time(NULL);
	for (enum enroll_step s = 0; s < ENROLL_STEPS; s++) {
		r = enroll_do_step(&st, s, res);
		if (r < 0) {
			res->failed_step = s;
			break;
		}
	}
	res->ek_nv_index = st.ek_nv;
	X509_free(st.ek_cert);
	return r;
}

void enroll_result_clear(struct enroll_result *res)
{
	if (!res)
		return;
	free(res->cert_path);
	memset(res, 0, sizeof(*res));
	res->failed_step = ENROLL_STEPS;
}
