// Every shipped conf/examples/*.ini reads cleanly: no error and no warning from kiln.
#include <dirent.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"

namespace kiln::testing {
namespace {

std::vector<std::string> Examples() {
  std::string dir = SourceDir() + "/conf/examples";
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str()); d != nullptr) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name.size() > 4 && name.ends_with(".ini")) {
        out.push_back(dir + "/" + name);
      }
    }
    closedir(d);
  }
  return out;
}

TEST(ConfExamples, EveryExampleReadsWithoutErrorsOrWarnings) {
  std::vector<std::string> files = Examples();
  ASSERT_GE(files.size(), 5u) << "conf/examples not found (KILN_SOURCE_DIR)";
  for (const std::string& f : files) {
    TempDir dir;
    KilnProcess kiln({"--ini", f, "--print-config"}, dir.File("out.log"));
    ASSERT_TRUE(kiln.Start());
    auto status = kiln.WaitExit(absl::Seconds(10));
    ASSERT_TRUE(status.has_value()) << f;
    EXPECT_EQ(WEXITSTATUS(*status), 0) << f << "\n" << kiln.Log();
    EXPECT_EQ(kiln.Log().find("warning"), std::string::npos) << f << "\n" << kiln.Log();
    EXPECT_EQ(kiln.Log().find("not implemented"), std::string::npos) << f << "\n" << kiln.Log();
  }
}

}  // namespace
}  // namespace kiln::testing
