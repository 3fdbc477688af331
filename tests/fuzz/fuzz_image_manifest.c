/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness for the image JSON documents: every input is tried as
 * an OCI index, an image manifest, an image config and docker save's
 * manifest.json. */
#include "runtime/image_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct moat_error err;
	struct oci_index x;
	if (oci_index_parse("index.json", buf, size, &x, &err) == 0)
		oci_index_release(&x);
	struct oci_manifest m;
	if (oci_manifest_parse("manifest", buf, size, &m, &err) == 0)
		oci_manifest_release(&m);
	struct oci_config c;
	if (oci_config_parse("config", buf, size, &c, &err) == 0)
		oci_config_release(&c);
	struct docker_item *items;
	size_t n;
	if (docker_manifest_parse("manifest.json", buf, size, &items, &n, &err) == 0)
		docker_items_free(items, n);
	return 0;
}
