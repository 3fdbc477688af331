/* SPDX-License-Identifier: Apache-2.0 */
/*
 * moat's guest agent: PID 1 of a pod's VM.  It mounts the image disks and
 * the pod's ephemeral disk, loads the few modules the VM needs, and then
 * does what the host asks over the virtio-serial port named "moat"
 * (runtime/proto.h): run the pod's containers, each in its own mount (and
 * PID) namespace on an overlay, stream their logs, run exec sessions, shut
 * down.  The host is the only peer; nothing in the guest listens on a
 * network.
 */
#include "core/core.h"
#include "enforcer/enforcer.h"
#include "runtime/agent/disk.h"
#include "runtime/agent/net.h"
#include "runtime/proto.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONTAINERS 64
#define MAX_SESSIONS 32
#define POD "/pod"

extern char **environ;

struct logline {
	char buf[16384];
	size_t len;
};

struct container {
	char name[64];
	bool init;
	json_t *spec;
	pid_t pid;
	int out, err; /* pipe read ends, -1 when closed */
	struct logline lines[2];
	int logfd;
	int restarts;
	int exit_code; /* -1 while running or not started */
	bool started, done;
	long long restart_at; /* ms, CLOCK_MONOTONIC */
};

/* An exec session or a log follower, tied to a host stream id. */
struct session {
	uint32_t stream;
	pid_t pid;
	int in, out, err; /* -1 when closed */
	int follow;	  /* container index followed, -1 for an exec */
	off_t offset;	  /* follower: how far into the log file */
	bool used;
};

static int port = -1;
static json_t *pod;
static struct container cs[MAX_CONTAINERS];
static size_t ncs;
static struct session ss[MAX_SESSIONS];
static char restart_policy[16] = "Never";
static bool share_pid;
static bool pod_done_sent;
static size_t init_next; /* the next init container to run */
static struct disk_fail pod_fail; /* why the pod cannot run, once known */
static int kmsg = -1;		  /* watched for dm-verity's complaints */

/* ---- messages to the host -------------------------------------------------- */

static void send_json(uint32_t stream, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	if (s && port >= 0)
		proto_write(port, PROTO_JSON, stream, s, strlen(s));
	free(s);
	json_decref(o);
}

static void say(const char *fmt, ...) PRINTF(1, 2);
static void say(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "moat-agent: %s\n", msg);
	send_json(0, json_pack("{s:s, s:s}", "type", "log", "message", msg));
}

static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static long long boot_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_BOOTTIME, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- early boot --------------------------------------------------------------- */

static void mount_or_warn(const char *src, const char *dst, const char *type, unsigned long fl,
			  const char *data)
{
	mkdir(dst, 0755);
	if (mount(src, dst, type, fl, data) < 0)
		fprintf(stderr, "moat-agent: mount %s on %s: %s\n", type, dst, strerror(errno));
}

static void load_modules(void)
{
	/* /lib/modules/order lists them in dependency order, one per line. */
	FILE *f = fopen("/lib/modules/order", "re");
	char line[256];
	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!line[0])
			continue;
		char path[300];
		snprintf(path, sizeof(path), "/lib/modules/%s.ko", line);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST))
			fprintf(stderr, "moat-agent: module %s: %s\n", line, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	if (f)
		fclose(f);
}

/* The port's device: /sys/class/virtio-ports/vportNpM/name says "moat". */
static int open_port(void)
{
	for (int tries = 0; tries < 500; tries++) {
		DIR *d = opendir("/sys/class/virtio-ports");
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char path[300], name[64] = "";
			snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", e->d_name);
			FILE *f = fopen(path, "re");
			if (f) {
				if (!fgets(name, sizeof(name), f))
					name[0] = '\0';
				fclose(f);
			}
			name[strcspn(name, "\n")] = '\0';
			if (strcmp(name, "moat") == 0) {
				snprintf(path, sizeof(path), "/dev/%s", e->d_name);
				closedir(d);
				return open(path, O_RDWR | O_CLOEXEC);
			}
		}
		if (d)
			closedir(d);
		usleep(10000);
	}
	return -1;
}

static void power_off(void)
{
	sync();
	reboot(RB_POWER_OFF);
	_exit(0);
}

/* ---- files from the host -------------------------------------------------- */

/* Writes base64 data to dir/name (name checked: no slashes up, no dots). */
static int write_b64(const char *dir, const char *name, const char *b64, int mode)
{
	if (!name || !*name || strstr(name, "..") || name[0] == '/' || strlen(name) > 200)
		return -1;
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	/* Keys may hold one level of sub-path (items[].path). */
	char *slash = strrchr(path + strlen(dir) + 1, '/');
	if (slash) {
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	uint8_t *out;
	size_t len, bad;
	if (base64_decode(b64, strlen(b64), &out, &len, &bad) < 0)
		return -1;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode & 07777);
	int r = fd >= 0 && write(fd, out, len) == (ssize_t)len ? 0 : -1;
	if (fd >= 0)
		close(fd);
	explicit_bzero(out, len);
	free(out);
	return r;
}

static int mkdirs(const char *path, mode_t mode)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, mode) < 0 && errno != EEXIST ? -1 : 0;
}

/* Volumes: emptyDir and configMap on the pod's disk, memory emptyDir and
 * secrets on tmpfs (RAM only). */
/* The pod's own cgroup in the guest: every container process and exec'd
 * command joins it, so the pod's task limit holds for all of them together
 * while the agent, outside it, can always still fork. */
#define POD_CGROUP "/sys/fs/cgroup/pod"

static void pod_cgroup_setup(long long pids)
{
	if (mkdirs("/sys/fs/cgroup", 0755) < 0 ||
	    mount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 ||
	    mkdir(POD_CGROUP, 0755) < 0) {
		say("the pod's cgroup: %s", strerror(errno));
		return;
	}
	char v[32];
	snprintf(v, sizeof(v), "%lld", pids > 0 ? pids : 1024);
	if (write_string("/sys/fs/cgroup/cgroup.subtree_control", "+pids") < 0 ||
	    write_string(POD_CGROUP "/pids.max", v) < 0)
		say("the pod's pids limit: %s", strerror(errno));
}

/* In a child, before anything else: join the pod's cgroup. */
static void pod_cgroup_join(void)
{
	write_string(POD_CGROUP "/cgroup.procs", "0");
}

static int setup_volumes(void)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(pod, "volumes"), i, v) {
		const char *name = json_string_value(json_object_get(v, "name"));
		const char *kind = json_string_value(json_object_get(v, "kind"));
		if (!name || !kind || strchr(name, '/'))
			continue;
		char dir[512];
		bool ram = strcmp(kind, "memory") == 0 || strcmp(kind, "secret") == 0;
		snprintf(dir, sizeof(dir), "%s/%s", ram ? "/run/volumes" : POD "/volumes", name);
		if (mkdirs(dir, 0755) < 0) {
			say("volume %s: %s", name, strerror(errno));
			return -1;
		}
		if (ram) {
			char opts[64];
			long long limit = json_integer_value(json_object_get(v, "sizeLimit"));
			snprintf(opts, sizeof(opts), "mode=0755,size=%lld", limit > 0 ? limit : 64ll << 20);
			if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0) {
				say("volume %s: tmpfs: %s", name, strerror(errno));
				return -1;
			}
		}
		size_t k;
		json_t *file;
		json_array_foreach(json_object_get(v, "files"), k, file) {
			const char *path = json_string_value(json_object_get(file, "path"));
			json_t *data = json_object_get(file, "data");
			int mode = (int)json_integer_value(json_object_get(file, "mode"));
			if (write_b64(dir, path, json_string_value(data) ? json_string_value(data) : "",
				      mode ? mode : 0644) < 0)
				say("volume %s: file %s: %s", name, path ? path : "?", strerror(errno));
			/* Secret bytes leave this process's memory once on tmpfs. */
			if (json_string_value(data))
				explicit_bzero((char *)json_string_value(data),
					       strlen(json_string_value(data)));
		}
	}
	return 0;
}

/* ---- containers ---------------------------------------------------------------- */

static void dev_node(const char *root, const char *name)
{
	char src[64], dst[600];
	snprintf(src, sizeof(src), "/dev/%s", name);
	snprintf(dst, sizeof(dst), "%s/dev/%s", root, name);
	int fd = open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
	if (fd >= 0)
		close(fd);
	mount(src, dst, NULL, MS_BIND, NULL);
}

static void child_fail(int code, const char *fmt, ...) PRINTF(2, 3);
static void child_fail(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("moat: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	_exit(code);
}

/* In the container's fresh mount namespace: the overlay root, /proc, /dev,
 * the volumes, then pivot_root into it. */
static void enter_rootfs(const struct container *c, json_t *spec)
{
	char root[512], upper[512], work[512], opts[2048];
	int img = (int)json_integer_value(json_object_get(spec, "image"));
	snprintf(root, sizeof(root), POD "/containers/%s/rootfs", c->name);
	snprintf(upper, sizeof(upper), POD "/containers/%s/upper", c->name);
	snprintf(work, sizeof(work), POD "/containers/%s/work", c->name);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		child_fail(127, "making / private: %s", strerror(errno));
	mkdirs(root, 0755);
	mkdirs(upper, 0755);
	mkdirs(work, 0700);
	snprintf(opts, sizeof(opts), "lowerdir=/images/%d,upperdir=%s,workdir=%s", img, upper, work);
	/* nodev on every mount a container can write to: a device node it
	 * makes (CAP_MKNOD is in the default set) opens nothing, so the VM's
	 * disks and /dev/mapper/control stay out of reach. */
	if (mount("overlay", root, "overlay", MS_NODEV, opts) < 0)
		child_fail(127, "overlay root: %s", strerror(errno));
	char p[700];
	snprintf(p, sizeof(p), "%s/proc", root);
	mkdir(p, 0555);
	if (mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		child_fail(127, "/proc: %s", strerror(errno));
	snprintf(p, sizeof(p), "%s/dev", root);
	mkdir(p, 0755);
	mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV, "mode=0755,size=65536");
	static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
	for (size_t i = 0; i < ARRAY_SIZE(nodes); i++)
		dev_node(root, nodes[i]);
	snprintf(p, sizeof(p), "%s/dev/shm", root);
	mkdir(p, 01777);
	mount("shm", p, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=67108864");
	static const char *const links[][2] = { { "/proc/self/fd", "fd" },
						{ "/proc/self/fd/0", "stdin" },
						{ "/proc/self/fd/1", "stdout" },
						{ "/proc/self/fd/2", "stderr" } };
	for (size_t i = 0; i < ARRAY_SIZE(links); i++) {
		snprintf(p, sizeof(p), "%s/dev/%s", root, links[i][1]);
		if (symlink(links[i][0], p) < 0 && errno != EEXIST)
			child_fail(127, "/dev/%s: %s", links[i][1], strerror(errno));
	}
	snprintf(p, sizeof(p), "%s/sys", root);
	mkdir(p, 0555);
	mount("sysfs", p, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(spec, "mounts"), i, m) {
		const char *src = json_string_value(json_object_get(m, "source"));
		const char *dst = json_string_value(json_object_get(m, "path"));
		if (!src || !dst || dst[0] != '/' || strstr(dst, ".."))
			child_fail(127, "mount %zu: bad path", i);
		char target[1024];
		snprintf(target, sizeof(target), "%s%s", root, dst);
		struct stat st;
		if (stat(src, &st) == 0 && !S_ISDIR(st.st_mode)) {
			char parent[1024];
			snprintf(parent, sizeof(parent), "%s", target);
			*strrchr(parent, '/') = '\0';
			mkdirs(parent, 0755);
			int fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
			if (fd >= 0)
				close(fd);
		} else {
			mkdirs(target, 0755);
		}
		if (mount(src, target, NULL, MS_BIND | MS_REC, NULL) < 0)
			child_fail(127, "volume at %s: %s", dst, strerror(errno));
		if (json_is_true(json_object_get(m, "readOnly")) &&
		    mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
			  NULL) < 0)
			child_fail(127, "volume at %s read-only: %s", dst, strerror(errno));
	}
	if (json_is_true(json_object_get(spec, "readOnlyRoot"))) {
		if (mount(root, root, NULL, MS_BIND, NULL) < 0 ||
		    mount(NULL, root, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NODEV, NULL) < 0)
			child_fail(127, "read-only root: %s", strerror(errno));
	}
	if (chdir(root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
	    umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		child_fail(127, "pivot_root: %s", strerror(errno));
}

static void load_seccomp(json_t *spec)
{
	const char *b64 = json_string_value(json_object_get(spec, "seccomp"));
	if (!b64)
		return;
	uint8_t *bpf;
	size_t len, bad;
	if (base64_decode(b64, strlen(b64), &bpf, &len, &bad) < 0)
		child_fail(127, "seccomp filter: not base64 at offset %zu", bad);
	if (len == 0 || len % sizeof(struct sock_filter) || len / sizeof(struct sock_filter) > 65535)
		child_fail(127, "seccomp filter: %zu bytes is not a filter", len);
	struct sock_fprog prog = { .len = (unsigned short)(len / sizeof(struct sock_filter)),
				   .filter = (struct sock_filter *)bpf };
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
		child_fail(127, "loading the seccomp filter: %s", strerror(errno));
	free(bpf);
}

/* The process's identity and confinement, in minijail's order: groups and
 * ids (keeping capabilities across the switch), capabilities, then
 * no_new_privs, and the seccomp filter last; without no_new_privs the filter
 * goes in while CAP_SYS_ADMIN is still held. */
static void confine(json_t *spec)
{
	uid_t uid = (uid_t)json_integer_value(json_object_get(spec, "uid"));
	gid_t gid = (gid_t)json_integer_value(json_object_get(spec, "gid"));
	bool nnp = json_is_true(json_object_get(spec, "noNewPrivs"));
	cap_mask caps = (cap_mask)json_integer_value(json_object_get(spec, "caps"));
	if (json_is_true(json_object_get(spec, "runAsNonRoot")) && uid == 0)
		child_fail(126, "runAsNonRoot: the container would run as uid 0; refused");
	gid_t groups[32];
	size_t ng = 0;
	size_t i;
	json_t *g;
	json_array_foreach(json_object_get(spec, "groups"), i, g) if (ng < 32) groups[ng++] =
		(gid_t)json_integer_value(g);
	if (!nnp)
		load_seccomp(spec);
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setgroups(ng, groups) < 0 ||
	    setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		child_fail(127, "setting uid %u gid %u: %s", uid, gid, strerror(errno));
	struct moat_error err = { 0 };
	if (caps_apply(caps, uid == 0 ? caps : 0, nnp ? CAPS_NO_NEW_PRIVS : 0, &err) < 0)
		child_fail(127, "capabilities: %s", err.msg);
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	if (nnp)
		load_seccomp(spec);
}

static char **json_strv(json_t *arr)
{
	size_t n = json_array_size(arr);
	char **v = xcalloc(n + 1, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(arr, i));
		v[i] = xstrdup(s ? s : "");
	}
	return v;
}

static void exec_process(json_t *spec, json_t *argv_json)
{
	const char *wd = json_string_value(json_object_get(spec, "workdir"));
	char **argv = json_strv(argv_json);
	char **env = json_strv(json_object_get(spec, "env"));
	if (!argv[0])
		child_fail(127, "no command: the pod gives none and the image has no entrypoint");
	if (wd && *wd && chdir(wd) < 0)
		child_fail(127, "workingDir %s: %s", wd, strerror(errno));
	confine(spec);
	environ = env;
	execvpe(argv[0], argv, env);
	child_fail(127, "exec %s: %s", argv[0], strerror(errno));
}

static int start_container(struct container *c)
{
	int out[2], err[2], ready[2];
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 || pipe2(ready, O_CLOEXEC) < 0)
		return -1;
	unsigned long flags = CLONE_NEWNS | (share_pid ? 0 : CLONE_NEWPID) | SIGCHLD;
	pid_t pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
	if (pid < 0) {
		close(out[0]), close(out[1]), close(err[0]), close(err[1]);
		close(ready[0]), close(ready[1]);
		return -1;
	}
	if (pid == 0) {
		pod_cgroup_join();
		int null = open("/dev/null", O_RDONLY);
		dup2(null, 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		close(ready[0]);
		enter_rootfs(c, c->spec);
		/* "started" waits for this: an exec must find the container's
		 * root in place, not the VM's. */
		(void)!write(ready[1], "r", 1);
		close(ready[1]);
		exec_process(c->spec, json_object_get(c->spec, "argv"));
	}
	close(out[1]);
	close(err[1]);
	close(ready[1]);
	char byte;
	while (read(ready[0], &byte, 1) < 0 && errno == EINTR)
		;
	close(ready[0]);
	c->pid = pid;
	c->out = out[0];
	c->err = err[0];
	c->started = true;
	c->exit_code = -1;
	send_json(0, json_pack("{s:s, s:s, s:i, s:I, s:i}", "type", "started", "container",
			       c->name, "pid", (int)pid, "bootMs", (json_int_t)boot_ms(), "restarts",
			       c->restarts));
	return 0;
}

/* ---- logs: the CRI format, on the pod's disk ---------------------------------- */

static void follow_send(struct container *c);

static void log_write(struct container *c, int which, const char *line, size_t n, bool partial)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	struct tm tm;
	gmtime_r(&t.tv_sec, &tm);
	char ts[64];
	size_t k = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + k, sizeof(ts) - k, ".%09ldZ", t.tv_nsec);
	char head[128];
	int h = snprintf(head, sizeof(head), "%s %s %s ", ts, which ? "stderr" : "stdout",
			 partial ? "P" : "F");
	struct iovec iov[3] = { { head, (size_t)h }, { (void *)line, n }, { "\n", 1 } };
	if (c->logfd >= 0)
		(void)!writev(c->logfd, iov, 3);
	follow_send(c);
}

static void log_input(struct container *c, int which, const char *buf, size_t n)
{
	struct logline *l = &c->lines[which];
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			log_write(c, which, l->buf, l->len, false);
			l->len = 0;
			continue;
		}
		l->buf[l->len++] = buf[i];
		if (l->len == sizeof(l->buf)) {
			log_write(c, which, l->buf, l->len, true);
			l->len = 0;
		}
	}
}

static void log_flush(struct container *c)
{
	for (int w = 0; w < 2; w++)
		if (c->lines[w].len) {
			log_write(c, w, c->lines[w].buf, c->lines[w].len, false);
			c->lines[w].len = 0;
		}
}

static void session_close(struct session *s)
{
	if (s->in >= 0)
		close(s->in);
	if (s->out >= 0)
		close(s->out);
	if (s->err >= 0)
		close(s->err);
	memset(s, 0, sizeof(*s));
}

/* Sends a follower what the log file has gained; at the container's end
 * (and no restart coming), the stream ends. */
static void follow_one(struct session *s)
{
	struct container *c = &cs[s->follow];
	char path[512], buf[PROTO_CHUNK];
	snprintf(path, sizeof(path), POD "/logs/%s.log", c->name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n;
		while ((n = pread(fd, buf, sizeof(buf), s->offset)) > 0) {
			proto_write(port, PROTO_OUT, s->stream, buf, (size_t)n);
			s->offset += n;
		}
		close(fd);
	}
}

static void follow_send(struct container *c)
{
	for (size_t i = 0; i < MAX_SESSIONS; i++)
		if (ss[i].used && ss[i].follow >= 0 && &cs[ss[i].follow] == c)
			follow_one(&ss[i]);
}

static void follow_end(struct container *c)
{
	for (size_t i = 0; i < MAX_SESSIONS; i++)
		if (ss[i].used && ss[i].follow >= 0 && &cs[ss[i].follow] == c) {
			follow_one(&ss[i]);
			proto_write(port, PROTO_EOF, ss[i].stream, NULL, 0);
			session_close(&ss[i]);
		}
}

/* ---- the pod's life -------------------------------------------------------------- */

static struct container *find_container(const char *name)
{
	for (size_t i = 0; name && i < ncs; i++)
		if (strcmp(cs[i].name, name) == 0)
			return &cs[i];
	return NULL;
}

static void start_app_containers(void)
{
	for (size_t i = 0; i < ncs; i++)
		if (!cs[i].init && !cs[i].started && start_container(&cs[i]) < 0)
			say("starting %s: %s", cs[i].name, strerror(errno));
}

static void next_init(void)
{
	while (init_next < ncs && cs[init_next].init) {
		struct container *c = &cs[init_next];
		if (!c->done) {
			if (!c->started && start_container(c) < 0)
				say("starting %s: %s", c->name, strerror(errno));
			return;
		}
		if (c->exit_code != 0)
			return; /* the pod has failed */
		init_next++;
	}
	start_app_containers();
}

static void check_pod_done(void)
{
	if (pod_done_sent)
		return;
	bool failed_init = false;
	for (size_t i = 0; i < ncs; i++) {
		if (cs[i].init && cs[i].done && cs[i].exit_code != 0)
			failed_init = true;
		if (!cs[i].done && !(cs[i].init && failed_init) && (cs[i].started || !failed_init))
			return;
	}
	pod_done_sent = true;
	send_json(0, json_pack("{s:s, s:I}", "type", "podDone", "bootMs", (json_int_t)boot_ms()));
}

static void container_exited(struct container *c, int status)
{
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	/* Drain what the pipes still hold, then close them. */
	char buf[4096];
	ssize_t n;
	for (int w = 0; w < 2; w++) {
		int *fd = w ? &c->err : &c->out;
		while (*fd >= 0 && (n = read(*fd, buf, sizeof(buf))) > 0)
			log_input(c, w, buf, (size_t)n);
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
	}
	log_flush(c);
	c->pid = 0;
	c->exit_code = code;
	bool restart = !c->init && (strcmp(restart_policy, "Always") == 0 ||
				    (strcmp(restart_policy, "OnFailure") == 0 && code != 0));
	if (c->init && code != 0 && strcmp(restart_policy, "Never") != 0)
		restart = true;
	json_t *ev = json_pack("{s:s, s:s, s:i, s:b, s:I}", "type", "exited", "container", c->name,
			       "exitCode", code, "restarting", restart, "bootMs",
			       (json_int_t)boot_ms());
	if (WIFSIGNALED(status))
		json_object_set_new(ev, "signal", json_integer(WTERMSIG(status)));
	send_json(0, ev);
	if (restart) {
		c->restarts++;
		c->started = false;
		/* Back off as the kubelet does, from 1 s, doubling, capped. */
		int shift = c->restarts < 6 ? c->restarts - 1 : 5;
		c->restart_at = now_ms() + 1000ll * (1 << shift);
		return;
	}
	c->done = true;
	follow_end(c);
	if (c->init)
		next_init();
	check_pod_done();
}

static void reap(void)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		bool found = false;
		for (size_t i = 0; i < ncs && !found; i++)
			if (cs[i].pid == pid) {
				container_exited(&cs[i], status);
				found = true;
			}
		for (size_t i = 0; i < MAX_SESSIONS && !found; i++)
			if (ss[i].used && ss[i].pid == pid) {
				/* The exec's output may still be in flight: drain it. */
				char buf[PROTO_CHUNK];
				ssize_t n;
				for (int w = 0; w < 2; w++) {
					int *fd = w ? &ss[i].err : &ss[i].out;
					while (*fd >= 0 && (n = read(*fd, buf, sizeof(buf))) > 0)
						proto_write(port, w ? PROTO_ERR : PROTO_OUT, ss[i].stream,
							    buf, (size_t)n);
				}
				int code = WIFEXITED(status) ? WEXITSTATUS(status)
							     : 128 + WTERMSIG(status);
				send_json(ss[i].stream, json_pack("{s:s, s:i}", "type", "exit", "exitCode",
								  code));
				session_close(&ss[i]);
				found = true;
			}
	}
}

static int run_pod(json_t *msg)
{
	pod = json_incref(msg);
	pod_cgroup_setup(json_integer_value(json_object_get(pod, "pidsLimit")));
	const char *rp = json_string_value(json_object_get(pod, "restartPolicy"));
	snprintf(restart_policy, sizeof(restart_policy), "%s", rp ? rp : "Never");
	share_pid = json_is_true(json_object_get(pod, "shareProcessNamespace"));
	const char *hostname = json_string_value(json_object_get(pod, "hostname"));
	if (hostname)
		(void)!sethostname(hostname, strnlen(hostname, 63));
	/* Disks: images read-only, then the ephemeral one.  The kernel's log
	 * says which block failed verification, when one does. */
	kmsg = disk_kmsg_open();
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(pod, "disks"), i, d) {
		const char *dev = json_string_value(json_object_get(d, "dev"));
		const char *serial = json_string_value(json_object_get(d, "serial"));
		char found[32] = "";
		/* virtio-mmio devices probe in no promised order: the host names
		 * each disk by its serial. */
		for (int tries = 0; serial && !found[0] && tries < 300; tries++) {
			DIR *bd = opendir("/sys/block");
			struct dirent *e;
			while (bd && (e = readdir(bd)) && !found[0]) {
				char sp[300], sv[64] = "";
				snprintf(sp, sizeof(sp), "/sys/block/%s/serial", e->d_name);
				FILE *sf = fopen(sp, "re");
				if (sf) {
					if (!fgets(sv, sizeof(sv), sf))
						sv[0] = '\0';
					fclose(sf);
				}
				sv[strcspn(sv, "\n")] = '\0';
				if (strcmp(sv, serial) == 0)
					snprintf(found, sizeof(found), "%.31s", e->d_name);
			}
			if (bd)
				closedir(bd);
			if (!found[0])
				usleep(10000);
		}
		if (serial && !found[0]) {
			say("no disk with serial %s", serial);
			return -1;
		}
		if (found[0])
			dev = found;
		const char *fs = json_string_value(json_object_get(d, "fs"));
		const char *at = json_string_value(json_object_get(d, "mount"));
		bool ro = !json_is_true(json_object_get(d, "ephemeral"));
		if (!dev || !fs || !at || strchr(dev, '/'))
			continue;
		/* The ephemeral disk is made fresh for the pod: no background
		 * inode-table zeroing to compete with its containers. */
		const char *data = strcmp(fs, "ext4") == 0 ? "noinit_itable" : NULL;
		/* dm-verity under an image, dm-crypt under the ephemeral disk. */
		char src[64];
		long long t0 = boot_ms();
		if (disk_prepare(d, i, dev, src, &data, &pod_fail) < 0) {
			say("disk %s: %s", dev, pod_fail.message);
			return -1;
		}
		say("disk %s (%s) ready in %lld ms", dev, serial ? serial : "?", boot_ms() - t0);
		mkdirs(at, 0755);
		if (mount(src, at, fs, (ro ? MS_RDONLY : 0) | MS_NODEV | MS_NOSUID, data) < 0) {
			int e = errno;
			if (kmsg >= 0 && disk_kmsg_check(kmsg, &pod_fail) == 1) {
				say("%s", pod_fail.message);
				return -1;
			}
			snprintf(pod_fail.message, sizeof(pod_fail.message), "mounting %s (%s) on %s: %s",
				 src, fs, at, strerror(e));
			say("%s", pod_fail.message);
			return -1;
		}
	}
	mkdirs(POD "/logs", 0755);
	mkdirs(POD "/containers", 0755);
	if (setup_volumes() < 0)
		return -1;
	char why[256];
	if (agent_net_setup(pod, POD, why, sizeof(why)) < 0) {
		say("network: %s", why);
		return -1;
	}
	json_t *lists[2] = { json_object_get(pod, "initContainers"), json_object_get(pod, "containers") };
	for (int l = 0; l < 2; l++) {
		json_t *c;
		json_array_foreach(lists[l], i, c) {
			if (ncs == MAX_CONTAINERS)
				break;
			struct container *k = &cs[ncs++];
			memset(k, 0, sizeof(*k));
			const char *name = json_string_value(json_object_get(c, "name"));
			snprintf(k->name, sizeof(k->name), "%s", name ? name : "?");
			k->init = l == 0;
			k->spec = c;
			k->out = k->err = -1;
			k->exit_code = -1;
			char path[512];
			snprintf(path, sizeof(path), POD "/logs/%s.log", k->name);
			k->logfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		}
	}
	next_init();
	check_pod_done();
	return 0;
}

/* exec: a process in a container's namespaces, with its security context. */
static void start_exec(uint32_t stream, json_t *msg)
{
	struct container *c = find_container(json_string_value(json_object_get(msg, "container")));
	json_t *argv = json_object_get(msg, "argv");
	struct session *s = NULL;
	for (size_t i = 0; i < MAX_SESSIONS && !s; i++)
		if (!ss[i].used)
			s = &ss[i];
	const char *why = !c ? "no such container" : !c->pid ? "the container is not running"
		      : !json_array_size(argv) ? "no command"
		      : !s ? "too many sessions" : NULL;
	if (why) {
		send_json(stream, json_pack("{s:s, s:s}", "type", "error", "message", why));
		return;
	}
	int in[2], out[2], err[2];
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
		send_json(stream, json_pack("{s:s, s:s}", "type", "error", "message", strerror(errno)));
		return;
	}
	char ns[64];
	snprintf(ns, sizeof(ns), "/proc/%d/ns/mnt", (int)c->pid);
	int mntfd = open(ns, O_RDONLY | O_CLOEXEC);
	snprintf(ns, sizeof(ns), "/proc/%d/ns/pid", (int)c->pid);
	int pidfd = open(ns, O_RDONLY | O_CLOEXEC);
	pid_t pid = fork();
	if (pid == 0) {
		pod_cgroup_join();
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		/* This process waits for the command: it must not hold the
		 * pipes' other ends, or the command never sees EOF on stdin. */
		close(in[1]);
		close(out[0]);
		close(err[0]);
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		if (mntfd < 0 || pidfd < 0 || setns(mntfd, CLONE_NEWNS) < 0 ||
		    setns(pidfd, CLONE_NEWPID) < 0)
			child_fail(127, "entering the container: %s", strerror(errno));
		/* A new PID namespace takes effect for children: fork once more. */
		pid_t inner = fork();
		if (inner < 0)
			child_fail(127, "fork: %s", strerror(errno));
		if (inner == 0) {
			if (chdir("/") < 0)
				child_fail(127, "chdir: %s", strerror(errno));
			exec_process(c->spec, argv);
		}
		int st;
		while (waitpid(inner, &st, 0) < 0 && errno == EINTR)
			;
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	}
	if (mntfd >= 0)
		close(mntfd);
	if (pidfd >= 0)
		close(pidfd);
	close(in[0]);
	close(out[1]);
	close(err[1]);
	if (pid < 0) {
		close(in[1]), close(out[0]), close(err[0]);
		send_json(stream, json_pack("{s:s, s:s}", "type", "error", "message", strerror(errno)));
		return;
	}
	*s = (struct session){ .stream = stream, .pid = pid, .in = in[1], .out = out[0],
			       .err = err[0], .follow = -1, .used = true };
}

static void start_logs(uint32_t stream, json_t *msg)
{
	struct container *c = find_container(json_string_value(json_object_get(msg, "container")));
	if (!c) {
		send_json(stream, json_pack("{s:s, s:s}", "type", "error", "message",
					    "no such container"));
		return;
	}
	struct session tmp = { .stream = stream, .follow = (int)(c - cs), .in = -1, .out = -1,
			       .err = -1, .used = true };
	bool follow = json_is_true(json_object_get(msg, "follow"));
	if (!follow || c->done) {
		follow_one(&tmp);
		proto_write(port, PROTO_EOF, stream, NULL, 0);
		return;
	}
	for (size_t i = 0; i < MAX_SESSIONS; i++)
		if (!ss[i].used) {
			ss[i] = tmp;
			follow_one(&ss[i]);
			return;
		}
	send_json(stream, json_pack("{s:s, s:s}", "type", "error", "message", "too many sessions"));
}

static void shutdown_pod(void)
{
	for (size_t i = 0; i < ncs; i++)
		if (cs[i].pid > 0)
			kill(cs[i].pid, SIGTERM);
	long long until = now_ms() + 3000;
	while (now_ms() < until) {
		bool any = false;
		reap();
		for (size_t i = 0; i < ncs; i++)
			any |= cs[i].pid > 0;
		if (!any)
			break;
		usleep(20000);
	}
	for (size_t i = 0; i < ncs; i++)
		if (cs[i].pid > 0)
			kill(cs[i].pid, SIGKILL);
	send_json(0, json_pack("{s:s}", "type", "shutdown"));
	umount2(POD, MNT_DETACH);
	power_off();
}

static void handle_frame(struct proto_frame *f)
{
	if (f->type == PROTO_IN || f->type == PROTO_EOF) {
		for (size_t i = 0; i < MAX_SESSIONS; i++)
			if (ss[i].used && ss[i].stream == f->stream && ss[i].in >= 0) {
				if (f->type == PROTO_EOF) {
					close(ss[i].in);
					ss[i].in = -1;
				} else {
					(void)!write(ss[i].in, f->data, f->len);
				}
			}
		return;
	}
	if (f->type != PROTO_JSON)
		return;
	json_error_t je;
	json_t *msg = json_loadb((const char *)f->data, f->len, 0, &je);
	const char *op = json_string_value(json_object_get(msg, "op"));
	if (!op) {
		say("a message without op: %s", je.text);
	} else if (strcmp(op, "run") == 0 && !pod) {
		if (run_pod(msg) < 0)
			send_json(0, json_pack("{s:s, s:s, s:s}", "type", "podFailed", "reason",
					       pod_fail.reason, "message", pod_fail.message));
	} else if (strcmp(op, "exec") == 0) {
		start_exec(f->stream, msg);
	} else if (strcmp(op, "logs") == 0) {
		start_logs(f->stream, msg);
	} else if (strcmp(op, "shutdown") == 0) {
		shutdown_pod();
	} else {
		say("unknown op %s", op);
	}
	/* A RUN_POD may carry secrets: scrub the frame once used. */
	explicit_bzero(f->data, f->len);
	json_decref(msg);
}

static int copy_file(const char *from, const char *to, mode_t mode)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	char buf[65536];
	ssize_t n;
	int r = in >= 0 && out >= 0 ? 0 : -1;
	while (r == 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			r = -1;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (r == 0)
		unlink(from); /* free the initramfs's copy */
	return r;
}

/*
 * The initramfs root cannot be pivot_root'ed away from, and a container
 * that only chroot()s could climb back to it.  So, as switch_root does, the
 * agent first moves itself onto a tmpfs root and runs again from there.
 */
static void leave_initramfs(char **argv)
{
	if (getenv("MOAT_AGENT_ROOT"))
		return;
	if (mkdir("/newroot", 0755) < 0 ||
	    mount("tmpfs", "/newroot", "tmpfs", 0, "mode=0755,size=50%") < 0)
		return;
	mkdirs("/newroot/lib/modules", 0755);
	DIR *d = opendir("/lib/modules");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char from[300], to[320];
		snprintf(from, sizeof(from), "/lib/modules/%s", e->d_name);
		snprintf(to, sizeof(to), "/newroot/lib/modules/%s", e->d_name);
		copy_file(from, to, 0644);
	}
	if (d)
		closedir(d);
	/* busybox, for mke2fs: the agent's alone, no container sees it. */
	mkdirs("/newroot/bin", 0755);
	copy_file("/bin/busybox", "/newroot/bin/busybox", 0755);
	if (copy_file("/init", "/newroot/init", 0755) < 0 || chdir("/newroot") < 0 ||
	    mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 || chdir("/") < 0)
		return;
	setenv("MOAT_AGENT_ROOT", "tmpfs", 1);
	execv("/init", argv);
}

int main(int argc, char **argv)
{
	(void)argc;
	leave_initramfs(argv);
	mount_or_warn("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount_or_warn("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount_or_warn("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	mount_or_warn("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
	mount_or_warn("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	int console = open("/dev/console", O_RDWR | O_CLOEXEC);
	if (console >= 0) {
		dup2(console, 1);
		dup2(console, 2);
	}
	long long t0 = boot_ms();
	load_modules();
	port = open_port();
	if (port < 0) {
		fprintf(stderr, "moat-agent: no virtio port named moat\n");
		power_off();
	}
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	send_json(0, json_pack("{s:s, s:i, s:I, s:I}", "type", "hello", "version", PROTO_VERSION,
			       "bootMs", (json_int_t)t0, "readyMs", (json_int_t)boot_ms()));
	for (;;) {
		struct pollfd p[2 + 2 * MAX_CONTAINERS + 2 * MAX_SESSIONS];
		void *who[ARRAY_SIZE(p)];
		int which[ARRAY_SIZE(p)];
		nfds_t n = 0;
		p[n++] = (struct pollfd){ .fd = port, .events = POLLIN };
		p[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		p[n++] = (struct pollfd){ .fd = kmsg, .events = POLLIN };
		for (size_t i = 0; i < ncs; i++)
			for (int w = 0; w < 2; w++) {
				int fd = w ? cs[i].err : cs[i].out;
				if (fd >= 0) {
					who[n] = &cs[i];
					which[n] = w;
					p[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
				}
			}
		size_t first_session = n;
		for (size_t i = 0; i < MAX_SESSIONS; i++)
			for (int w = 0; w < 2; w++) {
				int fd = !ss[i].used ? -1 : w ? ss[i].err : ss[i].out;
				if (fd >= 0) {
					who[n] = &ss[i];
					which[n] = w;
					p[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
				}
			}
		long long next = -1;
		for (size_t i = 0; i < ncs; i++)
			if (cs[i].restart_at && (next < 0 || cs[i].restart_at < next))
				next = cs[i].restart_at;
		int timeout = next < 0 ? -1 : (int)(next - now_ms() > 0 ? next - now_ms() : 0);
		if (poll(p, n, timeout) < 0 && errno != EINTR)
			continue;
		for (size_t i = 0; i < ncs; i++)
			if (cs[i].restart_at && now_ms() >= cs[i].restart_at) {
				cs[i].restart_at = 0;
				if (start_container(&cs[i]) < 0)
					say("restarting %s: %s", cs[i].name, strerror(errno));
			}
		if (p[0].revents & (POLLIN | POLLHUP)) {
			struct proto_frame f;
			const char *why;
			if (proto_read(port, &f, &why) == 0) {
				handle_frame(&f);
				proto_frame_release(&f);
			} else if (errno == EBADMSG) {
				say("bad frame from the host: %s", why);
			} else if (errno != EAGAIN && errno != EINTR) {
				usleep(100000); /* the host is not connected */
			}
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si))
				;
			reap();
		}
		/* A block of an image that fails verification ends the pod: its
		 * containers would only see EIO from here on. */
		if ((p[2].revents & POLLIN) && disk_kmsg_check(kmsg, &pod_fail) == 1) {
			say("%s", pod_fail.message);
			send_json(0, json_pack("{s:s, s:s, s:s}", "type", "podFailed", "reason",
					       pod_fail.reason, "message", pod_fail.message));
			shutdown_pod();
		}
		for (nfds_t k = 3; k < n; k++) {
			if (!(p[k].revents & (POLLIN | POLLHUP)))
				continue;
			char buf[PROTO_CHUNK];
			if (k < first_session) {
				struct container *c = who[k];
				int *fd = which[k] ? &c->err : &c->out;
				if (*fd != p[k].fd)
					continue;
				ssize_t r = read(*fd, buf, sizeof(buf));
				if (r > 0) {
					log_input(c, which[k], buf, (size_t)r);
				} else {
					close(*fd);
					*fd = -1;
				}
			} else {
				struct session *s = who[k];
				int *fd = which[k] ? &s->err : &s->out;
				if (!s->used || *fd != p[k].fd)
					continue;
				ssize_t r = read(*fd, buf, sizeof(buf));
				if (r > 0) {
					proto_write(port, which[k] ? PROTO_ERR : PROTO_OUT, s->stream, buf,
						    (size_t)r);
				} else {
					close(*fd);
					*fd = -1;
				}
			}
		}
	}
}
