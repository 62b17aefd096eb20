#include <stdbool.h>
#include <stdlib.h>

#include "b64.h"
#include "err.h"

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *b64_encode(const uint8_t *buf, size_t len)
{
	size_t n = 4 * ((len + 2) / 3), j = 0;
	char *out = malloc(n + 1);

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)buf[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)buf[i + 1] << 8;
		if (i + 2 < len)
			v |= buf[i + 2];
		out[j++] = b64_alphabet[v >> 18 & 63];
		out[j++] = b64_alphabet[v >> 12 & 63];
		out[j++] = i + 1 < len ? b64_alphabet[v >> 6 & 63] : '=';
		out[j++] = i + 2 < len ? b64_alphabet[v & 63] : '=';
	}
	out[j] = '\0';
	return out;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int b64_decode(const char *text, size_t len, size_t max, uint8_t **out, size_t *out_len)
{
	size_t pad = 0, n;
	uint8_t *buf;

	if (len % 4 != 0)
		return err_set(AICERT_ERR_INVALID, "base64: length %zu is not a multiple of 4",
			       len);
	if (len >= 1 && text[len - 1] == '=')
		pad = len >= 2 && text[len - 2] == '=' ? 2 : 1;
	n = len / 4 * 3 - pad;
	if (n > max)
		return err_set(AICERT_ERR_TOO_BIG, "base64: %zu bytes, at most %zu allowed", n,
			       max);
	buf = malloc(n ? n : 1);
	if (!buf)
		return AICERT_ERR_NOMEM;
	for (size_t i = 0, j = 0; i < len; i += 4) {
		int v[4];
		uint32_t w;

		for (int k = 0; k < 4; k++) {
			bool is_pad = i + (size_t)k >= len - pad;

			v[k] = is_pad ? 0 : b64_value(text[i + k]);
			if (v[k] < 0) {
				free(buf);
				return err_set(AICERT_ERR_INVALID,
					       "base64: invalid character at offset %zu", i + k);
			}
		}
		w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
		    (uint32_t)v[3];
		buf[j++] = (uint8_t)(w >> 16);
		if (j < n)
			buf[j++] = (uint8_t)(w >> 8);
		if (j < n)
			buf[j++] = (uint8_t)w;
		/* Canonical: the bits that padding leaves over must be zero. */
		if (i + 4 == len && ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))) {
			free(buf);
			return err_set(AICERT_ERR_INVALID,
				       "base64: non-canonical final characters");
		}
	}
	*out = buf;
	*out_len = n;
	return 0;
}
