/* What fetch.c (https) and fetch_git.c (git) share. */
#ifndef AICERT_AGENT_FETCH_INTERNAL_H
#define AICERT_AGENT_FETCH_INTERNAL_H

#include <stddef.h>

#include "fetch.h"

#define FETCH_SHOWN_MAX 512 /* of a URL in a message */

/* All defaults, for a NULL fetch_opts. */
extern const struct fetch_opts fetch_defaults;

/* url for messages: without user:password@ and without ?query or #fragment,
 * which may hold credentials (a presigned URL's signature). */
void fetch_redact(const char *url, char *out, size_t cap);

#endif
