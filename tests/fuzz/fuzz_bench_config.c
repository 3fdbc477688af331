/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for what moat bench reads from a node image and from its
 * users: EnvironmentFile= files, ExecStart= lines, unit files, check
 * definitions and waivers.  The first byte picks the reader.
 */
#include "bench/bench_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *buf = (const char *)data + 1;
	size_t len = size - 1;
	struct moat_error err;
	switch (data[0] % 5) {
	case 0: {
		char **k, **v;
		size_t n;
		bench_parse_env_file(buf, len, &k, &v, &n);
		bench_strv_free(k, n);
		bench_strv_free(v, n);
		break;
	}
	case 1: {
		static const char *const keys[] = { "A", "ARGS", "B" };
		static const char *const vals[] = { "--x=1 --y", "${A}", "" };
		char *line = xstrndup(buf, len);
		char **w;
		size_t n;
		bench_split_exec(line, keys, vals, 3, &w, &n);
		bench_strv_free(w, n);
		free(line);
		break;
	}
	case 2:
		bench_unit_parse_only(buf, len);
		break;
	case 3: {
		struct bench_defs d = { 0 };
		bench_defs_load_buffer(&d, "fuzz.yaml", buf, len, &err);
		bench_defs_free(&d);
		break;
	}
	case 4: {
		struct arena *a = arena_new();
		struct bench_waiver *w;
		size_t n;
		bench_waivers_parse("fuzz.yaml", buf, len, &w, &n, a, &err);
		free(w);
		arena_free(a);
		break;
	}
	}
	return 0;
}
