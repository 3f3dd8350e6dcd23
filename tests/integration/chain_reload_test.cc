// Chain reloads on the real kiln binary with a Python app. With lazy-apps the workers are
// replaced one at a time, each successor loaded and ready before the next old worker stops:
// sampled every 50 ms, never more than one worker short, no failed request, and the changed
// app file served afterwards. Without lazy-apps `c` reloads the whole server (same master pid).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/integration/worker_watch.h"
#include "tests/lib/kiln_process.h"
#include "tests/python/py_client.h"

namespace kiln::testing {
namespace {

using std::chrono::milliseconds;

constexpr int kWorkers = 3;

// An app that takes 0.4 s to load, then leaves ready.<pid> in `dir` (a worker that loaded it
// is about to accept), and answers `version`.
std::string App(const std::string& dir, const std::string& version) {
  return absl::StrFormat(R"(import os, time
time.sleep(0.4)
open("%s/ready.%%d" %% os.getpid(), "w").close()

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"%s"]
)", dir, version);
}

struct Server {
  Server(const TempDir& dir, bool lazy)
      : sock(dir.File("s.sock")),
        fifo(dir.File("ctl.fifo")),
        app(dir.Write("app.py", App(dir.path(), "v1"))),
        kiln({"--ini",
              dir.Write("app.ini",
                        absl::StrCat("[kiln]\nmaster = true\nprocesses = ", kWorkers,
                                     "\nplugin-dir = ", PluginDir(),
                                     "\nplugins = python\nwsgi-file = ", dir.File("app.py"),
                                     "\nhttp-socket = ", dir.File("s.sock"),
                                     "\nmaster-fifo = ", dir.File("ctl.fifo"),
                                     "\ntouch-chain-reload = ", dir.File("chain.touch"),
                                     lazy ? "\nlazy-apps = true\n" : "\n"))},
             dir.File("kiln.log")) {
    kiln.SetEnv("LSAN_OPTIONS", LsanOptionsForPython());
  }
  std::string sock;
  std::string fifo;
  std::string app;
  KilnProcess kiln;
};

// Workers that can take a request: old ones (in `old`) and new ones whose app has loaded.
int ReadyWorkers(const TempDir& dir, const std::set<pid_t>& children, const std::set<pid_t>& old) {
  int n = 0;
  for (pid_t p : children) {
    struct stat st;
    if (old.count(p) != 0 || stat(dir.File("ready." + std::to_string(p)).c_str(), &st) == 0) {
      ++n;
    }
  }
  return n;
}

// Runs the chain reload that `trigger` starts under two client loops, sampling every 50 ms;
// returns the fewest ready workers seen. `done` says when the chain is over.
void ChainUnderLoad(const TempDir& dir, Server& s, const std::function<void()>& trigger,
                    int* fewest_ready, int* failed, int* ok) {
  pid_t master = s.kiln.pid();
  std::set<pid_t> old = WaitForChildren(master, kWorkers, absl::Seconds(5));
  ASSERT_EQ(static_cast<int>(old.size()), kWorkers) << s.kiln.Log();
  ClientLoop a(s.sock);
  ClientLoop b(s.sock);
  std::this_thread::sleep_for(milliseconds(200));
  trigger();
  *fewest_ready = kWorkers;
  absl::Time end = absl::Now() + absl::Seconds(20);
  while (absl::Now() < end) {
    std::set<pid_t> children = ChildPids(master);
    *fewest_ready = std::min(*fewest_ready, ReadyWorkers(dir, children, old));
    int replaced = 0;
    for (pid_t p : children) {
      replaced += old.count(p) == 0 && ReadyWorkers(dir, {p}, {}) == 1 ? 1 : 0;
    }
    if (replaced == kWorkers) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  std::this_thread::sleep_for(milliseconds(200));
  a.Stop();
  b.Stop();
  *failed = a.failed() + b.failed();
  *ok = a.ok() + b.ok();
  EXPECT_EQ(*failed, 0) << a.last_error() << " " << b.last_error();
}

TEST(KilnChainReload, LazyAppsReplacesOneWorkerAtATimeAndServesTheNewCode) {
  TempDir dir;
  Server s(dir, /*lazy=*/true);
  ASSERT_TRUE(s.kiln.Start());
  ASSERT_TRUE(WaitFor200(s.sock, "/", absl::Seconds(20))) << s.kiln.Log();
  ASSERT_TRUE(s.kiln.WaitForLog("kiln is ready", absl::Seconds(10))) << s.kiln.Log();
  dir.Write("app.py", App(dir.path(), "v2"));
  int fewest = 0, failed = 0, ok = 0;
  ChainUnderLoad(dir, s, [&] { ASSERT_TRUE(FifoSend(s.fifo, "c")); }, &fewest, &failed, &ok);
  EXPECT_GE(fewest, kWorkers - 1) << "more than one worker short during the chain\n"
                                  << s.kiln.Log();
  EXPECT_GT(ok, 0);
  ASSERT_TRUE(s.kiln.WaitForLog("chain reload: every worker replaced", absl::Seconds(10)))
      << s.kiln.Log();
  for (int i = 0; i < 2 * kWorkers; ++i) {
    auto r = HttpGet(s.sock, "/");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->body, "v2");
  }
  EXPECT_EQ(s.kiln.Log().find("generation 1"), std::string::npos) << "the master re-executed";
}

TEST(KilnChainReload, TouchChainReloadDoesTheSame) {
  TempDir dir;
  Server s(dir, /*lazy=*/true);
  Touch(dir.File("chain.touch"), 0);
  ASSERT_TRUE(s.kiln.Start());
  ASSERT_TRUE(WaitFor200(s.sock, "/", absl::Seconds(20))) << s.kiln.Log();
  ASSERT_TRUE(s.kiln.WaitForLog("kiln is ready", absl::Seconds(10))) << s.kiln.Log();
  dir.Write("app.py", App(dir.path(), "v2"));
  int fewest = 0, failed = 0, ok = 0;
  ChainUnderLoad(dir, s, [&] { Touch(dir.File("chain.touch"), 5); }, &fewest, &failed, &ok);
  EXPECT_GE(fewest, kWorkers - 1) << s.kiln.Log();
  ASSERT_TRUE(s.kiln.WaitForLog("chain reload: every worker replaced", absl::Seconds(10)))
      << s.kiln.Log();
  auto r = HttpGet(s.sock, "/");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "v2");
}

TEST(KilnChainReload, WithoutLazyAppsReloadsTheWholeServerAndServesTheNewCode) {
  TempDir dir;
  Server s(dir, /*lazy=*/false);
  ASSERT_TRUE(s.kiln.Start());
  ASSERT_TRUE(WaitFor200(s.sock, "/", absl::Seconds(20))) << s.kiln.Log();
  pid_t master = s.kiln.pid();
  dir.Write("app.py", App(dir.path(), "v2"));
  ClientLoop load(s.sock);
  ASSERT_TRUE(FifoSend(s.fifo, "c"));
  ASSERT_TRUE(s.kiln.WaitForLog("chain reload without lazy-apps", absl::Seconds(5)))
      << s.kiln.Log();
  ASSERT_TRUE(s.kiln.WaitForLog("master process started (pid: " + std::to_string(master) +
                                    ", generation 1)",
                                absl::Seconds(30)))
      << s.kiln.Log();
  ASSERT_TRUE(s.kiln.WaitForLog("previous one gracefully", absl::Seconds(30))) << s.kiln.Log();
  std::this_thread::sleep_for(milliseconds(300));
  load.Stop();
  EXPECT_EQ(load.failed(), 0) << load.last_error();
  auto r = HttpGet(s.sock, "/");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "v2");
}

}  // namespace
}  // namespace kiln::testing
