/* Deriving forgeries from the good proof: the forgery table, and helpers to
 * edit a proof as a struct, as text, as a runtime log or as certificates.
 *
 * A forgery case makes a `struct forged`: the proof bytes, and optionally a
 * policy, a --model directory or a verifier nonce of its own. The suite
 * verifies it and requires AICERT_ERR_REJECTED by exactly `expect`.
 */
#ifndef AICERT_FORGERY_FORGE_H
#define AICERT_FORGERY_FORGE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>
#include <openssl/types.h>

#include "cel.h"
#include "fx.h"

struct forged {
	struct fx_bytes proof;
	char policy[PATH_MAX];    /* "": the base policy */
	char model_dir[PATH_MAX]; /* "": no --model */
	uint8_t nonce[64];        /* the verifier's own nonce, when nonce_len > 0 */
	size_t nonce_len;
};

struct forgery {
	const char *name;
	/* The check that must reject it, as docs/proof-format.md names it; NULL
	 * for a control, which must verify. */
	const char *expect;
	void (*make)(struct fx *f, struct forged *o);
};

#define FORGERY(n, e, m)                                                                           \
	{                                                                                          \
		.name = (n), .expect = (e), .make = (m)                                            \
	}

struct forgery_table {
	const char *group;
	const struct forgery *cases;
	size_t n;
};

/* The tables, one per group (cases_*.c). */
extern const struct forgery_table cases_ek, cases_ak, cases_quote, cases_nonce, cases_pcrs,
	cases_runtime, cases_job, cases_format, cases_statement, cases_model, cases_platform;

/* cases_logs.c: the good proof with a real OVMF boot log, optionally
 * claiming a measured platform. */
void cases_logs_boot_ovmf(struct fx *f, struct forged *o, bool claim_measured);

/* ---- proofs as structs ----------------------------------------------------------------------- */

/* A parsed copy of the good job proof (or of b); the caller edits it and
 * hands it to forge_emit(), which serialises and frees it. */
struct proof *forge_good(const struct fx *f);
struct proof *forge_parse(const struct fx_bytes *b);
void forge_emit(struct forged *o, struct proof *p);

/* ---- proofs as text -------------------------------------------------------------------------- */

/* The good proof's text, NUL-terminated, malloc'd. */
char *forge_good_text(const struct fx *f);
/* o's proof becomes text with the first occurrence of `from` replaced by
 * `to` (which must be there); text is freed. */
void forge_text_replace(struct forged *o, char *text, const char *from, const char *to);
/* o's proof becomes len bytes of text (copied). */
void forge_text(struct forged *o, const char *text, size_t len);
/* A JSON string member "key": "value" of the text, value returned malloc'd. */
char *forge_text_member(const char *text, const char *key);

/* ---- runtime logs ---------------------------------------------------------------------------- */

void forge_rt_get(const struct proof *p, struct cel_log *log);
/* Encodes log into p's runtime log (record numbers renumbered) and clears
 * log. */
void forge_rt_put(struct proof *p, struct cel_log *log);
/* The index of the nth (0-based) record of event_type in log. */
size_t forge_rt_find(const struct cel_log *log, uint32_t event_type, size_t nth);
/* Moves records: removes index i, inserts a copy of rec at index i. */
void forge_rt_remove(struct cel_log *log, size_t i);
void forge_rt_insert(struct cel_log *log, size_t i, const struct cel_record *rec);

/* ---- statements ------------------------------------------------------------------------------ */

/* The JSON value at a dotted path ("predicate.runDetails.builder"), index
 * steps as numbers ("subject.0.digest"); fails the test when absent. */
json_t *forge_json_at(json_t *root, const char *path);

/* ---- certificates and keys ------------------------------------------------------------------- */

struct forge_cert_opts {
	const char *cn;
	long not_before; /* seconds from now */
	long not_after;
	const char *eku; /* dotted OID, or NULL for no extended key usage */
	bool ca;         /* a CA certificate (basicConstraints CA:TRUE) */
};

EVP_PKEY *forge_key(void); /* a new P-256 key */
/* A certificate for key, issued by issuer/issuer_key (self-signed when
 * issuer is NULL). */
X509 *forge_cert(const struct forge_cert_opts *o, EVP_PKEY *key, X509 *issuer,
		 EVP_PKEY *issuer_key);
void forge_der(X509 *x, struct proof_blob *out);
void forge_pem_file(X509 *x, const char *path);
/* The key of a TPMT_PUBLIC blob as an EVP_PKEY. */
EVP_PKEY *forge_tpm_key(const struct proof_blob *pub);

/* An AK certificate from f's CA for the AK ak_public, naming the EK
 * certificate ek_cert (DER), issued at `at`. */
void forge_ak_cert(const struct fx *f, const struct proof_blob *ak_public,
		   const struct proof_blob *ek_cert, time_t at, uint32_t days,
		   struct proof_blob *out);

/* Sets p's EK certificate list (certs[0..n)) and AK certificate. */
void forge_identity(struct proof *p, const struct proof_blob *ek_certs, size_t n,
		    const struct proof_blob *ak_cert);

/* A policy variant in f's scratch directory: base policy's CA, the given
 * roots and intermediates, allow_development and extra YAML. Writes its
 * path into o->policy. */
void forge_policy(const struct fx *f, struct forged *o, const char *name,
		  const char *const *ek_roots, const char *const *ek_intermediates, bool allow_dev,
		  const char *extra);

#endif
