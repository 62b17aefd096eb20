/* Job inputs fetched by the job executor itself: a file over https (libcurl),
 * hashed as it is written, and a git tree at a pinned commit (the git
 * command, run without a shell in an environment of our own).
 *
 * Both write only to a destination that did not exist before and leave
 * nothing behind on error. Messages (err_msg()) name the source, with any
 * user:password@ and ?query of a URL left out (they may hold credentials).
 * Errors: AICERT_ERR_INVALID (a bad argument), AICERT_ERR_EXISTS (dest
 * exists), AICERT_ERR_UNAVAILABLE (the network, an HTTP status, git),
 * AICERT_ERR_UNAUTHENTICATED (the server's certificate did not verify),
 * AICERT_ERR_TIMEOUT, AICERT_ERR_TOO_BIG, AICERT_ERR_NOT_FOUND (no such
 * commit or subdirectory), AICERT_ERR_REJECTED (a digest or a tree that is
 * not accepted), AICERT_ERR_IO (a local file).
 */
#ifndef AICERT_AGENT_FETCH_H
#define AICERT_AGENT_FETCH_H

#include <stdint.h>

#define FETCH_MAX_BYTES (64ull << 30) /* default bound of one download */

struct fetch_opts {
	/* PEM CA bundle, the only one trusted for https (curl CAINFO, git
	 * GIT_SSL_CAINFO); NULL: the system's. */
	const char *ca_file;
	uint64_t max_bytes; /* 0: FETCH_MAX_BYTES; more is AICERT_ERR_TOO_BIG (https only) */
	/* The whole fetch; 0: no limit other than an abort below 1 KiB/s for
	 * 60 s. Past it: AICERT_ERR_TIMEOUT. */
	uint32_t timeout_s;
	/* Optional progress of fetch_https, called from the fetching thread:
	 * bytes so far, total (0 if unknown). */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
};

/* Downloads url (https:// only; redirects only to https://, at most 5) into
 * the new file dest (mode 0644; an existing dest, even a symbolic link, is
 * AICERT_ERR_EXISTS), hashing the bytes as they are written, and fsyncs it.
 * An HTTP status other than 200 is an error naming the status. If expected is
 * non-NULL and differs from the SHA-256 of what came: AICERT_ERR_REJECTED.
 * On any error a dest this call created is removed. Writes sha256 and *size
 * only on success. o may be NULL (defaults). */
int fetch_https(const struct fetch_opts *o, const char *url, const uint8_t *expected,
		const char *dest, uint8_t sha256[32], uint64_t *size);

/* Clones repo (an https:// URL or a local directory path) into a temporary
 * directory beside dest, checks out commit (40 or 64 lowercase hex) detached,
 * verifies that HEAD is commit, and moves the tree's subdir ("." for all) to
 * dest (which must not exist), without .git. The files are the commit's bytes
 * (no end-of-line, ident or filter conversion from .gitattributes). Regular
 * files and directories only: a symbolic link or submodule (gitlink) within
 * subdir is AICERT_ERR_REJECTED naming its path. o may be NULL. */
int fetch_git(const struct fetch_opts *o, const char *repo, const char *commit, const char *subdir,
	      const char *dest);

/* "git+<repo>@<commit>", plus "#subdirectory=<subdir>" when subdir is not
 * ".": the uri an input event records. malloc'd; NULL when out of memory. */
char *fetch_git_uri(const char *repo, const char *commit, const char *subdir);

#endif
