// Fuzz target: a chunked request body read through the connection, as a handler reads it
// (ConnectionRequest::ReadBody over a Connection on a socketpair), or collected first as
// post-buffering does (BufferBody). Input: [split][mode] then the body bytes. `split` says
// how much of the body is already in the connection's buffer (read with the head) before the
// rest arrives; `mode` picks the handler's read size and BufferBody. What comes out must equal
// the chunked decoder's one-shot decode of the same bytes, and a failed read must end in a
// 4xx answer (400/408/413), never a 5xx.
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/base/unique_fd.h"
#include "core/net/connection.h"
#include "core/net/connection_request.h"
#include "core/net/serve_loop.h"
#include "core/protocol/chunked_decoder.h"
#include "core/protocol/http1_parser.h"
#include "core/protocol/request.h"

namespace {

using kiln::protocol::ParseStatus;

constexpr size_t kMaxInput = 64 * 1024;  // fits a socketpair's buffer: no write ever blocks

// The reference: the whole input decoded at once. Sets *ok when the body is complete.
std::string DecodeAtOnce(const std::string& in, bool* ok) {
  kiln::protocol::ChunkedDecoder d(kiln::protocol::ChunkedDecoder::Limits{4096, 4096});
  std::string out(in.size(), '\0');
  auto r = d.Decode(in.data(), in.size(), out.data(), out.size());
  *ok = r.status == ParseStatus::kComplete;
  out.resize(r.produced);
  return out;
}

void WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) std::abort();
    p += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2 || size > kMaxInput) return 0;
  const std::string body(reinterpret_cast<const char*>(data + 2), size - 2);
  const size_t split = body.empty() ? 0 : data[0] % (body.size() + 1);
  const size_t read_size = 1 + (data[1] & 0x3f) * 97;
  const bool buffer_first = (data[1] & 0x40) != 0;
  const bool limited = (data[1] & 0x80) != 0;

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0) std::abort();
  kiln::base::UniqueFd peer(sv[1]);
  kiln::net::ServeOptions options;
  options.buffer_size = 4096;
  options.socket_timeout = absl::Seconds(1);  // never reached: the peer's end is shut down
  options.limit_post = limited ? body.size() / 2 : 0;
  options.post_buffering = buffer_first ? kMaxInput : 0;
  kiln::net::Connection conn(kiln::base::UniqueFd(sv[0]), kiln::net::Protocol::kHttp, "fuzz",
                             options.buffer_size + 32768);
  // The first part arrives with the head (already buffered), the rest on the socket.
  WriteAll(peer.Get(), body.data(), split);
  bool would_block = false;
  if (split > 0 && !conn.ReadAvailable(&would_block).ok()) std::abort();
  WriteAll(peer.Get(), body.data() + split, body.size() - split);
  shutdown(peer.Get(), SHUT_WR);

  kiln::protocol::Request req;
  kiln::protocol::HttpHead head;
  head.framing = kiln::protocol::BodyFraming::kChunked;
  kiln::net::ConnectionRequest ctx(conn, req, head, options, true, 1, 0);
  std::string got;
  bool failed = false;
  if (buffer_first && !ctx.BufferBody().ok()) failed = true;
  std::string buf(read_size, '\0');
  while (!failed) {
    absl::StatusOr<size_t> n = ctx.ReadBody(buf.data(), buf.size());
    if (!n.ok()) {
      failed = true;
      break;
    }
    if (*n > buf.size()) std::abort();
    if (*n == 0) break;
    got.append(buf.data(), *n);
  }
  bool complete = false;
  const std::string want = DecodeAtOnce(body, &complete);
  // Whatever was read is a prefix of the reference decode; a clean end is the whole of it.
  if (want.compare(0, got.size(), got) != 0) std::abort();
  if (!failed && (!complete || got != want)) std::abort();
  if (!failed && !ctx.body_done()) std::abort();
  ctx.Finish();  // no response started: the answer is the body's error, or 500 for none
  if (failed && (ctx.status() < 400 || ctx.status() >= 500)) std::abort();
  return 0;
}
