// sd_notify without libsystemd, and pidfile handling.
#include "core/process/systemd.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_format.h"
#include "core/base/errno_status.h"
#include "core/base/unique_fd.h"

namespace kiln::process {

bool NotifySystemd(std::string_view state) {
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
  std::string tmp = path + ".tmp";
  base::UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) {
    return base::ErrnoError(errno, "open pidfile", tmp);
  }
  std::string text = absl::StrFormat("%d\n", pid);
  if (write(fd.Get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    int err = errno;
    unlink(tmp.c_str());
    return base::ErrnoError(err, "write pidfile", tmp);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return base::ErrnoError(err, "rename pidfile", path);
  }
  return absl::OkStatus();
}

bool RemovePidfile(const std::string& path, int pid) {
  base::UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return false;
  }
  char buf[32] = {};
  ssize_t n = read(fd.Get(), buf, sizeof(buf) - 1);
  if (n <= 0 || std::atoi(buf) != pid) {
    return false;
  }
  return unlink(path.c_str()) == 0;
}

}  // namespace kiln::process
