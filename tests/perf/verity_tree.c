/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hash-tree builder tests/perf/runtime times against veritysetup: moat's
 * verity_build over a copy of FILE (the tree is appended to it), best of
 * three rounds, in milliseconds.  Usage: verity_tree FILE SCRATCH
 */
#include "runtime/image_int.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: verity_tree FILE SCRATCH\n");
		return 2;
	}
	double best = 1e30;
	for (int round = 0; round < 3; round++) {
		char cmd[8400];
		snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", argv[1], argv[2]);
		if (system(cmd) != 0)
			return 1;
		int fd = open(argv[2], O_RDWR | O_CLOEXEC);
		struct image_verity v;
		struct moat_error err = { 0 };
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		int r = fd < 0 ? -1 : verity_build(fd, argv[2], &v, &err);
		clock_gettime(CLOCK_MONOTONIC, &b);
		if (fd >= 0)
			close(fd);
		if (r < 0) {
			fprintf(stderr, "verity_tree: %s\n", err.msg);
			return 1;
		}
		double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
		if (ms < best)
			best = ms;
	}
	printf("%.1f\n", best);
	return 0;
}
