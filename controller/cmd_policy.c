/* aicert policy init --ek-roots PEM [--ek-roots PEM...] --ak-ca PEM
 *                    [--allow-development] --out policy.yaml */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "fileio.h"
#include "policy.h"

#define POLICY_MAX_FILES 16

static void policy_usage(FILE *f)
{
	fprintf(f,
		"Usage: aicert policy init --ek-roots PEM [--ek-roots PEM...]\n"
		"                          [--ek-intermediates PEM...] --ak-ca PEM [--ak-ca PEM...]\n"
		"                          [--allow-development] --out FILE\n\n"
		"Writes a starting verification policy with the given certificates inline.\n");
}

struct policy_args {
	const char *ek[POLICY_MAX_FILES];
	size_t n_ek;
	const char *inter[POLICY_MAX_FILES];
	size_t n_inter;
	const char *ak[POLICY_MAX_FILES];
	size_t n_ak;
	bool allow_dev;
	const char *out;
};

static int policy_add(const char **list, size_t *n, const char *flag, const char *path)
{
	if (*n == POLICY_MAX_FILES)
		return err_set(AICERT_ERR_INVALID, "--%s: at most %d files", flag,
			       POLICY_MAX_FILES);
	list[(*n)++] = path;
	return 0;
}

static int policy_parse_args(int argc, char **argv, struct policy_args *a)
{
	static const struct option opts[] = {
		{"ek-roots", required_argument, NULL, 'e'},
		{"ek-intermediates", required_argument, NULL, 'i'},
		{"ak-ca", required_argument, NULL, 'a'},
		{"allow-development", no_argument, NULL, 'd'},
		{"out", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int opt, r = 0;

	optind = 1;
	while (r == 0 && (opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'e')
			r = policy_add(a->ek, &a->n_ek, "ek-roots", optarg);
		else if (opt == 'i')
			r = policy_add(a->inter, &a->n_inter, "ek-intermediates", optarg);
		else if (opt == 'a')
			r = policy_add(a->ak, &a->n_ak, "ak-ca", optarg);
		else if (opt == 'd')
			a->allow_dev = true;
		else if (opt == 'o')
			a->out = optarg;
		else if (opt == 'h') {
			policy_usage(stdout);
			return 1;
		} else
			r = err_set(AICERT_ERR_INVALID, "see 'aicert policy init --help'");
	}
	if (r == 0 && optind < argc)
		r = err_set(AICERT_ERR_INVALID, "unexpected argument '%s'", argv[optind]);
	if (r == 0 && (!a->n_ek || !a->n_ak || !a->out))
		r = err_set(AICERT_ERR_INVALID, "policy init needs --ek-roots, --ak-ca and --out");
	return r;
}

int cmd_policy(int argc, char **argv)
{
	struct policy_args a = {0};
	struct policy *check = NULL;
	char *yaml = NULL;
	int r;

	if (argc < 2 || strcmp(argv[1], "init") != 0) {
		policy_usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
		return argc >= 2 && strcmp(argv[1], "--help") == 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	r = policy_parse_args(argc - 1, argv + 1, &a);
	if (r == 1)
		return CLI_EXIT_OK;
	if (r == 0) {
		struct policy_init in = {a.ek, a.n_ek, a.inter,    a.n_inter,
					 a.ak, a.n_ak, a.allow_dev};

		r = policy_init_yaml(&in, &yaml);
	}
	/* What we write must load: the same parser as the verifier's. */
	if (r == 0)
		r = policy_parse(a.out, (const uint8_t *)yaml, strlen(yaml), &check);
	if (r == 0)
		r = fileio_write_atomic(a.out, yaml, strlen(yaml), 0644);
	policy_free(check);
	free(yaml);
	if (r < 0)
		return cli_fail(r);
	printf("policy written to %s\n", a.out);
	return CLI_EXIT_OK;
}
