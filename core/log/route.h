// log-route / log-req-route (uWSGI's): named loggers (`logger = NAME target`) get only the
// lines a route sends them; a line that matches one or more routes goes to each of their
// loggers and not to the default ones, every other line goes where it would have gone. The
// regex is RE2 (linear time, no recursion), matched anywhere in the line before encoders.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace re2 {
class RE2;
}

namespace kiln::log {

struct NamedLoggerSpec {
  std::string name;
  std::string spec;  // the target after the name: `file:/x`, `syslog`, a path
};

// Pure. uWSGI's rule: a `logger` value whose text before the first space is a non-empty run
// of ASCII letters and digits names the logger ("app file:/x" -> {"app", "file:/x"}); any
// other value is an unnamed logger (nullopt).
std::optional<NamedLoggerSpec> ParseNamedLogger(std::string_view value);

class LogRoute {
 public:
  // "NAME REGEX": InvalidArgument when there is no space, no regex, or RE2 rejects it
  // (the message quotes RE2's reason).
  static absl::StatusOr<LogRoute> Parse(std::string_view value);
  const std::string& logger() const { return logger_; }
  // True when the regex matches anywhere in `line` (unanchored, as uWSGI's pcre_exec).
  bool Matches(std::string_view line) const;

 private:
  std::string logger_;
  std::shared_ptr<const re2::RE2> re_;
};

}  // namespace kiln::log
