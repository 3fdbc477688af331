/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading controls and component descriptions: the YAML moat embeds at build
 * time, then a user's --checks-dir.  Every key is checked against the format
 * (docs/bench-checks.md), so a typo in a control is an error with its line,
 * not a control that silently passes.
 */
#include "bench.h"

#include <errno.h>

/* The controls moat carries, turned into C at build time by bench/gen-defs
 * from bench/components.yaml and bench/<benchmark>/ *.yaml.  The generator
 * links without them and defines its own, empty. */
extern const struct bench_defs bench_builtin;

struct loader {
	struct bench_defs *d;
	const char *file;
	struct moat_error *err;
};

static int bad(struct loader *l, const struct ynode *at, const char *fmt, ...) PRINTF(3, 4);
static int bad(struct loader *l, const struct ynode *at, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return moat_error_at(l->err, EBADMSG, l->file, at, "%s", msg);
}

static const char *dup_node(struct loader *l, const struct ynode *n)
{
	return arena_strndup(l->d->arena, n->str, n->len);
}

/* A scalar string; numbers and booleans are kept as written ("600", "2.1"). */
static int get_str(struct loader *l, const struct ynode *map, const char *key, bool required,
		   const char **out)
{
	const struct ypair *p = ymap_find(map, key);
	if (!p || ynode_is_null(p->val)) {
		if (required)
			return bad(l, map, "missing required key '%s'", key);
		return 0;
	}
	if (p->val->type != YNODE_SCALAR)
		return bad(l, p->val, "%s: expected a string, got %s", key,
			   ynode_type_name(p->val));
	if (p->val->len > 4096)
		return bad(l, p->val, "%s: longer than 4096 bytes", key);
	*out = dup_node(l, p->val);
	return 0;
}

static int get_bool(struct loader *l, const struct ynode *map, const char *key, bool *out)
{
	const struct ypair *p = ymap_find(map, key);
	if (!p)
		return 0;
	if (ynode_bool(p->val, out) < 0)
		return bad(l, p->val, "%s: expected true or false", key);
	return 0;
}

/* A string or a list of strings. */
static int get_list(struct loader *l, const struct ynode *map, const char *key,
		    const char ***out, size_t *n)
{
	const struct ypair *p = ymap_find(map, key);
	*out = NULL;
	*n = 0;
	if (!p || ynode_is_null(p->val))
		return 0;
	const struct ynode *v = p->val;
	size_t count = v->type == YNODE_SEQ ? v->len : 1;
	if (count > 1024)
		return bad(l, v, "%s: more than 1024 entries", key);
	const char **items = arena_alloc(l->d->arena, (count + 1) * sizeof(*items));
	for (size_t i = 0; i < count; i++) {
		const struct ynode *it = v->type == YNODE_SEQ ? v->items[i] : v;
		if (it->type != YNODE_SCALAR)
			return bad(l, it, "%s: expected a string or a list of strings", key);
		items[i] = dup_node(l, it);
	}
	items[count] = NULL;
	*out = items;
	*n = count;
	return 0;
}

static int only_keys(struct loader *l, const struct ynode *map, const char *what,
		     const char *const *allowed)
{
	if (!map || map->type != YNODE_MAP)
		return bad(l, map, "%s: expected a mapping, got %s", what,
			   map ? ynode_type_name(map) : "nothing");
	for (uint32_t i = 0; i < map->len; i++) {
		const struct ynode *k = map->pairs[i].key;
		bool ok = false;
		for (size_t j = 0; allowed[j] && !ok; j++)
			ok = yscalar_is(k, allowed[j]);
		if (!ok) {
			char list[512] = "";
			for (size_t j = 0; allowed[j]; j++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
					 j ? ", " : "", allowed[j]);
			return bad(l, k, "unknown key '%s' in %s (expected one of: %s)",
				   k->type == YNODE_SCALAR ? k->str : "?", what, list);
		}
	}
	return 0;
}

static int parse_setting_name(struct loader *l, const struct ynode *at, const char *s,
			      struct bench_cond *c)
{
	const char *dot = strchr(s, '.');
	if (!dot || dot == s || !dot[1])
		return bad(l, at, "setting '%s': expected <component>.<flag>, "
				  "e.g. kubelet.anonymous-auth", s);
	c->component = arena_strndup(l->d->arena, s, (size_t)(dot - s));
	c->flag = arena_strndup(l->d->arena, dot + 1, strlen(dot + 1));
	return 0;
}

static int parse_cond(struct loader *l, const struct ynode *n, struct bench_cond *c, int depth)
{
	static const char *const keys[] = { "all", "any", "setting", "gate", "eq", "noteq",
					    "has", "nothas", "gte", "lte", "set", "matches",
					    "valid", "unset", NULL };
	static const struct {
		const char *key;
		enum bench_op op;
	} ops[] = { { "eq", OP_EQ },	 { "noteq", OP_NOTEQ }, { "has", OP_HAS },
		    { "nothas", OP_NOTHAS }, { "gte", OP_GTE },	  { "lte", OP_LTE },
		    { "set", OP_SET },	 { "matches", OP_MATCHES }, { "valid", OP_VALID } };
	if (depth > 8)
		return bad(l, n, "test: nested more than 8 levels");
	if (only_keys(l, n, "a test", keys) < 0)
		return -1;
	memset(c, 0, sizeof(*c));
	c->unset = -1;
	const struct ypair *all = ymap_find(n, "all"), *any = ymap_find(n, "any");
	if (all || any) {
		const struct ypair *p = all ? all : any;
		if ((all && any) || n->len != 1)
			return bad(l, n, "test: 'all' or 'any' stands alone in its mapping");
		if (p->val->type != YNODE_SEQ || p->val->len == 0)
			return bad(l, p->val, "%s: expected a non-empty list of tests",
				   all ? "all" : "any");
		c->op = all ? OP_ALL : OP_ANY;
		c->nkids = p->val->len;
		c->kids = arena_alloc(l->d->arena, c->nkids * sizeof(*c->kids));
		for (size_t i = 0; i < c->nkids; i++)
			if (parse_cond(l, p->val->items[i], &c->kids[i], depth + 1) < 0)
				return -1;
		return 0;
	}
	const char *setting = NULL, *unset = NULL;
	if (get_str(l, n, "setting", true, &setting) < 0 ||
	    parse_setting_name(l, ymap_get(n, "setting"), setting, c) < 0 ||
	    get_str(l, n, "gate", false, &c->gate) < 0 || get_str(l, n, "unset", false, &unset) < 0)
		return -1;
	if (unset) {
		if (strcmp(unset, "pass") && strcmp(unset, "fail"))
			return bad(l, ymap_get(n, "unset"), "unset: expected pass or fail");
		c->unset = strcmp(unset, "pass") == 0;
	}
	int found = 0;
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
		const struct ypair *p = ymap_find(n, ops[i].key);
		if (!p)
			continue;
		if (found++)
			return bad(l, p->key, "a test takes exactly one operator");
		c->op = ops[i].op;
		if (c->op == OP_VALID) {
			if (get_list(l, n, "valid", &c->values, &c->nvalues) < 0)
				return -1;
			if (!c->nvalues)
				return bad(l, p->val, "valid: expected a list of values");
		} else if (get_str(l, n, ops[i].key, true, &c->value) < 0) {
			return -1;
		}
		if (c->op == OP_SET) {
			bool b;
			if (ynode_bool(p->val, &b) < 0)
				return bad(l, p->val, "set: expected true or false");
			c->value = b ? "true" : "false";
		}
		if (c->op == OP_GTE || c->op == OP_LTE) {
			char *end;
			errno = 0;
			(void)strtoll(c->value, &end, 10);
			if (errno || end == c->value || *end)
				return bad(l, p->val, "%s: expected an integer", ops[i].key);
		}
	}
	if (!found)
		return bad(l, n, "test on %s.%s has no operator (eq, noteq, has, nothas, gte, "
				 "lte, set, matches or valid)", c->component, c->flag);
	const struct bench_component *comp = bench_component_find(l->d, c->component);
	if (comp) {
		size_t i;
		for (i = 0; i < comp->nsettings; i++)
			if (strcmp(comp->settings[i].flag, c->flag) == 0)
				break;
		if (i == comp->nsettings)
			return bad(l, ymap_get(n, "setting"),
				   "setting '%s.%s': %s has no such setting in components.yaml",
				   c->component, c->flag, c->component);
	} else if (l->d->ncomponents) {
		return bad(l, ymap_get(n, "setting"), "setting '%s.%s': no component '%s'",
			   c->component, c->flag, c->component);
	}
	return 0;
}

static struct bench_check *check_slot(struct bench_defs *d, const char *benchmark,
				      const char *id)
{
	for (size_t i = 0; i < d->nchecks; i++)
		if (strcmp(d->checks[i].id, id) == 0 && strcmp(d->checks[i].benchmark, benchmark) == 0)
			return &d->checks[i]; /* replaced: --checks-dir overrides */
	d->checks = grow_array(d->checks, &d->cap_checks, d->nchecks + 1, sizeof(*d->checks));
	return &d->checks[d->nchecks++];
}

static int parse_check(struct loader *l, const struct ynode *n, const struct bench_target *t,
		       const char *group, const char *group_title)
{
	static const char *const keys[] = { "id", "title", "automated", "file", "mode",
					    "owner", "recursive", "match", "missing", "test",
					    "audit", "remediation", NULL };
	if (only_keys(l, n, "a check", keys) < 0)
		return -1;
	struct bench_check c = { .mode = -1, .target = t->name, .section = t->section,
				 .section_title = t->title, .group = group,
				 .group_title = group_title, .benchmark = t->benchmark,
				 .component = t->component };
	const char *mode = NULL, *missing = NULL;
	if (get_str(l, n, "id", true, &c.id) < 0 || get_str(l, n, "title", true, &c.title) < 0 ||
	    get_bool(l, n, "automated", &c.automated) < 0 ||
	    get_list(l, n, "file", &c.files, &c.nfiles) < 0 ||
	    get_str(l, n, "mode", false, &mode) < 0 || get_str(l, n, "owner", false, &c.owner) < 0 ||
	    get_bool(l, n, "recursive", &c.recursive) < 0 ||
	    get_str(l, n, "match", false, &c.match) < 0 ||
	    get_str(l, n, "missing", false, &missing) < 0 ||
	    get_str(l, n, "audit", false, &c.audit) < 0 ||
	    get_str(l, n, "remediation", true, &c.remediation) < 0)
		return -1;
	if (!ymap_find(n, "automated"))
		return bad(l, n, "check %s: missing required key 'automated'", c.id);
	if (mode) {
		char *end;
		long m = strtol(mode, &end, 8);
		if (end == mode || *end || m < 0 || m > 07777)
			return bad(l, ymap_get(n, "mode"), "mode: expected an octal mode such as \"600\"");
		c.mode = (int)m;
	}
	if (c.owner && !strchr(c.owner, ':'))
		return bad(l, ymap_get(n, "owner"), "owner: expected user:group");
	if (missing) {
		if (strcmp(missing, "pass") == 0)
			c.missing = MISSING_PASS;
		else if (strcmp(missing, "fail") == 0)
			c.missing = MISSING_FAIL;
		else if (strcmp(missing, "info") == 0)
			c.missing = MISSING_INFO;
		else
			return bad(l, ymap_get(n, "missing"), "missing: expected pass, fail or info");
	}
	const struct ynode *test = ymap_get(n, "test");
	if (test) {
		c.test = arena_alloc(l->d->arena, sizeof(*c.test));
		if (parse_cond(l, test, c.test, 0) < 0)
			return -1;
	}
	if (c.nfiles && c.test)
		return bad(l, n, "check %s: a check tests files or a setting, not both", c.id);
	if (c.nfiles && c.mode < 0 && !c.owner)
		return bad(l, n, "check %s: a file test needs mode, owner or both", c.id);
	if (!c.nfiles && (c.mode >= 0 || c.owner || c.recursive || c.match))
		return bad(l, n, "check %s: mode, owner, recursive and match need file", c.id);
	if (c.automated && !c.nfiles && !c.test)
		return bad(l, n, "check %s: an automated check needs a file or a test", c.id);
	if (!c.automated && !c.nfiles && !c.test && !c.audit)
		return bad(l, n, "check %s: a manual check without a test needs audit guidance",
			   c.id);
	for (size_t i = 0; i < c.nfiles; i++)
		if (c.files[i][0] != '/' && c.files[i][0] != '$')
			return bad(l, ymap_get(n, "file"),
				   "file: '%s' must be absolute or a $variable", c.files[i]);
	char origin[512];
	snprintf(origin, sizeof(origin), "%s:%u", l->file, n->line);
	c.origin = arena_strndup(l->d->arena, origin, strlen(origin));
	*check_slot(l->d, t->benchmark, c.id) = c;
	return 0;
}

static int parse_checks(struct loader *l, const struct ynode *root)
{
	static const char *const keys[] = { "kind", "benchmark", "target", "section", "title",
					    "component", "groups", NULL };
	if (only_keys(l, root, "a BenchChecks file", keys) < 0)
		return -1;
	struct bench_target t = { 0 };
	if (get_str(l, root, "benchmark", true, &t.benchmark) < 0 ||
	    get_str(l, root, "target", true, &t.name) < 0 ||
	    get_str(l, root, "section", true, &t.section) < 0 ||
	    get_str(l, root, "title", true, &t.title) < 0 ||
	    get_str(l, root, "component", false, &t.component) < 0)
		return -1;
	bool known = false;
	for (size_t i = 0; i < l->d->ntargets; i++) {
		struct bench_target *o = &l->d->targets[i];
		if (strcmp(o->name, t.name) == 0 && strcmp(o->benchmark, t.benchmark) == 0) {
			known = true;
			if (t.component)
				o->component = t.component;
		}
	}
	if (!known) {
		l->d->targets = grow_array(l->d->targets, &l->d->cap_targets, l->d->ntargets + 1,
					   sizeof(*l->d->targets));
		l->d->targets[l->d->ntargets++] = t;
	}
	const struct ynode *groups = ymap_get(root, "groups");
	if (!groups || groups->type != YNODE_SEQ)
		return bad(l, groups ? groups : root, "groups: expected a list");
	for (uint32_t g = 0; g < groups->len; g++) {
		static const char *const gkeys[] = { "id", "title", "checks", NULL };
		const struct ynode *gn = groups->items[g];
		const char *gid = NULL, *gtitle = NULL;
		if (only_keys(l, gn, "a group", gkeys) < 0 || get_str(l, gn, "id", true, &gid) < 0 ||
		    get_str(l, gn, "title", true, &gtitle) < 0)
			return -1;
		const struct ynode *checks = ymap_get(gn, "checks");
		if (!checks || checks->type != YNODE_SEQ)
			return bad(l, checks ? checks : gn, "checks: expected a list");
		for (uint32_t i = 0; i < checks->len; i++)
			if (parse_check(l, checks->items[i], &t, gid, gtitle) < 0)
				return -1;
	}
	return 0;
}

static int parse_component(struct loader *l, const struct ynode *n)
{
	static const char *const keys[] = { "name", "binaries", "unit", "manifest",
					    "config-flag", "config-dir-flag", "settings", NULL };
	if (only_keys(l, n, "a component", keys) < 0)
		return -1;
	struct bench_component c = { 0 };
	if (get_str(l, n, "name", true, &c.name) < 0 ||
	    get_list(l, n, "binaries", &c.binaries, &c.nbinaries) < 0 ||
	    get_str(l, n, "unit", false, &c.unit) < 0 ||
	    get_str(l, n, "manifest", false, &c.manifest) < 0 ||
	    get_str(l, n, "config-flag", false, &c.config_flag) < 0 ||
	    get_str(l, n, "config-dir-flag", false, &c.config_dir_flag) < 0)
		return -1;
	const struct ynode *settings = ymap_get(n, "settings");
	if (settings && settings->type != YNODE_SEQ)
		return bad(l, settings, "settings: expected a list");
	c.nsettings = settings ? settings->len : 0;
	c.settings = arena_alloc(l->d->arena, (c.nsettings + 1) * sizeof(*c.settings));
	for (size_t i = 0; i < c.nsettings; i++) {
		static const char *const skeys[] = { "flag", "config", "env", "bool", "default",
						     "flag-default", "gates", "zero-is-default",
						     NULL };
		const struct ynode *s = settings->items[i];
		struct bench_setting *st = &c.settings[i];
		memset(st, 0, sizeof(*st));
		if (only_keys(l, s, "a setting", skeys) < 0 ||
		    get_str(l, s, "flag", true, &st->flag) < 0 ||
		    get_str(l, s, "config", false, &st->config) < 0 ||
		    get_str(l, s, "env", false, &st->env) < 0 ||
		    get_bool(l, s, "bool", &st->is_bool) < 0 ||
		    get_bool(l, s, "zero-is-default", &st->zero_is_default) < 0 ||
		    get_str(l, s, "default", false, &st->def) < 0 ||
		    get_str(l, s, "flag-default", false, &st->flag_def) < 0)
			return -1;
		const struct ynode *gates = ymap_get(s, "gates");
		if (gates) {
			if (gates->type != YNODE_MAP)
				return bad(l, gates, "gates: expected a mapping of gate: default");
			st->ngates = gates->len;
			st->gates = arena_alloc(l->d->arena, (st->ngates + 1) * sizeof(char *));
			st->gate_defs = arena_alloc(l->d->arena, (st->ngates + 1) * sizeof(char *));
			for (size_t k = 0; k < st->ngates; k++) {
				const struct ypair *p = &gates->pairs[k];
				if (p->key->type != YNODE_SCALAR || p->val->type != YNODE_SCALAR)
					return bad(l, p->key, "gates: expected gate: true|false");
				st->gates[k] = dup_node(l, p->key);
				st->gate_defs[k] = dup_node(l, p->val);
			}
		}
	}
	struct bench_component *slot = (struct bench_component *)bench_component_find(l->d, c.name);
	if (!slot) {
		l->d->components = grow_array(l->d->components, &l->d->cap_components,
					      l->d->ncomponents + 1, sizeof(*l->d->components));
		slot = &l->d->components[l->d->ncomponents++];
	}
	*slot = c;
	return 0;
}

static int parse_components(struct loader *l, const struct ynode *root)
{
	static const char *const keys[] = { "kind", "components", "paths", NULL };
	if (only_keys(l, root, "a BenchComponents file", keys) < 0)
		return -1;
	const struct ynode *comps = ymap_get(root, "components");
	if (comps && comps->type != YNODE_SEQ)
		return bad(l, comps, "components: expected a list");
	for (uint32_t i = 0; comps && i < comps->len; i++)
		if (parse_component(l, comps->items[i]) < 0)
			return -1;
	const struct ynode *paths = ymap_get(root, "paths");
	if (paths && paths->type != YNODE_MAP)
		return bad(l, paths, "paths: expected a mapping of name: {setting, unit, candidates}");
	for (uint32_t i = 0; paths && i < paths->len; i++) {
		static const char *const pkeys[] = { "setting", "unit", "candidates", NULL };
		const struct ypair *p = &paths->pairs[i];
		struct bench_pathvar v = { 0 };
		if (p->key->type != YNODE_SCALAR)
			return bad(l, p->key, "paths: expected a variable name");
		v.name = dup_node(l, p->key);
		if (only_keys(l, p->val, "a path variable", pkeys) < 0 ||
		    get_str(l, p->val, "setting", false, &v.setting) < 0 ||
		    get_str(l, p->val, "unit", false, &v.unit) < 0 ||
		    get_list(l, p->val, "candidates", &v.candidates, &v.ncandidates) < 0)
			return -1;
		size_t k;
		for (k = 0; k < l->d->npaths; k++)
			if (strcmp(l->d->paths[k].name, v.name) == 0)
				break;
		if (k == l->d->npaths)
			l->d->paths = grow_array(l->d->paths, &l->d->cap_paths, ++l->d->npaths,
						 sizeof(*l->d->paths));
		l->d->paths[k] = v;
	}
	return 0;
}

/* Copies borrowed built-in arrays before anything changes them; their
 * strings stay in read-only memory. */
static void own_arrays(struct bench_defs *d)
{
	if (!d->borrowed)
		return;
#define COPY(field, n, cap)                                                        \
	do {                                                                       \
		void *copy = xcalloc(d->n ? d->n : 1, sizeof(*d->field));          \
		if (d->n)                                                          \
			memcpy(copy, d->field, d->n * sizeof(*d->field));          \
		d->field = copy;                                                   \
		d->cap = d->n;                                                     \
	} while (0)
	COPY(checks, nchecks, cap_checks);
	COPY(components, ncomponents, cap_components);
	COPY(paths, npaths, cap_paths);
	COPY(targets, ntargets, cap_targets);
#undef COPY
	d->borrowed = false;
}

int bench_defs_load_buffer(struct bench_defs *d, const char *name, const char *buf,
			   size_t len, struct moat_error *err)
{
	if (!d->arena)
		d->arena = arena_new();
	own_arrays(d);
	struct yfile *yf = NULL;
	if (yaml_parse(name, buf, len, &yf, err) < 0) {
		yfile_free(yf);
		return -1;
	}
	/* Names outlive the parse: keep one copy in the definitions' arena. */
	struct loader l = { .d = d, .file = arena_strndup(d->arena, name, strlen(name)), .err = err };
	int r = 0;
	for (size_t i = 0; i < yf->ndocs && r == 0; i++) {
		const struct ynode *root = yf->docs[i].root;
		if (!root)
			continue;
		const struct ynode *kind = ymap_get(root, "kind");
		if (!kind || kind->type != YNODE_SCALAR)
			r = bad(&l, root, "expected kind: BenchChecks or kind: BenchComponents");
		else if (yscalar_is(kind, "BenchChecks"))
			r = parse_checks(&l, root);
		else if (yscalar_is(kind, "BenchComponents"))
			r = parse_components(&l, root);
		else
			r = bad(&l, kind, "unknown kind '%s' (expected BenchChecks or "
					  "BenchComponents)", kind->str);
	}
	yfile_free(yf);
	return r;
}

static int load_dir_file(const char *path, const struct moat_error *werr, void *ctx)
{
	void **args = ctx;
	struct bench_defs *d = args[0];
	struct moat_error *err = args[1];
	if (werr) {
		*err = *werr;
		return -1;
	}
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (read_file(path, 4u << 20, &buf, &len, err) < 0)
		return -1;
	return bench_defs_load_buffer(d, path, buf, len, err);
}

int bench_defs_load(struct bench_defs *d, const char *checks_dir, struct moat_error *err)
{
	memset(d, 0, sizeof(*d));
	d->arena = arena_new();
	/* The built-in arrays themselves: they are copied only if --checks-dir
	 * replaces or adds something (see own_arrays). */
	const struct bench_defs *b = &bench_builtin;
	d->checks = b->checks;
	d->nchecks = b->nchecks;
	d->components = b->components;
	d->ncomponents = b->ncomponents;
	d->paths = b->paths;
	d->npaths = b->npaths;
	d->targets = b->targets;
	d->ntargets = b->ntargets;
	d->borrowed = true;
	if (checks_dir) {
		static const char *const suffixes[] = { ".yaml", ".yml", NULL };
		void *args[] = { d, err };
		struct moat_error werr = { 0 };
		err->msg[0] = '\0';
		if (walk_files(checks_dir, suffixes, load_dir_file, args, &werr) < 0) {
			/* A file's own error names it; only a walk error needs the option. */
			if (err->msg[0])
				return -1;
			*err = werr;
			return moat_error_wrap(err, "--checks-dir %s", checks_dir);
		}
	}
	/* Targets in the benchmark's order (section 1 first), whatever order
	 * their files were read in. */
	for (size_t i = 1; i < d->ntargets; i++) {
		for (size_t k = i; k > 0 && strverscmp(d->targets[k - 1].section,
						       d->targets[k].section) > 0; k--) {
			struct bench_target t = d->targets[k];
			d->targets[k] = d->targets[k - 1];
			d->targets[k - 1] = t;
		}
	}
	return 0;
}

void bench_defs_free(struct bench_defs *d)
{
	if (!d)
		return;
	arena_free(d->arena);
	if (!d->borrowed) {
		free(d->checks);
		free(d->components);
		free(d->paths);
		free(d->targets);
	}
	memset(d, 0, sizeof(*d));
}

const struct bench_component *bench_component_find(const struct bench_defs *d, const char *name)
{
	for (size_t i = 0; i < d->ncomponents; i++)
		if (strcmp(d->components[i].name, name) == 0)
			return &d->components[i];
	return NULL;
}

size_t bench_defs_benchmarks(const struct bench_defs *d, const char **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < d->ntargets; i++) {
		size_t k;
		for (k = 0; k < n; k++)
			if (strcmp(out[k], d->targets[i].benchmark) == 0)
				break;
		if (k == n && n < max)
			out[n++] = d->targets[i].benchmark;
	}
	/* Newest first: "cis-1.12" after "cis-1.9" by version, not by bytes. */
	for (size_t i = 1; i < n; i++) {
		for (size_t k = i; k > 0 && strverscmp(out[k - 1], out[k]) < 0; k--) {
			const char *t = out[k];
			out[k] = out[k - 1];
			out[k - 1] = t;
		}
	}
	return n;
}
