/* agent_lifecycle: restarts, resends, signals, TPM resets, damaged state and
 * the boot log; a TPM and an agent per test.
 *
 * Two tests guard fixed bugs: health_after_tpm_reset_counts_only_the_new_log
 * and sigterm_right_after_a_reply_exits_zero_every_time.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "agentproc.h"
#include "aicert.pb-c.h"
#include "cel.h"
#include "err.h"
#include "fileio.h"
#include "harness.h"
#include "rpc.h"
#include "tpmkey.h"

#include "fixture.h"

#define SIGTERM_CYCLES 40

static void assert_same_runtime_log(const Aicert__V1__EventLogReply *a,
				    const Aicert__V1__EventLogReply *b)
{
	assert_int_equal(a->runtime_log.len, b->runtime_log.len);
	if (a->runtime_log.len)
		assert_memory_equal(a->runtime_log.data, b->runtime_log.data, a->runtime_log.len);
}

static void restart_keeps_ak_and_runtime_log(void **state)
{
	struct fx *f = *state;
	uint8_t name1[TPMKEY_NAME_MAX], name2[TPMKEY_NAME_MAX];
	Aicert__V1__EventLogReply *ev1, *ev2;
	size_t len1, len2;

	ak_name(f->c, name1, &len1);
	extend_ok(f->c, 14, "input: base model", NULL);
	extend_ok(f->c, 14, "input: dataset", NULL);
	extend_ok(f->c, 8, "output: weights", NULL);
	ev1 = event_log(f->c);
	assert_int_equal(agentproc_restart(&f->agent, &f->tpm, NULL), 0);
	ak_name(f->c, name2, &len2);
	assert_int_equal(len1, len2);
	assert_memory_equal(name1, name2, len1);
	ev2 = event_log(f->c);
	assert_same_runtime_log(ev1, ev2);
	assert_int_equal(assert_log_replays(f->c), 3);
	assert_int_equal(extend_ok(f->c, 14, "input: code", NULL), 3);
	assert_int_equal(assert_log_replays(f->c), 4);
	aicert__v1__event_log_reply__free_unpacked(ev1, NULL);
	aicert__v1__event_log_reply__free_unpacked(ev2, NULL);
}

static void sigkill_then_start_keeps_ak_and_runtime_log(void **state)
{
	struct fx *f = *state;
	uint8_t name1[TPMKEY_NAME_MAX], name2[TPMKEY_NAME_MAX];
	Aicert__V1__EventLogReply *ev1, *ev2;
	size_t len1, len2;

	ak_name(f->c, name1, &len1);
	extend_ok(f->c, 14, "input: base model", NULL);
	extend_ok(f->c, 8, "output: weights", NULL);
	ev1 = event_log(f->c);
	assert_int_equal(agentproc_kill(&f->agent), 0);
	assert_int_equal(agentproc_start(&f->agent, &f->tpm, NULL), 0);
	ak_name(f->c, name2, &len2);
	assert_int_equal(len1, len2);
	assert_memory_equal(name1, name2, len1);
	ev2 = event_log(f->c);
	assert_same_runtime_log(ev1, ev2);
	assert_int_equal(extend_ok(f->c, 14, "input: after the crash", NULL), 2);
	assert_int_equal(assert_log_replays(f->c), 3);
	aicert__v1__event_log_reply__free_unpacked(ev1, NULL);
	aicert__v1__event_log_reply__free_unpacked(ev2, NULL);
}

/* The log of the TPM's previous reset cycle, kept aside by the agent. */
static void assert_old_log_kept(struct fx *f, uint32_t reset_count)
{
	char path[PATH_MAX];
	struct stat st;

	int n = snprintf(path, sizeof(path), "%s/runtime-log.state.reset-%u", f->agent.state_dir,
			 reset_count);

	assert_true(n > 0 && n < PATH_MAX);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size > 0);
}

/* After a TPM reset: an empty log of the new reset cycle, the same AK, and
 * extends that count from record 0 and PCR value 0. */
static void assert_new_cycle(struct fx *f, uint32_t old_reset, const ProtobufCBinaryData *ak)
{
	static const uint8_t zeros[32];
	Aicert__V1__EventLogReply *ev = event_log(f->c);
	uint8_t want[32], got[32];

	assert_int_equal(ev->runtime_log.len, 0);
	assert_int_equal(ev->reset_count, old_reset + 1);
	aicert__v1__event_log_reply__free_unpacked(ev, NULL);
	quote_and_verify(f->c, ak);
	read_pcr(f->c, 14, got);
	assert_memory_equal(got, zeros, 32);
	extended(zeros, "input: after the reset", want);
	assert_int_equal(extend_ok(f->c, 14, "input: after the reset", got), 0);
	assert_memory_equal(got, want, 32);
	assert_int_equal(assert_log_replays(f->c), 1);
	assert_old_log_kept(f, old_reset);
}

static void tpm_reset_under_running_agent_starts_new_log_with_same_ak(void **state)
{
	struct fx *f = *state;
	Aicert__V1__IdentityReply *id1 = identity(f->c), *id2;
	Aicert__V1__HealthReply *h1 = health(f->c), *h2;

	extend_ok(f->c, 14, "input: before the reset", NULL);
	extend_ok(f->c, 8, "output: before the reset", NULL);
	assert_int_equal(harness_swtpm_restart(&f->tpm), 0);
	assert_new_cycle(f, h1->reset_count, &id1->ak_public);
	h2 = health(f->c);
	assert_int_equal(h2->reset_count, h1->reset_count + 1);
	assert_int_equal(h2->runtime_events, 1);
	id2 = identity(f->c);
	assert_int_equal(id2->ak_name.len, id1->ak_name.len);
	assert_memory_equal(id2->ak_name.data, id1->ak_name.data, id1->ak_name.len);
	aicert__v1__identity_reply__free_unpacked(id1, NULL);
	aicert__v1__identity_reply__free_unpacked(id2, NULL);
	aicert__v1__health_reply__free_unpacked(h1, NULL);
	aicert__v1__health_reply__free_unpacked(h2, NULL);
}

/* Health right after a TPM reset, before any other call, must not report
 * the records of the log that the reset ended: agent_health() checks for a
 * TPM reset (as Extend and EventLog do) before it counts the records. */
static void health_after_tpm_reset_counts_only_the_new_log(void **state)
{
	struct fx *f = *state;
	Aicert__V1__HealthReply *h;
	uint32_t reset1, reset2;
	uint64_t events;

	h = health(f->c);
	reset1 = h->reset_count;
	aicert__v1__health_reply__free_unpacked(h, NULL);
	extend_ok(f->c, 14, "input: before the reset", NULL);
	extend_ok(f->c, 8, "output: before the reset", NULL);
	assert_int_equal(harness_swtpm_restart(&f->tpm), 0);
	h = health(f->c);
	reset2 = h->reset_count;
	events = h->runtime_events;
	aicert__v1__health_reply__free_unpacked(h, NULL);
	assert_int_equal(reset2, reset1 + 1);
	if (events != 0)
		fail_msg("agent_health reports %llu runtime events of the log the TPM reset "
			 "ended, with the new reset count",
			 (unsigned long long)events);
}

static void agent_restart_after_tpm_reset_starts_new_log_with_same_ak(void **state)
{
	struct fx *f = *state;
	Aicert__V1__IdentityReply *id1 = identity(f->c), *id2;
	Aicert__V1__HealthReply *h1 = health(f->c);

	extend_ok(f->c, 14, "input: before the reset", NULL);
	extend_ok(f->c, 8, "output: before the reset", NULL);
	assert_int_equal(agentproc_stop(&f->agent), 0);
	assert_int_equal(harness_swtpm_restart(&f->tpm), 0);
	assert_int_equal(agentproc_start(&f->agent, &f->tpm, NULL), 0);
	id2 = identity(f->c);
	assert_int_equal(id2->ak_name.len, id1->ak_name.len);
	assert_memory_equal(id2->ak_name.data, id1->ak_name.data, id1->ak_name.len);
	assert_new_cycle(f, h1->reset_count, &id1->ak_public);
	aicert__v1__identity_reply__free_unpacked(id1, NULL);
	aicert__v1__identity_reply__free_unpacked(id2, NULL);
	aicert__v1__health_reply__free_unpacked(h1, NULL);
}

static void assert_resend(struct rpc_client *c, uint64_t id, const char *content,
			  const struct ext *first)
{
	struct ext e;

	assert_extend_status(c, id, 14, EV_EVENT_TAG, content, NULL, RPC_OK, &e);
	assert_int_equal(e.recnum, first->recnum);
	assert_memory_equal(e.value, first->value, 32);
}

static void resent_extend_is_not_extended_twice_also_across_restart(void **state)
{
	struct fx *f = *state;
	uint64_t id_a = random_id(), id_b = random_id();
	struct ext a, b;
	uint8_t pcr[32];

	assert_extend_status(f->c, id_a, 14, EV_EVENT_TAG, "input: A", NULL, RPC_OK, &a);
	assert_extend_status(f->c, id_b, 14, EV_EVENT_TAG, "input: B", NULL, RPC_OK, &b);
	assert_int_equal(a.recnum, 0);
	assert_int_equal(b.recnum, 1);
	/* resent to the same agent: answered, not extended */
	assert_resend(f->c, id_a, "input: A", &a);
	assert_resend(f->c, id_b, "input: B", &b);
	read_pcr(f->c, 14, pcr);
	assert_memory_equal(pcr, b.value, 32);
	assert_int_equal(runtime_events(f->c), 2);
	/* and to the agent after a restart, from its persisted log: record A
	 * with PCR 14 as A left it */
	assert_int_equal(agentproc_restart(&f->agent, &f->tpm, NULL), 0);
	assert_resend(f->c, id_a, "input: A", &a);
	assert_resend(f->c, id_b, "input: B", &b);
	read_pcr(f->c, 14, pcr);
	assert_memory_equal(pcr, b.value, 32);
	assert_int_equal(runtime_events(f->c), 2);
	/* and after a crash */
	assert_int_equal(agentproc_kill(&f->agent), 0);
	assert_int_equal(agentproc_start(&f->agent, &f->tpm, NULL), 0);
	assert_resend(f->c, id_a, "input: A", &a);
	assert_int_equal(runtime_events(f->c), 2);
	/* a new request id is a new record */
	assert_int_equal(extend_ok(f->c, 14, "input: A", NULL), 2);
	assert_int_equal(assert_log_replays(f->c), 3);
}

/* Starting the agent on state it cannot trust fails, and says why. */
static void assert_start_refused(struct fx *f, const char *what)
{
	char log[8192];
	int status = agentproc_run(&f->agent, &f->tpm, NULL);

	assert_int_equal(agentproc_log(&f->agent, log, sizeof(log)), 0);
	print_message("status %d: %s", status, log);
	assert_true(status > 0 && status < 128);
	if (!strstr(log, what))
		fail_msg("expected '%s' in the agent's log", what);
}

static void damaged_runtime_log_stops_the_agent_from_starting(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX];
	uint8_t *buf = NULL;
	size_t len = 0;

	extend_ok(f->c, 14, "input: base model", NULL);
	assert_int_equal(agentproc_stop(&f->agent), 0);
	assert_true(snprintf(path, sizeof(path), "%s/runtime-log.state", f->agent.state_dir) <
		    PATH_MAX);
	assert_ok(fileio_read_all(path, 1u << 20, &buf, &len));
	assert_true(len > 8);
	/* cut short: never mistaken for an empty log */
	assert_int_equal(harness_write_file(path, buf, len - 3), 0);
	assert_start_refused(f, "runtime-log.state");
	/* restored, the agent starts and serves the log */
	assert_int_equal(harness_write_file(path, buf, len), 0);
	free(buf);
	assert_int_equal(agentproc_start(&f->agent, &f->tpm, NULL), 0);
	assert_int_equal(assert_log_replays(f->c), 1);
}

static void pcr_extended_behind_the_agents_back_stops_it_from_starting(void **state)
{
	struct fx *f = *state;
	char spec[128], quiet[4096];
	const char *argv[] = {"tpm2_pcrextend", "-T", f->tpm.tcti, spec, NULL};

	extend_ok(f->c, 14, "input: base model", NULL);
	assert_int_equal(agentproc_stop(&f->agent), 0);
	snprintf(spec, sizeof(spec), "14:sha256=%064d", 1);
	assert_int_equal(harness_run_capture(argv, quiet, sizeof(quiet), NULL), 0);
	assert_start_refused(f, "does not replay");
}

/* Appends a record of "input: B" with request id id to the runtime log
 * state file at path, as if the agent had persisted it and crashed before
 * the extend. */
static void append_unextended_record(const char *path, uint64_t id)
{
	Aicert__V1__AgentLogState *st = NULL, orig;
	struct cel_log log = {0};
	uint8_t *buf = NULL, *cel = NULL, *out, sha[32];
	uint64_t ids[2] = {0, id};
	size_t len = 0, cel_len = 0;

	assert_ok(fileio_read_all(path, 1u << 20, &buf, &len));
	assert_ok(rpc_unpack_strict(&aicert__v1__agent_log_state__descriptor, buf, len,
				    (ProtobufCMessage **)&st));
	assert_int_equal(st->n_request_ids, 1);
	assert_ok(cel_decode(st->cel.data, st->cel.len, &log));
	SHA256((const uint8_t *)"input: B", 8, sha);
	assert_ok(cel_append(&log, 14, sha, EV_EVENT_TAG, (const uint8_t *)"input: B", 8));
	assert_ok(cel_encode(&log, &cel, &cel_len));
	ids[0] = st->request_ids[0];
	orig = *st;
	st->cel.data = cel;
	st->cel.len = cel_len;
	st->request_ids = ids;
	st->n_request_ids = 2;
	out = malloc(aicert__v1__agent_log_state__get_packed_size(st));
	assert_non_null(out);
	assert_int_equal(harness_write_file(path, out, aicert__v1__agent_log_state__pack(st, out)),
			 0);
	free(out);
	free(cel);
	cel_clear(&log);
	/* the unpacked message's own buffers, swapped above, go back for freeing */
	*st = orig;
	aicert__v1__agent_log_state__free_unpacked(st, NULL);
	free(buf);
}

/* The agent persists a record before it extends: a crash in between leaves
 * a last record the PCRs never saw, which the next start drops. Made here
 * by appending a record to the state file of a stopped agent. */
static void log_record_whose_extend_never_happened_is_dropped_at_start(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX];
	uint64_t id_b = random_id();
	uint8_t pcr[32];
	struct ext a, e;

	assert_extend_status(f->c, 0, 14, EV_EVENT_TAG, "input: A", NULL, RPC_OK, &a);
	assert_int_equal(agentproc_stop(&f->agent), 0);
	assert_true(snprintf(path, sizeof(path), "%s/runtime-log.state", f->agent.state_dir) <
		    PATH_MAX);
	append_unextended_record(path, id_b);
	/* the restart drops B: one record, PCR 14 as A left it */
	assert_int_equal(agentproc_start(&f->agent, &f->tpm, NULL), 0);
	assert_int_equal(assert_log_replays(f->c), 1);
	read_pcr(f->c, 14, pcr);
	assert_memory_equal(pcr, a.value, 32);
	/* and B's request id, resent, is extended now, as record 1 */
	assert_ok(extend_call(f->c, id_b, 14, EV_EVENT_TAG, "input: B", 8, NULL, &e));
	assert_int_equal(e.status, RPC_OK);
	assert_int_equal(e.recnum, 1);
	free(e.message);
	assert_int_equal(assert_log_replays(f->c), 2);
}

struct looper {
	struct rpc_client *c;
	atomic_int *stop;
	int ok;
	int failed;
};

/* Quotes until told to stop or until a call fails (the agent went away). */
static void *loop_worker(void *arg)
{
	struct looper *l = arg;

	while (!atomic_load(l->stop)) {
		Aicert__V1__QuoteReply *q = NULL;
		uint8_t nonce[16] = {1};

		if (quote_call(l->c, nonce, sizeof(nonce), PCRS_0_8_14, 0, &q) < 0) {
			l->failed++;
			break;
		}
		aicert__v1__quote_reply__free_unpacked(q, NULL);
		l->ok++;
	}
	return NULL;
}

static void sigterm_with_clients_connected_exits_zero(void **state)
{
	struct fx *f = *state;
	struct looper l[4];
	pthread_t th[4];
	atomic_int stop = 0;
	struct rpc_client *idle = dial(f->agent.local_url, NULL, 3000);
	double t0;
	int busy = 0;

	aicert__v1__health_reply__free_unpacked(health(idle), NULL);
	for (int i = 0; i < 4; i++) {
		l[i] = (struct looper){.c = dial(f->agent.local_url, NULL, 3000), .stop = &stop};
		assert_int_equal(pthread_create(&th[i], NULL, loop_worker, &l[i]), 0);
	}
	for (int i = 0; i < 500 && busy < 4; i++) {
		usleep(10 * 1000);
		busy = 0;
		for (int j = 0; j < 4; j++)
			busy += l[j].ok > 0;
	}
	t0 = now_ms();
	assert_int_equal(agentproc_stop(&f->agent), 0);
	print_message("SIGTERM with 5 clients connected, 4 of them busy: exit 0 after %.0f ms\n",
		      now_ms() - t0);
	atomic_store(&stop, 1);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_true(l[i].ok > 0);
		rpc_client_free(l[i].c);
	}
	rpc_client_free(idle);
}

/* SIGTERM right after the agent answered: the worker that sent the reply may
 * still be inside nng when the listener closes. Repeated, because it is a
 * race.
 * rpc_listener_free() stops its workers before nng_close(): nng 1.5.2 panics
 * ("pthread_mutex_lock: Invalid argument") when nng_close() races a worker's
 * nng_ctx_send(), which failed this test in most runs before the fix. */
static void sigterm_right_after_a_reply_exits_zero_every_time(void **state)
{
	struct fx *f = *state;
	int cycles = 0;

	for (; cycles < SIGTERM_CYCLES; cycles++) {
		aicert__v1__health_reply__free_unpacked(health(f->c), NULL);
		if (agentproc_stop(&f->agent) < 0)
			break;
		assert_int_equal(agentproc_start(&f->agent, &f->tpm, NULL), 0);
	}
	if (cycles < SIGTERM_CYCLES)
		fail_msg("rpc_listener_free: the agent aborted on SIGTERM in cycle %d of %d "
			 "(nng panic: nng_close raced a worker's nng_ctx_send)",
			 cycles + 1, SIGTERM_CYCLES);
}

static void boot_log_and_ak_certificate_files_are_served_byte_for_byte(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX], crt[PATH_MAX];
	const char *with[] = {"--boot-log", path, NULL};
	const char *missing[] = {"--boot-log", "/nonexistent/binary_bios_measurements", NULL};
	Aicert__V1__EventLogReply *ev;
	Aicert__V1__IdentityReply *id;
	uint8_t boot[5000], cert[700];

	random_bytes(boot, sizeof(boot));
	random_bytes(cert, sizeof(cert));
	scratch(f, "binary_bios_measurements", path);
	assert_int_equal(harness_write_file(path, boot, sizeof(boot)), 0);
	/* the AK certificate that enrollment installs, read at start */
	assert_true(snprintf(crt, sizeof(crt), "%s/ak.crt", f->agent.state_dir) < PATH_MAX);
	assert_int_equal(harness_write_file(crt, cert, sizeof(cert)), 0);
	assert_int_equal(agentproc_restart(&f->agent, &f->tpm, with), 0);
	ev = event_log(f->c);
	assert_int_equal(ev->boot_log.len, sizeof(boot));
	assert_memory_equal(ev->boot_log.data, boot, sizeof(boot));
	aicert__v1__event_log_reply__free_unpacked(ev, NULL);
	id = identity(f->c);
	assert_int_equal(id->ak_cert_der.len, sizeof(cert));
	assert_memory_equal(id->ak_cert_der.data, cert, sizeof(cert));
	aicert__v1__identity_reply__free_unpacked(id, NULL);
	/* a platform without one (the local runner): empty */
	assert_int_equal(agentproc_restart(&f->agent, &f->tpm, missing), 0);
	ev = event_log(f->c);
	assert_int_equal(ev->boot_log.len, 0);
	aicert__v1__event_log_reply__free_unpacked(ev, NULL);
}

static void sighup_does_not_stop_the_agent(void **state)
{
	struct fx *f = *state;

	assert_int_equal(kill(f->agent.pid, SIGHUP), 0);
	usleep(100 * 1000);
	quote_and_verify(f->c, NULL);
	assert_int_equal(extend_ok(f->c, 14, "input: after SIGHUP", NULL), 0);
}

static const struct CMUnitTest tests[] = {
	TF(restart_keeps_ak_and_runtime_log, fx_setup),
	TF(sigkill_then_start_keeps_ak_and_runtime_log, fx_setup),
	TF(tpm_reset_under_running_agent_starts_new_log_with_same_ak, fx_setup),
	TF(health_after_tpm_reset_counts_only_the_new_log, fx_setup),
	TF(agent_restart_after_tpm_reset_starts_new_log_with_same_ak, fx_setup),
	TF(resent_extend_is_not_extended_twice_also_across_restart, fx_setup),
	TF(damaged_runtime_log_stops_the_agent_from_starting, fx_setup),
	TF(pcr_extended_behind_the_agents_back_stops_it_from_starting, fx_setup),
	TF(log_record_whose_extend_never_happened_is_dropped_at_start, fx_setup),
	TF(sigterm_with_clients_connected_exits_zero, fx_setup),
	TF(sigterm_right_after_a_reply_exits_zero_every_time, fx_setup),
	TF(boot_log_and_ak_certificate_files_are_served_byte_for_byte, fx_setup),
	TF(sighup_does_not_stop_the_agent, fx_setup),
};

const struct agent_group lifecycle_group = {
	"agent_lifecycle", tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL,
};
