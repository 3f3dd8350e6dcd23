// Log rotation's pieces: the names rotated files get, which ones log-backupcount removes, and
// the rename that never replaces (or follows) what someone else put at the target.
#include "core/log/rotate.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "absl/status/status.h"
#include "core/log/file_sink.h"
#include "core/log/logger.h"
#include "gtest/gtest.h"
#include "tests/unit/log/log_test_util.h"

namespace kiln::log {
namespace {

class RotateTest : public testing::TempDirTest {
 protected:
  void TearDown() override {
    SetServerSinks({});
    TempDirTest::TearDown();
  }
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
};

TEST(BackupPath, IsTheFileWithUnixSecondsOrTheBackupName) {
  EXPECT_EQ(BackupPath("/l/app.log", false, "", 1700000000, 0), "/l/app.log.1700000000");
  EXPECT_EQ(BackupPath("/l/app.log", false, "", 1700000000, 2), "/l/app.log.1700000000.2");
  // log-backupname is the logto/daemonize file's; other files keep the timestamped name.
  EXPECT_EQ(BackupPath("/l/app.log", true, "/l/app.old", 1700000000, 0), "/l/app.old");
  EXPECT_EQ(BackupPath("/l/req.log", false, "/l/app.old", 1700000000, 0),
            "/l/req.log.1700000000");
}

TEST(BackupsToRemove, KeepsTheNewestRotatedCopiesAndIgnoresOtherNames) {
  std::vector<std::string> entries = {"app.log",       "app.log.300", "app.log.100",
                                      "app.log.200.1", "app.log.200", "app.log.keep",
                                      "app.log.100x",  "other.100",   "app.log.50.x"};
  EXPECT_EQ(BackupsToRemove("/d/app.log", entries, 2),
            (std::vector<std::string>{"app.log.100", "app.log.200"}));
  EXPECT_TRUE(BackupsToRemove("/d/app.log", entries, 4).empty());
  EXPECT_EQ(BackupsToRemove("/d/app.log", entries, 0).size(), 4u);
}

TEST_F(RotateTest, RenamesAndNeverReplacesAnExistingTarget) {
  std::string log = Write("app.log", "current\n");
  std::string taken = Write("app.log.1", "someone's\n");
  absl::Status s = RenameLogFile(log, taken, false, std::nullopt);
  EXPECT_TRUE(absl::IsAlreadyExists(s)) << s;
  EXPECT_EQ(Slurp(log), "current\n");
  EXPECT_EQ(Slurp(taken), "someone's\n");
  ASSERT_TRUE(RenameLogFile(log, dir_ + "/app.log.2", false, std::nullopt).ok());
  EXPECT_EQ(Slurp(dir_ + "/app.log.2"), "current\n");
  EXPECT_NE(::access(log.c_str(), F_OK), 0);
  EXPECT_TRUE(absl::IsNotFound(RenameLogFile(log, dir_ + "/app.log.3", false, std::nullopt)));
}

TEST_F(RotateTest, ABackupNameReplacesOnlyAPreviousBackupOfKilnsOwn) {
  std::string log = Write("app.log", "current\n");
  std::string backup = Write("app.old", "previous backup\n");
  ASSERT_TRUE(RenameLogFile(log, backup, true, std::nullopt).ok());
  EXPECT_EQ(Slurp(backup), "current\n");

  // A symlink planted at the backup name is neither followed nor replaced.
  log = Write("app.log", "current 2\n");
  std::string victim = Write("victim", "precious\n");
  ASSERT_EQ(::unlink(backup.c_str()), 0);
  ASSERT_EQ(::symlink(victim.c_str(), backup.c_str()), 0);
  absl::Status s = RenameLogFile(log, backup, true, std::nullopt);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("symbolic link"), std::string::npos) << s;
  EXPECT_EQ(Slurp(log), "current 2\n");
  EXPECT_EQ(Slurp(victim), "precious\n");
  struct stat st;
  ASSERT_EQ(::lstat(backup.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
}

TEST_F(RotateTest, AFileOfALessPrivilegedUserIsNeitherRenamedNorReplaced) {
  ASSERT_EQ(::geteuid(), 0u) << "the suite runs as root; this checks what root refuses";
  const uid_t nobody = 65534;
  std::string log = Write("app.log", "current\n");
  std::string planted = Write("app.old", "planted\n");
  ASSERT_EQ(::chown(planted.c_str(), nobody, nobody), 0);
  absl::Status s = RenameLogFile(log, planted, true, std::nullopt);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_EQ(Slurp(planted), "planted\n");
  EXPECT_EQ(Slurp(log), "current\n");
  // The service user's own backup may be replaced.
  EXPECT_TRUE(RenameLogFile(log, planted, true, nobody).ok());
  EXPECT_EQ(Slurp(planted), "current\n");

  // And a log path that became someone else's file (or a symlink) is not renamed.
  std::string theirs = Write("theirs.log", "theirs\n");
  ASSERT_EQ(::chown(theirs.c_str(), nobody, nobody), 0);
  s = RenameLogFile(theirs, dir_ + "/theirs.log.1", false, std::nullopt);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("not rotating"), std::string::npos) << s;
  std::string link = dir_ + "/link.log";
  ASSERT_EQ(::symlink(theirs.c_str(), link.c_str()), 0);
  EXPECT_EQ(RenameLogFile(link, dir_ + "/link.log.1", false, std::nullopt).code(),
            absl::StatusCode::kFailedPrecondition);
}

// RotateNow (the master FIFO's `L`) renames every log file of the process and reopens it:
// the next line goes to a new file at the old path.
TEST_F(RotateTest, RotateNowRenamesEachLogFileAndTheNextLineGoesToANewOne) {
  std::string path = dir_ + "/server.log";
  auto sink = FileSink::Open(path, {});
  ASSERT_TRUE(sink.ok()) << sink.status();
  std::vector<std::unique_ptr<Sink>> sinks;
  sinks.push_back(std::move(*sink));
  SetServerSinks(std::move(sinks));
  SetRotation({});
  Log(Level::kInfo, "before");
  EXPECT_EQ(RotateNow(), 1);
  Log(Level::kInfo, "after");
  std::string now = Slurp(path);
  EXPECT_EQ(now.find("before"), std::string::npos) << now;
  EXPECT_NE(now.find("after"), std::string::npos) << now;
  EXPECT_NE(now.find("renamed to " + path + "."), std::string::npos) << now;
}

}  // namespace
}  // namespace kiln::log
