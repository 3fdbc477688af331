#!/usr/bin/env bats
# moat attest eventlog and moat attest ima on the upstream logs under
# ../shared/conformance/eventlog: listings, replayed PCRs against the values
# their projects give, bad input refused with the byte offset, and the event
# list checked against Debian's tpm2_eventlog, event by event.

load helper

setup_file() {
	probe_python
}

setup() {
	common_setup
	CONF=$MOAT_SHARED/conformance/eventlog
	[ -r "$CONF/SOURCE.md" ] || skip "no upstream test data in $CONF"
}

TT=tpm2-software_tpm2-tools__test__integration__fixtures__
GA=google_go-attestation__attest__testdata__
KL=keylime_keylime__test__data__create-mb-policy__

# Every binary event log in the conformance set.
LOGS=(
	${TT}event.bin ${TT}specid-vendordata.bin ${TT}event-uefivar.bin
	${TT}event-uefiaction.bin ${TT}event-uefiservices.bin
	${TT}event-sd-boot-fedora37.bin ${TT}event-arch-linux.bin
	${TT}event-uefi-sha1-log.bin
	${GA}short_no_action_eventlog ${GA}crypto_agile_eventlog ${GA}sb_cert_eventlog
	${GA}ebs_event_missing_eventlog
	${KL}binary_bios_measurements ${KL}binary_bios_measurements-secureboot
)

@test "attest eventlog: lists the events of a crypto-agile log" {
	run -0 "$MOAT" attest eventlog "$CONF/${TT}event.bin"
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 --regexp '^ +0  offset 0 +PCR 0 +EV_NO_ACTION  sha1:0{40}'
	assert_line --index 1 --regexp '^ +1  offset 77 +PCR 0 +EV_EFI_PLATFORM_FIRMWARE_BLOB  sha1:d1ee7e857e2ae54671be58f83f3b0355c4c929f1  sha256:660375b3'
}

@test "attest eventlog: text, JSON and YAML name the same events; StartupLocality is read" {
	need_python
	f=$CONF/${KL}binary_bios_measurements
	run -0 "$MOAT" attest eventlog "$f"
	assert_equal "${#lines[@]}" 121
	assert_line --partial 'EV_IPL'
	"$MOAT" attest eventlog "$f" --format json >ev.json
	"$MOAT" attest eventlog "$f" --format yaml --replay >ev.yaml
	run -0 python3 - <<'EOF'
import json, yaml
j = json.load(open("ev.json"))
y = yaml.safe_load(open("ev.yaml"))
assert j["startup_locality"] == 3, j.get("startup_locality")
assert len(j["events"]) == len(y["events"]) == 121
for a, b in zip(j["events"], y["events"]):
    assert a["index"] == b["EventNum"] and a["pcr"] == b["PCRIndex"], (a, b)
    assert a["type_name"] == b["EventType"], (a, b)
    if a["index"] > 0:
        assert {d["AlgorithmId"]: d["Digest"] for d in b["Digests"]} == a["digests"], a["index"]
assert "sha256" in y["pcrs"] and 0 in y["pcrs"]["sha256"]
print("ok")
EOF
	assert_output ok
}

@test "attest eventlog --replay: every conformance log gives its expected PCRs" {
	need_python
	for l in "${LOGS[@]}"; do
		"$MOAT" attest eventlog "$CONF/$l" --replay --format json >"$l.json" ||
			fail "$l: moat exited $?"
	done
	run -0 python3 - "$CONF" "${LOGS[@]}" <<'EOF'
import json, sys
conf, logs = sys.argv[1], sys.argv[2:]
n = 0
for l in logs:
    got = json.load(open(l + ".json"))
    want = json.load(open(f"{conf}/{l}.replay.json"))
    assert len(got["events"]) == want["events"], l
    assert got.get("startup_locality", 0) == want["startup_locality"], l
    assert got["pcrs"] == want["pcrs"], (l, got["pcrs"], want["pcrs"])
    n += sum(len(v) for v in want["pcrs"].values())
print(f"{len(logs)} logs, {n} PCR values")
EOF
	assert_output "14 logs, 107 PCR values"
}

@test "attest eventlog --replay: tpm2-tools' own expected PCRs (yaml fixtures)" {
	need_python
	run -0 python3 - "$MOAT" "$CONF" "$TT" <<'EOF'
import json, re, subprocess, sys
moat, conf, tt = sys.argv[1:]
pairs = {"event.bin": "event.bin.yaml", "specid-vendordata.bin": "specid-vendordata.bin.yaml"}
for b in ["event-uefivar", "event-uefiaction", "event-uefiservices", "event-sd-boot-fedora37",
          "event-arch-linux", "event-uefi-sha1-log"]:
    pairs[b + ".bin"] = "event-raw__" + b + ".bin.yaml"
n = 0
for b, y in pairs.items():
    text = open(f"{conf}/{tt}{y}").read()
    want, bank = {}, None
    for line in text[text.index("\npcrs:"):].splitlines()[2:]:
        m = re.match(r"^  (\w+):$", line)
        if m:
            bank = want.setdefault(m.group(1), {})
            continue
        m = re.match(r"^    (\d+) *: 0x([0-9a-f]+)$", line)
        if m:
            bank[m.group(1)] = m.group(2)
    out = subprocess.run([moat, "attest", "eventlog", f"{conf}/{tt}{b}", "--replay", "--format",
                          "json"], check=True, capture_output=True).stdout
    got = json.loads(out)["pcrs"]
    assert got == want, (b, got, want)
    n += 1
print(n)
EOF
	assert_output 8
}

@test "attest eventlog: the same events as tpm2_eventlog; where the PCRs differ, moat follows the spec" {
	command -v tpm2_eventlog >/dev/null || skip "tpm2_eventlog is not installed (tpm2-tools)"
	need_python
	read_by_both=0
	for l in "${LOGS[@]}"; do
		# Debian's 5.4 refuses a log whose only event is StartupLocality.
		tpm2_eventlog "$CONF/$l" >"$l.t2" 2>/dev/null || continue
		"$MOAT" attest eventlog "$CONF/$l" --replay --format json >"$l.json"
		echo "$l" >>read
		read_by_both=$((read_by_both + 1))
	done
	[ "$read_by_both" -ge 13 ] || fail "tpm2_eventlog read only $read_by_both logs"
	run -0 python3 - $(cat read) <<'EOF'
import binascii, hashlib, json, re, sys

H = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384,
     "sha512": hashlib.sha512}

def tpm2_events(text):
    """tpm2_eventlog's listing, read line by line: its SHA-1 form repeats
    keys inside one mapping, which a YAML parser refuses."""
    evs, pcrs, bank, alg = [], {}, None, None
    body, _, tail = text.partition("\npcrs:\n")
    for line in body.splitlines():
        s = line.strip().lstrip("- ")
        if s.startswith("PCRIndex:"):
            evs.append({"pcr": int(s.split()[1]), "digests": {}})
        elif s.startswith("EventType:") and evs and "type" not in evs[-1]:
            evs[-1]["type"] = s.split()[1]
        elif s.startswith("AlgorithmId:"):
            alg = s.split()[1]
        elif s.startswith("Digest:") and evs and line.startswith(("  Digest", "    Digest")):
            d = s.split()[1].strip('"')
            evs[-1]["digests"][alg if line.startswith("    ") else "sha1"] = d
            alg = None
    for line in tail.splitlines():
        m = re.match(r"^  (\w+):$", line)
        if m:
            bank = pcrs.setdefault(m.group(1), {})
        m = re.match(r"^    (\d+) *: 0x([0-9a-f]+)$", line)
        if m:
            bank[m.group(1)] = m.group(2)
    return evs, pcrs

def replay(events, spec):
    """PCRs from the event list.  spec: the PC Client rules (EV_NO_ACTION
    never extended, PCR 0 from StartupLocality, 17-22 start at ff..);
    otherwise what tpm2-tools 5.4 does: extend everything from zero."""
    loc = 0
    for e in events:
        d = e["data"]
        if e["type_name"] == "EV_NO_ACTION" and e["pcr"] == 0 and \
           re.fullmatch(r"[0-9a-f]*", d) and d.startswith(b"StartupLocality\0".hex()):
            loc = bytes.fromhex(d)[16]
    pcrs = {}
    for e in events:
        if spec and e["type_name"] == "EV_NO_ACTION":
            continue
        if e["index"] == 0 and e["type_name"] == "EV_NO_ACTION" and len(events) and \
           e["data"].startswith(b"Spec ID Event03".hex()):
            continue
        for alg, dg in e["digests"].items():
            n = len(dg) // 2
            bank = pcrs.setdefault(alg, {})
            r = str(e["pcr"])
            if r not in bank:
                v = bytearray(b"\xff" * n if spec and 17 <= e["pcr"] <= 22 else b"\0" * n)
                if spec and e["pcr"] == 0:
                    v[-1] = loc
                bank[r] = bytes(v)
            bank[r] = H[alg](bank[r] + bytes.fromhex(dg)).digest()
    return {a: {r: v.hex() for r, v in b.items()} for a, b in pcrs.items()}

events_checked = differ = 0
for l in sys.argv[1:]:
    mj = json.load(open(l + ".json"))
    tev, tpcrs = tpm2_events(open(l + ".t2").read())
    mev = mj["events"]
    assert len(tev) == len(mev), (l, len(tev), len(mev))
    for a, b in zip(mev, tev):
        assert a["pcr"] == b["pcr"] and a["type_name"] == b["type"], (l, a["index"], a, b)
        if not (a["index"] == 0 and a["type_name"] == "EV_NO_ACTION"):
            assert a["digests"] == b["digests"], (l, a["index"])
        events_checked += 1
    # moat's PCRs are the spec's, recomputed here from the event list alone.
    assert mj["pcrs"] == replay(mev, True), l
    # Where tpm2_eventlog disagrees, it is its own rules that explain it,
    # and only in PCR 0 with a StartupLocality or in a PCR holding an
    # EV_NO_ACTION event.
    theirs = replay(mev, False)
    no_action = {str(e["pcr"]) for e in mev if e["type_name"] == "EV_NO_ACTION"}
    for alg in set(mj["pcrs"]) | set(tpcrs):
        m, t = mj["pcrs"].get(alg, {}), tpcrs.get(alg, {})
        for r in set(m) | set(t):
            if m.get(r) == t.get(r):
                continue
            assert t.get(r) == theirs.get(alg, {}).get(r), (l, alg, r)
            assert r in no_action or (r == "0" and mj.get("startup_locality")), (l, alg, r)
            differ += 1
print(f"{len(sys.argv) - 1} logs, {events_checked} events, {differ} PCR values explained")
EOF
	assert_output --regexp '^1[34] logs, [0-9]+ events, [0-9]+ PCR values explained$'
	echo "# $output" >&3
}

@test "attest eventlog: bad input exits 2 and names the byte offset" {
	head -c 100 "$CONF/${TT}event.bin" >cut.bin
	run -2 --separate-stderr "$MOAT" attest eventlog cut.bin
	stderr_as_output
	assert_output --regexp '^moat attest eventlog: cut.bin: offset 91: event 1: 20-byte digest runs past the end of the log \(100 bytes\)$'
	: >empty.bin
	run -2 --separate-stderr "$MOAT" attest eventlog empty.bin
	stderr_as_output
	assert_output --partial 'empty.bin: offset 0: empty event log'
	# An absurd event size in the first event of a SHA-1 log.
	printf '\0\0\0\0\4\0\0\0%020d\377\377\377\377abcd' 0 | tr 0 '\0' >size.bin
	run -2 --separate-stderr "$MOAT" attest eventlog size.bin
	stderr_as_output
	assert_output --partial 'size.bin: offset 28: event 0: event size 4294967295 runs past the end of the log (36 bytes)'
	refute_crash
}

@test "attest ima --replay: ibmtss's binary lists give the vTPM's PCR 10" {
	need_python
	for l in sha1.log sha256.log; do
		"$MOAT" attest ima "$CONF/kgoldman_ibmtss__utils__$l" --replay --format json >$l.json
	done
	run -0 python3 - "$CONF" <<'EOF'
import json, sys
want = json.load(open(sys.argv[1] + "/kgoldman_ibmtss__utils__sha1.log.expected_pcr10.json"))["pcrs"]
for l in ["sha1.log", "sha256.log"]:
    got = json.load(open(l + ".json"))
    assert len(got["entries"]) == 362, l
    assert got["pcrs"]["sha1"]["10"] == want["sha1"], l
    assert got["pcrs"]["sha256"]["10"] == want["sha256"], l
print(json.load(open("sha256.log.json"))["template_hash_alg"])
EOF
	assert_output sha256
}

@test "attest ima: the text listing is the ASCII list, and replays the same" {
	f=$CONF/kgoldman_ibmtss__utils__sha1.log
	"$MOAT" attest ima "$f" >ascii.txt
	run -0 head -1 ascii.txt
	assert_output --regexp '^10 [0-9a-f]{40} ima-sig sha256:[0-9a-f]{64} boot_aggregate $'
	run -0 --separate-stderr "$MOAT" attest ima ascii.txt --replay
	assert_equal "$stderr" ""
	assert_line 'sha1:10 9be6bac02bf18d09d17e726c2df00bca4e8831ea'
	assert_line 'sha256:10 7fac48c81837d6d29046008aef0cdad8c2745cc98c3340cbba9bfdf39b4124b8'
	# keylime's ASCII list: every rebuilt entry hashes to its logged hash.
	run -0 --separate-stderr "$MOAT" attest ima "$CONF/keylime_keylime__test__data__create-runtime-policy__ima-log-sha256" --replay
	assert_equal "$stderr" ""
	assert_line --index 1 --partial ' ima-ng sha256:96d7fae8adb7286a419a88f78c13d35fb782d63df654b7db56f154765698b754 /data'
}

@test "attest ima: bad input exits 2 with the offset or the line" {
	head -c 1000 "$CONF/kgoldman_ibmtss__utils__sha1.log" >cut.log
	run -2 --separate-stderr "$MOAT" attest ima cut.log
	stderr_as_output
	assert_output --regexp '^moat attest ima: cut.log: offset [0-9]+: entry [0-9]+: '
	printf '10 6309e2c83b7814367bb3912a55e5473454623535 ima-ng sha256:00 /a\n10 xyz ima-ng sha256:00 /b\n' >bad.txt
	run -2 --separate-stderr "$MOAT" attest ima bad.txt
	stderr_as_output
	assert_output --partial 'bad.txt:2: expected a 40-hex-digit template hash'
	refute_crash
}

@test "attest verify: keylime's tpm2_quote output, as moat evidence, verifies" {
	# The RSA AK's quote of sha256:15,16,22 with keylime's nonce; the PCR
	# values read from tpm2-tools' serialized PCR file.
	K=$CONF/keylime_keylime__test-data__files__
	python3 - "$K" <<'PY'
import base64, json, struct, sys
k = sys.argv[1]
raw = open(k + "quotepcr.out", "rb").read()
nsel = struct.unpack_from("<I", raw, 0)[0]
pcrs, lst, item = {}, 0, 0
for i in range(nsel):
    alg, size = struct.unpack_from("<HB", raw, 4 + 8 * i)
    mask = int.from_bytes(raw[4 + 8 * i + 3:4 + 8 * i + 6], "little")
    name = {4: "sha1", 11: "sha256"}[alg]
    for pcr in range(24):
        if mask >> pcr & 1:
            d = 136 + lst * (4 + 8 * 66) + 4 + item * 66
            n = struct.unpack_from("<H", raw, d)[0]
            pcrs.setdefault(name, {})[str(pcr)] = raw[d + 2:d + 2 + n].hex()
            item += 1
            if item == 8:
                lst, item = lst + 1, 0
b64 = lambda f: base64.b64encode(open(k + f, "rb").read()).decode()
json.dump({"moat_version": "0.1.0", "timestamp": "2026-12-03T00:00:00Z",
           "quote": {"attest": b64("quote.out"), "signature": b64("quotesig.out")},
           "pcrs": pcrs, "ak": {"public_pem": open(k + "akpub.pem").read(),
                                "name": open(k + "ak.name", "rb").read().hex()},
           "eventlog": None, "ima": None}, open("ev.json", "w"))
PY
	run "$MOAT" attest verify ev.json --ak "${K}akpub.pem" --nonce db1db298db6d60e6385b7231743e9c3056a18003
	# No event log came with it: a warning, not an affirmation.
	assert_failure 1
	assert_line --regexp '^signature +affirming '
	assert_line --regexp '^nonce +affirming '
	assert_line --regexp '^pcr-digest +affirming '
	assert_line --regexp '^eventlog +warning +no event log was sent'
	run "$MOAT" attest verify ev.json --ak "${K}akpub.pem" --nonce db1db298db6d60e6385b7231743e9c3056a18004
	assert_failure 1
	assert_line --regexp '^nonce +contraindicated '
}

@test "attest verify: go-attestation's Windows GCP bundle verifies, boot log replayed" {
	# A real shielded VM's SHA-1 quote of all 24 PCRs, made without a nonce,
	# and its SHA-1 event log; the AK is a bare TPMT_PUBLIC, written here as
	# PEM (DER by hand: python3 has no RSA module here).
	G=$CONF/google_go-attestation__attest__testdata__windows_gcp_shielded_vm.json
	python3 - "$G" <<'PY'
import base64, json, struct, sys
d = json.load(open(sys.argv[1]))
pub = base64.b64decode(d["AK"]["Public"])
typ, name_alg, attrs = struct.unpack_from(">HHI", pub, 0)
assert typ == 1, "an RSA AK"
off = 8 + 2 + struct.unpack_from(">H", pub, 8)[0]
sym = struct.unpack_from(">H", pub, off)[0]; off += 2 + (4 if sym != 0x10 else 0)
scheme = struct.unpack_from(">H", pub, off)[0]; off += 2 + (2 if scheme != 0x10 else 0)
bits, exp = struct.unpack_from(">HI", pub, off); off += 6
n = pub[off + 2:off + 2 + struct.unpack_from(">H", pub, off)[0]]
exp = exp or 65537
def der(tag, body):
    l = len(body)
    ln = bytes([l]) if l < 128 else bytes([0x80 | ((l.bit_length() + 7) // 8)]) + l.to_bytes((l.bit_length() + 7) // 8, "big")
    return bytes([tag]) + ln + body
def integer(v):
    b = v.to_bytes((v.bit_length() + 8) // 8, "big")
    return der(2, b)
rsa = der(0x30, integer(int.from_bytes(n, "big")) + integer(exp))
alg = der(0x30, der(6, bytes.fromhex("2a864886f70d010101")) + b"\x05\x00")
spki = der(0x30, alg + der(3, b"\x00" + rsa))
b64 = base64.b64encode(spki).decode()
pem = "-----BEGIN PUBLIC KEY-----\n" + "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64)) + "\n-----END PUBLIC KEY-----\n"
open("ak.pem", "w").write(pem)
pcrs = {str(p["Index"]): base64.b64decode(p["Digest"]).hex() for p in d["Log"]["PCRs"]}
json.dump({"moat_version": "0.1.0", "timestamp": "2026-12-03T00:00:00Z",
           "quote": {"attest": d["Quote"]["Quote"], "signature": d["Quote"]["Signature"]},
           "pcrs": {"sha1": pcrs}, "ak": {"public_pem": pem},
           "eventlog": d["Log"]["Raw"], "ima": None}, open("ev.json", "w"))
PY
	run "$MOAT" attest verify ev.json --ak ak.pem --no-nonce
	# Without a nonce nothing proves freshness: a warning at best.
	assert_failure 1
	assert_line --regexp '^signature +affirming +signed by the enrolled AK \(sha1\)'
	assert_line --regexp '^nonce +warning +no nonce was given'
	assert_line --regexp '^pcr-digest +affirming '
	assert_line --regexp '^eventlog +affirming +[0-9]+ events replay to the [0-9]+ quoted PCR values'
	assert_line "verdict: warning"
	run "$MOAT" attest verify ev.json --ak ak.pem --nonce 00
	assert_line --regexp '^nonce +contraindicated '
	run "$MOAT" attest verify ev.json --ak ak.pem
	assert_failure 2
}
