/* SPDX-License-Identifier: Apache-2.0 */
/*
 * moat-tpm: the node side of `moat attest`, the only code that talks to a
 * TPM.  Debian ships tpm2-tss as shared objects only and moat is static, so
 * this is a small dynamically linked helper that moat runs; it prints JSON
 * on stdout for moat to read.
 *
 *   moat-tpm enroll --tpm TCTI [--ak-handle H] [--alg ecc|rsa] [--force] --ak-pub FILE
 *   moat-tpm quote  --tpm TCTI [--ak-handle H] --nonce HEX --pcrs SPEC
 *
 * Exit codes: 0 ok, 2 usage or bad input, 3 the TPM or the system failed.
 *
 * It may talk to a TPM without a resource manager (swtpm, /dev/tpm0), where
 * every transient object and session left behind fills the TPM's few slots
 * until it is reset: every handle made here is flushed on every path.
 */
#include "attest.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#define DEFAULT_TCTI "device:/dev/tpmrm0"
#define DEFAULT_AK_HANDLE 0x81010002u
#define MAX_NONCE 64
/* A quote and the PCR reads around it disagree only if something extends
 * a PCR in between; a few tries are enough unless something extends in a
 * loop, and then no answer would be trustworthy anyway. */
#define QUOTE_TRIES 5

enum { EXIT_USAGE = MOAT_EXIT_INPUT, EXIT_TPM = MOAT_EXIT_SYSTEM };

/* The TCG EK Credential Profile's default EK policy: PolicySecret(TPM_RH_ENDORSEMENT). */
static const uint8_t ek_policy[32] = {
	0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xB3, 0xF8, 0x1A, 0x90, 0xCC,
	0x8D, 0x46, 0xA5, 0xD7, 0x24, 0xFD, 0x52, 0xD7, 0x6E, 0x06, 0x52,
	0x0B, 0x64, 0xF2, 0xA1, 0xDA, 0x1B, 0x33, 0x14, 0x69, 0xAA,
};

/* ---- cleanup: one per ESYS resource ---- */

struct esys_handle {
	ESYS_CONTEXT *ctx;
	ESYS_TR tr;
};
/* Transient objects and sessions: gone from the TPM. */
static void esys_flushp(struct esys_handle *h)
{
	if (h->tr != ESYS_TR_NONE)
		Esys_FlushContext(h->ctx, h->tr);
}
/* Persistent objects: only ESYS's record of them goes. */
static void esys_closep(struct esys_handle *h)
{
	if (h->tr != ESYS_TR_NONE)
		Esys_TR_Close(h->ctx, &h->tr);
}
static void esys_finalizep(ESYS_CONTEXT **c)
{
	if (*c)
		Esys_Finalize(c);
}
static void tcti_finalizep(TSS2_TCTI_CONTEXT **t)
{
	if (*t)
		Tss2_TctiLdr_Finalize(t);
}
static void esys_freep(void *p)
{
	Esys_Free(*(void **)p);
}
static void pkey_freep(EVP_PKEY **k)
{
	EVP_PKEY_free(*k);
}
static void bio_freep(BIO **b)
{
	BIO_free(*b);
}
#define _cleanup_flush_ _cleanup_(esys_flushp)
#define _cleanup_trclose_ _cleanup_(esys_closep)
#define _cleanup_esys_ _cleanup_(esys_freep)

static int tpm_fail(struct moat_error *err, const char *what, TSS2_RC rc)
{
	return moat_error_set(err, EIO, "%s: %s", what, Tss2_RC_Decode(rc));
}

/* ---- input ---- */

/*
 * TCTI strings as tpm2-tools takes them: "device:/dev/tpmrm0",
 * "swtpm:host=127.0.0.1,port=2321", "mssim:...", "tabrmd:...".  Checked
 * here so that a typo is a usage error (2), not a TPM failure (3).
 */
static int tcti_check(const char *tcti, struct moat_error *err)
{
	static const char *const names[] = { "device", "swtpm", "mssim", "tabrmd" };
	const char *colon = strchr(tcti, ':');
	size_t nlen = colon ? (size_t)(colon - tcti) : strlen(tcti);
	const char *conf = colon ? colon + 1 : "";
	bool known = false;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strlen(names[i]) == nlen && strncmp(tcti, names[i], nlen) == 0)
			known = true;
	if (!known)
		return moat_error_set(err, EINVAL,
				      "--tpm \"%s\": unknown TCTI \"%.*s\" (device, swtpm, mssim, tabrmd)",
				      tcti, (int)nlen, tcti);
	if (strlen(tcti) > 512)
		return moat_error_set(err, EINVAL, "--tpm: too long");
	if (nlen == 6 && strncmp(tcti, "device", 6) == 0) {
		if (*conf && *conf != '/')
			return moat_error_set(err, EINVAL, "--tpm \"%s\": a device is an absolute path",
					      tcti);
		return 0;
	}
	if (!(nlen == 5 && (strncmp(tcti, "swtpm", 5) == 0 || strncmp(tcti, "mssim", 5) == 0)))
		return 0;
	/* host=H,port=P in any order, either optional. */
	for (const char *p = conf; *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > 5 && strncmp(p, "host=", 5) == 0) {
			/* a name or an address: no spaces, commas or '=' */
			for (size_t i = 5; i < len; i++)
				if (p[i] <= ' ' || p[i] == '=')
					goto bad;
		} else if (len > 5 && len <= 10 && strncmp(p, "port=", 5) == 0) {
			unsigned long port = 0;
			for (size_t i = 5; i < len; i++) {
				if (p[i] < '0' || p[i] > '9')
					goto bad;
				port = port * 10 + (unsigned long)(p[i] - '0');
			}
			if (port == 0 || port > 65535)
				goto bad;
		} else {
		bad:
			return moat_error_set(err, EINVAL,
					      "--tpm \"%s\": bad option \"%.*s\" (host=ADDR,port=N)",
					      tcti, (int)len, p);
		}
		p += len;
		if (*p == ',' && *++p == '\0')
			return moat_error_set(err, EINVAL, "--tpm \"%s\": trailing comma", tcti);
	}
	return 0;
}

static int parse_handle(const char *s, uint32_t *h, struct moat_error *err)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 16);
	/* Persistent handles live in 0x81000000-0x81ffffff (Part 2, 7.2). */
	if (errno || end == s || *end || v < 0x81000000ul || v > 0x81fffffful)
		return moat_error_set(err, EINVAL,
				      "--ak-handle \"%s\": not a persistent handle (0x81000000-0x81ffffff)",
				      s);
	*h = (uint32_t)v;
	return 0;
}

static int parse_nonce(const char *s, TPM2B_DATA *out, struct moat_error *err)
{
	size_t n = strlen(s);
	if (n == 0 || n % 2 || n / 2 > MAX_NONCE)
		return moat_error_set(err, EINVAL, "--nonce: %s",
				      n == 0	 ? "empty"
				      : n % 2 ? "an odd number of hex digits"
					      : "longer than 64 bytes");
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v = 0;
		for (int j = 0; j < 2; j++) {
			char c = s[2 * i + (size_t)j];
			unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
				     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
				     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
							    : 16;
			if (d == 16)
				return moat_error_set(err, EINVAL,
						      "--nonce: '%c' at %zu is not a hex digit", c,
						      2 * i + (size_t)j);
			v = v << 4 | d;
		}
		out->buffer[i] = (uint8_t)v;
	}
	out->size = (uint16_t)(n / 2);
	return 0;
}

static char *hex(const uint8_t *b, size_t n)
{
	char *s = xmalloc(2 * n + 1);
	for (size_t i = 0; i < n; i++)
		sprintf(s + 2 * i, "%02x", b[i]);
	s[2 * n] = '\0';
	return s;
}

static char *base64(const uint8_t *b, size_t n)
{
	char *s = xmalloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)s, b, (int)n);
	return s;
}

/* ---- the TPM ---- */

struct tpm {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
};

static int tpm_open(const char *tcti, struct tpm *t, struct moat_error *err)
{
	TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti, &t->tcti);
	if (rc != TSS2_RC_SUCCESS)
		return moat_error_set(err, EIO, "cannot reach the TPM at \"%s\": %s", tcti,
				      Tss2_RC_Decode(rc));
	rc = Esys_Initialize(&t->esys, t->tcti, NULL);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(err, "Esys_Initialize", rc);
	return 0;
}

static void tpm_close(struct tpm *t)
{
	esys_finalizep(&t->esys);
	tcti_finalizep(&t->tcti);
}

/* Is rc the TPM saying that a handle does not exist? */
static bool rc_no_handle(TSS2_RC rc)
{
	/* Format-one errors carry the parameter number in bits 8-11. */
	return (rc & 0xbf) == TPM2_RC_HANDLE || (rc & 0xfff) == (TPM2_RC_REFERENCE_H0 & 0xfff);
}

/* A policy session satisfied with PolicySecret(endorsement): what the EK's
 * policy asks for before it lets its key be a parent (TCG EK profile). */
static int ek_session(ESYS_CONTEXT *esys, ESYS_TR *session, struct moat_error *err)
{
	const TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
	TSS2_RC rc = Esys_StartAuthSession(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					   ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &sym,
					   TPM2_ALG_SHA256, session);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(err, "TPM2_StartAuthSession", rc);
	_cleanup_esys_ TPM2B_TIMEOUT *timeout = NULL;
	_cleanup_esys_ TPMT_TK_AUTH *ticket = NULL;
	rc = Esys_PolicySecret(esys, ESYS_TR_RH_ENDORSEMENT, *session, ESYS_TR_PASSWORD,
			       ESYS_TR_NONE, ESYS_TR_NONE, NULL, NULL, NULL, 0, &timeout, &ticket);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(err, "TPM2_PolicySecret(endorsement)", rc);
	return 0;
}

static void ek_template(bool ecc, TPM2B_PUBLIC *t)
{
	memset(t, 0, sizeof(*t));
	TPMT_PUBLIC *p = &t->publicArea;
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			      TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY |
			      TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	p->authPolicy.size = sizeof(ek_policy);
	memcpy(p->authPolicy.buffer, ek_policy, sizeof(ek_policy));
	/* Templates L-1 and L-2: AES-128-CFB, zero-filled unique. */
	if (ecc) {
		p->type = TPM2_ALG_ECC;
		p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
		p->parameters.eccDetail.symmetric.keyBits.aes = 128;
		p->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
		p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
		p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
		p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
		p->unique.ecc.x.size = 32;
		p->unique.ecc.y.size = 32;
	} else {
		p->type = TPM2_ALG_RSA;
		p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
		p->parameters.rsaDetail.symmetric.keyBits.aes = 128;
		p->parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
		p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
		p->parameters.rsaDetail.keyBits = 2048;
		p->parameters.rsaDetail.exponent = 0;
		p->unique.rsa.size = 256;
	}
}

/* A restricted signing key, as tpm2_createak makes it: ECDSA-SHA256 on
 * P-256 or RSASSA-SHA256 with RSA-2048. */
static void ak_template(bool ecc, TPM2B_PUBLIC *t)
{
	memset(t, 0, sizeof(*t));
	TPMT_PUBLIC *p = &t->publicArea;
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			      TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
			      TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
	if (ecc) {
		p->type = TPM2_ALG_ECC;
		p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
		p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
		p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
		p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
		p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	} else {
		p->type = TPM2_ALG_RSA;
		p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
		p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
		p->parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
		p->parameters.rsaDetail.keyBits = 2048;
		p->parameters.rsaDetail.exponent = 0;
	}
}

/* The AK's public part as the TPM holds it: the OpenSSL key, its PEM, and
 * its name, computed here from the public area and checked against the
 * TPM's. */
struct ak_info {
	EVP_PKEY *key;
	char *pem;
	char *name_hex;
	bool ecc;
};

static void ak_info_free(struct ak_info *a)
{
	EVP_PKEY_free(a->key);
	free(a->pem);
	free(a->name_hex);
}

static int ak_read(ESYS_CONTEXT *esys, ESYS_TR ak, uint32_t handle, struct ak_info *out,
		   struct moat_error *err)
{
	_cleanup_esys_ TPM2B_PUBLIC *pub = NULL;
	_cleanup_esys_ TPM2B_NAME *name = NULL;
	_cleanup_esys_ TPM2B_NAME *qname = NULL;
	TSS2_RC rc = Esys_ReadPublic(esys, ak, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub,
				     &name, &qname);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(err, "TPM2_ReadPublic", rc);
	TPMA_OBJECT want = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
	if ((pub->publicArea.objectAttributes & want) != want)
		return moat_error_set(err, EINVAL, "0x%08x holds no restricted signing key",
				      handle);
	uint8_t buf[sizeof(TPM2B_PUBLIC)];
	size_t off = 0;
	rc = Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, sizeof(buf), &off);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(err, "marshalling the AK's public area", rc);
	uint8_t n[2 + ATTEST_MAX_DIGEST];
	size_t nlen = 0;
	_cleanup_(pkey_freep) EVP_PKEY *key = NULL;
	if (attest_tpm_public_parse(buf, off, true, &key, n, &nlen, err) < 0)
		return moat_error_wrap(err, "the AK at 0x%08x", handle);
	if (nlen != name->size || memcmp(n, name->name, nlen) != 0)
		return moat_error_set(err, EIO, "the AK's name does not match its public area");
	_cleanup_(bio_freep) BIO *bio = BIO_new(BIO_s_mem());
	char *mem;
	long mlen;
	if (!bio || PEM_write_bio_PUBKEY(bio, key) != 1 || (mlen = BIO_get_mem_data(bio, &mem)) <= 0)
		return moat_error_set(err, ENOMEM, "cannot write the AK as PEM");
	out->pem = xstrndup(mem, (size_t)mlen);
	out->name_hex = hex(n, nlen);
	out->ecc = pub->publicArea.type == TPM2_ALG_ECC;
	out->key = steal_ptr(&key);
	return 0;
}

static int write_pem(const char *path, const char *pem, struct moat_error *err)
{
	/* Written aside and renamed, so a reader never sees half a key. */
	_cleanup_free_ char *tmp = xasprintf("%s.tmp", path);
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return moat_error_sys(err, errno, "%s", tmp);
	size_t len = strlen(pem);
	if (fchmod(fd, 0644) < 0 || write(fd, pem, len) != (ssize_t)len || fsync(fd) < 0) {
		int e = errno ? errno : EIO;
		unlink(tmp);
		return moat_error_sys(err, e, "%s", tmp);
	}
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return moat_error_sys(err, e, "%s", path);
	}
	return 0;
}

static int print_json(json_t *j)
{
	errno = EIO;
	if (json_dumpf(j, stdout, JSON_INDENT(2)) < 0 || fputc('\n', stdout) == EOF ||
	    fflush(stdout) == EOF)
		return -1;
	return 0;
}

/* ---- enroll ---- */

static int enroll(struct tpm *t, uint32_t handle, bool ecc, bool force, const char *ak_pub,
		  struct moat_error *err)
{
	ESYS_CONTEXT *esys = t->esys;
	TSS2_RC rc;

	/* What is at the handle already: evicted only when asked to. */
	{
		_cleanup_trclose_ struct esys_handle old = { esys, ESYS_TR_NONE };
		rc = Esys_TR_FromTPMPublic(esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					   &old.tr);
		if (rc == TSS2_RC_SUCCESS) {
			if (!force)
				return moat_error_set(err, EEXIST,
						      "handle 0x%08x in use (--force evicts what is there)",
						      handle);
			ESYS_TR none = ESYS_TR_NONE;
			rc = Esys_EvictControl(esys, ESYS_TR_RH_OWNER, old.tr, ESYS_TR_PASSWORD,
					       ESYS_TR_NONE, ESYS_TR_NONE, handle, &none);
			if (rc != TSS2_RC_SUCCESS)
				return tpm_fail(err, "TPM2_EvictControl (evicting the old key)", rc);
			/* ESYS dropped its record of the evicted object. */
			old.tr = ESYS_TR_NONE;
		} else if (!rc_no_handle(rc)) {
			old.tr = ESYS_TR_NONE;
			return tpm_fail(err, "reading the handle", rc);
		} else {
			old.tr = ESYS_TR_NONE;
		}
	}

	TPM2B_SENSITIVE_CREATE sensitive = { 0 };
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION no_pcrs = { 0 };
	TPM2B_PUBLIC tmpl;

	ek_template(ecc, &tmpl);
	_cleanup_flush_ struct esys_handle ek = { esys, ESYS_TR_NONE };
	{
		_cleanup_esys_ TPM2B_PUBLIC *pub = NULL;
		_cleanup_esys_ TPM2B_CREATION_DATA *cd = NULL;
		_cleanup_esys_ TPM2B_DIGEST *ch = NULL;
		_cleanup_esys_ TPMT_TK_CREATION *tk = NULL;
		rc = Esys_CreatePrimary(esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD,
					ESYS_TR_NONE, ESYS_TR_NONE, &sensitive, &tmpl, &outside,
					&no_pcrs, &ek.tr, &pub, &cd, &ch, &tk);
		if (rc != TSS2_RC_SUCCESS) {
			ek.tr = ESYS_TR_NONE;
			return tpm_fail(err, "TPM2_CreatePrimary (the EK)", rc);
		}
	}

	ak_template(ecc, &tmpl);
	_cleanup_esys_ TPM2B_PRIVATE *priv = NULL;
	_cleanup_esys_ TPM2B_PUBLIC *pub = NULL;
	{
		_cleanup_flush_ struct esys_handle s = { esys, ESYS_TR_NONE };
		if (ek_session(esys, &s.tr, err) < 0)
			return -1;
		_cleanup_esys_ TPM2B_CREATION_DATA *cd = NULL;
		_cleanup_esys_ TPM2B_DIGEST *ch = NULL;
		_cleanup_esys_ TPMT_TK_CREATION *tk = NULL;
		rc = Esys_Create(esys, ek.tr, s.tr, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive, &tmpl,
				 &outside, &no_pcrs, &priv, &pub, &cd, &ch, &tk);
		if (rc != TSS2_RC_SUCCESS)
			return tpm_fail(err, "TPM2_Create (the AK)", rc);
	}

	/* The policy session is spent by Create: Load needs a new one. */
	_cleanup_flush_ struct esys_handle ak = { esys, ESYS_TR_NONE };
	{
		_cleanup_flush_ struct esys_handle s = { esys, ESYS_TR_NONE };
		if (ek_session(esys, &s.tr, err) < 0)
			return -1;
		rc = Esys_Load(esys, ek.tr, s.tr, ESYS_TR_NONE, ESYS_TR_NONE, priv, pub, &ak.tr);
		if (rc != TSS2_RC_SUCCESS) {
			ak.tr = ESYS_TR_NONE;
			return tpm_fail(err, "TPM2_Load (the AK)", rc);
		}
	}

	_cleanup_trclose_ struct esys_handle persisted = { esys, ESYS_TR_NONE };
	rc = Esys_EvictControl(esys, ESYS_TR_RH_OWNER, ak.tr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			       ESYS_TR_NONE, handle, &persisted.tr);
	if (rc != TSS2_RC_SUCCESS) {
		persisted.tr = ESYS_TR_NONE;
		return tpm_fail(err, "TPM2_EvictControl (persisting the AK)", rc);
	}

	_cleanup_(ak_info_free) struct ak_info info = { 0 };
	if (ak_read(esys, persisted.tr, handle, &info, err) < 0)
		return -1;
	if (write_pem(ak_pub, info.pem, err) < 0)
		return -1;

	char hs[16];
	snprintf(hs, sizeof(hs), "0x%08x", handle);
	_cleanup_(json_decrefp) json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "ak_handle", hs,
						      "alg", ecc ? "ecc" : "rsa", "ak_name",
						      info.name_hex, "ak_public_pem", info.pem);
	if (!j)
		return moat_error_set(err, ENOMEM, "building the JSON");
	return print_json(j) < 0 ? moat_error_sys(err, errno, "writing stdout") : 0;
}

/* ---- quote ---- */

static void to_tpml(const struct attest_pcr_select *sel, uint32_t nsel, TPML_PCR_SELECTION *out)
{
	memset(out, 0, sizeof(*out));
	out->count = nsel;
	for (uint32_t i = 0; i < nsel; i++) {
		out->pcrSelections[i].hash = sel[i].alg;
		out->pcrSelections[i].sizeofSelect = 3;
		for (int b = 0; b < 3; b++)
			out->pcrSelections[i].pcrSelect[b] = (uint8_t)(sel[i].mask >> (8 * b));
	}
}

/* TPM2_PCR_Read answers at most 8 digests per call (TPML_DIGEST): ask
 * again for what it left out, and start over if a PCR changed meanwhile. */
static int read_pcrs(ESYS_CONTEXT *esys, const struct attest_pcr_select *sel, uint32_t nsel,
		     struct attest_pcrs *out, struct moat_error *err)
{
	for (int attempt = 0; attempt < QUOTE_TRIES; attempt++) {
		struct attest_pcr_select left[ATTEST_MAX_BANKS];
		uint32_t counter0 = 0;
		bool moved = false;
		memcpy(left, sel, sizeof(left[0]) * nsel);
		memset(out, 0, sizeof(*out));
		for (uint32_t i = 0; i < nsel; i++)
			if (!attest_pcrs_add_bank(out, sel[i].alg))
				return moat_error_set(err, EINVAL, "bank 0x%04x", sel[i].alg);
		for (int call = 0; call < ATTEST_MAX_BANKS * ATTEST_NUM_PCRS; call++) {
			uint32_t remaining = 0;
			for (uint32_t i = 0; i < nsel; i++)
				remaining |= left[i].mask;
			if (!remaining)
				break;
			TPML_PCR_SELECTION in;
			to_tpml(left, nsel, &in);
			uint32_t counter;
			_cleanup_esys_ TPML_PCR_SELECTION *got = NULL;
			_cleanup_esys_ TPML_DIGEST *values = NULL;
			TSS2_RC rc = Esys_PCR_Read(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
						   &in, &counter, &got, &values);
			if (rc != TSS2_RC_SUCCESS)
				return tpm_fail(err, "TPM2_PCR_Read", rc);
			if (call == 0)
				counter0 = counter;
			else if (counter != counter0) {
				moved = true;
				break;
			}
			uint32_t v = 0, progress = 0;
			for (uint32_t g = 0; g < got->count; g++) {
				const TPMS_PCR_SELECTION *s = &got->pcrSelections[g];
				struct attest_pcr_bank *b = attest_pcrs_bank(out, s->hash);
				uint32_t i;
				for (i = 0; i < nsel && left[i].alg != s->hash; i++)
					;
				if (!b || i == nsel)
					return moat_error_set(err, EIO, "TPM2_PCR_Read: a bank not asked for");
				for (uint32_t pcr = 0; pcr < ATTEST_NUM_PCRS && pcr / 8 < s->sizeofSelect;
				     pcr++) {
					if (!(s->pcrSelect[pcr / 8] & (1u << (pcr % 8))))
						continue;
					if (v >= values->count || values->digests[v].size != b->size)
						return moat_error_set(err, EIO,
								      "TPM2_PCR_Read: digests do not match the selection");
					memcpy(b->pcr[pcr], values->digests[v].buffer, b->size);
					b->set |= 1u << pcr;
					left[i].mask &= ~(1u << pcr);
					v++;
					progress++;
				}
			}
			if (!progress) {
				/* The TPM returns nothing for a bank it does not have. */
				for (uint32_t i = 0; i < nsel; i++)
					if (left[i].mask)
						return moat_error_set(
							err, EIO,
							"the TPM has no %s PCR bank with the PCRs asked for",
							attest_alg_name(left[i].alg));
			}
		}
		if (!moved)
			return 0;
	}
	return moat_error_set(err, EIO, "the PCRs kept changing while being read");
}

static int quote(struct tpm *t, uint32_t handle, const TPM2B_DATA *nonce,
		 const struct attest_pcr_select *sel, uint32_t nsel, struct moat_error *err)
{
	ESYS_CONTEXT *esys = t->esys;
	_cleanup_trclose_ struct esys_handle ak = { esys, ESYS_TR_NONE };
	TSS2_RC rc = Esys_TR_FromTPMPublic(esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					   &ak.tr);
	if (rc != TSS2_RC_SUCCESS) {
		ak.tr = ESYS_TR_NONE;
		if (rc_no_handle(rc))
			return moat_error_set(err, ENOENT,
					      "no AK at 0x%08x (moat-tpm enroll makes one)", handle);
		return tpm_fail(err, "reading the AK handle", rc);
	}
	_cleanup_(ak_info_free) struct ak_info info = { 0 };
	if (ak_read(esys, ak.tr, handle, &info, err) < 0)
		return -1;

	TPML_PCR_SELECTION tsel;
	to_tpml(sel, nsel, &tsel);
	const TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL }; /* the AK's own */
	struct attest_pcrs pcrs;
	uint8_t attest[sizeof(TPMS_ATTEST)];
	size_t attest_len = 0;
	uint8_t sigbuf[sizeof(TPMT_SIGNATURE)];
	size_t sig_len = 0;
	bool agree = false;

	for (int attempt = 0; attempt < QUOTE_TRIES && !agree; attempt++) {
		if (read_pcrs(esys, sel, nsel, &pcrs, err) < 0)
			return -1;
		_cleanup_esys_ TPM2B_ATTEST *quoted = NULL;
		_cleanup_esys_ TPMT_SIGNATURE *signature = NULL;
		rc = Esys_Quote(esys, ak.tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, nonce,
				&scheme, &tsel, &quoted, &signature);
		if (rc != TSS2_RC_SUCCESS)
			return tpm_fail(err, "TPM2_Quote", rc);
		memcpy(attest, quoted->attestationData, quoted->size);
		attest_len = quoted->size;
		sig_len = 0;
		rc = Tss2_MU_TPMT_SIGNATURE_Marshal(signature, sigbuf, sizeof(sigbuf), &sig_len);
		if (rc != TSS2_RC_SUCCESS)
			return tpm_fail(err, "marshalling the signature", rc);

		/* Check what is handed on as a verifier will: the quote parses,
		 * is signed by the AK, covers the nonce, and its pcrDigest is
		 * that of the values read.  A PCR extended between the read
		 * and the quote shows here: read and quote again. */
		struct attest_quote q;
		struct attest_signature sig;
		if (attest_quote_parse(attest, attest_len, &q, err) < 0 ||
		    attest_signature_parse(sigbuf, sig_len, &sig, err) < 0)
			return moat_error_wrap(err, "the TPM's quote");
		if (attest_signature_verify(info.key, attest, attest_len, &sig, err) != 1)
			return moat_error_wrap(err, "the TPM's quote");
		if (q.extra_len != nonce->size || memcmp(q.extra, nonce->buffer, nonce->size) != 0)
			return moat_error_set(err, EIO, "the TPM's quote does not carry the nonce");
		uint8_t d[ATTEST_MAX_DIGEST];
		size_t dlen = 0;
		if (attest_pcr_digest(&pcrs, &q, sig.hash_alg, d, &dlen, err) < 0)
			return moat_error_wrap(err, "the TPM's quote");
		agree = dlen == q.pcr_digest_len && memcmp(d, q.pcr_digest, dlen) == 0;
	}
	if (!agree)
		return moat_error_set(err, EIO,
				      "the PCRs changed between every read and quote (%d tries)",
				      QUOTE_TRIES);

	_cleanup_free_ char *a64 = base64(attest, attest_len);
	_cleanup_free_ char *s64 = base64(sigbuf, sig_len);
	_cleanup_(json_decrefp) json_t *jpcrs = json_object();
	for (size_t b = 0; b < pcrs.nbanks; b++) {
		json_t *bank = json_object();
		for (uint32_t pcr = 0; pcr < ATTEST_NUM_PCRS; pcr++) {
			if (!(pcrs.bank[b].set & (1u << pcr)))
				continue;
			char key[4];
			snprintf(key, sizeof(key), "%u", pcr);
			char *h = hex(pcrs.bank[b].pcr[pcr], pcrs.bank[b].size);
			json_object_set_new(bank, key, json_string(h));
			free(h);
		}
		json_object_set_new(jpcrs, attest_alg_name(pcrs.bank[b].alg), bank);
	}
	_cleanup_(json_decrefp) json_t *j =
		json_pack("{s:{s:s, s:s}, s:O, s:{s:s, s:s}}", "quote", "attest", a64, "signature",
			  s64, "pcrs", jpcrs, "ak", "public_pem", info.pem, "name", info.name_hex);
	if (!j)
		return moat_error_set(err, ENOMEM, "building the JSON");
	return print_json(j) < 0 ? moat_error_sys(err, errno, "writing stdout") : 0;
}

/* ---- CLI ---- */

static void usage(FILE *f)
{
	fputs("usage: moat-tpm enroll --tpm TCTI [--ak-handle H] [--alg ecc|rsa] [--force] --ak-pub FILE\n"
	      "       moat-tpm quote  --tpm TCTI [--ak-handle H] --nonce HEX --pcrs SPEC\n"
	      "\n"
	      "  enroll  create the EK and a restricted signing key (the AK) under it,\n"
	      "          persist the AK at the handle, write its public key as PEM\n"
	      "  quote   quote the PCRs of SPEC (sha256:0-9,10 or sha1:0,1+sha256:all)\n"
	      "          with the AK and the nonce (at most 64 bytes)\n"
	      "\n"
	      "  --tpm TCTI       " DEFAULT_TCTI " (default), swtpm:host=127.0.0.1,port=2321\n"
	      "  --ak-handle H    persistent handle of the AK (default 0x81010002)\n"
	      "  --force          evict a key already at the handle\n"
	      "\n"
	      "Prints JSON on stdout.  Exit codes: 0 ok, 2 usage or bad input, 3 TPM or system failure.\n",
	      f);
}

static int fail_usage(const char *fmt, ...) PRINTF(1, 2);
static int fail_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("moat-tpm: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs(" (moat-tpm --help)\n", stderr);
	va_end(ap);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	enum { OPT_TPM = 256, OPT_HANDLE, OPT_ALG, OPT_AKPUB, OPT_NONCE, OPT_PCRS, OPT_FORCE };
	static const struct option opts[] = {
		{ "tpm", required_argument, NULL, OPT_TPM },
		{ "ak-handle", required_argument, NULL, OPT_HANDLE },
		{ "alg", required_argument, NULL, OPT_ALG },
		{ "ak-pub", required_argument, NULL, OPT_AKPUB },
		{ "nonce", required_argument, NULL, OPT_NONCE },
		{ "pcrs", required_argument, NULL, OPT_PCRS },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *tcti = DEFAULT_TCTI, *ak_pub = NULL, *nonce_hex = NULL, *spec = NULL;
	uint32_t handle = DEFAULT_AK_HANDLE;
	bool ecc = true, force = false;
	struct moat_error err = { 0 };
	int c;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc < 2)
		return fail_usage("enroll or quote?");
	const char *cmd = argv[1];
	bool is_enroll = strcmp(cmd, "enroll") == 0;
	if (!is_enroll && strcmp(cmd, "quote") != 0)
		return fail_usage("unknown command \"%s\"", cmd);

	opterr = 0;
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_TPM:
			tcti = optarg;
			break;
		case OPT_HANDLE:
			if (parse_handle(optarg, &handle, &err) < 0)
				return fail_usage("%s", err.msg);
			break;
		case OPT_ALG:
			if (strcmp(optarg, "ecc") != 0 && strcmp(optarg, "rsa") != 0)
				return fail_usage("--alg \"%s\": ecc or rsa", optarg);
			ecc = strcmp(optarg, "ecc") == 0;
			break;
		case OPT_AKPUB:
			ak_pub = optarg;
			break;
		case OPT_NONCE:
			nonce_hex = optarg;
			break;
		case OPT_PCRS:
			spec = optarg;
			break;
		case OPT_FORCE:
			force = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return fail_usage("%s: unknown option or missing argument",
					  argv[optind - 1]);
		}
	}
	if (optind < argc)
		return fail_usage("unexpected argument \"%s\"", argv[optind]);
	if (tcti_check(tcti, &err) < 0)
		return fail_usage("%s", err.msg);

	TPM2B_DATA nonce = { 0 };
	struct attest_pcr_select sel[ATTEST_MAX_BANKS];
	uint32_t nsel = 0;
	if (is_enroll) {
		if (!ak_pub)
			return fail_usage("enroll needs --ak-pub FILE");
		if (nonce_hex || spec)
			return fail_usage("--nonce and --pcrs are quote's");
	} else {
		if (!nonce_hex || !spec)
			return fail_usage("quote needs --nonce HEX and --pcrs SPEC");
		if (ak_pub || force)
			return fail_usage("--ak-pub and --force are enroll's");
		if (parse_nonce(nonce_hex, &nonce, &err) < 0)
			return fail_usage("%s", err.msg);
		if (attest_pcr_spec_parse(spec, sel, &nsel, &err) < 0)
			return fail_usage("--pcrs: %s", err.msg);
		uint32_t any = 0;
		for (uint32_t i = 0; i < nsel; i++)
			any |= sel[i].mask;
		if (!any)
			return fail_usage("--pcrs \"%s\": no PCRs", spec);
	}

	/* tpm2-tss logs its own warnings to stderr; moat-tpm's one-line
	 * messages say what failed.  TSS2_LOG set by the user wins. */
	setenv("TSS2_LOG", "all+none", 0);

	_cleanup_(tpm_close) struct tpm t = { 0 };
	int r = tpm_open(tcti, &t, &err);
	if (r == 0)
		r = is_enroll ? enroll(&t, handle, ecc, force, ak_pub, &err)
			      : quote(&t, handle, &nonce, sel, nsel, &err);
	if (r < 0) {
		fprintf(stderr, "moat-tpm %s: %s\n", cmd, err.msg);
		return err.errnum == EEXIST ? EXIT_USAGE : EXIT_TPM;
	}
	return 0;
}
