#!/usr/bin/env bats
# The moat command line: dispatcher, help, usage errors and exit codes.

load helper

@test "moat --version prints 'moat <version>', the version the reports carry" {
	run -0 --separate-stderr "$MOAT" --version
	assert_output --regexp '^moat [0-9]+\.[0-9]+\.[0-9]+([-+.][0-9A-Za-z.+-]*)?$'
	assert_equal "${#lines[@]}" 1
	assert_equal "$stderr" ""
	local v=${output#moat }
	write_pod good.yaml good
	run -0 "$MOAT" policy check --format json good.yaml
	assert_line "  \"version\": \"$v\","
}

@test "moat help, --help and -h list the commands on stdout, exit 0" {
	run -0 --separate-stderr "$MOAT" help
	assert_line --index 0 'Usage: moat <command> [options]'
	assert_line 'Commands:'
	assert_line --regexp '^  policy +check Kubernetes manifests'
	assert_equal "$stderr" ""
	local want=$output
	run -0 --separate-stderr "$MOAT" --help
	assert_output "$want"
	assert_equal "$stderr" ""
	run -0 "$MOAT" -h
	assert_output "$want"
}

@test "moat with no arguments prints usage on stderr and exits 2" {
	run -2 --separate-stderr "$MOAT"
	assert_output ""
	stderr_as_output
	assert_line --index 0 'Usage: moat <command> [options]'
	assert_line --regexp '^  policy '
}

@test "an unknown command exits 2 naming it, with or without help" {
	run -2 --separate-stderr "$MOAT" frobnicate
	assert_output ""
	stderr_as_output
	assert_output --partial "unknown command 'frobnicate'"
	run -2 --separate-stderr "$MOAT" help frobnicate
	assert_output ""
	stderr_as_output
	assert_output --partial "unknown command 'frobnicate'"
}

@test "moat help policy, moat policy --help and -h: the subcommands, exit 0" {
	run -0 --separate-stderr "$MOAT" help policy
	assert_line --regexp '^  check +check manifests'
	assert_equal "$stderr" ""
	local want=$output
	run -0 --separate-stderr "$MOAT" policy --help
	assert_output "$want"
	assert_equal "$stderr" ""
	run -0 "$MOAT" policy -h
	assert_output "$want"
}

@test "moat policy alone or with an unknown subcommand: usage on stderr, exit 2" {
	run -2 --separate-stderr "$MOAT" policy
	assert_output ""
	stderr_as_output
	assert_line --regexp '^  check '
	run -2 --separate-stderr "$MOAT" policy frobnicate
	assert_output ""
	stderr_as_output
	assert_output --partial "unknown subcommand 'frobnicate'"
}

@test "moat policy check --help: exit 0, every option and every check id with its level" {
	run -0 --separate-stderr "$MOAT" policy check --help
	assert_equal "$stderr" ""
	assert_line --index 0 'Usage: moat policy check [options] PATH... | -'
	local opt
	for opt in --level --version --no-share-nothing --format --exceptions --output --quiet --help; do
		assert_output --partial "$opt"
	done
	local want=(
		'pss/appArmorProfile baseline'
		'pss/capabilities_baseline baseline'
		'pss/hostNamespaces baseline'
		'pss/hostPathVolumes baseline'
		'pss/hostPorts baseline'
		'pss/hostProbesAndHostLifecycle baseline'
		'pss/privileged baseline'
		'pss/procMount baseline'
		'pss/seLinuxOptions baseline'
		'pss/seccompProfile_baseline baseline'
		'pss/sysctls baseline'
		'pss/windowsHostProcess baseline'
		'pss/allowPrivilegeEscalation restricted'
		'pss/capabilities_restricted restricted'
		'pss/procMount_restricted restricted'
		'pss/restrictedVolumes restricted'
		'pss/runAsNonRoot restricted'
		'pss/runAsUser restricted'
		'pss/seccompProfile_restricted restricted'
		'share-nothing/hostpath share-nothing'
		'share-nothing/hostnetwork share-nothing'
		'share-nothing/hostpid share-nothing'
		'share-nothing/hostipc share-nothing'
		'share-nothing/hostport share-nothing'
		'share-nothing/nodeport share-nothing'
		'share-nothing/loadbalancer-nodeports share-nothing'
	)
	local w n=0 l
	for w in "${want[@]}"; do
		assert_line --regexp "^  ${w% *} +${w#* }\$"
	done
	# And nothing else looks like a check id.
	for l in "${lines[@]}"; do
		[[ $l =~ ^\ \ (pss|share-nothing)/ ]] && n=$((n + 1))
	done
	assert_equal "$n" "${#want[@]}"
	run -0 "$MOAT" policy check -h
	assert_line --index 0 'Usage: moat policy check [options] PATH... | -'
}

@test "unknown options exit 2 naming them" {
	write_pod good.yaml good
	run -2 --separate-stderr "$MOAT" policy check --frobnicate good.yaml
	assert_output ""
	stderr_as_output
	assert_line --index 0 --partial "moat policy check: option '--frobnicate' is unknown"
	assert_line --index 1 "Run 'moat policy check --help' for usage."
	run -2 --separate-stderr "$MOAT" policy check -Z good.yaml
	assert_output ""
	stderr_as_output
	assert_line --index 0 --partial "'-Z'"
}

@test "a missing or unexpected option value exits 2 naming the option as typed" {
	# Saying '-l' when the user typed --level, or '-N' (which does not
	# exist) for --no-share-nothing=yes, sends them looking for the wrong thing.
	write_pod good.yaml good
	run -2 --separate-stderr "$MOAT" policy check --level
	stderr_as_output
	assert_line --index 0 --partial "'--level'"
	run -2 --separate-stderr "$MOAT" policy check -f
	stderr_as_output
	assert_line --index 0 --partial "'-f'"
	run -2 --separate-stderr "$MOAT" policy check --no-share-nothing=yes good.yaml
	assert_output ""
	stderr_as_output
	assert_line --index 0 --partial "'--no-share-nothing"
	refute_output --partial "'-N'"
}

@test "a bad --level exits 2 naming the value (levels are case-sensitive)" {
	write_pod good.yaml good
	run -2 --separate-stderr "$MOAT" policy check --level strict good.yaml
	assert_output ""
	stderr_as_output
	assert_line --index 0 "moat policy check: unknown level 'strict' (expected privileged, baseline or restricted)"
	run -2 --separate-stderr "$MOAT" policy check -l Baseline good.yaml
	stderr_as_output
	assert_line --index 0 --partial "'Baseline'"
}

@test "--version: v1.0 to v1.N and latest are accepted, anything else exits 2 naming it" {
	write_pod good.yaml good
	local v
	for v in v1.0 v1.9 v1.10 v1.25 v1.37 v1.99 latest; do
		run -0 "$MOAT" policy check -V "$v" good.yaml
	done
	for v in v2.0 v1.05 1.30 v1. v1.x v1.30.1 V1.30 '' v1.-1 Latest; do
		run -2 --separate-stderr "$MOAT" policy check --version "$v" good.yaml
		assert_output ""
		stderr_as_output
		assert_line --index 0 --partial "bad version '$v'"
	done
}

@test "a bad --format exits 2 naming the value" {
	write_pod good.yaml good
	local f
	for f in xml JSON yaml ''; do
		run -2 --separate-stderr "$MOAT" policy check --format "$f" good.yaml
		assert_output ""
		stderr_as_output
		assert_line --index 0 "moat policy check: unknown format '$f' (expected text, json, sarif or junit)"
	done
}

@test "no PATH exits 2 and says what is missing" {
	run -2 --separate-stderr "$MOAT" policy check
	assert_output ""
	stderr_as_output
	assert_line --index 0 'moat policy check: no input: name files, directories, or - for stdin'
	run -2 --separate-stderr "$MOAT" policy check --level baseline --format json
	assert_output ""
}

@test "options may follow the paths, --opt=value works, -- ends the options" {
	cp "$FIXTURES/baseline-privileged.yaml" priv.yaml
	run -1 "$MOAT" policy check priv.yaml --level=baseline --no-share-nothing -q
	assert_output - <<-'EOF'
	priv.yaml:10:7: baseline: Pod priv: container "app" must not set securityContext.privileged=true [pss/privileged]
	priv.yaml:18:23: baseline: Pod priv: init container "setup" must not set securityContext.privileged=true [pss/privileged]
	EOF
	write_pod -q.yaml good
	run -0 "$MOAT" policy check -- -q.yaml
	assert_output 'moat policy check: 1 file, 1 object checked: 0 violations'
}

@test "-o into a directory that does not exist exits 3 (system error) naming it" {
	write_pod good.yaml good
	run -3 --separate-stderr "$MOAT" policy check -o no/such/dir/report.txt good.yaml
	assert_output ""
	stderr_as_output
	assert_output --partial 'no/such/dir/report.txt'
}

@test "a write error on standard output is exit 3 (system error), for reports and help alike" {
	[ -w /dev/full ] || skip "no /dev/full"
	write_pod good.yaml good
	run -3 bash -c '"$1" policy check "$2" >/dev/full' _ "$MOAT" good.yaml
	run -3 bash -c '"$1" policy check -f json "$2" >/dev/full' _ "$MOAT" good.yaml
	run -3 bash -c '"$1" --version >/dev/full' _ "$MOAT"
	run -3 bash -c '"$1" help >/dev/full' _ "$MOAT"
	run -3 bash -c '"$1" policy check --help >/dev/full' _ "$MOAT"
}
