// logto2 and log-route with the real kiln binary: the logto2 file is created by the user kiln
// drops to and gets every later line; log-route / log-req-route send the lines their regex
// matches to a named logger, and only those.
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"

namespace kiln::testing {
namespace {

constexpr absl::Duration kStartup = absl::Seconds(15);

// Stops `kiln` gracefully, so every line is written before the files are read.
void Stop(KilnProcess& kiln) {
  kiln.Signal(SIGTERM);
  ASSERT_TRUE(kiln.WaitExit(absl::Seconds(15)).has_value()) << kiln.Log();
}

struct Nobody {
  uid_t uid;
  gid_t gid;
};

Nobody TheNobodyUser() {
  passwd* pw = getpwnam("nobody");
  group* gr = getgrnam("nogroup");
  EXPECT_NE(pw, nullptr);
  EXPECT_NE(gr, nullptr);
  return {pw != nullptr ? pw->pw_uid : 65534, gr != nullptr ? gr->gr_gid : 65534};
}

TEST(KilnLogto2, FileIsCreatedByTheUnprivilegedUserAndGetsTheLines) {
  ASSERT_EQ(geteuid(), 0u) << "the suite runs as root";
  const Nobody nobody = TheNobodyUser();
  TempDir dir;
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
  const std::string logs = dir.File("logs");
  ASSERT_EQ(mkdir(logs.c_str(), 0755), 0);
  ASSERT_EQ(chown(logs.c_str(), nobody.uid, nobody.gid), 0);
  const std::string log = logs + "/app.log";
  const std::string sock = dir.File("s.sock");
  std::string ini = dir.Write(
      "app.ini", absl::StrCat("[uwsgi]\nmaster = true\nprocesses = 2\nhttp-socket = ", sock,
                              "\nchmod-socket = 666\nuid = nobody\ngid = nogroup\nlogto2 = ",
                              log, "\nbuiltin-handler = true\n"));
  KilnProcess kiln({ini}, dir.File("kiln.out"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  ASSERT_TRUE(HttpGet(sock, "/after-the-drop").ok());
  ASSERT_TRUE(WaitForFile(log, "GET /after-the-drop", absl::Seconds(5)))
      << TempDir::ReadFile(log) << kiln.Log();
  Stop(kiln);
  struct stat st;
  ASSERT_EQ(lstat(log.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_uid, nobody.uid) << "created by the user kiln dropped to";
  EXPECT_EQ(st.st_gid, nobody.gid);
  const std::string text = TempDir::ReadFile(log);
  EXPECT_TRUE(Has(text, "spawned kiln worker 1")) << text;
  EXPECT_TRUE(Has(text, "spawned kiln worker 2")) << text;
  EXPECT_TRUE(Has(text, "goodbye from kiln")) << text;
  // Before the drop the lines went to stderr, after it only to the file.
  EXPECT_TRUE(Has(kiln.Log(), "Starting kiln")) << kiln.Log();
  EXPECT_FALSE(Has(kiln.Log(), "spawned kiln worker")) << kiln.Log();
  EXPECT_FALSE(Has(kiln.Log(), "/after-the-drop")) << kiln.Log();
}

TEST(KilnLogto2, APathTheUserCannotWriteOrASymlinkFailsTheStartNamingTheOption) {
  ASSERT_EQ(geteuid(), 0u) << "the suite runs as root";
  const Nobody nobody = TheNobodyUser();
  TempDir dir;
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
  // A directory only root may write to, and a symlink (in nobody's directory) to root's file.
  const std::string root_only = dir.File("root-only");
  ASSERT_EQ(mkdir(root_only.c_str(), 0755), 0);
  const std::string logs = dir.File("logs");
  ASSERT_EQ(mkdir(logs.c_str(), 0755), 0);
  ASSERT_EQ(chown(logs.c_str(), nobody.uid, nobody.gid), 0);
  const std::string precious = dir.Write("precious.txt", "keep me\n");
  ASSERT_EQ(chmod(precious.c_str(), 0666), 0);
  ASSERT_EQ(symlink(precious.c_str(), (logs + "/link.log").c_str()), 0);
  for (const std::string& target : {root_only + "/app.log", logs + "/link.log"}) {
    SCOPED_TRACE(target);
    std::string ini = dir.Write(
        "app.ini", absl::StrCat("[uwsgi]\nmaster = true\nhttp-socket = ", dir.File("s.sock"),
                                "\nuid = nobody\ngid = nogroup\nlogto2 = ", target,
                                "\nbuiltin-handler = true\n"));
    KilnProcess kiln({ini}, dir.File("kiln.out"));
    ASSERT_TRUE(kiln.Start());
    auto status = kiln.WaitExit(kStartup);
    ASSERT_TRUE(status.has_value()) << kiln.Log();
    EXPECT_NE(*status, 0);
    EXPECT_TRUE(Has(kiln.Log(), "option `logto2`")) << kiln.Log();
    EXPECT_TRUE(Has(kiln.Log(), target)) << kiln.Log();
    EXPECT_EQ(TempDir::ReadFile(precious), "keep me\n");
    EXPECT_NE(access((root_only + "/app.log").c_str(), F_OK), 0);
  }
}

// Three loggers: the default file and two named ones; routes by the request line's status
// and path. Without req-logger the request lines are server lines, which log-route routes.
TEST(KilnLogRoute, EachNamedLoggerGetsExactlyTheLinesItsRouteMatches) {
  TempDir dir;
  const std::string sock = dir.File("s.sock");
  std::string ini = dir.Write(
      "app.ini",
      absl::StrCat("[uwsgi]\nmaster = true\nprocesses = 2\nplugins = logfile\nhttp-socket = ",
                   sock, "\nlogger = file:", dir.File("main.log"),
                   "\nlogger = teapot file:", dir.File("teapot.log"),
                   "\nlogger = slow file:", dir.File("slow.log"),
                   "\nlog-route = teapot \\(HTTP/1\\.1 418\\)\nlog-route = slow GET /sleep\\?",
                   "\nbuiltin-handler = true\n"));
  KilnProcess kiln({ini}, dir.File("kiln.out"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(HttpGet(sock, absl::StrCat("/status?code=418&n=", i)).ok());
    ASSERT_TRUE(HttpGet(sock, absl::StrCat("/sleep?s=0&n=", i)).ok());
    ASSERT_TRUE(HttpGet(sock, absl::StrCat("/plain?n=", i)).ok());
  }
  ASSERT_TRUE(WaitForFile(dir.File("main.log"), "GET /plain?n=2", absl::Seconds(5)))
      << TempDir::ReadFile(dir.File("main.log"));
  ASSERT_TRUE(WaitForFile(dir.File("slow.log"), "GET /sleep?s=0&n=2", absl::Seconds(5)));
  Stop(kiln);
  const std::string main_log = TempDir::ReadFile(dir.File("main.log"));
  const std::vector<std::string> teapot = Lines(TempDir::ReadFile(dir.File("teapot.log")));
  const std::vector<std::string> slow = Lines(TempDir::ReadFile(dir.File("slow.log")));
  ASSERT_EQ(teapot.size(), 3u) << TempDir::ReadFile(dir.File("teapot.log"));
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(Has(teapot[i], "/status?code=418&n=")) << teapot[i];
    EXPECT_TRUE(Has(teapot[i], "(HTTP/1.1 418)")) << teapot[i];
  }
  ASSERT_EQ(slow.size(), 3u) << TempDir::ReadFile(dir.File("slow.log"));
  for (const std::string& line : slow) EXPECT_TRUE(Has(line, "GET /sleep?s=0&n=")) << line;
  // The default logger has the rest: the server's own lines and the unrouted requests.
  EXPECT_TRUE(Has(main_log, "spawned kiln worker 2")) << main_log;
  EXPECT_TRUE(Has(main_log, "goodbye from kiln")) << main_log;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(Has(main_log, absl::StrCat("GET /plain?n=", i)));
  EXPECT_FALSE(Has(main_log, "418")) << main_log;
  EXPECT_FALSE(Has(main_log, "/sleep")) << main_log;
}

// With req-logger, log-req-route routes the request lines and log-route the server lines.
TEST(KilnLogRoute, LogReqRouteRoutesRequestLinesAndLeavesServerLinesAlone) {
  TempDir dir;
  const std::string sock = dir.File("s.sock");
  std::string ini = dir.Write(
      "app.ini",
      absl::StrCat("[uwsgi]\nmaster = true\nplugins = logfile\nhttp-socket = ", sock,
                   "\nlogger = file:", dir.File("main.log"),
                   "\nlogger = workers file:", dir.File("workers.log"),
                   "\nreq-logger = file:", dir.File("req.log"),
                   "\nreq-logger = errors file:", dir.File("errors.log"),
                   "\nlog-route = workers spawned kiln worker",
                   "\nlog-req-route = errors \\(HTTP/1\\.1 5\\d\\d\\)",
                   "\nbuiltin-handler = true\n"));
  KilnProcess kiln({ini}, dir.File("kiln.out"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  ASSERT_TRUE(HttpGet(sock, "/status?code=503").ok());
  ASSERT_TRUE(HttpGet(sock, "/ok").ok());
  ASSERT_TRUE(WaitForFile(dir.File("req.log"), "GET /ok", absl::Seconds(5)));
  Stop(kiln);
  const std::vector<std::string> errors = Lines(TempDir::ReadFile(dir.File("errors.log")));
  ASSERT_EQ(errors.size(), 1u) << TempDir::ReadFile(dir.File("errors.log"));
  EXPECT_TRUE(Has(errors[0], "GET /status?code=503")) << errors[0];
  const std::string req = TempDir::ReadFile(dir.File("req.log"));
  EXPECT_TRUE(Has(req, "GET /ok")) << req;
  EXPECT_FALSE(Has(req, "503")) << req;
  const std::vector<std::string> workers = Lines(TempDir::ReadFile(dir.File("workers.log")));
  ASSERT_FALSE(workers.empty());
  for (const std::string& line : workers) EXPECT_TRUE(Has(line, "spawned kiln worker")) << line;
  const std::string main_log = TempDir::ReadFile(dir.File("main.log"));
  EXPECT_FALSE(Has(main_log, "spawned kiln worker")) << main_log;
  EXPECT_TRUE(Has(main_log, "goodbye from kiln")) << main_log;
  EXPECT_FALSE(Has(main_log, "GET /")) << main_log;
}

TEST(KilnLogRoute, ARouteToAnUnknownLoggerOrABadRegexFailsTheStart) {
  TempDir dir;
  const std::string base = absl::StrCat("[uwsgi]\nmaster = true\nplugins = logfile\n",
                                        "http-socket = ", dir.File("s.sock"),
                                        "\nlogger = known file:", dir.File("known.log"),
                                        "\nbuiltin-handler = true\n");
  struct Case {
    std::string line;
    std::string says;
  };
  for (const Case& c : {Case{"log-route = unknown x", "no logger is named `unknown`"},
                        Case{"log-route = known (unclosed", "regular expression `(unclosed`"},
                        Case{"log-req-route = known", "is not `LOGGERNAME REGEX`"}}) {
    SCOPED_TRACE(c.line);
    std::string ini = dir.Write("app.ini", base + c.line + "\n");
    KilnProcess kiln({ini}, dir.File("kiln.out"));
    ASSERT_TRUE(kiln.Start());
    auto status = kiln.WaitExit(kStartup);
    ASSERT_TRUE(status.has_value()) << kiln.Log();
    EXPECT_NE(*status, 0);
    EXPECT_TRUE(Has(kiln.Log(), c.says)) << kiln.Log();
    EXPECT_TRUE(Has(kiln.Log(), c.line.substr(0, c.line.find(' ')))) << kiln.Log();
  }
}

}  // namespace
}  // namespace kiln::testing
