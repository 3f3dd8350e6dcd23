// The lua plugin's apps and the handles kiln routes requests back with (pure functions).
#include "plugins/lua/mounts.h"

#include "gtest/gtest.h"

namespace kiln::lua {
namespace {

TEST(LuaMounts, ClaimsOnlyLuaTargets) {
  EXPECT_FALSE(IsLuaTarget("app:application"));
  EXPECT_FALSE(IsLuaTarget("wsgi.py"));
  EXPECT_FALSE(IsLuaTarget(".lua"));
  EXPECT_TRUE(IsLuaTarget("apps/hello.lua"));
}

TEST(LuaMounts, HandlesNameTheirAppAndNullIsTheDefaultApp) {
  std::vector<AppSpec> apps = {{"/lua", "lua.lua", "mount"}, {"", "root.lua", "lua"}};
  EXPECT_EQ(AppForHandle(apps, AppHandle(0)), 0u);
  EXPECT_EQ(AppForHandle(apps, AppHandle(1)), 1u);
  EXPECT_EQ(AppForHandle(apps, nullptr), 1u);
  EXPECT_FALSE(AppForHandle(apps, AppHandle(2)));
  std::vector<AppSpec> mounted_only = {{"/lua", "lua.lua", "mount"}};
  EXPECT_FALSE(AppForHandle(mounted_only, nullptr));
}

TEST(LuaMounts, DirNameOfScripts) {
  EXPECT_EQ(DirName("app.lua"), ".");
  EXPECT_EQ(DirName("/srv/app.lua"), "/srv");
  EXPECT_EQ(DirName("/app.lua"), "/");
  EXPECT_EQ(DirName("apps/x/app.lua"), "apps/x");
}

}  // namespace
}  // namespace kiln::lua
