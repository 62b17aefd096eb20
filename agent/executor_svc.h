/* The executor's RPC service (aicert.v1.Executor in proto/aicert.proto):
 * the controller drives one job through it, from outside the runner, and
 * only ever supplies bytes or asks. Everything measured is measured here, by
 * executor.c, through the agent's local socket.
 *
 * One job per service: StartJob once; then, for each input in the job's
 * order, PutFile chunks (local inputs) and StageInput; Run; Poll until done;
 * Finish; ReadOutput. A call out of that order gets FAILED_PRECONDITION
 * (AICERT_ERR_STATE) and changes nothing.
 */
#ifndef AICERT_AGENT_EXECUTOR_SVC_H
#define AICERT_AGENT_EXECUTOR_SVC_H

#include <stdbool.h>
#include <sys/types.h>

#include <protobuf-c/protobuf-c.h>

#define EXECUTOR_SVC_MAX_BACKLOG (64u << 20) /* command output not yet polled */
#define EXECUTOR_SVC_MAX_POLL    (1u << 20)  /* output bytes in one PollReply */
#define EXECUTOR_SVC_MAX_READ    (1u << 20)  /* bytes in one ReadOutputReply */
#define EXECUTOR_SVC_MAX_WAIT_MS 10000u

struct executor_svc_opts {
	const char *agent_url;   /* the agent's local socket */
	const char *workspace;   /* the job's directory */
	const char *const *hide; /* hidden from the command, NULL-terminated */
	uid_t run_uid;           /* see executor_opts */
	gid_t run_gid;
	const char *ca_file; /* CAs for https and git fetches; NULL: the system's */
	/* The controller runs on this machine (the local runner): StartJob may
	 * give local_base, and the job may then name local git repositories. */
	bool allow_local_base;
};

struct executor_svc;

int executor_svc_new(const struct executor_svc_opts *o, struct executor_svc **ret);
/* Kills a command still running, waits for it, frees everything. */
void executor_svc_free(struct executor_svc *s);
ProtobufCService *executor_svc_service(struct executor_svc *s);

#endif
