// The instance's own state as the world outside the serving loop sees it (running, stopping,
// paused: the stats server's /ready reads it), and the graceful stop's first step: with
// drain-delay the workers go on accepting for that long after SIGTERM, then they are told to
// stop and to drain the listen sockets (net/listen_drain.cc). The state lives in one shared
// page mapped before the workers fork, so a worker's signal handler can tell a stop of the
// whole instance (drain the sockets) from a reload or a recycle (leave them to the others).
#pragma once

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"

namespace kiln::process {

// running; stopping (from the first moment of a graceful or immediate stop, drain-delay
// included); paused (the master FIFO's `p`: not accepting); reloading (a reload is being
// checked, or a new generation starts while the previous one still serves).
enum class InstanceState : int32_t { kRunning = 0, kStopping = 1, kPaused = 2, kReloading = 3 };

const char* InstanceStateName(InstanceState s);

class InstanceStop {
 public:
  InstanceStop();  // maps the shared page (a failure is fatal: nothing has forked yet)
  ~InstanceStop();
  InstanceStop(const InstanceStop&) = delete;
  InstanceStop& operator=(const InstanceStop&) = delete;

  InstanceState state() const;
  void set_state(InstanceState s);
  // For the workers (WorkerParams::instance_state): read in a signal handler.
  const std::atomic<int32_t>* shared() const { return state_; }

  // A graceful stop begins at `now_ns`: the state says stopping from now on; the workers are
  // to be signalled after `delay` (drain-delay). True when that is now (no delay).
  bool Begin(int64_t now_ns, absl::Duration delay);
  // True once, when the drain-delay that Begin started has run out.
  bool DelayOver(int64_t now_ns);

 private:
  std::atomic<int32_t>* state_ = nullptr;
  int64_t signal_at_ns_ = 0;  // 0: no delay running
};

}  // namespace kiln::process
