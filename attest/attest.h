/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attest: TPM 2.0 remote attestation.
 *
 * The node side (moat-tpm, a small helper linked against tpm2-tss) enrolls an
 * attestation key and quotes PCRs.  Everything else here is the verifier's
 * side and needs no TPM: parsing TCG PC Client event logs and IMA
 * measurement lists, replaying them into PCR values, parsing TPMS_ATTEST
 * and TPMT_SIGNATURE, checking the signature with OpenSSL, and appraising the
 * whole against reference values into an EAR-style verdict.
 *
 * Every parser here reads untrusted bytes: counts and sizes are bounded, and
 * errors carry "<name>: offset N: ..." so a user can find the bad byte.
 * Parsed structures point into the caller's buffer, which must outlive them.
 */
#ifndef MOAT_ATTEST_H
#define MOAT_ATTEST_H

#include "../core/core.h"

/* TPM_ALG_ID values (TPM 2.0 Part 2, 6.3). */
#define TPM_ALG_RSA 0x0001
#define TPM_ALG_SHA1 0x0004
#define TPM_ALG_SHA256 0x000B
#define TPM_ALG_SHA384 0x000C
#define TPM_ALG_SHA512 0x000D
#define TPM_ALG_NULL 0x0010
#define TPM_ALG_SM3_256 0x0012
#define TPM_ALG_RSASSA 0x0014
#define TPM_ALG_RSAPSS 0x0016
#define TPM_ALG_ECDSA 0x0018
#define TPM_ALG_ECC 0x0023

#define ATTEST_NUM_PCRS 24
#define ATTEST_MAX_BANKS 5     /* sha1, sha256, sha384, sha512, sm3 */
#define ATTEST_MAX_DIGEST 64
/* Bounds on what a log may hold: a real boot log has a few hundred events,
 * a busy node's IMA list a few hundred thousand. */
#define ATTEST_MAX_EVENTS 100000
#define ATTEST_MAX_EVENT_DATA (1u << 20)
#define ATTEST_MAX_IMA_ENTRIES 4000000
#define ATTEST_MAX_IMA_TEMPLATE (64u << 10)

/* Exit codes of `moat attest verify`: 0 affirming, 1 otherwise, 2 bad input. */

struct attest_pcr_select {
	uint16_t alg;
	uint32_t mask; /* bit i: PCR i */
};

/* ---- algorithms ----------------------------------------------------------- */

/* Digest size of a TPM hash algorithm, 0 if moat does not know it. */
uint16_t attest_alg_size(uint16_t alg);
/* "sha1", "sha256", ...; NULL if unknown. */
const char *attest_alg_name(uint16_t alg);
/* The reverse; 0 if unknown. */
uint16_t attest_alg_from_name(const char *name, size_t len);
/* One-shot digest of buf with a TPM hash algorithm; out holds
 * attest_alg_size(alg) bytes.  -1 for an algorithm OpenSSL lacks. */
int attest_hash(uint16_t alg, const void *buf, size_t len, uint8_t *out);
/* pcr = H(pcr || digest): the TPM's extend. */
void attest_extend(uint16_t alg, uint8_t *pcr, const uint8_t *digest);

/*
 * Parses a PCR selection as tpm2-tools writes it: "sha256:0-9,10",
 * "sha1:0,1+sha256:all".  Fills sel (at most ATTEST_MAX_BANKS banks).
 */
int attest_pcr_spec_parse(const char *spec, struct attest_pcr_select *sel, uint32_t *nsel,
			  struct moat_error *err);

/* ---- PCR values ----------------------------------------------------------- */

struct attest_pcr_bank {
	uint16_t alg;  /* TPM_ALG_* */
	uint16_t size; /* digest size */
	uint32_t set;  /* bit i: pcr[i] holds a value */
	uint8_t pcr[ATTEST_NUM_PCRS][ATTEST_MAX_DIGEST];
};

struct attest_pcrs {
	size_t nbanks;
	struct attest_pcr_bank bank[ATTEST_MAX_BANKS];
};

/* The bank for alg, or NULL. */
struct attest_pcr_bank *attest_pcrs_bank(struct attest_pcrs *p, uint16_t alg);
/* The bank for alg, added (all PCRs unset) if missing; NULL when full or alg
 * is unknown. */
struct attest_pcr_bank *attest_pcrs_add_bank(struct attest_pcrs *p, uint16_t alg);

/* ---- TCG PC Client event log (TCG PC Client Platform Firmware Profile) -- */

struct attest_digest {
	uint16_t alg;
	uint16_t size;
	const uint8_t *d;
};

struct attest_event {
	size_t offset; /* byte offset of the event in the log */
	uint32_t index; /* 0-based position in the log */
	uint32_t pcr;
	uint32_t type; /* EV_* */
	uint32_t ndigests;
	struct attest_digest digests[ATTEST_MAX_BANKS];
	const uint8_t *data;
	uint32_t data_len;
};

struct attest_eventlog {
	const char *name; /* for messages; not owned */
	bool crypto_agile; /* TCG_PCR_EVENT2 after a Spec ID event */
	/* From the Spec ID event: the banks every event carries. */
	uint32_t nalgs;
	struct {
		uint16_t alg, size;
	} algs[ATTEST_MAX_BANKS];
	/* An EV_NO_ACTION "StartupLocality" event sets PCR 0's initial value. */
	bool has_startup_locality;
	uint8_t startup_locality;
	size_t nevents;
	struct attest_event *events; /* the first, the Spec ID event, included */
};

#define EV_PREBOOT_CERT 0x00000000
#define EV_POST_CODE 0x00000001
#define EV_NO_ACTION 0x00000003
#define EV_SEPARATOR 0x00000004
#define EV_ACTION 0x00000005
#define EV_EVENT_TAG 0x00000006
#define EV_S_CRTM_CONTENTS 0x00000007
#define EV_S_CRTM_VERSION 0x00000008
#define EV_CPU_MICROCODE 0x00000009
#define EV_PLATFORM_CONFIG_FLAGS 0x0000000A
#define EV_TABLE_OF_DEVICES 0x0000000B
#define EV_COMPACT_HASH 0x0000000C
#define EV_IPL 0x0000000D
#define EV_IPL_PARTITION_DATA 0x0000000E
#define EV_NONHOST_CODE 0x0000000F
#define EV_NONHOST_CONFIG 0x00000010
#define EV_NONHOST_INFO 0x00000011
#define EV_OMIT_BOOT_DEVICE_EVENTS 0x00000012
#define EV_EFI_EVENT_BASE 0x80000000
#define EV_EFI_VARIABLE_DRIVER_CONFIG 0x80000001
#define EV_EFI_VARIABLE_BOOT 0x80000002
#define EV_EFI_BOOT_SERVICES_APPLICATION 0x80000003
#define EV_EFI_BOOT_SERVICES_DRIVER 0x80000004
#define EV_EFI_RUNTIME_SERVICES_DRIVER 0x80000005
#define EV_EFI_GPT_EVENT 0x80000006
#define EV_EFI_ACTION 0x80000007
#define EV_EFI_PLATFORM_FIRMWARE_BLOB 0x80000008
#define EV_EFI_HANDOFF_TABLES 0x80000009
#define EV_EFI_PLATFORM_FIRMWARE_BLOB2 0x8000000A
#define EV_EFI_HANDOFF_TABLES2 0x8000000B
#define EV_EFI_VARIABLE_BOOT2 0x8000000C
#define EV_EFI_HCRTM_EVENT 0x80000010
#define EV_EFI_VARIABLE_AUTHORITY 0x800000E0
#define EV_EFI_SPDM_FIRMWARE_BLOB 0x800000E1
#define EV_EFI_SPDM_FIRMWARE_CONFIG 0x800000E2

/* "EV_SEPARATOR", ...; NULL for a type the spec does not name. */
const char *attest_event_type_name(uint32_t type);
/* The reverse, for refs.yaml; accepts a name or a number.  -1 if neither. */
int64_t attest_event_type_from_name(const char *name);

/*
 * Parses a binary event log: the SHA-1 TCG_PCClientPCREvent format, and the
 * crypto-agile TCG_PCR_EVENT2 format that follows a "Spec ID Event03".
 * Events point into buf.  name is used in messages ("<name>: offset 1234:
 * event 17: digest count 9 exceeds the 2 banks the Spec ID event declares").
 */
int attest_eventlog_parse(const uint8_t *buf, size_t len, const char *name,
			  struct attest_eventlog *log, struct moat_error *err);
void attest_eventlog_free(struct attest_eventlog *log);

/*
 * Replays the log into out, one bank per algorithm the log carries, setting
 * every PCR an event touches, following the PC Client rules: PCR 0 starts at
 * the StartupLocality value, PCRs 17-22 at ff.., others at 00..; EV_NO_ACTION
 * is never extended.  Banks already in out with the same algorithm have
 * those PCRs overwritten.
 */
void attest_eventlog_replay(const struct attest_eventlog *log, struct attest_pcrs *out);

/*
 * Names the first event that breaks the replay of pcr in bank alg, given the
 * value the TPM quoted (want).  In order: the first event of that PCR whose
 * digest is not the hash of its data where the spec says it must be (an
 * event changed); an event without which the replay gives want (inserted);
 * two neighbouring events that, swapped, give want (reordered).  Returns
 * the event index, or -1 when none can be singled out (events removed or
 * the log truncated: nothing in the log is wrong, something is missing).
 */
long attest_eventlog_first_bad(const struct attest_eventlog *log, uint16_t alg,
			       uint32_t pcr, const uint8_t *want);

/* For the event types whose digest the spec defines as the hash of the event
 * data (EV_SEPARATOR, EV_EFI_ACTION, EV_ACTION, EV_EFI_VARIABLE_DRIVER_CONFIG
 * ...), true when some digest of ev is not that hash. */
bool attest_event_digest_mismatch(const struct attest_event *ev);

enum attest_format { ATTEST_FMT_TEXT, ATTEST_FMT_JSON, ATTEST_FMT_YAML };

/* Writes the events, and with replay the final PCRs, as text, JSON or YAML
 * (YAML in the shape tpm2_eventlog prints). */
int attest_eventlog_print(FILE *out, const struct attest_eventlog *log, bool replay,
			  enum attest_format fmt);

/* ---- IMA measurement list -------------------------------------------------- */

struct attest_ima_entry {
	size_t offset; /* byte offset (binary) or line start (ASCII) */
	uint32_t index;
	uint32_t line; /* ASCII lists: 1-based line; 0 for binary */
	uint32_t pcr;
	/* The template data's hash as logged: SHA-1, or list->template_hash_alg
	 * for the kernel's per-bank lists (binary_runtime_measurements_sha256). */
	const uint8_t *template_hash; /* into the buffer (binary) or the arena */
	bool violation; /* logged template hash all zeros */
	const char *template_name; /* not NUL-terminated */
	uint32_t template_name_len;
	/* Template data as the kernel hashed it.  For a binary list it points
	 * into the buffer; for an ASCII list it is rebuilt (in the list's
	 * arena) from the fields. */
	const uint8_t *template_data;
	uint32_t template_data_len;
	/* The file's digest and path, from the template fields. */
	uint16_t file_alg; /* TPM_ALG_*; 0 if unknown to moat */
	const uint8_t *file_digest;
	uint32_t file_digest_len;
	const char *path; /* not NUL-terminated */
	uint32_t path_len;
};

struct attest_ima_list {
	const char *name;
	bool ascii;
	uint16_t template_hash_alg; /* TPM_ALG_SHA1 but for per-bank lists */
	size_t nentries;
	struct attest_ima_entry *entries;
	struct arena *arena;
};

/*
 * Parses an IMA list: the binary_runtime_measurements format (host byte
 * order, little-endian here), or the ascii_runtime_measurements format
 * (templates ima, ima-ng, ima-sig, ima-buf).  The format is detected.
 */
int attest_ima_parse(const uint8_t *buf, size_t len, const char *name,
		     struct attest_ima_list *list, struct moat_error *err);
void attest_ima_free(struct attest_ima_list *list);

/*
 * Replays the list into pcr (PCR 10 by default; entries carry theirs) of
 * every bank in out that has an algorithm: each bank is extended with the
 * template data hashed by its own algorithm, violations with ff..  The
 * PCRs it touches start from zero.  When the bank of the logged template
 * hashes (SHA-1) is among them, entries whose logged hash does not match
 * their data are found on the way: returns the index of the first, or -1.
 */
long attest_ima_replay(const struct attest_ima_list *list, struct attest_pcrs *out);

/* The first entry whose logged template hash is not the hash of its data,
 * or -1: the check replay makes only when it replays that bank. */
long attest_ima_check(const struct attest_ima_list *list);

int attest_ima_print(FILE *out, const struct attest_ima_list *list, bool replay,
		     const struct attest_pcrs *replayed, enum attest_format fmt);

/* ---- TPM structures (TPM 2.0 Part 2) ---------------------------------------- */

#define TPM_GENERATED_VALUE 0xff544347u
#define TPM_ST_ATTEST_QUOTE 0x8018

/* TPMS_ATTEST of a quote. */
struct attest_quote {
	uint32_t magic;
	uint16_t type;
	const uint8_t *signer; /* qualifiedSigner (TPM2B_NAME) */
	uint16_t signer_len;
	const uint8_t *extra; /* extraData: the nonce */
	uint16_t extra_len;
	uint64_t clock;
	uint32_t reset_count, restart_count;
	uint8_t safe;
	uint64_t firmware_version;
	uint32_t nsel;
	struct attest_pcr_select sel[ATTEST_MAX_BANKS];
	const uint8_t *pcr_digest;
	uint16_t pcr_digest_len;
};

/* Parses TPMS_ATTEST; magic and type are returned, not checked (the
 * verifier appraises them). */
int attest_quote_parse(const uint8_t *buf, size_t len, struct attest_quote *q,
		       struct moat_error *err);

/* TPMT_SIGNATURE: RSASSA, RSAPSS (sig in a) or ECDSA (r in a, s in b). */
struct attest_signature {
	uint16_t sig_alg;
	uint16_t hash_alg;
	const uint8_t *a, *b;
	uint16_t a_len, b_len;
};
int attest_signature_parse(const uint8_t *buf, size_t len, struct attest_signature *sig,
			   struct moat_error *err);

/* OpenSSL's key type, so this header needs no OpenSSL headers. */
struct evp_pkey_st;

/*
 * Checks sig over msg with key (RSA or EC).  Returns 1 when it verifies, 0
 * when it does not (the reason in err), -1 when it cannot be checked (an
 * algorithm that does not match the key, a malformed signature).
 */
int attest_signature_verify(struct evp_pkey_st *key, const uint8_t *msg, size_t len,
			    const struct attest_signature *sig, struct moat_error *err);

/* Parses a TPMT_PUBLIC (or TPM2B_PUBLIC when sized is true) of an RSA or ECC
 * P-256/384 key into an OpenSSL key, and its TPM name (nameAlg || H(public)). */
int attest_tpm_public_parse(const uint8_t *buf, size_t len, bool sized,
			    struct evp_pkey_st **key, uint8_t *name, size_t *name_len,
			    struct moat_error *err);

/* Reads a PEM public key ("PUBLIC KEY" or "RSA PUBLIC KEY"); caller frees
 * with EVP_PKEY_free. */
int attest_pem_load(const char *path, struct evp_pkey_st **key, struct moat_error *err);
int attest_pem_parse(const char *pem, size_t len, const char *name,
		     struct evp_pkey_st **key, struct moat_error *err);

/* The digest a quote's pcrDigest must equal: H(selected PCRs, in selection
 * order, bank by bank), with hash_alg.  -1 if a selected PCR has no value. */
int attest_pcr_digest(const struct attest_pcrs *pcrs, const struct attest_quote *q,
		      uint16_t hash_alg, uint8_t *out, size_t *out_len, struct moat_error *err);

/* ---- evidence ----------------------------------------------------------------- */

/* What `moat attest quote` writes and `verify` reads: see
 * docs/moat-attest-evidence.schema.json. */
struct attest_evidence {
	char *moat_version;
	char *timestamp; /* RFC 3339, UTC */
	uint8_t *quote; /* TPMS_ATTEST */
	size_t quote_len;
	uint8_t *signature; /* TPMT_SIGNATURE */
	size_t signature_len;
	struct attest_pcrs pcrs;
	uint8_t *eventlog; /* NULL when the node sent none */
	size_t eventlog_len;
	uint8_t *ima;
	size_t ima_len;
	char *ak_pem;
	uint8_t *ak_name;
	size_t ak_name_len;
	/* The JSON text the logs were decoded into, in place: a field that
	 * points into it is not freed on its own. */
	char *backing;
	size_t backing_len;
};

/* Reads evidence JSON; every field is checked for type and bounds, and a
 * message names the field ("evidence.json: pcrs.sha256.10: ..."). */
int attest_evidence_load(const char *path, struct attest_evidence *ev, struct moat_error *err);
int attest_evidence_parse(const char *json, size_t len, const char *name,
			  struct attest_evidence *ev, struct moat_error *err);
/* moat-tpm's output: the same, without moat_version and timestamp. */
int attest_evidence_parse_quote(const char *json, size_t len, const char *name,
				struct attest_evidence *ev, struct moat_error *err);
int attest_evidence_write(FILE *out, const struct attest_evidence *ev);
void attest_evidence_free(struct attest_evidence *ev);

/* ---- reference values --------------------------------------------------------- */

struct attest_refs;

/* refs.yaml: see docs/moat-attest.1.  Errors name file, line and field. */
int attest_refs_load(const char *path, struct attest_refs **refs, struct moat_error *err);
int attest_refs_parse(const char *yaml, size_t len, const char *name,
		      struct attest_refs **refs, struct moat_error *err);
void attest_refs_free(struct attest_refs *refs);
/* Builds reference values from known-good evidence (`moat attest refs`). */
int attest_refs_generate(FILE *out, struct attest_evidence *const *ev, size_t n,
			 struct moat_error *err);

/* ---- verdict -------------------------------------------------------------------- */

/* IETF EAR trustworthiness tiers. */
enum attest_status {
	ATTEST_AFFIRMING = 2,
	ATTEST_WARNING = 32,
	ATTEST_CONTRAINDICATED = 96,
};
const char *attest_status_name(enum attest_status s);

struct attest_appraisal {
	const char *claim; /* "signature", "nonce", "pcr-digest", "eventlog", ... */
	enum attest_status status;
	char *detail; /* why, for anything but affirming */
};

struct attest_result {
	enum attest_status status; /* the worst appraisal */
	size_t n;
	struct attest_appraisal *appraisals;
	/* The first event that broke replay, when one could be named. */
	long bad_event;      /* index into the event log, -1 if none */
	size_t bad_event_offset;
	long bad_ima;        /* index into the IMA list, -1 if none */
	size_t bad_ima_offset;
	uint32_t bad_ima_line;
	/* EAR's appraisal policy: the reference values' file, copied. */
	char *policy;
};

struct attest_verify_opts {
	struct evp_pkey_st *ak;
	const char *ak_pem; /* its PEM text, if at hand: a claimed AK with the
			     * same text needs no second decoding */
	const uint8_t *nonce; /* NULL: none to check (a warning) */
	size_t nonce_len;
	const struct attest_refs *refs; /* NULL: no reference values */
};

/* Appraises ev.  Returns 0 with a result (whatever its status); -1 only when
 * the evidence cannot be appraised at all (err says why). */
int attest_verify(const struct attest_evidence *ev, const struct attest_verify_opts *o,
		  struct attest_result *res, struct moat_error *err);
void attest_result_free(struct attest_result *res);
int attest_result_print(FILE *out, const struct attest_result *res, enum attest_format fmt);

/* ---- CLI -------------------------------------------------------------------------- */

int attest_cmd(int argc, char **argv);

#endif
