// The lua plugin in the real server: kiln started with WSAPI apps from examples/lua and
// tests/lua/apps, spoken to over HTTP and uwsgi on unix sockets in a temp dir, and stopped by
// PID at the end.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"

namespace kiln::lua_test {
namespace {

using ::testing::HasSubstr;
using kiln::testing::KilnProcess;
using kiln::testing::TempDir;

struct Reply {
  int status = 0;
  std::string head;
  std::string body;  // de-chunked when the response was chunked
  bool chunked = false;
};

std::string Examples(const std::string& file) {
  return std::string(KILN_LUA_SOURCE_DIR) + "/examples/lua/" + file;
}
std::string Apps(const std::string& file) {
  return std::string(KILN_LUA_SOURCE_DIR) + "/tests/lua/apps/" + file;
}

std::string Dechunk(const std::string& in, bool* ok) {
  std::string out;
  size_t pos = 0;
  *ok = false;
  for (;;) {
    size_t eol = in.find("\r\n", pos);
    if (eol == std::string::npos) {
      return out;
    }
    size_t size = std::stoul(in.substr(pos, eol - pos), nullptr, 16);
    pos = eol + 2;
    if (size == 0) {
      *ok = true;
      return out;
    }
    out += in.substr(pos, size);
    pos += size + 2;
  }
}

// Sends `raw` and reads until the peer closes (the requests say Connection: close).
Reply Exchange(const std::string& address, const std::string& raw) {
  Reply reply;
  auto fd = kiln::testing::Connect(address);
  if (!fd.ok()) {
    ADD_FAILURE() << fd.status();
    return reply;
  }
  size_t off = 0;
  while (off < raw.size()) {
    ssize_t n = send(*fd, raw.data() + off, raw.size() - off, MSG_NOSIGNAL);
    if (n <= 0) {
      break;
    }
    off += static_cast<size_t>(n);
  }
  std::string data;
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  char buf[65536];
  while (absl::Now() < deadline) {
    pollfd p{*fd, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) {
      continue;
    }
    ssize_t n = recv(*fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      break;
    }
    data.append(buf, static_cast<size_t>(n));
  }
  close(*fd);
  size_t end = data.find("\r\n\r\n");
  if (end == std::string::npos) {
    ADD_FAILURE() << "no complete response head: " << data.substr(0, 200);
    return reply;
  }
  reply.head = data.substr(0, end);
  reply.body = data.substr(end + 4);
  if (reply.head.size() > 12) {
    (void)absl::SimpleAtoi(reply.head.substr(9, 3), &reply.status);
  }
  if (reply.head.find("Transfer-Encoding: chunked") != std::string::npos) {
    bool ok = false;
    reply.body = Dechunk(reply.body, &ok);
    reply.chunked = true;
    EXPECT_TRUE(ok) << "chunked body did not end with the last chunk";
  }
  return reply;
}

Reply Http(const std::string& address, const std::string& method, const std::string& target,
           const std::string& body = "", const std::string& extra_headers = "") {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
  if (!body.empty() || method == "POST") {
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return Exchange(address, req + extra_headers + "\r\n" + body);
}

void AppendVar(std::string* out, const std::string& k, const std::string& v) {
  out->push_back(static_cast<char>(k.size() & 0xff));
  out->push_back(static_cast<char>(k.size() >> 8));
  *out += k;
  out->push_back(static_cast<char>(v.size() & 0xff));
  out->push_back(static_cast<char>(v.size() >> 8));
  *out += v;
}

// A request as nginx's `uwsgi_pass` with `uwsgi_modifier1 6` sends it.
Reply UwsgiModifier6(const std::string& address, const std::string& path) {
  std::string vars;
  AppendVar(&vars, "REQUEST_METHOD", "GET");
  AppendVar(&vars, "REQUEST_URI", path);
  AppendVar(&vars, "PATH_INFO", path);
  AppendVar(&vars, "QUERY_STRING", "");
  AppendVar(&vars, "CONTENT_TYPE", "");
  AppendVar(&vars, "CONTENT_LENGTH", "");
  AppendVar(&vars, "SERVER_PROTOCOL", "HTTP/1.1");
  AppendVar(&vars, "SERVER_NAME", "localhost");
  AppendVar(&vars, "SERVER_PORT", "80");
  AppendVar(&vars, "REMOTE_ADDR", "127.0.0.1");
  AppendVar(&vars, "HTTP_HOST", "localhost");
  std::string pkt;
  pkt.push_back(6);
  pkt.push_back(static_cast<char>(vars.size() & 0xff));
  pkt.push_back(static_cast<char>(vars.size() >> 8));
  pkt.push_back(0);
  return Exchange(address, pkt + vars);
}

// One kiln serving the examples and the error app for the whole suite.
class LuaServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    http_ = dir_->File("http.sock");
    uwsgi_ = dir_->File("uwsgi.sock");
    kiln_ = new KilnProcess(
        {"--http-socket", http_, "--socket", uwsgi_, "--master", "--processes", "1",
         "--threads", "2", "--plugins", "lua", "--lua", Examples("hello.lua"),
         "--mount", "/echo=" + Examples("echo.lua"), "--mount", "/stream=" + Examples("stream.lua"),
         "--mount", "/form=" + Examples("wsapi_app.lua"), "--mount", "/t=" + Apps("errors.lua"),
         "--lua-gc-freq", "10"},
        dir_->File("kiln.log"));
    started_ = kiln_->Start() && kiln::testing::WaitUntilHttpAnswers(http_, absl::Seconds(20));
  }
  static void TearDownTestSuite() {
    delete kiln_;  // stops it by PID
    delete dir_;
  }
  void SetUp() override { ASSERT_TRUE(started_) << kiln_->Log(); }

  static TempDir* dir_;
  static KilnProcess* kiln_;
  static std::string http_;
  static std::string uwsgi_;
  static bool started_;
};

TempDir* LuaServer::dir_ = nullptr;
KilnProcess* LuaServer::kiln_ = nullptr;
std::string LuaServer::http_;
std::string LuaServer::uwsgi_;
bool LuaServer::started_ = false;

TEST_F(LuaServer, ServesHelloWorld) {
  Reply r = Http(http_, "GET", "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.head, HasSubstr("Content-Type: text/plain"));
  EXPECT_EQ(r.body, "Hello, world!\n");
}

TEST_F(LuaServer, EchoesALargePostBody) {
  std::string body;
  for (int i = 0; body.size() < 4 * 1024 * 1024; ++i) {
    body += absl::StrCat("payload line ", i, "\n");
  }
  Reply r = Http(http_, "POST", "/echo", body, "Content-Type: application/octet-stream\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), body.size());
  EXPECT_TRUE(r.body == body);
}

TEST_F(LuaServer, SendsAHeaderOncePerValue) {
  Reply r = Http(http_, "GET", "/stream?n=2");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.head, HasSubstr("Set-Cookie: first=1; Path=/\r\n"));
  EXPECT_THAT(r.head, HasSubstr("Set-Cookie: second=2; Path=/"));
}

TEST_F(LuaServer, StreamsACoroutineBody) {
  Reply r = Http(http_, "GET", "/stream?n=4");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.chunked) << r.head;
  EXPECT_EQ(r.body, "line 1 of 4\nline 2 of 4\nline 3 of 4\nline 4 of 4\n");
}

TEST_F(LuaServer, RunsAWsapiRequestResponseApp) {
  Reply r = Http(http_, "POST", "/form", "name=Ada",
                 "Content-Type: application/x-www-form-urlencoded\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.head, HasSubstr("Set-Cookie: name=Ada"));
  EXPECT_THAT(r.body, HasSubstr("<p>Hello, Ada!</p>"));
  EXPECT_THAT(r.body, HasSubstr("action=\"/form\""));
}

TEST_F(LuaServer, MountPointBecomesScriptName) {
  Reply r = Http(http_, "GET", "/t/vars");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "/t|/vars|GET");
}

TEST_F(LuaServer, RuntimeErrorIsA500WithTheTracebackInTheLog) {
  Reply r = Http(http_, "GET", "/t/boom");
  EXPECT_EQ(r.status, 500);
  ASSERT_TRUE(kiln_->WaitForLog("deliberate failure", absl::Seconds(5))) << kiln_->Log();
  EXPECT_THAT(kiln_->Log(), HasSubstr("errors.lua:5: deliberate failure"));
  EXPECT_THAT(kiln_->Log(), HasSubstr("stack traceback:"));
  EXPECT_THAT(kiln_->Log(), HasSubstr("in function 'explode'"));
  // The worker keeps serving.
  EXPECT_EQ(Http(http_, "GET", "/").status, 200);
}

TEST_F(LuaServer, NonStringChunkIsA500) {
  Reply r = Http(http_, "GET", "/t/chunk");
  EXPECT_EQ(r.status, 500);
  EXPECT_TRUE(kiln_->WaitForLog("body chunk 1 is a table value", absl::Seconds(5)))
      << kiln_->Log();
}

TEST_F(LuaServer, BadStatusIsA500) {
  Reply r = Http(http_, "GET", "/t/status");
  EXPECT_EQ(r.status, 500);
  EXPECT_TRUE(kiln_->WaitForLog("the status \"OK\" is not a status code", absl::Seconds(5)))
      << kiln_->Log();
}

TEST_F(LuaServer, ErrorStreamGoesToTheLog) {
  EXPECT_EQ(Http(http_, "GET", "/t/log").body, "logged");
  EXPECT_TRUE(kiln_->WaitForLog("note from the app", absl::Seconds(5))) << kiln_->Log();
}

TEST_F(LuaServer, AnswersModifier1SixOverUwsgi) {
  Reply r = UwsgiModifier6(uwsgi_, "/t/vars");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "/t|/vars|GET");
}

TEST(LuaServerStartup, ScriptThatDoesNotLoadFailsStartupNamingFileAndLine) {
  TempDir dir;
  KilnProcess kiln({"--http-socket", dir.File("h.sock"), "--master", "--plugins", "lua", "--lua",
                    Apps("bad_syntax.lua")},
                   dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  std::optional<int> status = kiln.WaitExit(absl::Seconds(20));
  ASSERT_TRUE(status.has_value()) << "kiln kept running with a broken app: " << kiln.Log();
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 1);
  EXPECT_THAT(kiln.Log(), HasSubstr("bad_syntax.lua:4:"));
}

}  // namespace
}  // namespace kiln::lua_test
