// The spooler (uWSGI's): processes the master runs beside the workers, `spooler-processes`
// for each `spooler` directory, forked as workers are (the app loaded in the master is theirs
// too) and respawned when they die. Each scans its directory every `spooler-frequency` (and
// at once when a task is renamed into it), takes the `uwsgi_spoolfile_on_*` files one by one
// under an fcntl lock, so no two spoolers run the same task, and hands each to the
// Application (the plugins' on_spool). The master side (this class) only forks, reaps and
// stops; the scanning runs in the child (spooler_run.cc). Tasks are written by workers
// (core/plugin/spool_enqueue.h).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/config/config.h"
#include "core/process/supervisor_policy.h"
#include "core/protocol/spool_packet.h"

namespace kiln::process {

struct SpoolerOptions {
  std::vector<std::string> dirs;  // `spooler`, as configured (real paths once prepared)
  int processes = 1;              // `spooler-processes`, per directory
  absl::Duration frequency = absl::Seconds(30);
  absl::Duration harakiri = absl::ZeroDuration();  // 0: a task may run forever
  bool ordered = false;
  bool quiet = false;
};

// Reads and checks the spooler options; errors name the option.
absl::Status ReadSpoolerOptions(const config::Config& cfg, SpoolerOptions* out);

// Runs one task; returns a kiln_spool_result (-2 done, -1 retry, 0 nobody took it).
using SpoolRunner = std::function<int(std::string_view path,
                                      const std::vector<protocol::SpoolVar>& vars,
                                      std::string_view body)>;

struct SpoolerProcessParams {
  std::string dir;  // a real path
  const SpoolerOptions* options = nullptr;
  pid_t master_pid = 0;
  std::string title;  // process title, "" to keep the inherited one
  // In the child before the first scan: load the app with lazy-apps, the post-fork hooks.
  std::function<absl::Status()> start;
  SpoolRunner run;
};

// The spooler process's body (spooler_run.cc): scans until SIGTERM/SIGINT/SIGHUP/SIGQUIT,
// finishing the task in hand first. Returns the exit code.
int RunSpoolerProcess(const SpoolerProcessParams& params);

// One scan of `dir` (opened as `dirfd`): runs every task that is due, as RunSpoolerProcess
// does between its waits. Returns the number of tasks handed to `run`. For tests.
int ScanSpoolDirectory(int dirfd, const std::string& dir, const SpoolerOptions& options,
                       const SpoolRunner& run);

class Spoolers {
 public:
  // `child_main` runs in the forked child with the directory and returns its exit code.
  void Configure(const SpoolerOptions& options,
                 std::function<int(const std::string& dir)> child_main);
  // In the master, as the workers' user: creates missing directories (mode 0700) and resolves
  // each to its real path. An error names the directory.
  absl::Status Prepare();
  // Starts the spoolers that are not running and whose respawn delay has passed; while
  // stopping, kills (SIGKILL) those still running past their mercy.
  void Tick(int64_t now_ns, bool stopping);
  // Reaped child: true when it was a spooler (then it is scheduled for respawn).
  bool OnExit(pid_t pid, int status, int64_t now_ns, bool stopping);
  // SIGTERM to every spooler; SIGKILL at `now_ns + mercy_ns` if still running (through Tick).
  void TerminateAll(int64_t now_ns, int64_t mercy_ns);
  // Before a re-exec: SIGTERM, wait up to `mercy` reaping them, then SIGKILL.
  void StopAndWait(absl::Duration mercy);
  bool AnyRunning() const;

 private:
  struct Proc {
    std::string dir;
    pid_t pid = 0;
    int64_t born_ns = 0;
    int64_t respawn_at_ns = 0;
    int64_t kill_at_ns = 0;
    RespawnBackoff backoff;
  };
  void Spawn(Proc& p, int64_t now_ns);
  SpoolerOptions options_;
  std::function<int(const std::string&)> child_main_;
  std::vector<Proc> procs_;
  bool prepared_ = false;
};

}  // namespace kiln::process
