/* The agent's configuration: strict YAML with file:line:col errors, flags
 * over the file, and the combinations it refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "err.h"

static char *write_tmp(const char *text)
{
	char *path = strdup("/tmp/aicert-config-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static int load(const char *text, struct agent_config *cfg, char **path_out)
{
	char *path = write_tmp(text);
	int r;

	assert_int_equal(config_defaults(cfg), 0);
	r = config_load(cfg, path);
	if (path_out)
		*path_out = path;
	else {
		unlink(path);
		free(path);
	}
	return r;
}

static void config_reads_every_key(void **state)
{
	struct agent_config cfg;

	assert_int_equal(load("tcti: swtpm:host=127.0.0.1,port=2321\n"
			      "state_dir: /tmp/s\n"
			      "local: ipc:///tmp/a.sock\n"
			      "listen: tls+tcp://127.0.0.1:7700\n"
			      "tls: {cert: a.crt, key: a.key, ca: ca.crt}\n"
			      "boot_log: \"\"\n"
			      "ek_alg: ecc\n"
			      "ak_alg: rsa\n"
			      "extend_pcrs: [8, 14, 15]\n"
			      "workers: 2\n",
			      &cfg, NULL),
			 0);
	assert_string_equal(cfg.tcti, "swtpm:host=127.0.0.1,port=2321");
	assert_string_equal(cfg.tls_ca, "ca.crt");
	assert_string_equal(cfg.boot_log, "");
	assert_int_equal(cfg.ek_alg, TPM_KEYALG_ECC);
	assert_int_equal(cfg.ak_alg, TPM_KEYALG_RSA);
	assert_int_equal(cfg.extend_pcrs, (1u << 8) | (1u << 14) | (1u << 15));
	assert_int_equal(cfg.workers, 2);
	assert_int_equal(config_validate(&cfg), 0);
	config_free(&cfg);
}

static void config_rejects_unknown_key_with_position(void **state)
{
	struct agent_config cfg;
	char *path, want[512];
	int r;

	r = load("tcti: device:/dev/tpmrm0\n  \nlistn: tls+tcp://x:1\n", &cfg, &path);
	assert_int_equal(r, AICERT_ERR_INVALID);
	snprintf(want, sizeof(want), "%s:3:1: unknown key 'listn'", path);
	assert_non_null(strstr(err_msg(r), want));
	unlink(path);
	free(path);
	config_free(&cfg);
}

static void config_rejects_wrong_types_and_ranges(void **state)
{
	static const char *const bad[] = {
		"workers: many\n",
		"workers: 0\n",
		"workers: -1\n",
		"workers: 0x10\n",
		"extend_pcrs: [0]\n",
		"extend_pcrs: 14\n",
		"extend_pcrs: [24]\n",
		"ek_alg: dsa\n",
		"tls: {cert: a, pem: b}\n",
		"tcti: [a]\n",
		"- a list\n",
		"tcti: a\ntcti: b\n",
		"a: &x 1\nb: *x\n",
		"tcti: a\n---\ntcti: b\n",
		"tcti: \"a\\0b\"\n",
		"workers: \"4\"\n",
		"{{{{\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct agent_config cfg;
		int r = load(bad[i], &cfg, NULL);

		if (r == 0)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(strstr(err_msg(r), "/tmp/aicert-config-"));
		config_free(&cfg);
	}
}

static void config_flags_override_the_file(void **state)
{
	struct agent_config cfg;
	char *path = write_tmp("tcti: from-file\nstate_dir: /file\n");
	char *argv[] = {"aicert-agent", "--tcti", "from-flag", "--config", path, NULL};

	assert_int_equal(config_defaults(&cfg), 0);
	assert_int_equal(config_parse_args(&cfg, 5, argv), 0);
	assert_string_equal(cfg.tcti, "from-flag");
	assert_string_equal(cfg.state_dir, "/file");
	config_free(&cfg);
	unlink(path);
	free(path);
}

static void config_refuses_insecure_combinations(void **state)
{
	struct agent_config cfg;
	char *plain[] = {"aicert-agent", "--listen", "tcp://0.0.0.0:7700", NULL};
	char *no_tls[] = {"aicert-agent", "--listen", "tls+tcp://0.0.0.0:7700", NULL};
	char *bad_local[] = {"aicert-agent", "--local", "tcp://127.0.0.1:1", NULL};
	char *unknown[] = {"aicert-agent", "--frobnicate", NULL};
	char *extra[] = {"aicert-agent", "stray", NULL};

	assert_int_equal(config_defaults(&cfg), 0);
	assert_int_equal(config_parse_args(&cfg, 3, plain), 0);
	assert_int_equal(config_validate(&cfg), AICERT_ERR_INVALID);
	config_free(&cfg);
	assert_int_equal(config_defaults(&cfg), 0);
	assert_int_equal(config_parse_args(&cfg, 3, no_tls), 0);
	assert_int_equal(config_validate(&cfg), AICERT_ERR_INVALID);
	config_free(&cfg);
	assert_int_equal(config_defaults(&cfg), 0);
	assert_int_equal(config_parse_args(&cfg, 3, bad_local), 0);
	assert_int_equal(config_validate(&cfg), AICERT_ERR_INVALID);
	config_free(&cfg);
	assert_int_equal(config_defaults(&cfg), 0);
	assert_int_equal(config_parse_args(&cfg, 2, unknown), AICERT_ERR_INVALID);
	assert_int_equal(config_parse_args(&cfg, 2, extra), AICERT_ERR_INVALID);
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(config_reads_every_key),
		cmocka_unit_test(config_rejects_unknown_key_with_position),
		cmocka_unit_test(config_rejects_wrong_types_and_ranges),
		cmocka_unit_test(config_flags_override_the_file),
		cmocka_unit_test(config_refuses_insecure_combinations),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
