// Starting one vassal: its command line (the file between the common includes, then
// vassal-set), the identity it runs as in tyrant mode, and the fork/exec with the emperor link.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/emperor/emperor_options.h"
#include "core/emperor/vassal_files.h"

namespace kiln::emperor {

struct VassalCommand {
  std::vector<std::string> argv;  // argv[0] is the kiln binary
  std::string cwd;                // the vassal file's directory
  std::string file;               // the vassal file, for messages
};

// Pure. `exe --ini INHERIT... --ini BEFORE... --ini FILE --ini INCLUDE... --KEY VALUE...`:
// vassals-inherit and vassals-include-before come first, so the vassal's own file overrides
// them; vassals-include and vassal-set come after it, so they win.
VassalCommand BuildVassalCommand(const std::string& exe, const std::string& file,
                                 const EmperorOptions& o);

// Who a vassal runs as in tyrant mode.
struct Identity {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups of the owner's passwd entry, else {gid}
  std::string user;           // for messages
};

// The owner of a vassal file as the identity its vassal runs as. Refused (PermissionDenied,
// with the reason): a file owned by root (uid or gid 0), and a symlink owned by someone other
// than its target's owner unless tyrant-nofollow takes the owner from the link.
absl::StatusOr<Identity> TyrantIdentity(const std::string& path, const FileState& fs,
                                        bool tyrant_nofollow);

// Forks the vassal: its own process group, the identity set (setgroups, then real, effective,
// saved and fs gid and uid, each checked) before exec, a parent-death signal (SIGTERM) so it
// dies with the emperor, `link_fd` left open across exec and named in KILN_EMPEROR_FD, and
// the file's directory as cwd. Returns its pid.
absl::StatusOr<pid_t> SpawnVassal(const VassalCommand& cmd, const std::optional<Identity>& id,
                                  int link_fd);

}  // namespace kiln::emperor
