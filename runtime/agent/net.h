/* SPDX-License-Identifier: Apache-2.0 */
/* The guest agent's network setup (net.c). */
#ifndef MOAT_AGENT_NET_H
#define MOAT_AGENT_NET_H

#include <jansson.h>
#include <stddef.h>

/* From the RUN message's "network": lo and the NIC up with the pod's
 * address, the default route, and /etc/hosts, /etc/hostname and
 * /etc/resolv.conf written under podroot/etc and added to every
 * container's mounts.  0 when the pod has no network; -1 with why. */
int agent_net_setup(json_t *pod, const char *podroot, char *why, size_t n);

#endif
