// Pure HTTP/1.x request-head parser (RFC 9112): request line + header fields in, the same CGI
// variables a uwsgi packet carries out (PROTOCOL.md "CGI variables from HTTP"), plus the body
// framing. No syscalls. Views point into the caller's buffer or the Request's arena.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/protocol/request.h"

namespace kiln::protocol {

// Facts about the connection the parser turns into REMOTE_*/SERVER_* variables. The views
// must outlive the Request.
struct ConnectionInfo {
  std::string_view remote_addr;
  std::string_view remote_port;
  std::string_view server_name;  // used when the request has no Host header
  std::string_view server_port;
  std::string_view scheme = "http";
};

struct HttpParseResult {
  ParseStatus status = ParseStatus::kIncomplete;
  size_t consumed = 0;  // bytes of the head including the blank line, on kComplete
  // On kError: the status to answer (400, 414, 431, 501, 505) and what was wrong.
  int http_status = 0;
  std::string message;
};

// Parses one request head from buf[0..len). `max_head` caps the request line + headers
// (buffer-size): a longer line is 414, a longer head 431. Leading empty lines are skipped
// (RFC 9112 2.2). More than 512 header fields is 431. Header names with '_' are dropped, as nginx does, so that "X_Real_IP"
// cannot pose as "X-Real-IP" in HTTP_X_REAL_IP.
HttpParseResult ParseHttp1(const char* buf, size_t len, size_t max_head,
                           const ConnectionInfo& conn, Request* req, HttpHead* head);

// Whether the blank line that ends an HTTP head is in buf[0..len). Looks only at the bytes
// from *scanned on (less the 3 that a "\n\r\n" may straddle) and, when the end is not there
// yet, sets *scanned to len: a head that trickles in a few bytes per read is scanned once in
// all, not once per read. The caller resets *scanned to 0 for the next head.
bool HttpHeadEndArrived(const char* buf, size_t len, size_t* scanned);

// Percent-decodes `in` into the arena. False on a bad escape or an encoded NUL.
bool PercentDecode(std::string_view in, Arena* arena, std::string_view* out);

}  // namespace kiln::protocol
