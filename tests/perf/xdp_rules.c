/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The XDP filter's cost per packet at 1, 100 and 10,000 allow rules, through
 * BPF_PROG_TEST_RUN (attached to nothing): the packet matches the last rule
 * and comes from a listed prefix, the worst case for a rule list walked in
 * order.  Prints ns/packet per size; the figure should stay flat.
 */
#include "enforcer/enforcer.h"

#include <arpa/inet.h>

static int run(unsigned nrules, double *ns)
{
	struct node_policy p = { .has_management = true, .nrules = nrules };
	snprintf(p.interface, sizeof(p.interface), "eth0");
	p.rules = calloc(nrules, sizeof(*p.rules));
	struct np_port_range *ranges = calloc(nrules, sizeof(*ranges));
	struct np_prefix *from = calloc(nrules, sizeof(*from));
	for (unsigned i = 0; i < nrules; i++) {
		snprintf(p.rules[i].name, sizeof(p.rules[i].name), "r%u", i);
		p.rules[i].protocol = NP_TCP;
		ranges[i].lo = ranges[i].hi = (uint16_t)(1000 + i);
		p.rules[i].ports = &ranges[i];
		p.rules[i].nports = 1;
		from[i] = (struct np_prefix){ .family = 4, .len = 24,
					      .addr = { 10, (uint8_t)(i >> 8), (uint8_t)i, 0 } };
		p.rules[i].from = &from[i];
		p.rules[i].nfrom = 1;
	}
	struct filter *f = NULL;
	struct moat_error err = { 0 };
	int rc = -1;
	if (filter_open(&f, &err) < 0 || filter_configure(f, &p, false, &err) < 0) {
		fprintf(stderr, "perf/xdp_rules: %s\n", err.msg);
		goto out;
	}
	unsigned last = nrules - 1;
	unsigned char pkt[74] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00, 0x45, 0, 0, 60,
				  0, 1, 0, 0, 64, 6 };
	pkt[26] = 10;
	pkt[27] = (unsigned char)(last >> 8);
	pkt[28] = (unsigned char)last;
	pkt[29] = 7;
	inet_pton(AF_INET, "10.0.0.1", pkt + 30);
	uint16_t dport = htons((uint16_t)(1000 + last));
	memcpy(pkt + 36, &dport, 2);
	int verdict;
	unsigned best = ~0u;
	for (int round = 0; round < 5; round++) {
		unsigned d;
		if (filter_test_packet(f, pkt, sizeof(pkt), 200000, &verdict, &d, &err) < 0) {
			fprintf(stderr, "perf/xdp_rules: %s\n", err.msg);
			goto out;
		}
		if (d < best)
			best = d;
	}
	if (verdict != 2 /* XDP_PASS */) {
		fprintf(stderr, "perf/xdp_rules: the packet was not passed (%d)\n", verdict);
		goto out;
	}
	*ns = best;
	rc = 0;
out:
	filter_close(f);
	free(p.rules);
	free(ranges);
	free(from);
	return rc;
}

int main(void)
{
	static const unsigned sizes[] = { 1, 100, 10000 };
	double ns[3];
	if (geteuid() != 0) {
		puts("perf/xdp_rules: skipped: loading BPF programs needs root");
		return 0;
	}
	for (int i = 0; i < 3; i++)
		if (run(sizes[i], &ns[i]) < 0)
			return 1;
	printf("perf/xdp_rules: XDP filter, BPF_PROG_TEST_RUN, best of 5 x 200000 packets\n");
	for (int i = 0; i < 3; i++)
		printf("  %5u rules: %6.1f ns/packet\n", sizes[i], ns[i]);
	printf("  10000 vs 1 rule: %.2fx (flat is 1.00x)\n", ns[2] / ns[0]);
	return 0;
}
