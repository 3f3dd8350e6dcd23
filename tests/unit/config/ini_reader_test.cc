// Tests of the pure ini reader: sections, comments, bare keys and malformed input.
#include "core/config/ini_reader.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::config {
namespace {

using ::testing::HasSubstr;

std::vector<std::string> Pairs(const IniSection& s) {
  std::vector<std::string> out;
  for (const IniLine& l : s.lines) out.push_back(l.key + "=" + l.value);
  return out;
}

TEST(IniReader, ReadsKilnSectionBeforeUwsgi) {
  auto s = ParseIni("[uwsgi]\na = 1\n[kiln]\nb = 2\n", "x.ini", "");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->section, "kiln");
  EXPECT_THAT(Pairs(*s), ::testing::ElementsAre("b=2"));
}

TEST(IniReader, FallsBackToUwsgiSectionAndJoinsRepeatedHeaders) {
  auto s = ParseIni("a = 0\n[uwsgi]\na = 1\n[other]\nz = 9\n[uwsgi]\nb = 2\n", "x.ini", "");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT(Pairs(*s), ::testing::ElementsAre("a=1", "b=2"));
}

TEST(IniReader, ReadsANamedSection) {
  auto s = ParseIni("[uwsgi]\na = 1\n[prod]\nb = 2\n", "x.ini", "prod");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT(Pairs(*s), ::testing::ElementsAre("b=2"));
}

TEST(IniReader, StripsCommentLinesAndInlineComments) {
  auto s = ParseIni(
      "[uwsgi]\n# whole line\n; also\nmodule = app:app # the entry point\n"
      "x = a;b#c ; tail\ny = literal \\# hash \\; semi\nz = #only a comment\n\tw = 1\r\n",
      "x.ini", "");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT(Pairs(*s), ::testing::ElementsAre("module=app:app", "x=a;b#c",
                                                "y=literal # hash ; semi", "z=", "w=1"));
}

TEST(IniReader, BareKeyIsMarked) {
  auto s = ParseIni("[uwsgi]\nmaster\nvacuum # trailing\n", "x.ini", "");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->lines.size(), 2u);
  EXPECT_TRUE(s->lines[0].bare);
  EXPECT_EQ(s->lines[1].key, "vacuum");
  EXPECT_EQ(s->lines[1].line, 3);
}

TEST(IniReader, RejectsFileWithoutKilnOrUwsgiSection) {
  auto s = ParseIni("[app]\na = 1\n", "/etc/x.ini", "");
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("/etc/x.ini has no [kiln] or [uwsgi]"));
}

TEST(IniReader, RejectsMissingNamedSection) {
  auto s = ParseIni("[uwsgi]\na = 1\n", "x.ini", "prod");
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("x.ini has no [prod] section"));
}

TEST(IniReader, RejectsOverlongLineNamingIt) {
  std::string text = "[uwsgi]\na = " + std::string(kMaxLineBytes, 'x') + "\n";
  auto s = ParseIni(text, "x.ini", "");
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("x.ini:2: line is"));
}

TEST(IniReader, RejectsNonUtf8Bytes) {
  auto s = ParseIni("[uwsgi]\nname = caf\xe9\n", "x.ini", "");
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("x.ini:2: line is not valid UTF-8"));
  EXPECT_TRUE(ParseIni("[uwsgi]\nname = caf\xc3\xa9\n", "x.ini", "").ok());
}

TEST(IniReader, RejectsNulByte) {
  auto s = ParseIni(std::string("[uwsgi]\na = b\0c\n", 14), "x.ini", "");
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("x.ini:2: line holds a NUL byte"));
}

TEST(IniReader, RejectsMalformedHeaderAndMissingKey) {
  EXPECT_THAT(std::string(ParseIni("[uwsgi]\n[broken\n", "x.ini", "").status().message()),
              HasSubstr("x.ini:2: malformed section header"));
  EXPECT_THAT(std::string(ParseIni("[uwsgi]\n = 3\n", "x.ini", "").status().message()),
              HasSubstr("x.ini:2: line has no option name"));
}

TEST(IniReader, Utf8ValidatorRejectsOverlongAndSurrogates) {
  size_t bad = 0;
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf", &bad));
  EXPECT_FALSE(IsValidUtf8("ab\xed\xa0\x80", &bad));
  EXPECT_EQ(bad, 2u);
  EXPECT_TRUE(IsValidUtf8("\xf0\x9f\x94\xa5", &bad));
}

}  // namespace
}  // namespace kiln::config
