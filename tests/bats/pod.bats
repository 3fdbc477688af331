#!/usr/bin/env bats
# moat pod: real QEMU guests (TCG here), booting Debian's cloud kernel with
# moat's agent, running busybox images built with umoci and skopeo.

load helper

bb_extra() {
	echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >etc/passwd
}

setup_file() {
	guest_prereqs skopeo mkfs.ext4
	# The VMMs' cgroups go under a parent of the tests' own.
	export MOAT_CGROUP_PARENT=moat-test-pod
	busybox_image sh echo cat ls id sleep unshare test touch mkdir grep find wc true false
	(cd "$BATS_FILE_TMPDIR/img" && skopeo copy -q oci:oci:bb docker-archive:bb.tar:bbd:latest) \
		>>"$BATS_FILE_TMPDIR/img.log" 2>&1 || skip "skopeo could not make a docker-archive (see img.log)"
	"$MOAT" image import "$BATS_FILE_TMPDIR/img/bb.tar" >/dev/null
}

teardown_file() {
	[ -n "${MOAT_STATE_DIR:-}" ] || return 0
	for p in $("$MOAT" pod ls --format json 2>/dev/null | python3 -c 'import json,sys; [print(p["name"]) for p in json.load(sys.stdin)]' 2>/dev/null); do
		"$MOAT" pod rm -f "$p" >/dev/null 2>&1
	done
	for d in /sys/fs/cgroup/*/"$MOAT_CGROUP_PARENT" /sys/fs/cgroup/"$MOAT_CGROUP_PARENT"; do
		[ -d "$d" ] && rmdir "$d"/*/ "$d"
	done
	true
}

# pod NAME COMMAND [EXTRA-SPEC]: a one-container busybox pod manifest.
pod() {
	cat <<-EOF
	apiVersion: v1
	kind: Pod
	metadata: {name: $1}
	spec:
	  restartPolicy: Never
	  containers:
	    - name: main
	      image: bb:latest
	      command: [sh, -c, '$2']
	$3
	EOF
}

@test "pod: a pod that prints and exits: its logs, its exit code, the accelerator said" {
	pod hello 'echo hello from the pod; echo oops >&2' >hello.yaml
	run --separate-stderr "$MOAT" pod run hello.yaml --wait
	[ "$status" = 0 ]
	stderr_as_output
	assert_output --regexp "hello: accel (tcg|kvm) \((the CPU shows|as --accel|/dev/kvm)"
	assert_output --partial "container main exited 0"
	run -0 "$MOAT" pod logs hello
	assert_line --regexp '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z stdout F hello from the pod$'
	assert_line --regexp 'Z stderr F oops$'
	[ "$(status hello 'd["phase"]')" = Succeeded ]
	[ "$(status hello 'd["containers"]["main"]["exitCode"]')" = 0 ]
	pod fails 'echo failing; exit 7' >fails.yaml
	run -3 "$MOAT" pod run fails.yaml --wait --accel tcg
	[ "$(status fails 'd["containers"]["main"]["exitCode"]')" = 7 ]
	[ "$(status fails 'd["phase"]')" = Failed ]
	run -0 "$MOAT" pod ls
	assert_line --regexp '^hello +0/1 +Succeeded'
	assert_line --regexp '^fails +0/1 +Failed'
	run -0 "$MOAT" pod rm hello
	run -0 "$MOAT" pod rm fails
	[ ! -e "$MOAT_STATE_DIR/pods/hello" ]
}

@test "pod: containers of one pod share an emptyDir; initContainers run first, in order" {
	cat >shared.yaml <<-'EOF'
	apiVersion: v1
	kind: Pod
	metadata: {name: shared}
	spec:
	  restartPolicy: Never
	  volumes: [{name: work, emptyDir: {}}, {name: fast, emptyDir: {medium: Memory, sizeLimit: 8Mi}}]
	  initContainers:
	    - {name: first, image: bb:latest, command: [sh, -c, 'echo 1 >/work/order'], volumeMounts: [{name: work, mountPath: /work}]}
	    - {name: second, image: bb:latest, command: [sh, -c, 'echo 2 >>/work/order'], volumeMounts: [{name: work, mountPath: /work}]}
	  containers:
	    - name: writer
	      image: bb:latest
	      command: [sh, -c, 'echo shared-data >/work/note; echo ram >/fast/x']
	      volumeMounts: [{name: work, mountPath: /work}, {name: fast, mountPath: /fast}]
	    - name: reader
	      image: bb:latest
	      command: [sh, -c, 'while [ ! -e /work/note ]; do sleep 0.1; done; cat /work/note /work/order /fast/x']
	      volumeMounts: [{name: work, mountPath: /work}, {name: fast, mountPath: /fast}]
	EOF
	run -0 "$MOAT" pod run shared.yaml --wait
	run -0 "$MOAT" pod logs shared -c reader
	assert_line --regexp 'stdout F shared-data$'
	assert_line --regexp 'stdout F 1$'
	assert_line --regexp 'stdout F 2$'
	assert_line --regexp 'stdout F ram$'
	"$MOAT" pod rm shared
}

@test "pod: ConfigMap and Secret volumes and env reach the containers; the secret touches no host disk" {
	cat >cfg.yaml <<-'EOF'
	apiVersion: v1
	kind: ConfigMap
	metadata: {name: settings}
	data: {greeting: "hello-from-configmap", mode: fast}
	---
	apiVersion: v1
	kind: Secret
	metadata: {name: creds}
	stringData: {password: "Sup3r-S3cret-Passw0rd"}
	---
	apiVersion: v1
	kind: Pod
	metadata: {name: cfg}
	spec:
	  restartPolicy: Never
	  volumes:
	    - {name: settings, configMap: {name: settings}}
	    - {name: creds, secret: {secretName: creds}}
	  containers:
	    - name: main
	      image: bb:latest
	      command: [sh, -c, 'cat /etc/settings/greeting; echo; echo "mode=$MODE"; test "$(cat /creds/password)" = "$PW" && echo secret-ok; grep -c tmpfs /proc/mounts >/dev/null; sleep 600']
	      env:
	        - {name: MODE, valueFrom: {configMapKeyRef: {name: settings, key: mode}}}
	        - {name: PW, valueFrom: {secretKeyRef: {name: creds, key: password}}}
	      volumeMounts:
	        - {name: settings, mountPath: /etc/settings}
	        - {name: creds, mountPath: /creds}
	EOF
	run -0 "$MOAT" pod run cfg.yaml
	for _ in $(seq 50); do "$MOAT" pod logs cfg | grep -q secret-ok && break; sleep 0.2; done
	run -0 "$MOAT" pod logs cfg
	assert_line --regexp 'stdout F hello-from-configmap$'
	assert_line --regexp 'stdout F mode=fast$'
	assert_line --regexp 'stdout F secret-ok$'
	# The secret is in guest RAM only: not on QEMU's command line, not in the
	# state directory, not on the pod's disk.
	qemu=$(status cfg 'd["qemuPid"]')
	run ! grep -a -q "Sup3r-S3cret" "/proc/$qemu/cmdline"
	run ! grep -r -a -q "Sup3r-S3cret" "$MOAT_STATE_DIR"
	run -0 "$MOAT" pod exec cfg -- sh -c 'grep " /creds " /proc/mounts'
	assert_output --partial tmpfs
	run -0 "$MOAT" pod stop cfg
	run ! grep -a -q "Sup3r-S3cret" "$MOAT_STATE_DIR/pods/cfg/disk.img"
	# The ConfigMap is on that disk, but the guest encrypts it (disk.bats).
	run ! grep -a -q "hello-from-configmap" "$MOAT_STATE_DIR/pods/cfg/disk.img"
	"$MOAT" pod rm cfg
}

@test "pod: exec runs in the container with its stdin, stdout, stderr and exit code" {
	pod ex 'echo up; sleep 600' '      resources: {limits: {memory: 200Mi, cpu: 1500m}}' >ex.yaml
	run -0 "$MOAT" pod run ex.yaml
	# The VM's size comes from the limits: 2 vCPUs, 200 MiB + 64 MiB.
	qemu=$(status ex 'd["qemuPid"]')
	tr '\0' ' ' <"/proc/$qemu/cmdline" | grep -q -- "-m 264 -smp 2 "
	run -0 "$MOAT" pod exec ex -- sh -c 'grep -c ^processor /proc/cpuinfo'
	assert_output 2
	run -3 "$MOAT" pod exec ex -- sh -c 'echo out; echo err >&2; exit 3'
	assert_output --partial out
	run -0 sh -c "echo piped-in | '$MOAT' pod exec ex -- cat"
	assert_output piped-in
	run -0 "$MOAT" pod exec ex -c main -- id -u
	assert_output 0
	run -2 "$MOAT" pod exec ex -c nosuch -- true
	assert_output --partial "no such container"
	run -0 "$MOAT" pod logs ex
	assert_line --regexp 'stdout F up$'
	"$MOAT" pod rm -f ex
}

@test "pod: runAsNonRoot with uid 0 is refused, and nothing is created" {
	pod nonroot 'id' '      securityContext: {runAsNonRoot: true}' >nonroot.yaml
	run -1 "$MOAT" pod run nonroot.yaml
	assert_output --partial "nonroot.yaml:"
	assert_output --partial "runAsNonRoot is set but the container would run as uid 0"
	[ ! -e "$MOAT_STATE_DIR/pods/nonroot" ]
	pod asuser 'id -u' '      securityContext: {runAsNonRoot: true, runAsUser: 65534}' >asuser.yaml
	run -0 "$MOAT" pod run asuser.yaml --wait
	run -0 "$MOAT" pod logs asuser
	assert_line --regexp 'stdout F 65534$'
	"$MOAT" pod rm asuser
}

@test "pod: RuntimeDefault seccomp blocks unshare in a container" {
	pod sec 'unshare -U true; echo "unshare=$?"' >sec.yaml
	run -0 "$MOAT" pod run sec.yaml --wait
	run -0 "$MOAT" pod logs sec
	assert_line --regexp 'stderr F unshare: unshare\(0x10000000\): Operation not permitted$'
	assert_line --regexp 'stdout F unshare=1$'
	"$MOAT" pod rm sec
}

@test "pod: pod A cannot see pod B's files" {
	pod pa 'echo only-in-pod-a >/tmp/a-private; sleep 600' >pa.yaml
	pod pb 'sleep 600' >pb.yaml
	run -0 "$MOAT" pod run pa.yaml
	run -0 "$MOAT" pod run pb.yaml
	run -0 "$MOAT" pod exec pa -- cat /tmp/a-private
	assert_output only-in-pod-a
	run -1 "$MOAT" pod exec pb -- cat /tmp/a-private
	run -0 "$MOAT" pod exec pb -- sh -c 'find / -xdev -name "a-private*" | wc -l'
	assert_output 0
	run -0 "$MOAT" pod exec pb -- sh -c 'ls /dev | grep -c vd || true'
	assert_output 0 # no disk devices inside the container
	"$MOAT" pod stop pa
	"$MOAT" pod stop pb
	# Neither disk shows it: pa's holds it encrypted (disk.bats).
	run ! grep -a -q only-in-pod-a "$MOAT_STATE_DIR/pods/pa/disk.img"
	run ! grep -a -q only-in-pod-a "$MOAT_STATE_DIR/pods/pb/disk.img"
	"$MOAT" pod rm pa
	"$MOAT" pod rm pb
}

@test "pod: hostPath, hostNetwork and NodePort are refused with the rule, and unsupported volumes are named" {
	pod hp 'true' '  volumes: [{name: h, hostPath: {path: /etc}}]' >hp.yaml
	run -1 "$MOAT" pod run hp.yaml
	assert_output --partial "share-nothing/hostpath"
	pod hn 'true' '  hostNetwork: true' >hn.yaml
	run -1 "$MOAT" pod run hn.yaml
	assert_output --partial "share-nothing/hostnetwork"
	{ pod np 'true'; printf -- '---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  type: NodePort\n  ports: [{port: 80, nodePort: 30080}]\n'; } >np.yaml
	run -1 "$MOAT" pod run np.yaml
	assert_output --partial "share-nothing/nodeport"
	pod nfs 'true' '  volumes: [{name: n, nfs: {server: x, path: /}}]' >nfs.yaml
	run -1 "$MOAT" pod run nfs.yaml
	assert_output --partial "nfs volumes are not supported"
	assert_output --partial "nfs.yaml:"
	pod priv 'true' '      securityContext: {privileged: true}' >priv.yaml
	run -1 "$MOAT" pod run priv.yaml
	assert_output --partial "privileged"
	run -0 "$MOAT" pod ls --format json
	assert_output "[]"
}

@test "pod: SIGKILL of QEMU leaves the pod Failed with the reason" {
	pod victim 'sleep 600' >victim.yaml
	run -0 "$MOAT" pod run victim.yaml
	qemu=$(status victim 'd["qemuPid"]')
	kill -9 "$qemu"
	for _ in $(seq 50); do [ "$(status victim 'd["phase"]')" = Failed ] && break; sleep 0.1; done
	[ "$(status victim 'd["phase"]')" = Failed ]
	run -0 status victim 'd["reason"]'
	assert_output --partial "VMKilled: qemu was killed by signal 9"
	run -0 "$MOAT" pod rm victim
}

@test "pod: a docker-archive image runs; bad manifests get exit 2 with their location" {
	cat >d.yaml <<-'EOF'
	apiVersion: v1
	kind: Pod
	metadata: {name: fromdocker}
	spec:
	  restartPolicy: Never
	  containers: [{name: main, image: "bbd:latest", command: [echo, from-docker-archive]}]
	EOF
	run -0 "$MOAT" pod run d.yaml --wait
	run -0 "$MOAT" pod logs fromdocker
	assert_line --regexp 'stdout F from-docker-archive$'
	"$MOAT" pod rm fromdocker
	printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n    - {name: main, image: nosuch:1}\n' >noimg.yaml
	run -2 "$MOAT" pod run noimg.yaml
	assert_output --partial "noimg.yaml:6:"
	assert_output --partial "moat image import"
	printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\nspec:\n  containers: [{name: m, image: bb:latest}]\n' >badname.yaml
	run -2 "$MOAT" pod run badname.yaml
	assert_output --partial "metadata.name"
	printf 'kind: Pod\n  bad: [\n' >broken.yaml
	run -2 "$MOAT" pod run broken.yaml
	assert_output --partial "broken.yaml:"
	run -0 "$MOAT" pod ls --format json
	assert_output "[]"
}

@test "pod: logs --follow streams until the container ends" {
	pod follow 'for i in 1 2 3; do echo "line $i"; sleep 1; done' >follow.yaml
	run -0 "$MOAT" pod run follow.yaml
	run -0 timeout 30 "$MOAT" pod logs follow --follow
	assert_line --regexp 'stdout F line 1$'
	assert_line --regexp 'stdout F line 3$'
	# The log ends with the container; the pod's end is recorded just after.
	for _ in $(seq 50); do [ "$(status follow 'd["phase"]')" = Succeeded ] && break; sleep 0.1; done
	[ "$(status follow 'd["phase"]')" = Succeeded ]
	"$MOAT" pod rm follow
}

@test "pod: if moat's shim dies its VM goes too, and a guest panic is named" {
	pod orphan 'sleep 600' >orphan.yaml
	run -0 "$MOAT" pod run orphan.yaml
	shim=$(status orphan 'd["shimPid"]')
	qemu=$(status orphan 'd["qemuPid"]')
	kill -9 "$shim"
	for _ in $(seq 50); do kill -0 "$qemu" 2>/dev/null || break; sleep 0.1; done
	run ! kill -0 "$qemu" # QEMU died with its shim
	[ "$(status orphan 'd["phase"]')" = Failed ]
	run -0 status orphan 'd["reason"]'
	assert_output --partial "ShimExited"
	run -0 "$MOAT" pod rm orphan
	# A container may crash its own VM (and nothing else): the pod says so.
	pod crash 'sleep 1; echo c >/proc/sysrq-trigger; sleep 60' >crash.yaml
	run -0 "$MOAT" pod run crash.yaml
	for _ in $(seq 150); do [ "$(status crash 'd["phase"]')" = Failed ] && break; sleep 0.2; done
	run -0 status crash 'd["reason"]'
	assert_output --partial "GuestPanic"
	run -0 "$MOAT" pod rm crash
}

# field PID NAME: a line of /proc/PID/status, without its name.
field() { awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' /proc/"$1"/status; }

@test "pod: QEMU runs jailed: its own uid, no capabilities, no_new_privs, seccomp, namespaces, a cgroup" {
	pod jailed 'sleep 600' >jailed.yaml
	pod jailed2 'sleep 600' >jailed2.yaml
	run -0 "$MOAT" pod run jailed.yaml
	run -0 "$MOAT" pod run jailed2.yaml
	q=$(status jailed 'd["qemuPid"]')
	q2=$(status jailed2 'd["qemuPid"]')
	# Firecracker's jailer's checklist, read from the kernel.
	read -r ruid euid suid fsuid <<<"$(field "$q" Uid)"
	[ "$ruid" != 0 ] && [ "$euid" = "$ruid" ] && [ "$suid" = "$ruid" ] && [ "$fsuid" = "$ruid" ]
	[ "$(field "$q" Gid | awk '{print $1}')" = "$ruid" ]
	[ -z "$(field "$q" Groups)" ]
	for c in CapInh CapPrm CapEff CapBnd CapAmb; do
		[ "$(field "$q" $c)" = 0000000000000000 ] || fail "$c is $(field "$q" $c)"
	done
	[ "$(field "$q" NoNewPrivs)" = 1 ]
	[ "$(field "$q" Seccomp)" = 2 ]
	# moat's filter and QEMU's own -sandbox.
	[ "$(field "$q" Seccomp_filters)" -ge 2 ]
	# Each VMM its own uid: one cannot signal or ptrace the other.
	[ "$(field "$q2" Uid | awk '{print $1}')" != "$ruid" ]
	# PID 1 of its own PID namespace; its own mount, IPC, UTS and network.
	[ "$(field "$q" NSpid | awk '{print $2}')" = 1 ]
	for ns in mnt pid ipc uts net; do
		[ "$(readlink /proc/"$q"/ns/$ns)" != "$(readlink /proc/self/ns/$ns)" ] || fail "shares the host's $ns namespace"
		[ "$(readlink /proc/"$q"/ns/$ns)" != "$(readlink /proc/"$q2"/ns/$ns)" ] || fail "shares $ns with another VMM"
	done
	# The jail: its kernel and initrd, four device nodes, QEMU's own files.
	run -0 ls /proc/"$q"/root
	assert_output "$(printf 'bin\nboot\ndev\netc\nlib\nlib64\nproc\nusr')"
	run -0 ls /proc/"$q"/root/boot
	assert_output "$(printf 'initrd.img\nkernel')"
	run -0 ls /proc/"$q"/root/dev
	assert_output "$(printf 'null\nrandom\nurandom\nzero')"
	run ! touch /proc/"$q"/root/boot/x # read-only
	# Its disks and sockets are fds it was given: every file it holds is the
	# pod's own or its image's.
	for fd in /proc/"$q"/fd/*; do
		t=$(readlink "$fd")
		case $t in
		/dev/null | anon_inode:* | socket:* | "$MOAT_STATE_DIR"/pods/jailed/* | "$MOAT_STATE_DIR"/images/*) ;;
		/dev/net/tun) ;; # its own tap, opened by the shim in the port group's namespace
		*) fail "QEMU holds $t" ;;
		esac
	done
	# The pod's limits on the VMM: RAM + 192 MiB, one CPU, 256 tasks.
	grep -q "$MOAT_CGROUP_PARENT/jailed\." /proc/"$q"/cgroup
	run -0 status jailed '"\n".join(d["vmm"]["cgroups"])'
	cgs=$output
	if [ -d /sys/fs/cgroup/memory ] && ! [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		m=$(grep /memory/ <<<"$cgs")
		[ "$(cat "$m/memory.limit_in_bytes")" = $(((256 + 192) << 20)) ]
		[ "$(cat "$(grep /cpu/ <<<"$cgs")/cpu.cfs_quota_us")" = 100000 ]
		[ "$(cat "$(grep /pids/ <<<"$cgs")/pids.max")" = 256 ]
	else
		[ "$(cat "$cgs/memory.max")" = $(((256 + 192) << 20)) ]
		[ "$(cat "$cgs/cpu.max")" = "100000 100000" ]
		[ "$(cat "$cgs/pids.max")" = 256 ]
	fi
	grep -q "^Max processes *256 *256" /proc/"$q"/limits
	grep -q "^Max core file size *0 *0" /proc/"$q"/limits
	# The jailed VM still does its job.
	run -0 "$MOAT" pod exec jailed -- echo still works
	assert_output "still works"
	# rm takes the cgroups and frees the uid.
	run -0 "$MOAT" pod rm -f jailed
	while read -r d; do [ ! -e "$d" ] || fail "$d is left"; done <<<"$cgs"
	run -0 "$MOAT" pod rm -f jailed2
}

@test "pod: a jail that cannot be built fails the run with why, and leaves nothing" {
	pod nojail 'true' >nojail.yaml
	# A cgroup parent whose own parent does not exist: mkdir fails.
	MOAT_CGROUP_PARENT=moat-test-nosuch/deeper run -2 "$MOAT" pod run nojail.yaml
	assert_output --partial "cgroup"
	assert_output --partial "moat-test-nosuch"
	run -0 "$MOAT" pod ls --format json
	assert_output "[]"
	[ ! -e "$MOAT_STATE_DIR/pods/nojail" ]
}

@test "pod: a fork bomb stops at the pod's task limit; the agent and other pods carry on" {
	pod calm 'sleep 600' >calm.yaml
	run -0 "$MOAT" pod run calm.yaml
	cat >bomb.yaml <<-EOF
	apiVersion: v1
	kind: Pod
	metadata: {name: bomb, annotations: {moat.dev/pids-limit: "64"}}
	spec:
	  restartPolicy: Never
	  containers:
	    - name: main
	      image: bb:latest
	      command: [sh, -c, 'i=0; while [ \$i -lt 500 ]; do sleep 600 & i=\$((i+1)); done']
	EOF
	run -3 "$MOAT" pod run bomb.yaml --wait
	# The agent, outside the pod's cgroup, still answers.
	run -0 "$MOAT" pod logs bomb
	assert_output --partial "can't fork"
	[ "$(status bomb 'd["spec"]["pidsLimit"]')" = 64 ]
	# None of it reached the host: the VMM's tasks are its own threads.
	run -0 status bomb '"\n".join(d["vmm"]["cgroups"])'
	pids=$(grep -m1 pids <<<"$output" || true)
	[ -z "$pids" ] || [ "$(cat "$pids/pids.current")" -lt 64 ]
	run -0 "$MOAT" pod exec calm -- echo unaffected
	assert_output unaffected
	run -2 "$MOAT" pod run <(sed 's/"64"/"lots"/' bomb.yaml)
	assert_output --partial "moat.dev/pids-limit"
	"$MOAT" pod rm -f bomb
	"$MOAT" pod rm -f calm
}
