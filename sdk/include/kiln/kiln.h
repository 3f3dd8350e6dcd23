/* SPDX-License-Identifier: MIT */
/* kiln plugin SDK: the umbrella header. A plugin includes this one file. */
#ifndef KILN_KILN_H
#define KILN_KILN_H

#include "kiln/types.h"
#include "kiln/request.h"
#include "kiln/host.h"
#include "kiln/plugin.h"

#endif /* KILN_KILN_H */
