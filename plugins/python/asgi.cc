// ASGI 3 apps (`asgi = module:callable`, `mount = /p=asgi:module:callable`): each worker runs
// one asyncio (or uvloop) event loop, on its first serving thread (the main thread): the host
// offers that thread (SDK 1.4 on_serve_thread) and the loop runs it, calling the host's
// non-blocking serve_thread_step when its epoll descriptor is readable. Every ASGI request is
// taken over (request_detach) so that one worker serves many at once. On the loop's thread
// nothing crosses threads: a request's scope is built here in C straight from its variables
// and its task created at once, the host's events (body pieces, disconnect, drained) are
// handed to the Runner as they happen, and the app's start/write/want_body/finish calls do
// their work in the host before they return. With threads > 1 the other serving threads hand
// their ASGI requests to the loop as before this design: the variables are copied and queued
// (one eventfd, watched by the loop, says the queue has something), their events queued the
// same way, and the loop's calls for them queued for their serving thread. Python code:
// asgi_py.h.
#include "asgi.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <iterator>
#include <string_view>

#include <atomic>
#include <deque>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "asgi_http.h"
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
  PyObject* state = nullptr;   // the Runner's lifespan state dict (copied into each scope)
  pthread_t loop_thread{};     // the thread that created the loop and runs it
  // The serving thread the loop runs (between on_serve_thread's start and end, loop thread
  // only): while set, requests and events of that thread go to the Runner directly.
  kiln_serve_thread* thread = nullptr;
  // The loop stopped for good (the worker is stopping or serve() failed): the app's calls are
  // dropped, as their connections are gone or going.
  std::atomic<bool> loop_done{false};
  // The loop's turn (PyTurn, loop thread only): the loop object, the timer that steps the
  // serving thread when its wait passes, and when that is due (CLOCK_MONOTONIC, us).
  PyObject* loop = nullptr;
  PyObject* timer = nullptr;
  PyObject* tick = nullptr;  // the timer's callback (PyTick)
  int64_t due_us = 0;
  bool halted = false;
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

// ---- the `http` scope, built from the request's CGI variables (GIL held) ----

std::string_view Sv(kiln_str s) { return std::string_view(s.ptr, s.len); }

PyObject* Key(const char* s) {
  PyObject* k = PyUnicode_InternFromString(s);
  return k;  // kept for the process (interned)
}

PyObject* Latin1(std::string_view v) {
  return PyUnicode_DecodeLatin1(v.data(), static_cast<Py_ssize_t>(v.size()), nullptr);
}

PyObject* Bytes(std::string_view v) {
  return PyBytes_FromStringAndSize(v.data(), static_cast<Py_ssize_t>(v.size()));
}

// `host`, `port` as the scope's client/server: None without a host; the port None unless
// it is a number.
PyObject* Addr(std::string_view host, std::string_view port) {
  if (host.empty()) Py_RETURN_NONE;
  long n = 0;
  bool ok = !port.empty() && port.size() < 10;
  for (char c : port) {
    if (c < '0' || c > '9') {
      ok = false;
      break;
    }
    n = n * 10 + (c - '0');
  }
  PyObject* p = ok ? PyLong_FromLong(n) : Py_NewRef(Py_None);
  return Py_BuildValue("(NN)", Latin1(host), p);
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != b[i]) return false;
  }
  return true;
}

// The scope's `client` or `server` tuple for the last (host, port) seen, handed out again
// while the next request's bytes are the same: a tuple of a str and an int is immutable, so
// the requests of one listen socket (server) or one connection (client) may share it. Loop
// thread, GIL held.
class AddrCache {
 public:
  // A new reference, or null with a Python error set.
  PyObject* Get(std::string_view host, std::string_view port) {
    if (tuple_ != nullptr && host == host_ && port == port_) return Py_NewRef(tuple_);
    PyObject* t = Addr(host, port);
    if (t == nullptr) return nullptr;
    Py_XSETREF(tuple_, Py_NewRef(t));
    host_.assign(host);
    port_.assign(port);
    return t;
  }

 private:
  std::string host_, port_;
  PyObject* tuple_ = nullptr;
};

// Collects the variables one at a time, then makes the scope (what the Python `_scope` made
// before: headers from HTTP_*, CONTENT_TYPE and CONTENT_LENGTH; the rest from the CGI names).
// It keeps views only: the variables must outlive Make.
class ScopeBuilder {
 public:
  void Add(std::string_view name, std::string_view value) {
    const size_t n = name.size();
    if (n < 5) return;
    // By first letter, then by name: most variables are looked at once or twice.
    switch (name[0]) {
      case 'H':
        if (n > 5 && std::memcmp(name.data(), "HTTP_", 5) == 0) {
          if (n == 12 && name == "HTTP_UPGRADE") upgrade_ = true;
          AddHeader(name.substr(5), value, true);
        } else if (name == "HTTPS") {
          https_ = value;
        }
        break;
      case 'R':
        if (name == "REQUEST_URI") uri_ = value;
        else if (name == "REMOTE_ADDR") remote_addr_ = value;
        else if (name == "REMOTE_PORT") remote_port_ = value;
        else if (name == "REQUEST_METHOD") method_ = value;
        break;
      case 'S':
        if (name == "SERVER_NAME") server_name_ = value;
        else if (name == "SERVER_PORT") server_port_ = value;
        else if (name == "SCRIPT_NAME") script_name_ = value;
        else if (name == "SERVER_PROTOCOL") proto_ = value;
        break;
      case 'Q':
        if (name == "QUERY_STRING") query_ = value;
        break;
      case 'P':
        if (name == "PATH_INFO") path_ = value;
        break;
      case 'C':
        if (name == "CONTENT_TYPE") {
          if (!value.empty()) AddHeader("content-type", value, false);
        } else if (name == "CONTENT_LENGTH") {
          if (!value.empty()) AddHeader("content-length", value, false);
        }
        break;
      case 'U':
        if (name == "UWSGI_SCHEME") uwsgi_scheme_ = value;
        break;
      default:
        break;
    }
  }

  // An HTTP_UPGRADE variable was among them (a WebSocket handshake, perhaps).
  bool upgrade() const { return upgrade_; }

  // A new reference, or null with a Python error set.
  PyObject* Make(PyObject* state) {
    static PyObject* const k_type = Key("type");
    static PyObject* const k_asgi = Key("asgi");
    static PyObject* const k_http_version = Key("http_version");
    static PyObject* const k_method = Key("method");
    static PyObject* const k_scheme = Key("scheme");
    static PyObject* const k_path = Key("path");
    static PyObject* const k_raw_path = Key("raw_path");
    static PyObject* const k_query = Key("query_string");
    static PyObject* const k_root = Key("root_path");
    static PyObject* const k_headers = Key("headers");
    static PyObject* const k_client = Key("client");
    static PyObject* const k_server = Key("server");
    static PyObject* const k_state = Key("state");
    static PyObject* const v_https = Key("https");
    static PyObject* const v_slash = Key("/");
    static PyObject* const v_11 = Version({});  // the defaults, kept for the process
    static PyObject* const v_get = Method({});
    // Copies of a scope and of an `asgi` dict with every key in place, whose values are then
    // replaced where the request's differ: one allocation and a copy of the key table each,
    // where inserting 13 keys into a new dict grows its table twice. The shape's values are
    // the common case and immutable (str, bytes), so a request that matches them sets only
    // what is its own: asgi, headers, client, server, state, and path/raw_path when not "/".
    // (Not _PyDict_NewPresized: that table takes any keys and is too large for Python's
    // small-object allocator, a malloc per request.)
    static PyObject* const shape = [] {
      PyObject* d = PyDict_New();
      PyObject* empty_str = PyUnicode_FromStringAndSize("", 0);
      PyObject* empty_bytes = PyBytes_FromStringAndSize("", 0);
      PyObject* slash_bytes = PyBytes_FromStringAndSize("/", 1);
      const std::pair<PyObject*, PyObject*> items[] = {
          {k_type, Key("http")}, {k_asgi, Py_None}, {k_http_version, v_11},
          {k_method, v_get}, {k_scheme, Key("http")}, {k_path, v_slash},
          {k_raw_path, slash_bytes}, {k_query, empty_bytes}, {k_root, empty_str},
          {k_headers, Py_None}, {k_client, Py_None}, {k_server, Py_None}, {k_state, Py_None}};
      for (const auto& [k, v] : items) {
        if (d != nullptr && (v == nullptr || PyDict_SetItem(d, k, v) != 0)) Py_CLEAR(d);
      }
      Py_XDECREF(empty_str);
      Py_XDECREF(empty_bytes);
      Py_XDECREF(slash_bytes);
      return d;
    }();
    static PyObject* const asgi_shape = [] {
      PyObject* d = PyDict_New();
      if (d != nullptr && (PyDict_SetItem(d, Key("version"), Key("3.0")) != 0 ||
                           PyDict_SetItem(d, Key("spec_version"), Key("2.3")) != 0)) {
        Py_CLEAR(d);
      }
      return d;
    }();
    static AddrCache clients, servers;
    if (shape == nullptr || asgi_shape == nullptr) return nullptr;
    PyObject* headers = Headers();
    if (headers == nullptr) return nullptr;
    PyObject* scope = PyDict_Copy(shape);
    if (scope == nullptr) {
      Py_DECREF(headers);
      return nullptr;
    }
    const bool https = EqualsNoCase(https_, "on") || https_ == "1" || uwsgi_scheme_ == "https";
    const size_t q = uri_.find('?');
    const std::string_view raw_path = q == std::string_view::npos ? uri_ : uri_.substr(0, q);
    PyObject* version = Version(proto_);
    PyObject* method = Method(method_);
    const bool own_path = !path_.empty() && path_ != "/";
    const bool own_raw_path = raw_path != "/";
    const struct {
      PyObject* key;
      PyObject* value;  // a new reference, or a borrowed constant when `owned` is false
      bool owned;
      bool set;         // false: the shape's value is this request's already
    } items[] = {
        {k_asgi, PyDict_Copy(asgi_shape), true, true},
        {k_http_version, version, true, version != v_11},
        {k_method, method, true, method != v_get},
        {k_scheme, v_https, false, https},
        {k_path, own_path ? Text(path_) : nullptr, true, own_path},
        {k_raw_path, raw_path.empty() ? Py_None : own_raw_path ? Bytes(raw_path) : nullptr,
         !raw_path.empty(), own_raw_path},
        {k_query, query_.empty() ? nullptr : Bytes(query_), true, !query_.empty()},
        {k_root, script_name_.empty() ? nullptr : Text(script_name_), true,
         !script_name_.empty()},
        {k_headers, headers, true, true},
        {k_client, clients.Get(remote_addr_, remote_port_.empty() ? "0" : remote_port_), true,
         true},
        {k_server, servers.Get(server_name_, server_port_.empty() ? "0" : server_port_), true,
         true},
        {k_state, state != nullptr ? PyDict_Copy(state) : PyDict_New(), true, true},
    };
    bool ok = true;
    for (const auto& it : items) {
      if (it.set && (it.value == nullptr || PyDict_SetItem(scope, it.key, it.value) != 0)) {
        ok = false;
      }
      if (it.owned) Py_XDECREF(it.value);
    }
    if (!ok) {
      Py_DECREF(scope);
      if (!PyErr_Occurred()) PyErr_SetString(PyExc_MemoryError, "ASGI scope");
      return nullptr;
    }
    return scope;
  }

 private:
  // The common methods and versions are the same str objects every time. A new reference.
  static PyObject* OneOf(std::string_view v, PyObject* const* known, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      if (static_cast<size_t>(PyUnicode_GET_LENGTH(known[i])) == v.size() &&
          std::memcmp(PyUnicode_DATA(known[i]), v.data(), v.size()) == 0) {
        return Py_NewRef(known[i]);
      }
    }
    return Latin1(v);
  }

  // GET when there is none. A new reference.
  static PyObject* Method(std::string_view m) {
    static PyObject* const known[] = {Key("GET"),    Key("POST"),  Key("HEAD"),   Key("PUT"),
                                      Key("DELETE"), Key("PATCH"), Key("OPTIONS")};
    if (m.empty()) return Py_NewRef(known[0]);
    return OneOf(m, known, std::size(known));
  }

  // SERVER_PROTOCOL's version ("HTTP/1.1" -> "1.1"); 1.1 when there is none. A new
  // reference.
  static PyObject* Version(std::string_view proto) {
    static PyObject* const known[] = {Key("1.1"), Key("1.0"), Key("2")};
    if (proto.size() <= 5 || proto.compare(0, 5, "HTTP/") != 0) return Py_NewRef(known[0]);
    return OneOf(proto.substr(5), known, std::size(known));
  }

  static PyObject* Text(std::string_view v) {
    return PyUnicode_DecodeUTF8(v.data(), static_cast<Py_ssize_t>(v.size()), "surrogateescape");
  }

  // Trivial (no member initializers), so the inline array costs nothing until used.
  struct HeaderVar {
    const char* name;  // cgi: the variable's name after HTTP_ (FOO_BAR for foo-bar)
    size_t name_len;
    const char* value;
    size_t value_len;
    bool cgi;
  };

  void AddHeader(std::string_view name, std::string_view value, bool cgi) {
    const HeaderVar h{name.data(), name.size(), value.data(), value.size(), cgi};
    if (count_ < kInline) {
      inline_[count_] = h;
    } else {
      more_.push_back(h);
    }
    ++count_;
  }

  // The `headers` list of (name, value) bytes pairs, names lowercased with - for _, in the
  // order of the variables. A new reference, or null with a Python error set.
  PyObject* Headers() const {
    PyObject* list = PyList_New(static_cast<Py_ssize_t>(count_));
    if (list == nullptr) return nullptr;
    std::string big;
    for (size_t i = 0; i < count_; ++i) {
      const HeaderVar& h = i < kInline ? inline_[i] : more_[i - kInline];
      std::string_view name(h.name, h.name_len);
      PyObject* n = h.cgi ? KnownName(name) : nullptr;
      char buf[256];
      if (n == nullptr && h.cgi) {
        char* out = buf;
        if (name.size() > sizeof(buf)) {
          big.resize(name.size());
          out = big.data();
        }
        for (size_t j = 0; j < name.size(); ++j) {
          const char c = name[j];
          out[j] = c == '_' ? '-' : (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
        }
        name = std::string_view(out, name.size());
      }
      PyObject* pair = PyTuple_New(2);
      if (n == nullptr) n = Bytes(name);
      PyObject* v = Bytes(std::string_view(h.value, h.value_len));
      if (pair == nullptr || n == nullptr || v == nullptr) {
        Py_XDECREF(pair);
        Py_XDECREF(n);
        Py_XDECREF(v);
        Py_DECREF(list);
        return nullptr;
      }
      PyTuple_SET_ITEM(pair, 0, n);
      PyTuple_SET_ITEM(pair, 1, v);
      PyList_SET_ITEM(list, static_cast<Py_ssize_t>(i), pair);
    }
    return list;
  }

  // The bytes name of a common header from its variable's name (HOST: b'host'), shared by
  // every request (bytes are immutable); null for the others. A new reference.
  static PyObject* KnownName(std::string_view cgi) {
    static const struct {
      std::string_view cgi;
      PyObject* name;
    } known[] = {{"HOST", Bytes("host")},
                 {"USER_AGENT", Bytes("user-agent")},
                 {"ACCEPT", Bytes("accept")},
                 {"ACCEPT_ENCODING", Bytes("accept-encoding")},
                 {"ACCEPT_LANGUAGE", Bytes("accept-language")},
                 {"CONNECTION", Bytes("connection")},
                 {"COOKIE", Bytes("cookie")},
                 {"AUTHORIZATION", Bytes("authorization")},
                 {"CACHE_CONTROL", Bytes("cache-control")},
                 {"X_FORWARDED_FOR", Bytes("x-forwarded-for")}};
    for (const auto& k : known) {
      if (k.cgi.size() == cgi.size() && k.name != nullptr &&
          std::memcmp(k.cgi.data(), cgi.data(), cgi.size()) == 0) {
        return Py_NewRef(k.name);
      }
    }
    return nullptr;
  }

  // Up to kInline headers need no allocation (a request rarely has more).
  static constexpr size_t kInline = 32;
  HeaderVar inline_[kInline];
  std::vector<HeaderVar> more_;
  size_t count_ = 0;
  bool upgrade_ = false;
  std::string_view uri_, server_name_, server_port_, remote_addr_, remote_port_, script_name_,
      query_, uwsgi_scheme_, method_, path_, https_, proto_;
};

int AddToScope(void* arg, kiln_str name, kiln_str value) {
  static_cast<ScopeBuilder*>(arg)->Add(Sv(name), Sv(value));
  return 0;
}

// True on the loop's thread while the loop runs the serving thread: requests and events there
// go to the Runner directly (the GIL is held: we are inside the loop's serve_thread_step or
// inside one of its calls).
bool OnLoopThread() {
  AsgiState& st = St();
  return st.thread != nullptr && pthread_equal(pthread_self(), st.loop_thread) != 0;
}

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
      case 4: {  // a request, or a WebSocket (Runner.begin_ws turns its scope into `websocket`)
        ScopeBuilder b;
        for (const auto& [name, value] : ev.vars) b.Add(name, value);
        PyObject* scope = b.Make(st.state);
        if (scope == nullptr) {
          Py_DECREF(list);
          return nullptr;
        }
        item = Py_BuildValue("(iKNnN)", ev.kind, static_cast<unsigned long long>(ev.token),
                             PyLong_FromVoidPtr(ev.handle), static_cast<Py_ssize_t>(ev.app),
                             scope);
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

// finish(h, ok[, body]): with `body`, its last piece first (one call for the common end).
PyObject* PyFinish(PyObject*, PyObject* args) {
  PyObject* h;
  int ok;
  Py_buffer body{};
  if (!PyArg_ParseTuple(args, "Op|y*", &h, &ok, &body)) return nullptr;
  if (St().loop_done) {
    if (body.obj != nullptr) PyBuffer_Release(&body);
    Py_RETURN_NONE;
  }
  if (body.obj != nullptr) {
    Api()->async_response_write(HandleOf(h),
                                StrOf(static_cast<const char*>(body.buf), body.len), 0);
    PyBuffer_Release(&body);
  }
  Api()->async_finish(HandleOf(h), ok ? KILN_OK : KILN_ERROR);
  Py_RETURN_NONE;
}

int64_t MonotonicUs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

// The loop's callback when the serving thread's epoll descriptor is readable (and its timer's):
// runs what is ready there (requests go to the apps from inside it), then keeps a timer for
// when the thread wants its next step; on a stop, stops the loop once.
PyObject* PyTurn(PyObject*, PyObject*) {
  AsgiState& st = St();
  if (st.halted) Py_RETURN_NONE;
  const int64_t w = st.thread != nullptr ? Api()->serve_thread_step(st.thread) : -2;
  if (w < 0) {  // -1: this thread's requests are done (graceful); -2: stop now
    st.halted = true;  // once: a second stop() would end the lifespan shutdown's run too
    return PyObject_CallMethod(st.loop, "stop", nullptr);
  }
  // The deadline moves only at a sweep (or a fresh unix connection); 5 ms of slack keeps the
  // timer from being re-armed on every turn.
  const int64_t due = MonotonicUs() + w;
  if (st.timer == nullptr || due < st.due_us - 5000) {
    if (st.timer != nullptr) {
      PyObject* r = PyObject_CallMethod(st.timer, "cancel", nullptr);
      Py_XDECREF(r);
      Py_CLEAR(st.timer);
      if (r == nullptr) return nullptr;
    }
    st.timer = PyObject_CallMethod(st.loop, "call_later", "dO", static_cast<double>(w) / 1e6,
                                   st.tick);
    if (st.timer == nullptr) return nullptr;
    st.due_us = due;
  }
  Py_RETURN_NONE;
}

PyObject* PyTick(PyObject* self, PyObject* args) {
  Py_CLEAR(St().timer);
  return PyTurn(self, args);
}

// serve_begin(): the serving thread's epoll descriptor, for the loop to watch with turn.
PyObject* PyServeBegin(PyObject*, PyObject*) {
  AsgiState& st = St();
  st.halted = false;
  return PyLong_FromLong(st.thread == nullptr ? -1 : Api()->serve_thread_fd(st.thread));
}

PyObject* PyServeEnd(PyObject*, PyObject*) {
  AsgiState& st = St();
  if (st.timer != nullptr) {
    PyObject* r = PyObject_CallMethod(st.timer, "cancel", nullptr);
    if (r == nullptr) PyErr_Clear();
    Py_XDECREF(r);
    Py_CLEAR(st.timer);
  }
  AsgiHttpClose();
  Py_RETURN_NONE;
}

PyMethodDef kMethods[] = {
    {"turn", PyTurn, METH_NOARGS, "Step the serving thread the loop runs."},
    {"serve_begin", PyServeBegin, METH_NOARGS, "The serving thread's epoll descriptor."},
    {"serve_end", PyServeEnd, METH_NOARGS, "The loop stopped serving."},
    {"take", PyTake, METH_NOARGS, "Events queued for the loop."},
    {"fd", PyFd, METH_NOARGS, "The eventfd the loop watches."},
    {"begin", AsgiHttpPyBegin, METH_VARARGS, "Run an ASGI app for an HTTP request."},
    {"http_event", AsgiHttpPyEvent, METH_VARARGS, "An HTTP request's event; False if none."},
    {"finish", PyFinish, METH_VARARGS, "End the request."},
    {nullptr, nullptr, 0, nullptr}};

PyMethodDef kTickDef = {"tick", PyTick, METH_NOARGS, "The serving thread's timer."};

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
  PyObject* r = PyModule_AddFunctions(mod, kAsgiWsMethods) != 0 || !AsgiHttpInit(mod)
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
  st.loop_thread = pthread_self();
  st.state = PyObject_GetAttrString(st.runner, "state");
  st.loop = PyObject_GetAttrString(st.runner, "loop");
  st.tick = PyCFunction_New(&kTickDef, nullptr);
  PyObject* new_slot = PyObject_GetAttrString(st.runner, "new_slot");
  const bool bound = st.loop != nullptr && new_slot != nullptr && AsgiHttpBind(st.loop, new_slot);
  Py_XDECREF(new_slot);
  if (st.state == nullptr || st.tick == nullptr || !bound) {
    *error = "ASGI: " + FetchTraceback();
    return false;
  }
  PyObject* name = PyObject_GetAttrString(st.runner, "loop_name");
  Log(KILN_LOG_INFO, std::string("ASGI: event loop ") + (name ? PyUnicode_AsUTF8(name) : "?") +
                         " running, lifespan = " + s.lifespan);
  Py_XDECREF(name);
  // Lifespan startup, once per worker before it accepts, on the loop (run until each app's
  // startup completes; the lifespan tasks then wait in the loop for the shutdown).
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
  st.loop_done = true;
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject* res = PyObject_CallMethod(st.runner, "shutdown", "d", 30.0);
  if (res == nullptr) Log(KILN_LOG_ERROR, "ASGI lifespan shutdown: " + FetchTraceback());
  Py_XDECREF(res);
  PyGILState_Release(g);
}

bool AsgiLoopHoldsGil() { return OnLoopThread(); }

bool AsgiLoopDone() { return St().loop_done; }

// asgi-loop-thread: the loop on a thread of its own (`own`, or `auto` in a worker whose apps
// include WSGI ones as well as ASGI ones), else on the first serving thread.
static bool LoopOnItsOwnThread() {
  const std::string& mode = TheSettings().asgi_loop_thread;
  if (mode != "auto") return mode == "own";
  for (const App& a : TheApps()) {
    if (!a.asgi) return true;
  }
  return false;
}

kiln_status AsgiServeThread(void*, kiln_serve_thread* t) {
  AsgiState& st = St();
  if (st.runner == nullptr || st.loop_done || !KILN_HAS(Api(), serve_thread_step) ||
      pthread_equal(pthread_self(), st.loop_thread) == 0) {
    return KILN_DECLINED;
  }
  PyGILState_STATE g = PyGILState_Ensure();
  if (LoopOnItsOwnThread()) {
    // WSGI apps beside the ASGI ones (asgi-loop-thread): the serving threads run their own
    // loops (a WSGI request pays nothing for the event loop, and is called with no loop
    // running, as in a WSGI-only worker), and the loop runs on a thread of its own, fed
    // through the queue; AsgiServeThreadsDone stops it.
    PyObject* res = PyObject_CallMethod(st.runner, "start_queued", nullptr);
    if (res == nullptr) {
      Log(KILN_LOG_ERROR, "ASGI: cannot start the event loop's thread: " + FetchTraceback());
      st.loop_done = true;
    }
    Py_XDECREF(res);
    PyGILState_Release(g);
    return KILN_DECLINED;
  }
  st.thread = t;
  PyObject* res = PyObject_CallMethod(st.runner, "serve", nullptr);
  st.thread = nullptr;
  // Whatever the loop still holds belongs to connections that are gone (an immediate stop) or
  // to a loop that failed; from now on the app's calls are dropped.
  st.loop_done = true;
  if (res == nullptr) Log(KILN_LOG_ERROR, "ASGI event loop failed: " + FetchTraceback());
  Py_XDECREF(res);
  PyGILState_Release(g);
  return KILN_OK;
}

void AsgiServeThreadsDone(void*) {
  AsgiState& st = St();
  if (st.runner == nullptr) return;
  // The handles of requests still taken over go with the serving threads: from now on the
  // app's calls are dropped (each checks before it calls the host), and the loop's own
  // thread, if it runs one, is stopped (a call already past its check ends before the
  // thread does).
  st.loop_done = true;
  PyGILState_STATE g = PyGILState_Ensure();
  // 2 s: within the 3 s an immediate stop gives a worker before SIGKILL.
  PyObject* res = PyObject_CallMethod(st.runner, "stop_queued", "d", 2.0);
  if (res == nullptr) {
    Log(KILN_LOG_ERROR, "ASGI: stopping the event loop: " + FetchTraceback());
  } else if (res == Py_False) {
    Log(KILN_LOG_WARNING, "ASGI: the event loop's thread did not stop within 2 s (an app is "
                          "blocking it); the worker exits without it");
  }
  Py_XDECREF(res);
  PyGILState_Release(g);
}

// On the loop's thread, GIL held: hands a detached request (Runner.begin, with its `http`
// scope) or WebSocket (Runner.begin_ws, with the same `http` scope, made `websocket` there) to the Runner, which starts its
// task. Steals `arg` (null: building it failed, an exception is set). A failure finishes the
// request as an error: it is detached already, so the host answers 500.
kiln_status BeginOnLoop(const char* method, uint64_t token, kiln_async* handle, size_t index,
                        PyObject* arg) {
  PyObject* name = PyUnicode_InternFromString(method);
  PyObject* tok = PyLong_FromUnsignedLongLong(token);
  PyObject* h = PyLong_FromVoidPtr(handle);
  PyObject* idx = PyLong_FromSize_t(index);
  PyObject* res = name && tok && h && idx && arg
                      ? PyObject_CallMethodObjArgs(St().runner, name, tok, h, idx, arg, nullptr)
                      : nullptr;
  Py_XDECREF(name);
  Py_XDECREF(tok);
  Py_XDECREF(h);
  Py_XDECREF(idx);
  Py_XDECREF(arg);
  if (res == nullptr) {
    Log(KILN_LOG_ERROR, "ASGI: cannot start the request's task: " + FetchTraceback());
    Api()->async_finish(handle, KILN_ERROR);
  }
  Py_XDECREF(res);
  return KILN_OK;
}

kiln_status AsgiServe(kiln_request* r, const App* app) {
  AsgiState& st = St();
  const kiln_host_api* api = Api();
  if (st.runner == nullptr || st.loop_done || !KILN_HAS(api, request_detach)) {
    SetError("the ASGI event loop is not running in this worker");
    return KILN_ERROR;
  }
  const uint64_t token = st.next_token.fetch_add(1, std::memory_order_relaxed);
  const size_t index = static_cast<size_t>(app - TheApps().data());
  if (OnLoopThread()) {
    // The loop's own thread, GIL held: scope and task now, no queue. The scope is built
    // first (the variables are the request's until it is detached); a WebSocket handshake
    // (an HTTP_UPGRADE among them) takes the same scope to Runner.begin_ws.
    ScopeBuilder b;
    api->request_var_each(r, AddToScope, &b);
    PyObject* scope = b.Make(st.state);
    if (scope == nullptr) {
      SetError("ASGI: cannot build the scope: " + FetchTraceback());
      return KILN_ERROR;
    }
    if (b.upgrade() && KILN_HAS(api, websocket_detach)) {
      kiln_async* ws = nullptr;
      switch (api->websocket_detach(r, token, &ws)) {
        case KILN_OK:
          return BeginOnLoop("begin_ws", token, ws, index, scope);
        case KILN_ERROR:
          Py_DECREF(scope);
          return KILN_OK;  // a broken handshake: kiln answered it (400 or 426)
        default:
          break;  // not a WebSocket handshake: an ordinary request
      }
    }
    kiln_async* handle = api->request_detach(r, token);
    if (handle == nullptr) {
      Py_DECREF(scope);
      SetError("this request cannot be answered asynchronously (ASGI)");
      return KILN_ERROR;
    }
    AsgiHttpBegin(token, handle, app->callable, scope);
    return KILN_OK;
  }
  Event ev;
  ev.kind = 0;
  ev.token = token;
  ev.app = index;
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
  if (OnLoopThread()) {
    // Inside the loop's serve_thread_step (or one of its calls), GIL held: straight to the
    // Runner, which resolves the request's future (the app runs on the loop's next turn).
    PyObject* res = nullptr;
    switch (e->kind) {
      case KILN_ASYNC_BODY:
        if (AsgiHttpEvent(token, 1, e->data.ptr, e->data.len, e->more != 0)) return;
        res = PyObject_CallMethod(St().runner, "event", "iKy#O", 1,
                                  static_cast<unsigned long long>(token), e->data.ptr,
                                  static_cast<Py_ssize_t>(e->data.len),
                                  e->more != 0 ? Py_True : Py_False);
        break;
      case KILN_ASYNC_DISCONNECT:
      case KILN_ASYNC_DRAINED:
        if (AsgiHttpEvent(token, e->kind == KILN_ASYNC_DISCONNECT ? 2 : 3, nullptr, 0, false)) {
          return;
        }
        res = PyObject_CallMethod(St().runner, "event", "iK",
                                  e->kind == KILN_ASYNC_DISCONNECT ? 2 : 3,
                                  static_cast<unsigned long long>(token));
        break;
      case KILN_ASYNC_WS_TEXT:
      case KILN_ASYNC_WS_BINARY:
      case KILN_ASYNC_WS_CLOSE: {
        PyObject* ev = AsgiWsEventTuple(static_cast<int>(e->kind) + 1, token,
                                        e->data.len != 0 ? std::string(e->data.ptr, e->data.len) : std::string(), e->code);
        res = ev != nullptr ? PyObject_CallMethod(St().runner, "ws_event", "(O)", ev) : nullptr;
        Py_XDECREF(ev);
        break;
      }
      default:
        return;
    }
    if (res == nullptr) Log(KILN_LOG_ERROR, "ASGI event: " + FetchTraceback());
    Py_XDECREF(res);
    return;
  }
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
