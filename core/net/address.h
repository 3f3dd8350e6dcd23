// Listen addresses as the config writes them: "/p", "unix:/p", "@abstract", "host:port",
// ":port" (all IPv4 interfaces), "[v6]:port". Pure parsing and printing: no sockets, no DNS.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kiln::net {

enum class AddressKind {
  kUnix,      // a filesystem path
  kAbstract,  // Linux abstract namespace ("@name"); `path` holds the name without '@'
  kInet,      // TCP; `host` is an IPv4 literal or a host name, `port` 0 picks a free port
  kInet6,     // TCP over IPv6 ("[::1]:8080"); `host` holds the literal without brackets
};

struct Address {
  AddressKind kind = AddressKind::kUnix;
  std::string path;  // kUnix, kAbstract
  std::string host;  // kInet, kInet6
  uint16_t port = 0;

  bool is_unix() const { return kind == AddressKind::kUnix; }
  bool is_tcp() const { return kind == AddressKind::kInet || kind == AddressKind::kInet6; }
  // Canonical text that ParseAddress reads back to the same Address ("unix:" is dropped,
  // ":port" becomes "0.0.0.0:port", IPv6 keeps its brackets).
  std::string ToString() const;
  friend bool operator==(const Address&, const Address&) = default;
};

// Parses one socket address. Errors name the text and say what was expected, e.g.
// "`127.0.0.1:http` has a port that is not a number from 0 to 65535".
absl::StatusOr<Address> ParseAddress(std::string_view text);

}  // namespace kiln::net
