/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness for the exceptions file parser. */
#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_exceptions *ex = NULL;
	struct moat_error err;
	if (policy_exceptions_parse("fuzz.yaml", (const char *)data, size, 20000, &ex, &err) == 0) {
		struct report rep;
		report_init(&rep, "fuzz", policy_rules, R_COUNT);
		policy_exceptions_report_expired(ex, &rep);
		report_release(&rep);
	}
	policy_exceptions_free(ex);
	return 0;
}
