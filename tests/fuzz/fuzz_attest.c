/* libFuzzer harness for the parsers of quotes and TPM keys (untrusted bytes
 * from agents and proofs): the same input goes to attest_parse(),
 * attest_parse_signature() and tpmkey_parse_public(). Beyond "no crash, no
 * leak", it checks what they promise:
 *   - a failure has one of the documented codes;
 *   - a success re-marshals to exactly the input (one encoding per value,
 *     which the Name of a key relies on);
 *   - what is parsed can be used: a quote's selection lists and its checks
 *     only accept or reject, a signature only fails to verify, a key converts
 *     or is refused as INVALID, and has a Name and a PEM when it converts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <tss2/tss2_mu.h>

#include "attest.h"
#include "err.h"
#include "tpmkey.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *ec_key;
static EVP_PKEY *rsa_key;
static const uint8_t zeros[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* tss2-mu logs every malformed input it meets. */
	setenv("TSS2_LOG", "all+NONE", 1);
	ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (!ec_key || !rsa_key)
		abort();
	return 0;
}

/* A broken promise: say which, with the library's message, and crash. */
#define require(ok)                                                                                \
	do {                                                                                       \
		if (!(ok)) {                                                                       \
			fprintf(stderr, "%s:%d: %s failed; last message: %s\n", __FILE__,          \
				__LINE__, #ok, err_msg(AICERT_ERR_INTERNAL));                      \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static void check_quote(const TPMS_ATTEST *a, const uint8_t *data, size_t size)
{
	struct attest_pcr_ref refs[ATTEST_MAX_PCRS];
	struct attest_pcr_value values[ATTEST_MAX_PCRS];
	size_t n = 0;
	int r;

	r = attest_check_quote(a, data, size < 16 ? size : 16);
	require(r == 0 || r == AICERT_ERR_REJECTED);
	/* attest_parse() has checked the selection of a quote. */
	require(attest_selection_list(&a->attested.quote.pcrSelect, refs, &n) == 0);
	require(n <= ATTEST_MAX_PCRS);
	for (size_t i = 0; i < n; i++)
		values[i] = (struct attest_pcr_value){refs[i].hash_alg, refs[i].pcr, zeros,
						      tpmkey_hash_size(refs[i].hash_alg)};
	r = attest_check_pcrs(a, TPM2_ALG_SHA256, values, n);
	require(r == 0 || r == AICERT_ERR_REJECTED);
}

static void fuzz_attest(const uint8_t *data, size_t size)
{
	uint8_t buf[sizeof(TPMS_ATTEST)];
	TPMS_ATTEST a;
	size_t off = 0;
	int r;

	r = attest_parse(data, size, &a);
	if (r < 0) {
		require(r == AICERT_ERR_INVALID || r == AICERT_ERR_TOO_BIG ||
			r == AICERT_ERR_UNSUPPORTED);
		return;
	}
	require(Tss2_MU_TPMS_ATTEST_Marshal(&a, buf, sizeof(buf), &off) == TSS2_RC_SUCCESS);
	require(off == size && memcmp(buf, data, size) == 0);
	if (a.type == TPM2_ST_ATTEST_QUOTE)
		check_quote(&a, data, size);
}

static void fuzz_signature(const uint8_t *data, size_t size)
{
	uint8_t buf[sizeof(TPMT_SIGNATURE)];
	TPMT_SIGNATURE sig;
	TPMI_ALG_HASH hash;
	size_t off = 0;
	int r;

	r = attest_parse_signature(data, size, &sig);
	if (r < 0) {
		require(r == AICERT_ERR_INVALID || r == AICERT_ERR_TOO_BIG ||
			r == AICERT_ERR_UNSUPPORTED || r == AICERT_ERR_REJECTED);
		return;
	}
	require(Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, buf, sizeof(buf), &off) == TSS2_RC_SUCCESS);
	require(off == size && memcmp(buf, data, size) == 0);
	hash = attest_signature_hash(&sig);
	require(hash == TPM2_ALG_SHA256 || hash == TPM2_ALG_SHA384);
	/* Forging is out of reach: both keys must say no, and nothing else. */
	require(attest_verify_signature(data, size, &sig, ec_key) == AICERT_ERR_REJECTED);
	require(attest_verify_signature(data, size, &sig, rsa_key) == AICERT_ERR_REJECTED);
}

static void fuzz_public(const uint8_t *data, size_t size)
{
	uint8_t buf[sizeof(TPMT_PUBLIC)];
	TPMT_PUBLIC pub;
	TPM2B_NAME name;
	EVP_PKEY *pkey = NULL;
	char *pem = NULL;
	size_t len = 0;
	int r;

	r = tpmkey_parse_public(data, size, &pub);
	if (r < 0) {
		require(r == AICERT_ERR_INVALID || r == AICERT_ERR_UNSUPPORTED);
		return;
	}
	require(tpmkey_marshal_public(&pub, buf, sizeof(buf), &len) == 0);
	require(len == size && memcmp(buf, data, size) == 0);
	require(tpmkey_name(&pub, &name) == 0);
	r = tpmkey_check_ak_attributes(&pub);
	require(r == 0 || r == AICERT_ERR_REJECTED);
	r = tpmkey_to_evp(&pub, &pkey);
	if (r < 0) {
		require(r == AICERT_ERR_INVALID);
		return;
	}
	require(tpmkey_check_evp(&pub, pkey) == 0);
	require(tpmkey_to_pem(&pub, &pem) == 0);
	free(pem);
	EVP_PKEY_free(pkey);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_attest(data, size);
	fuzz_signature(data, size);
	fuzz_public(data, size);
	err_clear();
	return 0;
}
