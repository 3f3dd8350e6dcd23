// Configured logs: logto, logger and req-logger through the logfile plugin's `file:` scheme,
// errors that name the option, and whole lines from many processes sharing one file.
#include "core/plugin/log_setup.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <sstream>

#include "core/log/logger.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/log/log_test_util.h"
#include "tests/unit/plugin/plugin_test_util.h"

namespace kiln::plugin {
namespace {

using ::testing::HasSubstr;
using testing::Raw;
using testing::Server;

// The configured sinks and date format are process-wide: each test leaves them as it found them.
class LogSetupTest : public log::testing::TempDirTest {
 protected:
  void TearDown() override {
    log::SetServerSinks({});
    log::SetRequestSinks({});
    log::SetDateFormat("");
    TempDirTest::TearDown();
  }
};

TEST_F(LogSetupTest, LoggerAndReqLoggerWriteThroughTheFileScheme) {
  Server s(Raw({{"plugins", "logfile"},
                {"logger", "file:" + dir_ + "/server.log"},
                {"req-logger", "file:" + dir_ + "/req.log"}}),
           {testing::BuildPluginDir()});
  ASSERT_TRUE(OpenConfiguredLogs(*s.cfg, *s.set).ok());
  log::Info("worker %d ready", 1);
  log::LogRequest("GET / => generated 2 bytes");
  EXPECT_EQ(Slurp(dir_ + "/server.log"), "worker 1 ready\n");
  EXPECT_EQ(Slurp(dir_ + "/req.log"), "GET / => generated 2 bytes\n");
}

TEST_F(LogSetupTest, LogtoIsAPlainFileOfTheCore) {
  Server s(Raw({{"logto", dir_ + "/a:b.log"}}), {testing::BuildPluginDir()});
  ASSERT_TRUE(OpenConfiguredLogs(*s.cfg, *s.set).ok());
  log::Info("hello");
  EXPECT_EQ(Slurp(dir_ + "/a:b.log"), "hello\n");
}

TEST_F(LogSetupTest, UnopenableLoggerNamesTheOptionThePlaceAndTheReason) {
  std::string bad = dir_ + "/nodir/x.log";
  Server s(Raw({{"plugins", "logfile"}, {"logger", "file:" + bad}}), {testing::BuildPluginDir()});
  absl::Status st = OpenConfiguredLogs(*s.cfg, *s.set);
  ASSERT_FALSE(st.ok());
  std::string msg(st.message());
  EXPECT_THAT(msg, HasSubstr("option `logger` (app.ini:2)"));
  EXPECT_THAT(msg, HasSubstr(bad));
  EXPECT_THAT(msg, HasSubstr("No such file or directory"));
}

TEST_F(LogSetupTest, LogEncodersApplyAndABadOneNamesTheOptionAndTheReason) {
  {
    Server s(Raw({{"logto", dir_ + "/j.log"},
                  {"log-encoder", "json {\"msg\":\"${msg}\"}"},
                  {"log-encoder", "nl"}}),
             {testing::BuildPluginDir()});
    ASSERT_TRUE(OpenConfiguredLogs(*s.cfg, *s.set).ok());
    log::Warn("a \"quoted\" word");
    log::SetEncoders(log::EncoderChain(), log::EncoderChain());
    EXPECT_EQ(Slurp(dir_ + "/j.log"), "{\"msg\":\"warning: a \\\"quoted\\\" word\"}\n");
  }
  Server s(Raw({{"log-req-encoder", "gzip"}}), {testing::BuildPluginDir()});
  absl::Status st = OpenConfiguredLogs(*s.cfg, *s.set);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), HasSubstr("option `log-req-encoder` (app.ini:1): `gzip`: the gzip encoder writes binary"));
}

TEST_F(LogSetupTest, LoggerSchemeWithoutItsPluginSaysWhichPluginToLoad) {
  Server s(Raw({{"autoload", "false"}, {"logger", "file:" + dir_ + "/x.log"}}),
           {testing::BuildPluginDir()});
  absl::Status st = OpenConfiguredLogs(*s.cfg, *s.set);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), HasSubstr("plugins = logfile"));
}

TEST_F(LogSetupTest, BadChmodIsRejectedNamingTheOption) {
  Server s(Raw({{"logfile-chmod", "rw-r"}}), {testing::BuildPluginDir()});
  absl::Status st = OpenConfiguredLogs(*s.cfg, *s.set);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()),
              HasSubstr("option `logfile-chmod` (app.ini:1): `rw-r` is not an octal file mode"));
}

TEST_F(LogSetupTest, CreatedFilesBelongToTheTargetUser) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root to chown";
  }
  std::string path = dir_ + "/owned.log";
  Server s(Raw({{"plugins", "logfile"},
                {"uid", "nobody"},
                {"logger", "file:" + path},
                {"logto", dir_ + "/core.log"}}),
           {testing::BuildPluginDir()});
  ASSERT_TRUE(OpenConfiguredLogs(*s.cfg, *s.set).ok());
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  ASSERT_EQ(::stat((dir_ + "/core.log").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST_F(LogSetupTest, ManyWorkersLoggingAtOnceProduceOnlyWholeLines) {
  constexpr int kWorkers = 6;
  constexpr int kLines = 1500;
  std::string path = dir_ + "/shared.log";
  Server s(Raw({{"plugins", "logfile"}, {"logger", "file:" + path}}), {testing::BuildPluginDir()});
  ASSERT_TRUE(OpenConfiguredLogs(*s.cfg, *s.set).ok());
  std::vector<pid_t> pids;
  for (int w = 0; w < kWorkers; ++w) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      for (int i = 0; i < kLines; ++i) {
        log::Info("w%d i%d %s", w, i, std::string(50 + (i * 53) % 3000, 'a' + w));
      }
      ::_exit(0);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  std::istringstream in(Slurp(path));
  std::string line;
  std::map<int, int> per_worker;
  while (std::getline(in, line)) {
    int w = -1, i = -1;
    ASSERT_EQ(std::sscanf(line.c_str(), "w%d i%d ", &w, &i), 2) << line.substr(0, 40);
    std::string tail = line.substr(line.find(' ', line.find(' ') + 1) + 1);
    ASSERT_EQ(tail, std::string(50 + (i * 53) % 3000, 'a' + w)) << "torn line";
    ++per_worker[w];
  }
  for (int w = 0; w < kWorkers; ++w) {
    EXPECT_EQ(per_worker[w], kLines);
  }
}

}  // namespace
}  // namespace kiln::plugin
