// Fuzz target: the PROXY protocol parser (v1 and v2) over arbitrary bytes. Checks the parser's
// promises: a complete header lies within the input (v1 within 107 bytes), an error says why,
// a header with a client address has one, and feeding a complete header's bytes one short
// asks for more instead of deciding differently.
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/protocol/proxy_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using kiln::protocol::ParseStatus;
  const char* buf = reinterpret_cast<const char*>(data);
  const kiln::protocol::ProxyParseResult r = kiln::protocol::ParseProxyHeader(buf, size);
  if (r.status == ParseStatus::kComplete) {
    if (r.consumed == 0 || r.consumed > size) std::abort();
    if (r.header.version == 1 && r.consumed > kiln::protocol::kProxyV1MaxLine) std::abort();
    if (r.header.version == 2 && r.consumed < kiln::protocol::kProxyV2HeaderSize) std::abort();
    if (r.header.HasClientAddress()) {
      unsigned char bin[16];
      const int family =
          r.header.family == kiln::protocol::ProxyFamily::kInet ? AF_INET : AF_INET6;
      if (inet_pton(family, r.header.src_addr.c_str(), bin) != 1) std::abort();
    }
    // The header's own bytes, one short, are never a different header or an error.
    const kiln::protocol::ProxyParseResult shorter =
        kiln::protocol::ParseProxyHeader(buf, r.consumed - 1);
    if (shorter.status != ParseStatus::kIncomplete) std::abort();
  } else if (r.status == ParseStatus::kError && r.message[0] == '\0') {
    std::abort();
  }
  return 0;
}
