// ServeOptions from the configuration: uWSGI's option names, checked ranges, and the
// static-map directories checked at startup (a typo fails the start, not the first request).
#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "core/base/strings.h"
#include "core/config/config.h"
#include "core/net/serve_loop.h"
#include "core/net/static_files.h"
#include "core/protocol/response_writer.h"

namespace kiln::net {
namespace {

// http-enable-proxy-protocol and the peers proxy-protocol-from trusts with the header (each
// value a list of addresses and CIDR ranges, split on commas and blanks).
absl::Status ReadProxyProtocol(const config::Config& cfg, ServeOptions* o) {
  o->proxy_protocol = cfg.GetFlag("http-enable-proxy-protocol");
  for (const std::string& value : cfg.GetList("proxy-protocol-from")) {
    for (absl::string_view word :
         absl::StrSplit(value, absl::ByAnyChar(", \t"), absl::SkipEmpty())) {
      absl::StatusOr<CidrRange> range = ParseCidr(base::Sv(word));
      if (!range.ok()) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "option `proxy-protocol-from`: %s", base::Sv(range.status().message())));
      }
      o->proxy_protocol_from.push_back(*range);
    }
  }
  if (!o->proxy_protocol_from.empty() && !o->proxy_protocol) {
    return absl::InvalidArgumentError(
        "option `proxy-protocol-from` needs `http-enable-proxy-protocol = true` (without it "
        "kiln reads no PROXY header from anyone)");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ServeOptions> ServeOptions::FromConfig(const config::Config& cfg) {
  ServeOptions o;
  const uint64_t buffer_size = cfg.GetSize("buffer-size");
  if (buffer_size < 512 || buffer_size > 65535) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "option `buffer-size`: %u is out of range; expected 512 to 65535 bytes (65535 is the "
        "largest block nginx sends)", buffer_size));
  }
  o.buffer_size = buffer_size;
  o.limit_post = cfg.GetSize("limit-post");
  o.websocket_max_size = cfg.GetSize("websocket-max-size");
  if (o.websocket_max_size == 0) {
    return absl::InvalidArgumentError("option `websocket-max-size` must be at least 1 byte");
  }
  o.websocket_per_message_deflate = cfg.GetFlag("websocket-per-message-deflate");
  o.websocket_ping_freq = cfg.GetDuration("websocket-ping-freq");
  o.websocket_pong_tolerance = cfg.GetDuration("websocket-pong-tolerance");
  if (o.websocket_ping_freq < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "option `websocket-ping-freq` must not be negative (0 turns the pings off)");
  }
  if (o.websocket_pong_tolerance < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("option `websocket-pong-tolerance` must not be negative");
  }
  // uWSGI accepts 0, and its clock counts whole seconds, so there an answer is late once the
  // next second begins: up to 1 s after the ping. kiln gives 0 that second, so such a file
  // starts and behaves as it did, instead of closing every pinged connection at once.
  if (o.websocket_pong_tolerance == absl::ZeroDuration()) {
    o.websocket_pong_tolerance = absl::Seconds(1);
  }
  o.post_buffering = cfg.GetSize("post-buffering");
  o.post_buffering_memory = cfg.GetSize("post-buffering-memory");
  o.socket_timeout = cfg.GetDuration("socket-timeout");
  o.http_timeout = cfg.GetDuration("http-timeout");
  if (o.socket_timeout <= absl::ZeroDuration() || o.http_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "options `socket-timeout` and `http-timeout` must be longer than zero seconds");
  }
  o.http_keepalive = cfg.GetNumber("http-keepalive");
  o.keepalive_drain = cfg.GetDuration("http-keepalive-drain");
  if (o.keepalive_drain < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("option `http-keepalive-drain` must not be negative");
  }
  // The master kills a worker still running after worker-reload-mercy: the drain ends a
  // second before, so idle connections are closed by the worker, not by the kill.
  const absl::Duration mercy = cfg.GetDuration("worker-reload-mercy");
  if (mercy > absl::ZeroDuration() && o.keepalive_drain >= mercy) {
    o.keepalive_drain = std::max(absl::ZeroDuration(), mercy - absl::Seconds(1));
  }
  const int64_t threads = cfg.GetNumber("threads");
  if (threads < 1 || threads > 1024) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "option `threads`: %d is out of range; expected 1 to 1024", threads));
  }
  o.threads = static_cast<int>(threads);
  o.disable_logging = cfg.GetFlag("disable-logging");
  o.log_4xx = cfg.GetFlag("log-4xx");
  o.log_5xx = cfg.GetFlag("log-5xx");
  o.log_slow_ms = cfg.GetNumber("log-slow");
  o.log_date = cfg.Has("log-date");
  o.memory_report = cfg.GetFlag("memory-report");
  o.log_micros = cfg.GetFlag("log-micros");
  o.logformat_strftime = cfg.GetFlag("logformat-strftime");
  o.log_sendfile = cfg.GetFlag("log-sendfile");
  o.log_x_forwarded_for = cfg.GetFlag("log-x-forwarded-for");
  o.ignore_write_errors = cfg.GetFlag("ignore-write-errors");
  o.disable_write_exception = cfg.GetFlag("disable-write-exception");
  o.log_format = cfg.GetString("log-format");
  o.builtin_handler = cfg.GetFlag("builtin-handler");
  if (absl::Status s = ReadProxyProtocol(cfg, &o); !s.ok()) return s;
  o.request_log_buffer = cfg.GetSize("request-log-buffer");
  if (o.request_log_buffer > 65536) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "option `request-log-buffer`: %u is out of range; expected 0 (write each line at once) "
        "to 65536 bytes", o.request_log_buffer));
  }
  for (const std::string& header : cfg.GetList("add-header")) {
    const size_t colon = header.find(':');
    std::string name = header.substr(0, colon);
    std::string value(colon == std::string::npos
                          ? absl::string_view()
                          : absl::StripAsciiWhitespace(absl::string_view(header).substr(colon + 1)));
    absl::Status valid = colon == std::string::npos
                             ? absl::InvalidArgumentError("expected `Name: value`")
                             : protocol::ValidateHeader(name, value);
    if (!valid.ok()) {
      return absl::InvalidArgumentError(absl::StrFormat("option `add-header = %s`: %s", header,
                                                        base::Sv(valid.message())));
    }
    o.add_headers.emplace_back(std::move(name), std::move(value));
  }
  for (const std::string& map : cfg.GetList("static-map")) {
    size_t eq = map.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == map.size()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "option `static-map`: \"%s\" is not /mountpoint=/directory", map));
    }
    o.static_maps.emplace_back(map.substr(0, eq), map.substr(eq + 1));
  }
  o.static_safe = cfg.GetList("static-safe");
  o.static_extras.gzip_all = cfg.GetFlag("static-gzip-all");
  for (const std::string& rule : cfg.GetList("static-expires")) {
    // uWSGI's form: `REGEX SECONDS`, split at the first space.
    const size_t space = rule.find(' ');
    int64_t seconds = 0;
    if (space == std::string::npos || space == 0 ||
        !absl::SimpleAtoi(absl::string_view(rule).substr(space + 1), &seconds)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "option `static-expires = %s`: expected `REGEX SECONDS` (e.g. `\\.css$ 86400`)",
          rule));
    }
    o.static_extras.expires.emplace_back(rule.substr(0, space), seconds);
  }
  if (!o.static_maps.empty()) {
    absl::StatusOr<StaticFiles> files =
        StaticFiles::Create(o.static_maps, o.static_safe, o.static_extras);
    if (!files.ok()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "option `static-map`: %s", std::string(files.status().message())));
    }
  }
  return o;
}

}  // namespace kiln::net
