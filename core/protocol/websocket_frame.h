// WebSocket framing (RFC 6455 section 5), pure: a parser for the frames a client sends and a
// writer for the frames a server sends. No syscalls, no allocation per frame, no copies: the
// parser unmasks a payload in place in the caller's buffer and hands back a view of it; the
// writer produces a frame header in a caller's array and points an iovec at the caller's
// payload. RSV1 marks a compressed message when permessage-deflate was negotiated (RFC 7692;
// the compression itself is websocket_deflate.h); RSV2 and RSV3 must always be 0.
//
// Ownership: the parser keeps no pointer to any byte it was given; the caller owns its read
// buffer throughout, and a WsFrame's views point into it (valid until the caller reuses those
// bytes). The writer's output lives in the caller's arrays.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/protocol/utf8_validator.h"

namespace kiln::protocol {

enum class WsOpcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

inline bool IsControl(WsOpcode op) { return (static_cast<uint8_t>(op) & 0x8) != 0; }

// Close codes this layer sends or reports (RFC 6455 7.4.1).
namespace ws_close {
inline constexpr uint16_t kNormal = 1000;
inline constexpr uint16_t kGoingAway = 1001;
inline constexpr uint16_t kProtocolError = 1002;
inline constexpr uint16_t kUnsupportedData = 1003;
inline constexpr uint16_t kNoStatus = 1005;  // never on the wire: "the close frame had no code"
inline constexpr uint16_t kAbnormal = 1006;  // never on the wire: "no close frame at all"
inline constexpr uint16_t kInvalidPayload = 1007;
inline constexpr uint16_t kPolicyViolation = 1008;
inline constexpr uint16_t kMessageTooBig = 1009;
inline constexpr uint16_t kInternalError = 1011;
}  // namespace ws_close

// Whether a peer may put `code` in a close frame: 1000-1003, 1007-1014 (RFC 6455 and the IANA
// registry), 3000-4999 (libraries, applications). 1004-1006, 1015, 1016-2999 and anything
// below 1000 or above 4999 are a protocol error (1002).
bool IsValidWireCloseCode(uint16_t code);

// One frame, unmasked. `payload` points into the buffer given to Parse().
struct WsFrame {
  WsOpcode opcode = WsOpcode::kContinuation;  // as on the wire
  // For data frames the type of the message the frame belongs to (kText or kBinary, also for
  // its continuation frames); for control frames the same as opcode.
  WsOpcode message_opcode = WsOpcode::kContinuation;
  bool fin = false;  // for data frames: the last frame of the message
  // For data frames: the message is compressed (RSV1 on its first frame, permessage-deflate).
  // The payload is then DEFLATE data, not yet checked as UTF-8 or against the size cap.
  bool compressed = false;
  std::string_view payload;
  // Close frames: the code (ws_close::kNoStatus when the payload is empty) and the reason
  // (a view into the payload, checked UTF-8).
  uint16_t close_code = 0;
  std::string_view close_reason;
};

enum class WsParseStatus { kNeedMore, kFrame, kError };

struct WsParseResult {
  WsParseStatus status = WsParseStatus::kNeedMore;
  // kFrame: the bytes of the frame (header + payload) to drop from the buffer.
  // kNeedMore: how many bytes from the start of the buffer the next step needs (the header,
  // then the whole frame). Never more than max(max_message_size, 125) + 14, as the size is
  // checked on the header: a buffer of that size always suffices (with permessage-deflate,
  // WsCompressedWireCap(max_message_size) + 14).
  size_t consumed = 0;
  size_t needed = 0;
  WsFrame frame;
  // kError: the close code to send (1002 protocol error, 1007 invalid UTF-8, 1009 too big)
  // and a fixed description for the log. The connection is to be closed after it.
  uint16_t close_code = 0;
  const char* error = "";
};

struct WsParserOptions {
  // Cap on one message's payload, fragments together (websocket-max-size). A bigger message
  // is refused with 1009 as soon as a frame header announces it, before its bytes arrive.
  uint64_t max_message_size = 1 << 20;
  // A server's parser requires masked frames (RFC 6455 5.1); a client's refuses them.
  bool expect_masked = true;
  // permessage-deflate was negotiated (RFC 7692 6): RSV1 may mark the first frame of a data
  // message as compressed. On a control or continuation frame it is still a protocol error.
  bool per_message_deflate = false;
};

// The wire size a compressed message may take: the cap plus 1/16 (and 64 bytes), since
// DEFLATE makes data that does not compress a little longer (zlib stores such data in blocks
// with a 5-byte header each). The cap that matters, on the inflated size, is the consumer's
// (WsInflater).
inline uint64_t WsCompressedWireCap(uint64_t max_message_size) {
  return max_message_size + max_message_size / 16 + 64;
}

// Parses the frames of one connection, in order. State kept between frames: whether a
// fragmented message is open, its type and size, and the UTF-8 state of a text message.
class WsFrameParser {
 public:
  explicit WsFrameParser(WsParserOptions options = {}) : options_(options) {}

  // Looks at buf[0..len), which starts at a frame boundary. Until a whole frame is there it
  // returns kNeedMore and touches nothing, so the caller can call again with more bytes at
  // the same place. On kFrame the payload has been unmasked in place (buf is modified) and
  // the caller drops `consumed` bytes before the next call. After kError the parser is spent.
  WsParseResult Parse(char* buf, size_t len);

  // True while a fragmented data message has started and not finished.
  bool in_message() const { return message_opcode_ != WsOpcode::kContinuation; }

 private:
  WsParseResult Fail(uint16_t code, const char* why);

  WsParserOptions options_;
  WsOpcode message_opcode_ = WsOpcode::kContinuation;  // kText/kBinary while one is open
  bool message_compressed_ = false;                    // the open message had RSV1
  uint64_t message_size_ = 0;                          // payload bytes of it so far
  Utf8Validator utf8_;                                 // text message state across frames
  bool failed_ = false;
};

// XORs data[0..len) with the 4-byte masking key, starting at key byte `phase` (0..3), eight
// bytes at a time. Masking and unmasking are the same operation.
void ApplyWsMask(char* data, size_t len, const uint8_t key[4], size_t phase = 0);

// --- Writer (server to client: never masked, RFC 6455 5.1) ---

// A server frame header is 2, 4 or 10 bytes.
inline constexpr size_t kWsMaxHeader = 10;
// The largest control frame: 2 header bytes + 125 payload bytes.
inline constexpr size_t kWsMaxControlFrame = 127;

// Writes the header of an unmasked frame with `payload_len` bytes into out; returns its size.
// The shortest length form is used (7-bit up to 125, 16-bit up to 65535, 64-bit above).
// `compressed` sets RSV1: the first frame of a permessage-deflate message.
size_t WriteWsFrameHeader(WsOpcode opcode, bool fin, uint64_t payload_len,
                          uint8_t (&out)[kWsMaxHeader], bool compressed = false);

// Fills iov with one frame: the header (in `header`, which must outlive the writev) and the
// payload (the caller's bytes, not copied). Returns the iovec count (1 or 2).
size_t FrameWsMessage(WsOpcode opcode, bool fin, std::string_view payload,
                      uint8_t (&header)[kWsMaxHeader], struct iovec* iov);

// A whole ping or pong frame in out; the payload is cut to 125 bytes. Returns the frame size.
size_t BuildWsControlFrame(WsOpcode opcode, std::string_view payload,
                           uint8_t (&out)[kWsMaxControlFrame]);

// A whole close frame in out: the code, then the reason cut to 123 bytes on a UTF-8 boundary.
// ws_close::kNoStatus sends an empty close frame (no code, no reason). InvalidArgument for a
// code an endpoint may not send or a reason that is not UTF-8; nothing is written then.
absl::StatusOr<size_t> BuildWsCloseFrame(uint16_t code, std::string_view reason,
                                         uint8_t (&out)[kWsMaxControlFrame]);

}  // namespace kiln::protocol
