// sd_notify without libsystemd, the vassal's side of the emperor link, and pidfile handling.
#include "core/process/systemd.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "core/base/errno_status.h"
#include "core/base/safe_file.h"
#include "core/base/unique_fd.h"

namespace kiln::process {

int EmperorFd() {
  static const int fd = [] {
    const char* text = std::getenv(kEmperorFdEnv);
    int n = -1;
    struct stat st;
    bool ok = text != nullptr && absl::SimpleAtoi(text, &n) && n >= 3 && fstat(n, &st) == 0 &&
              S_ISSOCK(st.st_mode);
    // Claimed: what this kiln starts (workers' subprocesses, attached daemons, a kiln among
    // them) must not take the number for a link of its own.
    unsetenv(kEmperorFdEnv);
    if (!ok) {
      return -1;  // not a vassal, or the number names no socket: nothing to tell
    }
    fcntl(n, F_SETFD, FD_CLOEXEC);
    return n;
  }();
  return fd;
}

void KeepEmperorFdAcrossExec(bool keep) {
  if (int fd = EmperorFd(); fd >= 0) {
    fcntl(fd, F_SETFD, keep ? 0 : FD_CLOEXEC);
    if (keep) {
      setenv(kEmperorFdEnv, absl::StrFormat("%d", fd).c_str(), 1);
    } else {
      unsetenv(kEmperorFdEnv);
    }
  }
}

bool EmperorGone(int fd) {
  char buf[64];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) continue;
    if (n == 0) return true;
    return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
  }
}

bool NotifySystemd(std::string_view state) {
  if (int efd = EmperorFd(); efd >= 0 && state.find("READY=1") != std::string_view::npos) {
    char ready = kEmperorReady;
    (void)send(efd, &ready, 1, MSG_DONTWAIT | MSG_NOSIGNAL);  // the emperor reads at once
  }
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') {
    return false;
  }
  size_t len = std::strlen(path);
  sockaddr_un sun{};
  if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sun.sun_path)) {
    return false;
  }
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path, len);
  if (sun.sun_path[0] == '@') {
    sun.sun_path[0] = '\0';  // abstract namespace
  }
  base::UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    return false;
  }
  socklen_t alen = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  return sendto(fd.Get(), state.data(), state.size(), MSG_NOSIGNAL,
                reinterpret_cast<sockaddr*>(&sun), alen) == static_cast<ssize_t>(state.size());
}

absl::Status WritePidfile(const std::string& path, int pid) {
  // A fresh O_EXCL temporary renamed over the pidfile: a symlink planted at the pidfile or at
  // any temporary name is replaced or never opened, never followed (the master is root here).
  return base::ReplaceFile(path, absl::StrFormat("%d\n", pid), 0644);
}

bool RemovePidfile(const std::string& path, int pid) {
  // Only a regular file naming our pid is removed; a symlink is neither followed nor removed.
  absl::StatusOr<std::string> text = base::ReadRegularFile(path, 31);
  if (!text.ok() || std::atoi(text->c_str()) != pid) {
    return false;
  }
  return unlink(path.c_str()) == 0;
}

}  // namespace kiln::process
