/* SPDX-License-Identifier: Apache-2.0 */
/* Structures shared by podnet.bpf.c (TC programs on a port group's taps)
 * and its loader, podnet.c. */
#ifndef MOAT_PODNET_H
#define MOAT_PODNET_H

#include <linux/types.h>

#define PODNET_MAX_PODS 4096
#define PODNET_MAX_RULES 65536
#define PODNET_FLOWS 65536

/* One pod on the port group, keyed by its tap's ifindex. */
struct podnet_pod {
	__u8 mac[6];
	__u8 pad[2];
	__u32 ip;	   /* network order */
	__u32 isolated;	   /* some NetworkPolicy selects it: deny what no rule allows */
	__u32 pps;	   /* token-bucket rates for what the guest sends */
	__u64 bps;	   /* bytes a second */
};

/* The port group as a whole. */
struct podnet_config {
	__u32 net;	/* network order, masked */
	__u32 mask;	/* network order */
	__u32 gateway;	/* network order: the bridge's address */
	__u32 pad;
};

struct podnet_bucket {
	__u64 last_ns;
	__u64 pkt_tokens;  /* in packets << 20 */
	__u64 byte_tokens; /* in bytes */
};

/* What a NetworkPolicy allows into a pod: the LPM key leads with the pod
 * and the port, then the source, so one trie holds every pod's rules.
 * protocol 0 and port 0: every port. */
struct podnet_rule_key {
	__u32 prefixlen; /* 64 + the source prefix length */
	__u32 pod;	 /* the pod's address, network order */
	__u8 protocol;
	__u8 pad;
	__u16 port;	 /* network order */
	__u8 src[4];
};

/* Connections a pod opened, recorded as they leave it, so the replies pass
 * a pod that policy isolates.  Keyed from the pod's side. */
struct podnet_flow_key {
	__u32 pod, peer;
	__u16 pod_port, peer_port; /* network order; ICMP echo: the id, 0 */
	__u8 protocol;
	__u8 pad[3];
};

struct podnet_drop_key {
	__u32 pod; /* network order */
	__u32 reason;
};

enum podnet_reason {
	PODNET_PASS,	   /* not a drop: what went through */
	PODNET_RATE,	   /* over the pod's packet or byte rate */
	PODNET_SPOOF_MAC,  /* a source MAC not the pod's */
	PODNET_SPOOF_IP,   /* a source IPv4 address not the pod's */
	PODNET_SPOOF_ARP,  /* an ARP sender not the pod's */
	PODNET_OUTSIDE,	   /* to the gateway or off the port group */
	PODNET_PROTOCOL,   /* not ARP or IPv4 (IPv6 is not offered) */
	PODNET_POLICY,	   /* to the pod, allowed by no NetworkPolicy rule */
	PODNET_MALFORMED,  /* truncated headers, fragments to an isolated pod */
	PODNET_UNKNOWN,	   /* a tap with no pod recorded */
	PODNET_REASONS,
};

#endif
