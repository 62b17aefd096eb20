/* A minimal, strict JSON reader for the small, fixed-shape documents this
 * example reads (the safetensors header): a cursor over a buffer that the
 * caller drives by the expected grammar. Strings are checked for valid UTF-8
 * and have their escapes decoded; numbers are non-negative integers only
 * (that is all a safetensors header holds); whitespace is JSON's four
 * characters. Errors name the byte offset in the buffer. */
#ifndef TF_JSONMINI_H
#define TF_JSONMINI_H

#include <stddef.h>
#include <stdint.h>

struct tferr;

struct jsonmini {
	const uint8_t *buf;
	size_t len;
	size_t pos;
};

void jsonmini_init(struct jsonmini *j, const uint8_t *buf, size_t len);

/* The next character after whitespace (which is skipped), or -1 at the end. */
int jsonmini_peek(struct jsonmini *j);

/* Skips whitespace and consumes c, or fails naming what was expected. */
int jsonmini_expect(struct jsonmini *j, char c, const char *what, struct tferr *e);

/* Skips whitespace and reads a string into a malloc'd, NUL-terminated
 * buffer. "\u0000" is refused: names and values here are C strings. */
int jsonmini_string(struct jsonmini *j, char **ret, struct tferr *e);

/* Skips whitespace and reads a non-negative integer no larger than max:
 * digits only, no sign, fraction, exponent or leading zero. */
int jsonmini_uint(struct jsonmini *j, uint64_t max, uint64_t *ret, struct tferr *e);

/* Succeeds if nothing but whitespace remains. */
int jsonmini_end(struct jsonmini *j, struct tferr *e);

#endif
