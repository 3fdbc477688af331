/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pod's disks as the agent prepares them before mounting:
 *   - an image disk with "verity" becomes a dm-verity device, read through
 *     once when the host says "verifyAll", so that a corrupted image fails
 *     the pod before a container starts; later corruption shows in the
 *     kernel's log, which the agent watches (disk_kmsg_check);
 *   - the ephemeral disk with "crypt" becomes a dm-crypt device under a
 *     key made here and never written anywhere, and gets a fresh ext2 file
 *     system (busybox mke2fs; the kernel's ext4 driver mounts it).
 */
#include "runtime/agent/disk.h"
#include "runtime/agent/dm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_VERITY 33

static struct {
	unsigned maj, min; /* the image disk under the verity device */
	char image[128];
} verity_disks[MAX_VERITY];
static size_t nverity;

static void integrity_fail(struct disk_fail *f, const char *image, uint64_t block, bool meta)
{
	snprintf(f->reason, sizeof(f->reason), "ImageIntegrity");
	snprintf(f->message, sizeof(f->message), "image %s: block %llu of its %s failed verification",
		 image, (unsigned long long)block, meta ? "hash tree" : "disk");
}

static int run_mke2fs(const char *node, char *why, size_t wn)
{
	/* One inode per 128 KiB (8192 a GiB) and 128-byte inodes: the inode
	 * tables are most of what mke2fs writes, through dm-crypt, and under
	 * TCG each MiB of them costs about 0.1 s of pod start (ext4's default
	 * of one per 16 KiB would write 16 MiB for a 1 GiB disk).  1% is
	 * reserved, for the agent's writes (the logs). */
	char *argv[] = { "/bin/busybox", "mke2fs", "-F", "-b", "4096", "-m", "1", "-i", "131072",
			 "-I", "128", (char *)node, NULL };
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(why, wn, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (null >= 0)
			dup2(null, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		snprintf(why, wn, "mke2fs on %s failed (status %d)", node,
			 WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		return -1;
	}
	return 0;
}

static bool hex64(const char *s)
{
	if (!s || strlen(s) != 64)
		return false;
	for (size_t i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int disk_prepare(json_t *d, size_t index, const char *blk, char src[64], const char **data,
		 struct disk_fail *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(src, 64, "/dev/%s", blk);
	json_t *v = json_object_get(d, "verity");
	const char *crypt = json_string_value(json_object_get(d, "crypt"));
	char name[32], why[256] = "";
	snprintf(name, sizeof(name), "moat-disk%zu", index);
	if (json_is_object(v)) {
		const char *image = json_string_value(json_object_get(d, "image"));
		struct dm_verity_params p = { 0 };
		json_int_t blocks = json_integer_value(json_object_get(v, "dataBlocks"));
		json_int_t start = json_integer_value(json_object_get(v, "hashStart"));
		const char *root = json_string_value(json_object_get(v, "rootHash"));
		const char *salt = json_string_value(json_object_get(v, "salt"));
		if (blocks <= 0 || start < blocks || !hex64(root) || !hex64(salt)) {
			snprintf(f->message, sizeof(f->message), "disk %s: bad verity parameters", blk);
			return -1;
		}
		p.data_blocks = (uint64_t)blocks;
		p.hash_start = (uint64_t)start;
		memcpy(p.root_hash, root, 65);
		memcpy(p.salt, salt, 65);
		if (dm_open_verity(name, blk, &p, src, why, sizeof(why)) < 0) {
			snprintf(f->message, sizeof(f->message), "%s", why);
			return -1;
		}
		if (nverity < MAX_VERITY) {
			dm_blk_devno(blk, &verity_disks[nverity].maj, &verity_disks[nverity].min);
			snprintf(verity_disks[nverity].image, sizeof(verity_disks[nverity].image), "%s",
				 image ? image : blk);
			nverity++;
		}
		if (json_is_true(json_object_get(d, "verifyAll"))) {
			uint64_t bad = 0;
			int r = dm_read_all(src, p.data_blocks, &bad, why, sizeof(why));
			if (r < 0) {
				snprintf(f->message, sizeof(f->message), "%s", why);
				return -1;
			}
			if (r == 1) {
				integrity_fail(f, image ? image : blk, bad, false);
				return -1;
			}
		}
		return 0;
	}
	if (crypt) {
		if (strcmp(crypt, "aes-xts-plain64") != 0) {
			snprintf(f->message, sizeof(f->message), "disk %s: cipher %.32s is not offered",
				 blk, crypt);
			return -1;
		}
		if (dm_open_crypt(name, blk, src, why, sizeof(why)) < 0 ||
		    run_mke2fs(src, why, sizeof(why)) < 0) {
			snprintf(f->message, sizeof(f->message), "%s", why);
			return -1;
		}
		/* The reserved blocks are for the agent (which has
		 * CAP_SYS_RESOURCE), not for root in a container (which has
		 * not, by default): a container that fills the disk leaves room
		 * for its own log to say so.  No uid owns them. */
		*data = "resuid=4294967294";
	}
	return 0;
}

int disk_kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0)
		lseek(fd, 0, SEEK_END); /* what the boot said is not news */
	return fd;
}

int disk_kmsg_check(int fd, struct disk_fail *f)
{
	/* A read shorter than the record fails without consuming it: room for
	 * the longest one the kernel makes (CONSOLE_EXT_LOG_MAX). */
	static char rec[8192];
	for (int i = 0; i < 256; i++) {
		ssize_t n = read(fd, rec, sizeof(rec));
		if (n < 0 && errno == EPIPE)
			continue; /* records overwritten before we read them */
		if (n <= 0)
			return 0;
		unsigned maj, min;
		uint64_t block;
		bool meta;
		if (!dm_kmsg_verity(rec, (size_t)n, &maj, &min, &block, &meta))
			continue;
		for (size_t k = 0; k < nverity; k++)
			if (verity_disks[k].maj == maj && verity_disks[k].min == min) {
				integrity_fail(f, verity_disks[k].image, block, meta);
				return 1;
			}
	}
	return 0;
}
