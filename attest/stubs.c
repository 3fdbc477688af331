/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholders while attest is being built: each goes as its file lands. */
#include "attest.h"

#include <errno.h>

#define NOT_BUILT(err) moat_error_set(err, ENOSYS, "not built yet")

/* ---- eventlog.c ---- */
const char *attest_event_type_name(uint32_t type) { (void)type; return NULL; }
int64_t attest_event_type_from_name(const char *name) { (void)name; return -1; }
int attest_eventlog_parse(const uint8_t *buf, size_t len, const char *name,
			  struct attest_eventlog *log, struct moat_error *err)
{ (void)buf; (void)len; (void)name; (void)log; return NOT_BUILT(err); }
void attest_eventlog_free(struct attest_eventlog *log) { (void)log; }
void attest_eventlog_replay(const struct attest_eventlog *log, struct attest_pcrs *out)
{ (void)log; (void)out; }
long attest_eventlog_first_bad(const struct attest_eventlog *log, uint16_t alg,
			       uint32_t pcr, const uint8_t *want)
{ (void)log; (void)alg; (void)pcr; (void)want; return -1; }
bool attest_event_digest_mismatch(const struct attest_event *ev) { (void)ev; return false; }
int attest_eventlog_print(FILE *out, const struct attest_eventlog *log, bool replay,
			  enum attest_format fmt)
{ (void)out; (void)log; (void)replay; (void)fmt; return -1; }

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
