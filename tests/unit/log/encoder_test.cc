// uWSGI's log encoders (core/log/encoder.h) and their place in the logger: the json encoder
// always gives a line that parses, format/prefix/suffix/nl behave as uWSGI's, and bad
// encoder specs are refused with the reason.
#include "core/log/encoder.h"

#include <cstdlib>
#include <ctime>

#include "core/log/logger.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/log/log_test_util.h"

namespace kiln::log {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

EncoderChain Chain(std::vector<std::string> specs) {
  absl::StatusOr<EncoderChain> c = EncoderChain::Parse(specs);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : EncoderChain();
}

TEST(EncoderChain, JsonEscapesTheMessage) {
  EncoderChain c = Chain({"json {\"msg\":\"${msg}\"}"});
  EXPECT_EQ(c.Encode("GET /a\"b\\c\x01 done"), "{\"msg\":\"GET /a\\\"b\\\\c\\u0001 done\"}");
}

TEST(EncoderChain, JsonMsgnlCarriesTheNewlineEscaped) {
  EXPECT_EQ(Chain({"json [\"${msgnl}\"]"}).Encode("x"), "[\"x\\n\"]");
}

TEST(EncoderChain, FormatCopiesTheMessageRaw) {
  EXPECT_EQ(Chain({"format [FOO ${msg} BAR]"}).Encode("a\"b"), "[FOO a\"b BAR]");
}

TEST(EncoderChain, TimeVariablesAreNumbersAndStrftimeIsLocalTime) {
  setenv("TZ", "UTC", 1);
  tzset();
  const std::string out =
      Chain({"json {\"unix\":${unix},\"ms\":${millis},\"us\":${micros},\"d\":\"${strftime:%Y}\"}"})
          .Encode("m");
  EXPECT_THAT(out, MatchesRegex("\\{\"unix\":[0-9]{10},\"ms\":[0-9]{13},\"us\":[0-9]{16},"
                                "\"d\":\"2[0-9]{3}\"\\}"));
  const long unix_now = static_cast<long>(::time(nullptr));
  EXPECT_NEAR(std::stol(out.substr(8, 10)), unix_now, 2);
}

TEST(EncoderChain, StepsApplyInOrderAndFormatSeesTheLineWithoutAnEarlierNewline) {
  EXPECT_EQ(Chain({"prefix >> ", "suffix <<", "nl"}).Encode("m"), ">> m<<\n");
  EXPECT_EQ(Chain({"nl", "format <${msg}>"}).Encode("m"), "<m>");
}

TEST(EncoderChain, DollarWithoutBraceAndUnclosedBraceStayLiteral) {
  EXPECT_EQ(Chain({"format $5 ${msg} ${open"}).Encode("m"), "$5 m ${open");
}

TEST(EncoderChain, FormatTemplateStartingWithABraceWrapsJson) {
  EXPECT_TRUE(Chain({"format {\"t\":1, ${msg}}"}).WrapsJsonObject());
  EXPECT_FALSE(Chain({"json {\"msg\":\"${msg}\"}"}).WrapsJsonObject());
  EXPECT_FALSE(Chain({"format [${msg}]"}).WrapsJsonObject());
}

TEST(EncoderChain, BadSpecsAreRefusedWithTheReason) {
  auto unknown = EncoderChain::Parse({"jsn {}"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("unknown encoder `jsn`"));
  auto var = EncoderChain::Parse({"json {\"m\":\"${mesage}\"}"});
  ASSERT_FALSE(var.ok());
  EXPECT_THAT(std::string(var.status().message()), HasSubstr("unknown variable ${mesage}"));
  auto binary = EncoderChain::Parse({"gzip"});
  ASSERT_FALSE(binary.ok());
  EXPECT_THAT(std::string(binary.status().message()), HasSubstr("binary"));
  auto routed = EncoderChain::Parse({"json:default {\"m\":\"${msg}\"}"});
  ASSERT_FALSE(routed.ok());
  EXPECT_THAT(std::string(routed.status().message()), HasSubstr("named logger"));
}

class EncodedLoggerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::unique_ptr<Sink>> s;
    s.push_back(std::make_unique<testing::CaptureSink>(&server_));
    SetServerSinks(std::move(s));
  }
  void TearDown() override {
    SetEncoders(EncoderChain(), EncoderChain());
    SetServerSinks({});
    SetRequestSinks({});
  }
  void CaptureRequests() {
    std::vector<std::unique_ptr<Sink>> r;
    r.push_back(std::make_unique<testing::CaptureSink>(&request_));
    SetRequestSinks(std::move(r));
  }
  std::vector<std::string> server_, request_;
};

TEST_F(EncodedLoggerTest, EachServerLineIsEncodedAndEndsWithOneNewline) {
  SetEncoders(Chain({"json {\"msg\":\"${msg}\"}", "nl"}), EncoderChain());
  Warn("bad \"%s\"", "x");
  Log(Level::kInfo, "two\nlines");
  EXPECT_THAT(server_, ElementsAre("{\"msg\":\"warning: bad \\\"x\\\"\"}\n",
                                   "{\"msg\":\"two\"}\n", "{\"msg\":\"lines\"}\n"));
}

TEST_F(EncodedLoggerTest, RequestLinesUseTheRequestEncodersElseTheServerOnesInTheServerLog) {
  SetEncoders(Chain({"prefix S "}), EncoderChain());
  LogRequest("GET /a\n");
  EXPECT_THAT(server_, ElementsAre("S GET /a\n"));
  CaptureRequests();
  LogRequest("GET /b");  // to its own sinks: the server encoders do not apply
  SetEncoders(Chain({"prefix S "}), Chain({"json {\"req\":\"${msg}\"}"}));
  LogRequest("GET /c\"");
  EXPECT_THAT(request_, ElementsAre("GET /b\n", "{\"req\":\"GET /c\\\"\"}\n"));
}

TEST_F(EncodedLoggerTest, ServerLinesHaveControlBytesEscaped) {
  Log(Level::kInfo, "cr\r esc\x1b[31m tab\tkept");
  EXPECT_THAT(server_, ElementsAre("cr\\x0d esc\\x1b[31m tab\tkept\n"));
}

}  // namespace
}  // namespace kiln::log
