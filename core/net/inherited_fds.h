// Listen fds handed across a re-exec (KILN_FDS) or by systemd socket activation
// (LISTEN_FDS/LISTEN_PID). Encoding and decoding are pure; Take*() read and clear the
// environment. Knows nothing of the config.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::net {

inline constexpr char kInheritedFdsEnv[] = "KILN_FDS";

struct InheritedFd {
  int fd = -1;
  std::string address;  // the address text as configured (canonical Address::ToString())
  friend bool operator==(const InheritedFd&, const InheritedFd&) = default;
};

// "3=/run/app.sock,4=127.0.0.1:8080"; ',' and '%' inside addresses are %-escaped.
std::string EncodeInheritedFds(const std::vector<InheritedFd>& fds);
// Errors name the offending entry.
absl::StatusOr<std::vector<InheritedFd>> DecodeInheritedFds(std::string_view text);

// Reads KILN_FDS and unsets it; each fd must be an open listening socket. An empty vector
// when the variable is absent.
absl::StatusOr<std::vector<InheritedFd>> TakeInheritedFds();

// systemd socket activation: the fds 3..3+LISTEN_FDS-1 when LISTEN_PID names this process.
// Unsets LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES so children do not see them. The address of
// each fd is read back with getsockname().
std::vector<InheritedFd> TakeSystemdFds();

}  // namespace kiln::net
