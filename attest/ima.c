/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IMA measurement lists: binary_runtime_measurements and
 * ascii_runtime_measurements as security/integrity/ima/ima_fs.c writes
 * them, and their replay into PCR 10.
 *
 * What the kernel extends is the hash of the template data as
 * ima_calc_field_array_hash() feeds it: for every template but "ima", each
 * field as a u32 length and its bytes; for "ima", the 20-byte digest and
 * the name zero-padded to IMA_EVENT_NAME_LEN_MAX + 1 bytes, no lengths.
 * The binary list carries that data (except for "ima", whose fields it
 * writes in another form); the ASCII list only the fields' text, from
 * which the data is rebuilt here byte for byte.
 */
#include "attest.h"

#include <errno.h>

#define IMA_EVENT_NAME_LEN_MAX 255
#define IMA_TEMPLATE_NAME_MAX 255
/* An ASCII line: the fields of the largest template data, in hex. */
#define IMA_MAX_LINE (2 * ATTEST_MAX_IMA_TEMPLATE + 4096)
#define IMA_OLD_DATA (20 + IMA_EVENT_NAME_LEN_MAX + 1)

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static bool name_is(const char *s, uint32_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* The fields of the kernel's built-in templates (ima_template.c); any other
 * name is taken as a field list itself, as ima_template_fmt= allows. */
static const char *template_fmt(const char *name, uint32_t n)
{
	static const struct {
		const char *name, *fmt;
	} builtin[] = {
		{ "ima", "d|n" },
		{ "ima-ng", "d-ng|n-ng" },
		{ "ima-ngv2", "d-ngv2|n-ng" },
		{ "ima-sig", "d-ng|n-ng|sig" },
		{ "ima-sigv2", "d-ngv2|n-ng|sig" },
		{ "ima-buf", "d-ng|n-ng|buf" },
		{ "ima-modsig", "d-ng|n-ng|sig|d-modsig|modsig" },
		{ "evm-sig", "d-ng|n-ng|evmsig|xattrnames|xattrlengths|xattrvalues|iuid|igid|imode" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(builtin); i++)
		if (name_is(name, n, builtin[i].name))
			return builtin[i].fmt;
	return NULL;
}

/* Calls fn for each length-prefixed field of data, named from fmt (or the
 * template name when it is not a built-in).  Stops at the first field
 * that does not fit. */
typedef void (*field_fn)(const char *id, size_t idlen, const uint8_t *f, uint32_t len, void *ctx);
static void walk_fields(const struct attest_ima_entry *e, field_fn fn, void *ctx)
{
	const char *fmt = template_fmt(e->template_name, e->template_name_len);
	size_t fmtlen = fmt ? strlen(fmt) : e->template_name_len;
	if (!fmt)
		fmt = e->template_name;
	const uint8_t *d = e->template_data;
	uint32_t left = e->template_data_len;
	size_t i = 0;
	while (i < fmtlen && left >= 4) {
		size_t j = i;
		while (j < fmtlen && fmt[j] != '|')
			j++;
		uint32_t len = le32(d);
		if (len > left - 4)
			return;
		fn(fmt + i, j - i, d + 4, len, ctx);
		d += 4 + len;
		left -= 4 + len;
		i = j + 1;
	}
}

static bool id_is(const char *id, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(id, lit, n) == 0;
}

/* d-ng: "<alg>:\0<digest>"; d-ngv2: "<ima|verity>:<alg>:\0<digest>". */
static void take_digest_ng(struct attest_ima_entry *e, const uint8_t *f, uint32_t len)
{
	const uint8_t *nul = memchr(f, 0, len);
	if (!nul || nul == f || nul[-1] != ':')
		return;
	size_t plen = (size_t)(nul - f) - 1; /* without the ':' */
	size_t a = plen;
	while (a > 0 && f[a - 1] != ':')
		a--;
	e->file_alg = attest_alg_from_name((const char *)f + a, plen - a);
	e->file_digest = nul + 1;
	e->file_digest_len = len - (uint32_t)(nul + 1 - f);
}

static void take_field(const char *id, size_t idlen, const uint8_t *f, uint32_t len, void *ctx)
{
	struct attest_ima_entry *e = ctx;
	if (!e->file_digest && (id_is(id, idlen, "d-ng") || id_is(id, idlen, "d-ngv2"))) {
		take_digest_ng(e, f, len);
	} else if (!e->file_digest && id_is(id, idlen, "d")) {
		e->file_alg = len == 20 ? TPM_ALG_SHA1 : 0;
		e->file_digest = f;
		e->file_digest_len = len;
	} else if (!e->path && (id_is(id, idlen, "n-ng") || id_is(id, idlen, "n"))) {
		e->path = (const char *)f;
		e->path_len = len && f[len - 1] == 0 ? len - 1 : len;
	}
}

/* ---- binary ----------------------------------------------------------------- */

struct parse_ctx {
	const uint8_t *buf;
	size_t len;
	struct attest_ima_list *list;
	size_t cap;
	struct moat_error *err;
};

static struct attest_ima_entry *new_entry(struct parse_ctx *c, size_t offset, uint32_t line)
{
	struct attest_ima_list *l = c->list;
	if (l->nentries >= ATTEST_MAX_IMA_ENTRIES) {
		if (line)
			moat_error_set(c->err, EBADMSG, "%s:%u: more than %d entries", l->name, line,
				       ATTEST_MAX_IMA_ENTRIES);
		else
			moat_error_set(c->err, EBADMSG, "%s: offset %zu: more than %d entries",
				       l->name, offset, ATTEST_MAX_IMA_ENTRIES);
		return NULL;
	}
	l->entries = grow_array(l->entries, &c->cap, l->nentries + 1, sizeof(*l->entries));
	struct attest_ima_entry *e = &l->entries[l->nentries];
	memset(e, 0, sizeof(*e));
	e->offset = offset;
	e->line = line;
	e->index = (uint32_t)l->nentries;
	return e;
}

static int bin_err(struct parse_ctx *c, size_t at, const struct attest_ima_entry *e,
		   const char *fmt, ...) PRINTF(4, 5);
static int bin_err(struct parse_ctx *c, size_t at, const struct attest_ima_entry *e,
		   const char *fmt, ...)
{
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return moat_error_set(c->err, EBADMSG, "%s: offset %zu: entry %u: %s", c->list->name, at,
			      e->index, what);
}

static int need(struct parse_ctx *c, struct attest_ima_entry *e, size_t at, size_t n,
		const char *what)
{
	if (c->len - at < n)
		return bin_err(c, at, e, "the list ends inside the %s (%zu of %zu bytes)", what,
			       c->len - at, n);
	return 0;
}

/*
 * The "ima" template: the binary list writes the digest without a length
 * and the name as a u32 length and its bytes (ima_fs.c,
 * IMA_SHOW_BINARY_OLD_STRING_FMT); rebuild what was hashed.
 */
static int parse_binary_old(struct parse_ctx *c, struct attest_ima_entry *e, size_t *at)
{
	size_t p = *at;
	if (need(c, e, p, 24, "ima template fields") < 0)
		return -1;
	const uint8_t *digest = c->buf + p;
	uint32_t nlen = le32(c->buf + p + 20);
	if (nlen > IMA_EVENT_NAME_LEN_MAX)
		return bin_err(c, p + 20, e, "file name of %u bytes exceeds the ima template's %d",
			       nlen, IMA_EVENT_NAME_LEN_MAX);
	if (need(c, e, p + 24, nlen, "file name") < 0)
		return -1;
	uint8_t *data = arena_alloc(c->list->arena, IMA_OLD_DATA);
	memcpy(data, digest, 20);
	memset(data + 20, 0, IMA_OLD_DATA - 20);
	memcpy(data + 20, c->buf + p + 24, nlen);
	e->template_data = data;
	e->template_data_len = IMA_OLD_DATA;
	e->file_alg = TPM_ALG_SHA1;
	e->file_digest = data;
	e->file_digest_len = 20;
	e->path = (const char *)data + 20;
	e->path_len = nlen;
	*at = p + 24 + nlen;
	return 0;
}

static int parse_binary(struct parse_ctx *c, uint16_t hash_alg)
{
	uint16_t hs = attest_alg_size(hash_alg);
	size_t at = 0;
	c->list->template_hash_alg = hash_alg;
	while (at < c->len) {
		struct attest_ima_entry *e = new_entry(c, at, 0);
		if (!e)
			return -1;
		if (need(c, e, at, 4u + hs + 4u, "entry header") < 0)
			return -1;
		e->pcr = le32(c->buf + at);
		if (e->pcr >= ATTEST_NUM_PCRS)
			return bin_err(c, at, e, "PCR %u out of range", e->pcr);
		e->template_hash = c->buf + at + 4;
		e->violation = all_zero(e->template_hash, hs);
		size_t p = at + 4 + hs;
		uint32_t nlen = le32(c->buf + p);
		if (nlen == 0 || nlen > IMA_TEMPLATE_NAME_MAX)
			return bin_err(c, p, e, "template name length %u (1 to %d allowed)", nlen,
				       IMA_TEMPLATE_NAME_MAX);
		if (need(c, e, p + 4, nlen, "template name") < 0)
			return -1;
		e->template_name = (const char *)c->buf + p + 4;
		e->template_name_len = nlen;
		for (uint32_t i = 0; i < nlen; i++)
			if (c->buf[p + 4 + i] < 0x21 || c->buf[p + 4 + i] > 0x7e)
				return bin_err(c, p + 4 + i, e, "template name is not printable");
		p += 4 + nlen;
		if (name_is(e->template_name, nlen, "ima")) {
			if (parse_binary_old(c, e, &p) < 0)
				return -1;
		} else {
			if (need(c, e, p, 4, "template data length") < 0)
				return -1;
			uint32_t dlen = le32(c->buf + p);
			if (dlen > ATTEST_MAX_IMA_TEMPLATE)
				return bin_err(c, p, e, "template data of %u bytes exceeds the limit of %u",
					       dlen, ATTEST_MAX_IMA_TEMPLATE);
			if (c->len - p - 4 < dlen)
				return bin_err(c, p, e,
					       "template data of %u bytes runs past the end of the "
					       "list (%zu bytes)",
					       dlen, c->len);
			e->template_data = c->buf + p + 4;
			e->template_data_len = dlen;
			walk_fields(e, take_field, e);
			p += 4 + dlen;
		}
		c->list->nentries++;
		at = p;
	}
	return 0;
}

/* ---- ASCII -------------------------------------------------------------------- */

static int line_err(struct parse_ctx *c, uint32_t line, const char *fmt, ...) PRINTF(3, 4);
static int line_err(struct parse_ctx *c, uint32_t line, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return moat_error_set(c->err, EBADMSG, "%s:%u: %s", c->list->name, line, what);
}

/* The next space-separated token of [*p, end). */
static bool token(const uint8_t **p, const uint8_t *end, const uint8_t **tok, size_t *n)
{
	const uint8_t *s = *p;
	const uint8_t *t = memchr(s, ' ', (size_t)(end - s));
	if (!t)
		t = end;
	if (t == s)
		return false;
	*tok = s;
	*n = (size_t)(t - s);
	*p = t < end ? t + 1 : end;
	return true;
}

static int parse_ascii_line(struct parse_ctx *c, struct attest_ima_entry *e, const uint8_t *s,
			    const uint8_t *end)
{
	uint32_t line = e->line;
	const uint8_t *tok, *p = s;
	size_t n;
	while (p < end && *p == ' ') /* the kernel prints the PCR as "%2d" */
		p++;
	if (!token(&p, end, &tok, &n) || n > 2)
		return line_err(c, line, "expected a PCR number");
	e->pcr = 0;
	for (size_t i = 0; i < n; i++) {
		if (tok[i] < '0' || tok[i] > '9')
			return line_err(c, line, "expected a PCR number");
		e->pcr = e->pcr * 10 + (uint32_t)(tok[i] - '0');
	}
	if (e->pcr >= ATTEST_NUM_PCRS)
		return line_err(c, line, "PCR %u out of range", e->pcr);

	uint16_t hs = attest_alg_size(c->list->template_hash_alg);
	uint8_t *th = arena_alloc(c->list->arena, hs);
	if (!token(&p, end, &tok, &n) || n != 2u * hs || hex_decode((const char *)tok, n, th) < 0)
		return line_err(c, line, "expected a %u-hex-digit template hash", 2u * hs);
	e->template_hash = th;
	e->violation = all_zero(e->template_hash, hs);

	if (!token(&p, end, &tok, &n) || n > IMA_TEMPLATE_NAME_MAX)
		return line_err(c, line, "expected a template name");
	e->template_name = (const char *)tok;
	e->template_name_len = (uint32_t)n;
	bool old = name_is(e->template_name, (uint32_t)n, "ima");
	bool ng = name_is(e->template_name, (uint32_t)n, "ima-ng") ||
		  name_is(e->template_name, (uint32_t)n, "ima-ngv2");
	bool tail = name_is(e->template_name, (uint32_t)n, "ima-sig") ||
		    name_is(e->template_name, (uint32_t)n, "ima-sigv2") ||
		    name_is(e->template_name, (uint32_t)n, "ima-buf");
	if (!old && !ng && !tail)
		return line_err(c, line,
				"template \"%.*s\" cannot be rebuilt from an ASCII list (ima, "
				"ima-ng, ima-ngv2, ima-sig, ima-sigv2, ima-buf can)",
				(int)n, e->template_name);

	/* The digest field: "<hex>" for ima, "[ima:|verity:]<alg>:<hex>" else. */
	const uint8_t *dg;
	size_t dn;
	if (!token(&p, end, &dg, &dn))
		return line_err(c, line, "expected a file digest");
	size_t prefix = 0;
	if (!old) {
		for (size_t i = 0; i < dn; i++)
			if (dg[i] == ':')
				prefix = i + 1;
		if (!prefix)
			return line_err(c, line, "file digest \"%.*s\" lacks its algorithm",
					(int)(dn > 80 ? 80 : dn), dg);
	}
	size_t hexlen = dn - prefix;
	if (hexlen == 0 || hexlen % 2 || hexlen / 2 > 2 * ATTEST_MAX_DIGEST ||
	    (old && hexlen != 40))
		return line_err(c, line, "file digest of %zu hex digits", hexlen);

	/* The name runs to the end of the line (paths may hold spaces); the
	 * templates with a last hex field end with " <hex>", empty when the
	 * field is, which leaves a trailing space. */
	const uint8_t *name = p, *name_end = end, *hx = end;
	size_t hxn = 0;
	if (tail) {
		const uint8_t *sp = NULL;
		for (const uint8_t *q = end; q > name; q--)
			if (q[-1] == ' ') {
				sp = q - 1;
				break;
			}
		if (sp) {
			name_end = sp;
			hx = sp + 1;
			hxn = (size_t)(end - hx);
		}
	}
	size_t nn = (size_t)(name_end - name);
	if (nn == 0)
		return line_err(c, line, "expected a file name");
	if (memchr(name, 0, nn))
		return line_err(c, line, "file name holds a NUL byte");
	if (hxn % 2)
		return line_err(c, line, "odd number of hex digits in the last field");

	size_t total = old ? IMA_OLD_DATA : 4 + prefix + 1 + hexlen / 2 + 4 + nn + 1 + (tail ? 4 + hxn / 2 : 0);
	if (old && nn > IMA_EVENT_NAME_LEN_MAX)
		return line_err(c, line, "file name of %zu bytes exceeds the ima template's %d", nn,
				IMA_EVENT_NAME_LEN_MAX);
	if (total > ATTEST_MAX_IMA_TEMPLATE)
		return line_err(c, line, "template data of %zu bytes exceeds the limit of %u", total,
				ATTEST_MAX_IMA_TEMPLATE);
	uint8_t *data = arena_alloc(c->list->arena, total), *w = data;
	if (old) {
		if (hex_decode((const char *)dg, 40, data) < 0)
			return line_err(c, line, "file digest is not hex");
		memset(data + 20, 0, IMA_OLD_DATA - 20);
		memcpy(data + 20, name, nn);
		e->file_alg = TPM_ALG_SHA1;
		e->file_digest = data;
		e->file_digest_len = 20;
		e->path = (const char *)data + 20;
		e->path_len = (uint32_t)nn;
	} else {
		put_le32(w, (uint32_t)(prefix + 1 + hexlen / 2));
		memcpy(w + 4, dg, prefix);
		w[4 + prefix] = 0;
		if (hex_decode((const char *)dg + prefix, hexlen, w + 4 + prefix + 1) < 0)
			return line_err(c, line, "file digest is not hex");
		take_digest_ng(e, w + 4, (uint32_t)(prefix + 1 + hexlen / 2));
		w += 4 + prefix + 1 + hexlen / 2;
		put_le32(w, (uint32_t)nn + 1);
		memcpy(w + 4, name, nn);
		w[4 + nn] = 0;
		e->path = (const char *)w + 4;
		e->path_len = (uint32_t)nn;
		w += 4 + nn + 1;
		if (tail) {
			put_le32(w, (uint32_t)(hxn / 2));
			if (hex_decode((const char *)hx, hxn, w + 4) < 0)
				return line_err(c, line, "last field is not hex");
			w += 4 + hxn / 2;
		}
	}
	e->template_data = data;
	e->template_data_len = (uint32_t)total;
	return 0;
}

static int parse_ascii(struct parse_ctx *c)
{
	size_t at = 0;
	uint32_t line = 0;
	struct attest_ima_list *l = c->list;
	/* The kernel's per-bank lists (ascii_runtime_measurements_sha256)
	 * log the template hash with that bank's algorithm: tell by its
	 * length on the first line. */
	size_t lead = c->buf[0] == ' ' ? 1 : 0;
	const uint8_t *sp = memchr(c->buf + lead, ' ', c->len - lead < 64 ? c->len - lead : 64);
	const uint8_t *sp2 = sp ? memchr(sp + 1, ' ', c->len - (size_t)(sp + 1 - c->buf)) : NULL;
	size_t hl = sp && sp2 ? (size_t)(sp2 - sp - 1) : 40;
	l->template_hash_alg = hl == 64 ? TPM_ALG_SHA256 : hl == 96 ? TPM_ALG_SHA384
			       : hl == 128 ? TPM_ALG_SHA512 : TPM_ALG_SHA1;
	while (at < c->len) {
		line++;
		const uint8_t *s = c->buf + at;
		const uint8_t *nl = memchr(s, '\n', c->len - at);
		size_t n = nl ? (size_t)(nl - s) : c->len - at;
		if (n > IMA_MAX_LINE)
			return line_err(c, line, "line longer than %d bytes", IMA_MAX_LINE);
		if (n && s[n - 1] == '\r')
			n--;
		if (n == 0 && !nl)
			break;
		struct attest_ima_entry *e = new_entry(c, at, line);
		if (!e)
			return -1;
		if (parse_ascii_line(c, e, s, s + n) < 0)
			return -1;
		l->nentries++;
		at += (size_t)(nl ? nl - s + 1 : (ptrdiff_t)n);
	}
	return 0;
}

int attest_ima_parse(const uint8_t *buf, size_t len, const char *name,
		     struct attest_ima_list *list, struct moat_error *err)
{
	memset(list, 0, sizeof(*list));
	list->name = name ? name : "ima";
	if (len == 0)
		return moat_error_set(err, EBADMSG, "%s: offset 0: empty measurement list",
				      list->name);
	list->arena = arena_new();
	struct parse_ctx c = { .buf = buf, .len = len, .list = list, .err = err };
	/* A binary list starts with a PCR index below 24 in little-endian:
	 * never an ASCII digit or a space. */
	size_t sp = len > 1 && buf[0] == ' ' ? 1 : 0;
	if (buf[sp] >= '0' && buf[sp] <= '9') {
		list->ascii = true;
		if (parse_ascii(&c) == 0)
			return 0;
		attest_ima_free(list);
		return -1;
	}
	/*
	 * binary_runtime_measurements holds SHA-1 template hashes; the
	 * per-bank lists newer kernels add (binary_runtime_measurements_sha256
	 * ...) hold that bank's.  Nothing in the list says which: the size
	 * that parses the whole list is the one.
	 */
	static const uint16_t algs[] = { TPM_ALG_SHA1, TPM_ALG_SHA256, TPM_ALG_SHA384,
					 TPM_ALG_SHA512 };
	struct moat_error first = { 0 };
	for (size_t i = 0; i < ARRAY_SIZE(algs); i++) {
		list->nentries = 0;
		arena_reset(list->arena);
		if (parse_binary(&c, algs[i]) == 0)
			return 0;
		if (i == 0)
			first = *err;
	}
	*err = first;
	attest_ima_free(list);
	return -1;
}

void attest_ima_free(struct attest_ima_list *list)
{
	if (!list)
		return;
	free(list->entries);
	list->entries = NULL;
	list->nentries = 0;
	arena_free(list->arena);
	list->arena = NULL;
}

/* ---- replay ------------------------------------------------------------------ */

long attest_ima_replay(const struct attest_ima_list *list, struct attest_pcrs *out)
{
	if (out->nbanks == 0) {
		attest_pcrs_add_bank(out, TPM_ALG_SHA1);
		attest_pcrs_add_bank(out, TPM_ALG_SHA256);
	}
	uint16_t check_alg = list->template_hash_alg ? list->template_hash_alg : TPM_ALG_SHA1;
	uint16_t check_size = attest_alg_size(check_alg);
	int check_bank = -1;
	bool usable[ATTEST_MAX_BANKS] = { false };
	uint8_t ones[ATTEST_MAX_DIGEST];
	memset(ones, 0xff, sizeof(ones));
	for (size_t b = 0; b < out->nbanks; b++) {
		uint8_t probe[ATTEST_MAX_DIGEST];
		usable[b] = out->bank[b].size && attest_hash(out->bank[b].alg, "", 0, probe) == 0;
		if (usable[b] && out->bank[b].alg == check_alg)
			check_bank = (int)b;
	}
	uint32_t touched = 0;
	long bad = -1;
	for (size_t i = 0; i < list->nentries; i++) {
		const struct attest_ima_entry *e = &list->entries[i];
		uint32_t bit = 1u << e->pcr;
		if (!(touched & bit)) {
			touched |= bit;
			for (size_t b = 0; b < out->nbanks; b++)
				if (usable[b]) {
					memset(out->bank[b].pcr[e->pcr], 0, out->bank[b].size);
					out->bank[b].set |= bit;
				}
		}
		if (e->violation) {
			for (size_t b = 0; b < out->nbanks; b++)
				if (usable[b])
					attest_extend(out->bank[b].alg, out->bank[b].pcr[e->pcr], ones);
			continue;
		}
		uint8_t h[ATTEST_MAX_DIGEST];
		for (size_t b = 0; b < out->nbanks; b++) {
			if (!usable[b])
				continue;
			attest_hash(out->bank[b].alg, e->template_data, e->template_data_len, h);
			if ((int)b == check_bank && bad < 0 && memcmp(h, e->template_hash, check_size) != 0)
				bad = (long)i;
			attest_extend(out->bank[b].alg, out->bank[b].pcr[e->pcr], h);
		}
	}
	return bad;
}

long attest_ima_check(const struct attest_ima_list *list)
{
	uint16_t alg = list->template_hash_alg ? list->template_hash_alg : TPM_ALG_SHA1;
	uint16_t size = attest_alg_size(alg);
	uint8_t h[ATTEST_MAX_DIGEST];
	for (size_t i = 0; i < list->nentries; i++) {
		const struct attest_ima_entry *e = &list->entries[i];
		if (e->violation)
			continue;
		if (attest_hash(alg, e->template_data, e->template_data_len, h) < 0 ||
		    memcmp(h, e->template_hash, size) != 0)
			return (long)i;
	}
	return -1;
}

/* ---- printing ------------------------------------------------------------------ */

struct last_field {
	const uint8_t *f;
	uint32_t len;
	bool found;
};

static void take_last_hex(const char *id, size_t idlen, const uint8_t *f, uint32_t len, void *ctx)
{
	struct last_field *l = ctx;
	if (id_is(id, idlen, "sig") || id_is(id, idlen, "buf")) {
		l->f = f;
		l->len = len;
		l->found = true;
	}
}

/* The file digest as the ASCII list writes it: "<prefix>:<hex>" for the
 * ng fields, bare hex for the ima template's. */
static void put_file_digest(FILE *out, const struct attest_ima_entry *e)
{
	if (!e->file_digest) {
		putc('-', out);
		return;
	}
	const uint8_t *d = e->file_digest;
	if (e->template_data && d > e->template_data + 4 && d[-1] == 0 &&
	    d <= e->template_data + e->template_data_len) {
		/* Walk back over "<prefix>:\0" to the field start. */
		const uint8_t *s = d - 1;
		while (s > e->template_data + 4 && s[-1] >= 0x21 && s[-1] <= 0x7e)
			s--;
		fwrite(s, 1, (size_t)(d - 1 - s), out);
	}
	hex_fput(out, e->file_digest, e->file_digest_len);
}

/* Text is the kernel's ascii_runtime_measurements line for the templates
 * that have one, so a printed binary list parses as an ASCII one. */
static void print_text(FILE *out, const struct attest_ima_list *list)
{
	uint16_t hs = attest_alg_size(list->template_hash_alg ? list->template_hash_alg : TPM_ALG_SHA1);
	for (size_t i = 0; i < list->nentries; i++) {
		const struct attest_ima_entry *e = &list->entries[i];
		fprintf(out, "%u ", e->pcr);
		hex_fput(out, e->template_hash, hs);
		fprintf(out, " %.*s ", (int)e->template_name_len, e->template_name);
		put_file_digest(out, e);
		putc(' ', out);
		if (e->path)
			fwrite(e->path, 1, e->path_len, out);
		else
			putc('-', out);
		struct last_field lf = { 0 };
		if (!name_is(e->template_name, e->template_name_len, "ima"))
			walk_fields(e, take_last_hex, &lf);
		if (lf.found) {
			putc(' ', out);
			hex_fput(out, lf.f, lf.len);
		}
		putc('\n', out);
	}
}

static void print_json(FILE *out, const struct attest_ima_list *list, bool replay,
		       const struct attest_pcrs *replayed)
{
	uint16_t ha = list->template_hash_alg ? list->template_hash_alg : TPM_ALG_SHA1;
	fprintf(out, "{\n  \"format\": \"%s\",\n  \"template_hash_alg\": \"%s\",\n  \"entries\": [",
		list->ascii ? "ascii" : "binary", attest_alg_name(ha));
	for (size_t i = 0; i < list->nentries; i++) {
		const struct attest_ima_entry *e = &list->entries[i];
		fprintf(out, "%s\n    {\"index\": %u, \"offset\": %zu, ", i ? "," : "", e->index,
			e->offset);
		if (e->line)
			fprintf(out, "\"line\": %u, ", e->line);
		fprintf(out, "\"pcr\": %u, \"template_hash\": \"", e->pcr);
		hex_fput(out, e->template_hash, attest_alg_size(ha));
		fputs("\", \"template\": ", out);
		json_put_string(out, e->template_name, e->template_name_len, true);
		fprintf(out, ", \"violation\": %s", e->violation ? "true" : "false");
		if (e->file_digest) {
			const char *an = attest_alg_name(e->file_alg);
			fprintf(out, ", \"file_alg\": \"%s\", \"file_digest\": \"", an ? an : "unknown");
			hex_fput(out, e->file_digest, e->file_digest_len);
			putc('"', out);
		}
		if (e->path) {
			fputs(", \"path\": ", out);
			json_put_string(out, e->path, e->path_len, true);
		}
		putc('}', out);
	}
	fputs(list->nentries ? "\n  ]" : "]", out);
	if (replay && replayed) {
		fputs(",\n  \"pcrs\": {", out);
		bool first_bank = true;
		for (size_t i = 0; i < replayed->nbanks; i++) {
			const struct attest_pcr_bank *b = &replayed->bank[i];
			const char *an = attest_alg_name(b->alg);
			if (!an)
				continue;
			fprintf(out, "%s\n    \"%s\": {", first_bank ? "" : ",", an);
			first_bank = false;
			bool first = true;
			for (uint32_t r = 0; r < ATTEST_NUM_PCRS; r++) {
				if (!(b->set & (1u << r)))
					continue;
				fprintf(out, "%s\"%u\": \"", first ? "" : ", ", r);
				hex_fput(out, b->pcr[r], b->size);
				putc('"', out);
				first = false;
			}
			putc('}', out);
		}
		fputs(first_bank ? "}" : "\n  }", out);
	}
	fputs("\n}\n", out);
}

int attest_ima_print(FILE *out, const struct attest_ima_list *list, bool replay,
		     const struct attest_pcrs *replayed, enum attest_format fmt)
{
	switch (fmt) {
	case ATTEST_FMT_TEXT:
		print_text(out, list);
		if (replay && replayed)
			for (size_t i = 0; i < replayed->nbanks; i++) {
				const struct attest_pcr_bank *b = &replayed->bank[i];
				for (uint32_t r = 0; r < ATTEST_NUM_PCRS; r++) {
					if (!(b->set & (1u << r)) || !attest_alg_name(b->alg))
						continue;
					fprintf(out, "%s:%u ", attest_alg_name(b->alg), r);
					hex_fput(out, b->pcr[r], b->size);
					putc('\n', out);
				}
			}
		break;
	case ATTEST_FMT_JSON:
		print_json(out, list, replay, replayed);
		break;
	default:
		return -1;
	}
	return ferror(out) ? -1 : 0;
}
