/* SPDX-License-Identifier: Apache-2.0 */
/* bench's internals, shared by its .c files and nothing else. */
#ifndef MOAT_BENCH_INT_H
#define MOAT_BENCH_INT_H

#include "bench.h"

#include <sys/stat.h>

/* Biggest config, unit or manifest file read from a node. */
#define BENCH_MAX_CONFIG (4u << 20)

struct bench_env {
	char **keys, **vals, **srcs;
	size_t n, cap_keys, cap_vals, cap_srcs;
};
void bench_env_add(struct bench_env *e, const char *key, const char *val, const char *src);
void bench_env_free(struct bench_env *e);

struct bench_proc {
	const struct bench_component *def;
	bool found;
	pid_t pid;
	char *where; /* "process 812", "unit kubelet.service (...)", "static pod ..." */
	char *source_file; /* the file its command line came from, for locations */
	char **argv, **argsrc;
	size_t argc, cap_argv, cap_argsrc;
	struct bench_env env;
	char **files; /* unit files read: what $kubeletsvc names */
	size_t nfiles, cap_files;
	/* The component's config file (--config) and drop-ins (--config-dir). */
	char *config_path;
	struct yfile *config;
	char *config_error;
	char **dropin_paths;
	struct yfile **dropins;
	size_t ndropins;
	char *dropin_error;
};

void bench_proc_add_arg(struct bench_proc *p, const char *arg, const char *src);
void bench_proc_add_file(struct bench_proc *p, const char *path);
void bench_note(struct bench_node *n, const char *fmt, ...) PRINTF(2, 3);
int bench_root_stat(const struct bench_node *n, const char *path, struct stat *st);
/* Sorted entry names of a directory in the root; -1 if it cannot be read. */
int bench_root_list(const struct bench_node *n, const char *path, char ***names, size_t *nn);
/* Parses unit text and throws the result away: for the fuzzer. */
void bench_unit_parse_only(const char *buf, size_t len);
int bench_unit_load(struct bench_node *n, struct bench_proc *p, const char *unit);
int bench_split_exec_src(const char *line, const char *const *keys, const char *const *vals,
			 size_t nenv, char ***words, long **from, size_t *nwords);
int bench_parse_env_file_lines(const char *buf, size_t len, char ***keys, char ***vals,
			       uint32_t **lines, size_t *n);
const struct bench_proc *bench_node_proc(const struct bench_node *n, const char *component);
/* owner "root:root" of a uid and gid, named through the root's own
 * /etc/passwd and /etc/group. */
void bench_owner_name(const struct bench_node *n, uid_t uid, gid_t gid, char *out, size_t size);

#endif
