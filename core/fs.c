/* SPDX-License-Identifier: Apache-2.0 */
/* Reading inputs whole, walking directories, naming paths for reports. */
#include "core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

static int read_fd_sbuf(int fd, const char *name, size_t max, struct sbuf *b,
			struct moat_error *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return moat_error_sys(err, errno, "%s", name);
	if (S_ISDIR(st.st_mode))
		return moat_error_set(err, EISDIR, "%s: is a directory", name);
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max)
		return moat_error_set(err, EFBIG,
				      "%s: file is %lld bytes, over the %zu MiB limit",
				      name, (long long)st.st_size, max >> 20);
	sbuf_reset(b);
	/* A regular file: its size, a byte to see EOF without growing a buffer
	 * of megabytes to learn it, and the NUL. */
	size_t want = S_ISREG(st.st_mode) ? (size_t)st.st_size + 2 : 65536;
	b->s = grow_array(b->s, &b->cap, want, 1);
	for (;;) {
		if (b->len + 1 >= b->cap) {
			if (b->cap > max + 1)
				return moat_error_set(err, EFBIG,
						      "%s: input is over the %zu MiB limit",
						      name, max >> 20);
			b->s = grow_array(b->s, &b->cap, b->cap * 2, 1);
		}
		ssize_t r = read(fd, b->s + b->len, b->cap - b->len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return moat_error_sys(err, errno, "%s: read", name);
		if (r == 0)
			break;
		b->len += (size_t)r;
		if (b->len > max)
			return moat_error_set(err, EFBIG,
					      "%s: input is over the %zu MiB limit",
					      name, max >> 20);
	}
	b->s[b->len] = '\0';
	return 0;
}

int read_fd(int fd, const char *name, size_t max, char **data, size_t *len,
	    struct moat_error *err)
{
	struct sbuf b = { 0 };
	if (read_fd_sbuf(fd, name, max, &b, err) < 0) {
		sbuf_release(&b);
		return -1;
	}
	*len = b.len;
	*data = sbuf_steal(&b);
	return 0;
}

int read_file_sbuf(const char *path, size_t max, struct sbuf *buf, struct moat_error *err)
{
	if (strcmp(path, "-") == 0)
		return read_fd_sbuf(STDIN_FILENO, "<stdin>", max, buf, err);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return moat_error_sys(err, errno, "%s", path);
	return read_fd_sbuf(fd, path, max, buf, err);
}

int read_file(const char *path, size_t max, char **data, size_t *len,
	      struct moat_error *err)
{
	struct sbuf b = { 0 };
	if (read_file_sbuf(path, max, &b, err) < 0) {
		sbuf_release(&b);
		return -1;
	}
	*len = b.len;
	*data = sbuf_steal(&b);
	return 0;
}

static bool has_suffix(const char *name, const char *const *suffixes)
{
	size_t n = strlen(name);
	for (; *suffixes; suffixes++) {
		size_t m = strlen(*suffixes);
		if (n > m && strcmp(name + n - m, *suffixes) == 0)
			return true;
	}
	return false;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk_dir(int fd, const char *path, const char *const *suffixes,
		    walk_fn fn, void *ctx, int depth)
{
	struct moat_error err;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		moat_error_sys(&err, errno, "cannot read directory");
		return fn(path, &err, ctx);
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue; /* ., .., and hidden trees such as .git */
		names = grow_array(names, &cap, n + 1, sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);

	int ret = 0;
	for (size_t i = 0; i < n && ret == 0; i++) {
		_cleanup_free_ char *child = xasprintf("%s%s%s", path,
			path[strlen(path) - 1] == '/' ? "" : "/", names[i]);
		struct stat st;
		if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* vanished while we looked */
		if (S_ISDIR(st.st_mode)) {
			if (depth >= 64) {
				moat_error_set(&err, ELOOP,
					       "directories nested too deep (more than 64 levels); not entered");
				ret = fn(child, &err, ctx);
				continue;
			}
			int sub = openat(dirfd(d), names[i],
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				moat_error_sys(&err, errno, "cannot open directory");
				ret = fn(child, &err, ctx);
				continue;
			}
			ret = walk_dir(sub, child, suffixes, fn, ctx, depth + 1);
		} else if ((S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) &&
			   has_suffix(names[i], suffixes)) {
			if (S_ISLNK(st.st_mode) &&
			    (fstatat(dirfd(d), names[i], &st, 0) < 0 ||
			     !S_ISREG(st.st_mode)))
				continue; /* dangling, or a link to a directory */
			ret = fn(child, NULL, ctx);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return ret;
}

int walk_files(const char *path, const char *const *suffixes, walk_fn fn,
	       void *ctx, struct moat_error *err)
{
	if (strcmp(path, "-") == 0)
		return fn(path, NULL, ctx);
	struct stat st;
	if (stat(path, &st) < 0)
		return moat_error_sys(err, errno, "%s", path);
	if (!S_ISDIR(st.st_mode))
		return fn(path, NULL, ctx);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return moat_error_sys(err, errno, "%s", path);
	return walk_dir(fd, path, suffixes, fn, ctx, 0);
}

char *path_display(const char *path)
{
	if (strcmp(path, "-") == 0)
		return xstrdup("<stdin>");
	while (path[0] == '.' && path[1] == '/') {
		path += 2;
		while (*path == '/')
			path++;
	}
	if (path[0] == '/') {
		char cwd[PATH_MAX];
		if (getcwd(cwd, sizeof(cwd))) {
			size_t n = strlen(cwd);
			if (n > 1 && strncmp(path, cwd, n) == 0 && path[n] == '/')
				return xstrdup(path + n + 1);
		}
	}
	return xstrdup(path);
}

const char *self_dir(char *buf, size_t n)
{
	ssize_t len = readlink("/proc/self/exe", buf, n - 1);
	if (len <= 0)
		return NULL;
	buf[len] = '\0';
	char *slash = strrchr(buf, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	return buf;
}

char *path_join(char *dst, size_t n, const char *a, const char *b, long idx)
{
	size_t la = strlen(a), lb = strlen(b), k = 0;
	char num[24];
	size_t ln = 0;
	if (idx >= 0) {
		char rev[24];
		size_t r = 0;
		unsigned long v = (unsigned long)idx;
		do
			rev[r++] = (char)('0' + v % 10);
		while ((v /= 10) && r < sizeof(rev));
		num[ln++] = '[';
		while (r)
			num[ln++] = rev[--r];
		num[ln++] = ']';
	}
	if (!n)
		return dst;
#define PUT(src, len)                                                          \
	do {                                                                   \
		size_t m_ = (len) < n - 1 - k ? (len) : n - 1 - k;             \
		memcpy(dst + k, (src), m_);                                    \
		k += m_;                                                       \
	} while (0)
	if (a == dst) /* appending in place */
		k = la < n - 1 ? la : n - 1;
	else
		PUT(a, la);
	if (la && lb)
		PUT(".", 1);
	PUT(b, lb);
	PUT(num, ln);
#undef PUT
	dst[k] = '\0';
	return dst;
}

bool glob_match(const char *pattern, const char *s)
{
	return fnmatch(pattern, s, 0) == 0;
}

int write_string(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	size_t len = strlen(s);
	ssize_t n = write(fd, s, len);
	int e = errno;
	close(fd);
	if (n == (ssize_t)len)
		return 0;
	errno = n < 0 ? e : EIO;
	return -1;
}

int if_set_up(int sock, const char *ifname)
{
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
		return -1;
	ifr.ifr_flags |= IFF_UP;
	return ioctl(sock, SIOCSIFFLAGS, &ifr);
}
