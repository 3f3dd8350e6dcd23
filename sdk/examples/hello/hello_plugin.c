/* SPDX-License-Identifier: MIT */
/* An example kiln plugin in plain C: answers requests ("Hello, world from C") on modifier1 0,
 * serves apps mounted with `mount = /path=hello:NAME` (greeting NAME; kiln does the routing
 * and hands each request the app it chose), and provides a `hello:` logger that writes each
 * log line to a file with a "[hello] " prefix.
 * Build: see CMakeLists.txt here, or  cc -shared -fPIC $(pkg-config --cflags kiln-sdk) ... */
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC under -std=c99 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kiln/kiln.h"

static const kiln_host_api *host;
static kiln_plugin *self;

/* The plugin's settings: the host writes each option's value into its field (the `options`
 * table below says which) before on_config_done, so the plugin reads no option itself. */
typedef struct hello_settings {
  kiln_str name; /* hello-name */
} hello_settings;

static hello_settings settings;

/* ---- apps: `mount = /path=hello:NAME` ---- */

/* One mounted app: whom it greets. Made in the master before fork; kept for the process. */
typedef struct hello_app {
  char name[64];
} hello_app;

/* kiln offers each mount entry; claim those whose target is `hello:NAME`. The pointer given
 * back in *app comes back with every request kiln routes to this mount. */
static kiln_status on_mount_app(void *ctx, kiln_str mountpoint, kiln_str target, void **app) {
  hello_app *a;
  (void)ctx;
  (void)mountpoint;
  if (target.len < 7 || memcmp(target.ptr, "hello:", 6) != 0) {
    return KILN_DECLINED; /* another plugin's */
  }
  if (target.len - 6 >= sizeof(a->name)) {
    host->error_set(self, kiln_str_c("hello: the name after `hello:` is too long"));
    return KILN_ERROR;
  }
  a = (hello_app *)calloc(1, sizeof(*a));
  if (a == NULL) {
    return KILN_ERROR;
  }
  memcpy(a->name, target.ptr + 6, target.len - 6);
  *app = a;
  return KILN_OK;
}

/* ---- the request handler ---- */

/* `app` is the mounted app kiln chose, or NULL for the default app (`hello-name`).
 * SCRIPT_NAME and PATH_INFO are already split by kiln (manage-script-name). */
static kiln_status on_app_request(void *ctx, kiln_request *r, void *app) {
  kiln_str name = settings.name;
  kiln_str script = KILN_LIT("");
  kiln_str path = KILN_LIT("/");
  char body[512];
  int n;
  kiln_header headers[] = {{KILN_LIT("Content-Type"), KILN_LIT("text/plain")}};
  kiln_str reason = KILN_LIT("OK");
  kiln_str text;
  (void)ctx;
  if (app != NULL) {
    name = kiln_str_c(((const hello_app *)app)->name);
  }
  (void)host->request_var_get(r, kiln_str_c("SCRIPT_NAME"), &script);
  (void)host->request_var_get(r, kiln_str_c("PATH_INFO"), &path);
  n = snprintf(body, sizeof(body), "Hello, %.*s from C (%s%.*s%spath %.*s, worker %d)\n",
               (int)name.len, name.ptr, script.len > 0 ? "mount " : "", (int)script.len,
               script.ptr, script.len > 0 ? ", " : "", (int)path.len, path.ptr,
               host->worker_id());
  if (n < 0 || (size_t)n >= sizeof(body)) {
    host->error_set(self, kiln_str_c("response too long"));
    return KILN_ERROR;
  }
  if (host->response_start(r, 200, reason, headers, 1) != KILN_OK) {
    return KILN_ERROR;
  }
  text.ptr = body;
  text.len = (size_t)n;
  return host->response_write(r, text);
}

/* ---- the logger: `logger = hello:/path/to/file` ---- */

static kiln_status on_logger_open(void *ctx, kiln_str scheme, kiln_str arg, void **handle) {
  char path[4096];
  int *fd = (int *)malloc(sizeof(int));
  (void)ctx;
  (void)scheme;
  if (fd == NULL || arg.len == 0 || arg.len >= sizeof(path)) {
    free(fd);
    host->error_set(self, kiln_str_c("hello: logger needs a path, as in logger = hello:/tmp/x"));
    return KILN_ERROR;
  }
  memcpy(path, arg.ptr, arg.len);
  path[arg.len] = '\0';
  *fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (*fd < 0) {
    free(fd);
    host->error_set(self, kiln_str_c("hello: cannot open the log file"));
    return KILN_ERROR;
  }
  *handle = fd;
  return KILN_OK;
}

static kiln_status on_logger_write(void *handle, kiln_str line) {
  char buf[8192];
  size_t len = line.len < sizeof(buf) - 8 ? line.len : sizeof(buf) - 8;
  memcpy(buf, "[hello] ", 8);
  memcpy(buf + 8, line.ptr, len); /* one write() per line keeps lines whole */
  return write(*(int *)handle, buf, len + 8) == (ssize_t)(len + 8) ? KILN_OK : KILN_ERROR;
}

static void on_logger_close(void *handle) {
  close(*(int *)handle);
  free(handle);
}

/* ---- registration ---- */

static kiln_status init(const kiln_host_api *h, kiln_plugin *p, kiln_callbacks *cb) {
  host = h;
  self = p;
  cb->on_mount_app = on_mount_app;
  cb->on_app_request = on_app_request;
  cb->on_logger_open = on_logger_open;
  cb->on_logger_write = on_logger_write;
  cb->on_logger_close = on_logger_close;
  return KILN_OK;
}

static const kiln_option_def options[] = {
    {"hello-name", KILN_OPT_STRING, "world", "Who the hello plugin greets.", 0, "hello-who",
     KILN_FIELD(hello_settings, name)},
};
static const uint8_t modifiers[] = {0};
static const char *const schemes[] = {"hello"};

static const kiln_plugin_desc descriptor = {
    KILN_DESC_INIT,
    .kinds = KILN_KIND_HANDLER | KILN_KIND_LOGGER,
    .name = "hello",
    .version = "1.0.0",
    .modifier1 = modifiers,
    .modifier1_count = KILN_COUNT(modifiers),
    .logger_schemes = schemes,
    .logger_scheme_count = KILN_COUNT(schemes),
    .init = init,
    KILN_OPTION_DEFS(options),
    KILN_SETTINGS(settings),
};

KILN_EXPORT const kiln_plugin_desc *kiln_plugin_query_v1(void) { return &descriptor; }
