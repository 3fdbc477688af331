#!/usr/bin/env bats
# Upstream's pod-security-admission fixtures, through the command line:
# a pass fixture exits 0, a fail fixture checked alone exits 1 and is
# reported under the check it is named for.  The fixtures live in
# $MOAT_SHARED/conformance/psa; without them these tests skip, saying so.

load helper

PSA=$MOAT_SHARED/conformance/psa

need_fixtures() {
	local d=$PSA/$1
	[ -d "$d/pass" ] && [ -d "$d/fail" ] ||
		skip "PSA conformance fixtures absent: $d/{pass,fail} (expected under \$MOAT_SHARED=$MOAT_SHARED)"
}

# check_passes LEVEL VERSION [ARGS...]: the pass directory as a whole exits
# 0, and every fixture in it was read.
check_passes() {
	local level=$1 version=$2 files
	shift 2
	files=("$PSA/$level/$version/pass"/*.yaml)
	[ -e "${files[0]}" ] || fail "no pass fixtures in $PSA/$level/$version/pass"
	local n=${#files[@]}
	run -0 "$MOAT" policy check --level "$level" --version "$version" "$@" "$PSA/$level/$version/pass"
	assert_output "moat policy check: $n files, $n objects checked: 0 violations"
}

# check_fails LEVEL VERSION: every fail fixture, checked alone, exits
# exactly 1 and names the check upstream named it for (<check><i>.yaml in
# lower case).  At restricted, a restricted check replaces the baseline one
# it overrides, as upstream does.  Counts and lists what went wrong.
check_fails() {
	local level=$1 version=$2 f want out rc n=0 bad=()
	for f in "$PSA/$level/$version/fail"/*.yaml; do
		[ -e "$f" ] || break
		n=$((n + 1))
		want=${f##*/}
		want=${want%%[0-9]*.yaml}
		if [ "$level" = restricted ]; then
			case $want in
			capabilities_baseline) want=capabilities_restricted ;;
			hostpathvolumes) want=restrictedvolumes ;;
			procmount) want=procmount_restricted ;;
			seccompprofile_baseline) want=seccompprofile_restricted ;;
			esac
		fi
		rc=0
		out=$("$MOAT" policy check -q --level "$level" --version "$version" --no-share-nothing "$f" 2>&1) || rc=$?
		if [ "$rc" -ne 1 ]; then
			bad+=("${f##*/}: exited $rc: ${out:0:300}")
			continue
		fi
		shopt -s nocasematch
		[[ $out == *"[pss/$want]"* ]] || bad+=("${f##*/}: no [pss/$want] finding in: ${out:0:300}")
		shopt -u nocasematch
	done
	[ "$n" -gt 0 ] || fail "no fail fixtures in $PSA/$level/$version/fail"
	if [ "${#bad[@]}" -gt 0 ]; then
		printf '%s\n' "${bad[@]}"
		fail "${#bad[@]} of $n $level/$version fail fixtures went wrong"
	fi
}

@test "conformance: restricted v1.37 pass fixtures exit 0, with and without share-nothing" {
	need_fixtures restricted/v1.37
	check_passes restricted v1.37
	run -0 "$MOAT" policy check --version v1.37 "$PSA/restricted/v1.37/pass"
	check_passes restricted v1.37 --no-share-nothing
}

@test "conformance: every restricted v1.37 fail fixture alone exits 1 under its own check" {
	need_fixtures restricted/v1.37
	check_fails restricted v1.37
}

@test "conformance: baseline v1.0 pass fixtures exit 0" {
	need_fixtures baseline/v1.0
	check_passes baseline v1.0 --no-share-nothing
}

@test "conformance: every baseline v1.0 fail fixture alone exits 1 under its own check" {
	need_fixtures baseline/v1.0
	check_fails baseline v1.0
}

@test "conformance: the fixture counts match COUNTS.csv, all fail fixtures together exit 1" {
	need_fixtures restricted/v1.37
	need_fixtures baseline/v1.0
	[ -f "$PSA/COUNTS.csv" ] || skip "no $PSA/COUNTS.csv"
	local level version pass failn files seen=0
	while IFS=, read -r level version pass failn; do
		case $level/$version in
		restricted/v1.37 | baseline/v1.0) ;;
		*) continue ;;
		esac
		seen=$((seen + 1))
		files=("$PSA/$level/$version/pass"/*.yaml)
		assert_equal "${#files[@]}" "$pass"
		files=("$PSA/$level/$version/fail"/*.yaml)
		assert_equal "${#files[@]}" "$failn"
	done <"$PSA/COUNTS.csv"
	assert_equal "$seen" 2
	# Together, one run: exit 1 and every file named in the report.
	run -1 "$MOAT" policy check -q --version v1.37 --no-share-nothing "$PSA/restricted/v1.37/fail"
	local f
	for f in "$PSA/restricted/v1.37/fail"/*.yaml; do
		assert_line --partial "$f:"
	done
}
