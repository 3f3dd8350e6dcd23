// CIDR ranges: parsing with inet_pton (the family's literal only, no names) and prefix
// matching on the binary address.
#include "core/net/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

#include "absl/strings/str_format.h"

namespace kiln::net {
namespace {

bool PrefixMatches(const uint8_t* a, const uint8_t* b, int bits) {
  const int bytes = bits / 8;
  if (std::memcmp(a, b, static_cast<size_t>(bytes)) != 0) return false;
  const int rest = bits % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[bytes] & mask) == (b[bytes] & mask);
}

}  // namespace

bool CidrRange::Contains(const sockaddr_storage& peer) const {
  const uint8_t* bytes = nullptr;
  int peer_family = peer.ss_family;
  if (peer.ss_family == AF_INET) {
    bytes = reinterpret_cast<const uint8_t*>(
        &reinterpret_cast<const sockaddr_in*>(&peer)->sin_addr);
  } else if (peer.ss_family == AF_INET6) {
    const in6_addr& a6 = reinterpret_cast<const sockaddr_in6*>(&peer)->sin6_addr;
    bytes = a6.s6_addr;
    if (family == AF_INET && IN6_IS_ADDR_V4MAPPED(&a6)) {
      bytes += 12;
      peer_family = AF_INET;
    }
  }
  return bytes != nullptr && peer_family == family && PrefixMatches(bytes, addr, prefix);
}

absl::StatusOr<CidrRange> ParseCidr(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "`%s` %s; expected an IP address or a CIDR range (10.0.0.0/8, 2001:db8::/32)", text,
        why));
  };
  const size_t slash = text.find('/');
  const std::string addr_text(text.substr(0, slash));
  CidrRange r;
  if (inet_pton(AF_INET, addr_text.c_str(), r.addr) == 1) {
    r.family = AF_INET;
  } else if (inet_pton(AF_INET6, addr_text.c_str(), r.addr) == 1) {
    r.family = AF_INET6;
  } else {
    return bad("is not an IP address");
  }
  const int max_bits = r.family == AF_INET ? 32 : 128;
  r.prefix = max_bits;
  if (slash != std::string_view::npos) {
    const std::string_view bits = text.substr(slash + 1);
    r.prefix = 0;
    for (char ch : bits) r.prefix = ch >= '0' && ch <= '9' ? r.prefix * 10 + (ch - '0') : 999;
    if (bits.empty() || bits.size() > 3 || r.prefix > max_bits) {
      return bad(absl::StrFormat("has a prefix length that is not 0 to %d", max_bits));
    }
  }
  // Keep only the network bits, so 10.1.2.3/8 means 10.0.0.0/8.
  for (int bit = r.prefix; bit < max_bits; ++bit) {
    r.addr[bit / 8] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
  }
  return r;
}

bool InAnyRange(const std::vector<CidrRange>& ranges, const sockaddr_storage& peer) {
  for (const CidrRange& r : ranges) {
    if (r.Contains(peer)) return true;
  }
  return false;
}

}  // namespace kiln::net
