// static-map through the serving loop: sendfile, Content-Type, conditional GET, and every way
// a path could leave the mapped directory.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "core/net/static_files.h"
#include "core/protocol/uwsgi_parser.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/net_serve/serve_test_util.h"

namespace kiln::net {
namespace {

using testing::ReadResponse;
using testing::SendAll;
using testing::ServeHarness;

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream(path) << data;
}

class StaticMapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = h_.dir() + "/www";
    mkdir(root_.c_str(), 0755);
    mkdir((root_ + "/sub").c_str(), 0755);
    WriteFile(root_ + "/index.html", "<h1>hi</h1>\n");
    WriteFile(root_ + "/sub/app.js", "let x = 1;\n");
    WriteFile(h_.dir() + "/secret.txt", "secret\n");
    ASSERT_EQ(symlink((h_.dir() + "/secret.txt").c_str(), (root_ + "/out.txt").c_str()), 0);
    ASSERT_EQ(symlink((root_ + "/index.html").c_str(), (root_ + "/in.html").c_str()), 0);
    ServeOptions o;
    o.static_maps = {{"/static", root_}};
    h_.Start(o);
  }
  ServeHarness h_;
  std::string root_;
};

TEST_F(StaticMapTest, ServesAFileWithItsTypeAndLastModified) {
  testing::HttpResponse r = testing::Get(h_, "/static/index.html");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "<h1>hi</h1>\n");
  EXPECT_EQ(r.Header("Content-Type"), "text/html");
  EXPECT_EQ(r.Header("Content-Length"), "12");
  EXPECT_THAT(r.Header("Last-Modified"), ::testing::EndsWith(" GMT"));
  EXPECT_EQ(testing::Get(h_, "/static/sub/app.js").Header("Content-Type"), "text/javascript");
}

TEST_F(StaticMapTest, AnswersIfModifiedSinceWith304) {
  const std::string lm = testing::Get(h_, "/static/index.html").Header("Last-Modified");
  base::UniqueFd fd = h_.ConnectHttp();
  SendAll(fd.Get(), "GET /static/index.html HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: " + lm +
                        "\r\n\r\n");
  EXPECT_EQ(ReadResponse(fd.Get()).status, 304);
  SendAll(fd.Get(), "GET /static/index.html HTTP/1.1\r\nHost: t\r\n"
                    "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n");
  EXPECT_EQ(ReadResponse(fd.Get()).status, 200);
}

TEST_F(StaticMapTest, RefusesPathsThatLeaveTheDirectory) {
  EXPECT_EQ(testing::Get(h_, "/static/../secret.txt").status, 403);
  EXPECT_EQ(testing::Get(h_, "/static/sub/../../secret.txt").status, 403);
  EXPECT_EQ(testing::Get(h_, "/static/%2e%2e/secret.txt").status, 403);
  EXPECT_EQ(testing::Get(h_, "/static/out.txt").status, 403);  // symlink leading out
}

TEST_F(StaticMapTest, FollowsSymlinksThatStayInside) {
  testing::HttpResponse r = testing::Get(h_, "/static/in.html");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "<h1>hi</h1>\n");
}

TEST_F(StaticMapTest, RefusesDirectoriesAndFallsThroughForMissingFiles) {
  EXPECT_EQ(testing::Get(h_, "/static/sub").status, 403);
  EXPECT_EQ(testing::Get(h_, "/static/sub/").status, 403);
  testing::HttpResponse missing = testing::Get(h_, "/static/nope.css");
  EXPECT_EQ(missing.status, 200);
  EXPECT_EQ(missing.body, "hello from kiln\n");  // the handler answered
  EXPECT_EQ(testing::Get(h_, "/staticx/index.html").body, "hello from kiln\n");
}

TEST_F(StaticMapTest, ClientGoneDuringSendfileDoesNotKillTheProcess) {
  const std::string big = root_ + "/big.bin";
  {
    base::UniqueFd f(open(big.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    ASSERT_EQ(ftruncate(f.Get(), 64 << 20), 0);  // sparse: fast to create and to send
  }
  // Over a unix socket a write to a closed peer is EPIPE at once, which for sendfile(2) (no
  // MSG_NOSIGNAL) means SIGPIPE: the serving threads must not die of it.
  std::string vars;
  protocol::AppendUwsgiVar(&vars, "REQUEST_METHOD", "GET");
  protocol::AppendUwsgiVar(&vars, "PATH_INFO", "/static/big.bin");
  for (int i = 0; i < 3; ++i) {
    base::UniqueFd fd = h_.ConnectUwsgi();
    SendAll(fd.Get(), protocol::MakeUwsgiPacket(vars));
    char buf[4096];
    ASSERT_GT(read(fd.Get(), buf, sizeof(buf)), 0);
  }
  EXPECT_EQ(testing::Get(h_, "/static/index.html").status, 200);
}

TEST(StaticFiles, KnowsCommonContentTypes) {
  EXPECT_EQ(ContentTypeFor("/a/b.CSS"), "text/css");
  EXPECT_EQ(ContentTypeFor("x.png"), "image/png");
  EXPECT_EQ(ContentTypeFor("x.woff2"), "font/woff2");
  EXPECT_EQ(ContentTypeFor("/dir.d/noext"), "application/octet-stream");
}

TEST(StaticFiles, HttpDatesRoundTrip) {
  EXPECT_EQ(HttpDate(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  EXPECT_FALSE(ParseHttpDate("yesterday").has_value());
}

TEST(StaticFiles, CreateNamesAMissingDirectory) {
  auto f = StaticFiles::Create({{"/s", "/nonexistent/kiln-dir"}});
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(std::string(f.status().message()), ::testing::HasSubstr("/nonexistent/kiln-dir"));
}

}  // namespace
}  // namespace kiln::net
