// Spool file encoding (core/protocol/spool_packet.h): uWSGI's layout byte for byte, the 64k
// argument limit, and decoding that refuses lengths running past the block.
#include "core/protocol/spool_packet.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::protocol {
namespace {

using ::testing::HasSubstr;

TEST(SpoolPacket, EncodesUwsgisLayoutAndDecodesItBack) {
  auto file = EncodeSpoolFile({{"id", "7"}, {"to", ""}}, "BODY");
  ASSERT_TRUE(file.ok()) << file.status();
  // modifier1 17, a 13-byte vars block (little-endian), modifier2 0; then vars and body.
  EXPECT_EQ(*file, std::string("\x11\x0d\x00\x00"
                               "\x02\x00id\x01\x00"
                               "7"
                               "\x02\x00to\x00\x00"
                               "BODY",
                               21));
  auto content = DecodeSpoolFile(*file);
  ASSERT_TRUE(content.ok()) << content.status();
  ASSERT_EQ(content->vars.size(), 2u);
  EXPECT_EQ(content->vars[0], SpoolVar("id", "7"));
  EXPECT_EQ(content->vars[1], SpoolVar("to", ""));
  EXPECT_EQ(content->body, "BODY");
}

TEST(SpoolPacket, ArgumentsOver64kAreRefusedWithAHintAboutBody) {
  std::string big(40000, 'x');
  auto file = EncodeSpoolFile({{"a", big}, {"b", big}}, "");
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), HasSubstr("body"));
  auto one = EncodeSpoolFile({{"a", std::string(70000, 'x')}}, "");
  EXPECT_FALSE(one.ok());
  EXPECT_TRUE(EncodeSpoolFile({{"a", "b"}}, std::string(200000, 'y')).ok());
}

TEST(SpoolPacket, MalformedFilesAreErrors) {
  EXPECT_FALSE(DecodeSpoolFile("\x11\x00").ok());                         // short header
  EXPECT_FALSE(DecodeSpoolFile(std::string("\x11\x09\x00\x00", 4)).ok());  // block past end
  // A key length past the block.
  EXPECT_FALSE(DecodeSpoolFile(std::string("\x11\x04\x00\x00\x09\x00id", 8)).ok());
  // A value length missing.
  EXPECT_FALSE(DecodeSpoolFile(std::string("\x11\x04\x00\x00\x02\x00id", 8)).ok());
  auto empty = DecodeSpoolFile(std::string("\x11\x00\x00\x00", 4));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->vars.empty());
}

}  // namespace
}  // namespace kiln::protocol
