// Graceful stops and recycling of the real kiln binary: the request in hand finishes, mercy
// bounds the wait, reload-on-rss and max-worker-lifetime replace workers.
#include <signal.h>
#include <sys/wait.h>

#include <future>
#include <string>
#include <utility>

#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"

namespace kiln::testing {
namespace {

constexpr absl::Duration kStartup = absl::Seconds(15);

TEST(KilnGraceful, SigtermLetsTheRequestInHandFinish) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  KilnProcess kiln({"--master", "--builtin-handler", "--processes", "1", "--http-socket", sock},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  auto pending = std::async(std::launch::async, [&] { return HttpGet(sock, "/sleep?s=1"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kiln.Signal(SIGTERM);
  auto r = pending.get();
  ASSERT_TRUE(r.ok()) << r.status() << kiln.Log();
  EXPECT_EQ(r->status, 200);
  auto status = kiln.WaitExit(absl::Seconds(20));
  ASSERT_TRUE(status.has_value()) << kiln.Log();
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

// A master with one worker busy in a 60 s request gets `sig`; returns its log once it exited,
// which must be within 10 s of the signal.
std::string StopWithABusyWorker(const std::string& mercy, int sig) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  KilnProcess kiln({"--master", "--builtin-handler", "--processes", "1", "--http-socket", sock,
                    "--worker-reload-mercy", mercy},
                   dir.File("kiln.log"));
  EXPECT_TRUE(kiln.Start());
  EXPECT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  auto pending = std::async(std::launch::async, [&] { return HttpGet(sock, "/sleep?s=60"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  absl::Time start = absl::Now();
  kiln.Signal(sig);
  auto status = kiln.WaitExit(absl::Seconds(20));
  EXPECT_TRUE(status.has_value()) << kiln.Log();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  pending.wait();
  return kiln.Log();
}

TEST(KilnGraceful, WorkerReloadMercyBoundsTheWaitThenKills) {
  const std::string log = StopWithABusyWorker("1", SIGTERM);
  EXPECT_NE(log.find("still running after worker-reload-mercy"), std::string::npos) << log;
}

// An immediate stop (SIGINT) gives a worker busy in a request 3 s, whatever
// worker-reload-mercy says, and the line that says it is killed names that deadline (it
// named worker-reload-mercy, a minute here, when the kill came after 3 s).
TEST(KilnGraceful, AnImmediateStopKillsABusyWorkerAfterThreeSecondsAndSaysSo) {
  const std::string log = StopWithABusyWorker("60", SIGINT);
  EXPECT_NE(log.find("still running after an immediate stop's 3s: killing it"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("worker-reload-mercy (1m)"), std::string::npos) << log;
}

// reload-on-rss measures resident memory, reload-on-as the address space (VmSize).
TEST(KilnGraceful, RecyclesAWorkerAboveReloadOnRssOrReloadOnAs) {
  for (const auto& [option, what] : {std::pair<std::string, std::string>{"reload-on-rss", "rss"},
                                     {"reload-on-as", "address space"}}) {
    SCOPED_TRACE(option);
    TempDir dir;
    std::string sock = dir.File("s.sock");
    // 1 MB: any worker is above it after its first request.
    KilnProcess kiln({"--master", "--builtin-handler", "--processes", "1", "--http-socket", sock,
                      "--" + option, "1", "--min-worker-lifetime", "0"},
                     dir.File("kiln.log"));
    ASSERT_TRUE(kiln.Start());
    ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
    EXPECT_TRUE(kiln.WaitForLog(what + " ", absl::Seconds(5))) << kiln.Log();
    EXPECT_TRUE(kiln.WaitForLog("above " + option, absl::Seconds(5))) << kiln.Log();
    EXPECT_TRUE(kiln.WaitForLog("spawned kiln worker 1", absl::Seconds(10), 2)) << kiln.Log();
    EXPECT_TRUE(WaitUntilHttpAnswers(sock, absl::Seconds(10)));
    EXPECT_TRUE(kiln.WaitForLog("MB " + what + " (" + option + " = 1 MB); respawning",
                                absl::Seconds(5)))
        << kiln.Log();
    EXPECT_EQ(kiln.Log().find("DAMN"), std::string::npos) << kiln.Log();
    kiln.Signal(SIGTERM);
    ASSERT_TRUE(kiln.WaitExit(absl::Seconds(20)).has_value());
  }
}

TEST(KilnGraceful, RecyclesAWorkerAtMaxWorkerLifetime) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  KilnProcess kiln({"--master", "--builtin-handler", "--processes", "1", "--http-socket", sock,
                    "--max-worker-lifetime", "1"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  EXPECT_TRUE(kiln.WaitForLog("reached max-worker-lifetime", absl::Seconds(5))) << kiln.Log();
  EXPECT_TRUE(kiln.WaitForLog("spawned kiln worker 1", absl::Seconds(10), 2)) << kiln.Log();
  EXPECT_TRUE(WaitUntilHttpAnswers(sock, absl::Seconds(10)));
  EXPECT_TRUE(kiln.WaitForLog("(max-worker-lifetime); respawning", absl::Seconds(5))) << kiln.Log();
  EXPECT_EQ(kiln.Log().find("DAMN"), std::string::npos) << kiln.Log();
}

TEST(KilnGraceful, ServesWithLazyAppsAndAGivenWorkingDirectory) {
  TempDir dir;
  KilnProcess kiln({"--master", "--builtin-handler", "--processes", "2", "--lazy-apps", "--chdir",
                    dir.path(), "--http-socket", "rel.sock"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  // The relative socket path resolves against chdir.
  ASSERT_TRUE(WaitUntilHttpAnswers(dir.File("rel.sock"), kStartup)) << kiln.Log();
  EXPECT_NE(kiln.Log().find("chdir() to " + dir.path()), std::string::npos);
}

}  // namespace
}  // namespace kiln::testing
