/* libFuzzer target: the job file parser (strict YAML), and the invariants
 * every accepted job keeps. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "jobcfg.h"

/* A normalised workspace path: "." or components that are neither empty,
 * "." nor "..", with no leading '/'. */
static int fuzz_ws_ok(const char *s)
{
	if (!s || !*s)
		return 0;
	if (strcmp(s, ".") == 0)
		return 1;
	for (const char *p = s;;) {
		size_t len = strcspn(p, "/");

		if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && !strncmp(p, "..", 2)))
			return 0;
		if (!p[len])
			return 1;
		p += len + 1;
	}
}

static void fuzz_check(const struct jobcfg *cfg)
{
	const struct jobcfg_training *t = &cfg->training;
	size_t code = 0;

	if (cfg->version != 1 || !cfg->name || !*cfg->name || !cfg->proof_path)
		abort();
	if (t->argc == 0 || !t->argv[0][0] || t->argv[t->argc] || !fuzz_ws_ok(t->workdir))
		abort();
	if (t->timeout_s < JOBCFG_MIN_TIMEOUT || t->timeout_s > JOBCFG_MAX_TIMEOUT)
		abort();
	if (t->metrics && (!fuzz_ws_ok(t->metrics) || strcmp(t->metrics, ".") == 0))
		abort();
	if (!fuzz_ws_ok(cfg->outputs.dir) || strcmp(cfg->outputs.dir, ".") == 0)
		abort();
	for (size_t i = 0; i < cfg->n_inputs; i++) {
		const struct jobcfg_input *in = &cfg->inputs[i];

		code += in->kind == JOBCFG_KIND_CODE;
		if (!fuzz_ws_ok(in->dest) || !in->location || !in->resolved || !in->field)
			abort();
		if (in->source == JOBCFG_SOURCE_URL && strncmp(in->location, "https://", 8) != 0)
			abort();
		if (in->source == JOBCFG_SOURCE_GIT &&
		    (!in->git_commit ||
		     (strlen(in->git_commit) != 40 && strlen(in->git_commit) != 64) ||
		     !fuzz_ws_ok(in->git_subdir)))
			abort();
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->inputs[j].name, in->name) == 0)
				abort();
	}
	if (code != 1)
		abort();
	for (size_t i = 0; i < t->n_env; i++)
		if (strncmp(t->env[i].name, "LD_", 3) == 0)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jobcfg *cfg = NULL;
	int r;

	r = jobcfg_parse("fuzz.yaml", "/base", data, size, &cfg);
	if (r == 0) {
		fuzz_check(cfg);
		jobcfg_free(cfg);
	} else if (cfg ||
		   (r != AICERT_ERR_INVALID && r != AICERT_ERR_TOO_BIG && r != AICERT_ERR_NOMEM)) {
		abort();
	}
	return 0;
}
