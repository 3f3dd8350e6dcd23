// uWSGI's command cron (`cron = min hour day month weekday command`, `cron2 = key=value,...
// command`), run by the master. The schedule is pure (CronMatches on a broken-down local
// time, as uWSGI's uwsgi_cron_task_needs_execution); CronTable decides, for a wall-clock
// second it is given, which commands start, and starts them through a runner the caller
// supplies, so both halves are tested without waiting for a minute boundary.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::process {

// One field: a value >= 0 must equal the time's field; -1 is any; -N matches when the
// field is a multiple of N (uWSGI's `*/N`).
struct CronEntry {
  int minute = -1;
  int hour = -1;
  int day = -1;    // of the month, 1-31
  int month = -1;  // 1-12
  int week = -1;   // day of the week, 0-6 with 0 (or 7) Sunday
  bool unique = false;  // cron2 `unique=1`: not started again while the last run is alive
  std::string command;
};

// `min hour day month weekday command`.
absl::StatusOr<CronEntry> ParseCron(std::string_view text);
// `key=value,... command` with keys minute, hour, day, month, week, unique (missing: -1).
absl::StatusOr<CronEntry> ParseCron2(std::string_view text);

// Does the entry run at `t` (local time, tm_mon 0-11 as localtime gives it)? As uWSGI: day
// of month and day of week are ORed when both are given, ANDed otherwise.
bool CronMatches(const CronEntry& e, const struct tm& t);

class CronTable {
 public:
  // Starts `command` and returns its pid (or -1 when it could not be started).
  using Runner = std::function<pid_t(const std::string& command)>;

  explicit CronTable(std::vector<CronEntry> entries, Runner runner);
  bool empty() const { return entries_.empty(); }
  // Called each master tick with the wall clock: starts each entry whose schedule matches
  // `now` and that has not run in the last 60 seconds (so once per matching minute).
  void Tick(time_t now);
  // A reaped child: true when it was a cron command (a unique entry may start again).
  bool OnExit(pid_t pid);

 private:
  struct Slot {
    CronEntry entry;
    time_t last_run = 0;
    pid_t pid = 0;
  };
  std::vector<Slot> slots_;
  std::vector<CronEntry> entries_;
  Runner runner_;
};

}  // namespace kiln::process
