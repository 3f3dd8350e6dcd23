// Fuzz target: the HTTP/1.x head parser, then (for chunked requests) the chunked decoder over
// the rest of the input, fed in pieces whose sizes come from the input itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/protocol/chunked_decoder.h"
#include "core/protocol/http1_parser.h"

using kiln::protocol::ParseStatus;

namespace {

void DecodeChunked(const char* in, size_t len, size_t step) {
  kiln::protocol::ChunkedDecoder d(kiln::protocol::ChunkedDecoder::Limits{256, 1024});
  char out[37];
  std::string pending;
  size_t pos = 0;
  while (true) {
    const size_t n = std::min(step, len - pos);
    pending.append(in + pos, n);
    pos += n;
    while (true) {
      auto r = d.Decode(pending.data(), pending.size(), out, sizeof(out));
      if (r.consumed > pending.size() || r.produced > sizeof(out)) std::abort();
      pending.erase(0, r.consumed);
      if (r.status != ParseStatus::kIncomplete) return;
      if (r.produced == 0) break;
    }
    if (pos == len) return;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t step = 1 + data[0] % 17;
  const char* buf = reinterpret_cast<const char*>(data + 1);
  const size_t len = size - 1;
  kiln::protocol::ConnectionInfo conn{"127.0.0.1", "1", "localhost", "80", "http"};
  kiln::protocol::Request req;
  kiln::protocol::HttpHead head;
  auto r = kiln::protocol::ParseHttp1(buf, len, 2048, conn, &req, &head);
  if (r.status == ParseStatus::kError) {
    if (r.http_status < 400 || r.http_status > 505 || r.message.empty()) std::abort();
    return 0;
  }
  if (r.status != ParseStatus::kComplete) return 0;
  if (r.consumed > len || !req.Get("REQUEST_METHOD").has_value()) std::abort();
  if (head.framing == kiln::protocol::BodyFraming::kChunked) {
    DecodeChunked(buf + r.consumed, len - r.consumed, step);
  }
  return 0;
}
