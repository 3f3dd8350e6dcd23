// The test suite cannot pass a broken build by skipping: every GTEST_SKIP under tests/ must
// give one of the reasons below, none of which is a missing tool, plugin or package. What the
// README's `./dev deps` installs (nginx, uWSGI, LuaJIT, lua-wsapi, python3) is part of the build,
// so a test that needs it fails without it (tests/lib/kiln_process.h: MissingTool).
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

// Reasons that describe the machine the suite runs on rather than something it should have
// installed: privileges (CI runs as root, as `./dev test` does) and a file a sample config
// names outside the tree.
constexpr const char* kAllowedReasons[] = {"needs root", "exists on this machine"};

std::string SourceDir() {
  const char* s = std::getenv("KILN_SOURCE_DIR");
  return s != nullptr ? s : ".";
}

TEST(TestSuite, SkipsOnlyForPrivilegesNeverForAMissingPiece) {
  const fs::path tests = fs::path(SourceDir()) / "tests";
  ASSERT_TRUE(fs::is_directory(tests)) << tests;
  const std::string self = fs::path(__FILE__).filename();
  std::vector<std::string> offenders;
  int files = 0;
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(tests)) {
    const std::string ext = e.path().extension();
    if (!e.is_regular_file() || (ext != ".cc" && ext != ".h" && ext != ".c")) continue;
    if (e.path().filename() == self) continue;
    ++files;
    std::ifstream in(e.path());
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      if (line.find("GTEST_SKIP") == std::string::npos) continue;
      bool allowed = false;
      for (const char* reason : kAllowedReasons) allowed |= line.find(reason) != std::string::npos;
      if (!allowed) {
        offenders.push_back(fs::relative(e.path(), tests.parent_path()).string() + ":" +
                            std::to_string(n) + ": " + line);
      }
    }
  }
  EXPECT_GT(files, 50) << "the scan found almost no test sources under " << tests;
  std::ostringstream list;
  for (const std::string& o : offenders) list << "\n  " << o;
  EXPECT_TRUE(offenders.empty())
      << "a test skips for something other than privileges; a missing tool or plugin must fail "
         "the test (ASSERT_EQ(MissingTool(path, package), \"\")), not skip it:"
      << list.str();
}

}  // namespace
}  // namespace kiln::testing
