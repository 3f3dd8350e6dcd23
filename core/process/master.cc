// The master loop: spawn, reap, respawn, harakiri, recycling, signals, reload orchestration.
#include "core/process/master.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>
#include <vector>

#include "core/base/check.h"
#include "core/base/errno_status.h"
#include "core/base/strings.h"
#include "core/log/escape.h"
#include "core/log/logger.h"
#include "core/log/rotate.h"
#include "core/net/listener.h"
#include "core/process/alarms.h"
#include "core/process/carbon.h"
#include "core/process/hooks.h"
#include "core/process/host_setup.h"
#include "core/process/operations.h"
#include "core/process/stats_server.h"
#include "core/process/systemd.h"
#include "core/process/worker.h"

namespace kiln::process {
namespace {

constexpr int64_t kTickNs = 100'000'000;  // the loop wakes at least every 100 ms
constexpr int64_t kTouchPeriodNs = 1'000'000'000;
constexpr int64_t kStopNowMercyNs = 3'000'000'000;

int64_t Ns(absl::Duration d) { return absl::ToInt64Nanoseconds(d); }

std::string DescribeExit(int status) {
  if (WIFSIGNALED(status)) {
    return absl::StrFormat("killed by signal %d", WTERMSIG(status));
  }
  return absl::StrFormat("exited with code %d", WEXITSTATUS(status));
}

int64_t MtimeNs(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return -1;
  }
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

// The first line of /proc/<pid>/<what>, "" when it cannot be read.
std::string ProcFirstLine(pid_t pid, const char* what) {
  std::string path = absl::StrFormat("/proc/%d/%s", pid, what);
  base::UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return "";
  }
  char buf[512];
  ssize_t n = read(fd.Get(), buf, sizeof(buf) - 1);
  if (n <= 0) {
    return "";
  }
  std::string out(buf, static_cast<size_t>(n));
  size_t nl = out.find('\n');
  return nl == std::string::npos ? out : out.substr(0, nl);
}

// harakiri-verbose: where the stuck worker waits, read from /proc before it is killed.
void LogStuckProcess(int id, pid_t pid) {
  std::string syscall = ProcFirstLine(pid, "syscall");
  std::string wchan = ProcFirstLine(pid, "wchan");
  log::Error("HARAKIRI: worker %d (pid: %d) is in syscall [%s], waiting in [%s]", id, pid,
       syscall.empty() ? "unknown" : syscall, wchan.empty() || wchan == "0" ? "running" : wchan);
}

// The scoreboard is mapped before any fork; failing that is not something to serve without.
Scoreboard MakeScoreboard(int workers, int cores) {
  auto sb = Scoreboard::Create(workers, cores);
  KILN_CHECK(sb.ok(), "cannot map the scoreboard");
  return std::move(*sb);
}

}  // namespace

Master::Master(MasterParams params)
    : p_(std::move(params)),
      o_(*p_.options),
      scoreboard_(MakeScoreboard(o_.processes, p_.serve->threads)),
      slots_(static_cast<size_t>(o_.processes) + 1),
      cron_(o_.crons, SpawnShellCommand) {
  for (pid_t pid : p_.reload.old_workers) {
    retiring_.push_back(Retiring{pid, 0});
  }
  daemons_.Configure(o_.attach_daemons);
  spoolers_.Configure(o_.spooler, [this](const std::string& dir) { return RunSpoolerChild(dir); });
  for (const std::string& path : o_.touch_reload) {
    touch_mtimes_.push_back(MtimeNs(path));
  }
  for (const std::string& path : o_.touch_logreopen) {
    logreopen_mtimes_.push_back(MtimeNs(path));
  }
  for (const std::string& path : o_.touch_chain_reload) {
    chain_touch_mtimes_.push_back(MtimeNs(path));
  }
  p_.app->ScoreboardMapped(scoreboard_);
  if (!retiring_.empty()) {
    instance_.set_state(InstanceState::kReloading);  // until this generation is ready
  }
}

Master::~Master() = default;

void Master::StartStats() {
  if (o_.stats.empty()) {
    return;
  }
  auto address = net::ParseAddress(o_.stats);
  if (!address.ok()) {
    log::Error("option `stats = %s`: %s; no stats server", o_.stats,
               base::Sv(address.status().message()));
    return;
  }
  StatsConfig sc{*address, o_.stats, o_.stats_http, o_.stats_minified, o_.chmod_socket,
                 p_.serve->socket_timeout};
  auto server = StatsServer::Start(sc, *this, scoreboard_, *p_.sockets,
                                   static_cast<uint64_t>(p_.reload.generation),
                                   [this] { return instance_.state(); });
  if (!server.ok()) {
    log::Error("%s; serving on without a stats server", base::Sv(server.status().message()));
    return;
  }
  stats_ = std::move(*server);
}

void Master::StartAlarmsAndCarbon() {
  auto alarms = Alarms::Start(o_.alarms, *this);
  if (!alarms.ok()) {
    log::Error("%s; no alarms", base::Sv(alarms.status().message()));
  } else {
    alarms_ = std::move(*alarms);
  }
  const std::string first = p_.sockets->empty() ? "" : (*p_.sockets)[0].spec.text;
  auto carbon = Carbon::Start(o_.carbon, *this, scoreboard_, first, p_.serve->memory_report,
                              o_.cheaper.min > 0);
  if (!carbon.ok()) {
    log::Error("%s; no carbon pushes", base::Sv(carbon.status().message()));
  } else {
    carbon_ = std::move(*carbon);
  }
}

std::vector<net::ListenSocket> Master::ListenSockets() const {
  std::vector<net::ListenSocket> out;
  for (const BoundSocket& s : *p_.sockets) {
    out.push_back(net::ListenSocket{s.fd.Get(),
                                    s.spec.http ? net::Protocol::kHttp : net::Protocol::kUwsgi,
                                    s.bound.ToString(), s.bound.is_tcp()});
  }
  return out;
}

void Master::SpawnWorker(int id) {
  Slot& slot = slots_[static_cast<size_t>(id)];
  scoreboard_.Reset(id);
  scoreboard_.worker(id).state.store(static_cast<int32_t>(WorkerState::kStarting));
  scoreboard_.worker(id).respawn_count.fetch_add(1);
  scoreboard_.worker(id).spawned_unix_s.store(static_cast<int64_t>(time(nullptr)));
  int64_t now = MonotonicNanos();
  pid_t pid = fork();
  if (pid < 0) {
    log::Error("cannot fork worker %d: %s; retrying in 1s", id, base::ErrnoText(errno));
    slot.respawn_at_ns = now + 1'000'000'000;
    return;
  }
  if (pid > 0 && paused_) {
    kill(pid, SIGSTOP);  // master FIFO `p`: a respawned worker waits with the others
  }
  if (pid == 0) {
    if (p_.fifo != nullptr) {
      p_.fifo->CloseDescriptors();
    }
    if (stats_ != nullptr) {
      stats_->CloseInChild();
    }
    WorkerParams wp;
    wp.worker_id = id;
    wp.master_pid = pid_;
    wp.options = &o_;
    wp.serve = p_.serve;
    wp.sockets = ListenSockets();
    wp.app = p_.app;
    wp.scoreboard = &scoreboard_;
    wp.load_app = o_.lazy_apps;
    wp.instance_state = instance_.shared();
    _exit(RunWorker(wp));
  }
  slot.pid = pid;
  slot.born_ns = now;
  slot.respawn_at_ns = 0;
  slot.kill_at_ns = 0;
  slot.stopping = false;
  slot.harakiri = false;
  slot.cheap = false;
  slot.reason.clear();
  scoreboard_.worker(id).pid.store(pid);
  log::Notice("spawned kiln worker %d (pid: %d, cores: %d)", id, pid, p_.serve->threads);
}

// The spooler process: the master's descriptors closed, then the app's post-fork hooks (and
// with lazy-apps the app itself) before the first task.
int Master::RunSpoolerChild(const std::string& dir) {
  if (p_.fifo != nullptr) {
    p_.fifo->CloseDescriptors();
  }
  if (stats_ != nullptr) {
    stats_->CloseInChild();
  }
  for (const BoundSocket& s : *p_.sockets) {
    close(s.fd.Get());  // a spooler serves no requests (the process ends with _exit)
  }
  SpoolerProcessParams sp;
  sp.dir = dir;
  sp.options = &o_.spooler;
  sp.master_pid = pid_;
  if (o_.auto_procname || !o_.procname_prefix.empty()) {
    sp.title = absl::StrFormat("%skiln spooler %s", o_.procname_prefix, dir);
  }
  sp.start = [this]() -> absl::Status {
    if (o_.lazy_apps) {
      if (absl::Status s = p_.app->AppLoad(); !s.ok()) return s;
    }
    return p_.app->PostFork(0);
  };
  sp.run = [this](std::string_view path, const std::vector<protocol::SpoolVar>& vars,
                  std::string_view body) { return p_.app->Spool(path, vars, body); };
  return RunSpoolerProcess(sp);
}

void Master::Reap() {
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      return;
    }
    if (pid == check_pid_) {
      check_pid_ = 0;
      OnReloadCheckExit(status);
      continue;
    }
    bool found = false;
    for (size_t id = 1; id < slots_.size(); ++id) {
      if (slots_[id].pid == pid) {
        OnWorkerExit(static_cast<int>(id), status);
        found = true;
        break;
      }
    }
    if (found) {
      continue;
    }
    for (auto it = retiring_.begin(); it != retiring_.end(); ++it) {
      if (it->pid == pid) {
        log::Notice("worker of the previous generation (pid: %d) %s", pid, DescribeExit(status));
        retiring_.erase(it);
        found = true;
        break;
      }
    }
    if (!found && !cron_.OnExit(pid) && !(alarms_ && alarms_->OnExit(pid)) &&
        !spoolers_.OnExit(pid, status, MonotonicNanos(), phase_ == Phase::kStopping)) {
      daemons_.OnExit(pid, status, MonotonicNanos(), phase_ == Phase::kStopping);
    }
  }
}

void Master::OnWorkerExit(int id, int status) {
  Slot& slot = slots_[static_cast<size_t>(id)];
  pid_t pid = slot.pid;
  int64_t now = MonotonicNanos();
  bool was_ready = any_worker_ready_;
  slot.pid = 0;
  slot.kill_at_ns = 0;
  scoreboard_.worker(id).pid.store(0);
  scoreboard_.worker(id).state.store(static_cast<int32_t>(WorkerState::kEmpty));
  if (alarms_) alarms_->OnWorkerExit(id, pid, status);  // alarm-segfault
  if (phase_ == Phase::kStopping) {
    log::Notice("worker %d (pid: %d) %s", id, pid, DescribeExit(status));
    return;
  }
  if (slot.cheap) {  // stopped by cheaper mode: the slot stays empty
    log::Notice("cheaper: worker %d (pid: %d) %s; %s", id, pid, DescribeExit(status),
                "its slot stays empty until the load needs it");
    scoreboard_.worker(id).cheap.store(1);
    return;
  }
  bool app_failed = WIFEXITED(status) && WEXITSTATUS(status) == kExitAppFailed;
  if (app_failed && o_.need_app && !was_ready && retiring_.empty()) {
    log::Error("worker %d (pid: %d) could not load the application; stopping (need-app = true)", id, pid);
    exit_code_ = 1;
    BeginStop(/*graceful=*/false, "the application failed to load");
    return;
  }
  absl::Duration delay = absl::ZeroDuration();
  const std::string planned = PlannedExitLine(id, pid, status, now);
  if (!planned.empty()) {
    log::Notice("%s", planned);
    slot.backoff.OnExit(absl::InfiniteDuration());
  } else if (slot.harakiri) {
    log::Warn("worker %d (pid: %d) %s after harakiri; respawning", id, pid, DescribeExit(status));
    slot.backoff.OnExit(absl::InfiniteDuration());
  } else {
    delay = slot.backoff.OnExit(absl::Nanoseconds(now - slot.born_ns));
    // A worker that crashed while finishing a recycle still died: say what it was doing.
    const auto recycling = static_cast<RecycleReason>(scoreboard_.worker(id).recycle_reason.load());
    log::Error("DAMN ! worker %d (pid: %d) died, %s%s :( trying respawn ...", id, pid,
         DescribeExit(status),
         recycling == RecycleReason::kNone
             ? ""
             : absl::StrFormat(" while recycling (%s)", RecycleReasonText(recycling)));
    if (delay > absl::ZeroDuration()) {
      log::Warn("worker %d died %d time(s) in a row soon after start: respawn delayed by %s", id,
           slot.backoff.failures(), absl::FormatDuration(delay));
    }
  }
  slot.respawn_at_ns = now + Ns(delay);
  if (delay == absl::ZeroDuration()) {
    SpawnWorker(id);
  }
}

// The notice for a worker that exited because a recycling limit said so (the worker's own
// max-requests or reload-on-rss, read from its scoreboard slot; or the master's
// max-worker-lifetime), or "" when nobody asked for this exit. A worker that recycles on its
// own exits 0; any other end (a signal, a crash while draining) is a death.
std::string Master::PlannedExitLine(int id, pid_t pid, int status, int64_t now) const {
  const Slot& slot = slots_[static_cast<size_t>(id)];
  if (slot.stopping) {  // asked by the master; the mercy kill, if any, was logged already
    const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    return absl::StrFormat(
        "worker %d (pid: %d) recycled after %s (%s)%s; respawning", id, pid,
        absl::FormatDuration(absl::Trunc(absl::Nanoseconds(now - slot.born_ns), absl::Seconds(1))),
        slot.reason, clean ? "" : absl::StrFormat(", %s", DescribeExit(status)));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return "";
  }
  const WorkerSlot& w = scoreboard_.worker(id);
  switch (static_cast<RecycleReason>(w.recycle_reason.load())) {
    case RecycleReason::kMaxRequests:
      return absl::StrFormat(
          "worker %d (pid: %d) recycled after %d requests (max-requests); respawning", id, pid,
          w.recycle_value.load());
    case RecycleReason::kRss:
      return absl::StrFormat(
          "worker %d (pid: %d) recycled at %d MB rss (reload-on-rss = %d MB); respawning", id, pid,
          w.recycle_value.load() >> 20, o_.reload_on_rss_bytes >> 20);
    case RecycleReason::kAddressSpace:
      return absl::StrFormat(
          "worker %d (pid: %d) recycled at %d MB address space (reload-on-as = %d MB); "
          "respawning",
          id, pid, w.recycle_value.load() >> 20, o_.reload_on_as_bytes >> 20);
    case RecycleReason::kException:
      return absl::StrFormat(
          "worker %d (pid: %d) recycled after an application exception (reload-on-exception); "
          "respawning",
          id, pid);
    case RecycleReason::kNone:
    case RecycleReason::kLifetime:
      break;
  }
  return "";
}

void Master::CheckHarakiri(int64_t now) {
  if (o_.harakiri <= absl::ZeroDuration()) {
    return;
  }
  for (size_t id = 1; id < slots_.size(); ++id) {
    Slot& slot = slots_[id];
    if (slot.pid == 0 || slot.harakiri) {
      continue;
    }
    for (int c = 0; c < scoreboard_.cores(); ++c) {
      int64_t started = scoreboard_.core(static_cast<int>(id), c).request_start_ns.load();
      if (!HarakiriDue(absl::Nanoseconds(started), absl::Nanoseconds(now), o_.harakiri)) {
        continue;
      }
      WorkerSlot& w = scoreboard_.worker(static_cast<int>(id));
      uint64_t tries = w.harakiri_count.fetch_add(1) + 1;
      CoreSlot& core = scoreboard_.core(static_cast<int>(id), c);
      // The worker's copy of the request's own bytes (ScoreboardObserver::RequestStarted):
      // escaped here, so a CR, LF, NUL or terminal control in a URI cannot shape the log.
      char raw[kRequestTextSize];
      std::memcpy(raw, core.request, sizeof(raw));
      const size_t raw_len =
          std::min<size_t>(core.request_len.load(std::memory_order_relaxed), sizeof(raw));
      const std::string request = log::LogSafe(std::string_view(raw, raw_len));
      log::Error(
          "*** HARAKIRI ON WORKER %d (pid: %d, core: %d, try: %d): request running for %s, "
          "harakiri is %s ***",
          id, slot.pid, c, tries,
          absl::FormatDuration(
              absl::Trunc(absl::Nanoseconds(now - started), absl::Milliseconds(1))),
          absl::FormatDuration(o_.harakiri));
      log::Error("HARAKIRI: worker %d was running %s", id,
                 request.empty() ? std::string("(unknown)") : request);
      if (o_.harakiri_verbose) {
        LogStuckProcess(static_cast<int>(id), slot.pid);
      }
      kill(slot.pid, SIGKILL);
      slot.harakiri = true;
      break;
    }
  }
}

void Master::CheckLifetime(int64_t now) {
  if (o_.max_worker_lifetime <= absl::ZeroDuration()) {
    return;
  }
  RecycleLimits limits{0, 0, o_.max_worker_lifetime};
  for (size_t id = 1; id < slots_.size(); ++id) {
    Slot& slot = slots_[id];
    if (slot.pid == 0 || slot.stopping) {
      continue;
    }
    if (ShouldRecycle(limits, 0, 0, absl::Nanoseconds(now - slot.born_ns)) ==
        RecycleReason::kLifetime) {
      log::Notice("worker %d (pid: %d) reached max-worker-lifetime (%s); recycling it gracefully", id,
           slot.pid, absl::FormatDuration(o_.max_worker_lifetime));
      slot.stopping = true;
      slot.reason = "max-worker-lifetime";
      slot.kill_at_ns = now + Ns(o_.worker_reload_mercy);
      slot.stop_now = false;
      kill(slot.pid, SIGTERM);
    }
  }
}

void Master::CheckGenerationReady(int64_t now) {
  if (ready_announced_) {
    return;
  }
  for (size_t id = 1; id < slots_.size(); ++id) {
    auto state = static_cast<WorkerState>(scoreboard_.worker(static_cast<int>(id)).state.load());
    if (slots_[id].cheap) {
      continue;  // cheaper mode: not started yet
    }
    if (slots_[id].pid == 0 || state != WorkerState::kReady) {
      return;
    }
  }
  ready_announced_ = true;
  any_worker_ready_ = true;
  int serving = 0;  // cheaper mode starts fewer than `processes`
  for (size_t id = 1; id < slots_.size(); ++id) {
    serving += slots_[id].cheap ? 0 : 1;
  }
  if (instance_.state() == InstanceState::kReloading) {
    instance_.set_state(InstanceState::kRunning);
  }
  NotifySystemd(
      absl::StrFormat("READY=1\nMAINPID=%d\nSTATUS=serving with %d workers", pid_, serving));
  if (retiring_.empty()) {
    log::Notice("kiln is ready: %d worker(s) accepting", serving);
    return;
  }
  log::Notice(
      "reload: the new generation is accepting (%d workers); stopping %d worker(s) of the "
      "previous one gracefully",
      serving, retiring_.size());
  for (Retiring& r : retiring_) {
    kill(r.pid, SIGTERM);
    r.kill_at_ns = now + Ns(o_.worker_reload_mercy);
    r.stop_now = false;
  }
}

// Reopens the master's logs and bumps the shared counter: every worker reopens its own before
// its next log line or request (an idle worker too).
void Master::CheckTouchLogreopen() {
  for (size_t i = 0; i < o_.touch_logreopen.size(); ++i) {
    int64_t m = MtimeNs(o_.touch_logreopen[i]);
    if (m != logreopen_mtimes_[i]) {
      logreopen_mtimes_[i] = m;
      log::ReopenEverywhere();
      log::Notice("touch-logreopen: %s changed; log files reopened", o_.touch_logreopen[i]);
      return;
    }
  }
}

void Master::CheckTouchReload(int64_t now) {
  if ((o_.touch_reload.empty() && o_.touch_logreopen.empty() &&
       o_.touch_chain_reload.empty()) ||
      now < next_touch_check_ns_) {
    return;
  }
  next_touch_check_ns_ = now + kTouchPeriodNs;
  CheckTouchLogreopen();
  for (size_t i = 0; i < o_.touch_chain_reload.size(); ++i) {
    int64_t m = MtimeNs(o_.touch_chain_reload[i]);
    if (m != chain_touch_mtimes_[i]) {
      chain_touch_mtimes_[i] = m;
      log::Notice("touch-chain-reload: %s changed", o_.touch_chain_reload[i]);
      BeginChainReload("touch-chain-reload");
      return;
    }
  }
  for (size_t i = 0; i < o_.touch_reload.size(); ++i) {
    int64_t m = MtimeNs(o_.touch_reload[i]);
    if (m != touch_mtimes_[i]) {
      touch_mtimes_[i] = m;
      log::Notice("touch-reload: %s changed", o_.touch_reload[i]);
      BeginReload("touch-reload");
      return;
    }
  }
}

// The deadline a worker missed, for the line that says it is killed.
std::string Master::MercyText(bool stop_now) const {
  if (stop_now) {
    return absl::StrFormat("an immediate stop's %s",
                           absl::FormatDuration(absl::Nanoseconds(kStopNowMercyNs)));
  }
  return absl::StrFormat("worker-reload-mercy (%s)", absl::FormatDuration(o_.worker_reload_mercy));
}

void Master::EnforceMercy(int64_t now) {
  for (size_t id = 1; id < slots_.size(); ++id) {
    Slot& slot = slots_[id];
    if (slot.pid != 0 && slot.kill_at_ns != 0 && now >= slot.kill_at_ns) {
      log::Warn("worker %d (pid: %d) still running after %s: killing it", id, slot.pid,
                MercyText(slot.stop_now));
      kill(slot.pid, SIGKILL);
      slot.kill_at_ns = 0;
    }
  }
  for (Retiring& r : retiring_) {
    if (r.kill_at_ns != 0 && now >= r.kill_at_ns) {
      log::Warn("worker of the previous generation (pid: %d) still running after %s: killing it",
                r.pid, MercyText(r.stop_now));
      kill(r.pid, SIGKILL);
      r.kill_at_ns = 0;
    }
  }
}

void Master::Tick(int64_t now) {
  if (phase_ == Phase::kRunning) {
    for (size_t id = 1; id < slots_.size(); ++id) {
      if (slots_[id].pid == 0 && slots_[id].respawn_at_ns != 0 && now >= slots_[id].respawn_at_ns) {
        SpawnWorker(static_cast<int>(id));
      }
    }
    if (!paused_) {  // a stopped worker's request is not stuck, nor can it recycle
      CheckHarakiri(now);
      CheckLifetime(now);
    }
    CheckGenerationReady(now);
    CheckTouchReload(now);
    log::CheckRotation(now);  // log-maxsize: renames here, every process reopens
    cron_.Tick(time(nullptr));
    CheckChainReload(now);
    CheckCheaper(now);
    if (alarms_) alarms_->Tick(now, *p_.sockets);  // alarm-listen-queue
    if (carbon_) carbon_->Tick(now);
  }
  if (instance_.DelayOver(now)) SignalStop(/*graceful=*/true);
  daemons_.Tick(now, phase_ == Phase::kStopping);
  spoolers_.Tick(now, phase_ == Phase::kStopping);
  EnforceMercy(now);
}

void Master::BeginStop(bool graceful, const char* why) {
  if (phase_ == Phase::kStopping && graceful) {
    return;
  }
  SetPaused(false);  // a stopped worker cannot finish
  phase_ = Phase::kStopping;
  NotifySystemd("STOPPING=1");
  log::Notice("%s: %s", why,
       graceful ? absl::StrFormat("stopping gracefully (worker-reload-mercy %s)",
                                  absl::FormatDuration(o_.worker_reload_mercy))
                : std::string("stopping now"));
  if (!instance_.Begin(MonotonicNanos(), graceful ? o_.drain_delay : absl::ZeroDuration())) {
    log::Notice("drain-delay: accepting for %s more before draining",
                absl::FormatDuration(o_.drain_delay));
    return;  // Tick signals the workers when the delay is over
  }
  SignalStop(graceful);
}

void Master::SignalStop(bool graceful) {
  int64_t now = MonotonicNanos();
  int64_t mercy = graceful ? Ns(o_.worker_reload_mercy) : kStopNowMercyNs;
  int sig = graceful ? SIGTERM : SIGINT;
  for (size_t id = 1; id < slots_.size(); ++id) {
    if (slots_[id].pid != 0) {
      kill(slots_[id].pid, sig);
      if (slots_[id].kill_at_ns == 0 || now + mercy < slots_[id].kill_at_ns) {
        slots_[id].kill_at_ns = now + mercy;
        slots_[id].stop_now = !graceful;
      }
    }
  }
  for (Retiring& r : retiring_) {
    kill(r.pid, sig);
    r.kill_at_ns = now + mercy;
    r.stop_now = !graceful;
  }
  if (check_pid_ != 0) {
    kill(check_pid_, SIGKILL);
  }
  daemons_.TerminateAll();
  spoolers_.TerminateAll(now, mercy);
}

void Master::BeginReload(const char* why) {
  if (phase_ != Phase::kRunning) {
    return;
  }
  if (check_pid_ != 0) {
    log::Warn("%s: a reload is already being checked; ignored", why);
    return;
  }
  SetPaused(false);
  log::Notice("%s: %s reload: checking the new configuration and application first", why,
              brutal_reload_ ? "brutal" : "graceful");
  NotifySystemd("RELOADING=1");
  instance_.set_state(InstanceState::kReloading);
  std::vector<net::InheritedFd> fds;
  for (const BoundSocket& s : *p_.sockets) {
    fds.push_back(net::InheritedFd{s.fd.Get(), s.spec.address.ToString()});
  }
  auto pid = SpawnReloadCheck(p_.reload, fds);
  if (!pid.ok()) {
    brutal_reload_ = false;
    log::Error("reload aborted: %s; the running generation keeps serving",
         base::Sv(pid.status().message()));
    NotifySystemd("READY=1");
    instance_.set_state(InstanceState::kRunning);
    return;
  }
  check_pid_ = *pid;
}

void Master::OnReloadCheckExit(int status) {
  if (phase_ != Phase::kRunning) {
    return;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    brutal_reload_ = false;
    log::Error(
        "reload aborted: the new configuration or application failed its check (%s; its "
        "messages are above); the running generation keeps serving",
        DescribeExit(status));
    NotifySystemd("READY=1");
    instance_.set_state(InstanceState::kRunning);
    return;
  }
  log::Notice("reload check passed: re-executing %s (generation %d)", p_.reload.exe,
       p_.reload.generation + 1);
  daemons_.StopAndWait(o_.reload_mercy);
  spoolers_.StopAndWait(o_.reload_mercy);
  RunAtexitHooks(o_);  // uWSGI runs them before its binary reload too
  std::vector<net::InheritedFd> fds;
  for (const BoundSocket& s : *p_.sockets) {
    fds.push_back(net::InheritedFd{s.fd.Get(), s.spec.address.ToString()});
  }
  std::vector<pid_t> serving;
  for (size_t id = 1; id < slots_.size(); ++id) {
    if (slots_[id].pid != 0) {
      serving.push_back(slots_[id].pid);
    }
  }
  for (const Retiring& r : retiring_) {
    serving.push_back(r.pid);
  }
  if (brutal_reload_) {  // master FIFO `R`: the old workers stop now, requests and all
    for (pid_t pid : serving) {
      kill(pid, SIGINT);
    }
  }
  absl::Status s = ExecReload(p_.reload, fds, serving);
  log::Error("reload failed: %s; the running generation keeps serving", base::Sv(s.message()));
  NotifySystemd("READY=1");
  instance_.set_state(InstanceState::kRunning);
}

void Master::LogStats() {
  log::Notice("stats: generation %d, %d worker(s), %d old worker(s) finishing", p_.reload.generation,
       o_.processes, retiring_.size());
  for (size_t id = 1; id < slots_.size(); ++id) {
    const WorkerSlot& w = scoreboard_.worker(static_cast<int>(id));
    log::Notice("stats: worker %d pid %d state %d requests %d bytes %d rss %dMB harakiri %d", id,
         w.pid.load(), w.state.load(), w.requests.load(), w.response_bytes.load(),
         w.rss_bytes.load() >> 20, w.harakiri_count.load());
  }
}

void Master::HandleSignal(SignalEvent ev) {
  switch (ev) {
    case SignalEvent::kChild:
      Reap();
      break;
    case SignalEvent::kReload:
      BeginReload("SIGHUP");
      break;
    case SignalEvent::kTerm:
      if (o_.die_on_term) {
        BeginStop(/*graceful=*/true, "SIGTERM");
      } else {
        BeginReload("SIGTERM (die-on-term = false)");
      }
      break;
    case SignalEvent::kStopNow:
      BeginStop(/*graceful=*/false, "SIGINT/SIGQUIT");
      break;
    case SignalEvent::kStats:
      LogStats();
      break;
    case SignalEvent::kNone:
      break;
  }
}

void Master::Watch(int fd, short events, std::function<void(short revents)> on_ready) {
  Unwatch(fd);
  watched_.push_back(Watched{fd, events, std::move(on_ready)});
}

void Master::Unwatch(int fd) {
  std::erase_if(watched_, [fd](const Watched& w) { return w.fd == fd; });
}

bool Master::AllStopped() const {
  for (size_t id = 1; id < slots_.size(); ++id) {
    if (slots_[id].pid != 0) {
      return false;
    }
  }
  return retiring_.empty() && check_pid_ == 0 && !daemons_.AnyRunning() &&
         !spoolers_.AnyRunning();
}

void Master::Vacuum() {
  if (!o_.vacuum) {
    return;
  }
  for (const BoundSocket& s : *p_.sockets) {
    if (net::VacuumUnixSocket(s.bound.is_unix() ? s.spec.address : s.bound, s.fd.Get())) {
      log::Notice("VACUUM: unix socket %s removed", s.spec.address.path);
    }
  }
  for (const std::string* pidfile : {&o_.pidfile, &o_.safe_pidfile, &o_.pidfile2,
                                     &o_.safe_pidfile2}) {
    if (!pidfile->empty() && RemovePidfile(*pidfile, pid_)) {
      log::Notice("VACUUM: pidfile %s removed", *pidfile);
    }
  }
}

int Master::Run() {
  pid_ = getpid();
  auto signals = SignalSource::Create();
  if (!signals.ok()) {
    log::Error("kiln: %s", base::Sv(signals.status().message()));
    return 1;
  }
  if (o_.auto_procname || !o_.procname_prefix.empty()) {
    SetProcessTitle(absl::StrFormat("%skiln master", o_.procname_prefix));
  }
  log::Notice("master process started (pid: %d, generation %d)", pid_, p_.reload.generation);
  if (int efd = EmperorFd(); efd >= 0) {  // a vassal: the emperor's end closing means stop
    Watch(efd, POLLIN, [this, efd](short) {
      if (EmperorGone(efd)) {
        Unwatch(efd);
        BeginStop(/*graceful=*/true, "the emperor is gone");
      }
    });
  }
  StartStats();  // before the workers: it answers (not ready) while they start
  StartAlarmsAndCarbon();  // before the workers: they inherit the log-alarm hook
  const int initial = InitialWorkers();  // all of them, or cheaper-initial
  for (int id = 1; id <= initial; ++id) {
    SpawnWorker(id);
  }
  if (p_.fifo != nullptr) {
    Watch(p_.fifo->fd(), POLLIN, [this](short) { OnFifoReadable(); });
    log::Notice("master FIFO: reading commands from %s", p_.fifo->active_path());
  }
  if (absl::Status s = RunHooks(o_.hooks, HookPhase::kMasterStart); !s.ok()) {
    log::Error("%s; stopping", base::Sv(s.message()));
    exit_code_ = 1;
    BeginStop(/*graceful=*/false, "hook-master-start failed");
  }
  if (absl::Status s = spoolers_.Prepare(); !s.ok()) {
    log::Error("%s; stopping", base::Sv(s.message()));
    exit_code_ = 1;
    BeginStop(/*graceful=*/false, "the spooler cannot start");
  }
  int64_t now = MonotonicNanos();
  daemons_.Tick(now, false);
  spoolers_.Tick(now, phase_ == Phase::kStopping);
  std::vector<pollfd> pfds;
  while (phase_ == Phase::kRunning || !AllStopped()) {
    pfds.assign(1, pollfd{signals->fd(), POLLIN, 0});
    for (const Watched& w : watched_) {
      pfds.push_back(pollfd{w.fd, w.events, 0});
    }
    poll(pfds.data(), pfds.size(), static_cast<int>(kTickNs / 1'000'000));
    for (SignalEvent ev = signals->Next(); ev != SignalEvent::kNone; ev = signals->Next()) {
      HandleSignal(ev);
    }
    // A callback may Watch or Unwatch: look each ready fd up again instead of walking
    // watched_ while it changes.
    for (size_t i = 1; i < pfds.size(); ++i) {
      if (pfds[i].revents == 0) {
        continue;
      }
      for (const Watched& w : watched_) {
        if (w.fd == pfds[i].fd) {
          auto on_ready = w.on_ready;  // a copy: the callback may Unwatch itself
          on_ready(pfds[i].revents);
          break;
        }
      }
    }
    Reap();  // SIGCHLDs coalesce: always look
    Tick(MonotonicNanos());
  }
  RunAtexitHooks(o_);
  stats_.reset();  // its unix socket file goes now, with the others
  carbon_.reset();
  alarms_.reset();
  Vacuum();
  if (p_.fifo != nullptr) {
    p_.fifo->Remove();
  }
  p_.app->Shutdown();
  log::Notice("goodbye from kiln (pid: %d)", pid_);
  return exit_code_;
}

}  // namespace kiln::process
