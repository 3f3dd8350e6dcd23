// Pure uwsgi packet parser: the 4-byte header and the vars block exactly as nginx's uwsgi_pass
// sends them. Bytes in, views out; no syscalls. Views point into the caller's buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/protocol/request.h"

namespace kiln::protocol {

inline constexpr size_t kUwsgiHeaderSize = 4;

enum class UwsgiError {
  kNone,
  kBlockTooLarge,  // datasize over the buffer-size limit: answer 431 (docs/decisions.md 18)
  kMalformed,      // a length past the block, an empty key: close and log
  kBadContentLength,  // CONTENT_LENGTH is not a decimal number: close and log
};

struct UwsgiParseResult {
  ParseStatus status = ParseStatus::kIncomplete;
  // Bytes of the packet head (4 + datasize) when complete; the body starts there.
  size_t consumed = 0;
  UwsgiError error = UwsgiError::kNone;
  // datasize from the header, once 4 bytes were seen.
  size_t block_size = 0;
  // For errors: what was wrong and where, e.g. "key length 300 at offset 12 runs past the
  // 40-byte vars block".
  std::string message;
};

// Parses one packet head from buf[0..len). On kComplete, `req` holds modifier1/2 and every
// var (arrival order; Request::Get gives the last of duplicates), and `head` the body framing
// as ParseHttp1 reports it: CONTENT_LENGTH (empty or 0: no body), HTTP/1.0 from
// SERVER_PROTOCOL, HEAD; never keep-alive (the connection end frames the response).
// `limit` is buffer-size. kIncomplete means more bytes are needed; req and head are then
// unspecified.
UwsgiParseResult ParseUwsgi(const char* buf, size_t len, size_t limit, Request* req,
                            HttpHead* head);

// Appends the encoding of one var to `out` (for tests, benchmarks and clients).
void AppendUwsgiVar(std::string* out, std::string_view key, std::string_view value);
// Wraps a vars block with the 4-byte header.
std::string MakeUwsgiPacket(const std::string& vars_block, uint8_t modifier1 = 0,
                            uint8_t modifier2 = 0);

}  // namespace kiln::protocol
