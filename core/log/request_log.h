// Request log lines: uWSGI's default line byte for byte (docs/decisions.md 20) and the log-format
// compiler with uWSGI's %(var) names. Formatting is pure; EmitRequestLine hands the finished
// line to the request log (logger.h). Knows nothing of sockets or plugins.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"

namespace kiln::log {

// Everything a request line can show. Views must stay valid while formatting.
struct RequestLogEntry {
  int pid = 0;
  int app_id = 0;
  int worker_id = 0;
  int core_id = 0;
  uint64_t app_requests = 0;     // "req: A/B": this app's count in this worker
  uint64_t worker_requests = 0;  // and the worker's count
  std::string_view remote_addr;
  std::string_view remote_user;
  std::string_view method;
  std::string_view uri;
  std::string_view protocol;
  std::string_view host;
  std::string_view user_agent;
  std::string_view referer;
  std::string_view content_length;
  size_t var_pairs = 0;     // shown doubled, as uWSGI counts keys and values apart
  size_t vars_bytes = 0;    // the uwsgi datasize (or its equivalent for HTTP)
  uint8_t modifier1 = 0;
  uint8_t modifier2 = 0;
  absl::Time start;
  absl::Duration duration;
  int status = 0;
  uint64_t body_bytes = 0;   // "generated": body bytes only
  size_t header_count = 0;
  uint64_t header_bytes = 0;
  int switches = 1;
  bool via_sendfile = false;
  bool read_error = false;
  bool write_error = false;
  uint64_t vsz_bytes = 0;  // for memory-report and %(vsz)/%(rss)
  uint64_t rss_bytes = 0;
  // %(var.NAME): a request variable; may be empty.
  std::function<std::optional<std::string_view>(std::string_view)> var;
};

// Whether a request gets a line: always unless disable-logging, which log-4xx / log-5xx
// override for their statuses and log-slow (`slow_ms` > 0) for a request that took at least
// that many milliseconds (uWSGI's `>=` on whole milliseconds).
// `log_sendfile` (log-sendfile) keeps a response sent with sendfile(2) (`via_sendfile`).
bool ShouldLogRequest(int status, bool disable_logging, bool log_4xx, bool log_5xx,
                      int64_t slow_ms = 0, absl::Duration duration = absl::ZeroDuration(),
                      bool log_sendfile = false, bool via_sendfile = false);

// uWSGI's default line, without the newline (request values escaped with LogSafe, escape.h):
// [pid: P|app: 0|req: A/B] ADDR (USER) {N vars in M bytes} [ctime] METHOD URI => generated X
// bytes in Y msecs (PROTO STATUS) H headers in Z bytes (S switches on core C)
// memory_report prefixes "{address space usage: ...} {rss usage: ...} ".
std::string FormatDefaultRequestLine(const RequestLogEntry& e, bool memory_report,
                                     bool micros = false);
// The same line appended to `line` (a serving thread reuses one string for all its lines).
// `micros` (log-micros): the time as "in N micros" instead of "in N msecs".
void AppendDefaultRequestLine(std::string* line, const RequestLogEntry& e, bool memory_report,
                              bool micros = false);

// A compiled log-format. Known %(name)s are replaced; an unknown %(name) stays verbatim so a
// typo shows in the log instead of vanishing.
//
// Values taken from the request (uri, method, user, addr, host, proto, uagent, referer, cl,
// var.NAME) are escaped so that a line stays one line whatever the client sent:
//   - as text (LogSafe, escape.h: control bytes, '"', '\', TAB and invalid UTF-8 become
//     \xNN), by default. The output is then also safe inside a quoted JSON string;
//   - JSON-escaped (AppendJsonEscaped: "\n", "\"", ...; the decoded value is what the client
//     sent) when the format is JSON: it starts with '{', or the request lines go through a
//     `format` encoder whose template starts with '{' (RequestLinesWrapJson, logger.h).
// uWSGI copies values raw, so a '"' in a URI breaks its JSON lines.
class LogFormat {
 public:
  // Decides the value escaping from `format` and the installed encoders (see above).
  // `strftime_literals` (logformat-strftime): the format's own text goes through strftime(3)
  // with the request's start time (local time); request values never do, so a `%Y` in a URI
  // stays as sent.
  static LogFormat Compile(std::string_view format, bool strftime_literals = false);
  std::string Format(const RequestLogEntry& e) const;
  // Whether values are JSON-escaped rather than text-escaped.
  bool json_values() const { return json_values_; }
  // Names of %(...) items the compiler did not know, for a startup warning.
  const std::vector<std::string>& unknown_names() const { return unknown_; }

 private:
  enum class Item {
    kLiteral, kUri, kMethod, kUser, kAddr, kHost, kProto, kUagent, kReferer, kStatus, kRsize,
    kHsize, kSize, kCl, kMicros, kMsecs, kSecs, kTime, kLtime, kCtime, kEpoch, kPid, kWid,
    kSwitches, kVars, kCore, kVsz, kRss, kVszM, kRssM, kPktsize, kModifier1, kModifier2,
    kHeaders, kWerr, kRerr, kIoerr, kVar, kStrftime,
  };
  struct Piece {
    Item item;
    std::string text;  // literal text, or the NAME of %(var.NAME)
  };
  void AddLiteral(std::string text, bool strftime_literals);
  std::vector<Piece> pieces_;
  std::vector<std::string> unknown_;
  bool json_values_ = false;
};

// Sends a finished line to the request log (log::LogRequest).
void EmitRequestLine(std::string_view line);

}  // namespace kiln::log
