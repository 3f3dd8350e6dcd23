// Opens the log targets the configuration names (logto, logger, req-logger) through the core's
// file sink and the schemes of loaded logger plugins, and installs them in the process-wide
// logger. Call in the master after PluginSet::ConfigDone and before privileges are dropped.
#pragma once

#include "absl/status/status.h"
#include "core/config/config.h"
#include "core/log/file_sink.h"
#include "core/plugin/plugin_set.h"

namespace kiln::plugin {

// FileOptions from logfile-chmod (octal) and uid/gid (names or numbers): files kiln creates get
// that mode and owner. InvalidArgument naming the option for a bad mode or an unknown user.
absl::StatusOr<log::FileOptions> LogFileOptions(const config::Config& cfg);

// Opens every target, then installs them (all or nothing): server sinks from `logto` and each
// `logger`, request sinks from each `req-logger`, the encoders from `log-encoder` and
// `log-req-encoder`, the date prefix from `log-date`. The first failure names the option,
// where it was set, the target and the reason; nothing is installed then.
// `first_start` false (a reload's re-executed master) keeps log-truncate from emptying logto.
absl::Status OpenConfiguredLogs(const config::Config& cfg, const PluginSet& plugins,
                                bool first_start = true);

}  // namespace kiln::plugin
