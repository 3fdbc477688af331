/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's disk preparation: dm-verity for images, dm-crypt and mke2fs
 * for the ephemeral disk (disk.c). */
#ifndef MOAT_AGENT_DISK_H
#define MOAT_AGENT_DISK_H

#include <jansson.h>
#include <stddef.h>

/* Why a pod cannot go on: reason is a CamelCase word for the pod's status
 * ("ImageIntegrity"), empty for other failures; message says what. */
struct disk_fail {
	char reason[32];
	char message[256];
};

/* Sets up what the RUN message's disk entry d asks for over /dev/BLK;
 * src receives the device to mount, and *data mount options when the disk
 * needs its own (left alone otherwise).  -1 with f filled. */
int disk_prepare(json_t *d, size_t index, const char *blk, char src[64], const char **data,
		 struct disk_fail *f);

/* /dev/kmsg, positioned at its end; -1 when it does not open. */
int disk_kmsg_open(void);
/* Reads the records waiting on fd: 1 with f filled when dm-verity reported
 * a corrupted block of an image disk set up by disk_prepare. */
int disk_kmsg_check(int fd, struct disk_fail *f);

#endif
