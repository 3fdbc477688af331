/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness for the IMA list parser (binary and ASCII), its replay
 * in four banks, and the printers. */
#include "attest/attest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	if (!devnull)
		devnull = fopen("/dev/null", "w");
	struct attest_ima_list list;
	struct moat_error err;
	if (attest_ima_parse(data, size, "fuzz", &list, &err) < 0)
		return 0;
	struct attest_pcrs p = { 0 };
	attest_pcrs_add_bank(&p, TPM_ALG_SHA1);
	attest_pcrs_add_bank(&p, TPM_ALG_SHA256);
	attest_pcrs_add_bank(&p, TPM_ALG_SHA384);
	attest_pcrs_add_bank(&p, TPM_ALG_SHA512);
	long bad = attest_ima_replay(&list, &p);
	if (bad >= (long)list.nentries)
		__builtin_trap();
	if (devnull) {
		attest_ima_print(devnull, &list, true, &p, ATTEST_FMT_TEXT);
		attest_ima_print(devnull, &list, true, &p, ATTEST_FMT_JSON);
	}
	attest_ima_free(&list);
	return 0;
}
