// Response framing, pure: status + headers -> the bytes of the response head, and body pieces
// -> iovecs. HTTP/1.1 framing for http sockets (Content-Length, chunked or close-delimited;
// HEAD and 1xx/204/304 get no body), or the raw response uwsgi expects (no added headers, the
// connection end frames the body). No syscalls.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/protocol/request.h"
#include "core/protocol/tchar.h"

namespace kiln::protocol {

enum class ResponseFraming {
  kNoBody,         // HEAD, 1xx, 204, 304: headers only
  kContentLength,  // exactly content_length body bytes follow
  kChunked,        // chunked transfer coding (HTTP/1.1 clients)
  kClose,          // the body ends when the connection closes (HTTP/1.0, uwsgi)
};

struct ResponseRequestInfo {
  bool raw = false;                     // uwsgi socket: raw response, no added headers
  std::string_view server_protocol;     // from the request ("HTTP/1.1"); raw uses it verbatim
  bool http11 = true;                   // the client speaks HTTP/1.1 (chunked allowed)
  bool head_request = false;
  bool keep_alive = false;              // what the connection would like
  // The body size when the whole body is already known (one chunk); nullopt when streaming.
  std::optional<uint64_t> known_length;
  // The status, reason and headers already passed ValidateResponse: not checked again.
  bool validated = false;
};

// How the body of a response is framed, as decided with its head.
struct ResponseFrame {
  ResponseFraming framing = ResponseFraming::kClose;
  uint64_t content_length = 0;  // for kContentLength
  bool keep_alive = false;      // whether the connection may serve another request
  size_t header_count = 0;      // header lines written
};

struct ResponseHead : ResponseFrame {
  std::string bytes;          // status line + headers + blank line
};

// The standard reason phrase for `status` ("OK", "Not Found"), or "Unknown".
std::string_view ReasonPhrase(int status);

// Whether a header name is Content-Length, in any case. Inline, as two 8-byte compares:
// every header of every response is asked (up to three times on the way out), and the
// library's case-insensitive compare was an out-of-line byte loop each time. OR-ing 0x20
// folds only letters' case here, and the one byte it would also let through ('\r' for the
// '-') is checked exactly.
inline bool IsContentLengthName(std::string_view name) {
  if (name.size() != 14 || name[7] != '-') return false;
  constexpr uint64_t kFold = 0x2020202020202020ull;
  uint64_t head, tail, want_head, want_tail;
  std::memcpy(&head, name.data(), 8);
  std::memcpy(&tail, name.data() + 6, 8);
  std::memcpy(&want_head, "content-", 8);
  std::memcpy(&want_tail, "t-length", 8);
  return (head | kFold) == want_head && (tail | kFold) == want_tail;
}

namespace internal {

// Whether `bad` holds for a byte of `s`, asked only of bytes below 14 (CR, LF and NUL all
// are). Eight bytes at a time: a word has a byte below 14 exactly when
// (w - 0x0e..) & ~w & 0x80.. is not zero (a borrow starts only at a byte that is itself below
// 14, so there is no false alarm in a word without one); only then are its bytes looked at.
template <typename Bad>
inline bool AnyLowByte(std::string_view s, Bad bad) {
  constexpr uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
  const char* p = s.data();
  size_t n = s.size();
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    if (((w - 14 * kOnes) & ~w & kHigh) != 0) {
      for (int i = 0; i < 8; ++i) {
        if (bad(p[i])) return true;
      }
    }
  }
  for (; n > 0; ++p, --n) {
    if (bad(*p)) return true;
  }
  return false;
}

}  // namespace internal

// Whether `s` holds CR, LF or NUL (what a reason phrase or a header value must not).
inline bool HasCrLfNul(std::string_view s) {
  return internal::AnyLowByte(s, [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

// Whether `s` holds CR or LF (what would end a line of the head).
inline bool HasCrLf(std::string_view s) {
  return internal::AnyLowByte(s, [](char c) { return c == '\r' || c == '\n'; });
}

namespace internal {

// Whether every byte of `s` is a tchar: four table reads per test.
inline bool AllTokenChars(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size();
  for (; n >= 4; p += 4, n -= 4) {
    // A sum, not &&: no branch per byte (and no bitwise & on bools, which clang warns of).
    if (kTokenChars[p[0]] + kTokenChars[p[1]] + kTokenChars[p[2]] + kTokenChars[p[3]] != 4) {
      return false;
    }
  }
  for (; n > 0; ++p, --n) {
    if (!kTokenChars[*p]) return false;
  }
  return true;
}

bool ParseLengthSlow(std::string_view value, uint64_t* n);

}  // namespace internal

// What ValidateHeader accepts, as a yes or no (no message): a non-empty tchar name, a value
// free of CR, LF and NUL.
inline bool HeaderIsClean(std::string_view name, std::string_view value) {
  return !name.empty() && internal::AllTokenChars(name) && !HasCrLfNul(value);
}

// A Content-Length value as absl::SimpleAtoi reads it into a uint64_t (the same values
// accepted and refused). Plain digits, up to 19 of them (cannot overflow), are read here;
// anything else (spaces, a sign, 20 digits) goes to SimpleAtoi.
inline bool ParseContentLength(std::string_view value, uint64_t* n) {
  if (value.empty() || value.size() > 19) return internal::ParseLengthSlow(value, n);
  uint64_t v = 0;
  for (char c : value) {
    const unsigned d = static_cast<unsigned char>(c) - static_cast<unsigned>('0');
    if (d > 9) return internal::ParseLengthSlow(value, n);
    v = v * 10 + d;
  }
  *n = v;
  return true;
}

// Checks one header: name a token, name and value free of CR, LF and NUL.
absl::Status ValidateHeader(std::string_view name, std::string_view value);

// Checks what an app passes to start a response: status 100..999, a reason free of CR, LF
// and NUL, every header (ValidateHeader) and a numeric Content-Length. InvalidArgument, naming
// the header, otherwise.
absl::Status ValidateResponse(int status, std::string_view reason,
                              absl::Span<const Header> headers);

// Builds the response head. Fails (InvalidArgument, naming the header) on a bad header or a
// status outside 100..999; nothing is to be sent then. An app's Content-Length is kept and
// frames the body; its Transfer-Encoding and Connection headers are replaced by the framing
// kiln chooses (Connection: close from the app ends keep-alive).
absl::StatusOr<ResponseHead> BuildResponseHead(int status, std::string_view reason,
                                               absl::Span<const Header> headers,
                                               const ResponseRequestInfo& info);

// The same head written into *out (replacing its contents) with plain copies, no formatting:
// once `out` has grown to the size of a head, building one allocates nothing, so a serving
// thread reuses one string for all its responses. *frame describes the head written.
absl::Status WriteResponseHead(int status, std::string_view reason,
                               absl::Span<const Header> headers, const ResponseRequestInfo& info,
                               std::string* out, ResponseFrame* frame);

// A canned error response ("HTTP/1.1 431 Request Header Fields Too Large", text body,
// Content-Length, Connection: close) for answers the core gives itself.
std::string ErrorResponse(int status, std::string_view detail = {});

// Fills iov with the framing for one body piece: [chunk-size line] data [CRLF]. `scratch` holds
// the chunk-size line and must outlive the writev. Returns the iovec count (0 for empty data).
size_t FrameBodyPiece(ResponseFraming framing, std::string_view data, char (&scratch)[24],
                      struct iovec* iov);

// What goes before and after a body piece of `size` bytes (> 0) that is sent by other means
// (sendfile): the chunk-size line (in `scratch`) and CRLF when chunked, nothing otherwise.
struct PieceFraming {
  std::string_view before, after;
};
PieceFraming FramePieceOfSize(ResponseFraming framing, uint64_t size, char (&scratch)[24]);
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";
inline constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

}  // namespace kiln::protocol
