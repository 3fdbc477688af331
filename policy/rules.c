/* SPDX-License-Identifier: Apache-2.0 */
/* The rule table, levels and versions. */
#include "policy.h"

#include <errno.h>

const struct report_rule policy_rules[R_COUNT] = {
	[R_APPARMOR] = { "pss/appArmorProfile", "AppArmor profile", "baseline",
		"AppArmor may not be disabled: profiles must be RuntimeDefault or Localhost." },
	[R_CAPS_BASELINE] = { "pss/capabilities_baseline", "Added capabilities", "baseline",
		"Containers may add only the default capabilities (AUDIT_WRITE, CHOWN, DAC_OVERRIDE, "
		"FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT)." },
	[R_HOST_NAMESPACES] = { "pss/hostNamespaces", "Host namespaces", "baseline",
		"Pods may not share the host's network, PID or IPC namespace." },
	[R_HOSTPATH_VOLUMES] = { "pss/hostPathVolumes", "hostPath volumes", "baseline",
		"Pods may not mount host directories." },
	[R_HOST_PORTS] = { "pss/hostPorts", "Host ports", "baseline",
		"Containers may not bind ports on the host." },
	[R_HOST_PROBES] = { "pss/hostProbesAndHostLifecycle", "Probe and lifecycle hosts", "baseline",
		"Probes and lifecycle handlers may not target another host: leave host unset." },
	[R_PRIVILEGED] = { "pss/privileged", "Privileged containers", "baseline",
		"Containers may not run privileged." },
	[R_PROCMOUNT] = { "pss/procMount", "/proc mount type", "baseline",
		"The /proc mask may not be removed: procMount must be Default." },
	[R_SELINUX] = { "pss/seLinuxOptions", "SELinux options", "baseline",
		"SELinux type must be a container type; user and role may not be set." },
	[R_SECCOMP_BASELINE] = { "pss/seccompProfile_baseline", "Seccomp profile (baseline)", "baseline",
		"Seccomp may not be disabled: profiles must be RuntimeDefault or Localhost." },
	[R_SYSCTLS] = { "pss/sysctls", "Unsafe sysctls", "baseline",
		"Pods may set only the namespaced, safe sysctls." },
	[R_WINDOWS_HOSTPROCESS] = { "pss/windowsHostProcess", "Windows HostProcess", "baseline",
		"Windows HostProcess containers may not be used." },
	[R_ALLOW_PRIV_ESC] = { "pss/allowPrivilegeEscalation", "Privilege escalation", "restricted",
		"Containers must set allowPrivilegeEscalation to false." },
	[R_CAPS_RESTRICTED] = { "pss/capabilities_restricted", "Capabilities (restricted)", "restricted",
		"Containers must drop ALL capabilities and may add back only NET_BIND_SERVICE." },
	[R_PROCMOUNT_RESTRICTED] = { "pss/procMount_restricted", "/proc mount type (restricted)", "restricted",
		"procMount must be Default, even in a user namespace." },
	[R_RESTRICTED_VOLUMES] = { "pss/restrictedVolumes", "Volume types", "restricted",
		"Volumes must be configMap, csi, downwardAPI, emptyDir, ephemeral, image, "
		"persistentVolumeClaim, projected or secret." },
	[R_RUN_AS_NON_ROOT] = { "pss/runAsNonRoot", "Run as non-root", "restricted",
		"Containers must set runAsNonRoot to true, directly or through the pod." },
	[R_RUN_AS_USER] = { "pss/runAsUser", "Run as a non-zero user", "restricted",
		"Containers may not set runAsUser to 0." },
	[R_SECCOMP_RESTRICTED] = { "pss/seccompProfile_restricted", "Seccomp profile (restricted)", "restricted",
		"A seccomp profile of RuntimeDefault or Localhost must be set, directly or through the pod." },
	[R_SN_HOSTPATH] = { "share-nothing/hostpath", "hostPath volume", "share-nothing",
		"A pod has its own disk; it may not mount a host path." },
	[R_SN_HOSTNETWORK] = { "share-nothing/hostnetwork", "Host network", "share-nothing",
		"A pod has its own network; it may not use the host's." },
	[R_SN_HOSTPID] = { "share-nothing/hostpid", "Host PID namespace", "share-nothing",
		"A pod may not see or signal the host's processes." },
	[R_SN_HOSTIPC] = { "share-nothing/hostipc", "Host IPC namespace", "share-nothing",
		"A pod may not share the host's IPC namespace." },
	[R_SN_HOSTPORT] = { "share-nothing/hostport", "Host port", "share-nothing",
		"A pod may not bind a port on the node." },
	[R_SN_NODEPORT] = { "share-nothing/nodeport", "NodePort service", "share-nothing",
		"A Service may not open a port on every node: use ClusterIP, or a LoadBalancer "
		"with allocateLoadBalancerNodePorts: false." },
	[R_SN_LB_NODEPORTS] = { "share-nothing/loadbalancer-nodeports", "LoadBalancer node ports",
		"share-nothing",
		"A LoadBalancer Service must set allocateLoadBalancerNodePorts: false." },
};

int policy_rule_find(const char *id)
{
	for (int i = 0; i < R_COUNT; i++)
		if (strcmp(policy_rules[i].id, id) == 0)
			return i;
	return -1;
}

int pss_level_parse(const char *s)
{
	if (strcmp(s, "privileged") == 0)
		return PSS_PRIVILEGED;
	if (strcmp(s, "baseline") == 0)
		return PSS_BASELINE;
	if (strcmp(s, "restricted") == 0)
		return PSS_RESTRICTED;
	return -1;
}

const char *pss_level_name(enum pss_level level)
{
	static const char *const names[] = { "privileged", "baseline", "restricted" };
	return names[level];
}

int pss_version_parse(const char *s, unsigned *minor)
{
	if (strcmp(s, "latest") == 0) {
		*minor = PSS_NEWEST_MINOR;
		return 0;
	}
	/* Upstream's grammar: v1.0 .. v1.9, or v1.N with no leading zero. */
	if (strncmp(s, "v1.", 3) != 0 || !s[3] || (s[3] == '0' && s[4]))
		return -1;
	unsigned long v = 0;
	for (const char *p = s + 3; *p; p++) {
		if (*p < '0' || *p > '9' || v > 100000)
			return -1;
		v = v * 10 + (unsigned)(*p - '0');
	}
	*minor = v > PSS_NEWEST_MINOR ? PSS_NEWEST_MINOR : (unsigned)v;
	return 0;
}
