// One option as the registry knows it: name, kind, default, help, owner. Core's options are
// a table in core_options.cc; a plugin's arrive from its descriptor through the loader.
// Pure data: no parsing, no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::config {

enum class OptionKind {
  kFlag,      // boolean: true/false/yes/no/on/off/1/0, bare key = true
  kNumber,    // integer (uWSGI's atoi reading, with a warning on non-numbers)
  kSize,      // bytes, with optional k/m/g suffix
  kDuration,  // seconds, with optional ms/s/m/h suffix (docs/decisions.md 1)
  kString,    // one value, the last one wins
  kList,      // repeatable: every occurrence is kept, in order
};

// How far the feature behind an option is built. kPlanned options are accepted and produce
// one startup line saying so; docs/options.md shows the state.
enum class OptionState { kImplemented, kPlanned, kAcceptedNoOp };

struct OptionSpec {
  std::string name;
  OptionKind kind = OptionKind::kString;
  std::string default_value;   // as text, "" for none
  std::string help;            // one sentence
  std::string owner = "core";  // "core" or the plugin's name
  OptionState state = OptionState::kImplemented;
  std::vector<std::string> aliases;  // e.g. "workers" for "processes"
  // For kList options whose values are comma lists (plugins): split on ','.
  bool comma_list = false;
  // For kSize options: what a bare number counts (uWSGI reads reload-on-rss in megabytes).
  uint64_t size_unit = 1;
};

// "flag", "number", "size", "duration", "string", "list".
const char* OptionKindName(OptionKind kind);
// "implemented", "planned", "accepted, no effect".
const char* OptionStateName(OptionState state);

// The order --help, docs/options.md and --print-config list options in: core's first, then
// each plugin's by plugin name, by option name within each.
bool ListedBefore(const OptionSpec& a, const OptionSpec& b);

}  // namespace kiln::config
