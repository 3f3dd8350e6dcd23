// Creating, opening and reading the master FIFOs safely: lstat first (never follow a link),
// mkfifo, then open with O_NOFOLLOW and fstat the descriptor to be sure it is the FIFO this
// process made before fchmod/fchown.
#include "core/process/master_fifo.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_format.h"
#include "core/base/errno_status.h"
#include "core/log/logger.h"

namespace kiln::process {
namespace {

absl::Status FifoError(const std::string& path, const std::string& what) {
  return absl::FailedPreconditionError(absl::StrFormat("master-fifo %s: %s", path, what));
}

// Makes a FIFO at `path`, replacing a stale FIFO but nothing else. Sets `reuse` when a FIFO
// this process owns is there and cannot be replaced (its directory is not writable to us).
absl::Status MakeFifo(const std::string& path, bool* reuse) {
  *reuse = false;
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISFIFO(st.st_mode)) {
      return FifoError(path, "the path exists and is not a FIFO (a file, link or directory); "
                             "refusing to remove it");
    }
    if (st.st_uid != geteuid() && st.st_uid != 0) {
      // As root, a FIFO of another user is not ours to reuse; replace it.
      if (geteuid() != 0) {
        return FifoError(path, absl::StrFormat("a FIFO owned by uid %d is there", st.st_uid));
      }
    }
    if (unlink(path.c_str()) != 0) {
      if ((errno == EACCES || errno == EPERM) && st.st_uid == geteuid()) {
        *reuse = true;
        return absl::OkStatus();
      }
      return base::ErrnoError(errno, "unlink", path);
    }
  } else if (errno != ENOENT) {
    return base::ErrnoError(errno, "lstat", path);
  }
  if (mkfifo(path.c_str(), 0600) != 0) {
    return base::ErrnoError(errno, "mkfifo", path);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<MasterFifo> MasterFifo::Create(const std::vector<std::string>& paths,
                                              std::optional<uid_t> owner_uid,
                                              std::optional<gid_t> owner_gid) {
  MasterFifo f;
  f.paths_ = paths;
  for (const std::string& path : paths) {
    bool reuse = false;
    if (absl::Status s = MakeFifo(path, &reuse); !s.ok()) {
      return s;
    }
    // O_RDONLY|O_NONBLOCK opens a FIFO without waiting for a writer; O_NOFOLLOW and the fstat
    // make sure this is the FIFO just made, not something swapped in since.
    base::UniqueFd fd(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
      return base::ErrnoError(errno, "open", path);
    }
    struct stat st;
    if (fstat(fd.Get(), &st) != 0) {
      return base::ErrnoError(errno, "fstat", path);
    }
    if (!S_ISFIFO(st.st_mode) || st.st_uid != geteuid()) {
      return FifoError(path, "what was opened is not the FIFO kiln made; refusing it");
    }
    if (fchmod(fd.Get(), 0600) != 0) {
      return base::ErrnoError(errno, "fchmod", path);
    }
    if (!reuse && geteuid() == 0 && (owner_uid || owner_gid)) {
      if (fchown(fd.Get(), owner_uid ? *owner_uid : static_cast<uid_t>(-1),
                 owner_gid ? *owner_gid : static_cast<gid_t>(-1)) != 0) {
        return base::ErrnoError(errno, "fchown", path);
      }
    }
    f.made_.emplace_back(st.st_dev, st.st_ino);
  }
  if (absl::Status s = f.OpenActive(); !s.ok()) {
    return s;
  }
  return f;
}

absl::Status MasterFifo::OpenActive() {
  const std::string& path = paths_[active_];
  base::UniqueFd r(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC));
  if (!r) {
    return base::ErrnoError(errno, "open", path);
  }
  struct stat st;
  if (fstat(r.Get(), &st) != 0 || !S_ISFIFO(st.st_mode) || st.st_dev != made_[active_].first ||
      st.st_ino != made_[active_].second) {
    return FifoError(path, "the FIFO was replaced by something else; refusing it");
  }
  // With a reader open, a non-blocking open for writing succeeds at once.
  base::UniqueFd w(open(path.c_str(), O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC));
  if (!w) {
    return base::ErrnoError(errno, "open for writing", path);
  }
  read_ = std::move(r);
  write_ = std::move(w);
  return absl::OkStatus();
}

std::string MasterFifo::ReadCommands() {
  std::string out;
  char buf[512];
  for (;;) {
    ssize_t n = read(read_.Get(), buf, sizeof(buf));
    if (n <= 0) {
      break;
    }
    for (ssize_t i = 0; i < n; ++i) {
      char c = buf[i];
      if (c == '\n' || c == '\r' || c == ' ' || c == '\t') {
        continue;
      }
      if (c >= '0' && c <= '9') {
        size_t want = static_cast<size_t>(c - '0');
        if (want >= paths_.size()) {
          log::Warn("master FIFO: there is no master-fifo number %d (%d configured)", want,
                    paths_.size());
        } else if (want != active_) {
          size_t old = active_;
          active_ = want;
          if (absl::Status s = OpenActive(); !s.ok()) {
            log::Error("master FIFO: %s; %s stays active", s.message(), paths_[old]);
            active_ = old;
          } else {
            log::Notice("master FIFO: %s is now the active FIFO", paths_[active_]);
          }
        }
        continue;
      }
      out.push_back(c);
    }
  }
  return out;
}

void MasterFifo::Remove() {
  CloseDescriptors();
  for (size_t i = 0; i < paths_.size() && i < made_.size(); ++i) {
    struct stat st;
    if (lstat(paths_[i].c_str(), &st) == 0 && S_ISFIFO(st.st_mode) &&
        st.st_dev == made_[i].first && st.st_ino == made_[i].second) {
      if (unlink(paths_[i].c_str()) != 0) {
        log::Warn("master FIFO %s not removed: %s", paths_[i], base::ErrnoText(errno));
      }
    }
  }
}

}  // namespace kiln::process
