// systemd's notify protocol (READY=1, RELOADING=1, STOPPING=1, STATUS=...) over
// $NOTIFY_SOCKET, and the pidfile. Both are no-ops when not configured.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace kiln::process {

// Sends `state` (newline-separated assignments) to $NOTIFY_SOCKET; false when unset or
// the send failed. Never blocks.
bool NotifySystemd(std::string_view state);

// Writes "<pid>\n" to `path` (created 0644, replaced atomically through a fresh temporary in
// the same directory, base::ReplaceFile: nothing planted there is followed).
absl::Status WritePidfile(const std::string& path, int pid);
// Removes `path` if it is a regular file (not a symlink) that still names `pid`; false when
// nothing was removed.
bool RemovePidfile(const std::string& path, int pid);

}  // namespace kiln::process
