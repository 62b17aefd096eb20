/* Lower-case hexadecimal encoding, strict decoding. */
#ifndef AICERT_HEX_H
#define AICERT_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Writes 2*len characters and a NUL to out, which holds 2*len+1 bytes. */
void hex_encode(const uint8_t *buf, size_t len, char *out);

/* Returns a malloc'd NUL-terminated string, or NULL when out of memory. */
char *hex_encode_alloc(const uint8_t *buf, size_t len);

/* Decodes exactly strlen(hex)/2 bytes into out (capacity cap). Rejects an odd
 * length, a non-hex character and more than cap bytes with AICERT_ERR_INVALID
 * or AICERT_ERR_TOO_BIG. Accepts upper and lower case. */
int hex_decode(const char *hex, uint8_t *out, size_t cap, size_t *out_len);

#endif
