// Log rotation (log-maxsize, log-backupname, log-backupcount, the FIFO's `L`): the master
// renames, the shared reopen counter moves every process to the new file.
#include "core/log/rotate.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/errno_status.h"
#include "core/base/safe_file.h"
#include "core/base/strings.h"
#include "core/log/logger.h"

namespace kiln::log {
namespace {

constexpr int64_t kCheckPeriodNs = 1'000'000'000;  // uWSGI checks the size once a second

struct RotationState {
  std::mutex mu;
  RotationOptions options;
  int64_t next_check_ns = 0;
};

RotationState& Rotation() {
  static auto* state = new RotationState;
  return *state;
}

// "not rotating PATH: <why>" from a safe_file refusal ("refusing to open PATH: <why>").
absl::Status NotRotating(const std::string& path, const absl::Status& refusal) {
  std::string_view why = base::Sv(refusal.message());
  const std::string prefix = absl::StrCat("refusing to open ", path, ": ");
  if (why.starts_with(prefix)) why.remove_prefix(prefix.size());
  return absl::FailedPreconditionError(absl::StrFormat("not rotating %s: %s", path, why));
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The (seconds, attempt) of a rotated copy's suffix ("1733400000" or "1733400000.2").
std::optional<std::pair<uint64_t, uint64_t>> BackupSuffix(std::string_view suffix) {
  size_t dot = suffix.find('.');
  std::string_view secs = suffix.substr(0, dot);
  std::string_view attempt = dot == std::string_view::npos ? "0" : suffix.substr(dot + 1);
  auto digits = [](std::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
  };
  std::pair<uint64_t, uint64_t> out;
  if (!digits(secs) || !digits(attempt) || !absl::SimpleAtoi(base::Av(secs), &out.first) ||
      !absl::SimpleAtoi(base::Av(attempt), &out.second)) {
    return std::nullopt;
  }
  return out;
}

// Removes rotated copies of `path` beyond the newest `keep` (regular files only).
void PruneBackups(const std::string& path, size_t keep) {
  const std::string dir = DirName(path);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    Warn("log-backupcount: cannot list %s: %s", dir, base::ErrnoText(errno));
    return;
  }
  std::vector<std::string> entries;
  while (dirent* e = ::readdir(d)) entries.emplace_back(e->d_name);
  const int dfd = ::dirfd(d);
  for (const std::string& name : BackupsToRemove(path, entries, keep)) {
    struct stat st;
    if (::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
      continue;
    }
    if (::unlinkat(dfd, name.c_str(), 0) != 0) {
      Warn("log-backupcount: cannot remove %s/%s: %s", dir, name, base::ErrnoText(errno));
    } else {
      Notice("log-backupcount: removed %s/%s (keeping %d rotated files)", dir, name, keep);
    }
  }
  ::closedir(d);
}

// Renames one file (trying `.1`, `.2`, ... when a copy of this second exists); the target or
// an error message.
absl::StatusOr<std::string> RotateOne(const std::string& path, bool is_stdio_file,
                                      const RotationOptions& o) {
  const bool named = is_stdio_file && !o.backup_name.empty();
  const time_t now = ::time(nullptr);
  absl::Status last;
  for (int attempt = 0; attempt < 10; ++attempt) {
    std::string target = BackupPath(path, is_stdio_file, o.backup_name, now, attempt);
    last = RenameLogFile(path, target, named, o.service_uid);
    if (last.ok()) return target;
    if (named || !absl::IsAlreadyExists(last)) break;
  }
  return last;
}

// Rotates the files `pick` selects; reopens everywhere when one was renamed (or vanished).
int RotateFiles(const char* why, bool (*pick)(const struct stat&, uint64_t)) {
  RotationOptions o;
  {
    RotationState& r = Rotation();
    std::lock_guard<std::mutex> lock(r.mu);
    o = r.options;
  }
  std::vector<std::string> paths = LogFilePaths();
  const std::string stdio = StdioTargetPath();
  std::vector<std::string> messages;
  std::vector<std::string> rotated;
  bool reopen = false;
  for (const std::string& path : paths) {
    struct stat st;
    // A file missing (moved away by logrotate) is touch-logreopen's business, not ours:
    // reopening here each second when the directory is gone would flood every process.
    if (::lstat(path.c_str(), &st) != 0) continue;
    if (!pick(st, o.max_size)) continue;
    const bool is_stdio = path == stdio;
    absl::StatusOr<std::string> target = RotateOne(path, is_stdio, o);
    if (!target.ok()) {
      if (absl::IsNotFound(target.status())) {
        reopen = true;
        continue;
      }
      messages.push_back(absl::StrFormat("%s: %s; logging on to it", why,
                                         base::Sv(target.status().message())));
      continue;
    }
    reopen = true;
    rotated.push_back(path);
    messages.push_back(absl::StrFormat("%s: %s (%d bytes) renamed to %s", why, path,
                                       static_cast<int64_t>(st.st_size), *target));
  }
  if (reopen) ReopenEverywhere();
  for (const std::string& m : messages) Notice("%s", m);
  if (o.backup_count > 0) {
    for (const std::string& path : rotated) {
      if (o.backup_name.empty() || path != stdio) {
        PruneBackups(path, static_cast<size_t>(o.backup_count));
      }
    }
  }
  return static_cast<int>(rotated.size());
}

}  // namespace

void SetRotation(RotationOptions options) {
  RotationState& r = Rotation();
  std::lock_guard<std::mutex> lock(r.mu);
  r.options = std::move(options);
}

void CheckRotation(int64_t now_ns) {
  {
    RotationState& r = Rotation();
    std::lock_guard<std::mutex> lock(r.mu);
    if (r.options.max_size == 0 || now_ns < r.next_check_ns) return;
    r.next_check_ns = now_ns + kCheckPeriodNs;
  }
  // uWSGI rotates a file once it is larger than log-maxsize (not when it is equal).
  RotateFiles("log-maxsize", [](const struct stat& st, uint64_t max) {
    return S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > max;
  });
}

int RotateNow() {
  return RotateFiles("log rotation", [](const struct stat& st, uint64_t) {
    return S_ISREG(st.st_mode) && st.st_size > 0;
  });
}

std::string BackupPath(const std::string& path, bool is_stdio_file, std::string_view backup_name,
                       time_t now, int attempt) {
  std::string out = is_stdio_file && !backup_name.empty()
                        ? std::string(backup_name)
                        : absl::StrCat(path, ".", static_cast<int64_t>(now));
  if (attempt > 0) absl::StrAppend(&out, ".", attempt);
  return out;
}

std::vector<std::string> BackupsToRemove(const std::string& path,
                                         const std::vector<std::string>& entries, size_t keep) {
  const std::string prefix = BaseName(path) + ".";
  std::vector<std::pair<std::pair<uint64_t, uint64_t>, std::string>> copies;
  for (const std::string& name : entries) {
    if (!name.starts_with(prefix)) continue;
    if (auto key = BackupSuffix(std::string_view(name).substr(prefix.size()))) {
      copies.emplace_back(*key, name);
    }
  }
  std::sort(copies.begin(), copies.end());
  std::vector<std::string> out;
  for (size_t i = 0; i + keep < copies.size(); ++i) out.push_back(copies[i].second);
  return out;
}

absl::Status RenameLogFile(const std::string& path, const std::string& target, bool replace_own,
                           std::optional<uid_t> service_uid) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? absl::NotFoundError(absl::StrCat(path, " is gone"))
                           : base::ErrnoError(errno, "lstat", path);
  }
  if (absl::Status s = base::CheckExistingFile(path, st, service_uid, ::geteuid()); !s.ok()) {
    return NotRotating(path, s);
  }
  if (replace_own && ::lstat(target.c_str(), &st) == 0) {
    // log-backupname names one file that each rotation replaces, as in uWSGI; only a file kiln
    // could have written is removed, never a symlink or another user's file planted there.
    if (absl::Status s = base::CheckExistingFile(target, st, service_uid, ::geteuid()); !s.ok()) {
      return NotRotating(path, s);
    }
    if (::unlink(target.c_str()) != 0 && errno != ENOENT) {
      return base::ErrnoError(errno, "unlink the previous backup", target);
    }
  }
  // RENAME_NOREPLACE: whatever appears at `target` meanwhile is kept, never replaced.
  if (::renameat2(AT_FDCWD, path.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE) == 0) {
    return absl::OkStatus();
  }
  int err = errno;
  if (err == EINVAL || err == ENOSYS) {
    // A file system without RENAME_NOREPLACE: link() fails with EEXIST just the same.
    if (::link(path.c_str(), target.c_str()) == 0) {
      if (::unlink(path.c_str()) == 0) return absl::OkStatus();
      err = errno;
      (void)::unlink(target.c_str());
      return base::ErrnoError(err, "unlink after link", path);
    }
    err = errno;
  }
  if (err == EEXIST) {
    return absl::AlreadyExistsError(
        absl::StrFormat("not rotating %s: %s already exists", path, target));
  }
  if (err == ENOENT) return absl::NotFoundError(absl::StrCat(path, " is gone"));
  return base::ErrnoError(err, absl::StrCat("rename to ", target), path);
}

}  // namespace kiln::log
