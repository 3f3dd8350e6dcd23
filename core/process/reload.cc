// Reload environment, the check child and the re-exec.
#include "core/process/reload.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "core/base/errno_status.h"
#include "core/process/signals.h"
#include "core/process/systemd.h"

namespace kiln::process {
namespace {

std::vector<char*> ArgvPointers(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  out.reserve(argv.size() + 1);
  for (const std::string& a : argv) {
    out.push_back(const_cast<char*>(a.c_str()));
  }
  out.push_back(nullptr);
  return out;
}

void SetInherit(const std::vector<net::InheritedFd>& fds, bool inherit) {
  for (const net::InheritedFd& f : fds) {
    fcntl(f.fd, F_SETFD, inherit ? 0 : FD_CLOEXEC);
  }
}

}  // namespace

ReloadContext TakeReloadContext(const std::vector<std::string>& argv) {
  ReloadContext ctx;
  ctx.argv = argv;
  if (const char* r = std::getenv(kReloadsEnv); r != nullptr) {
    if (!absl::SimpleAtoi(r, &ctx.generation) || ctx.generation < 0) {
      ctx.generation = 0;
    }
  }
  if (const char* w = std::getenv(kOldWorkersEnv); w != nullptr) {
    auto pids = DecodePids(w);
    if (pids.ok()) {
      ctx.old_workers = *pids;
    }
  }
  ctx.check_only = std::getenv(kReloadCheckEnv) != nullptr;
  unsetenv(kReloadsEnv);
  unsetenv(kOldWorkersEnv);
  unsetenv(kReloadCheckEnv);
  char buf[4096];
  if (getcwd(buf, sizeof(buf)) != nullptr) {
    ctx.cwd = buf;
  }
  return ctx;
}

std::string EncodePids(const std::vector<pid_t>& pids) {
  std::string out;
  for (pid_t p : pids) {
    if (!out.empty()) {
      out.push_back(',');
    }
    absl::StrAppendFormat(&out, "%d", p);
  }
  return out;
}

absl::StatusOr<std::vector<pid_t>> DecodePids(std::string_view text) {
  std::vector<pid_t> pids;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    int pid = 0;
    if (!absl::SimpleAtoi(absl::string_view(item.data(), item.size()), &pid) || pid <= 1) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s entry `%s` is not a process id", kOldWorkersEnv, item));
    }
    pids.push_back(pid);
  }
  return pids;
}

absl::StatusOr<pid_t> SpawnReloadCheck(const ReloadContext& ctx,
                                       const std::vector<net::InheritedFd>& fds) {
  std::vector<char*> argv = ArgvPointers(ctx.argv);
  std::string encoded = net::EncodeInheritedFds(fds);
  pid_t pid = fork();
  if (pid < 0) {
    return base::ErrnoError(errno, "fork", "reload check");
  }
  if (pid == 0) {
    ResetSignalsForChild();
    SetInherit(fds, true);
    setenv(net::kInheritedFdsEnv, encoded.c_str(), 1);
    setenv(kReloadCheckEnv, "1", 1);
    setenv(kReloadsEnv, std::to_string(ctx.generation + 1).c_str(), 1);
    if (!ctx.cwd.empty() && chdir(ctx.cwd.c_str()) != 0) {
      _exit(127);
    }
    execv(ctx.exe.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

absl::Status ExecReload(const ReloadContext& ctx, const std::vector<net::InheritedFd>& fds,
                        const std::vector<pid_t>& serving_workers) {
  std::vector<char*> argv = ArgvPointers(ctx.argv);
  char old_cwd[4096];
  bool have_old_cwd = getcwd(old_cwd, sizeof(old_cwd)) != nullptr;
  SetInherit(fds, true);
  KeepEmperorFdAcrossExec(true);
  setenv(net::kInheritedFdsEnv, net::EncodeInheritedFds(fds).c_str(), 1);
  setenv(kOldWorkersEnv, EncodePids(serving_workers).c_str(), 1);
  setenv(kReloadsEnv, std::to_string(ctx.generation + 1).c_str(), 1);
  if (!ctx.cwd.empty() && chdir(ctx.cwd.c_str()) != 0) {
    // Relative paths in argv would resolve elsewhere; exec anyway from here.
  }
  execv(ctx.exe.c_str(), argv.data());
  int err = errno;
  SetInherit(fds, false);
  KeepEmperorFdAcrossExec(false);
  unsetenv(net::kInheritedFdsEnv);
  unsetenv(kOldWorkersEnv);
  unsetenv(kReloadsEnv);
  if (have_old_cwd && chdir(old_cwd) != 0) {
    // Stay where exec left us; nothing else depends on the cwd after startup.
  }
  return base::ErrnoError(err, "execv", ctx.exe);
}

}  // namespace kiln::process
