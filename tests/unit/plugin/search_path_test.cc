// Plugin names to files, search order and alias patterns.
#include "core/plugin/search_path.h"

#include <cstdlib>

#include "core/build_info.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::plugin {
namespace {

using ::testing::ElementsAre;

TEST(SearchPath, NameBecomesNamePluginSoInEveryDirectoryInOrder) {
  SearchPath path{{"/a", "/b"}};
  EXPECT_THAT(CandidatePaths(path, "python36"),
              ElementsAre("/a/python36_plugin.so", "/b/python36_plugin.so"));
}

TEST(SearchPath, APathIsTriedAsGiven) {
  SearchPath path{{"/a"}};
  EXPECT_THAT(CandidatePaths(path, "./x/my_plugin.so"), ElementsAre("./x/my_plugin.so"));
  EXPECT_THAT(CandidatePaths(path, "custom.so"), ElementsAre("custom.so"));
}

TEST(SearchPath, DefaultPutsPluginDirsFirstWithoutDuplicates) {
  SearchPath path = SearchPath::Default({"/opt/p/", "/opt/q", "/opt/p"});
  ASSERT_GE(path.dirs.size(), 3u);
  EXPECT_EQ(path.dirs[0], "/opt/p");
  EXPECT_EQ(path.dirs[1], "/opt/q");
  // This test binary runs from the build tree, so the tree's plugin folder comes last.
  EXPECT_EQ(path.dirs.back(), KILN_BUILD_PLUGIN_DIR);
}

TEST(SearchPath, ABinaryInItsBuildTreeSearchesTheTreesPluginsOnly) {
  // /proc/self/exe names the binary with symlinks resolved; so does this path.
  char* real = ::realpath(KILN_BUILD_DIR, nullptr);
  ASSERT_NE(real, nullptr);
  std::string exe = std::string(real) + "/core/kiln";
  ::free(real);
  SearchPath path = SearchPath::ForBinary({"/opt/p"}, exe);
  EXPECT_THAT(path.dirs, ElementsAre("/opt/p", KILN_BUILD_PLUGIN_DIR));
}

TEST(SearchPath, AnInstalledBinaryNeverSearchesTheBuildTree) {
  SearchPath path = SearchPath::ForBinary({}, "/opt/kiln/bin/kiln");
  EXPECT_THAT(path.dirs, ElementsAre(std::string("/opt/kiln/") + KILN_PLUGIN_INSTALL_SUBDIR));
  SearchPath usr = SearchPath::ForBinary({"/srv/p"}, "/usr/bin/kiln");
  EXPECT_THAT(usr.dirs, ElementsAre("/srv/p", std::string("/usr/") + KILN_PLUGIN_INSTALL_SUBDIR));
}

TEST(SearchPath, InBuildTreeMatchesWholePathComponents) {
  EXPECT_TRUE(InBuildTree("/w/build/core/kiln", "/w/build"));
  EXPECT_TRUE(InBuildTree("/w/build/core/kiln", "/w/build/"));
  EXPECT_FALSE(InBuildTree("/w/build-asan/core/kiln", "/w/build"));
  EXPECT_FALSE(InBuildTree("/w/build", "/w/build"));
  EXPECT_FALSE(InBuildTree("/usr/bin/kiln", "/w/build"));
  EXPECT_FALSE(InBuildTree("/usr/bin/kiln", ""));
}

TEST(SearchPath, AliasPatternMatchesLongerNamesOnly) {
  EXPECT_TRUE(AliasMatches("python3*", "python36"));
  EXPECT_TRUE(AliasMatches("python3*", "python311"));
  EXPECT_FALSE(AliasMatches("python3*", "python3"));
  EXPECT_FALSE(AliasMatches("python3*", "python"));
  EXPECT_TRUE(AliasMatches("python3", "python3"));
  EXPECT_FALSE(AliasMatches("python3", "python36"));
}

TEST(SearchPath, NameFromFileStripsDirectoryAndSuffix) {
  EXPECT_EQ(NameFromFile("/usr/lib/kiln/plugins/python_plugin.so"), "python");
  EXPECT_EQ(NameFromFile("libfoo.so"), "");
}

TEST(SearchPath, InstallDirIsBesideTheBinarysPrefix) {
  // The test binary runs from <build>/tests/unit/plugin, so its "prefix" is <build>/tests/unit.
  std::string dir = InstallPluginDir();
  EXPECT_NE(dir.find("/kiln/plugins"), std::string::npos) << dir;
}

}  // namespace
}  // namespace kiln::plugin
