// Value readers for the option kinds. See values.h.
#include "core/config/values.h"

#include <cctype>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "core/base/strings.h"

namespace kiln::config {
namespace {

absl::Status BadValue(const ValueContext& ctx, std::string_view text, std::string_view expected) {
  return absl::InvalidArgumentError(absl::StrFormat("option `%s` in %s: `%s` is not %s", ctx.option,
                                                    Place(ctx.file, ctx.line), text, expected));
}

void Warn(const ValueContext& ctx, std::string msg) {
  if (ctx.diag != nullptr) ctx.diag->Warn(std::string(ctx.file), ctx.line, std::move(msg));
}

bool IsFlagWord(std::string_view text) {
  std::string lower = absl::AsciiStrToLower(base::Av(text));
  return lower.empty() || lower == "true" || lower == "false" || lower == "yes" || lower == "no" ||
         lower == "on" || lower == "off";
}

// Splits "123ms" into digits and suffix. False when there are no leading digits.
bool SplitNumber(std::string_view text, std::string_view& digits, std::string_view& suffix) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0) return false;
  digits = text.substr(0, i);
  suffix = text.substr(i);
  return true;
}

}  // namespace

std::string Place(std::string_view file, int line) {
  if (file.empty()) return "the command line";
  if (line <= 0) return std::string(file);
  return absl::StrFormat("%s:%d", file, line);
}

bool ParseFlag(std::string_view text, const ValueContext& ctx) {
  std::string lower = absl::AsciiStrToLower(base::Av(text));
  if (lower == "false" || lower == "no" || lower == "off" || lower == "0") return false;
  if (lower.empty() || lower == "true" || lower == "yes" || lower == "on" || lower == "1") {
    return true;
  }
  Warn(ctx, absl::StrFormat("`%s = %s` is not a boolean (expected true/false, yes/no, on/off, "
                            "1/0); read as true, as uWSGI does",
                            ctx.option, text));
  return true;
}

absl::StatusOr<int64_t> ParseNumber(std::string_view text, const ValueContext& ctx) {
  if (IsFlagWord(text)) {
    // uWSGI reads numbers with atoi(), so `threads = true` is 0 there.
    Warn(ctx, absl::StrFormat("`%s = %s` is read as 0, as uWSGI reads it; write a number",
                              ctx.option, text));
    return 0;
  }
  int64_t n = 0;
  if (!absl::SimpleAtoi(base::Av(text), &n)) {
    return BadValue(ctx, text, "a number (expected e.g. 4, 100, -1)");
  }
  return n;
}

absl::StatusOr<uint64_t> ParseSize(std::string_view text, uint64_t unit, const ValueContext& ctx) {
  constexpr std::string_view kExpected = "a size (expected e.g. 65535, 64k, 8m, 1g)";
  if (IsFlagWord(text)) {
    Warn(ctx, absl::StrFormat("`%s = %s` is read as 0, as uWSGI reads it; write a size", ctx.option,
                              text));
    return 0;
  }
  std::string_view digits, suffix;
  uint64_t n = 0;
  if (!SplitNumber(text, digits, suffix) || !absl::SimpleAtoi(base::Av(digits), &n)) {
    return BadValue(ctx, text, kExpected);
  }
  std::string s = absl::AsciiStrToLower(base::Av(suffix));
  uint64_t mult = unit;
  if (s == "k" || s == "kb" || s == "kib") {
    mult = uint64_t{1} << 10;
  } else if (s == "m" || s == "mb" || s == "mib") {
    mult = uint64_t{1} << 20;
  } else if (s == "g" || s == "gb" || s == "gib") {
    mult = uint64_t{1} << 30;
  } else if (s == "b" && unit == 1) {
    mult = 1;
  } else if (!s.empty()) {
    return BadValue(ctx, text, kExpected);
  }
  if (mult != 0 && n > std::numeric_limits<uint64_t>::max() / mult) {
    return BadValue(ctx, text, "a size that fits in 64 bits");
  }
  return n * mult;
}

absl::StatusOr<absl::Duration> ParseDuration(std::string_view text, const ValueContext& ctx) {
  constexpr std::string_view kExpected = "a number of seconds (expected e.g. 30, 500ms, 5m)";
  if (IsFlagWord(text)) {
    Warn(ctx, absl::StrFormat("`%s = %s` is read as 0, as uWSGI reads it; write a number of "
                              "seconds",
                              ctx.option, text));
    return absl::ZeroDuration();
  }
  std::string_view digits, suffix;
  int64_t n = 0;
  if (!SplitNumber(text, digits, suffix) || !absl::SimpleAtoi(base::Av(digits), &n) ||
      n > int64_t{1} << 40) {
    return BadValue(ctx, text, kExpected);
  }
  if (suffix == "ms") return absl::Milliseconds(n);
  if (suffix == "m") return absl::Minutes(n);
  if (suffix == "h") return absl::Hours(n);
  if (suffix == "s") return absl::Seconds(n);
  if (!suffix.empty()) return BadValue(ctx, text, kExpected);
  if (n > 3600) {
    // docs/decisions.md 1: uWSGI reads a bare mercy as seconds; 30000 is more than eight hours.
    Warn(ctx, absl::StrFormat("%s = %d is read as seconds (%s), as uWSGI does; write %ds if you "
                              "meant %d seconds",
                              ctx.option, n, HumanDuration(absl::Seconds(n)), n / 1000, n / 1000));
  }
  return absl::Seconds(n);
}

absl::StatusOr<ParsedValue> ParseValue(const OptionSpec& spec, std::string_view text,
                                       const ValueContext& ctx) {
  ParsedValue v;
  switch (spec.kind) {
    case OptionKind::kFlag:
      v.flag = ParseFlag(text, ctx);
      break;
    case OptionKind::kNumber: {
      auto n = ParseNumber(text, ctx);
      if (!n.ok()) return n.status();
      v.number = *n;
      break;
    }
    case OptionKind::kSize: {
      auto n = ParseSize(text, spec.size_unit, ctx);
      if (!n.ok()) return n.status();
      v.size = *n;
      break;
    }
    case OptionKind::kDuration: {
      auto d = ParseDuration(text, ctx);
      if (!d.ok()) return d.status();
      v.duration = *d;
      break;
    }
    case OptionKind::kString:
    case OptionKind::kList:
      break;
  }
  return v;
}

std::string HumanDuration(absl::Duration d) {
  int64_t ms = absl::ToInt64Milliseconds(d);
  if (ms % 1000 != 0 || ms == 0) return absl::StrFormat("%dms", ms);
  int64_t s = ms / 1000;
  std::string out;
  if (s >= 3600) out += absl::StrFormat("%dh", s / 3600);
  if (s % 3600 >= 60) out += absl::StrFormat("%dm", s % 3600 / 60);
  if (s % 60 != 0) out += absl::StrFormat("%ds", s % 60);
  return out;
}

}  // namespace kiln::config
