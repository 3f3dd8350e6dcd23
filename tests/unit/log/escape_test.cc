// Escaping of request values and plugin text in log lines (core/log/escape.h): what a client
// sends can never end a line, drive a terminal or break a JSON string.
#include "core/log/escape.h"

#include <string>

#include "gtest/gtest.h"

namespace kiln::log {
namespace {

TEST(LogSafe, PlainAsciiIsCopiedAsItIs) {
  EXPECT_EQ(LogSafe("/hello?x=1&y=%0a"), "/hello?x=1&y=%0a");
  EXPECT_EQ(LogSafe(""), "");
}

// IsLogSafe lets the request log copy a value without escaping it: it must never say so of
// a value that escaping would change.
TEST(LogSafe, IsLogSafeOnlyForValuesEscapingLeavesAsTheyAre) {
  EXPECT_TRUE(IsLogSafe(""));
  EXPECT_TRUE(IsLogSafe("/hello?x=1&y=%0a"));
  EXPECT_FALSE(IsLogSafe("/raise\n[pid: 99|app: 0] FORGED"));
  EXPECT_FALSE(IsLogSafe("a\"b"));
  for (int b = 0; b < 256; ++b) {
    const std::string v = "x" + std::string(1, static_cast<char>(b)) + "y";
    if (IsLogSafe(v)) {
      EXPECT_EQ(LogSafe(v), v) << "byte " << b;
    }
  }
}

TEST(LogSafe, LineBreaksAndOtherControlBytesAreEscaped) {
  EXPECT_EQ(LogSafe("/raise\n[pid: 99|app: 0] FORGED"), "/raise\\x0a[pid: 99|app: 0] FORGED");
  EXPECT_EQ(LogSafe("a\rb"), "a\\x0db");
  EXPECT_EQ(LogSafe(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(LogSafe("\x1b[2J"), "\\x1b[2J");
  EXPECT_EQ(LogSafe("tab\there"), "tab\\x09here");
  EXPECT_EQ(LogSafe("del\x7f"), "del\\x7f");
}

TEST(LogSafe, QuotesAndBackslashesAreEscapedSoQuotedFieldsAndEscapesStayUnambiguous) {
  EXPECT_EQ(LogSafe("/a\"b\\c"), "/a\\x22b\\x5cc");
  // A client sending the text "\x0a" is not confused with a real LF.
  EXPECT_EQ(LogSafe("\\x0a"), "\\x5cx0a");
}

TEST(LogSafe, ValidUtf8IsKeptAndInvalidBytesAreEscaped) {
  EXPECT_EQ(LogSafe("/caf\xc3\xa9/\xe6\x97\xa5/\xf0\x9f\x98\x80"),
            "/caf\xc3\xa9/\xe6\x97\xa5/\xf0\x9f\x98\x80");
  EXPECT_EQ(LogSafe("/\xff\xfe"), "/\\xff\\xfe");
  EXPECT_EQ(LogSafe("/\xc3"), "/\\xc3");                 // truncated sequence
  EXPECT_EQ(LogSafe("/\xc0\xaf"), "/\\xc0\\xaf");         // overlong '/'
  EXPECT_EQ(LogSafe("/\xed\xa0\x80"), "/\\xed\\xa0\\x80");  // a UTF-16 surrogate
  EXPECT_EQ(LogSafe("/\xf4\x90\x80\x80"), "/\\xf4\\x90\\x80\\x80");  // past U+10FFFF
}

TEST(LogSafe, ControlLikeCharactersAreEscapedEvenWhenValidUtf8) {
  EXPECT_EQ(LogSafe("a\xc2\x85z"), "a\\xc2\\x85z");           // NEL (C1)
  EXPECT_EQ(LogSafe("a\xc2\x9b" "31m"), "a\\xc2\\x9b" "31m");  // 8-bit CSI
  EXPECT_EQ(LogSafe("a\xe2\x80\xa8z"), "a\\xe2\\x80\\xa8z");   // LINE SEPARATOR
  EXPECT_EQ(LogSafe("a\xe2\x80\xaez"), "a\\xe2\\x80\\xaez");   // RIGHT-TO-LEFT OVERRIDE
  EXPECT_EQ(LogSafe("a\xe2\x81\xa6z"), "a\\xe2\\x81\\xa6z");   // LEFT-TO-RIGHT ISOLATE
  EXPECT_EQ(LogSafe("a\xc2\xa0z"), "a\xc2\xa0z");              // NBSP is text
}

TEST(LogSafeText, KeepsTabQuotesAndBackslashesButNotLineBreaks) {
  EXPECT_EQ(LogSafeText("header \"X\\y\"\tat 3"), "header \"X\\y\"\tat 3");
  EXPECT_EQ(LogSafeText("path \"/a\nb\"\r"), "path \"/a\\x0ab\"\\x0d");
  EXPECT_EQ(LogSafeText("\x1b]0;title\x07"), "\\x1b]0;title\\x07");
  EXPECT_EQ(LogSafeText("bad \xff utf8, good \xc3\xa9"), "bad \\xff utf8, good \xc3\xa9");
}

TEST(JsonEscaped, FollowsRfc8259) {
  EXPECT_EQ(JsonEscaped("/a\"b\\c"), "/a\\\"b\\\\c");
  EXPECT_EQ(JsonEscaped("\b\f\n\r\t"), "\\b\\f\\n\\r\\t");
  EXPECT_EQ(JsonEscaped(std::string("\0\x01\x1f\x7f", 4)), "\\u0000\\u0001\\u001f\\u007f");
  EXPECT_EQ(JsonEscaped("/caf\xc3\xa9"), "/caf\xc3\xa9");
  // Control-like characters keep their value, written as \u escapes.
  EXPECT_EQ(JsonEscaped("a\xc2\x85\xe2\x80\xa8\xe2\x80\xae"), "a\\u0085\\u2028\\u202e");
  // Invalid UTF-8 becomes the text \xNN, so the line stays valid UTF-8.
  EXPECT_EQ(JsonEscaped("/\xff"), "/\\\\xff");
  EXPECT_EQ(JsonEscaped("plain"), "plain");
}

}  // namespace
}  // namespace kiln::log
