/* Fetching job inputs over https, through libcurl (git trees: fetch_git.c).
 *
 * A download streams into a new file (O_EXCL, O_NOFOLLOW) and through SHA-256
 * as it comes, counted against a bound whatever the server announced.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "err.h"
#include "hex.h"
#include "fetch.h"
#include "fetch_internal.h"

#define FETCH_MAX_REDIRS      5L
#define FETCH_LOW_SPEED_BYTES 1024L /* below this many bytes per second ... */
#define FETCH_LOW_SPEED_SECS  60L   /* ... for this long, a transfer is abandoned */

const struct fetch_opts fetch_defaults;

void fetch_redact(const char *url, char *out, size_t cap)
{
	const char *scheme = strstr(url, "://");
	const char *host, *end, *at, *path_end;

	if (!scheme) {
		snprintf(out, cap, "%s", url);
		return;
	}
	host = scheme + 3;
	end = host + strcspn(host, "/?#");
	at = memrchr(host, '@', (size_t)(end - host));
	path_end = end + strcspn(end, "?#");
	snprintf(out, cap, "%.*s%s%.*s%.*s%s", (int)(host - url), url, at ? "***@" : "",
		 (int)(end - (at ? at + 1 : host)), at ? at + 1 : host, (int)(path_end - end), end,
		 *path_end ? "?***" : "");
}

/* ---- https ---- */

static pthread_once_t fetch_curl_once = PTHREAD_ONCE_INIT;
static CURLcode fetch_curl_rc;

static void fetch_curl_global_init(void)
{
	fetch_curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct fetch_dl {
	const struct fetch_opts *o;
	const char *shown; /* the redacted URL */
	const char *dest;
	CURL *curl;
	int fd;
	EVP_MD_CTX *md;
	uint64_t done, max, reported;
	long status; /* a status other than 200 that stopped the transfer */
	int err;     /* why the write callback stopped the transfer, or 0 */
	int errnum;  /* the errno of a failed write */
};

static size_t fetch_write(char *buf, size_t size, size_t n, void *arg)
{
	struct fetch_dl *d = arg;
	size_t len = size * n, off = 0;
	long status = 0;

	if (len == 0)
		return 0;
	/* Bodies of redirects never come here; any other status's does. */
	curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		d->status = status;
		return 0;
	}
	if (len > d->max - d->done) {
		d->err = AICERT_ERR_TOO_BIG;
		return 0;
	}
	if (EVP_DigestUpdate(d->md, buf, len) != 1) {
		d->err = AICERT_ERR_CRYPTO;
		return 0;
	}
	while (off < len) {
		ssize_t w = write(d->fd, buf + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			d->err = AICERT_ERR_IO;
			d->errnum = errno;
			return 0;
		}
		off += (size_t)w;
	}
	d->done += len;
	return len;
}

static int fetch_xferinfo(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			  curl_off_t ulnow)
{
	struct fetch_dl *d = arg;

	if (d->done != d->reported || d->done == 0) {
		d->reported = d->done;
		d->o->progress(d->o->ctx, d->done, dltotal > 0 ? (uint64_t)dltotal : 0);
	}
	return 0;
}

static int fetch_curl_setup(struct fetch_dl *d, const char *url, char *errbuf)
{
	const struct fetch_opts *o = d->o;
	CURL *c = d->curl;
	bool ok;

	/* No CURLOPT_ACCEPT_ENCODING: the bytes hashed are the bytes served. */
	ok = curl_easy_setopt(c, CURLOPT_URL, url) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https") == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_MAXREDIRS, FETCH_MAX_REDIRS) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_FAILONERROR, 0L) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, FETCH_LOW_SPEED_BYTES) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, FETCH_LOW_SPEED_SECS) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_USERAGENT, "aicert/" AICERT_VERSION) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_write) == CURLE_OK &&
	     curl_easy_setopt(c, CURLOPT_WRITEDATA, d) == CURLE_OK;
	if (ok && d->max <= (uint64_t)INT64_MAX)
		ok = curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)d->max) == CURLE_OK;
	if (ok && o->timeout_s)
		ok = curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)o->timeout_s) == CURLE_OK;
	/* ca_file alone: not also the default CA directory. */
	if (ok && o->ca_file)
		ok = curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file) == CURLE_OK &&
		     curl_easy_setopt(c, CURLOPT_CAPATH, NULL) == CURLE_OK;
	if (ok && o->progress)
		ok = curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L) == CURLE_OK &&
		     curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, fetch_xferinfo) == CURLE_OK &&
		     curl_easy_setopt(c, CURLOPT_XFERINFODATA, d) == CURLE_OK;
	if (!ok)
		return err_set(AICERT_ERR_INTERNAL, "%s: libcurl refused an option", d->shown);
	return 0;
}

/* The one place libcurl's codes become ours. */
static int fetch_curl_error(const struct fetch_dl *d, CURLcode rc, const char *errbuf)
{
	const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
	int code;

	if (d->status)
		return err_set(AICERT_ERR_UNAVAILABLE, "%s: HTTP %ld", d->shown, d->status);
	if (d->err == AICERT_ERR_TOO_BIG || rc == CURLE_FILESIZE_EXCEEDED)
		return err_set(AICERT_ERR_TOO_BIG, "%s: more than %llu bytes", d->shown,
			       (unsigned long long)d->max);
	if (d->err == AICERT_ERR_IO)
		return err_set(AICERT_ERR_IO, "%s: %s", d->dest, strerror(d->errnum));
	if (d->err)
		return err_set(d->err, "%s: SHA-256 failed", d->shown);
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		code = AICERT_ERR_TIMEOUT;
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
		code = AICERT_ERR_UNAUTHENTICATED;
		break;
	case CURLE_SSL_CACERT_BADFILE:
		code = AICERT_ERR_IO;
		break;
	case CURLE_URL_MALFORMAT:
		code = AICERT_ERR_INVALID;
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
		/* The URL itself was checked: a redirect led elsewhere. */
		return err_set(AICERT_ERR_UNAVAILABLE,
			       "%s: redirected to a URL other than https:// (%s)", d->shown,
			       detail);
	default:
		code = AICERT_ERR_UNAVAILABLE;
		break;
	}
	return err_set(code, "%s: %s", d->shown, detail);
}

/* Runs the transfer into d->fd; 0 when a 200 response's body is all there. */
static int fetch_transfer(struct fetch_dl *d, const char *url)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode rc;
	int r;

	pthread_once(&fetch_curl_once, fetch_curl_global_init);
	if (fetch_curl_rc != CURLE_OK)
		return err_set(AICERT_ERR_INTERNAL, "curl_global_init: %s",
			       curl_easy_strerror(fetch_curl_rc));
	d->curl = curl_easy_init();
	if (!d->curl)
		return err_set(AICERT_ERR_NOMEM, "curl_easy_init failed");
	r = fetch_curl_setup(d, url, errbuf);
	if (r < 0)
		goto out;
	rc = curl_easy_perform(d->curl);
	if (rc != CURLE_OK) {
		r = fetch_curl_error(d, rc, errbuf);
		goto out;
	}
	curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200)
		r = err_set(AICERT_ERR_UNAVAILABLE, "%s: HTTP %ld", d->shown, status);
out:
	curl_easy_cleanup(d->curl);
	d->curl = NULL;
	return r;
}

int fetch_https(const struct fetch_opts *o, const char *url, const uint8_t *expected,
		const char *dest, uint8_t sha256[32], uint64_t *size)
{
	struct fetch_dl d = {.fd = -1, .dest = dest};
	char shown[FETCH_SHOWN_MAX];
	char got_hex[65], want_hex[65];
	uint8_t md[32];
	bool created = false;
	int r;

	d.o = o ? o : &fetch_defaults;
	d.max = d.o->max_bytes ? d.o->max_bytes : FETCH_MAX_BYTES;
	d.shown = shown;
	fetch_redact(url, shown, sizeof(shown));
	if (strncasecmp(url, "https://", 8) != 0)
		return err_set(AICERT_ERR_INVALID, "%s: only https:// URLs are fetched", shown);
	d.md = EVP_MD_CTX_new();
	if (!d.md || EVP_DigestInit_ex(d.md, EVP_sha256(), NULL) != 1) {
		r = err_set(AICERT_ERR_CRYPTO, "SHA-256 initialisation failed");
		goto out;
	}
	d.fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (d.fd < 0) {
		r = err_set(errno == EEXIST ? AICERT_ERR_EXISTS : AICERT_ERR_IO, "%s: %s", dest,
			    strerror(errno));
		goto out;
	}
	created = true;
	r = fetch_transfer(&d, url);
	if (r < 0)
		goto out;
	r = fsync(d.fd);
	if (close(d.fd) < 0)
		r = -1;
	d.fd = -1;
	if (r < 0) {
		r = err_set(AICERT_ERR_IO, "%s: %s", dest, strerror(errno));
		goto out;
	}
	if (EVP_DigestFinal_ex(d.md, md, NULL) != 1) {
		r = err_set(AICERT_ERR_CRYPTO, "%s: SHA-256 failed", shown);
		goto out;
	}
	if (expected && memcmp(md, expected, sizeof(md)) != 0) {
		hex_encode(md, sizeof(md), got_hex);
		hex_encode(expected, sizeof(md), want_hex);
		r = err_set(AICERT_ERR_REJECTED, "%s: SHA-256 is %s, the job expects %s", shown,
			    got_hex, want_hex);
		goto out;
	}
	if (d.o->progress)
		d.o->progress(d.o->ctx, d.done, d.done);
	memcpy(sha256, md, sizeof(md));
	*size = d.done;
out:
	if (d.fd >= 0)
		close(d.fd);
	if (r < 0 && created)
		unlink(dest);
	EVP_MD_CTX_free(d.md);
	return r;
}
