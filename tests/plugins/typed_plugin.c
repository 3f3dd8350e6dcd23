/* SPDX-License-Identifier: MIT */
/* Test plugin: an option table (ABI 1.1) with a destination of every kind, aliases, a comma
 * list, a row without a destination and extern rows for two core options. It reads no option
 * itself: on_config_done prints the settings the host wrote into one line, which a request
 * answers with (modifier1 0) and typed_plugin_seen() returns to a unit test. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "kiln/kiln.h"

typedef struct typed_settings {
  int flag;
  bool quiet;
  int64_t number;
  uint64_t size;
  int64_t duration_ms;
  kiln_str string;
  kiln_str_list list;
  kiln_str_list csv;
  int64_t processes; /* core's */
  kiln_str uid;      /* core's */
} typed_settings;

static const kiln_host_api *host;
static typed_settings settings;
static char seen[2048];

/* Appends the items of a list as "[a|b]", each checked for the NUL after it. */
static int append_list(char *out, size_t size, const kiln_str_list *list) {
  size_t used = strlen(out);
  size_t i;
  for (i = 0; i < list->count && used < size; ++i) {
    const kiln_str *item = &list->items[i];
    int n = snprintf(out + used, size - used, "%s%.*s%s", i == 0 ? "[" : "|", (int)item->len,
                     item->ptr, item->ptr[item->len] == '\0' ? "" : "(unterminated)");
    if (n < 0) {
      return -1;
    }
    used += (size_t)n;
  }
  if (used < size) {
    snprintf(out + used, size - used, "%s", list->count == 0 ? "[]" : "]");
  }
  return 0;
}

static kiln_status on_config_done(void *ctx) {
  (void)ctx;
  snprintf(seen, sizeof(seen),
           "flag=%d quiet=%d number=%lld size=%llu duration_ms=%lld string=%.*s%s processes=%lld "
           "uid=%.*s list=",
           settings.flag, settings.quiet ? 1 : 0, (long long)settings.number,
           (unsigned long long)settings.size, (long long)settings.duration_ms,
           (int)settings.string.len, settings.string.ptr,
           settings.string.ptr[settings.string.len] == '\0' ? "" : "(unterminated)",
           (long long)settings.processes, (int)settings.uid.len, settings.uid.ptr);
  append_list(seen, sizeof(seen), &settings.list);
  strncat(seen, " csv=", sizeof(seen) - strlen(seen) - 1);
  append_list(seen, sizeof(seen), &settings.csv);
  return KILN_OK;
}

static kiln_status on_request(void *ctx, kiln_request *r) {
  kiln_header headers[1] = {{KILN_LIT("Content-Type"), KILN_LIT("text/plain")}};
  kiln_str reason = KILN_LIT("OK");
  (void)ctx;
  if (host->response_start(r, 200, reason, headers, 1) != KILN_OK) {
    return KILN_ERROR;
  }
  return host->response_write(r, kiln_str_c(seen));
}

static kiln_status init(const kiln_host_api *h, kiln_plugin *p, kiln_callbacks *cb) {
  (void)p;
  host = h;
  cb->on_config_done = on_config_done;
  cb->on_request = on_request;
  return KILN_OK;
}

static const kiln_option_def options[] = {
    {"typed-flag", KILN_OPT_FLAG, "false", "A flag into an int.", 0, "tflag",
     KILN_FIELD(typed_settings, flag)},
    {"typed-quiet", KILN_OPT_FLAG, "true", "A flag into a bool.", 0, NULL,
     KILN_FIELD(typed_settings, quiet)},
    {"typed-number", KILN_OPT_NUMBER, "7", "A number.", 0, "tnum|typed-count",
     KILN_FIELD(typed_settings, number)},
    {"typed-size", KILN_OPT_SIZE, "64k", "A size.", 0, NULL, KILN_FIELD(typed_settings, size)},
    {"typed-duration", KILN_OPT_DURATION, "90s", "A duration.", 0, "tdur",
     KILN_FIELD(typed_settings, duration_ms)},
    {"typed-string", KILN_OPT_STRING, "dflt", "A string.", 0, "tstr",
     KILN_FIELD(typed_settings, string)},
    {"typed-list", KILN_OPT_LIST, "", "A list.", 0, "tlist", KILN_FIELD(typed_settings, list)},
    {"typed-csv", KILN_OPT_LIST, "", "A comma list.", KILN_OPTF_COMMA_LIST, NULL,
     KILN_FIELD(typed_settings, csv)},
    {"typed-plain", KILN_OPT_STRING, "", "No destination: only registered.", 0, NULL,
     KILN_NO_FIELD},
    {"processes", KILN_OPT_NUMBER, NULL, NULL, KILN_OPTF_EXTERN, NULL,
     KILN_FIELD(typed_settings, processes)},
    {"uid", KILN_OPT_STRING, NULL, NULL, KILN_OPTF_EXTERN, NULL, KILN_FIELD(typed_settings, uid)},
};
static const uint8_t modifiers[] = {0};

static const kiln_plugin_desc descriptor = {
    KILN_DESC_INIT,
    .kinds = KILN_KIND_HANDLER,
    .name = "typed",
    .version = "1.1.0",
    .modifier1 = modifiers,
    .modifier1_count = KILN_COUNT(modifiers),
    .init = init,
    KILN_OPTION_DEFS(options),
    KILN_SETTINGS(settings),
};

KILN_EXPORT const kiln_plugin_desc *kiln_plugin_query_v1(void) { return &descriptor; }

/* What on_config_done saw, for unit tests (dlsym). */
KILN_EXPORT const char *typed_plugin_seen(void) { return seen; }
