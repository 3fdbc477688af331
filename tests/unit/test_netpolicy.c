/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NetworkPolicy: the reader (what it accepts and refuses, and where it says
 * the fault is) and the rules it makes for the pods on a port group: which
 * pods are isolated, named ports, and ipBlock excepts under the union of
 * rules.
 */
#include "runtime/runtime.h"

#include "enforcer/enforcer.h"
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>

static uint32_t ip4(const char *s)
{
	struct in_addr a;
	inet_pton(AF_INET, s, &a);
	return a.s_addr;
}

static json_t *two_pods(void)
{
	return json_pack("[{s:s, s:{s:s}, s:[{s:s, s:i, s:i}]}, {s:s, s:{s:s}, s:[]}]", "ip",
			 "10.88.0.2", "labels", "role", "server", "containerPorts", "name", "http",
			 "port", 8080, "protocol", 6, "ip", "10.88.0.3", "labels", "role", "client",
			 "containerPorts");
}

static bool has_rule(const struct podnet_rule *r, size_t n, const char *pod, int proto, int port,
		     const char *src, int len, bool allow)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].pod == ip4(pod) && r[i].protocol == proto && r[i].port == port &&
		    r[i].src == ip4(src) && r[i].len == len && r[i].allow == allow)
			return true;
	return false;
}

static int rules_for(const char *yaml, struct podnet_rule **rules, size_t *n, bool isolated[2])
{
	json_t *pols;
	struct moat_error err = { 0 };
	if (netpolicy_parse("t.yaml", yaml, strlen(yaml), &pols, &err) < 0) {
		unit_fail("parse: %s", err.msg);
		return -1;
	}
	json_t *pods = two_pods();
	isolated[0] = isolated[1] = false;
	int r = netpolicy_rules(pols, pods, rules, n, isolated, 2);
	json_decref(pods);
	json_decref(pols);
	return r;
}

static void test_pod_selector_and_named_port(void)
{
	struct podnet_rule *r = NULL;
	size_t n = 0;
	bool iso[2];
	const char *y = "apiVersion: networking.k8s.io/v1\n"
			"kind: NetworkPolicy\n"
			"metadata: {name: web}\n"
			"spec:\n"
			"  podSelector: {matchLabels: {role: server}}\n"
			"  ingress:\n"
			"    - from: [{podSelector: {matchLabels: {role: client}}}]\n"
			"      ports: [{port: http}, {protocol: UDP, port: http}]\n";
	if (rules_for(y, &r, &n, iso) < 0)
		return;
	CHECK(iso[0]);
	CHECK(!iso[1]);
	/* The TCP port by its name; no UDP port is called http. */
	CHECK_INT(n, 1);
	CHECK(has_rule(r, n, "10.88.0.2", 6, 8080, "10.88.0.3", 32, true));
	free(r);
}

static void test_no_rules_isolates_and_allows_nothing(void)
{
	struct podnet_rule *r = NULL;
	size_t n = 0;
	bool iso[2];
	const char *y = "apiVersion: networking.k8s.io/v1\n"
			"kind: NetworkPolicy\n"
			"metadata: {name: deny}\n"
			"spec:\n"
			"  podSelector: {}\n";
	if (rules_for(y, &r, &n, iso) < 0)
		return;
	CHECK(iso[0] && iso[1]);
	CHECK_INT(n, 0);
	free(r);
	/* An empty rule allows everything, on every port. */
	const char *all = "apiVersion: networking.k8s.io/v1\n"
			  "kind: NetworkPolicy\n"
			  "metadata: {name: all}\n"
			  "spec:\n"
			  "  podSelector: {matchLabels: {role: client}}\n"
			  "  ingress: [{}]\n";
	if (rules_for(all, &r, &n, iso) < 0)
		return;
	CHECK(!iso[0] && iso[1]);
	CHECK_INT(n, 1);
	CHECK(has_rule(r, n, "10.88.0.3", 0, 0, "0.0.0.0", 0, true));
	free(r);
}

static void test_except_under_the_union_of_rules(void)
{
	struct podnet_rule *r = NULL;
	size_t n = 0;
	bool iso[2];
	/* 10.88.0.0/24 is excepted by the first block but allowed whole by
	 * the second: the except must not deny it.  10.1.0.0/16 is allowed by
	 * no other block: its except stays. */
	const char *y = "apiVersion: networking.k8s.io/v1\n"
			"kind: NetworkPolicy\n"
			"metadata: {name: blocks}\n"
			"spec:\n"
			"  podSelector: {matchLabels: {role: server}}\n"
			"  ingress:\n"
			"    - from:\n"
			"        - ipBlock: {cidr: 10.0.0.0/8, except: [10.88.0.0/24, 10.1.0.0/16]}\n"
			"        - ipBlock: {cidr: 10.88.0.0/16}\n";
	if (rules_for(y, &r, &n, iso) < 0)
		return;
	CHECK(has_rule(r, n, "10.88.0.2", 0, 0, "10.0.0.0", 8, true));
	CHECK(has_rule(r, n, "10.88.0.2", 0, 0, "10.88.0.0", 16, true));
	CHECK(has_rule(r, n, "10.88.0.2", 0, 0, "10.1.0.0", 16, false));
	CHECK(!has_rule(r, n, "10.88.0.2", 0, 0, "10.88.0.0", 24, false));
	CHECK_INT(n, 3);
	free(r);
}

static void expect_error(const char *y, const char *want)
{
	json_t *pols = NULL;
	struct moat_error err = { 0 };
	CHECK_INT(netpolicy_parse("t.yaml", y, strlen(y), &pols, &err), -1);
	CHECK_INT(err.errnum, EINVAL);
	if (!strstr(err.msg, want))
		unit_fail("\"%s\" does not say \"%s\"", err.msg, want);
	json_decref(pols);
}

static void test_refusals_name_the_field(void)
{
	const char *head = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
			   "metadata: {name: p}\nspec:\n  podSelector: {}\n";
	char y[1024];
	snprintf(y, sizeof(y), "%s  egress: []\n", head);
	expect_error(y, "t.yaml:6:3: spec: egress is not supported");
	snprintf(y, sizeof(y), "%s  policyTypes: [Ingress, Egress]\n", head);
	expect_error(y, "t.yaml:6:26: spec.policyTypes: Egress is not supported");
	snprintf(y, sizeof(y), "%s  ingress:\n    - ports: [{port: 80, endPort: 90}]\n", head);
	expect_error(y, "spec.ingress[0].ports[0]: endPort is not supported");
	snprintf(y, sizeof(y), "%s  ingress:\n    - from: [{podSelector: {}, ipBlock: {cidr: 1.0.0.0/8}}]\n",
		 head);
	expect_error(y, "spec.ingress[0].from[0]: podSelector and ipBlock together");
	snprintf(y, sizeof(y), "%s  ingress:\n    - from: [{ipBlock: {cidr: 'fd00::/8'}}]\n", head);
	expect_error(y, "spec.ingress[0].from[0].ipBlock: cidr: expected an IPv4 CIDR");
	expect_error("apiVersion: v1\nkind: NetworkPolicy\n", "t.yaml:1:13: apiVersion: expected "
							       "networking.k8s.io/v1");
	expect_error("kind: Pod\n", "kind: expected NetworkPolicy");
	expect_error("", "no NetworkPolicy in this file");
}

int main(void)
{
	TEST(test_pod_selector_and_named_port);
	TEST(test_no_rules_isolates_and_allows_nothing);
	TEST(test_except_under_the_union_of_rules);
	TEST(test_refusals_name_the_field);
	return unit_done();
}
