#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"
#include "yamlx.h"

static int config_set(char **field, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return AICERT_ERR_NOMEM;
	free(*field);
	*field = copy;
	return 0;
}

int config_defaults(struct agent_config *cfg)
{
	int r = 0;

	memset(cfg, 0, sizeof(*cfg));
	r |= config_set(&cfg->tcti, AGENT_DEFAULT_TCTI);
	r |= config_set(&cfg->state_dir, AGENT_DEFAULT_STATE_DIR);
	r |= config_set(&cfg->local_url, AGENT_DEFAULT_LOCAL);
	r |= config_set(&cfg->boot_log, AGENT_DEFAULT_BOOT_LOG);
	cfg->ek_alg = TPM_KEYALG_RSA;
	cfg->ak_alg = TPM_KEYALG_ECC;
	cfg->extend_pcrs = AGENT_DEFAULT_EXTEND_PCRS;
	cfg->workers = 4;
	return r ? AICERT_ERR_NOMEM : 0;
}

void config_free(struct agent_config *cfg)
{
	char **fields[] = {&cfg->tcti,       &cfg->state_dir, &cfg->local_url,
			   &cfg->listen_url, &cfg->tls_cert,  &cfg->tls_key,
			   &cfg->tls_ca,     &cfg->boot_log,  &cfg->controller_identity};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		free(*fields[i]);
		*fields[i] = NULL;
	}
}

static const char *const alg_names[] = {"default", "rsa", "ecc", NULL};

static int config_str(struct yamlx *y, yaml_node_t *map, const char *key, char **field)
{
	yaml_node_t *n = yamlx_get(y, map, key);
	const char *s;
	int r;

	if (!n)
		return 0;
	r = yamlx_str(y, n, key, &s);
	return r < 0 ? r : config_set(field, s);
}

static int config_alg(struct yamlx *y, yaml_node_t *map, const char *key, enum tpm_keyalg *out)
{
	yaml_node_t *n = yamlx_get(y, map, key);
	unsigned i;
	int r;

	if (!n)
		return 0;
	r = yamlx_enum(y, n, key, alg_names + 1, &i);
	if (r == 0)
		*out = (enum tpm_keyalg)(i + 1);
	return r;
}

static int config_pcrs(struct yamlx *y, yaml_node_t *map, uint32_t *mask)
{
	yaml_node_t *n = yamlx_get(y, map, "extend_pcrs");
	size_t count;
	uint32_t m = 0, pcr;
	int r;

	if (!n)
		return 0;
	r = yamlx_seq(y, n, "extend_pcrs", &count);
	for (size_t i = 0; r == 0 && i < count; i++) {
		r = yamlx_u32(y, yamlx_item(y, n, i), "extend_pcrs", 8, 23, &pcr);
		if (r == 0)
			m |= 1u << pcr;
	}
	if (r == 0)
		*mask = m;
	return r;
}

static int config_tls(struct yamlx *y, yaml_node_t *map, struct agent_config *cfg)
{
	static const char *const keys[] = {"cert", "key", "ca", NULL};
	yaml_node_t *n = yamlx_get(y, map, "tls");
	int r;

	if (!n)
		return 0;
	r = yamlx_check_map(y, n, keys);
	if (r == 0)
		r = config_str(y, n, "cert", &cfg->tls_cert);
	if (r == 0)
		r = config_str(y, n, "key", &cfg->tls_key);
	if (r == 0)
		r = config_str(y, n, "ca", &cfg->tls_ca);
	return r;
}

int config_load(struct agent_config *cfg, const char *path)
{
	static const char *const keys[] = {"tcti",
					   "state_dir",
					   "local",
					   "listen",
					   "tls",
					   "boot_log",
					   "ek_alg",
					   "ak_alg",
					   "extend_pcrs",
					   "workers",
					   "controller_identity",
					   NULL};
	struct yamlx y;
	yaml_node_t *root, *n;
	int r;

	r = yamlx_load_file(path, &y);
	if (r < 0)
		return r;
	root = yamlx_root(&y);
	r = yamlx_check_map(&y, root, keys);
	if (r == 0)
		r = config_str(&y, root, "tcti", &cfg->tcti);
	if (r == 0)
		r = config_str(&y, root, "state_dir", &cfg->state_dir);
	if (r == 0)
		r = config_str(&y, root, "local", &cfg->local_url);
	if (r == 0)
		r = config_str(&y, root, "listen", &cfg->listen_url);
	if (r == 0)
		r = config_str(&y, root, "boot_log", &cfg->boot_log);
	if (r == 0)
		r = config_str(&y, root, "controller_identity", &cfg->controller_identity);
	if (r == 0)
		r = config_tls(&y, root, cfg);
	if (r == 0)
		r = config_alg(&y, root, "ek_alg", &cfg->ek_alg);
	if (r == 0)
		r = config_alg(&y, root, "ak_alg", &cfg->ak_alg);
	if (r == 0)
		r = config_pcrs(&y, root, &cfg->extend_pcrs);
	if (r == 0 && (n = yamlx_get(&y, root, "workers")))
		r = yamlx_u32(&y, n, "workers", 1, 64, &cfg->workers);
	yamlx_free(&y);
	return r;
}

static void config_usage(void)
{
	printf("Usage: aicert-agent [OPTIONS]\n"
	       "The aicert TPM agent: serves identity, quotes, PCRs and event logs, and\n"
	       "extends PCRs for local clients only.\n\n"
	       "  --config FILE        YAML configuration (flags override it)\n"
	       "  --tcti STR           TPM connection (default " AGENT_DEFAULT_TCTI ")\n"
	       "  --state-dir DIR      AK blobs and runtime event log (default " AGENT_DEFAULT_STATE_DIR
	       ")\n"
	       "  --local ipc://PATH   local socket, the only one serving Extend\n"
	       "                       (default " AGENT_DEFAULT_LOCAL ")\n"
	       "  --listen tls+tcp://HOST:PORT  network listener, mutual TLS\n"
	       "  --tls-cert FILE      this agent's certificate (PEM)\n"
	       "  --tls-key FILE       its private key (PEM)\n"
	       "  --tls-ca FILE        CA that controller certificates must chain to\n"
	       "  --controller-identity FILE  bind this runner to one controller: the\n"
	       "                       file's SHA-256 into PCR 15 at start (first record)\n"
	       "  --boot-log FILE      firmware event log to serve, \"\" for none\n"
	       "                       (default " AGENT_DEFAULT_BOOT_LOG ")\n"
	       "  --ek-alg rsa|ecc     EK to create the AK under (default rsa)\n"
	       "  --ak-alg ecc|rsa     algorithm of a new AK (default ecc, P-256)\n"
	       "  --verbose            debug logging\n"
	       "  --help, --version\n");
}

enum {
	OPT_CONFIG = 256,
	OPT_TCTI,
	OPT_STATE_DIR,
	OPT_LOCAL,
	OPT_LISTEN,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_TLS_CA,
	OPT_BOOT_LOG,
	OPT_CONTROLLER,
	OPT_EK_ALG,
	OPT_AK_ALG,
	OPT_VERBOSE,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option config_options[] = {
	{"config", required_argument, NULL, OPT_CONFIG},
	{"tcti", required_argument, NULL, OPT_TCTI},
	{"state-dir", required_argument, NULL, OPT_STATE_DIR},
	{"local", required_argument, NULL, OPT_LOCAL},
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"tls-cert", required_argument, NULL, OPT_TLS_CERT},
	{"tls-key", required_argument, NULL, OPT_TLS_KEY},
	{"tls-ca", required_argument, NULL, OPT_TLS_CA},
	{"controller-identity", required_argument, NULL, OPT_CONTROLLER},
	{"boot-log", required_argument, NULL, OPT_BOOT_LOG},
	{"ek-alg", required_argument, NULL, OPT_EK_ALG},
	{"ak-alg", required_argument, NULL, OPT_AK_ALG},
	{"verbose", no_argument, NULL, OPT_VERBOSE},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

static int config_parse_alg(const char *flag, const char *s, enum tpm_keyalg *out)
{
	if (strcmp(s, "rsa") == 0)
		*out = TPM_KEYALG_RSA;
	else if (strcmp(s, "ecc") == 0)
		*out = TPM_KEYALG_ECC;
	else
		return err_set(AICERT_ERR_INVALID, "--%s: expected rsa or ecc, not '%s'", flag, s);
	return 0;
}

static int config_apply(struct agent_config *cfg, int opt, const char *arg)
{
	switch (opt) {
	case OPT_TCTI:
		return config_set(&cfg->tcti, arg);
	case OPT_STATE_DIR:
		return config_set(&cfg->state_dir, arg);
	case OPT_LOCAL:
		return config_set(&cfg->local_url, arg);
	case OPT_LISTEN:
		return config_set(&cfg->listen_url, arg);
	case OPT_TLS_CERT:
		return config_set(&cfg->tls_cert, arg);
	case OPT_TLS_KEY:
		return config_set(&cfg->tls_key, arg);
	case OPT_TLS_CA:
		return config_set(&cfg->tls_ca, arg);
	case OPT_BOOT_LOG:
		return config_set(&cfg->boot_log, arg);
	case OPT_CONTROLLER:
		return config_set(&cfg->controller_identity, arg);
	case OPT_EK_ALG:
		return config_parse_alg("ek-alg", arg, &cfg->ek_alg);
	case OPT_AK_ALG:
		return config_parse_alg("ak-alg", arg, &cfg->ak_alg);
	case OPT_VERBOSE:
		cfg->verbose = true;
		return 0;
	default:
		return 0;
	}
}

int config_parse_args(struct agent_config *cfg, int argc, char **argv)
{
	int opt, r;

	/* First pass: --config, --help, --version and unknown options. */
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", config_options, NULL)) != -1) {
		if (opt == '?' || opt == ':')
			return err_set(AICERT_ERR_INVALID, "unknown option or missing value: %s",
				       argv[optind - 1]);
		if (opt == OPT_HELP) {
			config_usage();
			return 1;
		}
		if (opt == OPT_VERSION) {
			printf("aicert-agent %s\n", AICERT_VERSION);
			return 1;
		}
		if (opt == OPT_CONFIG && (r = config_load(cfg, optarg)) < 0)
			return r;
	}
	if (optind < argc)
		return err_set(AICERT_ERR_INVALID, "unexpected argument: %s", argv[optind]);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", config_options, NULL)) != -1)
		if ((r = config_apply(cfg, opt, optarg)) < 0)
			return r;
	return 0;
}

int config_validate(const struct agent_config *cfg)
{
	if (!cfg->local_url || strncmp(cfg->local_url, "ipc://", 6) != 0)
		return err_set(AICERT_ERR_INVALID, "--local must be an ipc:// URL");
	if (cfg->listen_url) {
		if (strncmp(cfg->listen_url, "tls+tcp://", 10) != 0)
			return err_set(AICERT_ERR_INVALID,
				       "--listen must be a tls+tcp:// URL: the network listener "
				       "always uses mutual TLS");
		if (!cfg->tls_cert || !cfg->tls_key || !cfg->tls_ca)
			return err_set(AICERT_ERR_INVALID,
				       "--listen needs --tls-cert, --tls-key and --tls-ca");
	}
	return 0;
}
