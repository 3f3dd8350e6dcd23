// The shipped deployment, end to end: conf/deploy's ini file (temp paths, uid and chown-socket
// to unprivileged users) runs the example Flask app as root-started kiln, Debian's nginx in
// front (uwsgi_pass to the unix socket, workers as nobody) on a loopback port; every check is
// made through nginx, then SIGHUP under load and SIGTERM.
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/lib/nginx_process.h"
#include "tests/python/py_client.h"

namespace kiln::testing {
namespace {

using ::testing::HasSubstr;

std::string Read(const std::string& path) { return TempDir::ReadFile(path); }

struct Deployment {
  TempDir dir;
  NginxProcess nginx;
  std::string app, run, logs, sock, ini, nginx_http, front;

  bool Write() {
    app = dir.File("app");
    run = dir.File("run");
    logs = dir.File("log");
    for (const std::string& d : {app, run, logs}) ::mkdir(d.c_str(), 0755);
    // The service user owns its runtime directory (as the systemd unit arranges), so the
    // master, running as that user after the drop, can remove the socket at exit (vacuum).
    if (::chown(run.c_str(), ::getpwnam("nobody")->pw_uid, ::getgrnam("nogroup")->gr_gid) != 0) {
      return false;
    }
    std::string src = SourceDir();
    std::ofstream(app + "/app.py") << Read(src + "/examples/flask/app.py");
    std::ofstream(app + "/env.txt") << Read(src + "/conf/deploy/env.txt");
    sock = run + "/pythonservice.sock";
    std::string text = absl::StrReplaceAll(
        Read(src + "/conf/deploy/pythonservice.ini"),
        {{"/srv/pythonservice", app}, {"/run/kiln", run}, {"/var/log/pythonservice", logs},
         {"uid = www-data", "uid = nobody"}, {"www-data:www-data", "nobody:nogroup"},
         {"processes = 4", "processes = 2"}});
    text += "plugin-dir = " + PluginDir() + "\n";
    ini = dir.Write("kiln.ini", text);
    front = nginx.Address();
    nginx_http = absl::StrReplaceAll(
        Read(src + "/conf/deploy/nginx-pythonservice.conf"),
        {{"listen 80;", "listen " + front + ";"}, {"listen [::]:80;", ""},
         {"include uwsgi_params;", "include /etc/nginx/uwsgi_params;"}, {"/run/kiln", run}});
    return nginx.Port() > 0;
  }

  Response Get(std::string_view target) {
    absl::StatusOr<Response> r = HttpRequest(front, "GET", target);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : Response{};
  }
};

TEST(Deployment, FlaskBehindNginxWithTheShippedConfigWorksEndToEnd) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (uid and chown-socket)";
  Deployment d;
  ASSERT_TRUE(d.Write());
  KilnProcess kiln({"--ini", d.ini}, d.dir.File("kiln.out"));
  kiln.SetEnv("LSAN_OPTIONS", LsanOptionsForPython());
  ASSERT_TRUE(kiln.Start());
  ASSERT_EQ(d.nginx.Start(d.nginx_http), "") << kiln.Log();
  ASSERT_TRUE(WaitFor200(d.front, "/api/v1/health", absl::Seconds(30)))
      << kiln.Log() << Read(d.logs + "/app.log") << d.nginx.ErrorLog();

  // The app, through nginx.
  EXPECT_THAT(d.Get("/api/v1/health").body, HasSubstr("\"status\":\"ok\""));
  std::string big = "{\"blob\": \"" + std::string(200000, 'x') + "\", \"n\": 7}";
  absl::StatusOr<Response> echo =
      HttpRequest(d.front, "POST", "/api/v1/echo", big, "application/json");
  ASSERT_TRUE(echo.ok()) << echo.status();
  EXPECT_EQ(echo->status, 200);
  EXPECT_THAT(echo->body, HasSubstr("\"bytes\":" + std::to_string(big.size())));
  EXPECT_THAT(echo->body, HasSubstr("\"n\":7"));
  EXPECT_THAT(d.Get("/api/v1/query?x=1&y=caf%C3%A9").body, HasSubstr("\"y\":[\"caf\\u00e9\"]"));
  EXPECT_THAT(d.Get("/api/v1/hello/J%C3%BCrgen").body, HasSubstr("Hallo, J\\u00fcrgen"));
  EXPECT_THAT(d.Get("/api/v1/env/APP_GREETING").body, HasSubstr("hello from env.txt"));

  // The socket as configured: mode 666, owned by nobody:nogroup.
  struct stat st;
  ASSERT_EQ(::stat(d.sock.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0666u);
  EXPECT_EQ(st.st_uid, ::getpwnam("nobody")->pw_uid);
  EXPECT_EQ(st.st_gid, ::getgrnam("nogroup")->gr_gid);

  // The log files are filled.
  EXPECT_TRUE(WaitForFile(d.logs + "/apprequest.log", "GET /api/v1/health", absl::Seconds(5)))
      << Read(d.logs + "/apprequest.log");
  EXPECT_FALSE(Read(d.logs + "/app.log").empty());

  // SIGHUP while requests keep coming: none may fail.
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::string last_failure;
  std::thread load([&] {
    while (!stop.load()) {
      absl::StatusOr<Response> r = HttpRequest(d.front, "GET", "/api/v1/health");
      if (r.ok() && r->status == 200) {
        ++ok;
      } else {
        ++failed;
        last_failure = r.ok() ? r->head : std::string(r.status().message());
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kiln.Signal(SIGHUP);
  // The new generation's master line, then the old workers gone: the load keeps running
  // throughout and a little after.
  bool reloaded = false;
  for (int i = 0; i < 400 && !reloaded; ++i) {
    std::string log = kiln.Log() + Read(d.logs + "/app.log");
    reloaded = log.find("generation 1)") != std::string::npos &&
               log.find("of the previous generation") != std::string::npos;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  stop = true;
  load.join();
  EXPECT_TRUE(reloaded) << kiln.Log() << Read(d.logs + "/app.log");
  EXPECT_EQ(failed.load(), 0) << last_failure;
  EXPECT_GT(ok.load(), 10);
  EXPECT_EQ(d.Get("/api/v1/health").status, 200);

  // SIGTERM: a graceful stop that leaves no socket file (vacuum).
  kiln.Signal(SIGTERM);
  std::optional<int> status = kiln.WaitExit(absl::Seconds(30));
  ASSERT_TRUE(status.has_value()) << kiln.Log();
  EXPECT_NE(::access(d.sock.c_str(), F_OK), 0)
      << "socket file left behind:\n" << kiln.Log() << Read(d.logs + "/app.log");
}

}  // namespace
}  // namespace kiln::testing
