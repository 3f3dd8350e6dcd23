// Invariant checks. KILN_CHECK is always on and aborts with file:line and a message;
// KILN_DCHECK only in debug builds. Never use them for what the environment or a request
// controls (see docs/STYLE.md).
#pragma once

#include <cstdio>
#include <cstdlib>

namespace kiln::base {
[[noreturn]] inline void CheckFailed(const char* file, int line, const char* expr, const char* msg) {
  std::fprintf(stderr, "kiln: CHECK failed at %s:%d: %s%s%s\n", file, line, expr, msg[0] ? ": " : "",
               msg);
  std::abort();
}
}  // namespace kiln::base

#define KILN_CHECK(cond, ...)                                                            \
  do {                                                                                   \
    if (!(cond)) ::kiln::base::CheckFailed(__FILE__, __LINE__, #cond, "" __VA_ARGS__); \
  } while (0)

#ifdef NDEBUG
#define KILN_DCHECK(cond, ...) \
  do {                         \
  } while (0)
#else
#define KILN_DCHECK(cond, ...) KILN_CHECK(cond, __VA_ARGS__)
#endif
