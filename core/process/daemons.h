// attach-daemon: commands the master starts beside the workers (through /bin/sh -c), respawns
// with backoff when they exit, and stops at shutdown and before a reload.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "core/process/supervisor_policy.h"

namespace kiln::process {

class Daemons {
 public:
  void Configure(const std::vector<std::string>& commands);
  // Starts daemons that are not running and whose respawn delay has passed.
  void Tick(int64_t now_ns, bool stopping);
  // Reaped child: true when it was one of ours (then it is scheduled for respawn).
  bool OnExit(pid_t pid, int status, int64_t now_ns, bool stopping);
  // Sends SIGTERM to every daemon's process group.
  void TerminateAll();
  // Sends SIGTERM, waits up to `mercy` (reaping them), then SIGKILL: before a re-exec.
  void StopAndWait(absl::Duration mercy);
  bool AnyRunning() const;
  void KillAll();

 private:
  struct Daemon {
    std::string command;
    pid_t pid = 0;
    int64_t born_ns = 0;
    int64_t respawn_at_ns = 0;
    RespawnBackoff backoff;
  };
  void Spawn(Daemon& d, int64_t now_ns);
  std::vector<Daemon> daemons_;
};

}  // namespace kiln::process
