// The lua plugin in the real server: kiln started with WSAPI apps from examples/lua and
// tests/lua/apps, spoken to over HTTP and uwsgi on unix sockets in a temp dir, and stopped by
// PID at the end.
#include <sys/wait.h>

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/lua/lua_test_client.h"

namespace kiln::lua_test {
namespace {

using kiln::testing::KilnProcess;
using kiln::testing::TempDir;
using ::testing::HasSubstr;

// One kiln serving the examples and the error app for the whole suite.
class LuaServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    http_ = dir_->File("http.sock");
    uwsgi_ = dir_->File("uwsgi.sock");
    kiln_ = new KilnProcess({"--http-socket",
                             http_,
                             "--socket",
                             uwsgi_,
                             "--master",
                             "--processes",
                             "1",
                             "--threads",
                             "2",
                             "--plugins",
                             "lua",
                             "--lua",
                             Examples("hello.lua"),
                             "--mount",
                             "/echo=" + Examples("echo.lua"),
                             "--mount",
                             "/stream=" + Examples("stream.lua"),
                             "--mount",
                             "/form=" + Examples("wsapi_app.lua"),
                             "--mount",
                             "/t=" + Apps("errors.lua"),
                             "--mount",
                             "/cmodule=" + Apps("cmodule.lua"),
                             "--manage-script-name",  // the mounts are reached by path
                             "--lua-gc-freq",
                             "10"},
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
  EXPECT_TRUE(kiln_->WaitForLog("body chunk 1 is a table value", absl::Seconds(5))) << kiln_->Log();
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
  Reply r = Uwsgi(uwsgi_, 6, "/t/vars");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "/t|/vars|GET");
}

TEST_F(LuaServer, LoadsLuaCModules) {
  Reply r = Http(http_, "GET", "/cmodule");
  ASSERT_NE(r.body, "absent") << "lua-filesystem (lfs.so) is missing: install the Debian "
                                   "package `lua-filesystem` (lua-wsapi, which `./dev deps` "
                                   "installs, depends on it)";
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "lfs true");
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
