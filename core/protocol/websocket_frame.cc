// RFC 6455 5.2 (base framing), 5.4 (fragmentation), 5.5 (control frames), 5.6 (UTF-8 of
// text), 7.4 (close codes), 10.4 (message size limits).
#include "core/protocol/websocket_frame.h"

#include <cstdint>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kiln::protocol {
namespace {

uint64_t ReadBigEndian(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

void WriteBigEndian(uint64_t v, int n, uint8_t* out) {
  for (int i = n - 1; i >= 0; --i, v >>= 8) out[i] = static_cast<uint8_t>(v);
}

}  // namespace

bool IsValidWireCloseCode(uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

void ApplyWsMask(char* data, size_t len, const uint8_t key[4], size_t phase) {
  // The key repeated to eight bytes from `phase` on; stepping eight bytes (two whole keys) at
  // a time keeps the phase, so the tail starts at k[0] again.
  uint8_t k[8];
  for (size_t i = 0; i < 8; ++i) k[i] = key[(phase + i) & 3];
  uint64_t m;
  std::memcpy(&m, k, 8);
  while (len >= 8) {
    uint64_t w;
    std::memcpy(&w, data, 8);
    w ^= m;
    std::memcpy(data, &w, 8);
    data += 8;
    len -= 8;
  }
  for (size_t i = 0; i < len; ++i) data[i] = static_cast<char>(data[i] ^ k[i]);
}

WsParseResult WsFrameParser::Fail(uint16_t code, const char* why) {
  failed_ = true;
  WsParseResult r;
  r.status = WsParseStatus::kError;
  r.close_code = code;
  r.error = why;
  return r;
}

WsParseResult WsFrameParser::Parse(char* buf, size_t len) {
  using ws_close::kProtocolError;
  WsParseResult r;
  if (failed_) return Fail(kProtocolError, "frame after a protocol error");
  if (len < 2) {
    r.needed = 2;
    return r;
  }
  const auto* u = reinterpret_cast<const uint8_t*>(buf);
  const bool fin = (u[0] & 0x80) != 0;
  const uint8_t op = u[0] & 0x0F;
  const bool masked = (u[1] & 0x80) != 0;
  const uint8_t len7 = u[1] & 0x7F;

  const bool rsv1 = (u[0] & 0x40) != 0;
  if ((u[0] & 0x30) != 0) return Fail(kProtocolError, "RSV2 or RSV3 set (no extension uses them)");
  if (rsv1 && !options_.per_message_deflate) {
    return Fail(kProtocolError, "RSV1 set with no extension negotiated");
  }
  if (!(op <= 0x2 || (op >= 0x8 && op <= 0xA))) return Fail(kProtocolError, "reserved opcode");
  if (masked != options_.expect_masked) {
    return Fail(kProtocolError, options_.expect_masked ? "client frame not masked"
                                                       : "server frame masked");
  }
  const auto opcode = static_cast<WsOpcode>(op);
  const bool control = IsControl(opcode);
  if (control) {
    if (!fin) return Fail(kProtocolError, "fragmented control frame");
    if (len7 > 125) return Fail(kProtocolError, "control frame payload over 125 bytes");
  } else if (opcode == WsOpcode::kContinuation) {
    if (!in_message()) return Fail(kProtocolError, "continuation frame with no message open");
  } else if (in_message()) {
    return Fail(kProtocolError, "new data frame inside a fragmented message");
  }
  // RFC 7692 6.1: only the first frame of a data message says it is compressed.
  if (rsv1 && control) return Fail(kProtocolError, "RSV1 set on a control frame");
  if (rsv1 && opcode == WsOpcode::kContinuation) {
    return Fail(kProtocolError, "RSV1 set on a continuation frame");
  }
  const bool compressed = opcode == WsOpcode::kContinuation ? message_compressed_ : rsv1;

  const size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  const size_t header = 2 + ext + (masked ? 4 : 0);
  if (len < header) {
    r.needed = header;
    return r;
  }
  const uint64_t payload_len = ext == 0 ? len7 : ReadBigEndian(u + 2, static_cast<int>(ext));
  if (payload_len >> 63) return Fail(kProtocolError, "64-bit payload length with its MSB set");

  // The size cap, on the header alone: the caller never buffers a frame it would refuse.
  if (!control) {
    const uint64_t before = opcode == WsOpcode::kContinuation ? message_size_ : 0;
    const uint64_t cap = compressed ? WsCompressedWireCap(options_.max_message_size)
                                    : options_.max_message_size;
    if (payload_len > cap || before > cap - payload_len) {
      return Fail(ws_close::kMessageTooBig, "message over websocket-max-size");
    }
  }
  if (payload_len > SIZE_MAX - header) {
    return Fail(ws_close::kMessageTooBig, "frame larger than the address space");
  }
  const size_t frame_len = header + static_cast<size_t>(payload_len);
  if (len < frame_len) {
    r.needed = frame_len;
    return r;
  }

  // The whole frame is here: unmask in place and check the payload.
  char* payload = buf + header;
  const size_t n = static_cast<size_t>(payload_len);
  if (masked) ApplyWsMask(payload, n, u + 2 + ext);
  WsFrame& f = r.frame;
  f.opcode = opcode;
  f.fin = fin;
  f.payload = std::string_view(payload, n);

  if (!control) {
    const WsOpcode msg = opcode == WsOpcode::kContinuation ? message_opcode_ : opcode;
    f.message_opcode = msg;
    f.compressed = compressed;
    // A compressed text message is checked once inflated, by the consumer.
    if (msg == WsOpcode::kText && !compressed) {
      if (!utf8_.Feed(f.payload)) return Fail(ws_close::kInvalidPayload, "text not UTF-8");
      if (fin && !utf8_.AtBoundary()) {
        return Fail(ws_close::kInvalidPayload, "text message ends inside a UTF-8 sequence");
      }
    }
    if (fin) {
      message_opcode_ = WsOpcode::kContinuation;
      message_compressed_ = false;
      message_size_ = 0;
      utf8_.Reset();
    } else {
      message_opcode_ = msg;
      message_compressed_ = compressed;
      message_size_ += payload_len;
    }
  } else {
    f.message_opcode = opcode;
    if (opcode == WsOpcode::kClose) {
      if (n == 1) return Fail(kProtocolError, "close frame with a 1-byte payload");
      if (n == 0) {
        f.close_code = ws_close::kNoStatus;
      } else {
        f.close_code = static_cast<uint16_t>(ReadBigEndian(u + header, 2));
        if (!IsValidWireCloseCode(f.close_code)) {
          return Fail(kProtocolError, "close frame with an invalid code");
        }
        f.close_reason = f.payload.substr(2);
        if (!IsValidUtf8(f.close_reason)) {
          return Fail(ws_close::kInvalidPayload, "close reason not UTF-8");
        }
      }
    }
  }
  r.status = WsParseStatus::kFrame;
  r.consumed = frame_len;
  return r;
}

size_t WriteWsFrameHeader(WsOpcode opcode, bool fin, uint64_t payload_len,
                          uint8_t (&out)[kWsMaxHeader], bool compressed) {
  out[0] = static_cast<uint8_t>((fin ? 0x80 : 0) | (compressed ? 0x40 : 0) |
                                static_cast<uint8_t>(opcode));
  if (payload_len <= 125) {
    out[1] = static_cast<uint8_t>(payload_len);
    return 2;
  }
  if (payload_len <= 0xFFFF) {
    out[1] = 126;
    WriteBigEndian(payload_len, 2, out + 2);
    return 4;
  }
  out[1] = 127;
  WriteBigEndian(payload_len, 8, out + 2);
  return 10;
}

size_t FrameWsMessage(WsOpcode opcode, bool fin, std::string_view payload,
                      uint8_t (&header)[kWsMaxHeader], struct iovec* iov) {
  const size_t h = WriteWsFrameHeader(opcode, fin, payload.size(), header);
  iov[0] = {header, h};
  if (payload.empty()) return 1;
  iov[1] = {const_cast<char*>(payload.data()), payload.size()};
  return 2;
}

size_t BuildWsControlFrame(WsOpcode opcode, std::string_view payload,
                           uint8_t (&out)[kWsMaxControlFrame]) {
  if (payload.size() > 125) payload = payload.substr(0, 125);
  out[0] = static_cast<uint8_t>(0x80 | static_cast<uint8_t>(opcode));
  out[1] = static_cast<uint8_t>(payload.size());
  if (!payload.empty()) std::memcpy(out + 2, payload.data(), payload.size());
  return 2 + payload.size();
}

absl::StatusOr<size_t> BuildWsCloseFrame(uint16_t code, std::string_view reason,
                                         uint8_t (&out)[kWsMaxControlFrame]) {
  if (code == ws_close::kNoStatus) {
    if (!reason.empty()) return absl::InvalidArgumentError("a close reason needs a close code");
    return BuildWsControlFrame(WsOpcode::kClose, {}, out);
  }
  if (!IsValidWireCloseCode(code)) {
    return absl::InvalidArgumentError(
        absl::StrCat("WebSocket close code ", code, " may not be sent"));
  }
  if (!IsValidUtf8(reason)) return absl::InvalidArgumentError("close reason is not UTF-8");
  // Cut to 123 bytes, back to the start of a code point so the reason stays UTF-8.
  size_t keep = reason.size();
  if (keep > 123) {
    keep = 123;
    while (keep > 0 && (static_cast<uint8_t>(reason[keep]) & 0xC0) == 0x80) --keep;
  }
  out[0] = 0x80 | static_cast<uint8_t>(WsOpcode::kClose);
  out[1] = static_cast<uint8_t>(2 + keep);
  WriteBigEndian(code, 2, out + 2);
  if (keep > 0) std::memcpy(out + 4, reason.data(), keep);
  return 4 + keep;
}

}  // namespace kiln::protocol
