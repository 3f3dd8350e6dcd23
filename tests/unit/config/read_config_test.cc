// Tests of ReadConfig over real files: includes, logic blocks, expansion, command line, and
// malformed input. Each error must be clear and name its place; none may crash.
#include <sys/stat.h>

#include <string>

#include "core/config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/config/test_util.h"

namespace kiln::config {
namespace {

using ::testing::ElementsAre;
using testing::FixedHost;
using ::testing::HasSubstr;
using testing::Lines;
using testing::Messages;
using testing::TempDir;

class ReadConfigTest : public ::testing::Test {
 protected:
  absl::StatusOr<RawConfig> Read(std::vector<std::string> args) {
    return ReadConfig(args, registry_, diag_, host_);
  }
  std::string Error(std::vector<std::string> args) {
    auto raw = Read(std::move(args));
    EXPECT_FALSE(raw.ok());
    return std::string(raw.status().message());
  }

  TempDir dir_;
  FixedHost host_;
  OptionRegistry registry_ = OptionRegistry::WithCoreOptions();
  Diagnostics diag_;
};

TEST_F(ReadConfigTest, BareKeyIsTrueAndRepeatedKeysAccumulate) {
  std::string ini = dir_.Write("a.ini",
                               "[uwsgi]\nmaster\nsocket = /a.sock\nsocket = :3031\n"
                               "plugins = python3, logfile\n");
  auto raw = Read({"--ini", ini});
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_THAT(Lines(*raw), ElementsAre("master = true", "socket = /a.sock", "socket = :3031",
                                       "plugins = python3, logfile"));
  EXPECT_THAT(raw->Values("socket"), ElementsAre("/a.sock", ":3031"));
  EXPECT_EQ(raw->entries[1].file, ini);
  EXPECT_EQ(raw->entries[1].line, 3);
}

TEST_F(ReadConfigTest, CommandLineFormsMergeInOrder) {
  std::string ini = dir_.Write("a.ini", "[uwsgi]\nprocesses = 2\n");
  auto raw = Read({"--ini", ini, "--processes", "4", "--master", "--chdir=/srv", "--vacuum"});
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_THAT(Lines(*raw), ElementsAre("processes = 2", "processes = 4", "master = true",
                                       "chdir = /srv", "vacuum = true"));
  EXPECT_TRUE(raw->entries[1].from_cli);
}

TEST_F(ReadConfigTest, PositionalIniFileWithSectionIsRead) {
  std::string ini = dir_.Write("a.ini", "[uwsgi]\na = 1\n[prod]\nprocesses = 9\n");
  auto raw = Read({ini + ":prod", "other"});
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_THAT(Lines(*raw), ElementsAre("processes = 9"));
  EXPECT_THAT(raw->positional, ElementsAre("other"));
}

TEST_F(ReadConfigTest, CommandLineOptionMissingItsValueIsAnError) {
  EXPECT_EQ(Error({"--socket"}), "option --socket needs a value");
  EXPECT_THAT(Error({"-p", "4"}), HasSubstr("unknown argument `-p`"));
}

TEST_F(ReadConfigTest, IncludesAreRelativeToTheIncludingFileAndSplicedInPlace) {
  dir_.Write("conf.d/common.ini", "[uwsgi]\nmaster = true\nini = :extra\n[extra]\nvacuum\n");
  std::string main =
      dir_.Write("main.ini", "[kiln]\nprocesses = 1\nini = conf.d/common.ini\nthreads = 2\n");
  auto raw = Read({main});
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_THAT(Lines(*raw),
              ElementsAre("processes = 1", "master = true", "vacuum = true", "threads = 2"));
  EXPECT_EQ(raw->entries[1].file, dir_.File("conf.d/common.ini"));
}

TEST_F(ReadConfigTest, MissingIncludeNamesTheFileAndTheIncludingLine) {
  std::string main = dir_.Write("main.ini", "[uwsgi]\n\nini = nothere.ini\n");
  std::string err = Error({main});
  EXPECT_THAT(err, HasSubstr("cannot read configuration file `" + dir_.File("nothere.ini")));
  EXPECT_THAT(err, HasSubstr("(included from " + main + ":3)"));
  EXPECT_THAT(err, HasSubstr("No such file or directory"));
}

TEST_F(ReadConfigTest, IncludeCycleIsDetected) {
  dir_.Write("a.ini", "[uwsgi]\nini = b.ini\n");
  dir_.Write("b.ini", "[uwsgi]\nini = a.ini\n");
  std::string err = Error({dir_.File("a.ini")});
  EXPECT_THAT(err, HasSubstr("include cycle"));
  EXPECT_THAT(err, HasSubstr(dir_.File("a.ini") + ":uwsgi -> " + dir_.File("b.ini") +
                             ":uwsgi -> " + dir_.File("a.ini") + ":uwsgi"));
}

TEST_F(ReadConfigTest, SectionIncludingItselfIsACycle) {
  std::string a = dir_.Write("a.ini", "[uwsgi]\nmaster\nini = :uwsgi\n");
  std::string err = Error({a});
  EXPECT_THAT(err, HasSubstr("include cycle (included from " + a + ":3)"));
}

TEST_F(ReadConfigTest, UnreadableFileIsAnError) {
  // Everything runs as root, so unreadable means a directory where a file should be.
  std::filesystem::create_directories(dir_.File("dir.ini"));
  std::string err = Error({dir_.File("dir.ini")});
  EXPECT_THAT(err, HasSubstr("cannot read configuration file `" + dir_.File("dir.ini") + "`"));
}

TEST_F(ReadConfigTest, MissingFileOnTheCommandLineIsAnError) {
  EXPECT_THAT(Error({"--ini", dir_.File("none.ini")}),
              HasSubstr("cannot read configuration file `" + dir_.File("none.ini") + "`"));
}

TEST_F(ReadConfigTest, ForLoopsRepeatTheirBodyWithTheItem) {
  std::string ini = dir_.Write("a.ini",
                               "[uwsgi]\nfor = 8001 8002\n  http-socket = :%(_)\nendfor\n"
                               "for-times = 2\nenv = N%(_)\nend-for =\n");
  auto raw = Read({ini});
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_THAT(Lines(*raw),
              ElementsAre("http-socket = :8001", "http-socket = :8002", "env = N1", "env = N2"));
}

TEST_F(ReadConfigTest, ForReadlineSkipsBlankAndCommentLines) {
  std::string env = dir_.Write("env.txt", "A=1\r\n\n# note\n  \nB=$(HOME)\nC=%(name)\nD=2");
  host_.env["HOME"] = "/home/app";
  std::string ini = dir_.Write(
      "a.ini", "[uwsgi]\nset-ph = name=shop\nfor-readline = " + env + "\nenv = %(_)\nendfor\n");
  auto raw = Read({ini});
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_THAT(raw->Values("env"), ElementsAre("A=1", "B=/home/app", "C=shop", "D=2"));
}

TEST_F(ReadConfigTest, ForGlobIteratesSortedMatches) {
  dir_.Write("apps/b.ini", "");
  dir_.Write("apps/a.ini", "");
  std::string ini =
      dir_.Write("a.ini", "[uwsgi]\nfor-glob = %dapps/*.ini\nmount = /%(_)\nendfor\n");
  auto raw = Read({ini});
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_THAT(raw->Values("mount"),
              ElementsAre("/" + dir_.File("apps/a.ini"), "/" + dir_.File("apps/b.ini")));
}

TEST_F(ReadConfigTest, IfBlocksKeepOrDropTheirBody) {
  host_.env["STAGE"] = "prod";
  dir_.Write("here.txt", "x");
  std::string ini = dir_.Write(
      "a.ini",
      "[uwsgi]\nif-env = STAGE\nstage = %(_)\nendif\nif-env = STAGE=dev\ndev = 1\nendif\n"
      "if-not-env = NOPE\nno-nope = yes\nendif\nif-exists = %dhere.txt\nfound = %(_)\nendif\n"
      "if-not-exists = %dmissing\nmissing = ok\nendif\nif-file = %d\nnotfile = 1\nendif\n"
      "if-dir = %d\nisdir = 1\nendif\nif-opt = stage=prod\nopt = %(_)\nendif\n"
      "if-hostname = web1\nhost = 1\nendif\n");
  auto raw = Read({ini});
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_THAT(Lines(*raw),
              ElementsAre("stage = prod", "no-nope = yes", "found = " + dir_.File("here.txt"),
                          "missing = ok", "isdir = 1", "opt = prod", "host = 1"));
}

TEST_F(ReadConfigTest, BlocksNest) {
  host_.env["ON"] = "1";
  std::string ini =
      dir_.Write("a.ini",
                 "[uwsgi]\nfor = a b\n  if-env = ON\n    for = 1 2\n      x = %(_)\n    endfor\n"
                 "    y = %(_)\n  endif\n  z = %(_)\nendfor\n");
  auto raw = Read({ini});
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_THAT(Lines(*raw),
              ElementsAre("x = 1", "x = 2", "y = 1", "z = a", "x = 1", "x = 2", "y = 1", "z = b"));
}

TEST_F(ReadConfigTest, UnterminatedBlocksAreErrors) {
  std::string a = dir_.Write("a.ini", "[uwsgi]\nmaster\nfor = a b\nx = %(_)\n");
  EXPECT_EQ(Error({a}), a + ":3: `for` block is never closed (expected `endfor` before the end "
                            "of the section)");
  std::string b = dir_.Write("b.ini", "[uwsgi]\nif-env = HOME\nfor = 1\nendfor\n");
  EXPECT_THAT(Error({b}), HasSubstr(b + ":2: `if-env` block is never closed (expected `endif`"));
}

TEST_F(ReadConfigTest, StrayEndIsAnErrorAndMismatchedEndWarns) {
  std::string stray = dir_.Write("stray.ini", "[uwsgi]\nmaster\nendif\nfor = 1\nx = 1\nendfor\n");
  EXPECT_EQ(Error({stray}), stray + ":3: `endif` closes no open block (no `for` or `if-*` line "
                                    "before it is left open)");
  // One closer too many after a nested pair: the last `endif` is the stray one.
  std::string extra = dir_.Write(
      "extra.ini", "[uwsgi]\nifenv = HOME\nif-env = HOME\nx = 1\nendif\nendif\nendif\n");
  EXPECT_THAT(Error({extra}), HasSubstr(extra + ":7: `endif` closes no open block"));
  std::string a = dir_.Write("a.ini", "[uwsgi]\nfor = 1\nx = 1\nendif\n");
  auto raw = Read({a});
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_THAT(Messages(diag_),
              ElementsAre(HasSubstr(a + ":4: `endif` closes the `for` block opened at line 2")));
}

// uWSGI's spellings of the conditions (ifenv, ifexists, ifdir, if-directory) and their
// negations, nested inside one another.
TEST_F(ReadConfigTest, ConditionBlocksAndTheirUwsgiSpellingsNest) {
  host_.env["APP_ENV"] = "production";
  std::string data = dir_.Write("data/file.txt", "x");
  std::string data_dir = data.substr(0, data.rfind('/'));
  std::string ini = dir_.Write(
      "a.ini",
      "[uwsgi]\n"
      "ifenv = APP_ENV\n"
      "  env = MODE=%(_)\n"
      "  if-not-env = APP_DEBUG\n"
      "    processes = 8\n"
      "    ifexists = " + data + "\n"
      "      exists = %(_)\n"
      "    endif\n"
      "  endif\n"
      "endif\n"
      "if-env = APP_ENV=staging\n"
      "  processes = 1\n"
      "endif\n"
      "ifdir = " + data_dir + "\n"
      "  dir = yes\n"
      "  if-file = " + data_dir + "\n"
      "    not-a-file = wrong\n"
      "  endif\n"
      "  if-not-file = " + data_dir + "\n"
      "    file = no\n"
      "  end-if\n"
      "endif\n"
      "if-directory = " + data + "\n"
      "  wrong = yes\n"
      "endif\n"
      "if-not-dir = /nonexistent/kiln\n"
      "  missing = yes\n"
      "endif\n");
  auto raw = Read({ini});
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_THAT(Lines(*raw), ElementsAre("env = MODE=production", "processes = 8",
                                       "exists = " + data, "dir = yes", "file = no",
                                       "missing = yes"));
}

TEST_F(ReadConfigTest, UnsupportedLogicBlockIsAnError) {
  std::string a = dir_.Write("a.ini", "[uwsgi]\nif-reload =\nx = 1\nendif\n");
  EXPECT_THAT(Error({a}), HasSubstr(":2: `if-reload` is a logic block kiln does not support"));
}

TEST_F(ReadConfigTest, PlaceholdersResolveForwardAndThroughSetPlaceholder) {
  std::string a =
      dir_.Write("a.ini",
                 "[uwsgi]\nsocket = /run/%(app).sock\napp = shop\nset-placeholder = base=/srv\n"
                 "chdir = %(base)/%(app)\nthreads = %(workers * 2)\nworkers = 3\n");
  auto raw = Read({a});
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_THAT(Lines(*raw),
              ElementsAre("socket = /run/shop.sock", "app = shop", "set-placeholder = base=/srv",
                          "chdir = /srv/shop", "threads = 6", "workers = 3"));
  EXPECT_TRUE(raw->referenced.contains("app"));
  EXPECT_TRUE(diag_.items().empty());
}

TEST_F(ReadConfigTest, MagicArithmeticUsesCpuCount) {
  std::string a = dir_.Write("a.ini", "[uwsgi]\nprocesses = %(%k * 2)\n");
  auto raw = Read({a});
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_THAT(Lines(*raw), ElementsAre("processes = 8"));
}

TEST_F(ReadConfigTest, FileMagicNamesTheConfigFile) {
  std::string a = dir_.Write("site.ini", "[uwsgi]\nchdir = %d\nlogto = %d%n.log\n");
  auto raw = Read({a});
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_THAT(Lines(*raw),
              ElementsAre("chdir = " + dir_.path() + "/", "logto = " + dir_.File("site.log")));
}

TEST_F(ReadConfigTest, UnknownMagicReadsEmptyWithAWarning) {
  std::string a = dir_.Write("a.ini", "[uwsgi]\nlog-date = %Y\n");
  auto raw = Read({a});
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_THAT(Lines(*raw), ElementsAre("log-date = "));
  EXPECT_THAT(Messages(diag_), ElementsAre(HasSubstr(a + ":2: `%Y` in `log-date` is no magic "
                                                         "variable and reads as empty")));
}

TEST_F(ReadConfigTest, EnvAndFileReferencesExpand) {
  host_.env["PORT"] = "9090";
  std::string v = dir_.Write("version.txt", "1.4\n");
  std::string a = dir_.Write("a.ini",
                             "[uwsgi]\nhttp-socket = :$(PORT)\nprocname-prefix = "
                             "v@(" +
                                 v + ")\n");
  auto raw = Read({a, "--env", "X=$(PORT)"});
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_THAT(Lines(*raw),
              ElementsAre("http-socket = :9090", "procname-prefix = v1.4", "env = X=9090"));
}

TEST_F(ReadConfigTest, MissingFileReferenceIsAnError) {
  std::string a = dir_.Write("a.ini", "[uwsgi]\n\nchdir = @(" + dir_.File("missing") + ")\n");
  std::string err = Error({a});
  EXPECT_THAT(err, HasSubstr(a + ":3: `@(" + dir_.File("missing") + ")` cannot be read"));
}

TEST_F(ReadConfigTest, UnresolvedReferencesStayVerbatimWithAWarning) {
  std::string a = dir_.Write("a.ini",
                             "[uwsgi]\nchdir = %(nope)\npidfile = $(UNSET_VAR)\n"
                             "log-format = %(addr) %(uri)\n");
  auto raw = Read({a});
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_THAT(Lines(*raw), ElementsAre("chdir = %(nope)", "pidfile = $(UNSET_VAR)",
                                       "log-format = %(addr) %(uri)"));
  EXPECT_THAT(Messages(diag_), ElementsAre(HasSubstr(a + ":2: `%(nope)` is not resolved"),
                                           HasSubstr(a + ":3: `$(UNSET_VAR)` is not resolved")));
}

TEST_F(ReadConfigTest, SelfReferenceDoesNotLoop) {
  std::string a = dir_.Write("a.ini", "[uwsgi]\na = %(b)\nb = %(a)\n");
  auto raw = Read({a});
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_FALSE(diag_.items().empty());
}

TEST_F(ReadConfigTest, RunawayLoopIsStopped) {
  std::string a = dir_.Write(
      "a.ini", "[uwsgi]\nfor-times = 100000\nfor-times = 100000\nx = 1\nendfor\nendfor\n");
  EXPECT_THAT(Error({a}), HasSubstr("more than"));
}

TEST_F(ReadConfigTest, ExponentialReferencesAreStopped) {
  std::string body = "[uwsgi]\np0 = 0123456789abcdef\n";
  for (int i = 1; i <= 30; ++i) {
    body += "p" + std::to_string(i) + " = %(p" + std::to_string(i - 1) + ")%(p" +
            std::to_string(i - 1) + ")\n";
  }
  std::string a = dir_.Write("a.ini", body + "chdir = %(p30)\n");
  EXPECT_THAT(Error({a}), HasSubstr("expands to more than 1048576 bytes"));
}

TEST_F(ReadConfigTest, ForReadlineOfMissingFileIsAnError) {
  std::string a = dir_.Write("a.ini",
                             "[uwsgi]\nfor-readline = /nonexistent/env.txt\n"
                             "env = %(_)\nendfor\n");
  EXPECT_EQ(Error({a}), a + ":2: for-readline cannot read `/nonexistent/env.txt`: "
                            "open(/nonexistent/env.txt): No such file or directory");
}

TEST_F(ReadConfigTest, NonUtf8FileIsAnErrorNamingTheLine) {
  std::string a = dir_.Write("a.ini", "[uwsgi]\nmaster = true\nchdir = /srv/\xff\xfe\n");
  EXPECT_THAT(Error({a}), HasSubstr(a + ":3: line is not valid UTF-8"));
}

}  // namespace
}  // namespace kiln::config
