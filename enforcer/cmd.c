/* SPDX-License-Identifier: Apache-2.0 */
/* `moat seccomp` and `moat caps`: options in, filters and capability sets out. */
#include "enforcer.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <sys/stat.h>

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

static int usage_error(const char *cmd, const char *fmt, ...) PRINTF(2, 3);
static int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "moat %s: ", cmd);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nRun 'moat %s --help' for usage.\n", cmd);
	return MOAT_EXIT_INPUT;
}

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
	"\n"
	"Check a NodePolicy file (docs/node-policy.md) without privileges: its schema,\n"
	"ports, prefixes, ICMP types and cgroup paths, each error with file:line:col.\n"
	"\n"
	"Applying a policy to the host (apply, status, confirm, remove) is not in this\n"
	"release.\n"
	"\n"
	"Exit status: 0 valid, 2 invalid or bad usage, 3 the file could not be read.\n";

int enforce_cmd(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(enforce_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? MOAT_EXIT_INPUT : MOAT_EXIT_OK;
	}
	if (strcmp(argv[1], "check") != 0)
		return usage_error("enforce", "unknown subcommand '%s' (this release has: check)",
				   argv[1]);
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "format", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL;
	bool json = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc - 1, argv + 1, "f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			file = optarg;
			break;
		case 'F':
			if (strcmp(optarg, "json") && strcmp(optarg, "text"))
				return usage_error("enforce", "--format %s: expected text or json", optarg);
			json = strcmp(optarg, "json") == 0;
			break;
		case 'h':
			fputs(enforce_usage, stdout);
			return MOAT_EXIT_OK;
		default:
			return usage_error("enforce", "option '%s' is unknown or needs a value",
					   argv[optind]);
		}
	}
	if (!file)
		return usage_error("enforce", "check: name the policy with -f FILE");
	if (optind < argc - 1)
		return usage_error("enforce", "unexpected argument '%s'", argv[optind + 1]);
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
		return err.errnum == EINVAL || err.errnum == EBADMSG || err.errnum == EMLINK ||
				       err.errnum == EFBIG || err.errnum == ENOENT
			       ? MOAT_EXIT_INPUT
			       : MOAT_EXIT_SYSTEM;
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
