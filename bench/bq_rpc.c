/* The rpc phase: bare nng round trips with a Quote's request and reply sizes,
 * then Quote calls through a running aicert-agent (generated stub via
 * agentc_quote) over its local ipc:// socket and its tls+tcp:// listener.
 *
 * The 1-client cases (bare nng and agent, each transport) run interleaved in
 * rounds, so that a burst of load from elsewhere on the machine hits them
 * alike; the multi-client cases follow, one after the other. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentc.h"
#include "bcase.h"
#include "bnng.h"
#include "bq.h"
#include "bq_wire.h"
#include "bstat.h"
#include "err.h"

static int bq_agent_quote(struct rpc_client *c, struct bq_wire_quote *q, uint64_t seq,
			  Aicert__V1__QuoteReply **keep)
{
	Aicert__V1__QuoteReply *rep = NULL;
	int r;

	bq_wire_nonce(q, seq);
	r = agentc_quote(c, &q->req, &rep);
	if (r < 0)
		return r;
	if (keep)
		*keep = rep;
	else
		protobuf_c_message_free_unpacked(&rep->base, NULL);
	return 0;
}

static int bq_dial(const struct bq_opts *o, const char *url, struct rpc_client **ret)
{
	struct agentc_opts ao = {
		.url = url, .tls_cert = o->tls_cert, .tls_key = o->tls_key, .tls_ca = o->tls_ca};

	return agentc_dial(&ao, ret);
}

/* A 1-client agent case: one rpc_client and its request. */
struct bq_agent_ctx {
	struct rpc_client *c;
	struct bq_wire_quote q;
};

static int bq_op_agent(void *ctx, uint64_t seq)
{
	struct bq_agent_ctx *a = ctx;

	return bq_agent_quote(a->c, &a->q, seq, NULL);
}

/* ---- multi-client cases ------------------------------------------------- */

/* The clients connect and warm up, report ready, and start together on go. */
struct bq_mc {
	const struct bq_opts *o;
	const char *url;
	struct rpc_client *shared;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned ready;
	bool go;
	bool cancel; /* not every thread started: measure nothing */
};

struct bq_thread {
	struct bq_mc *mc;
	pthread_t th;
	unsigned index;
	unsigned iters;
	unsigned warmup;
	struct bstat st;
	int err;
	char msg[256];
};

/* Reports ready and waits for go; false when the run is cancelled. */
static bool bq_thread_start(struct bq_mc *mc)
{
	bool run;

	pthread_mutex_lock(&mc->lock);
	mc->ready++;
	pthread_cond_broadcast(&mc->cond);
	while (!mc->go)
		pthread_cond_wait(&mc->cond, &mc->lock);
	run = !mc->cancel;
	pthread_mutex_unlock(&mc->lock);
	return run;
}

static void *bq_thread_main(void *arg)
{
	struct bq_thread *t = arg;
	struct rpc_client *own = NULL, *c = t->mc->shared;
	struct bq_wire_quote q;
	uint64_t seq = ((uint64_t)t->index << 32) + 1, t0, t1;
	int r = 0;

	bq_wire_init(&q);
	if (!c)
		r = bq_dial(t->mc->o, t->mc->url, &own);
	if (r == 0 && !c)
		c = own;
	for (unsigned i = 0; i < t->warmup && r == 0; i++)
		r = bq_agent_quote(c, &q, seq++, NULL);
	/* Failed or not, every thread reports ready, so that none waits forever. */
	if (bq_thread_start(t->mc)) {
		for (unsigned i = 0; i < t->iters && r == 0; i++) {
			t0 = bstat_now_ns();
			r = bq_agent_quote(c, &q, seq++, NULL);
			t1 = bstat_now_ns();
			bstat_add(&t->st, (double)(t1 - t0) / 1e3);
		}
	}
	if (r < 0) {
		t->err = r;
		snprintf(t->msg, sizeof(t->msg), "%s", err_msg(r));
	}
	rpc_client_free(own);
	return NULL;
}

/* Starts n threads; *started says how many did. */
static int bq_mc_spawn(struct bq_mc *mc, struct bq_thread *th, unsigned n, unsigned *started)
{
	const struct bq_opts *o = mc->o;

	for (unsigned i = 0; i < n; i++) {
		th[i] = (struct bq_thread){.mc = mc, .index = i + 1};
		th[i].iters = o->iters / n + (i < o->iters % n ? 1 : 0);
		th[i].warmup = o->warmup / n > 5 ? o->warmup / n : 5;
		if (pthread_create(&th[i].th, NULL, bq_thread_main, &th[i]) != 0)
			return err_set(AICERT_ERR_NOMEM, "cannot start client thread %u of %u",
				       i + 1, n);
		(*started)++;
	}
	return 0;
}

/* Waits until the started threads are ready, then lets them go. */
static void bq_mc_go(struct bq_mc *mc, unsigned started, bool cancel)
{
	pthread_mutex_lock(&mc->lock);
	while (mc->ready < started)
		pthread_cond_wait(&mc->cond, &mc->lock);
	mc->go = true;
	mc->cancel = cancel;
	pthread_cond_broadcast(&mc->cond);
	pthread_mutex_unlock(&mc->lock);
}

static int bq_mc_collect(struct bq_thread *th, unsigned n, struct bstat *all)
{
	int r = 0;

	for (unsigned i = 0; i < n; i++) {
		if (th[i].err < 0 && r == 0)
			r = err_set(th[i].err, "client %u: %s", i + 1, th[i].msg);
		if (r == 0)
			r = bstat_merge(all, &th[i].st);
	}
	return r;
}

static int bq_mc_save(const struct bq_opts *o, const char *transport, unsigned n, struct bstat *all,
		      double wall_s)
{
	struct bstat_summary sum;
	char key[BCASE_KEY_MAX];
	int r;

	snprintf(key, sizeof(key), "agent.%s.%s.c%u", o->label, transport, n);
	r = bstat_save(o->results, key, all, wall_s);
	bstat_summarize(all, wall_s, &sum);
	bcase_print(key, &sum);
	return r;
}

/* n threads share iters calls; throughput is over the wall time from the
 * moment all are connected and warm until the last finishes. */
static int bq_mc_case(const struct bq_opts *o, const char *transport, const char *url, unsigned n)
{
	struct bq_mc mc = {.o = o, .url = url};
	struct bq_thread *th = calloc(n, sizeof(*th));
	struct bstat all = {0};
	unsigned started = 0;
	uint64_t t0, t1;
	int r = th ? 0 : AICERT_ERR_NOMEM;

	if (r == 0 && o->shared_client)
		r = bq_dial(o, url, &mc.shared);
	if (r < 0)
		goto out;
	pthread_mutex_init(&mc.lock, NULL);
	pthread_cond_init(&mc.cond, NULL);
	r = bq_mc_spawn(&mc, th, n, &started);
	bq_mc_go(&mc, started, r < 0);
	t0 = bstat_now_ns();
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i].th, NULL);
	t1 = bstat_now_ns();
	if (r == 0)
		r = bq_mc_collect(th, started, &all);
	if (r == 0)
		r = bq_mc_save(o, transport, n, &all, (double)(t1 - t0) / 1e9);
	pthread_cond_destroy(&mc.cond);
	pthread_mutex_destroy(&mc.lock);
out:
	for (unsigned i = 0; th && i < started; i++)
		bstat_free(&th[i].st);
	free(th);
	bstat_free(&all);
	rpc_client_free(mc.shared);
	return r;
}

/* ---- the phase ---------------------------------------------------------- */

#define BQ_RPC_MAX_CLIENTS 12

struct bq_rpc {
	struct bq_agent_ctx agent[2]; /* ipc, tls */
	struct bnng_server *srv[3];   /* ipc, tcp, tls */
	struct bnng_client *cli[BQ_RPC_MAX_CLIENTS];
	size_t ncli;
	struct bcase_set set;
	size_t req_len, rep_len;       /* a Quote call */
	size_t id_req_len, id_rep_len; /* an Identity call */
};

static int bq_rpc_check(const struct bq_opts *o)
{
	if (!o->ipc_url)
		return err_set(AICERT_ERR_INVALID,
			       "rpc needs --ipc URL (the agent's local socket)");
	if (o->tls_url && (!o->tls_cert || !o->tls_key || !o->tls_ca))
		return err_set(AICERT_ERR_INVALID,
			       "--tls needs --tls-cert, --tls-key and --tls-ca");
	if (!o->no_nng && !o->work_dir)
		return err_set(AICERT_ERR_INVALID, "the nng baseline needs --work DIR");
	return 0;
}

static int bq_rpc_save_size(const struct bq_opts *o, const char *what, size_t v)
{
	char key[BCASE_KEY_MAX];

	snprintf(key, sizeof(key), "sizes.%s.%s", o->label, what);
	return bstat_save_value(o->results, key, (double)v);
}

/* One real Quote and one Identity over ipc: the sizes the baseline must
 * reproduce. */
static int bq_rpc_sizes(const struct bq_opts *o, struct bq_rpc *b)
{
	Aicert__V1__QuoteReply *rep = NULL;
	Aicert__V1__IdentityReply *id = NULL;
	int r;

	r = bq_agent_quote(b->agent[0].c, &b->agent[0].q, 0, &rep);
	if (r < 0)
		return err_wrap(r, "first Quote through %s", o->ipc_url);
	bq_wire_sizes(&b->agent[0].q, rep, &b->req_len, &b->rep_len);
	fprintf(stderr,
		"rpc %s: Quote request %zu bytes, reply %zu bytes (attest %zu, signature "
		"%zu, AK public %zu)\n",
		o->label, b->req_len, b->rep_len, rep->attest.len, rep->signature.len,
		rep->ak_public.len);
	protobuf_c_message_free_unpacked(&rep->base, NULL);
	r = agentc_identity(b->agent[0].c, &id);
	if (r < 0)
		return err_wrap(r, "Identity through %s", o->ipc_url);
	bq_wire_identity_sizes(id, &b->id_req_len, &b->id_rep_len);
	protobuf_c_message_free_unpacked(&id->base, NULL);
	r = bq_rpc_save_size(o, "req", b->req_len);
	if (r == 0)
		r = bq_rpc_save_size(o, "rep", b->rep_len);
	if (r == 0)
		r = bq_rpc_save_size(o, "id_req", b->id_req_len);
	if (r == 0)
		r = bq_rpc_save_size(o, "id_rep", b->id_rep_len);
	return r;
}

/* A client of the bare echo server at url, as case "nng.<label>.<name>". */
static int bq_rpc_nng(const struct bq_opts *o, struct bq_rpc *b, const char *url, const char *name,
		      size_t req_len, size_t rep_len, bool ctx_per_call)
{
	struct rpc_tls tls = {o->tls_cert, o->tls_key, o->tls_ca};
	struct bnng_client *c = NULL;
	char key[BCASE_KEY_MAX];
	int r;

	if (b->ncli == BQ_RPC_MAX_CLIENTS)
		return err_set(AICERT_ERR_INTERNAL, "too many bare nng clients");
	r = bnng_client_dial(url, &tls, req_len, rep_len, ctx_per_call, &c);
	if (r < 0)
		return err_wrap(r, "bare nng client of %s", url);
	b->cli[b->ncli++] = c;
	snprintf(key, sizeof(key), "nng.%s.%s", o->label, name);
	return bcase_add(&b->set, key, bnng_op, c);
}

/* The same against the echo process: across processes, as to the agent. */
static int bq_rpc_nng_echo(const struct bq_opts *o, struct bq_rpc *b)
{
	const char *url[2] = {o->echo_ipc, o->echo_tls};
	const char *name[2][2] = {{"xipc", "xipc.identity"}, {"xtls", "xtls.identity"}};
	int r = 0;

	for (size_t i = 0; i < 2 && r == 0; i++) {
		if (!url[i])
			continue;
		r = bq_rpc_nng(o, b, url[i], name[i][0], b->req_len, b->rep_len, false);
		if (r == 0)
			r = bq_rpc_nng(o, b, url[i], name[i][1], b->id_req_len, b->id_rep_len,
				       false);
	}
	return r;
}

/* Bare round trips of Quote sizes over ipc, tcp, tls (and as rpc_client
 * does it, a context per call), and of Identity sizes over ipc and tls. */
static int bq_rpc_nng_all(const struct bq_opts *o, struct bq_rpc *b)
{
	struct rpc_tls srv_tls = {o->srv_cert, o->srv_key, o->srv_ca};
	bool tls = o->srv_cert && o->srv_key && o->srv_ca && o->tls_cert;
	size_t q = b->req_len, p = b->rep_len, iq = b->id_req_len, ip = b->id_rep_len;
	char url[600];
	int r;

	snprintf(url, sizeof(url), "ipc://%s/bench-echo.sock", o->work_dir);
	r = bnng_server_start(url, NULL, NULL, NULL, &b->srv[0]);
	if (r == 0)
		r = bnng_server_start("tcp://127.0.0.1:0", NULL, NULL, NULL, &b->srv[1]);
	if (r == 0 && tls)
		r = bnng_server_start("tls+tcp://127.0.0.1:0", &srv_tls, NULL, NULL, &b->srv[2]);
	if (r == 0)
		r = bq_rpc_nng(o, b, bnng_server_url(b->srv[0]), "ipc", q, p, false);
	if (r == 0)
		r = bq_rpc_nng(o, b, bnng_server_url(b->srv[0]), "ipc.ctx", q, p, true);
	if (r == 0)
		r = bq_rpc_nng(o, b, bnng_server_url(b->srv[0]), "ipc.identity", iq, ip, false);
	if (r == 0)
		r = bq_rpc_nng(o, b, bnng_server_url(b->srv[1]), "tcp", q, p, false);
	if (r == 0 && tls)
		r = bq_rpc_nng(o, b, bnng_server_url(b->srv[2]), "tls", q, p, false);
	if (r == 0 && tls)
		r = bq_rpc_nng(o, b, bnng_server_url(b->srv[2]), "tls.ctx", q, p, true);
	if (r == 0 && tls)
		r = bq_rpc_nng(o, b, bnng_server_url(b->srv[2]), "tls.identity", iq, ip, false);
	if (r < 0)
		return r;
	return bq_rpc_nng_echo(o, b);
}

static int bq_op_identity(void *ctx, uint64_t seq)
{
	struct bq_agent_ctx *a = ctx;
	Aicert__V1__IdentityReply *id = NULL;
	int r;

	(void)seq;
	r = agentc_identity(a->c, &id);
	if (r == 0)
		protobuf_c_message_free_unpacked(&id->base, NULL);
	return r;
}

/* Quote over ipc (and tls), and Identity, the RPC layer with no TPM behind
 * it, the same way. */
static int bq_rpc_agent_cases(const struct bq_opts *o, struct bq_rpc *b)
{
	char key[BCASE_KEY_MAX];
	int r;

	snprintf(key, sizeof(key), "agent.%s.ipc.c1", o->label);
	r = bcase_add(&b->set, key, bq_op_agent, &b->agent[0]);
	snprintf(key, sizeof(key), "agent.%s.ipc.identity", o->label);
	if (r == 0)
		r = bcase_add(&b->set, key, bq_op_identity, &b->agent[0]);
	if (r < 0 || !o->tls_url)
		return r;
	bq_wire_init(&b->agent[1].q);
	r = bq_dial(o, o->tls_url, &b->agent[1].c);
	if (r < 0)
		return r;
	snprintf(key, sizeof(key), "agent.%s.tls.c1", o->label);
	r = bcase_add(&b->set, key, bq_op_agent, &b->agent[1]);
	snprintf(key, sizeof(key), "agent.%s.tls.identity", o->label);
	if (r == 0)
		r = bcase_add(&b->set, key, bq_op_identity, &b->agent[1]);
	return r;
}

static void bq_rpc_free(struct bq_rpc *b)
{
	bcase_free(&b->set);
	for (size_t i = 0; i < b->ncli; i++)
		bnng_client_free(b->cli[i]);
	for (size_t i = 0; i < 3; i++)
		bnng_server_stop(b->srv[i]);
	rpc_client_free(b->agent[0].c);
	rpc_client_free(b->agent[1].c);
}

int bq_rpc_run(const struct bq_opts *o)
{
	struct bq_rpc b = {0};
	int r;

	r = bq_rpc_check(o);
	if (r < 0)
		return r;
	bq_wire_init(&b.agent[0].q);
	r = bq_dial(o, o->ipc_url, &b.agent[0].c);
	if (r == 0)
		r = bq_rpc_sizes(o, &b);
	if (r == 0 && !o->no_nng)
		r = bq_rpc_nng_all(o, &b);
	if (r == 0)
		r = bq_rpc_agent_cases(o, &b);
	if (r == 0) {
		fprintf(stderr, "rpc %s: 1-client cases, %u rounds of %u calls each\n", o->label,
			o->rounds, o->iters / o->rounds);
		r = bcase_run(&b.set, o->results, o->warmup, o->iters, o->rounds);
	}
	if (r == 0)
		fprintf(stderr, "rpc %s: concurrent clients (%s)\n", o->label,
			o->shared_client ? "one shared rpc_client" : "one rpc_client per thread");
	for (size_t i = 0; i < o->nclients && r == 0; i++) {
		if (o->clients[i] < 2)
			continue;
		r = bq_mc_case(o, "ipc", o->ipc_url, o->clients[i]);
		if (r == 0 && o->tls_url)
			r = bq_mc_case(o, "tls", o->tls_url, o->clients[i]);
	}
	if (r == 0)
		r = bstat_save_value(o->results,
				     o->shared_client ? "clients.shared" : "clients.own", 1);
	bq_rpc_free(&b);
	return r;
}
