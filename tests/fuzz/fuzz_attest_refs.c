/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness for refs.yaml, the verifier's reference values. */
#include "attest/attest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct attest_refs *refs = NULL;
	struct moat_error err;
	if (attest_refs_parse((const char *)data, size, "fuzz.yaml", &refs, &err) == 0)
		attest_refs_free(refs);
	return 0;
}
