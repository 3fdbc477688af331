/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The port groups' TC programs (enforcer/podnet.bpf.c), loaded and filled
 * through the same API moat uses (pinned in a bpffs this test mounts and
 * removes), and run on packets with BPF_PROG_TEST_RUN: attached to nothing.
 * The "tap" is the loopback's ifindex, which the test run needs to exist.
 */
#include "enforcer/enforcer.h"
#include "unit.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <sys/mount.h>
#include <sys/stat.h>

static char dir[64];
static int from_fd = -1, to_fd = -1;
static const uint8_t pod_mac[6] = { 0x02, 0x6d, 10, 88, 0, 2 };

static uint32_t ip4(const char *s)
{
	struct in_addr a;
	inet_pton(AF_INET, s, &a);
	return a.s_addr;
}

/* Ethernet + IPv4 + TCP or UDP (SYN when TCP), or ICMP echo. */
static size_t packet(uint8_t *p, const uint8_t *src_mac, const char *src, const char *dst,
		     int proto, uint16_t sport, uint16_t dport, int icmp_type)
{
	memset(p, 0, 128);
	memcpy(p + 6, src_mac, 6);
	p[12] = 0x08;
	uint8_t *ip = p + 14;
	ip[0] = 0x45;
	ip[3] = 40;
	ip[8] = 64;
	ip[9] = (uint8_t)proto;
	uint32_t s = ip4(src), d = ip4(dst);
	memcpy(ip + 12, &s, 4);
	memcpy(ip + 16, &d, 4);
	uint8_t *l4 = ip + 20;
	if (proto == 1) {
		l4[0] = (uint8_t)icmp_type;
		l4[4] = (uint8_t)(sport >> 8);
		l4[5] = (uint8_t)sport;
	} else {
		l4[0] = (uint8_t)(sport >> 8);
		l4[1] = (uint8_t)sport;
		l4[2] = (uint8_t)(dport >> 8);
		l4[3] = (uint8_t)dport;
		if (proto == 6) {
			l4[12] = 0x50;
			l4[13] = 0x02;
		}
	}
	return 14 + 20 + 20;
}

static int run(int fd, const uint8_t *pkt, size_t len, unsigned repeat)
{
	struct __sk_buff ctx = { .ifindex = 1 };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = (uint32_t)len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = repeat);
	if (bpf_prog_test_run_opts(fd, &o) < 0) {
		unit_fail("BPF_PROG_TEST_RUN: %s", strerror(errno));
		return -1;
	}
	return (int)o.retval;
}

static int sync_pod(bool isolated, uint32_t pps, const struct podnet_rule *rules, size_t n)
{
	struct podnet_pod_entry e = { .ifindex = 1, .ip = ip4("10.88.0.2"), .isolated = isolated,
				      .pps = pps };
	memcpy(e.mac, pod_mac, 6);
	struct moat_error err = { 0 };
	if (podnet_sync(dir, &e, 1, rules, n, &err) < 0) {
		unit_fail("podnet_sync: %s", err.msg);
		return -1;
	}
	return 0;
}

static void test_only_the_pods_own_addresses_leave_it(void)
{
	if (sync_pod(false, 0, NULL, 0) < 0)
		return;
	uint8_t p[128];
	size_t n = packet(p, pod_mac, "10.88.0.2", "10.88.0.3", 17, 5000, 53, 0);
	CHECK_INT(run(from_fd, p, n, 1), TC_ACT_OK);
	n = packet(p, pod_mac, "10.88.0.9", "10.88.0.3", 17, 5000, 53, 0);
	CHECK_INT(run(from_fd, p, n, 1), TC_ACT_SHOT);
	static const uint8_t other_mac[6] = { 0x02, 0, 0, 0, 0, 1 };
	n = packet(p, other_mac, "10.88.0.2", "10.88.0.3", 17, 5000, 53, 0);
	CHECK_INT(run(from_fd, p, n, 1), TC_ACT_SHOT);
	/* The gateway, the host behind it, and the outside: nothing. */
	n = packet(p, pod_mac, "10.88.0.2", "10.88.0.1", 6, 5000, 22, 0);
	CHECK_INT(run(from_fd, p, n, 1), TC_ACT_SHOT);
	n = packet(p, pod_mac, "10.88.0.2", "192.168.1.10", 6, 5000, 22, 0);
	CHECK_INT(run(from_fd, p, n, 1), TC_ACT_SHOT);
	/* IPv6 is not offered. */
	n = packet(p, pod_mac, "10.88.0.2", "10.88.0.3", 17, 5000, 53, 0);
	p[12] = 0x86;
	p[13] = 0xdd;
	CHECK_INT(run(from_fd, p, n, 1), TC_ACT_SHOT);
	uint64_t pk[PODNET_NREASONS], by[PODNET_NREASONS];
	struct moat_error err = { 0 };
	CHECK_INT(podnet_counters(dir, ip4("10.88.0.2"), pk, by, &err), 0);
	CHECK(pk[0] >= 1);		   /* passed */
	CHECK(pk[3] >= 1 && pk[2] >= 1); /* spoofedIp, spoofedMac */
	CHECK(pk[5] >= 2 && pk[6] >= 1); /* offPortGroup, protocol */
}

static void test_arp_sender_must_be_the_pod(void)
{
	if (sync_pod(false, 0, NULL, 0) < 0)
		return;
	uint8_t p[64] = { 0 };
	memset(p, 0xff, 6);
	memcpy(p + 6, pod_mac, 6);
	p[12] = 0x08;
	p[13] = 0x06;
	uint8_t *a = p + 14;
	a[1] = 1;    /* Ethernet */
	a[2] = 0x08; /* IPv4 */
	a[4] = 6;
	a[5] = 4;
	a[7] = 1; /* request */
	memcpy(a + 8, pod_mac, 6);
	uint32_t me = ip4("10.88.0.2"), other = ip4("10.88.0.3");
	memcpy(a + 14, &me, 4);
	memcpy(a + 24, &other, 4);
	CHECK_INT(run(from_fd, p, 42, 1), TC_ACT_OK);
	memcpy(a + 14, &other, 4); /* claims another pod's address */
	CHECK_INT(run(from_fd, p, 42, 1), TC_ACT_SHOT);
}

static void test_policy_toward_an_isolated_pod(void)
{
	struct podnet_rule r = { .pod = ip4("10.88.0.2"), .protocol = 6, .port = 8080,
				 .src = ip4("10.88.0.3"), .len = 32, .allow = true };
	if (sync_pod(true, 0, &r, 1) < 0)
		return;
	static const uint8_t peer[6] = { 0x02, 0x6d, 10, 88, 0, 3 };
	uint8_t p[128];
	size_t n = packet(p, peer, "10.88.0.3", "10.88.0.2", 6, 40000, 8080, 0);
	CHECK_INT(run(to_fd, p, n, 1), TC_ACT_OK);
	n = packet(p, peer, "10.88.0.4", "10.88.0.2", 6, 40000, 8080, 0);
	CHECK_INT(run(to_fd, p, n, 1), TC_ACT_SHOT);
	n = packet(p, peer, "10.88.0.3", "10.88.0.2", 6, 40000, 22, 0);
	CHECK_INT(run(to_fd, p, n, 1), TC_ACT_SHOT);
	/* A connection the pod opens gets its replies. */
	n = packet(p, pod_mac, "10.88.0.2", "10.88.0.4", 6, 41000, 80, 0);
	CHECK_INT(run(from_fd, p, n, 1), TC_ACT_OK);
	n = packet(p, peer, "10.88.0.4", "10.88.0.2", 6, 80, 41000, 0);
	CHECK_INT(run(to_fd, p, n, 1), TC_ACT_OK);
	n = packet(p, peer, "10.88.0.4", "10.88.0.2", 6, 81, 41000, 0);
	CHECK_INT(run(to_fd, p, n, 1), TC_ACT_SHOT);
	/* Its pings too. */
	n = packet(p, pod_mac, "10.88.0.2", "10.88.0.4", 1, 77, 0, 8);
	CHECK_INT(run(from_fd, p, n, 1), TC_ACT_OK);
	n = packet(p, peer, "10.88.0.4", "10.88.0.2", 1, 77, 0, 0);
	CHECK_INT(run(to_fd, p, n, 1), TC_ACT_OK);
	/* Without a policy, everything goes in. */
	if (sync_pod(false, 0, NULL, 0) < 0)
		return;
	n = packet(p, peer, "10.88.0.4", "10.88.0.2", 6, 40000, 22, 0);
	CHECK_INT(run(to_fd, p, n, 1), TC_ACT_OK);
}

static void test_rate_limit(void)
{
	if (sync_pod(false, 16, NULL, 0) < 0)
		return;
	uint8_t p[128];
	size_t n = packet(p, pod_mac, "10.88.0.2", "10.88.0.3", 17, 5000, 53, 0);
	/* 16 packets a second hold a bucket of 4: the 1000th in a row is over. */
	CHECK_INT(run(from_fd, p, n, 1000), TC_ACT_SHOT);
	uint64_t pk[PODNET_NREASONS], by[PODNET_NREASONS];
	struct moat_error err = { 0 };
	CHECK_INT(podnet_counters(dir, ip4("10.88.0.2"), pk, by, &err), 0);
	CHECK(pk[1] >= 900); /* rate */
}

int main(void)
{
	char skip[300] = "";
	snprintf(dir, sizeof(dir), "/tmp/moat-podnet-XXXXXX");
	struct moat_error err = { 0 };
	if (geteuid() != 0) {
		snprintf(skip, sizeof(skip), "needs root (bpffs, BPF)");
	} else if (!mkdtemp(dir) || mount("bpf", dir, "bpf", 0, "mode=0700") < 0) {
		snprintf(skip, sizeof(skip), "cannot mount a bpffs: %s", strerror(errno));
	} else if (podnet_create(dir, ip4("10.88.0.0"), ip4("255.255.255.0"), ip4("10.88.0.1"),
				 &err) < 0) {
		if (err.errnum != EPERM && err.errnum != ENOSYS && err.errnum != EACCES) {
			fprintf(stderr, "test_podnet: %s\n", err.msg);
			umount2(dir, MNT_DETACH);
			rmdir(dir);
			return 1;
		}
		snprintf(skip, sizeof(skip), "BPF is not available here: %.200s", err.msg);
	} else {
		char path[128];
		snprintf(path, sizeof(path), "%s/prog_from_pod", dir);
		from_fd = bpf_obj_get(path);
		snprintf(path, sizeof(path), "%s/prog_to_pod", dir);
		to_fd = bpf_obj_get(path);
	}
	void (*tests[])(void) = { test_only_the_pods_own_addresses_leave_it,
				  test_arp_sender_must_be_the_pod, test_policy_toward_an_isolated_pod,
				  test_rate_limit };
	const char *names[] = { "test_only_the_pods_own_addresses_leave_it",
				"test_arp_sender_must_be_the_pod", "test_policy_toward_an_isolated_pod",
				"test_rate_limit" };
	for (size_t i = 0; i < ARRAY_SIZE(tests); i++) {
		if (skip[0]) {
			unit_count++;
			printf("ok %d - %s # SKIP %s\n", unit_count, names[i], skip);
			continue;
		}
		unit_run(names[i], tests[i]);
	}
	if (from_fd >= 0) {
		close(from_fd);
		close(to_fd);
		podnet_destroy(dir);
		umount2(dir, MNT_DETACH);
		rmdir(dir);
	}
	return unit_done();
}
