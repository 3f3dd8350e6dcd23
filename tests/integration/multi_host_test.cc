// kiln as one of several hosts behind a real load balancer: three kiln masters (processes = 2)
// stand in for three hosts on 127.0.0.2, .3 and .4 serving the example Flask app, Debian's
// nginx on 127.0.0.1 in front with an upstream of the three, one location over uwsgi_pass and
// one over proxy_pass with an upstream keep-alive pool, with the retry settings of
// conf/nginx/kiln-upstream.conf. GET and POST client loops and slow requests run through
// nginx while hosts are stopped gracefully, killed, reloaded one after another and started
// again; every event counts the requests that failed while it lasted. Loopback only; every
// process is stopped by PID.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/python/py_client.h"

namespace kiln::testing {
namespace {

constexpr char kNginx[] = "/usr/sbin/nginx";
constexpr int kHosts = 3;

// The example app plus one slow route (a request that is still running when its host stops).
constexpr char kSlowApp[] = R"(import time
from flask import request
from app import app


@app.get('/api/v1/slow')
def slow():
    time.sleep(float(request.args.get('s', '1')))
    return 'slow done\n'
)";

std::string PluginDir() {
  const char* d = std::getenv("KILN_PLUGIN_BUILD_DIR");
  return d != nullptr ? d : "";
}

// nginx in the foreground (daemon off), started as root with its workers as nobody, stopped by
// PID.
class Nginx {
 public:
  explicit Nginx(const std::string& conf, const std::string& error_log) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      ::execl(kNginx, "nginx", "-c", conf.c_str(), "-e", error_log.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~Nginx() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGQUIT);
    for (int i = 0; i < 100 && ::waitpid(pid_, nullptr, WNOHANG) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// The three hosts, nginx, and the client loops with their failure counts per event.
class Cluster {
 public:
  Cluster() {
    uwsgi_port_ = FreeLoopbackPort();
    http_port_ = FreeLoopbackPort();
    front_port_ = FreeLoopbackPort();
    front_http_port_ = FreeLoopbackPort();
    front_solo_port_ = FreeLoopbackPort();
    app_dir_ = dir_.File("app");
    ::mkdir(app_dir_.c_str(), 0755);
    dir_.Write("app/app.py", TempDir::ReadFile(SourceDir() + "/examples/flask/app.py"));
    dir_.Write("app/slowapp.py", kSlowApp);
    ngx_ = dir_.File("nginx");
    ::mkdir(ngx_.c_str(), 0777);
    ::chmod(ngx_.c_str(), 0777);  // nginx's workers (nobody) write their temp files here
    hosts_.resize(kHosts);
  }
  ~Cluster() { StopClients(); }

  std::string Ip(int host) const { return absl::StrCat("127.0.0.", host + 2); }
  // nginx's three servers: uwsgi_pass, keep-alive proxy_pass, and host 0 alone.
  std::string front() const { return absl::StrCat("127.0.0.1:", front_port_); }
  std::string front_http() const { return absl::StrCat("127.0.0.1:", front_http_port_); }
  std::string front_solo() const { return absl::StrCat("127.0.0.1:", front_solo_port_); }
  KilnProcess& host(int i) { return *hosts_[static_cast<size_t>(i)]; }

  bool StartHost(int i) {
    const std::string log = dir_.File(absl::StrCat("host", i, "-", ++starts_, ".log"));
    auto k = std::make_unique<KilnProcess>(
        std::vector<std::string>{
            "--master", "--processes", "2", "--plugin-dir", PluginDir(), "--plugins", "python",
            "--socket", absl::StrCat(Ip(i), ":", uwsgi_port_), "--http-socket",
            absl::StrCat(Ip(i), ":", http_port_), "--chdir", app_dir_, "--module",
            "slowapp:app", "--worker-reload-mercy", "30", "--http-keepalive-drain", "3",
            "--vacuum"},
        log);
    k->SetEnv("LSAN_OPTIONS", LsanOptionsForPython());
    hosts_[static_cast<size_t>(i)] = std::move(k);
    return host(i).Start() &&
           WaitFor200(absl::StrCat(Ip(i), ":", http_port_), "/api/v1/health",
                      absl::Seconds(30)) &&
           host(i).WaitForLog("kiln is ready", absl::Seconds(30));
  }

  // conf/nginx/kiln-upstream.conf as shipped, on the test's addresses, plus one upstream of
  // host 0 alone behind keep-alive proxy_pass. Its keepalive_timeout (10 s, below kiln's
  // http-keepalive-drain of 15 s) becomes 2 s, below the hosts' 3 s: the same order, shorter
  // waits for idle pooled connections on every stop and reload.
  std::string NginxConf() const {
    std::vector<std::pair<std::string, std::string>> subs = {
        {"listen 80;", absl::StrCat("listen ", front(), ";")},
        {"listen 8081;", absl::StrCat("listen ", front_http(), ";")},
        {"include uwsgi_params;", "include /etc/nginx/uwsgi_params;"},
        {"keepalive_timeout 10s;", "keepalive_timeout 2s;"}};
    for (int i = 0; i < kHosts; ++i) {
      subs.push_back({absl::StrCat("10.0.0.1", i + 1, ":3031"),
                      absl::StrCat(Ip(i), ":", uwsgi_port_)});
      subs.push_back({absl::StrCat("10.0.0.1", i + 1, ":8080"),
                      absl::StrCat(Ip(i), ":", http_port_)});
    }
    const std::string shipped = absl::StrReplaceAll(
        TempDir::ReadFile(SourceDir() + "/conf/nginx/kiln-upstream.conf"), subs);
    return absl::StrReplaceAll(
        R"(daemon off;
worker_processes 1;
user nobody nogroup;
pid NGX/nginx.pid;
error_log NGX/error.log;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path NGX/body;
  proxy_temp_path NGX/proxy;
  fastcgi_temp_path NGX/fastcgi;
  uwsgi_temp_path NGX/uwsgi;
  scgi_temp_path NGX/scgi;
SHIPPED
  upstream kiln_solo {
    server HOST0:HTTP_PORT;
    keepalive 16;
    keepalive_timeout 2s;
  }
  server {
    listen SOLO;
    location / {
      proxy_pass http://kiln_solo;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_read_timeout 30s;
    }
  }
}
)",
        {{"NGX", ngx_}, {"SHIPPED", shipped}, {"HOST0", Ip(0)},
         {"HTTP_PORT", std::to_string(http_port_)}, {"SOLO", front_solo()}});
  }

  bool StartNginx() {
    const std::string conf = dir_.Write("nginx/nginx.conf", NginxConf());
    nginx_ = std::make_unique<Nginx>(conf, ngx_ + "/error.log");
    return WaitFor200(front(), "/api/v1/health", absl::Seconds(15)) &&
           WaitFor200(front_http(), "/api/v1/health", absl::Seconds(15));
  }
  std::string NginxErrors() const { return TempDir::ReadFile(ngx_ + "/error.log"); }

  // Client loops through nginx: GET and POST on both servers (or on host 0 alone), and
  // `slow` concurrent 1 s requests. Every result is counted under the event running then.
  void StartClients(bool solo, int slow) {
    stop_ = false;
    struct Target {
      std::string front, method, path;
    };
    auto loop = [this](std::vector<Target> targets) {
      for (size_t n = 0; !stop_.load(); ++n) {
        const Target& t = targets[n % targets.size()];
        const bool post = t.method == "POST";
        absl::StatusOr<Response> r = HttpRequest(
            t.front, t.method, t.path, post ? absl::StrCat("{\"n\": ", n, "}") : "",
            post ? "application/json" : "", absl::Seconds(30));
        Record(r.ok() && r->status == 200,
               absl::StrCat(t.method, " ", t.front, t.path, ": ",
                            r.ok() ? r->head.substr(0, r->head.find('\r'))
                                   : std::string(r.status().message())));
      }
    };
    const std::vector<std::string> fronts =
        solo ? std::vector<std::string>{front_solo()} : std::vector<std::string>{front(), front_http()};
    std::vector<Target> gets, posts;
    for (const std::string& f : fronts) {
      gets.push_back({f, "GET", "/api/v1/health"});
      posts.push_back({f, "POST", "/api/v1/echo"});
    }
    clients_.emplace_back(loop, gets);
    clients_.emplace_back(loop, posts);
    for (int i = 0; i < slow; ++i) {
      clients_.emplace_back(
          loop, std::vector<Target>{{fronts[static_cast<size_t>(i) % fronts.size()], "GET",
                                     "/api/v1/slow?s=1"}});
    }
  }
  void StopClients() {
    stop_ = true;
    for (std::thread& t : clients_) t.join();
    clients_.clear();
  }

  // Results are counted under `name` from now on.
  void Event(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    event_ = name;
    order_.push_back(name);
  }
  struct Tally {
    int ok = 0, failed = 0;
    std::string first_failure;
  };
  Tally Of(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    return tally_[name];
  }
  std::string Report() {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out;
    for (const std::string& name : order_) {
      const Tally& t = tally_[name];
      absl::StrAppendFormat(&out, "  %-44s %6d ok %4d failed %s\n", name, t.ok, t.failed,
                            t.first_failure);
    }
    return out;
  }
  void Pause(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

 private:
  void Record(bool ok, const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    Tally& t = tally_[event_];
    if (ok) {
      ++t.ok;
    } else {
      if (t.failed++ == 0) t.first_failure = what;
    }
  }

  TempDir dir_;
  std::string app_dir_, ngx_;
  int uwsgi_port_ = 0, http_port_ = 0, front_port_ = 0, front_http_port_ = 0,
      front_solo_port_ = 0, starts_ = 0;
  std::vector<std::unique_ptr<KilnProcess>> hosts_;
  std::unique_ptr<Nginx> nginx_;
  std::vector<std::thread> clients_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::string event_ = "start";
  std::vector<std::string> order_;
  std::map<std::string, Tally> tally_;
};

TEST(MultiHost, ThreeHostsBehindNginxLoseNothingOnStopsReloadsAndRestarts) {
  ASSERT_EQ(::geteuid(), 0u) << "nginx runs as root with its workers as nobody";
  ASSERT_EQ(MissingTool(kNginx, "nginx-light"), "");
  Cluster c;
  for (int i = 0; i < kHosts; ++i) {
    ASSERT_TRUE(c.StartHost(i)) << c.host(i).Log();
  }
  ASSERT_TRUE(c.StartNginx()) << c.NginxErrors();
  c.Event("warm-up");
  c.StartClients(/*solo=*/false, /*slow=*/3);
  c.Pause(1500);

  // Graceful stop of host 0: a slow request running there (sent through nginx's server for
  // host 0 alone, so it is surely there) completes; nothing fails (POSTs included).
  c.Event("graceful stop of 127.0.0.2");
  std::thread slow_there([&c] {
    absl::StatusOr<Response> r =
        HttpRequest(c.front_solo(), "GET", "/api/v1/slow?s=2", "", "", absl::Seconds(30));
    EXPECT_TRUE(r.ok() && r->status == 200)
        << "the slow request on the stopping host: "
        << (r.ok() ? r->head : std::string(r.status().message()));
  });
  c.Pause(500);
  c.host(0).Signal(SIGTERM);
  slow_there.join();
  std::optional<int> exited = c.host(0).WaitExit(absl::Seconds(40));
  ASSERT_TRUE(exited.has_value()) << c.host(0).Log();
  c.Event("127.0.0.2 stopped");
  c.Pause(1500);

  // It starts again and rejoins.
  c.Event("127.0.0.2 starts again and rejoins");
  ASSERT_TRUE(c.StartHost(0)) << c.host(0).Log();
  c.Pause(2500);

  // SIGKILL of host 1's master (its workers die with it): only requests in flight there fail.
  c.Event("SIGKILL of 127.0.0.3's master (first 1 s)");
  ::kill(c.host(1).pid(), SIGKILL);
  c.Pause(1000);
  c.Event("after the SIGKILL");
  c.Pause(2000);
  c.Event("127.0.0.3 starts again and rejoins");
  ASSERT_TRUE(c.StartHost(1)) << c.host(1).Log();
  c.Pause(2500);

  // A rolling reload: SIGHUP to each host, 2 s apart.
  c.Event("rolling SIGHUP reload, one host every 2 s");
  for (int i = 0; i < kHosts; ++i) {
    c.host(i).Signal(SIGHUP);
    c.Pause(2000);
  }
  for (int i = 0; i < kHosts; ++i) {
    EXPECT_TRUE(c.host(i).WaitForLog("of the previous generation (pid", absl::Seconds(30)))
        << c.host(i).Log();
  }
  c.Pause(1000);
  c.StopClients();

  // One host alone behind the keep-alive proxy_pass (no other host to retry on), reloaded.
  c.Event("127.0.0.2 alone behind keep-alive proxy_pass, SIGHUP");
  c.StartClients(/*solo=*/true, /*slow=*/0);
  c.Pause(1000);
  c.host(0).Signal(SIGHUP);
  EXPECT_TRUE(c.host(0).WaitForLog("of the previous generation (pid", absl::Seconds(30), 2))
      << c.host(0).Log();
  c.Pause(1500);
  c.StopClients();

  const std::string report = c.Report();
  std::printf("requests through nginx, per event:\n%s", report.c_str());
  for (const char* zero :
       {"graceful stop of 127.0.0.2", "127.0.0.2 stopped", "127.0.0.2 starts again and rejoins",
        "after the SIGKILL", "127.0.0.3 starts again and rejoins",
        "rolling SIGHUP reload, one host every 2 s",
        "127.0.0.2 alone behind keep-alive proxy_pass, SIGHUP"}) {
    const Cluster::Tally t = c.Of(zero);
    EXPECT_EQ(t.failed, 0) << zero << ": " << t.first_failure << "\n"
                           << report << c.NginxErrors();
    EXPECT_GT(t.ok, 0) << zero;
  }
  for (int i = 0; i < kHosts; ++i) {
    c.host(i).Signal(SIGTERM);
    EXPECT_TRUE(c.host(i).WaitExit(absl::Seconds(40)).has_value()) << c.host(i).Log();
  }
}

// The Prometheus part of the same shape (issue 18): Debian's prometheus (a config under the
// test's temp dir, scrape interval 1 s) scrapes the three hosts' /metrics on the stats address
// (stats-http = true), and after a final scrape a query through its HTTP API for the sum of
// kiln's request counters across the three equals the number of requests the test sent.
// It needs the stats server's /metrics, which is not in this tree yet: write it here, with
// Cluster::StartHost given a stats address per host, once it is.
TEST(MultiHost, DISABLED_PrometheusSumsTheRequestCountersOfTheThreeHosts) {}

}  // namespace
}  // namespace kiln::testing
