/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guest agent's device-mapper: dm-verity over image disks, dm-crypt
 * over the pod's ephemeral disk, set up with the DM ioctls directly (no
 * libdevmapper, no udev in the guest).
 */
#ifndef MOAT_AGENT_DM_H
#define MOAT_AGENT_DM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dm_verity_params {
	uint64_t data_blocks; /* 4096-byte blocks */
	uint64_t hash_start;  /* in 4096-byte blocks, on the same disk */
	char root_hash[65], salt[65];
};

/* The disk /sys/block/BLK (a name like "vda") as "major:minor"; -1 if
 * sysfs does not say. */
int dm_blk_devno(const char *blk, unsigned *maj, unsigned *min);

/* A read-only verity device named name over BLK; node gets its /dev path.
 * -1 with why. */
int dm_open_verity(const char *name, const char *blk, const struct dm_verity_params *p,
		   char node[64], char *why, size_t wn);

/* A dm-crypt device (aes-xts-plain64) over all of BLK, keyed with 64 fresh
 * random bytes that exist only in this call (then only in dm-crypt: the
 * table names a logon key, invalidated once loaded, so no status shows it). */
int dm_open_crypt(const char *name, const char *blk, char node[64], char *why, size_t wn);

/* Reads a verity device's blocks once, so a corrupted one shows before any
 * container runs.  0: all good; 1: *bad is the first block that failed
 * verification; -1: another error, with why. */
int dm_read_all(const char *node, uint64_t blocks, uint64_t *bad, char *why, size_t wn);

/* One /dev/kmsg record: 1 when it is dm-verity reporting a corrupted block
 * of the data device maj:min (*meta: a block of the hash tree), else 0.
 * Bounded: looks at no more than len bytes. */
int dm_kmsg_verity(const char *rec, size_t len, unsigned *maj, unsigned *min, uint64_t *block,
		   bool *meta);

#endif
