// The state of the whole instance as the master sees it, read by the stats server's /ready
// and the workers' `status` in the stats: running, stopping (a graceful or immediate stop has
// begun), paused (not accepting: the master FIFO's `p`), reloading (a reload is being checked
// or a new generation is starting while the previous one still serves).
#pragma once

namespace kiln::process {

enum class InstanceState { kRunning, kStopping, kPaused, kReloading };

inline const char* InstanceStateName(InstanceState s) {
  switch (s) {
    case InstanceState::kRunning:
      return "running";
    case InstanceState::kStopping:
      return "stopping";
    case InstanceState::kPaused:
      return "paused";
    case InstanceState::kReloading:
      return "reloading";
  }
  return "running";
}

}  // namespace kiln::process
