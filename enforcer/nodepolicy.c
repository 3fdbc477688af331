/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NodePolicy file (docs/node-policy.md): what may reach the host on its
 * management NIC, the nodePort range, and what host cgroups may serve.  Read
 * and checked without privileges, so `moat enforce check` can run in CI.
 */
#include "enforcer.h"

#include <arpa/inet.h>
#include <errno.h>

struct np_reader {
	const char *file;
	struct moat_error *err;
};

static int bad(struct np_reader *r, const struct ynode *at, const char *fmt, ...) PRINTF(3, 4);
static int bad(struct np_reader *r, const struct ynode *at, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return moat_error_at(r->err, EINVAL, r->file, at, "%s", msg);
}

static int keys_only(struct np_reader *r, const struct ynode *map, const char *what,
		     const char *const *allowed)
{
	if (!map || map->type != YNODE_MAP)
		return bad(r, map, "%s: expected a mapping, got %s", what,
			   map ? ynode_type_name(map) : "nothing");
	for (uint32_t i = 0; i < map->len; i++) {
		const struct ynode *k = map->pairs[i].key;
		bool ok = false;
		for (size_t j = 0; allowed[j] && !ok; j++)
			ok = yscalar_is(k, allowed[j]);
		if (!ok) {
			char list[256] = "";
			for (size_t j = 0; allowed[j]; j++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
					 j ? ", " : "", allowed[j]);
			return bad(r, k, "%s: unknown key '%s' (expected %s)", what,
				   k->type == YNODE_SCALAR ? k->str : "?", list);
		}
	}
	return 0;
}

static int scalar(struct np_reader *r, const struct ynode *n, const char *what, const char **out)
{
	if (!n || n->type != YNODE_SCALAR || ynode_is_null(n))
		return bad(r, n, "%s: expected a string", what);
	*out = n->str;
	return 0;
}

static int parse_protocol(struct np_reader *r, const struct ynode *n, const char *what,
			  enum np_protocol *out)
{
	const char *s = "";
	if (!n)
		return bad(r, NULL, "%s: missing protocol", what);
	if (scalar(r, n, what, &s) < 0)
		return -1;
	if (strcmp(s, "tcp") == 0)
		*out = NP_TCP;
	else if (strcmp(s, "udp") == 0)
		*out = NP_UDP;
	else if (strcmp(s, "sctp") == 0)
		*out = NP_SCTP;
	else
		return bad(r, n, "%s: unknown protocol '%s' (expected tcp, udp or sctp)", what, s);
	return 0;
}

/* 22, "22" or "2379-2380" */
static int parse_range(struct np_reader *r, const struct ynode *n, const char *what,
		       struct np_port_range *out)
{
	if (!n || n->type != YNODE_SCALAR)
		return bad(r, n, "%s: expected a port or a range such as \"2379-2380\"", what);
	unsigned a, b;
	char tail;
	int k = sscanf(n->str, "%u-%u%c", &a, &b, &tail);
	if (k == 1 && strspn(n->str, "0123456789") == n->len)
		b = a;
	else if (k != 2 || strspn(n->str, "0123456789-") != n->len)
		return bad(r, n, "%s: '%s' is not a port or a range such as \"2379-2380\"", what,
			   n->str);
	if (a < 1 || b > 65535 || a > b)
		return bad(r, n, "%s: '%s': ports run from 1 to 65535, low to high", what, n->str);
	out->lo = (uint16_t)a;
	out->hi = (uint16_t)b;
	return 0;
}

static int parse_ports(struct np_reader *r, const struct ynode *n, const char *what,
		       struct np_port_range **out, size_t *count)
{
	if (!n)
		return bad(r, NULL, "%s: missing ports", what);
	size_t len = n->type == YNODE_SEQ ? n->len : 1;
	if (!len || len > 1024)
		return bad(r, n, "%s: expected 1 to 1024 ports or ranges", what);
	*out = xcalloc(len, sizeof(**out));
	*count = len;
	for (size_t i = 0; i < len; i++)
		if (parse_range(r, n->type == YNODE_SEQ ? n->items[i] : n, what, &(*out)[i]) < 0)
			return -1;
	return 0;
}

/* "10.0.0.0/8", "fd00::/8", "192.0.2.7" (a /32) */
static int parse_prefix(struct np_reader *r, const struct ynode *n, const char *what,
			struct np_prefix *out)
{
	const char *s = "";
	if (scalar(r, n, what, &s) < 0)
		return -1;
	char addr[64];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen >= sizeof(addr))
		return bad(r, n, "%s: '%s' is not an address or prefix", what, s);
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, addr, out->addr) == 1)
		out->family = 4;
	else if (inet_pton(AF_INET6, addr, out->addr) == 1)
		out->family = 6;
	else
		return bad(r, n, "%s: '%s' is not an IPv4 or IPv6 address or prefix", what, s);
	unsigned max = out->family == 4 ? 32 : 128, len = max;
	if (slash) {
		char *end;
		unsigned long v = strtoul(slash + 1, &end, 10);
		if (end == slash + 1 || *end || v > max)
			return bad(r, n, "%s: '%s': the prefix length runs from 0 to %u", what, s, max);
		len = (unsigned)v;
	}
	out->len = (uint8_t)len;
	/* Host bits set are a typo more often than not: 10.0.0.1/8 was meant
	 * as one host or as 10.0.0.0/8, and the two differ a lot. */
	for (unsigned bit = len; bit < max; bit++)
		if (out->addr[bit / 8] & (0x80 >> (bit % 8)))
			return bad(r, n, "%s: '%s' has bits set after the /%u prefix; write the "
					 "network address, or the host as /%u", what, s, len, max);
	return 0;
}

static const char *const icmp_names[] = { "echo-request", "echo-reply", "destination-unreachable",
					   "time-exceeded", "packet-too-big", "parameter-problem",
					   NULL };

static int parse_management(struct np_reader *r, const struct ynode *m, struct node_policy *p)
{
	static const char *const keys[] = { "interface", "ingress", "icmp", "default", NULL };
	if (keys_only(r, m, "spec.management", keys) < 0)
		return -1;
	const struct ynode *ifn = ymap_get(m, "interface");
	const char *ifname = "";
	if (!ifn)
		return bad(r, m, "spec.management.interface: missing: name the management NIC");
	if (scalar(r, ifn, "spec.management.interface", &ifname) < 0)
		return -1;
	if (!*ifname || strlen(ifname) > 15 || strpbrk(ifname, "/ \t:") ||
	    strcmp(ifname, ".") == 0 || strcmp(ifname, "..") == 0)
		return bad(r, ifn, "spec.management.interface: '%s' is not an interface name "
				   "(at most 15 characters, no '/', ':' or spaces)", ifname);
	snprintf(p->interface, sizeof(p->interface), "%s", ifname);
	const struct ynode *def = ymap_get(m, "default");
	if (def) {
		const char *d = "";
		if (scalar(r, def, "spec.management.default", &d) < 0)
			return -1;
		if (strcmp(d, "deny") && strcmp(d, "allow"))
			return bad(r, def, "spec.management.default: expected deny or allow");
		p->default_allow = strcmp(d, "allow") == 0;
	}
	const struct ynode *icmp = ymap_get(m, "icmp");
	for (uint32_t i = 0; icmp && i < (icmp->type == YNODE_SEQ ? icmp->len : 0); i++) {
		const struct ynode *it = icmp->items[i];
		size_t k;
		for (k = 0; icmp_names[k]; k++)
			if (yscalar_is(it, icmp_names[k]))
				break;
		if (!icmp_names[k])
			return bad(r, it, "spec.management.icmp[%u]: unknown ICMP type (expected "
					  "echo-request, echo-reply, destination-unreachable, "
					  "time-exceeded, packet-too-big or parameter-problem)", i);
		p->icmp |= 1u << k;
	}
	if (icmp && icmp->type != YNODE_SEQ)
		return bad(r, icmp, "spec.management.icmp: expected a list of ICMP types");
	const struct ynode *ing = ymap_get(m, "ingress");
	if (ing && ing->type != YNODE_SEQ)
		return bad(r, ing, "spec.management.ingress: expected a list of rules");
	p->nrules = ing ? ing->len : 0;
	if (p->nrules > 16384)
		return bad(r, ing, "spec.management.ingress: more than 16384 rules");
	p->rules = xcalloc(p->nrules ? p->nrules : 1, sizeof(*p->rules));
	for (size_t i = 0; i < p->nrules; i++) {
		static const char *const rkeys[] = { "name", "protocol", "ports", "from", NULL };
		const struct ynode *rn = ing->items[i];
		struct np_rule *rule = &p->rules[i];
		char what[64];
		snprintf(what, sizeof(what), "spec.management.ingress[%zu]", i);
		if (keys_only(r, rn, what, rkeys) < 0)
			return -1;
		const char *name = "";
		const struct ynode *nn = ymap_get(rn, "name");
		if (!nn)
			return bad(r, rn, "%s: missing name: each rule is named, for its counters", what);
		if (scalar(r, nn, what, &name) < 0)
			return -1;
		if (strlen(name) >= sizeof(rule->name))
			return bad(r, nn, "%s.name: longer than %zu characters", what,
				   sizeof(rule->name) - 1);
		for (size_t k = 0; k < i; k++)
			if (strcmp(p->rules[k].name, name) == 0)
				return bad(r, nn, "%s.name: '%s' is already the name of rule %zu", what,
					   name, k);
		snprintf(rule->name, sizeof(rule->name), "%s", name);
		char sub[96];
		snprintf(sub, sizeof(sub), "%s.protocol", what);
		const struct ynode *proto = ymap_get(rn, "protocol");
		if (!proto)
			return bad(r, rn, "%s: missing protocol (tcp, udp or sctp)", what);
		if (parse_protocol(r, proto, sub, &rule->protocol) < 0)
			return -1;
		snprintf(sub, sizeof(sub), "%s.ports", what);
		const struct ynode *ports = ymap_get(rn, "ports");
		if (!ports)
			return bad(r, rn, "%s: missing ports", what);
		if (parse_ports(r, ports, sub, &rule->ports, &rule->nports) < 0)
			return -1;
		const struct ynode *from = ymap_get(rn, "from");
		if (from) {
			if (from->type != YNODE_SEQ || !from->len || from->len > 4096)
				return bad(r, from, "%s.from: expected a list of 1 to 4096 prefixes",
					   what);
			rule->nfrom = from->len;
			rule->from = xcalloc(rule->nfrom, sizeof(*rule->from));
			for (uint32_t k = 0; k < from->len; k++) {
				snprintf(sub, sizeof(sub), "%s.from[%u]", what, k);
				if (parse_prefix(r, from->items[k], sub, &rule->from[k]) < 0)
					return -1;
			}
		}
	}
	return 0;
}

int node_policy_parse(const char *name, const char *buf, size_t len, struct node_policy **out,
		      struct moat_error *err)
{
	*out = NULL;
	struct yfile *f = NULL;
	if (yaml_parse(name, buf, len, &f, err) < 0) {
		yfile_free(f);
		return -1;
	}
	struct np_reader r = { name, err };
	struct node_policy *p = xcalloc(1, sizeof(*p));
	int rc = -1;
	const struct ynode *root = f->ndocs ? f->docs[0].root : NULL;
	static const char *const top[] = { "apiVersion", "kind", "metadata", "spec", NULL };
	if (f->ndocs > 1) {
		bad(&r, f->docs[1].root, "one NodePolicy per file, please");
		goto out;
	}
	if (keys_only(&r, root, "the file", top) < 0)
		goto out;
	const struct ynode *av = ymap_get(root, "apiVersion"), *kind = ymap_get(root, "kind");
	if (!av || !yscalar_is(av, "moat/v1")) {
		bad(&r, av ? av : root, "apiVersion: expected moat/v1");
		goto out;
	}
	if (!kind || !yscalar_is(kind, "NodePolicy")) {
		bad(&r, kind ? kind : root, "kind: expected NodePolicy");
		goto out;
	}
	const struct ynode *meta = ymap_get(root, "metadata");
	const struct ynode *mname = ymap_get(meta, "name");
	const char *s = "";
	if (!mname || scalar(&r, mname, "metadata.name", &s) < 0) {
		if (!mname)
			bad(&r, meta ? meta : root, "metadata.name: missing");
		goto out;
	}
	snprintf(p->name, sizeof(p->name), "%s", s);
	const struct ynode *spec = ymap_get(root, "spec");
	static const char *const skeys[] = { "management", "nodePorts", "hostServing", NULL };
	if (keys_only(&r, spec, "spec", skeys) < 0)
		goto out;
	const struct ynode *m = ymap_get(spec, "management");
	if (m && parse_management(&r, m, p) < 0)
		goto out;
	p->has_management = m != NULL;
	const struct ynode *np = ymap_get(spec, "nodePorts");
	if (np) {
		static const char *const nkeys[] = { "ports", "action", NULL };
		if (keys_only(&r, np, "spec.nodePorts", nkeys) < 0 ||
		    parse_range(&r, ymap_get(np, "ports"), "spec.nodePorts.ports", &p->node_ports) < 0)
			goto out;
		const struct ynode *act = ymap_get(np, "action");
		if (act && !yscalar_is(act, "deny") && !yscalar_is(act, "allow")) {
			bad(&r, act, "spec.nodePorts.action: expected deny or allow");
			goto out;
		}
		p->node_ports_deny = !act || yscalar_is(act, "deny");
	}
	const struct ynode *hs = ymap_get(spec, "hostServing");
	if (hs) {
		static const char *const hkeys[] = { "cgroups", "allow", NULL };
		if (keys_only(&r, hs, "spec.hostServing", hkeys) < 0)
			goto out;
		const struct ynode *cg = ymap_get(hs, "cgroups");
		if (!cg || cg->type != YNODE_SEQ || !cg->len || cg->len > 256) {
			bad(&r, cg ? cg : hs, "spec.hostServing.cgroups: expected a list of cgroup "
					      "directories");
			goto out;
		}
		p->ncgroups = cg->len;
		p->cgroups = xcalloc(p->ncgroups, sizeof(char *));
		for (uint32_t i = 0; i < cg->len; i++) {
			char what[64];
			snprintf(what, sizeof(what), "spec.hostServing.cgroups[%u]", i);
			if (scalar(&r, cg->items[i], what, &s) < 0)
				goto out;
			if (s[0] != '/' || strstr(s, "/../") || strlen(s) > 4000) {
				bad(&r, cg->items[i], "%s: '%s' is not an absolute cgroup directory", what,
				    s);
				goto out;
			}
			p->cgroups[i] = xstrdup(s);
		}
		const struct ynode *allow = ymap_get(hs, "allow");
		if (allow && allow->type != YNODE_SEQ) {
			bad(&r, allow, "spec.hostServing.allow: expected a list of {protocol, ports}");
			goto out;
		}
		p->nserve = allow ? allow->len : 0;
		p->serve = xcalloc(p->nserve ? p->nserve : 1, sizeof(*p->serve));
		for (size_t i = 0; i < p->nserve; i++) {
			static const char *const akeys[] = { "protocol", "ports", NULL };
			char what[64], sub[96];
			snprintf(what, sizeof(what), "spec.hostServing.allow[%zu]", i);
			const struct ynode *an = allow->items[i];
			if (keys_only(&r, an, what, akeys) < 0)
				goto out;
			snprintf(sub, sizeof(sub), "%s.protocol", what);
			if (parse_protocol(&r, ymap_get(an, "protocol"), sub, &p->serve[i].protocol) < 0)
				goto out;
			snprintf(sub, sizeof(sub), "%s.ports", what);
			if (parse_ports(&r, ymap_get(an, "ports"), sub, &p->serve[i].ports,
					&p->serve[i].nports) < 0)
				goto out;
		}
	}
	rc = 0;
out:
	yfile_free(f);
	if (rc < 0)
		node_policy_free(p);
	else
		*out = p;
	return rc;
}

void node_policy_free(struct node_policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nrules; i++) {
		free(p->rules[i].ports);
		free(p->rules[i].from);
	}
	free(p->rules);
	for (size_t i = 0; i < p->ncgroups; i++)
		free(p->cgroups[i]);
	free(p->cgroups);
	for (size_t i = 0; i < p->nserve; i++)
		free(p->serve[i].ports);
	free(p->serve);
	free(p);
}

int node_policy_load(const char *path, struct node_policy **out, struct moat_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (read_file(path, 4u << 20, &buf, &len, err) < 0)
		return -1;
	_cleanup_free_ char *display = path_display(path);
	return node_policy_parse(display, buf, len, out, err);
}
