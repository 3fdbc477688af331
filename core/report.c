/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Findings, and the four ways to write them: text like a compiler's, JSON
 * (schema in docs/moat-report.schema.json), SARIF 2.1.0 for code scanning, and JUnit
 * XML for CI dashboards.
 */
#include "core.h"

#include <jansson.h>

void report_init(struct report *r, const char *command,
		 const struct report_rule *rules, size_t nrules)
{
	memset(r, 0, sizeof(*r));
	r->command = command;
	r->rules = rules;
	r->nrules = nrules;
	r->strings = arena_new();
}

void report_release(struct report *r)
{
	for (size_t i = 0; i < r->nnotes; i++) {
		free(r->notes[i].file);
		free(r->notes[i].message);
	}
	for (size_t i = 0; i < r->nparams; i++)
		free(r->param_vals[i]);
	arena_free(r->strings);
	free(r->objs);
	free(r->results);
	free(r->notes);
	memset(r, 0, sizeof(*r));
}

void report_param(struct report *r, const char *key, const char *val)
{
	for (size_t i = 0; i < r->nparams; i++) {
		if (strcmp(r->param_keys[i], key) == 0) {
			free(r->param_vals[i]);
			r->param_vals[i] = xstrdup(val);
			return;
		}
	}
	if (r->nparams < ARRAY_SIZE(r->param_keys)) {
		r->param_keys[r->nparams] = key;
		r->param_vals[r->nparams++] = xstrdup(val);
	}
}

size_t report_object(struct report *r, const char *file, uint32_t line,
		     uint32_t col, const char *kind, const char *ns, const char *name)
{
	r->objs = grow_array(r->objs, &r->cap_objs, r->nobjs + 1, sizeof(*r->objs));
	struct report_object *o = &r->objs[r->nobjs];
	/* Objects of one file share its name. */
	const struct report_object *prev = r->nobjs ? &r->objs[r->nobjs - 1] : NULL;
	o->file = prev && strcmp(prev->file, file) == 0
			  ? prev->file
			  : arena_strndup(r->strings, file, strlen(file));
	o->line = line;
	o->col = col;
	kind = kind ? kind : "";
	o->kind = prev && strcmp(prev->kind, kind) == 0 ? prev->kind
							 : arena_strndup(r->strings, kind, strlen(kind));
	o->namespace = report_strdup(r, ns);
	o->name = arena_strndup(r->strings, name ? name : "", name ? strlen(name) : 0);
	return r->nobjs++;
}

struct report_result *report_add(struct report *r, size_t rule, size_t obj,
				 uint32_t line, uint32_t col)
{
	r->results = grow_array(r->results, &r->cap_results, r->nresults + 1,
				sizeof(*r->results));
	struct report_result *x = &r->results[r->nresults++];
	memset(x, 0, sizeof(*x));
	x->rule = rule;
	x->obj = obj;
	x->line = line ? line : 1;
	x->col = col ? col : 1;
	x->seq = r->seq++;
	return x;
}

void report_note(struct report *r, enum report_note_kind kind, const char *code,
		 const char *file, uint32_t line, uint32_t col, const char *fmt, ...)
{
	r->notes = grow_array(r->notes, &r->cap_notes, r->nnotes + 1, sizeof(*r->notes));
	struct report_note *n = &r->notes[r->nnotes++];
	n->kind = kind;
	n->code = code;
	n->file = xstrdup(file);
	n->line = line;
	n->col = col;
	n->seq = r->seq++;
	char tmp[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	n->message = xstrdup(tmp);
}

char *report_strdup(struct report *r, const char *s)
{
	return s ? arena_strndup(r->strings, s, strlen(s)) : NULL;
}

void report_merge(struct report *dst, const struct report *src)
{
	size_t base = dst->nobjs;
	for (size_t i = 0; i < src->nobjs; i++) {
		const struct report_object *o = &src->objs[i];
		report_object(dst, o->file, o->line, o->col, o->kind, o->namespace, o->name);
	}
	/* Sequence numbers keep results and notes in the order they were made. */
	uint32_t seq0 = dst->seq;
	for (size_t i = 0; i < src->nresults; i++) {
		const struct report_result *s = &src->results[i];
		struct report_result *d = report_add(dst, s->rule, base + s->obj, s->line, s->col);
		d->seq = seq0 + s->seq;
		d->message = report_strdup(dst, s->message);
		d->container = report_strdup(dst, s->container);
		d->field = report_strdup(dst, s->field);
		d->exempt_reason = report_strdup(dst, s->exempt_reason);
		d->exempt_where = report_strdup(dst, s->exempt_where);
	}
	for (size_t i = 0; i < src->nnotes; i++) {
		const struct report_note *s = &src->notes[i];
		dst->notes = grow_array(dst->notes, &dst->cap_notes, dst->nnotes + 1,
					sizeof(*dst->notes));
		struct report_note *n = &dst->notes[dst->nnotes++];
		*n = *s;
		n->file = xstrdup(s->file);
		n->message = xstrdup(s->message);
		n->seq = seq0 + s->seq;
	}
	dst->seq = seq0 + src->seq;
	dst->files += src->files;
	dst->skipped += src->skipped;
	dst->checked += src->checked;
}

size_t report_violations(const struct report *r)
{
	size_t n = 0;
	for (size_t i = 0; i < r->nresults; i++)
		n += !r->results[i].exempt_reason;
	return n;
}

size_t report_exempted(const struct report *r)
{
	return r->nresults - report_violations(r);
}

size_t report_count_notes(const struct report *r, enum report_note_kind kind)
{
	size_t n = 0;
	for (size_t i = 0; i < r->nnotes; i++)
		n += r->notes[i].kind == kind;
	return n;
}

int report_format_parse(const char *s)
{
	static const char *const names[] = { "text", "json", "sarif", "junit" };
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

/* ---- text ---- */

static const char *object_label(const struct report_object *o, char *buf, size_t n)
{
	if (o->namespace)
		snprintf(buf, n, "%s %s/%s", o->kind, o->namespace, o->name);
	else
		snprintf(buf, n, "%s %s", o->kind, o->name);
	return buf;
}

static void write_summary(const struct report *r, FILE *out)
{
	fprintf(out, "moat %s: %zu file%s, %zu object%s checked", r->command, r->files,
		r->files == 1 ? "" : "s", r->checked, r->checked == 1 ? "" : "s");
	if (r->skipped)
		fprintf(out, " (%zu of other kinds skipped)", r->skipped);
	size_t v = report_violations(r), e = report_count_notes(r, REPORT_ERROR);
	fprintf(out, ": %zu violation%s", v, v == 1 ? "" : "s");
	if (report_exempted(r))
		fprintf(out, ", %zu exempted", report_exempted(r));
	if (e)
		fprintf(out, ", %zu input error%s", e, e == 1 ? "" : "s");
	size_t w = report_count_notes(r, REPORT_WARNING);
	if (w)
		fprintf(out, ", %zu warning%s", w, w == 1 ? "" : "s");
	fputc('\n', out);
}

struct text_entry {
	size_t group; /* files in the order they were read */
	uint32_t line, col, seq;
	bool note;
	size_t idx;
};

static int cmp_entry(const void *pa, const void *pb)
{
	const struct text_entry *a = pa, *b = pb;
	if (a->group != b->group)
		return a->group < b->group ? -1 : 1;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->col != b->col)
		return a->col < b->col ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int write_text(const struct report *r, FILE *out)
{
	/* Results and notes of one file together, in line order, as a compiler
	 * prints them; files in the order they were read. */
	size_t n = r->nresults + r->nnotes, i = 0, j = 0, k = 0;
	struct text_entry *e = xcalloc(n + 1, sizeof(*e));
	const char *prev = NULL;
	size_t group = 0;
	while (i < r->nresults || j < r->nnotes) {
		bool take_result = j >= r->nnotes ||
				   (i < r->nresults && r->results[i].seq < r->notes[j].seq);
		const char *file = take_result ? r->objs[r->results[i].obj].file : r->notes[j].file;
		if (!prev || strcmp(prev, file) != 0)
			group++;
		prev = file;
		e[k].group = group;
		e[k].note = !take_result;
		if (take_result) {
			e[k].line = r->results[i].line;
			e[k].col = r->results[i].col;
			e[k].seq = r->results[i].seq;
			e[k++].idx = i++;
		} else {
			e[k].line = r->notes[j].line;
			e[k].col = r->notes[j].col;
			e[k].seq = r->notes[j].seq;
			e[k++].idx = j++;
		}
	}
	qsort(e, n, sizeof(*e), cmp_entry);
	for (k = 0; k < n; k++) {
		if (!e[k].note) {
			const struct report_result *x = &r->results[e[k].idx];
			if (x->exempt_reason)
				continue;
			const struct report_object *o = &r->objs[x->obj];
			char label[512];
			fprintf(out, "%s:%u:%u: %s: %s: %s [%s]\n", o->file, x->line, x->col,
				r->rules[x->rule].level, object_label(o, label, sizeof(label)),
				x->message, r->rules[x->rule].id);
		} else {
			const struct report_note *no = &r->notes[e[k].idx];
			fprintf(out, "%s:%u:%u: %s: %s [%s]\n", no->file, no->line ? no->line : 1,
				no->col ? no->col : 1,
				no->kind == REPORT_ERROR ? "error" : "warning", no->message, no->code);
		}
	}
	free(e);
	if (!r->quiet)
		write_summary(r, out);
	return 0;
}

/* ---- JSON ---- */

/* jansson refuses invalid UTF-8; a file name need not be valid UTF-8. */
static json_t *jstr(const char *s)
{
	if (!s)
		return json_null();
	json_t *v = json_string(s);
	if (v)
		return v;
	char *copy = xstrdup(s);
	for (unsigned char *p = (unsigned char *)copy; *p; p++)
		if (*p >= 0x80)
			*p = '?';
	v = json_string(copy);
	free(copy);
	return v ? v : json_string("?");
}

static void jset(json_t *obj, const char *key, json_t *v)
{
	json_object_set_new_nocheck(obj, key, v);
}

static json_t *json_object_of(const struct report_object *o)
{
	json_t *j = json_object();
	jset(j, "kind", jstr(o->kind));
	jset(j, "namespace", jstr(o->namespace));
	jset(j, "name", jstr(o->name));
	jset(j, "file", jstr(o->file));
	jset(j, "line", json_integer(o->line));
	return j;
}

static json_t *json_result(const struct report *r, const struct report_result *x)
{
	const struct report_rule *rule = &r->rules[x->rule];
	const struct report_object *o = &r->objs[x->obj];
	json_t *j = json_object();
	jset(j, "check", jstr(rule->id));
	jset(j, "level", jstr(rule->level));
	jset(j, "file", jstr(o->file));
	jset(j, "line", json_integer(x->line));
	jset(j, "column", json_integer(x->col));
	jset(j, "object", json_object_of(o));
	jset(j, "container", jstr(x->container));
	jset(j, "field", jstr(x->field));
	jset(j, "message", jstr(x->message));
	if (x->exempt_reason) {
		json_t *e = json_object();
		jset(e, "reason", jstr(x->exempt_reason));
		jset(e, "exception", jstr(x->exempt_where));
		jset(j, "exempted", e);
	}
	return j;
}

static json_t *json_note(const struct report_note *n)
{
	json_t *j = json_object();
	jset(j, "code", jstr(n->code));
	jset(j, "file", jstr(n->file));
	jset(j, "line", json_integer(n->line));
	jset(j, "column", json_integer(n->col));
	jset(j, "message", jstr(n->message));
	return j;
}

static int write_json(const struct report *r, FILE *out)
{
	json_t *root = json_object();
	jset(root, "tool", json_string("moat"));
	jset(root, "version", json_string(MOAT_VERSION));
	jset(root, "command", jstr(r->command));
	json_t *params = json_object();
	for (size_t i = 0; i < r->nparams; i++)
		jset(params, r->param_keys[i], jstr(r->param_vals[i]));
	jset(root, "parameters", params);

	json_t *sum = json_object();
	jset(sum, "files", json_integer((json_int_t)r->files));
	jset(sum, "objects", json_integer((json_int_t)r->checked));
	jset(sum, "skipped", json_integer((json_int_t)r->skipped));
	jset(sum, "violations", json_integer((json_int_t)report_violations(r)));
	jset(sum, "exempted", json_integer((json_int_t)report_exempted(r)));
	jset(sum, "errors", json_integer((json_int_t)report_count_notes(r, REPORT_ERROR)));
	jset(sum, "warnings", json_integer((json_int_t)report_count_notes(r, REPORT_WARNING)));
	jset(root, "summary", sum);

	json_t *findings = json_array(), *errors = json_array(), *warnings = json_array();
	for (size_t i = 0; i < r->nresults; i++)
		json_array_append_new(findings, json_result(r, &r->results[i]));
	for (size_t i = 0; i < r->nnotes; i++)
		json_array_append_new(r->notes[i].kind == REPORT_ERROR ? errors : warnings,
				      json_note(&r->notes[i]));
	jset(root, "findings", findings);
	jset(root, "errors", errors);
	jset(root, "warnings", warnings);
	int ret = json_write(out, root, true);
	json_decref(root);
	return ret;
}

int json_write(FILE *out, json_t *v, bool pretty)
{
	size_t flags = JSON_PRESERVE_ORDER | (pretty ? JSON_INDENT(2) : JSON_COMPACT);
	if (json_dumpf(v, out, flags) < 0 || fputc('\n', out) == EOF)
		return -1;
	return 0;
}

/* ---- SARIF 2.1.0 ---- */

/* Notes become results of these rules, after the component's own. */
static const struct report_rule note_rules[] = {
	{ "moat/invalid-input", "Input moat could not read", "error",
	  "The file must parse and its fields must have the types Kubernetes expects." },
	{ "moat/exception-expired", "Expired exception", "warning",
	  "An exception past its expiry date no longer applies; renew or remove it." },
};

static size_t note_rule(const struct report_note *n)
{
	return n->kind == REPORT_ERROR ? 0 : 1;
}

/* RFC 3986 path characters pass; everything else is percent-encoded. */
static char *uri_encode(const char *path)
{
	struct sbuf b = { 0 };
	bool abs = path[0] == '/';
	if (abs)
		sbuf_puts(&b, "file://");
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~/!$&'()*+,;=:@", *p))
			sbuf_add(&b, (const char *)p, 1);
		else
			sbuf_printf(&b, "%%%02X", *p);
	}
	return sbuf_steal(&b);
}

static json_t *sarif_location(const char *file, uint32_t line, uint32_t col)
{
	json_t *art = json_object();
	/* Standard input has no path in the repository: name it as SARIF does
	 * for artifacts with no location, without a base. */
	bool stdin_input = strcmp(file, "<stdin>") == 0;
	char *uri = stdin_input ? xstrdup("stdin") : uri_encode(file);
	jset(art, "uri", jstr(uri));
	if (file[0] != '/' && !stdin_input)
		jset(art, "uriBaseId", json_string("%SRCROOT%"));
	free(uri);
	json_t *region = json_object();
	jset(region, "startLine", json_integer(line ? line : 1));
	jset(region, "startColumn", json_integer(col ? col : 1));
	json_t *phys = json_object();
	jset(phys, "artifactLocation", art);
	jset(phys, "region", region);
	json_t *loc = json_object();
	jset(loc, "physicalLocation", phys);
	json_t *locs = json_array();
	json_array_append_new(locs, loc);
	return locs;
}

static json_t *sarif_rule(const struct report_rule *rule)
{
	json_t *j = json_object();
	jset(j, "id", jstr(rule->id));
	jset(j, "name", jstr(rule->title));
	json_t *sd = json_object();
	jset(sd, "text", jstr(rule->title));
	jset(j, "shortDescription", sd);
	json_t *fd = json_object();
	jset(fd, "text", jstr(rule->summary));
	jset(j, "fullDescription", fd);
	json_t *help = json_object();
	char *text = xasprintf("%s Each result names the field to change, at its line and "
			       "column. To waive it for one object, add an entry with a reason and "
			       "an expiry date to the exceptions file (moat-policy(1)).",
			       rule->summary);
	jset(help, "text", jstr(text));
	free(text);
	jset(j, "help", help);
	json_t *cfg = json_object();
	jset(cfg, "level", json_string(strcmp(rule->level, "warning") == 0 ? "warning" : "error"));
	jset(j, "defaultConfiguration", cfg);
	json_t *props = json_object();
	json_t *tags = json_array();
	json_array_append_new(tags, json_string("security"));
	json_array_append_new(tags, jstr(rule->level));
	jset(props, "tags", tags);
	/* GitHub ranks code-scanning alerts by this CVSS-like score. */
	jset(props, "security-severity", json_string(strcmp(rule->level, "baseline") == 0 ||
						     strcmp(rule->level, "share-nothing") == 0
						     ? "8.0" : "5.0"));
	jset(j, "properties", props);
	return j;
}

static uint64_t fnv(uint64_t h, const char *s)
{
	for (; s && *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (h ^ 0xff) * 1099511628211ull; /* field separator */
}

static uint64_t fingerprint(const char *rule, const struct report_object *o,
			    const struct report_result *x)
{
	uint64_t h = 1469598103934665603ull;
	h = fnv(h, rule);
	h = fnv(h, o->file);
	h = fnv(h, o->kind);
	h = fnv(h, o->namespace);
	h = fnv(h, o->name);
	h = fnv(h, x->container);
	return fnv(h, x->field);
}

static int write_sarif(const struct report *r, FILE *out)
{
	json_t *rules = json_array();
	for (size_t i = 0; i < r->nrules; i++)
		json_array_append_new(rules, sarif_rule(&r->rules[i]));
	for (size_t i = 0; i < ARRAY_SIZE(note_rules); i++)
		json_array_append_new(rules, sarif_rule(&note_rules[i]));

	json_t *driver = json_object();
	jset(driver, "name", json_string("moat"));
	jset(driver, "version", json_string(MOAT_VERSION));
	jset(driver, "semanticVersion", json_string(MOAT_VERSION));
	jset(driver, "informationUri", json_string("https://github.com/moat-project/moat"));
	jset(driver, "rules", rules);
	json_t *tool = json_object();
	jset(tool, "driver", driver);

	json_t *results = json_array();
	for (size_t i = 0; i < r->nresults; i++) {
		const struct report_result *x = &r->results[i];
		const struct report_object *o = &r->objs[x->obj];
		json_t *res = json_object();
		jset(res, "ruleId", jstr(r->rules[x->rule].id));
		jset(res, "ruleIndex", json_integer((json_int_t)x->rule));
		jset(res, "level", json_string("error"));
		json_t *msg = json_object();
		char label[512];
		char *text = xasprintf("%s: %s", object_label(o, label, sizeof(label)), x->message);
		jset(msg, "text", jstr(text));
		free(text);
		jset(res, "message", msg);
		jset(res, "locations", sarif_location(o->file, x->line, x->col));
		/* Stable across edits that move lines: the object and field, not
		 * the position, identify a finding for code scanning. */
		char fp[17];
		snprintf(fp, sizeof(fp), "%016llx",
			 (unsigned long long)fingerprint(r->rules[x->rule].id, o, x));
		json_t *fps = json_object();
		jset(fps, "moatFinding/v1", json_string(fp));
		jset(res, "partialFingerprints", fps);
		if (x->exempt_reason) {
			json_t *sup = json_object();
			jset(sup, "kind", json_string("external"));
			jset(sup, "status", json_string("accepted"));
			jset(sup, "justification", jstr(x->exempt_reason));
			json_t *sups = json_array();
			json_array_append_new(sups, sup);
			jset(res, "suppressions", sups);
		}
		json_t *props = json_object();
		jset(props, "object", json_object_of(o));
		if (x->container)
			jset(props, "container", jstr(x->container));
		if (x->field)
			jset(props, "field", jstr(x->field));
		jset(res, "properties", props);
		json_array_append_new(results, res);
	}
	for (size_t i = 0; i < r->nnotes; i++) {
		const struct report_note *n = &r->notes[i];
		size_t k = note_rule(n);
		json_t *res = json_object();
		jset(res, "ruleId", json_string(note_rules[k].id));
		jset(res, "ruleIndex", json_integer((json_int_t)(r->nrules + k)));
		jset(res, "level", json_string(n->kind == REPORT_ERROR ? "error" : "warning"));
		json_t *msg = json_object();
		jset(msg, "text", jstr(n->message));
		jset(res, "message", msg);
		jset(res, "locations", sarif_location(n->file, n->line, n->col));
		json_array_append_new(results, res);
	}

	json_t *inv = json_object();
	jset(inv, "executionSuccessful", json_boolean(report_count_notes(r, REPORT_ERROR) == 0));
	json_t *invs = json_array();
	json_array_append_new(invs, inv);

	json_t *run = json_object();
	jset(run, "tool", tool);
	jset(run, "invocations", invs);
	jset(run, "columnKind", json_string("unicodeCodePoints"));
	jset(run, "results", results);
	json_t *runs = json_array();
	json_array_append_new(runs, run);

	json_t *root = json_object();
	jset(root, "$schema", json_string("https://json.schemastore.org/sarif-2.1.0.json"));
	jset(root, "version", json_string("2.1.0"));
	jset(root, "runs", runs);
	int ret = json_write(out, root, true);
	json_decref(root);
	return ret;
}

/* ---- JUnit XML ---- */

static void xml_escape(FILE *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		switch (*p) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&apos;", out); break;
		default:
			/* XML 1.0 has no way to carry other C0 controls. */
			if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
				fputs("?", out);
			else
				fputc(*p, out);
		}
	}
}

static int cmp_by_object(const void *pa, const void *pb, void *ctx)
{
	const struct report *r = ctx;
	const struct report_result *a = &r->results[*(const size_t *)pa];
	const struct report_result *b = &r->results[*(const size_t *)pb];
	if (a->obj != b->obj)
		return a->obj < b->obj ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int write_junit(const struct report *r, FILE *out)
{
	/* One test case per object; its violations are one failure, one line each. */
	size_t *count = xcalloc(r->nobjs + 1, sizeof(*count));
	size_t *order = xcalloc(r->nresults + 1, sizeof(*order));
	for (size_t i = 0; i < r->nresults; i++) {
		order[i] = i;
		if (!r->results[i].exempt_reason)
			count[r->results[i].obj]++;
	}
	qsort_r(order, r->nresults, sizeof(*order), cmp_by_object, (void *)r);
	size_t next = 0;
	size_t failures = 0, errors = report_count_notes(r, REPORT_ERROR);
	for (size_t i = 0; i < r->nobjs; i++)
		failures += count[i] > 0;
	size_t tests = r->nobjs + errors;

	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", out);
	fprintf(out, "<testsuites name=\"moat %s\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\">\n",
		r->command, tests, failures, errors);
	fprintf(out, "  <testsuite name=\"moat %s\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"0\">\n",
		r->command, tests, failures, errors);
	if (r->nparams) {
		fputs("    <properties>\n", out);
		for (size_t i = 0; i < r->nparams; i++) {
			fprintf(out, "      <property name=\"%s\" value=\"", r->param_keys[i]);
			xml_escape(out, r->param_vals[i]);
			fputs("\"/>\n", out);
		}
		fputs("    </properties>\n", out);
	}
	for (size_t i = 0; i < r->nobjs; i++) {
		const struct report_object *o = &r->objs[i];
		char label[512];
		fputs("    <testcase classname=\"", out);
		xml_escape(out, o->file);
		fputs("\" name=\"", out);
		xml_escape(out, object_label(o, label, sizeof(label)));
		fputs("\"", out);
		if (!count[i]) {
			fputs("/>\n", out);
			continue;
		}
		fprintf(out, ">\n      <failure type=\"policy\" message=\"%zu violation%s\">",
			count[i], count[i] == 1 ? "" : "s");
		while (next < r->nresults && r->results[order[next]].obj < i)
			next++;
		for (; next < r->nresults && r->results[order[next]].obj == i; next++) {
			const struct report_result *x = &r->results[order[next]];
			if (x->exempt_reason)
				continue;
			char *line = xasprintf("%s:%u:%u: %s: %s [%s]\n", o->file, x->line, x->col,
					       r->rules[x->rule].level, x->message,
					       r->rules[x->rule].id);
			xml_escape(out, line);
			free(line);
		}
		fputs("</failure>\n    </testcase>\n", out);
	}
	for (size_t i = 0; i < r->nnotes; i++) {
		const struct report_note *n = &r->notes[i];
		if (n->kind != REPORT_ERROR)
			continue;
		fputs("    <testcase classname=\"", out);
		xml_escape(out, n->file);
		fputs("\" name=\"input\">\n      <error type=\"", out);
		xml_escape(out, n->code);
		fputs("\" message=\"", out);
		xml_escape(out, n->message);
		fputs("\">", out);
		char *line = xasprintf("%s:%u:%u: %s\n", n->file, n->line, n->col, n->message);
		xml_escape(out, line);
		free(line);
		fputs("</error>\n    </testcase>\n", out);
	}
	fputs("  </testsuite>\n</testsuites>\n", out);
	free(order);
	free(count);
	return 0;
}

int report_write(const struct report *r, enum report_format fmt, FILE *out)
{
	int ret;
	switch (fmt) {
	case REPORT_JSON:
		ret = write_json(r, out);
		break;
	case REPORT_SARIF:
		ret = write_sarif(r, out);
		break;
	case REPORT_JUNIT:
		ret = write_junit(r, out);
		break;
	default:
		ret = write_text(r, out);
		break;
	}
	if (fflush(out) == EOF || ferror(out))
		return -1;
	return ret;
}
