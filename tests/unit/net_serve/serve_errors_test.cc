// Bad and slow clients: every malformed request gets its documented answer and one log line,
// and the loop goes on serving the next request.
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/protocol/uwsgi_parser.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/net_serve/serve_test_util.h"

namespace kiln::net {
namespace {

using ::testing::HasSubstr;
using testing::ReadResponse;
using testing::ReadToEof;
using testing::SendAll;
using testing::ServeHarness;

struct BadRequest {
  const char* name;
  std::string bytes;
  int status;
};

class ServeLoopBadHttp : public ::testing::TestWithParam<BadRequest> {};

TEST_P(ServeLoopBadHttp, AnswersTheStatusClosesAndKeepsServing) {
  ServeHarness h;
  ServeOptions o;
  o.buffer_size = 2048;
  h.Start(o);
  base::UniqueFd fd = h.ConnectHttp();
  SendAll(fd.Get(), GetParam().bytes);
  testing::HttpResponse r = ReadResponse(fd.Get());
  EXPECT_EQ(r.status, GetParam().status) << r.head;
  EXPECT_EQ(r.Header("Connection"), "close");
  EXPECT_EQ(ReadToEof(fd.Get()), "");
  EXPECT_EQ(testing::Get(h, "/").body, "hello from kiln\n");
  h.Stop(true);
  bool logged = false;
  for (const std::string& line : h.ServerLogLines()) {
    if (line.find(absl::StrCat("answered ", GetParam().status)) != std::string::npos) {
      logged = true;
    }
  }
  EXPECT_TRUE(logged);
}

INSTANTIATE_TEST_SUITE_P(
    Rfc9112, ServeLoopBadHttp,
    ::testing::Values(
        BadRequest{"ObsFold", "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", 400},
        BadRequest{"ContentLengthAndChunked",
                   "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                   400},
        BadRequest{"DifferingContentLengths",
                   "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                   400},
        BadRequest{"UnknownTransferCoding",
                   "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: br\r\n\r\n", 501},
        BadRequest{"Http2Version", "GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505},
        BadRequest{"UriTooLong", "GET /" + std::string(3000, 'u') + " HTTP/1.1\r\n\r\n", 414},
        BadRequest{"HeadersTooLarge",
                   "GET / HTTP/1.1\r\nHost: t\r\nCookie: " + std::string(3000, 'c') + "\r\n\r\n",
                   431},
        BadRequest{"Garbage", "\x16\x03\x01\x02\x05\x01\x09\x01\xfc\x03\x03\r\n\r\n", 400}),
    [](const ::testing::TestParamInfo<BadRequest>& c) { return std::string(c.param.name); });

TEST(ServeLoop, MalformedChunkedBodyGets400) {
  ServeHarness h;
  h.Start();
  base::UniqueFd fd = h.ConnectHttp();
  SendAll(fd.Get(), "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
  testing::HttpResponse r = ReadResponse(fd.Get());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Header("Connection"), "close");
  EXPECT_EQ(testing::Get(h, "/").status, 200);
}

// A handler whose response start is refused learns why, and can start again: the headers
// are checked in the pass that copies them, so a refusal may come after some were copied,
// and none of those may reach the response that follows. The refusal names the first bad
// item, as it did when every header was checked before any was copied.
class RefusedThenFineHandler : public protocol::Handler {
 public:
  void Handle(protocol::RequestContext& r) override {
    const std::string path(r.Var("PATH_INFO").value_or(""));
    std::vector<protocol::Header> bad = {{"X-Copied-First", "yes"}, {"X-Also", "yes"}};
    if (path == "/value") bad.push_back({"X-Bad", "a\r\nSet-Cookie: evil"});
    if (path == "/name") bad.push_back({"Bad Name", "v"});
    if (path == "/length") bad.push_back({"content-length", "12a"});
    if (path == "/nul") bad.push_back({"X-Nul", std::string_view("a\0b", 3)});
    bad.push_back({"X-Later-Bad", "\n"});
    const absl::Status refused = r.StartResponse(200, "", bad);
    const std::string why = refused.ok() ? "accepted" : std::string(refused.message());
    if (!r.StartResponse(200, "", {{"Content-Type", "text/plain"}}).ok()) return;
    (void)r.WriteBody(why);
  }
};

TEST(ServeLoop, ARefusedResponseStartNamesTheFirstBadItemAndLeavesNothingBehind) {
  RefusedThenFineHandler handler;
  ServeHarness h;
  h.Start(ServeOptions(), &handler);
  const std::pair<const char*, const char*> cases[] = {
      {"/value", "response header \"X-Bad\" has CR, LF or NUL in its value"},
      {"/name", "response header name \"Bad Name\" has a character outside RFC 9110 tchar"},
      {"/length", "response Content-Length \"12a\" is not a number of bytes"},
      {"/nul", "response header \"X-Nul\" has CR, LF or NUL in its value"},
  };
  for (const auto& [path, message] : cases) {
    testing::HttpResponse r = testing::Get(h, path);
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.body, message) << path;
    EXPECT_EQ(r.Header("X-Copied-First"), "") << path << r.head;
    EXPECT_EQ(r.Header("X-Also"), "") << path << r.head;
    EXPECT_EQ(r.Header("Content-Type"), "text/plain") << path;
  }
}

TEST(ServeLoop, BodyOverLimitPostGets413) {
  ServeHarness h;
  ServeOptions o;
  o.limit_post = 10;
  h.Start(o);
  base::UniqueFd fd = h.ConnectHttp();
  SendAll(fd.Get(), "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n01234567890");
  EXPECT_EQ(ReadResponse(fd.Get()).status, 413);
  base::UniqueFd chunked = h.ConnectHttp();
  SendAll(chunked.Get(), "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "b\r\n01234567890\r\n0\r\n\r\n");
  EXPECT_EQ(ReadResponse(chunked.Get()).status, 413);
  base::UniqueFd ok = h.ConnectHttp();
  SendAll(ok.Get(), "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123456789");
  EXPECT_EQ(ReadResponse(ok.Get()).body, "0123456789");
}

// A body the handler does not read is thrown away by the event loop as it arrives, after the
// response; the connection then serves the request that follows the body.
TEST(ServeLoop, UnreadBodyIsDiscardedByTheLoopAndTheConnectionGoesOn) {
  ServeHarness h;
  h.Start();
  base::UniqueFd fd = h.ConnectHttp();
  SendAll(fd.Get(), "POST /status?code=202 HTTP/1.1\r\nHost: t\r\nContent-Length: 300000\r\n\r\n"
                    "first bytes");
  testing::HttpResponse r = ReadResponse(fd.Get());
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.Header("Connection"), "");
  // The loop is free meanwhile: another client is answered before the body goes on.
  EXPECT_EQ(testing::Get(h, "/").status, 200);
  SendAll(fd.Get(), std::string(300000 - 11, 'b') + "GET /vars?q=next HTTP/1.1\r\nHost: next\r\n\r\n");
  testing::HttpResponse next = ReadResponse(fd.Get());
  EXPECT_EQ(next.status, 200);
  EXPECT_NE(next.body.find("QUERY_STRING=q=next\n"), std::string::npos) << next.body;
}

// Over the discard bound (1 MiB) the connection ends, with the answer delivered first.
TEST(ServeLoop, UnreadBodyOverTheDiscardBoundEndsTheConnectionAfterTheAnswer) {
  ServeHarness h;
  h.Start();
  base::UniqueFd fd = h.ConnectHttp();
  SendAll(fd.Get(), "POST /status?code=201 HTTP/1.1\r\nHost: t\r\nContent-Length: 5000000\r\n\r\n"
                    "x");
  testing::HttpResponse r = ReadResponse(fd.Get());
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(ReadToEof(fd.Get()), "");  // then EOF (the write side was shut down)
}

TEST(ServeLoop, PostBufferingReadsTheBodyBeforeTheHandler) {
  ServeHarness h;
  ServeOptions o;
  o.post_buffering = 4096;
  h.Start(o);
  base::UniqueFd fd = h.ConnectHttp();
  SendAll(fd.Get(), "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "3\r\nabc\r\n0\r\n\r\n");
  EXPECT_EQ(ReadResponse(fd.Get()).body, "abc");
}

TEST(ServeLoop, PostBufferingCollectsASlowBodyWithoutHoldingTheThread) {
  ServeHarness h;
  ServeOptions o;
  o.post_buffering = 100000;
  h.Start(o);  // one thread
  base::UniqueFd slow = h.ConnectHttp();
  SendAll(slow.Get(), "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n012");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(testing::Get(h, "/").status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  const std::string big(60000, 'p');
  SendAll(slow.Get(), "3456789");
  EXPECT_EQ(ReadResponse(slow.Get()).body, "0123456789");
  SendAll(slow.Get(), "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 60000\r\n\r\n" + big);
  EXPECT_EQ(ReadResponse(slow.Get()).body, big);
}

// Past the worker's post-buffering-memory budget (0 here: none), a collected body goes to a
// spool file piece by piece as it arrives, and pipelined bytes behind it stay for the next
// request.
TEST(ServeLoop, PostBufferingPastTheMemoryBudgetCollectsTheBodyInAFile) {
  ServeHarness h;
  ServeOptions o;
  o.post_buffering = 1 << 20;
  o.post_buffering_memory = 0;
  h.Start(o);
  base::UniqueFd fd = h.ConnectHttp();
  std::string body;
  for (int i = 0; body.size() < 500000; ++i) body += "line " + std::to_string(i) + "\n";
  const std::string head = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n";
  SendAll(fd.Get(), head + body.substr(0, 1000));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(testing::Get(h, "/").status, 200);  // the loop is not waiting on it
  SendAll(fd.Get(), body.substr(1000) + "GET /vars?q=piped HTTP/1.1\r\nHost: piped\r\n\r\n");
  testing::HttpResponse r = ReadResponse(fd.Get());
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body == body) << r.body.size() << " bytes echoed of " << body.size();
  EXPECT_NE(ReadResponse(fd.Get()).body.find("QUERY_STRING=q=piped\n"), std::string::npos);
}

TEST(ServeLoop, PostBufferingSpoolsABodyLargerThanItsSizeToAFile) {
  ServeHarness h;
  ServeOptions o;
  o.post_buffering = 1024;
  h.Start(o);
  std::string body;
  for (int i = 0; body.size() < 300000; ++i) body += std::to_string(i) + ",";
  base::UniqueFd fd = h.ConnectHttp();
  std::thread writer([&] {
    SendAll(fd.Get(), "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body);
  });
  testing::HttpResponse r = ReadResponse(fd.Get());
  writer.join();
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body == body) << r.body.size() << " bytes back";
}

TEST(ServeLoop, SlowClientDoesNotBlockOthers) {
  ServeHarness h;
  h.Start();  // one thread
  base::UniqueFd slow = h.ConnectHttp();
  SendAll(slow.Get(), "GET / HTTP/1.1\r\nHo");
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(testing::Get(h, "/").status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  SendAll(slow.Get(), "st: t\r\n\r\n");
  EXPECT_EQ(ReadResponse(slow.Get()).status, 200);
}

TEST(ServeLoop, HeadTrickledByteByByteIsServed) {
  ServeHarness h;
  h.Start();
  base::UniqueFd fd = h.ConnectHttp();
  const std::string req = "GET /status?code=203 HTTP/1.1\r\nHost: t\r\nX-Long: " +
                          std::string(200, 'l') + "\r\n\r\n";
  for (char ch : req) {
    SendAll(fd.Get(), std::string_view(&ch, 1));
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  EXPECT_EQ(ReadResponse(fd.Get()).status, 203);
}

TEST(ServeLoop, ClientTooSlowToSendItsHeadGets408) {
  ServeHarness h;
  ServeOptions o;
  o.socket_timeout = absl::Milliseconds(300);
  h.Start(o);
  base::UniqueFd fd = h.ConnectHttp();
  SendAll(fd.Get(), "GET / HTTP/1.1\r\n");
  const auto t0 = std::chrono::steady_clock::now();
  testing::HttpResponse r = ReadResponse(fd.Get());
  EXPECT_EQ(r.status, 408);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_EQ(testing::Get(h, "/").status, 200);
}

TEST(ServeLoop, IdleKeepAliveConnectionIsClosedAfterHttpTimeout) {
  ServeHarness h;
  ServeOptions o;
  o.http_timeout = absl::Milliseconds(300);
  h.Start(o);
  base::UniqueFd fd = h.ConnectHttp();
  SendAll(fd.Get(), "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(ReadResponse(fd.Get()).status, 200);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(ReadToEof(fd.Get()), "");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

TEST(ServeLoop, ClientGoneMidResponseCostsOneLogLineAndNothingElse) {
  ServeHarness h;
  h.Start();
  {
    base::UniqueFd fd = h.ConnectHttp();
    SendAll(fd.Get(), "GET /bytes?n=67108864 HTTP/1.1\r\nHost: t\r\n\r\n");
    char buf[100];
    ASSERT_GT(read(fd.Get(), buf, sizeof(buf)), 0);
    struct linger lg = {1, 0};  // close with RST
    setsockopt(fd.Get(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  }
  EXPECT_EQ(testing::Get(h, "/").status, 200);
  h.Stop(true);
  int write_errors = 0;
  for (const std::string& line : h.ServerLogLines()) {
    if (line.find("writing the response") != std::string::npos) ++write_errors;
  }
  EXPECT_EQ(write_errors, 1);
}

TEST(ServeLoop, IgnoreWriteErrorsSilencesTheLine) {
  ServeHarness h;
  ServeOptions o;
  o.ignore_write_errors = true;
  h.Start(o);
  {
    base::UniqueFd fd = h.ConnectHttp();
    SendAll(fd.Get(), "GET /bytes?n=67108864 HTTP/1.1\r\nHost: t\r\n\r\n");
    char buf[100];
    ASSERT_GT(read(fd.Get(), buf, sizeof(buf)), 0);
    struct linger lg = {1, 0};
    setsockopt(fd.Get(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  }
  EXPECT_EQ(testing::Get(h, "/").status, 200);
  h.Stop(true);
  for (const std::string& line : h.ServerLogLines()) {
    EXPECT_EQ(line.find("writing the response"), std::string::npos) << line;
  }
}

TEST(ServeLoop, UwsgiBlockOverBufferSizeGets431AsARawResponse) {
  ServeHarness h;
  ServeOptions o;
  o.buffer_size = 1024;
  h.Start(o);
  base::UniqueFd fd = h.ConnectUwsgi();
  std::string vars;
  protocol::AppendUwsgiVar(&vars, "HTTP_COOKIE", std::string(2000, 'c'));
  SendAll(fd.Get(), protocol::MakeUwsgiPacket(vars));
  std::string out = ReadToEof(fd.Get());
  EXPECT_THAT(out, ::testing::StartsWith("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
  h.Stop(true);
  bool logged = false;
  for (const std::string& line : h.ServerLogLines()) {
    if (line.find("buffer-size") != std::string::npos) logged = true;
  }
  EXPECT_TRUE(logged);
}

TEST(ServeLoop, MalformedUwsgiPacketIsClosedAndTheNextOneServed) {
  ServeHarness h;
  h.Start();
  base::UniqueFd bad = h.ConnectUwsgi();
  std::string vars;
  protocol::AppendUwsgiVar(&vars, "", "x");  // an empty key
  SendAll(bad.Get(), protocol::MakeUwsgiPacket(vars));
  EXPECT_EQ(ReadToEof(bad.Get()), "");
  base::UniqueFd good = h.ConnectUwsgi();
  std::string ok;
  protocol::AppendUwsgiVar(&ok, "PATH_INFO", "/");
  SendAll(good.Get(), protocol::MakeUwsgiPacket(ok));
  EXPECT_THAT(ReadToEof(good.Get()), HasSubstr("hello from kiln"));
}

// The parser refuses the framing; the loop closes, logs the value quoted and escaped, and
// serves the next client.
TEST(ServeLoop, UwsgiContentLengthThatIsNotANumberIsClosedAndLogged) {
  ServeHarness h;
  h.Start();
  base::UniqueFd bad = h.ConnectUwsgi();
  std::string vars;
  protocol::AppendUwsgiVar(&vars, "REQUEST_METHOD", "POST");
  protocol::AppendUwsgiVar(&vars, "CONTENT_LENGTH", "5\"x");
  SendAll(bad.Get(), protocol::MakeUwsgiPacket(vars) + "hello");
  EXPECT_EQ(ReadToEof(bad.Get()), "");
  base::UniqueFd good = h.ConnectUwsgi();
  std::string ok;
  protocol::AppendUwsgiVar(&ok, "PATH_INFO", "/");
  SendAll(good.Get(), protocol::MakeUwsgiPacket(ok));
  EXPECT_THAT(ReadToEof(good.Get()), HasSubstr("hello from kiln"));
  h.Stop(true);
  bool logged = false;
  for (const std::string& line : h.ServerLogLines()) {
    if (line.find("CONTENT_LENGTH \"5\\x22x\" is not a number; connection closed") !=
        std::string::npos) {
      logged = true;
    }
  }
  EXPECT_TRUE(logged);
}

}  // namespace
}  // namespace kiln::net
