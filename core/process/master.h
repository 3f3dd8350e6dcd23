// The master: forks the workers, reaps and respawns them, enforces harakiri and recycling,
// turns signals into a graceful stop, an immediate stop or a reload, and supervises attached
// daemons. The arithmetic lives in supervisor_policy; the re-exec in reload.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/base/unique_fd.h"
#include "core/net/serve_loop.h"
#include "core/process/cron.h"
#include "core/process/daemons.h"
#include "core/process/instance_stop.h"
#include "core/process/cheaper.h"
#include "core/process/daemons.h"
#include "core/process/master_fifo.h"
#include "core/process/reload.h"
#include "core/process/scoreboard.h"
#include "core/process/server.h"
#include "core/process/server_options.h"
#include "core/process/signals.h"
#include "core/process/spooler.h"
#include "core/process/supervisor_policy.h"

namespace kiln::process {

// A listen socket the master owns for its whole life (and hands over on reload).
struct BoundSocket {
  SocketSpec spec;
  base::UniqueFd fd;
  net::Address bound;    // the real address (port 0 resolved)
  bool created = false;  // bound by this process (not inherited): removed if startup fails
};

struct MasterParams {
  const ServerOptions* options = nullptr;
  const net::ServeOptions* serve = nullptr;
  Application* app = nullptr;
  std::vector<BoundSocket>* sockets = nullptr;
  ReloadContext reload;  // argv, exe, cwd, generation, old workers
  MasterFifo* fifo = nullptr;  // master-fifo, made before the privilege drop; null without
};

class StatsServer;
class Alarms;
class Carbon;

class Master {
 public:
  explicit Master(MasterParams params);
  ~Master();
  // Runs until the server stops; returns the exit code.
  int Run();

  // Another descriptor for the master's loop to wait on (the stats server, the master FIFO):
  // `on_ready` runs on the master's thread with poll's revents whenever `fd` is ready for
  // `events`. The caller keeps `fd` open until it calls Unwatch or the master returns; a
  // callback must never block (the master also reaps, respawns and enforces harakiri).
  void Watch(int fd, short events, std::function<void(short revents)> on_ready);
  void Unwatch(int fd);
  // What the instance is doing (instance_stop.h): the stats' /ready and worker status, and
  // the workers' signal handlers (through the shared page), read it.
  InstanceState instance_state() const { return instance_.state(); }

 private:
  struct Slot {
    pid_t pid = 0;
    int64_t born_ns = 0;
    int64_t respawn_at_ns = 0;  // 0: not waiting to respawn
    int64_t kill_at_ns = 0;     // 0: no mercy deadline running
    bool stop_now = false;      // that deadline is an immediate stop's, not worker-reload-mercy
    bool stopping = false;      // asked to finish (recycle); its exit is expected
    bool harakiri = false;      // killed by harakiri; respawn at once
    bool cheap = false;         // cheaper mode keeps this slot empty (its worker is stopping)
    std::string reason;         // why it was asked to stop
    RespawnBackoff backoff;
  };
  struct Retiring {
    pid_t pid = 0;
    int64_t kill_at_ns = 0;  // 0: not yet asked to stop
    bool stop_now = false;   // the deadline is an immediate stop's
  };
  enum class Phase { kRunning, kStopping };

  void SpawnWorker(int id);
  std::string MercyText(bool stop_now) const;
  int RunSpoolerChild(const std::string& dir);  // in the forked spooler process
  void Reap();
  void OnWorkerExit(int id, int status);
  std::string PlannedExitLine(int id, pid_t pid, int status, int64_t now) const;
  void Tick(int64_t now);
  void CheckHarakiri(int64_t now);
  void CheckLifetime(int64_t now);
  void CheckGenerationReady(int64_t now);
  void CheckTouchReload(int64_t now);
  void CheckTouchLogreopen();
  void EnforceMercy(int64_t now);
  void HandleSignal(SignalEvent ev);
  void BeginStop(bool graceful, const char* why);
  void SignalStop(bool graceful);  // tells every process to stop (after drain-delay)
  void BeginReload(const char* why);
  void OnReloadCheckExit(int status);
  void LogStats();
  bool AllStopped() const;
  void Vacuum();
  void StartStats();
  void StartAlarmsAndCarbon();
  std::vector<net::ListenSocket> ListenSockets() const;

  // Cheaper mode, the master FIFO, pause and chain reloads (master_control.cc).
  int InitialWorkers();
  void CheckCheaper(int64_t now);
  void SpawnCheap(int count, const std::string& why);
  bool CheapOne(const std::string& why);
  void OnFifoReadable();
  void OnFifoCommand(char c);
  void SetPaused(bool paused);
  void ReloadWorkers(const char* why);
  void BeginChainReload(const char* why);
  void CheckChainReload(int64_t now);
  void RotateLogs();

  struct Watched {
    int fd = -1;
    short events = 0;
    std::function<void(short)> on_ready;
  };

  MasterParams p_;
  std::vector<Watched> watched_;
  const ServerOptions& o_;
  Scoreboard scoreboard_;
  InstanceStop instance_;
  std::vector<Slot> slots_;  // index 0 unused: worker ids are 1-based
  std::vector<Retiring> retiring_;
  Daemons daemons_;
  Spoolers spoolers_;  // `spooler` directories' processes (spooler.h)
  CronTable cron_;  // cron/cron2: commands the master starts on a schedule
  Phase phase_ = Phase::kRunning;
  int exit_code_ = 0;
  bool ready_announced_ = false;
  bool any_worker_ready_ = false;
  pid_t check_pid_ = 0;
  int64_t next_touch_check_ns_ = 0;
  std::vector<int64_t> touch_mtimes_;
  std::vector<int64_t> logreopen_mtimes_;
  std::unique_ptr<CheaperPolicy> cheaper_;  // null unless cheaper mode
  int64_t next_cheaper_ns_ = 0;
  std::vector<int> busy_ticks_;  // per slot: ticks of the current second it was busy (busyness)
  int sample_ticks_ = 0;
  bool paused_ = false;          // master FIFO `p`: the workers are SIGSTOPped
  bool brutal_reload_ = false;   // master FIFO `R`: the old workers are stopped at once
  std::deque<int> chain_;        // chain reload: worker ids still to replace
  int chain_current_ = 0;        // the id being replaced (waiting for its successor to be ready)
  std::vector<int64_t> chain_touch_mtimes_;
  pid_t pid_ = 0;
  std::unique_ptr<StatsServer> stats_;  // null without `stats`
  std::unique_ptr<Alarms> alarms_;      // null without `alarm`
  std::unique_ptr<Carbon> carbon_;      // null without `carbon`
};

}  // namespace kiln::process
