/* libFuzzer harness for the runtime event log decoder (untrusted bytes inside
 * proofs). Beyond "no crash, no leak", it checks what the decoder promises:
 * a failure is INVALID or TOO_BIG and leaves the log empty; a success
 * re-encodes to exactly the input (one encoding per log) and replays. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cel.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(const struct cel_log *log, const uint8_t *data, size_t size)
{
	uint8_t *buf = NULL;
	size_t len = 0;

	if (cel_encode(log, &buf, &len) < 0)
		abort();
	if (len != size || (size > 0 && memcmp(buf, data, size) != 0))
		abort();
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cel_log log = {0};
	uint8_t pcrs[24][32];
	uint32_t touched = 0;
	int r;

	r = cel_decode(data, size, &log);
	if (r < 0) {
		if (r != AICERT_ERR_INVALID && r != AICERT_ERR_TOO_BIG)
			abort();
		if (log.n != 0 || log.recs != NULL)
			abort();
		return 0;
	}
	check_round_trip(&log, data, size);
	r = cel_replay(&log, log.n, pcrs, &touched);
	if (r < 0 && r != AICERT_ERR_INVALID)
		abort();
	cel_truncate(&log, log.n / 2);
	cel_clear(&log);
	return 0;
}
