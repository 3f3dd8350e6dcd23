// uWSGI's log encoders (`log-encoder`, `log-req-encoder`): a chain of steps, each turning a
// log line into another, applied to every line before the sinks see it. kiln has the line
// encoders `prefix`, `suffix`, `nl`, `format` and `json`; the binary ones (`gzip`, `compress`,
// `msgpack`) do not fit a line-oriented log and are refused with a clear error.
//
// `format TEMPLATE` and `json TEMPLATE` replace ${msg} (the line), ${msgnl} (the line and a
// newline), ${unix}, ${millis}, ${micros} (the time now) and ${strftime:FORMAT} (local time).
// `json` writes ${msg}, ${msgnl} and ${strftime:...} JSON-escaped (escape.h, RFC 8259), so
// `json {"msg":"${msg}"}` always gives a line that parses, whatever the line held. Parsing
// is pure; Encode reads the clock.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::log {

class EncoderChain {
 public:
  // Parses the values of a `log-encoder` option in order (`json {"m":"${msg}"}`, `nl`,
  // `prefix TEXT`). InvalidArgument naming the value for an unknown or binary encoder, a
  // `name:logger` encoder for one named logger (not supported), or an unknown ${variable}.
  static absl::StatusOr<EncoderChain> Parse(const std::vector<std::string>& specs);

  bool empty() const { return steps_.empty(); }

  // Encodes one line, given without its newline. The result ends with a newline only when a
  // step put one there (`nl`, ${msgnl}); the logger ends every line with exactly one.
  std::string Encode(std::string_view line) const;

  // True when a `format` step wraps the line in a JSON object (its template starts with
  // '{'): uWSGI's idiom for a log-format written as JSON members. The request log then
  // JSON-escapes its %(var) values (request_log.h).
  bool WrapsJsonObject() const { return wraps_json_; }

 private:
  enum class Kind { kPrefix, kSuffix, kNl, kFormat, kJson };
  enum class Var { kLiteral, kMsg, kMsgNl, kUnix, kMillis, kMicros, kStrftime };
  struct Piece {
    Var var;
    std::string text;  // the literal, or the strftime format
  };
  struct Step {
    Kind kind;
    std::string arg;            // prefix / suffix text
    std::vector<Piece> pieces;  // format / json template
  };
  static absl::StatusOr<std::vector<Piece>> ParseTemplate(std::string_view tmpl);
  static void AppendTemplate(std::string* out, const Step& step, std::string_view line);

  std::vector<Step> steps_;
  bool wraps_json_ = false;
};

}  // namespace kiln::log
