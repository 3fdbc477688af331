/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attest/quote.c: TPMS_ATTEST, TPMT_SIGNATURE, TPMT_PUBLIC, the signature
 * check and the pcrDigest, against quotes real TPMs made (keylime's
 * tpm2_quote outputs, go-attestation's GCP shielded VM bundle, both in
 * ../shared/conformance/eventlog) and against structures built here with
 * keys made here; then PCR selection specs and hostile input.
 */
#include "attest/attest.h"
#include "unit.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#define KEYLIME "keylime_keylime__test-data__files__"
#define GCP "google_go-attestation__attest__testdata__windows_gcp_shielded_vm.json"

/* Reads a file of ../shared/conformance/eventlog; NULL (and the test
 * skipped) when ../shared is not beside the checkout. */
static uint8_t *shared_file(const char *name, size_t *len)
{
	char path[1024];
	char *data;
	struct moat_error err;
	snprintf(path, sizeof(path), "%s/conformance/eventlog/%s", unit_shared_dir(), name);
	if (access(path, R_OK) != 0) {
		unit_skip("%s is absent (../shared/conformance not beside the checkout)", path);
		return NULL;
	}
	if (read_file(path, 1u << 20, &data, len, &err) < 0) {
		unit_fail("%s", err.msg);
		return NULL;
	}
	return (uint8_t *)data;
}

static size_t unhex(const char *hex, uint8_t *out, size_t max)
{
	size_t n = strlen(hex) / 2;
	for (size_t i = 0; i < n && i < max; i++)
		sscanf(hex + 2 * i, "%2hhx", &out[i]);
	return n;
}

static uint8_t *b64(const char *s, size_t *len)
{
	size_t n = strlen(s);
	uint8_t *out = xmalloc(n / 4 * 3 + 3);
	int r = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	if (r < 0) {
		free(out);
		return NULL;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	size_t m = (size_t)r;
	for (size_t i = n; i > 0 && s[i - 1] == '='; i--)
		m--;
	*len = m;
	return out;
}

static void pkey_freep(EVP_PKEY **k)
{
	EVP_PKEY_free(*k);
}

/*
 * tpm2-tools' PCR output ("serialized"): TPML_PCR_SELECTION as the C struct
 * (host order; 16 TPMS_PCR_SELECTION of 8 bytes with padding), a u32
 * count, then that many TPML_DIGEST structs (u32 count, 8 TPM2B_DIGEST of
 * 2 + 64 bytes).  The digests follow the selection, lowest PCR first.
 */
static int tpm2_tools_pcrs(const uint8_t *buf, size_t len, struct attest_pcrs *out)
{
	uint32_t nsel, nlists;
	if (len < 136)
		return -1;
	memcpy(&nsel, buf, 4);
	memcpy(&nlists, buf + 132, 4);
	if (nsel > 16 || nlists > 16 || len < 136 + (size_t)nlists * (4 + 8 * 66))
		return -1;
	uint32_t list = 0, item = 0;
	for (uint32_t i = 0; i < nsel; i++) {
		const uint8_t *s = buf + 4 + 8 * i;
		uint16_t alg;
		memcpy(&alg, s, 2);
		struct attest_pcr_bank *b = attest_pcrs_add_bank(out, alg);
		if (!b)
			return -1;
		for (uint32_t pcr = 0; pcr < 24; pcr++) {
			if (!(s[3 + pcr / 8] & (1u << (pcr % 8))))
				continue;
			const uint8_t *l = buf + 136 + list * (4 + 8 * 66);
			uint32_t count;
			memcpy(&count, l, 4);
			if (item >= count || count > 8)
				return -1;
			const uint8_t *d = l + 4 + item * 66;
			uint16_t size;
			memcpy(&size, d, 2);
			if (size != b->size)
				return -1;
			memcpy(b->pcr[pcr], d + 2, size);
			b->set |= 1u << pcr;
			if (++item == 8) {
				item = 0;
				list++;
			}
		}
	}
	return 0;
}

static void test_keylime_quote(void)
{
	size_t qlen, slen, plen, pemlen, publen, namelen;
	_cleanup_free_ uint8_t *qb = shared_file(KEYLIME "quote.out", &qlen);
	_cleanup_free_ uint8_t *sb = shared_file(KEYLIME "quotesig.out", &slen);
	_cleanup_free_ uint8_t *pb = shared_file(KEYLIME "quotepcr.out", &plen);
	_cleanup_free_ uint8_t *pem = shared_file(KEYLIME "akpub.pem", &pemlen);
	_cleanup_free_ uint8_t *pub = shared_file(KEYLIME "ak.pub", &publen);
	_cleanup_free_ uint8_t *akname = shared_file(KEYLIME "ak.name", &namelen);
	if (!qb || !sb || !pb || !pem || !pub || !akname)
		return;
	struct moat_error err = { 0 };
	struct attest_quote q;
	struct attest_signature sig;
	if (attest_quote_parse(qb, qlen, &q, &err) < 0) {
		unit_fail("quote.out: %s", err.msg);
		return;
	}
	CHECK_INT(q.magic, TPM_GENERATED_VALUE);
	CHECK_INT(q.type, TPM_ST_ATTEST_QUOTE);
	uint8_t nonce[20];
	unhex("db1db298db6d60e6385b7231743e9c3056a18003", nonce, sizeof(nonce));
	CHECK_INT(q.extra_len, 20);
	CHECK(memcmp(q.extra, nonce, 20) == 0);
	CHECK_INT(q.clock, 5994);
	CHECK_INT(q.reset_count, 0);
	CHECK_INT(q.restart_count, 0);
	CHECK_INT(q.safe, 1);
	CHECK_INT(q.signer_len, 34);
	CHECK_INT(q.nsel, 1);
	CHECK_INT(q.sel[0].alg, TPM_ALG_SHA256);
	CHECK_INT(q.sel[0].mask, (1u << 15) | (1u << 16) | (1u << 22));
	CHECK_INT(q.pcr_digest_len, 32);

	if (attest_signature_parse(sb, slen, &sig, &err) < 0) {
		unit_fail("quotesig.out: %s", err.msg);
		return;
	}
	CHECK_INT(sig.sig_alg, TPM_ALG_RSASSA);
	CHECK_INT(sig.hash_alg, TPM_ALG_SHA256);
	CHECK_INT(sig.a_len, 256);

	_cleanup_(pkey_freep) EVP_PKEY *ak = NULL;
	if (attest_pem_parse((const char *)pem, pemlen, "akpub.pem", &ak, &err) < 0) {
		unit_fail("%s", err.msg);
		return;
	}
	CHECK_INT(attest_signature_verify(ak, qb, qlen, &sig, &err), 1);

	/* The TPM2B_PUBLIC gives the same key, and the name tpm2-tools wrote. */
	_cleanup_(pkey_freep) EVP_PKEY *ak2 = NULL;
	uint8_t name[2 + ATTEST_MAX_DIGEST];
	size_t name_len = 0;
	if (attest_tpm_public_parse(pub, publen, true, &ak2, name, &name_len, &err) < 0) {
		unit_fail("ak.pub: %s", err.msg);
		return;
	}
	CHECK_INT(EVP_PKEY_eq(ak, ak2), 1);
	CHECK_INT(name_len, namelen);
	CHECK(name_len == namelen && memcmp(name, akname, namelen) == 0);

	/* pcrDigest = SHA-256(PCR15 || PCR16 || PCR22). */
	struct attest_pcrs pcrs = { 0 };
	CHECK_INT(tpm2_tools_pcrs(pb, plen, &pcrs), 0);
	uint8_t d[ATTEST_MAX_DIGEST];
	size_t dlen = 0;
	CHECK_INT(attest_pcr_digest(&pcrs, &q, sig.hash_alg, d, &dlen, &err), 0);
	CHECK_INT(dlen, 32);
	CHECK(dlen == q.pcr_digest_len && memcmp(d, q.pcr_digest, dlen) == 0);
	/* A PCR the quote covers, changed: the digest no longer matches. */
	pcrs.bank[0].pcr[16][0] ^= 1;
	CHECK_INT(attest_pcr_digest(&pcrs, &q, sig.hash_alg, d, &dlen, &err), 0);
	CHECK(memcmp(d, q.pcr_digest, dlen) != 0);
	/* One it needs, missing. */
	pcrs.bank[0].set &= ~(1u << 22);
	CHECK_INT(attest_pcr_digest(&pcrs, &q, sig.hash_alg, d, &dlen, &err), -1);
	CHECK(strstr(err.msg, "sha256 PCR 22 has no value") != NULL);

	/* Any flipped byte of the quote or the signature fails the check. */
	for (size_t i = 0; i < qlen; i += 7) {
		qb[i] ^= 0x40;
		CHECK_INT(attest_signature_verify(ak, qb, qlen, &sig, &err), 0);
		qb[i] ^= 0x40;
	}
	uint8_t *s = (uint8_t *)sig.a;
	s[100] ^= 1;
	CHECK_INT(attest_signature_verify(ak, qb, qlen, &sig, &err), 0);
	CHECK(strstr(err.msg, "does not verify") != NULL);
	s[100] ^= 1;
	CHECK_INT(attest_signature_verify(ak, qb, qlen, &sig, &err), 1);
	/* RSASSA called RSAPSS no longer verifies; ECDSA with an RSA key
	 * cannot be checked at all. */
	struct attest_signature pss = sig;
	pss.sig_alg = TPM_ALG_RSAPSS;
	CHECK_INT(attest_signature_verify(ak, qb, qlen, &pss, &err), 0);
	struct attest_signature ec = sig;
	ec.sig_alg = TPM_ALG_ECDSA;
	CHECK_INT(attest_signature_verify(ak, qb, qlen, &ec, &err), -1);
	struct attest_signature shortsig = sig;
	shortsig.a_len = 255;
	CHECK_INT(attest_signature_verify(ak, qb, qlen, &shortsig, &err), -1);
}

static void test_gcp_shielded_vm(void)
{
	size_t len;
	_cleanup_free_ uint8_t *js = shared_file(GCP, &len);
	if (!js)
		return;
	json_error_t jerr;
	json_t *root = json_loadb((const char *)js, len, 0, &jerr);
	if (!root) {
		unit_fail("%s: %s", GCP, jerr.text);
		return;
	}
	const char *pub64 = json_string_value(json_object_get(json_object_get(root, "AK"), "Public"));
	json_t *quote = json_object_get(root, "Quote");
	const char *q64 = json_string_value(json_object_get(quote, "Quote"));
	const char *s64 = json_string_value(json_object_get(quote, "Signature"));
	json_t *jp = json_object_get(json_object_get(root, "Log"), "PCRs");
	CHECK(pub64 && q64 && s64 && json_is_array(jp));
	if (!pub64 || !q64 || !s64 || !json_is_array(jp)) {
		json_decref(root);
		return;
	}
	size_t publen, qlen, slen;
	_cleanup_free_ uint8_t *pub = b64(pub64, &publen);
	_cleanup_free_ uint8_t *qb = b64(q64, &qlen);
	_cleanup_free_ uint8_t *sb = b64(s64, &slen);
	struct attest_pcrs pcrs = { 0 };
	struct attest_pcr_bank *b = attest_pcrs_add_bank(&pcrs, TPM_ALG_SHA1);
	size_t i;
	json_t *v;
	json_array_foreach(jp, i, v)
	{
		json_int_t idx = json_integer_value(json_object_get(v, "Index"));
		size_t dlen;
		_cleanup_free_ uint8_t *d =
			b64(json_string_value(json_object_get(v, "Digest")), &dlen);
		if (d && idx >= 0 && idx < 24 && dlen == 20) {
			memcpy(b->pcr[idx], d, 20);
			b->set |= 1u << idx;
		}
	}
	json_decref(root);
	CHECK_INT(b->set, 0xffffff);

	struct moat_error err = { 0 };
	_cleanup_(pkey_freep) EVP_PKEY *ak = NULL;
	uint8_t name[2 + ATTEST_MAX_DIGEST];
	size_t name_len;
	struct attest_quote q;
	struct attest_signature sig;
	if (!pub || attest_tpm_public_parse(pub, publen, false, &ak, name, &name_len, &err) < 0) {
		unit_fail("AK.Public: %s", err.msg);
		return;
	}
	CHECK_INT(EVP_PKEY_get_bits(ak), 2048);
	CHECK_INT(name_len, 34);
	if (attest_quote_parse(qb, qlen, &q, &err) < 0 ||
	    attest_signature_parse(sb, slen, &sig, &err) < 0) {
		unit_fail("%s", err.msg);
		return;
	}
	CHECK_INT(q.magic, TPM_GENERATED_VALUE);
	CHECK_INT(q.extra_len, 0);
	CHECK_INT(q.nsel, 1);
	CHECK_INT(q.sel[0].alg, TPM_ALG_SHA1);
	CHECK_INT(q.sel[0].mask, 0xffffff);
	CHECK_INT(sig.sig_alg, TPM_ALG_RSASSA);
	CHECK_INT(sig.hash_alg, TPM_ALG_SHA1);
	CHECK_INT(attest_signature_verify(ak, qb, qlen, &sig, &err), 1);

	uint8_t d[ATTEST_MAX_DIGEST], want[20];
	size_t dlen;
	unhex("a610f27bc687ce906243287d832706036e79f6e1", want, sizeof(want));
	CHECK_INT(attest_pcr_digest(&pcrs, &q, sig.hash_alg, d, &dlen, &err), 0);
	CHECK_INT(dlen, 20);
	CHECK(memcmp(d, want, 20) == 0);
	CHECK(memcmp(d, q.pcr_digest, 20) == 0);

	qb[qlen - 1] ^= 0x80;
	CHECK_INT(attest_signature_verify(ak, qb, qlen, &sig, &err), 0);
}

/* ---- structures built here ---- */

struct wbuf {
	uint8_t b[2048];
	size_t n;
};
static void w8(struct wbuf *w, uint8_t v)
{
	w->b[w->n++] = v;
}
static void w16(struct wbuf *w, uint16_t v)
{
	w8(w, (uint8_t)(v >> 8));
	w8(w, (uint8_t)v);
}
static void w32(struct wbuf *w, uint32_t v)
{
	w16(w, (uint16_t)(v >> 16));
	w16(w, (uint16_t)v);
}
static void w64(struct wbuf *w, uint64_t v)
{
	w32(w, (uint32_t)(v >> 32));
	w32(w, (uint32_t)v);
}
static void wbytes(struct wbuf *w, const void *p, size_t n)
{
	memcpy(w->b + w->n, p, n);
	w->n += n;
}
static void w2b(struct wbuf *w, const void *p, uint16_t n)
{
	w16(w, n);
	wbytes(w, p, n);
}

/* A quote over sha1:0,7 + sha256:16,23 with nonce "moat-nonce". */
static void build_quote(struct wbuf *w, const uint8_t *pcr_digest, uint32_t magic)
{
	static const uint8_t signer[34] = { 0x00, 0x0b, 1, 2, 3 };
	w->n = 0;
	w32(w, magic);
	w16(w, TPM_ST_ATTEST_QUOTE);
	w2b(w, signer, sizeof(signer));
	w2b(w, "moat-nonce", 10);
	w64(w, 123456789);
	w32(w, 7);
	w32(w, 3);
	w8(w, 1);
	w64(w, 0x2010001200000000ull);
	w32(w, 2);
	w16(w, TPM_ALG_SHA1);
	w8(w, 3);
	w8(w, 0x81);
	w8(w, 0);
	w8(w, 0);
	w16(w, TPM_ALG_SHA256);
	w8(w, 3);
	w8(w, 0);
	w8(w, 0);
	w8(w, 0x81);
	w2b(w, pcr_digest, 32);
}

static void fill_pcrs(struct attest_pcrs *p)
{
	memset(p, 0, sizeof(*p));
	struct attest_pcr_bank *b1 = attest_pcrs_add_bank(p, TPM_ALG_SHA1);
	struct attest_pcr_bank *b2 = attest_pcrs_add_bank(p, TPM_ALG_SHA256);
	for (int i = 0; i < 24; i++) {
		memset(b1->pcr[i], i + 1, 20);
		memset(b2->pcr[i], 0x80 + i, 32);
	}
	b1->set = b2->set = 0xffffff;
}

/* TPMT_PUBLIC of an EC P-256 signing key from OpenSSL's key. */
static void build_ecc_public(struct wbuf *w, EVP_PKEY *key)
{
	uint8_t pt[65];
	size_t ptlen = 0;
	EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &ptlen);
	w->n = 0;
	w16(w, TPM_ALG_ECC);
	w16(w, TPM_ALG_SHA256);
	w32(w, 0x00050072);
	w16(w, 0);
	w16(w, TPM_ALG_NULL);
	w16(w, TPM_ALG_ECDSA);
	w16(w, TPM_ALG_SHA256);
	w16(w, 0x0003);
	w16(w, TPM_ALG_NULL);
	/* x with its leading zero stripped when it has one, as TPMs may. */
	size_t skip = pt[1] == 0 ? 1 : 0;
	w2b(w, pt + 1 + skip, (uint16_t)(32 - skip));
	w2b(w, pt + 33, 32);
}

static void build_rsa_public(struct wbuf *w, EVP_PKEY *key, uint32_t exponent)
{
	BIGNUM *n = NULL;
	uint8_t mod[256];
	EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n);
	BN_bn2binpad(n, mod, sizeof(mod));
	BN_free(n);
	w->n = 0;
	w16(w, TPM_ALG_RSA);
	w16(w, TPM_ALG_SHA256);
	w32(w, 0x00050072);
	w16(w, 0);
	w16(w, TPM_ALG_NULL);
	w16(w, TPM_ALG_RSAPSS);
	w16(w, TPM_ALG_SHA256);
	w16(w, 2048);
	w32(w, exponent);
	w2b(w, mod, sizeof(mod));
}

/* Signs msg with OpenSSL, then spells the signature as a TPM does. */
static void sign_tpm(EVP_PKEY *key, const struct wbuf *msg, uint16_t sig_alg, struct wbuf *out)
{
	uint8_t der[600];
	size_t dlen = sizeof(der);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, key);
	if (sig_alg == TPM_ALG_RSAPSS) {
		EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
		EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
	}
	EVP_DigestSign(ctx, der, &dlen, msg->b, msg->n);
	EVP_MD_CTX_free(ctx);
	out->n = 0;
	w16(out, sig_alg);
	w16(out, TPM_ALG_SHA256);
	if (sig_alg != TPM_ALG_ECDSA) {
		w2b(out, der, (uint16_t)dlen);
		return;
	}
	const uint8_t *p = der;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
	uint8_t r[32], s[32];
	BN_bn2binpad(ECDSA_SIG_get0_r(es), r, 32);
	BN_bn2binpad(ECDSA_SIG_get0_s(es), s, 32);
	ECDSA_SIG_free(es);
	w2b(out, r, 32);
	w2b(out, s, 32);
}

static void test_synthetic_ecdsa(void)
{
	_cleanup_(pkey_freep) EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	struct attest_pcrs pcrs;
	struct attest_quote q;
	struct attest_signature sig;
	struct moat_error err = { 0 };
	struct wbuf pub, quote, sigb;
	uint8_t d[ATTEST_MAX_DIGEST], name[2 + ATTEST_MAX_DIGEST];
	size_t dlen, name_len;

	/* The digest over sha1 0,7 then sha256 16,23. */
	fill_pcrs(&pcrs);
	uint8_t cat[2 * 20 + 2 * 32];
	memcpy(cat, pcrs.bank[0].pcr[0], 20);
	memcpy(cat + 20, pcrs.bank[0].pcr[7], 20);
	memcpy(cat + 40, pcrs.bank[1].pcr[16], 32);
	memcpy(cat + 72, pcrs.bank[1].pcr[23], 32);
	uint8_t want[32];
	attest_hash(TPM_ALG_SHA256, cat, sizeof(cat), want);

	build_quote(&quote, want, TPM_GENERATED_VALUE);
	CHECK_INT(attest_quote_parse(quote.b, quote.n, &q, &err), 0);
	CHECK_INT(q.clock, 123456789);
	CHECK_INT(q.reset_count, 7);
	CHECK_INT(q.restart_count, 3);
	CHECK_INT(q.firmware_version, 0x2010001200000000ull);
	CHECK_INT(q.extra_len, 10);
	CHECK(memcmp(q.extra, "moat-nonce", 10) == 0);
	CHECK_INT(q.sel[0].mask, 0x81);
	CHECK_INT(q.sel[1].mask, 0x810000);
	CHECK_INT(attest_pcr_digest(&pcrs, &q, TPM_ALG_SHA256, d, &dlen, &err), 0);
	CHECK(dlen == 32 && memcmp(d, want, 32) == 0);

	build_ecc_public(&pub, key);
	_cleanup_(pkey_freep) EVP_PKEY *k2 = NULL;
	CHECK_INT(attest_tpm_public_parse(pub.b, pub.n, false, &k2, name, &name_len, &err), 0);
	CHECK(k2 && EVP_PKEY_eq(key, k2) == 1);
	uint8_t h[32];
	attest_hash(TPM_ALG_SHA256, pub.b, pub.n, h);
	CHECK_INT(name_len, 34);
	CHECK(name[0] == 0 && name[1] == 0x0b && memcmp(name + 2, h, 32) == 0);

	sign_tpm(key, &quote, TPM_ALG_ECDSA, &sigb);
	CHECK_INT(attest_signature_parse(sigb.b, sigb.n, &sig, &err), 0);
	CHECK_INT(sig.sig_alg, TPM_ALG_ECDSA);
	CHECK_INT(attest_signature_verify(k2, quote.b, quote.n, &sig, &err), 1);
	quote.b[20] ^= 1;
	CHECK_INT(attest_signature_verify(k2, quote.b, quote.n, &sig, &err), 0);
	quote.b[20] ^= 1;
	/* An ECDSA signature is not checked against an RSA key. */
	_cleanup_(pkey_freep) EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	CHECK_INT(attest_signature_verify(rsa, quote.b, quote.n, &sig, &err), -1);
	CHECK(strstr(err.msg, "ECDSA signature cannot come from an RSA key") != NULL);

	/* A point off the curve is refused. */
	pub.b[pub.n - 1] ^= 1;
	_cleanup_(pkey_freep) EVP_PKEY *k3 = NULL;
	CHECK_INT(attest_tpm_public_parse(pub.b, pub.n, false, &k3, name, &name_len, &err), -1);
	CHECK(strstr(err.msg, "not on the curve") != NULL);
	CHECK(k3 == NULL);
}

static void test_synthetic_rsapss(void)
{
	_cleanup_(pkey_freep) EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	struct attest_pcrs pcrs;
	struct attest_signature sig;
	struct moat_error err = { 0 };
	struct wbuf pub, quote, sigb;
	uint8_t zero[32] = { 0 };
	fill_pcrs(&pcrs);
	build_quote(&quote, zero, TPM_GENERATED_VALUE);

	/* Exponent 0 is the TPM's way of writing 65537. */
	build_rsa_public(&pub, key, 0);
	struct wbuf sized = { .n = 0 };
	w2b(&sized, pub.b, (uint16_t)pub.n);
	_cleanup_(pkey_freep) EVP_PKEY *k2 = NULL;
	uint8_t name[2 + ATTEST_MAX_DIGEST];
	size_t name_len;
	CHECK_INT(attest_tpm_public_parse(sized.b, sized.n, true, &k2, name, &name_len, &err), 0);
	CHECK(k2 && EVP_PKEY_eq(key, k2) == 1);
	/* Unsized bytes passed as sized, and the reverse, are refused. */
	_cleanup_(pkey_freep) EVP_PKEY *k3 = NULL;
	CHECK_INT(attest_tpm_public_parse(pub.b, pub.n, true, &k3, name, &name_len, &err), -1);
	CHECK_INT(attest_tpm_public_parse(sized.b, sized.n, false, &k3, name, &name_len, &err), -1);
	CHECK(k3 == NULL);

	sign_tpm(key, &quote, TPM_ALG_RSAPSS, &sigb);
	CHECK_INT(attest_signature_parse(sigb.b, sigb.n, &sig, &err), 0);
	CHECK_INT(attest_signature_verify(k2, quote.b, quote.n, &sig, &err), 1);
	sig.sig_alg = TPM_ALG_RSASSA;
	CHECK_INT(attest_signature_verify(k2, quote.b, quote.n, &sig, &err), 0);
	sig.sig_alg = TPM_ALG_RSAPSS;
	sig.hash_alg = TPM_ALG_SHA384;
	CHECK_INT(attest_signature_verify(k2, quote.b, quote.n, &sig, &err), 0);
	sig.hash_alg = TPM_ALG_SM3_256;
	CHECK_INT(attest_signature_verify(k2, quote.b, quote.n, &sig, &err), -1);

	/* The same key as PEM, in both spellings. */
	BIO *bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PUBKEY(bio, key);
	OSSL_ENCODER_CTX *ectx = OSSL_ENCODER_CTX_new_for_pkey(key, EVP_PKEY_PUBLIC_KEY, "PEM",
							     "type-specific", NULL);
	OSSL_ENCODER_to_bio(ectx, bio);
	OSSL_ENCODER_CTX_free(ectx);
	char *mem;
	long n = BIO_get_mem_data(bio, &mem);
	char *pkcs1 = memmem(mem, (size_t)n, "-----BEGIN RSA PUBLIC KEY", 25);
	CHECK(pkcs1 != NULL);
	_cleanup_(pkey_freep) EVP_PKEY *p1 = NULL;
	_cleanup_(pkey_freep) EVP_PKEY *p2 = NULL;
	CHECK_INT(attest_pem_parse(mem, (size_t)(pkcs1 - mem), "spki.pem", &p1, &err), 0);
	CHECK(p1 && EVP_PKEY_eq(p1, key) == 1);
	if (pkcs1) {
		CHECK_INT(attest_pem_parse(pkcs1, (size_t)(mem + n - pkcs1), "pkcs1.pem", &p2, &err),
			  0);
		CHECK(p2 && EVP_PKEY_eq(p2, key) == 1);
	}
	BIO_free(bio);
}

static void test_pem_errors(void)
{
	struct moat_error err = { 0 };
	EVP_PKEY *k = NULL;
	CHECK_INT(attest_pem_parse("hello", 5, "ak.pem", &k, &err), -1);
	CHECK(strstr(err.msg, "ak.pem: no PEM public key") == err.msg);
	static const char bad[] = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
	CHECK_INT(attest_pem_parse(bad, sizeof(bad) - 1, "ak.pem", &k, &err), -1);
	CHECK_INT(attest_pem_load("/nonexistent/ak.pem", &k, &err), -1);
	CHECK(strstr(err.msg, "/nonexistent/ak.pem") != NULL);
	CHECK(k == NULL);
	char *big = xcalloc(1, (128u << 10) + 1);
	memset(big, 'A', 128u << 10);
	CHECK_INT(attest_pem_parse(big, 128u << 10, "big.pem", &k, &err), -1);
	CHECK(strstr(err.msg, "big.pem") != NULL);
	free(big);
}

/* Every proper prefix of a good structure fails, naming an offset inside it. */
static void truncations(const uint8_t *b, size_t n, int which)
{
	struct moat_error err;
	for (size_t i = 0; i < n; i++) {
		struct attest_quote q;
		struct attest_signature s;
		EVP_PKEY *k = NULL;
		uint8_t name[2 + ATTEST_MAX_DIGEST];
		size_t nl;
		int r = which == 0   ? attest_quote_parse(b, i, &q, &err)
			: which == 1 ? attest_signature_parse(b, i, &s, &err)
				     : attest_tpm_public_parse(b, i, false, &k, name, &nl, &err);
		if (r != -1 || strncmp(err.msg, "offset ", 7) != 0) {
			unit_fail("structure %d cut at %zu: %d, \"%s\"", which, i, r, err.msg);
			EVP_PKEY_free(k);
			return;
		}
		if (strtoul(err.msg + 7, NULL, 10) > i) {
			unit_fail("cut at %zu, error beyond it: %s", i, err.msg);
			return;
		}
	}
}

static void test_truncation(void)
{
	_cleanup_(pkey_freep) EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	struct wbuf quote, pub, sig;
	uint8_t zero[32] = { 0 };
	build_quote(&quote, zero, TPM_GENERATED_VALUE);
	build_ecc_public(&pub, key);
	sign_tpm(key, &quote, TPM_ALG_ECDSA, &sig);
	truncations(quote.b, quote.n, 0);
	truncations(sig.b, sig.n, 1);
	truncations(pub.b, pub.n, 2);

	/* And a byte too many. */
	struct moat_error err;
	struct attest_quote q;
	struct attest_signature s;
	quote.b[quote.n] = 0;
	CHECK_INT(attest_quote_parse(quote.b, quote.n + 1, &q, &err), -1);
	CHECK_STR(err.msg, "offset 129: TPMS_ATTEST: 1 trailing bytes");
	sig.b[sig.n] = 0;
	CHECK_INT(attest_signature_parse(sig.b, sig.n + 1, &s, &err), -1);
	CHECK(strstr(err.msg, "TPMT_SIGNATURE: 1 trailing bytes") != NULL);
}

static void test_hostile_quote(void)
{
	struct wbuf w;
	struct attest_quote q;
	struct moat_error err;
	uint8_t zero[32] = { 0 };

	/* Wrong magic: parsed, returned for the verifier to judge. */
	build_quote(&w, zero, 0xdeadbeef);
	CHECK_INT(attest_quote_parse(w.b, w.n, &q, &err), 0);
	CHECK_INT(q.magic, 0xdeadbeef);

	/* qualifiedSigner claiming 65535 bytes. */
	build_quote(&w, zero, TPM_GENERATED_VALUE);
	w.b[6] = w.b[7] = 0xff;
	CHECK_INT(attest_quote_parse(w.b, w.n, &q, &err), -1);
	CHECK_STR(err.msg, "offset 6: qualifiedSigner: size 65535 exceeds the 66 bytes it may hold");

	/* 4 billion banks. */
	build_quote(&w, zero, TPM_GENERATED_VALUE);
	memset(w.b + 79, 0xff, 4);
	CHECK_INT(attest_quote_parse(w.b, w.n, &q, &err), -1);
	CHECK_STR(err.msg, "offset 79: pcrSelect.count: 4294967295 banks, at most 5");

	/* sizeofSelect 200. */
	build_quote(&w, zero, TPM_GENERATED_VALUE);
	w.b[85] = 200;
	CHECK_INT(attest_quote_parse(w.b, w.n, &q, &err), -1);
	CHECK_STR(err.msg, "offset 85: pcrSelect[0]: sizeofSelect 200 exceeds 4");

	/* A digest longer than any hash. */
	build_quote(&w, zero, TPM_GENERATED_VALUE);
	w.b[w.n - 34] = 0x01;
	CHECK_INT(attest_quote_parse(w.b, w.n, &q, &err), -1);
	CHECK(strstr(err.msg, "pcrDigest: size 288 exceeds") != NULL);

	/* safe must be YES or NO. */
	build_quote(&w, zero, TPM_GENERATED_VALUE);
	w.b[70] = 7;
	CHECK_INT(attest_quote_parse(w.b, w.n, &q, &err), -1);
	CHECK_STR(err.msg, "offset 70: clockInfo.safe: 7 is neither YES nor NO");

	/* Another type, whose body is not a quote's, says so. */
	build_quote(&w, zero, TPM_GENERATED_VALUE);
	w.b[5] = 0x17;
	w.n -= 3;
	CHECK_INT(attest_quote_parse(w.b, w.n, &q, &err), -1);
	CHECK(strstr(err.msg, "type 0x8017 is not a quote: offset ") == err.msg);

	/* Unsigned and unknown signatures. */
	struct attest_signature s;
	static const uint8_t null_sig[] = { 0x00, 0x10 };
	static const uint8_t hmac_sig[] = { 0x00, 0x05, 0x00, 0x0b };
	CHECK_INT(attest_signature_parse(null_sig, sizeof(null_sig), &s, &err), -1);
	CHECK(strstr(err.msg, "not signed") != NULL);
	CHECK_INT(attest_signature_parse(hmac_sig, sizeof(hmac_sig), &s, &err), -1);
	CHECK_STR(err.msg, "offset 0: sigAlg: 0x0005 is not RSASSA, RSAPSS or ECDSA");
	static const uint8_t huge_rsa[] = { 0x00, 0x14, 0x00, 0x0b, 0xff, 0xff };
	CHECK_INT(attest_signature_parse(huge_rsa, sizeof(huge_rsa), &s, &err), -1);
	CHECK_STR(err.msg, "offset 4: sig: size 65535 exceeds the 512 bytes it may hold");
}

static void test_hostile_public(void)
{
	_cleanup_(pkey_freep) EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	struct wbuf w;
	struct moat_error err;
	EVP_PKEY *k = NULL;
	uint8_t name[2 + ATTEST_MAX_DIGEST];
	size_t nl;

	build_rsa_public(&w, key, 65537);
	CHECK_INT(attest_tpm_public_parse(w.b, w.n, false, &k, name, &nl, &err), 0);
	EVP_PKEY_free(k);
	k = NULL;
	/* keyBits that disagree with the modulus. */
	w.b[16] = 0x10;
	CHECK_INT(attest_tpm_public_parse(w.b, w.n, false, &k, name, &nl, &err), -1);
	CHECK_STR(err.msg, "offset 22: unique.rsa: a 256-byte modulus for a 4096-bit key");
	/* An even exponent. */
	build_rsa_public(&w, key, 4);
	CHECK_INT(attest_tpm_public_parse(w.b, w.n, false, &k, name, &nl, &err), -1);
	CHECK_STR(err.msg, "offset 18: parameters.exponent: 4 is not a valid exponent");
	/* A type that is not a key moat reads. */
	build_rsa_public(&w, key, 0);
	w.b[1] = 0x08; /* TPM_ALG_KEYEDHASH */
	CHECK_INT(attest_tpm_public_parse(w.b, w.n, false, &k, name, &nl, &err), -1);
	CHECK_STR(err.msg, "offset 0: type: 0x0008 is neither RSA nor ECC");
	/* An unknown nameAlg. */
	build_rsa_public(&w, key, 0);
	w.b[3] = 0x99;
	CHECK_INT(attest_tpm_public_parse(w.b, w.n, false, &k, name, &nl, &err), -1);
	CHECK_STR(err.msg, "offset 2: nameAlg: 0x0099 is not a hash moat knows");
	/* The ECC curve must be P-256 or P-384. */
	_cleanup_(pkey_freep) EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	build_ecc_public(&w, ec);
	w.b[17] = 0x05; /* P-521 */
	CHECK_INT(attest_tpm_public_parse(w.b, w.n, false, &k, name, &nl, &err), -1);
	CHECK_STR(err.msg, "offset 16: parameters.curveID: 0x0005 is not NIST P-256 or P-384");
	CHECK(k == NULL);
}

static void test_pcr_spec(void)
{
	struct attest_pcr_select sel[ATTEST_MAX_BANKS];
	uint32_t n = 99;
	struct moat_error err = { 0 };

	CHECK_INT(attest_pcr_spec_parse("sha256:0-9,10", sel, &n, &err), 0);
	CHECK_INT(n, 1);
	CHECK_INT(sel[0].alg, TPM_ALG_SHA256);
	CHECK_INT(sel[0].mask, 0x7ff);
	CHECK_INT(attest_pcr_spec_parse("sha1:0,1+sha256:all", sel, &n, &err), 0);
	CHECK_INT(n, 2);
	CHECK_INT(sel[0].alg, TPM_ALG_SHA1);
	CHECK_INT(sel[0].mask, 3);
	CHECK_INT(sel[1].alg, TPM_ALG_SHA256);
	CHECK_INT(sel[1].mask, 0xffffff);
	CHECK_INT(attest_pcr_spec_parse("SHA384:23+sha512:7-7", sel, &n, &err), 0);
	CHECK_INT(n, 2);
	CHECK_INT(sel[0].mask, 1u << 23);
	CHECK_INT(sel[1].mask, 1u << 7);

	static const struct {
		const char *spec, *msg;
	} bad[] = {
		{ "", "PCR selection: empty" },
		{ "sha256", "\"sha256\": expected <bank>:<pcrs>, as sha256:0-7" },
		{ "md5:1", "\"md5:1\": unknown bank \"md5\"" },
		{ "sha256:", "\"sha256:\": no PCRs" },
		{ "sha256:0-99", "\"0-99\": PCR 99 is out of range (0-23)" },
		{ "sha256:24", "\"24\": PCR 24 is out of range (0-23)" },
		{ "sha256:9-3", "\"9-3\": the range runs backwards" },
		{ "sha256:1,,2", "\"\": not a PCR, a range or \"all\"" },
		{ "sha256:1,x", "\"x\": not a PCR, a range or \"all\"" },
		{ "sha256:-1", "\"-1\": not a PCR, a range or \"all\"" },
		{ "sha256: 1", "\" 1\": not a PCR, a range or \"all\"" },
		{ "sha256:1-", "\"1-\": not a PCR, a range or \"all\"" },
		{ "sha256:99999999999999999999", "\"99999999999999999999\": not a PCR, a range or \"all\"" },
		{ "sha256:1+", "\"\": expected <bank>:<pcrs>, as sha256:0-7" },
		{ "sha256:1+sha256:2", "\"sha256:2\": bank sha256 selected twice" },
		{ "sha1:0+sha256:0+sha384:0+sha512:0+sm3_256:0+sha1:1",
		  "\"sha1:1\": bank sha1 selected twice" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		memset(&err, 0, sizeof(err));
		if (attest_pcr_spec_parse(bad[i].spec, sel, &n, &err) != -1)
			unit_fail("\"%s\" was accepted", bad[i].spec);
		else
			CHECK_STR(err.msg, bad[i].msg);
	}
}

int main(void)
{
	TEST(test_keylime_quote);
	TEST(test_gcp_shielded_vm);
	TEST(test_synthetic_ecdsa);
	TEST(test_synthetic_rsapss);
	TEST(test_pem_errors);
	TEST(test_truncation);
	TEST(test_hostile_quote);
	TEST(test_hostile_public);
	TEST(test_pcr_spec);
	return unit_done();
}
