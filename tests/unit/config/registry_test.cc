// Tests of the option registry, core's table and the text generated from it.
#include <set>

#include "core/config/help.h"
#include "core/config/option_registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::config {
namespace {

using ::testing::HasSubstr;

TEST(OptionRegistry, KnowsTheOptionsRealDeploymentsUseMost) {
  OptionRegistry r = OptionRegistry::WithCoreOptions();
  for (const char* name : {"master",
                           "processes",
                           "workers",
                           "chdir",
                           "socket",
                           "uwsgi-socket",
                           "vacuum",
                           "chmod-socket",
                           "threads",
                           "die-on-term",
                           "http",
                           "harakiri",
                           "gid",
                           "uid",
                           "max-requests",
                           "http-socket",
                           "pidfile",
                           "env",
                           "buffer-size",
                           "logto",
                           "static-map",
                           "daemonize",
                           "disable-logging",
                           "memory-report",
                           "post-buffering",
                           "lazy-apps",
                           "stats",
                           "plugins",
                           "plugin",
                           "need-app",
                           "thunder-lock",
                           "disable-write-exception",
                           "ini",
                           "log-date",
                           "logger",
                           "touch-reload",
                           "log-master",
                           "reload-on-rss",
                           "attach-daemon",
                           "auto-procname",
                           "chown-socket",
                           "harakiri-verbose",
                           "http-timeout",
                           "ignore-sigpipe",
                           "ignore-write-errors",
                           "log-5xx",
                           "log-4xx",
                           "log-format",
                           "logformat",
                           "socket-timeout",
                           "offload-threads",
                           "strict",
                           "worker-reload-mercy",
                           "reload-mercy",
                           "req-logger",
                           "listen",
                           "http-keepalive",
                           "plugin-dir",
                           "plugins-dir",
                           "autoload",
                           "set-placeholder",
                           "set-ph",
                           "set",
                           "procname-prefix",
                           "touch-logreopen",
                           "logfile-chmod",
                           "logfile-chown",
                           "limit-post",
                           "max-worker-lifetime",
                           "min-worker-lifetime",
                           "unenv",
                           "need-plugin",
                           "print"}) {
    EXPECT_NE(r.Find(name), nullptr) << name;
  }
  // Language options belong to their plugins.
  for (const char* name : {"module", "wsgi-file", "callable", "virtualenv", "home", "pythonpath",
                           "single-interpreter", "enable-threads"}) {
    EXPECT_EQ(r.Find(name), nullptr) << name;
  }
  EXPECT_EQ(r.Find("workers"), r.Find("processes"));
  EXPECT_EQ(r.Find("buffer-size")->default_value, "65535");
  EXPECT_EQ(r.Find("worker-reload-mercy")->default_value, "60");
}

TEST(OptionRegistry, DuplicateNameOrAliasNamesBothOwners) {
  OptionRegistry r = OptionRegistry::WithCoreOptions();
  OptionSpec spec;
  spec.name = "workers";
  spec.owner = "python";
  absl::Status s = r.Add(spec);
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(std::string(s.message()),
            "option `workers` of `python` is already declared by `core` (as an alias of "
            "`processes`)");
  OptionSpec mod;
  mod.name = "module";
  mod.owner = "python";
  mod.aliases = {"wsgi"};
  EXPECT_TRUE(r.Add(mod).ok());
  OptionSpec lua;
  lua.name = "lua-module";
  lua.owner = "lua";
  lua.aliases = {"wsgi"};
  EXPECT_THAT(std::string(r.Add(lua).message()), HasSubstr("already declared by `python`"));
}

TEST(OptionRegistry, RejectsADefaultThatDoesNotParse) {
  OptionRegistry r;
  OptionSpec spec;
  spec.name = "py-workers";
  spec.kind = OptionKind::kNumber;
  spec.default_value = "many";
  spec.owner = "python";
  EXPECT_THAT(std::string(r.Add(spec).message()), HasSubstr("default of option `py-workers`"));
}

TEST(OptionRegistry, SuggestsTheNearestName) {
  OptionRegistry r = OptionRegistry::WithCoreOptions();
  EXPECT_EQ(r.Suggest("vaccum"), "vacuum");
  EXPECT_EQ(r.Suggest("proceses"), "processes");
  EXPECT_EQ(r.Suggest("chmod-sock"), "chmod-socket");
  EXPECT_EQ(r.Suggest("qqqqqqqqqqqq"), "");
}

TEST(OptionRegistry, AllIsSortedByOwnerCoreFirst) {
  OptionRegistry r = OptionRegistry::WithCoreOptions();
  OptionSpec a;
  a.name = "a-lua";
  a.owner = "lua";
  ASSERT_TRUE(r.Add(a).ok());
  auto all = r.All();
  EXPECT_EQ(all.front()->owner, "core");
  EXPECT_EQ(all.back()->owner, "lua");
  for (size_t i = 1; i + 1 < all.size(); ++i) {
    if (all[i]->owner == all[i - 1]->owner) {
      EXPECT_LT(all[i - 1]->name, all[i]->name);
    }
  }
  EXPECT_THAT(r.Owners(), ::testing::ElementsAre("core", "lua"));
}

TEST(Help, GroupsOptionsByOwnerWithKindAndDefault) {
  OptionRegistry r = OptionRegistry::WithCoreOptions();
  OptionSpec mod;
  mod.name = "module";
  mod.owner = "python";
  mod.help = "Load this WSGI module.";
  ASSERT_TRUE(r.Add(mod).ok());
  OptionSpec later;
  later.name = "py-later";
  later.owner = "python";
  later.kind = OptionKind::kNumber;
  later.default_value = "3";
  later.state = OptionState::kPlanned;
  later.aliases = {"py-soon"};
  later.help = "Not | built.";
  ASSERT_TRUE(r.Add(later).ok());
  std::string help = HelpText(r);
  EXPECT_THAT(help, HasSubstr("core options:\n"));
  EXPECT_THAT(help, HasSubstr("plugin python options:\n  --module VALUE"));
  EXPECT_THAT(help, HasSubstr("--processes N"));
  EXPECT_THAT(help, HasSubstr("Not | built. (number, default 3, alias py-soon, not implemented "
                              "yet)"));
  std::string md = OptionsMarkdown(r);
  EXPECT_THAT(md, HasSubstr("## plugin `python`"));
  EXPECT_THAT(md, HasSubstr("| `buffer-size` | size | `65535` | core |"));
  EXPECT_THAT(md, HasSubstr("| `strict` | flag | `false` | core | implemented |"));
  EXPECT_THAT(md, HasSubstr("| `py-later`<br>`py-soon` | number | `3` | python | planned | "
                            "Not \\| built. |"));
  EXPECT_THAT(md, HasSubstr("`processes`<br>`workers`"));
}

}  // namespace
}  // namespace kiln::config
