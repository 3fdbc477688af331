#!/usr/bin/env bats
# moat attest end to end against swtpm: enroll, synthetic boot and IMA logs
# extended into the TPM, quote, verify.  The happy path affirms; each way of
# lying to the verifier is contraindicated, for the right reason.

load helper
load swtpm

N1=00112233445566778899aabbccddeeff
N2=cafef00dcafef00dcafef00dcafef00d

# Runs in the file's directory: the TPM, the AK and the evidence are shared
# by the tests, which only read them.
setup_file() {
	command -v swtpm >/dev/null && command -v swtpm_setup >/dev/null &&
		[ -x "$MOAT_TPM" ] && command -v tpm2_pcrextend >/dev/null || return 0
	cd "$BATS_FILE_TMPDIR" || return 1
	swtpm_start
	"$MOAT" attest enroll --tpm "$TPM_TCTI" --ak-pub ak.pem >/dev/null
	"$MOAT" attest enroll --tpm "$TPM_TCTI" --ak-handle 0x81010003 --alg rsa \
		--ak-pub other-ak.pem >/dev/null
	"$MOAT_TOP/tests/tools/mk-attest-logs" make logs --events 100 --ima 200
	# tpm2_pcrextend takes many PCRs at once: a few calls, not 300.
	xargs -n 50 tpm2_pcrextend <logs/extends.txt
	"$MOAT" attest quote --tpm "$TPM_TCTI" --nonce $N1 --pcrs sha1:0-10+sha256:0-10 \
		--eventlog logs/eventlog.bin --ima logs/ima.bin -o ev1.json
	"$MOAT" attest quote --tpm "$TPM_TCTI" --nonce $N2 --pcrs sha1:0-10+sha256:0-10 \
		--eventlog logs/eventlog.bin --ima logs/ima.bin -o ev2.json
	"$MOAT" attest quote --tpm "$TPM_TCTI" --nonce $N2 --pcrs sha256:0-10 \
		--eventlog logs/eventlog.bin --ima logs/ima.txt -o ev-ascii.json
	touch ready
}

teardown_file() {
	swtpm_stop
}

setup() {
	common_setup
	swtpm_need
	tpm2_tools_need
	[ -e "$BATS_FILE_TMPDIR/ready" ] || fail "setup_file did not finish"
	F=$BATS_FILE_TMPDIR
}

# edit_evidence IN OUT PYTHON: runs PYTHON with `ev` the evidence (a dict)
# and `b64`/`unb64` at hand, and writes the result to OUT.
edit_evidence() {
	python3 - "$1" "$2" "$3" <<'PY'
import base64, json, sys
ev = json.load(open(sys.argv[1]))
b64 = lambda b: base64.b64encode(b).decode()
unb64 = base64.b64decode
exec(sys.argv[3])
json.dump(ev, open(sys.argv[2], "w"))
PY
}

# with_eventlog HOW: evidence whose event log was damaged by mk-attest-logs;
# prints the index of the event it touched.
with_eventlog() {
	"$MOAT_TOP/tests/tools/mk-attest-logs" tamper "$F/logs/eventlog.bin" log.bin "$1"
	edit_evidence "$F/ev2.json" ev.json 'ev["eventlog"] = b64(open("log.bin", "rb").read())'
}

verify() {
	run --separate-stderr "$MOAT" attest verify "$@"
}

appraisal() { # CLAIM STATUS: the text line of that appraisal
	assert_line --regexp "^$1 +$2 "
}

@test "attest: the happy path affirms" {
	verify "$F/ev2.json" --ak "$F/ak.pem" --nonce $N2
	assert_success
	appraisal signature affirming
	appraisal nonce affirming
	appraisal pcr-digest affirming
	appraisal eventlog affirming
	appraisal ima affirming
	assert_line "verdict: affirming"
}

@test "attest: the verdict as an EAR attestation result" {
	verify "$F/ev2.json" --ak "$F/ak.pem" --nonce $N2 --format json
	assert_success
	python3 -c '
import json, sys
r = json.loads(sys.argv[1])
m = r["submods"]["moat-attest"]
assert r["eat_profile"] == "tag:github.com,2023:veraison/ear", r
assert m["ear.status"] == "affirming", m
assert m["ear.appraisal-policy-id"] == "moat:replay", m
assert m["ear.trustworthiness-vector"]["instance-identity"] == 2, m
assert all(a["status"] == "affirming" for a in m["moat.appraisals"]), m
' "$output"
}

@test "attest: an IMA list sent as text replays like the binary one" {
	verify "$F/ev-ascii.json" --ak "$F/ak.pem" --nonce $N2
	assert_success
	appraisal ima affirming
}

@test "attest: a wrong nonce is contraindicated" {
	verify "$F/ev2.json" --ak "$F/ak.pem" --nonce 0badc0de
	assert_failure 1
	appraisal nonce contraindicated
	assert_output --partial "not the nonce 0badc0de"
	assert_line "verdict: contraindicated"
}

@test "attest: a stale quote is contraindicated" {
	# Evidence from the earlier challenge, offered for the new one.
	verify "$F/ev1.json" --ak "$F/ak.pem" --nonce $N2
	assert_failure 1
	appraisal nonce contraindicated
	assert_output --partial "stale or replayed"
}

@test "attest: a flipped signature byte is contraindicated" {
	edit_evidence "$F/ev2.json" ev.json '
s = bytearray(unb64(ev["quote"]["signature"])); s[20] ^= 1
ev["quote"]["signature"] = b64(bytes(s))'
	verify ev.json --ak "$F/ak.pem" --nonce $N2
	assert_failure 1
	appraisal signature contraindicated
}

@test "attest: a changed PCR value is contraindicated" {
	edit_evidence "$F/ev2.json" ev.json 'ev["pcrs"]["sha256"]["7"] = "00" * 32'
	verify ev.json --ak "$F/ak.pem" --nonce $N2
	assert_failure 1
	appraisal pcr-digest contraindicated
	assert_output --partial "a PCR value was changed"
}

@test "attest: an event whose data was changed is named" {
	idx=$(with_eventlog change)
	verify ev.json --ak "$F/ak.pem" --nonce $N2
	assert_failure 1
	appraisal eventlog contraindicated
	assert_line --partial "first bad event: $idx "
}

@test "attest: an event whose digest was changed is named" {
	idx=$(with_eventlog digest)
	verify ev.json --ak "$F/ak.pem" --nonce $N2
	assert_failure 1
	appraisal eventlog contraindicated
	assert_output --partial "PCR 4 (sha256) replays to"
	assert_line --partial "first bad event: $idx "
}

@test "attest: an inserted event is named" {
	idx=$(with_eventlog insert)
	verify ev.json --ak "$F/ak.pem" --nonce $N2
	assert_failure 1
	appraisal eventlog contraindicated
	assert_line --partial "first bad event: $idx "
}

@test "attest: a removed event is contraindicated" {
	with_eventlog remove >/dev/null
	verify ev.json --ak "$F/ak.pem" --nonce $N2
	assert_failure 1
	appraisal eventlog contraindicated
	assert_output --partial "events are missing"
}

@test "attest: reordered events are named" {
	idx=$(with_eventlog reorder)
	verify ev.json --ak "$F/ak.pem" --nonce $N2
	assert_failure 1
	appraisal eventlog contraindicated
	assert_line --partial "first bad event: $idx "
}

@test "attest: a truncated event log is contraindicated, with the offset" {
	off=$(with_eventlog truncate)
	verify ev.json --ak "$F/ak.pem" --nonce $N2
	assert_failure 1
	appraisal eventlog contraindicated
	# The event that starts at $off is cut 20 bytes in: its digest.
	assert_output --regexp "eventlog: offset $((off + 14)): event [0-9]+: .*runs past the end of the log"
}

@test "attest: an IMA entry removed is contraindicated" {
	edit_evidence "$F/ev2.json" ev.json '
import struct
b = unb64(ev["ima"]); off = 0; ends = []
while off < len(b):
    n = struct.unpack_from("<I", b, off + 24)[0]
    d = struct.unpack_from("<I", b, off + 28 + n)[0]
    ends.append((off, off + 32 + n + d)); off = ends[-1][1]
s, e = ends[50]
ev["ima"] = b64(b[:s] + b[e:])'
	verify ev.json --ak "$F/ak.pem" --nonce $N2
	assert_failure 1
	appraisal ima contraindicated
	assert_output --partial "replays PCR 10"
}

@test "attest: another AK is contraindicated" {
	verify "$F/ev2.json" --ak "$F/other-ak.pem" --nonce $N2
	assert_failure 1
	appraisal signature contraindicated
	assert_output --partial "enrolled AK"
}

@test "attest: reference values from good evidence affirm it" {
	run "$MOAT" attest refs "$F/ev2.json" -o refs.yaml
	assert_success
	grep -q "^boot_components:" refs.yaml
	grep -q '"/usr/lib/moat-test/file000100": \["sha256:' refs.yaml
	verify "$F/ev2.json" --ak "$F/ak.pem" --nonce $N2 --refs refs.yaml
	assert_success
	appraisal boot-events affirming
	appraisal boot-components affirming
	appraisal ima-allowlist affirming
	appraisal pcr-values affirming
}

@test "attest: a refs mismatch is contraindicated, naming the event and the file" {
	"$MOAT" attest refs "$F/ev2.json" -o refs.yaml
	# The grub component and one file are no longer what the verifier accepts.
	python3 - <<'PY'
import hashlib, re
t = open("refs.yaml").read()
grub = hashlib.sha256(b"grub PE image").hexdigest()
assert grub in t
t = t.replace(grub, "ab" * 32)
t = re.sub(r'("/usr/lib/moat-test/file000007": \["sha256:)..', r"\g<1>00", t)
open("refs.yaml", "w").write(t)
PY
	verify "$F/ev2.json" --ak "$F/ak.pem" --nonce $N2 --refs refs.yaml
	assert_failure 1
	appraisal boot-components contraindicated
	appraisal boot-events contraindicated
	appraisal ima-allowlist contraindicated
	assert_output --partial "EV_EFI_BOOT_SERVICES_APPLICATION"
	assert_output --partial "/usr/lib/moat-test/file000007 has digest sha256:"
}

@test "attest: an IMA file outside the allow-list, and what unknown: warning does" {
	"$MOAT" attest refs "$F/ev2.json" -o refs.yaml
	sed -i '/file000009/d' refs.yaml
	verify "$F/ev2.json" --ak "$F/ak.pem" --nonce $N2 --refs refs.yaml
	assert_failure 1
	assert_output --partial "/usr/lib/moat-test/file000009 is not in the allow-list"
	sed -i 's/unknown: contraindicated/unknown: warning/' refs.yaml
	verify "$F/ev2.json" --ak "$F/ak.pem" --nonce $N2 --refs refs.yaml
	assert_failure 1
	appraisal ima-allowlist warning
	assert_line "verdict: warning"
	sed -i 's/exclude: \[\]/exclude: ["*file000009"]/' refs.yaml
	verify "$F/ev2.json" --ak "$F/ak.pem" --nonce $N2 --refs refs.yaml
	assert_success
}

@test "attest: bad input is exit 2 with the file, line and field" {
	printf '{"moat_version": "0.1.0",\n "timestamp": 5}\n' >bad.json
	verify bad.json --ak "$F/ak.pem" --nonce $N2
	assert_failure 2
	stderr_as_output
	assert_output "moat attest verify: bad.json:2:15: timestamp: expected a string, found an integer"
	printf 'ima:\n  allow:\n    /bin/sh: ["sha256:12"]\n' >refs.yaml
	verify "$F/ev2.json" --ak "$F/ak.pem" --nonce $N2 --refs refs.yaml
	assert_failure 2
	stderr_as_output
	assert_output --partial "refs.yaml:3:15: ima.allow./bin/sh: expected 64 hex digits"
	verify "$F/ev2.json" --ak "$F/ak.pem" --nonce xyz
	assert_failure 2
	verify "$F/ev2.json" --nonce $N2
	assert_failure 2
	echo "not a key" >junk.pem
	verify "$F/ev2.json" --ak junk.pem --nonce $N2
	assert_failure 2
}

@test "attest quote: a missing log fails before the TPM is asked, writing nothing" {
	run "$MOAT" attest quote --tpm "$TPM_TCTI" --nonce $N1 --eventlog nope.bin -o ev.json
	assert_failure 2
	assert_output --partial "nope.bin"
	[ ! -e ev.json ]
	run "$MOAT" attest quote --tpm "$TPM_TCTI" --nonce 123 -o ev.json
	assert_failure 2
	run "$MOAT" attest quote --tpm "$TPM_TCTI" --nonce $N1 --pcrs sha256:0-99 -o ev.json
	assert_failure 2
	[ ! -e ev.json ]
}

@test "attest quote: an unreachable TPM is exit 3 and writes nothing" {
	run "$MOAT" attest quote --tpm "swtpm:host=127.0.0.1,port=1" --nonce $N1 --no-eventlog \
		--no-ima -o ev.json
	assert_failure 3
	[ ! -e ev.json ]
}

@test "attest: without moat-tpm, enroll and quote say so (exit 3)" {
	MOAT_TPM_HELPER=/nonexistent/moat-tpm run "$MOAT" attest quote --nonce $N1 -o ev.json
	assert_failure 3
	[ ! -e ev.json ]
}

@test "attest: evidence follows its documented schema" {
	python3 - "$MOAT_TOP/docs/moat-attest-evidence.schema.json" "$F/ev2.json" "$F/ev-ascii.json" <<'PY'
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
for p in sys.argv[2:]:
    jsonschema.validate(json.load(open(p)), schema)
PY
}

@test "attest: every subcommand has --help" {
	for sub in enroll quote verify eventlog ima refs; do
		run "$MOAT" attest $sub --help
		assert_success
		assert_output --partial "Usage: moat attest $sub"
	done
	run "$MOAT" attest bogus
	assert_failure 2
}
