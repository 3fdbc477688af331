/* SPDX-License-Identifier: Apache-2.0 */
/* `moat net`: options in, port group operations out. */
#include "runtime.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>

static const char net_usage[] =
	"Usage: moat net create NAME [--cidr CIDR] [--dns IP]... [--search DOMAIN]\n"
	"                            [--pps N] [--bps N]\n"
	"       moat net ls [--format text|json]\n"
	"       moat net inspect NAME\n"
	"       moat net rm NAME\n"
	"       moat net policy apply FILE [--net NAME]\n"
	"       moat net policy ls [--net NAME] [--format text|json]\n"
	"       moat net policy rm NAME [--net NAME]\n"
	"\n"
	"Port groups: the networks pods join (moat pod run --net NAME).  Each is a\n"
	"bridge alone in a network namespace of its own: its pods reach each other\n"
	"and nothing else, not the host, not another port group.  BPF on every\n"
	"pod's tap holds each pod to its own addresses and a send rate, and\n"
	"enforces the NetworkPolicies (ingress: podSelector, ipBlock, ports) that\n"
	"select it.\n"
	"\n"
	"Options:\n"
	"      --cidr CIDR          create: the pods' IPv4 subnet, /16 to /29 (default\n"
	"                           " NET_DEFAULT_CIDR "); .1 is the gateway\n"
	"      --dns IP             create: a nameserver for the pods' resolv.conf (up to 4)\n"
	"      --search DOMAIN      create: resolv.conf's search domain\n"
	"      --pps N              create: packets a second each pod may send (default\n"
	"                           20000; 0: unlimited)\n"
	"      --bps N              create: bytes a second each pod may send (default\n"
	"                           125000000; 0: unlimited)\n"
	"      --net NAME           policy: the port group (default \"default\")\n"
	"      --state-dir DIR      state (default $MOAT_STATE_DIR or " RUNTIME_STATE_DIR ")\n"
	"      --format text|json   output format\n"
	"  -h, --help               show this help\n"
	"\n"
	"Exit status: 0 done, 1 net rm refused (pods are on the port group), 2 bad\n"
	"input (the message names the file, line, column and field) or an error.\n";

#define usage_error(...) moat_usage_error("net", __VA_ARGS__)

static int fail(const char *what, const struct moat_error *err)
{
	fprintf(stderr, "moat net: %s%s%s\n", what, what[0] ? ": " : "", err->msg);
	return err->errnum == EBUSY ? MOAT_EXIT_FINDINGS : MOAT_EXIT_INPUT;
}

static int parse_count(const char *opt, const char *s, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || end == s || v < 0) {
		usage_error("--%s %s: expected a number", opt, s);
		return -1;
	}
	*out = v;
	return 0;
}

static void print_net_line(json_t *n)
{
	printf("%-20s %-18s %-15s %-5zu %zu\n", json_string_value(json_object_get(n, "name")),
	       json_string_value(json_object_get(n, "cidr")),
	       json_string_value(json_object_get(n, "gateway")),
	       json_array_size(json_object_get(n, "pods")),
	       json_array_size(json_object_get(n, "policies")));
}

static int policy_cmd_run(const char *state, const char *net, bool json, char **rest, int nrest)
{
	if (nrest < 1)
		return usage_error("policy: expected apply, ls or rm");
	const char *sub = rest[0];
	struct moat_error err = { 0 };
	if (strcmp(sub, "ls") == 0) {
		if (nrest > 1)
			return usage_error("unexpected argument '%s'", rest[1]);
		json_t *all;
		if (net_policy_list(state, net, &all, &err) < 0)
			return fail("policy ls", &err);
		if (json) {
			json_write(stdout, all, true);
		} else {
			printf("%-32s %-8s %s\n", "NAME", "RULES", "FILE");
			size_t i;
			json_t *p;
			json_array_foreach(all, i, p)
				printf("%-32s %-8zu %s\n", json_string_value(json_object_get(p, "name")),
				       json_array_size(json_object_get(p, "ingress")),
				       json_string_value(json_object_get(p, "file")) ?: "");
		}
		json_decref(all);
		return MOAT_EXIT_OK;
	}
	if (strcmp(sub, "apply") && strcmp(sub, "rm"))
		return usage_error("policy: unknown subcommand '%s' (apply, ls, rm)", sub);
	if (nrest != 2)
		return usage_error("policy %s: name exactly one %s", sub,
				   strcmp(sub, "apply") == 0 ? "file" : "policy");
	if (strcmp(sub, "rm") == 0) {
		if (net_policy_rm(state, net, rest[1], &err) < 0)
			return fail("policy rm", &err);
		fprintf(stderr, "moat net: NetworkPolicy %s removed\n", rest[1]);
		return MOAT_EXIT_OK;
	}
	json_t *names;
	int r = net_policy_apply(state, net, rest[1], &names, &err);
	if (r == 0) {
		if (json) {
			json_write(stdout, names, true);
		} else {
			size_t i;
			json_t *n;
			json_array_foreach(names, i, n)
				fprintf(stderr, "moat net: NetworkPolicy %s applied to port group %s\n",
					json_string_value(n), net ? net : NET_DEFAULT);
		}
	}
	json_decref(names);
	return r < 0 ? fail("", &err) : MOAT_EXIT_OK;
}

int net_cmd(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(net_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? MOAT_EXIT_INPUT : MOAT_EXIT_OK;
	}
	const char *sub = argv[1];
	static const char *const subs[] = { "create", "ls", "inspect", "rm", "policy" };
	size_t which = ARRAY_SIZE(subs);
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
		if (strcmp(sub, subs[i]) == 0)
			which = i;
	if (which == ARRAY_SIZE(subs))
		return usage_error("unknown subcommand '%s' (create, ls, inspect, rm, policy)", sub);
	enum { O_CIDR = 256, O_DNS, O_SEARCH, O_PPS, O_BPS, O_NET, O_STATE, O_FORMAT };
	static const struct option opts[] = {
		{ "cidr", required_argument, NULL, O_CIDR },
		{ "dns", required_argument, NULL, O_DNS },
		{ "search", required_argument, NULL, O_SEARCH },
		{ "pps", required_argument, NULL, O_PPS },
		{ "bps", required_argument, NULL, O_BPS },
		{ "net", required_argument, NULL, O_NET },
		{ "state-dir", required_argument, NULL, O_STATE },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct net_options no = { .pps = -1, .bps = -1 };
	const char *state = NULL, *net = NULL;
	bool json = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_CIDR:
			no.cidr = optarg;
			break;
		case O_DNS:
			if (no.ndns == ARRAY_SIZE(no.dns))
				return usage_error("--dns: at most %zu nameservers", ARRAY_SIZE(no.dns));
			no.dns[no.ndns++] = optarg;
			break;
		case O_SEARCH:
			no.search = optarg;
			break;
		case O_PPS:
			if (parse_count("pps", optarg, &no.pps) < 0)
				return MOAT_EXIT_INPUT;
			break;
		case O_BPS:
			if (parse_count("bps", optarg, &no.bps) < 0)
				return MOAT_EXIT_INPUT;
			break;
		case O_NET:
			net = optarg;
			break;
		case O_STATE:
			state = optarg;
			break;
		case O_FORMAT:
			if (strcmp(optarg, "json") && strcmp(optarg, "text"))
				return usage_error("--format %s: expected text or json", optarg);
			json = strcmp(optarg, "json") == 0;
			break;
		case 'h':
			fputs(net_usage, stdout);
			return MOAT_EXIT_OK;
		default:
			return usage_error("option '%s' is unknown or needs a value", argv[optind]);
		}
	}
	state = runtime_state_dir(state);
	char **rest = argv + 1 + optind;
	int nrest = argc - 1 - optind;
	if (which != 0 && (no.cidr || no.ndns || no.search || no.pps >= 0 || no.bps >= 0))
		return usage_error("--cidr, --dns, --search, --pps and --bps are for create");
	if (which == 4)
		return policy_cmd_run(state, net, json, rest, nrest);
	if (net)
		return usage_error("--net is for policy");
	struct moat_error err = { 0 };
	if (which == 1) { /* ls */
		if (nrest > 0)
			return usage_error("unexpected argument '%s'", rest[0]);
		json_t *all;
		if (net_list(state, &all, &err) < 0)
			return fail("ls", &err);
		if (json) {
			json_write(stdout, all, true);
		} else {
			printf("%-20s %-18s %-15s %-5s %s\n", "NAME", "CIDR", "GATEWAY", "PODS",
			       "POLICIES");
			size_t i;
			json_t *n;
			json_array_foreach(all, i, n) print_net_line(n);
		}
		json_decref(all);
		return MOAT_EXIT_OK;
	}
	if (nrest != 1)
		return usage_error("%s: name exactly one port group", sub);
	const char *name = rest[0];
	switch (which) {
	case 0:
		if (net_create(state, name, &no, &err) < 0)
			return fail("create", &err);
		if (json) {
			json_t *j;
			if (net_inspect(state, name, &j, &err) == 0) {
				json_write(stdout, j, true);
				json_decref(j);
			}
		} else {
			fprintf(stderr, "moat net: port group %s created\n", name);
		}
		return MOAT_EXIT_OK;
	case 2: {
		json_t *j;
		if (net_inspect(state, name, &j, &err) < 0)
			return fail("inspect", &err);
		json_write(stdout, j, true);
		json_decref(j);
		return MOAT_EXIT_OK;
	}
	default:
		if (net_rm(state, name, &err) < 0)
			return fail("rm", &err);
		fprintf(stderr, "moat net: port group %s removed\n", name);
		return MOAT_EXIT_OK;
	}
}
