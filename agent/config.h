/* aicert-agent's configuration: a strict YAML file, then command-line flags
 * on top of it. */
#ifndef AICERT_AGENT_CONFIG_H
#define AICERT_AGENT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "tpm.h"

#define AGENT_DEFAULT_TCTI      "device:/dev/tpmrm0"
#define AGENT_DEFAULT_STATE_DIR "/var/lib/aicert-agent"
#define AGENT_DEFAULT_LOCAL     "ipc:///run/aicert-agent/agent.sock"
#define AGENT_DEFAULT_BOOT_LOG  "/sys/kernel/security/tpm0/binary_bios_measurements"
/* PCRs a local client may extend: outputs (8) and inputs (14). */
#define AGENT_DEFAULT_EXTEND_PCRS ((1u << 8) | (1u << 14))

struct agent_config {
	char *tcti;
	char *state_dir;
	char *local_url;  /* ipc://: the local socket, serving Extend */
	char *listen_url; /* tls+tcp://: the network listener, or NULL */
	char *tls_cert;
	char *tls_key;
	char *tls_ca;
	char *boot_log; /* the firmware event log to serve, "" for none */
	/* The one controller this runner serves: its SHA-256 goes into PCR 15
	 * as the runtime log's first record (events.h). NULL: no binding. */
	char *controller_identity;
	enum tpm_keyalg ek_alg;
	enum tpm_keyalg ak_alg;
	uint32_t extend_pcrs; /* bit i: PCR i may be extended */
	uint32_t workers;     /* threads per listener */
	bool verbose;
};

/* Fills cfg with the defaults above. */
int config_defaults(struct agent_config *cfg);

/* Overlays the keys of a YAML file onto cfg; unknown keys, wrong types and
 * out-of-range values are errors with file:line:col. */
int config_load(struct agent_config *cfg, const char *path);

/* Parses argv (getopt_long) onto cfg; --config FILE is read first, wherever
 * it appears, so that flags override the file. Returns 1 after printing
 * --help or --version, 0 to run, or an error. */
int config_parse_args(struct agent_config *cfg, int argc, char **argv);

/* Checks the combination: a local socket is required, a network listener
 * needs all three TLS files. */
int config_validate(const struct agent_config *cfg);

void config_free(struct agent_config *cfg);

#endif
