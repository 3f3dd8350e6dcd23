// Root-safe opening, checking and replacing of the files kiln writes (see safe_file.h).
#include "core/base/safe_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

#include "absl/strings/str_format.h"
#include "core/base/errno_status.h"

namespace kiln::base {
namespace {

absl::Status Refuse(const std::string& path, std::string_view why) {
  return absl::FailedPreconditionError(
      absl::StrFormat("refusing to open %s: %s", path, why));
}

// Why opening an existing `path` failed with `err`: the refusal when the path is not a
// regular file (O_NOFOLLOW gives ELOOP for a symlink, O_NONBLOCK gives ENXIO for a FIFO with
// no reader), else the system's reason.
absl::Status OpenFailure(const std::string& path, int err) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    if (S_ISLNK(st.st_mode)) {
      return Refuse(path,
                    "it is a symbolic link; kiln never follows a symlink at the end of a path it "
                    "writes (whoever can write the directory could point it at any file): name "
                    "the file itself");
    }
    return Refuse(path, absl::StrFormat("it is %s, not a regular file", FileKind(st.st_mode)));
  }
  return ErrnoError(err, "open", path);
}

}  // namespace

std::string_view FileKind(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return "a regular file";
    case S_IFLNK:
      return "a symbolic link";
    case S_IFDIR:
      return "a directory";
    case S_IFIFO:
      return "a FIFO";
    case S_IFSOCK:
      return "a socket";
    case S_IFCHR:
      return "a character device";
    case S_IFBLK:
      return "a block device";
    default:
      return "an unknown kind of file";
  }
}

absl::Status CheckExistingFile(const std::string& path, const struct stat& st,
                               std::optional<uid_t> service_uid, uid_t euid) {
  if (!S_ISREG(st.st_mode)) {
    return Refuse(path, absl::StrFormat("it is %s, not a regular file", FileKind(st.st_mode)));
  }
  // Not root, kiln's own user is the service user: it could write the file anyway.
  const bool service_owned =
      (service_uid.has_value() && st.st_uid == *service_uid) || (euid != 0 && st.st_uid == euid);
  if (st.st_uid != 0 && !service_owned) {
    return Refuse(
        path, service_uid.has_value()
                  ? absl::StrFormat("it is owned by uid %d, but only root or the service user "
                                    "(uid %d) may own a file kiln writes",
                                    st.st_uid, *service_uid)
                  : absl::StrFormat("it is owned by uid %d, but only root may own a file kiln "
                                    "writes as root",
                                    st.st_uid));
  }
  if (st.st_nlink > 1 && !service_owned) {
    return Refuse(path, absl::StrFormat(
                            "it is owned by uid %d and has %d hard links; another name for the "
                            "same file may be one kiln must not write: remove the extra links",
                            st.st_uid, st.st_nlink));
  }
  return absl::OkStatus();
}

absl::StatusOr<OpenedFile> OpenAppendFile(const std::string& path,
                                          const AppendFileOptions& options) {
  if (path.empty()) {
    return absl::InvalidArgumentError("the file path is empty");
  }
  constexpr int kFlags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK;
  OpenedFile out;
  // Create-or-open races with someone removing the file in between: a few rounds settle it.
  for (int attempt = 0; attempt < 3 && !out.fd; ++attempt) {
    // O_EXCL never follows a symlink: a planted one gives EEXIST and the open below.
    out.fd.Reset(::open(path.c_str(), kFlags | O_CREAT | O_EXCL, options.mode));
    if (out.fd) {
      out.created = true;
      break;
    }
    if (errno != EEXIST) {
      return ErrnoError(errno, "open", path);
    }
    out.fd.Reset(::open(path.c_str(), kFlags));
    if (!out.fd && errno != ENOENT) {
      return OpenFailure(path, errno);
    }
  }
  if (!out.fd) {
    return ErrnoError(ENOENT, "open", path);
  }
  const int fd = out.fd.Get();
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    return ErrnoError(errno, "fstat", path);
  }
  if (out.created) {
    // open()'s mode went through the umask; the operator asked for this mode exactly.
    if (::fchmod(fd, options.mode) != 0) {
      return ErrnoError(errno, "fchmod", path);
    }
    // Only a file made here is given away, and only through its descriptor.
    if (options.uid.has_value() || options.gid.has_value()) {
      if (::fchown(fd, options.uid.value_or(static_cast<uid_t>(-1)),
                   options.gid.value_or(static_cast<gid_t>(-1))) != 0) {
        return ErrnoError(errno, "fchown", path);
      }
    }
  } else if (absl::Status s = CheckExistingFile(path, st, options.uid, ::geteuid()); !s.ok()) {
    return s;
  }
  // A regular file never blocks; clear the flag so the descriptor reads as plain O_APPEND.
  const int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0 || ::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
    return ErrnoError(errno, "fcntl", path);
  }
  return out;
}

absl::Status ReplaceFile(const std::string& path, std::string_view content, mode_t mode) {
  std::string tmpl = path + ".XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  UniqueFd fd(::mkostemp(name.data(), O_CLOEXEC));
  if (!fd) {
    return ErrnoError(errno, "create a temporary file for", path);
  }
  const std::string tmp(name.data());
  auto fail = [&](int err, std::string_view what) {
    ::unlink(tmp.c_str());
    return ErrnoError(err, what, tmp);
  };
  if (::fchmod(fd.Get(), mode) != 0) {
    return fail(errno, "fchmod");
  }
  ssize_t n;
  do {
    n = ::write(fd.Get(), content.data(), content.size());
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(content.size())) {
    return fail(n < 0 ? errno : ENOSPC, "write");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoError(err, "rename", path);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadRegularFile(const std::string& path, size_t max) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK));
  if (!fd) {
    if (errno == ENOENT) {
      return ErrnoError(errno, "open", path);
    }
    return OpenFailure(path, errno);
  }
  struct stat st;
  if (::fstat(fd.Get(), &st) != 0) {
    return ErrnoError(errno, "fstat", path);
  }
  if (!S_ISREG(st.st_mode)) {
    return Refuse(path, absl::StrFormat("it is %s, not a regular file", FileKind(st.st_mode)));
  }
  std::string out(max, '\0');
  ssize_t n;
  do {
    n = ::read(fd.Get(), out.data(), max);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    return ErrnoError(errno, "read", path);
  }
  out.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace kiln::base
