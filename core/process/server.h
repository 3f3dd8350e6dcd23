// The server's entry point: binds the sockets, drops privileges, loads the app and runs the
// master (or a single in-process worker without `master`). The language side arrives through
// Application, which main implements over the plugin set.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/protocol/request_context.h"
#include "core/protocol/spool_packet.h"

namespace kiln::config {
class Config;
}

namespace kiln::process {

class Scoreboard;

// What the master and the workers call into.
class Application {
 public:
  virtual ~Application() = default;
  // In the master, once, after the privilege drop.
  virtual absl::Status MasterStart() = 0;
  // Loads the apps: in the master before fork, or in each worker with lazy-apps.
  virtual absl::Status AppLoad() = 0;
  // In each worker after fork (and after AppLoad with lazy-apps).
  virtual absl::Status PostFork(int worker_id) = 0;
  // In each worker when it stops serving, before it exits.
  virtual void WorkerExit() = 0;
  // In the master at its final exit (not on reload).
  virtual void Shutdown() = 0;
  // Requests go here; valid from AppLoad until WorkerExit.
  virtual protocol::Handler* handler() = 0;
  // Once the scoreboard is mapped, before the first fork (so every worker inherits what the
  // application keeps of it); it lives until the server returns. For readers such as the
  // plugin host's scoreboard_worker.
  virtual void ScoreboardMapped(const Scoreboard& /*scoreboard*/) {}
  // In a spooler process (spooler.h): runs one task through the plugins' on_spool; returns a
  // kiln_spool_result (-2 done, -1 retry, 0 no plugin took it).
  virtual int Spool(std::string_view /*path*/, const std::vector<protocol::SpoolVar>& /*vars*/,
                    std::string_view /*body*/) {
    return 0;
  }
};

// Runs the server until it stops; returns the process exit code (0 after a clean stop,
// 1 when startup fails). argv (argv[0] included) is kept for the re-exec of a reload.
int RunServer(const config::Config& cfg, Application& app, const std::vector<std::string>& argv);

}  // namespace kiln::process
