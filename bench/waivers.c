/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Waivers: a control the owner of a node has accepted, with the reason and a
 * date after which the waiver lapses and the control counts again.
 *
 *   kind: BenchWaivers
 *   waivers:
 *   - {check: 1.1.12, reason: "etcd runs as root under kubeadm", expires: 2027-01-31}
 */
#include "bench_int.h"

#include <errno.h>

static int waiver_error(struct moat_error *err, const char *name, const struct ynode *at,
			const char *msg)
{
	return moat_error_set(err, EBADMSG, "%s:%u:%u: %s", name, at ? at->line : 1,
			      at ? at->col : 1, msg);
}

int bench_waivers_parse(const char *name, const char *buf, size_t len, struct bench_waiver **out,
			size_t *n, struct arena *arena, struct moat_error *err)
{
	*out = NULL;
	*n = 0;
	struct yfile *f = NULL;
	if (yaml_parse(name, buf, len, &f, err) < 0) {
		yfile_free(f);
		return -1;
	}
	int r = 0;
	const struct ynode *root = f->ndocs ? f->docs[0].root : NULL;
	const struct ynode *kind = ymap_get(root, "kind");
	const struct ynode *list = ymap_get(root, "waivers");
	if (!root || root->type != YNODE_MAP) {
		r = waiver_error(err, name, root, "expected a mapping with a 'waivers' list");
	} else if (f->ndocs > 1) {
		r = waiver_error(err, name, f->docs[1].root, "one document only, please");
	} else if (kind && !yscalar_is(kind, "BenchWaivers")) {
		r = waiver_error(err, name, kind, "kind: expected BenchWaivers");
	} else if (!list || list->type != YNODE_SEQ) {
		r = waiver_error(err, name, list ? list : root, "waivers: expected a list");
	}
	for (uint32_t i = 0; r == 0 && i < root->len; i++) {
		const struct ynode *k = root->pairs[i].key;
		if (!yscalar_is(k, "kind") && !yscalar_is(k, "waivers") && !yscalar_is(k, "apiVersion"))
			r = waiver_error(err, name, k, "unknown key (expected kind and waivers)");
	}
	struct bench_waiver *w = r == 0 ? xcalloc(list->len ? list->len : 1, sizeof(*w)) : NULL;
	for (uint32_t i = 0; r == 0 && i < list->len; i++) {
		const struct ynode *it = list->items[i];
		if (it->type != YNODE_MAP) {
			r = waiver_error(err, name, it, "a waiver is a mapping: check, reason, expires");
			break;
		}
		for (uint32_t k = 0; k < it->len && r == 0; k++) {
			const struct ynode *key = it->pairs[k].key;
			const struct ynode *val = it->pairs[k].val;
			if (!yscalar_is(key, "check") && !yscalar_is(key, "reason") &&
			    !yscalar_is(key, "expires"))
				r = waiver_error(err, name, key,
						 "unknown key in a waiver (expected check, reason, expires)");
			else if (val->type != YNODE_SCALAR || ynode_is_null(val) || !val->len)
				r = waiver_error(err, name, val, "expected a non-empty string");
		}
		if (r)
			break;
		const struct ynode *check = ymap_get(it, "check"), *reason = ymap_get(it, "reason"),
				   *expires = ymap_get(it, "expires");
		if (!check || !reason || !expires) {
			r = waiver_error(err, name, it, !check ? "a waiver needs check: the control id"
							: !reason ? "a waiver needs reason: why it is accepted"
								  : "a waiver needs expires: YYYY-MM-DD");
			break;
		}
		long days = date_parse_days(expires->str);
		if (days < 0) {
			r = waiver_error(err, name, expires, "expires: expected a date, YYYY-MM-DD");
			break;
		}
		char where[600];
		snprintf(where, sizeof(where), "%s:%u", name, it->line);
		w[i].check = arena_strndup(arena, check->str, check->len);
		w[i].reason = arena_strndup(arena, reason->str, reason->len);
		w[i].where = arena_strndup(arena, where, strlen(where));
		w[i].expires_days = days;
		(*n)++;
	}
	yfile_free(f);
	if (r < 0) {
		free(w);
		*n = 0;
		return -1;
	}
	*out = w;
	return 0;
}

int bench_waivers_load(const char *path, struct bench_waiver **out, size_t *n,
		       struct arena *arena, struct moat_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (read_file(path, 1u << 20, &buf, &len, err) < 0)
		return -1;
	_cleanup_free_ char *display = path_display(path);
	return bench_waivers_parse(display, buf, len, out, n, arena, err);
}
