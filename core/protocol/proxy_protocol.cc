// PROXY protocol v1 and v2 (haproxy's doc/proxy-protocol.txt). The parser is strict where the
// specification says a receiver must reject (an unknown version or command, a line without
// CRLF within 107 bytes, an address that is not the family's literal), because the header
// decides the client address a request is logged and judged by.
#include "core/protocol/proxy_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <string_view>
#include <utility>

namespace kiln::protocol {
namespace {

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr char kV2Signature[12] = {'\r', '\n', '\r', '\n', '\0', '\r',
                                   '\n', 'Q',  'U',  'I',  'T',  '\n'};

ProxyParseResult Error(const char* message) {
  ProxyParseResult r;
  r.status = ParseStatus::kError;
  r.message = message;
  return r;
}

ProxyParseResult Complete(size_t consumed, ProxyHeader header) {
  ProxyParseResult r;
  r.status = ParseStatus::kComplete;
  r.consumed = consumed;
  r.header = std::move(header);
  return r;
}

// The family's binary address as inet_ntop writes it.
std::string AddressText(int family, const void* binary) {
  char text[INET6_ADDRSTRLEN] = {0};
  inet_ntop(family, binary, text, sizeof(text));
  return text;
}

// A v1 address field: the whole field must be the family's literal (inet_pton is strict:
// dotted decimal for IPv4, no zone or brackets for IPv6).
bool V1Address(std::string_view field, int family, std::string* out) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (field.empty() || field.size() >= sizeof(text)) return false;
  std::memcpy(text, field.data(), field.size());
  unsigned char binary[sizeof(in6_addr)];
  if (inet_pton(family, text, binary) != 1) return false;
  *out = AddressText(family, binary);
  return true;
}

// A v1 port: decimal, 0 to 65535.
bool V1Port(std::string_view field, uint16_t* out) {
  if (field.empty() || field.size() > 5) return false;
  uint32_t value = 0;
  for (char ch : field) {
    if (ch < '0' || ch > '9') return false;
    value = value * 10 + static_cast<uint32_t>(ch - '0');
  }
  if (value > 65535) return false;
  *out = static_cast<uint16_t>(value);
  return true;
}

// Splits off the text up to the next single space (the whole rest when there is none).
std::string_view NextField(std::string_view* rest) {
  const size_t space = rest->find(' ');
  std::string_view field = rest->substr(0, space);
  rest->remove_prefix(space == std::string_view::npos ? rest->size() : space + 1);
  return field;
}

ProxyParseResult ParseV1(const char* data, size_t size) {
  const std::string_view in(data, std::min(size, kProxyV1MaxLine));
  const size_t lf = in.find('\n');
  if (lf == std::string_view::npos) {
    if (size >= kProxyV1MaxLine) return Error("PROXY v1 line has no CRLF within 107 bytes");
    return ProxyParseResult{};
  }
  if (lf == 0 || in[lf - 1] != '\r') return Error("PROXY v1 line does not end with CRLF");
  std::string_view rest = in.substr(kV1Prefix.size(), lf - 1 - kV1Prefix.size());
  const std::string_view proto = NextField(&rest);
  ProxyHeader h;
  h.version = 1;
  if (proto == "UNKNOWN") {
    // The sender could not tell the addresses: whatever follows up to the CRLF is ignored.
    return Complete(lf + 1, std::move(h));
  }
  int family;
  if (proto == "TCP4") {
    family = AF_INET;
    h.family = ProxyFamily::kInet;
  } else if (proto == "TCP6") {
    family = AF_INET6;
    h.family = ProxyFamily::kInet6;
  } else {
    return Error("PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN");
  }
  const std::string_view src = NextField(&rest);
  const std::string_view dst = NextField(&rest);
  const std::string_view sport = NextField(&rest);
  const std::string_view dport = rest;
  if (!V1Address(src, family, &h.src_addr) || !V1Address(dst, family, &h.dst_addr)) {
    return Error("PROXY v1 address is not an address of the line's protocol");
  }
  if (!V1Port(sport, &h.src_port) || !V1Port(dport, &h.dst_port)) {
    return Error("PROXY v1 port is not a number from 0 to 65535");
  }
  return Complete(lf + 1, std::move(h));
}

uint16_t Be16(const unsigned char* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

std::string UnixPath(const unsigned char* p) {
  constexpr size_t kPathSize = 108;
  const char* s = reinterpret_cast<const char*>(p);
  return std::string(s, strnlen(s, kPathSize));
}

ProxyParseResult ParseV2(const char* data, size_t size) {
  if (size < kProxyV2HeaderSize) return ProxyParseResult{};
  const auto* b = reinterpret_cast<const unsigned char*>(data);
  if ((b[12] >> 4) != 2) return Error("PROXY v2 header has an unsupported version");
  const unsigned command = b[12] & 0x0f;
  if (command > 1) return Error("PROXY v2 header has an unknown command");
  const size_t len = Be16(b + 14);
  const size_t total = kProxyV2HeaderSize + len;
  if (size < total) return ProxyParseResult{};
  ProxyHeader h;
  h.version = 2;
  if (command == 0) {
    // LOCAL: the proxy speaks for itself (a health check); the family and any address
    // block are ignored, as the specification requires.
    h.local = true;
    return Complete(total, std::move(h));
  }
  const unsigned family = b[13] >> 4;
  const unsigned transport = b[13] & 0x0f;
  if (family > 3 || transport > 2) {
    return Error("PROXY v2 header has an unknown address family or transport");
  }
  // Only a stream's addresses describe the client of this connection; UNSPEC (or a datagram
  // transport) leaves the peer as it is. TLVs after the addresses are skipped.
  if (family == 0 || transport != 1) return Complete(total, std::move(h));
  const unsigned char* a = b + kProxyV2HeaderSize;
  if (family == 1) {
    if (len < 12) return Error("PROXY v2 header is too short for its IPv4 addresses");
    h.family = ProxyFamily::kInet;
    h.src_addr = AddressText(AF_INET, a);
    h.dst_addr = AddressText(AF_INET, a + 4);
    h.src_port = Be16(a + 8);
    h.dst_port = Be16(a + 10);
  } else if (family == 2) {
    if (len < 36) return Error("PROXY v2 header is too short for its IPv6 addresses");
    h.family = ProxyFamily::kInet6;
    h.src_addr = AddressText(AF_INET6, a);
    h.dst_addr = AddressText(AF_INET6, a + 16);
    h.src_port = Be16(a + 32);
    h.dst_port = Be16(a + 34);
  } else {
    if (len < 216) return Error("PROXY v2 header is too short for its unix addresses");
    h.family = ProxyFamily::kUnix;
    h.src_addr = UnixPath(a);
    h.dst_addr = UnixPath(a + 108);
  }
  return Complete(total, std::move(h));
}

}  // namespace

ProxyParseResult ParseProxyHeader(const char* data, size_t size) {
  if (size == 0) return ProxyParseResult{};
  // Decide the version from the first byte, then require the signature as far as it has
  // arrived: a byte that cannot continue it ends the wait at once.
  if (data[0] == kV1Prefix[0]) {
    const size_t n = std::min(size, kV1Prefix.size());
    if (std::memcmp(data, kV1Prefix.data(), n) != 0) return Error("no PROXY header");
    return size <= kV1Prefix.size() ? ProxyParseResult{} : ParseV1(data, size);
  }
  if (data[0] == kV2Signature[0]) {
    const size_t n = std::min(size, sizeof(kV2Signature));
    if (std::memcmp(data, kV2Signature, n) != 0) return Error("no PROXY header");
    return ParseV2(data, size);
  }
  return Error("no PROXY header");
}

}  // namespace kiln::protocol
