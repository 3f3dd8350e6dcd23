// The one table of every option kiln knows: core's (core_options.cc) plus each loaded plugin's.
// Looks options up by name or alias and suggests the nearest name for a typo. Pure data.
#pragma once

#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "core/config/option.h"

namespace kiln::config {

class OptionRegistry {
 public:
  OptionRegistry() = default;

  // A registry holding core's option table.
  static OptionRegistry WithCoreOptions();

  // Adds one option. AlreadyExists, naming both owners, when its name or an alias is taken;
  // InvalidArgument when the name is empty or its default does not parse as its kind.
  absl::Status Add(OptionSpec spec);

  // The option with this name or alias, or nullptr. The pointer stays valid while the
  // registry lives (later Add calls do not move it).
  const OptionSpec* Find(std::string_view name_or_alias) const;

  // The nearest option name (or alias) to `unknown`, or "" when none is plausibly meant.
  std::string Suggest(std::string_view unknown) const;

  // Every option, sorted by owner ("core" first) then name.
  std::vector<const OptionSpec*> All() const;

  // Owners in the order All() lists them.
  std::vector<std::string> Owners() const;

 private:
  std::deque<OptionSpec> specs_;
  std::map<std::string, size_t, std::less<>> index_;  // name and aliases -> specs_ index
};

// Rows of core's option table (core_options.cc).
std::vector<OptionSpec> CoreOptionTable();

}  // namespace kiln::config
