// Which app serves a request, end to end with the real kiln and the python plugin: uWSGI's
// `no-default-app` (a SCRIPT_NAME no mount point matches is refused, not served by the
// `module` app) and virtual hosting (`vhost`: `host|/prefix` mounts chosen by SERVER_NAME,
// `vhost-host` by the Host header), over the HTTP socket, raw uwsgi packets and a real nginx
// with two server names passing to one kiln. Loopback and unix sockets only; every process
// is stopped by PID.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/python/py_client.h"

namespace kiln::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kNginx[] = "/usr/sbin/nginx";

// Three apps that answer with their name and the SCRIPT_NAME/PATH_INFO they were given.
constexpr char kApps[] = R"(def make(name):
    def app(environ, start_response):
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [('%s %s %s' % (name, environ.get('SCRIPT_NAME', ''),
                               environ.get('PATH_INFO', ''))).encode()]
    return app


a = make('a')
b = make('b')
main = make('main')
)";

// kiln with the python plugin, the apps above on its pythonpath, an HTTP and a uwsgi socket.
class Server {
 public:
  explicit Server(std::vector<std::string> args) {
    dir_.Write("routeapps.py", kApps);
    http_ = dir_.File("h.sock");
    uwsgi_ = dir_.File("u.sock");
    std::vector<std::string> all = {"--http-socket", http_, "--socket", uwsgi_, "--chmod-socket",
                                    "666", "--plugin-dir", PluginDir(), "--plugins", "python",
                                    "--master", "--processes", "1", "--pythonpath", dir_.path()};
    all.insert(all.end(), args.begin(), args.end());
    kiln_ = std::make_unique<KilnProcess>(all, dir_.File("kiln.log"));
    kiln_->SetEnv("LSAN_OPTIONS", LsanOptionsForPython());
  }
  ~Server() {
    if (kiln_->running()) {
      kiln_->Signal(SIGTERM);
      kiln_->WaitExit(absl::Seconds(20));
    }
  }
  bool Start() { return kiln_->Start() && kiln_->WaitForLog("spawned", absl::Seconds(30)); }
  // GET over the HTTP socket with this Host header.
  Response Http(std::string_view target, std::string_view host = "localhost") {
    absl::StatusOr<Response> r = Exchange(
        http_, absl::StrFormat("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                               target, host));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : Response{};
  }
  // A uwsgi GET of PATH_INFO `path` with exactly these other variables, as a front end sends.
  Response Uwsgi(std::string_view path,
                 const std::vector<std::pair<std::string, std::string>>& vars) {
    std::string block;
    AppendUwsgiVar(&block, "REQUEST_METHOD", "GET");
    AppendUwsgiVar(&block, "REQUEST_URI", path);
    AppendUwsgiVar(&block, "PATH_INFO", path);
    AppendUwsgiVar(&block, "SERVER_PROTOCOL", "HTTP/1.1");
    for (const auto& [k, v] : vars) AppendUwsgiVar(&block, k, v);
    std::string pkt = {0, static_cast<char>(block.size() & 0xff),
                       static_cast<char>(block.size() >> 8), 0};
    absl::StatusOr<Response> r = Exchange(uwsgi_, pkt + block);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : Response{};
  }
  KilnProcess& kiln() { return *kiln_; }
  const std::string& uwsgi_socket() const { return uwsgi_; }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
  std::string http_;
  std::string uwsgi_;
  std::unique_ptr<KilnProcess> kiln_;
};

std::vector<std::string> TwoMountsAndAModule(bool no_default_app) {
  std::vector<std::string> args = {"--module", "routeapps:main", "--mount", "/a=routeapps:a",
                                   "--mount", "/b=routeapps:b", "--manage-script-name"};
  if (no_default_app) args.push_back("--no-default-app");
  return args;
}

// Without the option, a SCRIPT_NAME nothing is mounted at falls back to the module app.
TEST(NoDefaultApp, WithoutItAnUnmatchedScriptNameGoesToTheModuleApp) {
  Server s(TwoMountsAndAModule(false));
  ASSERT_TRUE(s.Start()) << s.kiln().Log();
  EXPECT_EQ(s.Http("/a/x").body, "a /a /x");
  EXPECT_EQ(s.Http("/b").body, "b /b ");
  EXPECT_EQ(s.Http("/elsewhere").body, "main  /elsewhere");
  Response c = s.Uwsgi("/x", {{"SCRIPT_NAME", "/c"}});
  EXPECT_EQ(c.status, 200);
  EXPECT_EQ(c.body, "main /c /x");
}

// With it, uWSGI's answer: 500 and "--- no python application found ...", while the mounts
// and uWSGI's exact app id of the module app ('', a request without SCRIPT_NAME) still serve.
TEST(NoDefaultApp, AnUnmatchedScriptNameGets500AndTheMountsStillServe) {
  Server s(TwoMountsAndAModule(true));
  ASSERT_TRUE(s.Start()) << s.kiln().Log();
  EXPECT_EQ(s.Http("/a/x").body, "a /a /x");
  EXPECT_EQ(s.Http("/b").body, "b /b ");
  EXPECT_EQ(s.Uwsgi("/x", {{"SCRIPT_NAME", "/b"}}).body, "b /b /x");
  Response c = s.Uwsgi("/x", {{"SCRIPT_NAME", "/c"}});
  EXPECT_EQ(c.status, 500);
  EXPECT_THAT(c.body, Not(HasSubstr("main")));
  EXPECT_TRUE(s.kiln().WaitForLog(
      "--- no python application found, check your startup logs for errors --- "
      "(no-default-app: no mount point is `/c`)",
      absl::Seconds(5)))
      << s.kiln().Log();
  EXPECT_EQ(s.Http("/elsewhere").body, "main  /elsewhere");  // uWSGI's id '' is the module's
  EXPECT_EQ(s.Http("/a/again").body, "a /a /again");          // the worker serves on
}

// A root mount is uWSGI's app '/': under no-default-app the HTTP requests no other mount
// takes (SCRIPT_NAME empty) are refused too.
TEST(NoDefaultApp, TheRootMountNoLongerCatchesTheRestOverHttp) {
  for (bool on : {false, true}) {
    std::vector<std::string> args = {"--mount", "/=routeapps:main", "--mount", "/a=routeapps:a",
                                     "--manage-script-name"};
    if (on) args.push_back("--no-default-app");
    Server s(args);
    ASSERT_TRUE(s.Start()) << s.kiln().Log();
    EXPECT_EQ(s.Http("/a/x").body, "a /a /x");
    Response rest = s.Http("/elsewhere");
    EXPECT_EQ(rest.status, on ? 500 : 200) << on;
    EXPECT_EQ(rest.body == "main  /elsewhere", !on) << rest.body;
  }
}

std::vector<std::string> TwoHosts(std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"--vhost", "--module", "routeapps:main", "--mount",
                                   "a.test|=routeapps:a", "--mount", "b.test|/app=routeapps:b",
                                   "--manage-script-name"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// The HTTP socket: kiln's SERVER_NAME is the Host header without its port.
TEST(Vhost, EachHostReachesItsOwnAppOverTheHttpSocket) {
  Server s(TwoHosts());
  ASSERT_TRUE(s.Start()) << s.kiln().Log();
  EXPECT_THAT(s.kiln().Log(),
              HasSubstr("VirtualHosting mode enabled (apps chosen by SERVER_NAME)"));
  EXPECT_THAT(s.kiln().Log(), HasSubstr("mountpoint='a.test|'"));
  EXPECT_EQ(s.Http("/x", "a.test").body, "a  /x");
  EXPECT_EQ(s.Http("/x", "A.Test:8080").body, "a  /x");
  EXPECT_EQ(s.Http("/app/y", "b.test").body, "b /app /y");
  EXPECT_EQ(s.Http("/x", "b.test").body, "main  /x");      // b.test has no root mount
  EXPECT_EQ(s.Http("/app/y", "a.test").body, "a  /app/y");  // /app is b.test's only
  EXPECT_EQ(s.Http("/x", "c.test").body, "main  /x");
}

// vhost-host keys on HTTP_HOST, vhost on SERVER_NAME, when a front end sends both.
TEST(Vhost, VhostHostChoosesByTheHostHeaderInsteadOfServerName) {
  std::vector<std::pair<std::string, std::string>> vars = {{"SERVER_NAME", "a.test"},
                                                           {"HTTP_HOST", "b.test"}};
  Server by_name(TwoHosts());
  ASSERT_TRUE(by_name.Start()) << by_name.kiln().Log();
  EXPECT_EQ(by_name.Uwsgi("/app/x", vars).body, "a  /app/x");
  Server by_host(TwoHosts({"--vhost-host"}));
  ASSERT_TRUE(by_host.Start()) << by_host.kiln().Log();
  EXPECT_EQ(by_host.Uwsgi("/app/x", vars).body, "b /app /x");
}

// No app is ever loaded from request variables: the request is served as if they were not
// there, and the refusal is logged once per process.
TEST(Vhost, RequestVariablesLoadNoApp) {
  std::string py = "routeapps:a";  // something that would load, if anything did
  Server s(TwoHosts({"--no-default-app"}));
  ASSERT_TRUE(s.Start()) << s.kiln().Log();
  for (int i = 0; i < 3; ++i) {
    Response r = s.Uwsgi("/x", {{"SERVER_NAME", "c.test"}, {"UWSGI_SCRIPT", py}});
    EXPECT_EQ(r.status, 500);
    EXPECT_THAT(r.body, Not(HasSubstr("a ")));
  }
  EXPECT_EQ(s.Uwsgi("/x", {{"SERVER_NAME", "a.test"}, {"UWSGI_FILE", "/etc/x.py"}}).body,
            "a  /x");
  ASSERT_TRUE(s.kiln().WaitForLog("(no-default-app: no mount point is `c.test|`)",
                                  absl::Seconds(5), 3))
      << s.kiln().Log();
  EXPECT_EQ(CountOf(s.kiln().Log(), "kiln does not load apps from request variables"), 1)
      << s.kiln().Log();
  EXPECT_THAT(s.kiln().Log(), HasSubstr("request variable UWSGI_SCRIPT=routeapps:a asks"));
}

// A mount without its host is refused at start-up under vhost, naming it.
TEST(Vhost, AMountWithoutAHostStopsStartUp) {
  Server s({"--vhost", "--mount", "/a=routeapps:a"});
  ASSERT_TRUE(s.kiln().Start());
  std::optional<int> status = s.kiln().WaitExit(absl::Seconds(30));
  ASSERT_TRUE(status.has_value()) << s.kiln().Log();
  EXPECT_NE(*status, 0);
  EXPECT_THAT(s.kiln().Log(), HasSubstr("mount `/a=routeapps:a`: under `vhost` a mount names "
                                        "its host: `host|/prefix=target`"));
}

// Two nginx server blocks, both uwsgi_pass'ing to one kiln: nginx's SERVER_NAME (the block's
// first name) picks the app, so www.a.test reaches a.test's app too.
std::string NginxConf(const TempDir& dir, int port, const std::string& sock) {
  return absl::StrFormat(R"(user nobody nogroup;
worker_processes 1;
error_log %1$s/nginx-error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %1$s/body;
  proxy_temp_path %1$s/proxy;
  uwsgi_temp_path %1$s/uwsgi;
  fastcgi_temp_path %1$s/fastcgi;
  scgi_temp_path %1$s/scgi;
  server {
    listen 127.0.0.1:%2$d default_server;
    server_name a.test www.a.test;
    location / { include /etc/nginx/uwsgi_params; uwsgi_pass unix:%3$s; }
  }
  server {
    listen 127.0.0.1:%2$d;
    server_name b.test;
    location / { include /etc/nginx/uwsgi_params; uwsgi_pass unix:%3$s; }
  }
}
)",
                         dir.path(), port, sock);
}

TEST(Vhost, TwoNginxServerNamesReachTheirOwnAppsInOneKiln) {
  ASSERT_EQ(MissingTool(kNginx, "nginx-light"), "");
  Server s(TwoHosts());
  ASSERT_TRUE(s.Start()) << s.kiln().Log();
  int port = FreeLoopbackPort();
  ASSERT_GT(port, 0);
  std::string conf = s.dir().Write("nginx.conf", NginxConf(s.dir(), port, s.uwsgi_socket()));
  std::string global = absl::StrFormat("pid %s/nginx.pid; daemon off;", s.dir().path());
  std::string error_log = s.dir().File("nginx-error.log");
  pid_t nginx = fork();
  ASSERT_GE(nginx, 0);
  if (nginx == 0) {
    setpgid(0, 0);
    execl(kNginx, "nginx", "-e", error_log.c_str(), "-p", s.dir().path().c_str(), "-c",
          conf.c_str(), "-g", global.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  std::string front = absl::StrFormat("127.0.0.1:%d", port);
  bool up = WaitUntilHttpAnswers(front, absl::Seconds(10));
  auto get = [&](std::string_view target, std::string_view host) {
    absl::StatusOr<Response> r = Exchange(
        front, absl::StrFormat("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                               target, host));
    return r.ok() ? absl::StrFormat("%d %s", r->status, r->body)
                  : std::string(r.status().message());
  };
  std::vector<std::string> got;
  if (up) {
    got = {get("/x", "a.test"), get("/app/y", "b.test"), get("/x", "www.a.test"),
           get("/x", "b.test"), get("/x", "unknown.test")};
  }
  kill(nginx, SIGQUIT);
  for (int i = 0; i < 250 && waitpid(nginx, nullptr, WNOHANG) == 0; ++i) usleep(20000);
  kill(-nginx, SIGKILL);
  waitpid(nginx, nullptr, 0);
  ASSERT_TRUE(up) << TempDir::ReadFile(error_log) << s.kiln().Log();
  EXPECT_THAT(got, ::testing::ElementsAre("200 a  /x", "200 b /app /y", "200 a  /x",
                                          "200 main  /x", "200 a  /x"))
      << s.kiln().Log();
}

}  // namespace
}  // namespace kiln::testing
