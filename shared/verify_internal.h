/* The verifier's checks share one context; see aicert_verify.h. */
#ifndef AICERT_VERIFY_INTERNAL_H
#define AICERT_VERIFY_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>
#include <openssl/types.h>
#include <tss2/tss2_tpm2_types.h>

#include "aicert_verify.h"
#include "cel.h"
#include "events.h"
#include "joblog.h"
#include "statement.h"

struct policy;
struct proof;
struct tcglog;

/* A check returns 0 (passed), VERIFY_SKIP (does not apply) or a negative
 * code with the reason in err_msg(). */
#define VERIFY_SKIP 1

struct vctx {
	const struct aicert_verify_opts *opts;
	const struct policy *policy;
	struct policy *own_policy; /* when loaded here from opts->policy_path */
	struct proof *proof;
	time_t now;

	TPMT_PUBLIC ek_pub;
	TPMT_PUBLIC ak_pub;
	X509 *ek_cert;
	X509 *ak_cert;
	TPMS_ATTEST att;
	TPMT_SIGNATURE sig;

	/* The SHA-256 values the quote covers. */
	uint8_t quoted[24][32];
	uint32_t quoted_mask;

	struct tcglog *boot;
	uint32_t boot_touched;
	char platform[16];

	struct cel_log rt;
	struct joblog jl;           /* the runtime log read as jobs */
	json_t *expected_statement; /* built once from the log, see verify_logs.c */
	char *statement_text;
};

/* verify_tpm.c */
int verify_ek_certificate(struct vctx *c);
int verify_ek_public(struct vctx *c);
int verify_ak_certificate(struct vctx *c);
int verify_ak_binding(struct vctx *c);
int verify_quote_magic(struct vctx *c);
int verify_quote_type(struct vctx *c);
int verify_quote_signature(struct vctx *c);
int verify_quote_signer(struct vctx *c);
int verify_quote_nonce(struct vctx *c);
int verify_quote_pcrs(struct vctx *c);
int verify_pcrs_required(struct vctx *c);

/* verify_logs.c */
int verify_boot_log(struct vctx *c);
int verify_platform(struct vctx *c);
int verify_runtime_log(struct vctx *c);
int verify_runtime_events(struct vctx *c);
int verify_job_counters(struct vctx *c);
int verify_statement_inputs(struct vctx *c);
int verify_statement_outputs(struct vctx *c);
int verify_statement(struct vctx *c);
int verify_policy_inputs(struct vctx *c);
int verify_model_files(struct vctx *c);

#endif
