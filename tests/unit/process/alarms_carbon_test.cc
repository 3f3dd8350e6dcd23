// ParseAlarm's syntax and errors, and CarbonLines' metric names and arithmetic on a scoreboard
// filled by hand.
#include <map>
#include <string>

#include "absl/strings/str_split.h"
#include "core/process/alarms.h"
#include "core/process/carbon.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::process {
namespace {

using ::testing::HasSubstr;

TEST(ParseAlarm, SplitsNameActionAndArgument) {
  auto a = ParseAlarm("mail cmd:mail -s 'kiln: alarm' ops@example.com");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->name, "mail");
  EXPECT_EQ(a->action, "cmd");
  EXPECT_EQ(a->arg, "mail -s 'kiln: alarm' ops@example.com");
  auto l = ParseAlarm("note log:");
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->action, "log");
  EXPECT_EQ(l->arg, "");
}

TEST(ParseAlarm, NamesWhatKilnLacks) {
  EXPECT_THAT(ParseAlarm("x curl:smtp://h").status().message(),
              HasSubstr("`curl` is not supported by kiln"));
  EXPECT_THAT(ParseAlarm("x signal:17").status().message(), HasSubstr("`signal` is not supported"));
  EXPECT_THAT(ParseAlarm("x bogus:1").status().message(), HasSubstr("unknown alarm action"));
  EXPECT_THAT(ParseAlarm("x").status().message(), HasSubstr("NAME ACTION:ARGUMENT"));
  EXPECT_THAT(ParseAlarm("x cmd:").status().message(), HasSubstr("needs a command"));
}

std::map<std::string, uint64_t> Parse(const std::string& lines, const std::string& prefix) {
  std::map<std::string, uint64_t> out;
  for (absl::string_view line : absl::StrSplit(lines, '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    EXPECT_EQ(f.size(), 3u);
    EXPECT_EQ(f[2], "1700000000");
    EXPECT_EQ(f[0].rfind(prefix, 0), 0u) << line;
    out[f[0].substr(prefix.size())] = std::stoull(f[1]);
  }
  return out;
}

TEST(CarbonLines, UwsgiNamesAndTotals) {
  auto sb = Scoreboard::Create(2, 1);
  ASSERT_TRUE(sb.ok());
  sb->worker(1).pid.store(100);
  sb->worker(1).requests.store(3);
  sb->worker(1).total_requests.store(5);  // 2 before a respawn
  sb->worker(1).running_ns.store(3'000'000);  // 3 ms in requests: avg_rt 1000 us
  sb->worker(1).response_bytes.store(300);
  sb->worker(1).respawn_count.store(2);
  sb->worker(2).pid.store(101);
  sb->worker(2).requests.store(4);
  sb->worker(2).total_requests.store(4);
  sb->worker(2).running_ns.store(2'000'000);  // avg_rt 500 us
  sb->worker(2).response_bytes.store(200);
  sb->worker(2).respawn_count.store(1);
  sb->worker(2).harakiri_count.store(1);
  CarbonState state;
  CarbonSample sample{1700000000, false, false};
  const std::string p = "uwsgi.host.id.";
  auto m = Parse(CarbonLines(p, *sb, sample, absl::Seconds(1), false, &state), p);
  EXPECT_EQ(m["requests"], 9u);
  EXPECT_EQ(m["worker1.requests"], 3u);
  EXPECT_EQ(m["worker1.avg_rt"], 1000u);
  EXPECT_EQ(m["worker2.avg_rt"], 500u);
  EXPECT_EQ(m["avg_rt"], 750u);
  EXPECT_EQ(m["tx"], 500u);
  EXPECT_EQ(m["respawns"], 3u);
  EXPECT_EQ(m["harakiri"], 1u);
  EXPECT_EQ(m["worker2.harakiri"], 1u);
  EXPECT_EQ(m["active_workers"], 2u);
  EXPECT_EQ(m["idle_workers"], 2u);
  EXPECT_EQ(m["busy_workers"], 0u);
  // 3 ms of 1 s busy: 0 percent, as uWSGI's integer arithmetic says.
  EXPECT_EQ(m["worker1.busyness"], 0u);
  EXPECT_EQ(m.count("rss_size"), 0u);
  EXPECT_EQ(m.count("cheaped_workers"), 0u);
  // Half of the next second in requests: 50 percent busy.
  sb->worker(1).running_ns.store(503'000'000);
  sample.memory_report = true;
  sample.cheaper = true;
  m = Parse(CarbonLines(p, *sb, sample, absl::Seconds(1), true, &state), p);
  EXPECT_EQ(m["busyness"], 25u);  // the mean of 50 and 0
  EXPECT_EQ(m.count("worker1.requests"), 0u);  // carbon-no-workers
  EXPECT_EQ(m.count("rss_size"), 1u);
  EXPECT_EQ(m["cheaped_workers"], 0u);
}

}  // namespace
}  // namespace kiln::process
