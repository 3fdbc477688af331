/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pod's VM: QEMU's microvm machine booting Debian's cloud kernel
 * directly, with moat's agent as the initramfs's /init.  Which accelerator:
 * KVM where the CPU shows vmx or svm and /dev/kvm opens, else TCG.
 */
#include "runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#ifndef MOAT_TCG_TB_MIB
#define MOAT_TCG_TB_MIB "16"
#endif

int vm_pick_accel(const char *want, char *out, size_t n, char *why, size_t wn)
{
	if (want && strcmp(want, "auto") != 0) {
		if (strcmp(want, "kvm") && strcmp(want, "tcg"))
			return -1;
		snprintf(out, n, "%s", want);
		snprintf(why, wn, "as --accel asked");
		return 0;
	}
	bool virt = false;
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[4096];
	while (f && !virt && fgets(line, sizeof(line), f))
		if (strncmp(line, "flags", 5) == 0)
			virt = strstr(line, " vmx") || strstr(line, " svm");
	if (f)
		fclose(f);
	int kvm = virt ? open("/dev/kvm", O_RDWR | O_CLOEXEC) : -1;
	if (kvm >= 0) {
		close(kvm);
		snprintf(out, n, "kvm");
		snprintf(why, wn, "the CPU shows vmx/svm and /dev/kvm opens");
	} else {
		snprintf(out, n, "tcg");
		snprintf(why, wn, virt ? "/dev/kvm does not open" : "the CPU shows no vmx/svm");
	}
	return 0;
}

/* The host's TSC rate for the guest's tsc_early_khz: under TCG the kernel
 * cannot calibrate against the emulated PIT reliably, and hangs without it. */
static long tsc_khz(void)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[512];
	double mhz = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "cpu MHz : %lf", &mhz) == 1)
			break;
	if (f)
		fclose(f);
	return mhz > 0 ? (long)(mhz * 1000) : 2000000;
}

const char *vm_guest_dir(const char *opt, char *buf, size_t n)
{
	if (opt && *opt)
		return opt;
	const char *env = getenv("MOAT_GUEST_DIR");
	if (env && *env)
		return env;
	/* Beside the binary (build/guest for build/moat), else installed. */
	char exe[PATH_MAX];
	if (self_dir(exe, sizeof(exe))) {
		snprintf(buf, n, "%s/guest", exe);
		if (access(buf, R_OK) == 0)
			return buf;
	}
	return "/usr/local/lib/moat/guest";
}

const char *vm_kernel_path(const char *guest_dir, char *buf, size_t n)
{
	snprintf(buf, n, "%s/vmlinux", guest_dir);
	if (access(buf, R_OK) < 0)
		snprintf(buf, n, "%s/vmlinuz", guest_dir);
	return buf;
}

char **vm_argv(const struct vm_config *c)
{
	/* cryptomgr.notests: the crypto self-tests cost 0.8 s under TCG; they
	 * check implementations (now also dm-crypt's xts(aes) and dm-verity's
	 * sha256), not attackers: docs/runtime-design.md says why that is
	 * acceptable.  microvm has no PCI. */
	struct sbuf append = { 0 };
	sbuf_puts(&append, "console=ttyS0 panic=-1 quiet loglevel=3 cryptomgr.notests pci=off");
	if (strcmp(c->accel, "tcg") == 0)
		sbuf_printf(&append, " tsc_early_khz=%ld", tsc_khz());
	char **v = xcalloc(64 + 8 * (c->ndisks + 1), sizeof(*v));
	size_t n = 0;
#define A(...) (v[n++] = xasprintf(__VA_ARGS__))
	A("qemu-system-x86_64");
	A("-name");
	A("moat-%s", c->name);
	A("-M");
	A("microvm");
	/* TCG's translated code lives in a buffer of its own: a small one
	 * keeps an idle pod's footprint down. */
	A("-accel");
	A("%s", strcmp(c->accel, "tcg") == 0 ? "tcg,tb-size=" MOAT_TCG_TB_MIB : "kvm");
	A("-cpu");
	A("%s", strcmp(c->accel, "kvm") == 0 ? "host" : "max");
	A("-m");
	A("%u", c->mem_mib);
	A("-smp");
	A("%u", c->vcpus);
	A("-nodefaults");
	A("-no-user-config");
	A("-nographic");
	A("-no-reboot");
	/* QEMU's own seccomp sandbox, under moat's confinement. */
	A("-sandbox");
	A("on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
	A("-kernel");
	A("/boot/kernel");
	A("-initrd");
	A("/boot/initrd.img");
	A("-append");
	A("%s", append.s);
	/* Every file comes as an fd (jail.c); a disk's fd set holds a read-only
	 * fd beside the read-write one, since QEMU reopens it both ways. */
	unsigned set = 1;
	A("-add-fd");
	A("fd=%d,set=%u", c->fd_console, set);
	A("-chardev");
	A("file,id=con,path=/dev/fdset/%u", set++);
	A("-serial");
	A("chardev:con");
	for (size_t i = 0; i < c->ndisks; i++, set++) {
		if (!c->disks[i].readonly) {
			A("-add-fd");
			A("fd=%d,set=%u", c->disks[i].fd, set);
		}
		A("-add-fd");
		A("fd=%d,set=%u", c->disks[i].fd_ro, set);
		A("-drive");
		A("id=d%zu,file=/dev/fdset/%u,format=raw,if=none,cache=none,aio=threads%s", i, set,
		  c->disks[i].readonly ? ",readonly=on" : "");
		A("-device");
		A("virtio-blk-device,drive=d%zu,serial=%s", i, c->disks[i].serial);
	}
	if (c->mac[0]) {
		/* The tap is opened by moat, not by QEMU: QEMU gets the fd. */
		A("-netdev");
		A("tap,id=n0,fd=%d", c->tap_fd);
		A("-device");
		A("virtio-net-device,netdev=n0,mac=%s", c->mac);
	}
	A("-device");
	A("virtio-serial-device");
	/* A connected socket: the shim holds the other end. */
	A("-chardev");
	A("socket,id=ctl,fd=%d", c->fd_ctl);
	A("-device");
	A("virtserialport,chardev=ctl,name=moat");
#undef A
	sbuf_release(&append);
	return v;
}

void vm_argv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}
