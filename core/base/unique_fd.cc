#include "core/base/unique_fd.h"

#include <unistd.h>

namespace kiln::base {

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0 && fd_ != fd) {
    // close() on Linux releases the fd even when it reports EINTR; never retry.
    ::close(fd_);
  }
  fd_ = fd;
}

}  // namespace kiln::base
