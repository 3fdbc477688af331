/* SPDX-License-Identifier: Apache-2.0 */
/* attest's internals, shared by its .c files and nothing else. */
#ifndef MOAT_ATTEST_INT_H
#define MOAT_ATTEST_INT_H

#include "attest.h"

/* Adds an appraisal to res and lowers its status to the worst seen. */
void result_add(struct attest_result *res, const char *claim, enum attest_status status,
		const char *fmt, ...) PRINTF(4, 5);

/* What `verify` hands the reference values: only what the quote covers. */
struct appraise_input {
	const struct attest_pcrs *quoted; /* PCRs the quote's signature covers */
	const struct attest_eventlog *log; /* NULL when the node sent none */
	const struct attest_ima_list *ima; /* NULL when the node sent none */
};

/* Appraises the input against refs: PCR values, event digests, boot
 * components, the IMA allow-list.  Adds one appraisal per claim. */
void refs_appraise(const struct attest_refs *refs, const struct appraise_input *in,
		   struct attest_result *res);

#endif
