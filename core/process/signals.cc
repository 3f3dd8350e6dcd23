// signalfd plumbing for the master.
#include "core/process/signals.h"

#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>

#include "core/base/errno_status.h"

namespace kiln::process {

sigset_t MasterSignalSet() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGCHLD}) {
    sigaddset(&set, sig);
  }
  return set;
}

absl::StatusOr<SignalSource> SignalSource::Create() {
  sigset_t set = MasterSignalSet();
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) {
    return base::ErrnoError(errno, "sigprocmask");
  }
  signal(SIGPIPE, SIG_IGN);
  base::UniqueFd fd(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!fd) {
    return base::ErrnoError(errno, "signalfd");
  }
  return SignalSource(std::move(fd));
}

SignalEvent SignalSource::Next() {
  signalfd_siginfo info;
  for (;;) {
    ssize_t n = read(fd_.Get(), &info, sizeof(info));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n != static_cast<ssize_t>(sizeof(info))) {
      return SignalEvent::kNone;
    }
    switch (info.ssi_signo) {
      case SIGCHLD:
        return SignalEvent::kChild;
      case SIGHUP:
        return SignalEvent::kReload;
      case SIGTERM:
        return SignalEvent::kTerm;
      case SIGINT:
      case SIGQUIT:
        return SignalEvent::kStopNow;
      case SIGUSR1:
        return SignalEvent::kStats;
      default:
        continue;
    }
  }
}

void ResetSignalsForChild() {
  for (int sig : {SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD, SIGPIPE}) {
    signal(sig, SIG_DFL);
  }
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
}

}  // namespace kiln::process
