/* aicert policy init --ek-roots PEM [--ek-roots PEM...] --ak-ca PEM
 *                    [--allow-development] [--boot-reference PROOF]
 *                    --out policy.yaml */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "fileio.h"
#include "policy.h"
#include "proof.h"

#define POLICY_MAX_FILES     16
#define POLICY_MAX_BOOT_FILE (4u << 20)

static void policy_usage(FILE *f)
{
	fprintf(f,
		"Usage: aicert policy init --ek-roots PEM [--ek-roots PEM...]\n"
		"                          [--ek-intermediates PEM...] --ak-ca PEM [--ak-ca PEM...]\n"
		"                          [--allow-development] [--boot-reference PROOF]\n"
		"                          --out FILE\n\n"
		"Writes a starting verification policy with the given certificates inline.\n"
		"--boot-reference PROOF|FILE: a proof from a reference boot of the runner\n"
		"image (aicert attest, or a run's proof) whose boot you trust, or the boot\n"
		"reference file `aicert policy boot` wrote (an image's boot-reference.yaml):\n"
		"its boot PCRs and boot events become the reference a measured boot must\n"
		"match exactly.\n\n"
		"Usage: aicert policy boot PROOF --out FILE\n"
		"Writes only the boot reference (boot_pcrs, boot_events) of PROOF's boot.\n");
}

struct policy_args {
	const char *ek[POLICY_MAX_FILES];
	size_t n_ek;
	const char *inter[POLICY_MAX_FILES];
	size_t n_inter;
	const char *ak[POLICY_MAX_FILES];
	size_t n_ak;
	bool allow_dev;
	const char *boot_ref;
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
		{"boot-reference", required_argument, NULL, 'b'},
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
		else if (opt == 'b')
			a->boot_ref = optarg;
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

/* The boot section (boot_pcrs, boot_events) of a reference: a proof from a
 * reference boot, or a boot reference file that `aicert policy boot`
 * wrote. */
static int policy_boot_section(const char *path, char **boot)
{
	struct proof *p = NULL;
	uint8_t quoted[24][32], *buf = NULL;
	size_t len;
	uint32_t mask;
	int r;

	r = fileio_read_all(path, POLICY_MAX_BOOT_FILE, &buf, &len);
	if (r == 0 && len >= 10 && memcmp(buf, "boot_pcrs:", 10) == 0) {
		/* Its content is checked when the whole policy is parsed. */
		r = policy_boot_check(path, (const char *)buf);
		if (r < 0) {
			free(buf);
			return r;
		}
		*boot = (char *)buf;
		return 0;
	}
	free(buf);
	if (r == 0)
		r = proof_load(path, &p);
	if (r == 0 && p->boot_log.len == 0)
		r = err_set(AICERT_ERR_INVALID, "%s: no boot event log (a development runner?)",
			    path);
	if (r == 0) {
		proof_sha256_pcrs(p, quoted, &mask);
		r = policy_boot_yaml(p->boot_log.data, p->boot_log.len,
				     (const uint8_t(*)[32])quoted, mask, boot);
	}
	proof_free(p);
	return r;
}

/* Appends the reference boot's boot_pcrs and boot_events to *yaml. */
static int policy_add_boot(const char *path, char **yaml)
{
	char *boot = NULL, *all = NULL;
	int r;

	r = policy_boot_section(path, &boot);
	if (r == 0 && asprintf(&all, "%s%s", *yaml, boot) < 0)
		r = AICERT_ERR_NOMEM;
	if (r == 0) {
		free(*yaml);
		*yaml = all;
	}
	free(boot);
	return r < 0 ? err_wrap(r, "--boot-reference") : 0;
}

/* aicert policy boot PROOF --out FILE: the boot section alone, for an
 * image's boot-reference.yaml. */
static int policy_boot_cmd(int argc, char **argv)
{
	char *boot = NULL;
	int r;

	if (argc != 4 || strcmp(argv[2], "--out") != 0) {
		fprintf(stderr, "Usage: aicert policy boot PROOF --out FILE\n");
		return CLI_EXIT_USAGE;
	}
	r = policy_boot_section(argv[1], &boot);
	if (r == 0)
		r = fileio_write_atomic(argv[3], boot, strlen(boot), 0644);
	free(boot);
	if (r < 0)
		return cli_fail(err_wrap(r, "%s", argv[1]));
	printf("boot reference written to %s\n", argv[3]);
	return CLI_EXIT_OK;
}

int cmd_policy(int argc, char **argv)
{
	struct policy_args a = {0};
	struct policy *check = NULL;
	char *yaml = NULL;
	int r;

	if (argc >= 2 && strcmp(argv[1], "boot") == 0)
		return policy_boot_cmd(argc - 1, argv + 1);
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
	if (r == 0 && a.boot_ref)
		r = policy_add_boot(a.boot_ref, &yaml);
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
