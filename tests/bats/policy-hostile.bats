#!/usr/bin/env bats
# Bad and hostile input: every one is exit 2 with file:line:col, never a
# crash, never slow, and the other inputs are still checked.

load helper

# run_bad ARGS...: moat policy check ARGS, which must exit exactly 2 and
# not crash; stdout and stderr together in $output.
run_bad() {
	run -2 "$MOAT" policy check "$@"
	refute_crash
}

# junk N FILE: N bytes of deterministic binary junk (gzip -n output of a
# fixed text is the same bytes on every run, and looks random to a parser).
junk() {
	seq 1 200000 | gzip -n -9 | head -c "$1" >"$2"
	[ "$(wc -c <"$2")" -eq "$1" ] || fail "junk: made fewer than $1 bytes"
}

# ---- malformed manifests ----

@test "a YAML syntax error: exit 2 at its line:col, documents before it still checked" {
	cp "$FIXTURES/input-syntax-error.yaml" syntax.yaml
	run_bad -l baseline --no-share-nothing syntax.yaml
	assert_output - <<-'EOF'
	syntax.yaml:10:7: baseline: Pod ok: container "app" must not set securityContext.privileged=true [pss/privileged]
	syntax.yaml:16:10: error: YAML syntax error: mapping values are not allowed in this context [invalid-input]
	moat policy check: 1 file, 1 object checked: 1 violation, 1 input error
	EOF
}

@test "an unclosed flow sequence: exit 2 with a position" {
	printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers: [{name: a, image: x}\n' >open.yaml
	run_bad open.yaml
	assert_line --index 0 --regexp '^open\.yaml:[0-9]+:[0-9]+: error: YAML syntax error: .* \[invalid-input\]$'
}

@test "wrong types (privileged: \"yes\", containers: 5): exit 2 at the value" {
	write_pod p.yaml p '' 'privileged: "yes"'
	run_bad p.yaml
	assert_output - <<-'EOF'
	p.yaml:15:19: error: spec.containers[0].securityContext.privileged: expected a boolean (true or false), got a string "yes" [invalid-input]
	moat policy check: 1 file, 1 object checked: 0 violations, 1 input error
	EOF

	printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: 5\n' >p.yaml
	run_bad p.yaml
	assert_output - <<-'EOF'
	p.yaml:5:15: error: spec.containers: expected a list, got an integer "5" [invalid-input]
	moat policy check: 1 file, 1 object checked: 0 violations, 1 input error
	EOF
}

@test "the wrong-types fixture: every wrong field reported at its own position" {
	cp "$FIXTURES/input-wrong-types.yaml" types.yaml
	run_bad -l baseline --no-share-nothing types.yaml
	assert_line 'types.yaml:6:16: error: spec.hostNetwork: expected a boolean (true or false), got a string "true" [invalid-input]'
	assert_line 'types.yaml:11:19: error: spec.containers[0].securityContext.privileged: expected a boolean (true or false), got a string "maybe" [invalid-input]'
	assert_line 'types.yaml:13:12: error: spec.containers[0].ports: expected a list, got an integer "8080" [invalid-input]'
	assert_line 'moat policy check: 1 file, 1 object checked: 0 violations, 3 input errors'
}

@test "an object's input errors are listed in file order, as its findings are" {
	# A reader fixing them top to bottom should meet them in that order.
	cp "$FIXTURES/input-wrong-types.yaml" types.yaml
	run_bad -q -l baseline --no-share-nothing types.yaml
	assert_output - <<-'EOF'
	types.yaml:6:16: error: spec.hostNetwork: expected a boolean (true or false), got a string "true" [invalid-input]
	types.yaml:11:19: error: spec.containers[0].securityContext.privileged: expected a boolean (true or false), got a string "maybe" [invalid-input]
	types.yaml:13:12: error: spec.containers[0].ports: expected a list, got an integer "8080" [invalid-input]
	EOF
}

@test "a wrong type in a pod does not hide its other violations" {
	write_pod p.yaml p '' 'privileged: true' 'runAsUser: root'
	run_bad p.yaml
	assert_line --partial 'p.yaml:15:7: baseline: Pod p: container "app" must not set securityContext.privileged=true [pss/privileged]'
	assert_line --partial 'p.yaml:16:18: error: spec.containers[0].securityContext.runAsUser: expected an integer'
}

@test "a duplicate key: exit 2 at the second one, naming the first" {
	cp "$FIXTURES/input-duplicate-key.yaml" dup.yaml
	run_bad dup.yaml
	assert_output - <<-'EOF'
	dup.yaml:11:7: error: duplicate key "privileged" (first at line 10) [invalid-input]
	moat policy check: 1 file, 0 objects checked: 0 violations, 1 input error
	EOF
}

@test "a missing kind or apiVersion: exit 2 at the object" {
	cp "$FIXTURES/input-missing-kind.yaml" nokind.yaml
	printf 'kind: Pod\nmetadata: {name: d}\nspec: {containers: []}\n' >noapi.yaml
	run_bad nokind.yaml noapi.yaml
	assert_output - <<-'EOF'
	nokind.yaml:1:1: error: not a Kubernetes object: kind is missing [invalid-input]
	noapi.yaml:1:1: error: not a Kubernetes object: apiVersion is missing [invalid-input]
	moat policy check: 2 files, 0 objects checked: 0 violations, 2 input errors
	EOF
}

@test "a document that is a list or a scalar: exit 2, the next document still checked" {
	printf -- '- a\n- b\n---\njust words\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: e}\nspec: {hostIPC: true, containers: []}\n' >mix.yaml
	run_bad -l baseline --no-share-nothing mix.yaml
	assert_output - <<-'EOF'
	mix.yaml:1:1: error: expected a Kubernetes object (a mapping with apiVersion and kind), got a list [invalid-input]
	mix.yaml:4:1: error: expected a Kubernetes object (a mapping with apiVersion and kind), got a string [invalid-input]
	mix.yaml:9:8: baseline: Pod e: pod must not set hostIPC=true: it shares the host's namespace [pss/hostNamespaces]
	moat policy check: 1 file, 1 object checked: 1 violation, 2 input errors
	EOF
}

@test "an unknown alias, or a workload with no pod template: exit 2 saying so" {
	printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: 1\n' >d.yaml
	run_bad d.yaml
	assert_line --index 0 --regexp '^d\.yaml:[0-9]+:[0-9]+: error: Deployment has no spec\.template: there is no pod to check \[invalid-input\]$'

	printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers: *nope\n' >alias.yaml
	run_bad alias.yaml
	assert_line --index 0 'alias.yaml:5:15: error: unknown alias *nope [invalid-input]'
}

@test "Lists nested more than 4 deep: exit 2" {
	local inner='{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: []}}' i
	for i in 1 2 3 4 5 6; do
		inner="{apiVersion: v1, kind: List, items: [$inner]}"
	done
	printf '%s\n' "$inner" >lists.yaml
	run_bad lists.yaml
	assert_line --index 0 --regexp '^lists\.yaml:1:[0-9]+: error: Lists nested more than 4 deep \[invalid-input\]$'
}

# ---- files that are not there, or not alone ----

@test "a nonexistent file or directory: exit 2 naming it, the other files still checked" {
	write_pod bad.yaml bad '' 'privileged: true'
	run -2 --separate-stderr "$MOAT" policy check -q no-such-file.yaml bad.yaml
	assert_line --index 0 'no-such-file.yaml:1:1: error: No such file or directory [invalid-input]'
	assert_line --index 1 --partial 'bad.yaml:15:7: baseline: Pod bad: container "app" must not set securityContext.privileged=true'

	run_bad missing/dir/
	assert_line --index 0 --partial 'missing/dir'
	assert_line --index 0 --partial 'No such file or directory'
}

@test "a directory with one bad file and one violating file: both reported, exit 2" {
	mkdir deploy
	cp "$FIXTURES/input-duplicate-key.yaml" deploy/a-broken.yaml
	write_pod deploy/b-priv.yaml priv '' 'privileged: true'
	write_pod deploy/c-good.yaml good
	run_bad deploy
	assert_output - <<-'EOF'
	deploy/a-broken.yaml:11:7: error: duplicate key "privileged" (first at line 10) [invalid-input]
	deploy/b-priv.yaml:15:7: baseline: Pod priv: container "app" must not set securityContext.privileged=true [pss/privileged]
	moat policy check: 3 files, 2 objects checked: 1 violation, 1 input error
	EOF
}

@test "a directory nested too deep is an error, and its siblings are still checked" {
	# The README: "the other inputs are still checked".  Here the deep
	# tree sorts first; z.yaml beside it must still be read.
	local d=tree/a i
	for i in $(seq 70); do d=$d/a; done
	mkdir -p "$d"
	write_pod "$d/deep.yaml" deep
	write_pod tree/z.yaml z '' 'privileged: true'
	run_bad -q tree
	assert_line --index 0 --regexp '^tree(/a)+:1:1: error: .*nested.* \[invalid-input\]$'
	assert_line 'tree/z.yaml:15:7: baseline: Pod z: container "app" must not set securityContext.privileged=true [pss/privileged]'
}

# ---- hostile ----

@test "alias bombs (billion laughs, through merge keys): exit 2 mentioning aliases, quickly" {
	cat >lol.yaml <<-'EOF'
	apiVersion: v1
	kind: Pod
	metadata:
	  name: lol
	  labels:
	    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
	    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
	    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
	    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
	    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
	    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
	    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
	    h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
	    i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
	spec:
	  containers: [{name: a, image: x}]
	EOF
	local t0=$SECONDS
	run_bad lol.yaml
	assert_line --index 0 --regexp '^lol\.yaml:[0-9]+:[0-9]+: error: .*aliases.* \[invalid-input\]$'
	[ $((SECONDS - t0)) -le 5 ] || fail "took $((SECONDS - t0)) s"

	{
		printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: m\n  labels:\n'
		printf '    l0: &l0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}\n'
		local i
		for i in $(seq 1 12); do
			printf '    l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n' \
				"$i" "$i" $((i - 1)) $((i - 1)) $((i - 1)) $((i - 1)) $((i - 1)) $((i - 1)) $((i - 1)) $((i - 1))
		done
		printf 'spec:\n  <<: {x: *l12}\n  containers: []\n'
	} >merge.yaml
	run_bad merge.yaml
	assert_output --partial 'aliases'
}

@test "a 100 MB file: exit 2 naming the size limit, without reading it; the next file still checked" {
	truncate -s 100M big.yaml
	local t0=$SECONDS
	run_bad big.yaml
	assert_output - <<-'EOF'
	big.yaml:1:1: error: file is 104857600 bytes, over the 64 MiB limit [invalid-input]
	moat policy check: 1 file, 0 objects checked: 0 violations, 1 input error
	EOF
	[ $((SECONDS - t0)) -le 2 ] || fail "took $((SECONDS - t0)) s"

	truncate -s 100M big.yaml
	write_pod bad.yaml bad '' 'privileged: true'
	run_bad -q big.yaml bad.yaml
	assert_equal "${#lines[@]}" 2
	assert_line --index 1 --partial 'bad.yaml:15:7: baseline: Pod bad:'
}

@test "100 MB on standard input: exit 2 naming the size limit" {
	local t0=$SECONDS
	run -2 bash -c 'head -c 100M /dev/zero | "$1" policy check -' _ "$MOAT"
	refute_crash
	assert_line --index 0 '<stdin>:1:1: error: input is over the 64 MiB limit [invalid-input]'
	[ $((SECONDS - t0)) -le 10 ] || fail "took $((SECONDS - t0)) s"
}

@test "deep nesting (100000 [ or {, block mappings 300 deep): exit 2 'nested deeper', quickly" {
	head -c 100000 /dev/zero | tr '\0' '[' >deep.yaml
	local t0=$SECONDS
	run_bad deep.yaml
	assert_output - <<-'EOF'
	deep.yaml:1:201: error: nested deeper than 200 levels [invalid-input]
	moat policy check: 1 file, 0 objects checked: 0 violations, 1 input error
	EOF
	[ $((SECONDS - t0)) -le 5 ] || fail "took $((SECONDS - t0)) s"

	head -c 100000 /dev/zero | tr '\0' '{' >flow.yaml
	run_bad flow.yaml
	assert_line --index 0 --partial 'nested deeper than'
	local i indent=''
	for i in $(seq 300); do
		printf '%sa:\n' "$indent"
		indent="$indent  "
	done >block.yaml
	run_bad block.yaml
	assert_line --index 0 --regexp '^block\.yaml:[0-9]+:[0-9]+: error: nested deeper than 200 levels'
}

@test "binary junk, alone or after a valid start: exit 2" {
	junk 65536 junk.yaml
	run_bad junk.yaml
	assert_line --index 0 --regexp '^junk\.yaml:[0-9]+:[0-9]+: error: '

	write_pod junk.yaml p '' 'privileged: true'
	junk 4096 tail.bin
	cat tail.bin >>junk.yaml
	run_bad junk.yaml
	assert_output --partial 'junk.yaml:'
	assert_output --partial ': error: '
}

@test "64 KiB from /dev/urandom: exit 2" {
	head -c 65536 /dev/urandom >random.yaml
	run_bad random.yaml
	assert_line --index 0 --regexp '^random\.yaml:[0-9]+:[0-9]+: error: '
}

@test "a file with NUL bytes: exit 2" {
	printf 'apiVersion: v1\nkind: Pod\x00\nmetadata: {name: x}\n' >nul.yaml
	run_bad nul.yaml
	assert_line --index 0 --regexp '^nul\.yaml:[0-9]+:[0-9]+: error: .* \[invalid-input\]$'
	head -c 4096 /dev/zero >zeros.yaml
	run_bad zeros.yaml
}

@test "NUL bytes and invalid UTF-8 are reported at their own line:col, not at 1:1" {
	# Line 15, after "# trailing", holds the NUL: send the reader there.
	write_pod nul.yaml p
	printf '# trailing\x00comment\n' >>nul.yaml
	run_bad nul.yaml
	assert_line --index 0 --regexp '^nul\.yaml:15:11: error: '

	write_pod latin1.yaml p
	printf '# caf\xe9\n' >>latin1.yaml
	run_bad latin1.yaml
	assert_line --index 0 --regexp '^latin1\.yaml:15:6: error: '
}

@test "documents before an encoding error are still checked, as before a syntax error" {
	# check.c: "Documents before a syntax error are still checked: nothing
	# is lost."  libyaml finds bad bytes while reading ahead, before it has
	# handed over the documents that precede them.
	write_pod enc.yaml p '' 'privileged: true'
	printf -- '---\n# \x00\n' >>enc.yaml
	run_bad -l baseline --no-share-nothing enc.yaml
	assert_line --index 0 'enc.yaml:15:7: baseline: Pod p: container "app" must not set securityContext.privileged=true [pss/privileged]'
	assert_line --index 1 --regexp '^enc\.yaml:17:3: error: .*control characters.* \[invalid-input\]$'
	assert_line --index 2 'moat policy check: 1 file, 1 object checked: 1 violation, 1 input error'
}

@test "200000 empty documents: clean and quick" {
	yes -- '---' | head -n 200000 >many.yaml
	local t0=$SECONDS
	run -0 "$MOAT" policy check many.yaml
	assert_output 'moat policy check: 1 file, 0 objects checked: 0 violations'
	[ $((SECONDS - t0)) -le 5 ] || fail "took $((SECONDS - t0)) s"
}

@test "a very long scalar and a very long name: no crash, whole lines" {
	{
		printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: '
		head -c 100000 /dev/zero | tr '\0' n
		printf '\nspec:\n  hostIPC: true\n  containers: []\n'
	} >long.yaml
	run -1 "$MOAT" policy check -l baseline --no-share-nothing long.yaml
	refute_crash
	assert_line --index 0 --regexp '^long\.yaml:6:3: baseline: Pod n+: pod must not set hostIPC=true: .*\[pss/hostNamespaces\]$'
}

@test "a hostile exceptions file is refused, not crashed on" {
	head -c 100000 /dev/zero | tr '\0' '[' >ex-deep.yaml
	run -2 "$MOAT" policy check -e ex-deep.yaml "$FIXTURES/restricted-good.yaml"
	refute_crash
	assert_output --partial 'nested deeper'
	junk 65536 ex-junk.yaml
	run -2 "$MOAT" policy check -e ex-junk.yaml "$FIXTURES/restricted-good.yaml"
	refute_crash
	truncate -s 100M ex-big.yaml
	run -2 "$MOAT" policy check -e ex-big.yaml "$FIXTURES/restricted-good.yaml"
	refute_crash
	assert_output --partial 'limit'
}
