// The master's signals, read synchronously from a signalfd: the handled signals are blocked
// in the master and arrive as events in its loop. Children restore the default mask.
#pragma once

#include <signal.h>

#include "absl/status/statusor.h"
#include "core/base/unique_fd.h"

namespace kiln::process {

enum class SignalEvent { kNone, kChild, kReload, kTerm, kStopNow, kStats };

class SignalSource {
 public:
  // Blocks HUP, TERM, INT, QUIT, USR1, CHLD and creates the signalfd (non-blocking, CLOEXEC).
  static absl::StatusOr<SignalSource> Create();
  int fd() const { return fd_.Get(); }
  // The next pending event, kNone when there is none.
  SignalEvent Next();

 private:
  explicit SignalSource(base::UniqueFd fd) : fd_(std::move(fd)) {}
  base::UniqueFd fd_;
};

// Unblocks every signal and restores default dispositions: for freshly forked children and
// before exec of commands that are not kiln.
void ResetSignalsForChild();

// The signals the master blocks. They stay blocked across the re-exec of a reload, so a
// signal sent while the new image starts waits for its signalfd instead of killing it.
sigset_t MasterSignalSet();

}  // namespace kiln::process
