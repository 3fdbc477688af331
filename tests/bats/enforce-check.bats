#!/usr/bin/env bats
# moat enforce check: NodePolicy files validated without privileges, each
# fault named by file, line, column and field.

load helper

policy() { # write policy.yaml: the example with one line replaced by sed
	sed "$1" "$MOAT_TOP/examples/node-policy.yaml" >policy.yaml
}

@test "the example policy is valid, summarised in text and in json" {
	run -0 "$MOAT" enforce check -f "$MOAT_TOP/examples/node-policy.yaml"
	assert_output --partial "NodePolicy worker is valid: 3 ingress rules on eth0 (default deny), nodePorts 30000-32767 dropped, 1 serving cgroup"
	run -0 "$MOAT" enforce check -f "$MOAT_TOP/examples/node-policy.yaml" --format json
	assert_output --partial '"valid": true'
	assert_output --partial '"ingressRules": 3'
}

@test "bad ports, prefixes, protocols and names get exit 2 with line, column and field" {
	policy 's|ports: \["2379-2380"\]|ports: ["2380-2379"]|'
	run -2 "$MOAT" enforce check -f policy.yaml
	assert_output "moat enforce: policy.yaml:13:48: spec.management.ingress[2].ports: '2380-2379': ports run from 1 to 65535, low to high"
	policy 's|ports: \[22\]|ports: [70000]|'
	run -2 "$MOAT" enforce check -f policy.yaml
	assert_output --partial "spec.management.ingress[0].ports: '70000': ports run from 1 to 65535"
	policy 's|10.0.0.0/24|10.0.0.1/24|'
	run -2 "$MOAT" enforce check -f policy.yaml
	assert_output --partial "spec.management.ingress[2].from[0]: '10.0.0.1/24' has bits set after the /24 prefix"
	policy 's|"fd00::/8"|"fd00::/129"|'
	run -2 "$MOAT" enforce check -f policy.yaml
	assert_output --partial "ingress[0].from[1]: 'fd00::/129': the prefix length runs from 0 to 128"
	policy 's|protocol: tcp, ports: \[10250\]|protocol: tpc, ports: [10250]|'
	run -2 "$MOAT" enforce check -f policy.yaml
	assert_output --partial "spec.management.ingress[1].protocol: unknown protocol 'tpc' (expected tcp, udp or sctp)"
	policy 's|name: kubelet|name: ssh|'
	run -2 "$MOAT" enforce check -f policy.yaml
	assert_output --partial "spec.management.ingress[1].name: 'ssh' is already the name of rule 0"
	policy 's|icmp: \[echo-request\]|icmp: [ping]|'
	run -2 "$MOAT" enforce check -f policy.yaml
	assert_output --partial "spec.management.icmp[0]: unknown ICMP type"
	policy 's|interface: eth0|interface: eth0/../x|'
	run -2 "$MOAT" enforce check -f policy.yaml
	assert_output --partial "spec.management.interface: 'eth0/../x' is not an interface name"
	policy 's|default: deny|defualt: deny|'
	run -2 "$MOAT" enforce check -f policy.yaml
	assert_output --partial "spec.management: unknown key 'defualt'"
	policy 's|cgroups: \[/sys/fs/cgroup/unified/workloads\]|cgroups: [workloads]|'
	run -2 "$MOAT" enforce check -f policy.yaml
	assert_output --partial "spec.hostServing.cgroups[0]: 'workloads' is not an absolute cgroup directory"
	policy 's|kind: NodePolicy|kind: Policy|'
	run -2 "$MOAT" enforce check -f policy.yaml
	assert_output --partial "kind: expected NodePolicy"
}

@test "unreadable, empty, junk and missing input are clear errors, and usage errors exit 2" {
	run -2 "$MOAT" enforce check -f missing.yaml
	assert_output --partial "missing.yaml"
	printf '' >empty.yaml
	run -2 "$MOAT" enforce check -f empty.yaml
	assert_output --partial "empty.yaml:1:1:"
	head -c 2000 /dev/urandom >junk.yaml
	run "$MOAT" enforce check -f junk.yaml
	[ "$status" = 2 ]
	refute_crash
	run -2 "$MOAT" enforce check
	assert_output --partial "name the policy with -f FILE"
	# Never applied here: this is the machine's own network namespace.
	run -2 "$MOAT" enforce apply
	assert_output --partial "apply: name the policy with -f FILE"
	run -2 "$MOAT" enforce apply -f x.yaml --confirm-within soon
	assert_output --partial "--confirm-within soon: expected seconds"
	run -2 "$MOAT" enforce apply -f x.yaml --mode fast
	run -2 "$MOAT" enforce confirm --audit
	run -2 "$MOAT" enforce frobnicate
	assert_output --partial "unknown subcommand 'frobnicate'"
}
