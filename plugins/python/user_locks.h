// uWSGI's user locks (`locks = N`, uwsgi.lock(n) / uwsgi.unlock(n) / uwsgi.is_locked(n)):
// N+1 process-shared, robust pthread mutexes in one shared anonymous mapping the master makes
// before it forks, so every worker (and every thread in it) locks the same ones. Robust: a
// worker that dies holding a lock (harakiri, a crash) does not wedge the others; the next
// taker gets the lock and a warning. Error-checking: a thread that takes a lock it already
// holds, or releases one it does not hold, gets an error instead of a deadlock.
#pragma once

#include <cstdint>
#include <string>

namespace kiln::python {

// Makes locks 0..count once per process tree (call in the master, before fork; later calls
// and calls in a forked child keep the existing ones). False with *error when count is out
// of range or the mapping fails.
bool CreateUserLocks(int64_t count, std::string* error);

// How many locks exist (count + 1), 0 before CreateUserLocks.
int UserLockCount();

// Each returns 0, or an errno-style code: EINVAL for a lock number out of range, EDEADLK
// when the calling thread holds the lock already (LockUser), EPERM when it does not hold it
// (UnlockUser). LockUser waits; the caller releases the GIL around it. `*owner_died` is set
// when the previous holder died holding it (the lock is taken and made consistent).
int LockUser(int n, bool* owner_died);
int UnlockUser(int n);
// 1 when some thread holds lock n, 0 when none does, -EINVAL out of range.
int UserLockHeld(int n);

}  // namespace kiln::python
