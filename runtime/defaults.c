/* SPDX-License-Identifier: Apache-2.0 */
/*
 * moat's RuntimeDefault seccomp profile (runtime/seccomp-default.json),
 * built into the binary.  It follows Docker's default in what it denies:
 * keyrings, kernel modules, kexec, namespaces and mounts without
 * CAP_SYS_ADMIN, clone with namespace flags, clone3 (ENOSYS, so libc falls
 * back), odd personalities, AF_VSOCK sockets, and everything the x86-64
 * syscall table did not hold when it was written (EPERM; newer ones ENOSYS).
 */
#include "runtime.h"

__asm__(".section .rodata\n"
	".global moat_seccomp_default\n"
	".type moat_seccomp_default, @object\n"
	"moat_seccomp_default:\n"
	".incbin \"runtime/seccomp-default.json\"\n"
	".global moat_seccomp_default_end\n"
	"moat_seccomp_default_end:\n"
	".byte 0\n"
	".previous\n");

extern const char moat_seccomp_default[], moat_seccomp_default_end[];

const char *runtime_seccomp_default(size_t *len)
{
	*len = (size_t)(moat_seccomp_default_end - moat_seccomp_default);
	return moat_seccomp_default;
}
