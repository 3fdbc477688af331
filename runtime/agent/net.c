/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pod's network inside its guest.  The host has already decided
 * everything (address, gateway, nameservers, the pods to name in
 * /etc/hosts) and enforces it on its side of the tap, so nothing here is a
 * security boundary: it only makes the guest agree with the host.
 * Containers share the guest's network namespace, and get the three files
 * kubelet would give them, bind-mounted from the pod's disk.
 */
#include "core/core.h"
#include "runtime/agent/net.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/route.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* The NIC whose address is mac: virtio devices probe in no promised order,
 * and the driver may still be probing when the agent gets here. */
static bool find_nic(const char *mac, char *out, size_t n)
{
	for (int tries = 0; tries < 500; tries++) {
		DIR *d = opendir("/sys/class/net");
		struct dirent *e;
		bool found = false;
		while (d && !found && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char path[300], addr[32] = "";
			snprintf(path, sizeof(path), "/sys/class/net/%s/address", e->d_name);
			FILE *f = fopen(path, "re");
			if (f) {
				if (!fgets(addr, sizeof(addr), f))
					addr[0] = '\0';
				fclose(f);
			}
			addr[strcspn(addr, "\n")] = '\0';
			if (strcasecmp(addr, mac) == 0) {
				snprintf(out, n, "%.15s", e->d_name);
				found = true;
			}
		}
		if (d)
			closedir(d);
		if (found)
			return true;
		usleep(10000);
	}
	return false;
}

/* Only names that cannot break a hosts file line. */
static bool host_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '.'))
			return false;
	return true;
}

static bool ip_ok(const char *s)
{
	struct in_addr a;
	return s && inet_pton(AF_INET, s, &a) == 1;
}

static int write_files(json_t *pod, json_t *net, const char *podroot, char *why, size_t n)
{
	const char *hostname = json_string_value(json_object_get(pod, "hostname"));
	const char *ip = json_string_value(json_object_get(net, "ip"));
	char dir[256], path[300];
	snprintf(dir, sizeof(dir), "%s/etc", podroot);
	mkdir(dir, 0755);
	/* /etc/hosts: loopback, this pod, then the pods already on its port
	 * group when it started. */
	char hosts[16384];
	size_t len = (size_t)snprintf(hosts, sizeof(hosts),
				      "# moat: this pod's hosts file\n"
				      "127.0.0.1\tlocalhost\n"
				      "::1\tlocalhost ip6-localhost ip6-loopback\n");
	if (host_name_ok(hostname) && ip_ok(ip))
		len += (size_t)snprintf(hosts + len, sizeof(hosts) - len, "%s\t%s\n", ip, hostname);
	size_t i;
	json_t *h;
	json_array_foreach(json_object_get(net, "hosts"), i, h) {
		const char *hn = json_string_value(json_object_get(h, "name"));
		const char *hip = json_string_value(json_object_get(h, "ip"));
		if (host_name_ok(hn) && ip_ok(hip) && len < sizeof(hosts) - 300)
			len += (size_t)snprintf(hosts + len, sizeof(hosts) - len, "%s\t%s\n", hip, hn);
	}
	char resolv[2048];
	size_t rl = (size_t)snprintf(resolv, sizeof(resolv), "# moat: this pod's resolver\n");
	json_array_foreach(json_object_get(net, "dns"), i, h) {
		const char *d = json_string_value(h);
		if (ip_ok(d) && rl < sizeof(resolv) - 64)
			rl += (size_t)snprintf(resolv + rl, sizeof(resolv) - rl, "nameserver %s\n", d);
	}
	const char *search = json_string_value(json_object_get(net, "search"));
	if (host_name_ok(search) && rl < sizeof(resolv) - 300)
		rl += (size_t)snprintf(resolv + rl, sizeof(resolv) - rl, "search %s\n", search);
	snprintf(resolv + rl, sizeof(resolv) - rl, "options ndots:5\n");
	char hn[300];
	snprintf(hn, sizeof(hn), "%s\n", host_name_ok(hostname) ? hostname : "localhost");
	static const char *const names[] = { "hosts", "resolv.conf", "hostname" };
	const char *texts[] = { hosts, resolv, hn };
	for (size_t k = 0; k < 3; k++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[k]);
		if (write_string(path, texts[k]) < 0) {
			snprintf(why, n, "writing %s: %s", path, strerror(errno));
			return -1;
		}
	}
	/* Every container gets them, as kubelet bind-mounts its own. */
	static const char *const lists[] = { "initContainers", "containers" };
	for (int l = 0; l < 2; l++) {
		json_t *c;
		json_array_foreach(json_object_get(pod, lists[l]), i, c) {
			json_t *mounts = json_object_get(c, "mounts");
			if (!json_is_array(mounts)) {
				mounts = json_array();
				json_object_set_new(c, "mounts", mounts);
			}
			for (size_t k = 0; k < 3; k++) {
				snprintf(path, sizeof(path), "%s/%s", dir, names[k]);
				char at[64];
				snprintf(at, sizeof(at), "/etc/%s", names[k]);
				json_array_append_new(mounts, json_pack("{s:s, s:s}", "source", path,
									"path", at));
			}
		}
	}
	return 0;
}

int agent_net_setup(json_t *pod, const char *podroot, char *why, size_t n)
{
	json_t *net = json_object_get(pod, "network");
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0) {
		snprintf(why, n, "socket: %s", strerror(errno));
		return -1;
	}
	/* Loopback, with or without a NIC: localhost works in every pod. */
	if_set_up(sock, "lo");
	if (!json_is_object(net)) {
		close(sock);
		return 0;
	}
	const char *ip = json_string_value(json_object_get(net, "ip"));
	const char *gw = json_string_value(json_object_get(net, "gateway"));
	const char *mac = json_string_value(json_object_get(net, "mac"));
	json_int_t prefix = json_integer_value(json_object_get(net, "prefix"));
	struct in_addr a, g;
	char ifname[IFNAMSIZ];
	int r = -1;
	if (!ip || !gw || !mac || inet_pton(AF_INET, ip, &a) != 1 ||
	    inet_pton(AF_INET, gw, &g) != 1 || prefix < 1 || prefix > 32) {
		snprintf(why, n, "the network the host sent is malformed");
		goto out;
	}
	if (!find_nic(mac, ifname, sizeof(ifname))) {
		snprintf(why, n, "no network interface with MAC %s (virtio_net loaded?)", mac);
		goto out;
	}
	/* Port groups offer IPv4 only; the host drops IPv6 anyway, so the
	 * guest need not send it (router solicitations, MLD). */
	char sysctl[128];
	snprintf(sysctl, sizeof(sysctl), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
	write_string(sysctl, "1");
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	sin->sin_family = AF_INET;
	sin->sin_addr = a;
	if (ioctl(sock, SIOCSIFADDR, &ifr) < 0) {
		snprintf(why, n, "%s: setting %s: %s", ifname, ip, strerror(errno));
		goto out;
	}
	sin->sin_addr.s_addr = htonl(~0u << (32 - prefix));
	if (ioctl(sock, SIOCSIFNETMASK, &ifr) < 0 || if_set_up(sock, ifname) < 0) {
		snprintf(why, n, "%s: netmask or up: %s", ifname, strerror(errno));
		goto out;
	}
	struct rtentry rt = { 0 };
	struct sockaddr_in *dst = (struct sockaddr_in *)&rt.rt_dst;
	struct sockaddr_in *gwa = (struct sockaddr_in *)&rt.rt_gateway;
	struct sockaddr_in *mask = (struct sockaddr_in *)&rt.rt_genmask;
	dst->sin_family = gwa->sin_family = mask->sin_family = AF_INET;
	gwa->sin_addr = g;
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	rt.rt_dev = ifname;
	if (ioctl(sock, SIOCADDRT, &rt) < 0 && errno != EEXIST) {
		snprintf(why, n, "default route via %s: %s", gw, strerror(errno));
		goto out;
	}
	r = write_files(pod, net, podroot, why, n);
out:
	close(sock);
	return r;
}
