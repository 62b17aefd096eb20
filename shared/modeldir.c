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
#include "events.h"
#include "hashset.h"
#include "hex.h"
#include "modeldir.h"

/* The walk only looks (fstatat) and remembers what it saw; hashset then
 * opens each file, checks that it is the very inode seen, and hashes the
 * files in parallel. */
struct modeldir_list {
	struct hashset_item *items; /* paths malloc'd, owned here */
	size_t n, cap;
};

int modeldir_hash_fd(int fd, const char *name, uint8_t sha256[32], uint64_t *size)
{
	return hashset_fd(fd, name, sha256, size);
}

static void modeldir_list_free(struct modeldir_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free((char *)l->items[i].path);
	free(l->items);
}

static int modeldir_add(struct modeldir_list *l, char **rel, const struct stat *st)
{
	struct hashset_item *it;

	if (l->n == MODELDIR_MAX_FILES)
		return err_set(AICERT_ERR_TOO_BIG, "more than %d files", MODELDIR_MAX_FILES);
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct hashset_item *p = realloc(l->items, cap * sizeof(*p));

		if (!p)
			return AICERT_ERR_NOMEM;
		l->items = p;
		l->cap = cap;
	}
	it = &l->items[l->n++];
	memset(it, 0, sizeof(*it));
	it->path = *rel;
	it->dev = (uint64_t)st->st_dev;
	it->ino = (uint64_t)st->st_ino;
	*rel = NULL;
	return 0;
}

static int modeldir_walk(int dfd, const char *prefix, int depth, struct modeldir_list *l);

/* Looks before it opens: a device or FIFO is never opened, and what is
 * opened (a directory here, a file by hashset) must be what was looked at. */
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
	if (S_ISREG(st.st_mode)) {
		r = modeldir_add(l, &rel, &st);
		goto out;
	}
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC | O_DIRECTORY);
	if (fd < 0 || fstat(fd, &fst) < 0 || fst.st_dev != st.st_dev || fst.st_ino != st.st_ino) {
		r = err_set(AICERT_ERR_IO, "%s: changed while being read", rel);
		goto out;
	}
	r = modeldir_walk(fd, rel, depth + 1, l);
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
	return strcmp(((const struct hashset_item *)a)->path,
		      ((const struct hashset_item *)b)->path);
}

/* Hands the hashed items over as modeldir_files, paths included. */
static int modeldir_files(struct modeldir_list *l, struct modeldir_file **files, size_t *n)
{
	struct modeldir_file *f = calloc(l->n ? l->n : 1, sizeof(*f));

	if (!f)
		return AICERT_ERR_NOMEM;
	for (size_t i = 0; i < l->n; i++) {
		f[i].path = (char *)l->items[i].path;
		f[i].size = l->items[i].size;
		memcpy(f[i].sha256, l->items[i].sha256, 32);
	}
	*files = f;
	*n = l->n;
	free(l->items);
	memset(l, 0, sizeof(*l));
	return 0;
}

int modeldir_scan_fd(int dirfd, struct modeldir_file **files, size_t *n)
{
	struct modeldir_list l = {0};
	struct hashset_opts ho;
	int r;

	r = modeldir_walk(dirfd, "", 0, &l);
	if (r < 0)
		goto out;
	/* alphasort follows the locale; the proof orders by bytes. */
	if (l.n > 1)
		qsort(l.items, l.n, sizeof(*l.items), modeldir_cmp);
	hashset_opts_init(&ho);
	ho.dirfd = dirfd;
	ho.flags = HASHSET_NOFOLLOW | HASHSET_CHECK_ID;
	r = hashset_run(l.items, l.n, &ho);
	if (r < 0)
		goto out;
	r = modeldir_files(&l, files, n);
out:
	modeldir_list_free(&l);
	return r;
}

int modeldir_scan(const char *dir, struct modeldir_file **files, size_t *n)
{
	int fd, r;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_set(errno == ENOENT ? AICERT_ERR_NOT_FOUND : AICERT_ERR_IO, "%s: %s",
			       dir, strerror(errno));
	r = modeldir_scan_fd(fd, files, n);
	close(fd);
	return r;
}

void modeldir_free(struct modeldir_file *files, size_t n)
{
	for (size_t i = 0; files && i < n; i++)
		free(files[i].path);
	free(files);
}

int modeldir_root(const struct modeldir_file *files, size_t n, uint8_t root[32], uint64_t *size)
{
	uint8_t(*digests)[32] = calloc(n + 1, 32);
	int r;

	if (!digests)
		return AICERT_ERR_NOMEM;
	*size = 0;
	for (size_t i = 0; i < n; i++) {
		memcpy(digests[i], files[i].sha256, 32);
		*size += files[i].size;
	}
	r = events_outputs_root((const uint8_t(*)[32])digests, n, root);
	free(digests);
	return r;
}

int modeldir_manifest_digest(const struct modeldir_file *files, size_t n, uint8_t out[32],
			     uint64_t *size)
{
	EVP_MD_CTX *ctx;
	char hex[65];
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		const char *path = files[i].path;
		size_t ok = strcspn(path, "\n\r\\");
		char shown[68];

		if (strcmp(path, "-") == 0)
			return err_set(AICERT_ERR_INVALID,
				       "a file named '-' has no line in a manifest (sha256sum "
				       "reads '-' as its standard input)");
		if (path[ok] == '\0')
			continue;
		/* what comes before the offending byte, printable and short */
		snprintf(shown, sizeof(shown), "%.*s", (int)(ok < 64 ? ok : 64), path);
		for (char *p = shown; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		return err_set(AICERT_ERR_INVALID,
			       "'%s…': a file name with a newline, carriage return or backslash "
			       "has no line in a manifest",
			       shown);
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return AICERT_ERR_NOMEM;
	}
	*size = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		hex_encode(files[i].sha256, 32, hex);
		if (EVP_DigestUpdate(ctx, hex, 64) != 1 || EVP_DigestUpdate(ctx, "  ", 2) != 1 ||
		    EVP_DigestUpdate(ctx, files[i].path, strlen(files[i].path)) != 1 ||
		    EVP_DigestUpdate(ctx, "\n", 1) != 1)
			r = err_set(AICERT_ERR_INTERNAL, "SHA-256 of a manifest failed");
		*size += files[i].size;
	}
	if (r == 0 && EVP_DigestFinal_ex(ctx, out, NULL) != 1)
		r = err_set(AICERT_ERR_INTERNAL, "SHA-256 of a manifest failed");
	EVP_MD_CTX_free(ctx);
	return r;
}
