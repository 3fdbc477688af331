/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hand-written manifests in tests/fixtures/policy/, one or more per check.
 * Each states what it expects in comments, so the expectation sits next to
 * the line it is about:
 *
 *   # args: --level baseline --version v1.30 --no-share-nothing
 *   # expect: 14:9 pss/privileged
 *   # expect-error: 20:5
 *
 * The findings (check and line:col) must match the expectations exactly,
 * no more and no fewer.
 */
#include "policy/policy.h"
#include "unit.h"

#include <dirent.h>

static const char *fixture_dir = "tests/fixtures/policy";
static const char *current;

struct expect {
	unsigned line, col;
	char check[64]; /* empty for an input error */
	bool seen;
};

static void parse_args(const char *line, struct policy_config *cfg)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", line);
	char *save = NULL;
	for (char *tok = strtok_r(buf, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
		if (strcmp(tok, "--no-share-nothing") == 0) {
			cfg->share_nothing = false;
		} else if (strcmp(tok, "--level") == 0) {
			char *v = strtok_r(NULL, " \t\n", &save);
			cfg->level = (enum pss_level)pss_level_parse(v ? v : "");
		} else if (strcmp(tok, "--version") == 0) {
			char *v = strtok_r(NULL, " \t\n", &save);
			if (!v || pss_version_parse(v, &cfg->minor) < 0)
				unit_fail("%s: bad --version in # args", current);
		} else {
			unit_fail("%s: unknown # args token %s", current, tok);
		}
	}
}

static void test_fixture(void)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", fixture_dir, current);
	char *buf;
	size_t len;
	struct moat_error err;
	if (read_file(path, MOAT_MAX_INPUT, &buf, &len, &err) < 0) {
		unit_fail("%s", err.msg);
		return;
	}
	struct policy_config cfg = { .level = PSS_RESTRICTED, .minor = PSS_NEWEST_MINOR,
				     .share_nothing = true };
	struct expect ex[128];
	size_t nex = 0;
	/* JSON has no comments: its expectations sit in FILE.expect beside it. */
	char *spec = NULL, expect_path[600];
	size_t speclen;
	snprintf(expect_path, sizeof(expect_path), "%s.expect", path);
	if (read_file(expect_path, 1 << 20, &spec, &speclen, &err) < 0)
		spec = xstrdup(buf);
	for (const char *l = spec; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, "# args:", 7) == 0) {
			char line[256];
			snprintf(line, sizeof(line), "%.*s", (int)strcspn(l + 7, "\n"), l + 7);
			parse_args(line, &cfg);
		} else if (strncmp(l, "# expect:", 9) == 0 && nex < 128) {
			struct expect *e = &ex[nex];
			memset(e, 0, sizeof(*e));
			if (sscanf(l + 9, " %u:%u %63s", &e->line, &e->col, e->check) == 3)
				nex++;
		} else if (strncmp(l, "# expect-error:", 15) == 0 && nex < 128) {
			struct expect *e = &ex[nex];
			memset(e, 0, sizeof(*e));
			if (sscanf(l + 15, " %u:%u", &e->line, &e->col) == 2)
				nex++;
		}
	}
	if (!nex && !strstr(spec, "# expect-none"))
		unit_fail("%s: states no expectation (add # expect: or # expect-none)", path);

	struct report rep;
	report_init(&rep, "t", policy_rules, R_COUNT);
	policy_check_buffer(&cfg, path, buf, len, &rep);

	for (size_t i = 0; i < rep.nresults; i++) {
		const struct report_result *x = &rep.results[i];
		const char *id = policy_rules[x->rule].id;
		bool found = false;
		for (size_t k = 0; k < nex && !found; k++) {
			if (!ex[k].seen && ex[k].check[0] && ex[k].line == x->line &&
			    ex[k].col == x->col && strcmp(ex[k].check, id) == 0)
				found = ex[k].seen = true;
		}
		if (!found)
			unit_fail("%s:%u:%u: unexpected %s: %s", path, x->line, x->col, id, x->message);
	}
	for (size_t i = 0; i < rep.nnotes; i++) {
		const struct report_note *n = &rep.notes[i];
		bool found = false;
		for (size_t k = 0; k < nex && !found; k++) {
			if (!ex[k].seen && !ex[k].check[0] && ex[k].line == n->line &&
			    ex[k].col == n->col)
				found = ex[k].seen = true;
		}
		if (!found)
			unit_fail("%s:%u:%u: unexpected input error: %s", path, n->line, n->col,
				  n->message);
	}
	for (size_t k = 0; k < nex; k++)
		if (!ex[k].seen)
			unit_fail("%s:%u:%u: expected %s, not reported", path, ex[k].line, ex[k].col,
				  ex[k].check[0] ? ex[k].check : "an input error");
	report_release(&rep);
	free(spec);
	free(buf);
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
	DIR *d = opendir(fixture_dir);
	if (!d) {
		printf("not ok 1 - %s is missing (run from the top of the tree)\n", fixture_dir);
		return 1;
	}
	char *names[1024];
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < 1024)
		if (de->d_name[0] != '.' && !strstr(de->d_name, ".expect"))
			names[n++] = xstrdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof(*names), cmp);
	for (size_t i = 0; i < n; i++) {
		current = names[i];
		char name[600];
		snprintf(name, sizeof(name), "policy fixture %s", names[i]);
		unit_run(name, test_fixture);
		free(names[i]);
	}
	return unit_done();
}
