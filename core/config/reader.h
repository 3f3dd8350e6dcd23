// The configuration reader behind ReadConfig: runs argv and ini files top to bottom, executes
// control lines (for/if/endfor/endif, ini includes) as they come, then expands $(), @() and
// %() in every entry. All I/O goes through a ConfigHost. Internal to core/config.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "core/config/config.h"
#include "core/config/diagnostics.h"
#include "core/config/expand.h"
#include "core/config/host.h"
#include "core/config/ini_reader.h"
#include "core/config/option_registry.h"

namespace kiln::config {

// Bounds that keep a hostile or mistaken file (a loop of a million items, an include chain)
// from exhausting memory or time.
inline constexpr size_t kMaxEntries = 100000;
inline constexpr size_t kMaxSteps = 2000000;
inline constexpr size_t kMaxIncludeDepth = 32;
inline constexpr size_t kMaxPathBytes = 4096;

class Reader {
 public:
  Reader(const OptionRegistry& registry, Diagnostics& diag, const ConfigHost& host)
      : registry_(registry), diag_(diag), host_(host) {}

  absl::Status ReadArgs(const std::vector<std::string>& args);
  // Reads one ini file (`path[:section]`) as if given on the command line.
  absl::Status ReadFile(const std::string& spec);
  // Expands references in every entry; call once, after the last Read*.
  absl::Status Finish();

  RawConfig& raw() { return raw_; }

 private:
  struct Frame {
    MagicContext magic;
    std::string display;  // path as shown in messages
  };
  struct Where {
    std::string file;
    int line = 0;
  };

  absl::Status Include(const std::string& spec, const Frame* from, const Where& where);
  absl::Status Run(const std::vector<IniLine>& lines, size_t begin, size_t end, const Frame& f,
                   const std::string* binding);
  absl::Status RunBlock(const std::string& key, const std::string& value,
                        const std::vector<IniLine>& lines, size_t begin, size_t end, const Frame& f,
                        const Where& where);
  absl::Status RunLoop(const std::vector<std::string>& items, const std::vector<IniLine>& lines,
                       size_t begin, size_t end, const Frame& f);
  absl::Status AddEntry(Entry entry);
  absl::Status Step();

  // Expands references in a value now, against the entries read so far.
  absl::StatusOr<std::string> ExpandNow(const std::string& value, const Where& where,
                                        bool warn_placeholders = true);
  std::optional<std::string> Lookup(const std::string& name, const Where& where);
  void NoteReferences(std::string_view value);
  std::string Canonical(std::string_view key) const;

  const OptionRegistry& registry_;
  Diagnostics& diag_;
  const ConfigHost& host_;
  RawConfig raw_;
  std::vector<std::pair<std::string, std::string>> include_stack_;  // (real path, section)
  bool have_first_ = false;
  MagicFile first_;
  size_t steps_ = 0;
  bool exhausted_ = false;              // a lookup ran out of steps
  std::vector<std::string> resolving_;  // %(name) lookups in progress (cycle guard)
  // Canonical name -> index of the first entry (option, placeholder or set-placeholder
  // definition) that gives it a value: %(name) takes the first value, as in uWSGI.
  std::map<std::string, size_t, std::less<>> first_entry_;
};

// Control keys: block openers and closers.
bool IsBlockOpener(std::string_view key);
bool IsBlockCloser(std::string_view key);

}  // namespace kiln::config
