// The PROXY protocol header a TCP proxy (HAProxy, nginx's stream module, a cloud load
// balancer) sends before the client's own bytes: version 1 (one text line) and version 2
// (binary), as haproxy's doc/proxy-protocol.txt specifies them. A pure parser: no I/O, no
// allocation beyond the address texts; the caller feeds what has arrived and gets back
// needs-more, the header and its length, or an error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/protocol/request.h"

namespace kiln::protocol {

// Version 1's line is at most 107 bytes with its CRLF; version 2's header is 16 bytes and up
// to 65535 more.
inline constexpr size_t kProxyV1MaxLine = 107;
inline constexpr size_t kProxyV2HeaderSize = 16;

enum class ProxyFamily {
  kUnspec,  // v1 UNKNOWN, v2 AF_UNSPEC (or a transport other than STREAM): no addresses
  kInet,    // TCP over IPv4
  kInet6,   // TCP over IPv6
  kUnix,    // v2 AF_UNIX: the addresses are socket paths
};

struct ProxyHeader {
  int version = 0;     // 1 or 2
  bool local = false;  // v2 LOCAL: the proxy's own connection (a health check), no client
  ProxyFamily family = ProxyFamily::kUnspec;
  // kInet/kInet6: the addresses in inet_ntop's form; kUnix: the paths up to their NUL.
  std::string src_addr, dst_addr;
  uint16_t src_port = 0, dst_port = 0;

  // True when the header names a TCP client: the address that replaces the socket's peer.
  // LOCAL, UNKNOWN, AF_UNSPEC and AF_UNIX keep the peer.
  bool HasClientAddress() const {
    return !local && (family == ProxyFamily::kInet || family == ProxyFamily::kInet6);
  }
};

struct ProxyParseResult {
  ParseStatus status = ParseStatus::kIncomplete;
  size_t consumed = 0;  // kComplete: the header's length (the client's bytes follow it)
  ProxyHeader header;   // kComplete
  const char* message = "";  // kError: what is wrong, for the log line
};

// Parses the PROXY header at the start of `data`. kIncomplete only while the bytes so far can
// still begin a valid header: a first byte that starts neither version's signature is an
// error at once, so a client that sends a plain request is not kept waiting.
ProxyParseResult ParseProxyHeader(const char* data, size_t size);

}  // namespace kiln::protocol
