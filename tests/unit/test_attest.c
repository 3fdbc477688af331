/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The verifier end to end without a TPM: a quote built and signed here with
 * an OpenSSL key, the way a TPM builds and signs one, over PCRs that a
 * synthetic event log and IMA list replay to.  Then the JSON reader, the
 * evidence and reference-value parsers and their messages.  swtpm runs the
 * same checks against a real TPM in tests/bats/attest.bats.
 */
#include "attest/attest.h"
#include "unit.h"

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

/* ---- building what a TPM would send ---------------------------------------- */

struct buf {
	uint8_t d[1 << 16];
	size_t n;
};

static void put8(struct buf *b, uint8_t v) { b->d[b->n++] = v; }
static void put16(struct buf *b, uint16_t v) { put8(b, v >> 8); put8(b, v & 0xff); }
static void put32(struct buf *b, uint32_t v) { put16(b, v >> 16); put16(b, v & 0xffff); }
static void put64(struct buf *b, uint64_t v) { put32(b, v >> 32); put32(b, (uint32_t)v); }
static void putn(struct buf *b, const void *p, size_t n) { memcpy(b->d + b->n, p, n); b->n += n; }
static void le32(struct buf *b, uint32_t v) { for (int i = 0; i < 4; i++) put8(b, (uint8_t)(v >> (8 * i))); }
static void le16(struct buf *b, uint16_t v) { put8(b, v & 0xff); put8(b, v >> 8); }

/* A crypto-agile log: Spec ID, then events in PCRs 0, 4, 7 with digests
 * that are the hash of their data. */
static void add_event2n(struct buf *b, uint32_t pcr, uint32_t type, const char *data,
			size_t n, struct attest_pcrs *pcrs)
{
	uint8_t d1[20], d256[32];
	attest_hash(TPM_ALG_SHA1, data, n, d1);
	attest_hash(TPM_ALG_SHA256, data, n, d256);
	le32(b, pcr);
	le32(b, type);
	le32(b, 2);
	le16(b, TPM_ALG_SHA1);
	putn(b, d1, 20);
	le16(b, TPM_ALG_SHA256);
	putn(b, d256, 32);
	le32(b, (uint32_t)n);
	putn(b, data, n);
	if (type != EV_NO_ACTION) {
		struct attest_pcr_bank *s1 = attest_pcrs_add_bank(pcrs, TPM_ALG_SHA1);
		struct attest_pcr_bank *s256 = attest_pcrs_add_bank(pcrs, TPM_ALG_SHA256);
		attest_extend(TPM_ALG_SHA1, s1->pcr[pcr], d1);
		attest_extend(TPM_ALG_SHA256, s256->pcr[pcr], d256);
		s1->set |= 1u << pcr;
		s256->set |= 1u << pcr;
	}
}

static void add_event2(struct buf *b, uint32_t pcr, uint32_t type, const char *data,
		       struct attest_pcrs *pcrs)
{
	add_event2n(b, pcr, type, data, strlen(data), pcrs);
}

static void build_eventlog(struct buf *b, struct attest_pcrs *pcrs)
{
	static const uint8_t spec[] = {
		'S', 'p', 'e', 'c', ' ', 'I', 'D', ' ', 'E', 'v', 'e', 'n', 't', '0', '3', 0,
		0, 0, 0, 0, 0, 2, 0, 2, 2, 0, 0, 0, 4, 0, 20, 0, 11, 0, 32, 0, 0
	};
	le32(b, 0);
	le32(b, EV_NO_ACTION);
	for (int i = 0; i < 20; i++)
		put8(b, 0);
	le32(b, sizeof(spec));
	putn(b, spec, sizeof(spec));
	add_event2(b, 0, EV_S_CRTM_VERSION, "firmware 1.0", pcrs);
	add_event2(b, 7, EV_EFI_ACTION, "secure boot config", pcrs);
	add_event2(b, 4, EV_EFI_ACTION, "Calling EFI Application from Boot Option", pcrs);
	for (uint32_t p = 0; p < 8; p++)
		add_event2n(b, p, EV_SEPARATOR, "\0\0\0", 4, pcrs);
	add_event2(b, 8, EV_IPL, "grub_cmd: linux /vmlinuz", pcrs);
}

/* A binary IMA list of ima-ng entries in PCR 10. */
static void build_ima(struct buf *b, int n, struct attest_pcrs *pcrs)
{
	struct attest_pcr_bank *s1 = attest_pcrs_add_bank(pcrs, TPM_ALG_SHA1);
	struct attest_pcr_bank *s256 = attest_pcrs_add_bank(pcrs, TPM_ALG_SHA256);
	for (int i = 0; i < n; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/usr/bin/tool%d", i);
		uint8_t fd[32], t[512], th[20], th256[32];
		attest_hash(TPM_ALG_SHA256, path, strlen(path), fd);
		struct buf td = { .n = 0 };
		le32(&td, 8 + 32);
		putn(&td, "sha256:", 8);
		putn(&td, fd, 32);
		le32(&td, (uint32_t)strlen(path) + 1);
		putn(&td, path, strlen(path) + 1);
		memcpy(t, td.d, td.n);
		attest_hash(TPM_ALG_SHA1, t, td.n, th);
		attest_hash(TPM_ALG_SHA256, t, td.n, th256);
		le32(b, 10);
		putn(b, th, 20);
		le32(b, 6);
		putn(b, "ima-ng", 6);
		le32(b, (uint32_t)td.n);
		putn(b, t, td.n);
		attest_extend(TPM_ALG_SHA1, s1->pcr[10], th);
		attest_extend(TPM_ALG_SHA256, s256->pcr[10], th256);
	}
	s1->set |= 1u << 10;
	s256->set |= 1u << 10;
}

struct node {
	EVP_PKEY *ak;
	struct attest_evidence ev;
};

/* TPMS_ATTEST over sha256:0-10 with the nonce, and its ECDSA signature. */
static void quote(struct node *nd, const uint8_t *nonce, size_t nlen)
{
	struct buf q = { .n = 0 };
	put32(&q, TPM_GENERATED_VALUE);
	put16(&q, TPM_ST_ATTEST_QUOTE);
	put16(&q, 34);
	put16(&q, TPM_ALG_SHA256);
	for (int i = 0; i < 32; i++)
		put8(&q, (uint8_t)i);
	put16(&q, (uint16_t)nlen);
	putn(&q, nonce, nlen);
	put64(&q, 123456);
	put32(&q, 1);
	put32(&q, 0);
	put8(&q, 1);
	put64(&q, 0x2000000000ull);
	put32(&q, 1); /* one bank */
	put16(&q, TPM_ALG_SHA256);
	put8(&q, 3);
	put8(&q, 0xff); /* PCRs 0-7 */
	put8(&q, 0x07); /* 8-10 */
	put8(&q, 0);
	struct attest_pcr_bank *b = attest_pcrs_bank(&nd->ev.pcrs, TPM_ALG_SHA256);
	uint8_t cat[11 * 32], digest[32];
	for (int i = 0; i <= 10; i++) {
		memcpy(cat + 32 * i, b->pcr[i], 32);
		b->set |= 1u << i;
	}
	attest_hash(TPM_ALG_SHA256, cat, sizeof(cat), digest);
	put16(&q, 32);
	putn(&q, digest, 32);

	uint8_t der[128];
	size_t derlen = sizeof(der);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, nd->ak);
	EVP_DigestSign(ctx, der, &derlen, q.d, q.n);
	EVP_MD_CTX_free(ctx);
	const uint8_t *dp = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &dp, (long)derlen);
	const BIGNUM *r, *s;
	ECDSA_SIG_get0(sig, &r, &s);
	struct buf sb = { .n = 0 };
	uint8_t rb[32], sbytes[32];
	BN_bn2binpad(r, rb, 32);
	BN_bn2binpad(s, sbytes, 32);
	put16(&sb, TPM_ALG_ECDSA);
	put16(&sb, TPM_ALG_SHA256);
	put16(&sb, 32);
	putn(&sb, rb, 32);
	put16(&sb, 32);
	putn(&sb, sbytes, 32);
	ECDSA_SIG_free(sig);

	free(nd->ev.quote);
	free(nd->ev.signature);
	nd->ev.quote = xmalloc(q.n);
	memcpy(nd->ev.quote, q.d, q.n);
	nd->ev.quote_len = q.n;
	nd->ev.signature = xmalloc(sb.n);
	memcpy(nd->ev.signature, sb.d, sb.n);
	nd->ev.signature_len = sb.n;
}

static char *pem_of(EVP_PKEY *k)
{
	BIO *bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PUBKEY(bio, k);
	char *p;
	long n = BIO_get_mem_data(bio, &p);
	char *out = xstrndup(p, (size_t)n);
	BIO_free(bio);
	return out;
}

static EVP_PKEY *new_key(void)
{
	return EVP_EC_gen("P-256");
}

static const uint8_t nonce[] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4 };

static void make_node(struct node *nd, int nima)
{
	memset(nd, 0, sizeof(*nd));
	nd->ak = new_key();
	static struct buf log, ima;
	log.n = ima.n = 0;
	build_eventlog(&log, &nd->ev.pcrs);
	build_ima(&ima, nima, &nd->ev.pcrs);
	nd->ev.eventlog = xmalloc(log.n);
	memcpy(nd->ev.eventlog, log.d, log.n);
	nd->ev.eventlog_len = log.n;
	nd->ev.ima = xmalloc(ima.n);
	memcpy(nd->ev.ima, ima.d, ima.n);
	nd->ev.ima_len = ima.n;
	nd->ev.ak_pem = pem_of(nd->ak);
	nd->ev.moat_version = xstrdup(MOAT_VERSION);
	nd->ev.timestamp = xstrdup("2026-12-03T00:00:00Z");
	quote(nd, nonce, sizeof(nonce));
}

static void free_node(struct node *nd)
{
	attest_evidence_free(&nd->ev);
	EVP_PKEY_free(nd->ak);
}

static enum attest_status verdict(struct node *nd, EVP_PKEY *ak, const uint8_t *n, size_t nl,
				  const struct attest_refs *refs, const char *want_claim,
				  const char *want_detail)
{
	struct attest_verify_opts o = { .ak = (struct evp_pkey_st *)ak, .nonce = n,
					.nonce_len = nl, .refs = refs };
	struct attest_result res;
	struct moat_error err;
	if (attest_verify(&nd->ev, &o, &res, &err) < 0) {
		unit_fail("attest_verify: %s", err.msg);
		return 0;
	}
	enum attest_status st = res.status;
	if (want_claim) {
		bool found = false;
		for (size_t i = 0; i < res.n; i++)
			if (strcmp(res.appraisals[i].claim, want_claim) == 0 &&
			    res.appraisals[i].status != ATTEST_AFFIRMING &&
			    (!want_detail || strstr(res.appraisals[i].detail, want_detail)))
				found = true;
		if (!found) {
			unit_fail("no failed '%s' appraisal mentioning '%s'", want_claim,
				  want_detail ? want_detail : "");
			attest_result_print(stdout, &res, ATTEST_FMT_TEXT);
		}
	} else if (st != ATTEST_AFFIRMING) {
		attest_result_print(stdout, &res, ATTEST_FMT_TEXT);
	}
	attest_result_free(&res);
	return st;
}

static void test_verify_affirming(void)
{
	struct node nd;
	make_node(&nd, 50);
	CHECK_INT(verdict(&nd, nd.ak, nonce, sizeof(nonce), NULL, NULL, NULL), ATTEST_AFFIRMING);
	/* The same through JSON: what quote writes, verify reads. */
	char *text;
	size_t len;
	FILE *f = open_memstream(&text, &len);
	CHECK_INT(attest_evidence_write(f, &nd.ev), 0);
	fclose(f);
	struct attest_evidence back;
	struct moat_error err;
	CHECK_INT(attest_evidence_parse(text, len, "ev.json", &back, &err), 0);
	CHECK_INT(back.ima_len, nd.ev.ima_len);
	CHECK(back.ima && memcmp(back.ima, nd.ev.ima, back.ima_len) == 0);
	CHECK(back.quote && memcmp(back.quote, nd.ev.quote, nd.ev.quote_len) == 0);
	CHECK(memcmp(&back.pcrs, &nd.ev.pcrs, sizeof(back.pcrs)) == 0);
	attest_evidence_free(&back);
	free(text);
	free_node(&nd);
}

static void test_verify_tampered(void)
{
	struct node nd;
	make_node(&nd, 20);
	static const uint8_t other[] = { 1, 2, 3 };
	CHECK_INT(verdict(&nd, nd.ak, other, sizeof(other), NULL, "nonce", "stale or replayed"),
		  ATTEST_CONTRAINDICATED);

	EVP_PKEY *wrong = new_key();
	CHECK_INT(verdict(&nd, wrong, nonce, sizeof(nonce), NULL, "signature", "enrolled AK"),
		  ATTEST_CONTRAINDICATED);
	EVP_PKEY_free(wrong);

	nd.ev.signature[10] ^= 0x40;
	CHECK_INT(verdict(&nd, nd.ak, nonce, sizeof(nonce), NULL, "signature", NULL),
		  ATTEST_CONTRAINDICATED);
	nd.ev.signature[10] ^= 0x40;

	struct attest_pcr_bank *b = attest_pcrs_bank(&nd.ev.pcrs, TPM_ALG_SHA256);
	b->pcr[4][0] ^= 1;
	CHECK_INT(verdict(&nd, nd.ak, nonce, sizeof(nonce), NULL, "pcr-digest", "changed"),
		  ATTEST_CONTRAINDICATED);
	b->pcr[4][0] ^= 1;

	/* The log claims more than the TPM saw: one event's data edited. */
	const char *action = "Calling EFI Application";
	uint8_t *at = memmem(nd.ev.eventlog, nd.ev.eventlog_len, action, strlen(action));
	CHECK(at != NULL);
	size_t off = at ? (size_t)(at - nd.ev.eventlog) : 0;
	nd.ev.eventlog[off] ^= 0x20;
	CHECK_INT(verdict(&nd, nd.ak, nonce, sizeof(nonce), NULL, "eventlog", "event"),
		  ATTEST_CONTRAINDICATED);
	nd.ev.eventlog[off] ^= 0x20;

	size_t full = nd.ev.eventlog_len;
	nd.ev.eventlog_len = full - 7;
	CHECK_INT(verdict(&nd, nd.ak, nonce, sizeof(nonce), NULL, "eventlog", "offset"),
		  ATTEST_CONTRAINDICATED);
	nd.ev.eventlog_len = full;

	/* An IMA entry dropped from the end. */
	size_t ima_full = nd.ev.ima_len;
	nd.ev.ima_len = ima_full - (4 + 20 + 4 + 6 + 4 + 4 + 8 + 32 + 4 + strlen("/usr/bin/tool19") + 1);
	CHECK_INT(verdict(&nd, nd.ak, nonce, sizeof(nonce), NULL, "ima", "PCR 10"),
		  ATTEST_CONTRAINDICATED);
	nd.ev.ima_len = ima_full;

	/* Another AK named in the evidence than the one that signed. */
	EVP_PKEY *k2 = new_key();
	free(nd.ev.ak_pem);
	nd.ev.ak_pem = pem_of(k2);
	CHECK_INT(verdict(&nd, nd.ak, nonce, sizeof(nonce), NULL, "ak", "not the enrolled AK"),
		  ATTEST_CONTRAINDICATED);
	EVP_PKEY_free(k2);
	free_node(&nd);
}

static void test_verify_refs(void)
{
	struct node nd;
	make_node(&nd, 10);
	char *text;
	size_t len;
	FILE *f = open_memstream(&text, &len);
	struct attest_evidence *list[] = { &nd.ev };
	struct moat_error err;
	CHECK_INT(attest_refs_generate(f, list, 1, &err), 0);
	fclose(f);
	struct attest_refs *refs = NULL;
	if (attest_refs_parse(text, len, "refs.yaml", &refs, &err) < 0) {
		unit_fail("generated refs do not parse: %s\n%s", err.msg, text);
		free(text);
		free_node(&nd);
		return;
	}
	CHECK_INT(verdict(&nd, nd.ak, nonce, sizeof(nonce), refs, NULL, NULL), ATTEST_AFFIRMING);
	attest_refs_free(refs);

	/* One file's digest differs from the allow-list. */
	char *p = strstr(text, "/usr/bin/tool3\": [\"sha256:");
	CHECK(p != NULL);
	if (p) {
		p += strlen("/usr/bin/tool3\": [\"sha256:");
		*p = *p == '0' ? '1' : '0';
		CHECK_INT(attest_refs_parse(text, len, "refs.yaml", &refs, &err), 0);
		CHECK_INT(verdict(&nd, nd.ak, nonce, sizeof(nonce), refs, "ima-allowlist",
				  "/usr/bin/tool3"), ATTEST_CONTRAINDICATED);
		attest_refs_free(refs);
	}
	free(text);

	static const char strict[] =
		"events:\n"
		"  - pcr: 8\n"
		"    type: EV_IPL\n"
		"    digests: [\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"]\n"
		"ima:\n"
		"  unknown: warning\n"
		"  exclude: [\"/usr/bin/tool1*\"]\n"
		"  allow: {}\n";
	CHECK_INT(attest_refs_parse(strict, strlen(strict), "strict.yaml", &refs, &err), 0);
	if (refs) {
		CHECK_INT(verdict(&nd, nd.ak, nonce, sizeof(nonce), refs, "boot-events", "EV_IPL"),
			  ATTEST_CONTRAINDICATED);
		attest_refs_free(refs);
	}
	free_node(&nd);
}

/* AK keys of every kind an AK can be read back as the same key, through
 * moat's DER path; an EC point off the curve is refused. */
static void test_pem_keys(void)
{
	EVP_PKEY *keys[] = { EVP_EC_gen("P-256"), EVP_EC_gen("P-384"),
			     EVP_RSA_gen(2048) };
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		char *pem = pem_of(keys[i]);
		EVP_PKEY *back = NULL;
		struct moat_error err;
		CHECK_INT(attest_pem_parse(pem, strlen(pem), "k.pem", (struct evp_pkey_st **)&back,
					   &err), 0);
		CHECK(back && EVP_PKEY_eq(back, keys[i]) == 1);
		EVP_PKEY_free(back);
		free(pem);
	}
	/* The P-256 key with one byte of its point's y changed. */
	char *pem = pem_of(keys[0]);
	char *b64 = strchr(pem, '\n') + 1;
	uint8_t *der;
	size_t n, bad;
	char text[200];
	size_t t = 0;
	for (char *c = b64; *c != '-'; c++)
		if (*c != '\n')
			text[t++] = *c;
	CHECK_INT(base64_decode(text, t, &der, &n, &bad), 0);
	der[n - 1] ^= 1;
	char *enc = base64_encode(der, n);
	char *bent = xasprintf("-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n", enc);
	EVP_PKEY *k = NULL;
	struct moat_error err;
	CHECK_INT(attest_pem_parse(bent, strlen(bent), "bent.pem", (struct evp_pkey_st **)&k, &err),
		  -1);
	CHECK(k == NULL);
	free(bent);
	free(enc);
	free(der);
	free(pem);
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		EVP_PKEY_free(keys[i]);
}

/* ---- parsers and their messages --------------------------------------------- */

static void expect_json_error(const char *text, const char *want)
{
	char *copy = xstrdup(text);
	struct arena *a = arena_new();
	struct ynode *root;
	struct moat_error err;
	if (json_parse_tree(copy, strlen(copy), "t.json", a, &root, &err) == 0)
		unit_fail("'%s' parsed", text);
	else if (!strstr(err.msg, want))
		unit_fail("'%s': message '%s' lacks '%s'", text, err.msg, want);
	arena_free(a);
	free(copy);
}

static void test_json_reader(void)
{
	char text[] = "{\n  \"a\": [1, -2.5e3, true, null],\n  \"b\\u00e9\\ud83d\\ude00\": \"x\\n\\\"y\"\n}";
	struct arena *a = arena_new();
	struct ynode *root;
	struct moat_error err;
	CHECK_INT(json_parse_tree(text, strlen(text), "t.json", a, &root, &err), 0);
	const struct ynode *arr = ymap_get(root, "a");
	CHECK(arr && arr->type == YNODE_SEQ && arr->len == 4);
	if (arr && arr->len == 4) {
		CHECK_STR(arr->items[1]->str, "-2.5e3");
		CHECK_INT(arr->items[0]->line, 2);
		CHECK_INT(arr->items[0]->col, 9);
		CHECK(ynode_is_null(arr->items[3]));
	}
	CHECK(ymap_get(root, "b\xc3\xa9\xf0\x9f\x98\x80") != NULL);
	const struct ynode *b = root->len == 2 ? root->pairs[1].val : NULL;
	CHECK(b && strcmp(b->str, "x\n\"y") == 0);
	arena_free(a);

	expect_json_error("{\"a\": 1, \"a\": 2}", "t.json:1:10: duplicate key \"a\"");
	expect_json_error("{\"a\": 1}\n x", "t.json:2:2: text after the end");
	expect_json_error("[1, 2", "expected ',' or ']'");
	expect_json_error("\"\\x\"", "unknown escape");
	expect_json_error("\"\\ud800\"", "unpaired UTF-16 surrogate");
	expect_json_error("[01]", "expected ',' or ']'");
	expect_json_error("\"a\nb\"", "control character");
	expect_json_error("", "expected a value");
	char deep[1000];
	memset(deep, '[', sizeof(deep) - 1);
	deep[sizeof(deep) - 1] = '\0';
	expect_json_error(deep, "nested deeper than");
}

static void expect_evidence_error(const char *text, const char *want)
{
	struct attest_evidence ev;
	struct moat_error err;
	if (attest_evidence_parse(text, strlen(text), "ev.json", &ev, &err) == 0) {
		unit_fail("evidence parsed: %s", text);
		attest_evidence_free(&ev);
	} else if (!strstr(err.msg, want)) {
		unit_fail("message '%s' lacks '%s'", err.msg, want);
	}
}

static void test_evidence_errors(void)
{
#define HEAD "{\"moat_version\": \"0.1.0\", \"timestamp\": \"t\",\n"
#define AK "\"ak\": {\"public_pem\": \"x\"}"
	expect_evidence_error("[]", "ev.json:1:1: evidence: expected an object");
	expect_evidence_error(HEAD "\"quote\": {\"attest\": \"AAA*\", \"signature\": \"\"},"
			      "\"pcrs\": {}, " AK "}", "ev.json:2:21: quote.attest: not base64");
	expect_evidence_error(HEAD "\"quote\": {\"attest\": \"\", \"signature\": \"\"},\n"
			      "\"pcrs\": {\"sha256\": {\"24\": \"00\"}}, " AK "}",
			      "ev.json:3:21: pcrs.sha256.24: a PCR index is 0 to 23");
	expect_evidence_error(HEAD "\"quote\": {\"attest\": \"\", \"signature\": \"\"},\n"
			      "\"pcrs\": {\"sha256\": {\"7\": \"00\"}}, " AK "}",
			      "pcrs.sha256.7: expected 64 hex digits, found 2");
	expect_evidence_error(HEAD "\"quote\": {\"attest\": \"\", \"signature\": \"\"},\n"
			      "\"pcrs\": {\"md5\": {}}, " AK "}", "pcrs.md5: unknown hash algorithm");
	expect_evidence_error(HEAD "\"quote\": {\"attest\": \"\", \"signature\": \"\"},\n"
			      "\"pcrs\": {}, " AK ", \"extra\": 1}", "evidence: unknown field \"extra\"");
	expect_evidence_error(HEAD "\"pcrs\": {}, " AK "}", "quote: missing");
	expect_evidence_error("{\"timestamp\": \"t\"}", "moat_version: missing");
#undef HEAD
#undef AK
}

static void expect_refs_error(const char *text, const char *want)
{
	struct attest_refs *r;
	struct moat_error err;
	if (attest_refs_parse(text, strlen(text), "refs.yaml", &r, &err) == 0) {
		unit_fail("refs parsed: %s", text);
		attest_refs_free(r);
	} else if (!strstr(err.msg, want)) {
		unit_fail("message '%s' lacks '%s'", err.msg, want);
	}
}

static void test_refs_errors(void)
{
	expect_refs_error("pcrs:\n  sha256:\n    30: [\"00\"]\n",
			  "refs.yaml:3:5: pcrs.sha256.30: a PCR index is 0 to 23");
	expect_refs_error("events:\n  - pcr: 4\n    type: EV_BOGUS\n    digests: []\n",
			  "refs.yaml:3:11: events[0]: type: unknown event type \"EV_BOGUS\"");
	expect_refs_error("events:\n  - pcr: 4\n    digests: [\"sha256:00\"]\n",
			  "refs.yaml:3:15: events[0]: expected 64 hex digits after \"sha256:\"");
	expect_refs_error("ima:\n  allow:\n    /bin/a: [\"md5:00\"]\n",
			  "refs.yaml:3:14: ima.allow./bin/a: unknown hash algorithm \"md5\"");
	expect_refs_error("ima:\n  unknown: maybe\n", "ima.unknown: expected contraindicated or warning");
	expect_refs_error("bogus: 1\n", "refs.yaml:1:1: refs: unknown section \"bogus\"");
	expect_refs_error("- 1\n", "expected a mapping");
}

int main(void)
{
	TEST(test_json_reader);
	TEST(test_evidence_errors);
	TEST(test_refs_errors);
	TEST(test_verify_affirming);
	TEST(test_verify_tampered);
	TEST(test_verify_refs);
	TEST(test_pem_keys);
	return unit_done();
}
