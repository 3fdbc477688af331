#!/usr/bin/env bats
# moat policy check: verdicts, levels, versions, inputs and object kinds,
# in the default text format.

load helper

@test "a clean manifest exits 0 with a summary of 0 violations" {
	write_pod good.yaml good
	run -0 --separate-stderr "$MOAT" policy check good.yaml
	assert_output 'moat policy check: 1 file, 1 object checked: 0 violations'
	assert_equal "$stderr" ""

	cp "$FIXTURES/restricted-good.yaml" .
	run -0 "$MOAT" policy check restricted-good.yaml
	assert_output 'moat policy check: 1 file, 2 objects checked: 0 violations'
}

@test "a violation exits 1 with the exact compiler-style line" {
	cp "$FIXTURES/baseline-privileged.yaml" .
	run -1 --separate-stderr "$MOAT" policy check --level baseline --no-share-nothing baseline-privileged.yaml
	assert_output - <<-'EOF'
	baseline-privileged.yaml:10:7: baseline: Pod priv: container "app" must not set securityContext.privileged=true [pss/privileged]
	baseline-privileged.yaml:18:23: baseline: Pod priv: init container "setup" must not set securityContext.privileged=true [pss/privileged]
	moat policy check: 1 file, 1 object checked: 2 violations
	EOF
	assert_equal "$stderr" ""
}

@test "paths print as given, without ./, and objects as Kind namespace/name" {
	run -1 "$MOAT" policy check -l baseline --no-share-nothing "$FIXTURES/baseline-privileged.yaml"
	assert_line --index 0 "$FIXTURES/baseline-privileged.yaml:10:7: baseline: Pod priv: container \"app\" must not set securityContext.privileged=true [pss/privileged]"

	mkdir sub
	write_pod sub/p.yaml web shop 'privileged: true'
	local want='sub/p.yaml:16:7: baseline: Pod shop/web: container "app" must not set securityContext.privileged=true [pss/privileged]'
	run -1 "$MOAT" policy check -q sub/p.yaml
	assert_output "$want"
	run -1 "$MOAT" policy check -q ./sub/p.yaml
	assert_output "$want"
	run -1 "$MOAT" policy check -q .//sub/p.yaml
	assert_output "$want"
	run -1 "$MOAT" policy check -q .
	assert_output "$want"
	run -1 "$MOAT" policy check -q "$PWD/sub/p.yaml"
	assert_output "$want"
}

@test "defaults are restricted, latest and share-nothing on" {
	cat >p.yaml <<-'EOF'
	apiVersion: v1
	kind: Pod
	metadata: {name: p}
	spec:
	  hostPID: true
	  hostUsers: false
	  securityContext:
	    runAsNonRoot: true
	    seccompProfile: {type: RuntimeDefault}
	  containers:
	  - name: app
	    image: nginx
	    securityContext:
	      allowPrivilegeEscalation: false
	      capabilities: {drop: [ALL]}
	      procMount: Unmasked
	EOF
	# procMount_restricted exists from v1.35 on, so "latest" shows it;
	# hostPID shows both the baseline check and the share-nothing one.
	run -1 "$MOAT" policy check p.yaml
	local default=$output
	assert_output - <<-'EOF'
	p.yaml:5:3: baseline: Pod p: pod must not set hostPID=true: it shares the host's namespace [pss/hostNamespaces]
	p.yaml:5:3: share-nothing: Pod p: pod must not set hostPID=true: a pod shares nothing with the node; remove it [share-nothing/hostpid]
	p.yaml:16:7: restricted: Pod p: container "app" must not set securityContext.procMount to "Unmasked": use Default [pss/procMount_restricted]
	moat policy check: 1 file, 1 object checked: 3 violations
	EOF
	run -1 "$MOAT" policy check --level restricted --version latest p.yaml
	assert_output "$default"
	run -1 "$MOAT" policy check --level restricted --version v1.37 p.yaml
	assert_output "$default"
}

@test "--level restricted reports what --level baseline lets through" {
	write_pod p.yaml p
	sed -i '/allowPrivilegeEscalation/d' p.yaml
	run -0 "$MOAT" policy check --level baseline p.yaml
	run -1 "$MOAT" policy check --level restricted -q p.yaml
	assert_output 'p.yaml:12:5: restricted: Pod p: container "app" must set securityContext.allowPrivilegeEscalation=false [pss/allowPrivilegeEscalation]'
}

@test "--level privileged reports only share-nothing findings, and none without them" {
	cp "$FIXTURES/baseline-host-namespaces.yaml" ns.yaml
	run -1 "$MOAT" policy check --level privileged ns.yaml
	assert_output - <<-'EOF'
	ns.yaml:9:7: share-nothing: Deployment shop/web: pod must not set hostNetwork=true: a pod shares nothing with the node; remove it [share-nothing/hostnetwork]
	ns.yaml:10:7: share-nothing: Deployment shop/web: pod must not set hostPID=true: a pod shares nothing with the node; remove it [share-nothing/hostpid]
	moat policy check: 1 file, 1 object checked: 2 violations
	EOF
	cp "$FIXTURES/baseline-privileged.yaml" priv.yaml
	run -0 "$MOAT" policy check --level privileged --no-share-nothing ns.yaml priv.yaml
	assert_output 'moat policy check: 2 files, 2 objects checked: 0 violations'
}

@test "--no-share-nothing drops exactly the share-nothing findings" {
	cp "$FIXTURES/baseline-hostpath.yaml" hp.yaml
	run -1 "$MOAT" policy check -q --level baseline hp.yaml
	assert_output - <<-'EOF'
	hp.yaml:11:5: baseline: Pod hp: volume "data" must not be a hostPath (of "/var/lib/data"): use emptyDir, configMap, secret or a PVC [pss/hostPathVolumes]
	hp.yaml:11:5: share-nothing: Pod hp: volume "data" mounts the node's "/var/lib/data": a pod has its own disk; use emptyDir or a PVC [share-nothing/hostpath]
	EOF
	run -1 "$MOAT" policy check -q --level baseline --no-share-nothing hp.yaml
	assert_output 'hp.yaml:11:5: baseline: Pod hp: volume "data" must not be a hostPath (of "/var/lib/data"): use emptyDir, configMap, secret or a PVC [pss/hostPathVolumes]'
}

@test "--version v1.33 has no hostProbesAndHostLifecycle check, v1.34 has" {
	cp "$FIXTURES/baseline-host-probes.yaml" probes.yaml
	run -0 "$MOAT" policy check --level baseline --no-share-nothing --version v1.33 probes.yaml
	assert_output 'moat policy check: 1 file, 1 object checked: 0 violations'
	run -1 "$MOAT" policy check --level baseline --no-share-nothing --version v1.34 probes.yaml
	assert_output - <<-'EOF'
	probes.yaml:11:9: baseline: Pod probes: container "app" must not point a probe or lifecycle handler at host "169.254.169.254": leave host unset so it targets the pod itself [pss/hostProbesAndHostLifecycle]
	probes.yaml:18:11: baseline: Pod probes: container "app" must not point a probe or lifecycle handler at host "10.0.0.1": leave host unset so it targets the pod itself [pss/hostProbesAndHostLifecycle]
	moat policy check: 1 file, 1 object checked: 2 violations
	EOF
}

@test "a version above the newest (v1.99) evaluates as the newest; older ones lack newer checks" {
	cp "$FIXTURES/baseline-host-probes.yaml" probes.yaml
	run -1 "$MOAT" policy check --level baseline --no-share-nothing --version v1.37 probes.yaml
	local newest=$output
	run -1 --separate-stderr "$MOAT" policy check --level baseline --no-share-nothing --version v1.99 probes.yaml
	assert_output "$newest"
	assert_equal "$stderr" ""

	write_pod p.yaml p '' 'runAsUser: 0'
	run -0 "$MOAT" policy check --version v1.22 p.yaml
	run -1 "$MOAT" policy check -q --version v1.23 p.yaml
	assert_output --regexp '^p\.yaml:15:7: restricted: Pod p: .*\[pss/runAsUser\]$'
}

@test "-q drops the summary, and prints nothing at all when clean" {
	cp "$FIXTURES/baseline-privileged.yaml" priv.yaml
	run -1 "$MOAT" policy check -q -l baseline --no-share-nothing priv.yaml
	assert_equal "${#lines[@]}" 2
	refute_output --partial 'moat policy check:'
	write_pod good.yaml good
	run -0 "$MOAT" policy check --quiet good.yaml
	assert_output ""
}

@test "-o FILE writes the report there and nothing to stdout" {
	cp "$FIXTURES/baseline-privileged.yaml" priv.yaml
	run -1 "$MOAT" policy check -l baseline --no-share-nothing priv.yaml
	local want=$output
	run -1 --separate-stderr "$MOAT" policy check -l baseline --no-share-nothing -o report.txt priv.yaml
	assert_output ""
	assert_equal "$stderr" ""
	assert_equal "$(cat report.txt)" "$want"
	# The exit code still says what the report says, and a second run replaces the file.
	write_pod good.yaml good
	run -0 "$MOAT" policy check --output report.txt good.yaml
	assert_equal "$(cat report.txt)" 'moat policy check: 1 file, 1 object checked: 0 violations'
}

@test "-o naming one of the inputs neither destroys it unchecked nor passes it" {
	# Opening the report truncates the file; if that happens before the
	# file is read, the manifest is lost and the run says it is clean.
	cp "$FIXTURES/baseline-privileged.yaml" priv.yaml
	run "$MOAT" policy check -l baseline --no-share-nothing -o priv.yaml priv.yaml
	refute_crash
	[ "$status" -eq 1 ] || [ "$status" -eq 2 ] || fail "exit $status: the violations in priv.yaml went unreported"
	if [ "$status" -eq 2 ]; then
		# Refused: the manifest must be as it was.
		cmp priv.yaml "$FIXTURES/baseline-privileged.yaml"
	else
		# Read first, then replaced by the report (as sort -o does).
		grep -q '^priv.yaml:10:7: baseline: Pod priv: .*\[pss/privileged\]$' priv.yaml
	fi
}

# ---- inputs ----

@test "a directory is searched recursively for *.yaml, *.yml and *.json only" {
	mkdir -p deploy/b/c
	write_pod deploy/a.yaml a '' 'privileged: true'
	write_pod deploy/b/c/d.yml d '' 'privileged: true'
	cat >deploy/b/e.json <<-'EOF'
	{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "e"},
	 "spec": {"hostIPC": true, "containers": [{"name": "app", "image": "nginx"}]}}
	EOF
	# Other names are not manifests, whatever they hold.
	write_pod deploy/notes.txt txt '' 'privileged: true'
	write_pod deploy/b/README.md md '' 'privileged: true'
	write_pod deploy/b/upper.YAML upper '' 'privileged: true'
	write_pod deploy/b/yaml '' '' 'privileged: true'
	write_pod deploy/b/c/backup.yaml~ backup '' 'privileged: true'
	run -1 "$MOAT" policy check -l baseline deploy
	assert_output - <<-'EOF'
	deploy/a.yaml:15:7: baseline: Pod a: container "app" must not set securityContext.privileged=true [pss/privileged]
	deploy/b/c/d.yml:15:7: baseline: Pod d: container "app" must not set securityContext.privileged=true [pss/privileged]
	deploy/b/e.json:2:11: baseline: Pod e: pod must not set hostIPC=true: it shares the host's namespace [pss/hostNamespaces]
	deploy/b/e.json:2:11: share-nothing: Pod e: pod must not set hostIPC=true: a pod shares nothing with the node; remove it [share-nothing/hostipc]
	moat policy check: 3 files, 3 objects checked: 4 violations
	EOF
}

@test "a directory walk skips dot-directories such as .git, and dot-files" {
	mkdir -p repo/.git/objects repo/.github repo/app
	write_pod repo/app/pod.yaml good
	write_pod repo/.git/objects/bad.yaml bad1 '' 'privileged: true'
	write_pod repo/.github/bad.yml bad2 '' 'privileged: true'
	write_pod repo/.hidden.yaml bad3 '' 'privileged: true'
	run -0 "$MOAT" policy check repo
	assert_output 'moat policy check: 1 file, 1 object checked: 0 violations'
}

@test "a path named on the command line is checked whatever its name, even a dot-directory" {
	mkdir .config
	write_pod .config/bad.yaml bad '' 'privileged: true'
	run -1 "$MOAT" policy check -q .config
	assert_output --partial '.config/bad.yaml:15:7: baseline: Pod bad:'

	write_pod manifest.txt bad '' 'privileged: true'
	run -1 "$MOAT" policy check -q manifest.txt
	assert_output --partial 'manifest.txt:15:7: baseline: Pod bad:'
}

@test "a directory walk is in byte order whatever the creation order; paths in the order given" {
	mkdir d
	local n
	for n in z y_ b/x B a A _ 1; do
		mkdir -p "d/$(dirname "$n")"
		write_pod "d/$n.yaml" "p-${n//[\/_]/-}" '' 'privileged: true'
	done
	run -1 "$MOAT" policy check -q d
	local files
	files=$(cut -d: -f1 <<<"$output" | tr '\n' ' ')
	assert_equal "$files" "d/1.yaml d/A.yaml d/B.yaml d/_.yaml d/a.yaml d/b/x.yaml d/y_.yaml d/z.yaml "
	# The same run twice gives the same bytes.
	local first=$output
	run -1 env LC_ALL=C.UTF-8 "$MOAT" policy check -q d
	assert_output "$first"

	write_pod z.yaml z '' 'privileged: true'
	write_pod a.yaml a '' 'privileged: true'
	run -1 "$MOAT" policy check -q z.yaml a.yaml
	assert_line --index 0 --partial 'z.yaml:15:7:'
	assert_line --index 1 --partial 'a.yaml:15:7:'
}

@test "- reads standard input, shown as <stdin>, alone or beside files" {
	run -1 "$MOAT" policy check -l baseline --no-share-nothing - <"$FIXTURES/baseline-privileged.yaml"
	assert_output - <<-'EOF'
	<stdin>:10:7: baseline: Pod priv: container "app" must not set securityContext.privileged=true [pss/privileged]
	<stdin>:18:23: baseline: Pod priv: init container "setup" must not set securityContext.privileged=true [pss/privileged]
	moat policy check: 1 file, 1 object checked: 2 violations
	EOF

	write_pod good.yaml good
	cat "$FIXTURES/baseline-privileged.yaml" | {
		run -1 "$MOAT" policy check -q -l baseline --no-share-nothing good.yaml -
		assert_equal "${#lines[@]}" 2
		assert_line --index 0 --partial '<stdin>:10:7: baseline: Pod priv:'
	}
}

@test "an empty file or one with only comments is clean, with no objects" {
	: >empty.yaml
	printf '# nothing here\n---\n' >comments.yaml
	run -0 "$MOAT" policy check empty.yaml comments.yaml
	assert_output 'moat policy check: 2 files, 0 objects checked: 0 violations'
}

@test "every document of a multi-document YAML file is checked" {
	cat >multi.yaml <<-'EOF'
	apiVersion: v1
	kind: Pod
	metadata: {name: one}
	spec:
	  containers: [{name: a, image: x, securityContext: {privileged: true}}]
	---
	---
	apiVersion: v1
	kind: Pod
	metadata: {name: two}
	spec:
	  containers: [{name: a, image: x}]
	...
	---
	apiVersion: v1
	kind: Pod
	metadata: {name: three}
	spec:
	  hostNetwork: true
	  containers: [{name: a, image: x}]
	EOF
	run -1 "$MOAT" policy check -l baseline --no-share-nothing multi.yaml
	assert_output - <<-'EOF'
	multi.yaml:5:54: baseline: Pod one: container "a" must not set securityContext.privileged=true [pss/privileged]
	multi.yaml:19:3: baseline: Pod three: pod must not set hostNetwork=true: it shares the host's namespace [pss/hostNamespaces]
	moat policy check: 1 file, 3 objects checked: 2 violations
	EOF
}

@test "kind: List and typed lists (PodList): items checked, other kinds counted as skipped" {
	cp "$FIXTURES/workloads.yaml" .
	run -1 "$MOAT" policy check -l baseline workloads.yaml
	assert_output - <<-'EOF'
	workloads.yaml:16:15: baseline: CronJob nightly: container "job" must not set securityContext.privileged=true [pss/privileged]
	workloads.yaml:27:9: baseline: DaemonSet agent: pod must not set hostPID=true: it shares the host's namespace [pss/hostNamespaces]
	workloads.yaml:27:9: share-nothing: DaemonSet agent: pod must not set hostPID=true: a pod shares nothing with the node; remove it [share-nothing/hostpid]
	moat policy check: 1 file, 2 objects checked (1 of other kinds skipped): 3 violations
	EOF

	cat >list.yaml <<-'EOF'
	apiVersion: v1
	kind: PodList
	items:
	- apiVersion: v1
	  kind: Pod
	  metadata: {name: a, namespace: x}
	  spec:
	    hostIPC: true
	    containers: [{name: c, image: i}]
	EOF
	run -1 "$MOAT" policy check -q -l baseline --no-share-nothing list.yaml
	assert_output "list.yaml:8:5: baseline: Pod x/a: pod must not set hostIPC=true: it shares the host's namespace [pss/hostNamespaces]"
}

@test "a JSON manifest is checked with its own lines and columns" {
	cp "$FIXTURES/json-pod.json" pod.json
	run -1 "$MOAT" policy check -l baseline pod.json
	assert_output - <<-'EOF'
	pod.json:6:5: baseline: Pod ci/from-json: pod must not set hostIPC=true: it shares the host's namespace [pss/hostNamespaces]
	pod.json:6:5: share-nothing: Pod ci/from-json: pod must not set hostIPC=true: a pod shares nothing with the node; remove it [share-nothing/hostipc]
	pod.json:12:11: baseline: Pod ci/from-json: container "app" must not set securityContext.privileged=true [pss/privileged]
	moat policy check: 1 file, 1 object checked: 3 violations
	EOF
}

@test "kinds with no pod (ConfigMap, Secret, Namespace) are counted as skipped" {
	cat >other.yaml <<-'EOF'
	apiVersion: v1
	kind: ConfigMap
	metadata: {name: cm}
	data: {hostNetwork: "true", privileged: "true"}
	---
	apiVersion: v1
	kind: Secret
	metadata: {name: s}
	---
	apiVersion: v1
	kind: Namespace
	metadata: {name: n}
	EOF
	run -0 "$MOAT" policy check other.yaml
	assert_output 'moat policy check: 1 file, 0 objects checked (3 of other kinds skipped): 0 violations'
}

@test "each workload kind reports the finding at the nested field's line" {
	cat >kinds.yaml <<-'EOF'
	apiVersion: apps/v1
	kind: Deployment
	metadata: {name: d}
	spec:
	  template:
	    spec:
	      containers:
	      - name: c
	        image: x
	        securityContext: {privileged: true}
	---
	apiVersion: apps/v1
	kind: StatefulSet
	metadata: {name: s}
	spec:
	  template:
	    spec:
	      containers:
	      - name: c
	        image: x
	        securityContext: {privileged: true}
	---
	apiVersion: apps/v1
	kind: DaemonSet
	metadata: {name: ds}
	spec:
	  template:
	    spec:
	      containers:
	      - name: c
	        image: x
	        securityContext: {privileged: true}
	---
	apiVersion: batch/v1
	kind: Job
	metadata: {name: j}
	spec:
	  template:
	    spec:
	      containers:
	      - name: c
	        image: x
	        securityContext: {privileged: true}
	---
	apiVersion: batch/v1
	kind: CronJob
	metadata: {name: cj}
	spec:
	  jobTemplate:
	    spec:
	      template:
	        spec:
	          containers:
	          - name: c
	            image: x
	            securityContext: {privileged: true}
	---
	apiVersion: apps/v1
	kind: ReplicaSet
	metadata: {name: rs}
	spec:
	  template:
	    spec:
	      containers:
	      - name: c
	        image: x
	        securityContext: {privileged: true}
	---
	apiVersion: v1
	kind: ReplicationController
	metadata: {name: rc}
	spec:
	  template:
	    spec:
	      containers:
	      - name: c
	        image: x
	        securityContext: {privileged: true}
	---
	apiVersion: v1
	kind: PodTemplate
	metadata: {name: pt}
	template:
	  spec:
	    containers:
	    - name: c
	      image: x
	      securityContext: {privileged: true}
	---
	apiVersion: v1
	kind: ConfigMap
	metadata: {name: cm}
	data: {a: b}
	EOF
	run -1 "$MOAT" policy check -l baseline --no-share-nothing kinds.yaml
	assert_output - <<-'EOF'
	kinds.yaml:10:27: baseline: Deployment d: container "c" must not set securityContext.privileged=true [pss/privileged]
	kinds.yaml:21:27: baseline: StatefulSet s: container "c" must not set securityContext.privileged=true [pss/privileged]
	kinds.yaml:32:27: baseline: DaemonSet ds: container "c" must not set securityContext.privileged=true [pss/privileged]
	kinds.yaml:43:27: baseline: Job j: container "c" must not set securityContext.privileged=true [pss/privileged]
	kinds.yaml:56:31: baseline: CronJob cj: container "c" must not set securityContext.privileged=true [pss/privileged]
	kinds.yaml:67:27: baseline: ReplicaSet rs: container "c" must not set securityContext.privileged=true [pss/privileged]
	kinds.yaml:78:27: baseline: ReplicationController rc: container "c" must not set securityContext.privileged=true [pss/privileged]
	kinds.yaml:88:25: baseline: PodTemplate pt: container "c" must not set securityContext.privileged=true [pss/privileged]
	moat policy check: 1 file, 8 objects checked (1 of other kinds skipped): 8 violations
	EOF
}

@test "a workload kind is checked through its pod template's metadata (annotations)" {
	cat >d.yaml <<-'EOF'
	apiVersion: apps/v1
	kind: Deployment
	metadata:
	  name: d
	  annotations:
	    seccomp.security.alpha.kubernetes.io/pod: runtime/default
	spec:
	  template:
	    metadata:
	      annotations:
	        seccomp.security.alpha.kubernetes.io/pod: unconfined
	    spec:
	      containers: [{name: c, image: x}]
	EOF
	run -1 "$MOAT" policy check -q -l baseline --no-share-nothing --version v1.18 d.yaml
	assert_output --regexp '^d\.yaml:11:9: baseline: Deployment d: .*\[pss/seccompProfile_baseline\]$'
}

@test "Service rules: NodePort, LoadBalancer without allocateLoadBalancerNodePorts: false" {
	cp "$FIXTURES/share-nothing-services.yaml" svc.yaml
	run -1 "$MOAT" policy check svc.yaml
	assert_output - <<-'EOF'
	svc.yaml:6:3: share-nothing: Service np: Service must not be of type NodePort: it opens a port on every node; use ClusterIP, or a LoadBalancer with allocateLoadBalancerNodePorts: false [share-nothing/nodeport]
	svc.yaml:15:3: share-nothing: Service lb: LoadBalancer Service must set allocateLoadBalancerNodePorts: false, or it also opens a port on every node [share-nothing/loadbalancer-nodeports]
	svc.yaml:33:3: share-nothing: Service lb-open: LoadBalancer Service must set allocateLoadBalancerNodePorts: false, or it also opens a port on every node [share-nothing/loadbalancer-nodeports]
	moat policy check: 1 file, 5 objects checked: 3 violations
	EOF

	cp "$FIXTURES/share-nothing-services.yaml" svc.yaml
	run -0 "$MOAT" policy check --no-share-nothing svc.yaml
	assert_output 'moat policy check: 1 file, 5 objects checked: 0 violations'

	cat >svc.yaml <<-'EOF'
	apiVersion: v1
	kind: Service
	metadata: {name: a}
	spec: {type: ClusterIP, ports: [{port: 80}]}
	---
	apiVersion: v1
	kind: Service
	metadata: {name: b}
	spec: {type: ExternalName, externalName: db.example}
	EOF
	run -0 "$MOAT" policy check svc.yaml
	assert_output 'moat policy check: 1 file, 2 objects checked: 0 violations'
}

@test "YAML anchors and merge keys are followed, each use reported" {
	cp "$FIXTURES/anchors-and-merge-keys.yaml" anchors.yaml
	run -1 "$MOAT" policy check -q -l baseline --no-share-nothing anchors.yaml
	assert_output - <<-'EOF'
	anchors.yaml:10:7: baseline: Pod anchors: container "a" must not set securityContext.privileged=true [pss/privileged]
	anchors.yaml:10:7: baseline: Pod anchors: container "b" must not set securityContext.privileged=true [pss/privileged]
	EOF
}

@test "annotations on the object or its pod template never exempt it" {
	cat >sneaky.yaml <<-'EOF'
	apiVersion: v1
	kind: Pod
	metadata:
	  name: sneaky
	  labels:
	    pod-security.kubernetes.io/enforce: privileged
	  annotations:
	    moat.dev/exempt: "true"
	    moat.dev/exceptions: pss/privileged
	    moat.dev/skip: "pss/privileged,share-nothing/hostpid"
	    pod-security.kubernetes.io/exempt: "true"
	    pod-security.kubernetes.io/enforce: privileged
	    policies.kyverno.io/exclude: "true"
	    policies.kyverno.io/scored: "false"
	    kube-score/ignore: container-security-context
	spec:
	  hostPID: true
	  securityContext:
	    runAsNonRoot: true
	    seccompProfile: {type: RuntimeDefault}
	  containers:
	  - name: app
	    image: nginx
	    securityContext:
	      privileged: true
	      allowPrivilegeEscalation: false
	      capabilities: {drop: [ALL]}
	EOF
	run -1 "$MOAT" policy check sneaky.yaml
	assert_output - <<-'EOF'
	sneaky.yaml:17:3: baseline: Pod sneaky: pod must not set hostPID=true: it shares the host's namespace [pss/hostNamespaces]
	sneaky.yaml:17:3: share-nothing: Pod sneaky: pod must not set hostPID=true: a pod shares nothing with the node; remove it [share-nothing/hostpid]
	sneaky.yaml:25:7: baseline: Pod sneaky: container "app" must not set securityContext.privileged=true [pss/privileged]
	moat policy check: 1 file, 1 object checked: 3 violations
	EOF

	cat >d.yaml <<-'EOF'
	apiVersion: apps/v1
	kind: Deployment
	metadata:
	  name: d
	  annotations: {moat.dev/exempt: "true"}
	spec:
	  template:
	    metadata:
	      annotations: {moat.dev/exempt: "true", pod-security.kubernetes.io/exempt: "true"}
	    spec:
	      hostNetwork: true
	      containers: [{name: c, image: x}]
	EOF
	run -1 "$MOAT" policy check -q -l baseline d.yaml
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 --partial 'd.yaml:11:7: baseline: Deployment d:'
	assert_line --index 1 --partial '[share-nothing/hostnetwork]'
}

@test "-o through a device, a pipe or a link writes through it and never replaces it" {
	write_pod p.yaml p
	mkfifo out.fifo
	cat out.fifo >got.txt &
	run -0 "$MOAT" policy check -o out.fifo p.yaml
	wait
	[ -p out.fifo ]
	assert_equal "$(tail -n 1 got.txt)" "moat policy check: 1 file, 1 object checked: 0 violations"
	run -0 "$MOAT" policy check -o /dev/null p.yaml
	[ -c /dev/null ]
	ln -s real.txt link.txt
	: >real.txt
	run -0 "$MOAT" policy check -o link.txt p.yaml
	[ -L link.txt ]
	assert_equal "$(tail -n 1 real.txt)" "moat policy check: 1 file, 1 object checked: 0 violations"
}

@test "--jobs: files checked in parallel give byte-identical output in every format" {
	mkdir -p tree/a tree/b
	for i in $(seq 1 40); do
		cp "$MOAT_TOP/examples/leaky-pod.yaml" "tree/a/p$i.yaml"
		cp "$MOAT_TOP/examples/pod.yaml" "tree/b/q$i.yaml"
	done
	printf 'kind: Pod\nspec: [\n' >tree/a/broken.yaml
	for fmt in text json sarif junit; do
		run -2 "$MOAT" policy check --jobs 1 --format "$fmt" tree missing.yaml
		one=$output
		run -2 "$MOAT" policy check --jobs 4 --format "$fmt" tree missing.yaml
		[ "$output" = "$one" ] || fail "--jobs 4 differs from --jobs 1 in $fmt"
	done
	run -2 "$MOAT" policy check --jobs 3 tree missing.yaml
	assert_line --partial "tree/a/broken.yaml:3:1: error:"
	assert_line --partial "missing.yaml:1:1: error:"
	assert_line --regexp '^moat policy check: 81 files'
}

@test "--jobs takes 1 to 64, and refuses anything else with exit 2" {
	for bad in 0 65 -1 x 2x ""; do
		run -2 "$MOAT" policy check --jobs "$bad" "$MOAT_TOP/examples/pod.yaml"
		assert_output --partial "bad --jobs"
	done
	run -0 "$MOAT" policy check -j 1 "$MOAT_TOP/examples/pod.yaml"
}
