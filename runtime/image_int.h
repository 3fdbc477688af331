/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the image store: the byte streams an import reads (blob sections,
 * gzip), the tar reader and the layer applier (tar.c), and the OCI and
 * Docker JSON documents (oci.c).  image.c ties them to sources and the store;
 * the fuzz harnesses drive the parsers through this header.
 */
#ifndef MOAT_RUNTIME_IMAGE_INT_H
#define MOAT_RUNTIME_IMAGE_INT_H

#include "runtime.h"

#include <sys/types.h>

/* ---- bounds ---------------------------------------------------------------- */

/* index.json, manifests, configs: the distribution spec caps manifests at
 * 4 MiB; configs with long histories stay well under that too. */
#define IMAGE_MAX_JSON (4u << 20)
#define IMAGE_MAX_LAYERS 256
/* Uncompressed bytes of all layers together, unless the caller says less. */
#define IMAGE_DEFAULT_MAX_BYTES (8ull << 30)
#define IMAGE_MAX_ENTRIES (1u << 20) /* tar entries over all layers */
#define TAR_MAX_PATH 4095            /* bytes, as PATH_MAX less the NUL */
#define TAR_MAX_DEPTH 256            /* components of one entry's path */
#define TAR_MAX_PAX (1u << 20)       /* one PAX extended header's records */
#define TAR_MAX_LONGNAME 65536       /* a GNU 'L' or 'K' entry's data */

/* ---- byte streams ---------------------------------------------------------- */

/* Reads up to n bytes; 0 at the end, -1 with err set on failure. */
typedef ssize_t (*stream_read_fn)(void *ctx, void *buf, size_t n, struct moat_error *err);

struct stream {
	stream_read_fn read;
	void *ctx;
	/* Skips n bytes without reading them, where the stream can; NULL
	 * when it cannot (the tar reader then reads and drops them). */
	int (*skip)(void *ctx, uint64_t n, struct moat_error *err);
};

ssize_t stream_read(struct stream *s, void *buf, size_t n, struct moat_error *err);
/* Exactly n bytes, or -1 (a short stream is EBADMSG "truncated"). */
int stream_read_full(struct stream *s, void *buf, size_t n, struct moat_error *err);

/* A window of a file read with pread, so many can share one fd. */
struct section {
	int fd;
	uint64_t off, left;
};
ssize_t section_read(void *ctx, void *buf, size_t n, struct moat_error *err);
int section_skip(void *ctx, uint64_t n, struct moat_error *err);

struct membuf {
	const uint8_t *data;
	size_t len, pos;
};
ssize_t membuf_read(void *ctx, void *buf, size_t n, struct moat_error *err);

/*
 * A layer's bytes: gzip is inflated when the stream starts with its magic
 * (several members in a row, as pigz writes them, are one stream); plain tar
 * passes through; zstd is refused.  Counts and hashes (sha256) what comes out,
 * which is the layer's diff_id, and refuses more than max bytes.
 */
struct layer_stream;
int layer_stream_open(struct stream *raw, uint64_t max, struct layer_stream **out,
		      struct moat_error *err);
struct stream layer_stream_as_stream(struct layer_stream *ls);
/* Reads what is left (tar padding after the end blocks) so the hash covers
 * it all, then writes "sha256:<hex>" into diff_id. */
int layer_stream_finish(struct layer_stream *ls, char diff_id[72], struct moat_error *err);
uint64_t layer_stream_bytes(const struct layer_stream *ls);
void layer_stream_free(struct layer_stream *ls);

/* ---- digests --------------------------------------------------------------- */

/* "sha256:<64 lowercase hex>" or "sha512:<128>": the only two the image
 * spec registers.  Returns the algorithm name's length, or -1. */
int digest_check(const char *digest);
/* Hashes the whole stream with the digest's algorithm (sha256 when digest
 * is NULL: then nothing is compared); -1 with EBADMSG naming both digests
 * when they differ, or when the size is not want_size (want_size < 0: not
 * checked).  computed (136 bytes, may be NULL) receives "alg:<hex>" and
 * size (may be NULL) the byte count. */
int digest_verify(struct stream *s, const char *digest, int64_t want_size, char *computed,
		  uint64_t *size, struct moat_error *err);
void sha256_hex(const void *data, size_t len, char out[65]);

/* ---- dm-verity (verity.c) ----------------------------------------------- */

#define VERITY_BLOCK 4096
#define VERITY_MAX_LEVELS 10 /* 7 bits a level: 10 cover 2^64 blocks */

/* Bytes of the hash tree over data_blocks blocks (no superblock). */
uint64_t verity_tree_bytes(uint64_t data_blocks);
/* Builds the tree over fd's whole contents (padded with zeros to a block)
 * with a random salt and appends it after the data.  name is for messages. */
int verity_build(int fd, const char *name, struct image_verity *out, struct moat_error *err);
/* image.json's "verity" object; -1 when absent or inconsistent with a disk
 * of disk_bytes. */
int verity_from_json(struct json_t *j, uint64_t disk_bytes, struct image_verity *out);
/* The object image.json and `image inspect` carry (json null when absent). */
struct json_t *verity_to_json(const struct image_verity *v);
/* A RUN message's entry for an image disk: its serial, mount point, and
 * the verity table's parameters.  "verifyAll" asks the agent to read every
 * block before containers start, for images up to $MOAT_VERITY_READ_ALL_MAX
 * bytes (VERITY_READ_ALL_MAX by default; 0: never). */
/* Reading costs ~50 ms a MiB under TCG: 8 MiB is ~0.4 s of pod start. */
#define VERITY_READ_ALL_MAX (8ull << 20)
struct json_t *verity_disk_json(const struct image_info *img, const char *ref, const char *serial,
				const char *mount);

/* ---- tar ------------------------------------------------------------------- */

enum tar_type {
	TAR_FILE,
	TAR_HARDLINK,
	TAR_SYMLINK,
	TAR_CHAR,
	TAR_BLOCK,
	TAR_DIR,
	TAR_FIFO,
};

struct tar_entry {
	enum tar_type type;
	char *path; /* as the archive has it; tar.c owns it until the next call */
	char *link; /* hard link or symlink target */
	uint64_t size;
	uint32_t mode; /* permission bits only (07777) */
	uint32_t uid, gid;
	int64_t mtime;
	uint32_t mtime_nsec;
	uint32_t devmajor, devminor;
};

struct tar_reader;
struct tar_reader *tar_reader_new(struct stream *in);
void tar_reader_free(struct tar_reader *t);
/* 1 and the next entry, 0 at the archive's end, -1 on a malformed or
 * over-limit header.  Data the caller did not read is skipped. */
int tar_next(struct tar_reader *t, struct tar_entry *e, struct moat_error *err);
/* The current entry's data: up to n bytes, 0 at its end. */
ssize_t tar_read_data(struct tar_reader *t, void *buf, size_t n, struct moat_error *err);

/* Cleans a path as a layer gives it: leading "/" and "./" go, "." and empty
 * components go.  Refuses "..", over-long or over-deep paths.  out holds
 * TAR_MAX_PATH + 1 bytes; "" is the root itself. */
int tar_clean_path(const char *in, char *out, struct moat_error *err);

/* Layers applied, in order, into one directory. */
struct layer_applier;
/* root_fd is borrowed; max_bytes bounds the uncompressed total. */
struct layer_applier *layer_applier_new(int root_fd, uint64_t max_bytes);
void layer_applier_free(struct layer_applier *a);
/*
 * Applies one layer's tar stream: entries are created relative to the root
 * fd, never following a symlink out of it; OCI whiteouts delete what lower
 * layers made.  Unsafe entries (device nodes, paths or hard links leading
 * out of the root) are refused with EINVAL: "entry 'NAME': what".
 */
int layer_apply(struct layer_applier *a, struct stream *tar, struct moat_error *err);
/* Directory mtimes, which every entry inside them changed: set last. */
int layer_applier_finish(struct layer_applier *a, struct moat_error *err);

/* Removes dirfd/name and everything under it, without following symlinks
 * and without holding a descriptor per level.  Missing is fine. */
int remove_tree_at(int dirfd, const char *name, struct moat_error *err);
/* name in /usr/sbin, /usr/bin, /sbin, /bin, then $PATH (absolute entries); caller frees. */
char *find_tool(const char *name);

/* ---- OCI and Docker documents ---------------------------------------------- */

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"

struct oci_descriptor {
	char *media_type; /* NULL when absent */
	char *digest;
	int64_t size;
	char *ref_name;   /* annotations: org.opencontainers.image.ref.name */
	char *image_name; /* io.containerd.image.name (docker save) */
	char *os, *arch, *variant; /* platform, NULL when absent */
};

struct oci_index {
	struct oci_descriptor *manifests;
	size_t n;
};

struct oci_manifest {
	char *media_type;
	struct oci_descriptor config;
	struct oci_descriptor *layers;
	size_t nlayers;
};

struct oci_config {
	struct image_config config;
	char **diff_ids;
	size_t ndiff_ids;
	char *os, *arch;
};

/* Each parser takes the document's name for messages ("index.json",
 * "blobs/sha256/ab12..."), checks types and digests' form, and frees what
 * it made on failure. */
int oci_index_parse(const char *name, const char *buf, size_t len, struct oci_index *out,
		    struct moat_error *err);
void oci_index_release(struct oci_index *x);
/* Returns 1 when the document is an index rather than a manifest (a
 * manifest list nested in index.json): the caller parses it as one. */
int oci_manifest_parse(const char *name, const char *buf, size_t len, struct oci_manifest *out,
		       struct moat_error *err);
void oci_manifest_release(struct oci_manifest *m);
int oci_config_parse(const char *name, const char *buf, size_t len, struct oci_config *out,
		     struct moat_error *err);
void oci_config_release(struct oci_config *c);
void image_config_release(struct image_config *c);

/* docker save's manifest.json: one item per image in the archive. */
struct docker_item {
	char *config;
	char **repo_tags;
	size_t ntags;
	char **layers;
	size_t nlayers;
};
int docker_manifest_parse(const char *name, const char *buf, size_t len,
			  struct docker_item **items, size_t *n, struct moat_error *err);
void docker_items_free(struct docker_item *items, size_t n);

/* The Go architecture name of this machine, as image platforms spell it. */
const char *oci_this_arch(void);

#endif
