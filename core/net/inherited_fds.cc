// KILN_FDS and LISTEN_FDS handling.
#include "core/net/inherited_fds.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "core/net/listener.h"

namespace kiln::net {
namespace {

void Escape(std::string_view in, std::string* out) {
  for (char c : in) {
    if (c == ',' || c == '%' || static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppendFormat(out, "%%%02X", static_cast<unsigned char>(c));
    } else {
      out->push_back(c);
    }
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
}

bool Unescape(std::string_view in, std::string* out) {
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) {
      return false;
    }
    int hi = HexValue(in[i + 1]);
    int lo = HexValue(in[i + 2]);
    if (hi < 0 || lo < 0) {
      return false;
    }
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

}  // namespace

std::string EncodeInheritedFds(const std::vector<InheritedFd>& fds) {
  std::string out;
  for (const InheritedFd& f : fds) {
    if (!out.empty()) {
      out.push_back(',');
    }
    absl::StrAppendFormat(&out, "%d=", f.fd);
    Escape(f.address, &out);
  }
  return out;
}

absl::StatusOr<std::vector<InheritedFd>> DecodeInheritedFds(std::string_view text) {
  std::vector<InheritedFd> fds;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view entry = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    size_t eq = entry.find('=');
    InheritedFd f;
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == entry.size() ||
        !absl::SimpleAtoi(absl::string_view(entry.data(), eq), &f.fd) || f.fd < 0 ||
        !Unescape(entry.substr(eq + 1), &f.address)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s entry `%s` is not of the form fd=address", kInheritedFdsEnv, entry));
    }
    fds.push_back(std::move(f));
  }
  return fds;
}

absl::StatusOr<std::vector<InheritedFd>> TakeInheritedFds() {
  const char* env = std::getenv(kInheritedFdsEnv);
  if (env == nullptr) {
    return std::vector<InheritedFd>{};
  }
  std::string text = env;
  unsetenv(kInheritedFdsEnv);
  auto fds = DecodeInheritedFds(text);
  if (!fds.ok()) {
    return fds.status();
  }
  for (const InheritedFd& f : *fds) {
    if (!IsListeningSocket(f.fd)) {
      return absl::FailedPreconditionError(
          absl::StrFormat("inherited fd %d (%s) is not a listening socket", f.fd, f.address));
    }
    // The master clears close-on-exec only for the exec; set it again at once.
    fcntl(f.fd, F_SETFD, FD_CLOEXEC);
  }
  return fds;
}

std::vector<InheritedFd> TakeSystemdFds() {
  std::vector<InheritedFd> fds;
  const char* pid_env = std::getenv("LISTEN_PID");
  const char* n_env = std::getenv("LISTEN_FDS");
  int pid = 0;
  int n = 0;
  bool mine = pid_env != nullptr && n_env != nullptr && absl::SimpleAtoi(pid_env, &pid) &&
              pid == getpid() && absl::SimpleAtoi(n_env, &n) && n > 0 && n < 1024;
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
  if (!mine) {
    return fds;
  }
  for (int fd = 3; fd < 3 + n; ++fd) {
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    // systemd hands over blocking sockets; the serving loop accepts from epoll.
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) {
      fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    }
    auto addr = BoundAddress(fd);
    if (!addr.ok() || !IsListeningSocket(fd)) {
      continue;
    }
    fds.push_back(InheritedFd{fd, addr->ToString()});
  }
  return fds;
}

}  // namespace kiln::net
