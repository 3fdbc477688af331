/* SPDX-License-Identifier: Apache-2.0 */
/* Where the runtime keeps its state. */
#include "runtime.h"

#include <stdlib.h>

const char *runtime_state_dir(const char *opt)
{
	if (opt && *opt)
		return opt;
	const char *env = getenv("MOAT_STATE_DIR");
	return env && *env ? env : RUNTIME_STATE_DIR;
}
