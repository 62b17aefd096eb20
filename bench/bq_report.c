/* The report phase: the figures of one run as a plain-text table, then the
 * ratios the benchmark exists for. Every ratio divides two figures measured
 * in the same run; a figure the run did not measure prints as "-". */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bq.h"
#include "bq_wire.h"
#include "bstat.h"
#include "err.h"

#define BQ_LINE                                                                                    \
	"-----------------------------------------------------------------------------------------------"

struct bq_report {
	const struct bq_opts *o;
	const struct bstat_results *res;
};

/* The figure "<a>.<b>[.<c>].<field>". */
static double bq_get(const struct bq_report *rp, const char *field, const char *a, const char *b,
		     const char *c)
{
	char key[128];

	snprintf(key, sizeof(key), "%s.%s%s%s", a, b, c ? "." : "", c ? c : "");
	return bstat_get(rp->res, key, field);
}

static void bq_num(double v, int width, int prec)
{
	if (isnan(v))
		printf(" %*s", width, "-");
	else
		printf(" %*.*f", width, prec, v);
}

/* One table row for the figures under key. */
static void bq_row(const struct bq_report *rp, const char *title, const char *key)
{
	double n = bstat_get(rp->res, key, "n");

	if (isnan(n))
		return;
	printf("  %-40s", title);
	bq_num(bstat_get(rp->res, key, "med_us"), 8, 1);
	bq_num(bstat_get(rp->res, key, "p99_us"), 8, 1);
	bq_num(bstat_get(rp->res, key, "mean_us"), 8, 1);
	bq_num(bstat_get(rp->res, key, "rate"), 8, 0);
	printf("  %7.0f-%-7.0f\n", bstat_get(rp->res, key, "chunk_med_min"),
	       bstat_get(rp->res, key, "chunk_med_max"));
}

/* The TPM's own time for a label, over every round: run.sh measures it
 * before and after each agent round. */
static double bq_tpm(const struct bq_report *rp, const char *label, const char *field)
{
	return bq_get(rp, field, "direct", label, "quote");
}

static void bq_header(const struct bq_report *rp)
{
	double req = bstat_get(rp->res, "sizes.ecc.req", NULL);
	double rep = bstat_get(rp->res, "sizes.ecc.rep", NULL);
	bool shared = !isnan(bstat_get(rp->res, "clients.shared", NULL));

	printf("aicert bench_quote: a Quote through aicert-agent, the TPM alone, bare nng\n");
	printf("%s\n", BQ_LINE);
	printf("TPM: swtpm over the swtpm TCTI (no resource manager); Quote of sha256:0,8,14\n"
	       "with a %d-byte nonce. About %.0f timed calls per case (ECC) in %.0f rounds, the\n"
	       "TPM-alone rounds bracketing the agent rounds. Times in us; the last column is\n"
	       "the range of the per-round medians.\n",
	       BQ_WIRE_NONCE_LEN, bstat_get(rp->res, "agent.ecc.ipc.c1", "n"),
	       bstat_get(rp->res, "agent.ecc.ipc.c1", "chunks"));
	printf("Quote on the wire (ECC AK): request %.0f B, reply %.0f B. Concurrent cases: %s.\n",
	       req, rep, shared ? "one shared rpc_client" : "one rpc_client per client thread");
	printf("%s\n", BQ_LINE);
	printf("  %-40s %8s %8s %8s %8s  %-15s\n", "case", "median", "p99", "mean", "calls/s",
	       "round medians");
}

static const char *const bq_transports[][2] = {
	{"ipc", "ipc://"}, {"tcp", "tcp://"}, {"tls", "tls+tcp://"}};
#define BQ_NTRANSPORTS 3

/* Rows "<prefix>.<label>.<transport><suffix>" titled "<transport> <what>". */
static void bq_rows(const struct bq_report *rp, const char *prefix, const char *label,
		    const char *suffix, const char *what)
{
	char key[96], title[96];

	for (size_t t = 0; t < BQ_NTRANSPORTS; t++) {
		snprintf(key, sizeof(key), "%s.%s.%s%s", prefix, label, bq_transports[t][0],
			 suffix);
		snprintf(title, sizeof(title), "%-11s %s", bq_transports[t][1], what);
		bq_row(rp, title, key);
	}
}

/* Rows of the echo process's servers, "nng.<label>.x<transport><suffix>". */
static void bq_row_x(const struct bq_report *rp, const char *label, const char *suffix,
		     const char *what)
{
	static const char *const x[][2] = {{"xipc", "ipc://"}, {"xtls", "tls+tcp://"}};
	char key[96], title[96];

	for (size_t t = 0; t < 2; t++) {
		snprintf(key, sizeof(key), "nng.%s.%s%s", label, x[t][0], suffix);
		snprintf(title, sizeof(title), "%-11s %s", x[t][1], what);
		bq_row(rp, title, key);
	}
}

static void bq_table_label(const struct bq_report *rp, const char *label, const char *alg)
{
	char key[96], title[96];

	printf("TPM direct, ESAPI in this process, %s AK\n", alg);
	snprintf(key, sizeof(key), "direct.%s.quote", label);
	bq_row(rp, "tpm_quote (Quote + PCR_Read + check)", key);
	snprintf(key, sizeof(key), "direct.%s.pcr_read", label);
	bq_row(rp, "  of which tpm_pcr_read alone", key);
	printf("ideal agent: a bare nng server thread calling tpm_quote, no RPC layer\n");
	bq_rows(rp, "ideal", label, "", " 1 client");
	printf("bare nng req/rep, %.0f B request, %.0f B reply (a Quote's)\n",
	       bq_get(rp, NULL, "sizes", label, "req"), bq_get(rp, NULL, "sizes", label, "rep"));
	bq_rows(rp, "nng", label, "", "send/recv");
	bq_rows(rp, "nng", label, ".ctx", "ctx+aio+msg per call");
	bq_row_x(rp, label, "", "server in another process");
	printf("aicert-agent Quote (agentc_quote), %s AK\n", alg);
	for (size_t t = 0; t < BQ_NTRANSPORTS; t++) {
		for (size_t i = 0; i < rp->o->nclients; i++) {
			unsigned n = rp->o->clients[i];

			snprintf(key, sizeof(key), "agent.%s.%s.c%u", label, bq_transports[t][0],
				 n);
			snprintf(title, sizeof(title), "%-11s %2u client%s", bq_transports[t][1], n,
				 n == 1 ? "" : "s");
			bq_row(rp, title, key);
		}
	}
	printf("RPC layer alone: Identity (no TPM, no lock), %.0f B request, %.0f B reply\n",
	       bq_get(rp, NULL, "sizes", label, "id_req"),
	       bq_get(rp, NULL, "sizes", label, "id_rep"));
	bq_rows(rp, "nng", label, ".identity", "bare nng");
	bq_row_x(rp, label, ".identity", "bare nng, other process");
	bq_rows(rp, "agent", label, ".identity", "agent Identity");
}

/* agent Identity / bare nng of the same sizes. */
static void bq_ratio_identity(const struct bq_report *rp, const char *label, const char *transport,
			      const char *title)
{
	char id[32];
	double agent, nng;

	snprintf(id, sizeof(id), "%s.identity", transport);
	agent = bq_get(rp, "med_us", "agent", label, id);
	nng = bq_get(rp, "med_us", "nng", label, id);
	if (!isnan(agent / nng))
		printf("  %-4s %-11s %7.1f / %6.1f = %5.2fx  (RPC layer %+.0f us)\n", label, title,
		       agent, nng, agent / nng, agent - nng);
	snprintf(id, sizeof(id), "x%s.identity", transport);
	nng = bq_get(rp, "med_us", "nng", label, id);
	if (!isnan(agent / nng))
		printf("  %-4s %-11s %7.1f / %6.1f = %5.2fx  (RPC layer %+.0f us) bare server in "
		       "another process\n",
		       label, title, agent, nng, agent / nng, agent - nng);
}

/* (agent 1-client median - TPM median) / bare nng median, and the same
 * against the ideal agent measured with the TPM behind it. */
static void bq_ratio_overhead(const struct bq_report *rp, const char *label, const char *transport,
			      const char *title)
{
	double tpm = bq_tpm(rp, label, "med_us");
	double agent, nng, xnng, ideal, ratio;
	char c1[32];

	snprintf(c1, sizeof(c1), "%s.c1", transport);
	agent = bq_get(rp, "med_us", "agent", label, c1);
	nng = bq_get(rp, "med_us", "nng", label, transport);
	ideal = bq_get(rp, "med_us", "ideal", label, transport);
	ratio = (agent - tpm) / nng;
	if (!isnan(ratio))
		printf("  %-4s %-11s (%7.1f - %7.1f) / %6.1f = %5.2fx  (goal <= 1.25x) %s\n", label,
		       title, agent, tpm, nng, ratio, ratio <= 1.25 ? "met" : "ABOVE");
	snprintf(c1, sizeof(c1), "x%s", transport);
	xnng = bq_get(rp, "med_us", "nng", label, c1);
	ratio = (agent - tpm) / xnng;
	if (!isnan(ratio))
		printf("  %-4s %-11s (%7.1f - %7.1f) / %6.1f = %5.2fx  with the bare server in "
		       "another process\n",
		       label, title, agent, tpm, xnng, ratio);
	ratio = (agent - tpm) / (ideal - tpm);
	if (!isnan(ratio))
		printf("  %-4s %-11s (%7.1f - %7.1f) / (%6.1f - %6.1f) = %5.2fx  vs the ideal "
		       "agent; RPC layer %+.0f us\n",
		       label, title, agent, tpm, ideal, tpm, ratio, agent - ideal);
}

/* agent throughput with n clients / the TPM's direct quote rate. */
static void bq_ratio_rate(const struct bq_report *rp, const char *label, const char *transport,
			  const char *title, unsigned n)
{
	double tpm = bq_tpm(rp, label, "rate");
	double rate;
	char key[96];

	snprintf(key, sizeof(key), "agent.%s.%s.c%u", label, transport, n);
	rate = bstat_get(rp->res, key, "rate");
	if (isnan(rate / tpm))
		return;
	printf("  %-4s %-11s %2u client%s %7.0f/s / %7.0f/s = %5.2fx  (goal ~1.0x)\n", label, title,
	       n, n == 1 ? " " : "s", rate, tpm, rate / tpm);
}

static void bq_ratios(const struct bq_report *rp)
{
	static const char *const labels[] = {"ecc", "rsa"};
	double rsa, ecc;

	printf("%s\nRPC overhead, 1 client, medians: (agent - TPM direct) / bare nng round trip;\n"
	       "then the same over (ideal agent - TPM direct), the transport's share measured\n"
	       "with the TPM behind it, and agent - ideal agent, the RPC layer's own cost\n",
	       BQ_LINE);
	for (size_t l = 0; l < 2; l++) {
		bq_ratio_overhead(rp, labels[l], "ipc", "ipc://");
		bq_ratio_overhead(rp, labels[l], "tls", "tls+tcp://");
	}
	printf("RPC layer alone, no TPM: agent Identity / bare nng of the same sizes, medians\n");
	for (size_t l = 0; l < 2; l++) {
		bq_ratio_identity(rp, labels[l], "ipc", "ipc://");
		bq_ratio_identity(rp, labels[l], "tls", "tls+tcp://");
	}
	printf("Throughput with concurrent clients / direct TPM quote rate\n");
	for (size_t l = 0; l < 2; l++)
		for (size_t i = 0; i < rp->o->nclients; i++) {
			bq_ratio_rate(rp, labels[l], "ipc", "ipc://", rp->o->clients[i]);
			bq_ratio_rate(rp, labels[l], "tls", "tls+tcp://", rp->o->clients[i]);
		}
	rsa = bq_tpm(rp, "rsa", "med_us");
	ecc = bq_tpm(rp, "ecc", "med_us");
	if (!isnan(rsa / ecc))
		printf("RSA-2048 vs ECC P-256 AK: TPM quote %.2fx, agent ipc:// 1 client %.2fx\n",
		       rsa / ecc,
		       bstat_get(rp->res, "agent.rsa.ipc.c1", "med_us") /
			       bstat_get(rp->res, "agent.ecc.ipc.c1", "med_us"));
}

int bq_report_run(const struct bq_opts *o)
{
	struct bstat_results *res = NULL;
	struct bq_report rp = {.o = o};
	int r;

	r = bstat_load(o->results, &res);
	if (r < 0)
		return r;
	rp.res = res;
	bq_header(&rp);
	bq_table_label(&rp, "ecc", "ECC P-256");
	if (!isnan(bstat_get(res, "direct.rsa.quote", "n"))) {
		printf("%s\n", BQ_LINE);
		bq_table_label(&rp, "rsa", "RSA-2048");
	}
	bq_ratios(&rp);
	bstat_results_free(res);
	return 0;
}
