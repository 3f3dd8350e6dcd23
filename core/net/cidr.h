// Address ranges an option lists ("10.0.0.0/8", "2001:db8::/32", a bare address for one
// host) and the test whether an accepted connection's peer lies in one. Pure: no sockets.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::net {

struct CidrRange {
  int family = 0;  // AF_INET or AF_INET6
  uint8_t addr[16] = {0};  // the network, host bits cleared
  int prefix = 0;  // leading bits that must match

  // An IPv4-mapped IPv6 peer (::ffff:a.b.c.d, a dual-stack socket) matches IPv4 ranges.
  bool Contains(const struct sockaddr_storage& peer) const;
};

// "ADDR" or "ADDR/BITS". Errors quote the text and say what was expected.
absl::StatusOr<CidrRange> ParseCidr(std::string_view text);

// True when `peer` lies in one of `ranges`.
bool InAnyRange(const std::vector<CidrRange>& ranges, const struct sockaddr_storage& peer);

}  // namespace kiln::net
