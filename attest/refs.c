/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reference values (refs.yaml): what a verifier accepts.
 *
 *   pcrs:              quoted PCR values allowed, per bank and PCR
 *     sha256: {"0": [hex, ...]}
 *   events:            allowed digests per PCR and event type
 *     - {pcr: 4, type: EV_EFI_BOOT_SERVICES_APPLICATION, digests: ["sha256:hex"]}
 *   boot_components:   every EFI application the firmware started must be one
 *     - {name: shimx64.efi, digest: "sha256:hex"}
 *   ima:               the runtime allow-list
 *     allow: {/usr/bin/bash: ["sha256:hex"]}
 *     exclude: ["/tmp/..."]   (globs)
 *     unknown: contraindicated | warning
 *
 * Every section is optional; a section that is present is enforced.
 */
#include "attest_int.h"

#include <errno.h>

struct ref_digest {
	uint16_t alg;
	uint8_t d[ATTEST_MAX_DIGEST];
};

struct ref_pcr {
	uint16_t alg;
	uint32_t pcr, line;
	size_t n;
	uint8_t (*values)[ATTEST_MAX_DIGEST];
};

struct ref_event {
	uint32_t pcr, line;
	int64_t type; /* -1: any type */
	size_t n;
	struct ref_digest *digests;
};

struct ref_component {
	const char *name;
	struct ref_digest d;
};

struct ima_allow {
	const char *path; /* NULL: empty slot */
	uint32_t path_len;
	uint32_t n;
	struct ref_digest *digests;
};

struct attest_refs {
	char *name;
	struct arena *arena;
	struct ref_pcr *pcrs;
	size_t npcrs;
	struct ref_event *events;
	size_t nevents;
	bool has_boot;
	struct ref_component *boot;
	size_t nboot;
	bool has_ima;
	struct ima_allow *allow; /* open addressing, power-of-two size */
	size_t allow_cap, nallow;
	const char **exclude;
	size_t nexclude;
	enum attest_status ima_unknown;
};

#define MAX_DIGESTS_PER_ENTRY 4096

static int bad(const struct attest_refs *r, const struct ynode *n, const char *field,
	       struct moat_error *err, const char *fmt, ...) PRINTF(5, 6);
static int bad(const struct attest_refs *r, const struct ynode *n, const char *field,
	       struct moat_error *err, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return moat_error_at(err, EINVAL, r->name, n, "%s: %s", field, what);
}

static uint32_t path_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

static struct ima_allow *allow_slot(const struct attest_refs *r, const char *path, size_t n)
{
	if (!r->allow_cap)
		return NULL;
	size_t mask = r->allow_cap - 1;
	for (size_t i = path_hash(path, n) & mask;; i = (i + 1) & mask) {
		struct ima_allow *a = &r->allow[i];
		if (!a->path || (a->path_len == n && memcmp(a->path, path, n) == 0))
			return a;
	}
}

static void allow_grow(struct attest_refs *r)
{
	if ((r->nallow + 1) * 2 <= r->allow_cap)
		return;
	struct ima_allow *old = r->allow;
	size_t old_cap = r->allow_cap;
	r->allow_cap = old_cap ? old_cap * 2 : 64;
	r->allow = xcalloc(r->allow_cap, sizeof(*r->allow));
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].path)
			*allow_slot(r, old[i].path, old[i].path_len) = old[i];
	free(old);
}

/* "sha256:hex" */
static int parse_digest(const struct attest_refs *r, const struct ynode *n, const char *field,
			struct ref_digest *d, struct moat_error *err)
{
	if (!n || n->type != YNODE_SCALAR)
		return bad(r, n, field, err, "expected \"ALG:HEX\", found %s", ynode_type_name(n));
	const char *colon = strchr(n->str, ':');
	if (!colon)
		return bad(r, n, field, err, "expected \"ALG:HEX\" (sha1, sha256, sha384, sha512)");
	d->alg = attest_alg_from_name(n->str, (size_t)(colon - n->str));
	if (!d->alg)
		return bad(r, n, field, err, "unknown hash algorithm \"%.*s\"",
			   (int)(colon - n->str), n->str);
	size_t want = attest_alg_size(d->alg), got = strlen(colon + 1);
	if (got != 2 * want || hex_decode(colon + 1, got, d->d) < 0)
		return bad(r, n, field, err, "expected %zu hex digits after \"%.*s:\"", 2 * want,
			   (int)(colon - n->str), n->str);
	return 0;
}

/* A scalar or a list of them: the list's items, or NULL and a count of one
 * for a lone scalar (the caller uses the node itself). */
static const struct ynode *const *list_items(const struct ynode *n, uint32_t *count)
{
	if (n->type == YNODE_SEQ) {
		*count = n->len;
		return (const struct ynode *const *)n->items;
	}
	*count = 1;
	return NULL;
}

static int parse_pcrs(struct attest_refs *r, const struct ynode *n, struct moat_error *err)
{
	char field[64];
	if (n->type != YNODE_MAP)
		return bad(r, n, "pcrs", err, "expected a mapping of banks, found %s",
			   ynode_type_name(n));
	for (uint32_t i = 0; i < n->len; i++) {
		const struct ynode *k = n->pairs[i].key, *v = n->pairs[i].val;
		snprintf(field, sizeof(field), "pcrs.%.20s", k->str);
		uint16_t alg = k->type == YNODE_SCALAR ? attest_alg_from_name(k->str, k->len) : 0;
		if (!alg)
			return bad(r, k, field, err, "unknown hash algorithm");
		if (v->type != YNODE_MAP)
			return bad(r, v, field, err, "expected a mapping of PCR to values");
		for (uint32_t j = 0; j < v->len; j++) {
			const struct ynode *pk = v->pairs[j].key, *pv = v->pairs[j].val;
			long long idx;
			snprintf(field, sizeof(field), "pcrs.%.20s.%.8s", k->str,
				 pk->type == YNODE_SCALAR ? pk->str : "?");
			if (ynode_int(pk, &idx) < 0 || idx < 0 || idx >= ATTEST_NUM_PCRS)
				return bad(r, pk, field, err, "a PCR index is 0 to %d",
					   ATTEST_NUM_PCRS - 1);
			uint32_t count;
			const struct ynode *const *items = list_items(pv, &count);
			if (count > MAX_DIGESTS_PER_ENTRY)
				return bad(r, pv, field, err, "more than %d values",
					   MAX_DIGESTS_PER_ENTRY);
			r->pcrs = xrealloc(r->pcrs, (r->npcrs + 1) * sizeof(*r->pcrs));
			struct ref_pcr *p = &r->pcrs[r->npcrs++];
			*p = (struct ref_pcr){ .alg = alg, .pcr = (uint32_t)idx, .line = pk->line };
			p->values = arena_alloc(r->arena, count * sizeof(*p->values) + 1);
			for (uint32_t c = 0; c < count; c++) {
				const struct ynode *it = items ? items[c] : pv;
				size_t sz = attest_alg_size(alg);
				if (it->type != YNODE_SCALAR || strlen(it->str) != 2 * sz ||
				    hex_decode(it->str, 2 * sz, p->values[c]) < 0)
					return bad(r, it, field, err, "expected %zu hex digits", 2 * sz);
			}
			p->n = count;
		}
	}
	return 0;
}

static int parse_events(struct attest_refs *r, const struct ynode *n, struct moat_error *err)
{
	char field[64];
	if (n->type != YNODE_SEQ)
		return bad(r, n, "events", err, "expected a list, found %s", ynode_type_name(n));
	r->events = xcalloc(n->len + 1, sizeof(*r->events));
	for (uint32_t i = 0; i < n->len; i++) {
		const struct ynode *e = n->items[i];
		snprintf(field, sizeof(field), "events[%u]", i);
		if (e->type != YNODE_MAP)
			return bad(r, e, field, err, "expected a mapping with pcr, type and digests");
		for (uint32_t k = 0; k < e->len; k++) {
			const char *key = e->pairs[k].key->str;
			if (strcmp(key, "pcr") && strcmp(key, "type") && strcmp(key, "digests"))
				return bad(r, e->pairs[k].key, field, err, "unknown field \"%s\"", key);
		}
		struct ref_event *re = &r->events[r->nevents++];
		re->line = e->line;
		long long pcr;
		const struct ynode *v = ymap_get(e, "pcr");
		if (!v)
			return bad(r, e, field, err, "pcr is missing");
		if (ynode_int(v, &pcr) < 0 || pcr < 0 || pcr >= ATTEST_NUM_PCRS)
			return bad(r, v, field, err, "pcr: a PCR index is 0 to %d", ATTEST_NUM_PCRS - 1);
		re->pcr = (uint32_t)pcr;
		re->type = -1;
		if ((v = ymap_get(e, "type"))) {
			re->type = v->type == YNODE_SCALAR ? attest_event_type_from_name(v->str) : -1;
			if (re->type < 0)
				return bad(r, v, field, err, "type: unknown event type \"%s\"",
					   v->type == YNODE_SCALAR ? v->str : "?");
		}
		v = ymap_get(e, "digests");
		if (!v)
			return bad(r, e, field, err, "digests is missing");
		uint32_t count;
		const struct ynode *const *items = list_items(v, &count);
		if (count > MAX_DIGESTS_PER_ENTRY)
			return bad(r, v, field, err, "more than %d digests", MAX_DIGESTS_PER_ENTRY);
		re->digests = arena_alloc(r->arena, (count + 1) * sizeof(*re->digests));
		for (uint32_t c = 0; c < count; c++)
			if (parse_digest(r, items ? items[c] : v, field, &re->digests[c], err) < 0)
				return -1;
		re->n = count;
	}
	return 0;
}

static int parse_boot(struct attest_refs *r, const struct ynode *n, struct moat_error *err)
{
	char field[64];
	if (n->type != YNODE_SEQ)
		return bad(r, n, "boot_components", err, "expected a list, found %s",
			   ynode_type_name(n));
	r->has_boot = true;
	r->boot = xcalloc(n->len + 1, sizeof(*r->boot));
	for (uint32_t i = 0; i < n->len; i++) {
		const struct ynode *c = n->items[i];
		snprintf(field, sizeof(field), "boot_components[%u]", i);
		if (c->type != YNODE_MAP)
			return bad(r, c, field, err, "expected a mapping with name and digest");
		const struct ynode *name = ymap_get(c, "name"), *d = ymap_get(c, "digest");
		if (!d)
			return bad(r, c, field, err, "digest is missing");
		struct ref_component *rc = &r->boot[r->nboot++];
		rc->name = name && name->type == YNODE_SCALAR ? name->str : "(unnamed)";
		if (parse_digest(r, d, field, &rc->d, err) < 0)
			return -1;
	}
	return 0;
}

static int parse_ima(struct attest_refs *r, const struct ynode *n, struct moat_error *err)
{
	char field[64];
	if (n->type != YNODE_MAP)
		return bad(r, n, "ima", err, "expected a mapping, found %s", ynode_type_name(n));
	r->has_ima = true;
	r->ima_unknown = ATTEST_CONTRAINDICATED;
	for (uint32_t k = 0; k < n->len; k++) {
		const char *key = n->pairs[k].key->str;
		if (strcmp(key, "allow") && strcmp(key, "exclude") && strcmp(key, "unknown"))
			return bad(r, n->pairs[k].key, "ima", err, "unknown field \"%s\"", key);
	}
	const struct ynode *v = ymap_get(n, "unknown");
	if (v) {
		if (yscalar_is(v, "warning"))
			r->ima_unknown = ATTEST_WARNING;
		else if (!yscalar_is(v, "contraindicated"))
			return bad(r, v, "ima.unknown", err, "expected contraindicated or warning");
	}
	if ((v = ymap_get(n, "exclude"))) {
		if (v->type != YNODE_SEQ)
			return bad(r, v, "ima.exclude", err, "expected a list of path globs");
		r->exclude = arena_alloc(r->arena, (v->len + 1) * sizeof(*r->exclude));
		for (uint32_t i = 0; i < v->len; i++) {
			if (v->items[i]->type != YNODE_SCALAR)
				return bad(r, v->items[i], "ima.exclude", err, "expected a path glob");
			r->exclude[r->nexclude++] = v->items[i]->str;
		}
	}
	if ((v = ymap_get(n, "allow"))) {
		if (v->type != YNODE_MAP)
			return bad(r, v, "ima.allow", err, "expected a mapping of path to digests");
		for (uint32_t i = 0; i < v->len; i++) {
			const struct ynode *pk = v->pairs[i].key, *pv = v->pairs[i].val;
			if (pk->type != YNODE_SCALAR)
				return bad(r, pk, "ima.allow", err, "expected a path");
			snprintf(field, sizeof(field), "ima.allow.%.40s", pk->str);
			allow_grow(r);
			struct ima_allow *a = allow_slot(r, pk->str, pk->len);
			if (a->path)
				return bad(r, pk, field, err, "listed twice");
			uint32_t count;
			const struct ynode *const *items = list_items(pv, &count);
			if (count > MAX_DIGESTS_PER_ENTRY)
				return bad(r, pv, field, err, "more than %d digests",
					   MAX_DIGESTS_PER_ENTRY);
			a->path = pk->str;
			a->path_len = pk->len;
			a->n = count;
			a->digests = arena_alloc(r->arena, (count + 1) * sizeof(*a->digests));
			r->nallow++;
			for (uint32_t c = 0; c < count; c++)
				if (parse_digest(r, items ? items[c] : pv, field, &a->digests[c], err) < 0)
					return -1;
		}
	}
	return 0;
}

int attest_refs_parse(const char *yaml, size_t len, const char *name, struct attest_refs **out,
		      struct moat_error *err)
{
	*out = NULL;
	struct yfile *f = NULL;
	if (yaml_parse(name, yaml, len, &f, err) < 0) {
		yfile_free(f);
		return -1;
	}
	struct attest_refs *r = xcalloc(1, sizeof(*r));
	r->name = xstrdup(name);
	r->arena = f->arena; /* the tree's strings are kept: paths, names, globs */
	f->arena = NULL;
	int rc = 0;
	const struct ynode *root = f->ndocs ? f->docs[0].root : NULL;
	if (f->ndocs > 1) {
		rc = moat_error_set(err, EINVAL, "%s:%u:1: one document expected, found %zu", name,
				    f->docs[1].line, f->ndocs);
	} else if (!root || root->type != YNODE_MAP) {
		rc = bad(r, root, "refs", err, "expected a mapping with pcrs, events, "
			 "boot_components or ima");
	} else {
		for (uint32_t k = 0; k < root->len && rc == 0; k++) {
			const struct ynode *key = root->pairs[k].key, *v = root->pairs[k].val;
			if (yscalar_is(key, "pcrs"))
				rc = parse_pcrs(r, v, err);
			else if (yscalar_is(key, "events"))
				rc = parse_events(r, v, err);
			else if (yscalar_is(key, "boot_components"))
				rc = parse_boot(r, v, err);
			else if (yscalar_is(key, "ima"))
				rc = parse_ima(r, v, err);
			else
				rc = bad(r, key, "refs", err, "unknown section \"%s\" (pcrs, events, "
					 "boot_components, ima)", key->type == YNODE_SCALAR ? key->str : "?");
		}
	}
	yfile_free(f);
	if (rc < 0) {
		attest_refs_free(r);
		return -1;
	}
	*out = r;
	return 0;
}

int attest_refs_load(const char *path, struct attest_refs **refs, struct moat_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (read_file(path, MOAT_MAX_INPUT, &buf, &len, err) < 0)
		return -1;
	return attest_refs_parse(buf, len, path, refs, err);
}

void attest_refs_free(struct attest_refs *r)
{
	if (!r)
		return;
	arena_free(r->arena);
	free(r->pcrs);
	free(r->events);
	free(r->boot);
	free(r->allow);
	free(r->name);
	free(r);
}

/* ---- appraisal ------------------------------------------------------------ */

static bool digest_in(const struct attest_event *ev, const struct ref_digest *list, size_t n,
		      bool *comparable)
{
	for (size_t i = 0; i < n; i++)
		for (uint32_t d = 0; d < ev->ndigests; d++) {
			if (ev->digests[d].alg != list[i].alg)
				continue;
			*comparable = true;
			if (memcmp(ev->digests[d].d, list[i].d, ev->digests[d].size) == 0)
				return true;
		}
	return false;
}

static void describe_event(char *buf, size_t n, const struct attest_event *ev)
{
	const char *t = attest_event_type_name(ev->type);
	char hex[2 * ATTEST_MAX_DIGEST + 1] = "";
	const char *alg = "";
	/* The strongest digest the event carries. */
	for (uint32_t d = 0; d < ev->ndigests; d++)
		if (!*hex || ev->digests[d].size > strlen(hex) / 2) {
			hex_encode(ev->digests[d].d, ev->digests[d].size, hex);
			alg = attest_alg_name(ev->digests[d].alg);
		}
	char type[16];
	snprintf(type, sizeof(type), "0x%08x", ev->type);
	snprintf(buf, n, "event %u (offset %zu, PCR %u, %s, %s:%s)", ev->index, ev->offset, ev->pcr,
		 t ? t : type, alg ? alg : "?", hex);
}

/* " (and N more)" after the first failure's description. */
static const char *and_more(char *buf, size_t n)
{
	buf[0] = '\0';
	if (n > 1)
		snprintf(buf, 48, " (and %zu more)", n - 1);
	return buf;
}

static void appraise_pcrs(const struct attest_refs *r, const struct appraise_input *in,
			  struct attest_result *res)
{
	char more[48];
	size_t bad_count = 0;
	char first[400] = "";
	for (size_t i = 0; i < r->npcrs; i++) {
		const struct ref_pcr *p = &r->pcrs[i];
		struct attest_pcr_bank *b = attest_pcrs_bank((struct attest_pcrs *)in->quoted, p->alg);
		if (!b || !(b->set & (1u << p->pcr))) {
			if (!bad_count++)
				snprintf(first, sizeof(first),
					 "PCR %u (%s) has reference values (%s line %u) but was not quoted",
					 p->pcr, attest_alg_name(p->alg), r->name, p->line);
			continue;
		}
		bool ok = false;
		for (size_t v = 0; v < p->n && !ok; v++)
			ok = memcmp(b->pcr[p->pcr], p->values[v], b->size) == 0;
		if (!ok && !bad_count++) {
			char hex[2 * ATTEST_MAX_DIGEST + 1];
			hex_encode(b->pcr[p->pcr], b->size, hex);
			snprintf(first, sizeof(first),
				 "PCR %u (%s) is %s, not a reference value (%s line %u)", p->pcr,
				 attest_alg_name(p->alg), hex, r->name, p->line);
		}
	}
	if (!r->npcrs)
		return;
	if (bad_count)
		result_add(res, "pcr-values", ATTEST_CONTRAINDICATED, "%s%s", first,
			   and_more(more, bad_count));
	else
		result_add(res, "pcr-values", ATTEST_AFFIRMING, "%zu PCR values match", r->npcrs);
}

static void set_bad_event(struct attest_result *res, const struct attest_event *ev)
{
	if (res->bad_event < 0) {
		res->bad_event = ev->index;
		res->bad_event_offset = ev->offset;
	}
}

static void appraise_events(const struct attest_refs *r, const struct appraise_input *in,
			    struct attest_result *res)
{
	char more[48];
	if (!r->nevents && !r->has_boot)
		return;
	if (!in->log) {
		result_add(res, "boot-events", ATTEST_CONTRAINDICATED,
			   "the reference values constrain boot events, and no event log was sent");
		return;
	}
	size_t bad_events = 0, bad_boot = 0, checked = 0, boot_seen = 0;
	char first[512] = "", first_boot[512] = "", what[300];
	for (size_t i = 0; i < in->log->nevents; i++) {
		const struct attest_event *ev = &in->log->events[i];
		if (ev->type == EV_NO_ACTION)
			continue;
		bool matched = false, ok = false, comparable = false;
		for (size_t k = 0; k < r->nevents && !ok; k++) {
			const struct ref_event *re = &r->events[k];
			if (re->pcr != ev->pcr || (re->type >= 0 && (uint32_t)re->type != ev->type))
				continue;
			matched = true;
			ok = digest_in(ev, re->digests, re->n, &comparable);
		}
		if (matched) {
			checked++;
			if (!ok && !bad_events++) {
				describe_event(what, sizeof(what), ev);
				snprintf(first, sizeof(first), "%s: %s", what,
					 comparable ? "digest is not a reference value"
						    : "carries no digest in the reference banks");
				set_bad_event(res, ev);
			}
		}
		if (r->has_boot && ev->type == EV_EFI_BOOT_SERVICES_APPLICATION) {
			boot_seen++;
			bool found = false, comp = false;
			for (size_t c = 0; c < r->nboot && !found; c++)
				found = digest_in(ev, &r->boot[c].d, 1, &comp);
			if (!found && !bad_boot++) {
				describe_event(what, sizeof(what), ev);
				snprintf(first_boot, sizeof(first_boot),
					 "%s: not an allowed boot component", what);
				set_bad_event(res, ev);
			}
		}
	}
	if (r->nevents) {
		if (bad_events)
			result_add(res, "boot-events", ATTEST_CONTRAINDICATED, "%s%s", first,
				   and_more(more, bad_events));
		else
			result_add(res, "boot-events", ATTEST_AFFIRMING,
				   "%zu events match the reference digests", checked);
	}
	if (r->has_boot) {
		if (bad_boot)
			result_add(res, "boot-components", ATTEST_CONTRAINDICATED, "%s%s", first_boot,
				   and_more(more, bad_boot));
		else
			result_add(res, "boot-components", ATTEST_AFFIRMING,
				   "%zu boot applications are allowed components", boot_seen);
	}
}

static bool excluded(const struct attest_refs *r, const char *path)
{
	for (size_t i = 0; i < r->nexclude; i++)
		if (glob_match(r->exclude[i], path))
			return true;
	return false;
}

static void appraise_ima(const struct attest_refs *r, const struct appraise_input *in,
			 struct attest_result *res)
{
	char more[48];
	if (!r->has_ima)
		return;
	if (!in->ima) {
		result_add(res, "ima-allowlist", ATTEST_CONTRAINDICATED,
			   "the reference values hold an IMA allow-list, and no IMA list was sent");
		return;
	}
	size_t wrong = 0, unknown = 0, checked = 0, skipped = 0;
	char first_wrong[4400] = "", first_unknown[4400] = "";
	char path[4096];
	for (size_t i = 0; i < in->ima->nentries; i++) {
		const struct attest_ima_entry *e = &in->ima->entries[i];
		if (e->violation || !e->path)
			continue;
		size_t plen = e->path_len < sizeof(path) ? e->path_len : sizeof(path) - 1;
		memcpy(path, e->path, plen);
		path[plen] = '\0';
		if (r->nexclude && excluded(r, path)) {
			skipped++;
			continue;
		}
		checked++;
		const struct ima_allow *a = allow_slot(r, e->path, e->path_len);
		if (!a || !a->path) {
			if (!unknown++) {
				snprintf(first_unknown, sizeof(first_unknown),
					 "entry %u (%s%u): %s is not in the allow-list", e->index,
					 e->line ? "line " : "offset ", e->line ? e->line : (uint32_t)e->offset,
					 path);
				if (r->ima_unknown == ATTEST_CONTRAINDICATED && res->bad_ima < 0) {
					res->bad_ima = e->index;
					res->bad_ima_offset = e->offset;
					res->bad_ima_line = e->line;
				}
			}
			continue;
		}
		bool ok = false;
		for (uint32_t d = 0; d < a->n && !ok; d++)
			ok = a->digests[d].alg == e->file_alg &&
			     e->file_digest_len == attest_alg_size(e->file_alg) &&
			     memcmp(a->digests[d].d, e->file_digest, e->file_digest_len) == 0;
		if (!ok && !wrong++) {
			char hex[2 * ATTEST_MAX_DIGEST + 1] = "";
			if (e->file_digest_len <= ATTEST_MAX_DIGEST)
				hex_encode(e->file_digest, e->file_digest_len, hex);
			const char *alg = attest_alg_name(e->file_alg);
			snprintf(first_wrong, sizeof(first_wrong),
				 "entry %u (%s%u): %s has digest %s:%s, not an allowed one", e->index,
				 e->line ? "line " : "offset ", e->line ? e->line : (uint32_t)e->offset,
				 path, alg ? alg : "?", hex);
			if (res->bad_ima < 0) {
				res->bad_ima = e->index;
				res->bad_ima_offset = e->offset;
				res->bad_ima_line = e->line;
			}
		}
	}
	if (wrong)
		result_add(res, "ima-allowlist", ATTEST_CONTRAINDICATED, "%s%s", first_wrong,
			   and_more(more, wrong));
	if (unknown)
		result_add(res, "ima-allowlist", r->ima_unknown, "%s%s", first_unknown,
			   and_more(more, unknown));
	if (!wrong && !unknown)
		result_add(res, "ima-allowlist", ATTEST_AFFIRMING,
			   "%zu files are in the allow-list (%zu excluded)", checked, skipped);
}

void refs_appraise(const struct attest_refs *r, const struct appraise_input *in,
		   struct attest_result *res)
{
	free(res->policy);
	res->policy = xasprintf("moat:refs:%s", r->name);
	appraise_pcrs(r, in, res);
	appraise_events(r, in, res);
	appraise_ima(r, in, res);
}

/* ---- generation: `moat attest refs` ---------------------------------------- */

/* The strongest bank an event carries: the one reference values use. */
static const struct attest_digest *best_digest(const struct attest_event *ev)
{
	const struct attest_digest *best = NULL;
	for (uint32_t d = 0; d < ev->ndigests; d++)
		if (!best || ev->digests[d].size > best->size)
			best = &ev->digests[d];
	return best;
}

static bool same_digest(const struct ref_digest *a, const struct ref_digest *b)
{
	return a->alg == b->alg && memcmp(a->d, b->d, attest_alg_size(a->alg)) == 0;
}

static void add_unique(struct arena *arena, struct ref_digest **list, uint32_t *n, uint32_t *cap,
		       const struct ref_digest *d)
{
	for (uint32_t i = 0; i < *n; i++)
		if (same_digest(&(*list)[i], d))
			return;
	if (*n == *cap) {
		uint32_t ncap = *cap ? *cap * 2 : 2;
		struct ref_digest *bigger = arena_alloc(arena, ncap * sizeof(*bigger));
		if (*n)
			memcpy(bigger, *list, *n * sizeof(*bigger));
		*list = bigger;
		*cap = ncap;
	}
	(*list)[(*n)++] = *d;
}

struct gen_event {
	uint32_t pcr, type, n, cap;
	struct ref_digest *digests;
};

static void gen_from_log(struct attest_refs *r, const struct attest_eventlog *log,
			 struct gen_event **evs, size_t *nevs)
{
	for (size_t i = 0; i < log->nevents; i++) {
		const struct attest_event *ev = &log->events[i];
		const struct attest_digest *bd = best_digest(ev);
		if (ev->type == EV_NO_ACTION || !bd)
			continue;
		struct ref_digest d = { .alg = bd->alg };
		memcpy(d.d, bd->d, bd->size);
		size_t k = 0;
		while (k < *nevs && ((*evs)[k].pcr != ev->pcr || (*evs)[k].type != ev->type))
			k++;
		if (k == *nevs) {
			*evs = xrealloc(*evs, (*nevs + 1) * sizeof(**evs));
			(*evs)[(*nevs)++] = (struct gen_event){ .pcr = ev->pcr, .type = ev->type };
		}
		add_unique(r->arena, &(*evs)[k].digests, &(*evs)[k].n, &(*evs)[k].cap, &d);
		if (ev->type == EV_EFI_BOOT_SERVICES_APPLICATION) {
			bool have = false;
			for (size_t c = 0; c < r->nboot && !have; c++)
				have = same_digest(&r->boot[c].d, &d);
			if (!have) {
				r->boot = xrealloc(r->boot, (r->nboot + 1) * sizeof(*r->boot));
				char name[64];
				snprintf(name, sizeof(name), "PCR %u event %u", ev->pcr, ev->index);
				r->boot[r->nboot++] = (struct ref_component){
					.name = arena_strndup(r->arena, name, strlen(name)), .d = d
				};
			}
		}
	}
}

static void gen_from_ima(struct attest_refs *r, const struct attest_ima_list *ima)
{
	for (size_t i = 0; i < ima->nentries; i++) {
		const struct attest_ima_entry *e = &ima->entries[i];
		if (e->violation || !e->path || !e->file_alg ||
		    e->file_digest_len != attest_alg_size(e->file_alg))
			continue;
		allow_grow(r);
		struct ima_allow *a = allow_slot(r, e->path, e->path_len);
		if (!a->path) {
			a->path = arena_strndup(r->arena, e->path, e->path_len);
			a->path_len = e->path_len;
			r->nallow++;
		}
		struct ref_digest d = { .alg = e->file_alg };
		memcpy(d.d, e->file_digest, e->file_digest_len);
		/* Capacity equal to the count: a new digest copies the list to
		 * a bigger arena array.  Most files have one. */
		uint32_t cap = a->n;
		add_unique(r->arena, &a->digests, &a->n, &cap, &d);
	}
}

static void put_yaml_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void put_digest(FILE *out, const struct ref_digest *d)
{
	char hex[2 * ATTEST_MAX_DIGEST + 1];
	hex_encode(d->d, attest_alg_size(d->alg), hex);
	fprintf(out, "\"%s:%s\"", attest_alg_name(d->alg), hex);
}

static int cmp_allow(const void *a, const void *b)
{
	const struct ima_allow *x = *(const struct ima_allow *const *)a;
	const struct ima_allow *y = *(const struct ima_allow *const *)b;
	return strcmp(x->path, y->path);
}

static int cmp_pcr_vals(const void *a, const void *b)
{
	const struct gen_event *x = a, *y = b;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	return x->pcr < y->pcr ? -1 : x->pcr > y->pcr;
}

int attest_refs_generate(FILE *out, struct attest_evidence *const *ev, size_t n,
			 struct moat_error *err)
{
	struct attest_refs r = { .name = (char *)"refs", .arena = arena_new() };
	/* PCR values as events of a pseudo-type: one list of values each. */
	struct gen_event *pcr_vals = NULL, *evs = NULL;
	size_t npcr_vals = 0, nevs = 0;
	bool any_log = false, any_ima = false;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		/* PCR values: all but PCR 10, which IMA moves on every new file;
		 * the allow-list appraises that instead. */
		/* Only what the quote covers: verify ignores the rest. */
		struct attest_quote q;
		if (attest_quote_parse(ev[i]->quote, ev[i]->quote_len, &q, err) < 0) {
			moat_error_wrap(err, "quote.attest");
			rc = -1;
			break;
		}
		for (size_t b = 0; b < ev[i]->pcrs.nbanks; b++) {
			const struct attest_pcr_bank *src = &ev[i]->pcrs.bank[b];
			uint32_t quoted = 0;
			for (uint32_t k = 0; k < q.nsel; k++)
				if (q.sel[k].alg == src->alg)
					quoted |= q.sel[k].mask;
			for (uint32_t p = 0; p < ATTEST_NUM_PCRS; p++) {
				if (!(src->set & quoted & (1u << p)) || p == 10)
					continue;
				size_t k = 0;
				while (k < npcr_vals &&
				       (pcr_vals[k].type != src->alg || pcr_vals[k].pcr != p))
					k++;
				if (k == npcr_vals) {
					pcr_vals = xrealloc(pcr_vals, (k + 1) * sizeof(*pcr_vals));
					pcr_vals[npcr_vals++] =
						(struct gen_event){ .pcr = p, .type = src->alg };
				}
				struct ref_digest d = { .alg = src->alg };
				memcpy(d.d, src->pcr[p], src->size);
				add_unique(r.arena, &pcr_vals[k].digests, &pcr_vals[k].n,
					   &pcr_vals[k].cap, &d);
			}
		}
		if (ev[i]->eventlog) {
			struct attest_eventlog log;
			if (attest_eventlog_parse(ev[i]->eventlog, ev[i]->eventlog_len, "eventlog",
						  &log, err) < 0) {
				rc = -1;
				break;
			}
			any_log = true;
			gen_from_log(&r, &log, &evs, &nevs);
			attest_eventlog_free(&log);
		}
		if (ev[i]->ima) {
			struct attest_ima_list ima;
			if (attest_ima_parse(ev[i]->ima, ev[i]->ima_len, "ima", &ima, err) < 0) {
				rc = -1;
				break;
			}
			any_ima = true;
			gen_from_ima(&r, &ima);
			attest_ima_free(&ima);
		}
	}
	if (rc == 0) {
		char hex[2 * ATTEST_MAX_DIGEST + 1];
		fprintf(out, "# Reference values for moat attest verify --refs, made by moat %s\n"
			     "# from %zu piece%s of evidence.  Review before use: whatever the\n"
			     "# evidence held is allowed from now on.\n",
			MOAT_VERSION, n, n == 1 ? "" : "s");
		if (npcr_vals)
			qsort(pcr_vals, npcr_vals, sizeof(*pcr_vals), cmp_pcr_vals);
		fputs("pcrs:", out);
		fputs(npcr_vals ? "\n" : " {}\n", out);
		uint16_t last_alg = 0;
		for (size_t k = 0; k < npcr_vals; k++) {
			if (pcr_vals[k].type != last_alg)
				fprintf(out, "  %s:\n", attest_alg_name((uint16_t)pcr_vals[k].type));
			last_alg = (uint16_t)pcr_vals[k].type;
			fprintf(out, "    %u: [", pcr_vals[k].pcr);
			for (uint32_t d = 0; d < pcr_vals[k].n; d++) {
				hex_encode(pcr_vals[k].digests[d].d, attest_alg_size(last_alg), hex);
				fprintf(out, "%s\"%s\"", d ? ", " : "", hex);
			}
			fputs("]\n", out);
		}
		if (any_log) {
			fputs("events:\n", out);
			for (size_t k = 0; k < nevs; k++) {
				const char *t = attest_event_type_name(evs[k].type);
				fprintf(out, "  - pcr: %u\n", evs[k].pcr);
				if (t)
					fprintf(out, "    type: %s\n", t);
				else
					fprintf(out, "    type: 0x%08x\n", evs[k].type);
				fputs("    digests:\n", out);
				for (uint32_t d = 0; d < evs[k].n; d++) {
					fputs("      - ", out);
					put_digest(out, &evs[k].digests[d]);
					fputc('\n', out);
				}
			}
			fputs("boot_components:", out);
			fputs(r.nboot ? "\n" : " []\n", out);
			for (size_t c = 0; c < r.nboot; c++) {
				fputs("  - name: ", out);
				put_yaml_string(out, r.boot[c].name);
				fputs("\n    digest: ", out);
				put_digest(out, &r.boot[c].d);
				fputc('\n', out);
			}
		}
		if (any_ima) {
			fputs("ima:\n  unknown: contraindicated\n  exclude: []\n  allow:", out);
			struct ima_allow **sorted = xcalloc(r.nallow + 1, sizeof(*sorted));
			size_t ns = 0;
			for (size_t i = 0; i < r.allow_cap; i++)
				if (r.allow[i].path)
					sorted[ns++] = &r.allow[i];
			qsort(sorted, ns, sizeof(*sorted), cmp_allow);
			fputs(ns ? "\n" : " {}\n", out);
			for (size_t i = 0; i < ns; i++) {
				fputs("    ", out);
				put_yaml_string(out, sorted[i]->path);
				fputs(": [", out);
				for (uint32_t d = 0; d < sorted[i]->n; d++) {
					if (d)
						fputs(", ", out);
					put_digest(out, &sorted[i]->digests[d]);
				}
				fputs("]\n", out);
			}
			free(sorted);
		}
		if (ferror(out))
			rc = moat_error_sys(err, EIO, "writing the reference values");
	}
	free(evs);
	free(pcr_vals);
	free(r.boot);
	free(r.allow);
	arena_free(r.arena);
	return rc;
}
