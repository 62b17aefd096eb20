/* The agent integration test's fixture and helpers: aicert-agent as a process
 * against a real swtpm (tests/harness), reached through the RPC client and
 * the generated stubs.
 *
 * fx_setup() starts a TPM and an agent on it with a client of the local
 * socket; fx_setup_tls() also has the agent listen with mutual TLS and gives
 * a controller's client of that listener; fx_setup_tpm_only() starts the TPM
 * alone, for tests that start the agent themselves. fx_teardown() stops
 * them, and fails when the agent does not exit cleanly on SIGTERM.
 *
 * The helpers fail the running cmocka test instead of returning errors,
 * except where a result is documented.
 *
 * The groups, one file each (methods.c, tls.c, lifecycle.c, config.c), are
 * run by main.c.
 */
#ifndef AICERT_TESTS_AGENT_FIXTURE_H
#define AICERT_TESTS_AGENT_FIXTURE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentproc.h"
#include "aicert.pb-c.h"
#include "harness.h"
#include "rpc.h"
#include "tpmkey.h"

struct CMUnitTest;
struct cel_log;

#define SHA1_ALG     0x0004u
#define SHA256_ALG   0x000bu
#define EV_EVENT_TAG 0x00000006u
#define PCRS_0_8_14  ((1u << 0) | (1u << 8) | (1u << 14))
#define ALL_PCRS     0xffffffu

/* The files tests/harness/tls.sh makes. */
enum {
	AGENT_CRT,
	AGENT_KEY,
	AGENT_CA,
	CONTROLLER_CRT,
	CONTROLLER_KEY,
	CONTROLLER_CA,
	ROGUE_CRT,
	ROGUE_KEY,
	N_TLS
};

struct fx {
	struct harness_swtpm tpm;
	struct agentproc agent;
	struct rpc_client *c; /* the local socket */
	bool tls;             /* the agent also listens on tls_url */
	char tls_file[N_TLS][PATH_MAX];
	char tls_url[64];
	struct rpc_tls ctl;     /* a controller's client credentials */
	struct rpc_client *net; /* tls_url with ctl */
};

/* A group of tests, run by main.c when selected by name. */
struct agent_group {
	const char *name;
	const struct CMUnitTest *tests;
	size_t n;
	int (*setup)(void **state);
	int (*teardown)(void **state);
};

extern const struct agent_group methods_group;   /* methods.c */
extern const struct agent_group tls_group;       /* tls.c */
extern const struct agent_group lifecycle_group; /* lifecycle.c */
extern const struct agent_group config_group;    /* config.c */

#define T(name)         cmocka_unit_test(name)
#define TF(name, setup) cmocka_unit_test_setup_teardown(name, setup, fx_teardown)

#define assert_ok(expr)                                                                            \
	do {                                                                                       \
		int r_ = (expr);                                                                   \
		if (r_ < 0)                                                                        \
			fail_msg("%s: %s", #expr, err_msg(r_));                                    \
	} while (0)

/* ---- fixtures ------------------------------------------------------------ */

int fx_setup(void **state);
int fx_setup_tls(void **state);
int fx_setup_tpm_only(void **state);
int fx_teardown(void **state);

/* ---- processes, files, clients ------------------------------------------- */

double now_ms(void);
void random_bytes(void *buf, size_t len);
/* A random request id, never 0. */
uint64_t random_id(void);
/* A path in the TPM's temporary directory. */
void scratch(struct fx *f, const char *name, char out[PATH_MAX]);
struct rpc_client *dial(const char *url, const struct rpc_tls *tls, uint32_t timeout_ms);

/* ---- calls --------------------------------------------------------------- */

/* The replies; the caller frees them with their *__free_unpacked(). */
Aicert__V1__HealthReply *health(struct rpc_client *c);
uint64_t runtime_events(struct rpc_client *c);
Aicert__V1__IdentityReply *identity(struct rpc_client *c);
Aicert__V1__EventLogReply *event_log(struct rpc_client *c);

/* A ReadPcrs or Quote selection: up to two banks from bit masks. */
struct sel {
	Aicert__V1__PcrBank banks[2];
	Aicert__V1__PcrBank *ptrs[2];
	uint32_t pcrs[2][24];
	size_t n;
};

void sel_add(struct sel *s, uint32_t alg, uint32_t mask);
/* The SHA-256 values of the PCRs in mask, by PCR index. */
void read_sha256(struct rpc_client *c, uint32_t mask, uint8_t out[24][32]);
void read_pcr(struct rpc_client *c, uint32_t pcr, uint8_t out[32]);
/* Quote with the client's result. */
int quote_call(struct rpc_client *c, const uint8_t *nonce, size_t nonce_len, uint32_t sha256_mask,
	       uint32_t sha1_mask, Aicert__V1__QuoteReply **ret);
/* Checks a QuoteReply as a verifier does, with shared/attest.h: the
 * signature by the AK it names (which must be ak_public when given), magic,
 * type, the nonce, and the PCR values against the signed selection and
 * digest. 0, or -1 with the reason in why. Thread-safe. */
int verify_quote(const Aicert__V1__QuoteReply *q, const uint8_t *nonce, size_t nonce_len,
		 const ProtobufCBinaryData *ak_public, char *why, size_t cap);
void assert_quote_valid(const Aicert__V1__QuoteReply *q, const uint8_t *nonce, size_t nonce_len,
			const ProtobufCBinaryData *ak_public);
/* Quotes PCRs 0, 8 and 14 over a fresh nonce and verifies the quote. */
void quote_and_verify(struct rpc_client *c, const ProtobufCBinaryData *ak_public);

/* What an Extend got: the server's status and message (the caller frees
 * it), and on RPC_OK the record number and the PCR's new value. */
struct ext {
	uint32_t status;
	char *message;
	uint64_t recnum;
	uint8_t value[32];
};

/* Extend through rpc_client_call_raw with the given request id (0: a random
 * one); digest NULL means the SHA-256 of content. Returns the transport's
 * result; e->status holds the server's status. */
int extend_call(struct rpc_client *c, uint64_t id, uint32_t pcr, uint32_t type, const void *content,
		size_t len, const uint8_t *digest, struct ext *e);
/* The status of an Extend that reached the server; the message is printed
 * when it is not expected. out (may be NULL) gets the result, without the
 * message. */
void assert_extend_status(struct rpc_client *c, uint64_t id, uint32_t pcr, uint32_t type,
			  const char *content, const uint8_t *digest, uint32_t expected,
			  struct ext *out);
/* A successful Extend of content into pcr: record number and new value. */
uint64_t extend_ok(struct rpc_client *c, uint32_t pcr, const char *content, uint8_t value[32]);
/* SHA-256(old || SHA-256(content)): what an extend of content makes of old. */
void extended(const uint8_t old[32], const char *content, uint8_t out[32]);
/* The runtime log of an EventLog reply, decoded strictly; cel_clear() it. */
void decode_runtime(const Aicert__V1__EventLogReply *ev, struct cel_log *log);
/* The runtime log replays exactly to the PCRs ReadPcrs reports (8 and 14
 * always, and every PCR the log touches); returns its length. */
size_t assert_log_replays(struct rpc_client *c);
void ak_name(struct rpc_client *c, uint8_t name[TPMKEY_NAME_MAX], size_t *len);

/* ---- malformed and oversized messages (agent_methods and agent_tls) ------ */

/* Garbage, unknown methods, payloads of another type and a 2 MiB request
 * are refused with a status; a 6 MiB message (sent over url, with tls when
 * not NULL) makes the agent drop the connection while it serves c; and
 * nothing was extended. */
void check_malformed_and_oversized(struct rpc_client *c, const char *url,
				   const struct rpc_tls *tls);

#endif
