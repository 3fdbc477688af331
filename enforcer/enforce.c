/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `moat enforce apply|status|confirm|remove`: the filter object (filter.c)
 * attached to the host and pinned, so it outlives moat.
 *
 * Everything lives under one bpffs directory (the pin dir, D):
 *   D/state          a one-entry array map holding the state as JSON
 *   D/flows          the host-flow table, shared by every generation
 *   D/links/H@T      a bpf_link per XDP or cgroup attachment (hook H, target T)
 *   D/g<N>/progs/..  generation N's programs, D/g<N>/maps/.. its counters
 * TC attachments (the fallback, and the egress recorder) are netlink
 * filters with a fixed handle, replaced in place.
 *
 * An apply over a running policy loads and fills the new generation first,
 * then swaps each attachment's program in one step (bpf_link_update, or a
 * TC replace), so no packet meets a half-configured filter.  With
 * --confirm-within the previous generation stays pinned and a watchdog
 * process swaps it back unless `confirm` comes in time.
 */
#include "enforcer.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <jansson.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <linux/magic.h>
#include <net/if.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "enforcer/filter.h"

#define STATE_MAX (1u << 20)
#define TC_HANDLE 0x6d6f /* "mo" */
#define TC_PRIORITY 0x6d

/* Logical hooks: where an attachment goes.  The program is the hook's, or
 * its TC twin when the mode is tc. */
enum ahook { A_FILTER, A_NODEPORTS, A_EGRESS, A_BIND4, A_BIND6, A_SERVE, A_COUNT };
static const char *const ahook_names[A_COUNT] = { "filter", "nodeports", "egress",
						  "bind4",  "bind6",	 "serve" };

struct attachment {
	enum ahook hook;
	char target[PATH_MAX];	/* interface name or cgroup path */
	char mode[16];		/* xdp-native, xdp-generic, tc, cgroup */
	char pin[128];		/* links/<hook>@<id>, "" for tc */
	int ifindex;
};

struct attach_list {
	struct attachment *v;
	size_t n, cap;
};

static struct attachment *attach_add(struct attach_list *l)
{
	l->v = grow_array(l->v, &l->cap, l->n + 1, sizeof(*l->v));
	struct attachment *a = &l->v[l->n++];
	memset(a, 0, sizeof(*a));
	return a;
}

static enum filter_hook prog_for(const struct attachment *a)
{
	switch (a->hook) {
	case A_FILTER:
		return strcmp(a->mode, "tc") == 0 ? HOOK_FILTER_TC : HOOK_FILTER;
	case A_NODEPORTS:
		return strcmp(a->mode, "tc") == 0 ? HOOK_NODEPORTS_TC : HOOK_NODEPORTS;
	case A_EGRESS:
		return HOOK_EGRESS;
	case A_BIND4:
		return HOOK_BIND4;
	case A_BIND6:
		return HOOK_BIND6;
	default:
		return HOOK_SERVE;
	}
}

static bool is_cgroup_hook(enum ahook h)
{
	return h == A_BIND4 || h == A_BIND6 || h == A_SERVE;
}

static enum bpf_attach_type cgroup_attach_type(enum ahook h)
{
	return h == A_BIND4 ? BPF_CGROUP_INET4_BIND
	       : h == A_BIND6 ? BPF_CGROUP_INET6_BIND
			      : BPF_CGROUP_INET_INGRESS;
}

/* ---- the pin directory ---------------------------------------------------- */

static int ensure_bpffs(const char *dir, struct moat_error *err)
{
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s", dir);
	char *slash = strrchr(parent, '/');
	if (!slash || slash == parent)
		return moat_error_set(err, EINVAL, "--pin-dir %s: name a directory inside a bpf "
						   "filesystem, such as /sys/fs/bpf/moat", dir);
	*slash = '\0';
	struct statfs st;
	if (statfs(parent, &st) == 0 && st.f_type == BPF_FS_MAGIC)
		return 0;
	/* As bpftool and systemd do: the standard place gets its bpffs. */
	if (strcmp(parent, "/sys/fs/bpf") == 0) {
		if (mkdir(parent, 0700) < 0 && errno != EEXIST)
			return moat_error_sys(err, errno, "creating %s", parent);
		if (mount("bpf", parent, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") < 0)
			return moat_error_sys(err, errno, "mounting a bpf filesystem on %s", parent);
		return 0;
	}
	return moat_error_set(err, ENOTDIR, "--pin-dir %s: %s is not on a bpf filesystem "
					    "(mount -t bpf bpf %s)", dir, parent, parent);
}

static char *pin_path(char *buf, size_t n, const char *dir, const char *fmt, ...) PRINTF(4, 5);
static char *pin_path(char *buf, size_t n, const char *dir, const char *fmt, ...)
{
	int k = snprintf(buf, n, "%s/", dir);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + k, n - (size_t)k, fmt, ap);
	va_end(ap);
	return buf;
}

/* Removes a directory of pins (bpffs holds no other files). */
static void unpin_tree(const char *path)
{
	DIR *d = opendir(path);
	if (!d) {
		unlink(path);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char sub[PATH_MAX];
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (e->d_type == DT_DIR)
			unpin_tree(sub);
		else
			unlink(sub);
	}
	closedir(d);
	rmdir(path);
}

/* ---- state ------------------------------------------------------------------ */

static json_t *state_read(const char *dir, struct moat_error *err)
{
	char path[PATH_MAX];
	int fd = bpf_obj_get(pin_path(path, sizeof(path), dir, "state"));
	if (fd < 0) {
		if (errno == ENOENT)
			return NULL;
		moat_error_sys(err, errno, "%s", path);
		return NULL;
	}
	char *buf = xmalloc(STATE_MAX);
	__u32 zero = 0;
	json_t *j = NULL;
	if (bpf_map_lookup_elem(fd, &zero, buf) < 0) {
		moat_error_sys(err, errno, "reading %s", path);
	} else {
		buf[STATE_MAX - 1] = '\0';
		json_error_t je;
		j = json_loads(buf, 0, &je);
		if (!j || !json_is_object(j)) {
			json_decref(j);
			j = NULL;
			moat_error_set(err, EBADMSG, "%s: not moat's state (%s)", path, je.text);
		}
	}
	free(buf);
	close(fd);
	return j;
}

static int state_write(const char *dir, json_t *state, struct moat_error *err)
{
	char path[PATH_MAX];
	pin_path(path, sizeof(path), dir, "state");
	_cleanup_close_ int fd = bpf_obj_get(path);
	if (fd < 0) {
		LIBBPF_OPTS(bpf_map_create_opts, o);
		fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "moat_state", 4, STATE_MAX, 1, &o);
		if (fd < 0)
			return moat_error_sys(err, errno, "creating the state map");
		if (bpf_obj_pin(fd, path) < 0)
			return moat_error_sys(err, errno, "pinning %s", path);
	}
	char *text = json_dumps(state, JSON_COMPACT);
	if (!text)
		return moat_error_set(err, ENOMEM, "encoding the state");
	size_t len = strlen(text);
	if (len >= STATE_MAX) {
		free(text);
		return moat_error_set(err, E2BIG, "the state is %zu bytes; at most %u fit", len,
				      STATE_MAX - 1);
	}
	char *buf = xcalloc(1, STATE_MAX);
	memcpy(buf, text, len);
	free(text);
	__u32 zero = 0;
	int r = bpf_map_update_elem(fd, &zero, buf, BPF_ANY);
	free(buf);
	return r < 0 ? moat_error_sys(err, errno, "writing %s", path) : 0;
}

static json_t *attachments_json(const struct attach_list *l)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < l->n; i++) {
		const struct attachment *a = &l->v[i];
		json_t *o = json_pack("{s:s, s:s, s:s}", "hook", ahook_names[a->hook],
				      is_cgroup_hook(a->hook) ? "cgroup" : "interface", a->target,
				      "mode", a->mode);
		if (a->pin[0])
			json_object_set_new(o, "pin", json_string(a->pin));
		if (a->ifindex)
			json_object_set_new(o, "ifindex", json_integer(a->ifindex));
		json_array_append_new(arr, o);
	}
	return arr;
}

static void attachments_from_json(json_t *arr, struct attach_list *l)
{
	size_t i;
	json_t *o;
	json_array_foreach(arr, i, o) {
		const char *hook = json_string_value(json_object_get(o, "hook"));
		const char *target = json_string_value(json_object_get(o, "interface"));
		if (!target)
			target = json_string_value(json_object_get(o, "cgroup"));
		const char *mode = json_string_value(json_object_get(o, "mode"));
		if (!hook || !target || !mode)
			continue;
		enum ahook h = A_COUNT;
		for (int k = 0; k < A_COUNT; k++)
			if (strcmp(hook, ahook_names[k]) == 0)
				h = (enum ahook)k;
		if (h == A_COUNT)
			continue;
		struct attachment *a = attach_add(l);
		a->hook = h;
		snprintf(a->target, sizeof(a->target), "%s", target);
		snprintf(a->mode, sizeof(a->mode), "%s", mode);
		const char *pin = json_string_value(json_object_get(o, "pin"));
		snprintf(a->pin, sizeof(a->pin), "%s", pin ? pin : "");
		a->ifindex = (int)json_integer_value(json_object_get(o, "ifindex"));
	}
}

/* ---- attaching -------------------------------------------------------------- */

static int tc_set(int ifindex, bool egress, int prog_fd, struct moat_error *err)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
	int r = bpf_tc_hook_create(&hook);
	if (r < 0 && r != -EEXIST)
		return moat_error_sys(err, -r, "creating the clsact qdisc");
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE, .priority = TC_PRIORITY,
		    .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE);
	r = bpf_tc_attach(&hook, &opts);
	return r < 0 ? moat_error_sys(err, -r, "attaching a TC %s filter",
				      egress ? "egress" : "ingress")
		     : 0;
}

static void tc_clear(int ifindex, bool egress)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE, .priority = TC_PRIORITY);
	bpf_tc_detach(&hook, &opts);
}

/* The program id a TC hook runs under moat's handle; 0 if none. */
static unsigned tc_prog_id(int ifindex, bool egress)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = TC_HANDLE, .priority = TC_PRIORITY);
	return bpf_tc_query(&hook, &opts) == 0 ? opts.prog_id : 0;
}

static unsigned long long cgroup_inode(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (unsigned long long)st.st_ino : 0;
}

static int open_cgroup(const char *path, struct moat_error *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return moat_error_sys(err, errno, "hostServing cgroup %s", path);
	struct statfs st;
	if (fstatfs(fd, &st) < 0 || st.f_type != CGROUP2_SUPER_MAGIC) {
		close(fd);
		return moat_error_set(err, EINVAL,
				      "hostServing cgroup %s: not a cgroup v2 directory (on a "
				      "hybrid host v2 is mounted at /sys/fs/cgroup/unified)",
				      path);
	}
	return fd;
}

/* The interface's driver, as ethtool -i names it ("" if it will not say). */
static void if_driver(const char *ifname, char *out, size_t n)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%.15s", ifname);
	ifr.ifr_data = (void *)&info;
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	out[0] = '\0';
	if (s >= 0 && ioctl(s, SIOCETHTOOL, &ifr) == 0)
		snprintf(out, n, "%.31s", info.driver);
}

/*
 * Points attachment a at prog_fd: a pinned link is updated in place (the
 * swap is atomic), a TC filter replaced; otherwise a new attachment is made
 * (for XDP in mode auto: native, then generic, then TC) and a->mode set.
 */
/* Attaches a's program (progs: one fd per filter_hook, a new generation's
 * or a pinned earlier one's) as want_mode says ("auto", "native",
 * "generic", "tc"), swapping it in place where a's link is pinned. */
static int attach_one(const char *dir, struct attachment *a, const int *progs,
		      const char *want_mode, struct moat_error *err)
{
	char path[PATH_MAX];
	if (a->pin[0]) {
		_cleanup_close_ int lfd = bpf_obj_get(pin_path(path, sizeof(path), dir, "%s", a->pin));
		if (lfd >= 0) {
			if (bpf_link_update(lfd, progs[prog_for(a)], NULL) < 0)
				return moat_error_sys(err, errno, "swapping the program of %s",
						      a->pin);
			return 0;
		}
	}
	if (!is_cgroup_hook(a->hook) && strcmp(want_mode, "tc") == 0)
		snprintf(a->mode, sizeof(a->mode), "tc");
	if (strcmp(a->mode, "tc") == 0 || a->hook == A_EGRESS) {
		snprintf(a->mode, sizeof(a->mode), "tc");
		a->pin[0] = '\0';
		return tc_set(a->ifindex, a->hook == A_EGRESS, progs[prog_for(a)], err);
	}
	int lfd = -1;
	if (is_cgroup_hook(a->hook)) {
		_cleanup_close_ int cg = open_cgroup(a->target, err);
		if (cg < 0)
			return -1;
		lfd = bpf_link_create(progs[prog_for(a)], cg, cgroup_attach_type(a->hook),
				      NULL);
		if (lfd < 0)
			return moat_error_sys(err, errno, "attaching %s to cgroup %s",
					      ahook_names[a->hook], a->target);
		snprintf(a->mode, sizeof(a->mode), "cgroup");
		snprintf(a->pin, sizeof(a->pin), "links/%s@cg%llu", ahook_names[a->hook],
			 cgroup_inode(a->target));
	} else {
		static const struct {
			const char *mode;
			__u32 flags;
		} xdp[] = { { "xdp-native", XDP_FLAGS_DRV_MODE }, { "xdp-generic", XDP_FLAGS_SKB_MODE } };
		int why = 0;
		/* Native XDP on a veth turns off its peer's segmentation
		 * offload, and TCP through it runs at a third of the speed
		 * (tests/perf/enforcer-veth.sh): auto takes generic there. */
		char driver[40];
		if_driver(a->target, driver, sizeof(driver));
		bool skip_native = strcmp(want_mode, "auto") == 0 && strcmp(driver, "veth") == 0;
		for (size_t i = 0; i < ARRAY_SIZE(xdp) && lfd < 0; i++) {
			if (strcmp(want_mode, "auto") && strcmp(want_mode, xdp[i].mode + 4))
				continue;
			if (i == 0 && skip_native)
				continue;
			LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = xdp[i].flags);
			lfd = bpf_link_create(progs[prog_for(a)], a->ifindex, BPF_XDP, &lo);
			if (lfd >= 0)
				snprintf(a->mode, sizeof(a->mode), "%s", xdp[i].mode);
			else if (!why)
				why = errno;
		}
		if (lfd < 0) {
			if (strcmp(want_mode, "auto") != 0)
				return moat_error_sys(err, why, "attaching XDP (%s) to %s", want_mode,
						      a->target);
			/* XDP cannot attach here (another program holds the
			 * hook, or no driver support): TC ingress does the job. */
			snprintf(a->mode, sizeof(a->mode), "tc");
			a->pin[0] = '\0';
			return tc_set(a->ifindex, false, progs[prog_for(a)], err);
		}
		snprintf(a->pin, sizeof(a->pin), "links/%s@%.32s", ahook_names[a->hook], a->target);
	}
	if (bpf_obj_pin(lfd, pin_path(path, sizeof(path), dir, "%s", a->pin)) < 0) {
		int e = errno;
		bpf_link_detach(lfd);
		close(lfd);
		return moat_error_sys(err, e, "pinning %s", path);
	}
	close(lfd);
	return 0;
}

static void detach_one(const char *dir, const struct attachment *a)
{
	if (a->pin[0]) {
		char path[PATH_MAX];
		int lfd = bpf_obj_get(pin_path(path, sizeof(path), dir, "%s", a->pin));
		if (lfd >= 0) {
			bpf_link_detach(lfd);
			close(lfd);
		}
		unlink(path);
	} else if (strcmp(a->mode, "tc") == 0) {
		tc_clear(a->ifindex, a->hook == A_EGRESS);
	}
}

static const struct attachment *attach_find(const struct attach_list *l, enum ahook h,
					    const char *target)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].hook == h && strcmp(l->v[i].target, target) == 0)
			return &l->v[i];
	return NULL;
}

/*
 * Makes the host match want (carrying over how each target is attached now,
 * from have), then removes what have holds and want does not.  On failure
 * the attachments made so far stay recorded in want, for the caller to undo.
 */
static int reconcile(const char *dir, struct attach_list *want, size_t *done,
		     const struct attach_list *have, struct filter *f, const char *mode,
		     struct moat_error *err)
{
	int progs[HOOK_COUNT];
	for (int h = 0; h < HOOK_COUNT; h++)
		progs[h] = filter_prog_fd(f, (enum filter_hook)h);
	for (*done = 0; *done < want->n; (*done)++) {
		struct attachment *a = &want->v[*done];
		const struct attachment *old = attach_find(have, a->hook, a->target);
		/* The same target the same way: swapped in place.  A new mode
		 * asked for: attached anew, then the old one detached, so the
		 * target is never unfiltered. */
		bool same = old && (strcmp(mode, "auto") == 0 || is_cgroup_hook(a->hook) ||
				    a->hook == A_EGRESS || strstr(old->mode, mode));
		if (same) {
			snprintf(a->mode, sizeof(a->mode), "%s", old->mode);
			snprintf(a->pin, sizeof(a->pin), "%s", old->pin);
		}
		if (attach_one(dir, a, progs, mode, err) < 0)
			return moat_error_wrap(err, "%s on %s", ahook_names[a->hook], a->target);
	}
	for (size_t i = 0; i < have->n; i++) {
		const struct attachment *now = attach_find(want, have->v[i].hook, have->v[i].target);
		if (!now || strcmp(now->mode, have->v[i].mode) != 0)
			detach_one(dir, &have->v[i]);
	}
	return 0;
}

/* ---- what a policy asks for ----------------------------------------------- */

static bool is_loopback(const char *ifname)
{
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%.15s", ifname);
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	return s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_LOOPBACK);
}

static int plan(const struct node_policy *p, struct attach_list *want, struct moat_error *err)
{
	if (p->has_management) {
		int ifindex = (int)if_nametoindex(p->interface);
		if (!ifindex)
			return moat_error_set(err, ENODEV,
					      "spec.management.interface: no interface '%s' in this "
					      "network namespace",
					      p->interface);
		struct attachment *a = attach_add(want);
		a->hook = A_FILTER;
		snprintf(a->target, sizeof(a->target), "%s", p->interface);
		a->ifindex = ifindex;
		a = attach_add(want);
		a->hook = A_EGRESS;
		snprintf(a->target, sizeof(a->target), "%s", p->interface);
		a->ifindex = ifindex;
	}
	if (p->node_ports_deny && p->node_ports.lo) {
		struct if_nameindex *ifs = if_nameindex();
		if (!ifs)
			return moat_error_sys(err, errno, "listing the interfaces");
		for (struct if_nameindex *i = ifs; i->if_index; i++) {
			if ((p->has_management && strcmp(i->if_name, p->interface) == 0) ||
			    is_loopback(i->if_name))
				continue;
			struct attachment *a = attach_add(want);
			a->hook = A_NODEPORTS;
			snprintf(a->target, sizeof(a->target), "%s", i->if_name);
			a->ifindex = (int)i->if_index;
		}
		if_freenameindex(ifs);
	}
	for (size_t i = 0; i < p->ncgroups; i++) {
		_cleanup_close_ int cg = open_cgroup(p->cgroups[i], err);
		if (cg < 0)
			return -1;
		for (enum ahook h = A_BIND4; h <= A_SERVE; h++) {
			struct attachment *a = attach_add(want);
			a->hook = h;
			snprintf(a->target, sizeof(a->target), "%s", p->cgroups[i]);
		}
	}
	return 0;
}

/* ---- lockout safety ------------------------------------------------------- */

/* Would the new filter drop the SSH session this runs in?  SSH_CONNECTION
 * says "client port server port"; only a server address on the management
 * NIC is the filter's business. */
static int check_ssh(struct filter *f, const struct node_policy *p, char *why, size_t n,
		     struct moat_error *err)
{
	const char *sc = getenv("SSH_CONNECTION");
	if (!sc || !p->has_management)
		return 0;
	char cip[64], sip[64];
	unsigned cport, sport;
	if (sscanf(sc, "%63s %u %63s %u", cip, &cport, sip, &sport) != 4 || cport > 65535 ||
	    sport > 65535)
		return 0;
	unsigned char src[16], dst[16];
	int family = strchr(cip, ':') ? 6 : 4;
	int af = family == 4 ? AF_INET : AF_INET6;
	if (inet_pton(af, cip, src) != 1 || inet_pton(af, sip, dst) != 1)
		return 0;
	/* Is the server address one of the management NIC's? */
	struct ifaddrs *ifa = NULL;
	if (getifaddrs(&ifa) < 0)
		return moat_error_sys(err, errno, "listing addresses");
	bool ours = false;
	for (struct ifaddrs *i = ifa; i && !ours; i = i->ifa_next) {
		if (!i->ifa_addr || strcmp(i->ifa_name, p->interface) != 0 ||
		    i->ifa_addr->sa_family != af)
			continue;
		const void *addr = af == AF_INET
					   ? (const void *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr
					   : (const void *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
		ours = memcmp(addr, dst, family == 4 ? 4 : 16) == 0;
	}
	freeifaddrs(ifa);
	if (!ours)
		return 0;
	int verdict;
	if (filter_test_tcp(f, family, src, dst, (uint16_t)cport, (uint16_t)sport, &verdict, err) <
	    0)
		return -1;
	if (verdict == XDP_DROP) {
		snprintf(why, n, "this SSH session (%s port %u to %s port %u on %s) would be cut: "
				 "no ingress rule allows tcp/%u from %s",
			 cip, cport, sip, sport, p->interface, sport, cip);
		return 1;
	}
	return 0;
}

/* ---- the watchdog ------------------------------------------------------------ */

static int lock_dir(const char *dir, struct moat_error *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return moat_error_sys(err, errno, "%s", dir);
	if (flock(fd, LOCK_EX) < 0) {
		int e = errno;
		close(fd);
		return moat_error_sys(err, e, "locking %s", dir);
	}
	return fd;
}

static long long now_s(void)
{
	return (long long)time(NULL);
}

static int rollback_locked(const char *dir, json_t *state, const char *reason,
			   struct moat_error *err);

static void watchdog(const char *dir, long long generation, long long deadline)
{
	struct timespec tick = { 0, 100 * 1000 * 1000 };
	for (;;) {
		struct moat_error err = { 0 };
		json_t *st = state_read(dir, &err);
		bool mine = st &&
			    json_integer_value(json_object_get(st, "generation")) == generation &&
			    json_object_get(st, "pending");
		json_decref(st);
		if (!mine)
			_exit(0);
		if (now_s() >= deadline)
			break;
		nanosleep(&tick, NULL);
	}
	struct moat_error err = { 0 };
	int lk = lock_dir(dir, &err);
	if (lk < 0)
		_exit(1);
	json_t *st = state_read(dir, &err);
	int r = 0;
	if (st && json_integer_value(json_object_get(st, "generation")) == generation &&
	    json_object_get(st, "pending"))
		r = rollback_locked(dir, st, "not confirmed in time", &err);
	json_decref(st);
	close(lk);
	_exit(r < 0);
}

static int spawn_watchdog(const char *dir, long long generation, long long deadline,
			  pid_t *pid, struct moat_error *err)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return moat_error_sys(err, errno, "pipe");
	pid_t c = fork();
	if (c < 0)
		return moat_error_sys(err, errno, "fork");
	if (c == 0) {
		/* Detached: its own session, no terminal, none of the caller's files. */
		close(pfd[0]);
		setsid();
		pid_t g = fork();
		if (g != 0) {
			if (g > 0)
				(void)!write(pfd[1], &g, sizeof(g));
			_exit(g < 0);
		}
		close(pfd[1]);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		if (chdir("/") < 0)
			_exit(1);
		watchdog(dir, generation, deadline);
	}
	close(pfd[1]);
	pid_t g = 0;
	ssize_t n = read(pfd[0], &g, sizeof(g));
	close(pfd[0]);
	waitpid(c, NULL, 0);
	if (n != sizeof(g))
		return moat_error_set(err, ECHILD, "the rollback watchdog did not start");
	*pid = g;
	return 0;
}

/* ---- apply, rollback, confirm, remove --------------------------------------- */

static json_t *rules_json(const struct node_policy *p)
{
	json_t *arr = json_array();
	size_t size = 0;
	for (size_t i = 0; i < p->nrules; i++) {
		const struct np_rule *r = &p->rules[i];
		struct sbuf ports = { 0 };
		for (size_t k = 0; k < r->nports && ports.len < 64; k++) {
			if (r->ports[k].lo == r->ports[k].hi)
				sbuf_printf(&ports, "%s%u", k ? "," : "", r->ports[k].lo);
			else
				sbuf_printf(&ports, "%s%u-%u", k ? "," : "", r->ports[k].lo,
					    r->ports[k].hi);
		}
		const char *proto = r->protocol == NP_TCP ? "tcp" : r->protocol == NP_UDP ? "udp" : "sctp";
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:i}", "name", r->name,
						     "protocol", proto, "ports",
						     ports.s ? ports.s : "", "sources",
						     (int)r->nfrom));
		size += 80 + ports.len;
		sbuf_release(&ports);
		if (size > STATE_MAX / 2)
			break; /* status shows the rest by number */
	}
	return arr;
}

static int pin_generation(const char *dir, long long gen, struct filter *f,
			  struct moat_error *err)
{
	char path[PATH_MAX];
	static const char *const maps[] = { "rule_counters", "rule_drops", "drop_counters",
					    "config" };
	const char *subs[] = { "", "/progs", "/maps" };
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
		if (mkdir(pin_path(path, sizeof(path), dir, "g%lld%s", gen, subs[i]), 0700) < 0 &&
		    errno != EEXIST)
			return moat_error_sys(err, errno, "creating %s", path);
	for (int h = 0; h < HOOK_COUNT; h++)
		if (bpf_obj_pin(filter_prog_fd(f, (enum filter_hook)h),
				pin_path(path, sizeof(path), dir, "g%lld/progs/%s", gen,
					 filter_hook_name((enum filter_hook)h))) < 0)
			return moat_error_sys(err, errno, "pinning %s", path);
	for (size_t i = 0; i < ARRAY_SIZE(maps); i++)
		if (bpf_obj_pin(filter_map_fd(f, maps[i]),
				pin_path(path, sizeof(path), dir, "g%lld/maps/%s", gen, maps[i])) < 0)
			return moat_error_sys(err, errno, "pinning %s", path);
	return 0;
}

/* A pinned generation's programs, as a filter object would hand them out. */
struct pinned_progs {
	int fd[HOOK_COUNT];
};

int enforce_apply(const struct node_policy *p, const struct enforce_options *o,
		  struct enforce_result *res, struct moat_error *err)
{
	memset(res, 0, sizeof(*res));
	const char *dir = o->pin_dir ? o->pin_dir : ENFORCE_PIN_DIR;
	const char *mode = o->mode ? o->mode : "auto";
	struct attach_list want = { 0 }, have = { 0 };
	struct filter *f = NULL;
	json_t *old = NULL;
	int lk = -1, ret = -1;
	_cleanup_close_ int flows = -1;
	char path[PATH_MAX];

	if (plan(p, &want, err) < 0)
		goto out;
	if (ensure_bpffs(dir, err) < 0)
		goto out;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		moat_error_sys(err, errno, "creating %s", dir);
		goto out;
	}
	lk = lock_dir(dir, err);
	if (lk < 0)
		goto out;
	old = state_read(dir, err);
	if (!old && err->msg[0])
		goto out;
	if (old && json_object_get(old, "pending")) {
		res->refused = true;
		snprintf(res->why, sizeof(res->why),
			 "the apply of %s waits for 'moat enforce confirm' (or its rollback)",
			 json_string_value(json_object_get(old, "policy")));
		ret = 0;
		goto out;
	}
	if (old)
		attachments_from_json(json_object_get(old, "attachments"), &have);

	/* The new generation, loaded and filled before anything changes. */
	flows = bpf_obj_get(pin_path(path, sizeof(path), dir, "flows"));
	if (filter_open_shared(&f, flows, err) < 0 || filter_configure(f, p, o->audit, err) < 0)
		goto out;
	if (!o->audit && !o->force) {
		int cut = check_ssh(f, p, res->why, sizeof(res->why), err);
		if (cut < 0)
			goto out;
		if (cut) {
			res->refused = true;
			ret = 0;
			goto out;
		}
	}
	if (flows < 0 && bpf_obj_pin(filter_map_fd(f, "flows"), path) < 0) {
		moat_error_sys(err, errno, "pinning %s", path);
		goto out;
	}
	long long gen = old ? json_integer_value(json_object_get(old, "generation")) + 1 : 1;
	if (pin_generation(dir, gen, f, err) < 0)
		goto out;
	mkdir(pin_path(path, sizeof(path), dir, "links"), 0700);

	size_t done = 0;
	if (reconcile(dir, &want, &done, &have, f, mode, err) < 0) {
		/* Put back what was there: the old generation's programs on
		 * the old targets, and nothing new left attached. */
		struct moat_error e2 = { 0 };
		want.n = done;
		if (old) {
			json_t *o2 = json_pack("{s:I, s:s}", "generation", (json_int_t)gen, "policy",
					       p->name);
			json_object_set_new(o2, "attachments", attachments_json(&want));
			json_object_set(o2, "previous", old);
			rollback_locked(dir, o2, NULL, &e2);
			json_decref(o2);
		} else {
			for (size_t i = 0; i < done; i++)
				detach_one(dir, &want.v[i]);
			unpin_tree(dir);
		}
		goto out;
	}

	json_t *st = json_pack("{s:i, s:s, s:s, s:I, s:b, s:I, s:s}", "version", 1, "policy",
			       p->name, "file", o->policy_file ? o->policy_file : "", "appliedAt",
			       (json_int_t)now_s(), "audit", o->audit, "generation", (json_int_t)gen,
			       "requestedMode", mode);
	json_object_set_new(st, "attachments", attachments_json(&want));
	json_object_set_new(st, "rules", rules_json(p));
	json_object_set_new(st, "nrules", json_integer((json_int_t)p->nrules));
	if (o->confirm_within) {
		long long deadline = now_s() + o->confirm_within;
		json_t *prev = old ? json_deep_copy(old) : json_null();
		if (old)
			json_object_del(prev, "previous");
		json_object_set_new(st, "previous", prev);
		json_object_set_new(st, "pending", json_pack("{s:I}", "deadline", (json_int_t)deadline));
		if (state_write(dir, st, err) < 0) {
			json_decref(st);
			goto out;
		}
		pid_t pid = 0;
		if (spawn_watchdog(dir, gen, deadline, &pid, err) < 0) {
			struct moat_error e2 = { 0 };
			rollback_locked(dir, st, "the watchdog could not start", &e2);
			json_decref(st);
			goto out;
		}
		json_object_set_new(json_object_get(st, "pending"), "watchdog", json_integer(pid));
		res->watchdog = pid;
		res->deadline = deadline;
	}
	if (state_write(dir, st, err) < 0) {
		json_decref(st);
		goto out;
	}
	json_decref(st);
	if (!o->confirm_within && old)
		unpin_tree(pin_path(path, sizeof(path), dir, "g%lld", gen - 1));
	res->generation = gen;
	res->nattached = want.n;
	res->replaced = old != NULL;
	ret = 0;
out:
	filter_close(f);
	json_decref(old);
	free(want.v);
	free(have.v);
	if (lk >= 0)
		close(lk);
	return ret;
}

static int open_pinned_progs(const char *dir, long long gen, struct pinned_progs *pp,
			     struct moat_error *err)
{
	char path[PATH_MAX];
	for (int h = 0; h < HOOK_COUNT; h++) {
		pp->fd[h] = bpf_obj_get(pin_path(path, sizeof(path), dir, "g%lld/progs/%s", gen,
						 filter_hook_name((enum filter_hook)h)));
		if (pp->fd[h] < 0) {
			int e = errno;
			while (h-- > 0)
				close(pp->fd[h]);
			return moat_error_sys(err, e, "%s", path);
		}
	}
	return 0;
}

/* Swaps the previous generation back (or, if there was none, removes
 * everything).  state is the pending apply's. */
static int rollback_locked(const char *dir, json_t *state, const char *reason,
			   struct moat_error *err)
{
	struct attach_list cur = { 0 }, prev = { 0 };
	attachments_from_json(json_object_get(state, "attachments"), &cur);
	json_t *previous = json_object_get(state, "previous");
	long long gen = json_integer_value(json_object_get(state, "generation"));
	char path[PATH_MAX];
	int ret = 0;
	if (!json_is_object(previous)) {
		for (size_t i = 0; i < cur.n; i++)
			detach_one(dir, &cur.v[i]);
		unpin_tree(pin_path(path, sizeof(path), dir, "g%lld", gen));
		unpin_tree(pin_path(path, sizeof(path), dir, "flows"));
		unpin_tree(pin_path(path, sizeof(path), dir, "links"));
		json_t *st = json_pack("{s:i, s:i, s:{s:s, s:I, s:s}}", "version", 1, "generation", 0,
				       "rolledBack", "policy",
				       json_string_value(json_object_get(state, "policy")), "at",
				       (json_int_t)now_s(), "reason", reason ? reason : "");
		if (reason)
			ret = state_write(dir, st, err);
		else
			unpin_tree(dir);
		json_decref(st);
		free(cur.v);
		return ret;
	}
	long long pgen = json_integer_value(json_object_get(previous, "generation"));
	struct pinned_progs pp;
	if (open_pinned_progs(dir, pgen, &pp, err) < 0) {
		free(cur.v);
		return -1;
	}
	attachments_from_json(json_object_get(previous, "attachments"), &prev);
	for (size_t i = 0; i < prev.n && ret == 0; i++) {
		/* Each back the way it was: its own link swapped back where the
		 * link is still pinned, else attached again in its old mode. */
		struct attachment a = prev.v[i];
		const struct attachment *now = attach_find(&cur, a.hook, a.target);
		if (!a.pin[0] && now)
			snprintf(a.pin, sizeof(a.pin), "%s", now->pin);
		const char *mode = strncmp(a.mode, "xdp-", 4) == 0 ? a.mode + 4
				   : strcmp(a.mode, "tc") == 0	    ? "tc"
								    : "auto";
		ret = attach_one(dir, &a, pp.fd, mode, err);
		if (ret < 0)
			moat_error_wrap(err, "putting back %s on %s", ahook_names[a.hook], a.target);
	}
	for (size_t i = 0; i < cur.n; i++) {
		const struct attachment *was = attach_find(&prev, cur.v[i].hook, cur.v[i].target);
		if (!was || strcmp(was->mode, cur.v[i].mode) != 0)
			detach_one(dir, &cur.v[i]);
	}
	for (int h = 0; h < HOOK_COUNT; h++)
		close(pp.fd[h]);
	if (ret == 0) {
		json_t *st = json_deep_copy(previous);
		if (reason)
			json_object_set_new(st, "rolledBack",
					    json_pack("{s:s, s:I, s:s}", "policy",
						      json_string_value(json_object_get(state, "policy")),
						      "at", (json_int_t)now_s(), "reason", reason));
		ret = state_write(dir, st, err);
		json_decref(st);
		unpin_tree(pin_path(path, sizeof(path), dir, "g%lld", gen));
	}
	free(cur.v);
	free(prev.v);
	return ret;
}

int enforce_confirm(const char *dir, struct moat_error *err)
{
	if (!dir)
		dir = ENFORCE_PIN_DIR;
	int lk = lock_dir(dir, err);
	if (lk < 0)
		return errno == ENOENT ? 1 : -1;
	int ret = 1;
	json_t *st = state_read(dir, err);
	if (st && json_object_get(st, "pending")) {
		json_t *prev = json_object_get(st, "previous");
		char path[PATH_MAX];
		if (json_is_object(prev))
			unpin_tree(pin_path(path, sizeof(path), dir, "g%lld",
					    json_integer_value(json_object_get(prev, "generation"))));
		json_object_del(st, "pending");
		json_object_del(st, "previous");
		ret = state_write(dir, st, err) < 0 ? -1 : 0;
	} else if (!st && err->msg[0]) {
		ret = -1;
	}
	json_decref(st);
	close(lk);
	return ret;
}

int enforce_remove(const char *dir, struct moat_error *err)
{
	if (!dir)
		dir = ENFORCE_PIN_DIR;
	int lk = lock_dir(dir, err);
	if (lk < 0)
		return errno == ENOENT ? 1 : -1;
	json_t *st = state_read(dir, err);
	struct attach_list cur = { 0 };
	if (st)
		attachments_from_json(json_object_get(st, "attachments"), &cur);
	for (size_t i = 0; i < cur.n; i++)
		detach_one(dir, &cur.v[i]);
	/* Links pinned but not in the state (an interrupted apply) go too. */
	char path[PATH_MAX];
	DIR *d = opendir(pin_path(path, sizeof(path), dir, "links"));
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			char lp[PATH_MAX];
			int lfd = e->d_name[0] == '.' ? -1
						      : bpf_obj_get(pin_path(lp, sizeof(lp), dir,
									     "links/%s", e->d_name));
			if (lfd >= 0) {
				bpf_link_detach(lfd);
				close(lfd);
			}
		}
		closedir(d);
	}
	int ret = st || cur.n ? 0 : 1;
	free(cur.v);
	json_decref(st);
	unpin_tree(dir);
	close(lk);
	return ret;
}

/* ---- status ------------------------------------------------------------------ */

static const char *const reason_names[REASON_COUNT] = {
	[REASON_NO_RULE] = "no-rule",	    [REASON_SOURCE] = "source",
	[REASON_ICMP] = "icmp",		    [REASON_FRAGMENT] = "fragment",
	[REASON_MALFORMED] = "malformed",   [REASON_PROTOCOL] = "protocol",
	[REASON_NODEPORT] = "node-port",    [REASON_SERVING] = "host-serving",
};

/* Is the attachment still in place, as the kernel sees it? */
static bool attached(const char *dir, const struct attachment *a)
{
	if (a->pin[0]) {
		char path[PATH_MAX];
		_cleanup_close_ int lfd = bpf_obj_get(pin_path(path, sizeof(path), dir, "%s", a->pin));
		struct bpf_link_info info = { 0 };
		__u32 len = sizeof(info);
		if (lfd < 0 || bpf_obj_get_info_by_fd(lfd, &info, &len) < 0)
			return false;
		if (info.type == BPF_LINK_TYPE_XDP)
			return info.xdp.ifindex != 0;
		return info.type != BPF_LINK_TYPE_CGROUP || info.cgroup.cgroup_id != 0;
	}
	return tc_prog_id(a->ifindex, a->hook == A_EGRESS) != 0;
}

int enforce_status(const char *dir, json_t **out, struct moat_error *err)
{
	if (!dir)
		dir = ENFORCE_PIN_DIR;
	*out = NULL;
	json_t *st = state_read(dir, err);
	if (!st)
		return err->msg[0] ? -1 : 1;
	long long gen = json_integer_value(json_object_get(st, "generation"));
	json_t *o = json_pack("{s:s, s:b}", "pinDir", dir, "applied", gen > 0);
	json_t *rb = json_object_get(st, "rolledBack");
	if (rb)
		json_object_set(o, "rolledBack", rb);
	if (gen <= 0) {
		json_decref(st);
		*out = o;
		return 1;
	}
	static const char *const copy[] = { "policy", "file", "appliedAt", "audit", "generation",
					    "pending" };
	for (size_t i = 0; i < ARRAY_SIZE(copy); i++) {
		json_t *v = json_object_get(st, copy[i]);
		if (v)
			json_object_set(o, copy[i], v);
	}
	struct attach_list cur = { 0 };
	attachments_from_json(json_object_get(st, "attachments"), &cur);
	json_t *atts = attachments_json(&cur);
	for (size_t i = 0; i < cur.n; i++)
		json_object_set_new(json_array_get(atts, i), "attached",
				    json_boolean(attached(dir, &cur.v[i])));
	json_object_set_new(o, "attachments", atts);
	free(cur.v);

	char path[PATH_MAX];
	_cleanup_close_ int rc = bpf_obj_get(pin_path(path, sizeof(path), dir, "g%lld/maps/rule_counters", gen));
	_cleanup_close_ int rd = bpf_obj_get(pin_path(path, sizeof(path), dir, "g%lld/maps/rule_drops", gen));
	_cleanup_close_ int dc = bpf_obj_get(pin_path(path, sizeof(path), dir, "g%lld/maps/drop_counters", gen));
	if (rc < 0 || rd < 0 || dc < 0) {
		json_decref(o);
		json_decref(st);
		return moat_error_sys(err, errno, "%s", path);
	}
	json_t *rules = json_array();
	json_t *named = json_object_get(st, "rules");
	long long nrules = json_integer_value(json_object_get(st, "nrules"));
	for (long long i = 0; i < nrules && i < FILTER_MAX_RULES; i++) {
		uint64_t pk, by, dp;
		if (filter_sum_counter(rc, (unsigned)i, &pk, &by, err) < 0 ||
		    filter_sum_counter(rd, (unsigned)i, &dp, NULL, err) < 0)
			break;
		json_t *r = json_array_get(named, (size_t)i);
		json_t *e = r ? json_deep_copy(r) : json_pack("{s:I}", "index", (json_int_t)i);
		json_object_set_new(e, "packets", json_integer((json_int_t)pk));
		json_object_set_new(e, "bytes", json_integer((json_int_t)by));
		json_object_set_new(e, "sourceDrops", json_integer((json_int_t)dp));
		json_array_append_new(rules, e);
	}
	json_object_set_new(o, "rules", rules);
	json_t *drops = json_object();
	for (unsigned i = 0; i < REASON_COUNT; i++) {
		uint64_t pk = 0;
		filter_sum_counter(dc, i, &pk, NULL, err);
		json_object_set_new(drops, reason_names[i], json_integer((json_int_t)pk));
	}
	json_object_set_new(o, json_is_true(json_object_get(st, "audit")) ? "wouldDrop" : "drops",
			    drops);
	_cleanup_close_ int fl = bpf_obj_get(pin_path(path, sizeof(path), dir, "flows"));
	if (fl >= 0) {
		struct filter_flow_key k, next;
		long long n = 0;
		void *prev = NULL;
		while (n < FILTER_FLOWS && bpf_map_get_next_key(fl, prev, &next) == 0) {
			k = next;
			prev = &k;
			n++;
		}
		json_object_set_new(o, "hostFlows", json_integer(n));
	}
	json_decref(st);
	err->msg[0] = '\0';
	*out = o;
	return 0;
}
