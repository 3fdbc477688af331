/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for what a (possibly hostile) guest sends the host: a
 * byte stream cut into frames by the protocol's header checks, each JSON
 * payload through the shim's message parser.
 */
#include "runtime/proto.h"
#include "runtime/runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	while (size - off >= PROTO_HEADER) {
		struct proto_frame f;
		const char *why;
		if (proto_header_parse(data + off, &f, &why) < 0)
			break;
		off += PROTO_HEADER;
		if (f.len > size - off)
			break;
		if (f.type == PROTO_JSON) {
			struct guest_event ev;
			guest_event_parse(data + off, f.len, &ev);
		}
		off += f.len;
	}
	/* The payload alone, too: most inputs will not carry a valid header. */
	struct guest_event ev;
	guest_event_parse(data, size, &ev);
	return 0;
}
