// Incremental decoder for the chunked transfer coding (RFC 9112 7.1). Pure: feed it whatever
// bytes arrived, it copies chunk data out and says how much input it used. Chunk extensions
// are ignored; trailer fields are skipped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/protocol/request.h"

namespace kiln::protocol {

class ChunkedDecoder {
 public:
  struct Limits {
    size_t max_line = 4096;       // a chunk-size line with its extensions
    size_t max_trailers = 65535;  // all trailer lines together
  };
  struct Result {
    // kComplete once the last chunk and the trailers are through; kIncomplete when more input
    // is needed (or `out` is full); kError with `message` on malformed input.
    ParseStatus status = ParseStatus::kIncomplete;
    size_t consumed = 0;  // input bytes used
    size_t produced = 0;  // data bytes written to out
    std::string message;
  };

  ChunkedDecoder() = default;
  explicit ChunkedDecoder(Limits limits) : limits_(limits) {}

  // Decodes from in[0..len) into out[0..out_len). Call again with the unused input plus new
  // bytes. After kComplete, bytes past `consumed` belong to the next request.
  Result Decode(const char* in, size_t len, char* out, size_t out_len);
  bool done() const { return state_ == State::kDone; }
  uint64_t total() const { return total_; }

 private:
  enum class State { kSize, kSizeWs, kExt, kSizeLf, kData, kDataCr, kDataLf, kTrailer, kTrailerLf, kDone,
                     kError };
  Result Fail(Result r, std::string message);

  Limits limits_;
  State state_ = State::kSize;
  uint64_t remaining_ = 0;  // data bytes left in the current chunk
  uint64_t total_ = 0;
  size_t line_len_ = 0;       // bytes of the current size or trailer line
  size_t trailer_bytes_ = 0;
  int size_digits_ = 0;
};

}  // namespace kiln::protocol
