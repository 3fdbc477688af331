# swtpm for the tests that need a TPM: `load swtpm`, then
#   setup_file()    { swtpm_need; swtpm_start; }   (or per test, in setup)
#   teardown_file() { swtpm_stop; }
# swtpm_start exports TPM_TCTI="swtpm:host=127.0.0.1,port=P" for moat-tpm
# and TPM2TOOLS_TCTI for tpm2-tools.  The TPM has sha1 and sha256 banks,
# and is started (TPM2_Startup(CLEAR)) by swtpm itself.

: "${MOAT_TPM:=$(dirname "$MOAT")/moat-tpm}"
[[ $MOAT_TPM == /* ]] || MOAT_TPM=$PWD/$MOAT_TPM

# Skips, saying why, when swtpm or moat-tpm is missing.
swtpm_need() {
	command -v swtpm >/dev/null || skip "swtpm is not installed (apt-get install swtpm)"
	command -v swtpm_setup >/dev/null ||
		skip "swtpm_setup is not installed (apt-get install swtpm-tools)"
	[ -x "$MOAT_TPM" ] || skip "moat-tpm is not built at $MOAT_TPM (needs libtss2-dev)"
}

# Skips unless tpm2-tools is there: tests use it to extend PCRs and to
# check moat-tpm's answers.
tpm2_tools_need() {
	command -v tpm2_pcrextend >/dev/null ||
		skip "tpm2-tools is not installed (apt-get install tpm2-tools)"
}

# A port P with P and P+1 free on 127.0.0.1.
swtpm_free_port() {
	local p i
	for i in $(seq 1 50); do
		# Below the ephemeral range (32768 up): a port a client
		# connection holds in TIME_WAIT answers nothing but cannot be bound.
		p=$((20000 + (RANDOM % 6000) * 2))
		if ! (: </dev/tcp/127.0.0.1/$p) 2>/dev/null &&
			! (: </dev/tcp/127.0.0.1/$((p + 1))) 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

swtpm_start() {
	local state log i
	state=$(mktemp -d "${BATS_FILE_TMPDIR:-${TMPDIR:-/tmp}}/swtpm.XXXXXX")
	SWTPM_STATE=$state
	log=$state/setup.log
	swtpm_setup --tpm2 --tpmstate "$state" --pcr-banks sha1,sha256 >"$log" 2>&1 ||
		{ cat "$log" >&2; fail "swtpm_setup failed"; }
	for i in 1 2 3; do
		SWTPM_PORT=$(swtpm_free_port) || fail "no free port for swtpm"
		swtpm socket --tpm2 \
			--server type=tcp,port="$SWTPM_PORT",bindaddr=127.0.0.1 \
			--ctrl type=tcp,port=$((SWTPM_PORT + 1)),bindaddr=127.0.0.1 \
			--flags not-need-init,startup-clear \
			--tpmstate dir="$state" --log file="$state/swtpm.log" \
			--pid file="$state/swtpm.pid" 3>&- &
		SWTPM_PID=$!
		# Up once it answers on its port; a port taken meanwhile kills it.
		for _ in $(seq 1 100); do
			if (: </dev/tcp/127.0.0.1/$SWTPM_PORT) 2>/dev/null; then
				export SWTPM_PID SWTPM_PORT SWTPM_STATE
				export TPM_TCTI="swtpm:host=127.0.0.1,port=$SWTPM_PORT"
				export TPM2TOOLS_TCTI=$TPM_TCTI
				return 0
			fi
			kill -0 "$SWTPM_PID" 2>/dev/null || break
			sleep 0.05
		done
		kill "$SWTPM_PID" 2>/dev/null || true
		wait "$SWTPM_PID" 2>/dev/null || true
	done
	cat "$state/swtpm.log" >&2 2>/dev/null
	fail "swtpm did not start"
}

swtpm_stop() {
	if [ -n "${SWTPM_PID:-}" ]; then
		kill "$SWTPM_PID" 2>/dev/null || true
		wait "$SWTPM_PID" 2>/dev/null || true
		SWTPM_PID=
	fi
	[ -z "${SWTPM_STATE:-}" ] || rm -rf "$SWTPM_STATE"
	SWTPM_STATE=
	unset TPM_TCTI TPM2TOOLS_TCTI
}
