/* aicert verify PROOF [--policy FILE] [--model DIR] [--nonce HEX] [--json]
 * Exit codes: 0 verified, 1 rejected, 2 unusable input. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aicert_verify.h"
#include "cli.h"
#include "err.h"
#include "hex.h"

struct verify_args {
	const char *proof;
	const char *policy;
	const char *model;
	const char *nonce_hex;
	bool json;
};

static void verify_usage(FILE *f)
{
	fprintf(f,
		"Usage: aicert verify PROOF [--policy FILE] [--model DIR] [--nonce HEX] [--json]\n\n"
		"Checks a proof offline against a policy and prints every named check.\n"
		"  --policy FILE  your trust anchors and expectations (default: $AICERT_POLICY,\n"
		"                 ~/.config/aicert/policy.yaml, /etc/aicert/policy.yaml; never\n"
		"                 a file that came with the proof)\n"
		"  --model DIR    the files there must be exactly the job's outputs\n"
		"  --nonce HEX    the nonce you chose; the proof must carry it\n"
		"  --json         print the result as JSON\n\n"
		"Exit status: 0 verified, 1 rejected, 2 unusable input.\n");
}

static int verify_parse(int argc, char **argv, struct verify_args *a)
{
	static const struct option opts[] = {
		{"policy", required_argument, NULL, 'p'}, {"model", required_argument, NULL, 'm'},
		{"nonce", required_argument, NULL, 'n'},  {"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			a->policy = optarg;
			break;
		case 'm':
			a->model = optarg;
			break;
		case 'n':
			a->nonce_hex = optarg;
			break;
		case 'j':
			a->json = true;
			break;
		case 'h':
			verify_usage(stdout);
			return 1;
		default:
			return err_set(AICERT_ERR_INVALID, "see 'aicert verify --help'");
		}
	}
	if (optind + 1 != argc)
		return err_set(AICERT_ERR_INVALID, "expected one proof file (see --help)");
	a->proof = argv[optind];
	return 0;
}

static const char *verify_mark(enum aicert_check_status st)
{
	static const char *const marks[] = {"ok  ", "FAIL", "skip", "----"};

	return marks[st];
}

void verify_print(const struct aicert_result *res, const char *proof)
{
	const char *failed = aicert_result_failed(res);

	printf("%s\n", proof);
	for (size_t i = 0; i < aicert_result_count(res); i++) {
		enum aicert_check_status st = aicert_result_status(res, i);

		printf("  [%s] %-18s %s\n", verify_mark(st), aicert_result_name(res, i),
		       st == AICERT_CHECK_NOT_RUN ? "not run" : aicert_result_detail(res, i));
	}
	if (failed) {
		for (size_t i = 0; i < aicert_result_count(res); i++)
			if (aicert_result_status(res, i) == AICERT_CHECK_FAIL)
				printf("REJECTED by %s: %s\n", failed,
				       aicert_result_detail(res, i));
		return;
	}
	printf("VERIFIED on a %s platform%s\n", aicert_result_platform(res),
	       strcmp(aicert_result_platform(res), "development") == 0
		       ? " (development: the boot is not measured)"
		       : "");
}

/* The verifier's own policy when --policy is not given: $AICERT_POLICY, then
 * ~/.config/aicert/policy.yaml, then /etc/aicert/policy.yaml. Never a file
 * beside the proof: whoever ships the proof would choose the trust anchors. */
static char *verify_default_policy(void)
{
	const char *env = getenv("AICERT_POLICY"), *home = getenv("HOME");
	char *path = NULL;

	if (env && *env)
		return strdup(env);
	if (home && asprintf(&path, "%s/.config/aicert/policy.yaml", home) >= 0) {
		if (access(path, R_OK) == 0)
			return path;
		free(path);
	}
	if (access("/etc/aicert/policy.yaml", R_OK) == 0)
		return strdup("/etc/aicert/policy.yaml");
	return NULL;
}

int cmd_verify(int argc, char **argv)
{
	struct verify_args a = {0};
	struct aicert_verify_opts opts = {0};
	struct aicert_result *res = NULL;
	uint8_t nonce[64];
	char *policy = NULL, *json = NULL;
	int r;

	r = verify_parse(argc, argv, &a);
	if (r == 1)
		return CLI_EXIT_OK;
	if (r == 0 && a.nonce_hex &&
	    (r = hex_decode(a.nonce_hex, nonce, sizeof(nonce), &opts.nonce_len)) < 0)
		r = err_wrap(r, "--nonce");
	if (r < 0) {
		cli_fail(r);
		return CLI_EXIT_USAGE;
	}
	if (a.nonce_hex)
		opts.nonce = nonce;
	if (a.model) {
		struct stat st;

		if (stat(a.model, &st) < 0 || !S_ISDIR(st.st_mode)) {
			cli_fail(err_set(AICERT_ERR_NOT_FOUND,
					 "--model %s: not a readable directory", a.model));
			return CLI_EXIT_USAGE;
		}
	}
	policy = a.policy ? strdup(a.policy) : verify_default_policy();
	if (!policy) {
		cli_fail(err_set(AICERT_ERR_INVALID,
				 "no policy: give --policy FILE (or set AICERT_POLICY, or install "
				 "~/.config/aicert/policy.yaml or /etc/aicert/policy.yaml)"));
		return CLI_EXIT_USAGE;
	}
	opts.policy_path = policy;
	opts.model_dir = a.model;
	r = aicert_verify_file(a.proof, &opts, &res);
	if (r < 0 && r != AICERT_ERR_REJECTED) {
		cli_fail(r);
		free(policy);
		return CLI_EXIT_USAGE;
	}
	if (a.json && aicert_result_json(res, &json) == 0)
		printf("%s\n", json);
	else
		verify_print(res, a.proof);
	free(json);
	free(policy);
	aicert_result_free(res);
	return r == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILED;
}
