/* SPDX-License-Identifier: Apache-2.0 */
/* Frames of the host <-> guest protocol (proto.h). */
#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

int proto_header_parse(const unsigned char hdr[PROTO_HEADER], struct proto_frame *f,
		       const char **why)
{
	if (get32(hdr) != PROTO_MAGIC) {
		*why = "bad magic";
		return -1;
	}
	if ((hdr[4] | hdr[5] << 8) != PROTO_VERSION) {
		*why = "unsupported protocol version";
		return -1;
	}
	f->type = (uint16_t)(hdr[6] | hdr[7] << 8);
	f->stream = get32(hdr + 8);
	f->len = get32(hdr + 12);
	if (f->type < PROTO_JSON || f->type > PROTO_EOF) {
		*why = "unknown frame type";
		return -1;
	}
	if (f->len > PROTO_MAX_PAYLOAD) {
		*why = "frame larger than the protocol allows";
		return -1;
	}
	if (f->type == PROTO_EOF && f->len) {
		*why = "an EOF frame with a payload";
		return -1;
	}
	return 0;
}

void proto_header_build(unsigned char hdr[PROTO_HEADER], uint16_t type, uint32_t stream,
			uint32_t len)
{
	put32(hdr, PROTO_MAGIC);
	hdr[4] = PROTO_VERSION;
	hdr[5] = 0;
	hdr[6] = (unsigned char)type;
	hdr[7] = (unsigned char)(type >> 8);
	put32(hdr + 8, stream);
	put32(hdr + 12, len);
}

static int read_full(int fd, void *buf, size_t n, size_t *got)
{
	*got = 0;
	while (*got < n) {
		ssize_t r = read(fd, (char *)buf + *got, n - *got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
		*got += (size_t)r;
	}
	return 0;
}

int proto_read(int fd, struct proto_frame *f, const char **why)
{
	unsigned char hdr[PROTO_HEADER];
	size_t got;
	memset(f, 0, sizeof(*f));
	*why = NULL;
	if (read_full(fd, hdr, sizeof(hdr), &got) < 0)
		return -1;
	if (got == 0) {
		errno = ENODATA;
		return -1;
	}
	if (got < sizeof(hdr) || proto_header_parse(hdr, f, why) < 0) {
		if (!*why)
			*why = "truncated header";
		errno = EBADMSG;
		return -1;
	}
	f->data = malloc((size_t)f->len + 1);
	if (!f->data) {
		errno = ENOMEM;
		return -1;
	}
	if (read_full(fd, f->data, f->len, &got) < 0 || got < f->len) {
		int e = got < f->len ? EBADMSG : errno;
		*why = "truncated payload";
		proto_frame_release(f);
		errno = e;
		return -1;
	}
	f->data[f->len] = '\0';
	return 0;
}

int proto_write(int fd, uint16_t type, uint32_t stream, const void *data, size_t len)
{
	if (len > PROTO_MAX_PAYLOAD) {
		errno = E2BIG;
		return -1;
	}
	unsigned char hdr[PROTO_HEADER];
	proto_header_build(hdr, type, stream, (uint32_t)len);
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)data, len } };
	size_t total = sizeof(hdr) + len, done = 0;
	while (done < total) {
		ssize_t w = writev(fd, iov, 2);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		done += (size_t)w;
		for (int i = 0; i < 2; i++) {
			size_t take = (size_t)w < iov[i].iov_len ? (size_t)w : iov[i].iov_len;
			iov[i].iov_base = (char *)iov[i].iov_base + take;
			iov[i].iov_len -= take;
			w -= (ssize_t)take;
		}
	}
	return 0;
}

void proto_frame_release(struct proto_frame *f)
{
	free(f->data);
	f->data = NULL;
	f->len = 0;
}
