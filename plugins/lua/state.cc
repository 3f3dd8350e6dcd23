// A Lua state and what it holds before the first request: libraries, package.path, the `kiln`
// module, lua-load scripts and the apps. Every Lua call that can fail runs protected.
#include "state.h"

#include <set>
#include <utility>

#include "wsapi_call.h"
#include "wsapi_io.h"

extern "C" {
#include "luajit.h"
}

namespace kiln::lua {
namespace {

kiln_str Str(std::string_view s) { return kiln_str{s.data(), s.size()}; }

const Host* UpvalueHost(lua_State* L) {
  return static_cast<const Host*>(lua_touserdata(L, lua_upvalueindex(1)));
}

// kiln.log(...): the arguments, tostring'd and joined with spaces, as one notice line.
int KilnLog(lua_State* L) {
  int n = lua_gettop(L);
  luaL_Buffer b;
  lua_getglobal(L, "tostring");
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; ++i) {
    lua_pushvalue(L, n + 1);
    lua_pushvalue(L, i);
    lua_call(L, 1, 1);
    if (lua_type(L, -1) != LUA_TSTRING) {
      return luaL_error(L, "kiln.log: tostring must return a string");
    }
    if (i > 1) {
      luaL_addchar(&b, ' ');
    }
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  size_t len = 0;
  const char* msg = lua_tolstring(L, -1, &len);
  UpvalueHost(L)->Log(KILN_LOG_NOTICE, std::string_view(msg, len));
  return 0;
}

int KilnWorkerId(lua_State* L) {
  lua_pushinteger(L, UpvalueHost(L)->api->worker_id());
  return 1;
}

int KilnCoreId(lua_State* L) {
  lua_pushinteger(L, UpvalueHost(L)->api->core_id());
  return 1;
}

// The `kiln` module (also the global `uwsgi` when nothing else defines it, so apps written
// for uWSGI's lua plugin that only log keep running).
void OpenKilnModule(lua_State* L, const Host* host) {
  static const luaL_Reg kFunctions[] = {
      {"log", KilnLog}, {"worker_id", KilnWorkerId}, {"core_id", KilnCoreId}, {nullptr, nullptr}};
  lua_newtable(L);
  lua_pushlightuserdata(L, const_cast<Host*>(host));
  luaL_setfuncs(L, kFunctions, 1);
  kiln_str version = host->api->host_version;
  lua_pushlstring(L, version.ptr != nullptr ? version.ptr : "", version.len);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, LUAJIT_VERSION);
  lua_setfield(L, -2, "runtime");
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "loaded");
  lua_pushvalue(L, -3);
  lua_setfield(L, -2, "kiln");
  lua_pop(L, 2);
  lua_getglobal(L, "uwsgi");
  bool has_uwsgi = !lua_isnil(L, -1);
  lua_pop(L, 1);
  if (!has_uwsgi) {
    lua_pushvalue(L, -1);
    lua_setglobal(L, "uwsgi");
  }
  lua_setglobal(L, "kiln");
}

// Puts "<dir>/?.lua;<dir>/?/init.lua;" of every script's directory in front of package.path,
// so an app finds the modules beside it; LuaJIT's defaults (Debian's /usr/share/lua/5.1,
// where lua-wsapi lives) stay after them.
void PrependPackagePath(lua_State* L, const StateConfig& config) {
  std::set<std::string> seen;
  std::string prefix;
  auto add = [&](const std::string& file) {
    std::string dir = DirName(file);
    if (seen.insert(dir).second) {
      prefix += dir + "/?.lua;" + dir + "/?/init.lua;";
    }
  };
  for (const AppSpec& app : config.apps) {
    add(app.file);
  }
  for (const std::string& file : config.load_scripts) {
    add(file);
  }
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  const char* old = lua_tostring(L, -1);
  prefix += old != nullptr ? old : "";
  lua_pop(L, 1);
  lua_pushlstring(L, prefix.data(), prefix.size());
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
}

struct OpenArgs {
  const Host* host;
  const StateConfig* config;
  CallCache* cache;
};

// Everything of Create() that allocates Lua objects, run protected (an out-of-memory error
// becomes a message, not an abort).
int OpenProtected(lua_State* L) {
  auto* args = static_cast<OpenArgs*>(lua_touserdata(L, 1));
  lua_settop(L, 0);
  luaL_openlibs(L);
  PrependPackagePath(L, *args->config);
  OpenKilnModule(L, args->host);
  RegisterWsapiIo(L, args->host, &args->cache->io);
  RegisterWsapiCall(L, args->cache);
  return 0;
}

}  // namespace

void Host::Log(kiln_log_level level, std::string_view message) const {
  api->log_write(self, level, Str(message));
}

void Host::SetError(std::string_view message) const { api->error_set(self, Str(message)); }

int MessageHandler(lua_State* L) {
  const char* msg = lua_tostring(L, 1);
  if (msg == nullptr) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) {
      msg = lua_tostring(L, -1);
    } else {
      msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

std::string PopError(lua_State* L) {
  size_t len = 0;
  const char* msg = lua_tolstring(L, -1, &len);
  std::string out = msg != nullptr
                        ? std::string(msg, len)
                        : std::string("(error object is a ") + luaL_typename(L, -1) + " value)";
  lua_pop(L, 1);
  return out;
}

std::unique_ptr<LuaState> LuaState::Create(const Host* host, const StateConfig& config,
                                           std::string* error) {
  lua_State* L = luaL_newstate();
  if (L == nullptr) {
    *error = "cannot create a Lua state (LuaJIT could not allocate its memory)";
    return nullptr;
  }
  std::unique_ptr<LuaState> state(new LuaState(L));
  OpenArgs args{host, &config, &state->cache_};
  lua_pushcfunction(L, OpenProtected);
  lua_pushlightuserdata(L, &args);
  if (lua_pcall(L, 1, 0, 0) != 0) {
    *error = "cannot set up a Lua state: " + PopError(L);
    return nullptr;
  }
  for (const std::string& file : config.load_scripts) {
    if (!state->RunScript(file, "lua-load", 0, error)) {
      return nullptr;
    }
  }
  for (const AppSpec& app : config.apps) {
    const std::string& label = app.option;
    if (!state->RunScript(app.file, label.c_str(), 1, error)) {
      return nullptr;
    }
    if (lua_istable(L, -1)) {
      lua_getfield(L, -1, "run");
      lua_remove(L, -2);
      if (!lua_isfunction(L, -1)) {
        *error = "option `" + label + "`: " + app.file +
                 " returned a table without a `run` function; a WSAPI app file returns the app "
                 "function or a table with `run`";
        return nullptr;
      }
    } else if (!lua_isfunction(L, -1)) {
      *error = "option `" + label + "`: " + app.file + " returned " +
               (lua_isnil(L, -1) ? std::string("nothing")
                                 : std::string("a ") + luaL_typename(L, -1) + " value") +
               "; a WSAPI app file must end with `return app` (the app function, or a table "
               "with a `run` function)";
      return nullptr;
    }
    state->app_refs_.push_back(luaL_ref(L, LUA_REGISTRYINDEX));
    state->app_paths_.push_back(DirName(app.file));
  }
  lua_settop(L, 0);
  return state;
}

LuaState::~LuaState() { lua_close(L_); }

bool LuaState::RunScript(const std::string& file, const char* option, int results,
                         std::string* error) {
  lua_pushcfunction(L_, MessageHandler);
  int handler = lua_gettop(L_);
  int status = luaL_loadfile(L_, file.c_str());
  if (status == 0) {
    status = lua_pcall(L_, 0, results, handler);
  }
  if (status == LUA_ERRFILE) {
    // LuaJIT's text already names the file and the reason ("cannot open x.lua: No such ...").
    *error = std::string("option `") + option + "`: " + PopError(L_) +
             " (a relative path is read from the working directory, after `chdir`)";
    lua_settop(L_, handler - 1);
    return false;
  }
  if (status != 0) {
    *error = std::string("option `") + option + "`: cannot load " + file + ": " + PopError(L_);
    lua_settop(L_, handler - 1);
    return false;
  }
  lua_remove(L_, handler);
  return true;
}

void LuaState::PushApp(size_t index) const { lua_rawgeti(L_, LUA_REGISTRYINDEX, app_refs_[index]); }

void LuaState::AfterRequest(int64_t gc_freq) {
  lua_settop(L_, 0);
  if (gc_freq <= 1 || ++since_gc_ >= gc_freq) {
    lua_gc(L_, LUA_GCCOLLECT, 0);
    since_gc_ = 0;
  }
}

}  // namespace kiln::lua
