#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "err.h"
#include "modeldir.h"

#define MODELDIR_CHUNK (1u << 20)

struct modeldir_list {
	struct modeldir_file *files;
	size_t n, cap;
};

int modeldir_hash_fd(int fd, const char *name, uint8_t sha256[32], uint64_t *size)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t *buf = malloc(MODELDIR_CHUNK);
	uint64_t total = 0;
	int r = 0;

	if (!ctx || !buf || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		r = AICERT_ERR_NOMEM;
		goto out;
	}
	for (;;) {
		ssize_t got = read(fd, buf, MODELDIR_CHUNK);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = err_set(AICERT_ERR_IO, "%s: %s", name, strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)got);
		total += (uint64_t)got;
	}
	EVP_DigestFinal_ex(ctx, sha256, NULL);
	*size = total;
out:
	free(buf);
	EVP_MD_CTX_free(ctx);
	return r;
}

static int modeldir_add(struct modeldir_list *l, const char *rel, int fd)
{
	struct modeldir_file *f;
	int r;

	if (l->n == MODELDIR_MAX_FILES)
		return err_set(AICERT_ERR_TOO_BIG, "more than %d files", MODELDIR_MAX_FILES);
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct modeldir_file *p = realloc(l->files, cap * sizeof(*p));

		if (!p)
			return AICERT_ERR_NOMEM;
		l->files = p;
		l->cap = cap;
	}
	f = &l->files[l->n];
	memset(f, 0, sizeof(*f));
	f->path = strdup(rel);
	if (!f->path)
		return AICERT_ERR_NOMEM;
	r = modeldir_hash_fd(fd, rel, f->sha256, &f->size);
	if (r < 0) {
		free(f->path);
		return r;
	}
	l->n++;
	return 0;
}

static int modeldir_walk(int dfd, const char *prefix, int depth, struct modeldir_list *l);

/* Looks before it opens: a device or FIFO is never opened, and what is
 * opened must be what was looked at. */
static int modeldir_entry(int dfd, const char *name, const char *prefix, int depth,
			  struct modeldir_list *l)
{
	char *rel = NULL;
	struct stat st, fst;
	int fd = -1, r;

	if (asprintf(&rel, "%s%s%s", prefix, *prefix ? "/" : "", name) < 0)
		return AICERT_ERR_NOMEM;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = err_set(AICERT_ERR_IO, "%s: %s", rel, strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		r = err_set(AICERT_ERR_INVALID, "%s: %s", rel,
			    S_ISLNK(st.st_mode) ? "a symbolic link (not allowed)"
						: "not a regular file or directory");
		goto out;
	}
	fd = openat(dfd, name,
		    O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC |
			    (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
	if (fd < 0 || fstat(fd, &fst) < 0 || fst.st_dev != st.st_dev || fst.st_ino != st.st_ino) {
		r = err_set(AICERT_ERR_IO, "%s: changed while being read", rel);
		goto out;
	}
	r = S_ISDIR(st.st_mode) ? modeldir_walk(fd, rel, depth + 1, l) : modeldir_add(l, rel, fd);
out:
	if (fd >= 0)
		close(fd);
	free(rel);
	return r;
}

static int modeldir_walk(int dfd, const char *prefix, int depth, struct modeldir_list *l)
{
	struct dirent **names = NULL;
	int n, r = 0, dup;
	DIR *d;

	if (depth > MODELDIR_MAX_DEPTH)
		return err_set(AICERT_ERR_TOO_BIG, "%s: nested deeper than %d", prefix,
			       MODELDIR_MAX_DEPTH);
	dup = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	d = dup >= 0 ? fdopendir(dup) : NULL;
	if (!d) {
		if (dup >= 0)
			close(dup);
		return err_set(AICERT_ERR_IO, "%s: %s", *prefix ? prefix : ".", strerror(errno));
	}
	/* Walk in byte order so that the list comes out sorted by path. */
	n = scandirat(dirfd(d), ".", &names, NULL, alphasort);
	if (n < 0)
		r = err_set(AICERT_ERR_IO, "%s: %s", *prefix ? prefix : ".", strerror(errno));
	for (int i = 0; i < n; i++) {
		if (r == 0 && strcmp(names[i]->d_name, ".") != 0 &&
		    strcmp(names[i]->d_name, "..") != 0)
			r = modeldir_entry(dirfd(d), names[i]->d_name, prefix, depth, l);
		free(names[i]);
	}
	free(names);
	closedir(d);
	return r;
}

static int modeldir_cmp(const void *a, const void *b)
{
	return strcmp(((const struct modeldir_file *)a)->path,
		      ((const struct modeldir_file *)b)->path);
}

int modeldir_scan(const char *dir, struct modeldir_file **files, size_t *n)
{
	struct modeldir_list l = {0};
	int fd, r;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_set(errno == ENOENT ? AICERT_ERR_NOT_FOUND : AICERT_ERR_IO, "%s: %s",
			       dir, strerror(errno));
	r = modeldir_walk(fd, "", 0, &l);
	close(fd);
	if (r < 0) {
		modeldir_free(l.files, l.n);
		return r;
	}
	/* alphasort follows the locale; the proof orders by bytes. */
	if (l.n > 1)
		qsort(l.files, l.n, sizeof(*l.files), modeldir_cmp);
	*files = l.files;
	*n = l.n;
	return 0;
}

void modeldir_free(struct modeldir_file *files, size_t n)
{
	for (size_t i = 0; files && i < n; i++)
		free(files[i].path);
	free(files);
}
