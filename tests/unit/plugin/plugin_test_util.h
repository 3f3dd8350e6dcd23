// Helpers for plugin-set tests: where the test plugins are, raw configs in one line.
#pragma once

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/base/check.h"
#include "core/config/config.h"
#include "core/plugin/plugin_set.h"

namespace kiln::plugin::testing {

inline std::string BinaryDir() {
  const char* dir = std::getenv("KILN_BINARY_DIR");
  return dir == nullptr ? KILN_TEST_BINARY_DIR : dir;
}
inline std::string TestPluginDir() { return BinaryDir() + "/tests/plugins"; }
inline std::string BuildPluginDir() {
  const char* dir = std::getenv("KILN_PLUGIN_BUILD_DIR");
  return dir == nullptr ? KILN_TEST_PLUGIN_BUILD_DIR : dir;
}

// {{"plugins", "echo"}, ...} as entries of app.ini, line numbers from 1.
inline config::RawConfig Raw(const std::vector<std::pair<std::string, std::string>>& kv) {
  config::RawConfig raw;
  int line = 1;
  for (const auto& [k, v] : kv) {
    raw.entries.push_back(config::Entry{k, v, "app.ini", line++, false});
  }
  return raw;
}

// A loaded and configured set, as main builds it.
struct Server {
  config::OptionRegistry registry = config::OptionRegistry::WithCoreOptions();
  config::Diagnostics diag;
  std::unique_ptr<PluginSet> set;
  std::optional<config::Config> cfg;

  explicit Server(const config::RawConfig& raw, std::vector<std::string> dirs) {
    auto loaded = PluginSet::LoadWith(raw, registry, diag, SearchPath{std::move(dirs)});
    KILN_CHECK(loaded.ok(), "load failed");
    set = std::move(*loaded);
    auto resolved = config::Resolve(raw, registry, set->Providers(), diag);
    KILN_CHECK(resolved.ok(), "resolve failed");
    cfg.emplace(std::move(*resolved));
    KILN_CHECK(set->ConfigDone(*cfg).ok(), "config done failed");
  }
};

}  // namespace kiln::plugin::testing
