#!/usr/bin/env bats
# moat seccomp and moat caps: Docker/OCI profiles compiled with libseccomp,
# a probe program run under them, and the capability sets it ends up with.

load helper

SECCOMP=$MOAT_SHARED/conformance/seccomp
PROBE_SRC=$MOAT_TOP/tests/fixtures/seccomp/probe.c

need_moby() {
	[ -r "$SECCOMP/moby-default.json" ] || skip "$SECCOMP is absent (needs ../shared)"
}

need_probe() {
	command -v cc >/dev/null || skip "no C compiler for the probe program"
	cc -o probe "$PROBE_SRC"
}

@test "the moby default profile compiles to BPF and to text, naming what it skipped" {
	need_moby
	run --separate-stderr "$MOAT" seccomp compile "$SECCOMP/moby-default.json" -o moby.bpf
	[ "$status" = 0 ]
	size=$(stat -c %s moby.bpf)
	[ "$size" -gt 1000 ] && [ $((size % 8)) = 0 ] # whole sock_filter instructions
	stderr_as_output
	assert_line --regexp "^moat seccomp: warning: \\\$\\.syscalls\\[0\\]\\.names: unknown syscall '[a-z_0-9]+' on amd64, skipped$"
	assert_line --regexp '^moat seccomp: [0-9]+ rules \([0-9]+ entries not applying, [0-9]+ unknown names skipped\); ENOSYS above syscall [0-9]+$'
	run -0 "$MOAT" seccomp compile "$SECCOMP/moby-default.json" --format text
	assert_output --partial "pseudo filter code"
	assert_output --partial 'filter for syscall "keyctl"' || true
}

@test "under moby: keyctl, user namespaces, namespace clones, odd personalities and vsock are denied" {
	need_moby
	need_probe
	run -0 "$MOAT" seccomp exec "$SECCOMP/moby-default.json" -- ./probe
	assert_line "getpid ok"
	assert_line "keyctl errno 1"
	assert_line "unshare_user errno 1"
	assert_line "clone_plain ok"
	assert_line "clone_newns errno 1"
	assert_line "clone3 errno 38"
	assert_line "personality_query ok"
	assert_line "personality_bsd errno 1"
	assert_line "socket_inet ok"
	assert_line "socket_vsock errno 1"
	# A syscall newer than the profile answers ENOSYS, not EPERM.
	assert_line "nr457 errno 38"
}

@test "--caps CAP_SYS_ADMIN turns on the profile's includes and off its excludes" {
	need_moby
	need_probe
	[ "$(id -u)" = 0 ] || skip "keeping CAP_SYS_ADMIN needs root"
	run -0 "$MOAT" seccomp exec "$SECCOMP/moby-default.json" --caps CAP_SYS_ADMIN -- ./probe
	assert_line "unshare_user ok"
	assert_line "clone_newns ok"
	refute_line "clone3 errno 38"
	assert_line "keyctl errno 1"
}

@test "exec keeps exactly --caps, sets no_new_privs and seccomp filter mode" {
	need_moby
	[ "$(id -u)" = 0 ] || skip "dropping capabilities to a chosen set needs root"
	run -0 "$MOAT" seccomp exec "$SECCOMP/moby-default.json" --caps NET_BIND_SERVICE -- cat /proc/self/status
	assert_line --regexp '^CapEff:	0000000000000400$'
	assert_line --regexp '^CapPrm:	0000000000000400$'
	assert_line --regexp '^CapBnd:	0000000000000400$'
	assert_line --regexp '^NoNewPrivs:	1$'
	assert_line --regexp '^Seccomp:	2$'
	"$MOAT" seccomp exec "$SECCOMP/moby-default.json" -- sleep 30 2>/dev/null &
	pid=$!
	# Wait for the exec: until then the process is still moat, unconfined.
	for _ in $(seq 100); do
		[ "$(cat /proc/$pid/comm 2>/dev/null)" = sleep ] && break
		sleep 0.05
	done
	run -0 "$MOAT" caps show "$pid"
	kill "$pid"
	assert_line --regexp '^  effective +0000000000000000  none$'
	assert_line --regexp '^  noNewPrivs +yes$'
	assert_line --regexp '^  seccomp +filter$'
}

@test "caps show: text and json for this shell" {
	run -0 "$MOAT" caps show $$ --format json
	assert_output --partial '"pid": '
	assert_output --partial '"seccomp": "'
	run -0 "$MOAT" caps show $$
	assert_line --regexp '^  bounding +[0-9a-f]{16}  '
	run -2 "$MOAT" caps show notapid
	assert_output --partial "show: expected a process id"
	run -2 "$MOAT" caps show 4000000
}

@test "the fixture profiles load: legacy name entries, architectures, conditional includes" {
	need_moby
	for f in "$SECCOMP"/fixture-*.json; do
		run -0 "$MOAT" seccomp compile "$f" --format text
	done
	run -0 "$MOAT" seccomp compile "$SECCOMP/fixture-conditional_include.json" --format text
	refute_output --partial '"syslog"'
	assert_output --partial '"ptrace"'
	run -0 "$MOAT" seccomp compile "$SECCOMP/fixture-conditional_include.json" --format text --caps CAP_SYSLOG,CAP_SYS_ADMIN
	assert_output --partial '"syslog"'
	refute_output --partial '"ptrace"'
}

@test "broken profiles are exit 2 with the JSON path (or line) of the fault" {
	printf '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [\n' >bad-json.json
	run -2 "$MOAT" seccomp compile bad-json.json
	assert_output --regexp '^moat seccomp: bad-json.json:2:[0-9]+: '
	printf '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}, {"names": ["kill"], "action": "SCMP_ACT_MAYBE"}]}' >bad-action.json
	run -2 "$MOAT" seccomp compile bad-action.json
	assert_output "moat seccomp: bad-action.json: \$.syscalls[1].action: unknown action 'SCMP_ACT_MAYBE'"
	printf '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}]}' >bad-op.json
	run -2 "$MOAT" seccomp compile bad-op.json
	assert_output --partial "bad-op.json: \$.syscalls[0].args[0].op: unknown op 'SCMP_CMP_ABOUT'"
	printf '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}' >bad-index.json
	run -2 "$MOAT" seccomp compile bad-index.json
	assert_output "moat seccomp: bad-index.json: \$.syscalls[0].args[0].index: expected an argument index, 0 to 5"
	printf '{"syscalls": []}' >no-default.json
	run -2 "$MOAT" seccomp compile no-default.json
	assert_output --partial '$.defaultAction: missing'
	run -2 "$MOAT" seccomp compile missing.json
	run -2 "$MOAT" seccomp exec bad-op.json -- true
	run -2 "$MOAT" seccomp compile --caps CAP_NOPE "$MOAT_TOP/tests/fixtures/seccomp/probe.c"
	assert_output --partial "unknown capability 'CAP_NOPE'"
	refute_crash
}

@test "MASKED_EQ takes value as the mask and valueTwo as what the masked argument equals" {
	need_probe
	# clone allowed only when (flags & CLONE_NEWNS) == 0, as moby writes it.
	cat >masked.json <<-'EOF'
	{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
	  {"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
	   "args": [{"index": 0, "value": 131072, "valueTwo": 131072, "op": "SCMP_CMP_MASKED_EQ"}]}]}
	EOF
	run -0 "$MOAT" seccomp exec masked.json --caps ALL -- ./probe
	assert_line "clone_plain ok"
	assert_line "clone_newns errno 13"
}

@test "moat's RuntimeDefault profile gives the probe the same answers as Docker's default" {
	need_moby
	need_probe
	run -0 --separate-stderr "$MOAT" seccomp exec "$MOAT_TOP/runtime/seccomp-default.json" -- ./probe
	ours=$output
	run -0 --separate-stderr "$MOAT" seccomp exec "$SECCOMP/moby-default.json" -- ./probe
	[ "$ours" = "$output" ]
	assert_line "keyctl errno 1"
	assert_line "unshare_user errno 1"
	assert_line "clone_newns errno 1"
	assert_line "socket_vsock errno 1"
	# With CAP_SYS_ADMIN, namespaces open up in both.
	run -0 --separate-stderr "$MOAT" seccomp exec "$MOAT_TOP/runtime/seccomp-default.json" --caps SYS_ADMIN -- ./probe
	ours=$output
	run -0 --separate-stderr "$MOAT" seccomp exec "$SECCOMP/moby-default.json" --caps SYS_ADMIN -- ./probe
	[ "$ours" = "$output" ]
}
