// The python plugin's requests on the wire with the real kiln binary: wsgi.file_wrapper never
// sends past the declared Content-Length on a keep-alive connection, a malformed chunked body
// read through wsgi.input is the client's 400, and a worker killed by its app (os._exit,
// SIGSEGV) costs no request but its own.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/python/py_client.h"

namespace kiln::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::string AppDir() { return SourceDir() + "/tests/python/apps"; }

std::vector<std::string> PythonArgs(std::vector<std::string> extra) {
  std::vector<std::string> args = {"--plugin-dir", PluginDir(), "--plugins", "python",  "--master",
                                   "--pythonpath", AppDir(),    "--module",  "wire_app"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

class WireServer {
 public:
  explicit WireServer(std::vector<std::string> extra, bool tcp = false) {
    if (tcp) {
      address_ = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
      extra.insert(extra.begin(), {"--http-socket", address_});
    } else {
      address_ = dir_.File("http.sock");
      extra.insert(extra.begin(), {"--http-socket", address_});
    }
    kiln_ = std::make_unique<KilnProcess>(PythonArgs(extra), dir_.File("kiln.log"));
    kiln_->SetEnv("LSAN_OPTIONS", LsanOptionsForPython());
  }
  ~WireServer() {
    if (kiln_->running()) {
      kiln_->Signal(SIGTERM);
      kiln_->WaitExit(absl::Seconds(20));
    }
  }
  bool Start() { return kiln_->Start() && WaitFor200(address_, "/up", absl::Seconds(30)); }
  const std::string& address() const { return address_; }
  KilnProcess& kiln() { return *kiln_; }

 private:
  TempDir dir_;
  std::string address_;
  std::unique_ptr<KilnProcess> kiln_;
};

// The response head ending at the first blank line, and what follows it.
void SplitHead(const std::string& raw, std::string* head, std::string* rest) {
  const size_t end = raw.find("\r\n\r\n");
  *head = end == std::string::npos ? raw : raw.substr(0, end);
  *rest = end == std::string::npos ? "" : raw.substr(end + 4);
}

TEST(FileWrapper, AFileLongerThanItsContentLengthSendsOnlyTheDeclaredBytes) {
  WireServer s({"--processes", "1"});
  ASSERT_TRUE(s.Start()) << s.kiln().Log();
  // Keep-alive with a pipelined second request: stray file bytes would start its response.
  const std::string raw =
      RawExchange(s.address(),
                  "GET /file?size=7&declared=5 HTTP/1.1\r\nHost: x\r\n\r\n"
                  "GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string head, rest;
  SplitHead(raw, &head, &rest);
  EXPECT_THAT(head, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(head, HasSubstr("Content-Length: 5"));
  ASSERT_GE(rest.size(), 5u) << raw;
  EXPECT_EQ(rest.substr(0, 5), "FFFFF");
  // After the declared 5 bytes: nothing (the connection was closed) or a clean response.
  const std::string after = rest.substr(5);
  EXPECT_TRUE(after.empty() || after.rfind("HTTP/1.1 ", 0) == 0) << "after the body: " << after;
  EXPECT_THAT(after, Not(StartsWith("F")));
}

TEST(FileWrapper, AFileShorterThanItsContentLengthClosesTheConnection) {
  WireServer s({"--processes", "1"});
  ASSERT_TRUE(s.Start()) << s.kiln().Log();
  const absl::Time t0 = absl::Now();
  const std::string raw =
      RawExchange(s.address(),
                  "GET /file?size=3&declared=5 HTTP/1.1\r\nHost: x\r\n\r\n"
                  "GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string head, rest;
  SplitHead(raw, &head, &rest);
  EXPECT_THAT(head, HasSubstr("Content-Length: 5"));
  // The client is told by the close that the body is short; nothing else follows on it.
  EXPECT_EQ(rest, "FFF") << raw;
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
}

TEST(WsgiInput, AMalformedChunkReadByTheAppIsTheClientsBadRequest) {
  WireServer s({"--processes", "1"});
  ASSERT_TRUE(s.Start()) << s.kiln().Log();
  const std::string bad_size = RawExchange(
      s.address(),
      "POST /read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n"
      "\r\n");
  EXPECT_THAT(bad_size, StartsWith("HTTP/1.1 400")) << bad_size;
  // "0 " (whitespace after the size, no extension): refused as a leading space is.
  const std::string space_after = RawExchange(
      s.address(),
      "POST /read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0 \r\n"
      "\r\n");
  EXPECT_THAT(space_after, StartsWith("HTTP/1.1 400")) << space_after;
  EXPECT_THAT(space_after, Not(HasSubstr("read 5 bytes")));
  // HTTP/1.0 with Transfer-Encoding: refused before the app runs (RFC 9112 6.1).
  const std::string http10 = RawExchange(
      s.address(),
      "POST /read HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  EXPECT_THAT(http10, StartsWith("HTTP/1.1 400")) << http10;
  EXPECT_THAT(http10, Not(HasSubstr("read 5 bytes")));
  // The worker goes on serving.
  EXPECT_THAT(
      RawExchange(s.address(), "GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
      HasSubstr("hello /after"));
}

// One GET on a fresh connection whose request leaves `delay` after the connect, as over a real
// network, where the request reaches the server a moment after the handshake did. True on 200.
bool DelayedGet(const std::string& address, const std::string& target, absl::Duration delay) {
  absl::StatusOr<int> fd = Connect(address);
  if (!fd.ok()) return false;
  absl::SleepFor(delay);
  const std::string raw =
      absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  if (!SendAll(*fd, raw)) {
    ::close(*fd);
    return false;
  }
  return ReadAll(*fd, absl::Seconds(20)).rfind("HTTP/1.1 200", 0) == 0;
}

// Three clients loop on fresh connections while a fourth has a worker killed by its app every
// 400 ms, `kills` times; only the killing requests may fail.
int FailuresBesideTheKills(const std::string& address, const char* killer, int kills) {
  std::atomic<bool> stop{false};
  std::atomic<int> failed{0}, served{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 3; ++i) {
    clients.emplace_back([&, i] {
      for (int n = 0; !stop.load(); ++n) {
        const bool ok = DelayedGet(address, absl::StrCat("/c", i, "/", n),
                                   absl::Microseconds(200 * (n % 8)));
        (ok ? served : failed).fetch_add(1);
      }
    });
  }
  for (int k = 0; k < kills; ++k) {
    absl::SleepFor(absl::Milliseconds(400));
    (void)HttpRequest(address, "GET", killer, "", "", absl::Seconds(20));
  }
  absl::SleepFor(absl::Milliseconds(400));
  stop.store(true);
  for (std::thread& t : clients) t.join();
  EXPECT_GT(served.load(), 30);
  return failed.load();
}

TEST(DyingWorker, CostsOnlyItsOwnRequestOverTcp) {
  WireServer s({"--processes", "2"}, /*tcp=*/true);
  ASSERT_TRUE(s.Start()) << s.kiln().Log();
  EXPECT_EQ(FailuresBesideTheKills(s.address(), "/exit", 6), 0) << s.kiln().Log();
  EXPECT_EQ(FailuresBesideTheKills(s.address(), "/segv", 3), 0) << s.kiln().Log();
}

TEST(DyingWorker, CostsOnlyItsOwnRequestOverAUnixSocket) {
  WireServer s({"--processes", "2"});
  ASSERT_TRUE(s.Start()) << s.kiln().Log();
  EXPECT_EQ(FailuresBesideTheKills(s.address(), "/exit", 6), 0) << s.kiln().Log();
}

}  // namespace
}  // namespace kiln::testing
