/* SPDX-License-Identifier: Apache-2.0 */
/* `moat image`: import, ls, rm and inspect over the image store. */
#include "runtime.h"
#include "runtime/image_int.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <time.h>

static const char image_usage[] =
	"Usage: moat image import SOURCE [--name NAME:TAG] [--fstype auto|erofs|ext4]\n"
	"                         [--max-size SIZE] [--state-dir DIR] [--format text|json]\n"
	"       moat image ls [--state-dir DIR] [--format text|json]\n"
	"       moat image rm NAME... [--state-dir DIR]\n"
	"       moat image inspect NAME [--state-dir DIR] [--format json|text]\n"
	"\n"
	"Import container images as read-only pod disks.  SOURCE is an OCI image layout\n"
	"directory, an oci-archive or a docker-archive (docker save, skopeo copy ...\n"
	"docker-archive:), plain or gzipped; SOURCE:REF picks one image of several, and\n"
	"an oci:, oci-archive: or docker-archive: prefix says which kind it must be.\n"
	"Every digest is verified; layers are applied with OCI whiteouts into one EROFS\n"
	"(or ext4) disk.  Layers with device nodes, or paths or hard links that lead out\n"
	"of the image, are refused.\n"
	"\n"
	"  import   verify, unpack and store SOURCE; tag it NAME:TAG (default: the name\n"
	"           the source carries, else the file's name), replacing that tag\n"
	"  ls       the images in the store\n"
	"  rm       remove tags (or all tags of an id); a disk goes with its last tag\n"
	"  inspect  one image: its disk, fstype, dm-verity root hash and salt, and config\n"
	"           (entrypoint, cmd, env...)\n"
	"\n"
	"Options:\n"
	"  -n, --name NAME:TAG    the tag to import as (\":latest\" when none is given)\n"
	"      --fstype TYPE      erofs, ext4, or auto: erofs when mkfs.erofs is\n"
	"                         installed, else ext4 (default: auto)\n"
	"      --max-size SIZE    refuse layers that unpack to more (bytes, or with\n"
	"                         K, M, G; default: 8G)\n"
	"  -s, --state-dir DIR    the state directory (default: $MOAT_STATE_DIR, else\n"
	"                         " RUNTIME_STATE_DIR ")\n"
	"  -f, --format FORMAT    text or json\n"
	"  -h, --help             show this help\n"
	"\n"
	"Exit status: 0 done, 2 bad, corrupt or unsafe image, digest mismatch, unknown\n"
	"name or usage, 3 system error (the store cannot be written, mkfs failed).\n";

#define usage_error(...) moat_usage_error("image", __VA_ARGS__)

/* Bad images and names are the user's to fix; the rest is the machine's. */
static int image_exit(const struct moat_error *err)
{
	switch (err->errnum) {
	case EINVAL:
	case EBADMSG:
	case ENOENT:
	case ENOTDIR:
	case EISDIR:
	case ELOOP:
	case ENAMETOOLONG:
	case EFBIG:
	case E2BIG:
	case EOVERFLOW:
		return MOAT_EXIT_INPUT;
	default:
		return MOAT_EXIT_SYSTEM;
	}
}

static json_t *strv_json(char **v)
{
	if (!v)
		return json_null();
	json_t *a = json_array();
	for (; *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

static json_t *info_json(const struct image_info *i, bool with_config)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "name", i->name, "id", i->id,
			      "disk", i->disk, "fstype", i->fstype, "diskBytes",
			      (json_int_t)i->disk_bytes, "importedAt", (json_int_t)i->imported_at);
	if (with_config) {
		json_object_set_new(o, "verity", verity_to_json(&i->verity));
		const struct image_config *c = &i->config;
		json_object_set_new(
			o, "config",
			json_pack("{s:o, s:o, s:o, s:o, s:o}", "entrypoint", strv_json(c->entrypoint),
				  "cmd", strv_json(c->cmd), "env", strv_json(c->env), "workingDir",
				  c->workdir ? json_string(c->workdir) : json_null(), "user",
				  c->user ? json_string(c->user) : json_null()));
	}
	return o;
}

static void fmt_size(char *buf, size_t n, uint64_t bytes)
{
	if (bytes >= 10ull << 30)
		snprintf(buf, n, "%.1f GiB", (double)bytes / (1 << 30));
	else if (bytes >= 1 << 20)
		snprintf(buf, n, "%.1f MiB", (double)bytes / (1 << 20));
	else
		snprintf(buf, n, "%.1f KiB", (double)bytes / 1024);
}

static void fmt_time(char *buf, size_t n, long long t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
}

static void print_strv(const char *label, char **v)
{
	printf("  %-11s", label);
	if (!v) {
		puts(" -");
		return;
	}
	for (; *v; v++)
		printf(" %s", *v);
	putchar('\n');
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -1;
	unsigned shift = 0;
	switch (*end) {
	case '\0':
		break;
	case 'K':
	case 'k':
		shift = 10;
		break;
	case 'M':
	case 'm':
		shift = 20;
		break;
	case 'G':
	case 'g':
		shift = 30;
		break;
	case 'T':
	case 't':
		shift = 40;
		break;
	default:
		return -1;
	}
	if (*end && end[1] && strcmp(end + 1, "iB") && strcmp(end + 1, "B"))
		return -1;
	if (v == 0 || v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

int image_cmd(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(image_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? MOAT_EXIT_INPUT : MOAT_EXIT_OK;
	}
	static const char *const subs[] = { "import", "ls", "rm", "inspect" };
	const char *sub = argv[1];
	size_t which = ARRAY_SIZE(subs);
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
		if (strcmp(sub, subs[i]) == 0)
			which = i;
	if (strcmp(sub, "list") == 0)
		which = 1;
	if (strcmp(sub, "remove") == 0)
		which = 2;
	if (which == ARRAY_SIZE(subs))
		return usage_error("unknown subcommand '%s' (import, ls, rm, inspect)", sub);
	enum { O_FSTYPE = 256, O_MAX };
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "format", required_argument, NULL, 'f' },
		{ "fstype", required_argument, NULL, O_FSTYPE },
		{ "max-size", required_argument, NULL, O_MAX },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct image_import_options io = { .progress = true };
	const char *name = NULL, *state_opt = NULL;
	int json = -1; /* unset: text, but inspect defaults to json */
	int c;
	optind = 1;
	opterr = 0;
	/* Options and operands in any order (GNU getopt permutes). */
	while ((c = getopt_long(argc - 1, argv + 1, "n:s:f:h", opts, NULL)) != -1) {
		bool ok = true;
		switch (c) {
		case 'n':
			name = optarg;
			ok = which == 0;
			break;
		case 's':
			state_opt = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "json") && strcmp(optarg, "text"))
				return usage_error("--format %s: expected text or json", optarg);
			json = strcmp(optarg, "json") == 0;
			break;
		case O_FSTYPE:
			if (strcmp(optarg, "auto") && strcmp(optarg, "erofs") && strcmp(optarg, "ext4"))
				return usage_error("--fstype %s: expected auto, erofs or ext4", optarg);
			io.fstype = optarg;
			ok = which == 0;
			break;
		case O_MAX:
			if (parse_size(optarg, &io.max_bytes) < 0)
				return usage_error("--max-size %s: expected a size such as 512M or 8G",
						   optarg);
			ok = which == 0;
			break;
		case 'h':
			fputs(image_usage, stdout);
			return MOAT_EXIT_OK;
		default: {
			const char *typed = argv[optind];
			if (typed && strncmp(typed, "--", 2) == 0)
				return usage_error("option '%.*s' is unknown, needs a value or takes "
						   "none", (int)strcspn(typed, "="), typed);
			if (optopt)
				return usage_error("option '-%c' is unknown or needs a value", optopt);
			return usage_error("option '%s' is unknown", typed ? typed : "?");
		}
		}
		if (!ok)
			return usage_error("%s does not take --%s", sub,
					   c == 'n' ? "name" : c == O_FSTYPE ? "fstype" : "max-size");
	}
	char **operands = argv + 1 + optind;
	int noperands = argc - 1 - optind;
	const char *state_dir = runtime_state_dir(state_opt);
	struct moat_error err = { 0 };

	if (which == 0) {
		if (noperands != 1)
			return usage_error(noperands ? "import takes one SOURCE" : "import: no SOURCE given");
		struct image_info info;
		if (image_import_with(state_dir, operands[0], name, &io, &info, &err) < 0) {
			fprintf(stderr, "moat image: %s\n", err.msg);
			return image_exit(&err);
		}
		int rc = MOAT_EXIT_OK;
		if (json == 1) {
			json_t *o = info_json(&info, true);
			rc = json_write(stdout, o, true) < 0 ? MOAT_EXIT_SYSTEM : MOAT_EXIT_OK;
			json_decref(o);
		} else {
			char size[32];
			fmt_size(size, sizeof(size), info.disk_bytes);
			printf("%s %.19s %s %s (%s)\n", info.name, info.id, info.fstype, info.disk, size);
		}
		image_info_release(&info);
		return rc;
	}
	if (which == 1) {
		if (noperands)
			return usage_error("ls takes no operand ('%s')", operands[0]);
		struct image_info *v;
		size_t n;
		if (image_list(state_dir, &v, &n, &err) < 0) {
			fprintf(stderr, "moat image: %s\n", err.msg);
			return image_exit(&err);
		}
		int rc = MOAT_EXIT_OK;
		if (json == 1) {
			json_t *a = json_array();
			for (size_t i = 0; i < n; i++)
				json_array_append_new(a, info_json(&v[i], false));
			rc = json_write(stdout, a, true) < 0 ? MOAT_EXIT_SYSTEM : MOAT_EXIT_OK;
			json_decref(a);
		} else {
			printf("%-40s %-19s %-6s %10s  %s\n", "NAME", "ID", "FSTYPE", "SIZE",
			       "IMPORTED (UTC)");
			for (size_t i = 0; i < n; i++) {
				char size[32], when[32];
				fmt_size(size, sizeof(size), v[i].disk_bytes);
				fmt_time(when, sizeof(when), v[i].imported_at);
				printf("%-40s %.19s %-6s %10s  %s\n", v[i].name, v[i].id, v[i].fstype,
				       size, when);
			}
		}
		image_list_free(v, n);
		return rc;
	}
	if (which == 2) {
		if (!noperands)
			return usage_error("rm: no NAME given");
		int rc = MOAT_EXIT_OK;
		for (int i = 0; i < noperands; i++) {
			if (image_remove(state_dir, operands[i], &err) < 0) {
				fprintf(stderr, "moat image: rm %s: %s\n", operands[i], err.msg);
				int e = image_exit(&err);
				rc = rc > e ? rc : e;
				continue;
			}
			if (json != 1)
				fprintf(stderr, "moat image: removed %s\n", operands[i]);
		}
		return rc;
	}
	if (noperands != 1)
		return usage_error("inspect takes one NAME");
	struct image_info info;
	if (image_find(state_dir, operands[0], &info, &err) < 0) {
		fprintf(stderr, "moat image: %s\n", err.msg);
		return image_exit(&err);
	}
	int rc = MOAT_EXIT_OK;
	if (json != 0) {
		json_t *o = info_json(&info, true);
		rc = json_write(stdout, o, true) < 0 ? MOAT_EXIT_SYSTEM : MOAT_EXIT_OK;
		json_decref(o);
	} else {
		char size[32], when[32];
		fmt_size(size, sizeof(size), info.disk_bytes);
		fmt_time(when, sizeof(when), info.imported_at);
		printf("%s\n  %-11s %s\n  %-11s %s (%s, %s)\n  %-11s %s UTC\n", info.name, "id",
		       info.id, "disk", info.disk, info.fstype, size, "imported", when);
		if (info.verity.present)
			printf("  %-11s sha256, %llu data blocks, tree at byte %llu\n  %-11s %s\n"
			       "  %-11s %s\n",
			       "verity", (unsigned long long)info.verity.data_blocks,
			       (unsigned long long)info.verity.hash_offset, "root hash",
			       info.verity.root_hash, "salt", info.verity.salt);
		else
			printf("  %-11s none (imported by an older moat: re-import it)\n", "verity");
		print_strv("entrypoint", info.config.entrypoint);
		print_strv("cmd", info.config.cmd);
		print_strv("env", info.config.env);
		printf("  %-11s %s\n  %-11s %s\n", "workdir", info.config.workdir ? info.config.workdir : "-",
		       "user", info.config.user ? info.config.user : "-");
	}
	image_info_release(&info);
	return rc;
}
