/* SPDX-License-Identifier: Apache-2.0 */
/*
 * From files to objects to pod templates: which kinds carry a pod spec and
 * where, Lists, Services, and the context every check reports through.
 */
#include "eval.h"

#include <errno.h>

static void active_rules(const struct policy_config *cfg, bool on[R_COUNT])
{
	unsigned v = cfg->minor;
	memset(on, 0, sizeof(bool) * R_COUNT);
	if (cfg->level >= PSS_BASELINE) {
		for (int r = R_APPARMOR; r <= R_WINDOWS_HOSTPROCESS; r++)
			on[r] = true;
		on[R_HOST_PROBES] = v >= 34;
	}
	if (cfg->level == PSS_RESTRICTED) {
		on[R_ALLOW_PRIV_ESC] = v >= 8;
		on[R_CAPS_RESTRICTED] = v >= 22;
		on[R_PROCMOUNT_RESTRICTED] = v >= 35;
		on[R_RESTRICTED_VOLUMES] = true;
		on[R_RUN_AS_NON_ROOT] = true;
		on[R_RUN_AS_USER] = v >= 23;
		on[R_SECCOMP_RESTRICTED] = v >= 19;
		/* A restricted check replaces the baseline one it is stricter than,
		 * from the version it exists in (upstream's "overrides"). */
		on[R_HOSTPATH_VOLUMES] = false;
		on[R_CAPS_BASELINE] = !on[R_CAPS_RESTRICTED];
		on[R_SECCOMP_BASELINE] = !on[R_SECCOMP_RESTRICTED];
		on[R_PROCMOUNT] = !on[R_PROCMOUNT_RESTRICTED];
	}
	if (cfg->share_nothing)
		for (int r = R_SN_HOSTPATH; r <= R_SN_LB_NODEPORTS; r++)
			on[r] = true;
}

void eval_init(struct eval *ev, const struct policy_config *cfg, struct report *rep,
	       const char *file)
{
	memset(ev, 0, sizeof(*ev));
	ev->cfg = cfg;
	ev->rep = rep;
	ev->file = file;
	ev->obj = SIZE_MAX;
	active_rules(cfg, ev->active);
}

void eval_bad_input(struct eval *ev, const struct ynode *at, const char *fmt, ...)
{
	/* Several checks read the same field: say it is wrong once. */
	for (size_t i = ev->first_note; i < ev->rep->nnotes; i++) {
		const struct report_note *n = &ev->rep->notes[i];
		if (n->line == at->line && n->col == at->col && n->kind == REPORT_ERROR &&
		    strcmp(n->file, ev->file) == 0)
			return;
	}
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	report_note(ev->rep, REPORT_ERROR, "invalid-input", ev->file, at->line, at->col,
		    "%s", msg);
	ev->errors++;
}

static const char *const want_names[] = {
	[W_MAP] = "a mapping", [W_SEQ] = "a list", [W_STR] = "a string",
	[W_BOOL] = "a boolean (true or false)", [W_INT] = "an integer",
};

const struct ypair *eval_get(struct eval *ev, const struct ynode *map, const char *path,
			     const char *key, enum want want)
{
	if (!map)
		return NULL;
	const struct ypair *p = ymap_find(map, key);
	if (!p || ynode_is_null(p->val))
		return NULL;
	const struct ynode *v = p->val;
	bool b;
	long long i;
	bool ok;
	switch (want) {
	case W_MAP:
		ok = v->type == YNODE_MAP;
		break;
	case W_SEQ:
		ok = v->type == YNODE_SEQ;
		break;
	case W_STR:
		ok = v->type == YNODE_SCALAR;
		break;
	case W_BOOL:
		ok = ynode_bool(v, &b) == 0;
		break;
	default:
		ok = ynode_int(v, &i) == 0;
		break;
	}
	if (ok)
		return p;
	if (v->type == YNODE_SCALAR)
		eval_bad_input(ev, v, "%s%s%s: expected %s, got %s \"%.64s\"", path, *path ? "." : "",
			       key, want_names[want], ynode_type_name(v), v->str);
	else
		eval_bad_input(ev, v, "%s%s%s: expected %s, got %s", path, *path ? "." : "", key,
			       want_names[want], ynode_type_name(v));
	return NULL;
}

static void list_object(struct eval *ev)
{
	if (ev->obj == SIZE_MAX)
		ev->obj = report_object(ev->rep, ev->file, ev->pending.line, ev->pending.col,
					ev->pending.kind, ev->pending.ns, ev->pending.name);
}

struct report_result *eval_vfinding(struct eval *ev, enum policy_rule rule,
				    const struct ynode *at, const char *container,
				    const char *field, const char *fmt, va_list ap)
{
	list_object(ev);
	struct report_result *x = report_add(ev->rep, rule, ev->obj, at->line, at->col);
	char msg[1024];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	struct arena *a = ev->rep->strings;
	x->message = arena_strndup(a, msg, n < 0 ? 0 : (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
	x->container = report_strdup(ev->rep, container);
	x->field = report_strdup(ev->rep, field);
	return x;
}

struct report_result *eval_finding(struct eval *ev, enum policy_rule rule,
				   const struct ynode *at, const char *container,
				   const char *field, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct report_result *x = eval_vfinding(ev, rule, at, container, field, fmt, ap);
	va_end(ap);
	return x;
}

/* ---- kinds ---- */

/* Where each workload kind keeps its pod template (metadata + spec). */
#define T_SPEC_TEMPLATE { "spec", "template" }, "spec.template", \
	"spec.template.metadata", "spec.template.spec"
static const struct workload {
	const char *kind;
	const char *steps[5]; /* keys from the object down to the template */
	const char *path, *meta_path, *spec_path;
} workloads[] = {
	{ "Pod", { NULL }, "", "metadata", "spec" },
	{ "PodTemplate", { "template" }, "template", "template.metadata", "template.spec" },
	{ "ReplicationController", T_SPEC_TEMPLATE },
	{ "ReplicaSet", T_SPEC_TEMPLATE },
	{ "Deployment", T_SPEC_TEMPLATE },
	{ "StatefulSet", T_SPEC_TEMPLATE },
	{ "DaemonSet", T_SPEC_TEMPLATE },
	{ "Job", T_SPEC_TEMPLATE },
	{ "CronJob", { "spec", "jobTemplate", "spec", "template" }, "spec.jobTemplate.spec.template",
	  "spec.jobTemplate.spec.template.metadata", "spec.jobTemplate.spec.template.spec" },
};

static void check_service(struct eval *ev, const struct ynode *obj)
{
	const struct ypair *spec = eval_get(ev, obj, "", "spec", W_MAP);
	if (!spec || !ev->active[R_SN_NODEPORT])
		return;
	const struct ypair *type;
	const char *t = NULL;
	type = eval_get(ev, spec->val, "spec", "type", W_STR);
	t = type ? type->val->str : "ClusterIP";
	if (strcmp(t, "NodePort") == 0) {
		eval_finding(ev, R_SN_NODEPORT, type->key, NULL, "spec.type",
			     "Service must not be of type NodePort: it opens a port on every node; "
			     "use ClusterIP, or a LoadBalancer with allocateLoadBalancerNodePorts: false");
		return;
	}
	if (strcmp(t, "LoadBalancer") != 0)
		return;
	const struct ypair *alloc = eval_get(ev, spec->val, "spec", "allocateLoadBalancerNodePorts",
					     W_BOOL);
	bool v = true;
	if (alloc)
		ynode_bool(alloc->val, &v);
	if (!v)
		return;
	eval_finding(ev, R_SN_LB_NODEPORTS, alloc ? alloc->key : type->key, NULL,
		     "spec.allocateLoadBalancerNodePorts",
		     "LoadBalancer Service must set allocateLoadBalancerNodePorts: false, or it "
		     "also opens a port on every node");
}

static int cmp_position(const void *pa, const void *pb)
{
	const struct report_result *a = pa, *b = pb;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->col != b->col)
		return a->col < b->col ? -1 : 1;
	return a->rule < b->rule ? -1 : a->rule > b->rule;
}

/* An object's findings in file order, as a reader goes down the manifest. */
static void sort_findings(struct report *rep, size_t first)
{
	size_t n = rep->nresults - first;
	if (n < 2)
		return;
	uint32_t seq = rep->results[first].seq;
	qsort(rep->results + first, n, sizeof(*rep->results), cmp_position);
	for (size_t i = 0; i < n; i++)
		rep->results[first + i].seq = seq + (uint32_t)i;
}

static const char *meta_str(struct eval *ev, const struct ynode *meta, const char *key)
{
	const struct ypair *p = eval_get(ev, meta, "metadata", key, W_STR);
	return p ? p->val->str : NULL;
}

static size_t check_object_depth(const struct policy_config *cfg, struct eval *ev,
				 const struct ynode *obj, int depth)
{
	size_t errors_before = ev->errors;
	ev->first_note = ev->rep->nnotes;
	if (obj->type != YNODE_MAP) {
		eval_bad_input(ev, obj, "expected a Kubernetes object (a mapping with apiVersion "
				      "and kind), got %s", ynode_type_name(obj));
		return ev->errors - errors_before;
	}
	const struct ypair *kindp = eval_get(ev, obj, "", "kind", W_STR);
	const struct ypair *api = eval_get(ev, obj, "", "apiVersion", W_STR);
	if (!kindp || !api) {
		if (ev->errors == errors_before)
			eval_bad_input(ev, obj, "not a Kubernetes object: %s is missing",
				       !kindp ? "kind" : "apiVersion");
		return ev->errors - errors_before;
	}
	const char *kind = kindp->val->str;
	size_t klen = strlen(kind);

	/* "List", and typed lists such as PodList, as `kubectl get -o yaml` writes. */
	const struct ynode *items = ymap_get(obj, "items");
	if (klen >= 4 && strcmp(kind + klen - 4, "List") == 0 && items) {
		if (items->type != YNODE_SEQ) {
			eval_bad_input(ev, items, "items: expected a list, got %s",
				       ynode_type_name(items));
			return ev->errors - errors_before;
		}
		if (depth >= 4) {
			eval_bad_input(ev, obj, "Lists nested more than 4 deep");
			return ev->errors - errors_before;
		}
		for (uint32_t i = 0; i < items->len; i++)
			check_object_depth(cfg, ev, items->items[i], depth + 1);
		return ev->errors - errors_before;
	}

	size_t w;
	for (w = 0; w < ARRAY_SIZE(workloads); w++)
		if (strcmp(kind, workloads[w].kind) == 0)
			break;
	bool service = strcmp(kind, "Service") == 0;
	if (w == ARRAY_SIZE(workloads) && !service) {
		ev->rep->skipped++;
		return 0;
	}

	const struct ypair *metap = eval_get(ev, obj, "", "metadata", W_MAP);
	const struct ynode *meta = metap ? metap->val : NULL;
	const char *name = meta_str(ev, meta, "name");
	if (!name)
		name = meta_str(ev, meta, "generateName");
	ev->obj = SIZE_MAX;
	ev->pending.line = obj->line;
	ev->pending.col = obj->col;
	ev->pending.kind = kind;
	ev->pending.ns = meta_str(ev, meta, "namespace");
	ev->pending.name = name ? name : "<unnamed>";
	ev->rep->checked++;
	if (ev->rep->keep_all_objects)
		list_object(ev);
	size_t first = ev->rep->nresults;
	if (service) {
		check_service(ev, obj);
		return ev->errors - errors_before;
	}

	/* Walk down to the template: each step must be a mapping. */
	const struct workload *wl = &workloads[w];
	const struct ynode *tmpl = obj;
	char path[64] = "";
	for (size_t k = 0; wl->steps[k]; k++) {
		const struct ypair *p = eval_get(ev, tmpl, path, wl->steps[k], W_MAP);
		if (!p) {
			if (ev->errors == errors_before)
				eval_bad_input(ev, tmpl, "%s has no %s%s%s: there is no pod to check",
					       kind, path, *path ? "." : "", wl->steps[k]);
			return ev->errors - errors_before;
		}
		tmpl = p->val;
		path_join(path, sizeof(path), path, wl->steps[k], -1);
	}
	const char *meta_path = wl->meta_path, *spec_path = wl->spec_path;
	const struct ypair *pmeta = eval_get(ev, tmpl, wl->path, "metadata", W_MAP);
	const struct ypair *pspec = eval_get(ev, tmpl, wl->path, "spec", W_MAP);
	if (!pspec) {
		if (ev->errors == errors_before)
			eval_bad_input(ev, tmpl, "%s has no %s: there is no pod to check", kind,
				       spec_path);
		return ev->errors - errors_before;
	}
	pss_eval_pod(ev, pmeta ? pmeta->val : NULL, pspec->val, meta_path, spec_path);
	sort_findings(ev->rep, first);
	return ev->errors - errors_before;
}

size_t policy_check_object(const struct policy_config *cfg, const char *file,
			   const struct ynode *obj, struct report *rep)
{
	struct eval ev;
	eval_init(&ev, cfg, rep, file);
	return check_object_depth(cfg, &ev, obj, 0);
}

static void check_doc(const struct ydoc *doc, void *ctx)
{
	struct eval *ev = ctx;
	if (doc->root)
		check_object_depth(ev->cfg, ev, doc->root, 0);
}

size_t policy_check_buffer(const struct policy_config *cfg, const char *file,
			   const char *buf, size_t len, struct report *rep)
{
	struct moat_error err = { 0 };
	struct eval ev;
	eval_init(&ev, cfg, rep, file);
	/* Documents before a syntax error are still checked: nothing is lost. */
	int r = yaml_parse_each(file, buf, len, check_doc, &ev, &err);
	size_t errors = ev.errors;
	if (r < 0) {
		uint32_t line, col;
		const char *msg = moat_error_where(&err, file, &line, &col);
		report_note(rep, REPORT_ERROR, "invalid-input", file, line, col, "%s", msg);
		errors++;
	}
	return errors;
}

/* One buffer for every file a thread reads: the pages stay ours from file to
 * file. */
static __thread struct sbuf buf;

void policy_thread_exit(void)
{
	sbuf_release(&buf);
	arena_thread_exit();
}

size_t policy_check_file(const struct policy_config *cfg, const char *path,
			 struct report *rep)
{
	_cleanup_free_ char *display = path_display(path);
	struct moat_error err = { 0 };
	rep->files++;
	if (read_file_sbuf(path, MOAT_MAX_INPUT, &buf, &err) < 0) {
		/* read_file names the path itself; the note carries it apart. */
		uint32_t line, col;
		const char *msg = moat_error_where(&err, strcmp(path, "-") == 0 ? "<stdin>" : path,
						   &line, &col);
		report_note(rep, REPORT_ERROR, "invalid-input", display, line, col, "%s", msg);
		return 1;
	}
	size_t errors = policy_check_buffer(cfg, display, buf.s, buf.len, rep);
	if (buf.cap > (8u << 20)) /* do not keep a huge one around */
		sbuf_release(&buf);
	return errors;
}
