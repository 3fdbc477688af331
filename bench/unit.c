/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What systemd would run: a unit file and its drop-ins, their Environment=
 * and EnvironmentFile= settings, and ExecStart= split into words with $VAR
 * and ${VAR} expanded as systemd.service(5) describes.  Read from a node
 * image, nothing here is ever executed.
 */
#include "bench_int.h"

#include <errno.h>

void bench_strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* One shell-like word at *p per systemd's rules: whitespace separates,
 * "..." and '...' group, a backslash escapes.  Returns NULL at the end. */
static char *next_word(const char **p)
{
	const char *s = *p;
	while (*s == ' ' || *s == '\t' || *s == '\n')
		s++;
	if (!*s) {
		*p = s;
		return NULL;
	}
	struct sbuf b = { 0 };
	sbuf_add(&b, "", 0);
	char quote = 0;
	for (; *s; s++) {
		if (quote) {
			if (*s == quote) {
				quote = 0;
			} else if (*s == '\\' && s[1] && quote == '"') {
				s++;
				sbuf_add(&b, s, 1);
			} else {
				sbuf_add(&b, s, 1);
			}
		} else if (*s == '"' || *s == '\'') {
			quote = *s;
		} else if (*s == '\\' && s[1]) {
			s++;
			sbuf_add(&b, s, 1);
		} else if (*s == ' ' || *s == '\t' || *s == '\n') {
			break;
		} else {
			sbuf_add(&b, s, 1);
		}
	}
	*p = s;
	return sbuf_steal(&b);
}

static const char *env_get(const char *const *keys, const char *const *vals, size_t n,
			   const char *name, size_t len, size_t *idx)
{
	/* The last assignment wins, as it does in systemd. */
	for (size_t i = n; i-- > 0;) {
		if (strlen(keys[i]) == len && memcmp(keys[i], name, len) == 0) {
			if (idx)
				*idx = i;
			return vals[i];
		}
	}
	return NULL;
}

static bool name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

int bench_split_exec_src(const char *line, const char *const *keys, const char *const *vals,
			 size_t nenv, char ***words, long **from, size_t *nwords)
{
	size_t n = 0, cap = 0, fcap = 0;
	char **w = NULL;
	long *f = NULL;
	const char *p = line;
	char *word;
	while ((word = next_word(&p))) {
		if (n > 4096) {
			free(word);
			break;
		}
		size_t idx;
		/* "$VAR" alone is split on whitespace into several words. */
		if (word[0] == '$' && word[1] != '{' && word[1] != '$') {
			size_t len = strlen(word + 1);
			bool whole = len > 0;
			for (size_t i = 1; word[i]; i++)
				whole = whole && name_char(word[i]);
			if (whole) {
				const char *v = env_get(keys, vals, nenv, word + 1, len, &idx);
				free(word);
				if (!v)
					continue;
				const char *q = v;
				char *part;
				while ((part = next_word(&q))) {
					w = grow_array(w, &cap, n + 1, sizeof(*w));
					f = grow_array(f, &fcap, n + 1, sizeof(*f));
					w[n] = part;
					f[n++] = (long)idx;
				}
				continue;
			}
		}
		/* "${VAR}" anywhere is replaced in place, as one word. */
		struct sbuf b = { 0 };
		sbuf_add(&b, "", 0);
		long src = -1;
		for (const char *s = word; *s;) {
			if (s[0] == '$' && s[1] == '$') {
				sbuf_add(&b, "$", 1);
				s += 2;
			} else if (s[0] == '$' && s[1] == '{') {
				const char *end = strchr(s + 2, '}');
				if (!end) {
					sbuf_puts(&b, s);
					break;
				}
				const char *v = env_get(keys, vals, nenv, s + 2, (size_t)(end - s - 2),
							&idx);
				if (v) {
					sbuf_puts(&b, v);
					src = (long)idx;
				}
				s = end + 1;
			} else {
				sbuf_add(&b, s, 1);
				s++;
			}
		}
		free(word);
		w = grow_array(w, &cap, n + 1, sizeof(*w));
		f = grow_array(f, &fcap, n + 1, sizeof(*f));
		w[n] = sbuf_steal(&b);
		f[n++] = src;
	}
	/* The executable may carry systemd's prefixes: "-", "@", ":", "+", "!". */
	if (n) {
		char *e = w[0];
		size_t skip = strspn(e, "-@:+!");
		memmove(e, e + skip, strlen(e + skip) + 1);
	}
	*words = w;
	*nwords = n;
	if (from)
		*from = f;
	else
		free(f);
	return 0;
}

int bench_split_exec(const char *line, const char *const *keys, const char *const *vals,
		     size_t nenv, char ***words, size_t *nwords)
{
	return bench_split_exec_src(line, keys, vals, nenv, words, NULL, nwords);
}

/* KEY=VALUE lines as systemd reads an EnvironmentFile=: "#" and ";" start
 * comments, values may be quoted, a trailing backslash continues a line. */
int bench_parse_env_file_lines(const char *buf, size_t len, char ***keys, char ***vals,
			       uint32_t **lines, size_t *n)
{
	size_t cap = 0, vcap = 0, lcap = 0, count = 0;
	char **k = NULL, **v = NULL;
	uint32_t *ln = NULL;
	uint32_t lineno = 0;
	size_t i = 0;
	while (i < len && count < 4096) {
		struct sbuf line = { 0 };
		sbuf_add(&line, "", 0);
		uint32_t start = ++lineno;
		for (;;) {
			size_t e = i;
			while (e < len && buf[e] != '\n')
				e++;
			bool cont = e > i && buf[e - 1] == '\\';
			sbuf_add(&line, buf + i, e - i - (cont ? 1 : 0));
			i = e < len ? e + 1 : e;
			if (!cont || i >= len)
				break;
			lineno++;
		}
		const char *s = line.s;
		while (*s == ' ' || *s == '\t')
			s++;
		const char *eq = strchr(s, '=');
		if (*s == '#' || *s == ';' || !eq || eq == s || memchr(line.s, '\0', line.len)) {
			sbuf_release(&line);
			continue;
		}
		const char *ke = eq;
		while (ke > s && (ke[-1] == ' ' || ke[-1] == '\t'))
			ke--;
		const char *val = eq + 1;
		while (*val == ' ' || *val == '\t')
			val++;
		struct sbuf vb = { 0 };
		sbuf_add(&vb, "", 0);
		if (*val == '"' || *val == '\'') {
			char q = *val++;
			for (; *val && *val != q; val++) {
				if (*val == '\\' && val[1] && q == '"')
					val++;
				sbuf_add(&vb, val, 1);
			}
		} else {
			size_t l = strlen(val);
			while (l && (val[l - 1] == ' ' || val[l - 1] == '\t' || val[l - 1] == '\r'))
				l--;
			sbuf_add(&vb, val, l);
		}
		k = grow_array(k, &cap, count + 1, sizeof(*k));
		v = grow_array(v, &vcap, count + 1, sizeof(*v));
		ln = grow_array(ln, &lcap, count + 1, sizeof(*ln));
		k[count] = xstrndup(s, (size_t)(ke - s));
		v[count] = sbuf_steal(&vb);
		ln[count++] = start;
		sbuf_release(&line);
	}
	*keys = k;
	*vals = v;
	if (lines)
		*lines = ln;
	else
		free(ln);
	*n = count;
	return 0;
}

int bench_parse_env_file(const char *buf, size_t len, char ***keys, char ***vals, size_t *n)
{
	return bench_parse_env_file_lines(buf, len, keys, vals, NULL, n);
}

void bench_env_add(struct bench_env *e, const char *key, const char *val, const char *src)
{
	e->keys = grow_array(e->keys, &e->cap_keys, e->n + 1, sizeof(*e->keys));
	e->vals = grow_array(e->vals, &e->cap_vals, e->n + 1, sizeof(*e->vals));
	e->srcs = grow_array(e->srcs, &e->cap_srcs, e->n + 1, sizeof(*e->srcs));
	e->keys[e->n] = xstrdup(key);
	e->vals[e->n] = xstrdup(val);
	e->srcs[e->n++] = xstrdup(src);
}

void bench_env_free(struct bench_env *e)
{
	bench_strv_free(e->keys, e->n);
	bench_strv_free(e->vals, e->n);
	bench_strv_free(e->srcs, e->n);
	memset(e, 0, sizeof(*e));
}

static const char *const unit_dirs[] = {
	"/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
	"/usr/lib/systemd/system", "/lib/systemd/system",
};

struct unit_file {
	char *path;
	char *name; /* drop-ins sort by name */
};

static int cmp_unit_file(const void *a, const void *b)
{
	return strcmp(((const struct unit_file *)a)->name, ((const struct unit_file *)b)->name);
}

struct unit_state {
	struct bench_node *node;
	struct bench_env env;       /* Environment= */
	char **envfiles, **envfile_srcs;
	size_t nenvfiles, cap_envfiles, cap_envfile_srcs;
	char *exec, *exec_src;
	size_t exec_count;
};

static void unit_parse(struct unit_state *u, const char *path, const char *buf, size_t len)
{
	bool service = false;
	uint32_t lineno = 0;
	size_t i = 0;
	while (i < len) {
		struct sbuf line = { 0 };
		sbuf_add(&line, "", 0);
		uint32_t start = ++lineno;
		for (;;) {
			size_t e = i;
			while (e < len && buf[e] != '\n')
				e++;
			bool cont = e > i && buf[e - 1] == '\\';
			sbuf_add(&line, buf + i, e - i - (cont ? 1 : 0));
			if (cont)
				sbuf_add(&line, " ", 1);
			i = e < len ? e + 1 : e;
			if (!cont || i >= len)
				break;
			lineno++;
		}
		char *s = line.s;
		while (*s == ' ' || *s == '\t')
			s++;
		size_t l = strlen(s);
		while (l && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\r'))
			s[--l] = '\0';
		if (*s == '[') {
			service = strcmp(s, "[Service]") == 0;
		} else if (service && *s != '#' && *s != ';' && strchr(s, '=')) {
			char *eq = strchr(s, '=');
			char *ke = eq;
			while (ke > s && (ke[-1] == ' ' || ke[-1] == '\t'))
				ke--;
			*ke = '\0';
			char *val = eq + 1;
			while (*val == ' ' || *val == '\t')
				val++;
			char src[600];
			snprintf(src, sizeof(src), "%s:%u", path, start);
			if (strcmp(s, "ExecStart") == 0) {
				free(u->exec);
				free(u->exec_src);
				/* An empty assignment resets the list, as drop-ins do to
				 * replace the packaged command. */
				u->exec = *val ? xstrdup(val) : NULL;
				u->exec_src = *val ? xstrdup(src) : NULL;
			} else if (strcmp(s, "Environment") == 0) {
				if (!*val) {
					bench_env_free(&u->env);
				} else {
					const char *p = val;
					char *word;
					while ((word = next_word(&p))) {
						char *weq = strchr(word, '=');
						if (weq && weq != word) {
							*weq = '\0';
							bench_env_add(&u->env, word, weq + 1, src);
						}
						free(word);
					}
				}
			} else if (strcmp(s, "EnvironmentFile") == 0 && *val) {
				u->envfiles = grow_array(u->envfiles, &u->cap_envfiles,
							 u->nenvfiles + 1, sizeof(char *));
				u->envfile_srcs = grow_array(u->envfile_srcs, &u->cap_envfile_srcs,
							     u->nenvfiles + 1, sizeof(char *));
				u->envfiles[u->nenvfiles] = xstrdup(val);
				u->envfile_srcs[u->nenvfiles++] = xstrdup(src);
			}
		}
		sbuf_release(&line);
	}
}

static void unit_read(struct unit_state *u, const char *path)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	struct moat_error err = { 0 };
	if (bench_root_read(u->node, path, BENCH_MAX_CONFIG, &buf, &len, &err) < 0) {
		bench_note(u->node, "%s", err.msg);
		return;
	}
	unit_parse(u, path, buf, len);
}

/* Finds the unit and its drop-ins in the root, reads them in systemd's
 * order, and fills proc's argv (with where each word came from) and env. */
int bench_unit_load(struct bench_node *n, struct bench_proc *p, const char *unit)
{
	struct unit_state u = { .node = n };
	char *fragment = NULL;
	struct unit_file *dropins = NULL;
	size_t ndropins = 0, cap = 0;
	for (size_t d = 0; d < ARRAY_SIZE(unit_dirs); d++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", unit_dirs[d], unit);
		struct stat st;
		if (!fragment && bench_root_stat(n, path, &st) == 0 && S_ISREG(st.st_mode))
			fragment = xstrdup(path);
		_cleanup_free_ char *dir = xasprintf("%s/%s.d", unit_dirs[d], unit);
		char **names = NULL;
		size_t nnames = 0;
		if (bench_root_list(n, dir, &names, &nnames) < 0)
			continue;
		for (size_t i = 0; i < nnames; i++) {
			size_t l = strlen(names[i]);
			bool dup = false;
			for (size_t k = 0; k < ndropins; k++)
				dup = dup || strcmp(dropins[k].name, names[i]) == 0;
			if (l < 6 || strcmp(names[i] + l - 5, ".conf") != 0 || dup)
				continue; /* a higher directory's file of that name wins */
			dropins = grow_array(dropins, &cap, ndropins + 1, sizeof(*dropins));
			dropins[ndropins].path = xasprintf("%s/%s", dir, names[i]);
			dropins[ndropins++].name = xstrdup(names[i]);
		}
		bench_strv_free(names, nnames);
	}
	if (ndropins)
		qsort(dropins, ndropins, sizeof(*dropins), cmp_unit_file);
	if (fragment) {
		bench_proc_add_file(p, fragment);
		unit_read(&u, fragment);
	}
	for (size_t i = 0; i < ndropins; i++) {
		bench_proc_add_file(p, dropins[i].path);
		unit_read(&u, dropins[i].path);
	}
	int found = fragment || ndropins;
	/* EnvironmentFile= values override Environment= ones (systemd.exec(5)). */
	struct bench_env env = { 0 };
	for (size_t i = 0; i < u.env.n; i++)
		bench_env_add(&env, u.env.keys[i], u.env.vals[i], u.env.srcs[i]);
	for (size_t i = 0; i < u.nenvfiles; i++) {
		const char *f = u.envfiles[i];
		bool optional = f[0] == '-';
		if (optional)
			f++;
		_cleanup_free_ char *buf = NULL;
		size_t len;
		struct moat_error err = { 0 };
		if (bench_root_read(n, f, BENCH_MAX_CONFIG, &buf, &len, &err) < 0) {
			if (!optional || err.errnum != ENOENT)
				bench_note(n, "%s (EnvironmentFile= at %s)", err.msg, u.envfile_srcs[i]);
			continue;
		}
		char **k, **v;
		uint32_t *lines;
		size_t cnt;
		bench_parse_env_file_lines(buf, len, &k, &v, &lines, &cnt);
		for (size_t j = 0; j < cnt; j++) {
			char src[600];
			snprintf(src, sizeof(src), "%s:%u", f, lines[j]);
			bench_env_add(&env, k[j], v[j], src);
		}
		bench_strv_free(k, cnt);
		bench_strv_free(v, cnt);
		free(lines);
	}
	if (u.exec) {
		char **words;
		long *from;
		size_t nw;
		bench_split_exec_src(u.exec, (const char *const *)env.keys,
				     (const char *const *)env.vals, env.n, &words, &from, &nw);
		for (size_t i = 0; i < nw; i++) {
			char src[1400];
			if (from[i] >= 0)
				snprintf(src, sizeof(src), "$%s from %s", env.keys[from[i]],
					 env.srcs[from[i]]);
			else
				snprintf(src, sizeof(src), "ExecStart= at %s", u.exec_src);
			bench_proc_add_arg(p, words[i], src);
		}
		bench_strv_free(words, nw);
		free(from);
		free(p->where);
		p->where = xasprintf("unit %s (%s)", unit, u.exec_src);
		free(p->source_file);
		p->source_file = xstrndup(u.exec_src, strcspn(u.exec_src, ":"));
	} else if (found) {
		bench_note(n, "%s has no ExecStart= in its unit files", unit);
	}
	int has_exec = u.exec != NULL;
	bench_env_free(&env);
	bench_env_free(&u.env);
	bench_strv_free(u.envfiles, u.nenvfiles);
	bench_strv_free(u.envfile_srcs, u.nenvfiles);
	free(u.exec);
	free(u.exec_src);
	free(fragment);
	for (size_t i = 0; i < ndropins; i++) {
		free(dropins[i].path);
		free(dropins[i].name);
	}
	free(dropins);
	return has_exec;
}

void bench_unit_parse_only(const char *buf, size_t len)
{
	struct unit_state u = { 0 };
	unit_parse(&u, "fuzz.service", buf, len);
	bench_env_free(&u.env);
	bench_strv_free(u.envfiles, u.nenvfiles);
	bench_strv_free(u.envfile_srcs, u.nenvfiles);
	free(u.exec);
	free(u.exec_src);
}
