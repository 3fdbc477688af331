/* SPDX-License-Identifier: Apache-2.0 */
/* `moat policy check`: options in, report out, exit code for CI. */
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sys/stat.h>

static const char check_usage[] =
	"Usage: moat policy check [options] PATH... | -\n"
	"\n"
	"Check Kubernetes manifests against the Pod Security Standards and moat's\n"
	"share-nothing rules.  PATH is a file, a directory (searched for *.yaml,\n"
	"*.yml and *.json) or - for standard input.\n"
	"\n"
	"Options:\n"
	"  -l, --level LEVEL       privileged, baseline or restricted (default: restricted)\n"
	"  -V, --version VERSION   policy version v1.0 .. v1.37, or latest (default: latest)\n"
	"      --no-share-nothing  skip the share-nothing rules (hostPath, host namespaces,\n"
	"                          hostPort, NodePort and LoadBalancer node ports)\n"
	"  -f, --format FORMAT     text, json, sarif or junit (default: text)\n"
	"  -e, --exceptions FILE   waive checks for named objects, with reason and expiry\n"
	"  -o, --output FILE       write the report to FILE instead of standard output\n"
	"  -q, --quiet             text format: print only the findings, no summary\n"
	"  -j, --jobs N            check N files at a time (default: one per CPU)\n"
	"  -h, --help              show this help\n"
	"\n"
	"Exit status: 0 no violation, 1 violations found, 2 invalid input or usage\n"
	"(the other inputs are still checked), 3 system error.\n"
	"\n"
	"Checks:\n";

static void print_check_usage(FILE *out)
{
	fputs(check_usage, out);
	for (int i = 0; i < R_COUNT; i++)
		fprintf(out, "  %-38s %s\n", policy_rules[i].id, policy_rules[i].level);
	fputs("\nSee moat-policy(1) for the exceptions file and the JSON schema.\n", out);
}

static const char policy_usage[] =
	"Usage: moat policy check [options] PATH... | -\n"
	"\n"
	"Subcommands:\n"
	"  check   check manifests against the Pod Security Standards and share-nothing rules\n"
	"\n"
	"Run 'moat policy check --help' for its options.\n";

/* The inputs, listed before any is read: files are checked in parallel and
 * their reports joined in this order, so output does not depend on timing. */
struct input {
	char *path;
	char *walk_error; /* set when walking could not reach it */
	uint32_t line, col; /* where in the input walk_error points */
	struct report rep;
	bool done;
};

#define MOAT_MAX_JOBS 64

struct run {
	const struct policy_config *cfg;
	const char *command;
	bool keep_all_objects;
	struct input *in;
	size_t n, cap, next;
	dev_t out_dev; /* the -o file, when it exists: a report is not input */
	ino_t out_ino;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static int list_one(const char *path, const struct moat_error *err, void *ctx)
{
	struct run *run = ctx;
	struct stat st;
	if (!err && run->out_ino && strcmp(path, "-") != 0 && stat(path, &st) == 0 &&
	    st.st_dev == run->out_dev && st.st_ino == run->out_ino)
		return 0;
	run->in = grow_array(run->in, &run->cap, run->n + 1, sizeof(*run->in));
	struct input *in = &run->in[run->n++];
	memset(in, 0, sizeof(*in));
	in->path = xstrdup(path);
	in->line = in->col = 1;
	if (err)
		in->walk_error = xstrdup(moat_error_where(err, path, &in->line, &in->col));
	return 0;
}

static void check_input(struct run *run, struct input *in)
{
	report_init(&in->rep, run->command, policy_rules, R_COUNT);
	in->rep.keep_all_objects = run->keep_all_objects;
	if (in->walk_error) {
		_cleanup_free_ char *d = path_display(in->path);
		report_note(&in->rep, REPORT_ERROR, "invalid-input", d, in->line, in->col, "%s",
			    in->walk_error);
	} else {
		policy_check_file(run->cfg, in->path, &in->rep);
	}
}

static void *worker(void *arg)
{
	struct run *run = arg;
	pthread_mutex_lock(&run->lock);
	while (run->next < run->n) {
		struct input *in = &run->in[run->next++];
		pthread_mutex_unlock(&run->lock);
		check_input(run, in);
		pthread_mutex_lock(&run->lock);
		in->done = true;
		pthread_cond_broadcast(&run->cond);
	}
	pthread_mutex_unlock(&run->lock);
	policy_thread_exit();
	return NULL;
}

/* Checks every input with up to jobs threads and joins the reports, in input
 * order, into rep as each is done. */
static void check_all(struct run *run, unsigned jobs, struct report *rep)
{
	struct progress progress;
	progress_start(&progress, "checked files:", run->n);
	pthread_t tids[MOAT_MAX_JOBS];
	unsigned started = 0;
	if (jobs > run->n)
		jobs = (unsigned)run->n;
	pthread_mutex_init(&run->lock, NULL);
	pthread_cond_init(&run->cond, NULL);
	for (; jobs > 1 && started < jobs; started++)
		if (pthread_create(&tids[started], NULL, worker, run) != 0)
			break; /* fewer threads, same result */
	for (size_t i = 0; i < run->n; i++) {
		struct input *in = &run->in[i];
		pthread_mutex_lock(&run->lock);
		if (!started && run->next == i) {
			/* No worker: this thread does the work. */
			run->next++;
			pthread_mutex_unlock(&run->lock);
			check_input(run, in);
			pthread_mutex_lock(&run->lock);
			in->done = true;
		}
		while (!in->done)
			pthread_cond_wait(&run->cond, &run->lock);
		pthread_mutex_unlock(&run->lock);
		report_merge(rep, &in->rep);
		report_release(&in->rep);
		progress_step(&progress);
	}
	for (unsigned t = 0; t < started; t++)
		pthread_join(tids[t], NULL);
	pthread_cond_destroy(&run->cond);
	pthread_mutex_destroy(&run->lock);
	progress_end(&progress);
}

static void run_free(struct run *run)
{
	for (size_t i = 0; i < run->n; i++) {
		free(run->in[i].path);
		free(run->in[i].walk_error);
	}
	free(run->in);
}

#define usage_error(...) moat_usage_error("policy check", __VA_ARGS__)

static int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "level", required_argument, NULL, 'l' },
		{ "version", required_argument, NULL, 'V' },
		{ "no-share-nothing", no_argument, NULL, 'N' },
		{ "format", required_argument, NULL, 'f' },
		{ "exceptions", required_argument, NULL, 'e' },
		{ "output", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct policy_config cfg = { .level = PSS_RESTRICTED, .minor = PSS_NEWEST_MINOR,
				     .share_nothing = true };
	const char *version = "latest", *exceptions_path = NULL, *output = NULL;
	int format = REPORT_TEXT, c;
	bool quiet = false;
	/* Files are checked in parallel, one thread per online CPU by default. */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned jobs = ncpu < 1 ? 1 : ncpu > MOAT_MAX_JOBS ? MOAT_MAX_JOBS : (unsigned)ncpu;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "l:V:f:e:o:qj:h", opts, NULL)) != -1) {
		switch (c) {
		case 'l': {
			int l = pss_level_parse(optarg);
			if (l < 0)
				return usage_error("unknown level '%s' (expected privileged, "
						   "baseline or restricted)", optarg);
			cfg.level = (enum pss_level)l;
			break;
		}
		case 'V':
			if (pss_version_parse(optarg, &cfg.minor) < 0)
				return usage_error("bad version '%s' (expected v1.N, e.g. v1.30, "
						   "or latest)", optarg);
			version = optarg;
			break;
		case 'N':
			cfg.share_nothing = false;
			break;
		case 'f':
			format = report_format_parse(optarg);
			if (format < 0)
				return usage_error("unknown format '%s' (expected text, json, "
						   "sarif or junit)", optarg);
			break;
		case 'e':
			exceptions_path = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'j': {
			char *end;
			errno = 0;
			unsigned long n = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || n < 1 || n > MOAT_MAX_JOBS ||
			    optarg[0] == '-')
				return usage_error("bad --jobs '%s' (expected 1 to %d)", optarg,
						   MOAT_MAX_JOBS);
			jobs = (unsigned)n;
			break;
		}
		case 'h':
			print_check_usage(stdout);
			return MOAT_EXIT_OK;
		default: {
			/* getopt reports a long option by its short value; name it
			 * as the user typed it. */
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
	if (optind >= argc)
		return usage_error("no input: name files, directories, or - for stdin");

	struct policy_exceptions *ex = NULL;
	struct moat_error err = { 0 };
	if (exceptions_path &&
	    policy_exceptions_load(exceptions_path, today_days(), &ex, &err) < 0) {
		/* A broken exceptions file would turn waivers into failures, or worse;
		 * nothing is checked until it is fixed. */
		fprintf(stderr, "moat policy check: %s\n", err.msg);
		return moat_error_exit_code(&err);
	}
	cfg.exceptions = ex;

	if (output) {
		struct stat ost, ist;
		for (int i = optind; i < argc && stat(output, &ost) == 0; i++) {
			if (strcmp(argv[i], "-") != 0 && stat(argv[i], &ist) == 0 &&
			    ist.st_dev == ost.st_dev && ist.st_ino == ost.st_ino) {
				policy_exceptions_free(ex);
				return usage_error("-o %s is also an input: the report would "
						   "replace the manifest", output);
			}
		}
	}
	/* The report goes to a temporary file beside FILE, renamed over it once
	 * complete: every input is read before FILE changes, and a failed run
	 * leaves no half-written report. */
	FILE *out = stdout;
	_cleanup_free_ char *tmp = NULL;
	struct run run = { .cfg = &cfg, .command = "policy check" };
	struct stat ost;
	bool out_exists = output && lstat(output, &ost) == 0;
	if (output && out_exists && !S_ISREG(ost.st_mode)) {
		/* A device, a pipe or a link (-o /dev/null, -o /dev/stdout): write
		 * through it; renaming over it would replace it. */
		out = fopen(output, "we");
		if (!out) {
			fprintf(stderr, "moat policy check: %s: %s\n", output, strerror(errno));
			policy_exceptions_free(ex);
			return MOAT_EXIT_SYSTEM;
		}
		output = NULL; /* nothing to rename; stdout rules apply from here */
	} else if (output) {
		if (out_exists) {
			run.out_dev = ost.st_dev;
			run.out_ino = ost.st_ino;
		}
		const char *slash = strrchr(output, '/');
		tmp = slash ? xasprintf("%.*s/.%s.XXXXXX", (int)(slash - output), output, slash + 1)
			    : xasprintf(".%s.XXXXXX", output);
		int fd = mkostemp(tmp, O_CLOEXEC);
		if (fd < 0 || !(out = fdopen(fd, "w"))) {
			fprintf(stderr, "moat policy check: %s: %s\n", output, strerror(errno));
			if (fd >= 0) {
				close(fd);
				unlink(tmp);
			}
			policy_exceptions_free(ex);
			return MOAT_EXIT_SYSTEM;
		}
		fchmod(fd, 0644);
	}

	struct report rep;
	report_init(&rep, run.command, policy_rules, R_COUNT);
	rep.quiet = quiet;
	rep.keep_all_objects = format == REPORT_JUNIT;
	report_param(&rep, "level", pss_level_name(cfg.level));
	char vbuf[16];
	snprintf(vbuf, sizeof(vbuf), "v1.%u", cfg.minor);
	report_param(&rep, "version", version);
	report_param(&rep, "effectiveVersion", vbuf);
	report_param(&rep, "shareNothing", cfg.share_nothing ? "true" : "false");
	policy_exceptions_report_expired(ex, &rep);

	static const char *const suffixes[] = { ".yaml", ".yml", ".json", NULL };
	for (int i = optind; i < argc; i++) {
		err = (struct moat_error){ 0 };
		if (walk_files(argv[i], suffixes, list_one, &run, &err) < 0)
			list_one(argv[i], &err, &run);
	}
	run.keep_all_objects = rep.keep_all_objects;
	check_all(&run, jobs, &rep);
	run_free(&run);
	policy_exceptions_apply(ex, &rep);

	int rc = MOAT_EXIT_OK;
	if (report_count_notes(&rep, REPORT_ERROR))
		rc = MOAT_EXIT_INPUT;
	else if (report_violations(&rep))
		rc = MOAT_EXIT_FINDINGS;
	int wr = report_write(&rep, (enum report_format)format, out);
	if (!output && out != stdout && fclose(out) != 0)
		wr = -1;
	if (output) {
		if (fclose(out) != 0)
			wr = -1;
		if (wr == 0 && rename(tmp, output) < 0)
			wr = -1;
		if (wr < 0)
			unlink(tmp);
	}
	if (wr < 0) {
		fprintf(stderr, "moat policy check: writing the report%s%s: %s\n",
			output ? " to " : "", output ? output : "", strerror(errno));
		rc = MOAT_EXIT_SYSTEM;
	}
	if (format != REPORT_TEXT && report_count_notes(&rep, REPORT_ERROR)) {
		/* Machine formats carry errors inside; still tell the person running CI. */
		for (size_t i = 0; i < rep.nnotes; i++)
			if (rep.notes[i].kind == REPORT_ERROR)
				fprintf(stderr, "%s:%u:%u: error: %s\n", rep.notes[i].file,
					rep.notes[i].line, rep.notes[i].col, rep.notes[i].message);
	}
	report_release(&rep);
	policy_exceptions_free(ex);
	return rc;
}

int policy_cmd(int argc, char **argv)
{
	if (argc < 2) {
		fputs(policy_usage, stderr);
		return MOAT_EXIT_INPUT;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(policy_usage, stdout);
		return MOAT_EXIT_OK;
	}
	if (strcmp(argv[1], "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	fprintf(stderr, "moat policy: unknown subcommand '%s'\n%s", argv[1], policy_usage);
	return MOAT_EXIT_INPUT;
}
