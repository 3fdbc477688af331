/* SPDX-License-Identifier: Apache-2.0 */
/* Allocation, strings, errors, logging and progress: the plumbing. */
#include "core.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static void oom(void)
{
	static const char msg[] = "moat: out of memory\n";
	/* stderr may itself need memory; write(2) does not. */
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
	}
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	return s ? xstrndup(s, strlen(s)) : NULL;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	struct sbuf b = { 0 };
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	b.s = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(b.s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return b.s;
}

void *grow_array(void *items, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return items;
	size_t n = *cap ? *cap : 8;
	while (n < need) {
		if (n > SIZE_MAX / 2 / elem)
			oom();
		n *= 2;
	}
	items = xrealloc(items, n * elem);
	*cap = n;
	return items;
}

/* ---- arena ---- */

struct arena_block {
	struct arena_block *next;
	size_t used, size;
	max_align_t data[];
};
struct arena {
	struct arena_block *head;
};

#define ARENA_BLOCK (64 * 1024 - sizeof(struct arena_block))
/* Blocks of freed arenas wait here for the next file.  Handing memory back
 * to the kernel and faulting it in again cost more than parsing did. */
static __thread struct arena_block *arena_cache;
static __thread size_t arena_cached;

void arena_thread_exit(void)
{
	while (arena_cache) {
		struct arena_block *b = arena_cache;
		arena_cache = b->next;
		free(b);
	}
	arena_cached = 0;
}

struct arena *arena_new(void)
{
	return xcalloc(1, sizeof(struct arena));
}

void arena_free(struct arena *a)
{
	if (!a)
		return;
	for (struct arena_block *b = a->head, *next; b; b = next) {
		next = b->next;
		if (b->size == ARENA_BLOCK && arena_cached < 1024) {
			b->next = arena_cache;
			arena_cache = b;
			arena_cached++;
		} else {
			free(b);
		}
	}
	free(a);
}

void arena_reset(struct arena *a)
{
	struct arena_block *keep = NULL;
	for (struct arena_block *b = a->head, *next; b; b = next) {
		next = b->next;
		if (!keep && b->size == ARENA_BLOCK) {
			keep = b;
			keep->used = 0;
			keep->next = NULL;
		} else if (b->size == ARENA_BLOCK && arena_cached < 1024) {
			b->next = arena_cache;
			arena_cache = b;
			arena_cached++;
		} else {
			free(b);
		}
	}
	a->head = keep;
}

void *arena_alloc(struct arena *a, size_t n)
{
	n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	struct arena_block *b = a->head;
	if (!b || b->size - b->used < n) {
		size_t size = ARENA_BLOCK;
		if (n > size / 4)
			size = n; /* big items get a block of their own */
		struct arena_block *nb;
		if (size == ARENA_BLOCK && arena_cache) {
			nb = arena_cache;
			arena_cache = nb->next;
			arena_cached--;
		} else {
			nb = xmalloc(sizeof(*nb) + size);
		}
		nb->used = 0;
		nb->size = size;
		if (b && size == n && b->size - b->used > 256) {
			/* keep filling the current block after this one */
			nb->next = b->next;
			b->next = nb;
			nb->used = n;
			return nb->data;
		}
		nb->next = b;
		a->head = b = nb;
	}
	void *p = (char *)b->data + b->used;
	b->used += n;
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* ---- sbuf ---- */

void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	b->s = grow_array(b->s, &b->cap, b->len + n + 1, 1);
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void sbuf_puts(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	b->s = grow_array(b->s, &b->cap, b->len + (size_t)n + 1, 1);
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void sbuf_reset(struct sbuf *b)
{
	b->len = 0;
	if (b->s)
		b->s[0] = '\0';
}

char *sbuf_steal(struct sbuf *b)
{
	char *s = b->s ? b->s : xstrdup("");
	b->s = NULL;
	b->len = b->cap = 0;
	return s;
}

void sbuf_release(struct sbuf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

/* ---- errors ---- */

static int error_vset(struct moat_error *err, int errnum, const char *fmt, va_list ap)
{
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	err->errnum = errnum;
	return -1;
}

int moat_error_set(struct moat_error *err, int errnum, const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	error_vset(err, errnum, fmt, ap);
	va_end(ap);
	return -1;
}

int moat_error_sys(struct moat_error *err, int errnum, const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	error_vset(err, errnum, fmt, ap);
	va_end(ap);
	size_t n = strlen(err->msg);
	snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
	return -1;
}

int moat_error_at(struct moat_error *err, int errnum, const char *file, const struct ynode *at,
		  const char *fmt, ...)
{
	char what[sizeof(err->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return moat_error_set(err, errnum, "%s:%u:%u: %s", file, at ? at->line : 1,
			      at ? at->col : 1, what);
}

int moat_error_wrap(struct moat_error *err, const char *fmt, ...)
{
	if (!err)
		return -1;
	char ctx[512], old[sizeof(err->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* Truncating the tail of a long message is fine: the context leads. */
	size_t n = strlen(ctx);
	if (n > sizeof(err->msg) - 3)
		n = sizeof(err->msg) - 3;
	memcpy(err->msg, ctx, n);
	memcpy(err->msg + n, ": ", 2);
	size_t room = sizeof(err->msg) - n - 3;
	size_t m = strnlen(old, room);
	memcpy(err->msg + n + 2, old, m);
	err->msg[n + 2 + m] = '\0';
	return -1;
}

const char *moat_error_where(const struct moat_error *err, const char *source,
			     uint32_t *line, uint32_t *col)
{
	*line = *col = 1;
	size_t n = strlen(source);
	const char *p = err->msg;
	if (strncmp(p, source, n) != 0 || p[n] != ':')
		return p;
	p += n;
	char *end;
	if (p[1] >= '0' && p[1] <= '9') {
		*line = (uint32_t)strtoul(p + 1, &end, 10);
		p = end;
		if (p[0] == ':' && p[1] >= '0' && p[1] <= '9') {
			*col = (uint32_t)strtoul(p + 1, &end, 10);
			p = end;
		}
	}
	if (*p == ':')
		p++;
	while (*p == ' ')
		p++;
	return p;
}

int moat_error_exit_code(const struct moat_error *err)
{
	switch (err->errnum) {
	case ENOMEM:
	case EIO:
	case ENOSPC:
		return MOAT_EXIT_SYSTEM;
	default:
		/* Unreadable, missing or malformed input is the user's to fix. */
		return MOAT_EXIT_INPUT;
	}
}

/* ---- logging ---- */

static void log_default(enum moat_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	static const char *const prefix[] = { "error: ", "warning: ", "", "debug: " };
	fprintf(stderr, "moat: %s%s\n", prefix[level], msg);
}

static moat_log_fn log_fn = log_default;
static void *log_ctx;
static enum moat_log_level log_max = MOAT_LOG_INFO;

void moat_log_set_handler(moat_log_fn fn, void *ctx)
{
	log_fn = fn ? fn : log_default;
	log_ctx = ctx;
}

void moat_log_set_level(enum moat_log_level max)
{
	log_max = max;
}

void moat_log(enum moat_log_level level, const char *fmt, ...)
{
	if (level > log_max)
		return;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_fn(level, msg, log_ctx);
}

/* ---- progress ---- */

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

void progress_start(struct progress *p, const char *what, size_t total)
{
	p->what = what;
	p->done = 0;
	p->total = total;
	p->tty = isatty(STDERR_FILENO) && !getenv("CI");
	p->last_ms = now_ms();
}

void progress_step(struct progress *p)
{
	p->done++;
	if (!p->tty)
		return;
	long long t = now_ms();
	/* Redraw at most ten times a second: the terminal is slower than we are. */
	if (t - p->last_ms < 100 && p->done != p->total)
		return;
	p->last_ms = t;
	if (p->total)
		fprintf(stderr, "\r%s %zu/%zu", p->what, p->done, p->total);
	else
		fprintf(stderr, "\r%s %zu", p->what, p->done);
}

void progress_end(struct progress *p)
{
	if (p->tty && p->done)
		fprintf(stderr, "\r\033[K");
}

long date_parse_days(const char *s)
{
	int y, m, d;
	char tail;
	if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 ||
	    s[4] != '-' || s[7] != '-')
		return -1;
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap))
		return -1;
	/* Days from civil date (Howard Hinnant's algorithm). */
	y -= m <= 2;
	long era = y / 400;
	long yoe = y - era * 400;
	long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

long today_days(void)
{
	return (long)(time(NULL) / 86400);
}

int moat_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "moat %s: ", cmd);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nRun 'moat %s --help' for usage.\n", cmd);
	return MOAT_EXIT_INPUT;
}

/* ---- encodings ------------------------------------------------------------ */

void hex_encode(const void *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *b = in;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

void hex_fput(FILE *out, const void *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *b = in;
	for (size_t i = 0; i < n; i++) {
		putc(digits[b[i] >> 4], out);
		putc(digits[b[i] & 15], out);
	}
}

void json_put_string(FILE *out, const char *s, size_t n, bool ascii)
{
	putc('"', out);
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)s[i];
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c < 0x20 || c == 0x7f || (ascii && c > 0x7f))
			fprintf(out, "\\u%04x", c);
		else
			putc(c, out);
	}
	putc('"', out);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_decode(const char *s, size_t len, uint8_t *out)
{
	if (len % 2)
		return -1;
	for (size_t i = 0; i < len; i += 2) {
		int hi = hex_digit(s[i]), lo = hex_digit(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *base64_encode(const void *in, size_t n)
{
	const uint8_t *b = in;
	char *out = xmalloc((n + 2) / 3 * 4 + 1), *p = out;
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)b[i] << 16 | (uint32_t)b[i + 1] << 8 | b[i + 2];
		*p++ = b64_alphabet[v >> 18];
		*p++ = b64_alphabet[(v >> 12) & 63];
		*p++ = b64_alphabet[(v >> 6) & 63];
		*p++ = b64_alphabet[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)b[i] << 16 | (i + 1 < n ? (uint32_t)b[i + 1] << 8 : 0);
		*p++ = b64_alphabet[v >> 18];
		*p++ = b64_alphabet[(v >> 12) & 63];
		*p++ = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
		*p++ = '=';
	}
	*p = '\0';
	return out;
}

/*
 * Four tables, one per position in a quad, give each character's bits
 * already shifted into place, with bit 24 set for a character that is not
 * base64: a quad decodes with four loads and an OR, and one test catches
 * any bad character in it.  Evidence carries megabytes of base64.
 */
struct b64_tables {
	uint32_t t[4][256];
};

static struct b64_tables b64_tables;
static pthread_once_t b64_once = PTHREAD_ONCE_INIT;

static void b64_tables_init(void)
{
	struct b64_tables *bt = &b64_tables;
	for (int q = 0; q < 4; q++)
		for (int c = 0; c < 256; c++)
			bt->t[q][c] = 1u << 24;
	for (uint32_t i = 0; i < 64; i++) {
		uint8_t c = (uint8_t)b64_alphabet[i];
		bt->t[0][c] = i << 18;
		bt->t[1][c] = i << 12;
		bt->t[2][c] = i << 6;
		bt->t[3][c] = i;
	}
}

/* Decodes s into o, which may be s itself: a quad is read whole before its
 * three bytes are written, never ahead of it. */
static int b64_decode_to(const char *s, size_t len, uint8_t *o, size_t *out_len, size_t *bad)
{
	pthread_once(&b64_once, b64_tables_init);
	const struct b64_tables *bt = &b64_tables;
	const uint8_t *u = (const uint8_t *)s;
	*out_len = 0;
	if (len % 4) {
		*bad = len;
		return -1;
	}
	size_t pad = 0;
	if (len && s[len - 1] == '=')
		pad = len > 1 && s[len - 2] == '=' ? 2 : 1;
	uint8_t *p = o;
	size_t full = pad ? len - 4 : len, at;
	for (size_t i = 0; i < full; i += 4) {
		uint32_t v = bt->t[0][u[i]] | bt->t[1][u[i + 1]] | bt->t[2][u[i + 2]] |
			     bt->t[3][u[i + 3]];
		if (v >> 24) {
			at = i;
			goto refuse;
		}
		p[0] = (uint8_t)(v >> 16);
		p[1] = (uint8_t)(v >> 8);
		p[2] = (uint8_t)v;
		p += 3;
	}
	if (pad) {
		size_t i = len - 4;
		uint32_t v = bt->t[0][u[i]] | bt->t[1][u[i + 1]] |
			     (pad == 2 ? 0 : bt->t[2][u[i + 2]]);
		if (v >> 24) {
			at = i;
			goto refuse;
		}
		*p++ = (uint8_t)(v >> 16);
		if (pad == 1)
			*p++ = (uint8_t)(v >> 8);
	}
	*out_len = (size_t)(p - o);
	return 0;
refuse:
	/* The quad holds a bad character (or misplaced '='): name it.  In
	 * place, the quad itself is not yet overwritten. */
	while (bt->t[0][u[at]] >> 24 == 0)
		at++;
	*bad = at;
	return -1;
}

int base64_decode(const char *s, size_t len, uint8_t **out, size_t *out_len, size_t *bad)
{
	uint8_t *o = xmalloc(len / 4 * 3 + 1);
	if (b64_decode_to(s, len, o, out_len, bad) < 0) {
		free(o);
		*out = NULL;
		return -1;
	}
	o[*out_len] = '\0';
	*out = o;
	return 0;
}

int base64_decode_inplace(char *s, size_t len, size_t *out_len, size_t *bad)
{
	return b64_decode_to(s, len, (uint8_t *)s, out_len, bad);
}
