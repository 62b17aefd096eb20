/* What tpm.c, tpm_ek.c and tpm_ak.c share: the context and the helpers that
 * cross the three. Not for use outside the tpm module.
 *
 * tpm.c     the context, TSS2_RC translation, recovery after a TPM reset,
 *           PCRs, quotes, credential activation
 * tpm_ek.c  finding or creating the EK, authorising its use, EK certificates
 * tpm_ak.c  creating, saving, loading the AK
 */
#ifndef AICERT_AGENT_TPM_INTERNAL_H
#define AICERT_AGENT_TPM_INTERNAL_H

#include <tss2/tss2_esys.h>

#include "tpm.h"

struct tpm {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
	char *state_dir;
	enum tpm_keyalg ek_alg;    /* RSA or ECC, never DEFAULT */
	enum tpm_keyalg ak_alg;    /* of the AK in use */
	ESYS_TR ek;                /* ESYS_TR_NONE when not loaded */
	TPM2_HANDLE ek_persistent; /* its persistent handle, 0 if a transient primary */
	TPM2B_PUBLIC ek_pub;
	ESYS_TR ak; /* ESYS_TR_NONE when not loaded */
	TPM2B_PUBLIC ak_pub;
	TPM2B_PRIVATE ak_priv;
};

/* The one translation of a TSS2_RC into an AICERT_ERR_* code: records
 * "what: <Tss2_RC_Decode text>" with err_set() and returns the code. */
int tpm_rc(TSS2_RC rc, const char *what);

/* The TPM response code without layer, or 0 for errors of the TSS itself.
 * Format-one codes keep only their error number (TPM2_RC_HANDLE, ...). */
TSS2_RC tpm_rc_base(TSS2_RC rc);

/* Flushes a transient object or session and sets *h to ESYS_TR_NONE;
 * ignores ESYS_TR_NONE and ESYS_TR_PASSWORD. Errors are dropped: the object
 * may be gone already after a TPM reset. */
void tpm_flush(struct tpm *t, ESYS_TR *h);

/* One TPM property (TPM2_CAP_TPM_PROPERTIES). */
int tpm_get_property(struct tpm *t, TPM2_PT property, uint32_t *value);

/* Whether a persistent object or NV index exists (TPM2_CAP_HANDLES). */
int tpm_handle_exists(struct tpm *t, TPM2_HANDLE handle, int *exists);

/* tpm_ek.c */
int tpm_ek_open(struct tpm *t, enum tpm_keyalg alg);
/* After a TPM reset: forgets a transient EK and creates it again. */
int tpm_ek_reopen(struct tpm *t);
/* The authorisation for the EK in its USER role: ESYS_TR_PASSWORD when the
 * EK has userWithAuth, else a new policy session satisfied with
 * PolicySecret(TPM_RH_ENDORSEMENT). Release it with tpm_flush(). */
int tpm_ek_session(struct tpm *t, ESYS_TR *session);

/* tpm_ak.c */
/* Loads the AK saved in state_dir, or creates and saves one of alg. */
int tpm_ak_open(struct tpm *t, enum tpm_keyalg alg);
/* Loads t->ak_pub/t->ak_priv under the EK into t->ak. */
int tpm_ak_load(struct tpm *t);

#endif
