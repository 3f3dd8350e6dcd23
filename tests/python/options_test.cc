// The python plugin's uWSGI options from real files: pyargv (sys.argv), pymodule-alias
// (a module or a file under another name), import and no-site, and core's
// reload-on-exception, which the plugin reports (a worker whose app raised is replaced; the
// others go on serving).
#include <signal.h>
#include <sys/wait.h>

#include <string>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/python/py_client.h"

namespace kiln::testing {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<Response> GetWhenUp(const std::string& sock, const std::string& target) {
  absl::StatusOr<Response> r;
  for (int i = 0; i < 150; ++i) {
    r = HttpGet(sock, target);
    if (r.ok()) return r;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return r;
}

// import: a module (found on pythonpath) and a .py file are imported before the app loads;
// no-site: the interpreter starts without `import site`.
TEST(PythonOptions, PyargvPymoduleAliasImportAndNoSite) {
  TempDir dir;
  TempDir::WriteFile(dir.File("real_settings.py"), "NAME = 'from the real module'\n");
  TempDir::WriteFile(dir.File("other.py"), "NAME = 'from a file'\n");
  TempDir::WriteFile(dir.File("preloaded.py"),
                     "import builtins\nbuiltins.KILN_PRELOADED = 'module'\n");
  TempDir::WriteFile(dir.File("hooks.py"), "import builtins\nbuiltins.KILN_HOOKS = 'file'\n");
  std::string app = dir.File("app.py");
  TempDir::WriteFile(
      app,
      "import sys\n"
      "import settings\n"
      "import fromfile\n"
      "SEEN = KILN_PRELOADED + ';' + KILN_HOOKS + ';site=' + str('site' in sys.modules)\n"
      "def application(environ, start_response):\n"
      "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
      "    return [('|'.join(sys.argv) + ';' + settings.NAME + ';' + fromfile.NAME + ';' +"
      " SEEN).encode()]\n");
  std::string sock = dir.File("s.sock");
  std::string ini = dir.File("app.ini");
  TempDir::WriteFile(
      ini, "[uwsgi]\nstrict = true\npythonpath = " + dir.path() + "\nwsgi-file = " + app +
               "\npyargv = --verbose  run\npymodule-alias = settings=real_settings\n"
               "pymodule-alias = fromfile=" +
               dir.File("other.py") + "\nimport = preloaded\npyimport = " + dir.File("hooks.py") +
               "\nno-site = true\n");
  KilnProcess k({"--http-socket", sock, "--plugin-dir", PluginDir(), "--plugins", "python", ini},
                dir.File("kiln.log"));
  k.SetEnv("LSAN_OPTIONS", LsanOptionsForPython());
  ASSERT_TRUE(k.Start());
  auto r = GetWhenUp(sock, "/");
  ASSERT_TRUE(r.ok()) << r.status() << k.Log();
  EXPECT_EQ(r->status, 200) << k.Log();
  EXPECT_EQ(r->body,
            "kiln|--verbose|run;from the real module;from a file;module;file;site=False")
      << k.Log();
  EXPECT_THAT(k.Log(), HasSubstr("mapped virtual pymodule \"settings\" to real pymodule"));
  EXPECT_THAT(k.Log(), HasSubstr("imported preloaded (import)"));
  k.Signal(SIGTERM);
  k.WaitExit(absl::Seconds(20));
}

TEST(PythonOptions, ABadPymoduleAliasOrImportStopsTheStartNamingIt) {
  TempDir dir;
  std::string app = dir.File("app.py");
  TempDir::WriteFile(app, "def application(e, s):\n    return []\n");
  const std::pair<std::string, std::string> cases[] = {
      {"pymodule-alias", "settings=no_such_module_anywhere"},
      {"import", "no_such_module_anywhere"}};
  for (const auto& [option, value] : cases) {
    KilnProcess k({"--http-socket", dir.File("s.sock"), "--plugin-dir", PluginDir(),
                   "--plugins", "python", "--wsgi-file", app, "--" + option, value},
                  dir.File(option + ".log"));
    k.SetEnv("LSAN_OPTIONS", LsanOptionsForPython());
    ASSERT_TRUE(k.Start());
    auto status = k.WaitExit(absl::Seconds(20));
    ASSERT_TRUE(status.has_value()) << k.Log();
    EXPECT_NE(WEXITSTATUS(*status), 0);
    EXPECT_THAT(k.Log(), HasSubstr(option + " = " + value));
    EXPECT_THAT(k.Log(), HasSubstr("ModuleNotFoundError"));
  }
}

TEST(PythonOptions, ReloadOnExceptionReplacesTheWorkerThatRaised) {
  TempDir dir;
  std::string app = dir.File("app.py");
  TempDir::WriteFile(app,
                     "import os\n"
                     "def application(environ, start_response):\n"
                     "    if environ['PATH_INFO'] == '/raise':\n"
                     "        raise RuntimeError('on purpose')\n"
                     "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                     "    return [str(os.getpid()).encode()]\n");
  std::string sock = dir.File("s.sock");
  KilnProcess k({"--http-socket", sock, "--plugin-dir", PluginDir(), "--plugins", "python",
                 "--master", "--processes", "1", "--strict", "--wsgi-file", app,
                 "--reload-on-exception"},
                dir.File("kiln.log"));
  k.SetEnv("LSAN_OPTIONS", LsanOptionsForPython());
  ASSERT_TRUE(k.Start());
  auto before = GetWhenUp(sock, "/pid");
  ASSERT_TRUE(before.ok()) << before.status() << k.Log();
  auto raised = HttpGet(sock, "/raise");
  ASSERT_TRUE(raised.ok()) << raised.status();
  EXPECT_EQ(raised->status, 500);  // the request that raised is answered first
  ASSERT_TRUE(k.WaitForLog("spawned kiln worker 1", absl::Seconds(20), 2)) << k.Log();
  absl::StatusOr<Response> after;
  for (int i = 0; i < 100; ++i) {
    after = HttpGet(sock, "/pid");
    if (after.ok() && after->status == 200 && after->body != before->body) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(after.ok()) << after.status() << k.Log();
  EXPECT_EQ(after->status, 200);
  EXPECT_NE(after->body, before->body) << k.Log();  // a new worker answers
  // A planned recycle, not a death: no DAMN line and no respawn backoff.
  EXPECT_THAT(k.Log(), HasSubstr("recycled after an application exception (reload-on-exception)"));
  EXPECT_THAT(k.Log(), ::testing::Not(HasSubstr("DAMN")));
  k.Signal(SIGTERM);
  k.WaitExit(absl::Seconds(20));
}

}  // namespace
}  // namespace kiln::testing
