// Writing spool tasks (core/plugin/spool_enqueue.h): uWSGI's name in the chosen directory,
// mode 0600, `at` as the mtime, `priority` as a digits-only subdirectory, and clear errors.
#include "core/plugin/spool_enqueue.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::plugin {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class SpoolEnqueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kiln-spool-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(mkdir((dir_ + "/a").c_str(), 0700), 0);
    ASSERT_EQ(mkdir((dir_ + "/b").c_str(), 0700), 0);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(SpoolEnqueueTest, WritesUwsgisNameMode0600AndAtAsMtime) {
  auto path = WriteSpoolTask({dir_ + "/a", dir_ + "/b"}, {{"id", "1"}, {"at", "4102444800.5"}},
                             "body");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_THAT(*path, StartsWith(dir_ + "/a/uwsgi_spoolfile_on_"));
  struct stat st;
  ASSERT_EQ(lstat(path->c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_mtime, 4102444800);  // 2100-01-01: the spooler waits for it
  // Nothing else is left in the directory (the hidden temporary was renamed).
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_ + "/a")) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST_F(SpoolEnqueueTest, SpoolerArgumentPicksTheDirectoryAndPriorityASubdirectory) {
  auto path = WriteSpoolTask({dir_ + "/a", dir_ + "/b"},
                             {{"spooler", dir_ + "/b"}, {"priority", "3"}}, "");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_THAT(*path, StartsWith(dir_ + "/b/3/uwsgi_spoolfile_on_"));
}

TEST_F(SpoolEnqueueTest, BadArgumentsAreClearErrors) {
  auto none = WriteSpoolTask({}, {{"id", "1"}}, "");
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("no spooler available"));
  auto unknown = WriteSpoolTask({dir_ + "/a"}, {{"spooler", "/elsewhere"}}, "");
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(), HasSubstr("unable to find spooler \"/elsewhere\""));
  auto traversal = WriteSpoolTask({dir_ + "/a"}, {{"priority", "../../etc"}}, "");
  ASSERT_FALSE(traversal.ok());
  EXPECT_THAT(traversal.status().message(), HasSubstr("is not a number"));
  auto at = WriteSpoolTask({dir_ + "/a"}, {{"at", "soon"}}, "");
  ASSERT_FALSE(at.ok());
  EXPECT_THAT(at.status().message(), HasSubstr("not a unix time"));
}

// A symlink planted under a priority's name is not followed.
TEST_F(SpoolEnqueueTest, PrioritySymlinkIsNotFollowed) {
  ASSERT_EQ(symlink((dir_ + "/b").c_str(), (dir_ + "/a/7").c_str()), 0);
  auto path = WriteSpoolTask({dir_ + "/a"}, {{"priority", "7"}}, "");
  ASSERT_FALSE(path.ok());
  EXPECT_TRUE(std::filesystem::is_empty(dir_ + "/b"));
}

}  // namespace
}  // namespace kiln::plugin
