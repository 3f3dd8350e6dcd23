// kiln's one router (core/plugin/router.h): every app choice uWSGI 2.0 makes, on strings.
#include "core/plugin/router.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace kiln::plugin {
namespace {

// Plugins as the router knows them: pointers it hands back, never calls.
LoadedPlugin* Plugin(uintptr_t n) { return reinterpret_cast<LoadedPlugin*>(n); }
LoadedPlugin* const kPython = Plugin(0x10);
LoadedPlugin* const kLua = Plugin(0x20);
void* App(uintptr_t n) { return reinterpret_cast<void*>(n); }

Router Mounted(bool manage) {
  Router r;
  r.set_manage_script_name(manage);
  EXPECT_TRUE(r.Add(*ParseMountEntry("/foo=foo:app"), kPython, App(1)).ok());
  EXPECT_TRUE(r.Add(*ParseMountEntry("/foobis/=foobis:app"), kPython, App(2)).ok());
  EXPECT_TRUE(r.Add(*ParseMountEntry("/foo/deeper=deep.lua"), kLua, App(3)).ok());
  return r;
}

TEST(ParseMountEntry, ChecksAndNormalises) {
  auto m = ParseMountEntry("/lua/=app.lua");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->point, "/lua");
  EXPECT_EQ(m->target, "app.lua");
  EXPECT_EQ(ParseMountEntry("/=app.lua")->point, "/");
  EXPECT_EQ(ParseMountEntry("///=app.lua")->point, "/");
  for (const char* bad : {"lua=app.lua", "/lua", "=app.lua", "/lua="}) {
    auto r = ParseMountEntry(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find(bad), std::string_view::npos) << r.status();
  }
}

TEST(Router, TheSameMountPointTwiceIsRefusedNamingBoth) {
  Router r;
  ASSERT_TRUE(r.Add(*ParseMountEntry("/x=a.py"), kPython, nullptr).ok());
  absl::Status st = r.Add(*ParseMountEntry("/x/=b.lua"), kLua, nullptr);
  EXPECT_EQ(st.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(st.message().find("/x=b.lua"), std::string_view::npos) << st;
  EXPECT_NE(st.message().find("/x=a.py"), std::string_view::npos) << st;
  EXPECT_EQ(r.size(), 1u);
}

// uWSGI's t/runner test_mountpoints: longest prefix on a '/' boundary, trailing '/' of a
// mount ignored, near misses go to the default app.
TEST(Router, ManageScriptNamePicksTheLongestPrefixAndSplits) {
  Router r = Mounted(true);
  Route a = r.Resolve(std::nullopt, "/foo/deeper/x", kPython);
  EXPECT_EQ(a.plugin, kLua);
  EXPECT_EQ(a.app, App(3));
  EXPECT_TRUE(a.split);
  EXPECT_EQ(a.script_name, "/foo/deeper");
  EXPECT_EQ(a.path_info, "/x");
  Route b = r.Resolve(std::nullopt, "/foobis", kLua);
  EXPECT_EQ(b.plugin, kPython);
  EXPECT_EQ(b.app, App(2));
  EXPECT_EQ(b.script_name, "/foobis");
  EXPECT_EQ(b.path_info, "");
  for (const char* near_miss : {"/fooo", "/foobiss/x", "/", "/fo"}) {
    Route c = r.Resolve(std::nullopt, near_miss, kPython);
    EXPECT_EQ(c.plugin, kPython) << near_miss;
    EXPECT_EQ(c.app, nullptr) << near_miss;
    EXPECT_FALSE(c.split) << near_miss;
    EXPECT_FALSE(c.by_mount) << near_miss;
  }
}

TEST(Router, WithoutManageScriptNameOnlyScriptNameSelectsAMount) {
  Router r = Mounted(false);
  Route a = r.Resolve(std::nullopt, "/foo/deeper/x", kPython);
  EXPECT_EQ(a.plugin, kPython);
  EXPECT_EQ(a.app, nullptr);
  EXPECT_FALSE(a.split);
  Route b = r.Resolve("/foo/deeper", "/x", kPython);
  EXPECT_EQ(b.plugin, kLua);
  EXPECT_EQ(b.app, App(3));
  EXPECT_TRUE(b.by_mount);
  EXPECT_FALSE(b.split);
  Route c = r.Resolve("/foobis/", "/x", kLua);  // a trailing '/' is ignored
  EXPECT_EQ(c.plugin, kPython);
  EXPECT_EQ(c.app, App(2));
  Route d = r.Resolve("/nowhere", "/x", kLua);  // no match: the modifier1's default app
  EXPECT_EQ(d.plugin, kLua);
  EXPECT_EQ(d.app, nullptr);
}

TEST(Router, ScriptNameMatchesWhenPathInfoMatchesNothing) {
  Router r = Mounted(true);
  Route a = r.Resolve("/foobis", "/x", kLua);
  EXPECT_EQ(a.plugin, kPython);
  EXPECT_EQ(a.app, App(2));
  EXPECT_FALSE(a.split);
}

TEST(Router, TheRootMountIsTheDefaultAppOfItsPlugin) {
  Router r;
  r.set_manage_script_name(true);
  ASSERT_TRUE(r.Add(*ParseMountEntry("/=root.lua"), kLua, App(7)).ok());
  Route a = r.Resolve(std::nullopt, "/anything", kLua);
  EXPECT_EQ(a.plugin, kLua);
  EXPECT_EQ(a.app, App(7));
  EXPECT_FALSE(a.split);
  Route b = r.Resolve(std::nullopt, "/anything", kPython);  // modifier1 0: Python's own
  EXPECT_EQ(b.plugin, kPython);
  EXPECT_EQ(b.app, nullptr);
}

TEST(Router, NothingServesAnUnclaimedModifier1WithoutAMount) {
  Router r = Mounted(true);
  EXPECT_EQ(r.Resolve(std::nullopt, "/x", nullptr).plugin, nullptr);
  EXPECT_EQ(r.Resolve("/foo", "/x", nullptr).plugin, kPython);
}


// no-default-app (uWSGI's uwsgi_get_app_id without the default-app fallback): a SCRIPT_NAME
// no mount point matches is refused; the ids uWSGI still matches exactly are served.
TEST(Router, NoDefaultAppRefusesWhatNoMountPointMatches) {
  Router r = Mounted(true);
  r.set_no_default_app(true);
  Route miss = r.Resolve("/nowhere", "/x", kPython);
  EXPECT_TRUE(miss.refused);
  EXPECT_EQ(miss.plugin, nullptr);
  Route module = r.Resolve(std::nullopt, "/foox", kPython);  // id '' is the module app's
  EXPECT_FALSE(module.refused);
  EXPECT_FALSE(module.unmatched);
  EXPECT_TRUE(miss.unmatched);
  EXPECT_EQ(r.Resolve(std::nullopt, "/foo/y", kPython).app, App(1));
  EXPECT_EQ(r.Resolve("/foobis", "/x", kPython).app, App(2));
  EXPECT_FALSE(r.Resolve("/x", "/", nullptr).refused);  // no plugin: unavailable modifier
  Router root;
  root.set_no_default_app(true);
  ASSERT_TRUE(root.Add(*ParseMountEntry("/=root.lua"), kLua, App(7)).ok());
  EXPECT_TRUE(root.Resolve(std::nullopt, "/", kLua).refused);  // id '' is not '/'
  Route slash = root.Resolve("/", "/", kLua);
  EXPECT_FALSE(slash.refused);
  EXPECT_EQ(slash.app, App(7));
}

TEST(ParseMountEntry, VhostMountsNameTheirHost) {
  auto m = ParseMountEntry("a.test|/api/=api:app", true);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->host, "a.test");
  EXPECT_EQ(m->point, "/api");
  EXPECT_EQ(MountPointName(*m), "a.test|/api");
  auto root = ParseMountEntry("b.test|=b.py", true);
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(root->point, "/");
  EXPECT_EQ(MountPointName(*root), "b.test|");
  for (const char* bad : {"/api=api:app", "|/x=a.py", "a.test|x=a.py", "a.test|/x="}) {
    auto r = ParseMountEntry(bad, true);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("host|/prefix"), std::string_view::npos) << r.status();
  }
  auto off = ParseMountEntry("a.test|/x=a.py");
  ASSERT_FALSE(off.ok());
  EXPECT_NE(off.status().message().find("vhost = true"), std::string_view::npos);
}

TEST(Router, VhostMatchesTheHostThenTheScriptName) {
  Router r;
  r.set_vhost(true);
  r.set_manage_script_name(true);
  ASSERT_TRUE(r.Add(*ParseMountEntry("a.test|=a:app", true), kPython, App(1)).ok());
  ASSERT_TRUE(r.Add(*ParseMountEntry("b.test|=b:app", true), kPython, App(2)).ok());
  ASSERT_TRUE(r.Add(*ParseMountEntry("b.test|/lua=b.lua", true), kLua, App(3)).ok());
  EXPECT_EQ(r.Resolve(std::nullopt, "/x", kPython, "a.test").app, App(1));
  EXPECT_EQ(r.Resolve(std::nullopt, "/x", kPython, "B.Test").app, App(2));
  Route lua = r.Resolve(std::nullopt, "/lua/x", kPython, "b.test");
  EXPECT_EQ(lua.app, App(3));
  EXPECT_EQ(lua.script_name, "/lua");
  EXPECT_EQ(r.Resolve(std::nullopt, "/lua/x", kPython, "a.test").app, App(1));  // a's root
  EXPECT_EQ(r.Resolve("/lua", "/x", kPython, "a.test").app, nullptr);  // nothing: default
  Route other = r.Resolve(std::nullopt, "/", kPython, "c.test");
  EXPECT_EQ(other.plugin, kPython);
  EXPECT_EQ(other.app, nullptr);
  EXPECT_FALSE(other.by_mount);
  EXPECT_TRUE(other.unmatched);  // uWSGI would try request variables here, kiln does not
  EXPECT_EQ(r.Add(*ParseMountEntry("A.TEST|/=again:app", true), kPython, App(4)).code(),
            absl::StatusCode::kAlreadyExists);
  r.set_no_default_app(true);  // the default app's id '' never matches HOST|SCRIPT_NAME
  EXPECT_TRUE(r.Resolve(std::nullopt, "/", kPython, "c.test").refused);
  EXPECT_EQ(r.Resolve(std::nullopt, "/", kPython, "a.test").app, App(1));
}

}  // namespace
}  // namespace kiln::plugin
