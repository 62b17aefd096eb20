/* Bounded reads and atomic writes of whole files. */
#ifndef AICERT_FILEIO_H
#define AICERT_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads the whole file into a malloc'd buffer with a NUL after the last byte
 * (not counted in *len). A file larger than max bytes is refused with
 * AICERT_ERR_TOO_BIG before it is read. */
int fileio_read_all(const char *path, size_t max, uint8_t **buf, size_t *len);

/* Writes buf to path atomically: a temporary file in the same directory,
 * fsync, rename over path, fsync of the directory. Either the old or the new
 * content is at path afterwards, never a mix, and a failure leaves no
 * temporary file behind. */
int fileio_write_atomic(const char *path, const void *buf, size_t len, mode_t mode);

/* write() until every byte is written: 0, or -errno (errno is kept). */
int fileio_write_full(int fd, const void *buf, size_t len);

/* fsync of the directory that holds path (what makes a rename durable). */
int fileio_fsync_dir(const char *path);

/* A relative file path that stays where it is put: 1 to max bytes, not
 * absolute, no empty, "." or ".." component, no trailing '/', no control
 * character. AICERT_ERR_INVALID naming what (a field) otherwise. */
int fileio_check_relpath(const char *what, const char *p, size_t max);

/* Creates dir (one level) with mode unless it exists as a directory. */
int fileio_mkdir(const char *dir, mode_t mode);

#endif
