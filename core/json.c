/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A strict JSON reader (RFC 8259) into the same positioned tree the YAML
 * reader builds, so the code that walks a document and the messages that
 * name a line do not care which of the two it came from.
 *
 * It parses in place: strings are unescaped into the buffer they came from
 * (an unescaped string is never longer) and NUL-terminated there, so a
 * megabyte of base64 in a string costs one pass and no copy.  That is why it
 * exists beside jansson, which copies every string byte by byte.
 */
#include "core.h"

#include <errno.h>

struct jp {
	char *s, *end;
	char *p;
	const char *name;
	const char *line_start;
	uint32_t line;
	struct arena *arena;
	struct ynode **stack; /* items and keys/values of open containers */
	size_t nstack, cap;
	size_t nodes;
	struct moat_error *err;
};

static uint32_t col_of(const struct jp *j, const char *at)
{
	return (uint32_t)(at - j->line_start) + 1;
}

static int fail_at(struct jp *j, const char *at, const char *fmt, ...) PRINTF(3, 4);
static int fail_at(struct jp *j, const char *at, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return moat_error_set(j->err, EBADMSG, "%s:%u:%u: %s", j->name, j->line, col_of(j, at),
			      what);
}

static void skip_ws(struct jp *j)
{
	while (j->p < j->end) {
		char c = *j->p;
		if (c == '\n') {
			j->line++;
			j->line_start = j->p + 1;
		} else if (c != ' ' && c != '\t' && c != '\r') {
			return;
		}
		j->p++;
	}
}

static struct ynode *new_node(struct jp *j, uint8_t type, const char *at)
{
	if (++j->nodes > YAML_MAX_NODES) {
		fail_at(j, at, "more than %u values", YAML_MAX_NODES);
		return NULL;
	}
	struct ynode *n = arena_alloc(j->arena, sizeof(*n));
	memset(n, 0, sizeof(*n));
	n->type = type;
	n->line = j->line;
	n->col = col_of(j, at);
	return n;
}

static void push(struct jp *j, struct ynode *n)
{
	j->stack = grow_array(j->stack, &j->cap, j->nstack + 1, sizeof(*j->stack));
	j->stack[j->nstack++] = n;
}

static int hex4(const char *p, uint32_t *v)
{
	uint8_t b[2];
	if (hex_decode(p, 4, b) < 0)
		return -1;
	*v = (uint32_t)b[0] << 8 | b[1];
	return 0;
}

static char *put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		*o++ = (char)cp;
	} else if (cp < 0x800) {
		*o++ = (char)(0xc0 | cp >> 6);
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*o++ = (char)(0xe0 | cp >> 12);
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*o++ = (char)(0xf0 | cp >> 18);
		*o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	}
	return o;
}

/*
 * The first byte at or after p that ends a plain run: a quote, a backslash
 * or a control character.  Eight bytes at a time (the SWAR tests of "Bit
 * Twiddling Hacks"): evidence holds megabytes of base64 in one string.
 */
static char *skip_plain(char *p, const char *end)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	while (end - p >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		uint64_t quote = v ^ (ones * '"'), bslash = v ^ (ones * '\\');
		uint64_t stop = ((quote - ones) & ~quote) | ((bslash - ones) & ~bslash) |
				((v - ones * 0x20) & ~v);
		if (stop & highs)
			break;
		p += 8;
	}
	while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
		p++;
	return p;
}

/* j->p at the opening quote; unescapes in place. */
static struct ynode *parse_string(struct jp *j)
{
	char *start = j->p;
	struct ynode *n = new_node(j, YNODE_SCALAR, start);
	if (!n)
		return NULL;
	n->style = YSTYLE_QUOTED;
	char *in = ++j->p, *out = in;
	/* The common case, a run with no escapes, is scanned with memchr-like
	 * speed: nothing is moved until the first backslash. */
	for (;;) {
		char *q = skip_plain(in, j->end);
		if (out != in)
			memmove(out, in, (size_t)(q - in));
		out += q - in;
		in = q;
		if (in >= j->end) {
			fail_at(j, start, "string never ends");
			return NULL;
		}
		if (*in == '"')
			break;
		if ((unsigned char)*in < 0x20) {
			fail_at(j, in, "control character 0x%02x in a string", (unsigned char)*in);
			return NULL;
		}
		/* a backslash */
		if (in + 1 >= j->end) {
			fail_at(j, start, "string never ends");
			return NULL;
		}
		char e = in[1];
		in += 2;
		switch (e) {
		case '"': *out++ = '"'; break;
		case '\\': *out++ = '\\'; break;
		case '/': *out++ = '/'; break;
		case 'b': *out++ = '\b'; break;
		case 'f': *out++ = '\f'; break;
		case 'n': *out++ = '\n'; break;
		case 'r': *out++ = '\r'; break;
		case 't': *out++ = '\t'; break;
		case 'u': {
			uint32_t cp, lo;
			if (j->end - in < 4 || hex4(in, &cp) < 0) {
				fail_at(j, in - 2, "\\u needs four hex digits");
				return NULL;
			}
			in += 4;
			if (cp >= 0xd800 && cp < 0xdc00) {
				if (j->end - in < 6 || in[0] != '\\' || in[1] != 'u' ||
				    hex4(in + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff) {
					fail_at(j, in - 6, "unpaired UTF-16 surrogate");
					return NULL;
				}
				in += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp < 0xe000) {
				fail_at(j, in - 6, "unpaired UTF-16 surrogate");
				return NULL;
			}
			if (cp == 0) {
				fail_at(j, in - 6, "\\u0000 in a string");
				return NULL;
			}
			/* At most 4 bytes out for the 6 or 12 read. */
			out = put_utf8(out, cp);
			break;
		}
		default:
			fail_at(j, in - 2, "unknown escape \\%c", e);
			return NULL;
		}
	}
	size_t len = (size_t)(out - (start + 1));
	if (len > UINT32_MAX) {
		fail_at(j, start, "string too long");
		return NULL;
	}
	*out = '\0';
	j->p = in + 1;
	n->str = start + 1;
	n->len = (uint32_t)len;
	return n;
}

static struct ynode *parse_bare(struct jp *j)
{
	char *start = j->p;
	struct ynode *n = new_node(j, YNODE_SCALAR, start);
	if (!n)
		return NULL;
	static const char *const words[] = { "true", "false", "null" };
	for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
		size_t w = strlen(words[i]);
		if ((size_t)(j->end - start) >= w && memcmp(start, words[i], w) == 0) {
			j->p += w;
			n->str = words[i];
			n->len = (uint32_t)w;
			return n;
		}
	}
	/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
	char *q = start;
	if (q < j->end && *q == '-')
		q++;
	if (q < j->end && *q == '0') {
		q++;
	} else if (q < j->end && *q >= '1' && *q <= '9') {
		while (q < j->end && *q >= '0' && *q <= '9')
			q++;
	} else {
		fail_at(j, start, "expected a value");
		return NULL;
	}
	if (q < j->end && *q == '.') {
		q++;
		if (q >= j->end || *q < '0' || *q > '9') {
			fail_at(j, q, "expected a digit after '.'");
			return NULL;
		}
		while (q < j->end && *q >= '0' && *q <= '9')
			q++;
	}
	if (q < j->end && (*q == 'e' || *q == 'E')) {
		q++;
		if (q < j->end && (*q == '+' || *q == '-'))
			q++;
		if (q >= j->end || *q < '0' || *q > '9') {
			fail_at(j, q, "expected a digit in the exponent");
			return NULL;
		}
		while (q < j->end && *q >= '0' && *q <= '9')
			q++;
	}
	if (q - start > 64) {
		fail_at(j, start, "number too long");
		return NULL;
	}
	n->str = arena_strndup(j->arena, start, (size_t)(q - start));
	n->len = (uint32_t)(q - start);
	j->p = q;
	return n;
}

static struct ynode *parse_value(struct jp *j, int depth);

static struct ynode *parse_container(struct jp *j, int depth, bool is_map)
{
	char *start = j->p;
	if (depth > YAML_MAX_DEPTH) {
		fail_at(j, start, "nested deeper than %d", YAML_MAX_DEPTH);
		return NULL;
	}
	struct ynode *n = new_node(j, is_map ? YNODE_MAP : YNODE_SEQ, start);
	if (!n)
		return NULL;
	size_t base = j->nstack;
	char close = is_map ? '}' : ']';
	j->p++;
	skip_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return n;
	}
	for (;;) {
		skip_ws(j);
		if (is_map) {
			if (j->p >= j->end || *j->p != '"') {
				fail_at(j, j->p, "expected a string key");
				return NULL;
			}
			struct ynode *k = parse_string(j);
			if (!k)
				return NULL;
			for (size_t i = base; i < j->nstack; i += 2)
				if (j->stack[i]->len == k->len &&
				    memcmp(j->stack[i]->str, k->str, k->len) == 0) {
					moat_error_set(j->err, EBADMSG,
						       "%s:%u:%u: duplicate key \"%s\" (first at line %u)",
						       j->name, k->line, k->col, k->str,
						       j->stack[i]->line);
					return NULL;
				}
			push(j, k);
			skip_ws(j);
			if (j->p >= j->end || *j->p != ':') {
				fail_at(j, j->p, "expected ':' after key \"%s\"", k->str);
				return NULL;
			}
			j->p++;
		}
		struct ynode *v = parse_value(j, depth + 1);
		if (!v)
			return NULL;
		push(j, v);
		skip_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == close) {
			j->p++;
			break;
		}
		fail_at(j, j->p < j->end ? j->p : j->end,
			"expected ',' or '%c'%s", close, j->p >= j->end ? " before the end" : "");
		return NULL;
	}
	size_t k = j->nstack - base;
	if (is_map) {
		n->len = (uint32_t)(k / 2);
		n->pairs = arena_alloc(j->arena, n->len * sizeof(*n->pairs));
		for (size_t i = 0; i < n->len; i++) {
			n->pairs[i].key = j->stack[base + 2 * i];
			n->pairs[i].val = j->stack[base + 2 * i + 1];
		}
	} else {
		n->len = (uint32_t)k;
		n->items = arena_alloc(j->arena, k * sizeof(*n->items));
		memcpy(n->items, j->stack + base, k * sizeof(*n->items));
	}
	j->nstack = base;
	return n;
}

static struct ynode *parse_value(struct jp *j, int depth)
{
	skip_ws(j);
	if (j->p >= j->end) {
		fail_at(j, j->end, "expected a value before the end");
		return NULL;
	}
	switch (*j->p) {
	case '{':
		return parse_container(j, depth, true);
	case '[':
		return parse_container(j, depth, false);
	case '"':
		return parse_string(j);
	default:
		return parse_bare(j);
	}
}

int json_parse_tree(char *buf, size_t len, const char *name, struct arena *arena,
		    struct ynode **root, struct moat_error *err)
{
	struct jp j = { .s = buf, .end = buf + len, .p = buf, .name = name, .line_start = buf,
			.line = 1, .arena = arena, .err = err };
	*root = NULL;
	/* A NUL inside the text would end a C string early: refuse it. */
	const char *nul = memchr(buf, '\0', len);
	if (nul) {
		j.p = (char *)nul;
		for (const char *q = buf; q < nul; q++)
			if (*q == '\n') {
				j.line++;
				j.line_start = q + 1;
			}
		return fail_at(&j, nul, "NUL byte in the text");
	}
	struct ynode *v = parse_value(&j, 0);
	if (v) {
		skip_ws(&j);
		if (j.p < j.end) {
			fail_at(&j, j.p, "text after the end of the value");
			v = NULL;
		}
	}
	free(j.stack);
	if (!v)
		return -1;
	*root = v;
	return 0;
}
