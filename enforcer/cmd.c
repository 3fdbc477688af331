/* SPDX-License-Identifier: Apache-2.0 */
/* `moat seccomp` and `moat caps`: options in, filters and capability sets out. */
#include "enforcer.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <sys/stat.h>
#include <time.h>

static const char seccomp_usage[] =
	"Usage: moat seccomp compile PROFILE.json [--caps LIST] [--arch ARCH] [-o FILE]\n"
	"                            [--format bpf|text]\n"
	"       moat seccomp exec PROFILE.json [--caps LIST] [--log] -- CMD [ARG...]\n"
	"\n"
	"Compile a Docker/OCI seccomp profile with libseccomp, or run a command under\n"
	"it.  The profile format is Docker's in full: defaultAction, defaultErrnoRet,\n"
	"architectures, archMap, names or name, action, errnoRet, args, includes and\n"
	"excludes (caps, arches, minKernel) and flags.\n"
	"\n"
	"Options:\n"
	"  -c, --caps LIST      capabilities the process holds (CAP_NET_ADMIN,chown,\n"
	"                       ALL, none): they pick the profile's includes and\n"
	"                       excludes, and exec keeps exactly these (default: none)\n"
	"  -a, --arch ARCH      compile for ARCH (x86_64, x86, aarch64...; default: this one)\n"
	"  -o, --output FILE    write the filter to FILE (default: standard output)\n"
	"  -f, --format FORMAT  bpf (the kernel's sock_filter array) or text (default: bpf\n"
	"                       to a file, text to a terminal)\n"
	"  -l, --log            log what the filter does not allow (exec)\n"
	"  -h, --help           show this help\n"
	"\n"
	"exec drops every capability not in --caps from every set, sets no_new_privs,\n"
	"loads the filter last, then runs CMD.  Unknown syscall names are skipped with a\n"
	"warning; syscalls newer than every one the profile names return ENOSYS.\n"
	"\n"
	"Exit status: 0 done (exec: CMD's own status), 2 bad profile or usage, 3 system\n"
	"error.\n";

static const char caps_usage[] =
	"Usage: moat caps show PID [--format text|json]\n"
	"\n"
	"Show a process's capability sets, no_new_privs and seccomp mode, as\n"
	"/proc/PID/status holds them, with capability names.\n";

#define usage_error moat_usage_error

/* Warnings from compiling (unknown syscall names) reach the user. */
static void log_to_stderr(enum moat_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level <= MOAT_LOG_WARN)
		fprintf(stderr, "moat seccomp: %s%s\n", level == MOAT_LOG_WARN ? "warning: " : "", msg);
}

int seccomp_cmd(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "caps", required_argument, NULL, 'c' }, { "arch", required_argument, NULL, 'a' },
		{ "output", required_argument, NULL, 'o' }, { "format", required_argument, NULL, 'f' },
		{ "log", no_argument, NULL, 'l' },	  { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(seccomp_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? MOAT_EXIT_INPUT : MOAT_EXIT_OK;
	}
	const char *sub = argv[1];
	bool exec = strcmp(sub, "exec") == 0;
	if (!exec && strcmp(sub, "compile") != 0)
		return usage_error("seccomp", "unknown subcommand '%s' (expected compile or exec)", sub);
	struct seccomp_options o = { 0 };
	const char *output = NULL, *caps = NULL, *format = NULL;
	int c;
	optind = 1;
	opterr = 0;
	argc--;
	argv++;
	/* "+": stop at the first operand, so CMD's own options stay CMD's. */
	while ((c = getopt_long(argc, argv, "+c:a:o:f:lh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			caps = optarg;
			break;
		case 'a':
			o.arch = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "bpf") && strcmp(optarg, "text"))
				return usage_error("seccomp", "--format %s: expected bpf or text", optarg);
			format = optarg;
			break;
		case 'l':
			o.log = true;
			break;
		case 'h':
			fputs(seccomp_usage, stdout);
			return MOAT_EXIT_OK;
		default:
			return usage_error("seccomp", "option '%s' is unknown or needs a value",
					   argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return usage_error("seccomp", "%s: no profile given", sub);
	const char *profile = argv[optind++];
	/* Options may also follow the profile. */
	while ((c = getopt_long(argc, argv, "+c:a:o:f:lh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			caps = optarg;
			break;
		case 'a':
			o.arch = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "bpf") && strcmp(optarg, "text"))
				return usage_error("seccomp", "--format %s: expected bpf or text", optarg);
			format = optarg;
			break;
		case 'l':
			o.log = true;
			break;
		default:
			return usage_error("seccomp", "option '%s' is unknown or needs a value",
					   argv[optind - 1]);
		}
	}
	if (exec && optind >= argc)
		return usage_error("seccomp", "exec: no command given (moat seccomp exec PROFILE -- CMD)");
	if (!exec && optind < argc)
		return usage_error("seccomp", "unexpected argument '%s'", argv[optind]);

	struct moat_error err = { 0 };
	if (caps && caps_parse(caps, &o.caps, &err) < 0)
		return usage_error("seccomp", "--caps: %s", err.msg);
	struct seccomp_profile *p = NULL;
	if (seccomp_profile_load(profile, &p, &err) < 0) {
		fprintf(stderr, "moat seccomp: %s\n", err.msg);
		return moat_error_exit_code(&err) == MOAT_EXIT_SYSTEM && err.errnum != ENOENT
			       ? MOAT_EXIT_SYSTEM
			       : MOAT_EXIT_INPUT;
	}
	moat_log_set_handler(log_to_stderr, NULL);
	void *ctx = NULL;
	struct seccomp_stats st;
	int rc = MOAT_EXIT_OK;
	if (seccomp_profile_compile(p, &o, &ctx, &st, &err) < 0) {
		fprintf(stderr, "moat seccomp: %s\n", err.msg);
		seccomp_profile_free(p);
		return MOAT_EXIT_INPUT;
	}
	seccomp_profile_free(p);
	if (!exec) {
		int fd = STDOUT_FILENO;
		bool text = format ? strcmp(format, "text") == 0 : (!output && isatty(STDOUT_FILENO));
		if (output) {
			fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (fd < 0) {
				fprintf(stderr, "moat seccomp: %s: %s\n", output, strerror(errno));
				seccomp_ctx_free(ctx);
				return MOAT_EXIT_SYSTEM;
			}
		}
		if (seccomp_ctx_export(ctx, text, fd, &err) < 0) {
			fprintf(stderr, "moat seccomp: %s\n", err.msg);
			rc = MOAT_EXIT_SYSTEM;
		}
		if (output && close(fd) < 0)
			rc = MOAT_EXIT_SYSTEM;
		fprintf(stderr, "moat seccomp: %zu rules (%zu entries not applying, %zu unknown names "
				"skipped); ENOSYS above syscall %d\n",
			st.rules, st.skipped_entries, st.skipped_names, st.highest_nr);
		seccomp_ctx_free(ctx);
		return rc;
	}
	/* The privilege-drop order: capabilities, no_new_privs, seccomp last,
	 * so nothing after the filter needs a syscall it may deny. */
	if (caps_keep(o.caps, &err) < 0 || seccomp_ctx_load(ctx, &err) < 0) {
		fprintf(stderr, "moat seccomp: %s\n", err.msg);
		seccomp_ctx_free(ctx);
		return MOAT_EXIT_SYSTEM;
	}
	seccomp_ctx_free(ctx);
	execvp(argv[optind], argv + optind);
	fprintf(stderr, "moat seccomp: %s: %s\n", argv[optind], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}

int caps_cmd(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(caps_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? MOAT_EXIT_INPUT : MOAT_EXIT_OK;
	}
	if (strcmp(argv[1], "show") != 0)
		return usage_error("caps", "unknown subcommand '%s' (expected show)", argv[1]);
	const char *pid_s = NULL;
	bool json = false;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
			if (strcmp(argv[i + 1], "json") && strcmp(argv[i + 1], "text"))
				return usage_error("caps", "--format %s: expected text or json", argv[i + 1]);
			json = strcmp(argv[++i], "json") == 0;
		} else if (strncmp(argv[i], "--format=", 9) == 0) {
			json = strcmp(argv[i] + 9, "json") == 0;
		} else if (!pid_s && argv[i][0] != '-') {
			pid_s = argv[i];
		} else {
			return usage_error("caps", "unexpected argument '%s'", argv[i]);
		}
	}
	char *end;
	long pid = pid_s ? strtol(pid_s, &end, 10) : 0;
	if (!pid_s || *end || pid <= 0 || pid > 4194304)
		return usage_error("caps", "show: expected a process id");
	struct proc_caps pc;
	struct moat_error err = { 0 };
	if (caps_read((pid_t)pid, &pc, &err) < 0) {
		fprintf(stderr, "moat caps: %s\n", err.msg);
		return err.errnum == ENOENT ? MOAT_EXIT_INPUT : MOAT_EXIT_SYSTEM;
	}
	static const char *const names[] = { "inheritable", "permitted", "effective", "bounding",
					      "ambient" };
	cap_mask sets[] = { pc.inheritable, pc.permitted, pc.effective, pc.bounding, pc.ambient };
	static const char *const modes[] = { "disabled", "strict", "filter" };
	const char *mode = pc.seccomp >= 0 && pc.seccomp <= 2 ? modes[pc.seccomp] : "unknown";
	if (json) {
		json_t *o = json_pack("{s:i}", "pid", (int)pid);
		for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
			json_t *arr = json_array();
			_cleanup_free_ char *list = caps_format(sets[i]);
			if (sets[i])
				for (char *t = strtok(list, ","); t; t = strtok(NULL, ","))
					json_array_append_new(arr, json_string(t));
			json_object_set_new(o, names[i], arr);
		}
		json_object_set_new(o, "noNewPrivs", pc.no_new_privs < 0 ? json_null()
									  : json_boolean(pc.no_new_privs));
		json_object_set_new(o, "seccomp", json_string(mode));
		int r = json_write(stdout, o, true);
		json_decref(o);
		return r < 0 ? MOAT_EXIT_SYSTEM : MOAT_EXIT_OK;
	}
	printf("pid %ld\n", pid);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		_cleanup_free_ char *list = caps_format(sets[i]);
		printf("  %-12s %016llx  %s\n", names[i], (unsigned long long)sets[i], list);
	}
	printf("  %-12s %s\n  %-12s %s\n", "noNewPrivs", pc.no_new_privs == 1 ? "yes" : "no", "seccomp",
	       mode);
	return MOAT_EXIT_OK;
}

static const char enforce_usage[] =
	"Usage: moat enforce check -f POLICY [--format text|json]\n"
	"       moat enforce apply -f POLICY [--audit] [--confirm-within SECONDS]\n"
	"                          [--pin-dir DIR] [--force] [--mode auto|native|generic|tc]\n"
	"       moat enforce status [--format text|json] [--pin-dir DIR]\n"
	"       moat enforce confirm [--pin-dir DIR]\n"
	"       moat enforce remove [--pin-dir DIR]\n"
	"\n"
	"Lock the host down with a NodePolicy (docs/node-policy.md): the management NIC\n"
	"answers only its ingress rules (XDP, or TC ingress where XDP cannot attach;\n"
	"replies to connections the host opened pass), the nodePorts range is dropped\n"
	"on every other interface, and processes in the hostServing cgroups bind and\n"
	"listen only on the ports allowed.\n"
	"\n"
	"  check    validate POLICY without privileges, each error with file:line:col\n"
	"  apply    attach and pin the policy; over a running one, swap atomically\n"
	"  status   what is attached where, counters per rule, drops by reason\n"
	"  confirm  keep a policy applied with --confirm-within\n"
	"  remove   detach and unpin everything\n"
	"\n"
	"Options:\n"
	"  -f, --file POLICY           the NodePolicy file\n"
	"      --audit                 count would-be drops per rule and reason; drop nothing\n"
	"      --confirm-within SECS   roll back unless 'moat enforce confirm' comes in time\n"
	"      --force                 apply even if it would cut this SSH session\n"
	"      --mode MODE             XDP native, generic, or TC ingress (default: auto,\n"
	"                              native where the driver can, then generic, then TC)\n"
	"      --pin-dir DIR           where the state is pinned (default " ENFORCE_PIN_DIR ")\n"
	"      --format text|json      output format\n"
	"  -h, --help                  show this help\n"
	"\n"
	"Exit status: 0 done (status: a policy is applied and attached), 1 refused\n"
	"(apply: it would cut this SSH session, or an apply awaits confirmation),\n"
	"nothing applied, nothing to confirm, or an attachment is missing; 2 bad\n"
	"policy or usage; 3 system error (apply needs root).\n";

static int enforce_exit(const struct moat_error *err)
{
	switch (err->errnum) {
	case EINVAL:
	case EBADMSG:
	case EMLINK:
	case EFBIG:
	case ENOENT:
	case ENODEV:
	case ENOTDIR:
	case E2BIG:
		return MOAT_EXIT_INPUT;
	default:
		return MOAT_EXIT_SYSTEM;
	}
}

static void fmt_time(char *buf, size_t n, long long t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, n, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static void print_status(json_t *o)
{
	char when[64];
	json_t *rb = json_object_get(o, "rolledBack");
	if (rb) {
		fmt_time(when, sizeof(when), json_integer_value(json_object_get(rb, "at")));
		printf("Rolled back: NodePolicy %s at %s (%s)\n",
		       json_string_value(json_object_get(rb, "policy")), when,
		       json_string_value(json_object_get(rb, "reason")));
	}
	if (!json_is_true(json_object_get(o, "applied"))) {
		printf("No NodePolicy is applied (%s).\n", json_string_value(json_object_get(o, "pinDir")));
		return;
	}
	fmt_time(when, sizeof(when), json_integer_value(json_object_get(o, "appliedAt")));
	const char *file = json_string_value(json_object_get(o, "file"));
	printf("NodePolicy %s%s%s%s, applied %s, generation %lld%s\n",
	       json_string_value(json_object_get(o, "policy")), file && *file ? " (" : "",
	       file ? file : "", file && *file ? ")" : "", when,
	       (long long)json_integer_value(json_object_get(o, "generation")),
	       json_is_true(json_object_get(o, "audit")) ? ", AUDIT: nothing is dropped" : "");
	json_t *pend = json_object_get(o, "pending");
	if (pend) {
		fmt_time(when, sizeof(when), json_integer_value(json_object_get(pend, "deadline")));
		printf("  awaiting 'moat enforce confirm' until %s; it rolls back otherwise\n", when);
	}
	printf("Attached:\n");
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(o, "attachments"), i, a) {
		const char *target = json_string_value(json_object_get(a, "interface"));
		printf("  %-10s %-12s %s%s\n", json_string_value(json_object_get(a, "hook")),
		       json_string_value(json_object_get(a, "mode")),
		       target ? target : json_string_value(json_object_get(a, "cgroup")),
		       json_is_true(json_object_get(a, "attached")) ? "" : "  (DETACHED)");
	}
	json_t *rules = json_object_get(o, "rules");
	if (json_array_size(rules)) {
		printf("Rules:  %-20s %-6s %-16s %12s %14s %12s\n", "name", "proto", "ports", "packets",
		       "bytes", "wrong-source");
		json_array_foreach(rules, i, a) {
			const char *name = json_string_value(json_object_get(a, "name"));
			char idx[32];
			snprintf(idx, sizeof(idx), "#%zu", i);
			printf("        %-20s %-6s %-16s %12lld %14lld %12lld\n", name ? name : idx,
			       name ? json_string_value(json_object_get(a, "protocol")) : "",
			       name ? json_string_value(json_object_get(a, "ports")) : "",
			       (long long)json_integer_value(json_object_get(a, "packets")),
			       (long long)json_integer_value(json_object_get(a, "bytes")),
			       (long long)json_integer_value(json_object_get(a, "sourceDrops")));
		}
	}
	json_t *drops = json_object_get(o, "drops");
	bool audit = !drops;
	if (audit)
		drops = json_object_get(o, "wouldDrop");
	printf("%s by reason:", audit ? "Would drop" : "Dropped");
	const char *k;
	json_t *v;
	json_object_foreach(drops, k, v)
		printf(" %s %lld", k, (long long)json_integer_value(v));
	printf("\nHost-opened flows tracked: %lld\n",
	       (long long)json_integer_value(json_object_get(o, "hostFlows")));
}

static bool all_attached(json_t *o)
{
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(o, "attachments"), i, a)
		if (!json_is_true(json_object_get(a, "attached")))
			return false;
	return json_is_true(json_object_get(o, "applied"));
}

static int enforce_check(const char *file, bool json)
{
	struct node_policy *p = NULL;
	struct moat_error err = { 0 };
	if (node_policy_load(file, &p, &err) < 0) {
		if (json) {
			json_t *o = json_pack("{s:b, s:s}", "valid", 0, "error", err.msg);
			json_write(stdout, o, true);
			json_decref(o);
		} else {
			fprintf(stderr, "moat enforce: %s\n", err.msg);
		}
		return enforce_exit(&err);
	}
	_cleanup_free_ char *display = path_display(file);
	if (json) {
		json_t *o = json_pack("{s:b, s:s, s:s, s:i, s:i, s:i}", "valid", 1, "name", p->name,
				      "interface", p->interface, "ingressRules", (int)p->nrules,
				      "hostServingCgroups", (int)p->ncgroups, "hostServingAllow",
				      (int)p->nserve);
		json_write(stdout, o, true);
		json_decref(o);
	} else {
		printf("%s: NodePolicy %s is valid: ", display, p->name);
		if (p->has_management)
			printf("%zu ingress rule%s on %s (default %s)", p->nrules,
			       p->nrules == 1 ? "" : "s", p->interface,
			       p->default_allow ? "allow" : "deny");
		else
			fputs("no management NIC rules", stdout);
		if (p->node_ports.lo)
			printf(", nodePorts %u-%u %s", p->node_ports.lo, p->node_ports.hi,
			       p->node_ports_deny ? "dropped" : "allowed");
		if (p->ncgroups)
			printf(", %zu serving cgroup%s", p->ncgroups, p->ncgroups == 1 ? "" : "s");
		putchar('\n');
	}
	node_policy_free(p);
	return MOAT_EXIT_OK;
}

static int enforce_apply_cmd(const char *file, const struct enforce_options *o, bool json)
{
	struct node_policy *p = NULL;
	struct moat_error err = { 0 };
	if (node_policy_load(file, &p, &err) < 0) {
		fprintf(stderr, "moat enforce: %s\n", err.msg);
		return enforce_exit(&err);
	}
	struct enforce_result res;
	int r = enforce_apply(p, o, &res, &err);
	node_policy_free(p);
	if (r < 0) {
		fprintf(stderr, "moat enforce: apply %s: %s%s\n", file, err.msg,
			err.errnum == EPERM ? " (apply needs root: CAP_BPF, CAP_NET_ADMIN and "
					      "CAP_SYS_ADMIN)"
					    : "");
		return enforce_exit(&err);
	}
	if (res.refused) {
		fprintf(stderr, "moat enforce: refusing to apply %s: %s%s\n", file, res.why,
			strstr(res.why, "SSH") ? "; add a rule for it, or use --force" : "");
		return MOAT_EXIT_FINDINGS;
	}
	json_t *st = NULL;
	struct moat_error e2 = { 0 };
	enforce_status(o->pin_dir, &st, &e2);
	if (json) {
		json_t *out = st ? st : json_object();
		json_object_set_new(out, "replaced", json_boolean(res.replaced));
		json_write(stdout, out, true);
	} else {
		fprintf(stderr, "moat enforce: %s %s (generation %lld)%s\n",
			res.replaced ? "swapped in" : "applied", file, res.generation,
			o->audit ? " in audit mode: nothing is dropped" : "");
		if (st) {
			size_t i;
			json_t *a;
			json_array_foreach(json_object_get(st, "attachments"), i, a) {
				const char *t = json_string_value(json_object_get(a, "interface"));
				fprintf(stderr, "  %-10s %-12s %s\n",
					json_string_value(json_object_get(a, "hook")),
					json_string_value(json_object_get(a, "mode")),
					t ? t : json_string_value(json_object_get(a, "cgroup")));
			}
		}
		if (res.deadline) {
			char when[64];
			fmt_time(when, sizeof(when), res.deadline);
			fprintf(stderr,
				"moat enforce: run 'moat enforce confirm' by %s, or it rolls back "
				"(watchdog pid %ld)\n",
				when, (long)res.watchdog);
		}
	}
	json_decref(st);
	return MOAT_EXIT_OK;
}

int enforce_cmd(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(enforce_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? MOAT_EXIT_INPUT : MOAT_EXIT_OK;
	}
	static const char *const subs[] = { "check", "apply", "status", "confirm", "remove" };
	const char *sub = argv[1];
	size_t which = ARRAY_SIZE(subs);
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
		if (strcmp(sub, subs[i]) == 0)
			which = i;
	if (which == ARRAY_SIZE(subs))
		return usage_error("enforce",
				   "unknown subcommand '%s' (check, apply, status, confirm, remove)",
				   sub);
	enum { O_AUDIT = 256, O_CONFIRM, O_PIN, O_FORCE, O_MODE };
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "format", required_argument, NULL, 'F' },
		{ "audit", no_argument, NULL, O_AUDIT },
		{ "confirm-within", required_argument, NULL, O_CONFIRM },
		{ "pin-dir", required_argument, NULL, O_PIN },
		{ "force", no_argument, NULL, O_FORCE },
		{ "mode", required_argument, NULL, O_MODE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct enforce_options o = { 0 };
	const char *file = NULL;
	bool json = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc - 1, argv + 1, "f:h", opts, NULL)) != -1) {
		bool ok = true;
		switch (c) {
		case 'f':
			file = optarg;
			break;
		case 'F':
			if (strcmp(optarg, "json") && strcmp(optarg, "text"))
				return usage_error("enforce", "--format %s: expected text or json", optarg);
			json = strcmp(optarg, "json") == 0;
			break;
		case O_AUDIT:
			o.audit = true;
			ok = which == 1;
			break;
		case O_FORCE:
			o.force = true;
			ok = which == 1;
			break;
		case O_CONFIRM: {
			char *end;
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || v == 0 || v > 86400)
				return usage_error("enforce",
						   "--confirm-within %s: expected seconds, 1 to 86400",
						   optarg);
			o.confirm_within = (unsigned)v;
			ok = which == 1;
			break;
		}
		case O_PIN:
			if (optarg[0] != '/' || strlen(optarg) > 200)
				return usage_error("enforce", "--pin-dir %s: expected an absolute path "
							      "of at most 200 bytes", optarg);
			o.pin_dir = optarg;
			break;
		case O_MODE:
			if (strcmp(optarg, "auto") && strcmp(optarg, "native") &&
			    strcmp(optarg, "generic") && strcmp(optarg, "tc"))
				return usage_error("enforce",
						   "--mode %s: expected auto, native, generic or tc",
						   optarg);
			o.mode = optarg;
			ok = which == 1;
			break;
		case 'h':
			fputs(enforce_usage, stdout);
			return MOAT_EXIT_OK;
		default:
			return usage_error("enforce", "option '%s' is unknown or needs a value",
					   argv[optind]);
		}
		if (!ok)
			return usage_error("enforce", "%s: only apply takes %s", sub, argv[optind]);
	}
	if (optind < argc - 1)
		return usage_error("enforce", "unexpected argument '%s'", argv[optind + 1]);
	if (which <= 1 && !file)
		return usage_error("enforce", "%s: name the policy with -f FILE", sub);
	if (which > 1 && file)
		return usage_error("enforce", "%s takes no -f", sub);
	if (which == 0)
		return enforce_check(file, json);
	if (which == 1) {
		o.policy_file = file;
		return enforce_apply_cmd(file, &o, json);
	}
	struct moat_error err = { 0 };
	const char *dir = o.pin_dir ? o.pin_dir : ENFORCE_PIN_DIR;
	if (which == 2) {
		json_t *st = NULL;
		int r = enforce_status(o.pin_dir, &st, &err);
		if (r < 0) {
			fprintf(stderr, "moat enforce: status: %s\n", err.msg);
			return MOAT_EXIT_SYSTEM;
		}
		if (!st)
			st = json_pack("{s:s, s:b}", "pinDir", dir, "applied", 0);
		if (json)
			json_write(stdout, st, true);
		else
			print_status(st);
		bool ok = all_attached(st);
		json_decref(st);
		return ok ? MOAT_EXIT_OK : MOAT_EXIT_FINDINGS;
	}
	int r = which == 3 ? enforce_confirm(o.pin_dir, &err) : enforce_remove(o.pin_dir, &err);
	if (r < 0) {
		fprintf(stderr, "moat enforce: %s: %s\n", sub, err.msg);
		return MOAT_EXIT_SYSTEM;
	}
	if (json) {
		json_t *out = json_pack("{s:s, s:b}", "pinDir", dir, which == 3 ? "confirmed" : "removed",
					r == 0);
		json_write(stdout, out, true);
		json_decref(out);
	} else if (r == 0) {
		fprintf(stderr, "moat enforce: %s\n",
			which == 3 ? "confirmed: the policy stays" : "removed: nothing is attached");
	} else {
		fprintf(stderr, "moat enforce: %s: %s (%s)\n", sub,
			which == 3 ? "no apply awaits confirmation" : "no policy is applied", dir);
	}
	return r == 0 ? MOAT_EXIT_OK : MOAT_EXIT_FINDINGS;
}
