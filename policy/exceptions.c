/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Exceptions: a reviewed file, kept beside the manifests, that waives one
 * check for the objects it names, with a reason and an expiry date.  They
 * live outside the objects on purpose: an annotation on a workload would let
 * the workload exempt itself.
 *
 *   apiVersion: moat.dev/v1      # optional; lets a directory scan skip this
 *   kind: PolicyExceptions       # file as an object of another kind
 *   exceptions:
 *   - check: pss/runAsNonRoot
 *     namespace: legacy        # globs; at least one matcher is required
 *     name: billing-*
 *     kind: Deployment
 *     file: "deploy/legacy-*.yaml"  # the path as reports print it
 *     reason: vendor image runs as root until SEC-123 ships
 *     expires: 2027-03-31      # last day it applies (UTC)
 */
#include "policy.h"

#include <errno.h>
#include <time.h>

struct exception {
	int rule;
	char *namespace, *name, *kind, *file; /* globs; NULL matches anything */
	char *reason;
	char *expires;
	long expires_days;
	bool expired;
	char *where; /* "exceptions.yaml:4:3" */
	char *src_file;
	uint32_t line, col;
};

struct policy_exceptions {
	struct exception *items;
	size_t n;
};

static void exception_release(struct exception *e)
{
	free(e->namespace);
	free(e->name);
	free(e->kind);
	free(e->file);
	free(e->reason);
	free(e->expires);
	free(e->where);
	free(e->src_file);
}

void policy_exceptions_free(struct policy_exceptions *ex)
{
	if (!ex)
		return;
	for (size_t i = 0; i < ex->n; i++)
		exception_release(&ex->items[i]);
	free(ex->items);
	free(ex);
}

static int bad(struct moat_error *err, const char *file, const struct ynode *at,
	       const char *fmt, ...) PRINTF(4, 5);
static int bad(struct moat_error *err, const char *file, const struct ynode *at,
	       const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return moat_error_set(err, EINVAL, "%s:%u:%u: %s", file, at->line, at->col, msg);
}

static int parse_one(const char *file, const struct ynode *n, uint32_t idx, long today,
		     struct exception *e, struct moat_error *err)
{
	static const char *const keys[] = { "check", "namespace", "name", "kind", "file",
					    "reason", "expires" };
	if (n->type != YNODE_MAP)
		return bad(err, file, n, "exceptions[%u]: expected a mapping, got %s", idx,
			   ynode_type_name(n));
	for (uint32_t i = 0; i < n->len; i++) {
		const struct ypair *p = &n->pairs[i];
		bool known = false;
		for (size_t k = 0; k < ARRAY_SIZE(keys) && !known; k++)
			known = yscalar_is(p->key, keys[k]);
		if (!known)
			return bad(err, file, p->key,
				   "exceptions[%u]: unknown field \"%s\" (expected check, namespace, "
				   "name, kind, file, reason, expires)", idx,
				   p->key->type == YNODE_SCALAR ? p->key->str : "?");
		if (p->val->type != YNODE_SCALAR || ynode_is_null(p->val))
			return bad(err, file, p->val, "exceptions[%u].%s: expected a string, got %s",
				   idx, p->key->str, ynode_type_name(p->val));
	}
	const struct ynode *check = ymap_get(n, "check");
	if (!check)
		return bad(err, file, n, "exceptions[%u]: check is required", idx);
	e->rule = policy_rule_find(check->str);
	if (e->rule < 0)
		return bad(err, file, check,
			   "exceptions[%u].check: unknown check \"%s\" (see moat policy check --help "
			   "for the ids)", idx, check->str);
	const struct ynode *v;
	if ((v = ymap_get(n, "namespace")))
		e->namespace = xstrdup(v->str);
	if ((v = ymap_get(n, "name")))
		e->name = xstrdup(v->str);
	if ((v = ymap_get(n, "kind")))
		e->kind = xstrdup(v->str);
	if ((v = ymap_get(n, "file")))
		e->file = xstrdup(v->str);
	if (!e->namespace && !e->name && !e->kind && !e->file)
		return bad(err, file, check,
			   "exceptions[%u]: name at least one of namespace, name, kind or file "
			   "(use file: \"*\" to waive %s everywhere)", idx, check->str);
	const struct ynode *reason = ymap_get(n, "reason");
	if (!reason || !*reason->str)
		return bad(err, file, reason ? reason : n,
			   "exceptions[%u]: reason is required: say why the check is waived", idx);
	e->reason = xstrdup(reason->str);
	const struct ynode *exp = ymap_get(n, "expires");
	if (!exp)
		return bad(err, file, n, "exceptions[%u]: expires is required (YYYY-MM-DD)", idx);
	e->expires_days = date_parse_days(exp->str);
	if (e->expires_days < 0)
		return bad(err, file, exp,
			   "exceptions[%u].expires: \"%s\" is not a real date (YYYY-MM-DD)",
			   idx, exp->str);
	e->expires = xstrdup(exp->str);
	/* An exception holds through the whole of its expiry day. */
	e->expired = today > e->expires_days;
	e->src_file = xstrdup(file);
	e->line = n->line;
	e->col = n->col;
	e->where = xasprintf("%s:%u:%u", file, n->line, n->col);
	return 0;
}

int policy_exceptions_parse(const char *name, const char *buf, size_t len, long today,
			    struct policy_exceptions **out, struct moat_error *err)
{
	*out = NULL;
	struct yfile *yf = NULL;
	if (yaml_parse(name, buf, len, &yf, err) < 0) {
		yfile_free(yf);
		return -1;
	}
	struct policy_exceptions *ex = xcalloc(1, sizeof(*ex));
	int ret = 0;
	size_t cap = 0;
	if (yf->ndocs != 1 || !yf->docs[0].root || yf->docs[0].root->type != YNODE_MAP) {
		ret = moat_error_set(err, EINVAL,
				     "%s:1:1: expected one YAML document with an \"exceptions\" list",
				     name);
		goto out;
	}
	const struct ynode *root = yf->docs[0].root;
	for (uint32_t i = 0; i < root->len; i++) {
		const struct ynode *k = root->pairs[i].key;
		if (!yscalar_is(k, "exceptions") && !yscalar_is(k, "apiVersion") &&
		    !yscalar_is(k, "kind")) {
			ret = bad(err, name, k, "unknown field \"%s\" (expected exceptions)",
				  k->type == YNODE_SCALAR ? k->str : "?");
			goto out;
		}
	}
	const struct ynode *kind = ymap_get(root, "kind");
	if (kind && !yscalar_is(kind, "PolicyExceptions")) {
		ret = bad(err, name, kind, "kind: expected PolicyExceptions, got %s",
			  kind->type == YNODE_SCALAR ? kind->str : ynode_type_name(kind));
		goto out;
	}
	const struct ynode *list = ymap_get(root, "exceptions");
	if (!list || list->type != YNODE_SEQ) {
		ret = bad(err, name, list ? list : root, "exceptions: expected a list, got %s",
			  ynode_type_name(list));
		goto out;
	}
	for (uint32_t i = 0; i < list->len; i++) {
		ex->items = grow_array(ex->items, &cap, ex->n + 1, sizeof(*ex->items));
		struct exception *e = &ex->items[ex->n];
		memset(e, 0, sizeof(*e));
		if (parse_one(name, list->items[i], i, today, e, err) < 0) {
			exception_release(e);
			ret = -1;
			goto out;
		}
		ex->n++;
	}
out:
	yfile_free(yf);
	if (ret < 0) {
		policy_exceptions_free(ex);
		return ret;
	}
	*out = ex;
	return 0;
}

int policy_exceptions_load(const char *path, long today, struct policy_exceptions **out,
			   struct moat_error *err)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_free_ char *display = path_display(path);
	size_t len;
	*out = NULL;
	if (read_file(path, 4u << 20, &buf, &len, err) < 0)
		return moat_error_wrap(err, "exceptions file");
	return policy_exceptions_parse(display, buf, len, today, out, err);
}

void policy_exceptions_report_expired(const struct policy_exceptions *ex, struct report *rep)
{
	for (size_t i = 0; ex && i < ex->n; i++) {
		const struct exception *e = &ex->items[i];
		if (e->expired)
			report_note(rep, REPORT_WARNING, "exception-expired", e->src_file, e->line,
				    e->col,
				    "exception for %s expired on %s and no longer applies (reason "
				    "was: %s)", policy_rules[e->rule].id, e->expires, e->reason);
	}
}

static bool matches(const char *glob, const char *s)
{
	return !glob || glob_match(glob, s ? s : "");
}

void policy_exceptions_apply(const struct policy_exceptions *ex, struct report *rep)
{
	for (size_t i = 0; ex && i < rep->nresults; i++) {
		struct report_result *x = &rep->results[i];
		const struct report_object *o = &rep->objs[x->obj];
		for (size_t k = 0; k < ex->n; k++) {
			const struct exception *e = &ex->items[k];
			/* An object with no namespace lands in "default" when applied. */
			if (e->expired || (size_t)e->rule != x->rule ||
			    !matches(e->namespace, o->namespace ? o->namespace : "default") ||
			    !matches(e->name, o->name) || !matches(e->kind, o->kind) ||
			    !matches(e->file, o->file))
				continue;
			x->exempt_reason = report_strdup(rep, e->reason);
			x->exempt_where = report_strdup(rep, e->where);
			break;
		}
	}
}
