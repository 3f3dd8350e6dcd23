// The permessage-deflate extension of WebSocket (RFC 7692), pure: the negotiation of the
// handshake (which offer of the client's Sec-WebSocket-Extensions kiln takes, and the answer
// the 101 carries) and the per-connection codec, zlib's raw DEFLATE with RFC 7692's framing
// (a sync flush per message with its trailing 0x00 0x00 0xff 0xff left off on the wire).
// No syscalls. docs/websocket.md, "permessage-deflate".
//
// zlib rather than an own DEFLATE: the inflater is the part a hostile client feeds, and
// zlib's is the one every WebSocket implementation (Python's websockets and wsproto, nginx,
// browsers) relies on; Debian ships it (zlib1g), so it adds no build or package burden.
//
// Memory: each direction's zlib state is allocated at the first compressed message of that
// direction and freed with the codec (when the connection ends), or after every message when
// that side has no context takeover. With kiln's defaults it is at most 38 KiB for the
// deflater (window 2^12, memLevel 5) and 11 KiB for the inflater when the client accepted
// client_max_window_bits=12 (39 KiB when it did not offer that parameter, as the client may
// then use the full 2^15 window). WsZlibLiveBytes() counts it; the unit tests hold it to
// these figures.
//
// Ownership: the codec owns its zlib state; what it produces is appended to strings the
// caller owns. Offers and agreements are plain values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::protocol {

// One element of a Sec-WebSocket-Extensions header (RFC 6455 9.1): a name and its
// parameters, a quoted-string value already unquoted.
struct WsExtensionParam {
  std::string name;
  std::optional<std::string> value;  // nullopt: the parameter has no "=value"
};
struct WsExtensionOffer {
  std::string name;
  std::vector<WsExtensionParam> params;
};

// Parses a Sec-WebSocket-Extensions value (several headers arrive joined with ", ") by RFC
// 6455 9.1's grammar. InvalidArgument for a value outside it (RFC 6455 4.2.1: the server
// answers 400); empty list elements are skipped, as RFC 9110 5.6.1 asks of recipients.
absl::StatusOr<std::vector<WsExtensionOffer>> ParseWsExtensions(std::string_view value);

// kiln's side of the negotiation: the most it lets either end use. RFC 7692 lets the server
// cap the window it compresses with and, when the client offers client_max_window_bits, the
// one the client compresses with; these are the defaults Python's websockets library uses on
// its server side (enable_server_permessage_deflate: max_window_bits 12, memLevel 5) to keep
// a connection's zlib state near 50 KiB (zlib's own defaults, window 2^15 and memLevel 8 as
// uvicorn uses them, take some 300 KiB).
inline constexpr int kWsDeflateWindowBits = 12;  // server_max_window_bits kiln answers with
inline constexpr int kWsInflateWindowBits = 12;  // client_max_window_bits, when offered
inline constexpr int kWsDeflateMemLevel = 5;     // zlib's memLevel for kiln's deflater
// zlib's fastest level: the serving thread compresses for every connection it carries
// (Python's websockets uses zlib's default, 6; measured here, level 1 compresses JSON-like
// text about twice as fast to about as many bytes: docs/websocket.md, "permessage-deflate").
inline constexpr int kWsDeflateLevel = 1;

// What kiln and the client agreed on (RFC 7692 7.1).
struct WsDeflateAgreement {
  bool server_no_context_takeover = false;  // kiln resets its deflater after each message
  bool client_no_context_takeover = false;  // the client does: kiln resets its inflater
  int server_max_window_bits = kWsDeflateWindowBits;  // kiln compresses with this window
  int client_max_window_bits = 15;  // the largest window the client may compress with
  std::string response;  // the Sec-WebSocket-Extensions value of the 101
};

// Takes the first permessage-deflate offer kiln can honour, in the client's order (RFC 7692
// 5: an offer is declined, and the next one considered, when it has a parameter RFC 7692 does
// not define for an offer, a parameter twice, a value that is not allowed, or asks for what
// kiln cannot do: server_max_window_bits=8, which zlib's deflater does not support). Other
// extensions are never accepted. nullopt: none was taken, the 101 names no extension.
std::optional<WsDeflateAgreement> NegotiateWsDeflate(const std::vector<WsExtensionOffer>& offers);
// The same from the header value; a value that does not parse takes nothing.
std::optional<WsDeflateAgreement> NegotiateWsDeflate(std::string_view header);

// Bytes of zlib state all WebSocket codecs of the process hold now (every thread's).
size_t WsZlibLiveBytes();

// Compresses the messages kiln sends on one connection (RFC 7692 7.2.1).
class WsDeflater {
 public:
  // `window_bits` 9..15 (zlib's deflater has no 8); `no_context_takeover`: every message is
  // compressed on its own, and the zlib state is freed after each.
  WsDeflater(int window_bits, bool no_context_takeover, int mem_level = kWsDeflateMemLevel,
             int level = kWsDeflateLevel);
  ~WsDeflater();
  WsDeflater(const WsDeflater&) = delete;
  WsDeflater& operator=(const WsDeflater&) = delete;

  // Appends the payload of the compressed frame for `message` to *out: DEFLATE blocks ending
  // in a sync flush whose 0x00 0x00 0xff 0xff is left off. `message` must not be empty (an
  // empty message goes uncompressed: its compressed form after a flush would be no bytes,
  // which the peer cannot tell from a truncated block). On an error *out is as it was and the
  // deflater is spent: later messages must go uncompressed.
  absl::Status Compress(std::string_view message, std::string* out);
  // Bytes of zlib state held now.
  size_t memory() const;

 private:
  struct Stream;
  std::unique_ptr<Stream> z_;
  int window_bits_, mem_level_, level_;
  bool no_context_takeover_;
  bool failed_ = false;
};

// Inflates the compressed messages a client sends (RFC 7692 7.2.2), never producing more than
// the caller's limit.
class WsInflater {
 public:
  // `window_bits` 8..15: the largest window the client may use (zlib's inflater is given at
  // least 9, as a zlib-based client asked for 8 uses 9). `no_context_takeover`: each message
  // stands alone and the zlib state is freed after each.
  WsInflater(int window_bits, bool no_context_takeover);
  ~WsInflater();
  WsInflater(const WsInflater&) = delete;
  WsInflater& operator=(const WsInflater&) = delete;

  enum class Result {
    kOk,       // inflated onto *out
    kTooBig,   // the message inflates past `limit`: *out holds at most limit + 1 bytes
    kCorrupt,  // not DEFLATE data (or zlib could not allocate its state)
  };
  // Inflates one frame's payload of a compressed message onto *out; `fin`: the message's last
  // frame (the 0x00 0x00 0xff 0xff tail is added and the message completed; a message with
  // no payload bytes at all is taken as empty, the zlib state untouched). Inflation stops
  // as soon as *out would pass `limit` bytes, so a small frame that inflates to gigabytes costs
  // at most limit + 1 bytes; *out's capacity never grows past that either. After kTooBig or
  // kCorrupt the inflater is spent (the connection closes).
  Result Inflate(std::string_view payload, bool fin, uint64_t limit, std::string* out);
  // Bytes of zlib state held now.
  size_t memory() const;

 private:
  struct Stream;
  Result Run(std::string_view in, uint64_t limit, std::string* out);
  std::unique_ptr<Stream> z_;
  int window_bits_;
  bool no_context_takeover_;
  bool stream_ended_ = false;  // the client ended its DEFLATE stream (BFINAL) in this message
  bool message_started_ = false;  // the message being inflated had payload bytes so far
};

}  // namespace kiln::protocol
