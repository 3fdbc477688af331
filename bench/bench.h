/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench: CIS Kubernetes Benchmark audits of a live node or an offline node
 * image.  Controls are data (bench/<benchmark>/ *.yaml, format in
 * docs/bench-checks.md); this library loads them, reads the node's settings
 * from its processes or its files, evaluates every control and writes the
 * results.
 *
 * Construct -> configure -> run -> free:
 *   bench_defs_load()   the embedded controls, then any --checks-dir
 *   bench_node_open()   a root (offline) or the running system (live)
 *   bench_run()         one result per control
 *   bench_write()       text, json, junit, sarif or html
 */
#ifndef MOAT_BENCH_H
#define MOAT_BENCH_H

#include "core/core.h"

#include <sys/types.h>

/* ---- definitions -------------------------------------------------------- */

enum bench_op { OP_ALL, OP_ANY, OP_EQ, OP_NOTEQ, OP_HAS, OP_NOTHAS, OP_GTE, OP_LTE,
		OP_SET, OP_MATCHES, OP_VALID };

struct bench_cond {
	enum bench_op op;
	struct bench_cond *kids; /* OP_ALL, OP_ANY */
	size_t nkids;
	const char *component, *flag, *gate; /* "kubelet", "anonymous-auth" */
	const char *value;                   /* eq, noteq, has, ..., "true"/"false" for set */
	const char **values;                 /* valid */
	size_t nvalues;
	int unset; /* -1: the operator's rule; 0: fails; 1: holds */
};

enum bench_missing { MISSING_PASS, MISSING_FAIL, MISSING_INFO };

struct bench_check {
	const char *id, *title, *remediation, *audit;
	const char *target, *section, *section_title, *group, *group_title;
	const char *benchmark;
	const char *component; /* the target's component, whose presence it needs */
	const char *origin; /* "bench/cis-1.12/node.yaml:12" */
	bool automated;
	/* file test */
	const char **files;
	size_t nfiles;
	int mode; /* -1: not tested */
	const char *owner;
	bool recursive;
	const char *match;
	enum bench_missing missing;
	/* setting test */
	struct bench_cond *test;
};

struct bench_setting {
	const char *flag, *config, *env, *def, *flag_def;
	bool is_bool;
	bool zero_is_default; /* the component replaces a zero in its config file */
	const char **gates, **gate_defs; /* feature-gate defaults */
	size_t ngates;
};

struct bench_component {
	const char *name;
	const char **binaries;
	size_t nbinaries;
	const char *unit, *manifest, *config_flag, *config_dir_flag;
	struct bench_setting *settings;
	size_t nsettings;
};

struct bench_pathvar {
	const char *name, *setting, *unit;
	const char **candidates;
	size_t ncandidates;
};

struct bench_target {
	const char *name, *benchmark, *section, *title, *component;
};

struct bench_defs {
	struct arena *arena;
	bool borrowed; /* the arrays are the built-in ones, not yet copied */
	struct bench_check *checks;
	size_t nchecks, cap_checks;
	struct bench_component *components;
	size_t ncomponents, cap_components;
	struct bench_pathvar *paths;
	size_t npaths, cap_paths;
	struct bench_target *targets;
	size_t ntargets, cap_targets;
};

/* Loads the controls built into moat, then every *.yaml under checks_dir
 * (NULL for none): a control with a known id replaces it, a new one is added.
 * On bad data returns -1 with "file:line:col: ..." in err. */
int bench_defs_load(struct bench_defs *d, const char *checks_dir, struct moat_error *err);
/* Loads one definitions file (any kind); for --checks-dir and the fuzzer. */
int bench_defs_load_buffer(struct bench_defs *d, const char *name, const char *buf,
			   size_t len, struct moat_error *err);
void bench_defs_free(struct bench_defs *d);
/* The benchmarks the definitions hold, newest first ("cis-1.12"). */
size_t bench_defs_benchmarks(const struct bench_defs *d, const char **out, size_t max);
const struct bench_component *bench_component_find(const struct bench_defs *d,
						   const char *name);

/* ---- the node ------------------------------------------------------------ */

/* Where a value came from, as evidence says it. */
enum bench_source { SRC_NONE, SRC_CMDLINE, SRC_DROPIN, SRC_CONFIG, SRC_ENV, SRC_DEFAULT };
const char *bench_source_name(enum bench_source s);

struct bench_proc; /* one component as found on the node */

struct bench_node {
	const struct bench_defs *defs;
	const char *root;  /* "/" live */
	int root_fd;
	bool live;
	char *hostname;
	struct bench_proc *procs; /* one per component, found or not */
	size_t nprocs;
	char *k8s_version;        /* "1.33.2", or NULL */
	char *version_source;     /* how it was found */
	char *passwd, *group;     /* the root's own, read once for owner names */
	bool ids_read;
	char **notes;             /* what reading the node ran into */
	size_t nnotes, cap_notes;
};

/* Opens root (NULL: the running system, read through /proc) and reads every
 * component's settings.  Fails only when root itself cannot be opened;
 * problems with single files become notes and WARN results. */
int bench_node_open(struct bench_node *n, const struct bench_defs *defs, const char *root,
		    struct moat_error *err);
void bench_node_close(struct bench_node *n);
bool bench_node_has(const struct bench_node *n, const char *component);

struct bench_value {
	enum { VAL_UNSET, VAL_SET, VAL_ERROR, VAL_ABSENT } state;
	enum bench_source source;
	char value[512];
	char where[512]; /* "/var/lib/kubelet/config.yaml:7", "process 812" */
};
/* The effective value of component.flag (gate: one feature gate of it). */
void bench_node_lookup(const struct bench_node *n, const char *component, const char *flag,
		       const char *gate, struct bench_value *v);

/* Root-confined file access: paths never leave the root, symlinks included. */
int bench_root_open(const struct bench_node *n, const char *path, int flags);
int bench_root_read(const struct bench_node *n, const char *path, size_t max, char **data,
		    size_t *len, struct moat_error *err);

/* ---- results ------------------------------------------------------------- */

enum bench_status { BENCH_PASS, BENCH_FAIL, BENCH_WARN, BENCH_INFO };
const char *bench_status_name(enum bench_status s);

struct bench_evidence {
	char *path, *mode, *owner;           /* a file */
	char *setting, *value, *source, *where; /* a setting */
	char *note;                            /* anything else */
};

struct bench_waiver {
	const char *check, *reason, *where;
	long expires_days;
};

struct bench_result {
	const struct bench_check *check;
	enum bench_status status;
	char *reason; /* one line: why this status */
	struct bench_evidence *evidence;
	size_t nevidence, cap_evidence;
	const struct bench_waiver *waiver;
};

struct bench_options {
	const char *benchmark;
	const char **targets; /* NULL: detect */
	size_t ntargets;
	const char **only, **skip;
	size_t nonly, nskip;
	struct bench_waiver *waivers;
	size_t nwaivers;
	long today;
};

struct bench_run {
	struct bench_node *node;
	const char *benchmark;
	char *benchmark_reason;
	const char *targets[8];
	size_t ntargets;
	char *targets_reason;
	struct bench_result *results;
	size_t nresults;
	size_t count[4];       /* by status */
	size_t scored_pass, scored_fail;
	double score;          /* percent of scored controls that pass */
	char **expired;        /* waivers that no longer apply, as messages */
	size_t nexpired;
};

/* Evaluates every selected control.  -1 (usage) when a --check/--skip id or
 * target matches nothing, or the benchmark is unknown. */
int bench_run(struct bench_run *r, struct bench_node *node, const struct bench_options *o,
	      struct moat_error *err);
void bench_run_free(struct bench_run *r);

/* Waivers: YAML with check, reason and expires per entry (moat-bench(1)). */
int bench_waivers_load(const char *path, struct bench_waiver **out, size_t *n,
		       struct arena *arena, struct moat_error *err);
int bench_waivers_parse(const char *name, const char *buf, size_t len,
			struct bench_waiver **out, size_t *n, struct arena *arena,
			struct moat_error *err);

enum bench_format { BENCH_TEXT, BENCH_JSON, BENCH_JUNIT, BENCH_SARIF, BENCH_HTML };
int bench_format_parse(const char *s);
/* color: ANSI colours in text.  -1 on a write error. */
int bench_write(const struct bench_run *r, enum bench_format f, FILE *out, bool color);

/* Parsers of node files, exposed for their fuzzer. */
struct bench_unit;
int bench_parse_env_file(const char *buf, size_t len, char ***keys, char ***vals, size_t *n);
void bench_strv_free(char **v, size_t n);
/* Splits a systemd command line into words, expanding $VAR and ${VAR}. */
int bench_split_exec(const char *line, const char *const *keys, const char *const *vals,
		     size_t nenv, char ***words, size_t *nwords);

int bench_cmd(int argc, char **argv);

#endif
