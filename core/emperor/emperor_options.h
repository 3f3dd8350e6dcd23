// The emperor's settings, read once from the Config (the `emperor*` and `vassal*` options).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace kiln::config {
class Config;
}

namespace kiln::emperor {

struct EmperorOptions {
  std::vector<std::string> sources;  // directories (their *.ini) or globs, absolute
  int freq_s = 3;                    // seconds between scans
  bool nofollow = false;             // lstat a symlinked vassal file for changes
  absl::Duration throttle = absl::Seconds(1);
  absl::Duration max_throttle = absl::Minutes(3);
  bool tyrant = false;
  bool tyrant_nofollow = false;
  std::vector<std::string> inherit;         // vassals-inherit
  std::vector<std::string> include_before;  // vassals-include-before
  std::vector<std::string> include;         // vassals-include
  std::vector<std::string> set;             // vassal-set, key=value
  std::string stats;                        // emperor-stats address
  bool stats_http = false;                  // emperor-stats-http: HTTP, /metrics, /ready
  bool graceful_shutdown = true;
  std::string pidfile;
  std::string procname;
  std::string on_demand_extension;  // accepted, not supported (logged)
  std::string stdio_log;            // where fd 1/2 (and so the vassals' output) go, "" to keep
};

// A throttle as uWSGI writes it: a bare number is milliseconds; `2s`, `500ms`, `3m` too.
absl::StatusOr<absl::Duration> ParseThrottle(std::string_view option, std::string_view text);

// InvalidArgument naming the option for a bad value (a vassal-set without `=`, a zero freq).
absl::StatusOr<EmperorOptions> EmperorOptionsFromConfig(const config::Config& cfg);

}  // namespace kiln::emperor
