// The serving loop with the built-in handler, driven by real clients: keep-alive, pipelining,
// chunked bodies both ways, 100-continue, HEAD, HTTP/1.0, uwsgi over a unix socket, the
// request log line, and graceful stop.
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/net/connection_request.h"
#include "core/protocol/uwsgi_parser.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/net_serve/serve_test_util.h"

namespace kiln::net {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using testing::ReadResponse;
using testing::ReadToEof;
using testing::SendAll;
using testing::ServeHarness;

TEST(ServeLoop, ServesHelloOverHttpWithContentLength) {
  ServeHarness h;
  h.Start();
  testing::HttpResponse r = testing::Get(h, "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello from kiln\n");
  EXPECT_EQ(r.Header("Content-Length"), "16");
  EXPECT_EQ(r.Header("Content-Type"), "text/plain");
  EXPECT_EQ(r.Header("Connection"), "");
}

TEST(ServeLoop, KeepsTheConnectionAliveAcrossRequests) {
  ServeHarness h;
  h.Start();
  base::UniqueFd fd = h.ConnectHttp();
  for (int i = 0; i < 3; ++i) {
    SendAll(fd.Get(), "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    testing::HttpResponse r = ReadResponse(fd.Get());
    ASSERT_EQ(r.status, 200) << i;
    EXPECT_EQ(r.body, "hello from kiln\n");
  }
  SendAll(fd.Get(), "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  testing::HttpResponse last = ReadResponse(fd.Get());
  EXPECT_EQ(last.Header("Connection"), "close");
  EXPECT_EQ(ReadToEof(fd.Get()), "");  // and the server closed
  EXPECT_EQ(h.loop().requests_served(), 4u);
}

TEST(ServeLoop, KeepAliveZeroClosesAfterEachResponse) {
  ServeHarness h;
  ServeOptions o;
  o.http_keepalive = 0;
  h.Start(o);
  base::UniqueFd fd = h.ConnectHttp();
  SendAll(fd.Get(), "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
  testing::HttpResponse r = ReadResponse(fd.Get());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Connection"), "close");
  EXPECT_EQ(ReadToEof(fd.Get()), "");
}

TEST(ServeLoop, AnswersPipelinedRequestsInOrder) {
  ServeHarness h;
  h.Start();
  base::UniqueFd fd = h.ConnectHttp();
  SendAll(fd.Get(),
          "GET /status?code=201 HTTP/1.1\r\nHost: t\r\n\r\n"
          "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
          "GET /status?code=404 HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(ReadResponse(fd.Get()).status, 201);
  testing::HttpResponse echo = ReadResponse(fd.Get());
  EXPECT_EQ(echo.status, 200);
  EXPECT_EQ(echo.body, "hello");
  EXPECT_EQ(ReadResponse(fd.Get()).status, 404);
}

TEST(ServeLoop, DecodesAChunkedRequestBody) {
  ServeHarness h;
  h.Start();
  base::UniqueFd fd = h.ConnectHttp();
  SendAll(fd.Get(), "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  SendAll(fd.Get(), "lo\r\n7;x=y\r\n, world\r\n0\r\nTrailer: 1\r\n\r\n");
  testing::HttpResponse r = ReadResponse(fd.Get());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello, world");
  // The connection stays usable after a chunked body.
  SendAll(fd.Get(), "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(ReadResponse(fd.Get()).body, "hello from kiln\n");
}

TEST(ServeLoop, EchoesALargeBodySentAfterTheHead) {
  ServeHarness h;
  h.Start();
  base::UniqueFd fd = h.ConnectHttp();
  const std::string body(300000, 'b');
  std::thread writer([&] {
    SendAll(fd.Get(), absl::StrCat("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: ",
                                   body.size(), "\r\n\r\n", body));
  });
  testing::HttpResponse r = ReadResponse(fd.Get());
  writer.join();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), body.size());
  EXPECT_EQ(r.body, body);
}

TEST(ServeLoop, SendsContinueBeforeReadingTheBody) {
  ServeHarness h;
  h.Start();
  base::UniqueFd fd = h.ConnectHttp();
  SendAll(fd.Get(), "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
                    "Expect: 100-continue\r\n\r\n");
  testing::HttpResponse cont = ReadResponse(fd.Get());
  EXPECT_EQ(cont.status, 100);
  SendAll(fd.Get(), "data");
  testing::HttpResponse r = ReadResponse(fd.Get());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "data");
}

TEST(ServeLoop, NoContinueWhenTheHandlerAnswersWithoutReading) {
  ServeHarness h;
  h.Start();
  base::UniqueFd fd = h.ConnectHttp();
  SendAll(fd.Get(), "POST /status?code=403 HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
                    "Expect: 100-continue\r\n\r\n");
  testing::HttpResponse r = ReadResponse(fd.Get());
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.Header("Connection"), "close");
}

TEST(ServeLoop, HeadGetsHeadersOnlyAndTheConnectionGoesOn) {
  ServeHarness h;
  h.Start();
  base::UniqueFd fd = h.ConnectHttp();
  SendAll(fd.Get(), "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
  testing::HttpResponse r = ReadResponse(fd.Get(), /*head_request=*/true);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Length"), "16");
  SendAll(fd.Get(), "GET /status?code=202 HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(ReadResponse(fd.Get()).status, 202);  // no stray body bytes in between
}

TEST(ServeLoop, StreamedResponseIsChunkedForHttp11) {
  ServeHarness h;
  h.Start();
  testing::HttpResponse r = testing::Get(h, "/chunks?n=3");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.chunked);
  EXPECT_EQ(r.body, "chunk 0\nchunk 1\nchunk 2\n");
}

TEST(ServeLoop, StreamedResponseIsCloseDelimitedForHttp10) {
  ServeHarness h;
  h.Start();
  base::UniqueFd fd = h.ConnectHttp();
  SendAll(fd.Get(), "GET /chunks?n=2 HTTP/1.0\r\n\r\n");
  testing::HttpResponse r = ReadResponse(fd.Get());
  EXPECT_THAT(r.head, ::testing::StartsWith("HTTP/1.0 200 OK\r\n"));
  EXPECT_EQ(r.Header("Transfer-Encoding"), "");
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.body, "chunk 0\nchunk 1\n");
}

TEST(ServeLoop, PassesCgiVariablesFromHttpHeaders) {
  testing::AllVarsHandler vars;  // request headers included; outlives the loop
  ServeHarness h;
  h.Start(ServeOptions(), &vars);
  base::UniqueFd fd = h.ConnectHttp();
  SendAll(fd.Get(), "GET /vars?q=1 HTTP/1.1\r\nHost: example.org:81\r\nX-Thing: a\r\n"
                    "X-Thing: b\r\n\r\n");
  testing::HttpResponse r = ReadResponse(fd.Get());
  EXPECT_THAT(r.body, HasSubstr("PATH_INFO=/vars\n"));
  EXPECT_THAT(r.body, HasSubstr("QUERY_STRING=q=1\n"));
  EXPECT_THAT(r.body, HasSubstr("HTTP_X_THING=a, b\n"));
  EXPECT_THAT(r.body, HasSubstr("SERVER_NAME=example.org\n"));
  EXPECT_THAT(r.body, HasSubstr("SERVER_PORT=81\n"));
  EXPECT_THAT(r.body, HasSubstr("REMOTE_ADDR=127.0.0.1\n"));
}

// Answers what routing reads (RequestContext::PathVars, found in the serving thread's one pass
// over the variables) beside what a lookup by name gives.
class PathVarsHandler : public protocol::Handler {
 public:
  void Handle(protocol::RequestContext& r) override {
    const protocol::RequestContext::Paths p = r.PathVars();
    const std::string body = "paths [" + std::string(p.script_name) + "] [" +
                             std::string(p.path_info) + "]\nvars [" +
                             std::string(r.Var("SCRIPT_NAME").value_or("")) + "] [" +
                             std::string(r.Var("PATH_INFO").value_or("")) + "]";
    if (r.StartResponse(200, "OK", {{"Content-Type", "text/plain"}}).ok()) {
      (void)r.WriteBody(body);
    }
  }
};

// Routing's SCRIPT_NAME and PATH_INFO are the variables' own: the last of a repeated name (as
// nginx sends a SCRIPT_NAME that a later uwsgi_param overrides), empty when absent.
TEST(ServeLoop, RoutingReadsTheSamePathsAsALookupByName) {
  PathVarsHandler handler;  // outlives the loop
  ServeHarness h;
  h.Start(ServeOptions(), &handler);
  std::string vars;
  protocol::AppendUwsgiVar(&vars, "REQUEST_METHOD", "GET");
  protocol::AppendUwsgiVar(&vars, "SCRIPT_NAME", "/first");
  protocol::AppendUwsgiVar(&vars, "PATH_INFO", "/a/b");
  protocol::AppendUwsgiVar(&vars, "REQUEST_URI", "/app/a/b");
  protocol::AppendUwsgiVar(&vars, "SCRIPT_NAME", "/app");
  protocol::AppendUwsgiVar(&vars, "PATH_INFO", "/a/b/c");
  base::UniqueFd fd = h.ConnectUwsgi();
  SendAll(fd.Get(), protocol::MakeUwsgiPacket(vars));
  testing::HttpResponse r = ReadResponse(fd.Get());
  EXPECT_EQ(r.body, "paths [/app] [/a/b/c]\nvars [/app] [/a/b/c]");

  fd = h.ConnectHttp();
  SendAll(fd.Get(), "GET /x%2Fy?q=1 HTTP/1.1\r\nHost: h\r\nScript-Name: /no\r\n\r\n");
  r = ReadResponse(fd.Get());
  EXPECT_EQ(r.body, "paths [] [/x/y]\nvars [] [/x/y]");
}

std::string UwsgiRequest(std::string_view method, std::string_view path, std::string_view body) {
  std::string vars;
  protocol::AppendUwsgiVar(&vars, "REQUEST_METHOD", method);
  protocol::AppendUwsgiVar(&vars, "REQUEST_URI", path);
  protocol::AppendUwsgiVar(&vars, "PATH_INFO", path);
  protocol::AppendUwsgiVar(&vars, "QUERY_STRING", "");
  protocol::AppendUwsgiVar(&vars, "CONTENT_LENGTH", body.empty() ? "" : absl::StrCat(body.size()));
  protocol::AppendUwsgiVar(&vars, "SERVER_PROTOCOL", "HTTP/1.1");
  protocol::AppendUwsgiVar(&vars, "REMOTE_ADDR", "10.1.2.3");
  return protocol::MakeUwsgiPacket(vars) + std::string(body);
}

TEST(ServeLoop, AnswersAUwsgiPacketWithARawResponseAndCloses) {
  ServeHarness h;
  h.Start();
  base::UniqueFd fd = h.ConnectUwsgi();
  SendAll(fd.Get(), UwsgiRequest("GET", "/", ""));
  EXPECT_EQ(ReadToEof(fd.Get()),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello from kiln\n");
}

TEST(BuiltinHandler, VarsNeverShowsRequestHeadersOrCredentials) {
  ServeHarness h;
  h.Start();
  base::UniqueFd http = h.ConnectHttp();
  SendAll(http.Get(),
          "GET /app/vars HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer t0ken\r\n"
          "Cookie: sid=c00kie\r\nConnection: close\r\n\r\n");
  testing::HttpResponse r = ReadResponse(http.Get());
  EXPECT_THAT(r.body, HasSubstr("PATH_INFO=/app/vars\n"));
  EXPECT_THAT(r.body, ::testing::Not(HasSubstr("HTTP_")));
  EXPECT_THAT(r.body, ::testing::Not(HasSubstr("t0ken")));
  EXPECT_THAT(r.body, ::testing::Not(HasSubstr("c00kie")));
  // Over uwsgi, what nginx adds (auth_basic's REMOTE_USER, any uwsgi_param) stays hidden too.
  std::string vars;
  protocol::AppendUwsgiVar(&vars, "REQUEST_METHOD", "GET");
  protocol::AppendUwsgiVar(&vars, "PATH_INFO", "/vars");
  protocol::AppendUwsgiVar(&vars, "REMOTE_USER", "alice");
  protocol::AppendUwsgiVar(&vars, "AUTH_TYPE", "Basic");
  protocol::AppendUwsgiVar(&vars, "HTTP_AUTHORIZATION", "Basic YWxpY2U6cHc=");
  protocol::AppendUwsgiVar(&vars, "APP_SECRET", "s3cret");
  base::UniqueFd uwsgi = h.ConnectUwsgi();
  SendAll(uwsgi.Get(), protocol::MakeUwsgiPacket(vars));
  const std::string out = ReadToEof(uwsgi.Get());
  EXPECT_THAT(out, HasSubstr("PATH_INFO=/vars\n"));
  for (const char* hidden : {"alice", "AUTH_TYPE", "YWxpY2U6cHc", "s3cret"}) {
    EXPECT_THAT(out, ::testing::Not(HasSubstr(hidden)));
  }
}

TEST(ServeLoop, ReadsAUwsgiBodyByContentLength) {
  ServeHarness h;
  h.Start();
  base::UniqueFd fd = h.ConnectUwsgi();
  const std::string body(100000, 'u');
  std::thread writer([&] { SendAll(fd.Get(), UwsgiRequest("POST", "/echo", body)); });
  std::string out = ReadToEof(fd.Get());
  writer.join();
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + body);
}

TEST(ServeLoop, WritesUwsgisDefaultRequestLogLine) {
  ServeHarness h;
  h.Start();
  base::UniqueFd fd = h.ConnectUwsgi();
  SendAll(fd.Get(), UwsgiRequest("GET", "/", ""));
  ReadToEof(fd.Get());
  h.Stop(true);
  std::vector<std::string> lines = h.LogLines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], MatchesRegex(absl::StrCat(
                            "\\[pid: ", getpid(),
                            "\\|app: 0\\|req: 1/1\\] 10\\.1\\.2\\.3 \\(\\) \\{14 vars in 135 "
                            "bytes\\} \\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]{2} [0-9:]{8} "
                            "[0-9]{4}\\] GET / => generated 16 bytes in [0-9]+ msecs "
                            "\\(HTTP/1\\.1 200\\) 1 headers in 45 bytes \\(1 switches on core "
                            "0\\)")));
}

TEST(ServeLoop, DisableLoggingKeepsOnlyTheRequestedErrorClasses) {
  ServeHarness h;
  ServeOptions o;
  o.disable_logging = true;
  o.log_5xx = true;
  h.Start(o);
  EXPECT_EQ(testing::Get(h, "/").status, 200);
  EXPECT_EQ(testing::Get(h, "/status?code=404").status, 404);
  EXPECT_EQ(testing::Get(h, "/status?code=503").status, 503);
  h.Stop(true);
  std::vector<std::string> lines = h.LogLines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("(HTTP/1.1 503)"));
}

TEST(ServeLoop, MemoryReportPrefixesTheLineWithThisProcessesUsage) {
  ServeHarness h;
  ServeOptions o;
  o.memory_report = true;
  h.Start(o);
  EXPECT_EQ(testing::Get(h, "/").status, 200);
  h.Stop(true);
  std::vector<std::string> lines = h.LogLines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], MatchesRegex("\\{address space usage: [1-9][0-9]* bytes/[0-9]+MB\\} "
                                     "\\{rss usage: [1-9][0-9]* bytes/[0-9]+MB\\} \\[pid: .*"));
}

TEST(ServeLoop, LogFormatUsesUwsgiNames) {
  ServeHarness h;
  ServeOptions o;
  o.log_format = "%(method) %(uri) %(status) %(rsize) %(var.HTTP_X_ID) %(nosuch)";
  h.Start(o);
  base::UniqueFd fd = h.ConnectHttp();
  SendAll(fd.Get(), "GET /status?code=201 HTTP/1.1\r\nHost: t\r\nX-Id: abc\r\n\r\n");
  ReadResponse(fd.Get());
  fd.Reset();
  h.Stop(true);
  std::vector<std::string> lines = h.LogLines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "GET /status?code=201 201 11 abc %(nosuch)");
}

TEST(ServeLoop, GracefulStopFinishesTheRequestInHandAndAnswersConnectionClose) {
  ServeHarness h;
  ServeOptions o;
  o.keepalive_drain = absl::Milliseconds(300);
  h.Start(o);
  base::UniqueFd idle = h.ConnectHttp();
  SendAll(idle.Get(), "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_EQ(ReadResponse(idle.Get()).status, 200);  // now an idle keep-alive connection
  base::UniqueFd fd = h.ConnectHttp();
  SendAll(fd.Get(), "GET /sleep?s=0.5 HTTP/1.1\r\nHost: t\r\n\r\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  std::thread stopper([&] { h.Stop(true); });
  testing::HttpResponse r = ReadResponse(fd.Get());
  stopper.join();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "slept\n");
  EXPECT_EQ(r.Header("Connection"), "close");
  EXPECT_EQ(ReadToEof(idle.Get()), "");  // the idle connection was closed
}

// Starts `h` with `drain` and returns a connection that has served one request and is idle,
// as in a front end's keep-alive pool.
base::UniqueFd PooledConnection(ServeHarness& h, absl::Duration drain) {
  ServeOptions o;
  o.keepalive_drain = drain;
  h.Start(o);
  base::UniqueFd pooled = h.ConnectHttp();
  SendAll(pooled.Get(), "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(ReadResponse(pooled.Get()).status, 200);
  return pooled;
}

// A front end's pooled connection may carry a request at any moment: a stopping loop serves it
// (with Connection: close) instead of closing the connection under it.
TEST(ServeLoop, GracefulStopServesARequestArrivingOnAnIdleConnection) {
  ServeHarness h;
  base::UniqueFd pooled = PooledConnection(h, absl::Seconds(3));
  const auto t0 = std::chrono::steady_clock::now();
  std::thread stopper([&] { h.Stop(true); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  SendAll(pooled.Get(), "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
  testing::HttpResponse r = ReadResponse(pooled.Get());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Connection"), "close");
  EXPECT_EQ(ReadToEof(pooled.Get()), "");
  stopper.join();
  // The loop ended once its last connection was gone, not after the whole drain.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(2500));
}

TEST(ServeLoop, GracefulStopClosesAnIdleConnectionOnlyAfterTheDrainInterval) {
  ServeHarness h;
  base::UniqueFd pooled = PooledConnection(h, absl::Milliseconds(800));
  const auto t0 = std::chrono::steady_clock::now();
  std::thread stopper([&] { h.Stop(true); });
  EXPECT_EQ(ReadToEof(pooled.Get()), "");
  const auto closed_after = std::chrono::steady_clock::now() - t0;
  stopper.join();
  EXPECT_GE(closed_after, std::chrono::milliseconds(600));
  EXPECT_LT(closed_after, std::chrono::milliseconds(3000));
}

TEST(ServeLoop, RunsSeveralThreads) {
  ServeHarness h;
  ServeOptions o;
  o.threads = 3;
  h.Start(o);
  std::vector<base::UniqueFd> sleepers;
  for (int i = 0; i < 2; ++i) {
    sleepers.push_back(h.ConnectHttp());
    SendAll(sleepers.back().Get(), "GET /sleep?s=0.4 HTTP/1.1\r\nHost: t\r\n\r\n");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(testing::Get(h, "/").status, 200);  // a third thread is free
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(300));
  for (auto& s : sleepers) EXPECT_EQ(ReadResponse(s.Get()).status, 200);
}

// A serving thread lends one ResponseBuffers to every request; after a response that grew it
// (a first body piece of megabytes, held back to frame it) the memory goes, while the buffers
// of ordinary responses are kept for the next request.
TEST(ResponseBuffersTest, TrimFreesWhatALargeResponseGrewAndKeepsTheRest) {
  ResponseBuffers b;
  b.pending.assign(4 << 20, 'x');
  b.head.assign(200, 'h');
  const size_t head_capacity = b.head.capacity();
  b.Trim();
  EXPECT_LE(b.pending.capacity(), 64u << 10);
  EXPECT_EQ(b.head.capacity(), head_capacity);
  EXPECT_EQ(b.head, std::string(200, 'h'));
}

}  // namespace
}  // namespace kiln::net

