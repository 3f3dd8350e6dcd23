// KILN_FDS encoding across a re-exec.
#include "core/net/inherited_fds.h"

#include <cstdlib>

#include "gtest/gtest.h"

namespace kiln::net {
namespace {

TEST(InheritedFds, EncodesFdsWithTheirAddresses) {
  EXPECT_EQ(EncodeInheritedFds({{3, "/run/a.sock"}, {4, "127.0.0.1:8080"}}),
            "3=/run/a.sock,4=127.0.0.1:8080");
}

TEST(InheritedFds, RoundTripsAddressesWithCommasAndPercents) {
  std::vector<InheritedFd> fds = {{5, "/tmp/a,b%c.sock"}, {6, "@name"}, {7, "[::1]:0"}};
  auto back = DecodeInheritedFds(EncodeInheritedFds(fds));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, fds);
}

TEST(InheritedFds, DecodesAnEmptyValueAsNoFds) {
  auto back = DecodeInheritedFds("");
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->empty());
}

TEST(InheritedFds, RejectsMalformedEntriesNamingThem) {
  for (const char* bad : {"3", "x=/a", "=/a", "3=", "-1=/a", "3=/a%2", "3=/a%zz"}) {
    auto r = DecodeInheritedFds(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(std::string(r.status().message()).find("fd=address"), std::string::npos) << bad;
  }
}

TEST(InheritedFds, RefusesAnFdThatIsNotAListeningSocket) {
  setenv(kInheritedFdsEnv, "0=/tmp/x.sock", 1);
  auto r = TakeInheritedFds();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(std::getenv(kInheritedFdsEnv), nullptr);  // taken: children never see it
}

TEST(InheritedFds, IgnoresSystemdFdsMeantForAnotherProcess) {
  setenv("LISTEN_PID", "1", 1);
  setenv("LISTEN_FDS", "2", 1);
  EXPECT_TRUE(TakeSystemdFds().empty());
  EXPECT_EQ(std::getenv("LISTEN_FDS"), nullptr);
}

}  // namespace
}  // namespace kiln::net
