/* SPDX-License-Identifier: Apache-2.0 */
/* Structures shared by filter.bpf.c (the kernel side) and its loader. */
#ifndef MOAT_FILTER_H
#define MOAT_FILTER_H

#include <linux/types.h>

#define FILTER_MAX_RULES 16384
#define FILTER_MAX_PORTS 65536

/* Allow rules by protocol and destination port: one hash lookup a packet,
 * however many rules there are. */
struct filter_port_key {
	__u8 protocol;
	__u8 pad;
	__u16 port; /* host order */
};

struct filter_port_val {
	__u32 rule;      /* index into the counters */
	__u32 any_source; /* no "from": every source may */
};

/* Source prefixes per rule, in LPM tries: the rule id leads the key so one
 * trie holds every rule's prefixes. */
struct filter_src4_key {
	__u32 prefixlen; /* 32 (the rule) + the prefix length */
	__u32 rule;      /* big-endian, so it is matched whole */
	__u8 addr[4];
};

struct filter_src6_key {
	__u32 prefixlen;
	__u32 rule;
	__u8 addr[16];
};

/* Source prefixes per rule, hashed exactly after masking: a packet costs
 * one lookup per distinct prefix length in the policy (at most
 * FILTER_MAX_LENS per family), however many rules and prefixes there are.
 * A policy with more lengths than that uses the LPM tries instead. */
#define FILTER_MAX_LENS 8

struct filter_srch_key {
	__u32 rule;
	__u8 len;
	__u8 family;
	__u8 pad[2];
	__u8 addr[16]; /* masked to len; IPv4 in the first 4 bytes */
};

struct filter_counter {
	__u64 packets, bytes;
};

/* Why a packet was dropped (or, in audit mode, would have been). */
enum filter_reason {
	REASON_NO_RULE,    /* no rule allows the protocol and port */
	REASON_SOURCE,     /* a rule matched, but not from this source */
	REASON_ICMP,       /* an ICMP type not listed */
	REASON_FRAGMENT,   /* a fragment: its ports cannot be checked */
	REASON_MALFORMED,  /* truncated or inconsistent headers */
	REASON_PROTOCOL,   /* an IP protocol no rule can name */
	REASON_NODEPORT,   /* the nodePorts range, on any interface */
	REASON_SERVING,    /* a connection to a listener the hostServing rules forbid */
	REASON_COUNT,
};

/* Connections the host opened, recorded on the management NIC's egress so
 * their replies pass: keyed from the host's side. */
struct filter_flow_key {
	__u8 protocol; /* TCP, UDP, or ICMP (echo: remote_port is the id) */
	__u8 family;
	__u16 local_port; /* host order */
	__u16 remote_port;
	__u8 pad[2];
	__u8 remote[16];
};

#define FILTER_FLOWS 65536
#define FILTER_FLOW_TCP_NS (24ull * 3600 * 1000000000)
#define FILTER_FLOW_UDP_NS (180ull * 1000000000)

/* What hostServing allows processes in the listed cgroups to serve. */
struct filter_serve_key {
	__u8 protocol;
	__u8 pad;
	__u16 port; /* host order */
};

struct filter_config {
	__u32 default_allow;
	__u32 audit;     /* count would-be drops, drop nothing */
	__u32 icmp_mask; /* bit per ICMP type name, as node_policy.icmp */
	__u32 use_lpm;   /* too many prefix lengths: the tries hold the sources */
	__u32 nlens4, nlens6;
	__u8 lens4[FILTER_MAX_LENS], lens6[FILTER_MAX_LENS];
	__u32 node_lo, node_hi; /* nodePorts dropped; 0-0: none */
};

#endif
