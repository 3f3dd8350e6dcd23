// The lua plugin against the fake host: WSAPI apps, their bodies, headers and errors, the
// options and mount points, with no sockets and no kiln binary.
#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/unit/plugins/fake_host.h"

namespace kiln::lua_test {
namespace {

using kiln::testing::FakeHost;
using kiln::testing::FakeRequest;
using kiln::testing::MakeRequest;
using kiln::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::string LuaPluginPath() { return KILN_LUA_PLUGIN_PATH; }

constexpr const char* kHello = R"(
return function(env)
  return 200, {["Content-Type"] = "text/plain"}, coroutine.wrap(function()
    coroutine.yield("Hello, world!")
  end)
end
)";

class LuaPluginTest : public ::testing::Test {
 protected:
  // Writes `code` as app.lua, makes it the `lua` app and starts the plugin.
  void Start(const std::string& code) {
    host_.SetOption("lua", dir_.Write("app.lua", code));
    ASSERT_EQ(host_.Start(LuaPluginPath()), "");
  }
  FakeRequest Get(const std::string& target) {
    FakeRequest r = MakeRequest("GET", target);
    last_status_ = host_.Serve(r);
    return r;
  }

  TempDir dir_;
  FakeHost host_;
  kiln_status last_status_ = KILN_OK;
};

TEST_F(LuaPluginTest, DescribesItselfAsLuaOnModifier6) {
  ASSERT_EQ(host_.Load(LuaPluginPath()), KILN_OK) << host_.error();
  const kiln_plugin_desc* d = host_.desc();
  EXPECT_STREQ(d->name, "lua");
  ASSERT_EQ(d->modifier1_count, 1u);
  EXPECT_EQ(d->modifier1[0], 6);
  EXPECT_THAT(std::string(d->runtime), HasSubstr("LuaJIT"));
  std::vector<std::string> options;
  for (size_t i = 0; i < d->option_def_count; ++i) {
    options.emplace_back(d->option_defs[i].name);
  }
  // Not `mount`: kiln offers the mounts (on_mount_app) and routes; the plugin never reads it.
  EXPECT_THAT(options, ElementsAre("lua", "lua-load", "lua-gc-freq"));
}

TEST_F(LuaPluginTest, ServesHelloWorld) {
  Start(kHello);
  FakeRequest r = Get("/");
  ASSERT_EQ(last_status_, KILN_OK) << host_.error();
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.HeaderValues("Content-Type"), ElementsAre("text/plain"));
  EXPECT_EQ(r.Body(), "Hello, world!");
}

TEST_F(LuaPluginTest, EchoesALargePostBodyReadInPieces) {
  Start(R"(
return function(env)
  local parts = {}
  while true do
    local piece = env.input:read(4096)
    if not piece then break end
    assert(#piece <= 4096, "read(4096) returned " .. #piece .. " bytes")
    parts[#parts + 1] = piece
  end
  local body = table.concat(parts)
  return 200, {["Content-Length"] = #body}, coroutine.wrap(function()
    for i = 1, #body, 65536 do coroutine.yield(body:sub(i, i + 65535)) end
  end)
end
)");
  std::string body;
  for (int i = 0; body.size() < 3 * 1024 * 1024; ++i) {
    body += "line " + std::to_string(i) + " of a large body\n";
  }
  FakeRequest r = MakeRequest("POST", "/echo", body);
  r.max_read = 1000;  // the client's bytes trickle in
  ASSERT_EQ(host_.Serve(r), KILN_OK) << host_.error();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Body().size(), body.size());
  EXPECT_TRUE(r.Body() == body);
  EXPECT_GT(r.body_reads, body.size() / 1000 - 1);
  EXPECT_THAT(r.HeaderValues("Content-Length"), ElementsAre(std::to_string(body.size())));
}

TEST_F(LuaPluginTest, ReadsTheBodyWholeByLineAndByCount) {
  Start(R"(
return function(env)
  local first = env.input:read("*l")
  local second = env.input:read("*L")
  local three = env.input:read(3)
  local rest = env.input:read("*a")
  local after = env.input:read(10)
  local out = string.format("[%s][%s][%s][%s][%s]", first, second, three, rest, tostring(after))
  return 200, {}, function() local o = out; out = nil; return o end
end
)");
  FakeRequest r = MakeRequest("POST", "/", "alpha\nbeta\ngamma delta");
  r.max_read = 2;
  ASSERT_EQ(host_.Serve(r), KILN_OK) << host_.error();
  EXPECT_EQ(r.Body(), "[alpha][beta\n][gam][ma delta][nil]");
}

TEST_F(LuaPluginTest, RepeatsAHeaderGivenSeveralValues) {
  Start(R"(
return function(env)
  return 200, {["Set-Cookie"] = {"a=1", "b=2", "c=3"}, ["X-Count"] = 3}, function() end
end
)");
  FakeRequest r = Get("/");
  ASSERT_EQ(last_status_, KILN_OK) << host_.error();
  EXPECT_THAT(r.HeaderValues("Set-Cookie"), ElementsAre("a=1", "b=2", "c=3"));
  EXPECT_THAT(r.HeaderValues("X-Count"), ElementsAre("3"));
  EXPECT_EQ(r.Body(), "");
}

TEST_F(LuaPluginTest, StreamsEachCoroutineChunkAsItComes) {
  Start(R"(
return function(env)
  return "200 OK", {["Content-Type"] = "text/plain"}, coroutine.wrap(function()
    for i = 1, 3 do coroutine.yield("chunk " .. i .. "\n") end
  end)
end
)");
  FakeRequest r = Get("/stream");
  ASSERT_EQ(last_status_, KILN_OK) << host_.error();
  EXPECT_EQ(r.reason, "OK");
  EXPECT_THAT(r.writes, ElementsAre("chunk 1\n", "chunk 2\n", "chunk 3\n"));
}

TEST_F(LuaPluginTest, AcceptsACoroutineObjectAStringAndATableAsBody) {
  Start(R"(
return function(env)
  local kind = env.PATH_INFO
  if kind == "/thread" then
    return 200, {}, coroutine.create(function() coroutine.yield("a") coroutine.yield("b") end)
  elseif kind == "/string" then
    return 200, {}, "whole"
  end
  return 200, {}, {"x", "y", "z"}
end
)");
  EXPECT_EQ(Get("/thread").Body(), "ab");
  EXPECT_EQ(Get("/string").Body(), "whole");
  EXPECT_EQ(Get("/table").Body(), "xyz");
}

TEST_F(LuaPluginTest, GivesTheAppCgiVariablesAndWsapiDefaults) {
  Start(R"(
return function(env)
  local out = table.concat({env.REQUEST_METHOD, env.PATH_INFO, env.QUERY_STRING, env.SCRIPT_NAME,
                            "[" .. env.CONTENT_TYPE .. "]", env.HTTP_HOST, env.APP_PATH}, "|")
  return 200, {}, function() local o = out; out = nil; return o end
end
)");
  FakeRequest r = Get("/some/path?a=1&b=2");
  ASSERT_EQ(last_status_, KILN_OK) << host_.error();
  EXPECT_EQ(r.Body(), "GET|/some/path|a=1&b=2||[]|localhost|" + dir_.path());
}

TEST_F(LuaPluginTest, RunsAWsapiRequestResponseApp) {
  Start(R"(
local request = require "wsapi.request"
local response = require "wsapi.response"
return {run = function(env)
  local req = request.new(env)
  local res = response.new(200, {["Content-Type"] = "text/plain"})
  res:set_cookie("session", "abc")
  res:set_cookie("theme", "dark")
  res:write("name=", req.POST.name, " q=", req.GET.q, " path=", req.path_info)
  return res:finish()
end}
)");
  FakeRequest r = MakeRequest("POST", "/form?q=lua", "name=kiln+server&x=1");
  r.vars.emplace_back("CONTENT_TYPE", "application/x-www-form-urlencoded");
  ASSERT_EQ(host_.Serve(r), KILN_OK) << host_.error();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Body(), "name=kiln server q=lua path=/form");
  EXPECT_THAT(r.HeaderValues("Content-Length"), ElementsAre(std::to_string(r.Body().size())));
  EXPECT_THAT(r.HeaderValues("Set-Cookie"), ElementsAre("session=abc", "theme=dark"));
}

TEST_F(LuaPluginTest, RuntimeErrorIsA500WithTheTraceback) {
  Start(R"(
local function inner() error("boom") end
return function(env)
  inner()
end
)");
  FakeRequest r = Get("/fail");
  EXPECT_EQ(last_status_, KILN_ERROR);
  EXPECT_FALSE(r.started);
  EXPECT_THAT(host_.error(), HasSubstr("GET /fail"));
  EXPECT_THAT(host_.error(), HasSubstr("app.lua:2: boom"));
  EXPECT_THAT(host_.error(), HasSubstr("stack traceback:"));
  EXPECT_THAT(host_.error(), HasSubstr("in function 'inner'"));
  // The state keeps serving after the error.
  EXPECT_EQ(Get("/fail").started, false);
  EXPECT_EQ(last_status_, KILN_ERROR);
}

TEST_F(LuaPluginTest, ErrorInsideTheBodyCoroutineIsA500) {
  Start(R"(
return function(env)
  return 200, {}, coroutine.create(function() error("late failure") end)
end
)");
  FakeRequest r = Get("/");
  EXPECT_EQ(last_status_, KILN_ERROR);
  EXPECT_FALSE(r.started);
  EXPECT_THAT(host_.error(), HasSubstr("app.lua:3: late failure"));
  EXPECT_THAT(host_.error(), HasSubstr("stack traceback:"));
}

TEST_F(LuaPluginTest, NonStringChunkIsA500) {
  Start(R"(
return function(env)
  return 200, {}, coroutine.wrap(function() coroutine.yield({}) end)
end
)");
  FakeRequest r = Get("/");
  EXPECT_EQ(last_status_, KILN_ERROR);
  EXPECT_FALSE(r.started);
  EXPECT_THAT(host_.error(), HasSubstr("body chunk 1 is a table value"));
}

TEST_F(LuaPluginTest, NonStringChunkAfterTheFirstStopsTheResponse) {
  Start(R"(
return function(env)
  return 200, {}, coroutine.wrap(function() coroutine.yield("ok") coroutine.yield(42) end)
end
)");
  FakeRequest r = Get("/");
  EXPECT_EQ(last_status_, KILN_ERROR);
  EXPECT_EQ(r.Body(), "ok");
  EXPECT_THAT(host_.error(), HasSubstr("body chunk 2 is a number value"));
}

TEST_F(LuaPluginTest, BadStatusIsA500) {
  Start(R"(
local statuses = {["/word"] = "OK", ["/small"] = 42, ["/nil"] = nil, ["/frac"] = 200.5,
                  ["/long"] = "2000 Too Long", ["/table"] = {}}
return function(env)
  return statuses[env.PATH_INFO], {}, "body"
end
)");
  for (const char* path : {"/word", "/small", "/nil", "/frac", "/long", "/table"}) {
    FakeRequest r = Get(path);
    EXPECT_EQ(last_status_, KILN_ERROR) << path;
    EXPECT_FALSE(r.started) << path;
    EXPECT_THAT(host_.error(), HasSubstr("status")) << path;
  }
}

TEST_F(LuaPluginTest, BadHeadersAreA500) {
  Start(R"(
local headers = {
  ["/bool"] = {["X-Flag"] = true},
  ["/crlf"] = {["X-Split"] = "a\r\nInjected: 1"},
  ["/lf"] = {["X-Split"] = "a\nInjected: 1"},
  ["/cr"] = {["X-Split"] = "a\rb"},
  ["/name-lf"] = {["X-Split\nInjected"] = "1"},
  ["/key"] = {[1] = "value"},
  ["/list"] = {["X-List"] = {"a", false}},
  ["/notable"] = "Content-Type: text/plain",
}
return function(env)
  return 200, headers[env.PATH_INFO], "body"
end
)");
  struct Case {
    const char* path;
    const char* message;
  };
  for (const Case& c : {Case{"/bool", "header `X-Flag` is a boolean value"},
                        Case{"/crlf", "header `X-Split` has a CR or LF"},
                        Case{"/lf", "header `X-Split` has a CR or LF"},
                        Case{"/cr", "header `X-Split` has a CR or LF"},
                        Case{"/name-lf", "is not a valid name"},
                        Case{"/key", "a header name is a number value"},
                        Case{"/list", "header `X-List` (in its list of values) is a boolean"},
                        Case{"/notable", "the headers are a string value"}}) {
    FakeRequest r = Get(c.path);
    EXPECT_EQ(last_status_, KILN_ERROR) << c.path;
    EXPECT_FALSE(r.started) << c.path;
    EXPECT_THAT(host_.error(), HasSubstr(c.message)) << c.path;
  }
}

TEST_F(LuaPluginTest, LoadErrorNamesFileAndLine) {
  std::string app = dir_.Write("app.lua", "local x = 1\nreturn function(env) x = = 2 end\n");
  host_.SetOption("lua", app);
  EXPECT_NE(host_.Start(LuaPluginPath()), "");
  EXPECT_THAT(host_.error(), HasSubstr("option `lua`"));
  EXPECT_THAT(host_.error(), HasSubstr(app + ":2:"));
}

TEST_F(LuaPluginTest, RuntimeErrorWhileLoadingNamesFileAndLine) {
  std::string app = dir_.Write("app.lua", "\n\nlocal t = nil\nreturn t.run\n");
  host_.SetOption("lua", app);
  EXPECT_NE(host_.Start(LuaPluginPath()), "");
  EXPECT_THAT(host_.error(), HasSubstr(app + ":4: attempt to index"));
}

TEST_F(LuaPluginTest, MissingAppFileIsNamed) {
  host_.SetOption("lua", dir_.File("nope.lua"));
  EXPECT_NE(host_.Start(LuaPluginPath()), "");
  EXPECT_THAT(host_.error(), HasSubstr("cannot open " + dir_.File("nope.lua")));
}

TEST_F(LuaPluginTest, AppFileMustReturnAFunction) {
  host_.SetOption("lua", dir_.Write("app.lua", "function run(env) end\n"));
  EXPECT_NE(host_.Start(LuaPluginPath()), "");
  EXPECT_THAT(host_.error(), HasSubstr("returned nothing"));
  EXPECT_THAT(host_.error(), HasSubstr("return app"));
}

TEST_F(LuaPluginTest, LuaLoadScriptsRunFirstInEveryState) {
  host_.SetOption("lua-load", dir_.Write("setup.lua", "GREETING = 'hi from lua-load'\n"));
  Start("return function() return 200, {}, GREETING end\n");
  EXPECT_EQ(Get("/").Body(), "hi from lua-load");
}

TEST_F(LuaPluginTest, FailingLuaLoadScriptFailsStartup) {
  host_.SetOption("lua-load", dir_.Write("setup.lua", "error('no database')\n"));
  host_.SetOption("lua", dir_.Write("app.lua", kHello));
  EXPECT_NE(host_.Start(LuaPluginPath()), "");
  EXPECT_THAT(host_.error(), HasSubstr("option `lua-load`"));
  EXPECT_THAT(host_.error(), HasSubstr("setup.lua:1: no database"));
}

TEST_F(LuaPluginTest, AppFindsModulesBesideIt) {
  dir_.Write("helper.lua", "return {word = 'neighbour'}\n");
  Start("local h = require 'helper'\nreturn function() return 200, {}, h.word end\n");
  EXPECT_EQ(Get("/").Body(), "neighbour");
}

TEST_F(LuaPluginTest, ErrorStreamWritesToTheLog) {
  Start(R"(
return function(env)
  env.error:write("something odd: ", 42)
  return 200, {}, "ok"
end
)");
  EXPECT_EQ(Get("/").Body(), "ok");
  EXPECT_TRUE(host_.LogContains("something odd: 42"));
}

TEST_F(LuaPluginTest, KeptInputOfAFinishedRequestRaisesInsteadOfReading) {
  Start(R"(
local kept
return function(env)
  if env.PATH_INFO == "/keep" then kept = env.input return 200, {}, "kept" end
  local ok, err = pcall(kept.read, kept, 10)
  return 200, {}, tostring(ok) .. " " .. tostring(err)
end
)");
  EXPECT_EQ(Get("/keep").Body(), "kept");
  FakeRequest r = Get("/use");
  ASSERT_EQ(last_status_, KILN_OK) << host_.error();
  EXPECT_THAT(r.Body(), HasSubstr("false"));
  EXPECT_THAT(r.Body(), HasSubstr("the request it belongs to is over"));
}

// Each request gets its own wsapi_env: an app that keeps and changes one sees its own values
// stay, and the next request sees none of the changes.
TEST_F(LuaPluginTest, AKeptAndChangedEnvDoesNotLeakIntoTheNextRequest) {
  Start(R"(
local kept
return function(env)
  if env.PATH_INFO == "/keep" then
    kept = env
    env.REQUEST_METHOD = "CHANGED"
    env.EXTRA = "added"
    env.QUERY_STRING = nil
    return 200, {}, "kept"
  end
  return 200, {}, table.concat({tostring(kept == env), kept.PATH_INFO, kept.REQUEST_METHOD,
    tostring(kept.QUERY_STRING), env.PATH_INFO, env.REQUEST_METHOD, tostring(env.EXTRA),
    "[" .. env.QUERY_STRING .. "]", tostring(env.input ~= kept.input)}, " ")
end
)");
  EXPECT_EQ(Get("/keep").Body(), "kept");
  FakeRequest r = Get("/use");
  ASSERT_EQ(last_status_, KILN_OK) << host_.error();
  EXPECT_EQ(r.Body(), "false /keep CHANGED nil /use GET nil [] true");
}

// The plugin reuses the strings of the previous request's variables where they match: requests
// whose variables differ in number, order and value each see exactly their own.
TEST_F(LuaPluginTest, EachRequestSeesExactlyItsOwnVariables) {
  Start(R"(
return function(env)
  local lines = {}
  for k, v in pairs(env) do
    if type(v) == "string" and k ~= "APP_PATH" then lines[#lines + 1] = k .. "=" .. v end
  end
  table.sort(lines)
  return 200, {}, table.concat(lines, "\n")
end
)");
  auto expected = [](const FakeRequest& r) {
    std::map<std::string, std::string> vars(r.vars.begin(), r.vars.end());
    for (const char* name : {"SCRIPT_NAME", "PATH_INFO", "CONTENT_TYPE", "QUERY_STRING"}) {
      vars.emplace(name, "");
    }
    std::string out;
    for (const auto& [k, v] : vars) {
      out += (out.empty() ? "" : "\n") + k + "=" + v;
    }
    return out;
  };
  // 0 and 4 differ only in bytes (same names, order and lengths); 1, 2 and 3 in the number,
  // order or length of their variables.
  auto make = [](int which) {
    const char* targets[] = {"/a?x=1", "/bb?y=22", "/", "/a?x=1", "/b?x=2"};
    FakeRequest r = MakeRequest(which == 1 ? "POST" : "GET", targets[which],
                                which == 1 ? "body" : "");
    if (which == 0 || which == 3 || which == 4) {
      r.vars.emplace_back("HTTP_X_ONE", which == 0 ? "one" : which == 4 ? "uno" : "");
      r.vars.emplace_back("HTTP_X_TWO", which == 4 ? "dos" : "two");
    } else if (which == 1) {
      r.vars.emplace_back("HTTP_X_TWO", "zwei");
    }
    return r;
  };
  for (int which : {0, 1, 2, 3, 0, 4, 2}) {
    FakeRequest r = make(which);
    ASSERT_EQ(host_.Serve(r), KILN_OK) << host_.error();
    EXPECT_EQ(r.Body(), expected(r)) << "request " << which;
    if (which == 2) {
      EXPECT_THAT(r.Body(), Not(HasSubstr("HTTP_X")));
    }
  }
}

// The input read-ahead buffer is the state's: what one request left unread is not the next
// request's body.
TEST_F(LuaPluginTest, UnreadBodyOfOneRequestIsNotReadByTheNext) {
  Start(R"(
return function(env)
  if env.PATH_INFO == "/line" then return 200, {}, env.input:read("*l") end
  return 200, {}, "[" .. tostring(env.input:read("*a")) .. "]"
end
)");
  FakeRequest a = MakeRequest("POST", "/line", "first line\nrest of the first body");
  ASSERT_EQ(host_.Serve(a), KILN_OK) << host_.error();
  EXPECT_EQ(a.Body(), "first line");
  FakeRequest b = MakeRequest("POST", "/all", "second");
  ASSERT_EQ(host_.Serve(b), KILN_OK) << host_.error();
  EXPECT_EQ(b.Body(), "[second]");
}

// The header strings stay valid when the body changes the headers table and collects garbage
// before its first chunk, request after request (the anchor table is reused).
TEST_F(LuaPluginTest, HeadersSurviveTheBodyDroppingThemBeforeTheFirstChunk) {
  Start(R"(
return function(env)
  local n = tonumber(env.QUERY_STRING)
  local headers = {["X-Count"] = n, ["X-Many"] = {}}
  for i = 1, n do headers["X-Many"][i] = ("v"):rep(i) .. i end
  return 200, headers, coroutine.wrap(function()
    for k in pairs(headers) do headers[k] = nil end
    collectgarbage()
    collectgarbage()
    coroutine.yield("body")
  end)
end
)");
  for (int n : {5, 1, 3}) {
    FakeRequest r = Get("/?" + std::to_string(n));
    ASSERT_EQ(last_status_, KILN_OK) << host_.error();
    EXPECT_THAT(r.HeaderValues("X-Count"), ElementsAre(std::to_string(n)));
    ASSERT_EQ(r.HeaderValues("X-Many").size(), static_cast<size_t>(n));
    EXPECT_EQ(r.HeaderValues("X-Many").back(), std::string(n, 'v') + std::to_string(n));
    EXPECT_EQ(r.Body(), "body");
  }
}

// Number header values read as Lua's tostring writes them, integers included (kiln writes
// those itself).
TEST_F(LuaPluginTest, NumericHeaderValuesAreWrittenAsTostringWritesThem) {
  Start(R"(
return function(env)
  local values = {14, 0, -7, 1.5, 1e15, 99999999999999, 2^53, -0.0}
  local seen = {}
  for i, v in ipairs(values) do seen[i] = tostring(v) end
  return 200, {["X-N"] = values, ["X-Tostring"] = table.concat(seen, ",")}, "ok"
end
)");
  FakeRequest r = Get("/");
  ASSERT_EQ(last_status_, KILN_OK) << host_.error();
  ASSERT_EQ(r.HeaderValues("X-Tostring").size(), 1u);
  std::string joined;
  for (const std::string& v : r.HeaderValues("X-N")) {
    joined += (joined.empty() ? "" : ",") + v;
  }
  EXPECT_EQ(joined, r.HeaderValues("X-Tostring")[0]);
  EXPECT_EQ(joined, "14,0,-7,1.5,1e+15,99999999999999,9.007199254741e+15,-0");
}

// lua-gc-freq = 1 keeps uWSGI's full collection after every request: the garbage of a request
// is finalized before the next one starts.
TEST_F(LuaPluginTest, GcFrequencyOneCollectsAfterEveryRequest) {
  host_.SetOption("lua-gc-freq", "1");
  Start(R"(
FINALIZED = 0
return function(env)
  local p = newproxy(true)
  getmetatable(p).__gc = function() FINALIZED = FINALIZED + 1 end
  return 200, {}, tostring(FINALIZED)
end
)");
  EXPECT_EQ(Get("/").Body(), "0");
  EXPECT_EQ(Get("/").Body(), "1");
  EXPECT_EQ(Get("/").Body(), "2");
}

// Without lua-gc-freq a full collection runs every 100 requests (LuaJIT's incremental collector
// works in between): a full collection of even a small state costs more than the rest of a
// hello-world request.
TEST_F(LuaPluginTest, GcFrequencyDefaultsToAHundredRequests) {
  ASSERT_EQ(host_.Load(LuaPluginPath()), KILN_OK) << host_.error();
  const kiln_plugin_desc* d = host_.desc();
  std::string def;
  for (size_t i = 0; i < d->option_def_count; ++i) {
    if (std::string(d->option_defs[i].name) == "lua-gc-freq") {
      def = d->option_defs[i].default_value;
    }
  }
  EXPECT_EQ(def, "100");
}

TEST_F(LuaPluginTest, BodyReadFailureIsA500) {
  Start("return function(env) local b = env.input:read(10) return 200, {}, b end\n");
  FakeRequest r = MakeRequest("POST", "/", "0123456789");
  r.body_fails = true;
  EXPECT_EQ(host_.Serve(r), KILN_ERROR);
  EXPECT_FALSE(r.started);
  EXPECT_THAT(host_.error(), HasSubstr("request body could not be read"));
}

TEST_F(LuaPluginTest, ClientGoneStopsTheBody) {
  Start(R"(
CALLS = 0
return function(env)
  if env.PATH_INFO == "/calls" then return 200, {}, tostring(CALLS) end
  return 200, {}, function() CALLS = CALLS + 1 if CALLS < 100 then return "x" end end
end
)");
  FakeRequest r = MakeRequest("GET", "/");
  r.writes_fail = true;
  EXPECT_EQ(host_.Serve(r), KILN_ERROR);
  EXPECT_THAT(host_.error(), HasSubstr("client went away"));
  // The iterator was not called again once the first write failed.
  EXPECT_EQ(Get("/calls").Body(), "1");
}

TEST_F(LuaPluginTest, MountedAppsAreChosenByLongestPrefixWithManageScriptName) {
  std::string app = R"(
return function(env)
  local out = NAME .. " " .. env.SCRIPT_NAME .. " " .. env.PATH_INFO
  return 200, {}, out
end
)";
  host_.SetOption("lua", dir_.Write("root.lua",
                                    "local app = function(env) return 200, {}, "
                                    "'root ' .. env.SCRIPT_NAME .. ' ' .. "
                                    "env.PATH_INFO end\nreturn app\n"));
  host_.SetOption("mount", "/lua=" + dir_.Write("lua.lua", "local NAME = 'lua'\n" + app));
  host_.SetOption("mount",
                  "/lua/admin/=" + dir_.Write("admin.lua", "local NAME = 'admin'\n" + app));
  host_.SetOption("mount", "/py=app:application");  // another plugin's
  host_.SetOption("manage-script-name", "true");
  ASSERT_EQ(host_.Start(LuaPluginPath()), "");
  EXPECT_EQ(Get("/lua").Body(), "lua /lua ");
  EXPECT_EQ(Get("/lua/x/y").Body(), "lua /lua /x/y");
  EXPECT_EQ(Get("/lua/admin/users").Body(), "admin /lua/admin /users");
  EXPECT_EQ(Get("/luax").Body(), "root  /luax");
  EXPECT_EQ(Get("/").Body(), "root  /");
}

// Without manage-script-name only SCRIPT_NAME selects a mount (as under uWSGI and for the
// python plugin); the plugin used to match PATH_INFO prefixes regardless.
TEST_F(LuaPluginTest, WithoutManageScriptNamePathInfoGoesToTheDefaultApp) {
  host_.SetOption("lua", dir_.Write("root.lua",
                                    "return function(env) return 200, {}, 'root ' .. "
                                    "env.SCRIPT_NAME .. ' ' .. env.PATH_INFO end\n"));
  host_.SetOption("mount", "/lua=" + dir_.Write("lua.lua", kHello));
  ASSERT_EQ(host_.Start(LuaPluginPath()), "");
  EXPECT_EQ(Get("/lua/x").Body(), "root  /lua/x");
  FakeRequest r = kiln::testing::MakeRequest("GET", "/x");
  r.vars.emplace_back("SCRIPT_NAME", "/lua");
  ASSERT_EQ(host_.Serve(r), KILN_OK) << host_.error();
  EXPECT_EQ(r.Body(), "Hello, world!");
}

TEST_F(LuaPluginTest, RequestOutsideEveryMountIsDeclined) {
  host_.SetOption("manage-script-name", "true");
  host_.SetOption("mount", "/lua=" + dir_.Write("lua.lua", kHello));
  ASSERT_EQ(host_.Start(LuaPluginPath()), "");
  EXPECT_EQ(Get("/lua/x").Body(), "Hello, world!");
  FakeRequest r = Get("/other");
  EXPECT_EQ(last_status_, KILN_DECLINED);
  EXPECT_FALSE(r.started);
}

TEST_F(LuaPluginTest, TwoAppsAtTheRootAreRejected) {
  host_.SetOption("lua", dir_.Write("root.lua", kHello));
  host_.SetOption("mount", "/=" + dir_.Write("other.lua", kHello));
  ASSERT_EQ(host_.Load(LuaPluginPath()), KILN_OK);
  EXPECT_EQ(host_.ConfigDone(), KILN_ERROR);
  EXPECT_THAT(host_.error(), HasSubstr("are both mounted at /"));
}

TEST_F(LuaPluginTest, NegativeGcFrequencyIsRejected) {
  host_.SetOption("lua-gc-freq", "-2");
  ASSERT_EQ(host_.Load(LuaPluginPath()), KILN_OK);
  EXPECT_EQ(host_.ConfigDone(), KILN_ERROR);
  EXPECT_THAT(host_.error(), HasSubstr("lua-gc-freq"));
}

TEST_F(LuaPluginTest, EachRequestThreadHasItsOwnState) {
  host_.set_threads(2);
  Start(R"(
COUNT = 0
return function(env) COUNT = COUNT + 1 return 200, {}, tostring(COUNT) end
)");
  FakeRequest a = MakeRequest("GET", "/");
  FakeRequest b = MakeRequest("GET", "/");
  FakeRequest c = MakeRequest("GET", "/");
  ASSERT_EQ(host_.Serve(a, 0), KILN_OK);
  ASSERT_EQ(host_.Serve(b, 0), KILN_OK);
  ASSERT_EQ(host_.Serve(c, 1), KILN_OK);
  EXPECT_EQ(a.Body(), "1");
  EXPECT_EQ(b.Body(), "2");
  EXPECT_EQ(c.Body(), "1");
}

}  // namespace
}  // namespace kiln::lua_test
