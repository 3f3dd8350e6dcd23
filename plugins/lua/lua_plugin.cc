// The lua plugin's entry point, all the loader sees: the option table, the lifecycle callbacks
// and the descriptor (name `lua`, modifier1 6). WSAPI apps run on LuaJIT with one state per
// worker thread, created after fork; the master loads the apps once beforehand only to check
// them, so a broken script fails startup with its file and line.
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/kiln.h"
#include "mounts.h"
#include "state.h"
#include "wsapi_call.h"

extern "C" {
#include "luajit.h"
}

namespace kiln::lua {
namespace {

// The plugin's own options, written by the host before on_config_done (kOptions says where).
struct Options {
  kiln_str app;          // lua
  kiln_str_list load;    // lua-load
  int64_t gc_freq;       // lua-gc-freq
};
Options g_options;

struct Plugin {
  Host host;
  StateConfig config;
  int64_t gc_freq = 0;
  // One slot per request thread (core id); each slot is only touched by its thread once
  // requests flow, and the vector is sized before any request thread starts.
  std::vector<std::unique_ptr<LuaState>> states;
  pid_t master_pid = 0;  // where the configuration was read
};

std::string Text(kiln_str s) { return std::string(s.ptr != nullptr ? s.ptr : "", s.len); }

bool AddApp(StateConfig& config, AppSpec app, std::string* error) {
  for (const AppSpec& other : config.apps) {
    if (other.mountpoint == app.mountpoint) {
      *error = "option `" + app.option + "`: " + app.file + " and " + other.file +
               " are both mounted at " + (app.mountpoint.empty() ? "/" : app.mountpoint) +
               "; give each Lua app its own mount point";
      return false;
    }
  }
  config.apps.push_back(std::move(app));
  return true;
}

bool ReadOptions(Plugin& p, std::string* error) {
  const Options& o = g_options;
  p.config = StateConfig{};
  if (o.app.len > 0) {
    p.config.apps.push_back(AppSpec{"", Text(o.app), "lua"});  // the mounts come later
  }
  for (size_t i = 0; i < o.load.count; ++i) {
    if (o.load.items[i].len > 0) p.config.load_scripts.push_back(Text(o.load.items[i]));
  }
  if (o.gc_freq < 0) {
    *error = "option `lua-gc-freq` = " + std::to_string(o.gc_freq) +
             ": expected 0 (a full collection after every request) or a number of requests";
    return false;
  }
  p.gc_freq = o.gc_freq;
  return true;
}

kiln_status Failed(const Plugin& p, const std::string& message) {
  p.host.SetError(message);
  return KILN_ERROR;
}

kiln_status OnConfigDone(void* ctx) {
  auto& p = *static_cast<Plugin*>(ctx);
  std::string error;
  if (!ReadOptions(p, &error)) {
    return Failed(p, error);
  }
  p.master_pid = getpid();
  int threads = p.host.api->thread_count();
  p.states.clear();
  p.states.resize(threads > 0 ? static_cast<size_t>(threads) : 1);
  return KILN_OK;
}

// Creates the state of every request thread (in a worker).
kiln_status CreateStates(Plugin& p) {
  for (auto& slot : p.states) {
    if (slot != nullptr) {
      continue;
    }
    std::string error;
    slot = LuaState::Create(&p.host, p.config, &error);
    if (slot == nullptr) {
      return Failed(p, error);
    }
  }
  return KILN_OK;
}

kiln_status OnAppLoad(void* ctx) {
  auto& p = *static_cast<Plugin*>(ctx);
  if (getpid() != p.master_pid) {
    return CreateStates(p);  // lazy-apps: in a worker, its own states, now
  }
  if (p.config.apps.empty()) {  // kiln offered the mounts after on_config_done
    p.host.Log(KILN_LOG_WARNING,
               "no Lua app configured (set `lua = app.lua` or `mount = /path=app.lua`); its "
               "requests get 404");
  }
  // In the master: load everything once in a throwaway state, so a broken script stops
  // startup here; workers build their own states after fork (none is shared across fork).
  std::string error;
  std::unique_ptr<LuaState> probe = LuaState::Create(&p.host, p.config, &error);
  if (probe == nullptr) {
    return Failed(p, error);
  }
  for (const AppSpec& app : p.config.apps) {
    p.host.Log(KILN_LOG_INFO, "Lua app " + app.file + " ready at " +
                                  (app.mountpoint.empty() ? "/" : app.mountpoint) + " (" +
                                  LUAJIT_VERSION + ")");
  }
  return KILN_OK;
}

kiln_status OnPostfork(void* ctx, int worker_id) {
  return CreateStates(*static_cast<Plugin*>(ctx));
}

// The calling thread's state, created on first use if the worker did not make it yet.
LuaState* StateForThread(Plugin& p, std::string* error) {
  int core = p.host.api->core_id();
  if (core < 0 || static_cast<size_t>(core) >= p.states.size()) {
    *error = "no Lua state for request thread " + std::to_string(core) +
             " (threads = " + std::to_string(p.states.size()) + ")";
    return nullptr;
  }
  std::unique_ptr<LuaState>& slot = p.states[static_cast<size_t>(core)];
  if (slot == nullptr) {
    slot = LuaState::Create(&p.host, p.config, error);
  }
  return slot.get();
}

// kiln offers each `mount` entry (its mount point checked); claim those whose target is a Lua
// file. The handle names the app; kiln routes and hands it back with each request.
kiln_status OnMountApp(void* ctx, kiln_str mountpoint, kiln_str target, void** app) {
  Plugin& p = *static_cast<Plugin*>(ctx);
  std::string point = Text(mountpoint);
  std::string file = Text(target);
  if (!IsLuaTarget(file)) {
    return KILN_DECLINED;
  }
  std::string error;
  if (!AddApp(p.config, AppSpec{point == "/" ? "" : point, file, "mount"}, &error)) {
    return Failed(p, error);
  }
  *app = AppHandle(p.config.apps.size() - 1);
  return KILN_OK;
}

kiln_status OnAppRequest(void* ctx, kiln_request* r, void* handle) {
  auto& p = *static_cast<Plugin*>(ctx);
  std::optional<size_t> app = AppForHandle(p.config.apps, handle);
  if (!app) {
    return KILN_DECLINED;  // no default app: kiln answers 404
  }
  std::string error;
  LuaState* state = StateForThread(p, &error);
  if (state == nullptr) {
    return Failed(p, error);
  }
  return ServeWsapi(*state, p.host, r, p.config.apps[*app], *app);
}

void OnAfterRequest(void* ctx, kiln_request* r) {
  auto& p = *static_cast<Plugin*>(ctx);
  int core = p.host.api->core_id();
  if (core >= 0 && static_cast<size_t>(core) < p.states.size() &&
      p.states[static_cast<size_t>(core)] != nullptr) {
    p.states[static_cast<size_t>(core)]->AfterRequest(p.gc_freq);
  }
}

// Closing the states runs the apps' __gc finalizers before the worker exits.
void OnWorkerExit(void* ctx) {
  for (auto& slot : static_cast<Plugin*>(ctx)->states) {
    slot.reset();
  }
}

// The one instance; init replaces it (the host calls init once per process).
std::unique_ptr<Plugin> g_plugin;

kiln_status Init(const kiln_host_api* host, kiln_plugin* self, kiln_callbacks* cb) {
  g_plugin = std::make_unique<Plugin>();
  g_plugin->host = Host{host, self};
  cb->ctx = g_plugin.get();
  cb->on_config_done = OnConfigDone;
  cb->on_app_load = OnAppLoad;
  cb->on_postfork = OnPostfork;
  cb->on_app_request = OnAppRequest;
  cb->on_mount_app = OnMountApp;
  cb->on_after_request = OnAfterRequest;
  cb->on_worker_exit = OnWorkerExit;
  return KILN_OK;
}

const kiln_option_def kOptions[] = {
    {"lua", KILN_OPT_STRING, "",
     "The WSAPI app served at the root: a Lua file that returns the app function (or a table "
     "with `run`).",
     0, nullptr, KILN_FIELD(Options, app)},
    {"lua-load", KILN_OPT_LIST, "",
     "A Lua file run in every Lua state at startup, before the apps (repeatable).", 0, nullptr,
     KILN_FIELD(Options, load)},
    {"lua-gc-freq", KILN_OPT_NUMBER, "100",
     "Run a full Lua garbage collection every N requests (LuaJIT's incremental collector runs "
     "in between); 0 or 1 collect after every request, uWSGI's default.",
     0, nullptr, KILN_FIELD(Options, gc_freq)},
};
const char* const kAliases[] = {"luajit", "lua51", "lua5*"};
const uint8_t kModifiers[] = {6};

const kiln_plugin_desc kDescriptor = {
    KILN_DESC_INIT,
    // Lua C modules (lfs.so, socket/core.so, ...) are built without a link to the Lua
    // library: they need LuaJIT's lua_* symbols to be global, as in a stand-alone luajit.
    .flags = KILN_PLUGIN_GLOBAL_SYMBOLS,
    .kinds = KILN_KIND_HANDLER,
    .name = "lua",
    .version = "0.1.0",
    .runtime = LUAJIT_VERSION,
    .versioned_name = nullptr,
    .aliases = kAliases,
    .alias_count = KILN_COUNT(kAliases),
    .modifier1 = kModifiers,
    .modifier1_count = KILN_COUNT(kModifiers),
    .options = nullptr,
    .option_count = 0,
    .logger_schemes = nullptr,
    .logger_scheme_count = 0,
    .init = Init,
    KILN_OPTION_DEFS(kOptions),
    KILN_SETTINGS(g_options),
};

}  // namespace
}  // namespace kiln::lua

extern "C" KILN_EXPORT const kiln_plugin_desc* kiln_plugin_query_v1(void) {
  return &kiln::lua::kDescriptor;
}
