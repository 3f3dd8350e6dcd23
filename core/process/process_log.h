// The master's and workers' own log lines (banner, respawns, harakiri, reloads): one line,
// one write() to stderr, so lines from several processes never interleave. `logto` and
// `daemonize` point fd 2 at the log file.
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
