// Response heads and body framing (RFC 9112 6.1, 6.3, 7.1; uwsgi raw responses per the
// reference: version from SERVER_PROTOCOL or HTTP/1.0, nothing added).
#include "core/protocol/response_writer.h"

#include <array>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "core/base/strings.h"

namespace kiln::protocol {
namespace {

bool IEquals(std::string_view a, std::string_view b) {
  return absl::EqualsIgnoreCase(base::Av(a), base::Av(b));
}

bool HasConnectionClose(std::string_view value) {
  for (absl::string_view el : absl::StrSplit(base::Av(value), ',')) {
    if (absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(el), "close")) return true;
  }
  return false;
}

absl::Status BadContentLength(std::string_view value) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "response Content-Length \"%s\" is not a number of bytes", value));
}

}  // namespace

bool internal::ParseLengthSlow(std::string_view value, uint64_t* n) {
  return absl::SimpleAtoi(base::Av(value), n);
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

absl::Status ValidateHeader(std::string_view name, std::string_view value) {
  // The clean header (every one of an app that works) is told by the inline checks alone;
  // the loops below run only to name what is wrong.
  if (HeaderIsClean(name, value)) return absl::OkStatus();
  if (name.empty()) return absl::InvalidArgumentError("response header with an empty name");
  for (char c : name) {
    if (!IsTchar(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "response header name \"%s\" has a character outside RFC 9110 tchar",
          absl::CHexEscape(base::Av(name))));
    }
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "response header \"%s\" has CR, LF or NUL in its value", name));
}

absl::Status ValidateResponse(int status, std::string_view reason,
                              absl::Span<const Header> headers) {
  if (status < 100 || status > 999) {
    return absl::InvalidArgumentError(absl::StrFormat("response status %d is not 3 digits",
                                                      status));
  }
  if (HasCrLfNul(reason)) {
    return absl::InvalidArgumentError("response reason phrase has CR, LF or NUL");
  }
  for (const Header& h : headers) {
    absl::Status s = ValidateHeader(h.name, h.value);
    if (!s.ok()) return s;
    uint64_t n = 0;
    if (IsContentLengthName(h.name) && !ParseContentLength(h.value, &n)) {
      return BadContentLength(h.value);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ResponseHead> BuildResponseHead(int status, std::string_view reason,
                                               absl::Span<const Header> headers,
                                               const ResponseRequestInfo& info) {
  ResponseHead head;
  absl::Status s = WriteResponseHead(status, reason, headers, info, &head.bytes, &head);
  if (!s.ok()) return s;
  return head;
}

absl::Status WriteResponseHead(int status, std::string_view reason,
                               absl::Span<const Header> headers, const ResponseRequestInfo& info,
                               std::string* out, ResponseFrame* frame) {
  if (!info.validated) {
    absl::Status s = ValidateResponse(status, reason, headers);
    if (!s.ok()) return s;
  }
  if (reason.empty()) reason = ReasonPhrase(status);
  *frame = ResponseFrame{};
  std::string_view version = info.raw
      ? (info.server_protocol.empty() ? std::string_view("HTTP/1.0") : info.server_protocol)
      : std::string_view(info.http11 ? "HTTP/1.1" : "HTTP/1.0");
  // Written through a pointer into room made once (one resize, fixed-size copies), as the
  // request log line is: every response has a head, and a std::string append per piece was
  // most of this function's cost. The room: the status line, each header with ": " and CRLF,
  // and kiln's own lines (at most "Content-Length: " with 20 digits and "Connection:
  // keep-alive", each with CRLF: 62 bytes) and the blank line.
  size_t room = version.size() + 5 + reason.size() + 2 + 64 + 2;
  for (const Header& h : headers) room += h.name.size() + h.value.size() + 4;
  out->resize(room);
  char* const start = out->data();
  char* p = start;
  const auto put = [&p](std::string_view v) {
    if (v.empty()) return;  // an empty view may carry no pointer (memcpy from null)
    std::memcpy(p, v.data(), v.size());
    p += v.size();
  };
  const auto crlf = [&p] {
    p[0] = '\r';
    p[1] = '\n';
    p += 2;
  };
  put(version);
  // Status 100..999 (validated): three digits, written directly.
  p[0] = ' ';
  p[1] = static_cast<char>('0' + status / 100);
  p[2] = static_cast<char>('0' + status / 10 % 10);
  p[3] = static_cast<char>('0' + status % 10);
  p[4] = ' ';
  p += 5;
  put(reason);
  crlf();

  std::optional<uint64_t> app_length;
  bool app_close = false;
  for (const Header& h : headers) {
    if (!info.raw) {
      // Sizes first: most names are neither, and are told so without a call.
      if (h.name.size() == 17 && IEquals(h.name, "transfer-encoding")) continue;
      if (h.name.size() == 10 && IEquals(h.name, "connection")) {
        app_close = app_close || HasConnectionClose(h.value);
        continue;
      }
      if (IsContentLengthName(h.name)) {
        uint64_t n = 0;
        if (!ParseContentLength(h.value, &n)) {  // add-header's are not prevalidated
          out->clear();
          return BadContentLength(h.value);
        }
        app_length = n;
      }
    }
    put(h.name);
    p[0] = ':';
    p[1] = ' ';
    p += 2;
    put(h.value);
    crlf();
    ++frame->header_count;
  }
  const auto finish = [&] {
    crlf();
    out->resize(static_cast<size_t>(p - start));
  };
  if (info.raw) {
    frame->framing = ResponseFraming::kClose;
    frame->keep_alive = false;
    finish();
    return absl::OkStatus();
  }
  const bool no_body = info.head_request || status < 200 || status == 204 || status == 304;
  frame->keep_alive = info.keep_alive && !app_close;
  if (app_length.has_value()) {
    frame->framing = ResponseFraming::kContentLength;
    frame->content_length = *app_length;
  } else if (info.known_length.has_value()) {
    frame->framing = ResponseFraming::kContentLength;
    frame->content_length = *info.known_length;
    if (!(status < 200 || status == 204 || status == 304)) {
      put("Content-Length: ");
      p = std::to_chars(p, p + 20, *info.known_length).ptr;
      crlf();
      ++frame->header_count;
    }
  } else if (no_body) {
    frame->framing = ResponseFraming::kNoBody;
  } else if (info.http11) {
    frame->framing = ResponseFraming::kChunked;
    put("Transfer-Encoding: chunked\r\n");
    ++frame->header_count;
  } else {
    frame->framing = ResponseFraming::kClose;
    frame->keep_alive = false;
  }
  if (no_body) frame->framing = ResponseFraming::kNoBody;
  if (frame->keep_alive) {
    if (!info.http11) {
      put("Connection: keep-alive\r\n");
      ++frame->header_count;
    }
  } else {
    put("Connection: close\r\n");
    ++frame->header_count;
  }
  finish();
  return absl::OkStatus();
}

std::string ErrorResponse(int status, std::string_view detail) {
  std::string body = absl::StrCat(status, " ", base::Av(ReasonPhrase(status)), "\n");
  if (!detail.empty()) absl::StrAppend(&body, base::Av(detail), "\n");
  return absl::StrCat("HTTP/1.1 ", status, " ", base::Av(ReasonPhrase(status)),
                      "\r\nContent-Type: text/plain\r\nContent-Length: ", body.size(),
                      "\r\nConnection: close\r\n\r\n", body);
}

PieceFraming FramePieceOfSize(ResponseFraming framing, uint64_t size, char (&scratch)[24]) {
  if (framing != ResponseFraming::kChunked || size == 0) return {};
  const int len = std::snprintf(scratch, sizeof(scratch), "%llx\r\n",
                                static_cast<unsigned long long>(size));
  return {std::string_view(scratch, static_cast<size_t>(len)), "\r\n"};
}

size_t FrameBodyPiece(ResponseFraming framing, std::string_view data, char (&scratch)[24],
                      struct iovec* iov) {
  if (data.empty() || framing == ResponseFraming::kNoBody) return 0;
  const PieceFraming f = FramePieceOfSize(framing, data.size(), scratch);
  size_t n = 0;
  if (!f.before.empty()) iov[n++] = {const_cast<char*>(f.before.data()), f.before.size()};
  iov[n++] = {const_cast<char*>(data.data()), data.size()};
  if (!f.after.empty()) iov[n++] = {const_cast<char*>(f.after.data()), f.after.size()};
  return n;
}

}  // namespace kiln::protocol
