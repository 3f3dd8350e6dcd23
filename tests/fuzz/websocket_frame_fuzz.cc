// Fuzz target: the WebSocket frame parser over arbitrary bytes, as a connection would feed it
// (in reads of sizes taken from the input), with the size cap, role and permessage-deflate
// taken from the input. Checks the parser's promises: kNeedMore asks for more than it was
// given and changed nothing, a frame lies inside the buffer, a finished text message is
// UTF-8, a close code is one a peer may send, and a data frame re-framed by the writer parses
// back to itself. With deflate (the low bit of the first byte), compressed messages go
// through the inflater as the serving loop feeds it: never more than the cap (plus the one
// byte that shows it was passed), in output or in capacity; and each data frame's payload
// compressed by kiln's deflater inflates back to itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/protocol/websocket_deflate.h"
#include "core/protocol/websocket_frame.h"

namespace {

using kiln::protocol::WsFrameParser;
using kiln::protocol::WsOpcode;
using kiln::protocol::WsParseResult;
using kiln::protocol::WsParseStatus;

void Check(bool ok) {
  if (!ok) std::abort();
}

// The writer's frame for `payload`, parsed back by a client-role parser.
void CheckRoundTrip(WsOpcode op, bool fin, std::string_view payload) {
  uint8_t header[kiln::protocol::kWsMaxHeader];
  struct iovec iov[2];
  const size_t n = kiln::protocol::FrameWsMessage(op, fin, payload, header, iov);
  std::string wire;
  for (size_t i = 0; i < n; ++i) wire.append(static_cast<char*>(iov[i].iov_base), iov[i].iov_len);
  WsFrameParser client({payload.size(), /*expect_masked=*/false});
  const WsParseResult r = client.Parse(wire.data(), wire.size());
  Check(r.status == WsParseStatus::kFrame && r.consumed == wire.size() && r.frame.payload == payload);
}

// kiln's deflater and an inflater as the client's: what one compresses the other restores.
void CheckDeflateRoundTrip(kiln::protocol::WsDeflater& d, kiln::protocol::WsInflater& in,
                           std::string_view payload) {
  if (payload.empty()) return;  // sent uncompressed
  std::string wire, back;
  Check(d.Compress(payload, &wire).ok());
  Check(in.Inflate(wire, true, payload.size(), &back) == kiln::protocol::WsInflater::Result::kOk);
  Check(back == payload);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint64_t max = 1 + (static_cast<uint64_t>(data[0]) << 8);  // 1..65281 bytes
  const bool server = (data[1] & 0x80) == 0;
  const size_t read_size = 1 + (data[1] & 0x7F);  // bytes per simulated read
  // The connection's read buffer, owned here; the parser only views it.
  std::vector<char> buf;
  const char* in = reinterpret_cast<const char*>(data + 2);
  size_t in_left = size - 2;
  const bool deflate = (data[0] & 1) != 0;
  kiln::protocol::WsParserOptions options{max, server};
  options.per_message_deflate = deflate;
  WsFrameParser parser(options);
  kiln::protocol::WsInflater inflater(15, false);  // the serving loop's, for the client's bytes
  kiln::protocol::WsDeflater echo_deflater(kiln::protocol::kWsDeflateWindowBits, false);
  kiln::protocol::WsInflater echo_inflater(kiln::protocol::kWsDeflateWindowBits, false);
  std::string inflated;  // the compressed message so far, inflated
  std::string text;  // the open text message's bytes so far, checked whole at its end
  std::string before;
  while (true) {
    // Copying the buffer for every read would make long inputs quadratic: small ones only.
    const bool compare = buf.size() <= 1024;
    if (compare) before.assign(buf.begin(), buf.end());
    const WsParseResult r = parser.Parse(buf.data(), buf.size());
    if (r.status == WsParseStatus::kError) {
      Check(r.close_code == 1002 || r.close_code == 1007 || r.close_code == 1009);
      Check(r.error != nullptr && r.error[0] != '\0');
      return 0;
    }
    if (r.status == WsParseStatus::kNeedMore) {
      Check(r.needed > buf.size());
      // The cap is checked on the header (at most 14 bytes); control frames stay under 126.
      const uint64_t wire_cap = deflate ? kiln::protocol::WsCompressedWireCap(max) : max;
      Check(r.needed <= (wire_cap > 125 ? wire_cap : 125) + 14);
      Check(!compare || before.compare(0, std::string::npos, buf.data(), buf.size()) == 0);
      if (in_left == 0) return 0;
      const size_t take = read_size < in_left ? read_size : in_left;
      buf.insert(buf.end(), in, in + take);
      in += take;
      in_left -= take;
      continue;
    }
    const kiln::protocol::WsFrame& f = r.frame;
    Check(r.consumed >= 2 && r.consumed <= buf.size());
    Check(f.payload.data() >= buf.data() &&
          f.payload.data() + f.payload.size() == buf.data() + r.consumed);
    if (kiln::protocol::IsControl(f.opcode)) {
      Check(f.payload.size() <= 125 && f.fin);
      if (f.opcode == WsOpcode::kClose && !f.payload.empty()) {
        Check(kiln::protocol::IsValidWireCloseCode(f.close_code));
        Check(kiln::protocol::IsValidUtf8(f.close_reason));
      }
    } else if (f.compressed) {
      Check(deflate);
      Check(f.payload.size() <= kiln::protocol::WsCompressedWireCap(max));
      Check(parser.in_message() == !f.fin);
      const auto result = inflater.Inflate(f.payload, f.fin, max, &inflated);
      if (result == kiln::protocol::WsInflater::Result::kTooBig) {
        Check(inflated.size() == max + 1 && inflated.capacity() <= max + 1);
        return 0;  // the connection closes with 1009
      }
      if (result == kiln::protocol::WsInflater::Result::kCorrupt) return 0;  // 1007
      Check(inflated.size() <= max && inflated.capacity() <= max + 1);
      if (f.fin) inflated.clear();
    } else {
      Check(f.payload.size() <= max);
      Check(f.message_opcode == WsOpcode::kText || f.message_opcode == WsOpcode::kBinary);
      Check(parser.in_message() == !f.fin);
      if (deflate) CheckDeflateRoundTrip(echo_deflater, echo_inflater, f.payload);
      if (f.message_opcode == WsOpcode::kText) {
        text.append(f.payload);
        if (f.fin) {
          Check(kiln::protocol::IsValidUtf8(text));
          text.clear();
        }
      }
      if (f.opcode != WsOpcode::kContinuation) CheckRoundTrip(f.opcode, f.fin, f.payload);
    }
    buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(r.consumed));
  }
}
