// The master's side of the spooler: options, directories, fork, reap, respawn, stop.
#include "core/process/spooler.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "absl/strings/str_format.h"
#include "core/base/errno_status.h"
#include "core/log/logger.h"
#include "core/process/scoreboard.h"
#include "core/process/signals.h"

namespace kiln::process {

absl::Status ReadSpoolerOptions(const config::Config& cfg, SpoolerOptions* out) {
  out->dirs = cfg.GetList("spooler");
  int64_t processes = cfg.GetNumber("spooler-processes");
  if (processes < 1 || processes > 64) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "option `spooler-processes = %d`: expected 1 to 64 processes per directory", processes));
  }
  out->processes = static_cast<int>(processes);
  out->frequency = cfg.GetDuration("spooler-frequency");
  if (out->frequency < absl::Milliseconds(100)) {
    return absl::InvalidArgumentError(
        "option `spooler-frequency`: expected at least 100ms between scans");
  }
  out->harakiri = cfg.GetDuration("spooler-harakiri");
  out->ordered = cfg.GetFlag("spooler-ordered");
  out->quiet = cfg.GetFlag("spooler-quiet");
  for (const std::string& d : out->dirs) {
    if (d.empty()) return absl::InvalidArgumentError("option `spooler`: empty directory");
  }
  return absl::OkStatus();
}

void Spoolers::Configure(const SpoolerOptions& options,
                         std::function<int(const std::string& dir)> child_main) {
  options_ = options;
  child_main_ = std::move(child_main);
}

absl::Status Spoolers::Prepare() {
  procs_.clear();
  for (std::string& dir : options_.dirs) {
    // As uWSGI: a missing directory is made, for the spooler's user alone.
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "option `spooler = %s`: cannot create the directory: %s", dir, base::ErrnoText(errno)));
    }
    char real[PATH_MAX];
    if (::realpath(dir.c_str(), real) == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrFormat("option `spooler = %s`: %s", dir, base::ErrnoText(errno)));
    }
    struct stat st;
    if (::stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrFormat("option `spooler = %s`: not a directory", dir));
    }
    if (::access(real, R_OK | W_OK | X_OK) != 0) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "option `spooler = %s`: the spooler's user (uid %d) cannot read and write it", dir,
          geteuid()));
    }
    dir = real;
    for (int i = 0; i < options_.processes; ++i) {
      Proc p;
      p.dir = dir;
      procs_.push_back(std::move(p));
    }
  }
  prepared_ = true;
  return absl::OkStatus();
}

void Spoolers::Spawn(Proc& p, int64_t now_ns) {
  pid_t pid = fork();
  if (pid < 0) {
    log::Error("spooler on %s: fork failed: %s; retrying in 1s", p.dir, base::ErrnoText(errno));
    p.respawn_at_ns = now_ns + 1'000'000'000;
    return;
  }
  if (pid == 0) {
    _exit(child_main_(p.dir));
  }
  p.pid = pid;
  p.born_ns = now_ns;
  p.respawn_at_ns = 0;
  p.kill_at_ns = 0;
  log::Notice("spawned the kiln spooler on dir %s (pid: %d)", p.dir, pid);
}

void Spoolers::Tick(int64_t now_ns, bool stopping) {
  if (!prepared_) return;
  for (Proc& p : procs_) {
    if (stopping) {
      if (p.pid > 0 && p.kill_at_ns != 0 && now_ns >= p.kill_at_ns) {
        log::Warn("spooler on %s (pid: %d) still running its task after the mercy: killing it",
                  p.dir, p.pid);
        kill(p.pid, SIGKILL);
        p.kill_at_ns = 0;
      }
      continue;
    }
    if (p.pid == 0 && p.respawn_at_ns <= now_ns) {
      Spawn(p, now_ns);
    }
  }
}

bool Spoolers::OnExit(pid_t pid, int status, int64_t now_ns, bool stopping) {
  for (Proc& p : procs_) {
    if (p.pid != pid) continue;
    p.pid = 0;
    p.kill_at_ns = 0;
    if (stopping) {
      log::Notice("spooler on %s (pid: %d) stopped", p.dir, pid);
      return true;
    }
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM &&
        options_.harakiri > absl::ZeroDuration()) {
      // Its task is still in the directory: the next spooler runs it again.
      log::Error("HARAKIRI: spooler on %s (pid: %d) ran a task longer than spooler-harakiri "
                 "(%s); respawning",
                 p.dir, pid, absl::FormatDuration(options_.harakiri));
      p.backoff.OnExit(absl::InfiniteDuration());
      p.respawn_at_ns = now_ns;
      return true;
    }
    absl::Duration delay = p.backoff.OnExit(absl::Nanoseconds(now_ns - p.born_ns));
    if (WIFSIGNALED(status)) {
      log::Error("spooler on %s (pid: %d) killed by signal %d; respawning in %s", p.dir, pid,
                 WTERMSIG(status), absl::FormatDuration(delay));
    } else {
      log::Error("spooler on %s (pid: %d) exited with code %d; respawning in %s", p.dir, pid,
                 WEXITSTATUS(status), absl::FormatDuration(delay));
    }
    p.respawn_at_ns = now_ns + absl::ToInt64Nanoseconds(delay);
    return true;
  }
  return false;
}

void Spoolers::TerminateAll(int64_t now_ns, int64_t mercy_ns) {
  for (Proc& p : procs_) {
    if (p.pid > 0) {
      kill(p.pid, SIGTERM);
      if (p.kill_at_ns == 0) p.kill_at_ns = now_ns + mercy_ns;
    }
  }
}

bool Spoolers::AnyRunning() const {
  for (const Proc& p : procs_) {
    if (p.pid > 0) return true;
  }
  return false;
}

void Spoolers::StopAndWait(absl::Duration mercy) {
  int64_t deadline = MonotonicNanos() + absl::ToInt64Nanoseconds(mercy);
  TerminateAll(MonotonicNanos(), absl::ToInt64Nanoseconds(mercy));
  while (AnyRunning()) {
    for (Proc& p : procs_) {
      if (p.pid > 0 && waitpid(p.pid, nullptr, WNOHANG) == p.pid) p.pid = 0;
    }
    if (AnyRunning() && MonotonicNanos() >= deadline) {
      for (Proc& p : procs_) {
        if (p.pid > 0) {
          log::Warn("spooler on %s (pid: %d) still running after reload-mercy: killing it",
                    p.dir, p.pid);
          kill(p.pid, SIGKILL);
          waitpid(p.pid, nullptr, 0);
          p.pid = 0;
        }
      }
      break;
    }
    usleep(20000);
  }
}

}  // namespace kiln::process
