// Listen address parsing: every form the config accepts, and clear errors for the rest.
#include "core/net/address.h"

#include <string>

#include "gtest/gtest.h"

namespace kiln::net {
namespace {

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(ParseAddress, ReadsABarePathAsUnixSocket) {
  auto a = ParseAddress("/run/app.sock");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->kind, AddressKind::kUnix);
  EXPECT_EQ(a->path, "/run/app.sock");
  EXPECT_EQ(a->ToString(), "/run/app.sock");
}

TEST(ParseAddress, StripsTheUnixPrefix) {
  auto a = ParseAddress("unix:/tmp/a.sock");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->kind, AddressKind::kUnix);
  EXPECT_EQ(a->path, "/tmp/a.sock");
}

TEST(ParseAddress, ReadsARelativePathWithAColonAsUnix) {
  auto a = ParseAddress("./run/a:b.sock");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->kind, AddressKind::kUnix);
}

TEST(ParseAddress, ReadsHostAndPort) {
  auto a = ParseAddress("127.0.0.1:8080");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->kind, AddressKind::kInet);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8080);
}

TEST(ParseAddress, ReadsABarePortAsAllInterfaces) {
  auto a = ParseAddress(":3031");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "0.0.0.0");
  EXPECT_EQ(a->port, 3031);
  EXPECT_EQ(a->ToString(), "0.0.0.0:3031");
}

TEST(ParseAddress, ReadsBracketedIpv6) {
  auto a = ParseAddress("[::1]:9000");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->kind, AddressKind::kInet6);
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 9000);
  EXPECT_EQ(a->ToString(), "[::1]:9000");
}

TEST(ParseAddress, ReadsAbstractNames) {
  auto a = ParseAddress("@kiln-test");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->kind, AddressKind::kAbstract);
  EXPECT_EQ(a->path, "kiln-test");
  EXPECT_EQ(a->ToString(), "@kiln-test");
}

TEST(ParseAddress, RoundTripsThroughToString) {
  for (const char* text : {"/a/b.sock", "10.0.0.1:80", "[fe80::1]:443", "@x", "localhost:0"}) {
    auto a = ParseAddress(text);
    ASSERT_TRUE(a.ok()) << text;
    auto b = ParseAddress(a->ToString());
    ASSERT_TRUE(b.ok()) << text;
    EXPECT_EQ(*a, *b) << text;
  }
}

TEST(ParseAddress, RejectsAPortThatIsNotANumber) {
  auto a = ParseAddress("127.0.0.1:http");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(Message(a.status()).find("`127.0.0.1:http`"), std::string::npos);
  EXPECT_NE(Message(a.status()).find("0 to 65535"), std::string::npos);
}

TEST(ParseAddress, RejectsAPortAboveTheRange) {
  EXPECT_FALSE(ParseAddress("127.0.0.1:65536").ok());
  EXPECT_FALSE(ParseAddress("127.0.0.1:").ok());
  EXPECT_FALSE(ParseAddress("127.0.0.1:-1").ok());
}

TEST(ParseAddress, RejectsAUnixPathLongerThanTheKernelAllows) {
  std::string path = "/" + std::string(120, 'x');
  auto a = ParseAddress(path);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(Message(a.status()).find("at most 107"), std::string::npos);
}

TEST(ParseAddress, RejectsEmptyAndUnbracketedIpv6) {
  EXPECT_FALSE(ParseAddress("").ok());
  EXPECT_FALSE(ParseAddress("unix:").ok());
  EXPECT_FALSE(ParseAddress("@").ok());
  auto a = ParseAddress("::1:80");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(Message(a.status()).find("[addr]:port"), std::string::npos);
  EXPECT_FALSE(ParseAddress("[::1]80").ok());
}

}  // namespace
}  // namespace kiln::net
