// The python plugin's entry point: its option table, the callbacks that walk the embedded
// interpreter through kiln's lifecycle, and the descriptor (last). Runtime work is in
// py_runtime.cc (interpreter, apps) and wsgi_call.cc (requests).
#include <string>

#include "asgi.h"
#include "py_runtime.h"
#include "user_locks.h"
#include "wsgi_call.h"

namespace kiln::python {
namespace {

#define KILN_PY_STR2(x) #x
#define KILN_PY_STR(x) KILN_PY_STR2(x)

// The options as the host writes them before on_config_done (the table below says where).
// Plain C types, as the SDK requires: OnConfigDone copies them into Settings.
struct Options {
  kiln_str module;
  kiln_str wsgi_file;
  kiln_str callable;
  kiln_str paste;
  int paste_logger;
  kiln_str asgi;
  kiln_str asgi_loop;
  kiln_str asgi_loop_thread;
  kiln_str lifespan;
  kiln_str_list pythonpath;
  kiln_str home;
  kiln_str programname;
  int single_interpreter;
  int disable_file_wrapper;
  int gc_freeze;
  int64_t autoreload_seconds;
  kiln_str pyargv;
  kiln_str_list module_aliases;
  kiln_str_list imports;  // import
  int no_site;            // no-site
  // Core's options this plugin follows (extern rows).
  int need_app;
  int lazy_apps;
  int master;
  int reload_on_exception;
  int64_t locks;
};
Options g_options;

#define KILN_PY_FIELD(member) KILN_FIELD(Options, member)
#define KILN_PY_CORE(name, kind, member) \
  {name, kind, nullptr, nullptr, KILN_OPTF_EXTERN, nullptr, KILN_PY_FIELD(member)}

const kiln_option_def kOptions[] = {
    {"module", KILN_OPT_STRING, "", "Load the WSGI app from this module: `pkg.mod[:callable]` "
     "(`pkg.mod:factory()` calls a factory).", 0, "wsgi", KILN_PY_FIELD(module)},
    {"wsgi-file", KILN_OPT_STRING, "", "Load the WSGI app from this Python file.", 0, "file",
     KILN_PY_FIELD(wsgi_file)},
    {"callable", KILN_OPT_STRING, "application", "Name of the WSGI callable in the module or "
     "file.", 0, nullptr, KILN_PY_FIELD(callable)},
    {"paste", KILN_OPT_STRING, "", "Load the WSGI app from a PasteDeploy file: "
     "`config:/path/app.ini` (a bare path means `config:PATH`; a relative one is relative to "
     "the working directory), with paste.deploy.loadapp, as uWSGI does. Needs PasteDeploy "
     "(Debian: python3-pastedeploy).", 0, nullptr, KILN_PY_FIELD(paste)},
    {"paste-logger", KILN_OPT_FLAG, "false", "Before loading the `paste` app, configure "
     "Python's logging from the same file's [loggers]/[handlers]/[formatters] sections "
     "(logging.config.fileConfig).", 0, nullptr, KILN_PY_FIELD(paste_logger)},
    // ASGI 3 apps, on one event loop per worker (asgi.cc, docs/python.md "ASGI").
    {"asgi", KILN_OPT_STRING, "", "Load an ASGI 3 app from this module: `pkg.mod[:callable]` "
     "(callable `app` by default); each worker serves it from one event loop. Beside WSGI "
     "apps: `mount = /prefix=asgi:pkg.mod:app`.", 0, nullptr, KILN_PY_FIELD(asgi)},
    {"asgi-loop", KILN_OPT_STRING, "auto", "Event loop of the ASGI apps: `uvloop`, `asyncio`, "
     "or `auto` (uvloop when it can be imported).", 0, nullptr, KILN_PY_FIELD(asgi_loop)},
    {"asgi-loop-thread", KILN_OPT_STRING, "auto", "Where each worker's ASGI event loop runs: "
     "`serving` (it runs the worker's first serving thread: cheapest for ASGI requests), "
     "`own` (a thread of its own, fed by the serving threads: WSGI requests never wait on "
     "the loop), or `auto` (`own` when the worker also serves WSGI apps, else `serving`).",
     0, nullptr, KILN_PY_FIELD(asgi_loop_thread)},
    {"lifespan", KILN_OPT_STRING, "auto", "ASGI lifespan protocol: `on` (a failure stops the "
     "worker), `off`, or `auto` (used when the app supports it), as uvicorn.", 0, nullptr,
     KILN_PY_FIELD(lifespan)},
    {"pythonpath", KILN_OPT_LIST, "", "Add this directory to sys.path (repeatable).", 0,
     "python-path|pp", KILN_PY_FIELD(pythonpath)},
    {"home", KILN_OPT_STRING, "", "Python home or virtualenv directory of the apps.", 0,
     "virtualenv|venv|pyhome", KILN_PY_FIELD(home)},
    {"py-programname", KILN_OPT_STRING, "", "Program name given to the interpreter (it finds "
     "its prefix from it).", 0, nullptr, KILN_PY_FIELD(programname)},
    {"single-interpreter", KILN_OPT_FLAG, "false", "Run every app in the main interpreter; "
     "without it each `mount` app gets a sub-interpreter of its own, as in uWSGI.", 0, nullptr,
     KILN_PY_FIELD(single_interpreter)},
    {"enable-threads", KILN_OPT_FLAG, "true", "Accepted for uWSGI files: Python threads are "
     "always enabled.", 0, nullptr, KILN_NO_FIELD},
    {"py-autoreload", KILN_OPT_NUMBER, "0", "Check the apps' module files every N seconds and "
     "reload the server when one changes (0 disables).", 0, "python-autoreload",
     KILN_PY_FIELD(autoreload_seconds)},
    {"wsgi-disable-file-wrapper", KILN_OPT_FLAG, "false", "Do not offer wsgi.file_wrapper.", 0,
     nullptr, KILN_PY_FIELD(disable_file_wrapper)},
    {"py-gc-freeze", KILN_OPT_FLAG, "true", "kiln: after loading the apps in the master, "
     "move every object into Python's permanent GC generation (gc.freeze()), so workers keep "
     "sharing those pages with the master instead of copying them at their first full "
     "collection. Only when workers are forked from the process that loaded the apps (not "
     "with lazy-apps, nor with one process and no master).", 0, nullptr,
     KILN_PY_FIELD(gc_freeze)},
    {"pyargv", KILN_OPT_STRING, "", "Set sys.argv of the apps: ['kiln'] and these "
     "space-separated words (as uWSGI's ['uwsgi', ...]).", 0, nullptr, KILN_PY_FIELD(pyargv)},
    {"pymodule-alias", KILN_OPT_LIST, "", "Make `import NAME` give another module "
     "(`NAME=pkg.mod`) or a file (`NAME=/path/to/file.py`), before the apps load.", 0,
     nullptr, KILN_PY_FIELD(module_aliases)},
    {"import", KILN_OPT_LIST, "", "Import this module (or a .py file) in the main interpreter "
     "before the apps load; a failure is logged with its traceback and stops the start "
     "unless need-app is false.", 0, "pyimport|py-import|python-import",
     KILN_PY_FIELD(imports)},
    {"no-site", KILN_OPT_FLAG, "false", "Do not import the site module at startup (as "
     "`python -S`: no site-packages on sys.path unless pythonpath adds them).", 0, nullptr,
     KILN_PY_FIELD(no_site)},
    KILN_PY_CORE("need-app", KILN_OPT_FLAG, need_app),
    KILN_PY_CORE("reload-on-exception", KILN_OPT_FLAG, reload_on_exception),
    KILN_PY_CORE("lazy-apps", KILN_OPT_FLAG, lazy_apps),
    KILN_PY_CORE("master", KILN_OPT_FLAG, master),
    KILN_PY_CORE("locks", KILN_OPT_NUMBER, locks),
};

const char* const kAliases[] = {"python3", "python3*"};
const uint8_t kModifiers[] = {0, 30};

std::string Text(kiln_str s) { return std::string(s.ptr != nullptr ? s.ptr : "", s.len); }

kiln_status Fail(const std::string& message) {
  SetError(message);
  return KILN_ERROR;
}

kiln_status OnConfigDone(void*) {
  Settings& s = TheSettings();
  const Options& o = g_options;
  s.module = Text(o.module);
  s.wsgi_file = Text(o.wsgi_file);
  s.callable = Text(o.callable);
  s.paste = Text(o.paste);
  s.paste_logger = o.paste_logger != 0;
  s.asgi = Text(o.asgi);
  s.asgi_loop = Text(o.asgi_loop);
  s.asgi_loop_thread = Text(o.asgi_loop_thread);
  if (s.asgi_loop_thread != "auto" && s.asgi_loop_thread != "serving" &&
      s.asgi_loop_thread != "own") {
    return Fail("asgi-loop-thread = " + s.asgi_loop_thread + ": expected auto, serving or own");
  }
  s.lifespan = Text(o.lifespan);
  if (s.asgi_loop != "auto" && s.asgi_loop != "uvloop" && s.asgi_loop != "asyncio") {
    return Fail("asgi-loop = " + s.asgi_loop + ": expected auto, uvloop or asyncio");
  }
  if (s.lifespan != "auto" && s.lifespan != "on" && s.lifespan != "off") {
    return Fail("lifespan = " + s.lifespan + ": expected auto, on or off");
  }
  if (!s.asgi.empty() && (o.module.len != 0 || o.wsgi_file.len != 0 || o.paste.len != 0)) {
    return Fail("`asgi = " + s.asgi + "` and `" +
                (o.module.len != 0      ? "module = " + Text(o.module)
                 : o.wsgi_file.len != 0 ? "wsgi-file = " + Text(o.wsgi_file)
                                        : "paste = " + Text(o.paste)) +
                "` are both the default Python app; mount one of them "
                "(`mount = /prefix=asgi:module:app` for an ASGI app)");
  }
  s.pythonpath.clear();
  for (size_t i = 0; i < o.pythonpath.count; ++i) {
    s.pythonpath.push_back(Text(o.pythonpath.items[i]));
  }
  s.home = Text(o.home);
  s.programname = Text(o.programname);
  s.single_interpreter = o.single_interpreter != 0;
  s.need_app = o.need_app != 0;
  s.file_wrapper = o.disable_file_wrapper == 0;
  s.autoreload_seconds = o.autoreload_seconds;
  s.gc_freeze = o.gc_freeze != 0;
  s.pyargv = Text(o.pyargv);
  s.module_aliases.clear();
  for (size_t i = 0; i < o.module_aliases.count; ++i) {
    s.module_aliases.push_back(Text(o.module_aliases.items[i]));
  }
  s.imports.clear();
  for (size_t i = 0; i < o.imports.count; ++i) s.imports.push_back(Text(o.imports.items[i]));
  s.no_site = o.no_site != 0;
  s.reload_on_exception = o.reload_on_exception != 0;
  s.mounts.clear();  // filled by on_mount_app, which the host calls after this
  if (!s.module.empty() && !s.wsgi_file.empty()) {
    Log(KILN_LOG_WARNING, "both `module` and `wsgi-file` are set; `module` (" + s.module +
                              ") is the default app");
  }
  if (!s.paste.empty() && (!s.module.empty() || !s.wsgi_file.empty())) {
    Log(KILN_LOG_WARNING, "`paste` and `" + std::string(s.module.empty() ? "wsgi-file" : "module") +
                              "` are both set; `" +
                              (s.module.empty() ? "wsgi-file = " + s.wsgi_file
                                                : "module = " + s.module) +
                              "` is the default app");
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
  if (mp == "/" &&
      (!s.module.empty() || !s.wsgi_file.empty() || !s.paste.empty() || !s.asgi.empty())) {
    return Fail("the root mount `/=" + std::string(tg) + "` and `" +
                (!s.module.empty()      ? "module = " + s.module
                 : !s.wsgi_file.empty() ? "wsgi-file = " + s.wsgi_file
                 : !s.paste.empty()     ? "paste = " + s.paste
                                        : "asgi = " + s.asgi) +
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
  // Before any fork: every worker must inherit the same locks.
  if (!CreateUserLocks(g_options.locks, &error)) return Fail(error);
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
  if (g_options.lazy_apps == 0 &&
      (g_options.master != 0 || TheHost().api->worker_count() > 1)) {
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
  if (!AsgiStart(&error)) return Fail(error);
  ReleaseGilForServing();
  return KILN_OK;
}

kiln_status OnAppRequest(void*, kiln_request* r, void* app) { return ServeRequest(r, app); }

void OnWorkerExit(void*) {
  AsgiShutdown();
  RunExitHooks();
}

int OnSpool(void*, kiln_str path, const kiln_header* vars, size_t var_count, kiln_str body) {
  return RunSpoolTask(path, vars, var_count, body);
}

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
  cb->on_spool = OnSpool;
  cb->on_async_event = AsgiOnEvent;
  cb->on_serve_thread = AsgiServeThread;
  cb->on_serve_threads_done = AsgiServeThreadsDone;
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
    .options = nullptr,
    .option_count = 0,
    .logger_schemes = nullptr,
    .logger_scheme_count = 0,
    .init = Init,
    KILN_OPTION_DEFS(kOptions),
    KILN_SETTINGS(g_options),
};

}  // namespace
}  // namespace kiln::python

extern "C" KILN_EXPORT const kiln_plugin_desc* kiln_plugin_query_v1(void) {
  return &kiln::python::kDescriptor;
}
