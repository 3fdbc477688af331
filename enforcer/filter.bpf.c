// SPDX-License-Identifier: GPL-2.0
/*
 * The management NIC's ingress filter (XDP).  Parses Ethernet, up to two
 * VLAN tags, IPv4 and IPv6 (extension headers walked, fragments refused),
 * passes ARP and IPv6 neighbour discovery, and allows TCP, UDP and SCTP only
 * by a rule keyed on protocol and destination port, with the source checked
 * in an LPM trie.  Per-rule and per-reason counters are per-CPU.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "filter.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FILTER_MAX_PORTS);
	__type(key, struct filter_port_key);
	__type(value, struct filter_port_val);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct filter_src4_key);
	__type(value, __u8);
} src4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct filter_src6_key);
	__type(value, __u8);
} src6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct filter_srch_key);
	__type(value, __u8);
} srch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FILTER_MAX_RULES);
	__type(key, __u32);
	__type(value, struct filter_counter);
} rule_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, REASON_COUNT);
	__type(key, __u32);
	__type(value, struct filter_counter);
} drop_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct filter_config);
} config SEC(".maps");

/* ICMP and ICMPv6 types (linux/icmp.h would pull in libc headers). */
#define ICMP_ECHOREPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_ECHO 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12
#define ICMPV6_DEST_UNREACH 1
#define ICMPV6_PKT_TOOBIG 2
#define ICMPV6_TIME_EXCEED 3
#define ICMPV6_PARAMPROB 4
#define ICMPV6_ECHO_REQUEST 128
#define ICMPV6_ECHO_REPLY 129

struct icmp_common {
	__u8 type, code;
	__be16 checksum;
};

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

/* The ICMP type names of node_policy.icmp, in its bit order. */
enum { ICMPN_ECHO_REQUEST, ICMPN_ECHO_REPLY, ICMPN_UNREACH, ICMPN_TIME_EXCEEDED,
       ICMPN_TOO_BIG, ICMPN_PARAM };

static __always_inline void count(void *map, __u32 key, __u64 bytes)
{
	struct filter_counter *c = bpf_map_lookup_elem(map, &key);
	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

static __always_inline int drop(struct xdp_md *ctx, __u32 reason)
{
	__u64 bytes = ctx->data_end - ctx->data;
	__u32 zero = 0;
	count(&drop_counters, reason, bytes);
	struct filter_config *cfg = bpf_map_lookup_elem(&config, &zero);
	return cfg && (cfg->audit || cfg->default_allow) ? XDP_PASS : XDP_DROP;
}

static __always_inline int icmp_allowed(__u32 mask, __u32 name)
{
	return (mask >> name) & 1;
}

/* The network-order mask of bits [word*32, word*32+32) of a len-bit prefix. */
static __always_inline __u32 word_mask(__u32 len, int word)
{
	int bits = (int)len - word * 32;
	if (bits >= 32)
		return 0xffffffff;
	if (bits <= 0)
		return 0;
	return bpf_htonl(0xffffffffu << (32 - bits));
}

/* Is saddr in one of rule's prefixes?  One hash lookup per prefix length
 * the policy uses: a subprogram, so the verifier walks it once. */
static __noinline int source_hashed(__u32 rule, int v6, const __u32 *saddr)
{
	__u32 zero = 0;
	struct filter_config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		return 0;
	__u32 n = v6 ? cfg->nlens6 : cfg->nlens4;
	/* A bounded loop: the verifier walks it (Linux 5.3 and later). */
	for (int i = 0; i < FILTER_MAX_LENS; i++) {
		if ((__u32)i >= n)
			break;
		__u32 len = v6 ? cfg->lens6[i & (FILTER_MAX_LENS - 1)]
			       : cfg->lens4[i & (FILTER_MAX_LENS - 1)];
		struct filter_srch_key k = { .rule = rule, .len = (__u8)len, .family = v6 ? 6 : 4 };
		__u32 w[4] = { saddr[0] & word_mask(len, 0), 0, 0, 0 };
		if (v6) {
			w[1] = saddr[1] & word_mask(len, 1);
			w[2] = saddr[2] & word_mask(len, 2);
			w[3] = saddr[3] & word_mask(len, 3);
		}
		__builtin_memcpy(k.addr, w, 16);
		if (bpf_map_lookup_elem(&srch, &k))
			return 1;
	}
	return 0;
}

/* A TCP, UDP or SCTP packet to port: allowed by a rule, from this source? */
static __always_inline int check_port(struct xdp_md *ctx, __u8 proto, __u16 port, int v6,
				      const void *saddr)
{
	struct filter_port_key k = { .protocol = proto, .port = port };
	struct filter_port_val *v = bpf_map_lookup_elem(&ports, &k);
	if (!v)
		return drop(ctx, REASON_NO_RULE);
	if (!v->any_source) {
		__u32 zero = 0;
		struct filter_config *cfg = bpf_map_lookup_elem(&config, &zero);
		int ok;
		if (cfg && !cfg->use_lpm) {
			__u32 a[4] = { 0 };
			__builtin_memcpy(a, saddr, 4);
			if (v6)
				__builtin_memcpy(a, saddr, 16);
			ok = source_hashed(v->rule, v6, a);
		} else if (v6) {
			struct filter_src6_key sk = { .prefixlen = 32 + 128,
						      .rule = bpf_htonl(v->rule) };
			__builtin_memcpy(sk.addr, saddr, 16);
			ok = bpf_map_lookup_elem(&src6, &sk) != NULL;
		} else {
			struct filter_src4_key sk = { .prefixlen = 32 + 32,
						      .rule = bpf_htonl(v->rule) };
			__builtin_memcpy(sk.addr, saddr, 4);
			ok = bpf_map_lookup_elem(&src4, &sk) != NULL;
		}
		if (!ok)
			return drop(ctx, REASON_SOURCE);
	}
	count(&rule_counters, v->rule, ctx->data_end - ctx->data);
	return XDP_PASS;
}

/* Destination port of a TCP, UDP or SCTP header at l4; -1 if truncated. */
static __always_inline int dest_port(void *l4, void *end)
{
	/* All three start with source and destination ports. */
	__be16 *p = l4;
	if ((void *)(p + 2) > end)
		return -1;
	return bpf_ntohs(p[1]);
}

SEC("xdp")
int moat_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct filter_config *cfg = bpf_map_lookup_elem(&config, &zero);
	__u32 icmp_mask = cfg ? cfg->icmp_mask : 0;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return drop(ctx, REASON_MALFORMED);
	__u16 proto = bpf_ntohs(eth->h_proto);
	void *next = eth + 1;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
			break;
		struct vlan_hdr *vh = next;
		if ((void *)(vh + 1) > end)
			return drop(ctx, REASON_MALFORMED);
		proto = bpf_ntohs(vh->proto);
		next = vh + 1;
	}
	if (proto == ETH_P_ARP)
		return XDP_PASS;
	if (proto == ETH_P_IP) {
		struct iphdr *ip = next;
		if ((void *)(ip + 1) > end || ip->version != 4 || ip->ihl < 5)
			return drop(ctx, REASON_MALFORMED);
		void *l4 = (void *)ip + ip->ihl * 4;
		if (l4 > end)
			return drop(ctx, REASON_MALFORMED);
		/* More fragments, or an offset: the ports are not (all) here. */
		if (ip->frag_off & bpf_htons(0x3fff))
			return drop(ctx, REASON_FRAGMENT);
		if (ip->protocol == IPPROTO_ICMP) {
			struct icmp_common *ic = l4;
			if ((void *)(ic + 1) > end)
				return drop(ctx, REASON_MALFORMED);
			__u32 name = ic->type == ICMP_ECHO	     ? ICMPN_ECHO_REQUEST
				     : ic->type == ICMP_ECHOREPLY    ? ICMPN_ECHO_REPLY
				     : ic->type == ICMP_DEST_UNREACH ? ICMPN_UNREACH
				     : ic->type == ICMP_TIME_EXCEEDED ? ICMPN_TIME_EXCEEDED
				     : ic->type == ICMP_PARAMETERPROB ? ICMPN_PARAM
								      : 31;
			return icmp_allowed(icmp_mask, name) ? XDP_PASS : drop(ctx, REASON_ICMP);
		}
		if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP &&
		    ip->protocol != IPPROTO_SCTP)
			return drop(ctx, REASON_PROTOCOL);
		int port = dest_port(l4, end);
		if (port < 0)
			return drop(ctx, REASON_MALFORMED);
		return check_port(ctx, ip->protocol, (__u16)port, 0, &ip->saddr);
	}
	if (proto == ETH_P_IPV6) {
		struct ipv6hdr *ip6 = next;
		if ((void *)(ip6 + 1) > end || ip6->version != 6)
			return drop(ctx, REASON_MALFORMED);
		__u8 nexthdr = ip6->nexthdr;
		void *l4 = ip6 + 1;
		/* Walk up to eight extension headers; a fragment header means
		 * the ports may not be here. */
#pragma unroll
		for (int i = 0; i < 8; i++) {
			if (nexthdr == IPPROTO_FRAGMENT)
				return drop(ctx, REASON_FRAGMENT);
			if (nexthdr != IPPROTO_HOPOPTS && nexthdr != IPPROTO_ROUTING &&
			    nexthdr != IPPROTO_DSTOPTS && nexthdr != IPPROTO_AH)
				break;
			__u8 *h = l4;
			if ((void *)(h + 2) > end)
				return drop(ctx, REASON_MALFORMED);
			/* AH counts its length in 4-byte units, the rest in 8. */
			__u32 len = nexthdr == IPPROTO_AH ? (h[1] + 2) * 4 : (h[1] + 1) * 8;
			nexthdr = h[0];
			l4 = (void *)h + len;
			if (l4 > end)
				return drop(ctx, REASON_MALFORMED);
		}
		if (nexthdr == IPPROTO_ICMPV6) {
			struct icmp_common *ic = l4;
			if ((void *)(ic + 1) > end)
				return drop(ctx, REASON_MALFORMED);
			/* Neighbour discovery always: without it IPv6 stops. */
			if (ic->type >= 133 && ic->type <= 137)
				return XDP_PASS;
			__u32 name = ic->type == ICMPV6_ECHO_REQUEST   ? ICMPN_ECHO_REQUEST
				     : ic->type == ICMPV6_ECHO_REPLY   ? ICMPN_ECHO_REPLY
				     : ic->type == ICMPV6_DEST_UNREACH ? ICMPN_UNREACH
				     : ic->type == ICMPV6_TIME_EXCEED  ? ICMPN_TIME_EXCEEDED
				     : ic->type == ICMPV6_PKT_TOOBIG   ? ICMPN_TOO_BIG
				     : ic->type == ICMPV6_PARAMPROB    ? ICMPN_PARAM
								       : 31;
			return icmp_allowed(icmp_mask, name) ? XDP_PASS : drop(ctx, REASON_ICMP);
		}
		if (nexthdr != IPPROTO_TCP && nexthdr != IPPROTO_UDP && nexthdr != IPPROTO_SCTP)
			return drop(ctx, REASON_PROTOCOL);
		int port = dest_port(l4, end);
		if (port < 0)
			return drop(ctx, REASON_MALFORMED);
		return check_port(ctx, nexthdr, (__u16)port, 1, &ip6->saddr);
	}
	/* Anything else (LLDP, other ethertypes) is not IP traffic to the host. */
	return XDP_PASS;
}
