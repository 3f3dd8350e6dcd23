// The master's and workers' own log lines (banner, respawns, harakiri, reloads). They go
// through the server log (kiln::log), so `logto`, `logger` and `log-date` apply to them; with
// no log configured that is one write() per line to stderr.
#pragma once

#include <string_view>

#include "absl/strings/str_format.h"

namespace kiln::process {

void LogLine(std::string_view line);

template <typename... Args>
void Logf(const absl::FormatSpec<Args...>& format, const Args&... args) {
  LogLine(absl::StrFormat(format, args...));
}

}  // namespace kiln::process
