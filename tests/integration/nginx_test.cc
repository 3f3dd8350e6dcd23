// kiln behind a real nginx: uwsgi_pass to a 666 unix socket, and proxy_pass with an upstream
// keep-alive pool to the HTTP socket (the two shapes of conf/nginx/). Fails without nginx.
#include <string>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/lib/nginx_process.h"

namespace kiln::testing {
namespace {

// The two shapes of conf/nginx/ on one server: uwsgi_pass to `uwsgi_sock` and keep-alive
// proxy_pass to `http_sock`.
std::string NginxHttp(const NginxProcess& nginx, const std::string& uwsgi_sock,
                      const std::string& http_sock) {
  return absl::StrFormat(R"(  upstream kiln_http { server unix:%s; keepalive 8; }
  server {
    listen %s;
    location /ka/ {
      proxy_pass http://kiln_http/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
    location / {
      include /etc/nginx/uwsgi_params;
      uwsgi_pass unix:%s;
    }
  }
)",
                         http_sock, nginx.Listen(), uwsgi_sock);
}

TEST(KilnBehindNginx, AnswersThroughUwsgiPassAndKeepaliveProxyPass) {
  TempDir dir;
  std::string usock = dir.File("u.sock");
  std::string hsock = dir.File("h.sock");
  KilnProcess kiln(
      {"--master", "--builtin-handler", "--processes", "2", "--socket", usock, "--http-socket",
       hsock, "--chmod-socket", "666", "--uid", "nobody", "--gid", "nogroup"},
      dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(hsock, absl::Seconds(15))) << kiln.Log();

  NginxProcess nginx;
  ASSERT_EQ(nginx.Start(NginxHttp(nginx, usock, hsock)), "") << kiln.Log();
  const std::string& front = nginx.Address();
  std::string via_uwsgi_body;
  int via_uwsgi = 0;
  int via_keepalive = 0;
  for (int i = 0; i < 20; ++i) {
    auto a = HttpGet(front, "/hello?i=1");
    via_uwsgi += a.ok() && a->status == 200 ? 1 : 0;
    if (a.ok()) {
      via_uwsgi_body = a->body;
    }
    auto b = HttpGet(front, "/ka/hello");
    via_keepalive += b.ok() && b->status == 200 ? 1 : 0;
  }
  EXPECT_EQ(via_uwsgi, 20) << nginx.ErrorLog() << kiln.Log();
  EXPECT_EQ(via_keepalive, 20) << nginx.ErrorLog() << kiln.Log();
  EXPECT_NE(via_uwsgi_body.find("hello from kiln"), std::string::npos);
}

}  // namespace
}  // namespace kiln::testing
