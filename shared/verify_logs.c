/* The verifier's checks of the event logs, the job's events, the Statement
 * and the files a user points at. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "err.h"
#include "events.h"
#include "hex.h"
#include "joblog.h"
#include "modeldir.h"
#include "policy.h"
#include "proof.h"
#include "statement.h"
#include "tcglog.h"
#include "verify_internal.h"

/* PCRs a boot log accounts for: firmware 0-7, the EFI stub's 9 and 11.
 * PCR 8 holds the job's outputs and PCR 10 is IMA's. */
#define BOOT_PCRS     (0x2ffu | (1u << 11))
#define FIRMWARE_PCRS 0xffu
/* PCRs the runtime log accounts for. */
#define RUNTIME_PCRS ((1u << 8) | (1u << 14) | (1u << 15))

/* ---- Boot log and platform ---------------------------------------------- */

int verify_boot_log(struct vctx *c)
{
	uint8_t pcrs[24][64];
	size_t len;
	int r;

	if (c->proof->boot_log.len == 0)
		return err_set(VERIFY_SKIP, "no boot event log: the boot was not measured");
	r = tcglog_parse(c->proof->boot_log.data, c->proof->boot_log.len, &c->boot);
	if (r == 0)
		r = tcglog_replay(c->boot, TPM2_ALG_SHA256, 0, pcrs, &len, &c->boot_touched);
	if (r < 0)
		return err_wrap(AICERT_ERR_REJECTED, "boot event log");
	if (c->boot_touched & RUNTIME_PCRS)
		return err_set(AICERT_ERR_REJECTED,
			       "the boot event log extends PCR 8, 14 or 15, which hold the job's "
			       "measurements");
	for (unsigned i = 0; i < 24; i++) {
		char want[65], got[65];

		if (!(BOOT_PCRS >> i & 1) || !(c->quoted_mask >> i & 1))
			continue;
		if (memcmp(pcrs[i], c->quoted[i], 32) == 0)
			continue;
		hex_encode(c->quoted[i], 32, want);
		hex_encode(pcrs[i], 32, got);
		return err_set(AICERT_ERR_REJECTED,
			       "boot event log does not replay: PCR %u is %s in the quote, the log "
			       "gives %s",
			       i, want, got);
	}
	return err_set(0, "%zu events replay to the quoted boot PCRs", tcglog_count(c->boot));
}

/* A measured boot: every boot PCR the firmware's log accounts for (0-7,
 * and 9 and 11 where the kernel stub measured the initrd, the command line
 * or UKI sections) must be quoted and equal the policy's reference value. A
 * boot log proves what was measured, not that it was what you expect. */
/* With the policy's boot_events: the boot PCRs' events, in order, must be
 * exactly the reference boot's; the first difference is named. */
static int verify_boot_events(struct vctx *c)
{
	const struct policy *pol = c->policy;
	size_t k = 0;
	int r;

	for (size_t i = 0; i < tcglog_count(c->boot); i++) {
		const struct tcglog_event *ev = tcglog_event(c->boot, i);
		const struct policy_boot_event *want = &pol->boot_events[k];
		char type[40], wh[65], gh[65];
		const uint8_t *d;
		size_t dl;

		if (ev->type == TCGLOG_EV_NO_ACTION || !(BOOT_PCRS >> ev->pcr & 1))
			continue;
		if ((r = tcglog_event_digest(c->boot, i, TCGLOG_ALG_SHA256, 0, &d, &dl)) < 0)
			return err_wrap(AICERT_ERR_REJECTED, "boot event %u (%s)", ev->num,
					err_str(r));
		policy_boot_type(ev->type, type);
		hex_encode(d, 32, gh);
		if (k == pol->n_boot_events)
			return err_set(
				AICERT_ERR_REJECTED,
				"boot event %u (PCR %u, %s, sha256 %s) is not in the policy's "
				"reference boot, which ends after %zu events",
				ev->num, ev->pcr, type, gh, pol->n_boot_events);
		hex_encode(want->sha256, 32, wh);
		if (want->pcr != ev->pcr || strcmp(want->type, type) != 0 ||
		    memcmp(want->sha256, d, 32) != 0)
			return err_set(AICERT_ERR_REJECTED,
				       "boot event %u: PCR %u, %s, sha256 %s; the reference boot's "
				       "event %zu there is PCR %u, %s, sha256 %s",
				       ev->num, ev->pcr, type, gh, k + 1, want->pcr, want->type,
				       wh);
		k++;
	}
	if (k != pol->n_boot_events)
		return err_set(AICERT_ERR_REJECTED,
			       "the boot log ends after %zu events of the boot PCRs; the reference "
			       "boot has %zu (next: PCR %u, %s)",
			       k, pol->n_boot_events, pol->boot_events[k].pcr,
			       pol->boot_events[k].type);
	return 0;
}

static int verify_boot_reference(struct vctx *c)
{
	const struct policy *pol = c->policy;
	uint32_t needed = FIRMWARE_PCRS | (c->boot_touched & BOOT_PCRS);
	int r;

	if (pol->n_boot_events && (r = verify_boot_events(c)) < 0)
		return r;

	for (unsigned i = 0; i < 24; i++) {
		char want[65], got[65];

		if (!(needed >> i & 1))
			continue;
		if (!(pol->boot_pcr_mask >> i & 1))
			return err_set(
				AICERT_ERR_REJECTED,
				"a measured platform, but the policy has no reference value for "
				"boot PCR %u (boot_pcrs): nothing says which boot chain is "
				"trusted",
				i);
		if (!(c->quoted_mask >> i & 1))
			return err_set(AICERT_ERR_REJECTED,
				       "boot PCR %u has a reference value but is not quoted", i);
		if (memcmp(pol->boot_pcrs[i], c->quoted[i], 32) == 0)
			continue;
		hex_encode(pol->boot_pcrs[i], 32, want);
		hex_encode(c->quoted[i], 32, got);
		return err_set(AICERT_ERR_REJECTED, "PCR %u: expected %s (policy), found %s", i,
			       want, got);
	}
	/* Reference values for PCRs the log does not touch still bind. */
	for (unsigned i = 0; i < 24; i++)
		if ((pol->boot_pcr_mask >> i & 1) && !(needed >> i & 1) &&
		    (!(c->quoted_mask >> i & 1) || memcmp(pol->boot_pcrs[i], c->quoted[i], 32)))
			return err_set(AICERT_ERR_REJECTED,
				       "PCR %u differs from the policy's reference value or is not "
				       "quoted",
				       i);
	return 0;
}

int verify_platform(struct vctx *c)
{
	/* Measured: the firmware's log replays and accounts for PCRs 0-7, all
	 * quoted. Anything less is a development platform. */
	bool measured = c->boot && (c->boot_touched & FIRMWARE_PCRS) == FIRMWARE_PCRS &&
			(c->quoted_mask & FIRMWARE_PCRS) == FIRMWARE_PCRS;
	int r;

	strcpy(c->platform, measured ? "measured" : "development");
	if (strcmp(c->proof->platform, c->platform) != 0)
		return err_set(AICERT_ERR_REJECTED,
			       "evidence.platform claims '%s', the evidence shows '%s'",
			       c->proof->platform, c->platform);
	if (!measured && !c->policy->allow_development)
		return err_set(AICERT_ERR_REJECTED,
			       "development platform (the boot is not measured) and the policy "
			       "does not allow development platforms");
	if (measured && (r = verify_boot_reference(c)) < 0)
		return r;
	return err_set(0, "%s%s", c->platform,
		       measured ? ", boot chain matches the policy"
				: ": the boot is not measured (allowed by the policy)");
}

/* ---- Runtime log -------------------------------------------------------- */

int verify_runtime_log(struct vctx *c)
{
	uint8_t pcrs[24][32];
	uint32_t touched = 0;
	int r;

	r = cel_decode(c->proof->runtime_log.data, c->proof->runtime_log.len, &c->rt);
	if (r == 0)
		r = cel_replay(&c->rt, c->rt.n, pcrs, &touched);
	if (r < 0)
		return err_wrap(AICERT_ERR_REJECTED, "runtime event log");
	for (unsigned i = 0; i < 24; i++) {
		if ((touched >> i & 1) && !(c->quoted_mask >> i & 1))
			return err_set(AICERT_ERR_REJECTED,
				       "the runtime log extends PCR %u, which the quote does not "
				       "cover",
				       i);
		if (!((touched | RUNTIME_PCRS) >> i & 1) || !(c->quoted_mask >> i & 1))
			continue;
		if (memcmp(pcrs[i], c->quoted[i], 32) != 0)
			return err_set(AICERT_ERR_REJECTED,
				       "runtime log does not replay: PCR %u differs from the quote "
				       "(events inserted, removed, reordered or changed)",
				       i);
	}
	return err_set(0, "%zu records replay to the quoted PCRs", c->rt.n);
}

int verify_runtime_events(struct vctx *c)
{
	int r;

	r = joblog_decode(&c->rt, &c->jl);
	if (r < 0)
		return r;
	if (!c->proof->statement) {
		if (c->proof->job_id[0])
			return err_set(
				AICERT_ERR_REJECTED,
				"evidence.job_id names a job but the proof has no statement");
		return err_set(0, "%zu well-formed events (a proof of the platform alone)",
			       c->rt.n);
	}
	r = joblog_find(&c->jl, c->proof->job_id, c->proof->nonce, c->proof->nonce_len);
	if (r < 0)
		return r;
	if (c->jl.job.controller) {
		char id[17];

		hex_encode(c->jl.job.controller->identity_sha256, 8, id);
		return err_set(0,
			       "job '%s': %zu inputs, %zu outputs, in the expected order; the "
			       "runner is bound to controller %s...",
			       c->jl.job.start->job_id, c->jl.job.n_inputs, c->jl.job.n_outputs,
			       id);
	}
	return err_set(0, "job '%s': %zu inputs, %zu outputs, in the expected order",
		       c->jl.job.start->job_id, c->jl.job.n_inputs, c->jl.job.n_outputs);
}

int verify_job_counters(struct vctx *c)
{
	const TPMS_CLOCK_INFO *ci = &c->att.clockInfo;

	if (!c->jl.has_job)
		return err_set(VERIFY_SKIP, "no job");
	if (ci->resetCount != c->jl.job.start->reset_count ||
	    ci->restartCount != c->jl.job.start->restart_count)
		return err_set(AICERT_ERR_REJECTED,
			       "the TPM was reset or restarted during the job: reset/restart count "
			       "%u/%u at the start, %u/%u at the quote",
			       c->jl.job.start->reset_count, c->jl.job.start->restart_count,
			       ci->resetCount, ci->restartCount);
	return err_set(0, "reset count %u and restart count %u unchanged since the job started",
		       ci->resetCount, ci->restartCount);
}

/* ---- Statement ---------------------------------------------------------- */

/* The Statement the evidence supports, built once for the three checks
 * that compare against it. */
static int verify_expected_statement(struct vctx *c, const json_t **ret)
{
	uint8_t log_digest[32];
	int r;

	if (!c->expected_statement) {
		SHA256(c->proof->runtime_log.data, c->proof->runtime_log.len, log_digest);
		r = statement_build(&c->jl.job, c->platform, log_digest, &c->expected_statement);
		if (r < 0)
			return r;
	}
	*ret = c->expected_statement;
	return 0;
}

static const json_t *verify_deps(const json_t *st)
{
	return json_object_get(json_object_get(json_object_get(st, "predicate"), "buildDefinition"),
			       "resolvedDependencies");
}

int verify_statement_inputs(struct vctx *c)
{
	const json_t *want;
	int r;

	if (!c->jl.has_job)
		return err_set(VERIFY_SKIP, "no job");
	r = verify_expected_statement(c, &want);
	if (r < 0)
		return r;
	if (!json_equal((json_t *)verify_deps(c->proof->statement), (json_t *)verify_deps(want)))
		return err_set(AICERT_ERR_REJECTED,
			       "the statement's resolvedDependencies are not the inputs the "
			       "runtime log measured");
	return err_set(0, "%zu inputs, as measured", c->jl.job.n_inputs);
}

int verify_statement_outputs(struct vctx *c)
{
	const json_t *want;
	int r;

	if (!c->jl.has_job)
		return err_set(VERIFY_SKIP, "no job");
	r = verify_expected_statement(c, &want);
	if (r < 0)
		return r;
	if (!json_equal(json_object_get(c->proof->statement, "subject"),
			json_object_get(want, "subject")))
		return err_set(AICERT_ERR_REJECTED,
			       "the statement's subjects are not the outputs the runtime log "
			       "measured");
	return err_set(0, "%zu outputs and their root, as measured", c->jl.job.n_outputs);
}

int verify_statement(struct vctx *c)
{
	const json_t *want;
	int r;

	if (!c->jl.has_job)
		return err_set(VERIFY_SKIP, "a proof of the platform alone");
	r = verify_expected_statement(c, &want);
	if (r < 0)
		return r;
	if (!json_equal(c->proof->statement, (json_t *)want))
		return err_set(AICERT_ERR_REJECTED,
			       "the statement differs from the one the evidence supports");
	c->statement_text = json_dumps(want, JSON_INDENT(2) | JSON_ENSURE_ASCII);
	if (!c->statement_text)
		return AICERT_ERR_NOMEM;
	return err_set(0, "every field follows from the evidence");
}

int verify_policy_inputs(struct vctx *c)
{
	const struct policy *pol = c->policy;
	const struct statement_job *job = &c->jl.job;

	if (!pol->has_inputs)
		return err_set(VERIFY_SKIP, "the policy expects no particular inputs");
	if (!c->jl.has_job)
		return err_set(AICERT_ERR_REJECTED,
			       "the policy expects inputs; this proof has no job");
	if (job->n_inputs != pol->n_inputs)
		return err_set(AICERT_ERR_REJECTED,
			       "the job used %zu inputs, the policy expects exactly %zu",
			       job->n_inputs, pol->n_inputs);
	/* One to one by name (the policy's names are unique): each of the
	 * job's inputs is the expected one with the expected digest. */
	for (size_t j = 0; j < job->n_inputs; j++) {
		const struct policy_input *want = NULL;

		for (size_t i = 0; i < pol->n_inputs && !want; i++)
			if (strcmp(pol->inputs[i].name, job->inputs[j].name) == 0)
				want = &pol->inputs[i];
		if (!want)
			return err_set(AICERT_ERR_REJECTED,
				       "input '%s' is not one the policy expects",
				       job->inputs[j].name);
		if (memcmp(want->sha256, job->inputs[j].sha256, 32) != 0)
			return err_set(AICERT_ERR_REJECTED,
				       "input '%s' differs from the policy's digest",
				       job->inputs[j].name);
		for (size_t k = 0; k < j; k++)
			if (strcmp(job->inputs[k].name, job->inputs[j].name) == 0)
				return err_set(AICERT_ERR_REJECTED, "input '%s' used twice",
					       job->inputs[j].name);
	}
	return err_set(0, "exactly the %zu inputs the policy expects", pol->n_inputs);
}

int verify_model_files(struct vctx *c)
{
	struct modeldir_file *files = NULL;
	size_t n = 0;
	int r;

	if (!c->opts->model_dir)
		return err_set(VERIFY_SKIP, "no --model directory given");
	if (!c->jl.has_job)
		return err_set(AICERT_ERR_REJECTED, "--model given, but this proof has no outputs");
	r = modeldir_scan(c->opts->model_dir, &files, &n);
	if (r < 0)
		return err_wrap(AICERT_ERR_REJECTED, "--model %s", c->opts->model_dir);
	for (size_t i = 0, j = 0; r == 0 && (i < n || j < c->jl.job.n_outputs);) {
		int cmp = i == n ? 1
			  : j == c->jl.job.n_outputs
				  ? -1
				  : strcmp(files[i].path, c->jl.job.outputs[j].path);

		if (cmp < 0)
			r = err_set(AICERT_ERR_REJECTED,
				    "%s: not an output of the job (extra file)", files[i].path);
		else if (cmp > 0)
			r = err_set(AICERT_ERR_REJECTED, "%s: missing from --model",
				    c->jl.job.outputs[j].path);
		else if (memcmp(files[i].sha256, c->jl.job.outputs[j].sha256, 32) != 0)
			r = err_set(AICERT_ERR_REJECTED, "%s: modified (SHA-256 differs)",
				    files[i].path);
		i += cmp <= 0;
		j += cmp >= 0;
	}
	modeldir_free(files, n);
	return r < 0 ? r
		     : err_set(0, "%zu files in %s are exactly the outputs", n, c->opts->model_dir);
}
