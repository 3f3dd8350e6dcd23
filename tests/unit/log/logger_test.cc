// The process-wide logger: whole lines, levels, request-log fallback, failure reports.
#include "core/log/logger.h"

#include <unistd.h>

#include "core/log/file_sink.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/log/log_test_util.h"

namespace kiln::log {
namespace {

using testing::CaptureSink;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class LoggerTest : public testing::TempDirTest {
 protected:
  void TearDown() override {
    SetServerSinks({});
    SetRequestSinks({});
    SetMinLevel(Level::kInfo);
    SetDateFormat("");
    SetFailureReportInterval(60);
    TempDirTest::TearDown();
  }
  std::vector<std::string> server_, request_;
  void Capture() {
    std::vector<std::unique_ptr<Sink>> s;
    s.push_back(std::make_unique<CaptureSink>(&server_));
    SetServerSinks(std::move(s));
  }
};

TEST_F(LoggerTest, EachMessageLineBecomesOneWholeLine) {
  Capture();
  Log(Level::kInfo, "first\nsecond\n");
  Info("worker %d ready", 3);
  EXPECT_THAT(server_, ElementsAre("first\n", "second\n", "worker 3 ready\n"));
}

TEST_F(LoggerTest, WarningsAndErrorsSayWhatTheyAre) {
  Capture();
  Warn("disk %s", "low");
  Error("gone");
  EXPECT_THAT(server_, ElementsAre("warning: disk low\n", "error: gone\n"));
}

TEST_F(LoggerTest, MessagesBelowTheMinimumLevelAreDropped) {
  Capture();
  Debug("noise");
  SetMinLevel(Level::kDebug);
  Debug("detail");
  EXPECT_THAT(server_, ElementsAre("detail\n"));
}

TEST_F(LoggerTest, DateFormatPrefixesEveryLine) {
  Capture();
  SetDateFormat("[%Y]");
  Info("a\nb");
  ASSERT_EQ(server_.size(), 2u);
  EXPECT_THAT(server_[0], ::testing::MatchesRegex("\\[2[0-9]{3}\\] a\n"));
  EXPECT_THAT(server_[1], ::testing::MatchesRegex("\\[2[0-9]{3}\\] b\n"));
}

TEST_F(LoggerTest, RequestLinesGoToTheServerLogWithoutRequestSinks) {
  Capture();
  LogRequest("GET / => 200");
  EXPECT_THAT(server_, ElementsAre("GET / => 200\n"));
  std::vector<std::unique_ptr<Sink>> r;
  r.push_back(std::make_unique<CaptureSink>(&request_));
  SetRequestSinks(std::move(r));
  LogRequest("GET /x => 404\n");
  EXPECT_THAT(request_, ElementsAre("GET /x => 404\n"));
  EXPECT_EQ(server_.size(), 1u);
}

TEST_F(LoggerTest, FailedWritesAreReportedToStderrWithoutStopping) {
  // Point stderr at a file to read the report.
  std::string err_path = dir_ + "/stderr";
  int saved = ::dup(STDERR_FILENO);
  auto err = OpenLogFile(err_path, {});
  ASSERT_TRUE(err.ok());
  ::dup2(err->Get(), STDERR_FILENO);
  SetFailureReportInterval(0);
  std::vector<std::unique_ptr<Sink>> s;
  s.push_back(std::make_unique<CaptureSink>(&server_, /*fail=*/true));
  SetServerSinks(std::move(s));
  Info("lost one");
  Info("lost two");
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::string report = Slurp(err_path);
  EXPECT_THAT(report, HasSubstr("1 log line(s) could not be written (capture: No space left on "
                                "device); serving continues"));
}

TEST_F(LoggerTest, ReopenAllReopensFileSinks) {
  std::string path = dir_ + "/server.log";
  auto sink = FileSink::Open(path, {});
  ASSERT_TRUE(sink.ok());
  std::vector<std::unique_ptr<Sink>> s;
  s.push_back(std::move(*sink));
  SetServerSinks(std::move(s));
  Info("old");
  ASSERT_EQ(::rename(path.c_str(), (path + ".1").c_str()), 0);
  ReopenAll();
  Info("new");
  EXPECT_EQ(Slurp(path + ".1"), "old\n");
  EXPECT_EQ(Slurp(path), "new\n");
}

}  // namespace
}  // namespace kiln::log
