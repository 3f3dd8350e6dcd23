// The interpreters apps run in: the main one (the default app, and every app under
// single-interpreter) and one sub-interpreter per mounted app, each with its own `kiln`, `uwsgi`
// and WSGI objects, and one thread state per (interpreter, serving thread).
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace kiln::python {

struct WsgiState;  // wsgi_call.cc's objects of one interpreter

// One Python interpreter and the plugin's objects in it. Never freed while it serves: request
// threads keep pointers to it.
struct Interp {
  PyInterpreterState* state = nullptr;
  PyThreadState* home = nullptr;  // sub-interpreters: the thread state of the creating thread
  unsigned long home_thread = 0;  // and that thread's id
  bool is_main = false;
  // The `kiln` module's helpers in this interpreter (strong references).
  PyObject* kiln_dict = nullptr;
  PyObject* load = nullptr;        // kiln._load
  PyObject* format_exc = nullptr;  // kiln._format_exception
  PyObject* file_wrapper = nullptr;
  PyObject* error_stream = nullptr;
  WsgiState* wsgi = nullptr;          // environ template, start_response type, interned keys
  PyTypeObject* input_type = nullptr;  // wsgi.input's type
};

// Every live interpreter, the main one first.
std::vector<Interp*>& TheInterps();
Interp* MainInterp();
// The interpreter whose thread state is current on this thread (the GIL is held); the main
// one when it is not (yet) known.
Interp* CurrentInterp();

// Creates a sub-interpreter from this thread, which holds the GIL in the main interpreter, and
// makes it current; registers it (Interp::home is its thread state). Null with *error on failure,
// the main thread state current again.
Interp* NewSubInterpreter(std::string* error);
// In a child after fork: CPython discarded every sub-interpreter, so the list forgets them.
void ForgetSubInterpreters();
// Switches this thread (holding the GIL) to `interp`'s home thread state, or back to the main
// interpreter's thread state `main`.
void SwitchTo(Interp* interp);
void SwitchToMain(PyThreadState* main);
// Ends a sub-interpreter made by NewSubInterpreter (it must be current, and the only thread in
// it); the main thread state `main` is current afterwards. When threads the app started still
// run in it, it cannot be ended: it stays, idle, and false is returned.
bool EndSubInterpreter(Interp* interp, PyThreadState* main);

// Request threads: takes the GIL in `interp` with this thread's own thread state for it
// (created on first use, kept for the thread's life), and gives it back.
void EnterForRequest(Interp* interp);
void LeaveAfterRequest();
// With the GIL held by this thread: true when the thread state it holds is the one
// EnterForRequest(interp) would take, so a request can run without giving the GIL up and
// taking it back (the ASGI loop's thread serving a WSGI app of the main interpreter).
bool HoldsStateFor(Interp* interp);

}  // namespace kiln::python
