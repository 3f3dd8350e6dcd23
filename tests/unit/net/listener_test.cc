// Listen sockets on real loopback and unix paths: modes, stale files, taken addresses.
#include "core/net/listener.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "gtest/gtest.h"

namespace kiln::net {
namespace {

class ListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kln-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::string cmd = "rm -rf " + dir_;
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  Address Unix(const std::string& name) {
    Address a;
    a.kind = AddressKind::kUnix;
    a.path = dir_ + "/" + name;
    return a;
  }
  std::string dir_;
};

TEST_F(ListenerTest, BindsPortZeroAndReadsBackTheRealPort) {
  auto a = ParseAddress("127.0.0.1:0");
  ASSERT_TRUE(a.ok());
  auto fd = Listen(*a, {});
  ASSERT_TRUE(fd.ok()) << fd.status();
  auto bound = BoundAddress(fd->Get());
  ASSERT_TRUE(bound.ok());
  EXPECT_EQ(bound->host, "127.0.0.1");
  EXPECT_NE(bound->port, 0);
  EXPECT_TRUE(IsListeningSocket(fd->Get()));
  EXPECT_EQ(fcntl(fd->Get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

// TCP sockets defer accept until the first bytes arrive; no-defer-accept (defer_accept
// false) leaves it off, also on a socket that had it set (one inherited from an older kiln).
TEST_F(ListenerTest, DefersAcceptUnlessNoDeferAccept) {
  auto a = ParseAddress("127.0.0.1:0");
  ASSERT_TRUE(a.ok());
  const auto defer_seconds = [](int fd) {
    int value = -1;
    socklen_t len = sizeof(value);
    EXPECT_EQ(getsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &value, &len), 0);
    return value;
  };
  auto deferred = Listen(*a, {});
  ASSERT_TRUE(deferred.ok()) << deferred.status();
  EXPECT_GT(defer_seconds(deferred->Get()), 0);
  ListenOptions off;
  off.defer_accept = false;
  auto plain = Listen(*a, off);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(defer_seconds(plain->Get()), 0);
  DeferAccept(deferred->Get(), false);
  EXPECT_EQ(defer_seconds(deferred->Get()), 0);
}

TEST_F(ListenerTest, NamesTheAddressWhenThePortIsTaken) {
  auto a = ParseAddress("127.0.0.1:0");
  auto first = Listen(*a, {});
  ASSERT_TRUE(first.ok());
  auto taken = BoundAddress(first->Get());
  auto second = Listen(*taken, {});
  ASSERT_FALSE(second.ok());
  EXPECT_NE(std::string(second.status().message()).find(taken->ToString()), std::string::npos);
  EXPECT_NE(std::string(second.status().message()).find("in use"), std::string::npos);
}

TEST_F(ListenerTest, AppliesChmodSocket) {
  ListenOptions o;
  o.mode = 0660;
  auto fd = Listen(Unix("m.sock"), o);
  ASSERT_TRUE(fd.ok()) << fd.status();
  struct stat st;
  ASSERT_EQ(stat((dir_ + "/m.sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
}

// chown-socket and chmod-socket run as root after bind(); a service user who can write the
// socket's directory must not be able to aim them at another file with a symlink.
TEST_F(ListenerTest, ChownAndChmodSocketNeverFollowASymlinkSwappedInAfterBind) {
  ListenOptions o;
  o.mode = 0666;
  o.owner_uid = 65534;
  Address a = Unix("s.sock");
  auto fd = Listen(a, {});
  ASSERT_TRUE(fd.ok()) << fd.status();
  const std::string victim = dir_ + "/victim";
  int v = open(victim.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(v, 0);
  close(v);
  ASSERT_EQ(unlink(a.path.c_str()), 0);
  ASSERT_EQ(symlink(victim.c_str(), a.path.c_str()), 0);
  absl::Status s = ApplySocketOwnership(a, o);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("symbolic link"), std::string::npos) << s;
  struct stat st;
  ASSERT_EQ(stat(victim.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_uid, geteuid());
}

TEST_F(ListenerTest, AppliesChownSocketToTheSocketItBound) {
  ListenOptions o;
  o.owner_uid = 65534;
  o.mode = 0600;
  auto fd = Listen(Unix("o.sock"), o);
  ASSERT_TRUE(fd.ok()) << fd.status();
  struct stat st;
  ASSERT_EQ(lstat((dir_ + "/o.sock").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_uid, 65534u);  // tests run as root
}

TEST_F(ListenerTest, ReplacesAStaleSocketFileNobodyListensOn) {
  Address a = Unix("stale.sock");
  {
    auto fd = Listen(a, {});
    ASSERT_TRUE(fd.ok());
  }  // closed: the file stays behind, as after a crash
  struct stat st;
  ASSERT_EQ(stat(a.path.c_str(), &st), 0);
  auto again = Listen(a, {});
  EXPECT_TRUE(again.ok()) << again.status();
}

TEST_F(ListenerTest, RefusesASocketFileALiveServerListensOn) {
  Address a = Unix("live.sock");
  auto live = Listen(a, {});
  ASSERT_TRUE(live.ok());
  auto second = Listen(a, {});
  ASSERT_FALSE(second.ok());
  std::string msg(second.status().message());
  EXPECT_NE(msg.find(a.path), std::string::npos);
  EXPECT_NE(msg.find("another server"), std::string::npos);
}

TEST_F(ListenerTest, RefusesToReplaceAFileThatIsNotASocket) {
  Address a = Unix("plain");
  int fd = open(a.path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ::close(fd);
  auto r = Listen(a, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message()).find("not a socket"), std::string::npos);
}

TEST_F(ListenerTest, VacuumRemovesOnlyOurSocketFile) {
  Address a = Unix("v.sock");
  auto fd = Listen(a, {});
  ASSERT_TRUE(fd.ok());
  EXPECT_TRUE(VacuumUnixSocket(a, fd->Get()));
  EXPECT_NE(access(a.path.c_str(), F_OK), 0);
  EXPECT_FALSE(VacuumUnixSocket(a, fd->Get()));  // already gone
}

TEST(ParseSocketMode, ReadsABareFlagAs666) {
  EXPECT_EQ(*ParseSocketMode(""), 0666u);
  EXPECT_EQ(*ParseSocketMode("true"), 0666u);
  EXPECT_EQ(*ParseSocketMode("1"), 0666u);
}

TEST(ParseSocketMode, ReadsOctalDigits) {
  EXPECT_EQ(*ParseSocketMode("660"), 0660u);
  EXPECT_EQ(*ParseSocketMode("0600"), 0600u);
}

TEST(ParseSocketMode, RejectsNonOctalText) {
  auto r = ParseSocketMode("rw-rw-rw-");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message()).find("octal"), std::string::npos);
  EXPECT_FALSE(ParseSocketMode("668").ok());
}

}  // namespace
}  // namespace kiln::net
