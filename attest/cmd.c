/* SPDX-License-Identifier: Apache-2.0 */
/* `moat attest`: options in, library calls, exit codes out. */
#include "attest.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

extern char **environ;

#define LIVE_EVENTLOG "/sys/kernel/security/tpm0/binary_bios_measurements"
#define LIVE_IMA "/sys/kernel/security/ima/binary_runtime_measurements"
#define DEFAULT_AK_HANDLE "0x81010002"
#define DEFAULT_PCRS "sha256:0-10"
#define MAX_NONCE 64 /* TPM2B_DATA in a quote: at most a SHA-512 */

static const char attest_usage[] =
	"Usage: moat attest <subcommand> [options]\n"
	"\n"
	"TPM 2.0 remote attestation: the node enrolls an attestation key and quotes\n"
	"its PCRs; the verifier replays the event log and IMA list against the quote\n"
	"and appraises them against reference values.\n"
	"\n"
	"Node side (needs a TPM):\n"
	"  enroll    create the EK and an AK, persist the AK, export its public key\n"
	"  quote     quote PCRs with a nonce, and write evidence with the logs\n"
	"Verifier side (needs no TPM):\n"
	"  verify    appraise evidence: affirming, warning or contraindicated\n"
	"  refs      build reference values from known-good evidence\n"
	"  eventlog  list a TCG event log's events, replay it into PCR values\n"
	"  ima       list an IMA measurement list, replay it into PCR 10\n"
	"\n"
	"Run 'moat attest <subcommand> --help' for its options; see moat-attest(1).\n";

static const char enroll_usage[] =
	"Usage: moat attest enroll --ak-pub FILE [--tpm TCTI] [--ak-handle HANDLE]\n"
	"                          [--alg ecc|rsa] [--force] [--format text|json]\n"
	"\n"
	"Create the endorsement key and an attestation key under it (ECC P-256 with\n"
	"ECDSA-SHA256, or RSA-2048 with RSASSA-SHA256), make the AK persistent at\n"
	"HANDLE, and write its public key as PEM to FILE: the verifier's --ak.\n"
	"\n"
	"  -t, --tpm TCTI        device:/dev/tpmrm0 (default; $TPM2TOOLS_TCTI if set),\n"
	"                        swtpm:host=127.0.0.1,port=2321, mssim:...\n"
	"  -H, --ak-handle H     persistent handle (default " DEFAULT_AK_HANDLE ")\n"
	"  -a, --alg ALG         ecc (default) or rsa\n"
	"  -p, --ak-pub FILE     where the AK's public key goes (PEM)\n"
	"      --force           replace a key already at HANDLE\n"
	"  -f, --format FORMAT   text or json\n"
	"\n"
	"Exit status: 0 enrolled, 2 bad usage or handle in use, 3 TPM or system error.\n";

static const char quote_usage[] =
	"Usage: moat attest quote --nonce HEX [--tpm TCTI] [--ak-handle HANDLE]\n"
	"                         [--pcrs SPEC] [--eventlog FILE | --no-eventlog]\n"
	"                         [--ima FILE | --no-ima] [-o evidence.json]\n"
	"\n"
	"Quote PCRs with the AK and the verifier's nonce, and write evidence: the\n"
	"quote, its signature, the PCR values, the event log and IMA list, the AK.\n"
	"\n"
	"  -t, --tpm TCTI        as for enroll\n"
	"  -H, --ak-handle H     the AK (default " DEFAULT_AK_HANDLE ")\n"
	"  -n, --nonce HEX       the verifier's challenge, 1 to 64 bytes\n"
	"  -l, --pcrs SPEC       PCRs to quote, as tpm2-tools writes them\n"
	"                        (default " DEFAULT_PCRS "; e.g. sha1:0-10+sha256:0-10)\n"
	"  -e, --eventlog FILE   boot event log (default " LIVE_EVENTLOG ",\n"
	"                        left out when absent)\n"
	"  -i, --ima FILE        IMA list (default " LIVE_IMA ",\n"
	"                        left out when absent)\n"
	"      --no-eventlog, --no-ima   send neither\n"
	"  -o, --output FILE     write the evidence here (default: standard output)\n"
	"\n"
	"Exit status: 0 written, 2 bad usage or input, 3 TPM or system error.\n";

static const char verify_usage[] =
	"Usage: moat attest verify EVIDENCE --ak ak.pem --nonce HEX|--no-nonce\n"
	"                          [--refs refs.yaml] [--format text|json]\n"
	"\n"
	"Appraise evidence: the quote's signature with the enrolled AK, its nonce,\n"
	"the PCR values against the signed digest, the event log and IMA list\n"
	"replayed against the quoted PCRs, and with --refs the events, boot\n"
	"components and files against reference values.  The verdict is an\n"
	"attestation result in the style of the IETF EAR draft.\n"
	"\n"
	"  -k, --ak FILE         the AK's public key from enroll (PEM)\n"
	"  -n, --nonce HEX       the nonce the quote must carry\n"
	"      --no-nonce        check a quote made without one (archived evidence):\n"
	"                        nothing shows it is fresh, so at best a warning\n"
	"  -r, --refs FILE       reference values (see moat-attest(1))\n"
	"  -f, --format FORMAT   text or json (EAR)\n"
	"\n"
	"Exit status: 0 affirming, 1 warning or contraindicated, 2 bad input.\n";

static const char eventlog_usage[] =
	"Usage: moat attest eventlog FILE [--replay] [--format text|json|yaml]\n"
	"\n"
	"List the events of a TCG PC Client event log (SHA-1 or crypto-agile), and\n"
	"with --replay the PCR values it gives, by the PC Client rules: PCR 0\n"
	"starts at the StartupLocality, PCRs 17-22 at ff.., EV_NO_ACTION is never\n"
	"extended.  FILE - reads standard input.\n"
	"\n"
	"  -r, --replay          print the replayed PCRs\n"
	"  -f, --format FORMAT   text, json or yaml (yaml as tpm2_eventlog prints it)\n"
	"\n"
	"Exit status: 0 parsed, 2 bad input (the message gives the byte offset).\n";

static const char ima_usage[] =
	"Usage: moat attest ima FILE [--replay] [--format text|json]\n"
	"\n"
	"List an IMA measurement list (binary_runtime_measurements or the ASCII\n"
	"form), and with --replay the PCR 10 values it gives in the sha1 and\n"
	"sha256 banks (violations extend ff..).  FILE - reads standard input.\n"
	"\n"
	"  -r, --replay          print the replayed PCR 10\n"
	"  -f, --format FORMAT   text or json\n"
	"\n"
	"Exit status: 0 parsed, 2 bad input (the message gives the offset or line).\n";

static const char refs_usage[] =
	"Usage: moat attest refs EVIDENCE... [-o refs.yaml]\n"
	"\n"
	"Build reference values from evidence of known-good nodes: the quoted PCR\n"
	"values (but PCR 10), every boot event's digest by PCR and type, the EFI\n"
	"applications started, and an IMA allow-list.  Verify the evidence first;\n"
	"review the result before use.\n"
	"\n"
	"  -o, --output FILE     write here (default: standard output)\n"
	"\n"
	"Exit status: 0 written, 2 bad input, 3 system error.\n";

static int fail(const char *sub, const struct moat_error *err)
{
	fprintf(stderr, "moat attest %s: %s\n", sub, err->msg);
	return moat_error_exit_code(err);
}

static int parse_format(const char *sub, const char *s, bool yaml_ok, enum attest_format *fmt)
{
	if (strcmp(s, "text") == 0)
		*fmt = ATTEST_FMT_TEXT;
	else if (strcmp(s, "json") == 0)
		*fmt = ATTEST_FMT_JSON;
	else if (yaml_ok && strcmp(s, "yaml") == 0)
		*fmt = ATTEST_FMT_YAML;
	else
		return moat_usage_error(sub, "--format: '%s' is not text, json%s", s,
					yaml_ok ? " or yaml" : "");
	return 0;
}

/* A nonce as hex: checked here so a typo never reaches the TPM. */
static int parse_nonce(const char *sub, const char *hex, uint8_t *out, size_t *len)
{
	size_t n = strlen(hex);
	if (n == 0 || n % 2 || n / 2 > MAX_NONCE || hex_decode(hex, n, out) < 0)
		return moat_usage_error(sub, "--nonce: '%s' is not 1 to %d bytes of hex", hex,
					MAX_NONCE);
	*len = n / 2;
	return 0;
}

static int parse_handle(const char *sub, const char *s)
{
	char *end;
	errno = 0;
	unsigned long h = strtoul(s, &end, 16);
	if (errno || *end || end == s || h < 0x81000000ul || h > 0x81ffffffUL)
		return moat_usage_error(sub, "--ak-handle: '%s' is not a persistent handle "
					"(0x81000000 to 0x81ffffff)", s);
	return 0;
}

static const char *default_tcti(void)
{
	const char *env = getenv("TPM2TOOLS_TCTI");
	return env && *env ? env : "device:/dev/tpmrm0";
}

/* ---- moat-tpm --------------------------------------------------------------- */

/*
 * moat is static; tpm2-tss exists on Debian only as shared objects, so the
 * TPM calls live in moat-tpm.  It is looked for where it was built or
 * installed beside moat, never on $PATH: a planted binary there would see
 * every nonce and could forge nothing, but it could lie about failures.
 */
static char *find_helper(void)
{
	const char *env = getenv("MOAT_TPM_HELPER");
	if (env && *env)
		return xstrdup(env);
	char self[PATH_MAX];
	if (self_dir(self, sizeof(self))) {
		char *p = xasprintf("%s/moat-tpm", self);
		if (access(p, X_OK) == 0)
			return p;
		free(p);
		p = xasprintf("%s/../libexec/moat/moat-tpm", self);
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

/* Runs moat-tpm with argv, its stdout into *out (bounded); its stderr is
 * the user's.  Returns its exit code, or 3 with a message. */
static int run_helper(const char *sub, char **argv, char **out, size_t *out_len)
{
	_cleanup_free_ char *helper = find_helper();
	*out = NULL;
	*out_len = 0;
	if (!helper) {
		fprintf(stderr, "moat attest %s: moat-tpm, moat's TPM helper, is not installed "
				"beside moat (it is built when libtss2-dev is present; or set "
				"MOAT_TPM_HELPER)\n", sub);
		return MOAT_EXIT_SYSTEM;
	}
	argv[0] = helper;
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		fprintf(stderr, "moat attest %s: pipe: %s\n", sub, strerror(errno));
		return MOAT_EXIT_SYSTEM;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
	pid_t pid;
	int rc = posix_spawn(&pid, helper, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (rc != 0) {
		close(pipefd[0]);
		fprintf(stderr, "moat attest %s: running %s: %s\n", sub, helper, strerror(rc));
		return MOAT_EXIT_SYSTEM;
	}
	struct moat_error err;
	int rr = read_fd(pipefd[0], "moat-tpm", 1u << 20, out, out_len, &err);
	close(pipefd[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rr < 0) {
		fprintf(stderr, "moat attest %s: %s\n", sub, err.msg);
		return MOAT_EXIT_SYSTEM;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	fprintf(stderr, "moat attest %s: moat-tpm died of signal %d\n", sub, WTERMSIG(status));
	return MOAT_EXIT_SYSTEM;
}

/* Writes via a temporary file and rename, so a failure leaves no half file.
 * fn returns -1 for an I/O error, -2 for one it reports itself (nothing is
 * printed here, and the caller says what went wrong). */
static int write_atomically(const char *sub, const char *path,
			    int (*fn)(FILE *out, void *ctx), void *ctx)
{
	if (!path || strcmp(path, "-") == 0) {
		int r = fn(stdout, ctx);
		return r == -2 ? MOAT_EXIT_INPUT : r < 0 ? MOAT_EXIT_SYSTEM : 0;
	}
	_cleanup_free_ char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "moat attest %s: %s: %s\n", sub, tmp, strerror(errno));
		return MOAT_EXIT_SYSTEM;
	}
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
		return MOAT_EXIT_SYSTEM;
	}
	int r = fn(f, ctx);
	if (fflush(f) == EOF || ferror(f) || fsync(fd) < 0)
		r = -1;
	if (fclose(f) == EOF)
		r = -1;
	if (r == -2) {
		unlink(tmp);
		return MOAT_EXIT_INPUT;
	}
	if (r < 0 || rename(tmp, path) < 0) {
		fprintf(stderr, "moat attest %s: writing %s: %s\n", sub, path, strerror(errno));
		unlink(tmp);
		return MOAT_EXIT_SYSTEM;
	}
	return 0;
}

/* ---- enroll ------------------------------------------------------------------ */

static int cmd_enroll(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tpm", required_argument, NULL, 't' },
		{ "ak-handle", required_argument, NULL, 'H' },
		{ "alg", required_argument, NULL, 'a' },
		{ "ak-pub", required_argument, NULL, 'p' },
		{ "force", no_argument, NULL, 'F' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *tcti = default_tcti(), *handle = DEFAULT_AK_HANDLE, *alg = "ecc", *pub = NULL;
	bool force = false;
	enum attest_format fmt = ATTEST_FMT_TEXT;
	int c;
	while ((c = getopt_long(argc, argv, "+t:H:a:p:f:h", opts, NULL)) != -1) {
		switch (c) {
		case 't': tcti = optarg; break;
		case 'H': handle = optarg; break;
		case 'a': alg = optarg; break;
		case 'p': pub = optarg; break;
		case 'F': force = true; break;
		case 'f':
			if (parse_format("attest enroll", optarg, false, &fmt))
				return MOAT_EXIT_INPUT;
			break;
		case 'h': fputs(enroll_usage, stdout); return 0;
		default: return moat_usage_error("attest enroll", "unknown option");
		}
	}
	if (optind < argc)
		return moat_usage_error("attest enroll", "unexpected argument '%s'", argv[optind]);
	if (!pub)
		return moat_usage_error("attest enroll", "--ak-pub FILE is required: where the "
					"AK's public key goes");
	if (strcmp(alg, "ecc") && strcmp(alg, "rsa"))
		return moat_usage_error("attest enroll", "--alg: '%s' is not ecc or rsa", alg);
	if (parse_handle("attest enroll", handle))
		return MOAT_EXIT_INPUT;
	char *hargv[] = { NULL, "enroll", "--tpm", (char *)tcti, "--ak-handle", (char *)handle,
			  "--alg", (char *)alg, "--ak-pub", (char *)pub, force ? "--force" : NULL,
			  NULL };
	_cleanup_free_ char *out = NULL;
	size_t len;
	int rc = run_helper("enroll", hargv, &out, &len);
	if (rc != 0)
		return rc;
	if (fmt == ATTEST_FMT_JSON) {
		fwrite(out, 1, len, stdout);
		return 0;
	}
	struct arena *a = arena_new();
	struct ynode *root;
	struct moat_error err;
	if (json_parse_tree(out, len, "moat-tpm", a, &root, &err) < 0) {
		arena_free(a);
		fprintf(stderr, "moat attest enroll: %s\n", err.msg);
		return MOAT_EXIT_SYSTEM;
	}
	const struct ynode *name = ymap_get(root, "ak_name");
	printf("enrolled an %s AK at %s, name %s; its public key is in %s\n",
	       strcmp(alg, "ecc") == 0 ? "ECC P-256" : "RSA-2048", handle,
	       name && name->type == YNODE_SCALAR ? name->str : "?", pub);
	arena_free(a);
	return 0;
}

/* ---- quote ------------------------------------------------------------------- */

/* A log file: the named one must exist; the live default may be absent. */
static int read_log(const char *what, const char *path, bool is_default, uint8_t **data,
		    size_t *len)
{
	struct moat_error err;
	char *buf = NULL;
	if (is_default && access(path, F_OK) < 0) {
		fprintf(stderr, "moat attest quote: no %s at %s: left out of the evidence\n", what,
			path);
		return 0;
	}
	if (read_file(path, MOAT_MAX_INPUT, &buf, len, &err) < 0) {
		fail("quote", &err);
		return MOAT_EXIT_INPUT;
	}
	*data = (uint8_t *)buf;
	return 0;
}

static int write_evidence(FILE *out, void *ctx)
{
	return attest_evidence_write(out, ctx);
}

static int cmd_quote(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tpm", required_argument, NULL, 't' },
		{ "ak-handle", required_argument, NULL, 'H' },
		{ "nonce", required_argument, NULL, 'n' },
		{ "pcrs", required_argument, NULL, 'l' },
		{ "eventlog", required_argument, NULL, 'e' },
		{ "ima", required_argument, NULL, 'i' },
		{ "no-eventlog", no_argument, NULL, 'E' },
		{ "no-ima", no_argument, NULL, 'I' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *tcti = default_tcti(), *handle = DEFAULT_AK_HANDLE, *nonce = NULL;
	const char *pcrs = DEFAULT_PCRS, *eventlog = LIVE_EVENTLOG, *ima = LIVE_IMA, *output = NULL;
	bool eventlog_default = true, ima_default = true;
	int c;
	while ((c = getopt_long(argc, argv, "+t:H:n:l:e:i:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 't': tcti = optarg; break;
		case 'H': handle = optarg; break;
		case 'n': nonce = optarg; break;
		case 'l': pcrs = optarg; break;
		case 'e': eventlog = optarg; eventlog_default = false; break;
		case 'i': ima = optarg; ima_default = false; break;
		case 'E': eventlog = NULL; break;
		case 'I': ima = NULL; break;
		case 'o': output = optarg; break;
		case 'h': fputs(quote_usage, stdout); return 0;
		default: return moat_usage_error("attest quote", "unknown option");
		}
	}
	if (optind < argc)
		return moat_usage_error("attest quote", "unexpected argument '%s'", argv[optind]);
	if (!nonce)
		return moat_usage_error("attest quote", "--nonce HEX is required: the verifier's "
					"challenge");
	uint8_t nbytes[MAX_NONCE];
	size_t nlen;
	if (parse_nonce("attest quote", nonce, nbytes, &nlen) || parse_handle("attest quote", handle))
		return MOAT_EXIT_INPUT;
	struct attest_pcr_select sel[ATTEST_MAX_BANKS];
	uint32_t nsel;
	struct moat_error err;
	if (attest_pcr_spec_parse(pcrs, sel, &nsel, &err) < 0)
		return moat_usage_error("attest quote", "--pcrs: %s", err.msg);

	/* The logs are read before the TPM is asked: a bad path costs no quote. */
	struct attest_evidence ev = { 0 };
	int rc = 0;
	if (eventlog)
		rc = read_log("event log", eventlog, eventlog_default, &ev.eventlog, &ev.eventlog_len);
	if (!rc && ima)
		rc = read_log("IMA list", ima, ima_default, &ev.ima, &ev.ima_len);
	if (rc) {
		attest_evidence_free(&ev);
		return rc;
	}
	char *hargv[] = { NULL, "quote", "--tpm", (char *)tcti, "--ak-handle", (char *)handle,
			  "--nonce", (char *)nonce, "--pcrs", (char *)pcrs, NULL };
	_cleanup_free_ char *out = NULL;
	size_t len;
	rc = run_helper("quote", hargv, &out, &len);
	if (rc != 0) {
		attest_evidence_free(&ev);
		return rc;
	}
	struct attest_evidence q;
	if (attest_evidence_parse_quote(out, len, "moat-tpm output", &q, &err) < 0) {
		attest_evidence_free(&ev);
		fprintf(stderr, "moat attest quote: %s\n", err.msg);
		return MOAT_EXIT_SYSTEM;
	}
	/* The TPM's part, then the node's. */
	q.eventlog = steal_ptr(&ev.eventlog);
	q.eventlog_len = ev.eventlog_len;
	q.ima = steal_ptr(&ev.ima);
	q.ima_len = ev.ima_len;
	free(q.moat_version);
	q.moat_version = xstrdup(MOAT_VERSION);
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	free(q.timestamp);
	q.timestamp = xstrdup(stamp);
	rc = write_atomically("quote", output, write_evidence, &q);
	attest_evidence_free(&q);
	attest_evidence_free(&ev);
	return rc;
}

/* ---- verify ------------------------------------------------------------------ */

static int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ak", required_argument, NULL, 'k' },
		{ "nonce", required_argument, NULL, 'n' },
		{ "no-nonce", no_argument, NULL, 'N' },
		{ "refs", required_argument, NULL, 'r' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *ak_path = NULL, *nonce = NULL, *refs_path = NULL;
	bool no_nonce = false;
	enum attest_format fmt = ATTEST_FMT_TEXT;
	int c;
	while ((c = getopt_long(argc, argv, "k:n:r:f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'k': ak_path = optarg; break;
		case 'n': nonce = optarg; break;
		case 'N': no_nonce = true; break;
		case 'r': refs_path = optarg; break;
		case 'f':
			if (parse_format("attest verify", optarg, false, &fmt))
				return MOAT_EXIT_INPUT;
			break;
		case 'h': fputs(verify_usage, stdout); return 0;
		default: return moat_usage_error("attest verify", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return moat_usage_error("attest verify", "expected one evidence file");
	if (!ak_path)
		return moat_usage_error("attest verify", "--ak FILE is required: the AK's public "
					"key from 'moat attest enroll'");
	if (!nonce == !no_nonce)
		return moat_usage_error("attest verify", "--nonce HEX is required: the challenge "
					"the quote must answer (or --no-nonce, not both)");
	struct attest_verify_opts o = { 0 };
	uint8_t nbytes[MAX_NONCE];
	if (nonce && parse_nonce("attest verify", nonce, nbytes, &o.nonce_len))
		return MOAT_EXIT_INPUT;
	o.nonce = nonce ? nbytes : NULL;

	/* OpenSSL starts without reading the system's openssl.cnf, loading its
	 * error strings or building the legacy cipher and digest name tables:
	 * the verifier needs only the default provider's hashes and signatures
	 * and writes its own messages, and those three were two thirds of
	 * verifying a boot log (OpenSSL folds every legacy name into its name
	 * map on the first fetch). */
	OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS |
				    OPENSSL_INIT_NO_ADD_ALL_CIPHERS | OPENSSL_INIT_NO_ADD_ALL_DIGESTS,
			    NULL);
	struct moat_error err;
	struct attest_evidence ev;
	struct attest_refs *refs = NULL;
	EVP_PKEY *ak = NULL;
	_cleanup_free_ char *ak_pem = NULL;
	size_t ak_len;
	if (read_file(ak_path, 64u << 10, &ak_pem, &ak_len, &err) < 0 ||
	    attest_pem_parse(ak_pem, ak_len, ak_path, (struct evp_pkey_st **)&ak, &err) < 0) {
		fail("verify", &err);
		return MOAT_EXIT_INPUT;
	}
	if (refs_path && attest_refs_load(refs_path, &refs, &err) < 0) {
		EVP_PKEY_free(ak);
		return fail("verify", &err);
	}
	if (attest_evidence_load(argv[optind], &ev, &err) < 0) {
		EVP_PKEY_free(ak);
		attest_refs_free(refs);
		return fail("verify", &err);
	}
	o.ak = (struct evp_pkey_st *)ak;
	o.ak_pem = ak_pem;
	o.refs = refs;
	struct attest_result res;
	int rc = attest_verify(&ev, &o, &res, &err);
	if (rc < 0) {
		rc = fail("verify", &err);
	} else {
		attest_result_print(stdout, &res, fmt);
		rc = res.status == ATTEST_AFFIRMING ? MOAT_EXIT_OK : MOAT_EXIT_FINDINGS;
		attest_result_free(&res);
	}
	attest_evidence_free(&ev);
	attest_refs_free(refs);
	EVP_PKEY_free(ak);
	return rc;
}

/* ---- eventlog, ima ------------------------------------------------------------ */

static int parse_list_opts(const char *sub, const char *usage, bool yaml_ok, int argc,
			   char **argv, bool *replay, enum attest_format *fmt)
{
	static const struct option opts[] = {
		{ "replay", no_argument, NULL, 'r' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "rf:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': *replay = true; break;
		case 'f':
			if (parse_format(sub, optarg, yaml_ok, fmt))
				return MOAT_EXIT_INPUT;
			break;
		case 'h': fputs(usage, stdout); return -1;
		default: return moat_usage_error(sub, "unknown option");
		}
	}
	if (optind + 1 != argc)
		return moat_usage_error(sub, "expected one file");
	return 0;
}

/* The options of eventlog and ima, and their one input read whole.
 * Returns -1 after --help, an exit code on error, 0 with *buf set. */
static int list_input(const char *sub, const char *usage, bool yaml_ok, int argc, char **argv,
		      bool *replay, enum attest_format *fmt, char **buf, size_t *len)
{
	int rc = parse_list_opts(sub, usage, yaml_ok, argc, argv, replay, fmt);
	if (rc)
		return rc;
	struct moat_error err;
	if (read_file(argv[optind], MOAT_MAX_INPUT, buf, len, &err) < 0)
		return fail(sub + strlen("attest "), &err);
	return 0;
}

static int cmd_eventlog(int argc, char **argv)
{
	bool replay = false;
	enum attest_format fmt = ATTEST_FMT_TEXT;
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int rc = list_input("attest eventlog", eventlog_usage, true, argc, argv, &replay, &fmt,
			    &buf, &len);
	if (rc)
		return rc < 0 ? 0 : rc;
	struct moat_error err;
	const char *path = argv[optind];
	struct attest_eventlog log;
	if (attest_eventlog_parse((uint8_t *)buf, len, path, &log, &err) < 0)
		return fail("eventlog", &err);
	rc = attest_eventlog_print(stdout, &log, replay, fmt) < 0 ? MOAT_EXIT_SYSTEM : 0;
	attest_eventlog_free(&log);
	return rc;
}

static int cmd_ima(int argc, char **argv)
{
	bool replay = false;
	enum attest_format fmt = ATTEST_FMT_TEXT;
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int rc = list_input("attest ima", ima_usage, false, argc, argv, &replay, &fmt, &buf, &len);
	if (rc)
		return rc < 0 ? 0 : rc;
	struct moat_error err;
	const char *path = argv[optind];
	struct attest_ima_list list;
	if (attest_ima_parse((uint8_t *)buf, len, path, &list, &err) < 0)
		return fail("ima", &err);
	struct attest_pcrs pcrs = { 0 };
	if (replay) {
		attest_pcrs_add_bank(&pcrs, TPM_ALG_SHA1);
		attest_pcrs_add_bank(&pcrs, TPM_ALG_SHA256);
		long bad = attest_ima_replay(&list, &pcrs);
		if (bad >= 0) {
			const struct attest_ima_entry *e = &list.entries[bad];
			fprintf(stderr, "moat attest ima: %s: %s %zu: entry %ld: the template hash is "
				"not the SHA-1 of the template data\n", path,
				e->line ? "line" : "offset", e->line ? (size_t)e->line : e->offset, bad);
		}
	}
	rc = attest_ima_print(stdout, &list, replay, replay ? &pcrs : NULL, fmt) < 0
		     ? MOAT_EXIT_SYSTEM : 0;
	attest_ima_free(&list);
	return rc;
}

/* ---- refs ---------------------------------------------------------------------- */

struct refs_job {
	struct attest_evidence **ev;
	size_t n;
	struct moat_error err;
	bool failed;
};

static int write_refs(FILE *out, void *ctx)
{
	struct refs_job *j = ctx;
	if (attest_refs_generate(out, j->ev, j->n, &j->err) < 0) {
		j->failed = true;
		return moat_error_exit_code(&j->err) == MOAT_EXIT_SYSTEM ? -1 : -2;
	}
	return 0;
}

static int cmd_refs(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *output = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': output = optarg; break;
		case 'h': fputs(refs_usage, stdout); return 0;
		default: return moat_usage_error("attest refs", "unknown option");
		}
	}
	if (optind >= argc)
		return moat_usage_error("attest refs", "expected evidence files");
	struct refs_job j = { .n = (size_t)(argc - optind) };
	j.ev = xcalloc(j.n, sizeof(*j.ev));
	int rc = 0;
	for (size_t i = 0; i < j.n && !rc; i++) {
		j.ev[i] = xcalloc(1, sizeof(**j.ev));
		if (attest_evidence_load(argv[optind + i], j.ev[i], &j.err) < 0)
			rc = fail("refs", &j.err);
	}
	if (!rc) {
		rc = write_atomically("refs", output, write_refs, &j);
		if (j.failed)
			rc = fail("refs", &j.err);
	}
	for (size_t i = 0; i < j.n; i++) {
		if (j.ev[i])
			attest_evidence_free(j.ev[i]);
		free(j.ev[i]);
	}
	free(j.ev);
	return rc;
}

int attest_cmd(int argc, char **argv)
{
	static const struct moat_command subs[] = {
		{ "enroll", NULL, cmd_enroll },	    { "quote", NULL, cmd_quote },
		{ "verify", NULL, cmd_verify },	    { "refs", NULL, cmd_refs },
		{ "eventlog", NULL, cmd_eventlog }, { "ima", NULL, cmd_ima },
	};
	if (argc < 2)
		return moat_usage_error("attest", "a subcommand is required");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(attest_usage, stdout);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
		if (strcmp(argv[1], subs[i].name) == 0) {
			optind = 1;
			return subs[i].main(argc - 1, argv + 1);
		}
	return moat_usage_error("attest", "unknown subcommand '%s'", argv[1]);
}
