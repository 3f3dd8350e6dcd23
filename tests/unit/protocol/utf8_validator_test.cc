// The incremental UTF-8 check: valid text in any split, each class of ill-formed sequence
// refused at its first bad byte.
#include "core/protocol/utf8_validator.h"

#include <string>

#include "gtest/gtest.h"

namespace kiln::protocol {
namespace {

// Feeds `s` cut at every position into two pieces; all must agree with `valid`.
void ExpectEverySplit(const std::string& s, bool valid) {
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    Utf8Validator v;
    const bool ok = v.Feed(std::string_view(s).substr(0, cut)) &&
                    v.Feed(std::string_view(s).substr(cut)) && v.AtBoundary();
    EXPECT_EQ(ok, valid) << "cut at " << cut << " of " << s.size();
  }
}

TEST(Utf8Validator, AcceptsEveryLengthOfSequenceInAnySplit) {
  // Autobahn 6.2's text: "Hello-µ@ßöäüàá-UTF-8!!", plus the first 4-byte code point.
  ExpectEverySplit("Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!", true);
  ExpectEverySplit("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", true);  // κόσμε
  ExpectEverySplit("\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf \xef\xbf\xbf \xed\x9f\xbf", true);
  ExpectEverySplit(std::string(100, 'x') + "\xe2\x82\xac" + std::string(9, 'y'), true);
}

TEST(Utf8Validator, RefusesOverlongsSurrogatesAndBeyondU10FFFF) {
  for (const char* bad : {"\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xe0\x9f\xbf",
                          "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf",  // overlong
                          "\xed\xa0\x80", "\xed\xbf\xbf",          // surrogates
                          "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff",  // > U+10FFFF
                          "\x80", "a\xbf", "\xc2\x41"}) {        // stray/missing continuation
    ExpectEverySplit(bad, false);
  }
}

TEST(Utf8Validator, ReportsTheFirstBadByteBeforeTheSequenceEnds) {
  // F4 90: no code point can follow, so the piece fails without waiting for more bytes.
  Utf8Validator v;
  EXPECT_FALSE(v.Feed("ok\xf4\x90"));
  Utf8Validator w;
  EXPECT_TRUE(w.Feed("ok\xf4\x8f"));  // still a prefix of U+10FFxx
  EXPECT_FALSE(w.AtBoundary());
}

TEST(Utf8Validator, AsciiFastPathStillSeesAHighByteInAWord) {
  for (size_t pos = 0; pos < 24; ++pos) {
    std::string s(24, 'a');
    s[pos] = '\x80';
    EXPECT_FALSE(IsValidUtf8(s)) << pos;
  }
}

}  // namespace
}  // namespace kiln::protocol
