// A worker process: after fork it sets its parent-death signal, signal handlers and title,
// runs the app hooks and the serving loop, and reports into its scoreboard slot. Knows
// nothing of respawning or reloads: that is the master's job.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "core/net/serve_loop.h"
#include "core/process/scoreboard.h"
#include "core/process/server.h"
#include "core/process/server_options.h"

namespace kiln::process {

struct WorkerParams {
  int worker_id = 1;
  pid_t master_pid = 0;  // 0: no master (the worker is the only process)
  const ServerOptions* options = nullptr;
  const net::ServeOptions* serve = nullptr;
  std::vector<net::ListenSocket> sockets;
  Application* app = nullptr;
  Scoreboard* scoreboard = nullptr;
  bool load_app = false;  // lazy-apps: AppLoad in the worker
  // The master's InstanceState (instance_stop.h): a graceful stop while it says stopping is
  // the whole instance's, and drains the listen sockets. Null without a master: every stop is.
  const std::atomic<int32_t>* instance_state = nullptr;
};

// Exit code of a worker whose app failed to load (uWSGI's 22).
inline constexpr int kExitAppFailed = 22;

// Serves until told to stop; returns the exit code. Called in the forked child (which then
// _exit()s with it) or, without a master, in the only process.
int RunWorker(const WorkerParams& params);

// Writes the scoreboard from the serving loop's callbacks and asks the loop to stop after
// max-requests or above reload-on-rss.
class ScoreboardObserver : public net::WorkerObserver {
 public:
  ScoreboardObserver(const Scoreboard& scoreboard, int worker_id, const ServerOptions& options)
      : scoreboard_(scoreboard), worker_id_(worker_id), options_(options) {}
  void set_loop(net::ServeLoop* loop) { loop_ = loop; }
  // memory-report: rss and vsz go to the scoreboard after every request (the stats show them).
  void set_memory_report(bool on) { memory_report_ = on; }
  void RequestStarted(int core_id, std::string_view method, std::string_view uri,
                      std::string_view client, absl::Duration running) override;
  void RequestFinished(int core_id, const net::RequestOutcome& outcome) override;
  void RequestUpgraded(int core_id) override;

 private:
  const Scoreboard& scoreboard_;
  int worker_id_;
  const ServerOptions& options_;
  net::ServeLoop* loop_ = nullptr;
  bool memory_report_ = false;
  std::atomic<bool> recycling_{false};
  const absl::Time born_ = absl::Now();
};

}  // namespace kiln::process
