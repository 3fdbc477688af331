#!/usr/bin/env bats
# moat policy check --exceptions FILE: waivers with a reason and an expiry,
# kept outside the objects they waive.

load helper

setup_file() {
	probe_python
}

# Two Deployments in legacy/app.yaml and one Pod in shop/pod.yaml, each
# clean but for one privileged container; billing-api also runs as root
# (a second check on the same object).
write_manifests() {
	mkdir -p legacy shop
	cat >legacy/app.yaml <<-'EOF'
	apiVersion: apps/v1
	kind: Deployment
	metadata:
	  name: billing-api
	  namespace: legacy
	spec:
	  template:
	    spec:
	      securityContext:
	        runAsNonRoot: true
	        seccompProfile: {type: RuntimeDefault}
	      containers:
	      - name: app
	        image: x
	        securityContext:
	          privileged: true
	          runAsUser: 0
	          allowPrivilegeEscalation: false
	          capabilities: {drop: [ALL]}
	---
	apiVersion: apps/v1
	kind: Deployment
	metadata:
	  name: billing-web
	  namespace: legacy
	spec:
	  template:
	    spec:
	      securityContext:
	        runAsNonRoot: true
	        seccompProfile: {type: RuntimeDefault}
	      containers:
	      - name: app
	        image: x
	        securityContext:
	          privileged: true
	          allowPrivilegeEscalation: false
	          capabilities: {drop: [ALL]}
	EOF
	write_pod shop/pod.yaml billing-api shop 'privileged: true'
}

API_PRIV='legacy/app.yaml:16:11: baseline: Deployment legacy/billing-api: container "app" must not set securityContext.privileged=true [pss/privileged]'
API_ROOT='legacy/app.yaml:17:11: restricted: Deployment legacy/billing-api: container "app" must not set securityContext.runAsUser=0: run as a non-zero UID [pss/runAsUser]'
WEB_PRIV='legacy/app.yaml:36:11: baseline: Deployment legacy/billing-web: container "app" must not set securityContext.privileged=true [pss/privileged]'
POD_PRIV='shop/pod.yaml:16:7: baseline: Pod shop/billing-api: container "app" must not set securityContext.privileged=true [pss/privileged]'

# write_exception FILE CHECK EXPIRES MATCHER-LINES...
write_exception() {
	local file=$1 check=$2 expires=$3 l
	shift 3
	{
		printf 'apiVersion: moat.dev/v1\nkind: PolicyExceptions\nexceptions:\n'
		printf -- '- check: %s\n' "$check"
		for l in "$@"; do
			printf '  %s\n' "$l"
		done
		printf '  reason: vendor image needs it until SEC-123\n'
		printf '  expires: %s\n' "$expires"
	} >"$file"
}

@test "the manifests without exceptions: four violations" {
	write_manifests
	run -1 "$MOAT" policy check legacy shop
	assert_output - <<-EOF
	$API_PRIV
	$API_ROOT
	$WEB_PRIV
	$POD_PRIV
	moat policy check: 2 files, 3 objects checked: 4 violations
	EOF
}

@test "an exception exempts its only violation: exit 0, '1 exempted'" {
	write_pod p.yaml web shop 'privileged: true'
	write_exception ex.yaml pss/privileged 2999-12-31 'name: web'
	run -0 --separate-stderr "$MOAT" policy check --exceptions ex.yaml p.yaml
	assert_output 'moat policy check: 1 file, 1 object checked: 0 violations, 1 exempted'
	assert_equal "$stderr" ""
	run -0 "$MOAT" policy check -e ex.yaml -q p.yaml
	assert_output ""
}

@test "an exempted finding: JSON keeps reason and exception, SARIF suppresses it, JUnit passes it" {
	write_pod p.yaml web shop 'privileged: true'
	write_exception ex.yaml pss/privileged 2999-12-31 'name: web'
	local f
	for f in json sarif junit; do
		run -0 "$MOAT" policy check -e ex.yaml -f "$f" -o "r.$f" p.yaml
	done
	need_python
	"$SARIF_VALIDATE" r.sarif
	"$CHECK_REPORT" sarif r.sarif '
assert len(results) == 1 and results[0]["ruleId"] == "pss/privileged", results
s = results[0]["suppressions"]
assert s == [{"kind": "external", "status": "accepted",
              "justification": "vendor image needs it until SEC-123"}], s
j = json.load(open("r.json"))
assert j["summary"]["violations"] == 0 and j["summary"]["exempted"] == 1, j["summary"]
f = j["findings"]
assert len(f) == 1 and f[0]["check"] == "pss/privileged", f
assert f[0]["exempted"] == {"reason": "vendor image needs it until SEC-123",
                            "exception": "ex.yaml:4:3"}, f[0]
x = ET.parse("r.junit").getroot()
assert x.get("failures") == "0" and not x.findall(".//failure"), ET.tostring(x)
assert len(x.findall(".//testcase")) == 1, ET.tostring(x)
'
}

@test "match by name, namespace and name, or globs of either" {
	write_manifests
	write_exception ex.yaml pss/privileged 2999-12-31 'name: billing-api'
	run -1 "$MOAT" policy check -e ex.yaml legacy shop
	assert_output - <<-EOF
	$API_ROOT
	$WEB_PRIV
	moat policy check: 2 files, 3 objects checked: 2 violations, 2 exempted
	EOF

	write_exception ex.yaml pss/privileged 2999-12-31 'namespace: legacy' 'name: billing-api'
	run -1 "$MOAT" policy check -e ex.yaml legacy shop
	assert_output - <<-EOF
	$API_ROOT
	$WEB_PRIV
	$POD_PRIV
	moat policy check: 2 files, 3 objects checked: 3 violations, 1 exempted
	EOF

	write_exception ex.yaml pss/privileged 2999-12-31 'namespace: leg*'
	run -1 "$MOAT" policy check -e ex.yaml legacy shop
	assert_output - <<-EOF
	$API_ROOT
	$POD_PRIV
	moat policy check: 2 files, 3 objects checked: 2 violations, 2 exempted
	EOF

	write_exception ex.yaml pss/privileged 2999-12-31 'name: billing-*'
	run -1 "$MOAT" policy check -e ex.yaml legacy shop
	assert_output - <<-EOF
	$API_ROOT
	moat policy check: 2 files, 3 objects checked: 1 violation, 3 exempted
	EOF
}

@test "match by kind, by file glob as the path is printed, or everywhere with file: \"*\"" {
	write_manifests
	write_exception ex.yaml pss/privileged 2999-12-31 'kind: Pod'
	run -1 "$MOAT" policy check -e ex.yaml legacy shop
	assert_output - <<-EOF
	$API_PRIV
	$API_ROOT
	$WEB_PRIV
	moat policy check: 2 files, 3 objects checked: 3 violations, 1 exempted
	EOF

	write_exception ex.yaml pss/privileged 2999-12-31 'file: legacy/*.yaml'
	run -1 "$MOAT" policy check -e ex.yaml legacy shop
	assert_output - <<-EOF
	$API_ROOT
	$POD_PRIV
	moat policy check: 2 files, 3 objects checked: 2 violations, 2 exempted
	EOF

	write_exception ex.yaml pss/privileged 2999-12-31 'file: "*"'
	run -1 "$MOAT" policy check -e ex.yaml legacy shop
	assert_output - <<-EOF
	$API_ROOT
	moat policy check: 2 files, 3 objects checked: 1 violation, 3 exempted
	EOF
}

@test "all four matchers must match" {
	write_manifests
	write_exception ex.yaml pss/privileged 2999-12-31 'namespace: legacy' 'name: billing-*' 'kind: Deployment' 'file: shop/*'
	run -1 "$MOAT" policy check -e ex.yaml legacy shop
	assert_line 'moat policy check: 2 files, 3 objects checked: 4 violations'
	write_exception ex.yaml pss/privileged 2999-12-31 'namespace: legacy' 'name: billing-*' 'kind: Deployment' 'file: legacy/*'
	run -1 "$MOAT" policy check -e ex.yaml legacy shop
	assert_output - <<-EOF
	$API_ROOT
	$POD_PRIV
	moat policy check: 2 files, 3 objects checked: 2 violations, 2 exempted
	EOF
}

@test "an exception exempts only its own check: not others on the object, nor absent ones" {
	write_manifests
	write_exception ex.yaml pss/runAsUser 2999-12-31 'namespace: legacy' 'name: billing-api'
	run -1 "$MOAT" policy check -e ex.yaml legacy
	assert_output - <<-EOF
	$API_PRIV
	$WEB_PRIV
	moat policy check: 1 file, 2 objects checked: 2 violations, 1 exempted
	EOF

	write_exception ex.yaml share-nothing/hostpath 2999-12-31 'file: "*"'
	run -1 "$MOAT" policy check -e ex.yaml legacy shop
	assert_line 'moat policy check: 2 files, 3 objects checked: 4 violations'
}

@test "a namespace-less object is matched as default; standard input as file <stdin>" {
	write_pod p.yaml web '' 'privileged: true'
	write_exception ex.yaml pss/privileged 2999-12-31 'namespace: default'
	run -0 "$MOAT" policy check -e ex.yaml p.yaml
	assert_output 'moat policy check: 1 file, 1 object checked: 0 violations, 1 exempted'
	write_exception ex.yaml pss/privileged 2999-12-31 'namespace: legacy'
	run -1 "$MOAT" policy check -q -e ex.yaml p.yaml
	assert_output --partial 'p.yaml:15:7: baseline: Pod web:'

	write_pod p.yaml web shop 'privileged: true'
	write_exception ex.yaml pss/privileged 2999-12-31 'file: <stdin>'
	run -0 "$MOAT" policy check -e ex.yaml - <p.yaml
	assert_output 'moat policy check: 1 file, 1 object checked: 0 violations, 1 exempted'
}

@test "an expired exception no longer applies: exit 1 and a warning at the exception" {
	write_pod p.yaml web shop 'privileged: true'
	write_exception ex.yaml pss/privileged 2000-01-01 'name: web'
	run -1 --separate-stderr "$MOAT" policy check -e ex.yaml p.yaml
	assert_output - <<-'EOF'
	ex.yaml:4:3: warning: exception for pss/privileged expired on 2000-01-01 and no longer applies (reason was: vendor image needs it until SEC-123) [exception-expired]
	p.yaml:16:7: baseline: Pod shop/web: container "app" must not set securityContext.privileged=true [pss/privileged]
	moat policy check: 1 file, 1 object checked: 1 violation, 1 warning
	EOF
	assert_equal "$stderr" ""
}

@test "an expired exception alone warns and exits 0; a later valid one still applies" {
	write_pod p.yaml web shop
	write_exception ex.yaml pss/privileged 2000-01-01 'name: web'
	run -0 "$MOAT" policy check -e ex.yaml p.yaml
	assert_line --index 0 --regexp '^ex\.yaml:4:3: warning: exception for pss/privileged expired on 2000-01-01 .*\[exception-expired\]$'
	assert_line --index 1 'moat policy check: 1 file, 1 object checked: 0 violations, 1 warning'

	write_pod p.yaml web shop 'privileged: true'
	cat >ex.yaml <<-'EOF'
	exceptions:
	- check: pss/privileged
	  name: web
	  reason: old
	  expires: 2000-01-01
	- check: pss/privileged
	  name: web
	  reason: renewed
	  expires: 2999-12-31
	EOF
	run -0 "$MOAT" policy check -e ex.yaml p.yaml
	assert_line --index 0 --partial 'ex.yaml:2:3: warning: exception for pss/privileged expired on 2000-01-01'
	assert_line --index 1 'moat policy check: 1 file, 1 object checked: 0 violations, 1 exempted, 1 warning'
}

@test "an exception holds through its expiry day and stops the day after (UTC)" {
	local today yesterday
	today=$(date -u +%Y-%m-%d)
	yesterday=$(date -u -d yesterday +%Y-%m-%d) || skip "date -d is not GNU date"
	write_pod p.yaml web shop 'privileged: true'
	write_exception ex.yaml pss/privileged "$today" 'name: web'
	run -0 "$MOAT" policy check -e ex.yaml p.yaml
	write_exception ex.yaml pss/privileged "$yesterday" 'name: web'
	run -1 "$MOAT" policy check -e ex.yaml p.yaml
	assert_line --index 0 --partial "expired on $yesterday"
}

@test "the exceptions file in a scanned directory is skipped as another kind" {
	mkdir deploy
	write_pod deploy/p.yaml web shop 'privileged: true'
	write_exception deploy/moat-exceptions.yaml pss/privileged 2999-12-31 'name: web'
	run -0 "$MOAT" policy check -e deploy/moat-exceptions.yaml deploy
	assert_output 'moat policy check: 2 files, 1 object checked (1 of other kinds skipped): 0 violations, 1 exempted'
}

# ---- invalid exceptions files: exit 2, file:line:col, nothing checked ----

# run_bad_exceptions CONTENT: check a violating pod with CONTENT as the
# exceptions file; it must exit 2, print no report, and one error line.
run_bad_exceptions() {
	printf '%s' "$1" >ex.yaml
	write_pod p.yaml web shop 'privileged: true'
	run -2 --separate-stderr "$MOAT" policy check -e ex.yaml p.yaml
	refute_crash
	assert_output ""
	stderr_as_output
	refute_crash
	assert_equal "${#lines[@]}" 1
}

@test "invalid exceptions: unknown check id, including moat's own note codes" {
	run_bad_exceptions $'exceptions:\n- check: pss/privilegd\n  name: web\n  reason: r\n  expires: 2999-12-31\n'
	assert_output 'moat policy check: ex.yaml:2:10: exceptions[0].check: unknown check "pss/privilegd" (see moat policy check --help for the ids)'

	run_bad_exceptions $'exceptions:\n- check: moat/invalid-input\n  file: "*"\n  reason: r\n  expires: 2999-12-31\n'
	assert_output --partial 'ex.yaml:2:10: exceptions[0].check: unknown check "moat/invalid-input"'
}

@test "invalid exceptions: missing or empty reason" {
	run_bad_exceptions $'exceptions:\n- check: pss/privileged\n  name: web\n  expires: 2999-12-31\n'
	assert_output 'moat policy check: ex.yaml:2:3: exceptions[0]: reason is required: say why the check is waived'

	run_bad_exceptions $'exceptions:\n- check: pss/privileged\n  name: web\n  reason: ""\n  expires: 2999-12-31\n'
	assert_output 'moat policy check: ex.yaml:4:11: exceptions[0]: reason is required: say why the check is waived'
}

@test "invalid exceptions: missing expires, a date that does not exist (2027-02-30), malformed dates" {
	run_bad_exceptions $'exceptions:\n- check: pss/privileged\n  name: web\n  reason: r\n'
	assert_output 'moat policy check: ex.yaml:2:3: exceptions[0]: expires is required (YYYY-MM-DD)'

	run_bad_exceptions $'exceptions:\n- check: pss/privileged\n  name: web\n  reason: r\n  expires: 2027-02-30\n'
	assert_output --regexp '^moat policy check: ex\.yaml:5:12: exceptions\[0\]\.expires: "2027-02-30" '

	local d
	for d in 2023-02-29 2027-13-01 2027-1-01 27-01-01 2027/01/01 2027-01-01T00:00:00Z tomorrow; do
		run_bad_exceptions $'exceptions:\n- check: pss/privileged\n  name: web\n  reason: r\n  expires: '"$d"$'\n'
		assert_output --regexp "^moat policy check: ex\\.yaml:5:12: exceptions\\[0\\]\\.expires: \"$d\" "
	done
}

@test "invalid exceptions: no matcher, unknown fields (no container matcher), the entry named" {
	run_bad_exceptions $'exceptions:\n- check: pss/privileged\n  reason: r\n  expires: 2999-12-31\n'
	assert_output 'moat policy check: ex.yaml:2:10: exceptions[0]: name at least one of namespace, name, kind or file (use file: "*" to waive pss/privileged everywhere)'

	run_bad_exceptions $'exceptions:\n- check: pss/privileged\n  name: web\n  container: app\n  reason: r\n  expires: 2999-12-31\n'
	assert_output 'moat policy check: ex.yaml:4:3: exceptions[0]: unknown field "container" (expected check, namespace, name, kind, file, reason, expires)'

	run_bad_exceptions $'exception:\n- check: pss/privileged\n  name: web\n  reason: r\n  expires: 2999-12-31\n'
	assert_output 'moat policy check: ex.yaml:1:1: unknown field "exception" (expected exceptions)'

	run_bad_exceptions $'exceptions:\n- check: pss/privileged\n  name: web\n  reason: r\n  expires: 2999-12-31\n- check: pss/runAsUser\n  name: web\n  reason: r\n  expires: 2999-02-31\n'
	assert_output 'moat policy check: ex.yaml:9:12: exceptions[1].expires: "2999-02-31" is not a real date (YYYY-MM-DD)'
}

@test "invalid exceptions: wrong kind, no list, a list of strings, a matcher that is a list" {
	run_bad_exceptions $'apiVersion: moat.dev/v1\nkind: Exceptions\nexceptions: []\n'
	assert_output 'moat policy check: ex.yaml:2:7: kind: expected PolicyExceptions, got Exceptions'
	run_bad_exceptions $'exceptions:\n  check: pss/privileged\n'
	assert_output 'moat policy check: ex.yaml:2:3: exceptions: expected a list, got a mapping'
	run_bad_exceptions $'exceptions:\n- pss/privileged\n'
	assert_output 'moat policy check: ex.yaml:2:3: exceptions[0]: expected a mapping, got a string'
	run_bad_exceptions $'exceptions:\n- check: pss/privileged\n  name: [web, api]\n  reason: r\n  expires: 2999-12-31\n'
	assert_output 'moat policy check: ex.yaml:3:9: exceptions[0].name: expected a string, got a list'
}

@test "invalid exceptions: empty file, two documents, duplicate key, syntax error" {
	run_bad_exceptions ''
	assert_output --partial 'ex.yaml:1:1: '
	run_bad_exceptions $'exceptions: []\n---\nexceptions: []\n'
	assert_output --partial 'ex.yaml:1:1: expected one YAML document'
	run_bad_exceptions $'exceptions:\n- check: pss/privileged\n  name: web\n  name: api\n  reason: r\n  expires: 2999-12-31\n'
	assert_output --partial 'ex.yaml:4:3: duplicate key "name"'
	run_bad_exceptions $'exceptions:\n- check: pss/privileged\n   name: web\n'
	assert_output --regexp '^moat policy check: ex\.yaml:[0-9]+:[0-9]+: YAML syntax error: '
}

@test "a missing or invalid exceptions file stops even a clean run: exit 2, nothing checked" {
	write_pod p.yaml web shop 'privileged: true'
	run -2 --separate-stderr "$MOAT" policy check -e no-such-exceptions.yaml p.yaml
	assert_output ""
	stderr_as_output
	assert_output --partial 'no-such-exceptions.yaml'
	assert_output --partial 'No such file or directory'

	write_pod p.yaml web shop
	printf 'exceptions:\n- check: pss/nope\n  file: "*"\n  reason: r\n  expires: 2999-12-31\n' >ex.yaml
	run -2 --separate-stderr "$MOAT" policy check -f json -e ex.yaml p.yaml
	assert_output ""
}
