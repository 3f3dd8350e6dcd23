// The real kiln binary with a plugin whose options are a 1.1 table: values given in an ini
// file, under names and aliases, reach the plugin's settings (it answers with what it saw), and
// a bad value stops startup with the ini's file:line, as a bad core option does.
#include <signal.h>
#include <sys/wait.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/unit/plugin/plugin_test_util.h"

namespace kiln::plugin {
namespace {

using ::testing::HasSubstr;
using kiln::testing::HttpGet;
using kiln::testing::KilnProcess;
using kiln::testing::TempDir;
using kiln::testing::WaitUntilHttpAnswers;

std::string TypedIni(const TempDir& dir, const std::string& options) {
  return dir.Write("app.ini", "[uwsgi]\nplugins = " + testing::TestPluginDir() +
                                  "/typed_plugin.so\nhttp-socket = " + dir.File("http.sock") +
                                  "\n" + options);
}

TEST(PluginOptionsCli, IniValuesUnderNamesAndAliasesReachThePluginsSettings) {
  TempDir dir;
  std::string ini = TypedIni(dir,
                             "tflag = on\n"
                             "tnum = 42\n"
                             "typed-size = 2m\n"
                             "tdur = 1500ms\n"
                             "typed-string = first\n"
                             "tstr = second\n"
                             "tlist = a\n"
                             "typed-list = b\n"
                             "typed-csv = x,y\n"
                             "processes = 1\n");
  KilnProcess kiln({ini}, dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(dir.File("http.sock"), absl::Seconds(20))) << kiln.Log();
  auto r = HttpGet(dir.File("http.sock"), "/");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body,
            "flag=1 quiet=1 number=42 size=2097152 duration_ms=1500 string=second processes=1 "
            "uid= list=[a|b] csv=[x|y]");
  kiln.Signal(SIGTERM);
  EXPECT_TRUE(kiln.WaitExit(absl::Seconds(20)).has_value());
}

TEST(PluginOptionsCli, ABadValueStopsStartupNamingTheIniLine) {
  TempDir dir;
  std::string ini = TypedIni(dir, "typed-string = fine\ntnum = many\n");
  KilnProcess kiln({ini}, dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  std::optional<int> status = kiln.WaitExit(absl::Seconds(20));
  ASSERT_TRUE(status.has_value()) << kiln.Log();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1) << kiln.Log();
  EXPECT_THAT(kiln.Log(), HasSubstr("option `tnum` in " + ini + ":5: `many` is not a number"));
}

}  // namespace
}  // namespace kiln::plugin
