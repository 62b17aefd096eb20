/* A minimal, strict JSON reader: see jsonmini.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonmini.h"
#include "tferr.h"

void jsonmini_init(struct jsonmini *j, const uint8_t *buf, size_t len)
{
	j->buf = buf;
	j->len = len;
	j->pos = 0;
}

static void skip_ws(struct jsonmini *j)
{
	while (j->pos < j->len) {
		uint8_t c = j->buf[j->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		j->pos++;
	}
}

int jsonmini_peek(struct jsonmini *j)
{
	skip_ws(j);
	return j->pos < j->len ? j->buf[j->pos] : -1;
}

/* A printable description of the character at the cursor, for messages. */
static const char *found(const struct jsonmini *j, char tmp[16])
{
	uint8_t c;

	if (j->pos >= j->len)
		return "the end";
	c = j->buf[j->pos];
	if (c >= 0x20 && c < 0x7f)
		snprintf(tmp, 16, "'%c'", c);
	else
		snprintf(tmp, 16, "byte 0x%02x", c);
	return tmp;
}

int jsonmini_expect(struct jsonmini *j, char c, const char *what, struct tferr *e)
{
	char tmp[16];

	skip_ws(j);
	if (j->pos < j->len && j->buf[j->pos] == (uint8_t)c) {
		j->pos++;
		return 0;
	}
	return tferr_set(e, TFERR_FORMAT, "byte %zu: expected %s, found %s", j->pos, what,
			 found(j, tmp));
}

static int hex4(const uint8_t *p, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		uint8_t c = p[i];
		uint32_t d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		*v = *v << 4 | d;
	}
	return 0;
}

static size_t put_utf8(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0: no
 * overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
	uint32_t cp, min;
	size_t len;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2, cp = p[0] & 0x1f, min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3, cp = p[0] & 0x0f, min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4, cp = p[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Decodes the escape after a backslash at j->pos into out; *n its length. */
static int unescape(struct jsonmini *j, char *out, size_t *n, struct tferr *e)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	size_t at = j->pos - 1;
	const char *k;
	uint32_t cp, lo;

	if (j->pos >= j->len)
		return tferr_set(e, TFERR_FORMAT, "byte %zu: unterminated string", at);
	k = j->buf[j->pos] ? strchr(from, j->buf[j->pos]) : NULL;
	if (k) {
		out[0] = to[k - from];
		*n = 1;
		j->pos++;
		return 0;
	}
	if (j->buf[j->pos] != 'u' || j->len - j->pos < 5 || hex4(j->buf + j->pos + 1, &cp) < 0)
		return tferr_set(e, TFERR_FORMAT, "byte %zu: invalid escape in string", at);
	j->pos += 5;
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (j->len - j->pos < 6 || j->buf[j->pos] != '\\' || j->buf[j->pos + 1] != 'u' ||
		    hex4(j->buf + j->pos + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
			return tferr_set(e, TFERR_FORMAT, "byte %zu: unpaired surrogate escape",
					 at);
		j->pos += 6;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	} else if (cp >= 0xdc00 && cp <= 0xdfff) {
		return tferr_set(e, TFERR_FORMAT, "byte %zu: unpaired surrogate escape", at);
	} else if (cp == 0) {
		return tferr_set(e, TFERR_FORMAT, "byte %zu: \\u0000 in a string", at);
	}
	*n = put_utf8(cp, out);
	return 0;
}

/* Bytes from the cursor to the closing quote (or the end of the buffer). */
static size_t encoded_len(const struct jsonmini *j)
{
	size_t i = j->pos;

	while (i < j->len && j->buf[i] != '"')
		i += j->buf[i] == '\\' ? 2 : 1;
	return (i < j->len ? i : j->len) - j->pos;
}

int jsonmini_string(struct jsonmini *j, char **ret, struct tferr *e)
{
	char *s = NULL;
	size_t start, n = 0;
	int r;

	r = jsonmini_expect(j, '"', "a string", e);
	if (r < 0)
		return r;
	start = j->pos - 1;
	/* The decoded string is never longer than its encoding. */
	s = malloc(encoded_len(j) + 1);
	if (!s)
		return tferr_set(e, TFERR_NOMEM, "out of memory");
	for (;;) {
		uint8_t c;
		size_t k = 0;

		if (j->pos >= j->len) {
			r = tferr_set(e, TFERR_FORMAT, "byte %zu: unterminated string", start);
			goto out;
		}
		c = j->buf[j->pos];
		if (c == '"')
			break;
		if (c < 0x20) {
			r = tferr_set(e, TFERR_FORMAT, "byte %zu: control character in a string",
				      j->pos);
			goto out;
		}
		if (c == '\\') {
			j->pos++;
			r = unescape(j, s + n, &k, e);
			if (r < 0)
				goto out;
			n += k;
			continue;
		}
		k = utf8_len(j->buf + j->pos, j->len - j->pos);
		if (k == 0) {
			r = tferr_set(e, TFERR_FORMAT, "byte %zu: invalid UTF-8 in a string",
				      j->pos);
			goto out;
		}
		memcpy(s + n, j->buf + j->pos, k);
		n += k;
		j->pos += k;
	}
	j->pos++;
	s[n] = 0;
	*ret = s;
	s = NULL;
	r = 0;
out:
	free(s);
	return r;
}

int jsonmini_uint(struct jsonmini *j, uint64_t max, uint64_t *ret, struct tferr *e)
{
	char tmp[16];
	size_t start;
	uint64_t v = 0;

	skip_ws(j);
	start = j->pos;
	if (j->pos >= j->len || j->buf[j->pos] < '0' || j->buf[j->pos] > '9')
		return tferr_set(e, TFERR_FORMAT,
				 "byte %zu: expected a non-negative integer, found %s", j->pos,
				 found(j, tmp));
	if (j->buf[j->pos] == '0' && j->pos + 1 < j->len && j->buf[j->pos + 1] >= '0' &&
	    j->buf[j->pos + 1] <= '9')
		return tferr_set(e, TFERR_FORMAT, "byte %zu: integer with a leading zero", start);
	while (j->pos < j->len && j->buf[j->pos] >= '0' && j->buf[j->pos] <= '9') {
		unsigned d = j->buf[j->pos] - '0';

		if (d > max || v > (max - d) / 10)
			return tferr_set(e, TFERR_FORMAT, "byte %zu: integer larger than %llu",
					 start, (unsigned long long)max);
		v = v * 10 + d;
		j->pos++;
	}
	if (j->pos < j->len &&
	    (j->buf[j->pos] == '.' || j->buf[j->pos] == 'e' || j->buf[j->pos] == 'E'))
		return tferr_set(e, TFERR_FORMAT, "byte %zu: expected an integer, found a fraction",
				 start);
	*ret = v;
	return 0;
}

int jsonmini_end(struct jsonmini *j, struct tferr *e)
{
	char tmp[16];

	skip_ws(j);
	if (j->pos == j->len)
		return 0;
	return tferr_set(e, TFERR_FORMAT, "byte %zu: expected the end, found %s", j->pos,
			 found(j, tmp));
}
