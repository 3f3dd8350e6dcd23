/* SPDX-License-Identifier: MIT */
/* Test plugin: built for a future ABI major (2); the loader must refuse it naming both majors. */
#include "kiln/kiln.h"

static const kiln_plugin_desc descriptor = {
    .magic = KILN_PLUGIN_MAGIC, .size = (uint32_t)sizeof(kiln_plugin_desc), .abi_major = 2,
    .abi_minor = 0, .pointer_size = (uint32_t)sizeof(void *), .build_flags = KILN_BUILD_FLAGS_,
    .kinds = KILN_KIND_HOOK, .name = "abi_major2", .version = "0",
};

KILN_EXPORT const kiln_plugin_desc *kiln_plugin_query_v1(void) { return &descriptor; }
