// The plugin set in words for the start-up banner: one line per loaded plugin (name,
// version, runtime, modifier1 numbers, logger schemes), and the names in load order.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/plugin/plugin_info.h"
#include "core/plugin/plugin_set.h"

namespace kiln::plugin {

std::vector<std::string> PluginSet::Describe() const {
  std::vector<std::string> out;
  for (const auto& p : plugins_) {
    std::string line = absl::StrFormat("%s %s", p->name, p->desc->version);
    if (p->desc->runtime != nullptr) {
      absl::StrAppend(&line, " (", p->desc->runtime, ")");
    }
    if (!p->modifier1.empty()) {
      absl::StrAppend(&line, ", modifier1 ", ModifierList(p->modifier1));
    }
    if (p->desc->logger_scheme_count > 0) {
      std::vector<std::string> schemes;
      for (size_t i = 0; i < p->desc->logger_scheme_count; ++i) {
        schemes.push_back(absl::StrCat(p->desc->logger_schemes[i], ":"));
      }
      absl::StrAppend(&line, ", logger ", absl::StrJoin(schemes, " "));
    }
    out.push_back(std::move(line));
  }
  return out;
}

std::vector<std::string> PluginSet::Names() const {
  std::vector<std::string> out;
  for (const auto& p : plugins_) {
    out.push_back(p->name);
  }
  return out;
}

}  // namespace kiln::plugin
