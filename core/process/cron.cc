// The command cron: parsing, the schedule, and the table the master ticks.
#include "core/process/cron.h"

#include <charconv>
#include <cstdlib>

#include "absl/strings/str_format.h"
#include "core/log/logger.h"

namespace kiln::process {
namespace {

bool ParseInt(std::string_view text, int* out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end && !text.empty();
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The next token of `s` up to a space or tab, consuming it and the blanks after it.
std::string_view NextWord(std::string_view* s) {
  *s = Trim(*s);
  size_t end = s->find_first_of(" \t");
  std::string_view word = s->substr(0, end);
  s->remove_prefix(end == std::string_view::npos ? s->size() : end);
  return word;
}

bool FieldMatches(int want, int have) {
  if (want >= 0) return want == have;
  return have % -want == 0;  // -1: any
}

absl::Status BadCron(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrFormat("`%s`: %s", text, why));
}

}  // namespace

absl::StatusOr<CronEntry> ParseCron(std::string_view text) {
  CronEntry e;
  int* fields[] = {&e.minute, &e.hour, &e.day, &e.month, &e.week};
  std::string_view rest = text;
  for (int* field : fields) {
    std::string_view word = NextWord(&rest);
    if (word.empty()) {
      return BadCron(text,
                     "expected `minute hour day month weekday command` (-1 for any, -N for "
                     "every N), such as `-5 -1 -1 -1 -1 /usr/bin/cleanup`");
    }
    if (!ParseInt(word, field)) {
      return BadCron(text, absl::StrFormat("`%s` is not a number", word));
    }
  }
  e.command = std::string(Trim(rest));
  if (e.command.empty()) return BadCron(text, "no command");
  return e;
}

absl::StatusOr<CronEntry> ParseCron2(std::string_view text) {
  CronEntry e;
  std::string_view keys = text;
  size_t space = text.find(' ');
  if (space != std::string_view::npos &&
      text.substr(0, space).find('=') != std::string_view::npos) {
    keys = text.substr(0, space);
    e.command = std::string(Trim(text.substr(space + 1)));
  } else {
    return BadCron(text, "expected `key=value,... command`, such as `minute=-5 /usr/bin/cleanup`");
  }
  while (!keys.empty()) {
    size_t comma = keys.find(',');
    std::string_view kv = keys.substr(0, comma);
    keys.remove_prefix(comma == std::string_view::npos ? keys.size() : comma + 1);
    if (kv.empty()) continue;
    size_t eq = kv.find('=');
    std::string_view key = kv.substr(0, eq);
    int value = 0;
    if (eq == std::string_view::npos || !ParseInt(kv.substr(eq + 1), &value)) {
      return BadCron(text, absl::StrFormat("`%s` is not `key=number`", kv));
    }
    if (key == "minute") e.minute = value;
    else if (key == "hour") e.hour = value;
    else if (key == "day") e.day = value;
    else if (key == "month") e.month = value;
    else if (key == "week") e.week = value;
    else if (key == "unique") e.unique = value != 0;
    else if (key == "harakiri" || key == "legion") {
      return BadCron(text, absl::StrFormat("the key `%s` is not supported by kiln", key));
    } else {
      return BadCron(text, absl::StrFormat(
                               "unknown key `%s` (known: minute, hour, day, month, week, unique)",
                               key));
    }
  }
  if (e.command.empty()) return BadCron(text, "no command");
  return e;
}

bool CronMatches(const CronEntry& e, const struct tm& t) {
  int month = t.tm_mon + 1;
  int week = e.week == 7 ? 0 : e.week;
  bool common = FieldMatches(e.minute, t.tm_min) && FieldMatches(e.hour, t.tm_hour) &&
                FieldMatches(e.month, month);
  if (!common) return false;
  if (e.day >= 0 && week >= 0) {
    return t.tm_mday == e.day || t.tm_wday == week;
  }
  return FieldMatches(e.day, t.tm_mday) && FieldMatches(week, t.tm_wday);
}

CronTable::CronTable(std::vector<CronEntry> entries, Runner runner)
    : entries_(std::move(entries)), runner_(std::move(runner)) {
  for (const CronEntry& e : entries_) {
    slots_.push_back(Slot{e, 0, 0});
  }
}

void CronTable::Tick(time_t now) {
  if (slots_.empty()) return;
  struct tm t;
  if (localtime_r(&now, &t) == nullptr) return;
  for (Slot& s : slots_) {
    if (s.entry.unique && s.pid > 0) continue;
    if (!CronMatches(s.entry, t) || now - s.last_run < 60) continue;
    s.last_run = now;
    pid_t pid = runner_(s.entry.command);
    if (pid > 0) {
      s.pid = pid;
      log::Notice("[kiln-cron] running \"%s\" (pid %d)", s.entry.command, pid);
    } else {
      log::Error("[kiln-cron] cannot start \"%s\"", s.entry.command);
    }
  }
}

bool CronTable::OnExit(pid_t pid) {
  for (Slot& s : slots_) {
    if (s.pid == pid && pid > 0) {
      s.pid = 0;
      return true;
    }
  }
  return false;
}

}  // namespace kiln::process
