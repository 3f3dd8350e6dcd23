// The WebSocket opening handshake (RFC 6455 4.2), pure: checks an upgrade request given as
// CGI variables (the same names whether the HTTP/1.1 parser made them or nginx sent them in a
// uwsgi packet: REQUEST_METHOD, SERVER_PROTOCOL, HTTP_UPGRADE, HTTP_CONNECTION,
// HTTP_SEC_WEBSOCKET_*) and builds the 101 response head or the error answer. No syscalls.
//
// Ownership: a WsHandshake's views point into the request's variable values (the Request, or
// what a RequestContext hands out until the handler returns); the response heads are strings
// the caller owns.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "core/protocol/request.h"
#include "core/protocol/request_context.h"

namespace kiln::protocol {

// The one version RFC 6455 defines.
inline constexpr std::string_view kWsVersion = "13";

struct WsHandshake {
  std::string_view key;                        // Sec-WebSocket-Key, 24 base64 characters
  std::vector<std::string_view> subprotocols;  // Sec-WebSocket-Protocol, in the client's order
  // Sec-WebSocket-Extensions as sent (checked against RFC 6455 9.1's grammar). The serving
  // loop takes a permessage-deflate offer from it (websocket_deflate.h) unless
  // websocket-per-message-deflate is off; no other extension is ever accepted.
  std::string_view extensions;
};

enum class WsUpgrade {
  kNone,  // not a WebSocket request (no "websocket" in Upgrade): serve it as plain HTTP
  kOk,    // a valid handshake: `handshake` is filled
  kBad,   // asks for WebSocket but breaks a rule: answer WsHandshakeErrorResponse()
};

struct WsHandshakeCheck {
  WsUpgrade result = WsUpgrade::kNone;
  WsHandshake handshake;
  int http_status = 0;  // kBad: 400, or 426 for a version other than 13
  std::string message;  // kBad: what was wrong, for the log and the response body
};

using VarLookup = absl::FunctionRef<std::optional<std::string_view>(std::string_view)>;

// Checks the handshake: GET, HTTP/1.1 or later, Host, "websocket" in the Upgrade list and
// "upgrade" in the Connection list (tokens, case-insensitive), Sec-WebSocket-Version 13, a
// Sec-WebSocket-Key that is the base64 form of 16 bytes, and a Sec-WebSocket-Extensions that
// follows RFC 6455 9.1's grammar (if present).
WsHandshakeCheck CheckWsHandshake(VarLookup var);
WsHandshakeCheck CheckWsHandshake(const Request& req);
WsHandshakeCheck CheckWsHandshake(const RequestContext& req);

// base64(SHA-1(key + the RFC's GUID)): the Sec-WebSocket-Accept value (4.2.2 item 5.4).
std::string WsAcceptValue(std::string_view key);

// The 101 Switching Protocols head for an accepted handshake. `subprotocol` is empty (none)
// or one the client offered (InvalidArgument otherwise). extra_headers come from the
// application; the headers this layer owns (Upgrade, Connection, Sec-WebSocket-Accept,
// -Protocol, -Extensions, Content-Length, Transfer-Encoding) are left out of them, and a
// header with CR, LF or NUL or a name that is not a token is InvalidArgument. `extensions`,
// if not empty, is the Sec-WebSocket-Extensions value (the agreed permessage-deflate).
absl::StatusOr<std::string> BuildWsAcceptResponse(const WsHandshake& handshake,
                                                  std::string_view subprotocol,
                                                  const std::vector<Header>& extra_headers,
                                                  std::string_view extensions = {});

// The answer to a kBad handshake: check.http_status with the message as text, and for 426
// the Sec-WebSocket-Version: 13 and Upgrade: websocket headers (RFC 6455 4.4, RFC 9110
// 15.5.22). The connection closes after it.
std::string WsHandshakeErrorResponse(const WsHandshakeCheck& check);

}  // namespace kiln::protocol
