// The smaller process options of uWSGI files, at their points of start-up: the jail-phase
// hooks, the extra pidfiles, limit-as, `cap` (capabilities kept across the privilege drop),
// and in each worker chdir2 and the post-fork/accepting hooks. RunServer and RunWorker call
// these; the master calls the master-start and atexit hooks.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/process/privileges.h"
#include "core/process/reload.h"
#include "core/process/server_options.h"

namespace kiln::process {

// hook-pre-jail (first start only, as uWSGI) and hook-in-jail.
absl::Status RunJailHooks(const ServerOptions& o, const ReloadContext& rc);

// Writes this process's pid to each non-empty path (a new file renamed into place). On a
// reload's later generations a failure is only logged, as for `pidfile`.
absl::Status WriteExtraPidfiles(const std::string& a, const std::string& b,
                                const ReloadContext& rc);

// limit-as: RLIMIT_AS (soft and hard) of this process and the ones it forks. 0 does nothing.
absl::Status ApplyLimitAs(uint64_t bytes);
// max-fd: RLIMIT_NOFILE (soft and hard) of this process and the ones it forks; a limit that
// cannot be set is a warning, as in uWSGI. 0 does nothing.
void ApplyMaxFd(int64_t max_fd);

// `cap`: the capability numbers of names such as `net_bind_service` (or numbers); errors
// name an unknown one.
absl::StatusOr<uint64_t> ParseCapabilities(const std::vector<std::string>& names);
// Before the drop: PR_SET_KEEPCAPS, so the permitted set survives setuid. Needs a `uid` to
// drop to and root; does nothing without `cap`.
absl::Status KeepCapabilitiesAcrossDrop(const std::vector<std::string>& caps,
                                        const DropPlan& plan);
// After the drop: the permitted, effective and inheritable sets become exactly `caps`.
absl::Status RestoreCapabilities(const std::vector<std::string>& caps, const DropPlan& plan);

// In a worker just forked (before a lazy app load): hook-post-fork.
absl::Status WorkerForked(const ServerOptions& o);
// In a worker with lazy-apps: hook-pre-app, the load, hook-post-app.
absl::Status WorkerLoadApp(const ServerOptions& o, const std::function<absl::Status()>& load);
// In a worker once its app is loaded: chdir2 (uWSGI changes directory there, after the load).
absl::Status WorkerAppReady(const ServerOptions& o);
// In a worker about to accept: hook-accepting (and -1, -once, 1-once as they apply).
absl::Status WorkerAccepting(const ServerOptions& o, int worker_id);

// hook-as-user-atexit and exec-as-user-atexit: failures are logged, never fatal.
void RunAtexitHooks(const ServerOptions& o);

}  // namespace kiln::process
