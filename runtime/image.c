/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The image store: container images imported once into read-only disks.
 *
 *   STATE/images/index.json          {"version":1,"images":{"NAME:TAG":{"id","importedAt"}}}
 *   STATE/images/<hex>/disk.erofs    the root file system (or disk.ext4)
 *   STATE/images/<hex>/manifest.json the image manifest, as verified
 *   STATE/images/<hex>/config.json   the image config, as verified
 *   STATE/images/<hex>/image.json    what the import made: fstype, sizes
 *   STATE/images/.lock               flock: one writer of the index at a time
 *
 * <hex> is the manifest's sha256.  An import works in a hidden
 * .import-<pid>-XXXXXX directory and renames it into place when the disk is
 * complete, so a crash leaves nothing that looks imported; the next import
 * removes directories of processes that are gone.
 *
 * Every blob is checked against its digest before anything parses it, and
 * each layer's uncompressed stream against the config's diff_id as it is
 * applied.
 */
#include "image_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <linux/openat2.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

/* jansson's own json_decrefp, as a cleanup attribute. */
#define _cleanup_json_ _cleanup_(json_decrefp)

/* ---- names ---- */

/* "busybox" -> "busybox:latest"; refuses what could not be a reference. */
static int name_normalize(const char *in, char out[256], struct moat_error *err)
{
	size_t n = strlen(in);
	if (!n || n > 240)
		return moat_error_set(err, EINVAL, "image name '%.80s' must be 1 to 240 bytes", in);
	if (!((in[0] >= 'a' && in[0] <= 'z') || (in[0] >= 'A' && in[0] <= 'Z') ||
	      (in[0] >= '0' && in[0] <= '9')))
		return moat_error_set(err, EINVAL, "image name '%.80s' must start with a letter "
						   "or digit", in);
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-' || c == '/' || c == ':'))
			return moat_error_set(err, EINVAL, "image name '%.80s': character '%c' is "
							   "not allowed", in, c);
	}
	const char *slash = strrchr(in, '/');
	const char *colon = strrchr(slash ? slash : in, ':');
	if (colon && !colon[1])
		return moat_error_set(err, EINVAL, "image name '%.80s' has an empty tag", in);
	snprintf(out, 256, "%s%s", in, colon ? "" : ":latest");
	return 0;
}

/* The source's file name without .tar/.oci/.tgz, as a name of last resort. */
static void name_from_path(const char *path, const char *tag, char out[256])
{
	char base[128];
	size_t len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	const char *start = path;
	for (size_t i = 0; i < len; i++)
		if (path[i] == '/')
			start = path + i + 1;
	size_t n = (size_t)(path + len - start);
	static const char *const exts[] = { ".tar.gz", ".tgz", ".tar", ".oci" };
	for (size_t i = 0; i < ARRAY_SIZE(exts); i++) {
		size_t m = strlen(exts[i]);
		if (n > m && strncmp(start + n - m, exts[i], m) == 0) {
			n -= m;
			break;
		}
	}
	size_t o = 0;
	for (size_t i = 0; i < n && o < sizeof(base) - 1; i++) {
		char c = start[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			c = '-';
		if (o == 0 && !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			continue;
		base[o++] = c;
	}
	base[o] = '\0';
	snprintf(out, 256, "%s:%s", o ? base : "image", tag && *tag ? tag : "latest");
}

/* ---- sources ---- */

enum source_kind { SRC_UNKNOWN, SRC_LAYOUT, SRC_OCI_ARCHIVE, SRC_DOCKER_ARCHIVE };

struct member {
	char *name, *link;
	enum tar_type type;
	uint64_t off, size;
};

struct source {
	char *path, *display, *ref;
	enum source_kind kind, want;
	int dirfd, fd;
	struct member *m;
	size_t nm, cap;
};

#define MAX_MEMBERS 65536

static void source_close(struct source *s)
{
	if (s->dirfd >= 0)
		close(s->dirfd);
	if (s->fd >= 0)
		close(s->fd);
	for (size_t i = 0; i < s->nm; i++) {
		free(s->m[i].name);
		free(s->m[i].link);
	}
	free(s->m);
	free(s->path);
	free(s->display);
	free(s->ref);
}

/* Lists an archive's members with their offsets, reading headers only. */
static int index_archive(struct source *s, struct moat_error *err)
{
	struct stat st;
	if (fstat(s->fd, &st) < 0)
		return moat_error_sys(err, errno, "%s", s->display);
	struct section sec = { s->fd, 0, (uint64_t)st.st_size };
	struct stream in = { section_read, &sec, section_skip };
	struct tar_reader *t = tar_reader_new(&in);
	struct tar_entry e;
	int r;
	while ((r = tar_next(t, &e, err)) > 0) {
		if (e.type != TAR_FILE && e.type != TAR_HARDLINK && e.type != TAR_SYMLINK)
			continue;
		char clean[TAR_MAX_PATH + 1];
		if (tar_clean_path(e.path, clean, err) < 0) {
			moat_error_wrap(err, "member '%.200s'", e.path);
			r = -1;
			break;
		}
		if (s->nm >= MAX_MEMBERS) {
			r = moat_error_set(err, E2BIG, "more than %d members", MAX_MEMBERS);
			break;
		}
		s->m = grow_array(s->m, &s->cap, s->nm + 1, sizeof(*s->m));
		s->m[s->nm++] = (struct member){ xstrdup(clean), xstrdup(e.link), e.type, sec.off,
						 e.size };
	}
	tar_reader_free(t);
	if (r < 0)
		return moat_error_wrap(err, "%s", s->display);
	return 0;
}

static const struct member *find_member(const struct source *s, const char *name)
{
	for (size_t i = s->nm; i-- > 0;)
		if (strcmp(s->m[i].name, name) == 0)
			return &s->m[i];
	return NULL;
}

/* dir (dlen bytes) joined with link, ".." and "." resolved as text; -1
 * when it climbs above the archive's top or is too long. */
static int member_join(const char *dir, size_t dlen, const char *link, char out[TAR_MAX_PATH + 1])
{
	char buf[2 * TAR_MAX_PATH + 2];
	if (dlen + strlen(link) + 1 > TAR_MAX_PATH)
		return -1;
	snprintf(buf, sizeof(buf), "%.*s/%s", (int)dlen, dir, link);
	size_t o = 0;
	for (char *save, *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (strcmp(c, ".") == 0)
			continue;
		if (strcmp(c, "..") == 0) {
			if (!o)
				return -1;
			while (o && out[o - 1] != '/')
				o--;
			if (o)
				o--;
			continue;
		}
		size_t n = strlen(c);
		if (o)
			out[o++] = '/';
		memcpy(out + o, c, n);
		o += n;
	}
	out[o] = '\0';
	return o ? 0 : -1;
}

/* A readable blob: a window of the archive, or a file of the layout. */
struct blob {
	int fd;
	bool own_fd;
	struct section sec;
	uint64_t size;
};

static void blob_close(struct blob *b)
{
	if (b->own_fd && b->fd >= 0)
		close(b->fd);
	b->fd = -1;
}

static int source_blob(const struct source *s, const char *name, struct blob *b,
		       struct moat_error *err)
{
	memset(b, 0, sizeof(*b));
	b->fd = -1;
	char clean[TAR_MAX_PATH + 1];
	if (tar_clean_path(name, clean, err) < 0 || !clean[0])
		return moat_error_set(err, EBADMSG, "'%.200s' is not a path inside the image", name);
	if (s->kind == SRC_LAYOUT) {
		/* The layout is a directory someone handed us: its symlinks
		 * resolve inside it, never to the host's files. */
		struct open_how how = {
			.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY,
			.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
		};
		long fd = syscall(SYS_openat2, s->dirfd, clean, &how, sizeof(how));
		if (fd < 0)
			return errno == ENOENT ? moat_error_set(err, EBADMSG, "not in the layout")
					       : moat_error_sys(err, errno, "open");
		struct stat st;
		if (fstat((int)fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			close((int)fd);
			return moat_error_set(err, EBADMSG, "not a regular file");
		}
		b->fd = (int)fd;
		b->own_fd = true;
		b->size = (uint64_t)st.st_size;
		b->sec = (struct section){ b->fd, 0, b->size };
		return 0;
	}
	const struct member *m = find_member(s, clean);
	for (int hops = 0; m && m->type != TAR_FILE; hops++) {
		if (hops == 8)
			return moat_error_set(err, EBADMSG, "too many links");
		/* Older docker save links a repeated layer as
		 * "<id>/layer.tar -> ../<other id>/layer.tar": names in the
		 * member table, resolved as text, never on a file system. */
		char target[TAR_MAX_PATH + 1];
		const char *slash = m->type == TAR_SYMLINK && m->link[0] != '/' ? strrchr(m->name, '/')
										: NULL;
		if (member_join(slash ? m->name : "", slash ? (size_t)(slash - m->name) : 0, m->link,
				target) < 0)
			return moat_error_set(err, EBADMSG, "links to '%.200s', outside the archive",
					      m->link);
		m = find_member(s, target);
	}
	if (!m)
		return moat_error_set(err, EBADMSG, "not in the archive");
	b->fd = s->fd;
	b->size = m->size;
	b->sec = (struct section){ s->fd, m->off, m->size };
	return 0;
}

static int source_read(const struct source *s, const char *name, char **buf, size_t *len,
		       struct moat_error *err)
{
	struct blob b;
	if (source_blob(s, name, &b, err) < 0)
		return moat_error_wrap(err, "%s: %s", s->display, name);
	if (b.size > IMAGE_MAX_JSON) {
		blob_close(&b);
		return moat_error_set(err, EFBIG, "%s: %s: %llu bytes, over the %u MiB limit",
				      s->display, name, (unsigned long long)b.size,
				      IMAGE_MAX_JSON >> 20);
	}
	*len = (size_t)b.size;
	*buf = xmalloc(*len + 1);
	struct stream in = { section_read, &b.sec, section_skip };
	int r = stream_read_full(&in, *buf, *len, err);
	blob_close(&b);
	if (r < 0) {
		free(*buf);
		*buf = NULL;
		return moat_error_wrap(err, "%s: %s", s->display, name);
	}
	(*buf)[*len] = '\0';
	return 0;
}

static char *blob_path(const char *digest)
{
	const char *colon = strchr(digest, ':');
	return xasprintf("blobs/%.*s/%s", (int)(colon - digest), digest, colon + 1);
}

/* Reads a small blob (manifest, config) and checks it against its
 * descriptor before anyone parses it. */
static int read_verified(const struct source *s, const struct oci_descriptor *d, char **buf,
			 size_t *len, struct moat_error *err)
{
	_cleanup_free_ char *path = blob_path(d->digest);
	if (d->size > (int64_t)IMAGE_MAX_JSON)
		return moat_error_set(err, EFBIG, "%s: %s: %lld bytes, over the %u MiB limit",
				      s->display, path, (long long)d->size, IMAGE_MAX_JSON >> 20);
	if (source_read(s, path, buf, len, err) < 0)
		return -1;
	struct membuf mb = { (const uint8_t *)*buf, *len, 0 };
	struct stream in = { membuf_read, &mb };
	if (digest_verify(&in, d->digest, d->size, NULL, NULL, err) < 0) {
		free(*buf);
		*buf = NULL;
		return moat_error_wrap(err, "%s: %s", s->display, path);
	}
	return 0;
}

/* PATH, or PATH:REF when PATH alone is not there. */
static int resolve_spec(const char *spec, char **path, char **ref, struct stat *st)
{
	if (stat(spec, st) == 0) {
		*path = xstrdup(spec);
		*ref = NULL;
		return 0;
	}
	const char *colon = strrchr(spec, ':');
	if (!colon || colon == spec || !colon[1])
		return -1;
	char *p = xstrndup(spec, (size_t)(colon - spec));
	if (stat(p, st) < 0) {
		free(p);
		return -1;
	}
	*path = p;
	*ref = xstrdup(colon + 1);
	return 0;
}

/* Opens path (PATH, or PATH:REF when PATH alone is not there; a skopeo
 * transport prefix may say which kind it is). */
static int source_open(struct source *s, const char *spec, const char *tmp_dir, int tmp_fd,
		       uint64_t max_bytes, struct moat_error *err)
{
	memset(s, 0, sizeof(*s));
	s->dirfd = s->fd = -1;
	const char *whole = spec;
	static const struct {
		const char *prefix;
		enum source_kind kind;
	} transports[] = { { "oci:", SRC_LAYOUT },
			   { "oci-archive:", SRC_OCI_ARCHIVE },
			   { "docker-archive:", SRC_DOCKER_ARCHIVE } };
	for (size_t i = 0; i < ARRAY_SIZE(transports); i++)
		if (strncmp(spec, transports[i].prefix, strlen(transports[i].prefix)) == 0) {
			s->want = transports[i].kind;
			spec += strlen(transports[i].prefix);
		}
	struct stat st;
	if (resolve_spec(spec, &s->path, &s->ref, &st) < 0) {
		if (s->want && resolve_spec(whole, &s->path, &s->ref, &st) == 0) {
			/* "oci:base" was the directory "oci" and the tag "base". */
			s->want = SRC_UNKNOWN;
		} else {
			s->display = path_display(spec);
			return moat_error_sys(err, ENOENT, "%s", s->display);
		}
	}
	s->display = path_display(s->path);
	if (S_ISDIR(st.st_mode)) {
		s->dirfd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (s->dirfd < 0)
			return moat_error_sys(err, errno, "%s", s->display);
		s->kind = SRC_LAYOUT;
		if (s->want && s->want != SRC_LAYOUT)
			return moat_error_set(err, EINVAL, "%s: is a directory, not an archive",
					      s->display);
		if (faccessat(s->dirfd, "oci-layout", F_OK, AT_SYMLINK_NOFOLLOW) < 0)
			return moat_error_set(err, EINVAL, "%s: not an OCI image layout (no "
							   "oci-layout file)", s->display);
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return moat_error_set(err, EINVAL, "%s: not a directory or a regular file",
				      s->display);
	s->fd = open(s->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (s->fd < 0)
		return moat_error_sys(err, errno, "%s", s->display);
	unsigned char magic[2] = { 0 };
	if (pread(s->fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
		/* `docker save | gzip`: unpack once beside the staging tree,
		 * where blobs can be read at their offsets. */
		int out = openat(tmp_fd, "source.tar", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (out < 0)
			return moat_error_sys(err, errno, "%s/source.tar", tmp_dir);
		struct section sec = { s->fd, 0, (uint64_t)st.st_size };
		struct stream raw = { section_read, &sec, section_skip };
		struct layer_stream *ls = NULL;
		int rc = layer_stream_open(&raw, max_bytes, &ls, err);
		struct stream z = ls ? layer_stream_as_stream(ls) : (struct stream){ 0 };
		_cleanup_free_ char *buf = xmalloc(1u << 16);
		while (rc == 0) {
			ssize_t r = stream_read(&z, buf, 1u << 16, err);
			if (r <= 0) {
				rc = (int)r;
				break;
			}
			for (ssize_t off = 0; off < r && rc == 0;) {
				ssize_t w = write(out, buf + off, (size_t)(r - off));
				if (w < 0 && errno != EINTR)
					rc = moat_error_sys(err, errno, "writing %s/source.tar",
							    tmp_dir);
				off += w > 0 ? w : 0;
			}
		}
		layer_stream_free(ls);
		if (rc < 0) {
			close(out);
			return moat_error_wrap(err, "%s", s->display);
		}
		close(s->fd);
		s->fd = out;
	}
	if (index_archive(s, err) < 0)
		return -1;
	bool oci = find_member(s, "oci-layout") && find_member(s, "index.json");
	bool docker = find_member(s, "manifest.json") != NULL;
	if (s->want == SRC_OCI_ARCHIVE || s->want == SRC_DOCKER_ARCHIVE) {
		if ((s->want == SRC_OCI_ARCHIVE && !oci) || (s->want == SRC_DOCKER_ARCHIVE && !docker))
			return moat_error_set(err, EINVAL, "%s: not %s (no %s)", s->display,
					      s->want == SRC_OCI_ARCHIVE ? "an oci-archive"
									 : "a docker-archive",
					      s->want == SRC_OCI_ARCHIVE ? "oci-layout and index.json"
									 : "manifest.json");
		s->kind = s->want;
	} else if (s->want == SRC_LAYOUT) {
		return moat_error_set(err, EINVAL, "%s: is a file, not an OCI layout directory",
				      s->display);
	} else if (oci) {
		/* docker save since 25 writes both; index.json pins every
		 * digest, manifest.json only names files. */
		s->kind = SRC_OCI_ARCHIVE;
	} else if (docker) {
		s->kind = SRC_DOCKER_ARCHIVE;
	} else {
		return moat_error_set(err, EINVAL, "%s: not an oci-archive or docker-archive (no "
						   "index.json or manifest.json in it)", s->display);
	}
	return 0;
}

/* ---- what to import ---- */

struct layer_plan {
	char *member;        /* where its bytes are */
	char *digest;        /* what they must hash to; NULL: unknown (docker) */
	int64_t size;        /* -1: unknown */
	char computed[136];  /* what they hash to, after the check */
	uint64_t raw_bytes;
	bool gzip_type;      /* the manifest says so (docker: sniffed) */
};

struct plan {
	char *manifest, *config;
	size_t manifest_len, config_len;
	struct oci_config cfg;
	struct layer_plan *layers;
	size_t nlayers;
	char name[256]; /* what the source calls it */
	char id[72];
	uint64_t raw_total;
};

static void plan_release(struct plan *p)
{
	free(p->manifest);
	free(p->config);
	oci_config_release(&p->cfg);
	for (size_t i = 0; i < p->nlayers; i++) {
		free(p->layers[i].member);
		free(p->layers[i].digest);
	}
	free(p->layers);
	memset(p, 0, sizeof(*p));
}

static bool is_manifest_type(const char *mt)
{
	return !mt || strcmp(mt, MT_OCI_MANIFEST) == 0 || strcmp(mt, MT_DOCKER_MANIFEST) == 0 ||
	       strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0;
}

static bool platform_fits(const struct oci_descriptor *d)
{
	return (!d->os || strcmp(d->os, "linux") == 0) &&
	       (!d->arch || strcmp(d->arch, oci_this_arch()) == 0);
}

/* Picks one manifest of an index: the one REF names, else the only one,
 * else the only one for this platform. */
static int pick_manifest(const struct source *s, const char *where, const struct oci_index *x,
			 const char *ref, size_t *pick, struct moat_error *err)
{
	size_t found = 0, which = 0;
	struct sbuf names = { 0 };
	for (size_t i = 0; i < x->n; i++) {
		const struct oci_descriptor *d = &x->manifests[i];
		if (!is_manifest_type(d->media_type))
			continue; /* signatures, attestations, other artifacts */
		if (d->ref_name || d->image_name)
			sbuf_printf(&names, "%s%s", names.len ? ", " : "",
				    d->image_name ? d->image_name : d->ref_name);
		bool match = ref ? (d->ref_name && strcmp(d->ref_name, ref) == 0) ||
					   (d->image_name && strcmp(d->image_name, ref) == 0)
				 : platform_fits(d);
		if (match) {
			if (!found)
				which = i;
			found++;
		}
	}
	int rc = 0;
	if (found == 1)
		*pick = which;
	else if (ref && !found)
		rc = moat_error_set(err, ENOENT, "%s: %s: no image named '%s'%s%s%s", s->display,
				    where, ref, names.len ? " (it has " : "",
				    names.len ? names.s : "", names.len ? ")" : "");
	else if (!found)
		rc = moat_error_set(err, EINVAL, "%s: %s: no image for linux/%s", s->display, where,
				    oci_this_arch());
	else
		rc = moat_error_set(err, EINVAL, "%s: %s: holds %zu images; name one as %s:REF%s%s",
				    s->display, where, found, s->path, names.len ? " from: " : "",
				    names.len ? names.s : "");
	sbuf_release(&names);
	return rc;
}

static bool layer_type_ok(const char *mt, bool *gzip)
{
	*gzip = false;
	if (!mt)
		return true;
	if (strstr(mt, "zstd"))
		return false;
	*gzip = strstr(mt, "gzip") != NULL;
	return strstr(mt, ".tar") != NULL || strstr(mt, "tar.") != NULL;
}

static void set_source_name(struct plan *p, const struct source *s,
			    const struct oci_descriptor *d)
{
	struct moat_error ignored;
	if (d->image_name && name_normalize(d->image_name, p->name, &ignored) == 0)
		return;
	/* A ref.name with a "/" or ":" is a whole reference; plain ones
	 * ("latest", "1.0") are tags, umoci's and skopeo's habit. */
	if (d->ref_name && strpbrk(d->ref_name, "/:") &&
	    name_normalize(d->ref_name, p->name, &ignored) == 0)
		return;
	char guess[256];
	name_from_path(s->path, d->ref_name, guess);
	if (name_normalize(guess, p->name, &ignored) < 0)
		name_from_path("image", NULL, p->name);
}

static int plan_oci(struct plan *p, const struct source *s, struct moat_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (source_read(s, "oci-layout", &buf, &len, err) < 0)
		return -1;
	{
		json_error_t je;
		_cleanup_json_ json_t *j = json_loadb(buf, len, 0, &je);
		const char *v = json_string_value(json_object_get(j, "imageLayoutVersion"));
		if (!v || strncmp(v, "1.", 2) != 0)
			return moat_error_set(err, EBADMSG, "%s: oci-layout: expected "
							    "imageLayoutVersion 1.x", s->display);
	}
	free(buf);
	buf = NULL;
	if (source_read(s, "index.json", &buf, &len, err) < 0)
		return -1;
	struct oci_index x;
	_cleanup_free_ char *where = xstrdup("index.json");
	if (oci_index_parse(where, buf, len, &x, err) < 0)
		return moat_error_wrap(err, "%s", s->display);
	size_t pick;
	if (pick_manifest(s, where, &x, s->ref, &pick, err) < 0) {
		oci_index_release(&x);
		return -1;
	}
	struct oci_descriptor d = x.manifests[pick];
	x.manifests[pick] = (struct oci_descriptor){ 0 };
	oci_index_release(&x);
	set_source_name(p, s, &d);
	/* A manifest list inside the index: follow it to this platform's
	 * manifest, a few levels at most. */
	struct oci_manifest m;
	_cleanup_free_ char *cpath = NULL;
	int r = -1;
	for (int level = 0; level < 4; level++) {
		free(p->manifest);
		p->manifest = NULL;
		if (read_verified(s, &d, &p->manifest, &p->manifest_len, err) < 0)
			goto out;
		free(where);
		where = blob_path(d.digest);
		snprintf(p->id, sizeof(p->id), "%s", d.digest);
		r = oci_manifest_parse(where, p->manifest, p->manifest_len, &m, err);
		if (r <= 0)
			break;
		if (oci_index_parse(where, p->manifest, p->manifest_len, &x, err) < 0) {
			r = -1;
			break;
		}
		r = pick_manifest(s, where, &x, NULL, &pick, err);
		if (r == 0) {
			free(d.media_type);
			free(d.digest);
			free(d.os);
			free(d.arch);
			free(d.variant);
			free(d.ref_name);
			free(d.image_name);
			d = x.manifests[pick];
			x.manifests[pick] = (struct oci_descriptor){ 0 };
		}
		oci_index_release(&x);
		if (r < 0)
			goto out;
		r = 1;
	}
	if (r > 0) {
		r = moat_error_set(err, EBADMSG, "%s: image indexes nest too deep", s->display);
		goto out;
	}
	if (r < 0) {
		moat_error_wrap(err, "%s", s->display);
		goto out;
	}
	if (strncmp(p->id, "sha256:", 7) != 0) {
		oci_manifest_release(&m);
		r = moat_error_set(err, EINVAL, "%s: %s: store ids are sha256; this manifest is %s",
				   s->display, where, p->id);
		goto out;
	}
	cpath = blob_path(m.config.digest);
	r = read_verified(s, &m.config, &p->config, &p->config_len, err);
	if (r == 0 && oci_config_parse(cpath, p->config, p->config_len, &p->cfg, err) < 0)
		r = moat_error_wrap(err, "%s", s->display);
	if (r < 0) {
		oci_manifest_release(&m);
		goto out;
	}
	p->layers = xcalloc(m.nlayers ? m.nlayers : 1, sizeof(*p->layers));
	for (size_t i = 0; i < m.nlayers; i++) {
		struct layer_plan *l = &p->layers[p->nlayers++];
		l->member = blob_path(m.layers[i].digest);
		l->digest = xstrdup(m.layers[i].digest);
		l->size = m.layers[i].size;
		p->raw_total += (uint64_t)l->size;
		if (!layer_type_ok(m.layers[i].media_type, &l->gzip_type)) {
			r = moat_error_set(err, EINVAL, "%s: %s: layer %zu: media type '%.100s' is "
							"not a tar layer this import can read%s",
					   s->display, l->member, i + 1, m.layers[i].media_type,
					   strstr(m.layers[i].media_type, "zstd")
						   ? " (zstd: recompress with gzip)"
						   : "");
			oci_manifest_release(&m);
			goto out;
		}
	}
	oci_manifest_release(&m);
	r = 0;
out:
	free(d.media_type);
	free(d.digest);
	free(d.os);
	free(d.arch);
	free(d.variant);
	free(d.ref_name);
	free(d.image_name);
	return r;
}

/* docker save names some files by their digest: "<hex>.json", "<hex>.tar",
 * "blobs/sha256/<hex>".  Those are checked; "<id>/layer.tar" only through
 * the config's diff_ids. */
static char *digest_from_name(const char *member)
{
	const char *base = strrchr(member, '/');
	base = base ? base + 1 : member;
	size_t n = strcspn(base, ".");
	if (n != 64)
		return NULL;
	if (base[64] && strcmp(base + 64, ".json") != 0 && strcmp(base + 64, ".tar") != 0)
		return NULL;
	char *d = xasprintf("sha256:%.64s", base);
	if (digest_check(d) < 0) {
		free(d);
		return NULL;
	}
	return d;
}

static int plan_docker(struct plan *p, const struct source *s, struct moat_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len, n;
	struct docker_item *items;
	if (source_read(s, "manifest.json", &buf, &len, err) < 0)
		return -1;
	if (docker_manifest_parse("manifest.json", buf, len, &items, &n, err) < 0)
		return moat_error_wrap(err, "%s", s->display);
	size_t pick = n, found = 0;
	struct sbuf tags = { 0 };
	for (size_t i = 0; i < n; i++) {
		bool match = !s->ref;
		for (size_t k = 0; k < items[i].ntags; k++) {
			sbuf_printf(&tags, "%s%s", tags.len ? ", " : "", items[i].repo_tags[k]);
			char a[256], b[256];
			struct moat_error ignored;
			if (s->ref && name_normalize(s->ref, a, &ignored) == 0 &&
			    name_normalize(items[i].repo_tags[k], b, &ignored) == 0 &&
			    strcmp(a, b) == 0)
				match = true;
		}
		if (match && found++ == 0)
			pick = i;
	}
	int rc = 0;
	if (found != 1) {
		if (s->ref && !found)
			rc = moat_error_set(err, ENOENT, "%s: manifest.json: no image tagged '%s'%s%s%s",
					    s->display, s->ref, tags.len ? " (it has " : "",
					    tags.len ? tags.s : "", tags.len ? ")" : "");
		else if (!found)
			rc = moat_error_set(err, EINVAL, "%s: manifest.json: holds no image",
					    s->display);
		else
			rc = moat_error_set(err, EINVAL, "%s: manifest.json: holds %zu images; name "
							 "one as %s:NAME:TAG%s%s",
					    s->display, found, s->path, tags.len ? " from: " : "",
					    tags.len ? tags.s : "");
		sbuf_release(&tags);
		docker_items_free(items, n);
		return rc;
	}
	sbuf_release(&tags);
	struct docker_item *it = &items[pick];
	struct moat_error ignored;
	if (!it->ntags || name_normalize(it->repo_tags[0], p->name, &ignored) < 0)
		name_from_path(s->path, NULL, p->name);
	_cleanup_free_ char *cdigest = digest_from_name(it->config);
	if (source_read(s, it->config, &p->config, &p->config_len, err) < 0) {
		docker_items_free(items, n);
		return -1;
	}
	struct membuf mb = { (const uint8_t *)p->config, p->config_len, 0 };
	struct stream in = { membuf_read, &mb };
	int r = digest_verify(&in, cdigest, -1, NULL, NULL, err);
	if (r < 0)
		moat_error_wrap(err, "%s", it->config);
	else
		r = oci_config_parse(it->config, p->config, p->config_len, &p->cfg, err);
	if (r < 0) {
		docker_items_free(items, n);
		return moat_error_wrap(err, "%s", s->display);
	}
	p->layers = xcalloc(it->nlayers ? it->nlayers : 1, sizeof(*p->layers));
	for (size_t i = 0; i < it->nlayers; i++) {
		struct layer_plan *l = &p->layers[p->nlayers++];
		l->member = xstrdup(it->layers[i]);
		l->digest = digest_from_name(it->layers[i]);
		l->size = -1;
		struct blob b;
		if (source_blob(s, l->member, &b, err) < 0) {
			docker_items_free(items, n);
			return moat_error_wrap(err, "%s: %s: layer %zu", s->display, l->member, i + 1);
		}
		p->raw_total += b.size;
		blob_close(&b);
	}
	docker_items_free(items, n);
	return 0;
}

/* docker save writes no manifest: one is made from what was verified, once
 * the layers are hashed, and its digest is the image's id in the store. */
static void docker_manifest_make(struct plan *p)
{
	char cdigest[72];
	char hex[65];
	sha256_hex(p->config, p->config_len, hex);
	snprintf(cdigest, sizeof(cdigest), "sha256:%s", hex);
	json_t *layers = json_array();
	for (size_t i = 0; i < p->nlayers; i++)
		json_array_append_new(
			layers, json_pack("{s:s, s:s, s:I}", "mediaType",
					  p->layers[i].gzip_type ? "application/vnd.oci.image.layer.v1.tar+gzip"
								 : "application/vnd.oci.image.layer.v1.tar",
					  "digest", p->layers[i].computed, "size",
					  (json_int_t)p->layers[i].raw_bytes));
	json_t *m = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2,
			      "mediaType", MT_OCI_MANIFEST, "config", "mediaType", MT_OCI_CONFIG,
			      "digest", cdigest, "size", (json_int_t)p->config_len, "layers",
			      layers);
	free(p->manifest);
	p->manifest = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
	p->manifest_len = strlen(p->manifest);
	json_decref(m);
	sha256_hex(p->manifest, p->manifest_len, hex);
	snprintf(p->id, sizeof(p->id), "sha256:%s", hex);
}

/* ---- progress through a stream ---- */

struct counted {
	struct stream *in;
	struct progress *p;
	uint64_t bytes, stepped;
};

static ssize_t counted_read(void *ctx, void *buf, size_t n, struct moat_error *err)
{
	struct counted *c = ctx;
	ssize_t r = stream_read(c->in, buf, n, err);
	if (r > 0 && c->p) {
		c->bytes += (uint64_t)r;
		for (; c->stepped < c->bytes >> 20; c->stepped++)
			progress_step(c->p);
	}
	return r;
}

/* Pass one: every layer blob hashed before any is unpacked. */
static int verify_layers(struct plan *p, const struct source *s, struct progress *prog,
			 struct moat_error *err)
{
	for (size_t i = 0; i < p->nlayers; i++) {
		struct layer_plan *l = &p->layers[i];
		struct blob b;
		if (source_blob(s, l->member, &b, err) < 0)
			return moat_error_wrap(err, "%s: %s: layer %zu", s->display, l->member, i + 1);
		uint64_t start = b.sec.off;
		struct stream raw = { section_read, &b.sec };
		struct counted c = { &raw, prog, 0, 0 };
		struct stream in = { counted_read, &c };
		int r = digest_verify(&in, l->digest, l->size, l->computed, &l->raw_bytes, err);
		if (r == 0 && !l->digest) {
			unsigned char magic[2] = { 0 };
			l->gzip_type = pread(b.fd, magic, 2, (off_t)start) == 2 && magic[0] == 0x1f &&
				       magic[1] == 0x8b;
		}
		blob_close(&b);
		if (r < 0)
			return moat_error_wrap(err, "%s: %s: layer %zu", s->display, l->member, i + 1);
	}
	return 0;
}

/* Pass two: the layers in order into root_fd. */
static int unpack_layers(struct plan *p, const struct source *s, int root_fd, uint64_t max_bytes,
			 struct progress *prog, struct moat_error *err)
{
	if (p->cfg.ndiff_ids != p->nlayers)
		return moat_error_set(err, EBADMSG, "%s: the manifest has %zu layers, the config's "
						    "rootfs.diff_ids %zu", s->display, p->nlayers,
				      p->cfg.ndiff_ids);
	struct layer_applier *a = layer_applier_new(root_fd, max_bytes);
	uint64_t used = 0;
	int rc = 0;
	for (size_t i = 0; i < p->nlayers && rc == 0; i++) {
		struct layer_plan *l = &p->layers[i];
		struct blob b;
		if (source_blob(s, l->member, &b, err) < 0) {
			rc = moat_error_wrap(err, "%s: %s: layer %zu", s->display, l->member, i + 1);
			break;
		}
		struct stream raw = { section_read, &b.sec };
		struct counted c = { &raw, prog, 0, 0 };
		struct stream counted = { counted_read, &c };
		struct layer_stream *ls = NULL;
		char diff_id[72];
		rc = layer_stream_open(&counted, max_bytes - used, &ls, err);
		if (rc == 0) {
			struct stream tar = layer_stream_as_stream(ls);
			rc = layer_apply(a, &tar, err);
		}
		if (rc == 0)
			rc = layer_stream_finish(ls, diff_id, err);
		if (rc == 0 && strcmp(diff_id, p->cfg.diff_ids[i]) != 0)
			rc = moat_error_set(err, EBADMSG, "uncompressed digest %s is not the config's "
							  "diff_id %s", diff_id, p->cfg.diff_ids[i]);
		if (ls)
			used += layer_stream_bytes(ls);
		layer_stream_free(ls);
		blob_close(&b);
		if (rc < 0)
			moat_error_wrap(err, "%s: %s: layer %zu", s->display, l->member, i + 1);
	}
	if (rc == 0)
		rc = layer_applier_finish(a, err);
	layer_applier_free(a);
	return rc;
}

/* ---- disks ---- */

char *find_tool(const char *name)
{
	const char *env = getenv("PATH");
	_cleanup_free_ char *dirs = xasprintf("/usr/sbin:/usr/bin:/sbin:/bin%s%s", env ? ":" : "",
					      env ? env : "");
	for (char *save, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		if (d[0] != '/')
			continue; /* a relative PATH entry is the cwd's, not ours */
		char *p = xasprintf("%s/%s", d, name);
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

/* Runs argv[0] with a fixed environment and no shell; its output is kept
 * (the tail) for the error message. */
static int run_tool(char *const argv[], struct moat_error *err)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return moat_error_sys(err, errno, "pipe");
	static char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL };
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pipefd[0]);
		close(pipefd[1]);
		return moat_error_sys(err, e, "fork");
	}
	if (pid == 0) {
		/* Only async-signal-safe calls between fork and exec. */
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null < 0 || dup2(null, 0) < 0 || dup2(pipefd[1], 1) < 0 || dup2(pipefd[1], 2) < 0)
			_exit(126);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	close(pipefd[1]);
	char tail[600];
	size_t len = 0;
	for (;;) {
		char buf[4096];
		ssize_t r = read(pipefd[0], buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r; i++) {
			if (len == sizeof(tail) - 1) {
				memmove(tail, tail + 100, len - 100);
				len -= 100;
			}
			tail[len++] = buf[i] == '\n' ? ' ' : buf[i];
		}
	}
	close(pipefd[0]);
	tail[len] = '\0';
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return moat_error_sys(err, errno, "waiting for %s", argv[0]);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	while (len && tail[len - 1] == ' ')
		tail[--len] = '\0';
	if (WIFEXITED(status))
		return moat_error_set(err, EIO, "%s failed (exit %d)%s%s", argv[0], WEXITSTATUS(status),
				      len ? ": " : "", tail);
	return moat_error_set(err, EIO, "%s died of signal %d", argv[0], WTERMSIG(status));
}

struct tree_size {
	uint64_t bytes, inodes;
};

static int tree_measure(int dirfd, struct tree_size *ts, unsigned depth, struct moat_error *err)
{
	if (depth > 2 * TAR_MAX_DEPTH)
		return moat_error_set(err, EINVAL, "the tree is too deep for ext4's -d");
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return moat_error_sys(err, errno, "reading the staged tree");
	}
	struct dirent *de;
	int rc = 0;
	while (rc == 0 && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		ts->inodes++;
		ts->bytes += ((uint64_t)st.st_size + 4095) & ~4095ull;
		if (S_ISDIR(st.st_mode)) {
			ts->bytes += 4096;
			int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0) {
				rc = tree_measure(sub, ts, depth + 1, err);
				close(sub);
			}
		}
	}
	closedir(d);
	return rc;
}

static void uuid_from_id(const char *id, char out[37])
{
	const char *h = id + 7;
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

static int make_disk(const char *fstype, const char *tmp, int tmp_fd, const char *id,
		     char disk_name[32], struct moat_error *err)
{
	char uuid[37];
	uuid_from_id(id, uuid);
	_cleanup_free_ char *rootfs = xasprintf("%s/rootfs", tmp);
	if (strcmp(fstype, "erofs") == 0) {
		_cleanup_free_ char *tool = find_tool("mkfs.erofs");
		if (!tool)
			return moat_error_set(err, ENOEXEC, "mkfs.erofs is not installed (apt-get "
							   "install erofs-utils, or --fstype ext4)");
		snprintf(disk_name, 32, "disk.erofs");
		_cleanup_free_ char *disk = xasprintf("%s/%s", tmp, disk_name);
		_cleanup_free_ char *uopt = xasprintf("-U%s", uuid);
		/* -x-1: no extended attributes from the staging host (an LSM's
		 * labels are not the image's). */
		char *argv[] = { tool, "--quiet", "-x-1", uopt, disk, rootfs, NULL };
		return run_tool(argv, err);
	}
	_cleanup_free_ char *tool = find_tool("mkfs.ext4");
	if (!tool)
		return moat_error_set(err, ENOEXEC, "mkfs.ext4 is not installed (apt-get install "
						   "e2fsprogs)");
	snprintf(disk_name, 32, "disk.ext4");
	_cleanup_free_ char *disk = xasprintf("%s/%s", tmp, disk_name);
	_cleanup_close_ int root_fd = openat(tmp_fd, "rootfs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct tree_size ts = { 0, 1 };
	if (root_fd < 0 || tree_measure(root_fd, &ts, 0, err) < 0)
		return root_fd < 0 ? moat_error_sys(err, errno, "%s", rootfs) : -1;
	/* Room for data, one 256-byte inode each with a fifth spare, and the
	 * file system's own metadata; a retry doubles it. */
	uint64_t inodes = ts.inodes + ts.inodes / 5 + 256;
	uint64_t size = ts.bytes + ts.bytes / 4 + inodes * 256 + (16u << 20);
	for (int attempt = 0; attempt < 2; attempt++, size *= 2) {
		size = (size + 4095) & ~4095ull;
		unlinkat(tmp_fd, disk_name, 0);
		int fd = openat(tmp_fd, disk_name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0)
			return moat_error_sys(err, errno, "%s", disk);
		int r = ftruncate(fd, (off_t)size);
		int e = errno;
		close(fd);
		if (r < 0)
			return moat_error_sys(err, e, "%s", disk);
		char nopt[32];
		snprintf(nopt, sizeof(nopt), "%llu", (unsigned long long)inodes);
		char *argv[] = { tool, "-q", "-F", "-t", "ext4", "-b", "4096", "-m", "0", "-N", nopt,
				 "-O", "^has_journal,^resize_inode", "-L", "moat-image", "-U", uuid,
				 "-E", "root_owner=0:0", "-d", rootfs, disk, NULL };
		r = run_tool(argv, err);
		if (r == 0 || attempt == 1)
			return r;
	}
	return -1;
}

/* ---- the store ---- */

static int mkdir_p(const char *path, mode_t mode, struct moat_error *err)
{
	if (mkdir(path, mode) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return moat_error_sys(err, errno, "%s", path);
	_cleanup_free_ char *parent = xstrdup(path);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		if (mkdir_p(parent, 0755, err) < 0)
			return -1;
	}
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return moat_error_sys(err, errno, "%s", path);
	return 0;
}

struct store {
	char *dir; /* absolute: disks are named by absolute paths */
	int fd, lock_fd;
};

static void store_close(struct store *st)
{
	if (st->fd >= 0)
		close(st->fd);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	free(st->dir);
	st->fd = st->lock_fd = -1;
	st->dir = NULL;
}

static int store_open(struct store *st, const char *state_dir, bool create, struct moat_error *err)
{
	st->fd = st->lock_fd = -1;
	st->dir = NULL;
	_cleanup_free_ char *dir = xasprintf("%s/images", state_dir);
	if (create && (mkdir_p(state_dir, 0700, err) < 0 || mkdir_p(dir, 0700, err) < 0))
		return -1;
	st->fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->fd < 0) {
		if (errno == ENOENT && !create)
			return 1; /* an empty store */
		return moat_error_sys(err, errno, "%s", dir);
	}
	char real[PATH_MAX];
	if (!realpath(dir, real))
		return moat_error_sys(err, errno, "%s", dir);
	st->dir = xstrdup(real);
	return 0;
}

static int store_lock(struct store *st, int op, struct moat_error *err)
{
	st->lock_fd = openat(st->fd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->lock_fd < 0 && errno == EACCES && op == LOCK_SH)
		st->lock_fd = openat(st->fd, ".lock", O_RDONLY | O_CLOEXEC);
	if (st->lock_fd < 0)
		return moat_error_sys(err, errno, "%s/.lock", st->dir);
	while (flock(st->lock_fd, op) < 0)
		if (errno != EINTR)
			return moat_error_sys(err, errno, "locking %s", st->dir);
	return 0;
}

/* The index, or an empty one. */
static int index_load(struct store *st, json_t **out, struct moat_error *err)
{
	*out = NULL;
	int fd = openat(st->fd, "index.json", O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		*out = json_pack("{s:i, s:{}}", "version", 1, "images");
		return 0;
	}
	if (fd < 0)
		return moat_error_sys(err, errno, "%s/index.json", st->dir);
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = read_fd(fd, "index.json", MOAT_MAX_INPUT, &buf, &len, err);
	close(fd);
	if (r < 0)
		return moat_error_wrap(err, "%s", st->dir);
	json_error_t je;
	json_t *j = json_loadb(buf, len, 0, &je);
	if (!j || !json_is_object(json_object_get(j, "images"))) {
		json_decref(j);
		return moat_error_set(err, EBADMSG, "%s/index.json: not a moat image index (%s)",
				      st->dir, j ? "no images object" : je.text);
	}
	*out = j;
	return 0;
}

static int write_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
		    struct moat_error *err)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return moat_error_sys(err, errno, "%s", name);
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, (const char *)data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return moat_error_sys(err, errno, "writing %s", name);
		off += (size_t)w;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0)
		return moat_error_sys(err, errno, "%s", name);
	return 0;
}

/* Temp file and rename: a reader sees the old index or the new one. */
static int index_save(struct store *st, json_t *index, struct moat_error *err)
{
	_cleanup_free_ char *text = json_dumps(index, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	char tmp[64];
	snprintf(tmp, sizeof(tmp), ".index.json.%ld", (long)getpid());
	unlinkat(st->fd, tmp, 0);
	if (write_at(st->fd, tmp, text, strlen(text), 0600, err) < 0) {
		unlinkat(st->fd, tmp, 0);
		return moat_error_wrap(err, "%s", st->dir);
	}
	if (renameat(st->fd, tmp, st->fd, "index.json") < 0) {
		moat_error_sys(err, errno, "%s/index.json", st->dir);
		unlinkat(st->fd, tmp, 0);
		return -1;
	}
	fsync(st->fd);
	return 0;
}

static bool id_referenced(json_t *index, const char *id)
{
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(index, "images"), k, v)
		if (strcmp(json_string_value(json_object_get(v, "id")) ?: "", id) == 0)
			return true;
	return false;
}

/* Removes an image directory nobody names any more: renamed aside first,
 * so a half-removed image is never seen under its id. */
static void store_gc(struct store *st, json_t *index, const char *id)
{
	if (!id || strncmp(id, "sha256:", 7) != 0 || id_referenced(index, id))
		return;
	char aside[96];
	snprintf(aside, sizeof(aside), ".rm-%ld-%.12s", (long)getpid(), id + 7);
	if (renameat(st->fd, id + 7, st->fd, aside) < 0)
		return;
	struct moat_error ignored;
	remove_tree_at(st->fd, aside, &ignored);
}

/* Imports and removals that died left .import-PID-* and .rm-PID-*:
 * remove those whose process is gone (under the lock). */
static void store_sweep(struct store *st)
{
	struct moat_error ignored;
	int fd = dup(st->fd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	char **stale = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		long pid;
		if (sscanf(de->d_name, ".import-%ld-", &pid) != 1 &&
		    sscanf(de->d_name, ".rm-%ld-", &pid) != 1)
			continue;
		if (pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
			stale = grow_array(stale, &cap, n + 1, sizeof(*stale));
			stale[n++] = xstrdup(de->d_name);
		}
	}
	closedir(d);
	for (size_t i = 0; i < n; i++) {
		remove_tree_at(st->fd, stale[i], &ignored);
		free(stale[i]);
	}
	free(stale);
}

/* Is the image stored, with a hash tree?  One stored by a moat that built
 * none is made again by the next import of it. */
static bool stored_verified(struct store *st, const char *id)
{
	_cleanup_free_ char *meta = xasprintf("%s/image.json", id + 7);
	_cleanup_close_ int fd = openat(st->fd, meta, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	size_t len;
	struct moat_error ignored = { 0 };
	if (fd < 0 || read_fd(fd, meta, IMAGE_MAX_JSON, &buf, &len, &ignored) < 0)
		return false;
	_cleanup_json_ json_t *m = json_loadb(buf, len, 0, NULL);
	return json_is_object(json_object_get(m, "verity"));
}

static int load_info(struct store *st, const char *name, const char *id, long long imported_at,
		     struct image_info *out, struct moat_error *err)
{
	memset(out, 0, sizeof(*out));
	if (strncmp(id, "sha256:", 7) != 0 || digest_check(id) < 0)
		return moat_error_set(err, EBADMSG, "%s/index.json: '%s' has a malformed id",
				      st->dir, name);
	snprintf(out->id, sizeof(out->id), "%s", id);
	snprintf(out->name, sizeof(out->name), "%s", name);
	out->imported_at = imported_at;
	_cleanup_free_ char *meta_path = xasprintf("%s/image.json", id + 7);
	_cleanup_close_ int fd = openat(st->fd, meta_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return moat_error_sys(err, errno, "%s/%s", st->dir, meta_path);
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (read_fd(fd, meta_path, IMAGE_MAX_JSON, &buf, &len, err) < 0)
		return moat_error_wrap(err, "%s", st->dir);
	json_error_t je;
	_cleanup_json_ json_t *meta = json_loadb(buf, len, 0, &je);
	const char *fstype = json_string_value(json_object_get(meta, "fstype"));
	if (!fstype || (strcmp(fstype, "erofs") && strcmp(fstype, "ext4")))
		return moat_error_set(err, EBADMSG, "%s/%s: no fstype", st->dir, meta_path);
	snprintf(out->fstype, sizeof(out->fstype), "%s", fstype);
	snprintf(out->disk, sizeof(out->disk), "%s/%s/disk.%s", st->dir, id + 7, fstype);
	struct stat sb;
	if (stat(out->disk, &sb) < 0)
		return moat_error_sys(err, errno, "%s", out->disk);
	out->disk_bytes = (uint64_t)sb.st_size;
	/* No tree (an import by an older moat) or a bad one: present stays
	 * false, and pods refuse the image. */
	verity_from_json(json_object_get(meta, "verity"), out->disk_bytes, &out->verity);
	free(buf);
	buf = NULL;
	_cleanup_free_ char *cfg_path = xasprintf("%s/%s/config.json", st->dir, id + 7);
	if (read_file(cfg_path, IMAGE_MAX_JSON, &buf, &len, err) < 0)
		return -1;
	struct oci_config cfg;
	if (oci_config_parse(cfg_path, buf, len, &cfg, err) < 0)
		return -1;
	out->config = cfg.config;
	cfg.config = (struct image_config){ 0 };
	oci_config_release(&cfg);
	return 0;
}

static long long entry_time(json_t *v)
{
	return (long long)json_integer_value(json_object_get(v, "importedAt"));
}

int image_import_with(const char *state_dir, const char *source, const char *name,
		      const struct image_import_options *o, struct image_info *out,
		      struct moat_error *err)
{
	struct image_import_options defaults = { 0 };
	if (!o)
		o = &defaults;
	uint64_t max_bytes = o->max_bytes ? o->max_bytes : IMAGE_DEFAULT_MAX_BYTES;
	char want_name[256] = "";
	if (name && name_normalize(name, want_name, err) < 0)
		return -1;
	const char *fstype = o->fstype && strcmp(o->fstype, "auto") ? o->fstype : NULL;
	if (fstype && strcmp(fstype, "erofs") && strcmp(fstype, "ext4"))
		return moat_error_set(err, EINVAL, "fstype '%s': expected erofs or ext4", fstype);
	if (!fstype) {
		_cleanup_free_ char *erofs = find_tool("mkfs.erofs");
		fstype = erofs ? "erofs" : "ext4";
	}

	struct store st;
	if (store_open(&st, state_dir, true, err) < 0) {
		store_close(&st);
		return -1;
	}
	if (store_lock(&st, LOCK_EX, err) < 0) {
		store_close(&st);
		return -1;
	}
	store_sweep(&st);
	close(st.lock_fd);
	st.lock_fd = -1;

	char tmp_name[64];
	snprintf(tmp_name, sizeof(tmp_name), ".import-%ld-XXXXXX", (long)getpid());
	_cleanup_free_ char *tmp = xasprintf("%s/%s", st.dir, tmp_name);
	if (!mkdtemp(tmp)) {
		int e = errno;
		store_close(&st);
		return moat_error_sys(err, e, "%s", tmp);
	}
	const char *tmp_base = strrchr(tmp, '/') + 1;
	int tmp_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct source src;
	struct plan plan = { 0 };
	struct progress prog;
	_cleanup_json_ json_t *index = NULL;
	_cleanup_free_ char *old_id = NULL;
	bool placed = false;
	int rc = -1;
	if (tmp_fd < 0) {
		moat_error_sys(err, errno, "%s", tmp);
		memset(&src, 0, sizeof(src));
		src.dirfd = src.fd = -1;
		goto out;
	}
	if (source_open(&src, source, tmp, tmp_fd, max_bytes, err) < 0)
		goto out;
	if ((src.kind == SRC_DOCKER_ARCHIVE ? plan_docker(&plan, &src, err)
					    : plan_oci(&plan, &src, err)) < 0)
		goto out;
	const char *final_name = want_name[0] ? want_name : plan.name;

	char progress_what[200];
	snprintf(progress_what, sizeof(progress_what), "moat image: %s: verifying layers, MiB",
		 src.display);
	progress_start(&prog, progress_what, (size_t)(plan.raw_total >> 20));
	prog.tty = prog.tty && o->progress;
	/* For OCI the id is known now; an image already stored needs only
	 * its new tag. */
	bool have = false;
	if (src.kind != SRC_DOCKER_ARCHIVE)
		have = stored_verified(&st, plan.id);
	if (!have) {
		rc = verify_layers(&plan, &src, &prog, err);
		progress_end(&prog);
		if (rc < 0)
			goto out;
		rc = -1;
		if (src.kind == SRC_DOCKER_ARCHIVE) {
			docker_manifest_make(&plan);
			have = stored_verified(&st, plan.id);
		}
	}
	if (!have) {
		if (mkdirat(tmp_fd, "rootfs", 0755) < 0) {
			moat_error_sys(err, errno, "%s/rootfs", tmp);
			goto out;
		}
		_cleanup_close_ int root_fd = openat(tmp_fd, "rootfs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (root_fd < 0) {
			moat_error_sys(err, errno, "%s/rootfs", tmp);
			goto out;
		}
		snprintf(progress_what, sizeof(progress_what), "moat image: %s: unpacking layers, MiB",
			 src.display);
		progress_start(&prog, progress_what, (size_t)(plan.raw_total >> 20));
		prog.tty = prog.tty && o->progress;
		int r = unpack_layers(&plan, &src, root_fd, max_bytes, &prog, err);
		progress_end(&prog);
		if (r < 0)
			goto out;
		char disk_name[32];
		if (o->progress && isatty(STDERR_FILENO) && !getenv("CI")) {
			fprintf(stderr, "\rmoat image: %s: building the %s disk", src.display, fstype);
			fflush(stderr);
		}
		r = make_disk(fstype, tmp, tmp_fd, plan.id, disk_name, err);
		if (o->progress && isatty(STDERR_FILENO) && !getenv("CI"))
			fprintf(stderr, "\r\033[K");
		if (r < 0) {
			moat_error_wrap(err, "%s: building the %s disk", src.display, fstype);
			goto out;
		}
		/* The staged tree is in the disk now; and a gunzipped source
		 * is not part of the image. */
		if (remove_tree_at(tmp_fd, "rootfs", err) < 0)
			goto out;
		unlinkat(tmp_fd, "source.tar", 0);
		struct stat ds;
		struct image_verity verity;
		{
			/* The dm-verity tree goes after the file system, in the
			 * same file: the guest checks every block it reads. */
			_cleanup_close_ int dfd = openat(tmp_fd, disk_name, O_RDWR | O_CLOEXEC);
			_cleanup_free_ char *dname = xasprintf("%s/%s", tmp, disk_name);
			if (dfd < 0 || fchmod(dfd, 0644) < 0) {
				moat_error_sys(err, errno, "%s", dname);
				goto out;
			}
			if (verity_build(dfd, dname, &verity, err) < 0) {
				moat_error_wrap(err, "%s: building the dm-verity tree", src.display);
				goto out;
			}
			if (fsync(dfd) < 0 || fstat(dfd, &ds) < 0) {
				moat_error_sys(err, errno, "%s", dname);
				goto out;
			}
		}
		_cleanup_json_ json_t *meta = json_pack(
			"{s:s, s:s, s:s, s:I, s:i, s:s, s:I, s:o}", "id", plan.id, "fstype", fstype,
			"disk", disk_name, "diskBytes", (json_int_t)ds.st_size, "layers",
			(int)plan.nlayers, "source", src.display, "createdAt", (json_int_t)time(NULL),
			"verity", verity_to_json(&verity));
		_cleanup_free_ char *meta_text = json_dumps(meta, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (write_at(tmp_fd, "manifest.json", plan.manifest, plan.manifest_len, 0644, err) < 0 ||
		    write_at(tmp_fd, "config.json", plan.config, plan.config_len, 0644, err) < 0 ||
		    write_at(tmp_fd, "image.json", meta_text, strlen(meta_text), 0644, err) < 0) {
			moat_error_wrap(err, "%s", tmp);
			goto out;
		}
		fsync(tmp_fd);
	}

	/* Into place and tagged, under the lock. */
	if (store_lock(&st, LOCK_EX, err) < 0)
		goto out;
	if (!have) {
		if (renameat(st.fd, tmp_base, st.fd, plan.id + 7) == 0) {
			placed = true;
		} else if ((errno == EEXIST || errno == ENOTEMPTY) && !stored_verified(&st, plan.id)) {
			/* The same image stored without a hash tree: this one
			 * replaces it (a running pod keeps its open disk). */
			_cleanup_free_ char *old = xasprintf(".rm-%ld-%s", (long)getpid(), plan.id + 7);
			if (renameat(st.fd, plan.id + 7, st.fd, old) < 0 ||
			    renameat(st.fd, tmp_base, st.fd, plan.id + 7) < 0) {
				moat_error_sys(err, errno, "%s/%s", st.dir, plan.id + 7);
				goto out;
			}
			placed = true;
			struct moat_error ignored;
			remove_tree_at(st.fd, old, &ignored);
		} else if (errno != EEXIST && errno != ENOTEMPTY) {
			moat_error_sys(err, errno, "%s/%s", st.dir, plan.id + 7);
			goto out;
		}
		/* else: an import beside ours put the same image there. */
	}
	if (index_load(&st, &index, err) < 0)
		goto out;
	json_t *images = json_object_get(index, "images");
	old_id = xstrdup(
		json_string_value(json_object_get(json_object_get(images, final_name), "id")) ?: "");
	long long now = (long long)time(NULL);
	json_object_set_new(images, final_name,
			    json_pack("{s:s, s:I}", "id", plan.id, "importedAt", (json_int_t)now));
	if (index_save(&st, index, err) < 0)
		goto out;
	store_gc(&st, index, old_id);
	rc = 0;
	if (out && load_info(&st, final_name, plan.id, now, out, err) < 0)
		rc = -1;
out:
	if (tmp_fd >= 0)
		close(tmp_fd);
	if (!placed) {
		struct moat_error ignored;
		remove_tree_at(st.fd, tmp_base, &ignored);
	}
	source_close(&src);
	plan_release(&plan);
	store_close(&st);
	return rc;
}

int image_import(const char *state_dir, const char *source, const char *name,
		 struct image_info *out, struct moat_error *err)
{
	return image_import_with(state_dir, source, name, NULL, out, err);
}

void image_info_release(struct image_info *i)
{
	if (i)
		image_config_release(&i->config);
}

void image_list_free(struct image_info *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		image_info_release(&v[i]);
	free(v);
}

static int cmp_info(const void *a, const void *b)
{
	return strcmp(((const struct image_info *)a)->name, ((const struct image_info *)b)->name);
}

int image_list(const char *state_dir, struct image_info **out, size_t *n, struct moat_error *err)
{
	*out = NULL;
	*n = 0;
	struct store st;
	int r = store_open(&st, state_dir, false, err);
	if (r != 0) {
		store_close(&st);
		return r < 0 ? -1 : 0;
	}
	_cleanup_json_ json_t *index = NULL;
	if (store_lock(&st, LOCK_SH, err) < 0 || index_load(&st, &index, err) < 0) {
		store_close(&st);
		return -1;
	}
	json_t *images = json_object_get(index, "images");
	size_t cap = 0;
	const char *k;
	json_t *v;
	json_object_foreach(images, k, v) {
		*out = grow_array(*out, &cap, *n + 1, sizeof(**out));
		const char *id = json_string_value(json_object_get(v, "id"));
		if (load_info(&st, k, id ? id : "", entry_time(v), &(*out)[*n], err) < 0) {
			image_info_release(&(*out)[*n]);
			image_list_free(*out, *n);
			*out = NULL;
			*n = 0;
			store_close(&st);
			return -1;
		}
		(*n)++;
	}
	if (*n)
		qsort(*out, *n, sizeof(**out), cmp_info);
	store_close(&st);
	return 0;
}

/* name:tag first, then an id or a prefix of one (4 hex digits or more). */
static int lookup(json_t *index, const char *name, char key[256], struct moat_error *err)
{
	json_t *images = json_object_get(index, "images");
	char norm[256];
	struct moat_error ignored;
	if (name_normalize(name, norm, &ignored) == 0) {
		/* As Docker reads references: "busybox" is
		 * docker.io/library/busybox, "me/app" docker.io/me/app, and the
		 * other way round. */
		char cand[3][300];
		const char *slash = strchr(norm, '/');
		bool registry = slash && (memchr(norm, '.', (size_t)(slash - norm)) ||
					  memchr(norm, ':', (size_t)(slash - norm)) ||
					  strncmp(norm, "localhost/", 10) == 0);
		snprintf(cand[0], sizeof(cand[0]), "%s", norm);
		snprintf(cand[1], sizeof(cand[1]), "%s%s", !slash ? "docker.io/library/" : "docker.io/",
			 norm);
		snprintf(cand[2], sizeof(cand[2]), "%s",
			 strncmp(norm, "docker.io/library/", 18) == 0 ? norm + 18
			 : strncmp(norm, "docker.io/", 10) == 0	       ? norm + 10
									: norm);
		for (int i = 0; i < 3; i++) {
			if (i == 1 && registry)
				continue;
			if (json_object_get(images, cand[i])) {
				snprintf(key, 256, "%.255s", cand[i]);
				return 0;
			}
		}
	}
	const char *hex = strncmp(name, "sha256:", 7) == 0 ? name + 7 : name;
	size_t hl = strlen(hex);
	bool is_hex = hl >= 4 && hl <= 64 && strspn(hex, "0123456789abcdef") == hl;
	const char *k, *match_id = NULL;
	json_t *v;
	key[0] = '\0';
	if (is_hex)
		json_object_foreach(images, k, v) {
			const char *id = json_string_value(json_object_get(v, "id"));
			if (!id || strncmp(id + 7, hex, hl) != 0)
				continue;
			if (match_id && strcmp(match_id, id) != 0)
				return moat_error_set(err, EINVAL, "'%s' is a prefix of more than one "
								   "image id", name);
			if (!match_id || strcmp(k, key) < 0)
				snprintf(key, 256, "%s", k);
			match_id = id;
		}
	if (!key[0])
		return moat_error_set(err, ENOENT, "no image '%s'", name);
	return 0;
}

int image_find(const char *state_dir, const char *name, struct image_info *out,
	       struct moat_error *err)
{
	memset(out, 0, sizeof(*out));
	struct store st;
	int r = store_open(&st, state_dir, false, err);
	if (r > 0) {
		store_close(&st);
		return moat_error_set(err, ENOENT, "no image '%s' (%s/images is empty)", name,
				      state_dir);
	}
	_cleanup_json_ json_t *index = NULL;
	char key[256];
	if (r < 0 || store_lock(&st, LOCK_SH, err) < 0 || index_load(&st, &index, err) < 0 ||
	    lookup(index, name, key, err) < 0) {
		store_close(&st);
		return -1;
	}
	json_t *v = json_object_get(json_object_get(index, "images"), key);
	const char *id = json_string_value(json_object_get(v, "id"));
	r = load_info(&st, key, id ? id : "", entry_time(v), out, err);
	store_close(&st);
	return r;
}

int image_remove(const char *state_dir, const char *name, struct moat_error *err)
{
	struct store st;
	int r = store_open(&st, state_dir, false, err);
	if (r > 0) {
		store_close(&st);
		return moat_error_set(err, ENOENT, "no image '%s' (%s/images is empty)", name,
				      state_dir);
	}
	_cleanup_json_ json_t *index = NULL;
	char key[256];
	if (r < 0 || store_lock(&st, LOCK_EX, err) < 0 || index_load(&st, &index, err) < 0 ||
	    lookup(index, name, key, err) < 0) {
		store_close(&st);
		return -1;
	}
	json_t *images = json_object_get(index, "images");
	_cleanup_free_ char *id =
		xstrdup(json_string_value(json_object_get(json_object_get(images, key), "id")) ?: "");
	/* By name: that tag.  By id: every tag of it. */
	char norm[256];
	struct moat_error ignored;
	bool by_name = name_normalize(name, norm, &ignored) == 0 && strcmp(norm, key) == 0;
	if (by_name) {
		json_object_del(images, key);
	} else {
		const char *k;
		json_t *v;
		void *tmp;
		json_object_foreach_safe(images, tmp, k, v)
			if (strcmp(json_string_value(json_object_get(v, "id")) ?: "", id) == 0)
				json_object_del(images, k);
	}
	r = index_save(&st, index, err);
	if (r == 0)
		store_gc(&st, index, id);
	store_close(&st);
	return r;
}
