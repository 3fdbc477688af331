/* SPDX-License-Identifier: Apache-2.0 */
/* The moat dispatcher: `moat <command> ...` hands off to a component's cmd.c. */
#include "core.h"

#include "../attest/attest.h"
#include "../bench/bench.h"
#include "../enforcer/enforcer.h"
#include "../policy/policy.h"
#include "../runtime/runtime.h"

static const struct moat_command commands[] = {
	{ "policy", "check Kubernetes manifests against the Pod Security Standards "
		    "and the share-nothing rules", policy_cmd },
	{ "bench", "audit a node or a node image against the CIS Kubernetes Benchmark",
	  bench_cmd },
	{ "enforce", "lock the host down: management NIC, nodePorts, host serving (eBPF)", enforce_cmd },
	{ "seccomp", "compile Docker/OCI seccomp profiles, or run a command under one",
	  seccomp_cmd },
	{ "caps", "show a process's capabilities, no_new_privs and seccomp mode", caps_cmd },
	{ "pod", "run Kubernetes pods as share-nothing QEMU guests", pod_cmd },
	{ "image", "import OCI and Docker images as read-only pod disks", image_cmd },
	{ "attest", "TPM 2.0 attestation: enroll, quote, verify against reference values",
	  attest_cmd },
	{ "net", "port groups: pod networks that reach nothing else, NetworkPolicy", net_cmd },
};

static void usage(FILE *out)
{
	fputs("Usage: moat <command> [options]\n"
	      "       moat help [command]\n"
	      "       moat --version\n"
	      "\n"
	      "moat makes a Kubernetes node secure by default: nothing a workload\n"
	      "touches is shared with the host or another pod unless declared.\n"
	      "\n"
	      "Commands:\n", out);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fputs("\n"
	      "Run 'moat <command> --help' for a command's options; 'man moat-<command>'\n"
	      "for the whole of it.  Exit codes: 0 clean, 1 findings, 2 bad input or\n"
	      "usage, 3 system error.\n", out);
}

static const struct moat_command *find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int dispatch(int argc, char **argv);

int main(int argc, char **argv)
{
	int rc = dispatch(argc, argv);
	/* A report or help text that never reached its reader is a failure. */
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "moat: writing to standard output failed\n");
		return MOAT_EXIT_SYSTEM;
	}
	return rc;
}

static int dispatch(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return MOAT_EXIT_INPUT;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("moat %s\n", MOAT_VERSION);
		return MOAT_EXIT_OK;
	}
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    strcmp(cmd, "help") == 0) {
		if (argc > 2 && strcmp(cmd, "help") == 0) {
			const struct moat_command *c = find(argv[2]);
			if (!c) {
				fprintf(stderr, "moat: unknown command '%s'; run 'moat help'\n",
					argv[2]);
				return MOAT_EXIT_INPUT;
			}
			char *args[] = { argv[2], "--help", NULL };
			return c->main(2, args);
		}
		usage(stdout);
		return MOAT_EXIT_OK;
	}
	const struct moat_command *c = find(cmd);
	if (!c) {
		fprintf(stderr, "moat: unknown command '%s'; run 'moat help'\n", cmd);
		return MOAT_EXIT_INPUT;
	}
	return c->main(argc - 1, argv + 1);
}
