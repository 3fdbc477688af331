/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host <-> guest protocol, spoken over one virtio-serial port per pod
 * (and, unchanged, between moat's CLI and a pod's shim).  Built into the
 * host and into the guest agent; docs/runtime-design.md describes it.
 *
 * A frame is a 16-byte header and a payload:
 *   u32 magic "MOAT", u16 version, u16 type, u32 stream, u32 length
 * (little-endian).  Control messages are JSON objects (PROTO_JSON); process
 * output and input travel as PROTO_OUT, PROTO_ERR and PROTO_IN bytes on a
 * stream, closed by PROTO_EOF.  The host trusts nothing the guest sends: the
 * header is checked, the length bounded, and JSON parsed with a depth and
 * size limit before any field is used.
 */
#ifndef MOAT_PROTO_H
#define MOAT_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_MAGIC 0x5441414du /* "MOAT" */
#define PROTO_VERSION 1
#define PROTO_HEADER 16
/* The largest payload either side accepts: a RUN_POD with its ConfigMaps
 * and Secrets fits; anything bigger is a protocol error. */
#define PROTO_MAX_PAYLOAD (4u << 20)
/* Output chunks are at most this big, so one stream cannot starve another. */
#define PROTO_CHUNK 32768

enum proto_type {
	PROTO_JSON = 1, /* a control message */
	PROTO_OUT = 2,  /* a process's stdout, or log bytes */
	PROTO_ERR = 3,  /* a process's stderr */
	PROTO_IN = 4,   /* a process's stdin */
	PROTO_EOF = 5,  /* the end of a stream's data in one direction */
};

struct proto_frame {
	uint16_t type;
	uint32_t stream;
	uint32_t len;
	unsigned char *data; /* len bytes + a NUL, owned by the frame */
};

/* Parses and checks a header: 0, or -1 naming what is wrong in why. */
int proto_header_parse(const unsigned char hdr[PROTO_HEADER], struct proto_frame *f,
		       const char **why);
void proto_header_build(unsigned char hdr[PROTO_HEADER], uint16_t type, uint32_t stream,
			uint32_t len);

/* Blocking whole-frame I/O on fd: 0, or -1 with errno (EBADMSG: a bad
 * frame, why says what; 0 bytes at a frame boundary: ENODATA). */
int proto_read(int fd, struct proto_frame *f, const char **why);
int proto_write(int fd, uint16_t type, uint32_t stream, const void *data, size_t len);
void proto_frame_release(struct proto_frame *f);

#endif
