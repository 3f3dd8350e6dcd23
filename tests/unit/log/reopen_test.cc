// Log rotation across processes: the shared reopen counter (touch-logreopen), stdio following
// the server log file, and which file stdio follows.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "core/log/file_sink.h"
#include "core/log/logger.h"
#include "core/log/sink_spec.h"
#include "gtest/gtest.h"
#include "tests/unit/log/log_test_util.h"

namespace kiln::log {
namespace {

class ReopenTest : public testing::TempDirTest {
 protected:
  void TearDown() override {
    SetServerSinks({});
    TempDirTest::TearDown();
  }
  void UseFile(const std::string& path) {
    auto sink = FileSink::Open(path, {});
    ASSERT_TRUE(sink.ok()) << sink.status();
    std::vector<std::unique_ptr<Sink>> s;
    s.push_back(std::move(*sink));
    SetServerSinks(std::move(s));
  }
};

TEST_F(ReopenTest, AForkedProcessMovesToTheNewFileBeforeItsNextLine) {
  ASSERT_TRUE(EnableSharedReopen().ok());
  std::string path = dir_ + "/server.log";
  UseFile(path);
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char c;
    ::close(go[1]);
    if (::read(go[0], &c, 1) != 1) ::_exit(2);
    Info("from the child");  // idle until now: reopens first
    ::_exit(0);
  }
  ::close(go[0]);
  Info("before");
  ASSERT_EQ(::rename(path.c_str(), (path + ".1").c_str()), 0);
  ReopenEverywhere();
  Info("parent after");
  ASSERT_EQ(::write(go[1], "x", 1), 1);
  ::close(go[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(Slurp(path + ".1"), "before\n");
  EXPECT_EQ(Slurp(path), "parent after\nfrom the child\n");
}

TEST_F(ReopenTest, StdoutAndStderrFollowTheLogFileThroughARotation) {
  std::string path = dir_ + "/app.log";
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (!SetStdioTarget(path, {}).ok()) ::_exit(2);
    std::printf("print one\n");
    std::fflush(stdout);
    if (::write(STDERR_FILENO, "traceback one\n", 14) != 14) ::_exit(3);
    if (::rename(path.c_str(), (path + ".1").c_str()) != 0) ::_exit(4);
    ReopenAll();
    std::printf("print two\n");
    std::fflush(stdout);
    if (::write(STDERR_FILENO, "traceback two\n", 14) != 14) ::_exit(5);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  ASSERT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(Slurp(path + ".1"), "print one\ntraceback one\n");
  EXPECT_EQ(Slurp(path), "print two\ntraceback two\n");
}

TEST_F(ReopenTest, StdioTargetErrorNamesThePath) {
  absl::Status s = SetStdioTarget(dir_ + "/missing/app.log", {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find(dir_ + "/missing/app.log"), std::string::npos)
      << s.message();
}

TEST(StdioLogPath, LogtoWinsThenTheFirstFileLogger) {
  EXPECT_EQ(StdioLogPath("/var/log/a.log", {"file:/var/log/b.log"}), "/var/log/a.log");
  EXPECT_EQ(StdioLogPath("", {"syslog:kiln", "file:/var/log/b.log", "/var/log/c.log"}),
            "/var/log/b.log");
  EXPECT_EQ(StdioLogPath("", {"./c.log"}), "./c.log");
  EXPECT_EQ(StdioLogPath("", {"stderr", "syslog:kiln"}), "");
  EXPECT_EQ(StdioLogPath("", {}), "");
}

}  // namespace
}  // namespace kiln::log
