/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Capabilities: parsing names, dropping every set down to what a process
 * keeps, and reading a process's sets back from /proc.
 */
#include "enforcer.h"

#include <errno.h>
#include <sys/capability.h>
#include <sys/prctl.h>

int caps_last(void)
{
	int last = (int)cap_max_bits() - 1;
	return last > 63 ? 63 : last < 0 ? CAP_LAST_CAP : last;
}

int caps_parse(const char *list, cap_mask *out, struct moat_error *err)
{
	*out = 0;
	_cleanup_free_ char *copy = xstrdup(list ? list : "");
	char *save = NULL;
	for (char *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		if (strcasecmp(tok, "ALL") == 0) {
			for (int c = 0; c <= caps_last(); c++)
				*out |= (cap_mask)1 << c;
			continue;
		}
		if (strcasecmp(tok, "none") == 0)
			continue;
		/* "CAP_CHOWN", "cap_chown" and "chown" all name it. */
		char name[64];
		snprintf(name, sizeof(name), "%s%s", strncasecmp(tok, "cap_", 4) ? "cap_" : "", tok);
		for (char *c = name; *c; c++)
			*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
		cap_value_t v;
		if (cap_from_name(name, &v) < 0 || v < 0 || v > 63)
			return moat_error_set(err, EINVAL, "unknown capability '%s'", tok);
		*out |= (cap_mask)1 << v;
	}
	return 0;
}

char *caps_format(cap_mask m)
{
	struct sbuf b = { 0 };
	for (int c = 0; c < 64; c++) {
		if (!(m & ((cap_mask)1 << c)))
			continue;
		char *name = cap_to_name((cap_value_t)c);
		sbuf_printf(&b, "%s%s", b.len ? "," : "", name ? name : "?");
		cap_free(name);
	}
	if (!b.len)
		sbuf_puts(&b, "none");
	return sbuf_steal(&b);
}

int caps_keep(cap_mask keep, struct moat_error *err)
{
	/* Only what this process holds can be kept: ALL means all of those. */
	struct proc_caps now;
	if (caps_read(getpid(), &now, err) < 0)
		return -1;
	keep &= now.permitted;
	return caps_apply(keep, keep, CAPS_AMBIENT | CAPS_NO_NEW_PRIVS, err);
}

int caps_apply(cap_mask bounding, cap_mask sets, unsigned flags, struct moat_error *err)
{
	int last = caps_last();
	cap_t caps = cap_get_proc();
	if (!caps)
		return moat_error_sys(err, errno, "cap_get_proc");
	/* Dropping from the bounding set takes CAP_SETPCAP in the effective
	 * set: raise everything permitted first (after a setuid to non-root
	 * with keepcaps, the effective set is empty). */
	cap_value_t all[64];
	int nall = 0;
	for (int c = 0; c <= last && nall < 64; c++) {
		cap_flag_value_t v = CAP_CLEAR;
		if (cap_get_flag(caps, (cap_value_t)c, CAP_PERMITTED, &v) == 0 && v == CAP_SET)
			all[nall++] = (cap_value_t)c;
	}
	int r = 0;
	if (nall && (cap_set_flag(caps, CAP_EFFECTIVE, nall, all, CAP_SET) < 0 ||
		     cap_set_proc(caps) < 0))
		r = moat_error_sys(err, errno, "raising the effective set");
	cap_free(caps);
	if (r < 0)
		return r;
	/* The bounding set first, while CAP_SETPCAP is still ours: it limits
	 * what any later execve can grant. */
	for (int c = 0; c <= last; c++) {
		if (bounding & ((cap_mask)1 << c))
			continue;
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1 && cap_drop_bound((cap_value_t)c) < 0)
			return moat_error_sys(err, errno, "dropping %s from the bounding set",
					      cap_to_name((cap_value_t)c));
	}
	caps = cap_init();
	if (!caps)
		return moat_error_sys(err, errno, "cap_init");
	cap_value_t list[64];
	int n = 0;
	for (int c = 0; c <= last; c++)
		if (sets & bounding & ((cap_mask)1 << c))
			list[n++] = (cap_value_t)c;
	if (n && (cap_set_flag(caps, CAP_PERMITTED, n, list, CAP_SET) < 0 ||
		  cap_set_flag(caps, CAP_EFFECTIVE, n, list, CAP_SET) < 0 ||
		  cap_set_flag(caps, CAP_INHERITABLE, n, list, CAP_SET) < 0))
		r = moat_error_sys(err, errno, "cap_set_flag");
	if (r == 0 && cap_set_proc(caps) < 0)
		r = moat_error_sys(err, errno, "setting the capability sets");
	cap_free(caps);
	if (r < 0)
		return r;
	/* Ambient: exactly the kept ones when asked, so they survive execve for
	 * a non-root program; otherwise nothing. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return moat_error_sys(err, errno, "clearing the ambient set");
	for (int i = 0; (flags & CAPS_AMBIENT) && i < n; i++)
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, list[i], 0, 0) < 0)
			return moat_error_sys(err, errno, "raising %s in the ambient set",
					      cap_to_name(list[i]));
	if ((flags & CAPS_NO_NEW_PRIVS) && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return moat_error_sys(err, errno, "setting no_new_privs");
	return 0;
}

int caps_read(pid_t pid, struct proc_caps *out, struct moat_error *err)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (read_file(path, 1u << 20, &buf, &len, err) < 0)
		return -1;
	memset(out, 0, sizeof(*out));
	out->no_new_privs = out->seccomp = -1;
	static const struct {
		const char *key;
		size_t off;
	} fields[] = {
		{ "CapInh:", offsetof(struct proc_caps, inheritable) },
		{ "CapPrm:", offsetof(struct proc_caps, permitted) },
		{ "CapEff:", offsetof(struct proc_caps, effective) },
		{ "CapBnd:", offsetof(struct proc_caps, bounding) },
		{ "CapAmb:", offsetof(struct proc_caps, ambient) },
	};
	for (char *line = buf; line && *line;) {
		char *next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
			if (strncmp(line, fields[i].key, strlen(fields[i].key)) == 0)
				*(cap_mask *)((char *)out + fields[i].off) =
					strtoull(line + strlen(fields[i].key), NULL, 16);
		if (strncmp(line, "NoNewPrivs:", 11) == 0)
			out->no_new_privs = atoi(line + 11);
		if (strncmp(line, "Seccomp:", 8) == 0)
			out->seccomp = atoi(line + 8);
		line = next;
	}
	return 0;
}
