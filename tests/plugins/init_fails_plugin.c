/* SPDX-License-Identifier: MIT */
/* Test plugin: its init fails with a message; startup must stop with that message. */
#include "kiln/kiln.h"

static kiln_status init(const kiln_host_api *h, kiln_plugin *p, kiln_callbacks *cb) {
  (void)cb;
  h->error_set(p, kiln_str_c("the frobnicator is missing"));
  return KILN_ERROR;
}

static const kiln_plugin_desc descriptor = {
    KILN_DESC_INIT,
    .kinds = KILN_KIND_HOOK,
    .name = "init_fails",
    .version = "0",
    .init = init,
};

KILN_EXPORT const kiln_plugin_desc *kiln_plugin_query_v1(void) { return &descriptor; }
