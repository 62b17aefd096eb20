/* agent_config: the YAML configuration file and the flags, and starting on
 * a missing or an uninitialised TPM; a TPM per test, and the agent started
 * by the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agentproc.h"
#include "aicert.pb-c.h"
#include "err.h"
#include "harness.h"
#include "rpc.h"
#include "tpmkey.h"

#include "fixture.h"

static void write_config(struct fx *f, const char *text, char path[PATH_MAX])
{
	scratch(f, "agent.yaml", path);
	assert_int_equal(harness_write_file(path, text, strlen(text)), 0);
}

/* The agent refuses the config text: it exits non-zero, naming where. */
static void assert_config_refused(struct fx *f, const char *text, const char *where,
				  const char *what)
{
	char path[PATH_MAX], pos[PATH_MAX + 32], log[8192];
	const char *args[] = {"--config", path, NULL};
	int status;

	write_config(f, text, path);
	status = agentproc_run(&f->agent, &f->tpm, args);
	assert_int_equal(agentproc_log(&f->agent, log, sizeof(log)), 0);
	print_message("status %d: %s", status, log);
	assert_true(status > 0 && status < 128);
	snprintf(pos, sizeof(pos), "%s:%s:", path, where);
	if (!strstr(log, pos) || !strstr(log, what))
		fail_msg("expected '%s' and '%s' in the agent's log", pos, what);
}

static void config_with_unknown_or_bad_key_is_refused_with_position(void **state)
{
	struct fx *f = *state;

	assert_config_refused(f,
			      "tcti: \"swtpm:host=127.0.0.1,port=9\"\n"
			      "state_dir: /nonexistent\n"
			      "listen_port: 7700\n",
			      "3:1", "listen_port");
	assert_config_refused(f, "tls:\n  cert: a.crt\n  pem: b.pem\n", "3:3", "pem");
	assert_config_refused(f, "workers: many\n", "1:10", "workers");
	assert_config_refused(f, "extend_pcrs: [8, 0]\n", "1:18", "extend_pcrs");
}

static void flags_override_config_file(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX], boot[PATH_MAX], text[PATH_MAX + 256];
	const char *args[] = {"--config", path, "--ak-alg", "ecc", NULL};
	Aicert__V1__HealthReply *h;
	Aicert__V1__EventLogReply *ev;

	scratch(f, "boot.bin", boot);
	assert_int_equal(harness_write_file(boot, "boot", 4), 0);
	/* tcti, state_dir, local and boot_log are overridden by the harness's
	 * flags, ak_alg by --ak-alg; extend_pcrs has no flag and holds */
	snprintf(text, sizeof(text),
		 "tcti: \"swtpm:host=127.0.0.1,port=9\"\n"
		 "state_dir: /nonexistent/aicert-agent\n"
		 "local: ipc:///nonexistent/agent.sock\n"
		 "boot_log: %s\n"
		 "ak_alg: rsa\n"
		 "extend_pcrs: [9]\n"
		 "workers: 2\n",
		 boot);
	write_config(f, text, path);
	assert_int_equal(agentproc_start(&f->agent, &f->tpm, args), 0);
	f->c = dial(f->agent.local_url, NULL, 30000);
	h = health(f->c);
	assert_int_equal(h->ak_alg, AICERT__V1__KEY_ALG__KEY_ALG_ECC);
	aicert__v1__health_reply__free_unpacked(h, NULL);
	ev = event_log(f->c);
	assert_int_equal(ev->boot_log.len, 0);
	aicert__v1__event_log_reply__free_unpacked(ev, NULL);
	assert_int_equal(extend_ok(f->c, 9, "PCR 9 from the file", NULL), 0);
	assert_extend_status(f->c, 0, 14, EV_EVENT_TAG, "PCR 14 is not in the file", NULL,
			     RPC_PERMISSION_DENIED, NULL);
	assert_int_equal(assert_log_replays(f->c), 1);
}

static void sample_config_from_deploy_loads(void **state)
{
	struct fx *f = *state;
	const char *args[] = {"--config", AICERT_SOURCE_DIR "/deploy/systemd/agent.yaml", NULL};

	assert_int_equal(agentproc_start(&f->agent, &f->tpm, args), 0);
	f->c = dial(f->agent.local_url, NULL, 30000);
	quote_and_verify(f->c, NULL);
}

static void rsa_ak_from_flag_quotes_verify(void **state)
{
	struct fx *f = *state;
	const char *args[] = {"--ak-alg", "rsa", NULL};
	Aicert__V1__IdentityReply *id;
	TPMT_PUBLIC ak;

	assert_int_equal(agentproc_start(&f->agent, &f->tpm, args), 0);
	f->c = dial(f->agent.local_url, NULL, 30000);
	id = identity(f->c);
	assert_int_equal(id->ak_alg, AICERT__V1__KEY_ALG__KEY_ALG_RSA);
	assert_ok(tpmkey_parse_public(id->ak_public.data, id->ak_public.len, &ak));
	assert_int_equal(ak.type, TPM2_ALG_RSA);
	assert_ok(tpmkey_check_ak_attributes(&ak));
	quote_and_verify(f->c, &id->ak_public);
	aicert__v1__identity_reply__free_unpacked(id, NULL);
}

static void agent_without_a_tpm_exits_nonzero(void **state)
{
	struct fx *f = *state;
	char tcti[64], log[8192];
	const char *args[] = {"--tcti", tcti, NULL};
	int port = agentproc_free_port(), status;

	assert_true(port > 0);
	snprintf(tcti, sizeof(tcti), "swtpm:host=127.0.0.1,port=%d", port);
	status = agentproc_run(&f->agent, &f->tpm, args);
	assert_int_equal(agentproc_log(&f->agent, log, sizeof(log)), 0);
	print_message("status %d: %s", status, log);
	assert_true(status > 0 && status < 128);
}

static void agent_starts_an_uninitialised_tpm(void **state)
{
	struct fx *f = *state;

	/* a TPM that firmware never started: the agent sends TPM2_Startup */
	harness_swtpm_stop(&f->tpm);
	assert_int_equal(harness_swtpm_start_uninitialised(&f->tpm), 0);
	assert_int_equal(agentproc_start(&f->agent, &f->tpm, NULL), 0);
	f->c = dial(f->agent.local_url, NULL, 30000);
	quote_and_verify(f->c, NULL);
	assert_int_equal(extend_ok(f->c, 14, "input: on a TPM the agent started", NULL), 0);
	assert_int_equal(assert_log_replays(f->c), 1);
}

static const struct CMUnitTest tests[] = {
	TF(config_with_unknown_or_bad_key_is_refused_with_position, fx_setup_tpm_only),
	TF(flags_override_config_file, fx_setup_tpm_only),
	TF(sample_config_from_deploy_loads, fx_setup_tpm_only),
	TF(rsa_ak_from_flag_quotes_verify, fx_setup_tpm_only),
	TF(agent_without_a_tpm_exits_nonzero, fx_setup_tpm_only),
	TF(agent_starts_an_uninitialised_tpm, fx_setup_tpm_only),
};

const struct agent_group config_group = {
	"agent_config", tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL,
};
