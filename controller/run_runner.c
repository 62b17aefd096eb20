/* `aicert run`: the runner (run_internal.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <openssl/sha.h>

#include "agentc.h"
#include "aicert_verify.h"
#include "ca.h"
#include "cel.h"
#include "ekcert.h"
#include "enroll.h"
#include "err.h"
#include "events.h"
#include "fileio.h"
#include "jobcfg.h"
#include "log.h"
#include "policy.h"
#include "proof.h"
#include "proofgen.h"
#include "rpc.h"
#include "run_internal.h"
#include "run_io.h"
#include "runner_local.h"
#include "runner_qemu.h"

/* ---- Runner and enrollment ----------------------------------------------- */

static void run_enroll_report(void *ctx, enum enroll_step step, int r, const char *detail)
{
	(void)ctx;
	if (r < 0)
		log_err("enrollment: %s: %s", enroll_step_name(step), detail);
}

static int run_start_runner(struct run *R)
{
	if (R->cfg->runner.backend == JOBCFG_BACKEND_QEMU) {
		struct runner_qemu_opts qo = {.image_dir = R->cfg->runner.qemu_image,
					      .memory_mb = R->cfg->runner.qemu_memory_mb,
					      .cpus = R->cfg->runner.qemu_cpus,
					      .keep = R->a.keep_runner};
		int r;

		printf("runner: qemu (OVMF, swtpm, the image %s) booting ...",
		       R->cfg->runner.qemu_image);
		fflush(stdout);
		r = runner_qemu_start(&qo, &R->qemu);
		if (r < 0)
			return r;
		R->agent_url = runner_qemu_agent_url(R->qemu);
		R->executor_url = runner_qemu_executor_url(R->qemu);
		R->tls = runner_qemu_tls(R->qemu);
		R->ek_root = runner_qemu_ek_root(R->qemu);
		R->ek_issuer = runner_qemu_ek_issuer(R->qemu);
		R->identity = runner_qemu_controller_identity(R->qemu);
		R->runner_dir = runner_qemu_dir(R->qemu);
		R->runner_priv = runner_qemu_private_dir(R->qemu);
	} else {
		struct runner_local_opts ro = {
			.executor = true, .keep = R->a.keep_runner, .ca_file = R->ca_file};
		int r;

		printf("runner: local (swtpm, aicert-agent, aicert-executor) ...");
		fflush(stdout);
		r = runner_local_start(&ro, &R->local);
		if (r < 0)
			return r;
		R->agent_url = runner_local_url(R->local);
		R->executor_url = runner_local_executor_url(R->local);
		R->ek_root = runner_local_ek_root(R->local);
		R->ek_issuer = runner_local_ek_issuer(R->local);
		R->identity = runner_local_controller_identity(R->local);
		R->runner_dir = runner_local_dir(R->local);
		R->runner_priv = runner_local_private_dir(R->local);
	}
	R->runner = true;
	return 0;
}

/* Tears the runner down (a command still running dies with it). */
int run_stop_runner(struct run *R)
{
	return R->qemu ? runner_qemu_stop(R->qemu) : runner_local_stop(R->local);
}

int run_provision(struct run *R)
{
	struct rpc_client_opts xo = {.timeout_ms = RUN_CALL_MS};
	struct rpc_client_opts xl = {.timeout_ms = RUN_LONG_CALL_MS};
	struct enroll_params ep = {.activate = agentc_activate, .report = run_enroll_report};
	struct enroll_result res = {0};
	struct ekcert_store *roots = NULL;
	Aicert__V1__IdentityReply *id = NULL;
	struct ca *ca = NULL;
	int r;

	r = run_start_runner(R);
	if (r < 0) {
		printf("\n");
		return r;
	}
	R->t_ready = run_now();
	xo.tls = xl.tls = R->tls;
	printf(" ready in %.1f s%s%s\n", R->t_ready - R->t0, R->a.keep_runner ? ", kept in " : "",
	       R->a.keep_runner ? R->runner_dir : "");
	/* The run's own attestation CA, in the runner's private directory. */
	if (snprintf(R->ca_dir, sizeof(R->ca_dir), "%s/attestation-ca", R->runner_priv) >=
	    (int)sizeof(R->ca_dir))
		return err_set(AICERT_ERR_INVALID, "runner directory path too long");
	r = ca_init(R->ca_dir, NULL);
	if (r == 0)
		r = ca_open(R->ca_dir, &ca);
	if (r == 0)
		r = rpc_client_dial(R->agent_url, &aicert__v1__agent__descriptor, &xo, &R->agent);
	if (r == 0)
		r = ekcert_store_new(&roots);
	if (r == 0)
		r = ekcert_store_load_roots(roots, R->ek_root);
	if (r == 0)
		r = ekcert_store_load_intermediates(roots, R->ek_issuer);
	if (r == 0)
		r = agentc_identity(R->agent, &id);
	if (r == 0) {
		ep.ca = ca;
		ep.ek_roots = roots;
		ep.activate_ctx = R->agent;
		r = enroll_run(&ep, id, &res);
		if (r < 0)
			r = err_wrap(r, "enrollment refused at '%s'",
				     enroll_step_name(res.failed_step));
	}
	if (r == 0)
		printf("enrolled: the TPM's EK certificate checked, the AK certified by this "
		       "run's attestation CA\n");
	enroll_result_clear(&res);
	if (id)
		protobuf_c_message_free_unpacked(&id->base, NULL);
	ekcert_store_free(roots);
	ca_free(ca);
	if (r == 0)
		r = rpc_client_dial(R->executor_url, &aicert__v1__executor__descriptor, &xo, &R->x);
	if (r == 0)
		r = rpc_client_dial(R->executor_url, &aicert__v1__executor__descriptor, &xl,
				    &R->xlong);
	return r;
}

int run_write_policy(struct run *R, const char *boot_pcrs)
{
	const char *roots[] = {R->ek_root};
	const char *inter[] = {R->ek_issuer};
	char ca_crt[PATH_MAX + 16];
	const char *cas[] = {ca_crt};
	struct policy_init pi = {roots, 1, inter, 1, cas, 1, true};
	char *yaml = NULL;
	int r;

	snprintf(ca_crt, sizeof(ca_crt), "%s/ca.crt", R->ca_dir);
	pi.allow_development = !boot_pcrs;
	r = policy_init_yaml(&pi, &yaml);
	if (r == 0 && boot_pcrs) {
		char *all = NULL;

		if (asprintf(&all, "%s%s", yaml, boot_pcrs) < 0)
			r = AICERT_ERR_NOMEM;
		free(yaml);
		yaml = all;
	}
	if (r == 0)
		r = fileio_write_atomic(R->policy_tmp, yaml, strlen(yaml), 0644);
	free(yaml);
	return r;
}

/* The qemu runner's boot, as the reference for this run's policy: this
 * very boot's PCRs and events (trust on first use; the summary says so). A
 * verifier's own policy takes them from a reference boot of the image
 * (`aicert policy init --boot-reference`), as deploy/image/README.md shows. */
int run_boot_reference(struct run *R, char **yaml)
{
	char *boot = NULL;
	struct proofgen_opts po = {.agent = R->agent, .ca_dir = R->ca_dir, .job_id = ""};
	struct proof *proof = NULL;
	uint8_t nonce[32], quoted[24][32];
	uint32_t mask;
	int r;

	if (RAND_bytes(nonce, sizeof(nonce)) != 1)
		return err_set(AICERT_ERR_CRYPTO, "no random bytes for the nonce");
	po.nonce = nonce;
	po.nonce_len = sizeof(nonce);
	r = proofgen_make(&po, &proof);
	if (r == 0) {
		proof_sha256_pcrs(proof, quoted, &mask);
		r = policy_boot_yaml(proof->boot_log.data, proof->boot_log.len,
				     (const uint8_t(*)[32])quoted, mask, &boot);
	}
	proof_free(proof);
	if (r == 0 && asprintf(yaml,
			       "# Trust on first use: the boot reference below is this run's own\n"
			       "# boot, not a recorded reference boot of the image.\n%s",
			       boot) < 0)
		r = AICERT_ERR_NOMEM;
	free(boot);
	return r < 0 ? err_wrap(r, "the boot's reference values") : 0;
}

/* The image's recorded reference boot (deploy/image/reference-boot.sh wrote
 * IMAGE/boot-reference.yaml), if it has one: then this boot must match it
 * event for event, or nothing is sent. *yaml stays NULL without one. */
int run_image_reference(struct run *R, char **yaml)
{
	char path[PATH_MAX];
	uint8_t *buf = NULL;
	size_t len;
	int r;

	*yaml = NULL;
	if (snprintf(path, sizeof(path), "%s/boot-reference.yaml", R->cfg->runner.qemu_image) >=
	    (int)sizeof(path))
		return err_set(AICERT_ERR_INVALID, "runner.options.image: path too long");
	/* Only a missing file means none: anything else must not quietly fall
	 * back to trusting this boot. */
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	r = fileio_read_all(path, 4u << 20, &buf, &len);
	if (r == 0 && (len < 10 || memcmp(buf, "boot_pcrs:", 10) != 0))
		r = err_set(AICERT_ERR_INVALID, "%s: not a boot reference (aicert policy boot)",
			    path);
	if (r == 0)
		r = policy_boot_check(path, (const char *)buf);
	if (r < 0) {
		free(buf);
		return r;
	}
	R->boot_reference = strdup(path);
	*yaml = (char *)buf;
	return R->boot_reference ? 0 : AICERT_ERR_NOMEM;
}

/* Before anything is sent: a quote, fresh, over PCR 15 and the runtime log
 * must show that this runner is bound to the identity it was started with
 * (the log's first record), so that no other controller's runner, or a
 * runner that served someone else first, gets the job. */
int run_check_binding(struct run *R)
{
	struct proofgen_opts po = {.agent = R->agent, .ca_dir = R->ca_dir, .job_id = ""};
	struct aicert_verify_opts vo = {.policy_path = R->policy_tmp};
	struct aicert_result *res = NULL;
	struct cel_log log = {0};
	struct proof *proof = NULL;
	struct events_event ev;
	uint8_t nonce[32], want[32], *id = NULL;
	char *json = NULL;
	size_t id_len;
	int r;

	if (RAND_bytes(nonce, sizeof(nonce)) != 1)
		return err_set(AICERT_ERR_CRYPTO, "no random bytes for the nonce");
	po.nonce = nonce;
	po.nonce_len = sizeof(nonce);
	vo.nonce = nonce;
	vo.nonce_len = sizeof(nonce);
	r = fileio_read_all(R->identity, 4096, &id, &id_len);
	if (r == 0) {
		SHA256(id, id_len, want);
		r = proofgen_make(&po, &proof);
	}
	if (r == 0)
		r = proof_write(proof, &json);
	if (r == 0)
		r = aicert_verify("the runner's binding", (const uint8_t *)json, strlen(json), &vo,
				  &res);
	if (r == 0)
		r = cel_decode(proof->runtime_log.data, proof->runtime_log.len, &log);
	if (r == 0 && (log.n == 0 ||
		       events_decode(log.recs[0].event_type, log.recs[0].pcr, log.recs[0].data,
				     log.recs[0].data_len, &ev) < 0 ||
		       ev.kind != EVENTS_CONTROLLER ||
		       memcmp(ev.u.controller.identity_sha256, want, 32) != 0))
		r = err_set(AICERT_ERR_REJECTED,
			    "the runner is not bound to this controller (PCR 15's first record)");
	if (r == AICERT_ERR_REJECTED && res && aicert_result_failed(res)) {
		const char *detail = "";

		for (size_t i = 0; i < aicert_result_count(res); i++)
			if (aicert_result_status(res, i) == AICERT_CHECK_FAIL)
				detail = aicert_result_detail(res, i);
		r = err_set(r, "the runner did not verify (%s): %s", aicert_result_failed(res),
			    detail);
	}
	cel_clear(&log);
	aicert_result_free(res);
	proof_free(proof);
	free(json);
	free(id);
	if (r == 0)
		printf("bound: a fresh quote shows the runner serves this controller alone (PCR "
		       "15)\n");
	return r < 0 ? err_wrap(r, "checking the runner's binding") : 0;
}
