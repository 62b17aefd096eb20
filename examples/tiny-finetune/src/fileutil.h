/* Whole-file reads with a size bound, and atomic whole-file writes. */
#ifndef TF_FILEUTIL_H
#define TF_FILEUTIL_H

#include <stddef.h>
#include <stdint.h>

struct tferr;

/* Reads path into a malloc'd buffer with a NUL after the last byte (not
 * counted in *len). A file larger than max bytes is refused (TFERR_LIMIT)
 * before it is read. Writes *buf and *len only on success. */
int fileutil_read(const char *path, size_t max, uint8_t **buf, size_t *len, struct tferr *e);

/* Writes buf to path through a temporary file in the same directory and a
 * rename, so that path holds either the old or the whole new content. */
int fileutil_write(const char *path, const void *buf, size_t len, struct tferr *e);

/* Creates the directory dir (one level) unless it exists. */
int fileutil_mkdir(const char *dir, struct tferr *e);

#endif
