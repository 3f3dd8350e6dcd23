// Parsing of named loggers and log routes, and route matching with RE2.
#include "core/log/route.h"

#include <re2/re2.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"

namespace kiln::log {
namespace {

std::string_view TrimLeft(std::string_view s) {
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  return s;
}

std::string_view Trim(std::string_view s) {
  s = TrimLeft(s);
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

std::optional<NamedLoggerSpec> ParseNamedLogger(std::string_view value) {
  const size_t space = value.find(' ');
  if (space == std::string_view::npos || space == 0) {
    return std::nullopt;
  }
  for (char c : value.substr(0, space)) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) {
      return std::nullopt;
    }
  }
  return NamedLoggerSpec{std::string(value.substr(0, space)),
                         std::string(TrimLeft(value.substr(space + 1)))};
}

absl::StatusOr<LogRoute> LogRoute::Parse(std::string_view value) {
  value = Trim(value);
  const size_t space = value.find(' ');
  std::string_view regex =
      space == std::string_view::npos ? "" : TrimLeft(value.substr(space));
  if (space == std::string_view::npos || regex.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "`%s` is not `LOGGERNAME REGEX` (a logger named with `logger = LOGGERNAME target`, a "
        "space, then the regular expression)",
        value));
  }
  RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_shared<const RE2>(re2::StringPiece(regex.data(), regex.size()), options);
  if (!re->ok()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("regular expression `%s`: %s", regex, re->error()));
  }
  LogRoute route;
  route.logger_ = std::string(value.substr(0, space));
  route.re_ = std::move(re);
  return route;
}

bool LogRoute::Matches(std::string_view line) const {
  return RE2::PartialMatch(re2::StringPiece(line.data(), line.size()), *re_);
}

}  // namespace kiln::log
