/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The byte streams an import reads: windows of a file (a blob inside an
 * archive), memory, and a layer's gzip inflated on the way; and the digests
 * every blob is checked against before anything else reads it.
 */
#include "image_int.h"

#include <errno.h>
#include <openssl/evp.h>
#include <zlib.h>

ssize_t stream_read(struct stream *s, void *buf, size_t n, struct moat_error *err)
{
	return s->read(s->ctx, buf, n, err);
}

int stream_read_full(struct stream *s, void *buf, size_t n, struct moat_error *err)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = s->read(s->ctx, (char *)buf + got, n - got, err);
		if (r < 0)
			return -1;
		if (r == 0)
			return moat_error_set(err, EBADMSG, "truncated: ends %zu bytes short",
					      n - got);
		got += (size_t)r;
	}
	return 0;
}

ssize_t section_read(void *ctx, void *buf, size_t n, struct moat_error *err)
{
	struct section *s = ctx;
	if (n > s->left)
		n = (size_t)s->left;
	if (!n)
		return 0;
	for (;;) {
		ssize_t r = pread(s->fd, buf, n, (off_t)s->off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return moat_error_sys(err, errno, "read");
		if (r == 0)
			return moat_error_set(err, EBADMSG, "truncated: the file ends early");
		s->off += (uint64_t)r;
		s->left -= (uint64_t)r;
		return r;
	}
}

int section_skip(void *ctx, uint64_t n, struct moat_error *err)
{
	struct section *s = ctx;
	if (n > s->left)
		return moat_error_set(err, EBADMSG, "truncated: the file ends early");
	s->off += n;
	s->left -= n;
	return 0;
}

ssize_t membuf_read(void *ctx, void *buf, size_t n, struct moat_error *err)
{
	(void)err;
	struct membuf *m = ctx;
	if (n > m->len - m->pos)
		n = m->len - m->pos;
	memcpy(buf, m->data + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

/* ---- digests ---- */

static void md_ctx_freep(EVP_MD_CTX **c)
{
	EVP_MD_CTX_free(*c);
}
#define _cleanup_md_ctx_ _cleanup_(md_ctx_freep)

static bool is_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[n] == '\0';
}

int digest_check(const char *digest)
{
	if (!digest)
		return -1;
	if (strncmp(digest, "sha256:", 7) == 0 && is_lower_hex(digest + 7, 64))
		return 6;
	if (strncmp(digest, "sha512:", 7) == 0 && is_lower_hex(digest + 7, 128))
		return 6;
	return -1;
}

void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	if (!EVP_Digest(data, len, md, &n, EVP_sha256(), NULL)) {
		memset(out, '0', 64);
		out[64] = '\0';
		return;
	}
	hex_encode(md, n, out);
}

int digest_verify(struct stream *s, const char *digest, int64_t want_size, char *computed,
		  uint64_t *size, struct moat_error *err)
{
	if (digest && digest_check(digest) < 0)
		return moat_error_set(err, EINVAL, "unsupported digest '%.80s'", digest);
	bool sha512 = digest && strncmp(digest, "sha512:", 7) == 0;
	_cleanup_md_ctx_ EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, sha512 ? EVP_sha512() : EVP_sha256(), NULL))
		return moat_error_set(err, ENOMEM, "cannot start %s", sha512 ? "sha512" : "sha256");
	_cleanup_free_ char *buf = xmalloc(1u << 16);
	uint64_t total = 0;
	for (;;) {
		ssize_t r = stream_read(s, buf, 1u << 16, err);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)r);
		total += (uint64_t)r;
	}
	unsigned char out[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	EVP_DigestFinal_ex(ctx, out, &n);
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	hex_encode(out, n, hex);
	if (computed)
		snprintf(computed, 136, "%s:%s", sha512 ? "sha512" : "sha256", hex);
	if (size)
		*size = total;
	if (digest && strcmp(hex, digest + 7) != 0)
		return moat_error_set(err, EBADMSG, "digest mismatch: expected %s, content is %.7s%s",
				      digest, digest, hex);
	if (want_size >= 0 && total != (uint64_t)want_size)
		return moat_error_set(err, EBADMSG, "size mismatch: the descriptor says %lld bytes, "
						    "the blob has %llu", (long long)want_size,
				      (unsigned long long)total);
	return 0;
}

/* ---- layer streams ---- */

struct layer_stream {
	struct stream *raw;
	z_stream z;
	bool gzip, z_init, z_end, eof;
	unsigned char *in;
	size_t in_len;
	EVP_MD_CTX *md;
	uint64_t out_bytes, max;
};

#define LAYER_IN_BUF (1u << 16)

static ssize_t layer_fill(struct layer_stream *ls, struct moat_error *err)
{
	ssize_t r = stream_read(ls->raw, ls->in, LAYER_IN_BUF, err);
	if (r < 0)
		return -1;
	if (r == 0)
		ls->eof = true;
	ls->z.next_in = ls->in;
	ls->z.avail_in = (uInt)r;
	return r;
}

static ssize_t layer_read(void *ctx, void *buf, size_t n, struct moat_error *err)
{
	struct layer_stream *ls = ctx;
	ssize_t got;
	if (!ls->gzip) {
		if (ls->in_len) {
			/* The bytes sniffed for the magic come first. */
			got = (ssize_t)(n < ls->in_len ? n : ls->in_len);
			memcpy(buf, ls->in, (size_t)got);
			memmove(ls->in, ls->in + got, ls->in_len - (size_t)got);
			ls->in_len -= (size_t)got;
		} else {
			got = stream_read(ls->raw, buf, n, err);
			if (got < 0)
				return -1;
		}
	} else {
		if (n > UINT32_MAX)
			n = UINT32_MAX;
		ls->z.next_out = buf;
		ls->z.avail_out = (uInt)n;
		while (ls->z.avail_out == n) {
			if (ls->z_end) {
				/* A member ended: another may follow, or the end. */
				if (!ls->z.avail_in && !ls->eof && layer_fill(ls, err) < 0)
					return -1;
				if (!ls->z.avail_in)
					break;
				if (ls->z.next_in[0] != 0x1f) {
					/* Zero padding after the last member is what
					 * some writers leave; anything else is junk. */
					for (uInt i = 0; i < ls->z.avail_in; i++)
						if (ls->z.next_in[i])
							return moat_error_set(err, EBADMSG,
									      "gzip: data after the end of the stream");
					ls->z.avail_in = 0;
					continue;
				}
				if (inflateReset(&ls->z) != Z_OK)
					return moat_error_set(err, EBADMSG, "gzip: cannot restart");
				ls->z_end = false;
			}
			if (!ls->z.avail_in && !ls->eof && layer_fill(ls, err) < 0)
				return -1;
			if (!ls->z.avail_in && ls->eof)
				return moat_error_set(err, EBADMSG, "gzip: truncated stream");
			int zr = inflate(&ls->z, Z_NO_FLUSH);
			if (zr == Z_STREAM_END) {
				ls->z_end = true;
			} else if (zr == Z_BUF_ERROR) {
				if (ls->eof)
					return moat_error_set(err, EBADMSG, "gzip: truncated stream");
			} else if (zr != Z_OK) {
				return moat_error_set(err, EBADMSG, "gzip: %s",
						      ls->z.msg ? ls->z.msg : "corrupt data");
			}
		}
		got = (ssize_t)(n - ls->z.avail_out);
	}
	if (got > 0) {
		if ((uint64_t)got > ls->max - ls->out_bytes)
			return moat_error_set(err, EFBIG,
					      "layers unpack to more than %llu MiB, the limit",
					      (unsigned long long)(ls->max >> 20));
		ls->out_bytes += (uint64_t)got;
		EVP_DigestUpdate(ls->md, buf, (size_t)got);
	}
	return got;
}

int layer_stream_open(struct stream *raw, uint64_t max, struct layer_stream **out,
		      struct moat_error *err)
{
	struct layer_stream *ls = xcalloc(1, sizeof(*ls));
	ls->raw = raw;
	ls->max = max;
	ls->in = xmalloc(LAYER_IN_BUF);
	ls->md = EVP_MD_CTX_new();
	if (!ls->md || !EVP_DigestInit_ex(ls->md, EVP_sha256(), NULL)) {
		layer_stream_free(ls);
		return moat_error_set(err, ENOMEM, "cannot start sha256");
	}
	/* Sniff the magic: four bytes, or fewer when the stream is that short. */
	while (ls->in_len < 4) {
		ssize_t r = stream_read(raw, ls->in + ls->in_len, 4 - ls->in_len, err);
		if (r < 0) {
			layer_stream_free(ls);
			return -1;
		}
		if (r == 0)
			break;
		ls->in_len += (size_t)r;
	}
	const unsigned char *m = ls->in;
	if (ls->in_len >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) {
		layer_stream_free(ls);
		return moat_error_set(err, EINVAL, "zstd-compressed layers are not supported "
						   "(recompress with gzip, e.g. skopeo copy "
						   "--dest-compress-format gzip)");
	}
	if (ls->in_len >= 2 && m[0] == 0x1f && m[1] == 0x8b) {
		ls->gzip = true;
		/* 16 + MAX_WBITS: gzip framing only, header CRC and all. */
		if (inflateInit2(&ls->z, 16 + MAX_WBITS) != Z_OK) {
			layer_stream_free(ls);
			return moat_error_set(err, ENOMEM, "cannot start zlib");
		}
		ls->z_init = true;
		ls->z.next_in = ls->in;
		ls->z.avail_in = (uInt)ls->in_len;
		ls->in_len = 0;
	}
	*out = ls;
	return 0;
}

struct stream layer_stream_as_stream(struct layer_stream *ls)
{
	return (struct stream){ layer_read, ls };
}

int layer_stream_finish(struct layer_stream *ls, char diff_id[72], struct moat_error *err)
{
	_cleanup_free_ char *buf = xmalloc(1u << 16);
	for (;;) {
		ssize_t r = layer_read(ls, buf, 1u << 16, err);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
	}
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	EVP_DigestFinal_ex(ls->md, md, &n);
	memcpy(diff_id, "sha256:", 7);
	hex_encode(md, n, diff_id + 7);
	return 0;
}

uint64_t layer_stream_bytes(const struct layer_stream *ls)
{
	return ls->out_bytes;
}

void layer_stream_free(struct layer_stream *ls)
{
	if (!ls)
		return;
	if (ls->z_init)
		inflateEnd(&ls->z);
	EVP_MD_CTX_free(ls->md);
	free(ls->in);
	free(ls);
}
