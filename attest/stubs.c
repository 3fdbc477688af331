/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholders while attest is being built: each goes as its file lands. */
#include "attest.h"

#include <errno.h>

#define NOT_BUILT(err) moat_error_set(err, ENOSYS, "not built yet")

/* ---- quote.c ---- */
int attest_quote_parse(const uint8_t *buf, size_t len, struct attest_quote *q,
		       struct moat_error *err)
{ (void)buf; (void)len; (void)q; return NOT_BUILT(err); }
int attest_signature_parse(const uint8_t *buf, size_t len, struct attest_signature *sig,
			   struct moat_error *err)
{ (void)buf; (void)len; (void)sig; return NOT_BUILT(err); }
int attest_signature_verify(struct evp_pkey_st *key, const uint8_t *msg, size_t len,
			    const struct attest_signature *sig, struct moat_error *err)
{ (void)key; (void)msg; (void)len; (void)sig; return NOT_BUILT(err); }
int attest_tpm_public_parse(const uint8_t *buf, size_t len, bool sized,
			    struct evp_pkey_st **key, uint8_t *name, size_t *name_len,
			    struct moat_error *err)
{ (void)buf; (void)len; (void)sized; (void)key; (void)name; (void)name_len; return NOT_BUILT(err); }
int attest_pem_load(const char *path, struct evp_pkey_st **key, struct moat_error *err)
{ (void)path; (void)key; return NOT_BUILT(err); }
int attest_pem_parse(const char *pem, size_t len, const char *name,
		     struct evp_pkey_st **key, struct moat_error *err)
{ (void)pem; (void)len; (void)name; (void)key; return NOT_BUILT(err); }
int attest_pcr_digest(const struct attest_pcrs *pcrs, const struct attest_quote *q,
		      uint16_t hash_alg, uint8_t *out, size_t *out_len, struct moat_error *err)
{ (void)pcrs; (void)q; (void)hash_alg; (void)out; (void)out_len; return NOT_BUILT(err); }

/* ---- alg.c ---- */
int attest_pcr_spec_parse(const char *spec, struct attest_pcr_select *sel, uint32_t *nsel,
			  struct moat_error *err)
{ (void)spec; (void)sel; (void)nsel; return NOT_BUILT(err); }
