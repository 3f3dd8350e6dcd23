// Tests of value readers: booleans, numbers, sizes, durations, and their warnings.
#include "core/config/values.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::config {
namespace {

using ::testing::HasSubstr;

TEST(Values, FlagWordsReadAsUwsgiDoes) {
  Diagnostics diag;
  ValueContext ctx{"master", "app.ini", 3, &diag};
  for (const char* t : {"true", "YES", "on", "1", ""}) EXPECT_TRUE(ParseFlag(t, ctx)) << t;
  for (const char* t : {"false", "No", "OFF", "0"}) EXPECT_FALSE(ParseFlag(t, ctx)) << t;
  EXPECT_TRUE(diag.items().empty());
}

TEST(Values, OtherTextOnAFlagIsTrueWithAWarning) {
  Diagnostics diag;
  EXPECT_TRUE(ParseFlag("maybe", ValueContext{"vacuum", "app.ini", 5, &diag}));
  ASSERT_EQ(diag.items().size(), 1u);
  EXPECT_EQ(diag.items()[0].line, 5);
  EXPECT_THAT(diag.items()[0].message, HasSubstr("`vacuum = maybe` is not a boolean"));
}

TEST(Values, FlagWordOnANumberReadsZeroWithAWarning) {
  Diagnostics diag;
  auto n = ParseNumber("true", ValueContext{"threads", "app.ini", 4, &diag});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0);
  ASSERT_EQ(diag.items().size(), 1u);
  EXPECT_THAT(diag.items()[0].message, HasSubstr("`threads = true` is read as 0, as uWSGI"));
}

TEST(Values, BadNumberNamesOptionPlaceAndExpectedKind) {
  auto n = ParseNumber("16x", ValueContext{"processes", "/etc/app.ini", 7, nullptr});
  EXPECT_EQ(std::string(n.status().message()),
            "option `processes` in /etc/app.ini:7: `16x` is not a number (expected e.g. 4, 100, "
            "-1)");
}

TEST(Values, SizesTakeSuffixesAndUnits) {
  ValueContext ctx{"buffer-size", "a.ini", 1, nullptr};
  EXPECT_EQ(*ParseSize("65535", 1, ctx), 65535u);
  EXPECT_EQ(*ParseSize("64k", 1, ctx), 65536u);
  EXPECT_EQ(*ParseSize("2M", 1, ctx), 2u << 20);
  EXPECT_EQ(*ParseSize("1g", 1, ctx), 1u << 30);
  EXPECT_EQ(*ParseSize("200", 1 << 20, ctx), 200u << 20);  // reload-on-rss counts MiB
  EXPECT_THAT(std::string(ParseSize("12q", 1, ctx).status().message()),
              HasSubstr("`12q` is not a size"));
  EXPECT_FALSE(ParseSize("99999999999999999999", 1, ctx).ok());
  EXPECT_FALSE(ParseSize("18014398509481984g", 1, ctx).ok());
}

TEST(Values, DurationsAreSecondsWithOptionalUnits) {
  ValueContext ctx{"harakiri", "a.ini", 1, nullptr};
  EXPECT_EQ(*ParseDuration("30", ctx), absl::Seconds(30));
  EXPECT_EQ(*ParseDuration("500ms", ctx), absl::Milliseconds(500));
  EXPECT_EQ(*ParseDuration("5m", ctx), absl::Minutes(5));
  EXPECT_EQ(*ParseDuration("2h", ctx), absl::Hours(2));
  EXPECT_EQ(*ParseDuration("7s", ctx), absl::Seconds(7));
}

TEST(Values, BadDurationMatchesTheDocumentedMessage) {
  auto d = ParseDuration("3Os", ValueContext{"harakiri", "/etc/app.ini", 12, nullptr});
  EXPECT_EQ(std::string(d.status().message()),
            "option `harakiri` in /etc/app.ini:12: `3Os` is not a number of seconds (expected "
            "e.g. 30, 500ms, 5m)");
}

TEST(Values, BareMercyOfHoursWarnsThatItIsSeconds) {
  Diagnostics diag;
  auto d = ParseDuration("30000", ValueContext{"reload-mercy", "app.ini", 15, &diag});
  EXPECT_EQ(*d, absl::Seconds(30000));
  ASSERT_EQ(diag.items().size(), 1u);
  EXPECT_EQ(diag.items()[0].message,
            "reload-mercy = 30000 is read as seconds (8h20m), as uWSGI does; write 30s if you "
            "meant 30 seconds");
}

TEST(Values, CommandLinePlaceIsNamed) {
  auto n = ParseNumber("lots", ValueContext{"processes", "", 0, nullptr});
  EXPECT_THAT(std::string(n.status().message()), HasSubstr("in the command line"));
}

}  // namespace
}  // namespace kiln::config
