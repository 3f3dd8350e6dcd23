// Compiles every SDK header as C++20 with -pedantic -Werror, so C++ plugins can include them,
// and checks that kiln::sdk::Guard turns an exception into KILN_ERROR with its message.
#include <stdexcept>
#include <string>

#include "kiln/kiln.h"
#include "kiln/plugin.hpp"

// A 1.1 option table as C++20 writes it: a standard-layout settings struct, designated fields.
struct Settings {
  int flag;
  kiln_str text;
};
Settings g_settings;
const kiln_option_def kDefs[] = {
    {"x-flag", KILN_OPT_FLAG, "false", "F.", 0, "xf", KILN_FIELD(Settings, flag)},
    {"x-text", KILN_OPT_STRING, "", "T.", 0, nullptr, KILN_FIELD(Settings, text)}};
static const kiln_plugin_desc kDesc = {KILN_DESC_INIT, .kinds = KILN_KIND_HOOK, .name = "x",
                                       KILN_OPTION_DEFS(kDefs), KILN_SETTINGS(g_settings)};
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
  kiln_str arg = KILN_STR("as an argument");
  bool named = arg.len == 14 && std::string(arg.ptr, arg.len) == "as an argument";
  bool good = named && kDesc.magic == KILN_PLUGIN_MAGIC && ok == KILN_OK && thrown == KILN_ERROR &&
              g_error == "boom" && kDesc.option_def_count == 2 &&
              kDesc.settings == &g_settings && kDefs[1].field.offset == offsetof(Settings, text);
  return good ? 0 : 1;
}
