/* aicert-agent's service: the Agent RPC methods over the TPM, with one lock
 * serialising every TPM command. */
#ifndef AICERT_AGENT_AGENT_H
#define AICERT_AGENT_AGENT_H

struct agent;
struct agent_config;

/* Largest boot event log served. */
#define AGENT_MAX_BOOT_LOG (8u << 20)

/* Opens the TPM and the runtime log, then starts the local listener (with
 * Extend) and, if configured, the network listener (mutual TLS, without
 * Extend). cfg must outlive the agent. */
int agent_start(const struct agent_config *cfg, struct agent **ret);

/* Stops the listeners, waits for calls in progress, flushes the TPM objects.
 * NULL-safe. */
void agent_stop(struct agent *a);

#endif
