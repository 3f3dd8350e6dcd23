// ASGI workers' faults and limits, end to end with the real kiln binary and python plugin
// (tests/python/apps/asgi_faults_app.py): harakiri of a worker whose event loop is stuck while
// other requests overlap, reload-on-rss, limit-post for detached requests (Content-Length and
// chunked), socket-timeout for a body that stops mid-way, and `Expect: 100-continue` answered
// only when the app reads. (Errors before and after the response started, max-requests and a
// client that stops reading are in asgi_test.cc.)
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/python/asgi_server.h"
#include "tests/python/py_client.h"

namespace kiln::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// A connection with `head` (and maybe part of a body) sent; -1 when it failed.
int SendHead(const std::string& address, std::string_view head) {
  absl::StatusOr<int> fd = Connect(address);
  if (!fd.ok()) return -1;
  timeval tv{10, 0};
  ::setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (::send(*fd, head.data(), head.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(head.size())) {
    ::close(*fd);
    return -1;
  }
  return *fd;
}

std::string Pid(const std::string& address) {
  absl::StatusOr<Response> r = HttpGet(address, "/pid");
  return r.ok() && r->status == 200 ? r->body : "";
}

// One request blocks the worker's event loop (time.sleep) while more arrive on the same worker
// every 300 ms. harakiri's clock is the oldest request in flight: it fires 2 s after the stuck
// one started (new arrivals do not restart it), the log names that request, the master
// respawns the worker, and the requests queued meanwhile are served by its successor.
TEST(AsgiFaults, HarakiriKillsAWorkerWhoseLoopIsBlocked) {
  AsgiAppServer s({"--asgi", "asgi_faults_app:app", "--harakiri", "2"}, true, "1");
  const std::string before = Pid(s.address());
  ASSERT_FALSE(before.empty()) << s.kiln().Log();
  const int stuck = SendHead(s.address(), "GET /block?s=60 HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_GE(stuck, 0);
  ASSERT_TRUE(WaitForFile(s.notes_path(), "start /block", absl::Seconds(5)));
  const absl::Time t0 = absl::Now();
  std::vector<std::thread> others;
  std::atomic<int> answered{0};
  for (int i = 0; i < 10; ++i) {
    others.emplace_back([&] {
      absl::StatusOr<Response> r = HttpGet(s.address(), "/sleep?s=0.1", absl::Seconds(20));
      if (r.ok() && r->status == 200) ++answered;
    });
    absl::SleepFor(absl::Milliseconds(300));
  }
  EXPECT_TRUE(s.kiln().WaitForLog("HARAKIRI: worker 1 was running GET /block?s=60 from 127.0.0.1",
                                  absl::Seconds(8)))
      << s.kiln().Log();
  EXPECT_LT(absl::Now() - t0, absl::Seconds(6)) << s.kiln().Log();
  EXPECT_THAT(s.kiln().Log(), HasSubstr("request running for 2"));
  // The stuck request's client sees its connection closed without an answer.
  EXPECT_EQ(ReadAll(stuck), "");
  for (std::thread& t : others) t.join();
  // The loop runs on the worker's serving thread, so while it is stuck nothing more is
  // accepted: the ten requests that arrived meanwhile wait in the listen queue and are all
  // served by the successor (requests the worker had already taken would die with it).
  EXPECT_EQ(answered.load(), 10) << s.kiln().Log();
  ASSERT_TRUE(s.kiln().WaitForLog("spawned kiln worker 1", absl::Seconds(10), 2)) << s.kiln().Log();
  ASSERT_TRUE(WaitFor200(s.address(), "/pid", absl::Seconds(10)));
  const std::string after = Pid(s.address());
  EXPECT_NE(after, before);
  EXPECT_FALSE(after.empty());
}

// reload-on-rss: the request that grew the worker past the limit is answered, requests in
// flight on its loop finish, and the master replaces it.
TEST(AsgiFaults, ReloadOnRssRecyclesTheWorker) {
  AsgiAppServer s({"--asgi", "asgi_faults_app:app", "--reload-on-rss", "150",
                   "--min-worker-lifetime", "0"},
                  true, "1");
  const std::string before = Pid(s.address());
  ASSERT_FALSE(before.empty()) << s.kiln().Log();
  std::atomic<bool> slept{false};
  std::thread in_flight([&] {
    absl::StatusOr<Response> r = HttpGet(s.address(), "/sleep?s=1", absl::Seconds(10));
    slept = r.ok() && r->body == "slept";
  });
  ASSERT_TRUE(WaitForFile(s.notes_path(), "start /sleep", absl::Seconds(5)));
  absl::StatusOr<Response> r = HttpGet(s.address(), "/grow?mb=200");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "grown");
  in_flight.join();
  EXPECT_TRUE(slept.load()) << s.kiln().Log();
  EXPECT_TRUE(s.kiln().WaitForLog("MB rss (reload-on-rss = 150 MB); respawning", absl::Seconds(10)))
      << s.kiln().Log();
  ASSERT_TRUE(WaitFor200(s.address(), "/pid", absl::Seconds(10)));
  EXPECT_NE(Pid(s.address()), before);
}

// limit-post: a Content-Length over the limit is answered 413 before the app runs; a chunked
// body is answered 413 once it crosses the limit (a malformed one 400), the app (awaiting the
// body) is told the client is gone, and the worker goes on serving.
TEST(AsgiFaults, LimitPostAnswers413) {
  AsgiAppServer s({"--asgi", "asgi_faults_app:app", "--limit-post", "1000"});
  absl::StatusOr<Response> r = HttpRequest(s.address(), "POST", "/toolarge", std::string(5000, 'x'),
                                           "text/plain");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 413) << r->body;
  EXPECT_THAT(r->body, HasSubstr("over limit-post (1000)"));
  r = HttpRequest(s.address(), "POST", "/read", std::string(1000, 'x'), "text/plain");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "read 1000");
  EXPECT_THAT(s.Notes(), HasSubstr("http.request /read"));  // the second one ran
  EXPECT_THAT(s.Notes(), Not(HasSubstr("start /toolarge")));  // the first one never ran

  const std::string piece = absl::StrCat("258\r\n", std::string(600, 'y'), "\r\n");
  const int fd = SendHead(s.address(),
                          absl::StrCat("POST /read HTTP/1.1\r\nHost: x\r\n"
                                       "Transfer-Encoding: chunked\r\n\r\n",
                                       piece, piece, piece, "0\r\n\r\n"));
  ASSERT_GE(fd, 0);
  const std::string got = ReadAll(fd);
  EXPECT_THAT(got, StartsWith("HTTP/1.1 413")) << got << s.kiln().Log();
  EXPECT_THAT(got, HasSubstr("Connection: close"));
  EXPECT_TRUE(s.kiln().WaitForLog("is over limit-post (1000 bytes)", absl::Seconds(5)));
  EXPECT_TRUE(WaitForFile(s.notes_path(), "http.disconnect /read", absl::Seconds(5)))
      << s.Notes();
  // A malformed chunked body is the client's error too: 400.
  const int bad = SendHead(s.address(),
                           "POST /read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "zz\r\nhello\r\n0\r\n\r\n");
  ASSERT_GE(bad, 0);
  EXPECT_THAT(ReadAll(bad), StartsWith("HTTP/1.1 400"));
  r = HttpRequest(s.address(), "POST", "/read", "abc", "text/plain");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "read 3");
}

// A client that stops sending its body mid-way while the app awaits receive(): after
// socket-timeout the connection is closed and the app gets http.disconnect.
TEST(AsgiFaults, BodyThatStopsMidwayIsADisconnectAfterSocketTimeout) {
  AsgiAppServer s({"--asgi", "asgi_faults_app:app", "--socket-timeout", "1"});
  const int fd = SendHead(s.address(),
                          "POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789");
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(WaitForFile(s.notes_path(), "http.disconnect /read", absl::Seconds(5)))
      << s.Notes() << s.kiln().Log();
  EXPECT_THAT(s.Notes(), HasSubstr("http.request /read"));
  EXPECT_THAT(s.kiln().Log(), HasSubstr("sent nothing of the request body it owes for 1s"));
  EXPECT_EQ(ReadAll(fd), "");  // closed, no answer
  absl::StatusOr<Response> r = HttpRequest(s.address(), "POST", "/read", "abc", "text/plain");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "read 3");
}

// `Expect: 100-continue`: nothing is sent while the app has not read (it awaits 1 s first),
// the 100 goes out at its first receive(); an app that answers without reading gets no 100.
TEST(AsgiFaults, ExpectContinueOnlyWhenTheAppFirstReads) {
  AsgiAppServer s({"--asgi", "asgi_faults_app:app"});
  const int fd = SendHead(s.address(),
                          "POST /read?wait=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                          "Content-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  ASSERT_GE(fd, 0);
  const absl::Time t0 = absl::Now();
  char buf[4096];
  const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
  const absl::Duration waited = absl::Now() - t0;
  ASSERT_GT(n, 0) << s.kiln().Log();
  EXPECT_EQ(std::string(buf, n), "HTTP/1.1 100 Continue\r\n\r\n");
  EXPECT_GE(waited, absl::Milliseconds(800));
  EXPECT_THAT(s.Notes(), HasSubstr("reading /read"));
  ASSERT_EQ(::send(fd, "hello", 5, MSG_NOSIGNAL), 5);
  const std::string rest = ReadAll(fd);
  EXPECT_THAT(rest, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(rest, HasSubstr("read 5"));

  const int no = SendHead(s.address(),
                          "POST /noread HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                          "Content-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  ASSERT_GE(no, 0);
  const std::string got = ReadAll(no);
  EXPECT_THAT(got, StartsWith("HTTP/1.1 200")) << got;
  EXPECT_THAT(got, Not(HasSubstr("100 Continue")));
  EXPECT_THAT(got, HasSubstr("answered without reading"));
}

}  // namespace
}  // namespace kiln::testing
