// One Lua state, as each worker thread owns one: LuaJIT with the standard libraries, the
// apps' directories on package.path, the `kiln` module, the lua-load scripts run and every
// app's WSAPI function loaded. Also the plugin's view of the host (Host) and the error
// handler shared by every protected call. Knows nothing of requests.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kiln/kiln.h"
#include "lua.hpp"
#include "mounts.h"
#include "wsapi_io.h"

namespace kiln::lua {

// The host table and this plugin's handle, as init received them.
struct Host {
  const kiln_host_api* api = nullptr;
  kiln_plugin* self = nullptr;

  void Log(kiln_log_level level, std::string_view message) const;
  // Attaches `message` to the KILN_ERROR about to be returned from a callback.
  void SetError(std::string_view message) const;
};

// What every state is built from: the options, read once in the master.
struct StateConfig {
  std::vector<std::string> load_scripts;  // lua-load, in order
  std::vector<AppSpec> apps;              // lua (mount point "") and *.lua mounts
};

// What the request path (wsapi_call.cc) keeps in a state from one request to the next, so a
// hello-world request allocates no C++ memory, creates no C closure and looks nothing up by
// name: registry references of its C functions, of the keys it sets and of the table that
// anchors the header strings; the input read-ahead buffer; vectors whose capacity stays.
// Nothing here belongs to the app: every request still gets its own wsapi_env table.
struct CallCache {
  IoRefs io;
  int handler = LUA_NOREF;          // MessageHandler
  int build_env = LUA_NOREF;        // the C functions the request path calls protected
  int collect_headers = LUA_NOREF;
  int anchor = LUA_NOREF;           // array of the strings of the headers being sent
  int anchored = 0;                 // its slots in use (1..anchored), emptied after each request
  int var_strings = LUA_NOREF;      // the last request's variable names and values, in order
  int fill_env = LUA_NOREF;         // the Lua loop that copies them into wsapi_env
  int key_app_path = LUA_NOREF;     // the key strings "APP_PATH", "input" and "error"
  int key_input = LUA_NOREF;
  int key_error = LUA_NOREF;
  std::vector<std::pair<kiln_str, kiln_str>> vars;
  std::vector<std::string> var_text;  // a copy of var_strings' slots 1..var_slots_set
  int var_slots_set = 0;
  std::vector<kiln_header> headers;
  char numbers[16][24];  // the text of integer header values, this request's (numbers_used)
  size_t numbers_used = 0;
  char input_buf[kInputBufferSize];
};

class LuaState {
 public:
  // Creates a state and loads everything in `config`. On failure returns nullptr and sets
  // *error to a message naming the option, the file and, for Lua errors, the line and the
  // traceback ("option `lua`: cannot load app.lua: app.lua:3: '=' expected near 'x'").
  // `host` must outlive the state.
  static std::unique_ptr<LuaState> Create(const Host* host, const StateConfig& config,
                                          std::string* error);
  ~LuaState();
  LuaState(const LuaState&) = delete;
  LuaState& operator=(const LuaState&) = delete;

  lua_State* L() const { return L_; }
  // Pushes the WSAPI function of app `index` (an index into config.apps).
  void PushApp(size_t index) const;
  // APP_PATH of app `index`: the directory of its script.
  const std::string& AppPath(size_t index) const { return app_paths_[index]; }
  // The request path's per-state cache (filled by RegisterWsapiCall when the state is made).
  CallCache& cache() { return cache_; }

  // Counts a finished request and runs a full garbage collection when due: after every
  // request when gc_freq is 0 or 1 (as uWSGI's lua-gc-freq), else every gc_freq requests.
  // Also empties the stack.
  void AfterRequest(int64_t gc_freq);

 private:
  explicit LuaState(lua_State* L) : L_(L) {}
  bool RunScript(const std::string& file, const char* option, int results, std::string* error);

  lua_State* L_;
  CallCache cache_;
  std::vector<int> app_refs_;
  std::vector<std::string> app_paths_;
  int64_t since_gc_ = 0;
};

// The message handler of every lua_pcall the plugin makes: turns the error value into a string
// (tostring, __tostring, or "(error object is a T value)") and appends the traceback.
int MessageHandler(lua_State* L);

// The error message at the top of the stack as a string (popped).
std::string PopError(lua_State* L);

}  // namespace kiln::lua
