// Spool task files (spool_enqueue.h).
#include "core/plugin/spool_enqueue.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <random>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "core/base/errno_status.h"
#include "core/base/strings.h"
#include "core/base/unique_fd.h"

namespace kiln::plugin {
namespace {

std::atomic<uint64_t> g_counter{0};

std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  return ::realpath(path.c_str(), buf) != nullptr ? std::string(buf) : path;
}

bool AllDigits(std::string_view s) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::string Hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  std::string out(buf);
  for (char& c : out) {
    if (c == '/' || c == '_') c = '-';  // the name's fields are '_'-separated; never a path
  }
  return out;
}

absl::Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrFormat("write: %s", base::ErrnoText(errno)));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> WriteSpoolTask(const std::vector<std::string>& dirs,
                                           const std::vector<protocol::SpoolVar>& vars,
                                           std::string_view body) {
  if (dirs.empty()) {
    return absl::FailedPreconditionError("no spooler available (set the `spooler` option)");
  }
  std::string_view wanted, priority, at;
  for (const auto& [key, value] : vars) {
    if (key == "spooler") wanted = value;
    if (key == "priority") priority = value;
    if (key == "at") at = value;
  }
  std::string dir;
  if (wanted.empty()) {
    dir = RealPath(dirs.front());
  } else {
    for (const std::string& d : dirs) {
      std::string real = RealPath(d);
      if (wanted == d || wanted == real) {
        dir = real;
        break;
      }
    }
    if (dir.empty()) {
      return absl::NotFoundError(absl::StrFormat("unable to find spooler \"%s\"", wanted));
    }
  }
  int64_t at_seconds = 0;
  if (!at.empty()) {
    std::string_view whole = at.substr(0, at.find('.'));  // uWSGI: `at` may be a float
    if (!absl::SimpleAtoi(base::Av(whole), &at_seconds)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("spool argument `at` = \"%s\" is not a unix time", at));
    }
  }
  if (!priority.empty() && !AllDigits(priority)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "spool argument `priority` = \"%s\" is not a number (it names a subdirectory)",
        priority.substr(0, 64)));
  }
  absl::StatusOr<std::string> content = protocol::EncodeSpoolFile(vars, body);
  if (!content.ok()) return content.status();

  base::UniqueFd dirfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dirfd) {
    return absl::FailedPreconditionError(
        absl::StrFormat("spooler directory %s: %s", dir, base::ErrnoText(errno)));
  }
  std::string where = dir;
  if (!priority.empty()) {
    std::string sub(priority);
    if (::mkdirat(dirfd.Get(), sub.c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "spooler priority directory %s/%s: %s", dir, sub, base::ErrnoText(errno)));
    }
    // Never through a symlink someone planted under the priority's name.
    base::UniqueFd subfd(::openat(dirfd.Get(), sub.c_str(),
                                  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!subfd) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "spooler priority directory %s/%s: %s", dir, sub, base::ErrnoText(errno)));
    }
    dirfd = std::move(subfd);
    where += "/" + sub;
  }

  struct timeval tv;
  gettimeofday(&tv, nullptr);
  static thread_local std::mt19937 rng(std::random_device{}());
  std::string name = absl::StrFormat(
      "uwsgi_spoolfile_on_%s_%d_%d_%d_%d_%d", Hostname(), getpid(), g_counter.fetch_add(1) + 1,
      static_cast<int>(rng() & 0x7fffffff), static_cast<int64_t>(tv.tv_sec),
      static_cast<int64_t>(tv.tv_usec));
  std::string tmp = "." + name + ".tmp";  // not a task name: spoolers skip it
  base::UniqueFd fd(::openat(dirfd.Get(), tmp.c_str(),
                             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) {
    return absl::InternalError(
        absl::StrFormat("cannot create %s/%s: %s", where, tmp, base::ErrnoText(errno)));
  }
  absl::Status written = WriteAll(fd.Get(), *content);
  if (written.ok() && at_seconds > 0) {
    struct timespec ts[2] = {{at_seconds, 0}, {at_seconds, 0}};
    if (::futimens(fd.Get(), ts) != 0) {
      written = absl::InternalError(absl::StrFormat("futimens: %s", base::ErrnoText(errno)));
    }
  }
  if (written.ok() && ::renameat2(dirfd.Get(), tmp.c_str(), dirfd.Get(), name.c_str(),
                                  RENAME_NOREPLACE) != 0) {
    written = absl::InternalError(absl::StrFormat("rename: %s", base::ErrnoText(errno)));
  }
  if (!written.ok()) {
    ::unlinkat(dirfd.Get(), tmp.c_str(), 0);
    return absl::InternalError(
        absl::StrFormat("cannot write spool file %s/%s: %s", where, name, written.message()));
  }
  return where + "/" + name;
}

}  // namespace kiln::plugin
