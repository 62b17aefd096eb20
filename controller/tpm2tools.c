#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest.h"
#include "err.h"
#include "fileio.h"
#include "tpm2tools.h"
#include "tpmkey.h"

/* The serialized format is the C structs of tpm2-tools as laid out on the
 * little-endian machines it runs on. The sizes are those of tss2's structs:
 * check them where they are known. */
_Static_assert(sizeof(TPML_PCR_SELECTION) == TPM2TOOLS_SELECTION_SIZE, "TPML_PCR_SELECTION");
_Static_assert(sizeof(TPML_DIGEST) == TPM2TOOLS_DIGESTS_SIZE, "TPML_DIGEST");

#define SEL_ENTRY_SIZE    8  /* TPMS_PCR_SELECTION: u16 hash, u8 size, u8[4], 1 pad */
#define DIGEST_ENTRY_SIZE 66 /* TPM2B_DIGEST: u16 size, u8[64] */
#define FILE_MODE         0644

_Static_assert(sizeof(TPMS_PCR_SELECTION) == SEL_ENTRY_SIZE, "TPMS_PCR_SELECTION");
_Static_assert(sizeof(TPM2B_DIGEST) == DIGEST_ENTRY_SIZE, "TPM2B_DIGEST");

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

static void encode_selection(const TPML_PCR_SELECTION *sel, uint8_t *p)
{
	put_le32(p, sel->count);
	for (uint32_t i = 0; i < sel->count; i++) {
		const TPMS_PCR_SELECTION *s = &sel->pcrSelections[i];
		uint8_t *e = p + 4 + SEL_ENTRY_SIZE * i;

		put_le16(e, s->hash);
		e[2] = s->sizeofSelect;
		memcpy(e + 3, s->pcrSelect, s->sizeofSelect);
	}
}

/* One TPML_DIGEST with the values at v (at most 8). */
static void encode_digests(const struct attest_pcr_value *v, size_t n, uint8_t *p)
{
	put_le32(p, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		uint8_t *e = p + 4 + DIGEST_ENTRY_SIZE * i;

		put_le16(e, (uint16_t)v[i].size);
		memcpy(e + 2, v[i].digest, v[i].size);
	}
}

int tpm2tools_encode_pcrs(const TPML_PCR_SELECTION *sel, const struct attest_pcr_value *values,
			  size_t n, uint8_t **buf, size_t *len)
{
	struct attest_pcr_value ordered[ATTEST_MAX_PCRS];
	size_t lists = (n + TPM2TOOLS_DIGESTS_MAX - 1) / TPM2TOOLS_DIGESTS_MAX;
	size_t size = TPM2TOOLS_SELECTION_SIZE + 4 + lists * TPM2TOOLS_DIGESTS_SIZE;
	uint8_t *p;
	int r;

	/* Checks the selection, and that each value has its bank's size. */
	r = attest_order_pcrs(sel, values, n, ordered);
	if (r < 0)
		return r;
	p = calloc(1, size);
	if (!p)
		return AICERT_ERR_NOMEM;
	encode_selection(sel, p);
	put_le32(p + TPM2TOOLS_SELECTION_SIZE, (uint32_t)lists);
	for (size_t l = 0; l < lists; l++) {
		size_t first = l * TPM2TOOLS_DIGESTS_MAX;
		size_t count =
			n - first < TPM2TOOLS_DIGESTS_MAX ? n - first : TPM2TOOLS_DIGESTS_MAX;

		encode_digests(ordered + first, count,
			       p + TPM2TOOLS_SELECTION_SIZE + 4 + l * TPM2TOOLS_DIGESTS_SIZE);
	}
	*buf = p;
	*len = size;
	return 0;
}

static int write_file(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[PATH_MAX];
	int n;

	n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return err_set(AICERT_ERR_INVALID, "%s/%s: path too long", dir, name);
	return fileio_write_atomic(path, buf, len, FILE_MODE);
}

int tpm2tools_write_quote(const char *dir, const uint8_t *attest, size_t attest_len,
			  const uint8_t *sig, size_t sig_len, const struct attest_pcr_value *values,
			  size_t n, const TPMT_PUBLIC *ak)
{
	TPMS_ATTEST a;
	TPMT_SIGNATURE s;
	uint8_t *pcrs = NULL;
	size_t pcrs_len = 0;
	char *pem = NULL;
	int r;

	r = attest_parse(attest, attest_len, &a);
	if (r < 0)
		return err_wrap(r, "quote");
	if (a.type != TPM2_ST_ATTEST_QUOTE)
		return err_set(AICERT_ERR_INVALID, "quote: TPMS_ATTEST.type is 0x%04x, not a quote",
			       a.type);
	r = attest_parse_signature(sig, sig_len, &s);
	if (r < 0)
		return err_wrap(r, "quote signature");
	r = tpm2tools_encode_pcrs(&a.attested.quote.pcrSelect, values, n, &pcrs, &pcrs_len);
	if (r < 0)
		goto out;
	r = tpmkey_to_pem(ak, &pem);
	if (r < 0) {
		err_wrap(r, "AK");
		goto out;
	}
	r = fileio_mkdir(dir, 0755);
	if (r == 0)
		r = write_file(dir, "quote.msg", attest, attest_len);
	if (r == 0)
		r = write_file(dir, "quote.sig", sig, sig_len);
	if (r == 0)
		r = write_file(dir, "quote.pcrs", pcrs, pcrs_len);
	if (r == 0)
		r = write_file(dir, "ak.pub.pem", pem, strlen(pem));
out:
	free(pem);
	free(pcrs);
	return r;
}
