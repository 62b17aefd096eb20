/* aicert show PROOF: a readable summary of what a proof claims. It verifies
 * nothing: `aicert verify` does. */
#include <stdio.h>
#include <string.h>

#include <openssl/x509.h>

#include "attest.h"
#include "cel.h"
#include "cli.h"
#include "err.h"
#include "events.h"
#include "hex.h"
#include "proof.h"
#include "tcglog.h"
#include "tpm2tools.h"
#include "tpmkey.h"
#include "ekcert.h"

static void show_cert(const char *label, const struct proof_blob *b)
{
	const unsigned char *p = b->data;
	X509 *x = d2i_X509(NULL, &p, (long)b->len);
	char subject[256] = "?", issuer[256] = "?";

	if (!x) {
		printf("  %s: (not a certificate)\n", label);
		return;
	}
	ekcert_name_text(X509_get_subject_name(x), subject, sizeof(subject));
	ekcert_name_text(X509_get_issuer_name(x), issuer, sizeof(issuer));
	printf("  %s: %s\n    issued by %s\n", label, subject, issuer);
	X509_free(x);
}

static void show_event(size_t i, const struct cel_record *rec)
{
	struct events_event ev;
	char d[65];

	if (events_decode(rec->event_type, rec->pcr, rec->data, rec->data_len, &ev) < 0) {
		printf("    #%zu PCR %u type 0x%08x: not an aicert event (%s)\n", i, rec->pcr,
		       rec->event_type, err_msg(AICERT_ERR_INVALID));
		return;
	}
	switch (ev.kind) {
	case EVENTS_JOB_START:
		printf("    #%zu PCR %u job-start %s\n", i, rec->pcr, ev.u.start.job_id);
		break;
	case EVENTS_INPUT:
		hex_encode(ev.u.input.sha256, 32, d);
		printf("    #%zu PCR %u input %s (%s) %s\n", i, rec->pcr, ev.u.input.name,
		       ev.u.input.kind, d);
		break;
	case EVENTS_OUTPUT:
		hex_encode(ev.u.output.sha256, 32, d);
		printf("    #%zu PCR %u output %s %s\n", i, rec->pcr, ev.u.output.path, d);
		break;
	case EVENTS_OUTPUTS:
		hex_encode(ev.u.outputs.root_sha256, 32, d);
		printf("    #%zu PCR %u outputs root %s (%llu files)\n", i, rec->pcr, d,
		       (unsigned long long)ev.u.outputs.files);
		break;
	case EVENTS_JOB_END:
		printf("    #%zu PCR %u job-end exit %d, %llu FLOPs, %llu ms\n", i, rec->pcr,
		       ev.u.end.exit_code, (unsigned long long)ev.u.end.flops,
		       (unsigned long long)ev.u.end.wall_ms);
		break;
	case EVENTS_CONTROLLER:
		hex_encode(ev.u.controller.identity_sha256, 32, d);
		printf("    #%zu PCR %u controller binding %s\n", i, rec->pcr, d);
		break;
	}
}

static void show_logs(const struct proof *p)
{
	struct tcglog *boot = NULL;
	struct cel_log rt = {0};

	if (p->boot_log.len == 0)
		printf("  boot log: none (the boot was not measured)\n");
	else if (tcglog_parse(p->boot_log.data, p->boot_log.len, &boot) == 0)
		printf("  boot log: %zu events\n", tcglog_count(boot));
	else
		printf("  boot log: malformed (%s)\n", err_msg(AICERT_ERR_INVALID));
	tcglog_free(boot);
	if (cel_decode(p->runtime_log.data, p->runtime_log.len, &rt) < 0) {
		printf("  runtime log: malformed (%s)\n", err_msg(AICERT_ERR_INVALID));
		return;
	}
	printf("  runtime log: %zu records\n", rt.n);
	for (size_t i = 0; i < rt.n; i++)
		show_event(i, &rt.recs[i]);
	cel_clear(&rt);
}

static void show_quote(const struct proof *p)
{
	TPMS_ATTEST a;

	if (attest_parse(p->attest.data, p->attest.len, &a) < 0) {
		printf("  quote: malformed (%s)\n", err_msg(AICERT_ERR_INVALID));
		return;
	}
	printf("  quote: reset count %u, restart count %u, clock %llu ms\n", a.clockInfo.resetCount,
	       a.clockInfo.restartCount, (unsigned long long)a.clockInfo.clock);
	printf("  PCRs:");
	for (size_t i = 0; i < p->n_pcrs; i++)
		printf(" %s:%u", proof_bank_name(p->pcrs[i].hash_alg), p->pcrs[i].pcr);
	printf("\n");
}

static void show_statement(const struct proof *p)
{
	const json_t *subjects = json_object_get(p->statement, "subject");
	const json_t *deps = json_object_get(
		json_object_get(json_object_get(p->statement, "predicate"), "buildDefinition"),
		"resolvedDependencies");
	size_t i;
	json_t *v;

	printf("statement (claimed):\n  inputs:\n");
	json_array_foreach(deps, i, v)
	{
		printf("    %s %s\n", json_string_value(json_object_get(v, "name")),
		       json_string_value(json_object_get(json_object_get(v, "digest"), "sha256")));
	}
	printf("  outputs:\n");
	json_array_foreach(subjects, i, v)
	{
		printf("    %s %s\n", json_string_value(json_object_get(v, "name")),
		       json_string_value(json_object_get(json_object_get(v, "digest"), "sha256")));
	}
}

/* Writes the proof's quote in tpm2-tools' formats, and prints the
 * qualifying data that tpm2_checkquote -q must be given. */
static int show_export(const struct proof *p, const char *dir)
{
	struct attest_pcr_value v[PROOF_MAX_PCRS];
	TPMS_ATTEST a;
	TPMT_PUBLIC ak;
	char hex[2 * sizeof(a.extraData.buffer) + 1];
	int r;

	proof_pcr_values(p, v);
	r = tpmkey_parse_public(p->ak_public.data, p->ak_public.len, &ak);
	if (r == 0)
		r = attest_parse(p->attest.data, p->attest.len, &a);
	if (r == 0)
		r = tpm2tools_write_quote(dir, p->attest.data, p->attest.len, p->signature.data,
					  p->signature.len, v, p->n_pcrs, &ak);
	if (r < 0)
		return r;
	hex_encode(a.extraData.buffer, a.extraData.size, hex);
	printf("quote exported to %s; check it with:\n  tpm2_checkquote -u %s/ak.pub.pem "
	       "-m %s/quote.msg -s %s/quote.sig -f %s/quote.pcrs -g sha256 -q %s\n",
	       dir, dir, dir, dir, dir, hex);
	return 0;
}

int cmd_show(int argc, char **argv)
{
	struct proof *p = NULL;
	const char *export_dir = NULL;
	char nonce[129];
	int r;

	if (argc == 4 && strcmp(argv[2], "--export-quote") == 0)
		export_dir = argv[3];
	else if (argc != 2 || argv[1][0] == '-') {
		fprintf(argc == 2 ? stdout : stderr,
			"Usage: aicert show PROOF [--export-quote DIR]\n");
		return argc == 2 && strcmp(argv[1], "--help") == 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	r = proof_load(argv[1], &p);
	if (r < 0)
		return cli_fail(r);
	if (export_dir) {
		r = show_export(p, export_dir);
		proof_free(p);
		return r < 0 ? cli_fail(r) : CLI_EXIT_OK;
	}
	hex_encode(p->nonce, p->nonce_len, nonce);
	printf("%s (%s; not verified: run aicert verify)\n", argv[1], PROOF_VERSION);
	printf("  platform (claimed): %s\n  job: %s\n  nonce: %s\n", p->platform,
	       p->job_id[0] ? p->job_id : "(none: a proof of the platform alone)", nonce);
	show_cert("EK certificate", &p->ek_certs[0]);
	show_cert("AK certificate", &p->ak_certs[0]);
	show_quote(p);
	show_logs(p);
	if (p->statement)
		show_statement(p);
	proof_free(p);
	return CLI_EXIT_OK;
}
