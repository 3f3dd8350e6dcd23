// The operations options of uWSGI files on the real kiln binary: phase hooks and exec-*
// shortcuts at their points of start-up, chdir2, lazy, close-on-exec, no-orphans, limit-as, max-fd,
// pidfile2/safe-pidfile, cron, cap, protocol, procname-prefix-spaced, attach-daemon2.
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"

namespace kiln::testing {
namespace {

constexpr absl::Duration kStartup = absl::Seconds(15);

std::string Readlink(const std::string& path) {
  char buf[PATH_MAX];
  ssize_t n = readlink(path.c_str(), buf, sizeof(buf) - 1);
  return n < 0 ? "" : std::string(buf, static_cast<size_t>(n));
}

// The line of /proc/<pid>/status or /proc/<pid>/limits that starts with `key`.
std::string ProcLine(pid_t pid, const char* file, std::string_view key) {
  for (const std::string& line :
       Lines(TempDir::ReadFile("/proc/" + std::to_string(pid) + "/" + file))) {
    if (line.rfind(key, 0) == 0) return line;
  }
  return "";
}

bool WaitGone(pid_t pid, absl::Duration timeout) {
  absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    if (!ProcessAlive(pid)) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

TEST(OperationsOptions, HooksRunAtTheirPhasesInUwsgiOrder) {
  TempDir dir;
  std::string sock = dir.File("h.sock");
  std::string trace = dir.File("trace");
  std::string ini = dir.Write("app.ini",
                              "[uwsgi]\n"
                              "strict = true\n"
                              "master = true\n"
                              "builtin-handler = true\n"
                              "processes = 2\n"
                              "http-socket = " + sock + "\n"
                              "exec-asap = echo asap >> " + trace + "\n"
                              "hook-as-root = appendn:" + trace + " as-root\n"
                              "hook-as-user = appendn:" + trace + " as-user\n"
                              "exec-pre-app = echo pre-app >> " + trace + "\n"
                              "hook-post-app = appendn:" + trace + " post-app\n"
                              "hook-post-fork = appendn:" + trace + " post-fork\n"
                              "hook-accepting = appendn:" + trace + " accepting\n"
                              "hook-accepting1-once = appendn:" + trace + " accepting1-once\n"
                              "hook-master-start = unix_signal:15 gracefully_kill_them_all\n"
                              "hook-master-start = exec:echo master-start >> " + trace + "\n"
                              "exec-as-user-atexit = echo atexit >> " + trace + "\n");
  KilnProcess kiln({ini}, dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  ASSERT_TRUE(WaitForFile(trace, "master-start", kStartup)) << kiln.Log();
  // Worker 1 respawned: accepting runs again, accepting1-once does not.
  pid_t w1 = kiln.WorkerPids()[1];
  ASSERT_GT(w1, 0);
  kill(w1, SIGKILL);
  absl::Time end = absl::Now() + kStartup;
  while (absl::Now() < end && kiln.WorkerPids()[1] == w1) absl::SleepFor(absl::Milliseconds(50));
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  end = absl::Now() + kStartup;
  auto count = [&](const std::string& what) {
    int n = 0;
    for (const std::string& l : Lines(TempDir::ReadFile(trace))) n += l == what;
    return n;
  };
  while (absl::Now() < end && count("accepting") < 3) absl::SleepFor(absl::Milliseconds(50));
  kiln.Signal(SIGTERM);
  ASSERT_TRUE(kiln.WaitExit(absl::Seconds(20)).has_value()) << kiln.Log();

  std::vector<std::string> lines = Lines(TempDir::ReadFile(trace));
  ASSERT_GE(lines.size(), 5u) << TempDir::ReadFile(trace);
  // The master's start-up phases, in uWSGI's order (kiln's tests run as root: as-root runs).
  EXPECT_EQ(std::vector<std::string>(lines.begin(), lines.begin() + 5),
            (std::vector<std::string>{"asap", "as-root", "as-user", "pre-app", "post-app"}))
      << TempDir::ReadFile(trace);
  EXPECT_EQ(lines.back(), "atexit") << TempDir::ReadFile(trace);
  EXPECT_EQ(count("master-start"), 1) << TempDir::ReadFile(trace);
  EXPECT_EQ(count("post-fork"), 3)
      << TempDir::ReadFile(trace) << kiln.Log();  // two workers, the respawn
  EXPECT_EQ(count("accepting"), 3) << TempDir::ReadFile(trace) << kiln.Log();
  EXPECT_EQ(count("accepting1-once"), 1) << TempDir::ReadFile(trace);
  EXPECT_NE(kiln.Log().find("running \"exec:echo master-start"), std::string::npos);
}

// uWSGI runs the atexit hooks before its binary reload as well as at exit.
TEST(OperationsOptions, AtexitHooksRunBeforeAReload) {
  TempDir dir;
  std::string sock = dir.File("h.sock");
  std::string trace = dir.File("trace");
  KilnProcess kiln({"--master", "--builtin-handler", "--http-socket", sock,
                    "--hook-as-user-atexit", "appendn:" + trace + " atexit"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  kiln.Signal(SIGHUP);
  ASSERT_TRUE(kiln.WaitForLog("master process started (pid: " + std::to_string(kiln.pid()) +
                                  ", generation 1)",
                              kStartup))
      << kiln.Log();
  EXPECT_EQ(TempDir::ReadFile(trace), "atexit\n");
  kiln.Signal(SIGTERM);
  ASSERT_TRUE(kiln.WaitExit(absl::Seconds(20)).has_value());
  EXPECT_EQ(TempDir::ReadFile(trace), "atexit\natexit\n");
}

TEST(OperationsOptions, AFailingExecHookStopsTheStartNamingIt) {
  TempDir dir;
  KilnProcess kiln({"--master", "--builtin-handler", "--http-socket", dir.File("h.sock"),
                    "--exec-pre-app", "exit 3"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  auto status = kiln.WaitExit(kStartup);
  ASSERT_TRUE(status.has_value()) << kiln.Log();
  EXPECT_NE(WEXITSTATUS(*status), 0);
  EXPECT_NE(kiln.Log().find("hook-pre-app `exec:exit 3`: the command exited with code 3"),
            std::string::npos)
      << kiln.Log();
}

TEST(OperationsOptions, AnUnknownHookActionStopsTheStartNamingTheAction) {
  TempDir dir;
  KilnProcess kiln({"--master", "--builtin-handler", "--http-socket", dir.File("h.sock"),
                    "--hook-master-start", "exce:/bin/true"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  auto status = kiln.WaitExit(kStartup);
  ASSERT_TRUE(status.has_value()) << kiln.Log();
  EXPECT_NE(WEXITSTATUS(*status), 0);
  EXPECT_NE(kiln.Log().find("unknown hook action `exce`"), std::string::npos) << kiln.Log();
}

TEST(OperationsOptions, Chdir2MovesWorkersAfterTheLoadAndLazyStrictFilesStart) {
  TempDir dir;
  std::string sock = dir.File("h.sock");
  std::string later = dir.File("later");
  ASSERT_EQ(mkdir(later.c_str(), 0755), 0);
  std::string ini = dir.Write("app.ini",
                              "[uwsgi]\nstrict = true\nmaster = true\nbuiltin-handler = true\n"
                              "lazy = true\nclose-on-exec = true\nno-orphans = true\n"
                              "chdir = " + dir.path() + "\n"
                              "chdir2 = " + later + "\n"
                              "procname-prefix-spaced = shop\n"
                              "http-socket = " + sock + "\n");
  KilnProcess kiln({ini}, dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  pid_t w1 = kiln.WorkerPids()[1];
  ASSERT_GT(w1, 0) << kiln.Log();
  EXPECT_EQ(Readlink("/proc/" + std::to_string(w1) + "/cwd"), later);
  EXPECT_EQ(Readlink("/proc/" + std::to_string(kiln.pid()) + "/cwd"), dir.path());
  std::string cmdline = TempDir::ReadFile("/proc/" + std::to_string(w1) + "/cmdline");
  EXPECT_EQ(cmdline.rfind("shop kiln worker 1", 0), 0u) << cmdline;
  kiln.Signal(SIGTERM);
  ASSERT_TRUE(kiln.WaitExit(absl::Seconds(20)).has_value());
}

// close-on-exec: accepted because it is kiln's behaviour; every socket a worker holds (the
// listen socket and an accepted connection) is O_CLOEXEC. no-orphans: the worker dies with
// the master.
TEST(OperationsOptions, CloseOnExecAndNoOrphansAreKilnsOwnBehaviour) {
  TempDir dir;
  std::string sock = dir.File("h.sock");
  std::string ini = dir.Write("app.ini",
                              "[uwsgi]\nstrict = true\nmaster = true\nbuiltin-handler = true\n"
                              "close-on-exec = true\nno-orphans = true\n"
                              "http-socket = " + sock + "\n");
  KilnProcess kiln({ini}, dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  pid_t w1 = kiln.WorkerPids()[1];
  ASSERT_GT(w1, 0);
  auto held = Connect(sock);  // a connection the worker accepts and keeps open
  ASSERT_TRUE(held.ok());
  absl::SleepFor(absl::Milliseconds(300));
  std::string fd_dir = "/proc/" + std::to_string(w1) + "/fd/";
  int sockets = 0;
  for (int fd = 0; fd < 256; ++fd) {
    std::string target = Readlink(fd_dir + std::to_string(fd));
    if (target.rfind("socket:", 0) != 0) continue;
    std::string flags = ProcLine(w1, ("fdinfo/" + std::to_string(fd)).c_str(), "flags:");
    unsigned long value = std::strtoul(flags.c_str() + 6, nullptr, 8);
    EXPECT_NE(value & O_CLOEXEC, 0u) << "fd " << fd << " " << flags;
    ++sockets;
  }
  EXPECT_GE(sockets, 2);  // the listen socket and the held connection at least
  close(*held);
  kill(kiln.pid(), SIGKILL);
  EXPECT_TRUE(WaitGone(w1, absl::Seconds(5)));
  kiln.WaitExit(absl::Seconds(5));
}

// AddressSanitizer maps about 20 TiB of shadow memory, which RLIMIT_AS counts: under it the
// limit is 64 TiB, above that, and the check is the same.
#ifdef __SANITIZE_ADDRESS__
constexpr const char* kLimitMb = "67108864";
constexpr const char* kLimitBytes = "70368744177664";
#else
constexpr const char* kLimitMb = "2048";
constexpr const char* kLimitBytes = "2147483648";
#endif

// limit-as and max-fd bound the master and the workers it forks.
TEST(OperationsOptions, LimitAsAndMaxFdBoundEveryProcess) {
  TempDir dir;
  std::string sock = dir.File("h.sock");
  KilnProcess kiln({"--master", "--builtin-handler", "--http-socket", sock, "--limit-as", kLimitMb,
                    "--max-fd", "777"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  pid_t w1 = kiln.WorkerPids()[1];
  for (pid_t pid : {kiln.pid(), w1}) {
    std::string line = ProcLine(pid, "limits", "Max address space");
    EXPECT_NE(line.find(kLimitBytes), std::string::npos) << line;
    line = ProcLine(pid, "limits", "Max open files");
    EXPECT_NE(line.find(" 777 "), std::string::npos) << line;
  }
  EXPECT_NE(kiln.Log().find("detected max file descriptor number: 777"), std::string::npos)
      << kiln.Log();
  kiln.Signal(SIGTERM);
  ASSERT_TRUE(kiln.WaitExit(absl::Seconds(20)).has_value());
}

// add-header adds its headers to every response (the app's, a static file, a kiln error);
// one that is no `Name: value` stops the start and says so.
TEST(OperationsOptions, AddHeaderAddsItsHeadersToEveryResponse) {
  TempDir dir;
  std::string sock = dir.File("h.sock");
  KilnProcess kiln({"--master", "--builtin-handler", "--http-socket", sock, "--add-header",
                    "X-Served-By: kiln", "--add-header", "Cache-Control:  no-store"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  for (const char* target : {"/echo", "/status?code=404"}) {
    auto r = HttpGet(sock, target);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(HeaderOf(*r, "X-Served-By"), "kiln") << r->head;
    EXPECT_EQ(HeaderOf(*r, "Cache-Control"), "no-store") << r->head;
  }
  kiln.Signal(SIGTERM);
  ASSERT_TRUE(kiln.WaitExit(absl::Seconds(20)).has_value());

  KilnProcess bad({"--builtin-handler", "--http-socket", dir.File("b.sock"), "--add-header",
                   "X-Broken"},
                  dir.File("bad.log"));
  ASSERT_TRUE(bad.Start());
  std::optional<int> code = bad.WaitExit(absl::Seconds(20));
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0);
  EXPECT_NE(bad.Log().find("option `add-header = X-Broken`: expected `Name: value`"),
            std::string::npos)
      << bad.Log();
}

// pidfile2 is written after the drop to uid, so it belongs to that user; safe-pidfile
// before, as root. `cap` keeps net_bind_service in the workers after the drop.
TEST(OperationsOptions, Pidfile2IsWrittenAsTheUserAndCapKeepsCapabilities) {
  ASSERT_EQ(geteuid(), 0u) << "the suite runs as root";
  TempDir dir;
  std::string run = dir.File("run");
  ASSERT_EQ(mkdir(run.c_str(), 0777), 0);
  ASSERT_EQ(chmod(run.c_str(), 01777), 0);
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
  std::string sock = dir.File("h.sock");
  KilnProcess kiln({"--master", "--builtin-handler", "--http-socket", sock, "--chmod-socket",
                    "666", "--uid", "nobody", "--gid", "nogroup", "--safe-pidfile",
                    run + "/safe.pid", "--pidfile2", run + "/two.pid", "--cap",
                    "net_bind_service"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  struct passwd* nobody = getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  struct stat st;
  ASSERT_EQ(stat((run + "/two.pid").c_str(), &st), 0) << kiln.Log();
  EXPECT_EQ(st.st_uid, nobody->pw_uid);
  ASSERT_EQ(stat((run + "/safe.pid").c_str(), &st), 0) << kiln.Log();
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(std::atoi(TempDir::ReadFile(run + "/two.pid").c_str()), kiln.pid());
  EXPECT_EQ(std::atoi(TempDir::ReadFile(run + "/safe.pid").c_str()), kiln.pid());
  pid_t w1 = kiln.WorkerPids()[1];
  std::string cap_eff = ProcLine(w1, "status", "CapEff:");
  unsigned long long eff = std::strtoull(cap_eff.c_str() + 7, nullptr, 16);
  EXPECT_EQ(eff, 1ull << 10) << cap_eff;  // CAP_NET_BIND_SERVICE, and nothing else
  kiln.Signal(SIGTERM);
  ASSERT_TRUE(kiln.WaitExit(absl::Seconds(20)).has_value());
  // vacuum removes pidfile2 and safe-pidfile too, as uWSGI's
  EXPECT_EQ(access((run + "/two.pid").c_str(), F_OK), 0) << "no vacuum: kept";
}

TEST(OperationsOptions, VacuumRemovesTheOtherPidfiles) {
  TempDir dir;
  std::string sock = dir.File("h.sock");
  KilnProcess kiln({"--master", "--builtin-handler", "--http-socket", sock, "--vacuum",
                    "--safe-pidfile", dir.File("safe.pid"), "--pidfile2", dir.File("two.pid")},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  EXPECT_EQ(access(dir.File("safe.pid").c_str(), F_OK), 0);
  EXPECT_EQ(access(dir.File("two.pid").c_str(), F_OK), 0);
  kiln.Signal(SIGTERM);
  ASSERT_TRUE(kiln.WaitExit(absl::Seconds(20)).has_value());
  EXPECT_NE(access(dir.File("safe.pid").c_str(), F_OK), 0) << kiln.Log();
  EXPECT_NE(access(dir.File("two.pid").c_str(), F_OK), 0) << kiln.Log();
}

// An every-minute entry matches the minute kiln starts in and has never run: the master
// starts it at its first tick, so no test waits for a minute boundary.
TEST(OperationsOptions, TheMasterRunsCronAndAttachDaemon2Commands) {
  TempDir dir;
  std::string sock = dir.File("h.sock");
  std::string ini = dir.Write("app.ini",
                              "[uwsgi]\nstrict = true\nmaster = true\nbuiltin-handler = true\n"
                              "http-socket = " + sock + "\n"
                              "cron = -1 -1 -1 -1 -1 echo cron >> " + dir.File("cron.out") + "\n"
                              "cron2 = minute=-1 echo cron2 >> " + dir.File("cron2.out") + "\n"
                              "attach-daemon2 = cmd=echo daemon >> " + dir.File("d.out") +
                                  "; exec sleep 60\n");
  KilnProcess kiln({ini}, dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  EXPECT_TRUE(WaitForFile(dir.File("cron.out"), "cron", kStartup)) << kiln.Log();
  EXPECT_TRUE(WaitForFile(dir.File("cron2.out"), "cron2", kStartup)) << kiln.Log();
  EXPECT_TRUE(WaitForFile(dir.File("d.out"), "daemon", kStartup)) << kiln.Log();
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(TempDir::ReadFile(dir.File("cron.out")),
            "cron\n");  // once in its minute, not every tick
  kiln.Signal(SIGTERM);
  ASSERT_TRUE(kiln.WaitExit(absl::Seconds(20)).has_value()) << kiln.Log();
}

TEST(OperationsOptions, ProtocolHttpMakesSocketAnswerHttp) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  KilnProcess kiln({"--master", "--builtin-handler", "--socket", sock, "--protocol", "http"},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  auto r = HttpGet(sock, "/echo");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  kiln.Signal(SIGTERM);
  ASSERT_TRUE(kiln.WaitExit(absl::Seconds(20)).has_value());
}

}  // namespace
}  // namespace kiln::testing
