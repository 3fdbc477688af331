/* SPDX-License-Identifier: Apache-2.0 */
/* Inside policy/: the evaluation context that check.c and pss.c share. */
#ifndef MOAT_POLICY_EVAL_H
#define MOAT_POLICY_EVAL_H

#include "policy.h"

struct eval {
	const struct policy_config *cfg;
	struct report *rep;
	const char *file;
	size_t obj;        /* report object being evaluated, SIZE_MAX until listed */
	struct {           /* the object, until a finding needs it listed */
		uint32_t line, col;
		const char *kind, *ns, *name;
	} pending;
	size_t first_note; /* its first note, to report a bad field once */
	size_t errors;
	bool active[R_COUNT];
};

/* What a field must be: used to report input of the wrong type. */
enum want { W_MAP, W_SEQ, W_STR, W_BOOL, W_INT };

void eval_init(struct eval *ev, const struct policy_config *cfg, struct report *rep,
	       const char *file);
/* Looks key up in map.  NULL if absent or null; a value of the wrong type
 * is reported as an input error at its position, and is also NULL. */
const struct ypair *eval_get(struct eval *ev, const struct ynode *map,
			     const char *path, const char *key, enum want want);
void eval_bad_input(struct eval *ev, const struct ynode *at, const char *fmt, ...)
	PRINTF(3, 4);
/* Adds a finding of rule at node `at`; field is the path of the field, copied. */
struct report_result *eval_finding(struct eval *ev, enum policy_rule rule,
				   const struct ynode *at, const char *container,
				   const char *field, const char *fmt, ...) PRINTF(6, 7);

struct report_result *eval_vfinding(struct eval *ev, enum policy_rule rule,
				    const struct ynode *at, const char *container,
				    const char *field, const char *fmt, va_list ap);

/* Evaluates the pod template found at spec (whose path is spec_path). */
void pss_eval_pod(struct eval *ev, const struct ynode *meta, const struct ynode *spec,
		  const char *meta_path, const char *spec_path);

#endif
