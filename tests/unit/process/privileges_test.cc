// User and group resolution for uid/gid/chown-socket.
#include "core/process/privileges.h"

#include "gtest/gtest.h"

namespace kiln::process {
namespace {

TEST(ResolveUser, FindsNobodyByNameAndNumber) {
  auto byname = ResolveUser("nobody");
  ASSERT_TRUE(byname.ok());
  EXPECT_EQ(byname->uid, 65534u);
  auto bynum = ResolveUser("65534");
  ASSERT_TRUE(bynum.ok());
  EXPECT_EQ(bynum->name, "nobody");
  EXPECT_EQ(bynum->primary_gid, byname->primary_gid);
}

TEST(ResolveUser, NamesAMissingUser) {
  auto r = ResolveUser("no-such-kiln-user");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message()).find("`no-such-kiln-user`"), std::string::npos);
}

TEST(ResolveOwnership, ReadsUserAndGroup) {
  auto o = ResolveOwnership("nobody:nogroup");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(*o->uid, 65534u);
  EXPECT_EQ(*o->gid, 65534u);
  auto only_user = ResolveOwnership("nobody");
  ASSERT_TRUE(only_user.ok());
  EXPECT_FALSE(only_user->gid.has_value());
  EXPECT_FALSE(ResolveOwnership(":").ok());
  EXPECT_FALSE(ResolveOwnership("nobody:no-such-kiln-group").ok());
}

TEST(PlanPrivilegeDrop, PlansNothingWithoutUidOrGid) {
  auto plan = PlanPrivilegeDrop("", "");
  ASSERT_TRUE(plan.ok());
  auto lines = DropPrivileges(*plan);
  ASSERT_TRUE(lines.ok());
  EXPECT_TRUE(lines->empty());
}

}  // namespace
}  // namespace kiln::process
