// The spooler in Python (uWSGI's uwsgi.spool / uwsgi.spooler): `_kiln.spool`, which hands a
// task's arguments to the host's `spool`, and the on_spool callback, which calls the
// bootstrap's `_run_spooler` (it finds uwsgi.spooler and builds the task dict uWSGI passes).
// The conversions between Python values and bytes are in the bootstrap (bootstrap_py.h).
#include <string>
#include <vector>

#include "interpreters.h"
#include "py_runtime.h"

namespace kiln::python {

// _kiln.spool([(bytes, bytes), ...], body: bytes) -> bytes: the task file's path.
PyObject* KSpool(PyObject*, PyObject* args) {
  PyObject* pairs = nullptr;
  Py_buffer body{};
  if (!PyArg_ParseTuple(args, "O!y*:spool", &PyList_Type, &pairs, &body)) return nullptr;
  std::vector<kiln_header> vars;
  Py_ssize_t n = PyList_GET_SIZE(pairs);
  vars.reserve(static_cast<size_t>(n));
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* item = PyList_GET_ITEM(pairs, i);
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2 ||
        !PyBytes_Check(PyTuple_GET_ITEM(item, 0)) || !PyBytes_Check(PyTuple_GET_ITEM(item, 1))) {
      PyBuffer_Release(&body);
      PyErr_SetString(PyExc_ValueError, "spooler arguments must be (bytes, bytes) pairs");
      return nullptr;
    }
    PyObject* k = PyTuple_GET_ITEM(item, 0);
    PyObject* v = PyTuple_GET_ITEM(item, 1);
    vars.push_back(kiln_header{{PyBytes_AS_STRING(k), static_cast<size_t>(PyBytes_GET_SIZE(k))},
                               {PyBytes_AS_STRING(v), static_cast<size_t>(PyBytes_GET_SIZE(v))}});
  }
  const Host& h = TheHost();
  if (!KILN_HAS(h.api, spool) || h.api->spool == nullptr) {
    PyBuffer_Release(&body);
    PyErr_SetString(PyExc_ValueError, "unable to spool job: this kiln has no spooler");
    return nullptr;
  }
  char out[4096];
  kiln_status st = KILN_ERROR;
  // The list and the buffer keep every byte alive while the file is written without the GIL.
  Py_BEGIN_ALLOW_THREADS
  st = h.api->spool(h.self, vars.data(), vars.size(),
                    kiln_str{static_cast<const char*>(body.buf), static_cast<size_t>(body.len)},
                    out, sizeof(out));
  Py_END_ALLOW_THREADS
  PyBuffer_Release(&body);
  if (st != KILN_OK) {
    PyErr_Format(PyExc_ValueError, "unable to spool job: %s", out);
    return nullptr;
  }
  return PyBytes_FromString(out);
}

int RunSpoolTask(kiln_str path, const kiln_header* vars, size_t var_count, kiln_str body) {
  if (!InterpreterReady()) return KILN_SPOOL_IGNORE;
  PyGILState_STATE g = PyGILState_Ensure();
  int ret = KILN_SPOOL_RETRY;
  PyObject* fn = PyDict_GetItemString(MainInterp()->kiln_dict, "_run_spooler");  // borrowed
  PyObject* pairs = PyList_New(0);
  bool built = fn != nullptr && pairs != nullptr;
  for (size_t i = 0; built && i < var_count; ++i) {
    PyObject* item = Py_BuildValue("(y#y#)", vars[i].name.ptr,
                                   static_cast<Py_ssize_t>(vars[i].name.len), vars[i].value.ptr,
                                   static_cast<Py_ssize_t>(vars[i].value.len));
    built = item != nullptr && PyList_Append(pairs, item) == 0;
    Py_XDECREF(item);
  }
  PyObject* r = nullptr;
  if (built) {
    r = PyObject_CallFunction(fn, "s#Oy#", path.ptr, static_cast<Py_ssize_t>(path.len), pairs,
                              body.ptr, static_cast<Py_ssize_t>(body.len));
  }
  if (r != nullptr) {
    long v = PyLong_AsLong(r);
    ret = (v == -1 && PyErr_Occurred()) ? KILN_SPOOL_RETRY : static_cast<int>(v);
    PyErr_Clear();
  } else {
    // The bootstrap logs the task's own exceptions; this is what escaped it (SystemExit...).
    Log(KILN_LOG_ERROR, "spooler task " + std::string(path.ptr, path.len) +
                            " failed; it stays for the next scan:\n" + FetchTraceback());
  }
  Py_XDECREF(r);
  Py_XDECREF(pairs);
  PyGILState_Release(g);
  return ret;
}

}  // namespace kiln::python
