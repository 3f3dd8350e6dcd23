// The master FIFO (`master-fifo`): named pipes an operator writes one-letter commands into
// (uWSGI's MasterFIFO: `echo r > /run/app.fifo`). Several may be configured; the first is
// active, and `0`-`9` make another one active. Created before the privilege drop, mode 0600,
// owned by the user kiln runs as; removed when the server stops (kept over a reload, whose new
// image opens it again). What each command does is the master's business (master_control.cc).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/base/unique_fd.h"

namespace kiln::process {

class MasterFifo {
 public:
  // Makes every FIFO in `paths` and opens the first. A path that holds anything but a FIFO
  // (a symlink, a regular file, a directory) is refused, never removed; a FIFO found there
  // (left by a previous run) is replaced, or reused when this process may not replace it but
  // owns it (a reloaded master that dropped root). `owner_uid`/`owner_gid`: chown to these
  // (the `uid`/`gid` kiln drops to) so the master can still read after the drop.
  static absl::StatusOr<MasterFifo> Create(const std::vector<std::string>& paths,
                                           std::optional<uid_t> owner_uid,
                                           std::optional<gid_t> owner_gid);
  MasterFifo(MasterFifo&&) = default;
  MasterFifo& operator=(MasterFifo&&) = default;

  // The read end of the active FIFO, for poll(POLLIN). Changes when a digit switches FIFOs.
  int fd() const { return read_.Get(); }
  const std::string& active_path() const { return paths_[active_]; }

  // Reads what is waiting (never blocks) and returns the command letters in order, without
  // newlines and blanks. A digit makes FIFO n active (when it exists) and is not returned;
  // letters after it in the same read are still returned.
  std::string ReadCommands();

  // Closes this process's descriptors of the FIFO without removing it (a forked worker: only
  // the master reads commands).
  void CloseDescriptors() {
    read_.Reset();
    write_.Reset();
  }

  // Removes the FIFOs this process made (only when what is at the path is still that FIFO).
  void Remove();

 private:
  MasterFifo() = default;
  absl::Status OpenActive();

  std::vector<std::string> paths_;
  std::vector<std::pair<dev_t, ino_t>> made_;  // the FIFO each path holds, for Remove
  size_t active_ = 0;
  base::UniqueFd read_;
  base::UniqueFd write_;  // a writer of our own: poll does not report EOF when writers leave
};

}  // namespace kiln::process
