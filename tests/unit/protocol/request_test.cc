// Request::OwnHead: once a request owns its head, reusing the buffer it was parsed from
// (what the connection's body reader does) changes none of its variables. Request::Get and
// Set: the last of a repeated name, names of one length told apart, a reused request.
#include "core/protocol/request.h"

#include <optional>
#include <string>

#include "core/protocol/http1_parser.h"
#include "core/protocol/uwsgi_parser.h"
#include "gtest/gtest.h"

namespace kiln::protocol {
namespace {

TEST(RequestGet, LastOfARepeatedNameAndNamesAppendedAfterALookup) {
  Request req;
  EXPECT_EQ(req.Get("X"), std::nullopt);
  req.vars.push_back({"REQUEST_METHOD", "GET"});
  req.vars.push_back({"HTTP_ACCEPT_ENCODING", "gzip"});
  EXPECT_EQ(req.Get("REQUEST_METHOD"), "GET");
  EXPECT_EQ(req.Get("HTTP_ACCEPT_LANGUAGE"), std::nullopt);
  // Appended after the index was built: found, and the later duplicate wins.
  req.vars.push_back({"HTTP_ACCEPT_LANGUAGE", "en"});
  req.vars.push_back({"REQUEST_METHOD", "POST"});
  EXPECT_EQ(req.Get("HTTP_ACCEPT_LANGUAGE"), "en");
  EXPECT_EQ(req.Get("HTTP_ACCEPT_ENCODING"), "gzip");
  EXPECT_EQ(req.Get("REQUEST_METHOD"), "POST");
  EXPECT_EQ(req.Get(""), std::nullopt);
  // Set replaces the last one, or appends.
  req.Set("REQUEST_METHOD", "PUT");
  EXPECT_EQ(req.vars[3].value, "PUT");
  EXPECT_EQ(req.vars[0].value, "GET");
  req.Set("SCRIPT_NAME", "/app");
  EXPECT_EQ(req.vars.size(), 5u);
  EXPECT_EQ(req.Get("SCRIPT_NAME"), "/app");
  // An empty request after Clear finds nothing of the last one.
  req.Clear();
  EXPECT_EQ(req.Get("REQUEST_METHOD"), std::nullopt);
  req.Set("A", "1");
  EXPECT_EQ(req.Get("A"), "1");
  EXPECT_EQ(req.vars.size(), 1u);
}

TEST(RequestOwnHead, HttpVariablesSurviveTheBufferBeingOverwritten) {
  const std::string addr = "10.0.0.7", port = "5555", name = "srv", sport = "80";
  std::string buf =
      "POST /up/load?q=1 HTTP/1.1\r\nHost: h.example\r\nUser-Agent: agent/1\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  const size_t head_len = buf.size();
  buf += "5\r\nhello\r\n";
  Request req;
  HttpHead head;
  HttpParseResult r =
      ParseHttp1(buf.data(), buf.size(), 65535, ConnectionInfo{addr, port, name, sport}, &req,
                 &head);
  ASSERT_EQ(r.status, ParseStatus::kComplete) << r.message;
  ASSERT_EQ(r.consumed, head_len);
  req.OwnHead(buf.data(), r.consumed);
  buf.replace(0, buf.size(), std::string(buf.size(), '\n'));  // the body reader's next read
  EXPECT_EQ(req.Get("REQUEST_METHOD"), "POST");
  EXPECT_EQ(req.Get("REQUEST_URI"), "/up/load?q=1");
  EXPECT_EQ(req.Get("QUERY_STRING"), "q=1");
  EXPECT_EQ(req.Get("SERVER_PROTOCOL"), "HTTP/1.1");
  EXPECT_EQ(req.Get("HTTP_HOST"), "h.example");
  EXPECT_EQ(req.Get("HTTP_USER_AGENT"), "agent/1");
  EXPECT_EQ(req.Get("REMOTE_ADDR"), "10.0.0.7");
  for (const Var& v : req.vars) {
    EXPECT_EQ(v.name.find('\n'), std::string_view::npos) << v.name;
    EXPECT_EQ(v.value.find('\n'), std::string_view::npos) << v.name << "=" << v.value;
  }
}

TEST(RequestOwnHead, UwsgiVariablesSurviveAndTheStorageIsReused) {
  Request req;
  HttpHead head;
  for (int round = 0; round < 3; ++round) {
    std::string block;
    AppendUwsgiVar(&block, "REQUEST_METHOD", "PUT");
    AppendUwsgiVar(&block, "REQUEST_URI", "/r/" + std::string(100 * (3 - round), 'u'));
    AppendUwsgiVar(&block, "HTTP_HOST", "uwsgi.example");
    std::string packet = MakeUwsgiPacket(block);
    UwsgiParseResult r = ParseUwsgi(packet.data(), packet.size(), 65535, &req, &head);
    ASSERT_EQ(r.status, ParseStatus::kComplete) << r.message;
    req.OwnHead(packet.data(), r.consumed);
    packet.assign(packet.size(), 'X');
    EXPECT_EQ(req.Get("REQUEST_METHOD"), "PUT");
    EXPECT_EQ(req.Get("REQUEST_URI"), "/r/" + std::string(100 * (3 - round), 'u'));
    EXPECT_EQ(req.Get("HTTP_HOST"), "uwsgi.example");
    req.Clear();
  }
}

}  // namespace
}  // namespace kiln::protocol
