/* SPDX-License-Identifier: Apache-2.0 */
/*
 * From a Pod manifest (plus the ConfigMaps and Secrets in the same file, as
 * `podman kube play` takes them) to what the guest agent runs: the RUN
 * message, the images, and the VM's size.  Admission comes first: the
 * policy library's share-nothing rules and Pod Security level, then what
 * moat itself cannot honour (volume types, hostPath...), each named with its
 * file:line:col.
 */
#include "runtime.h"

#include "enforcer/enforcer.h"
#include "policy/policy.h"

#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

/* Tasks a pod may have in its guest unless it says otherwise. */
#define POD_PIDS_DEFAULT 1024

#define POD_OVERHEAD_MIB 64
#define POD_DEFAULT_MIB 256
#define POD_DEFAULT_DISK (1ull << 30)
#define POD_MAX_CONTAINERS 32

/* Docker's and containerd's default capability set for a container. */
static const char default_caps[] = "CHOWN,DAC_OVERRIDE,FSETID,FOWNER,MKNOD,NET_RAW,SETGID,"
				   "SETUID,SETFCAP,SETPCAP,NET_BIND_SERVICE,SYS_CHROOT,KILL,"
				   "AUDIT_WRITE";

struct ctx {
	const char *file;
	const struct pod_options *o;
	struct moat_error *err;
	const struct ynode *pod;
	const struct ynode *configmaps[64], *secrets[64];
	size_t ncm, nsec;
	struct pod_plan *plan;
	bool refused; /* an admission refusal rather than bad input */
};

/* "file:line:col: field: what"; refused marks an admission refusal (EPERM)
 * rather than bad input (EINVAL). */
static int fail(struct ctx *c, bool refused, const struct ynode *n, const char *field,
		const char *fmt, va_list ap)
{
	char what[700];
	vsnprintf(what, sizeof(what), fmt, ap);
	const struct ynode *at = n ? n : c->pod;
	c->refused |= refused;
	return moat_error_set(c->err, refused ? EPERM : EINVAL, "%s:%u:%u: %s: %s%s", c->file,
			      at ? at->line : 1, at ? at->col : 1, field, refused ? "refused: " : "",
			      what);
}

static int bad(struct ctx *c, const struct ynode *n, const char *field, const char *fmt, ...)
	PRINTF(4, 5);
static int bad(struct ctx *c, const struct ynode *n, const char *field, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = fail(c, false, n, field, fmt, ap);
	va_end(ap);
	return r;
}

static int refuse(struct ctx *c, const struct ynode *n, const char *field, const char *fmt, ...)
	PRINTF(4, 5);
static int refuse(struct ctx *c, const struct ynode *n, const char *field, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = fail(c, true, n, field, fmt, ap);
	va_end(ap);
	return r;
}

static const char *str(const struct ynode *n)
{
	return n && n->type == YNODE_SCALAR && !ynode_is_null(n) ? n->str : NULL;
}

static const char *get_str(const struct ynode *map, const char *key)
{
	return str(ymap_get(map, key));
}

static bool dns_label(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* Kubernetes quantities: "500m", "2", "256Mi", "1G"; -1 when malformed. */
static long double quantity(const char *s)
{
	if (!s)
		return -1;
	char *end;
	errno = 0;
	long double v = strtold(s, &end);
	if (errno || end == s || v < 0)
		return -1;
	static const struct {
		const char *suffix;
		long double mult;
	} units[] = {
		{ "", 1 },	      { "m", 1e-3L },	    { "k", 1e3L },	      { "M", 1e6L },
		{ "G", 1e9L },	      { "T", 1e12L },	    { "Ki", 1024.0L },	      { "Mi", 1048576.0L },
		{ "Gi", 1073741824.0L }, { "Ti", 1099511627776.0L },
	};
	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (strcmp(end, units[i].suffix) == 0)
			return v * units[i].mult;
	return -1;
}

static const struct ynode *find_doc(struct ctx *c, bool secret, const char *name)
{
	const struct ynode **list = secret ? c->secrets : c->configmaps;
	size_t n = secret ? c->nsec : c->ncm;
	for (size_t i = 0; i < n; i++)
		if (name && yscalar_is(ymap_get(ymap_get(list[i], "metadata"), "name"), name))
			return list[i];
	return NULL;
}

/* A base64 value as Kubernetes writes Secret data: checked, not trusted. */
static bool b64_ok(const char *s)
{
	uint8_t *bytes;
	size_t n, bad;
	if (base64_decode(s, strlen(s), &bytes, &n, &bad) < 0)
		return false;
	explicit_bzero(bytes, n);
	free(bytes);
	return true;
}

/* The value of key in a ConfigMap (data, binaryData) or Secret (data,
 * stringData), as bytes in base64 (so both go to the guest the same way).
 * NULL when the key is absent. */
static char *doc_value_b64(const struct ynode *doc, bool secret, const char *key)
{
	const char *v = get_str(ymap_get(doc, secret ? "stringData" : "data"), key);
	if (v)
		return base64_encode(v, strlen(v));
	v = get_str(ymap_get(doc, secret ? "data" : "binaryData"), key);
	return v ? xstrdup(v) : NULL;
}

static int check_doc_values(struct ctx *c, const struct ynode *doc, bool secret)
{
	const char *field = secret ? "Secret.data" : "ConfigMap.binaryData";
	const struct ynode *m = ymap_get(doc, secret ? "data" : "binaryData");
	for (uint32_t i = 0; m && m->type == YNODE_MAP && i < m->len; i++) {
		const char *v = str(m->pairs[i].val);
		if (!v || !b64_ok(v))
			return bad(c, m->pairs[i].val, field, "%s: not base64", m->pairs[i].key->str);
	}
	return 0;
}

/* A volume's files from its ConfigMap or Secret: every key, or the items. */
static int volume_files(struct ctx *c, const struct ynode *src, bool secret, const char *field,
			json_t *vol)
{
	const char *ref = get_str(src, secret ? "secretName" : "name");
	bool optional = false;
	ynode_bool(ymap_get(src, "optional"), &optional);
	const struct ynode *doc = find_doc(c, secret, ref);
	if (!doc) {
		if (optional)
			return 0;
		return bad(c, src, field, "%s '%s' is not in this file (moat takes them in the "
					  "same file as the pod, as podman kube play does)",
			   secret ? "Secret" : "ConfigMap", ref ? ref : "");
	}
	long long mode = 0644;
	ynode_int(ymap_get(src, "defaultMode"), &mode);
	json_t *files = json_array();
	json_object_set_new(vol, "files", files);
	const struct ynode *items = ymap_get(src, "items");
	if (items && items->type == YNODE_SEQ) {
		for (uint32_t i = 0; i < items->len; i++) {
			const char *key = get_str(items->items[i], "key");
			const char *path = get_str(items->items[i], "path");
			char *v = doc_value_b64(doc, secret, key);
			if (!v)
				return bad(c, items->items[i], field, "key '%s' is not in %s",
					   key ? key : "", ref);
			if (!path || strstr(path, "..") || path[0] == '/') {
				free(v);
				return bad(c, items->items[i], field, "items[%u].path: a relative "
								       "path without ..", i);
			}
			long long m = mode;
			ynode_int(ymap_get(items->items[i], "mode"), &m);
			json_array_append_new(files, json_pack("{s:s, s:s, s:I}", "path", path, "data",
							      v, "mode", (json_int_t)m));
			explicit_bzero(v, strlen(v));
			free(v);
		}
		return 0;
	}
	static const char *const secret_maps[] = { "data", "stringData" };
	static const char *const cm_maps[] = { "data", "binaryData" };
	for (int k = 0; k < 2; k++) {
		const struct ynode *m = ymap_get(doc, secret ? secret_maps[k] : cm_maps[k]);
		for (uint32_t i = 0; m && m->type == YNODE_MAP && i < m->len; i++) {
			const char *key = m->pairs[i].key->str;
			char *v = doc_value_b64(doc, secret, key);
			if (!v || strchr(key, '/')) {
				free(v);
				continue;
			}
			json_array_append_new(files, json_pack("{s:s, s:s, s:I}", "path", key, "data", v,
							      "mode", (json_int_t)mode));
			explicit_bzero(v, strlen(v));
			free(v);
		}
	}
	return 0;
}

static int build_volumes(struct ctx *c, json_t *run, json_t *record)
{
	const struct ynode *vols = ymap_get(ymap_get(c->pod, "spec"), "volumes");
	json_t *out = json_array(), *rec = json_array();
	json_object_set_new(run, "volumes", out);
	json_object_set_new(record, "volumes", rec);
	if (!vols)
		return 0;
	if (vols->type != YNODE_SEQ)
		return bad(c, vols, "spec.volumes", "expected a list");
	for (uint32_t i = 0; i < vols->len; i++) {
		const struct ynode *v = vols->items[i];
		char field[64];
		snprintf(field, sizeof(field), "spec.volumes[%u]", i);
		const char *name = get_str(v, "name");
		if (!dns_label(name))
			return bad(c, v, field, "name: expected a DNS label");
		const char *kind = NULL;
		const struct ynode *src = NULL;
		for (uint32_t k = 0; v->type == YNODE_MAP && k < v->len; k++) {
			const char *key = v->pairs[k].key->str;
			if (strcmp(key, "name") == 0)
				continue;
			if (strcmp(key, "emptyDir") && strcmp(key, "configMap") && strcmp(key, "secret"))
				return refuse(c, v->pairs[k].key, field,
					      "%s volumes are not supported: moat pods share "
					      "nothing with the host (emptyDir, configMap and secret "
					      "are)",
					      key);
			kind = key;
			src = v->pairs[k].val;
		}
		if (!kind)
			return bad(c, v, field, "no volume source");
		json_t *vol = json_pack("{s:s}", "name", name);
		json_array_append_new(out, vol); /* owned by the plan from here */
		if (strcmp(kind, "emptyDir") == 0) {
			bool memory = yscalar_is(ymap_get(src, "medium"), "Memory");
			json_object_set_new(vol, "kind", json_string(memory ? "memory" : "emptyDir"));
			const char *limit = get_str(src, "sizeLimit");
			if (limit) {
				long double q = quantity(limit);
				if (q <= 0)
					return bad(c, ymap_get(src, "sizeLimit"), field,
						   "sizeLimit: '%s' is not a quantity", limit);
				json_object_set_new(vol, "sizeLimit", json_integer((json_int_t)q));
			}
		} else {
			bool secret = strcmp(kind, "secret") == 0;
			json_object_set_new(vol, "kind", json_string(kind));
			if (volume_files(c, src, secret, field, vol) < 0)
				return -1;
		}
		json_t *r = json_deep_copy(vol);
		json_object_del(r, "files"); /* the record keeps no values */
		json_array_append_new(rec, r);
	}
	return 0;
}

static const char *volume_kind(json_t *run, const char *name)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(run, "volumes"), i, v) if (
		strcmp(json_string_value(json_object_get(v, "name")), name) == 0) return json_string_value(json_object_get(v, "kind"));
	return NULL;
}

static json_t *strv_json(const struct ynode *seq)
{
	json_t *a = json_array();
	for (uint32_t i = 0; seq && seq->type == YNODE_SEQ && i < seq->len; i++)
		json_array_append_new(a, json_string(str(seq->items[i]) ? str(seq->items[i]) : ""));
	return a;
}

static json_t *cstrv_json(char **v)
{
	json_t *a = json_array();
	for (size_t i = 0; v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* Sets NAME=value in an env array, replacing an earlier NAME. */
static void env_set(json_t *env, const char *name, const char *value)
{
	size_t n = strlen(name), i;
	json_t *e;
	char *kv = xasprintf("%s=%s", name, value);
	json_array_foreach(env, i, e) {
		const char *s = json_string_value(e);
		if (s && strncmp(s, name, n) == 0 && s[n] == '=') {
			json_array_set_new(env, i, json_string(kv));
			free(kv);
			return;
		}
	}
	json_array_append_new(env, json_string(kv));
	free(kv);
}

/* Compiled filters are cached by what made them (the profile's bytes, the
 * capabilities, the architecture, this kernel's version): compiling moat's
 * profile costs a fifth of a second, most of a pod's host-side start. */
static void cache_path(struct ctx *c, const char *text, size_t len, cap_mask caps, char *out,
		       size_t n)
{
	unsigned char md[32];
	unsigned mdlen = 0;
	struct utsname u;
	uname(&u);
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	EVP_DigestInit_ex(h, EVP_sha256(), NULL);
	EVP_DigestUpdate(h, text, len);
	EVP_DigestUpdate(h, &caps, sizeof(caps));
	EVP_DigestUpdate(h, "x86_64", 6);
	EVP_DigestUpdate(h, u.release, strlen(u.release));
	EVP_DigestUpdate(h, MOAT_VERSION, strlen(MOAT_VERSION));
	EVP_DigestFinal_ex(h, md, &mdlen);
	EVP_MD_CTX_free(h);
	char hex[65];
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(out, n, "%s/cache/seccomp-%s.bpf", c->o->state_dir, hex);
}

static int seccomp_filter(struct ctx *c, const struct ynode *prof, const char *field,
			  cap_mask caps, json_t *out)
{
	const char *type = get_str(prof, "type");
	const char *path = NULL;
	char local[4096];
	if (!type || strcmp(type, "RuntimeDefault") == 0) {
		path = c->o->seccomp_default;
	} else if (strcmp(type, "Localhost") == 0) {
		const char *lp = get_str(prof, "localhostProfile");
		if (!lp || lp[0] == '/' || strstr(lp, ".."))
			return bad(c, prof, field, "localhostProfile: a path relative to %s/seccomp",
				   c->o->state_dir);
		snprintf(local, sizeof(local), "%s/seccomp/%s", c->o->state_dir, lp);
		path = local;
	} else if (strcmp(type, "Unconfined") == 0) {
		return 0; /* admission decides whether the level allows it */
	} else {
		return bad(c, prof, field, "type: expected RuntimeDefault, Localhost or Unconfined");
	}
	struct moat_error e = { 0 };
	char *text = NULL;
	size_t tlen;
	if (!path) {
		const char *builtin = runtime_seccomp_default(&tlen);
		text = xmalloc(tlen + 1);
		memcpy(text, builtin, tlen);
		text[tlen] = '\0';
		path = "moat's RuntimeDefault";
	} else if (read_file(path, 4 << 20, &text, &tlen, &e) < 0) {
		return bad(c, prof, field, "%s", e.msg);
	}
	char cached[4300];
	cache_path(c, text, tlen, caps, cached, sizeof(cached));
	char *bpf = NULL;
	size_t len = 0;
	if (read_file(cached, 1 << 20, &bpf, &len, &e) == 0 && len && len % 8 == 0) {
		free(text);
		char *enc = base64_encode(bpf, len);
		json_object_set_new(out, "seccomp", json_string(enc));
		free(enc);
		free(bpf);
		return 0;
	}
	free(bpf);
	struct seccomp_profile *p = NULL;
	int r = seccomp_profile_parse(path, text, tlen, &p, &e);
	free(text);
	if (r < 0)
		return bad(c, prof, field, "%s", e.msg);
	struct seccomp_options so = { .arch = "x86_64", .caps = caps };
	void *ctx = NULL;
	struct seccomp_stats st;
	moat_log_set_level(MOAT_LOG_ERROR); /* unknown names are the profile's business */
	r = seccomp_profile_compile(p, &so, &ctx, &st, &e);
	moat_log_set_level(MOAT_LOG_WARN);
	seccomp_profile_free(p);
	if (r < 0)
		return bad(c, prof, field, "%s", e.msg);
	int fd = memfd_create("seccomp", MFD_CLOEXEC);
	r = fd < 0 ? -1 : seccomp_ctx_export(ctx, false, fd, &e);
	seccomp_ctx_free(ctx);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return moat_error_set(c->err, errno, "compiling %s: %s", path, e.msg);
	}
	off_t flen = lseek(fd, 0, SEEK_END);
	unsigned char *buf = xmalloc((size_t)flen + 1);
	if (pread(fd, buf, (size_t)flen, 0) != flen) {
		close(fd);
		free(buf);
		return moat_error_sys(c->err, errno, "reading the compiled filter");
	}
	close(fd);
	/* Into the cache, atomically; a failure here costs only speed. */
	char *dir = xasprintf("%s/cache", c->o->state_dir);
	mkdir(c->o->state_dir, 0700);
	mkdir(dir, 0700);
	free(dir);
	char *tmp = xasprintf("%s.%d.tmp", cached, (int)getpid());
	int cf = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (cf >= 0 && write(cf, buf, (size_t)flen) == flen && fsync(cf) == 0)
		rename(tmp, cached);
	if (cf >= 0)
		close(cf);
	unlink(tmp);
	free(tmp);
	char *enc = base64_encode(buf, (size_t)flen);
	json_object_set_new(out, "seccomp", json_string(enc));
	free(enc);
	free(buf);
	return 0;
}

static int find_image(struct ctx *c, const char *ref, const struct ynode *at, const char *field)
{
	struct pod_plan *p = c->plan;
	for (size_t i = 0; i < p->nimages; i++)
		if (strcmp(p->image_refs[i], ref) == 0)
			return (int)i;
	if (p->nimages == POD_MAX_CONTAINERS)
		return bad(c, at, field, "too many images");
	struct image_info info;
	struct moat_error e = { 0 };
	if (image_find(c->o->state_dir, ref, &info, &e) < 0)
		return bad(c, at, field, "%s (import it first: moat image import SOURCE --name %s)",
			   e.msg, ref);
	if (!info.verity.present) {
		image_info_release(&info);
		return bad(c, at, field, "image %s has no dm-verity hash tree (imported by an older "
					 "moat): re-import it: moat image import SOURCE --name %s",
			   ref, ref);
	}
	p->images[p->nimages] = info;
	p->image_refs[p->nimages] = xstrdup(ref);
	return (int)p->nimages++;
}

static int build_container(struct ctx *c, const struct ynode *k, bool init, uint32_t idx,
			   json_t *out, json_t *record)
{
	char field[96];
	snprintf(field, sizeof(field), "spec.%s[%u]", init ? "initContainers" : "containers", idx);
	const char *name = get_str(k, "name");
	if (!dns_label(name))
		return bad(c, k, field, "name: expected a DNS label");
	const char *image = get_str(k, "image");
	if (!image)
		return bad(c, k, field, "image: required");
	int img = find_image(c, image, ymap_get(k, "image"), field);
	if (img < 0)
		return -1;
	const struct image_config *ic = &c->plan->images[img].config;
	json_t *o = json_pack("{s:s, s:i, s:s}", "name", name, "image", img, "imageRef", image);
	json_array_append_new(out, o); /* owned by the plan, which a failure releases */
	/* The command, as the kubelet composes it. */
	const struct ynode *cmd = ymap_get(k, "command"), *args = ymap_get(k, "args");
	json_t *argv = cmd ? strv_json(cmd) : cstrv_json(ic->entrypoint);
	if (args)
		json_array_extend(argv, strv_json(args));
	else if (!cmd)
		json_array_extend(argv, cstrv_json(ic->cmd));
	json_object_set_new(o, "argv", argv);
	if (!json_array_size(argv))
		return bad(c, k, field, "no command: the container sets none and image %s has no "
					"entrypoint or cmd",
			   image);
	/* env: the image's, then the container's. */
	json_t *env = cstrv_json(ic->env);
	json_object_set_new(o, "env", env);
	if (!ic->env)
		json_array_append_new(env, json_string("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
						       "/usr/bin:/sbin:/bin"));
	json_t *env_rec = json_array();
	json_object_set_new(o, "envRecord", env_rec);
	const struct ynode *ev = ymap_get(k, "env");
	for (uint32_t i = 0; ev && ev->type == YNODE_SEQ && i < ev->len; i++) {
		const struct ynode *e = ev->items[i];
		const char *en = get_str(e, "name");
		if (!en || !*en || strchr(en, '='))
			return bad(c, e, field, "env[%u].name: required, without '='", i);
		const char *val = get_str(e, "value");
		const struct ynode *from = ymap_get(e, "valueFrom");
		char *owned = NULL;
		if (from) {
			const struct ynode *cm = ymap_get(from, "configMapKeyRef");
			const struct ynode *sk = ymap_get(from, "secretKeyRef");
			const struct ynode *ref = cm ? cm : sk;
			if (!ref)
				return refuse(c, from, field, "env[%u].valueFrom: only configMapKeyRef "
							      "and secretKeyRef are supported",
					      i);
			const struct ynode *doc = find_doc(c, sk != NULL, get_str(ref, "name"));
			char *v = doc ? doc_value_b64(doc, sk != NULL, get_str(ref, "key")) : NULL;
			bool optional = false;
			ynode_bool(ymap_get(ref, "optional"), &optional);
			if (!v && !optional)
				return bad(c, ref, field, "env[%u]: %s '%s' key '%s' is not in this file", i,
					   sk ? "Secret" : "ConfigMap", get_str(ref, "name"),
					   get_str(ref, "key"));
			if (!v)
				continue;
			uint8_t *bytes = NULL;
			size_t nbytes, bad;
			/* Checked by b64_ok when the document was loaded. */
			if (base64_decode(v, strlen(v), &bytes, &nbytes, &bad) < 0)
				bytes = (uint8_t *)xstrdup("");
			owned = (char *)bytes;
			explicit_bzero(v, strlen(v));
			free(v);
			val = owned;
			json_array_append_new(env_rec, json_pack("{s:s, s:s}", "name", en, "from",
								 sk ? "secretKeyRef" : "configMapKeyRef"));
		} else {
			json_array_append_new(env_rec, json_pack("{s:s, s:s}", "name", en, "value",
								 val ? val : ""));
		}
		env_set(env, en, val ? val : "");
		if (owned) {
			explicit_bzero(owned, strlen(owned));
			free(owned);
		}
	}
	const char *wd = get_str(k, "workingDir");
	if (!wd)
		wd = ic->workdir;
	if (wd)
		json_object_set_new(o, "workdir", json_string(wd));
	/* Identity: the container's securityContext, then the pod's, then the
	 * image's user (numeric uid[:gid]). */
	const struct ynode *sc = ymap_get(k, "securityContext");
	const struct ynode *psc = ymap_get(ymap_get(c->pod, "spec"), "securityContext");
	long long uid = -1, gid = -1;
	if (ynode_int(ymap_get(sc, "runAsUser"), &uid) < 0)
		ynode_int(ymap_get(psc, "runAsUser"), &uid);
	if (ynode_int(ymap_get(sc, "runAsGroup"), &gid) < 0)
		ynode_int(ymap_get(psc, "runAsGroup"), &gid);
	if (uid < 0 && ic->user && *ic->user) {
		char *end;
		long long u = strtoll(ic->user, &end, 10);
		if (end != ic->user && (*end == '\0' || *end == ':')) {
			uid = u;
			if (*end == ':' && gid < 0)
				gid = strtoll(end + 1, NULL, 10);
		} else {
			return refuse(c, ymap_get(k, "image"), field,
				      "image %s runs as user '%s': moat needs a numeric uid (set "
				      "securityContext.runAsUser)",
				      image, ic->user);
		}
	}
	if (uid < 0)
		uid = 0;
	if (gid < 0)
		gid = 0;
	if (uid > 0x7fffffff || gid > 0x7fffffff)
		return bad(c, sc, field, "runAsUser/runAsGroup out of range");
	bool nonroot = false;
	if (ynode_bool(ymap_get(sc, "runAsNonRoot"), &nonroot) < 0)
		ynode_bool(ymap_get(psc, "runAsNonRoot"), &nonroot);
	if (nonroot && uid == 0)
		return refuse(c, ymap_get(sc, "runAsNonRoot") ? ymap_get(sc, "runAsNonRoot")
							       : ymap_get(psc, "runAsNonRoot"),
			      field, "runAsNonRoot is set but the container would run as uid 0");
	json_object_set_new(o, "uid", json_integer(uid));
	json_object_set_new(o, "gid", json_integer(gid));
	json_object_set_new(o, "runAsNonRoot", json_boolean(nonroot));
	json_t *groups = json_array();
	const struct ynode *sg = ymap_get(psc, "supplementalGroups");
	for (uint32_t i = 0; sg && sg->type == YNODE_SEQ && i < sg->len; i++) {
		long long g;
		if (ynode_int(sg->items[i], &g) == 0)
			json_array_append_new(groups, json_integer(g));
	}
	long long fsgroup;
	if (ynode_int(ymap_get(psc, "fsGroup"), &fsgroup) == 0)
		json_array_append_new(groups, json_integer(fsgroup));
	json_object_set_new(o, "groups", groups);
	/* Capabilities: the default set, plus add, minus drop. */
	cap_mask caps = 0;
	struct moat_error e = { 0 };
	caps_parse(default_caps, &caps, &e);
	const struct ynode *cp = ymap_get(sc, "capabilities");
	const struct ynode *add = ymap_get(cp, "add"), *drop = ymap_get(cp, "drop");
	for (uint32_t i = 0; drop && drop->type == YNODE_SEQ && i < drop->len; i++) {
		cap_mask m;
		if (yscalar_is(drop->items[i], "ALL")) {
			caps = 0;
			continue;
		}
		if (caps_parse(str(drop->items[i]) ? str(drop->items[i]) : "?", &m, &e) < 0)
			return bad(c, drop->items[i], field, "capabilities.drop: %s", e.msg);
		caps &= ~m;
	}
	for (uint32_t i = 0; add && add->type == YNODE_SEQ && i < add->len; i++) {
		cap_mask m;
		if (caps_parse(str(add->items[i]) ? str(add->items[i]) : "?", &m, &e) < 0)
			return bad(c, add->items[i], field, "capabilities.add: %s", e.msg);
		caps |= m;
	}
	json_object_set_new(o, "caps", json_integer((json_int_t)caps));
	bool ro = false, ape = true;
	ynode_bool(ymap_get(sc, "readOnlyRootFilesystem"), &ro);
	ynode_bool(ymap_get(sc, "allowPrivilegeEscalation"), &ape);
	json_object_set_new(o, "readOnlyRoot", json_boolean(ro));
	json_object_set_new(o, "noNewPrivs", json_boolean(!ape));
	const struct ynode *prof = ymap_get(sc, "seccompProfile");
	if (!prof)
		prof = ymap_get(psc, "seccompProfile");
	char sfield[128];
	snprintf(sfield, sizeof(sfield), "%s.securityContext.seccompProfile", field);
	if (seccomp_filter(c, prof, sfield, caps, o) < 0)
		return -1;
	/* Mounts: each names a volume of the pod. */
	json_t *mounts = json_array();
	const struct ynode *vm = ymap_get(k, "volumeMounts");
	for (uint32_t i = 0; vm && vm->type == YNODE_SEQ && i < vm->len; i++) {
		const char *vn = get_str(vm->items[i], "name");
		const char *mp = get_str(vm->items[i], "mountPath");
		const char *kind = vn ? volume_kind(c->plan->run, vn) : NULL;
		if (!kind)
			return bad(c, vm->items[i], field, "volumeMounts[%u]: no volume '%s'", i,
				   vn ? vn : "");
		if (!mp || mp[0] != '/' || strstr(mp, ".."))
			return bad(c, vm->items[i], field, "volumeMounts[%u].mountPath: an absolute "
							   "path without ..",
				   i);
		if (ymap_get(vm->items[i], "subPath"))
			return refuse(c, vm->items[i], field, "volumeMounts[%u].subPath is not "
							      "supported",
				      i);
		bool mro = strcmp(kind, "secret") == 0 || strcmp(kind, "configMap") == 0;
		bool set_ro = false;
		if (ynode_bool(ymap_get(vm->items[i], "readOnly"), &set_ro) == 0 && set_ro)
			mro = true;
		bool ram = strcmp(kind, "memory") == 0 || strcmp(kind, "secret") == 0;
		char *source = xasprintf("%s/%s", ram ? "/run/volumes" : "/pod/volumes", vn);
		json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:b}", "volume", vn, "source",
							source, "path", mp, "readOnly", mro));
		free(source);
	}
	json_object_set_new(o, "mounts", mounts);
	/* Resources. */
	const struct ynode *lim = ymap_get(ymap_get(k, "resources"), "limits");
	long double cpu = quantity(get_str(lim, "cpu")), mem = quantity(get_str(lim, "memory"));
	long double disk = quantity(get_str(lim, "ephemeral-storage"));
	if (get_str(lim, "cpu") && cpu <= 0)
		return bad(c, ymap_get(lim, "cpu"), field, "resources.limits.cpu: not a quantity");
	if (get_str(lim, "memory") && mem <= 0)
		return bad(c, ymap_get(lim, "memory"), field, "resources.limits.memory: not a quantity");
	if (!init) {
		if (cpu > 0)
			c->plan->cpu_milli += (unsigned)(cpu * 1000 + 0.5L);
		if (mem > 0)
			c->plan->mem_bytes += (uint64_t)mem;
		if (disk > 0)
			c->plan->disk_bytes += (uint64_t)disk;
	}
	json_t *r = json_deep_copy(o);
	json_object_del(r, "env");
	json_object_del(r, "seccomp");
	json_object_set(r, "env", env_rec);
	json_object_del(r, "envRecord");
	json_object_del(o, "envRecord");
	json_object_set_new(r, "seccompProfile", json_string(get_str(prof, "type") ? get_str(prof, "type")
										  : "RuntimeDefault"));
	json_array_append_new(record, r);
	return 0;
}

/* Admission through the policy library, over the whole file. */
static int admit(struct ctx *c, const char *buf, size_t len)
{
	struct policy_config cfg = { .level = c->o->level, .minor = PSS_NEWEST_MINOR,
				     .share_nothing = true };
	struct report rep;
	report_init(&rep, "pod run", policy_rules, R_COUNT);
	rep.quiet = true;
	policy_check_buffer(&cfg, c->file, buf, len, &rep);
	int r = 0;
	if (report_violations(&rep) || report_count_notes(&rep, REPORT_ERROR)) {
		struct sbuf why = { 0 };
		for (size_t i = 0; i < rep.nresults; i++) {
			const struct report_result *res = &rep.results[i];
			if (res->exempt_reason)
				continue;
			sbuf_printf(&why, "%s%s:%u:%u: %s: %s (%s)", why.len ? "\n" : "", c->file,
				    res->line, res->col, res->field ? res->field : "",
				    res->message, rep.rules[res->rule].id);
		}
		for (size_t i = 0; i < rep.nnotes; i++)
			if (rep.notes[i].kind == REPORT_ERROR)
				sbuf_printf(&why, "%s%s:%u:%u: %s", why.len ? "\n" : "",
					    rep.notes[i].file, rep.notes[i].line, rep.notes[i].col,
					    rep.notes[i].message);
		bool input = report_violations(&rep) == 0;
		moat_error_set(c->err, input ? EINVAL : EPERM, "%s", why.s ? why.s : "refused");
		c->refused = !input;
		sbuf_release(&why);
		r = -1;
	}
	report_release(&rep);
	return r;
}

/* What NetworkPolicy selects a pod by and names its ports by: its labels
 * and its containers' ports, kept in the record (runtime/net.c). */
static int record_net_meta(struct ctx *c, const struct ynode *spec)
{
	json_t *labels = json_object(), *ports = json_array();
	json_object_set_new(c->plan->record, "labels", labels);
	json_object_set_new(c->plan->record, "containerPorts", ports);
	const struct ynode *l = ymap_get(ymap_get(c->pod, "metadata"), "labels");
	if (l && !ynode_is_null(l) && l->type != YNODE_MAP)
		return bad(c, l, "metadata.labels", "expected a mapping");
	for (uint32_t i = 0; l && l->type == YNODE_MAP && i < l->len; i++) {
		const char *k = str(l->pairs[i].key), *v = str(l->pairs[i].val);
		if (!k || !v || strlen(k) > 253 || strlen(v) > 63)
			return bad(c, l->pairs[i].key, "metadata.labels", "%s: expected a string value",
				   k ? k : "?");
		json_object_set_new(labels, k, json_string(v));
	}
	const struct ynode *ks = ymap_get(spec, "containers");
	for (uint32_t i = 0; ks && ks->type == YNODE_SEQ && i < ks->len; i++) {
		const struct ynode *ps = ymap_get(ks->items[i], "ports");
		for (uint32_t j = 0; ps && ps->type == YNODE_SEQ && j < ps->len; j++) {
			char field[96];
			snprintf(field, sizeof(field), "spec.containers[%u].ports[%u]", i, j);
			long long port;
			const char *proto = get_str(ps->items[j], "protocol");
			int pnum = !proto || strcmp(proto, "TCP") == 0 ? 6
				   : strcmp(proto, "UDP") == 0	       ? 17
				   : strcmp(proto, "SCTP") == 0	       ? 132
								       : -1;
			if (ynode_int(ymap_get(ps->items[j], "containerPort"), &port) < 0 || port < 1 ||
			    port > 65535)
				return bad(c, ps->items[j], field, "containerPort: expected 1-65535");
			if (pnum < 0)
				return bad(c, ymap_get(ps->items[j], "protocol"), field,
					   "protocol: expected TCP, UDP or SCTP");
			json_t *e = json_pack("{s:I, s:i}", "port", (json_int_t)port, "protocol", pnum);
			if (get_str(ps->items[j], "name"))
				json_object_set_new(e, "name", json_string(get_str(ps->items[j], "name")));
			json_array_append_new(ports, e);
		}
	}
	return 0;
}

int pod_plan_build(const char *file, const char *buf, size_t len, const struct pod_options *o,
		   struct pod_plan *plan, struct moat_error *err)
{
	memset(plan, 0, sizeof(*plan));
	struct ctx c = { .file = file, .o = o, .err = err, .plan = plan };
	struct yfile *yf = NULL;
	if (yaml_parse(file, buf, len, &yf, err) < 0) {
		yfile_free(yf);
		return -1;
	}
	int ret = -1;
	for (size_t i = 0; i < yf->ndocs; i++) {
		const struct ynode *d = yf->docs[i].root;
		if (!d)
			continue;
		const char *kind = get_str(d, "kind");
		if (kind && strcmp(kind, "Pod") == 0) {
			if (c.pod) {
				bad(&c, d, "kind", "a second Pod: moat pod run takes one pod a file");
				goto out;
			}
			c.pod = d;
		} else if (kind && strcmp(kind, "ConfigMap") == 0 && c.ncm < ARRAY_SIZE(c.configmaps)) {
			if (check_doc_values(&c, d, false) < 0)
				goto out;
			c.configmaps[c.ncm++] = d;
		} else if (kind && strcmp(kind, "Secret") == 0 && c.nsec < ARRAY_SIZE(c.secrets)) {
			if (check_doc_values(&c, d, true) < 0)
				goto out;
			c.secrets[c.nsec++] = d;
		}
	}
	if (!c.pod) {
		moat_error_set(err, EINVAL, "%s: no Pod in this file", file);
		goto out;
	}
	if (admit(&c, buf, len) < 0)
		goto out;
	const struct ynode *spec = ymap_get(c.pod, "spec");
	const char *name = get_str(ymap_get(c.pod, "metadata"), "name");
	if (!dns_label(name)) {
		bad(&c, ymap_get(c.pod, "metadata"), "metadata.name", "expected a DNS label (a-z, "
								      "0-9, -; at most 63)");
		goto out;
	}
	snprintf(plan->name, sizeof(plan->name), "%s", name);
	const char *rp = get_str(spec, "restartPolicy");
	if (rp && strcmp(rp, "Never") && strcmp(rp, "OnFailure") && strcmp(rp, "Always")) {
		bad(&c, ymap_get(spec, "restartPolicy"), "spec.restartPolicy",
		    "expected Always, OnFailure or Never");
		goto out;
	}
	bool share = false;
	ynode_bool(ymap_get(spec, "shareProcessNamespace"), &share);
	plan->run = json_pack("{s:s, s:s, s:s, s:b}", "op", "run", "hostname",
			      get_str(spec, "hostname") ? get_str(spec, "hostname") : name,
			      "restartPolicy", rp ? rp : "Always", "shareProcessNamespace", share);
	plan->record = json_pack("{s:s, s:s, s:b}", "name", name, "restartPolicy", rp ? rp : "Always",
				 "shareProcessNamespace", share);
	/* The pod's task limit in the guest (a fork bomb stops there); the
	 * annotation moat.dev/pids-limit sets it, as kubelet's podPidsLimit
	 * does for a node. */
	long long pids = POD_PIDS_DEFAULT;
	const struct ynode *pl =
		ymap_get(ymap_get(ymap_get(c.pod, "metadata"), "annotations"), "moat.dev/pids-limit");
	if (pl) {
		const char *v = pl->type == YNODE_SCALAR ? pl->str : NULL;
		char *end = NULL;
		pids = v ? strtoll(v, &end, 10) : 0;
		if (!v || *end || pids < 16 || pids > 1 << 22) {
			bad(&c, pl, "metadata.annotations.moat.dev/pids-limit",
			    "expected a number of tasks from 16 to 4194304");
			goto out;
		}
	}
	json_object_set_new(plan->run, "pidsLimit", json_integer(pids));
	json_object_set_new(plan->record, "pidsLimit", json_integer(pids));
	if (build_volumes(&c, plan->run, plan->record) < 0)
		goto out;
	static const char *const lists[] = { "initContainers", "containers" };
	for (int l = 0; l < 2; l++) {
		const struct ynode *ks = ymap_get(spec, lists[l]);
		json_t *out = json_array(), *rec = json_array();
		json_object_set_new(plan->run, lists[l], out);
		json_object_set_new(plan->record, lists[l], rec);
		if (l == 1 && (!ks || ks->type != YNODE_SEQ || ks->len == 0)) {
			bad(&c, spec, "spec.containers", "at least one container is required");
			goto out;
		}
		for (uint32_t i = 0; ks && ks->type == YNODE_SEQ && i < ks->len; i++) {
			if (json_array_size(out) >= POD_MAX_CONTAINERS) {
				bad(&c, ks, lists[l], "more than %d containers", POD_MAX_CONTAINERS);
				goto out;
			}
			if (build_container(&c, ks->items[i], l == 0, i, out, rec) < 0)
				goto out;
		}
	}
	if (record_net_meta(&c, spec) < 0)
		goto out;
	/* Names are unique across init and app containers. */
	size_t i, j;
	json_t *a, *b;
	json_t *all = json_array();
	json_array_extend(all, json_object_get(plan->run, "initContainers"));
	json_array_extend(all, json_object_get(plan->run, "containers"));
	json_array_foreach(all, i, a) json_array_foreach(all, j, b) if (
		j > i && json_equal(json_object_get(a, "name"), json_object_get(b, "name"))) {
		json_decref(all);
		bad(&c, spec, "spec.containers", "two containers are named %s",
		    json_string_value(json_object_get(a, "name")));
		goto out;
	}
	json_decref(all);
	plan->vcpus = plan->cpu_milli ? (plan->cpu_milli + 999) / 1000 : 1;
	if (plan->vcpus > 8)
		plan->vcpus = 8;
	plan->mem_mib = plan->mem_bytes ? (unsigned)(plan->mem_bytes >> 20) + POD_OVERHEAD_MIB
					: POD_DEFAULT_MIB;
	if (plan->mem_mib < 128)
		plan->mem_mib = 128;
	if (!plan->disk_bytes)
		plan->disk_bytes = POD_DEFAULT_DISK;
	if (plan->disk_bytes < (64ull << 20))
		plan->disk_bytes = 64ull << 20;
	json_object_set_new(plan->record, "vcpus", json_integer(plan->vcpus));
	json_object_set_new(plan->record, "memoryMiB", json_integer(plan->mem_mib));
	json_object_set_new(plan->record, "diskBytes", json_integer((json_int_t)plan->disk_bytes));
	ret = 0;
out:
	if (ret < 0 && c.refused)
		err->errnum = EPERM;
	if (ret < 0)
		pod_plan_release(plan);
	yfile_free(yf);
	return ret;
}

void json_scrub(json_t *j)
{
	size_t i;
	const char *k;
	json_t *v;
	if (json_is_string(j)) {
		explicit_bzero((char *)json_string_value(j), json_string_length(j));
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v) json_scrub(v);
	} else if (json_is_object(j)) {
		json_object_foreach(j, k, v) json_scrub(v);
	}
}

void pod_plan_release(struct pod_plan *p)
{
	/* Secret values are in the RUN message: scrub its strings. */
	json_scrub(p->run);
	json_decref(p->run);
	json_decref(p->record);
	for (size_t i = 0; i < p->nimages; i++) {
		image_info_release(&p->images[i]);
		free(p->image_refs[i]);
	}
	memset(p, 0, sizeof(*p));
}
