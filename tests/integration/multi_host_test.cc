// kiln as one of several hosts behind a real load balancer: three kiln masters (processes = 2)
// stand in for three hosts on 127.0.0.2, .3 and .4 serving the example Flask app, Debian's
// nginx on 127.0.0.1 in front with an upstream of the three, one location over uwsgi_pass and
// one over proxy_pass with an upstream keep-alive pool, with the retry settings of
// conf/nginx/kiln-upstream.conf. GET and POST client loops and slow requests run through
// nginx while hosts are stopped gracefully, killed, reloaded one after another and started
// again; every event counts the requests that failed while it lasted. Then Debian's
// prometheus scrapes the three hosts' /metrics and its sum of their request counters is checked
// against the requests the test sent. Loopback only; every process is stopped by PID.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "core/top/json.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/lib/nginx_process.h"
#include "tests/python/py_client.h"

namespace kiln::testing {
namespace {

constexpr char kPrometheus[] = "/usr/bin/prometheus";
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

// Stops a server the test started in its own process group: `sig` (its graceful stop), up to
// 5 s to exit, then SIGKILL to the group.
void Stop(pid_t pid, int sig) {
  if (pid <= 0) return;
  ::kill(pid, sig);
  for (int i = 0; i < 100 && ::waitpid(pid, nullptr, WNOHANG) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(-pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

// Debian's prometheus with a config scraping `targets`' /metrics every second, its storage and
// log under `dir`, its API on 127.0.0.1; stopped by PID (SIGTERM, then SIGKILL).
class Prometheus {
 public:
  Prometheus(const TempDir& dir, const std::vector<std::string>& targets)
      : address_(absl::StrCat("127.0.0.1:", FreeLoopbackPort())),
        log_(dir.File("prometheus.log")) {
    std::string list;
    for (const std::string& t : targets) {
      absl::StrAppend(&list, list.empty() ? "" : ", ", "'", t, "'");
    }
    // docs/operations.md, "Scraping the hosts with Prometheus", shows this file.
    const std::string config = dir.Write("prometheus/prometheus.yml",
                                         absl::StrCat(R"(global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: kiln
    metrics_path: /metrics
    static_configs:
      - targets: [)",
                                                      list, "]\n"));
    const std::string flags[] = {
        "--config.file=" + config, "--storage.tsdb.path=" + dir.File("prometheus/data"),
        "--web.listen-address=" + address_, "--log.level=warn"};
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      const int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execl(kPrometheus, "prometheus", flags[0].c_str(), flags[1].c_str(), flags[2].c_str(),
              flags[3].c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~Prometheus() { Stop(pid_, SIGTERM); }
  std::string Log() const { return TempDir::ReadFile(log_); }

  // Polls /-/ready until Prometheus serves its API; false after `timeout`.
  bool WaitReady(absl::Duration timeout) const {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      absl::StatusOr<Response> r = HttpGet(address_, "/-/ready", absl::Seconds(2));
      if (r.ok() && r->status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // An instant query through /api/v1/query: each series' labels and value. `query` goes into
  // the URL as given (spaces written %20).
  struct Sample {
    std::map<std::string, std::string> labels;
    double value = 0;
  };
  absl::StatusOr<std::vector<Sample>> Query(const std::string& query) const {
    absl::StatusOr<Response> r =
        HttpGet(address_, "/api/v1/query?query=" + query, absl::Seconds(5));
    if (!r.ok()) return r.status();
    absl::StatusOr<top::JsonValue> doc = top::ParseJson(r->body);
    if (!doc.ok()) return doc.status();
    const top::JsonValue* data = doc->Find("data");
    const top::JsonValue* result = data != nullptr ? data->Find("result") : nullptr;
    if (r->status != 200 || doc->Str("status") != "success" || result == nullptr) {
      return absl::InternalError(absl::StrCat(query, ": ", r->head, r->body));
    }
    std::vector<Sample> out;
    for (const top::JsonValue& series : result->items) {
      Sample s;
      if (const top::JsonValue* m = series.Find("metric"); m != nullptr) {
        for (const auto& [k, v] : m->members) s.labels[k] = v.text;
      }
      const top::JsonValue* value = series.Find("value");  // [unix time, "number"]
      if (value == nullptr || value->items.size() != 2) {
        return absl::InternalError(absl::StrCat(query, ": no value in ", r->body));
      }
      s.value = std::stod(value->items[1].text);
      out.push_back(std::move(s));
    }
    return out;
  }

 private:
  std::string address_, log_;
  pid_t pid_ = -1;
};

// The three hosts, nginx, and the client loops with their failure counts per event.
class Cluster {
 public:
  Cluster() {
    uwsgi_port_ = FreeLoopbackPort();
    http_port_ = FreeLoopbackPort();
    front_http_port_ = FreeLoopbackPort();
    front_solo_port_ = FreeLoopbackPort();
    app_dir_ = dir_.File("app");
    ::mkdir(app_dir_.c_str(), 0755);
    dir_.Write("app/app.py", TempDir::ReadFile(SourceDir() + "/examples/flask/app.py"));
    dir_.Write("app/slowapp.py", kSlowApp);
    hosts_.resize(kHosts);
  }
  ~Cluster() { StopClients(); }

  std::string Ip(int host) const { return absl::StrCat("127.0.0.", host + 2); }
  // nginx's three servers: uwsgi_pass, keep-alive proxy_pass, and host 0 alone.
  std::string front() const { return nginx_.Address(); }
  std::string front_http() const { return absl::StrCat("127.0.0.1:", front_http_port_); }
  std::string front_solo() const { return absl::StrCat("127.0.0.1:", front_solo_port_); }
  KilnProcess& host(int i) { return *hosts_[static_cast<size_t>(i)]; }

  // Before StartHost: each host serves its stats over HTTP on its own address, one port.
  void WithStats() { stats_port_ = FreeLoopbackPort(); }
  std::string Stats(int host) const { return absl::StrCat(Ip(host), ":", stats_port_); }
  // The requests StartHost and StartNginx made to see the hosts answer, each a request a host
  // served; `unsure` counts probes a host may or may not have served (an answer other than
  // 200, a timeout, a reset): the Prometheus test needs it to be 0 for an exact count.
  int probes() const { return probes_; }
  int unsure_probes() const { return unsure_probes_; }

  bool StartHost(int i) {
    const std::string log = dir_.File(absl::StrCat("host", i, "-", ++starts_, ".log"));
    std::vector<std::string> args = {
        "--master", "--processes", "2", "--plugin-dir", PluginDir(), "--plugins", "python",
        "--socket", absl::StrCat(Ip(i), ":", uwsgi_port_), "--http-socket",
        absl::StrCat(Ip(i), ":", http_port_), "--chdir", app_dir_, "--module", "slowapp:app",
        "--worker-reload-mercy", "30", "--http-keepalive-drain", "3", "--vacuum"};
    if (stats_port_ != 0) {
      args.insert(args.end(), {"--stats", Stats(i), "--stats-http"});
    }
    auto k = std::make_unique<KilnProcess>(std::move(args), log);
    k->SetEnv("LSAN_OPTIONS", LsanOptionsForPython());
    hosts_[static_cast<size_t>(i)] = std::move(k);
    return host(i).Start() &&
           AwaitHealth(absl::StrCat(Ip(i), ":", http_port_), absl::Seconds(30)) &&
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
    return absl::StrReplaceAll(R"(SHIPPED
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
)",
                               {{"SHIPPED", shipped},
                                {"HOST0", Ip(0)},
                                {"HTTP_PORT", std::to_string(http_port_)},
                                {"SOLO", front_solo()}});
  }

  // "" when nginx answers and both its servers reach a host; else why not.
  std::string StartNginx() {
    if (std::string failure = nginx_.Start(NginxConf()); !failure.empty()) return failure;
    return AwaitHealth(front(), absl::Seconds(15)) && AwaitHealth(front_http(), absl::Seconds(15))
               ? ""
               : "no host answered through nginx; its error log:\n" + nginx_.ErrorLog();
  }
  std::string NginxErrors() const { return nginx_.ErrorLog(); }

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

  // GET /api/v1/health until it answers 200 (counted in probes_); a refused connect is not a
  // request, anything else that is not a 200 counts in unsure_probes_.
  bool AwaitHealth(const std::string& address, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      absl::StatusOr<Response> r =
          HttpRequest(address, "GET", "/api/v1/health", "", "", absl::Seconds(10));
      if (r.ok() && r->status == 200) {
        ++probes_;
        return true;
      }
      if (r.ok() || !absl::StrContains(r.status().message(), "refused")) ++unsure_probes_;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
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
  std::string app_dir_;
  int uwsgi_port_ = 0, http_port_ = 0, front_http_port_ = 0,
      front_solo_port_ = 0, stats_port_ = 0, starts_ = 0, probes_ = 0, unsure_probes_ = 0;
  std::vector<std::unique_ptr<KilnProcess>> hosts_;
  NginxProcess nginx_;
  std::vector<std::thread> clients_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::string event_ = "start";
  std::vector<std::string> order_;
  std::map<std::string, Tally> tally_;
};

TEST(MultiHost, ThreeHostsBehindNginxLoseNothingOnStopsReloadsAndRestarts) {
  ASSERT_EQ(::geteuid(), 0u) << "nginx runs as root with its workers as nobody";
  Cluster c;
  for (int i = 0; i < kHosts; ++i) {
    ASSERT_TRUE(c.StartHost(i)) << c.host(i).Log();
  }
  ASSERT_EQ(c.StartNginx(), "");
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

// The same three hosts, each with its stats over HTTP (stats-http = true), scraped by Debian's
// prometheus every second: after a known number of requests through nginx (both servers, GET
// and POST) and a scrape that began after the last of them, Prometheus' sum of
// kiln_requests_total across the three equals every request the hosts were sent: those through
// nginx plus the health probes the test made while starting them. The scrapes themselves go to
// the master's stats server and are not requests.
TEST(MultiHost, PrometheusSumsTheRequestCountersOfTheThreeHosts) {
  ASSERT_EQ(::geteuid(), 0u) << "nginx runs as root with its workers as nobody";
  ASSERT_EQ(MissingTool(kPrometheus, "prometheus"), "");
  const absl::Time begin = absl::Now();
  Cluster c;
  c.WithStats();
  for (int i = 0; i < kHosts; ++i) {
    ASSERT_TRUE(c.StartHost(i)) << c.host(i).Log();
  }
  ASSERT_EQ(c.StartNginx(), "");
  TempDir dir;
  std::vector<std::string> targets;
  for (int i = 0; i < kHosts; ++i) targets.push_back(c.Stats(i));
  Prometheus prom(dir, targets);
  ASSERT_TRUE(prom.WaitReady(absl::Seconds(15))) << prom.Log();

  constexpr int kEach = 25;  // of each method on each of nginx's two servers
  int sent = 0;
  for (const std::string& front : {c.front(), c.front_http()}) {
    for (int n = 0; n < kEach; ++n) {
      absl::StatusOr<Response> get = HttpGet(front, "/api/v1/health");
      ASSERT_TRUE(get.ok() && get->status == 200)
          << front << ": " << (get.ok() ? get->head : std::string(get.status().message()))
          << c.NginxErrors();
      absl::StatusOr<Response> post = HttpRequest(front, "POST", "/api/v1/echo",
                                                  absl::StrCat("{\"n\": ", n, "}"),
                                                  "application/json");
      ASSERT_TRUE(post.ok() && post->status == 200)
          << front << ": " << (post.ok() ? post->head : std::string(post.status().message()))
          << c.NginxErrors();
      sent += 2;
    }
  }
  const absl::Time last = absl::Now();
  ASSERT_EQ(c.unsure_probes(), 0) << "a start-up probe may or may not have been served";
  const int expected = sent + c.probes();

  // A scrape of all three that began after the last request (a worker adds to its counter once
  // the response is written: 250 ms is ample).
  const double after = absl::ToDoubleSeconds(last - absl::UnixEpoch()) + 0.25;
  bool scraped = false;
  std::string seen;
  while (!scraped && absl::Now() - last < absl::Seconds(10)) {
    absl::StatusOr<std::vector<Prometheus::Sample>> up = prom.Query("up");
    absl::StatusOr<std::vector<Prometheus::Sample>> at = prom.Query("timestamp(up)");
    ASSERT_TRUE(up.ok()) << up.status();
    ASSERT_TRUE(at.ok()) << at.status();
    int fresh = 0;
    for (const Prometheus::Sample& s : *up) fresh += s.value == 1 ? 1 : 0;
    for (const Prometheus::Sample& s : *at) fresh += s.value > after ? 1 : 0;
    scraped = up->size() == static_cast<size_t>(kHosts) &&
              at->size() == static_cast<size_t>(kHosts) && fresh == 2 * kHosts;
    seen = absl::StrCat(up->size(), " targets, ", fresh, " of ", 2 * kHosts, " up and fresh");
    if (!scraped) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_TRUE(scraped) << seen << "\n" << prom.Log();

  absl::StatusOr<std::vector<Prometheus::Sample>> sum = prom.Query("sum(kiln_requests_total)");
  ASSERT_TRUE(sum.ok()) << sum.status();
  ASSERT_EQ(sum->size(), 1u);
  EXPECT_EQ(sum->front().value, expected)
      << sent << " requests through nginx + " << c.probes() << " start-up probes";
  // Every host took its share from nginx, and each worker is a series of its own.
  absl::StatusOr<std::vector<Prometheus::Sample>> per_host =
      prom.Query("sum%20by%20(instance)%20(kiln_requests_total)");
  ASSERT_TRUE(per_host.ok()) << per_host.status();
  ASSERT_EQ(per_host->size(), static_cast<size_t>(kHosts));
  for (const Prometheus::Sample& s : *per_host) {
    EXPECT_GT(s.value, 1) << s.labels.at("instance") << " served only its start-up probe";
  }
  absl::StatusOr<std::vector<Prometheus::Sample>> series =
      prom.Query("count(kiln_requests_total)");
  ASSERT_TRUE(series.ok()) << series.status();
  ASSERT_EQ(series->size(), 1u);
  EXPECT_EQ(series->front().value, 2 * kHosts);
  std::printf("%d requests through nginx + %d probes; prometheus: %g, after %.1f s\n", sent,
              c.probes(), sum->front().value, absl::ToDoubleSeconds(absl::Now() - begin));

  for (int i = 0; i < kHosts; ++i) {
    c.host(i).Signal(SIGTERM);
    EXPECT_TRUE(c.host(i).WaitExit(absl::Seconds(20)).has_value()) << c.host(i).Log();
  }
  EXPECT_LT(absl::Now() - begin, absl::Seconds(40));
}

}  // namespace
}  // namespace kiln::testing
