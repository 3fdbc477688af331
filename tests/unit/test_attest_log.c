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

/* ---- IMA ---------------------------------------------------------------------- */

static int ima_parse(const void *b, size_t n, const char *name, struct attest_ima_list *l)
{
	struct moat_error err = { 0 };
	int r = attest_ima_parse(b, n, name, l, &err);
	if (r < 0)
		unit_fail("%s", err.msg);
	return r;
}

static void test_conformance_ima(void)
{
	if (!have_conformance())
		return;
	json_t *want = load_json("kgoldman_ibmtss__utils__sha1.log.expected_pcr10.json");
	if (!want)
		return;
	json_t *pcrs = json_object_get(want, "pcrs");
	static const char *const logs[] = { "kgoldman_ibmtss__utils__sha1.log",
					    "kgoldman_ibmtss__utils__sha256.log" };
	for (size_t i = 0; i < ARRAY_SIZE(logs); i++) {
		size_t len;
		_cleanup_free_ char *buf = read_conf(logs[i], &len);
		struct attest_ima_list l;
		if (!buf || ima_parse(buf, len, logs[i], &l) < 0)
			continue;
		CHECK(!l.ascii);
		CHECK_INT(l.template_hash_alg, i == 0 ? TPM_ALG_SHA1 : TPM_ALG_SHA256);
		CHECK_INT(l.nentries, 362);
		size_t viol = 0, sha256 = 0;
		for (size_t e = 0; e < l.nentries; e++) {
			viol += l.entries[e].violation;
			sha256 += l.entries[e].file_alg == TPM_ALG_SHA256 &&
				  l.entries[e].file_digest_len == 32;
		}
		CHECK_INT(viol, 0);
		CHECK_INT(sha256, 362);
		CHECK(l.entries[0].path_len == 14 && memcmp(l.entries[0].path, "boot_aggregate", 14) == 0);
		struct attest_pcrs p = { 0 };
		const char *bank;
		json_t *v;
		json_object_foreach(pcrs, bank, v) attest_pcrs_add_bank(&p, attest_alg_from_name(bank, strlen(bank)));
		CHECK_INT(attest_ima_replay(&l, &p), -1);
		json_t *w = json_object();
		json_object_foreach(pcrs, bank, v) {
			json_t *m = json_object();
			json_object_set(m, "10", v);
			json_object_set_new(w, bank, m);
		}
		check_pcrs(logs[i], &p, w, true);
		json_decref(w);

		/* The text listing is the kernel's ASCII list: parsed back, it
		 * rebuilds the same template data and replays the same PCRs. */
		char *txt = NULL;
		size_t tlen = 0;
		FILE *f = open_memstream(&txt, &tlen);
		CHECK_INT(attest_ima_print(f, &l, false, NULL, ATTEST_FMT_TEXT), 0);
		fclose(f);
		struct attest_ima_list a;
		if (ima_parse(txt, tlen, "ascii", &a) == 0) {
			CHECK(a.ascii);
			CHECK_INT(a.nentries, l.nentries);
			for (size_t e = 0; e < a.nentries && e < l.nentries; e++)
				if (a.entries[e].template_data_len != l.entries[e].template_data_len ||
				    memcmp(a.entries[e].template_data, l.entries[e].template_data,
					   a.entries[e].template_data_len) != 0) {
					unit_fail("%s: entry %zu: ASCII rebuild differs", logs[i], e);
					break;
				}
			struct attest_pcrs q = { 0 };
			json_object_foreach(pcrs, bank, v) attest_pcrs_add_bank(&q, attest_alg_from_name(bank, strlen(bank)));
			CHECK_INT(attest_ima_replay(&a, &q), -1);
			for (size_t b = 0; b < q.nbanks; b++)
				CHECK(memcmp(q.bank[b].pcr[10], p.bank[b].pcr[10], q.bank[b].size) == 0);
			attest_ima_free(&a);
		}
		free(txt);
		attest_ima_free(&l);
	}
	json_decref(want);

	/* ibmtss's synthetic list: custom templates, the old "ima" template
	 * and one violation. */
	size_t len;
	_cleanup_free_ char *buf = read_conf("kgoldman_ibmtss__utils__imatest.log", &len);
	struct attest_ima_list l;
	if (buf && ima_parse(buf, len, "imatest.log", &l) == 0) {
		CHECK_INT(l.nentries, 17);
		size_t viol = 0, old = 0;
		for (size_t e = 0; e < l.nentries; e++) {
			viol += l.entries[e].violation;
			if (l.entries[e].template_name_len == 3 &&
			    memcmp(l.entries[e].template_name, "ima", 3) == 0) {
				old++;
				CHECK_INT(l.entries[e].template_data_len, 20 + 256);
				CHECK(l.entries[e].path_len == 14 &&
				      memcmp(l.entries[e].path, "boot_aggregate", 14) == 0);
			}
		}
		CHECK_INT(viol, 1);
		CHECK_INT(old, 1);
		struct attest_pcrs p = { 0 };
		attest_ima_replay(&l, &p);
		CHECK(p.nbanks == 2 && (p.bank[0].set & (1u << 10)));
		attest_ima_free(&l);
	}

	/* keylime's ASCII ima-ng list: the rebuilt data hashes to the logged
	 * template hash on every line. */
	_cleanup_free_ char *kl = read_conf("keylime_keylime__test__data__create-runtime-policy__ima-log-sha256", &len);
	if (kl && ima_parse(kl, len, "ima-log-sha256", &l) == 0) {
		CHECK(l.ascii);
		CHECK_INT(l.nentries, 2);
		CHECK_INT(l.entries[1].line, 2);
		CHECK_INT(l.entries[1].file_alg, TPM_ALG_SHA256);
		CHECK(l.entries[1].path_len == 5 && memcmp(l.entries[1].path, "/data", 5) == 0);
		struct attest_pcrs p = { 0 };
		CHECK_INT(attest_ima_replay(&l, &p), -1);
		attest_ima_free(&l);
	}
}

/* A synthetic list built field by field, as the kernel hashes it. */
struct imabuf {
	uint8_t bin[16384];
	size_t nbin;
	char ascii[16384];
	size_t nascii;
	uint8_t pcr1[20], pcr256[32];
};

static void ima_extend(struct imabuf *b, const uint8_t *data, size_t n, bool violation)
{
	uint8_t h1[20], h256[32];
	if (violation) {
		memset(h1, 0xff, 20);
		memset(h256, 0xff, 32);
	} else {
		SHA1(data, n, h1);
		SHA256(data, n, h256);
	}
	attest_extend(TPM_ALG_SHA1, b->pcr1, h1);
	attest_extend(TPM_ALG_SHA256, b->pcr256, h256);
}

static size_t le(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return 4;
}

/* template: "ima-ng", "ima-sig" (sig may be NULL) or "ima-buf". */
static void ima_add(struct imabuf *b, const char *tmpl, const char *path, const char *content,
		    const uint8_t *tail, size_t ntail, bool violation)
{
	uint8_t digest[32], data[1024];
	size_t n = 0;
	if (violation)
		memset(digest, 0, 32);
	else
		SHA256((const uint8_t *)content, strlen(content), digest);
	n += le(data + n, 8 + 32);
	memcpy(data + n, "sha256:", 8);
	memcpy(data + n + 8, digest, 32);
	n += 40;
	n += le(data + n, (uint32_t)strlen(path) + 1);
	memcpy(data + n, path, strlen(path) + 1);
	n += strlen(path) + 1;
	bool has_tail = strcmp(tmpl, "ima-ng") != 0;
	if (has_tail) {
		n += le(data + n, (uint32_t)ntail);
		if (ntail)
			memcpy(data + n, tail, ntail);
		n += ntail;
	}
	uint8_t th[20];
	if (violation)
		memset(th, 0, 20);
	else
		SHA1(data, n, th);
	ima_extend(b, data, n, violation);

	b->nbin += le(b->bin + b->nbin, 10);
	memcpy(b->bin + b->nbin, th, 20);
	b->nbin += 20;
	b->nbin += le(b->bin + b->nbin, (uint32_t)strlen(tmpl));
	memcpy(b->bin + b->nbin, tmpl, strlen(tmpl));
	b->nbin += strlen(tmpl);
	b->nbin += le(b->bin + b->nbin, (uint32_t)n);
	memcpy(b->bin + b->nbin, data, n);
	b->nbin += n;

	char h[129];
	hex(th, 20, h);
	b->nascii += (size_t)sprintf(b->ascii + b->nascii, "10 %s %s sha256:", h, tmpl);
	hex(digest, 32, h);
	b->nascii += (size_t)sprintf(b->ascii + b->nascii, "%s %s", h, path);
	if (has_tail) {
		b->ascii[b->nascii++] = ' ';
		for (size_t i = 0; i < ntail; i++)
			b->nascii += (size_t)sprintf(b->ascii + b->nascii, "%02x", tail[i]);
	}
	b->ascii[b->nascii++] = '\n';
}

/* The old "ima" template: a SHA-1 digest and the name padded to 256. */
static void ima_add_old(struct imabuf *b, const char *path, const char *content)
{
	uint8_t data[276] = { 0 }, th[20];
	SHA1((const uint8_t *)content, strlen(content), data);
	memcpy(data + 20, path, strlen(path));
	SHA1(data, sizeof(data), th);
	ima_extend(b, data, sizeof(data), false);
	b->nbin += le(b->bin + b->nbin, 10);
	memcpy(b->bin + b->nbin, th, 20);
	b->nbin += 20;
	b->nbin += le(b->bin + b->nbin, 3);
	memcpy(b->bin + b->nbin, "ima", 3);
	b->nbin += 3;
	memcpy(b->bin + b->nbin, data, 20);
	b->nbin += 20;
	b->nbin += le(b->bin + b->nbin, (uint32_t)strlen(path));
	memcpy(b->bin + b->nbin, path, strlen(path));
	b->nbin += strlen(path);
	char h[41];
	hex(th, 20, h);
	b->nascii += (size_t)sprintf(b->ascii + b->nascii, "10 %s ima ", h);
	hex(data, 20, h);
	b->nascii += (size_t)sprintf(b->ascii + b->nascii, "%s %s\n", h, path);
}

static void synthetic_ima(struct imabuf *b)
{
	memset(b, 0, sizeof(*b));
	static const uint8_t sig[] = { 0x03, 0x02, 0x04, 0xde, 0xad, 0xbe, 0xef };
	ima_add(b, "ima-ng", "boot_aggregate", "aggregate", NULL, 0, false);
	ima_add(b, "ima-ng", "/usr/bin/kubelet", "kubelet", NULL, 0, false);
	ima_add(b, "ima-sig", "/usr/lib/with space/libc.so.6", "libc", sig, sizeof(sig), false);
	ima_add(b, "ima-sig", "/usr/bin/unsigned", "unsigned", NULL, 0, false);
	ima_add(b, "ima-ng", "/var/log/open-writers", "", NULL, 0, true);
	ima_add(b, "ima-buf", "kexec-cmdline", "cmdline", (const uint8_t *)"root=/dev/vda", 13, false);
	ima_add_old(b, "/sbin/init", "init");
}

static void test_ima_binary_and_ascii(void)
{
	struct imabuf *b = xmalloc(sizeof(*b));
	synthetic_ima(b);
	struct attest_ima_list lb, la;
	if (ima_parse(b->bin, b->nbin, "bin", &lb) < 0) {
		free(b);
		return;
	}
	if (ima_parse(b->ascii, b->nascii, "ascii", &la) < 0) {
		attest_ima_free(&lb);
		free(b);
		return;
	}
	CHECK(!lb.ascii && la.ascii);
	CHECK_INT(lb.nentries, 7);
	CHECK_INT(la.nentries, 7);
	for (size_t i = 0; i < 7 && i < la.nentries && i < lb.nentries; i++) {
		const struct attest_ima_entry *x = &lb.entries[i], *y = &la.entries[i];
		CHECK_INT(x->violation, i == 4);
		CHECK_INT(y->violation, i == 4);
		CHECK_INT(x->template_data_len, y->template_data_len);
		CHECK(memcmp(x->template_data, y->template_data, x->template_data_len) == 0);
		CHECK(x->path_len == y->path_len && memcmp(x->path, y->path, x->path_len) == 0);
		CHECK(x->file_digest_len == y->file_digest_len &&
		      memcmp(x->file_digest, y->file_digest, x->file_digest_len) == 0);
		CHECK_INT(x->file_alg, i == 6 ? TPM_ALG_SHA1 : TPM_ALG_SHA256);
		CHECK_INT(y->line, i + 1);
	}
	CHECK(la.entries[2].path_len == 29 &&
	      memcmp(la.entries[2].path, "/usr/lib/with space/libc.so.6", 29) == 0);
	struct attest_pcrs pb = { 0 }, pa = { 0 };
	CHECK_INT(attest_ima_replay(&lb, &pb), -1);
	CHECK_INT(attest_ima_replay(&la, &pa), -1);
	struct attest_pcr_bank *b1 = attest_pcrs_bank(&pb, TPM_ALG_SHA1),
			       *b2 = attest_pcrs_bank(&pb, TPM_ALG_SHA256),
			       *a1 = attest_pcrs_bank(&pa, TPM_ALG_SHA1),
			       *a2 = attest_pcrs_bank(&pa, TPM_ALG_SHA256);
	CHECK(b1 && b2 && a1 && a2);
	if (b1 && b2 && a1 && a2) {
		CHECK_INT(b1->set, 1u << 10);
		CHECK(memcmp(b1->pcr[10], b->pcr1, 20) == 0);
		CHECK(memcmp(a1->pcr[10], b->pcr1, 20) == 0);
		CHECK(memcmp(b2->pcr[10], b->pcr256, 32) == 0);
		CHECK(memcmp(a2->pcr[10], b->pcr256, 32) == 0);
	}

	/* JSON output parses and names the violation. */
	char *out = NULL;
	size_t outlen = 0;
	FILE *f = open_memstream(&out, &outlen);
	CHECK_INT(attest_ima_print(f, &la, true, &pa, ATTEST_FMT_JSON), 0);
	fclose(f);
	json_t *j = json_loads(out, 0, NULL);
	CHECK(j != NULL);
	json_t *e4 = json_array_get(json_object_get(j, "entries"), 4);
	CHECK(json_is_true(json_object_get(e4, "violation")));
	CHECK_INT(json_integer_value(json_object_get(e4, "line")), 5);
	CHECK(json_object_get(json_object_get(json_object_get(j, "pcrs"), "sha256"), "10") != NULL);
	json_decref(j);
	free(out);
	attest_ima_free(&lb);
	attest_ima_free(&la);
	free(b);
}

static void test_ima_violation_and_tamper(void)
{
	struct imabuf *b = xmalloc(sizeof(*b));
	memset(b, 0, sizeof(*b));
	ima_add(b, "ima-ng", "/a", "a", NULL, 0, true);
	struct attest_ima_list l;
	if (ima_parse(b->bin, b->nbin, "viol", &l) == 0) {
		struct attest_pcrs p = { 0 };
		attest_pcrs_add_bank(&p, TPM_ALG_SHA384);
		CHECK_INT(attest_ima_replay(&l, &p), -1);
		CHECK_INT(p.nbanks, 1);
		uint8_t want[48] = { 0 }, ones[48];
		memset(ones, 0xff, 48);
		attest_extend(TPM_ALG_SHA384, want, ones);
		CHECK(memcmp(p.bank[0].pcr[10], want, 48) == 0);
		attest_ima_free(&l);
	}

	/* A template hash that does not match its data is named by index,
	 * in both forms. */
	synthetic_ima(b);
	struct attest_ima_list lb;
	if (ima_parse(b->bin, b->nbin, "bin", &lb) == 0) {
		size_t off = lb.entries[3].offset + 4;
		attest_ima_free(&lb);
		b->bin[off] ^= 1;
		if (ima_parse(b->bin, b->nbin, "bin", &lb) == 0) {
			struct attest_pcrs p = { 0 };
			CHECK_INT(attest_ima_replay(&lb, &p), 3);
			attest_ima_free(&lb);
		}
	}
	char *line3 = b->ascii;
	for (int i = 0; i < 3; i++)
		line3 = strchr(line3, '\n') + 1;
	line3[3] = line3[3] == '0' ? '1' : '0';
	if (ima_parse(b->ascii, b->nascii, "ascii", &lb) == 0) {
		struct attest_pcrs p = { 0 };
		CHECK_INT(attest_ima_replay(&lb, &p), 3);
		CHECK_INT(lb.entries[3].line, 4);
		attest_ima_free(&lb);
	}
	free(b);
}

static void ima_expect_error(const void *buf, size_t n, const char *needle)
{
	struct attest_ima_list l;
	struct moat_error err = { 0 };
	if (attest_ima_parse(buf, n, "bad", &l, &err) == 0) {
		unit_fail("parsed a list that should fail (%s)", needle);
		attest_ima_free(&l);
		return;
	}
	if (!strstr(err.msg, needle))
		unit_fail("error \"%s\" lacks \"%s\"", err.msg, needle);
}

static void test_ima_bad_input(void)
{
	struct imabuf *b = xmalloc(sizeof(*b));
	synthetic_ima(b);
	ima_expect_error(b->bin, 0, "empty");
	/* Cut anywhere but between entries: an error naming an offset. */
	struct attest_ima_list l;
	size_t bounds[8] = { 0 };
	size_t nb = 0;
	if (ima_parse(b->bin, b->nbin, "bin", &l) == 0) {
		for (size_t i = 0; i < l.nentries; i++)
			bounds[nb++] = l.entries[i].offset;
		attest_ima_free(&l);
	}
	for (size_t n = 1; n < b->nbin; n++) {
		bool boundary = false;
		for (size_t i = 0; i < nb; i++)
			boundary |= bounds[i] == n;
		struct moat_error err = { 0 };
		int r = attest_ima_parse(b->bin, n, "cut", &l, &err);
		if (r == 0)
			attest_ima_free(&l);
		if (boundary)
			CHECK_INT(r, 0);
		else if (r == 0)
			unit_fail("binary list cut at %zu parsed", n);
		else if (!strstr(err.msg, "cut: offset "))
			unit_fail("cut at %zu: \"%s\"", n, err.msg);
	}
	/* Absurd template data length, bad name length, PCR out of range. */
	uint8_t e[64] = { 0 };
	le(e, 10);
	le(e + 24, 6);
	memcpy(e + 28, "ima-ng", 6);
	le(e + 34, 0xffffffff);
	ima_expect_error(e, 38, "offset 34: entry 0: template data of 4294967295 bytes exceeds");
	le(e + 34, 1000);
	ima_expect_error(e, 38, "runs past the end of the list (38 bytes)");
	le(e + 24, 100000);
	ima_expect_error(e, 38, "template name length 100000");
	le(e, 99);
	ima_expect_error(e, 38, "PCR 99 out of range");

	/* ASCII: errors name the line. */
	static const char bad_hash[] = "10 6309e2c83b7814367bb3912a55e5473454623535 ima-ng sha256:00 /a\n"
				       "10 zz ima-ng sha256:00 /b\n";
	ima_expect_error(bad_hash, sizeof(bad_hash) - 1, "bad:2: expected a 40-hex-digit template hash");
	static const char bad_tmpl[] = "10 6309e2c83b7814367bb3912a55e5473454623535 d-ng|n-ng sha256:00 /a\n";
	ima_expect_error(bad_tmpl, sizeof(bad_tmpl) - 1, "bad:1: template \"d-ng|n-ng\" cannot be rebuilt");
	static const char no_alg[] = "10 6309e2c83b7814367bb3912a55e5473454623535 ima-ng 00 /a\n";
	ima_expect_error(no_alg, sizeof(no_alg) - 1, "bad:1: file digest \"00\" lacks its algorithm");
	static const char pcr[] = "99 6309e2c83b7814367bb3912a55e5473454623535 ima-ng sha256:00 /a\n";
	ima_expect_error(pcr, sizeof(pcr) - 1, "bad:1: PCR 99 out of range");
	static const char blank[] = "10 6309e2c83b7814367bb3912a55e5473454623535 ima-ng sha256:00 /a\n\n"
				    "10 6309e2c83b7814367bb3912a55e5473454623535 ima-ng sha256:00 /a\n";
	ima_expect_error(blank, sizeof(blank) - 1, "bad:2: expected a PCR number");
	static const char long_old[] = "10 6309e2c83b7814367bb3912a55e5473454623535 ima "
				       "6309e2c83b7814367bb3912a55e5473454623535 /";
	char *lo = xasprintf("%s%0300d\n", long_old, 0);
	ima_expect_error(lo, strlen(lo), "exceeds the ima template's 255");
	free(lo);
	/* A long line is refused before it is scanned field by field. */
	size_t big = 2 * ATTEST_MAX_IMA_TEMPLATE + 8192;
	char *huge = xmalloc(big);
	memset(huge, 'a', big);
	memcpy(huge, "10 ", 3);
	ima_expect_error(huge, big, "bad:1: line longer than");
	free(huge);
	free(b);
}

/* The hot path of `moat attest verify`: a 20,000-entry list. */
static void test_ima_replay_20000(void)
{
	const size_t n = 20000;
	size_t cap = n * 120;
	uint8_t *buf = xmalloc(cap);
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t data[128];
		char path[64];
		size_t dn = 0;
		int pl = snprintf(path, sizeof(path), "/usr/lib/file%06zu", i);
		dn += le(data, 40);
		memcpy(data + 4, "sha256:", 8);
		memset(data + 12, (int)(i & 0xff), 32);
		dn += 40;
		dn += le(data + dn, (uint32_t)pl + 1);
		memcpy(data + dn, path, (size_t)pl + 1);
		dn += (size_t)pl + 1;
		len += le(buf + len, 10);
		SHA1(data, dn, buf + len);
		len += 20;
		len += le(buf + len, 6);
		memcpy(buf + len, "ima-ng", 6);
		len += 6;
		len += le(buf + len, (uint32_t)dn);
		memcpy(buf + len, data, dn);
		len += dn;
	}
	struct attest_ima_list l;
	if (ima_parse(buf, len, "big", &l) == 0) {
		CHECK_INT(l.nentries, n);
		struct attest_pcrs p = { 0 };
		CHECK_INT(attest_ima_replay(&l, &p), -1);
		attest_ima_free(&l);
	}
	free(buf);
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
	TEST(test_conformance_ima);
	TEST(test_ima_binary_and_ascii);
	TEST(test_ima_violation_and_tamper);
	TEST(test_ima_bad_input);
	TEST(test_ima_replay_20000);
	return unit_done();
}
