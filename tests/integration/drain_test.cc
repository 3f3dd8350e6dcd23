// A graceful stop drops nothing the kernel accepted: connections already queued on the listen
// sockets when SIGTERM arrives are served, a connection attempted once the stop drained the
// queue is refused (ECONNREFUSED, which a balancer retries elsewhere) instead of being
// accepted and reset, drain-delay keeps accepting for its time, and a worker that stops alone
// (a recycle) leaves the shared sockets serving. The real kiln binary, 2 workers.
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"

namespace kiln::testing {
namespace {

constexpr absl::Duration kStartup = absl::Seconds(15);
constexpr int kQueued = 50;

// connect(2) to a "host:port" or unix path: the fd, or -ECONNREFUSED (-EIO for another error).
int RawConnect(const std::string& address) {
  absl::StatusOr<int> fd = Connect(address);
  if (fd.ok()) return *fd;
  return absl::StrContains(fd.status().message(), "refused") ? -ECONNREFUSED : -EIO;
}

bool Is200(const std::string& response) { return absl::StartsWith(response, "HTTP/1.1 200"); }

// Opens kQueued connections and sends a 100 ms request on each (2 workers serve 2 at a time:
// the others wait in the listen socket's accept queue), stops kiln with SIGTERM, checks that
// a connection attempted once the queue was drained is refused, and that all of the queued
// ones are answered 200.
void QueuedConnectionsSurviveSigterm(const std::string& address, bool http_socket_is_tcp) {
  TempDir dir;
  KilnProcess kiln({"--master", "--builtin-handler", "--processes", "2", "--http-socket",
                    address, "--worker-reload-mercy", "60", "--vacuum"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(address, kStartup)) << kiln.Log();
  ASSERT_TRUE(kiln.WaitForLog("kiln is ready", kStartup)) << kiln.Log();
  std::vector<int> fds;
  const std::string request = "GET /sleep?s=0.1 HTTP/1.1\r\nHost: t\r\n\r\n";
  for (int i = 0; i < kQueued; ++i) {
    int fd = RawConnect(address);
    ASSERT_GE(fd, 0) << "connection " << i << ": " << strerror(-fd);
    ASSERT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
    fds.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  kiln.Signal(SIGTERM);
  EXPECT_TRUE(kiln.WaitForLog("connection(s) queued on", absl::Seconds(10))) << kiln.Log();
  // The queue is drained and the socket shut down: a new client is refused at once (a
  // balancer's connect error), not accepted and then reset.
  int late = RawConnect(address);
  if (late >= 0) close(late);
  EXPECT_EQ(late, -ECONNREFUSED) << "a connection after the drain was accepted";
  int ok = 0;
  for (int fd : fds) {
    int error = 0;
    std::string response = ReadAll(fd, absl::Seconds(30), &error);
    if (Is200(response)) {
      ++ok;
    } else {
      ADD_FAILURE() << "a queued connection got " << (error != 0 ? strerror(error) : "EOF")
                    << ": " << response.substr(0, 80);
    }
  }
  EXPECT_EQ(ok, kQueued) << kiln.Log();
  auto status = kiln.WaitExit(absl::Seconds(30));
  ASSERT_TRUE(status.has_value()) << kiln.Log();
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  if (!http_socket_is_tcp) {
    // vacuum removes the socket only once everything queued on it was served.
    EXPECT_NE(access(address.c_str(), F_OK), 0);
  }
}

TEST(KilnDrain, SigtermServesEveryQueuedTcpConnectionAndRefusesNewOnes) {
  QueuedConnectionsSurviveSigterm(absl::StrCat("127.0.0.1:", FreeLoopbackPort()), true);
}

TEST(KilnDrain, SigtermServesEveryQueuedUnixConnectionAndRefusesNewOnes) {
  TempDir sockets;
  QueuedConnectionsSurviveSigterm(sockets.File("s.sock"), false);
}

// Without a master the one process is the whole instance: its graceful stop drains too.
TEST(KilnDrain, WithoutAMasterSigtermServesEveryQueuedConnection) {
  TempDir dir;
  const std::string address = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
  KilnProcess kiln({"--builtin-handler", "--http-socket", address}, dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(address, kStartup)) << kiln.Log();
  std::vector<int> fds;
  const std::string request = "GET /sleep?s=0.05 HTTP/1.1\r\nHost: t\r\n\r\n";
  for (int i = 0; i < 20; ++i) {
    int fd = RawConnect(address);
    ASSERT_GE(fd, 0) << strerror(-fd);
    ASSERT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
    fds.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  kiln.Signal(SIGTERM);
  int ok = 0;
  for (int fd : fds) {
    int error = 0;
    ok += Is200(ReadAll(fd, absl::Seconds(30), &error)) ? 1 : 0;
  }
  EXPECT_EQ(ok, 20) << kiln.Log();
  auto status = kiln.WaitExit(absl::Seconds(30));
  ASSERT_TRUE(status.has_value()) << kiln.Log();
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

TEST(KilnDrain, DrainDelayKeepsServingNewConnections) {
  TempDir dir;
  const std::string address = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
  KilnProcess kiln({"--master", "--builtin-handler", "--processes", "2", "--http-socket",
                    address, "--drain-delay", "2"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(address, kStartup)) << kiln.Log();
  const absl::Time start = absl::Now();
  kiln.Signal(SIGTERM);
  ASSERT_TRUE(kiln.WaitForLog("drain-delay: accepting", absl::Seconds(5))) << kiln.Log();
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  auto during = HttpGet(address, "/echo");
  ASSERT_TRUE(during.ok()) << during.status() << kiln.Log();
  EXPECT_EQ(during->status, 200);
  auto status = kiln.WaitExit(absl::Seconds(30));
  ASSERT_TRUE(status.has_value()) << kiln.Log();
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  EXPECT_GE(absl::Now() - start, absl::Seconds(2)) << kiln.Log();
}

// A worker that stops on its own (max-requests) shares the listen socket with the others:
// it must not shut the socket down, or every later request would be refused.
TEST(KilnDrain, ARecyclingWorkerLeavesTheSocketsServing) {
  TempDir dir;
  const std::string address = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
  KilnProcess kiln({"--master", "--builtin-handler", "--processes", "2", "--http-socket",
                    address, "--max-requests", "3", "--min-worker-lifetime", "0"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(address, kStartup)) << kiln.Log();
  for (int i = 0; i < 20; ++i) {
    auto r = HttpGet(address, "/echo");
    ASSERT_TRUE(r.ok()) << "request " << i << ": " << r.status() << kiln.Log();
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_TRUE(kiln.WaitForLog("recycled after", absl::Seconds(5))) << kiln.Log();
  kiln.Signal(SIGTERM);
  auto status = kiln.WaitExit(absl::Seconds(30));
  ASSERT_TRUE(status.has_value()) << kiln.Log();
}

}  // namespace
}  // namespace kiln::testing
