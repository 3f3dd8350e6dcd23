/* SPDX-License-Identifier: MIT */
/* Test plugin: declares the option `echo-greeting`, which the echo plugin owns. */
#include "kiln/kiln.h"

static const kiln_option_spec options[] = {
    {"echo-greeting", KILN_OPT_STRING, "", "Clashes with the echo plugin's option.", 0},
};

static const kiln_plugin_desc descriptor = {
    KILN_DESC_INIT,
    .kinds = KILN_KIND_HOOK,
    .name = "dup_option",
    .version = "0",
    .options = options,
    .option_count = KILN_COUNT(options),
};

KILN_EXPORT const kiln_plugin_desc *kiln_plugin_query_v1(void) { return &descriptor; }
