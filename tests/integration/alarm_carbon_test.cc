// Alarms and carbon with the real kiln: alarm-segfault when a worker dies of SIGSEGV, log-alarm
// on a matching log line (again only after alarm-freq for the same line), alarm-listen-queue
// when the accept queue fills, the `log:` action, and carbon pushes received by a Graphite
// plaintext listener in the test whose counters add up to the requests sent.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"

namespace kiln::testing {
namespace {

TEST(KilnAlarm, SegfaultRunsTheCommandWithTheMessageOnItsStdin) {
  TempDir dir;
  const std::string out = dir.File("alarm.txt");
  const std::string addr = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
  const std::string ini = dir.Write("k.ini", absl::StrCat(R"([uwsgi]
master = true
processes = 1
builtin-handler = true
http-socket = )", addr, R"(
alarm = crash cmd:cat >> )", out, R"(
alarm-segfault = crash
)"));
  KilnProcess kiln({"--ini", ini}, dir.File("kiln.log"));
  // A sanitizer build catches SIGSEGV itself and exits 1; the worker must die of the signal.
  kiln.SetEnv("ASAN_OPTIONS", "handle_segv=0");
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(addr, absl::Seconds(10))) << kiln.Log();
  const pid_t worker = kiln.WorkerPids()[1];
  ASSERT_GT(worker, 0);
  ASSERT_EQ(kill(worker, SIGSEGV), 0);
  ASSERT_TRUE(WaitForFile(out, "got Segmentation Fault", absl::Seconds(10))) << kiln.Log();
  EXPECT_EQ(TempDir::ReadFile(out),
            absl::StrCat("worker 1 (pid: ", worker, ") got Segmentation Fault (killed by signal 11)\n"));
  // The server goes on: the worker is respawned and answers.
  ASSERT_TRUE(WaitUntilHttpAnswers(addr, absl::Seconds(10))) << kiln.Log();
  // A worker that ends any other way raises nothing.
  const pid_t second = kiln.WorkerPids()[1];
  ASSERT_NE(second, worker);
  ASSERT_EQ(kill(second, SIGKILL), 0);
  ASSERT_TRUE(kiln.WaitForLog("killed by signal 9", absl::Seconds(10))) << kiln.Log();
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(CountLines(TempDir::ReadFile(out), "worker"), 1);
}

TEST(KilnAlarm, LogAlarmFiresOnceThenAgainOnlyAfterAlarmFreq) {
  TempDir dir;
  const std::string out = dir.File("alarm.txt");
  const std::string addr = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
  // A request line without date or counters: the same request logs the same line.
  const std::string ini = dir.Write("k.ini", absl::StrCat(R"([uwsgi]
master = true
processes = 2
builtin-handler = true
http-socket = )", addr, R"(
log-format = REQ %(method) %(uri) %(status)
alarm = page cmd:cat >> )", out, R"(
alarm = note log:seen
alarm-freq = 3
log-alarm = page,note REQ GET /echo\?boom
not-log-alarm = page REQ GET /echo\?boom=quiet
)"));
  KilnProcess kiln({"--ini", ini}, dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(addr, absl::Seconds(10))) << kiln.Log();
  const absl::Time first = absl::Now();
  ASSERT_TRUE(HttpGet(addr, "/echo?boom").ok());
  ASSERT_TRUE(WaitForLines(out, "REQ GET /echo?boom 200", 1, absl::Seconds(5))) << kiln.Log();
  // The same line again within alarm-freq (from whichever worker): no second alarm.
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(HttpGet(addr, "/echo?boom").ok());
  // A line no log-alarm matches, and one a not-log-alarm silences: nothing either.
  ASSERT_TRUE(HttpGet(addr, "/echo?calm").ok());
  ASSERT_TRUE(HttpGet(addr, "/echo?boom=quiet").ok());
  absl::SleepFor(absl::Milliseconds(500));
  ASSERT_LT(absl::Now() - first, absl::Seconds(3)) << "the machine is too slow for this check";
  EXPECT_EQ(CountLines(TempDir::ReadFile(out), "REQ"), 1) << TempDir::ReadFile(out);
  // The `log:` action wrote the alarm to the log, once.
  EXPECT_EQ(CountLines(kiln.Log(), "ALARM: seen REQ GET /echo?boom 200"), 1) << kiln.Log();
  // After alarm-freq the same line raises the alarm again.
  absl::SleepFor(first + absl::Milliseconds(3200) - absl::Now());
  ASSERT_TRUE(HttpGet(addr, "/echo?boom").ok());
  ASSERT_TRUE(WaitForLines(out, "REQ GET /echo?boom 200", 2, absl::Seconds(5)))
      << TempDir::ReadFile(out) << kiln.Log();
  EXPECT_EQ(CountLines(TempDir::ReadFile(out), "REQ"), 2) << TempDir::ReadFile(out);
}

TEST(KilnAlarm, ListenQueueFullRaisesTheAlarm) {
  TempDir dir;
  const std::string out = dir.File("alarm.txt");
  const std::string addr = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
  const std::string ini = dir.Write("k.ini", absl::StrCat(R"([uwsgi]
master = true
processes = 1
builtin-handler = true
listen = 2
http-socket = )", addr, R"(
alarm = queue cmd:cat >> )", out, R"(
alarm-listen-queue = queue
)"));
  KilnProcess kiln({"--ini", ini}, dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(addr, absl::Seconds(10))) << kiln.Log();
  EXPECT_EQ(TempDir::ReadFile(out), "");  // nothing while the queue is empty
  // The only serving thread sleeps in a request: what connects now waits in the queue.
  std::thread slow([&] { (void)HttpGet(addr, "/sleep?s=3"); });
  absl::SleepFor(absl::Milliseconds(300));
  // Each sends its request: with deferred accept a silent connection is not queued yet.
  const std::string req = "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n";
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) {
    auto fd = Connect(addr);
    ASSERT_TRUE(fd.ok()) << fd.status();
    ASSERT_EQ(write(*fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
    fds.push_back(*fd);
  }
  EXPECT_TRUE(WaitForFile(out, absl::StrCat("listen queue of socket \"", addr, "\""),
                          absl::Seconds(3)))
      << TempDir::ReadFile(out) << kiln.Log();
  EXPECT_TRUE(absl::StrContains(TempDir::ReadFile(out), "full !!! ("));
  EXPECT_TRUE(kiln.WaitForLog("*** listen queue of socket", absl::Seconds(1)));
  slow.join();
  for (int fd : fds) close(fd);
}

// The master never waits for an alarm command: while a slow one runs, the crashed worker is
// respawned and serves, and a stop does not wait for the command either.
TEST(KilnAlarm, ASlowCommandDoesNotStallTheMaster) {
  TempDir dir;
  const std::string out = dir.File("alarm.txt");
  const std::string addr = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
  const std::string ini = dir.Write("k.ini", absl::StrCat(R"([uwsgi]
master = true
processes = 1
builtin-handler = true
http-socket = )", addr, R"(
alarm = slow cmd:echo started >> )", out, R"(; sleep 4
alarm-segfault = slow
)"));
  KilnProcess kiln({"--ini", ini}, dir.File("kiln.log"));
  // A sanitizer build catches SIGSEGV itself and exits 1; the worker must die of the signal.
  kiln.SetEnv("ASAN_OPTIONS", "handle_segv=0");
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(addr, absl::Seconds(10))) << kiln.Log();
  ASSERT_EQ(kill(kiln.WorkerPids()[1], SIGSEGV), 0);
  ASSERT_TRUE(WaitForFile(out, "started", absl::Seconds(5))) << kiln.Log();
  const absl::Time start = absl::Now();
  ASSERT_TRUE(kiln.WaitForLog("spawned kiln worker 1", absl::Seconds(2), 2)) << kiln.Log();
  ASSERT_TRUE(WaitUntilHttpAnswers(addr, absl::Seconds(2))) << kiln.Log();
  kiln.Signal(SIGTERM);
  ASSERT_TRUE(kiln.WaitExit(absl::Seconds(3)).has_value()) << kiln.Log();
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));
}

TEST(KilnAlarm, UnknownActionOrNameIsAClearStartupError) {
  TempDir dir;
  {
    KilnProcess kiln({"--master", "--builtin-handler", "--http-socket", "127.0.0.1:0", "--alarm",
                      "mail curl:smtp://localhost"},
                     dir.File("a.log"));
    ASSERT_TRUE(kiln.Start());
    ASSERT_TRUE(kiln.WaitExit(absl::Seconds(10)).has_value());
    EXPECT_TRUE(absl::StrContains(kiln.Log(), "the alarm action `curl` is not supported"))
        << kiln.Log();
  }
  {
    KilnProcess kiln({"--master", "--builtin-handler", "--http-socket", "127.0.0.1:0",
                      "--alarm-segfault", "nobody"},
                     dir.File("b.log"));
    ASSERT_TRUE(kiln.Start());
    ASSERT_TRUE(kiln.WaitExit(absl::Seconds(10)).has_value());
    EXPECT_TRUE(absl::StrContains(kiln.Log(), "no `alarm` is named `nobody`")) << kiln.Log();
  }
}

// A Graphite plaintext listener: collects every line it is sent, one connection at a time.
class CarbonListener {
 public:
  CarbonListener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    listen(fd_, 8);
    thread_ = std::thread([this] { Loop(); });
  }
  ~CarbonListener() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  // The pushes received so far, each whole (the sender closed the connection).
  std::vector<std::string> Pushes() {
    absl::MutexLock lock(&mu_);
    return pushes_;
  }

 private:
  void Loop() {
    while (!stop_) {
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      timeval tv{5, 0};
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      std::string data;
      char buf[4096];
      ssize_t n;
      while ((n = read(c, buf, sizeof(buf))) > 0) data.append(buf, static_cast<size_t>(n));
      close(c);
      absl::MutexLock lock(&mu_);
      pushes_.push_back(data);
    }
  }
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  absl::Mutex mu_;
  std::vector<std::string> pushes_;
};

// metric -> value of one push; every line must be `PREFIXmetric VALUE TIMESTAMP`.
std::map<std::string, uint64_t> ParsePush(const std::string& push, const std::string& prefix) {
  std::map<std::string, uint64_t> out;
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  for (absl::string_view line : absl::StrSplit(push, '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    EXPECT_EQ(f.size(), 3u) << line;
    if (f.size() != 3) continue;
    EXPECT_TRUE(absl::StartsWith(f[0], prefix)) << line;
    uint64_t value = 0;
    int64_t ts = 0;
    EXPECT_TRUE(absl::SimpleAtoi(f[1], &value)) << line;
    EXPECT_TRUE(absl::SimpleAtoi(f[2], &ts)) << line;
    EXPECT_LE(std::abs(now - ts), 30) << line;
    out[f[0].substr(prefix.size())] = value;
  }
  return out;
}

TEST(KilnCarbon, PushesGraphiteLinesWhoseCountersAddUp) {
  TempDir dir;
  CarbonListener graphite;
  const std::string addr = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
  KilnProcess kiln({"--master", "--processes", "2", "--builtin-handler", "--http-socket", addr,
                    "--carbon", absl::StrCat("127.0.0.1:", graphite.port()), "--carbon-freq", "1",
                    "--carbon-id", "web.app", "--carbon-root", "metrics",
                    "--carbon-hostname-dots", "_"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  // Only the requests below are made (no readiness probe): the counters must say exactly them.
  ASSERT_TRUE(kiln.WaitForLog("kiln is ready", absl::Seconds(10))) << kiln.Log();
  constexpr int kRequests = 7;
  for (int i = 0; i < kRequests; ++i) ASSERT_TRUE(HttpGet(addr, "/bytes?n=100").ok());
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  const std::string prefix =
      absl::StrCat("metrics.", absl::StrReplaceAll(host, {{".", "_"}}), ".web.app.");
  std::map<std::string, uint64_t> m;
  absl::Time end = absl::Now() + absl::Seconds(10);
  const uint64_t before_ours = 0;
  while (absl::Now() < end) {
    auto pushes = graphite.Pushes();
    if (!pushes.empty()) {
      m = ParsePush(pushes.back(), prefix);
      if (m["requests"] == before_ours + kRequests) break;
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_EQ(m["requests"], before_ours + kRequests) << kiln.Log();
  EXPECT_EQ(m["worker1.requests"] + m["worker2.requests"], before_ours + kRequests);
  EXPECT_EQ(m["worker1.tx"] + m["worker2.tx"], m["tx"]);
  EXPECT_GT(m["tx"], static_cast<uint64_t>(kRequests * 100));
  EXPECT_EQ(m["active_workers"], 2u);
  EXPECT_EQ(m["busy_workers"], 0u);
  EXPECT_EQ(m["idle_workers"], 2u);
  EXPECT_EQ(m["respawns"], 2u);
  EXPECT_EQ(m["harakiri"], 0u);
  EXPECT_EQ(m["exceptions"], 0u);
  for (const char* name : {"avg_rt", "busyness", "worker1.avg_rt", "worker2.busyness",
                           "worker1.respawns", "worker2.exceptions", "worker1.harakiri"}) {
    EXPECT_EQ(m.count(name), 1u) << name;
  }
  EXPECT_EQ(m.count("rss_size"), 0u);  // only under memory-report, as uWSGI
  // Pushes keep coming every carbon-freq.
  const size_t seen = graphite.Pushes().size();
  absl::SleepFor(absl::Milliseconds(2500));
  EXPECT_GE(graphite.Pushes().size(), seen + 2);
}

}  // namespace
}  // namespace kiln::testing
