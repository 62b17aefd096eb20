/* The files of a model directory: every regular file under a directory, by
 * relative path in byte order, with its size and SHA-256, read in streaming
 * fashion with constant memory. */
#ifndef AICERT_MODELDIR_H
#define AICERT_MODELDIR_H

#include <stddef.h>
#include <stdint.h>

#define MODELDIR_MAX_FILES 100000
#define MODELDIR_MAX_DEPTH 32

struct modeldir_file {
	char *path; /* relative, '/'-separated */
	uint64_t size;
	uint8_t sha256[32];
};

/* Scans dir. Symbolic links, devices and other special files are errors
 * (a model is regular files), as are more than MODELDIR_MAX_FILES files. */
int modeldir_scan(const char *dir, struct modeldir_file **files, size_t *n);
/* The same under an open directory (which is not closed): whoever opened it
 * decided how its path may resolve. */
int modeldir_scan_fd(int dirfd, struct modeldir_file **files, size_t *n);
void modeldir_free(struct modeldir_file *files, size_t n);

/* The root over files[0..n) (in path order) as events_outputs_root()
 * defines it, and their total size. */
int modeldir_root(const struct modeldir_file *files, size_t n, uint8_t root[32], uint64_t *size);

/* The digest of an input directory, which binds its files' names: the
 * SHA-256 of its manifest, one line "HEX  PATH\n" per file in path order,
 * exactly what `sha256sum` prints for the files (LC_ALL=C sort of the
 * paths). A name with a newline, carriage return or backslash, which
 * sha256sum would escape, is refused, and so is a file named "-" at the
 * top, which sha256sum reads as its standard input. Also the files' total
 * size. */
int modeldir_manifest_digest(const struct modeldir_file *files, size_t n, uint8_t out[32],
			     uint64_t *size);

/* SHA-256 and size of one open file, streamed. */
int modeldir_hash_fd(int fd, const char *name, uint8_t sha256[32], uint64_t *size);

#endif
