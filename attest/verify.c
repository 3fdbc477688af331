/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The verifier: appraises evidence into an attestation result in the style
 * of the IETF EAR draft (draft-ietf-rats-ear).  Order matters: nothing in
 * the evidence is believed until the AK's signature over TPMS_ATTEST holds,
 * and then only the PCR values the signed pcrDigest covers are.  The logs
 * are believed only as far as their replay reproduces those values.
 */
#include "attest_int.h"

#include <errno.h>
#include <time.h>

#include <openssl/evp.h>

const char *attest_status_name(enum attest_status s)
{
	switch (s) {
	case ATTEST_AFFIRMING:
		return "affirming";
	case ATTEST_WARNING:
		return "warning";
	case ATTEST_CONTRAINDICATED:
		return "contraindicated";
	}
	return "none";
}

void result_add(struct attest_result *res, const char *claim, enum attest_status status,
		const char *fmt, ...)
{
	res->appraisals = xrealloc(res->appraisals, (res->n + 1) * sizeof(*res->appraisals));
	struct attest_appraisal *a = &res->appraisals[res->n++];
	a->claim = claim;
	a->status = status;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&a->detail, fmt, ap) < 0)
		abort();
	va_end(ap);
	if (status > res->status)
		res->status = status;
}

void attest_result_free(struct attest_result *res)
{
	for (size_t i = 0; i < res->n; i++)
		free(res->appraisals[i].detail);
	free(res->appraisals);
	free(res->policy);
	memset(res, 0, sizeof(*res));
}

static void hexs(char *out, const uint8_t *d, size_t n)
{
	if (n > ATTEST_MAX_DIGEST)
		n = ATTEST_MAX_DIGEST;
	hex_encode(d, n, out);
}

/* Equal but for line breaks and spaces: the same DER, so the same key. */
static bool same_pem(const char *a, const char *b)
{
	for (;;) {
		while (*a == '\n' || *a == '\r' || *a == ' ' || *a == '\t')
			a++;
		while (*b == '\n' || *b == '\r' || *b == ' ' || *b == '\t')
			b++;
		if (*a != *b)
			return false;
		if (!*a)
			return true;
		a++;
		b++;
	}
}

/* The quote, its signature and the AK.  Returns false when nothing after
 * this may be believed. */
static bool appraise_quote(const struct attest_evidence *ev, const struct attest_verify_opts *o,
			   struct attest_quote *q, struct attest_result *res)
{
	struct moat_error err;
	struct attest_signature sig;
	EVP_PKEY *claimed = NULL;

	if (attest_signature_parse(ev->signature, ev->signature_len, &sig, &err) < 0) {
		result_add(res, "signature", ATTEST_CONTRAINDICATED, "quote.signature: %s", err.msg);
		return false;
	}
	int v = attest_signature_verify(o->ak, ev->quote, ev->quote_len, &sig, &err);
	if (v != 1) {
		result_add(res, "signature", ATTEST_CONTRAINDICATED,
			   "the quote's signature does not verify with the enrolled AK: %s", err.msg);
		return false;
	}
	result_add(res, "signature", ATTEST_AFFIRMING, "signed by the enrolled AK (%s)",
		   attest_alg_name(sig.hash_alg) ? attest_alg_name(sig.hash_alg) : "?");

	/* The AK the node claims must be the one enrolled; a mismatch with a
	 * good signature means the evidence file was edited after signing. */
	if (o->ak_pem && same_pem(o->ak_pem, ev->ak_pem)) {
		result_add(res, "ak", ATTEST_AFFIRMING, "the evidence names the enrolled AK");
	} else if (attest_pem_parse(ev->ak_pem, strlen(ev->ak_pem), "ak.public_pem", &claimed, &err) < 0) {
		result_add(res, "ak", ATTEST_CONTRAINDICATED, "%s", err.msg);
	} else {
		if (EVP_PKEY_eq(claimed, o->ak) != 1)
			result_add(res, "ak", ATTEST_CONTRAINDICATED,
				   "ak.public_pem is not the enrolled AK");
		else
			result_add(res, "ak", ATTEST_AFFIRMING, "the evidence names the enrolled AK");
		EVP_PKEY_free(claimed);
	}

	if (attest_quote_parse(ev->quote, ev->quote_len, q, &err) < 0) {
		result_add(res, "quote", ATTEST_CONTRAINDICATED, "quote.attest: %s", err.msg);
		return false;
	}
	if (q->magic != TPM_GENERATED_VALUE || q->type != TPM_ST_ATTEST_QUOTE) {
		result_add(res, "quote", ATTEST_CONTRAINDICATED,
			   "quote.attest: magic 0x%08x and type 0x%04x are not a TPM-generated quote "
			   "(0x%08x, 0x%04x)", q->magic, q->type, TPM_GENERATED_VALUE,
			   TPM_ST_ATTEST_QUOTE);
		return false;
	}
	result_add(res, "quote", ATTEST_AFFIRMING, "a TPM-generated quote (reset count %u, "
		   "restart count %u)", q->reset_count, q->restart_count);

	char got[2 * 64 + 1], want[2 * 64 + 1];
	if (!o->nonce) {
		hexs(got, q->extra, q->extra_len);
		result_add(res, "nonce", ATTEST_WARNING,
			   "no nonce was given (the quote's extraData is %s): nothing shows the "
			   "quote is fresh", *got ? got : "empty");
	} else if (q->extra_len != o->nonce_len || memcmp(q->extra, o->nonce, o->nonce_len) != 0) {
		hexs(got, q->extra, q->extra_len);
		hexs(want, o->nonce, o->nonce_len);
		result_add(res, "nonce", ATTEST_CONTRAINDICATED,
			   "the quote's extraData is %s, not the nonce %s: the quote is stale or "
			   "replayed", *got ? got : "empty", want);
		return false;
	} else {
		result_add(res, "nonce", ATTEST_AFFIRMING, "extraData equals the nonce");
	}

	uint8_t digest[ATTEST_MAX_DIGEST];
	size_t dlen;
	if (attest_pcr_digest(&ev->pcrs, q, sig.hash_alg, digest, &dlen, &err) < 0) {
		result_add(res, "pcr-digest", ATTEST_CONTRAINDICATED, "%s", err.msg);
		return false;
	}
	if (dlen != q->pcr_digest_len || memcmp(digest, q->pcr_digest, dlen) != 0) {
		hexs(got, digest, dlen);
		hexs(want, q->pcr_digest, q->pcr_digest_len);
		result_add(res, "pcr-digest", ATTEST_CONTRAINDICATED,
			   "the reported PCR values hash to %s, the quote signed %s: a PCR value "
			   "was changed", got, want);
		return false;
	}
	result_add(res, "pcr-digest", ATTEST_AFFIRMING,
		   "the reported PCR values are the quoted ones");
	return true;
}

/* Only what the signed selection covers. */
static void quoted_pcrs(const struct attest_evidence *ev, const struct attest_quote *q,
			struct attest_pcrs *out)
{
	memset(out, 0, sizeof(*out));
	for (uint32_t s = 0; s < q->nsel; s++) {
		struct attest_pcr_bank *src = attest_pcrs_bank((struct attest_pcrs *)&ev->pcrs,
							       q->sel[s].alg);
		struct attest_pcr_bank *dst = attest_pcrs_add_bank(out, q->sel[s].alg);
		if (!src || !dst)
			continue;
		for (int i = 0; i < ATTEST_NUM_PCRS; i++)
			if (q->sel[s].mask & (1u << i) && src->set & (1u << i)) {
				memcpy(dst->pcr[i], src->pcr[i], src->size);
				dst->set |= 1u << i;
			}
	}
}

static void appraise_eventlog(const struct attest_evidence *ev, const struct attest_pcrs *quoted,
			      struct attest_eventlog *log, bool *have_log, struct attest_result *res)
{
	struct moat_error err;
	*have_log = false;
	if (!ev->eventlog) {
		result_add(res, "eventlog", ATTEST_WARNING,
			   "no event log was sent: the boot is not appraised");
		return;
	}
	if (attest_eventlog_parse(ev->eventlog, ev->eventlog_len, "eventlog", log, &err) < 0) {
		result_add(res, "eventlog", ATTEST_CONTRAINDICATED, "%s", err.msg);
		return;
	}
	*have_log = true;

	struct attest_pcrs replayed = { 0 };
	attest_eventlog_replay(log, &replayed);
	uint32_t touched = 0;
	for (size_t i = 0; i < log->nevents; i++)
		if (log->events[i].type != EV_NO_ACTION)
			touched |= 1u << (log->events[i].pcr & 31);

	size_t compared = 0;
	for (size_t b = 0; b < quoted->nbanks; b++) {
		const struct attest_pcr_bank *qb = &quoted->bank[b];
		struct attest_pcr_bank *rb = attest_pcrs_bank(&replayed, qb->alg);
		for (uint32_t i = 0; i < ATTEST_NUM_PCRS; i++) {
			/* PCR 10 is IMA's; the boot log does not extend it. */
			if (!(qb->set & (1u << i)) || i == 10 || !(touched & (1u << i)))
				continue;
			if (!rb || !(rb->set & (1u << i))) {
				result_add(res, "eventlog", ATTEST_CONTRAINDICATED,
					   "PCR %u is quoted in the %s bank, which the event log does "
					   "not carry", i, attest_alg_name(qb->alg));
				return;
			}
			compared++;
			if (memcmp(rb->pcr[i], qb->pcr[i], qb->size) == 0)
				continue;
			char got[129], want[129];
			hexs(got, rb->pcr[i], qb->size);
			hexs(want, qb->pcr[i], qb->size);
			long bad = attest_eventlog_first_bad(log, qb->alg, i, qb->pcr[i]);
			if (bad >= 0) {
				const struct attest_event *e = &log->events[bad];
				const char *t = attest_event_type_name(e->type);
				res->bad_event = bad;
				res->bad_event_offset = e->offset;
				result_add(res, "eventlog", ATTEST_CONTRAINDICATED,
					   "PCR %u (%s) replays to %s, the quote holds %s; the first "
					   "event that breaks it is event %ld at offset %zu (%s)",
					   i, attest_alg_name(qb->alg), got, want, bad, e->offset,
					   t ? t : "unknown type");
			} else {
				result_add(res, "eventlog", ATTEST_CONTRAINDICATED,
					   "PCR %u (%s) replays to %s, the quote holds %s; no event in "
					   "the log is wrong, so events are missing (removed, or the "
					   "log is truncated)", i, attest_alg_name(qb->alg), got, want);
			}
			return;
		}
	}
	/* A replay that matches still must not carry events whose data
	 * contradicts their digest: the digest was extended, the data is a lie. */
	for (size_t i = 0; i < log->nevents; i++) {
		if (!attest_event_digest_mismatch(&log->events[i]))
			continue;
		const struct attest_event *e = &log->events[i];
		res->bad_event = (long)i;
		res->bad_event_offset = e->offset;
		result_add(res, "eventlog", ATTEST_CONTRAINDICATED,
			   "event %zu at offset %zu (%s): its data does not hash to its digest",
			   i, e->offset, attest_event_type_name(e->type) ?: "unknown type");
		return;
	}
	if (!compared)
		result_add(res, "eventlog", ATTEST_WARNING,
			   "the quote covers none of the PCRs the event log extends");
	else
		result_add(res, "eventlog", ATTEST_AFFIRMING,
			   "%zu events replay to the %zu quoted PCR values they extend",
			   log->nevents, compared);
}

static void appraise_ima(const struct attest_evidence *ev, const struct attest_pcrs *quoted,
			 struct attest_ima_list *ima, bool *have_ima, struct attest_result *res)
{
	struct moat_error err;
	*have_ima = false;
	bool quotes_10 = false;
	for (size_t b = 0; b < quoted->nbanks; b++)
		quotes_10 |= (quoted->bank[b].set & (1u << 10)) != 0;
	if (!ev->ima) {
		if (quotes_10)
			result_add(res, "ima", ATTEST_WARNING,
				   "no IMA list was sent: what runs is not appraised");
		return;
	}
	if (attest_ima_parse(ev->ima, ev->ima_len, "ima", ima, &err) < 0) {
		result_add(res, "ima", ATTEST_CONTRAINDICATED, "%s", err.msg);
		return;
	}
	*have_ima = true;
	if (!quotes_10) {
		result_add(res, "ima", ATTEST_CONTRAINDICATED,
			   "an IMA list was sent, but the quote does not cover PCR 10");
		return;
	}
	struct attest_pcrs replayed = { 0 };
	for (size_t b = 0; b < quoted->nbanks; b++)
		if (quoted->bank[b].set & (1u << 10))
			attest_pcrs_add_bank(&replayed, quoted->bank[b].alg);
	long broken = attest_ima_replay(ima, &replayed);
	if (broken >= 0) {
		const struct attest_ima_entry *e = &ima->entries[broken];
		res->bad_ima = broken;
		res->bad_ima_offset = e->offset;
		res->bad_ima_line = e->line;
		result_add(res, "ima", ATTEST_CONTRAINDICATED,
			   "IMA entry %ld (%s %zu): its template hash is not the hash of its data",
			   broken, e->line ? "line" : "offset", e->line ? (size_t)e->line : e->offset);
		return;
	}
	size_t violations = 0;
	for (size_t i = 0; i < ima->nentries; i++)
		violations += ima->entries[i].violation;
	for (size_t b = 0; b < quoted->nbanks; b++) {
		const struct attest_pcr_bank *qb = &quoted->bank[b];
		if (!(qb->set & (1u << 10)))
			continue;
		const struct attest_pcr_bank *rb = attest_pcrs_bank(&replayed, qb->alg);
		if (rb && rb->set & (1u << 10) && memcmp(rb->pcr[10], qb->pcr[10], qb->size) == 0)
			continue;
		/* The replay skipped the SHA-1 check if it did not replay that
		 * bank: now it is worth its cost, to name the entry. */
		long bad = attest_ima_check(ima);
		if (bad >= 0) {
			const struct attest_ima_entry *e = &ima->entries[bad];
			res->bad_ima = bad;
			res->bad_ima_offset = e->offset;
			res->bad_ima_line = e->line;
			result_add(res, "ima", ATTEST_CONTRAINDICATED,
				   "IMA entry %ld (%s %zu): its template hash is not the hash of its "
				   "data", bad, e->line ? "line" : "offset",
				   e->line ? (size_t)e->line : e->offset);
			return;
		}
		char got[129] = "", want[129];
		if (rb)
			hexs(got, rb->pcr[10], qb->size);
		hexs(want, qb->pcr[10], qb->size);
		result_add(res, "ima", ATTEST_CONTRAINDICATED,
			   "the IMA list (%zu entries) replays PCR 10 (%s) to %s, the quote holds "
			   "%s: entries were removed, reordered or added", ima->nentries,
			   attest_alg_name(qb->alg), got, want);
		return;
	}
	result_add(res, "ima", ATTEST_AFFIRMING, "%zu IMA entries replay to the quoted PCR 10",
		   ima->nentries);
	if (violations)
		result_add(res, "ima-violations", ATTEST_WARNING,
			   "%zu IMA violations (a file measured while open for writing, or "
			   "written while measured): those files' contents are unknown", violations);
}

int attest_verify(const struct attest_evidence *ev, const struct attest_verify_opts *o,
		  struct attest_result *res, struct moat_error *err)
{
	memset(res, 0, sizeof(*res));
	res->status = ATTEST_AFFIRMING;
	res->bad_event = -1;
	res->bad_ima = -1;
	if (!o->ak)
		return moat_error_set(err, EINVAL, "no AK to verify with");
	if (!ev->quote || !ev->signature || !ev->ak_pem)
		return moat_error_set(err, EINVAL, "the evidence holds no quote");

	struct attest_quote q;
	if (!appraise_quote(ev, o, &q, res))
		return 0;
	struct attest_pcrs quoted;
	quoted_pcrs(ev, &q, &quoted);

	struct attest_eventlog log = { 0 };
	struct attest_ima_list ima = { 0 };
	bool have_log, have_ima;
	appraise_eventlog(ev, &quoted, &log, &have_log, res);
	appraise_ima(ev, &quoted, &ima, &have_ima, res);
	if (o->refs) {
		struct appraise_input in = { .quoted = &quoted, .log = have_log ? &log : NULL,
					     .ima = have_ima ? &ima : NULL };
		refs_appraise(o->refs, &in, res);
	}
	if (have_log)
		attest_eventlog_free(&log);
	if (have_ima)
		attest_ima_free(&ima);
	return 0;
}

/* ---- output -------------------------------------------------------------- */

/* EAR's trustworthiness vector: which claim each appraisal speaks to. */
static const char *ear_claim(const char *claim)
{
	static const struct {
		const char *claim, *ear;
	} map[] = {
		{ "signature", "instance-identity" }, { "ak", "instance-identity" },
		{ "quote", "hardware" },              { "nonce", "instance-identity" },
		{ "pcr-digest", "hardware" },         { "eventlog", "configuration" },
		{ "pcr-values", "configuration" },    { "boot-events", "configuration" },
		{ "boot-components", "executables" }, { "ima", "executables" },
		{ "ima-violations", "file-system" },  { "ima-allowlist", "file-system" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (strcmp(map[i].claim, claim) == 0)
			return map[i].ear;
	return "sourced-data";
}

int attest_result_print(FILE *out, const struct attest_result *res, enum attest_format fmt)
{
	if (fmt != ATTEST_FMT_JSON) {
		for (size_t i = 0; i < res->n; i++)
			fprintf(out, "%-16s %-15s %s\n", res->appraisals[i].claim,
				attest_status_name(res->appraisals[i].status), res->appraisals[i].detail);
		if (res->bad_event >= 0)
			fprintf(out, "first bad event: %ld (offset %zu in the event log)\n",
				res->bad_event, res->bad_event_offset);
		if (res->bad_ima >= 0) {
			if (res->bad_ima_line)
				fprintf(out, "first bad IMA entry: %ld (line %u)\n", res->bad_ima,
					res->bad_ima_line);
			else
				fprintf(out, "first bad IMA entry: %ld (offset %zu)\n", res->bad_ima,
					res->bad_ima_offset);
		}
		fprintf(out, "verdict: %s\n", attest_status_name(res->status));
		return ferror(out) ? -1 : 0;
	}
	/* The worst appraisal per EAR claim: the trustworthiness vector. */
	static const char *const claims[] = { "instance-identity", "configuration", "executables",
					      "file-system", "hardware", "runtime-opaque",
					      "storage-opaque", "sourced-data" };
	fprintf(out, "{\n  \"eat_profile\": \"tag:github.com,2023:veraison/ear\",\n"
		     "  \"iat\": %lld,\n"
		     "  \"ear.verifier-id\": {\"developer\": \"moat\", \"build\": \"moat %s\"},\n"
		     "  \"submods\": {\n    \"moat-attest\": {\n"
		     "      \"ear.status\": \"%s\",\n      \"ear.appraisal-policy-id\": ",
		(long long)time(NULL), MOAT_VERSION, attest_status_name(res->status));
	/* Replay alone when no reference values were given. */
	const char *policy = res->policy ? res->policy : "moat:replay";
	json_put_string(out, policy, strlen(policy), false);
	fputs(",\n      \"ear.trustworthiness-vector\": {", out);
	bool first = true;
	for (size_t c = 0; c < ARRAY_SIZE(claims); c++) {
		int worst = -1;
		for (size_t i = 0; i < res->n; i++)
			if (strcmp(ear_claim(res->appraisals[i].claim), claims[c]) == 0 &&
			    (int)res->appraisals[i].status > worst)
				worst = (int)res->appraisals[i].status;
		if (worst < 0)
			continue;
		fprintf(out, "%s\"%s\": %d", first ? "" : ", ", claims[c], worst);
		first = false;
	}
	fputs("},\n      \"moat.appraisals\": [", out);
	for (size_t i = 0; i < res->n; i++) {
		fprintf(out, "%s\n        {\"claim\": \"%s\", \"status\": \"%s\", \"detail\": ",
			i ? "," : "", res->appraisals[i].claim,
			attest_status_name(res->appraisals[i].status));
		json_put_string(out, res->appraisals[i].detail, strlen(res->appraisals[i].detail), false);
		fputc('}', out);
	}
	fputs("\n      ]", out);
	if (res->bad_event >= 0)
		fprintf(out, ",\n      \"moat.first-bad-event\": {\"index\": %ld, \"offset\": %zu}",
			res->bad_event, res->bad_event_offset);
	if (res->bad_ima >= 0) {
		fprintf(out, ",\n      \"moat.first-bad-ima-entry\": {\"index\": %ld, ", res->bad_ima);
		if (res->bad_ima_line)
			fprintf(out, "\"line\": %u}", res->bad_ima_line);
		else
			fprintf(out, "\"offset\": %zu}", res->bad_ima_offset);
	}
	fputs("\n    }\n  }\n}\n", out);
	return ferror(out) ? -1 : 0;
}
