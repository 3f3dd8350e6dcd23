// The C half of WebSocket for ASGI apps (asgi_ws.h): what the loop thread calls (GIL held) to
// accept, send, ask for the next message and close, each queued for the serving thread by the
// SDK's async_ws_* calls (dropped once the serving threads are gone: AsgiLoopDone); and the
// host's WebSocket events as the tuples `_kiln_asgi.take()` hands to the loop.
#include "asgi_ws.h"

#include "asgi.h"

namespace kiln::python {
namespace {

const kiln_host_api* Api() { return TheHost().api; }

kiln_async* HandleOf(PyObject* o) { return static_cast<kiln_async*>(PyLong_AsVoidPtr(o)); }

kiln_str BufStr(const Py_buffer& b) {
  return kiln_str{static_cast<const char*>(b.buf), static_cast<size_t>(b.len)};
}

// ws_accept(handle, subprotocol: bytes, headers: [(bytes, bytes)])
PyObject* PyWsAccept(PyObject*, PyObject* args) {
  PyObject* h;
  Py_buffer sub;
  PyObject* headers;
  if (!PyArg_ParseTuple(args, "Oy*O!", &h, &sub, &PyList_Type, &headers)) return nullptr;
  std::vector<kiln_header> hs;
  kiln_status st = KILN_ERROR;
  if (AsgiLoopDone()) {
    st = KILN_OK;  // the connection is gone with its serving thread: dropped
  } else if (AsgiHeaderList(headers, &hs)) {
    st = Api()->async_ws_accept(HandleOf(h), BufStr(sub), hs.data(), hs.size());
    if (st != KILN_OK) PyErr_SetString(PyExc_ValueError, "websocket.accept: a header with CR/LF");
  }
  PyBuffer_Release(&sub);
  if (st != KILN_OK) return nullptr;
  Py_RETURN_NONE;
}

// ws_send(handle, data: bytes, binary: bool)
PyObject* PyWsSend(PyObject*, PyObject* args) {
  PyObject* h;
  Py_buffer data;
  int binary;
  if (!PyArg_ParseTuple(args, "Oy*p", &h, &data, &binary)) return nullptr;
  if (!AsgiLoopDone()) Api()->async_ws_send(HandleOf(h), BufStr(data), binary);
  PyBuffer_Release(&data);
  Py_RETURN_NONE;
}

PyObject* PyWsReceive(PyObject*, PyObject* h) {
  if (!AsgiLoopDone()) Api()->async_ws_receive(HandleOf(h));
  Py_RETURN_NONE;
}

// ws_close(handle, code: int, reason: bytes)
PyObject* PyWsClose(PyObject*, PyObject* args) {
  PyObject* h;
  int code;
  Py_buffer reason;
  if (!PyArg_ParseTuple(args, "Oiy*", &h, &code, &reason)) return nullptr;
  if (!AsgiLoopDone()) Api()->async_ws_close(HandleOf(h), code, BufStr(reason));
  PyBuffer_Release(&reason);
  Py_RETURN_NONE;
}

}  // namespace

PyMethodDef kAsgiWsMethods[] = {
    {"ws_accept", PyWsAccept, METH_VARARGS, "Queue the WebSocket 101."},
    {"ws_send", PyWsSend, METH_VARARGS, "Queue one WebSocket message."},
    {"ws_receive", PyWsReceive, METH_O, "Ask for the next WebSocket message."},
    {"ws_close", PyWsClose, METH_VARARGS, "Queue a close frame (before accept: 403)."},
    {nullptr, nullptr, 0, nullptr}};

PyObject* AsgiWsEventTuple(int kind, uint64_t token, const std::string& data, uint32_t code) {
  const auto tok = static_cast<unsigned long long>(token);
  const auto n = static_cast<Py_ssize_t>(data.size());
  switch (kind) {
    case 5:  // kiln checked the text is UTF-8
      return Py_BuildValue("(iKs#)", kind, tok, data.data(), n);
    case 6:
      return Py_BuildValue("(iKy#)", kind, tok, data.data(), n);
    default:
      return Py_BuildValue("(iKs#I)", kind, tok, data.data(), n, static_cast<unsigned>(code));
  }
}

}  // namespace kiln::python
