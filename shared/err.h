/* Error codes shared by every part of aicert.
 *
 * A function that can fail returns 0 or one of the negative codes below. The
 * codes are fixed: they travel in RPC replies (mapped to gRPC status numbers)
 * and decide exit codes. Where a failure has detail worth telling (a file and
 * line, a PCR, a TPM response code), the failing function records it with
 * err_set() and the caller that handles the error prints err_msg().
 */
#ifndef AICERT_ERR_H
#define AICERT_ERR_H

#include <stdint.h>

enum {
	AICERT_OK = 0,
	AICERT_ERR_NOMEM = -1,        /* out of memory */
	AICERT_ERR_INVALID = -2,      /* malformed or out-of-range input */
	AICERT_ERR_IO = -3,           /* a file or socket operation failed */
	AICERT_ERR_TPM = -4,          /* the TPM returned an error */
	AICERT_ERR_TRANSPORT = -5,    /* the RPC transport failed */
	AICERT_ERR_TIMEOUT = -6,      /* a deadline passed */
	AICERT_ERR_PERMISSION = -7,   /* not allowed from this caller or socket */
	AICERT_ERR_NOT_FOUND = -8,    /* no such file, method, index or key */
	AICERT_ERR_TOO_BIG = -9,      /* a size or count over its bound */
	AICERT_ERR_UNSUPPORTED = -10, /* valid but not implemented */
	AICERT_ERR_CRYPTO = -11,      /* a cryptographic operation failed */
	AICERT_ERR_REJECTED = -12,    /* verification ran and said no */
	AICERT_ERR_STATE = -13,       /* inconsistent state, e.g. a log that no longer replays */
	AICERT_ERR_EXISTS = -14,      /* already exists */
	AICERT_ERR_UNAVAILABLE = -15, /* a peer or device is not reachable */
	AICERT_ERR_INTERNAL = -16,    /* a bug, or a peer's internal error */
	AICERT_ERR_CANCELLED = -17,   /* interrupted */
	AICERT_ERR_UNAUTHENTICATED = -18, /* the peer's identity could not be established */
};

#define AICERT_ERR_MIN AICERT_ERR_UNAUTHENTICATED

/* Short fixed text for a code, e.g. "invalid input". Never NULL. */
const char *err_str(int code);

/* Records a detail message for the calling thread and returns code, so that
 * `return err_set(AICERT_ERR_INVALID, "%s:%d: ...", ...)` reads naturally. */
int err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes the calling thread's message with "prefix: " and returns code. */
int err_wrap(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The calling thread's last message, or err_str() of code when none was set
 * since the last err_clear(). */
const char *err_msg(int code);

void err_clear(void);

/* gRPC status numbers, as they travel in aicert.v1.Response.status. */
enum rpc_status {
	RPC_OK = 0,
	RPC_CANCELLED = 1,
	RPC_UNKNOWN = 2,
	RPC_INVALID_ARGUMENT = 3,
	RPC_DEADLINE_EXCEEDED = 4,
	RPC_NOT_FOUND = 5,
	RPC_ALREADY_EXISTS = 6,
	RPC_PERMISSION_DENIED = 7,
	RPC_RESOURCE_EXHAUSTED = 8,
	RPC_FAILED_PRECONDITION = 9,
	RPC_ABORTED = 10,
	RPC_OUT_OF_RANGE = 11,
	RPC_UNIMPLEMENTED = 12,
	RPC_INTERNAL = 13,
	RPC_UNAVAILABLE = 14,
	RPC_DATA_LOSS = 15,
	RPC_UNAUTHENTICATED = 16,
};

/* "PERMISSION_DENIED" and so on; "UNKNOWN_STATUS" for numbers past 16. */
const char *err_status_name(uint32_t status);
uint32_t err_to_status(int code);
int err_from_status(uint32_t status);

#endif
