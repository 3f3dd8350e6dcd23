// Interpreter switching: sub-interpreter creation and end, and the per-thread thread states
// requests run in. CPython 3.11 has one GIL for all interpreters, so entering an interpreter is
// taking the GIL with a thread state that belongs to it. What runs in them is py_runtime.cc's.
#include "interpreters.h"

#include <pthread.h>

#include <algorithm>
#include <utility>

#include "wsgi_call.h"

namespace kiln::python {

std::vector<Interp*>& TheInterps() {
  static std::vector<Interp*>* list = new std::vector<Interp*>;  // never destroyed (threads)
  return *list;
}

Interp* MainInterp() {
  std::vector<Interp*>& list = TheInterps();
  if (list.empty()) {
    auto* main = new Interp;
    main->is_main = true;
    list.push_back(main);
  }
  return list.front();
}

Interp* CurrentInterp() {
  PyThreadState* ts = _PyThreadState_UncheckedGet();
  if (ts != nullptr) {
    PyInterpreterState* state = PyThreadState_GetInterpreter(ts);
    for (Interp* in : TheInterps()) {
      if (in->state == state) return in;
    }
  }
  return MainInterp();
}

Interp* NewSubInterpreter(std::string* error) {
  PyThreadState* main = PyThreadState_Get();
  PyThreadState* sub = Py_NewInterpreter();
  if (sub == nullptr) {
    PyThreadState_Swap(main);
    *error = "Py_NewInterpreter failed";
    return nullptr;
  }
  auto* in = new Interp;
  in->state = PyThreadState_GetInterpreter(sub);
  in->home = sub;
  in->home_thread = PyThread_get_thread_ident();
  TheInterps().push_back(in);
  return in;
}

void ForgetSubInterpreters() {
  std::vector<Interp*>& list = TheInterps();
  // Gone in this process; the Interp objects are kept (reachable) but never used again.
  static std::vector<Interp*>* forgotten = new std::vector<Interp*>;
  forgotten->insert(forgotten->end(), list.begin() + 1, list.end());
  list.resize(1);
}

void SwitchTo(Interp* interp) { PyThreadState_Swap(interp->home); }
void SwitchToMain(PyThreadState* main) { PyThreadState_Swap(main); }

bool EndSubInterpreter(Interp* interp, PyThreadState* main) {
  std::vector<Interp*>& list = TheInterps();
  // Py_EndInterpreter waits for the interpreter's non-daemon threads and aborts the process
  // when any other thread state is left: an app that started a thread at import keeps it.
  bool alone = PyInterpreterState_ThreadHead(interp->state) == interp->home &&
               PyThreadState_Next(interp->home) == nullptr;
  Py_CLEAR(interp->kiln_dict);
  Py_CLEAR(interp->load);
  Py_CLEAR(interp->format_exc);
  Py_CLEAR(interp->file_wrapper);
  Py_CLEAR(interp->error_stream);
  FreeWsgi(interp);
  list.erase(std::remove(list.begin(), list.end(), interp), list.end());
  if (alone) {
    Py_EndInterpreter(interp->home);
    delete interp;
  } else {
    static std::vector<Interp*>* left = new std::vector<Interp*>;  // lives on with its threads
    left->push_back(interp);
  }
  PyThreadState_Swap(main);
  return alone;
}

namespace {

// This thread's thread state in each sub-interpreter it served (the main interpreter's comes
// from PyGILState, which only knows that one).
struct ThreadStates {
  PyThreadState* main = nullptr;
  std::vector<std::pair<Interp*, PyThreadState*>> subs;
};

// Held through a pthread key, not `thread_local`: a dlopen()ed library with a TLS segment gets
// its block from __tls_get_addr at first use, and GCC 12's LeakSanitizer guesses that block's
// bounds with a glibc-2.19 header heuristic that, at some heap addresses, reads garbage and
// crashes the leak check at exit. The plugin keeps no TLS segment (tests/unit/plugins checks).
// Each thread's ThreadStates is heap memory the key owns; the key's destructor frees it when
// the thread ends (its Python thread states belong to the interpreter and are not freed here).
pthread_key_t ThreadStatesKey() {
  static pthread_key_t key = [] {
    pthread_key_t k;
    pthread_key_create(&k, [](void* p) { delete static_cast<ThreadStates*>(p); });
    return k;
  }();
  return key;
}

ThreadStates& ThisThreadsStates() {
  pthread_key_t key = ThreadStatesKey();
  auto* ts = static_cast<ThreadStates*>(pthread_getspecific(key));
  if (ts == nullptr) {
    ts = new ThreadStates;
    pthread_setspecific(key, ts);
  }
  return *ts;
}

}  // namespace

void EnterForRequest(Interp* interp) {
  ThreadStates& ts = ThisThreadsStates();
  if (interp->is_main) {
    if (ts.main != nullptr) {
      PyEval_RestoreThread(ts.main);
    } else {
      PyGILState_Ensure();  // never released: the thread state lives as long as the thread
      ts.main = PyThreadState_Get();
    }
    return;
  }
  if (interp->home_thread == PyThread_get_thread_ident()) {
    PyEval_RestoreThread(interp->home);  // the creating thread has one already
    return;
  }
  for (auto& [in, state] : ts.subs) {
    if (in == interp) {
      PyEval_RestoreThread(state);
      return;
    }
  }
  PyThreadState* state = PyThreadState_New(interp->state);  // needs no GIL
  ts.subs.emplace_back(interp, state);
  PyEval_RestoreThread(state);
}

void LeaveAfterRequest() { PyEval_SaveThread(); }

bool HoldsStateFor(Interp* interp) {
  if (!interp->is_main) return false;  // a sub-interpreter's request swaps thread states
  ThreadStates& ts = ThisThreadsStates();
  PyThreadState* held = PyThreadState_Get();
  // Before this thread's first request: the state EnterForRequest would record is the one
  // PyGILState keeps for the thread.
  if (ts.main == nullptr && PyGILState_GetThisThreadState() == held) ts.main = held;
  return ts.main == held;
}

}  // namespace kiln::python
