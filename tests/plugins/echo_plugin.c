/* SPDX-License-Identifier: MIT */
/* Test plugin: a handler on modifier1 0 that answers with the request's method, path, body and
 * the value of its own option `echo-greeting`. Exercises the request half of the host table;
 * /scoreboard answers with what scoreboard_worker says of the worker serving it. */
#include <stdio.h>
#include <string.h>

#include "kiln/kiln.h"

static const kiln_host_api *host;
static kiln_plugin *self;
static int config_done_calls;
static int serve_threads_done_calls; /* on_serve_threads_done (SDK 1.5) */

static void on_serve_threads_done(void *ctx) {
  (void)ctx;
  ++serve_threads_done_calls;
}

/* request_wait_hook (SDK 1.6): /wait-hook sets one for its request and leaves it set. */
static int wait_hook_calls;
static void wait_hook(void *ctx, int waiting) {
  (void)ctx;
  (void)waiting;
  ++wait_hook_calls;
}

static kiln_status on_config_done(void *ctx) {
  (void)ctx;
  ++config_done_calls;
  return KILN_OK;
}

static kiln_status on_request(void *ctx, kiln_request *r) {
  kiln_str method = KILN_LIT("?");
  kiln_str path = KILN_LIT("?");
  kiln_str greeting = KILN_LIT("hello");
  char body[256];
  size_t got = 0;
  size_t n = 0;
  char out[1024];
  int len;
  kiln_header headers[1] = {{KILN_LIT("Content-Type"), KILN_LIT("text/plain")}};
  kiln_str reason = KILN_LIT("OK");
  kiln_str text;
  kiln_worker_stats stats;
  kiln_status st;
  (void)ctx;
  (void)host->request_var_get(r, kiln_str_c("REQUEST_METHOD"), &method);
  (void)host->request_var_get(r, kiln_str_c("PATH_INFO"), &path);
  (void)host->option_get(self, kiln_str_c("echo-greeting"), &greeting);
  if (path.len == 10 && memcmp(path.ptr, "/wait-hook", 10) == 0 &&
      KILN_HAS(host, request_wait_hook)) {
    host->request_wait_hook(r, wait_hook, &wait_hook_calls);
  }
  do {
    if (host->request_body_read(r, body + got, sizeof(body) - got, &n) != KILN_OK) {
      return KILN_ERROR;
    }
    got += n;
  } while (n > 0 && got < sizeof(body));
  len = snprintf(out, sizeof(out), "%.*s %.*s %.*s body=%.*s vars=%u", (int)greeting.len,
                 greeting.ptr, (int)method.len, method.ptr, (int)path.len, path.ptr, (int)got, body,
                 (unsigned)host->request_var_count(r));
  if (path.len == 11 && memcmp(path.ptr, "/scoreboard", 11) == 0) {
    memset(&stats, 0, sizeof(stats));
    stats.size = sizeof(stats);
    st = host->scoreboard_worker(host->worker_id(), &stats);
    len = snprintf(out, sizeof(out), "status=%d worker=%d pid=%d state=%u requests=%llu since=%lld",
                   (int)st, (int)stats.worker_id, (int)stats.pid, (unsigned)stats.state,
                   (unsigned long long)stats.requests, (long long)stats.request_start_us);
  }
  if (path.len == 13 && memcmp(path.ptr, "/threads-done", 13) == 0) {
    len = snprintf(out, sizeof(out), "serve_threads_done=%d", serve_threads_done_calls);
  }
  if (len < 0) {
    return KILN_ERROR;
  }
  if (strncmp(path.ptr, "/fail", path.len < 5 ? path.len : 5) == 0 && path.len >= 5) {
    host->error_set(self, kiln_str_c("asked to fail"));
    return KILN_ERROR;
  }
  if (host->response_start(r, 200, reason, headers, 1) != KILN_OK) {
    return KILN_ERROR;
  }
  text.ptr = out;
  text.len = (size_t)len;
  return host->response_write(r, text);
}

static kiln_status init(const kiln_host_api *h, kiln_plugin *p, kiln_callbacks *cb) {
  host = h;
  self = p;
  cb->on_config_done = on_config_done;
  cb->on_request = on_request;
  cb->on_serve_threads_done = on_serve_threads_done;
  return KILN_OK;
}

static const kiln_option_spec options[] = {
    {"echo-greeting", KILN_OPT_STRING, "hello", "First word of every echo answer.", 0},
    {"echo-shout", KILN_OPT_FLAG, "false", "Accepted and ignored (for autoload tests).", 0},
};
static const uint8_t modifiers[] = {0};

static const kiln_plugin_desc descriptor = {
    KILN_DESC_INIT,
    .kinds = KILN_KIND_HANDLER,
    .name = "echo",
    .version = "1.2.3",
    .modifier1 = modifiers,
    .modifier1_count = KILN_COUNT(modifiers),
    .options = options,
    .option_count = KILN_COUNT(options),
    .init = init,
};

KILN_EXPORT const kiln_plugin_desc *kiln_plugin_query_v1(void) { return &descriptor; }
