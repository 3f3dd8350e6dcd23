// An ASGI `http` request in C (asgi_http.cc): the request's state, its `receive` and `send`,
// and the driving of the app's coroutine. On the loop's thread (GIL held) the app runs at once,
// inside the call that hands the request over, and an app that never waits on anything (a hello
// world, a Starlette JSON route) is answered with no task, no future and no loop turn. The first
// time it waits, the rest of it goes to an asyncio task that was the current task all along
// (asgi_py.h: _slot), so asyncio.current_task(), anyio and sniffio see one task per request.
#pragma once

#include <cstdint>

#include "py_runtime.h"

namespace kiln::python {

// Adds the request type and `done` to `_kiln_asgi` (module creation, before the Runner).
bool AsgiHttpInit(PyObject* module);
// The Runner's loop and its `new_slot()` (a (task, box) pair: asgi_py.h), once it exists.
bool AsgiHttpBind(PyObject* loop, PyObject* new_slot);
// On the loop's thread, GIL held: runs `app` for the detached request `h` with `scope`
// (stolen). The app's first steps run now; any failure finishes the request as an error.
void AsgiHttpBegin(uint64_t token, kiln_async* h, PyObject* app, PyObject* scope);
// A host event (1 body piece, 2 client gone, 3 drained) for an HTTP request; false when
// `token` is not one that runs (a WebSocket's, or one that ended).
bool AsgiHttpEvent(uint64_t token, int kind, const char* data, size_t len, bool more);
// The loop stops for good: the idle task kept for the next request is let go.
void AsgiHttpClose();
// _kiln_asgi.begin(token, handle, app, scope) and http_event(kind, token, data, more), for the
// requests other serving threads queue for the loop.
PyObject* AsgiHttpPyBegin(PyObject* self, PyObject* args);
PyObject* AsgiHttpPyEvent(PyObject* self, PyObject* args);

}  // namespace kiln::python
