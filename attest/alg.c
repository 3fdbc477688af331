/* SPDX-License-Identifier: Apache-2.0 */
/* TPM hash algorithms, extend, and PCR banks. */
#include "attest.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

static const struct {
	uint16_t alg, size;
	const char *name;
} algs[] = {
	{ TPM_ALG_SHA1, 20, "sha1" },
	{ TPM_ALG_SHA256, 32, "sha256" },
	{ TPM_ALG_SHA384, 48, "sha384" },
	{ TPM_ALG_SHA512, 64, "sha512" },
	{ TPM_ALG_SM3_256, 32, "sm3_256" },
};

uint16_t attest_alg_size(uint16_t alg)
{
	for (size_t i = 0; i < ARRAY_SIZE(algs); i++)
		if (algs[i].alg == alg)
			return algs[i].size;
	return 0;
}

const char *attest_alg_name(uint16_t alg)
{
	for (size_t i = 0; i < ARRAY_SIZE(algs); i++)
		if (algs[i].alg == alg)
			return algs[i].name;
	return NULL;
}

uint16_t attest_alg_from_name(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(algs); i++)
		if (strlen(algs[i].name) == len && strncasecmp(algs[i].name, name, len) == 0)
			return algs[i].alg;
	/* IMA writes "sm3" for SM3-256. */
	if (len == 3 && strncasecmp(name, "sm3", 3) == 0)
		return TPM_ALG_SM3_256;
	return 0;
}

/*
 * The SHA family goes through OpenSSL's digest-specific functions, not EVP:
 * a replay hashes hundreds of thousands of short inputs, and OpenSSL 3 looks
 * the algorithm up in its provider tables on every one-shot EVP call, which
 * costs five times the hashing (30 ms against 5.8 ms for a 20,000-entry IMA
 * list in two banks).  The functions are deprecated, not gone, and reach
 * the same SHA-NI code.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
int attest_hash(uint16_t alg, const void *buf, size_t len, uint8_t *out)
{
	switch (alg) {
	case TPM_ALG_SHA1: {
		SHA_CTX c;
		SHA1_Init(&c);
		SHA1_Update(&c, buf, len);
		SHA1_Final(out, &c);
		return 0;
	}
	case TPM_ALG_SHA256: {
		SHA256_CTX c;
		SHA256_Init(&c);
		SHA256_Update(&c, buf, len);
		SHA256_Final(out, &c);
		return 0;
	}
	case TPM_ALG_SHA384: {
		SHA512_CTX c;
		SHA384_Init(&c);
		SHA384_Update(&c, buf, len);
		SHA384_Final(out, &c);
		return 0;
	}
	case TPM_ALG_SHA512: {
		SHA512_CTX c;
		SHA512_Init(&c);
		SHA512_Update(&c, buf, len);
		SHA512_Final(out, &c);
		return 0;
	}
	case TPM_ALG_SM3_256: {
		/* Fetched, not looked up by its legacy name: verify starts
		 * OpenSSL without the legacy name tables. */
		unsigned int n = 0;
		EVP_MD *md = EVP_MD_fetch(NULL, "SM3", NULL);
		int r = md && EVP_Digest(buf, len, out, &n, md, NULL) == 1 ? 0 : -1;
		EVP_MD_free(md);
		return r;
	}
	}
	return -1;
}
#pragma GCC diagnostic pop

void attest_extend(uint16_t alg, uint8_t *pcr, const uint8_t *digest)
{
	uint8_t in[2 * ATTEST_MAX_DIGEST];
	uint16_t n = attest_alg_size(alg);
	if (!n)
		return;
	memcpy(in, pcr, n);
	memcpy(in + n, digest, n);
	if (attest_hash(alg, in, 2u * n, pcr) < 0)
		memset(pcr, 0, n); /* unreachable for the algorithms above */
}

struct attest_pcr_bank *attest_pcrs_bank(struct attest_pcrs *p, uint16_t alg)
{
	for (size_t i = 0; i < p->nbanks; i++)
		if (p->bank[i].alg == alg)
			return &p->bank[i];
	return NULL;
}

struct attest_pcr_bank *attest_pcrs_add_bank(struct attest_pcrs *p, uint16_t alg)
{
	struct attest_pcr_bank *b = attest_pcrs_bank(p, alg);
	if (b)
		return b;
	if (p->nbanks >= ATTEST_MAX_BANKS || !attest_alg_size(alg))
		return NULL;
	b = &p->bank[p->nbanks++];
	memset(b, 0, sizeof(*b));
	b->alg = alg;
	b->size = attest_alg_size(alg);
	return b;
}

/* One PCR list, "0-9,10" or "all", into a mask; token is the bank's whole
 * "alg:list" text, for messages. */
static int pcr_list_parse(const char *s, size_t len, uint32_t *mask, const char *tok,
			  int toklen, struct moat_error *err)
{
	*mask = 0;
	if (len == 3 && strncmp(s, "all", 3) == 0) {
		*mask = (1u << ATTEST_NUM_PCRS) - 1;
		return 0;
	}
	if (!len)
		return moat_error_set(err, EINVAL, "\"%.*s\": no PCRs", toklen, tok);
	const char *p = s, *end = s + len;
	while (p <= end) {
		const char *item = p;
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *item_end = comma ? comma : end;
		int ilen = (int)(item_end - item);
		unsigned long lo, hi;
		const char *q = item;
		/* Digits only: strtoul would take signs and spaces. */
		if (q == item_end || *q < '0' || *q > '9')
			goto bad;
		for (lo = 0; q < item_end && *q >= '0' && *q <= '9' && lo < 1000; q++)
			lo = lo * 10 + (unsigned long)(*q - '0');
		hi = lo;
		if (q < item_end && *q == '-') {
			q++;
			if (q == item_end || *q < '0' || *q > '9')
				goto bad;
			for (hi = 0; q < item_end && *q >= '0' && *q <= '9' && hi < 1000; q++)
				hi = hi * 10 + (unsigned long)(*q - '0');
		}
		if (q != item_end)
			goto bad;
		if (lo >= ATTEST_NUM_PCRS || hi >= ATTEST_NUM_PCRS)
			return moat_error_set(err, EINVAL,
					      "\"%.*s\": PCR %lu is out of range (0-%d)", ilen,
					      item, lo >= ATTEST_NUM_PCRS ? lo : hi,
					      ATTEST_NUM_PCRS - 1);
		if (lo > hi)
			return moat_error_set(err, EINVAL, "\"%.*s\": the range runs backwards",
					      ilen, item);
		for (unsigned long i = lo; i <= hi; i++)
			*mask |= 1u << i;
		if (!comma)
			break;
		p = comma + 1;
		continue;
bad:
		return moat_error_set(err, EINVAL, "\"%.*s\": not a PCR, a range or \"all\"", ilen,
				      item);
	}
	return 0;
}

int attest_pcr_spec_parse(const char *spec, struct attest_pcr_select *sel, uint32_t *nsel,
			  struct moat_error *err)
{
	uint32_t n = 0;
	const char *p = spec;
	size_t total = strlen(spec);
	if (!total || total > 1024)
		return moat_error_set(err, EINVAL, "PCR selection: %s",
				      total ? "too long" : "empty");
	for (;;) {
		const char *plus = strchr(p, '+');
		const char *end = plus ? plus : p + strlen(p);
		int toklen = (int)(end - p);
		const char *colon = memchr(p, ':', (size_t)toklen);
		if (!colon)
			return moat_error_set(err, EINVAL,
					      "\"%.*s\": expected <bank>:<pcrs>, as sha256:0-7",
					      toklen, p);
		uint16_t alg = attest_alg_from_name(p, (size_t)(colon - p));
		if (!alg)
			return moat_error_set(err, EINVAL, "\"%.*s\": unknown bank \"%.*s\"",
					      toklen, p, (int)(colon - p), p);
		for (uint32_t i = 0; i < n; i++)
			if (sel[i].alg == alg)
				return moat_error_set(err, EINVAL,
						      "\"%.*s\": bank %s selected twice", toklen,
						      p, attest_alg_name(alg));
		if (n >= ATTEST_MAX_BANKS)
			return moat_error_set(err, EINVAL, "\"%.*s\": more than %d banks", toklen,
					      p, ATTEST_MAX_BANKS);
		sel[n].alg = alg;
		if (pcr_list_parse(colon + 1, (size_t)(end - colon - 1), &sel[n].mask, p, toklen,
				   err) < 0)
			return -1;
		n++;
		if (!plus)
			break;
		p = plus + 1;
	}
	*nsel = n;
	return 0;
}
