#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hex.h"

void hex_encode(const uint8_t *buf, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[buf[i] >> 4];
		out[2 * i + 1] = digits[buf[i] & 0xf];
	}
	out[2 * len] = '\0';
}

char *hex_encode_alloc(const uint8_t *buf, size_t len)
{
	char *s = malloc(2 * len + 1);

	if (s)
		hex_encode(buf, len, s);
	return s;
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_decode(const char *hex, uint8_t *out, size_t cap, size_t *out_len)
{
	size_t n = strlen(hex);

	if (n % 2 != 0)
		return err_set(AICERT_ERR_INVALID, "hex string has odd length %zu", n);
	if (n / 2 > cap)
		return err_set(AICERT_ERR_TOO_BIG,
			       "hex string decodes to %zu bytes, at most %zu allowed", n / 2, cap);
	for (size_t i = 0; i < n; i += 2) {
		int hi = hex_nibble(hex[i]);
		int lo = hex_nibble(hex[i + 1]);

		if (hi < 0 || lo < 0)
			return err_set(AICERT_ERR_INVALID, "not a hex digit at offset %zu",
				       hi < 0 ? i : i + 1);
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	*out_len = n / 2;
	return 0;
}
