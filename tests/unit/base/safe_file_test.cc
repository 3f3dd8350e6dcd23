// The root-safe file helpers: what OpenAppendFile refuses (a final symlink, a FIFO, a file of
// another user, a hard-linked root file) and leaves untouched, what it gives to the service
// user, and ReplaceFile / ReadRegularFile never following a planted link.
#include "core/base/safe_file.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::base {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr uid_t kNobody = 65534;

class SafeFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kiln-safe-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  // A root-only file standing for /etc/shadow: content "secret\n", mode 0600.
  std::string Secret() {
    std::string p = Path("secret");
    std::ofstream(p) << "secret\n";
    EXPECT_EQ(::chmod(p.c_str(), 0600), 0);
    return p;
  }

  static std::string Read(const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  static struct stat Stat(const std::string& p) {
    struct stat st {};
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
    return st;
  }

  std::string dir_;
};

TEST_F(SafeFileTest, CreatesWithTheExactModeAndGivesItToTheServiceUser) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root to chown: the suite runs as root, as CI does";
  mode_t old = ::umask(0077);
  auto f = OpenAppendFile(Path("a.log"), {.mode = 0640, .uid = kNobody, .gid = kNobody});
  ::umask(old);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(f->created);
  struct stat st = Stat(Path("a.log"));
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_uid, kNobody);
  EXPECT_EQ(st.st_gid, kNobody);
  // The descriptor is a plain blocking O_APPEND one.
  int fl = ::fcntl(f->fd.Get(), F_GETFL);
  EXPECT_TRUE(fl & O_APPEND);
  EXPECT_FALSE(fl & O_NONBLOCK);
}

TEST_F(SafeFileTest, RefusesASymlinkAndLeavesItsTargetUntouched) {
  std::string secret = Secret();
  struct stat before = Stat(secret);
  ASSERT_EQ(::symlink(secret.c_str(), Path("kiln.log").c_str()), 0);
  auto f = OpenAppendFile(Path("kiln.log"), {.uid = kNobody, .gid = kNobody});
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(std::string(f.status().message()),
              StartsWith("refusing to open " + Path("kiln.log") + ": it is a symbolic link"));
  struct stat after = Stat(secret);
  EXPECT_EQ(Read(secret), "secret\n");
  EXPECT_EQ(after.st_uid, before.st_uid);
  EXPECT_EQ(after.st_gid, before.st_gid);
  EXPECT_EQ(after.st_mode, before.st_mode);
}

TEST_F(SafeFileTest, RefusesADanglingSymlinkWithoutCreatingItsTarget) {
  ASSERT_EQ(::symlink(Path("made-by-kiln").c_str(), Path("kiln.log").c_str()), 0);
  auto f = OpenAppendFile(Path("kiln.log"), {});
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(f.status().message(), HasSubstr("it is a symbolic link"));
  EXPECT_FALSE(std::filesystem::exists(Path("made-by-kiln")));
}

TEST_F(SafeFileTest, RefusesAFifoWithoutBlockingWithOrWithoutAReader) {
  ASSERT_EQ(::mkfifo(Path("fifo").c_str(), 0666), 0);
  auto f = OpenAppendFile(Path("fifo"), {});
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(f.status().message(), HasSubstr("it is a FIFO, not a regular file"));
  int reader = ::open(Path("fifo").c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  f = OpenAppendFile(Path("fifo"), {});
  ::close(reader);
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(f.status().message(), HasSubstr("it is a FIFO, not a regular file"));
}

TEST_F(SafeFileTest, RefusesADirectory) {
  ASSERT_EQ(::mkdir(Path("d").c_str(), 0755), 0);
  auto f = OpenAppendFile(Path("d"), {});
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(f.status().message(), HasSubstr("refusing to open " + Path("d")));
}

TEST_F(SafeFileTest, RefusesAFileOfAnotherUser) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root to chown: the suite runs as root, as CI does";
  std::string p = Path("other.log");
  std::ofstream(p) << "theirs\n";
  ASSERT_EQ(::chown(p.c_str(), 4321, 4321), 0);
  auto f = OpenAppendFile(p, {.uid = kNobody, .gid = kNobody});
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().message(),
            "refusing to open " + p +
                ": it is owned by uid 4321, but only root or the service user (uid 65534) may "
                "own a file kiln writes");
  EXPECT_EQ(Read(p), "theirs\n");
  EXPECT_EQ(Stat(p).st_uid, 4321u);
}

TEST_F(SafeFileTest, RefusesAHardLinkToARootFile) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root to own the file: the suite runs as root, as CI does";
  std::string secret = Secret();
  ASSERT_EQ(::link(secret.c_str(), Path("kiln.log").c_str()), 0);
  auto f = OpenAppendFile(Path("kiln.log"), {.uid = kNobody, .gid = kNobody});
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(f.status().message(), HasSubstr("it is owned by uid 0 and has 2 hard links"));
  EXPECT_EQ(Read(secret), "secret\n");
  EXPECT_EQ(Stat(secret).st_uid, 0u);
}

TEST_F(SafeFileTest, KeepsTheOwnerOfAnExistingRootFile) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root to own the file: the suite runs as root, as CI does";
  std::string p = Path("kiln.log");
  std::ofstream(p) << "old\n";
  auto f = OpenAppendFile(p, {.uid = kNobody, .gid = kNobody});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_FALSE(f->created);
  ASSERT_EQ(::write(f->fd.Get(), "new\n", 4), 4);
  EXPECT_EQ(Read(p), "old\nnew\n");
  EXPECT_EQ(Stat(p).st_uid, 0u);  // not given away: kiln did not create it
}

TEST_F(SafeFileTest, AcceptsAHardLinkedFileOfTheServiceUser) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root to chown: the suite runs as root, as CI does";
  std::string p = Path("kiln.log");
  std::ofstream(p) << "";
  ASSERT_EQ(::chown(p.c_str(), kNobody, kNobody), 0);
  ASSERT_EQ(::link(p.c_str(), Path("other-name").c_str()), 0);
  auto f = OpenAppendFile(p, {.uid = kNobody, .gid = kNobody});
  EXPECT_TRUE(f.ok()) << f.status();
}

TEST_F(SafeFileTest, ReplaceFileReplacesASymlinkNotItsTarget) {
  std::string secret = Secret();
  ASSERT_EQ(::symlink(secret.c_str(), Path("server.pid").c_str()), 0);
  ASSERT_TRUE(ReplaceFile(Path("server.pid"), "42\n", 0644).ok());
  EXPECT_EQ(Read(secret), "secret\n");
  struct stat st = Stat(Path("server.pid"));
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_EQ(Read(Path("server.pid")), "42\n");
}

TEST_F(SafeFileTest, ReplaceFileNeverOpensAPlantedTemporary) {
  std::string secret = Secret();
  ASSERT_EQ(::symlink(secret.c_str(), Path("server.pid.tmp").c_str()), 0);
  ASSERT_TRUE(ReplaceFile(Path("server.pid"), "42\n", 0644).ok());
  EXPECT_EQ(Read(secret), "secret\n");
  EXPECT_EQ(Read(Path("server.pid")), "42\n");
  // Only what was there plus the pidfile: no temporary left behind.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_)) ++entries;
  EXPECT_EQ(entries, 3);
}

TEST_F(SafeFileTest, ReadRegularFileRefusesASymlink) {
  std::string secret = Secret();
  ASSERT_EQ(::symlink(secret.c_str(), Path("server.pid").c_str()), 0);
  auto text = ReadRegularFile(Path("server.pid"), 31);
  ASSERT_FALSE(text.ok());
  EXPECT_THAT(text.status().message(), HasSubstr("it is a symbolic link"));
  std::ofstream(Path("real")) << "7\n";
  text = ReadRegularFile(Path("real"), 31);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "7\n");
}

TEST_F(SafeFileTest, CheckExistingFileRulesOnAStat) {
  struct stat st {};
  st.st_mode = S_IFREG | 0640;
  st.st_nlink = 1;
  st.st_uid = 0;
  EXPECT_TRUE(CheckExistingFile("/x", st, kNobody, 0).ok());
  st.st_uid = kNobody;
  st.st_nlink = 3;
  EXPECT_TRUE(CheckExistingFile("/x", st, kNobody, 0).ok());
  // No service user: only root (or kiln's own euid) may own it.
  EXPECT_EQ(CheckExistingFile("/x", st, std::nullopt, 0).message(),
            "refusing to open /x: it is owned by uid 65534, but only root may own a file kiln "
            "writes as root");
  // Not root, kiln's own user is the service user, hard links and all.
  st.st_uid = 1000;
  st.st_nlink = 2;
  EXPECT_TRUE(CheckExistingFile("/x", st, std::nullopt, 1000).ok());
  st.st_uid = 0;
  EXPECT_THAT(CheckExistingFile("/x", st, std::nullopt, 0).message(),
              HasSubstr("it is owned by uid 0 and has 2 hard links"));
  st.st_mode = S_IFCHR | 0666;
  EXPECT_THAT(CheckExistingFile("/x", st, std::nullopt, 1000).message(),
              HasSubstr("it is a character device, not a regular file"));
}

}  // namespace
}  // namespace kiln::base
