/* libFuzzer harness for the boot event log parser (untrusted bytes inside
 * proofs). Beyond "no crash, no leak", it checks what the parser promises:
 * a failure is INVALID or TOO_BIG and hands nothing back; a success has
 * events numbered from 1 at increasing offsets inside the input, PCRs below
 * 24, digests of each bank inside the input, and replays in every decision
 * bank it has (SHA-1 only with TCGLOG_DISPLAY_ONLY). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "tcglog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_events(const struct tcglog *log, size_t size)
{
	const struct tcglog_spec_id *spec = tcglog_spec_id(log);
	size_t prev_end = 0;

	for (size_t i = 0; i < tcglog_count(log); i++) {
		const struct tcglog_event *ev = tcglog_event(log, i);

		if (!ev || ev->num != i + 1 || ev->pcr >= TCGLOG_PCR_COUNT ||
		    ev->offset < prev_end || ev->offset >= size ||
		    ev->data_len > TCGLOG_MAX_EVENT_DATA ||
		    (ev->data_len > 0) != (ev->data != NULL))
			abort();
		for (uint32_t j = 0; j < spec->nalgs; j++) {
			const uint8_t *d = NULL;
			size_t n = 0;

			if (tcglog_event_digest(log, i, spec->algs[j].id, TCGLOG_DISPLAY_ONLY, &d,
						&n) != 0 ||
			    n != spec->algs[j].size)
				abort();
			(void)d[n - 1]; /* in bounds, or ASan says so */
		}
		prev_end = ev->offset + 1;
	}
	if (tcglog_event(log, tcglog_count(log)) != NULL)
		abort();
}

static void check_replay(const struct tcglog *log)
{
	static const uint16_t algs[] = {TCGLOG_ALG_SHA1, TCGLOG_ALG_SHA256, TCGLOG_ALG_SHA384,
					TCGLOG_ALG_SHA512, TCGLOG_ALG_SM3_256};
	uint8_t pcrs[TCGLOG_PCR_COUNT][TCGLOG_MAX_DIGEST];

	for (size_t k = 0; k < sizeof(algs) / sizeof(algs[0]); k++) {
		size_t n = 0;
		uint32_t touched = 0;
		int r = tcglog_replay(log, algs[k], 0, pcrs, &n, &touched);

		if (algs[k] == TCGLOG_ALG_SHA1 || algs[k] == TCGLOG_ALG_SM3_256) {
			if (r != AICERT_ERR_UNSUPPORTED)
				abort();
			r = tcglog_replay(log, algs[k], TCGLOG_DISPLAY_ONLY, pcrs, &n, &touched);
		}
		if (r != 0 && r != AICERT_ERR_NOT_FOUND && r != AICERT_ERR_UNSUPPORTED)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tcglog *log = NULL;
	int r;

	r = tcglog_parse(data, size, &log);
	if (r < 0) {
		if ((r != AICERT_ERR_INVALID && r != AICERT_ERR_TOO_BIG) || log != NULL)
			abort();
		return 0;
	}
	check_events(log, size);
	check_replay(log);
	tcglog_free(log);
	return 0;
}
