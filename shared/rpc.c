/* RPC framing and the strict message codec; the server and client halves
 * are in rpc_server.c and rpc_client.c. */
#include <stdbool.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "aicert.pb-c.h"
#include "err.h"
#include "fileio.h"
#include "rpc.h"
#include "rpc_internal.h"

/* True when m or any message inside it kept fields its schema lacks. */
static bool rpc_has_unknown_fields(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	if (m->n_unknown_fields > 0)
		return true;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *base = (const char *)m;

		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			ProtobufCMessage *const *v =
				*(ProtobufCMessage *const *const *)(base + f->offset);

			for (size_t j = 0; j < n; j++)
				if (rpc_has_unknown_fields(v[j]))
					return true;
		} else {
			const ProtobufCMessage *sub =
				*(const ProtobufCMessage *const *)(base + f->offset);

			if (sub && rpc_has_unknown_fields(sub))
				return true;
		}
	}
	return false;
}

void rpc_tune_malloc(void)
{
	/* Fixed thresholds (this also stops glibc's own adjusting of them):
	 * blocks up to 16 MiB come from the heap, and up to 64 MiB of free
	 * heap is kept rather than given back after every call. */
	mallopt(M_MMAP_THRESHOLD, 16 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	mallopt(M_TOP_PAD, 4 << 20);
}

int rpc_unpack_strict(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
		      ProtobufCMessage **ret)
{
	ProtobufCMessage *msg;
	uint8_t *again = NULL;
	size_t n;
	int r = 0;

	msg = protobuf_c_message_unpack(desc, NULL, len, buf);
	if (!msg)
		return err_set(AICERT_ERR_INVALID, "%s: not a valid protobuf encoding", desc->name);
	if (rpc_has_unknown_fields(msg)) {
		r = err_set(AICERT_ERR_INVALID, "%s: fields unknown to its schema", desc->name);
		goto out;
	}
	/* Only the canonical encoding is accepted: it must pack to the same
	 * bytes. This refuses duplicate fields, trailing data and over-long
	 * varints in one comparison. */
	n = protobuf_c_message_get_packed_size(msg);
	if (n != len) {
		r = err_set(AICERT_ERR_INVALID,
			    "%s: %zu bytes received, canonical encoding has %zu (unknown, "
			    "duplicate or trailing fields)",
			    desc->name, len, n);
		goto out;
	}
	again = malloc(n ? n : 1);
	if (!again) {
		r = AICERT_ERR_NOMEM;
		goto out;
	}
	protobuf_c_message_pack(msg, again);
	if (n > 0 && memcmp(again, buf, n) != 0) {
		r = err_set(AICERT_ERR_INVALID, "%s: not in canonical encoding", desc->name);
		goto out;
	}
	*ret = msg;
	msg = NULL;
out:
	free(again);
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);
	return r;
}

int rpc_pack(const ProtobufCMessage *msg, uint8_t **buf, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *p = malloc(n ? n : 1);

	if (!p)
		return AICERT_ERR_NOMEM;
	protobuf_c_message_pack(msg, p);
	*buf = p;
	*len = n;
	return 0;
}

/* Splits "aicert.v1.Agent/Quote" into the method descriptor of svc. */
const ProtobufCMethodDescriptor *rpc_method_lookup(const ProtobufCServiceDescriptor *svc,
						   const char *full, unsigned *index)
{
	size_t svc_len = strlen(svc->name);
	const ProtobufCMethodDescriptor *m;

	if (strncmp(full, svc->name, svc_len) != 0 || full[svc_len] != '/')
		return NULL;
	m = protobuf_c_service_descriptor_get_method_by_name(svc, full + svc_len + 1);
	if (!m)
		return NULL;
	*index = (unsigned)(m - svc->methods);
	return m;
}

int rpc_url_check(const char *url, bool local, const struct rpc_tls *tls)
{
	bool is_tls = strncmp(url, "tls+tcp://", 10) == 0;
	bool is_local = strncmp(url, "ipc://", 6) == 0 || strncmp(url, "inproc://", 9) == 0;

	if (local && !is_local)
		return err_set(AICERT_ERR_INVALID, "%s: a local socket must be ipc:// or inproc://",
			       url);
	if (!is_tls && !is_local && strncmp(url, "tcp://", 6) != 0)
		return err_set(AICERT_ERR_INVALID,
			       "%s: unsupported URL scheme (ipc://, tls+tcp:// or tcp://)", url);
	if (is_tls && (!tls || !tls->cert_file || !tls->key_file || !tls->ca_file))
		return err_set(AICERT_ERR_INVALID,
			       "%s: tls+tcp:// needs a certificate, a key and a CA", url);
	return 0;
}

int64_t rpc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int rpc_nng_err(int rv, const char *what, const char *url)
{
	int code;

	switch (rv) {
	case NNG_ENOMEM:
		return AICERT_ERR_NOMEM;
	case NNG_ETIMEDOUT:
		code = AICERT_ERR_TIMEOUT;
		break;
	case NNG_ECONNREFUSED:
	case NNG_ECONNRESET:
	case NNG_ECLOSED:
	case NNG_ECONNSHUT:
	case NNG_EADDRINUSE:
		code = AICERT_ERR_UNAVAILABLE;
		break;
	case NNG_EPEERAUTH:
	case NNG_ECRYPTO:
		code = AICERT_ERR_UNAUTHENTICATED;
		break;
	case NNG_EADDRINVAL:
	case NNG_EINVAL:
	case NNG_ENOTSUP:
		code = AICERT_ERR_INVALID;
		break;
	case NNG_EMSGSIZE:
		code = AICERT_ERR_TOO_BIG;
		break;
	default:
		code = AICERT_ERR_TRANSPORT;
		break;
	}
	return err_set(code, "%s %s: %s", what, url ? url : "", nng_strerror(rv));
}

/* Loads this side's certificate and key (PEM, separate files). */
static int rpc_tls_own_cert(nng_tls_config *cfg, const struct rpc_tls *tls)
{
	uint8_t *cert = NULL, *key = NULL;
	size_t cert_len, key_len = 0;
	int r, rv;

	r = fileio_read_all(tls->cert_file, RPC_TLS_PEM_MAX, &cert, &cert_len);
	if (r < 0)
		return err_wrap(r, "TLS certificate");
	r = fileio_read_all(tls->key_file, RPC_TLS_PEM_MAX, &key, &key_len);
	if (r < 0) {
		r = err_wrap(r, "TLS key");
		goto out;
	}
	rv = nng_tls_config_own_cert(cfg, (const char *)cert, (const char *)key, NULL);
	if (rv != 0)
		r = err_set(AICERT_ERR_INVALID, "TLS certificate %s with key %s: %s",
			    tls->cert_file, tls->key_file, nng_strerror(rv));
out:
	if (key)
		OPENSSL_cleanse(key, key_len);
	free(key);
	free(cert);
	return r;
}

int rpc_tls_config(const struct rpc_tls *tls, bool server, nng_tls_config **ret)
{
	nng_tls_config *cfg = NULL;
	int rv, r;

	rv = nng_tls_config_alloc(&cfg, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT);
	if (rv != 0)
		return rpc_nng_err(rv, "TLS configuration", NULL);
	rv = nng_tls_config_ca_file(cfg, tls->ca_file);
	if (rv != 0) {
		nng_tls_config_free(cfg);
		return err_set(AICERT_ERR_INVALID, "TLS CA file %s: %s", tls->ca_file,
			       nng_strerror(rv));
	}
	r = rpc_tls_own_cert(cfg, tls);
	if (r < 0) {
		nng_tls_config_free(cfg);
		return r;
	}
	/* Both directions require the peer's certificate: a client without one
	 * never reaches a handler. */
	rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
	if (rv != 0) {
		nng_tls_config_free(cfg);
		return rpc_nng_err(rv, "TLS auth mode", NULL);
	}
	*ret = cfg;
	return 0;
}
