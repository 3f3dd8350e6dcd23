/* SPDX-License-Identifier: MIT */
/* Test plugin: a handler written against ABI 1.0 (abi_minor 0, on_mount and on_request only)
 * on modifier1 40. It claims `mount` targets ending in ".m10" and answers with the
 * SCRIPT_NAME and PATH_INFO it sees, so a test can check that a 1.1 host still routes its
 * mounts to it, split as for any plugin. */
#include <stdio.h>
#include <string.h>

#include "kiln/kiln.h"

static const kiln_host_api *host;

static kiln_status on_mount(void *ctx, kiln_str mountpoint, kiln_str target) {
  (void)ctx;
  (void)mountpoint;
  if (target.len < 4 || memcmp(target.ptr + target.len - 4, ".m10", 4) != 0) {
    return KILN_DECLINED;
  }
  return KILN_OK;
}

static kiln_status on_request(void *ctx, kiln_request *r) {
  kiln_str script = KILN_LIT("");
  kiln_str path = KILN_LIT("");
  char out[512];
  int len;
  kiln_header headers[1] = {{KILN_LIT("Content-Type"), KILN_LIT("text/plain")}};
  kiln_str reason = KILN_LIT("OK");
  kiln_str text;
  (void)ctx;
  (void)host->request_var_get(r, kiln_str_c("SCRIPT_NAME"), &script);
  (void)host->request_var_get(r, kiln_str_c("PATH_INFO"), &path);
  len = snprintf(out, sizeof(out), "m10 %.*s|%.*s", (int)script.len, script.ptr, (int)path.len,
                 path.ptr);
  if (len < 0 || host->response_start(r, 200, reason, headers, 1) != KILN_OK) {
    return KILN_ERROR;
  }
  text.ptr = out;
  text.len = (size_t)len;
  return host->response_write(r, text);
}

static kiln_status init(const kiln_host_api *h, kiln_plugin *p, kiln_callbacks *cb) {
  (void)p;
  host = h;
  cb->on_request = on_request;
  cb->on_mount = on_mount;
  return KILN_OK;
}

static const uint8_t modifiers[] = {40};

static const kiln_plugin_desc descriptor = {
    .magic = KILN_PLUGIN_MAGIC, .size = (uint32_t)sizeof(kiln_plugin_desc),
    .abi_major = KILN_ABI_MAJOR, .abi_minor = 0, /* needs only what 1.0 offers */
    .pointer_size = (uint32_t)sizeof(void *), .build_flags = KILN_BUILD_FLAGS_,
    .kinds = KILN_KIND_HANDLER,
    .name = "mount10",
    .version = "1.0.0",
    .modifier1 = modifiers,
    .modifier1_count = KILN_COUNT(modifiers),
    .init = init,
};

KILN_EXPORT const kiln_plugin_desc *kiln_plugin_query_v1(void) { return &descriptor; }
