// The embedded interpreter's lifecycle and the apps it holds: start (home, program name,
// pythonpath), the `_kiln` builtin module, app loading with tracebacks, fork repair, the GIL
// hand-over to request threads, and mount-point routing. Request handling is wsgi_call.cc.
#include "py_runtime.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "bootstrap_py.h"
#include "wsgi_call.h"

namespace kiln::python {
namespace {

struct Runtime {
  bool ready = false;
  bool gil_released = false;
  pid_t pid = 0;
  PyObject* kiln_dict = nullptr;   // the kiln module's namespace (strong)
  PyObject* load = nullptr;        // kiln._load
  PyObject* format_exc = nullptr;  // kiln._format_exception
  PyObject* file_wrapper = nullptr;
  PyObject* error_stream = nullptr;
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

// [(key: str, value: bytes)] for every configuration entry, in order (uwsgi.opt).
PyObject* KConfigEntries(PyObject*, PyObject*) {
  const Host& h = TheHost();
  size_t n = h.api->config_entry_count(h.self);
  PyObject* list = PyList_New(0);
  if (list == nullptr) return nullptr;
  for (size_t i = 0; i < n; ++i) {
    kiln_str key{}, value{};
    if (h.api->config_entry_get(h.self, i, &key, &value) != KILN_OK) continue;
    PyObject* item = Py_BuildValue("(Ny#)", PyUnicode_DecodeLatin1(key.ptr, key.len, nullptr),
                                   value.ptr, static_cast<Py_ssize_t>(value.len));
    if (item == nullptr || PyList_Append(list, item) != 0) {
      Py_XDECREF(item);
      Py_DECREF(list);
      return nullptr;
    }
    Py_DECREF(item);
  }
  return list;
}

PyMethodDef kKilnMethods[] = {
    {"log", KLog, METH_VARARGS, "log(level, message): one message to the server log."},
    {"worker_id", KWorkerId, METH_NOARGS, "This process's worker id (0 in the master)."},
    {"worker_count", KWorkerCount, METH_NOARGS, "The configured number of workers."},
    {"thread_count", KThreadCount, METH_NOARGS, "The configured threads per worker."},
    {"master_pid", KMasterPid, METH_NOARGS, "The master's pid."},
    {"reload", KReload, METH_NOARGS, "Ask the master for a graceful reload."},
    {"config_entries", KConfigEntries, METH_NOARGS, "The configuration as (key, bytes) pairs."},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef kKilnModule = {PyModuleDef_HEAD_INIT, "_kiln", "kiln's host functions.", -1,
                           kKilnMethods, nullptr, nullptr, nullptr, nullptr};

PyObject* InitKilnModule() {
  PyObject* m = PyModule_Create(&kKilnModule);
  if (m == nullptr) return nullptr;
  const kiln_host_api* api = TheHost().api;
  std::string version(api->host_version.ptr, api->host_version.len);
  if (PyModule_AddStringConstant(m, "version", version.c_str()) != 0) {
    Py_DECREF(m);
    return nullptr;
  }
  return m;
}

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
  config->parse_argv = 0;
  return true;
}

// sys.path: the pythonpath entries first (in configuration order), then "" (the working
// directory, where `module = app:app` is found after chdir).
bool ExtendSysPath(std::string* error) {
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
    if (i < extra.size()) Log(KILN_LOG_INFO, "added " + dir + " to pythonpath");
  }
  return true;
}

PyObject* KilnAttr(const char* name) {
  PyObject* v = PyDict_GetItemString(Rt().kiln_dict, name);  // borrowed
  Py_XINCREF(v);
  return v;
}

bool RunBootstrap(std::string* error) {
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
  Runtime& rt = Rt();
  Py_INCREF(dict);
  rt.kiln_dict = dict;
  rt.load = KilnAttr("_load");
  rt.format_exc = KilnAttr("_format_exception");
  rt.file_wrapper = KilnAttr("FileWrapper");
  rt.error_stream = KilnAttr("errors");  // one shared wsgi.errors object
  if (!rt.load || !rt.format_exc || !rt.file_wrapper || !rt.error_stream) {
    *error = "the kiln module is incomplete";
    return false;
  }
  return true;
}

void CallKilnHook(const char* name, PyObject* arg) {
  PyObject* fn = KilnAttr(name);
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
};

std::vector<AppSpec> ConfiguredApps() {
  const Settings& s = TheSettings();
  std::vector<AppSpec> specs;
  if (!s.module.empty()) specs.push_back({"", s.module, false});
  if (!s.wsgi_file.empty()) specs.push_back({"", s.wsgi_file, true});
  for (const std::string& m : s.mounts) {
    size_t eq = m.find('=');
    std::string mp = m.substr(0, eq);
    while (mp.size() > 1 && mp.back() == '/') mp.pop_back();
    if (mp == "/") mp.clear();
    specs.push_back({mp, m.substr(eq + 1), false});
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
PyObject* FileWrapperType() { return Rt().file_wrapper; }
PyObject* NewErrorStream() {
  Py_XINCREF(Rt().error_stream);
  return Rt().error_stream;
}

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
  if (!ExtendSysPath(error) || !RunBootstrap(error) || !InitWsgi(error)) return false;
  rt.ready = true;
  std::string version = Py_GetVersion();
  Log(KILN_LOG_INFO, "Python version: " + version.substr(0, version.find('\n')));
  return true;
}

bool LoadApps(std::string* error) {
  Settings& s = TheSettings();
  std::vector<App>& apps = TheApps();
  if (!apps.empty()) return true;  // loaded before fork already
  std::vector<AppSpec> specs = ConfiguredApps();
  if (specs.empty()) {
    std::string msg =
        "no Python application configured: set `module`, `wsgi-file` or "
        "`mount = /path=module:callable`";
    if (s.need_app) {
      *error = msg;
      return false;
    }
    Log(KILN_LOG_WARNING, msg + "; every request gets 500 (need-app = false)");
    return true;
  }
  const kiln_host_api* api = TheHost().api;
  for (const AppSpec& spec : specs) {
    App app;
    app.mountpoint = spec.mountpoint;
    app.target = spec.target;
    int64_t t0 = api->time_monotonic_us();
    app.callable = PyObject_CallFunction(Rt().load, "ssO", spec.target.c_str(),
                                         s.callable.c_str(), spec.is_file ? Py_True : Py_False);
    std::string where = spec.mountpoint.empty() ? "" : " (mountpoint='" + spec.mountpoint + "')";
    if (app.callable == nullptr) {
      std::string tb = FetchTraceback();
      app.load_error = LastLine(tb);
      Log(KILN_LOG_ERROR, "cannot load WSGI app `" + spec.target + "`" + where + ":\n" + tb);
      if (s.need_app) {
        *error = "cannot load WSGI app `" + spec.target + "`" + where + ": " + app.load_error;
        for (App& a : apps) Py_CLEAR(a.callable);
        apps.clear();
        return false;
      }
    } else {
      char line[256];
      std::snprintf(line, sizeof(line), "WSGI app %zu (mountpoint='%s') ready in %.3f seconds "
                    "on interpreter %p pid: %d%s", apps.size(), spec.mountpoint.c_str(),
                    static_cast<double>(api->time_monotonic_us() - t0) / 1e6,
                    static_cast<void*>(PyInterpreterState_Get()), static_cast<int>(getpid()),
                    spec.mountpoint.empty() ? " (default app)" : "");
      Log(KILN_LOG_INFO, line);
    }
    apps.push_back(std::move(app));
  }
  return true;
}

void AfterForkIfNeeded() {
  Runtime& rt = Rt();
  if (!rt.ready || rt.gil_released || rt.pid == getpid()) return;
  // The master forks while its main thread holds the GIL (it never gives it up), so the child's
  // main thread owns it too and may repair the interpreter's locks and thread list.
  PyOS_AfterFork_Child();
  rt.pid = getpid();
}

void RunPostForkHooks(int worker_id) {
  if (!Rt().ready) return;
  PyGILState_STATE g = PyGILState_Ensure();
  CallKilnHook("_run_postfork", nullptr);
  int64_t every = TheSettings().autoreload_seconds;
  if (every > 0 && worker_id <= 1) {
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
  if (Rt().format_exc != nullptr && value != nullptr) {
    text = PyObject_CallOneArg(Rt().format_exc, value);
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

const App* RouteRequest(std::string_view script_name, std::string_view path_info,
                        bool* rewrite, std::string_view* new_script, std::string_view* new_path) {
  const std::vector<App>& apps = TheApps();
  *rewrite = false;
  const App* fallback = nullptr;
  const App* best = nullptr;
  for (const App& app : apps) {
    const std::string& mp = app.mountpoint;
    if (mp.empty()) {
      if (fallback == nullptr) fallback = &app;
      continue;
    }
    if (!script_name.empty() && script_name == mp) return &app;
    if (TheSettings().manage_script_name && path_info.substr(0, mp.size()) == mp &&
        (path_info.size() == mp.size() || path_info[mp.size()] == '/') &&
        (best == nullptr || best->mountpoint.size() < mp.size())) {
      best = &app;
    }
  }
  if (best != nullptr) {
    *rewrite = true;
    *new_script = path_info.substr(0, best->mountpoint.size());
    *new_path = path_info.substr(best->mountpoint.size());
    return best;
  }
  return fallback;
}

}  // namespace kiln::python
