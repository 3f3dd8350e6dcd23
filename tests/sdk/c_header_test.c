/* SPDX-License-Identifier: MIT */
/* Compiles every SDK header as strict C99 (-pedantic -Werror) and checks, at run time, the
 * few things the headers compute: KILN_HAS, KILN_LIT, kiln_str_c, the descriptor header. */
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
    NULL};
static const kiln_plugin_desc designated = {KILN_DESC_INIT, .name = "x"};

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
  EXPECT(null.len == 0 && null.ptr != NULL);
  EXPECT(positional.magic == KILN_PLUGIN_MAGIC && positional.size == sizeof(kiln_plugin_desc));
  EXPECT(designated.abi_major == KILN_ABI_MAJOR && designated.pointer_size == sizeof(void *));
  EXPECT(KILN_OK == 0);
  return 0;
}
