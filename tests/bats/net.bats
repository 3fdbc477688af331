#!/usr/bin/env bats
# moat net: port groups and NetworkPolicy, with real QEMU guests (TCG here)
# on taps in namespaces moat makes under this test's own state directory.
# Five VMs are started once and shared by the tests:
#   blue (10.99.0.0/24, --pps 300): srv (httpd :8080, role=server), cli
#     (role=client), evil (NET_ADMIN, no role=client), sink (flood target)
#   default (made on first use): far

load helper

bb_extra() {
	mkdir -p www
	echo hello-from-srv >www/index.html
}

setup_file() {
	guest_prereqs skopeo mkfs.ext4 nsenter ip
	[ -c /dev/net/tun ] || skip "no /dev/net/tun"
	grep -q virtio_net "$MOAT_GUEST_DIR/kernel/modules/order" 2>/dev/null ||
		skip "the guest in $MOAT_GUEST_DIR has no virtio_net (make guest again)"
	busybox_image sh echo cat ls sleep nc ping httpd ip grep head tail printf kill wait hostname true false
	"$MOAT" net create blue --cidr 10.99.0.0/24 --dns 10.99.0.53 --search pods.test --pps 300 \
		2>/dev/null || skip "moat net create failed: no network namespaces or BPF here?"
	cd "$BATS_FILE_TMPDIR"
	pod srv server 'httpd -f -p 8080 -h /www' '      ports: [{containerPort: 8080, name: http}]' >srv.yaml
	pod cli client 'sleep 100000' >cli.yaml
	pod evil evil 'sleep 100000' '      securityContext: {capabilities: {add: [NET_ADMIN]}}' >evil.yaml
	pod sink sink 'sleep 100000' >sink.yaml
	pod far far 'sleep 100000' >far.yaml
	for p in srv cli sink; do
		"$MOAT" pod run $p.yaml --net blue >/dev/null 2>&1
	done
	"$MOAT" pod run evil.yaml --net blue --level privileged >/dev/null 2>&1
	"$MOAT" pod run far.yaml >/dev/null 2>&1
}

teardown_file() {
	[ -n "${MOAT_STATE_DIR:-}" ] || return 0
	for p in srv cli evil sink far; do
		"$MOAT" pod rm -f $p >/dev/null 2>&1
	done
	for n in blue default red x1; do
		"$MOAT" net rm $n >/dev/null 2>&1
	done
	# Whatever a failure left mounted must not outlive the test.
	for d in "$MOAT_STATE_DIR"/nets/*; do
		[ -d "$d" ] || continue
		umount -l "$d/bpf" 2>/dev/null
		umount -l "$d/netns" 2>/dev/null
	done
	true
}

# pod NAME ROLE COMMAND [CONTAINER-EXTRA]: a one-container busybox pod.
pod() {
	cat <<-EOF
	apiVersion: v1
	kind: Pod
	metadata: {name: $1, labels: {role: $2}}
	spec:
	  containers:
	    - name: main
	      image: bb:latest
	      command: [sh, -c, '$3']
	$4
	EOF
}

running() {
	for p in "$@"; do
		"$MOAT" pod inspect $p 2>/dev/null | grep -q '"phase": "Running"' ||
			skip "pod $p is not running (see $MOAT_STATE_DIR/pods/$p)"
	done
}

ip_of() {
	"$MOAT" pod inspect "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["network"]["ip"])'
}

# counter NET POD REASON: packets the pod's tap counted for that reason.
counter() {
	"$MOAT" net inspect "$1" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print([p for p in d["pods"] if p["name"] == sys.argv[1]][0]["packets"][sys.argv[2]])' "$2" "$3"
}

# http FROM IP: an HTTP exchange over TCP from pod FROM to IP:8080.
http() {
	"$MOAT" pod exec "$1" -- sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 $2 8080"
}

@test "net: bad input to create: exit 2, the option named; nothing is left" {
	run -2 "$MOAT" net create x1 --cidr 10.1.2.3/24
	assert_output --partial "--cidr 10.1.2.3/24: host bits are set"
	run -2 "$MOAT" net create x1 --cidr 10.1.0.0/33
	assert_output --partial "--cidr 10.1.0.0/33: expected an IPv4 CIDR"
	run -2 "$MOAT" net create x1 --cidr fd00::/64
	assert_output --partial "--cidr fd00::/64"
	run -2 "$MOAT" net create x1 --dns 1.2.3
	assert_output --partial "--dns 1.2.3: expected an IPv4 address"
	run -2 "$MOAT" net create Bad_Name
	assert_output --partial "'Bad_Name' is not a port group name"
	run -2 "$MOAT" net create none
	run -2 "$MOAT" net create x1 --pps lots
	assert_output --partial "--pps lots: expected a number"
	run -2 "$MOAT" net create blue
	assert_output --partial "port group blue exists"
	[ ! -e "$MOAT_STATE_DIR/nets/x1" ]
	run -0 "$MOAT" net --help
	assert_output --partial "moat net policy apply FILE"
}

@test "net policy apply: the unsupported refused by name, with file:line:col and field (exit 2)" {
	cat >egress.yaml <<-EOF
	apiVersion: networking.k8s.io/v1
	kind: NetworkPolicy
	metadata: {name: p1}
	spec:
	  podSelector: {}
	  egress: []
	EOF
	run -2 "$MOAT" net policy apply egress.yaml --net blue
	assert_output --partial "egress.yaml:6:3: spec: egress is not supported"
	cat >ns.yaml <<-EOF
	apiVersion: networking.k8s.io/v1
	kind: NetworkPolicy
	metadata: {name: p1}
	spec:
	  podSelector: {}
	  ingress:
	    - from:
	        - namespaceSelector: {}
	EOF
	run -2 "$MOAT" net policy apply ns.yaml --net blue
	assert_output --partial "ns.yaml:8:11: spec.ingress[0].from[0]: namespaceSelector is not supported"
	cat >port.yaml <<-EOF
	apiVersion: networking.k8s.io/v1
	kind: NetworkPolicy
	metadata: {name: p1}
	spec:
	  podSelector: {matchExpressions: []}
	EOF
	run -2 "$MOAT" net policy apply port.yaml --net blue
	assert_output --partial "port.yaml:5:17: spec.podSelector: matchExpressions is not supported"
	cat >port.yaml <<-EOF
	apiVersion: networking.k8s.io/v1
	kind: NetworkPolicy
	metadata: {name: p1}
	spec:
	  podSelector: {}
	  ingress:
	    - ports: [{protocol: ICMP, port: 70000}]
	EOF
	run -2 "$MOAT" net policy apply port.yaml --net blue
	assert_output --regexp "port.yaml:7:[0-9]+: spec.ingress\[0\].ports\[0\]: protocol: expected TCP, UDP or SCTP"
	sed -i 's/ICMP/UDP/' port.yaml
	run -2 "$MOAT" net policy apply port.yaml --net blue
	assert_output --partial "spec.ingress[0].ports[0]: port: 70000 is not a port number"
	cat >block.yaml <<-EOF
	apiVersion: networking.k8s.io/v1
	kind: NetworkPolicy
	metadata: {name: p1}
	spec:
	  podSelector: {}
	  ingress:
	    - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [192.168.0.0/16]}}]
	EOF
	run -2 "$MOAT" net policy apply block.yaml --net blue
	assert_output --partial "except[0]: expected an IPv4 CIDR inside 10.0.0.0/8"
	run -2 "$MOAT" net policy apply block.yaml --net nosuch
	run -0 "$MOAT" net policy ls --net blue --format json
	assert_output "[]"
}

@test "net: two pods on one port group reach each other's containerPort (TCP)" {
	running srv cli
	srv=$(ip_of srv)
	[[ $srv == 10.99.0.* ]]
	run -0 http cli "$srv"
	assert_output --partial "hello-from-srv"
	run -0 "$MOAT" pod exec cli -- ping -c 1 -W 5 "$srv"
}

@test "net: /etc/hosts, /etc/hostname and resolv.conf in the container; pod and net inspect" {
	running srv cli
	srv=$(ip_of srv) cli=$(ip_of cli)
	run -0 "$MOAT" pod exec cli -- cat /etc/hosts
	assert_line --regexp "^127\.0\.0\.1[[:space:]]+localhost$"
	assert_line --regexp "^${cli//./\\.}[[:space:]]+cli$"
	assert_line --regexp "^${srv//./\\.}[[:space:]]+srv$"
	run -0 "$MOAT" pod exec cli -- cat /etc/resolv.conf
	assert_line "nameserver 10.99.0.53"
	assert_line "search pods.test"
	run -0 "$MOAT" pod exec cli -- cat /etc/hostname
	assert_output cli
	run -0 "$MOAT" pod exec cli -- ip route
	assert_line --partial "default via 10.99.0.1 dev eth0"
	run -0 "$MOAT" pod inspect cli
	assert_output --partial '"net": "blue"'
	assert_output --partial "\"ip\": \"$cli\""
	run -0 "$MOAT" net inspect blue
	assert_output --partial '"name": "srv"'
	assert_output --partial '"tap": "mt'
	run -0 "$MOAT" net ls
	assert_line --regexp "^blue +10\.99\.0\.0/24 +10\.99\.0\.1 +4 "
	assert_line --regexp "^default +10\.88\.0\.0/24 +10\.88\.0\.1 +1 "
}

@test "net: the namespace holds a bridge and nothing else; taps go with their pods" {
	running srv
	ns=$MOAT_STATE_DIR/nets/blue/netns
	run -0 nsenter --net="$ns" ip -o link
	refute_output --partial "veth"
	assert_output --partial "moat0"
	run -0 nsenter --net="$ns" ip route
	[ "${#lines[@]}" = 1 ]
	assert_output --partial "10.99.0.0/24 dev moat0 proto kernel scope link src 10.99.0.1"
	run -0 nsenter --net="$ns" cat /proc/sys/net/ipv4/ip_forward
	assert_output 0
	run -0 nsenter --net="$ns" tc filter show dev "$("$MOAT" pod inspect srv | python3 -c 'import json,sys; print(json.load(sys.stdin)["network"]["tap"])')" egress
	assert_output --partial "podnet_to_pod"
}

@test "net: a pod on another port group cannot reach them" {
	running srv far
	srv=$(ip_of srv)
	[[ $(ip_of far) == 10.88.0.* ]]
	before=$(counter default far offPortGroup)
	run "$MOAT" pod exec far -- sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 $srv 8080"
	refute_output --partial "hello-from-srv"
	run "$MOAT" pod exec far -- ping -c 2 -W 2 "$srv"
	assert_output --partial "100% packet loss"
	[ "$(counter default far offPortGroup)" -gt "$before" ]
}

@test "hostile pod: scanning for the host's addresses and the gateway reaches nothing" {
	running evil cli srv
	# Every address of this host, and its default gateway.
	targets=$(ip -j addr | python3 -c '
import json, sys
for i in json.load(sys.stdin):
    for a in i.get("addr_info", []):
        # 127/8 in a pod is its own loopback, not the host.
        if a["family"] == "inet" and not a["local"].startswith("127."):
            print(a["local"])')
	targets+=" $(ip -j route show default | python3 -c 'import json,sys; [print(r["gateway"]) for r in json.load(sys.stdin) if "gateway" in r]')"
	targets+=" 10.99.0.1 1.1.1.1"
	before=$(counter blue evil offPortGroup)
	for t in $targets; do
		run "$MOAT" pod exec evil -- sh -c "echo probe | nc -w 2 $t 22; echo probe | nc -w 2 $t 8080; ping -c 1 -W 2 $t"
		assert_output --partial "100% packet loss"
		refute_output --partial "SSH"
	done
	[ "$(counter blue evil offPortGroup)" -gt "$before" ]
	# The neighbours did not notice.
	run -0 http cli "$(ip_of srv)"
	assert_output --partial "hello-from-srv"
}

@test "NetworkPolicy: only role=client on port 8080 reaches srv; removing it restores access" {
	running srv cli evil
	srv=$(ip_of srv)
	cat >web.yaml <<-EOF
	apiVersion: networking.k8s.io/v1
	kind: NetworkPolicy
	metadata: {name: web}
	spec:
	  podSelector: {matchLabels: {role: server}}
	  policyTypes: [Ingress]
	  ingress:
	    - from:
	        - podSelector: {matchLabels: {role: client}}
	      ports:
	        - {protocol: TCP, port: http}
	EOF
	run -0 "$MOAT" net policy apply web.yaml --net blue
	run -0 "$MOAT" net policy ls --net blue
	assert_line --regexp "^web +1 +web.yaml"
	before=$(counter blue srv policy)
	run -0 http cli "$srv"
	assert_output --partial "hello-from-srv"
	run http evil "$srv"
	refute_output --partial "hello-from-srv"
	run "$MOAT" pod exec cli -- ping -c 1 -W 2 "$srv"
	assert_output --partial "100% packet loss"
	[ "$(counter blue srv policy)" -gt "$before" ]
	# srv's own connections out still get their replies.
	run -0 "$MOAT" pod exec srv -- ping -c 1 -W 5 "$(ip_of cli)"
	run -0 "$MOAT" net inspect blue
	assert_output --partial '"policies": ['
	assert_output --partial '"web"'
	run -0 "$MOAT" net policy rm web --net blue
	run -0 http evil "$srv"
	assert_output --partial "hello-from-srv"
	run -2 "$MOAT" net policy rm web --net blue
	assert_output --partial "port group blue has no NetworkPolicy web"
}

@test "hostile pod: a spoofed source IP or MAC from inside the pod is dropped on the host" {
	running evil srv
	srv=$(ip_of srv)
	before=$(counter blue evil spoofedIp)
	run "$MOAT" pod exec evil -- sh -c "ip addr add 10.99.0.77/32 dev eth0 && ping -c 2 -W 2 -I 10.99.0.77 $srv; ip addr del 10.99.0.77/32 dev eth0"
	assert_output --partial "100% packet loss"
	[ "$(counter blue evil spoofedIp)" -gt "$before" ]
	before=$(counter blue evil spoofedMac)
	mac=$("$MOAT" pod inspect evil | python3 -c 'import json,sys; print(json.load(sys.stdin)["network"]["mac"])')
	run "$MOAT" pod exec evil -- sh -c "ip link set eth0 address 02:00:00:00:00:01 && ping -c 2 -W 2 $srv; ip link set eth0 address $mac"
	assert_output --partial "100% packet loss"
	[ "$(counter blue evil spoofedMac)" -gt "$before" ]
	# With its own addresses back, it is an ordinary pod again.
	run -0 "$MOAT" pod exec evil -- ping -c 1 -W 5 "$srv"
}

@test "hostile pod: a flooding pod is rate-limited and a neighbour's exchange still works" {
	running evil sink cli srv
	sink=$(ip_of sink) srv=$(ip_of srv)
	before=$(counter blue evil rate)
	"$MOAT" pod exec evil -- sh -c "for i in 1 2 3 4; do ping -q -i 0.001 -s 1000 -w 8 $sink & done; wait" \
		>flood.log 2>&1 &
	flood=$!
	sleep 3
	run -0 http cli "$srv"
	assert_output --partial "hello-from-srv"
	wait $flood
	[ "$(counter blue evil rate)" -gt "$before" ]
	[ "$(counter blue cli rate)" = 0 ]
}

@test "net rm: refused while pods are on it (exit 1); a port group without pods goes" {
	running srv
	run -1 "$MOAT" net rm blue
	assert_output --partial "port group blue is in use by pods"
	assert_output --partial "srv"
	run -0 "$MOAT" net create red --cidr 10.99.0.0/24
	run -0 "$MOAT" net rm red
	[ ! -e "$MOAT_STATE_DIR/nets/red" ]
	run -2 "$MOAT" net rm red
	assert_output --partial "no port group red"
}

@test "net: a pod's lease goes with it, and --net none gives a pod no NIC" {
	running srv
	pod gone gone 'sleep 100000' >gone.yaml
	run -0 "$MOAT" pod run gone.yaml --net none
	run -0 "$MOAT" pod exec gone -- ip -o link
	refute_output --partial "eth0"
	run -0 "$MOAT" pod inspect gone
	refute_output --partial '"network"'
	run -0 "$MOAT" pod rm -f gone
	pod tmp tmp 'sleep 100000' >tmp.yaml
	run -0 "$MOAT" pod run tmp.yaml --net blue
	run -0 "$MOAT" net inspect blue
	assert_output --partial '"name": "tmp"'
	run -0 "$MOAT" pod rm -f tmp
	run -0 "$MOAT" net inspect blue
	refute_output --partial '"name": "tmp"'
	run -2 "$MOAT" pod run tmp.yaml --net nosuch
	assert_output --partial "no port group nosuch"
	[ ! -e "$MOAT_STATE_DIR/pods/tmp" ]
}

@test "net: the default port group, made on first use, goes with its last pod" {
	running far
	run -0 "$MOAT" net ls
	assert_line --regexp "^default "
	run -0 "$MOAT" pod rm -f far
	run -0 "$MOAT" net ls
	refute_line --regexp "^default "
	[ ! -e "$MOAT_STATE_DIR/nets/default" ]
}
