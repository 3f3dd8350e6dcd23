// Parsing and printing of listen addresses. Pure: the listener resolves and binds them.
#include "core/net/address.h"

#include <sys/un.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"

namespace kiln::net {
namespace {

constexpr size_t kMaxUnixPath = sizeof(sockaddr_un{}.sun_path) - 1;

absl::StatusOr<uint16_t> ParsePort(std::string_view text, std::string_view port) {
  uint32_t value = 0;
  if (port.empty() || port.size() > 5 ||
      !absl::SimpleAtoi(absl::string_view(port.data(), port.size()), &value) || value > 65535 ||
      port.find_first_not_of("0123456789") != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "socket address `%s` has a port `%s` that is not a number from 0 to 65535", text, port));
  }
  return static_cast<uint16_t>(value);
}

absl::StatusOr<Address> ParseUnix(std::string_view text, std::string_view path) {
  if (path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("socket address `%s` has an empty unix socket path", text));
  }
  if (path.size() > kMaxUnixPath) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "unix socket path `%s` is %d bytes long; the kernel allows at most %d: use a shorter "
        "path (for example under /run)",
        path, path.size(), kMaxUnixPath));
  }
  if (path.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrFormat("unix socket path `%s` contains a NUL byte", text));
  }
  Address a;
  a.kind = AddressKind::kUnix;
  a.path = std::string(path);
  return a;
}

}  // namespace

std::string Address::ToString() const {
  switch (kind) {
    case AddressKind::kUnix:
      return path;
    case AddressKind::kAbstract:
      return "@" + path;
    case AddressKind::kInet:
      return absl::StrFormat("%s:%d", host, port);
    case AddressKind::kInet6:
      return absl::StrFormat("[%s]:%d", host, port);
  }
  return path;
}

absl::StatusOr<Address> ParseAddress(std::string_view text) {
  if (text.empty()) {
    return absl::InvalidArgumentError(
        "empty socket address: expected a unix path, "
        "`host:port`, `:port` or `@name`");
  }
  if (text.starts_with("unix:")) {
    return ParseUnix(text, text.substr(5));
  }
  if (text.front() == '@') {
    if (text.size() == 1 || text.size() - 1 > kMaxUnixPath) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "abstract socket name `%s` must have 1 to %d characters after '@'", text, kMaxUnixPath));
    }
    Address a;
    a.kind = AddressKind::kAbstract;
    a.path = std::string(text.substr(1));
    return a;
  }
  if (text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':' ||
        close == 1) {
      return absl::InvalidArgumentError(
          absl::StrFormat("socket address `%s` is not of the form `[ipv6-address]:port`", text));
    }
    Address a;
    a.kind = AddressKind::kInet6;
    a.host = std::string(text.substr(1, close - 1));
    auto port = ParsePort(text, text.substr(close + 2));
    if (!port.ok()) {
      return port.status();
    }
    a.port = *port;
    return a;
  }
  // Anything with a '/' is a path (uWSGI's rule is "has a colon -> TCP", which misreads
  // "./a:b.sock"); a path-free "name:port" is TCP.
  size_t colon = text.rfind(':');
  if (text.find('/') != std::string_view::npos || colon == std::string_view::npos) {
    return ParseUnix(text, text);
  }
  std::string_view host = text.substr(0, colon);
  if (host.find(':') != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "socket address `%s` looks like a bare IPv6 address: write it as `[addr]:port`", text));
  }
  Address a;
  a.kind = AddressKind::kInet;
  a.host = host.empty() ? "0.0.0.0" : std::string(host);
  auto port = ParsePort(text, text.substr(colon + 1));
  if (!port.ok()) {
    return port.status();
  }
  a.port = *port;
  return a;
}

}  // namespace kiln::net
