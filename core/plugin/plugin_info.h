// `kiln --plugin-info file.so`: a plugin file's descriptor as text, read without running
// the plugin's init; and the wording of modifier1 lists it shares with the start-up banner.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::plugin {

// The descriptor of a plugin file as text, for `kiln --plugin-info file.so`; the loader's
// refusal when the file is not a loadable kiln plugin. Runs no plugin code but the query.
absl::StatusOr<std::string> PluginInfo(const std::string& path);

// "0, 30": modifier1 numbers as the banner and --plugin-info print them.
std::string ModifierList(const std::vector<uint8_t>& mods);

}  // namespace kiln::plugin
