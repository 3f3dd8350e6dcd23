// Compiles every SDK header as C++20 with -pedantic -Werror, so C++ plugins can include them.
#include "kiln/kiln.h"

static const kiln_plugin_desc kDesc = {KILN_DESC_INIT, .kinds = KILN_KIND_HOOK, .name = "x"};

int main() {
  kiln_str s = kiln_str_c("x");
  return (kDesc.magic == KILN_PLUGIN_MAGIC && s.len == 1) ? 0 : 1;
}
