// The state of a WebSocket connection a handler took over (ServeThread, websocket_conn.cc):
// the serving thread parses the client's frames out of the connection's read buffer with the
// RFC 6455 codec (core/protocol/websocket_frame.h), joins fragments into whole messages for
// the handler, answers pings and close frames itself, and frames what the handler sends;
// with permessage-deflate agreed it inflates what arrives and compresses what goes out.
// docs/websocket.md, "Serving WebSocket connections".
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "core/protocol/websocket_deflate.h"
#include "core/protocol/websocket_frame.h"
#include "core/protocol/websocket_handshake.h"

namespace kiln::net {

struct WsConn {
  // `per_message_deflate`: the websocket-per-message-deflate option; the client's offer, if
  // kiln can honour one, is taken here and answered in the 101.
  WsConn(const protocol::WsHandshake& hs, uint64_t max_message_size, bool per_message_deflate)
      : key(hs.key),
        max_message_size(max_message_size),
        deflate(per_message_deflate ? protocol::NegotiateWsDeflate(hs.extensions)
                                    : std::nullopt),
        parser(ParserOptions(max_message_size, deflate.has_value())) {
    for (std::string_view p : hs.subprotocols) subprotocols.emplace_back(p);
    if (deflate) {
      deflater = std::make_unique<protocol::WsDeflater>(deflate->server_max_window_bits,
                                                        deflate->server_no_context_takeover);
      inflater = std::make_unique<protocol::WsInflater>(deflate->client_max_window_bits,
                                                        deflate->client_no_context_takeover);
    }
  }

  static protocol::WsParserOptions ParserOptions(uint64_t max, bool deflate) {
    protocol::WsParserOptions o{max, true};
    o.per_message_deflate = deflate;
    return o;
  }

  // The handshake, copied: the request's variables do not outlive the detach.
  std::string key;
  std::vector<std::string> subprotocols;
  uint64_t max_message_size;
  // permessage-deflate, when agreed: the codec's zlib state is allocated at the first
  // compressed message each way and freed with the WsConn (docs/websocket.md). A deflater
  // that failed is dropped and later messages go uncompressed, which RFC 7692 allows.
  std::optional<protocol::WsDeflateAgreement> deflate;
  std::unique_ptr<protocol::WsDeflater> deflater;
  std::unique_ptr<protocol::WsInflater> inflater;
  protocol::WsFrameParser parser;
  std::string message;     // the fragments of the message being received, joined
  bool message_binary = false;
  bool accepted = false;   // the 101 is queued
  bool refused = false;    // a 403 (or 500) answered the handshake instead
  bool want = false;       // the handler asked for a message not yet delivered
  bool close_sent = false;     // our close frame is queued: nothing more is sent
  bool close_received = false;  // the client closed (or broke the rules), or kiln is stopping
  // Keepalive (websocket-ping-freq; ServeThread::WsKeepalive, run by the sweep). `heard`: when
  // the client last sent bytes, by the serving thread's sweep clock (a store per read, no clock
  // read). `keepalive_at`: when the sweep next looks at this connection (never with pings off).
  // `ping_sent`: when our unanswered ping was queued (InfinitePast: none is).
  absl::Time heard = absl::InfinitePast();
  absl::Time keepalive_at = absl::InfiniteFuture();
  absl::Time ping_sent = absl::InfinitePast();
};

}  // namespace kiln::net
