/* SPDX-License-Identifier: Apache-2.0 */
/* The image store's parsers: tar headers built by hand, layer paths, gzip
 * members, digests and image configs. */
#include "runtime/image_int.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* One ustar header block with its checksum. */
static void header(unsigned char *b, const char *name, char type, uint64_t size)
{
	memset(b, 0, 512);
	snprintf((char *)b, 100, "%s", name);
	memcpy(b + 100, "0000644", 8);
	memcpy(b + 108, "0000000", 8);
	memcpy(b + 116, "0000000", 8);
	if (size >> 33) {
		/* GNU base-256: top bit set, big-endian value. */
		b[124] = 0x80;
		for (int i = 0; i < 8; i++)
			b[135 - i] = (unsigned char)(size >> (8 * i));
	} else {
		snprintf((char *)b + 124, 12, "%011llo", (unsigned long long)size);
	}
	memcpy(b + 136, "14000000000", 12);
	b[156] = (unsigned char)type;
	memcpy(b + 257, "ustar", 6);
	memcpy(b + 263, "00", 2);
	memset(b + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += b[i];
	snprintf((char *)b + 148, 8, "%06o", sum);
}

static void test_clean_path(void)
{
	struct moat_error err;
	char out[TAR_MAX_PATH + 1];
	CHECK_INT(tar_clean_path("./usr//bin/./sh", out, &err), 0);
	CHECK_STR(out, "usr/bin/sh");
	CHECK_INT(tar_clean_path("/etc/passwd", out, &err), 0);
	CHECK_STR(out, "etc/passwd");
	CHECK_INT(tar_clean_path("./", out, &err), 0);
	CHECK_STR(out, "");
	CHECK_INT(tar_clean_path("../../etc/passwd", out, &err), -1);
	CHECK_STR(err.msg, "path escapes the image root");
	CHECK_INT(tar_clean_path("a/../../b", out, &err), -1);
	CHECK_STR(err.msg, "path escapes the image root");
	CHECK_INT(tar_clean_path("a/../b", out, &err), -1);
	CHECK_STR(err.msg, "path has a '..' component");
	CHECK_INT(tar_clean_path("a/..b/c..", out, &err), 0);
	CHECK_STR(out, "a/..b/c..");
	struct sbuf deep = { 0 };
	for (int i = 0; i <= TAR_MAX_DEPTH; i++)
		sbuf_puts(&deep, "d/");
	CHECK_INT(tar_clean_path(deep.s, out, &err), -1);
	sbuf_release(&deep);
}

static void test_reader(void)
{
	/* A pax header renaming the next entry, a GNU long link, a file. */
	unsigned char buf[512 * 12] = { 0 };
	const char pax[] = "29 path=a/long/pax/name/here\n";
	header(buf, "PaxHeaders/x", 'x', sizeof(pax) - 1);
	memcpy(buf + 512, pax, sizeof(pax) - 1);
	header(buf + 1024, "ignored", '0', 5);
	memcpy(buf + 1536, "hello", 5);
	header(buf + 2048, "././@LongLink", 'K', 8);
	memcpy(buf + 2560, "target!", 8);
	header(buf + 3072, "lnk", '2', 0);
	struct membuf mb = { buf, sizeof(buf), 0 };
	struct stream in = { membuf_read, &mb };
	struct tar_reader *t = tar_reader_new(&in);
	struct tar_entry e;
	struct moat_error err;
	CHECK_INT(tar_next(t, &e, &err), 1);
	CHECK_STR(e.path, "a/long/pax/name/here");
	CHECK_INT(e.type, TAR_FILE);
	CHECK_INT(e.size, 5);
	CHECK_INT(e.mode, 0644);
	CHECK_INT(e.mtime, 014000000000);
	char data[8] = { 0 };
	CHECK_INT(tar_read_data(t, data, sizeof(data), &err), 5);
	CHECK_STR(data, "hello");
	CHECK_INT(tar_next(t, &e, &err), 1);
	CHECK_STR(e.path, "lnk");
	CHECK_STR(e.link, "target!");
	CHECK_INT(e.type, TAR_SYMLINK);
	CHECK_INT(tar_next(t, &e, &err), 0);
	tar_reader_free(t);

	/* A corrupt checksum, and a base-256 size bigger than the stream. */
	header(buf, "f", '0', 1);
	buf[0] = 'g';
	mb = (struct membuf){ buf, 1024, 0 };
	t = tar_reader_new(&in);
	CHECK_INT(tar_next(t, &e, &err), -1);
	CHECK(strstr(err.msg, "checksum") != NULL);
	tar_reader_free(t);
	header(buf, "huge", '0', 1ull << 40);
	mb = (struct membuf){ buf, 1024, 0 };
	t = tar_reader_new(&in);
	CHECK_INT(tar_next(t, &e, &err), 1);
	CHECK_INT(e.size, 1ull << 40);
	ssize_t r;
	while ((r = tar_read_data(t, data, sizeof(data), &err)) > 0) {
	}
	CHECK_INT(r, -1);
	CHECK(strstr(err.msg, "truncated") != NULL);
	tar_reader_free(t);
}

static size_t gz(const char *s, unsigned char *out, size_t cap)
{
	z_stream z = { 0 };
	deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
	z.next_in = (unsigned char *)s;
	z.avail_in = (uInt)strlen(s);
	z.next_out = out;
	z.avail_out = (uInt)cap;
	deflate(&z, Z_FINISH);
	size_t n = cap - z.avail_out;
	deflateEnd(&z);
	return n;
}

static void test_gzip_members(void)
{
	/* Two gzip members in a row are one stream, as pigz writes them. */
	unsigned char buf[512];
	size_t n = gz("hello ", buf, sizeof(buf));
	n += gz("world", buf + n, sizeof(buf) - n);
	struct membuf mb = { buf, n, 0 };
	struct stream raw = { membuf_read, &mb };
	struct layer_stream *ls;
	struct moat_error err;
	CHECK_INT(layer_stream_open(&raw, 1 << 20, &ls, &err), 0);
	struct stream s = layer_stream_as_stream(ls);
	char out[32] = { 0 };
	CHECK_INT(stream_read_full(&s, out, 11, &err), 0);
	CHECK_STR(out, "hello world");
	char diff[72], hex[65];
	CHECK_INT(layer_stream_finish(ls, diff, &err), 0);
	sha256_hex("hello world", 11, hex);
	CHECK_STR(diff + 7, hex);
	layer_stream_free(ls);

	/* Over the limit. */
	mb = (struct membuf){ buf, n, 0 };
	CHECK_INT(layer_stream_open(&raw, 4, &ls, &err), 0);
	s = layer_stream_as_stream(ls);
	CHECK_INT(stream_read_full(&s, out, 11, &err), -1);
	CHECK_INT(err.errnum, EFBIG);
	layer_stream_free(ls);
}

static void test_digest(void)
{
	struct membuf mb = { (const uint8_t *)"abc", 3, 0 };
	struct stream in = { membuf_read, &mb };
	struct moat_error err;
	const char *abc = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	CHECK_INT(digest_verify(&in, abc, 3, NULL, NULL, &err), 0);
	mb.pos = 0;
	CHECK_INT(digest_verify(&in, abc, 4, NULL, NULL, &err), -1);
	CHECK(strstr(err.msg, "size mismatch") != NULL);
	mb = (struct membuf){ (const uint8_t *)"abd", 3, 0 };
	CHECK_INT(digest_verify(&in, abc, -1, NULL, NULL, &err), -1);
	CHECK_INT(err.errnum, EBADMSG);
	CHECK(strncmp(err.msg, "digest mismatch: expected sha256:ba78", 37) == 0);
	CHECK_INT(digest_check("sha256:ABC"), -1);
	CHECK_INT(digest_check("md5:00"), -1);
}

static void test_config(void)
{
	const char *doc = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Entrypoint\":"
			  "[\"/bin/sh\"],\"Cmd\":null,\"Env\":[\"A=1\"],\"WorkingDir\":\"\"},"
			  "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:"
			  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"]}}";
	struct oci_config c;
	struct moat_error err;
	CHECK_INT(oci_config_parse("config", doc, strlen(doc), &c, &err), 0);
	CHECK_STR(c.config.entrypoint[0], "/bin/sh");
	CHECK(c.config.entrypoint[1] == NULL);
	CHECK(c.config.cmd == NULL);
	CHECK_STR(c.config.env[0], "A=1");
	CHECK(c.config.workdir == NULL);
	CHECK_INT(c.ndiff_ids, 1);
	oci_config_release(&c);
	const char *dup = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"os\":\"a\",\"os\":\"b\"}";
	CHECK_INT(oci_config_parse("config", dup, strlen(dup), &c, &err), -1);
	CHECK(strstr(err.msg, "duplicate") != NULL);
}

static void test_remove_tree(void)
{
	char dir[] = "/tmp/moat-unit-image.XXXXXX";
	if (!mkdtemp(dir)) {
		unit_skip("mkdtemp: %s", strerror(errno));
		return;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	/* Deeper than any one descriptor-per-level walk could afford. */
	int cur = dup(fd);
	for (int i = 0; i < 2000 && cur >= 0; i++) {
		mkdirat(cur, "d", 0755);
		close(openat(cur, "f", O_CREAT | O_WRONLY, 0644));
		CHECK(symlinkat("/", cur, "s") == 0);
		int next = openat(cur, "d", O_RDONLY | O_DIRECTORY);
		close(cur);
		cur = next;
	}
	if (cur >= 0)
		close(cur);
	struct moat_error err;
	CHECK_INT(remove_tree_at(fd, "d", &err), 0);
	struct stat st;
	CHECK(fstatat(fd, "d", &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
	CHECK_INT(remove_tree_at(fd, "d", &err), 0); /* missing is fine */
	close(fd);
	rmdir(dir);
}

static void unhex(const char *h, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sscanf(h + 2 * i, "%2hhx", &out[i]);
}

/* sha256(salt || block), independently of verity.c. */
static void salted(const char *salt_hex, const unsigned char *block, unsigned char out[32])
{
	unsigned char salt[32];
	unhex(salt_hex, salt, 32);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	EVP_DigestUpdate(c, salt, 32);
	EVP_DigestUpdate(c, block, 4096);
	EVP_DigestFinal_ex(c, out, NULL);
	EVP_MD_CTX_free(c);
}

static void test_verity(void)
{
	CHECK_INT(verity_tree_bytes(1), 0);
	CHECK_INT(verity_tree_bytes(128), 4096);
	CHECK_INT(verity_tree_bytes(129), 3 * 4096);
	CHECK_INT(verity_tree_bytes(128 * 128), 129 * 4096);
	CHECK_INT(verity_tree_bytes(128 * 128 + 1), 132 * 4096);
	char path[] = "/tmp/moat-verity-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	/* 129 blocks and a bit: padded to 130, two levels (2 blocks, then 1). */
	unsigned char *data = malloc(130 * 4096);
	for (size_t i = 0; i < 130 * 4096; i++)
		data[i] = (unsigned char)(i * 7 + i / 4096);
	memset(data + 129 * 4096 + 100, 0, 4096 - 100);
	CHECK(write(fd, data, 129 * 4096 + 100) == 129 * 4096 + 100);
	struct image_verity v;
	struct moat_error err = { 0 };
	CHECK_INT(verity_build(fd, path, &v, &err), 0);
	CHECK(v.present);
	CHECK_INT(v.data_blocks, 130);
	CHECK_INT(v.hash_offset, 130 * 4096);
	struct stat st;
	fstat(fd, &st);
	CHECK_INT(st.st_size, 130 * 4096 + verity_tree_bytes(130));
	unsigned char tree[3 * 4096], want[32], root[32];
	CHECK(pread(fd, tree, sizeof(tree), 130 * 4096) == sizeof(tree));
	/* Top level first: block 0 is the top, blocks 1-2 hash the data. */
	salted(v.salt, data + 5 * 4096, want);
	CHECK(memcmp(tree + 4096 + 5 * 32, want, 32) == 0);
	salted(v.salt, data + 129 * 4096, want);
	CHECK(memcmp(tree + 2 * 4096 + 1 * 32, want, 32) == 0);
	salted(v.salt, tree + 2 * 4096, want);
	CHECK(memcmp(tree + 32, want, 32) == 0);
	salted(v.salt, tree, want);
	unhex(v.root_hash, root, 32);
	CHECK(memcmp(root, want, 32) == 0);
	/* Two builds of the same data differ by their salt. */
	struct image_verity v2;
	CHECK_INT(ftruncate(fd, 130 * 4096), 0);
	CHECK_INT(verity_build(fd, path, &v2, &err), 0);
	CHECK(strcmp(v.salt, v2.salt) != 0 && strcmp(v.root_hash, v2.root_hash) != 0);
	/* image.json's object, read back and checked against the disk. */
	json_t *j = verity_to_json(&v2);
	struct image_verity back;
	CHECK_INT(verity_from_json(j, (uint64_t)st.st_size, &back), 0);
	CHECK_STR(back.root_hash, v2.root_hash);
	CHECK_INT(back.data_blocks, 130);
	CHECK_INT(verity_from_json(j, (uint64_t)st.st_size - 1, &back), -1); /* tree cut */
	json_object_set_new(j, "hashOffset", json_integer(129 * 4096));
	CHECK_INT(verity_from_json(j, (uint64_t)st.st_size, &back), -1);
	json_object_set_new(j, "hashOffset", json_integer(130 * 4096));
	json_object_set_new(j, "rootHash", json_string("ABCD"));
	CHECK_INT(verity_from_json(j, (uint64_t)st.st_size, &back), -1);
	CHECK(!back.present);
	CHECK_INT(verity_from_json(NULL, 1 << 30, &back), -1);
	json_decref(j);
	/* One block: no levels, its own hash is the root. */
	CHECK_INT(ftruncate(fd, 0), 0);
	CHECK(pwrite(fd, data, 4096, 0) == 4096);
	CHECK_INT(verity_build(fd, path, &v, &err), 0);
	fstat(fd, &st);
	CHECK_INT(st.st_size, 4096);
	salted(v.salt, data, want);
	unhex(v.root_hash, root, 32);
	CHECK(memcmp(root, want, 32) == 0);
	/* Nothing to verify in an empty file. */
	CHECK_INT(ftruncate(fd, 0), 0);
	CHECK_INT(verity_build(fd, path, &v, &err), -1);
	CHECK_INT(err.errnum, EINVAL);
	free(data);
	close(fd);
	unlink(path);
}

int main(void)
{
	TEST(test_clean_path);
	TEST(test_reader);
	TEST(test_gzip_members);
	TEST(test_digest);
	TEST(test_config);
	TEST(test_remove_tree);
	TEST(test_verity);
	return unit_done();
}
