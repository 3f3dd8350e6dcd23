// kiln installed the way users install it, run from the installed files only:
// - a `cmake --install` into a temp prefix: the installed binary's "plugin not found" error
//   lists only the prefix's plugin folder (never the build tree), and it serves the example
//   app with the python plugin from that prefix;
// - the .deb from packaging/deb/build-deb installed with dpkg: the files where docs/install.md
//   says, the `kiln` system user, the example app served by /usr/bin/kiln with the installed
//   plugins and config, and `dpkg --purge` leaving the machine as it found it.
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"

namespace kiln::testing {
namespace {

struct ShResult {
  int status = -1;
  std::string output;
};

// Runs `cmd` under /bin/sh with stderr folded into the output.
ShResult Sh(const std::string& cmd) {
  ShResult r;
  FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
  if (f == nullptr) {
    return r;
  }
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
    r.output.append(buf, n);
  }
  r.status = ::pclose(f);
  return r;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

// Points KilnProcess (which runs $KILN_BIN) at another binary for one scope.
class BinaryOverride {
 public:
  explicit BinaryOverride(const std::string& bin) : old_(Env("KILN_BIN")) {
    ::setenv("KILN_BIN", bin.c_str(), 1);
  }
  ~BinaryOverride() { ::setenv("KILN_BIN", old_.c_str(), 1); }

 private:
  std::string old_;
};

// The paths a "plugin not found" error says it tried.
std::vector<std::string> TriedPaths(const std::string& log) {
  std::vector<std::string> out;
  bool in_list = false;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (absl::StrContains(line, "not found; tried:")) {
      in_list = true;
      continue;
    }
    if (in_list && absl::StartsWith(line, "  ")) {
      out.emplace_back(absl::StripLeadingAsciiWhitespace(line));
    } else {
      in_list = false;
    }
  }
  return out;
}

// Serves the installed example config (share/kiln/conf/app.ini, the bundled Flask app through
// the python plugin) with `bin`, and checks /api/v1/health answers. The binary searches only
// <prefix>/lib/kiln/plugins (MissingPluginListsOnly), so the plugin is the installed one.
void ServeInstalledApp(const TempDir& dir, const std::string& bin, const std::string& prefix,
                       const std::vector<std::string>& extra) {
  BinaryOverride use(bin);
  int port = FreeLoopbackPort();
  ASSERT_NE(port, 0);
  std::string addr = absl::StrCat("127.0.0.1:", port);
  std::vector<std::string> args = {"--ini", prefix + "/share/kiln/conf/app.ini"};
  args.insert(args.end(), extra.begin(), extra.end());
  KilnProcess kiln(args, dir.File("serve.log"));
  kiln.SetEnv("KILN_HTTP_SOCKET", addr);
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(kiln.WaitForLog("kiln is ready", absl::Seconds(20))) << kiln.Log();
  auto r = HttpGet(addr, "/api/v1/health");
  ASSERT_TRUE(r.ok()) << r.status() << "\n" << kiln.Log();
  EXPECT_EQ(r->status, 200) << r->body << "\n" << kiln.Log();
  kiln.Signal(SIGTERM);
  EXPECT_TRUE(kiln.WaitExit(absl::Seconds(15)).has_value()) << kiln.Log();
}

// `bin` with a config naming a plugin that does not exist: the error lists the folders it
// searched, and every one is below `prefix`.
void MissingPluginListsOnly(const TempDir& dir, const std::string& bin,
                            const std::string& prefix) {
  std::string ini = dir.File("missing.ini");
  FILE* f = std::fopen(ini.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("[kiln]\nplugins = nosuch\nbuiltin-handler = true\nhttp-socket = 127.0.0.1:0\n", f);
  std::fclose(f);
  ShResult r = Sh(bin + " --ini " + ini);
  EXPECT_NE(r.status, 0) << r.output;
  ASSERT_TRUE(absl::StrContains(r.output, "plugin `nosuch`")) << r.output;
  std::vector<std::string> tried = TriedPaths(r.output);
  ASSERT_FALSE(tried.empty()) << r.output;
  for (const std::string& t : tried) {
    EXPECT_EQ(t, prefix + "/lib/kiln/plugins/nosuch_plugin.so") << r.output;
  }
  EXPECT_FALSE(absl::StrContains(r.output, Env("KILN_BINARY_DIR"))) << r.output;
}

TEST(InstallLayout, InstalledKilnSearchesOnlyItsPrefixAndServesFromIt) {
  TempDir dir;
  std::string prefix = dir.File("prefix");
  ShResult install = Sh("cmake --install " + Env("KILN_BINARY_DIR") + " --prefix " + prefix);
  ASSERT_EQ(install.status, 0) << install.output;
  std::string bin = prefix + "/bin/kiln";
  MissingPluginListsOnly(dir, bin, prefix);
  // The same error from the build tree's binary names the build tree (that layout is its own).
  ShResult build = Sh(Env("KILN_BIN") + " --ini " + dir.File("missing.ini"));
  EXPECT_TRUE(absl::StrContains(build.output, Env("KILN_PLUGIN_BUILD_DIR"))) << build.output;
  // The units and app.ini name this prefix, not /usr.
  std::string unit = TempDir::ReadFile(prefix + "/lib/systemd/system/kiln.service");
  EXPECT_TRUE(absl::StrContains(unit, "ExecStart=" + bin + " ")) << unit;
  ServeInstalledApp(dir, bin, prefix, {});
}

// Every unit shipped in conf/ starts the package's binary (docs/install.md), so a unit copied
// from the tree and the package agree on where kiln lives.
TEST(InstallLayout, ShippedUnitsStartThePackagesBinary) {
  std::string src = Env("KILN_SOURCE_DIR");
  int units = 0;
  for (const char* unit : {"conf/systemd/kiln.service", "conf/systemd/kiln-emperor.service",
                           "conf/deploy/kiln-pythonservice.service"}) {
    std::string text = TempDir::ReadFile(src + "/" + unit);
    ASSERT_FALSE(text.empty()) << unit;
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      if (absl::ConsumePrefix(&line, "ExecStart=")) {
        EXPECT_TRUE(absl::StartsWith(line, "/usr/bin/kiln ")) << unit << ": " << line;
        ++units;
      }
    }
  }
  EXPECT_EQ(units, 3);
}

// Removes the package (and a `kiln` user it left) however the test ends, so a failing run
// leaves the machine as it found it.
class PurgeOnExit {
 public:
  ~PurgeOnExit() {
    if (armed) {
      Sh("dpkg --purge kiln");
      if (Sh("getent passwd kiln").status == 0) {
        Sh("userdel kiln");
      }
      if (Sh("getent group kiln").status == 0) {
        Sh("groupdel kiln");
      }
    }
  }
  bool armed = false;
};

TEST(DebPackage, InstallsServesTheExampleAppAndPurgesCleanly) {
  ASSERT_EQ(::geteuid(), 0u) << "installing a .deb needs root (the suite and CI run as root)";
  ASSERT_EQ(MissingTool("/usr/bin/dpkg-shlibdeps", "dpkg-dev"), "");
  ASSERT_EQ(MissingTool("/usr/sbin/adduser", "adduser"), "");
  // Never touch a kiln the machine already has.
  ASSERT_NE(Sh("dpkg-query -W -f='${Status}' kiln 2>/dev/null | grep -q 'ok installed'").status, 0)
      << "a kiln package is installed already; remove it (dpkg --purge kiln) to run this test";
  ASSERT_NE(Sh("getent passwd kiln").status, 0) << "a `kiln` user exists already";
  ASSERT_NE(Sh("getent group kiln").status, 0) << "a `kiln` group exists already";

  TempDir dir;
  absl::Time t0 = absl::Now();
  ShResult built = Sh(Env("KILN_SOURCE_DIR") + "/packaging/deb/build-deb " + Env("KILN_BINARY_DIR") +
                 " " + dir.File("out"));
  ASSERT_EQ(built.status, 0) << built.output;
  std::string deb(absl::StripTrailingAsciiWhitespace(built.output));
  deb = deb.substr(deb.rfind('\n') + 1);
  ASSERT_TRUE(Exists(deb)) << built.output;
  std::cout << "built " << deb << " in " << absl::Now() - t0 << "\n";

  // Every path the package holds, and which of them the machine had before.
  ShResult contents = Sh("dpkg-deb --fsys-tarfile " + deb + " | tar -t");
  ASSERT_EQ(contents.status, 0) << contents.output;
  std::set<std::string> existed_before;
  std::vector<std::string> paths;
  for (absl::string_view line : absl::StrSplit(contents.output, '\n', absl::SkipEmpty())) {
    std::string p(absl::StripSuffix(absl::StripPrefix(line, "."), "/"));
    if (p.empty()) {
      continue;
    }
    paths.push_back(p);
    if (Exists(p)) {
      existed_before.insert(p);
    }
  }

  ShResult depends = Sh("dpkg-deb -f " + deb + " Depends");
  EXPECT_TRUE(absl::StrContains(depends.output, "libpython3.11")) << depends.output;
  EXPECT_TRUE(absl::StrContains(depends.output, "libluajit-5.1-2")) << depends.output;
  EXPECT_TRUE(absl::StrContains(depends.output, "adduser")) << depends.output;

  PurgeOnExit purge;
  purge.armed = true;
  ShResult installed = Sh("DEBIAN_FRONTEND=noninteractive dpkg -i " + deb);
  ASSERT_EQ(installed.status, 0) << installed.output;

  for (const char* p :
       {"/usr/bin/kiln", "/usr/lib/kiln/plugins/python_plugin.so",
        "/usr/lib/kiln/plugins/lua_plugin.so", "/usr/lib/kiln/plugins/logfile_plugin.so",
        "/usr/include/kiln/kiln.h", "/usr/lib/cmake/KilnSDK/KilnSDKConfig.cmake",
        "/usr/lib/pkgconfig/kiln-sdk.pc", "/usr/share/doc/kiln/operations.md",
        "/usr/share/doc/kiln/install.md", "/usr/lib/systemd/system/kiln.service",
        "/usr/lib/systemd/system/kiln-emperor.service", "/usr/share/kiln/conf/app.ini",
        "/usr/share/kiln/apps/flask/app.py", "/etc/kiln/vassals"}) {
    EXPECT_TRUE(Exists(p)) << p << " is not installed";
  }
  EXPECT_EQ(Sh("getent passwd kiln").status, 0) << "postinst did not create the kiln user";
  EXPECT_EQ(Sh("getent group kiln").status, 0) << "postinst did not create the kiln group";
  ShResult pc = Sh("realpath \"$(pkg-config --variable=plugindir kiln-sdk)\"");
  EXPECT_EQ(absl::StripTrailingAsciiWhitespace(pc.output), "/usr/lib/kiln/plugins") << pc.output;

  MissingPluginListsOnly(dir, "/usr/bin/kiln", "/usr");
  // Started as root, serving as the package's user, as kiln.service's User= line does.
  ServeInstalledApp(dir, "/usr/bin/kiln", "/usr", {"--uid", "kiln", "--gid", "kiln"});

  ShResult purged = Sh("dpkg --purge kiln");
  EXPECT_EQ(purged.status, 0) << purged.output;
  purge.armed = purged.status != 0;
  for (const std::string& p : paths) {
    if (!existed_before.count(p)) {
      EXPECT_FALSE(Exists(p)) << p << " is left after dpkg --purge";
    }
  }
  EXPECT_NE(Sh("getent passwd kiln").status, 0) << "dpkg --purge left the kiln user";
  EXPECT_NE(Sh("getent group kiln").status, 0) << "dpkg --purge left the kiln group";
  std::cout << "built, installed, served and purged in " << absl::Now() - t0 << "\n";
}

}  // namespace
}  // namespace kiln::testing
