// Socket options as the server reads them: protocol per option, duplicates refused.
#include "core/process/server_options.h"

#include "gtest/gtest.h"

namespace kiln::process {
namespace {

TEST(ParseSockets, KeepsTheProtocolOfEachOption) {
  auto s = ParseSockets({"/run/a.sock"}, {"127.0.0.1:8080", "@h"});
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->size(), 3u);
  EXPECT_FALSE((*s)[0].http);
  EXPECT_TRUE((*s)[1].http);
  EXPECT_EQ((*s)[1].address.port, 8080);
  EXPECT_EQ((*s)[2].address.kind, net::AddressKind::kAbstract);
}

TEST(ParseSockets, NamesTheOptionAndValueOfABadAddress) {
  auto s = ParseSockets({}, {"127.0.0.1:http"});
  ASSERT_FALSE(s.ok());
  std::string msg(s.status().message());
  EXPECT_NE(msg.find("http-socket = 127.0.0.1:http"), std::string::npos) << msg;
}

TEST(ParseSockets, RefusesTheSameAddressTwice) {
  auto s = ParseSockets({"/run/a.sock"}, {"unix:/run/a.sock"});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.status().message()).find("already given by `socket"), std::string::npos);
}

}  // namespace
}  // namespace kiln::process
