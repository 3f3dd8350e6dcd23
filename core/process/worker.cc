// Worker process body and the scoreboard observer.
#include "core/process/worker.h"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "core/base/clock.h"
#include "core/base/strings.h"
#include "core/log/logger.h"
#include "core/process/host_setup.h"
#include "core/process/operations.h"
#include "core/process/instance_stop.h"
#include "core/process/supervisor_policy.h"

namespace kiln::process {
namespace {

// The handler's view of the running loop. A signal that arrives before the loop exists is
// remembered and applied as soon as it does.
std::atomic<net::ServeLoop*> g_loop{nullptr};
std::atomic<int> g_pending_stop{0};  // 0 none, 1 graceful, 2 immediate
// A SIGTERM this process sent itself: reload-on-exception (the plugin's way to ask for a
// recycle through the SDK it has).
std::atomic<bool> g_self_stop{false};
const std::atomic<int32_t>* g_instance_state = nullptr;  // set before the handlers
bool g_has_master = false;

// A graceful stop of the whole instance (not a reload's or a recycle's, when other processes
// go on serving the listen sockets) drains them: net/listen_drain.cc.
bool InstanceStops() {
  if (!g_has_master) return true;
  return g_instance_state != nullptr &&
         g_instance_state->load() == static_cast<int32_t>(InstanceState::kStopping);
}

void OnStopSignal(int sig, siginfo_t* info, void*) {
  bool graceful = sig == SIGTERM || sig == SIGHUP;
  if (sig == SIGTERM && info != nullptr && info->si_pid == getpid()) {
    g_self_stop.store(true);
  }
  net::ServeLoop* loop = g_loop.load();
  if (loop != nullptr) {
    loop->Stop(graceful, graceful && InstanceStops());
    return;
  }
  if (!graceful) {
    _exit(0);
  }
  g_pending_stop.store(1);
}

// Handlers first, then the mask inherited from the master is lifted: a stop signal that
// arrived in between is then handled, not fatal.
void InstallWorkerSignals() {
  struct sigaction sa {};
  sa.sa_sigaction = OnStopSignal;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGHUP, SIGINT, SIGQUIT}) {
    sigaction(sig, &sa, nullptr);
  }
  // USR1/USR2 are the master's (stats); a signal sent to the whole group must not kill us.
  signal(SIGUSR1, SIG_IGN);
  signal(SIGUSR2, SIG_IGN);
  signal(SIGCHLD, SIG_DFL);
  signal(SIGPIPE, SIG_IGN);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

std::string Title(const ServerOptions& o, std::string_view what) {
  return absl::StrFormat("%skiln %s", o.procname_prefix, what);
}

}  // namespace

void ScoreboardObserver::RequestStarted(int core_id, std::string_view method,
                                        std::string_view uri, std::string_view client,
                                        absl::Duration running) {
  // A rotation asked for while this worker sat idle: its logs move to the new files now.
  log::ReopenIfRequested();
  if (core_id >= 0 && core_id < scoreboard_.cores()) {
    CoreSlot& c = scoreboard_.core(worker_id_, core_id);
    // Shown in harakiri's log line. The bytes are copied as the request has them, cut at the
    // slot's size; the master escapes them (escape.h) when it logs the line, which is rare,
    // so a request pays for a copy and not for a scan of its values.
    size_t n = 0;
    const auto put = [&](std::string_view v) {
      const size_t k = std::min(v.size(), sizeof(c.request) - n);
      if (k > 0) std::memcpy(c.request + n, v.data(), k);  // an empty view may be null
      n += k;
    };
    put(method);
    put(" ");
    put(uri);
    put(" from ");
    put(client);
    c.request_len.store(static_cast<uint32_t>(n), std::memory_order_relaxed);
    c.request_start_ns.store(MonotonicNanos() - absl::ToInt64Nanoseconds(running));
  }
}

void ScoreboardObserver::RequestUpgraded(int core_id) {
  // The serving thread accepts a WebSocket between requests, so no request of its own is
  // running now: harakiri stops timing the core until the next one starts.
  if (core_id >= 0 && core_id < scoreboard_.cores()) {
    scoreboard_.core(worker_id_, core_id).request_start_ns.store(0);
  }
}

void ScoreboardObserver::RequestFinished(int core_id, const net::RequestOutcome& outcome) {
  WorkerSlot& w = scoreboard_.worker(worker_id_);
  // Relaxed: each counter is written by this worker alone and read whole by the master.
  constexpr auto kRelaxed = std::memory_order_relaxed;
  if (core_id >= 0 && core_id < scoreboard_.cores()) {
    CoreSlot& c = scoreboard_.core(worker_id_, core_id);
    c.request_start_ns.store(0);
    c.requests.fetch_add(1, kRelaxed);
    if (outcome.static_file) c.static_requests.fetch_add(1, kRelaxed);
    if (outcome.write_error) c.write_errors.fetch_add(1, kRelaxed);
    if (outcome.read_error) c.read_errors.fetch_add(1, kRelaxed);
  }
  uint64_t requests = w.requests.fetch_add(1) + 1;
  w.total_requests.fetch_add(1, kRelaxed);
  w.response_bytes.fetch_add(outcome.response_bytes, kRelaxed);
  w.total_response_bytes.fetch_add(outcome.response_bytes, kRelaxed);
  if (outcome.app_error) {
    w.exceptions.fetch_add(1, kRelaxed);
    w.total_exceptions.fetch_add(1, kRelaxed);
  }
  const auto duration = static_cast<uint64_t>(std::max<int64_t>(outcome.duration_ns, 0));
  w.running_ns.fetch_add(duration, kRelaxed);
  w.duration_sum_ns.fetch_add(duration, kRelaxed);
  w.duration_buckets[DurationBucket(outcome.duration_ns)].fetch_add(1, kRelaxed);
  uint64_t rss = 0, vsz = 0;
  if (memory_report_ || options_.reload_on_as_bytes > 0) {
    MemoryUse m = ProcessMemory(0);
    rss = m.rss_bytes;
    vsz = m.vsz_bytes;
    w.rss_bytes.store(m.rss_bytes);
    w.vsz_bytes.store(m.vsz_bytes);
  } else if (options_.reload_on_rss_bytes > 0) {
    rss = CurrentRssBytes();
    w.rss_bytes.store(rss);
  }
  RecycleLimits limits{
      MaxRequestsOfWorker(options_.max_requests, options_.max_requests_delta, worker_id_),
      options_.reload_on_rss_bytes, absl::ZeroDuration(), options_.min_worker_lifetime,
      options_.reload_on_as_bytes};
  // No limit a request can reach (the common case): no clock read for the worker's age.
  if (limits.max_requests == 0 && limits.max_rss_bytes == 0 && limits.max_vsz_bytes == 0) {
    return;
  }
  RecycleReason reason = ShouldRecycle(limits, requests, rss, base::WallNow() - born_, vsz);
  if (reason == RecycleReason::kNone || recycling_.exchange(true)) {
    return;
  }
  if (reason == RecycleReason::kMaxRequests) {
    log::Notice("worker %d (pid: %d): max-requests (%d) reached; finishing gracefully", worker_id_,
         getpid(), limits.max_requests);
  } else if (reason == RecycleReason::kAddressSpace) {
    log::Notice(
        "worker %d (pid: %d): address space %d MB above reload-on-as (%d MB); finishing "
        "gracefully",
        worker_id_, getpid(), vsz >> 20, options_.reload_on_as_bytes >> 20);
  } else {
    log::Notice("worker %d (pid: %d): rss %d MB above reload-on-rss (%d MB); finishing gracefully",
         worker_id_, getpid(), rss >> 20, options_.reload_on_rss_bytes >> 20);
  }
  // Tells the master this exit is planned (it logs a recycle, not a death).
  w.recycle_value.store(reason == RecycleReason::kMaxRequests    ? requests
                        : reason == RecycleReason::kAddressSpace ? vsz
                                                                 : rss);
  w.recycle_reason.store(static_cast<int32_t>(reason));
  w.state.store(static_cast<int32_t>(WorkerState::kStopping));
  if (loop_ != nullptr) {
    loop_->Stop(/*graceful=*/true);
  }
}

int RunWorker(const WorkerParams& p) {
  if (p.master_pid != 0) {
    // Die with the master, and catch a master that died before prctl took effect.
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != p.master_pid) {
      return 1;
    }
  }
  g_has_master = p.master_pid != 0;
  g_instance_state = p.instance_state;
  InstallWorkerSignals();
  if (p.master_pid != 0) {
    if (p.options->auto_procname || !p.options->procname_prefix.empty()) {
      SetProcessTitle(Title(*p.options, absl::StrFormat("worker %d", p.worker_id)));
    }
  }
  WorkerSlot& slot = p.scoreboard->worker(p.worker_id);
  slot.pid.store(getpid());
  // A failed hook ends the worker as a failed app load does (uWSGI: the instance).
  if (absl::Status s = WorkerForked(*p.options); !s.ok()) {
    log::Error("worker %d (pid: %d): %s", p.worker_id, getpid(), base::Sv(s.message()));
    return kExitAppFailed;
  }
  if (p.load_app) {
    if (absl::Status s = WorkerLoadApp(*p.options, [&] { return p.app->AppLoad(); }); !s.ok()) {
      log::Error("worker %d (pid: %d): the application failed to load: %s", p.worker_id, getpid(),
           base::Sv(s.message()));
      return kExitAppFailed;
    }
  }
  if (absl::Status s = p.app->PostFork(p.worker_id); !s.ok()) {
    log::Error("worker %d (pid: %d): post-fork hook failed: %s", p.worker_id, getpid(),
         base::Sv(s.message()));
    return kExitAppFailed;
  }
  if (absl::Status s = WorkerAppReady(*p.options); !s.ok()) {
    log::Error("worker %d (pid: %d): %s", p.worker_id, getpid(), base::Sv(s.message()));
    return kExitAppFailed;
  }
  ScoreboardObserver observer(*p.scoreboard, p.worker_id, *p.options);
  observer.set_memory_report(p.serve->memory_report);
  {
    net::ServeLoop loop(*p.serve, p.sockets, p.app->handler(), &observer, p.worker_id);
    observer.set_loop(&loop);
    g_loop.store(&loop);
    if (g_pending_stop.load() != 0) {
      loop.Stop(/*graceful=*/true, InstanceStops());
    }
    if (absl::Status s = WorkerAccepting(*p.options, p.worker_id); !s.ok()) {
      log::Error("worker %d (pid: %d): %s", p.worker_id, getpid(), base::Sv(s.message()));
      g_loop.store(nullptr);
      return kExitAppFailed;
    }
    slot.state.store(static_cast<int32_t>(WorkerState::kReady));
    loop.Run();
    g_loop.store(nullptr);
  }
  slot.state.store(static_cast<int32_t>(WorkerState::kStopping));
  if (g_self_stop.load() && p.options->reload_on_exception &&
      slot.recycle_reason.load() == static_cast<int32_t>(RecycleReason::kNone)) {
    slot.recycle_reason.store(static_cast<int32_t>(RecycleReason::kException));  // planned
  }
  p.app->WorkerExit();
  return 0;
}

}  // namespace kiln::process
