/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Docker/OCI seccomp profiles, compiled with libseccomp.  The format is the
 * one moby's profiles/seccomp and the OCI runtime spec define: defaultAction
 * and defaultErrnoRet, architectures or archMap, syscall entries (names or
 * the legacy name) with action, errnoRet and args, includes and excludes by
 * caps, arches and minKernel, and flags.
 */
#include "enforcer.h"

#include <errno.h>
#include <jansson.h>
#include <seccomp.h>
#include <sys/utsname.h>

struct sc_arg {
	unsigned index;
	uint64_t value, value2;
	enum scmp_compare op;
};

struct sc_filter {
	char **caps, **arches;
	size_t ncaps, narches;
	unsigned min_kernel; /* major*1000+minor; 0: none */
};

struct sc_entry {
	char **names;
	size_t nnames;
	char *action_name;
	int action; /* index into actions[] */
	bool has_errno;
	unsigned errno_ret;
	struct sc_arg *args;
	size_t nargs;
	struct sc_filter inc, exc;
	char path[48]; /* "$.syscalls[12]" */
};

struct sc_archmap {
	char *arch;
	char **subs;
	size_t nsubs;
};

struct seccomp_profile {
	int default_action;
	bool has_default_errno;
	unsigned default_errno;
	char **arches;
	size_t narches;
	struct sc_archmap *archmap;
	size_t narchmap;
	struct sc_entry *entries;
	size_t nentries;
	bool flag_log, flag_spec_allow, flag_tsync;
};

static const struct {
	const char *name;
	uint32_t base; /* ERRNO and TRACE take their data below */
	bool takes_errno;
} actions[] = {
	{ "SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD, false },
	{ "SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD, false },
	{ "SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS, false },
	{ "SCMP_ACT_TRAP", SCMP_ACT_TRAP, false },
	{ "SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0), true },
	{ "SCMP_ACT_TRACE", SCMP_ACT_TRACE(0), true },
	{ "SCMP_ACT_ALLOW", SCMP_ACT_ALLOW, false },
	{ "SCMP_ACT_LOG", SCMP_ACT_LOG, false },
	{ "SCMP_ACT_NOTIFY", SCMP_ACT_NOTIFY, false },
};

static const struct {
	const char *name;
	enum scmp_compare op;
} ops[] = {
	{ "SCMP_CMP_NE", SCMP_CMP_NE },		{ "SCMP_CMP_LT", SCMP_CMP_LT },
	{ "SCMP_CMP_LE", SCMP_CMP_LE },		{ "SCMP_CMP_EQ", SCMP_CMP_EQ },
	{ "SCMP_CMP_GE", SCMP_CMP_GE },		{ "SCMP_CMP_GT", SCMP_CMP_GT },
	{ "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
};

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

void seccomp_profile_free(struct seccomp_profile *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nentries; i++) {
		struct sc_entry *e = &p->entries[i];
		strv_free(e->names, e->nnames);
		free(e->action_name);
		free(e->args);
		strv_free(e->inc.caps, e->inc.ncaps);
		strv_free(e->inc.arches, e->inc.narches);
		strv_free(e->exc.caps, e->exc.ncaps);
		strv_free(e->exc.arches, e->exc.narches);
	}
	free(p->entries);
	strv_free(p->arches, p->narches);
	for (size_t i = 0; i < p->narchmap; i++) {
		free(p->archmap[i].arch);
		strv_free(p->archmap[i].subs, p->archmap[i].nsubs);
	}
	free(p->archmap);
	free(p);
}

struct parser {
	const char *name;
	struct moat_error *err;
};

static int fault(struct parser *ps, const char *path, const char *fmt, ...) PRINTF(3, 4);
static int fault(struct parser *ps, const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return moat_error_set(ps->err, EINVAL, "%s: %s: %s", ps->name, path, msg);
}

static int parse_action(struct parser *ps, const char *path, json_t *v, int *out)
{
	if (!json_is_string(v))
		return fault(ps, path, "expected an action name such as SCMP_ACT_ERRNO");
	for (size_t i = 0; i < ARRAY_SIZE(actions); i++) {
		if (strcmp(json_string_value(v), actions[i].name) == 0) {
			*out = (int)i;
			return 0;
		}
	}
	return fault(ps, path, "unknown action '%s'", json_string_value(v));
}

static int parse_errno(struct parser *ps, const char *path, json_t *v, unsigned *out)
{
	/* SECCOMP_RET_DATA is 16 bits; the kernel caps what it returns at
	 * MAX_ERRNO itself. */
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 65535)
		return fault(ps, path, "expected an errno number, 0 to 65535");
	*out = (unsigned)json_integer_value(v);
	return 0;
}

/* A list of strings: names, caps, arches. */
static int parse_strv(struct parser *ps, const char *path, json_t *v, char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return fault(ps, path, "expected a list of strings");
	size_t count = json_array_size(v);
	if (count > 4096)
		return fault(ps, path, "more than 4096 entries");
	*out = xcalloc(count ? count : 1, sizeof(char *));
	for (size_t i = 0; i < count; i++) {
		json_t *s = json_array_get(v, i);
		if (!json_is_string(s)) {
			char p[96];
			snprintf(p, sizeof(p), "%s[%zu]", path, i);
			return fault(ps, p, "expected a string");
		}
		(*out)[(*n)++] = xstrdup(json_string_value(s));
	}
	return 0;
}

/* "4.8" -> 4008 */
static int parse_kernel(const char *s, unsigned *out)
{
	unsigned a, b = 0;
	char tail;
	int n = sscanf(s, "%u.%u%c", &a, &b, &tail);
	if (n < 1 || n > 2 || a > 1000 || b > 999)
		return -1;
	*out = a * 1000 + b;
	return 0;
}

static int parse_filter(struct parser *ps, const char *path, json_t *v, struct sc_filter *f)
{
	char p[96];
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return fault(ps, path, "expected an object with caps, arches or minKernel");
	snprintf(p, sizeof(p), "%s.caps", path);
	if (parse_strv(ps, p, json_object_get(v, "caps"), &f->caps, &f->ncaps) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s.arches", path);
	if (parse_strv(ps, p, json_object_get(v, "arches"), &f->arches, &f->narches) < 0)
		return -1;
	json_t *mk = json_object_get(v, "minKernel");
	if (mk && !json_is_null(mk)) {
		snprintf(p, sizeof(p), "%s.minKernel", path);
		if (!json_is_string(mk) || parse_kernel(json_string_value(mk), &f->min_kernel) < 0)
			return fault(ps, p, "expected a kernel version such as \"4.8\"");
	}
	return 0;
}

static int parse_entry(struct parser *ps, json_t *v, size_t idx, struct sc_entry *e)
{
	snprintf(e->path, sizeof(e->path), "$.syscalls[%zu]", idx);
	char p[96];
	if (!json_is_object(v))
		return fault(ps, e->path, "expected an object");
	snprintf(p, sizeof(p), "%s.names", e->path);
	if (parse_strv(ps, p, json_object_get(v, "names"), &e->names, &e->nnames) < 0)
		return -1;
	json_t *name = json_object_get(v, "name");
	if (name && !json_is_null(name)) {
		snprintf(p, sizeof(p), "%s.name", e->path);
		if (!json_is_string(name))
			return fault(ps, p, "expected a syscall name");
		e->names = xrealloc(e->names, (e->nnames + 1) * sizeof(char *));
		e->names[e->nnames++] = xstrdup(json_string_value(name));
	}
	if (!e->nnames)
		return fault(ps, e->path, "names: expected at least one syscall name");
	snprintf(p, sizeof(p), "%s.action", e->path);
	json_t *action = json_object_get(v, "action");
	if (!action)
		return fault(ps, p, "missing: every entry needs an action");
	if (parse_action(ps, p, action, &e->action) < 0)
		return -1;
	e->action_name = xstrdup(json_string_value(action));
	json_t *er = json_object_get(v, "errnoRet");
	if (er && !json_is_null(er)) {
		snprintf(p, sizeof(p), "%s.errnoRet", e->path);
		if (parse_errno(ps, p, er, &e->errno_ret) < 0)
			return -1;
		e->has_errno = true;
	}
	json_t *args = json_object_get(v, "args");
	if (args && !json_is_null(args)) {
		snprintf(p, sizeof(p), "%s.args", e->path);
		if (!json_is_array(args))
			return fault(ps, p, "expected a list of argument conditions");
		if (json_array_size(args) > 6)
			return fault(ps, p, "a syscall has at most 6 arguments to compare");
		e->nargs = json_array_size(args);
		e->args = xcalloc(e->nargs ? e->nargs : 1, sizeof(*e->args));
		for (size_t i = 0; i < e->nargs; i++) {
			json_t *a = json_array_get(args, i);
			snprintf(p, sizeof(p), "%s.args[%zu]", e->path, i);
			if (!json_is_object(a))
				return fault(ps, p, "expected an object with index, value and op");
			json_t *index = json_object_get(a, "index"), *val = json_object_get(a, "value"),
			       *val2 = json_object_get(a, "valueTwo"), *op = json_object_get(a, "op");
			if (!json_is_integer(index) || json_integer_value(index) < 0 ||
			    json_integer_value(index) > 5) {
				snprintf(p + strlen(p), sizeof(p) - strlen(p), ".index");
				return fault(ps, p, "expected an argument index, 0 to 5");
			}
			e->args[i].index = (unsigned)json_integer_value(index);
			/* jansson holds integers as signed 64-bit: a value above 2^63
			 * arrives negative and is read back as the same bits. */
			if (!json_is_integer(val)) {
				snprintf(p + strlen(p), sizeof(p) - strlen(p), ".value");
				return fault(ps, p, "expected an unsigned integer");
			}
			e->args[i].value = (uint64_t)json_integer_value(val);
			if (val2 && !json_is_null(val2)) {
				if (!json_is_integer(val2)) {
					snprintf(p + strlen(p), sizeof(p) - strlen(p), ".valueTwo");
					return fault(ps, p, "expected an unsigned integer");
				}
				e->args[i].value2 = (uint64_t)json_integer_value(val2);
			}
			size_t k;
			for (k = 0; k < ARRAY_SIZE(ops); k++)
				if (json_is_string(op) && strcmp(json_string_value(op), ops[k].name) == 0)
					break;
			if (k == ARRAY_SIZE(ops)) {
				snprintf(p + strlen(p), sizeof(p) - strlen(p), ".op");
				return fault(ps, p, "unknown op '%s' (expected SCMP_CMP_NE, _LT, _LE, _EQ, "
						    "_GE, _GT or _MASKED_EQ)",
					     json_is_string(op) ? json_string_value(op) : "(not a string)");
			}
			e->args[i].op = ops[k].op;
		}
	}
	snprintf(p, sizeof(p), "%s.includes", e->path);
	if (parse_filter(ps, p, json_object_get(v, "includes"), &e->inc) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s.excludes", e->path);
	return parse_filter(ps, p, json_object_get(v, "excludes"), &e->exc);
}

int seccomp_profile_parse(const char *name, const char *buf, size_t len,
			  struct seccomp_profile **out, struct moat_error *err)
{
	*out = NULL;
	struct parser ps = { name, err };
	json_error_t jerr;
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return moat_error_set(err, EINVAL, "%s:%d:%d: %s", name, jerr.line > 0 ? jerr.line : 1,
				      jerr.column > 0 ? jerr.column : 1, jerr.text);
	struct seccomp_profile *p = xcalloc(1, sizeof(*p));
	int r = -1;
	if (!json_is_object(root)) {
		fault(&ps, "$", "expected an object with defaultAction and syscalls");
		goto out;
	}
	json_t *da = json_object_get(root, "defaultAction");
	if (!da) {
		fault(&ps, "$.defaultAction", "missing: a profile needs a default action");
		goto out;
	}
	if (parse_action(&ps, "$.defaultAction", da, &p->default_action) < 0)
		goto out;
	json_t *der = json_object_get(root, "defaultErrnoRet");
	if (der && !json_is_null(der)) {
		if (parse_errno(&ps, "$.defaultErrnoRet", der, &p->default_errno) < 0)
			goto out;
		p->has_default_errno = true;
	}
	if (parse_strv(&ps, "$.architectures", json_object_get(root, "architectures"), &p->arches,
		       &p->narches) < 0)
		goto out;
	json_t *am = json_object_get(root, "archMap");
	if (am && !json_is_null(am)) {
		if (!json_is_array(am)) {
			fault(&ps, "$.archMap", "expected a list");
			goto out;
		}
		p->narchmap = json_array_size(am);
		p->archmap = xcalloc(p->narchmap ? p->narchmap : 1, sizeof(*p->archmap));
		for (size_t i = 0; i < p->narchmap; i++) {
			json_t *m = json_array_get(am, i);
			char path[64];
			snprintf(path, sizeof(path), "$.archMap[%zu]", i);
			json_t *a = json_object_get(m, "architecture");
			if (!json_is_string(a)) {
				fault(&ps, path, "expected an object with architecture");
				goto out;
			}
			p->archmap[i].arch = xstrdup(json_string_value(a));
			snprintf(path, sizeof(path), "$.archMap[%zu].subArchitectures", i);
			if (parse_strv(&ps, path, json_object_get(m, "subArchitectures"),
				       &p->archmap[i].subs, &p->archmap[i].nsubs) < 0)
				goto out;
		}
	}
	json_t *flags = json_object_get(root, "flags");
	if (flags && !json_is_null(flags)) {
		if (!json_is_array(flags)) {
			fault(&ps, "$.flags", "expected a list of SECCOMP_FILTER_FLAG_* names");
			goto out;
		}
		for (size_t i = 0; i < json_array_size(flags); i++) {
			const char *f = json_string_value(json_array_get(flags, i));
			char path[48];
			snprintf(path, sizeof(path), "$.flags[%zu]", i);
			if (f && strcmp(f, "SECCOMP_FILTER_FLAG_LOG") == 0)
				p->flag_log = true;
			else if (f && strcmp(f, "SECCOMP_FILTER_FLAG_SPEC_ALLOW") == 0)
				p->flag_spec_allow = true;
			else if (f && strcmp(f, "SECCOMP_FILTER_FLAG_TSYNC") == 0)
				p->flag_tsync = true;
			else {
				fault(&ps, path, "unknown flag '%s'", f ? f : "(not a string)");
				goto out;
			}
		}
	}
	json_t *sc = json_object_get(root, "syscalls");
	if (sc && !json_is_null(sc)) {
		if (!json_is_array(sc)) {
			fault(&ps, "$.syscalls", "expected a list of entries");
			goto out;
		}
		if (json_array_size(sc) > 65536) {
			fault(&ps, "$.syscalls", "more than 65536 entries");
			goto out;
		}
		p->entries = xcalloc(json_array_size(sc) + 1, sizeof(*p->entries));
		for (size_t i = 0; i < json_array_size(sc); i++) {
			p->nentries++;
			if (parse_entry(&ps, json_array_get(sc, i), i, &p->entries[i]) < 0)
				goto out;
		}
	}
	r = 0;
out:
	json_decref(root);
	if (r < 0)
		seccomp_profile_free(p);
	else
		*out = p;
	return r;
}

int seccomp_profile_load(const char *path, struct seccomp_profile **out, struct moat_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (read_file(path, 8u << 20, &buf, &len, err) < 0)
		return -1;
	_cleanup_free_ char *display = path_display(path);
	return seccomp_profile_parse(display, buf, len, out, err);
}

/* ---- compiling ------------------------------------------------------------ */

/* "SCMP_ARCH_X86_64" or "x86_64" -> libseccomp's token; 0 if unknown. */
static uint32_t arch_token(const char *name)
{
	char low[64];
	const char *s = strncmp(name, "SCMP_ARCH_", 10) == 0 ? name + 10 : name;
	size_t i;
	for (i = 0; s[i] && i < sizeof(low) - 1; i++)
		low[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
	low[i] = '\0';
	if (strcmp(low, "amd64") == 0)
		return SCMP_ARCH_X86_64;
	if (strcmp(low, "386") == 0)
		return SCMP_ARCH_X86;
	return seccomp_arch_resolve_name(low);
}

/* libseccomp's token -> the Go name includes/excludes use ("amd64"). */
static const char *go_arch(uint32_t token)
{
	switch (token) {
	case SCMP_ARCH_X86_64:
		return "amd64";
	case SCMP_ARCH_X86:
		return "x86";
	case SCMP_ARCH_X32:
		return "x32";
	case SCMP_ARCH_AARCH64:
		return "arm64";
	case SCMP_ARCH_ARM:
		return "arm";
	case SCMP_ARCH_PPC64LE:
		return "ppc64le";
	case SCMP_ARCH_S390X:
		return "s390x";
	case SCMP_ARCH_RISCV64:
		return "riscv64";
	default:
		return "";
	}
}

static bool has_cap(cap_mask caps, const char *name, bool *known)
{
	cap_mask one;
	struct moat_error e;
	if (caps_parse(name, &one, &e) < 0) {
		*known = false;
		return false;
	}
	*known = true;
	return (caps & one) == one;
}

static bool in_list(char **list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

/* Whether an entry applies, as moby decides it: any excluded cap held, an
 * excluded arch, or a kernel at or above an excluded minKernel drops it; an
 * include needs its arch, all its caps and a new enough kernel. */
static bool entry_applies(const struct sc_entry *e, const char *arch, cap_mask caps,
			  unsigned kernel)
{
	bool known;
	if (e->exc.narches && in_list(e->exc.arches, e->exc.narches, arch))
		return false;
	for (size_t i = 0; i < e->exc.ncaps; i++)
		if (has_cap(caps, e->exc.caps[i], &known))
			return false;
	if (e->exc.min_kernel && kernel >= e->exc.min_kernel)
		return false;
	if (e->inc.narches && !in_list(e->inc.arches, e->inc.narches, arch))
		return false;
	for (size_t i = 0; i < e->inc.ncaps; i++)
		if (!has_cap(caps, e->inc.caps[i], &known))
			return false;
	if (e->inc.min_kernel && kernel < e->inc.min_kernel)
		return false;
	return true;
}

static uint32_t action_value(int action, bool has_errno, unsigned errno_ret)
{
	/* The kernel caps what it returns at MAX_ERRNO, and libseccomp 2.5
	 * refuses 4095 and above: a larger errnoRet means 4094. */
	if (has_errno && errno_ret > 4094)
		errno_ret = 4094;
	if (actions[action].takes_errno)
		return actions[action].base | (has_errno ? errno_ret : EPERM);
	return actions[action].base;
}

static unsigned running_kernel(void)
{
	struct utsname u;
	unsigned a = 0, b = 0;
	if (uname(&u) == 0 && sscanf(u.release, "%u.%u", &a, &b) == 2)
		return a * 1000 + b;
	return 0;
}

void seccomp_ctx_free(void *ctx)
{
	if (ctx)
		seccomp_release(ctx);
}

/* The filter for one architecture, in its own syscall numbering. */
static scmp_filter_ctx compile_arch(const struct seccomp_profile *p, const struct seccomp_options *o,
				    uint32_t arch, const char *goarch, unsigned kernel, uint32_t def,
				    struct seccomp_stats *stats, bool primary, struct moat_error *err)
{
	scmp_filter_ctx ctx = seccomp_init(def);
	if (!ctx) {
		moat_error_set(err, ENOMEM, "cannot start a seccomp filter");
		return NULL;
	}
	if (arch != seccomp_arch_native()) {
		seccomp_arch_add(ctx, arch);
		seccomp_arch_remove(ctx, SCMP_ARCH_NATIVE);
	}
	/* Attributes must match for the merge below. */
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2); /* binary tree */
	if (o->log || p->flag_log)
		seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
	if (p->flag_spec_allow)
		seccomp_attr_set(ctx, SCMP_FLTATR_CTL_SSB, 1);
	if (p->flag_tsync)
		seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	/* Where ENOSYS starts: above every syscall the profile names, whether
	 * or not its entry applies here; a syscall it knows keeps the default. */
	int highest = -1;
	for (size_t i = 0; i < p->nentries; i++) {
		for (size_t k = 0; k < p->entries[i].nnames; k++) {
			int own = seccomp_syscall_resolve_name_arch(arch, p->entries[i].names[k]);
			if (own != __NR_SCMP_ERROR && own > highest)
				highest = own;
		}
	}
	for (size_t i = 0; i < p->nentries; i++) {
		const struct sc_entry *e = &p->entries[i];
		if (!entry_applies(e, goarch, o->caps, kernel)) {
			stats->skipped_entries += primary;
			continue;
		}
		uint32_t act = action_value(e->action, e->has_errno, e->errno_ret);
		if (act == def)
			continue; /* the default already does it; libseccomp refuses */
		/* Conditions on distinct arguments are one rule, all of them
		 * holding; two on the same argument become separate rules, as
		 * runc makes them (libseccomp allows one per argument). */
		bool distinct = true;
		for (size_t x = 0; x < e->nargs; x++)
			for (size_t y = x + 1; y < e->nargs; y++)
				distinct = distinct && e->args[x].index != e->args[y].index;
		struct scmp_arg_cmp cmp[6];
		for (size_t x = 0; x < e->nargs; x++)
			cmp[x] = (struct scmp_arg_cmp){ e->args[x].index, e->args[x].op,
							e->args[x].value, e->args[x].value2 };
		for (size_t k = 0; k < e->nnames; k++) {
			/* Rules take the native number, which libseccomp translates
			 * for each architecture by name; the highest number in this
			 * architecture's own table sets where ENOSYS starts. */
			int own = seccomp_syscall_resolve_name_arch(arch, e->names[k]);
			int nr = seccomp_syscall_resolve_name(e->names[k]);
			if (own == __NR_SCMP_ERROR || nr == __NR_SCMP_ERROR) {
				if (primary) {
					stats->skipped_names++;
					log_warn("%s.names: unknown syscall '%s' on %s, skipped",
						 e->path, e->names[k], goarch[0] ? goarch : "this arch");
				}
				continue;
			}
			int r = 0;
			if (distinct) {
				r = seccomp_rule_add_array(ctx, act, nr, (unsigned)e->nargs,
							   e->nargs ? cmp : NULL);
				stats->rules += primary;
			} else {
				for (size_t x = 0; x < e->nargs && r == 0; x++, stats->rules += primary)
					r = seccomp_rule_add_array(ctx, act, nr, 1, &cmp[x]);
			}
			if (r < 0 && r != -EEXIST) {
				moat_error_set(err, -r, "%s: %s: libseccomp refused the rule: %s",
					       e->path, e->names[k], strerror(-r));
				seccomp_release(ctx);
				return NULL;
			}
		}
	}
	/* Syscalls numbered above every one the profile names answer ENOSYS:
	 * a program probing for them falls back, as on an older kernel,
	 * instead of failing on EPERM.  (x32 numbers carry a high bit and are
	 * left to the default.) */
	if (def != SCMP_ACT_ALLOW && highest >= 0 && highest < 1024) {
		for (int nr = highest + 1; nr < 1024; nr++)
			if (seccomp_rule_add_exact(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0) == 0 && primary)
				stats->enosys_above++;
	}
	if (primary)
		stats->highest_nr = highest;
	return ctx;
}

int seccomp_profile_compile(const struct seccomp_profile *p, const struct seccomp_options *o,
			    void **out, struct seccomp_stats *stats, struct moat_error *err)
{
	*out = NULL;
	memset(stats, 0, sizeof(*stats));
	stats->highest_nr = -1;
	uint32_t arch = o->arch ? arch_token(o->arch) : seccomp_arch_native();
	if (!arch)
		return moat_error_set(err, EINVAL, "--arch %s: unknown architecture", o->arch);
	unsigned kernel = o->kernel ? o->kernel : running_kernel();
	uint32_t def = action_value(p->default_action, p->has_default_errno, p->default_errno);
	/* The target, then the sub-architectures that run on it: a 32-bit x86
	 * binary on x86_64 must meet the same filter, in its own numbering. */
	uint32_t arches[16];
	size_t n = 0;
	arches[n++] = arch;
	for (size_t i = 0; i < p->narchmap; i++) {
		if (arch_token(p->archmap[i].arch) != arch)
			continue;
		for (size_t k = 0; k < p->archmap[i].nsubs && n < ARRAY_SIZE(arches); k++)
			arches[n++] = arch_token(p->archmap[i].subs[k]);
	}
	for (size_t i = 0; !p->narchmap && i < p->narches && n < ARRAY_SIZE(arches); i++)
		arches[n++] = arch_token(p->arches[i]);
	const char *goarch = go_arch(arch);
	scmp_filter_ctx ctx = NULL;
	for (size_t i = 0; i < n; i++) {
		bool dup = !arches[i];
		for (size_t k = 0; k < i && !dup; k++)
			dup = arches[k] == arches[i];
		if (dup)
			continue;
		scmp_filter_ctx one = compile_arch(p, o, arches[i], goarch, kernel, def, stats, i == 0,
						   err);
		if (!one) {
			seccomp_ctx_free(ctx);
			return -1;
		}
		if (!ctx) {
			ctx = one;
		} else {
			int r = seccomp_merge(ctx, one); /* takes one on success */
			if (r < 0) {
				seccomp_release(one);
				seccomp_release(ctx);
				return moat_error_set(err, -r, "merging the filters of each "
							       "architecture: %s", strerror(-r));
			}
		}
	}
	*out = ctx;
	return 0;
}

int seccomp_ctx_export(void *ctx, bool text, int fd, struct moat_error *err)
{
	int r = text ? seccomp_export_pfc(ctx, fd) : seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return moat_error_set(err, -r, "writing the filter: %s", strerror(-r));
	return 0;
}

int seccomp_ctx_load(void *ctx, struct moat_error *err)
{
	int r = seccomp_load(ctx);
	if (r < 0)
		return moat_error_set(err, -r, "loading the seccomp filter: %s", strerror(-r));
	return 0;
}
