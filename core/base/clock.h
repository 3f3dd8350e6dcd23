// The wall clock for the serving path. absl::Now() interpolates from the CPU's cycle counter
// and costs about twice a vDSO clock_gettime() on the machines kiln is measured on (57 ns
// against 27 ns), and a request reads the clock several times (docs/performance.md). Same
// clock as absl::Now() (CLOCK_REALTIME), so times from either compare.
#pragma once

#include <time.h>

#include "absl/time/time.h"

namespace kiln::base {

inline absl::Time WallNow() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return absl::TimeFromTimespec(ts);
}

}  // namespace kiln::base
