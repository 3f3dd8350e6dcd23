// The state of a WebSocket connection a handler took over (ServeThread, websocket_conn.cc):
// the serving thread parses the client's frames out of the connection's read buffer with the
// RFC 6455 codec (core/protocol/websocket_frame.h), joins fragments into whole messages for
// the handler, answers pings and close frames itself, and frames what the handler sends.
// docs/websocket.md, "Serving WebSocket connections".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/protocol/websocket_frame.h"
#include "core/protocol/websocket_handshake.h"

namespace kiln::net {

struct WsConn {
  WsConn(const protocol::WsHandshake& hs, uint64_t max_message_size)
      : key(hs.key), parser(protocol::WsParserOptions{max_message_size, true}) {
    for (std::string_view p : hs.subprotocols) subprotocols.emplace_back(p);
  }

  // The handshake, copied: the request's variables do not outlive the detach.
  std::string key;
  std::vector<std::string> subprotocols;
  protocol::WsFrameParser parser;
  std::string message;     // the fragments of the message being received, joined
  bool message_binary = false;
  bool accepted = false;   // the 101 is queued
  bool refused = false;    // a 403 (or 500) answered the handshake instead
  bool want = false;       // the handler asked for a message not yet delivered
  bool close_sent = false;     // our close frame is queued: nothing more is sent
  bool close_received = false;  // the client closed (or broke the rules), or kiln is stopping
};

}  // namespace kiln::net
