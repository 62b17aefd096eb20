#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "err.h"
#include "fileio.h"
#include "hex.h"
#include "policy.h"
#include "tcglog.h"
#include "yamlx.h"

#define POLICY_MAX_PEM (256u << 10)

void policy_free(struct policy *p)
{
	if (!p)
		return;
	sk_X509_pop_free(p->ek_roots, X509_free);
	sk_X509_pop_free(p->ek_intermediates, X509_free);
	sk_X509_pop_free(p->ak_ca, X509_free);
	for (size_t i = 0; i < p->n_inputs; i++)
		free(p->inputs[i].name);
	free(p->inputs);
	free(p->boot_events);
	free(p);
}

int policy_pem_certs(const char *what, const uint8_t *pem, size_t len, STACK_OF(X509) * out)
{
	BIO *bio;
	X509 *x;
	int n = 0;

	if (len > POLICY_MAX_PEM)
		return err_set(AICERT_ERR_TOO_BIG, "%s: %zu bytes of PEM", what, len);
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return AICERT_ERR_NOMEM;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_num(out) >= POLICY_MAX_CERTS || !sk_X509_push(out, x)) {
			X509_free(x);
			BIO_free(bio);
			return err_set(AICERT_ERR_TOO_BIG, "%s: more than %d certificates", what,
				       POLICY_MAX_CERTS);
		}
		n++;
	}
	ERR_clear_error(); /* the end of the PEM data reads as an error */
	BIO_free(bio);
	if (n == 0)
		return err_set(AICERT_ERR_INVALID, "%s: no PEM certificate", what);
	return 0;
}

static int policy_certs(struct yamlx *y, yaml_node_t *root, const char *key, bool required,
			STACK_OF(X509) * *out)
{
	yaml_node_t *n = yamlx_get(y, root, key);
	size_t count;
	int r;

	*out = sk_X509_new_null();
	if (!*out)
		return AICERT_ERR_NOMEM;
	if (!n)
		return required ? yamlx_err(y, root, AICERT_ERR_INVALID, "%s: missing", key) : 0;
	r = yamlx_seq(y, n, key, &count);
	if (r == 0 && required && count == 0)
		r = yamlx_err(y, n, AICERT_ERR_INVALID, "%s: at least one certificate", key);
	for (size_t i = 0; r == 0 && i < count; i++) {
		yaml_node_t *item = yamlx_item(y, n, i);
		const char *pem;
		char what[64];

		r = yamlx_str(y, item, key, &pem);
		snprintf(what, sizeof(what), "%s[%zu]", key, i);
		if (r == 0 && (r = policy_pem_certs(what, (const uint8_t *)pem, strlen(pem), *out)))
			r = yamlx_err(y, item, r, "%s", err_msg(r));
	}
	return r;
}

static int policy_pcrs(struct yamlx *y, yaml_node_t *root, struct policy *p)
{
	yaml_node_t *n = yamlx_get(y, root, "required_pcrs");
	size_t count;
	uint32_t pcr;
	int r;

	p->required_pcrs = (1u << 8) | (1u << 14);
	if (!n)
		return 0;
	r = yamlx_seq(y, n, "required_pcrs", &count);
	if (r == 0)
		p->required_pcrs = 0;
	for (size_t i = 0; r == 0 && i < count; i++) {
		r = yamlx_u32(y, yamlx_item(y, n, i), "required_pcrs", 0, 23, &pcr);
		if (r == 0)
			p->required_pcrs |= 1u << pcr;
	}
	return r;
}

static int policy_boot(struct yamlx *y, yaml_node_t *root, struct policy *p)
{
	yaml_node_t *n = yamlx_get(y, root, "boot_pcrs");
	int r = 0;

	if (!n)
		return 0;
	if (n->type != YAML_MAPPING_NODE)
		return yamlx_err(y, n, AICERT_ERR_INVALID, "boot_pcrs: expected a mapping");
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
	     r == 0 && pr < n->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(&y->doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(&y->doc, pr->value);
		const char *hex;
		uint32_t pcr;
		size_t len;

		r = yamlx_u32(y, k, "boot_pcrs", 0, 23, &pcr);
		if (r == 0 && (p->boot_pcr_mask >> pcr & 1))
			r = yamlx_err(y, k, AICERT_ERR_INVALID, "boot_pcrs: PCR %u twice", pcr);
		if (r == 0)
			r = yamlx_str(y, v, "boot_pcrs", &hex);
		if (r == 0 && (strlen(hex) != 64 || hex_decode(hex, p->boot_pcrs[pcr], 32, &len)))
			r = yamlx_err(y, v, AICERT_ERR_INVALID,
				      "boot_pcrs: expected 64 hex digits (SHA-256)");
		if (r == 0)
			p->boot_pcr_mask |= 1u << pcr;
	}
	return r;
}

static int policy_boot_events(struct yamlx *y, yaml_node_t *root, struct policy *p)
{
	static const char *const keys[] = {"pcr", "type", "sha256", NULL};
	yaml_node_t *n = yamlx_get(y, root, "boot_events");
	size_t count;
	int r = 0;

	if (!n)
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return yamlx_err(y, n, AICERT_ERR_INVALID, "boot_events: expected a list");
	count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (count == 0 || count > POLICY_MAX_BOOT_EVENTS)
		return yamlx_err(y, n, AICERT_ERR_TOO_BIG, "boot_events: 1 to %d events",
				 POLICY_MAX_BOOT_EVENTS);
	p->boot_events = calloc(count, sizeof(*p->boot_events));
	if (!p->boot_events)
		return AICERT_ERR_NOMEM;
	for (size_t i = 0; r == 0 && i < count; i++) {
		yaml_node_t *e = yamlx_item(y, n, i);
		struct policy_boot_event *be = &p->boot_events[i];
		const char *type = NULL, *hex = NULL;
		size_t len;

		yaml_node_t *fp, *ft, *fs;

		r = yamlx_check_map(y, e, keys);
		fp = r == 0 ? yamlx_get(y, e, "pcr") : NULL;
		ft = r == 0 ? yamlx_get(y, e, "type") : NULL;
		fs = r == 0 ? yamlx_get(y, e, "sha256") : NULL;
		if (r == 0 && (!fp || !ft || !fs))
			r = yamlx_err(y, e, AICERT_ERR_INVALID,
				      "boot_events[%zu]: pcr, type and sha256 are all required", i);
		if (r == 0)
			r = yamlx_u32(y, fp, "boot_events.pcr", 0, 23, &be->pcr);
		if (r == 0 && !(POLICY_BOOT_PCRS >> be->pcr & 1))
			r = yamlx_err(y, fp, AICERT_ERR_INVALID,
				      "boot_events.pcr: %u is not a boot PCR (0-7, 9, 11)",
				      be->pcr);
		if (r == 0)
			r = yamlx_str(y, ft, "boot_events.type", &type);
		if (r == 0 && (strlen(type) == 0 || strlen(type) >= sizeof(be->type)))
			r = yamlx_err(y, e, AICERT_ERR_INVALID, "boot_events.type: too long");
		if (r == 0)
			r = yamlx_str(y, fs, "boot_events.sha256", &hex);
		if (r == 0 && (strlen(hex) != 64 || hex_decode(hex, be->sha256, 32, &len)))
			r = yamlx_err(y, e, AICERT_ERR_INVALID,
				      "boot_events.sha256: expected 64 hex digits");
		if (r == 0)
			strcpy(be->type, type);
	}
	if (r == 0)
		p->n_boot_events = count;
	return r;
}

static int policy_inputs(struct yamlx *y, yaml_node_t *root, struct policy *p)
{
	static const char *const keys[] = {"name", "sha256", NULL};
	yaml_node_t *n = yamlx_get(y, root, "expected_inputs");
	size_t count;
	int r;

	if (!n)
		return 0;
	r = yamlx_seq(y, n, "expected_inputs", &count);
	if (r == 0 && count > POLICY_MAX_INPUTS)
		r = yamlx_err(y, n, AICERT_ERR_TOO_BIG, "expected_inputs: at most %d",
			      POLICY_MAX_INPUTS);
	if (r == 0 && !(p->inputs = calloc(count ? count : 1, sizeof(*p->inputs))))
		r = AICERT_ERR_NOMEM;
	p->has_inputs = true;
	for (size_t i = 0; r == 0 && i < count; i++) {
		yaml_node_t *item = yamlx_item(y, n, i), *v;
		const char *s;
		size_t len;

		r = yamlx_check_map(y, item, keys);
		if (r == 0 && !(v = yamlx_get(y, item, "name")))
			r = yamlx_err(y, item, AICERT_ERR_INVALID, "expected_inputs: name missing");
		if (r == 0 && (r = yamlx_str(y, v, "name", &s)) == 0) {
			for (size_t j = 0; j < i && r == 0; j++)
				if (strcmp(p->inputs[j].name, s) == 0)
					r = yamlx_err(y, v, AICERT_ERR_INVALID,
						      "expected_inputs: '%s' twice", s);
			if (r == 0 && !(p->inputs[i].name = strdup(s)))
				r = AICERT_ERR_NOMEM;
		}
		if (r == 0)
			p->n_inputs++;
		if (r == 0 && !(v = yamlx_get(y, item, "sha256")))
			r = yamlx_err(y, item, AICERT_ERR_INVALID,
				      "expected_inputs: sha256 missing");
		if (r == 0 && (r = yamlx_str(y, v, "sha256", &s)) == 0 &&
		    (strlen(s) != 64 || hex_decode(s, p->inputs[i].sha256, 32, &len)))
			r = yamlx_err(y, v, AICERT_ERR_INVALID, "sha256: expected 64 hex digits");
	}
	return r;
}

static int policy_fill(struct yamlx *y, struct policy *p)
{
	static const char *const keys[] = {"version",   "ek_roots",        "ek_intermediates",
					   "ak_ca",     "required_pcrs",   "allow_development",
					   "boot_pcrs", "expected_inputs", "boot_events",
					   NULL};
	yaml_node_t *root = yamlx_root(y), *n;
	uint32_t version;
	int r;

	r = yamlx_check_map(y, root, keys);
	if (r == 0 && !(n = yamlx_get(y, root, "version")))
		r = yamlx_err(y, root, AICERT_ERR_INVALID, "version: missing");
	if (r == 0)
		r = yamlx_u32(y, n, "version", 1, 1, &version);
	if (r == 0)
		r = policy_certs(y, root, "ek_roots", true, &p->ek_roots);
	if (r == 0)
		r = policy_certs(y, root, "ek_intermediates", false, &p->ek_intermediates);
	if (r == 0)
		r = policy_certs(y, root, "ak_ca", true, &p->ak_ca);
	if (r == 0)
		r = policy_pcrs(y, root, p);
	if (r == 0 && (n = yamlx_get(y, root, "allow_development")))
		r = yamlx_bool(y, n, "allow_development", &p->allow_development);
	if (r == 0)
		r = policy_boot(y, root, p);
	if (r == 0)
		r = policy_boot_events(y, root, p);
	if (r == 0)
		r = policy_inputs(y, root, p);
	return r;
}

int policy_parse(const char *name, const uint8_t *buf, size_t len, struct policy **ret)
{
	struct policy *p = calloc(1, sizeof(*p));
	struct yamlx y;
	int r;

	if (!p)
		return AICERT_ERR_NOMEM;
	r = yamlx_load_buf(name, buf, len, &y);
	if (r == 0) {
		r = policy_fill(&y, p);
		yamlx_free(&y);
	}
	if (r < 0) {
		policy_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

int policy_load(const char *path, struct policy **ret)
{
	uint8_t *buf = NULL;
	size_t len;
	int r;

	r = fileio_read_all(path, YAMLX_MAX_BYTES, &buf, &len);
	if (r == 0)
		r = policy_parse(path, buf, len, ret);
	free(buf);
	return r;
}

/* Appends "key:\n  - |\n    <pem lines>" for every file. */
static int policy_emit_pems(FILE *f, const char *key, const char *const *files, size_t n)
{
	fprintf(f, "%s:\n", key);
	for (size_t i = 0; i < n; i++) {
		STACK_OF(X509) *certs = sk_X509_new_null();
		uint8_t *buf = NULL;
		size_t len;
		int r;

		if (!certs)
			return AICERT_ERR_NOMEM;
		r = fileio_read_all(files[i], POLICY_MAX_PEM, &buf, &len);
		if (r == 0)
			r = policy_pem_certs(files[i], buf, len, certs);
		for (int c = 0; r == 0 && c < sk_X509_num(certs); c++) {
			BIO *b = BIO_new(BIO_s_mem());
			char *data, *line;
			long blen;

			if (!b || !PEM_write_bio_X509(b, sk_X509_value(certs, c))) {
				BIO_free(b);
				r = AICERT_ERR_NOMEM;
				break;
			}
			blen = BIO_get_mem_data(b, &data);
			fprintf(f, "  - |\n");
			for (line = data; line < data + blen;) {
				char *nl = memchr(line, '\n', (size_t)(data + blen - line));
				size_t l = nl ? (size_t)(nl - line) : (size_t)(data + blen - line);

				fprintf(f, "    %.*s\n", (int)l, line);
				line += l + 1;
			}
			BIO_free(b);
		}
		sk_X509_pop_free(certs, X509_free);
		free(buf);
		if (r < 0)
			return r;
	}
	return 0;
}

int policy_init_yaml(const struct policy_init *in, char **yaml)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	int r;

	if (!f)
		return AICERT_ERR_NOMEM;
	fprintf(f,
		"# aicert verification policy. See docs/proof-format.md.\nversion: 1\n"
		"# Roots for EK certificates: the TPM vendors (or cloud, or swtpm CA) you trust.\n");
	r = policy_emit_pems(f, "ek_roots", in->ek_roots, in->n_ek_roots);
	if (r == 0 && in->n_ek_intermediates) {
		fprintf(f, "# Intermediate CAs between those roots and EK certificates.\n");
		r = policy_emit_pems(f, "ek_intermediates", in->ek_intermediates,
				     in->n_ek_intermediates);
	}
	if (r == 0) {
		fprintf(f, "# Attestation CAs whose AK certificates you accept.\n");
		r = policy_emit_pems(f, "ak_ca", in->ak_ca, in->n_ak_ca);
	}
	if (r == 0)
		fprintf(f,
			"# SHA-256 PCRs every quote must cover: 14 inputs, 8 outputs.\n"
			"required_pcrs: [8, 14]\n"
			"# Accept proofs from runners whose boot is not measured (the local runner).\n"
			"allow_development: %s\n",
			in->allow_development ? "true" : "false");
	fclose(f);
	if (r < 0) {
		free(text);
		return r;
	}
	*yaml = text;
	return 0;
}

int policy_boot_check(const char *what, const char *text)
{
	for (const char *l = text; *l;) {
		const char *nl = strchr(l, '\n');

		if (*l != ' ' && *l != '#' && *l != '\n' && strncmp(l, "boot_pcrs:", 10) != 0 &&
		    strncmp(l, "boot_events:", 12) != 0)
			return err_set(
				AICERT_ERR_INVALID,
				"%s: only boot_pcrs and boot_events belong in a boot reference",
				what);
		if (!nl)
			break;
		l = nl + 1;
	}
	return 0;
}

/* The type as the policy names it: the PFP's name, or its number. */
void policy_boot_type(uint32_t type, char out[40])
{
	const char *name = tcglog_event_type_name(type);

	if (name)
		snprintf(out, 40, "%s", name);
	else
		snprintf(out, 40, "0x%08x", type);
}

int policy_boot_yaml(const uint8_t *boot_log, size_t len, const uint8_t quoted[24][32],
		     uint32_t quoted_mask, char **yaml)
{
	uint8_t pcrs[TCGLOG_PCR_COUNT][TCGLOG_MAX_DIGEST];
	struct tcglog *log = NULL;
	uint32_t touched = 0;
	size_t dlen, n = 0;
	char *buf = NULL;
	FILE *f;
	int r;

	r = tcglog_parse(boot_log, len, &log);
	if (r == 0)
		r = tcglog_replay(log, TCGLOG_ALG_SHA256, 0, pcrs, &dlen, &touched);
	for (unsigned i = 0; r == 0 && i < 24; i++)
		if ((POLICY_BOOT_PCRS >> i & 1) && (quoted_mask >> i & 1) &&
		    memcmp(pcrs[i], quoted[i], 32) != 0)
			r = err_set(AICERT_ERR_REJECTED,
				    "the reference boot log does not replay to its PCR %u", i);
	f = r == 0 ? open_memstream(&buf, &n) : NULL;
	if (r == 0 && !f)
		r = AICERT_ERR_NOMEM;
	if (r == 0) {
		fprintf(f, "boot_pcrs:                  # SHA-256, of the reference boot\n");
		for (unsigned i = 0; i < 24; i++) {
			char hex[65];

			if (!(POLICY_BOOT_PCRS >> i & 1) || !(quoted_mask >> i & 1))
				continue;
			hex_encode(quoted[i], 32, hex);
			fprintf(f, "  %u: %s\n", i, hex);
		}
		fprintf(f, "boot_events:                # its events, in log order\n");
	}
	for (size_t i = 0; r == 0 && i < tcglog_count(log); i++) {
		const struct tcglog_event *ev = tcglog_event(log, i);
		const uint8_t *d;
		char type[40], hex[65];
		size_t dl;

		if (ev->type == TCGLOG_EV_NO_ACTION || !(POLICY_BOOT_PCRS >> ev->pcr & 1))
			continue;
		r = tcglog_event_digest(log, i, TCGLOG_ALG_SHA256, 0, &d, &dl);
		if (r < 0)
			break;
		policy_boot_type(ev->type, type);
		hex_encode(d, 32, hex);
		fprintf(f, "  - {pcr: %u, type: %s, sha256: %s}  # event %u\n", ev->pcr, type, hex,
			ev->num);
	}
	if (f && fclose(f) != 0 && r == 0)
		r = AICERT_ERR_NOMEM;
	tcglog_free(log);
	if (r < 0) {
		free(buf);
		return r;
	}
	*yaml = buf;
	return 0;
}
