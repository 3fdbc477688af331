/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The syscall loop tests/perf/enforcer times: N raw getpid calls (glibc
 * would not cache them, but syscall() makes sure), best of five rounds, in
 * nanoseconds per call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000000;
	double best = 1e30;
	for (int round = 0; round < 5; round++) {
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		for (long i = 0; i < n; i++)
			syscall(SYS_getpid);
		clock_gettime(CLOCK_MONOTONIC, &b);
		double ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (double)n;
		if (ns < best)
			best = ns;
	}
	printf("%.1f\n", best);
	return 0;
}
