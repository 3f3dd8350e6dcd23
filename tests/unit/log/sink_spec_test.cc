// Logger specs: scheme or plain path, and the errors of unknown schemes.
#include "core/log/sink_spec.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/log/log_test_util.h"

namespace kiln::log {
namespace {

using ::testing::HasSubstr;

TEST(SinkSpec, SchemeIsTheWordBeforeTheColon) {
  SinkSpec s = ParseSinkSpec("file:/var/log/app.log");
  EXPECT_EQ(s.scheme, "file");
  EXPECT_EQ(s.arg, "/var/log/app.log");
}

TEST(SinkSpec, APathIsAPlainFileEvenWithAColon) {
  EXPECT_EQ(ParseSinkSpec("/var/log/a:b.log").scheme, "");
  EXPECT_EQ(ParseSinkSpec("./logs/x:y").scheme, "");
  EXPECT_EQ(ParseSinkSpec("app.log").arg, "app.log");
}

// `logger = syslog` / `logger = systemd` name a plugin, as in uWSGI, not a file in the cwd;
// and so the stdio target (what fd 1/2 follow) is not such a name either.
TEST(SinkSpec, ABareNameIsASchemeWithNoArgument) {
  SinkSpec s = ParseSinkSpec("systemd");
  EXPECT_EQ(s.scheme, "systemd");
  EXPECT_EQ(s.arg, "");
  EXPECT_EQ(ParseSinkSpec("./systemd").scheme, "");
  EXPECT_EQ(StdioLogPath("", {"syslog", "app.log"}), "app.log");
}

TEST(SinkSpec, StderrIsKnownWithoutAPlugin) {
  SchemeTable none;
  auto sink = OpenSink("stderr", none, {});
  ASSERT_TRUE(sink.ok());
  EXPECT_EQ((*sink)->Describe(), "stderr");
}

TEST(SinkSpec, UnknownSchemeNamesItAndThePluginToLoad) {
  SchemeTable none;
  auto sink = OpenSink("file:/tmp/x.log", none, {});
  ASSERT_FALSE(sink.ok());
  EXPECT_EQ(sink.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(sink.status().message()),
              HasSubstr("no loaded plugin provides the scheme `file:`"));
  EXPECT_THAT(std::string(sink.status().message()), HasSubstr("plugins = logfile"));
}

TEST(SinkSpec, RegisteredSchemeOpensThroughItsOpener) {
  SchemeTable table;
  std::vector<std::string> lines;
  std::string seen;
  ASSERT_TRUE(table
                  .Register("mem", "memplugin",
                            [&](std::string_view arg) -> absl::StatusOr<std::unique_ptr<Sink>> {
                              seen = std::string(arg);
                              return std::unique_ptr<Sink>(new testing::CaptureSink(&lines));
                            })
                  .ok());
  auto sink = OpenSink("mem:abc", table, {});
  ASSERT_TRUE(sink.ok());
  EXPECT_EQ(seen, "abc");
  absl::Status dup = table.Register("mem", "other", nullptr);
  EXPECT_THAT(std::string(dup.message()),
              HasSubstr("`mem` is provided by both plugin memplugin and plugin other"));
}

class PlainPath : public testing::TempDirTest {};

TEST_F(PlainPath, PlainPathOpensACoreFileSink) {
  SchemeTable none;
  auto sink = OpenSink(dir_ + "/x.log", none, {});
  ASSERT_TRUE(sink.ok()) << sink.status();
  (*sink)->Write("hi\n");
  EXPECT_EQ(Slurp(dir_ + "/x.log"), "hi\n");
}

}  // namespace
}  // namespace kiln::log
