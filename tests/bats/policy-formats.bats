#!/usr/bin/env bats
# moat policy check --format json|sarif|junit: what CI systems and code
# scanning read.  JSON is held to docs/moat-report.schema.json, SARIF to
# tests/tools/sarif-validate, JUnit to an XML parser.

load helper

setup_file() {
	probe_python jsonschema
}

# The manifests are in m/, the exceptions file beside it: one clean pod,
# one violating pod in a namespace, Services, a skipped kind, one input
# error, one exception that applies and one that expired.  Every part of a
# report is non-empty.
write_mixed() {
	mkdir m
	write_pod m/good.yaml good
	write_pod m/bad.yaml web shop 'privileged: true'
	cp "$FIXTURES/share-nothing-services.yaml" m/svc.yaml
	printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n' >m/cm.yaml
	printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: t}\nspec:\n  hostPID: "yes"\n  containers: []\n' >m/types.yaml
	cat >exceptions.yaml <<-'EOF'
	exceptions:
	- check: share-nothing/nodeport
	  name: np
	  reason: old syslog senders
	  expires: 2999-12-31
	- check: pss/hostPorts
	  name: whatever
	  reason: long gone
	  expires: 2000-01-01
	EOF
}

# ---- JSON ----

@test "json: a clean run validates against the schema, with empty arrays" {
	need_python jsonschema
	write_pod good.yaml good
	run -0 "$MOAT" policy check --format json -o report.json good.yaml
	assert_output ""
	"$CHECK_REPORT" json report.json '
assert r["tool"] == "moat" and r["command"] == "policy check", r
assert r["findings"] == [] and r["errors"] == [] and r["warnings"] == [], r
assert r["summary"] == {"files": 1, "objects": 1, "skipped": 0, "violations": 0,
                        "exempted": 0, "errors": 0, "warnings": 0}, r["summary"]
assert r["parameters"] == {"level": "restricted", "version": "latest",
                           "effectiveVersion": "v1.37", "shareNothing": "true"}, r["parameters"]
'
}

@test "json: findings, errors, exemptions and warnings validate, and the counts match" {
	need_python jsonschema
	write_mixed
	run -2 --separate-stderr "$MOAT" policy check -f json -e exceptions.yaml -o report.json m
	"$CHECK_REPORT" json report.json '
s = r["summary"]
assert s == {"files": 5, "objects": 8, "skipped": 1, "violations": 3, "exempted": 1,
             "errors": 1, "warnings": 1}, s
assert [w["code"] for w in r["warnings"]] == ["exception-expired"], r["warnings"]
w = r["warnings"][0]
assert (w["file"], w["line"], w["column"]) == ("exceptions.yaml", 6, 3), w
'
}

@test "json: a finding carries check, position, object, container and field" {
	need_python jsonschema
	write_pod bad.yaml web shop 'privileged: true'
	run -1 "$MOAT" policy check --format json -o report.json bad.yaml
	"$CHECK_REPORT" json report.json '
assert len(r["findings"]) == 1, r["findings"]
f = r["findings"][0]
want = {
    "check": "pss/privileged", "level": "baseline", "file": "bad.yaml",
    "line": 16, "column": 7,
    "object": {"kind": "Pod", "namespace": "shop", "name": "web", "file": "bad.yaml", "line": 1},
    "container": "app", "field": "spec.containers[0].securityContext.privileged",
    "message": "container \"app\" must not set securityContext.privileged=true",
}
assert f == want, f
'
}

@test "json: an input error is in errors[] at its position, exit 2, and on stderr" {
	need_python jsonschema
	printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: t}\nspec:\n  hostPID: "yes"\n  containers: []\n' >types.yaml
	run -2 --separate-stderr "$MOAT" policy check -f json -o report.json types.yaml
	stderr_as_output
	assert_output 'types.yaml:5:12: error: spec.hostPID: expected a boolean (true or false), got a string "yes"'
	"$CHECK_REPORT" json report.json '
e = r["errors"]
assert len(e) == 1 and e[0]["code"] == "invalid-input", e
assert (e[0]["file"], e[0]["line"], e[0]["column"]) == ("types.yaml", 5, 12), e
'
}

@test "json: parameters record the version as asked and as evaluated" {
	need_python jsonschema
	write_pod good.yaml good
	# The schema: "version (as asked), effectiveVersion (as evaluated)".
	run -0 "$MOAT" policy check -f json -l baseline --no-share-nothing --version v1.99 -o r.json good.yaml
	"$CHECK_REPORT" json r.json '
p = r["parameters"]
assert p == {"level": "baseline", "version": "v1.99", "effectiveVersion": "v1.37",
             "shareNothing": "false"}, p
'
}

@test "json: standard input and file names that are not UTF-8 still validate" {
	need_python jsonschema
	mkdir d
	write_pod "d/$(printf 'caf\xe9.yaml')" bad '' 'privileged: true'
	run -1 "$MOAT" policy check -f json -o report.json d - <"$FIXTURES/baseline-privileged.yaml"
	"$CHECK_REPORT" json report.json '
files = sorted(set(f["file"] for f in r["findings"]))
assert len(files) == 2 and "<stdin>" in files, files
'
}

# ---- SARIF ----

@test "sarif: a clean run validates and has \"results\": []" {
	write_pod good.yaml good
	run -0 "$MOAT" policy check --format sarif -o report.sarif good.yaml
	run -0 grep -c '^      "results": \[\],\?$' report.sarif
	assert_output 1
	run -1 grep -c '"ruleId"' report.sarif
	assert_output 0
	need_python
	"$SARIF_VALIDATE" report.sarif
}

@test "sarif: findings, errors, exemptions and warnings validate; locations relative to %SRCROOT%" {
	write_mixed
	mkdir m/sub
	mv m/bad.yaml m/sub/
	run -2 --separate-stderr "$MOAT" policy check -f sarif -e exceptions.yaml -o report.sarif m
	need_python
	"$SARIF_VALIDATE" report.sarif
	"$CHECK_REPORT" sarif report.sarif '
ids = sorted(x["ruleId"] for x in results)
assert ids == sorted(["pss/privileged", "share-nothing/nodeport",
                      "share-nothing/loadbalancer-nodeports", "share-nothing/loadbalancer-nodeports",
                      "moat/invalid-input", "moat/exception-expired"]), ids
assert run["invocations"][0]["executionSuccessful"] is False, run["invocations"]
rules = run["tool"]["driver"]["rules"]
for x in results:
    assert rules[x["ruleIndex"]]["id"] == x["ruleId"], x
    loc = x["locations"][0]["physicalLocation"]
    art, reg = loc["artifactLocation"], loc["region"]
    assert art.get("uriBaseId") == "%SRCROOT%", art
    assert not art["uri"].startswith("/") and "//" not in art["uri"], art
    assert reg["startLine"] >= 1 and reg["startColumn"] >= 1, reg
by = {x["ruleId"]: x for x in results}
loc = by["pss/privileged"]["locations"][0]["physicalLocation"]
assert loc["artifactLocation"]["uri"] == "m/sub/bad.yaml", loc
assert loc["region"] == {"startLine": 16, "startColumn": 7}, loc
loc = by["moat/invalid-input"]["locations"][0]["physicalLocation"]
assert loc["artifactLocation"]["uri"] == "m/types.yaml", loc
assert loc["region"] == {"startLine": 5, "startColumn": 12}, loc
assert by["moat/exception-expired"]["level"] == "warning", by["moat/exception-expired"]
sup = by["share-nothing/nodeport"]["suppressions"]
assert sup == [{"kind": "external", "status": "accepted", "justification": "old syslog senders"}], sup
assert "suppressions" not in by["pss/privileged"]
'
}

@test "sarif: odd file names are percent-encoded, standard input has no base; both validate" {
	mkdir 'my deploy'
	write_pod 'my deploy/pod é#1.yaml' bad '' 'privileged: true'
	run -1 "$MOAT" policy check -f sarif -o names.sarif 'my deploy'
	run -0 grep -F '"uri": "my%20deploy/pod%20%C3%A9%231.yaml"' names.sarif
	run -1 "$MOAT" policy check -f sarif -o stdin.sarif - <"$FIXTURES/baseline-privileged.yaml"
	run -1 grep -c '"uriBaseId"' stdin.sarif
	assert_output 0
	need_python
	"$SARIF_VALIDATE" names.sarif stdin.sarif
}

@test "sarif: rule ids are the same, in the same order, whatever is checked" {
	write_pod good.yaml good
	cp "$FIXTURES/share-nothing-services.yaml" svc.yaml
	cp "$FIXTURES/baseline-privileged.yaml" priv.yaml
	run -0 "$MOAT" policy check -f sarif -o a.sarif good.yaml
	run -1 "$MOAT" policy check -f sarif -o b.sarif svc.yaml priv.yaml
	run -1 "$MOAT" policy check -f sarif -l privileged --version v1.0 -o c.sarif priv.yaml svc.yaml
	# The check ids in --help order, then moat's own two.
	local ids
	ids=$("$MOAT" policy check --help | sed -n 's/^  \(pss\/[A-Za-z_]*\|share-nothing\/[a-z-]*\) .*/\1/p' | tr '\n' ' ')
	need_python
	"$CHECK_REPORT" sarif a.sarif '
import sys
want = "'"$ids"'".split() + ["moat/invalid-input", "moat/exception-expired"]
assert len(want) == 28, want
for name in ("a.sarif", "b.sarif", "c.sarif"):
    got = [x["id"] for x in json.load(open(name))["runs"][0]["tool"]["driver"]["rules"]]
    assert got == want, (name, got)
'
}

@test "sarif: fingerprints stay when lines move, and differ between findings" {
	cp "$FIXTURES/baseline-privileged.yaml" priv.yaml
	run -1 "$MOAT" policy check -f sarif -l baseline --no-share-nothing -o a.sarif priv.yaml
	{ printf '# moved\n# down\n'; cat "$FIXTURES/baseline-privileged.yaml"; } >priv.yaml
	run -1 "$MOAT" policy check -f sarif -l baseline --no-share-nothing -o b.sarif priv.yaml
	need_python
	"$CHECK_REPORT" sarif a.sarif '
def fp(name):
    res = json.load(open(name))["runs"][0]["results"]
    return [(x["partialFingerprints"]["moatFinding/v1"],
             x["locations"][0]["physicalLocation"]["region"]["startLine"]) for x in res]
a, b = fp("a.sarif"), fp("b.sarif")
assert [l for _, l in a] == [10, 18] and [l for _, l in b] == [12, 20], (a, b)
assert [f for f, _ in a] == [f for f, _ in b], (a, b)
assert a[0][0] != a[1][0], a
'
}

# ---- JUnit ----

@test "junit: one test case per object; a failure lists file:line:col per violation" {
	write_pod good.yaml good
	cp "$FIXTURES/baseline-privileged.yaml" priv.yaml
	run -1 "$MOAT" policy check -f junit -l baseline --no-share-nothing -o report.xml good.yaml priv.yaml
	assert_output ""
	need_python
	"$CHECK_REPORT" junit report.xml '
assert r.tag == "testsuites", r.tag
assert (r.get("tests"), r.get("failures"), r.get("errors")) == ("2", "1", "0"), r.attrib
cases = r.findall("./testsuite/testcase")
assert [(c.get("classname"), c.get("name")) for c in cases] == [("good.yaml", "Pod good"), ("priv.yaml", "Pod priv")], cases
assert cases[0].find("failure") is None
f = cases[1].find("failure")
assert f.get("message") == "2 violations", f.attrib
lines = f.text.strip().split("\n")
assert len(lines) == 2, lines
assert lines[0].startswith("priv.yaml:10:7: baseline: ") and lines[0].endswith("[pss/privileged]"), lines
assert lines[1].startswith("priv.yaml:18:23: baseline: ") and lines[1].endswith("[pss/privileged]"), lines
'
}

@test "junit: a clean run is all passing test cases, exit 0" {
	cp "$FIXTURES/restricted-good.yaml" good.yaml
	run -0 "$MOAT" policy check -f junit -o report.xml good.yaml
	need_python
	"$CHECK_REPORT" junit report.xml '
assert (r.get("tests"), r.get("failures"), r.get("errors")) == ("2", "0", "0"), r.attrib
assert not r.findall(".//failure") and not r.findall(".//error"), ET.tostring(r)
'
}

@test "junit: an input error is an <error> test case with file:line:col, escaped" {
	printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: t}\nspec:\n  hostPID: "<&>"\n  containers: []\n' >types.yaml
	run -2 --separate-stderr "$MOAT" policy check -f junit -o report.xml types.yaml
	need_python
	"$CHECK_REPORT" junit report.xml '
assert r.get("errors") == "1", r.attrib
e = r.findall(".//error")
assert len(e) == 1 and e[0].text.startswith("types.yaml:5:12: "), [x.text for x in e]
assert "\"<&>\"" in e[0].text, e[0].text
'
}

@test "junit: hostile names and messages still give well-formed XML" {
	cat >'a&b<c>.yaml' <<-'EOF'
	apiVersion: v1
	kind: Pod
	metadata: {name: "x\"<y>&'z\u0001"}
	spec:
	  containers:
	  - name: "c]]>\u0007"
	    image: x
	    securityContext: {privileged: true}
	EOF
	run -1 "$MOAT" policy check -f junit -l baseline --no-share-nothing -o report.xml 'a&b<c>.yaml'
	need_python
	"$CHECK_REPORT" junit report.xml '
c = r.findall(".//testcase")
assert len(c) == 1 and c[0].get("classname") == "a&b<c>.yaml", [x.attrib for x in c]
'
}

# ---- all formats ----

@test "text, json, sarif and junit agree on the exit code" {
	cp "$FIXTURES/baseline-privileged.yaml" priv.yaml
	write_pod good.yaml good
	local f
	for f in text json sarif junit; do
		run -0 "$MOAT" policy check -f "$f" good.yaml
		run -1 "$MOAT" policy check -f "$f" priv.yaml
		run -2 "$MOAT" policy check -f "$f" priv.yaml missing.yaml
	done
}

@test "-q changes only the text format" {
	cp "$FIXTURES/baseline-privileged.yaml" priv.yaml
	local f
	for f in json sarif junit; do
		"$MOAT" policy check -f "$f" -o a priv.yaml || true
		"$MOAT" policy check -f "$f" -q -o b priv.yaml || true
		cmp a b
	done
}
