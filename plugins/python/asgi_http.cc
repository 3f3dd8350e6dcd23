// ASGI `http` requests in C (asgi_http.h says why). Everything here runs on the loop's thread
// with the GIL held. Ownership: each running request is a Python object (HttpReq) owned by the
// `g.reqs` table until the app's coroutine ends (Done), and by its bound `receive`/`send`; the
// app's coroutine, its pending futures and its scope are owned by the request. Bytes the app
// passes to `send` are copied by the host before the call returns.
#include "asgi_http.h"

#include <time.h>

#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "asgi.h"

namespace kiln::python {
namespace {

struct HttpReq {
  PyObject_HEAD
  kiln_async* h;
  uint64_t token;
  PyObject* scope;      // for the log lines
  PyObject* coro;       // the app's awaitable, while the C driver holds it
  PyObject* body_fut;   // receive() waiting for a body piece
  PyObject* disc_fut;   // receive() waiting for the client to leave
  PyObject* drain_fut;  // send() waiting for the socket to take what was written
  size_t unacked;       // bytes written with more_body since the last drained event
  bool started, finished, gone, body_done, done;
};

// An awaitable that is already complete with `value` (None when null): what send() returns,
// and receive() when its message is there. No future, no loop involvement.
struct Ready {
  PyObject_HEAD
  PyObject* value;
};

struct Globals {
  PyObject* loop = nullptr;
  PyObject* new_slot = nullptr;     // Runner's new_slot(): (task, box)
  PyObject* slot_task = nullptr;    // the idle task the next request runs as (current_task)
  PyObject* slot_box = nullptr;
  PyObject* enter_task = nullptr;   // asyncio.tasks._enter_task / _leave_task
  PyObject* leave_task = nullptr;
  PyObject* done_ready = nullptr;   // a Ready of None, shared
  std::unordered_map<uint64_t, HttpReq*> reqs;  // owning references
  // Nodes of ended requests, reused for the next ones (no malloc per request).
  std::vector<std::unordered_map<uint64_t, HttpReq*>::node_type> spare_nodes;
  // Interned strings.
  PyObject *s_type, *s_status, *s_headers, *s_body, *s_more_body, *s_http_request,
      *s_http_disconnect, *s_response_start, *s_response_body, *s_create_future, *s_set_result,
      *s_done, *s_method, *s_path, *s_wake, *s_req, *s_coro, *s_first, *s_ctx;
};

Globals& G() {
  static Globals* g = new Globals;  // lives as long as the interpreter's objects it holds
  return *g;
}

const kiln_host_api* Api() { return TheHost().api; }

extern PyTypeObject kHttpReqType;
extern PyTypeObject kReadyType;

// ---- Ready ----

PyObject* ReadyOf(PyObject* value /* stolen */) {
  Ready* r = PyObject_New(Ready, &kReadyType);
  if (r == nullptr) {
    Py_XDECREF(value);
    return nullptr;
  }
  r->value = value;
  return reinterpret_cast<PyObject*>(r);
}

void ReadyDealloc(PyObject* self) {
  Py_XDECREF(reinterpret_cast<Ready*>(self)->value);
  PyObject_Free(self);
}

PyObject* ReadyAwait(PyObject* self) { return Py_NewRef(self); }

PySendResult ReadySend(PyObject* self, PyObject*, PyObject** result) {
  PyObject* v = reinterpret_cast<Ready*>(self)->value;
  *result = Py_NewRef(v != nullptr ? v : Py_None);
  return PYGEN_RETURN;
}

PyObject* ReadyNext(PyObject* self) {
  PyObject* v = reinterpret_cast<Ready*>(self)->value;
  if (v == nullptr || v == Py_None) return nullptr;  // StopIteration(None)
  PyObject* e = PyObject_CallOneArg(PyExc_StopIteration, v);
  if (e != nullptr) {
    PyErr_SetObject(PyExc_StopIteration, e);
    Py_DECREF(e);
  }
  return nullptr;
}

PyAsyncMethods kReadyAsync = {ReadyAwait, nullptr, nullptr, ReadySend};

PyTypeObject kReadyType = [] {
  PyTypeObject t{PyVarObject_HEAD_INIT(nullptr, 0)};
  t.tp_name = "_kiln_asgi.Ready";
  t.tp_basicsize = sizeof(Ready);
  t.tp_dealloc = ReadyDealloc;
  t.tp_as_async = &kReadyAsync;
  t.tp_iter = PyObject_SelfIter;
  t.tp_iternext = ReadyNext;
  t.tp_flags = Py_TPFLAGS_DEFAULT;
  t.tp_doc = "An awaitable that is already complete (kiln's ASGI send and receive).";
  return t;
}();

// ---- helpers ----

// message[key] for a dict or any mapping; a new reference, `dflt` (borrowed, may be null:
// then a KeyError) when absent.
PyObject* Item(PyObject* msg, PyObject* key, PyObject* dflt) {
  if (PyDict_CheckExact(msg)) {
    PyObject* v = PyDict_GetItemWithError(msg, key);
    if (v != nullptr) return Py_NewRef(v);
    if (PyErr_Occurred()) return nullptr;
  } else {
    PyObject* v = PyObject_GetItem(msg, key);
    if (v != nullptr) return v;
    if (!PyErr_ExceptionMatches(PyExc_KeyError)) return nullptr;
    PyErr_Clear();
  }
  if (dflt == nullptr) {
    PyErr_SetObject(PyExc_KeyError, key);
    return nullptr;
  }
  return Py_NewRef(dflt);
}

// A message send() was given, its fields read once. A dict whose keys are all ones send()
// knows, as the same (interned) objects an app's literals are, is read in one walk over its
// items; any other message has each field looked up as asked (Item). The walk's values are
// held (new references) until the message is done with: reading one may run Python code.
class Message {
 public:
  enum Field { kType, kStatus, kHeaders, kBody, kMoreBody, kFields };

  explicit Message(PyObject* msg) : msg_(msg) { walked_ = Walk(); }
  ~Message() {
    if (walked_) {
      for (PyObject* v : got_) Py_XDECREF(v);
    }
  }
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;

  // msg[key] (`key` is the interned name of `field`): a new reference, `dflt` (borrowed, may
  // be null: then a KeyError) when absent.
  PyObject* Get(Field field, PyObject* key, PyObject* dflt) const {
    if (!walked_) return Item(msg_, key, dflt);
    if (got_[field] != nullptr) return Py_NewRef(got_[field]);
    if (dflt == nullptr) {
      PyErr_SetObject(PyExc_KeyError, key);
      return nullptr;
    }
    return Py_NewRef(dflt);
  }

 private:
  bool Walk() {
    if (!PyDict_CheckExact(msg_)) return false;
    Globals& g = G();
    PyObject* const keys[kFields] = {g.s_type, g.s_status, g.s_headers, g.s_body, g.s_more_body};
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(msg_, &pos, &k, &v)) {
      int i = 0;
      while (i < kFields && keys[i] != k) ++i;
      if (i == kFields) return false;
      got_[i] = v;
    }
    for (PyObject* o : got_) Py_XINCREF(o);
    return true;
  }

  PyObject* msg_;
  PyObject* got_[kFields] = {};
  bool walked_ = false;
};

// `o` is a str equal to `s` (interned, ready). Most message types come as the same object or
// as an equal compact string, compared here without a call.
bool SameText(PyObject* o, PyObject* s) {
  if (o == s) return true;
  if (!PyUnicode_Check(o)) return false;
  if (!PyUnicode_IS_READY(o)) return PyUnicode_Compare(o, s) == 0;
  const Py_ssize_t n = PyUnicode_GET_LENGTH(s);
  return PyUnicode_GET_LENGTH(o) == n && PyUnicode_KIND(o) == PyUnicode_KIND(s) &&
         std::memcmp(PyUnicode_DATA(o), PyUnicode_DATA(s),
                     static_cast<size_t>(n) * PyUnicode_KIND(s)) == 0;
}

PyObject* NewDisconnect() {
  Globals& g = G();
  PyObject* d = PyDict_New();
  if (d != nullptr && PyDict_SetItem(d, g.s_type, g.s_http_disconnect) != 0) Py_CLEAR(d);
  return d;
}

PyObject* NewFuture() {
  return PyObject_CallMethodNoArgs(G().loop, G().s_create_future);
}

// fut.set_result(value) unless fut is done (cancelled by the app); takes fut's reference.
void Resolve(PyObject*& fut, PyObject* value) {
  if (fut == nullptr) return;
  PyObject* f = fut;
  fut = nullptr;
  PyObject* done = PyObject_CallMethodNoArgs(f, G().s_done);
  if (done == Py_False) {
    PyObject* r = PyObject_CallMethodOneArg(f, G().s_set_result, value);
    if (r == nullptr) Log(KILN_LOG_ERROR, "ASGI: " + FetchTraceback());
    Py_XDECREF(r);
  } else if (done == nullptr) {
    PyErr_Clear();
  }
  Py_XDECREF(done);
  Py_DECREF(f);
}

std::string ScopeText(HttpReq* r, PyObject* key) {
  PyObject* v = r->scope != nullptr ? PyDict_GetItemWithError(r->scope, key) : nullptr;
  const char* s = v != nullptr && PyUnicode_Check(v) ? PyUnicode_AsUTF8(v) : nullptr;
  if (s == nullptr) PyErr_Clear();
  return s != nullptr ? s : "?";
}

// The response is over (or never will be): the host is told once, and receive() then answers
// http.disconnect.
void Finish(HttpReq* r, bool ok) {
  if (r->finished) return;
  r->finished = true;
  if (!AsgiLoopDone()) Api()->async_finish(r->h, ok ? KILN_OK : KILN_ERROR);
  if (r->disc_fut != nullptr) {
    PyObject* d = NewDisconnect();
    if (d != nullptr) Resolve(r->disc_fut, d);
    Py_XDECREF(d);
  }
}

// The app's coroutine ended: with `traceback` (not null) it raised. The request leaves the table.
void Done(HttpReq* r, const std::string* traceback) {
  if (r->done) return;
  r->done = true;
  Globals& g = G();
  if (traceback != nullptr) {
    Log(KILN_LOG_ERROR, "ASGI app failed on " + ScopeText(r, g.s_method) + " " +
                            ScopeText(r, g.s_path) + ":\n" + *traceback);
    Finish(r, false);
  } else if (!r->finished) {
    Log(KILN_LOG_WARNING, std::string("ASGI app returned without ") +
                              (r->started ? "completing its" : "starting a") + " response for " +
                              ScopeText(r, g.s_method) + " " + ScopeText(r, g.s_path));
    Finish(r, false);
  }
  Py_CLEAR(r->coro);
  auto it = g.reqs.find(r->token);
  if (it != g.reqs.end() && it->second == r) {
    auto node = g.reqs.extract(it);
    if (g.spare_nodes.size() < 64) g.spare_nodes.push_back(std::move(node));
    Py_DECREF(r);
  }
}

// ---- receive / send ----

PyObject* Receive(PyObject* self, PyObject*) {
  HttpReq* r = reinterpret_cast<HttpReq*>(self);
  if (r->gone || r->finished) return ReadyOf(NewDisconnect());
  if (r->body_done) {
    // Nothing more to read: the next message is the client leaving (or the response ending).
    if (r->disc_fut == nullptr && (r->disc_fut = NewFuture()) == nullptr) return nullptr;
    return Py_NewRef(r->disc_fut);
  }
  if (r->body_fut == nullptr) {
    if ((r->body_fut = NewFuture()) == nullptr) return nullptr;
    PyObject* fut = Py_NewRef(r->body_fut);
    // On this thread outside the host's own turn, the piece may come back inside this call
    // (AsgiHttpEvent resolves the future before it is returned).
    if (!AsgiLoopDone()) Api()->async_body_request(r->h);
    return fut;
  }
  return Py_NewRef(r->body_fut);
}

// The headers of http.response.start: any iterable of 2-item sequences of bytes.
bool StartResponse(HttpReq* r, const Message& msg) {
  Globals& g = G();
  PyObject* status_o = msg.Get(Message::kStatus, g.s_status, nullptr);
  if (status_o == nullptr) return false;
  const long status = PyLong_AsLong(status_o);
  Py_DECREF(status_o);
  if (status == -1 && PyErr_Occurred()) return false;
  PyObject* headers_o = msg.Get(Message::kHeaders, g.s_headers, Py_None);
  if (headers_o == nullptr) return false;
  // Up to kInline headers need no allocation (a response rarely has more).
  constexpr Py_ssize_t kInline = 24;
  kiln_header inline_hs[kInline];
  PyObject* inline_pairs[kInline];
  std::vector<kiln_header> more_hs;
  std::vector<PyObject*> more_pairs;
  PyObject* seq = headers_o == Py_None
                      ? PyTuple_New(0)
                      : PySequence_Fast(headers_o, "ASGI: headers must be an iterable of pairs");
  Py_DECREF(headers_o);
  if (seq == nullptr) return false;
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  if (n > kInline) {
    more_hs.resize(static_cast<size_t>(n));
    more_pairs.resize(static_cast<size_t>(n));
  }
  kiln_header* hs = n > kInline ? more_hs.data() : inline_hs;
  // The pairs (PySequence_Fast of each item) stay alive for the call: hs points into them.
  PyObject** pairs = n > kInline ? more_pairs.data() : inline_pairs;
  Py_ssize_t held = 0;
  bool ok = true;
  for (Py_ssize_t i = 0; i < n && ok; ++i) {
    PyObject* item = PySequence_Fast_GET_ITEM(seq, i);
    PyObject* pair = PyTuple_CheckExact(item) ? Py_NewRef(item)
                                               : PySequence_Fast(item, "ASGI: a header is a pair");
    if (pair == nullptr) {
      ok = false;
      break;
    }
    pairs[held++] = pair;
    char *name, *value;
    Py_ssize_t nl, vl;
    if (PySequence_Fast_GET_SIZE(pair) != 2 ||
        !PyBytes_Check(PySequence_Fast_GET_ITEM(pair, 0)) ||
        !PyBytes_Check(PySequence_Fast_GET_ITEM(pair, 1))) {
      PyErr_SetString(PyExc_TypeError, "ASGI: headers are (bytes, bytes) pairs");
      ok = false;
      break;
    }
    PyBytes_AsStringAndSize(PySequence_Fast_GET_ITEM(pair, 0), &name, &nl);
    PyBytes_AsStringAndSize(PySequence_Fast_GET_ITEM(pair, 1), &value, &vl);
    hs[i] = {kiln_str{name, static_cast<size_t>(nl)}, kiln_str{value, static_cast<size_t>(vl)}};
  }
  if (ok && !AsgiLoopDone() &&
      Api()->async_response_start(r->h, static_cast<int>(status), kiln_str{"", 0}, hs,
                                  static_cast<size_t>(n)) != KILN_OK) {
    PyErr_Format(PyExc_ValueError,
                 "invalid response: status %ld outside 100..999 or a header with CR/LF", status);
    ok = false;
  }
  for (Py_ssize_t i = 0; i < held; ++i) Py_DECREF(pairs[i]);
  Py_DECREF(seq);
  if (ok) r->started = true;
  return ok;
}

PyObject* Send(PyObject* self, PyObject* arg) {
  HttpReq* r = reinterpret_cast<HttpReq*>(self);
  Globals& g = G();
  const Message msg(arg);
  PyObject* type = msg.Get(Message::kType, g.s_type, nullptr);
  if (type == nullptr) return nullptr;
  const bool is_start = SameText(type, g.s_response_start);
  const bool is_body = !is_start && SameText(type, g.s_response_body);
  if (r->finished) {
    PyErr_Format(PyExc_RuntimeError, "ASGI: %R sent after the response was complete", type);
    Py_DECREF(type);
    return nullptr;
  }
  if (!is_start && !is_body) {
    PyErr_Format(PyExc_RuntimeError, "ASGI: unexpected message type %R", type);
    Py_DECREF(type);
    return nullptr;
  }
  Py_DECREF(type);
  if (r->gone) return Py_NewRef(g.done_ready);
  if (is_start) {
    if (r->started) {
      PyErr_SetString(PyExc_RuntimeError, "ASGI: http.response.start sent twice");
      return nullptr;
    }
    if (!StartResponse(r, msg)) return nullptr;
    return Py_NewRef(g.done_ready);
  }
  if (!r->started) {
    PyErr_SetString(PyExc_RuntimeError, "ASGI: http.response.body before http.response.start");
    return nullptr;
  }
  PyObject* body = msg.Get(Message::kBody, g.s_body, nullptr);
  if (body == nullptr) {
    if (!PyErr_ExceptionMatches(PyExc_KeyError)) return nullptr;
    PyErr_Clear();
  }
  PyObject* more_o = msg.Get(Message::kMoreBody, g.s_more_body, Py_False);
  if (more_o == nullptr) {
    Py_XDECREF(body);
    return nullptr;
  }
  const int more = PyObject_IsTrue(more_o);
  Py_DECREF(more_o);
  Py_buffer buf{};
  if (more < 0 || (body != nullptr && PyObject_GetBuffer(body, &buf, PyBUF_SIMPLE) != 0)) {
    Py_XDECREF(body);
    return nullptr;
  }
  const kiln_str data{static_cast<const char*>(buf.buf), static_cast<size_t>(buf.len)};
  if (more) {
    // Counted before the write: on this thread the write happens in the call, and a drained
    // event may come back inside it.
    r->unacked += data.len;
    if (data.len > 0 && !AsgiLoopDone()) Api()->async_response_write(r->h, data, 1);
  } else {
    if (data.len > 0 && !AsgiLoopDone()) Api()->async_response_write(r->h, data, 0);
  }
  if (body != nullptr) PyBuffer_Release(&buf);
  Py_XDECREF(body);
  if (!more) {
    Finish(r, true);  // the last piece and the end
    return Py_NewRef(g.done_ready);
  }
  if (r->unacked >= KILN_ASYNC_DRAIN_BYTES && !r->gone) {
    if (r->drain_fut == nullptr && (r->drain_fut = NewFuture()) == nullptr) return nullptr;
    return Py_NewRef(r->drain_fut);
  }
  return Py_NewRef(g.done_ready);
}

// req.done(traceback or None): the end of a coroutine the slot task ran (asgi_py.h).
PyObject* PyDone(PyObject* self, PyObject* tb) {
  HttpReq* r = reinterpret_cast<HttpReq*>(self);
  if (tb == Py_None) {
    Done(r, nullptr);
  } else {
    const char* s = PyUnicode_Check(tb) ? PyUnicode_AsUTF8(tb) : nullptr;
    const std::string text = s != nullptr ? s : "(no traceback)";
    if (s == nullptr) PyErr_Clear();
    Done(r, &text);
  }
  Py_RETURN_NONE;
}

PyMethodDef kReceiveDef = {"receive", Receive, METH_NOARGS, "ASGI receive()."};
PyMethodDef kSendDef = {"send", Send, METH_O, "ASGI send(message)."};
PyMethodDef kReqMethods[] = {
    {"done", PyDone, METH_O, "The app's coroutine ended (None, or the traceback text)."},
    {nullptr, nullptr, 0, nullptr}};

int ReqTraverse(PyObject* self, visitproc visit, void* arg) {
  HttpReq* r = reinterpret_cast<HttpReq*>(self);
  Py_VISIT(r->scope);
  Py_VISIT(r->coro);
  Py_VISIT(r->body_fut);
  Py_VISIT(r->disc_fut);
  Py_VISIT(r->drain_fut);
  return 0;
}

int ReqClear(PyObject* self) {
  HttpReq* r = reinterpret_cast<HttpReq*>(self);
  Py_CLEAR(r->scope);
  Py_CLEAR(r->coro);
  Py_CLEAR(r->body_fut);
  Py_CLEAR(r->disc_fut);
  Py_CLEAR(r->drain_fut);
  return 0;
}

void ReqDealloc(PyObject* self) {
  PyObject_GC_UnTrack(self);
  ReqClear(self);
  PyObject_GC_Del(self);
}

PyTypeObject kHttpReqType = [] {
  PyTypeObject t{PyVarObject_HEAD_INIT(nullptr, 0)};
  t.tp_name = "_kiln_asgi.HttpRequest";
  t.tp_basicsize = sizeof(HttpReq);
  t.tp_dealloc = ReqDealloc;
  t.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC;
  t.tp_traverse = ReqTraverse;
  t.tp_clear = ReqClear;
  t.tp_methods = kReqMethods;
  t.tp_doc = "An ASGI http request kiln is answering.";
  return t;
}();

// ---- driving the coroutine ----

// Calls f(loop, task); false (the error cleared) when asyncio refuses, as when a task is
// already running: the app then runs as part of that one, as it would with an awaited call.
bool TaskCall(PyObject* f, PyObject* task) {
  PyObject* args[] = {G().loop, task};
  PyObject* r = PyObject_Vectorcall(f, args, 2, nullptr);
  if (r == nullptr) {
    PyErr_Clear();
    return false;
  }
  Py_DECREF(r);
  return true;
}

// The idle task the next request runs as, made when there is none (new_slot()).
bool EnsureSlot() {
  Globals& g = G();
  if (g.slot_task != nullptr) return true;
  PyObject* pair = PyObject_CallNoArgs(g.new_slot);
  if (pair == nullptr || !PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
    Py_XDECREF(pair);
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_RuntimeError, "ASGI: new_slot()");
    return false;
  }
  g.slot_task = Py_NewRef(PyTuple_GET_ITEM(pair, 0));
  g.slot_box = Py_NewRef(PyTuple_GET_ITEM(pair, 1));
  Py_DECREF(pair);
  return true;
}

// The coroutine yielded (it waits on a future, or on a bare yield): the slot task takes the
// rest of it over, waking on its box.
bool HandOver(HttpReq* r, PyObject* yielded, PyObject* ctx) {
  Globals& g = G();
  PyObject* box = g.slot_box;
  PyObject* wake = PyObject_GetAttr(box, g.s_wake);
  PyObject* done = wake != nullptr ? PyObject_CallMethodNoArgs(wake, g.s_done) : nullptr;
  if (done == Py_True) {
    // The slot task was cancelled while idle (a cancellation meant for a request that had
    // already ended): a fresh one takes this request.
    Py_CLEAR(g.slot_task);
    Py_CLEAR(g.slot_box);
    Py_CLEAR(wake);
    Py_DECREF(done);
    if (!EnsureSlot()) return false;
    box = g.slot_box;
    wake = PyObject_GetAttr(box, g.s_wake);
    done = wake != nullptr ? PyObject_CallMethodNoArgs(wake, g.s_done) : nullptr;
  }
  bool ok = done == Py_False && PyObject_SetAttr(box, g.s_req, reinterpret_cast<PyObject*>(r)) == 0 &&
            PyObject_SetAttr(box, g.s_coro, r->coro) == 0 &&
            PyObject_SetAttr(box, g.s_first, yielded) == 0 &&
            PyObject_SetAttr(box, g.s_ctx, ctx) == 0;
  if (ok) {
    PyObject* res = PyObject_CallMethodOneArg(wake, g.s_set_result, Py_None);
    ok = res != nullptr;
    Py_XDECREF(res);
  }
  Py_XDECREF(done);
  Py_XDECREF(wake);
  // The request's coroutine is the slot task's now; the next request gets a new slot.
  Py_CLEAR(r->coro);
  Py_CLEAR(g.slot_task);
  Py_CLEAR(g.slot_box);
  return ok;
}

// Runs the app's coroutine up to its first wait (or its end), as the slot task, in a context
// of the request's own (a copy of the loop's, as a task would have).
void Drive(HttpReq* r) {
  Globals& g = G();
  if (!EnsureSlot()) {
    const std::string tb = FetchTraceback();
    Done(r, &tb);
    return;
  }
  PyObject* ctx = PyContext_CopyCurrent();
  if (ctx == nullptr || PyContext_Enter(ctx) != 0) {
    Py_XDECREF(ctx);
    const std::string tb = FetchTraceback();
    Done(r, &tb);
    return;
  }
  PyObject* task = Py_NewRef(g.slot_task);
  const bool entered = TaskCall(g.enter_task, task);
  PyObject* out = nullptr;
  const PySendResult res = PyIter_Send(r->coro, Py_None, &out);
  PyObject *et, *ev, *tb;
  PyErr_Fetch(&et, &ev, &tb);
  if (entered) TaskCall(g.leave_task, task);
  Py_DECREF(task);
  (void)PyContext_Exit(ctx);
  PyErr_Restore(et, ev, tb);
  switch (res) {
    case PYGEN_RETURN:
      Py_XDECREF(out);
      Done(r, nullptr);
      break;
    case PYGEN_ERROR: {
      const std::string text = FetchTraceback();
      Done(r, &text);
      break;
    }
    case PYGEN_NEXT:
      if (!HandOver(r, out, ctx)) {
        const std::string text = FetchTraceback();
        Done(r, &text);
      }
      Py_XDECREF(out);
      break;
  }
  Py_DECREF(ctx);
}

PyObject* Intern(const char* s) { return PyUnicode_InternFromString(s); }

}  // namespace

bool AsgiHttpInit(PyObject* module) {
  Globals& g = G();
  if (PyType_Ready(&kReadyType) != 0 || PyType_Ready(&kHttpReqType) != 0) return false;
  g.s_type = Intern("type");
  g.s_status = Intern("status");
  g.s_headers = Intern("headers");
  g.s_body = Intern("body");
  g.s_more_body = Intern("more_body");
  g.s_http_request = Intern("http.request");
  g.s_http_disconnect = Intern("http.disconnect");
  g.s_response_start = Intern("http.response.start");
  g.s_response_body = Intern("http.response.body");
  g.s_create_future = Intern("create_future");
  g.s_set_result = Intern("set_result");
  g.s_done = Intern("done");
  g.s_method = Intern("method");
  g.s_path = Intern("path");
  g.s_wake = Intern("wake");
  g.s_req = Intern("req");
  g.s_coro = Intern("coro");
  g.s_first = Intern("first");
  g.s_ctx = Intern("ctx");
  g.done_ready = ReadyOf(nullptr);
  return g.done_ready != nullptr && PyModule_AddObjectRef(module, "HttpRequest",
                                                          reinterpret_cast<PyObject*>(&kHttpReqType)) == 0;
}

bool AsgiHttpBind(PyObject* loop, PyObject* new_slot) {
  Globals& g = G();
  PyObject* tasks = PyImport_ImportModule("asyncio.tasks");
  if (tasks == nullptr) return false;
  g.enter_task = PyObject_GetAttrString(tasks, "_enter_task");
  g.leave_task = PyObject_GetAttrString(tasks, "_leave_task");
  Py_DECREF(tasks);
  if (g.enter_task == nullptr || g.leave_task == nullptr) return false;
  Py_XSETREF(g.loop, Py_NewRef(loop));
  Py_XSETREF(g.new_slot, Py_NewRef(new_slot));
  return true;
}

void AsgiHttpBegin(uint64_t token, kiln_async* h, PyObject* app, PyObject* scope) {
  Globals& g = G();
  HttpReq* r = PyObject_GC_New(HttpReq, &kHttpReqType);
  if (r == nullptr) {
    Py_DECREF(scope);
    Log(KILN_LOG_ERROR, "ASGI: cannot start the request: " + FetchTraceback());
    Api()->async_finish(h, KILN_ERROR);
    return;
  }
  r->h = h;
  r->token = token;
  r->scope = scope;
  r->coro = r->body_fut = r->disc_fut = r->drain_fut = nullptr;
  r->unacked = 0;
  r->started = r->finished = r->gone = r->body_done = r->done = false;
  PyObject_GC_Track(r);
  PyObject* self = reinterpret_cast<PyObject*>(r);
  // The table's reference is the one PyObject_GC_New gave.
  if (!g.spare_nodes.empty()) {
    auto node = std::move(g.spare_nodes.back());
    g.spare_nodes.pop_back();
    node.key() = token;
    node.mapped() = r;
    g.reqs.insert(std::move(node));
  } else {
    g.reqs.emplace(token, r);
  }
  PyObject* receive = PyCFunction_New(&kReceiveDef, self);
  PyObject* send = PyCFunction_New(&kSendDef, self);
  PyObject* awaitable = nullptr;
  if (receive != nullptr && send != nullptr) {
    PyObject* args[] = {scope, receive, send};
    awaitable = PyObject_Vectorcall(app, args, 3, nullptr);
  }
  Py_XDECREF(receive);
  Py_XDECREF(send);
  if (awaitable != nullptr && !PyCoro_CheckExact(awaitable)) {
    // Any awaitable: drive its __await__ iterator as a task would.
    unaryfunc get = Py_TYPE(awaitable)->tp_as_async != nullptr
                        ? Py_TYPE(awaitable)->tp_as_async->am_await
                        : nullptr;
    PyObject* it = get != nullptr ? get(awaitable) : nullptr;
    if (get == nullptr) {
      PyErr_Format(PyExc_TypeError, "ASGI app returned %R, not an awaitable", awaitable);
    } else if (it != nullptr && !PyIter_Check(it)) {
      PyErr_SetString(PyExc_TypeError, "ASGI app: __await__() returned a non-iterator");
      Py_CLEAR(it);
    }
    Py_DECREF(awaitable);
    awaitable = it;
  }
  if (awaitable == nullptr) {
    const std::string tb = FetchTraceback();
    Done(r, &tb);
    return;
  }
  r->coro = awaitable;
  Py_INCREF(self);  // Drive may end the request (Done drops the table's reference)
  Drive(r);
  Py_DECREF(self);
}

bool AsgiHttpEvent(uint64_t token, int kind, const char* data, size_t len, bool more) {
  Globals& g = G();
  auto it = g.reqs.find(token);
  if (it == g.reqs.end()) return false;
  HttpReq* r = it->second;
  Py_INCREF(r);
  switch (kind) {
    case 1: {  // a body piece, for the receive() waiting on it
      if (!more) r->body_done = true;
      PyObject* msg = PyDict_New();
      PyObject* bytes = PyBytes_FromStringAndSize(data, static_cast<Py_ssize_t>(len));
      if (msg != nullptr && bytes != nullptr &&
          PyDict_SetItem(msg, g.s_type, g.s_http_request) == 0 &&
          PyDict_SetItem(msg, g.s_body, bytes) == 0 &&
          PyDict_SetItem(msg, g.s_more_body, more ? Py_True : Py_False) == 0) {
        Resolve(r->body_fut, msg);
      } else {
        Log(KILN_LOG_ERROR, "ASGI: " + FetchTraceback());
      }
      Py_XDECREF(bytes);
      Py_XDECREF(msg);
      break;
    }
    case 2: {  // the client is gone
      r->gone = true;
      PyObject* d = NewDisconnect();
      if (d != nullptr) {
        Resolve(r->body_fut, d);
        Resolve(r->disc_fut, d);
      }
      Py_XDECREF(d);
      Resolve(r->drain_fut, Py_None);
      break;
    }
    case 3:  // drained
      r->unacked = 0;
      Resolve(r->drain_fut, Py_None);
      break;
    default:
      break;
  }
  Py_DECREF(r);
  return true;
}

void AsgiHttpClose() {
  Globals& g = G();
  if (g.slot_task != nullptr) {
    PyObject* r = PyObject_SetAttrString(g.slot_box, "closing", Py_True) == 0
                      ? PyObject_CallMethod(g.slot_task, "cancel", nullptr)
                      : nullptr;
    if (r == nullptr) PyErr_Clear();
    Py_XDECREF(r);
  }
  Py_CLEAR(g.slot_task);
  Py_CLEAR(g.slot_box);
}

PyObject* AsgiHttpPyBegin(PyObject*, PyObject* args) {
  unsigned long long token;
  PyObject *h, *app, *scope;
  if (!PyArg_ParseTuple(args, "KOOO", &token, &h, &app, &scope)) return nullptr;
  AsgiHttpBegin(token, static_cast<kiln_async*>(PyLong_AsVoidPtr(h)), app, Py_NewRef(scope));
  Py_RETURN_NONE;
}

PyObject* AsgiHttpPyEvent(PyObject*, PyObject* args) {
  int kind;
  unsigned long long token;
  PyObject* data = Py_None;
  int more = 0;
  if (!PyArg_ParseTuple(args, "iK|Op", &kind, &token, &data, &more)) return nullptr;
  char* p = nullptr;
  Py_ssize_t n = 0;
  if (data != Py_None && PyBytes_AsStringAndSize(data, &p, &n) != 0) return nullptr;
  return PyBool_FromLong(AsgiHttpEvent(token, kind, p, static_cast<size_t>(n), more != 0));
}

}  // namespace kiln::python
