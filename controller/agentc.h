/* The controller's side of the Agent service: dial options shared by every
 * subcommand that talks to an agent, and typed calls over the generated
 * stubs. */
#ifndef AICERT_AGENTC_H
#define AICERT_AGENTC_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#include "aicert.pb-c.h"
#include "rpc.h"

struct agentc_opts {
	const char *url;
	const char *tls_cert;
	const char *tls_key;
	const char *tls_ca;
	uint32_t timeout_ms;
};

/* getopt_long entries for --agent, --tls-cert, --tls-key, --tls-ca and
 * --timeout, with values from AGENTC_OPT_BASE on; end a table with
 * AGENTC_LONG_OPTIONS, then {0}. */
#define AGENTC_OPT_BASE 1000
#define AGENTC_LONG_OPTIONS                                                                        \
	{"agent", required_argument, NULL, AGENTC_OPT_BASE + 0},                                   \
		{"tls-cert", required_argument, NULL, AGENTC_OPT_BASE + 1},                        \
		{"tls-key", required_argument, NULL, AGENTC_OPT_BASE + 2},                         \
		{"tls-ca", required_argument, NULL, AGENTC_OPT_BASE + 3},                          \
	{                                                                                          \
		"timeout", required_argument, NULL, AGENTC_OPT_BASE + 4                            \
	}

#define AGENTC_USAGE                                                                               \
	"  --agent URL          the agent: ipc://PATH or tls+tcp://HOST:PORT\n"                    \
	"  --tls-cert FILE      client certificate for tls+tcp:// (PEM)\n"                         \
	"  --tls-key FILE       its private key (PEM)\n"                                           \
	"  --tls-ca FILE        CA the agent's certificate must chain to\n"                        \
	"  --timeout MS         per-call deadline (default 30000)\n"

/* Applies one option; returns 1 if opt was one of ours, 0 if not, or an
 * error for a bad value. */
int agentc_opt(struct agentc_opts *o, int opt, const char *arg);

int agentc_dial(const struct agentc_opts *o, struct rpc_client **ret);

/* Typed calls: *ret is the caller's, freed with protobuf_c_message_free_unpacked. */
int agentc_health(struct rpc_client *c, Aicert__V1__HealthReply **ret);
int agentc_identity(struct rpc_client *c, Aicert__V1__IdentityReply **ret);
int agentc_read_pcrs(struct rpc_client *c, const Aicert__V1__ReadPcrsRequest *req,
		     Aicert__V1__ReadPcrsReply **ret);
int agentc_quote(struct rpc_client *c, const Aicert__V1__QuoteRequest *req,
		 Aicert__V1__QuoteReply **ret);
int agentc_event_log(struct rpc_client *c, Aicert__V1__EventLogReply **ret);
/* ActivateCredential, as an enroll_activate_fn whose ctx is the rpc_client:
 * *out (malloc'd) is the secret. */
int agentc_activate(void *ctx, const uint8_t *blob, size_t blob_len, const uint8_t *enc,
		    size_t enc_len, uint8_t **out, size_t *out_len);

/* Fills bank with the PCRs of mask (bit i: PCR i) in hash_alg's bank;
 * list (24 entries) holds the numbers bank points to. */
void agentc_bank(uint32_t hash_alg, uint32_t mask, Aicert__V1__PcrBank *bank, uint32_t *list);

/* Parses "0,8,14" or "0-7,14" into a PCR bit mask. */
int agentc_parse_pcrs(const char *s, uint32_t *mask);

#endif
