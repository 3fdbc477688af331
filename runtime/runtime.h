/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runtime: Kubernetes pods as share-nothing QEMU guests.  Images are
 * imported once into read-only disks; each pod boots its own small VM with
 * its own ephemeral disk, and a guest agent runs the containers.
 *
 * State lives under one directory (--state-dir, MOAT_STATE_DIR, default
 * /var/lib/moat):
 *   images/   the image store (image.c)
 *   pods/     one directory per pod (pod.c)
 *   nets/     one directory per port group (net.c)
 */
#ifndef MOAT_RUNTIME_H
#define MOAT_RUNTIME_H

#include "core/core.h"

#include <stdint.h>
#include <sys/types.h>

#define RUNTIME_STATE_DIR "/var/lib/moat"

/* The state directory: --state-dir, else $MOAT_STATE_DIR, else the default. */
const char *runtime_state_dir(const char *opt);

/* ---- images ---------------------------------------------------------------- */

/* What an image says its process is (the OCI image config's "config"). */
struct image_config {
	char **entrypoint, **cmd, **env; /* NULL-terminated arrays */
	char *workdir, *user;            /* NULL when unset */
};

/* An image disk's dm-verity hash tree (runtime/verity.c): format 1,
 * sha256, 4096-byte blocks, the tree in the disk file after the data. */
struct image_verity {
	bool present;		/* false: imported before moat built trees */
	uint64_t data_blocks;	/* 4096-byte blocks the tree covers */
	uint64_t hash_offset;	/* bytes: where the tree starts in the file */
	char root_hash[65], salt[65]; /* lowercase hex */
};

struct image_info {
	char id[72];    /* "sha256:<hex>" of the image manifest */
	char name[256]; /* "name:tag" */
	char disk[4096]; /* absolute path of the read-only disk */
	char fstype[8];  /* "erofs" or "ext4" */
	uint64_t disk_bytes;
	long long imported_at; /* seconds since the epoch */
	struct image_verity verity;
	struct image_config config;
};

/* Imports an OCI image layout directory, an oci-archive or a docker-archive
 * tar into the store under state_dir, verifying every digest, and turns it
 * into one read-only disk.  name: "name:tag", or NULL for the name the
 * source carries.  Bad or unsafe input: -1, EINVAL/EBADMSG, nothing kept. */
int image_import(const char *state_dir, const char *source, const char *name,
		 struct image_info *out, struct moat_error *err);

struct image_import_options {
	const char *fstype; /* "erofs", "ext4"; NULL or "auto": erofs when
			     * mkfs.erofs is installed, else ext4 */
	uint64_t max_bytes; /* uncompressed layers together; 0: 8 GiB */
	bool progress;      /* progress on stderr, when it is a terminal */
};
/* image_import with options; o may be NULL. */
int image_import_with(const char *state_dir, const char *source, const char *name,
		      const struct image_import_options *o, struct image_info *out,
		      struct moat_error *err);
/* Looks an image up by name:tag (":latest" when no tag) or id prefix. */
int image_find(const char *state_dir, const char *name, struct image_info *out,
	       struct moat_error *err);
/* Every image in the store; caller frees with image_list_free. */
int image_list(const char *state_dir, struct image_info **out, size_t *n,
	       struct moat_error *err);
void image_list_free(struct image_info *v, size_t n);
int image_remove(const char *state_dir, const char *name, struct moat_error *err);
void image_info_release(struct image_info *i);

/* ---- pods ------------------------------------------------------------------ */

struct json_t;

struct pod_options {
	const char *state_dir;	     /* runtime_state_dir() */
	const char *seccomp_default; /* RuntimeDefault (Docker format); NULL: built in */
	int level;		     /* enum pss_level for admission */
	const char *accel;	     /* "auto", "kvm", "tcg" */
	const char *guest_dir;	     /* vmlinuz and initrd.img */
	const char *net;	     /* port group; NULL: "default"; "none": no NIC */
	void (*progress)(const char *msg); /* long steps, for a terminal; may be NULL */
};

/* moat's RuntimeDefault profile (runtime/seccomp-default.json), built in. */
const char *runtime_seccomp_default(size_t *len);

/* What `pod run` has decided from a manifest. */
struct pod_plan {
	char name[64];
	struct json_t *run;    /* the RUN message: holds secret values */
	struct json_t *record; /* the same without values, kept in the state dir */
	struct image_info images[32];
	char *image_refs[32];
	size_t nimages;
	unsigned cpu_milli, vcpus, mem_mib;
	uint64_t mem_bytes, disk_bytes;
};

/* Admission and planning.  -1 with err: errnum EPERM when admission refused
 * the pod (every refusal, file:line:col, field, rule), else bad input. */
int pod_plan_build(const char *file, const char *buf, size_t len, const struct pod_options *o,
		   struct pod_plan *plan, struct moat_error *err);
void pod_plan_release(struct pod_plan *p);
/* ---- the VM -------------------------------------------------------------- */

struct vm_disk {
	const char *path;
	const char *serial; /* how the guest finds it */
	bool readonly;
	int fd, fd_ro; /* as QEMU sees them: read-write (unless readonly), read-only */
};

/* QEMU runs jailed (jail.c): it opens nothing by path but its kernel and
 * initrd, at /boot in the jail; the rest are fds it is given. */
struct vm_config {
	const char *name, *accel;
	int fd_console, fd_ctl; /* as QEMU sees them */
	unsigned vcpus, mem_mib;
	struct vm_disk disks[33];
	size_t ndisks;
	int tap_fd;   /* the pod's NIC, when mac[0]: the tap, as QEMU sees it */
	char mac[18];
};

/* "auto": kvm where the CPU shows vmx/svm and /dev/kvm opens, else tcg;
 * why says which reason held.  -1 for an unknown want. */
int vm_pick_accel(const char *want, char *out, size_t n, char *why, size_t wn);
/* --guest-dir, $MOAT_GUEST_DIR, build/guest beside the binary, or installed. */
const char *vm_guest_dir(const char *opt, char *buf, size_t n);
/* The kernel mkguest made: vmlinux (PVH) when it could, else vmlinuz. */
const char *vm_kernel_path(const char *guest_dir, char *buf, size_t n);
/* QEMU's argv for the pod; free with vm_argv_free. */
char **vm_argv(const struct vm_config *c);
void vm_argv_free(char **v);

/* ---- the VMM's jail (jail.c) ---------------------------------------------- */

/* Each pod's QEMU runs as uid = gid = VMM_ID_BASE + a slot of its own. */
#define VMM_ID_BASE 2100000000u
#define VMM_ID_SLOTS 65536
#define VMM_MAX_FDS 72
#define VMM_ID_DIR "/run/moat/vmm-ids"

/* Claims a free uid for the pod whose directory is pod_dir. */
int vmm_id_claim(const char *pod_dir, uid_t *out, struct moat_error *err);
void vmm_id_release(uid_t id);

struct vmm_limits {
	uint64_t memory_bytes; /* guest RAM and QEMU's own */
	unsigned cpu_milli;    /* 1000: one CPU */
	unsigned pids;	       /* tasks (QEMU's threads); also RLIMIT_NPROC */
};
struct vmm_cgroup {
	char path[4][4096]; /* one per hierarchy the VMM joins */
	size_t n;
	bool v2; /* limits set through the unified hierarchy */
};
/* The cgroup parent: $MOAT_CGROUP_PARENT (relative), else "moat". */
const char *vmm_cgroup_parent(void);
/* Makes PARENT/LEAF with the limits: v2 where /sys/fs/cgroup is cgroup2,
 * else the v1 memory, cpu and pids controllers (plus the v2 tree of a
 * hybrid host, for tracking).  Nothing is left behind on failure. */
int vmm_cgroup_create(const char *leaf, const struct vmm_limits *l, struct vmm_cgroup *cg,
		      struct moat_error *err);
int vmm_cgroup_enter(const struct vmm_cgroup *cg, pid_t pid, struct moat_error *err);
/* The groups again, from the paths pod.json lists (for rm): -1 for a path
 * that is not a cgroup's. */
int vmm_cgroup_from(const char *const *paths, size_t n, struct vmm_cgroup *cg);
void vmm_cgroup_remove(const struct vmm_cgroup *cg);
/* moat's filter for the VMM (runtime/seccomp-vmm.json) as BPF; caller frees. */
int vmm_seccomp_compile(unsigned char **bpf, size_t *len, struct moat_error *err);

struct vmm_jail {
	const char *root;	     /* an empty directory: the jail's tmpfs mounts on it */
	const char *qemu;	     /* absolute, under /usr */
	const char *kernel, *initrd; /* host paths: /boot/kernel, /boot/initrd.img inside */
	const char *hostname;
	uid_t uid;
	gid_t gid;
	bool kvm; /* /dev/kvm in the jail, and its group */
	gid_t kvm_gid;
	int fds[VMM_MAX_FDS]; /* QEMU sees them as 3, 4, ... */
	size_t nfds;
	int out_fd; /* QEMU's stdout and stderr */
	const unsigned char *seccomp;
	size_t seccomp_len;
	const struct vmm_cgroup *cg;
	struct vmm_limits limits;
};
/* Starts argv (argv[0] is ignored for j->qemu) jailed: the pid, a child of
 * the caller, or -1 with why the jail could not be built. */
pid_t vmm_spawn(struct vmm_jail *j, char *const argv[], struct moat_error *err);

/* ---- pod operations (pod.c) ------------------------------------------------ */

struct pod_run_result {
	char name[64];
	char accel[8], accel_why[128];
	char phase[16];	       /* Running, or Failed/Succeeded if it ended first */
	long long started_ms, running_ms; /* wall clock: fork of the shim, first container */
};

/* Admits, plans, creates the pod's state and disk, and starts its shim and
 * VM; returns once the first container runs (or the pod failed first).
 * -1: err (EPERM: refused by admission; EEXIST: the pod exists). */
int pod_run(const char *file, const struct pod_options *o, struct pod_run_result *res,
	    struct moat_error *err);
int pod_inspect(const struct pod_options *o, const char *name, struct json_t **out,
		struct moat_error *err);
int pod_list(const struct pod_options *o, struct json_t **out, struct moat_error *err);
int pod_wait(const struct pod_options *o, const char *name, struct json_t **out,
	     struct moat_error *err);
/* Copies the container's CRI log, read through the agent, to outfd. */
int pod_logs(const struct pod_options *o, const char *name, const char *container, bool follow,
	     int outfd, struct moat_error *err);
/* Runs argv in the container; stdin, stdout and stderr forwarded. */
int pod_exec(const struct pod_options *o, const char *name, const char *container,
	     char *const argv[], int *exit_code, struct moat_error *err);
/* 0 stopped, 1 it was not running. */
int pod_stop(const struct pod_options *o, const char *name, struct moat_error *err);
int pod_rm(const struct pod_options *o, const char *name, bool force, struct moat_error *err);
int pod_state_write(const char *dir, struct json_t *st);

/* A JSON message from a guest agent, checked and bounded (the guest is not
 * trusted): -1 when it is not a message at all. */
enum guest_event_type { GE_HELLO, GE_STARTED, GE_EXITED, GE_DONE, GE_FAILED, GE_LOG, GE_EXIT,
			GE_ERROR, GE_UNKNOWN };
struct guest_event {
	enum guest_event_type type;
	char container[64];
	long long boot_ms, ready_ms, exit_code, restarts;
	bool restarting;
	char message[304];
	char reason[32]; /* podFailed: a CamelCase word ("ImageIntegrity"), or "" */
};
int guest_event_parse(const void *data, size_t len, struct guest_event *ev);

/* Overwrites every string in a JSON tree (secrets) before it is freed. */
void json_scrub(struct json_t *j);

/* ---- port groups (net.c, netpolicy.c) ------------------------------------- */

/* A port group is a bridge in a network namespace of its own: its pods reach
 * each other and nothing else.  STATE/nets/NAME/ holds net.json, the leases
 * (under a flock), the NetworkPolicies, the namespace (bind-mounted on
 * "netns") and a bpffs ("bpf") with the taps' programs and maps. */
#define NET_DEFAULT "default"
#define NET_DEFAULT_CIDR "10.88.0.0/24"
#define NET_DEFAULT_PPS 20000u		    /* what one pod may send, a second */
#define NET_DEFAULT_BPS 125000000ull /* 1 Gbit/s */

struct net_options {
	const char *cidr; /* NULL: NET_DEFAULT_CIDR */
	const char *dns[4];
	size_t ndns;
	const char *search; /* resolv.conf's search domain; NULL: none */
	long long pps;	    /* -1: the default; 0: unlimited */
	long long bps;
	bool implicit;	    /* made on first use: removed with its last pod */
};

/* Creates the namespace, its bridge (the gateway, .1) and the BPF maps.
 * -1: EINVAL bad options, EEXIST, or a system error; nothing is left. */
int net_create(const char *state_dir, const char *name, const struct net_options *o,
	       struct moat_error *err);
int net_list(const char *state_dir, struct json_t **out, struct moat_error *err);
/* The port group, its pods with addresses and counters, its policies. */
int net_inspect(const char *state_dir, const char *name, struct json_t **out,
		struct moat_error *err);
/* EBUSY while a pod holds a lease on it. */
int net_rm(const char *state_dir, const char *name, struct moat_error *err);

struct net_lease {
	char net[64], ip[16], mac[18], tap[16];
	struct json_t *guest; /* the RUN message's "network"; owned */
};
/* Leases an address for pod on net (the default port group is made on
 * first use), creates its tap in the namespace, on the bridge, with the
 * programs attached; *tap_fd is the tap (O_CLOEXEC) for QEMU.  meta: the
 * pod's record ("labels", "containerPorts"), kept for NetworkPolicy. */
int net_attach(const char *state_dir, const char *net, const char *pod, struct json_t *meta,
	       struct net_lease *out, int *tap_fd, struct moat_error *err);
/* Gives the pod's address back (its tap goes with QEMU); 0 when it had none. */
int net_release(const char *state_dir, const char *net, const char *pod, struct moat_error *err);
void net_lease_release(struct net_lease *l);

/* NetworkPolicy (networking.k8s.io/v1), the subset moat enforces: parses
 * every document of a file into moat's form; -1 with "file:line:col:
 * field: ..." (EINVAL) on anything else. */
int netpolicy_parse(const char *file, const char *buf, size_t len, struct json_t **out,
		    struct moat_error *err);
/* Applies (replaces by name) every policy in file to net; *names lists them. */
int net_policy_apply(const char *state_dir, const char *net, const char *file,
		     struct json_t **names, struct moat_error *err);
int net_policy_list(const char *state_dir, const char *net, struct json_t **out,
		    struct moat_error *err);
int net_policy_rm(const char *state_dir, const char *net, const char *name,
		  struct moat_error *err);
/* The BPF rules for the pods on a port group: netpolicy.c, for net.c. */
struct podnet_rule;
int netpolicy_rules(struct json_t *policies, struct json_t *pods, struct podnet_rule **rules,
		    size_t *nrules, bool *isolated, size_t npods);

int net_cmd(int argc, char **argv);
int image_cmd(int argc, char **argv);
int pod_cmd(int argc, char **argv);

#endif
