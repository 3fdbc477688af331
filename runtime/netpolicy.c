/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NetworkPolicy (networking.k8s.io/v1), the ingress subset moat enforces on
 * a port group's taps: spec.podSelector (matchLabels), ingress rules whose
 * peers are a podSelector or an ipBlock (cidr, except) and whose ports are
 * TCP/UDP/SCTP by number or by a containerPort's name.  Everything else a
 * policy could say (egress, namespaceSelector, matchExpressions, endPort) is
 * refused by name rather than half-enforced.
 *
 * moat's form of a policy, stored per port group:
 *   {"name", "podSelector": {labels}, "ingress": [
 *     {"from": null | [{"pods": {labels}} | {"cidr", "len", "except": [...]}],
 *      "ports": null | [{"protocol": 6, "port": 8080 | "name" | 0}]}]}
 * "from": null or "ports": null mean every source or port, as an absent
 * list does in Kubernetes.
 */
#include "runtime.h"

#include "enforcer/enforcer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>

#define NETPOL_MAX_ITEMS 256
/* What the rules map holds (enforcer/podnet.h's PODNET_MAX_RULES). */
#define PODNET_MAX_RULES_USER 65536

struct pctx {
	const char *file;
	struct moat_error *err;
	const struct ynode *doc;
};

static int bad(struct pctx *c, const struct ynode *n, const char *field, const char *fmt, ...)
	PRINTF(4, 5);
static int bad(struct pctx *c, const struct ynode *n, const char *field, const char *fmt, ...)
{
	char what[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	const struct ynode *at = n ? n : c->doc;
	return moat_error_at(c->err, EINVAL, c->file, at, "%s: %s", field, what);
}

static const char *scalar(const struct ynode *n)
{
	return n && n->type == YNODE_SCALAR ? n->str : NULL;
}

/* Only the keys listed may appear; those in refused are named as
 * unsupported, the rest as unknown. */
static int check_keys(struct pctx *c, const struct ynode *map, const char *field,
		      const char *const *known, const char *const *refused)
{
	if (!map || map->type != YNODE_MAP)
		return bad(c, map, field, "expected a mapping, found %s", ynode_type_name(map));
	for (uint32_t i = 0; i < map->len; i++) {
		const char *k = scalar(map->pairs[i].key);
		bool ok = false;
		for (size_t j = 0; k && known[j] && !ok; j++)
			ok = strcmp(k, known[j]) == 0;
		if (ok)
			continue;
		for (size_t j = 0; k && refused && refused[j]; j++)
			if (strcmp(k, refused[j]) == 0)
				return bad(c, map->pairs[i].key, field, "%s is not supported: moat "
									"enforces ingress rules with "
									"podSelector, ipBlock and ports",
					   k);
		return bad(c, map->pairs[i].key, field, "unknown field %s", k ? k : "(not a string)");
	}
	return 0;
}

static bool label_ok(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("-_./", s[i])))
			return false;
	return true;
}

/* A LabelSelector with matchLabels only; NULL on error. */
static json_t *selector(struct pctx *c, const struct ynode *n, const char *field)
{
	static const char *const known[] = { "matchLabels", NULL };
	static const char *const refused[] = { "matchExpressions", NULL };
	if (n && ynode_is_null(n))
		return json_object();
	if (check_keys(c, n, field, known, refused) < 0)
		return NULL;
	json_t *out = json_object();
	const struct ynode *ml = ymap_get(n, "matchLabels");
	if (!ml || ynode_is_null(ml))
		return out;
	char f[160];
	snprintf(f, sizeof(f), "%s.matchLabels", field);
	if (ml->type != YNODE_MAP) {
		json_decref(out);
		bad(c, ml, f, "expected a mapping of labels");
		return NULL;
	}
	for (uint32_t i = 0; i < ml->len; i++) {
		const char *k = scalar(ml->pairs[i].key), *v = scalar(ml->pairs[i].val);
		if (!k || !v || !k[0] || !label_ok(k, 253) || !label_ok(v, 63)) {
			json_decref(out);
			bad(c, ml->pairs[i].key, f, "%s: expected a label key and a string value",
			    k ? k : "?");
			return NULL;
		}
		json_object_set_new(out, k, json_string(v));
	}
	return out;
}

static int cidr4(const char *s, uint32_t *addr, unsigned *len)
{
	char buf[32];
	const char *slash = s ? strchr(s, '/') : NULL;
	if (!slash || (size_t)(slash - s) >= sizeof(buf))
		return -1;
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = '\0';
	char *end;
	long l = strtol(slash + 1, &end, 10);
	struct in_addr a;
	if (inet_pton(AF_INET, buf, &a) != 1 || *end || end == slash + 1 || l < 0 || l > 32)
		return -1;
	*addr = a.s_addr;
	*len = (unsigned)l;
	return 0;
}

static json_t *peer(struct pctx *c, const struct ynode *n, const char *field)
{
	static const char *const known[] = { "podSelector", "ipBlock", NULL };
	static const char *const refused[] = { "namespaceSelector", NULL };
	if (check_keys(c, n, field, known, refused) < 0)
		return NULL;
	const struct ynode *ps = ymap_get(n, "podSelector"), *ib = ymap_get(n, "ipBlock");
	char f[160];
	if (ps && ib) {
		bad(c, n, field, "podSelector and ipBlock together: a peer is one or the other");
		return NULL;
	}
	if (!ps && !ib) {
		bad(c, n, field, "expected podSelector or ipBlock");
		return NULL;
	}
	if (ps) {
		snprintf(f, sizeof(f), "%s.podSelector", field);
		json_t *sel = selector(c, ps, f);
		return sel ? json_pack("{s:o}", "pods", sel) : NULL;
	}
	snprintf(f, sizeof(f), "%s.ipBlock", field);
	static const char *const ib_known[] = { "cidr", "except", NULL };
	if (check_keys(c, ib, f, ib_known, NULL) < 0)
		return NULL;
	uint32_t a;
	unsigned len;
	const char *cidr = scalar(ymap_get(ib, "cidr"));
	if (!cidr || cidr4(cidr, &a, &len) < 0) {
		bad(c, ymap_get(ib, "cidr") ?: ib, f, "cidr: expected an IPv4 CIDR (IPv6 is not "
						      "offered on port groups)");
		return NULL;
	}
	json_t *out = json_pack("{s:s, s:i, s:[]}", "cidr", cidr, "len", (int)len, "except");
	const struct ynode *ex = ymap_get(ib, "except");
	if (ex && ex->type != YNODE_SEQ) {
		json_decref(out);
		bad(c, ex, f, "except: expected a list of CIDRs");
		return NULL;
	}
	for (uint32_t i = 0; ex && i < ex->len && i < NETPOL_MAX_ITEMS; i++) {
		const char *x = scalar(ex->items[i]);
		uint32_t xa;
		unsigned xl;
		uint32_t mask = len ? htonl(~0u << (32 - len)) : 0;
		if (!x || cidr4(x, &xa, &xl) < 0 || xl < len || (xa & mask) != (a & mask)) {
			json_decref(out);
			bad(c, ex->items[i], f, "except[%u]: expected an IPv4 CIDR inside %s", i, cidr);
			return NULL;
		}
		json_array_append_new(json_object_get(out, "except"), json_string(x));
	}
	return out;
}

static int proto_num(const char *s)
{
	if (!s || strcmp(s, "TCP") == 0)
		return 6;
	if (strcmp(s, "UDP") == 0)
		return 17;
	if (strcmp(s, "SCTP") == 0)
		return 132;
	return -1;
}

static json_t *port(struct pctx *c, const struct ynode *n, const char *field)
{
	static const char *const known[] = { "protocol", "port", NULL };
	static const char *const refused[] = { "endPort", NULL };
	if (check_keys(c, n, field, known, refused) < 0)
		return NULL;
	const struct ynode *pr = ymap_get(n, "protocol"), *pt = ymap_get(n, "port");
	int proto = proto_num(scalar(pr));
	if ((pr && !scalar(pr)) || proto < 0) {
		bad(c, pr, field, "protocol: expected TCP, UDP or SCTP");
		return NULL;
	}
	json_t *out = json_pack("{s:i}", "protocol", proto);
	long long num;
	if (!pt || ynode_is_null(pt)) {
		json_object_set_new(out, "port", json_integer(0));
	} else if (ynode_int(pt, &num) == 0) {
		if (num < 1 || num > 65535) {
			json_decref(out);
			bad(c, pt, field, "port: %lld is not a port number (1-65535)", num);
			return NULL;
		}
		json_object_set_new(out, "port", json_integer(num));
	} else if (scalar(pt) && label_ok(scalar(pt), 15) && scalar(pt)[0]) {
		json_object_set_new(out, "port", json_string(scalar(pt)));
	} else {
		json_decref(out);
		bad(c, pt, field, "port: expected a number or a containerPort's name");
		return NULL;
	}
	return out;
}

/* A list that may be absent (null: everything) or a sequence of items. */
static int each(struct pctx *c, const struct ynode *seq, const char *field, const char *what,
		json_t *(*fn)(struct pctx *, const struct ynode *, const char *), json_t **out)
{
	*out = NULL;
	if (!seq || ynode_is_null(seq))
		return 0;
	if (seq->type != YNODE_SEQ)
		return bad(c, seq, field, "expected a list of %s", what);
	if (seq->len > NETPOL_MAX_ITEMS)
		return bad(c, seq, field, "more than %d items", NETPOL_MAX_ITEMS);
	/* An empty list of peers or ports means every one, as absent does. */
	if (seq->len == 0)
		return 0;
	*out = json_array();
	for (uint32_t i = 0; i < seq->len; i++) {
		char f[160];
		snprintf(f, sizeof(f), "%s[%u]", field, i);
		json_t *item = fn(c, seq->items[i], f);
		if (!item) {
			json_decref(*out);
			*out = NULL;
			return -1;
		}
		json_array_append_new(*out, item);
	}
	return 0;
}

static json_t *policy(struct pctx *c, const struct ynode *d)
{
	static const char *const top[] = { "apiVersion", "kind", "metadata", "spec", "status", NULL };
	if (check_keys(c, d, "(document)", top, NULL) < 0)
		return NULL;
	const char *api = scalar(ymap_get(d, "apiVersion"));
	if (!api || strcmp(api, "networking.k8s.io/v1") != 0) {
		bad(c, ymap_get(d, "apiVersion"), "apiVersion", "expected networking.k8s.io/v1");
		return NULL;
	}
	const struct ynode *md = ymap_get(d, "metadata");
	const char *name = scalar(ymap_get(md, "name"));
	size_t nl = name ? strlen(name) : 0;
	bool name_ok = nl > 0 && nl <= 63 && name[0] != '-' && name[nl - 1] != '-';
	for (size_t i = 0; name_ok && i < nl; i++)
		name_ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
			  name[i] == '-';
	if (!name_ok) {
		bad(c, ymap_get(md, "name") ?: md, "metadata.name", "expected a DNS label");
		return NULL;
	}
	const struct ynode *spec = ymap_get(d, "spec");
	static const char *const sk[] = { "podSelector", "ingress", "policyTypes", NULL };
	static const char *const sr[] = { "egress", NULL };
	if (check_keys(c, spec, "spec", sk, sr) < 0)
		return NULL;
	const struct ynode *types = ymap_get(spec, "policyTypes");
	if (types && types->type != YNODE_SEQ) {
		bad(c, types, "spec.policyTypes", "expected a list");
		return NULL;
	}
	for (uint32_t i = 0; types && i < types->len; i++) {
		const char *t = scalar(types->items[i]);
		if (t && strcmp(t, "Egress") == 0) {
			bad(c, types->items[i], "spec.policyTypes", "Egress is not supported: moat "
								    "enforces ingress rules");
			return NULL;
		}
		if (!t || strcmp(t, "Ingress") != 0) {
			bad(c, types->items[i], "spec.policyTypes", "expected Ingress");
			return NULL;
		}
	}
	const struct ynode *ps = ymap_get(spec, "podSelector");
	if (!ps) {
		bad(c, spec, "spec.podSelector", "required (use {} for every pod)");
		return NULL;
	}
	json_t *sel = selector(c, ps, "spec.podSelector");
	if (!sel)
		return NULL;
	json_t *out = json_pack("{s:s, s:o, s:[], s:s}", "name", name, "podSelector", sel, "ingress",
				"file", c->file);
	const struct ynode *ing = ymap_get(spec, "ingress");
	if (ing && !ynode_is_null(ing) && ing->type != YNODE_SEQ) {
		json_decref(out);
		bad(c, ing, "spec.ingress", "expected a list of rules");
		return NULL;
	}
	for (uint32_t i = 0; ing && ing->type == YNODE_SEQ && i < ing->len; i++) {
		char f[96];
		snprintf(f, sizeof(f), "spec.ingress[%u]", i);
		const struct ynode *r = ing->items[i];
		static const char *const rk[] = { "from", "ports", NULL };
		json_t *from = NULL, *ports = NULL;
		char ff[128], pf[128];
		snprintf(ff, sizeof(ff), "%s.from", f);
		snprintf(pf, sizeof(pf), "%s.ports", f);
		if ((!ynode_is_null(r) && check_keys(c, r, f, rk, NULL) < 0) ||
		    each(c, ymap_get(r, "from"), ff, "peers", peer, &from) < 0 ||
		    each(c, ymap_get(r, "ports"), pf, "ports", port, &ports) < 0) {
			json_decref(from);
			json_decref(out);
			return NULL;
		}
		json_array_append_new(json_object_get(out, "ingress"),
				      json_pack("{s:o?, s:o?}", "from", from, "ports", ports));
	}
	return out;
}

int netpolicy_parse(const char *file, const char *buf, size_t len, json_t **out,
		    struct moat_error *err)
{
	*out = NULL;
	struct yfile *yf = NULL;
	if (yaml_parse(file, buf, len, &yf, err) < 0) {
		yfile_free(yf);
		return -1;
	}
	struct pctx c = { .file = file, .err = err };
	json_t *all = json_array();
	int r = 0;
	for (size_t i = 0; i < yf->ndocs && r == 0; i++) {
		c.doc = yf->docs[i].root;
		if (!c.doc)
			continue;
		const char *kind = scalar(ymap_get(c.doc, "kind"));
		if (!kind || strcmp(kind, "NetworkPolicy") != 0) {
			r = bad(&c, ymap_get(c.doc, "kind"), "kind", "expected NetworkPolicy");
			break;
		}
		json_t *p = policy(&c, c.doc);
		if (!p) {
			r = -1;
			break;
		}
		size_t j;
		json_t *q;
		json_array_foreach(all, j, q) if (json_equal(json_object_get(q, "name"),
							     json_object_get(p, "name"))) r =
			bad(&c, ymap_get(ymap_get(c.doc, "metadata"), "name"), "metadata.name",
			    "a second policy named %s in this file",
			    json_string_value(json_object_get(p, "name")));
		json_array_append_new(all, p);
	}
	if (r == 0 && json_array_size(all) == 0) {
		c.doc = NULL;
		r = moat_error_set(err, EINVAL, "%s: no NetworkPolicy in this file", file);
	}
	yfile_free(yf);
	if (r < 0)
		json_decref(all);
	else
		*out = all;
	return r;
}

/* ---- from policies to BPF rules -------------------------------------------------- */

static bool labels_match(json_t *sel, json_t *labels)
{
	const char *k;
	json_t *v;
	json_object_foreach(sel, k, v) {
		json_t *have = json_object_get(labels, k);
		if (!have || !json_equal(have, v))
			return false;
	}
	return true;
}

struct rule_set {
	struct podnet_rule *v;
	int *block; /* which ipBlock an entry came from; -1 for pods and any */
	size_t n, cap;
};

static void add_rule(struct rule_set *s, struct podnet_rule r, int block)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
		s->block = xrealloc(s->block, s->cap * sizeof(*s->block));
	}
	s->block[s->n] = block;
	s->v[s->n++] = r;
}

static bool covers(const struct podnet_rule *outer, const struct podnet_rule *inner)
{
	if (outer->len > inner->len)
		return false;
	uint32_t mask = outer->len ? htonl(~0u << (32 - outer->len)) : 0;
	return (outer->src & mask) == (inner->src & mask);
}

static bool same_key(const struct podnet_rule *a, const struct podnet_rule *b)
{
	return a->pod == b->pod && a->protocol == b->protocol && a->port == b->port;
}

struct port_sel {
	uint8_t proto;
	uint16_t port;
};

/* The ports a rule opens on one pod: a named port is that pod's
 * containerPort by the name and protocol, or nothing. */
static size_t rule_ports(json_t *rule, json_t *pod, struct port_sel *out, size_t max)
{
	json_t *pl = json_object_get(rule, "ports");
	if (!json_is_array(pl)) {
		out[0] = (struct port_sel){ 0, 0 };
		return 1;
	}
	size_t n = 0, k, c;
	json_t *p, *cp;
	json_array_foreach(pl, k, p) {
		uint8_t proto = (uint8_t)json_integer_value(json_object_get(p, "protocol"));
		json_t *pv = json_object_get(p, "port");
		if (json_is_integer(pv)) {
			if (n < max)
				out[n++] = (struct port_sel){ proto, (uint16_t)json_integer_value(pv) };
			continue;
		}
		json_array_foreach(json_object_get(pod, "containerPorts"), c, cp) {
			json_int_t num = json_integer_value(json_object_get(cp, "port"));
			if (n < max && json_equal(json_object_get(cp, "name"), pv) &&
			    json_integer_value(json_object_get(cp, "protocol")) == proto)
				out[n++] = (struct port_sel){ proto, (uint16_t)num };
		}
	}
	return n;
}

/* The sources one peer allows, on one port: the matching pods' addresses,
 * or an ipBlock (its cidr, then its excepts, as one block). */
static void peer_sources(struct rule_set *s, json_t *peer, json_t *pods, size_t npods,
			 struct podnet_rule base, int *blocks)
{
	json_t *sel = json_object_get(peer, "pods");
	if (sel) {
		for (size_t q = 0; q < npods; q++) {
			json_t *other = json_array_get(pods, q);
			const char *ip = json_string_value(json_object_get(other, "ip"));
			struct in_addr oa;
			if (!labels_match(sel, json_object_get(other, "labels")) || !ip ||
			    inet_pton(AF_INET, ip, &oa) != 1)
				continue;
			struct podnet_rule r = base;
			r.src = oa.s_addr;
			r.len = 32;
			add_rule(s, r, -1);
		}
		return;
	}
	uint32_t a;
	unsigned len;
	if (cidr4(json_string_value(json_object_get(peer, "cidr")), &a, &len) < 0)
		return;
	int block = (*blocks)++;
	struct podnet_rule r = base;
	r.src = a;
	r.len = (uint8_t)len;
	add_rule(s, r, block);
	size_t xi;
	json_t *x;
	json_array_foreach(json_object_get(peer, "except"), xi, x) {
		if (cidr4(json_string_value(x), &a, &len) < 0)
			continue;
		r.src = a;
		r.len = (uint8_t)len;
		r.allow = false;
		add_rule(s, r, block);
	}
}

/* Does the block that starts at index j (its cidr) leave all of e allowed,
 * none of its excepts covering it?  A block's excepts follow its cidr. */
static bool block_allows_all(const struct rule_set *s, size_t j, const struct podnet_rule *e)
{
	for (size_t k = j + 1; k < s->n && s->block[k] == s->block[j]; k++)
		if (covers(&s->v[k], e))
			return false;
	return true;
}

int netpolicy_rules(json_t *policies, json_t *pods, struct podnet_rule **rules, size_t *nrules,
		    bool *isolated, size_t npods)
{
	struct rule_set s = { 0 };
	int blocks = 0;
	bool any_except = false;
	for (size_t i = 0; i < npods; i++) {
		json_t *pod = json_array_get(pods, i);
		const char *ip = json_string_value(json_object_get(pod, "ip"));
		struct in_addr me;
		if (!ip || inet_pton(AF_INET, ip, &me) != 1)
			continue;
		size_t pi, ri, fi;
		json_t *pol, *rule, *peer;
		json_array_foreach(policies, pi, pol) {
			if (!labels_match(json_object_get(pol, "podSelector"),
					  json_object_get(pod, "labels")))
				continue;
			isolated[i] = true;
			json_array_foreach(json_object_get(pol, "ingress"), ri, rule) {
				struct port_sel ports[NETPOL_MAX_ITEMS];
				size_t np = rule_ports(rule, pod, ports, ARRAY_SIZE(ports));
				json_t *from = json_object_get(rule, "from");
				for (size_t k = 0; k < np; k++) {
					struct podnet_rule base = { .pod = me.s_addr,
								    .protocol = ports[k].proto,
								    .port = ports[k].port,
								    .allow = true };
					if (!json_is_array(from))
						add_rule(&s, base, -1);
					json_array_foreach(from, fi, peer) {
						any_except |= json_array_size(json_object_get(peer, "except")) > 0;
						peer_sources(&s, peer, pods, npods, base, &blocks);
					}
					/* The maps hold so many; past that, refuse
					 * rather than enforce part. */
					if (s.n > PODNET_MAX_RULES_USER) {
						free(s.v);
						free(s.block);
						return -1;
					}
				}
			}
		}
	}
	/* An except denies only what its own block would have allowed: where
	 * another block or rule allows all of it, the except goes, so the union
	 * of the rules is what the longest-prefix match decides. */
	size_t out = 0;
	for (size_t i = 0; i < s.n; i++) {
		bool keep = true;
		for (size_t j = 0; any_except && !s.v[i].allow && keep && j < s.n; j++)
			if (s.v[j].allow && s.block[j] != s.block[i] && same_key(&s.v[i], &s.v[j]) &&
			    covers(&s.v[j], &s.v[i]))
				keep = s.block[j] >= 0 && !block_allows_all(&s, j, &s.v[i]);
		if (keep)
			s.v[out++] = s.v[i];
	}
	free(s.block);
	*rules = s.v;
	*nrules = out;
	return 0;
}
