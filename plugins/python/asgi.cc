// ASGI 3 apps (`asgi = module:callable`, `mount = /p=asgi:module:callable`): each worker runs
// one asyncio (or uvloop) event loop on a thread of its own, and every ASGI request is taken
// over from the serving thread (the SDK's request_detach) so that one worker serves many at
// once. The serving thread never takes the GIL for them: it copies the request's variables and
// queues them; the host's events (body pieces, disconnect, drained) are queued the same way.
// One eventfd, watched by the loop (add_reader), says the queue has something. The loop answers
// through `_kiln_asgi` (start, write, want_body, finish), which queue work for the serving
// thread; kiln frames and writes. Python code: asgi_py.h.
#include "asgi.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "asgi_py.h"
#include "asgi_ws.h"
#include "asgi_ws_py.h"

namespace kiln::python {
namespace {

// One thing for the loop: a new request (kind 0; 4 for a WebSocket) or a host event (1 body,
// 2 disconnect, 3 drained; WebSocket: 5 text, 6 binary, 7 close), as the _kiln_asgi.take()
// tuples name them.
struct Event {
  int kind = 0;
  uint64_t token = 0;
  kiln_async* handle = nullptr;
  size_t app = 0;
  std::vector<std::pair<std::string, std::string>> vars;
  std::string data;
  bool more = false;
  uint32_t code = 0;  // kind 7
};

struct AsgiState {
  std::mutex mu;
  std::deque<Event> inbox;
  int efd = -1;
  std::atomic<uint64_t> next_token{1};
  PyObject* runner = nullptr;  // the Runner (asgi_py.h); null when no ASGI app runs here
};

AsgiState& St() {
  static AsgiState* s = new AsgiState;  // the loop thread may outlive static destruction
  return *s;
}

void Push(Event ev) {
  AsgiState& st = St();
  bool wake;
  {
    std::lock_guard<std::mutex> lock(st.mu);
    wake = st.inbox.empty();
    st.inbox.push_back(std::move(ev));
  }
  if (wake) {
    const uint64_t one = 1;
    (void)!write(st.efd, &one, sizeof(one));
  }
}

const kiln_host_api* Api() { return TheHost().api; }

kiln_async* HandleOf(PyObject* o) { return static_cast<kiln_async*>(PyLong_AsVoidPtr(o)); }

kiln_str StrOf(const char* p, Py_ssize_t n) { return kiln_str{p, static_cast<size_t>(n)}; }

// ---- _kiln_asgi: what the Python half calls (the loop thread, GIL held) ----

PyObject* PyTake(PyObject*, PyObject*) {
  AsgiState& st = St();
  uint64_t v;
  (void)!read(st.efd, &v, sizeof(v));
  std::deque<Event> events;
  {
    std::lock_guard<std::mutex> lock(st.mu);
    events.swap(st.inbox);
  }
  PyObject* list = PyList_New(0);
  if (list == nullptr) return nullptr;
  for (Event& ev : events) {
    PyObject* item = nullptr;
    switch (ev.kind) {
      case 0:
      case 4: {
        PyObject* env = PyDict_New();
        for (const auto& [name, value] : ev.vars) {
          PyObject* k = PyUnicode_DecodeLatin1(name.data(), static_cast<Py_ssize_t>(name.size()),
                                               nullptr);
          PyObject* val = PyBytes_FromStringAndSize(value.data(),
                                                    static_cast<Py_ssize_t>(value.size()));
          if (k != nullptr && val != nullptr) PyDict_SetItem(env, k, val);
          Py_XDECREF(k);
          Py_XDECREF(val);
        }
        item = Py_BuildValue("(iKNnN)", ev.kind, static_cast<unsigned long long>(ev.token),
                             PyLong_FromVoidPtr(ev.handle), static_cast<Py_ssize_t>(ev.app), env);
        break;
      }
      case 1:
        item = Py_BuildValue("(iKy#O)", 1, static_cast<unsigned long long>(ev.token),
                             ev.data.data(), static_cast<Py_ssize_t>(ev.data.size()),
                             ev.more ? Py_True : Py_False);
        break;
      case 5:
      case 6:
      case 7:
        item = AsgiWsEventTuple(ev.kind, ev.token, ev.data, ev.code);
        break;
      default:
        item = Py_BuildValue("(iK)", ev.kind, static_cast<unsigned long long>(ev.token));
        break;
    }
    if (item == nullptr || PyList_Append(list, item) != 0) {
      Py_XDECREF(item);
      Py_DECREF(list);
      return nullptr;
    }
    Py_DECREF(item);
  }
  return list;
}

PyObject* PyFd(PyObject*, PyObject*) { return PyLong_FromLong(St().efd); }

PyObject* PyStart(PyObject*, PyObject* args) {
  PyObject* h;
  int status;
  PyObject* headers;
  if (!PyArg_ParseTuple(args, "OiO!", &h, &status, &PyList_Type, &headers)) return nullptr;
  std::vector<kiln_header> hs;
  if (!AsgiHeaderList(headers, &hs)) return nullptr;
  if (Api()->async_response_start(HandleOf(h), status, kiln_str{"", 0}, hs.data(), hs.size()) !=
      KILN_OK) {
    PyErr_Format(PyExc_ValueError,
                 "invalid response: status %d outside 100..999 or a header with CR/LF", status);
    return nullptr;
  }
  Py_RETURN_NONE;
}

PyObject* PyWrite(PyObject*, PyObject* args) {
  PyObject* h;
  Py_buffer body;
  int more;
  if (!PyArg_ParseTuple(args, "Oy*p", &h, &body, &more)) return nullptr;
  Api()->async_response_write(HandleOf(h), StrOf(static_cast<const char*>(body.buf), body.len),
                              more);
  PyBuffer_Release(&body);
  Py_RETURN_NONE;
}

PyObject* PyWantBody(PyObject*, PyObject* h) {
  Api()->async_body_request(HandleOf(h));
  Py_RETURN_NONE;
}

PyObject* PyFinish(PyObject*, PyObject* args) {
  PyObject* h;
  int ok;
  if (!PyArg_ParseTuple(args, "Op", &h, &ok)) return nullptr;
  Api()->async_finish(HandleOf(h), ok ? KILN_OK : KILN_ERROR);
  Py_RETURN_NONE;
}

PyMethodDef kMethods[] = {
    {"take", PyTake, METH_NOARGS, "Events queued for the loop."},
    {"fd", PyFd, METH_NOARGS, "The eventfd the loop watches."},
    {"start", PyStart, METH_VARARGS, "Queue the response head."},
    {"write", PyWrite, METH_VARARGS, "Queue body bytes."},
    {"want_body", PyWantBody, METH_O, "Ask for the next body piece."},
    {"finish", PyFinish, METH_VARARGS, "End the request."},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef kModule = {PyModuleDef_HEAD_INIT, "_kiln_asgi", nullptr, -1, kMethods,
                       nullptr, nullptr, nullptr, nullptr};

int CopyVar(void* arg, kiln_str name, kiln_str value) {
  auto* vars = static_cast<std::vector<std::pair<std::string, std::string>>*>(arg);
  vars->emplace_back(std::string(name.ptr, name.len), std::string(value.ptr, value.len));
  return 0;
}

}  // namespace

bool AsgiHeaderList(PyObject* headers, std::vector<kiln_header>* out) {
  const Py_ssize_t n = PyList_GET_SIZE(headers);
  out->reserve(static_cast<size_t>(n));
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* pair = PyList_GET_ITEM(headers, i);
    char *name, *value;
    Py_ssize_t nl, vl;
    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 ||
        PyBytes_AsStringAndSize(PyTuple_GET_ITEM(pair, 0), &name, &nl) != 0 ||
        PyBytes_AsStringAndSize(PyTuple_GET_ITEM(pair, 1), &value, &vl) != 0) {
      if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "headers are (bytes, bytes)");
      return false;
    }
    out->push_back({StrOf(name, nl), StrOf(value, vl)});
  }
  return true;
}

bool AnyAsgiApp() {
  for (const App& a : TheApps()) {
    if (a.asgi) return true;
  }
  return false;
}

bool AsgiStart(std::string* error) {
  AsgiState& st = St();
  if (st.runner != nullptr || !AnyAsgiApp()) return true;
  st.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (st.efd < 0) {
    *error = "ASGI: eventfd failed";
    return false;
  }
  PyObject* mod = PyModule_Create(&kModule);
  PyObject* modules = PyImport_GetModuleDict();
  if (mod == nullptr || PyModule_AddIntConstant(mod, "DRAIN_BYTES", KILN_ASYNC_DRAIN_BYTES) != 0 ||
      PyDict_SetItemString(modules, "_kiln_asgi", mod) != 0) {
    Py_XDECREF(mod);
    *error = "ASGI: cannot create _kiln_asgi: " + FetchTraceback();
    return false;
  }
  PyObject* globals = PyDict_New();
  PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins());
  PyObject* r = PyModule_AddFunctions(mod, kAsgiWsMethods) != 0
                    ? nullptr
                    : PyRun_String(kAsgiPy, Py_file_input, globals, globals);
  Py_DECREF(mod);
  if (r != nullptr) {
    Py_DECREF(r);
    r = PyRun_String(kAsgiWsPy, Py_file_input, globals, globals);
  }
  if (r == nullptr) {
    Py_DECREF(globals);
    *error = "ASGI: " + FetchTraceback();
    return false;
  }
  Py_DECREF(r);
  PyObject* apps = PyDict_New();
  std::vector<std::pair<size_t, PyObject*>> asgi_apps;
  for (size_t i = 0; i < TheApps().size(); ++i) {
    const App& a = TheApps()[i];
    if (!a.asgi || a.callable == nullptr) continue;
    PyObject* key = PyLong_FromSize_t(i);
    PyDict_SetItem(apps, key, a.callable);
    Py_DECREF(key);
    asgi_apps.emplace_back(i, a.callable);
  }
  const Settings& s = TheSettings();
  PyObject* cls = PyDict_GetItemString(globals, "Runner");
  st.runner = PyObject_CallFunction(cls, "ssO", s.asgi_loop.c_str(), s.lifespan.c_str(), apps);
  Py_DECREF(apps);
  Py_DECREF(globals);
  if (st.runner == nullptr) {
    *error = "ASGI: cannot start the event loop (asgi-loop = " + s.asgi_loop + "):\n" +
             FetchTraceback();
    return false;
  }
  PyObject* name = PyObject_GetAttrString(st.runner, "loop_name");
  Log(KILN_LOG_INFO, std::string("ASGI: event loop ") + (name ? PyUnicode_AsUTF8(name) : "?") +
                         " running, lifespan = " + s.lifespan);
  Py_XDECREF(name);
  // Lifespan startup, once per worker before it accepts: the main thread waits on the loop
  // (the wait releases the GIL).
  for (const auto& [index, callable] : asgi_apps) {
    PyObject* res = PyObject_CallMethod(st.runner, "startup", "O", callable);
    if (res == nullptr) {
      *error = "ASGI lifespan startup of `" + TheApps()[index].target + "`: " + FetchTraceback();
      return false;
    }
    if (res != Py_None) {
      *error = PyUnicode_Check(res) ? PyUnicode_AsUTF8(res) : "ASGI lifespan startup failed";
      Py_DECREF(res);
      return false;
    }
    Py_DECREF(res);
  }
  return true;
}

void AsgiShutdown() {
  AsgiState& st = St();
  if (st.runner == nullptr) return;
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject* res = PyObject_CallMethod(st.runner, "shutdown", "d", 30.0);
  if (res == nullptr) Log(KILN_LOG_ERROR, "ASGI lifespan shutdown: " + FetchTraceback());
  Py_XDECREF(res);
  res = PyObject_CallMethod(st.runner, "stop", nullptr);
  if (res == nullptr) FetchTraceback();
  Py_XDECREF(res);
  PyGILState_Release(g);
}

kiln_status AsgiServe(kiln_request* r, const App* app) {
  AsgiState& st = St();
  const kiln_host_api* api = Api();
  if (st.runner == nullptr || !KILN_HAS(api, request_detach)) {
    SetError("the ASGI event loop is not running in this worker");
    return KILN_ERROR;
  }
  Event ev;
  ev.kind = 0;
  ev.token = st.next_token.fetch_add(1, std::memory_order_relaxed);
  ev.app = static_cast<size_t>(app - TheApps().data());
  ev.vars.reserve(api->request_var_count(r));
  api->request_var_each(r, CopyVar, &ev.vars);
  if (KILN_HAS(api, websocket_detach)) {
    switch (api->websocket_detach(r, ev.token, &ev.handle)) {
      case KILN_OK:
        ev.kind = 4;
        break;
      case KILN_ERROR:
        return KILN_OK;  // a broken handshake: kiln answered it (400 or 426)
      default:
        break;
    }
  }
  if (ev.handle == nullptr) ev.handle = api->request_detach(r, ev.token);
  if (ev.handle == nullptr) {
    SetError("this request cannot be answered asynchronously (ASGI)");
    return KILN_ERROR;
  }
  Push(std::move(ev));
  return KILN_OK;
}

void AsgiOnEvent(void*, uint64_t token, const kiln_async_event* e) {
  Event ev;
  ev.token = token;
  switch (e->kind) {
    case KILN_ASYNC_BODY:
      ev.kind = 1;
      ev.data.assign(e->data.ptr, e->data.len);
      ev.more = e->more != 0;
      break;
    case KILN_ASYNC_DISCONNECT:
      ev.kind = 2;
      break;
    case KILN_ASYNC_DRAINED:
      ev.kind = 3;
      break;
    case KILN_ASYNC_WS_TEXT:
    case KILN_ASYNC_WS_BINARY:
    case KILN_ASYNC_WS_CLOSE:
      ev.kind = static_cast<int>(e->kind) + 1;  // 5, 6, 7
      ev.data.assign(e->data.ptr, e->data.len);
      ev.code = e->code;
      break;
    default:
      return;
  }
  Push(std::move(ev));
}

}  // namespace kiln::python
