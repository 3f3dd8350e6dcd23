// Pure supervision decisions: respawn backoff, harakiri deadlines, worker recycling. No
// syscalls and no clock reads: callers pass the times in, so tests drive them directly.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/time/time.h"

namespace kiln::process {

// Exponential respawn delay for a process that keeps dying soon after it starts, so a
// broken app does not turn the master into a fork bomb. A process that lived at least
// `healthy_uptime` resets the count and is respawned at once.
class RespawnBackoff {
 public:
  struct Params {
    absl::Duration healthy_uptime = absl::Seconds(10);
    absl::Duration first_delay = absl::Milliseconds(250);
    absl::Duration max_delay = absl::Seconds(30);
  };
  RespawnBackoff() = default;
  explicit RespawnBackoff(Params params) : params_(params) {}

  // Records an exit after `uptime`; returns how long to wait before the next spawn.
  absl::Duration OnExit(absl::Duration uptime);
  // Quick deaths in a row so far.
  int failures() const { return failures_; }

 private:
  Params params_;
  int failures_ = 0;
};

// True when a request that started at `started` (0 = none in progress) has run past
// `limit` (zero = harakiri off) at `now`. Times are monotonic.
bool HarakiriDue(absl::Duration started, absl::Duration now, absl::Duration limit);

// kException: reload-on-exception (the app raised; the plugin stopped its own worker).
// kAddressSpace: reload-on-as (the worker's address space, VmSize).
enum class RecycleReason { kNone, kMaxRequests, kRss, kLifetime, kException, kAddressSpace };
std::string_view RecycleReasonText(RecycleReason reason);

struct RecycleLimits {
  uint64_t max_requests = 0;    // 0 = off
  uint64_t max_rss_bytes = 0;   // 0 = off (reload-on-rss is given in MB)
  absl::Duration max_lifetime;  // zero = off
  // max-requests and reload-on-rss wait until the worker is this old (uWSGI's
  // min-worker-lifetime), so a worker that fills up fast is not recycled in a loop.
  absl::Duration min_lifetime;
  uint64_t max_vsz_bytes = 0;  // reload-on-as; 0 = off (waits for min_lifetime as well)
};

// Whether a worker should finish gracefully and be replaced, checked after each request
// (requests, rss) and by the master (age). The first limit reached wins.
RecycleReason ShouldRecycle(const RecycleLimits& limits, uint64_t requests, uint64_t rss_bytes,
                            absl::Duration age, uint64_t vsz_bytes = 0);

}  // namespace kiln::process
