// daemonize, logto, environment and process titles.
#include "core/process/host_setup.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_format.h"
#include "core/base/errno_status.h"
#include "core/base/safe_file.h"
#include "core/base/unique_fd.h"

extern char* program_invocation_name;

namespace kiln::process {
namespace {

// The argv area: where program_invocation_name points, as long as /proc/self/cmdline says.
char* g_argv_area = nullptr;
size_t g_argv_len = 0;

void FindArgvArea() {
  if (g_argv_area != nullptr) {
    return;
  }
  base::UniqueFd fd(open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return;
  }
  char buf[4096];
  size_t total = 0;
  for (;;) {
    ssize_t n = read(fd.Get(), buf, sizeof(buf));
    if (n <= 0) {
      break;
    }
    total += static_cast<size_t>(n);
  }
  if (total > 1 && program_invocation_name != nullptr) {
    g_argv_area = program_invocation_name;
    g_argv_len = total;
  }
}

absl::Status PointFdAt(int target, const std::string& path, int flags) {
  base::UniqueFd fd(open(path.c_str(), flags | O_CLOEXEC, 0640));
  if (!fd) {
    return base::ErrnoError(errno, "open", path);
  }
  if (dup2(fd.Get(), target) < 0) {
    return base::ErrnoError(errno, "dup2", path);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RedirectOutput(const std::string& path, LogOwner owner) {
  // base::OpenAppendFile's rules: no final symlink, only a regular file owned by root or the
  // owner, and ownership given only to a file created here (through its descriptor).
  base::AppendFileOptions options;
  if (owner.uid != static_cast<uid_t>(-1)) options.uid = owner.uid;
  if (owner.gid != static_cast<gid_t>(-1)) options.gid = owner.gid;
  absl::StatusOr<base::OpenedFile> file = base::OpenAppendFile(path, options);
  if (!file.ok()) {
    return file.status();
  }
  if (dup2(file->fd.Get(), STDOUT_FILENO) < 0 || dup2(file->fd.Get(), STDERR_FILENO) < 0) {
    return base::ErrnoError(errno, "dup2", path);
  }
  return absl::OkStatus();
}

absl::Status Daemonize(const std::string& log_path, LogOwner owner) {
  FindArgvArea();  // before the parent's exit, while /proc/self is ours
  pid_t pid = fork();
  if (pid < 0) {
    return base::ErrnoError(errno, "fork", "daemonize");
  }
  if (pid > 0) {
    _exit(0);
  }
  if (setsid() < 0) {
    return base::ErrnoError(errno, "setsid", "daemonize");
  }
  if (auto s = PointFdAt(STDIN_FILENO, "/dev/null", O_RDONLY); !s.ok()) {
    return s;
  }
  if (log_path.empty()) {
    if (auto s = PointFdAt(STDOUT_FILENO, "/dev/null", O_WRONLY); !s.ok()) {
      return s;
    }
    return PointFdAt(STDERR_FILENO, "/dev/null", O_WRONLY);
  }
  return RedirectOutput(log_path, owner);
}

absl::Status ApplyEnvironment(const std::vector<std::string>& env,
                              const std::vector<std::string>& unenv) {
  for (const std::string& e : env) {
    size_t eq = e.find('=');
    std::string name = e.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : e.substr(eq + 1);
    if (name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("env `%s` has no variable name: expected NAME=VALUE", e));
    }
    if (setenv(name.c_str(), value.c_str(), 1) != 0) {
      return base::ErrnoError(errno, "setenv", name);
    }
  }
  for (const std::string& name : unenv) {
    unsetenv(name.c_str());
  }
  return absl::OkStatus();
}

void SetProcessTitle(std::string_view title) {
  std::string name(title.substr(0, 15));
  prctl(PR_SET_NAME, name.c_str(), 0, 0, 0);
  FindArgvArea();
  if (g_argv_area == nullptr) {
    return;
  }
  size_t n = title.size() < g_argv_len - 1 ? title.size() : g_argv_len - 1;
  std::memcpy(g_argv_area, title.data(), n);
  std::memset(g_argv_area + n, 0, g_argv_len - n);
}

std::string SelfExePath() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) {
    return "/proc/self/exe";
  }
  std::string path(buf, static_cast<size_t>(n));
  // A binary replaced on disk (a package upgrade) shows as "path (deleted)": exec the path,
  // which now holds the new binary.
  constexpr std::string_view kDeleted = " (deleted)";
  if (path.ends_with(kDeleted)) {
    path.resize(path.size() - kDeleted.size());
  }
  return path;
}

}  // namespace kiln::process
