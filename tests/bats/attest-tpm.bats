#!/usr/bin/env bats
# moat-tpm, the node side of `moat attest`, against swtpm: enrolling an AK
# under the EK, quoting PCRs with a nonce, and cross-checks with tpm2-tools
# (tpm2_pcrread for the values, tpm2_checkquote for the quote).

load helper
load swtpm

setup_file() {
	# The prerequisites are checked again in setup, which skips with the reason.
	if command -v swtpm >/dev/null && command -v swtpm_setup >/dev/null &&
		[ -x "$MOAT_TPM" ]; then
		swtpm_start
	fi
}

teardown_file() {
	swtpm_stop
}

setup() {
	common_setup
	swtpm_need
	[ -n "${TPM_TCTI:-}" ] || skip "swtpm did not start in setup_file"
}

# No transient object or session is left in the TPM: swtpm has no resource
# manager, and a leak would fill its few slots.
refute_tpm_leaks() {
	tpm2_tools_need
	run tpm2_getcap handles-transient
	assert_success
	assert_output ''
	run tpm2_getcap handles-loaded-session
	assert_success
	assert_output ''
}

enroll() {
	run --separate-stderr "$MOAT_TPM" enroll --tpm "$TPM_TCTI" --force --ak-pub ak.pem "$@"
	assert_success
}

# pcrread_value BANK PCR: the value tpm2_pcrread prints, lower-case hex.
pcrread_value() {
	tpm2_pcrread "$1:$2" | sed -n 's/^ *[0-9]* *: *0x\([0-9A-Fa-f]*\)$/\1/p' | tr A-F a-f
}

# quote.json -> quote.bin, sig.bin, and pcrs.bin: the values of SPEC in the
# order tpm2_checkquote reads them (bank by bank, PCR ascending).
split_quote() {
	local spec=$1 bank pcrs p
	jq -r .quote.attest quote.json | base64 -d >quote.bin
	jq -r .quote.signature quote.json | base64 -d >sig.bin
	jq -r .ak.public_pem quote.json >ak-from-quote.pem
	: >pcrs.bin
	for bank in ${spec//+/ }; do
		pcrs=${bank#*:}
		for p in ${pcrs//,/ }; do
			jq -r ".pcrs.${bank%%:*}[\"$p\"]" quote.json | xxd -r -p >>pcrs.bin
		done
	done
}

@test "enroll ecc: EK and AK made, AK persisted, its PEM written 0644 and printed" {
	enroll --alg ecc
	echo "$output" >enroll.json
	run jq -r '.ak_handle, .alg' enroll.json
	assert_output $'0x81010002\necc'
	[ "$(stat -c %a ak.pem)" = 644 ]
	[ "$(jq -r .ak_public_pem enroll.json)" = "$(cat ak.pem)" ]
	run openssl pkey -pubin -in ak.pem -noout -text
	assert_success
	assert_output --partial 'NIST CURVE: P-256'
	# The name is the TPM's: tpm2_readpublic says the same.
	tpm2_tools_need
	tpm2_readpublic -c 0x81010002 -n name.bin >readpublic.txt
	[ "$(jq -r .ak_name enroll.json)" = "$(xxd -p -c 256 name.bin)" ]
	grep -q 'sign' readpublic.txt
	grep -q 'restricted' readpublic.txt
	refute_tpm_leaks
}

@test "enroll rsa: an RSA-2048 AK at another handle" {
	enroll --alg rsa --ak-handle 0x81010003
	[ "$(echo "$output" | jq -r .alg)" = rsa ]
	[ "$(echo "$output" | jq -r .ak_handle)" = 0x81010003 ]
	run openssl pkey -pubin -in ak.pem -noout -text
	assert_success
	assert_output --partial 'Public-Key: (2048 bit)'
	refute_tpm_leaks
}

@test "enroll: a handle in use is left alone without --force (exit 2)" {
	enroll --alg ecc
	cp ak.pem first.pem
	run --separate-stderr "$MOAT_TPM" enroll --tpm "$TPM_TCTI" --ak-pub second.pem
	assert_failure 2
	stderr_as_output
	assert_output --partial 'handle 0x81010002 in use'
	[ ! -e second.pem ]
	# The key there is still the first one.
	run --separate-stderr "$MOAT_TPM" quote --tpm "$TPM_TCTI" --nonce 01 --pcrs sha256:0
	assert_success
	[ "$(echo "$output" | jq -r .ak.public_pem)" = "$(cat first.pem)" ]
	# With --force it is replaced.
	enroll --alg ecc
	! cmp -s ak.pem first.pem
	refute_tpm_leaks
}

@test "quote: values equal tpm2_pcrread after an extend; tpm2_checkquote accepts it" {
	tpm2_tools_need
	enroll --alg ecc
	tpm2_pcrextend "16:sha256=$(printf moat | sha256sum | cut -c1-64),sha1=$(printf moat | sha1sum | cut -c1-40)"
	nonce=$(openssl rand -hex 32)
	spec=sha1:0,16+sha256:0,7,16
	run --separate-stderr "$MOAT_TPM" quote --tpm "$TPM_TCTI" --nonce "$nonce" --pcrs "$spec"
	assert_success
	echo "$output" >quote.json
	# Every value is what tpm2_pcrread reads, and PCR 16 moved.
	for b in sha1:0 sha1:16 sha256:0 sha256:7 sha256:16; do
		want=$(pcrread_value "${b%%:*}" "${b#*:}")
		[ -n "$want" ] || fail "tpm2_pcrread $b printed no value"
		got=$(jq -r ".pcrs.${b%%:*}[\"${b#*:}\"]" quote.json)
		[ "$got" = "$want" ] || fail "$b: moat-tpm $got, tpm2_pcrread $want"
	done
	[ "$(jq -r '.pcrs.sha256["16"]' quote.json)" != "$(printf '0%.0s' {1..64})" ]
	[ "$(jq -r '.ak.public_pem' quote.json)" = "$(cat ak.pem)" ]
	split_quote "$spec"
	run tpm2_checkquote -u ak.pem -m quote.bin -s sig.bin -g sha256 -q "$nonce" -f pcrs.bin -l "$spec"
	assert_success
	# Another nonce, or one PCR value changed, and it refuses.
	run tpm2_checkquote -u ak.pem -m quote.bin -s sig.bin -g sha256 -q "00$nonce" -f pcrs.bin -l "$spec"
	assert_failure
	printf '\x01' | dd of=pcrs.bin bs=1 seek=30 conv=notrunc status=none
	run tpm2_checkquote -u ak.pem -m quote.bin -s sig.bin -g sha256 -q "$nonce" -f pcrs.bin -l "$spec"
	assert_failure
	refute_tpm_leaks
}

@test "quote: every PCR of both banks (PCR_Read answers 8 at a time), RSA AK" {
	tpm2_tools_need
	enroll --alg rsa
	tpm2_pcrextend "23:sha256=$(printf x | sha256sum | cut -c1-64)"
	run --separate-stderr "$MOAT_TPM" quote --tpm "$TPM_TCTI" --nonce 0badcafe --pcrs sha1:all+sha256:all
	assert_success
	echo "$output" >quote.json
	[ "$(jq '.pcrs.sha1 | length' quote.json)" = 24 ]
	[ "$(jq '.pcrs.sha256 | length' quote.json)" = 24 ]
	for p in 0 9 17 23; do
		for b in sha1 sha256; do
			want=$(pcrread_value $b $p)
			[ -n "$want" ] && [ "$(jq -r ".pcrs.$b[\"$p\"]" quote.json)" = "$want" ] ||
				fail "$b PCR $p: tpm2_pcrread \"$want\""
		done
	done
	spec=sha1:$(seq -s, 0 23)+sha256:$(seq -s, 0 23)
	split_quote "$spec"
	# tpm2_checkquote 5.4 cannot read 8 or more PCR values without their
	# selection, so it checks the signature and nonce, and the pcrDigest
	# (the quote's last 32 bytes) is checked here.
	run tpm2_checkquote -u ak.pem -m quote.bin -s sig.bin -g sha256 -q 0badcafe
	assert_success
	[ "$(sha256sum <pcrs.bin | cut -c1-64)" = "$(tail -c 32 quote.bin | xxd -p -c 64)" ]
	refute_tpm_leaks
}

@test "quote: a bad nonce, PCR spec, handle or TCTI is a usage error (exit 2)" {
	for args in "--nonce xyz --pcrs sha256:0" "--nonce 0 --pcrs sha256:0" \
		"--nonce $(printf 'ab%.0s' {1..65}) --pcrs sha256:0" "--nonce 00 --pcrs sha256:24" \
		"--nonce 00 --pcrs md5:1" "--nonce 00 --pcrs sha256" "--nonce 00" \
		"--nonce 00 --pcrs sha256:0 --ak-handle 0x1234"; do
		# shellcheck disable=SC2086
		run --separate-stderr "$MOAT_TPM" quote --tpm "$TPM_TCTI" $args
		[ "$status" = 2 ] || fail "$args: exit $status, stderr: $stderr"
		[[ $stderr == moat-tpm:* ]] || fail "$args: no message"
	done
	run --separate-stderr "$MOAT_TPM" quote --tpm "$TPM_TCTI" --nonce 00 --pcrs sha256:1-99
	assert_failure 2
	stderr_as_output
	assert_output --partial '"1-99": PCR 99 is out of range (0-23)'
	run --separate-stderr "$MOAT_TPM" quote --tpm "swtpm:host=127.0.0.1,port=99999" --nonce 00 --pcrs sha256:0
	assert_failure 2
	run --separate-stderr "$MOAT_TPM" quote --tpm "nosuch:x" --nonce 00 --pcrs sha256:0
	assert_failure 2
	stderr_as_output
	assert_output --partial 'unknown TCTI "nosuch"'
}

@test "quote: an unreachable TPM is a system failure with a message (exit 3)" {
	port=$(swtpm_free_port)
	run --separate-stderr "$MOAT_TPM" quote --tpm "swtpm:host=127.0.0.1,port=$port" --nonce 00 --pcrs sha256:0
	assert_failure 3
	stderr_as_output
	assert_output --partial "cannot reach the TPM at \"swtpm:host=127.0.0.1,port=$port\""
	refute_crash
}

@test "quote: no AK at the handle (exit 3, saying so)" {
	run --separate-stderr "$MOAT_TPM" quote --tpm "$TPM_TCTI" --ak-handle 0x81017777 --nonce 00 --pcrs sha256:0
	assert_failure 3
	stderr_as_output
	assert_output --partial 'no AK at 0x81017777'
}

@test "moat-tpm --help; unknown command and option are usage errors" {
	run "$MOAT_TPM" --help
	assert_success
	assert_output --partial 'moat-tpm enroll'
	run "$MOAT_TPM" frobnicate
	assert_failure 2
	run "$MOAT_TPM" quote --frob
	assert_failure 2
	run "$MOAT_TPM" enroll --tpm "$TPM_TCTI"
	assert_failure 2
	assert_output --partial 'needs --ak-pub'
}
