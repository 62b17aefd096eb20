#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

#define ERR_MSG_MAX 1024

static _Thread_local char err_buf[ERR_MSG_MAX];
static _Thread_local int err_has_msg;

static const char *const err_texts[] = {
	[0] = "success",
	[-AICERT_ERR_NOMEM] = "out of memory",
	[-AICERT_ERR_INVALID] = "invalid input",
	[-AICERT_ERR_IO] = "input/output error",
	[-AICERT_ERR_TPM] = "TPM error",
	[-AICERT_ERR_TRANSPORT] = "transport error",
	[-AICERT_ERR_TIMEOUT] = "deadline exceeded",
	[-AICERT_ERR_PERMISSION] = "permission denied",
	[-AICERT_ERR_NOT_FOUND] = "not found",
	[-AICERT_ERR_TOO_BIG] = "size limit exceeded",
	[-AICERT_ERR_UNSUPPORTED] = "not supported",
	[-AICERT_ERR_CRYPTO] = "cryptographic failure",
	[-AICERT_ERR_REJECTED] = "rejected",
	[-AICERT_ERR_STATE] = "inconsistent state",
	[-AICERT_ERR_EXISTS] = "already exists",
	[-AICERT_ERR_UNAVAILABLE] = "unavailable",
	[-AICERT_ERR_INTERNAL] = "internal error",
	[-AICERT_ERR_CANCELLED] = "cancelled",
	[-AICERT_ERR_UNAUTHENTICATED] = "unauthenticated",
};

const char *err_str(int code)
{
	if (code > 0 || code < AICERT_ERR_MIN)
		return "unknown error";
	return err_texts[-code];
}

int err_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err_buf, sizeof(err_buf), fmt, ap);
	va_end(ap);
	err_has_msg = 1;
	return code;
}

int err_wrap(int code, const char *fmt, ...)
{
	char prefix[ERR_MSG_MAX];
	char old[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	snprintf(old, sizeof(old), "%s", err_has_msg ? err_buf : err_str(code));
	{
		char joined[2 * ERR_MSG_MAX + 2];
		size_t n;

		snprintf(joined, sizeof(joined), "%s: %s", prefix, old);
		n = strnlen(joined, ERR_MSG_MAX - 1);
		memcpy(err_buf, joined, n);
		err_buf[n] = '\0';
	}
	err_has_msg = 1;
	return code;
}

const char *err_msg(int code)
{
	return err_has_msg ? err_buf : err_str(code);
}

void err_clear(void)
{
	err_has_msg = 0;
	err_buf[0] = '\0';
}

static const char *const status_names[] = {
	"OK",
	"CANCELLED",
	"UNKNOWN",
	"INVALID_ARGUMENT",
	"DEADLINE_EXCEEDED",
	"NOT_FOUND",
	"ALREADY_EXISTS",
	"PERMISSION_DENIED",
	"RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION",
	"ABORTED",
	"OUT_OF_RANGE",
	"UNIMPLEMENTED",
	"INTERNAL",
	"UNAVAILABLE",
	"DATA_LOSS",
	"UNAUTHENTICATED",
};

const char *err_status_name(uint32_t status)
{
	if (status >= sizeof(status_names) / sizeof(status_names[0]))
		return "UNKNOWN_STATUS";
	return status_names[status];
}

static const struct {
	int code;
	uint32_t status;
} err_status_map[] = {
	{AICERT_OK, RPC_OK},
	{AICERT_ERR_NOMEM, RPC_RESOURCE_EXHAUSTED},
	{AICERT_ERR_INVALID, RPC_INVALID_ARGUMENT},
	{AICERT_ERR_IO, RPC_INTERNAL},
	{AICERT_ERR_TPM, RPC_INTERNAL},
	{AICERT_ERR_TRANSPORT, RPC_UNAVAILABLE},
	{AICERT_ERR_TIMEOUT, RPC_DEADLINE_EXCEEDED},
	{AICERT_ERR_PERMISSION, RPC_PERMISSION_DENIED},
	{AICERT_ERR_NOT_FOUND, RPC_NOT_FOUND},
	{AICERT_ERR_TOO_BIG, RPC_RESOURCE_EXHAUSTED},
	{AICERT_ERR_UNSUPPORTED, RPC_UNIMPLEMENTED},
	{AICERT_ERR_CRYPTO, RPC_INTERNAL},
	{AICERT_ERR_REJECTED, RPC_FAILED_PRECONDITION},
	{AICERT_ERR_STATE, RPC_FAILED_PRECONDITION},
	{AICERT_ERR_EXISTS, RPC_ALREADY_EXISTS},
	{AICERT_ERR_UNAVAILABLE, RPC_UNAVAILABLE},
	{AICERT_ERR_INTERNAL, RPC_INTERNAL},
	{AICERT_ERR_CANCELLED, RPC_CANCELLED},
	{AICERT_ERR_UNAUTHENTICATED, RPC_UNAUTHENTICATED},
};

uint32_t err_to_status(int code)
{
	for (size_t i = 0; i < sizeof(err_status_map) / sizeof(err_status_map[0]); i++)
		if (err_status_map[i].code == code)
			return err_status_map[i].status;
	return RPC_UNKNOWN;
}

int err_from_status(uint32_t status)
{
	switch (status) {
	case RPC_OK:
		return AICERT_OK;
	case RPC_CANCELLED:
		return AICERT_ERR_CANCELLED;
	case RPC_INVALID_ARGUMENT:
	case RPC_OUT_OF_RANGE:
		return AICERT_ERR_INVALID;
	case RPC_DEADLINE_EXCEEDED:
		return AICERT_ERR_TIMEOUT;
	case RPC_NOT_FOUND:
		return AICERT_ERR_NOT_FOUND;
	case RPC_ALREADY_EXISTS:
		return AICERT_ERR_EXISTS;
	case RPC_PERMISSION_DENIED:
		return AICERT_ERR_PERMISSION;
	case RPC_RESOURCE_EXHAUSTED:
		return AICERT_ERR_TOO_BIG;
	case RPC_FAILED_PRECONDITION:
	case RPC_ABORTED:
		return AICERT_ERR_STATE;
	case RPC_UNIMPLEMENTED:
		return AICERT_ERR_UNSUPPORTED;
	case RPC_UNAVAILABLE:
		return AICERT_ERR_UNAVAILABLE;
	case RPC_UNAUTHENTICATED:
		return AICERT_ERR_UNAUTHENTICATED;
	default:
		return AICERT_ERR_INTERNAL;
	}
}
