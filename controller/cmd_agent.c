/* aicert agent identity|pcrs|quote|eventlog|health: low-level calls to one
 * agent, for operators and tests. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "agentc.h"
#include "attest.h"
#include "cel.h"
#include "cli.h"
#include "err.h"
#include "fileio.h"
#include "hex.h"
#include "tpm2tools.h"
#include "tpmkey.h"

struct agent_args {
	struct agentc_opts dial;
	const char *out_dir;
	const char *nonce_hex;
	const char *pcrs;
	const char *bank;
};

enum { OPT_OUT = 1, OPT_NONCE, OPT_PCRS, OPT_BANK, OPT_HELP };

static const struct option agent_options[] = {
	AGENTC_LONG_OPTIONS,
	{"out", required_argument, NULL, OPT_OUT},
	{"nonce", required_argument, NULL, OPT_NONCE},
	{"pcrs", required_argument, NULL, OPT_PCRS},
	{"bank", required_argument, NULL, OPT_BANK},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

static void agent_usage(FILE *f)
{
	fprintf(f, "Usage: aicert agent SUBCOMMAND --agent URL [OPTIONS]\n\n"
		   "  health                      version, TPM, counters\n"
		   "  identity [--out DIR]        EK and AK; writes ak.pub.pem, ak.name, ek-*.der\n"
		   "  pcrs [--pcrs LIST] [--bank sha256|sha1|sha384|sha512]\n"
		   "  quote --nonce HEX --pcrs LIST [--bank ALG] --out DIR\n"
		   "                              writes quote.msg, quote.sig, quote.pcrs and\n"
		   "                              ak.pub.pem for tpm2_checkquote\n"
		   "  eventlog [--out DIR]        runtime records; writes boot.bin, runtime.cel\n\n"
		   "Options:\n" AGENTC_USAGE);
}

static int agent_bank(const char *name, uint32_t *alg)
{
	static const struct {
		const char *name;
		uint32_t alg;
	} banks[] = {{"sha1", 0x0004}, {"sha256", 0x000b}, {"sha384", 0x000c}, {"sha512", 0x000d}};

	for (size_t i = 0; i < sizeof(banks) / sizeof(banks[0]); i++) {
		if (strcmp(name ? name : "sha256", banks[i].name) == 0) {
			*alg = banks[i].alg;
			return 0;
		}
	}
	return err_set(AICERT_ERR_INVALID, "--bank: expected sha1, sha256, sha384 or sha512");
}

static int agent_write(const char *dir, const char *name, const void *buf, size_t len)
{
	char *path = NULL;
	int r;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return AICERT_ERR_NOMEM;
	r = fileio_write_atomic(path, buf, len, 0644);
	free(path);
	return r;
}

static void agent_print_hex(const char *label, const uint8_t *buf, size_t len)
{
	char *hex = hex_encode_alloc(buf, len);

	printf("%s%s\n", label, hex ? hex : "?");
	free(hex);
}

/* ---- health ---------------------------------------------------------------- */

static int agent_health_run(struct rpc_client *c, const struct agent_args *args)
{
	Aicert__V1__HealthReply *h = NULL;
	static const char *const algs[] = {"unspecified", "rsa", "ecc"};
	int r;

	r = agentc_health(c, &h);
	if (r < 0)
		return r;
	printf("version: %s\ntpm manufacturer: %s\nreset count: %u\nrestart count: %u\n"
	       "ak: %s\nuptime: %llu ms\nruntime events: %llu\n",
	       h->version, h->tpm_manufacturer, h->reset_count, h->restart_count,
	       h->ak_alg < 3 ? algs[h->ak_alg] : "?", (unsigned long long)h->uptime_ms,
	       (unsigned long long)h->runtime_events);
	protobuf_c_message_free_unpacked(&h->base, NULL);
	return 0;
}

/* ---- identity -------------------------------------------------------------- */

static int agent_identity_files(const Aicert__V1__IdentityReply *id, const TPMT_PUBLIC *ak,
				const char *dir)
{
	char *pem = NULL, name[32];
	int r;

	r = fileio_mkdir(dir, 0755);
	if (r == 0)
		r = tpmkey_to_pem(ak, &pem);
	if (r == 0)
		r = agent_write(dir, "ak.pub.pem", pem, strlen(pem));
	if (r == 0)
		r = agent_write(dir, "ak.pub", id->ak_public.data, id->ak_public.len);
	if (r == 0)
		r = agent_write(dir, "ak.name", id->ak_name.data, id->ak_name.len);
	if (r == 0)
		r = agent_write(dir, "ek.pub", id->ek_public.data, id->ek_public.len);
	for (size_t i = 0; r == 0 && i < id->n_ek_certs; i++) {
		snprintf(name, sizeof(name), "ek-%08x.der", id->ek_certs[i]->nv_index);
		r = agent_write(dir, name, id->ek_certs[i]->der.data, id->ek_certs[i]->der.len);
	}
	free(pem);
	return r;
}

static int agent_identity_run(struct rpc_client *c, const struct agent_args *args)
{
	Aicert__V1__IdentityReply *id = NULL;
	TPMT_PUBLIC ak;
	int r;

	r = agentc_identity(c, &id);
	if (r < 0)
		return r;
	r = tpmkey_parse_public(id->ak_public.data, id->ak_public.len, &ak);
	if (r < 0) {
		r = err_wrap(r, "the agent's AK public area");
		goto out;
	}
	printf("ek: %s\nak: %s\n", id->ek_alg == 1 ? "rsa" : "ecc",
	       id->ak_alg == 1 ? "rsa" : "ecc");
	agent_print_hex("ak name: ", id->ak_name.data, id->ak_name.len);
	for (size_t i = 0; i < id->n_ek_certs; i++)
		printf("ek certificate: nv 0x%08x, %zu bytes\n", id->ek_certs[i]->nv_index,
		       id->ek_certs[i]->der.len);
	printf("ak certificate: %s\n", id->ak_cert_der.len ? "installed" : "none (not enrolled)");
	if (args->out_dir)
		r = agent_identity_files(id, &ak, args->out_dir);
out:
	protobuf_c_message_free_unpacked(&id->base, NULL);
	return r;
}

/* ---- pcrs ------------------------------------------------------------------ */

static int agent_pcrs_run(struct rpc_client *c, const struct agent_args *args)
{
	Aicert__V1__ReadPcrsRequest req = AICERT__V1__READ_PCRS_REQUEST__INIT;
	Aicert__V1__PcrBank bank = AICERT__V1__PCR_BANK__INIT, *banks[1] = {&bank};
	Aicert__V1__ReadPcrsReply *rep = NULL;
	uint32_t mask = 0xffffff, list[24], alg;
	int r;

	r = agent_bank(args->bank, &alg);
	if (r == 0 && args->pcrs)
		r = agentc_parse_pcrs(args->pcrs, &mask);
	if (r < 0)
		return r;
	agentc_bank(alg, mask, &bank, list);
	req.banks = banks;
	req.n_banks = 1;
	r = agentc_read_pcrs(c, &req, &rep);
	if (r < 0)
		return r;
	for (size_t b = 0; b < rep->n_banks; b++) {
		printf("%s:\n", tpmkey_hash_name(rep->banks[b]->hash_alg));
		for (size_t i = 0; i < rep->banks[b]->n_values; i++) {
			char label[16];

			snprintf(label, sizeof(label), "  %-2u: 0x", rep->banks[b]->values[i]->pcr);
			agent_print_hex(label, rep->banks[b]->values[i]->digest.data,
					rep->banks[b]->values[i]->digest.len);
		}
	}
	protobuf_c_message_free_unpacked(&rep->base, NULL);
	return 0;
}

/* ---- quote ----------------------------------------------------------------- */

/* Flattens the reply's PCR values for attest_* and tpm2tools_*. */
static int agent_quote_values(const Aicert__V1__QuoteReply *q, struct attest_pcr_value **ret,
			      size_t *n)
{
	struct attest_pcr_value *v;
	size_t total = 0, k = 0;

	for (size_t b = 0; b < q->n_pcrs; b++)
		total += q->pcrs[b]->n_values;
	if (total > ATTEST_MAX_PCRS)
		return err_set(AICERT_ERR_TOO_BIG, "the agent returned %zu PCR values", total);
	v = calloc(total ? total : 1, sizeof(*v));
	if (!v)
		return AICERT_ERR_NOMEM;
	for (size_t b = 0; b < q->n_pcrs; b++) {
		for (size_t i = 0; i < q->pcrs[b]->n_values; i++, k++) {
			v[k].hash_alg = q->pcrs[b]->hash_alg;
			v[k].pcr = q->pcrs[b]->values[i]->pcr;
			v[k].digest = q->pcrs[b]->values[i]->digest.data;
			v[k].size = q->pcrs[b]->values[i]->digest.len;
		}
	}
	*ret = v;
	*n = total;
	return 0;
}

/* The operator's sanity check before writing: the quote is signed by the AK
 * the agent names, carries our nonce, and matches the PCR values. This is
 * not a verification (nothing vouches for the AK yet): that is aicert verify. */
static int agent_quote_check(const Aicert__V1__QuoteReply *q, const TPMT_PUBLIC *ak,
			     const uint8_t *nonce, size_t nonce_len,
			     const struct attest_pcr_value *v, size_t n)
{
	TPMS_ATTEST att;
	TPMT_SIGNATURE sig;
	EVP_PKEY *key = NULL;
	int r;

	r = attest_parse(q->attest.data, q->attest.len, &att);
	if (r == 0)
		r = attest_check_quote(&att, nonce, nonce_len);
	if (r == 0)
		r = attest_parse_signature(q->signature.data, q->signature.len, &sig);
	if (r == 0)
		r = tpmkey_to_evp(ak, &key);
	if (r == 0)
		r = attest_verify_signature(q->attest.data, q->attest.len, &sig, key);
	if (r == 0)
		r = attest_check_pcrs(&att, attest_signature_hash(&sig), v, n);
	EVP_PKEY_free(key);
	return r < 0 ? err_wrap(r, "the agent's quote") : 0;
}

static int agent_quote_request(const struct agent_args *args, uint8_t *nonce, size_t *nonce_len,
			       Aicert__V1__PcrBank *bank, uint32_t *list)
{
	uint32_t mask, alg;
	int r;

	if (!args->nonce_hex || !args->pcrs || !args->out_dir)
		return err_set(AICERT_ERR_INVALID,
			       "quote needs --nonce HEX, --pcrs LIST and --out DIR");
	r = hex_decode(args->nonce_hex, nonce, 64, nonce_len);
	if (r < 0)
		return err_wrap(r, "--nonce");
	if (*nonce_len == 0)
		return err_set(AICERT_ERR_INVALID, "--nonce: 1 to 64 bytes of hex");
	r = agent_bank(args->bank, &alg);
	if (r == 0)
		r = agentc_parse_pcrs(args->pcrs, &mask);
	if (r < 0)
		return r;
	agentc_bank(alg, mask, bank, list);
	return 0;
}

static int agent_quote_run(struct rpc_client *c, const struct agent_args *args)
{
	Aicert__V1__QuoteRequest req = AICERT__V1__QUOTE_REQUEST__INIT;
	Aicert__V1__PcrBank bank = AICERT__V1__PCR_BANK__INIT, *banks[1] = {&bank};
	Aicert__V1__QuoteReply *q = NULL;
	struct attest_pcr_value *v = NULL;
	uint8_t nonce[64];
	uint32_t list[24];
	size_t nonce_len, n = 0;
	TPMT_PUBLIC ak;
	int r;

	r = agent_quote_request(args, nonce, &nonce_len, &bank, list);
	if (r < 0)
		return r;
	req.qualifying_data.data = nonce;
	req.qualifying_data.len = nonce_len;
	req.banks = banks;
	req.n_banks = 1;
	r = agentc_quote(c, &req, &q);
	if (r < 0)
		return r;
	r = tpmkey_parse_public(q->ak_public.data, q->ak_public.len, &ak);
	if (r == 0)
		r = agent_quote_values(q, &v, &n);
	if (r == 0)
		r = agent_quote_check(q, &ak, nonce, nonce_len, v, n);
	if (r == 0)
		r = fileio_mkdir(args->out_dir, 0755);
	if (r == 0)
		r = tpm2tools_write_quote(args->out_dir, q->attest.data, q->attest.len,
					  q->signature.data, q->signature.len, v, n, &ak);
	if (r == 0)
		printf("quote of %zu PCRs written to %s (quote.msg, quote.sig, quote.pcrs, "
		       "ak.pub.pem)\n",
		       n, args->out_dir);
	free(v);
	protobuf_c_message_free_unpacked(&q->base, NULL);
	return r;
}

/* ---- eventlog -------------------------------------------------------------- */

static void agent_print_record(const struct cel_record *rec)
{
	char digest[65];

	hex_encode(rec->sha256, 32, digest);
	printf("  #%llu pcr %u type 0x%08x sha256 %s, %zu bytes: ", (unsigned long long)rec->recnum,
	       rec->pcr, rec->event_type, digest, rec->data_len);
	for (size_t i = 0; i < rec->data_len && i < 96; i++)
		putchar(rec->data[i] >= 0x20 && rec->data[i] < 0x7f ? rec->data[i] : '.');
	printf("%s\n", rec->data_len > 96 ? "..." : "");
}

static int agent_eventlog_run(struct rpc_client *c, const struct agent_args *args)
{
	Aicert__V1__EventLogReply *ev = NULL;
	struct cel_log log = {0};
	int r;

	r = agentc_event_log(c, &ev);
	if (r < 0)
		return r;
	r = cel_decode(ev->runtime_log.data, ev->runtime_log.len, &log);
	if (r < 0) {
		r = err_wrap(r, "the agent's runtime log");
		goto out;
	}
	printf("boot log: %zu bytes\nreset count: %u\nrestart count: %u\nruntime log: %zu records\n",
	       ev->boot_log.len, ev->reset_count, ev->restart_count, log.n);
	for (size_t i = 0; i < log.n; i++)
		agent_print_record(&log.recs[i]);
	if (args->out_dir) {
		r = fileio_mkdir(args->out_dir, 0755);
		if (r == 0)
			r = agent_write(args->out_dir, "boot.bin", ev->boot_log.data,
					ev->boot_log.len);
		if (r == 0)
			r = agent_write(args->out_dir, "runtime.cel", ev->runtime_log.data,
					ev->runtime_log.len);
	}
out:
	cel_clear(&log);
	protobuf_c_message_free_unpacked(&ev->base, NULL);
	return r;
}

/* ---- dispatch -------------------------------------------------------------- */

static const struct {
	const char *name;
	int (*run)(struct rpc_client *c, const struct agent_args *args);
} agent_subcommands[] = {
	{"health", agent_health_run}, {"identity", agent_identity_run}, {"pcrs", agent_pcrs_run},
	{"quote", agent_quote_run},   {"eventlog", agent_eventlog_run},
};

static int agent_parse(int argc, char **argv, struct agent_args *args)
{
	int opt, r;

	optind = 1;
	opterr = 1;
	while ((opt = getopt_long(argc, argv, "", agent_options, NULL)) != -1) {
		r = agentc_opt(&args->dial, opt, optarg);
		if (r < 0)
			return r;
		if (r == 1)
			continue;
		switch (opt) {
		case OPT_OUT:
			args->out_dir = optarg;
			break;
		case OPT_NONCE:
			args->nonce_hex = optarg;
			break;
		case OPT_PCRS:
			args->pcrs = optarg;
			break;
		case OPT_BANK:
			args->bank = optarg;
			break;
		case OPT_HELP:
			agent_usage(stdout);
			return 1;
		default:
			return err_set(AICERT_ERR_INVALID, "see 'aicert agent --help'");
		}
	}
	if (optind < argc)
		return err_set(AICERT_ERR_INVALID, "unexpected argument '%s'", argv[optind]);
	return 0;
}

int cmd_agent(int argc, char **argv)
{
	struct agent_args args = {0};
	struct rpc_client *c = NULL;
	int r;

	if (argc < 2 || argv[1][0] == '-') {
		agent_usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
		return argc >= 2 && strcmp(argv[1], "--help") == 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(agent_subcommands) / sizeof(agent_subcommands[0]); i++) {
		if (strcmp(argv[1], agent_subcommands[i].name) != 0)
			continue;
		r = agent_parse(argc - 1, argv + 1, &args);
		if (r == 1)
			return CLI_EXIT_OK;
		if (r == 0)
			r = agentc_dial(&args.dial, &c);
		if (r == 0)
			r = agent_subcommands[i].run(c, &args);
		rpc_client_free(c);
		return r < 0 ? cli_fail(r) : CLI_EXIT_OK;
	}
	return cli_fail(err_set(AICERT_ERR_INVALID, "unknown agent subcommand '%s'", argv[1]));
}
