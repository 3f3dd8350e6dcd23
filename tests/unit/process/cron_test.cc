// The cron schedule (uWSGI's uwsgi_cron_task_needs_execution) and the table the master
// ticks, with an injected runner and explicit times: no waiting for a minute boundary.
#include "core/process/cron.h"

#include <cstdlib>
#include <ctime>

#include "gtest/gtest.h"

namespace kiln::process {
namespace {

struct tm At(int year, int mon, int mday, int hour, int min) {
  struct tm t {};
  t.tm_year = year - 1900;
  t.tm_mon = mon - 1;
  t.tm_mday = mday;
  t.tm_hour = hour;
  t.tm_min = min;
  t.tm_isdst = -1;
  time_t when = mktime(&t);  // fills tm_wday
  localtime_r(&when, &t);
  return t;
}

TEST(CronParse, FiveFieldsThenTheCommand) {
  auto e = ParseCron("30 2 -1 -1 1 /usr/bin/report --weekly  now");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->minute, 30);
  EXPECT_EQ(e->hour, 2);
  EXPECT_EQ(e->day, -1);
  EXPECT_EQ(e->week, 1);
  EXPECT_EQ(e->command, "/usr/bin/report --weekly  now");
  EXPECT_FALSE(ParseCron("30 2 * * * /bin/true").ok());  // uWSGI's fields are numbers
  EXPECT_FALSE(ParseCron("30 2 -1 -1 -1").ok());        // no command
}

TEST(CronParse, Cron2KeysDefaultToAny) {
  auto e = ParseCron2("hour=4,week=0 /usr/bin/x");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->minute, -1);
  EXPECT_EQ(e->hour, 4);
  EXPECT_EQ(e->week, 0);
  EXPECT_EQ(e->command, "/usr/bin/x");
  EXPECT_FALSE(ParseCron2("/usr/bin/x").ok());
  auto bad = ParseCron2("minuet=3 /usr/bin/x");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find("`minuet`"), std::string::npos);
}

TEST(CronMatches, ExactValuesAnyAndEveryN) {
  setenv("TZ", "UTC", 1);
  tzset();
  struct tm t = At(2026, 12, 5, 15, 40);  // a Saturday
  CronEntry any;
  EXPECT_TRUE(CronMatches(any, t));
  CronEntry exact{40, 15, 5, 12, -1, false, "x"};
  EXPECT_TRUE(CronMatches(exact, t));
  exact.minute = 41;
  EXPECT_FALSE(CronMatches(exact, t));
  CronEntry every5{-5, -1, -1, -1, -1, false, "x"};
  EXPECT_TRUE(CronMatches(every5, t));
  EXPECT_FALSE(CronMatches(every5, At(2026, 12, 5, 15, 41)));
  CronEntry every7{-7, -1, -1, -1, -1, false, "x"};
  EXPECT_FALSE(CronMatches(every7, t));
}

TEST(CronMatches, DayOfMonthAndDayOfWeekAreOredWhenBothAreGiven) {
  setenv("TZ", "UTC", 1);
  tzset();
  struct tm sat5 = At(2026, 12, 5, 0, 0);  // Saturday the 5th
  struct tm sun6 = At(2026, 12, 6, 0, 0);
  struct tm mon7 = At(2026, 12, 7, 0, 0);
  CronEntry e{0, 0, 5, -1, 0, false, "x"};  // the 5th, or a Sunday
  EXPECT_TRUE(CronMatches(e, sat5));
  EXPECT_TRUE(CronMatches(e, sun6));
  EXPECT_FALSE(CronMatches(e, mon7));
  CronEntry sunday7{0, 0, -1, -1, 7, false, "x"};  // 7 is Sunday too
  EXPECT_TRUE(CronMatches(sunday7, sun6));
  EXPECT_FALSE(CronMatches(sunday7, mon7));
}

TEST(CronTable, RunsOncePerMatchingMinuteAndUniqueWaitsForTheLastRun) {
  setenv("TZ", "UTC", 1);
  tzset();
  std::vector<std::string> started;
  pid_t next_pid = 100;
  CronTable table({CronEntry{-1, -1, -1, -1, -1, false, "every"},
                   CronEntry{-2, -1, -1, -1, -1, true, "unique"}},
                  [&](const std::string& c) {
                    started.push_back(c);
                    return next_pid++;
                  });
  struct tm t0 = At(2026, 12, 5, 15, 40);
  time_t base = mktime(&t0);
  table.Tick(base);
  table.Tick(base + 1);  // the same minute: nothing new
  EXPECT_EQ(started, (std::vector<std::string>{"every", "unique"}));
  table.Tick(base + 60);  // 15:41: `every` again; `unique` (every 2 min) does not match
  table.Tick(base + 120);  // 15:42: unique matches but its last run (pid 101) is alive
  EXPECT_EQ(started, (std::vector<std::string>{"every", "unique", "every", "every"}));
  EXPECT_TRUE(table.OnExit(101));
  EXPECT_FALSE(table.OnExit(4242));
  table.Tick(base + 121);  // unique may run now, still in 15:42
  EXPECT_EQ(started.back(), "unique");
}

}  // namespace
}  // namespace kiln::process
