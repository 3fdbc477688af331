/* SPDX-License-Identifier: Apache-2.0 */
/* core/: the YAML tree and its positions, scalar resolution, limits, helpers. */
#include "core/core.h"
#include "policy/policy.h"
#include "unit.h"

static struct yfile *parse(const char *text, struct moat_error *err)
{
	struct yfile *f = NULL;
	if (yaml_parse("t.yaml", text, strlen(text), &f, err) < 0) {
		yfile_free(f);
		return NULL;
	}
	return f;
}

static void test_positions(void)
{
	struct moat_error err;
	struct yfile *f = parse("a: 1\nb:\n  c: [x, {d: e}]\n---\n- f\n", &err);
	CHECK(f);
	if (!f)
		return;
	CHECK_INT(f->ndocs, 2);
	const struct ypair *b = ymap_find(f->docs[0].root, "b");
	CHECK(b);
	CHECK_INT(b->key->line, 2);
	CHECK_INT(b->key->col, 1);
	const struct ynode *c = ymap_get(b->val, "c");
	CHECK(c && c->type == YNODE_SEQ && c->len == 2);
	CHECK_INT(c->line, 3);
	CHECK_INT(c->col, 6);
	const struct ypair *d = ymap_find(c->items[1], "d");
	CHECK(d && d->val->line == 3 && d->val->col == 14);
	CHECK_INT(f->docs[1].root->items[0]->line, 5);
	CHECK_INT(f->docs[1].root->items[0]->col, 3);
	yfile_free(f);
}

static void test_scalars(void)
{
	struct moat_error err;
	struct yfile *f = parse("t: true\ny: yes\nq: \"true\"\nn: ~\ne:\ni: 0x1F\no: 0o17\nneg: -5\n"
				"big: 99999999999999999999\ns: !!str 12\nnull2: null\n", &err);
	CHECK(f);
	if (!f)
		return;
	const struct ynode *r = f->docs[0].root;
	bool b = false;
	long long i = 0;
	CHECK(ynode_bool(ymap_get(r, "t"), &b) == 0 && b);
	CHECK(ynode_bool(ymap_get(r, "y"), &b) == 0 && b); /* YAML 1.1, as Kubernetes reads it */
	CHECK(ynode_bool(ymap_get(r, "q"), &b) < 0);       /* a quoted string is not a boolean */
	/* A key whose value is null is looked up as absent by callers. */
	CHECK(ynode_is_null(ymap_get(r, "n")));
	CHECK(ynode_is_null(ymap_get(r, "e")));
	CHECK(ynode_is_null(ymap_get(r, "null2")));
	CHECK(!ynode_is_null(ymap_get(r, "q")));
	CHECK(ynode_int(ymap_get(r, "i"), &i) == 0 && i == 31);
	CHECK(ynode_int(ymap_get(r, "o"), &i) == 0 && i == 15);
	CHECK(ynode_int(ymap_get(r, "neg"), &i) == 0 && i == -5);
	CHECK(ynode_int(ymap_get(r, "big"), &i) < 0); /* overflow is not a number */
	CHECK(ynode_int(ymap_get(r, "s"), &i) < 0);   /* !!str makes it a string */
	CHECK_STR(ynode_type_name(ymap_get(r, "q")), "a string");
	CHECK_STR(ynode_type_name(ymap_get(r, "i")), "an integer");
	yfile_free(f);
}

static void test_merge_keys(void)
{
	struct moat_error err;
	struct yfile *f = parse("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n"
				"l:\n  <<: [{p: 1}, {p: 2, q: 4}]\n", &err);
	CHECK(f);
	if (!f)
		return;
	const struct ynode *m = ymap_get(f->docs[0].root, "m");
	CHECK(yscalar_is(ymap_get(m, "x"), "1"));
	CHECK(yscalar_is(ymap_get(m, "y"), "3")); /* the mapping's own key wins */
	CHECK(!ymap_get(m, "z"));
	const struct ynode *l = ymap_get(f->docs[0].root, "l");
	CHECK(yscalar_is(ymap_get(l, "p"), "1")); /* earlier merged mappings win */
	CHECK(yscalar_is(ymap_get(l, "q"), "4"));
	yfile_free(f);
}

static void test_duplicate_keys(void)
{
	struct moat_error err = { 0 };
	CHECK(!parse("a: 1\nb: 2\na: 3\n", &err));
	CHECK(strstr(err.msg, "t.yaml:3:1: duplicate key \"a\" (first at line 1)"));
	/* Many keys take the sorted path; the message is the same. */
	struct sbuf b = { 0 };
	for (int i = 0; i < 40; i++)
		sbuf_printf(&b, "k%d: %d\n", i, i);
	sbuf_puts(&b, "k7: again\n");
	CHECK(!parse(b.s, &err));
	CHECK(strstr(err.msg, "t.yaml:41:1: duplicate key \"k7\" (first at line 8)"));
	sbuf_release(&b);
}

static void test_billion_laughs(void)
{
	struct moat_error err = { 0 };
	struct sbuf b = { 0 };
	sbuf_puts(&b, "a: &a [x, x, x, x, x, x, x, x, x, x]\n");
	for (char c = 'b'; c <= 'j'; c++)
		sbuf_printf(&b, "%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", c, c,
			    c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
	CHECK(!parse(b.s, &err));
	CHECK(strstr(err.msg, "billion laughs"));
	CHECK(strncmp(err.msg, "t.yaml:7:", 9) == 0); /* 10^7 passes the cap on line 7 */
	sbuf_release(&b);
	/* Ordinary anchors are fine. */
	struct yfile *f = parse("a: &x {k: v}\nb: *x\nc: *x\n", &err);
	CHECK(f);
	yfile_free(f);
}

static void test_depth_limit(void)
{
	struct moat_error err = { 0 };
	char *deep = xmalloc(1002);
	memset(deep, '[', 1000);
	deep[1000] = '\n';
	deep[1001] = '\0';
	CHECK(!parse(deep, &err));
	CHECK(strstr(err.msg, "nested deeper than 200 levels"));
	CHECK(strncmp(err.msg, "t.yaml:1:201:", 13) == 0);
	free(deep);
}

static void test_syntax_error_keeps_earlier_docs(void)
{
	struct moat_error err = { 0 };
	struct yfile *f = NULL;
	const char *text = "a: 1\n---\nb: [\n";
	CHECK(yaml_parse("t.yaml", text, strlen(text), &f, &err) < 0);
	CHECK(f && f->ndocs == 1);
	CHECK(strstr(err.msg, "t.yaml:4:1: YAML syntax error"));
	yfile_free(f);
}

static void test_binary_junk(void)
{
	struct moat_error err = { 0 };
	static const char junk[] = "\x7f" "ELF\x02\x01\x01\x00\xff\xfe";
	struct yfile *f = NULL;
	CHECK(yaml_parse("t.bin", junk, sizeof(junk) - 1, &f, &err) < 0);
	CHECK(strstr(err.msg, "t.bin:1:"));
	yfile_free(f);
}

static void count_fn(const struct ydoc *d, void *ctx)
{
	(void)d;
	++*(int *)ctx;
}

static void test_streaming(void)
{
	struct moat_error err;
	struct sbuf b = { 0 };
	for (int i = 0; i < 2000; i++)
		sbuf_printf(&b, "---\nname: n%d\nlist: [a, b, c]\n", i);
	int n = 0;
	CHECK_INT(yaml_parse_each("t.yaml", b.s, b.len, count_fn, &n, &err), 0);
	CHECK_INT(n, 2000);
	sbuf_release(&b);
}

static void test_path_join(void)
{
	char buf[32];
	CHECK_STR(path_join(buf, sizeof(buf), "spec", "containers", 3), "spec.containers[3]");
	CHECK_STR(path_join(buf, sizeof(buf), "", "spec", -1), "spec");
	CHECK_STR(path_join(buf, sizeof(buf), "spec", "", 0), "spec[0]");
	CHECK_STR(path_join(buf, 8, "spec", "containers", -1), "spec.co");
	path_join(buf, sizeof(buf), "spec", "volumes", -1);
	CHECK_STR(path_join(buf, sizeof(buf), buf, "hostPath", -1), "spec.volumes.hostPath");
}

static void test_path_display(void)
{
	char *p = path_display("./a/b.yaml");
	CHECK_STR(p, "a/b.yaml");
	free(p);
	p = path_display("-");
	CHECK_STR(p, "<stdin>");
	free(p);
}

static void test_dates(void)
{
	CHECK_INT(date_parse_days("1970-01-01"), 0);
	CHECK_INT(date_parse_days("2000-03-01"), 11017);
	CHECK_INT(date_parse_days("2024-02-29"), 19782);
	CHECK_INT(date_parse_days("2023-02-29"), -1);
	CHECK_INT(date_parse_days("2027-13-01"), -1);
	CHECK_INT(date_parse_days("2027-1-01"), -1);
	CHECK_INT(date_parse_days("27-01-01"), -1);
	CHECK_INT(date_parse_days("2027-01-01x"), -1);
}

static void test_error_wrap(void)
{
	struct moat_error err;
	moat_error_set(&err, 22, "spec.volumes[0]: bad");
	moat_error_wrap(&err, "pod.yaml:12:7");
	CHECK_STR(err.msg, "pod.yaml:12:7: spec.volumes[0]: bad");
	CHECK_INT(moat_error_exit_code(&err), MOAT_EXIT_INPUT);
}

/* RFC 4648 section 10 vectors, both ways, and what strict decoding refuses. */
static void test_encodings(void)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
					   "Zm9vYmFy" };
	for (size_t i = 0; i < ARRAY_SIZE(plain); i++) {
		char *e = base64_encode(plain[i], strlen(plain[i]));
		CHECK_STR(e, enc[i]);
		free(e);
		uint8_t *d;
		size_t n, bad;
		CHECK_INT(base64_decode(enc[i], strlen(enc[i]), &d, &n, &bad), 0);
		CHECK_INT(n, strlen(plain[i]));
		CHECK(d && memcmp(d, plain[i], n) == 0);
		free(d);
	}
	static const struct {
		const char *in;
		size_t bad;
	} refused[] = { { "Zm9", 3 }, { "Zm9v*mFy", 4 }, { "Zm9vY\n==", 5 }, { "Z===", 1 },
			{ "Zm9vYmFy\n", 9 } };
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		uint8_t *d = (uint8_t *)"x";
		size_t n = 1, bad = 0;
		CHECK_INT(base64_decode(refused[i].in, strlen(refused[i].in), &d, &n, &bad), -1);
		CHECK(d == NULL);
	}
	uint8_t bytes[3];
	char hex[7];
	CHECK_INT(hex_decode("00fFa5", 6, bytes), 0);
	hex_encode(bytes, 3, hex);
	CHECK_STR(hex, "00ffa5");
	CHECK_INT(hex_decode("0g", 2, bytes), -1);
	CHECK_INT(hex_decode("abc", 3, bytes), -1);
}

int main(void)
{
	TEST(test_positions);
	TEST(test_scalars);
	TEST(test_merge_keys);
	TEST(test_duplicate_keys);
	TEST(test_billion_laughs);
	TEST(test_depth_limit);
	TEST(test_syntax_error_keeps_earlier_docs);
	TEST(test_binary_junk);
	TEST(test_streaming);
	TEST(test_path_join);
	TEST(test_path_display);
	TEST(test_dates);
	TEST(test_error_wrap);
	TEST(test_encodings);
	return unit_done();
}
