// The lua plugin's mount values and request routing (pure functions).
#include "plugins/lua/mounts.h"

#include "gtest/gtest.h"

namespace kiln::lua {
namespace {

std::vector<AppSpec> Apps() {
  return {{"", "root.lua", "lua"}, {"/lua", "lua.lua", "mount"}, {"/lua/admin", "a.lua", "mount"}};
}

TEST(LuaMounts, ClaimsOnlyLuaTargets) {
  AppSpec app;
  std::string error;
  EXPECT_EQ(ParseMount("/py=app:application", &app, &error), MountParse::kNotOurs);
  EXPECT_EQ(ParseMount("/py=wsgi.py", &app, &error), MountParse::kNotOurs);
  EXPECT_EQ(ParseMount("no-equals-sign", &app, &error), MountParse::kNotOurs);
  ASSERT_EQ(ParseMount("/lua/ = apps/hello.lua", &app, &error), MountParse::kOurs);
  EXPECT_EQ(app.mountpoint, "/lua");
  EXPECT_EQ(app.file, "apps/hello.lua");
  EXPECT_EQ(app.option, "mount");
}

TEST(LuaMounts, RootMountIsTheDefaultApp) {
  AppSpec app;
  std::string error;
  ASSERT_EQ(ParseMount("/=hello.lua", &app, &error), MountParse::kOurs);
  EXPECT_EQ(app.mountpoint, "");
}

TEST(LuaMounts, RejectsAMountPointWithoutLeadingSlash) {
  AppSpec app;
  std::string error;
  EXPECT_EQ(ParseMount("lua=hello.lua", &app, &error), MountParse::kInvalid);
  EXPECT_NE(error.find("must start with '/'"), std::string::npos) << error;
}

TEST(LuaMounts, PicksTheLongestPrefixOnASlashBoundary) {
  auto apps = Apps();
  auto r = SelectApp(apps, "", "/lua/admin/users");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->app, 2u);
  EXPECT_EQ(r->script_name, "/lua/admin");
  EXPECT_EQ(r->path_info, "/users");
  r = SelectApp(apps, "", "/lua");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->app, 1u);
  EXPECT_EQ(r->path_info, "");
  r = SelectApp(apps, "", "/luax");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->app, 0u);
  EXPECT_EQ(r->path_info, "/luax");
}

TEST(LuaMounts, ScriptNameFromTheFrontEndSelectsItsApp) {
  auto apps = Apps();
  auto r = SelectApp(apps, "/lua/admin", "/users");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->app, 2u);
  EXPECT_EQ(r->script_name, "/lua/admin");
  EXPECT_EQ(r->path_info, "/users");
}

TEST(LuaMounts, NoMatchAndNoDefaultAppIsNoRoute) {
  std::vector<AppSpec> apps = {{"/lua", "lua.lua", "mount"}};
  EXPECT_FALSE(SelectApp(apps, "", "/python"));
  EXPECT_FALSE(SelectApp({}, "", "/"));
}

TEST(LuaMounts, DirNameOfScripts) {
  EXPECT_EQ(DirName("app.lua"), ".");
  EXPECT_EQ(DirName("/srv/app.lua"), "/srv");
  EXPECT_EQ(DirName("/app.lua"), "/");
  EXPECT_EQ(DirName("apps/x/app.lua"), "apps/x");
}

}  // namespace
}  // namespace kiln::lua
