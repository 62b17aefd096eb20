/* The agent's TPM access through ESAPI.
 *
 * One struct tpm is one ESYS context on one TCTI. It is not thread-safe: the
 * agent is the only TPM user and serialises every call with one lock. On open
 * it loads the attestation key (AK), creating it under the endorsement key
 * (EK) on first start, and keeps it loaded until tpm_free(), which flushes
 * every transient object it loaded.
 *
 * Byte outputs are TPM wire format (the Tss2_MU marshalling), so that the
 * verifier side reads exactly what the TPM produced.
 */
#ifndef AICERT_AGENT_TPM_H
#define AICERT_AGENT_TPM_H

#include <stddef.h>
#include <stdint.h>

/* Numbers equal aicert.v1.KeyAlg. */
enum tpm_keyalg {
	TPM_KEYALG_DEFAULT = 0,
	TPM_KEYALG_RSA = 1, /* RSA-2048 */
	TPM_KEYALG_ECC = 2, /* ECC NIST P-256 */
};

#define TPM_PCR_COUNT     24
#define TPM_MAX_DIGEST    64
#define TPM_MAX_BANKS     4
#define TPM_ALG_SHA1_ID   0x0004
#define TPM_ALG_SHA256_ID 0x000b
#define TPM_ALG_SHA384_ID 0x000c
#define TPM_ALG_SHA512_ID 0x000d

struct tpm;

struct tpm_opts {
	/* TCTI configuration string for Tss2_TctiLdr_Initialize, e.g.
	 * "device:/dev/tpmrm0" or "swtpm:host=127.0.0.1,port=2321". */
	const char *tcti;
	/* Directory holding the AK's saved public and private blobs
	 * (ak.pub, ak.priv, written atomically). Must exist. */
	const char *state_dir;
	/* Which EK the AK is created under: RSA (default; persistent handle
	 * 0x81010001 if present, else the TCG default template L-1) or ECC
	 * (persistent 0x81010002, else 0x81010016 where swtpm_setup puts its
	 * P-384 EK, else template L-2, P-256). */
	enum tpm_keyalg ek_alg;
	/* Algorithm of a newly created AK: ECC P-256 with ECDSA/SHA-256
	 * (default) or RSA-2048 with RSASSA/SHA-256. An AK already in state_dir
	 * is kept whatever this says. */
	enum tpm_keyalg ak_alg;
};

/* A PCR selection in one bank: hash_alg is a TPM_ALG_ID, mask has bit i set
 * for PCR i (0..23). */
struct tpm_bank {
	uint16_t hash_alg;
	uint32_t mask;
};

struct tpm_bank_values {
	uint16_t hash_alg;
	uint32_t mask;     /* the PCRs present in digest[] */
	size_t digest_len; /* 20, 32, 48 or 64 */
	uint8_t digest[TPM_PCR_COUNT][TPM_MAX_DIGEST];
};

struct tpm_ek_cert {
	uint32_t nv_index;
	uint8_t *der;
	size_t der_len;
};

/* Connects to the TPM (sending TPM2_Startup(CLEAR) if it was never started)
 * and loads or creates the AK. */
int tpm_open(const struct tpm_opts *opts, struct tpm **ret);

/* Flushes every transient object this context loaded and finalises ESYS.
 * NULL-safe. */
void tpm_free(struct tpm *t);

/* TPMS_CLOCK_INFO.resetCount and restartCount, read with TPM2_ReadClock. */
int tpm_clock(struct tpm *t, uint32_t *reset_count, uint32_t *restart_count);

/* TPM_PT_MANUFACTURER as four characters and a NUL. */
int tpm_manufacturer(struct tpm *t, char out[5]);

/* Marshalled TPMT_PUBLIC of the EK the AK lives under; malloc'd. */
int tpm_ek_public(struct tpm *t, uint8_t **pub, size_t *pub_len);

/* Every EK certificate stored in NV at 0x01c00002 (RSA 2048), 0x01c0000a
 * (ECC P-256) and 0x01c00016 (ECC P-384), in that order; missing ones are
 * skipped. Free with tpm_ek_certs_free(). */
int tpm_ek_certs(struct tpm *t, struct tpm_ek_cert **certs, size_t *n);
void tpm_ek_certs_free(struct tpm_ek_cert *certs, size_t n);

/* Marshalled TPMT_PUBLIC of the AK, and its name (nameAlg || digest);
 * both malloc'd. */
int tpm_ak_public(struct tpm *t, uint8_t **pub, size_t *pub_len, uint8_t **name, size_t *name_len);
enum tpm_keyalg tpm_ak_alg(const struct tpm *t);
enum tpm_keyalg tpm_ek_alg(const struct tpm *t);

/* TPM2_PCR_Extend of the SHA-256 bank only, then reads the PCR back into
 * new_value. pcr must be 0..23. */
int tpm_extend(struct tpm *t, uint32_t pcr, const uint8_t digest[32], uint8_t new_value[32]);

/* Reads the selected PCRs of each bank (looping over TPM2_PCR_Read's
 * eight-digest limit). A bank the TPM does not have is AICERT_ERR_NOT_FOUND.
 * *update_counter is pcrUpdateCounter of the last read. */
int tpm_pcr_read(struct tpm *t, const struct tpm_bank *banks, size_t nbanks,
		 struct tpm_bank_values *out, uint32_t *update_counter);

/* TPM2_Quote with the AK over the selection, with qualifying data (1..64
 * bytes) as extraData. attest receives the TPMS_ATTEST bytes as signed (the
 * contents of TPM2B_ATTEST), sig the marshalled TPMT_SIGNATURE; both malloc'd.
 * The PCR values are read in the same call into values (nbanks entries), and
 * their digest is compared with the quote's pcrDigest, so that they always
 * match what was signed: when another TPM user (the kernel's IMA, say) changed
 * a PCR in between, the quote is retried, up to three times, and then the call
 * fails with AICERT_ERR_STATE. */
int tpm_quote(struct tpm *t, const uint8_t *qualifying, size_t qualifying_len,
	      const struct tpm_bank *banks, size_t nbanks, uint8_t **attest, size_t *attest_len,
	      uint8_t **sig, size_t *sig_len, struct tpm_bank_values *values);

/* TPM2_ActivateCredential of the AK with the EK: credential_blob is the
 * TPM2B_ID_OBJECT contents, secret the TPM2B_ENCRYPTED_SECRET contents. The
 * recovered secret is malloc'd into *out; the caller wipes it before free. */
int tpm_activate_credential(struct tpm *t, const uint8_t *credential_blob, size_t blob_len,
			    const uint8_t *secret, size_t secret_len, uint8_t **out,
			    size_t *out_len);

#endif
