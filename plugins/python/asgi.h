// ASGI apps on an event loop per worker (asgi.cc).
#pragma once

#include <string>

#include "py_runtime.h"

namespace kiln::python {

// True when one of the loaded apps is an ASGI app.
bool AnyAsgiApp();
// In a worker, main thread, GIL held, after the apps are loaded: starts the event loop thread
// and runs each ASGI app's lifespan startup. False with *error (the app's message) on failure.
bool AsgiStart(std::string* error);
// Worker exit (graceful): lifespan shutdown, then the loop stops.
void AsgiShutdown();
// Serving thread, no GIL: takes the request over and queues it for the loop.
kiln_status AsgiServe(kiln_request* r, const App* app);
// on_async_event: queues the host's event for the loop.
void AsgiOnEvent(void* ctx, uint64_t token, const kiln_async_event* ev);

}  // namespace kiln::python
