/* Standard base64 (RFC 4648, with padding), strict: the only accepted text
 * for a byte string is the one b64_encode() writes, so that a changed
 * character always changes the bytes or is refused. */
#ifndef AICERT_B64_H
#define AICERT_B64_H

#include <stddef.h>
#include <stdint.h>

/* A malloc'd NUL-terminated encoding of buf, or NULL when out of memory. */
char *b64_encode(const uint8_t *buf, size_t len);

/* Decodes text (len characters; no whitespace, padding required, canonical
 * final bits) into a malloc'd buffer of at most max bytes. */
int b64_decode(const char *text, size_t len, size_t max, uint8_t **out, size_t *out_len);

#endif
