# Shared setup for the moat bats tests; each .bats file does `load helper`.
#
# tests/run exports MOAT (the binary), MOAT_TOP (the repository) and
# MOAT_SHARED (../shared); run by hand, they default to this checkout.

bats_require_minimum_version 1.5.0

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

: "${MOAT_TOP:=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}"
: "${MOAT:=$MOAT_TOP/build/moat}"
: "${MOAT_SHARED:=$MOAT_TOP/../shared}"
# Tests cd into their own directory: make relative paths absolute first.
[[ $MOAT == /* ]] || MOAT=$PWD/$MOAT
[[ $MOAT_TOP == /* ]] || MOAT_TOP=$PWD/$MOAT_TOP
[[ $MOAT_SHARED == /* ]] || MOAT_SHARED=$PWD/$MOAT_SHARED
FIXTURES=$MOAT_TOP/tests/fixtures/policy
# Pods' VMMs get their cgroups under a parent of the tests' own, never the
# default one a real node uses.
export MOAT_CGROUP_PARENT=${MOAT_CGROUP_PARENT:-moat-test}

# Every test runs in its own empty directory, so the paths moat prints are
# short and relative, and nothing a test writes is seen by another.
common_setup() {
	[ -x "$MOAT" ] || fail "moat binary not found at $MOAT (run make, or set MOAT)"
	cd "$BATS_TEST_TMPDIR" || fail "cannot enter $BATS_TEST_TMPDIR"
}

setup() {
	common_setup
}

# Make the stderr captured by `run --separate-stderr` the subject of
# assert_output / assert_line.
stderr_as_output() {
	output=$stderr
	lines=("${stderr_lines[@]}")
}

# No crash: neither a sanitizer report nor a signal in what moat printed.
refute_crash() {
	refute_output --partial 'Sanitizer'
	refute_output --partial 'Segmentation'
	refute_output --partial 'runtime error:'
	refute_output --partial 'core dumped'
}

# check-report json|sarif|junit FILE [PYTHON]: see the script.
CHECK_REPORT=$BATS_TEST_DIRNAME/check-report
SARIF_VALIDATE=$MOAT_TOP/tests/tools/sarif-validate

# Starting python costs a third of a second here, so a file that needs it
# asks once, from setup_file, and its tests read the answer:
#   setup_file() { probe_python jsonschema; }
probe_python() {
	local m
	MOAT_TEST_PYTHON=
	command -v python3 >/dev/null || { export MOAT_TEST_PYTHON; return 0; }
	MOAT_TEST_PYTHON=python3
	for m in "$@"; do
		python3 -c "import $m" 2>/dev/null && MOAT_TEST_PYTHON="$MOAT_TEST_PYTHON $m"
	done
	export MOAT_TEST_PYTHON
}

# need_python [MODULE]: skip unless python3 (and MODULE) were found by probe_python.
need_python() {
	case " ${MOAT_TEST_PYTHON-unprobed} " in
	" unprobed ") fail "need_python without probe_python in setup_file" ;;
	*" python3 "*) ;;
	*) skip "python3 is not installed" ;;
	esac
	[ -z "${1:-}" ] || case " $MOAT_TEST_PYTHON " in
	*" $1 "*) ;;
	*) skip "python3 module $1 is not installed (apt-get install python3-$1)" ;;
	esac
}

# A pod that passes restricted and shares nothing: tests add one thing to it.
#   write_pod FILE NAME [NAMESPACE] [container securityContext lines...]
write_pod() {
	local file=$1 name=$2 ns=${3:-}
	shift 3 2>/dev/null || shift $#
	{
		printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n' "$name"
		[ -n "$ns" ] && printf '  namespace: %s\n' "$ns"
		printf 'spec:\n'
		printf '  securityContext:\n'
		printf '    runAsNonRoot: true\n'
		printf '    seccompProfile: {type: RuntimeDefault}\n'
		printf '  containers:\n'
		printf '  - name: app\n'
		printf '    image: nginx\n'
		printf '    securityContext:\n'
		printf '      allowPrivilegeEscalation: false\n'
		printf '      capabilities: {drop: [ALL]}\n'
		local l
		for l in "$@"; do
			printf '      %s\n' "$l"
		done
	} >"$file"
}

# ---- pods ---------------------------------------------------------------------

# guest_prereqs TOOL...: for files that boot pods.  Skips, saying why, unless
# this is root with the tools, busybox-static and a guest kernel; exports
# MOAT_GUEST_DIR and a state directory of the file's own.
guest_prereqs() {
	[ "$(id -u)" = 0 ] || skip "needs root (QEMU, the state dir)"
	local t
	for t in qemu-system-x86_64 umoci mkfs.erofs python3 "$@"; do
		command -v "$t" >/dev/null || skip "$t is not installed (make deps)"
	done
	[ -x /bin/busybox ] || skip "busybox-static is not installed (make deps)"
	local guest=${MOAT_GUEST_DIR:-$(dirname "$MOAT")/guest}
	[ -r "$guest/vmlinuz" ] && [ -r "$guest/initrd.img" ] ||
		skip "no guest kernel in $guest (make guest fetches Debian's cloud kernel)"
	export MOAT_GUEST_DIR=$guest
	export MOAT_STATE_DIR=$BATS_FILE_TMPDIR/state
}

# busybox_image APPLET...: builds a busybox image with umoci in
# $BATS_FILE_TMPDIR/img (the layout at oci:bb) and imports it as bb:latest.
# A file that defines bb_extra has it run in the image's rootfs first.
busybox_image() {
	local img=$BATS_FILE_TMPDIR/img
	mkdir -p "$img"
	(
		set -e
		cd "$img"
		umoci init --layout oci
		umoci new --image oci:bb
		umoci unpack --image oci:bb bundle
		mkdir -p bundle/rootfs/bin bundle/rootfs/tmp bundle/rootfs/etc
		cp /bin/busybox bundle/rootfs/bin/
		local c
		for c in "$@"; do
			ln -s busybox bundle/rootfs/bin/"$c"
		done
		if declare -F bb_extra >/dev/null; then (cd bundle/rootfs && bb_extra); fi
		umoci repack --image oci:bb bundle
		umoci config --image oci:bb --config.cmd /bin/sh --config.env PATH=/bin
	) >"$BATS_FILE_TMPDIR/img.log" 2>&1 || skip "could not build the busybox test image (see img.log)"
	"$MOAT" image import "$img/oci" --name bb:latest >/dev/null
}

# status POD EXPR: a Python expression over the pod's inspect output, d.
status() {
	"$MOAT" pod inspect "$1" | python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$2"
}
