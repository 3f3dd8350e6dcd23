// The python plugin's process-wide state: settings read from the options, the embedded
// interpreter's lifecycle (start, fork, GIL hand-over), the loaded WSGI apps and the `kiln`,
// `uwsgi` and `uwsgidecorators` modules apps import. Speaks to kiln only through the SDK.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string>
#include <string_view>
#include <vector>

#include "interpreters.h"
#include "kiln/kiln.h"

namespace kiln::python {

// What the options ask for (python_plugin.cc reads them in on_config_done).
struct Settings {
  std::string module;              // module (wsgi): "pkg.mod[:callable]"
  std::string wsgi_file;           // wsgi-file (file): a path
  std::string callable = "application";
  std::string paste;               // paste: a PasteDeploy URI ("config:/path.ini")
  bool paste_logger = false;       // paste-logger: logging.config.fileConfig of that file
  std::string asgi;                // asgi: "pkg.mod[:callable]", an ASGI 3 app
  std::string asgi_loop = "auto";  // asgi-loop: auto | uvloop | asyncio
  std::string asgi_loop_thread = "auto";  // asgi-loop-thread: auto | serving | own
  std::string lifespan = "auto";   // lifespan: auto | on | off
  std::vector<std::string> pythonpath;
  std::string home;                // home / virtualenv / venv / pyhome
  std::string programname;         // py-programname
  // The `mount` entries this plugin claimed (on_mount_app), in configuration order; the app
  // handle kiln hands back with a request is MountHandle(index).
  struct Mount {
    std::string mountpoint;  // "/path" as kiln checked it; "" for the root mount `/`
    std::string target;
  };
  std::vector<Mount> mounts;
  bool single_interpreter = false;
  bool need_app = true;
  bool file_wrapper = true;
  bool multithread = false;
  bool multiprocess = false;
  int64_t autoreload_seconds = 0;
  bool gc_freeze = true;           // py-gc-freeze
  std::string pyargv;              // pyargv: sys.argv after 'kiln' ("" leaves sys.argv)
  std::vector<std::string> module_aliases;  // pymodule-alias: name=module or name=file
  std::vector<std::string> imports;         // import: modules or .py files, before the apps
  bool no_site = false;                     // no-site: the interpreter skips `import site`
  bool reload_on_exception = false;         // core's reload-on-exception
};

// One WSGI application and where it is mounted ("" for the default app).
struct App {
  std::string mountpoint;
  int mount = -1;           // index into Settings::mounts; -1 for `module` / `wsgi-file`
  std::string target;       // as configured, for log lines
  bool is_file = false;     // target is a wsgi-file path
  bool is_paste = false;    // target is a PasteDeploy URI (`paste`)
  bool asgi = false;        // an ASGI 3 app (asgi.cc), served from the worker's event loop
  PyObject* callable = nullptr;  // strong reference; null when loading failed or not yet loaded
  std::string load_error;   // why it failed (need-app = false serves 500s with this)
  Interp* interp = nullptr;  // where it runs; null until loaded
  // A mount in its own sub-interpreter, checked in the master, made in each worker after fork
  // (CPython keeps only the main interpreter across fork).
  bool pending = false;
};

// The host table and the plugin's handle, kept from init.
struct Host {
  const kiln_host_api* api = nullptr;
  kiln_plugin* self = nullptr;
};

Host& TheHost();
Settings& TheSettings();
std::vector<App>& TheApps();

// Log helpers (one host log call each; embedded newlines give several lines).
void Log(kiln_log_level level, std::string_view message);
void SetError(std::string_view message);

// Starts the interpreter once (home, program name, pythonpath, our modules). Idempotent.
// Needs the GIL afterwards: the calling (main) thread holds it until ReleaseGilForServing.
bool EnsureInterpreter(std::string* error);
// Loads every configured app. Returns false (with *error) when one fails and need-app is set.
bool LoadApps(std::string* error);
// In a freshly forked worker: repairs the interpreter's fork state once per process.
void AfterForkIfNeeded();
// After fork (or in a server without fork): creates the sub-interpreters of the mounted apps
// checked before fork and loads each app in its own. False (with *error) when one fails and
// need-app is set. Main thread, before requests.
bool LoadPendingApps(std::string* error);
// Runs the apps' post-fork hooks (kiln.postfork, uwsgi.post_fork_hook) in every interpreter,
// starts py-autoreload.
void RunPostForkHooks(int worker_id);
// Lets request threads take the GIL: the main thread gives it up for good.
void ReleaseGilForServing();
// Worker exit: runs uwsgi.atexit / kiln atexit hooks if set, in every interpreter.
void RunExitHooks();
// The spooler (spool.cc): `_kiln.spool`, and the on_spool callback's body (a
// kiln_spool_result; the task's exceptions are logged and make it RETRY, as in uWSGI).
PyObject* KSpool(PyObject* self, PyObject* args);
int RunSpoolTask(kiln_str path, const kiln_header* vars, size_t var_count, kiln_str body);
bool InterpreterReady();

// Before fork, with the apps loaded in the master: moves every object into Python's
// permanent GC generation (gc.freeze()), so the workers' collections do not
// write to the pages they share with the master. Does nothing after fork (lazy-apps) or when
// py-gc-freeze is off.
void FreezeHeapBeforeFork();

// The app handle given to kiln for mount `index` (on_mount_app), and back: the app a request
// routed with `handle` goes to (null: the default app, `module` before `wsgi-file`, or the
// root mount). Null when there is no such app. kiln routes; this only looks up.
void* MountHandle(size_t index);
const App* AppForHandle(void* handle);

// Imports `app` in the current interpreter: the callable (new reference), or null with the
// traceback in *traceback.
PyObject* ImportApp(const App& app, std::string* traceback);
// A new sub-interpreter with sys.path and the kiln modules set up, current on this thread, which
// held the GIL in the main interpreter with thread state `main`. Null with *error.
Interp* NewAppInterpreter(PyThreadState* main, std::string* error);
// Imports each app in a sub-interpreter of a forked child process (import_check.cc): per app,
// "" when it loads, else its traceback. Main thread, GIL held, before fork.
std::vector<std::string> CheckImportsInChild(const std::vector<const App*>& apps);

// Current Python exception as a traceback text, clearing it ("" when none is set).
std::string FetchTraceback();
// The current interpreter's FileWrapper class (borrowed). Its wsgi.errors object is
// Interp::error_stream, in every environ through the template (wsgi_call.cc).
PyObject* FileWrapperType();

// Pure helpers, exposed for reuse.
// True when `target` of a mount looks like a Python app (module:callable, *.py, *.wsgi,
// dotted.module), not another plugin's (app.lua, ...).
bool IsPythonMountTarget(std::string_view target);

// Makes `host_call`, a host call that may wait for the client (a response write or sendfile, a
// body read), with the GIL held when `gil_kept`: the host's wait hook then gives the GIL up
// around the waits themselves (SDK 1.6, request_wait_hook). Otherwise (an older host) the GIL
// is released for the whole call.
template <class F>
kiln_status CallThatMayWait(bool gil_kept, F&& host_call) {
  if (gil_kept) return host_call();
  kiln_status st;
  Py_BEGIN_ALLOW_THREADS
  st = host_call();
  Py_END_ALLOW_THREADS
  return st;
}

}  // namespace kiln::python
