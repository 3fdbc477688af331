/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading podnet.bpf.c for a port group and keeping its maps current.
 * The programs and maps are pinned in a bpffs the runtime mounts for the
 * port group alone, so any moat process can update them and the taps that
 * come and go share one set.  Map contents are always recomputed whole by
 * the caller (podnet_sync): entries are written first, stale ones deleted
 * after, so a pod is never briefly without its entry.
 */
#include "enforcer.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <sys/stat.h>

#include "enforcer/podnet.h"
#include "podnet.skel.h"

#define PODNET_TC_HANDLE 0x6d70 /* "mp" */
#define PODNET_TC_PRIORITY 0x6d

static const char *const pin_names[] = { "prog_from_pod", "prog_to_pod", "map_pods",
					 "map_buckets",	  "map_config",	 "map_rules",
					 "map_flows",	  "map_counters" };
enum { PIN_FROM, PIN_TO, PIN_PODS, PIN_BUCKETS, PIN_CONFIG, PIN_RULES, PIN_FLOWS, PIN_COUNTERS };

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN && getenv("MOAT_DEBUG_BPF"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

static int pin_get(const char *dir, int which, struct moat_error *err)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, pin_names[which]);
	int fd = bpf_obj_get(path);
	if (fd < 0)
		return moat_error_sys(err, errno, "%s", path);
	return fd;
}

int podnet_create(const char *pin_dir, uint32_t net, uint32_t mask, uint32_t gateway,
		  struct moat_error *err)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", pin_dir, pin_names[PIN_FROM]);
	if (access(path, F_OK) == 0)
		return 0;
	libbpf_set_print(quiet);
	struct podnet_skel *skel = podnet_skel__open_and_load();
	if (!skel)
		return moat_error_sys(err, errno, "loading the port group's BPF programs");
	int fds[] = {
		bpf_program__fd(skel->progs.podnet_from_pod), bpf_program__fd(skel->progs.podnet_to_pod),
		bpf_map__fd(skel->maps.pods),		      bpf_map__fd(skel->maps.buckets),
		bpf_map__fd(skel->maps.config),		      bpf_map__fd(skel->maps.rules),
		bpf_map__fd(skel->maps.flows),		      bpf_map__fd(skel->maps.counters),
	};
	struct podnet_config cfg = { .net = net, .mask = mask, .gateway = gateway };
	__u32 zero = 0;
	int r = 0;
	if (bpf_map_update_elem(fds[PIN_CONFIG], &zero, &cfg, BPF_ANY) < 0)
		r = moat_error_sys(err, errno, "writing the port group's BPF config");
	/* The programs last: their pin is what says the set is complete. */
	for (int i = (int)ARRAY_SIZE(pin_names) - 1; r == 0 && i >= 0; i--) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir, pin_names[i]);
		if (bpf_obj_pin(fds[i], path) < 0)
			r = moat_error_sys(err, errno, "pinning %s", path);
	}
	if (r < 0)
		podnet_destroy(pin_dir);
	podnet_skel__destroy(skel);
	return r;
}

void podnet_destroy(const char *pin_dir)
{
	char path[4200];
	for (size_t i = 0; i < ARRAY_SIZE(pin_names); i++) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir, pin_names[i]);
		unlink(path);
	}
}

static int tc_attach(int ifindex, bool egress, int prog_fd, struct moat_error *err)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
	int r = bpf_tc_hook_create(&hook);
	if (r < 0 && r != -EEXIST)
		return moat_error_sys(err, -r, "creating the clsact qdisc on ifindex %d", ifindex);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = PODNET_TC_HANDLE, .priority = PODNET_TC_PRIORITY,
		    .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE);
	r = bpf_tc_attach(&hook, &opts);
	return r < 0 ? moat_error_sys(err, -r, "attaching the TC %s program to ifindex %d",
				      egress ? "egress" : "ingress", ifindex)
		     : 0;
}

int podnet_attach(const char *pin_dir, int ifindex, struct moat_error *err)
{
	libbpf_set_print(quiet); /* the second hook finds clsact there: not news */
	_cleanup_close_ int from = pin_get(pin_dir, PIN_FROM, err);
	if (from < 0)
		return -1;
	_cleanup_close_ int to = pin_get(pin_dir, PIN_TO, err);
	if (to < 0)
		return -1;
	if (tc_attach(ifindex, false, from, err) < 0 || tc_attach(ifindex, true, to, err) < 0)
		return -1;
	return 0;
}

/* Deletes every key of fd that keep() does not want. */
static void prune(int fd, size_t key_size, bool (*keep)(const void *key, void *ctx), void *ctx)
{
	unsigned char cur[64], next[64];
	bool first = true;
	while (bpf_map_get_next_key(fd, first ? NULL : cur, next) == 0) {
		first = false;
		memcpy(cur, next, key_size);
		if (!keep(cur, ctx)) {
			bpf_map_delete_elem(fd, cur);
			/* Deleting the current key restarts the walk: the next
			 * key after a deleted one is not defined for every map. */
			first = true;
		}
	}
}

struct keep_ctx {
	const struct podnet_pod_entry *pods;
	size_t npods;
	const struct podnet_rule *rules;
	size_t nrules;
};

static bool keep_pod(const void *key, void *ctx)
{
	const struct keep_ctx *k = ctx;
	__u32 ifindex;
	memcpy(&ifindex, key, sizeof(ifindex));
	for (size_t i = 0; i < k->npods; i++)
		if (k->pods[i].ifindex == ifindex)
			return true;
	return false;
}

static bool keep_ip(const void *key, void *ctx)
{
	const struct keep_ctx *k = ctx;
	__u32 ip;
	memcpy(&ip, key, sizeof(ip)); /* both keys lead with the pod */
	for (size_t i = 0; i < k->npods; i++)
		if (k->pods[i].ip == ip)
			return true;
	return false;
}

static struct podnet_rule_key rule_key(const struct podnet_rule *r)
{
	struct podnet_rule_key k = { .prefixlen = 64u + r->len, .pod = r->pod,
				     .protocol = r->protocol, .port = htons(r->port) };
	uint32_t src = r->len ? r->src & htonl(~0u << (32 - r->len)) : 0;
	memcpy(k.src, &src, 4);
	return k;
}

static bool keep_rule(const void *key, void *ctx)
{
	const struct keep_ctx *k = ctx;
	for (size_t i = 0; i < k->nrules; i++) {
		struct podnet_rule_key want = rule_key(&k->rules[i]);
		if (memcmp(&want, key, sizeof(want)) == 0)
			return true;
	}
	return false;
}

int podnet_sync(const char *pin_dir, const struct podnet_pod_entry *pods, size_t npods,
		const struct podnet_rule *rules, size_t nrules, struct moat_error *err)
{
	_cleanup_close_ int pfd = pin_get(pin_dir, PIN_PODS, err);
	if (pfd < 0)
		return -1;
	_cleanup_close_ int rfd = pin_get(pin_dir, PIN_RULES, err);
	if (rfd < 0)
		return -1;
	_cleanup_close_ int bfd = pin_get(pin_dir, PIN_BUCKETS, err);
	if (bfd < 0)
		return -1;
	/* Rules before the pods they isolate, so a pod never denies what a
	 * rule it is about to get allows. */
	for (size_t i = 0; i < nrules; i++) {
		struct podnet_rule_key k = rule_key(&rules[i]);
		__u8 v = rules[i].allow;
		if (bpf_map_update_elem(rfd, &k, &v, BPF_ANY) < 0)
			return moat_error_sys(err, errno, "writing a NetworkPolicy rule");
	}
	for (size_t i = 0; i < npods; i++) {
		const struct podnet_pod_entry *e = &pods[i];
		struct podnet_pod v = { .ip = e->ip, .isolated = e->isolated, .pps = e->pps,
					.bps = e->bps };
		memcpy(v.mac, e->mac, 6);
		__u32 k = e->ifindex;
		if (bpf_map_update_elem(pfd, &k, &v, BPF_ANY) < 0)
			return moat_error_sys(err, errno, "writing pod %u.%u.%u.%u's entry",
					      ((uint8_t *)&e->ip)[0], ((uint8_t *)&e->ip)[1],
					      ((uint8_t *)&e->ip)[2], ((uint8_t *)&e->ip)[3]);
	}
	struct keep_ctx kc = { pods, npods, rules, nrules };
	prune(pfd, sizeof(__u32), keep_pod, &kc);
	prune(bfd, sizeof(__u32), keep_pod, &kc);
	prune(rfd, sizeof(struct podnet_rule_key), keep_rule, &kc);
	/* A pod's address may go to another pod later: its counters and
	 * flows go with it. */
	_cleanup_close_ int cfd = pin_get(pin_dir, PIN_COUNTERS, err);
	_cleanup_close_ int ffd = pin_get(pin_dir, PIN_FLOWS, err);
	if (cfd < 0 || ffd < 0)
		return -1;
	prune(cfd, sizeof(struct podnet_drop_key), keep_ip, &kc);
	prune(ffd, sizeof(struct podnet_flow_key), keep_ip, &kc);
	return 0;
}

int podnet_counters(const char *pin_dir, uint32_t ip, uint64_t packets[PODNET_NREASONS],
		    uint64_t bytes[PODNET_NREASONS], struct moat_error *err)
{
	_Static_assert(PODNET_NREASONS == PODNET_REASONS, "reasons");
	_cleanup_close_ int fd = pin_get(pin_dir, PIN_COUNTERS, err);
	if (fd < 0)
		return -1;
	int ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0)
		return moat_error_set(err, EINVAL, "cannot count the possible CPUs");
	struct { __u64 packets, bytes; } *per = xcalloc((size_t)ncpu, sizeof(*per));
	for (unsigned r = 0; r < PODNET_REASONS; r++) {
		packets[r] = bytes[r] = 0;
		struct podnet_drop_key k = { .pod = ip, .reason = r };
		if (bpf_map_lookup_elem(fd, &k, per) < 0)
			continue;
		for (int c = 0; c < ncpu; c++) {
			packets[r] += per[c].packets;
			bytes[r] += per[c].bytes;
		}
	}
	free(per);
	return 0;
}

const char *podnet_reason_name(unsigned r)
{
	static const char *const names[PODNET_REASONS] = {
		[PODNET_PASS] = "passed",	     [PODNET_RATE] = "rate",
		[PODNET_SPOOF_MAC] = "spoofedMac",   [PODNET_SPOOF_IP] = "spoofedIp",
		[PODNET_SPOOF_ARP] = "spoofedArp",   [PODNET_OUTSIDE] = "offPortGroup",
		[PODNET_PROTOCOL] = "protocol",	     [PODNET_POLICY] = "policy",
		[PODNET_MALFORMED] = "malformed",    [PODNET_UNKNOWN] = "unknownTap",
	};
	return r < PODNET_REASONS ? names[r] : "?";
}
