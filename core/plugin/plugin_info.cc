// `kiln --plugin-info`: opens a plugin file, checks its descriptor as the loader would and
// prints every field, without calling the plugin's init.
#include "core/plugin/plugin_info.h"

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/base/status_macros.h"
#include "core/plugin/abi_check.h"
#include "core/plugin/loader.h"
#include "core/plugin/option_table.h"

namespace kiln::plugin {
namespace {

const char* KindNames(uint32_t kinds) {
  switch (kinds & (KILN_KIND_HANDLER | KILN_KIND_LOGGER | KILN_KIND_HOOK)) {
    case KILN_KIND_HANDLER:
      return "handler";
    case KILN_KIND_LOGGER:
      return "logger";
    case KILN_KIND_HOOK:
      return "hook";
    case KILN_KIND_HANDLER | KILN_KIND_LOGGER:
      return "handler, logger";
    case KILN_KIND_HANDLER | KILN_KIND_HOOK:
      return "handler, hook";
    case KILN_KIND_LOGGER | KILN_KIND_HOOK:
      return "logger, hook";
    default:
      return "handler, logger, hook";
  }
}

}  // namespace

std::string ModifierList(const std::vector<uint8_t>& mods) {
  std::vector<int> ints(mods.begin(), mods.end());
  return absl::StrJoin(ints, ", ");
}


absl::StatusOr<std::string> PluginInfo(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(OpenedLibrary lib, OpenLibrary(path));
  HostAbi abi = HostAbi::Current();
  KILN_RETURN_IF_ERROR(CheckDescriptor(lib.desc, path, abi));
  const kiln_plugin_desc& d = *lib.desc;
  std::string out;
  absl::StrAppendFormat(&out, "file: %s\n", path);
  absl::StrAppendFormat(&out, "name: %s\n", d.name);
  absl::StrAppendFormat(&out, "version: %s\n", d.version);
  absl::StrAppendFormat(&out, "runtime: %s\n", d.runtime == nullptr ? "-" : d.runtime);
  absl::StrAppendFormat(&out, "abi: %d.%d (this kiln provides %d.%d)\n", d.abi_major, d.abi_minor,
                        abi.major, abi.minor);
  absl::StrAppendFormat(&out, "kinds: %s\n", KindNames(d.kinds));
  std::vector<std::string> aliases;
  for (size_t i = 0; i < d.alias_count; ++i) {
    aliases.emplace_back(d.aliases[i]);
  }
  absl::StrAppendFormat(&out, "aliases: %s\n",
                        aliases.empty() ? "-" : absl::StrJoin(aliases, ", "));
  std::vector<uint8_t> mods(d.modifier1, d.modifier1 + d.modifier1_count);
  absl::StrAppendFormat(&out, "modifier1: %s\n", mods.empty() ? "-" : ModifierList(mods));
  std::vector<std::string> schemes;
  for (size_t i = 0; i < d.logger_scheme_count; ++i) {
    schemes.push_back(absl::StrCat(d.logger_schemes[i], ":"));
  }
  absl::StrAppendFormat(&out, "logger schemes: %s\n",
                        schemes.empty() ? "-" : absl::StrJoin(schemes, " "));
  absl::StrAppendFormat(&out, "flags: %s%s\n",
                        (d.flags & KILN_PLUGIN_GLOBAL_SYMBOLS) != 0 ? "global-symbols" : "-",
                        (d.build_flags & KILN_BUILD_SANITIZER) != 0 ? ", sanitizer build" : "");
  std::vector<config::OptionSpec> options = DeclaredOptions(d);
  absl::StrAppendFormat(&out, "options: %d\n", options.size());
  for (const config::OptionSpec& o : options) {
    absl::StrAppendFormat(&out, "  %s (%s", o.name, config::OptionKindName(o.kind));
    if (!o.default_value.empty()) absl::StrAppendFormat(&out, ", default %s", o.default_value);
    if (!o.aliases.empty()) {
      absl::StrAppendFormat(&out, ", alias %s", absl::StrJoin(o.aliases, ", "));
    }
    absl::StrAppendFormat(&out, "): %s\n", o.help);
  }
  return out;
}

}  // namespace kiln::plugin
