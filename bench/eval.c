/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Evaluating controls against a node: choosing the benchmark and targets,
 * testing files and settings, applying waivers, and scoring.
 */
#include "bench_int.h"

#include <errno.h>
#include <fcntl.h>

/* The Kubernetes minor versions each shipped benchmark covers. */
static const struct {
	const char *name;
	unsigned min_minor, max_minor;
} benchmark_versions[] = {
	{ "cis-1.12", 32, 34 },
};

const char *bench_status_name(enum bench_status s)
{
	static const char *const names[] = { "PASS", "FAIL", "WARN", "INFO" };
	return names[s];
}

static struct bench_evidence *evidence_add(struct bench_result *r)
{
	r->evidence = grow_array(r->evidence, &r->cap_evidence, r->nevidence + 1,
				 sizeof(*r->evidence));
	struct bench_evidence *e = &r->evidence[r->nevidence++];
	memset(e, 0, sizeof(*e));
	return e;
}

static void evidence_note(struct bench_result *r, const char *fmt, ...) PRINTF(2, 3);
static void evidence_note(struct bench_result *r, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < r->nevidence; i++)
		if (r->evidence[i].note && !r->evidence[i].path && strcmp(r->evidence[i].note, msg) == 0)
			return;
	evidence_add(r)->note = xstrdup(msg);
}

static void set_reason(struct bench_result *r, const char *fmt, ...) PRINTF(2, 3);
static void set_reason(struct bench_result *r, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	free(r->reason);
	r->reason = xstrdup(msg);
}

/* ---- paths ---------------------------------------------------------------- */

static const struct bench_pathvar *pathvar_find(const struct bench_defs *d, const char *name)
{
	for (size_t i = 0; i < d->npaths; i++)
		if (strcmp(d->paths[i].name, name) == 0)
			return &d->paths[i];
	return NULL;
}

/* What a file entry names: the path itself, or a variable's resolution:
 * the unit files read, a setting's value, or the first candidate present. */
static size_t resolve_path(const struct bench_node *n, const char *spec, char ***out)
{
	*out = NULL;
	if (spec[0] != '$') {
		*out = xmalloc(sizeof(char *));
		(*out)[0] = xstrdup(spec);
		return 1;
	}
	const struct bench_pathvar *v = pathvar_find(n->defs, spec + 1);
	if (!v)
		return 0;
	if (v->unit) {
		for (size_t i = 0; i < n->nprocs; i++) {
			const struct bench_proc *p = &n->procs[i];
			if (p->def->unit && strcmp(p->def->unit, v->unit) == 0 && p->nfiles) {
				*out = xcalloc(p->nfiles, sizeof(char *));
				for (size_t k = 0; k < p->nfiles; k++)
					(*out)[k] = xstrdup(p->files[k]);
				return p->nfiles;
			}
		}
	}
	if (v->setting) {
		const char *dot = strchr(v->setting, '.');
		if (dot) {
			_cleanup_free_ char *comp = xstrndup(v->setting, (size_t)(dot - v->setting));
			struct bench_value val;
			bench_node_lookup(n, comp, dot + 1, NULL, &val);
			if (val.state == VAL_SET && val.value[0] == '/') {
				*out = xmalloc(sizeof(char *));
				(*out)[0] = xstrdup(val.value);
				return 1;
			}
		}
	}
	for (size_t i = 0; i < v->ncandidates; i++) {
		struct stat st;
		if (bench_root_stat(n, v->candidates[i], &st) == 0) {
			*out = xmalloc(sizeof(char *));
			(*out)[0] = xstrdup(v->candidates[i]);
			return 1;
		}
	}
	if (!v->ncandidates)
		return 0;
	*out = xmalloc(sizeof(char *));
	(*out)[0] = xstrdup(v->candidates[0]);
	return 1;
}

/* ---- file tests ------------------------------------------------------------ */

struct file_tally {
	size_t tested, failed, errors;
};

static void test_one_file(const struct bench_node *n, const struct bench_check *c,
			  const char *path, const struct stat *st, struct bench_result *r,
			  struct file_tally *t)
{
	char owner[160];
	bench_owner_name(n, st->st_uid, st->st_gid, owner, sizeof(owner));
	unsigned mode = st->st_mode & 07777;
	bool bad_mode = c->mode >= 0 && (mode & ~(unsigned)c->mode) != 0;
	bool bad_owner = c->owner && strcmp(owner, c->owner) != 0;
	t->tested++;
	if (bad_mode || bad_owner)
		t->failed++;
	/* Every file a flat test reads is shown; a tree shows its failures. */
	if (c->recursive && !bad_mode && !bad_owner)
		return;
	if (c->recursive && t->failed > 20)
		return;
	struct bench_evidence *e = evidence_add(r);
	e->path = xstrdup(path);
	if (c->mode >= 0)
		e->mode = xasprintf("%04o", mode);
	if (c->owner)
		e->owner = xstrdup(owner);
}

static void walk_tree(const struct bench_node *n, const struct bench_check *c, const char *dir,
		      int depth, struct bench_result *r, struct file_tally *t)
{
	char **names;
	size_t nn;
	if (depth > 16 || t->tested > 100000)
		return;
	if (bench_root_list(n, dir, &names, &nn) < 0) {
		evidence_note(r, "%s: cannot list: %s", dir, strerror(errno));
		t->errors++;
		return;
	}
	for (size_t i = 0; i < nn; i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, names[i]);
		struct stat st;
		/* Entries are not followed: a link inside the tree is itself. */
		_cleanup_close_ int fd = bench_root_open(n, path, O_PATH | O_NOFOLLOW);
		if (fd < 0 || fstat(fd, &st) < 0) {
			evidence_note(r, "%s: %s", path, strerror(errno));
			t->errors++;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			if (!c->match)
				test_one_file(n, c, path, &st, r, t);
			walk_tree(n, c, path, depth + 1, r, t);
		} else if (!S_ISLNK(st.st_mode) && (!c->match || glob_match(c->match, names[i]))) {
			test_one_file(n, c, path, &st, r, t);
		}
	}
	bench_strv_free(names, nn);
}

static enum bench_status eval_files(const struct bench_node *n, const struct bench_check *c,
				    struct bench_result *r)
{
	struct file_tally t = { 0 };
	size_t missing = 0, named = 0;
	for (size_t i = 0; i < c->nfiles; i++) {
		char **paths;
		size_t np = resolve_path(n, c->files[i], &paths);
		if (!np) {
			evidence_note(r, "%s: no such path variable in components.yaml", c->files[i]);
			t.errors++;
		}
		for (size_t k = 0; k < np; k++) {
			named++;
			struct stat st;
			if (bench_root_stat(n, paths[k], &st) < 0) {
				if (errno == ENOENT || errno == ENOTDIR) {
					missing++;
					struct bench_evidence *e = evidence_add(r);
					e->path = xstrdup(paths[k]);
					e->note = xstrdup("does not exist");
				} else {
					evidence_note(r, "%s: %s", paths[k],
						      errno == EXDEV ? "leads outside the root"
								     : strerror(errno));
					t.errors++;
				}
				continue;
			}
			if (c->recursive && S_ISDIR(st.st_mode)) {
				if (!c->match)
					test_one_file(n, c, paths[k], &st, r, &t);
				walk_tree(n, c, paths[k], 0, r, &t);
			} else {
				test_one_file(n, c, paths[k], &st, r, &t);
			}
		}
		bench_strv_free(paths, np);
	}
	if (c->recursive && t.tested && !t.failed) {
		char want[128] = "";
		if (c->mode >= 0)
			snprintf(want, sizeof(want), "mode within %04o", c->mode);
		if (c->owner)
			snprintf(want + strlen(want), sizeof(want) - strlen(want), "%sowned by %s",
				 c->mode >= 0 ? ", " : "", c->owner);
		evidence_note(r, "%zu entr%s tested, all %s", t.tested, t.tested == 1 ? "y" : "ies",
			      want);
	}
	if (t.failed) {
		set_reason(r, "%zu of %zu file%s tested %s %s", t.failed, t.tested,
			   t.tested == 1 ? "" : "s", t.failed == 1 ? "has" : "have",
			   c->mode >= 0 && c->owner ? "a wider mode or another owner"
			   : c->mode >= 0	    ? "a wider mode than allowed"
						    : "another owner");
		return c->automated ? BENCH_FAIL : BENCH_WARN;
	}
	if (t.errors) {
		set_reason(r, "a file could not be tested");
		return BENCH_WARN;
	}
	if (missing == named) {
		set_reason(r, "%s", missing == 1 ? "the file does not exist" : "no file exists");
		return c->missing == MISSING_FAIL ? (c->automated ? BENCH_FAIL : BENCH_WARN)
		       : c->missing == MISSING_INFO ? BENCH_INFO
						    : BENCH_PASS;
	}
	return BENCH_PASS;
}

/* ---- setting tests ---------------------------------------------------------- */

enum verdict { V_HOLDS, V_FAILS, V_ERROR, V_ABSENT };

/* Integer, or a Go duration ("4h0m0s", "30s", "1m") in seconds. */
static bool parse_number(const char *s, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (!errno && end != s && !*end) {
		*out = v;
		return true;
	}
	double total = 0;
	const char *p = s;
	if (!*p)
		return false;
	while (*p) {
		double num = strtod(p, &end);
		if (end == p)
			return false;
		p = end;
		double unit;
		if (strncmp(p, "ms", 2) == 0) {
			unit = 0.001;
			p += 2;
		} else if (*p == 'h') {
			unit = 3600;
			p++;
		} else if (*p == 'm') {
			unit = 60;
			p++;
		} else if (*p == 's') {
			unit = 1;
			p++;
		} else {
			return false;
		}
		total += num * unit;
	}
	*out = (long long)total;
	return true;
}

static bool list_has(const char *list, const char *want)
{
	size_t wl = strlen(want);
	for (const char *s = list; *s;) {
		while (*s == ' ')
			s++;
		size_t l = strcspn(s, ",");
		size_t t = l;
		while (t && s[t - 1] == ' ')
			t--;
		if (t == wl && strncmp(s, want, wl) == 0)
			return true;
		s += l + (s[l] == ',');
	}
	return false;
}

static bool value_eq(const char *a, const char *b)
{
	bool ab = !strcasecmp(a, "true") || !strcasecmp(a, "false");
	return ab ? strcasecmp(a, b) == 0 : strcmp(a, b) == 0;
}

static const char *op_name(enum bench_op op)
{
	static const char *const names[] = { "all", "any", "eq", "noteq", "has", "nothas",
					     "gte", "lte", "set", "matches", "valid" };
	return names[op];
}

static enum verdict eval_leaf(const struct bench_node *n, const struct bench_cond *c,
			      struct bench_result *r)
{
	struct bench_value v;
	bench_node_lookup(n, c->component, c->flag, c->gate, &v);
	char setting[256];
	snprintf(setting, sizeof(setting), "%s.%s%s%s", c->component, c->flag,
		 c->gate ? ":" : "", c->gate ? c->gate : "");
	if (v.state == VAL_ABSENT) {
		evidence_note(r, "%s: %s was not found on this node", setting, c->component);
		return V_ABSENT;
	}
	if (v.state == VAL_ERROR) {
		evidence_note(r, "%s: %s", setting, v.value);
		return V_ERROR;
	}
	struct bench_evidence *e = evidence_add(r);
	e->setting = xstrdup(setting);
	if (v.state == VAL_SET) {
		e->value = xstrdup(v.value);
		e->source = xstrdup(bench_source_name(v.source));
		e->where = xstrdup(v.where);
	} else {
		e->source = xstrdup("unset");
		e->note = xstrdup("not set, and no default applies");
	}
	bool set = v.state == VAL_SET;
	if (!set && c->op != OP_SET) {
		if (c->unset >= 0)
			return c->unset ? V_HOLDS : V_FAILS;
		return c->op == OP_NOTEQ || c->op == OP_NOTHAS ? V_HOLDS : V_FAILS;
	}
	long long num, want;
	switch (c->op) {
	case OP_EQ:
		return value_eq(v.value, c->value) ? V_HOLDS : V_FAILS;
	case OP_NOTEQ:
		return value_eq(v.value, c->value) ? V_FAILS : V_HOLDS;
	case OP_HAS:
		return list_has(v.value, c->value) ? V_HOLDS : V_FAILS;
	case OP_NOTHAS:
		return list_has(v.value, c->value) ? V_FAILS : V_HOLDS;
	case OP_GTE:
	case OP_LTE:
		if (!parse_number(v.value, &num) || !parse_number(c->value, &want)) {
			e->note = xasprintf("'%s' is not a number or a duration", v.value);
			return V_FAILS;
		}
		return (c->op == OP_GTE ? num >= want : num <= want) ? V_HOLDS : V_FAILS;
	case OP_SET:
		return set == (strcmp(c->value, "true") == 0) ? V_HOLDS : V_FAILS;
	case OP_MATCHES:
		return glob_match(c->value, v.value) ? V_HOLDS : V_FAILS;
	case OP_VALID: {
		bool ok = v.value[0] != '\0';
		for (const char *s = v.value; *s && ok;) {
			size_t l = strcspn(s, ",");
			bool in = false;
			for (size_t i = 0; i < c->nvalues && !in; i++)
				in = strlen(c->values[i]) == l && strncmp(c->values[i], s, l) == 0;
			ok = in;
			s += l + (s[l] == ',');
		}
		return ok ? V_HOLDS : V_FAILS;
	}
	default:
		return V_ERROR;
	}
}

static enum verdict eval_cond(const struct bench_node *n, const struct bench_cond *c,
			      struct bench_result *r)
{
	if (c->op != OP_ALL && c->op != OP_ANY)
		return eval_leaf(n, c, r);
	bool any = c->op == OP_ANY;
	int holds = 0, fails = 0, errors = 0, absent = 0;
	for (size_t i = 0; i < c->nkids; i++) {
		switch (eval_cond(n, &c->kids[i], r)) {
		case V_HOLDS:
			holds++;
			break;
		case V_FAILS:
			fails++;
			break;
		case V_ERROR:
			errors++;
			break;
		case V_ABSENT:
			absent++;
			break;
		}
	}
	if (any && holds)
		return V_HOLDS;
	if (!any && fails)
		return V_FAILS;
	if (errors)
		return V_ERROR;
	if (absent)
		return V_ABSENT;
	return any ? V_FAILS : V_HOLDS;
}

static void describe_cond(const struct bench_cond *c, struct sbuf *b)
{
	if (c->op == OP_ALL || c->op == OP_ANY) {
		for (size_t i = 0; i < c->nkids; i++) {
			if (i)
				sbuf_puts(b, c->op == OP_ALL ? " and " : " or ");
			describe_cond(&c->kids[i], b);
		}
		return;
	}
	sbuf_printf(b, "%s.%s%s%s %s", c->component, c->flag, c->gate ? ":" : "",
		    c->gate ? c->gate : "", op_name(c->op));
	if (c->op == OP_VALID) {
		sbuf_puts(b, " [");
		for (size_t i = 0; i < c->nvalues; i++)
			sbuf_printf(b, "%s%s", i ? "," : "", c->values[i]);
		sbuf_puts(b, "]");
	} else {
		sbuf_printf(b, " %s", c->value);
	}
}

static enum bench_status eval_test(const struct bench_node *n, const struct bench_check *c,
				   struct bench_result *r)
{
	struct sbuf want = { 0 };
	describe_cond(c->test, &want);
	enum verdict v = eval_cond(n, c->test, r);
	enum bench_status st;
	switch (v) {
	case V_HOLDS:
		set_reason(r, "wants %s: holds", want.s);
		st = BENCH_PASS;
		break;
	case V_FAILS:
		set_reason(r, "wants %s", want.s);
		st = c->automated ? BENCH_FAIL : BENCH_WARN;
		break;
	case V_ERROR:
		set_reason(r, "wants %s, but a config it reads is unreadable", want.s);
		st = BENCH_WARN;
		break;
	default:
		set_reason(r, "not applicable: a component it tests is not on this node");
		st = BENCH_INFO;
		break;
	}
	sbuf_release(&want);
	return st;
}

/* ---- the run ------------------------------------------------------------------ */

static bool id_matches(const char *pattern, const char *id)
{
	size_t l = strlen(pattern);
	return strncmp(pattern, id, l) == 0 && (id[l] == '\0' || id[l] == '.');
}

static const struct bench_target *target_find(const struct bench_defs *d, const char *bm,
					      const char *name)
{
	for (size_t i = 0; i < d->ntargets; i++)
		if (strcmp(d->targets[i].benchmark, bm) == 0 && strcmp(d->targets[i].name, name) == 0)
			return &d->targets[i];
	return NULL;
}

static int choose_benchmark(struct bench_run *r, const struct bench_node *n,
			    const struct bench_options *o, struct moat_error *err)
{
	const char *have[16];
	size_t nh = bench_defs_benchmarks(n->defs, have, ARRAY_SIZE(have));
	if (!nh)
		return moat_error_set(err, EINVAL, "no benchmark is defined");
	if (o->benchmark) {
		for (size_t i = 0; i < nh; i++) {
			if (strcmp(have[i], o->benchmark) == 0) {
				r->benchmark = have[i];
				r->benchmark_reason = xasprintf("%s, as --benchmark asked", have[i]);
				return 0;
			}
		}
		char list[256] = "";
		for (size_t i = 0; i < nh; i++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 i ? ", " : "", have[i]);
		return moat_error_set(err, EINVAL, "--benchmark %s: unknown benchmark (known: %s)",
				      o->benchmark, list);
	}
	r->benchmark = have[0];
	unsigned major = 0, minor = 0;
	if (!n->k8s_version || sscanf(n->k8s_version, "%u.%u", &major, &minor) != 2) {
		r->benchmark_reason = xasprintf(
			"%s, the newest known: the Kubernetes version could not be found (%s); "
			"pass --benchmark to choose", have[0],
			n->live ? "no kubelet or kube-apiserver answered --version"
				: "no kubelet package in /var/lib/dpkg/status and no "
				  "control-plane image tag");
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(benchmark_versions); i++) {
		if (minor >= benchmark_versions[i].min_minor &&
		    minor <= benchmark_versions[i].max_minor) {
			for (size_t k = 0; k < nh; k++) {
				if (strcmp(have[k], benchmark_versions[i].name) == 0) {
					r->benchmark = have[k];
					r->benchmark_reason = xasprintf(
						"%s, for Kubernetes %s (from %s)", have[k],
						n->k8s_version, n->version_source);
					return 0;
				}
			}
		}
	}
	r->benchmark_reason = xasprintf(
		"%s, the newest known: no benchmark moat carries covers Kubernetes %s (from %s); "
		"pass --benchmark to choose", have[0], n->k8s_version, n->version_source);
	return 0;
}

static int choose_targets(struct bench_run *r, const struct bench_node *n,
			  const struct bench_options *o, struct moat_error *err)
{
	const struct bench_defs *d = n->defs;
	if (o->ntargets) {
		for (size_t i = 0; i < o->ntargets; i++) {
			if (!target_find(d, r->benchmark, o->targets[i]))
				return moat_error_set(err, EINVAL,
						      "--targets: %s has no target '%s' (expected "
						      "master, etcd, controlplane, node or policies)",
						      r->benchmark, o->targets[i]);
			if (r->ntargets < ARRAY_SIZE(r->targets))
				r->targets[r->ntargets++] = o->targets[i];
		}
		r->targets_reason = xstrdup("as --targets asked");
		return 0;
	}
	struct sbuf why = { 0 };
	for (size_t i = 0; i < d->ntargets && r->ntargets < ARRAY_SIZE(r->targets); i++) {
		const struct bench_target *t = &d->targets[i];
		if (strcmp(t->benchmark, r->benchmark) != 0 || !t->component)
			continue;
		if (bench_node_has(n, t->component)) {
			r->targets[r->ntargets++] = t->name;
			sbuf_printf(&why, "%s%s (%s found)", why.len ? ", " : "", t->name,
				    t->component);
		}
	}
	if (!r->ntargets && target_find(d, r->benchmark, "node")) {
		r->targets[r->ntargets++] = "node";
		sbuf_puts(&why, "node: no Kubernetes component was found on this node");
	}
	r->targets_reason = sbuf_steal(&why);
	return 0;
}

int bench_run(struct bench_run *r, struct bench_node *n, const struct bench_options *o,
	      struct moat_error *err)
{
	memset(r, 0, sizeof(*r));
	r->node = n;
	if (choose_benchmark(r, n, o, err) < 0 || choose_targets(r, n, o, err) < 0)
		return -1;
	const struct bench_defs *d = n->defs;
	for (size_t i = 0; i < o->nonly + o->nskip; i++) {
		const char *pat = i < o->nonly ? o->only[i] : o->skip[i - o->nonly];
		bool any = false;
		for (size_t k = 0; k < d->nchecks && !any; k++)
			any = strcmp(d->checks[k].benchmark, r->benchmark) == 0 &&
			      id_matches(pat, d->checks[k].id);
		if (!any)
			return moat_error_set(err, EINVAL, "%s %s: %s has no such check or group",
					      i < o->nonly ? "--check" : "--skip", pat, r->benchmark);
	}
	r->results = xcalloc(d->nchecks ? d->nchecks : 1, sizeof(*r->results));
	/* Targets in the benchmark's own order; checks in file order. */
	for (size_t t = 0; t < d->ntargets; t++) {
		const struct bench_target *tg = &d->targets[t];
		if (strcmp(tg->benchmark, r->benchmark) != 0)
			continue;
		bool selected = false;
		for (size_t k = 0; k < r->ntargets; k++)
			selected = selected || strcmp(r->targets[k], tg->name) == 0;
		if (!selected)
			continue;
		bool present = !tg->component || bench_node_has(n, tg->component);
		for (size_t i = 0; i < d->nchecks; i++) {
			const struct bench_check *c = &d->checks[i];
			if (strcmp(c->benchmark, r->benchmark) != 0 || strcmp(c->target, tg->name) != 0)
				continue;
			bool only = !o->nonly;
			for (size_t k = 0; k < o->nonly; k++)
				only = only || id_matches(o->only[k], c->id);
			if (!only)
				continue;
			struct bench_result *res = &r->results[r->nresults++];
			res->check = c;
			bool skip = false;
			for (size_t k = 0; k < o->nskip; k++)
				skip = skip || id_matches(o->skip[k], c->id);
			if (skip) {
				res->status = BENCH_INFO;
				set_reason(res, "skipped with --skip");
			} else if (!present) {
				res->status = BENCH_INFO;
				set_reason(res, "not applicable: %s was not found on this node",
					   tg->component);
			} else if (c->nfiles) {
				res->status = eval_files(n, c, res);
			} else if (c->test) {
				res->status = eval_test(n, c, res);
			} else {
				res->status = BENCH_WARN;
				set_reason(res, "manual: a person must check this");
				if (c->audit)
					evidence_note(res, "%s", c->audit);
			}
			/* A waiver turns a result into INFO; an expired one does not. */
			for (size_t k = 0; k < o->nwaivers && !skip; k++) {
				const struct bench_waiver *w = &o->waivers[k];
				if (strcmp(w->check, c->id) != 0)
					continue;
				if (w->expires_days < o->today) {
					r->expired = xrealloc(r->expired,
							      (r->nexpired + 1) * sizeof(char *));
					r->expired[r->nexpired++] = xasprintf(
						"%s: the waiver for %s has expired; it no longer "
						"applies", w->where, w->check);
					continue;
				}
				if (res->status == BENCH_PASS)
					continue; /* nothing to waive */
				res->waiver = w;
				set_reason(res, "waived (was %s): %s", bench_status_name(res->status),
					   w->reason);
				res->status = BENCH_INFO;
			}
		}
	}
	for (size_t i = 0; i < r->nresults; i++) {
		const struct bench_result *res = &r->results[i];
		r->count[res->status]++;
		if (res->check->automated && res->status == BENCH_PASS)
			r->scored_pass++;
		if (res->check->automated && res->status == BENCH_FAIL)
			r->scored_fail++;
	}
	size_t scored = r->scored_pass + r->scored_fail;
	r->score = scored ? 100.0 * (double)r->scored_pass / (double)scored : 100.0;
	return 0;
}

void bench_run_free(struct bench_run *r)
{
	for (size_t i = 0; i < r->nresults; i++) {
		struct bench_result *res = &r->results[i];
		for (size_t k = 0; k < res->nevidence; k++) {
			struct bench_evidence *e = &res->evidence[k];
			free(e->path);
			free(e->mode);
			free(e->owner);
			free(e->setting);
			free(e->value);
			free(e->source);
			free(e->where);
			free(e->note);
		}
		free(res->evidence);
		free(res->reason);
	}
	free(r->results);
	free(r->benchmark_reason);
	free(r->targets_reason);
	bench_strv_free(r->expired, r->nexpired);
	memset(r, 0, sizeof(*r));
}
