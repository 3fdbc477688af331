#!/usr/bin/env bats
# moat bench: CIS Kubernetes Benchmark audits of node roots built by
# tests/fixtures/nodes/build (a kubeadm worker, a kubeadm control plane, a
# hardened node and a broken one), and of the live system with a stand-in
# kubelet process.

load helper

NODES_SRC=$MOAT_TOP/tests/fixtures/nodes

setup_file() {
	probe_python jsonschema
	export NODES=$BATS_FILE_TMPDIR/nodes
	if [ "$(id -u)" = 0 ]; then
		"$NODES_SRC/build" "$NODES" >/dev/null
	fi
}

need_roots() {
	[ "$(id -u)" = 0 ] || skip "building node roots needs root (chown)"
	[ -d "$NODES/worker" ] || fail "tests/fixtures/nodes/build made no roots"
}

bench_json() { # ROOT [ARGS...]: the JSON report in report.json
	local root=$1
	shift
	run --separate-stderr "$MOAT" bench --root "$NODES/$root" --format json "$@"
	echo "$output" >report.json
}

# ---- verdicts ----

@test "a kubeadm worker: every control gives its expected verdict" {
	need_roots
	need_python jsonschema
	bench_json worker
	[ "$status" = 1 ] || fail "exit $status, expected 1 (kubeadm leaves 4.1.1 and 4.1.9 failing)"
	"$BATS_TEST_DIRNAME/check-bench" report.json --expect "$NODES_SRC/expected/worker.txt" '
assert r["targets"]["selected"] == ["node"], r["targets"]
assert len(r["checks"]) == 25
'
}

@test "a kubeadm control plane: sections 1 to 5, each control as expected" {
	need_roots
	need_python jsonschema
	bench_json controlplane
	[ "$status" = 1 ]
	"$BATS_TEST_DIRNAME/check-bench" report.json --expect "$NODES_SRC/expected/controlplane.txt" '
assert r["targets"]["selected"] == ["master", "etcd", "controlplane", "node", "policies"], r["targets"]
assert len(r["checks"]) == 131, len(r["checks"])
assert all(x["status"] == "WARN" for x in r["checks"] if x["section"] == "5")
'
}

@test "a hardened node: every automated control passes and the gate holds" {
	need_roots
	need_python jsonschema
	bench_json hardened
	[ "$status" = 0 ] || fail "exit $status, expected 0"
	"$BATS_TEST_DIRNAME/check-bench" report.json --expect "$NODES_SRC/expected/hardened.txt" '
assert r["totals"]["fail"] == 0, r["totals"]
assert r["score"]["percent"] == 100, r["score"]
'
}

@test "a broken node: bad modes, owners and settings fail, each with its evidence" {
	need_roots
	need_python jsonschema
	bench_json broken
	[ "$status" = 1 ]
	"$BATS_TEST_DIRNAME/check-bench" report.json --expect "$NODES_SRC/expected/broken.txt" '
e = c["4.1.6"]["evidence"][0]
assert e["path"] == "/etc/kubernetes/kubelet.conf" and e["owner"] == "nobody:nogroup", e
e = c["4.1.9"]["evidence"][0]
assert e["path"] == "/var/lib/kubelet/config.yaml" and e["mode"] == "0666", e
e = c["4.2.1"]["evidence"][0]
assert e["value"] == "true" and e["source"] == "command line", e
assert e["where"].startswith("$KUBELET_EXTRA_ARGS from /etc/default/kubelet:"), e
e = c["4.2.4"]["evidence"][0]
assert e["value"] == "10255" and e["source"] == "config file", e
assert e["where"].startswith("/var/lib/kubelet/config.yaml:"), e
assert "chmod" in c["4.1.9"]["remediation"]
'
}

# ---- where values come from ----

@test "kubelet defaults count: anonymous auth unset in config.yaml passes 4.2.1, from the default" {
	need_roots
	need_python jsonschema
	bench_json hardened --check 4.2.1,4.2.14,4.2.13,4.2.5
	"$BATS_TEST_DIRNAME/check-bench" report.json '
e = c["4.2.1"]["evidence"][0]
assert c["4.2.1"]["status"] == "PASS" and e["source"] == "default" and e["value"] == "false", e
e = c["4.2.14"]["evidence"][0]
assert e["source"] == "drop-in" and e["where"].startswith("/etc/kubernetes/kubelet.conf.d/50-hardening.conf:"), e
e = c["4.2.13"]["evidence"][0]
assert e["value"] == "4096" and e["source"] == "drop-in", e
assert len(r["checks"]) == 4
'
}

@test "a zero idle timeout in config.yaml is the kubelet's 4h default, and says so" {
	need_roots
	need_python jsonschema
	bench_json worker --check 4.2.5
	"$BATS_TEST_DIRNAME/check-bench" report.json '
e = c["4.2.5"]["evidence"][0]
assert c["4.2.5"]["status"] == "PASS" and e["value"] == "4h0m0s" and e["source"] == "default", e
assert "sets 0s" in e["where"], e
'
}

@test "etcd settings come from the static pod's command or its environment" {
	need_roots
	need_python jsonschema
	bench_json hardened --check 2
	"$BATS_TEST_DIRNAME/check-bench" report.json '
e = c["2.5"]["evidence"][0]
assert c["2.5"]["status"] == "PASS" and e["source"] == "environment", e
assert e["where"].startswith("/etc/kubernetes/manifests/etcd.yaml:"), e
e = c["2.2"]["evidence"][0]
assert e["source"] == "command line" and e["where"].startswith("/etc/kubernetes/manifests/etcd.yaml:"), e
'
}

@test "the version is detected offline and the choice explained; --benchmark overrides it" {
	need_roots
	run -1 "$MOAT" bench --root "$NODES/worker"
	assert_line --regexp '^moat bench: .*benchmark cis-1.12, for Kubernetes 1.33.2 \(from package kubelet 1.33.2-1.1 in /var/lib/dpkg/status\)$'
	run -0 "$MOAT" bench --root "$NODES/controlplane" --targets master --check 1.1.1
	assert_line --partial "for Kubernetes 1.33.2 (from image tag registry.k8s.io/kube-apiserver:v1.33.2 in /etc/kubernetes/manifests/kube-apiserver.yaml:"
	run -0 "$MOAT" bench --root "$NODES/controlplane" --benchmark cis-1.12 --check 1.1.1
	assert_line --partial "benchmark cis-1.12, as --benchmark asked"
	mkdir -p bare/etc
	run -0 "$MOAT" bench --root bare
	assert_line --partial "the Kubernetes version could not be found"
	assert_line --partial "targets: node: no Kubernetes component was found on this node"
}

# ---- the root is a boundary ----

@test "symlinks in an image resolve inside it: links to the outside read nothing" {
	need_roots
	need_python jsonschema
	bench_json broken --check 4.1.3,4.2.2
	"$BATS_TEST_DIRNAME/check-bench" report.json '
e = c["4.1.3"]["evidence"][0]
assert c["4.1.3"]["status"] == "PASS" and e["note"] == "does not exist", e
'
	# The decoys outside are world-writable and say Webhook; inside, both
	# links lead nowhere, so the config file's AlwaysAllow is what counts.
	grep -q authorization-mode=Webhook "$NODES/broken-outside/kubeadm-flags.env"
	run -1 "$MOAT" bench --root "$NODES/broken" --check 4.2.2
	assert_line --regexp '^\[FAIL\] 4.2.2 '
	assert_line --partial "kubelet.authorization-mode = AlwaysAllow (config file: /var/lib/kubelet/config.yaml:"
	refute_output --partial "broken-outside"
}

@test "a symlink loop, a FIFO and a gigabyte config give WARN naming the path, and no hang" {
	need_roots
	cp -a "$NODES/worker" w
	ln -sf loop1 w/var/lib/kubelet/loop2 && ln -sf loop2 w/var/lib/kubelet/loop1
	ln -sf /var/lib/kubelet/loop1 w/etc/kubernetes/kubelet.conf.tmp
	rm w/etc/kubernetes/kubelet.conf && ln -s /var/lib/kubelet/loop1 w/etc/kubernetes/kubelet.conf
	rm w/var/lib/kubelet/config.yaml && mkfifo w/var/lib/kubelet/config.yaml
	run timeout 20 "$MOAT" bench --root w --check 4.1.5,4.2.1
	[ "$status" -le 1 ] || fail "exit $status"
	assert_line --partial "/etc/kubernetes/kubelet.conf: Too many levels of symbolic links"
	assert_line --partial "/var/lib/kubelet/config.yaml: not a regular file"
	assert_line --regexp '^\[WARN\] 4.2.1 '
	rm w/var/lib/kubelet/config.yaml && truncate -s 1G w/var/lib/kubelet/config.yaml
	run timeout 20 "$MOAT" bench --root w --check 4.2.1
	assert_line --partial "/var/lib/kubelet/config.yaml: 1073741824 bytes, more than the"
	assert_line --regexp '^\[WARN\] 4.2.1 '
	refute_crash
}

@test "garbled configs: a YAML bomb, binary junk and a list give WARN with the file and line" {
	need_roots
	cp -a "$NODES/worker" w
	{
		echo 'a: &a ["x","x","x","x","x","x","x","x","x","x"]'
		for i in $(seq 1 12); do echo "b$i: &b$i [*$( [ $i = 1 ] && echo a || echo b$((i - 1)) ),*$( [ $i = 1 ] && echo a || echo b$((i - 1)) ),*$( [ $i = 1 ] && echo a || echo b$((i - 1)) ),*$( [ $i = 1 ] && echo a || echo b$((i - 1)) ),*$( [ $i = 1 ] && echo a || echo b$((i - 1)) ),*$( [ $i = 1 ] && echo a || echo b$((i - 1)) ),*$( [ $i = 1 ] && echo a || echo b$((i - 1)) ),*$( [ $i = 1 ] && echo a || echo b$((i - 1)) ),*$( [ $i = 1 ] && echo a || echo b$((i - 1)) )]"; done
	} >w/var/lib/kubelet/config.yaml
	run timeout 20 "$MOAT" bench --root w --check 4.2.1
	assert_line --partial "note: cannot parse /var/lib/kubelet/config.yaml:"
	assert_line --partial "billion laughs"
	assert_line --regexp '^\[WARN\] 4.2.1 '
	head -c 4096 /dev/urandom >w/var/lib/kubelet/config.yaml
	run timeout 20 "$MOAT" bench --root w --check 4.2.1
	assert_line --partial "/var/lib/kubelet/config.yaml"
	assert_line --regexp '^\[WARN\] 4.2.1 '
	printf -- '- a\n- b\n' >w/var/lib/kubelet/config.yaml
	run timeout 20 "$MOAT" bench --root w --check 4.2.1
	assert_line --partial "/var/lib/kubelet/config.yaml:1: expected a mapping of settings, got a list"
	refute_crash
}

@test "--root that does not exist is exit 2 naming it" {
	run -2 "$MOAT" bench --root /nonexistent/root
	assert_output --partial "--root /nonexistent/root: No such file or directory"
}

# ---- selection and gates ----

@test "--check and --skip take ids and groups; unknown ones are exit 2" {
	need_roots
	run -1 "$MOAT" bench --root "$NODES/broken" --check 4.2
	assert_line --regexp '^\[FAIL\] 4.2.1 '
	refute_line --regexp '^\[.*\] 4.1.1 '
	run -0 "$MOAT" bench --root "$NODES/broken" --check 4.1.9 --skip 4.1.9
	assert_line --regexp '^\[INFO\] 4.1.9 '
	assert_line --partial "skipped with --skip"
	run -2 "$MOAT" bench --root "$NODES/broken" --check 9.9
	assert_output --partial "--check 9.9: cis-1.12 has no such check or group"
	run -2 "$MOAT" bench --root "$NODES/broken" --targets nodes
	assert_output --partial "--targets: cis-1.12 has no target 'nodes'"
	run -2 "$MOAT" bench --benchmark cis-9
	assert_output --partial "--benchmark cis-9: unknown benchmark (known: cis-1.12)"
}

@test "--fail-on and --fail-under decide the exit code" {
	need_roots
	run -1 "$MOAT" bench --root "$NODES/broken"
	run -0 "$MOAT" bench --root "$NODES/broken" --fail-on never
	run -0 "$MOAT" bench --root "$NODES/hardened" --targets node
	run -1 "$MOAT" bench --root "$NODES/hardened" --targets node,policies --fail-on warn
	run -0 "$MOAT" bench --root "$NODES/broken" --fail-on never --fail-under 30
	run -1 --separate-stderr "$MOAT" bench --root "$NODES/broken" --fail-on never --fail-under 50
	stderr_as_output
	assert_output --regexp 'score [0-9.]+% is under --fail-under 50%'
	run -2 "$MOAT" bench --fail-under 150
	run -2 "$MOAT" bench --fail-on sometimes
}

@test "waivers: a current one turns a FAIL into INFO with its reason; an expired one does not" {
	need_roots
	cat >waivers.yaml <<-'EOF'
	kind: BenchWaivers
	waivers:
	- check: 4.1.9
	  reason: the image build fixes modes at first boot
	  expires: 2999-01-01
	- check: 4.1.1
	  reason: expired long ago
	  expires: 2001-01-01
	EOF
	run -1 "$MOAT" bench --root "$NODES/worker" --waivers waivers.yaml
	assert_line --regexp '^\[INFO\] 4.1.9 '
	assert_line --partial "waived (was FAIL): the image build fixes modes at first boot"
	assert_line --partial "waiver: waivers.yaml:3"
	assert_line --regexp '^\[FAIL\] 4.1.1 '
	assert_line "warning: waivers.yaml:6: the waiver for 4.1.1 has expired; it no longer applies"
	run -0 "$MOAT" bench --root "$NODES/worker" --waivers waivers.yaml --skip 4.1.1
}

@test "bad waivers are exit 2 with file, line and field; nothing is audited" {
	need_roots
	printf 'waivers:\n- check: 4.1.9\n  reason: r\n  expires: tomorrow\n' >w1.yaml
	run -2 "$MOAT" bench --root "$NODES/worker" --waivers w1.yaml
	assert_output "moat bench: w1.yaml:4:12: expires: expected a date, YYYY-MM-DD"
	printf 'waivers:\n- check: 4.1.9\n  expires: 2999-01-01\n' >w2.yaml
	run -2 "$MOAT" bench --root "$NODES/worker" --waivers w2.yaml
	assert_output "moat bench: w2.yaml:2:3: a waiver needs reason: why it is accepted"
	printf 'waivers:\n- {check: 9.9.9, reason: r, expires: 2999-01-01}\n' >w3.yaml
	run -2 "$MOAT" bench --root "$NODES/worker" --waivers w3.yaml
	assert_output "moat bench: w3.yaml:2: check 9.9.9: cis-1.12 has no such control"
	printf 'waivers: [\n' >w4.yaml
	run -2 "$MOAT" bench --root "$NODES/worker" --waivers w4.yaml
	assert_output --partial "w4.yaml:2:1: YAML syntax error"
}

# ---- checks as data ----

@test "--checks-dir overrides a control and adds one; a bad control is exit 2 with its line" {
	need_roots
	mkdir extra
	cat >extra/site.yaml <<-'EOF'
	kind: BenchChecks
	benchmark: cis-1.12
	target: node
	component: kubelet
	section: "4"
	title: Worker Node Security Configuration
	groups:
	- id: "4.2"
	  title: Kubelet
	  checks:
	  - id: 4.2.13
	    title: Ensure that a limit is set on pod PIDs
	    automated: true
	    test: {setting: kubelet.pod-max-pids, gte: "-1"}
	    remediation: site policy accepts the default
	  - id: 4.9.1
	    title: Site rule, the kubelet keeps its client certificate rotated
	    automated: true
	    test: {setting: kubelet.rotate-certificates, eq: "true"}
	    remediation: set rotateCertificates
	EOF
	run -1 "$MOAT" bench --root "$NODES/worker" --checks-dir extra
	assert_line --regexp '^\[PASS\] 4.2.13 .*\(Automated\)$'
	assert_line --regexp '^\[PASS\] 4.9.1 Site rule'
	printf 'kind: BenchChecks\nbenchmark: cis-1.12\ntarget: node\nsection: "4"\ntitle: t\ngroups:\n- id: "4.9"\n  title: x\n  checks:\n  - id: 4.9.2\n    title: t\n    automated: true\n    test: {setting: kubelet.no-such-flag, eq: "1"}\n    remediation: r\n' >extra/site.yaml
	run -2 "$MOAT" bench --root "$NODES/worker" --checks-dir extra
	assert_output "moat bench: extra/site.yaml:13:21: setting 'kubelet.no-such-flag': kubelet has no such setting in components.yaml"
	printf 'kind: BenchChecks\nbenchmark: cis-1.12\ntarget: node\nsection: "4"\ntitle: t\ngroups:\n- id: "4.9"\n  title: x\n  checks:\n  - id: 4.9.2\n    titel: t\n' >extra/site.yaml
	run -2 "$MOAT" bench --root "$NODES/worker" --checks-dir extra
	assert_output --partial "extra/site.yaml:11:5: unknown key 'titel' in a check"
}

# ---- outputs ----

@test "--output writes json, junit, sarif and html at once, each valid" {
	need_roots
	need_python jsonschema
	cat >waivers.yaml <<-'EOF'
	waivers:
	- {check: 1.1.12, reason: "etcd <runs> as root & kubeadm says so", expires: 2999-01-01}
	EOF
	run -1 --separate-stderr "$MOAT" bench --root "$NODES/controlplane" --waivers waivers.yaml \
		--output json=r.json --output junit=r.xml --output sarif=r.sarif --output html=r.html
	[ -s r.json ] && [ -s r.xml ] && [ -s r.sarif ] && [ -s r.html ]
	"$BATS_TEST_DIRNAME/check-bench" r.json '
assert c["1.1.12"]["status"] == "INFO" and c["1.1.12"]["waiver"]["where"] == "waivers.yaml:2"
'
	"$SARIF_VALIDATE" r.sarif
	"$CHECK_REPORT" junit r.xml '
assert r.tag == "testsuites" and len(r.findall("testsuite")) == 5, r
cases = r.findall(".//testcase")
assert len(cases) == 131, len(cases)
assert int(r.get("failures")) == len(r.findall(".//failure")) > 0
'
	# Self-contained: no scripts, no remote styles, fonts or images.
	! grep -Eq '<script|https?://[^"]*\.(css|js|png|svg|woff)|<link ' r.html
	grep -q '<svg' r.html
	grep -q 'etcd &lt;runs&gt; as root &amp; kubeadm says so' r.html
	grep -q '<h2>Waivers</h2>' r.html
	grep -q '1.2 API Server\|<h2>1 Control Plane Security Configuration</h2>' r.html
}

@test "text on a terminal is coloured, and plain when piped or with NO_COLOR" {
	need_roots
	command -v script >/dev/null || skip "script(1) is not installed"
	run script -qec "$MOAT bench --root $NODES/broken --check 4.2.1" /dev/null
	assert_output --partial $'\033[31mFAIL'
	run -1 "$MOAT" bench --root "$NODES/broken" --check 4.2.1
	refute_output --partial $'\033['
	run env NO_COLOR=1 script -qec "$MOAT bench --root $NODES/broken --check 4.2.1" /dev/null
	refute_output --partial $'\033[31m'
}

# ---- live ----

@test "live: a running kubelet's command line and config are read through /proc" {
	need_roots
	need_python jsonschema
	command -v cc >/dev/null || skip "no C compiler for the stand-in kubelet"
	cc -o kubelet "$NODES_SRC/fake-component.c"
	cp "$NODES/hardened/var/lib/kubelet/config.yaml" live-config.yaml
	chmod 600 live-config.yaml
	./kubelet --config="$PWD/live-config.yaml" --anonymous-auth=false --read-only-port 10255 &
	pid=$!
	run --separate-stderr "$MOAT" bench --format json --check 4.2.1,4.2.4,4.1.9
	kill "$pid"
	echo "$output" >report.json
	"$BATS_TEST_DIRNAME/check-bench" report.json "
assert r['node']['mode'] == 'live', r['node']
assert r['node']['kubernetesVersion'] == '1.33.2', r['node']
assert r['node']['versionSource'].startswith('kubelet --version (process $pid)'), r['node']
e = c['4.2.1']['evidence'][0]
assert c['4.2.1']['status'] == 'PASS' and e['source'] == 'command line' and e['where'] == 'process $pid', e
e = c['4.2.4']['evidence'][0]
assert c['4.2.4']['status'] == 'WARN' and e['value'] == '10255', e
e = c['4.1.9']['evidence'][0]
assert c['4.1.9']['status'] == 'PASS' and e['path'] == '$PWD/live-config.yaml' and e['mode'] == '0600', e
"
}
