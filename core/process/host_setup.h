// Process-wide setup the master does once: daemonize, logto, chdir, env/unenv, and process
// titles ("kiln master", "kiln worker 1") through prctl and the argv area.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace kiln::process {

// Who should own a log file kiln creates: the uid/gid it drops to, so a reopen after a
// reload or rotation works as that user (docs/decisions.md 11). -1 leaves a field unchanged.
struct LogOwner {
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
};

// Points fd 1 and 2 at `path` (O_APPEND, created 0640 and given to `owner`) without
// detaching. Refuses, naming the path and why, a symlink, a file that is not regular, or one
// owned by someone other than root or `owner` (base::OpenAppendFile).
absl::Status RedirectOutput(const std::string& path, LogOwner owner = {});

// Forks; the parent exits 0 at once, the child calls setsid(), points stdin at /dev/null and
// stdout/stderr at `log_path` (or /dev/null when empty).
absl::Status Daemonize(const std::string& log_path, LogOwner owner = {});

// `env = NAME=VALUE` (a bare NAME sets it empty) and `unenv = NAME`.
absl::Status ApplyEnvironment(const std::vector<std::string>& env,
                              const std::vector<std::string>& unenv);

// Sets the process name shown by ps/top: prctl(PR_SET_NAME) (first 15 bytes) and the
// argv area read from /proc/self/cmdline. Safe to call many times.
void SetProcessTitle(std::string_view title);

// The absolute path of the running binary (for the re-exec of a reload).
std::string SelfExePath();

}  // namespace kiln::process
