/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness for the NodePolicy reader. */
#include "enforcer/enforcer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct node_policy *p = NULL;
	struct moat_error err;
	node_policy_parse("fuzz.yaml", (const char *)data, size, &p, &err);
	node_policy_free(p);
	return 0;
}
