/* Writers for tpm2-tools' file formats, so that a quote aicert received can
 * be checked by hand with tpm2_checkquote (tpm2-tools 5.x):
 *
 *	tpm2_checkquote -u DIR/ak.pub.pem -m DIR/quote.msg -s DIR/quote.sig \
 *		-f DIR/quote.pcrs -g sha256 -q <extraData in hex>
 *
 * The formats, as tpm2_quote writes and tpm2_checkquote reads them:
 *   quote.msg   the TPMS_ATTEST bytes (TPM2B_ATTEST contents, no size);
 *   quote.sig   the marshalled TPMT_SIGNATURE (TPM wire format);
 *   quote.pcrs  tpm2-tools' "serialized" format, which is the in-memory
 *               layout of its C structs on a little-endian 64-bit machine:
 *               TPML_PCR_SELECTION (132 bytes), a u32 count of digest
 *               lists, then that many TPML_DIGEST (532 bytes each, up to 8
 *               PCR values in selection order);
 *   ak.pub.pem  the AK as a PEM SubjectPublicKeyInfo.
 */
#ifndef AICERT_TPM2TOOLS_H
#define AICERT_TPM2TOOLS_H

#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

struct attest_pcr_value;

#define TPM2TOOLS_SELECTION_SIZE 132 /* sizeof(TPML_PCR_SELECTION) */
#define TPM2TOOLS_DIGESTS_SIZE   532 /* sizeof(TPML_DIGEST) */
#define TPM2TOOLS_DIGESTS_MAX    8   /* digests in one TPML_DIGEST */

/* Encodes the PCR values of a quote in the "serialized" format: sel is the
 * quote's pcrSelect, values the n PCR values in any order (they must be
 * exactly the selected PCRs, as for attest_order_pcrs()). *buf is malloc'd;
 * the caller frees it. */
int tpm2tools_encode_pcrs(const TPML_PCR_SELECTION *sel, const struct attest_pcr_value *values,
			  size_t n, uint8_t **buf, size_t *len);

/* Writes DIR/quote.msg, DIR/quote.sig, DIR/quote.pcrs and DIR/ak.pub.pem,
 * each atomically, creating dir (one level) if needed. attest and sig are the
 * TPMS_ATTEST and TPMT_SIGNATURE bytes as the agent returned them (they must
 * parse: attest must be a quote); values are the quoted PCR values (as in
 * aicert.v1.QuoteReply.pcrs) and must be exactly those the quote selects. No
 * signature or digest is checked here: that is tpm2_checkquote's job. */
int tpm2tools_write_quote(const char *dir, const uint8_t *attest, size_t attest_len,
			  const uint8_t *sig, size_t sig_len, const struct attest_pcr_value *values,
			  size_t n, const TPMT_PUBLIC *ak);

#endif
