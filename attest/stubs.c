/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholders while attest is being built: each goes as its file lands. */
#include "attest.h"

#include <errno.h>

#define NOT_BUILT(err) moat_error_set(err, ENOSYS, "not built yet")

