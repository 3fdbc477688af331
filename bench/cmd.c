/* SPDX-License-Identifier: Apache-2.0 */
/* `moat bench`: options in, audit out, exit code for the gate. */
#include "bench_int.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>

static const char usage[] =
	"Usage: moat bench [options]\n"
	"\n"
	"Audit this node (or, with --root, an unpacked node image) against the CIS\n"
	"Kubernetes Benchmark.  Nothing in an image is executed; paths never leave it.\n"
	"\n"
	"Options:\n"
	"  -r, --root DIR           audit the node image mounted or unpacked at DIR\n"
	"  -b, --benchmark ID       cis-1.12 (default: chosen from the Kubernetes version)\n"
	"  -t, --targets LIST       master,etcd,controlplane,node,policies\n"
	"                           (default: those whose components are on the node)\n"
	"  -c, --check IDS          only these controls or groups (1.2.1,4.2)\n"
	"  -s, --skip IDS           report these as INFO without testing them\n"
	"      --checks-dir DIR     extra or replacement controls (*.yaml, docs/bench-checks.md)\n"
	"  -w, --waivers FILE       accepted controls, each with reason and expiry\n"
	"  -f, --format FORMAT      text, json, junit, sarif or html (default: text)\n"
	"  -o, --output FORMAT=PATH also write FORMAT to PATH; repeatable\n"
	"      --fail-on LEVEL      fail (default): exit 1 on a FAIL; warn: on a FAIL or\n"
	"                           WARN; never\n"
	"      --fail-under PCT     exit 1 when the score is below PCT percent\n"
	"  -h, --help               show this help\n"
	"\n"
	"Exit status: 0 the gate holds, 1 it does not, 2 bad input or usage,\n"
	"3 system error (a report could not be written).\n";

#define usage_error(...) moat_usage_error("bench", __VA_ARGS__)

/* "a,b,,c" -> {"a","b","c"}, pointing into a copy the caller frees. */
static size_t split_list(char *s, const char ***out)
{
	size_t n = 0, cap = 0;
	*out = NULL;
	for (char *tok = strtok(s, ", "); tok; tok = strtok(NULL, ", ")) {
		*out = grow_array(*out, &cap, n + 1, sizeof(**out));
		(*out)[n++] = tok;
	}
	return n;
}

struct output {
	enum bench_format format;
	const char *path;
};

/* Writes one report to path through a temporary file renamed over it, so a
 * failed run never leaves half a report; devices and pipes are written
 * through. */
static int write_output(const struct bench_run *r, const struct output *o)
{
	struct stat st;
	FILE *f;
	_cleanup_free_ char *tmp = NULL;
	if (lstat(o->path, &st) == 0 && !S_ISREG(st.st_mode)) {
		f = fopen(o->path, "we");
	} else {
		const char *slash = strrchr(o->path, '/');
		tmp = slash ? xasprintf("%.*s/.%s.XXXXXX", (int)(slash - o->path), o->path, slash + 1)
			    : xasprintf(".%s.XXXXXX", o->path);
		int fd = mkostemp(tmp, O_CLOEXEC);
		f = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (fd >= 0 && !f)
			close(fd);
		if (fd >= 0)
			fchmod(fd, 0644);
	}
	if (!f) {
		fprintf(stderr, "moat bench: %s: %s\n", o->path, strerror(errno));
		if (tmp)
			unlink(tmp);
		return -1;
	}
	int rc = bench_write(r, o->format, f, false);
	if (fclose(f) != 0)
		rc = -1;
	if (rc == 0 && tmp && rename(tmp, o->path) < 0)
		rc = -1;
	if (rc < 0) {
		fprintf(stderr, "moat bench: writing %s: %s\n", o->path, strerror(errno));
		if (tmp)
			unlink(tmp);
	}
	return rc;
}

int bench_cmd(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "benchmark", required_argument, NULL, 'b' },
		{ "targets", required_argument, NULL, 't' },
		{ "check", required_argument, NULL, 'c' },
		{ "skip", required_argument, NULL, 's' },
		{ "checks-dir", required_argument, NULL, 'D' },
		{ "waivers", required_argument, NULL, 'w' },
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "fail-on", required_argument, NULL, 'F' },
		{ "fail-under", required_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench_options o = { .today = today_days() };
	const char *root = NULL, *checks_dir = NULL, *waivers = NULL;
	_cleanup_free_ char *targets_s = NULL, *only_s = NULL, *skip_s = NULL;
	int format = BENCH_TEXT, fail_on = BENCH_FAIL, c;
	double fail_under = -1;
	struct output outs[8];
	size_t nouts = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "r:b:t:c:s:w:f:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			root = optarg;
			break;
		case 'b':
			o.benchmark = optarg;
			break;
		case 't':
			free(targets_s);
			targets_s = xstrdup(optarg);
			break;
		case 'c':
			free(only_s);
			only_s = xstrdup(optarg);
			break;
		case 's':
			free(skip_s);
			skip_s = xstrdup(optarg);
			break;
		case 'D':
			checks_dir = optarg;
			break;
		case 'w':
			waivers = optarg;
			break;
		case 'f':
			format = bench_format_parse(optarg);
			if (format < 0)
				return usage_error("unknown format '%s' (expected text, json, junit, "
						   "sarif or html)", optarg);
			break;
		case 'o': {
			const char *eq = strchr(optarg, '=');
			_cleanup_free_ char *name = eq ? xstrndup(optarg, (size_t)(eq - optarg)) : NULL;
			int f = name ? bench_format_parse(name) : -1;
			if (f < 0 || !eq[1])
				return usage_error("--output %s: expected FORMAT=PATH, FORMAT one of "
						   "text, json, junit, sarif, html", optarg);
			if (nouts == ARRAY_SIZE(outs))
				return usage_error("--output: at most %zu", ARRAY_SIZE(outs));
			outs[nouts++] = (struct output){ (enum bench_format)f, eq + 1 };
			break;
		}
		case 'F':
			if (strcmp(optarg, "fail") == 0)
				fail_on = BENCH_FAIL;
			else if (strcmp(optarg, "warn") == 0)
				fail_on = BENCH_WARN;
			else if (strcmp(optarg, "never") == 0)
				fail_on = -1;
			else
				return usage_error("--fail-on %s: expected fail, warn or never", optarg);
			break;
		case 'U': {
			char *end;
			errno = 0;
			fail_under = strtod(optarg, &end);
			if (errno || end == optarg || (*end && strcmp(end, "%") != 0) ||
			    fail_under < 0 || fail_under > 100)
				return usage_error("--fail-under %s: expected a percentage, 0 to 100",
						   optarg);
			break;
		}
		case 'h':
			fputs(usage, stdout);
			return MOAT_EXIT_OK;
		default: {
			const char *typed = argv[optind - 1];
			if (strncmp(typed, "--", 2) == 0)
				return usage_error("option '%.*s' is unknown, needs a value or takes none",
						   (int)strcspn(typed, "="), typed);
			if (optopt)
				return usage_error("option '-%c' is unknown or needs a value", optopt);
			return usage_error("option '%s' is unknown", typed);
		}
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s' (did you mean --root %s?)", argv[optind],
				   argv[optind]);
	if (targets_s)
		o.ntargets = split_list(targets_s, &o.targets);
	if (only_s)
		o.nonly = split_list(only_s, &o.only);
	if (skip_s)
		o.nskip = split_list(skip_s, &o.skip);

	int rc = MOAT_EXIT_INPUT;
	struct moat_error err = { 0 };
	struct bench_defs defs;
	struct bench_node node = { .root_fd = -1 };
	struct bench_run run = { 0 };
	struct arena *warena = arena_new();
	if (bench_defs_load(&defs, checks_dir, &err) < 0) {
		fprintf(stderr, "moat bench: %s\n", err.msg);
		goto out_defs;
	}
	if (waivers && bench_waivers_load(waivers, &o.waivers, &o.nwaivers, warena, &err) < 0) {
		fprintf(stderr, "moat bench: %s\n", err.msg);
		goto out_defs;
	}
	if (bench_node_open(&node, &defs, root, &err) < 0) {
		fprintf(stderr, "moat bench: %s\n", err.msg);
		goto out_defs;
	}
	if (bench_run(&run, &node, &o, &err) < 0) {
		fprintf(stderr, "moat bench: %s\n", err.msg);
		goto out_run;
	}
	for (size_t i = 0; i < o.nwaivers; i++) {
		bool known = false;
		for (size_t k = 0; k < defs.nchecks && !known; k++)
			known = strcmp(defs.checks[k].id, o.waivers[i].check) == 0 &&
				strcmp(defs.checks[k].benchmark, run.benchmark) == 0;
		if (!known) {
			fprintf(stderr, "moat bench: %s: check %s: %s has no such control\n",
				o.waivers[i].where, o.waivers[i].check, run.benchmark);
			goto out_run;
		}
	}
	rc = MOAT_EXIT_OK;
	if (fail_on >= 0 && (run.count[BENCH_FAIL] || (fail_on == BENCH_WARN && run.count[BENCH_WARN])))
		rc = MOAT_EXIT_FINDINGS;
	if (fail_under >= 0 && run.score < fail_under)
		rc = MOAT_EXIT_FINDINGS;
	if (format != BENCH_TEXT)
		fprintf(stderr, "moat bench: benchmark %s\n", run.benchmark_reason);
	bool color = format == BENCH_TEXT && isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
	if (bench_write(&run, (enum bench_format)format, stdout, color) < 0 || fflush(stdout) != 0) {
		fprintf(stderr, "moat bench: writing the report: %s\n", strerror(errno));
		rc = MOAT_EXIT_SYSTEM;
	}
	for (size_t i = 0; i < nouts; i++)
		if (write_output(&run, &outs[i]) < 0)
			rc = MOAT_EXIT_SYSTEM;
	if (fail_under >= 0 && run.score < fail_under && rc != MOAT_EXIT_SYSTEM)
		fprintf(stderr, "moat bench: score %.1f%% is under --fail-under %g%%\n", run.score,
			fail_under);
out_run:
	bench_run_free(&run);
	bench_node_close(&node);
out_defs:
	free(o.targets);
	free(o.only);
	free(o.skip);
	free(o.waivers);
	arena_free(warena);
	bench_defs_free(&defs);
	return rc;
}
