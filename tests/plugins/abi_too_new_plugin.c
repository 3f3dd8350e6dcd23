/* SPDX-License-Identifier: MIT */
/* Test plugin: needs a host minor one above this SDK's; the loader must refuse it naming both. */
#include "kiln/kiln.h"

static const kiln_plugin_desc descriptor = {
    .magic = KILN_PLUGIN_MAGIC, .size = (uint32_t)sizeof(kiln_plugin_desc),
    .abi_major = KILN_ABI_MAJOR, .abi_minor = KILN_ABI_MINOR + 1,
    .pointer_size = (uint32_t)sizeof(void *), .build_flags = KILN_BUILD_FLAGS_,
    .kinds = KILN_KIND_HOOK, .name = "abi_too_new", .version = "0",
};

KILN_EXPORT const kiln_plugin_desc *kiln_plugin_query_v1(void) { return &descriptor; }
