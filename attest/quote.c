/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TPM 2.0 structures a verifier reads (TPM 2.0 Part 2, "Structures"):
 * TPMS_ATTEST of a quote, TPMT_SIGNATURE, TPMT_PUBLIC, and the checks built
 * on them: the signature against the AK, the pcrDigest against PCR values.
 *
 * Everything is big-endian on the wire.  Every TPM2B is bounded by the size
 * of the union it carries, so a hostile length never reaches an allocation:
 * nothing here allocates from the input at all, results point into it.
 */
#include "attest.h"

#include <errno.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

/* Largest TPM2B payloads moat accepts (Part 2, 10.4 and 11.2). */
#define TPM2B_NAME_MAX (2 + ATTEST_MAX_DIGEST)   /* sizeof(TPMU_NAME) */
#define TPM2B_DATA_MAX (2 + ATTEST_MAX_DIGEST)   /* sizeof(TPMT_HA) */
#define TPM2B_RSA_MAX 512                        /* MAX_RSA_KEY_BYTES, RSA-4096 */
#define TPM2B_ECC_MAX 66                         /* MAX_ECC_KEY_BYTES, P-521 */
#define PCR_SELECT_MAX 4                         /* 32 PCRs; moat knows 24 */
/* A PEM public key is a few hundred bytes; RSA-16384 stays under 4 KiB. */
#define PEM_MAX (64u << 10)

#define TPM_ALG_AES 0x0006
#define TPM_ALG_RSAES 0x0015
#define TPM_ALG_ECDAA 0x001A
#define TPM_ECC_NIST_P256 0x0003
#define TPM_ECC_NIST_P384 0x0004

/* A cursor over untrusted bytes: every read is bounds-checked, and a failed
 * read leaves the message naming the offset and the field. */
struct rd {
	const uint8_t *p;
	size_t len, off;
	struct moat_error *err;
};

static int rd_fail(struct rd *r, const char *field, const char *fmt, ...) PRINTF(3, 4);
static int rd_fail(struct rd *r, const char *field, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return moat_error_set(r->err, EBADMSG, "offset %zu: %s: %s", r->off, field, what);
}

static int rd_need(struct rd *r, size_t n, const char *field)
{
	if (r->len - r->off < n)
		return rd_fail(r, field, "truncated: needs %zu bytes, %zu left", n,
			       r->len - r->off);
	return 0;
}

static int rd_u8(struct rd *r, const char *field, uint8_t *v)
{
	if (rd_need(r, 1, field) < 0)
		return -1;
	*v = r->p[r->off++];
	return 0;
}

static int rd_u16(struct rd *r, const char *field, uint16_t *v)
{
	if (rd_need(r, 2, field) < 0)
		return -1;
	*v = (uint16_t)(r->p[r->off] << 8 | r->p[r->off + 1]);
	r->off += 2;
	return 0;
}

static int rd_u32(struct rd *r, const char *field, uint32_t *v)
{
	if (rd_need(r, 4, field) < 0)
		return -1;
	const uint8_t *p = r->p + r->off;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	r->off += 4;
	return 0;
}

static int rd_u64(struct rd *r, const char *field, uint64_t *v)
{
	uint32_t hi, lo;
	if (rd_u32(r, field, &hi) < 0 || rd_u32(r, field, &lo) < 0)
		return -1;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

/* A TPM2B: a u16 size, at most max, then that many bytes. */
static int rd_2b(struct rd *r, const char *field, uint16_t max, const uint8_t **d,
		 uint16_t *n)
{
	size_t at = r->off;
	if (rd_u16(r, field, n) < 0)
		return -1;
	if (*n > max) {
		r->off = at;
		return rd_fail(r, field, "size %u exceeds the %u bytes it may hold", *n, max);
	}
	if (rd_need(r, *n, field) < 0)
		return -1;
	*d = r->p + r->off;
	r->off += *n;
	return 0;
}

static int rd_end(struct rd *r, const char *what)
{
	if (r->off != r->len)
		return rd_fail(r, what, "%zu trailing bytes", r->len - r->off);
	return 0;
}

/* TPML_PCR_SELECTION (Part 2, 10.9.7), as a quote and tpm2-tools carry it. */
static int rd_pcr_selection(struct rd *r, struct attest_pcr_select *sel, uint32_t *nsel)
{
	uint32_t count;
	size_t at = r->off;
	if (rd_u32(r, "pcrSelect.count", &count) < 0)
		return -1;
	if (count > ATTEST_MAX_BANKS) {
		r->off = at;
		return rd_fail(r, "pcrSelect.count", "%u banks, at most %d", count,
			       ATTEST_MAX_BANKS);
	}
	for (uint32_t i = 0; i < count; i++) {
		char field[64];
		uint8_t size, b;
		snprintf(field, sizeof(field), "pcrSelect[%u]", i);
		if (rd_u16(r, field, &sel[i].alg) < 0)
			return -1;
		at = r->off;
		if (rd_u8(r, field, &size) < 0)
			return -1;
		if (size > PCR_SELECT_MAX) {
			r->off = at;
			return rd_fail(r, field, "sizeofSelect %u exceeds %d", size,
				       PCR_SELECT_MAX);
		}
		sel[i].mask = 0;
		for (uint8_t j = 0; j < size; j++) {
			at = r->off;
			if (rd_u8(r, field, &b) < 0)
				return -1;
			if (j >= ATTEST_NUM_PCRS / 8 && b) {
				r->off = at;
				return rd_fail(r, field, "selects PCRs above %d",
					       ATTEST_NUM_PCRS - 1);
			}
			if (j < ATTEST_NUM_PCRS / 8)
				sel[i].mask |= (uint32_t)b << (8 * j);
		}
	}
	*nsel = count;
	return 0;
}

int attest_quote_parse(const uint8_t *buf, size_t len, struct attest_quote *q,
		       struct moat_error *err)
{
	struct rd r = { .p = buf, .len = len, .err = err };
	size_t at;
	memset(q, 0, sizeof(*q));
	if (rd_u32(&r, "magic", &q->magic) < 0 || rd_u16(&r, "type", &q->type) < 0 ||
	    rd_2b(&r, "qualifiedSigner", TPM2B_NAME_MAX, &q->signer, &q->signer_len) < 0 ||
	    rd_2b(&r, "extraData", TPM2B_DATA_MAX, &q->extra, &q->extra_len) < 0 ||
	    rd_u64(&r, "clockInfo.clock", &q->clock) < 0 ||
	    rd_u32(&r, "clockInfo.resetCount", &q->reset_count) < 0 ||
	    rd_u32(&r, "clockInfo.restartCount", &q->restart_count) < 0)
		return -1;
	at = r.off;
	if (rd_u8(&r, "clockInfo.safe", &q->safe) < 0)
		return -1;
	if (q->safe > 1) {
		r.off = at;
		return rd_fail(&r, "clockInfo.safe", "%u is neither YES nor NO", q->safe);
	}
	if (rd_u64(&r, "firmwareVersion", &q->firmware_version) < 0)
		return -1;
	/* The attested union follows the type; moat reads only quotes, and
	 * leaves telling another type apart to the verifier. */
	if (rd_pcr_selection(&r, q->sel, &q->nsel) < 0 ||
	    rd_2b(&r, "pcrDigest", ATTEST_MAX_DIGEST, &q->pcr_digest, &q->pcr_digest_len) < 0 ||
	    rd_end(&r, "TPMS_ATTEST"))
		goto fail;
	return 0;
fail:
	if (q->type != TPM_ST_ATTEST_QUOTE)
		moat_error_wrap(err, "type 0x%04x is not a quote", q->type);
	return -1;
}

int attest_signature_parse(const uint8_t *buf, size_t len, struct attest_signature *sig,
			   struct moat_error *err)
{
	struct rd r = { .p = buf, .len = len, .err = err };
	memset(sig, 0, sizeof(*sig));
	if (rd_u16(&r, "sigAlg", &sig->sig_alg) < 0)
		return -1;
	switch (sig->sig_alg) {
	case TPM_ALG_RSASSA:
	case TPM_ALG_RSAPSS:
		if (rd_u16(&r, "hash", &sig->hash_alg) < 0 ||
		    rd_2b(&r, "sig", TPM2B_RSA_MAX, &sig->a, &sig->a_len) < 0)
			return -1;
		break;
	case TPM_ALG_ECDSA:
		if (rd_u16(&r, "hash", &sig->hash_alg) < 0 ||
		    rd_2b(&r, "signatureR", TPM2B_ECC_MAX, &sig->a, &sig->a_len) < 0 ||
		    rd_2b(&r, "signatureS", TPM2B_ECC_MAX, &sig->b, &sig->b_len) < 0)
			return -1;
		break;
	case TPM_ALG_NULL:
		r.off = 0;
		return rd_fail(&r, "sigAlg", "TPM_ALG_NULL: the quote is not signed");
	default:
		r.off = 0;
		return rd_fail(&r, "sigAlg", "0x%04x is not RSASSA, RSAPSS or ECDSA",
			       sig->sig_alg);
	}
	return rd_end(&r, "TPMT_SIGNATURE");
}

static const EVP_MD *alg_md(uint16_t alg)
{
	switch (alg) {
	case TPM_ALG_SHA1:
		return EVP_sha1();
	case TPM_ALG_SHA256:
		return EVP_sha256();
	case TPM_ALG_SHA384:
		return EVP_sha384();
	case TPM_ALG_SHA512:
		return EVP_sha512();
	}
	return NULL;
}

static void md_ctx_freep(EVP_MD_CTX **c)
{
	EVP_MD_CTX_free(*c);
}
static void ecdsa_sig_freep(ECDSA_SIG **s)
{
	ECDSA_SIG_free(*s);
}
static void bn_freep(BIGNUM **b)
{
	BN_free(*b);
}
static void pkey_freep(EVP_PKEY **k)
{
	EVP_PKEY_free(*k);
}
static void bio_freep(BIO **b)
{
	BIO_free(*b);
}
static void param_bld_freep(OSSL_PARAM_BLD **b)
{
	OSSL_PARAM_BLD_free(*b);
}
static void params_freep(OSSL_PARAM **p)
{
	OSSL_PARAM_free(*p);
}
static void pkey_ctx_freep(EVP_PKEY_CTX **c)
{
	EVP_PKEY_CTX_free(*c);
}
static void decoder_ctx_freep(OSSL_DECODER_CTX **c)
{
	OSSL_DECODER_CTX_free(*c);
}

int attest_signature_verify(struct evp_pkey_st *key, const uint8_t *msg, size_t len,
			    const struct attest_signature *sig, struct moat_error *err)
{
	int type = EVP_PKEY_get_base_id(key);
	const char *alg = sig->sig_alg == TPM_ALG_RSASSA   ? "RSASSA"
			  : sig->sig_alg == TPM_ALG_RSAPSS ? "RSAPSS"
			  : sig->sig_alg == TPM_ALG_ECDSA  ? "ECDSA"
							   : "unknown";
	bool rsa_sig = sig->sig_alg == TPM_ALG_RSASSA || sig->sig_alg == TPM_ALG_RSAPSS;
	if (!((type == EVP_PKEY_RSA && rsa_sig) ||
	      (type == EVP_PKEY_EC && sig->sig_alg == TPM_ALG_ECDSA)))
		return moat_error_set(err, EINVAL, "a %s signature cannot come from %s key", alg,
				      type == EVP_PKEY_RSA  ? "an RSA"
				      : type == EVP_PKEY_EC ? "an EC"
							    : "this");
	const EVP_MD *md = alg_md(sig->hash_alg);
	if (!md)
		return moat_error_set(err, EINVAL, "signature hash 0x%04x is not supported",
				      sig->hash_alg);

	_cleanup_free_ uint8_t *der = NULL;
	const uint8_t *s = sig->a;
	size_t slen = sig->a_len;
	if (type == EVP_PKEY_EC) {
		/* The TPM gives r and s as big-endian integers; OpenSSL wants
		 * the DER ECDSA-Sig-Value. */
		_cleanup_(ecdsa_sig_freep) ECDSA_SIG *es = ECDSA_SIG_new();
		_cleanup_(bn_freep) BIGNUM *r = BN_bin2bn(sig->a, sig->a_len, NULL);
		_cleanup_(bn_freep) BIGNUM *ss = BN_bin2bn(sig->b, sig->b_len, NULL);
		if (!es || !r || !ss)
			return moat_error_set(err, ENOMEM, "ECDSA signature: out of memory");
		if (!sig->a_len || !sig->b_len)
			return moat_error_set(err, EINVAL, "ECDSA signature: empty r or s");
		ECDSA_SIG_set0(es, steal_ptr(&r), steal_ptr(&ss));
		int n = i2d_ECDSA_SIG(es, &der);
		if (n <= 0)
			return moat_error_set(err, EINVAL, "ECDSA signature: cannot encode r, s");
		s = der;
		slen = (size_t)n;
	} else if (slen != (size_t)EVP_PKEY_get_size(key)) {
		return moat_error_set(err, EINVAL,
				      "%s signature is %zu bytes, the key's modulus %d", alg,
				      slen, EVP_PKEY_get_size(key));
	}

	_cleanup_(md_ctx_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	if (!ctx || EVP_DigestVerifyInit(ctx, &pctx, md, NULL, key) != 1)
		return moat_error_set(err, EINVAL, "%s: cannot set up the verification", alg);
	if (rsa_sig) {
		int pad = sig->sig_alg == TPM_ALG_RSAPSS ? RSA_PKCS1_PSS_PADDING
							 : RSA_PKCS1_PADDING;
		if (EVP_PKEY_CTX_set_rsa_padding(pctx, pad) != 1)
			return moat_error_set(err, EINVAL, "%s: cannot set the padding", alg);
		/* TPMs use a salt as long as the digest, some the longest that
		 * fits; the salt length is recovered from the signature. */
		if (sig->sig_alg == TPM_ALG_RSAPSS &&
		    (EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) != 1 ||
		     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1))
			return moat_error_set(err, EINVAL, "%s: cannot set the salt", alg);
	}
	int ok = EVP_DigestVerify(ctx, s, slen, msg, len);
	if (ok == 1)
		return 1;
	moat_error_set(err, EBADMSG, "%s-%s signature does not verify with the key", alg,
		       attest_alg_name(sig->hash_alg));
	return 0;
}

/* ---- TPMT_PUBLIC ---- */

static int rsa_key(const uint8_t *n, uint16_t n_len, uint32_t exponent, EVP_PKEY **key)
{
	_cleanup_(param_bld_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	_cleanup_(bn_freep) BIGNUM *bn = BN_bin2bn(n, n_len, NULL);
	_cleanup_(bn_freep) BIGNUM *be = BN_new();
	if (!bld || !bn || !be || BN_set_word(be, exponent) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) != 1)
		return -1;
	_cleanup_(params_freep) OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	_cleanup_(pkey_ctx_freep) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, key, EVP_PKEY_PUBLIC_KEY, params) != 1)
		return -1;
	return 0;
}

static int ec_key(const char *group, const uint8_t *point, size_t point_len, EVP_PKEY **key)
{
	_cleanup_(param_bld_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	if (!bld ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, point_len) != 1)
		return -1;
	_cleanup_(params_freep) OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	_cleanup_(pkey_ctx_freep) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, key, EVP_PKEY_PUBLIC_KEY, params) != 1)
		return -1;
	/* fromdata decodes the point; a point off the curve must not pass.  The
	 * quick check is that test: on P-256 and P-384 (cofactor 1) a point on
	 * the curve is in the group, and the full check's n*Q costs a signature. */
	_cleanup_(pkey_ctx_freep) EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, *key, NULL);
	if (!check || EVP_PKEY_public_check_quick(check) != 1) {
		EVP_PKEY_free(*key);
		*key = NULL;
		return -1;
	}
	return 0;
}

/* A scheme's details (Part 2, 11.2.1.5): a hash for the signing and
 * encryption schemes that take one, a hash and a count for ECDAA. */
static int rd_scheme(struct rd *r, const char *field)
{
	uint16_t scheme, hash, count;
	if (rd_u16(r, field, &scheme) < 0)
		return -1;
	if (scheme == TPM_ALG_NULL || scheme == TPM_ALG_RSAES)
		return 0;
	if (rd_u16(r, field, &hash) < 0)
		return -1;
	if (scheme == TPM_ALG_ECDAA && rd_u16(r, field, &count) < 0)
		return -1;
	return 0;
}

/* TPMT_SYM_DEF_OBJECT: NULL, or an algorithm with key bits and a mode. */
static int rd_symmetric(struct rd *r)
{
	uint16_t alg, bits, mode;
	if (rd_u16(r, "parameters.symmetric", &alg) < 0)
		return -1;
	if (alg == TPM_ALG_NULL)
		return 0;
	if (rd_u16(r, "parameters.symmetric.keyBits", &bits) < 0 ||
	    rd_u16(r, "parameters.symmetric.mode", &mode) < 0)
		return -1;
	return 0;
}

static int tpmt_public(struct rd *r, EVP_PKEY **key, uint8_t *name, size_t *name_len)
{
	size_t start = r->off, at;
	uint16_t type, name_alg, n;
	uint32_t attrs;
	const uint8_t *d;
	_cleanup_(pkey_freep) EVP_PKEY *k = NULL;

	at = r->off;
	if (rd_u16(r, "type", &type) < 0)
		return -1;
	if (type != TPM_ALG_RSA && type != TPM_ALG_ECC) {
		r->off = at;
		return rd_fail(r, "type", "0x%04x is neither RSA nor ECC", type);
	}
	at = r->off;
	if (rd_u16(r, "nameAlg", &name_alg) < 0)
		return -1;
	if (!attest_alg_size(name_alg) || !alg_md(name_alg)) {
		r->off = at;
		return rd_fail(r, "nameAlg", "0x%04x is not a hash moat knows", name_alg);
	}
	if (rd_u32(r, "objectAttributes", &attrs) < 0 ||
	    rd_2b(r, "authPolicy", ATTEST_MAX_DIGEST, &d, &n) < 0 || rd_symmetric(r) < 0)
		return -1;

	if (type == TPM_ALG_RSA) {
		uint16_t bits;
		uint32_t exponent;
		if (rd_scheme(r, "parameters.scheme") < 0 ||
		    rd_u16(r, "parameters.keyBits", &bits) < 0 ||
		    rd_u32(r, "parameters.exponent", &exponent) < 0)
			return -1;
		at = r->off;
		if (rd_2b(r, "unique.rsa", TPM2B_RSA_MAX, &d, &n) < 0)
			return -1;
		if (n == 0 || (size_t)n * 8 != bits) {
			r->off = at;
			return rd_fail(r, "unique.rsa", "a %u-byte modulus for a %u-bit key", n,
				       bits);
		}
		/* Part 2, 12.2.3.5: an exponent of zero means 2^16 + 1. */
		if (exponent == 0)
			exponent = 65537;
		if (exponent < 3 || !(exponent & 1)) {
			r->off = at - 4;
			return rd_fail(r, "parameters.exponent", "%u is not a valid exponent",
				       exponent);
		}
		if (rsa_key(d, n, exponent, &k) < 0) {
			r->off = at;
			return rd_fail(r, "unique.rsa", "OpenSSL rejects the key");
		}
	} else {
		uint16_t curve, xn, yn;
		const uint8_t *x, *y;
		if (rd_scheme(r, "parameters.scheme") < 0)
			return -1;
		at = r->off;
		if (rd_u16(r, "parameters.curveID", &curve) < 0)
			return -1;
		size_t field = curve == TPM_ECC_NIST_P256 ? 32 : curve == TPM_ECC_NIST_P384 ? 48 : 0;
		if (!field) {
			r->off = at;
			return rd_fail(r, "parameters.curveID",
				       "0x%04x is not NIST P-256 or P-384", curve);
		}
		if (rd_scheme(r, "parameters.kdf") < 0)
			return -1;
		at = r->off;
		if (rd_2b(r, "unique.ecc.x", TPM2B_ECC_MAX, &x, &xn) < 0 ||
		    rd_2b(r, "unique.ecc.y", TPM2B_ECC_MAX, &y, &yn) < 0)
			return -1;
		if (xn > field || yn > field) {
			r->off = at;
			return rd_fail(r, "unique.ecc", "coordinates longer than the %zu-byte field",
				       field);
		}
		/* Uncompressed point, coordinates left-padded to the field size. */
		uint8_t point[1 + 2 * 48] = { 0x04 };
		memcpy(point + 1 + field - xn, x, xn);
		memcpy(point + 1 + 2 * field - yn, y, yn);
		if (ec_key(curve == TPM_ECC_NIST_P256 ? "P-256" : "P-384", point, 1 + 2 * field,
			   &k) < 0) {
			r->off = at;
			return rd_fail(r, "unique.ecc", "the point is not on the curve");
		}
	}

	if (name) {
		name[0] = (uint8_t)(name_alg >> 8);
		name[1] = (uint8_t)name_alg;
		attest_hash(name_alg, r->p + start, r->off - start, name + 2);
		*name_len = 2u + attest_alg_size(name_alg);
	}
	*key = steal_ptr(&k);
	return 0;
}

int attest_tpm_public_parse(const uint8_t *buf, size_t len, bool sized,
			    struct evp_pkey_st **key, uint8_t *name, size_t *name_len,
			    struct moat_error *err)
{
	struct rd r = { .p = buf, .len = len, .err = err };
	*key = NULL;
	if (sized) {
		uint16_t size;
		if (rd_u16(&r, "size", &size) < 0)
			return -1;
		if (size != len - 2) {
			r.off = 0;
			return rd_fail(&r, "size", "%u, but %zu bytes follow", size, len - 2);
		}
	}
	_cleanup_(pkey_freep) EVP_PKEY *k = NULL;
	if (tpmt_public(&r, &k, name, name_len) < 0 || rd_end(&r, "TPMT_PUBLIC") < 0)
		return -1;
	*key = steal_ptr(&k);
	return 0;
}

/* ---- PEM ---- */

/* ---- PEM ---- */

/* One DER TLV with the expected tag; its contents in *c, *clen. */
static bool der_take(const uint8_t **p, const uint8_t *end, uint8_t tag, const uint8_t **c,
		     size_t *clen)
{
	const uint8_t *q = *p;
	if (end - q < 2 || q[0] != tag)
		return false;
	size_t len = q[1];
	q += 2;
	if (len & 0x80) {
		size_t n = len & 0x7f;
		if (n == 0 || n > 3 || (size_t)(end - q) < n)
			return false;
		len = 0;
		while (n--)
			len = len << 8 | *q++;
	}
	if ((size_t)(end - q) < len)
		return false;
	*c = q;
	*clen = len;
	*p = q + len;
	return true;
}

static bool der_is(const uint8_t *c, size_t n, const char *hex)
{
	uint8_t want[16];
	size_t w = strlen(hex) / 2;
	return w <= sizeof(want) && hex_decode(hex, 2 * w, want) == 0 && n == w &&
	       memcmp(c, want, n) == 0;
}

/*
 * SubjectPublicKeyInfo for the keys an AK can be (RSA; EC on P-256 or
 * P-384), built straight from its numbers.  OpenSSL 3's general decoder
 * sets up every decoder it has for each key read, which costs more than the
 * rest of a verification: this path is a fifth of it.  Returns -1 for
 * anything else, and the caller asks OpenSSL.
 */
static int spki_key(const uint8_t *der, size_t len, EVP_PKEY **key)
{
	const uint8_t *p = der, *end = der + len, *spki, *alg, *oid, *bits, *params;
	size_t spki_len, alg_len, oid_len, bits_len, params_len;
	if (!der_take(&p, end, 0x30, &spki, &spki_len) || p != end)
		return -1;
	p = spki;
	end = spki + spki_len;
	if (!der_take(&p, end, 0x30, &alg, &alg_len) ||
	    !der_take(&p, end, 0x03, &bits, &bits_len) || p != end || bits_len < 2 || bits[0])
		return -1;
	const uint8_t *a = alg, *aend = alg + alg_len;
	if (!der_take(&a, aend, 0x06, &oid, &oid_len))
		return -1;
	bits++;
	bits_len--;
	if (der_is(oid, oid_len, "2a864886f70d010101")) {
		/* rsaEncryption, NULL parameters: RSAPublicKey { n, e } */
		const uint8_t *r = bits, *rend = bits + bits_len, *rsa, *n, *e;
		size_t rsa_len, n_len, e_len;
		if (!der_take(&a, aend, 0x05, &params, &params_len) || params_len || a != aend ||
		    !der_take(&r, rend, 0x30, &rsa, &rsa_len) || r != rend)
			return -1;
		r = rsa;
		rend = rsa + rsa_len;
		if (!der_take(&r, rend, 0x02, &n, &n_len) || !der_take(&r, rend, 0x02, &e, &e_len) ||
		    r != rend)
			return -1;
		while (n_len > 1 && n[0] == 0) {
			n++;
			n_len--;
		}
		while (e_len > 1 && e[0] == 0) {
			e++;
			e_len--;
		}
		if (n_len > 1024 || e_len > 4)
			return -1;
		uint32_t exponent = 0;
		for (size_t i = 0; i < e_len; i++)
			exponent = exponent << 8 | e[i];
		return rsa_key(n, (uint16_t)n_len, exponent, key);
	}
	if (der_is(oid, oid_len, "2a8648ce3d0201")) {
		/* id-ecPublicKey with a named curve */
		if (!der_take(&a, aend, 0x06, &params, &params_len) || a != aend)
			return -1;
		const char *group = der_is(params, params_len, "2a8648ce3d030107") ? "prime256v1"
				    : der_is(params, params_len, "2b81040022")     ? "secp384r1"
										   : NULL;
		return group ? ec_key(group, bits, bits_len, key) : -1;
	}
	return -1;
}

/* The DER inside "-----BEGIN PUBLIC KEY-----"; NULL if there is none. */
static uint8_t *pem_der(const char *pem, size_t len, size_t *der_len)
{
	static const char begin[] = "-----BEGIN PUBLIC KEY-----", end[] = "-----END PUBLIC KEY-----";
	const char *b = memmem(pem, len, begin, strlen(begin));
	if (!b)
		return NULL;
	b += strlen(begin);
	const char *e = memmem(b, len - (size_t)(b - pem), end, strlen(end));
	if (!e)
		return NULL;
	_cleanup_free_ char *text = xmalloc((size_t)(e - b) + 1);
	size_t n = 0;
	for (const char *c = b; c < e; c++)
		if (*c != '\n' && *c != '\r' && *c != ' ' && *c != '\t')
			text[n++] = *c;
	uint8_t *der;
	size_t bad;
	if (base64_decode(text, n, &der, der_len, &bad) < 0)
		return NULL;
	return der;
}

int attest_pem_parse(const char *pem, size_t len, const char *name,
		     struct evp_pkey_st **key, struct moat_error *err)
{
	*key = NULL;
	if (len > PEM_MAX)
		return moat_error_set(err, EFBIG, "%s: %zu bytes, more than a public key's %u",
				      name, len, PEM_MAX);
	size_t der_len;
	_cleanup_free_ uint8_t *der = pem_der(pem, len, &der_len);
	if (der && spki_key(der, der_len, key) == 0)
		return 0;
	_cleanup_(bio_freep) BIO *bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return moat_error_set(err, ENOMEM, "%s: out of memory", name);
	_cleanup_(pkey_freep) EVP_PKEY *k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	if (!k && memmem(pem, len, "-----BEGIN RSA PUBLIC KEY-----", 30)) {
		/* PKCS#1 RSAPublicKey: the decoder reads it without the
		 * deprecated RSA-only calls. */
		_cleanup_(bio_freep) BIO *b2 = BIO_new_mem_buf(pem, (int)len);
		_cleanup_(decoder_ctx_freep) OSSL_DECODER_CTX *dctx = OSSL_DECODER_CTX_new_for_pkey(
			&k, "PEM", "type-specific", "RSA", EVP_PKEY_PUBLIC_KEY, NULL, NULL);
		if (b2 && dctx && OSSL_DECODER_from_bio(dctx, b2) != 1) {
			EVP_PKEY_free(k);
			k = NULL;
		}
	}
	if (!k)
		return moat_error_set(err, EINVAL,
				      "%s: no PEM public key (\"PUBLIC KEY\" or \"RSA PUBLIC KEY\")",
				      name);
	int type = EVP_PKEY_get_base_id(k);
	if (type != EVP_PKEY_RSA && type != EVP_PKEY_EC)
		return moat_error_set(err, EINVAL, "%s: a %s key, not RSA or EC", name,
				      OBJ_nid2sn(type));
	*key = steal_ptr(&k);
	return 0;
}

int attest_pem_load(const char *path, struct evp_pkey_st **key, struct moat_error *err)
{
	_cleanup_free_ char *pem = NULL;
	size_t len;
	*key = NULL;
	if (read_file(path, PEM_MAX, &pem, &len, err) < 0)
		return -1;
	return attest_pem_parse(pem, len, path, key, err);
}

/* ---- pcrDigest ---- */

int attest_pcr_digest(const struct attest_pcrs *pcrs, const struct attest_quote *q,
		      uint16_t hash_alg, uint8_t *out, size_t *out_len, struct moat_error *err)
{
	/* Part 3, 18.4: the PCRs are concatenated in the order of the
	 * selection, bank by bank, lowest PCR first. */
	uint8_t cat[ATTEST_MAX_BANKS * ATTEST_NUM_PCRS * ATTEST_MAX_DIGEST];
	size_t n = 0;
	if (!attest_alg_size(hash_alg))
		return moat_error_set(err, EINVAL, "pcrDigest hash 0x%04x is not supported",
				      hash_alg);
	for (uint32_t i = 0; i < q->nsel && i < ATTEST_MAX_BANKS; i++) {
		const struct attest_pcr_bank *b = NULL;
		const char *an = attest_alg_name(q->sel[i].alg);
		for (size_t j = 0; j < pcrs->nbanks; j++)
			if (pcrs->bank[j].alg == q->sel[i].alg)
				b = &pcrs->bank[j];
		if (!an)
			return moat_error_set(err, EINVAL, "selected bank 0x%04x is not known",
					      q->sel[i].alg);
		if (!b && q->sel[i].mask)
			return moat_error_set(err, EINVAL, "no %s PCR values for the selection",
					      an);
		for (uint32_t pcr = 0; pcr < ATTEST_NUM_PCRS; pcr++) {
			if (!(q->sel[i].mask & (1u << pcr)))
				continue;
			if (!(b->set & (1u << pcr)))
				return moat_error_set(err, EINVAL, "%s PCR %u has no value", an,
						      pcr);
			memcpy(cat + n, b->pcr[pcr], b->size);
			n += b->size;
		}
	}
	if (attest_hash(hash_alg, cat, n, out) < 0)
		return moat_error_set(err, EINVAL, "pcrDigest hash %s is not available",
				      attest_alg_name(hash_alg));
	*out_len = attest_alg_size(hash_alg);
	return 0;
}
