// Graceful reloads of the real kiln binary: overlapping generations lose no request, a bad
// new configuration leaves the old generation serving, vacuum still works afterwards.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "tests/integration/worker_watch.h"
#include "tests/lib/kiln_process.h"

namespace kiln::testing {
namespace {

constexpr absl::Duration kStartup = absl::Seconds(15);

TEST(KilnReload, SighupReloadUnderLoadLosesNoRequest) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  std::string ini = dir.Write(
      "app.ini", "[kiln]\nmaster = true\nbuiltin-handler = true\nprocesses = 2\nhttp-socket = " +
                     sock + "\nvacuum = true\n");
  KilnProcess kiln({"--ini", ini}, dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  ClientLoop load(sock);
  ClientLoop load2(sock);  // two clients, so requests are in flight on both workers
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (int round = 1; round <= 2; ++round) {
    kiln.Signal(SIGHUP);
    ASSERT_TRUE(kiln.WaitForLog("previous one gracefully", absl::Seconds(30), round)) << kiln.Log();
    ASSERT_TRUE(kiln.WaitForLog("worker of the previous generation", absl::Seconds(30), 2 * round))
        << kiln.Log();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  load.Stop();
  load2.Stop();
  EXPECT_GT(load.ok() + load2.ok(), 0);
  EXPECT_EQ(load.failed(), 0) << load.last_error() << "\n" << kiln.Log();
  EXPECT_EQ(load2.failed(), 0) << load2.last_error();
  EXPECT_TRUE(kiln.running());
  EXPECT_EQ(kill(kiln.pid(), 0), 0);  // the same master pid throughout

  kiln.Signal(SIGTERM);
  auto status = kiln.WaitExit(absl::Seconds(20));
  ASSERT_TRUE(status.has_value()) << kiln.Log();
  EXPECT_NE(access(sock.c_str(), F_OK), 0) << "vacuum must remove the socket after reloads";
}

TEST(KilnReload, ABrokenNewConfigurationLeavesTheOldGenerationServing) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  std::string ini = dir.Write(
      "app.ini",
      "[kiln]\nmaster = true\nbuiltin-handler = true\nprocesses = 1\nhttp-socket = " + sock + "\n");
  KilnProcess kiln({"--ini", ini}, dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  // A worker may answer before the master has logged its spawn line.
  ASSERT_TRUE(kiln.WaitForLog("kiln is ready", absl::Seconds(10))) << kiln.Log();
  auto before = kiln.WorkerPids();
  dir.Write("app.ini", "[kiln]\nmaster = true\nbuiltin-handler = true\nhttp-socket = " + sock +
                           "\nhttp-socket = 127.0.0.1:notaport\n");
  kiln.Signal(SIGHUP);
  // At error level: the operator's reload did not happen.
  ASSERT_TRUE(kiln.WaitForLog("error: reload aborted", absl::Seconds(20))) << kiln.Log();
  EXPECT_NE(kiln.Log().find("notaport"), std::string::npos) << kiln.Log();
  EXPECT_TRUE(WaitUntilHttpAnswers(sock, absl::Seconds(5)));
  EXPECT_EQ(kiln.WorkerPids(), before);  // nothing was restarted
}

TEST(KilnReload, SigtermReloadsWhenDieOnTermIsFalse) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  KilnProcess kiln({"--master", "--builtin-handler", "--http-socket", sock, "--die-on-term=false"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  kiln.Signal(SIGTERM);
  ASSERT_TRUE(kiln.WaitForLog("previous one gracefully", absl::Seconds(30))) << kiln.Log();
  EXPECT_TRUE(kiln.running());
  EXPECT_TRUE(WaitUntilHttpAnswers(sock, absl::Seconds(5)));
}

TEST(KilnReload, TouchReloadReloadsWhenTheFileChanges) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  std::string touch = dir.Write("reload.touch", "");
  KilnProcess kiln(
      {"--master", "--builtin-handler", "--http-socket", sock, "--touch-reload", touch},
      dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  dir.Write("reload.touch", "now");
  ASSERT_TRUE(kiln.WaitForLog("previous one gracefully", absl::Seconds(30))) << kiln.Log();
  EXPECT_TRUE(WaitUntilHttpAnswers(sock, absl::Seconds(5)));
}

TEST(KilnReload, ReopensALogtoFileItGaveToTheUidUser) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  std::string logfile = dir.File("app.log");
  KilnProcess kiln({"--master", "--builtin-handler", "--http-socket", sock, "--chmod-socket", "666",
                    "--uid", "nobody", "--logto", logfile},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << TempDir::ReadFile(logfile);
  struct stat st;
  ASSERT_EQ(stat(logfile.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  kiln.Signal(SIGHUP);
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (TempDir::ReadFile(logfile).find("previous one gracefully") == std::string::npos &&
         absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(TempDir::ReadFile(logfile).find("previous one gracefully"), std::string::npos)
      << TempDir::ReadFile(logfile) << kiln.Log();
  EXPECT_TRUE(kiln.running());
  EXPECT_TRUE(WaitUntilHttpAnswers(sock, absl::Seconds(5)));
}

}  // namespace
}  // namespace kiln::testing
