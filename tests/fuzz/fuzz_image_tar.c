/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for image layers: the gzip and tar readers walk the
 * input, then the layer applier unpacks it into a scratch directory, where
 * whatever the entries say must stay inside (ASan and the kernel's
 * RESOLVE_IN_ROOT see to the rest).
 */
#include "runtime/image_int.h"

#include <fcntl.h>
#include <sys/stat.h>

static char scratch[64];
static int scratch_fd = -1;

static void cleanup(void)
{
	struct moat_error err;
	if (scratch_fd >= 0)
		remove_tree_at(scratch_fd, "root", &err);
	if (scratch[0])
		rmdir(scratch);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(scratch, sizeof(scratch), "%s/moat-fuzz-tar.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(scratch))
		abort();
	scratch_fd = open(scratch, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (scratch_fd < 0)
		abort();
	atexit(cleanup);
	return 0;
}

static void walk(const uint8_t *data, size_t size)
{
	struct membuf mb = { data, size, 0 };
	struct stream raw = { membuf_read, &mb };
	struct layer_stream *ls = NULL;
	struct moat_error err;
	if (layer_stream_open(&raw, 4u << 20, &ls, &err) < 0)
		return;
	struct stream s = layer_stream_as_stream(ls);
	struct tar_reader *t = tar_reader_new(&s);
	struct tar_entry e;
	char buf[4096], clean[TAR_MAX_PATH + 1];
	int r;
	while ((r = tar_next(t, &e, &err)) > 0) {
		tar_clean_path(e.path, clean, &err);
		tar_clean_path(e.link, clean, &err);
		if (e.size & 1)
			while (tar_read_data(t, buf, sizeof(buf), &err) > 0) {
			}
	}
	tar_reader_free(t);
	char diff_id[72];
	if (r == 0)
		layer_stream_finish(ls, diff_id, &err);
	layer_stream_free(ls);
}

static void apply(const uint8_t *data, size_t size)
{
	struct moat_error err;
	if (mkdirat(scratch_fd, "root", 0755) < 0)
		abort();
	int root = openat(scratch_fd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		abort();
	struct layer_applier *a = layer_applier_new(root, 4u << 20);
	/* The same bytes twice: the second pass meets what the first made,
	 * as an upper layer meets a lower one. */
	for (int pass = 0; pass < 2; pass++) {
		struct membuf mb = { data, size, 0 };
		struct stream raw = { membuf_read, &mb };
		struct layer_stream *ls = NULL;
		if (layer_stream_open(&raw, 4u << 20, &ls, &err) < 0)
			break;
		struct stream s = layer_stream_as_stream(ls);
		int r = layer_apply(a, &s, &err);
		layer_stream_free(ls);
		if (r < 0)
			break;
	}
	layer_applier_finish(a, &err);
	layer_applier_free(a);
	close(root);
	if (remove_tree_at(scratch_fd, "root", &err) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	walk(data, size);
	apply(data, size);
	return 0;
}
