// The master FIFO on the real kiln binary: made safely (mode 0600, owned by `uid`, refusing a
// path that is not a FIFO), each command doing what uWSGI's letter does, kept over a reload
// and removed at exit.
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <future>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "tests/integration/worker_watch.h"
#include "tests/lib/kiln_process.h"

namespace kiln::testing {
namespace {

using std::chrono::milliseconds;

constexpr absl::Duration kStartup = absl::Seconds(15);

struct Server {
  explicit Server(const TempDir& dir, const std::string& extra = "")
      : sock(dir.File("s.sock")),
        fifo(dir.File("ctl.fifo")),
        kiln({"--ini", dir.Write("app.ini", "[kiln]\nmaster = true\nbuiltin-handler = true\n"
                                            "processes = 2\nhttp-socket = " + dir.File("s.sock") +
                                            "\nmaster-fifo = " + dir.File("ctl.fifo") + "\n" +
                                            extra)},
             dir.File("kiln.log")) {}
  bool Start() { return kiln.Start() && WaitUntilHttpAnswers(sock, kStartup); }
  std::string sock;
  std::string fifo;
  KilnProcess kiln;
};

TEST(KilnMasterFifo, IsAFifoOfMode0600RemovedAtExit) {
  TempDir dir;
  Server s(dir);
  ASSERT_TRUE(s.Start()) << s.kiln.Log();
  struct stat st;
  ASSERT_EQ(lstat(s.fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, geteuid());
  // Only the master holds it open: a worker could otherwise keep it alive or read commands.
  for (pid_t worker : WaitForChildren(s.kiln.pid(), 2, absl::Seconds(5))) {
    std::string fds = "/proc/" + std::to_string(worker) + "/fd";
    DIR* d = opendir(fds.c_str());
    ASSERT_NE(d, nullptr);
    while (dirent* e = readdir(d)) {
      char target[512] = {};
      ssize_t n = readlink((fds + "/" + e->d_name).c_str(), target, sizeof(target) - 1);
      EXPECT_FALSE(n > 0 && s.fifo == target) << "worker " << worker << " holds the FIFO";
    }
    closedir(d);
  }
  ASSERT_TRUE(FifoSend(s.fifo, "s\n"));
  EXPECT_TRUE(s.kiln.WaitForLog("stats: generation 0", absl::Seconds(5))) << s.kiln.Log();
  ASSERT_TRUE(FifoSend(s.fifo, "Q"));
  auto status = s.kiln.WaitExit(absl::Seconds(10));
  ASSERT_TRUE(status.has_value()) << s.kiln.Log();
  EXPECT_NE(lstat(s.fifo.c_str(), &st), 0) << "the FIFO is removed at exit";
}

TEST(KilnMasterFifo, RefusesAPathThatIsNotAFifoAndLeavesItAlone) {
  for (const char* kind : {"file", "symlink"}) {
    TempDir dir;
    std::string target = dir.Write("precious.txt", "keep me\n");
    std::string fifo = dir.File("ctl.fifo");
    if (std::string(kind) == "file") {
      dir.Write("ctl.fifo", "someone's file\n");
    } else {
      ASSERT_EQ(symlink(target.c_str(), fifo.c_str()), 0);
    }
    Server s(dir);
    ASSERT_TRUE(s.kiln.Start());
    auto status = s.kiln.WaitExit(absl::Seconds(15));
    ASSERT_TRUE(status.has_value()) << kind << "\n" << s.kiln.Log();
    EXPECT_NE(*status, 0) << kind;
    EXPECT_NE(s.kiln.Log().find("is not a FIFO"), std::string::npos) << s.kiln.Log();
    EXPECT_EQ(TempDir::ReadFile(target), "keep me\n") << kind;
    struct stat st;
    ASSERT_EQ(lstat(fifo.c_str(), &st), 0) << kind << ": the path was removed";
    EXPECT_TRUE(std::string(kind) == "file" ? S_ISREG(st.st_mode) : S_ISLNK(st.st_mode));
  }
}

TEST(KilnMasterFifo, StaleFifoIsReplaced) {
  TempDir dir;
  ASSERT_EQ(mkfifo(dir.File("ctl.fifo").c_str(), 0666), 0);
  Server s(dir);
  ASSERT_TRUE(s.Start()) << s.kiln.Log();
  struct stat st;
  ASSERT_EQ(lstat(s.fifo.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST(KilnMasterFifo, OwnedByTheUserKilnDropsToAndStillReadAfterTheDrop) {
  ASSERT_EQ(geteuid(), 0u) << "the suite runs as root";
  passwd* nobody = getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  TempDir dir;
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
  Server s(dir, "uid = nobody\ngid = " + std::to_string(nobody->pw_gid) + "\n");
  ASSERT_TRUE(s.Start()) << s.kiln.Log();
  struct stat st;
  ASSERT_EQ(lstat(s.fifo.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, nobody->pw_uid);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_TRUE(FifoSend(s.fifo, "s"));
  EXPECT_TRUE(s.kiln.WaitForLog("stats: generation 0", absl::Seconds(5))) << s.kiln.Log();
  // A reload re-executes the master as nobody, who may not replace the FIFO in root's
  // directory: it opens the one it owns again.
  ASSERT_TRUE(FifoSend(s.fifo, "r"));
  ASSERT_TRUE(s.kiln.WaitForLog("previous one gracefully", absl::Seconds(30))) << s.kiln.Log();
  ASSERT_TRUE(FifoSend(s.fifo, "s"));
  EXPECT_TRUE(s.kiln.WaitForLog("stats: generation 1", absl::Seconds(5))) << s.kiln.Log();
}

TEST(KilnMasterFifo, ReloadKeepsTheMasterPidAndTheFifo) {
  TempDir dir;
  Server s(dir);
  ASSERT_TRUE(s.Start()) << s.kiln.Log();
  pid_t master = s.kiln.pid();
  ClientLoop load(s.sock);
  std::this_thread::sleep_for(milliseconds(200));
  ASSERT_TRUE(FifoSend(s.fifo, "r"));
  ASSERT_TRUE(s.kiln.WaitForLog("master process started (pid: " + std::to_string(master) +
                                    ", generation 1)",
                                absl::Seconds(30)))
      << s.kiln.Log();
  ASSERT_TRUE(s.kiln.WaitForLog("previous one gracefully", absl::Seconds(30))) << s.kiln.Log();
  std::this_thread::sleep_for(milliseconds(200));
  load.Stop();
  EXPECT_EQ(load.failed(), 0) << load.last_error();
  EXPECT_GT(load.ok(), 0);
  ASSERT_TRUE(FifoSend(s.fifo, "s"));
  EXPECT_TRUE(s.kiln.WaitForLog("stats: generation 1", absl::Seconds(5))) << s.kiln.Log();
}

TEST(KilnMasterFifo, BrutalReloadAlsoKeepsTheMasterPid) {
  TempDir dir;
  Server s(dir);
  ASSERT_TRUE(s.Start()) << s.kiln.Log();
  pid_t master = s.kiln.pid();
  ASSERT_TRUE(FifoSend(s.fifo, "R"));
  ASSERT_TRUE(s.kiln.WaitForLog("master FIFO `R`: brutal reload", absl::Seconds(5)))
      << s.kiln.Log();
  ASSERT_TRUE(s.kiln.WaitForLog("master process started (pid: " + std::to_string(master) +
                                    ", generation 1)",
                                absl::Seconds(30)))
      << s.kiln.Log();
  ASSERT_TRUE(WaitUntilHttpAnswers(s.sock, kStartup));
  EXPECT_TRUE(s.kiln.WaitForLog("worker of the previous generation", absl::Seconds(10)))
      << s.kiln.Log();
}

TEST(KilnMasterFifo, GracefulStopLetsTheRequestInFlightFinish) {
  TempDir dir;
  Server s(dir);
  ASSERT_TRUE(s.Start()) << s.kiln.Log();
  auto slow = std::async(std::launch::async, [&] { return HttpGet(s.sock, "/sleep?s=1.5"); });
  std::this_thread::sleep_for(milliseconds(400));
  ASSERT_TRUE(FifoSend(s.fifo, "q"));
  auto r = slow.get();
  ASSERT_TRUE(r.ok()) << r.status() << "\n" << s.kiln.Log();
  EXPECT_EQ(r->status, 200);
  auto status = s.kiln.WaitExit(absl::Seconds(10));
  ASSERT_TRUE(status.has_value()) << s.kiln.Log();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << s.kiln.Log();
}

TEST(KilnMasterFifo, BrutalStopDoesNotWaitForTheRequest) {
  TempDir dir;
  Server s(dir);
  ASSERT_TRUE(s.Start()) << s.kiln.Log();
  auto slow = std::async(std::launch::async, [&] { return HttpGet(s.sock, "/sleep?s=8"); });
  std::this_thread::sleep_for(milliseconds(400));
  ASSERT_TRUE(FifoSend(s.fifo, "Q"));
  auto status = s.kiln.WaitExit(absl::Seconds(5));
  EXPECT_TRUE(status.has_value()) << s.kiln.Log();
  slow.wait();
}

TEST(KilnMasterFifo, PauseHoldsConnectionsInTheQueueUntilResume) {
  TempDir dir;
  Server s(dir);
  ASSERT_TRUE(s.Start()) << s.kiln.Log();
  ASSERT_TRUE(FifoSend(s.fifo, "p"));
  ASSERT_TRUE(s.kiln.WaitForLog("paused:", absl::Seconds(5))) << s.kiln.Log();
  auto waiting = std::async(std::launch::async, [&] { return HttpGet(s.sock, "/echo"); });
  EXPECT_EQ(waiting.wait_for(std::chrono::milliseconds(1000)), std::future_status::timeout)
      << "a paused server answered";
  ASSERT_TRUE(FifoSend(s.fifo, "p"));
  auto r = waiting.get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << "the connection that waited is served after the resume";
}

TEST(KilnMasterFifo, ReloadWorkersReplacesEveryWorkerUnderLoad) {
  TempDir dir;
  Server s(dir);
  ASSERT_TRUE(s.Start()) << s.kiln.Log();
  pid_t master = s.kiln.pid();
  ASSERT_TRUE(s.kiln.WaitForLog("kiln is ready", absl::Seconds(10))) << s.kiln.Log();
  std::set<pid_t> before = WaitForChildren(master, 2, absl::Seconds(5));
  ASSERT_EQ(before.size(), 2u) << s.kiln.Log();
  ClientLoop load(s.sock);
  ASSERT_TRUE(FifoSend(s.fifo, "w"));
  ASSERT_TRUE(s.kiln.WaitForLog("(master FIFO `w`); respawning", absl::Seconds(15), 2))
      << s.kiln.Log();
  std::this_thread::sleep_for(milliseconds(300));
  load.Stop();
  EXPECT_EQ(load.failed(), 0) << load.last_error();
  std::set<pid_t> after = WaitForChildren(master, 2, absl::Seconds(5));
  EXPECT_EQ(after.size(), 2u) << s.kiln.Log();
  for (pid_t p : after) {
    EXPECT_EQ(before.count(p), 0u) << "worker " << p << " was not replaced";
  }
  EXPECT_NE(s.kiln.Log().find("master process started (pid: " + std::to_string(master) +
                              ", generation 0)"),
            std::string::npos);
  EXPECT_EQ(s.kiln.Log().find("generation 1"), std::string::npos) << "the master re-executed";
}

TEST(KilnMasterFifo, LogCommandsAndUnknownLetters) {
  TempDir dir;
  Server s(dir, "logto = " + dir.File("server.log") + "\n");
  ASSERT_TRUE(s.kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(s.sock, kStartup));
  std::string log = dir.File("server.log");
  ASSERT_TRUE(WaitForFile(log, "kiln is ready", absl::Seconds(10)));
  // Rotated away by an external logrotate: `l` makes kiln write to a new file at the path.
  ASSERT_EQ(rename(log.c_str(), (log + ".1").c_str()), 0);
  ASSERT_TRUE(FifoSend(s.fifo, "l"));
  EXPECT_TRUE(WaitForFile(log, "log files reopened", absl::Seconds(5)));
  ASSERT_TRUE(FifoSend(s.fifo, "x"));
  EXPECT_TRUE(WaitForFile(log, "unknown command `x`", absl::Seconds(5)));
  auto r = HttpGet(s.sock, "/echo");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
}

TEST(KilnMasterFifo, DigitMakesAnotherFifoActive) {
  TempDir dir;
  std::string second = dir.File("second.fifo");
  Server s(dir, "master-fifo = " + second + "\n");
  ASSERT_TRUE(s.Start()) << s.kiln.Log();
  struct stat st;
  ASSERT_EQ(lstat(second.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  ASSERT_TRUE(FifoSend(s.fifo, "1"));
  ASSERT_TRUE(s.kiln.WaitForLog(second + " is now the active FIFO", absl::Seconds(5)))
      << s.kiln.Log();
  ASSERT_TRUE(FifoSend(second, "s"));
  EXPECT_TRUE(s.kiln.WaitForLog("stats: generation 0", absl::Seconds(5))) << s.kiln.Log();
}

}  // namespace
}  // namespace kiln::testing
