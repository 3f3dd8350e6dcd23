// The WebSocket opening handshake from CGI variables: requests parsed by the HTTP/1.1 parser
// and packets nginx sends over uwsgi, each rule's answer, and the 101 head byte for byte.
#include "core/protocol/websocket_handshake.h"

#include <string>

#include "core/protocol/http1_parser.h"
#include "core/protocol/uwsgi_parser.h"
#include "gtest/gtest.h"

namespace kiln::protocol {
namespace {

const ConnectionInfo kConn{"127.0.0.1", "40000", "localhost", "8080", "http"};

// The RFC 6455 1.3 client handshake, with `extra` header lines and the request line given.
std::string RfcRequest(std::string_view extra = "",
                       std::string_view request_line = "GET /chat HTTP/1.1") {
  return std::string(request_line) +
         "\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\n"
         "Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n" +
         std::string(extra) + "\r\n";
}

// Parses an HTTP head (kept alive in `text`) and checks the handshake on it.
struct Http {
  explicit Http(std::string t) : text(std::move(t)) {
    HttpHead head;
    HttpParseResult r = ParseHttp1(text.data(), text.size(), 65535, kConn, &req, &head);
    EXPECT_EQ(r.status, ParseStatus::kComplete) << r.message;
    check = CheckWsHandshake(req);
  }
  std::string text;
  Request req;
  WsHandshakeCheck check;
};

// Replaces the header line starting with `name:` in the RFC request (or drops it when
// `line` is empty).
std::string WithHeader(std::string_view name, std::string_view line) {
  std::string r = RfcRequest();
  const size_t at = r.find(std::string(name) + ":");
  const size_t end = r.find("\r\n", at) + 2;
  r.replace(at, end - at, line.empty() ? "" : std::string(line) + "\r\n");
  return r;
}

TEST(WsHandshake, AcceptValueOfTheRfcExample) {
  EXPECT_EQ(WsAcceptValue("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WsHandshake, TheRfcRequestGetsTheRfcAnswer) {
  Http h(RfcRequest());
  ASSERT_EQ(h.check.result, WsUpgrade::kOk) << h.check.message;
  EXPECT_EQ(h.check.handshake.key, "dGhlIHNhbXBsZSBub25jZQ==");
  ASSERT_EQ(h.check.handshake.subprotocols.size(), 2u);
  EXPECT_EQ(h.check.handshake.subprotocols[0], "chat");
  EXPECT_EQ(h.check.handshake.subprotocols[1], "superchat");
  absl::StatusOr<std::string> resp = BuildWsAcceptResponse(h.check.handshake, "chat", {});
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(*resp,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "Sec-WebSocket-Protocol: chat\r\n\r\n");
}

TEST(WsHandshake, TokenListsAreCaseInsensitive) {
  std::string r = WithHeader("Upgrade", "Upgrade: WebSocket");
  r = r.replace(r.find("Connection: Upgrade"), 19, "Connection: keep-alive, UPGRADE");
  Http h(r);
  EXPECT_EQ(h.check.result, WsUpgrade::kOk) << h.check.message;
}

TEST(WsHandshake, NotAWebSocketRequestIsLeftToHttp) {
  EXPECT_EQ(Http(WithHeader("Upgrade", "")).check.result, WsUpgrade::kNone);
  EXPECT_EQ(Http(WithHeader("Upgrade", "Upgrade: h2c")).check.result, WsUpgrade::kNone);
  EXPECT_EQ(Http("GET / HTTP/1.1\r\nHost: h\r\n\r\n").check.result, WsUpgrade::kNone);
}

TEST(WsHandshake, BrokenHandshakesAre400) {
  const std::string bad_requests[] = {
      RfcRequest("", "POST /chat HTTP/1.1"),
      RfcRequest("", "GET /chat HTTP/1.0"),
      WithHeader("Connection", ""),
      WithHeader("Connection", "Connection: keep-alive"),
      WithHeader("Sec-WebSocket-Version", ""),
      WithHeader("Sec-WebSocket-Key", ""),
      WithHeader("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ"),     // no pad
      WithHeader("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQo="),   // 17 B
      WithHeader("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZS*ub25jZQ=="),   // not b64
      WithHeader("Sec-WebSocket-Key", "Sec-WebSocket-Key: c2hvcnQ="),                  // 5 bytes
      RfcRequest("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"),  // two keys, joined
      WithHeader("Sec-WebSocket-Protocol", "Sec-WebSocket-Protocol: chat, a b"),
      // RFC 6455 9.1's grammar broken (a parameter with no name, an unclosed quote).
      RfcRequest("Sec-WebSocket-Extensions: permessage-deflate; ; x\r\n"),
      RfcRequest("Sec-WebSocket-Extensions: permessage-deflate; a=\"1\r\n"),
  };
  for (const std::string& r : bad_requests) {
    Http h(r);
    EXPECT_EQ(h.check.result, WsUpgrade::kBad) << r;
    EXPECT_EQ(h.check.http_status, 400) << r;
    EXPECT_FALSE(h.check.message.empty());
    const std::string resp = WsHandshakeErrorResponse(h.check);
    EXPECT_EQ(resp.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << resp;
    EXPECT_NE(resp.find(h.check.message), std::string::npos);
  }
}

TEST(WsHandshake, AnotherVersionIs426NamingVersion13) {
  for (const char* v : {"8", "14", "13, 8"}) {
    Http h(WithHeader("Sec-WebSocket-Version", std::string("Sec-WebSocket-Version: ") + v));
    ASSERT_EQ(h.check.result, WsUpgrade::kBad) << v;
    EXPECT_EQ(h.check.http_status, 426);
    const std::string resp = WsHandshakeErrorResponse(h.check);
    EXPECT_EQ(resp.rfind("HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n"
                         "Upgrade: websocket\r\n", 0),
              0u)
        << resp;
    EXPECT_NE(resp.find("Connection: close\r\n"), std::string::npos);
  }
}

TEST(WsHandshake, SubprotocolMustBeOneTheClientOffered) {
  Http h(RfcRequest());
  ASSERT_EQ(h.check.result, WsUpgrade::kOk);
  EXPECT_FALSE(BuildWsAcceptResponse(h.check.handshake, "mqtt", {}).ok());
  absl::StatusOr<std::string> none = BuildWsAcceptResponse(h.check.handshake, "", {});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->find("Sec-WebSocket-Protocol"), std::string::npos);
}

TEST(WsHandshake, ApplicationHeadersGoInExceptTheOnesTheHandshakeOwns) {
  Http h(RfcRequest());
  ASSERT_EQ(h.check.result, WsUpgrade::kOk);
  absl::StatusOr<std::string> resp = BuildWsAcceptResponse(
      h.check.handshake, "superchat",
      {{"Set-Cookie", "s=1"}, {"connection", "close"}, {"Sec-WebSocket-Accept", "forged"},
       {"Sec-WebSocket-Extensions", "permessage-deflate"}, {"X-Server", "kiln"}});
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(*resp,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "Sec-WebSocket-Protocol: superchat\r\nSet-Cookie: s=1\r\nX-Server: kiln\r\n\r\n");
  EXPECT_FALSE(BuildWsAcceptResponse(h.check.handshake, "", {{"X-A", "a\r\nX-B: b"}}).ok());
  EXPECT_FALSE(BuildWsAcceptResponse(h.check.handshake, "", {{"Bad Name", "v"}}).ok());
}

TEST(WsHandshake, ExtensionsOfferedAreReportedAndAnsweredOnlyWhenAgreed) {
  Http h(RfcRequest("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"));
  ASSERT_EQ(h.check.result, WsUpgrade::kOk);
  EXPECT_EQ(h.check.handshake.extensions, "permessage-deflate; client_max_window_bits");
  absl::StatusOr<std::string> resp = BuildWsAcceptResponse(h.check.handshake, "", {});
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->find("Extensions"), std::string::npos);
  // An offer that parses but is declined is no error: the handshake goes on without it.
  Http declined(RfcRequest("Sec-WebSocket-Extensions: permessage-deflate; foo=1\r\n"));
  EXPECT_EQ(declined.check.result, WsUpgrade::kOk);
  // The agreed value and the application's headers side by side (theirs of the same name is
  // left out).
  resp = BuildWsAcceptResponse(
      h.check.handshake, "chat",
      {{"Sec-WebSocket-Extensions", "x-mine"}, {"X-App", "1"}},
      "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12");
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(*resp,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "Sec-WebSocket-Protocol: chat\r\n"
            "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12; "
            "client_max_window_bits=12\r\nX-App: 1\r\n\r\n");
}

// The same handshake as nginx passes it over uwsgi (uwsgi_params plus the client's headers as
// HTTP_* variables).
std::string NginxUpgradePacket(std::string_view version = "13") {
  std::string b;
  AppendUwsgiVar(&b, "QUERY_STRING", "");
  AppendUwsgiVar(&b, "REQUEST_METHOD", "GET");
  AppendUwsgiVar(&b, "CONTENT_TYPE", "");
  AppendUwsgiVar(&b, "CONTENT_LENGTH", "");
  AppendUwsgiVar(&b, "REQUEST_URI", "/chat");
  AppendUwsgiVar(&b, "PATH_INFO", "/chat");
  AppendUwsgiVar(&b, "SERVER_PROTOCOL", "HTTP/1.1");
  AppendUwsgiVar(&b, "REQUEST_SCHEME", "http");
  AppendUwsgiVar(&b, "REMOTE_ADDR", "127.0.0.1");
  AppendUwsgiVar(&b, "SERVER_NAME", "localhost");
  AppendUwsgiVar(&b, "HTTP_HOST", "server.example.com");
  AppendUwsgiVar(&b, "HTTP_UPGRADE", "websocket");
  AppendUwsgiVar(&b, "HTTP_CONNECTION", "upgrade");
  AppendUwsgiVar(&b, "HTTP_SEC_WEBSOCKET_KEY", "dGhlIHNhbXBsZSBub25jZQ==");
  AppendUwsgiVar(&b, "HTTP_SEC_WEBSOCKET_VERSION", version);
  AppendUwsgiVar(&b, "HTTP_SEC_WEBSOCKET_PROTOCOL", "chat");
  return MakeUwsgiPacket(b);
}

TEST(WsHandshake, OverUwsgiFromNginx) {
  const std::string packet = NginxUpgradePacket();
  Request req;
  HttpHead head;
  UwsgiParseResult r = ParseUwsgi(packet.data(), packet.size(), 65535, &req, &head);
  ASSERT_EQ(r.status, ParseStatus::kComplete) << r.message;
  WsHandshakeCheck c = CheckWsHandshake(req);
  ASSERT_EQ(c.result, WsUpgrade::kOk) << c.message;
  absl::StatusOr<std::string> resp = BuildWsAcceptResponse(c.handshake, "chat", {});
  ASSERT_TRUE(resp.ok());
  EXPECT_NE(resp->find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            std::string::npos);

  const std::string v8 = NginxUpgradePacket("8");
  Request req8;
  ASSERT_EQ(ParseUwsgi(v8.data(), v8.size(), 65535, &req8, &head).status,
            ParseStatus::kComplete);
  EXPECT_EQ(CheckWsHandshake(req8).http_status, 426);
}

}  // namespace
}  // namespace kiln::protocol
