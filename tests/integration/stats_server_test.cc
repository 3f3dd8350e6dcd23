// The stats server (`stats`, `stats-http`): uWSGI 2.0.21's JSON keys, order and types checked
// against the real uWSGI, counters that add up, the listen queue, /metrics through promtool,
// /ready and /live around a graceful stop (and during drain-delay), and the stats socket across
// a reload.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "core/top/json.h"
#include "core/top/top.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"

namespace kiln::testing {
namespace {

using top::JsonValue;

// Another server (uWSGI, promtool) run for the test, stopped by pid.
class OtherProcess {
 public:
  OtherProcess(std::vector<std::string> argv, const std::string& log) {
    pid_ = fork();
    if (pid_ == 0) {
      setpgid(0, 0);
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      std::vector<char*> args;
      for (std::string& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  ~OtherProcess() {
    if (pid_ > 0) {
      kill(-pid_, SIGKILL);
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // Waits for exit; the exit code, -1 on timeout.
  int Wait(absl::Duration timeout) {
    absl::Time end = absl::Now() + timeout;
    while (absl::Now() < end) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
};

absl::StatusOr<JsonValue> StatsWhenUp(const std::string& address) {
  absl::StatusOr<JsonValue> doc = absl::UnavailableError("not tried");
  for (int i = 0; i < 100; ++i) {
    doc = top::FetchStats(address);
    if (doc.ok()) return doc;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return doc;
}

// uWSGI's keys in uWSGI's order, with the same JSON types, recursively (arrays: their first
// elements, when both have one).
void CompareShape(const JsonValue& want, const JsonValue& got, const std::string& path,
                  std::vector<std::string>* diffs) {
  if (want.type != got.type) {
    diffs->push_back(absl::StrCat(path, ": uWSGI has ", top::JsonTypeName(want.type),
                                  ", kiln has ", top::JsonTypeName(got.type)));
    return;
  }
  if (want.type == JsonValue::Type::kObject) {
    std::vector<std::string> wk, gk;
    for (const auto& [k, v] : want.members) wk.push_back(k);
    for (const auto& [k, v] : got.members) gk.push_back(k);
    if (wk != gk) {
      diffs->push_back(absl::StrCat(path, ": uWSGI keys [", absl::StrJoin(wk, ","),
                                    "], kiln keys [", absl::StrJoin(gk, ","), "]"));
    }
    for (const auto& [k, v] : want.members) {
      if (const JsonValue* g = got.Find(k); g != nullptr) {
        CompareShape(v, *g, absl::StrCat(path, ".", k), diffs);
      }
    }
  } else if (want.type == JsonValue::Type::kArray && !want.items.empty() && !got.items.empty()) {
    CompareShape(want.items[0], got.items[0], path + "[0]", diffs);
  }
}

TEST(StatsServer, SameKeysOrderAndTypesAsUwsgi) {
  ASSERT_EQ(MissingTool("/usr/bin/uwsgi", "uwsgi-core"), "");
  TempDir dir;
  std::string app = dir.Write("app.py",
                              "def application(env, start_response):\n"
                              "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                              "    return [b'hi']\n");
  const int uport = FreeLoopbackPort();
  const std::string uhttp = absl::StrCat("127.0.0.1:", uport);
  OtherProcess uwsgi({"/usr/bin/uwsgi", "--master", "--processes", "2", "--threads", "2",
                      "--http-socket", uhttp, "--stats", dir.File("u.sock"), "--plugin",
                      "python3", "--wsgi-file", app, "--memory-report"},
                     dir.File("uwsgi.log"));
  ASSERT_TRUE(WaitUntilHttpAnswers(uhttp, absl::Seconds(10))) << TempDir::ReadFile(dir.File("uwsgi.log"));
  KilnProcess kiln({"--master", "--processes", "2", "--threads", "2", "--http-socket",
                    dir.File("k.sock"), "--stats", dir.File("ks.sock"), "--builtin-handler",
                    "--memory-report"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(dir.File("k.sock"), absl::Seconds(10))) << kiln.Log();
  auto want = StatsWhenUp(dir.File("u.sock"));
  auto got = StatsWhenUp(dir.File("ks.sock"));
  ASSERT_TRUE(want.ok()) << want.status();
  ASSERT_TRUE(got.ok()) << got.status() << kiln.Log();
  std::vector<std::string> diffs;
  CompareShape(*want, *got, "$", &diffs);
  EXPECT_TRUE(diffs.empty()) << absl::StrJoin(diffs, "\n");
  // The worker and core arrays are there to compare (both servers list two of each).
  ASSERT_EQ(got->Find("workers")->items.size(), 2u);
  EXPECT_EQ(got->Find("workers")->items[0].Find("cores")->items.size(), 2u);
  EXPECT_EQ(got->Num("pid"), kiln.pid());
}

// Sums over the workers (and their cores and apps) of `key`.
double WorkerSum(const JsonValue& doc, const char* key) {
  double sum = 0;
  for (const JsonValue& w : doc.Find("workers")->items) sum += w.Num(key);
  return sum;
}
double CoreSum(const JsonValue& doc, const char* key) {
  double sum = 0;
  for (const JsonValue& w : doc.Find("workers")->items) {
    for (const JsonValue& c : w.Find("cores")->items) sum += c.Num(key);
  }
  return sum;
}

TEST(StatsServer, CountersAddUpAndMemoryReportFillsRss) {
  TempDir dir;
  const std::string http = dir.File("h.sock");
  KilnProcess kiln({"--master", "--processes", "2", "--threads", "2", "--http-socket", http,
                    "--static-map", "/files=" + dir.path(), "--stats", dir.File("st.sock"),
                    "--builtin-handler", "--memory-report"},
                   dir.File("kiln.log"));
  dir.Write("f.txt", "static\n");
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(http, absl::Seconds(10))) << kiln.Log();
  auto base = StatsWhenUp(dir.File("st.sock"));
  ASSERT_TRUE(base.ok()) << base.status();
  const double before = WorkerSum(*base, "requests");
  for (int i = 0; i < 45; ++i) {
    auto r = HttpGet(http, "/echo");
    ASSERT_TRUE(r.ok() && r->status == 200);
  }
  for (int i = 0; i < 5; ++i) {
    auto r = HttpGet(http, "/files/f.txt");
    ASSERT_TRUE(r.ok() && r->status == 200);
  }
  auto doc = top::FetchStats(dir.File("st.sock"));
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(WorkerSum(*doc, "requests") - before, 50);
  EXPECT_EQ(CoreSum(*doc, "requests") - CoreSum(*base, "requests"), 50);
  EXPECT_EQ(CoreSum(*doc, "static_requests"), 5);
  EXPECT_EQ(CoreSum(*doc, "in_request"), 0);
  EXPECT_GT(WorkerSum(*doc, "tx"), 50 * 10);
  EXPECT_EQ(WorkerSum(*doc, "respawn_count"), 2);
  EXPECT_EQ(WorkerSum(*doc, "exceptions"), 0);
  double apps = 0;
  for (const JsonValue& w : doc->Find("workers")->items) {
    for (const JsonValue& a : w.Find("apps")->items) apps += a.Num("requests");
    EXPECT_EQ(w.Str("status"), "idle");
    EXPECT_EQ(w.Num("accepting"), 1);
    if (w.Num("requests") > 0) {  // memory-report: the worker's rss and vsz after a request
      EXPECT_GT(w.Num("rss"), 1 << 20);
      EXPECT_GT(w.Num("vsz"), w.Num("rss"));
      EXPECT_GT(w.Num("avg_rt"), 0);
    }
  }
  EXPECT_EQ(apps - before, 50);
}

TEST(StatsServer, ListenQueueCountsWaitingConnections) {
  TempDir dir;
  const int port = FreeLoopbackPort();
  const std::string tcp = absl::StrCat("127.0.0.1:", port);
  const std::string unix_sock = dir.File("u.sock");
  KilnProcess kiln({"--master", "--processes", "1", "--http-socket", tcp, "--socket", unix_sock,
                    "--stats", dir.File("st.sock"), "--builtin-handler", "--listen", "50"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(tcp, absl::Seconds(10))) << kiln.Log();
  // The only serving thread sleeps in a request: what connects now waits in the queues.
  std::thread slow([&] { (void)HttpGet(tcp, "/sleep?s=2"); });
  absl::SleepFor(absl::Milliseconds(300));
  std::vector<int> fds;
  const std::string req = "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int i = 0; i < 3; ++i) {
    for (const std::string& a : {tcp, unix_sock}) {
      auto fd = Connect(a);
      ASSERT_TRUE(fd.ok());
      ASSERT_EQ(write(*fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
      fds.push_back(*fd);
    }
  }
  absl::SleepFor(absl::Milliseconds(200));
  auto doc = top::FetchStats(dir.File("st.sock"));
  ASSERT_TRUE(doc.ok()) << doc.status();
  const auto& sockets = doc->Find("sockets")->items;
  ASSERT_EQ(sockets.size(), 2u);
  for (const JsonValue& s : sockets) {
    SCOPED_TRACE(s.Str("name"));
    EXPECT_EQ(s.Str("proto"), s.Str("name") == tcp ? "http" : "uwsgi");
    EXPECT_EQ(s.Num("queue"), 3);
    EXPECT_EQ(s.Num("max_queue"), 50);
  }
  EXPECT_EQ(doc->Num("listen_queue"), 6);
  EXPECT_EQ(doc->Find("workers")->items[0].Str("status"), "busy");
  EXPECT_EQ(CoreSum(*doc, "in_request"), 1);
  slow.join();
  for (int fd : fds) close(fd);
}

TEST(StatsServer, UnixSocketIsPrivateSurvivesReloadAndGoesAtExit) {
  TempDir dir;
  const std::string stats = dir.File("st.sock");
  KilnProcess kiln({"--master", "--processes", "1", "--http-socket", dir.File("h.sock"),
                    "--stats", stats, "--builtin-handler"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(StatsWhenUp(stats).ok()) << kiln.Log();
  struct stat st;
  ASSERT_EQ(lstat(stats.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  kiln.Signal(SIGHUP);
  ASSERT_TRUE(kiln.WaitForLog("reload: the new generation is accepting", absl::Seconds(15)))
      << kiln.Log();
  auto doc = StatsWhenUp(stats);
  ASSERT_TRUE(doc.ok()) << doc.status() << kiln.Log();
  EXPECT_EQ(doc->Num("pid"), kiln.pid());  // the same master, re-executed
  kiln.Signal(SIGTERM);
  ASSERT_TRUE(kiln.WaitExit(absl::Seconds(15)).has_value());
  EXPECT_NE(lstat(stats.c_str(), &st), 0) << "stats socket left behind";
}

TEST(StatsHttp, EveryPathIsJsonAndMetricsPassPromtool) {
  ASSERT_EQ(MissingTool("/usr/bin/promtool", "prometheus"), "");
  TempDir dir;
  const std::string http = dir.File("h.sock");
  const std::string stats = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
  KilnProcess kiln({"--master", "--processes", "2", "--http-socket", http, "--stats", stats,
                    "--stats-http", "--builtin-handler"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(http, absl::Seconds(10))) << kiln.Log();
  // WaitUntilHttpAnswers sent one request too.
  for (int i = 0; i < 19; ++i) ASSERT_TRUE(HttpGet(http, "/echo").ok());
  auto any = HttpGet(stats, "/whatever");
  ASSERT_TRUE(any.ok()) << any.status();
  EXPECT_EQ(any->status, 200);
  EXPECT_EQ(HeaderOf(*any, "Content-Type"), "application/json");
  auto doc = top::ParseJson(any->body);
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(WorkerSum(*doc, "requests"), 20);
  auto metrics = HttpGet(stats, "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(HeaderOf(*metrics, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  double requests = 0;
  for (absl::string_view line : absl::StrSplit(metrics->body, '\n')) {
    if (line.rfind("kiln_requests_total{", 0) == 0) {
      requests += std::stod(std::string(line.substr(line.rfind(' ') + 1)));
    }
  }
  EXPECT_EQ(requests, 20);
  EXPECT_NE(metrics->body.find("kiln_request_duration_seconds_count{worker=\"1\"}"),
            std::string::npos);
  // promtool reads the exposition from stdin and lints it: any complaint fails the test.
  const std::string file = dir.Write("metrics.txt", metrics->body);
  OtherProcess promtool({"/bin/sh", "-c", "/usr/bin/promtool check metrics < " + file},
                        dir.File("promtool.log"));
  EXPECT_EQ(promtool.Wait(absl::Seconds(20)), 0) << TempDir::ReadFile(dir.File("promtool.log"))
                                                 << metrics->body;
  EXPECT_EQ(TempDir::ReadFile(dir.File("promtool.log")), "");
}

TEST(StatsHttp, ReadyTurns503AtOnceOnGracefulStopWhileLiveStays200) {
  TempDir dir;
  const std::string http = dir.File("h.sock");
  const std::string stats = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
  // One worker, busy with a slow request through the stop: it stays in its slot, accepting
  // nothing new, so only the master's own state can make /ready say 503 at once.
  KilnProcess kiln({"--master", "--processes", "1", "--http-socket", http, "--stats", stats,
                    "--stats-http", "--builtin-handler"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(http, absl::Seconds(10))) << kiln.Log();
  absl::Time end = absl::Now() + absl::Seconds(10);
  int ready = 0;
  while (absl::Now() < end) {  // the worker accepting
    auto r = HttpGet(stats, "/ready");
    ready = r.ok() ? r->status : 0;
    if (ready == 200) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_EQ(ready, 200);
  // A request in flight keeps the master running (draining) after SIGTERM.
  std::thread slow([&] { (void)HttpGet(http, "/sleep?s=2"); });
  absl::SleepFor(absl::Milliseconds(200));
  const absl::Time sent = absl::Now();
  kiln.Signal(SIGTERM);
  int status = 0;
  absl::Duration took;
  while (absl::Now() - sent < absl::Seconds(1)) {
    auto r = HttpGet(stats, "/ready");
    status = r.ok() ? r->status : 0;
    took = absl::Now() - sent;
    if (status == 503) {
      EXPECT_NE(r->body.find("stopping"), std::string::npos) << r->body;
      break;
    }
  }
  EXPECT_EQ(status, 503);
  EXPECT_LT(took, absl::Milliseconds(100));
  auto live = HttpGet(stats, "/live");
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(live->status, 200);
  slow.join();
  EXPECT_TRUE(kiln.WaitExit(absl::Seconds(15)).has_value());
}

// drain-delay as a readiness-driven balancer (a Kubernetes Service) sees it: /ready says 503
// within 100 ms of SIGTERM so the balancer starts taking the host out, while new connections
// are still served for the whole delay (those the balancer sends until it has), and only then
// does kiln stop.
TEST(StatsHttp, DuringDrainDelayReadyIs503WhileNewConnectionsAreServed) {
  TempDir dir;
  const std::string http = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
  const std::string stats = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
  KilnProcess kiln({"--master", "--processes", "2", "--http-socket", http, "--stats", stats,
                    "--stats-http", "--builtin-handler", "--drain-delay", "2"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(http, absl::Seconds(10))) << kiln.Log();
  int ready = 0;
  for (absl::Time end = absl::Now() + absl::Seconds(10); absl::Now() < end && ready != 200;) {
    auto r = HttpGet(stats, "/ready");
    ready = r.ok() ? r->status : 0;
    if (ready != 200) absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_EQ(ready, 200) << kiln.Log();
  const absl::Time sent = absl::Now();
  kiln.Signal(SIGTERM);
  int status = 0;
  absl::Duration took;
  while (absl::Now() - sent < absl::Seconds(1) && status != 503) {
    auto r = HttpGet(stats, "/ready");
    status = r.ok() ? r->status : 0;
    took = absl::Now() - sent;
  }
  ASSERT_EQ(status, 503) << kiln.Log();
  EXPECT_LT(took, absl::Milliseconds(100));
  // New connections until shortly before the delay ends: each served, /ready 503 throughout.
  int served = 0;
  while (absl::Now() - sent < absl::Milliseconds(1700)) {
    auto r = HttpGet(http, "/echo");
    ASSERT_TRUE(r.ok()) << "a new connection " << absl::Now() - sent
                        << " after SIGTERM: " << r.status() << kiln.Log();
    EXPECT_EQ(r->status, 200);
    ++served;
    auto rd = HttpGet(stats, "/ready");
    ASSERT_TRUE(rd.ok()) << rd.status();
    EXPECT_EQ(rd->status, 503) << absl::Now() - sent << " after SIGTERM";
    EXPECT_NE(rd->body.find("stopping"), std::string::npos) << rd->body;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_GE(served, 10);
  auto exited = kiln.WaitExit(absl::Seconds(15));
  ASSERT_TRUE(exited.has_value()) << kiln.Log();
  EXPECT_GE(absl::Now() - sent, absl::Seconds(2)) << "stopped before drain-delay ran out";
  std::printf("/ready 503 after %s; %d new connections served during drain-delay\n",
              absl::FormatDuration(took).c_str(), served);
}

TEST(StatsHttp, ReadyIs503WhileAReloadHasFewerReadyWorkers) {
  TempDir dir;
  // lazy-apps: each new worker loads the app itself, which takes a second here.
  std::string app = dir.Write("app.py",
                              "import time\n"
                              "time.sleep(1)\n"
                              "def application(env, start_response):\n"
                              "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                              "    return [b'hi']\n");
  const std::string http = dir.File("h.sock");
  const std::string stats = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
  KilnProcess kiln({"--master", "--processes", "2", "--plugins", "python", "--wsgi-file", app,
                    "--lazy-apps", "--http-socket", http, "--stats", stats, "--stats-http"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(kiln.WaitForLog("kiln is ready", absl::Seconds(20))) << kiln.Log();
  auto before = HttpGet(stats, "/ready");
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->status, 200);
  kiln.Signal(SIGHUP);
  bool saw_reloading = false;
  int last = 0;
  const absl::Time end = absl::Now() + absl::Seconds(20);
  while (absl::Now() < end) {
    auto r = HttpGet(stats, "/ready", absl::Seconds(2));
    last = r.ok() ? r->status : 0;  // 0: the master is re-executing
    if (last == 503 && r->body.find("reloading") != std::string::npos) saw_reloading = true;
    if (saw_reloading && last == 200) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(saw_reloading) << kiln.Log();
  EXPECT_EQ(last, 200) << kiln.Log();
  EXPECT_TRUE(kiln.WaitForLog("reload: the new generation is accepting", absl::Seconds(5)));
}

TEST(StatsHttp, SilentClientsNeitherBlockOthersNorStay) {
  TempDir dir;
  const std::string stats = dir.File("st.sock");
  KilnProcess kiln({"--master", "--processes", "1", "--http-socket", dir.File("h.sock"),
                    "--stats", stats, "--stats-http", "--builtin-handler", "--socket-timeout",
                    "1"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(dir.File("h.sock"), absl::Seconds(10))) << kiln.Log();
  // More clients than the stats server keeps, each connected and silent.
  std::vector<int> silent;
  for (int i = 0; i < 100; ++i) {
    auto fd = Connect(stats);
    ASSERT_TRUE(fd.ok()) << fd.status();
    silent.push_back(*fd);
  }
  const absl::Time start = absl::Now();
  auto live = HttpGet(stats, "/live", absl::Seconds(2));
  ASSERT_TRUE(live.ok()) << live.status();
  EXPECT_EQ(live->status, 200);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(500));
  // After socket-timeout every silent client has been closed by kiln.
  absl::SleepFor(absl::Milliseconds(1600));
  int closed = 0;
  for (int fd : silent) {
    char c;
    if (recv(fd, &c, 1, MSG_DONTWAIT) == 0) ++closed;
    close(fd);
  }
  EXPECT_EQ(closed, 100);
}

TEST(StatsServer, ApplicationErrorsCountAsExceptions) {
  TempDir dir;
  std::string app = dir.Write("app.py",
                              "def application(env, start_response):\n"
                              "    if env['PATH_INFO'] == '/boom':\n"
                              "        raise RuntimeError('boom')\n"
                              "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                              "    return [b'hi']\n");
  const std::string http = dir.File("h.sock");
  KilnProcess kiln({"--master", "--processes", "1", "--plugins", "python", "--wsgi-file", app,
                    "--http-socket", http, "--stats", dir.File("st.sock")},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(http, absl::Seconds(20))) << kiln.Log();
  for (int i = 0; i < 3; ++i) {
    auto r = HttpGet(http, "/boom");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 500);
  }
  auto doc = top::FetchStats(dir.File("st.sock"));
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(WorkerSum(*doc, "exceptions"), 3) << kiln.Log();
  EXPECT_EQ(doc->Find("workers")->items[0].Find("apps")->items[0].Num("exceptions"), 3);
}

}  // namespace
}  // namespace kiln::testing
