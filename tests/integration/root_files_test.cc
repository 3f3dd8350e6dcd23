// Files the real kiln binary writes while it is root, in a directory the service user
// (nobody) owns: a symlink planted at a log file (logto, daemonize, logger = file:,
// req-logger = file:) is refused with a start-up error naming the path and the target is left
// as it was; a pidfile is never written through a planted link; a touch-logreopen after the
// user swapped a log file for a symlink keeps the old file; and the start-up warning when the
// application runs as root. Run as root (the tests need to become nobody).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"

namespace kiln::testing {
namespace {

constexpr absl::Duration kStartup = absl::Seconds(15);
constexpr uid_t kNobody = 65534;

struct stat Lstat(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st;
}

// The layout of the issue: `app/` owned by nobody (the service user may replace anything in
// it) and, outside it, a root-only file standing for /etc/shadow.
class RootFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "these tests start kiln as root and drop to nobody";
    app_ = dir_.File("app");
    ASSERT_EQ(::mkdir(app_.c_str(), 0755), 0);
    ASSERT_EQ(::chown(app_.c_str(), kNobody, kNobody), 0);
    secret_ = dir_.Write("secret", "secret\n");
    ASSERT_EQ(::chmod(secret_.c_str(), 0600), 0);
    secret_before_ = Lstat(secret_);
  }

  // What nobody does: puts a symlink to the root-only file at `name` in its directory.
  std::string Plant(const std::string& name) {
    std::string p = app_ + "/" + name;
    EXPECT_EQ(::symlink(secret_.c_str(), p.c_str()), 0);
    return p;
  }

  // The root-only file has its content, owner and mode of before.
  void ExpectSecretUntouched() {
    struct stat now = Lstat(secret_);
    EXPECT_EQ(TempDir::ReadFile(secret_), "secret\n");
    EXPECT_EQ(now.st_uid, secret_before_.st_uid);
    EXPECT_EQ(now.st_gid, secret_before_.st_gid);
    EXPECT_EQ(now.st_mode, secret_before_.st_mode);
    EXPECT_EQ(now.st_size, secret_before_.st_size);
  }

  std::vector<std::string> Base() const {
    return {"--master",  "--builtin-handler", "--http-socket", dir_.File("s.sock"),
            "--chmod-socket", "666", "--uid", "nobody", "--gid", "nogroup"};
  }

  TempDir dir_;
  std::string app_;
  std::string secret_;
  struct stat secret_before_ {};
};

// A start that must fail: exit status 1 and the refusal in what kiln printed.
void ExpectRefusedStart(KilnProcess& kiln, const std::string& path) {
  ASSERT_TRUE(kiln.Start());
  auto status = kiln.WaitExit(absl::Seconds(10));
  ASSERT_TRUE(status.has_value()) << kiln.Log();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1) << kiln.Log();
  EXPECT_TRUE(Has(kiln.Log(), "refusing to open " + path + ": it is a symbolic link"))
      << kiln.Log();
}

// One log option pointed at a planted symlink: {file name, option, value prefix, plugins}.
struct LogOption {
  std::string file;
  std::string option;  // as named in the error: `logto`, `logger`, ...
  std::string prefix;  // before the path in the value: "file:" or ""
  bool logfile_plugin;
  friend void PrintTo(const LogOption& o, std::ostream* os) { *os << o.option << " " << o.prefix; }
};

class PlantedLogSymlink : public RootFilesTest,
                          public ::testing::WithParamInterface<LogOption> {};

TEST_P(PlantedLogSymlink, IsRefusedAtStartUpAndItsTargetIsUntouched) {
  const LogOption& o = GetParam();
  std::string log = Plant(o.file);
  std::vector<std::string> args = Base();
  if (o.logfile_plugin) args.insert(args.end(), {"--plugins", "logfile"});
  args.insert(args.end(), {"--" + o.option, o.prefix + log});
  KilnProcess kiln(args, dir_.File("kiln.out"));
  ExpectRefusedStart(kiln, log);
  EXPECT_TRUE(Has(kiln.Log(), "option `" + o.option + "`")) << kiln.Log();
  ExpectSecretUntouched();
}

INSTANTIATE_TEST_SUITE_P(
    EveryLogOption, PlantedLogSymlink,
    ::testing::Values(LogOption{"kiln.log", "logto", "", false},
                      LogOption{"app.log", "logger", "file:", true},
                      LogOption{"req.log", "req-logger", "file:", true},
                      LogOption{"core-app.log", "logger", "", false},
                      LogOption{"core-req.log", "req-logger", "", false}),
    [](const ::testing::TestParamInfo<LogOption>& p) {
      std::string name = p.param.option + (p.param.prefix.empty() ? "Path" : "File");
      std::erase(name, '-');
      return name;
    });

// Stops a daemonized master by the pid in `pidfile`, if it ever started.
void StopDaemon(const std::string& pidfile) {
  pid_t master = std::atoi(TempDir::ReadFile(pidfile).c_str());
  if (master <= 1) return;
  ::kill(master, SIGINT);
  for (int i = 0; i < 100 && ProcessAlive(master); ++i) absl::SleepFor(absl::Milliseconds(100));
  EXPECT_FALSE(ProcessAlive(master));
}

TEST_F(RootFilesTest, DaemonizeThroughAPlantedSymlinkIsRefused) {
  std::string log = Plant("daemon.log");
  std::string pidfile = app_ + "/server.pid";
  std::vector<std::string> args = Base();
  args.insert(args.end(), {"--daemonize", log, "--pidfile", pidfile});
  KilnProcess kiln(args, dir_.File("kiln.out"));
  absl::Cleanup stop = [&] { StopDaemon(pidfile); };  // the daemon left our process group
  ASSERT_TRUE(kiln.Start());
  // The parent exits at once, as daemonize does; the detached child reports and exits.
  ASSERT_TRUE(kiln.WaitExit(absl::Seconds(10)).has_value());
  ASSERT_TRUE(WaitForFile(dir_.File("kiln.out"),
                          "refusing to open " + log + ": it is a symbolic link",
                          absl::Seconds(10)))
      << kiln.Log();
  absl::SleepFor(absl::Milliseconds(300));  // nothing more arrives at the target later
  ExpectSecretUntouched();
  EXPECT_FALSE(WaitUntilHttpAnswers(dir_.File("s.sock"), absl::Milliseconds(200)));
}

TEST_F(RootFilesTest, FilesKilnCreatesBelongToTheServiceUserAndAnExistingRootFileStillWorks) {
  // logto exists, owned by root: appended to, and keeps its owner.
  std::string logto = app_ + "/kiln.log";
  {
    std::ofstream(logto) << "from before\n";
  }
  std::string logger = app_ + "/app.log";
  std::string req = app_ + "/req.log";
  std::vector<std::string> args = Base();
  args.insert(args.end(), {"--logto", logto, "--plugins", "logfile", "--logger", "file:" + logger,
                           "--req-logger", "file:" + req});
  KilnProcess kiln(args, dir_.File("kiln.out"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(dir_.File("s.sock"), kStartup))
      << kiln.Log() << TempDir::ReadFile(logto);
  ASSERT_TRUE(WaitForFile(req, "GET /", absl::Seconds(5))) << TempDir::ReadFile(req);
  EXPECT_TRUE(TempDir::ReadFile(logto).starts_with("from before\n"));
  EXPECT_TRUE(Has(TempDir::ReadFile(logto), "Starting kiln")) << TempDir::ReadFile(logto);
  EXPECT_EQ(Lstat(logto).st_uid, 0u);
  for (const std::string& created : {logger, req}) {
    struct stat st = Lstat(created);
    EXPECT_EQ(st.st_uid, kNobody) << created;
    EXPECT_EQ(st.st_gid, kNobody) << created;
    EXPECT_EQ(st.st_mode & 07777, 0640u) << created;
  }
}

TEST_F(RootFilesTest, DaemonizeCreatesItsLogForTheServiceUser) {
  std::string log = app_ + "/daemon.log";
  std::string pidfile = app_ + "/server.pid";
  std::vector<std::string> args = Base();
  args.insert(args.end(), {"--daemonize", log, "--pidfile", pidfile});
  KilnProcess kiln(args, dir_.File("kiln.out"));
  absl::Cleanup stop = [&] { StopDaemon(pidfile); };  // the daemon left our process group
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(kiln.WaitExit(absl::Seconds(10)).has_value());
  ASSERT_TRUE(WaitUntilHttpAnswers(dir_.File("s.sock"), kStartup)) << TempDir::ReadFile(log);
  struct stat st = Lstat(log);
  EXPECT_EQ(st.st_uid, kNobody);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST_F(RootFilesTest, APidfileIsNeverWrittenThroughAPlantedSymlink) {
  // The temporary name kiln used to write, and the pidfile itself, both point at the secret.
  Plant("server.pid.tmp");
  std::string pidfile = Plant("server.pid");
  std::vector<std::string> args = Base();
  args.insert(args.end(), {"--pidfile", pidfile});
  KilnProcess kiln(args, dir_.File("kiln.out"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(dir_.File("s.sock"), kStartup)) << kiln.Log();
  ExpectSecretUntouched();
  struct stat st = Lstat(pidfile);
  EXPECT_TRUE(S_ISREG(st.st_mode));  // the link was replaced, its target left alone
  EXPECT_EQ(TempDir::ReadFile(pidfile), absl::StrCat(kiln.pid(), "\n"));
  EXPECT_TRUE(S_ISLNK(Lstat(app_ + "/server.pid.tmp").st_mode));  // never opened
}

TEST_F(RootFilesTest, AFifoSwappedInForThePidfileDoesNotHangTheStop) {
  std::string pidfile = app_ + "/server.pid";
  std::vector<std::string> args = Base();
  args.insert(args.end(), {"--pidfile", pidfile, "--vacuum"});
  KilnProcess kiln(args, dir_.File("kiln.out"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(dir_.File("s.sock"), kStartup)) << kiln.Log();
  // nobody replaces the pidfile with a FIFO nobody will ever open for writing.
  ASSERT_EQ(::unlink(pidfile.c_str()), 0);
  ASSERT_EQ(::mkfifo(pidfile.c_str(), 0644), 0);
  kiln.Signal(SIGINT);
  auto status = kiln.WaitExit(absl::Seconds(10));
  ASSERT_TRUE(status.has_value()) << "the master hung removing the pidfile\n" << kiln.Log();
  EXPECT_TRUE(S_ISFIFO(Lstat(pidfile).st_mode));  // not ours: left in place
}

TEST_F(RootFilesTest, TouchLogreopenDoesNotFollowASymlinkSwappedInForALogFile) {
  // No uid: kiln stays root, so a reopen that followed the link would append to the secret.
  std::string logto = app_ + "/kiln.log";
  std::string logger = app_ + "/app.log";
  std::string req = app_ + "/req.log";
  std::string trigger = dir_.File("reopen");
  Touch(trigger, 0);
  KilnProcess kiln({"--master", "--builtin-handler", "--http-socket", dir_.File("s.sock"),
                    "--logto", logto, "--plugins", "logfile", "--logger", "file:" + logger,
                    "--req-logger", req, "--touch-logreopen", trigger},
                   dir_.File("kiln.out"));
  ASSERT_TRUE(kiln.Start());
  std::string sock = dir_.File("s.sock");
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  ASSERT_TRUE(WaitForFile(req, "GET /", absl::Seconds(5)));
  // The user moves each file aside and puts a symlink to the secret in its place.
  for (const std::string& p : {logto, logger, req}) {
    ASSERT_EQ(::rename(p.c_str(), (p + ".old").c_str()), 0);
    ASSERT_EQ(::symlink(secret_.c_str(), p.c_str()), 0);
  }
  Touch(trigger, 5);
  ASSERT_TRUE(WaitForFile(logger + ".old", "touch-logreopen", absl::Seconds(10)))
      << TempDir::ReadFile(logger + ".old");
  auto r = HttpGet(sock, "/after-the-swap");
  ASSERT_TRUE(r.ok()) << r.status();
  // Every process keeps writing to the files it had, and says why.
  EXPECT_TRUE(WaitForFile(req + ".old", "GET /after-the-swap", absl::Seconds(5)))
      << TempDir::ReadFile(req + ".old");
  std::string server = TempDir::ReadFile(logger + ".old");
  for (const std::string& p : {logto, logger, req}) {
    EXPECT_TRUE(Has(server, "refusing to open " + p + ": it is a symbolic link")) << server;
  }
  EXPECT_TRUE(Has(TempDir::ReadFile(logto + ".old"), "refusing to open " + logto))
      << TempDir::ReadFile(logto + ".old");
  kiln.Signal(SIGINT);
  ASSERT_TRUE(kiln.WaitExit(absl::Seconds(10)).has_value());
  ExpectSecretUntouched();
}

// The one warning line about root, from a start that has become ready.
std::string StartAndLog(TempDir& dir, std::vector<std::string> extra) {
  std::vector<std::string> args = {"--master", "--builtin-handler", "--http-socket",
                                   dir.File("s.sock"), "--chmod-socket", "666"};
  args.insert(args.end(), extra.begin(), extra.end());
  KilnProcess kiln(args, dir.File("kiln.out"));
  EXPECT_TRUE(kiln.Start());
  EXPECT_TRUE(kiln.WaitForLog("kiln is ready", kStartup)) << kiln.Log();
  return kiln.Log();
}

TEST(RootWarning, SaysTheAppRunsAsRootWithNoUid) {
  TempDir dir;
  std::string log = StartAndLog(dir, {});
  EXPECT_TRUE(Has(log,
                  "*** WARNING: running as root: the master and every worker (the application's "
                  "code) run as uid 0 because no `uid` is set; set `uid` to an unprivileged user"))
      << log;
}

TEST(RootWarning, SaysTheAppRunsAsRootWithOnlyAGid) {
  TempDir dir;
  std::string log = StartAndLog(dir, {"--gid", "nogroup"});
  EXPECT_TRUE(Has(log, "setgid() to 65534")) << log;
  EXPECT_TRUE(Has(log, "*** WARNING: running as root: the master and every worker (the "
                       "application's code) run as uid 0 because only `gid` is set (gid 65534)"))
      << log;
}

TEST(RootWarning, SaysNothingOnceUidDropsRoot) {
  TempDir dir;
  std::string log = StartAndLog(dir, {"--uid", "nobody", "--gid", "nogroup"});
  EXPECT_TRUE(Has(log, "setuid() to 65534")) << log;
  EXPECT_FALSE(Has(log, "WARNING: running as root")) << log;
}

}  // namespace
}  // namespace kiln::testing
