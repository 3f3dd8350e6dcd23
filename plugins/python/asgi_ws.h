// WebSocket for ASGI apps (asgi_ws.cc; the Python half, kAsgiWsPy, in asgi_ws_py.h): the `_kiln_asgi`
// functions the loop calls for a `websocket` scope and the host's WebSocket events as Python
// tuples. kiln's serving thread does the handshake and all framing (SDK 1.4): the loop sees
// whole messages.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "py_runtime.h"

namespace kiln::python {

// ws_accept, ws_send, ws_receive, ws_close, added to `_kiln_asgi`.
extern PyMethodDef kAsgiWsMethods[];

// The take() tuple of a WebSocket event: (5, token, str) for text, (6, token, bytes) for
// binary, (7, token, reason str, code) for a close. New reference, or null with an exception.
PyObject* AsgiWsEventTuple(int kind, uint64_t token, const std::string& data, uint32_t code);

// A list of (bytes, bytes) as kiln_headers pointing into the list's bytes (asgi.cc). False
// with a TypeError on anything else.
bool AsgiHeaderList(PyObject* headers, std::vector<kiln_header>* out);

}  // namespace kiln::python
