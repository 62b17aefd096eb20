/* libFuzzer target: the RPC server's handling of one received message,
 * envelope and payload, on a local and a network listener, with a service
 * whose handlers reply like the agent's do. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aicert.pb-c.h"
#include "err.h"
#include "rpc.h"
#include "rpc_internal.h"

static void f_health(Aicert__V1__Agent_Service *svc, const Aicert__V1__HealthRequest *in,
		     Aicert__V1__HealthReply_Closure closure, void *data)
{
	Aicert__V1__HealthReply out = AICERT__V1__HEALTH_REPLY__INIT;

	out.version = "fuzz";
	closure(&out, data);
}

static void f_extend(Aicert__V1__Agent_Service *svc, const Aicert__V1__ExtendRequest *in,
		     Aicert__V1__ExtendReply_Closure closure, void *data)
{
	Aicert__V1__ExtendReply out = AICERT__V1__EXTEND_REPLY__INIT;

	out.pcr_value = in->sha256;
	closure(&out, data);
}

static void f_quote(Aicert__V1__Agent_Service *svc, const Aicert__V1__QuoteRequest *in,
		    Aicert__V1__QuoteReply_Closure closure, void *data)
{
	Aicert__V1__QuoteReply out = AICERT__V1__QUOTE_REPLY__INIT;

	if (in->n_banks == 0) {
		rpc_call_fail(data, RPC_INVALID_ARGUMENT, "no banks");
		closure(NULL, data);
		return;
	}
	out.attest = in->qualifying_data;
	closure(&out, data);
}

#define f_identity            NULL
#define f_activate_credential NULL
#define f_read_pcrs           NULL
#define f_event_log           NULL

static Aicert__V1__Agent_Service fuzz_service = AICERT__V1__AGENT__INIT(f_);
static struct rpc_server *fuzz_server;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *out = NULL;
	size_t out_len;
	Aicert__V1__Response *resp;

	if (!fuzz_server) {
		if (rpc_server_new(&fuzz_service.base, &fuzz_server) < 0)
			abort();
		rpc_server_set_flags(fuzz_server, "Extend",
				     RPC_METHOD_LOCAL_ONLY | RPC_METHOD_MUTATING);
	}
	for (int local = 0; local < 2; local++) {
		if (rpc_server_handle_bytes(fuzz_server, local, data, size, &out, &out_len) != 0)
			continue;
		/* Whatever came in, a well-formed Response goes out. */
		resp = aicert__v1__response__unpack(NULL, out_len, out);
		if (!resp)
			abort();
		if (resp->status == 0 && !local && resp->payload.len && size > 0) {
			/* Extend never succeeds off the local socket. */
			Aicert__V1__Request *req = aicert__v1__request__unpack(NULL, size, data);

			if (req && req->method &&
			    protobuf_c_service_descriptor_get_method_by_name(
				    &aicert__v1__agent__descriptor, "Extend") &&
			    !strcmp(req->method, "aicert.v1.Agent/Extend"))
				abort();
			if (req)
				aicert__v1__request__free_unpacked(req, NULL);
		}
		aicert__v1__response__free_unpacked(resp, NULL);
		free(out);
	}
	return 0;
}
