// Reloads behind the shipped nginx keep-alive shape (conf/nginx/kiln-http-keepalive.conf with
// conf/examples/http-keepalive-for-nginx.ini): one kiln host, GET and POST loops through nginx,
// ten SIGHUP reloads, not one failed request. The old workers must not close a pooled upstream
// connection that may be carrying a request (nginx would answer 502 for it).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/lib/nginx_process.h"

namespace kiln::testing {
namespace {

// One POST /echo with a body, Connection: close; true when the body came back with 200.
bool PostEcho(const std::string& address, const std::string& body) {
  const std::string raw =
      RawExchange(address, absl::StrCat("POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n",
                                        "Content-Length: ", body.size(), "\r\n\r\n", body));
  return raw.rfind("HTTP/1.1 200", 0) == 0 && raw.find(body) != std::string::npos;
}

TEST(KeepaliveDrain, ReloadsBehindNginxKeepaliveProxyPassFailNoRequest) {
  TempDir dir;
  const std::string sock = dir.File("http.sock");
  const std::string src = SourceDir();
  std::string ini = absl::StrReplaceAll(
      TempDir::ReadFile(src + "/conf/examples/http-keepalive-for-nginx.ini"),
      {{"/run/kiln/http.sock", sock}, {"processes = 4", "processes = 1"}});
  ASSERT_NE(ini.find(sock), std::string::npos);
  ini += "builtin-handler = true\n";
  KilnProcess kiln({"--ini", dir.Write("kiln.ini", ini)}, dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, absl::Seconds(15))) << kiln.Log();

  NginxProcess nginx;
  const std::string& front = nginx.Address();
  const std::string shipped =
      TempDir::ReadFile(src + "/conf/nginx/kiln-http-keepalive.conf");
  ASSERT_NE(shipped.find("keepalive_timeout"), std::string::npos);
  ASSERT_EQ(nginx.Start(absl::StrReplaceAll(shipped, {{"unix:/run/kiln/http.sock", "unix:" + sock},
                                                      {"listen 80;", "listen " + front + ";"}})),
            "")
      << kiln.Log();

  std::atomic<bool> stop{false};
  std::atomic<int> gets_ok{0}, gets_failed{0}, posts_ok{0}, posts_failed{0};
  // Four GET and four POST loops on one worker keep several pooled upstream connections busy,
  // with requests waiting on them, whenever a reload begins.
  std::vector<std::thread> loops;
  for (int i = 0; i < 4; ++i) {
    loops.emplace_back([&] {
      while (!stop.load()) {
        absl::StatusOr<Response> r = HttpGet(front, "/echo", absl::Seconds(10));
        (r.ok() && r->status == 200 ? gets_ok : gets_failed).fetch_add(1);
      }
    });
    loops.emplace_back([&] {
      const std::string body(3000, 'p');
      while (!stop.load()) (PostEcho(front, body) ? posts_ok : posts_failed).fetch_add(1);
    });
  }
  bool reloaded = true;
  for (int round = 1; reloaded && round <= 10; ++round) {
    absl::SleepFor(absl::Milliseconds(300));
    kiln.Signal(SIGHUP);
    reloaded = kiln.WaitForLog("previous one gracefully", absl::Seconds(30), round);
  }
  absl::SleepFor(absl::Milliseconds(500));
  stop.store(true);
  for (std::thread& t : loops) t.join();
  nginx.Stop();
  const std::string nginx_log = nginx.ErrorLog();
  ASSERT_TRUE(reloaded) << kiln.Log();
  EXPECT_GT(gets_ok.load(), 20);
  EXPECT_GT(posts_ok.load(), 20);
  EXPECT_EQ(gets_failed.load(), 0) << nginx_log;
  EXPECT_EQ(posts_failed.load(), 0) << nginx_log;
  // nginx closed its idle pooled connections first, so the old workers left without waiting
  // out the whole drain: a stop now is prompt.
  kiln.Signal(SIGTERM);
  EXPECT_TRUE(kiln.WaitExit(absl::Seconds(20)).has_value()) << kiln.Log();
}

}  // namespace
}  // namespace kiln::testing
