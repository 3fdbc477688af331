/* SPDX-License-Identifier: Apache-2.0 */
/*
 * enforcer: confinement of workloads and of moat's own VMM.  This part holds
 * seccomp (Docker/OCI profiles compiled with libseccomp) and capabilities
 * (libcap); the eBPF filtering of the host's NIC and cgroups comes with
 * `moat enforce`.
 *
 * Construct -> configure -> apply:
 *   seccomp_profile_parse()    a Docker/OCI profile, errors with JSON paths
 *   seccomp_profile_compile()  a libseccomp filter for an arch and cap set
 *   caps_keep() + seccomp_ctx_load()  in the privilege-drop order: caps,
 *                              no_new_privs, seccomp last
 */
#ifndef MOAT_ENFORCER_H
#define MOAT_ENFORCER_H

#include "core/core.h"

#include <stdint.h>
#include <sys/types.h>

/* ---- seccomp profiles ---------------------------------------------------- */

struct seccomp_profile; /* a parsed profile; opaque */

/* Parses a Docker/OCI profile.  On bad input returns -1 with the JSON path
 * of the fault ("$.syscalls[3].action: unknown action 'X'") in err.
 * Warnings (unknown syscall names) go to the log handler at compile time. */
int seccomp_profile_parse(const char *name, const char *buf, size_t len,
			  struct seccomp_profile **out, struct moat_error *err);
int seccomp_profile_load(const char *path, struct seccomp_profile **out, struct moat_error *err);
void seccomp_profile_free(struct seccomp_profile *p);

/* Capabilities by number, as a bit set (bit n = capability n). */
typedef uint64_t cap_mask;
/* "CAP_NET_ADMIN,chown,ALL" -> mask; -1 with the bad name in err. */
int caps_parse(const char *list, cap_mask *out, struct moat_error *err);

struct seccomp_options {
	const char *arch;   /* "x86_64", "amd64"...; NULL: the native one */
	cap_mask caps;      /* for includes/excludes by caps */
	bool log;           /* log what the filter does not allow */
	/* Kernel version for minKernel, as major*1000+minor; 0: this one's. */
	unsigned kernel;
};

struct seccomp_stats {
	size_t rules, skipped_names, skipped_entries, enosys_above;
	int highest_nr;
};

/* A libseccomp filter context (scmp_filter_ctx) for the profile.  Unknown
 * syscall names are skipped with a warning; syscalls numbered above every
 * one the profile names return ENOSYS, so software probing for newer
 * syscalls falls back instead of failing on EPERM. */
int seccomp_profile_compile(const struct seccomp_profile *p, const struct seccomp_options *o,
			    void **ctx, struct seccomp_stats *stats, struct moat_error *err);
void seccomp_ctx_free(void *ctx);
/* Writes the filter as BPF (binary) or libseccomp's pseudo-filter text. */
int seccomp_ctx_export(void *ctx, bool text, int fd, struct moat_error *err);
/* Loads the filter on the calling thread (needs no_new_privs or CAP_SYS_ADMIN). */
int seccomp_ctx_load(void *ctx, struct moat_error *err);

/* ---- capabilities -------------------------------------------------------- */

/* Keeps only keep in every set (bounding, permitted, effective,
 * inheritable, ambient) and sets no_new_privs: after this the process and
 * what it executes can never regain a capability. */
int caps_keep(cap_mask keep, struct moat_error *err);

/* The general form: the bounding set becomes bounding; permitted, effective
 * and inheritable become sets (within bounding); CAPS_AMBIENT raises those
 * in the ambient set too; CAPS_NO_NEW_PRIVS sets no_new_privs.  Needs
 * CAP_SETPCAP in the permitted set.  A container runtime calls it after
 * setting uids with keepcaps, passing sets 0 for a non-root user. */
enum { CAPS_AMBIENT = 1, CAPS_NO_NEW_PRIVS = 2 };
int caps_apply(cap_mask bounding, cap_mask sets, unsigned flags, struct moat_error *err);

struct proc_caps {
	cap_mask inheritable, permitted, effective, bounding, ambient;
	int no_new_privs, seccomp; /* -1 when the kernel does not say */
};
int caps_read(pid_t pid, struct proc_caps *out, struct moat_error *err);
/* "cap_chown,cap_kill" (lower case, as capsh prints), or "none"; caller frees. */
char *caps_format(cap_mask m);
int caps_last(void); /* the highest capability this kernel knows */

/* ---- the node policy (docs/node-policy.md) ------------------------------- */

enum np_protocol { NP_TCP = 6, NP_UDP = 17, NP_SCTP = 132 };

struct np_port_range {
	uint16_t lo, hi;
};

struct np_prefix {
	uint8_t family; /* 4 or 6 */
	uint8_t len;
	uint8_t addr[16];
};

struct np_rule {
	char name[32];
	enum np_protocol protocol;
	struct np_port_range *ports;
	size_t nports;
	struct np_prefix *from; /* NULL: from anywhere */
	size_t nfrom;
};

struct np_serve {
	enum np_protocol protocol;
	struct np_port_range *ports;
	size_t nports;
};

struct node_policy {
	char name[64];
	bool has_management;
	char interface[16];
	struct np_rule *rules;
	size_t nrules;
	unsigned icmp; /* bit per name in the order docs/node-policy.md lists */
	bool default_allow;
	struct np_port_range node_ports; /* 0-0: none */
	bool node_ports_deny;
	char **cgroups;
	size_t ncgroups;
	struct np_serve *serve;
	size_t nserve;
};

/* Reads and checks a NodePolicy; -1 with "file:line:col: field: ..." in err.
 * Needs no privileges. */
int node_policy_parse(const char *name, const char *buf, size_t len, struct node_policy **out,
		      struct moat_error *err);
int node_policy_load(const char *path, struct node_policy **out, struct moat_error *err);
void node_policy_free(struct node_policy *p);

/* ---- the management-NIC filter (XDP) -------------------------------------- */

struct filter;
/* Loads the XDP program and its maps; needs CAP_BPF (root). */
int filter_open(struct filter **out, struct moat_error *err);
void filter_close(struct filter *f);
/* Fills the maps from the policy's management rules.  audit: count would-be
 * drops and drop nothing. */
int filter_configure(struct filter *f, const struct node_policy *p, bool audit,
		     struct moat_error *err);
/* Runs one packet (repeat times) through the program, attached to nothing:
 * *verdict is XDP_PASS or XDP_DROP; *duration_ns the mean per run. */
int filter_test_packet(struct filter *f, const void *pkt, size_t len, unsigned repeat,
		       int *verdict, unsigned *duration_ns, struct moat_error *err);
/* Like filter_open, the host-flow table shared with an earlier load
 * (flows_fd; -1 for a new one), so a re-apply keeps the host's connections. */
int filter_open_shared(struct filter **out, int flows_fd, struct moat_error *err);

/* The programs of one filter object, by where they attach. */
enum filter_hook {
	HOOK_FILTER,	   /* XDP, the management NIC */
	HOOK_FILTER_TC,	   /* the same, as TC ingress */
	HOOK_NODEPORTS,	   /* XDP, every other interface: nodePorts only */
	HOOK_NODEPORTS_TC, /* the same, as TC ingress */
	HOOK_EGRESS,	   /* TC egress, the management NIC: host-opened flows */
	HOOK_BIND4,	   /* cgroup bind4, hostServing */
	HOOK_BIND6,	   /* cgroup bind6 */
	HOOK_SERVE,	   /* cgroup_skb ingress: listeners that never bound */
	HOOK_COUNT,
};
int filter_prog_fd(struct filter *f, enum filter_hook h);
const char *filter_hook_name(enum filter_hook h); /* the program's name */
/* A map's fd by its name in filter.bpf.c ("rule_counters", "flows"...). */
int filter_map_fd(struct filter *f, const char *name);
/* Would the management filter pass an established TCP segment src -> dst?
 * family 4 or 6, addresses in network order. */
int filter_test_tcp(struct filter *f, int family, const void *src, const void *dst,
		    uint16_t sport, uint16_t dport, int *verdict, struct moat_error *err);
/* Sums one key of a per-CPU counter map (pinned or loaded). */
int filter_sum_counter(int fd, unsigned key, uint64_t *packets, uint64_t *bytes,
		       struct moat_error *err);
int filter_rule_counter(struct filter *f, unsigned rule, uint64_t *packets, uint64_t *bytes,
			struct moat_error *err);
int filter_drop_counter(struct filter *f, unsigned reason, uint64_t *packets,
			struct moat_error *err);

/* ---- moat enforce: the filter attached, pinned, swapped ---------------- */

#define ENFORCE_PIN_DIR "/sys/fs/bpf/moat"

struct enforce_options {
	const char *pin_dir;	 /* NULL: ENFORCE_PIN_DIR */
	const char *policy_file; /* recorded for status */
	const char *mode;	 /* auto, native, generic, tc; NULL: auto */
	bool audit, force;
	unsigned confirm_within; /* seconds; 0: no rollback */
};

struct enforce_result {
	bool refused;	  /* nothing changed; why says why */
	char why[512];
	bool replaced;	  /* a running policy was swapped */
	long long generation;
	size_t nattached;
	pid_t watchdog;	  /* with confirm_within */
	long long deadline;
};

/* Attaches the policy's programs and pins them, swapping atomically over a
 * running policy.  Refuses (res->refused, returns 0) a policy that would
 * cut the SSH session this runs in, unless force or audit. */
int enforce_apply(const struct node_policy *p, const struct enforce_options *o,
		  struct enforce_result *res, struct moat_error *err);
/* The pinned state, read from any process: 0 applied, 1 nothing applied
 * (*out may still say what was rolled back), -1 error. */
int enforce_status(const char *pin_dir, struct json_t **out, struct moat_error *err);
/* 0 confirmed, 1 nothing waits for confirmation, -1 error. */
int enforce_confirm(const char *pin_dir, struct moat_error *err);
/* Detaches and unpins everything: 0 removed, 1 nothing was applied. */
int enforce_remove(const char *pin_dir, struct moat_error *err);

/* ---- pod networks: TC programs on a port group's taps (podnet.bpf.c) ---- */

/* Addresses are IPv4 in network order throughout. */
struct podnet_pod_entry {
	uint32_t ifindex; /* the pod's tap, in the port group's namespace */
	uint32_t ip;
	uint8_t mac[6];
	bool isolated;	  /* a NetworkPolicy selects the pod */
	uint32_t pps;	  /* what the pod may send; 0: unlimited */
	uint64_t bps;
};

/* Traffic a NetworkPolicy lets into pod: protocol 0 and port 0 mean every
 * port; allow false marks an ipBlock's except, which the longest prefix
 * decides against the blocks around it. */
struct podnet_rule {
	uint32_t pod;
	uint8_t protocol;
	uint16_t port; /* host order */
	uint32_t src;
	uint8_t len;
	bool allow;
};

#define PODNET_NREASONS 10

/* Loads the programs and maps and pins them in pin_dir (a bpffs the caller
 * mounted); nothing when they are pinned already.  Needs CAP_BPF. */
int podnet_create(const char *pin_dir, uint32_t net, uint32_t mask, uint32_t gateway,
		  struct moat_error *err);
/* Unpins everything; what is attached stays until its tap goes. */
void podnet_destroy(const char *pin_dir);
/* Attaches the pinned programs to a tap (TC ingress and egress).  The
 * caller is in the tap's network namespace. */
int podnet_attach(const char *pin_dir, int ifindex, struct moat_error *err);
/* Makes the maps hold exactly these pods and rules. */
int podnet_sync(const char *pin_dir, const struct podnet_pod_entry *pods, size_t npods,
		const struct podnet_rule *rules, size_t nrules, struct moat_error *err);
/* One pod's counters by reason (podnet_reason_name). */
int podnet_counters(const char *pin_dir, uint32_t ip, uint64_t packets[PODNET_NREASONS],
		    uint64_t bytes[PODNET_NREASONS], struct moat_error *err);
const char *podnet_reason_name(unsigned reason);

int enforce_cmd(int argc, char **argv);
int seccomp_cmd(int argc, char **argv);
int caps_cmd(int argc, char **argv);

#endif
