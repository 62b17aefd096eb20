/* Whole-file I/O: see fileutil.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf, open_memstream */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileutil.h"
#include "tferr.h"

int fileutil_read(const char *path, size_t max, uint8_t **buf, size_t *len, struct tferr *e)
{
	uint8_t *b = NULL;
	struct stat st;
	size_t n = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return tferr_set(e, TFERR_IO, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		r = tferr_set(e, TFERR_IO, "%s: cannot stat: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = tferr_set(e, TFERR_IO, "%s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		r = tferr_set(e, TFERR_LIMIT, "%s: %lld bytes, more than the limit of %zu", path,
			      (long long)st.st_size, max);
		goto out;
	}
	b = malloc((size_t)st.st_size + 1);
	if (!b) {
		r = tferr_set(e, TFERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	while (n < (size_t)st.st_size) {
		ssize_t k = read(fd, b + n, (size_t)st.st_size - n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = tferr_set(e, TFERR_IO, "%s: read: %s", path, strerror(errno));
			goto out;
		}
		if (k == 0)
			break; /* shrank while reading: take what is there */
		n += (size_t)k;
	}
	b[n] = 0;
	*buf = b;
	*len = n;
	b = NULL;
	r = 0;
out:
	free(b);
	close(fd);
	return r;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t k = write(fd, p, len);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

int fileutil_write(const char *path, const void *buf, size_t len, struct tferr *e)
{
	char *tmp = NULL;
	int fd = -1, r;

	if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0)
		return tferr_set(e, TFERR_NOMEM, "%s: out of memory", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = tferr_set(e, TFERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
		goto out;
	}
	if (write_all(fd, buf, len) < 0 || fsync(fd) < 0) {
		r = tferr_set(e, TFERR_IO, "%s: write: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = tferr_set(e, TFERR_IO, "%s: close: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		r = tferr_set(e, TFERR_IO, "%s: rename to %s: %s", tmp, path, strerror(errno));
		goto out;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (r < 0)
		unlink(tmp);
	free(tmp);
	return r;
}

int fileutil_mkdir(const char *dir, struct tferr *e)
{
	struct stat st;

	if (mkdir(dir, 0755) == 0)
		return 0;
	if (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	return tferr_set(e, TFERR_IO, "%s: cannot create directory: %s", dir, strerror(errno));
}
