#!/usr/bin/env bats
# moat enforce apply/status/confirm/remove with real traffic.  The "host" is
# a network namespace of the test's own, with two veth pairs to a "peer"
# namespace; the bpf filesystem and the cgroup are the test's own too.
# Nothing is attached to this machine's interfaces or cgroups.

load helper

TRAFFIC=$MOAT_TOP/tests/fixtures/enforce/traffic.py

setup_file() {
	[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, bpf)"
	for t in ip nsenter socat ping python3 tc; do
		command -v $t >/dev/null || skip "$t is not installed (make deps)"
	done
	export NS_H=moat-h-$$ NS_P=moat-p-$$
	export D=$BATS_FILE_TMPDIR
	ip netns add $NS_H && ip netns add $NS_P || skip "cannot create network namespaces"
	ip link add vh netns $NS_H type veth peer name vp netns $NS_P
	ip link add vh2 netns $NS_H type veth peer name vp2 netns $NS_P
	ip -n $NS_H addr add 10.77.0.1/24 dev vh
	ip -n $NS_H addr add fd77::1/64 dev vh nodad
	ip -n $NS_H addr add 10.78.0.1/24 dev vh2
	ip -n $NS_P addr add 10.77.0.2/24 dev vp
	ip -n $NS_P addr add fd77::2/64 dev vp nodad
	ip -n $NS_P addr add 10.78.0.2/24 dev vp2
	for l in vh vh2 lo; do ip -n $NS_H link set $l up; done
	for l in vp vp2 lo; do ip -n $NS_P link set $l up; done
	mkdir -p "$D/bpf"
	mount -t bpf bpf "$D/bpf" || skip "cannot mount a bpf filesystem"
	export PIN=$D/bpf/moat
	# A cgroup v2 directory of the test's own: /sys/fs/cgroup on a pure v2
	# host, /sys/fs/cgroup/unified on a hybrid one.
	local root=/sys/fs/cgroup
	[ "$(stat -f -c %T $root)" = cgroup2fs ] || root=/sys/fs/cgroup/unified
	export CG=$root/moat-test-$$
	[ "$(stat -f -c %T $root 2>/dev/null)" = cgroup2fs ] && mkdir -p "$CG" || CG=

	nsenter --net=/run/netns/$NS_H python3 "$TRAFFIC" serve tcp:22 tcp:8080 tcp:9000 \
		tcp:30080 udp:5353 udp:9999 >"$D/serve-h" 2>&1 3>&- &
	echo $! >"$D/serve-h.pid"
	nsenter --net=/run/netns/$NS_P python3 "$TRAFFIC" serve tcp:7000 udp:7001 \
		>"$D/serve-p" 2>&1 3>&- &
	echo $! >"$D/serve-p.pid"
	for _ in $(seq 50); do
		grep -q ready "$D/serve-h" && grep -q ready "$D/serve-p" && break
		sleep 0.1
	done

	write_policy "$D/pol.yaml" ""
	write_policy "$D/pol-open.yaml" "      - {name: extra, protocol: tcp, ports: [9000]}"
}

write_policy() {
	cat >"$1" <<-EOF
	apiVersion: moat/v1
	kind: NodePolicy
	metadata: {name: test}
	spec:
	  management:
	    interface: vh
	    ingress:
	      - {name: ssh, protocol: tcp, ports: [22], from: [10.77.0.0/24, "fd77::/64"]}
	      - {name: web, protocol: tcp, ports: [8080], from: [10.99.0.0/16]}
	      - {name: dns, protocol: udp, ports: [5353]}
	      - {name: flow, protocol: udp, ports: [6000]}
	$2
	    icmp: [echo-request]
	    default: deny
	  nodePorts: {ports: "30000-32767", action: deny}
	EOF
}

teardown_file() {
	for f in serve-h serve-p; do
		[ -f "$D/$f.pid" ] && kill "$(cat "$D/$f.pid")" 2>/dev/null
	done
	[ -n "${PIN:-}" ] && in_host "$MOAT" enforce remove --pin-dir "$PIN" >/dev/null 2>&1
	umount "$D/bpf" 2>/dev/null
	ip netns del $NS_H 2>/dev/null
	ip netns del $NS_P 2>/dev/null
	[ -n "${CG:-}" ] && rmdir "$CG" 2>/dev/null
	true
}

teardown() {
	in_host "$MOAT" enforce remove --pin-dir "$PIN" >/dev/null 2>&1 || true
}

in_host() { nsenter --net=/run/netns/$NS_H "$@"; }
in_peer() { nsenter --net=/run/netns/$NS_P "$@"; }
enforce() { in_host "$MOAT" enforce "$@" --pin-dir "$PIN"; }

# reach tcp|udp HOST PORT: from the peer; succeeds if the host answered.
reach() {
	local host=$2
	[[ $host == *:* ]] && host="[$host]"
	if [ "$1" = tcp ]; then
		in_peer socat -T0.6 - "TCP:$host:$3,connect-timeout=0.6" </dev/null 2>/dev/null | grep -q ok
	else
		echo hello | in_peer socat -T0.6 - "UDP:$host:$3" 2>/dev/null | grep -q ok
	fi
}

status_json() {
	enforce status --format json >"$BATS_TEST_TMPDIR/status.json" || true
	python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" \
		"$BATS_TEST_TMPDIR/status.json" "$1"
}

@test "enforce: allowed traffic passes and everything else is dropped (TCP, UDP, ICMP, v4 and v6)" {
	reach tcp 10.77.0.1 9000 # before: everything answers
	run -0 enforce apply -f "$D/pol.yaml"
	assert_output --regexp "filter +xdp-generic +vh" # auto: generic on a veth
	assert_output --regexp "egress +tc +vh"
	reach tcp 10.77.0.1 22
	reach tcp fd77::1 22
	reach udp 10.77.0.1 5353
	reach udp fd77::1 5353
	run ! reach tcp 10.77.0.1 8080 # a rule, but not from this source
	run ! reach tcp 10.77.0.1 9000 # no rule
	run ! reach tcp fd77::1 9000
	run ! reach udp 10.77.0.1 9999
	in_peer ping -c1 -W1 10.77.0.1 >/dev/null
	[ "$(status_json 'd["rules"][1]["sourceDrops"]')" -ge 1 ]
	[ "$(status_json 'd["drops"]["no-rule"]')" -ge 3 ]
}

@test "enforce: the counters match the traffic sent" {
	run -0 enforce apply -f "$D/pol.yaml"
	for _ in 1 2 3 4 5 6 7; do reach udp 10.77.0.1 5353; done
	for _ in 1 2 3 4; do run ! reach udp 10.77.0.1 9999; done
	[ "$(status_json 'd["rules"][2]["name"]')" = dns ]
	[ "$(status_json 'd["rules"][2]["packets"]')" = 7 ]
	# Ethernet 14 + IPv4 20 + UDP 8 + "hello\n" 6, seven times.
	[ "$(status_json 'd["rules"][2]["bytes"]')" = $((7 * 48)) ]
	[ "$(status_json 'd["drops"]["no-rule"]')" = 4 ]
	run -0 enforce status
	assert_output --regexp "dns +udp +5353 +7 +336 +0"
}

@test "enforce: audit mode drops nothing and counts what it would have dropped" {
	run -0 enforce apply -f "$D/pol.yaml" --audit
	assert_output --partial "audit mode"
	reach tcp 10.77.0.1 9000
	reach udp 10.77.0.1 9999
	reach udp 10.77.0.1 9999
	[ "$(status_json 'd["audit"]')" = True ]
	[ "$(status_json 'd["wouldDrop"]["no-rule"]')" -ge 3 ]
	run -0 enforce status
	assert_output --partial "AUDIT: nothing is dropped"
	assert_output --partial "Would drop by reason:"
}

@test "enforce: replies to connections the host opened pass" {
	run -0 enforce apply -f "$D/pol.yaml"
	run -0 in_host socat -T1 - TCP:10.77.0.2:7000,connect-timeout=1 </dev/null
	assert_output ok
	run -0 in_host sh -c 'echo hi | socat -T1 - UDP:10.77.0.2:7001'
	assert_output ok
	in_host ping -c1 -W1 10.77.0.2 >/dev/null
	[ "$(status_json 'd["hostFlows"]')" -ge 3 ]
	# The record is the host's own: the peer still cannot open port 7000's
	# reverse on the host.
	run ! reach tcp 10.77.0.1 9000
}

@test "enforce: pinned enforcement outlives the process; status and remove work from a fresh one" {
	run -0 enforce apply -f "$D/pol.yaml"
	run ! reach tcp 10.77.0.1 9000
	run -0 enforce status --format json
	[ "$(status_json 'd["applied"] and all(a["attached"] for a in d["attachments"])')" = True ]
	[ "$(status_json 'd["policy"]')" = test ]
	run ! reach tcp 10.77.0.1 9000 # still: no moat process is running
	run -0 enforce remove
	reach tcp 10.77.0.1 9000
	run -1 enforce status
	assert_output --partial "No NodePolicy is applied"
	run -1 enforce remove
}

@test "enforce: --confirm-within rolls back unless moat enforce confirm comes in time" {
	run -0 enforce apply -f "$D/pol.yaml"
	run -0 enforce apply -f "$D/pol-open.yaml" --confirm-within 2
	assert_output --partial "run 'moat enforce confirm' by"
	reach tcp 10.77.0.1 9000
	run -1 enforce apply -f "$D/pol.yaml" # one pending apply at a time
	assert_output --partial "waits for 'moat enforce confirm'"
	for _ in $(seq 80); do
		[ "$(status_json '"rolledBack" in d')" = True ] && break
		sleep 0.1
	done
	run -0 enforce status
	assert_output --partial "Rolled back: NodePolicy test"
	assert_output --partial "not confirmed in time"
	assert_output --partial "pol.yaml"
	run ! reach tcp 10.77.0.1 9000
	reach tcp 10.77.0.1 22

	run -0 enforce apply -f "$D/pol-open.yaml" --confirm-within 3
	run -0 enforce confirm
	sleep 3.5
	reach tcp 10.77.0.1 9000
	run -1 enforce confirm
	assert_output --partial "no apply awaits confirmation"

	# The first apply rolled back leaves nothing attached.
	run -0 enforce remove
	run -0 enforce apply -f "$D/pol.yaml" --confirm-within 1
	for _ in $(seq 60); do reach tcp 10.77.0.1 9000 && break; sleep 0.1; done
	reach tcp 10.77.0.1 9000
	run -1 enforce status
	assert_output --partial "Rolled back"
}

@test "enforce: an atomic re-apply loses no allowed packets and lets no denied one through" {
	run -0 enforce apply -f "$D/pol.yaml"
	in_host python3 "$TRAFFIC" sink 6000 4 >"$BATS_TEST_TMPDIR/sink" 3>&- &
	local sink=$!
	for _ in $(seq 30); do grep -q ready "$BATS_TEST_TMPDIR/sink" && break; sleep 0.1; done
	in_peer python3 "$TRAFFIC" send 10.77.0.1 6000 2000 1000 3>&- &
	local send=$!
	local swaps=0
	while kill -0 $send 2>/dev/null; do
		enforce apply -f "$D/pol.yaml" >/dev/null 2>&1 && swaps=$((swaps + 1))
		run ! reach udp 10.77.0.1 9999
	done
	wait $send
	wait $sink
	[ "$swaps" -ge 3 ]
	run -0 tail -1 "$BATS_TEST_TMPDIR/sink"
	assert_output 2000
}

@test "enforce: the cgroup hooks stop a process in the cgroup from listening" {
	[ -n "$CG" ] || skip "no cgroup v2 hierarchy to make a test cgroup in"
	cat >pol-serve.yaml <<-EOF
	apiVersion: moat/v1
	kind: NodePolicy
	metadata: {name: serve}
	spec:
	  hostServing:
	    cgroups: [$CG]
	    allow: [{protocol: tcp, ports: [8081]}]
	EOF
	run -0 enforce apply -f pol-serve.yaml
	assert_output --regexp "bind4 +cgroup +$CG"
	in_cg() { in_host sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$CG" "$@"; }
	run -0 in_cg python3 "$TRAFFIC" listen 8081
	assert_output "served a bound port"
	run -1 in_cg python3 "$TRAFFIC" listen 9090
	assert_output "bind 9090: Operation not permitted"
	run -1 in_cg python3 "$TRAFFIC" listen 0 # listen() without bind()
	assert_output "not served"
	run -0 in_host python3 "$TRAFFIC" listen 0 # outside the cgroup
	assert_output "served an unbound port"
	[ "$(status_json 'd["drops"]["host-serving"]')" -ge 2 ]
}

@test "enforce: apply refuses to cut the SSH session it runs from, unless --force" {
	SSH_CONNECTION="10.99.0.5 40000 10.77.0.1 22" run -1 enforce apply -f "$D/pol.yaml"
	assert_output --partial "refusing to apply"
	assert_output --partial "this SSH session (10.99.0.5 port 40000 to 10.77.0.1 port 22 on vh) would be cut"
	run -1 enforce status # nothing was applied
	reach tcp 10.77.0.1 9000
	SSH_CONNECTION="10.77.0.5 40000 10.77.0.1 22" run -0 enforce apply -f "$D/pol.yaml"
	run -0 enforce remove
	SSH_CONNECTION="fd99::5 40000 fd77::1 22" run -1 enforce apply -f "$D/pol.yaml"
	SSH_CONNECTION="10.99.0.5 40000 10.77.0.1 22" run -0 enforce apply -f "$D/pol.yaml" --force
	# A session to an address on another interface is not this filter's.
	SSH_CONNECTION="10.99.0.5 40000 10.78.0.1 22" run -0 enforce apply -f "$D/pol.yaml"
}

@test "enforce: the nodePorts range is dropped on every host interface" {
	run -0 enforce apply -f "$D/pol.yaml"
	assert_output --regexp "nodeports +xdp-(native|generic) +vh2"
	refute_output --regexp "nodeports .* lo$"
	run ! reach tcp 10.77.0.1 30080
	run ! reach tcp 10.78.0.1 30080
	reach tcp 10.78.0.1 9000 # other interfaces lose only the nodePorts
	[ "$(status_json 'd["drops"]["node-port"]')" -ge 2 ]
}

@test "enforce: TC ingress and native XDP do the same job (--mode), swapped in place on re-apply" {
	run -0 enforce apply -f "$D/pol.yaml" --mode tc
	assert_output --regexp "filter +tc +vh"
	run -0 tc -n $NS_H filter show dev vh ingress
	assert_output --partial moat_filter_tc
	reach tcp 10.77.0.1 22
	run ! reach tcp 10.77.0.1 9000
	run ! reach tcp 10.78.0.1 30080
	run -0 enforce apply -f "$D/pol-open.yaml"
	assert_output --regexp "filter +tc +vh"
	reach tcp 10.77.0.1 9000
	run -0 enforce apply -f "$D/pol.yaml" --mode native # moves off TC
	assert_output --regexp "filter +xdp-native +vh"
	run -0 tc -n $NS_H filter show dev vh ingress
	refute_output --partial moat_filter_tc
	reach tcp 10.77.0.1 22
	run ! reach tcp 10.77.0.1 9000
	run -0 enforce remove
	run -0 tc -n $NS_H filter show dev vh egress
	refute_output --partial moat_egress
}

@test "enforce: bad input gets exit 2 and a clear message, and nothing is applied" {
	sed 's/interface: vh/interface: nosuch0/' "$D/pol.yaml" >bad-if.yaml
	run -2 enforce apply -f bad-if.yaml
	assert_output --partial "spec.management.interface: no interface 'nosuch0'"
	cat >bad-cg.yaml <<-EOF
	apiVersion: moat/v1
	kind: NodePolicy
	metadata: {name: v1}
	spec:
	  hostServing:
	    cgroups: [/proc]
	    allow: [{protocol: tcp, ports: [80]}]
	EOF
	run -2 enforce apply -f bad-cg.yaml
	assert_output --partial "not a cgroup v2 directory"
	run -2 in_host "$MOAT" enforce apply -f "$D/pol.yaml" --pin-dir "$BATS_TEST_TMPDIR/x/moat"
	assert_output --partial "is not on a bpf filesystem"
	run -2 enforce apply -f "$D/pol.yaml" --confirm-within 0
	run -2 enforce status --audit
	run -1 enforce status
	[ ! -e "$PIN/state" ]
}
