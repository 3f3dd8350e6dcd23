// The configuration as kiln reads it: ReadConfig turns argv and ini files into entries (control
// lines run, includes spliced, references expanded), Resolve checks them against the option
// registry and yields a typed Config. No sockets, no processes: the server reads Config.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/config/diagnostics.h"
#include "core/config/host.h"
#include "core/config/option.h"
#include "core/config/option_registry.h"

namespace kiln::config {

struct Entry {
  std::string key;    // as written (an alias stays an alias)
  std::string value;  // expanded; a bare key reads "true"
  std::string file;   // "" for the command line
  int line = 0;
  bool from_cli = false;
};

// Result of reading argv + ini files: control lines executed, includes spliced,
// magic/$()/@()/%() expanded, comma lists NOT yet split. Unknown keys are kept (placeholders).
struct RawConfig {
  std::vector<Entry> entries;                     // in order given
  std::vector<std::string> positional;            // bare argv words that are not ini files
  std::set<std::string, std::less<>> referenced;  // names used as %(name)
  std::vector<std::string> Values(std::string_view key) const;  // all values of key, in order
};

// args = argv[1..]. The registry is used only to know which --names are flags (take no value)
// and which keys are aliases of one another for %(name).
absl::StatusOr<RawConfig> ReadConfig(const std::vector<std::string>& args,
                                     const OptionRegistry& registry, Diagnostics& diag);
absl::StatusOr<RawConfig> ReadConfig(const std::vector<std::string>& args,
                                     const OptionRegistry& registry, Diagnostics& diag,
                                     const ConfigHost& host);

// Helpers for the plugin loader, which runs between ReadConfig and Resolve (docs/decisions.md 9).
// Values of `option` (its aliases included), in order; comma lists split and trimmed.
std::vector<std::string> RawList(const RawConfig& raw, const OptionRegistry& registry,
                                 std::string_view option);
// The last value of flag `option` read as a boolean, or its default when unset.
bool RawFlag(const RawConfig& raw, const OptionRegistry& registry, std::string_view option);
// The first entry of each key that no registered option has (placeholder or plugin option),
// in order: what autoload looks up in the installed plugins' descriptors. The pointers are
// valid while `raw` lives.
std::vector<const Entry*> UnknownEntries(const RawConfig& raw, const OptionRegistry& registry);

// The plugin name that provides an option (read from installed plugins' descriptors), or "".
using ProviderLookup = std::function<std::string(std::string_view option)>;
// The option nearest to an unknown key among core's and every installed plugin's (loaded or
// not), as it should be named to the user: "`module` (python plugin)", "`vacuum`"; "" when none
// is plausibly meant. Without one, Resolve suggests from the registry alone.
using OptionSuggester = std::function<std::string(std::string_view unknown)>;

// The typed, validated configuration. Getters on a name the registry did not hold when the
// Config was resolved are programming errors (KILN_CHECK), as are getters of the wrong kind.
class Config {
 public:
  bool Has(std::string_view name) const;  // set explicitly (not just default)
  bool GetFlag(std::string_view name) const;
  int64_t GetNumber(std::string_view name) const;
  uint64_t GetSize(std::string_view name) const;
  absl::Duration GetDuration(std::string_view name) const;
  std::string GetString(std::string_view name) const;  // last value, or the default
  // Every value in order (comma_list options split and trimmed); for a non-list option, the
  // last value or the default as a one-element list, [] when there is neither.
  std::vector<std::string> GetList(std::string_view name) const;
  const std::vector<Entry>& entries() const { return entries_; }  // resolved, in order
  const Entry* Where(std::string_view name) const;                // last entry that set it
  // Adds where the option was set to an error about it: "option `threads = 0`: ..." becomes
  // "option `threads = 0` in app.ini:12: ..." when a file set it; other statuses pass
  // unchanged.
  absl::Status Locate(absl::Status error) const;
  // One line per key that is no option and no %(placeholder) in use, with the nearest option:
  // "app.ini:3: `moduel` is not an option; did you mean `module` (python plugin)?". What a
  // refusal to start with no application names as the likely typo.
  const std::vector<std::string>& StrayKeys() const { return stray_keys_; }

  // One option as resolved, for --print-config: its values as text after parsing (a flag
  // `true`/`false`, a number in decimal, a size or duration in its largest exact unit, the
  // last value of a scalar, every value of a list in order, comma lists split); the default
  // when unset; [] when it has neither.
  struct Resolved {
    const OptionSpec* spec;
    bool set;
    std::vector<std::string> values;
  };
  // Every option the registry held, in --help order (core first, then each plugin's).
  std::vector<Resolved> AllResolved() const;
  // True when `key` names an option (or an alias) the registry held.
  bool IsOption(std::string_view key) const { return canonical_.contains(key); }

 private:
  friend absl::StatusOr<Config> Resolve(const RawConfig&, const OptionRegistry&,
                                        const ProviderLookup&, Diagnostics&,
                                        const OptionSuggester&);
  struct Value {
    OptionSpec spec;
    bool set = false;
    std::vector<std::string> texts;  // values as given (default when unset)
    std::vector<size_t> where;       // indexes into entries_
    bool flag = false;
    int64_t number = 0;
    uint64_t size = 0;
    absl::Duration duration;
  };
  const Value& Get(std::string_view name, const char* getter) const;

  std::vector<Entry> entries_;
  std::map<std::string, Value, std::less<>> values_;           // by canonical name
  std::map<std::string, std::string, std::less<>> canonical_;  // name or alias -> name
  std::vector<std::string> stray_keys_;
};

// Validates values against kinds, warns about placeholders never referenced (with "did you
// mean"), errors on unknown command-line options and on options of plugins not loaded,
// notices "not implemented yet" for planned options, and applies strict mode.
// `suggest` (may be empty) names the nearest option for a typo, installed plugins included.
absl::StatusOr<Config> Resolve(const RawConfig& raw, const OptionRegistry& registry,
                               const ProviderLookup& providers, Diagnostics& diag,
                               const OptionSuggester& suggest = {});

}  // namespace kiln::config
