// The real kiln binary: sockets, privileges, respawn, harakiri, recycling, shutdown, vacuum.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"

namespace kiln::testing {
namespace {

constexpr absl::Duration kStartup = absl::Seconds(15);

// The effective uid and gid of a running process, from /proc.
std::pair<int, int> ProcessIds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  int uid = -1;
  int gid = -1;
  while (std::getline(in, line)) {
    if (line.rfind("Uid:", 0) == 0) {
      std::sscanf(line.c_str(), "Uid: %*d %d", &uid);
    } else if (line.rfind("Gid:", 0) == 0) {
      std::sscanf(line.c_str(), "Gid: %*d %d", &gid);
    }
  }
  return {uid, gid};
}

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// Kills a process that is not our child (a daemonized kiln) if a test ends early.
struct KillIfAlive {
  pid_t pid;
  ~KillIfAlive() {
    if (ProcessAlive(pid)) {
      kill(pid, SIGKILL);
    }
  }
};

TEST(KilnServer, ServesHttpAndUwsgiAndStopsCleanlyOnTermWithVacuum) {
  TempDir dir;
  std::string http = dir.File("h.sock");
  std::string uwsgi = dir.File("u.sock");
  std::string pidfile = dir.File("kiln.pid");
  KilnProcess kiln({"--master", "--builtin-handler", "--processes", "2", "--http-socket", http,
                    "--socket", uwsgi, "--vacuum", "--pidfile", pidfile},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(http, kStartup)) << kiln.Log();
  auto r = UwsgiGet(uwsgi, "/hello");
  ASSERT_TRUE(r.ok()) << r.status() << kiln.Log();
  EXPECT_EQ(r->status, 200);
  std::ifstream pf(pidfile);
  int pid = 0;
  pf >> pid;
  EXPECT_EQ(pid, kiln.pid());

  kiln.Signal(SIGTERM);
  auto status = kiln.WaitExit(absl::Seconds(20));
  ASSERT_TRUE(status.has_value()) << kiln.Log();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << kiln.Log();
  EXPECT_FALSE(Exists(http)) << kiln.Log();
  EXPECT_FALSE(Exists(uwsgi));
  EXPECT_FALSE(Exists(pidfile));
}

TEST(KilnServer, GivesTheSocketItsModeAndOwnerAndRunsWorkersAsNobody) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  KilnProcess kiln(
      {"--master", "--builtin-handler", "--processes", "1", "--http-socket", sock, "--chmod-socket",
       "660", "--chown-socket", "nobody:nogroup", "--uid", "nobody", "--gid", "nogroup"},
      dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  struct stat st;
  ASSERT_EQ(stat(sock.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(st.st_gid, 65534u);
  EXPECT_EQ(ProcessIds(kiln.pid()), std::make_pair(65534, 65534));
  // A worker may answer before the master has logged its spawn line.
  ASSERT_TRUE(kiln.WaitForLog("kiln is ready", absl::Seconds(10))) << kiln.Log();
  auto workers = kiln.WorkerPids();
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(ProcessIds(workers[1]), std::make_pair(65534, 65534));
  EXPECT_NE(kiln.Log().find("setuid() to 65534"), std::string::npos);
}

TEST(KilnServer, UidWithoutGidTakesTheUsersPrimaryGroup) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  KilnProcess kiln({"--master", "--builtin-handler", "--http-socket", sock, "--chmod-socket", "666",
                    "--uid", "nobody"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  EXPECT_EQ(ProcessIds(kiln.pid()).second, 65534);  // nogroup, not root
  EXPECT_NE(kiln.Log().find("primary group"), std::string::npos) << kiln.Log();
}

TEST(KilnServer, RespawnsAWorkerKilledWithSigkillAndKeepsAnswering) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  KilnProcess kiln({"--master", "--builtin-handler", "--processes", "2", "--http-socket", sock},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  // A worker may answer before the master has logged its spawn line.
  ASSERT_TRUE(kiln.WaitForLog("kiln is ready", absl::Seconds(10))) << kiln.Log();
  auto before = kiln.WorkerPids();
  ASSERT_EQ(before.size(), 2u);
  ASSERT_EQ(kill(before[1], SIGKILL), 0);
  ASSERT_TRUE(kiln.WaitForLog("spawned kiln worker 1", absl::Seconds(10), 2)) << kiln.Log();
  EXPECT_NE(kiln.Log().find("killed by signal 9"), std::string::npos);
  // A death nobody asked for keeps uWSGI's alarm line.
  EXPECT_NE(kiln.Log().find("DAMN ! worker 1 (pid: " + std::to_string(before[1]) +
                            ") died, killed by signal 9 :( trying respawn"),
            std::string::npos)
      << kiln.Log();
  EXPECT_EQ(kiln.Log().find("recycled"), std::string::npos) << kiln.Log();
  EXPECT_NE(kiln.WorkerPids()[1], before[1]);
  for (int i = 0; i < 20; ++i) {
    auto r = HttpGet(sock, "/");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
  }
}

TEST(KilnServer, HarakiriKillsAStuckRequestAndRespawnsTheWorker) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  KilnProcess kiln({"--master", "--builtin-handler", "--processes", "1", "--http-socket", sock,
                    "--harakiri", "1"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  absl::Time start = absl::Now();
  auto r = HttpGet(sock, "/sleep?s=30", absl::Seconds(20));
  EXPECT_FALSE(r.ok() && r->status == 200);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_TRUE(kiln.WaitForLog("HARAKIRI ON WORKER 1", absl::Seconds(5))) << kiln.Log();
  EXPECT_TRUE(WaitUntilHttpAnswers(sock, absl::Seconds(10))) << kiln.Log();
}

TEST(KilnServer, RecyclesAWorkerAfterMaxRequests) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  KilnProcess kiln({"--master", "--builtin-handler", "--processes", "1", "--http-socket", sock,
                    "--max-requests", "3", "--min-worker-lifetime", "0"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();  // request 1
  for (int i = 0; i < 2; ++i) {
    auto r = HttpGet(sock, "/");
    ASSERT_TRUE(r.ok()) << r.status();
  }
  EXPECT_TRUE(kiln.WaitForLog("max-requests (3) reached", absl::Seconds(5))) << kiln.Log();
  EXPECT_TRUE(kiln.WaitForLog("spawned kiln worker 1", absl::Seconds(10), 2)) << kiln.Log();
  EXPECT_TRUE(WaitUntilHttpAnswers(sock, absl::Seconds(10)));  // request N+1, a new worker
  // A planned recycle is a notice, never the crash alarm that pages someone.
  EXPECT_TRUE(
      kiln.WaitForLog("recycled after 3 requests (max-requests); respawning", absl::Seconds(5)))
      << kiln.Log();
  EXPECT_EQ(kiln.Log().find("DAMN"), std::string::npos) << kiln.Log();
}

TEST(KilnServer, ReplacesAStaleSocketFileButRefusesALiveOne) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  {
    // A socket file left behind by a crashed server: bound, then closed.
    KilnProcess crashed({"--master", "--builtin-handler", "--http-socket", sock},
                        dir.File("crashed.log"));
    ASSERT_TRUE(crashed.Start());
    ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << crashed.Log();
    kill(-crashed.pid(), SIGKILL);
    crashed.WaitExit(absl::Seconds(5));
  }
  ASSERT_TRUE(Exists(sock));
  KilnProcess kiln({"--master", "--builtin-handler", "--http-socket", sock}, dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();

  KilnProcess second({"--master", "--builtin-handler", "--http-socket", sock},
                     dir.File("second.log"));
  ASSERT_TRUE(second.Start());
  auto status = second.WaitExit(absl::Seconds(10));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(WEXITSTATUS(*status), 1);
  EXPECT_NE(second.Log().find(sock), std::string::npos) << second.Log();
  EXPECT_NE(second.Log().find("another server"), std::string::npos) << second.Log();
  EXPECT_TRUE(WaitUntilHttpAnswers(sock, absl::Seconds(5)));  // the first one still serves
}

TEST(KilnServer, StopsAtOnceOnSigint) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  KilnProcess kiln({"--master", "--builtin-handler", "--processes", "2", "--http-socket", sock},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  kiln.Signal(SIGINT);
  auto status = kiln.WaitExit(absl::Seconds(10));
  ASSERT_TRUE(status.has_value()) << kiln.Log();
  EXPECT_TRUE(WIFEXITED(*status));
}

TEST(KilnServer, FailsStartupNamingABadSocketAddress) {
  TempDir dir;
  KilnProcess kiln({"--master", "--builtin-handler", "--http-socket", "127.0.0.1:http"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  auto status = kiln.WaitExit(absl::Seconds(10));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(WEXITSTATUS(*status), 1);
  EXPECT_NE(kiln.Log().find("127.0.0.1:http"), std::string::npos) << kiln.Log();
}

TEST(KilnServer, RestartsAnAttachedDaemonThatExits) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  std::string marker = dir.File("runs");
  KilnProcess kiln({"--master", "--builtin-handler", "--http-socket", sock, "--attach-daemon",
                    "echo run >> " + marker + "; sleep 0.2"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  EXPECT_TRUE(kiln.WaitForLog("spawned attached daemon", absl::Seconds(10), 3)) << kiln.Log();
}

TEST(KilnServer, WorkersDieWithAMasterKilledWithSigkill) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  KilnProcess kiln({"--master", "--builtin-handler", "--processes", "2", "--http-socket", sock},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  // A worker may answer before the master has logged its spawn line.
  ASSERT_TRUE(kiln.WaitForLog("kiln is ready", absl::Seconds(10))) << kiln.Log();
  auto workers = kiln.WorkerPids();
  ASSERT_EQ(workers.size(), 2u);
  kiln.Signal(SIGKILL);
  ASSERT_TRUE(kiln.WaitExit(absl::Seconds(5)).has_value());
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  bool gone = false;
  while (!gone && absl::Now() < deadline) {
    gone = !ProcessAlive(workers[1]) && !ProcessAlive(workers[2]);
    usleep(20000);
  }
  EXPECT_TRUE(gone) << "workers outlived their master";
}

TEST(KilnServer, LogsPerWorkerStatsOnSigusr1) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  KilnProcess kiln({"--master", "--builtin-handler", "--processes", "2", "--http-socket", sock},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  kiln.Signal(SIGUSR1);
  EXPECT_TRUE(kiln.WaitForLog("stats: worker 2", absl::Seconds(5))) << kiln.Log();
}

TEST(KilnServer, LogtoWritesTheLogToAFile) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  std::string logfile = dir.File("app.log");
  KilnProcess kiln({"--master", "--builtin-handler", "--http-socket", sock, "--logto", logfile},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  std::string log = TempDir::ReadFile(logfile);
  EXPECT_NE(log.find("spawned kiln worker 1"), std::string::npos) << log;
  EXPECT_EQ(kiln.Log().find("spawned kiln worker 1"), std::string::npos);
}

TEST(KilnServer, DaemonizeDetachesAndKeepsServing) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  std::string pidfile = dir.File("kiln.pid");
  std::string logfile = dir.File("daemon.log");
  KilnProcess kiln({"--master", "--builtin-handler", "--http-socket", sock, "--daemonize", logfile,
                    "--pidfile", pidfile, "--vacuum"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  auto status = kiln.WaitExit(absl::Seconds(10));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  bool answered = WaitUntilHttpAnswers(sock, kStartup);
  int pid = std::atoi(TempDir::ReadFile(pidfile).c_str());
  ASSERT_GT(pid, 1) << TempDir::ReadFile(logfile);
  // The daemon is no child of ours: make sure it goes whatever happens below.
  KillIfAlive reaper{pid};
  ASSERT_TRUE(answered) << TempDir::ReadFile(logfile);
  EXPECT_NE(pid, kiln.pid());
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (ProcessAlive(pid) && absl::Now() < deadline) {
    usleep(20000);
  }
  EXPECT_FALSE(ProcessAlive(pid));
  EXPECT_NE(access(sock.c_str(), F_OK), 0);
}

}  // namespace
}  // namespace kiln::testing
