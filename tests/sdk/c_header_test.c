/* SPDX-License-Identifier: MIT */
/* Compiles every SDK header as strict C99 (-pedantic -Werror) and checks, at run time, the
 * few things the headers compute: KILN_HAS, KILN_LIT, KILN_STR, kiln_str_c, the descriptor
 * header. */
#include "kiln/host.h"
#include "kiln/kiln.h"
#include "kiln/plugin.h"
#include "kiln/request.h"
#include "kiln/types.h"

#include <stdio.h>

#define EXPECT(cond)                                      \
  do {                                                    \
    if (!(cond)) {                                        \
      fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); \
      return 1;                                           \
    }                                                     \
  } while (0)

static const kiln_plugin_desc positional = {
    KILN_DESC_HEADER, 0, KILN_KIND_HOOK, "x", "1", NULL, NULL, NULL, 0, NULL, 0, NULL, 0, NULL, 0,
    NULL, NULL, 0, 0, NULL, 0};
static const kiln_plugin_desc designated = {KILN_DESC_INIT, .name = "x"};

/* A 1.1 option table with destinations, as C99 writes it. */
typedef struct settings_t {
  int flag;
  int64_t number;
  kiln_str text;
  kiln_str_list list;
} settings_t;
static settings_t settings;
static const kiln_option_def defs[] = {
    {"x-flag", KILN_OPT_FLAG, "false", "F.", 0, "xf|x-f", KILN_FIELD(settings_t, flag)},
    {"x-number", KILN_OPT_NUMBER, "1", "N.", 0, NULL, KILN_FIELD(settings_t, number)},
    {"x-text", KILN_OPT_STRING, "", "T.", 0, NULL, KILN_FIELD(settings_t, text)},
    {"x-list", KILN_OPT_LIST, "", "L.", KILN_OPTF_COMMA_LIST, NULL, KILN_FIELD(settings_t, list)},
    {"uid", KILN_OPT_STRING, NULL, NULL, KILN_OPTF_EXTERN, NULL, KILN_NO_FIELD}};
static const kiln_plugin_desc with_defs = {
    KILN_DESC_INIT, .name = "x", KILN_OPTION_DEFS(defs), KILN_SETTINGS(settings)};

int main(void) {
  kiln_host_api api;
  kiln_callbacks cb;
  kiln_str lit = KILN_LIT("abc");
  kiln_str c = kiln_str_c("abc");
  kiln_str null = kiln_str_c(NULL);

  memset(&api, 0, sizeof(api));
  api.size = (uint32_t)((const char *)&api.request_var_get - (const char *)&api);
  EXPECT(KILN_HAS(&api, option_get));
  EXPECT(!KILN_HAS(&api, request_var_get));
  api.size = sizeof(api);
  EXPECT(KILN_HAS(&api, time_realtime_us));
  memset(&cb, 0, sizeof(cb));
  cb.size = sizeof(cb);
  EXPECT(KILN_HAS(&cb, on_logger_close));
  EXPECT(lit.len == 3 && kiln_str_eq(lit, c));
  EXPECT(kiln_str_eq(KILN_STR("abc"), c) && KILN_STR("").len == 0); /* as an argument */
  EXPECT(null.len == 0 && null.ptr != NULL);
  EXPECT(positional.magic == KILN_PLUGIN_MAGIC && positional.size == sizeof(kiln_plugin_desc));
  EXPECT(designated.abi_major == KILN_ABI_MAJOR && designated.pointer_size == sizeof(void *));
  EXPECT(with_defs.option_defs == defs && with_defs.option_def_count == 5);
  EXPECT(with_defs.option_def_size == sizeof(kiln_option_def));
  EXPECT(with_defs.settings == &settings && with_defs.settings_size == sizeof(settings_t));
  EXPECT(defs[1].field.offset == offsetof(settings_t, number) && defs[1].field.size == 8);
  EXPECT(defs[4].field.size == 0);
  EXPECT(KILN_ABI_MINOR >= 1 && with_defs.abi_minor == KILN_ABI_MINOR);
  EXPECT(KILN_OK == 0);
  return 0;
}
