// The wire facts of docs/protocols.md checked against a real nginx (a failure when none is
// installed): uwsgi_pass with Debian's uwsgi_params, a relayed 431 instead of a 502, chunked
// bodies de-chunked by nginx, and proxy_pass with an upstream keep-alive pool.
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/lib/nginx_process.h"
#include "tests/unit/net_serve/serve_test_util.h"

namespace kiln::net {
namespace {

using ::testing::HasSubstr;
using testing::ReadResponse;
using testing::SendAll;
using testing::ServeHarness;

class NginxTest : public ::testing::Test {
 protected:
  // nginx stays root and single (master_process off): the harness's sockets are in a 0700 dir.
  static kiln::testing::NginxProcess::Options Single() {
    kiln::testing::NginxProcess::Options o;
    o.user = "root";
    o.master = false;
    o.unix_socket = true;
    return o;
  }

  void StartAll(ServeOptions options, protocol::Handler* handler = nullptr) {
    h_.Start(options, handler);
    ASSERT_EQ(nginx_.Start(absl::StrReplaceAll(R"(
  upstream kiln_http { server 127.0.0.1:PORT; keepalive 4; }
  server {
    listen LISTEN;
    location /u/ { include /etc/nginx/uwsgi_params; uwsgi_pass unix:USOCK; }
    location /h/ {
      proxy_pass http://kiln_http;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
)",
                                               {{"LISTEN", nginx_.Listen()},
                                                {"PORT", absl::StrCat(h_.http_port())},
                                                {"USOCK", h_.uwsgi_path()}})),
              "");
  }

  testing::HttpResponse Request(const std::string& request) {
    base::UniqueFd fd = testing::ConnectUnix(nginx_.Address());
    SendAll(fd.Get(), request);
    return ReadResponse(fd.Get());
  }

  testing::AllVarsHandler vars_;  // request headers included; outlives the harness's loop
  ServeHarness h_;
  kiln::testing::NginxProcess nginx_{Single()};  // declared last: stopped before the harness
};

TEST_F(NginxTest, UwsgiPassDeliversNginxVariablesAndRelaysTheRawResponse) {
  StartAll(ServeOptions(), &vars_);
  testing::HttpResponse r =
      Request("GET /u/vars?x=1 HTTP/1.1\r\nHost: example.org\r\nX-Custom: yes\r\n"
              "Connection: close\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("REQUEST_URI=/u/vars?x=1\n"));
  EXPECT_THAT(r.body, HasSubstr("PATH_INFO=/u/vars\n"));
  EXPECT_THAT(r.body, HasSubstr("QUERY_STRING=x=1\n"));
  EXPECT_THAT(r.body, HasSubstr("HTTP_HOST=example.org\n"));
  EXPECT_THAT(r.body, HasSubstr("HTTP_X_CUSTOM=yes\n"));
  EXPECT_THAT(r.body, HasSubstr("SERVER_PROTOCOL=HTTP/1.1\n"));
}

TEST_F(NginxTest, UwsgiPassDecodesThePathAsNginxDoes) {
  StartAll(ServeOptions());
  testing::HttpResponse r =
      Request("GET /u/a%20b/%76ars HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(r.body, HasSubstr("REQUEST_URI=/u/a%20b/%76ars\n"));
  EXPECT_THAT(r.body, HasSubstr("PATH_INFO=/u/a b/vars\n"));
}

TEST_F(NginxTest, ChunkedBodyArrivesDeChunkedOverUwsgi) {
  StartAll(ServeOptions());
  testing::HttpResponse r = Request(
      "POST /u/echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
      "\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello world");
}

TEST_F(NginxTest, OverLimitBlockIsRelayedAs431NotA502) {
  ServeOptions o;
  o.buffer_size = 1024;
  StartAll(o);
  testing::HttpResponse r =
      Request("GET /u/ HTTP/1.1\r\nHost: h\r\nCookie: " + std::string(3000, 'c') +
              "\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.status, 431);
}

TEST_F(NginxTest, ProxyPassReusesUpstreamConnections) {
  StartAll(ServeOptions());
  for (int i = 0; i < 5; ++i) {
    testing::HttpResponse r =
        Request("GET /h/status?code=201 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(r.status, 201) << i;
  }
  testing::HttpResponse streamed =
      Request("GET /h/chunks?n=4 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(streamed.body, "chunk 0\nchunk 1\nchunk 2\nchunk 3\n");
  // REMOTE_PORT of kiln's view of nginx stays the same: one pooled upstream connection.
  std::string port1 = Request("GET /h/vars HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").body;
  std::string port2 = Request("GET /h/vars HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").body;
  auto remote_port = [](const std::string& body) {
    size_t p = body.find("REMOTE_PORT=");
    return p == std::string::npos ? std::string() : body.substr(p, body.find('\n', p) - p);
  };
  EXPECT_NE(remote_port(port1), "");
  EXPECT_EQ(remote_port(port1), remote_port(port2));
}

}  // namespace
}  // namespace kiln::net
