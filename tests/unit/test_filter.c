/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The management-NIC XDP filter, loaded into the kernel and fed crafted
 * packets with BPF_PROG_TEST_RUN (attached to no interface): the verdicts of
 * the example NodePolicy, VLAN tags, IPv6 extension-header chains,
 * fragments, truncated headers, ICMP types, counters and audit mode.
 */
#include "enforcer/enforcer.h"
#include "enforcer/filter.h"
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>

static const char policy_yaml[] =
	"apiVersion: moat/v1\n"
	"kind: NodePolicy\n"
	"metadata: {name: test}\n"
	"spec:\n"
	"  management:\n"
	"    interface: eth0\n"
	"    ingress:\n"
	"      - {name: ssh, protocol: tcp, ports: [22], from: [10.0.0.0/8, \"fd00::/8\"]}\n"
	"      - {name: kubelet, protocol: tcp, ports: [10250]}\n"
	"      - {name: etcd, protocol: tcp, ports: [\"2379-2380\"], from: [10.0.0.0/24]}\n"
	"      - {name: dns, protocol: udp, ports: [53], from: [192.0.2.53]}\n"
	"    icmp: [echo-request]\n"
	"    default: deny\n";

static struct filter *filter;
static struct node_policy *policy;
static char skip_why[1200];

/* ---- packet building ---------------------------------------------------- */

struct pkt {
	unsigned char b[256];
	size_t len;
};

static void put(struct pkt *p, const void *d, size_t n)
{
	memcpy(p->b + p->len, d, n);
	p->len += n;
}

static void put16(struct pkt *p, uint16_t v)
{
	v = htons(v);
	put(p, &v, 2);
}

static void eth(struct pkt *p, uint16_t type, int vlans)
{
	static const unsigned char macs[12] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2 };
	p->len = 0;
	put(p, macs, 12);
	for (int i = 0; i < vlans; i++) {
		put16(p, i == 0 && vlans == 2 ? 0x88a8 : 0x8100);
		put16(p, (uint16_t)(100 + i));
	}
	put16(p, type);
}

static void ipv4(struct pkt *p, const char *src, uint8_t proto, uint16_t frag)
{
	unsigned char h[20] = { 0x45, 0, 0, 40, 0, 1, 0, 0, 64, proto };
	h[6] = (unsigned char)(frag >> 8);
	h[7] = (unsigned char)frag;
	inet_pton(AF_INET, src, h + 12);
	inet_pton(AF_INET, "10.0.0.1", h + 16);
	put(p, h, sizeof(h));
}

static void ipv6(struct pkt *p, const char *src, uint8_t next)
{
	unsigned char h[40] = { 0x60, 0, 0, 0, 0, 20, next, 64 };
	inet_pton(AF_INET6, src, h + 8);
	inet_pton(AF_INET6, "fd00::1", h + 24);
	put(p, h, sizeof(h));
}

static void ports(struct pkt *p, uint16_t dport)
{
	put16(p, 40000);
	put16(p, dport);
	static const unsigned char rest[16] = { 0 };
	put(p, rest, sizeof(rest)); /* enough for a TCP header */
}

static int verdict(const struct pkt *p)
{
	int v = -1;
	struct moat_error err;
	if (filter_test_packet(filter, p->b, p->len, 1, &v, NULL, &err) < 0)
		unit_fail("test run: %s", err.msg);
	return v;
}

static int tcp4(const char *src, uint16_t port, int vlans)
{
	struct pkt p;
	eth(&p, 0x0800, vlans);
	ipv4(&p, src, 6, 0);
	ports(&p, port);
	return verdict(&p);
}

static int tcp6(const char *src, uint16_t port)
{
	struct pkt p;
	eth(&p, 0x86dd, 0);
	ipv6(&p, src, 6);
	ports(&p, port);
	return verdict(&p);
}

static bool ready(void)
{
	if (skip_why[0]) {
		unit_skip("%s", skip_why);
		return false;
	}
	return true;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_rules_and_sources(void)
{
	if (!ready())
		return;
	CHECK_INT(tcp4("10.1.2.3", 22, 0), XDP_PASS);
	CHECK_INT(tcp4("192.0.2.1", 22, 0), XDP_DROP);   /* ssh not from here */
	CHECK_INT(tcp4("198.51.100.7", 10250, 0), XDP_PASS); /* kubelet: anyone */
	CHECK_INT(tcp4("10.0.0.9", 2379, 0), XDP_PASS);
	CHECK_INT(tcp4("10.0.0.9", 2380, 0), XDP_PASS);
	CHECK_INT(tcp4("10.0.1.9", 2380, 0), XDP_DROP); /* outside the /24 */
	CHECK_INT(tcp4("10.0.0.9", 2381, 0), XDP_DROP); /* no rule */
	CHECK_INT(tcp4("10.1.2.3", 53, 0), XDP_DROP);   /* dns is udp */
	struct pkt p;
	eth(&p, 0x0800, 0);
	ipv4(&p, "192.0.2.53", 17, 0);
	ports(&p, 53);
	CHECK_INT(verdict(&p), XDP_PASS);
	eth(&p, 0x0800, 0);
	ipv4(&p, "192.0.2.54", 17, 0);
	ports(&p, 53);
	CHECK_INT(verdict(&p), XDP_DROP); /* a /32 means that host only */
}

static void test_vlan_tags(void)
{
	if (!ready())
		return;
	CHECK_INT(tcp4("10.1.2.3", 22, 1), XDP_PASS);
	CHECK_INT(tcp4("192.0.2.1", 22, 1), XDP_DROP);
	CHECK_INT(tcp4("10.1.2.3", 22, 2), XDP_PASS); /* 802.1ad then 802.1Q */
	CHECK_INT(tcp4("10.1.2.3", 23, 2), XDP_DROP);
}

static void test_ipv6_and_extension_headers(void)
{
	if (!ready())
		return;
	CHECK_INT(tcp6("fd00::42", 22), XDP_PASS);
	CHECK_INT(tcp6("2001:db8::1", 22), XDP_DROP);
	CHECK_INT(tcp6("2001:db8::1", 10250), XDP_PASS);
	/* hop-by-hop (8 bytes) -> destination options (16 bytes) -> TCP 22 */
	struct pkt p;
	eth(&p, 0x86dd, 0);
	ipv6(&p, "fd00::42", 0);
	static const unsigned char hbh[8] = { 60, 0, 1, 4, 0, 0, 0, 0 };
	static const unsigned char dst[16] = { 6, 1, 1, 12, 0 };
	put(&p, hbh, sizeof(hbh));
	put(&p, dst, sizeof(dst));
	ports(&p, 22);
	CHECK_INT(verdict(&p), XDP_PASS);
	/* the same chain, ending at a port no rule allows */
	p.len -= 20;
	ports(&p, 23);
	CHECK_INT(verdict(&p), XDP_DROP);
	/* a chain whose length runs past the packet */
	eth(&p, 0x86dd, 0);
	ipv6(&p, "fd00::42", 0);
	static const unsigned char longhbh[8] = { 6, 200, 0, 0, 0, 0, 0, 0 };
	put(&p, longhbh, sizeof(longhbh));
	CHECK_INT(verdict(&p), XDP_DROP);
}

static void test_fragments(void)
{
	if (!ready())
		return;
	struct pkt p;
	eth(&p, 0x0800, 0);
	ipv4(&p, "10.1.2.3", 6, 0x2000); /* more fragments, offset 0 */
	ports(&p, 22);
	CHECK_INT(verdict(&p), XDP_DROP);
	eth(&p, 0x0800, 0);
	ipv4(&p, "10.1.2.3", 6, 0x0010); /* a later fragment */
	ports(&p, 22);
	CHECK_INT(verdict(&p), XDP_DROP);
	eth(&p, 0x86dd, 0);
	ipv6(&p, "fd00::42", 44); /* fragment header */
	static const unsigned char frag[8] = { 6, 0, 0, 1, 0, 0, 0, 7 };
	put(&p, frag, sizeof(frag));
	ports(&p, 22);
	CHECK_INT(verdict(&p), XDP_DROP);
	uint64_t n = 0;
	struct moat_error err;
	CHECK(filter_drop_counter(filter, REASON_FRAGMENT, &n, &err) == 0);
	CHECK(n >= 3);
}

static void test_truncated_headers(void)
{
	if (!ready())
		return;
	struct pkt p;
	eth(&p, 0x0800, 0); /* IPv4 ethertype, no IP header */
	CHECK_INT(verdict(&p), XDP_DROP);
	eth(&p, 0x0800, 0);
	ipv4(&p, "10.1.2.3", 6, 0);
	put16(&p, 40000); /* the source port, then nothing */
	CHECK_INT(verdict(&p), XDP_DROP);
	eth(&p, 0x8100, 0); /* a VLAN ethertype with no tag after it */
	CHECK_INT(verdict(&p), XDP_DROP);
	eth(&p, 0x86dd, 0);
	static const unsigned char half[20] = { 0x60 };
	put(&p, half, sizeof(half));
	CHECK_INT(verdict(&p), XDP_DROP);
	uint64_t n = 0;
	struct moat_error err;
	CHECK(filter_drop_counter(filter, REASON_MALFORMED, &n, &err) == 0);
	CHECK(n >= 4);
}

static void test_arp_nd_and_icmp(void)
{
	if (!ready())
		return;
	struct pkt p;
	eth(&p, 0x0806, 0); /* ARP */
	static const unsigned char arp[28] = { 0, 1, 8, 0, 6, 4, 0, 1 };
	put(&p, arp, sizeof(arp));
	CHECK_INT(verdict(&p), XDP_PASS);
	eth(&p, 0x0800, 0);
	ipv4(&p, "203.0.113.9", 1, 0);
	static const unsigned char echo[8] = { 8 }, stamp[8] = { 13 };
	put(&p, echo, sizeof(echo));
	CHECK_INT(verdict(&p), XDP_PASS);
	eth(&p, 0x0800, 0);
	ipv4(&p, "203.0.113.9", 1, 0);
	put(&p, stamp, sizeof(stamp));
	CHECK_INT(verdict(&p), XDP_DROP); /* timestamp: not listed */
	eth(&p, 0x86dd, 0);
	ipv6(&p, "2001:db8::9", 58);
	static const unsigned char ns[8] = { 135 }, echo6[8] = { 128 }, reply6[8] = { 129 };
	put(&p, ns, sizeof(ns));
	CHECK_INT(verdict(&p), XDP_PASS); /* neighbour solicitation, always */
	eth(&p, 0x86dd, 0);
	ipv6(&p, "2001:db8::9", 58);
	put(&p, echo6, sizeof(echo6));
	CHECK_INT(verdict(&p), XDP_PASS);
	eth(&p, 0x86dd, 0);
	ipv6(&p, "2001:db8::9", 58);
	put(&p, reply6, sizeof(reply6));
	CHECK_INT(verdict(&p), XDP_DROP);
}

static void test_counters_match_traffic(void)
{
	if (!ready())
		return;
	struct moat_error err;
	uint64_t before = 0, bytes_before = 0, after = 0, bytes_after = 0;
	CHECK(filter_rule_counter(filter, 1, &before, &bytes_before, &err) == 0); /* kubelet */
	struct pkt p;
	eth(&p, 0x0800, 0);
	ipv4(&p, "198.51.100.7", 6, 0);
	ports(&p, 10250);
	int v = -1;
	CHECK(filter_test_packet(filter, p.b, p.len, 25, &v, NULL, &err) == 0);
	CHECK_INT(v, XDP_PASS);
	CHECK(filter_rule_counter(filter, 1, &after, &bytes_after, &err) == 0);
	CHECK_INT((long)(after - before), 25);
	CHECK_INT((long)(bytes_after - bytes_before), 25 * (long)p.len);
}

static void test_audit_drops_nothing(void)
{
	if (!ready())
		return;
	struct moat_error err;
	uint64_t before = 0, after = 0;
	CHECK(filter_drop_counter(filter, REASON_NO_RULE, &before, &err) == 0);
	CHECK(filter_configure(filter, policy, true, &err) == 0);
	CHECK_INT(tcp4("10.0.0.9", 2381, 0), XDP_PASS); /* would be dropped */
	CHECK_INT(tcp6("2001:db8::1", 9999), XDP_PASS);
	CHECK(filter_drop_counter(filter, REASON_NO_RULE, &after, &err) == 0);
	CHECK_INT((long)(after - before), 2);
	CHECK(filter_configure(filter, policy, false, &err) == 0);
	CHECK_INT(tcp4("10.0.0.9", 2381, 0), XDP_DROP);
}

/* Nine prefix lengths: more than the hashed path tries, so the LPM tries
 * decide; the verdicts must not change. */
static void test_many_prefix_lengths(void)
{
	if (!ready())
		return;
	static const char many[] =
		"apiVersion: moat/v1\nkind: NodePolicy\nmetadata: {name: many}\nspec:\n"
		"  management:\n    interface: eth0\n    ingress:\n"
		"      - {name: a, protocol: tcp, ports: [22], from: [10.0.0.0/8, 10.0.0.0/9, "
		"10.0.0.0/10, 10.0.0.0/11, 10.0.0.0/12, 10.0.0.0/13, 10.0.0.0/14, 10.0.0.0/15, "
		"192.0.2.0/24, \"fd00::/8\"]}\n";
	struct node_policy *p = NULL;
	struct moat_error err;
	CHECK(node_policy_parse("many.yaml", many, sizeof(many) - 1, &p, &err) == 0);
	struct filter *saved = filter, *f = NULL;
	CHECK(filter_open(&f, &err) == 0);
	CHECK(f && filter_configure(f, p, false, &err) == 0);
	filter = f;
	CHECK_INT(tcp4("10.200.0.1", 22, 0), XDP_PASS);
	CHECK_INT(tcp4("192.0.2.77", 22, 0), XDP_PASS);
	CHECK_INT(tcp4("192.0.3.77", 22, 0), XDP_DROP);
	CHECK_INT(tcp6("fd12::1", 22), XDP_PASS);
	CHECK_INT(tcp6("fe80::1", 22), XDP_DROP);
	filter = saved;
	filter_close(f);
	node_policy_free(p);
}

int main(void)
{
	struct moat_error err = { 0 };
	if (node_policy_parse("test.yaml", policy_yaml, sizeof(policy_yaml) - 1, &policy, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	if (geteuid() != 0)
		snprintf(skip_why, sizeof(skip_why), "loading BPF programs needs root");
	else if (filter_open(&filter, &err) < 0) {
		/* Missing privilege or BPF support is a skip; the verifier
		 * refusing the program is a failure. */
		if (err.errnum != EPERM && err.errnum != ENOSYS && err.errnum != EACCES) {
			fprintf(stderr, "test_filter: %s\n", err.msg);
			return 1;
		}
		snprintf(skip_why, sizeof(skip_why), "BPF is not available here: %s", err.msg);
	}
	else if (filter_configure(filter, policy, false, &err) < 0) {
		fprintf(stderr, "configure: %s\n", err.msg);
		return 1;
	}
	TEST(test_rules_and_sources);
	TEST(test_vlan_tags);
	TEST(test_ipv6_and_extension_headers);
	TEST(test_fragments);
	TEST(test_truncated_headers);
	TEST(test_arp_nd_and_icmp);
	TEST(test_counters_match_traffic);
	TEST(test_audit_drops_nothing);
	TEST(test_many_prefix_lengths);
	filter_close(filter);
	node_policy_free(policy);
	return unit_done();
}
