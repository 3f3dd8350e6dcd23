// Chunked transfer coding as a byte-at-a-time state machine, with a bulk copy for chunk data.
// chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF; last-chunk = 1*"0" [ chunk-ext ] CRLF;
// then trailer fields and a final CRLF. chunk-ext = *( BWS ";" ... ): whitespace after the size
// must lead to a ';'. A bare LF is accepted where CRLF is expected.
#include "core/protocol/chunked_decoder.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"

namespace kiln::protocol {
namespace {

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') return (c | 0x20) - 'a' + 10;
  return -1;
}

}  // namespace

ChunkedDecoder::Result ChunkedDecoder::Fail(Result r, std::string message) {
  state_ = State::kError;
  r.status = ParseStatus::kError;
  r.message = std::move(message);
  return r;
}

ChunkedDecoder::Result ChunkedDecoder::Decode(const char* in, size_t len, char* out,
                                              size_t out_len) {
  Result r;
  if (state_ == State::kError) return Fail(r, "chunked body already failed");
  size_t i = 0;
  while (i < len && state_ != State::kDone) {
    const char c = in[i];
    switch (state_) {
      case State::kSize: {
        const int h = Hex(c);
        if (h >= 0) {
          if (++size_digits_ > 15) return Fail(r, "chunk size has more than 15 hex digits");
          remaining_ = remaining_ * 16 + static_cast<uint64_t>(h);
        } else if (size_digits_ == 0) {
          return Fail(r, absl::StrFormat("chunk size line starts with 0x%02x, not a hex digit",
                                         static_cast<unsigned char>(c)));
        } else if (c == ';') {
          state_ = State::kExt;
        } else if (c == ' ' || c == '\t') {
          state_ = State::kSizeWs;
        } else if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (c == '\n') {
          state_ = remaining_ > 0 ? State::kData : State::kTrailer;
          line_len_ = 0;
          break;
        } else {
          return Fail(r, absl::StrFormat("chunk size line has 0x%02x after the size",
                                         static_cast<unsigned char>(c)));
        }
        if (++line_len_ > limits_.max_line) return Fail(r, "chunk size line too long");
        break;
      }
      case State::kSizeWs:
        // BWS is allowed only before a chunk extension's ';' (RFC 9112 7.1.1): "0 \r\n" is
        // a size line some parsers read as 0 and others refuse, so it is refused here.
        if (c == ';') {
          state_ = State::kExt;
        } else if (c != ' ' && c != '\t') {
          return Fail(r, "whitespace after the chunk size is not followed by ';'");
        }
        if (++line_len_ > limits_.max_line) return Fail(r, "chunk size line too long");
        break;
      case State::kExt:
        if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (c == '\n') {
          state_ = remaining_ > 0 ? State::kData : State::kTrailer;
          line_len_ = 0;
        } else if (++line_len_ > limits_.max_line) {
          return Fail(r, "chunk extension too long");
        }
        break;
      case State::kSizeLf:
        if (c != '\n') return Fail(r, "chunk size line: CR not followed by LF");
        state_ = remaining_ > 0 ? State::kData : State::kTrailer;
        line_len_ = 0;
        break;
      case State::kData: {
        const size_t room = out_len - r.produced;
        if (room == 0) {
          r.consumed = i;
          return r;
        }
        const size_t n = static_cast<size_t>(std::min<uint64_t>({remaining_, len - i, room}));
        std::memcpy(out + r.produced, in + i, n);
        r.produced += n;
        remaining_ -= n;
        total_ += n;
        i += n;
        if (remaining_ == 0) state_ = State::kDataCr;
        continue;
      }
      case State::kDataCr:
        if (c == '\r') {
          state_ = State::kDataLf;
        } else if (c == '\n') {
          state_ = State::kSize;
          size_digits_ = 0;
        } else {
          return Fail(r, "chunk data not followed by CRLF (chunk size disagrees with the data)");
        }
        break;
      case State::kDataLf:
        if (c != '\n') return Fail(r, "chunk data not followed by CRLF");
        state_ = State::kSize;
        size_digits_ = 0;
        line_len_ = 0;
        break;
      case State::kTrailer:
        // At the start of a trailer line: an empty line ends the message.
        if (line_len_ == 0 && c == '\r') {
          state_ = State::kTrailerLf;
        } else if (line_len_ == 0 && c == '\n') {
          state_ = State::kDone;
        } else if (c == '\n') {
          line_len_ = 0;
        } else {
          ++line_len_;
          if (++trailer_bytes_ > limits_.max_trailers) return Fail(r, "trailer fields too large");
        }
        break;
      case State::kTrailerLf:
        if (c != '\n') return Fail(r, "final CR of a chunked body not followed by LF");
        state_ = State::kDone;
        break;
      case State::kDone:
      case State::kError:
        break;
    }
    ++i;
  }
  r.consumed = i;
  if (state_ == State::kDone) r.status = ParseStatus::kComplete;
  return r;
}

}  // namespace kiln::protocol
