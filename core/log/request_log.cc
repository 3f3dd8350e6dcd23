// Request log formatting. The default line follows uWSGI's uwsgi_logit_simple field for field
// (see the reference, section 7); times are the request start in ctime() form, local time.
#include "core/log/request_log.h"

#include <cstring>
#include <ctime>
#include <type_traits>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/log/escape.h"
#include "core/log/logger.h"

namespace kiln::log {
namespace {

struct tm LocalTm(absl::Time t) {
  time_t secs = absl::ToTimeT(t);
  struct tm tm_buf;
  localtime_r(&secs, &tm_buf);
  return tm_buf;
}

// ctime(3) without its newline: "Tue Nov 24 02:11:10 2026". Every request line carries it,
// so each thread keeps the text of the last second it formatted (localtime_r + strftime
// cost more than the rest of the line).
const std::string& CtimeText(absl::Time t) {
  thread_local time_t cached_secs = -1;
  thread_local std::string cached_text;
  const time_t secs = absl::ToTimeT(t);
  if (secs != cached_secs) {
    struct tm tm_buf = LocalTm(t);
    char buf[64];
    size_t n = strftime(buf, sizeof(buf), "%a %b %e %H:%M:%S %Y", &tm_buf);
    cached_text.assign(buf, n);
    cached_secs = secs;
  }
  return cached_text;
}

// Apache's common log time: "24/Nov/2026:02:11:10 +0000".
std::string ApacheTime(absl::Time t) {
  struct tm tm_buf = LocalTm(t);
  char buf[64];
  size_t n = strftime(buf, sizeof(buf), "%d/%b/%Y:%H:%M:%S %z", &tm_buf);
  return std::string(buf, n);
}

// Writes v in decimal at p and returns the end. Most numbers of a request line are under
// 1,000 (the status, the header count, sizes, the app and core ids): those are written here
// digit by digit; the rest (and negatives) go to FastIntToBuffer, a call of 20-30
// instructions each, 13 times a line.
template <typename T>
char* PutNumber(char* p, T v) {
  if constexpr (std::is_signed_v<T>) {
    if (v < 0) return absl::numbers_internal::FastIntToBuffer(v, p);
  }
  const auto u = static_cast<std::make_unsigned_t<T>>(v);
  if (u < 10) {
    p[0] = static_cast<char>('0' + u);
    return p + 1;
  }
  if (u < 100) {
    p[0] = static_cast<char>('0' + u / 10);
    p[1] = static_cast<char>('0' + u % 10);
    return p + 2;
  }
  if (u < 1000) {
    p[0] = static_cast<char>('0' + u / 100);
    p[1] = static_cast<char>('0' + u / 10 % 10);
    p[2] = static_cast<char>('0' + u % 10);
    return p + 3;
  }
  return absl::numbers_internal::FastIntToBuffer(v, p);
}

}  // namespace

bool ShouldLogRequest(int status, bool disable_logging, bool log_4xx, bool log_5xx,
                      int64_t slow_ms, absl::Duration duration, bool log_sendfile,
                      bool via_sendfile) {
  if (!disable_logging) return true;
  if (log_sendfile && via_sendfile) return true;
  if (slow_ms > 0 && absl::ToInt64Milliseconds(duration) >= slow_ms) return true;
  if (log_4xx && status >= 400 && status < 500) return true;
  if (log_5xx && status >= 500 && status < 600) return true;
  return false;
}

void AppendDefaultRequestLine(std::string* line, const RequestLogEntry& e, bool memory_report,
                              bool micros) {
  if (memory_report) {
    absl::StrAppendFormat(line, "{address space usage: %u bytes/%uMB} {rss usage: %u bytes/%uMB} ",
                          e.vsz_bytes, e.vsz_bytes / (1024 * 1024), e.rss_bytes,
                          e.rss_bytes / (1024 * 1024));
  }
  // On every request, so the line is written through a pointer into room made once: literals
  // are copies of a size known at compile time, numbers are formatted in place (StrFormat was
  // about 6% of a hello-world request, StrAppend's pieces and std::string appends about 10%).
  // Values from the request are escaped (escape.h): a CR or LF in a URI must not end the line.
  // A value that needs no escaping (the usual case) is copied as it is; one that does is
  // escaped into a string of this thread's first.
  thread_local std::string escaped[5];
  const auto safe = [](std::string_view v, std::string& scratch) -> std::string_view {
    if (IsLogSafe(v)) return v;
    scratch.clear();
    AppendLogSafe(&scratch, v);
    return scratch;
  };
  const std::string_view addr = safe(e.remote_addr, escaped[0]);
  const std::string_view user = safe(e.remote_user, escaped[1]);
  const std::string_view method = safe(e.method, escaped[2]);
  const std::string_view uri = safe(e.uri, escaped[3]);
  const std::string_view proto = safe(e.protocol, escaped[4]);
  const std::string& when = CtimeText(e.start);
  // The literals come to under 160 bytes and each of the 12 numbers to at most 20 digits
  // and a sign: 512 bytes leave room to spare.
  const size_t old = line->size();
  line->resize(old + 512 + addr.size() + user.size() + method.size() + uri.size() +
               proto.size() + when.size());
  char* p = line->data() + old;
  const auto put = [&p](std::string_view v) {
    if (v.empty()) return;  // an empty view may have no data pointer at all (memcpy from null)
    std::memcpy(p, v.data(), v.size());
    p += v.size();
  };
  const auto num = [&p](auto v) { p = PutNumber(p, v); };
  put("[pid: ");
  num(e.pid);
  put("|app: ");
  num(e.app_id);
  put("|req: ");
  num(e.app_requests);
  *p++ = '/';
  num(e.worker_requests);
  put("] ");
  put(addr);
  put(" (");
  put(user);
  put(") {");
  num(e.var_pairs * 2);
  put(" vars in ");
  num(e.vars_bytes);
  put(" bytes} [");
  put(when);
  put("] ");
  put(method);
  *p++ = ' ';
  put(uri);
  put(" => generated ");
  num(e.body_bytes);
  put(" bytes in ");
  num(micros ? absl::ToInt64Microseconds(e.duration) : absl::ToInt64Milliseconds(e.duration));
  put(micros ? std::string_view(" micros") : std::string_view(" msecs"));
  if (e.via_sendfile) put(" via sendfile()");
  put(" (");
  put(proto);
  *p++ = ' ';
  num(e.status);
  put(") ");
  num(e.header_count);
  put(" headers in ");
  num(e.header_bytes);
  put(" bytes (");
  num(e.switches);
  put(" switches on core ");
  num(e.core_id);
  *p++ = ')';
  line->resize(static_cast<size_t>(p - line->data()));
}

std::string FormatDefaultRequestLine(const RequestLogEntry& e, bool memory_report,
                                     bool micros) {
  std::string line;
  AppendDefaultRequestLine(&line, e, memory_report, micros);
  return line;
}

LogFormat LogFormat::Compile(std::string_view format, bool strftime_literals) {
  static const std::pair<std::string_view, Item> kNames[] = {
      {"uri", Item::kUri}, {"method", Item::kMethod}, {"user", Item::kUser},
      {"addr", Item::kAddr}, {"host", Item::kHost}, {"proto", Item::kProto},
      {"uagent", Item::kUagent}, {"referer", Item::kReferer}, {"status", Item::kStatus},
      {"rsize", Item::kRsize}, {"hsize", Item::kHsize}, {"size", Item::kSize},
      {"cl", Item::kCl}, {"micros", Item::kMicros}, {"msecs", Item::kMsecs},
      {"secs", Item::kSecs}, {"time", Item::kTime}, {"ltime", Item::kLtime},
      {"ctime", Item::kCtime}, {"epoch", Item::kEpoch}, {"pid", Item::kPid},
      {"wid", Item::kWid}, {"switches", Item::kSwitches}, {"vars", Item::kVars},
      {"core", Item::kCore}, {"vsz", Item::kVsz}, {"rss", Item::kRss}, {"vszM", Item::kVszM},
      {"rssM", Item::kRssM}, {"pktsize", Item::kPktsize}, {"modifier1", Item::kModifier1},
      {"modifier2", Item::kModifier2}, {"headers", Item::kHeaders}, {"werr", Item::kWerr},
      {"rerr", Item::kRerr}, {"ioerr", Item::kIoerr},
  };
  LogFormat f;
  std::string literal;
  size_t i = 0;
  while (i < format.size()) {
    size_t close = std::string_view::npos;
    if (format.compare(i, 2, "%(") == 0) close = format.find(')', i + 2);
    if (close == std::string_view::npos) {
      literal.push_back(format[i++]);
      continue;
    }
    std::string_view name = format.substr(i + 2, close - i - 2);
    std::optional<Piece> piece;
    if (name.substr(0, 4) == "var." && name.size() > 4) {
      piece = Piece{Item::kVar, std::string(name.substr(4))};
    } else {
      for (const auto& [n, item] : kNames) {
        if (n == name) piece = Piece{item, ""};
      }
    }
    if (!piece.has_value()) {
      f.unknown_.emplace_back(name);
      literal.append(format.substr(i, close + 1 - i));
    } else {
      if (!literal.empty()) f.AddLiteral(std::exchange(literal, {}), strftime_literals);
      f.pieces_.push_back(std::move(*piece));
    }
    i = close + 1;
  }
  if (!literal.empty()) f.AddLiteral(std::move(literal), strftime_literals);
  const size_t first = format.find_first_not_of(" \t");
  f.json_values_ = (first != std::string_view::npos && format[first] == '{') ||
                   RequestLinesWrapJson();
  return f;
}

void LogFormat::AddLiteral(std::string text, bool strftime_literals) {
  const bool strftime = strftime_literals && text.find('%') != std::string::npos;
  pieces_.push_back({strftime ? Item::kStrftime : Item::kLiteral, std::move(text)});
}

std::string LogFormat::Format(const RequestLogEntry& e) const {
  std::string out;
  const int64_t micros = absl::ToInt64Microseconds(e.duration);
  // A value from the request, escaped for the line's form (request_log.h).
  const auto value = [&](std::string_view v) {
    if (json_values_) {
      AppendJsonEscaped(&out, v);
    } else {
      AppendLogSafe(&out, v);
    }
  };
  for (const Piece& p : pieces_) {
    switch (p.item) {
      case Item::kLiteral: out += p.text; break;
      case Item::kStrftime: {
        struct tm tm_buf = LocalTm(e.start);
        std::string buf(p.text.size() * 4 + 64, '\0');
        // The format is the operator's log-format text, not a literal.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        const size_t n = strftime(buf.data(), buf.size(), p.text.c_str(), &tm_buf);
#pragma GCC diagnostic pop
        out.append(buf.data(), n);
        break;
      }
      case Item::kUri: value(e.uri); break;
      case Item::kMethod: value(e.method); break;
      case Item::kUser: value(e.remote_user.empty() ? "-" : e.remote_user); break;
      case Item::kAddr: value(e.remote_addr); break;
      case Item::kHost: value(e.host); break;
      case Item::kProto: value(e.protocol); break;
      case Item::kUagent: value(e.user_agent); break;
      case Item::kReferer: value(e.referer); break;
      case Item::kStatus: absl::StrAppend(&out, e.status); break;
      case Item::kRsize: absl::StrAppend(&out, e.body_bytes); break;
      case Item::kHsize: absl::StrAppend(&out, e.header_bytes); break;
      case Item::kSize: absl::StrAppend(&out, e.body_bytes + e.header_bytes); break;
      case Item::kCl: value(e.content_length.empty() ? "0" : e.content_length); break;
      case Item::kMicros: absl::StrAppend(&out, micros); break;
      case Item::kMsecs: absl::StrAppend(&out, micros / 1000); break;
      case Item::kSecs: absl::StrAppendFormat(&out, "%.6f", micros / 1e6); break;
      case Item::kTime:
      case Item::kEpoch: absl::StrAppend(&out, absl::ToUnixSeconds(e.start)); break;
      case Item::kLtime: out += ApacheTime(e.start); break;
      case Item::kCtime: out += CtimeText(e.start); break;
      case Item::kPid: absl::StrAppend(&out, e.pid); break;
      case Item::kWid: absl::StrAppend(&out, e.worker_id); break;
      case Item::kSwitches: absl::StrAppend(&out, e.switches); break;
      case Item::kVars: absl::StrAppend(&out, e.var_pairs * 2); break;
      case Item::kCore: absl::StrAppend(&out, e.core_id); break;
      case Item::kVsz: absl::StrAppend(&out, e.vsz_bytes); break;
      case Item::kRss: absl::StrAppend(&out, e.rss_bytes); break;
      case Item::kVszM: absl::StrAppend(&out, e.vsz_bytes / (1024 * 1024)); break;
      case Item::kRssM: absl::StrAppend(&out, e.rss_bytes / (1024 * 1024)); break;
      case Item::kPktsize: absl::StrAppend(&out, e.vars_bytes); break;
      case Item::kModifier1: absl::StrAppend(&out, e.modifier1); break;
      case Item::kModifier2: absl::StrAppend(&out, e.modifier2); break;
      case Item::kHeaders: absl::StrAppend(&out, e.header_count); break;
      case Item::kWerr: absl::StrAppend(&out, e.write_error ? 1 : 0); break;
      case Item::kRerr: absl::StrAppend(&out, e.read_error ? 1 : 0); break;
      case Item::kIoerr: absl::StrAppend(&out, (e.read_error || e.write_error) ? 1 : 0); break;
      case Item::kVar:
        if (e.var) {
          if (std::optional<std::string_view> v = e.var(p.text)) value(*v);
        }
        break;
    }
  }
  return out;
}

void EmitRequestLine(std::string_view line) { LogRequest(line); }

}  // namespace kiln::log
