// The WSAPI request cycle on one Lua state: build wsapi_env, call the app under a traceback
// handler, check status and headers, pull body chunks (iterator function, coroutine, string or
// array of strings) and hand them to the host. Every Lua call that can raise runs protected.
#include "wsapi_call.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wsapi_io.h"

namespace kiln::lua {
namespace {

// Stack slots of a call, from the bottom.
constexpr int kHandler = 1;  // MessageHandler
constexpr int kEnv = 2;      // wsapi_env
constexpr int kStatus = 3;   // the app's three results
constexpr int kHeaders = 4;
constexpr int kBody = 5;  // above it: the anchor table of the header strings

// The CGI variables BuildEnv gives "" when the request has none, as bits of
// CallContext::present.
constexpr std::string_view kDefaulted[] = {"SCRIPT_NAME", "PATH_INFO", "CONTENT_TYPE",
                                           "QUERY_STRING"};

struct CallContext {
  const Host* host;
  kiln_request* r;
  const std::string* app_path;
  CallCache* cache;  // vars and headers: this request's, emptied at its start
  InputStream* input = nullptr;
  unsigned present = 0;  // which of kDefaulted the request has
  std::string problem;   // set by CollectHeaders for a bad header
};

int CollectVar(void* arg, kiln_str name, kiln_str value) {
  auto* ctx = static_cast<CallContext*>(arg);
  ctx->cache->vars.emplace_back(name, value);
  std::string_view n(name.ptr, name.len);
  for (unsigned i = 0; i < std::size(kDefaulted); ++i) {
    if (n.size() == kDefaulted[i].size() && n == kDefaulted[i]) {
      ctx->present |= 1u << i;
    }
  }
  return 0;
}

// Makes slot `slot` of the table at `strings` hold `s`. A request's variables come in the same
// order with mostly the same names and values from one request to the next, so the slot
// usually holds it already: the C++ copy says so with a compare, and nothing is hashed,
// interned or stored. The table holds at most the strings of the state's largest request.
void CacheString(lua_State* L, CallCache& cache, int strings, int slot, kiln_str s) {
  std::string& held = cache.var_text[static_cast<size_t>(slot - 1)];
  if (slot <= cache.var_slots_set && held.size() == s.len &&
      (s.len == 0 || std::memcmp(held.data(), s.ptr, s.len) == 0)) {
    return;
  }
  lua_pushlstring(L, s.len == 0 ? "" : s.ptr, s.len);
  lua_rawseti(L, strings, slot);
  held.assign(s.len == 0 ? "" : s.ptr, s.len);  // within the capacity after the first requests
  if (slot > cache.var_slots_set) {
    cache.var_slots_set = slot;  // slots are filled from 1 up, so 1..slot are set
  }
}

// Fills wsapi_env (argument 1) from the string cache (argument 2, names at odd slots and
// values at even ones, argument 3 of them): a loop the JIT compiles costs less than a C API
// call per field.
constexpr char kFillEnv[] = R"(local env, strings, n = ...
for i = 1, n, 2 do env[strings[i]] = strings[i + 1] end)";

// Protected: pushes wsapi_env, a new table for every request (an app may keep or change its
// env). Every CGI variable (SCRIPT_NAME and PATH_INFO as kiln routed them), SCRIPT_NAME,
// PATH_INFO, CONTENT_TYPE and QUERY_STRING defaulting to "", APP_PATH, input and error. The
// constant keys and the streams' metatable come from registry references, not by name.
int BuildEnv(lua_State* L) {
  auto* ctx = static_cast<CallContext*>(lua_touserdata(L, 1));
  CallCache& cache = *ctx->cache;
  // Exactly the room of the keys set below: LuaJIT rounds the hash part up to a power of two,
  // so the usual 15 keys fill 16 slots (a guess of a few more took 32: twice the garbage).
  const int missing = static_cast<int>(std::size(kDefaulted)) - std::popcount(ctx->present);
  lua_createtable(L, 0, static_cast<int>(cache.vars.size()) + missing + 3);
  int env = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, cache.fill_env);
  lua_pushvalue(L, env);
  lua_rawgeti(L, LUA_REGISTRYINDEX, cache.var_strings);
  int strings = lua_gettop(L);
  int slot = 0;
  for (const auto& [name, value] : cache.vars) {
    CacheString(L, cache, strings, ++slot, name);
    CacheString(L, cache, strings, ++slot, value);
  }
  lua_pushinteger(L, slot);
  lua_call(L, 3, 0);
  for (unsigned i = 0; i < std::size(kDefaulted); ++i) {
    if ((ctx->present & (1u << i)) == 0) {
      lua_pushlstring(L, kDefaulted[i].data(), kDefaulted[i].size());
      lua_pushliteral(L, "");
      lua_rawset(L, -3);
    }
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, cache.key_app_path);
  lua_pushlstring(L, ctx->app_path->data(), ctx->app_path->size());
  lua_rawset(L, -3);
  lua_rawgeti(L, LUA_REGISTRYINDEX, cache.key_input);
  ctx->input = PushInput(L, cache.io, ctx->host, ctx->r, cache.input_buf);
  lua_rawset(L, -3);
  lua_rawgeti(L, LUA_REGISTRYINDEX, cache.key_error);
  PushErrorStream(L, cache.io);
  lua_rawset(L, -3);
  return 1;
}

// A byte loop: find_first_of with a two-character set calls memchr once per byte of `s`
// (libstdc++), which was a thirtieth of the Lua hello world's instructions.
bool BadHeaderText(std::string_view s) {
  for (const char c : s) {
    if (c == '\r' || c == '\n') return true;
  }
  return false;
}

// Pops the string at the top of the stack into the next slot of the anchor table. The count
// grows only once the slot exists, so ReleaseAnchor never creates one.
void Anchor(lua_State* L, int anchor, CallCache* cache) {
  lua_rawseti(L, anchor, cache->anchored + 1);
  ++cache->anchored;
}

// The text of `n` as LuaJIT's tostring writes it when n is an integer below 1e14 in magnitude
// (plain digits, as "%.14g" gives), in the next of the state's number slots; nullptr for other
// numbers or once the slots are used up (the caller lets Lua convert it).
const char* IntegerText(CallCache* cache, lua_Number n, size_t* len) {
  if (cache->numbers_used == std::size(cache->numbers) || !(std::fabs(n) < 1e14) ||
      std::floor(n) != n || (n == 0 && std::signbit(n))) {
    return nullptr;
  }
  char* out = cache->numbers[cache->numbers_used++];
  auto res = std::to_chars(out, out + sizeof(cache->numbers[0]), static_cast<int64_t>(n));
  *len = static_cast<size_t>(res.ptr - out);
  return out;
}

// Adds one header whose value is at the top of the stack (string or number). The name and
// value are stored in the anchor table so the pointers stay valid whatever the app does to its
// headers table later. Returns false (ctx->problem set) for another type.
bool AddHeader(lua_State* L, CallContext* ctx, int anchor, int name_idx, const char* where) {
  int t = lua_type(L, -1);
  if (t != LUA_TSTRING && t != LUA_TNUMBER) {
    ctx->problem = std::string("header `") + lua_tostring(L, name_idx) + "`" + where + " is a " +
                   lua_typename(L, t) + " value; expected a string or a number";
    return false;
  }
  size_t name_len = 0;
  size_t value_len = 0;
  const char* name = lua_tolstring(L, name_idx, &name_len);
  if (t == LUA_TNUMBER) {
    // Integers (Content-Length = #body) are written in C: no Lua string to make and anchor.
    if (const char* digits = IntegerText(ctx->cache, lua_tonumber(L, -1), &value_len)) {
      ctx->cache->headers.push_back(kiln_header{{name, name_len}, {digits, value_len}});
      return true;
    }
  }
  const char* value = lua_tolstring(L, -1, &value_len);  // other numbers become strings here
  if (BadHeaderText(std::string_view(value, value_len))) {
    ctx->problem = std::string("header `") + name + "` has a CR or LF in its value";
    return false;
  }
  lua_pushvalue(L, -1);
  Anchor(L, anchor, ctx->cache);
  ctx->cache->headers.push_back(kiln_header{{name, name_len}, {value, value_len}});
  return true;
}

// Protected: checks the headers table (argument 2) and fills ctx->cache->headers, anchoring
// every name and value string in the state's anchor table until ReleaseAnchor. Returns the
// anchor table, and false with ctx->problem for a bad header (the caller reports it).
int CollectHeaders(lua_State* L) {
  auto* ctx = static_cast<CallContext*>(lua_touserdata(L, 1));
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->cache->anchor);
  int anchor = lua_gettop(L);
  int t = lua_type(L, 2);
  if (t == LUA_TNIL) {
    lua_pushboolean(L, 1);
    return 2;
  }
  if (t != LUA_TTABLE) {
    ctx->problem = std::string("the headers are a ") + lua_typename(L, t) +
                   " value; expected a table of name = value";
    lua_pushboolean(L, 0);
    return 2;
  }
  lua_pushnil(L);
  while (lua_next(L, 2) != 0) {
    // stack: ... key value
    int name_idx = lua_gettop(L) - 1;
    if (lua_type(L, name_idx) != LUA_TSTRING) {
      ctx->problem = std::string("a header name is a ") + luaL_typename(L, name_idx) +
                     " value; expected a string (headers = {[\"Name\"] = \"value\"})";
      lua_pushboolean(L, 0);
      return 2;
    }
    size_t len = 0;
    const char* name = lua_tolstring(L, name_idx, &len);
    std::string_view nv(name, len);
    if (nv.empty() || BadHeaderText(nv) || nv.find(':') != std::string_view::npos) {
      ctx->problem = "the header name `" + std::string(nv) + "` is not a valid name";
      lua_pushboolean(L, 0);
      return 2;
    }
    lua_pushvalue(L, name_idx);
    Anchor(L, anchor, ctx->cache);
    bool ok = true;
    if (lua_istable(L, -1)) {
      // Several values: one header line each, in array order.
      int list = lua_gettop(L);
      int count = static_cast<int>(lua_objlen(L, list));
      for (int i = 1; ok && i <= count; ++i) {
        lua_rawgeti(L, list, i);
        ok = AddHeader(L, ctx, anchor, name_idx, " (in its list of values)");
        lua_pop(L, 1);
      }
    } else {
      ok = AddHeader(L, ctx, anchor, name_idx, "");
    }
    if (!ok) {
      lua_pushboolean(L, 0);
      return 2;
    }
    lua_pop(L, 1);
  }
  lua_pushboolean(L, 1);
  return 2;
}

// Reads the status at kStatus: an integer 100..999, or a string "200" / "200 OK".
bool ParseStatus(lua_State* L, int* code, kiln_str* reason, std::string* problem) {
  int t = lua_type(L, kStatus);
  *reason = kiln_str{"", 0};
  if (t == LUA_TNUMBER) {
    lua_Number n = lua_tonumber(L, kStatus);
    if (n >= 100 && n <= 999 && std::floor(n) == n) {
      *code = static_cast<int>(n);
      return true;
    }
    size_t len = 0;
    const char* text = lua_tolstring(L, kStatus, &len);
    *problem = "the status " + std::string(text, len) + " is not a number from 100 to 999";
    return false;
  }
  if (t == LUA_TSTRING) {
    size_t len = 0;
    const char* s = lua_tolstring(L, kStatus, &len);
    std::string_view text(s, len);
    bool digits = text.size() >= 3 && text[0] >= '1' && text[0] <= '9' && text[1] >= '0' &&
                  text[1] <= '9' && text[2] >= '0' && text[2] <= '9';
    if (digits && (text.size() == 3 || text[3] == ' ') && !BadHeaderText(text)) {
      *code = (text[0] - '0') * 100 + (text[1] - '0') * 10 + (text[2] - '0');
      if (text.size() > 4) {
        *reason = kiln_str{s + 4, len - 4};
      }
      return true;
    }
    *problem = "the status \"" + std::string(text.substr(0, 64)) +
               "\" is not a status code (expected 200 or \"200 OK\")";
    return false;
  }
  *problem = std::string("the status is a ") + lua_typename(L, t) +
             " value; expected a number such as 200 or a string such as \"200 OK\"";
  return false;
}

enum class Chunk { kData, kEnd, kError };

// Pulls body chunks from the app's third result.
class BodySource {
 public:
  explicit BodySource(lua_State* L) : L_(L) {}

  // On kData the chunk is a string at the top of the stack (pop it after use).
  Chunk Next(std::string* problem) {
    ++count_;
    int t = lua_type(L_, kBody);
    switch (t) {
      case LUA_TNIL:
        return Chunk::kEnd;
      case LUA_TSTRING:
        if (done_) {
          return Chunk::kEnd;
        }
        done_ = true;
        lua_pushvalue(L_, kBody);
        return Chunk::kData;
      case LUA_TTHREAD:
        return Resume(problem);
      case LUA_TTABLE:
        if (!HasCall()) {
          lua_rawgeti(L_, kBody, count_);
          return Check(problem);
        }
        [[fallthrough]];
      case LUA_TFUNCTION:
      case LUA_TUSERDATA:
        lua_pushvalue(L_, kBody);
        if (lua_pcall(L_, 0, 1, kHandler) != 0) {
          *problem = PopError(L_);
          return Chunk::kError;
        }
        return Check(problem);
      default:
        *problem = std::string("the body is a ") + lua_typename(L_, t) +
                   " value; expected an iterator function, a coroutine, a string or a table "
                   "of strings";
        return Chunk::kError;
    }
  }

 private:
  bool HasCall() {
    if (!lua_getmetatable(L_, kBody)) {
      return false;
    }
    lua_getfield(L_, -1, "__call");
    bool callable = !lua_isnil(L_, -1);
    lua_pop(L_, 2);
    return callable;
  }

  Chunk Check(std::string* problem) {
    int t = lua_type(L_, -1);
    if (t == LUA_TNIL) {
      lua_pop(L_, 1);
      return Chunk::kEnd;
    }
    if (t == LUA_TSTRING) {
      return Chunk::kData;
    }
    *problem = "body chunk " + std::to_string(count_) + " is a " + lua_typename(L_, t) +
               " value; a WSAPI body yields strings";
    lua_pop(L_, 1);
    return Chunk::kError;
  }

  Chunk Resume(std::string* problem) {
    if (done_) {
      return Chunk::kEnd;
    }
    lua_State* co = lua_tothread(L_, kBody);
    int base = lua_gettop(co);
    if (lua_status(co) == 0 && base == 0) {
      done_ = true;  // finished (or never had a function): nothing to resume
      return Chunk::kEnd;
    }
    int st = lua_resume(co, 0);
    if (st != 0 && st != LUA_YIELD) {
      const char* msg = lua_tostring(co, -1);
      luaL_traceback(L_, co, msg != nullptr ? msg : "(error object is not a string)", 0);
      *problem = PopError(L_);
      done_ = true;
      return Chunk::kError;
    }
    if (st == 0) {
      done_ = true;  // returned: a value it returns is the last chunk
    }
    if (lua_gettop(co) == 0) {
      return Chunk::kEnd;
    }
    lua_xmove(co, L_, 1);
    lua_settop(co, 0);
    return Check(problem);
  }

  lua_State* L_;
  int count_ = 0;
  bool done_ = false;
};

std::string Describe(const Host& host, kiln_request* r, const AppSpec& app) {
  kiln_str method{"?", 1};
  kiln_str uri{"?", 1};
  (void)host.api->request_var_get(r, kiln_str_c("REQUEST_METHOD"), &method);
  if (host.api->request_var_get(r, kiln_str_c("REQUEST_URI"), &uri) != KILN_OK) {
    (void)host.api->request_var_get(r, kiln_str_c("PATH_INFO"), &uri);
  }
  return std::string(method.ptr, method.len) + " " + std::string(uri.ptr, uri.len) + ": Lua app " +
         app.file + ": ";
}

kiln_status Fail(const Host& host, kiln_request* r, const AppSpec& app, CallContext& ctx,
                 const std::string& problem) {
  CloseInput(ctx.input);
  host.SetError(Describe(host, r, app) + problem);
  return KILN_ERROR;
}

// Sends the body, starting with the chunk at the top of the stack.
kiln_status Stream(lua_State* L, const Host& host, kiln_request* r, const AppSpec& app,
                   CallContext& ctx, BodySource& body) {
  uint64_t sent = 0;
  std::string problem;
  for (bool have = true;;) {
    if (!have) {
      Chunk c = body.Next(&problem);
      if (c == Chunk::kEnd) {
        break;
      }
      if (c == Chunk::kError) {
        return Fail(host, r, app, ctx,
                    problem + " (after " + std::to_string(sent) +
                        " bytes of the body were sent; connection closed)");
      }
    }
    have = false;
    size_t len = 0;
    const char* data = lua_tolstring(L, -1, &len);
    kiln_status st = len == 0 ? KILN_OK : host.api->response_write(r, kiln_str{data, len});
    lua_pop(L, 1);
    if (st != KILN_OK) {
      return Fail(host, r, app, ctx,
                  "the client went away after " + std::to_string(sent) + " bytes of the body");
    }
    sent += len;
  }
  CloseInput(ctx.input);
  return KILN_OK;
}

// Lets go of the strings of the headers just sent (setting array slots to nil allocates
// nothing, so this cannot raise).
void ReleaseAnchor(lua_State* L, CallCache& cache) {
  if (cache.anchored == 0) {
    return;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, cache.anchor);
  for (int i = 1; i <= cache.anchored; ++i) {
    lua_pushnil(L);
    lua_rawseti(L, -2, i);
  }
  lua_pop(L, 1);
  cache.anchored = 0;
}

kiln_status Serve(lua_State* L, LuaState& state, const Host& host, kiln_request* r,
                  const AppSpec& app, size_t app_index) {
  CallCache& cache = state.cache();
  CallContext ctx{&host, r, &state.AppPath(app_index), &cache, nullptr, 0, {}};
  host.api->request_var_each(r, CollectVar, &ctx);
  if (cache.var_text.size() < 2 * cache.vars.size()) {
    cache.var_text.resize(2 * cache.vars.size());  // outside Lua: CacheString only indexes it
  }

  lua_rawgeti(L, LUA_REGISTRYINDEX, cache.handler);
  lua_rawgeti(L, LUA_REGISTRYINDEX, cache.build_env);
  lua_pushlightuserdata(L, &ctx);
  if (lua_pcall(L, 1, 1, kHandler) != 0) {
    return Fail(host, r, app, ctx, "cannot build wsapi_env: " + PopError(L));
  }
  state.PushApp(app_index);
  lua_pushvalue(L, kEnv);
  if (lua_pcall(L, 1, 3, kHandler) != 0) {
    return Fail(host, r, app, ctx, PopError(L));
  }
  int code = 0;
  kiln_str reason{"", 0};
  std::string problem;
  if (!ParseStatus(L, &code, &reason, &problem)) {
    return Fail(host, r, app, ctx, problem);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, cache.collect_headers);
  lua_pushlightuserdata(L, &ctx);
  lua_pushvalue(L, kHeaders);
  if (lua_pcall(L, 2, 2, kHandler) != 0) {
    return Fail(host, r, app, ctx, "cannot read the headers: " + PopError(L));
  }
  bool headers_ok = lua_toboolean(L, -1) != 0;
  lua_pop(L, 1);  // the anchor table stays, above kBody
  if (!headers_ok) {
    return Fail(host, r, app, ctx, ctx.problem);
  }
  // The first non-empty chunk comes before the status line, so an error up to here is a 500.
  BodySource body(L);
  Chunk first = Chunk::kEnd;
  for (;;) {
    first = body.Next(&problem);
    if (first != Chunk::kData || lua_objlen(L, -1) > 0) {
      break;
    }
    lua_pop(L, 1);
  }
  if (first == Chunk::kError) {
    return Fail(host, r, app, ctx, problem);
  }
  if (host.api->response_start(r, code, reason, cache.headers.data(), cache.headers.size()) !=
      KILN_OK) {
    if (first == Chunk::kData) {
      lua_pop(L, 1);
    }
    return Fail(
        host, r, app, ctx,
        "the host refused the status line or the headers (status " + std::to_string(code) + ")");
  }
  if (first == Chunk::kEnd) {
    CloseInput(ctx.input);
    return KILN_OK;
  }
  return Stream(L, host, r, app, ctx, body);
}

}  // namespace

void RegisterWsapiCall(lua_State* L, CallCache* cache) {
  auto ref = [L](int* slot) { *slot = luaL_ref(L, LUA_REGISTRYINDEX); };
  lua_pushcfunction(L, MessageHandler);
  ref(&cache->handler);
  lua_pushcfunction(L, BuildEnv);
  ref(&cache->build_env);
  lua_pushcfunction(L, CollectHeaders);
  ref(&cache->collect_headers);
  lua_createtable(L, 16, 0);
  ref(&cache->anchor);
  lua_createtable(L, 32, 0);
  ref(&cache->var_strings);
  if (luaL_loadbuffer(L, kFillEnv, sizeof(kFillEnv) - 1, "=kiln.wsapi_env") != 0) {
    lua_error(L);
  }
  ref(&cache->fill_env);
  lua_pushliteral(L, "APP_PATH");
  ref(&cache->key_app_path);
  lua_pushliteral(L, "input");
  ref(&cache->key_input);
  lua_pushliteral(L, "error");
  ref(&cache->key_error);
}

kiln_status ServeWsapi(LuaState& state, const Host& host, kiln_request* r, const AppSpec& app,
                       size_t app_index) {
  lua_State* L = state.L();
  lua_settop(L, 0);
  CallCache& cache = state.cache();
  cache.vars.clear();  // capacity stays: no allocation once the state has seen a request
  cache.headers.clear();
  cache.numbers_used = 0;
  kiln_status st = Serve(L, state, host, r, app, app_index);
  ReleaseAnchor(L, cache);
  return st;
}

}  // namespace kiln::lua
