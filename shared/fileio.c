#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "fileio.h"

int fileio_read_all(const char *path, size_t max, uint8_t **buf, size_t *len)
{
	uint8_t *data = NULL;
	struct stat st;
	size_t have = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(errno == ENOENT ? AICERT_ERR_NOT_FOUND : AICERT_ERR_IO, "%s: %s",
			       path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		r = err_set(AICERT_ERR_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		r = err_set(AICERT_ERR_INVALID, "%s: is a directory", path);
		goto out;
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
		r = err_set(AICERT_ERR_TOO_BIG, "%s: %lld bytes, at most %zu allowed", path,
			    (long long)st.st_size, max);
		goto out;
	}
	data = malloc(max + 1 < 65536 ? max + 1 : 65536);
	if (!data) {
		r = AICERT_ERR_NOMEM;
		goto out;
	}
	/* Read in chunks: the size from fstat is only a hint (pipes, sysfs). */
	for (size_t cap = max + 1 < 65536 ? max + 1 : 65536;;) {
		ssize_t n;

		if (have == cap) {
			size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			uint8_t *p;

			if (ncap == cap) {
				r = err_set(AICERT_ERR_TOO_BIG, "%s: more than %zu bytes", path,
					    max);
				goto out;
			}
			p = realloc(data, ncap);
			if (!p) {
				r = AICERT_ERR_NOMEM;
				goto out;
			}
			data = p;
			cap = ncap;
		}
		n = read(fd, data + have, cap - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = err_set(AICERT_ERR_IO, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	if (have > max) {
		r = err_set(AICERT_ERR_TOO_BIG, "%s: more than %zu bytes", path, max);
		goto out;
	}
	/* The loop reads only when have < cap, so data[have] is in bounds. */
	data[have] = '\0';
	*buf = data;
	*len = have;
	data = NULL;
	r = 0;
out:
	free(data);
	close(fd);
	return r;
}

int fileio_write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fileio_fsync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd, r = 0;

	if (!copy)
		return AICERT_ERR_NOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		r = err_set(AICERT_ERR_IO, "fsync of the directory of %s: %s", path,
			    strerror(errno));
	if (fd >= 0)
		close(fd);
	free(copy);
	return r;
}

int fileio_write_atomic(const char *path, const void *buf, size_t len, mode_t mode)
{
	char *tmp = NULL;
	int fd = -1, r;

	if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
		return AICERT_ERR_NOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = err_set(AICERT_ERR_IO, "%s: cannot create a temporary file: %s", path,
			    strerror(errno));
		free(tmp);
		return r;
	}
	r = fileio_write_full(fd, buf, len);
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		r = err_set(AICERT_ERR_IO, "%s: %s", path, strerror(-r));
		unlink(tmp);
		free(tmp);
		return r;
	}
	free(tmp);
	return fileio_fsync_dir(path);
}

int fileio_mkdir(const char *dir, mode_t mode)
{
	struct stat st;

	if (mkdir(dir, mode) == 0)
		return 0;
	if (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	return err_set(AICERT_ERR_IO, "%s: cannot create directory: %s", dir, strerror(errno));
}

int fileio_check_relpath(const char *what, const char *p, size_t max)
{
	size_t len = strlen(p);

	if (len == 0 || len > max || p[0] == '/' || p[len - 1] == '/')
		return err_set(AICERT_ERR_INVALID,
			       "%s '%.64s': not a relative file path of at most %zu "
			       "bytes",
			       what, p, max);
	for (const char *c = p; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return err_set(AICERT_ERR_INVALID, "%s: a control character", what);
	for (const char *c = p; *c;) {
		const char *e = strchr(c, '/');
		size_t n = e ? (size_t)(e - c) : strlen(c);

		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return err_set(
				AICERT_ERR_INVALID,
				"%s '%s': an empty, '.' or '..' component (it must stay inside "
				"its directory)",
				what, p);
		c += n + (e ? 1 : 0);
	}
	return 0;
}
