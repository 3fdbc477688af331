/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Upstream conformance: every Pod Security Admission fixture in
 * ../shared/conformance/psa must get upstream's verdict at its level and
 * version, as a bare Pod and wrapped in each workload kind.
 */
#include "policy/policy.h"
#include "unit.h"

#include <dirent.h>
#include <sys/stat.h>

/* How each kind wraps a pod: the lines above the pod's metadata/spec. */
static const struct wrap {
	const char *kind;
	const char *head;
	int indent;
} wraps[] = {
	{ "Pod", NULL, 0 },
	{ "PodTemplate", "apiVersion: v1\nkind: PodTemplate\nmetadata:\n  name: w\ntemplate:\n", 2 },
	{ "ReplicationController",
	  "apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: w\nspec:\n  template:\n", 4 },
	{ "ReplicaSet", "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: w\nspec:\n  template:\n", 4 },
	{ "Deployment", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: w\nspec:\n  template:\n", 4 },
	{ "StatefulSet", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: w\nspec:\n  template:\n", 4 },
	{ "DaemonSet", "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: w\nspec:\n  template:\n", 4 },
	{ "Job", "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: w\nspec:\n  template:\n", 4 },
	{ "CronJob",
	  "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: w\nspec:\n  schedule: '@daily'\n"
	  "  jobTemplate:\n    spec:\n      template:\n", 8 },
};

/* Re-indents a bare Pod's metadata and spec under a workload's template. */
static char *wrap_pod(const char *pod, const struct wrap *w)
{
	if (!w->head)
		return xstrdup(pod);
	struct sbuf b = { 0 };
	sbuf_puts(&b, w->head);
	for (const char *line = pod; *line;) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);
		if (!(strncmp(line, "apiVersion:", 11) == 0 || strncmp(line, "kind:", 5) == 0)) {
			sbuf_printf(&b, "%*s", w->indent, "");
			sbuf_add(&b, line, n);
			sbuf_puts(&b, "\n");
		}
		line += n + (end ? 1 : 0);
	}
	return sbuf_steal(&b);
}

static const char *level_name;
static unsigned minor;
static size_t total_fixtures;

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void check_dir(const char *dir, bool want_allowed, const struct policy_config *cfg)
{
	DIR *d = opendir(dir);
	if (!d)
		return; /* a version with no pass (or fail) fixtures */
	char *names[512];
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < 512)
		if (strstr(de->d_name, ".yaml"))
			names[n++] = xstrdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof(*names), cmp);
	for (size_t i = 0; i < n; i++) {
		char path[1024];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		char *buf;
		size_t len;
		struct moat_error err;
		if (read_file(path, MOAT_MAX_INPUT, &buf, &len, &err) < 0) {
			unit_fail("%s", err.msg);
			continue;
		}
		total_fixtures++;
		for (size_t k = 0; k < ARRAY_SIZE(wraps); k++) {
			char *text = wrap_pod(buf, &wraps[k]);
			struct report rep;
			report_init(&rep, "t", policy_rules, R_COUNT);
			size_t errors = policy_check_buffer(cfg, path, text, strlen(text), &rep);
			bool allowed = report_violations(&rep) == 0;
			if (errors)
				unit_fail("%s as %s: input error: %s", path, wraps[k].kind,
					  rep.notes[0].message);
			else if (allowed != want_allowed)
				unit_fail("%s as %s: %s at %s v1.%u, upstream says %s%s%s", path,
					  wraps[k].kind, allowed ? "allowed" : "denied", level_name,
					  minor, want_allowed ? "allowed" : "denied",
					  rep.nresults ? "; first finding: " : "",
					  rep.nresults ? rep.results[0].message : "");
			report_release(&rep);
			free(text);
		}
		free(buf);
		free(names[i]);
	}
}

static void test_level_version(void)
{
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s/conformance/psa/%s/v1.%u", unit_shared_dir(), level_name,
		 minor);
	struct stat st;
	if (stat(dir, &st) < 0) {
		unit_skip("%s is absent (../shared/conformance/psa not beside the checkout)", dir);
		return;
	}
	struct policy_config cfg = { .level = (enum pss_level)pss_level_parse(level_name),
				     .minor = minor, .share_nothing = false };
	char sub[1100];
	snprintf(sub, sizeof(sub), "%s/pass", dir);
	check_dir(sub, true, &cfg);
	snprintf(sub, sizeof(sub), "%s/fail", dir);
	check_dir(sub, false, &cfg);
}

/* A version past the newest evaluates as the newest; "latest" too. */
static void test_version_clamp(void)
{
	unsigned v = 0;
	CHECK_INT(pss_version_parse("latest", &v), 0);
	CHECK_INT(v, PSS_NEWEST_MINOR);
	CHECK_INT(pss_version_parse("v1.99", &v), 0);
	CHECK_INT(v, PSS_NEWEST_MINOR);
	CHECK_INT(pss_version_parse("v1.0", &v), 0);
	CHECK_INT(v, 0);
	CHECK_INT(pss_version_parse("v1.25", &v), 0);
	CHECK_INT(v, 25);
	CHECK_INT(pss_version_parse("v1.05", &v), -1);
	CHECK_INT(pss_version_parse("v2.0", &v), -1);
	CHECK_INT(pss_version_parse("1.25", &v), -1);
	CHECK_INT(pss_version_parse("v1.25.0", &v), -1);
	CHECK_INT(pss_version_parse("v1.", &v), -1);
}

static void test_fixture_count(void)
{
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s/conformance/psa", unit_shared_dir());
	struct stat st;
	if (stat(dir, &st) < 0) {
		unit_skip("%s is absent", dir);
		return;
	}
	/* Every fixture upstream ships was evaluated, not a subset. */
	CHECK_INT(total_fixtures, 4537);
}

int main(void)
{
	static const char *const levels[] = { "baseline", "restricted" };
	char name[64];
	for (size_t l = 0; l < 2; l++) {
		for (minor = 0; minor <= PSS_NEWEST_MINOR; minor++) {
			level_name = levels[l];
			snprintf(name, sizeof(name), "psa conformance %s v1.%u", level_name, minor);
			unit_run(name, test_level_version);
		}
	}
	TEST(test_fixture_count);
	TEST(test_version_clamp);
	return unit_done();
}
