// SPDX-License-Identifier: GPL-2.0
/*
 * A port group's taps, seen from the host: the guest cannot reach these.
 *  - podnet_from_pod (TC ingress of a tap: what the guest sends): the pod's
 *    own MAC and IPv4 address only (ARP sender included), ARP and IPv4 only,
 *    nothing to the gateway or off the port group, and a token bucket per
 *    pod (packets and bytes a second) so one pod cannot starve the others.
 *    Connections the pod opens are recorded, so their replies pass below.
 *  - podnet_to_pod (TC egress of a tap: what the guest receives): for a pod
 *    a NetworkPolicy selects, only what a rule allows, and replies.
 * Drops are counted per pod and reason.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "podnet.h"

#define ARPHRD_ETHER 1

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PODNET_MAX_PODS);
	__type(key, __u32); /* the tap's ifindex */
	__type(value, struct podnet_pod);
} pods SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PODNET_MAX_PODS);
	__type(key, __u32);
	__type(value, struct podnet_bucket);
} buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct podnet_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, PODNET_MAX_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct podnet_rule_key);
	__type(value, __u8); /* 1 allow, 0 an ipBlock's except */
} rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PODNET_FLOWS);
	__type(key, struct podnet_flow_key);
	__type(value, __u64);
} flows SEC(".maps");

struct podnet_counter {
	__u64 packets, bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, PODNET_MAX_PODS * PODNET_REASONS);
	__type(key, struct podnet_drop_key);
	__type(value, struct podnet_counter);
} counters SEC(".maps");

static __always_inline int count(__u32 pod, __u32 reason, __u32 len)
{
	struct podnet_drop_key k = { .pod = pod, .reason = reason };
	struct podnet_counter *c = bpf_map_lookup_elem(&counters, &k);
	if (c) {
		c->packets++;
		c->bytes += len;
	} else {
		struct podnet_counter n = { 1, len };
		bpf_map_update_elem(&counters, &k, &n, BPF_NOEXIST);
	}
	return reason == PODNET_PASS ? TC_ACT_OK : TC_ACT_SHOT;
}

/* The bucket holds 250 ms of each rate.  Packet tokens are in millionths
 * of a packet, byte tokens in thousandths of a byte, so the refill needs
 * no floating point and cannot overflow (elapsed time is capped too). */
#define BUCKET_NS 250000000ull

static __always_inline int rate_ok(__u32 ifindex, const struct podnet_pod *p, __u32 len)
{
	if (!p->pps && !p->bps)
		return 1;
	__u64 now = bpf_ktime_get_ns();
	struct podnet_bucket *b = bpf_map_lookup_elem(&buckets, &ifindex);
	if (!b) {
		struct podnet_bucket n = { .last_ns = now, .pkt_tokens = p->pps * 250000ull,
					   .byte_tokens = p->bps * 250ull };
		bpf_map_update_elem(&buckets, &ifindex, &n, BPF_ANY);
		b = bpf_map_lookup_elem(&buckets, &ifindex);
		if (!b)
			return 1;
	}
	__u64 dt = now - b->last_ns;
	if (dt > BUCKET_NS)
		dt = BUCKET_NS;
	b->last_ns = now;
	int ok = 1;
	if (p->pps) {
		__u64 cap = p->pps * 250000ull, t = b->pkt_tokens + dt * p->pps / 1000;
		if (t > cap)
			t = cap;
		if (t < 1000000)
			ok = 0;
		else
			t -= 1000000;
		b->pkt_tokens = t;
	}
	if (p->bps) {
		__u64 cap = p->bps * 250ull, t = b->byte_tokens + dt * p->bps / 1000000;
		if (t > cap)
			t = cap;
		if (t < (__u64)len * 1000)
			ok = 0;
		else if (ok)
			t -= (__u64)len * 1000;
		b->byte_tokens = t;
	}
	return ok;
}

struct arp_eth {
	__be16 hrd, pro;
	__u8 hln, pln;
	__be16 op;
	__u8 sha[6];
	__u8 spa[4];
	__u8 tha[6];
	__u8 tpa[4];
} __attribute__((packed));

static __always_inline int mac_eq(const __u8 *a, const __u8 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4] &&
	       a[5] == b[5];
}

#define HDRS (sizeof(struct ethhdr) + 60 + 8)

static __always_inline void pull(struct __sk_buff *skb)
{
	__u32 want = skb->len < HDRS ? skb->len : HDRS;
	bpf_skb_pull_data(skb, want);
}

SEC("tc")
int podnet_from_pod(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex, len = skb->len;
	struct podnet_pod *p = bpf_map_lookup_elem(&pods, &ifindex);
	if (!p)
		return count(0, PODNET_UNKNOWN, len);
	__u32 me = p->ip;
	if (!rate_ok(ifindex, p, len))
		return count(me, PODNET_RATE, len);
	__u32 zero = 0;
	struct podnet_config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		return TC_ACT_SHOT;
	pull(skb);
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return count(me, PODNET_MALFORMED, len);
	if (!mac_eq(eth->h_source, p->mac))
		return count(me, PODNET_SPOOF_MAC, len);
	if (eth->h_proto == bpf_htons(ETH_P_ARP)) {
		struct arp_eth *a = (void *)(eth + 1);
		if ((void *)(a + 1) > end)
			return count(me, PODNET_MALFORMED, len);
		__u32 spa;
		__builtin_memcpy(&spa, a->spa, 4);
		/* An ARP probe says 0.0.0.0; anything else must be the pod. */
		if (a->hrd != bpf_htons(ARPHRD_ETHER) || a->pro != bpf_htons(ETH_P_IP) ||
		    a->hln != 6 || a->pln != 4 || !mac_eq(a->sha, p->mac) || (spa && spa != me))
			return count(me, PODNET_SPOOF_ARP, len);
		return count(me, PODNET_PASS, len);
	}
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return count(me, PODNET_PROTOCOL, len);
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->ihl < 5)
		return count(me, PODNET_MALFORMED, len);
	if (ip->saddr != me)
		return count(me, PODNET_SPOOF_IP, len);
	__u32 dst = ip->daddr;
	/* The gateway is moat's own namespace, which serves nothing; past it
	 * there is no route, and this says so before the kernel has to. */
	if (dst == cfg->gateway ||
	    ((dst & cfg->mask) != cfg->net && dst != 0xffffffff))
		return count(me, PODNET_OUTSIDE, len);
	struct podnet_flow_key fk = { .pod = me, .peer = dst, .protocol = ip->protocol };
	void *l4 = (void *)ip + ip->ihl * 4;
	int track = 0;
	if ((ip->frag_off & bpf_htons(0x1fff)) == 0) {
		if (ip->protocol == IPPROTO_TCP || ip->protocol == IPPROTO_UDP) {
			__be16 *ports = l4;
			if ((void *)(ports + 2) <= end) {
				fk.pod_port = ports[0];
				fk.peer_port = ports[1];
				track = 1;
			}
		} else if (ip->protocol == IPPROTO_ICMP) {
			__u8 *icmp = l4;
			if ((void *)(icmp + 8) <= end && icmp[0] == 8) { /* echo request */
				__builtin_memcpy(&fk.pod_port, icmp + 4, 2);
				track = 1;
			}
		}
	}
	if (track) {
		__u64 now = bpf_ktime_get_ns();
		bpf_map_update_elem(&flows, &fk, &now, BPF_ANY);
	}
	return count(me, PODNET_PASS, len);
}

static __always_inline int rule_allows(__u32 pod, __u8 proto, __be16 port, __u32 src)
{
	struct podnet_rule_key k = { .prefixlen = 96, .pod = pod, .protocol = proto, .port = port };
	__builtin_memcpy(k.src, &src, 4);
	__u8 *v = bpf_map_lookup_elem(&rules, &k);
	if (v)
		return *v;
	return 0;
}

SEC("tc")
int podnet_to_pod(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex, len = skb->len;
	struct podnet_pod *p = bpf_map_lookup_elem(&pods, &ifindex);
	if (!p)
		return count(0, PODNET_UNKNOWN, len);
	if (!p->isolated)
		return TC_ACT_OK;
	__u32 me = p->ip;
	pull(skb);
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return count(me, PODNET_MALFORMED, len);
	if (eth->h_proto == bpf_htons(ETH_P_ARP))
		return TC_ACT_OK;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return count(me, PODNET_PROTOCOL, len);
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->ihl < 5)
		return count(me, PODNET_MALFORMED, len);
	/* A fragment's ports cannot be checked. */
	if (ip->frag_off & bpf_htons(0x3fff))
		return count(me, PODNET_MALFORMED, len);
	__u32 src = ip->saddr;
	void *l4 = (void *)ip + ip->ihl * 4;
	__be16 sport = 0, dport = 0;
	struct podnet_flow_key fk = { .pod = me, .peer = src, .protocol = ip->protocol };
	if (ip->protocol == IPPROTO_TCP || ip->protocol == IPPROTO_UDP) {
		__be16 *ports = l4;
		if ((void *)(ports + 2) > end)
			return count(me, PODNET_MALFORMED, len);
		sport = ports[0];
		dport = ports[1];
		fk.pod_port = dport;
		fk.peer_port = sport;
	} else if (ip->protocol == IPPROTO_ICMP) {
		__u8 *icmp = l4;
		if ((void *)(icmp + 8) > end)
			return count(me, PODNET_MALFORMED, len);
		if (icmp[0] == 0) /* echo reply */
			__builtin_memcpy(&fk.pod_port, icmp + 4, 2);
	}
	/* A reply to a connection the pod opened. */
	if (bpf_map_lookup_elem(&flows, &fk))
		return TC_ACT_OK;
	if ((dport && rule_allows(me, ip->protocol, dport, src)) ||
	    rule_allows(me, ip->protocol, 0, src) || rule_allows(me, 0, 0, src))
		return TC_ACT_OK;
	return count(me, PODNET_POLICY, len);
}
