// kiln behind a real nginx: uwsgi_pass to a 666 unix socket, and proxy_pass with an upstream
// keep-alive pool to the HTTP socket (the two shapes of conf/nginx/). Skipped without nginx.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"

namespace kiln::testing {
namespace {

constexpr char kNginx[] = "/usr/sbin/nginx";

std::string NginxConf(const TempDir& dir, int port, const std::string& uwsgi_sock,
                      const std::string& http_sock) {
  return absl::StrFormat(R"(user nobody nogroup;
worker_processes 1;
error_log %s/nginx-error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %s/body;
  proxy_temp_path %s/proxy;
  uwsgi_temp_path %s/uwsgi;
  fastcgi_temp_path %s/fastcgi;
  scgi_temp_path %s/scgi;
  upstream kiln_http { server unix:%s; keepalive 8; }
  server {
    listen 127.0.0.1:%d;
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
}
)",
                         dir.path(), dir.path(), dir.path(), dir.path(), dir.path(), dir.path(),
                         http_sock, port, uwsgi_sock);
}

TEST(KilnBehindNginx, AnswersThroughUwsgiPassAndKeepaliveProxyPass) {
  ASSERT_EQ(MissingTool(kNginx, "nginx-light"), "");
  TempDir dir;
  std::string usock = dir.File("u.sock");
  std::string hsock = dir.File("h.sock");
  KilnProcess kiln(
      {"--master", "--builtin-handler", "--processes", "2", "--socket", usock, "--http-socket",
       hsock, "--chmod-socket", "666", "--uid", "nobody", "--gid", "nogroup"},
      dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(hsock, absl::Seconds(15))) << kiln.Log();

  int port = FreeLoopbackPort();
  std::string conf = dir.Write("nginx.conf", NginxConf(dir, port, usock, hsock));
  std::string pid_directive = absl::StrFormat("pid %s/nginx.pid; daemon off;", dir.path());
  pid_t nginx = fork();
  ASSERT_GE(nginx, 0);
  if (nginx == 0) {
    execl(kNginx, "nginx", "-e", (dir.path() + "/nginx-error.log").c_str(), "-p",
          dir.path().c_str(), "-c", conf.c_str(), "-g", pid_directive.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  std::string front = absl::StrFormat("127.0.0.1:%d", port);
  bool up = WaitUntilHttpAnswers(front, absl::Seconds(10));
  std::string via_uwsgi_body;
  int via_uwsgi = 0;
  int via_keepalive = 0;
  if (up) {
    for (int i = 0; i < 20; ++i) {
      auto a = HttpGet(front, "/hello?i=1");
      via_uwsgi += a.ok() && a->status == 200 ? 1 : 0;
      if (a.ok()) {
        via_uwsgi_body = a->body;
      }
      auto b = HttpGet(front, "/ka/hello");
      via_keepalive += b.ok() && b->status == 200 ? 1 : 0;
    }
  }
  kill(nginx, SIGQUIT);
  for (int i = 0; i < 250 && waitpid(nginx, nullptr, WNOHANG) == 0; ++i) {
    usleep(20000);
  }
  kill(nginx, SIGKILL);
  waitpid(nginx, nullptr, 0);
  ASSERT_TRUE(up) << TempDir::ReadFile(dir.File("nginx-error.log")) << kiln.Log();
  EXPECT_EQ(via_uwsgi, 20) << kiln.Log();
  EXPECT_EQ(via_keepalive, 20) << kiln.Log();
  EXPECT_NE(via_uwsgi_body.find("hello from kiln"), std::string::npos);
}

}  // namespace
}  // namespace kiln::testing
