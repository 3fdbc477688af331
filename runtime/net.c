/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Port groups: a Linux bridge alone in a network namespace moat owns, one
 * tap on it per pod.  The namespace has the bridge (holding the gateway
 * address, .1), loopback, and nothing else: no veth to the host, no route
 * off the subnet, forwarding and IPv6 off.  So a pod reaches the other pods
 * on its port group, and no packet it sends can leave.  The BPF programs on
 * each tap (enforcer/podnet.bpf.c) add what the kernel cannot: a pod may
 * only use its own addresses, may only send so much, and receives only
 * what the NetworkPolicies selecting it allow.
 *
 * STATE/nets/NAME/
 *   net.json      the port group (written once, by create)
 *   leases.json   the pods on it: address, MAC, tap, labels, ports
 *   lock          flock()ed around every change to leases and policies
 *   policies/     one NAME.json per NetworkPolicy, in moat's form
 *   netns         the namespace, bind-mounted so it outlives any process
 *   bpf/          a bpffs of its own: the taps' programs and maps, pinned
 */
#include "runtime.h"

#include "enforcer/enforcer.h"
#include "runtime/image_int.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#define BRIDGE "moat0"
#define NET_MAX_LEASES 4000

static bool net_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-' || strcmp(s, "none") == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

static char *net_path(const char *state, const char *name, const char *leaf)
{
	return xasprintf("%s/nets/%s%s%s", state, name, leaf ? "/" : "", leaf ? leaf : "");
}

/* "10.88.0.0/24" -> network, prefix; -1 unless IPv4 with no host bits set
 * and room for a gateway and at least two pods. */
static int parse_cidr(const char *s, uint32_t *net, unsigned *prefix, struct moat_error *err)
{
	char addr[32];
	const char *slash = s ? strchr(s, '/') : NULL;
	if (!slash || (size_t)(slash - s) >= sizeof(addr))
		return moat_error_set(err, EINVAL, "--cidr %s: expected an IPv4 CIDR such as %s",
				      s ? s : "", NET_DEFAULT_CIDR);
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	char *end;
	long len = strtol(slash + 1, &end, 10);
	struct in_addr a;
	if (inet_pton(AF_INET, addr, &a) != 1 || *end || end == slash + 1 || len < 0 || len > 32)
		return moat_error_set(err, EINVAL, "--cidr %s: expected an IPv4 CIDR such as %s", s,
				      NET_DEFAULT_CIDR);
	if (len < 16 || len > 29)
		return moat_error_set(err, EINVAL, "--cidr %s: the prefix must be /16 to /29", s);
	uint32_t mask = htonl(~0u << (32 - len));
	if (a.s_addr & ~mask)
		return moat_error_set(err, EINVAL, "--cidr %s: host bits are set (did you mean "
						   "%s/%ld?)",
				      s, inet_ntoa((struct in_addr){ a.s_addr & mask }), len);
	*net = a.s_addr;
	*prefix = (unsigned)len;
	return 0;
}

static uint32_t prefix_mask(unsigned prefix)
{
	return prefix ? htonl(~0u << (32 - prefix)) : 0;
}

static uint32_t host_addr(uint32_t net, uint32_t host)
{
	return htonl(ntohl(net) + host);
}

static void ip_str(uint32_t a, char out[16])
{
	inet_ntop(AF_INET, &a, out, 16);
}

static int write_json_atomic(const char *path, json_t *j, struct moat_error *err)
{
	char *tmp = xasprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	char *text = json_dumps(j, JSON_INDENT(2));
	size_t len = text ? strlen(text) : 0;
	int r = fd >= 0 && text && write(fd, text, len) == (ssize_t)len &&
				write(fd, "\n", 1) == 1 && fsync(fd) == 0
			? 0
			: -1;
	if (fd >= 0)
		close(fd);
	free(text);
	if (r == 0)
		r = rename(tmp, path);
	if (r < 0) {
		moat_error_sys(err, errno, "writing %s", path);
		unlink(tmp);
	}
	free(tmp);
	return r;
}

static json_t *read_json(const char *path, struct moat_error *err)
{
	json_error_t je;
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		moat_error_set(err, errno == ENOENT ? ENOENT : EBADMSG, "%s: %s", path, je.text);
	return j;
}

/* ---- the namespace ------------------------------------------------------------ */

/* The calling thread enters the port group's namespace; *back is where it
 * came from, for net_leave. */
static int net_enter(const char *state, const char *name, int *back, struct moat_error *err)
{
	char *path = net_path(state, name, "netns");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	*back = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int r = 0;
	if (fd < 0 || *back < 0)
		r = moat_error_sys(err, errno, "%s", fd < 0 ? path : "/proc/thread-self/ns/net");
	else if (setns(fd, CLONE_NEWNET) < 0)
		r = moat_error_sys(err, errno, "entering the namespace of port group %s", name);
	if (fd >= 0)
		close(fd);
	if (r < 0 && *back >= 0) {
		close(*back);
		*back = -1;
	}
	free(path);
	return r;
}

static void net_leave(int back)
{
	if (back < 0)
		return;
	/* Staying in a pod network by mistake would be worse than dying. */
	if (setns(back, CLONE_NEWNET) < 0)
		abort();
	close(back);
}

/* Inside the new namespace: loopback up, the bridge with the gateway. */
static int net_setup_inside(uint32_t gateway, unsigned prefix, struct moat_error *err)
{
	/* /proc/sys/net is the namespace of whoever opens it: these are the
	 * port group's.  No forwarding (nothing to forward to, and it stays
	 * so); no IPv6 on any interface, so the taps get no link-local
	 * addresses either. */
	if (write_string("/proc/sys/net/ipv4/ip_forward", "0") < 0 ||
	    write_string("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1") < 0 ||
	    write_string("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1") < 0)
		return moat_error_sys(err, errno, "setting the port group's sysctls");
	_cleanup_close_ int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return moat_error_sys(err, errno, "socket");
	if (if_set_up(sock, "lo") < 0)
		return moat_error_sys(err, errno, "bringing lo up");
	if (ioctl(sock, SIOCBRADDBR, BRIDGE) < 0)
		return moat_error_sys(err, errno, "creating the bridge");
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, IFNAMSIZ, BRIDGE);
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = gateway;
	if (ioctl(sock, SIOCSIFADDR, &ifr) < 0)
		return moat_error_sys(err, errno, "giving the bridge its address");
	sin->sin_addr.s_addr = prefix_mask(prefix);
	if (ioctl(sock, SIOCSIFNETMASK, &ifr) < 0)
		return moat_error_sys(err, errno, "setting the bridge's netmask");
	if (if_set_up(sock, BRIDGE) < 0)
		return moat_error_sys(err, errno, "bringing the bridge up");
	return 0;
}

/* Removes what create made, in reverse; each step is safe to repeat. */
static void net_teardown(const char *state, const char *name)
{
	char *bpf = net_path(state, name, "bpf");
	podnet_destroy(bpf);
	umount2(bpf, MNT_DETACH);
	free(bpf);
	char *ns = net_path(state, name, "netns");
	umount2(ns, MNT_DETACH);
	free(ns);
	char *dir = net_path(state, name, NULL);
	struct moat_error e = { 0 };
	remove_tree_at(AT_FDCWD, dir, &e);
	free(dir);
}

int net_create(const char *state, const char *name, const struct net_options *o,
	       struct moat_error *err)
{
	if (!net_name_ok(name))
		return moat_error_set(err, EINVAL, "'%s' is not a port group name (a DNS label, not "
						   "\"none\")",
				      name ? name : "");
	uint32_t net = 0;
	unsigned prefix = 0;
	if (parse_cidr(o && o->cidr ? o->cidr : NET_DEFAULT_CIDR, &net, &prefix, err) < 0)
		return -1;
	json_t *dns = json_array();
	for (size_t i = 0; o && i < o->ndns; i++) {
		struct in_addr a;
		if (inet_pton(AF_INET, o->dns[i], &a) != 1) {
			json_decref(dns);
			return moat_error_set(err, EINVAL, "--dns %s: expected an IPv4 address",
					      o->dns[i]);
		}
		json_array_append_new(dns, json_string(o->dns[i]));
	}
	if (o && o->search && (strlen(o->search) > 253 || strpbrk(o->search, " \t\n/"))) {
		json_decref(dns);
		return moat_error_set(err, EINVAL, "--search %s: expected a domain name", o->search);
	}
	long long pps = o && o->pps >= 0 ? o->pps : NET_DEFAULT_PPS;
	long long bps = o && o->bps >= 0 ? o->bps : (long long)NET_DEFAULT_BPS;
	if (pps > 10000000 || (bps && bps < 262144) || bps > 10000000000ll) {
		json_decref(dns);
		return moat_error_set(err, EINVAL, "--pps 0-10000000 and --bps 0 or 262144-10000000000 "
						   "(0: unlimited)");
	}
	char *nets = xasprintf("%s/nets", state);
	mkdir(state, 0700);
	mkdir(nets, 0700);
	free(nets);
	char *dir = net_path(state, name, NULL);
	if (mkdir(dir, 0700) < 0) {
		int e = errno;
		free(dir);
		json_decref(dns);
		return e == EEXIST ? moat_error_set(err, EEXIST, "port group %s exists", name)
				   : moat_error_sys(err, e, "%s/nets/%s", state, name);
	}
	free(dir);
	char gw[16], cidr[20];
	ip_str(host_addr(net, 1), gw);
	ip_str(net, cidr);
	snprintf(cidr + strlen(cidr), sizeof(cidr) - strlen(cidr), "/%u", prefix);
	char *ns = net_path(state, name, "netns"), *bpf = net_path(state, name, "bpf");
	char *pols = net_path(state, name, "policies");
	int r = -1, back = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int fd = open(ns, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (back < 0 || fd < 0) {
		moat_error_sys(err, errno, "%s", ns);
		goto out;
	}
	close(fd);
	mkdir(pols, 0700);
	/* A namespace of our own, pinned by a bind mount of its nsfs file so
	 * it lives on when this process ends; then back to the host's. */
	if (unshare(CLONE_NEWNET) < 0) {
		moat_error_sys(err, errno, "unshare(CLONE_NEWNET)");
		goto out;
	}
	if (mount("/proc/thread-self/ns/net", ns, NULL, MS_BIND, NULL) < 0) {
		moat_error_sys(err, errno, "bind-mounting the namespace on %s", ns);
		net_leave(steal_fd(&back));
		goto out;
	}
	r = net_setup_inside(host_addr(net, 1), prefix, err);
	net_leave(steal_fd(&back));
	if (r < 0)
		goto out;
	r = -1;
	/* The taps' programs and maps, in a bpffs instance of this port
	 * group's own: nothing pinned on the host's /sys/fs/bpf. */
	if (mkdir(bpf, 0700) < 0 || mount("bpf", bpf, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC,
					  "mode=0700") < 0) {
		moat_error_sys(err, errno, "mounting a bpffs on %s", bpf);
		goto out;
	}
	if (podnet_create(bpf, net, prefix_mask(prefix), host_addr(net, 1), err) < 0)
		goto out;
	json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:O, s:I, s:I, s:I}", "name", name, "cidr", cidr,
			      "gateway", gw, "prefix", (int)prefix, "dns", dns, "pps",
			      (json_int_t)pps, "bps", (json_int_t)bps, "createdAt",
			      (json_int_t)time(NULL));
	if (o && o->search)
		json_object_set_new(j, "search", json_string(o->search));
	if (o && o->implicit)
		json_object_set_new(j, "implicit", json_true());
	char *path = net_path(state, name, "net.json");
	r = write_json_atomic(path, j, err);
	free(path);
	json_decref(j);
out:
	if (back >= 0)
		close(back);
	if (r < 0) {
		moat_error_wrap(err, "port group %s", name);
		net_teardown(state, name);
	}
	free(ns);
	free(bpf);
	free(pols);
	json_decref(dns);
	return r;
}

static json_t *net_read(const char *state, const char *name, struct moat_error *err)
{
	if (!net_name_ok(name)) {
		moat_error_set(err, EINVAL, "'%s' is not a port group name", name ? name : "");
		return NULL;
	}
	char *path = net_path(state, name, "net.json");
	json_t *j = read_json(path, err);
	free(path);
	if (!j && err->errnum == ENOENT)
		moat_error_set(err, ENOENT, "no port group %s (moat net create %s)", name, name);
	return j;
}

/* ---- leases --------------------------------------------------------------------- */

static int net_lock(const char *state, const char *name, struct moat_error *err)
{
	char *path = net_path(state, name, "lock");
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		moat_error_sys(err, errno, "%s", path);
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	free(path);
	return fd;
}

static json_t *leases_read(const char *state, const char *name, struct moat_error *err)
{
	char *path = net_path(state, name, "leases.json");
	json_t *j = read_json(path, err);
	free(path);
	if (!j && err->errnum == ENOENT) {
		memset(err, 0, sizeof(*err));
		j = json_object();
	}
	return j;
}

static int leases_write(const char *state, const char *name, json_t *l, struct moat_error *err)
{
	char *path = net_path(state, name, "leases.json");
	int r = write_json_atomic(path, l, err);
	free(path);
	return r;
}

static json_t *policies_read(const char *state, const char *name)
{
	json_t *all = json_array();
	char *dir = net_path(state, name, "policies");
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (e->d_name[0] == '.' || n < 6 || strcmp(e->d_name + n - 5, ".json"))
			continue;
		char *path = xasprintf("%s/%s", dir, e->d_name);
		struct moat_error e2 = { 0 };
		json_t *p = read_json(path, &e2);
		if (p)
			json_array_append_new(all, p);
		free(path);
	}
	if (d)
		closedir(d);
	free(dir);
	return all;
}

static int mac_parse(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	if (!s || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

/* Recomputes the BPF maps from the leases and the policies: the one way
 * they change.  The caller holds the lock. */
static int net_sync(const char *state, const char *name, json_t *netj, json_t *leases,
		    struct moat_error *err)
{
	json_t *pods = json_array();
	const char *k;
	json_t *l;
	json_object_foreach(leases, k, l) json_array_append(pods, l);
	size_t n = json_array_size(pods);
	struct podnet_pod_entry *e = xcalloc(n + 1, sizeof(*e));
	bool *isolated = xcalloc(n + 1, sizeof(*isolated));
	json_t *pols = policies_read(state, name);
	struct podnet_rule *rules = NULL;
	size_t nrules = 0;
	int r = netpolicy_rules(pols, pods, &rules, &nrules, isolated, n);
	size_t m = 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		json_t *p = json_array_get(pods, i);
		struct in_addr a;
		if (inet_pton(AF_INET, json_string_value(json_object_get(p, "ip")) ?: "", &a) != 1 ||
		    mac_parse(json_string_value(json_object_get(p, "mac")), e[m].mac) < 0)
			continue;
		e[m].ip = a.s_addr;
		e[m].ifindex = (uint32_t)json_integer_value(json_object_get(p, "ifindex"));
		e[m].isolated = isolated[i];
		e[m].pps = (uint32_t)json_integer_value(json_object_get(netj, "pps"));
		e[m].bps = (uint64_t)json_integer_value(json_object_get(netj, "bps"));
		m++;
	}
	if (r < 0)
		moat_error_set(err, E2BIG, "port group %s: the NetworkPolicies make too many rules",
			       name);
	char *bpf = net_path(state, name, "bpf");
	if (r == 0)
		r = podnet_sync(bpf, e, m, rules, nrules, err);
	free(bpf);
	free(rules);
	free(isolated);
	free(e);
	json_decref(pols);
	json_decref(pods);
	return r;
}

/* The tap: created in the port group's namespace (the caller is in it),
 * non-persistent so it goes when QEMU closes it, on the bridge and up. */
static int tap_create(const char *ifname, int *ifindex, struct moat_error *err)
{
	_cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return moat_error_sys(err, errno, "/dev/net/tun");
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return moat_error_sys(err, errno, "creating tap %s", ifname);
	_cleanup_close_ int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return moat_error_sys(err, errno, "socket");
	struct ifreq idx = { 0 };
	snprintf(idx.ifr_name, IFNAMSIZ, "%s", ifname);
	if (ioctl(sock, SIOCGIFINDEX, &idx) < 0)
		return moat_error_sys(err, errno, "tap %s: its index", ifname);
	*ifindex = idx.ifr_ifindex;
	struct ifreq br = { 0 };
	snprintf(br.ifr_name, IFNAMSIZ, BRIDGE);
	br.ifr_ifindex = idx.ifr_ifindex;
	if (ioctl(sock, SIOCBRADDIF, &br) < 0)
		return moat_error_sys(err, errno, "putting tap %s on the bridge", ifname);
	if (if_set_up(sock, ifname) < 0)
		return moat_error_sys(err, errno, "bringing tap %s up", ifname);
	return steal_fd(&fd);
}

/* What the guest needs: its address, the gateway, resolv.conf, and the
 * pods already on the port group for /etc/hosts. */
static json_t *guest_network(json_t *netj, json_t *leases, const char *pod, const char *ip,
			     const char *mac)
{
	json_t *hosts = json_array();
	const char *k;
	json_t *l;
	json_object_foreach(leases, k, l) {
		if (strcmp(k, pod) != 0)
			json_array_append_new(hosts, json_pack("{s:s, s:O}", "name", k, "ip",
								  json_object_get(l, "ip")));
	}
	json_t *g = json_pack("{s:s, s:s, s:O, s:O, s:o}", "ip", ip, "mac", mac, "prefix",
			      json_object_get(netj, "prefix"), "gateway",
			      json_object_get(netj, "gateway"), "hosts", hosts);
	json_object_set(g, "dns", json_object_get(netj, "dns"));
	json_object_set(g, "net", json_object_get(netj, "name"));
	if (json_object_get(netj, "search"))
		json_object_set(g, "search", json_object_get(netj, "search"));
	return g;
}

static int net_attach_once(const char *state, const char *net, const char *pod, json_t *meta,
			   struct net_lease *out, int *tap_fd, struct moat_error *err)
{
	memset(out, 0, sizeof(*out));
	*tap_fd = -1;
	if (!net)
		net = NET_DEFAULT;
	struct moat_error e2 = { 0 };
	json_t *netj = net_read(state, net, &e2);
	if (!netj && e2.errnum == ENOENT && strcmp(net, NET_DEFAULT) == 0) {
		/* The default port group is made on first use.  Another pod
		 * may be making it right now: then wait for its net.json. */
		struct net_options implicit = { .pps = -1, .bps = -1, .implicit = true };
		if (net_create(state, net, &implicit, err) < 0 && err->errnum != EEXIST)
			return -1;
		for (int i = 0; i < 100; i++) {
			memset(err, 0, sizeof(*err));
			netj = net_read(state, net, err);
			if (netj || err->errnum != ENOENT)
				break;
			usleep(50000);
		}
	} else if (!netj) {
		*err = e2;
	}
	if (!netj)
		return -1;
	int lock = net_lock(state, net, err);
	if (lock < 0) {
		json_decref(netj);
		return -1;
	}
	int r = -1, back = -1, tap = -1;
	json_t *leases = NULL;
	struct in_addr a;
	/* Removed while this waited for the lock (the default port group
	 * goes with its last pod): the caller starts over. */
	char *still = net_path(state, net, "net.json");
	bool gone = access(still, F_OK) < 0;
	free(still);
	if (gone) {
		moat_error_set(err, ENOENT, "port group %s was removed meanwhile", net);
		goto out;
	}
	leases = leases_read(state, net, err);
	if (!leases)
		goto out;
	if (inet_pton(AF_INET, json_string_value(json_object_get(netj, "cidr")) ?: "", &a) != 1) {
		/* inet_pton stops at the slash: take the address part. */
		char buf[32];
		snprintf(buf, sizeof(buf), "%s", json_string_value(json_object_get(netj, "cidr")) ?: "");
		*strchrnul(buf, '/') = '\0';
		if (inet_pton(AF_INET, buf, &a) != 1) {
			moat_error_set(err, EBADMSG, "port group %s: net.json has no cidr", net);
			goto out;
		}
	}
	unsigned prefix = (unsigned)json_integer_value(json_object_get(netj, "prefix"));
	if (prefix < 16 || prefix > 29) {
		moat_error_set(err, EBADMSG, "port group %s: net.json has a bad prefix", net);
		goto out;
	}
	/* A stale lease of a pod by this name (its VM died without rm) is
	 * dropped: the name is the pod's identity. */
	json_object_del(leases, pod);
	uint32_t hosts = (1u << (32 - prefix)) - 2, host = 0;
	for (uint32_t h = 2; h <= hosts && !host && h < NET_MAX_LEASES; h++) {
		char ip[16];
		ip_str(host_addr(a.s_addr, h), ip);
		bool used = false;
		const char *k;
		json_t *l;
		json_object_foreach(leases, k, l) used |= strcmp(json_string_value(json_object_get(l, "ip")) ?: "", ip) == 0;
		if (!used)
			host = h;
	}
	if (!host) {
		moat_error_set(err, ENOSPC, "port group %s: no address left in %s", net,
			       json_string_value(json_object_get(netj, "cidr")));
		goto out;
	}
	uint32_t addr = host_addr(a.s_addr, host);
	ip_str(addr, out->ip);
	const uint8_t *b = (const uint8_t *)&addr;
	/* Locally administered, unicast, and the address in it: unique on
	 * the port group by construction. */
	snprintf(out->mac, sizeof(out->mac), "02:6d:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3]);
	snprintf(out->tap, sizeof(out->tap), "mt%u", host);
	snprintf(out->net, sizeof(out->net), "%s", net);
	if (net_enter(state, net, &back, err) < 0)
		goto out;
	int ifindex = 0;
	tap = tap_create(out->tap, &ifindex, err);
	char *bpf = net_path(state, net, "bpf");
	if (tap >= 0 && podnet_attach(bpf, ifindex, err) < 0) {
		close(tap);
		tap = -1;
	}
	free(bpf);
	net_leave(steal_fd(&back));
	if (tap < 0)
		goto out;
	json_t *l = json_pack("{s:s, s:s, s:s, s:i, s:I}", "ip", out->ip, "mac", out->mac, "tap",
			      out->tap, "ifindex", ifindex, "since", (json_int_t)time(NULL));
	json_object_set(l, "labels", json_object_get(meta, "labels") ?: json_object());
	json_object_set(l, "containerPorts", json_object_get(meta, "containerPorts") ?: json_array());
	out->guest = guest_network(netj, leases, pod, out->ip, out->mac);
	json_object_set_new(leases, pod, l);
	if (leases_write(state, net, leases, err) < 0 || net_sync(state, net, netj, leases, err) < 0) {
		json_object_del(leases, pod);
		struct moat_error e3 = { 0 };
		leases_write(state, net, leases, &e3);
		net_sync(state, net, netj, leases, &e3);
		close(tap);
		tap = -1;
		json_decref(out->guest);
		out->guest = NULL;
		goto out;
	}
	*tap_fd = steal_fd(&tap);
	r = 0;
out:
	if (r < 0)
		moat_error_wrap(err, "pod %s on port group %s", pod, net);
	json_decref(leases);
	json_decref(netj);
	close(lock);
	return r;
}

int net_attach(const char *state, const char *net, const char *pod, json_t *meta,
	       struct net_lease *out, int *tap_fd, struct moat_error *err)
{
	int r = -1;
	for (int tries = 0; tries < 3; tries++) {
		memset(err, 0, sizeof(*err));
		r = net_attach_once(state, net, pod, meta, out, tap_fd, err);
		if (r == 0 || err->errnum != ENOENT || (net && strcmp(net, NET_DEFAULT) != 0))
			break;
	}
	return r;
}

void net_lease_release(struct net_lease *l)
{
	json_decref(l->guest);
	l->guest = NULL;
}

int net_release(const char *state, const char *net, const char *pod, struct moat_error *err)
{
	json_t *netj = net_read(state, net, err);
	if (!netj)
		return err->errnum == ENOENT ? 0 : -1;
	int lock = net_lock(state, net, err);
	if (lock < 0) {
		json_decref(netj);
		return -1;
	}
	int r = 0;
	json_t *leases = leases_read(state, net, err);
	if (!leases)
		r = -1;
	else if (json_object_get(leases, pod)) {
		json_object_del(leases, pod);
		r = leases_write(state, net, leases, err);
		if (r == 0)
			r = net_sync(state, net, netj, leases, err);
	}
	/* A port group made on first use goes with its last pod, unless a
	 * policy was applied to it: nothing is left mounted that nobody asked
	 * for. */
	bool unused = r == 0 && json_is_true(json_object_get(netj, "implicit")) &&
		      json_object_size(leases) == 0;
	if (unused) {
		json_t *pols = policies_read(state, net);
		unused = json_array_size(pols) == 0;
		json_decref(pols);
	}
	if (unused)
		net_teardown(state, net);
	json_decref(leases);
	json_decref(netj);
	close(lock);
	return r;
}

/* ---- listing, inspecting, removing ---------------------------------------------- */

static int strcmp_ptr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int net_list(const char *state, json_t **out, struct moat_error *err)
{
	*out = json_array();
	char *nets = xasprintf("%s/nets", state);
	DIR *d = opendir(nets);
	free(nets);
	if (!d)
		return errno == ENOENT ? 0 : moat_error_sys(err, errno, "%s/nets", state);
	char *names[512];
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < ARRAY_SIZE(names))
		if (e->d_name[0] != '.')
			names[n++] = xstrdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof(*names), strcmp_ptr);
	for (size_t i = 0; i < n; i++) {
		struct moat_error e2 = { 0 };
		json_t *j;
		if (net_inspect(state, names[i], &j, &e2) == 0)
			json_array_append_new(*out, j);
		free(names[i]);
	}
	return 0;
}

int net_inspect(const char *state, const char *name, json_t **out, struct moat_error *err)
{
	json_t *netj = net_read(state, name, err);
	if (!netj)
		return -1;
	json_t *leases = leases_read(state, name, err);
	if (!leases) {
		json_decref(netj);
		return -1;
	}
	char *bpf = net_path(state, name, "bpf");
	json_t *pods = json_array();
	const char *k;
	json_t *l;
	json_object_foreach(leases, k, l) {
		json_t *p = json_pack("{s:s, s:O, s:O, s:O, s:O}", "name", k, "ip",
				      json_object_get(l, "ip"), "mac", json_object_get(l, "mac"), "tap",
				      json_object_get(l, "tap"), "labels", json_object_get(l, "labels"));
		struct in_addr a;
		uint64_t pk[PODNET_NREASONS], by[PODNET_NREASONS];
		struct moat_error e2 = { 0 };
		if (inet_pton(AF_INET, json_string_value(json_object_get(l, "ip")) ?: "", &a) == 1 &&
		    podnet_counters(bpf, a.s_addr, pk, by, &e2) == 0) {
			json_t *c = json_object();
			for (unsigned r = 0; r < PODNET_NREASONS; r++)
				json_object_set_new(c, podnet_reason_name(r), json_integer((json_int_t)pk[r]));
			json_object_set_new(p, "packets", c);
		}
		json_array_append_new(pods, p);
	}
	free(bpf);
	json_object_set_new(netj, "pods", pods);
	json_t *pols = policies_read(state, name), *names = json_array();
	size_t i;
	json_array_foreach(pols, i, l) json_array_append(names, json_object_get(l, "name"));
	json_object_set_new(netj, "policies", names);
	json_decref(pols);
	json_decref(leases);
	*out = netj;
	return 0;
}

int net_rm(const char *state, const char *name, struct moat_error *err)
{
	json_t *netj = net_read(state, name, err);
	if (!netj)
		return -1;
	json_decref(netj);
	int lock = net_lock(state, name, err);
	if (lock < 0)
		return -1;
	json_t *leases = leases_read(state, name, err);
	int r = 0;
	if (!leases) {
		r = -1;
	} else if (json_object_size(leases)) {
		struct sbuf b = { 0 };
		const char *k;
		json_t *l;
		json_object_foreach(leases, k, l) sbuf_printf(&b, "%s%s", b.len ? ", " : "", k);
		r = moat_error_set(err, EBUSY, "port group %s is in use by pod%s %s (moat pod rm them "
					       "first)",
				   name, json_object_size(leases) > 1 ? "s" : "", b.s);
		sbuf_release(&b);
	}
	json_decref(leases);
	if (r == 0)
		net_teardown(state, name);
	close(lock);
	return r;
}

/* ---- NetworkPolicy storage ------------------------------------------------------ */

static int net_changed(const char *state, const char *net, struct moat_error *err)
{
	json_t *netj = net_read(state, net, err);
	if (!netj)
		return -1;
	json_t *leases = leases_read(state, net, err);
	int r = leases ? net_sync(state, net, netj, leases, err) : -1;
	json_decref(leases);
	json_decref(netj);
	return r;
}

int net_policy_apply(const char *state, const char *net, const char *file, json_t **names,
		     struct moat_error *err)
{
	*names = json_array();
	if (!net)
		net = NET_DEFAULT;
	char *buf = NULL;
	size_t len = 0;
	if (read_file(file, 4 << 20, &buf, &len, err) < 0)
		return -1;
	json_t *pols;
	int r = netpolicy_parse(file, buf, len, &pols, err);
	free(buf);
	if (r < 0)
		return -1;
	json_t *netj = net_read(state, net, err);
	if (!netj && err->errnum == ENOENT && strcmp(net, NET_DEFAULT) == 0) {
		memset(err, 0, sizeof(*err));
		if (net_create(state, net, NULL, err) < 0 && err->errnum != EEXIST) {
			json_decref(pols);
			return -1;
		}
		memset(err, 0, sizeof(*err));
	} else if (!netj) {
		json_decref(pols);
		return -1;
	}
	json_decref(netj);
	int lock = net_lock(state, net, err);
	if (lock < 0) {
		json_decref(pols);
		return -1;
	}
	size_t i;
	json_t *p;
	json_array_foreach(pols, i, p) {
		const char *pname = json_string_value(json_object_get(p, "name"));
		char *path = xasprintf("%s/nets/%s/policies/%s.json", state, net, pname);
		r = write_json_atomic(path, p, err);
		free(path);
		if (r < 0)
			break;
		json_array_append_new(*names, json_string(pname));
	}
	if (r == 0)
		r = net_changed(state, net, err);
	close(lock);
	json_decref(pols);
	return r;
}

int net_policy_list(const char *state, const char *net, json_t **out, struct moat_error *err)
{
	if (!net)
		net = NET_DEFAULT;
	json_t *netj = net_read(state, net, err);
	if (!netj)
		return -1;
	json_decref(netj);
	*out = policies_read(state, net);
	return 0;
}

int net_policy_rm(const char *state, const char *net, const char *name, struct moat_error *err)
{
	if (!net)
		net = NET_DEFAULT;
	if (!net_name_ok(name) && strcmp(name ?: "", "none") != 0)
		return moat_error_set(err, EINVAL, "'%s' is not a NetworkPolicy name", name ? name : "");
	json_t *netj = net_read(state, net, err);
	if (!netj)
		return -1;
	json_decref(netj);
	int lock = net_lock(state, net, err);
	if (lock < 0)
		return -1;
	char *path = xasprintf("%s/nets/%s/policies/%s.json", state, net, name);
	int r = 0;
	if (unlink(path) < 0)
		r = errno == ENOENT ? moat_error_set(err, ENOENT, "port group %s has no NetworkPolicy "
								  "%s",
						     net, name)
				    : moat_error_sys(err, errno, "%s", path);
	free(path);
	if (r == 0)
		r = net_changed(state, net, err);
	close(lock);
	return r;
}
