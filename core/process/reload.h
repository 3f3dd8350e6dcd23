// The re-exec reload. The master first runs a check copy of itself (the new binary, config
// and app, with the listen fds but no workers); only when it succeeds does the master
// re-execute itself with the listen fds and its live workers' pids in the environment. The
// new image keeps the old workers serving until its own are ready. Pure env encoding here too.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/net/inherited_fds.h"

namespace kiln::process {

inline constexpr char kReloadsEnv[] = "KILN_RELOADS";
inline constexpr char kOldWorkersEnv[] = "KILN_OLD_WORKERS";
inline constexpr char kReloadCheckEnv[] = "KILN_RELOAD_CHECK";

struct ReloadContext {
  std::vector<std::string> argv;   // argv[0] included
  std::string exe;                 // the binary to execute
  std::string cwd;                 // working directory at startup, restored before exec
  int generation = 0;              // how many reloads led to this image
  std::vector<pid_t> old_workers;  // the previous image's workers, still serving
  bool check_only = false;         // a reload check: validate, then exit
};

// Reads KILN_RELOADS, KILN_OLD_WORKERS and KILN_RELOAD_CHECK and unsets them.
ReloadContext TakeReloadContext(const std::vector<std::string>& argv);

std::string EncodePids(const std::vector<pid_t>& pids);
absl::StatusOr<std::vector<pid_t>> DecodePids(std::string_view text);

// Forks and executes the check copy; returns its pid.
absl::StatusOr<pid_t> SpawnReloadCheck(const ReloadContext& ctx,
                                       const std::vector<net::InheritedFd>& fds);

// Replaces this process with a fresh image of the binary. Returns only on failure, with the
// listen fds close-on-exec again and the environment restored.
absl::Status ExecReload(const ReloadContext& ctx, const std::vector<net::InheritedFd>& fds,
                        const std::vector<pid_t>& serving_workers);

}  // namespace kiln::process
