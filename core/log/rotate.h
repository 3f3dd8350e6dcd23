// Log rotation: renaming the log files kiln writes (logto/daemonize, `logger`/`req-logger`
// files) when they pass `log-maxsize`, or on demand (the master FIFO's `L`), and making every
// process write to the new file. Only the master renames; every other process reopens through
// the shared reopen counter (logger.h, ReopenEverywhere) before its next line, so a line is
// either in the renamed file or in the new one, never lost and never torn (each line is one
// O_APPEND write()).
#pragma once

#include <sys/types.h>
#include <time.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::log {

struct RotationOptions {
  uint64_t max_size = 0;    // log-maxsize: rotate a file larger than this; 0: never by size
  std::string backup_name;  // log-backupname: the name the stdio log file is renamed to
  int64_t backup_count = 0;  // log-backupcount: rotated files kept per log file; 0: all
  // Who may own a file that is renamed or replaced (safe_file.h, CheckExistingFile).
  std::optional<uid_t> service_uid;
};

// Installs the options (the master, while reading the configuration).
void SetRotation(RotationOptions options);

// The master's loop calls this on every tick; at most once a second it renames each log file
// (LogFilePaths) larger than `max_size` and has every process reopen. Never blocks.
void CheckRotation(int64_t now_ns);

// Rotates every log file now, whatever its size, and has every process reopen (the master
// FIFO's `L`). Master only. Returns how many files were renamed.
int RotateNow();

// Pure. The name `path` is renamed to: `backup_name` when given and `path` is the stdio log
// file (logto/daemonize), else `<path>.<now>` (uWSGI's `<file>.<unix seconds>`); `attempt`
// > 0 appends `.<attempt>` (a second rotation within the same second never replaces the
// first one's file).
std::string BackupPath(const std::string& path, bool is_stdio_file, std::string_view backup_name,
                       time_t now, int attempt);

// Pure. Of the names in `path`'s directory (`entries`, bare names), those that are rotated
// copies of `path` (`<name>.<digits>` or `<name>.<digits>.<digits>`) beyond the newest
// `keep`, oldest first: what log-backupcount removes.
std::vector<std::string> BackupsToRemove(const std::string& path,
                                         const std::vector<std::string>& entries, size_t keep);

// Renames `path` to `target` without replacing anything already at `target`
// (renameat2 RENAME_NOREPLACE, or link()+unlink() where the file system lacks it), after
// checking that `path` is a file kiln may write (safe_file.h rules). With `replace_own`, a
// regular file at `target` that passes the same checks (a previous backup) is removed first;
// anything else there (a symlink, another user's file) is refused. AlreadyExists when
// `target` exists and is kept; FailedPrecondition naming the refusal; NotFound when `path`
// is gone (rotated by someone else: only a reopen is needed).
absl::Status RenameLogFile(const std::string& path, const std::string& target, bool replace_own,
                           std::optional<uid_t> service_uid);

}  // namespace kiln::log
