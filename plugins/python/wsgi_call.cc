// One WSGI call per request (PEP 3333): environ from the request's CGI variables (latin-1
// native strings, interned keys), start_response with exc_info, write(), the body iterable
// (closed whatever happens), wsgi.file_wrapper through sendfile, and 500s for app errors.
#include "wsgi_call.h"

#include "asgi.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <structmember.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace kiln::python {

// One environ key kiln has seen in this interpreter: its interned str (hash computed once, so
// dict insertion and the app's lookups by literal skip hashing and compare by identity) and,
// for keys whose values repeat from request to request (method, protocol, host, user agent),
// the last value's str, handed out again while the bytes match.
struct EnvKey {
  std::string name;
  uint64_t head = 0, tail = 0;  // the name's first and last 8 bytes (EnvKeys::Words)
  PyObject* key = nullptr;
  PyObject* value = nullptr;  // last value; only for keys with `cache_value`
  bool cache_value = false;
  enum Role : unsigned char { kNone, kHttps, kRequestScheme, kUwsgiScheme } role = kNone;
  uint64_t stamp = 0;  // CanMakeShape's mark: seen in the request being looked at
};

// The environ that requests of one shape (the same variable names in the same order) start
// from: the template plus the variables of the last request of that shape, with None where
// the value is not kept (a non-empty value of a key without `cache_value`: credentials,
// cookies, paths, queries; so no client's secret stays in memory or is compared with
// another's). It is never changed once made and never given to an app. A request copies it
// (PyDict_Copy clones the table with its entries in order) and replaces the values that
// differ: its environ holds the same entries in the same order as one built from the template
// key by key, for about a quarter of the dict insertions' cost.
struct EnvShape {
  static constexpr size_t kMaxVars = 64;  // a bit per variable in the replace mask
  PyObject* env = nullptr;
  PyObject* scheme = nullptr;  // its wsgi.url_scheme (borrowed: WsgiState's http or https)
  uint64_t hash = 0;
  uint64_t last_use = 0;
  size_t n = 0;
  EnvKey* keys[kMaxVars];
  PyObject* values[kMaxVars];  // borrowed from env; null where the value is not kept
};

// The environ keys of one interpreter: a fixed open-addressing table filled with the common CGI
// names up front and with the other names requests bring (HTTP_X_*) until it holds kMaxKeys;
// names beyond that are decoded per request as before. The hash is seeded per table, so a
// client cannot aim header names at one probe chain.
class EnvKeys {
 public:
  static constexpr size_t kMaxKeys = 256;
  static constexpr size_t kSlots = 512;  // power of two, at most half full

  EnvKeys() : seed_(reinterpret_cast<uintptr_t>(this) | 1) { entries_.reserve(kMaxKeys); }

  // The key's entry, added if there is room; null when the table is full and `k` is new, or
  // on a Python error (then *error is set and so is an exception).
  EnvKey* Get(std::string_view k, bool* error) {
    size_t i = 0;
    if (EnvKey* found = Find(k, &i)) return found;
    if (entries_.size() == kMaxKeys) return nullptr;
    PyObject* key = PyUnicode_DecodeLatin1(k.data(), static_cast<Py_ssize_t>(k.size()), nullptr);
    if (key == nullptr) {
      *error = true;
      return nullptr;
    }
    PyUnicode_InternInPlace(&key);
    if (PyObject_Hash(key) == -1) {
      Py_DECREF(key);
      *error = true;
      return nullptr;
    }
    // Probe again: another request thread of this interpreter may have run in between (the
    // calls above could let it have the GIL) and added this name or taken the slot.
    if (EnvKey* found = Find(k, &i); found != nullptr || entries_.size() == kMaxKeys) {
      Py_DECREF(key);
      return found;
    }
    EnvKey& e = entries_.emplace_back();
    e.name = std::string(k);
    Words(k, &e.head, &e.tail);
    e.key = key;
    slots_[i] = static_cast<uint16_t>(entries_.size());
    return &e;
  }

  void Clear() {
    for (EnvKey& e : entries_) {
      Py_XDECREF(e.key);
      Py_XDECREF(e.value);
    }
    entries_.clear();
    slots_.fill(0);
  }

 private:
  // A name's first and last eight bytes (overlapping below 16 bytes; below 8, the bytes
  // zero-padded in `head` and `tail` zero): for names of up to 16 bytes, all of it.
  static void Words(std::string_view k, uint64_t* head, uint64_t* tail) {
    *head = *tail = 0;
    if (k.size() >= 8) {
      std::memcpy(head, k.data(), 8);
      std::memcpy(tail, k.data() + k.size() - 8, 8);
    } else if (!k.empty()) {
      std::memcpy(head, k.data(), k.size());
    }
  }

  // The entry named `k`, or null with *slot set to the empty slot where it would go. Names
  // are compared by their words and length (no memcmp call for the names of up to 16 bytes
  // most requests bring; a longer one compares its middle too).
  EnvKey* Find(std::string_view k, size_t* slot) {
    uint64_t head, tail;
    Words(k, &head, &tail);
    size_t i = Hash(head, tail, k.size()) & (kSlots - 1);
    for (; slots_[i] != 0; i = (i + 1) & (kSlots - 1)) {
      EnvKey& e = entries_[slots_[i] - 1];
      if (e.head == head && e.tail == tail && e.name.size() == k.size() &&
          (k.size() <= 16 || std::memcmp(e.name.data() + 8, k.data() + 8, k.size() - 16) == 0)) {
        return &e;
      }
    }
    *slot = i;
    return nullptr;
  }

  // Mixes the first and last eight bytes and the length: CGI names differ at their ends
  // (HTTP_ACCEPT_ENCODING, HTTP_ACCEPT_LANGUAGE), and a probe settles the rest.
  size_t Hash(uint64_t a, uint64_t b, size_t size) const {
    uint64_t h = (a ^ seed_) * 0x9E3779B97F4A7C15ull;
    h ^= (b + size) * 0xC2B2AE3D27D4EB4Full;
    return static_cast<size_t>(h ^ (h >> 32));
  }

  uint64_t seed_;
  std::vector<EnvKey> entries_;           // never grows past kMaxKeys: pointers stay valid
  std::array<uint16_t, kSlots> slots_{};  // index + 1 into entries_, 0 = empty
};

// The objects requests need, one set per interpreter (types, strs and dicts belong to the
// interpreter that made them; sub-interpreters each have their own WsgiState).
struct WsgiState {
  PyTypeObject* start_response_type = nullptr;
  PyObject* env_template = nullptr;  // environ entries every request starts with
  EnvKeys keys;
  // The environs of the last few shapes of requests (the same variable names in the same
  // order), each replaced when least recently used; owned here. stamp_clock numbers
  // CanMakeShape's walks.
  std::array<EnvShape*, 4> shapes{};
  uint64_t shape_clock = 0;
  uint64_t stamp_clock = 0;
  PyObject* key_script_name = nullptr;
  PyObject* key_path_info = nullptr;
  PyObject* key_url_scheme = nullptr;
  PyObject* key_input = nullptr;
  PyObject* key_errors = nullptr;
  PyObject* http = nullptr;
  PyObject* https = nullptr;
  PyObject* str_close = nullptr;
  // A start_response object no app kept after its request, ready for the next one (with its
  // bound write()): reused only when nothing but this slot refers to either.
  PyObject* spare_start_response = nullptr;
};

namespace {

// The state of one WSGI call, shared by start_response and the response loop.
struct Call {
  kiln_request* r = nullptr;
  PyObject* status = nullptr;   // validated str "NNN Reason"
  int code = 0;
  // The validated (name, value) tuples start_response was given, each a strong reference
  // (tuples are immutable, so changing the app's list afterwards does not reach the response;
  // no list or tuple is copied). Most responses fit `inline_headers`.
  static constexpr Py_ssize_t kInline = 16;
  PyObject* inline_headers[kInline];
  std::vector<PyObject*> more_headers;
  PyObject** headers = nullptr;
  Py_ssize_t n_headers = 0;
  bool headers_sent = false;
  // The host calls GilWaitHook around this request's waits for the client (SDK 1.6), so the
  // GIL stays held across host calls that do not wait; false on an older host, where each
  // call that may wait is made with the GIL released.
  bool gil_kept = false;
  PyThreadState* waiting = nullptr;  // the thread state put aside while a wait lasts

  void ClearHeaders() {
    for (Py_ssize_t i = 0; i < n_headers; ++i) Py_DECREF(headers[i]);
    n_headers = 0;
  }
  ~Call() {
    ClearHeaders();
    Py_XDECREF(status);
  }
};

struct StartResponseObject {
  PyObject_HEAD
  Call* call;            // null once the request is over
  PyObject* write;       // its bound write(), made once (refers back to this object)
  vectorcallfunc vectorcall;
};

// The CGI names every interpreter's key table starts with. `cache_value` marks those whose
// values usually repeat from request to request (never credentials: a value kept for the next
// request stays in memory, and comparing against it must not tell one client another's).
struct CommonKey {
  const char* name;
  bool cache_value;
  EnvKey::Role role = EnvKey::kNone;
};
constexpr CommonKey kCommonKeys[] = {
    {"REQUEST_METHOD", true}, {"REQUEST_URI", false}, {"PATH_INFO", false},
    {"QUERY_STRING", false}, {"SCRIPT_NAME", true}, {"SERVER_PROTOCOL", true},
    {"SERVER_NAME", true}, {"SERVER_PORT", true}, {"REMOTE_ADDR", true},
    {"REMOTE_PORT", true}, {"CONTENT_TYPE", true}, {"CONTENT_LENGTH", false},
    {"DOCUMENT_ROOT", true}, {"REQUEST_SCHEME", true, EnvKey::kRequestScheme},
    {"HTTPS", true, EnvKey::kHttps}, {"HTTP_HOST", true}, {"HTTP_USER_AGENT", true},
    {"HTTP_ACCEPT", true}, {"HTTP_ACCEPT_ENCODING", true}, {"HTTP_ACCEPT_LANGUAGE", true},
    {"HTTP_CONNECTION", true}, {"HTTP_COOKIE", false}, {"HTTP_REFERER", false},
    {"HTTP_CACHE_CONTROL", true}, {"HTTP_X_FORWARDED_FOR", false},
    {"HTTP_X_FORWARDED_PROTO", true}, {"HTTP_X_REAL_IP", false},
    {"HTTP_AUTHORIZATION", false}, {"HTTP_ORIGIN", true},
    {"HTTP_UPGRADE_INSECURE_REQUESTS", true}, {"HTTP_PRAGMA", true},
    {"HTTP_IF_NONE_MATCH", false}, {"HTTP_IF_MODIFIED_SINCE", false},
    {"HTTP_SEC_FETCH_DEST", true}, {"HTTP_SEC_FETCH_MODE", true}, {"HTTP_SEC_FETCH_SITE", true},
    {"UWSGI_SCHEME", true, EnvKey::kUwsgiScheme}};

const kiln_host_api* Api() { return TheHost().api; }
kiln_str Str(std::string_view s) { return kiln_str{s.data(), s.size()}; }
std::string_view View(kiln_str s) { return std::string_view(s.ptr ? s.ptr : "", s.len); }

PyObject* Latin1(std::string_view s) {
  return PyUnicode_DecodeLatin1(s.data(), static_cast<Py_ssize_t>(s.size()), nullptr);
}

// A latin-1 str's bytes without copying (CPython stores such strings one byte per char).
bool Latin1View(PyObject* s, std::string_view* out) {
  if (!PyUnicode_Check(s) || PyUnicode_READY(s) != 0 || PyUnicode_KIND(s) != PyUnicode_1BYTE_KIND) {
    return false;
  }
  *out = std::string_view(reinterpret_cast<const char*>(PyUnicode_1BYTE_DATA(s)),
                          static_cast<size_t>(PyUnicode_GET_LENGTH(s)));
  return true;
}

// ---- start_response ----

bool ValidStatus(PyObject* status, int* code) {
  std::string_view s;
  if (!PyUnicode_Check(status)) {
    PyErr_Format(PyExc_TypeError, "WSGI status must be a str like '200 OK', not %s",
                 Py_TYPE(status)->tp_name);
    return false;
  }
  bool ok = Latin1View(status, &s) && s.size() >= 3 && (s.size() == 3 || s[3] == ' ');
  for (size_t i = 0; ok && i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    ok = i < 3 ? (c >= '0' && c <= '9') : (c >= 0x20 && c != 0x7f);
  }
  if (!ok || s[0] == '0') {
    PyErr_Format(PyExc_ValueError,
                 "WSGI status %R is not 'NNN Reason' (three digits, a space, a reason "
                 "without CR/LF)", status);
    return false;
  }
  *code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
  return true;
}

bool ValidHeaderName(std::string_view name) {
  if (name.empty()) return false;
  for (char ch : name) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f || c == ':') return false;
  }
  return true;
}

bool ValidHeaderValue(std::string_view value) {
  for (char ch : value) {
    if (ch == '\r' || ch == '\n' || ch == '\0') return false;
  }
  return true;
}

// Checks the app's header list; true when every item is a (str, str) tuple of latin-1 text
// without CR, LF or NUL (and a token-ish name), else false with an exception naming the item.
bool ValidHeaders(PyObject* headers) {
  if (!PyList_Check(headers)) {
    PyErr_Format(PyExc_TypeError, "WSGI response headers must be a list of (name, value) "
                 "tuples, not %s", Py_TYPE(headers)->tp_name);
    return false;
  }
  Py_ssize_t n = PyList_GET_SIZE(headers);
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* item = PyList_GET_ITEM(headers, i);
    std::string_view name, value;
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
      PyErr_Format(PyExc_TypeError, "WSGI response header %zd is %R, not a (name, value) tuple "
                   "of str", i, item);
      return false;
    }
    if (!Latin1View(PyTuple_GET_ITEM(item, 0), &name) ||
        !Latin1View(PyTuple_GET_ITEM(item, 1), &value)) {
      PyErr_Format(PyExc_TypeError, "WSGI response header %R: name and value must be latin-1 "
                   "str", item);
      return false;
    }
    if (!ValidHeaderName(name) || !ValidHeaderValue(value)) {
      PyErr_Format(PyExc_ValueError, "WSGI response header %R holds a character not allowed "
                   "there (CR, LF, NUL, or space/colon in the name)", item);
      return false;
    }
  }
  return true;
}

// Keeps a strong reference to each tuple of the (validated) list, replacing earlier headers.
void KeepHeaders(Call* call, PyObject* headers) {
  call->ClearHeaders();
  Py_ssize_t n = PyList_GET_SIZE(headers);
  call->headers = call->inline_headers;
  if (n > Call::kInline) {
    call->more_headers.resize(static_cast<size_t>(n));
    call->headers = call->more_headers.data();
  }
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* item = PyList_GET_ITEM(headers, i);
    Py_INCREF(item);
    call->headers[i] = item;
  }
  call->n_headers = n;
}

PyObject* WriteMethod(PyObject* self, PyObject* data);

PyMethodDef kStartResponseMethods[] = {
    {"write", WriteMethod, METH_O, "write(data): the WSGI write() callable (bytes only)."},
    {nullptr, nullptr, 0, nullptr}};

PyObject* StartResponse(StartResponseObject* self, PyObject* status, PyObject* headers,
                        PyObject* exc_info) {
  Call* call = self->call;
  if (call == nullptr) {
    return PyErr_Format(PyExc_RuntimeError, "start_response called after its request ended");
  }
  if (exc_info != Py_None) {
    if (!PyTuple_Check(exc_info) || PyTuple_GET_SIZE(exc_info) != 3) {
      return PyErr_Format(PyExc_TypeError, "exc_info must be a sys.exc_info() tuple");
    }
    if (call->headers_sent) {  // PEP 3333: too late to change the response; re-raise
      PyObject* t = PyTuple_GET_ITEM(exc_info, 0);
      PyObject* v = PyTuple_GET_ITEM(exc_info, 1);
      PyObject* tb = PyTuple_GET_ITEM(exc_info, 2);
      Py_INCREF(t);
      Py_INCREF(v);
      Py_INCREF(tb);
      PyErr_Restore(t, v, tb == Py_None ? (Py_DECREF(tb), nullptr) : tb);
      return nullptr;
    }
  } else if (call->status != nullptr) {
    return PyErr_Format(PyExc_RuntimeError,
                        "start_response called a second time without exc_info");
  }
  int code = 0;
  if (!ValidStatus(status, &code) || !ValidHeaders(headers)) return nullptr;
  if (self->write == nullptr) {
    // The bound write(), made directly rather than looked up by name on every call.
    self->write = PyCMethod_New(&kStartResponseMethods[0], reinterpret_cast<PyObject*>(self),
                                nullptr, nullptr);
    if (self->write == nullptr) return nullptr;
  }
  KeepHeaders(call, headers);
  Py_INCREF(status);
  Py_XSETREF(call->status, status);
  call->code = code;
  Py_INCREF(self->write);
  return self->write;
}

// start_response(status, headers, exc_info=None) through vectorcall: the app's call passes its
// arguments on the stack, with no argument tuple to build and parse.
PyObject* StartResponseVectorcall(PyObject* self, PyObject* const* args, size_t nargsf,
                                  PyObject* kwnames) {
  static const char* const kNames[] = {"status", "headers", "exc_info"};
  Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  if (nargs > 3) {
    return PyErr_Format(PyExc_TypeError,
                        "start_response() takes at most 3 arguments (%zd given)", nargs);
  }
  PyObject* a[3] = {nullptr, nullptr, nullptr};
  for (Py_ssize_t i = 0; i < nargs; ++i) a[i] = args[i];
  Py_ssize_t nkw = kwnames == nullptr ? 0 : PyTuple_GET_SIZE(kwnames);
  for (Py_ssize_t j = 0; j < nkw; ++j) {
    PyObject* name = PyTuple_GET_ITEM(kwnames, j);
    int k = 0;
    while (k < 3 && PyUnicode_CompareWithASCIIString(name, kNames[k]) != 0) ++k;
    if (k == 3) {
      return PyErr_Format(PyExc_TypeError,
                          "start_response() got an unexpected keyword argument %R", name);
    }
    if (a[k] != nullptr) {
      return PyErr_Format(PyExc_TypeError,
                          "start_response() got multiple values for argument '%s'", kNames[k]);
    }
    a[k] = args[nargs + j];
  }
  for (int k = 0; k < 2; ++k) {
    if (a[k] == nullptr) {
      return PyErr_Format(PyExc_TypeError,
                          "start_response() missing required argument '%s'", kNames[k]);
    }
  }
  return StartResponse(reinterpret_cast<StartResponseObject*>(self), a[0], a[1],
                       a[2] != nullptr ? a[2] : Py_None);
}

bool SendHeaders(Call* call) {
  if (call->headers_sent) return true;
  if (call->status == nullptr) {
    PyErr_SetString(PyExc_RuntimeError,
                    "the application sent body data without calling start_response first");
    return false;
  }
  // The views point into the header strings `call->headers` holds until the call ends; the
  // host copies them out in response_start. Most responses fit the stack array; a longer list
  // takes a vector (no thread_local: the plugin keeps no TLS segment, see interpreters.cc).
  constexpr Py_ssize_t kOnStack = 32;
  kiln_header on_stack[kOnStack];
  std::vector<kiln_header> on_heap;
  Py_ssize_t n = call->n_headers;
  kiln_header* hs = on_stack;
  if (n > kOnStack) {
    on_heap.resize(static_cast<size_t>(n));
    hs = on_heap.data();
  }
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* pair = call->headers[i];
    std::string_view name, value;
    Latin1View(PyTuple_GET_ITEM(pair, 0), &name);
    Latin1View(PyTuple_GET_ITEM(pair, 1), &value);
    hs[i] = kiln_header{Str(name), Str(value)};
  }
  std::string_view status;
  Latin1View(call->status, &status);
  std::string_view reason = status.size() > 4 ? status.substr(4) : std::string_view();
  if (Api()->response_start(call->r, call->code, Str(reason), hs, static_cast<size_t>(n)) !=
      KILN_OK) {
    PyErr_Format(PyExc_RuntimeError, "the server refused the response head (status %R)",
                 call->status);
    return false;
  }
  call->headers_sent = true;
  return true;
}

// Sends one body chunk (headers first if needed). False with an exception set on failure.
bool WriteChunk(Call* call, PyObject* data) {
  if (!PyBytes_Check(data)) {
    PyErr_Format(PyExc_TypeError, "WSGI response body items must be bytes, not %s",
                 Py_TYPE(data)->tp_name);
    return false;
  }
  Py_ssize_t len = PyBytes_GET_SIZE(data);
  if (len == 0 && !call->headers_sent) return true;  // headers wait for a non-empty chunk
  if (!SendHeaders(call)) return false;
  if (len == 0) return true;
  kiln_str chunk{PyBytes_AS_STRING(data), static_cast<size_t>(len)};
  kiln_request* r = call->r;
  kiln_status st =
      CallThatMayWait(call->gil_kept, [&] { return Api()->response_write(r, chunk); });
  if (st != KILN_OK) {
    PyErr_SetString(PyExc_OSError, "writing the response failed (client gone?)");
    return false;
  }
  return true;
}

PyObject* WriteMethod(PyObject* self, PyObject* data) {
  Call* call = reinterpret_cast<StartResponseObject*>(self)->call;
  if (call == nullptr) {
    return PyErr_Format(PyExc_RuntimeError, "write() called after its request ended");
  }
  if (!WriteChunk(call, data)) return nullptr;
  Py_RETURN_NONE;
}

void StartResponseDealloc(PyObject* self) {
  // `write` refers to this object, so it is gone by now (ReleaseStartResponse clears it).
  Py_CLEAR(reinterpret_cast<StartResponseObject*>(self)->write);
  PyTypeObject* type = Py_TYPE(self);
  type->tp_free(self);
  Py_DECREF(type);
}

PyMemberDef kStartResponseMembers[] = {
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(StartResponseObject, vectorcall), READONLY,
     nullptr},
    {nullptr, 0, 0, 0, nullptr}};

PyType_Slot kStartResponseSlots[] = {
    {Py_tp_call, reinterpret_cast<void*>(PyVectorcall_Call)},
    {Py_tp_members, kStartResponseMembers},
    {Py_tp_dealloc, reinterpret_cast<void*>(StartResponseDealloc)},
    {Py_tp_methods, kStartResponseMethods},
    {Py_tp_doc, const_cast<char*>("start_response(status, headers, exc_info=None)")},
    {0, nullptr}};

PyType_Spec kStartResponseSpec = {"kiln.StartResponse", sizeof(StartResponseObject), 0,
                                  Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
                                  kStartResponseSlots};

// A start_response object for one request: the interpreter's spare if there is one.
StartResponseObject* TakeStartResponse(WsgiState& w, Call* call) {
  auto* sr = reinterpret_cast<StartResponseObject*>(w.spare_start_response);
  w.spare_start_response = nullptr;
  if (sr == nullptr) {
    sr = PyObject_New(StartResponseObject, w.start_response_type);
    if (sr == nullptr) return nullptr;
    sr->write = nullptr;
    sr->vectorcall = StartResponseVectorcall;
  }
  sr->call = call;
  return sr;
}

// Ends `sr`'s request. It becomes the spare when the app kept neither it nor its write();
// otherwise it stays with the app, detached (calls raise), and the next request gets a new one.
void ReleaseStartResponse(WsgiState& w, StartResponseObject* sr) {
  sr->call = nullptr;
  Py_ssize_t ours = sr->write != nullptr ? 2 : 1;  // this reference and the one from write
  if (w.spare_start_response == nullptr && Py_REFCNT(sr) == ours &&
      (sr->write == nullptr || Py_REFCNT(sr->write) == 1)) {
    w.spare_start_response = reinterpret_cast<PyObject*>(sr);
    return;
  }
  Py_CLEAR(sr->write);  // breaks the cycle; a write() the app kept keeps `sr` alive itself
  Py_DECREF(sr);
}

// ---- environ ----

// Values longer than this are not kept for the next request (a cookie-sized value rarely
// repeats, and the comparison would cost more than it saves).
constexpr size_t kMaxCachedValue = 256;

// The str for value `v` of key `e` (new reference): the key's last value again while the bytes
// match, else a new str, which becomes the last value if the key keeps one.
PyObject* Value(EnvKey* e, std::string_view v) {
  if (e == nullptr || !e->cache_value) return Latin1(v);
  PyObject* last = e->value;
  if (last != nullptr && static_cast<size_t>(PyUnicode_GET_LENGTH(last)) == v.size() &&
      std::memcmp(PyUnicode_1BYTE_DATA(last), v.data(), v.size()) == 0) {
    Py_INCREF(last);
    return last;
  }
  PyObject* s = Latin1(v);
  if (s != nullptr && v.size() <= kMaxCachedValue) {
    Py_INCREF(s);
    Py_XSETREF(e->value, s);
  }
  return s;
}

// One variable of the request being served. The views point into the request, which the host
// keeps for the whole call; nothing here outlives BuildEnviron.
struct EnvItem {
  EnvKey* e;  // null when the key table is full (then `name` is decoded for this request)
  std::string_view name, value;
};

// The variables of one request in arrival order, collected before its environ is built, and
// the shape they make: a hash of their keys' identities, in order.
struct EnvItems {
  static constexpr size_t kInline = 48;
  WsgiState* w = nullptr;
  EnvItem inline_items[kInline];
  std::vector<EnvItem> more;  // the variables beyond kInline (a request with many headers)
  size_t n = 0;
  uint64_t hash = 0xCBF29CE484222325ull;
  bool all_keyed = true;
  bool failed = false;
  std::string_view https, request_scheme, uwsgi_scheme;

  EnvItem& operator[](size_t i) { return i < kInline ? inline_items[i] : more[i - kInline]; }
  // Whether these variables may have a shape at all: every name has a key, and there are at
  // most EnvShape::kMaxVars of them.
  bool FitsAShape() const { return all_keyed && n <= EnvShape::kMaxVars; }
  void Push(const EnvItem& item) {
    if (n < kInline) {
      inline_items[n] = item;
    } else {
      more.push_back(item);
    }
    ++n;
  }
};

int CollectVar(void* arg, kiln_str name, kiln_str value) {
  auto* c = static_cast<EnvItems*>(arg);
  std::string_view k = View(name), v = View(value);
  EnvKey* e = c->w->keys.Get(k, &c->failed);
  if (c->failed) return 1;
  if (e != nullptr) {
    switch (e->role) {
      case EnvKey::kHttps: c->https = v; break;
      case EnvKey::kRequestScheme: c->request_scheme = v; break;
      case EnvKey::kUwsgiScheme: c->uwsgi_scheme = v; break;
      case EnvKey::kNone: break;
    }
    c->hash = (c->hash ^ reinterpret_cast<uintptr_t>(e)) * 0x100000001B3ull;
  } else {
    c->all_keyed = false;
  }
  c->Push(EnvItem{e, k, v});
  return 0;
}

EnvShape* FindShape(WsgiState& w, EnvItems& c, PyObject* scheme) {
  if (!c.FitsAShape()) return nullptr;
  for (EnvShape* s : w.shapes) {
    if (s == nullptr || s->hash != c.hash || s->n != c.n || s->scheme != scheme) continue;
    size_t i = 0;
    while (i < c.n && s->keys[i] == c[i].e) ++i;
    if (i == c.n) return s;
  }
  return nullptr;
}

// Whether the request's variables can make a shape: they fit one (FitsAShape), no name comes
// twice (the dict keeps a repeated name's last value in its first place, which a replace by
// position would get wrong), and none is wsgi.url_scheme (which the shape holds as kiln set
// it). Plain C from end to end, so no other request thread of the interpreter can run in
// between and stamp the same keys.
bool CanMakeShape(WsgiState& w, EnvItems& c) {
  if (!c.FitsAShape()) return false;
  uint64_t stamp = ++w.stamp_clock;
  for (size_t i = 0; i < c.n; ++i) {
    if (c[i].e->stamp == stamp || c[i].e->key == w.key_url_scheme) return false;
    c[i].e->stamp = stamp;
  }
  return true;
}

// Keeps `env` (the template, the request's variables and wsgi.url_scheme, nothing else yet)
// as the shape of this request's variables and scheme, in place of the shape least recently
// used. `kept[i]` is the value of variable i if its key keeps values or it is empty, else null
// (borrowed from env). A failure only means no shape: the request goes on.
void MakeShape(WsgiState& w, EnvItems& c, PyObject* env, PyObject* scheme,
               PyObject* const* kept) {
  PyObject* copy = PyDict_Copy(env);
  bool ok = copy != nullptr;
  for (size_t i = 0; ok && i < c.n; ++i) {
    if (kept[i] == nullptr) ok = PyDict_SetItem(copy, c[i].e->key, Py_None) == 0;
  }
  if (!ok) {
    PyErr_Clear();
    Py_XDECREF(copy);
    return;
  }
  // Chosen only now: the calls above may have let another request thread change the shapes.
  EnvShape** slot = &w.shapes[0];
  for (EnvShape*& s : w.shapes) {
    if (s == nullptr) {
      slot = &s;
      break;
    }
    if (s->last_use < (*slot)->last_use) slot = &s;
  }
  if (*slot == nullptr) *slot = new EnvShape;
  EnvShape* s = *slot;
  PyObject* old = s->env;
  s->env = copy;
  s->scheme = scheme;
  s->hash = c.hash;
  s->last_use = ++w.shape_clock;
  s->n = c.n;
  for (size_t i = 0; i < c.n; ++i) {
    s->keys[i] = c[i].e;
    s->values[i] = kept[i];
  }
  Py_XDECREF(old);  // strs, None and the template's objects: no Python code runs
}

// The environ from the template, the variables added one by one and then wsgi.url_scheme; it
// becomes a shape if the variables can make one. Null with an exception set on failure.
PyObject* FromTemplate(WsgiState& w, EnvItems& c, PyObject* scheme) {
  bool shape = CanMakeShape(w, c);
  PyObject* kept[EnvShape::kMaxVars];
  PyObject* env = PyDict_Copy(w.env_template);
  if (env == nullptr) return nullptr;
  for (size_t i = 0; i < c.n; ++i) {
    EnvItem& it = c[i];
    PyObject* made = it.e == nullptr ? Latin1(it.name) : nullptr;  // the key table is full
    PyObject* key = it.e != nullptr ? it.e->key : made;
    PyObject* val = key != nullptr ? Value(it.e, it.value) : nullptr;
    bool ok = val != nullptr && PyDict_SetItem(env, key, val) == 0;
    // The dict holds `val` now and keeps it: no name comes twice in a request that makes a
    // shape. An empty value tells nothing, so the shape keeps it whatever the key.
    if (shape) kept[i] = it.e->cache_value || it.value.empty() ? val : nullptr;
    Py_XDECREF(made);
    Py_XDECREF(val);
    if (!ok) {
      Py_DECREF(env);
      return nullptr;
    }
  }
  if (PyDict_SetItem(env, w.key_url_scheme, scheme) != 0) {
    Py_DECREF(env);
    return nullptr;
  }
  if (shape) MakeShape(w, c, env, scheme, kept);
  return env;
}

// The environ from the shape of the request's variables: a copy with the values that differ
// replaced. Null with an exception set on failure.
PyObject* FromShape(WsgiState& w, EnvShape* s, EnvItems& c) {
  // Compared before anything that could let another request thread run (and replace `s`).
  uint64_t differ = 0;
  for (size_t i = 0; i < c.n; ++i) {
    PyObject* last = s->values[i];
    std::string_view v = c[i].value;
    if (last == nullptr || static_cast<size_t>(PyUnicode_GET_LENGTH(last)) != v.size() ||
        std::memcmp(PyUnicode_1BYTE_DATA(last), v.data(), v.size()) != 0) {
      differ |= uint64_t{1} << i;
    }
  }
  s->last_use = ++w.shape_clock;
  PyObject* base = s->env;  // held: PyDict_Copy may run other threads, which may replace `s`
  Py_INCREF(base);
  PyObject* env = PyDict_Copy(base);
  Py_DECREF(base);
  if (env == nullptr) return nullptr;
  for (; differ != 0; differ &= differ - 1) {
    EnvItem& it = c[static_cast<size_t>(__builtin_ctzll(differ))];
    PyObject* val = Value(it.e, it.value);
    bool ok = val != nullptr && PyDict_SetItem(env, it.e->key, val) == 0;
    Py_XDECREF(val);
    if (!ok) {
      Py_DECREF(env);
      return nullptr;
    }
  }
  return env;
}

PyObject* Scheme(const EnvItems& c) {
  WsgiState& w = *c.w;
  if (c.uwsgi_scheme == "https" || c.uwsgi_scheme == "http") {
    return c.uwsgi_scheme == "https" ? w.https : w.http;
  }
  if (c.https == "on" || c.https == "1" || c.https == "ON" || c.https == "On") return w.https;
  return c.request_scheme == "https" ? w.https : w.http;
}

bool SetStr(PyObject* env, PyObject* key, std::string_view v) {
  PyObject* s = Latin1(v);
  bool ok = s != nullptr && PyDict_SetItem(env, key, s) == 0;
  Py_XDECREF(s);
  return ok;
}

// The environ dict, or null with an exception set.
// SCRIPT_NAME and PATH_INFO are as kiln routed them (manage-script-name split them already).
PyObject* BuildEnviron(WsgiState& w, kiln_request* r) {
  EnvItems c;
  c.w = &w;
  Api()->request_var_each(r, CollectVar, &c);
  PyObject* env = nullptr;
  if (!c.failed) {
    PyObject* scheme = Scheme(c);
    EnvShape* s = FindShape(w, c, scheme);
    env = s != nullptr ? FromShape(w, s, c) : FromTemplate(w, c, scheme);
  }
  bool ok = env != nullptr;
  if (ok && Api()->request_modifiers(r).modifier1 == 30) {
    // modifier1 30 (uWSGI's convention): PATH_INFO arrives with SCRIPT_NAME in front.
    kiln_str sn{}, pi{};
    if (Api()->request_var_get(r, Str("SCRIPT_NAME"), &sn) == KILN_OK &&
        Api()->request_var_get(r, Str("PATH_INFO"), &pi) == KILN_OK && sn.len > 0 &&
        View(pi).substr(0, sn.len) == View(sn)) {
      ok = SetStr(env, w.key_path_info, View(pi).substr(sn.len));
    }
  }
  if (!ok) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_RuntimeError, "cannot build environ");
    Py_XDECREF(env);
    return nullptr;
  }
  return env;
}

// ---- the response ----

std::string Var(kiln_request* r, const char* name) {
  kiln_str v{};
  return Api()->request_var_get(r, kiln_str_c(name), &v) == KILN_OK ? std::string(View(v)) : "";
}

void Answer500(kiln_request* r) {
  kiln_header h[] = {{Str("Content-Type"), Str("text/plain; charset=utf-8")}};
  if (Api()->response_start(r, 500, Str("Internal Server Error"), h, 1) == KILN_OK) {
    Api()->response_write(r, Str("Internal Server Error\n"));
  }
}

// reload-on-exception: the worker finishes what it is serving and exits (SIGTERM to itself
// is its graceful stop); the master respawns it. Once per worker.
void RecycleAfterException() {
  static std::atomic<bool> asked{false};
  if (!TheSettings().reload_on_exception || asked.exchange(true)) return;
  Log(KILN_LOG_WARNING, "reload-on-exception: this worker (pid " + std::to_string(getpid()) +
                            ") finishes its requests and exits; the master starts a new one");
  kill(getpid(), SIGTERM);
}

// Logs the pending exception for `app` and answers 500 if nothing was sent yet.
kiln_status Fail(const App& app, Call* call, const char* what) {
  std::string tb = FetchTraceback();
  Log(KILN_LOG_ERROR, "error in WSGI app `" + app.target + "` " + what + " for " +
                          Var(call->r, "REQUEST_METHOD") + " " + Var(call->r, "PATH_INFO") +
                          ":\n" + tb);
  RecycleAfterException();
  if (!call->headers_sent && !Api()->response_started(call->r)) {
    Answer500(call->r);
    return KILN_OK;
  }
  size_t nl = tb.rfind('\n');
  SetError("response cut short: " + (nl == std::string::npos ? tb : tb.substr(nl + 1)));
  return KILN_ERROR;
}

// wsgi.file_wrapper over a regular file: sendfile from the file's position to its end.
// *handled stays false when the object cannot be sent that way (iterate it instead).
bool TrySendfile(Call* call, PyObject* wrapper, bool* handled) {
  *handled = false;
  PyObject* filelike = PyObject_GetAttrString(wrapper, "filelike");
  PyObject* fdobj = filelike ? PyObject_CallMethod(filelike, "fileno", nullptr) : nullptr;
  Py_XDECREF(filelike);
  int fd = fdobj ? static_cast<int>(PyLong_AsLong(fdobj)) : -1;
  Py_XDECREF(fdobj);
  struct stat st;
  if (fd < 0 || PyErr_Occurred() || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    PyErr_Clear();
    return true;
  }
  *handled = true;
  off_t offset = ::lseek(fd, 0, SEEK_CUR);
  if (offset < 0) offset = 0;
  int64_t length = st.st_size > offset ? st.st_size - offset : 0;
  if (!SendHeaders(call)) return false;
  kiln_request* r = call->r;
  kiln_status rc = length == 0 ? KILN_OK : CallThatMayWait(call->gil_kept, [&] {
    return Api()->response_sendfile(r, fd, offset, length);
  });
  if (rc != KILN_OK) {
    PyErr_SetString(PyExc_OSError, "sendfile to the client failed (client gone?)");
    return false;
  }
  return true;
}

bool IterateBody(Call* call, PyObject* result) {
  if (PyBytes_Check(result)) return WriteChunk(call, result);  // lenient, as uWSGI
  if (PyUnicode_Check(result)) {
    PyErr_SetString(PyExc_TypeError,
                    "the WSGI application returned a str; the body must be an iterable of bytes");
    return false;
  }
  if (TheSettings().file_wrapper && PyObject_TypeCheck(result, reinterpret_cast<PyTypeObject*>(
                                                                   FileWrapperType()))) {
    bool handled = false;
    if (!TrySendfile(call, result, &handled)) return false;
    if (handled) return true;
  }
  if (PyList_CheckExact(result) || PyTuple_CheckExact(result)) {  // the common fast path
    Py_ssize_t n = PySequence_Fast_GET_SIZE(result);
    for (Py_ssize_t i = 0; i < n; ++i) {
      PyObject* item = PySequence_Fast_GET_ITEM(result, i);
      Py_INCREF(item);
      bool ok = WriteChunk(call, item);
      Py_DECREF(item);
      if (!ok) return false;
    }
    return true;
  }
  PyObject* it = PyObject_GetIter(result);
  if (it == nullptr) return false;
  PyObject* item;
  bool ok = true;
  while (ok && (item = PyIter_Next(it)) != nullptr) {
    ok = WriteChunk(call, item);
    Py_DECREF(item);
  }
  Py_DECREF(it);
  return ok && !PyErr_Occurred();
}

// Calls result.close() if it has one, keeping any exception already pending.
bool CloseResult(const WsgiState& w, PyObject* result) {
  PyObject *t, *v, *tb;
  PyErr_Fetch(&t, &v, &tb);
  bool ok = true;
  // A list or tuple (the usual return of a small app) has no close(); asking builds and clears
  // an AttributeError, which was the costliest step of a hello-world request.
  if (!PyList_CheckExact(result) && !PyTuple_CheckExact(result)) {
    PyObject* close = PyObject_GetAttr(result, w.str_close);
    if (close == nullptr) {
      PyErr_Clear();  // no close(): nothing to call
    } else {
      PyObject* r = PyObject_CallNoArgs(close);
      Py_DECREF(close);
      ok = r != nullptr;
      Py_XDECREF(r);
    }
  }
  if (t != nullptr) {
    if (!ok) PyErr_Clear();  // the first error is the one to report
    PyErr_Restore(t, v, tb);
  }
  return ok;
}

kiln_status Consume(const WsgiState& w, const App& app, Call* call, PyObject* result) {
  bool ok = IterateBody(call, result);
  if (ok && !call->headers_sent) {
    if (call->status == nullptr) {
      PyErr_SetString(PyExc_RuntimeError,
                      "the WSGI application returned without calling start_response");
      ok = false;
    } else {
      ok = SendHeaders(call);  // an empty body
    }
  }
  bool closed = CloseResult(w, result);
  if (!ok) return Fail(app, call, "while sending the response");
  if (!closed) return Fail(app, call, "in the response's close()");
  return KILN_OK;
}

// The request's wait hook (SDK 1.6, request_wait_hook): the GIL is given up for as long as
// a host call waits for the client, and taken back before the call returns.
void GilWaitHook(void* ctx, int waiting) {
  auto* call = static_cast<Call*>(ctx);
  if (waiting != 0) {
    call->waiting = PyEval_SaveThread();
  } else {
    PyEval_RestoreThread(call->waiting);
    call->waiting = nullptr;
  }
}

// Calls `app` for one request; the GIL is held in the app's interpreter.
kiln_status Serve(kiln_request* r, const App* app) {
  WsgiState& w = *app->interp->wsgi;
  Call call;
  call.r = r;
  call.gil_kept = KILN_HAS(Api(), request_wait_hook);
  if (call.gil_kept) Api()->request_wait_hook(r, GilWaitHook, &call);
  PyObject* env = BuildEnviron(w, r);
  PyObject* input = NewInput(r, call.gil_kept);
  StartResponseObject* sr = TakeStartResponse(w, &call);
  kiln_status st = KILN_OK;
  if (env == nullptr || input == nullptr || sr == nullptr ||
      PyDict_SetItem(env, w.key_input, input) != 0) {
    st = Fail(*app, &call, "while building environ");
  } else {
    PyObject* args[] = {env, reinterpret_cast<PyObject*>(sr)};
    PyObject* result = PyObject_Vectorcall(app->callable, args, 2, nullptr);
    if (result == nullptr) {
      st = Fail(*app, &call, "while calling the application");
    } else {
      st = Consume(w, *app, &call, result);
      Py_DECREF(result);
    }
  }
  if (sr != nullptr) ReleaseStartResponse(w, sr);
  DetachInput(input);
  Py_XDECREF(input);
  Py_XDECREF(env);
  if (call.gil_kept) Api()->request_wait_hook(r, nullptr, nullptr);  // `call` ends here
  return st;
}

PyObject* Interned(const char* s) {
  PyObject* o = PyUnicode_InternFromString(s);
  if (o == nullptr) PyErr_Clear();
  return o;
}

// Gives the template the table of a whole environ. PyDict_Copy clones a dict's table as it
// is, and a table of 16 slots holds 10 entries: the template's own (10 or 11) would leave a
// request no room, and its environ would grow (a new table, every entry inserted again) part
// way through its variables. So the template grows to 32 slots (21 entries) here: entries are
// added until the table grows, then taken out again. The copy keeps the larger table (CPython
// clones a table with at most a third of its entries removed) and a request's variables go
// into the room left. 32 slots is the largest table CPython 3.11's small-object allocator
// serves, so a request costs no malloc; an environ with more headers grows once, as before.
bool MakeRoom(PyObject* t) {
  constexpr Py_ssize_t kEntriesThatGrowTheTable = 11;  // a 16-slot table holds 10
  std::vector<PyObject*> pads;
  bool ok = true;
  for (Py_ssize_t n = PyDict_Size(t); ok && n < kEntriesThatGrowTheTable; ++n) {
    PyObject* pad = PyUnicode_FromFormat("kiln.room.%zd", n);
    ok = pad != nullptr && PyDict_SetItem(t, pad, Py_None) == 0;
    if (pad != nullptr) pads.push_back(pad);
  }
  for (PyObject* pad : pads) {
    if (ok && PyDict_DelItem(t, pad) != 0) ok = false;
    Py_DECREF(pad);
  }
  return ok;
}

bool BuildTemplate(Interp* in, std::string* error) {
  const Settings& s = TheSettings();
  PyObject* t = PyDict_New();
  PyObject* version = Py_BuildValue("(ii)", 1, 0);
  PyObject* empty = PyUnicode_FromStringAndSize("", 0);
  bool ok = t && version && empty && PyDict_SetItemString(t, "wsgi.version", version) == 0 &&
            PyDict_SetItemString(t, "wsgi.multithread", s.multithread ? Py_True : Py_False) == 0 &&
            PyDict_SetItemString(t, "wsgi.multiprocess",
                                 s.multiprocess ? Py_True : Py_False) == 0 &&
            PyDict_SetItemString(t, "wsgi.run_once", Py_False) == 0 &&
            PyDict_SetItemString(t, "wsgi.input_terminated", Py_True) == 0 &&
            PyDict_SetItem(t, in->wsgi->key_script_name, empty) == 0 &&
            PyDict_SetItemString(t, "QUERY_STRING", empty) == 0 &&
            // one wsgi.errors object per interpreter, so it is part of every environ's start
            PyDict_SetItem(t, in->wsgi->key_errors, in->error_stream) == 0 &&
            (!s.file_wrapper || PyDict_SetItemString(t, "wsgi.file_wrapper",
                                                     in->file_wrapper) == 0) &&
            // Every request sets these two (BuildEnviron, Serve): here they only hold their
            // places, so a request replaces their values instead of adding entries.
            PyDict_SetItem(t, in->wsgi->key_url_scheme, in->wsgi->http) == 0 &&
            PyDict_SetItem(t, in->wsgi->key_input, Py_None) == 0 && MakeRoom(t);
  Py_XDECREF(version);
  Py_XDECREF(empty);
  if (!ok) {
    Py_XDECREF(t);
    *error = "cannot build the environ template: " + FetchTraceback();
    return false;
  }
  in->wsgi->env_template = t;
  return true;
}

}  // namespace

bool InitWsgi(Interp* in, std::string* error) {
  auto* w = new WsgiState;  // lives as long as the interpreter's requests may
  in->wsgi = w;
  bool failed = false;
  for (const CommonKey& c : kCommonKeys) {
    EnvKey* e = w->keys.Get(c.name, &failed);
    if (e == nullptr) break;
    e->cache_value = c.cache_value;
    e->role = c.role;
  }
  w->key_script_name = Interned("SCRIPT_NAME");
  w->key_path_info = Interned("PATH_INFO");
  w->key_url_scheme = Interned("wsgi.url_scheme");
  w->key_input = Interned("wsgi.input");
  w->key_errors = Interned("wsgi.errors");
  w->http = Interned("http");
  w->https = Interned("https");
  w->str_close = Interned("close");
  if (failed || !w->key_script_name || !w->key_path_info || !w->key_url_scheme ||
      !w->key_input || !w->key_errors || !w->http || !w->https || !w->str_close) {
    PyErr_Clear();
    *error = "cannot intern the environ keys";
    return false;
  }
  w->start_response_type =
      reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&kStartResponseSpec));
  if (w->start_response_type == nullptr) {
    *error = "cannot create start_response's type: " + FetchTraceback();
    return false;
  }
  return InitInputType(in, error) && BuildTemplate(in, error);
}

void FreeWsgi(Interp* in) {
  WsgiState* w = in->wsgi;
  in->wsgi = nullptr;
  Py_CLEAR(in->input_type);
  if (w == nullptr) return;
  if (w->spare_start_response != nullptr) {
    auto* sr = reinterpret_cast<StartResponseObject*>(w->spare_start_response);
    Py_CLEAR(sr->write);
    Py_CLEAR(w->spare_start_response);
  }
  for (EnvShape*& s : w->shapes) {
    if (s == nullptr) continue;
    Py_XDECREF(s->env);
    delete s;
    s = nullptr;
  }
  w->keys.Clear();
  for (PyObject* o : {w->key_script_name, w->key_path_info, w->key_url_scheme, w->key_input,
                      w->key_errors, w->http, w->https, w->str_close, w->env_template,
                      reinterpret_cast<PyObject*>(w->start_response_type)}) {
    Py_XDECREF(o);
  }
  delete w;
}

kiln_status ServeRequest(kiln_request* r, void* handle) {
  if (!InterpreterReady()) {
    SetError("the Python interpreter is not running (see the startup log)");
    return KILN_ERROR;
  }
  const App* app = AppForHandle(handle);
  if (app == nullptr) {
    if (!TheApps().empty()) return KILN_DECLINED;  // mounts only, no default app: 404
    Log(KILN_LOG_ERROR, "no Python application loaded (see the startup log); answering 500");
    Answer500(r);
    return KILN_OK;
  }
  if (app->callable == nullptr || app->interp == nullptr) {
    std::string why = app->load_error.empty() ? "not loaded in this process" : app->load_error;
    Log(KILN_LOG_ERROR, "WSGI app `" + app->target + "` failed to load (" + why +
                            "); answering 500");
    Answer500(r);
    return KILN_OK;
  }
  if (app->asgi) return AsgiServe(r, app);
  // On the serving thread an ASGI loop runs (asgi-loop-thread = serving beside WSGI apps), the
  // loop's Python code holds the GIL around this call. A WSGI app of the main interpreter
  // runs in the thread state the loop holds (this thread's own, the one EnterForRequest would
  // take back), so the GIL stays where it is; one of a sub-interpreter runs in its own thread
  // state, and the loop waits for it.
  const bool on_loop = AsgiLoopHoldsGil();
  if (on_loop && HoldsStateFor(app->interp)) return Serve(r, app);
  PyThreadState* loop_state = on_loop ? PyEval_SaveThread() : nullptr;
  // Each request thread keeps one thread state per interpreter for its whole life, taking the
  // GIL for the call and handing it back afterwards.
  EnterForRequest(app->interp);
  kiln_status st = Serve(r, app);
  LeaveAfterRequest();
  if (loop_state != nullptr) PyEval_RestoreThread(loop_state);
  return st;
}

}  // namespace kiln::python
