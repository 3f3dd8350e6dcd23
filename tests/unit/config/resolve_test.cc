// Tests of Resolve and the typed Config: kinds, defaults, placeholders, strict mode, unknown
// options and plugin-owned options.
#include <string>

#include "core/config/config.h"
#include "core/config/help.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/config/test_util.h"

namespace kiln::config {
namespace {

using ::testing::AnyOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using testing::FixedHost;
using ::testing::HasSubstr;
using testing::Messages;
using ::testing::Not;
using testing::TempDir;

class ResolveTest : public ::testing::Test {
 protected:
  absl::StatusOr<Config> Load(const std::string& ini_body, std::vector<std::string> extra = {},
                              ProviderLookup providers = nullptr,
                              OptionSuggester suggest = nullptr) {
    std::vector<std::string> args;
    if (!ini_body.empty()) args.push_back(dir_.Write("app.ini", "[uwsgi]\n" + ini_body));
    args.insert(args.end(), extra.begin(), extra.end());
    auto raw = ReadConfig(args, registry_, diag_, host_);
    if (!raw.ok()) return raw.status();
    return Resolve(*raw, registry_, providers, diag_, suggest);
  }
  std::string Ini() const { return dir_.File("app.ini"); }

  TempDir dir_;
  FixedHost host_;
  OptionRegistry registry_ = OptionRegistry::WithCoreOptions();
  Diagnostics diag_;
};

TEST_F(ResolveTest, TypedGettersReadValuesAndDefaults) {
  auto c = Load(
      "master\nprocesses = 16\nharakiri = 30\nbuffer-size = 32k\nreload-on-rss = 200\n"
      "chdir = /srv/app\nsocket = /a.sock\nsocket = :3031\nplugins = python3, logfile\n"
      "plugin = lua\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->GetFlag("master"));
  EXPECT_TRUE(c->Has("master"));
  EXPECT_EQ(c->GetNumber("processes"), 16);
  EXPECT_EQ(c->GetNumber("workers"), 16);  // alias
  EXPECT_EQ(c->GetDuration("harakiri"), absl::Seconds(30));
  EXPECT_EQ(c->GetSize("buffer-size"), 32768u);
  EXPECT_EQ(c->GetSize("reload-on-rss"), 200u << 20);
  EXPECT_EQ(c->GetString("chdir"), "/srv/app");
  EXPECT_THAT(c->GetList("socket"), ElementsAre("/a.sock", ":3031"));
  EXPECT_THAT(c->GetList("plugins"), ElementsAre("python3", "logfile", "lua"));
  // Defaults.
  EXPECT_FALSE(c->Has("threads"));
  EXPECT_EQ(c->GetNumber("threads"), 1);
  EXPECT_EQ(c->GetNumber("listen"), 100);
  EXPECT_TRUE(c->GetFlag("need-app"));
  EXPECT_TRUE(c->GetFlag("die-on-term"));
  EXPECT_FALSE(c->GetFlag("vacuum"));
  EXPECT_EQ(c->GetDuration("worker-reload-mercy"), absl::Seconds(60));
  EXPECT_EQ(c->GetString("uid"), "");
  EXPECT_TRUE(c->GetList("http-socket").empty());
}

TEST_F(ResolveTest, BufferSizeDefaultsTo65535) {
  auto c = Load("master\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->GetSize("buffer-size"), 65535u);
}

TEST_F(ResolveTest, CommandLineOverridesTheFile) {
  auto c = Load("processes = 2\n", {"--processes", "4"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->GetNumber("processes"), 4);
  ASSERT_NE(c->Where("processes"), nullptr);
  EXPECT_TRUE(c->Where("processes")->from_cli);
}

TEST_F(ResolveTest, WhereNamesTheLastEntry) {
  auto c = Load("processes = 2\nmaster\nprocesses = 3\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->Where("processes")->line, 4);
  EXPECT_EQ(c->Where("threads"), nullptr);
}

TEST_F(ResolveTest, BadValueNamesFileLineOptionAndKind) {
  auto c = Load("master\nharakiri = 3Os\n");
  EXPECT_EQ(std::string(c.status().message()), "option `harakiri` in " + Ini() +
                                                   ":3: `3Os` is not a number of seconds (expected "
                                                   "e.g. 30, 500ms, 5m)");
}

TEST_F(ResolveTest, LocateAddsTheFileAndLineToAnOptionError) {
  auto c = Load("master\nthreads = 0\n", {"--processes", "0"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(std::string(c->Locate(absl::InvalidArgumentError(
                                      "option `threads = 0`: expected 1 to 1024"))
                            .message()),
            "option `threads = 0` in " + Ini() + ":3: expected 1 to 1024");
  // Set on the command line, or not an option error: unchanged.
  EXPECT_EQ(std::string(c->Locate(absl::InvalidArgumentError("option `processes = 0`: no"))
                            .message()),
            "option `processes = 0`: no");
  EXPECT_EQ(std::string(c->Locate(absl::InvalidArgumentError("bind: no")).message()), "bind: no");
  EXPECT_TRUE(c->Locate(absl::OkStatus()).ok());
}

TEST_F(ResolveTest, TypoPlaceholderWarnsWithSuggestion) {
  auto c = Load("vaccum = true\nchmod-sock = 666\nmaximum-requests = 10\nmy-setting = 1\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(Messages(diag_),
              ElementsAre("kiln: warning: " + Ini() +
                              ":2: `vaccum` is not an option (did you mean `vacuum`?); kept as a "
                              "placeholder",
                          HasSubstr(":3: `chmod-sock` is not an option (did you mean "
                                    "`chmod-socket`?)"),
                          HasSubstr(":4: `maximum-requests` is not an option"),
                          HasSubstr(":5: `my-setting` is not an option; kept as a placeholder")));
}

TEST_F(ResolveTest, StrayKeysNameTheNearestOptionOfAnyInstalledPlugin) {
  // As PluginSet::Suggester answers with the python plugin installed but not loaded.
  OptionSuggester suggest = [](std::string_view key) -> std::string {
    return key == "moduel" ? "`module` (python plugin)" : "";
  };
  auto c =
      Load("moduel = app:app\nvaccum = true\nbase = /srv\nchdir = %(base)\n", {}, nullptr, suggest);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(Messages(diag_),
              ElementsAre(HasSubstr(":2: `moduel` is not an option (did you mean `module` "
                                    "(python plugin)?); kept as a placeholder"),
                          HasSubstr(":3: `vaccum` is not an option (did you mean `vacuum`?)")));
  // What a refusal to start with no application repeats; `base` is a placeholder in use.
  EXPECT_THAT(c->StrayKeys(),
              ElementsAre(Ini() + ":2: `moduel` is not an option; did you mean `module` (python "
                                  "plugin)?",
                          Ini() + ":3: `vaccum` is not an option; did you mean `vacuum`?"));
}

TEST_F(ResolveTest, ReferencedPlaceholderDoesNotWarn) {
  auto c = Load("base = /srv\nchdir = %(base)\nbase = /other\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(diag_.Count(Severity::kWarning), 0u) << Messages(diag_)[0];
  EXPECT_EQ(c->GetString("chdir"), "/srv");
  EXPECT_EQ(c->entries().size(), 3u);
}

TEST_F(ResolveTest, StrictTurnsWarningsIntoErrors) {
  auto c = Load("strict = true\nvaccum = true\n");
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("strict = true: 1 configuration "
                                                           "warning is an error"));
  ASSERT_EQ(diag_.items().size(), 1u);
  EXPECT_EQ(diag_.items()[0].severity, Severity::kError);
  EXPECT_THAT(diag_.items()[0].message, HasSubstr("`vaccum` is not an option"));
}

TEST_F(ResolveTest, StrictWithoutWarningsPasses) {
  auto c = Load("strict\nprocesses = 2\n", {"--strict"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->GetFlag("strict"));
}

TEST_F(ResolveTest, UnknownCommandLineOptionIsAnErrorWithSuggestion) {
  auto c = Load("", {"--proceses", "4"});
  EXPECT_EQ(std::string(c.status().message()),
            "unknown option --proceses (did you mean --processes?)");
  auto d = Load("", {"--zzzzzzzz"});
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("unknown option --zzzzzzzz"));
}

TEST_F(ResolveTest, OptionOfAnUnloadedPluginNamesThePlugin) {
  ProviderLookup providers = [](std::string_view name) {
    return name == "module" ? std::string("python") : std::string();
  };
  auto c = Load("module = app:app\n", {}, providers);
  EXPECT_EQ(std::string(c.status().message()),
            "option `module` (" + Ini() +
                ":2) is provided by plugin `python`; add `plugins = "
                "python`");
  auto d = Load("", {"--module", "app:app"}, providers);
  EXPECT_EQ(std::string(d.status().message()),
            "option `module` (the command line) is provided by plugin `python`; add `--plugins "
            "python`");
}

TEST_F(ResolveTest, PlannedOptionGetsOneNotice) {
  OptionSpec spec;
  spec.name = "future-feature";
  spec.kind = OptionKind::kDuration;
  spec.state = OptionState::kPlanned;
  ASSERT_TRUE(registry_.Add(spec).ok());
  auto c = Load("future-feature = 30\nfuture-feature = 40\nstrict = false\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(Messages(diag_), ElementsAre("kiln: notice: `future-feature` (" + Ini() +
                                           ":2) is accepted but not implemented yet"));
  EXPECT_EQ(c->GetDuration("future-feature"), absl::Seconds(40));
}

TEST_F(ResolveTest, AcceptedNoOpOptionSaysItHasNoEffect) {
  OptionSpec spec;
  spec.name = "legacy-knob";
  spec.kind = OptionKind::kFlag;
  spec.state = OptionState::kAcceptedNoOp;
  ASSERT_TRUE(registry_.Add(spec).ok());
  auto c = Load("", {"--legacy-knob"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(Messages(diag_), ElementsAre("kiln: notice: `legacy-knob` (the command line) is "
                                           "accepted and has no effect in kiln"));
}

// WebSocket options: websocket-max-size reads bare numbers as KiB (uWSGI's unit) with a 16 MiB
// default (uvicorn's); uWSGI's http-websockets is accepted and does nothing (no warning that it
// is unsupported).
TEST_F(ResolveTest, WebSocketOptions) {
  auto c = Load("http-websockets = true\nwebsockets-max-size = 64\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->GetSize("websocket-max-size"), 64u << 10);
  EXPECT_EQ(diag_.Count(Severity::kWarning), 0u) << Messages(diag_)[0];
  EXPECT_THAT(Messages(diag_), ElementsAre(HasSubstr("`http-websockets`")));
  EXPECT_THAT(Messages(diag_)[0], HasSubstr("accepted and has no effect"));
  c = Load("master\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->GetSize("websocket-max-size"), 16u << 20);
}

TEST_F(ResolveTest, FlagWordOnNumberWarnsAndReadsZero) {
  auto c = Load("threads = true\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->GetNumber("threads"), 0);
  EXPECT_THAT(Messages(diag_), ::testing::Contains(HasSubstr("`threads = true` is read as 0")));
}

TEST_F(ResolveTest, FalseFlagWordsAreFalse) {
  auto c = Load("master = off\nvacuum = no\ndie-on-term = false\nneed-app = 0\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->GetFlag("master"));
  EXPECT_FALSE(c->GetFlag("vacuum"));
  EXPECT_FALSE(c->GetFlag("die-on-term"));
  EXPECT_FALSE(c->GetFlag("need-app"));
}

TEST_F(ResolveTest, LoaderHelpersReadRawEntriesBeforeResolve) {
  std::string ini = dir_.Write("app.ini",
                               "[uwsgi]\nplugins = python3, logfile\nplugin = lua\nmodule = app\n"
                               "autoload = false\nwsgi-file = x.py\nmodule = other\n");
  auto raw = ReadConfig({ini, "--plugins-dir", "/opt/p"}, registry_, diag_, host_);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_THAT(RawList(*raw, registry_, "plugins"), ElementsAre("python3", "logfile", "lua"));
  EXPECT_THAT(RawList(*raw, registry_, "plugin-dir"), ElementsAre("/opt/p"));
  EXPECT_FALSE(RawFlag(*raw, registry_, "autoload"));
  EXPECT_TRUE(RawFlag(*raw, registry_, "need-app"));  // default
  std::vector<std::string> unknown;
  for (const Entry* e : UnknownEntries(*raw, registry_)) {
    unknown.push_back(e->key + "@" + std::to_string(e->line));
  }
  EXPECT_THAT(unknown, ElementsAre("module@4", "wsgi-file@6"));
}

TEST_F(ResolveTest, GetterOnUnknownOptionIsAProgrammingError) {
  auto c = Load("master\n");
  ASSERT_TRUE(c.ok());
  EXPECT_DEATH(c->GetFlag("no-such-option"), "no such option");
  EXPECT_DEATH(c->GetNumber("master"), "not a number");
}

}  // namespace
}  // namespace kiln::config

namespace kiln::config {
namespace {

// A uWSGI option kiln does not implement is named as one, with what to use instead; only a
// name that is no kiln option and no uWSGI option is called a typo.
class UwsgiOptionTest : public ResolveTest {};

TEST_F(UwsgiOptionTest, UnsupportedUwsgiOptionIsNamedAsSuchWithTheReplacement) {
  auto c = Load("gevent = 100\ncache2 = name=x,items=10\nroute-uri = ^/a last:\n"
                "spooler-max-tasks = 10\nstatic-expires-uri = .* 60\nfastrouter = :3017\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(
      Messages(diag_),
      ElementsAre(
          "kiln: warning: " + Ini() + ":2: `gevent` is a uWSGI option (gevent plugin) not "
          "supported by kiln; ignored; use `threads` for concurrent blocking requests (each "
          "worker's event loop already holds idle and slow connections without a thread), or "
          "serve an async app with `asgi`",
          HasSubstr(Ini() + ":3: `cache2` is a uWSGI option (core) not supported by kiln; "
                    "ignored; kiln has no shared cache"),
          HasSubstr(Ini() + ":4: `route-uri` is a uWSGI option (core) not supported by kiln; "
                    "ignored; do the routing in nginx"),
          HasSubstr(":5: `spooler-max-tasks` is a uWSGI option (core) not supported by kiln; "
                    "ignored; kiln's spooler has `spooler`, `spooler-processes`"),
          HasSubstr(":6: `static-expires-uri` is a uWSGI option (core) not supported by "
                    "kiln; ignored; kiln's static-map has `static-gzip-all` and "
                    "`static-expires`"),
          HasSubstr(":7: `fastrouter` is a uWSGI option (fastrouter plugin) not supported")));
  for (const std::string& m : Messages(diag_)) EXPECT_THAT(m, Not(HasSubstr("not an option")));
  // The refusal to start without an app repeats them, beside real typos.
  EXPECT_THAT(c->StrayKeys(), Contains(HasSubstr(":2: `gevent` is a uWSGI option")));
}

TEST_F(UwsgiOptionTest, UwsgiPluginOptionKilnsPluginLacksIsUnsupportedNotATypo) {
  // The python plugin is installed but not loaded, and has `module` but not `py-tracebacker`.
  ProviderLookup providers = [](std::string_view name) {
    return name == "module" ? std::string("python") : std::string();
  };
  auto c = Load("py-tracebacker = /tmp/tb\nlua-shell = true\n", {}, providers);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(Messages(diag_),
              ElementsAre(HasSubstr(":2: `py-tracebacker` is a uWSGI option (python plugin) not "
                                    "supported by kiln; ignored"),
                          HasSubstr(":3: `lua-shell` is a uWSGI option (lua plugin) not "
                                    "supported by kiln; ignored")));
  // What an installed plugin provides is that plugin's, even when uWSGI has the name too.
  auto d = Load("module = app\n", {}, providers);
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("is provided by plugin `python`"));
}

TEST_F(UwsgiOptionTest, CommandLineUnsupportedOptionWarnsAndTypoStillFails) {
  auto c = Load("", {"--gevent", "100", "--master"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(Messages(diag_),
              ElementsAre(HasSubstr("kiln: warning: `gevent` is a uWSGI option (gevent plugin) "
                                    "not supported by kiln")));
  EXPECT_TRUE(c->GetFlag("master"));
  auto d = Load("", {"--gevnt", "100"});
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("unknown option --gevnt"));
}

TEST_F(UwsgiOptionTest, TypoIsNotAnOptionWithTheNearestSuggestion) {
  auto c = Load("proceses = 4\nvaccum = true\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(Messages(diag_),
              ElementsAre(HasSubstr(":2: `proceses` is not an option (did you mean `processes`?)"),
                          HasSubstr(":3: `vaccum` is not an option (did you mean `vacuum`?)")));
}

TEST_F(UwsgiOptionTest, StrictFailsOnUnsupportedButNotOnAcceptedNoOps) {
  auto ok = Load("strict = true\nthunder-lock = true\nlog-master = true\n");
  ASSERT_TRUE(ok.ok()) << ok.status();
  diag_ = Diagnostics();
  auto bad = Load("strict = true\nthunder-lock = true\ngevent = 100\n");
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("strict = true: 1 configuration warning is an error"));
  EXPECT_THAT(Messages(diag_), Contains(HasSubstr("kiln: error: " + Ini() + ":4: `gevent` is a "
                                                  "uWSGI option (gevent plugin) not supported")));
}


// --print-config prints values as resolved, not as written, and its output reads back as the
// same configuration.
class PrintConfigTest : public ResolveTest {};

TEST_F(PrintConfigTest, PrintsParsedValuesInTheirUnitsOncePerOption) {
  auto c = Load(
      "master = yes\nworkers = 2\nharakiri = 60\nreload-mercy = 30000\n"
      "buffer-size = 32768\nreload-on-rss = 200\nsocket = /a.sock\nsocket = :%(port)\n"
      "port = 3031\nplugins = logfile, python\nlog-format = a \\#b\ngevent = 100\n"
      "thunder-lock = ture\nsocket-timeout = 1500ms\nlimit-post = 0\n",
      {"--processes", "4"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(PrintConfig(*c, false),
            "; kiln --print-config: the options set (--print-config=all adds the defaults)\n"
            "[kiln]\n"
            "; core\n"
            "buffer-size = 32k\n"
            "harakiri = 1m\n"
            "limit-post = 0\n"
            "log-format = a \\#b\n"
            "master = true\n"
            "plugins = logfile\n"
            "plugins = python\n"
            "processes = 4\n"
            "reload-mercy = 500m ; 8h20m\n"
            "reload-on-rss = 200m\n"
            "socket = /a.sock\n"
            "socket = :3031\n"
            "socket-timeout = 1500ms\n"
            "thunder-lock = true\n"
            "; not options, ignored:\n"
            "; port = 3031  (placeholder)\n"
            "; gevent = 100  (uWSGI option, not supported)\n");
}

TEST_F(PrintConfigTest, AllAddsEveryOptionWithItsDefault) {
  auto c = Load("threads = 8\n");
  ASSERT_TRUE(c.ok()) << c.status();
  const std::string all = PrintConfig(*c, true);
  EXPECT_THAT(all, HasSubstr("\nthreads = 8\n"));
  EXPECT_THAT(all, HasSubstr("\nlisten = 100\n"));
  EXPECT_THAT(all, HasSubstr("\nbuffer-size = 65535\n"));
  EXPECT_THAT(all, HasSubstr("\nworker-reload-mercy = 1m\n"));
  EXPECT_THAT(all, HasSubstr("\nmaster = false\n"));
  EXPECT_THAT(all, HasSubstr("\n; socket is not set\n"));
  EXPECT_THAT(PrintConfig(*c, false), Not(HasSubstr("listen")));
  for (const OptionSpec* spec : registry_.All()) {
    EXPECT_THAT(all, AnyOf(HasSubstr("\n" + spec->name + " = "),
                           HasSubstr("; " + spec->name + " is not set")));
  }
}

TEST_F(PrintConfigTest, OutputReadsBackAsTheSameConfiguration) {
  auto c = Load("master\nprocesses = %(2 * 3)\nharakiri = 90\nenv = A=1 ;x\n"
                "env = B=\\;2\nlog-format = %(method) \\# %(uri)\npost-buffering = 1m\n");
  ASSERT_TRUE(c.ok()) << c.status();
  const std::string printed = PrintConfig(*c, true);
  diag_ = Diagnostics();
  auto again = Load(printed);  // its [kiln] section is read before the [uwsgi] one
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << printed;
  EXPECT_EQ(PrintConfig(*again, true), printed);
  EXPECT_THAT(printed, HasSubstr("\nenv = A=1\nenv = B=;2\n"));
  EXPECT_THAT(printed, HasSubstr("\nlog-format = %(method) \\# %(uri)\n"));
}

}  // namespace
}  // namespace kiln::config
