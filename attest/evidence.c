/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Evidence: what a node sends its verifier, as JSON
 * (docs/moat-attest-evidence.schema.json).  Everything in it is untrusted
 * until the verifier has checked it: every field's type, encoding and size
 * is checked here, and a message names the file, line and field.
 */
#include "attest.h"

#include <errno.h>
#include <time.h>

#define MAX_QUOTE 4096     /* TPMS_ATTEST: a few hundred bytes in practice */
#define MAX_SIGNATURE 1024 /* RSA-4096 and its header fit */
#define MAX_PEM (16u << 10)
#define MAX_NAME (2 + ATTEST_MAX_DIGEST)

struct ev_parse {
	const char *name;
	bool partial; /* moat-tpm's output: no version or timestamp yet */
	struct moat_error *err;
};

static int bad(struct ev_parse *p, const struct ynode *n, const char *field, const char *fmt,
	       ...) PRINTF(4, 5);
static int bad(struct ev_parse *p, const struct ynode *n, const char *field, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return moat_error_at(p->err, EBADMSG, p->name, n, "%s: %s", field, what);
}

static bool is_string(const struct ynode *n)
{
	return n && n->type == YNODE_SCALAR && n->style == YSTYLE_QUOTED;
}

static int get_string(struct ev_parse *p, const struct ynode *n, const char *field, size_t max,
		      char **out)
{
	if (!is_string(n))
		return bad(p, n, field, "expected a string, found %s", ynode_type_name(n));
	if (n->len > max)
		return bad(p, n, field, "%u bytes is more than the %zu allowed", n->len, max);
	*out = xstrndup(n->str, n->len);
	return 0;
}

/* The logs are decoded where their text was: megabytes of IMA list cost
 * no second buffer.  The parse owns that text (parse_inplace). */
static int get_base64(struct ev_parse *p, const struct ynode *n, const char *field, size_t max,
		      uint8_t **out, size_t *len)
{
	if (!is_string(n))
		return bad(p, n, field, "expected a base64 string, found %s", ynode_type_name(n));
	if ((size_t)n->len / 4 * 3 > max)
		return bad(p, n, field, "more than the %zu bytes allowed", max);
	size_t at;
	if (base64_decode_inplace((char *)n->str, n->len, len, &at) < 0)
		return bad(p, n, field, "not base64 (at character %zu)", at);
	*out = (uint8_t *)n->str;
	return 0;
}

static int get_hex(struct ev_parse *p, const struct ynode *n, const char *field, size_t want,
		   size_t max, uint8_t *out, size_t *len)
{
	if (!is_string(n))
		return bad(p, n, field, "expected a hex string, found %s", ynode_type_name(n));
	if (want && n->len != 2 * want)
		return bad(p, n, field, "expected %zu hex digits, found %u", 2 * want, n->len);
	if (n->len > 2 * max)
		return bad(p, n, field, "more than %zu hex digits", 2 * max);
	if (hex_decode(n->str, n->len, out) < 0)
		return bad(p, n, field, "not hex");
	if (len)
		*len = n->len / 2;
	return 0;
}

static int check_keys(struct ev_parse *p, const struct ynode *map, const char *field,
		      const char *const *keys, size_t nkeys)
{
	for (uint32_t i = 0; i < map->len; i++) {
		const struct ynode *k = map->pairs[i].key;
		size_t j = 0;
		while (j < nkeys && strcmp(keys[j], k->str) != 0)
			j++;
		if (j == nkeys)
			return bad(p, k, field, "unknown field \"%s\"", k->str);
	}
	return 0;
}

static const struct ynode *need_map(struct ev_parse *p, const struct ynode *parent,
				    const char *key, const char *field)
{
	const struct ynode *n = ymap_get(parent, key);
	if (!n) {
		bad(p, parent, field, "missing");
		return NULL;
	}
	if (n->type != YNODE_MAP) {
		bad(p, n, field, "expected an object, found %s", ynode_type_name(n));
		return NULL;
	}
	return n;
}

static int parse_pcrs(struct ev_parse *p, const struct ynode *pcrs, struct attest_pcrs *out)
{
	char field[64];
	for (uint32_t i = 0; i < pcrs->len; i++) {
		const struct ynode *k = pcrs->pairs[i].key, *v = pcrs->pairs[i].val;
		snprintf(field, sizeof(field), "pcrs.%.20s", k->str);
		uint16_t alg = attest_alg_from_name(k->str, k->len);
		if (!alg)
			return bad(p, k, field, "unknown hash algorithm");
		if (v->type != YNODE_MAP)
			return bad(p, v, field, "expected an object, found %s", ynode_type_name(v));
		struct attest_pcr_bank *b = attest_pcrs_add_bank(out, alg);
		if (!b)
			return bad(p, k, field, "too many banks");
		for (uint32_t j = 0; j < v->len; j++) {
			const struct ynode *pk = v->pairs[j].key;
			snprintf(field, sizeof(field), "pcrs.%.20s.%.8s", k->str, pk->str);
			char *end;
			errno = 0;
			unsigned long idx = strtoul(pk->str, &end, 10);
			if (!pk->len || *end || idx >= ATTEST_NUM_PCRS || pk->str[0] == '-' ||
			    pk->str[0] == '+' || (pk->len > 1 && pk->str[0] == '0'))
				return bad(p, pk, field, "a PCR index is 0 to %d",
					   ATTEST_NUM_PCRS - 1);
			if (get_hex(p, v->pairs[j].val, field, b->size, b->size, b->pcr[idx], NULL) < 0)
				return -1;
			b->set |= 1u << idx;
		}
	}
	return 0;
}

static int parse_tree(struct ev_parse *p, const struct ynode *root, struct attest_evidence *ev)
{
	static const char *const top[] = { "moat_version", "timestamp", "quote", "pcrs",
					   "ak", "eventlog", "ima" };
	if (root->type != YNODE_MAP)
		return bad(p, root, "evidence", "expected an object, found %s", ynode_type_name(root));
	if (check_keys(p, root, "evidence", top, ARRAY_SIZE(top)) < 0)
		return -1;
	const struct ynode *n = ymap_get(root, "moat_version");
	if (!n && !p->partial)
		return bad(p, root, "moat_version", "missing");
	if (n && get_string(p, n, "moat_version", 64, &ev->moat_version) < 0)
		return -1;
	n = ymap_get(root, "timestamp");
	if (!n && !p->partial)
		return bad(p, root, "timestamp", "missing");
	if (n && get_string(p, n, "timestamp", 64, &ev->timestamp) < 0)
		return -1;

	const struct ynode *q = need_map(p, root, "quote", "quote");
	static const char *const qkeys[] = { "attest", "signature" };
	if (!q || check_keys(p, q, "quote", qkeys, ARRAY_SIZE(qkeys)) < 0)
		return -1;
	if (!ymap_get(q, "attest"))
		return bad(p, q, "quote.attest", "missing");
	if (!ymap_get(q, "signature"))
		return bad(p, q, "quote.signature", "missing");
	uint8_t *attest, *sig;
	if (get_base64(p, ymap_get(q, "attest"), "quote.attest", MAX_QUOTE, &attest,
		       &ev->quote_len) < 0 ||
	    get_base64(p, ymap_get(q, "signature"), "quote.signature", MAX_SIGNATURE, &sig,
		       &ev->signature_len) < 0)
		return -1;
	/* Small, and the writer of a quote sets them on their own: copies. */
	ev->quote = xmalloc(ev->quote_len + 1);
	memcpy(ev->quote, attest, ev->quote_len);
	ev->signature = xmalloc(ev->signature_len + 1);
	memcpy(ev->signature, sig, ev->signature_len);

	const struct ynode *pcrs = need_map(p, root, "pcrs", "pcrs");
	if (!pcrs || parse_pcrs(p, pcrs, &ev->pcrs) < 0)
		return -1;

	const struct ynode *ak = need_map(p, root, "ak", "ak");
	static const char *const akkeys[] = { "public_pem", "name" };
	if (!ak || check_keys(p, ak, "ak", akkeys, ARRAY_SIZE(akkeys)) < 0)
		return -1;
	if (!ymap_get(ak, "public_pem"))
		return bad(p, ak, "ak.public_pem", "missing");
	if (get_string(p, ymap_get(ak, "public_pem"), "ak.public_pem", MAX_PEM, &ev->ak_pem) < 0)
		return -1;
	if ((n = ymap_get(ak, "name"))) {
		ev->ak_name = xmalloc(MAX_NAME);
		if (get_hex(p, n, "ak.name", 0, MAX_NAME, ev->ak_name, &ev->ak_name_len) < 0)
			return -1;
	}

	n = ymap_get(root, "eventlog");
	if (n && !ynode_is_null(n) &&
	    get_base64(p, n, "eventlog", MOAT_MAX_INPUT, &ev->eventlog, &ev->eventlog_len) < 0)
		return -1;
	n = ymap_get(root, "ima");
	if (n && !ynode_is_null(n) &&
	    get_base64(p, n, "ima", MOAT_MAX_INPUT, &ev->ima, &ev->ima_len) < 0)
		return -1;
	return 0;
}

/* Takes buf (malloc'd, len + 1 bytes): it becomes ev->backing. */
static int parse_inplace(char *buf, size_t len, const char *name, bool partial,
			 struct attest_evidence *ev, struct moat_error *err)
{
	memset(ev, 0, sizeof(*ev));
	ev->backing = buf;
	ev->backing_len = len + 1;
	struct arena *a = arena_new();
	struct ynode *root;
	struct ev_parse p = { .name = name, .partial = partial, .err = err };
	int r = json_parse_tree(buf, len, name, a, &root, err);
	if (r == 0)
		r = parse_tree(&p, root, ev);
	arena_free(a);
	if (r < 0)
		attest_evidence_free(ev);
	return r;
}

int attest_evidence_parse(const char *json, size_t len, const char *name,
			  struct attest_evidence *ev, struct moat_error *err)
{
	return parse_inplace(xstrndup(json, len), len, name, false, ev, err);
}

int attest_evidence_parse_quote(const char *json, size_t len, const char *name,
				struct attest_evidence *ev, struct moat_error *err)
{
	return parse_inplace(xstrndup(json, len), len, name, true, ev, err);
}

int attest_evidence_load(const char *path, struct attest_evidence *ev, struct moat_error *err)
{
	char *buf = NULL;
	size_t len;
	/* Evidence holds the IMA list base64-encoded: room for one of a few
	 * hundred thousand entries. */
	if (read_file(path, MOAT_MAX_INPUT, &buf, &len, err) < 0)
		return -1;
	return parse_inplace(buf, len, path, false, ev, err);
}

/* Frees p unless it lives in the backing text. */
static void free_field(const struct attest_evidence *ev, void *p)
{
	char *c = p;
	if (c && !(ev->backing && c >= ev->backing && c < ev->backing + ev->backing_len))
		free(p);
}

void attest_evidence_free(struct attest_evidence *ev)
{
	free(ev->moat_version);
	free(ev->timestamp);
	free(ev->quote);
	free(ev->signature);
	free_field(ev, ev->eventlog);
	free_field(ev, ev->ima);
	free(ev->ak_pem);
	free(ev->ak_name);
	free(ev->backing);
	memset(ev, 0, sizeof(*ev));
}

/* Text read from JSON: written back byte for byte, so a round trip keeps
 * it exactly (the reader keeps bytes). */
static void put_text(FILE *out, const char *s)
{
	json_put_string(out, s, strlen(s), false);
}

static void put_base64(FILE *out, const uint8_t *d, size_t n)
{
	if (!d) {
		fputs("null", out);
		return;
	}
	_cleanup_free_ char *s = base64_encode(d, n);
	fprintf(out, "\"%s\"", s);
}

int attest_evidence_write(FILE *out, const struct attest_evidence *ev)
{
	char hex[2 * ATTEST_MAX_DIGEST + 1];
	fputs("{\n  \"moat_version\": ", out);
	put_text(out, ev->moat_version ? ev->moat_version : MOAT_VERSION);
	fputs(",\n  \"timestamp\": ", out);
	put_text(out, ev->timestamp ? ev->timestamp : "");
	fputs(",\n  \"quote\": {\n    \"attest\": ", out);
	put_base64(out, ev->quote, ev->quote_len);
	fputs(",\n    \"signature\": ", out);
	put_base64(out, ev->signature, ev->signature_len);
	fputs("\n  },\n  \"pcrs\": {", out);
	for (size_t b = 0; b < ev->pcrs.nbanks; b++) {
		const struct attest_pcr_bank *bank = &ev->pcrs.bank[b];
		fprintf(out, "%s\n    \"%s\": {", b ? "," : "", attest_alg_name(bank->alg));
		bool first = true;
		for (int i = 0; i < ATTEST_NUM_PCRS; i++) {
			if (!(bank->set & (1u << i)))
				continue;
			hex_encode(bank->pcr[i], bank->size, hex);
			fprintf(out, "%s\n      \"%d\": \"%s\"", first ? "" : ",", i, hex);
			first = false;
		}
		fputs("\n    }", out);
	}
	fputs("\n  },\n  \"ak\": {\n    \"public_pem\": ", out);
	put_text(out, ev->ak_pem ? ev->ak_pem : "");
	if (ev->ak_name && ev->ak_name_len <= MAX_NAME) {
		char name[2 * MAX_NAME + 1];
		hex_encode(ev->ak_name, ev->ak_name_len, name);
		fprintf(out, ",\n    \"name\": \"%s\"", name);
	}
	fputs("\n  },\n  \"eventlog\": ", out);
	put_base64(out, ev->eventlog, ev->eventlog_len);
	fputs(",\n  \"ima\": ", out);
	put_base64(out, ev->ima, ev->ima_len);
	fputs("\n}\n", out);
	return ferror(out) ? -1 : 0;
}
