// The real kiln binary and its logs: master and worker lines through `logger = file:`, request
// lines through `req-logger`, log-date, what child processes print, touch-logreopen and reload
// after a rotation, harakiri naming the request, and the no-master mode leaving nothing behind.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <thread>
#include <vector>
#include <sstream>
#include <regex>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"

namespace kiln::testing {
namespace {

constexpr absl::Duration kStartup = absl::Seconds(15);

// The seed file's shape: master, a `file:` server log and a `file:` request log; `extra`
// starts on line 8. The built-in test handler answers.
std::string SeedLikeIni(const TempDir& dir, const std::string& extra) {
  return absl::StrCat("[uwsgi]\nmaster = true\nprocesses = 2\nplugins = logfile\n",
                      "http-socket = ", dir.File("s.sock"), "\n",
                      "logger = file:", dir.File("app.log"), "\n",
                      "req-logger = file:", dir.File("req.log"), "\n", extra,
                      "\nbuiltin-handler = true\n");
}

TEST(KilnLogging, ServerLinesGoToTheLoggerFileAndRequestLinesOnlyToTheRequestLog) {
  TempDir dir;
  std::string ini = dir.Write(
      "app.ini", SeedLikeIni(dir, "log-date = true\n"
                                  "attach-daemon = echo printed-by-a-child && exec sleep 60\n"));
  KilnProcess kiln({ini}, dir.File("kiln.out"));
  ASSERT_TRUE(kiln.Start());
  std::string sock = dir.File("s.sock");
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  auto r = HttpGet(sock, "/logged-request");
  ASSERT_TRUE(r.ok()) << r.status();
  std::string app_log = dir.File("app.log");
  std::string req_log = dir.File("req.log");
  ASSERT_TRUE(WaitForFile(req_log, "GET /logged-request", absl::Seconds(5)))
      << TempDir::ReadFile(req_log);
  ASSERT_TRUE(WaitForFile(app_log, "printed-by-a-child", absl::Seconds(5)))
      << TempDir::ReadFile(app_log);
  kiln.Signal(SIGTERM);
  ASSERT_TRUE(kiln.WaitExit(absl::Seconds(10)).has_value());

  std::string app = TempDir::ReadFile(app_log);
  std::string req = TempDir::ReadFile(req_log);
  EXPECT_TRUE(Has(app, "*** Starting kiln")) << app;
  EXPECT_TRUE(Has(app, "spawned kiln worker 1")) << app;
  EXPECT_TRUE(Has(app, "spawned kiln worker 2")) << app;
  EXPECT_TRUE(Has(app, "SIGTERM: stopping gracefully")) << app;
  EXPECT_TRUE(Has(app, "goodbye from kiln")) << app;
  EXPECT_FALSE(Has(app, "/logged-request")) << app;
  EXPECT_FALSE(Has(req, "Starting kiln")) << req;
  EXPECT_FALSE(Has(req, "spawned kiln worker")) << req;
  // Nothing of the server's own goes to the terminal once the log file is open.
  EXPECT_FALSE(Has(kiln.Log(), "spawned kiln worker")) << kiln.Log();
  // log-date (bare): every server line starts with the date, "Tue Nov 24 12:00:00 2026 - ".
  std::regex dated(R"(^[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d \d{4} - )");
  std::istringstream lines(app);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || Has(line, "printed-by-a-child")) {
      continue;  // a child's own output has no prefix
    }
    EXPECT_TRUE(std::regex_search(line, dated)) << line;
  }
}

// log-micros gives the default line's time in microseconds; log-x-forwarded-for logs the
// X-Forwarded-For header as the client address (a request without one keeps its own).
TEST(KilnLogging, LogMicrosAndLogXForwardedForShapeTheDefaultRequestLine) {
  TempDir dir;
  std::string ini = dir.Write(
      "app.ini", SeedLikeIni(dir, "log-micros = true\nlog-x-forwarded-for = true\n"));
  KilnProcess kiln({ini}, dir.File("kiln.out"));
  ASSERT_TRUE(kiln.Start());
  std::string sock = dir.File("s.sock");
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  auto r = Exchange(sock, "GET /forwarded HTTP/1.1\r\nHost: x\r\n"
                          "X-Forwarded-For: 203.0.113.7\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(HttpGet(sock, "/direct").ok());
  std::string req_log = dir.File("req.log");
  ASSERT_TRUE(WaitForFile(req_log, "GET /direct", absl::Seconds(5)))
      << TempDir::ReadFile(req_log);
  kiln.Signal(SIGTERM);
  ASSERT_TRUE(kiln.WaitExit(absl::Seconds(10)).has_value());
  std::string req = TempDir::ReadFile(req_log);
  EXPECT_TRUE(std::regex_search(
      req, std::regex(R"(\] 203\.0\.113\.7 \(\) \{[^\n]*GET /forwarded => generated \d+ bytes in )"
                      R"(\d+ micros \(HTTP/1\.1 200\))")))
      << req;
  EXPECT_TRUE(std::regex_search(req, std::regex(R"(\] [^ ]* \(\) \{[^\n]*GET /direct => )")))
      << req;
  EXPECT_FALSE(Has(req, "msecs")) << req;
  EXPECT_FALSE(Has(req, "203.0.113.7 () {[^\n]*/direct")) << req;
}

// Request lines are written in batches (request-log-buffer); none may be lost or held back:
// a line appears as soon as its worker has nothing else to do, and every line of a busy spell
// is in the file, once and whole, after a graceful stop.
TEST(KilnLogging, RequestLinesAreWrittenPromptlyAndNoneIsLostUnderLoad) {
  for (const char* buffer : {"", "request-log-buffer = 0\n", "request-log-buffer = 64k\n"}) {
    SCOPED_TRACE(buffer);
    TempDir dir;
    std::string ini = dir.Write("app.ini", SeedLikeIni(dir, buffer));
    KilnProcess kiln({ini}, dir.File("kiln.out"));
    ASSERT_TRUE(kiln.Start());
    std::string sock = dir.File("s.sock");
    ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
    std::string req_log = dir.File("req.log");
    ASSERT_TRUE(HttpGet(sock, "/the-only-request").ok());
    // Idle right after: the line must not wait for more traffic.
    EXPECT_TRUE(WaitForFile(req_log, "GET /the-only-request", absl::Seconds(1)))
        << TempDir::ReadFile(req_log);

    constexpr int kClients = 4, kEach = 150;
    std::vector<std::thread> clients;
    std::atomic<int> failed{0};
    for (int t = 0; t < kClients; ++t) {
      clients.emplace_back([&, t] {
        for (int i = 0; i < kEach; ++i) {
          if (!HttpGet(sock, absl::StrCat("/busy-", t, "-", i)).ok()) ++failed;
        }
      });
    }
    for (std::thread& t : clients) t.join();
    EXPECT_EQ(failed.load(), 0);
    kiln.Signal(SIGTERM);
    ASSERT_TRUE(kiln.WaitExit(absl::Seconds(10)).has_value());
    std::string req = TempDir::ReadFile(req_log);
    for (int t = 0; t < kClients; ++t) {
      for (int i = 0; i < kEach; ++i) {
        const std::string line = absl::StrCat("GET /busy-", t, "-", i, " => generated");
        const size_t at = req.find(line);
        ASSERT_NE(at, std::string::npos) << line << " is missing";
        EXPECT_EQ(req.find(line, at + 1), std::string::npos) << line << " is there twice";
      }
    }
    // Whole lines: each starts with uWSGI's "[pid: " and ends with "\n".
    std::istringstream lines(req);
    int count = 0;
    for (std::string line; std::getline(lines, line); ++count) {
      EXPECT_EQ(line.rfind("[pid: ", 0), 0u) << line;
    }
    EXPECT_EQ(count, kClients * kEach + 1 + 1) << req;  // + the start-up probe's request
  }
}

TEST(KilnLogging, AnOutOfRangeRequestLogBufferFailsTheStartAndSaysWhy) {
  TempDir dir;
  std::string ini = dir.Write("app.ini", SeedLikeIni(dir, "request-log-buffer = 1M\n"));
  KilnProcess kiln({ini}, dir.File("kiln.out"));
  ASSERT_TRUE(kiln.Start());
  auto status = kiln.WaitExit(absl::Seconds(10));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1);
  EXPECT_TRUE(Has(kiln.Log(), "option `request-log-buffer` in "))
      << kiln.Log();
  EXPECT_TRUE(Has(kiln.Log(), "app.ini:8: 1048576 is out of range; expected 0")) << kiln.Log();
}

TEST(KilnLogging, AFailedStartSaysWhyOnTheTerminalAndInTheLogFile) {
  TempDir dir;
  std::string ini = dir.Write(
      "app.ini", absl::StrCat("[uwsgi]\nmaster = true\nplugins = logfile\nbuiltin-handler = true\n",
                              "http-socket = ", dir.File("missing/s.sock"), "\n",
                              "logger = file:", dir.File("app.log"), "\n"));
  KilnProcess kiln({ini}, dir.File("kiln.out"));
  ASSERT_TRUE(kiln.Start());
  auto status = kiln.WaitExit(absl::Seconds(10));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1);
  EXPECT_TRUE(Has(kiln.Log(), "kiln: error: option `http-socket")) << kiln.Log();
  EXPECT_TRUE(Has(TempDir::ReadFile(dir.File("app.log")), "kiln: error: option `http-socket"))
      << TempDir::ReadFile(dir.File("app.log"));
  // Only the error reaches the terminal; the banner is in the log file alone.
  EXPECT_FALSE(Has(kiln.Log(), "Starting kiln")) << kiln.Log();
}

TEST(KilnLogging, TouchLogreopenMovesEveryProcessToTheNewFilesAfterARotation) {
  TempDir dir;
  std::string trigger = dir.File("reopen");
  Touch(trigger, 0);
  std::string ini =
      dir.Write("app.ini", SeedLikeIni(dir, absl::StrCat("touch-logreopen = ", trigger, "\n")));
  KilnProcess kiln({ini}, dir.File("kiln.out"));
  ASSERT_TRUE(kiln.Start());
  std::string sock = dir.File("s.sock");
  std::string app_log = dir.File("app.log");
  std::string req_log = dir.File("req.log");
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  ASSERT_TRUE(WaitForFile(app_log, "kiln is ready", absl::Seconds(5)));
  ASSERT_TRUE(WaitForFile(req_log, "GET /", absl::Seconds(5)));

  // As logrotate does: rename, then tell kiln.
  ASSERT_EQ(rename(app_log.c_str(), (app_log + ".1").c_str()), 0);
  ASSERT_EQ(rename(req_log.c_str(), (req_log + ".1").c_str()), 0);
  Touch(trigger, 5);
  ASSERT_TRUE(WaitForFile(app_log, "touch-logreopen", absl::Seconds(5)))
      << TempDir::ReadFile(app_log + ".1");
  std::string old_app = TempDir::ReadFile(app_log + ".1");
  std::string old_req = TempDir::ReadFile(req_log + ".1");
  // Several requests, so both workers (one of them idle until now) serve some.
  for (int i = 0; i < 8; ++i) {
    auto r = HttpGet(sock, absl::StrCat("/after-rotation-", i));
    ASSERT_TRUE(r.ok()) << r.status();
  }
  ASSERT_TRUE(WaitForFile(req_log, "GET /after-rotation-7", absl::Seconds(5)))
      << TempDir::ReadFile(req_log);
  kiln.Signal(SIGTERM);
  ASSERT_TRUE(kiln.WaitExit(absl::Seconds(10)).has_value());

  std::string req = TempDir::ReadFile(req_log);
  for (int i = 0; i < 8; ++i) {
    EXPECT_TRUE(Has(req, absl::StrCat("GET /after-rotation-", i, " "))) << req;
  }
  EXPECT_TRUE(Has(TempDir::ReadFile(app_log), "goodbye from kiln"));
  EXPECT_EQ(TempDir::ReadFile(app_log + ".1"), old_app);
  EXPECT_EQ(TempDir::ReadFile(req_log + ".1"), old_req);
}

TEST(KilnLogging, ReloadOnSighupWritesToTheRotatedFilesAfresh) {
  TempDir dir;
  std::string ini = dir.Write("app.ini", SeedLikeIni(dir, ""));
  KilnProcess kiln({ini}, dir.File("kiln.out"));
  ASSERT_TRUE(kiln.Start());
  std::string sock = dir.File("s.sock");
  std::string app_log = dir.File("app.log");
  std::string req_log = dir.File("req.log");
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  ASSERT_TRUE(WaitForFile(req_log, "GET /", absl::Seconds(5)));
  ASSERT_EQ(rename(app_log.c_str(), (app_log + ".1").c_str()), 0);
  ASSERT_EQ(rename(req_log.c_str(), (req_log + ".1").c_str()), 0);
  kiln.Signal(SIGHUP);
  // The new generation opens the files afresh; wait until the old workers are gone.
  ASSERT_TRUE(WaitForFile(app_log, "previous one gracefully", absl::Seconds(20)))
      << TempDir::ReadFile(app_log + ".1") << TempDir::ReadFile(app_log);
  ASSERT_TRUE(WaitForFile(app_log, "worker of the previous generation", absl::Seconds(10)))
      << TempDir::ReadFile(app_log);
  for (int i = 0; i < 4; ++i) {
    auto r = HttpGet(sock, absl::StrCat("/after-reload-", i));
    ASSERT_TRUE(r.ok()) << r.status();
  }
  ASSERT_TRUE(WaitForFile(req_log, "GET /after-reload-3", absl::Seconds(5)));
  std::string app = TempDir::ReadFile(app_log);
  EXPECT_TRUE(Has(app, "*** Starting kiln")) << app;
  EXPECT_TRUE(Has(app, "spawned kiln worker 1")) << app;
  EXPECT_FALSE(Has(TempDir::ReadFile(req_log + ".1"), "after-reload"));
  EXPECT_TRUE(Has(TempDir::ReadFile(app_log + ".1"), "SIGHUP: graceful reload"));
}

// log-truncate empties the logto file when kiln starts; a reload (the master re-executes)
// keeps what the first generation wrote.
TEST(KilnLogging, LogTruncateEmptiesTheLogtoFileAtStartButNotOnReload) {
  TempDir dir;
  std::string log = dir.Write("kiln.log", "a line from the previous run\n");
  std::string sock = dir.File("s.sock");
  KilnProcess kiln({"--master", "--builtin-handler", "--http-socket", sock, "--logto", log,
                    "--log-truncate"},
                   dir.File("kiln.out"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  ASSERT_TRUE(WaitForFile(log, "spawned kiln worker 1", absl::Seconds(5)))
      << TempDir::ReadFile(log);
  EXPECT_FALSE(Has(TempDir::ReadFile(log), "previous run")) << TempDir::ReadFile(log);
  kiln.Signal(SIGHUP);
  ASSERT_TRUE(WaitForFile(log, "previous one gracefully", absl::Seconds(20)))
      << TempDir::ReadFile(log);
  std::string text = TempDir::ReadFile(log);
  EXPECT_TRUE(Has(text, "SIGHUP: graceful reload")) << text;
  // The first generation's start is still there, before the reload.
  EXPECT_LT(text.find("*** Starting kiln"), text.find("SIGHUP: graceful reload")) << text;
  kiln.Signal(SIGTERM);
  ASSERT_TRUE(kiln.WaitExit(absl::Seconds(20)).has_value());
}

TEST(KilnLogging, HarakiriNamesTheRequestItKilled) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  KilnProcess kiln({"--master", "--builtin-handler", "--processes", "1", "--http-socket", sock,
                    "--harakiri", "1"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  auto r = HttpGet(sock, "/sleep?s=30", absl::Seconds(20));
  EXPECT_FALSE(r.ok() && r->status == 200);
  // Logged at error level (the logger's "error: " prefix), not as a notice.
  ASSERT_TRUE(kiln.WaitForLog("error: *** HARAKIRI ON WORKER 1", absl::Seconds(5))) << kiln.Log();
  EXPECT_TRUE(kiln.WaitForLog("error: HARAKIRI: worker 1 was running GET /sleep?s=30 from",
                              absl::Seconds(5)))
      << kiln.Log();
}

// Starts kiln with harakiri = 1 on an HTTP and a uwsgi socket, asks its builtin handler for
// `uri` over uwsgi as nginx would (REMOTE_ADDR 127.0.0.1:40000; /sleep?s=30 outlives
// harakiri), waits for the kill and hands kiln to `check`, which reads the log.
void HarakiriOverUwsgi(const std::string& uri, const std::function<void(KilnProcess&)>& check) {
  TempDir dir;
  std::string http = dir.File("h.sock"), uwsgi = dir.File("u.sock");
  KilnProcess kiln({"--master", "--builtin-handler", "--processes", "1", "--http-socket", http,
                    "--socket", uwsgi, "--harakiri", "1"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(http, kStartup)) << kiln.Log();
  auto r = UwsgiGet(uwsgi, uri, absl::Seconds(20));
  EXPECT_FALSE(r.ok() && r->status == 200);
  ASSERT_TRUE(kiln.WaitForLog("HARAKIRI ON WORKER 1", absl::Seconds(5))) << kiln.Log();
  check(kiln);
}

// Behind nginx the connection's peer is nginx's socket; harakiri's line names the client nginx
// forwarded (REMOTE_ADDR:REMOTE_PORT), as docs/operations.md shows it.
TEST(KilnLogging, HarakiriOverUwsgiNamesTheClientAddress) {
  HarakiriOverUwsgi("/sleep?s=30", [](KilnProcess& kiln) {
    EXPECT_TRUE(kiln.WaitForLog("HARAKIRI: worker 1 was running GET /sleep?s=30 from "
                                "127.0.0.1:40000\n",
                                absl::Seconds(5)))
        << kiln.Log();
  });
}

// The worker keeps the request's own bytes for harakiri's line; the master escapes them when it
// writes the line. A uwsgi packet can carry any byte in REQUEST_URI: an LF must not start a
// forged line of its own, an ESC must not reach a terminal, a backslash is escaped so the
// line unescapes without ambiguity, and a NUL neither ends nor hides the rest.
TEST(KilnLogging, HarakiriEscapesTheRequestItNames) {
  const std::string uri = std::string("/sleep?s=30&x=\x1b[2J\nforged: line\\") + '\0' + "hidden";
  HarakiriOverUwsgi(uri, [](KilnProcess& kiln) {
    EXPECT_TRUE(kiln.WaitForLog("HARAKIRI: worker 1 was running GET /sleep?s=30&x=\\x1b[2J\\x0a"
                                "forged: line\\x5c\\x00hidden from 127.0.0.1:40000\n",
                                absl::Seconds(5)))
        << kiln.Log();
    for (const std::string& line : Lines(kiln.Log())) {
      EXPECT_FALSE(absl::StartsWith(line, "forged")) << line;
      EXPECT_EQ(line.find('\x1b'), std::string::npos) << line;
    }
  });
}

// A worker killed in a long request (harakiri) has answered requests before it: their lines,
// batched by default, must reach the request log while it is stuck, not die with it.
TEST(KilnLogging, LinesOfEarlierRequestsSurviveAHarakiriInALaterOne) {
  TempDir dir;
  std::string ini = dir.Write("app.ini", SeedLikeIni(dir, "processes = 1\nharakiri = 2\n"));
  KilnProcess kiln({ini}, dir.File("kiln.out"));
  ASSERT_TRUE(kiln.Start());
  std::string sock = dir.File("s.sock");
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  absl::SleepFor(absl::Milliseconds(300));  // the probe's line has gone out: a fresh batch
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(HttpGet(sock, absl::StrCat("/before-", i)).ok());
  }
  auto r = HttpGet(sock, "/sleep?s=30", absl::Seconds(20));
  EXPECT_FALSE(r.ok() && r->status == 200);
  std::string app_log = dir.File("app.log");
  ASSERT_TRUE(WaitForFile(app_log, "HARAKIRI ON WORKER 1", absl::Seconds(10)))
      << TempDir::ReadFile(app_log);
  std::string req = TempDir::ReadFile(dir.File("req.log"));
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(Has(req, absl::StrCat("GET /before-", i, " => generated"))) << req;
  }
}

TEST(KilnLogging, HarakiriVerboseSaysWhereTheWorkerWasStuck) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  KilnProcess kiln({"--master", "--builtin-handler", "--processes", "1", "--http-socket", sock,
                    "--harakiri", "1", "--harakiri-verbose"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  auto r = HttpGet(sock, "/sleep?s=30", absl::Seconds(20));
  EXPECT_FALSE(r.ok() && r->status == 200);
  ASSERT_TRUE(kiln.WaitForLog("HARAKIRI ON WORKER 1", absl::Seconds(5))) << kiln.Log();
  EXPECT_TRUE(kiln.WaitForLog("is in syscall [", absl::Seconds(5))) << kiln.Log();
}

// Processes whose command line mentions `needle` (the test's own temp dir).
std::vector<pid_t> ProcessesMentioning(const std::string& needle) {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) {
    return out;
  }
  while (struct dirent* e = readdir(d)) {
    pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0 || pid == getpid()) {
      continue;
    }
    std::string cmd = TempDir::ReadFile(absl::StrCat("/proc/", pid, "/cmdline"));
    if (Has(cmd, needle) && ProcessAlive(pid)) {
      out.push_back(pid);
    }
  }
  closedir(d);
  return out;
}

TEST(KilnLogging, WithoutMasterSigtermStopsServingAndLeavesNoProcess) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  std::string ini = dir.Write(
      "app.ini", absl::StrCat("[uwsgi]\nmaster = false\nprocesses = 1\nbuiltin-handler = true\n",
                              "http-socket = ", sock, "\n"));
  KilnProcess kiln({ini}, dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  kiln.Signal(SIGTERM);
  auto status = kiln.WaitExit(absl::Seconds(10));
  ASSERT_TRUE(status.has_value()) << kiln.Log();
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_FALSE(HttpGet(sock, "/", absl::Seconds(2)).ok()) << kiln.Log();
  EXPECT_TRUE(ProcessesMentioning(dir.path()).empty()) << kiln.Log();
}

}  // namespace
}  // namespace kiln::testing
