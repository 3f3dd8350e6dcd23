// The embedded interpreter's lifecycle and the apps it holds: start (home, program name,
// pythonpath), the `_kiln` builtin module, app loading with tracebacks (mounts in sub-interpreters
// made after fork), fork repair, the GIL hand-over to request threads, and the app behind each
// handle kiln routes a request with.
// Request handling is wsgi_call.cc; interpreter switching interpreters.cc.
#include "py_runtime.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "bootstrap_py.h"
#include "user_locks.h"
#include "wsgi_call.h"

namespace kiln::python {
namespace {

struct Runtime {
  bool ready = false;
  bool gil_released = false;
  bool forked = false;  // this process is a child of the one that started Python
  bool frozen = false;  // FreezeHeapBeforeFork ran
  pid_t pid = 0;
  PyThreadState* main_tstate = nullptr;
};

Runtime& Rt() {
  static Runtime* rt = new Runtime;  // never destroyed: request threads may outlive exit
  return *rt;
}

kiln_str Str(std::string_view s) { return kiln_str{s.data(), s.size()}; }

// ---- the _kiln builtin module (the C half of `kiln`) ----

PyObject* KLog(PyObject*, PyObject* args) {
  int level = KILN_LOG_INFO;
  const char* text = nullptr;
  Py_ssize_t len = 0;
  if (!PyArg_ParseTuple(args, "is#:log", &level, &text, &len)) return nullptr;
  if (level < KILN_LOG_DEBUG || level > KILN_LOG_ERROR) level = KILN_LOG_INFO;
  Log(static_cast<kiln_log_level>(level), std::string_view(text, static_cast<size_t>(len)));
  Py_RETURN_NONE;
}

PyObject* KWorkerId(PyObject*, PyObject*) { return PyLong_FromLong(TheHost().api->worker_id()); }
PyObject* KWorkerCount(PyObject*, PyObject*) {
  return PyLong_FromLong(TheHost().api->worker_count());
}
PyObject* KThreadCount(PyObject*, PyObject*) {
  return PyLong_FromLong(TheHost().api->thread_count());
}
PyObject* KMasterPid(PyObject*, PyObject*) {
  return PyLong_FromLong(TheHost().api->worker_id() == 0 ? getpid() : getppid());
}

PyObject* KReload(PyObject*, PyObject*) {
  kiln_status st = TheHost().api->server_reload(TheHost().self);
  return PyBool_FromLong(st == KILN_OK);
}

// Whether a configuration entry is a flag given bare. The host reports `--master` and
// `master = true` alike as "true", so both count as bare for an option of kind flag.
bool IsBareFlag(const Host& h, kiln_str key, kiln_str value) {
  int unused = 0;
  return std::string_view(value.ptr, value.len) == "true" &&
         h.api->option_flag(h.self, key, &unused) != KILN_ERROR;
}

// [(key: str, value: bytes | True)] for every configuration entry, in order (uwsgi.opt).
PyObject* KConfigEntries(PyObject*, PyObject*) {
  const Host& h = TheHost();
  size_t n = h.api->config_entry_count(h.self);
  PyObject* list = PyList_New(0);
  if (list == nullptr) return nullptr;
  for (size_t i = 0; i < n; ++i) {
    kiln_str key{}, value{};
    if (h.api->config_entry_get(h.self, i, &key, &value) != KILN_OK) continue;
    PyObject* name = PyUnicode_DecodeLatin1(key.ptr, key.len, nullptr);
    PyObject* item = IsBareFlag(h, key, value)
                         ? Py_BuildValue("(NO)", name, Py_True)
                         : Py_BuildValue("(Ny#)", name, value.ptr,
                                         static_cast<Py_ssize_t>(value.len));
    if (item == nullptr || PyList_Append(list, item) != 0) {
      Py_XDECREF(item);
      Py_DECREF(list);
      return nullptr;
    }
    Py_DECREF(item);
  }
  return list;
}

// uwsgi.lock(n=0) / unlock(n=0) / is_locked(n=0): the user locks (user_locks.h). The GIL is
// released while waiting for a lock, so other threads of the worker go on.
PyObject* LockError(int n, int rc, const char* what) {
  if (rc == EINVAL) {
    return PyErr_Format(PyExc_ValueError,
                        "Invalid lock number %d: locks are 0..%d (set `locks = N` for more)", n,
                        UserLockCount() - 1);
  }
  if (rc == EDEADLK) {
    return PyErr_Format(PyExc_RuntimeError,
                        "uwsgi.lock(%d): this thread holds the lock already", n);
  }
  if (rc == EPERM) {
    return PyErr_Format(PyExc_RuntimeError, "uwsgi.unlock(%d): this thread does not hold the lock",
                        n);
  }
  return PyErr_Format(PyExc_OSError, "%s(%d): %s", what, n, std::strerror(rc));
}

PyObject* KLock(PyObject*, PyObject* args) {
  int n = 0;
  if (!PyArg_ParseTuple(args, "|i:lock", &n)) return nullptr;
  bool owner_died = false;
  int rc;
  Py_BEGIN_ALLOW_THREADS rc = LockUser(n, &owner_died);
  Py_END_ALLOW_THREADS
  if (rc != 0) return LockError(n, rc, "uwsgi.lock");
  if (owner_died) {
    Log(KILN_LOG_WARNING, "uwsgi.lock(" + std::to_string(n) +
                              "): the process that held the lock died holding it; the lock "
                              "is taken over (what it protects may be half-updated)");
  }
  Py_RETURN_NONE;
}

PyObject* KUnlock(PyObject*, PyObject* args) {
  int n = 0;
  if (!PyArg_ParseTuple(args, "|i:unlock", &n)) return nullptr;
  int rc = UnlockUser(n);
  if (rc != 0) return LockError(n, rc, "uwsgi.unlock");
  Py_RETURN_NONE;
}

PyObject* KIsLocked(PyObject*, PyObject* args) {
  int n = 0;
  if (!PyArg_ParseTuple(args, "|i:is_locked", &n)) return nullptr;
  int held = UserLockHeld(n);
  if (held < 0) return LockError(n, -held, "uwsgi.is_locked");
  return PyBool_FromLong(held);
}

PyMethodDef kKilnMethods[] = {
    {"log", KLog, METH_VARARGS, "log(level, message): one message to the server log."},
    {"worker_id", KWorkerId, METH_NOARGS, "This process's worker id (0 in the master)."},
    {"worker_count", KWorkerCount, METH_NOARGS, "The configured number of workers."},
    {"thread_count", KThreadCount, METH_NOARGS, "The configured threads per worker."},
    {"master_pid", KMasterPid, METH_NOARGS, "The master's pid."},
    {"reload", KReload, METH_NOARGS, "Ask the master for a graceful reload."},
    {"config_entries", KConfigEntries, METH_NOARGS, "The configuration as (key, bytes) pairs."},
    {"lock", KLock, METH_VARARGS, "lock(n=0): take user lock n (shared by every worker)."},
    {"unlock", KUnlock, METH_VARARGS, "unlock(n=0): release user lock n."},
    {"is_locked", KIsLocked, METH_VARARGS, "is_locked(n=0): whether user lock n is held."},
    {"spool", KSpool, METH_VARARGS, "spool(pairs, body): write a spooler task; its path."},
    {nullptr, nullptr, 0, nullptr}};

int ExecKilnModule(PyObject* m) {
  const kiln_host_api* api = TheHost().api;
  std::string version(api->host_version.ptr, api->host_version.len);
  return PyModule_AddStringConstant(m, "version", version.c_str());
}

PyModuleDef_Slot kKilnSlots[] = {{Py_mod_exec, reinterpret_cast<void*>(ExecKilnModule)},
                                 {0, nullptr}};

// Multi-phase initialisation (PEP 489): every interpreter gets a module of its own, where a
// single-phase module would share the first one's function objects with sub-interpreters.
PyModuleDef kKilnModule = {PyModuleDef_HEAD_INIT, "_kiln", "kiln's host functions.", 0,
                           kKilnMethods, kKilnSlots, nullptr, nullptr, nullptr};

PyObject* InitKilnModule() { return PyModuleDef_Init(&kKilnModule); }

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::string StatusText(const PyStatus& status) {
  std::string out = status.err_msg != nullptr ? status.err_msg : "unknown error";
  if (status.func != nullptr) out = std::string(status.func) + ": " + out;
  return out;
}

// Fills the interpreter configuration from the options. A `home` holding pyvenv.cfg is a
// venv: Python finds its prefix from the venv's interpreter path, as `venv/bin/python` does.
bool ConfigureInterpreter(PyConfig* config, std::string* error) {
  const Settings& s = TheSettings();
  std::string program = s.programname;
  PyStatus st = PyStatus_Ok();
  if (!s.home.empty()) {
    if (!FileExists(s.home)) {
      *error = "option `home`: " + s.home + " does not exist";
      return false;
    }
    if (FileExists(s.home + "/pyvenv.cfg")) {
      if (program.empty()) program = s.home + "/bin/python3";
    } else {
      st = PyConfig_SetBytesString(config, &config->home, s.home.c_str());
    }
  }
  if (program.empty()) program = KILN_PYTHON_EXECUTABLE;
  if (!PyStatus_Exception(st)) {
    st = PyConfig_SetBytesString(config, &config->program_name, program.c_str());
  }
  if (PyStatus_Exception(st)) {
    *error = "cannot configure the interpreter: " + StatusText(st);
    return false;
  }
  config->install_signal_handlers = 0;  // signals belong to kiln
  if (s.no_site) config->site_import = 0;
  config->parse_argv = 0;
  return true;
}

// sys.path: the pythonpath entries first (in configuration order), then "" (the working
// directory, where `module = app:app` is found after chdir).
bool ExtendSysPath(bool log, std::string* error) {
  PyObject* path = PySys_GetObject("path");  // borrowed
  if (path == nullptr || !PyList_Check(path)) {
    *error = "sys.path is missing";
    return false;
  }
  const std::vector<std::string>& extra = TheSettings().pythonpath;
  for (size_t i = 0; i <= extra.size(); ++i) {
    std::string dir = i < extra.size() ? extra[i] : "";
    PyObject* item = PyUnicode_DecodeFSDefault(dir.c_str());
    if (item == nullptr || PyList_Insert(path, static_cast<Py_ssize_t>(i), item) != 0) {
      Py_XDECREF(item);
      *error = "cannot extend sys.path: " + FetchTraceback();
      return false;
    }
    Py_DECREF(item);
    if (log && i < extra.size()) Log(KILN_LOG_INFO, "added " + dir + " to pythonpath");
  }
  return true;
}

PyObject* KilnAttr(const Interp* in, const char* name) {
  PyObject* v = PyDict_GetItemString(in->kiln_dict, name);  // borrowed
  Py_XINCREF(v);
  return v;
}

// Calls the bootstrap's `fn(text)` in interpreter `in`; false with *error on an exception.
bool CallBootstrap(const Interp* in, const char* fn, const std::string& text, std::string* error) {
  PyObject* f = KilnAttr(in, fn);
  PyObject* arg = f != nullptr ? PyUnicode_DecodeFSDefault(text.c_str()) : nullptr;
  PyObject* r = arg != nullptr ? PyObject_CallOneArg(f, arg) : nullptr;
  Py_XDECREF(arg);
  Py_XDECREF(f);
  if (r == nullptr) {
    *error = FetchTraceback();
    return false;
  }
  Py_DECREF(r);
  return true;
}

// pyargv and pymodule-alias, in each interpreter before any app is imported.
bool ApplyArgvAndAliases(const Interp* in, std::string* error) {
  const Settings& s = TheSettings();
  if (!s.pyargv.empty() && !CallBootstrap(in, "_set_argv", s.pyargv, error)) {
    *error = "option `pyargv`: " + *error;
    return false;
  }
  for (const std::string& alias : s.module_aliases) {
    if (!CallBootstrap(in, "_alias_module", alias, error)) {
      *error = "option `pymodule-alias = " + alias + "`: " + *error;
      return false;
    }
    size_t eq = alias.find('=');
    Log(KILN_LOG_INFO, "mapped virtual pymodule \"" + alias.substr(0, eq) +
                           "\" to real pymodule \"" + alias.substr(eq + 1) + "\"");
  }
  return true;
}

// Runs the bootstrap in the current interpreter `in` and keeps its helpers there.
bool RunBootstrap(Interp* in, std::string* error) {
  PyObject* module = PyImport_AddModule("kiln");  // borrowed, now in sys.modules
  if (module == nullptr) {
    *error = "cannot create the kiln module: " + FetchTraceback();
    return false;
  }
  PyObject* dict = PyModule_GetDict(module);
  if (PyDict_GetItemString(dict, "__builtins__") == nullptr) {
    PyDict_SetItemString(dict, "__builtins__", PyEval_GetBuiltins());
  }
  PyObject* code = Py_CompileString(kBootstrapSource, "<kiln bootstrap>", Py_file_input);
  PyObject* r = code != nullptr ? PyEval_EvalCode(code, dict, dict) : nullptr;
  Py_XDECREF(code);
  if (r == nullptr) {
    *error = "cannot start the kiln module:\n" + FetchTraceback();
    return false;
  }
  Py_DECREF(r);
  Py_INCREF(dict);
  in->kiln_dict = dict;
  in->load = KilnAttr(in, "_load");
  in->format_exc = KilnAttr(in, "_format_exception");
  in->file_wrapper = KilnAttr(in, "FileWrapper");
  in->error_stream = KilnAttr(in, "errors");  // one wsgi.errors object per interpreter
  if (!in->load || !in->format_exc || !in->file_wrapper || !in->error_stream) {
    *error = "the kiln module is incomplete";
    return false;
  }
  return ApplyArgvAndAliases(in, error);
}

void CallKilnHook(const char* name, PyObject* arg) {
  PyObject* fn = KilnAttr(CurrentInterp(), name);
  if (fn == nullptr) return;
  PyObject* r = arg != nullptr ? PyObject_CallOneArg(fn, arg) : PyObject_CallNoArgs(fn);
  Py_DECREF(fn);
  if (r == nullptr) {
    Log(KILN_LOG_ERROR, std::string(name) + " failed:\n" + FetchTraceback());
  }
  Py_XDECREF(r);
}

struct AppSpec {
  std::string mountpoint;
  std::string target;
  bool is_file;
  bool own_interpreter;  // a mount, unless single-interpreter
  int mount;             // index into Settings::mounts, -1 for module / wsgi-file / paste
  bool is_paste = false;
  bool asgi = false;     // `asgi = ...` or a mount target `asgi:module:callable`
};

std::vector<AppSpec> ConfiguredApps() {
  const Settings& s = TheSettings();
  std::vector<AppSpec> specs;
  if (!s.module.empty()) specs.push_back({"", s.module, false, false, -1});
  if (!s.wsgi_file.empty()) specs.push_back({"", s.wsgi_file, true, false, -1});
  if (!s.paste.empty()) specs.push_back({"", s.paste, false, false, -1, true});
  if (!s.asgi.empty()) specs.push_back({"", s.asgi, false, false, -1, false, true});
  for (size_t i = 0; i < s.mounts.size(); ++i) {
    std::string_view target = s.mounts[i].target;
    // An ASGI app runs on the worker's one event loop, in the main interpreter.
    const bool asgi = target.substr(0, 5) == "asgi:";
    specs.push_back({s.mounts[i].mountpoint, std::string(asgi ? target.substr(5) : target), false,
                     !s.single_interpreter && !asgi, static_cast<int>(i), false, asgi});
  }
  return specs;
}

std::string LastLine(const std::string& text) {
  size_t nl = text.rfind('\n');
  return nl == std::string::npos ? text : text.substr(nl + 1);
}

}  // namespace

Host& TheHost() {
  static Host host;
  return host;
}

Settings& TheSettings() {
  static Settings* s = new Settings;
  return *s;
}

std::vector<App>& TheApps() {
  static std::vector<App>* apps = new std::vector<App>;
  return *apps;
}

void Log(kiln_log_level level, std::string_view message) {
  const Host& h = TheHost();
  if (h.api != nullptr) h.api->log_write(h.self, level, Str(message));
}

void SetError(std::string_view message) {
  const Host& h = TheHost();
  if (h.api != nullptr) h.api->error_set(h.self, Str(message));
}

bool InterpreterReady() { return Rt().ready; }
PyObject* FileWrapperType() { return CurrentInterp()->file_wrapper; }
bool EnsureInterpreter(std::string* error) {
  Runtime& rt = Rt();
  if (rt.ready) return true;
  if (PyImport_AppendInittab("_kiln", InitKilnModule) != 0) {
    *error = "cannot register the _kiln module";
    return false;
  }
  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  if (!ConfigureInterpreter(&config, error)) {
    PyConfig_Clear(&config);
    return false;
  }
  PyStatus st = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(st)) {
    *error = "cannot start Python " + std::string(Py_GetVersion()) + ": " + StatusText(st);
    return false;
  }
  rt.pid = getpid();
  Interp* main = MainInterp();
  main->state = PyInterpreterState_Main();
  if (!ExtendSysPath(true, error) || !RunBootstrap(main, error) || !InitWsgi(main, error)) {
    return false;
  }
  rt.ready = true;
  std::string version = Py_GetVersion();
  Log(KILN_LOG_INFO, "Python version: " + version.substr(0, version.find('\n')));
  return true;
}

// Imports one app in the current interpreter: the callable, or null with *traceback.
PyObject* ImportApp(const App& app, std::string* traceback) {
  Interp* in = CurrentInterp();
  const char* kind = app.is_paste ? "paste" : app.is_file ? "file" : "module";
  PyObject* callable =
      PyObject_CallFunction(in->load, "sssO", app.target.c_str(),
                            app.asgi ? "app" : TheSettings().callable.c_str(),
                            kind, TheSettings().paste_logger ? Py_True : Py_False);
  if (callable == nullptr) *traceback = FetchTraceback();
  return callable;
}

// A new sub-interpreter with sys.path and the kiln modules set up, current on this thread
// (which held the GIL in the main interpreter, thread state `main`); null with *error.
Interp* NewAppInterpreter(PyThreadState* main, std::string* error) {
  Interp* in = NewSubInterpreter(error);
  if (in == nullptr) return nullptr;
  if (!ExtendSysPath(false, error) || !RunBootstrap(in, error) || !InitWsgi(in, error)) {
    *error = "cannot set up a sub-interpreter: " + *error;
    EndSubInterpreter(in, main);
    return nullptr;
  }
  return in;
}

namespace {

std::string Where(const App& app) {
  return app.mountpoint.empty() ? "" : " (mountpoint='" + app.mountpoint + "')";
}

void LogReady(const App& app, size_t index, int64_t t0, const char* note) {
  char line[320];
  std::snprintf(line, sizeof(line), "WSGI app %zu (mountpoint='%s') ready in %.3f seconds "
                "on interpreter %p pid: %d%s", index, app.mountpoint.c_str(),
                static_cast<double>(TheHost().api->time_monotonic_us() - t0) / 1e6,
                static_cast<void*>(PyInterpreterState_Get()), static_cast<int>(getpid()), note);
  Log(KILN_LOG_INFO, line);
}

// Records a failed load: false (with *error) when need-app makes it fatal.
bool LoadFailed(App* app, const std::string& traceback, std::string* error) {
  app->load_error = LastLine(traceback);
  Log(KILN_LOG_ERROR, "cannot load WSGI app `" + app->target + "`" + Where(*app) + ":\n" +
                          traceback);
  if (!TheSettings().need_app) return true;
  *error = "cannot load WSGI app `" + app->target + "`" + Where(*app) + ": " + app->load_error;
  return false;
}

// Before fork: imports the apps `pending` asks for, each in a sub-interpreter of a child
// process (CPython cannot carry a sub-interpreter across fork, nor always end one: an app's
// threads keep it alive), so an app that cannot load fails startup here with its traceback.
bool CheckPendingApps(std::vector<App>* apps, std::string* error) {
  std::vector<App*> check;
  for (App& app : *apps) {
    if (app.pending) check.push_back(&app);
  }
  if (check.empty()) return true;
  std::vector<std::string> failures =
      CheckImportsInChild(std::vector<const App*>(check.begin(), check.end()));
  for (size_t i = 0; i < check.size(); ++i) {
    App* app = check[i];
    if (failures[i].empty()) {
      Log(KILN_LOG_INFO, "WSGI app `" + app->target + "`" + Where(*app) + " imports fine; "
                             "each worker loads it in its own sub-interpreter after fork");
      continue;
    }
    app->pending = false;
    if (!LoadFailed(app, failures[i], error)) return false;
  }
  return true;
}

// Loads `app` in a new sub-interpreter of this process, where it then runs.
bool LoadInOwnInterpreter(App* app, size_t index, std::string* error) {
  PyThreadState* main = PyThreadState_Get();
  int64_t t0 = TheHost().api->time_monotonic_us();
  Interp* in = NewAppInterpreter(main, error);
  if (in == nullptr) return false;
  std::string tb;
  app->pending = false;
  app->callable = ImportApp(*app, &tb);
  if (app->callable == nullptr) {
    EndSubInterpreter(in, main);
    return LoadFailed(app, tb, error);
  }
  app->interp = in;
  LogReady(*app, index, t0, " (sub-interpreter)");
  SwitchToMain(main);
  return true;
}

}  // namespace

namespace {

// `import`, where uWSGI runs it: in the main interpreter, before the apps. A path (with `/`
// or ending in .py) is loaded as a module named after it, as uWSGI does.
bool RunImports(std::string* error) {
  for (const std::string& target : TheSettings().imports) {
    std::string name = target;
    if (target.find('/') != std::string::npos || target.ends_with(".py")) {
      for (char& c : name) {
        if (c == '/' || c == '.' || c == '-') c = '_';
      }
    }
    std::string tb;
    if (!CallBootstrap(CurrentInterp(), "_alias_module", name + "=" + target, &tb)) {
      Log(KILN_LOG_ERROR, "option `import = " + target + "` failed:\n" + tb);
      if (!TheSettings().need_app) continue;
      *error = "option `import = " + target + "`: " + LastLine(tb);
      return false;
    }
    Log(KILN_LOG_INFO, "imported " + target + " (import)");
  }
  return true;
}

}  // namespace

bool LoadApps(std::string* error) {
  Settings& s = TheSettings();
  std::vector<App>& apps = TheApps();
  if (!apps.empty()) return true;  // loaded before fork already
  if (!RunImports(error)) return false;
  std::vector<AppSpec> specs = ConfiguredApps();
  if (specs.empty()) {
    std::string msg =
        "no Python application configured: set `module`, `wsgi-file`, `paste` or "
        "`mount = /path=module:callable`";
    if (s.need_app) {
      *error = msg;
      return false;
    }
    Log(KILN_LOG_WARNING, msg + "; every request gets 500 (need-app = false)");
    return true;
  }
  const kiln_host_api* api = TheHost().api;
  bool ok = true;
  for (const AppSpec& spec : specs) {
    App app;
    app.mountpoint = spec.mountpoint;
    app.mount = spec.mount;
    app.target = spec.target;
    app.is_file = spec.is_file;
    app.is_paste = spec.is_paste;
    app.asgi = spec.asgi;
    if (spec.own_interpreter && Rt().forked) {  // lazy-apps: made for good in the worker
      ok = LoadInOwnInterpreter(&app, apps.size(), error);
    } else if (spec.own_interpreter) {
      app.pending = true;  // checked below, made in each worker after fork
    } else {
      int64_t t0 = api->time_monotonic_us();
      std::string tb;
      app.callable = ImportApp(app, &tb);
      if (app.callable != nullptr) {
        app.interp = MainInterp();
        LogReady(app, apps.size(), t0, spec.mountpoint.empty() ? " (default app)" : "");
      } else {
        ok = LoadFailed(&app, tb, error);
      }
    }
    apps.push_back(std::move(app));
    if (!ok) break;
  }
  ok = ok && CheckPendingApps(&apps, error);
  if (!ok) {
    for (App& a : apps) {
      if (a.interp == MainInterp()) Py_CLEAR(a.callable);  // sub-interpreters' objects stay
    }
    apps.clear();
  }
  return ok;
}

void FreezeHeapBeforeFork() {
  Runtime& rt = Rt();
  if (!rt.ready || rt.forked || rt.frozen || !TheSettings().gc_freeze) return;
  // The master holds the GIL in the main interpreter here (it never gives it up). A worker's
  // full collection would otherwise write to the GC header of every object the app created
  // at import, turning each shared page into a private copy. No gc.collect() first: it costs
  // start-up time (about 10 ms for Flask), and the holes it leaves are filled by the workers'
  // allocations, which copies those pages anyway; garbage frozen here stays shared.
  PyObject* gc = PyImport_ImportModule("gc");
  PyObject* r = gc != nullptr ? PyObject_CallMethod(gc, "freeze", nullptr) : nullptr;
  if (r == nullptr) {
    Log(KILN_LOG_WARNING, "gc.freeze() failed; workers will copy the app's heap when they "
                          "collect garbage: " + FetchTraceback());
  }
  Py_XDECREF(r);
  Py_XDECREF(gc);
  rt.frozen = true;
}

bool LoadPendingApps(std::string* error) {
  std::vector<App>& apps = TheApps();
  for (size_t i = 0; i < apps.size(); ++i) {
    if (apps[i].pending && !LoadInOwnInterpreter(&apps[i], i, error)) return false;
  }
  return true;
}

void AfterForkIfNeeded() {
  Runtime& rt = Rt();
  if (!rt.ready || rt.gil_released || rt.pid == getpid()) return;
  // The master forks while its main thread holds the GIL (it never gives it up), so the child's
  // main thread owns it too and may repair the interpreter's locks and thread list.
  PyOS_AfterFork_Child();
  ForgetSubInterpreters();
  rt.pid = getpid();
  rt.forked = true;
}

namespace {

// Calls a kiln hook in every sub-interpreter this (main) thread made; the main thread state is
// current before and after.
void CallHookInSubInterpreters(const char* name) {
  PyThreadState* main = PyThreadState_Get();
  for (Interp* in : TheInterps()) {
    if (in->is_main || in->home_thread != PyThread_get_thread_ident()) continue;
    SwitchTo(in);
    CallKilnHook(name, nullptr);
    SwitchToMain(main);
  }
}

}  // namespace

void RunPostForkHooks(int worker_id) {
  if (!Rt().ready) return;
  PyGILState_STATE g = PyGILState_Ensure();
  CallKilnHook("_run_postfork", nullptr);
  CallHookInSubInterpreters("_run_postfork");
  int64_t every = TheSettings().autoreload_seconds;
  if (every > 0 && worker_id == 1) {  // not in spoolers (id 0)
    PyObject* secs = PyLong_FromLongLong(every);
    CallKilnHook("_start_autoreload", secs);
    Py_XDECREF(secs);
  }
  PyGILState_Release(g);
}

void ReleaseGilForServing() {
  Runtime& rt = Rt();
  if (!rt.ready || rt.gil_released) return;
  rt.main_tstate = PyEval_SaveThread();
  rt.gil_released = true;
}

void RunExitHooks() {
  if (!Rt().ready) return;
  PyGILState_STATE g = PyGILState_Ensure();
  CallKilnHook("_run_atexit", nullptr);
  CallHookInSubInterpreters("_run_atexit");
  PyGILState_Release(g);
}

std::string FetchTraceback() {
  PyObject *type = nullptr, *value = nullptr, *tb = nullptr;
  PyErr_Fetch(&type, &value, &tb);
  if (type == nullptr) return "";
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb != nullptr && value != nullptr) PyException_SetTraceback(value, tb);
  std::string out;
  PyObject* text = nullptr;
  PyObject* format_exc = CurrentInterp()->format_exc;
  if (format_exc != nullptr && value != nullptr) {
    text = PyObject_CallOneArg(format_exc, value);
  }
  if (text == nullptr) {
    PyErr_Clear();
    text = value != nullptr ? PyObject_Str(value) : PyObject_Str(type);
  }
  if (text != nullptr) {
    Py_ssize_t n = 0;
    const char* utf8 = PyUnicode_AsUTF8AndSize(text, &n);
    if (utf8 != nullptr) out.assign(utf8, static_cast<size_t>(n));
  }
  PyErr_Clear();
  Py_XDECREF(text);
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
  return out.empty() ? "unknown Python error" : out;
}

bool IsPythonMountTarget(std::string_view target) {
  auto ends = [&](std::string_view suffix) {
    return target.size() >= suffix.size() &&
           target.substr(target.size() - suffix.size()) == suffix;
  };
  if (target.empty()) return false;
  if (ends(".py") || ends(".wsgi")) return true;
  if (target.find(':') != std::string_view::npos) return true;
  // A bare module name (dotted identifiers) is ours; a file of another language is not.
  for (char c : target) {
    bool ok = c == '.' || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z');
    if (!ok) return false;
  }
  return !ends(".lua") && !ends(".ws") && !ends(".ini");
}

void* MountHandle(size_t index) { return reinterpret_cast<void*>(index + 1); }

const App* AppForHandle(void* handle) {
  int mount = static_cast<int>(reinterpret_cast<uintptr_t>(handle)) - 1;
  const App* root = nullptr;
  for (const App& app : TheApps()) {
    if (app.mount == mount) return &app;
    if (mount < 0 && root == nullptr && app.mountpoint.empty()) root = &app;
  }
  return root;
}

}  // namespace kiln::python
