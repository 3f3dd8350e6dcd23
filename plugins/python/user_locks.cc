// The user locks behind uwsgi.lock(): robust, process-shared pthread mutexes in a mapping that
// the master makes before fork and every worker inherits. See user_locks.h.
#include "user_locks.h"

#include <pthread.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace kiln::python {
namespace {

// uWSGI has no limit; this one keeps a typo (`locks = 1000000000`) from mapping gigabytes.
constexpr int64_t kMaxLocks = 65536;

pthread_mutex_t* g_locks = nullptr;  // never unmapped: workers use it until they exit
int g_count = 0;

}  // namespace

bool CreateUserLocks(int64_t count, std::string* error) {
  if (g_locks != nullptr) return true;
  if (count < 0 || count > kMaxLocks) {
    *error = "option `locks = " + std::to_string(count) + "`: give 0.." +
             std::to_string(kMaxLocks) + " (the locks are numbered 0..locks)";
    return false;
  }
  const int n = static_cast<int>(count) + 1;
  void* p = mmap(nullptr, sizeof(pthread_mutex_t) * static_cast<size_t>(n),
                 PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    *error = std::string("cannot map the user locks (`locks`): ") + std::strerror(errno);
    return false;
  }
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
  auto* locks = static_cast<pthread_mutex_t*>(p);
  for (int i = 0; i < n; ++i) {
    int rc = pthread_mutex_init(&locks[i], &attr);
    if (rc != 0) {
      pthread_mutexattr_destroy(&attr);
      munmap(p, sizeof(pthread_mutex_t) * static_cast<size_t>(n));
      *error = std::string("cannot make the user locks (`locks`): ") + std::strerror(rc);
      return false;
    }
  }
  pthread_mutexattr_destroy(&attr);
  g_locks = locks;
  g_count = n;
  return true;
}

int UserLockCount() { return g_count; }

int LockUser(int n, bool* owner_died) {
  *owner_died = false;
  if (n < 0 || n >= g_count) return EINVAL;
  int rc = pthread_mutex_lock(&g_locks[n]);
  if (rc == EOWNERDEAD) {
    // The holder died inside its critical section: the lock is ours now; mark it usable again
    // (without this, unlocking would make it unusable for everyone).
    *owner_died = true;
    rc = pthread_mutex_consistent(&g_locks[n]);
  }
  return rc;
}

int UnlockUser(int n) {
  if (n < 0 || n >= g_count) return EINVAL;
  return pthread_mutex_unlock(&g_locks[n]);
}

int UserLockHeld(int n) {
  if (n < 0 || n >= g_count) return -EINVAL;
  int rc = pthread_mutex_trylock(&g_locks[n]);
  if (rc == 0 || rc == EOWNERDEAD) {
    if (rc == EOWNERDEAD) pthread_mutex_consistent(&g_locks[n]);
    pthread_mutex_unlock(&g_locks[n]);
    return 0;
  }
  return 1;  // EBUSY (another holder) or EDEADLK (this thread holds it)
}

}  // namespace kiln::python
