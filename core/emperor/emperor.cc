// The emperor's loop: scan, spawn, reap, throttle, signals, stats.
#include "core/emperor/emperor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/base/errno_status.h"
#include "core/base/strings.h"
#include "core/base/unique_fd.h"
#include "core/build_info.h"
#include "core/config/config.h"
#include "core/emperor/emperor_stats.h"
#include "core/emperor/vassal_files.h"
#include "core/emperor/vassal_spawn.h"
#include "core/log/file_sink.h"
#include "core/log/logger.h"
#include "core/process/host_setup.h"
#include "core/process/scoreboard.h"
#include "core/process/signals.h"
#include "core/process/systemd.h"

namespace kiln::emperor {
namespace {

constexpr int64_t kSecond = 1'000'000'000;
// An inotify event is followed by a scan this much later, so a burst of events (an editor's
// save) is one scan.
constexpr int64_t kSettleNs = 50'000'000;
// Vassals still running this long after the emperor asked them to stop are killed (each
// vassal's own worker-reload-mercy, 60 s by default, normally ends its stop first).
constexpr int64_t kStopMercyNs = 90 * kSecond;

int64_t UnixNow() { return static_cast<int64_t>(time(nullptr)); }

std::string DescribeExit(int status) {
  if (WIFSIGNALED(status)) {
    return absl::StrFormat("killed by signal %d", WTERMSIG(status));
  }
  return absl::StrFormat("exited with code %d", WEXITSTATUS(status));
}

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

struct Vassal {
  std::string path;
  std::string id;
  std::string source;
  FileState file;
  bool present = true;       // the file exists
  std::string refused;       // why it is not run (tyrant refusal), "" when it may run
  pid_t pid = 0;
  base::UniqueFd link;       // the emperor's end of the link
  bool stopping = false;     // asked to stop; not respawned
  bool respawn_now = false;  // stopped to start again at once (the owner changed)
  bool loyal = false;        // ready at least once since this process was spawned
  bool ready = false;
  bool reload_pending = false;  // a change seen while it was not ready: reload once it is
  std::optional<Identity> identity;
  // Unix seconds for the stats document.
  int64_t born = 0, last_mod = 0, last_heartbeat = 0, last_loyal = 0, last_ready = 0,
          first_run = 0, last_run = 0, cursed = 0;
  int respawns = 0;
  // Throttling: deaths before being ready, in a row.
  int attempt = 0;
  int64_t throttle_ms = 0;
  int64_t first_attempt = 0, last_attempt = 0;
  int64_t spawn_at_ns = 0;  // 0: not waiting to spawn
  bool blacklisted = false;
};

class Emperor {
 public:
  Emperor(EmperorOptions o, std::string exe) : o_(std::move(o)), exe_(std::move(exe)) {}
  int Run();
  // The current state, for the stats document, the metrics and /ready.
  EmperorStats Stats() const;

 private:
  // `deep`: read every file's content too (after an inotify event, or without inotify).
  void Scan(int64_t now, bool deep);
  void Added(const VassalFile& f, int64_t now);
  void ChangedFile(Vassal& v, const FileState& fs, int64_t now);
  bool CheckIdentity(Vassal& v);
  void Spawn(Vassal& v, int64_t now);
  void Reload(Vassal& v, const char* why);
  void Stop(Vassal& v, const char* why);
  void Reap(int64_t now);
  void OnExit(Vassal& v, int status, int64_t now);
  void OnLink(Vassal& v);
  void HandleSignal(process::SignalEvent ev, int64_t now);
  void LogStates() const;
  void BeginShutdown(const char* why, int64_t now);
  int64_t NextDeadline(int64_t now) const;

  EmperorOptions o_;
  std::string exe_;
  std::map<std::string, Vassal> vassals_;  // by path
  DirWatch watch_;
  StatsServer stats_;
  int64_t next_scan_ns_ = 0;
  bool deep_scan_ = false;  // an inotify event asked for the next scan
  bool shutting_down_ = false;
  int64_t kill_at_ns_ = 0;
  pid_t pid_ = 0;
  std::string cwd_;
};

bool Emperor::CheckIdentity(Vassal& v) {
  if (!o_.tyrant) {
    v.refused.clear();
    return true;
  }
  absl::StatusOr<Identity> id = TyrantIdentity(v.path, v.file, o_.tyrant_nofollow);
  if (!id.ok()) {
    std::string why(id.status().message());
    if (why != v.refused) {  // logged once per state of the file
      log::Error("emperor: vassal %s refused: %s", v.id, why);
    }
    v.refused = why;
    v.identity.reset();
    return false;
  }
  v.refused.clear();
  v.identity = *id;
  return true;
}

void Emperor::Spawn(Vassal& v, int64_t now) {
  v.spawn_at_ns = 0;
  if (shutting_down_ || !v.present || !v.refused.empty()) {
    return;
  }
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    log::Error("emperor: vassal %s: socketpair failed: %s; retrying in 1s", v.id,
               base::ErrnoText(errno));
    v.spawn_at_ns = now + kSecond;
    return;
  }
  base::UniqueFd ours(pair[0]);
  base::UniqueFd theirs(pair[1]);
  VassalCommand cmd = BuildVassalCommand(exe_, v.path, o_);
  absl::StatusOr<pid_t> pid = SpawnVassal(cmd, v.identity, theirs.Get());
  if (!pid.ok()) {
    log::Error("emperor: vassal %s: %s; retrying in 1s", v.id, base::Sv(pid.status().message()));
    v.spawn_at_ns = now + kSecond;
    return;
  }
  int flags = fcntl(ours.Get(), F_GETFL);
  fcntl(ours.Get(), F_SETFL, flags | O_NONBLOCK);
  v.pid = *pid;
  v.link = std::move(ours);
  v.loyal = v.ready = false;
  v.reload_pending = false;
  v.stopping = v.respawn_now = false;
  v.cursed = 0;
  v.born = UnixNow();
  if (v.first_run == 0) v.first_run = v.born;
  v.last_run = v.born;
  if (v.identity) {
    log::Notice("emperor: vassal %s started (pid: %d) as %s (uid %d, gid %d)", v.id, v.pid,
                v.identity->user, v.identity->uid, v.identity->gid);
  } else {
    log::Notice("emperor: vassal %s started (pid: %d)", v.id, v.pid);
  }
}

void Emperor::Reload(Vassal& v, const char* why) {
  if (v.pid == 0 || v.stopping) {
    return;
  }
  if (!v.ready) {
    // Not ready: still starting (SIGHUP would kill a kiln before its signal handling is up)
    // or already reloading (a second SIGHUP would be ignored and the change lost).
    v.reload_pending = true;
    return;
  }
  log::Notice("emperor: vassal %s: %s: graceful reload (pid: %d)", v.id, why, v.pid);
  v.ready = false;
  kill(v.pid, SIGHUP);
}

void Emperor::Stop(Vassal& v, const char* why) {
  if (v.pid == 0) {
    return;
  }
  int sig = o_.graceful_shutdown || !shutting_down_ ? SIGTERM : SIGINT;
  if (!v.stopping) {
    log::Notice("emperor: vassal %s: %s: stopping %s (pid: %d)", v.id, why,
                sig == SIGTERM ? "gracefully" : "now", v.pid);
  }
  v.stopping = true;
  v.ready = false;
  v.cursed = UnixNow();
  kill(v.pid, sig);
}

void Emperor::Added(const VassalFile& f, int64_t now) {
  absl::StatusOr<FileState> fs = ReadFileState(f.path, o_.nofollow, o_.tyrant_nofollow);
  if (!fs.ok()) {
    return;  // vanished between the listing and here, or not a regular file
  }
  Vassal& v = vassals_[f.path];
  v.path = f.path;
  v.id = BaseName(f.path);
  v.source = f.source;
  v.file = *fs;
  v.last_mod = fs->mtime_ns / kSecond;
  if (CheckIdentity(v)) {
    Spawn(v, now);
  }
}

void Emperor::ChangedFile(Vassal& v, const FileState& fs, int64_t now) {
  bool owner_changed = fs.uid != v.file.uid || fs.gid != v.file.gid;
  bool changed = Changed(v.file, fs);
  v.file = fs;
  if (!changed && !owner_changed) {
    return;
  }
  v.last_mod = fs.mtime_ns / kSecond;
  bool was_refused = !v.refused.empty();
  if (!CheckIdentity(v)) {
    Stop(v, "refused after a change");
    return;
  }
  if (v.pid == 0) {
    // Blacklisted, refused before, or waiting to retry: a change brings it back now.
    if (v.blacklisted || was_refused || v.spawn_at_ns != 0) {
      log::Notice("emperor: vassal %s changed: starting it now", v.id);
    }
    Spawn(v, now);
    return;
  }
  if (o_.tyrant && owner_changed) {
    v.respawn_now = true;  // a new identity needs a new process
    Stop(v, "its owner changed");
    return;
  }
  Reload(v, "its file changed");
}

void Emperor::Scan(int64_t now, bool deep) {
  next_scan_ns_ = now + o_.freq_s * kSecond;
  deep_scan_ = false;
  std::vector<VassalFile> files = ListVassalFiles(o_.sources);
  std::map<std::string, const VassalFile*> found;
  for (const VassalFile& f : files) found[f.path] = &f;
  for (auto& [path, v] : vassals_) {
    auto it = found.find(path);
    if (it == found.end()) {
      if (v.present) {
        v.present = false;
        v.spawn_at_ns = 0;
        if (v.pid != 0) Stop(v, "its file is gone");
      }
      continue;
    }
    if (!deep && v.present && !v.file.symlink &&
        SameByStat(path, v.file, o_.nofollow, o_.tyrant_nofollow)) {
      continue;  // inotify reports every write; unchanged stat means unchanged file
    }
    absl::StatusOr<FileState> fs = ReadFileState(path, o_.nofollow, o_.tyrant_nofollow);
    if (!fs.ok()) continue;
    if (!v.present) {  // deleted and back before the old vassal finished stopping
      v.present = true;
      v.file = *fs;
      CheckIdentity(v);
      if (v.pid != 0) v.respawn_now = true;
      else Spawn(v, now);
      continue;
    }
    ChangedFile(v, *fs, now);
  }
  for (const VassalFile& f : files) {
    if (!vassals_.contains(f.path)) Added(f, now);
  }
  std::erase_if(vassals_, [](const auto& e) { return !e.second.present && e.second.pid == 0; });
}

void Emperor::OnLink(Vassal& v) {
  char buf[64];
  for (;;) {
    ssize_t n = recv(v.link.Get(), buf, sizeof(buf), MSG_DONTWAIT);
    if (n <= 0) {
      if (n == 0) v.link.Reset();  // the vassal is going; its exit is reaped
      return;
    }
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] != process::kEmperorReady) continue;
      int64_t t = UnixNow();
      v.last_heartbeat = v.last_ready = t;
      if (!v.loyal) v.last_loyal = t;
      v.loyal = v.ready = true;
      if (v.blacklisted) {
        log::Notice("emperor: vassal %s is ready: off the blacklist", v.id);
      }
      v.blacklisted = false;
      v.attempt = 0;
      v.throttle_ms = 0;
      if (v.stopping) continue;
      if (v.reload_pending) {
        v.reload_pending = false;
        Reload(v, "its file changed while it started");
      }
    }
  }
}

void Emperor::OnExit(Vassal& v, int status, int64_t now) {
  v.pid = 0;
  v.link.Reset();
  v.ready = false;
  bool wanted = v.stopping && !v.respawn_now;
  if (shutting_down_ || !v.present || wanted) {
    log::Notice("emperor: vassal %s stopped (%s)", v.id, DescribeExit(status));
    return;
  }
  if (v.respawn_now) {
    Spawn(v, now);
    return;
  }
  if (v.loyal) {
    ++v.respawns;
    log::Warn("emperor: vassal %s %s: respawning it", v.id, DescribeExit(status));
    Spawn(v, now);
    return;
  }
  // Died before it was ever ready: a broken file or app. Retry later, each time later.
  ++v.attempt;
  int64_t base_ms = absl::ToInt64Milliseconds(o_.throttle);
  int64_t max_ms = absl::ToInt64Milliseconds(o_.max_throttle);
  int64_t delay = base_ms;
  for (int i = 1; i < v.attempt && delay < max_ms; ++i) delay *= 2;
  delay = std::min(delay, max_ms);
  v.throttle_ms = delay;
  int64_t t = UnixNow();
  if (!v.blacklisted) v.first_attempt = t;
  v.last_attempt = t;
  v.blacklisted = true;
  v.spawn_at_ns = now + delay * 1'000'000;
  log::Error(
      "emperor: vassal %s %s before it was ready (attempt %d): blacklisted, next try in %s "
      "or when its file changes (its messages are above)",
      v.id, DescribeExit(status), v.attempt, absl::FormatDuration(absl::Milliseconds(delay)));
}

void Emperor::Reap(int64_t now) {
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    for (auto& [path, v] : vassals_) {
      if (v.pid == pid) {
        OnExit(v, status, now);
        break;
      }
    }
  }
}

void Emperor::LogStates() const {
  log::Notice("emperor: %d vassal(s)", vassals_.size());
  for (const auto& [path, v] : vassals_) {
    std::string state = !v.refused.empty() ? "refused"
                        : v.stopping       ? "stopping"
                        : v.pid == 0       ? (v.blacklisted ? "blacklisted" : "waiting")
                        : v.ready          ? "ready"
                        : v.loyal          ? "reloading"
                                           : "starting";
    log::Notice("emperor: vassal %s pid %d state %s respawns %d attempt %d", v.id, v.pid, state,
                v.respawns, v.attempt);
  }
}

void Emperor::BeginShutdown(const char* why, int64_t now) {
  if (shutting_down_) return;
  shutting_down_ = true;
  process::NotifySystemd("STOPPING=1");
  kill_at_ns_ = now + kStopMercyNs;
  log::Notice("emperor: %s: stopping every vassal %s, then the emperor", why,
              o_.graceful_shutdown ? "gracefully" : "now");
  for (auto& [path, v] : vassals_) {
    v.spawn_at_ns = 0;
    Stop(v, why);
  }
}

void Emperor::HandleSignal(process::SignalEvent ev, int64_t now) {
  switch (ev) {
    case process::SignalEvent::kChild:
      Reap(now);
      break;
    case process::SignalEvent::kReload:
      if (shutting_down_) break;
      log::Notice("emperor: SIGHUP: reloading every vassal gracefully");
      for (auto& [path, v] : vassals_) Reload(v, "SIGHUP");
      break;
    case process::SignalEvent::kTerm:
      BeginShutdown("SIGTERM", now);
      break;
    case process::SignalEvent::kStopNow:
      BeginShutdown("SIGINT/SIGQUIT", now);
      break;
    case process::SignalEvent::kStats:
      LogStates();
      break;
    case process::SignalEvent::kNone:
      break;
  }
}

int64_t Emperor::NextDeadline(int64_t now) const {
  int64_t next = shutting_down_ ? kill_at_ns_ : next_scan_ns_;
  for (const auto& [path, v] : vassals_) {
    if (v.spawn_at_ns != 0) next = std::min(next, v.spawn_at_ns);
  }
  return next;
}

EmperorStats Emperor::Stats() const {
  EmperorStats s;
  s.version = KILN_VERSION_STRING;
  s.pid = pid_;
  s.uid = getuid();
  s.gid = getgid();
  s.cwd = cwd_;
  s.emperor = o_.sources;
  s.tyrant = o_.tyrant;
  s.stopping = shutting_down_;
  for (const auto& [path, v] : vassals_) {
    VassalStats vs;
    vs.id = v.id;
    vs.pid = v.pid;
    vs.born = v.born;
    vs.last_mod = v.last_mod;
    vs.last_heartbeat = v.last_heartbeat;
    vs.loyal = v.loyal;
    vs.ready = v.ready;
    vs.accepting = v.ready;
    vs.last_loyal = v.last_loyal;
    vs.last_ready = vs.last_accepting = v.last_ready;
    vs.first_run = v.first_run;
    vs.last_run = v.last_run;
    vs.cursed = v.cursed;
    vs.uid = v.identity ? v.identity->uid : getuid();
    vs.gid = v.identity ? v.identity->gid : getgid();
    vs.monitor = v.source;
    vs.respawns = v.respawns;
    vs.blacklisted = v.blacklisted;
    vs.refused = !v.refused.empty();
    vs.stopping = (v.stopping && !v.respawn_now) || !v.present;
    vs.throttle_ms = v.throttle_ms;
    vs.attempt = v.attempt;
    s.vassals.push_back(std::move(vs));
    if (v.blacklisted) {
      s.blacklist.push_back(
          BlacklistStats{v.id, v.throttle_ms, v.attempt, v.first_attempt, v.last_attempt});
      s.throttle_level = std::max(s.throttle_level, v.throttle_ms);
    }
  }
  return s;
}

int Emperor::Run() {
  pid_ = getpid();
  char cwd[4096];
  if (getcwd(cwd, sizeof(cwd)) != nullptr) cwd_ = cwd;
  auto signals = process::SignalSource::Create();
  if (!signals.ok()) {
    log::Error("kiln emperor: %s", base::Sv(signals.status().message()));
    return 1;
  }
  if (!o_.stats.empty()) {
    if (absl::Status s = stats_.Open(o_.stats, o_.stats_http); !s.ok()) {
      log::Error("kiln emperor: %s", base::Sv(s.message()));
      return 1;
    }
    log::Notice("emperor: stats server%s on %s", o_.stats_http ? " (HTTP)" : "", o_.stats);
  }
  if (!o_.pidfile.empty()) {
    if (absl::Status s = process::WritePidfile(o_.pidfile, pid_); !s.ok()) {
      log::Error("kiln emperor: option `emperor-pidfile`: %s", base::Sv(s.message()));
      stats_.Close();
      return 1;
    }
  }
  if (!o_.procname.empty()) process::SetProcessTitle(o_.procname);
  if (!o_.on_demand_extension.empty()) {
    log::Warn(
        "emperor-on-demand-extension = %s is not supported: kiln's vassals bind their own "
        "sockets (and keep them across reloads), so every vassal starts at once",
        o_.on_demand_extension);
  }
  watch_.Open(o_.sources);
  log::Notice("emperor started (pid: %d), watching %s%s%s", pid_, absl::StrJoin(o_.sources, ", "),
              watch_.covers_all() ? " with inotify" : " (no inotify on every directory)",
              absl::StrFormat(", scanning every %ds", o_.freq_s));
  Scan(process::MonotonicNanos(), /*deep=*/true);
  // Started (each vassal reports its own readiness to the emperor, not to systemd).
  process::NotifySystemd(absl::StrFormat("READY=1\nMAINPID=%d\nSTATUS=emperor of %d vassal(s)",
                                         pid_, vassals_.size()));
  std::vector<pollfd> pfds;
  std::vector<Vassal*> linked;
  while (!shutting_down_ || std::any_of(vassals_.begin(), vassals_.end(),
                                        [](const auto& e) { return e.second.pid != 0; })) {
    int64_t now = process::MonotonicNanos();
    pfds.assign(1, pollfd{signals->fd(), POLLIN, 0});
    size_t watch_at = 0;
    if (watch_.fd() >= 0) {
      watch_at = pfds.size();
      pfds.push_back(pollfd{watch_.fd(), POLLIN, 0});
    }
    size_t stats_at = pfds.size();
    stats_.AddPollFds(&pfds);
    size_t links_at = pfds.size();
    linked.clear();
    for (auto& [path, v] : vassals_) {
      if (v.link) {
        linked.push_back(&v);
        pfds.push_back(pollfd{v.link.Get(), POLLIN, 0});
      }
    }
    int64_t wait_ms = std::max<int64_t>(0, (NextDeadline(now) - now + 999'999) / 1'000'000);
    poll(pfds.data(), pfds.size(), static_cast<int>(wait_ms));
    now = process::MonotonicNanos();
    for (auto ev = signals->Next(); ev != process::SignalEvent::kNone; ev = signals->Next()) {
      HandleSignal(ev, now);
    }
    for (size_t i = 0; i < linked.size(); ++i) {
      if (pfds[links_at + i].revents != 0 && linked[i]->link) OnLink(*linked[i]);
    }
    Reap(now);  // SIGCHLDs coalesce: always look
    stats_.OnPoll(pfds.data() + stats_at, now, [this] { return Stats(); });
    if (watch_at != 0 && pfds[watch_at].revents != 0 && watch_.Drain()) {
      next_scan_ns_ = std::min(next_scan_ns_, now + kSettleNs);
      deep_scan_ = true;
    }
    if (shutting_down_) {
      if (now >= kill_at_ns_) {
        for (auto& [path, v] : vassals_) {
          if (v.pid != 0) {
            log::Warn("emperor: vassal %s still running: killing it", v.id);
            kill(v.pid, SIGKILL);
          }
        }
        kill_at_ns_ = now + kStopMercyNs;
      }
      continue;
    }
    if (now >= next_scan_ns_) Scan(now, deep_scan_ || !watch_.covers_all());
    for (auto& [path, v] : vassals_) {
      if (v.pid == 0 && v.spawn_at_ns != 0 && now >= v.spawn_at_ns) Spawn(v, now);
    }
  }
  stats_.Close();
  if (!o_.pidfile.empty()) process::RemovePidfile(o_.pidfile, pid_);
  log::Notice("goodbye from the emperor (pid: %d)", pid_);
  return 0;
}

}  // namespace

int RunEmperor(const config::Config& cfg) {
  absl::StatusOr<EmperorOptions> o = EmperorOptionsFromConfig(cfg);
  if (!o.ok()) {
    log::Error("kiln: error: %s", base::Sv(o.status().message()));
    return 1;
  }
  if (!o->stdio_log.empty()) {
    // Vassals print to the emperor's stderr unless they set a log of their own.
    if (absl::Status s = log::SetStdioTarget(o->stdio_log, {}); !s.ok()) {
      log::Error("kiln: error: %s", base::Sv(s.message()));
      return 1;
    }
  }
  process::EmperorFd();  // an emperor that is itself a vassal keeps its link from its vassals
  Emperor emperor(std::move(*o), process::SelfExePath());
  return emperor.Run();
}

}  // namespace kiln::emperor
