// Reading the emperor's options; relative paths are made absolute here, because vassals run
// with their own directory as cwd.
#include "core/emperor/emperor_options.h"

#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "core/config/config.h"
#include "core/config/values.h"
#include "core/log/sink_spec.h"

namespace kiln::emperor {
namespace {

std::string Absolute(const std::string& path) {
  if (path.empty() || path[0] == '/') {
    return path;
  }
  char cwd[4096];
  if (getcwd(cwd, sizeof(cwd)) == nullptr) {
    return path;
  }
  return std::string(cwd) + "/" + path;
}

std::vector<std::string> AbsoluteAll(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const std::string& p : paths) {
    out.push_back(Absolute(p));
  }
  return out;
}

}  // namespace

absl::StatusOr<absl::Duration> ParseThrottle(std::string_view option, std::string_view text) {
  absl::string_view stripped =
      absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size()));
  std::string t(stripped.data(), stripped.size());
  int64_t ms = 0;
  if (absl::SimpleAtoi(t, &ms)) {
    if (ms <= 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("option `%s = %s`: must be above 0 milliseconds", option, text));
    }
    return absl::Milliseconds(ms);
  }
  config::ValueContext ctx;
  ctx.option = option;
  absl::StatusOr<absl::Duration> d = config::ParseDuration(t, ctx);
  if (!d.ok() || *d <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "option `%s = %s`: not a duration (milliseconds when bare, as in uWSGI, or with a "
        "unit: 500ms, 2s, 3m)",
        option, text));
  }
  return *d;
}

absl::StatusOr<EmperorOptions> EmperorOptionsFromConfig(const config::Config& cfg) {
  EmperorOptions o;
  o.sources = AbsoluteAll(cfg.GetList("emperor"));
  int64_t freq = cfg.GetNumber("emperor-freq");
  if (freq < 1 || freq > 3600) {
    return cfg.Locate(absl::InvalidArgumentError(absl::StrFormat(
        "option `emperor-freq = %d`: must be between 1 and 3600 seconds", freq)));
  }
  o.freq_s = static_cast<int>(freq);
  o.nofollow = cfg.GetFlag("emperor-nofollow");
  auto throttle = ParseThrottle("emperor-throttle", cfg.GetString("emperor-throttle"));
  if (!throttle.ok()) return cfg.Locate(throttle.status());
  auto max_throttle =
      ParseThrottle("emperor-max-throttle", cfg.GetString("emperor-max-throttle"));
  if (!max_throttle.ok()) return cfg.Locate(max_throttle.status());
  o.throttle = *throttle;
  o.max_throttle = std::max(*throttle, *max_throttle);
  o.tyrant = cfg.GetFlag("emperor-tyrant");
  o.tyrant_nofollow = cfg.GetFlag("emperor-tyrant-nofollow");
  o.inherit = AbsoluteAll(cfg.GetList("vassals-inherit"));
  o.include_before = AbsoluteAll(cfg.GetList("vassals-include-before"));
  o.include = AbsoluteAll(cfg.GetList("vassals-include"));
  for (const std::string& kv : cfg.GetList("vassal-set")) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return cfg.Locate(absl::InvalidArgumentError(
          absl::StrFormat("option `vassal-set = %s`: expected key=value", kv)));
    }
    o.set.push_back(kv);
  }
  o.stats = cfg.GetString("emperor-stats");
  o.stats_http = cfg.GetFlag("emperor-stats-http");
  o.graceful_shutdown = cfg.GetFlag("emperor-graceful-shutdown");
  o.pidfile = Absolute(cfg.GetString("emperor-pidfile"));
  o.procname = cfg.GetString("emperor-procname");
  o.on_demand_extension = cfg.GetString("emperor-on-demand-extension");
  o.stdio_log = log::StdioLogPath(cfg.GetString("logto"), cfg.GetList("logger"));
  return o;
}

}  // namespace kiln::emperor
