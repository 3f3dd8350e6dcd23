// The real kiln binary: `kiln --plugin-info file.so` prints a built plugin's descriptor and
// refuses, with exit status 1 and the loader's message, what the loader refuses.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/plugin/plugin_test_util.h"

namespace kiln::plugin {
namespace {

using ::testing::HasSubstr;

struct CliRun {
  int status;
  std::string output;  // stdout and stderr
};

CliRun PluginInfo(const std::string& file) {
  const char* bin = std::getenv("KILN_BIN");
  std::string cmd =
      std::string(bin == nullptr ? KILN_TEST_BIN : bin) + " --plugin-info '" + file + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  CliRun run{-1, ""};
  if (p == nullptr) {
    return run;
  }
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) {
    run.output.append(buf, n);
  }
  int st = ::pclose(p);
  run.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return run;
}

TEST(PluginInfoCli, PrintsTheLogfilePluginsDescriptor) {
  CliRun r = PluginInfo(testing::BuildPluginDir() + "/logfile_plugin.so");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("name: logfile\n"));
  EXPECT_THAT(r.output, HasSubstr("kinds: logger\n"));
  EXPECT_THAT(r.output, HasSubstr("logger schemes: file:\n"));
}

TEST(PluginInfoCli, PrintsOptionsWithKindDefaultAndHelp) {
  CliRun r = PluginInfo(testing::TestPluginDir() + "/echo_plugin.so");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("echo-greeting (string, default hello): First word"));
}

TEST(PluginInfoCli, RefusesAnotherMajorWithBothVersions) {
  CliRun r = PluginInfo(testing::TestPluginDir() + "/abi_major2_plugin.so");
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.output, HasSubstr("built for ABI 2, this kiln provides 1"));
}

TEST(PluginInfoCli, RefusesANewerMinorWithBothVersions) {
  CliRun r = PluginInfo(testing::TestPluginDir() + "/abi_too_new_plugin.so");
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.output, HasSubstr("this kiln provides"));
  EXPECT_THAT(r.output, HasSubstr("needs kiln ABI"));
}

TEST(PluginInfoCli, RefusesAFileThatIsNotAKilnPlugin) {
  CliRun r = PluginInfo(testing::TestPluginDir() + "/missing_symbol_plugin.so");
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.output, HasSubstr("is not a kiln plugin (no symbol kiln_plugin_query_v1)"));
}

TEST(PluginInfoCli, RefusesAUwsgiPluginWithItsOwnMessage) {
  CliRun r = PluginInfo(testing::TestPluginDir() + "/python39_plugin.so");
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.output, HasSubstr("is a uWSGI plugin"));
}

}  // namespace
}  // namespace kiln::plugin
