/* SPDX-License-Identifier: Apache-2.0 */
/*
 * policy: the Pod Security Standards, evaluated the way upstream
 * k8s.io/pod-security-admission evaluates them, plus moat's share-nothing
 * rules.  The same calls serve `moat policy check` in CI and the runtime's
 * admission of a pod.
 */
#ifndef MOAT_POLICY_H
#define MOAT_POLICY_H

#include "../core/core.h"

#include <time.h>

enum pss_level { PSS_PRIVILEGED, PSS_BASELINE, PSS_RESTRICTED };

/* The newest policy version upstream defines: v1.37. */
#define PSS_NEWEST_MINOR 37u

/* Rule indexes into policy_rules[], the order SARIF lists them in. */
enum policy_rule {
	/* baseline */
	R_APPARMOR,
	R_CAPS_BASELINE,
	R_HOST_NAMESPACES,
	R_HOSTPATH_VOLUMES,
	R_HOST_PORTS,
	R_HOST_PROBES,
	R_PRIVILEGED,
	R_PROCMOUNT,
	R_SELINUX,
	R_SECCOMP_BASELINE,
	R_SYSCTLS,
	R_WINDOWS_HOSTPROCESS,
	/* restricted */
	R_ALLOW_PRIV_ESC,
	R_CAPS_RESTRICTED,
	R_PROCMOUNT_RESTRICTED,
	R_RESTRICTED_VOLUMES,
	R_RUN_AS_NON_ROOT,
	R_RUN_AS_USER,
	R_SECCOMP_RESTRICTED,
	/* share-nothing */
	R_SN_HOSTPATH,
	R_SN_HOSTNETWORK,
	R_SN_HOSTPID,
	R_SN_HOSTIPC,
	R_SN_HOSTPORT,
	R_SN_NODEPORT,
	R_SN_LB_NODEPORTS,
	R_COUNT
};
extern const struct report_rule policy_rules[R_COUNT];
/* -1 if no rule has that id. */
int policy_rule_find(const char *id);

struct policy_exceptions;

struct policy_config {
	enum pss_level level;
	unsigned minor;     /* policy version v1.<minor>, already clamped */
	bool share_nothing; /* the share-nothing rules, on by default */
	const struct policy_exceptions *exceptions; /* may be NULL */
};

/* "privileged" | "baseline" | "restricted"; -1 if none of them. */
int pss_level_parse(const char *s);
const char *pss_level_name(enum pss_level level);
/* "latest" or "v1.N"; versions past the newest clamp to it.  -1 if malformed. */
int pss_version_parse(const char *s, unsigned *minor);

/*
 * Checks every object in a buffer of YAML or JSON documents and adds its
 * findings, and any input errors with their location, to rep.  Returns the
 * number of input errors added (0 when the file was clean input).
 */
size_t policy_check_buffer(const struct policy_config *cfg, const char *file,
			   const char *buf, size_t len, struct report *rep);
/* Reads path (or "-") and checks it; an unreadable file is an input error. */
size_t policy_check_file(const struct policy_config *cfg, const char *path,
			 struct report *rep);
/* Frees what policy_check_file keeps per thread; a worker calls it last. */
void policy_thread_exit(void);
/* Checks one parsed object: a workload, a Pod, a Service or a List of them. */
size_t policy_check_object(const struct policy_config *cfg, const char *file,
			   const struct ynode *obj, struct report *rep);

/*
 * Loads an exceptions file (docs/moat-policy.1, EXCEPTIONS).  `today` is
 * the date exceptions expire against, as days since 1970-01-01 (UTC).
 * Expired exceptions are kept so they can be reported, but never applied.
 */
int policy_exceptions_load(const char *path, long today,
			   struct policy_exceptions **out, struct moat_error *err);
/* The same, from a buffer; name is used in messages. */
int policy_exceptions_parse(const char *name, const char *buf, size_t len, long today,
			    struct policy_exceptions **out, struct moat_error *err);
void policy_exceptions_free(struct policy_exceptions *ex);
/* Adds a warning to rep for each expired exception. */
void policy_exceptions_report_expired(const struct policy_exceptions *ex,
				      struct report *rep);
/* Marks the results covered by an unexpired exception as exempted. */
void policy_exceptions_apply(const struct policy_exceptions *ex, struct report *rep);

/* The `moat policy` subcommand. */
int policy_cmd(int argc, char **argv);

#endif
