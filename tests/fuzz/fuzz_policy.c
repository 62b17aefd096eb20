/* libFuzzer target: the verifier's policy parser (strict YAML). */
#include <stdint.h>
#include <stdlib.h>

#include "err.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy *p = NULL;
	int r;

	r = policy_parse("fuzz.yaml", data, size, &p);
	if (r == 0)
		policy_free(p);
	else if (r != AICERT_ERR_INVALID && r != AICERT_ERR_TOO_BIG && r != AICERT_ERR_NOMEM)
		abort();
	return 0;
}
