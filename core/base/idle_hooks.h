// Work left for the moment a serving thread next waits. A plugin whose runtime has one lock
// for all its threads (Python's GIL) may keep the lock from one request to the next while
// its thread has more requests in hand, and must give it up before the thread waits: it
// names a function here during its request (the SDK's thread_idle_hook), and the serving
// thread runs it before it waits for events (ServeThread::Turn), before a wait for a client
// outside a plugin's request hook (Connection::WaitFor), and when it ends.
#ifndef KILN_CORE_BASE_IDLE_HOOKS_H_
#define KILN_CORE_BASE_IDLE_HOOKS_H_

namespace kiln::base {

// Records fn(ctx) for this thread's next RunIdleHooks; a function already recorded keeps its
// place and takes the new ctx (each is run once per RunIdleHooks, however often it was added).
void AddIdleHook(void (*fn)(void* ctx), void* ctx);

// Runs this thread's recorded functions, in the order they were first added, and forgets
// them. Costs a thread-local read when there are none.
void RunIdleHooks();

}  // namespace kiln::base

#endif  // KILN_CORE_BASE_IDLE_HOOKS_H_
