// Two languages in one kiln: a Python WSGI app and a Lua WSAPI app, each answered by its own
// plugin. Over uwsgi nginx picks the plugin by modifier1 (0 Python, 6 Lua); over HTTP the
// mount point picks it (`mount = /lua=app.lua`).
#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/lua/lua_test_client.h"

namespace kiln::lua_test {
namespace {

using kiln::testing::KilnProcess;
using kiln::testing::TempDir;

class PythonAndLua : public ::testing::Test {
 protected:
  void SetUp() override {
    http_ = dir_.File("http.sock");
    uwsgi_ = dir_.File("uwsgi.sock");
    kiln_ = std::make_unique<KilnProcess>(
        std::vector<std::string>{"--http-socket", http_, "--socket", uwsgi_, "--master",
                                 "--plugins", "python3,lua", "--wsgi-file", Apps("hello_wsgi.py"),
                                 "--mount", "/lua=" + Apps("hello_mounted.lua"),
                                 "--manage-script-name"},
        dir_.File("kiln.log"));
    ASSERT_TRUE(kiln_->Start());
    ASSERT_TRUE(kiln::testing::WaitUntilHttpAnswers(http_, absl::Seconds(30))) << kiln_->Log();
  }

  TempDir dir_;
  std::string http_;
  std::string uwsgi_;
  std::unique_ptr<KilnProcess> kiln_;
};

TEST_F(PythonAndLua, EachAnswersItsModifier1OverUwsgi) {
  Reply py = Uwsgi(uwsgi_, 0, "/hello");
  EXPECT_EQ(py.status, 200);
  EXPECT_EQ(py.body, "python |/hello");
  Reply lua = Uwsgi(uwsgi_, 6, "/lua/hello");
  EXPECT_EQ(lua.status, 200);
  EXPECT_EQ(lua.body, "lua /lua|/hello");
}

// With manage-script-name the core routes by mount point (the plugin that claimed
// `/lua=app.lua` answers under /lua), whatever the request's modifier1.
TEST_F(PythonAndLua, EachAnswersItsMountPointOverHttp) {
  Reply py = Http(http_, "GET", "/hello");
  EXPECT_EQ(py.status, 200);
  EXPECT_EQ(py.body, "python |/hello");
  Reply lua = Http(http_, "GET", "/lua/hello");
  EXPECT_EQ(lua.status, 200);
  EXPECT_EQ(lua.body, "lua /lua|/hello");
}

}  // namespace
}  // namespace kiln::lua_test
