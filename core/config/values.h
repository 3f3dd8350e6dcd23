// Reads one option value as its kind: flag, number, size, duration. Pure: errors name the
// option, where it was set and what was expected; uWSGI-compatible readings that are traps
// (a flag word on a number, a bare mercy of hours) are accepted with a warning.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/config/diagnostics.h"
#include "core/config/option.h"

namespace kiln::config {

// Where a value came from, for messages.
struct ValueContext {
  std::string_view option;  // option name as the user wrote it
  std::string_view file;    // "" for the command line
  int line = 0;
  Diagnostics* diag = nullptr;  // receives warnings; may be null
};

struct ParsedValue {
  bool flag = false;
  int64_t number = 0;
  uint64_t size = 0;
  absl::Duration duration;
};

// Where a setting comes from, in every message that names it: "app.ini:12", "app.ini" (no
// line), or "the command line" (no file).
std::string Place(std::string_view file, int line);

// true/false/yes/no/on/off/1/0 (any case); "" is true (a bare key). Other text is true, as
// uWSGI reads it, with a warning.
bool ParseFlag(std::string_view text, const ValueContext& ctx);
absl::StatusOr<int64_t> ParseNumber(std::string_view text, const ValueContext& ctx);
// Bytes; a bare number counts `unit` bytes; k/m/g suffixes are powers of 1024.
absl::StatusOr<uint64_t> ParseSize(std::string_view text, uint64_t unit, const ValueContext& ctx);
// Seconds; ms/s/m/h suffixes.
absl::StatusOr<absl::Duration> ParseDuration(std::string_view text, const ValueContext& ctx);

// Reads `text` as `spec`'s kind; strings and lists always succeed.
absl::StatusOr<ParsedValue> ParseValue(const OptionSpec& spec, std::string_view text,
                                       const ValueContext& ctx);

// "8h20m", "90s", "1m30s", "500ms".
std::string HumanDuration(absl::Duration d);

}  // namespace kiln::config
