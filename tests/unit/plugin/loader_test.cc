// dlopen-level refusals with real files, and the pure uWSGI-plugin detection.
#include "core/plugin/loader.h"

#include <cstdlib>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::plugin {
namespace {

using ::testing::HasSubstr;

std::string TestPlugin(const std::string& name) {
  const char* dir = std::getenv("KILN_BINARY_DIR");
  return std::string(dir == nullptr ? KILN_TEST_BINARY_DIR : dir) + "/tests/plugins/" + name +
         "_plugin.so";
}

TEST(Loader, OpensAPluginAndReadsItsDescriptor) {
  absl::StatusOr<OpenedLibrary> lib = OpenLibrary(TestPlugin("echo"));
  ASSERT_TRUE(lib.ok()) << lib.status();
  ASSERT_NE(lib->desc, nullptr);
  EXPECT_STREQ(lib->desc->name, "echo");
}

TEST(Loader, MissingFileIsNotFound) {
  absl::StatusOr<OpenedLibrary> lib = OpenLibrary("/nonexistent/dir/x_plugin.so");
  EXPECT_EQ(lib.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(lib.status().message()), HasSubstr("/nonexistent/dir/x_plugin.so"));
}

TEST(Loader, FileWithoutQuerySymbolIsNotAKilnPlugin) {
  absl::StatusOr<OpenedLibrary> lib = OpenLibrary(TestPlugin("missing_symbol"));
  ASSERT_FALSE(lib.ok());
  EXPECT_THAT(std::string(lib.status().message()),
              HasSubstr("is not a kiln plugin (no symbol kiln_plugin_query_v1)"));
}

TEST(Loader, UwsgiPluginGetsItsOwnMessage) {
  absl::StatusOr<OpenedLibrary> lib = OpenLibrary(TestPlugin("python39"));
  ASSERT_FALSE(lib.ok());
  std::string msg(lib.status().message());
  EXPECT_THAT(msg, HasSubstr("is a uWSGI plugin (it exports python39_plugin), not a kiln plugin"));
  EXPECT_THAT(msg, HasSubstr("`plugins = python`"));
}

TEST(Loader, ATextFileIsReportedWithDlerror) {
  absl::StatusOr<OpenedLibrary> lib = OpenLibrary("/etc/hostname");
  ASSERT_FALSE(lib.ok());
  EXPECT_THAT(std::string(lib.status().message()), HasSubstr("/etc/hostname: cannot load:"));
}

TEST(Loader, UwsgiDetectionNeedsTheExportedStem) {
  using namespace std::string_literals;
  EXPECT_TRUE(LooksLikeUwsgiPlugin("x\0python311_plugin\0uwsgi_request\0"s, "python311_plugin"));
  EXPECT_FALSE(LooksLikeUwsgiPlugin("x\0python311_plugin_x\0uwsgi\0"s, "python311_plugin"));
  EXPECT_FALSE(
      LooksLikeUwsgiPlugin("\0python311_plugin\0kiln_plugin_query_v1\0uwsgi"s, "python311_plugin"));
}

TEST(Loader, UwsgiStemSuggestsTheKilnName) {
  EXPECT_EQ(KilnNameForUwsgiStem("python311_plugin"), "python");
  EXPECT_EQ(KilnNameForUwsgiStem("lua_plugin"), "lua");
}

}  // namespace
}  // namespace kiln::plugin
