// SHA-1 against the FIPS 180-4 / FIPS 180-2 appendix examples, whole and fed in pieces.
#include "core/protocol/sha1.h"

#include <string>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace kiln::protocol {
namespace {

std::string Hex(const Sha1::Digest& d) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

TEST(Sha1, FipsExamples) {
  EXPECT_EQ(Hex(Sha1::Of("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
  // 56 bytes: the padding needs a second block.
  EXPECT_EQ(Hex(Sha1::Of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  EXPECT_EQ(Hex(Sha1::Of("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                         "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu")),
            "a49b2446a02c645bf419f995b67091253a04a259");
  EXPECT_EQ(Hex(Sha1::Of("")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

TEST(Sha1, AMillionAsInUnevenPieces) {
  const std::string a(1000000, 'a');
  Sha1 h;
  size_t off = 0;
  for (size_t step = 1; off < a.size(); step = step % 131 + 7) {
    const size_t n = std::min(step, a.size() - off);
    h.Update(std::string_view(a).substr(off, n));
    off += n;
  }
  EXPECT_EQ(Hex(h.Final()), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  EXPECT_EQ(Hex(Sha1::Of(a)), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

}  // namespace
}  // namespace kiln::protocol
