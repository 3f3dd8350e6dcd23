// Attached daemons: spawn, respawn with backoff, stop.
#include "core/log/logger.h"
#include "core/process/daemons.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "core/base/errno_status.h"
#include "core/process/scoreboard.h"
#include "core/process/signals.h"

namespace kiln::process {

void Daemons::Configure(const std::vector<std::string>& commands) {
  for (const std::string& c : commands) {
    Daemon d;
    d.command = c;
    daemons_.push_back(std::move(d));
  }
}

void Daemons::Spawn(Daemon& d, int64_t now_ns) {
  pid_t master = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    log::Error("attached daemon `%s`: fork failed: %s; retrying", d.command, base::ErrnoText(errno));
    d.respawn_at_ns = now_ns + 1000000000;
    return;
  }
  if (pid == 0) {
    ResetSignalsForChild();
    setpgid(0, 0);  // its own group, so a stop reaches the children the shell starts
    prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    if (getppid() != master) {
      _exit(1);
    }
    execl("/bin/sh", "sh", "-c", d.command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid, pid);
  d.pid = pid;
  d.born_ns = now_ns;
  d.respawn_at_ns = 0;
  log::Notice("spawned attached daemon `%s` (pid: %d)", d.command, pid);
}

void Daemons::Tick(int64_t now_ns, bool stopping) {
  if (stopping) {
    return;
  }
  for (Daemon& d : daemons_) {
    if (d.pid == 0 && d.respawn_at_ns <= now_ns) {
      Spawn(d, now_ns);
    }
  }
}

bool Daemons::OnExit(pid_t pid, int status, int64_t now_ns, bool stopping) {
  for (Daemon& d : daemons_) {
    if (d.pid != pid) {
      continue;
    }
    d.pid = 0;
    if (stopping) {
      return true;
    }
    absl::Duration delay = d.backoff.OnExit(absl::Nanoseconds(now_ns - d.born_ns));
    if (WIFSIGNALED(status)) {
      log::Warn("attached daemon `%s` (pid: %d) killed by signal %d; respawning in %s", d.command, pid,
           WTERMSIG(status), absl::FormatDuration(delay));
    } else {
      log::Warn("attached daemon `%s` (pid: %d) exited with code %d; respawning in %s", d.command, pid,
           WEXITSTATUS(status), absl::FormatDuration(delay));
    }
    d.respawn_at_ns = now_ns + absl::ToInt64Nanoseconds(delay);
    return true;
  }
  return false;
}

void Daemons::TerminateAll() {
  for (Daemon& d : daemons_) {
    if (d.pid > 0) {
      kill(-d.pid, SIGTERM);
    }
  }
}

void Daemons::KillAll() {
  for (Daemon& d : daemons_) {
    if (d.pid > 0) {
      log::Warn("attached daemon `%s` (pid: %d) still running after reload-mercy: killing it", d.command,
           d.pid);
      kill(-d.pid, SIGKILL);
    }
  }
}

bool Daemons::AnyRunning() const {
  for (const Daemon& d : daemons_) {
    if (d.pid > 0) {
      return true;
    }
  }
  return false;
}

void Daemons::StopAndWait(absl::Duration mercy) {
  TerminateAll();
  int64_t deadline = MonotonicNanos() + absl::ToInt64Nanoseconds(mercy);
  while (AnyRunning()) {
    for (Daemon& d : daemons_) {
      if (d.pid > 0 && waitpid(d.pid, nullptr, WNOHANG) == d.pid) {
        d.pid = 0;
      }
    }
    if (MonotonicNanos() >= deadline) {
      KillAll();
      for (Daemon& d : daemons_) {
        if (d.pid > 0) {
          waitpid(d.pid, nullptr, 0);
          d.pid = 0;
        }
      }
      break;
    }
    usleep(20000);
  }
}

}  // namespace kiln::process
