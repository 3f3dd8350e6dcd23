// The PROXY protocol parser against haproxy's proxy-protocol.txt: v1 lines (TCP4, TCP6,
// UNKNOWN, the 107-byte limit), v2 headers (PROXY and LOCAL, each family, TLVs skipped), every
// prefix of a valid header waiting for more, and the headers a receiver must reject.
#include "core/protocol/proxy_protocol.h"

#include <cstdint>
#include <string>
#include <string_view>

#include "gtest/gtest.h"

namespace kiln::protocol {
namespace {

const std::string kSig("\r\n\r\n\0\r\nQUIT\n", 12);

ProxyParseResult Parse(std::string_view in) { return ParseProxyHeader(in.data(), in.size()); }

// A v2 header: signature, version/command, family/transport, then `block` (addresses and
// TLVs) with its length.
std::string V2(uint8_t ver_cmd, uint8_t fam, const std::string& block) {
  std::string h = kSig;
  h.push_back(static_cast<char>(ver_cmd));
  h.push_back(static_cast<char>(fam));
  h.push_back(static_cast<char>(block.size() >> 8));
  h.push_back(static_cast<char>(block.size() & 0xff));
  return h + block;
}

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

// Every proper prefix of a valid header waits for more.
void ExpectPrefixesIncomplete(const std::string& header) {
  for (size_t n = 0; n < header.size(); ++n) {
    ProxyParseResult r = Parse(std::string_view(header).substr(0, n));
    EXPECT_EQ(r.status, ParseStatus::kIncomplete) << "prefix of " << n << " bytes: " << r.message;
  }
}

TEST(ProxyV1, Tcp4LineGivesTheClientAndLeavesTheRequest) {
  const std::string line = "PROXY TCP4 192.0.2.10 198.51.100.1 56324 443\r\n";
  ProxyParseResult r = Parse(line + "GET / HTTP/1.1\r\n\r\n");
  ASSERT_EQ(r.status, ParseStatus::kComplete) << r.message;
  EXPECT_EQ(r.consumed, line.size());
  EXPECT_EQ(r.header.version, 1);
  EXPECT_EQ(r.header.family, ProxyFamily::kInet);
  EXPECT_TRUE(r.header.HasClientAddress());
  EXPECT_EQ(r.header.src_addr, "192.0.2.10");
  EXPECT_EQ(r.header.dst_addr, "198.51.100.1");
  EXPECT_EQ(r.header.src_port, 56324);
  EXPECT_EQ(r.header.dst_port, 443);
  ExpectPrefixesIncomplete(line);
}

TEST(ProxyV1, Tcp6AddressesComeOutCanonical) {
  ProxyParseResult r = Parse("PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::1 65535 0\r\n");
  ASSERT_EQ(r.status, ParseStatus::kComplete) << r.message;
  EXPECT_EQ(r.header.family, ProxyFamily::kInet6);
  EXPECT_EQ(r.header.src_addr, "2001:db8::1");
  EXPECT_EQ(r.header.dst_addr, "::1");
  EXPECT_EQ(r.header.src_port, 65535);
  EXPECT_EQ(r.header.dst_port, 0);
}

TEST(ProxyV1, LongestLinesOfTheSpecificationAreAccepted) {
  const std::string ff = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  const std::string tcp6 = "PROXY TCP6 " + ff + " " + ff + " 65535 65535\r\n";
  EXPECT_EQ(tcp6.size(), 104u);
  EXPECT_EQ(Parse(tcp6).status, ParseStatus::kComplete);
  // The worst case: UNKNOWN with the longest fields, 107 bytes with its CRLF.
  const std::string unknown = "PROXY UNKNOWN " + ff + " " + ff + " 65535 65535\r\n";
  ASSERT_EQ(unknown.size(), kProxyV1MaxLine);
  ProxyParseResult r = Parse(unknown);
  ASSERT_EQ(r.status, ParseStatus::kComplete) << r.message;
  EXPECT_EQ(r.consumed, kProxyV1MaxLine);
  EXPECT_FALSE(r.header.HasClientAddress());
}

TEST(ProxyV1, UnknownKeepsThePeer) {
  ProxyParseResult r = Parse("PROXY UNKNOWN\r\nGET");
  ASSERT_EQ(r.status, ParseStatus::kComplete);
  EXPECT_EQ(r.consumed, 15u);
  EXPECT_EQ(r.header.family, ProxyFamily::kUnspec);
  EXPECT_FALSE(r.header.HasClientAddress());
}

TEST(ProxyV1, NoCrlfWithin107BytesIsAnError) {
  const std::string unfinished = "PROXY UNKNOWN " + std::string(200, 'x');
  EXPECT_EQ(Parse(unfinished.substr(0, kProxyV1MaxLine - 1)).status, ParseStatus::kIncomplete);
  EXPECT_EQ(Parse(unfinished.substr(0, kProxyV1MaxLine)).status, ParseStatus::kError);
  // The CRLF one byte past the limit does not make it valid.
  const std::string long_line = "PROXY UNKNOWN " + std::string(92, 'x') + "\r\n";
  ASSERT_EQ(long_line.size(), kProxyV1MaxLine + 1);
  EXPECT_EQ(Parse(long_line).status, ParseStatus::kError);
}

TEST(ProxyV1, MalformedLinesAreErrors) {
  for (const char* bad : {
           "PROXY TCP4 192.0.2.10 198.51.100.1 56324 443\n",     // LF without CR
           "PROXY TCP4 2001:db8::1 198.51.100.1 56324 443\r\n",  // IPv6 on a TCP4 line
           "PROXY TCP6 192.0.2.10 ::1 56324 443\r\n",            // IPv4 on a TCP6 line
           "PROXY TCP4 192.0.2.10 198.51.100.1 65536 443\r\n",   // port out of range
           "PROXY TCP4 192.0.2.10 198.51.100.1 -1 443\r\n",      // not a number
           "PROXY TCP4 192.0.2.10  198.51.100.1 56324 443\r\n",  // two spaces
           "PROXY TCP4 192.0.2.10 198.51.100.1 56324 443 x\r\n", // a field too many
           "PROXY TCP4 192.0.2.10 198.51.100.1 56324\r\n",       // a field too few
           "PROXY TCP4 192.0.2.010 198.51.100.1 1 2\r\n",        // a leading zero
           "PROXY TCP4 example.com 198.51.100.1 1 2\r\n",        // a name, not an address
           "PROXY UDP4 192.0.2.10 198.51.100.1 1 2\r\n",         // no such protocol
           "PROXY tcp4 192.0.2.10 198.51.100.1 1 2\r\n",         // case matters
           "PROXY \r\n",
           "PROXYTCP4 192.0.2.10 198.51.100.1 1 2\r\n",
       }) {
    EXPECT_EQ(Parse(bad).status, ParseStatus::kError) << bad;
  }
}

TEST(ProxyDetect, APlainRequestIsAnErrorAtOnce) {
  EXPECT_EQ(Parse("").status, ParseStatus::kIncomplete);
  // One byte that begins neither signature is enough to know.
  EXPECT_EQ(Parse("G").status, ParseStatus::kError);
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\nHost: x\r\n\r\n").status, ParseStatus::kError);
  EXPECT_EQ(Parse("POST").status, ParseStatus::kError);  // 'P', then not "PROXY "
  EXPECT_EQ(Parse("PRO").status, ParseStatus::kIncomplete);
  EXPECT_EQ(Parse("\r\n\r\n").status, ParseStatus::kIncomplete);
  EXPECT_EQ(Parse("\r\n\r\nGET").status, ParseStatus::kError);
}

TEST(ProxyV2, ProxyInetWithTlvs) {
  // 192.0.2.10:56324 -> 198.51.100.1:443, then an ALPN TLV (type 0x01, "h2") and a NOOP TLV.
  const std::string block = Bytes({192, 0, 2, 10, 198, 51, 100, 1, 0xdc, 0x04, 0x01, 0xbb,
                                   0x01, 0x00, 0x02, 'h', '2', 0x04, 0x00, 0x00});
  const std::string header = V2(0x21, 0x11, block);
  ProxyParseResult r = Parse(header + "GET / HTTP/1.1\r\n");
  ASSERT_EQ(r.status, ParseStatus::kComplete) << r.message;
  EXPECT_EQ(r.consumed, header.size());
  EXPECT_EQ(r.header.version, 2);
  EXPECT_FALSE(r.header.local);
  EXPECT_TRUE(r.header.HasClientAddress());
  EXPECT_EQ(r.header.src_addr, "192.0.2.10");
  EXPECT_EQ(r.header.dst_addr, "198.51.100.1");
  EXPECT_EQ(r.header.src_port, 56324);
  EXPECT_EQ(r.header.dst_port, 443);
  ExpectPrefixesIncomplete(header);
}

TEST(ProxyV2, ProxyInet6) {
  std::string block(36, '\0');
  block[0] = 0x20; block[1] = 0x01; block[2] = 0x0d; block[3] = static_cast<char>(0xb8);
  block[15] = 1;
  block[31] = 1;  // ::1
  block[32] = 0x30; block[33] = 0x39;  // 12345
  block[34] = 0x00; block[35] = 0x50;  // 80
  ProxyParseResult r = Parse(V2(0x21, 0x21, block));
  ASSERT_EQ(r.status, ParseStatus::kComplete) << r.message;
  EXPECT_EQ(r.header.family, ProxyFamily::kInet6);
  EXPECT_EQ(r.header.src_addr, "2001:db8::1");
  EXPECT_EQ(r.header.dst_addr, "::1");
  EXPECT_EQ(r.header.src_port, 12345);
  EXPECT_EQ(r.header.dst_port, 80);
}

TEST(ProxyV2, LocalIgnoresTheAddressBlock) {
  // LOCAL (a health check from the proxy itself): accepted whatever the family says.
  ProxyParseResult r = Parse(V2(0x20, 0x00, ""));
  ASSERT_EQ(r.status, ParseStatus::kComplete) << r.message;
  EXPECT_TRUE(r.header.local);
  EXPECT_FALSE(r.header.HasClientAddress());
  EXPECT_EQ(r.consumed, 16u);
  r = Parse(V2(0x20, 0xff, "junk"));
  ASSERT_EQ(r.status, ParseStatus::kComplete) << r.message;
  EXPECT_EQ(r.consumed, 20u);
  EXPECT_FALSE(r.header.HasClientAddress());
}

TEST(ProxyV2, UnixAndUnspecKeepThePeer) {
  std::string block(216, '\0');
  block.replace(0, 9, "/run/a.sk");
  block.replace(108, 9, "/run/b.sk");
  ProxyParseResult r = Parse(V2(0x21, 0x31, block));
  ASSERT_EQ(r.status, ParseStatus::kComplete) << r.message;
  EXPECT_EQ(r.header.family, ProxyFamily::kUnix);
  EXPECT_EQ(r.header.src_addr, "/run/a.sk");
  EXPECT_EQ(r.header.dst_addr, "/run/b.sk");
  EXPECT_FALSE(r.header.HasClientAddress());
  r = Parse(V2(0x21, 0x00, ""));
  ASSERT_EQ(r.status, ParseStatus::kComplete) << r.message;
  EXPECT_FALSE(r.header.HasClientAddress());
  // UDP over IPv4: addresses of no stream, the peer stays.
  r = Parse(V2(0x21, 0x12, std::string(12, '\1')));
  ASSERT_EQ(r.status, ParseStatus::kComplete) << r.message;
  EXPECT_FALSE(r.header.HasClientAddress());
}

TEST(ProxyV2, InvalidHeadersAreErrors) {
  const std::string inet(12, '\1');
  EXPECT_EQ(Parse(V2(0x11, 0x11, inet)).status, ParseStatus::kError);  // version 1 in binary
  EXPECT_EQ(Parse(V2(0x31, 0x11, inet)).status, ParseStatus::kError);  // version 3
  EXPECT_EQ(Parse(V2(0x22, 0x11, inet)).status, ParseStatus::kError);  // command 2
  EXPECT_EQ(Parse(V2(0x21, 0x41, inet)).status, ParseStatus::kError);  // family 4
  EXPECT_EQ(Parse(V2(0x21, 0x13, inet)).status, ParseStatus::kError);  // transport 3
  EXPECT_EQ(Parse(V2(0x21, 0x11, std::string(8, '\1'))).status, ParseStatus::kError);
  EXPECT_EQ(Parse(V2(0x21, 0x21, std::string(12, '\1'))).status, ParseStatus::kError);
  EXPECT_EQ(Parse(V2(0x21, 0x31, std::string(100, '\1'))).status, ParseStatus::kError);
  // A signature byte wrong: an error as soon as it arrives.
  std::string bad = V2(0x21, 0x11, inet);
  bad[7] = 'q';
  EXPECT_EQ(Parse(std::string_view(bad).substr(0, 8)).status, ParseStatus::kError);
}

TEST(ProxyV2, AnAnnouncedLengthWaitsForItsBytes) {
  const std::string header = V2(0x21, 0x11, std::string(12, '\1') + std::string(1000, '\0'));
  EXPECT_EQ(Parse(std::string_view(header).substr(0, header.size() - 1)).status,
            ParseStatus::kIncomplete);
  ProxyParseResult r = Parse(header);
  ASSERT_EQ(r.status, ParseStatus::kComplete);
  EXPECT_EQ(r.consumed, 16u + 1012u);
  EXPECT_EQ(r.header.src_addr, "1.1.1.1");
}

}  // namespace
}  // namespace kiln::protocol
