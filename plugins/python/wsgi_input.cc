// wsgi.input: a read-only stream over the request body as the host delivers it (Content-Length
// or chunked, EOF where the body ends). read/readline/readlines/iteration; the GIL is released
// while the host reads from the client.
#include <algorithm>
#include <cstring>
#include <new>
#include <string>

#include "wsgi_call.h"

namespace kiln::python {
namespace {

constexpr size_t kChunk = 64 * 1024;

struct InputObject {
  PyObject_HEAD
  kiln_request* req;   // null once the request is over
  // Bytes read from the host but not yet handed out, from `pos`. Constructed in place by
  // NewInput (an empty std::string allocates nothing: most requests never read a body).
  std::string buf;
  size_t pos;
  bool eof;
  bool gil_kept;  // the host's wait hook drops the GIL while a read waits (NewInput)
};

size_t Buffered(const InputObject* in) { return in->buf.size() - in->pos; }

void Compact(InputObject* in) {
  if (in->pos > 0 && in->pos == in->buf.size()) {
    in->buf.clear();
    in->pos = 0;
  } else if (in->pos > kChunk) {
    in->buf.erase(0, in->pos);
    in->pos = 0;
  }
}

// Reads up to `want` more bytes from the host into `dst`. Returns -1 with an exception set.
Py_ssize_t HostRead(InputObject* in, char* dst, size_t want) {
  if (in->eof || want == 0) return 0;
  if (in->req == nullptr) {
    PyErr_SetString(PyExc_ValueError, "wsgi.input read after its request ended");
    return -1;
  }
  const kiln_host_api* api = TheHost().api;
  size_t n = 0;
  kiln_request* req = in->req;
  kiln_status st =
      CallThatMayWait(in->gil_kept, [&] { return api->request_body_read(req, dst, want, &n); });
  if (st != KILN_OK) {
    in->eof = true;
    PyErr_SetString(PyExc_OSError, "error reading the request body (client gone or timed out)");
    return -1;
  }
  if (n == 0) in->eof = true;
  return static_cast<Py_ssize_t>(n);
}

// Appends one host read to the buffer. Returns bytes added, 0 at EOF, -1 on error.
Py_ssize_t Fill(InputObject* in) {
  Compact(in);
  size_t old = in->buf.size();
  in->buf.resize(old + kChunk);
  Py_ssize_t got = HostRead(in, in->buf.data() + old, kChunk);
  in->buf.resize(old + (got > 0 ? static_cast<size_t>(got) : 0));
  return got;
}

bool ParseSize(PyObject* arg, Py_ssize_t* size) {
  *size = -1;
  if (arg == nullptr || arg == Py_None) return true;
  *size = PyLong_AsSsize_t(arg);
  return !(*size == -1 && PyErr_Occurred());
}

PyObject* Read(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  auto* in = reinterpret_cast<InputObject*>(self);
  Py_ssize_t size = -1;
  if (nargs > 1) return PyErr_Format(PyExc_TypeError, "read() takes at most 1 argument");
  if (!ParseSize(nargs ? args[0] : nullptr, &size)) return nullptr;
  if (size < 0) {  // everything up to the end of the body
    while (!in->eof) {
      if (Fill(in) < 0) return nullptr;
    }
    PyObject* out = PyBytes_FromStringAndSize(in->buf.data() + in->pos,
                                              static_cast<Py_ssize_t>(Buffered(in)));
    in->pos = in->buf.size();
    Compact(in);
    return out;
  }
  PyObject* out = PyBytes_FromStringAndSize(nullptr, size);
  if (out == nullptr) return nullptr;
  char* dst = PyBytes_AS_STRING(out);
  size_t have = std::min(Buffered(in), static_cast<size_t>(size));
  std::memcpy(dst, in->buf.data() + in->pos, have);
  in->pos += have;
  Compact(in);
  while (have < static_cast<size_t>(size) && !in->eof) {
    Py_ssize_t got = HostRead(in, dst + have, static_cast<size_t>(size) - have);
    if (got < 0) {
      Py_DECREF(out);
      return nullptr;
    }
    have += static_cast<size_t>(got);
  }
  if (have < static_cast<size_t>(size)) _PyBytes_Resize(&out, static_cast<Py_ssize_t>(have));
  return out;
}

// One line (with its '\n'), at most `limit` bytes when limit >= 0; b"" at EOF.
PyObject* ReadLineLimited(InputObject* in, Py_ssize_t limit) {
  if (limit == 0) return PyBytes_FromStringAndSize(nullptr, 0);
  size_t scanned = 0;
  for (;;) {
    const char* start = in->buf.data() + in->pos;
    size_t avail = Buffered(in);
    size_t cap = limit >= 0 ? std::min(avail, static_cast<size_t>(limit)) : avail;
    const void* nl = cap > scanned ? std::memchr(start + scanned, '\n', cap - scanned) : nullptr;
    size_t take = 0;
    if (nl != nullptr) {
      take = static_cast<size_t>(static_cast<const char*>(nl) - start) + 1;
    } else if ((limit >= 0 && avail >= static_cast<size_t>(limit)) || in->eof) {
      take = cap;
    }
    if (take > 0 || in->eof) {
      PyObject* out = PyBytes_FromStringAndSize(start, static_cast<Py_ssize_t>(take));
      in->pos += take;
      Compact(in);
      return out;
    }
    scanned = cap;
    size_t before = in->pos;
    if (Fill(in) < 0) return nullptr;
    if (in->pos != before) scanned = 0;  // Fill compacted the buffer
  }
}

PyObject* ReadLine(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  Py_ssize_t size = -1;
  if (nargs > 1) return PyErr_Format(PyExc_TypeError, "readline() takes at most 1 argument");
  if (!ParseSize(nargs ? args[0] : nullptr, &size)) return nullptr;
  return ReadLineLimited(reinterpret_cast<InputObject*>(self), size);
}

PyObject* ReadLines(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  Py_ssize_t hint = -1;
  if (nargs > 1) return PyErr_Format(PyExc_TypeError, "readlines() takes at most 1 argument");
  if (!ParseSize(nargs ? args[0] : nullptr, &hint)) return nullptr;
  PyObject* lines = PyList_New(0);
  if (lines == nullptr) return nullptr;
  Py_ssize_t total = 0;
  for (;;) {
    PyObject* line = ReadLineLimited(reinterpret_cast<InputObject*>(self), -1);
    if (line == nullptr) {
      Py_DECREF(lines);
      return nullptr;
    }
    Py_ssize_t n = PyBytes_GET_SIZE(line);
    if (n == 0 || PyList_Append(lines, line) != 0) {
      Py_DECREF(line);
      break;
    }
    Py_DECREF(line);
    total += n;
    if (hint > 0 && total >= hint) break;
  }
  if (PyErr_Occurred()) {
    Py_DECREF(lines);
    return nullptr;
  }
  return lines;
}

PyObject* Iter(PyObject* self) {
  Py_INCREF(self);
  return self;
}

PyObject* Next(PyObject* self) {
  PyObject* line = ReadLineLimited(reinterpret_cast<InputObject*>(self), -1);
  if (line != nullptr && PyBytes_GET_SIZE(line) == 0) {
    Py_DECREF(line);
    return nullptr;  // StopIteration
  }
  return line;
}

PyObject* Close(PyObject*, PyObject*) { Py_RETURN_NONE; }

void Dealloc(PyObject* self) {
  auto* in = reinterpret_cast<InputObject*>(self);
  in->buf.~basic_string();
  PyTypeObject* type = Py_TYPE(self);
  type->tp_free(self);
  Py_DECREF(type);
}

PyMethodDef kInputMethods[] = {
    {"read", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Read)), METH_FASTCALL,
     "read([size]): up to size bytes of the body (all that is left without size); b'' at the "
     "end."},
    {"readline", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(ReadLine)),
     METH_FASTCALL, "readline([size]): one line with its newline; b'' at the end."},
    {"readlines", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(ReadLines)),
     METH_FASTCALL, "readlines([hint]): the remaining lines."},
    {"close", Close, METH_NOARGS, "Does nothing: the server owns the body."},
    {nullptr, nullptr, 0, nullptr}};

PyType_Slot kInputSlots[] = {
    {Py_tp_dealloc, reinterpret_cast<void*>(Dealloc)},
    {Py_tp_iter, reinterpret_cast<void*>(Iter)},
    {Py_tp_iternext, reinterpret_cast<void*>(Next)},
    {Py_tp_methods, kInputMethods},
    {Py_tp_doc, const_cast<char*>("wsgi.input: the request body as a read-only stream.")},
    {0, nullptr}};

PyType_Spec kInputSpec = {"kiln.Input", sizeof(InputObject), 0, Py_TPFLAGS_DEFAULT,
                          kInputSlots};

}  // namespace

bool InitInputType(Interp* in, std::string* error) {
  in->input_type = reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&kInputSpec));
  if (in->input_type == nullptr) {
    *error = "cannot create wsgi.input's type: " + FetchTraceback();
    return false;
  }
  return true;
}

PyObject* NewInput(kiln_request* r, bool gil_kept) {
  PyObject* obj = PyType_GenericAlloc(CurrentInterp()->input_type, 0);
  if (obj == nullptr) return nullptr;
  auto* in = reinterpret_cast<InputObject*>(obj);
  in->req = r;
  new (&in->buf) std::string;
  in->pos = 0;
  in->eof = false;
  in->gil_kept = gil_kept;
  return obj;
}

void DetachInput(PyObject* input) {
  if (input != nullptr) reinterpret_cast<InputObject*>(input)->req = nullptr;
}

}  // namespace kiln::python
