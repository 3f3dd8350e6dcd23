// The fake hosts' option filling: the real registry, Resolve and FillOptionFields.
#include "tests/lib/plugin_settings.h"

#include "core/config/config.h"
#include "core/config/diagnostics.h"
#include "core/config/option_registry.h"
#include "core/plugin/option_table.h"

namespace kiln::testing {

std::string FillPluginSettings(const kiln_plugin_desc& desc,
                               const std::vector<std::pair<std::string, std::string>>& entries) {
  config::OptionRegistry registry = config::OptionRegistry::WithCoreOptions();
  absl::Status st = plugin::CheckExternOptions(desc, registry);
  for (config::OptionSpec& spec : plugin::DeclaredOptions(desc)) {
    if (!st.ok()) break;
    st = registry.Add(std::move(spec));
  }
  if (!st.ok()) return std::string(st.message());
  config::RawConfig raw;
  int line = 0;
  for (const auto& [key, value] : entries) {
    raw.entries.push_back(config::Entry{key, value, "test.ini", ++line, false});
  }
  config::Diagnostics diag;
  absl::StatusOr<config::Config> cfg = config::Resolve(raw, registry, nullptr, diag);
  if (!cfg.ok()) return std::string(cfg.status().message());
  plugin::FillOptionFields(desc, *cfg);
  return "";
}

}  // namespace kiln::testing
