/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Device-mapper in the guest agent, through /dev/mapper/control's ioctls
 * (linux/dm-ioctl.h): DM_DEV_CREATE makes an empty device, DM_TABLE_LOAD
 * gives it one target, DM_DEV_SUSPEND without the suspend flag resumes it,
 * which makes the loaded table live.  The agent makes the /dev nodes
 * itself: the guest has no udev.
 */
#include "runtime/agent/dm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <linux/keyctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define DM_BUF 8192 /* a dm_ioctl, one target spec and its parameters */

int dm_blk_devno(const char *blk, unsigned *maj, unsigned *min)
{
	char path[128], line[32] = "";
	if (strchr(blk, '/'))
		return -1;
	snprintf(path, sizeof(path), "/sys/block/%s/dev", blk);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	bool ok = fgets(line, sizeof(line), f) && sscanf(line, "%u:%u", maj, min) == 2;
	fclose(f);
	return ok ? 0 : -1;
}

static int blk_sectors(const char *blk, uint64_t *sectors)
{
	char path[128], line[32] = "";
	snprintf(path, sizeof(path), "/sys/block/%s/size", blk);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	unsigned long long n = 0;
	bool ok = fgets(line, sizeof(line), f) && sscanf(line, "%llu", &n) == 1 && n > 0;
	fclose(f);
	*sectors = n;
	return ok ? 0 : -1;
}

static int control_open(char *why, size_t wn)
{
	/* devtmpfs makes the node when dm-mod registers it; if it did not,
	 * the misc device's number is fixed (10:236). */
	mkdir("/dev/mapper", 0755);
	if (mknod("/dev/mapper/control", S_IFCHR | 0600, makedev(10, 236)) < 0 && errno != EEXIST) {
		snprintf(why, wn, "/dev/mapper/control: %s", strerror(errno));
		return -1;
	}
	int fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		snprintf(why, wn, "/dev/mapper/control: %s (is dm-mod loaded?)", strerror(errno));
	return fd;
}

static void dm_init(struct dm_ioctl *io, const char *name, size_t size)
{
	memset(io, 0, sizeof(*io));
	io->version[0] = DM_VERSION_MAJOR;
	io->version[1] = 0;
	io->version[2] = 0;
	io->data_size = (uint32_t)size;
	io->data_start = sizeof(*io);
	snprintf(io->name, sizeof(io->name), "%s", name);
}

/*
 * Creates name with one target over [0, sectors) and resumes it.  params
 * may hold a key: every buffer that held it is wiped before return.  On
 * failure the half-made device is removed.
 */
static int dm_create(const char *name, const char *target, uint64_t sectors, const char *params,
		     bool readonly, char node[64], char *why, size_t wn)
{
	int ctl = control_open(why, wn);
	if (ctl < 0)
		return -1;
	size_t plen = strlen(params);
	if (sizeof(struct dm_ioctl) + sizeof(struct dm_target_spec) + plen + 8 > DM_BUF) {
		close(ctl);
		snprintf(why, wn, "dm %s: table too long", name);
		return -1;
	}
	_Alignas(8) unsigned char buf[DM_BUF];
	struct dm_ioctl *io = (struct dm_ioctl *)buf;
	dm_init(io, name, sizeof(*io));
	if (ioctl(ctl, DM_DEV_CREATE, io) < 0) {
		snprintf(why, wn, "dm %s: DM_DEV_CREATE: %s", name, strerror(errno));
		close(ctl);
		return -1;
	}
	unsigned maj = major(io->dev), min = minor(io->dev);
	memset(buf, 0, sizeof(buf));
	dm_init(io, name, sizeof(buf));
	io->target_count = 1;
	if (readonly)
		io->flags |= DM_READONLY_FLAG;
	struct dm_target_spec *t = (struct dm_target_spec *)(buf + sizeof(*io));
	t->sector_start = 0;
	t->length = sectors;
	snprintf(t->target_type, sizeof(t->target_type), "%s", target);
	memcpy(buf + sizeof(*io) + sizeof(*t), params, plen + 1);
	t->next = 0;
	int r = ioctl(ctl, DM_TABLE_LOAD, io);
	int e = errno;
	explicit_bzero(buf, sizeof(buf)); /* the crypt table holds the key */
	if (r == 0) {
		dm_init(io, name, sizeof(*io));
		r = ioctl(ctl, DM_DEV_SUSPEND, io); /* no DM_SUSPEND_FLAG: resume */
		e = errno;
		if (r < 0)
			snprintf(why, wn, "dm %s: resuming %s: %s", name, target, strerror(e));
	} else {
		snprintf(why, wn, "dm %s: loading the %s table: %s", name, target, strerror(e));
	}
	if (r < 0) {
		dm_init(io, name, sizeof(*io));
		ioctl(ctl, DM_DEV_REMOVE, io);
		close(ctl);
		return -1;
	}
	close(ctl);
	snprintf(node, 64, "/dev/dm-%u", min);
	if (mknod(node, S_IFBLK | 0600, makedev(maj, min)) < 0 && errno != EEXIST) {
		snprintf(why, wn, "%s: %s", node, strerror(errno));
		return -1;
	}
	return 0;
}

int dm_open_verity(const char *name, const char *blk, const struct dm_verity_params *p,
		   char node[64], char *why, size_t wn)
{
	unsigned maj, min;
	if (dm_blk_devno(blk, &maj, &min) < 0) {
		snprintf(why, wn, "%s: no device number in sysfs", blk);
		return -1;
	}
	if (!p->data_blocks || p->data_blocks > UINT64_MAX / 8) {
		snprintf(why, wn, "%s: no data blocks to verify", blk);
		return -1;
	}
	/* Format 1, one disk for data and tree, 4096-byte blocks; a bad block
	 * gives EIO (the default), which the agent reports. */
	char params[512];
	snprintf(params, sizeof(params), "1 %u:%u %u:%u 4096 4096 %llu %llu sha256 %s %s", maj, min,
		 maj, min, (unsigned long long)p->data_blocks, (unsigned long long)p->hash_start,
		 p->root_hash, p->salt);
	return dm_create(name, "verity", p->data_blocks * 8, params, true, node, why, wn);
}

int dm_open_crypt(const char *name, const char *blk, char node[64], char *why, size_t wn)
{
	unsigned maj, min;
	uint64_t sectors;
	if (dm_blk_devno(blk, &maj, &min) < 0 || blk_sectors(blk, &sectors) < 0) {
		snprintf(why, wn, "%s: no device number or size in sysfs", blk);
		return -1;
	}
	/* 64 bytes: aes-xts splits it into two AES-256 keys. */
	unsigned char key[64];
	size_t got = 0;
	while (got < sizeof(key)) {
		ssize_t n = getrandom(key + got, sizeof(key) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(why, wn, "getrandom: %s", strerror(errno));
			explicit_bzero(key, sizeof(key));
			return -1;
		}
		got += (size_t)n;
	}
	/*
	 * The key goes to dm-crypt through a "logon" key, which no process
	 * can read back, rather than in the table: a table's key shows in
	 * DM_TABLE_STATUS to anything that reaches /dev/mapper/control (a
	 * container given CAP_SYS_ADMIN can).  dm-crypt copies the key when
	 * the table loads; then the keyring's copy is invalidated.
	 */
	char desc[64];
	snprintf(desc, sizeof(desc), "moat:%s", name);
	long kid = syscall(SYS_add_key, "logon", desc, key, sizeof(key), KEY_SPEC_PROCESS_KEYRING);
	explicit_bzero(key, sizeof(key));
	if (kid < 0) {
		snprintf(why, wn, "add_key logon %s: %s", desc, strerror(errno));
		return -1;
	}
	/* Encrypting in the submitting context rather than kcryptd's
	 * workqueues: under TCG the hand-off costs more than the cipher. */
	char params[256];
	snprintf(params, sizeof(params),
		 "aes-xts-plain64 :%zu:logon:%s 0 %u:%u 0 2 no_read_workqueue no_write_workqueue",
		 sizeof(key), desc, maj, min);
	int r = dm_create(name, "crypt", sectors, params, false, node, why, wn);
	syscall(SYS_keyctl, KEYCTL_INVALIDATE, (long)kid);
	return r;
}

int dm_read_all(const char *node, uint64_t blocks, uint64_t *bad, char *why, size_t wn)
{
	/* O_DIRECT: every block goes through dm-verity now, and none stays in
	 * the page cache twice (EROFS caches what it reads itself). */
	int fd = open(node, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, wn, "%s: %s", node, strerror(errno));
		return -1;
	}
	enum { CHUNK = 256 }; /* blocks: 1 MiB a read */
	void *buf = NULL;
	if (posix_memalign(&buf, 4096, (size_t)CHUNK * 4096)) {
		close(fd);
		snprintf(why, wn, "out of memory");
		return -1;
	}
	int r = 0;
	for (uint64_t b = 0; b < blocks && r == 0; b += CHUNK) {
		size_t n = (size_t)(blocks - b < CHUNK ? blocks - b : CHUNK);
		ssize_t got = pread(fd, buf, n * 4096, (off_t)(b * 4096));
		if (got == (ssize_t)(n * 4096))
			continue;
		if (got >= 0 || errno != EIO) {
			snprintf(why, wn, "%s: reading block %llu: %s", node, (unsigned long long)b,
				 got < 0 ? strerror(errno) : "short read");
			r = -1;
			break;
		}
		/* Which block: one at a time through this chunk. */
		*bad = b;
		for (uint64_t k = b; k < b + n; k++)
			if (pread(fd, buf, 4096, (off_t)(k * 4096)) != 4096) {
				*bad = k;
				break;
			}
		r = 1;
	}
	free(buf);
	close(fd);
	return r;
}

int dm_kmsg_verity(const char *rec, size_t len, unsigned *maj, unsigned *min, uint64_t *block,
		   bool *meta)
{
	/* "PRI,SEQ,TS,FLAGS;device-mapper: verity: 254:0: data block 12 is
	 * corrupted" (dm-verity-target.c, verity_handle_err). */
	char line[256];
	size_t n = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
	memcpy(line, rec, n);
	line[n] = '\0';
	char *msg = memchr(line, ';', n);
	static const char prefix[] = "device-mapper: verity: ";
	if (!msg || strncmp(msg + 1, prefix, sizeof(prefix) - 1) != 0)
		return 0;
	char kind[16];
	unsigned long long b;
	int end = 0;
	if (sscanf(msg + sizeof(prefix), "%u:%u: %15s block %llu is corrupted%n", maj, min, kind, &b,
		   &end) != 4 ||
	    end == 0)
		return 0;
	*meta = strcmp(kind, "data") != 0;
	*block = b;
	return 1;
}
