// ASGI apps on an event loop per worker (asgi.cc).
#pragma once

#include <string>

#include "py_runtime.h"

namespace kiln::python {

// True when one of the loaded apps is an ASGI app.
bool AnyAsgiApp();
// In a worker, main thread, GIL held, after the apps are loaded: makes the event loop (run
// later on this thread by AsgiServeThread) and runs each ASGI app's lifespan startup on it.
// False with *error (the app's message) on failure.
bool AsgiStart(std::string* error);
// Worker exit, after the serving threads stopped: lifespan shutdown, on the loop.
void AsgiShutdown();
// on_serve_thread: on the thread that made the loop (the first serving thread), runs the loop
// and the serving thread from it until the worker stops; declines every other thread.
kiln_status AsgiServeThread(void* ctx, kiln_serve_thread* t);
// on_serve_threads_done: stops the loop's own thread (a worker with WSGI apps too), after
// which the app's calls are dropped.
void AsgiServeThreadsDone(void* ctx);
// A serving thread: takes the request over. On the loop's thread (GIL held) it builds the
// scope and starts the app's task at once; on another one (no GIL) it queues the request.
kiln_status AsgiServe(kiln_request* r, const App* app);
// True on the thread the ASGI loop runs while it runs it: the loop's Python code holds the GIL
// around everything the serving thread does there.
bool AsgiLoopHoldsGil();
// True once the loop stopped for good: the app's calls are dropped (their connections are gone
// or going).
bool AsgiLoopDone();
// on_async_event: hands the host's event to the loop (directly on its thread, else queued).
void AsgiOnEvent(void* ctx, uint64_t token, const kiln_async_event* ev);

}  // namespace kiln::python
