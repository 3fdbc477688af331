/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness for the NetworkPolicy reader, and the rules it makes
 * for two pods on a port group. */
#include "runtime/runtime.h"

#include "enforcer/enforcer.h"

#include <jansson.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *pols = NULL;
	struct moat_error err;
	if (netpolicy_parse("fuzz.yaml", (const char *)data, size, &pols, &err) == 0) {
		json_t *pods = json_pack(
			"[{s:s, s:{s:s}, s:[{s:s, s:i, s:i}]}, {s:s, s:{s:s}, s:[]}]", "ip",
			"10.88.0.2", "labels", "role", "server", "containerPorts", "name", "http",
			"port", 8080, "protocol", 6, "ip", "10.88.0.3", "labels", "role", "client",
			"containerPorts");
		struct podnet_rule *rules = NULL;
		size_t n = 0;
		bool isolated[2] = { false, false };
		netpolicy_rules(pols, pods, &rules, &n, isolated, 2);
		free(rules);
		json_decref(pods);
	}
	json_decref(pols);
	return 0;
}
