/* Error messages of the tiny-finetune example. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tferr.h"

int tferr_set(struct tferr *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

int tferr_wrap(struct tferr *e, int code, const char *fmt, ...)
{
	char buf[2 * TFERR_MSG_MAX + 2];
	size_t n;
	va_list ap;

	if (!e)
		return code;
	va_start(ap, fmt);
	vsnprintf(buf, TFERR_MSG_MAX, fmt, ap);
	va_end(ap);
	n = strlen(buf);
	memcpy(buf + n, ": ", 2);
	memcpy(buf + n + 2, e->msg, strnlen(e->msg, TFERR_MSG_MAX - 1) + 1);
	n = strnlen(buf, TFERR_MSG_MAX - 1);
	memcpy(e->msg, buf, n);
	e->msg[n] = 0;
	return code;
}

const char *tferr_str(int code)
{
	switch (code) {
	case 0:
		return "success";
	case TFERR_IO:
		return "I/O error";
	case TFERR_FORMAT:
		return "malformed input";
	case TFERR_SHAPE:
		return "shape mismatch";
	case TFERR_NOMEM:
		return "out of memory";
	case TFERR_LIMIT:
		return "input too large";
	case TFERR_USAGE:
		return "bad argument";
	default:
		return "unknown error";
	}
}
