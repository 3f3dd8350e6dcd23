// systemd's notify protocol (READY=1, RELOADING=1, STOPPING=1, STATUS=...) over
// $NOTIFY_SOCKET, the same readiness told to a kiln emperor when this kiln is its vassal, and
// the pidfile. Each is a no-op when not configured.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace kiln::process {

// Sends `state` (newline-separated assignments) to $NOTIFY_SOCKET; false when unset or
// the send failed. Never blocks. A state holding READY=1 is also told to the emperor
// (kEmperorReady on EmperorFd()), so a vassal reports ready wherever it tells systemd so:
// when its workers accept, and again after each reload, kept or aborted.
bool NotifySystemd(std::string_view state);

// The emperor link (core/emperor): a socket whose number the emperor passes in
// KILN_EMPEROR_FD. The vassal writes kEmperorReady (uWSGI's "ready" byte) on it; the emperor
// never writes, so end-of-file means the emperor is gone and the vassal stops gracefully.
inline constexpr char kEmperorFdEnv[] = "KILN_EMPEROR_FD";
inline constexpr char kEmperorReady = 5;
// The link's descriptor, -1 when this kiln is no vassal. The first call marks it
// close-on-exec and removes KILN_EMPEROR_FD from the environment (only the re-exec of a
// reload gets both back, KeepEmperorFdAcrossExec); call it before anything forks.
int EmperorFd();
// Around the re-exec of a reload: lets the link survive exec (true), or not (false).
void KeepEmperorFdAcrossExec(bool keep);
// Drains the link; true when the emperor has closed it (end-of-file or a hard error).
bool EmperorGone(int fd);

// Writes "<pid>\n" to `path` (created 0644, replaced atomically through a fresh temporary in
// the same directory, base::ReplaceFile: nothing planted there is followed).
absl::Status WritePidfile(const std::string& path, int pid);
// Removes `path` if it is a regular file (not a symlink) that still names `pid`; false when
// nothing was removed.
bool RemovePidfile(const std::string& path, int pid);

}  // namespace kiln::process
