// RFC 6455 4.2.1 (reading the client's handshake), 4.2.2 (the server's answer), 4.4 (version
// mismatch), 11.3.4 (Sec-WebSocket-Protocol as a list of tokens).
#include "core/protocol/websocket_handshake.h"

#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/base/strings.h"
#include "core/protocol/response_writer.h"
#include "core/protocol/sha1.h"
#include "core/protocol/websocket_deflate.h"

namespace kiln::protocol {
namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::string_view Trim(std::string_view s) {
  return base::Sv(absl::StripAsciiWhitespace(base::Av(s)));
}

// Whether the comma-separated list `value` has `token` as an element (case-insensitive).
bool ListHas(std::string_view value, std::string_view token) {
  for (absl::string_view el : absl::StrSplit(base::Av(value), ',')) {
    if (absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(el), base::Av(token))) return true;
  }
  return false;
}

// An RFC 9110 token: what a header name must be, so ValidateHeader's name check says it.
bool IsToken(std::string_view s) { return !s.empty() && ValidateHeader(s, "").ok(); }

// 24 characters of the base64 alphabet ending "==": exactly 16 bytes (4.2.1 item 5).
bool IsWsKey(std::string_view key) {
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  for (size_t i = 0; i < 22; ++i) {
    const char c = key[i];
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/') {
      return false;
    }
  }
  return true;
}

// SERVER_PROTOCOL at least HTTP/1.1.
bool AtLeastHttp11(std::string_view proto) {
  if (!absl::StartsWith(base::Av(proto), "HTTP/") || proto.size() < 8 || proto[6] != '.') {
    return false;
  }
  const char major = proto[5], minor = proto[7];
  if (major < '1' || major > '9' || minor < '0' || minor > '9') return false;
  return major > '1' || minor >= '1';
}

WsHandshakeCheck Bad(int status, std::string message) {
  WsHandshakeCheck c;
  c.result = WsUpgrade::kBad;
  c.http_status = status;
  c.message = std::move(message);
  return c;
}

// The headers the 101 writes itself; an application's copies are dropped.
bool OwnedHeader(std::string_view name) {
  static constexpr std::array<std::string_view, 7> kOwned = {
      "upgrade", "connection", "sec-websocket-accept", "sec-websocket-protocol",
      "sec-websocket-extensions", "content-length", "transfer-encoding"};
  for (std::string_view o : kOwned) {
    if (absl::EqualsIgnoreCase(base::Av(name), base::Av(o))) return true;
  }
  return false;
}

}  // namespace

WsHandshakeCheck CheckWsHandshake(VarLookup var) {
  const std::optional<std::string_view> upgrade = var("HTTP_UPGRADE");
  if (!upgrade || !ListHas(*upgrade, "websocket")) return {};

  if (var("REQUEST_METHOD").value_or("") != "GET") {
    return Bad(400, "a WebSocket handshake must be a GET request");
  }
  if (!AtLeastHttp11(var("SERVER_PROTOCOL").value_or(""))) {
    return Bad(400, "a WebSocket handshake needs HTTP/1.1");
  }
  if (!var("HTTP_HOST")) return Bad(400, "a WebSocket handshake needs a Host header");
  if (!ListHas(var("HTTP_CONNECTION").value_or(""), "upgrade")) {
    return Bad(400, "a WebSocket handshake needs \"upgrade\" in the Connection header");
  }
  const std::optional<std::string_view> version = var("HTTP_SEC_WEBSOCKET_VERSION");
  if (!version) return Bad(400, "a WebSocket handshake needs Sec-WebSocket-Version");
  if (Trim(*version) != kWsVersion) {
    return Bad(426, "unsupported Sec-WebSocket-Version (this server speaks 13)");
  }
  const std::string_view key = Trim(var("HTTP_SEC_WEBSOCKET_KEY").value_or(""));
  if (!IsWsKey(key)) {
    return Bad(400, "Sec-WebSocket-Key is missing or not the base64 form of 16 bytes");
  }

  WsHandshakeCheck c;
  c.result = WsUpgrade::kOk;
  c.handshake.key = key;
  if (std::optional<std::string_view> protos = var("HTTP_SEC_WEBSOCKET_PROTOCOL")) {
    for (absl::string_view el : absl::StrSplit(base::Av(*protos), ',')) {
      const std::string_view p = base::Sv(absl::StripAsciiWhitespace(el));
      if (p.empty()) continue;
      if (!IsToken(p)) return Bad(400, "Sec-WebSocket-Protocol has an element that is not a token");
      c.handshake.subprotocols.push_back(p);
    }
  }
  c.handshake.extensions = var("HTTP_SEC_WEBSOCKET_EXTENSIONS").value_or("");
  // RFC 6455 4.2.1: a handshake field outside its grammar is answered 400. (Offers that
  // parse but cannot be honoured are only declined: websocket_deflate.h.)
  if (absl::Status s = ParseWsExtensions(c.handshake.extensions).status(); !s.ok()) {
    return Bad(400, std::string(s.message()));
  }
  return c;
}

WsHandshakeCheck CheckWsHandshake(const Request& req) {
  return CheckWsHandshake([&req](std::string_view name) { return req.Get(name); });
}

WsHandshakeCheck CheckWsHandshake(const RequestContext& req) {
  return CheckWsHandshake([&req](std::string_view name) { return req.Var(name); });
}

std::string WsAcceptValue(std::string_view key) {
  Sha1 h;
  h.Update(key);
  h.Update(kGuid);
  const Sha1::Digest d = h.Final();
  return absl::Base64Escape(
      absl::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

absl::StatusOr<std::string> BuildWsAcceptResponse(const WsHandshake& handshake,
                                                  std::string_view subprotocol,
                                                  const std::vector<Header>& extra_headers,
                                                  std::string_view extensions) {
  std::string out = absl::StrCat(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ",
      WsAcceptValue(handshake.key), "\r\n");
  if (!subprotocol.empty()) {
    bool offered = false;
    for (std::string_view p : handshake.subprotocols) offered |= (p == subprotocol);
    if (!offered) {
      return absl::InvalidArgumentError(absl::StrCat(
          "subprotocol \"", base::Av(subprotocol), "\" was not offered by the client"));
    }
    absl::StrAppend(&out, "Sec-WebSocket-Protocol: ", base::Av(subprotocol), "\r\n");
  }
  if (!extensions.empty()) {
    absl::StrAppend(&out, "Sec-WebSocket-Extensions: ", base::Av(extensions), "\r\n");
  }
  for (const Header& h : extra_headers) {
    if (absl::Status s = ValidateHeader(h.name, h.value); !s.ok()) return s;
    if (OwnedHeader(h.name)) continue;
    absl::StrAppend(&out, base::Av(h.name), ": ", base::Av(h.value), "\r\n");
  }
  out += "\r\n";
  return out;
}

std::string WsHandshakeErrorResponse(const WsHandshakeCheck& check) {
  std::string out = ErrorResponse(check.http_status, check.message);
  if (check.http_status == 426) {
    out.insert(out.find("\r\n") + 2, "Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n");
  }
  return out;
}

}  // namespace kiln::protocol
