/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core: what every moat component shares.  Errors that gain context on the
 * way up, the log handler, a YAML tree that remembers where every node came
 * from, file and directory helpers, and the report writers (text, JSON,
 * SARIF 2.1.0, JUnit XML) that policy and bench both emit.
 *
 * The library never prints: it fills a moat_error or calls the log handler.
 * Only a cmd.c decides what reaches the terminal and which exit code follows.
 */
#ifndef MOAT_CORE_H
#define MOAT_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef MOAT_VERSION
#define MOAT_VERSION "0.1.0"
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Exit codes shared by every subcommand, so CI can tell them apart. */
enum moat_exit {
	MOAT_EXIT_OK = 0,       /* ran, nothing to report */
	MOAT_EXIT_FINDINGS = 1, /* ran, found violations */
	MOAT_EXIT_INPUT = 2,    /* bad input or usage; the message says where */
	MOAT_EXIT_SYSTEM = 3,   /* the machine failed us: the report could not be
				 * written (running out of memory aborts) */
};

/* ---- cleanup helpers ---------------------------------------------------- */

static inline void freep(void *p)
{
	free(*(void **)p);
}
static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Hand ownership on: the local's cleanup then sees NULL or -1. */
#define steal_ptr(pp)                                                          \
	({                                                                     \
		__typeof__(*(pp)) steal_tmp_ = *(pp);                          \
		*(pp) = NULL;                                                  \
		steal_tmp_;                                                    \
	})
static inline int steal_fd(int *fd)
{
	int r = *fd;
	*fd = -1;
	return r;
}

/* ---- allocation --------------------------------------------------------- */

/* Abort with a message on exhaustion: every caller would do the same. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) PRINTF(1, 2);

/* Grows *items so that index `need - 1` fits; *cap tracks the size. */
void *grow_array(void *items, size_t *cap, size_t need, size_t elem);

/* A bump allocator: one free for everything a parse produced. */
struct arena;
struct arena *arena_new(void);
void arena_free(struct arena *a);
/* Forgets everything allocated, keeping the memory for what comes next. */
void arena_reset(struct arena *a);
/* Frees the calling thread's cache of spare blocks; call before it exits. */
void arena_thread_exit(void);
void *arena_alloc(struct arena *a, size_t n);
char *arena_strndup(struct arena *a, const char *s, size_t n);

/* A growable, always NUL-terminated string. */
struct sbuf {
	char *s;
	size_t len, cap;
};
void sbuf_add(struct sbuf *b, const char *s, size_t n);
void sbuf_puts(struct sbuf *b, const char *s);
void sbuf_printf(struct sbuf *b, const char *fmt, ...) PRINTF(2, 3);
void sbuf_reset(struct sbuf *b);
/* Returns the string and leaves the buffer empty; caller frees. */
char *sbuf_steal(struct sbuf *b);
void sbuf_release(struct sbuf *b);

/* ---- encodings ---------------------------------------------------------- */

/* n bytes -> 2n lowercase hex digits and a NUL in out. */
void hex_encode(const void *in, size_t n, char *out);
/* Hex text of len chars (either case) -> len/2 bytes in out; -1 if len is
 * odd or a character is not a hex digit. */
int hex_decode(const char *s, size_t len, uint8_t *out);
/* The same, straight to out. */
void hex_fput(FILE *out, const void *in, size_t n);
/*
 * s (n bytes) as a quoted JSON string.  Quotes, backslashes and control
 * characters are escaped; bytes from 0x80 up are escaped as \u00XX when
 * ascii is set (output that must be valid JSON whatever the bytes), else
 * written as they are (text read from JSON, which a round trip keeps).
 */
void json_put_string(FILE *out, const char *s, size_t n, bool ascii);
/* Standard base64 with padding; returns a NUL-terminated string, caller frees. */
char *base64_encode(const void *in, size_t n);
/* Strict base64 (RFC 4648 alphabet, padding required, nothing else): bytes
 * in *out (caller frees, NUL-terminated for convenience).  -1 with the
 * offset of the first bad character in *bad (or len for bad padding). */
int base64_decode(const char *s, size_t len, uint8_t **out, size_t *out_len, size_t *bad);
/* The same into s itself (the bytes are never longer than their base64);
 * on error s is partly overwritten. */
int base64_decode_inplace(char *s, size_t len, size_t *out_len, size_t *bad);

/* "YYYY-MM-DD" -> days since the epoch (UTC); -1 if not a real date. */
long date_parse_days(const char *s);
long today_days(void);

/* ---- errors -------------------------------------------------------------- */

/*
 * A failed call returns < 0 and fills one of these.  Callers prepend context
 * as it travels up ("pod.yaml:12:7: spec.volumes[0]: ..."), so the message a
 * user finally sees says where, not just what.
 */
struct moat_error {
	int errnum; /* errno value, or EINVAL/EBADMSG for bad input */
	char msg[1024];
};

/* Sets the error and returns -1, so `return moat_error_set(...)` reads well. */
int moat_error_set(struct moat_error *err, int errnum, const char *fmt, ...)
	PRINTF(3, 4);
/* Like moat_error_set, appending strerror(errnum). */
int moat_error_sys(struct moat_error *err, int errnum, const char *fmt, ...)
	PRINTF(3, 4);
/* Prepends "context: " to the message already there. */
int moat_error_wrap(struct moat_error *err, const char *fmt, ...) PRINTF(2, 3);
/* A CLI's usage error: "moat CMD: message" and where --help is, on stderr;
 * returns MOAT_EXIT_INPUT.  Only a cmd.c calls it. */
int moat_usage_error(const char *cmd, const char *fmt, ...) PRINTF(2, 3);
/*
 * Splits a message of the form "<source>[:line[:col]]: what", as the calls
 * above write them, so a report can carry the position apart from the text.
 * Returns "what" and sets *line and *col (1 when absent); returns the whole
 * message when it does not start with source.
 */
const char *moat_error_where(const struct moat_error *err, const char *source,
			     uint32_t *line, uint32_t *col);
struct ynode;
/* "file:line:col: message" for a node of a parsed document (1:1 when at
 * is NULL): how a reader reports a bad value. */
int moat_error_at(struct moat_error *err, int errnum, const char *file, const struct ynode *at,
		  const char *fmt, ...) PRINTF(5, 6);
/* Maps an error to the exit code a CLI should return. */
int moat_error_exit_code(const struct moat_error *err);

/* ---- logging ------------------------------------------------------------- */

enum moat_log_level { MOAT_LOG_ERROR, MOAT_LOG_WARN, MOAT_LOG_INFO, MOAT_LOG_DEBUG };
typedef void (*moat_log_fn)(enum moat_log_level level, const char *msg, void *ctx);
/* Replaces the handler; NULL restores the default (stderr, "moat: ..."). */
void moat_log_set_handler(moat_log_fn fn, void *ctx);
void moat_log_set_level(enum moat_log_level max);
void moat_log(enum moat_log_level level, const char *fmt, ...) PRINTF(2, 3);
#define log_error(...) moat_log(MOAT_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) moat_log(MOAT_LOG_WARN, __VA_ARGS__)
#define log_info(...) moat_log(MOAT_LOG_INFO, __VA_ARGS__)
#define log_debug(...) moat_log(MOAT_LOG_DEBUG, __VA_ARGS__)

/* Progress on a terminal only: "\r<what> n/total" on stderr, erased at the end. */
struct progress {
	const char *what;
	size_t done, total;
	bool tty;
	long long last_ms;
};
void progress_start(struct progress *p, const char *what, size_t total);
void progress_step(struct progress *p);
void progress_end(struct progress *p);

/* ---- files --------------------------------------------------------------- */

/* Biggest input file moat reads.  The API server's own request cap is 3 MiB;
 * this leaves room for large multi-document bundles and nothing more. */
#define MOAT_MAX_INPUT (64u << 20)

/* Reads a regular file (or "-" for stdin) whole; caller frees *data. */
int read_file(const char *path, size_t max, char **data, size_t *len,
	      struct moat_error *err);
int read_fd(int fd, const char *name, size_t max, char **data, size_t *len,
	    struct moat_error *err);
/* The same into buf, reusing its memory: for reading many files in a row. */
int read_file_sbuf(const char *path, size_t max, struct sbuf *buf, struct moat_error *err);
/* Writes s as the whole of path (made 0644 if missing): a sysctl, a cgroup
 * file, a small config file.  -1 with errno. */
int write_string(const char *path, const char *s);
/* Sets IFF_UP on ifname, through sock (any socket in its namespace). */
int if_set_up(int sock, const char *ifname);

/*
 * Calls fn for every regular file under path whose name matches one of the
 * suffixes, in sorted order.  Symlinked directories and dot-directories are
 * not entered.  A plain file is passed as is, whatever its name.  A part of
 * the tree that cannot be read is passed to fn with err set, and the walk
 * goes on with the rest; walk_files fails only if path itself cannot be.
 */
typedef int (*walk_fn)(const char *path, const struct moat_error *err, void *ctx);
int walk_files(const char *path, const char *const *suffixes, walk_fn fn,
	       void *ctx, struct moat_error *err);

/* The directory moat's own binary is in ("build" for build/moat), for what
 * is installed beside it; NULL if /proc does not say. */
const char *self_dir(char *buf, size_t n);

/* Writes "<a>.<b>" (or "<a>.<b>[idx]" when idx >= 0) into dst, truncating
 * at n; cheaper than snprintf on the paths every check builds. */
char *path_join(char *dst, size_t n, const char *a, const char *b, long idx);

/* "./a/b" -> "a/b"; absolute paths under the cwd become relative. */
char *path_display(const char *path);

/* fnmatch(3) with FNM_PATHNAME off: "*" spans directories, as users expect. */
bool glob_match(const char *pattern, const char *s);

/* ---- YAML tree with positions ------------------------------------------- */

enum ynode_type { YNODE_SCALAR, YNODE_MAP, YNODE_SEQ };
enum ynode_style { YSTYLE_PLAIN, YSTYLE_QUOTED, YSTYLE_BLOCK };
/* On a mapping, style holds this flag when it has "<<" merge keys. */
#define YMAP_HAS_MERGE 1

struct ypair;
struct ynode {
	uint8_t type;  /* enum ynode_type */
	uint8_t style; /* scalars: how it was written */
	uint32_t line, col; /* 1-based */
	uint32_t len; /* scalar bytes, or number of items/pairs */
	union {
		const char *str;     /* scalar, NUL-terminated */
		struct ynode **items; /* sequence */
		struct ypair *pairs;  /* mapping */
	};
};
struct ypair {
	struct ynode *key, *val;
};

struct ydoc {
	struct ynode *root; /* NULL for an empty document */
	uint32_t line;      /* where the document starts */
};

/* Bounds that keep a hostile file from costing more than it is worth. */
#define YAML_MAX_DEPTH 200
#define YAML_MAX_NODES (8u << 20)
/* Aliases are followed by reference; this caps what they would expand to,
 * which is what stops a "billion laughs" document. */
#define YAML_MAX_EXPANDED (4u << 20)

struct yfile {
	char *name;
	struct arena *arena;
	struct ydoc *docs;
	size_t ndocs;
};

/*
 * Parses every document in buf.  On a syntax or limit error returns -1 with
 * "name:line:col: ..." in err; documents before the error are kept in *out
 * so that a caller may still use them.  Free with yfile_free (NULL-safe).
 */
int yaml_parse(const char *name, const char *buf, size_t len, struct yfile **out,
	       struct moat_error *err);
void yfile_free(struct yfile *f);
/* Streams instead: fn sees each document as soon as it ends, and its nodes
 * are gone when fn returns.  Memory stays at one document's worth. */
typedef void (*yaml_doc_fn)(const struct ydoc *doc, void *ctx);
int yaml_parse_each(const char *name, const char *buf, size_t len, yaml_doc_fn fn,
		    void *ctx, struct moat_error *err);

/* Mapping lookup, honouring "<<" merge keys; NULL if absent or not a map.
 * ymap_find returns the pair, so a caller can point at the key. */
const struct ypair *ymap_find(const struct ynode *map, const char *key);
const struct ynode *ymap_get(const struct ynode *map, const char *key);
bool yscalar_is(const struct ynode *n, const char *s);
/* YAML 1.1 core resolution, as Kubernetes' YAML decoder does it. */
bool ynode_is_null(const struct ynode *n);
/* Return 0 and the value, or -1 if n is not of that type. */
int ynode_bool(const struct ynode *n, bool *v);
int ynode_int(const struct ynode *n, long long *v);
/* A short name for the node's type, for messages: "mapping", "string"... */
const char *ynode_type_name(const struct ynode *n);

/* ---- JSON ----------------------------------------------------------------- */

/*
 * Parses JSON text into a positioned tree (strings are YSTYLE_QUOTED
 * scalars; numbers, true, false and null plain ones).  Strict: duplicate
 * keys, NUL bytes, bad escapes and trailing text are errors
 * ("name:line:col: what").  Works in place: buf is modified and the tree
 * points into it and into arena, both of which must outlive it.
 */
int json_parse_tree(char *buf, size_t len, const char *name, struct arena *arena,
		    struct ynode **root, struct moat_error *err);

struct json_t;
/* Writes with sorted keys off and two-space indent; -1 on I/O error. */
int json_write(FILE *out, struct json_t *v, bool pretty);

/* ---- reports ---------------------------------------------------------------- */

/* A check a component can report; rules are listed whole in SARIF, in this
 * order, so rule ids and indexes stay stable across runs. */
struct report_rule {
	const char *id;       /* "pss/privileged" */
	const char *title;    /* "Privileged containers" */
	const char *level;    /* "baseline", "restricted", "share-nothing" ... */
	const char *summary;  /* one sentence: what the rule wants */
};

/* An object a component evaluated: a Kubernetes object, a node, a file. */
struct report_object {
	char *file;
	uint32_t line, col;
	char *kind, *namespace, *name;
};

/* A result's strings live in report.strings. */
struct report_result {
	size_t rule; /* index into report.rules */
	size_t obj;  /* index into report.objs */
	uint32_t line, col, seq;
	char *message;
	char *container; /* may be NULL */
	char *field;     /* "spec.containers[0].securityContext" */
	/* Set when an exception covers the result: it is reported, not counted. */
	char *exempt_reason;
	char *exempt_where; /* "exceptions.yaml:4:3" */
};

enum report_note_kind { REPORT_ERROR, REPORT_WARNING };
struct report_note {
	enum report_note_kind kind;
	uint32_t line, col, seq;
	char *file;
	char *message;
	const char *code; /* "invalid-input", "exception-expired" */
};

struct report {
	const char *command; /* "policy check" */
	const struct report_rule *rules;
	size_t nrules;
	struct report_object *objs;
	size_t nobjs, cap_objs;
	struct report_result *results;
	size_t nresults, cap_results;
	struct report_note *notes;
	size_t nnotes, cap_notes;
	/* Key facts of the run, echoed in every format ("level": "restricted"). */
	const char *param_keys[8];
	char *param_vals[8];
	size_t nparams;
	struct arena *strings;  /* objects' and results' strings: one free for all */
	size_t files, skipped; /* inputs read; objects of kinds not evaluated */
	size_t checked;        /* objects evaluated, whether or not listed in objs */
	/* objs lists every object checked (JUnit wants a test case each), or,
	 * when false, only those with findings: memory then follows findings,
	 * not input size. */
	bool keep_all_objects;
	bool quiet;            /* text: no summary line */
	uint32_t seq;
};

void report_init(struct report *r, const char *command,
		 const struct report_rule *rules, size_t nrules);
void report_release(struct report *r);
/* The setters below copy their strings. */
void report_param(struct report *r, const char *key, const char *val);
/* Returns the new object's index. */
size_t report_object(struct report *r, const char *file, uint32_t line,
		     uint32_t col, const char *kind, const char *ns,
		     const char *name);
struct report_result *report_add(struct report *r, size_t rule, size_t obj,
				 uint32_t line, uint32_t col);
void report_note(struct report *r, enum report_note_kind kind, const char *code,
		 const char *file, uint32_t line, uint32_t col, const char *fmt,
		 ...) PRINTF(7, 8);
/* A copy of s (NULL stays NULL) that lives as long as the report. */
char *report_strdup(struct report *r, const char *s);
/* Appends src's objects, results and notes to dst, in src's order, and adds
 * its counts: how reports made in parallel become one. */
void report_merge(struct report *dst, const struct report *src);
size_t report_violations(const struct report *r); /* not exempted */
size_t report_exempted(const struct report *r);
size_t report_count_notes(const struct report *r, enum report_note_kind kind);

enum report_format { REPORT_TEXT, REPORT_JSON, REPORT_SARIF, REPORT_JUNIT };
/* "text" | "json" | "sarif" | "junit"; -1 if unknown. */
int report_format_parse(const char *s);
int report_write(const struct report *r, enum report_format fmt, FILE *out);

/* ---- the dispatcher's view of a subcommand -------------------------------- */

struct moat_command {
	const char *name;
	const char *summary;
	int (*main)(int argc, char **argv);
};

#endif
