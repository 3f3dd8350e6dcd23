// Opening and replacing files that kiln writes while it may be root (log files, the pidfile),
// in directories a less privileged user may write (`/var/log/app` owned by the service user):
// never through a symlink at the last path component, never a FIFO or device, never a file
// that belongs to another user, and ownership given away only for a file kiln itself created.
// The one place these rules live for the core (the logfile plugin, which may use only the SDK,
// repeats them in C).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/base/unique_fd.h"

namespace kiln::base {

// How a file kiln appends to is created and who may own one that already exists.
struct AppendFileOptions {
  mode_t mode = 0640;  // exact mode of a file created here (set with fchmod, past the umask)
  // The service user (`uid`) and group: a file created here is given to them (fchown on the
  // descriptor); an existing file may belong to root, to kiln's own euid or to this uid.
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
};

struct OpenedFile {
  UniqueFd fd;
  bool created = false;  // O_CREAT|O_EXCL succeeded: kiln made this file
};

// Opens `path` for appending (O_WRONLY|O_APPEND|O_CLOEXEC|O_NOCTTY), creating it when missing
// with O_CREAT|O_EXCL. Never follows a symlink at the last component (O_NOFOLLOW) and never
// blocks on a FIFO (O_NONBLOCK until fstat has said it is a regular file). An existing file
// must pass CheckExistingFile. Errors name the path and the reason: "refusing to open
// /srv/app/kiln.log: it is a symbolic link; ...".
absl::StatusOr<OpenedFile> OpenAppendFile(const std::string& path,
                                          const AppendFileOptions& options);

// The rules for a file that existed before kiln opened it, applied to its fstat: a regular
// file, owned by root or by the service user (`service_uid`, or `euid` when that is not root),
// and with one link unless the service user owns it (a hard link the user made to a root file
// would otherwise be written as root).
// OK, or FailedPrecondition "refusing to open PATH: <why>".
absl::Status CheckExistingFile(const std::string& path, const struct stat& st,
                               std::optional<uid_t> service_uid, uid_t euid);

// What kind of file `mode` is, for messages: "a symbolic link", "a FIFO", "a directory", ...
std::string_view FileKind(mode_t mode);

// Replaces `path` with a new regular file holding `content`: writes a fresh temporary in the
// same directory (mkostemp: O_CREAT|O_EXCL, so nothing planted there is followed or reused),
// sets `mode`, then rename()s it over `path` (which replaces a symlink at `path`, never its
// target). The temporary is removed when a step fails.
absl::Status ReplaceFile(const std::string& path, std::string_view content, mode_t mode);

// Reads up to `max` bytes of `path` if it is a regular file, without following a final
// symlink or blocking on a FIFO. NotFound when missing; FailedPrecondition when not regular.
absl::StatusOr<std::string> ReadRegularFile(const std::string& path, size_t max);

}  // namespace kiln::base
