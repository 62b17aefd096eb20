/* Error codes and messages of the tiny-finetune example. The example depends
 * on libc and libm only, so it has its own small error vocabulary instead of
 * aicert's shared err.h: a function that can fail returns 0 or one of the
 * negative codes below and, on failure, writes one line of context (file,
 * line, field, tensor name, what was expected) into a struct tferr. */
#ifndef TF_TFERR_H
#define TF_TFERR_H

#define TFERR_MSG_MAX 512

enum {
	TFERR_IO = -1,     /* a file could not be opened, read or written */
	TFERR_FORMAT = -2, /* malformed input: safetensors, JSON header, CSV */
	TFERR_SHAPE = -3,  /* well-formed input that does not fit: shapes, labels */
	TFERR_NOMEM = -4,  /* out of memory */
	TFERR_LIMIT = -5,  /* input larger than the example's bounds */
	TFERR_USAGE = -6,  /* a bad argument */
};

struct tferr {
	char msg[TFERR_MSG_MAX];
};

/* Formats the message into e (if e is not NULL) and returns code. */
int tferr_set(struct tferr *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Puts "prefix: " before the message already in e and returns code. */
int tferr_wrap(struct tferr *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A short name for a code: "I/O error", "malformed input", ... */
const char *tferr_str(int code);

#endif
