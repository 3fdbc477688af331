/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attest: the TCG event log and IMA measurement list parsers and their
 * replay.  Upstream logs under ../shared/conformance/eventlog replay to the
 * PCRs their projects (or an independent replayer) give; synthetic logs
 * built here pin down the PC Client rules, the first-bad-event search and
 * the bounds on hostile input.
 */
#include "attest/attest.h"

#include "unit.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#define CONF "conformance/eventlog/"

/* ---- helpers ------------------------------------------------------------- */

static char *conf_path(const char *file)
{
	return xasprintf("%s/" CONF "%s", unit_shared_dir(), file);
}

static bool have_conformance(void)
{
	_cleanup_free_ char *p = conf_path("SOURCE.md");
	if (access(p, R_OK) == 0)
		return true;
	unit_skip("%s absent: no upstream test data", p);
	return false;
}

static char *read_conf(const char *file, size_t *len)
{
	_cleanup_free_ char *p = conf_path(file);
	struct moat_error err = { 0 };
	char *data = NULL;
	if (read_file(p, MOAT_MAX_INPUT, &data, len, &err) < 0) {
		unit_fail("%s", err.msg);
		return NULL;
	}
	return data;
}

static json_t *load_json(const char *file)
{
	_cleanup_free_ char *p = conf_path(file);
	json_error_t je;
	json_t *j = json_load_file(p, 0, &je);
	if (!j)
		unit_fail("%s: %s", p, je.text);
	return j;
}

static int unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = strlen(s);
	if (n % 2 || n / 2 > max)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return (int)(n / 2);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

/* Checks replayed PCRs against {"sha1": {"0": "hex", ...}, ...}.  With
 * exact, the replay must set no PCR that the expectation lacks. */
static int check_pcrs(const char *what, struct attest_pcrs *got, json_t *want, bool exact)
{
	int bad = 0;
	const char *bank;
	json_t *pcrs;
	json_object_foreach(want, bank, pcrs) {
		uint16_t alg = attest_alg_from_name(bank, strlen(bank));
		struct attest_pcr_bank *b = attest_pcrs_bank(got, alg);
		if (!b) {
			unit_fail("%s: no %s bank replayed", what, bank);
			bad++;
			continue;
		}
		uint32_t seen = 0;
		const char *k;
		json_t *v;
		json_object_foreach(pcrs, k, v) {
			uint32_t r = (uint32_t)atoi(k);
			uint8_t w[ATTEST_MAX_DIGEST];
			char g[2 * ATTEST_MAX_DIGEST + 1] = "(unset)";
			seen |= 1u << r;
			if (b->set & (1u << r))
				hex(b->pcr[r], b->size, g);
			if (unhex(json_string_value(v), w, sizeof(w)) != b->size || !(b->set & (1u << r)) ||
			    memcmp(w, b->pcr[r], b->size) != 0) {
				unit_fail("%s: %s PCR %u = %s, expected %s", what, bank, r, g,
					  json_string_value(v));
				bad++;
			}
		}
		if (exact && (b->set & ~seen)) {
			unit_fail("%s: %s replay sets PCRs 0x%x the expectation lacks", what, bank,
				  b->set & ~seen);
			bad++;
		}
	}
	if (exact)
		for (size_t i = 0; i < got->nbanks; i++)
			if (got->bank[i].set && !json_object_get(want, attest_alg_name(got->bank[i].alg))) {
				unit_fail("%s: replay has a %s bank the expectation lacks", what,
					  attest_alg_name(got->bank[i].alg));
				bad++;
			}
	return bad;
}

/* ---- conformance: event logs ---------------------------------------------- */

static const char *const conf_logs[] = {
	"tpm2-software_tpm2-tools__test__integration__fixtures__event.bin",
	"tpm2-software_tpm2-tools__test__integration__fixtures__specid-vendordata.bin",
	"tpm2-software_tpm2-tools__test__integration__fixtures__event-uefivar.bin",
	"tpm2-software_tpm2-tools__test__integration__fixtures__event-uefiaction.bin",
	"tpm2-software_tpm2-tools__test__integration__fixtures__event-uefiservices.bin",
	"tpm2-software_tpm2-tools__test__integration__fixtures__event-sd-boot-fedora37.bin",
	"tpm2-software_tpm2-tools__test__integration__fixtures__event-arch-linux.bin",
	"tpm2-software_tpm2-tools__test__integration__fixtures__event-uefi-sha1-log.bin",
	"google_go-attestation__attest__testdata__short_no_action_eventlog",
	"google_go-attestation__attest__testdata__crypto_agile_eventlog",
	"google_go-attestation__attest__testdata__sb_cert_eventlog",
	"google_go-attestation__attest__testdata__ebs_event_missing_eventlog",
	"keylime_keylime__test__data__create-mb-policy__binary_bios_measurements",
	"keylime_keylime__test__data__create-mb-policy__binary_bios_measurements-secureboot",
};

static void test_conformance_eventlogs(void)
{
	if (!have_conformance())
		return;
	for (size_t i = 0; i < ARRAY_SIZE(conf_logs); i++) {
		size_t len;
		_cleanup_free_ char *buf = read_conf(conf_logs[i], &len);
		_cleanup_free_ char *rname = xasprintf("%s.replay.json", conf_logs[i]);
		json_t *want = load_json(rname);
		if (!buf || !want) {
			json_decref(want);
			continue;
		}
		struct attest_eventlog log;
		struct moat_error err = { 0 };
		if (attest_eventlog_parse((const uint8_t *)buf, len, conf_logs[i], &log, &err) < 0) {
			unit_fail("%s", err.msg);
			json_decref(want);
			continue;
		}
		CHECK_INT(log.nevents, json_integer_value(json_object_get(want, "events")));
		CHECK_INT(log.crypto_agile,
			  strcmp(json_string_value(json_object_get(want, "format")), "crypto-agile") == 0);
		CHECK_INT(log.has_startup_locality ? log.startup_locality : 0,
			  json_integer_value(json_object_get(want, "startup_locality")));
		struct attest_pcrs p = { 0 };
		attest_eventlog_replay(&log, &p);
		check_pcrs(conf_logs[i], &p, json_object_get(want, "pcrs"), true);
		/* Real firmware hashes the data of the types whose digest PFP
		 * defines as H(data): no event of a good log is "changed". */
		for (size_t e = 0; e < log.nevents; e++) {
			CHECK(log.events[e].index == e);
			if (attest_event_digest_mismatch(&log.events[e]))
				unit_fail("%s: event %zu (%s) digest != H(data)", conf_logs[i], e,
					  attest_event_type_name(log.events[e].type));
		}
		attest_eventlog_free(&log);
		json_decref(want);
	}
}

/* The upstream tpm2-tools fixtures carry tpm2_eventlog's own "pcrs:" section. */
static void test_conformance_tpm2_tools_yaml(void)
{
	if (!have_conformance())
		return;
	static const struct {
		const char *bin, *yaml;
	} pairs[] = {
		{ "event.bin", "event.bin.yaml" },
		{ "specid-vendordata.bin", "specid-vendordata.bin.yaml" },
		{ "event-uefivar.bin", "event-raw__event-uefivar.bin.yaml" },
		{ "event-uefiaction.bin", "event-raw__event-uefiaction.bin.yaml" },
		{ "event-uefiservices.bin", "event-raw__event-uefiservices.bin.yaml" },
		{ "event-sd-boot-fedora37.bin", "event-raw__event-sd-boot-fedora37.bin.yaml" },
		{ "event-arch-linux.bin", "event-raw__event-arch-linux.bin.yaml" },
		{ "event-uefi-sha1-log.bin", "event-raw__event-uefi-sha1-log.bin.yaml" },
	};
	int checked = 0;
	for (size_t i = 0; i < ARRAY_SIZE(pairs); i++) {
		_cleanup_free_ char *bn = xasprintf("tpm2-software_tpm2-tools__test__integration__"
						    "fixtures__%s", pairs[i].bin);
		_cleanup_free_ char *yn = xasprintf("tpm2-software_tpm2-tools__test__integration__"
						    "fixtures__%s", pairs[i].yaml);
		size_t blen, ylen;
		_cleanup_free_ char *buf = read_conf(bn, &blen);
		_cleanup_free_ char *ybuf = read_conf(yn, &ylen);
		if (!buf || !ybuf)
			continue;
		struct moat_error err = { 0 };
		struct yfile *yf = NULL;
		/* tpm2_eventlog's SHA-1 listing repeats keys: read "pcrs:" alone. */
		const char *pcrs_at = strstr(ybuf, "\npcrs:");
		if (!pcrs_at) {
			unit_fail("%s: no pcrs section", yn);
			continue;
		}
		if (yaml_parse(yn, pcrs_at, strlen(pcrs_at), &yf, &err) < 0) {
			unit_fail("%s", err.msg);
			yfile_free(yf);
			continue;
		}
		const struct ynode *pcrs = yf->ndocs ? ymap_get(yf->docs[0].root, "pcrs") : NULL;
		json_t *want = json_object();
		if (pcrs && pcrs->type == YNODE_MAP)
			for (uint32_t b = 0; b < pcrs->len; b++) {
				json_t *bank = json_object();
				const struct ynode *m = pcrs->pairs[b].val;
				for (uint32_t k = 0; m && m->type == YNODE_MAP && k < m->len; k++) {
					const char *v = m->pairs[k].val->str;
					json_object_set_new(bank, m->pairs[k].key->str,
							    json_string(strncmp(v, "0x", 2) ? v : v + 2));
				}
				json_object_set_new(want, pcrs->pairs[b].key->str, bank);
			}
		yfile_free(yf);
		struct attest_eventlog log;
		if (attest_eventlog_parse((const uint8_t *)buf, blen, bn, &log, &err) < 0) {
			unit_fail("%s", err.msg);
		} else {
			struct attest_pcrs p = { 0 };
			attest_eventlog_replay(&log, &p);
			check_pcrs(bn, &p, want, true);
			attest_eventlog_free(&log);
			checked++;
		}
		json_decref(want);
	}
	CHECK_INT(checked, ARRAY_SIZE(pairs));
}

/* go-attestation's secure-boot test gives all 24 PCRs of both banks: the
 * ones the log never touches must hold their reset values. */
static void test_conformance_sb_cert_all_pcrs(void)
{
	if (!have_conformance())
		return;
	const char *name = "google_go-attestation__attest__testdata__sb_cert_eventlog";
	size_t len;
	_cleanup_free_ char *buf = read_conf(name, &len);
	json_t *want = load_json("google_go-attestation__attest__testdata__sb_cert_eventlog."
				 "expected_pcrs.json");
	struct attest_eventlog log;
	struct moat_error err = { 0 };
	if (!buf || !want || attest_eventlog_parse((const uint8_t *)buf, len, name, &log, &err) < 0) {
		if (buf && want)
			unit_fail("%s", err.msg);
		json_decref(want);
		return;
	}
	struct attest_pcrs p = { 0 };
	attest_eventlog_replay(&log, &p);
	/* PCR 10 is IMA's, not in the firmware log: drop it from the check. */
	json_t *pcrs = json_object_get(want, "pcrs");
	const char *bank;
	json_t *m;
	json_object_foreach(pcrs, bank, m) {
		json_object_del(m, "10");
		struct attest_pcr_bank *b = attest_pcrs_bank(&p, attest_alg_from_name(bank, strlen(bank)));
		for (uint32_t r = 0; b && r < ATTEST_NUM_PCRS; r++)
			if (r != 10 && !(b->set & (1u << r))) {
				memset(b->pcr[r], r >= 17 && r <= 22 ? 0xff : 0, b->size);
				b->set |= 1u << r;
			}
	}
	check_pcrs(name, &p, pcrs, false);
	attest_eventlog_free(&log);
	json_decref(want);
}

/* The firmware behind this log omitted the Exit Boot Services events: the
 * replay of PCR 5 must not give the quoted value, and since nothing in the
 * log is wrong (something is missing), no event can be singled out. */
static void test_conformance_ebs_missing(void)
{
	if (!have_conformance())
		return;
	const char *name = "google_go-attestation__attest__testdata__ebs_event_missing_eventlog";
	size_t len;
	_cleanup_free_ char *buf = read_conf(name, &len);
	json_t *want = load_json("google_go-attestation__attest__testdata__ebs_event_missing_eventlog."
				 "expected_pcrs.json");
	struct attest_eventlog log;
	struct moat_error err = { 0 };
	if (!buf || !want || attest_eventlog_parse((const uint8_t *)buf, len, name, &log, &err) < 0) {
		if (buf && want)
			unit_fail("%s", err.msg);
		json_decref(want);
		return;
	}
	struct attest_pcrs p = { 0 };
	attest_eventlog_replay(&log, &p);
	uint8_t w[20];
	CHECK(unhex(json_string_value(json_object_get(
			    json_object_get(json_object_get(want, "pcrs"), "sha1"), "5")),
		    w, sizeof(w)) == 20);
	struct attest_pcr_bank *b = attest_pcrs_bank(&p, TPM_ALG_SHA1);
	CHECK(b && (b->set & (1u << 5)) && memcmp(b->pcr[5], w, 20) != 0);
	CHECK_INT(attest_eventlog_first_bad(&log, TPM_ALG_SHA1, 5, w), -1);
	/* Appending the two events go-attestation's workaround adds fixes it. */
	uint8_t v[20];
	memcpy(v, b->pcr[5], 20);
	static const char *const ebs[] = { "Exit Boot Services Invocation",
					   "Exit Boot Services Returned with Success" };
	for (size_t i = 0; i < 2; i++) {
		uint8_t h[20];
		SHA1((const uint8_t *)ebs[i], strlen(ebs[i]), h);
		attest_extend(TPM_ALG_SHA1, v, h);
	}
	CHECK(memcmp(v, w, 20) == 0);
	attest_eventlog_free(&log);
	json_decref(want);
}

/* The Windows Shielded VM evidence: a raw SHA-1 log and the 24 PCRs the TPM
 * quoted, both upstream. */
static void test_conformance_windows_gcp(void)
{
	if (!have_conformance())
		return;
	json_t *j = load_json("google_go-attestation__attest__testdata__windows_gcp_shielded_vm.json");
	if (!j)
		return;
	json_t *logj = json_object_get(j, "Log");
	const char *raw = json_string_value(json_object_get(logj, "Raw"));
	size_t rlen = raw ? strlen(raw) : 0;
	_cleanup_free_ uint8_t *buf = xmalloc(rlen / 4 * 3 + 4);
	int n = raw ? EVP_DecodeBlock(buf, (const uint8_t *)raw, (int)rlen) : -1;
	CHECK(n > 0);
	while (n > 0 && rlen && raw[--rlen] == '=')
		n--;
	struct attest_eventlog log;
	struct moat_error err = { 0 };
	if (n <= 0 || attest_eventlog_parse(buf, (size_t)n, "windows_gcp", &log, &err) < 0) {
		unit_fail("parse: %s", err.msg);
		json_decref(j);
		return;
	}
	CHECK_INT(log.nevents, 21);
	CHECK(!log.crypto_agile);
	struct attest_pcrs p = { 0 };
	attest_eventlog_replay(&log, &p);
	struct attest_pcr_bank *b = attest_pcrs_bank(&p, TPM_ALG_SHA1);
	CHECK(b != NULL);
	size_t i;
	json_t *pj;
	int matched = 0;
	json_array_foreach(json_object_get(logj, "PCRs"), i, pj) {
		uint32_t r = (uint32_t)json_integer_value(json_object_get(pj, "Index"));
		const char *d64 = json_string_value(json_object_get(pj, "Digest"));
		uint8_t w[32], v[20];
		if (!b || r >= ATTEST_NUM_PCRS || !d64 || EVP_DecodeBlock(w, (const uint8_t *)d64, 28) < 20)
			continue;
		if (b->set & (1u << r))
			memcpy(v, b->pcr[r], 20);
		else
			memset(v, r >= 17 && r <= 22 ? 0xff : 0, 20);
		if (memcmp(v, w, 20) == 0)
			matched++;
		else
			unit_fail("windows_gcp: PCR %u differs from the quoted value", r);
	}
	CHECK_INT(matched, 24);
	attest_eventlog_free(&log);
	json_decref(j);
}

/* ---- synthetic logs --------------------------------------------------------- */

struct logbuf {
	uint8_t b[8192];
	size_t n;
};

static void put32(struct logbuf *l, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		l->b[l->n++] = (uint8_t)(v >> (8 * i));
}

static void put16(struct logbuf *l, uint16_t v)
{
	l->b[l->n++] = (uint8_t)v;
	l->b[l->n++] = (uint8_t)(v >> 8);
}

static void putbytes(struct logbuf *l, const void *p, size_t n)
{
	memcpy(l->b + l->n, p, n);
	l->n += n;
}

/* Spec ID Event03 declaring sha1 and sha256, as a legacy-format event. */
static void spec_id(struct logbuf *l)
{
	uint8_t zero[20] = { 0 };
	put32(l, 0);
	put32(l, EV_NO_ACTION);
	putbytes(l, zero, 20);
	put32(l, 16 + 4 + 4 + 4 + 8 + 1);
	putbytes(l, "Spec ID Event03", 16);
	put32(l, 0);
	l->b[l->n++] = 0;
	l->b[l->n++] = 2;
	l->b[l->n++] = 0;
	l->b[l->n++] = 2;
	put32(l, 2);
	put16(l, TPM_ALG_SHA1);
	put16(l, 20);
	put16(l, TPM_ALG_SHA256);
	put16(l, 32);
	l->b[l->n++] = 0;
}

/* A TCG_PCR_EVENT2 whose digests are the hashes of data (or of `hashed`
 * when not NULL). */
static void event2(struct logbuf *l, uint32_t pcr, uint32_t type, const char *data,
		   const char *hashed)
{
	const char *h = hashed ? hashed : data;
	uint8_t d1[20], d256[32];
	SHA1((const uint8_t *)h, strlen(h), d1);
	SHA256((const uint8_t *)h, strlen(h), d256);
	put32(l, pcr);
	put32(l, type);
	put32(l, 2);
	put16(l, TPM_ALG_SHA1);
	putbytes(l, d1, 20);
	put16(l, TPM_ALG_SHA256);
	putbytes(l, d256, 32);
	put32(l, (uint32_t)strlen(data));
	putbytes(l, data, strlen(data));
}

static int parse(struct logbuf *l, struct attest_eventlog *log)
{
	struct moat_error err = { 0 };
	int r = attest_eventlog_parse(l->b, l->n, "synthetic", log, &err);
	if (r < 0)
		unit_fail("%s", err.msg);
	return r;
}

/* What the PC Client rules give for pcr after the events' data, by hand. */
static void expect_sha256(uint8_t *pcr, uint8_t init, uint8_t last, const char *const *data,
			  size_t n)
{
	memset(pcr, init, 32);
	pcr[31] = last;
	for (size_t i = 0; i < n; i++) {
		uint8_t d[32], in[64];
		SHA256((const uint8_t *)data[i], strlen(data[i]), d);
		memcpy(in, pcr, 32);
		memcpy(in + 32, d, 32);
		SHA256(in, 64, pcr);
	}
}

static void test_startup_locality_and_no_action(void)
{
	struct logbuf l = { .n = 0 };
	spec_id(&l);
	/* StartupLocality 3: an EV_NO_ACTION in PCR 0, never extended. */
	uint8_t zero[52] = { 0 };
	put32(&l, 0);
	put32(&l, EV_NO_ACTION);
	put32(&l, 2);
	put16(&l, TPM_ALG_SHA1);
	putbytes(&l, zero, 20);
	put16(&l, TPM_ALG_SHA256);
	putbytes(&l, zero, 32);
	put32(&l, 17);
	putbytes(&l, "StartupLocality\0\3", 17);
	event2(&l, 0, EV_S_CRTM_VERSION, "crtm", NULL);
	/* An EV_NO_ACTION carrying a real digest changes nothing. */
	event2(&l, 0, EV_NO_ACTION, "not extended", NULL);
	event2(&l, 0, EV_SEPARATOR, "\xff\xff\xff\xff", NULL);
	event2(&l, 17, EV_EFI_ACTION, "drtm", NULL);
	event2(&l, 4, EV_EFI_ACTION, "Calling EFI Application from Boot Option", NULL);

	struct attest_eventlog log;
	if (parse(&l, &log) < 0)
		return;
	CHECK(log.crypto_agile);
	CHECK_INT(log.nalgs, 2);
	CHECK_INT(log.nevents, 7);
	CHECK(log.has_startup_locality);
	CHECK_INT(log.startup_locality, 3);
	struct attest_pcrs p = { 0 };
	attest_eventlog_replay(&log, &p);
	struct attest_pcr_bank *b = attest_pcrs_bank(&p, TPM_ALG_SHA256);
	if (!b) {
		unit_fail("no sha256 bank");
		attest_eventlog_free(&log);
		return;
	}
	CHECK_INT(b->set, (1u << 0) | (1u << 4) | (1u << 17));
	uint8_t want[32];
	const char *pcr0[] = { "crtm", "\xff\xff\xff\xff" };
	expect_sha256(want, 0, 3, pcr0, 2);
	CHECK(memcmp(b->pcr[0], want, 32) == 0);
	const char *pcr17[] = { "drtm" };
	expect_sha256(want, 0xff, 0xff, pcr17, 1);
	CHECK(memcmp(b->pcr[17], want, 32) == 0);
	const char *pcr4[] = { "Calling EFI Application from Boot Option" };
	expect_sha256(want, 0, 0, pcr4, 1);
	CHECK(memcmp(b->pcr[4], want, 32) == 0);
	CHECK(attest_pcrs_bank(&p, TPM_ALG_SHA1) != NULL);

	/* Replaying into a bank that already holds values overwrites only
	 * the PCRs the log touches. */
	struct attest_pcrs q = { 0 };
	struct attest_pcr_bank *qb = attest_pcrs_add_bank(&q, TPM_ALG_SHA256);
	memset(qb->pcr[5], 0xab, 32);
	memset(qb->pcr[0], 0xab, 32);
	qb->set = 1u << 5 | 1u << 0;
	attest_eventlog_replay(&log, &q);
	CHECK(qb->pcr[5][0] == 0xab && qb->pcr[5][31] == 0xab);
	CHECK(memcmp(qb->pcr[0], b->pcr[0], 32) == 0);
	CHECK_INT(qb->set, (1u << 0) | (1u << 4) | (1u << 5) | (1u << 17));

	/* Printing works in every format. */
	FILE *devnull = fopen("/dev/null", "w");
	if (devnull) {
		CHECK_INT(attest_eventlog_print(devnull, &log, true, ATTEST_FMT_TEXT), 0);
		CHECK_INT(attest_eventlog_print(devnull, &log, true, ATTEST_FMT_JSON), 0);
		CHECK_INT(attest_eventlog_print(devnull, &log, true, ATTEST_FMT_YAML), 0);
		fclose(devnull);
	}
	attest_eventlog_free(&log);
}

static void test_json_output(void)
{
	struct logbuf l = { .n = 0 };
	spec_id(&l);
	event2(&l, 4, EV_EFI_ACTION, "Calling \"EFI\"", NULL);
	event2(&l, 7, EV_SEPARATOR, "\xff\xff\xff\xff", NULL);
	struct attest_eventlog log;
	if (parse(&l, &log) < 0)
		return;
	char *out = NULL;
	size_t outlen = 0;
	FILE *f = open_memstream(&out, &outlen);
	CHECK_INT(attest_eventlog_print(f, &log, true, ATTEST_FMT_JSON), 0);
	fclose(f);
	json_error_t je;
	json_t *j = json_loads(out, 0, &je);
	if (!j) {
		unit_fail("JSON output does not parse: %s\n%s", je.text, out);
	} else {
		json_t *evs = json_object_get(j, "events");
		CHECK_INT(json_array_size(evs), 3);
		json_t *e1 = json_array_get(evs, 1);
		CHECK_INT(json_integer_value(json_object_get(e1, "pcr")), 4);
		CHECK_STR(json_string_value(json_object_get(e1, "type_name")), "EV_EFI_ACTION");
		CHECK_STR(json_string_value(json_object_get(e1, "data")), "Calling \"EFI\"");
		CHECK_INT(strlen(json_string_value(json_object_get(json_object_get(e1, "digests"),
								   "sha256"))),
			  64);
		json_t *e2 = json_array_get(evs, 2);
		CHECK_STR(json_string_value(json_object_get(e2, "data")), "ffffffff");
		CHECK(json_object_get(json_object_get(json_object_get(j, "pcrs"), "sha256"), "7") != NULL);
		json_decref(j);
	}
	free(out);
	attest_eventlog_free(&log);
}

static void test_type_names(void)
{
	CHECK_STR(attest_event_type_name(EV_SEPARATOR), "EV_SEPARATOR");
	CHECK_STR(attest_event_type_name(EV_EFI_VARIABLE_DRIVER_CONFIG),
		  "EV_EFI_VARIABLE_DRIVER_CONFIG");
	CHECK_STR(attest_event_type_name(EV_S_CRTM_VERSION), "EV_S_CRTM_VERSION");
	CHECK(attest_event_type_name(0x12345) == NULL);
	CHECK_INT(attest_event_type_from_name("EV_EFI_ACTION"), EV_EFI_ACTION);
	CHECK_INT(attest_event_type_from_name("ev_ipl"), EV_IPL);
	CHECK_INT(attest_event_type_from_name("0x80000001"), EV_EFI_VARIABLE_DRIVER_CONFIG);
	CHECK_INT(attest_event_type_from_name("13"), EV_IPL);
	CHECK_INT(attest_event_type_from_name("EV_NOPE"), -1);
	CHECK_INT(attest_event_type_from_name("-1"), -1);
	CHECK_INT(attest_event_type_from_name("0x100000000"), -1);
	CHECK_INT(attest_event_type_from_name(""), -1);
	for (uint32_t t = 0; t < 0x20; t++) {
		const char *n = attest_event_type_name(t);
		if (n)
			CHECK_INT(attest_event_type_from_name(n), t);
	}
}

/* A log of PCR 7 and 4 events, their index in l.events noted. */
static void first_bad_log(struct logbuf *l)
{
	l->n = 0;
	spec_id(l);                                                  /* 0 */
	event2(l, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, "SecureBoot=1", NULL); /* 1 */
	event2(l, 4, EV_EFI_ACTION, "boot", NULL);                  /* 2 */
	event2(l, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, "PK", NULL);    /* 3 */
	event2(l, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, "KEK", NULL);   /* 4 */
	event2(l, 7, EV_SEPARATOR, "\1\1\1\1", NULL);               /* 5 */
	event2(l, 7, EV_EFI_VARIABLE_AUTHORITY, "db cert", NULL);   /* 6 */
}

static void pcr_of(struct logbuf *l, uint16_t alg, uint32_t pcr, uint8_t *out)
{
	struct attest_eventlog log;
	if (parse(l, &log) < 0)
		return;
	struct attest_pcrs p = { 0 };
	attest_eventlog_replay(&log, &p);
	struct attest_pcr_bank *b = attest_pcrs_bank(&p, alg);
	if (b)
		memcpy(out, b->pcr[pcr], b->size);
	attest_eventlog_free(&log);
}

static long first_bad_of(struct logbuf *l, uint16_t alg, uint32_t pcr, const uint8_t *want)
{
	struct attest_eventlog log;
	if (parse(l, &log) < 0)
		return -2;
	long r = attest_eventlog_first_bad(&log, alg, pcr, want);
	attest_eventlog_free(&log);
	return r;
}

static void test_first_bad(void)
{
	struct logbuf l;
	uint8_t good[32];
	first_bad_log(&l);
	pcr_of(&l, TPM_ALG_SHA256, 7, good);
	CHECK_INT(first_bad_of(&l, TPM_ALG_SHA256, 7, good), -1);

	/* Changed: the data of event 4 edited, its digest left alone. */
	first_bad_log(&l);
	size_t at = l.n;
	(void)at;
	{
		struct attest_eventlog log;
		if (parse(&l, &log) == 0) {
			uint8_t *d = (uint8_t *)log.events[4].data;
			size_t off = (size_t)(d - l.b);
			attest_eventlog_free(&log);
			l.b[off] = 'X';
			CHECK_INT(first_bad_of(&l, TPM_ALG_SHA256, 7, good), 4);
			CHECK_INT(first_bad_of(&l, TPM_ALG_SHA1, 7, good), 4);
		}
	}

	/* Inserted: an extra event in PCR 7 between 3 and 4. */
	l.n = 0;
	spec_id(&l);
	event2(&l, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, "SecureBoot=1", NULL);
	event2(&l, 4, EV_EFI_ACTION, "boot", NULL);
	event2(&l, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, "PK", NULL);
	event2(&l, 7, EV_EFI_BOOT_SERVICES_APPLICATION, "shim", "evil shim"); /* 4 */
	event2(&l, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, "KEK", NULL);
	event2(&l, 7, EV_SEPARATOR, "\1\1\1\1", NULL);
	event2(&l, 7, EV_EFI_VARIABLE_AUTHORITY, "db cert", NULL);
	CHECK_INT(first_bad_of(&l, TPM_ALG_SHA256, 7, good), 4);

	/* Reordered: KEK logged before PK. */
	l.n = 0;
	spec_id(&l);
	event2(&l, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, "SecureBoot=1", NULL);
	event2(&l, 4, EV_EFI_ACTION, "boot", NULL);
	event2(&l, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, "KEK", NULL); /* 3 */
	event2(&l, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, "PK", NULL);
	event2(&l, 7, EV_SEPARATOR, "\1\1\1\1", NULL);
	event2(&l, 7, EV_EFI_VARIABLE_AUTHORITY, "db cert", NULL);
	CHECK_INT(first_bad_of(&l, TPM_ALG_SHA256, 7, good), 3);

	/* Reordered across an event of another PCR: neighbours within PCR 7. */
	l.n = 0;
	spec_id(&l);
	event2(&l, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, "PK", NULL); /* 1 */
	event2(&l, 4, EV_EFI_ACTION, "boot", NULL);
	event2(&l, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, "SecureBoot=1", NULL);
	event2(&l, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, "KEK", NULL);
	event2(&l, 7, EV_SEPARATOR, "\1\1\1\1", NULL);
	event2(&l, 7, EV_EFI_VARIABLE_AUTHORITY, "db cert", NULL);
	CHECK_INT(first_bad_of(&l, TPM_ALG_SHA256, 7, good), 1);

	/* Removed: nothing in the log is wrong, so nothing can be named. */
	l.n = 0;
	spec_id(&l);
	event2(&l, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, "SecureBoot=1", NULL);
	event2(&l, 4, EV_EFI_ACTION, "boot", NULL);
	event2(&l, 7, EV_EFI_VARIABLE_DRIVER_CONFIG, "PK", NULL);
	event2(&l, 7, EV_SEPARATOR, "\1\1\1\1", NULL);
	event2(&l, 7, EV_EFI_VARIABLE_AUTHORITY, "db cert", NULL);
	CHECK_INT(first_bad_of(&l, TPM_ALG_SHA256, 7, good), -1);

	/* A PCR the log never touches, or an unknown bank. */
	first_bad_log(&l);
	CHECK_INT(first_bad_of(&l, TPM_ALG_SHA256, 9, good), -1);
	CHECK_INT(first_bad_of(&l, 0x9999, 7, good), -1);
}

static void test_digest_mismatch(void)
{
	struct logbuf l = { .n = 0 };
	spec_id(&l);
	event2(&l, 4, EV_EFI_ACTION, "Calling EFI Application", NULL);
	event2(&l, 4, EV_EFI_ACTION, "Calling EFI Application", "something else");
	/* GRUB logs "grub_cmd: X" and extends H(X): not a mismatch. */
	event2(&l, 8, EV_IPL, "grub_cmd: linux", "linux");
	struct attest_eventlog log;
	if (parse(&l, &log) < 0)
		return;
	CHECK(!attest_event_digest_mismatch(&log.events[0]));
	CHECK(!attest_event_digest_mismatch(&log.events[1]));
	CHECK(attest_event_digest_mismatch(&log.events[2]));
	CHECK(!attest_event_digest_mismatch(&log.events[3]));
	attest_eventlog_free(&log);
}

/* ---- hostile input --------------------------------------------------------------- */

static void expect_error(const uint8_t *b, size_t n, const char *needle)
{
	struct attest_eventlog log;
	struct moat_error err = { 0 };
	if (attest_eventlog_parse(b, n, "bad.bin", &log, &err) == 0) {
		unit_fail("parsed %zu bytes that should fail (%s)", n, needle);
		attest_eventlog_free(&log);
		return;
	}
	if (!strstr(err.msg, needle) || strncmp(err.msg, "bad.bin: offset ", 16) != 0)
		unit_fail("error \"%s\" lacks \"%s\"", err.msg, needle);
}

static void test_truncated_everywhere(void)
{
	struct logbuf l = { .n = 0 };
	spec_id(&l);
	event2(&l, 0, EV_S_CRTM_VERSION, "crtm", NULL);
	event2(&l, 4, EV_EFI_ACTION, "x", NULL);
	size_t ends[2] = { 0 };
	{
		struct attest_eventlog log;
		if (parse(&l, &log) < 0)
			return;
		ends[0] = log.events[1].offset;
		ends[1] = log.events[2].offset;
		attest_eventlog_free(&log);
	}
	for (size_t n = 1; n < l.n; n++) {
		struct attest_eventlog log;
		struct moat_error err = { 0 };
		int r = attest_eventlog_parse(l.b, n, "cut.bin", &log, &err);
		/* Cutting at an event boundary leaves a shorter, valid log. */
		if (n == ends[0] || n == ends[1]) {
			CHECK_INT(r, 0);
			if (r == 0)
				attest_eventlog_free(&log);
			continue;
		}
		/* A cut leaving only 0x00 bytes of the next event looks like the
		 * filler firmware pads logs with: the complete events parse. */
		size_t last = n > ends[1] ? ends[1] : n > ends[0] ? ends[0] : 0;
		bool filler = last > 0;
		for (size_t i = last; filler && i < n; i++)
			filler = l.b[i] == 0;
		if (r == 0 && filler) {
			CHECK_INT(log.nevents, last == ends[0] ? 1 : 2);
			attest_eventlog_free(&log);
		} else if (r == 0) {
			unit_fail("log cut at %zu of %zu bytes parsed", n, l.n);
			attest_eventlog_free(&log);
		} else if (!strstr(err.msg, "offset ")) {
			unit_fail("cut at %zu: \"%s\" names no offset", n, err.msg);
		}
	}
}

static void test_bad_input(void)
{
	struct logbuf l = { .n = 0 };
	expect_error(l.b, 0, "empty");

	/* Absurd event size in a legacy log. */
	uint8_t zero[20] = { 0 };
	put32(&l, 0);
	put32(&l, EV_SEPARATOR);
	putbytes(&l, zero, 20);
	put32(&l, 0xffffffff);
	putbytes(&l, "abcd", 4);
	expect_error(l.b, l.n, "event 0: event size 4294967295 runs past the end of the log (36 bytes)");

	/* Digest count 1000 in a crypto-agile event. */
	l.n = 0;
	spec_id(&l);
	put32(&l, 0);
	put32(&l, EV_SEPARATOR);
	put32(&l, 1000);
	for (int i = 0; i < 64; i++)
		put32(&l, 0);
	expect_error(l.b, l.n, "digest count 1000 exceeds the 2 banks");

	/* An algorithm the Spec ID event does not declare. */
	l.n = 0;
	spec_id(&l);
	put32(&l, 0);
	put32(&l, EV_SEPARATOR);
	put32(&l, 1);
	put16(&l, TPM_ALG_SHA384);
	for (int i = 0; i < 16; i++)
		put32(&l, 0);
	expect_error(l.b, l.n, "algorithm 0x000c, not one the Spec ID event declares");

	/* A Spec ID event with a wrong size for a known algorithm, and too
	 * many algorithms. */
	l.n = 0;
	spec_id(&l);
	l.b[32 + 28 + 2] = 21; /* sha1's digestSize */
	expect_error(l.b, l.n, "algorithm 0x0004 has digest size 21");
	l.n = 0;
	spec_id(&l);
	l.b[32 + 24] = 9;
	expect_error(l.b, l.n, "declares 9 algorithms");

	/* Garbage. */
	uint8_t junk[100];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 37 + 11);
	expect_error(junk, sizeof(junk), "runs past the end");
	expect_error((const uint8_t *)"hello", 5, "truncated event header");

	/* Trailing filler after the last event is the end of the log. */
	l.n = 0;
	spec_id(&l);
	event2(&l, 4, EV_EFI_ACTION, "x", NULL);
	size_t real = l.n;
	memset(l.b + l.n, 0xff, 200);
	l.n += 200;
	struct attest_eventlog log;
	if (parse(&l, &log) == 0) {
		CHECK_INT(log.nevents, 2);
		attest_eventlog_free(&log);
	}
	memset(l.b + real, 0, 200);
	if (parse(&l, &log) == 0) {
		CHECK_INT(log.nevents, 2);
		attest_eventlog_free(&log);
	}
	/* ... but not filler followed by more bytes. */
	l.b[l.n - 1] = 1;
	expect_error(l.b, l.n, "offset");
}

int main(void)
{
	TEST(test_conformance_eventlogs);
	TEST(test_conformance_tpm2_tools_yaml);
	TEST(test_conformance_sb_cert_all_pcrs);
	TEST(test_conformance_ebs_missing);
	TEST(test_conformance_windows_gcp);
	TEST(test_startup_locality_and_no_action);
	TEST(test_json_output);
	TEST(test_type_names);
	TEST(test_first_bad);
	TEST(test_digest_mismatch);
	TEST(test_truncated_everywhere);
	TEST(test_bad_input);
	return unit_done();
}
