// The python plugin's entry point: its option table, the callbacks that walk the embedded
// interpreter through kiln's lifecycle, and the descriptor (last). Runtime work is in
// py_runtime.cc (interpreter, apps) and wsgi_call.cc (requests).
#include <initializer_list>
#include <string>

#include "py_runtime.h"
#include "wsgi_call.h"

namespace kiln::python {
namespace {

#define KILN_PY_STR2(x) #x
#define KILN_PY_STR(x) KILN_PY_STR2(x)

// One row per name: an alias is a row of its own (the SDK has no alias column) and the reader
// takes the first name that is set.
const kiln_option_spec kOptions[] = {
    {"module", KILN_OPT_STRING, "", "Load the WSGI app from this module: `pkg.mod[:callable]` "
     "(`pkg.mod:factory()` calls a factory).", 0},
    {"wsgi", KILN_OPT_STRING, "", "Same as `module`.", 0},
    {"wsgi-file", KILN_OPT_STRING, "", "Load the WSGI app from this Python file.", 0},
    {"file", KILN_OPT_STRING, "", "Same as `wsgi-file`.", 0},
    {"callable", KILN_OPT_STRING, "application", "Name of the WSGI callable in the module or "
     "file.", 0},
    {"pythonpath", KILN_OPT_LIST, "", "Add this directory to sys.path (repeatable).", 0},
    {"python-path", KILN_OPT_LIST, "", "Same as `pythonpath`.", 0},
    {"pp", KILN_OPT_LIST, "", "Same as `pythonpath`.", 0},
    {"home", KILN_OPT_STRING, "", "Python home or virtualenv directory of the apps.", 0},
    {"virtualenv", KILN_OPT_STRING, "", "Same as `home`.", 0},
    {"venv", KILN_OPT_STRING, "", "Same as `home`.", 0},
    {"pyhome", KILN_OPT_STRING, "", "Same as `home`.", 0},
    {"py-programname", KILN_OPT_STRING, "", "Program name given to the interpreter (it finds "
     "its prefix from it).", 0},
    {"single-interpreter", KILN_OPT_FLAG, "false", "Run every app in the main interpreter; "
     "without it each `mount` app gets a sub-interpreter of its own, as in uWSGI.", 0},
    {"enable-threads", KILN_OPT_FLAG, "true", "Accepted for uWSGI files: Python threads are "
     "always enabled.", 0},
    {"py-autoreload", KILN_OPT_NUMBER, "0", "Check the apps' module files every N seconds and "
     "reload the server when one changes (0 disables).", 0},
    {"python-autoreload", KILN_OPT_NUMBER, "0", "Same as `py-autoreload`.", 0},
    {"wsgi-disable-file-wrapper", KILN_OPT_FLAG, "false", "Do not offer wsgi.file_wrapper.", 0},
    {"py-gc-freeze", KILN_OPT_FLAG, "true", "kiln: after loading the apps in the master, "
     "move every object into Python's permanent GC generation (gc.freeze()), so workers keep "
     "sharing those pages with the master instead of copying them at their first full "
     "collection. Only when workers are forked from the process that loaded the apps (not "
     "with lazy-apps, nor with one process and no master).", 0},
};

const char* const kAliases[] = {"python3", "python3*"};
const uint8_t kModifiers[] = {0, 30};

kiln_str Name(const char* s) { return kiln_str_c(s); }

std::string FirstString(std::initializer_list<const char*> names) {
  const Host& h = TheHost();
  for (const char* n : names) {
    kiln_str v{};
    if (h.api->option_get(h.self, Name(n), &v) == KILN_OK && v.len > 0) {
      return std::string(v.ptr, v.len);
    }
  }
  return "";
}

std::vector<std::string> AllValues(std::initializer_list<const char*> names) {
  const Host& h = TheHost();
  std::vector<std::string> out;
  for (const char* n : names) {
    size_t count = h.api->option_count(h.self, Name(n));
    for (size_t i = 0; i < count; ++i) {
      kiln_str v{};
      if (h.api->option_get_at(h.self, Name(n), i, &v) == KILN_OK && v.len > 0) {
        out.emplace_back(v.ptr, v.len);
      }
    }
  }
  return out;
}

bool Flag(const char* name, bool fallback) {
  const Host& h = TheHost();
  int v = 0;
  return h.api->option_flag(h.self, Name(name), &v) == KILN_OK ? v != 0 : fallback;
}

int64_t Number(std::initializer_list<const char*> names) {
  const Host& h = TheHost();
  for (const char* n : names) {
    int64_t v = 0;
    if (h.api->option_number(h.self, Name(n), &v) == KILN_OK && v != 0) return v;
  }
  return 0;
}

kiln_status Fail(const std::string& message) {
  SetError(message);
  return KILN_ERROR;
}

kiln_status OnConfigDone(void*) {
  Settings& s = TheSettings();
  s.module = FirstString({"module", "wsgi"});
  s.wsgi_file = FirstString({"wsgi-file", "file"});
  s.callable = FirstString({"callable"});
  if (s.callable.empty()) s.callable = "application";
  s.pythonpath = AllValues({"pythonpath", "python-path", "pp"});
  s.home = FirstString({"home", "virtualenv", "venv", "pyhome"});
  s.programname = FirstString({"py-programname"});
  s.single_interpreter = Flag("single-interpreter", false);
  s.need_app = Flag("need-app", true);
  s.file_wrapper = !Flag("wsgi-disable-file-wrapper", false);
  s.autoreload_seconds = Number({"py-autoreload", "python-autoreload"});
  s.gc_freeze = Flag("py-gc-freeze", true);
  s.mounts.clear();  // filled by on_mount_app, which the host calls after this
  if (!s.module.empty() && !s.wsgi_file.empty()) {
    Log(KILN_LOG_WARNING, "both `module` and `wsgi-file` are set; `module` (" + s.module +
                              ") is the default app");
  }
  return KILN_OK;
}

// `mount = /prefix=target`, offered by the host (which checked the mount point and routes):
// ours when the target looks like Python (module:callable, *.py, *.wsgi, a dotted module),
// another plugin's otherwise (app.lua). The handle names the mount's app.
kiln_status OnMountApp(void*, kiln_str mountpoint, kiln_str target, void** app) {
  std::string_view mp(mountpoint.ptr, mountpoint.len);
  std::string_view tg(target.ptr, target.len);
  if (!IsPythonMountTarget(tg)) return KILN_DECLINED;
  Settings& s = TheSettings();
  if (mp == "/" && (!s.module.empty() || !s.wsgi_file.empty())) {
    return Fail("the root mount `/=" + std::string(tg) + "` and `" +
                (s.module.empty() ? "wsgi-file = " + s.wsgi_file : "module = " + s.module) +
                "` are both the default Python app; keep one");
  }
  *app = MountHandle(s.mounts.size());
  s.mounts.push_back({mp == "/" ? "" : std::string(mp), std::string(tg)});
  return KILN_OK;
}

kiln_status StartInterpreter() {
  Settings& s = TheSettings();
  const kiln_host_api* api = TheHost().api;
  s.multithread = api->thread_count() > 1;
  s.multiprocess = api->worker_count() > 1;
  std::string error;
  if (!EnsureInterpreter(&error)) return Fail(error);
  return KILN_OK;
}

kiln_status OnMasterStart(void*) { return StartInterpreter(); }

kiln_status OnAppLoad(void*) {
  if (!InterpreterReady() && StartInterpreter() != KILN_OK) return KILN_ERROR;
  AfterForkIfNeeded();
  std::string error;
  if (!LoadApps(&error)) return Fail(error);
  // Only where workers will be forked from this process: without a master and with one
  // process nothing shares the heap, and freezing would only keep garbage.
  if (!Flag("lazy-apps", false) &&
      (Flag("master", false) || TheHost().api->worker_count() > 1)) {
    FreezeHeapBeforeFork();
  }
  return KILN_OK;
}

kiln_status OnPostfork(void*, int worker_id) {
  if (!InterpreterReady()) return KILN_OK;
  AfterForkIfNeeded();
  std::string error;
  if (!LoadPendingApps(&error)) return Fail(error);
  RunPostForkHooks(worker_id);
  ReleaseGilForServing();
  return KILN_OK;
}

kiln_status OnAppRequest(void*, kiln_request* r, void* app) { return ServeRequest(r, app); }

void OnWorkerExit(void*) { RunExitHooks(); }

kiln_status Init(const kiln_host_api* host, kiln_plugin* self, kiln_callbacks* cb) {
  TheHost().api = host;
  TheHost().self = self;
  cb->on_config_done = OnConfigDone;
  cb->on_master_start = OnMasterStart;
  cb->on_app_load = OnAppLoad;
  cb->on_postfork = OnPostfork;
  cb->on_app_request = OnAppRequest;
  cb->on_worker_exit = OnWorkerExit;
  cb->on_mount_app = OnMountApp;
  return KILN_OK;
}

const kiln_plugin_desc kDescriptor = {
    KILN_DESC_INIT,
    .flags = KILN_PLUGIN_GLOBAL_SYMBOLS,
    .kinds = KILN_KIND_HANDLER,
    .name = "python",
    .version = "0.1.0",
    .runtime = "python " PY_VERSION,
    .versioned_name = "python" KILN_PY_STR(PY_MAJOR_VERSION) KILN_PY_STR(PY_MINOR_VERSION),
    .aliases = kAliases,
    .alias_count = KILN_COUNT(kAliases),
    .modifier1 = kModifiers,
    .modifier1_count = KILN_COUNT(kModifiers),
    .options = kOptions,
    .option_count = KILN_COUNT(kOptions),
    .logger_schemes = nullptr,
    .logger_scheme_count = 0,
    .init = Init,
};

}  // namespace
}  // namespace kiln::python

extern "C" KILN_EXPORT const kiln_plugin_desc* kiln_plugin_query_v1(void) {
  return &kiln::python::kDescriptor;
}
