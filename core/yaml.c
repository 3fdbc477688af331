/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A YAML tree that keeps the line and column of every node, built from
 * libyaml's event stream.  Nodes live in one arena per file.  Aliases point
 * at their anchor's node instead of copying it, and every node carries the
 * size it would have if aliases were expanded: a document whose expanded size
 * passes YAML_MAX_EXPANDED is refused, which defuses "billion laughs" without
 * refusing the ordinary use of anchors.
 */
#include "core.h"

#include <errno.h>
#include <limits.h>
#include <yaml.h>

struct anchor {
	char *name;
	struct ynode *node;
	uint64_t weight;
};

struct frame {
	struct ynode *node;
	size_t first;    /* index of its first child in builder.kids */
	uint64_t weight; /* expanded size so far */
	char *anchor;
};

struct builder {
	const char *name;
	struct yfile *file;
	struct frame stack[YAML_MAX_DEPTH + 1];
	size_t depth;
	struct ynode **kids; /* children of every open collection, in order */
	uint64_t *kid_weight;
	size_t nkids, cap_kids, cap_weight;
	struct anchor *anchors; /* open-addressed hash, per document */
	size_t cap_anchors, nanchors;
	size_t nodes;
	struct ynode *root;
	uint64_t root_weight;
	struct moat_error *err;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static struct anchor *anchor_slot(struct builder *b, const char *name)
{
	size_t mask = b->cap_anchors - 1;
	for (size_t i = hash_str(name) & mask;; i = (i + 1) & mask)
		if (!b->anchors[i].name || strcmp(b->anchors[i].name, name) == 0)
			return &b->anchors[i];
}

static void anchors_clear(struct builder *b)
{
	for (size_t i = 0; i < b->cap_anchors; i++)
		free(b->anchors[i].name);
	free(b->anchors);
	b->anchors = NULL;
	b->cap_anchors = b->nanchors = 0;
}

static void anchor_put(struct builder *b, char *name, struct ynode *node,
		       uint64_t weight)
{
	if ((b->nanchors + 1) * 2 > b->cap_anchors) {
		struct anchor *old = b->anchors;
		size_t oldcap = b->cap_anchors;
		b->cap_anchors = oldcap ? oldcap * 2 : 16;
		b->anchors = xcalloc(b->cap_anchors, sizeof(*b->anchors));
		for (size_t i = 0; i < oldcap; i++)
			if (old[i].name)
				*anchor_slot(b, old[i].name) = old[i];
		free(old);
	}
	struct anchor *a = anchor_slot(b, name);
	if (a->name) {
		/* YAML lets a later anchor of the same name shadow an earlier one. */
		free(a->name);
	} else {
		b->nanchors++;
	}
	a->name = name;
	a->node = node;
	a->weight = weight;
}

static struct ynode *node_new(struct builder *b, int type, const yaml_mark_t *m)
{
	if (++b->nodes > YAML_MAX_NODES) {
		moat_error_set(b->err, EFBIG, "%s:%zu:%zu: more than %u YAML nodes",
			       b->name, m->line + 1, m->column + 1, YAML_MAX_NODES);
		return NULL;
	}
	struct ynode *n = arena_alloc(b->file->arena, sizeof(*n));
	memset(n, 0, sizeof(*n));
	n->type = (uint8_t)type;
	n->line = (uint32_t)(m->line + 1);
	n->col = (uint32_t)(m->column + 1);
	return n;
}

/* Attaches a finished node to the open collection, or makes it the root. */
static int attach(struct builder *b, struct ynode *n, uint64_t weight,
		  const yaml_mark_t *m)
{
	if (b->depth == 0) {
		b->root = n;
		b->root_weight = weight;
		return 0;
	}
	struct frame *f = &b->stack[b->depth - 1];
	f->weight += weight;
	if (f->weight > YAML_MAX_EXPANDED)
		return moat_error_set(b->err, EMLINK,
				      "%s:%zu:%zu: this document, with its aliases expanded, passes %u "
				      "nodes; refusing it (a \"billion laughs\" document?)",
				      b->name, m->line + 1, m->column + 1, YAML_MAX_EXPANDED);
	b->kids = grow_array(b->kids, &b->cap_kids, b->nkids + 1, sizeof(*b->kids));
	b->kids[b->nkids++] = n;
	return 0;
}

static bool key_equal(const struct ynode *a, const struct ynode *b)
{
	return a->type == YNODE_SCALAR && b->type == YNODE_SCALAR &&
	       a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
}

static int cmp_key(const void *pa, const void *pb)
{
	const struct ypair *a = pa, *b = pb;
	if (a->key->len != b->key->len)
		return a->key->len < b->key->len ? -1 : 1;
	int c = memcmp(a->key->str, b->key->str, a->key->len);
	if (c)
		return c;
	return a->key->line < b->key->line ? -1 : a->key->line > b->key->line;
}

/* Kubernetes' decoder refuses a mapping that repeats a key, and so do we:
 * two parsers that keep different copies of a key are how policy is evaded. */
static int check_duplicates(struct builder *b, const struct ynode *map)
{
	const struct ypair *p = map->pairs;
	size_t n = map->len;
	if (n < 2)
		return 0;
	if (n <= 16) {
		for (size_t i = 1; i < n; i++) {
			if (p[i].key->type != YNODE_SCALAR || yscalar_is(p[i].key, "<<"))
				continue;
			for (size_t j = 0; j < i; j++)
				if (key_equal(p[i].key, p[j].key))
					goto dup;
			continue;
dup:;
			size_t k;
			for (k = 0; !key_equal(p[i].key, p[k].key); k++)
				;
			return moat_error_set(b->err, EBADMSG,
					      "%s:%u:%u: duplicate key \"%s\" (first at line %u)",
					      b->name, p[i].key->line, p[i].key->col,
					      p[i].key->str, p[k].key->line);
		}
		return 0;
	}
	struct ypair *sorted = xmalloc(n * sizeof(*sorted));
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (p[i].key->type == YNODE_SCALAR && !yscalar_is(p[i].key, "<<"))
			sorted[m++] = p[i];
	qsort(sorted, m, sizeof(*sorted), cmp_key);
	for (size_t i = 1; i < m; i++) {
		if (key_equal(sorted[i].key, sorted[i - 1].key)) {
			int r = moat_error_set(b->err, EBADMSG,
					       "%s:%u:%u: duplicate key \"%s\" (first at line %u)",
					       b->name, sorted[i].key->line, sorted[i].key->col,
					       sorted[i].key->str, sorted[i - 1].key->line);
			free(sorted);
			return r;
		}
	}
	free(sorted);
	return 0;
}

static int open_collection(struct builder *b, int type, const yaml_mark_t *m,
			   const yaml_char_t *anchor)
{
	if (b->depth >= YAML_MAX_DEPTH)
		return moat_error_set(b->err, EMLINK,
				      "%s:%zu:%zu: nested deeper than %u levels",
				      b->name, m->line + 1, m->column + 1, YAML_MAX_DEPTH);
	struct ynode *n = node_new(b, type, m);
	if (!n)
		return -1;
	struct frame *f = &b->stack[b->depth++];
	f->node = n;
	f->first = b->nkids;
	f->weight = 1;
	f->anchor = anchor ? xstrdup((const char *)anchor) : NULL;
	return 0;
}

static int close_collection(struct builder *b, const yaml_mark_t *m)
{
	struct frame *f = &b->stack[--b->depth];
	struct ynode *n = f->node;
	size_t count = b->nkids - f->first;
	struct ynode **kids = count ? b->kids + f->first : NULL;
	if (n->type == YNODE_SEQ) {
		n->items = arena_alloc(b->file->arena, count * sizeof(*n->items) + 1);
		if (count)
			memcpy(n->items, kids, count * sizeof(*kids));
		n->len = (uint32_t)count;
	} else {
		n->pairs = arena_alloc(b->file->arena, count / 2 * sizeof(*n->pairs) + 1);
		for (size_t i = 0; i + 1 < count; i += 2) {
			n->pairs[i / 2].key = kids[i];
			n->pairs[i / 2].val = kids[i + 1];
			if (kids[i]->type == YNODE_SCALAR && kids[i]->style == YSTYLE_PLAIN &&
			    kids[i]->len == 2 && kids[i]->str[0] == '<' && kids[i]->str[1] == '<')
				n->style |= YMAP_HAS_MERGE;
		}
		n->len = (uint32_t)(count / 2);
	}
	b->nkids = f->first;
	uint64_t weight = f->weight;
	char *anchor = f->anchor;
	f->anchor = NULL;
	if (n->type == YNODE_MAP && check_duplicates(b, n) < 0) {
		free(anchor);
		return -1;
	}
	if (anchor)
		anchor_put(b, anchor, n, weight);
	return attach(b, n, weight, m);
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
	struct ynode *n = node_new(b, YNODE_SCALAR, &ev->start_mark);
	if (!n)
		return -1;
	size_t len = ev->data.scalar.length;
	n->str = arena_strndup(b->file->arena, (const char *)ev->data.scalar.value, len);
	n->len = (uint32_t)len;
	switch (ev->data.scalar.style) {
	case YAML_PLAIN_SCALAR_STYLE:
		n->style = YSTYLE_PLAIN;
		break;
	case YAML_LITERAL_SCALAR_STYLE:
	case YAML_FOLDED_SCALAR_STYLE:
		n->style = YSTYLE_BLOCK;
		break;
	default:
		n->style = YSTYLE_QUOTED;
		break;
	}
	/* An explicit !!str makes a plain scalar a string, as it does upstream. */
	if (ev->data.scalar.tag &&
	    strcmp((const char *)ev->data.scalar.tag, YAML_STR_TAG) == 0)
		n->style = YSTYLE_QUOTED;
	if (ev->data.scalar.anchor)
		anchor_put(b, xstrdup((const char *)ev->data.scalar.anchor), n, 1);
	return attach(b, n, 1, &ev->start_mark);
}

static int on_alias(struct builder *b, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	struct anchor *a = b->cap_anchors ? anchor_slot(b, name) : NULL;
	if (!a || !a->name)
		return moat_error_set(b->err, EBADMSG, "%s:%zu:%zu: unknown alias *%s",
				      b->name, ev->start_mark.line + 1,
				      ev->start_mark.column + 1, name);
	return attach(b, a->node, a->weight, &ev->start_mark);
}

static void builder_reset_doc(struct builder *b)
{
	while (b->depth)
		free(b->stack[--b->depth].anchor);
	b->nkids = 0;
	b->root = NULL;
	b->root_weight = 0;
	anchors_clear(b);
}

/* With each_doc set, a document is handed over as soon as it ends and its
 * nodes are dropped after; otherwise every document is kept in file. */
/* Where the document holding byte off starts: after the last "---" line
 * before it, or 0 when there is none. */
static size_t last_separator(const char *buf, size_t off)
{
	size_t cut = 0;
	for (size_t i = 0; i + 3 <= off; i++)
		if ((i == 0 || buf[i - 1] == '\n') && memcmp(buf + i, "---", 3) == 0 &&
		    (i + 3 == off || buf[i + 3] == '\n' || buf[i + 3] == ' ' || buf[i + 3] == '\r'))
			cut = i;
	return cut;
}

static int parse_stream(const char *name, const char *buf, size_t len, struct yfile *file,
			yaml_doc_fn each_doc, void *ctx, size_t skip, struct moat_error *err)
{
	size_t doc_cap = 0, delivered = 0;
	struct builder b = { .name = name, .file = file, .err = err };
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser))
		return moat_error_set(err, ENOMEM, "%s: cannot start the YAML parser", name);
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);

	int ret = 0;
	uint32_t doc_line = 1;
	for (bool done = false; !done && ret == 0;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev)) {
			const char *what = parser.context;
			if (parser.error == YAML_READER_ERROR) {
				/* Encoding errors come with a byte offset instead of a mark. */
				size_t off = parser.problem_offset < len ? parser.problem_offset : len;
				size_t line = 1, col = 1;
				for (size_t i = 0; i < off; i++) {
					if (buf[i] == '\n') {
						line++;
						col = 1;
					} else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
						col++;
					}
				}
				/* libyaml decodes ahead of what it parses, so documents
				 * before the bad byte were never handed over: parse the
				 * part before the document that holds it, once more. */
				size_t cut = last_separator(buf, off);
				if (cut && cut < len) {
					struct moat_error ignored;
					parse_stream(name, buf, cut, file, each_doc, ctx, delivered,
						     &ignored);
				}
				ret = moat_error_set(err, EBADMSG,
						     "%s:%zu:%zu: YAML syntax error: %s (byte 0x%02x at offset %zu)",
						     name, line, col,
						     parser.problem ? parser.problem : "unreadable input",
						     off < len ? (unsigned char)buf[off] : 0, off);
				break;
			}
			ret = moat_error_set(err, EBADMSG, "%s:%zu:%zu: YAML syntax error: %s%s%s",
					     name, parser.problem_mark.line + 1,
					     parser.problem_mark.column + 1,
					     parser.problem ? parser.problem : "unknown problem",
					     what ? " " : "", what ? what : "");
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			builder_reset_doc(&b);
			doc_line = (uint32_t)ev.start_mark.line + 1;
			break;
		case YAML_DOCUMENT_END_EVENT: {
			struct ynode *root = b.root;
			if (root && root->type == YNODE_SCALAR && ynode_is_null(root))
				root = NULL; /* "---" with nothing after it */
			struct ydoc doc = { root, root ? root->line : doc_line };
			builder_reset_doc(&b);
			if (delivered++ < skip) {
				if (each_doc)
					arena_reset(file->arena);
				break;
			}
			if (each_doc) {
				each_doc(&doc, ctx);
				/* The next document reuses the same, cache-warm memory. */
				arena_reset(file->arena);
				b.nodes = 0;
				break;
			}
			file->docs = grow_array(file->docs, &doc_cap, file->ndocs + 1,
						sizeof(*file->docs));
			file->docs[file->ndocs++] = doc;
			break;
		}
		case YAML_SCALAR_EVENT:
			ret = on_scalar(&b, &ev);
			break;
		case YAML_ALIAS_EVENT:
			ret = on_alias(&b, &ev);
			break;
		case YAML_SEQUENCE_START_EVENT:
			ret = open_collection(&b, YNODE_SEQ, &ev.start_mark,
					      ev.data.sequence_start.anchor);
			break;
		case YAML_MAPPING_START_EVENT:
			ret = open_collection(&b, YNODE_MAP, &ev.start_mark,
					      ev.data.mapping_start.anchor);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			ret = close_collection(&b, &ev.start_mark);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	builder_reset_doc(&b);
	free(b.kids);
	return ret;
}

int yaml_parse(const char *name, const char *buf, size_t len, struct yfile **out,
	       struct moat_error *err)
{
	struct yfile *file = xcalloc(1, sizeof(*file));
	file->name = xstrdup(name);
	file->arena = arena_new();
	*out = file;
	return parse_stream(name, buf, len, file, NULL, NULL, 0, err);
}

int yaml_parse_each(const char *name, const char *buf, size_t len, yaml_doc_fn fn,
		    void *ctx, struct moat_error *err)
{
	struct yfile file = { .arena = arena_new() };
	int ret = parse_stream(name, buf, len, &file, fn, ctx, 0, err);
	arena_free(file.arena);
	return ret;
}

void yfile_free(struct yfile *f)
{
	if (!f)
		return;
	arena_free(f->arena);
	free(f->docs);
	free(f->name);
	free(f);
}

bool yscalar_is(const struct ynode *n, const char *s)
{
	return n && n->type == YNODE_SCALAR && strcmp(n->str, s) == 0;
}

static const struct ypair *map_get_depth(const struct ynode *map, const char *key,
					 int depth)
{
	if (!map || map->type != YNODE_MAP || depth > 8)
		return NULL;
	size_t klen = strlen(key);
	for (uint32_t i = 0; i < map->len; i++) {
		const struct ynode *k = map->pairs[i].key;
		if (k->len == klen && k->type == YNODE_SCALAR && k->str[0] == key[0] &&
		    memcmp(k->str, key, klen) == 0 &&
		    !(k->style == YSTYLE_PLAIN && klen == 2 && key[0] == '<' && key[1] == '<'))
			return &map->pairs[i];
	}
	if (!(map->style & YMAP_HAS_MERGE))
		return NULL;
	/* Keys written in the mapping win over merged ones (YAML merge key spec). */
	for (uint32_t i = 0; i < map->len; i++) {
		const struct ynode *k = map->pairs[i].key;
		if (k->style != YSTYLE_PLAIN || !yscalar_is(k, "<<"))
			continue;
		const struct ynode *v = map->pairs[i].val;
		if (v->type == YNODE_MAP) {
			const struct ypair *r = map_get_depth(v, key, depth + 1);
			if (r)
				return r;
		} else if (v->type == YNODE_SEQ) {
			for (uint32_t j = 0; j < v->len; j++) {
				const struct ypair *r = map_get_depth(v->items[j], key, depth + 1);
				if (r)
					return r;
			}
		}
	}
	return NULL;
}

const struct ypair *ymap_find(const struct ynode *map, const char *key)
{
	return map_get_depth(map, key, 0);
}

const struct ynode *ymap_get(const struct ynode *map, const char *key)
{
	const struct ypair *p = map_get_depth(map, key, 0);
	return p ? p->val : NULL;
}

bool ynode_is_null(const struct ynode *n)
{
	if (!n)
		return true;
	if (n->type != YNODE_SCALAR || n->style != YSTYLE_PLAIN)
		return false;
	switch (n->len) {
	case 0:
		return true;
	case 1:
		return n->str[0] == '~';
	case 4:
		return strcmp(n->str, "null") == 0 || strcmp(n->str, "Null") == 0 ||
		       strcmp(n->str, "NULL") == 0;
	default:
		return false;
	}
}

int ynode_bool(const struct ynode *n, bool *v)
{
	/* YAML 1.1 booleans, the set Kubernetes' decoder (go-yaml v2) accepts. */
	static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES",
					   "on", "On", "ON", "y", "Y" };
	static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO",
					  "off", "Off", "OFF", "n", "N" };
	if (!n || n->type != YNODE_SCALAR || n->style != YSTYLE_PLAIN || n->len > 5 ||
	    !strchr("tTyYoOfFnN", n->str[0]) || !n->len)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcmp(n->str, yes[i]) == 0) {
			*v = true;
			return 0;
		}
		if (strcmp(n->str, no[i]) == 0) {
			*v = false;
			return 0;
		}
	}
	return -1;
}

int ynode_int(const struct ynode *n, long long *v)
{
	if (!n || n->type != YNODE_SCALAR || n->style != YSTYLE_PLAIN || !n->len ||
	    n->len > 80)
		return -1;
	char digits[96];
	size_t k = 0;
	for (const char *s = n->str; *s; s++)
		if (*s != '_')
			digits[k++] = *s;
	digits[k] = '\0';
	const char *s = digits;
	bool neg = false;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	int base = 10;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		base = 16, s += 2;
	else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O'))
		base = 8, s += 2;
	else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B'))
		base = 2, s += 2;
	else if (s[0] == '0' && s[1])
		base = 8, s += 1;
	if (!*s)
		return -1;
	unsigned long long acc = 0;
	for (; *s; s++) {
		int d;
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			return -1;
		if (d >= base || acc > (ULLONG_MAX - (unsigned)d) / (unsigned)base)
			return -1;
		acc = acc * (unsigned)base + (unsigned)d;
	}
	if (neg ? acc > (unsigned long long)LLONG_MAX + 1 : acc > (unsigned long long)LLONG_MAX)
		return -1;
	*v = neg ? (long long)(0 - acc) : (long long)acc;
	return 0;
}

const char *ynode_type_name(const struct ynode *n)
{
	bool b;
	long long i;
	if (!n)
		return "nothing";
	switch (n->type) {
	case YNODE_MAP:
		return "a mapping";
	case YNODE_SEQ:
		return "a list";
	default:
		if (ynode_is_null(n))
			return "null";
		if (ynode_bool(n, &b) == 0)
			return "a boolean";
		if (ynode_int(n, &i) == 0)
			return "an integer";
		return "a string";
	}
}
