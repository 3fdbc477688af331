/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A streaming tar reader (POSIX ustar and pax, GNU long names and base-256
 * numbers, v7 headers) and the layer applier that turns image layers into
 * one directory tree.
 *
 * The layers come from whoever built the image.  Every file the applier
 * makes is created with *at() calls on a parent directory that was opened
 * with openat2(RESOLVE_IN_ROOT): "..", absolute symlinks and symlinked
 * parents all resolve inside the tree, so no entry can reach a file outside
 * it, and the last component is never followed (O_EXCL, O_NOFOLLOW,
 * AT_SYMLINK_NOFOLLOW).  Device nodes are refused: a disk holding one would
 * hand the pod's guest whatever the node names.
 */
#include "image_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

/* ---- the reader ---- */

struct tar_reader {
	struct stream *in;
	uint64_t data_left, pad;
	char *path, *link;
	/* Overrides for the next entry, from a pax 'x' header or GNU 'L'/'K'. */
	char *pax_path, *pax_link, *gnu_path, *gnu_link;
	bool pax_size_set, pax_uid_set, pax_gid_set, pax_mtime_set;
	uint64_t pax_size;
	uint32_t pax_uid, pax_gid, pax_mtime_nsec;
	int64_t pax_mtime;
	bool done;
	unsigned char block[512];
};

struct tar_reader *tar_reader_new(struct stream *in)
{
	struct tar_reader *t = xcalloc(1, sizeof(*t));
	t->in = in;
	return t;
}

static void clear_overrides(struct tar_reader *t)
{
	free(t->pax_path);
	free(t->pax_link);
	free(t->gnu_path);
	free(t->gnu_link);
	t->pax_path = t->pax_link = t->gnu_path = t->gnu_link = NULL;
	t->pax_size_set = t->pax_uid_set = t->pax_gid_set = t->pax_mtime_set = false;
}

void tar_reader_free(struct tar_reader *t)
{
	if (!t)
		return;
	clear_overrides(t);
	free(t->path);
	free(t->link);
	free(t);
}

static int skip_bytes(struct tar_reader *t, uint64_t n, struct moat_error *err)
{
	if (t->in->skip)
		return n ? t->in->skip(t->in->ctx, n, err) : 0;
	char buf[8192];
	while (n) {
		size_t want = n < sizeof(buf) ? (size_t)n : sizeof(buf);
		if (stream_read_full(t->in, buf, want, err) < 0)
			return -1;
		n -= want;
	}
	return 0;
}

/* A numeric field: octal digits (leading spaces or NULs, ended by a space,
 * a NUL or the field's end), or GNU base-256 when the top bit is set. */
static int parse_number(const unsigned char *f, size_t n, uint64_t *out, bool *negative)
{
	*negative = false;
	if (f[0] & 0x80) {
		if (f[0] == 0xff) {
			*negative = true;
			return 0;
		}
		uint64_t v = f[0] & 0x3f;
		for (size_t i = 1; i < n; i++) {
			if (v >> 55)
				return -1;
			v = (v << 8) | f[i];
		}
		*out = v;
		return 0;
	}
	size_t i = 0;
	while (i < n && (f[i] == ' ' || f[i] == '\0'))
		i++;
	uint64_t v = 0;
	size_t digits = 0;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
		if (v >> 60)
			return -1;
		v = v * 8 + (uint64_t)(f[i] - '0');
	}
	for (; i < n; i++)
		if (f[i] != ' ' && f[i] != '\0')
			return -1;
	*out = v;
	return 0;
}

static char *field_str(const unsigned char *f, size_t n)
{
	size_t len = strnlen((const char *)f, n);
	return xstrndup((const char *)f, len);
}

static bool checksum_ok(const unsigned char *b)
{
	uint64_t want;
	bool neg;
	if (parse_number(b + 148, 8, &want, &neg) < 0 || neg)
		return false;
	uint64_t usum = 0;
	int64_t ssum = 0;
	for (size_t i = 0; i < 512; i++) {
		unsigned char c = i >= 148 && i < 156 ? ' ' : b[i];
		usum += c;
		ssum += (signed char)c;
	}
	/* Old writers summed signed chars; both are in the wild. */
	return usum == want || (ssum >= 0 && (uint64_t)ssum == want);
}

/* Reads an extended header's data whole, NUL-terminated. */
static char *read_ext(struct tar_reader *t, uint64_t size, uint64_t max, const char *what,
		      struct moat_error *err)
{
	if (size > max) {
		moat_error_set(err, EBADMSG, "%s of %llu bytes is over the %llu-byte limit", what,
			       (unsigned long long)size, (unsigned long long)max);
		return NULL;
	}
	char *buf = xmalloc((size_t)size + 1);
	if (stream_read_full(t->in, buf, (size_t)size, err) < 0 ||
	    skip_bytes(t, (512 - size % 512) % 512, err) < 0) {
		free(buf);
		return NULL;
	}
	buf[size] = '\0';
	return buf;
}

static int pax_number(const char *key, const char *v, uint64_t max, uint64_t *out,
		      struct moat_error *err)
{
	char *end;
	errno = 0;
	if (!(*v >= '0' && *v <= '9'))
		return moat_error_set(err, EBADMSG, "pax header: %s=%.40s is not a number", key, v);
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || *end || x > max)
		return moat_error_set(err, EBADMSG, "pax header: %s=%.40s is out of range", key, v);
	*out = x;
	return 0;
}

/* Records are "LEN KEY=VALUE\n", LEN counting the whole record (POSIX
 * pax, "pax Extended Header"). */
static int parse_pax(struct tar_reader *t, char *data, size_t size, struct moat_error *err)
{
	size_t pos = 0;
	while (pos < size) {
		if (data[pos] == '\0')
			break; /* NUL padding some writers leave */
		size_t len = 0, i = pos;
		while (i < size && data[i] >= '0' && data[i] <= '9' && i - pos < 8)
			len = len * 10 + (size_t)(data[i++] - '0');
		if (i == pos || i >= size || data[i] != ' ' || len <= i - pos + 1 ||
		    len > size - pos || data[pos + len - 1] != '\n')
			return moat_error_set(err, EBADMSG, "pax header: malformed record at "
							    "byte %zu", pos);
		char *key = data + i + 1, *rec_end = data + pos + len - 1;
		char *eq = memchr(key, '=', (size_t)(rec_end - key));
		if (!eq || eq == key)
			return moat_error_set(err, EBADMSG, "pax header: record at byte %zu has no "
							    "key", pos);
		*eq = '\0';
		*rec_end = '\0';
		char *val = eq + 1;
		size_t vlen = (size_t)(rec_end - val);
		pos += len;
		if (strlen(val) != vlen)
			return moat_error_set(err, EBADMSG, "pax header: %s holds a NUL byte", key);
		if (strncmp(key, "GNU.sparse.", 11) == 0)
			return moat_error_set(err, EINVAL, "sparse files are not supported");
		if (strcmp(key, "path") == 0 || strcmp(key, "linkpath") == 0) {
			if (vlen > TAR_MAX_PATH)
				return moat_error_set(err, EBADMSG, "pax header: %s is %zu bytes, "
								    "over %d", key, vlen, TAR_MAX_PATH);
			char **dst = key[0] == 'p' ? &t->pax_path : &t->pax_link;
			free(*dst);
			*dst = vlen ? xstrdup(val) : NULL;
		} else if (strcmp(key, "size") == 0) {
			if (pax_number(key, val, INT64_MAX, &t->pax_size, err) < 0)
				return -1;
			t->pax_size_set = true;
		} else if (strcmp(key, "uid") == 0 || strcmp(key, "gid") == 0) {
			uint64_t v;
			if (pax_number(key, val, UINT32_MAX - 1, &v, err) < 0)
				return -1;
			if (key[0] == 'u') {
				t->pax_uid = (uint32_t)v;
				t->pax_uid_set = true;
			} else {
				t->pax_gid = (uint32_t)v;
				t->pax_gid_set = true;
			}
		} else if (strcmp(key, "mtime") == 0) {
			/* Seconds, maybe negative, maybe with a fraction. */
			char *end;
			errno = 0;
			long long s = strtoll(val, &end, 10);
			uint32_t ns = 0;
			if (*end == '.') {
				uint32_t scale = 100000000;
				for (end++; *end >= '0' && *end <= '9'; end++, scale /= 10)
					if (scale)
						ns += (uint32_t)(*end - '0') * scale;
			}
			if (errno || *end || end == val)
				return moat_error_set(err, EBADMSG, "pax header: mtime=%.40s is not "
								    "a time", val);
			t->pax_mtime = s;
			t->pax_mtime_nsec = s < 0 ? 0 : ns;
			t->pax_mtime_set = true;
		}
		/* Other keys (atime, xattrs, charset...) carry nothing a
		 * read-only root file system keeps. */
	}
	return 0;
}

int tar_next(struct tar_reader *t, struct tar_entry *e, struct moat_error *err)
{
	if (t->done)
		return 0;
	if (skip_bytes(t, t->data_left + t->pad, err) < 0)
		return -1;
	t->data_left = t->pad = 0;
	free(t->path);
	free(t->link);
	t->path = t->link = NULL;
	for (;;) {
		unsigned char *b = t->block;
		ssize_t got = 0;
		while (got < 512) {
			ssize_t r = stream_read(t->in, b + got, 512 - (size_t)got, err);
			if (r < 0)
				return -1;
			if (r == 0)
				break;
			got += r;
		}
		bool pending = t->pax_path || t->pax_link || t->gnu_path || t->gnu_link ||
			       t->pax_size_set;
		if (got == 0 && !pending) {
			/* No end-of-archive blocks: GNU tar accepts that too. */
			t->done = true;
			return 0;
		}
		if (got < 512)
			return moat_error_set(err, EBADMSG, "truncated: a header ends early");
		bool zero = true;
		for (size_t i = 0; i < 512 && zero; i++)
			zero = b[i] == 0;
		if (zero) {
			if (pending)
				return moat_error_set(err, EBADMSG, "an extended header is followed "
								    "by the end of the archive");
			t->done = true;
			return 0;
		}
		if (!checksum_ok(b))
			return moat_error_set(err, EBADMSG, "a header's checksum is wrong (not a "
							    "tar archive, or a corrupt one)");
		bool posix = memcmp(b + 257, "ustar\0", 6) == 0;
		uint64_t size;
		bool neg;
		if (parse_number(b + 124, 12, &size, &neg) < 0 || neg || size > INT64_MAX)
			return moat_error_set(err, EBADMSG, "a header's size field is malformed");
		char type = (char)b[156];
		switch (type) {
		case 'x': {
			_cleanup_free_ char *data = read_ext(t, size, TAR_MAX_PAX, "pax header", err);
			if (!data || parse_pax(t, data, (size_t)size, err) < 0)
				return -1;
			continue;
		}
		case 'g': {
			/* Global records apply to every later entry in principle;
			 * image writers do not use them, and none of ours would
			 * change how an entry lands. */
			_cleanup_free_ char *data = read_ext(t, size, TAR_MAX_PAX, "pax global header", err);
			if (!data)
				return -1;
			continue;
		}
		case 'L':
		case 'K': {
			char *data = read_ext(t, size, TAR_MAX_LONGNAME, "GNU long name", err);
			if (!data)
				return -1;
			if (strlen(data) > TAR_MAX_PATH) {
				free(data);
				return moat_error_set(err, EBADMSG, "GNU long name is over %d bytes",
						      TAR_MAX_PATH);
			}
			char **dst = type == 'L' ? &t->gnu_path : &t->gnu_link;
			free(*dst);
			*dst = data;
			continue;
		}
		case 'V':
			/* A volume label names the tape, not a file. */
			if (skip_bytes(t, size + (512 - size % 512) % 512, err) < 0)
				return -1;
			continue;
		default:
			break;
		}
		memset(e, 0, sizeof(*e));
		switch (type) {
		case '0':
		case '\0':
		case '7':
			e->type = TAR_FILE;
			break;
		case '1':
			e->type = TAR_HARDLINK;
			break;
		case '2':
			e->type = TAR_SYMLINK;
			break;
		case '3':
			e->type = TAR_CHAR;
			break;
		case '4':
			e->type = TAR_BLOCK;
			break;
		case '5':
			e->type = TAR_DIR;
			break;
		case '6':
			e->type = TAR_FIFO;
			break;
		case 'S':
			return moat_error_set(err, EINVAL, "sparse files are not supported");
		default:
			if (type >= 0x20 && type < 0x7f)
				return moat_error_set(err, EINVAL, "entry type '%c' is not supported",
						      type);
			return moat_error_set(err, EINVAL, "entry type 0x%02x is not supported",
					      (unsigned char)type);
		}
		if (t->pax_path)
			t->path = steal_ptr(&t->pax_path);
		else if (t->gnu_path)
			t->path = steal_ptr(&t->gnu_path);
		else if (posix && b[345]) {
			_cleanup_free_ char *prefix = field_str(b + 345, 155);
			_cleanup_free_ char *name = field_str(b, 100);
			t->path = xasprintf("%s/%s", prefix, name);
		}
		else
			t->path = field_str(b, 100);
		if (t->pax_link)
			t->link = steal_ptr(&t->pax_link);
		else if (t->gnu_link)
			t->link = steal_ptr(&t->gnu_link);
		else
			t->link = field_str(b + 157, 100);
		uint64_t v;
		if (parse_number(b + 100, 8, &v, &neg) < 0 || neg)
			return moat_error_set(err, EBADMSG, "entry '%.200s': mode is malformed",
					      t->path);
		e->mode = (uint32_t)(v & 07777);
		if (t->pax_uid_set)
			v = t->pax_uid;
		else if (parse_number(b + 108, 8, &v, &neg) < 0 || neg || v >= UINT32_MAX)
			return moat_error_set(err, EBADMSG, "entry '%.200s': uid is malformed",
					      t->path);
		e->uid = (uint32_t)v;
		if (t->pax_gid_set)
			v = t->pax_gid;
		else if (parse_number(b + 116, 8, &v, &neg) < 0 || neg || v >= UINT32_MAX)
			return moat_error_set(err, EBADMSG, "entry '%.200s': gid is malformed",
					      t->path);
		e->gid = (uint32_t)v;
		if (t->pax_mtime_set) {
			e->mtime = t->pax_mtime;
			e->mtime_nsec = t->pax_mtime_nsec;
		} else if (parse_number(b + 136, 12, &v, &neg) < 0) {
			return moat_error_set(err, EBADMSG, "entry '%.200s': mtime is malformed",
					      t->path);
		} else {
			e->mtime = neg || v > INT64_MAX ? 0 : (int64_t)v;
		}
		if (t->pax_size_set)
			size = t->pax_size;
		if (posix || memcmp(b + 257, "ustar ", 6) == 0) {
			if (parse_number(b + 329, 8, &v, &neg) == 0 && !neg && v < UINT32_MAX)
				e->devmajor = (uint32_t)v;
			if (parse_number(b + 337, 8, &v, &neg) == 0 && !neg && v < UINT32_MAX)
				e->devminor = (uint32_t)v;
		}
		clear_overrides(t);
		if (!t->path[0])
			return moat_error_set(err, EBADMSG, "an entry has an empty name");
		if (strlen(t->path) > TAR_MAX_PATH)
			return moat_error_set(err, EBADMSG, "entry '%.200s...': name is over %d "
							    "bytes", t->path, TAR_MAX_PATH);
		e->path = t->path;
		e->link = t->link;
		/* Links, devices, directories and FIFOs have no data, whatever
		 * their size field says (as GNU tar and Go's archive/tar read it). */
		if (e->type == TAR_FILE) {
			e->size = size;
			t->data_left = size;
			t->pad = (512 - size % 512) % 512;
		}
		return 1;
	}
}

ssize_t tar_read_data(struct tar_reader *t, void *buf, size_t n, struct moat_error *err)
{
	if (n > t->data_left)
		n = (size_t)t->data_left;
	if (!n)
		return 0;
	ssize_t r = stream_read(t->in, buf, n, err);
	if (r < 0)
		return -1;
	if (r == 0)
		return moat_error_set(err, EBADMSG, "truncated: the entry's data ends early");
	t->data_left -= (uint64_t)r;
	return r;
}

/* ---- paths ---- */

int tar_clean_path(const char *in, char *out, struct moat_error *err)
{
	size_t o = 0, depth = 0;
	const char *p = in;
	long level = 0;
	bool dotdot = false;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		if (n == 1 && p[0] == '.') {
			p = end;
			continue;
		}
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			dotdot = true;
			level--;
			if (level < 0)
				return moat_error_set(err, EINVAL, "path escapes the image root");
			p = end;
			continue;
		}
		if (n > 255)
			return moat_error_set(err, EINVAL, "a path component is over 255 bytes");
		level++;
		if (++depth > TAR_MAX_DEPTH)
			return moat_error_set(err, EINVAL, "path is over %d components deep",
					      TAR_MAX_DEPTH);
		if (o + n + 1 > TAR_MAX_PATH)
			return moat_error_set(err, EINVAL, "path is over %d bytes", TAR_MAX_PATH);
		if (o)
			out[o++] = '/';
		memcpy(out + o, p, n);
		o += n;
		p = end;
	}
	out[o] = '\0';
	/* "a/../b" stays inside, but resolving it lexically would disagree
	 * with the kernel when "a" is a symlink: refuse it all the same. */
	if (dotdot)
		return moat_error_set(err, EINVAL, "path has a '..' component");
	return 0;
}

/* ---- removing trees ---- */

static int open_dir_at(int dirfd, const char *name)
{
	return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* A directory about to be removed: without root, one a layer made 0500 or
 * 0000 must be opened up first (it is going anyway). */
static int open_dir_to_remove(int dirfd, const char *name)
{
	int fd = open_dir_at(dirfd, name);
	if (fd < 0 && errno == EACCES && fchmodat(dirfd, name, 0700, 0) == 0)
		fd = open_dir_at(dirfd, name);
	if (fd >= 0 && geteuid() != 0)
		fchmod(fd, 0700);
	return fd;
}

struct name_list {
	char **v;
	size_t n, cap;
};

static void name_list_free(struct name_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

/* Lists dirfd: its subdirectories into dirs and everything else into files
 * (both may be NULL to mean "together in dirs"). */
static int list_dir(int dirfd, struct name_list *dirs, struct name_list *files)
{
	int fd = dup(dirfd);
	if (fd < 0)
		return -1;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	/* The duplicate shares dirfd's offset: start from the top. */
	rewinddir(d);
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		bool isdir = de->d_type == DT_DIR;
		if (de->d_type == DT_UNKNOWN) {
			struct stat st;
			isdir = fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
				S_ISDIR(st.st_mode);
		}
		struct name_list *l = isdir || !files ? dirs : files;
		l->v = grow_array(l->v, &l->cap, l->n + 1, sizeof(*l->v));
		l->v[l->n++] = xstrdup(de->d_name);
	}
	int e = errno;
	closedir(d);
	errno = e;
	return e ? -1 : 0;
}

struct rm_level {
	struct name_list dirs;
	size_t next;
	char *name;
};

int remove_tree_at(int dirfd, const char *name, struct moat_error *err)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : moat_error_sys(err, errno, "%s", name);
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
			return moat_error_sys(err, errno, "removing %s", name);
		return 0;
	}
	/* Depth first, one descriptor at a time: the way back up is "..",
	 * and each level keeps only the names of its subdirectories. */
	struct rm_level *stack = NULL;
	size_t depth = 0, cap = 0;
	int rc = 0;
	int cur = open_dir_to_remove(dirfd, name);
	if (cur < 0)
		return moat_error_sys(err, errno, "%s", name);
	stack = grow_array(stack, &cap, 1, sizeof(*stack));
	stack[0] = (struct rm_level){ .name = xstrdup(name) };
	depth = 1;
	bool listed = false;
	while (depth) {
		struct rm_level *top = &stack[depth - 1];
		if (!listed) {
			struct name_list files = { 0 };
			if (list_dir(cur, &top->dirs, &files) < 0) {
				rc = moat_error_sys(err, errno, "reading %s", top->name);
				name_list_free(&files);
				break;
			}
			for (size_t i = 0; i < files.n; i++)
				if (unlinkat(cur, files.v[i], 0) < 0 && errno != ENOENT) {
					rc = moat_error_sys(err, errno, "removing %s/%s", top->name,
							    files.v[i]);
					break;
				}
			name_list_free(&files);
			if (rc < 0)
				break;
			listed = true;
		}
		if (top->next < top->dirs.n) {
			const char *sub = top->dirs.v[top->next++];
			int fd = open_dir_to_remove(cur, sub);
			if (fd < 0) {
				if (errno == ENOTDIR || errno == ELOOP) {
					unlinkat(cur, sub, 0);
					continue;
				}
				if (errno == ENOENT)
					continue;
				rc = moat_error_sys(err, errno, "%s/%s", top->name, sub);
				break;
			}
			close(cur);
			cur = fd;
			stack = grow_array(stack, &cap, depth + 1, sizeof(*stack));
			stack[depth++] = (struct rm_level){ .name = xstrdup(sub) };
			listed = false;
			continue;
		}
		/* This directory is empty now: step up and remove it. */
		char *done = top->name;
		name_list_free(&top->dirs);
		depth--;
		int up = depth ? openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
		close(cur);
		cur = -1;
		int parent = depth ? up : dirfd;
		if (depth && up < 0) {
			rc = moat_error_sys(err, errno, "%s/..", done);
			free(done);
			break;
		}
		if (unlinkat(parent, done, AT_REMOVEDIR) < 0 && errno != ENOENT) {
			rc = moat_error_sys(err, errno, "removing %s", done);
			free(done);
			if (up >= 0)
				close(up);
			break;
		}
		free(done);
		cur = up;
	}
	if (cur >= 0)
		close(cur);
	for (size_t i = 0; i < depth; i++) {
		name_list_free(&stack[i].dirs);
		free(stack[i].name);
	}
	free(stack);
	return rc;
}

/* ---- the applier ---- */

/* The paths one layer has made so far, with their parents: whiteouts only
 * ever hide what lower layers made (image-spec layer.md, "Whiteouts"). */
struct pathset {
	char **slots;
	size_t cap, n;
};

static uint64_t path_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static bool pathset_has(const struct pathset *ps, const char *s)
{
	if (!ps->cap)
		return false;
	for (size_t i = path_hash(s) & (ps->cap - 1);; i = (i + 1) & (ps->cap - 1)) {
		if (!ps->slots[i])
			return false;
		if (strcmp(ps->slots[i], s) == 0)
			return true;
	}
}

static void pathset_put(struct pathset *ps, char *owned)
{
	for (size_t i = path_hash(owned) & (ps->cap - 1);; i = (i + 1) & (ps->cap - 1))
		if (!ps->slots[i]) {
			ps->slots[i] = owned;
			return;
		}
}

static void pathset_add(struct pathset *ps, const char *s)
{
	if (pathset_has(ps, s))
		return;
	if ((ps->n + 1) * 2 > ps->cap) {
		struct pathset bigger = { .cap = ps->cap ? ps->cap * 2 : 64 };
		bigger.slots = xcalloc(bigger.cap, sizeof(char *));
		for (size_t i = 0; i < ps->cap; i++)
			if (ps->slots[i])
				pathset_put(&bigger, ps->slots[i]);
		free(ps->slots);
		ps->slots = bigger.slots;
		ps->cap = bigger.cap;
	}
	pathset_put(ps, xstrdup(s));
	ps->n++;
}

static void pathset_clear(struct pathset *ps)
{
	for (size_t i = 0; i < ps->cap; i++)
		free(ps->slots[i]);
	free(ps->slots);
	memset(ps, 0, sizeof(*ps));
}

struct dir_time {
	char *path;
	struct timespec t;
};

struct layer_applier {
	int root;
	uint64_t max_bytes, bytes;
	size_t entries;
	bool chown; /* only root can give files their owners */
	struct pathset made;
	struct dir_time *dirs;
	size_t ndirs, cap_dirs;
	/* The last parent opened: entries come grouped by directory. */
	char *parent_path;
	int parent_fd;
	char *buf;
};

struct layer_applier *layer_applier_new(int root_fd, uint64_t max_bytes)
{
	struct layer_applier *a = xcalloc(1, sizeof(*a));
	a->root = root_fd;
	a->max_bytes = max_bytes;
	a->chown = geteuid() == 0;
	a->parent_fd = -1;
	a->buf = xmalloc(1u << 16);
	return a;
}

static void forget_parent(struct layer_applier *a)
{
	if (a->parent_fd >= 0)
		close(a->parent_fd);
	a->parent_fd = -1;
	free(a->parent_path);
	a->parent_path = NULL;
}

void layer_applier_free(struct layer_applier *a)
{
	if (!a)
		return;
	forget_parent(a);
	pathset_clear(&a->made);
	for (size_t i = 0; i < a->ndirs; i++)
		free(a->dirs[i].path);
	free(a->dirs);
	free(a->buf);
	free(a);
}

static int root_open(int root, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	if (!*path)
		path = ".";
	long fd = syscall(SYS_openat2, root, path, &how, sizeof(how));
	return fd < 0 ? -1 : (int)fd;
}

/* Opens the directory path (inside the root) as an O_PATH descriptor,
 * creating what is missing with mode 0755 when create is set.  The result
 * belongs to the applier's cache: do not close it. */
static int open_parent(struct layer_applier *a, const char *path, bool create,
		       struct moat_error *err)
{
	if (a->parent_path && strcmp(a->parent_path, path) == 0)
		return a->parent_fd;
	forget_parent(a);
	int fd = root_open(a->root, path, O_PATH | O_DIRECTORY);
	if (fd < 0 && errno == ENOENT && create) {
		char prefix[TAR_MAX_PATH + 1];
		size_t len = strlen(path);
		int prev = root_open(a->root, "", O_PATH | O_DIRECTORY);
		for (size_t i = 0; prev >= 0 && i <= len; i++) {
			if (path[i] != '/' && path[i] != '\0')
				continue;
			memcpy(prefix, path, i);
			prefix[i] = '\0';
			int next = root_open(a->root, prefix, O_PATH | O_DIRECTORY);
			if (next < 0 && errno == ENOENT) {
				const char *comp = strrchr(prefix, '/');
				comp = comp ? comp + 1 : prefix;
				if (mkdirat(prev, comp, 0755) < 0 && errno != EEXIST) {
					int e = errno;
					close(prev);
					errno = e;
					prev = -1;
					break;
				}
				next = root_open(a->root, prefix, O_PATH | O_DIRECTORY);
			}
			close(prev);
			prev = next;
		}
		fd = prev;
	}
	if (fd < 0) {
		if (errno == ENOTDIR || errno == ELOOP || errno == ENOENT || errno == EXDEV)
			return moat_error_set(err, EINVAL, "parent directory '%s' %s", path,
					      errno == ENOTDIR ? "is not a directory"
					      : errno == ENOENT ? "cannot be made"
								: "cannot be resolved");
		return moat_error_sys(err, errno, "opening '%s'", path);
	}
	a->parent_fd = fd;
	a->parent_path = xstrdup(path);
	return fd;
}

/* Removes, under dirfd/name (rel from the root), what this layer did not
 * make; what it made stays, and its directories are pruned in turn. */
static int prune(struct layer_applier *a, int dirfd, const char *name, const char *rel,
		 unsigned depth, struct moat_error *err)
{
	if (!pathset_has(&a->made, rel))
		return remove_tree_at(dirfd, name, err);
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	if (depth > TAR_MAX_DEPTH)
		return moat_error_set(err, EINVAL, "'%s' is too deep", rel);
	_cleanup_close_ int fd = open_dir_at(dirfd, name);
	if (fd < 0)
		return moat_error_sys(err, errno, "opening '%s'", rel);
	struct name_list kids = { 0 };
	if (list_dir(fd, &kids, NULL) < 0) {
		name_list_free(&kids);
		return moat_error_sys(err, errno, "reading '%s'", rel);
	}
	int rc = 0;
	for (size_t i = 0; i < kids.n && rc == 0; i++) {
		_cleanup_free_ char *child = *rel ? xasprintf("%s/%s", rel, kids.v[i])
						  : xstrdup(kids.v[i]);
		rc = prune(a, fd, kids.v[i], child, depth + 1, err);
	}
	name_list_free(&kids);
	return rc;
}

static int whiteout(struct layer_applier *a, const char *parent, const char *base,
		    struct moat_error *err)
{
	bool opaque = strcmp(base, ".wh..wh..opq") == 0;
	const char *victim = base + 4;
	if (!opaque && strncmp(base, ".wh..wh.", 8) == 0)
		return 0; /* aufs bookkeeping (.wh..wh.plnk): nothing to hide */
	if (!opaque && (!*victim || strcmp(victim, ".") == 0 || strcmp(victim, "..") == 0))
		return moat_error_set(err, EINVAL, "whiteout names no file");
	forget_parent(a);
	int fd = root_open(a->root, parent, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		if (errno == ENOENT && !opaque)
			return 0; /* hiding what is not there */
		if (errno == ENOENT) {
			/* An opaque directory this layer did not list: make it. */
			if (open_parent(a, parent, true, err) < 0)
				return -1;
			return 0;
		}
		return moat_error_set(err, EINVAL, "whiteout's directory '%s' cannot be opened: %s",
				      parent, strerror(errno));
	}
	int rc = 0;
	if (opaque) {
		struct name_list kids = { 0 };
		if (list_dir(fd, &kids, NULL) < 0)
			rc = moat_error_sys(err, errno, "reading '%s'", parent);
		for (size_t i = 0; i < kids.n && rc == 0; i++) {
			_cleanup_free_ char *child = *parent ? xasprintf("%s/%s", parent, kids.v[i])
							     : xstrdup(kids.v[i]);
			rc = prune(a, fd, kids.v[i], child, 1, err);
		}
		name_list_free(&kids);
	} else {
		_cleanup_free_ char *rel = *parent ? xasprintf("%s/%s", parent, victim)
						   : xstrdup(victim);
		rc = prune(a, fd, victim, rel, 1, err);
	}
	close(fd);
	return rc;
}

static void note_dir_time(struct layer_applier *a, const char *path, const struct tar_entry *e)
{
	a->dirs = grow_array(a->dirs, &a->cap_dirs, a->ndirs + 1, sizeof(*a->dirs));
	a->dirs[a->ndirs++] = (struct dir_time){
		xstrdup(path), { .tv_sec = e->mtime, .tv_nsec = e->mtime_nsec }
	};
}

static int set_owner_mode(struct layer_applier *a, int fd, const struct tar_entry *e,
			  struct moat_error *err)
{
	/* Owner first: chown clears set-user-ID and set-group-ID bits. */
	if (a->chown && fchown(fd, e->uid, e->gid) < 0)
		return moat_error_sys(err, errno, "chown");
	if (fchmod(fd, e->mode) < 0)
		return moat_error_sys(err, errno, "chmod");
	return 0;
}

static int write_file(struct layer_applier *a, struct tar_reader *t, int parent,
		      const char *base, const struct tar_entry *e, struct moat_error *err)
{
	if (e->size > a->max_bytes - a->bytes)
		return moat_error_set(err, EFBIG, "files are over %llu MiB together, the limit",
				      (unsigned long long)(a->max_bytes >> 20));
	a->bytes += e->size;
	_cleanup_close_ int fd = openat(parent, base,
					O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return moat_error_sys(err, errno, "creating the file");
	for (;;) {
		ssize_t r = tar_read_data(t, a->buf, 1u << 16, err);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		for (ssize_t off = 0; off < r;) {
			ssize_t w = write(fd, a->buf + off, (size_t)(r - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return moat_error_sys(err, errno, "writing the file");
			off += w;
		}
	}
	if (set_owner_mode(a, fd, e, err) < 0)
		return -1;
	struct timespec ts[2] = { { .tv_sec = e->mtime, .tv_nsec = e->mtime_nsec },
				  { .tv_sec = e->mtime, .tv_nsec = e->mtime_nsec } };
	if (futimens(fd, ts) < 0)
		return moat_error_sys(err, errno, "setting times");
	return 0;
}

static int apply_entry(struct layer_applier *a, struct tar_reader *t, const struct tar_entry *e,
		       struct moat_error *err)
{
	char path[TAR_MAX_PATH + 1];
	if (tar_clean_path(e->path, path, err) < 0)
		return -1;
	if (e->type == TAR_CHAR || e->type == TAR_BLOCK)
		return moat_error_set(err, EINVAL, "%s device node %u:%u is not allowed in an "
						   "image (a disk holding it would open the device "
						   "to the pod)", e->type == TAR_CHAR ? "character" : "block",
				      e->devmajor, e->devminor);
	char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	char parent[TAR_MAX_PATH + 1];
	size_t plen = slash ? (size_t)(slash - path) : 0;
	memcpy(parent, path, plen);
	parent[plen] = '\0';

	if (strncmp(base, ".wh.", 4) == 0)
		return whiteout(a, parent, base, err);

	struct timespec ts[2] = { { .tv_sec = e->mtime, .tv_nsec = e->mtime_nsec },
				  { .tv_sec = e->mtime, .tv_nsec = e->mtime_nsec } };
	if (!path[0]) {
		/* "./": the root's own owner, mode and time. */
		if (e->type != TAR_DIR)
			return moat_error_set(err, EINVAL, "the image root must be a directory");
		if (set_owner_mode(a, a->root, e, err) < 0)
			return -1;
		note_dir_time(a, "", e);
		return 0;
	}

	/* Everything from here on is this layer's: no whiteout may hide it. */
	pathset_add(&a->made, path);
	for (char *s = path + plen; s > path; s--)
		if (*s == '/') {
			*s = '\0';
			pathset_add(&a->made, path);
			*s = '/';
		}

	char target[TAR_MAX_PATH + 1];
	int tparent = -1;
	const char *tbase = NULL;
	char tdir[TAR_MAX_PATH + 1];
	if (e->type == TAR_HARDLINK) {
		if (tar_clean_path(e->link, target, err) < 0)
			return moat_error_wrap(err, "hard link target '%.200s'", e->link);
		if (!target[0] || strcmp(target, path) == 0)
			return moat_error_set(err, EINVAL, "hard link to '%.200s' names %s", e->link,
					      target[0] ? "itself" : "the image root");
		char *ts_ = strrchr(target, '/');
		tbase = ts_ ? ts_ + 1 : target;
		size_t tl = ts_ ? (size_t)(ts_ - target) : 0;
		memcpy(tdir, target, tl);
		tdir[tl] = '\0';
		/* Its own descriptor: the cached parent is about to change. */
		forget_parent(a);
		tparent = root_open(a->root, tdir, O_PATH | O_DIRECTORY);
		struct stat st;
		if (tparent < 0 || fstatat(tparent, tbase, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (tparent >= 0)
				close(tparent);
			return moat_error_set(err, EINVAL, "hard link target '%.200s' is not in the "
							   "image", e->link);
		}
		if (S_ISDIR(st.st_mode)) {
			close(tparent);
			return moat_error_set(err, EINVAL, "hard link target '%.200s' is a "
							   "directory", e->link);
		}
	}

	int pfd = open_parent(a, parent, true, err);
	if (pfd < 0) {
		if (tparent >= 0)
			close(tparent);
		return -1;
	}
	struct stat st;
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (e->type == TAR_DIR && S_ISDIR(st.st_mode)) {
			_cleanup_close_ int dfd = open_dir_at(pfd, base);
			if (dfd < 0)
				return moat_error_sys(err, errno, "opening the directory");
			if (set_owner_mode(a, dfd, e, err) < 0)
				return -1;
			note_dir_time(a, path, e);
			return 0;
		}
		/* A later entry replaces an earlier one, whatever it was. */
		if (S_ISDIR(st.st_mode)) {
			if (remove_tree_at(pfd, base, err) < 0) {
				if (tparent >= 0)
					close(tparent);
				return -1;
			}
		} else if (unlinkat(pfd, base, 0) < 0) {
			if (tparent >= 0)
				close(tparent);
			return moat_error_sys(err, errno, "replacing it");
		}
	}
	switch (e->type) {
	case TAR_FILE:
		return write_file(a, t, pfd, base, e, err);
	case TAR_DIR: {
		if (mkdirat(pfd, base, 0700) < 0)
			return moat_error_sys(err, errno, "creating the directory");
		_cleanup_close_ int dfd = open_dir_at(pfd, base);
		if (dfd < 0)
			return moat_error_sys(err, errno, "opening the directory");
		if (set_owner_mode(a, dfd, e, err) < 0)
			return -1;
		note_dir_time(a, path, e);
		return 0;
	}
	case TAR_SYMLINK:
		/* The target is only text here; it is never followed (every
		 * lookup above resolves inside the root). */
		if (!e->link[0])
			return moat_error_set(err, EINVAL, "symlink has an empty target");
		if (symlinkat(e->link, pfd, base) < 0)
			return moat_error_sys(err, errno, "creating the symlink");
		if (a->chown && fchownat(pfd, base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0)
			return moat_error_sys(err, errno, "chown");
		if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
			return moat_error_sys(err, errno, "setting times");
		return 0;
	case TAR_HARDLINK: {
		/* Flags 0: a symlink target is linked as the symlink itself. */
		int r = linkat(tparent, tbase, pfd, base, 0);
		int e2 = errno;
		close(tparent);
		if (r < 0)
			return moat_error_sys(err, e2, "linking to '%.200s'", e->link);
		return 0;
	}
	case TAR_FIFO:
		/* A FIFO is a name, not a device: it opens nothing outside the
		 * guest, so images that carry one (a few do) import. */
		if (mknodat(pfd, base, S_IFIFO | 0600, 0) < 0)
			return moat_error_sys(err, errno, "creating the FIFO");
		if (a->chown && fchownat(pfd, base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0)
			return moat_error_sys(err, errno, "chown");
		/* Just made by us in a tree only we write: no race to follow. */
		if (fchmodat(pfd, base, e->mode, 0) < 0)
			return moat_error_sys(err, errno, "chmod");
		if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
			return moat_error_sys(err, errno, "setting times");
		return 0;
	default:
		return moat_error_set(err, EINVAL, "unsupported entry type");
	}
}

int layer_apply(struct layer_applier *a, struct stream *tar, struct moat_error *err)
{
	struct tar_reader *t = tar_reader_new(tar);
	struct tar_entry e;
	int r, rc = 0;
	pathset_clear(&a->made);
	while ((r = tar_next(t, &e, err)) > 0) {
		if (++a->entries > IMAGE_MAX_ENTRIES) {
			rc = moat_error_set(err, E2BIG, "more than %u entries in all layers",
					    IMAGE_MAX_ENTRIES);
			break;
		}
		if (apply_entry(a, t, &e, err) < 0) {
			moat_error_wrap(err, "entry '%.300s'", e.path);
			rc = -1;
			break;
		}
	}
	if (r < 0)
		rc = moat_error_wrap(err, "after %zu entries", a->entries);
	forget_parent(a);
	pathset_clear(&a->made);
	tar_reader_free(t);
	return rc;
}

int layer_applier_finish(struct layer_applier *a, struct moat_error *err)
{
	(void)err;
	for (size_t i = 0; i < a->ndirs; i++) {
		int fd = root_open(a->root, a->dirs[i].path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
		if (fd < 0)
			continue; /* removed by a later layer */
		struct timespec ts[2] = { a->dirs[i].t, a->dirs[i].t };
		futimens(fd, ts);
		close(fd);
	}
	return 0;
}
