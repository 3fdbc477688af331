/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The JSON documents of an image: the OCI image index (index.json, and
 * Docker manifest lists), image manifests (OCI and Docker schema 2), image
 * configs, and the manifest.json that `docker save` writes.  Field names and
 * types follow the OCI image spec v1.1 (image-index.md, manifest.md,
 * descriptor.md, config.md).  Every document is untrusted: types are
 * checked, digests must have their registered form, counts are bounded.
 */
#include "image_int.h"

#include <errno.h>
#include <jansson.h>

#define MAX_ARRAY 4096 /* Env, Cmd, manifests: far above any real image */

/* jansson's own json_decrefp, as a cleanup attribute. */
#define _cleanup_json_ _cleanup_(json_decrefp)

static json_t *load(const char *name, const char *buf, size_t len, struct moat_error *err)
{
	json_error_t je;
	if (len > IMAGE_MAX_JSON) {
		moat_error_set(err, EFBIG, "%s: %zu bytes, over the %u MiB limit", name, len,
			       IMAGE_MAX_JSON >> 20);
		return NULL;
	}
	/* Duplicate keys would let two readers see two different images. */
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		moat_error_set(err, EBADMSG, "%s:%d:%d: %s", name, je.line, je.column, je.text);
	return j;
}

/* A string member: 0 and *out (NULL when absent or null), -1 when it has
 * another type or holds a NUL byte. */
static int get_str(const char *name, const char *where, json_t *obj, const char *key,
		   char **out, struct moat_error *err)
{
	*out = NULL;
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return moat_error_set(err, EBADMSG, "%s: %s%s: expected a string", name, where, key);
	const char *s = json_string_value(v);
	if (strlen(s) != json_string_length(v))
		return moat_error_set(err, EBADMSG, "%s: %s%s: holds a NUL byte", name, where, key);
	*out = xstrdup(s);
	return 0;
}

/* A string array member, NULL-terminated; absent or null gives NULL. */
static int get_str_array(const char *name, const char *where, json_t *obj, const char *key,
			 char ***out, size_t *count, struct moat_error *err)
{
	*out = NULL;
	if (count)
		*count = 0;
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return moat_error_set(err, EBADMSG, "%s: %s%s: expected an array of strings", name,
				      where, key);
	size_t n = json_array_size(v);
	if (n > MAX_ARRAY)
		return moat_error_set(err, EBADMSG, "%s: %s%s: %zu items, over %d", name, where, key,
				      n, MAX_ARRAY);
	char **arr = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		json_t *s = json_array_get(v, i);
		if (!json_is_string(s) || strlen(json_string_value(s)) != json_string_length(s)) {
			for (size_t k = 0; k < i; k++)
				free(arr[k]);
			free(arr);
			return moat_error_set(err, EBADMSG, "%s: %s%s[%zu]: expected a string", name,
					      where, key, i);
		}
		arr[i] = xstrdup(json_string_value(s));
	}
	*out = arr;
	if (count)
		*count = n;
	return 0;
}

static void free_strv(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static void descriptor_release(struct oci_descriptor *d)
{
	free(d->media_type);
	free(d->digest);
	free(d->ref_name);
	free(d->image_name);
	free(d->os);
	free(d->arch);
	free(d->variant);
	memset(d, 0, sizeof(*d));
}

static int parse_descriptor(const char *name, const char *where, json_t *j,
			    struct oci_descriptor *d, struct moat_error *err)
{
	memset(d, 0, sizeof(*d));
	if (!json_is_object(j))
		return moat_error_set(err, EBADMSG, "%s: %s: expected an object", name, where);
	char w[128];
	snprintf(w, sizeof(w), "%s.", where);
	if (get_str(name, w, j, "mediaType", &d->media_type, err) < 0 ||
	    get_str(name, w, j, "digest", &d->digest, err) < 0)
		goto fail;
	if (!d->digest) {
		moat_error_set(err, EBADMSG, "%s: %s: has no digest", name, where);
		goto fail;
	}
	if (digest_check(d->digest) < 0) {
		moat_error_set(err, EBADMSG, "%s: %s.digest: '%.80s' is not a sha256 or sha512 "
					     "digest", name, where, d->digest);
		goto fail;
	}
	json_t *size = json_object_get(j, "size");
	if (!json_is_integer(size) || json_integer_value(size) < 0) {
		moat_error_set(err, EBADMSG, "%s: %s.size: expected a size in bytes", name, where);
		goto fail;
	}
	d->size = (int64_t)json_integer_value(size);
	json_t *ann = json_object_get(j, "annotations");
	if (ann && !json_is_null(ann)) {
		if (!json_is_object(ann)) {
			moat_error_set(err, EBADMSG, "%s: %s.annotations: expected an object", name,
				       where);
			goto fail;
		}
		char wa[160];
		snprintf(wa, sizeof(wa), "%s.annotations.", where);
		if (get_str(name, wa, ann, "org.opencontainers.image.ref.name", &d->ref_name, err) < 0 ||
		    get_str(name, wa, ann, "io.containerd.image.name", &d->image_name, err) < 0)
			goto fail;
	}
	json_t *plat = json_object_get(j, "platform");
	if (plat && !json_is_null(plat)) {
		if (!json_is_object(plat)) {
			moat_error_set(err, EBADMSG, "%s: %s.platform: expected an object", name, where);
			goto fail;
		}
		char wp[160];
		snprintf(wp, sizeof(wp), "%s.platform.", where);
		if (get_str(name, wp, plat, "os", &d->os, err) < 0 ||
		    get_str(name, wp, plat, "architecture", &d->arch, err) < 0 ||
		    get_str(name, wp, plat, "variant", &d->variant, err) < 0)
			goto fail;
	}
	return 0;
fail:
	descriptor_release(d);
	return -1;
}

static int check_schema(const char *name, json_t *root, struct moat_error *err)
{
	json_t *v = json_object_get(root, "schemaVersion");
	if (!v)
		return moat_error_set(err, EBADMSG, "%s: has no schemaVersion", name);
	if (!json_is_integer(v) || json_integer_value(v) != 2)
		return moat_error_set(err, EBADMSG, "%s: schemaVersion must be 2 (Docker schema 1 "
						    "images are not supported)", name);
	return 0;
}

int oci_index_parse(const char *name, const char *buf, size_t len, struct oci_index *out,
		    struct moat_error *err)
{
	memset(out, 0, sizeof(*out));
	_cleanup_json_ json_t *root = load(name, buf, len, err);
	if (!root)
		return -1;
	if (!json_is_object(root))
		return moat_error_set(err, EBADMSG, "%s: expected an image index object", name);
	if (check_schema(name, root, err) < 0)
		return -1;
	json_t *mt = json_object_get(root, "mediaType");
	if (mt && !(json_is_string(mt) && (strcmp(json_string_value(mt), MT_OCI_INDEX) == 0 ||
					   strcmp(json_string_value(mt), MT_DOCKER_LIST) == 0)))
		return moat_error_set(err, EBADMSG, "%s: mediaType is not an image index", name);
	json_t *m = json_object_get(root, "manifests");
	if (!json_is_array(m))
		return moat_error_set(err, EBADMSG, "%s: manifests: expected an array", name);
	size_t n = json_array_size(m);
	if (n > MAX_ARRAY)
		return moat_error_set(err, EBADMSG, "%s: manifests: %zu entries, over %d", name, n,
				      MAX_ARRAY);
	out->manifests = xcalloc(n ? n : 1, sizeof(*out->manifests));
	for (size_t i = 0; i < n; i++) {
		char where[48];
		snprintf(where, sizeof(where), "manifests[%zu]", i);
		if (parse_descriptor(name, where, json_array_get(m, i), &out->manifests[i], err) < 0) {
			oci_index_release(out);
			return -1;
		}
		out->n++;
	}
	return 0;
}

void oci_index_release(struct oci_index *x)
{
	for (size_t i = 0; i < x->n; i++)
		descriptor_release(&x->manifests[i]);
	free(x->manifests);
	memset(x, 0, sizeof(*x));
}

int oci_manifest_parse(const char *name, const char *buf, size_t len, struct oci_manifest *out,
		       struct moat_error *err)
{
	memset(out, 0, sizeof(*out));
	_cleanup_json_ json_t *root = load(name, buf, len, err);
	if (!root)
		return -1;
	if (!json_is_object(root))
		return moat_error_set(err, EBADMSG, "%s: expected an image manifest object", name);
	json_t *mt = json_object_get(root, "mediaType");
	const char *mts = json_string_value(mt);
	if (mts && (strcmp(mts, MT_OCI_INDEX) == 0 || strcmp(mts, MT_DOCKER_LIST) == 0))
		return 1;
	if (!mt && json_object_get(root, "manifests") && !json_object_get(root, "config"))
		return 1;
	if (check_schema(name, root, err) < 0)
		return -1;
	if (mt && !(mts && (strcmp(mts, MT_OCI_MANIFEST) == 0 || strcmp(mts, MT_DOCKER_MANIFEST) == 0)))
		return moat_error_set(err, EBADMSG, "%s: mediaType '%.80s' is not an image manifest",
				      name, mts ? mts : "(not a string)");
	if (mts)
		out->media_type = xstrdup(mts);
	if (parse_descriptor(name, "config", json_object_get(root, "config"), &out->config, err) < 0) {
		oci_manifest_release(out);
		return -1;
	}
	json_t *layers = json_object_get(root, "layers");
	if (!json_is_array(layers)) {
		oci_manifest_release(out);
		return moat_error_set(err, EBADMSG, "%s: layers: expected an array", name);
	}
	size_t n = json_array_size(layers);
	if (n > IMAGE_MAX_LAYERS) {
		oci_manifest_release(out);
		return moat_error_set(err, EBADMSG, "%s: %zu layers, over %d", name, n,
				      IMAGE_MAX_LAYERS);
	}
	out->layers = xcalloc(n ? n : 1, sizeof(*out->layers));
	for (size_t i = 0; i < n; i++) {
		char where[48];
		snprintf(where, sizeof(where), "layers[%zu]", i);
		if (parse_descriptor(name, where, json_array_get(layers, i), &out->layers[i], err) < 0) {
			oci_manifest_release(out);
			return -1;
		}
		out->nlayers++;
	}
	return 0;
}

void oci_manifest_release(struct oci_manifest *m)
{
	free(m->media_type);
	descriptor_release(&m->config);
	for (size_t i = 0; i < m->nlayers; i++)
		descriptor_release(&m->layers[i]);
	free(m->layers);
	memset(m, 0, sizeof(*m));
}

void image_config_release(struct image_config *c)
{
	free_strv(c->entrypoint);
	free_strv(c->cmd);
	free_strv(c->env);
	free(c->workdir);
	free(c->user);
	memset(c, 0, sizeof(*c));
}

int oci_config_parse(const char *name, const char *buf, size_t len, struct oci_config *out,
		     struct moat_error *err)
{
	memset(out, 0, sizeof(*out));
	_cleanup_json_ json_t *root = load(name, buf, len, err);
	if (!root)
		return -1;
	if (!json_is_object(root))
		return moat_error_set(err, EBADMSG, "%s: expected an image config object", name);
	if (get_str(name, "", root, "os", &out->os, err) < 0 ||
	    get_str(name, "", root, "architecture", &out->arch, err) < 0)
		goto fail;
	json_t *cfg = json_object_get(root, "config");
	if (cfg && !json_is_null(cfg)) {
		if (!json_is_object(cfg)) {
			moat_error_set(err, EBADMSG, "%s: config: expected an object", name);
			goto fail;
		}
		struct image_config *c = &out->config;
		if (get_str_array(name, "config.", cfg, "Entrypoint", &c->entrypoint, NULL, err) < 0 ||
		    get_str_array(name, "config.", cfg, "Cmd", &c->cmd, NULL, err) < 0 ||
		    get_str_array(name, "config.", cfg, "Env", &c->env, NULL, err) < 0 ||
		    get_str(name, "config.", cfg, "WorkingDir", &c->workdir, err) < 0 ||
		    get_str(name, "config.", cfg, "User", &c->user, err) < 0)
			goto fail;
		/* "" means unset, as the spec reads it. */
		if (c->workdir && !*c->workdir) {
			free(c->workdir);
			c->workdir = NULL;
		}
		if (c->user && !*c->user) {
			free(c->user);
			c->user = NULL;
		}
	}
	json_t *rootfs = json_object_get(root, "rootfs");
	if (!json_is_object(rootfs)) {
		moat_error_set(err, EBADMSG, "%s: rootfs: expected an object", name);
		goto fail;
	}
	json_t *type = json_object_get(rootfs, "type");
	if (!json_is_string(type) || strcmp(json_string_value(type), "layers") != 0) {
		moat_error_set(err, EBADMSG, "%s: rootfs.type: expected \"layers\"", name);
		goto fail;
	}
	if (get_str_array(name, "rootfs.", rootfs, "diff_ids", &out->diff_ids, &out->ndiff_ids, err) < 0)
		goto fail;
	if (out->ndiff_ids > IMAGE_MAX_LAYERS) {
		moat_error_set(err, EBADMSG, "%s: %zu layers, over %d", name, out->ndiff_ids,
			       IMAGE_MAX_LAYERS);
		goto fail;
	}
	for (size_t i = 0; i < out->ndiff_ids; i++)
		if (strncmp(out->diff_ids[i], "sha256:", 7) != 0 || digest_check(out->diff_ids[i]) < 0) {
			moat_error_set(err, EBADMSG, "%s: rootfs.diff_ids[%zu]: '%.80s' is not a "
						     "sha256 digest", name, i, out->diff_ids[i]);
			goto fail;
		}
	return 0;
fail:
	oci_config_release(out);
	return -1;
}

void oci_config_release(struct oci_config *c)
{
	image_config_release(&c->config);
	free_strv(c->diff_ids);
	free(c->os);
	free(c->arch);
	memset(c, 0, sizeof(*c));
}

int docker_manifest_parse(const char *name, const char *buf, size_t len,
			  struct docker_item **items, size_t *n, struct moat_error *err)
{
	*items = NULL;
	*n = 0;
	_cleanup_json_ json_t *root = load(name, buf, len, err);
	if (!root)
		return -1;
	if (!json_is_array(root))
		return moat_error_set(err, EBADMSG, "%s: expected an array of images", name);
	size_t count = json_array_size(root);
	if (count > MAX_ARRAY)
		return moat_error_set(err, EBADMSG, "%s: %zu images, over %d", name, count, MAX_ARRAY);
	struct docker_item *v = xcalloc(count ? count : 1, sizeof(*v));
	for (size_t i = 0; i < count; i++) {
		json_t *o = json_array_get(root, i);
		char where[48];
		snprintf(where, sizeof(where), "[%zu].", i);
		if (!json_is_object(o)) {
			moat_error_set(err, EBADMSG, "%s: [%zu]: expected an object", name, i);
			goto fail;
		}
		*n = i + 1;
		if (get_str(name, where, o, "Config", &v[i].config, err) < 0 ||
		    get_str_array(name, where, o, "RepoTags", &v[i].repo_tags, &v[i].ntags, err) < 0 ||
		    get_str_array(name, where, o, "Layers", &v[i].layers, &v[i].nlayers, err) < 0)
			goto fail;
		if (!v[i].config) {
			moat_error_set(err, EBADMSG, "%s: %sConfig: missing", name, where);
			goto fail;
		}
		if (!v[i].layers) {
			moat_error_set(err, EBADMSG, "%s: %sLayers: missing", name, where);
			goto fail;
		}
		if (v[i].nlayers > IMAGE_MAX_LAYERS) {
			moat_error_set(err, EBADMSG, "%s: %sLayers: %zu, over %d", name, where,
				       v[i].nlayers, IMAGE_MAX_LAYERS);
			goto fail;
		}
	}
	*items = v;
	*n = count;
	return 0;
fail:
	docker_items_free(v, *n);
	*n = 0;
	return -1;
}

void docker_items_free(struct docker_item *items, size_t n)
{
	if (!items)
		return;
	for (size_t i = 0; i < n; i++) {
		free(items[i].config);
		free_strv(items[i].repo_tags);
		free_strv(items[i].layers);
	}
	free(items);
}

const char *oci_this_arch(void)
{
#if defined(__x86_64__)
	return "amd64";
#elif defined(__aarch64__)
	return "arm64";
#elif defined(__i386__)
	return "386";
#elif defined(__arm__)
	return "arm";
#elif defined(__riscv) && __riscv_xlen == 64
	return "riscv64";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return "ppc64le";
#elif defined(__s390x__)
	return "s390x";
#else
	return "unknown";
#endif
}
