/* SPDX-License-Identifier: Apache-2.0 */
/* `moat pod`: options in, pod operations out. */
#include "runtime.h"

#include "policy/policy.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <unistd.h>

static const char pod_usage[] =
	"Usage: moat pod run FILE.yaml [--wait] [--accel auto|kvm|tcg] [--net NAME|none]\n"
	"                    [--level baseline|restricted] [--format text|json]\n"
	"       moat pod ls [--format text|json]\n"
	"       moat pod inspect NAME\n"
	"       moat pod logs NAME [-c CONTAINER] [--follow]\n"
	"       moat pod exec NAME [-c CONTAINER] -- CMD [ARG...]\n"
	"       moat pod stop NAME\n"
	"       moat pod rm [-f] NAME\n"
	"\n"
	"Run a Kubernetes Pod as its own small QEMU guest that shares nothing with\n"
	"the host or other pods: read-only image disks, a private ephemeral disk,\n"
	"Secrets only in guest RAM.  FILE.yaml may also hold the ConfigMaps and\n"
	"Secrets the pod uses.  Every pod first passes admission: the share-nothing\n"
	"rules and the Pod Security level.\n"
	"\n"
	"Options:\n"
	"      --wait                 run: wait for the pod to finish\n"
	"      --accel auto|kvm|tcg   run: the accelerator (auto: kvm where the CPU shows\n"
	"                             vmx/svm, else tcg)\n"
	"      --level LEVEL          run: Pod Security level to admit at (default baseline)\n"
	"      --net NAME|none        run: the port group the pod joins (default: \"default\",\n"
	"                             made on first use); none: no network interface\n"
	"  -c, --container NAME       logs, exec: the container (default: the first)\n"
	"      --follow               logs: keep streaming until the container ends\n"
	"  -f, --force                rm: stop the pod first\n"
	"      --state-dir DIR        state (default $MOAT_STATE_DIR or " RUNTIME_STATE_DIR ")\n"
	"      --guest-dir DIR        the guest kernel and initramfs\n"
	"      --seccomp-default FILE the RuntimeDefault profile, Docker's format (default:\n"
	"                             moat's own, built in)\n"
	"      --format text|json     output format\n"
	"  -h, --help                 show this help\n"
	"\n"
	"Exit status: 0 the pod started (--wait: every container exited 0; exec: the\n"
	"command's status), 1 admission refused the pod, 2 bad input or an error,\n"
	"3 with --wait the pod failed (a container failed, or its reason says why,\n"
	"e.g. ImageIntegrity).\n"
	"\n"
	"Environment: MOAT_VERITY_READ_ALL_MAX, image disks of at most this many bytes\n"
	"are read and verified whole before containers start (default 8 MiB; 0 never).\n";

#define usage_error(...) moat_usage_error("pod", __VA_ARGS__)

static void print_pod_line(json_t *st)
{
	const char *k;
	json_t *c;
	int n = 0, running = 0, restarts = 0;
	json_object_foreach(json_object_get(st, "containers"), k, c) {
		if (json_is_true(json_object_get(c, "init")))
			continue;
		n++;
		running += strcmp(json_string_value(json_object_get(c, "state")) ?: "", "running") == 0;
		restarts += (int)json_integer_value(json_object_get(c, "restarts"));
	}
	char ready[32];
	snprintf(ready, sizeof(ready), "%d/%d", running, n);
	const char *reason = json_string_value(json_object_get(st, "reason"));
	printf("%-24s %-6s %-10s %-8s %-4s %s\n", json_string_value(json_object_get(st, "name")), ready,
	       json_string_value(json_object_get(st, "phase")), json_string_value(json_object_get(st, "vm")),
	       json_string_value(json_object_get(st, "accel")), reason ? reason : "");
	(void)restarts;
}

static void progress_line(const char *msg)
{
	/* Overwritten by the line that says how it went. */
	fprintf(stderr, "moat pod: %s...\r", msg);
}

int pod_cmd(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(pod_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? MOAT_EXIT_INPUT : MOAT_EXIT_OK;
	}
	const char *sub = argv[1];
	static const char *const subs[] = { "run", "ls", "inspect", "logs", "exec", "stop", "rm" };
	size_t which = ARRAY_SIZE(subs);
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
		if (strcmp(sub, subs[i]) == 0)
			which = i;
	if (which == ARRAY_SIZE(subs))
		return usage_error("unknown subcommand '%s' (run, ls, inspect, logs, exec, stop, rm)",
				   sub);
	enum { O_WAIT = 256, O_ACCEL, O_LEVEL, O_FOLLOW, O_STATE, O_GUEST, O_SECCOMP, O_FORMAT, O_NET };
	static const struct option opts[] = {
		{ "wait", no_argument, NULL, O_WAIT },
		{ "accel", required_argument, NULL, O_ACCEL },
		{ "level", required_argument, NULL, O_LEVEL },
		{ "container", required_argument, NULL, 'c' },
		{ "follow", no_argument, NULL, O_FOLLOW },
		{ "force", no_argument, NULL, 'f' },
		{ "state-dir", required_argument, NULL, O_STATE },
		{ "guest-dir", required_argument, NULL, O_GUEST },
		{ "seccomp-default", required_argument, NULL, O_SECCOMP },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "net", required_argument, NULL, O_NET },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct pod_options o = { .level = PSS_BASELINE, .accel = "auto" };
	const char *state = NULL, *container = NULL;
	bool wait = false, follow = false, force = false, json = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc - 1, argv + 1, "c:fh", opts, NULL)) != -1) {
		switch (c) {
		case O_WAIT:
			wait = true;
			break;
		case O_ACCEL:
			if (strcmp(optarg, "auto") && strcmp(optarg, "kvm") && strcmp(optarg, "tcg"))
				return usage_error("--accel %s: expected auto, kvm or tcg", optarg);
			o.accel = optarg;
			break;
		case O_LEVEL: {
			int l = pss_level_parse(optarg);
			if (l < 0)
				return usage_error("--level %s: expected privileged, baseline or "
						   "restricted",
						   optarg);
			o.level = l;
			break;
		}
		case 'c':
			container = optarg;
			break;
		case O_FOLLOW:
			follow = true;
			break;
		case 'f':
			force = true;
			break;
		case O_STATE:
			state = optarg;
			break;
		case O_GUEST:
			o.guest_dir = optarg;
			break;
		case O_SECCOMP:
			o.seccomp_default = optarg;
			break;
		case O_NET:
			o.net = optarg;
			break;
		case O_FORMAT:
			if (strcmp(optarg, "json") && strcmp(optarg, "text"))
				return usage_error("--format %s: expected text or json", optarg);
			json = strcmp(optarg, "json") == 0;
			break;
		case 'h':
			fputs(pod_usage, stdout);
			return MOAT_EXIT_OK;
		default:
			return usage_error("option '%s' is unknown or needs a value", argv[optind]);
		}
	}
	o.state_dir = runtime_state_dir(state);
	char **rest = argv + 1 + optind;
	int nrest = argc - 1 - optind;
	struct moat_error err = { 0 };
	if (which == 1) { /* ls */
		json_t *all;
		if (pod_list(&o, &all, &err) < 0) {
			fprintf(stderr, "moat pod: %s\n", err.msg);
			return MOAT_EXIT_INPUT;
		}
		if (json) {
			json_write(stdout, all, true);
		} else {
			printf("%-24s %-6s %-10s %-8s %-4s %s\n", "NAME", "READY", "PHASE", "VM", "ACCEL",
			       "REASON");
			size_t i;
			json_t *st;
			json_array_foreach(all, i, st) print_pod_line(st);
		}
		json_decref(all);
		return MOAT_EXIT_OK;
	}
	if (nrest < 1)
		return usage_error("%s: name the %s", sub, which == 0 ? "manifest" : "pod");
	if (which == 4) { /* exec NAME -- CMD... (getopt stops at --) */
		if (nrest < 2)
			return usage_error("exec: give the command after --");
		int code;
		if (pod_exec(&o, rest[0], container, rest + 1, &code, &err) < 0) {
			fprintf(stderr, "moat pod: exec: %s\n", err.msg);
			return MOAT_EXIT_INPUT;
		}
		return code;
	}
	if (nrest > 1)
		return usage_error("unexpected argument '%s'", rest[1]);
	const char *arg = rest[0];
	switch (which) {
	case 0: {
		struct pod_run_result res;
		bool tty = isatty(2);
		if (tty)
			o.progress = progress_line;
		if (pod_run(arg, &o, &res, &err) < 0) {
			fprintf(stderr, "moat pod: %s%s\n", err.errnum == EPERM ? "admission refused the pod:\n" : "",
				err.msg);
			return err.errnum == EPERM ? MOAT_EXIT_FINDINGS : MOAT_EXIT_INPUT;
		}
		if (tty || !json)
			fprintf(stderr, "moat pod: %s: accel %s (%s); %s after %.2f s\n", res.name,
				res.accel, res.accel_why,
				strcmp(res.phase, "Running") == 0 ? "running" : res.phase,
				(double)(res.running_ms - res.started_ms) / 1000);
		json_t *st = NULL;
		int rc = strcmp(res.phase, "Failed") == 0 ? MOAT_EXIT_INPUT : MOAT_EXIT_OK;
		if (wait) {
			if (pod_wait(&o, res.name, &st, &err) < 0) {
				fprintf(stderr, "moat pod: %s\n", err.msg);
				return MOAT_EXIT_INPUT;
			}
			const char *phase = json_string_value(json_object_get(st, "phase"));
			rc = phase && strcmp(phase, "Succeeded") == 0 ? MOAT_EXIT_OK : 3;
			if (!json) {
				const char *k;
				json_t *cst;
				json_object_foreach(json_object_get(st, "containers"), k, cst)
					if (json_object_get(cst, "exitCode")) /* else it never ran */
						fprintf(stderr, "moat pod: %s: container %s exited %lld\n",
							res.name, k,
							(long long)json_integer_value(
								json_object_get(cst, "exitCode")));
				const char *reason = json_string_value(json_object_get(st, "reason"));
				if (reason)
					fprintf(stderr, "moat pod: %s: %s: %s\n", res.name, phase, reason);
			}
		} else if (rc != MOAT_EXIT_OK) {
			pod_inspect(&o, res.name, &st, &err);
			const char *reason = json_string_value(json_object_get(st, "reason"));
			fprintf(stderr, "moat pod: %s failed to start: %s\n", res.name,
				reason ? reason : "see moat pod inspect");
		}
		if (json) {
			if (!st)
				pod_inspect(&o, res.name, &st, &err);
			json_write(stdout, st, true);
		}
		json_decref(st);
		return rc;
	}
	case 2: {
		json_t *st;
		if (pod_inspect(&o, arg, &st, &err) < 0) {
			fprintf(stderr, "moat pod: %s\n", err.msg);
			return MOAT_EXIT_INPUT;
		}
		json_write(stdout, st, true);
		json_decref(st);
		return MOAT_EXIT_OK;
	}
	case 3:
		if (pod_logs(&o, arg, container, follow, 1, &err) < 0) {
			fprintf(stderr, "moat pod: logs: %s\n", err.msg);
			return MOAT_EXIT_INPUT;
		}
		return MOAT_EXIT_OK;
	case 5: {
		int r = pod_stop(&o, arg, &err);
		if (r < 0) {
			fprintf(stderr, "moat pod: stop: %s\n", err.msg);
			return MOAT_EXIT_INPUT;
		}
		fprintf(stderr, "moat pod: %s %s\n", arg, r == 0 ? "stopped" : "was not running");
		return MOAT_EXIT_OK;
	}
	default:
		if (pod_rm(&o, arg, force, &err) < 0) {
			fprintf(stderr, "moat pod: rm: %s\n", err.msg);
			return MOAT_EXIT_INPUT;
		}
		fprintf(stderr, "moat pod: %s removed, its disk destroyed\n", arg);
		return MOAT_EXIT_OK;
	}
}
