// One router for every plugin: Python and Lua apps mounted side by side, with and without
// `manage-script-name`, asked directly over HTTP and through a real nginx over uwsgi (with the
// SCRIPT_NAME and modifier1 nginx sends). Each request must reach the app uWSGI 2.0 picks:
// the mount matching PATH_INFO with manage-script-name (which then splits SCRIPT_NAME off),
// else the mount equal to SCRIPT_NAME, else the default app of the plugin serving the
// modifier1 (0 Python, 6 Lua), with SCRIPT_NAME/PATH_INFO as sent.
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/lib/nginx_process.h"
#include "tests/lua/lua_test_client.h"

namespace kiln::lua_test {
namespace {

using kiln::testing::KilnProcess;
using kiln::testing::NginxProcess;
using kiln::testing::TempDir;

// nginx in front of kiln's uwsgi socket, listening on `front`.
// /sn/<mount>/<rest> and /sn6/... send SCRIPT_NAME=/<mount>, PATH_INFO=/<rest> (modifier1 0
// and 6); /m6/<path> sends PATH_INFO=/<path> with modifier1 6; anything else is a plain
// uwsgi_pass with the stock uwsgi_params (PATH_INFO = the URI, no SCRIPT_NAME).
std::string NginxServer(const std::string& front, const std::string& kiln) {
  return absl::StrFormat(R"(  server {
    listen %1$s;
    location ~ ^/sn(/[a-z]+)(/.*)$ {
      include /etc/nginx/uwsgi_params;
      uwsgi_param SCRIPT_NAME $1;
      uwsgi_param PATH_INFO $2;
      uwsgi_pass unix:%2$s;
    }
    location ~ ^/sn6(/[a-z]+)(/.*)$ {
      include /etc/nginx/uwsgi_params;
      uwsgi_param SCRIPT_NAME $1;
      uwsgi_param PATH_INFO $2;
      uwsgi_modifier1 6;
      uwsgi_pass unix:%2$s;
    }
    location ~ ^/m6(/.*)$ {
      include /etc/nginx/uwsgi_params;
      uwsgi_param PATH_INFO $1;
      uwsgi_modifier1 6;
      uwsgi_pass unix:%2$s;
    }
    location / {
      include /etc/nginx/uwsgi_params;
      uwsgi_pass unix:%2$s;
    }
  }
)",
                         front, kiln);
}

struct Case {
  const char* via;     // "http": kiln's HTTP socket; "nginx": through nginx over uwsgi
  const char* target;  // the URI asked
  const char* without_manage;  // the body uWSGI's choice answers, manage-script-name off
  const char* with_manage;     // and on
};

// The apps: Python's default (`wsgi-file`, "python"), Python at /py ("pymount"), Lua's
// default (`lua`, "luaroot"), Lua at /lua ("lua"). Each answers "<name> SCRIPT_NAME|PATH_INFO".
const Case kCases[] = {
    {"http", "/hello", "python |/hello", "python |/hello"},
    {"http", "/py/a", "python |/py/a", "pymount /py|/a"},
    {"http", "/lua/a", "python |/lua/a", "lua /lua|/a"},
    {"http", "/lua", "python |/lua", "lua /lua|"},
    {"http", "/luax/a", "python |/luax/a", "python |/luax/a"},  // not on a '/' boundary
    {"nginx", "/hello", "python |/hello", "python |/hello"},
    {"nginx", "/lua/a", "python |/lua/a", "lua /lua|/a"},
    {"nginx", "/py/deeper/a", "python |/py/deeper/a", "pymount /py|/deeper/a"},
    {"nginx", "/sn/lua/a", "lua /lua|/a", "lua /lua|/a"},
    {"nginx", "/sn/py/a", "pymount /py|/a", "pymount /py|/a"},
    {"nginx", "/sn/none/a", "python /none|/a", "python /none|/a"},
    {"nginx", "/sn6/py/a", "pymount /py|/a", "pymount /py|/a"},
    {"nginx", "/sn6/none/a", "luaroot /none|/a", "luaroot /none|/a"},
    {"nginx", "/m6/hello", "luaroot |/hello", "luaroot |/hello"},
    // The Lua plugin used to match mount prefixes by itself, manage-script-name or not.
    {"nginx", "/m6/lua/a", "luaroot |/lua/a", "lua /lua|/a"},
};

class Routing : public ::testing::TestWithParam<bool> {};

TEST_P(Routing, EachRequestReachesTheAppUwsgiPicks) {
  const bool manage = GetParam();
  TempDir dir;
  std::string http = dir.File("http.sock");
  std::string usock = dir.File("uwsgi.sock");
  std::vector<std::string> args = {
      "--http-socket", http, "--socket", usock, "--chmod-socket", "666", "--master",
      "--plugins", "python3,lua", "--wsgi-file", Apps("hello_wsgi.py"),
      "--lua", Apps("routing_root.lua"), "--mount", "/py=" + Apps("routing_mounted.py"),
      "--mount", "/lua=" + Apps("hello_mounted.lua")};
  if (manage) args.push_back("--manage-script-name");
  KilnProcess kiln(args, dir.File("kiln.log"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(kiln::testing::WaitUntilHttpAnswers(http, absl::Seconds(30))) << kiln.Log();

  // Listening on a unix socket of its own.
  NginxProcess::Options on_unix_socket;
  on_unix_socket.unix_socket = true;
  NginxProcess nginx(on_unix_socket);
  ASSERT_EQ(nginx.Start(NginxServer(nginx.Listen(), usock)), "") << kiln.Log();
  std::vector<std::string> bodies;
  for (const Case& c : kCases) {
    Reply reply = Http(std::string(c.via) == "http" ? http : nginx.Address(), "GET", c.target);
    bodies.push_back(reply.status == 200 ? reply.body
                                         : absl::StrFormat("(status %d)", reply.status));
  }
  for (size_t i = 0; i < bodies.size(); ++i) {
    const Case& c = kCases[i];
    EXPECT_EQ(bodies[i], manage ? c.with_manage : c.without_manage)
        << "via " << c.via << " " << c.target << (manage ? " with" : " without")
        << " manage-script-name";
  }
  if (HasFailure()) ADD_FAILURE() << nginx.ErrorLog() << kiln.Log();
}

INSTANTIATE_TEST_SUITE_P(ManageScriptName, Routing, ::testing::Bool(),
                         [](const auto& p) { return p.param ? "On" : "Off"; });

}  // namespace
}  // namespace kiln::lua_test
