// Incremental UTF-8 validation (RFC 3629 / Unicode 3.9 table 3-7): bytes may arrive in any
// number of pieces (a text message split over WebSocket fragments, a sequence split between
// two of them), and the first byte that cannot start or continue a well-formed sequence is
// reported at once, so a peer is told 1007 before the message ends. Rejects overlong forms,
// surrogates (U+D800..DFFF) and code points above U+10FFFF. Holds no pointer to the bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace kiln::protocol {

class Utf8Validator {
 public:
  // Checks the next piece. False once the bytes so far cannot be the start of valid UTF-8;
  // the validator is then spent until Reset().
  bool Feed(const uint8_t* p, size_t n);
  bool Feed(std::string_view s) { return Feed(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }
  // True when the bytes so far end on a code point boundary (a message may end here).
  bool AtBoundary() const { return need_ == 0; }
  void Reset() { need_ = 0; lo_ = 0x80; hi_ = 0xBF; }

 private:
  uint8_t need_ = 0;   // continuation bytes still expected
  uint8_t lo_ = 0x80;  // allowed range of the next continuation byte (narrowed after E0,
  uint8_t hi_ = 0xBF;  // ED, F0 and F4 leads: overlongs, surrogates, > U+10FFFF)
};

// Whole-string convenience.
inline bool IsValidUtf8(std::string_view s) {
  Utf8Validator v;
  return v.Feed(s) && v.AtBoundary();
}

}  // namespace kiln::protocol
