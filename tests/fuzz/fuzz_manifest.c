/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the manifest reader: the YAML tree builder and every
 * check that walks it, at the level and version the first byte picks, then
 * the report writers over whatever was found.
 */
#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct policy_config cfg = {
		.level = (enum pss_level)(data[0] % 3),
		.minor = (data[0] >> 2) % (PSS_NEWEST_MINOR + 1),
		.share_nothing = data[0] & 0x80,
	};
	struct report rep;
	report_init(&rep, "fuzz", policy_rules, R_COUNT);
	policy_check_buffer(&cfg, "fuzz.yaml", (const char *)data + 1, size - 1, &rep);
	/* Writing costs more than parsing: exercise the writers on a sample. */
	if ((data[0] & 0x0f) == 0x05) {
		FILE *null = fopen("/dev/null", "we");
		if (null) {
			for (int f = REPORT_TEXT; f <= REPORT_JUNIT; f++)
				report_write(&rep, (enum report_format)f, null);
			fclose(null);
		}
	}
	report_release(&rep);
	return 0;
}
