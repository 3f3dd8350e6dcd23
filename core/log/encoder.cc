// Log encoder chains (encoder.h). Templates are split once at parse time into literal and
// variable pieces, as uWSGI's uwsgi_log_encoder_parse_vars does: `$` not followed by `{`, and
// a `${` never closed, stay literal text.
#include "core/log/encoder.h"

#include <time.h>

#include <cctype>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/log/escape.h"

namespace kiln::log {
namespace {

int64_t RealtimeMicros() {
  timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

std::string Strftime(const std::string& format) {
  time_t now = ::time(nullptr);
  struct tm tm;
  ::localtime_r(&now, &tm);
  char buf[256];
  // The format is the operator's ${strftime:...}, not a literal.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  size_t n = ::strftime(buf, sizeof(buf), format.c_str(), &tm);
#pragma GCC diagnostic pop
  return std::string(buf, n);
}

}  // namespace

absl::StatusOr<std::vector<EncoderChain::Piece>> EncoderChain::ParseTemplate(
    std::string_view tmpl) {
  std::vector<Piece> pieces;
  std::string literal;
  size_t i = 0;
  while (i < tmpl.size()) {
    size_t close = std::string_view::npos;
    if (tmpl.compare(i, 2, "${") == 0) close = tmpl.find('}', i + 2);
    if (close == std::string_view::npos) {
      literal.push_back(tmpl[i++]);
      continue;
    }
    std::string_view name = tmpl.substr(i + 2, close - i - 2);
    Piece piece{Var::kLiteral, ""};
    if (name == "msg") {
      piece.var = Var::kMsg;
    } else if (name == "msgnl") {
      piece.var = Var::kMsgNl;
    } else if (name == "unix") {
      piece.var = Var::kUnix;
    } else if (name == "millis") {
      piece.var = Var::kMillis;
    } else if (name == "micros") {
      piece.var = Var::kMicros;
    } else if (name.substr(0, 9) == "strftime:") {
      piece.var = Var::kStrftime;
      piece.text = std::string(name.substr(9));
    } else {
      return absl::InvalidArgumentError(absl::StrFormat(
          "unknown variable ${%s} (known: ${msg}, ${msgnl}, ${unix}, ${millis}, ${micros}, "
          "${strftime:FORMAT})",
          name));
    }
    if (!literal.empty()) pieces.push_back({Var::kLiteral, std::exchange(literal, {})});
    pieces.push_back(std::move(piece));
    i = close + 1;
  }
  if (!literal.empty()) pieces.push_back({Var::kLiteral, std::move(literal)});
  return pieces;
}

absl::StatusOr<EncoderChain> EncoderChain::Parse(const std::vector<std::string>& specs) {
  EncoderChain chain;
  for (const std::string& spec : specs) {
    // `<encoder>[ args]`: the arguments follow a single space, as in uWSGI.
    const size_t space = spec.find(' ');
    std::string_view name = std::string_view(spec).substr(0, space);
    const std::string arg = space == std::string::npos ? "" : spec.substr(space + 1);
    if (name.find(':') != std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "`%s`: encoders for one named logger (`%s`) are not supported: the chain encodes "
          "every line, routed ones too; drop `%s` to encode every line",
          spec, name, name.substr(name.find(':'))));
    }
    Step step{Kind::kNl, "", {}};
    if (name == "prefix") {
      step.kind = Kind::kPrefix;
      step.arg = arg;
    } else if (name == "suffix") {
      step.kind = Kind::kSuffix;
      step.arg = arg;
    } else if (name == "nl") {
      step.kind = Kind::kNl;
    } else if (name == "format" || name == "json") {
      step.kind = name == "json" ? Kind::kJson : Kind::kFormat;
      absl::StatusOr<std::vector<Piece>> pieces = ParseTemplate(arg);
      if (!pieces.ok()) {
        return absl::InvalidArgumentError(
            absl::StrFormat("`%s`: %s", spec, pieces.status().message()));
      }
      step.pieces = std::move(*pieces);
      size_t first = arg.find_first_not_of(" \t");
      if (step.kind == Kind::kFormat && first != std::string::npos && arg[first] == '{') {
        chain.wraps_json_ = true;
      }
    } else if (name == "gzip" || name == "compress" || name == "msgpack") {
      return absl::InvalidArgumentError(absl::StrFormat(
          "`%s`: the %s encoder writes binary records, which kiln's line-oriented log sinks "
          "cannot carry; use `json` or `format`",
          spec, name));
    } else {
      return absl::InvalidArgumentError(absl::StrFormat(
          "`%s`: unknown encoder `%s` (known: prefix, suffix, nl, format, json)", spec, name));
    }
    chain.steps_.push_back(std::move(step));
  }
  return chain;
}

void EncoderChain::AppendTemplate(std::string* out, const Step& step, std::string_view line) {
  const bool json = step.kind == Kind::kJson;
  const auto text = [&](std::string_view s) {
    if (json) {
      AppendJsonEscaped(out, s);
    } else {
      out->append(s);
    }
  };
  for (const Piece& p : step.pieces) {
    switch (p.var) {
      case Var::kLiteral: out->append(p.text); break;
      case Var::kMsg: text(line); break;
      case Var::kMsgNl:
        text(line);
        text("\n");
        break;
      case Var::kUnix: absl::StrAppend(out, RealtimeMicros() / 1000000); break;
      case Var::kMillis: absl::StrAppend(out, RealtimeMicros() / 1000); break;
      case Var::kMicros: absl::StrAppend(out, RealtimeMicros()); break;
      case Var::kStrftime: text(Strftime(p.text)); break;
    }
  }
}

std::string EncoderChain::Encode(std::string_view line) const {
  std::string cur(line);
  std::string next;
  for (const Step& step : steps_) {
    next.clear();
    switch (step.kind) {
      case Kind::kPrefix: absl::StrAppend(&next, step.arg, cur); break;
      case Kind::kSuffix: absl::StrAppend(&next, cur, step.arg); break;
      case Kind::kNl: absl::StrAppend(&next, cur, "\n"); break;
      case Kind::kFormat:
      case Kind::kJson: {
        // Like uWSGI, ${msg} is the line without the newline an earlier step may have added.
        std::string_view msg = cur;
        if (!msg.empty() && msg.back() == '\n') msg.remove_suffix(1);
        AppendTemplate(&next, step, msg);
        break;
      }
    }
    cur.swap(next);
  }
  return cur;
}

}  // namespace kiln::log
