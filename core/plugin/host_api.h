// The host function table handed to plugins (kiln_host_api) and the process facts its
// functions read: configuration, worker id, core id, counts, scoreboard, the master's pid.
// host_api.cc is the one file that sees both the SDK types and core types; it holds no logic
// beyond mapping one onto the other.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

#include "core/protocol/request_context.h"
#include "kiln/kiln.h"

namespace kiln::config {
class Config;
class OptionRegistry;
}  // namespace kiln::config

namespace kiln::plugin {

// The table every plugin receives; static, lives for the process.
const kiln_host_api* HostApi();

// Facts the host functions read. Set by the plugin set and the process code.
void SetHostConfig(const config::Config* config, const config::OptionRegistry* registry);
void SetHostWorkerId(int worker_id);  // 0 in the master
void SetHostCoreId(int core_id);      // per thread
// Per thread: the request being handed to a plugin (null after), so that an error the plugin
// logs during it counts as an application error (RequestContext::NoteAppError).
void SetHostRequest(protocol::RequestContext* request);
void SetHostCounts(int workers, int threads);
void SetHostMasterPid(pid_t pid);  // target of server_reload (SIGHUP)

// Fills *out for worker `worker_id`; false when unknown. Installed by the process code.
using ScoreboardReader = std::function<bool(int worker_id, kiln_worker_stats* out)>;
void SetHostScoreboardReader(ScoreboardReader reader);

// The message a plugin attached with error_set on this thread since the last call (cleared),
// or `fallback` when there is none.
std::string TakePluginError(const std::string& fallback);

}  // namespace kiln::plugin
