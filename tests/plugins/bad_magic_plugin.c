/* SPDX-License-Identifier: MIT */
/* Test plugin: a descriptor whose magic is wrong (not a kiln descriptor). */
#include "kiln/kiln.h"

static const kiln_plugin_desc descriptor = {
    .magic = 0x12345678u, .size = (uint32_t)sizeof(kiln_plugin_desc),
    .abi_major = KILN_ABI_MAJOR, .kinds = KILN_KIND_HOOK, .name = "bad_magic", .version = "0",
};

KILN_EXPORT const kiln_plugin_desc *kiln_plugin_query_v1(void) { return &descriptor; }
