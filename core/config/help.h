// Text generated from the option registry: `kiln --help`, docs/options.md
// (`kiln --help-markdown`) and `--print-config` output. Pure: strings in, strings out.
#pragma once

#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/config/option_registry.h"

namespace kiln::config {

// Usage, then every option grouped by owner, with kind, default and help.
std::string HelpText(const OptionRegistry& registry);

// The whole of docs/options.md: one table per owner (name, kind, default, state, help).
std::string OptionsMarkdown(const OptionRegistry& registry);

// One `name = value` line per entry, in order.
std::string PrintConfig(const std::vector<Entry>& entries);

}  // namespace kiln::config
