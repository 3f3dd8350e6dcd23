// The python plugin's `locks` and `paste` with the real kiln binary: uwsgi.lock(n) and the
// uwsgidecorators.lock decorator serialize two workers (a read-modify-write counter file ends
// exact), a worker that dies holding a lock does not wedge the others, and `paste` loads a
// PasteDeploy app (with paste-logger configuring Python's logging from the same file).
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/python/py_client.h"

namespace kiln::testing {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kStartup = absl::Seconds(20);

// Each worker, right after fork, adds kEach to two counter files by read-modify-write with a
// pause in between (a lost update is near certain without a lock shared by the workers):
// `locked.txt` under uwsgi.lock(1), `decorated.txt` in a @uwsgidecorators.lock function.
// /die takes lock 2 and exits; /take takes lock 2 (which the dead worker held) and answers.
constexpr int kEach = 300;
constexpr char kLockApp[] = R"PY(
import os, sys, threading, time
import uwsgi, uwsgidecorators

DIR = os.path.dirname(os.path.abspath(__file__))
EACH = int(os.environ['KILN_TEST_EACH'])

def bump(name):
    path = os.path.join(DIR, name)
    with open(path) as f:
        value = int(f.read() or 0)
    time.sleep(0.0005)
    with open(path, 'w') as f:
        f.write(str(value + 1))

@uwsgidecorators.lock
def bump_decorated():
    bump('decorated.txt')

def work():
    for _ in range(EACH):
        uwsgi.lock(1)
        try:
            bump('locked.txt')
        finally:
            uwsgi.unlock(1)
        bump_decorated()
    open(os.path.join(DIR, 'done.%d' % os.getpid()), 'w').close()

@uwsgidecorators.postfork
def start():
    threading.Thread(target=work, daemon=True).start()

def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/die':
        uwsgi.lock(2)
        os._exit(3)
    body = b'ok'
    if path == '/take':
        uwsgi.lock(2)
        body = b'taken %d' % uwsgi.is_locked(2)
        uwsgi.unlock(2)
    elif path == '/bad':
        try:
            uwsgi.lock(3)
        except ValueError as e:
            body = str(e).encode()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body]
)PY";

// How many workers finished their increments (each leaves a `done.<pid>` file).
int CountDoneFiles(const TempDir& dir) {
  int n = 0;
  DIR* d = opendir(dir.path().c_str());
  if (d == nullptr) return 0;
  while (dirent* e = readdir(d)) {
    if (std::string_view(e->d_name).starts_with("done.")) ++n;
  }
  closedir(d);
  return n;
}

TEST(PythonLocks, TwoWorkersUnderOneLockCountExactlyAndADeadHolderDoesNotWedgeTheRest) {
  TempDir dir;
  dir.Write("app.py", kLockApp);
  dir.Write("locked.txt", "0");
  dir.Write("decorated.txt", "0");
  const std::string sock = dir.File("s.sock");
  const std::string ini = dir.Write(
      "app.ini", absl::StrCat("[uwsgi]\nmaster = true\nprocesses = 2\nlocks = 2\n",
                              "wsgi-file = ", dir.File("app.py"), "\n"));
  KilnProcess k({"--http-socket", sock, "--plugin-dir", PluginDir(), "--plugins", "python", ini},
                dir.File("kiln.log"));
  k.SetEnv("LSAN_OPTIONS", LsanOptionsForPython());
  k.SetEnv("KILN_TEST_EACH", std::to_string(kEach));
  ASSERT_TRUE(k.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << k.Log();
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (CountDoneFiles(dir) < 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_EQ(CountDoneFiles(dir), 2) << k.Log();
  EXPECT_EQ(TempDir::ReadFile(dir.File("locked.txt")), std::to_string(2 * kEach));
  EXPECT_EQ(TempDir::ReadFile(dir.File("decorated.txt")), std::to_string(2 * kEach));

  auto bad = HttpGet(sock, "/bad");
  ASSERT_TRUE(bad.ok()) << bad.status();
  EXPECT_THAT(bad->body, HasSubstr("Invalid lock number 3: locks are 0..2")) << bad->body;

  // A worker dies holding lock 2; the lock does not stay taken for the others.
  (void)HttpGet(sock, "/die", absl::Seconds(5));
  auto taken = HttpGet(sock, "/take", absl::Seconds(10));
  ASSERT_TRUE(taken.ok()) << taken.status() << k.Log();
  EXPECT_EQ(taken->body, "taken 1") << k.Log();
  EXPECT_TRUE(k.WaitForLog("uwsgi.lock(2): the process that held the lock died holding it",
                           absl::Seconds(5)))
      << k.Log();
  k.Signal(SIGTERM);
  EXPECT_TRUE(k.WaitExit(absl::Seconds(15)).has_value()) << k.Log();
}

TEST(PythonPaste, LoadsAPasteDeployAppAndItsLoggingSections) {
  TempDir dir;
  dir.Write("pasteapp.py", R"PY(
import logging

def make_app(global_conf, greeting='?', **local):
    def app(environ, start_response):
        logging.getLogger('pasteapp').warning('served %s', environ['PATH_INFO'])
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [(greeting + ' ' + global_conf['here']).encode()]
    return app
)PY");
  dir.Write("site.ini", R"INI([app:main]
paste.app_factory = pasteapp:make_app
greeting = hello from paste

[loggers]
keys = root

[handlers]
keys = file

[formatters]
keys = plain

[logger_root]
level = INFO
handlers = file

[handler_file]
class = FileHandler
args = ('%(here)s/py.log',)
formatter = plain

[formatter_plain]
format = pylog %(levelname)s %(message)s
)INI");
  const std::string sock = dir.File("s.sock");
  const std::string ini = dir.Write(
      "app.ini", absl::StrCat("[uwsgi]\nmaster = true\npythonpath = ", dir.path(),
                              "\npaste = config:", dir.File("site.ini"),
                              "\npaste-logger = true\n"));
  KilnProcess k({"--http-socket", sock, "--plugin-dir", PluginDir(), "--plugins", "python", ini},
                dir.File("kiln.log"));
  k.SetEnv("LSAN_OPTIONS", LsanOptionsForPython());
  ASSERT_TRUE(k.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << k.Log();
  auto r = HttpGet(sock, "/hello");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << k.Log();
  EXPECT_EQ(r->body, "hello from paste " + dir.path()) << k.Log();
  EXPECT_TRUE(WaitForFile(dir.File("py.log"), "pylog WARNING served /hello", absl::Seconds(5)))
      << TempDir::ReadFile(dir.File("py.log")) << k.Log();
  k.Signal(SIGTERM);
  EXPECT_TRUE(k.WaitExit(absl::Seconds(15)).has_value()) << k.Log();
}

TEST(PythonPaste, AMissingPasteFileFailsTheStartWithTheReason) {
  TempDir dir;
  const std::string ini = dir.Write(
      "app.ini", absl::StrCat("[uwsgi]\nmaster = true\npaste = config:", dir.File("nope.ini"),
                              "\n"));
  KilnProcess k({"--http-socket", dir.File("s.sock"), "--plugin-dir", PluginDir(), "--plugins",
                 "python", ini},
                dir.File("kiln.log"));
  k.SetEnv("LSAN_OPTIONS", LsanOptionsForPython());
  ASSERT_TRUE(k.Start());
  auto status = k.WaitExit(kStartup);
  ASSERT_TRUE(status.has_value()) << k.Log();
  EXPECT_NE(*status, 0);
  EXPECT_THAT(k.Log(), HasSubstr("cannot load WSGI app `config:" + dir.File("nope.ini")));
  EXPECT_THAT(k.Log(), HasSubstr("nope.ini"));
}

}  // namespace
}  // namespace kiln::testing
