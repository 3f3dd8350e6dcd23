// A log::Sink backed by a logger plugin's callbacks (`logger = file:/path` through the logfile
// plugin). Adapts the C logger ops to the core's Sink interface; holds no logic of its own.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/log/logger.h"
#include "core/plugin/loaded_plugin.h"

namespace kiln::plugin {

// Calls the plugin's on_logger_open(scheme, arg). Errors carry the plugin's message.
absl::StatusOr<std::unique_ptr<log::Sink>> OpenPluginSink(LoadedPlugin& plugin,
                                                          const std::string& scheme,
                                                          std::string_view arg);

}  // namespace kiln::plugin
