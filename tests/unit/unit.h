/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A test harness small enough to read in one go.  Each TEST prints one TAP
 * line: "ok", "not ok" with the failed checks as "# " diagnostics, or
 * "ok ... # SKIP reason" when a prerequisite is missing.  tests/run adds
 * the lines of every program up.
 */
#ifndef MOAT_UNIT_H
#define MOAT_UNIT_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_count, unit_failed_tests, unit_fail_here;
static char unit_skip_reason[512];

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			unit_fail_here++;                                      \
			printf("# %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
		}                                                              \
	} while (0)

#define CHECK_STR(a, b)                                                        \
	do {                                                                   \
		const char *a_ = (a), *b_ = (b);                               \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                       \
			unit_fail_here++;                                      \
			printf("# %s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__, \
			       a_ ? a_ : "(null)", b_ ? b_ : "(null)");        \
		}                                                              \
	} while (0)

#define CHECK_INT(a, b)                                                        \
	do {                                                                   \
		long long a_ = (long long)(a), b_ = (long long)(b);            \
		if (a_ != b_) {                                                \
			unit_fail_here++;                                      \
			printf("# %s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, \
			       #a, a_, b_);                                    \
		}                                                              \
	} while (0)

/* Fails the current test with a message, without stopping it. */
static inline void unit_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void unit_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("# ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	unit_fail_here++;
}

static inline void unit_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void unit_skip(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(unit_skip_reason, sizeof(unit_skip_reason), fmt, ap);
	va_end(ap);
}

static inline void unit_run(const char *name, void (*fn)(void))
{
	unit_fail_here = 0;
	unit_skip_reason[0] = '\0';
	fflush(stdout);
	fn();
	unit_count++;
	if (unit_skip_reason[0] && !unit_fail_here)
		printf("ok %d - %s # SKIP %s\n", unit_count, name, unit_skip_reason);
	else if (unit_fail_here) {
		printf("not ok %d - %s\n", unit_count, name);
		unit_failed_tests++;
	} else
		printf("ok %d - %s\n", unit_count, name);
	fflush(stdout);
}

#define TEST(fn) unit_run(#fn, fn)

static inline int unit_done(void)
{
	printf("1..%d\n", unit_count);
	return unit_failed_tests ? 1 : 0;
}

/* Where ../shared is: $MOAT_SHARED, or beside the checkout. */
static inline const char *unit_shared_dir(void)
{
	const char *s = getenv("MOAT_SHARED");
	return s && *s ? s : "../shared";
}

#endif
