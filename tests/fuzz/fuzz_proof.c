/* libFuzzer target: the proof parser, and the verifier's reading of the
 * runtime log's events and statement, on arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cel.h"
#include "err.h"
#include "joblog.h"
#include "proof.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proof *p = NULL;
	char *again = NULL;
	int r;

	r = proof_parse("fuzz", data, size, &p);
	if (r < 0) {
		if (r != AICERT_ERR_INVALID && r != AICERT_ERR_TOO_BIG &&
		    r != AICERT_ERR_UNSUPPORTED && r != AICERT_ERR_NOMEM)
			abort();
		return 0;
	}
	/* What parses must write and parse again to the same evidence. */
	if (proof_write(p, &again) == 0) {
		struct proof *q = NULL;

		if (proof_parse("again", (const uint8_t *)again, strlen(again), &q) != 0)
			abort();
		if (q->n_pcrs != p->n_pcrs || q->runtime_log.len != p->runtime_log.len)
			abort();
		proof_free(q);
	}
	free(again);
	{
		struct cel_log rt = {0};
		struct joblog jl = {0};

		if (cel_decode(p->runtime_log.data, p->runtime_log.len, &rt) == 0 &&
		    joblog_decode(&rt, &jl) == 0)
			joblog_find(&jl, p->job_id, p->nonce, p->nonce_len);
		joblog_clear(&jl);
		cel_clear(&rt);
	}
	proof_free(p);
	return 0;
}
