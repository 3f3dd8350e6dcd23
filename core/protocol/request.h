// Request: the CGI variables of one request as views, whichever protocol carried it, plus a
// per-request arena for the few strings a parser has to derive (HTTP_* names, decoded paths).
// Pure data: knows nothing of sockets. A parser's views point into the caller's read buffer
// or the arena; OwnHead() then moves the head into the Request, so every view a served
// request hands out points at bytes the Request itself owns (docs/design.md "Who owns a
// request's bytes").
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace kiln::protocol {

// Result of a pure parser step (picohttpparser shape).
enum class ParseStatus { kComplete, kIncomplete, kError };

// A name and its value: a request variable, or a response header (one type for both, so a
// handler can pass variables on as headers and the framing code reads either).
struct Var {
  std::string_view name;
  std::string_view value;
};
using Header = Var;

// Whether `name` is the literal `lit`. Names of 8 to 16 bytes take two 8-byte compares (the
// first and the last 8 bytes, overlapping for shorter names), no call. For the hot paths that
// pick known variables out of a request (REQUEST_METHOD, SERVER_PROTOCOL, REMOTE_ADDR, ...): a
// compare through std::string_view's operator== calls memcmp, and many CGI names share a
// length.
template <size_t N>
inline bool NameIs(std::string_view name, const char (&lit)[N]) {
  if (name.size() != N - 1) return false;
  if constexpr (N - 1 < 8 || N - 1 > 16) {
    return std::memcmp(name.data(), lit, N - 1) == 0;
  }
  uint64_t a, b, x, y;
  std::memcpy(&a, name.data(), 8);
  std::memcpy(&b, name.data() + (N - 1 - 8), 8);
  std::memcpy(&x, lit, 8);
  std::memcpy(&y, lit + (N - 1 - 8), 8);
  return a == x && b == y;
}

// How the request body is delimited.
enum class BodyFraming { kNone, kContentLength, kChunked };

// What the serving loop needs besides the variables; both parsers fill it.
struct HttpHead {
  BodyFraming framing = BodyFraming::kNone;
  uint64_t content_length = 0;  // for kContentLength
  int minor_version = 1;        // HTTP/1.<minor> (SERVER_PROTOCOL for uwsgi)
  bool keep_alive = true;       // after Connection and the version default; never for uwsgi
  bool expect_continue = false;
  bool is_head = false;
};

// Bump allocator for strings that live as long as one request. Blocks never move, so views
// handed out stay valid until Reset().
class Arena {
 public:
  Arena() = default;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  Arena(Arena&&) = default;
  Arena& operator=(Arena&&) = default;

  // Returns `n` writable bytes (n may be 0).
  char* Allocate(size_t n);
  // Copies `s` into the arena and returns a view of the copy.
  std::string_view Copy(std::string_view s);
  // Concatenates a, sep, b into the arena.
  std::string_view Join(std::string_view a, std::string_view sep, std::string_view b);
  // Forgets every allocation; keeps the first block for reuse.
  void Reset();
  size_t bytes_used() const { return used_total_; }

 private:
  static constexpr size_t kBlockSize = 4096;
  struct Block {
    std::unique_ptr<char[]> data;
    size_t size = 0;
    size_t used = 0;
  };
  std::vector<Block> blocks_;
  size_t used_total_ = 0;
};

// The request head as both parsers produce it.
struct Request {
  uint8_t modifier1 = 0;
  uint8_t modifier2 = 0;
  // Variables in arrival order. A name may appear twice (uwsgi); Get() returns the last.
  std::vector<Var> vars;
  // Bytes of the head on the wire: the uwsgi datasize, or the HTTP request line + headers.
  size_t head_bytes = 0;
  Arena arena;

  // Takes ownership of the head: copies buf[0..len) (the bytes the parser viewed, in a buffer
  // the caller goes on to reuse, such as a connection's read buffer) into storage this Request
  // keeps, and points every view that fell inside it at the copy. Views into the arena, and
  // those the caller vouched for (ConnectionInfo: strings that outlive the Request), stay as
  // they are. After it, nothing the caller does to its buffer can change a variable. The
  // storage is kept across Clear() and grows to the largest head seen (at most buffer-size).
  void OwnHead(const char* buf, size_t len);

  std::optional<std::string_view> Get(std::string_view name) const;
  // Replaces the last variable called `name`, or appends it.
  void Set(std::string_view name, std::string_view value);
  // Size of the vars if encoded as a uwsgi block (what uWSGI logs as "bytes").
  size_t EncodedVarsSize() const;
  // Forgets the variables (the head storage and the arena's first block are kept for reuse).
  void Clear();

 private:
  std::unique_ptr<char[]> head_store_;  // the owned copy of the head (OwnHead)
  size_t head_store_capacity_ = 0;
};

}  // namespace kiln::protocol
