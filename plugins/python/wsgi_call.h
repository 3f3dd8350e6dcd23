// WSGI at run time: one request in, one PEP 3333 call out (environ, start_response, write(),
// the body iterable, wsgi.file_wrapper through sendfile), and the wsgi.input stream.
// Configuration lives in python_plugin.cc and the interpreter in py_runtime.cc.
#pragma once

#include "py_runtime.h"

namespace kiln::python {

// Creates the Python types and interned environ keys of the current interpreter `in` (fills
// in->wsgi and in->input_type). Needs the GIL; once per interpreter, after the kiln bootstrap.
bool InitWsgi(Interp* in, std::string* error);
// Drops what InitWsgi made (an interpreter about to end is current).
void FreeWsgi(Interp* in);

// Serves one request with the app kiln routed it to (`handle` from on_mount_app, null for the
// default app) in the app's interpreter (takes and gives back the GIL itself). An application
// error is answered 500 with the traceback in the log; KILN_ERROR only when the response had
// already started; KILN_DECLINED when there is no default app for a null handle.
kiln_status ServeRequest(kiln_request* r, void* handle);

// wsgi.input over the request's body (wsgi_input.cc). Detach makes later reads fail cleanly
// once the request is over (an app may keep the object). `gil_kept`: the request's wait hook
// gives the GIL up while a read waits for the client (GilWaitHook), so reads keep it.
PyObject* NewInput(kiln_request* r, bool gil_kept);
void DetachInput(PyObject* input);
bool InitInputType(Interp* in, std::string* error);

}  // namespace kiln::python
