// Compiles every SDK header as C++20 with -pedantic -Werror, so C++ plugins can include them,
// and checks that kiln::sdk::Guard turns an exception into KILN_ERROR with its message.
#include <stdexcept>
#include <string>

#include "kiln/kiln.h"
#include "kiln/plugin.hpp"

static const kiln_plugin_desc kDesc = {KILN_DESC_INIT, .kinds = KILN_KIND_HOOK, .name = "x"};
static std::string g_error;

static void ErrorSet(kiln_plugin*, kiln_str msg) { g_error.assign(msg.ptr, msg.len); }

int main() {
  kiln_host_api host{};
  host.size = sizeof(host);
  host.error_set = ErrorSet;
  kiln_status ok = kiln::sdk::Guard(&host, nullptr, [] { return KILN_OK; });
  kiln_status thrown = kiln::sdk::Guard(&host, nullptr, []() -> kiln_status {
    throw std::runtime_error("boom");
  });
  bool good = kDesc.magic == KILN_PLUGIN_MAGIC && ok == KILN_OK && thrown == KILN_ERROR &&
              g_error == "boom";
  return good ? 0 : 1;
}
