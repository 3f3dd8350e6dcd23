// log-route / log-req-route: parsing of named loggers and routes, and which sink each server
// and request line reaches once routes are installed (log::SetRoutes).
#include "core/log/route.h"

#include <memory>
#include <string>
#include <vector>

#include "core/log/logger.h"
#include "core/log/sink_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/log/log_test_util.h"

namespace kiln::log {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::CaptureSink;

TEST(NamedLogger, ANameIsLettersAndDigitsBeforeTheFirstSpace) {
  auto named = ParseNamedLogger("errors file:/var/log/e.log");
  ASSERT_TRUE(named.has_value());
  EXPECT_EQ(named->name, "errors");
  EXPECT_EQ(named->spec, "file:/var/log/e.log");
  EXPECT_FALSE(ParseNamedLogger("file:/var/log/app.log").has_value());
  EXPECT_FALSE(ParseNamedLogger("/var/log/my app.log").has_value());
  EXPECT_FALSE(ParseNamedLogger("my-app file:/x").has_value());  // '-' is not alphanumeric
  EXPECT_FALSE(ParseNamedLogger("syslog").has_value());
}

TEST(NamedLogger, IsNotWhereStdioGoes) {
  EXPECT_EQ(StdioLogPath("", {"errors file:/e.log", "file:/app.log"}), "/app.log");
  EXPECT_EQ(StdioLogPath("", {"errors /e.log"}), "");
}

TEST(LogRoute, ParsesNameAndRegexAndRefusesWhatIsNotOne) {
  auto r = LogRoute::Parse("slow  took [0-9]{4,} ms");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->logger(), "slow");
  EXPECT_TRUE(r->Matches("GET / took 12000 ms"));
  EXPECT_FALSE(r->Matches("GET / took 12 ms"));
  EXPECT_THAT(std::string(LogRoute::Parse("slow").status().message()),
              HasSubstr("is not `LOGGERNAME REGEX`"));
  EXPECT_THAT(std::string(LogRoute::Parse("slow (x").status().message()),
              HasSubstr("regular expression `(x`: missing )"));
  // PCRE-only syntax is refused at start-up, not matched differently.
  EXPECT_FALSE(LogRoute::Parse("x a(?=b)").ok());
}

TEST(LogRoute, ALongLineOfClientBytesIsMatchedWithoutRecursion) {
  auto r = LogRoute::Parse("x (a|b)*c");
  ASSERT_TRUE(r.ok());
  std::string line(1 << 20, 'a');
  EXPECT_FALSE(r->Matches(line));
  line.push_back('c');
  EXPECT_TRUE(r->Matches(line));
}

class RoutesTest : public ::testing::Test {
 protected:
  void TearDown() override {
    EXPECT_TRUE(SetRoutes({}, {}, {}).ok());
    SetServerSinks({});
    SetRequestSinks({});
  }
  static std::unique_ptr<Sink> Capture(std::vector<std::string>* into) {
    return std::make_unique<CaptureSink>(into);
  }
};

TEST_F(RoutesTest, RoutedLinesGoOnlyToTheirLoggersAndTheRestToTheDefault) {
  std::vector<std::string> main_lines, a_lines, b_lines;
  std::vector<std::unique_ptr<Sink>> server;
  server.push_back(Capture(&main_lines));
  SetServerSinks(std::move(server));
  std::vector<NamedSink> named;
  named.push_back({"a", Capture(&a_lines)});
  named.push_back({"b", Capture(&b_lines)});
  std::vector<LogRoute> routes;
  routes.push_back(*LogRoute::Parse("a ^to-a"));
  routes.push_back(*LogRoute::Parse("b to-"));
  routes.push_back(*LogRoute::Parse("b ^to-b"));  // b twice: still one copy
  ASSERT_TRUE(SetRoutes(std::move(named), std::move(routes), {}).ok());
  Log(Level::kInfo, "to-a one");
  Log(Level::kInfo, "to-b two");
  Log(Level::kInfo, "plain three");
  EXPECT_THAT(a_lines, ElementsAre("to-a one\n"));
  EXPECT_THAT(b_lines, ElementsAre("to-a one\n", "to-b two\n"));
  EXPECT_THAT(main_lines, ElementsAre("plain three\n"));
  // No req-logger: request lines are server lines, routed by log-route.
  LogRequest("GET /to-b");
  LogRequest("GET /x");
  EXPECT_THAT(b_lines, ElementsAre("to-a one\n", "to-b two\n", "GET /to-b\n"));
  EXPECT_THAT(main_lines, ElementsAre("plain three\n", "GET /x\n"));
}

TEST_F(RoutesTest, RequestRoutesApplyToRequestLinesOnly) {
  std::vector<std::string> main_lines, req_lines, err_lines;
  std::vector<std::unique_ptr<Sink>> server, request;
  server.push_back(Capture(&main_lines));
  request.push_back(Capture(&req_lines));
  SetServerSinks(std::move(server));
  SetRequestSinks(std::move(request));
  std::vector<NamedSink> named;
  named.push_back({"err", Capture(&err_lines)});
  std::vector<LogRoute> req_routes;
  req_routes.push_back(*LogRoute::Parse("err \\(HTTP/1\\.1 5"));
  ASSERT_TRUE(SetRoutes(std::move(named), {}, std::move(req_routes)).ok());
  LogRequest("GET /a (HTTP/1.1 500)");
  LogRequest("GET /b (HTTP/1.1 200)");
  Log(Level::kInfo, "server (HTTP/1.1 500)");
  EXPECT_THAT(err_lines, ElementsAre("GET /a (HTTP/1.1 500)\n"));
  EXPECT_THAT(req_lines, ElementsAre("GET /b (HTTP/1.1 200)\n"));
  EXPECT_THAT(main_lines, ElementsAre("server (HTTP/1.1 500)\n"));
}

TEST_F(RoutesTest, ARouteToAnUnknownLoggerIsRefused) {
  std::vector<LogRoute> routes;
  routes.push_back(*LogRoute::Parse("ghost x"));
  absl::Status s = SetRoutes({}, std::move(routes), {});
  EXPECT_THAT(std::string(s.message()), HasSubstr("no logger is named `ghost`"));
}

}  // namespace
}  // namespace kiln::log
