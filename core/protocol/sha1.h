// SHA-1 (FIPS 180-4, 6.1), for the one place kiln needs it: the Sec-WebSocket-Accept value of
// a WebSocket handshake (RFC 6455 4.2.2), a hash of 60 bytes per connection. Not for anything
// that needs collision resistance. Kept here rather than linking OpenSSL's libcrypto: kiln
// links no crypto library today, and one would add a build and package dependency (and
// OpenSSL 3's provider loading at first use) for ~80 lines that run once per handshake.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace kiln::protocol {

class Sha1 {
 public:
  using Digest = std::array<uint8_t, 20>;

  Sha1() = default;
  // Adds bytes; may be called any number of times.
  void Update(std::string_view data);
  // Pads, returns the digest. The object must not be used afterwards.
  Digest Final();

  static Digest Of(std::string_view data) {
    Sha1 h;
    h.Update(data);
    return h.Final();
  }

 private:
  void Block(const uint8_t* p);

  uint32_t h_[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
  uint8_t buf_[64] = {};
  size_t buf_len_ = 0;
  uint64_t total_ = 0;  // bytes hashed so far
};

}  // namespace kiln::protocol
