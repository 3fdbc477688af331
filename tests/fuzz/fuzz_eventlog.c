/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness for the TCG event log parser, its replay, the
 * first-bad-event search on every PCR it sets, and the three printers. */
#include "attest/attest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	if (!devnull)
		devnull = fopen("/dev/null", "w");
	struct attest_eventlog log;
	struct moat_error err;
	if (attest_eventlog_parse(data, size, "fuzz.bin", &log, &err) < 0)
		return 0;
	struct attest_pcrs p = { 0 };
	attest_eventlog_replay(&log, &p);
	for (size_t b = 0; b < p.nbanks; b++)
		for (uint32_t r = 0; r < ATTEST_NUM_PCRS; r++)
			if (p.bank[b].set & (1u << r)) {
				uint8_t want[ATTEST_MAX_DIGEST];
				memcpy(want, p.bank[b].pcr[r], p.bank[b].size);
				want[0] ^= 1;
				attest_eventlog_first_bad(&log, p.bank[b].alg, r, want);
			}
	for (size_t e = 0; e < log.nevents; e++)
		attest_event_digest_mismatch(&log.events[e]);
	if (devnull) {
		attest_eventlog_print(devnull, &log, true, ATTEST_FMT_TEXT);
		attest_eventlog_print(devnull, &log, true, ATTEST_FMT_JSON);
		attest_eventlog_print(devnull, &log, true, ATTEST_FMT_YAML);
	}
	attest_eventlog_free(&log);
	return 0;
}
