/* SPDX-License-Identifier: MIT */
/* Test plugin: a handler claiming modifier1 0, which the echo plugin also claims. */
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

static const uint8_t modifiers[] = {0};

static const kiln_plugin_desc descriptor = {
    KILN_DESC_INIT,
    .kinds = KILN_KIND_HANDLER,
    .name = "dup_modifier",
    .version = "0",
    .modifier1 = modifiers,
    .modifier1_count = KILN_COUNT(modifiers),
    .init = init,
};

KILN_EXPORT const kiln_plugin_desc *kiln_plugin_query_v1(void) { return &descriptor; }
