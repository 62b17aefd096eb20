#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "agentc.h"
#include "err.h"

int agentc_opt(struct agentc_opts *o, int opt, const char *arg)
{
	char *end;
	unsigned long v;

	switch (opt - AGENTC_OPT_BASE) {
	case 0:
		o->url = arg;
		return 1;
	case 1:
		o->tls_cert = arg;
		return 1;
	case 2:
		o->tls_key = arg;
		return 1;
	case 3:
		o->tls_ca = arg;
		return 1;
	case 4:
		errno = 0;
		v = strtoul(arg, &end, 10);
		if (errno || *end || v == 0 || v > RPC_MAX_DEADLINE_MS)
			return err_set(AICERT_ERR_INVALID,
				       "--timeout: expected 1 to %u ms, not '%s'",
				       RPC_MAX_DEADLINE_MS, arg);
		o->timeout_ms = (uint32_t)v;
		return 1;
	default:
		return 0;
	}
}

int agentc_dial(const struct agentc_opts *o, struct rpc_client **ret)
{
	struct rpc_tls tls = {o->tls_cert, o->tls_key, o->tls_ca};
	struct rpc_client_opts opts = {.tls = &tls, .timeout_ms = o->timeout_ms};

	if (!o->url)
		return err_set(AICERT_ERR_INVALID, "--agent URL is required");
	if (strncmp(o->url, "tls+tcp://", 10) == 0 && (!o->tls_cert || !o->tls_key || !o->tls_ca))
		return err_set(AICERT_ERR_INVALID,
			       "%s: tls+tcp:// needs --tls-cert, --tls-key and --tls-ca", o->url);
	return rpc_client_dial(o->url, &aicert__v1__agent__descriptor, &opts, ret);
}

/* Runs a generated stub and hands back its reply. */
#define AGENTC_CALL(c, stub, type, req, ret)                                                       \
	do {                                                                                       \
		struct rpc_reply rep_ = RPC_REPLY_INIT;                                            \
		stub(rpc_client_service(c), (req), (type##_Closure)rpc_reply_capture, &rep_);      \
		if (!rep_.msg)                                                                     \
			return rep_.err ? rep_.err : AICERT_ERR_INTERNAL;                          \
		*(ret) = (type *)rep_.msg;                                                         \
		return 0;                                                                          \
	} while (0)

int agentc_health(struct rpc_client *c, Aicert__V1__HealthReply **ret)
{
	Aicert__V1__HealthRequest req = AICERT__V1__HEALTH_REQUEST__INIT;

	AGENTC_CALL(c, aicert__v1__agent__health, Aicert__V1__HealthReply, &req, ret);
}

int agentc_identity(struct rpc_client *c, Aicert__V1__IdentityReply **ret)
{
	Aicert__V1__IdentityRequest req = AICERT__V1__IDENTITY_REQUEST__INIT;

	AGENTC_CALL(c, aicert__v1__agent__identity, Aicert__V1__IdentityReply, &req, ret);
}

int agentc_read_pcrs(struct rpc_client *c, const Aicert__V1__ReadPcrsRequest *req,
		     Aicert__V1__ReadPcrsReply **ret)
{
	AGENTC_CALL(c, aicert__v1__agent__read_pcrs, Aicert__V1__ReadPcrsReply, req, ret);
}

int agentc_quote(struct rpc_client *c, const Aicert__V1__QuoteRequest *req,
		 Aicert__V1__QuoteReply **ret)
{
	AGENTC_CALL(c, aicert__v1__agent__quote, Aicert__V1__QuoteReply, req, ret);
}

int agentc_event_log(struct rpc_client *c, Aicert__V1__EventLogReply **ret)
{
	Aicert__V1__EventLogRequest req = AICERT__V1__EVENT_LOG_REQUEST__INIT;

	AGENTC_CALL(c, aicert__v1__agent__event_log, Aicert__V1__EventLogReply, &req, ret);
}

void agentc_bank(uint32_t hash_alg, uint32_t mask, Aicert__V1__PcrBank *bank, uint32_t *list)
{
	bank->hash_alg = hash_alg;
	bank->n_pcrs = 0;
	for (unsigned i = 0; i < 24; i++)
		if (mask >> i & 1)
			list[bank->n_pcrs++] = i;
	bank->pcrs = list;
}

int agentc_parse_pcrs(const char *s, uint32_t *mask)
{
	uint32_t m = 0;
	const char *p = s;

	while (*p) {
		char *end;
		unsigned long lo, hi;

		errno = 0;
		lo = strtoul(p, &end, 10);
		hi = lo;
		if (end != p && *end == '-') {
			p = end + 1;
			hi = strtoul(p, &end, 10);
		}
		if (errno || end == p || lo > hi || hi > 23 || (*end && *end != ','))
			return err_set(AICERT_ERR_INVALID,
				       "--pcrs: expected PCR numbers 0-23 like 0,8,14 or 0-7, "
				       "not '%s'",
				       s);
		for (unsigned long i = lo; i <= hi; i++)
			m |= 1u << i;
		p = *end ? end + 1 : end;
	}
	if (!m)
		return err_set(AICERT_ERR_INVALID, "--pcrs: no PCR given");
	*mask = m;
	return 0;
}

int agentc_activate(void *ctx, const uint8_t *blob, size_t blob_len, const uint8_t *enc,
		    size_t enc_len, uint8_t **out, size_t *out_len)
{
	Aicert__V1__ActivateCredentialRequest req = AICERT__V1__ACTIVATE_CREDENTIAL_REQUEST__INIT;
	Aicert__V1__ActivateCredentialReply *rep;
	struct rpc_reply reply = RPC_REPLY_INIT;
	uint8_t *copy;

	req.credential_blob.data = (uint8_t *)blob;
	req.credential_blob.len = blob_len;
	req.encrypted_secret.data = (uint8_t *)enc;
	req.encrypted_secret.len = enc_len;
	aicert__v1__agent__activate_credential(
		rpc_client_service(ctx), &req,
		(Aicert__V1__ActivateCredentialReply_Closure)rpc_reply_capture, &reply);
	if (!reply.msg)
		return reply.err ? reply.err : AICERT_ERR_INTERNAL;
	rep = (Aicert__V1__ActivateCredentialReply *)reply.msg;
	copy = malloc(rep->secret.len ? rep->secret.len : 1);
	if (copy) {
		memcpy(copy, rep->secret.data, rep->secret.len);
		*out = copy;
		*out_len = rep->secret.len;
	}
	OPENSSL_cleanse(rep->secret.data, rep->secret.len);
	protobuf_c_message_free_unpacked(reply.msg, NULL);
	return copy ? 0 : AICERT_ERR_NOMEM;
}
