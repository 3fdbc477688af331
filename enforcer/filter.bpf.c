// SPDX-License-Identifier: GPL-2.0
/*
 * The host side of share-nothing, in one object:
 *  - moat_filter (XDP) / moat_filter_tc (TC ingress): the management NIC.
 *    Parses Ethernet, up to two VLAN tags, IPv4 and IPv6 (extension headers
 *    walked, fragments refused), passes ARP and IPv6 neighbour discovery and
 *    replies to connections the host opened, and allows TCP, UDP and SCTP
 *    only by a rule keyed on protocol and destination port, with the source
 *    checked per prefix length (or in LPM tries).
 *  - moat_nodeports (XDP) / moat_nodeports_tc: every other interface, where
 *    only the nodePorts range is dropped.
 *  - moat_egress (TC egress, management NIC): records the connections the
 *    host opens, so their replies pass.
 *  - moat_bind4/6 and moat_serve (cgroup): processes in the hostServing
 *    cgroups bind and listen only on allowed ports.
 * Per-rule and per-reason counters are per-CPU.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
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
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FILTER_MAX_RULES);
	__type(key, __u32);
	__type(value, struct filter_counter);
} rule_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FILTER_FLOWS);
	__type(key, struct filter_flow_key);
	__type(value, __u64); /* last seen, bpf_ktime_get_ns */
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FILTER_MAX_PORTS);
	__type(key, struct filter_serve_key);
	__type(value, __u8);
} serve SEC(".maps");

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

/* The verdicts of classify(), mapped to XDP or TC return codes. */
enum { V_PASS, V_DROP };

static __always_inline struct filter_config *get_config(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&config, &zero);
}

static __always_inline int drop(__u64 bytes, __u32 reason)
{
	count(&drop_counters, reason, bytes);
	struct filter_config *cfg = get_config();
	return cfg && (cfg->audit || cfg->default_allow) ? V_PASS : V_DROP;
}

/* nodePorts drop whatever the default: they are never the host's to serve. */
static __always_inline int drop_nodeport(__u64 bytes)
{
	count(&drop_counters, REASON_NODEPORT, bytes);
	struct filter_config *cfg = get_config();
	return cfg && cfg->audit ? V_PASS : V_DROP;
}

static __always_inline int in_node_ports(__u32 port)
{
	struct filter_config *cfg = get_config();
	return cfg && cfg->node_lo && port >= cfg->node_lo && port <= cfg->node_hi;
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
	struct filter_config *cfg = get_config();
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

/* A reply to a connection the host opened (recorded by moat_egress)? */
static __always_inline int host_flow(__u8 proto, int v6, const void *saddr, __u16 sport,
				     __u16 dport)
{
	struct filter_flow_key k = { .protocol = proto, .family = v6 ? 6 : 4,
				     .local_port = dport, .remote_port = sport };
	if (v6)
		__builtin_memcpy(k.remote, saddr, 16);
	else
		__builtin_memcpy(k.remote, saddr, 4);
	__u64 *seen = bpf_map_lookup_elem(&flows, &k);
	if (!seen)
		return 0;
	__u64 age = bpf_ktime_get_ns() - *seen;
	return age < (proto == IPPROTO_TCP ? FILTER_FLOW_TCP_NS : FILTER_FLOW_UDP_NS);
}

/* A TCP, UDP or SCTP packet to port: allowed by a rule, from this source?
 * What no rule allows may still be a reply to a connection the host opened:
 * that lookup comes last, so allowed traffic never pays for it. */
static __always_inline int check_port(__u64 bytes, __u8 proto, __u16 port, int v6,
				      const void *saddr, __u16 sport)
{
	struct filter_port_key k = { .protocol = proto, .port = port };
	struct filter_port_val *v = bpf_map_lookup_elem(&ports, &k);
	if (!v) {
		if (proto != IPPROTO_SCTP && host_flow(proto, v6, saddr, sport, port))
			return V_PASS;
		return drop(bytes, REASON_NO_RULE);
	}
	if (!v->any_source) {
		struct filter_config *cfg = get_config();
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
		if (!ok) {
			if (proto != IPPROTO_SCTP && host_flow(proto, v6, saddr, sport, port))
				return V_PASS;
			count(&rule_drops, v->rule, bytes);
			return drop(bytes, REASON_SOURCE);
		}
	}
	count(&rule_counters, v->rule, bytes);
	return V_PASS;
}

/* Source and destination ports of a TCP, UDP or SCTP header at l4 (all
 * three start with them); -1 if truncated. */
static __always_inline int l4_ports(void *l4, void *end, __u16 *sport, __u16 *dport)
{
	__be16 *p = l4;
	if ((void *)(p + 2) > end)
		return -1;
	*sport = bpf_ntohs(p[0]);
	*dport = bpf_ntohs(p[1]);
	return 0;
}

/* Where the IP header starts and which it is, past up to two VLAN tags. */
static __always_inline int l3(void *data, void *end, __u16 *proto, void **next)
{
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return -1;
	*proto = bpf_ntohs(eth->h_proto);
	*next = eth + 1;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (*proto != ETH_P_8021Q && *proto != ETH_P_8021AD)
			break;
		struct vlan_hdr *vh = *next;
		if ((void *)(vh + 1) > end)
			return -1;
		*proto = bpf_ntohs(vh->proto);
		*next = vh + 1;
	}
	return 0;
}

/* Walks IPv6 extension headers: the upper-layer protocol and where it
 * starts; -1 truncated, -2 a fragment. */
static __always_inline int ipv6_upper(struct ipv6hdr *ip6, void *end, __u8 *nexthdr, void **l4)
{
	*nexthdr = ip6->nexthdr;
	*l4 = ip6 + 1;
#pragma unroll
	for (int i = 0; i < 8; i++) {
		if (*nexthdr == IPPROTO_FRAGMENT)
			return -2;
		if (*nexthdr != IPPROTO_HOPOPTS && *nexthdr != IPPROTO_ROUTING &&
		    *nexthdr != IPPROTO_DSTOPTS && *nexthdr != IPPROTO_AH)
			break;
		__u8 *h = *l4;
		if ((void *)(h + 2) > end)
			return -1;
		/* AH counts its length in 4-byte units, the rest in 8. */
		__u32 len = *nexthdr == IPPROTO_AH ? (h[1] + 2) * 4 : (h[1] + 1) * 8;
		*nexthdr = h[0];
		*l4 = (void *)h + len;
		if (*l4 > end)
			return -1;
	}
	return 0;
}

static __always_inline __u32 icmp_name(__u8 type, int v6)
{
	if (v6)
		return type == ICMPV6_ECHO_REQUEST   ? ICMPN_ECHO_REQUEST
		       : type == ICMPV6_ECHO_REPLY   ? ICMPN_ECHO_REPLY
		       : type == ICMPV6_DEST_UNREACH ? ICMPN_UNREACH
		       : type == ICMPV6_TIME_EXCEED  ? ICMPN_TIME_EXCEEDED
		       : type == ICMPV6_PKT_TOOBIG   ? ICMPN_TOO_BIG
		       : type == ICMPV6_PARAMPROB    ? ICMPN_PARAM
						     : 31;
	return type == ICMP_ECHO	       ? ICMPN_ECHO_REQUEST
	       : type == ICMP_ECHOREPLY	       ? ICMPN_ECHO_REPLY
	       : type == ICMP_DEST_UNREACH     ? ICMPN_UNREACH
	       : type == ICMP_TIME_EXCEEDED    ? ICMPN_TIME_EXCEEDED
	       : type == ICMP_PARAMETERPROB    ? ICMPN_PARAM
					       : 31;
}

struct icmp_echo {
	__u8 type, code;
	__be16 checksum, id, seq;
};

/* An ICMP message: a listed type, or the echo reply to a ping the host sent. */
static __always_inline int check_icmp(__u64 bytes, void *l4, void *end, int v6,
				      const void *saddr)
{
	struct icmp_echo *ic = l4;
	if ((void *)ic + sizeof(struct icmp_common) > end)
		return drop(bytes, REASON_MALFORMED);
	/* Neighbour discovery always: without it IPv6 stops. */
	if (v6 && ic->type >= 133 && ic->type <= 137)
		return V_PASS;
	__u32 name = icmp_name(ic->type, v6);
	struct filter_config *cfg = get_config();
	if (cfg && icmp_allowed(cfg->icmp_mask, name))
		return V_PASS;
	if (name == ICMPN_ECHO_REPLY && (void *)(ic + 1) <= end &&
	    host_flow(v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, v6, saddr, bpf_ntohs(ic->id), 0))
		return V_PASS;
	return drop(bytes, REASON_ICMP);
}

/* The management NIC's verdict on one frame. */
static __always_inline int classify(void *data, void *end, __u64 bytes)
{
	__u16 proto;
	void *next;
	if (l3(data, end, &proto, &next) < 0)
		return drop(bytes, REASON_MALFORMED);
	if (proto == ETH_P_ARP)
		return V_PASS;
	__u8 l4proto;
	void *l4;
	const void *saddr;
	int v6;
	if (proto == ETH_P_IP) {
		struct iphdr *ip = next;
		if ((void *)(ip + 1) > end || ip->version != 4 || ip->ihl < 5)
			return drop(bytes, REASON_MALFORMED);
		l4 = (void *)ip + ip->ihl * 4;
		if (l4 > end)
			return drop(bytes, REASON_MALFORMED);
		/* More fragments, or an offset: the ports are not (all) here. */
		if (ip->frag_off & bpf_htons(0x3fff))
			return drop(bytes, REASON_FRAGMENT);
		l4proto = ip->protocol;
		saddr = &ip->saddr;
		v6 = 0;
		if (l4proto == IPPROTO_ICMP)
			return check_icmp(bytes, l4, end, 0, saddr);
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr *ip6 = next;
		if ((void *)(ip6 + 1) > end || ip6->version != 6)
			return drop(bytes, REASON_MALFORMED);
		int r = ipv6_upper(ip6, end, &l4proto, &l4);
		if (r == -2)
			return drop(bytes, REASON_FRAGMENT);
		if (r < 0)
			return drop(bytes, REASON_MALFORMED);
		saddr = &ip6->saddr;
		v6 = 1;
		if (l4proto == IPPROTO_ICMPV6)
			return check_icmp(bytes, l4, end, 1, saddr);
	} else {
		/* Anything else (LLDP, other ethertypes) is not IP traffic to the host. */
		return V_PASS;
	}
	if (l4proto != IPPROTO_TCP && l4proto != IPPROTO_UDP && l4proto != IPPROTO_SCTP)
		return drop(bytes, REASON_PROTOCOL);
	__u16 sport, dport;
	if (l4_ports(l4, end, &sport, &dport) < 0)
		return drop(bytes, REASON_MALFORMED);
	if (in_node_ports(dport)) {
		if (l4proto != IPPROTO_SCTP && host_flow(l4proto, v6, saddr, sport, dport))
			return V_PASS;
		return drop_nodeport(bytes);
	}
	return check_port(bytes, l4proto, dport, v6, saddr, sport);
}

/* Every other interface: only the nodePorts range is dropped. */
static __always_inline int classify_nodeports(void *data, void *end, __u64 bytes)
{
	__u16 proto;
	void *next;
	if (l3(data, end, &proto, &next) < 0)
		return V_PASS;
	__u8 l4proto;
	void *l4;
	if (proto == ETH_P_IP) {
		struct iphdr *ip = next;
		if ((void *)(ip + 1) > end || ip->ihl < 5)
			return V_PASS;
		if (ip->frag_off & bpf_htons(0x1fff)) /* a later fragment: no ports */
			return V_PASS;
		l4proto = ip->protocol;
		l4 = (void *)ip + ip->ihl * 4;
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr *ip6 = next;
		if ((void *)(ip6 + 1) > end || ipv6_upper(ip6, end, &l4proto, &l4) < 0)
			return V_PASS;
	} else {
		return V_PASS;
	}
	if (l4proto != IPPROTO_TCP && l4proto != IPPROTO_UDP && l4proto != IPPROTO_SCTP)
		return V_PASS;
	__u16 sport, dport;
	if (l4_ports(l4, end, &sport, &dport) < 0 || !in_node_ports(dport))
		return V_PASS;
	return drop_nodeport(bytes);
}

SEC("xdp")
int moat_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	return classify(data, end, end - data) == V_PASS ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int moat_nodeports(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	return classify_nodeports(data, end, end - data) == V_PASS ? XDP_PASS : XDP_DROP;
}

/* Headers past the linear part of an skb are pulled in first. */
static __always_inline void tc_pull(struct __sk_buff *skb)
{
	__u32 want = 128;
	if (skb->data_end - skb->data < want && skb->len > skb->data_end - skb->data)
		bpf_skb_pull_data(skb, skb->len < want ? skb->len : want);
}

SEC("tc")
int moat_filter_tc(struct __sk_buff *skb)
{
	tc_pull(skb);
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	return classify(data, end, skb->len) == V_PASS ? TC_ACT_OK : TC_ACT_SHOT;
}

SEC("tc")
int moat_nodeports_tc(struct __sk_buff *skb)
{
	tc_pull(skb);
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	return classify_nodeports(data, end, skb->len) == V_PASS ? TC_ACT_OK : TC_ACT_SHOT;
}

/* Egress on the management NIC: a connection the host opens is recorded, so
 * its replies pass; later packets keep the record fresh.  A local port some
 * rule already allows is left to that rule (and its counters). */
SEC("tc")
int moat_egress(struct __sk_buff *skb)
{
	tc_pull(skb);
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	__u16 proto;
	void *next;
	if (l3(data, end, &proto, &next) < 0)
		return TC_ACT_OK;
	struct filter_flow_key k = { 0 };
	void *l4;
	__u8 l4proto;
	if (proto == ETH_P_IP) {
		struct iphdr *ip = next;
		if ((void *)(ip + 1) > end || ip->ihl < 5 || (ip->frag_off & bpf_htons(0x1fff)))
			return TC_ACT_OK;
		l4proto = ip->protocol;
		l4 = (void *)ip + ip->ihl * 4;
		k.family = 4;
		__builtin_memcpy(k.remote, &ip->daddr, 4);
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr *ip6 = next;
		if ((void *)(ip6 + 1) > end || ipv6_upper(ip6, end, &l4proto, &l4) < 0)
			return TC_ACT_OK;
		k.family = 6;
		__builtin_memcpy(k.remote, &ip6->daddr, 16);
	} else {
		return TC_ACT_OK;
	}
	k.protocol = l4proto;
	int create;
	if (l4proto == IPPROTO_TCP || l4proto == IPPROTO_UDP) {
		__u16 sport, dport;
		if (l4_ports(l4, end, &sport, &dport) < 0)
			return TC_ACT_OK;
		k.local_port = sport;
		k.remote_port = dport;
		struct filter_port_key pk = { .protocol = l4proto, .port = sport };
		if (bpf_map_lookup_elem(&ports, &pk))
			return TC_ACT_OK;
		create = 1;
		if (l4proto == IPPROTO_TCP) {
			__u8 *flags = l4 + 13;
			if ((void *)(flags + 1) > end)
				return TC_ACT_OK;
			create = (*flags & 0x12) == 0x02; /* SYN without ACK */
		}
	} else if (l4proto == IPPROTO_ICMP || l4proto == IPPROTO_ICMPV6) {
		struct icmp_echo *ic = l4;
		if ((void *)(ic + 1) > end ||
		    ic->type != (l4proto == IPPROTO_ICMP ? ICMP_ECHO : ICMPV6_ECHO_REQUEST))
			return TC_ACT_OK;
		k.remote_port = bpf_ntohs(ic->id);
		create = 1;
	} else {
		return TC_ACT_OK;
	}
	__u64 now = bpf_ktime_get_ns();
	__u64 *seen = bpf_map_lookup_elem(&flows, &k);
	if (seen)
		*seen = now;
	else if (create)
		bpf_map_update_elem(&flows, &k, &now, BPF_ANY);
	return TC_ACT_OK;
}

/* ---- hostServing: the cgroup hooks ---------------------------------------- */

static __always_inline int may_serve(__u8 proto, __u16 port)
{
	struct filter_serve_key k = { .protocol = proto, .port = port };
	if (bpf_map_lookup_elem(&serve, &k))
		return 1;
	struct filter_config *cfg = get_config();
	return cfg && cfg->audit;
}

/* bind(2) to a port hostServing does not allow fails with EPERM.  Port 0
 * (any free port, as clients bind) is allowed. */
static __always_inline int check_bind(struct bpf_sock_addr *ctx)
{
	__u16 port = bpf_ntohs((__u16)ctx->user_port);
	if (port == 0 || (ctx->protocol != IPPROTO_TCP && ctx->protocol != IPPROTO_UDP))
		return 1;
	if (may_serve((__u8)ctx->protocol, port))
		return 1;
	count(&drop_counters, REASON_SERVING, 0);
	return 0;
}

SEC("cgroup/bind4")
int moat_bind4(struct bpf_sock_addr *ctx)
{
	return check_bind(ctx);
}

SEC("cgroup/bind6")
int moat_bind6(struct bpf_sock_addr *ctx)
{
	return check_bind(ctx);
}

/* A TCP listener reached without bind(2) (listen() picks a port itself) is
 * caught here: segments to a listening socket on a port hostServing does not
 * allow are dropped, so no connection is ever accepted. */
SEC("cgroup_skb/ingress")
int moat_serve(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk || sk->protocol != IPPROTO_TCP || sk->state != BPF_TCP_LISTEN)
		return 1;
	if (may_serve(IPPROTO_TCP, (__u16)sk->src_port))
		return 1;
	count(&drop_counters, REASON_SERVING, skb->len);
	return 0;
}
