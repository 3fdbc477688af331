/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the TPM structures a verifier reads from a node:
 * TPMS_ATTEST, TPMT_SIGNATURE and TPMT_PUBLIC / TPM2B_PUBLIC, then the
 * signature check and the pcrDigest over what parsed.  Input: a flags byte
 * (bit 0: the public part is a sized TPM2B_PUBLIC), the lengths of the
 * quote and signature slices (u16 big-endian each), then the three slices,
 * the public part taking the rest.  The seeds are quotes swtpm made.
 */
#include "attest/attest.h"

#include <openssl/evp.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 5)
		return 0;
	bool sized = data[0] & 1;
	size_t qlen = (size_t)data[1] << 8 | data[2];
	size_t slen = (size_t)data[3] << 8 | data[4];
	data += 5;
	size -= 5;
	if (qlen > size)
		qlen = size;
	if (slen > size - qlen)
		slen = size - qlen;
	const uint8_t *q = data, *s = data + qlen, *p = data + qlen + slen;
	size_t plen = size - qlen - slen;

	struct moat_error err;
	struct attest_quote quote;
	struct attest_signature sig;
	EVP_PKEY *key = NULL;
	uint8_t name[2 + ATTEST_MAX_DIGEST];
	size_t name_len;
	int qok = attest_quote_parse(q, qlen, &quote, &err);
	int sok = attest_signature_parse(s, slen, &sig, &err);
	int pok = attest_tpm_public_parse(p, plen, sized, &key, name, &name_len, &err);
	if (pok == 0 && sok == 0)
		attest_signature_verify(key, q, qlen, &sig, &err);
	if (qok == 0) {
		struct attest_pcrs pcrs = { 0 };
		for (uint32_t i = 0; i < quote.nsel; i++) {
			struct attest_pcr_bank *b = attest_pcrs_add_bank(&pcrs, quote.sel[i].alg);
			if (b)
				b->set = (1u << ATTEST_NUM_PCRS) - 1;
		}
		uint8_t d[ATTEST_MAX_DIGEST];
		size_t dlen;
		attest_pcr_digest(&pcrs, &quote, sok == 0 ? sig.hash_alg : TPM_ALG_SHA256, d,
				  &dlen, &err);
	}
	EVP_PKEY_free(key);

	/* PCR selection specs come from users, not nodes, but cost nothing. */
	if (plen < 256) {
		char spec[256];
		memcpy(spec, p, plen);
		spec[plen] = '\0';
		struct attest_pcr_select sel[ATTEST_MAX_BANKS];
		uint32_t nsel;
		attest_pcr_spec_parse(spec, sel, &nsel, &err);
	}
	return 0;
}
