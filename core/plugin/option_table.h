// A plugin's option tables as the core uses them: the 1.0 `options` rows and the 1.1
// `option_defs` rows (aliases, destinations) turned into registry specs, extern rows checked
// against the registry, and the values of the resolved configuration written into the
// plugin's settings struct before on_config_done. The descriptor must have passed
// CheckDescriptor (abi_check.h): these functions trust its shape.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/config/config.h"
#include "core/config/option.h"
#include "core/config/option_registry.h"
#include "kiln/plugin.h"

namespace kiln::plugin {

// The kiln_option_kind of a row as the registry's kind (an unknown value reads as a string;
// CheckDescriptor refuses it first).
config::OptionKind KindOf(uint32_t kind);

// Whether the plugin was built with a descriptor that has the 1.1 fields (option_defs through
// settings_size): its `size` reaches past them.
bool HasOptionDefFields(const kiln_plugin_desc& desc);

// The rows of the 1.1 table, read with the row size the plugin was built with; empty for a
// descriptor older than 1.1 or without the table.
std::vector<const kiln_option_def*> OptionDefs(const kiln_plugin_desc& desc);

// "venv|virtualenv" -> {"venv", "virtualenv"}; NULL -> {}. Empty pieces are kept (so that
// CheckDescriptor can refuse "a||b").
std::vector<std::string> SplitAliases(const char* aliases);

// Every option the plugin defines, from both tables, as the registry holds them (owner: the
// plugin's name). Extern rows define nothing and are left out.
std::vector<config::OptionSpec> DeclaredOptions(const kiln_plugin_desc& desc);

// Each extern row names an option `registry` holds, with the row's kind. FailedPrecondition
// naming the plugin, the option and both kinds otherwise.
absl::Status CheckExternOptions(const kiln_plugin_desc& desc,
                                const config::OptionRegistry& registry);

// Writes every row's value into the plugin's settings: the option's typed value from `cfg`
// (its default when unset), strings and lists copied into host memory that is never freed.
// `cfg` must have been resolved against a registry holding the plugin's options.
void FillOptionFields(const kiln_plugin_desc& desc, const config::Config& cfg);

}  // namespace kiln::plugin
