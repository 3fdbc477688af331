/* SPDX-License-Identifier: Apache-2.0 */
/* TPM hash algorithms, extend, and PCR banks. */
#include "attest.h"

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
 * The SHA family goes through OpenSSL's one-shot functions: a replay hashes
 * hundreds of thousands of short inputs, and an EVP context per call would
 * cost more than the hashing.
 */
int attest_hash(uint16_t alg, const void *buf, size_t len, uint8_t *out)
{
	switch (alg) {
	case TPM_ALG_SHA1:
		SHA1(buf, len, out);
		return 0;
	case TPM_ALG_SHA256:
		SHA256(buf, len, out);
		return 0;
	case TPM_ALG_SHA384:
		SHA384(buf, len, out);
		return 0;
	case TPM_ALG_SHA512:
		SHA512(buf, len, out);
		return 0;
	case TPM_ALG_SM3_256: {
		unsigned int n = 0;
		const EVP_MD *md = EVP_get_digestbyname("SM3");
		return md && EVP_Digest(buf, len, out, &n, md, NULL) == 1 ? 0 : -1;
	}
	}
	return -1;
}

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
