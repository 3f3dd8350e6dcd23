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

// The resolved configuration as an ini file (docs/configuration.md, --print-config): the
// options that were set (every option with `all`), one `name = value` line per value, grouped
// by owner; keys that are no option follow as comments.
std::string PrintConfig(const Config& config, bool all);

}  // namespace kiln::config
