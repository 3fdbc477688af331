/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholders while attest is being built: each goes as its file lands. */
#include "attest.h"

#include <errno.h>

#define NOT_BUILT(err) moat_error_set(err, ENOSYS, "not built yet")

/* ---- ima.c ---- */
int attest_ima_parse(const uint8_t *buf, size_t len, const char *name,
		     struct attest_ima_list *list, struct moat_error *err)
{ (void)buf; (void)len; (void)name; (void)list; return NOT_BUILT(err); }
void attest_ima_free(struct attest_ima_list *list) { (void)list; }
long attest_ima_replay(const struct attest_ima_list *list, struct attest_pcrs *out)
{ (void)list; (void)out; return -1; }
int attest_ima_print(FILE *out, const struct attest_ima_list *list, bool replay,
		     const struct attest_pcrs *replayed, enum attest_format fmt)
{ (void)out; (void)list; (void)replay; (void)replayed; (void)fmt; return -1; }
