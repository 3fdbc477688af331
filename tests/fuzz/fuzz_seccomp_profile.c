/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness for the Docker/OCI seccomp profile reader and compiler. */
#include "enforcer/enforcer.h"

static void quiet(enum moat_log_level level, const char *msg, void *ctx)
{
	(void)level;
	(void)msg;
	(void)ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seccomp_profile *p = NULL;
	struct moat_error err;
	moat_log_set_handler(quiet, NULL);
	if (seccomp_profile_parse("fuzz.json", (const char *)data, size, &p, &err) == 0) {
		struct seccomp_options o = { .caps = size & 1 ? ~(cap_mask)0 : 0, .kernel = 6001 };
		struct seccomp_stats st;
		void *ctx = NULL;
		if (seccomp_profile_compile(p, &o, &ctx, &st, &err) == 0)
			seccomp_ctx_free(ctx);
	}
	seccomp_profile_free(p);
	return 0;
}
