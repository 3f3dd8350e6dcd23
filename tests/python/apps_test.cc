// The python plugin in the real server: the example Flask and Django apps, the wsgiref
// validator apps, mount points and their sub-interpreters over kiln's http-socket (a unix socket
// under a temp dir), and an app that cannot be imported failing startup with its traceback.
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>

#include <atomic>
#include <thread>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/python/py_client.h"

namespace kiln::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// kiln serving one Python app on a unix http-socket; stopped by PID at the end of the test.
class PyServer {
 public:
  explicit PyServer(std::vector<std::string> args) {
    sock_ = dir_.File("http.sock");
    std::vector<std::string> all = {"--http-socket", sock_, "--plugin-dir", PluginDir(),
                                    "--plugins", "python", "--master", "--processes", "2"};
    all.insert(all.end(), args.begin(), args.end());
    kiln_ = std::make_unique<KilnProcess>(all, dir_.File("kiln.log"));
    kiln_->SetEnv("LSAN_OPTIONS", LsanOptionsForPython());
  }
  ~PyServer() {
    if (kiln_->running()) {
      kiln_->Signal(SIGTERM);
      kiln_->WaitExit(absl::Seconds(20));
    }
  }
  bool Start(std::string_view probe) {
    return kiln_->Start() && WaitFor200(sock_, probe, absl::Seconds(30));
  }
  Response Do(std::string_view method, std::string_view target, std::string_view body = "",
              std::string_view type = "") {
    absl::StatusOr<Response> r = HttpRequest(sock_, method, target, body, type);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : Response{};
  }
  KilnProcess& kiln() { return *kiln_; }
  const std::string& address() const { return sock_; }

 private:
  TempDir dir_;
  std::string sock_;
  std::unique_ptr<KilnProcess> kiln_;
};

std::string BigJson(size_t approx) {
  std::string s = "{\"items\": [";
  for (size_t i = 0; s.size() < approx; ++i) {
    if (i) s += ", ";
    s += "\"item-" + std::to_string(i) + "-caf\\u00e9\"";
  }
  return s + "]}";
}

TEST(FlaskApp, ServesHealthJsonPostQueryStringsAndUnicodePaths) {
  PyServer s({"--chdir", SourceDir() + "/examples/flask", "--module", "app:app"});
  ASSERT_TRUE(s.Start("/api/v1/health")) << s.kiln().Log();
  Response health = s.Do("GET", "/api/v1/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_THAT(health.body, HasSubstr("\"status\":\"ok\""));
  EXPECT_EQ(HeaderOf(health, "Content-Type"), "application/json");

  std::string big = BigJson(300000);  // far more than one read of the socket
  Response echo = s.Do("POST", "/api/v1/echo", big, "application/json");
  EXPECT_EQ(echo.status, 200);
  EXPECT_THAT(echo.body, HasSubstr("\"bytes\":" + std::to_string(big.size())));
  EXPECT_THAT(echo.body, HasSubstr("item-5000-caf\\u00e9"));

  Response q = s.Do("GET", "/api/v1/query?a=1&a=2&b=x%20y");
  EXPECT_THAT(q.body, HasSubstr("\"a\":[\"1\",\"2\"]"));
  EXPECT_THAT(q.body, HasSubstr("\"b\":[\"x y\"]"));
  EXPECT_THAT(q.body, HasSubstr("\"raw\":\"a=1&a=2&b=x%20y\""));

  Response u = s.Do("GET", "/api/v1/hello/J%C3%BCrgen");
  EXPECT_EQ(u.status, 200);
  EXPECT_THAT(u.body, HasSubstr("Hallo, J\\u00fcrgen"));
  EXPECT_THAT(u.body, HasSubstr("\"length\":6"));
}

TEST(FlaskApp, AnExceptionIsA500WithTracebackAndTheWorkerGoesOn) {
  PyServer s({"--chdir", SourceDir() + "/examples/flask", "--module", "app:app",
              "--processes", "1"});
  ASSERT_TRUE(s.Start("/api/v1/health")) << s.kiln().Log();
  EXPECT_EQ(s.Do("GET", "/api/v1/fail").status, 500);
  EXPECT_TRUE(s.kiln().WaitForLog("this endpoint fails on purpose", absl::Seconds(5)))
      << s.kiln().Log();
  EXPECT_EQ(s.Do("GET", "/api/v1/health").status, 200);
}

TEST(DjangoApp, ServesHealthJsonPostAndUnicodePaths) {
  PyServer s({"--chdir", SourceDir() + "/examples/django", "--module",
              "mysite.wsgi:application"});
  ASSERT_TRUE(s.Start("/api/v1/health")) << s.kiln().Log();
  EXPECT_THAT(s.Do("GET", "/api/v1/health").body, HasSubstr("\"framework\": \"django\""));
  Response echo = s.Do("POST", "/api/v1/echo", "{\"k\": [1, 2, 3]}", "application/json");
  EXPECT_EQ(echo.status, 200);
  EXPECT_THAT(echo.body, HasSubstr("\"received\": {\"k\": [1, 2, 3]}"));
  Response u = s.Do("GET", "/api/v1/hello/%C3%A9t%C3%A9");
  EXPECT_THAT(u.body, HasSubstr("Hallo, \\u00e9t\\u00e9"));
}

TEST(Conformance, ValidatorWrappedAppsAnswerWithoutWarnings) {
  std::string apps = SourceDir() + "/tests/unit/plugins/python/apps";
  PyServer s({"--pythonpath", apps, "--module", "wsgi_cases"});
  ASSERT_TRUE(s.Start("/v/hello")) << s.kiln().Log();
  EXPECT_EQ(s.Do("GET", "/v/hello").body, "validated hello");
  EXPECT_EQ(s.Do("POST", "/v/echo", "echo over http", "text/plain").body, "echo over http");
  EXPECT_EQ(s.Do("POST", "/v/lines", "line one\nline two\nthree", "text/plain").body,
            "line one\n|line |two\n|three");
  Response w = s.Do("GET", "/v/write");
  EXPECT_EQ(w.status, 201);
  EXPECT_EQ(w.body, "written and returned");
  EXPECT_EQ(s.Do("GET", "/v/file").body, "wrapped");
  EXPECT_EQ(s.Do("GET", "/v/empty").status, 304);
  EXPECT_THAT(s.kiln().Log(), Not(HasSubstr("WSGIWarning")));
  EXPECT_THAT(s.kiln().Log(), Not(HasSubstr("AssertionError")));
}

TEST(Mounts, ManageScriptNameMovesTheMountPointToScriptName) {
  std::string apps = SourceDir() + "/tests/unit/plugins/python/apps";
  PyServer s({"--pythonpath", apps, "--module", "wsgi_cases", "--mount",
              "/other=wsgi_cases:other", "--manage-script-name"});
  ASSERT_TRUE(s.Start("/v/hello")) << s.kiln().Log();
  Response r = s.Do("GET", "/other/x/y");
  EXPECT_THAT(r.body, HasSubstr("\"path_info\": \"/x/y\", \"script_name\": \"/other\""));
  EXPECT_EQ(s.Do("GET", "/otherwise").body, "no such case");
}

TEST(Threads, RequestsOverlapInOneWorkerWithFourThreads) {
  std::string apps = SourceDir() + "/tests/unit/plugins/python/apps";
  PyServer s({"--pythonpath", apps, "--module", "wsgi_cases", "--processes", "1", "--threads",
              "4"});
  ASSERT_TRUE(s.Start("/v/hello")) << s.kiln().Log();
  absl::Time t0 = absl::Now();
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    // Staggered, so each connection arrives while the previous ones are being served.
    clients.emplace_back([&] {
      if (s.Do("GET", "/sleep").status == 200) ++ok;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok.load(), 4);
  EXPECT_LT(absl::Now() - t0, absl::Milliseconds(1600));  // four 0.5 s requests, not in series
}

TEST(WsgiInput, AChunkedHttpBodyEndsAtItsLastChunk) {
  std::string apps = SourceDir() + "/tests/unit/plugins/python/apps";
  TempDir dir;
  PyServer s({"--pythonpath", apps, "--module", "wsgi_cases"});
  ASSERT_TRUE(s.Start("/v/hello")) << s.kiln().Log();
  absl::StatusOr<int> fd = Connect(s.address());
  ASSERT_TRUE(fd.ok()) << fd.status();
  std::string req =
      "POST /read_all HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
      "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n chunks\r\n0\r\n\r\n";
  ASSERT_EQ(::write(*fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  std::string raw;
  char buf[4096];
  for (ssize_t n; (n = ::read(*fd, buf, sizeof(buf))) > 0;) raw.append(buf, n);
  ::close(*fd);
  EXPECT_THAT(raw, HasSubstr(R"({"first": "hello chunks", "second": "", "third": ""})"));
}

TEST(Virtualenv, HomePointingAtAVenvMakesItThePrefix) {
  TempDir dir;
  std::string venv = dir.File("venv");
  std::string cmd = "/usr/bin/python3 -m venv --without-pip --system-site-packages " + venv;
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::string apps = SourceDir() + "/tests/unit/plugins/python/apps";
  PyServer s({"--pythonpath", apps, "--module", "wsgi_cases", "--virtualenv", venv});
  ASSERT_TRUE(s.Start("/v/hello")) << s.kiln().Log();
  Response r = s.Do("GET", "/sys");
  EXPECT_THAT(r.body, HasSubstr("\"prefix\": \"" + venv + "\""));
  EXPECT_THAT(r.body, HasSubstr("\"base_prefix\": \"/usr\""));
}

TEST(LazyApps, EachWorkerLoadsTheAppAfterFork) {
  PyServer s({"--chdir", SourceDir() + "/examples/flask", "--module", "app:app", "--lazy-apps"});
  ASSERT_TRUE(s.Start("/api/v1/health")) << s.kiln().Log();
  EXPECT_TRUE(s.kiln().WaitForLog("(default app)", absl::Seconds(10), 2)) << s.kiln().Log();
  Response w = s.Do("GET", "/api/v1/worker");
  EXPECT_THAT(w.body, ::testing::ContainsRegex("\"worker\":[12]"));
}

TEST(AppLoading, AnAppThatCannotBeImportedFailsStartupWithItsTraceback) {
  TempDir dir;
  std::string apps = SourceDir() + "/tests/unit/plugins/python/apps";
  KilnProcess k({"--http-socket", dir.File("s.sock"), "--plugin-dir", PluginDir(), "--plugins",
                 "python", "--pythonpath", apps, "--module", "broken_import"},
                dir.File("kiln.log"));
  k.SetEnv("LSAN_OPTIONS", LsanOptionsForPython());
  ASSERT_TRUE(k.Start());
  std::optional<int> status = k.WaitExit(absl::Seconds(20));
  ASSERT_TRUE(status.has_value()) << k.Log();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0) << k.Log();
  EXPECT_THAT(k.Log(), HasSubstr("Traceback (most recent call last)"));
  EXPECT_THAT(k.Log(), HasSubstr("this_module_does_not_exist_anywhere"));
}

// A request's traceback is one error block: a headline naming the app and the request, then
// every traceback line at error level marked as its continuation (`error: python| `), never
// a run of `warning:` lines nor a line without a level.
TEST(AppErrors, ARequestTracebackIsOneErrorBlock) {
  TempDir dir;
  std::string app = dir.File("raising.py");
  {
    std::ofstream out(app);
    out << "def helper():\n    raise ValueError('boom on purpose')\n\n"
           "def application(environ, start_response):\n    helper()\n";
  }
  std::string sock = dir.File("s.sock");
  KilnProcess k({"--http-socket", sock, "--plugin-dir", PluginDir(), "--plugins", "python",
                 "--wsgi-file", app},
                dir.File("kiln.log"));
  k.SetEnv("LSAN_OPTIONS", LsanOptionsForPython());
  ASSERT_TRUE(k.Start());
  absl::StatusOr<Response> r;
  for (int i = 0; i < 100; ++i) {
    r = HttpGet(sock, "/x");
    if (r.ok()) break;
    usleep(100 * 1000);
  }
  ASSERT_TRUE(r.ok()) << k.Log();
  EXPECT_EQ(r->status, 500);
  ASSERT_TRUE(k.WaitForLog("ValueError: boom on purpose", absl::Seconds(5))) << k.Log();
  std::vector<std::string> lines = absl::StrSplit(k.Log(), '\n');
  size_t head = 0;
  while (head < lines.size() && lines[head].find("error in WSGI app") == std::string::npos) ++head;
  ASSERT_LT(head, lines.size()) << k.Log();
  EXPECT_EQ(lines[head].rfind("error: python: ", 0), 0u) << lines[head];
  EXPECT_THAT(lines[head], HasSubstr("GET /x"));
  size_t end = head + 1;
  while (end < lines.size() && lines[end].rfind("error: python| ", 0) == 0) ++end;
  std::string block;
  for (size_t i = head + 1; i < end; ++i) block += lines[i] + "\n";
  EXPECT_THAT(block, HasSubstr("error: python| Traceback (most recent call last):\n"));
  EXPECT_THAT(block, HasSubstr("in helper\n"));
  EXPECT_THAT(block, HasSubstr("error: python| ValueError: boom on purpose\n"));
  EXPECT_THAT(k.Log(), Not(HasSubstr("warning: python"))) << k.Log();
}

// The value of "key" in a flat JSON object as its text (numbers, true/false, "strings").
std::string Field(const std::string& json, const std::string& key) {
  std::string tag = "\"" + key + "\": ";
  size_t at = json.find(tag);
  if (at == std::string::npos) return "<no " + key + ">";
  at += tag.size();
  size_t end = json.find_first_of(",}", at);
  return json.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

std::vector<std::string> TwoMounts(std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"--pythonpath", SourceDir() + "/tests/unit/plugins/python/apps",
                                   "--mount", "/a=interp_cases:first", "--mount",
                                   "/b=interp_cases:second", "--manage-script-name",
                                   "--processes", "1"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

TEST(SubInterpreters, EachMountedAppHasItsOwnModulesAndGlobals) {
  PyServer s(TwoMounts());
  ASSERT_TRUE(s.Start("/a/")) << s.kiln().Log();
  Response a1 = s.Do("GET", "/a/x");
  Response a2 = s.Do("GET", "/a/x");
  Response b = s.Do("GET", "/b/y");
  EXPECT_EQ(Field(b.body, "app"), "\"second\"");
  EXPECT_EQ(Field(b.body, "path_info"), "\"/y\"");
  EXPECT_NE(Field(a2.body, "modules_id"), Field(b.body, "modules_id")) << a2.body << b.body;
  EXPECT_EQ(Field(a1.body, "modules_id"), Field(a2.body, "modules_id"));
  // /a counted its probe and two requests; /b's own module copy counted one.
  EXPECT_EQ(Field(b.body, "requests"), "1") << b.body;
  // The kiln and uwsgi modules work there, and the app's post-fork hook ran in its worker.
  EXPECT_EQ(Field(b.body, "worker"), "1");
  EXPECT_EQ(Field(b.body, "kiln_worker"), "1");
  EXPECT_EQ(Field(b.body, "opt_mounts"), "2");  // a repeated key is a list
  EXPECT_EQ(Field(b.body, "postfork"), "1");
  EXPECT_THAT(s.kiln().Log(), HasSubstr("(sub-interpreter)"));
}

TEST(UwsgiOpt, ABareFlagIsTrueAndAValueIsBytes) {
  PyServer s(TwoMounts());  // `--master` is given bare, `--pythonpath DIR` with a value
  ASSERT_TRUE(s.Start("/a/")) << s.kiln().Log();
  Response r = s.Do("GET", "/a/x");
  EXPECT_EQ(Field(r.body, "opt_master"), "\"True\"") << r.body;
  std::string apps = SourceDir() + "/tests/unit/plugins/python/apps";
  EXPECT_EQ(Field(r.body, "opt_pythonpath"), "\"b'" + apps + "'\"") << r.body;
}

TEST(SubInterpreters, SingleInterpreterMakesTheMountsShareOne) {
  PyServer s(TwoMounts({"--single-interpreter"}));
  ASSERT_TRUE(s.Start("/a/")) << s.kiln().Log();
  Response a = s.Do("GET", "/a/x");
  Response b = s.Do("GET", "/b/y");
  EXPECT_EQ(Field(a.body, "modules_id"), Field(b.body, "modules_id")) << a.body << b.body;
  EXPECT_EQ(Field(b.body, "requests"), "3") << b.body;  // probe, /a, /b: one module
  EXPECT_THAT(s.kiln().Log(), Not(HasSubstr("(sub-interpreter)")));
}

TEST(SubInterpreters, BothMountsServeConcurrentlyWithTwoThreads) {
  PyServer s(TwoMounts({"--threads", "2"}));
  ASSERT_TRUE(s.Start("/a/")) << s.kiln().Log();
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&s, &ok, i] {
      std::string mount = i % 2 == 0 ? "/a" : "/b";
      Response r = s.Do("GET", mount + "/sleep");
      std::string want = i % 2 == 0 ? "\"first\"" : "\"second\"";
      if (r.status == 200 && Field(r.body, "app") == want) ++ok;
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok.load(), 8) << s.kiln().Log();
  EXPECT_THAT(s.kiln().Log(), Not(HasSubstr("Fatal Python error")));
}

TEST(SubInterpreters, LazyAppsLoadEachMountInItsOwnInterpreterInTheWorker) {
  PyServer s(TwoMounts({"--lazy-apps"}));
  ASSERT_TRUE(s.Start("/a/")) << s.kiln().Log();
  Response a = s.Do("GET", "/a/x");
  Response b = s.Do("GET", "/b/y");
  EXPECT_NE(Field(a.body, "modules_id"), Field(b.body, "modules_id")) << a.body << b.body;
  EXPECT_EQ(Field(b.body, "postfork"), "1");
}

TEST(SubInterpreters, AMountThatStartsThreadsWhenImportedServes) {
  PyServer s(TwoMounts({"--mount", "/t=threads_at_import"}));
  ASSERT_TRUE(s.Start("/t/")) << s.kiln().Log();
  EXPECT_THAT(s.Do("GET", "/t/").body, HasSubstr("threads ok"));
  EXPECT_EQ(Field(s.Do("GET", "/a/x").body, "app"), "\"first\"");
}

TEST(SubInterpreters, AMountThatCannotBeImportedFailsStartupNamingIt) {
  TempDir dir;
  std::string apps = SourceDir() + "/tests/unit/plugins/python/apps";
  KilnProcess k({"--http-socket", dir.File("s.sock"), "--plugin-dir", PluginDir(), "--plugins",
                 "python", "--master", "--pythonpath", apps, "--mount", "/ok=interp_cases:first",
                 "--mount", "/bad=broken_import"},
                dir.File("kiln.log"));
  k.SetEnv("LSAN_OPTIONS", LsanOptionsForPython());
  ASSERT_TRUE(k.Start());
  std::optional<int> status = k.WaitExit(absl::Seconds(20));
  ASSERT_TRUE(status.has_value()) << k.Log();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0) << k.Log();
  EXPECT_THAT(k.Log(), HasSubstr("cannot load WSGI app `broken_import` (mountpoint='/bad')"));
  EXPECT_THAT(k.Log(), HasSubstr("Traceback (most recent call last)"));
  EXPECT_THAT(k.Log(), HasSubstr("this_module_does_not_exist_anywhere"));
}

// A worker's full garbage collection after fork: with the app's objects frozen in the master
// (the default) the worker keeps sharing their pages; with py-gc-freeze = false it copies them.
TEST(GcFreeze, AWorkersFullCollectionLeavesTheAppsPagesShared) {
  auto after_collect = [](std::vector<std::string> more, std::string* body) {
    std::vector<std::string> args = {"--pythonpath",
                                     SourceDir() + "/tests/unit/plugins/python/apps",
                                     "--module", "gc_share", "--processes", "1"};
    args.insert(args.end(), more.begin(), more.end());
    PyServer s(args);
    if (!s.Start("/")) {
      ADD_FAILURE() << s.kiln().Log();
      return int64_t{-1};
    }
    *body = s.Do("GET", "/collect").body;
    return int64_t{std::atoll(Field(*body, "private_dirty_kib").c_str())};
  };
  std::string frozen_body, copied_body;
  const int64_t frozen = after_collect({}, &frozen_body);
  const int64_t copied = after_collect({"--py-gc-freeze=false"}, &copied_body);
  EXPECT_NE(Field(frozen_body, "frozen"), "0") << frozen_body;
  EXPECT_EQ(Field(copied_body, "frozen"), "0") << copied_body;
  ASSERT_GT(frozen, 0) << frozen_body;
  // Measured: about 1.5 MiB against 10 MiB for an app that imports Flask.
  EXPECT_LT(frozen * 2, copied) << frozen_body << " / " << copied_body;
}

}  // namespace
}  // namespace kiln::testing
