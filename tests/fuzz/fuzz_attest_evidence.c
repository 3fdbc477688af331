/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness for evidence JSON (and the JSON reader under it): what
 * parses is written back and must parse again to the same evidence. */
#include "attest/attest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct attest_evidence ev;
	struct moat_error err;
	if (attest_evidence_parse((const char *)data, size, "fuzz.json", &ev, &err) < 0)
		return 0;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f) {
		attest_evidence_write(f, &ev);
		fclose(f);
		struct attest_evidence again;
		if (attest_evidence_parse(text, len, "again.json", &again, &err) < 0)
			__builtin_trap();
		if (again.quote_len != ev.quote_len || again.ima_len != ev.ima_len ||
		    memcmp(&again.pcrs, &ev.pcrs, sizeof(ev.pcrs)) != 0)
			__builtin_trap();
		attest_evidence_free(&again);
	}
	free(text);
	attest_evidence_free(&ev);
	return 0;
}
