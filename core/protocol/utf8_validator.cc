// The validator's loop: ASCII eight bytes at a time (the common case in text messages), a
// small state machine for the rest.
#include "core/protocol/utf8_validator.h"

#include <cstring>

namespace kiln::protocol {

bool Utf8Validator::Feed(const uint8_t* p, size_t n) {
  const uint8_t* const end = p + n;
  while (p < end) {
    if (need_ > 0) {
      const uint8_t c = *p;
      if (c < lo_ || c > hi_) return false;
      ++p;
      --need_;
      lo_ = 0x80;
      hi_ = 0xBF;
      continue;
    }
    // Between code points: skip ASCII a word at a time.
    while (end - p >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      if (w & 0x8080808080808080ull) break;
      p += 8;
    }
    if (p == end) break;
    const uint8_t c = *p++;
    if (c < 0x80) continue;
    if (c < 0xC2) return false;  // a stray continuation byte, or C0/C1 (overlong 2-byte)
    if (c < 0xE0) {
      need_ = 1;
    } else if (c < 0xF0) {
      need_ = 2;
      if (c == 0xE0) lo_ = 0xA0;  // overlong 3-byte
      if (c == 0xED) hi_ = 0x9F;  // surrogates
    } else if (c < 0xF5) {
      need_ = 3;
      if (c == 0xF0) lo_ = 0x90;  // overlong 4-byte
      if (c == 0xF4) hi_ = 0x8F;  // above U+10FFFF
    } else {
      return false;  // F5..FF never appear
    }
  }
  return true;
}

}  // namespace kiln::protocol
