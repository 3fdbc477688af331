/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VMM's jail, as Firecracker's jailer builds one.  Each pod's QEMU:
 *   - runs as a uid/gid of its own (claimed from a range, one per pod), so
 *     two VMMs cannot signal, ptrace or read each other;
 *   - starts as PID 1 of new PID, mount, IPC, UTS and network namespaces:
 *     it sees no other process and has no network but the tap fd it is given;
 *   - is pivot_root'ed into a tmpfs that exists only in its mount namespace,
 *     holding its kernel and initrd, /dev/null, /dev/zero, /dev/urandom,
 *     /dev/kvm when the accelerator is KVM, and QEMU's own files read-only
 *     (/usr); its disks, console and control socket come as open fds, so no
 *     path in the jail leads to them;
 *   - has an empty bounding set and no capabilities, no_new_privs, rlimits,
 *     and moat's seccomp filter (runtime/seccomp-vmm.json) under QEMU's own
 *     -sandbox;
 *   - lives in a cgroup with the pod's memory, CPU and pids limits: v2 where
 *     the host runs the unified hierarchy, else the v1 memory, cpu and pids
 *     controllers (a hybrid host, whose v2 tree carries no controllers, also
 *     gets a v2 group for tracking).
 * The privilege-drop order is minijail's: mounts, uid/gid, caps,
 * no_new_privs, seccomp last.
 */
#include "runtime.h"

#include "enforcer/enforcer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* ---- one uid per VMM ----------------------------------------------------- */

/* A claim is a file VMM_ID_DIR/<slot> made with O_EXCL and holding the
 * pod's directory: atomic without a lock, one namespace of uids for every
 * state directory on the host, gone at reboot with the VMs (/run is a
 * tmpfs), and a pod whose directory is gone frees its slot. */
int vmm_id_claim(const char *pod_dir, uid_t *out, struct moat_error *err)
{
	const char *dir = VMM_ID_DIR;
	if (mkdir("/run/moat", 0700) < 0 && errno != EEXIST)
		return moat_error_sys(err, errno, "/run/moat");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return moat_error_sys(err, errno, "%s", dir);
	for (unsigned slot = 0; slot < VMM_ID_SLOTS; slot++) {
		char path[4300];
		snprintf(path, sizeof(path), "%s/%u", dir, slot);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno == EEXIST) {
			/* Stale: its pod's directory is gone. */
			char owner[4200] = "";
			int rfd = open(path, O_RDONLY | O_CLOEXEC);
			ssize_t n = rfd >= 0 ? read(rfd, owner, sizeof(owner) - 1) : -1;
			if (rfd >= 0)
				close(rfd);
			owner[n > 0 ? n : 0] = '\0';
			if (n <= 0 || owner[0] != '/' || access(owner, F_OK) == 0)
				continue;
			if (unlink(path) == 0)
				fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		}
		if (fd < 0)
			continue;
		bool ok = write(fd, pod_dir, strlen(pod_dir)) == (ssize_t)strlen(pod_dir);
		close(fd);
		if (!ok) {
			unlink(path);
			return moat_error_sys(err, errno, "%s", path);
		}
		*out = VMM_ID_BASE + slot;
		return 0;
	}
	return moat_error_set(err, EAGAIN, "every one of the %d VMM uids is in use", VMM_ID_SLOTS);
}

void vmm_id_release(uid_t id)
{
	if (id < VMM_ID_BASE || id >= VMM_ID_BASE + VMM_ID_SLOTS)
		return;
	char path[4200];
	snprintf(path, sizeof(path), "%s/%u", VMM_ID_DIR, (unsigned)(id - VMM_ID_BASE));
	unlink(path);
}

/* ---- cgroups ------------------------------------------------------------- */

static int write_str(const char *dir, const char *file, const char *val, struct moat_error *err)
{
	char path[4300];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (write_string(path, val) < 0)
		return moat_error_sys(err, errno, "writing %s to %s", val, path);
	return 0;
}

static bool is_cgroup2(const char *path)
{
	struct statfs s;
	return statfs(path, &s) == 0 && s.f_type == CGROUP2_SUPER_MAGIC;
}

/* mkdir -p of parent/pod under a hierarchy's root, each level made here. */
static int mk_group(const char *root, const char *parent, const char *pod, char *out, size_t n,
		    struct moat_error *err)
{
	snprintf(out, n, "%s/%s", root, parent);
	if (mkdir(out, 0755) < 0 && errno != EEXIST)
		return moat_error_sys(err, errno, "%s", out);
	snprintf(out, n, "%s/%s/%s", root, parent, pod);
	if (mkdir(out, 0755) < 0 && errno != EEXIST)
		return moat_error_sys(err, errno, "%s", out);
	return 0;
}

const char *vmm_cgroup_parent(void)
{
	const char *p = getenv("MOAT_CGROUP_PARENT");
	return p && *p && !strstr(p, "..") && p[0] != '/' ? p : "moat";
}

int vmm_cgroup_create(const char *pod, const struct vmm_limits *l, struct vmm_cgroup *cg,
		      struct moat_error *err)
{
	memset(cg, 0, sizeof(*cg));
	const char *parent = vmm_cgroup_parent();
	char val[64];
	if (is_cgroup2("/sys/fs/cgroup")) {
		/* Pure v2: the controllers must be enabled for the parent's
		 * children, which the root allows. */
		cg->v2 = true;
		char top[4200];
		snprintf(top, sizeof(top), "/sys/fs/cgroup/%s", parent);
		if (mk_group("/sys/fs/cgroup", parent, pod, cg->path[0], sizeof(cg->path[0]), err) <
		    0)
			return -1;
		cg->n = 1;
		if (write_str(top, "cgroup.subtree_control", "+memory +cpu +pids", err) < 0)
			goto fail;
		snprintf(val, sizeof(val), "%llu", (unsigned long long)l->memory_bytes);
		if (write_str(cg->path[0], "memory.max", val, err) < 0 ||
		    write_str(cg->path[0], "memory.swap.max", "0", err) < 0)
			goto fail;
		snprintf(val, sizeof(val), "%u 100000", l->cpu_milli * 100);
		if (write_str(cg->path[0], "cpu.max", val, err) < 0)
			goto fail;
		snprintf(val, sizeof(val), "%u", l->pids);
		if (write_str(cg->path[0], "pids.max", val, err) < 0)
			goto fail;
		return 0;
	}
	/* Hybrid or v1: one group per controller, and v2's for tracking. */
	static const char *const ctl[] = { "memory", "cpu", "pids" };
	for (int i = 0; i < 3; i++) {
		char root[64];
		snprintf(root, sizeof(root), "/sys/fs/cgroup/%s", ctl[i]);
		if (access(root, F_OK) < 0) {
			moat_error_set(err, ENOENT,
				       "no cgroup v2 at /sys/fs/cgroup and no v1 %s "
				       "controller at %s",
				       ctl[i], root);
			goto fail;
		}
		if (mk_group(root, parent, pod, cg->path[cg->n], sizeof(cg->path[0]), err) < 0)
			goto fail;
		const char *dir = cg->path[cg->n++];
		int r = 0;
		if (i == 0) {
			snprintf(val, sizeof(val), "%llu", (unsigned long long)l->memory_bytes);
			r = write_str(dir, "memory.limit_in_bytes", val, err);
			/* memsw exists only with swap accounting on. */
			char sw[4300];
			snprintf(sw, sizeof(sw), "%s/memory.memsw.limit_in_bytes", dir);
			if (r == 0 && access(sw, W_OK) == 0)
				r = write_str(dir, "memory.memsw.limit_in_bytes", val, err);
		} else if (i == 1) {
			snprintf(val, sizeof(val), "%u", l->cpu_milli * 100);
			r = write_str(dir, "cpu.cfs_period_us", "100000", err);
			if (r == 0)
				r = write_str(dir, "cpu.cfs_quota_us", val, err);
		} else {
			snprintf(val, sizeof(val), "%u", l->pids);
			r = write_str(dir, "pids.max", val, err);
		}
		if (r < 0)
			goto fail;
	}
	if (is_cgroup2("/sys/fs/cgroup/unified") &&
	    mk_group("/sys/fs/cgroup/unified", parent, pod, cg->path[cg->n], sizeof(cg->path[0]),
		     err) == 0)
		cg->n++;
	return 0;
fail:
	moat_error_wrap(err, "the VMM's cgroup");
	vmm_cgroup_remove(cg);
	return -1;
}

int vmm_cgroup_enter(const struct vmm_cgroup *cg, pid_t pid, struct moat_error *err)
{
	char val[32];
	snprintf(val, sizeof(val), "%d", (int)pid);
	for (size_t i = 0; i < cg->n; i++)
		if (write_str(cg->path[i], "cgroup.procs", val, err) < 0)
			return -1;
	return 0;
}

/* Whatever is still in a group (a VMM whose shim was killed) is killed. */
static void kill_members(const char *group)
{
	char path[4300];
	snprintf(path, sizeof(path), "%s/cgroup.procs", group);
	FILE *f = fopen(path, "re");
	int pid;
	while (f && fscanf(f, "%d", &pid) == 1)
		if (pid > 1)
			kill(pid, SIGKILL);
	if (f)
		fclose(f);
}

/* The pod's group goes; its parent too once no other pod is in it. */
void vmm_cgroup_remove(const struct vmm_cgroup *cg)
{
	for (size_t i = 0; i < cg->n; i++)
		kill_members(cg->path[i]);
	for (size_t i = 0; i < cg->n; i++) {
		for (int tries = 0; tries < 50 && rmdir(cg->path[i]) < 0 && errno == EBUSY; tries++)
			usleep(10000); /* the last task is still leaving */
		char parent[4096];
		snprintf(parent, sizeof(parent), "%s", cg->path[i]);
		char *slash = strrchr(parent, '/');
		if (slash) {
			*slash = '\0';
			rmdir(parent);
		}
	}
}

int vmm_cgroup_from(const char *const *paths, size_t n, struct vmm_cgroup *cg)
{
	memset(cg, 0, sizeof(*cg));
	for (size_t i = 0; i < n && cg->n < 4; i++) {
		/* From pod.json, which only moat writes; still, only a group
		 * under the cgroup mounts is ever removed. */
		if (!paths[i] || strncmp(paths[i], "/sys/fs/cgroup/", 15) ||
		    strstr(paths[i], "/.."))
			return -1;
		snprintf(cg->path[cg->n++], sizeof(cg->path[0]), "%s", paths[i]);
	}
	return 0;
}

/* ---- the VMM's seccomp filter ---------------------------------------------- */

__asm__(".section .rodata\n"
	".global moat_seccomp_vmm\n"
	".type moat_seccomp_vmm, @object\n"
	"moat_seccomp_vmm:\n"
	".incbin \"runtime/seccomp-vmm.json\"\n"
	".global moat_seccomp_vmm_end\n"
	"moat_seccomp_vmm_end:\n"
	".byte 0\n"
	".previous\n");
extern const char moat_seccomp_vmm[], moat_seccomp_vmm_end[];

int vmm_seccomp_compile(unsigned char **bpf, size_t *len, struct moat_error *err)
{
	struct seccomp_profile *p = NULL;
	size_t tlen = (size_t)(moat_seccomp_vmm_end - moat_seccomp_vmm);
	if (seccomp_profile_parse("runtime/seccomp-vmm.json", moat_seccomp_vmm, tlen, &p, err) < 0)
		return -1;
	struct seccomp_options so = { 0 };
	struct seccomp_stats st;
	void *ctx = NULL;
	int r = seccomp_profile_compile(p, &so, &ctx, &st, err);
	seccomp_profile_free(p);
	if (r < 0)
		return -1;
	int fd = memfd_create("vmm-seccomp", MFD_CLOEXEC);
	r = fd < 0 ? moat_error_sys(err, errno, "memfd_create")
		   : seccomp_ctx_export(ctx, false, fd, err);
	seccomp_ctx_free(ctx);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	off_t n = lseek(fd, 0, SEEK_END);
	*bpf = xmalloc(n > 0 ? (size_t)n : 1);
	*len = n > 0 ? (size_t)n : 0;
	if (n <= 0 || n % 8 || pread(fd, *bpf, *len, 0) != n) {
		close(fd);
		free(*bpf);
		*bpf = NULL;
		return moat_error_set(err, EIO, "exporting the VMM's seccomp filter");
	}
	close(fd);
	return 0;
}

/* ---- the spawn -------------------------------------------------------------- */

/* In the child, before exec: report why and die.  The parent reads the
 * message from the error pipe; a successful exec closes it (O_CLOEXEC). */
__attribute__((noreturn, format(printf, 2, 3))) static void die(int fd, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 1)
		n = (int)sizeof(buf) - 1;
	if (n > 0 && write(fd, buf, (size_t)n) < 0) {
		/* nothing more can be said */
	}
	_exit(127);
}

/* An empty file (or directory) at root/rel, then a read-only bind of src
 * onto it, without suid or device nodes. */
static void bind_ro(int efd, const char *root, const char *rel, const char *src, bool dir, bool dev)
{
	char at[4400];
	snprintf(at, sizeof(at), "%s/%s", root, rel);
	if (dir) {
		if (mkdir(at, 0755) < 0 && errno != EEXIST)
			die(efd, "mkdir %s: %s", at, strerror(errno));
	} else {
		int fd = open(at, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			die(efd, "creating %s: %s", at, strerror(errno));
		close(fd);
	}
	if (mount(src, at, NULL, MS_BIND | MS_REC, NULL) < 0)
		die(efd, "binding %s: %s", src, strerror(errno));
	unsigned long fl = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | (dev ? 0 : MS_NODEV);
	if (mount(NULL, at, NULL, fl, NULL) < 0)
		die(efd, "remounting %s read-only: %s", at, strerror(errno));
}

static void child(const struct vmm_jail *j, char *const argv[], int efd)
{
	/* The VMM dies with its shim, and a shim already gone is noticed. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* In a new PID namespace getppid() says 0, so whether the shim died
	 * before PDEATHSIG was set shows on the pipe it reads from. */
	struct pollfd pp = { .fd = efd };
	if (poll(&pp, 1, 0) > 0 && (pp.revents & POLLERR))
		_exit(127);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL); /* the shim ignores it; an ignored signal survives exec */
	/* The cgroup first, while /sys is still in view: nothing the VMM
	 * does runs outside its limits. */
	struct moat_error e = { 0 };
	if (j->cg && vmm_cgroup_enter(j->cg, 0, &e) < 0)
		die(efd, "%s", e.msg);
	if (j->hostname && sethostname(j->hostname, strlen(j->hostname)) < 0)
		die(efd, "sethostname: %s", strerror(errno));
	/* Nothing mounted here propagates back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die(efd, "making / private: %s", strerror(errno));
	const char *root = j->root;
	if (mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NOEXEC,
		  "size=64k,nr_inodes=64,mode=0755") < 0)
		die(efd, "mounting the jail's tmpfs on %s: %s", root, strerror(errno));
	char at[4400];
	static const char *const dirs[] = { "boot", "dev", "etc", "proc" };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(at, sizeof(at), "%s/%s", root, dirs[i]);
		if (mkdir(at, 0755) < 0)
			die(efd, "mkdir %s: %s", at, strerror(errno));
	}
	/* QEMU, its libraries and firmware, read-only; merged /usr. */
	bind_ro(efd, root, "usr", "/usr", true, false);
	static const char *const links[][2] = { { "usr/bin", "bin" },
						 { "usr/lib", "lib" },
						 { "usr/lib64", "lib64" } };
	for (size_t i = 0; i < 3; i++) {
		snprintf(at, sizeof(at), "%s/%s", root, links[i][1]);
		if (symlink(links[i][0], at) < 0)
			die(efd, "symlink %s: %s", at, strerror(errno));
	}
	if (access("/etc/ld.so.cache", R_OK) == 0)
		bind_ro(efd, root, "etc/ld.so.cache", "/etc/ld.so.cache", false, false);
	bind_ro(efd, root, "boot/kernel", j->kernel, false, false);
	bind_ro(efd, root, "boot/initrd.img", j->initrd, false, false);
	static const char *const devs[] = { "null", "zero", "urandom", "random" };
	for (size_t i = 0; i < 4; i++) {
		char src[32], rel[32];
		snprintf(src, sizeof(src), "/dev/%s", devs[i]);
		snprintf(rel, sizeof(rel), "dev/%s", devs[i]);
		bind_ro(efd, root, rel, src, false, true);
	}
	if (j->kvm) {
		/* Read-only applies to the mount, not to the ioctls KVM needs. */
		bind_ro(efd, root, "dev/kvm", "/dev/kvm", false, true);
	}
	/* Into the jail: the old root is detached, so no path leads out. */
	if (chdir(root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		die(efd, "pivot_root into %s: %s", root, strerror(errno));
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		die(efd, "detaching the host's root: %s", strerror(errno));
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2") < 0)
		die(efd, "mounting /proc: %s", strerror(errno));
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL) < 0)
		die(efd, "remounting the jail read-only: %s", strerror(errno));

	const struct {
		int res;
		rlim_t v;
	} lim[] = { { RLIMIT_NOFILE, 4096 },
		    { RLIMIT_CORE, 0 },
		    { RLIMIT_NPROC, j->limits.pids },
		    { RLIMIT_MEMLOCK, 64 << 10 } };
	for (size_t i = 0; i < sizeof(lim) / sizeof(lim[0]); i++) {
		struct rlimit r = { lim[i].v, lim[i].v };
		if (setrlimit(lim[i].res, &r) < 0)
			die(efd, "setrlimit %d: %s", lim[i].res, strerror(errno));
	}

	/* The fds QEMU is given become 3, 4, ... in order, and every other fd
	 * but the error pipe (close-on-exec) closes.  Each is first copied
	 * above the targets, so that no source is overwritten before it moves. */
	int top = 3 + (int)j->nfds;
	efd = fcntl(efd, F_DUPFD_CLOEXEC, top);
	int tmp[VMM_MAX_FDS + 1];
	for (size_t i = 0; i < j->nfds && efd >= 0; i++)
		if ((tmp[i] = fcntl(j->fds[i], F_DUPFD_CLOEXEC, top)) < 0)
			die(efd, "dup: %s", strerror(errno));
	int out = fcntl(j->out_fd, F_DUPFD_CLOEXEC, top);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (efd < 0 || out < 0 || null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 ||
	    dup2(out, 2) < 0)
		die(efd, "stdio: %s", strerror(errno));
	for (size_t i = 0; i < j->nfds; i++)
		if (dup2(tmp[i], 3 + (int)i) < 0)
			die(efd, "dup: %s", strerror(errno));
	if (efd > top)
		syscall(SYS_close_range, (unsigned)top, (unsigned)efd - 1, 0);
	syscall(SYS_close_range, (unsigned)efd + 1, ~0u, 0);

	/* Who it runs as: its own uid and gid, no supplementary groups but
	 * kvm's when it needs /dev/kvm.  keepcaps only so that the bounding
	 * set can still be emptied below. */
	gid_t groups[1] = { j->kvm_gid };
	if (setgroups(j->kvm ? 1 : 0, groups) < 0 || prctl(PR_SET_KEEPCAPS, 1) < 0 ||
	    setresgid(j->gid, j->gid, j->gid) < 0 || setresuid(j->uid, j->uid, j->uid) < 0)
		die(efd, "becoming uid %u: %s", (unsigned)j->uid, strerror(errno));
	if (caps_apply(0, 0, CAPS_NO_NEW_PRIVS, &e) < 0)
		die(efd, "dropping capabilities: %s", e.msg);
	prctl(PR_SET_KEEPCAPS, 0);
	/* A change of uid clears the parent-death signal: set it again, and
	 * look again whether the shim is still there. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	pp.fd = efd;
	if (poll(&pp, 1, 0) > 0 && (pp.revents & POLLERR))
		_exit(127);
	/* seccomp last: after this, only what the filter allows. */
	struct sock_fprog prog = { .len = (unsigned short)(j->seccomp_len / 8),
				   .filter = (struct sock_filter *)j->seccomp };
	if (j->seccomp && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		die(efd, "loading the VMM's seccomp filter: %s", strerror(errno));
	char *const envp[] = { "PATH=/usr/bin", NULL };
	execve(j->qemu, argv, envp);
	die(efd, "exec %s: %s", j->qemu, strerror(errno));
}

pid_t vmm_spawn(struct vmm_jail *j, char *const argv[], struct moat_error *err)
{
	if (j->nfds > VMM_MAX_FDS)
		return moat_error_set(err, E2BIG, "too many fds for the VMM");
	if (strncmp(j->qemu, "/usr/", 5) != 0)
		return moat_error_set(err, EINVAL, "%s: the jail offers QEMU only /usr", j->qemu);
	int ep[2];
	if (pipe2(ep, O_CLOEXEC) < 0)
		return moat_error_sys(err, errno, "pipe");
	/* clone with no stack forks: the child is PID 1 of its own namespace
	 * and still this process's child, for waitpid and PDEATHSIG. */
	long pid = syscall(SYS_clone,
			   SIGCHLD | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS |
			       CLONE_NEWNET,
			   NULL, NULL, NULL, 0);
	if (pid < 0) {
		int e = errno;
		close(ep[0]);
		close(ep[1]);
		return moat_error_sys(err, e, "clone (new namespaces for the VMM)");
	}
	if (pid == 0) {
		close(ep[0]);
		child(j, argv, ep[1]);
	}
	close(ep[1]);
	char msg[512];
	ssize_t n;
	while ((n = read(ep[0], msg, sizeof(msg) - 1)) < 0 && errno == EINTR)
		;
	close(ep[0]);
	if (n > 0) {
		msg[n] = '\0';
		waitpid((pid_t)pid, NULL, 0);
		return moat_error_set(err, EPERM, "jailing the VMM: %s", msg);
	}
	return (pid_t)pid;
}
