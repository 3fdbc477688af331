/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dm-verity hash trees for image disks, built at import.
 *
 * The layout is the kernel's (Documentation/admin-guide/device-mapper/
 * verity.rst), format version 1 with sha256, 4096-byte data and hash blocks
 * and no superblock:
 *   - each data block's hash is sha256(salt || block); 128 hashes fill a
 *     hash block, the rest of it zero;
 *   - level i+1 hashes the blocks of level i the same way, until a level is
 *     one block; the root hash is the hash of that block;
 *   - on disk the levels are stored top first, starting at the hash offset,
 *     which here is the data's size rounded up to 4096 in the same file.
 * The guest's table names the one disk as both data and hash device.
 */
#include "runtime/image_int.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define VB VERITY_BLOCK
#define HASHES_PER_BLOCK (VB / 32)

static void hex(const unsigned char *b, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Levels and their sizes as the kernel computes them (dm-verity-target.c):
 * enough levels that the top one is a single block. */
static unsigned verity_levels(uint64_t data_blocks, uint64_t size[VERITY_MAX_LEVELS])
{
	unsigned levels = 0;
	while (levels < VERITY_MAX_LEVELS && 7 * levels < 64 && ((data_blocks - 1) >> (7 * levels)))
		levels++;
	uint64_t n = data_blocks;
	for (unsigned i = 0; i < levels; i++) {
		n = (n + HASHES_PER_BLOCK - 1) / HASHES_PER_BLOCK;
		size[i] = n;
	}
	return levels;
}

uint64_t verity_tree_bytes(uint64_t data_blocks)
{
	uint64_t size[VERITY_MAX_LEVELS], total = 0;
	unsigned levels = data_blocks ? verity_levels(data_blocks, size) : 0;
	for (unsigned i = 0; i < levels; i++)
		total += size[i];
	return total * VB;
}

/* sha256(salt || block): salt is already in buf's first 32 bytes. */
static int hash_block(unsigned char *buf, const EVP_MD *md, unsigned char out[32])
{
	unsigned int len = 32;
	return EVP_Digest(buf, 32 + VB, out, &len, md, NULL) == 1 ? 0 : -1;
}

int verity_build(int fd, const char *name, struct image_verity *out, struct moat_error *err)
{
	memset(out, 0, sizeof(*out));
	struct stat st;
	if (fstat(fd, &st) < 0)
		return moat_error_sys(err, errno, "%s", name);
	if (st.st_size <= 0)
		return moat_error_set(err, EINVAL, "%s: an empty disk has nothing to verify", name);
	uint64_t data_bytes = ((uint64_t)st.st_size + VB - 1) & ~(uint64_t)(VB - 1);
	/* A disk whose size is not a block multiple gets zeros up to one:
	 * the kernel reads whole blocks. */
	if (data_bytes != (uint64_t)st.st_size && ftruncate(fd, (off_t)data_bytes) < 0)
		return moat_error_sys(err, errno, "%s", name);
	uint64_t data_blocks = data_bytes / VB;
	uint64_t size[VERITY_MAX_LEVELS] = { 0 };
	unsigned levels = verity_levels(data_blocks, size);
	uint64_t tree_blocks = verity_tree_bytes(data_blocks) / VB;
	unsigned char salt[32];
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return moat_error_set(err, EIO, "%s: no random salt from libcrypto", name);
	const EVP_MD *md = EVP_sha256();
	/* The whole tree in memory: 1/128 of the data (64 MiB for 8 GiB). */
	_cleanup_free_ unsigned char *tree = tree_blocks ? xcalloc(tree_blocks, VB) : NULL;
	/* Where each level starts in the tree buffer: top level first. */
	uint64_t at[VERITY_MAX_LEVELS] = { 0 }, pos = 0;
	for (unsigned i = levels; i-- > 0;) {
		at[i] = pos;
		pos += size[i];
	}
	_cleanup_free_ unsigned char *buf = xmalloc(32 + VB);
	memcpy(buf, salt, 32);
	enum { CHUNK = 256 };
	_cleanup_free_ unsigned char *chunk = xmalloc((size_t)CHUNK * VB);
	unsigned char digest[32];
	for (uint64_t b = 0; b < data_blocks; b += CHUNK) {
		size_t want = (size_t)(data_blocks - b < CHUNK ? data_blocks - b : CHUNK) * VB;
		size_t got = 0;
		while (got < want) {
			ssize_t n = pread(fd, chunk + got, want - got, (off_t)(b * VB + got));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return moat_error_sys(err, errno, "%s: reading block %llu", name,
						      (unsigned long long)(b + got / VB));
			if (n == 0)
				break;
			got += (size_t)n;
		}
		memset(chunk + got, 0, want - got); /* the padding ftruncate added */
		for (size_t k = 0; k < want / VB; k++) {
			memcpy(buf + 32, chunk + k * VB, VB);
			if (hash_block(buf, md, digest) < 0)
				return moat_error_set(err, EIO, "%s: sha256 failed", name);
			if (levels)
				memcpy(tree + at[0] * VB + (b + k) * 32, digest, 32);
		}
	}
	/* Each level above from the one below; the top block gives the root.
	 * With one data block there are no levels: its hash is the root. */
	for (unsigned i = 1; i < levels; i++)
		for (uint64_t k = 0; k < size[i - 1]; k++) {
			memcpy(buf + 32, tree + (at[i - 1] + k) * VB, VB);
			if (hash_block(buf, md, digest) < 0)
				return moat_error_set(err, EIO, "%s: sha256 failed", name);
			memcpy(tree + at[i] * VB + k * 32, digest, 32);
		}
	if (levels) {
		memcpy(buf + 32, tree + at[levels - 1] * VB, VB);
		if (hash_block(buf, md, digest) < 0)
			return moat_error_set(err, EIO, "%s: sha256 failed", name);
	}
	size_t len = (size_t)tree_blocks * VB, done = 0;
	while (done < len) {
		ssize_t n = pwrite(fd, tree + done, len - done, (off_t)(data_bytes + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return moat_error_sys(err, n < 0 ? errno : EIO, "%s: writing the hash tree",
					      name);
		done += (size_t)n;
	}
	out->present = true;
	out->data_blocks = data_blocks;
	out->hash_offset = data_bytes;
	hex(digest, 32, out->root_hash);
	hex(salt, 32, out->salt);
	return 0;
}

static bool is_hex(const char *s, size_t n)
{
	if (!s || strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int verity_from_json(json_t *j, uint64_t disk_bytes, struct image_verity *out)
{
	memset(out, 0, sizeof(*out));
	if (!json_is_object(j))
		return -1;
	const char *root = json_string_value(json_object_get(j, "rootHash"));
	const char *salt = json_string_value(json_object_get(j, "salt"));
	const char *alg = json_string_value(json_object_get(j, "hash"));
	json_t *db = json_object_get(j, "dataBlocks"), *ho = json_object_get(j, "hashOffset");
	if (!is_hex(root, 64) || !is_hex(salt, 64) || !alg || strcmp(alg, "sha256") ||
	    !json_is_integer(db) || !json_is_integer(ho) || json_integer_value(db) <= 0)
		return -1;
	uint64_t blocks = (uint64_t)json_integer_value(db);
	uint64_t off = (uint64_t)json_integer_value(ho);
	/* The tree must lie after the data and inside the file. */
	if (blocks > UINT64_MAX / VB || off != blocks * VB ||
	    disk_bytes < off + verity_tree_bytes(blocks))
		return -1;
	out->present = true;
	out->data_blocks = blocks;
	out->hash_offset = off;
	memcpy(out->root_hash, root, 65);
	memcpy(out->salt, salt, 65);
	return 0;
}

json_t *verity_to_json(const struct image_verity *v)
{
	if (!v->present)
		return json_null();
	return json_pack("{s:i, s:s, s:i, s:I, s:I, s:s, s:s}", "version", 1, "hash", "sha256",
			 "blockSize", VB, "dataBlocks", (json_int_t)v->data_blocks, "hashOffset",
			 (json_int_t)v->hash_offset, "rootHash", v->root_hash, "salt", v->salt);
}

json_t *verity_disk_json(const struct image_info *img, const char *ref, const char *serial,
			 const char *mount)
{
	const struct image_verity *v = &img->verity;
	uint64_t limit = VERITY_READ_ALL_MAX;
	const char *env = getenv("MOAT_VERITY_READ_ALL_MAX");
	char *end;
	if (env && *env) {
		unsigned long long n = strtoull(env, &end, 10);
		if (!*end)
			limit = n;
	}
	json_t *d = json_pack("{s:s, s:s, s:s, s:s}", "serial", serial, "fs", img->fstype, "mount",
			      mount, "image", ref);
	if (v->present)
		json_object_set_new(d, "verity",
				    json_pack("{s:I, s:I, s:s, s:s}", "dataBlocks",
					      (json_int_t)v->data_blocks, "hashStart",
					      (json_int_t)(v->hash_offset / VB), "rootHash",
					      v->root_hash, "salt", v->salt));
	json_object_set_new(d, "verifyAll", json_boolean(v->present && v->data_blocks * VB <= limit));
	return d;
}
