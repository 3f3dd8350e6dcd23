// proxy-protocol-from's ranges: parsing (addresses, prefixes, what is refused) and matching an
// accepted peer, IPv4-mapped IPv6 peers of a dual-stack socket included.
#include "core/net/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

#include "gtest/gtest.h"

namespace kiln::net {
namespace {

sockaddr_storage Peer(const char* text) {
  sockaddr_storage ss{};
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
    ss.ss_family = AF_INET;
  } else if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
    ss.ss_family = AF_INET6;
  } else {
    ADD_FAILURE() << text;
  }
  return ss;
}

bool In(const char* range, const char* peer) {
  absl::StatusOr<CidrRange> r = ParseCidr(range);
  EXPECT_TRUE(r.ok()) << range << ": " << r.status();
  return r.ok() && r->Contains(Peer(peer));
}

TEST(Cidr, Ipv4Ranges) {
  EXPECT_TRUE(In("10.0.0.0/8", "10.200.3.4"));
  EXPECT_FALSE(In("10.0.0.0/8", "11.0.0.1"));
  EXPECT_TRUE(In("192.168.1.0/23", "192.168.0.9"));
  EXPECT_FALSE(In("192.168.1.0/23", "192.168.2.9"));
  EXPECT_TRUE(In("127.0.0.1", "127.0.0.1"));  // a bare address is one host
  EXPECT_FALSE(In("127.0.0.1", "127.0.0.2"));
  EXPECT_TRUE(In("0.0.0.0/0", "203.0.113.9"));
  EXPECT_TRUE(In("10.1.2.3/8", "10.9.9.9"));  // host bits are ignored
  EXPECT_FALSE(In("10.0.0.0/8", "2001:db8::1"));
}

TEST(Cidr, Ipv6RangesAndMappedPeers) {
  EXPECT_TRUE(In("2001:db8::/32", "2001:db8:ffff::1"));
  EXPECT_FALSE(In("2001:db8::/32", "2001:db9::1"));
  EXPECT_TRUE(In("::1", "::1"));
  EXPECT_TRUE(In("fe80::/10", "febf::1"));
  EXPECT_FALSE(In("fe80::/10", "fec0::1"));
  // A dual-stack socket reports an IPv4 client as ::ffff:a.b.c.d.
  EXPECT_TRUE(In("10.0.0.0/8", "::ffff:10.1.1.1"));
  EXPECT_FALSE(In("10.0.0.0/8", "::ffff:11.1.1.1"));
}

TEST(Cidr, InvalidRangesSayWhy) {
  for (const char* bad : {"10.0.0/8", "example.com", "10.0.0.0/33", "::/129", "10.0.0.0/",
                          "10.0.0.0/-1", "10.0.0.0/8x", "", "/8"}) {
    absl::StatusOr<CidrRange> r = ParseCidr(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(std::string(r.status().message()).find(std::string("`") + bad + "`"),
                std::string::npos)
          << r.status();
    }
  }
}

TEST(Cidr, AnyRangeOfAList) {
  std::vector<CidrRange> ranges = {*ParseCidr("10.0.0.0/8"), *ParseCidr("::1")};
  EXPECT_TRUE(InAnyRange(ranges, Peer("::1")));
  EXPECT_TRUE(InAnyRange(ranges, Peer("10.0.0.1")));
  EXPECT_FALSE(InAnyRange(ranges, Peer("127.0.0.1")));
  sockaddr_storage unix_peer{};
  unix_peer.ss_family = AF_UNIX;
  EXPECT_FALSE(InAnyRange(ranges, unix_peer));
}

}  // namespace
}  // namespace kiln::net
