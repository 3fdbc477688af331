/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading a node: its root (an image's, or "/" for the running system), each
 * component's command line (a process, a systemd unit, or a static pod
 * manifest), its config file and drop-ins, and the Kubernetes version.
 *
 * Every path is opened with openat2(RESOLVE_IN_ROOT): ".." and symlinks,
 * absolute ones included, resolve inside the root, so a hostile image cannot
 * make the audit read the auditor's own files.
 */
#include "bench_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

void bench_note(struct bench_node *n, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < n->nnotes; i++)
		if (strcmp(n->notes[i], msg) == 0)
			return;
	if (n->nnotes >= 256)
		return;
	n->notes = grow_array(n->notes, &n->cap_notes, n->nnotes + 1, sizeof(*n->notes));
	n->notes[n->nnotes++] = xstrdup(msg);
}

int bench_root_open(const struct bench_node *n, const char *path, int flags)
{
	struct open_how how = {
		/* openat2 refuses O_NOCTTY beside O_PATH, where it means nothing. */
		.flags = (uint64_t)(flags | O_CLOEXEC | ((flags & O_PATH) ? 0 : O_NOCTTY)),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	while (*path == '/')
		path++;
	if (!*path)
		path = ".";
	long fd = syscall(SYS_openat2, n->root_fd, path, &how, sizeof(how));
	return fd < 0 ? -1 : (int)fd;
}

int bench_root_stat(const struct bench_node *n, const char *path, struct stat *st)
{
	_cleanup_close_ int fd = bench_root_open(n, path, O_PATH);
	if (fd < 0)
		return -1;
	return fstat(fd, st);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int bench_root_list(const struct bench_node *n, const char *path, char ***names, size_t *nn)
{
	*names = NULL;
	*nn = 0;
	int fd = bench_root_open(n, path, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return -1;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	size_t cap = 0;
	struct dirent *e;
	while ((e = readdir(d)) && *nn < 100000) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		*names = grow_array(*names, &cap, *nn + 1, sizeof(**names));
		(*names)[(*nn)++] = xstrdup(e->d_name);
	}
	closedir(d);
	if (*nn)
		qsort(*names, *nn, sizeof(**names), cmp_str);
	return 0;
}

int bench_root_read(const struct bench_node *n, const char *path, size_t max, char **data,
		    size_t *len, struct moat_error *err)
{
	/* O_NONBLOCK: a FIFO planted in an image must not hang the audit. */
	_cleanup_close_ int fd = bench_root_open(n, path, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return moat_error_sys(err, errno, "%s", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return moat_error_sys(err, errno, "%s", path);
	if (!S_ISREG(st.st_mode))
		return moat_error_set(err, EINVAL, "%s: not a regular file", path);
	if ((uint64_t)st.st_size > max)
		return moat_error_set(err, EFBIG, "%s: %lld bytes, more than the %zu a config may "
					 "have; not read", path, (long long)st.st_size, max);
	return read_fd(fd, path, max, data, len, err);
}

void bench_proc_add_arg(struct bench_proc *p, const char *arg, const char *src)
{
	if (p->argc >= 4096)
		return;
	p->argv = grow_array(p->argv, &p->cap_argv, p->argc + 1, sizeof(*p->argv));
	p->argsrc = grow_array(p->argsrc, &p->cap_argsrc, p->argc + 1, sizeof(*p->argsrc));
	p->argv[p->argc] = xstrdup(arg);
	p->argsrc[p->argc++] = xstrdup(src);
}

void bench_proc_add_file(struct bench_proc *p, const char *path)
{
	p->files = grow_array(p->files, &p->cap_files, p->nfiles + 1, sizeof(*p->files));
	p->files[p->nfiles++] = xstrdup(path);
}

static void proc_free(struct bench_proc *p)
{
	bench_strv_free(p->argv, p->argc);
	bench_strv_free(p->argsrc, p->argc);
	bench_env_free(&p->env);
	bench_strv_free(p->files, p->nfiles);
	free(p->where);
	free(p->source_file);
	free(p->config_path);
	yfile_free(p->config);
	free(p->config_error);
	for (size_t i = 0; i < p->ndropins; i++)
		yfile_free(p->dropins[i]);
	free(p->dropins);
	bench_strv_free(p->dropin_paths, p->ndropins);
	free(p->dropin_error);
}

static const struct bench_setting *setting_find(const struct bench_component *c, const char *flag)
{
	for (size_t i = 0; c && i < c->nsettings; i++)
		if (strcmp(c->settings[i].flag, flag) == 0)
			return &c->settings[i];
	return NULL;
}

/* The last occurrence of --flag on the command line, as pflag takes it. */
static int argv_flag(const struct bench_proc *p, const char *flag, bool is_bool, size_t *at,
		     const char **value)
{
	size_t fl = strlen(flag);
	int found = 0;
	for (size_t i = 1; i < p->argc; i++) {
		const char *a = p->argv[i];
		if (a[0] != '-' || a[1] != '-' || strncmp(a + 2, flag, fl) != 0)
			continue;
		const char *rest = a + 2 + fl;
		if (*rest == '=') {
			*value = rest + 1;
		} else if (*rest) {
			continue;
		} else if (is_bool || i + 1 >= p->argc || p->argv[i + 1][0] == '-') {
			*value = is_bool ? "true" : "";
		} else {
			*value = p->argv[i + 1];
		}
		*at = i;
		found = 1;
	}
	return found;
}

/* A config value as a string: scalars as written, lists joined with ",",
 * mappings (featureGates) as "k=v,...". */
static void node_string(const struct ynode *v, char *out, size_t size)
{
	out[0] = '\0';
	if (v->type == YNODE_SCALAR) {
		snprintf(out, size, "%s", v->str);
		return;
	}
	size_t used = 0;
	for (uint32_t i = 0; i < v->len && used < size; i++) {
		const struct ynode *it = v->type == YNODE_SEQ ? v->items[i] : v->pairs[i].val;
		const struct ynode *k = v->type == YNODE_MAP ? v->pairs[i].key : NULL;
		int w = snprintf(out + used, size - used, "%s%s%s%s", i ? "," : "",
				 k && k->type == YNODE_SCALAR ? k->str : "", k ? "=" : "",
				 it->type == YNODE_SCALAR ? it->str : "?");
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

/* "0", "0s", "0h0m0s": a zero number or duration. */
static bool is_zero(const char *s)
{
	bool digit = false;
	for (; *s; s++) {
		if (*s == '0')
			digit = true;
		else if (!strchr("hms.", *s))
			return false;
	}
	return digit;
}

static const struct ynode *config_path_get(const struct ynode *root, const char *dotted)
{
	const struct ynode *cur = root;
	char part[128];
	while (cur && *dotted) {
		size_t l = strcspn(dotted, ".");
		if (l >= sizeof(part))
			return NULL;
		memcpy(part, dotted, l);
		part[l] = '\0';
		cur = ymap_get(cur, part);
		dotted += l + (dotted[l] == '.');
	}
	return cur;
}

static void value_set(struct bench_value *v, enum bench_source src, const char *value,
		      const char *where)
{
	v->state = VAL_SET;
	v->source = src;
	snprintf(v->value, sizeof(v->value), "%s", value);
	snprintf(v->where, sizeof(v->where), "%s", where ? where : "");
}

/* "A=true,B=false": the value of one gate, or NULL. */
static bool gate_from_list(const char *list, const char *gate, char *out, size_t size)
{
	size_t gl = strlen(gate);
	bool found = false;
	for (const char *s = list; *s;) {
		size_t l = strcspn(s, ",");
		while (l && *s == ' ') {
			s++;
			l--;
		}
		if (l > gl && strncmp(s, gate, gl) == 0 && s[gl] == '=') {
			snprintf(out, size, "%.*s", (int)(l - gl - 1), s + gl + 1);
			found = true; /* the last one wins */
		}
		s += l + (s[l] == ',');
	}
	return found;
}

void bench_node_lookup(const struct bench_node *n, const char *component, const char *flag,
		       const char *gate, struct bench_value *v)
{
	memset(v, 0, sizeof(*v));
	const struct bench_proc *p = bench_node_proc(n, component);
	if (!p || !p->found) {
		v->state = VAL_ABSENT;
		return;
	}
	const struct bench_setting *s = setting_find(p->def, flag);
	bool is_bool = s && s->is_bool;
	const char *val;
	size_t at;
	char buf[512];
	if (argv_flag(p, flag, is_bool, &at, &val)) {
		char where[700];
		snprintf(where, sizeof(where), "%s", p->argsrc[at]);
		if (!gate) {
			value_set(v, SRC_CMDLINE, val, where);
			return;
		}
		if (gate_from_list(val, gate, buf, sizeof(buf))) {
			value_set(v, SRC_CMDLINE, buf, where);
			return;
		}
	}
	if (s && s->config) {
		/* Drop-ins, last first, then the config file: the kubelet merges
		 * them in that precedence. */
		for (size_t i = p->ndropins + 1; i-- > 0;) {
			const struct yfile *f = i < p->ndropins ? p->dropins[i] : p->config;
			const char *path = i < p->ndropins ? p->dropin_paths[i] : p->config_path;
			if (!f || !f->ndocs || !f->docs[0].root)
				continue;
			const struct ynode *node = config_path_get(f->docs[0].root, s->config);
			if (node && gate)
				node = ymap_get(node, gate);
			if (!node || ynode_is_null(node))
				continue;
			node_string(node, buf, sizeof(buf));
			char where[700];
			snprintf(where, sizeof(where), "%s:%u", path, node->line);
			if (s->zero_is_default && s->def && is_zero(buf)) {
				/* The kubelet's defaulting turns a zero here into its
				 * default, so the zero is not what runs. */
				snprintf(where + strlen(where), sizeof(where) - strlen(where),
					 " sets %s, which %s replaces with its default", buf,
					 p->def->name);
				value_set(v, SRC_DEFAULT, s->def, where);
				return;
			}
			value_set(v, i < p->ndropins ? SRC_DROPIN : SRC_CONFIG, buf, where);
			return;
		}
		if (p->config_error || p->dropin_error) {
			v->state = VAL_ERROR;
			snprintf(v->value, sizeof(v->value), "%s",
				 p->config_error ? p->config_error : p->dropin_error);
			return;
		}
	}
	if (s && s->env) {
		for (size_t i = p->env.n; i-- > 0;) {
			if (strcmp(p->env.keys[i], s->env) == 0) {
				value_set(v, SRC_ENV, p->env.vals[i], p->env.srcs[i]);
				return;
			}
		}
	}
	if (s && gate) {
		for (size_t i = 0; i < s->ngates; i++) {
			if (strcmp(s->gates[i], gate) == 0) {
				value_set(v, SRC_DEFAULT, s->gate_defs[i], p->def->name);
				return;
			}
		}
		return;
	}
	if (s && (s->def || s->flag_def)) {
		/* Without a config file the kubelet keeps its flags' defaults,
		 * which are not always the config file's. */
		bool with_config = p->config_path != NULL || !p->def->config_flag;
		const char *d = with_config || !s->flag_def ? s->def : s->flag_def;
		if (d) {
			char where[256];
			snprintf(where, sizeof(where), "%s%s", p->def->name,
				 !p->def->config_flag ? ""
				 : with_config	      ? " (with a config file)"
						      : " (no --config: flag default)");
			value_set(v, SRC_DEFAULT, d, where);
		}
	}
}

const char *bench_source_name(enum bench_source s)
{
	static const char *const names[] = { "unset", "command line", "drop-in", "config file",
					     "environment", "default" };
	return names[s];
}

const struct bench_proc *bench_node_proc(const struct bench_node *n, const char *component)
{
	for (size_t i = 0; i < n->nprocs; i++)
		if (strcmp(n->procs[i].def->name, component) == 0)
			return &n->procs[i];
	return NULL;
}

bool bench_node_has(const struct bench_node *n, const char *component)
{
	const struct bench_proc *p = bench_node_proc(n, component);
	return p && p->found;
}

/* ---- reading the config file and its drop-ins ----------------------------- */

static struct yfile *read_config(struct bench_node *n, const char *path, char **error)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	struct moat_error err = { 0 };
	if (bench_root_read(n, path, BENCH_MAX_CONFIG, &buf, &len, &err) < 0) {
		*error = xasprintf("cannot read %s", err.msg);
		return NULL;
	}
	struct yfile *f = NULL;
	if (yaml_parse(path, buf, len, &f, &err) < 0) {
		yfile_free(f);
		*error = xasprintf("cannot parse %s", err.msg);
		return NULL;
	}
	if (f->ndocs && f->docs[0].root && f->docs[0].root->type != YNODE_MAP) {
		*error = xasprintf("%s:%u: expected a mapping of settings, got %s", path,
				   f->docs[0].root->line, ynode_type_name(f->docs[0].root));
		yfile_free(f);
		return NULL;
	}
	return f;
}

static void load_config(struct bench_node *n, struct bench_proc *p)
{
	const char *val;
	size_t at;
	if (p->def->config_flag && argv_flag(p, p->def->config_flag, false, &at, &val) && *val) {
		p->config_path = xstrdup(val);
		p->config = read_config(n, val, &p->config_error);
		if (p->config_error)
			bench_note(n, "%s", p->config_error);
	}
	if (p->def->config_dir_flag && argv_flag(p, p->def->config_dir_flag, false, &at, &val) &&
	    *val) {
		char **names;
		size_t nn;
		if (bench_root_list(n, val, &names, &nn) < 0) {
			p->dropin_error = xasprintf("cannot read the drop-in directory %s: %s", val,
						    strerror(errno));
			bench_note(n, "%s", p->dropin_error);
			return;
		}
		for (size_t i = 0; i < nn; i++) {
			size_t l = strlen(names[i]);
			if (l < 6 || strcmp(names[i] + l - 5, ".conf") != 0 || names[i][0] == '.')
				continue;
			_cleanup_free_ char *path = xasprintf("%s/%s", val, names[i]);
			char *error = NULL;
			struct yfile *f = read_config(n, path, &error);
			if (error) {
				bench_note(n, "%s", error);
				if (!p->dropin_error)
					p->dropin_error = error;
				else
					free(error);
				continue;
			}
			p->dropins = xrealloc(p->dropins, (p->ndropins + 1) * sizeof(*p->dropins));
			p->dropin_paths =
				xrealloc(p->dropin_paths, (p->ndropins + 1) * sizeof(char *));
			p->dropins[p->ndropins] = f;
			p->dropin_paths[p->ndropins++] = xstrdup(path);
		}
		bench_strv_free(names, nn);
	}
}

/* ---- live: processes ------------------------------------------------------ */

static bool matches_binary(const struct bench_component *c, const char *argv0)
{
	const char *base = strrchr(argv0, '/');
	base = base ? base + 1 : argv0;
	for (size_t i = 0; i < c->nbinaries; i++)
		if (strcmp(base, c->binaries[i]) == 0)
			return true;
	return false;
}

static int read_proc_file(int dirfd, const char *name, char **data, size_t *len)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	struct moat_error err;
	if (fd < 0)
		return -1;
	return read_fd(fd, name, 256u << 10, data, len, &err);
}

static void scan_processes(struct bench_node *n)
{
	DIR *d = opendir("/proc");
	if (!d) {
		bench_note(n, "cannot read /proc: %s", strerror(errno));
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || pid == getpid())
			continue;
		_cleanup_close_ int pfd = openat(dirfd(d), e->d_name,
						 O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pfd < 0)
			continue;
		_cleanup_free_ char *cmd = NULL;
		size_t len;
		if (read_proc_file(pfd, "cmdline", &cmd, &len) < 0 || len == 0)
			continue;
		for (size_t i = 0; i < n->nprocs; i++) {
			struct bench_proc *p = &n->procs[i];
			if (p->found || !matches_binary(p->def, cmd))
				continue;
			p->found = true;
			p->pid = (pid_t)pid;
			p->where = xasprintf("process %ld", pid);
			p->source_file = xasprintf("/proc/%ld/cmdline", pid);
			for (size_t off = 0; off < len;) {
				size_t l = strnlen(cmd + off, len - off);
				char src[64];
				snprintf(src, sizeof(src), "process %ld", pid);
				_cleanup_free_ char *arg = xstrndup(cmd + off, l);
				bench_proc_add_arg(p, arg, src);
				off += l + 1;
			}
			bool wants_env = false;
			for (size_t k = 0; k < p->def->nsettings; k++)
				wants_env = wants_env || p->def->settings[k].env;
			_cleanup_free_ char *env = NULL;
			size_t elen;
			if (wants_env && read_proc_file(pfd, "environ", &env, &elen) == 0) {
				char src[64];
				snprintf(src, sizeof(src), "/proc/%ld/environ", pid);
				for (size_t off = 0; off < elen;) {
					size_t l = strnlen(env + off, elen - off);
					_cleanup_free_ char *kv = xstrndup(env + off, l);
					char *eq = strchr(kv, '=');
					if (eq) {
						*eq = '\0';
						bench_env_add(&p->env, kv, eq + 1, src);
					}
					off += l + 1;
				}
			}
			break;
		}
	}
	closedir(d);
}

/* Runs "exe --version" with a deadline and returns its first line. */
static char *run_version(const char *exe)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return NULL;
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return NULL;
	}
	if (pid == 0) {
		dup2(fds[1], 1);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 2);
		}
		execl(exe, exe, "--version", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	char buf[256];
	size_t used = 0;
	struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
	for (int waited = 0; used < sizeof(buf) - 1 && waited < 3000;) {
		if (poll(&pfd, 1, 100) <= 0) {
			waited += 100;
			continue;
		}
		ssize_t r = read(fds[0], buf + used, sizeof(buf) - 1 - used);
		if (r <= 0)
			break;
		used += (size_t)r;
	}
	buf[used] = '\0';
	close(fds[0]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	buf[strcspn(buf, "\n")] = '\0';
	return used ? xstrdup(buf) : NULL;
}

/* "Kubernetes v1.33.2", "v1.33.2", "1.33.2-1.1" -> "1.33.2" */
static char *version_from(const char *s)
{
	for (const char *p = s; *p; p++) {
		if ((p == s || p[-1] == 'v' || p[-1] == ' ' || p[-1] == ':') && *p >= '1' && *p <= '9') {
			unsigned a, b, c = 0;
			if (sscanf(p, "%u.%u.%u", &a, &b, &c) >= 2 && a == 1 && b < 1000)
				return xasprintf("%u.%u.%u", a, b, c);
		}
	}
	return NULL;
}

/* ---- offline: static pods and package metadata ----------------------------- */

static void load_manifest(struct bench_node *n, struct bench_proc *p)
{
	_cleanup_free_ char *path = xasprintf("/etc/kubernetes/manifests/%s", p->def->manifest);
	_cleanup_free_ char *buf = NULL;
	size_t len;
	struct moat_error err = { 0 };
	if (bench_root_read(n, path, BENCH_MAX_CONFIG, &buf, &len, &err) < 0) {
		if (err.errnum != ENOENT)
			bench_note(n, "%s", err.msg);
		return;
	}
	struct yfile *f = NULL;
	if (yaml_parse(path, buf, len, &f, &err) < 0) {
		bench_note(n, "%s: %s is present but cannot be read, so its flags are unknown",
			   err.msg, p->def->name);
		p->found = true;
		p->where = xasprintf("static pod %s (unreadable)", path);
		yfile_free(f);
		return;
	}
	const struct ynode *spec = f->ndocs ? ymap_get(f->docs[0].root, "spec") : NULL;
	const struct ynode *cs = ymap_get(spec, "containers");
	const struct ynode *c = cs && cs->type == YNODE_SEQ && cs->len ? cs->items[0] : NULL;
	if (!c || c->type != YNODE_MAP) {
		bench_note(n, "%s: no spec.containers[0]: not a static pod", path);
		yfile_free(f);
		return;
	}
	p->found = true;
	p->where = xasprintf("static pod %s", path);
	p->source_file = xstrdup(path);
	static const char *const lists[] = { "command", "args" };
	for (size_t k = 0; k < 2; k++) {
		const struct ynode *l = ymap_get(c, lists[k]);
		for (uint32_t i = 0; l && l->type == YNODE_SEQ && i < l->len; i++) {
			if (l->items[i]->type != YNODE_SCALAR)
				continue;
			char src[600];
			snprintf(src, sizeof(src), "%s:%u", path, l->items[i]->line);
			bench_proc_add_arg(p, l->items[i]->str, src);
		}
	}
	const struct ynode *env = ymap_get(c, "env");
	for (uint32_t i = 0; env && env->type == YNODE_SEQ && i < env->len; i++) {
		const struct ynode *name = ymap_get(env->items[i], "name");
		const struct ynode *value = ymap_get(env->items[i], "value");
		if (name && value && name->type == YNODE_SCALAR && value->type == YNODE_SCALAR) {
			char src[600];
			snprintf(src, sizeof(src), "%s:%u", path, value->line);
			bench_env_add(&p->env, name->str, value->str, src);
		}
	}
	const struct ynode *image = ymap_get(c, "image");
	if (!n->k8s_version && image && image->type == YNODE_SCALAR &&
	    strcmp(p->def->name, "etcd") != 0) {
		const char *tag = strrchr(image->str, ':');
		char *v = tag ? version_from(tag + 1) : NULL;
		if (v) {
			n->k8s_version = v;
			n->version_source = xasprintf("image tag %s in %s:%u", image->str, path,
						      image->line);
		}
	}
	yfile_free(f);
}

static void version_from_dpkg(struct bench_node *n)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	struct moat_error err = { 0 };
	if (bench_root_read(n, "/var/lib/dpkg/status", 64u << 20, &buf, &len, &err) < 0)
		return;
	static const char *const pkgs[] = { "kubelet", "kubeadm", "kubernetes-node" };
	for (size_t k = 0; k < ARRAY_SIZE(pkgs) && !n->k8s_version; k++) {
		char want[64];
		snprintf(want, sizeof(want), "Package: %s\n", pkgs[k]);
		for (char *s = buf; (s = strstr(s, want)); s++) {
			if (s != buf && s[-1] != '\n')
				continue;
			char *end = strstr(s, "\n\n");
			char *ver = strstr(s, "\nVersion: ");
			if (!ver || (end && ver > end))
				break;
			char line[128];
			snprintf(line, sizeof(line), "%.*s", (int)strcspn(ver + 10, "\n"), ver + 10);
			n->k8s_version = version_from(line);
			if (n->k8s_version)
				n->version_source = xasprintf("package %s %s in /var/lib/dpkg/status",
							      pkgs[k], line);
			break;
		}
	}
}

/* ---- owners ----------------------------------------------------------------- */

static bool lookup_name(const char *db, unsigned long id, char *out, size_t size)
{
	for (const char *line = db; line && *line;) {
		const char *next = strchr(line, '\n');
		const char *c1 = memchr(line, ':', next ? (size_t)(next - line) : strlen(line));
		const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (c2 && (!next || c2 < next)) {
			char *end;
			unsigned long v = strtoul(c2 + 1, &end, 10);
			if (end != c2 + 1 && *end == ':' && v == id) {
				snprintf(out, size, "%.*s", (int)(c1 - line), line);
				return true;
			}
		}
		line = next ? next + 1 : NULL;
	}
	return false;
}

void bench_owner_name(const struct bench_node *n, uid_t uid, gid_t gid, char *out, size_t size)
{
	/* The root's own user and group names, never the auditing host's. */
	struct bench_node *m = (struct bench_node *)n;
	if (!m->ids_read) {
		size_t len;
		struct moat_error err;
		m->ids_read = true;
		if (bench_root_read(n, "/etc/passwd", 8u << 20, &m->passwd, &len, &err) < 0)
			m->passwd = NULL;
		if (bench_root_read(n, "/etc/group", 8u << 20, &m->group, &len, &err) < 0)
			m->group = NULL;
	}
	char u[64], g[64];
	if (!lookup_name(m->passwd, uid, u, sizeof(u)))
		snprintf(u, sizeof(u), "%u", (unsigned)uid);
	if (!lookup_name(m->group, gid, g, sizeof(g)))
		snprintf(g, sizeof(g), "%u", (unsigned)gid);
	snprintf(out, size, "%s:%s", u, g);
}

/* ---- open and close ----------------------------------------------------------- */

int bench_node_open(struct bench_node *n, const struct bench_defs *defs, const char *root,
		    struct moat_error *err)
{
	memset(n, 0, sizeof(*n));
	n->defs = defs;
	n->live = root == NULL;
	n->root = root ? root : "/";
	n->root_fd = open(n->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (n->root_fd < 0)
		return moat_error_sys(err, errno, "--root %s", n->root);
	/* Probe openat2 once: without it the root could not be held closed. */
	_cleanup_close_ int probe = bench_root_open(n, "/", O_PATH);
	if (probe < 0) {
		int e = errno;
		close(n->root_fd);
		n->root_fd = -1;
		return moat_error_sys(err, e, "%s: cannot open paths confined to it (openat2 "
					      "with RESOLVE_IN_ROOT needs Linux 5.6)", n->root);
	}
	n->nprocs = defs->ncomponents;
	n->procs = xcalloc(n->nprocs ? n->nprocs : 1, sizeof(*n->procs));
	for (size_t i = 0; i < n->nprocs; i++)
		n->procs[i].def = &defs->components[i];
	if (n->live) {
		scan_processes(n);
	} else {
		for (size_t i = 0; i < n->nprocs; i++) {
			struct bench_proc *p = &n->procs[i];
			if (p->def->unit && bench_unit_load(n, p, p->def->unit) > 0)
				p->found = true;
			if (!p->found && p->def->manifest)
				load_manifest(n, p);
		}
	}
	for (size_t i = 0; i < n->nprocs; i++)
		if (n->procs[i].found)
			load_config(n, &n->procs[i]);

	/* The version: the component's own word live; package data or image
	 * tags offline. */
	if (n->live) {
		static const char *const order[] = { "kube-apiserver", "kubelet" };
		for (size_t k = 0; k < 2 && !n->k8s_version; k++) {
			const struct bench_proc *p = bench_node_proc(n, order[k]);
			if (!p || !p->found)
				continue;
			char exe[64];
			snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)p->pid);
			_cleanup_free_ char *out = run_version(exe);
			if (out && (n->k8s_version = version_from(out)))
				n->version_source = xasprintf("%s --version (process %d): %s",
							      order[k], (int)p->pid, out);
		}
	} else if (!n->k8s_version) {
		version_from_dpkg(n);
	}
	char host[256] = "";
	if (n->live) {
		gethostname(host, sizeof(host) - 1);
	} else {
		_cleanup_free_ char *buf = NULL;
		size_t len;
		struct moat_error e2;
		if (bench_root_read(n, "/etc/hostname", 4096, &buf, &len, &e2) == 0)
			snprintf(host, sizeof(host), "%.*s", (int)strcspn(buf, "\n"), buf);
	}
	n->hostname = xstrdup(host[0] ? host : n->root);
	return 0;
}

void bench_node_close(struct bench_node *n)
{
	for (size_t i = 0; i < n->nprocs; i++)
		proc_free(&n->procs[i]);
	free(n->procs);
	bench_strv_free(n->notes, n->nnotes);
	free(n->k8s_version);
	free(n->version_source);
	free(n->hostname);
	free(n->passwd);
	free(n->group);
	if (n->root_fd >= 0)
		close(n->root_fd);
	memset(n, 0, sizeof(*n));
	n->root_fd = -1;
}
