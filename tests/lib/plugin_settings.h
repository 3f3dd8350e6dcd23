// For plugin tests that drive a plugin .so without the kiln binary (the fake hosts): writes the
// plugin's settings struct from key = value entries exactly as kiln does before
// on_config_done, with the core's option registry, config resolution and generic setter.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "kiln/plugin.h"

namespace kiln::testing {

// Registers core's options and the plugin's (checking its extern rows), resolves `entries`
// (as if read from test.ini, one per line) and fills desc.settings. Returns "" on success,
// else the error kiln would print (a bad value names test.ini:N).
std::string FillPluginSettings(const kiln_plugin_desc& desc,
                               const std::vector<std::pair<std::string, std::string>>& entries);

}  // namespace kiln::testing
