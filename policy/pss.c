/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Pod Security Standards checks, and the share-nothing rules that look
 * at a pod.  Semantics follow k8s.io/pod-security-admission (policy/check_*.go):
 * each check applies its newest variant at or below the requested version,
 * restricted replaces some baseline checks by stricter ones ("overrides"),
 * Windows pods are exempt from three restricted checks from v1.25, and pods
 * in a user namespace (hostUsers: false) from three more from v1.35.
 *
 * Where upstream writes one message per check and pod, moat writes one
 * finding per offending field, at that field's line and column, so the user
 * sees exactly which line to change.
 */
#include "eval.h"

#include <errno.h>

enum who_kind { WHO_CONTAINER, WHO_INIT, WHO_EPHEMERAL };

struct container {
	const struct ynode *node, *sc; /* sc: its securityContext, may be NULL */
	const char *name;
	enum who_kind kind;
	char path[96];     /* spec.containers[0] */
	char sc_path[128]; /* spec.containers[0].securityContext */
};

struct pod {
	const struct ynode *meta, *spec, *psc, *annotations;
	const struct ypair *psc_pair;
	const char *spec_path, *meta_path;
	char psc_path[96];
	char ann_path[96];
	struct container *c;
	size_t nc;
	bool windows; /* spec.os.name == "windows" */
	bool userns;  /* spec.hostUsers == false */
};

static const char *label(const struct container *c, char *buf, size_t n)
{
	static const char *const kinds[] = { "container", "init container", "ephemeral container" };
	if (!c)
		return "pod";
	/* Only formatted when a finding is written: snprintf costs nothing here. */
	snprintf(buf, n, "%s \"%s\"", kinds[c->kind], c->name);
	return buf;
}
#define WHO(c) label((c), who_buf, sizeof(who_buf))

/* Finding on field `key` of map at path, pointing at the key's own line. */
static void field_finding(struct eval *ev, enum policy_rule rule, const struct ypair *p,
			  const struct container *c, const char *path, const char *key,
			  const char *fmt, ...) PRINTF(7, 8);
static void field_finding(struct eval *ev, enum policy_rule rule, const struct ypair *p,
			  const struct container *c, const char *path, const char *key,
			  const char *fmt, ...)
{
	char field[256];
	path_join(field, sizeof(field), path, key, -1);
	va_list ap;
	va_start(ap, fmt);
	eval_vfinding(ev, rule, p->key, c ? c->name : NULL, field, fmt, ap);
	va_end(ap);
}

static int get_bool(struct eval *ev, const struct ynode *map, const char *path,
		    const char *key, const struct ypair **at)
{
	const struct ypair *p = eval_get(ev, map, path, key, W_BOOL);
	bool v = false;
	if (at)
		*at = p;
	if (!p)
		return -1;
	ynode_bool(p->val, &v);
	return v;
}

static const char *get_str(struct eval *ev, const struct ynode *map, const char *path,
			   const char *key, const struct ypair **at)
{
	const struct ypair *p = eval_get(ev, map, path, key, W_STR);
	if (at)
		*at = p;
	return p ? p->val->str : NULL;
}

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

/* ---- pod structure ---- */

static void load_containers(struct eval *ev, struct pod *p, const char *list,
			    enum who_kind kind, size_t *cap)
{
	const struct ypair *lp = eval_get(ev, p->spec, p->spec_path, list, W_SEQ);
	if (!lp)
		return;
	for (uint32_t i = 0; i < lp->val->len; i++) {
		const struct ynode *n = lp->val->items[i];
		p->c = grow_array(p->c, cap, p->nc + 1, sizeof(*p->c));
		struct container *c = &p->c[p->nc];
		memset(c, 0, sizeof(*c));
		path_join(c->path, sizeof(c->path), p->spec_path, list, i);
		if (n->type != YNODE_MAP) {
			eval_bad_input(ev, n, "%s: expected a container (a mapping), got %s",
				       c->path, ynode_type_name(n));
			continue;
		}
		c->node = n;
		c->kind = kind;
		c->name = get_str(ev, n, c->path, "name", NULL);
		if (!c->name)
			c->name = "";
		path_join(c->sc_path, sizeof(c->sc_path), c->path, "securityContext", -1);
		const struct ypair *sc = eval_get(ev, n, c->path, "securityContext", W_MAP);
		c->sc = sc ? sc->val : NULL;
		p->nc++;
	}
}

/* Where a missing container field belongs: its securityContext if there is
 * one, otherwise the container itself. */
static const struct ynode *container_anchor(const struct container *c)
{
	const struct ypair *sc = ymap_find(c->node, "securityContext");
	if (sc)
		return sc->key;
	const struct ypair *name = ymap_find(c->node, "name");
	return name ? name->key : c->node;
}

/* ---- baseline ---- */

static bool apparmor_type_ok(const char *t)
{
	return strcmp(t, "RuntimeDefault") == 0 || strcmp(t, "Localhost") == 0;
}

static void apparmor_field(struct eval *ev, const struct ynode *sc, const char *path,
			   const struct container *c)
{
	char who_buf[300], p2[160];
	const struct ypair *ap = eval_get(ev, sc, path, "appArmorProfile", W_MAP);
	if (!ap)
		return;
	path_join(p2, sizeof(p2), path, "appArmorProfile", -1);
	const struct ypair *t;
	const char *type = get_str(ev, ap->val, p2, "type", &t);
	if (type && apparmor_type_ok(type))
		return;
	field_finding(ev, R_APPARMOR, t ? t : ap, c, t ? p2 : path,
		      t ? "type" : "appArmorProfile",
		      "%s must not set AppArmor profile type to \"%s\": use RuntimeDefault or Localhost",
		WHO(c), type ? type : "");
}

static void check_apparmor(struct eval *ev, const struct pod *p)
{
	static const char prefix[] = "container.apparmor.security.beta.kubernetes.io/";
	apparmor_field(ev, p->psc, p->psc_path, NULL);
	for (size_t i = 0; i < p->nc; i++)
		apparmor_field(ev, p->c[i].sc, p->c[i].sc_path, &p->c[i]);
	if (!p->annotations)
		return;
	for (uint32_t i = 0; i < p->annotations->len; i++) {
		const struct ypair *a = &p->annotations->pairs[i];
		if (a->key->type != YNODE_SCALAR ||
		    strncmp(a->key->str, prefix, sizeof(prefix) - 1) != 0)
			continue;
		const char *v = a->val->type == YNODE_SCALAR && !ynode_is_null(a->val) ? a->val->str : "";
		if (!*v || strcmp(v, "runtime/default") == 0 || strncmp(v, "localhost/", 10) == 0)
			continue;
		_cleanup_free_ char *field = xasprintf("%s[%s]", p->ann_path, a->key->str);
		eval_finding(ev, R_APPARMOR, a->key, NULL, field,
			     "annotation %s=\"%s\" disables AppArmor: use runtime/default or localhost/<profile>",
			     a->key->str, v);
	}
}

static const char *const baseline_caps[] = {
	"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
};

/* Calls fn for each string in securityContext.capabilities.<list>. */
static const struct ypair *caps_list(struct eval *ev, const struct container *c,
				     const char *list, char *path, size_t n)
{
	char cpath[160];
	const struct ypair *caps = eval_get(ev, c->sc, c->sc_path, "capabilities", W_MAP);
	if (!caps)
		return NULL;
	path_join(cpath, sizeof(cpath), c->sc_path, "capabilities", -1);
	path_join(path, n, cpath, list, -1);
	return eval_get(ev, caps->val, cpath, list, W_SEQ);
}

static void check_caps_baseline(struct eval *ev, const struct pod *p)
{
	char who_buf[300], path[192];
	for (size_t i = 0; i < p->nc; i++) {
		const struct container *c = &p->c[i];
		const struct ypair *add = caps_list(ev, c, "add", path, sizeof(path));
		if (!add)
			continue;
		for (uint32_t k = 0; k < add->val->len; k++) {
			const struct ynode *cap = add->val->items[k];
			if (cap->type != YNODE_SCALAR) {
				eval_bad_input(ev, cap, "%s[%u]: expected a capability name, got %s",
					       path, k, ynode_type_name(cap));
				continue;
			}
			if (in_list(cap->str, baseline_caps, ARRAY_SIZE(baseline_caps)))
				continue;
			_cleanup_free_ char *field = xasprintf("%s[%u]", path, k);
			eval_finding(ev, R_CAPS_BASELINE, cap, c->name, field,
				     "%s must not add capability \"%s\": baseline allows only the "
				     "runtime's defaults (names without CAP_, in capitals)",
				     WHO(c), cap->str);
		}
	}
}

static void check_host_namespaces(struct eval *ev, const struct pod *p, enum policy_rule net,
				  enum policy_rule pid, enum policy_rule ipc)
{
	static const char *const keys[] = { "hostNetwork", "hostPID", "hostIPC" };
	const enum policy_rule rules[] = { net, pid, ipc };
	for (size_t i = 0; i < 3; i++) {
		const struct ypair *at;
		if (get_bool(ev, p->spec, p->spec_path, keys[i], &at) != 1)
			continue;
		field_finding(ev, rules[i], at, NULL, p->spec_path, keys[i],
			      rules[i] < R_SN_HOSTPATH
				? "pod must not set %s=true: it shares the host's namespace"
				: "pod must not set %s=true: a pod shares nothing with the node; remove it",
			keys[i]);
	}
}

/* Each volume of the pod, with its path. */
#define FOR_VOLUMES(ev, p, vols, v, vpath, i)                                          \
	for (uint32_t i = 0; vols && i < vols->val->len; i++)                          \
		if ((v = vols->val->items[i]),                                         \
		    path_join(vpath, sizeof(vpath), p->spec_path, "volumes", i), \
		    v->type != YNODE_MAP                                               \
			    ? (eval_bad_input(ev, v, "%s: expected a volume (a mapping), got %s", \
					      vpath, ynode_type_name(v)), 0)           \
			    : 1)

static void check_hostpath(struct eval *ev, const struct pod *p, enum policy_rule rule)
{
	char vpath[128];
	const struct ynode *v;
	const struct ypair *vols = eval_get(ev, p->spec, p->spec_path, "volumes", W_SEQ);
	FOR_VOLUMES(ev, p, vols, v, vpath, i) {
		const struct ypair *hp = eval_get(ev, v, vpath, "hostPath", W_MAP);
		if (!hp)
			continue;
		const char *name = get_str(ev, v, vpath, "name", NULL);
		const char *hpath = get_str(ev, hp->val, vpath, "path", NULL);
		field_finding(ev, rule, hp, NULL, vpath, "hostPath",
			      rule == R_HOSTPATH_VOLUMES
				? "volume \"%s\" must not be a hostPath (of \"%s\"): use emptyDir, configMap, secret or a PVC"
				: "volume \"%s\" mounts the node's \"%s\": a pod has its own disk; use emptyDir or a PVC",
			name ? name : "", hpath ? hpath : "");
	}
}

static void check_host_ports(struct eval *ev, const struct pod *p, enum policy_rule rule)
{
	char who_buf[300], ppath[192];
	for (size_t i = 0; i < p->nc; i++) {
		const struct container *c = &p->c[i];
		const struct ypair *ports = eval_get(ev, c->node, c->path, "ports", W_SEQ);
		for (uint32_t k = 0; ports && k < ports->val->len; k++) {
			const struct ynode *port = ports->val->items[k];
			path_join(ppath, sizeof(ppath), c->path, "ports", k);
			if (port->type != YNODE_MAP) {
				eval_bad_input(ev, port, "%s: expected a port (a mapping), got %s",
					       ppath, ynode_type_name(port));
				continue;
			}
			const struct ypair *hp = eval_get(ev, port, ppath, "hostPort", W_INT);
			long long v = 0;
			if (!hp || ynode_int(hp->val, &v) < 0 || v == 0)
				continue;
			field_finding(ev, rule, hp, c, ppath, "hostPort",
				      rule == R_HOST_PORTS
					? "%s must not use hostPort %lld: remove it and expose the port through a Service"
					: "%s binds node port %lld: a pod shares nothing with the node; use a Service",
				WHO(c), v);
		}
	}
}

static void handler_host(struct eval *ev, const struct container *c, const struct ynode *h,
			 const char *hpath)
{
	static const char *const kinds[] = { "httpGet", "tcpSocket" };
	char who_buf[300], kpath[256];
	for (size_t i = 0; i < 2; i++) {
		const struct ypair *k = eval_get(ev, h, hpath, kinds[i], W_MAP);
		if (!k)
			continue;
		path_join(kpath, sizeof(kpath), hpath, kinds[i], -1);
		const struct ypair *at;
		const char *host = get_str(ev, k->val, kpath, "host", &at);
		if (!host || !*host)
			continue;
		field_finding(ev, R_HOST_PROBES, at, c, kpath, "host",
			      "%s must not point a probe or lifecycle handler at host \"%s\": leave host unset "
			"so it targets the pod itself", WHO(c), host);
	}
}

static void check_host_probes(struct eval *ev, const struct pod *p)
{
	static const char *const probes[] = { "livenessProbe", "readinessProbe", "startupProbe" };
	static const char *const hooks[] = { "postStart", "preStop" };
	char hpath[192];
	for (size_t i = 0; i < p->nc; i++) {
		const struct container *c = &p->c[i];
		for (size_t k = 0; k < ARRAY_SIZE(probes); k++) {
			const struct ypair *pr = eval_get(ev, c->node, c->path, probes[k], W_MAP);
			if (!pr)
				continue;
			path_join(hpath, sizeof(hpath), c->path, probes[k], -1);
			handler_host(ev, c, pr->val, hpath);
		}
		const struct ypair *lc = eval_get(ev, c->node, c->path, "lifecycle", W_MAP);
		if (!lc)
			continue;
		char lpath[160];
		path_join(lpath, sizeof(lpath), c->path, "lifecycle", -1);
		for (size_t k = 0; k < ARRAY_SIZE(hooks); k++) {
			const struct ypair *h = eval_get(ev, lc->val, lpath, hooks[k], W_MAP);
			if (!h)
				continue;
			path_join(hpath, sizeof(hpath), lpath, hooks[k], -1);
			handler_host(ev, c, h->val, hpath);
		}
	}
}

static void check_privileged(struct eval *ev, const struct pod *p)
{
	char who_buf[300];
	for (size_t i = 0; i < p->nc; i++) {
		const struct container *c = &p->c[i];
		const struct ypair *at;
		if (get_bool(ev, c->sc, c->sc_path, "privileged", &at) != 1)
			continue;
		field_finding(ev, R_PRIVILEGED, at, c, c->sc_path, "privileged",
			      "%s must not set securityContext.privileged=true", WHO(c));
	}
}

static void check_procmount(struct eval *ev, const struct pod *p, enum policy_rule rule)
{
	char who_buf[300];
	/* From v1.35 a pod in its own user namespace may unmask /proc at baseline. */
	if (rule == R_PROCMOUNT && ev->cfg->minor >= 35 && p->userns)
		return;
	for (size_t i = 0; i < p->nc; i++) {
		const struct container *c = &p->c[i];
		const struct ypair *at;
		const char *pm = get_str(ev, c->sc, c->sc_path, "procMount", &at);
		if (!pm || strcmp(pm, "Default") == 0)
			continue;
		field_finding(ev, rule, at, c, c->sc_path, "procMount",
			      "%s must not set securityContext.procMount to \"%s\": use Default%s", WHO(c), pm,
			rule == R_PROCMOUNT && ev->cfg->minor >= 35 ? " (or run the pod with hostUsers: false)" : "");
	}
}

static void selinux_field(struct eval *ev, const struct ynode *sc, const char *path,
			  const struct container *c)
{
	static const char *const types[] = { "", "container_t", "container_init_t",
					     "container_kvm_t", "container_engine_t" };
	/* container_engine_t joined the list in v1.31. */
	size_t ntypes = ev->cfg->minor >= 31 ? 5 : 4;
	char who_buf[300], opath[160];
	const struct ypair *o = eval_get(ev, sc, path, "seLinuxOptions", W_MAP);
	if (!o)
		return;
	path_join(opath, sizeof(opath), path, "seLinuxOptions", -1);
	const struct ypair *at;
	const char *type = get_str(ev, o->val, opath, "type", &at);
	if (type && !in_list(type, types, ntypes)) {
		field_finding(ev, R_SELINUX, at, c, opath, "type",
			      "%s must not set seLinuxOptions.type to \"%s\": use container_t, "
			"container_init_t or container_kvm_t%s, or leave it unset", WHO(c), type,
			ntypes == 5 ? " (or container_engine_t)" : "");
	}
	static const char *const unset[] = { "user", "role" };
	for (size_t i = 0; i < 2; i++) {
		const char *v = get_str(ev, o->val, opath, unset[i], &at);
		if (!v || !*v)
			continue;
		field_finding(ev, R_SELINUX, at, c, opath, unset[i],
			      "%s must not set seLinuxOptions.%s (\"%s\"): remove it", WHO(c), unset[i], v);
	}
}

static void check_selinux(struct eval *ev, const struct pod *p)
{
	selinux_field(ev, p->psc, p->psc_path, NULL);
	for (size_t i = 0; i < p->nc; i++)
		selinux_field(ev, p->c[i].sc, p->c[i].sc_path, &p->c[i]);
}

static bool seccomp_annotation_ok(const char *v)
{
	return strcmp(v, "runtime/default") == 0 || strcmp(v, "docker/default") == 0 ||
	       strncmp(v, "localhost/", 10) == 0;
}

static void seccomp_annotation(struct eval *ev, const struct pod *p, const char *key)
{
	const struct ypair *a = ymap_find(p->annotations, key);
	if (!a)
		return;
	const char *v = a->val->type == YNODE_SCALAR && !ynode_is_null(a->val) ? a->val->str : "";
	if (seccomp_annotation_ok(v))
		return;
	_cleanup_free_ char *field = xasprintf("%s[%s]", p->ann_path, key);
	eval_finding(ev, R_SECCOMP_BASELINE, a->key, NULL, field,
		     "annotation %s=\"%s\" disables seccomp: use runtime/default or localhost/<profile>",
		     key, v);
}

static bool seccomp_type_ok(const char *t)
{
	return t && (strcmp(t, "RuntimeDefault") == 0 || strcmp(t, "Localhost") == 0);
}

/* Returns 1 if a valid profile is set, 0 if none is, -1 if a bad one is
 * (and reports it under rule). */
static int seccomp_field(struct eval *ev, const struct ynode *sc, const char *path,
			 const struct container *c, enum policy_rule rule)
{
	char who_buf[300], spath[160];
	const struct ypair *sp = eval_get(ev, sc, path, "seccompProfile", W_MAP);
	if (!sp)
		return 0;
	path_join(spath, sizeof(spath), path, "seccompProfile", -1);
	const struct ypair *at;
	const char *type = get_str(ev, sp->val, spath, "type", &at);
	if (seccomp_type_ok(type))
		return 1;
	field_finding(ev, rule, at ? at : sp, c, at ? spath : path, at ? "type" : "seccompProfile",
		      "%s must not set seccompProfile.type to \"%s\": use RuntimeDefault or Localhost",
		WHO(c), type ? type : "");
	return -1;
}

static void check_seccomp_baseline(struct eval *ev, const struct pod *p)
{
	if (ev->cfg->minor < 19) {
		/* Before v1.19 seccomp was annotations only, and the fields did not count. */
		if (!p->annotations)
			return;
		seccomp_annotation(ev, p, "seccomp.security.alpha.kubernetes.io/pod");
		for (size_t i = 0; i < p->nc; i++) {
			char key[512];
			snprintf(key, sizeof(key), "container.seccomp.security.alpha.kubernetes.io/%s",
				 p->c[i].name);
			seccomp_annotation(ev, p, key);
		}
		return;
	}
	seccomp_field(ev, p->psc, p->psc_path, NULL, R_SECCOMP_BASELINE);
	for (size_t i = 0; i < p->nc; i++)
		seccomp_field(ev, p->c[i].sc, p->c[i].sc_path, &p->c[i], R_SECCOMP_BASELINE);
}

static const struct {
	const char *name;
	unsigned since;
} safe_sysctls[] = {
	{ "kernel.shm_rmid_forced", 0 },
	{ "net.ipv4.ip_local_port_range", 0 },
	{ "net.ipv4.tcp_syncookies", 0 },
	{ "net.ipv4.ping_group_range", 0 },
	{ "net.ipv4.ip_unprivileged_port_start", 0 },
	{ "net.ipv4.ip_local_reserved_ports", 27 },
	{ "net.ipv4.tcp_keepalive_time", 29 },
	{ "net.ipv4.tcp_fin_timeout", 29 },
	{ "net.ipv4.tcp_keepalive_intvl", 29 },
	{ "net.ipv4.tcp_keepalive_probes", 29 },
	{ "net.ipv4.tcp_rmem", 32 },
	{ "net.ipv4.tcp_wmem", 32 },
	{ "net.ipv4.tcp_slow_start_after_idle", 37 },
	{ "net.ipv4.tcp_notsent_lowat", 37 },
};

static void check_sysctls(struct eval *ev, const struct pod *p)
{
	char spath[160];
	const struct ypair *list = eval_get(ev, p->psc, p->psc_path, "sysctls", W_SEQ);
	for (uint32_t i = 0; list && i < list->val->len; i++) {
		const struct ynode *s = list->val->items[i];
		path_join(spath, sizeof(spath), p->psc_path, "sysctls", i);
		if (s->type != YNODE_MAP) {
			eval_bad_input(ev, s, "%s: expected a sysctl (a mapping), got %s", spath,
				       ynode_type_name(s));
			continue;
		}
		const struct ypair *at;
		const char *name = get_str(ev, s, spath, "name", &at);
		if (!name)
			continue;
		bool safe = false;
		for (size_t k = 0; k < ARRAY_SIZE(safe_sysctls) && !safe; k++)
			safe = ev->cfg->minor >= safe_sysctls[k].since &&
			       strcmp(name, safe_sysctls[k].name) == 0;
		if (safe)
			continue;
		field_finding(ev, R_SYSCTLS, at, NULL, spath, "name",
			      "pod must not set sysctl \"%s\": it is not on the v1.%u list of safe sysctls",
			name, ev->cfg->minor);
	}
}

static void hostprocess_field(struct eval *ev, const struct ynode *sc, const char *path,
			      const struct container *c)
{
	char who_buf[300], wpath[160];
	const struct ypair *w = eval_get(ev, sc, path, "windowsOptions", W_MAP);
	if (!w)
		return;
	path_join(wpath, sizeof(wpath), path, "windowsOptions", -1);
	const struct ypair *at;
	if (get_bool(ev, w->val, wpath, "hostProcess", &at) != 1)
		return;
	field_finding(ev, R_WINDOWS_HOSTPROCESS, at, c, wpath, "hostProcess",
		      "%s must not set windowsOptions.hostProcess=true", WHO(c));
}

static void check_hostprocess(struct eval *ev, const struct pod *p)
{
	hostprocess_field(ev, p->psc, p->psc_path, NULL);
	for (size_t i = 0; i < p->nc; i++)
		hostprocess_field(ev, p->c[i].sc, p->c[i].sc_path, &p->c[i]);
}

/* ---- restricted ---- */

static void check_allow_priv_esc(struct eval *ev, const struct pod *p)
{
	char who_buf[300];
	if (ev->cfg->minor >= 25 && p->windows)
		return;
	for (size_t i = 0; i < p->nc; i++) {
		const struct container *c = &p->c[i];
		const struct ypair *at;
		int v = get_bool(ev, c->sc, c->sc_path, "allowPrivilegeEscalation", &at);
		if (v == 0)
			continue;
		char field[256];
		path_join(field, sizeof(field), c->sc_path, "allowPrivilegeEscalation", -1);
		if (v == 1)
			eval_finding(ev, R_ALLOW_PRIV_ESC, at->key, c->name, field,
				     "%s must set securityContext.allowPrivilegeEscalation=false, not true",
				     WHO(c));
		else
			eval_finding(ev, R_ALLOW_PRIV_ESC, container_anchor(c), c->name, field,
				     "%s must set securityContext.allowPrivilegeEscalation=false",
				     WHO(c));
	}
}

static void check_caps_restricted(struct eval *ev, const struct pod *p)
{
	char who_buf[300], path[192];
	if (ev->cfg->minor >= 25 && p->windows)
		return;
	for (size_t i = 0; i < p->nc; i++) {
		const struct container *c = &p->c[i];
		const struct ypair *caps = eval_get(ev, c->sc, c->sc_path, "capabilities", W_MAP);
		const struct ypair *drop = caps_list(ev, c, "drop", path, sizeof(path));
		bool all = false;
		for (uint32_t k = 0; drop && k < drop->val->len && !all; k++)
			all = yscalar_is(drop->val->items[k], "ALL");
		if (!all) {
			_cleanup_free_ char *field = xasprintf("%s.capabilities.drop", c->sc_path);
			eval_finding(ev, R_CAPS_RESTRICTED,
				     drop ? drop->key : caps ? caps->key : container_anchor(c),
				     c->name, field,
				     "%s must set securityContext.capabilities.drop=[\"ALL\"]", WHO(c));
		}
		const struct ypair *add = caps_list(ev, c, "add", path, sizeof(path));
		for (uint32_t k = 0; add && k < add->val->len; k++) {
			const struct ynode *cap = add->val->items[k];
			if (yscalar_is(cap, "NET_BIND_SERVICE"))
				continue;
			if (cap->type != YNODE_SCALAR) {
				eval_bad_input(ev, cap, "%s[%u]: expected a capability name, got %s",
					       path, k, ynode_type_name(cap));
				continue;
			}
			_cleanup_free_ char *field = xasprintf("%s[%u]", path, k);
			eval_finding(ev, R_CAPS_RESTRICTED, cap, c->name, field,
				     "%s must not add capability \"%s\": restricted allows only NET_BIND_SERVICE",
				     WHO(c), cap->str);
		}
	}
}

static const char *const allowed_volumes[] = {
	"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image",
	"persistentVolumeClaim", "projected", "secret",
};
static const char *const restricted_volumes[] = {
	"hostPath", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "nfs", "iscsi",
	"glusterfs", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "fc", "azureFile",
	"vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "portworxVolume",
	"scaleIO", "storageos",
};

static void check_restricted_volumes(struct eval *ev, const struct pod *p)
{
	char vpath[128];
	const struct ynode *v;
	const struct ypair *vols = eval_get(ev, p->spec, p->spec_path, "volumes", W_SEQ);
	FOR_VOLUMES(ev, p, vols, v, vpath, i) {
		bool allowed = false;
		for (size_t k = 0; k < ARRAY_SIZE(allowed_volumes) && !allowed; k++) {
			const struct ynode *src = ymap_get(v, allowed_volumes[k]);
			allowed = src && !ynode_is_null(src);
		}
		if (allowed)
			continue;
		/* A volume with no source at all is defaulted to emptyDir by the
		 * API server before admission sees it, so it passes. */
		for (size_t k = 0; k < ARRAY_SIZE(restricted_volumes); k++) {
			const struct ypair *src = ymap_find(v, restricted_volumes[k]);
			if (!src || ynode_is_null(src->val))
				continue;
			const char *name = get_str(ev, v, vpath, "name", NULL);
			field_finding(ev, R_RESTRICTED_VOLUMES, src, NULL, vpath,
				      restricted_volumes[k],
				      "volume \"%s\" must not use volume type %s: use configMap, secret, "
				"emptyDir, projected, downwardAPI, a PVC, csi, ephemeral or image",
				name ? name : "", restricted_volumes[k]);
			break;
		}
	}
}

static void check_run_as_non_root(struct eval *ev, const struct pod *p)
{
	char who_buf[300];
	if (ev->cfg->minor >= 35 && p->userns)
		return;
	const struct ypair *pat;
	int pod = get_bool(ev, p->psc, p->psc_path, "runAsNonRoot", &pat);
	if (pod == 0)
		field_finding(ev, R_RUN_AS_NON_ROOT, pat, NULL, p->psc_path, "runAsNonRoot",
			      "pod must not set securityContext.runAsNonRoot=false");
	for (size_t i = 0; i < p->nc; i++) {
		const struct container *c = &p->c[i];
		const struct ypair *at;
		int v = get_bool(ev, c->sc, c->sc_path, "runAsNonRoot", &at);
		if (v == 1 || (v == -1 && pod != -1))
			continue; /* set here, or inherited from the pod (or the pod already failed) */
		char field[256];
		path_join(field, sizeof(field), c->sc_path, "runAsNonRoot", -1);
		if (v == 0)
			eval_finding(ev, R_RUN_AS_NON_ROOT, at->key, c->name, field,
				     "%s must not set securityContext.runAsNonRoot=false", WHO(c));
		else
			eval_finding(ev, R_RUN_AS_NON_ROOT, container_anchor(c), c->name, field,
				     "%s must set securityContext.runAsNonRoot=true (here, or once "
				     "in the pod's securityContext)", WHO(c));
	}
}

static void run_as_user_field(struct eval *ev, const struct ynode *sc, const char *path,
			      const struct container *c)
{
	char who_buf[300];
	const struct ypair *at = eval_get(ev, sc, path, "runAsUser", W_INT);
	long long uid = -1;
	if (!at || ynode_int(at->val, &uid) < 0 || uid != 0)
		return;
	field_finding(ev, R_RUN_AS_USER, at, c, path, "runAsUser",
		      "%s must not set securityContext.runAsUser=0: run as a non-zero UID", WHO(c));
}

static void check_run_as_user(struct eval *ev, const struct pod *p)
{
	if (ev->cfg->minor >= 35 && p->userns)
		return;
	run_as_user_field(ev, p->psc, p->psc_path, NULL);
	for (size_t i = 0; i < p->nc; i++)
		run_as_user_field(ev, p->c[i].sc, p->c[i].sc_path, &p->c[i]);
}

static void check_seccomp_restricted(struct eval *ev, const struct pod *p)
{
	char who_buf[300];
	if (ev->cfg->minor >= 25 && p->windows)
		return;
	int pod = seccomp_field(ev, p->psc, p->psc_path, NULL, R_SECCOMP_RESTRICTED);
	for (size_t i = 0; i < p->nc; i++) {
		const struct container *c = &p->c[i];
		int v = seccomp_field(ev, c->sc, c->sc_path, c, R_SECCOMP_RESTRICTED);
		if (v != 0 || pod != 0)
			continue; /* set here, inherited, or the pod's is already reported */
		char field[256];
		path_join(field, sizeof(field), c->sc_path, "seccompProfile", -1);
		eval_finding(ev, R_SECCOMP_RESTRICTED, container_anchor(c), c->name, field,
			     "%s must set securityContext.seccompProfile.type to RuntimeDefault or "
			     "Localhost (here, or once in the pod's securityContext)", WHO(c));
	}
}

/* ---- driver ---- */

void pss_eval_pod(struct eval *ev, const struct ynode *meta, const struct ynode *spec,
		  const char *meta_path, const char *spec_path)
{
	struct pod p = { .meta = meta, .spec = spec, .spec_path = spec_path,
			 .meta_path = meta_path };
	size_t cap = 0;
	path_join(p.psc_path, sizeof(p.psc_path), spec_path, "securityContext", -1);
	path_join(p.ann_path, sizeof(p.ann_path), meta_path, "annotations", -1);
	const struct ypair *psc = eval_get(ev, spec, spec_path, "securityContext", W_MAP);
	p.psc = psc ? psc->val : NULL;
	const struct ypair *ann = eval_get(ev, meta, meta_path, "annotations", W_MAP);
	p.annotations = ann ? ann->val : NULL;
	const struct ypair *os = eval_get(ev, spec, spec_path, "os", W_MAP);
	char ospath[96];
	path_join(ospath, sizeof(ospath), spec_path, "os", -1);
	const char *osname = os ? get_str(ev, os->val, ospath, "name", NULL) : NULL;
	p.windows = osname && strcmp(osname, "windows") == 0;
	p.userns = get_bool(ev, spec, spec_path, "hostUsers", NULL) == 0;
	/* Upstream's visiting order: init containers, containers, ephemeral ones. */
	load_containers(ev, &p, "initContainers", WHO_INIT, &cap);
	load_containers(ev, &p, "containers", WHO_CONTAINER, &cap);
	load_containers(ev, &p, "ephemeralContainers", WHO_EPHEMERAL, &cap);

	const bool *on = ev->active;
	if (on[R_APPARMOR])
		check_apparmor(ev, &p);
	if (on[R_CAPS_BASELINE])
		check_caps_baseline(ev, &p);
	if (on[R_HOST_NAMESPACES])
		check_host_namespaces(ev, &p, R_HOST_NAMESPACES, R_HOST_NAMESPACES,
				      R_HOST_NAMESPACES);
	if (on[R_HOSTPATH_VOLUMES])
		check_hostpath(ev, &p, R_HOSTPATH_VOLUMES);
	if (on[R_HOST_PORTS])
		check_host_ports(ev, &p, R_HOST_PORTS);
	if (on[R_HOST_PROBES])
		check_host_probes(ev, &p);
	if (on[R_PRIVILEGED])
		check_privileged(ev, &p);
	if (on[R_PROCMOUNT])
		check_procmount(ev, &p, R_PROCMOUNT);
	if (on[R_SELINUX])
		check_selinux(ev, &p);
	if (on[R_SECCOMP_BASELINE])
		check_seccomp_baseline(ev, &p);
	if (on[R_SYSCTLS])
		check_sysctls(ev, &p);
	if (on[R_WINDOWS_HOSTPROCESS])
		check_hostprocess(ev, &p);
	if (on[R_ALLOW_PRIV_ESC])
		check_allow_priv_esc(ev, &p);
	if (on[R_CAPS_RESTRICTED])
		check_caps_restricted(ev, &p);
	if (on[R_PROCMOUNT_RESTRICTED])
		check_procmount(ev, &p, R_PROCMOUNT_RESTRICTED);
	if (on[R_RESTRICTED_VOLUMES])
		check_restricted_volumes(ev, &p);
	if (on[R_RUN_AS_NON_ROOT])
		check_run_as_non_root(ev, &p);
	if (on[R_RUN_AS_USER])
		check_run_as_user(ev, &p);
	if (on[R_SECCOMP_RESTRICTED])
		check_seccomp_restricted(ev, &p);
	/* Share-nothing: the same fields, judged by what moat's node allows. */
	if (on[R_SN_HOSTPATH])
		check_hostpath(ev, &p, R_SN_HOSTPATH);
	if (on[R_SN_HOSTNETWORK])
		check_host_namespaces(ev, &p, R_SN_HOSTNETWORK, R_SN_HOSTPID, R_SN_HOSTIPC);
	if (on[R_SN_HOSTPORT])
		check_host_ports(ev, &p, R_SN_HOSTPORT);
	free(p.c);
}
