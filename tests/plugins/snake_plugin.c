/* SPDX-License-Identifier: MIT */
/* Test plugin: stands in for a language plugin with versioned aliases ("snake3", "snake3*")
 * that embeds "snake 3.11.2", asks for RTLD_GLOBAL, and serves modifier1 30. */
#include "kiln/kiln.h"

static kiln_status on_request(void *ctx, kiln_request *r) {
  (void)ctx;
  (void)r;
  return KILN_DECLINED;
}

static kiln_status init(const kiln_host_api *h, kiln_plugin *p, kiln_callbacks *cb) {
  (void)h;
  (void)p;
  cb->on_request = on_request;
  return KILN_OK;
}

static const char *const aliases[] = {"snake3", "snake3*"};
static const uint8_t modifiers[] = {30};

static const kiln_plugin_desc descriptor = {
    KILN_DESC_INIT,
    .flags = KILN_PLUGIN_GLOBAL_SYMBOLS,
    .kinds = KILN_KIND_HANDLER,
    .name = "snake",
    .version = "0.1.0",
    .runtime = "snake 3.11.2",
    .versioned_name = "snake311",
    .aliases = aliases,
    .alias_count = KILN_COUNT(aliases),
    .modifier1 = modifiers,
    .modifier1_count = KILN_COUNT(modifiers),
    .init = init,
};

KILN_EXPORT const kiln_plugin_desc *kiln_plugin_query_v1(void) { return &descriptor; }
