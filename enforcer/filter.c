/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading the management-NIC filter (filter.bpf.c) and filling its maps from
 * a NodePolicy: open -> load -> configure; attaching and pinning come with
 * `moat enforce apply`.  filter_test_packet runs one packet through the
 * loaded program with BPF_PROG_TEST_RUN, attached to nothing.
 */
#include "enforcer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>

#include "enforcer/filter.h"
#include "filter.skel.h"

struct filter {
	struct filter_skel *skel;
};

static int quiet_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf's own chatter stays out of moat's output; its errors reach
	 * the caller as errno. */
	if (level == LIBBPF_WARN && getenv("MOAT_DEBUG_BPF"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

int filter_open(struct filter **out, struct moat_error *err)
{
	return filter_open_shared(out, -1, err);
}

int filter_open_shared(struct filter **out, int flows_fd, struct moat_error *err)
{
	*out = NULL;
	libbpf_set_print(quiet_libbpf);
	struct filter *f = xcalloc(1, sizeof(*f));
	f->skel = filter_skel__open();
	if (!f->skel) {
		int e = errno;
		free(f);
		return moat_error_sys(err, e, "opening the XDP filter");
	}
	int r = flows_fd >= 0 ? bpf_map__reuse_fd(f->skel->maps.flows, flows_fd) : 0;
	if (r == 0)
		r = filter_skel__load(f->skel);
	if (r < 0) {
		filter_skel__destroy(f->skel);
		free(f);
		return moat_error_sys(err, -r, "loading the XDP filter into the kernel");
	}
	*out = f;
	return 0;
}

void filter_close(struct filter *f)
{
	if (!f)
		return;
	filter_skel__destroy(f->skel);
	free(f);
}

int filter_configure(struct filter *f, const struct node_policy *p, bool audit,
		     struct moat_error *err)
{
	if (p->nrules > FILTER_MAX_RULES)
		return moat_error_set(err, E2BIG, "%zu rules; the filter holds %d", p->nrules,
				      FILTER_MAX_RULES);
	struct filter_config cfg = { .default_allow = p->default_allow, .audit = audit,
				     .icmp_mask = p->icmp };
	if (p->node_ports_deny && p->node_ports.lo) {
		cfg.node_lo = p->node_ports.lo;
		cfg.node_hi = p->node_ports.hi;
	}
	/* The distinct prefix lengths, longest first: the program tries each
	 * once.  Past FILTER_MAX_LENS per family, the LPM tries take over. */
	for (size_t i = 0; i < p->nrules; i++) {
		for (size_t k = 0; k < p->rules[i].nfrom; k++) {
			const struct np_prefix *pf = &p->rules[i].from[k];
			__u8 *lens = pf->family == 4 ? cfg.lens4 : cfg.lens6;
			__u32 *n = pf->family == 4 ? &cfg.nlens4 : &cfg.nlens6;
			bool seen = false;
			for (__u32 j = 0; j < *n && !seen; j++)
				seen = lens[j] == pf->len;
			if (seen)
				continue;
			if (*n == FILTER_MAX_LENS) {
				cfg.use_lpm = 1;
				continue;
			}
			__u32 j = (*n)++;
			for (; j > 0 && lens[j - 1] < pf->len; j--)
				lens[j] = lens[j - 1];
			lens[j] = pf->len;
		}
	}
	__u32 zero = 0;
	if (bpf_map_update_elem(bpf_map__fd(f->skel->maps.config), &zero, &cfg, BPF_ANY) < 0)
		return moat_error_sys(err, errno, "writing the filter's config");
	size_t entries = 0;
	__u8 one = 1;
	for (size_t i = 0; i < p->nrules; i++) {
		const struct np_rule *r = &p->rules[i];
		struct filter_port_val v = { .rule = (__u32)i, .any_source = r->nfrom == 0 };
		for (size_t k = 0; k < r->nports; k++) {
			for (unsigned port = r->ports[k].lo; port <= r->ports[k].hi; port++) {
				struct filter_port_key key = { .protocol = (__u8)r->protocol,
							       .port = (__u16)port };
				if (++entries > FILTER_MAX_PORTS)
					return moat_error_set(err, E2BIG, "rule %s: more than %d "
									  "protocol and port pairs",
							      r->name, FILTER_MAX_PORTS);
				/* The first rule naming a port owns it: its sources and
				 * its counter. */
				if (bpf_map_update_elem(bpf_map__fd(f->skel->maps.ports), &key, &v,
							BPF_NOEXIST) < 0 &&
				    errno != EEXIST)
					return moat_error_sys(err, errno, "rule %s: port %u", r->name,
							      port);
			}
		}
		for (size_t k = 0; k < r->nfrom; k++) {
			const struct np_prefix *pf = &r->from[k];
			struct filter_srch_key hk = { .rule = (__u32)i, .len = pf->len,
						      .family = pf->family };
			memcpy(hk.addr, pf->addr, pf->family == 4 ? 4 : 16); /* already masked */
			if (bpf_map_update_elem(bpf_map__fd(f->skel->maps.srch), &hk, &one, BPF_ANY) < 0)
				return moat_error_sys(err, errno, "rule %s: source prefix", r->name);
			int rc;
			if (pf->family == 4) {
				struct filter_src4_key sk = { .prefixlen = 32u + pf->len,
							      .rule = htobe32((uint32_t)i) };
				memcpy(sk.addr, pf->addr, 4);
				rc = bpf_map_update_elem(bpf_map__fd(f->skel->maps.src4), &sk, &one,
							 BPF_ANY);
			} else {
				struct filter_src6_key sk = { .prefixlen = 32u + pf->len,
							      .rule = htobe32((uint32_t)i) };
				memcpy(sk.addr, pf->addr, 16);
				rc = bpf_map_update_elem(bpf_map__fd(f->skel->maps.src6), &sk, &one,
							 BPF_ANY);
			}
			if (rc < 0)
				return moat_error_sys(err, errno, "rule %s: source prefix", r->name);
		}
	}
	for (size_t i = 0; i < p->nserve; i++) {
		const struct np_serve *sv = &p->serve[i];
		for (size_t k = 0; k < sv->nports; k++) {
			for (unsigned port = sv->ports[k].lo; port <= sv->ports[k].hi; port++) {
				struct filter_serve_key key = { .protocol = (__u8)sv->protocol,
								.port = (__u16)port };
				if (bpf_map_update_elem(bpf_map__fd(f->skel->maps.serve), &key, &one,
							BPF_ANY) < 0)
					return moat_error_sys(err, errno, "hostServing: port %u", port);
			}
		}
	}
	return 0;
}

int filter_test_packet(struct filter *f, const void *pkt, size_t len, unsigned repeat,
		       int *verdict, unsigned *duration_ns, struct moat_error *err)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = (__u32)len,
		    .repeat = repeat);
	int r = bpf_prog_test_run_opts(bpf_program__fd(f->skel->progs.moat_filter), &opts);
	if (r < 0)
		return moat_error_sys(err, errno, "BPF_PROG_TEST_RUN");
	*verdict = (int)opts.retval;
	if (duration_ns)
		*duration_ns = opts.duration;
	return 0;
}

int filter_prog_fd(struct filter *f, enum filter_hook h)
{
	struct bpf_program *progs[HOOK_COUNT] = {
		[HOOK_FILTER] = f->skel->progs.moat_filter,
		[HOOK_FILTER_TC] = f->skel->progs.moat_filter_tc,
		[HOOK_NODEPORTS] = f->skel->progs.moat_nodeports,
		[HOOK_NODEPORTS_TC] = f->skel->progs.moat_nodeports_tc,
		[HOOK_EGRESS] = f->skel->progs.moat_egress,
		[HOOK_BIND4] = f->skel->progs.moat_bind4,
		[HOOK_BIND6] = f->skel->progs.moat_bind6,
		[HOOK_SERVE] = f->skel->progs.moat_serve,
	};
	return (unsigned)h < HOOK_COUNT ? bpf_program__fd(progs[h]) : -1;
}

const char *filter_hook_name(enum filter_hook h)
{
	static const char *const names[HOOK_COUNT] = {
		[HOOK_FILTER] = "moat_filter",	       [HOOK_FILTER_TC] = "moat_filter_tc",
		[HOOK_NODEPORTS] = "moat_nodeports",   [HOOK_NODEPORTS_TC] = "moat_nodeports_tc",
		[HOOK_EGRESS] = "moat_egress",	       [HOOK_BIND4] = "moat_bind4",
		[HOOK_BIND6] = "moat_bind6",	       [HOOK_SERVE] = "moat_serve",
	};
	return (unsigned)h < HOOK_COUNT ? names[h] : "?";
}

int filter_map_fd(struct filter *f, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(f->skel->obj, name);
	return m ? bpf_map__fd(m) : -1;
}

/* A TCP segment (ACK set, as in an established session) from src to dst,
 * run through the management filter: would the policy pass it? */
int filter_test_tcp(struct filter *f, int family, const void *src, const void *dst,
		    uint16_t sport, uint16_t dport, int *verdict, struct moat_error *err)
{
	unsigned char pkt[14 + 40 + 20] = { 0 };
	size_t len = 14;
	unsigned char *ip = pkt + 14;
	if (family == 4) {
		pkt[12] = 0x08;
		ip[0] = 0x45;
		ip[3] = 40;
		ip[8] = 64;
		ip[9] = 6;
		memcpy(ip + 12, src, 4);
		memcpy(ip + 16, dst, 4);
		len += 20;
	} else {
		pkt[12] = 0x86;
		pkt[13] = 0xdd;
		ip[0] = 0x60;
		ip[5] = 20;
		ip[6] = 6;
		ip[7] = 64;
		memcpy(ip + 8, src, 16);
		memcpy(ip + 24, dst, 16);
		len += 40;
	}
	unsigned char *tcp = pkt + len;
	tcp[0] = (unsigned char)(sport >> 8);
	tcp[1] = (unsigned char)sport;
	tcp[2] = (unsigned char)(dport >> 8);
	tcp[3] = (unsigned char)dport;
	tcp[12] = 0x50;
	tcp[13] = 0x10; /* ACK */
	len += 20;
	return filter_test_packet(f, pkt, len, 1, verdict, NULL, err);
}

static int sum_counter(int fd, __u32 key, struct filter_counter *out, struct moat_error *err)
{
	int ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0)
		return moat_error_set(err, EINVAL, "cannot count the possible CPUs");
	struct filter_counter *per = xcalloc((size_t)ncpu, sizeof(*per));
	memset(out, 0, sizeof(*out));
	int r = bpf_map_lookup_elem(fd, &key, per);
	if (r == 0) {
		for (int i = 0; i < ncpu; i++) {
			out->packets += per[i].packets;
			out->bytes += per[i].bytes;
		}
	}
	free(per);
	return r < 0 ? moat_error_sys(err, errno, "reading a counter") : 0;
}

int filter_sum_counter(int fd, unsigned key, uint64_t *packets, uint64_t *bytes,
		       struct moat_error *err)
{
	struct filter_counter c;
	if (sum_counter(fd, key, &c, err) < 0)
		return -1;
	*packets = c.packets;
	if (bytes)
		*bytes = c.bytes;
	return 0;
}

int filter_rule_counter(struct filter *f, unsigned rule, uint64_t *packets, uint64_t *bytes,
			struct moat_error *err)
{
	struct filter_counter c;
	if (sum_counter(bpf_map__fd(f->skel->maps.rule_counters), rule, &c, err) < 0)
		return -1;
	*packets = c.packets;
	*bytes = c.bytes;
	return 0;
}

int filter_drop_counter(struct filter *f, unsigned reason, uint64_t *packets,
			struct moat_error *err)
{
	struct filter_counter c;
	if (sum_counter(bpf_map__fd(f->skel->maps.drop_counters), reason, &c, err) < 0)
		return -1;
	*packets = c.packets;
	return 0;
}
